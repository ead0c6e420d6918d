/*
 * Unit tests for the pool that checks signatures on every core
 * (node/event/vpool.c): jobs given without waiting come back in the order
 * they were given, each envelope judged right, and destroying the pool
 * finishes what is still queued.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "node/event/event.h"

#define JOBS 24
#define PER  50 /* envelopes per job */

/* The callbacks' record: which job finished in which place. */
static struct {
	pthread_mutex_t lock;
	int order[JOBS]; /* job numbers, in the order their callbacks ran */
	int n;           /* how many ran */
} s_seen = {PTHREAD_MUTEX_INITIALIZER, {0}, 0};

static int s_jobno[JOBS];

static void
s_done(void *arg)
{
	pthread_mutex_lock(&s_seen.lock);
	s_seen.order[s_seen.n++] = *(int *)arg;
	pthread_mutex_unlock(&s_seen.lock);
}

/* Jobs of different sizes, one envelope in seven forged: each job's
 * callback runs once, after every envelope of it is judged, in the order the
 * jobs were given, and vpool_destroy waits for the last ones. */
static void
test_submit_in_order(void **state)
{
	static uint8_t env[JOBS][PER][256];
	static const uint8_t *buf[JOBS][PER];
	static size_t len[JOBS][PER];
	static uint8_t ok[JOBS][PER];
	uint8_t fed[CPT_FED_LEN];
	key_sign_t *key = key_sign_new();
	vpool_t *p = vpool_new(0);

	(void)state;
	assert_non_null(key);
	assert_non_null(p);
	memset(fed, 7, sizeof(fed));
	for (int j = 0; j < JOBS; j++)
		for (int i = 0; i < PER; i++) {
			char body[64];
			int bl =
			    snprintf(body, sizeof(body), "{\"text\":\"job %d event %d\"}", j, i);
			assert_int_equal(evt_sign(env[j][i], sizeof(env[j][i]), &len[j][i],
			                          EVT_POST, fed, 1000 + (uint64_t)(j * PER + i),
			                          (const uint8_t *)body, (size_t)bl, key),
			                 0);
			if ((j * PER + i) % 7 == 3)
				env[j][i][len[j][i] - 1] ^= 1; /* the body no longer matches */
			buf[j][i] = env[j][i];
		}
	s_seen.n = 0;
	for (int j = 0; j < JOBS; j++) {
		/* Jobs of 1 to PER envelopes, and one empty. */
		size_t n = j == 5 ? 0 : (size_t)(1 + (j * 17) % PER);
		s_jobno[j] = j;
		memset(ok[j], 0xee, sizeof(ok[j]));
		assert_int_equal(
		    vpool_submit(p, buf[j], len[j], n, fed, 4096, ok[j], NULL, s_done, &s_jobno[j]),
		    0);
	}
	vpool_destroy(&p);
	assert_null(p);
	assert_int_equal(s_seen.n, JOBS);
	for (int j = 0; j < JOBS; j++) {
		size_t n = j == 5 ? 0 : (size_t)(1 + (j * 17) % PER);
		assert_int_equal(s_seen.order[j], j);
		for (size_t i = 0; i < PER; i++)
			if (i < n)
				assert_int_equal(ok[j][i], (j * PER + (int)i) % 7 == 3 ? 0 : 1);
			else
				assert_int_equal(ok[j][i], 0xee); /* beyond the job: untouched */
	}
	key_sign_destroy(&key);
}

/* The blocking call still works beside queued jobs: its own envelopes are
 * judged, and it returns after the jobs given before it. */
static void
test_verify_after_submit(void **state)
{
	static uint8_t env[2][PER][256];
	static const uint8_t *buf[2][PER];
	static size_t len[2][PER];
	uint8_t ok[2][PER], fed[CPT_FED_LEN];
	key_sign_t *key = key_sign_new();
	vpool_t *p = vpool_new(0);
	int first = 0;

	(void)state;
	memset(fed, 9, sizeof(fed));
	for (int j = 0; j < 2; j++)
		for (int i = 0; i < PER; i++) {
			assert_int_equal(evt_sign(env[j][i], sizeof(env[j][i]), &len[j][i],
			                          EVT_POST, fed, 5000 + (uint64_t)i,
			                          (const uint8_t *)"{}", 2, key),
			                 0);
			buf[j][i] = env[j][i];
		}
	env[1][0][len[1][0] - 1] ^= 1; /* its body no longer matches its hash */
	s_seen.n = 0;
	assert_int_equal(
	    vpool_submit(p, buf[0], len[0], PER, fed, 4096, ok[0], NULL, s_done, &first), 0);
	vpool_verify(p, buf[1], len[1], PER, fed, 4096, ok[1], NULL);
	pthread_mutex_lock(&s_seen.lock);
	assert_int_equal(s_seen.n, 1);
	pthread_mutex_unlock(&s_seen.lock);
	assert_int_equal(ok[1][0], 0);
	for (int i = 1; i < PER; i++)
		assert_int_equal(ok[1][i], 1);
	for (int i = 0; i < PER; i++)
		assert_int_equal(ok[0][i], 1);
	vpool_destroy(&p);
	key_sign_destroy(&key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_submit_in_order),
	    cmocka_unit_test(test_verify_after_submit),
	};

	if (cpt_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
