/*
 * sess_get — what finding and checking a session costs per request
 * (node/auth/sessions.c), for docs/BENCHMARKS.md.
 *
 *   sess_get [--sessions N] [--lookups M]
 *
 * Opens N sessions (default 10,000, the default max_sessions) in a table on
 * a fresh store in a temporary directory, then looks M random ones up
 * (default 1,000,000), once with the store (the key-state check every
 * request makes: a read transaction and three gets) and once without (the
 * lookup alone), three times each, alternating. Prints one line of
 * key=value figures: the median ns of CPU time per lookup of each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "node/auth/auth.h"
#include "node/index/index.h"

static double
s_now(void)
{
	struct timespec ts;

	/* CPU time of this thread: the machine's other load does not count. */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ns per sess_get over m random tokens of the n in t. */
static double
s_run(sess_table_t *t, char (*tok)[SESS_TOKEN_LEN + 1], size_t n, size_t m)
{
	sess_info_t info;
	double t0 = s_now();

	for (size_t i = 0; i < m; i++)
		if (sess_get(t, tok[randombytes_uniform((uint32_t)n)], &info) != 0) {
			fprintf(stderr, "sess_get: a session went missing\n");
			exit(1);
		}
	return (s_now() - t0) * 1e9 / (double)m;
}

static double
s_median3(double *v)
{
	double a = v[0], b = v[1], c = v[2];

	return a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b));
}

static sess_table_t *
s_fill(store_t *st, char (*tok)[SESS_TOKEN_LEN + 1], size_t n)
{
	sess_table_t *t = sess_new(st, n, 86400, (uint32_t)n);
	sess_anchor_t a;
	sess_info_t info;

	memset(&a, 0, sizeof(a));
	randombytes_buf(a.site, sizeof(a.site));
	for (size_t i = 0; t && i < n; i++) {
		key_sign_t *k = key_sign_new();
		char handle[32];
		snprintf(handle, sizeof(handle), "u%zu", i);
		if (k == NULL || sess_open(t, &k, handle, 0, &a, tok[i], &info) != 0) {
			fprintf(stderr, "sess_get: cannot open session %zu\n", i);
			exit(1);
		}
	}
	return t;
}

int
main(int argc, char **argv)
{
	size_t n = 10000, m = 1000000;
	char dir[] = "/tmp/comptoir-sessbench-XXXXXX", err[512], cmd[128];
	char(*tok)[SESS_TOKEN_LEN + 1];
	store_t *st = NULL;
	double with, without;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--sessions") == 0)
			n = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--lookups") == 0)
			m = strtoul(argv[i + 1], NULL, 10);
	}
	if (n == 0 || m == 0 || sodium_init() < 0 || mkdtemp(dir) == NULL ||
	    (tok = calloc(n, sizeof(*tok))) == NULL) {
		fprintf(stderr, "usage: sess_get [--sessions N] [--lookups M]\n");
		return 2;
	}
	if (index_store_open(&st, dir, 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "sess_get: %s\n", err);
		return 1;
	}
	log_set_level(LOG_LEVEL_WARN);
	{
		sess_table_t *tw = s_fill(st, tok, n), *to;
		char(*tok2)[SESS_TOKEN_LEN + 1] = calloc(n, sizeof(*tok2));
		double w[3], o[3];
		if (tok2 == NULL)
			return 1;
		to = s_fill(NULL, tok2, n);
		for (int r = 0; r < 3; r++) {
			w[r] = s_run(tw, tok, n, m);
			o[r] = s_run(to, tok2, n, m);
		}
		with = s_median3(w);
		without = s_median3(o);
		sess_destroy(&tw);
		sess_destroy(&to);
		free(tok2);
	}
	store_close(&st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "sess_get: could not remove %s\n", dir);
	printf("sessions=%zu lookups=%zu ns_per_get_checked=%.0f ns_per_get_lookup_only=%.0f "
	       "ns_per_check=%.0f\n",
	       n, m, with, without, with - without);
	free(tok);
	return 0;
}
