/*
 * The table of who sent the events a node keeps waiting (sync/senders.c),
 * alone, on an engine's state that has no thread or socket: what is noted
 * is found once, with its senders, whatever was taken around it (an
 * open-addressing table that deletes by moving entries back).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sync/sync_internal.h"

/* An id whose first 8 bytes (where the table starts its search) are home,
 * the rest random. */
static void
s_id(uint8_t id[CPT_ID_LEN], uint64_t home)
{
	randombytes_buf(id, CPT_ID_LEN);
	memcpy(id, &home, sizeof(home));
}

/* The slots in skip, in order, into out; how many. */
static int
s_slots(const peerset_t *skip, int *out, int max)
{
	int n = 0;

	for (int i = 0; i < SYNC_MAX_PEERS && n < max; i++)
		if (peerset_has(skip, i))
			out[n++] = i;
	return n;
}

/*
 * 200 ids of one home slot (one run of the table) and 20,000 spread ones,
 * each noted by one to four links (the fourth is not kept); taken in an
 * order that empties the run from its middle: each is found with its first
 * three senders, exactly once.
 */
static void
test_noted_found_once_with_their_senders(void **state)
{
	enum { CLUSTER = 200, N = 20200 };
	sync_t *s = calloc(1, sizeof(*s));
	uint8_t(*ids)[CPT_ID_LEN] = malloc(N * CPT_ID_LEN);
	size_t *order = malloc(N * sizeof(*order));

	(void)state;
	assert_non_null(s);
	assert_non_null(ids);
	assert_non_null(order);
	for (size_t i = 0; i < N; i++) {
		s_id(ids[i], i < CLUSTER ? 7 : randombytes_random() * 4096ull + i);
		for (size_t k = 0; k <= i % 4; k++)
			senders_note(s, ids[i], (int)((i + k * 100) % SYNC_MAX_PEERS));
		senders_note(s, ids[i], (int)(i % SYNC_MAX_PEERS)); /* again: kept once */
		order[i] = i;
	}
	assert_int_equal(s->senders_n, N);
	/* Every other of the run first, then the rest, then the others at random. */
	for (size_t i = 0; i < CLUSTER; i++)
		order[i] = i < CLUSTER / 2 ? 2 * i : 2 * (i - CLUSTER / 2) + 1;
	for (size_t i = N - 1; i > CLUSTER; i--) {
		size_t j = CLUSTER + randombytes_uniform((uint32_t)(i - CLUSTER + 1));
		size_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (size_t k = 0; k < N; k++) {
		size_t i = order[k];
		peerset_t skip;
		int got[8], want[3], nw = 0;
		memset(&skip, 0, sizeof(skip));
		assert_int_equal(senders_take(s, ids[i], &skip), 1);
		for (size_t m = 0; m <= i % 4 && m < SENDERS_LINKS; m++)
			want[nw++] = (int)((i + m * 100) % SYNC_MAX_PEERS);
		/* In slot order. */
		for (int a = 0; a < nw; a++)
			for (int b = a + 1; b < nw; b++)
				if (want[b] < want[a]) {
					int t = want[a];
					want[a] = want[b];
					want[b] = t;
				}
		assert_int_equal(s_slots(&skip, got, 8), nw);
		assert_memory_equal(got, want, nw * sizeof(int));
		memset(&skip, 0, sizeof(skip));
		assert_int_equal(senders_take(s, ids[i], &skip), 0);
		assert_true(peerset_empty(&skip));
	}
	assert_int_equal(s->senders_n, 0);
	senders_fini(s);
	free(order);
	free(ids);
	free(s);
}

/* Past its largest size the table forgets everything at once and goes on
 * noting: memory stays bounded whatever waits for good. */
static void
test_full_table_forgets(void **state)
{
	sync_t *s = calloc(1, sizeof(*s));
	uint8_t id[CPT_ID_LEN], last[CPT_ID_LEN];
	peerset_t skip;
	size_t cap = 0;

	(void)state;
	assert_non_null(s);
	for (int i = 0; i < 200000; i++) {
		s_id(id, randombytes_random() * 65536ull + (uint64_t)i);
		senders_note(s, id, 1);
		assert_true(2 * s->senders_n <= s->senders_cap);
		if (s->senders_cap > cap)
			cap = s->senders_cap;
		memcpy(last, id, sizeof(id));
	}
	assert_true(cap <= (1u << 17));
	assert_true(s->senders_n < 200000);
	memset(&skip, 0, sizeof(skip));
	assert_int_equal(senders_take(s, last, &skip), 1);
	assert_true(peerset_has(&skip, 1));
	senders_fini(s);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_noted_found_once_with_their_senders),
	    cmocka_unit_test(test_full_table_forgets),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
