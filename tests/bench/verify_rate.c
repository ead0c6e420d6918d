/*
 * verify_rate — this machine's single-core Ed25519 verify rate on envelopes
 * of the usual size, the anchor the catch-up benchmark is compared with.
 * Prints one line (medians of 3 runs of 20,000 checks each):
 *   verify_per_s=N     one envelope verified again and again, by the wall
 *                      clock (the anchor of every session since the first;
 *                      kept as it was)
 *   distinct_per_s=N   2,048 envelopes by 20 authors, as a catch-up brings
 *                      them: each signature different (libsodium's
 *                      variable-time code mispredicts more than on the same
 *                      one again: ~2 us more on this machine), by this
 *                      thread's CPU time
 *   path_us=X          what the verify pool does per envelope of a batch
 *                      (node/event/vpool.c: the header decoded and the
 *                      body's hash checked, the body parsed for the writer,
 *                      the signature checked, the parse freed), on one
 *                      core, for the same 2,048: the floor of cpt-verify's
 *                      CPU per event in a catch-up
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "crypto/crypto.h"
#include "node/index/index.h"

#define DISTINCT 2048
#define AUTHORS  20
#define CHECKS   20000

static double
s_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* This thread's CPU time: the two new figures are CPU per check, which the
 * other processes of a shared machine do not inflate (the wall clock did:
 * path_us 78.5 at a load of 12 against 53 quiet). */
static double
s_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
s_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* A body like fill's: 8 in 10 posts, a comment, a reaction (i picks). */
static size_t
s_body(char *out, size_t cap, size_t i)
{
	static const char *const words[] = {
	    "the",     "canteen", "will",     "be",      "closed", "on",     "friday",
	    "for",     "quality", "audit",    "please",  "plan",   "your",   "lunch",
	    "meeting", "report",  "shipment", "welcome", "team",   "office", "monday"};
	char text[400];
	size_t len = 0, nw = 8 + (i * 7919) % 33;

	for (size_t w = 0; w < nw && len + 16 < sizeof(text); w++)
		len +=
		    (size_t)snprintf(text + len, sizeof(text) - len, "%s%s", w ? " " : "",
		                     words[(i * 31 + w * 17) % (sizeof(words) / sizeof(words[0]))]);
	if (i % 10 == 8)
		return (size_t)snprintf(out, cap, "{\"post\":\"%064zx\",\"text\":\"%s\"}",
		                        i * 2654435761u, text);
	if (i % 10 == 9)
		return (size_t)snprintf(out, cap,
		                        "{\"post\":\"%064zx\",\"reaction\":\"+1\",\"on\":true}",
		                        i * 2654435761u);
	return (size_t)snprintf(out, cap, "{\"text\":\"%s\"}", text);
}

int
main(void)
{
	key_sign_t *k[AUTHORS];
	uint8_t fed[CPT_FED_LEN] = {1}, env[EVT_FIXED_LEN + 256];
	static uint8_t many[DISTINCT][EVT_FIXED_LEN + 512];
	static size_t many_len[DISTINCT];
	static evt_t many_ev[DISTINCT];
	const char *body =
	    "{\"text\":\"the canteen will be closed on friday for the quality audit, "
	    "please plan your lunch accordingly\"}";
	size_t len;
	evt_t ev;
	double rates[3], distinct[3], path[3];

	if (cpt_init() != 0)
		return 1;
	for (int a = 0; a < AUTHORS; a++)
		if ((k[a] = key_sign_new()) == NULL)
			return 1;
	if (evt_sign(env, sizeof(env), &len, EVT_POST, fed, 1, (const uint8_t *)body, strlen(body),
	             k[0]) != 0 ||
	    evt_decode(&ev, env, len, EVT_MAX_BODY) != 0)
		return 1;
	for (size_t i = 0; i < DISTINCT; i++) {
		char b[480];
		size_t bl = s_body(b, sizeof(b), i);
		unsigned kind = i % 10 == 8 ? EVT_COMMENT : i % 10 == 9 ? EVT_REACTION : EVT_POST;
		if (evt_sign(many[i], sizeof(many[i]), &many_len[i], (uint16_t)kind, fed, 1000 + i,
		             (const uint8_t *)b, bl, k[i % AUTHORS]) != 0 ||
		    evt_decode(&many_ev[i], many[i], many_len[i], EVT_MAX_BODY) != 0)
			return 1;
	}
	for (int r = 0; r < 3; r++) {
		double t0 = s_now();
		int ok = 0;
		for (int i = 0; i < CHECKS; i++)
			ok += evt_verify(&ev, fed) == 0;
		rates[r] = ok / (s_now() - t0);
		t0 = s_cpu();
		ok = 0;
		for (int i = 0; i < CHECKS; i++)
			ok += evt_verify(&many_ev[i % DISTINCT], fed) == 0;
		distinct[r] = ok / (s_cpu() - t0);
		t0 = s_cpu();
		ok = 0;
		for (int i = 0; i < CHECKS; i++) {
			size_t j = (size_t)i % DISTINCT;
			evt_t e;
			json_t *parsed = NULL;
			ok += evt_decode_lazy(&e, many[j], many_len[j], EVT_MAX_BODY) == 0 &&
			      (parsed = index_body(&e)) != NULL && evt_verify(&e, fed) == 0;
			json_decref(parsed);
		}
		path[r] = (s_cpu() - t0) * 1e6 / CHECKS;
		if (ok != CHECKS)
			return 1;
	}
	qsort(rates, 3, sizeof(double), s_cmp);
	qsort(distinct, 3, sizeof(double), s_cmp);
	qsort(path, 3, sizeof(double), s_cmp);
	printf("verify_per_s=%.0f distinct_per_s=%.0f path_us=%.1f\n", rates[1], distinct[1],
	       path[1]);
	for (int a = 0; a < AUTHORS; a++)
		key_sign_destroy(&k[a]);
	return 0;
}
