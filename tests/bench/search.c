/*
 * search — the search benchmark (docs/BENCHMARKS.md, "Search"): on a store
 * filled by `fill --lang fren`, builds the search index from the store
 * (the rebuild `comptoir reindex` and an unclean start run), then times
 * searches of one word, two words, a phrase and a prefix.
 *
 *   search --dir DIR [--queries N] [--keep]
 *
 * Prints the rebuild's time per row, the file's bytes per post and comment,
 * and p50/p99 in ms of N searches of each kind (default 300), as the header
 * box runs them (every group, best match first, 10 per group, each hit read
 * again from the store). --keep: use the index already there (no rebuild).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "node/core/core.h"
#include "node/search/search.h"

static double
s_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
s_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static long long
s_size(const char *dir, const char *name)
{
	char p[4200];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &sb) == 0 ? (long long)sb.st_size : 0;
}

/* Words of fill's French and English list, of several frequencies. */
static const char *const s_one[] = {"réunion",      "livraison", "sécurité",   "inventory",
                                    "warehouse",    "budget",    "formation",  "fournisseur",
                                    "Lyon",         "incident",  "quai",       "payroll",
                                    "anniversaire", "survey",    "maintenance"};
static const char *const s_two[] = {"réunion lundi",    "livraison retard", "safety training",
                                    "quai camion",      "stock entrepôt",   "budget trimestre",
                                    "incident serveur", "team meeting",     "client commande",
                                    "congés planning"};
static const char *const s_phrase[] = {
    "\"réunion équipe\"",  "\"the meeting\"",     "\"de la\"",    "\"livraison retard\"",
    "\"safety training\"", "\"stock inventory\"", "\"next week\""};
static const char *const s_prefix[] = {"livr*",  "secu*",  "reun*",  "plan*", "entrep*",
                                       "fourn*", "maint*", "anniv*", "proc*", "insp*"};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void
s_run(search_t *s, const char *what, const char *const *qs, size_t nq, size_t n)
{
	double *t = malloc(n * sizeof(*t)), t0;
	size_t hits = 0;
	char err[512];
	int rc;

	if (t == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		search_q_t q = {0};
		json_t *out;
		q.q = qs[i % nq];
		q.type = SEARCH_ALL;
		q.limit = 10;
		t0 = s_now();
		out = search_find(s, &q, NULL, &rc, err, sizeof(err));
		t[i] = (s_now() - t0) * 1000;
		if (out == NULL) {
			fprintf(stderr, "search: %s: %s\n", q.q, err);
			exit(1);
		}
		hits += json_array_size(json_object_get(json_object_get(out, "posts"), "items"));
		json_decref(out);
	}
	qsort(t, n, sizeof(*t), s_cmp);
	printf("%-10s p50_ms=%.2f p99_ms=%.2f max_ms=%.2f hits_per_search=%.1f (%zu searches)\n",
	       what, t[n / 2], t[(n * 99) / 100], t[n - 1], (double)hits / (double)n, n);
	free(t);
}

int
main(int argc, char **argv)
{
	const char *dir = NULL;
	size_t n = 300, docs = 0, wrong = 0;
	int keep = 0;
	node_t *node = NULL;
	search_t *s = NULL;
	char err[1024];
	double t0, t1;
	long long bytes;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--queries") == 0 && i + 1 < argc)
			n = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--keep") == 0)
			keep = 1;
		else
			dir = NULL, i = argc;
	}
	if (dir == NULL || n == 0) {
		fprintf(stderr, "usage: search --dir DIR [--queries N] [--keep]\n");
		return 2;
	}
	if (cpt_init() != 0 || node_open(&node, dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "search: %s\n", err);
		return 1;
	}
	t0 = s_now();
	if (search_open(&s, node_store(node), dir, keep ? 0 : SEARCH_REBUILD_AT_OPEN, err,
	                sizeof(err)) != 0) {
		fprintf(stderr, "search: %s\n", err);
		return 1;
	}
	t1 = s_now();
	search_close(&s); /* checkpoints the WAL into the file */
	{
		char path[4200];
		sqlite3 *db;
		sqlite3_stmt *st;
		snprintf(path, sizeof(path), "%s/search.db", dir);
		if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
		    sqlite3_prepare_v2(db, "SELECT count(*) FROM docs", -1, &st, NULL) ==
		        SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW)
				docs = (size_t)sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		}
		sqlite3_close(db);
	}
	(void)wrong;
	bytes = s_size(dir, "search.db") + s_size(dir, "search.db-wal");
	if (!keep)
		printf("rebuild    rows=%zu seconds=%.1f us_per_row=%.1f\n", docs, t1 - t0,
		       (t1 - t0) * 1e6 / (double)(docs ? docs : 1));
	printf("size       bytes=%lld bytes_per_row=%.0f\n", bytes,
	       (double)bytes / (double)(docs ? docs : 1));
	if (search_open(&s, node_store(node), dir, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "search: %s\n", err);
		return 1;
	}
	s_run(s, "one_word", s_one, N(s_one), n);
	s_run(s, "two_words", s_two, N(s_two), n);
	s_run(s, "phrase", s_phrase, N(s_phrase), n);
	s_run(s, "prefix", s_prefix, N(s_prefix), n);
	search_close(&s);
	node_close(&node);
	return 0;
}
