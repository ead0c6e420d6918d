/*
 * verify_rate — this machine's single-core Ed25519 verify rate on envelopes
 * of the usual size, the anchor the catch-up benchmark is compared with.
 * Prints "verify_per_s=N" (median of 3 runs of 20,000 verifications).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "crypto/crypto.h"

static double
s_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
s_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int
main(void)
{
	key_sign_t *k;
	uint8_t fed[CPT_FED_LEN] = {1}, env[EVT_FIXED_LEN + 256];
	const char *body =
	    "{\"text\":\"the canteen will be closed on friday for the quality audit, "
	    "please plan your lunch accordingly\"}";
	size_t len;
	evt_t ev;
	double rates[3];

	if (cpt_init() != 0 || (k = key_sign_new()) == NULL)
		return 1;
	if (evt_sign(env, sizeof(env), &len, EVT_POST, fed, 1, (const uint8_t *)body, strlen(body),
	             k) != 0 ||
	    evt_decode(&ev, env, len, EVT_MAX_BODY) != 0)
		return 1;
	for (int r = 0; r < 3; r++) {
		double t0 = s_now();
		int ok = 0;
		for (int i = 0; i < 20000; i++)
			ok += evt_verify(&ev, fed) == 0;
		rates[r] = ok / (s_now() - t0);
	}
	qsort(rates, 3, sizeof(double), s_cmp);
	printf("verify_per_s=%.0f\n", rates[1]);
	key_sign_destroy(&k);
	return 0;
}
