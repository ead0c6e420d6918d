/*
 * ingest — the single writer's rate: N events signed beforehand (80% posts,
 * 10% comments, 10% reactions) ingested through node_submit_verified in
 * batches of 1000 as the sync engine does after the verification pool, so
 * only the store and the views are measured. Then the same with signature
 * checks in the writer (node_submit), for comparison.
 *
 *   ingest --dir DIR [--events N] [--batch N] [--writer-only] [--hot]
 *
 * (DIR made by `comptoir init`). --hot: one post, then only comments and
 * reactions on it, as on a popular announcement.
 *
 *   ingest --dir DIR --from EXPORT [--skip K] [--events N] [--batch N] [--decided]
 *
 * --from: what a receiving site's writer thread does in a catch-up, alone
 * and repeatable (an instruction count is, where the wall clock of a shared
 * machine is not): the events of EXPORT (`comptoir export` of another site
 * of the federation: one JSON line each, in (ts, id) order) from the K-th,
 * N of them, each decoded and its body parsed beforehand as the
 * verification pool does (node/event/vpool.c), then stored through
 * node_submit_verified in batches as node/fed/writer.c hands them. DIR is a
 * site of that federation (`comptoir init --join`, certified and
 * installed), perhaps holding the first K already. Prints the writer's CPU
 * per event; under a profiler, count node_submit_verified alone.
 * --decided: through node_submit_decided with a callback that does nothing,
 * as the federation's writer asked for every transaction until session 13
 * (the node then reads back each event it stores, to say how it holds it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <sodium.h>

#include "node/core/core.h"
#include "node/index/index.h"

/* CPU seconds of this process (every thread); *sys, when not NULL, the
 * system part. */
static double
s_cpu_sys(double *sys)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	if (sys)
		*sys = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static double
s_cpu(void)
{
	return s_cpu_sys(NULL);
}

static double
s_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One envelope of an export line ("envelope": hex), malloc'd, or NULL. */
static uint8_t *
s_envelope_of(const char *line, size_t *len)
{
	json_t *j = json_loads(line, 0, NULL);
	const char *hex = json_string_value(json_object_get(j, "envelope"));
	size_t hl = hex ? strlen(hex) : 0;
	uint8_t *out = hl ? malloc(hl / 2) : NULL;

	if (out && sodium_hex2bin(out, hl / 2, hex, hl, NULL, len, NULL) != 0) {
		free(out);
		out = NULL;
	}
	json_decref(j);
	return out;
}

/* Bytes this process has handed to write syscalls (/proc/self/io's
 * wchar): LMDB's page writes, the dirty pages of each commit. */
static double
s_wchar(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	double w = 0;

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "wchar: ", 7) == 0)
			w = strtod(line + 7, NULL);
	if (f)
		fclose(f);
	return w;
}

/* --decided: told what a transaction decided, and nothing done with it. */
static void
s_decided_none(void *arg, const ingest_res_t *res, size_t count)
{
	(void)arg;
	(void)res;
	(void)count;
}

/* --from: the receiving writer's path, on the events of an export. */
static int
s_replay(node_t *node, const char *from, size_t skip, size_t n, size_t batch, int decided)
{
	FILE *f = fopen(from, "r");
	char *line = NULL;
	size_t cap = 0, got = 0, seen = 0, stored = 0, refused = 0;
	uint8_t **env = calloc(n ? n : 1, sizeof(*env)), *ok = malloc(n ? n : 1);
	size_t *len = calloc(n ? n : 1, sizeof(*len));
	json_t **bodies = calloc(n ? n : 1, sizeof(*bodies));
	ingest_res_t *res = calloc(batch, sizeof(*res));
	double c0, t0, t, s0, s1, w0;

	if (f == NULL || !env || !ok || !len || !bodies || !res) {
		fprintf(stderr, "ingest: cannot read %s\n", from);
		return 1;
	}
	while (got < n && getline(&line, &cap, f) > 0) {
		evt_t ev;
		if (seen++ < skip)
			continue;
		if ((env[got] = s_envelope_of(line, &len[got])) == NULL) {
			fprintf(stderr, "ingest: %s: line %zu has no envelope\n", from, seen);
			return 1;
		}
		/* What the pool hands the writer: verified, the body parsed. */
		ok[got] = evt_decode_lazy(&ev, env[got], len[got], EVT_MAX_BODY) == 0 &&
		          (ev.body == NULL || (bodies[got] = index_body(&ev)) != NULL);
		got++;
	}
	free(line);
	fclose(f);
	w0 = s_wchar();
	c0 = s_cpu_sys(&s0);
	t0 = s_now();
	for (size_t i = 0; i < got; i += batch) {
		size_t k = got - i < batch ? got - i : batch;
		int rc =
		    decided ? node_submit_decided(node, (const uint8_t *const *)env + i, len + i, k,
		                                  ok + i, bodies + i, res, 0, s_decided_none, NULL)
		            : node_submit_verified(node, (const uint8_t *const *)env + i, len + i,
		                                   k, ok + i, bodies + i, res);
		if (rc != 0) {
			fprintf(stderr, "ingest: store error\n");
			return 1;
		}
		for (size_t j = 0; j < k; j++) {
			stored += res[j].rc == 0;
			refused += res[j].rc != 0 && res[j].rc != CPT_EEXIST;
		}
	}
	t = s_now() - t0;
	c0 = s_cpu_sys(&s1) - c0;
	printf("replayed %zu events from the %zu-th: %zu stored, %zu not admitted, in %.2f s: "
	       "CPU %.1f us/event (%.1f user + %.1f system), %.0f bytes written per event\n",
	       got, skip, stored, refused, t, c0 * 1e6 / (got ? got : 1),
	       (c0 - (s1 - s0)) * 1e6 / (got ? got : 1), (s1 - s0) * 1e6 / (got ? got : 1),
	       (s_wchar() - w0) / (got ? got : 1));
	for (size_t i = 0; i < got; i++) {
		json_decref(bodies[i]);
		free(env[i]);
	}
	free(env);
	free(len);
	free(ok);
	free(bodies);
	free(res);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *dir = NULL;
	size_t n = 100000, users = 5;
	node_t *node;
	char err[1024];
	key_sign_t *keys[8];
	uint8_t **env, *ok;
	size_t *len;
	uint8_t(*posts)[CPT_ID_LEN];
	size_t n_posts = 0;
	ingest_res_t *res;
	hlc_t clk = {0};
	double t0, t;
	int passes = 2;
	size_t batch = 1000;
	int hot = 0;               /* one post, then only comments and reactions on it */
	const char *export = NULL; /* --from: an export replayed as a peer's */
	size_t skip = 0;
	int decided = 0; /* --decided */

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
			n = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
			batch = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--writer-only") == 0)
			passes = 1;
		else if (strcmp(argv[i], "--hot") == 0)
			hot = 1;
		else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
			export = argv[++i];
		else if (strcmp(argv[i], "--skip") == 0 && i + 1 < argc)
			skip = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--decided") == 0)
			decided = 1;
	}
	if (dir == NULL || batch == 0 || cpt_init() != 0) {
		fprintf(stderr,
		        "usage: ingest --dir DIR [--events N] [--batch N] [--writer-only] [--hot]\n"
		        "       ingest --dir DIR --from EXPORT [--skip K] [--events N] [--batch N] "
		        "[--decided]\n");
		return 2;
	}
	if (node_open(&node, dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "ingest: %s\n", err);
		return 1;
	}
	if (export) {
		int rc = s_replay(node, export, skip, n, batch, decided);
		node_close(&node);
		return rc;
	}
	/* Users enrolled by the site, keys kept here to sign with. */
	for (size_t u = 0; u < users; u++) {
		char h[16], hex[CPT_HEX_ID];
		ingest_res_t r;
		json_t *b;
		keys[u] = key_sign_new();
		snprintf(h, sizeof(h), "bench%zu", u);
		cpt_hex32(hex, key_sign_public(keys[u]));
		{
			/* The key agrees to be this handle here (PROTOCOL.md 7.2). */
			uint8_t sig[CPT_SIG_LEN];
			char proof[2 * CPT_SIG_LEN + 1] = "";
			if (evt_proof_sign(sig, keys[u], node_ingest_ctx(node)->fed,
			                   node_cfg(node)->name, h) == 0)
				sodium_bin2hex(proof, sizeof(proof), sig, sizeof(sig));
			b = json_pack("{s:s, s:s, s:s, s:s, s:s}", "handle", h, "key", hex, "site",
			              node_cfg(node)->name, "role", "member", "proof", proof);
		}
		if (node_publish(node, node_site_key(node), EVT_ENROL, b, &r) != 0 || r.rc != 0) {
			fprintf(stderr, "ingest: enrolment refused: %s\n", r.why);
			return 1;
		}
		json_decref(b);
	}
	env = calloc(n, sizeof(*env));
	len = calloc(n, sizeof(*len));
	ok = malloc(n);
	res = calloc(batch, sizeof(*res));
	posts = malloc(n * CPT_ID_LEN);
	memset(ok, 1, n);
	/* After the users' enrolments (made now): a user key signs nothing
	 * valid before its first enrolment (PROTOCOL.md 8.5). */
	clk.last = HLC_MAKE(hlc_wall_ms() + 1000, 0);
	for (size_t i = 0; i < n; i++) {
		char body[256];
		uint16_t kind = EVT_POST;
		char ph[CPT_HEX_ID];
		size_t r = i % 10;
		if (hot && n_posts > 0) {
			/* A popular post: every later event refers to it. */
			cpt_hex32(ph, posts[0]);
			kind = i % 2 ? EVT_COMMENT : EVT_REACTION;
			if (kind == EVT_COMMENT)
				snprintf(body, sizeof(body),
				         "{\"post\":\"%s\",\"text\":\"well done #%zu\"}", ph, i);
			else
				snprintf(body, sizeof(body),
				         "{\"post\":\"%s\",\"reaction\":\"%s\",\"on\":%s}", ph,
				         i % 4 ? "+1" : "heart", i % 6 ? "true" : "false");
		} else if (n_posts > 10 && r == 8) {
			kind = EVT_COMMENT;
			cpt_hex32(
			    ph,
			    posts[n_posts - 1 -
			          randombytes_uniform(n_posts < 500 ? (uint32_t)n_posts : 500)]);
			snprintf(body, sizeof(body),
			         "{\"post\":\"%s\",\"text\":\"agreed, see you there #%zu\"}", ph,
			         i);
		} else if (n_posts > 10 && r == 9) {
			kind = EVT_REACTION;
			cpt_hex32(
			    ph,
			    posts[n_posts - 1 -
			          randombytes_uniform(n_posts < 500 ? (uint32_t)n_posts : 500)]);
			snprintf(body, sizeof(body),
			         "{\"post\":\"%s\",\"reaction\":\"+1\",\"on\":true}", ph);
		} else {
			snprintf(body, sizeof(body),
			         "{\"text\":\"the canteen will be closed on friday for the audit, "
			         "event %zu\"}",
			         i);
		}
		env[i] = malloc(EVT_FIXED_LEN + strlen(body));
		clk.last += 1 << 10;
		if (evt_sign(env[i], EVT_FIXED_LEN + strlen(body), &len[i], kind,
		             node_ingest_ctx(node)->fed, clk.last, (uint8_t *)body, strlen(body),
		             keys[i % users]) != 0)
			return 1;
		if (kind == EVT_POST)
			evt_id_raw(posts[n_posts++], env[i]);
	}
	for (int pass = 0; pass < passes; pass++) {
		size_t half = passes == 1 ? n : n / 2, from = pass ? half : 0, to = pass ? n : half,
		       stored = 0;
		double c0 = s_cpu();
		t0 = s_now();
		for (size_t i = from; i < to; i += batch) {
			size_t k = to - i < batch ? to - i : batch;
			int rc = pass == 0
			             ? node_submit_verified(node, (const uint8_t *const *)env + i,
			                                    len + i, k, ok + i, NULL, res)
			             : node_submit(node, (const uint8_t *const *)env + i, len + i,
			                           k, res);
			if (rc != 0) {
				fprintf(stderr, "ingest: store error\n");
				return 1;
			}
			for (size_t j = 0; j < k; j++)
				stored += res[j].rc == 0;
		}
		t = s_now() - t0;
		printf("%s: %zu events stored in %.2f s: %.0f events/s, CPU %.1f us/event\n",
		       pass == 0 ? "writer only (signatures checked by the pool)"
		                 : "writer checking signatures itself",
		       stored, t, stored / t, (s_cpu() - c0) * 1e6 / (stored ? stored : 1));
	}
	node_close(&node);
	return 0;
}
