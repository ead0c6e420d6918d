/*
 * Property tests of the range-based reconciliation (sync/recon.c) on
 * in-memory sets: random sizes, random differences on either side,
 * clustered and scattered. Both sides must end with the union, every time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sync/sync.h"

typedef struct set {
	uint8_t (*k)[RECON_KEY_LEN]; /* sorted keys */
	size_t n, cap;
} set_t;

static int
s_cmp(const void *a, const void *b)
{
	return memcmp(a, b, RECON_KEY_LEN);
}

static void
s_add(set_t *s, const uint8_t k[RECON_KEY_LEN])
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		s->k = realloc(s->k, s->cap * RECON_KEY_LEN);
	}
	memcpy(s->k[s->n++], k, RECON_KEY_LEN);
}

static void
s_sort(set_t *s)
{
	size_t w = 0;

	if (s->n == 0)
		return;
	qsort(s->k, s->n, RECON_KEY_LEN, s_cmp);
	for (size_t i = 0; i < s->n; i++)
		if (w == 0 || memcmp(s->k[w - 1], s->k[i], RECON_KEY_LEN) != 0)
			memcpy(s->k[w++], s->k[i], RECON_KEY_LEN);
	s->n = w;
}

/* First index with key >= b. */
static size_t
s_lower(const set_t *s, const uint8_t *b)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (memcmp(s->k[mid], b, RECON_KEY_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
s_fp(void *ctx, const uint8_t *lo, const uint8_t *hi, uint64_t *count, uint8_t fp[RECON_FP_LEN])
{
	set_t *s = ctx;
	uint8_t sum[32] = {0};
	size_t a = s_lower(s, lo), b = s_lower(s, hi);

	for (size_t i = a; i < b; i++)
		recon_sum_add(sum, s->k[i] + 8);
	*count = b - a;
	recon_fingerprint(fp, sum, *count);
}

static size_t
s_items(void *ctx, const uint8_t *lo, const uint8_t *hi, uint8_t (*out)[RECON_KEY_LEN], size_t max)
{
	set_t *s = ctx;
	size_t a = s_lower(s, lo), b = s_lower(s, hi), n = 0;

	for (size_t i = a; i < b && n < max; i++)
		memcpy(out[n++], s->k[i], RECON_KEY_LEN);
	return n;
}

static size_t
s_split(void *ctx, const uint8_t *lo, const uint8_t *hi, uint64_t count, size_t k,
        uint8_t (*bounds)[RECON_KEY_LEN])
{
	set_t *s = ctx;
	size_t a = s_lower(s, lo), b = s_lower(s, hi), n = 0;

	(void)count;
	for (size_t j = 1; j < k; j++) {
		size_t at = a + (b - a) * j / k;
		if (at <= a || at >= b)
			continue;
		recon_bound_between(bounds[n], s->k[at - 1], s->k[at]);
		if (n > 0 && memcmp(bounds[n], bounds[n - 1], RECON_KEY_LEN) <= 0)
			continue;
		n++;
	}
	return n;
}

/* Our newest max items, in increasing order (recon_start_recent). */
static size_t
s_recent(void *ctx, uint8_t (*out)[RECON_KEY_LEN], size_t max)
{
	set_t *s = ctx;
	size_t n = s->n < max ? s->n : max;

	memcpy(out, s->k[s->n - n], n * RECON_KEY_LEN);
	return n;
}

static int
s_has(void *ctx, const uint8_t id[32])
{
	set_t *s = ctx;

	for (size_t i = 0; i < s->n; i++)
		if (memcmp(s->k[i] + 8, id, 32) == 0)
			return 1;
	return 0;
}

/* One side: its set, and what the other side must receive from it. */
typedef struct side {
	set_t set;
	set_t outbox; /* events to send to the other side */
	set_t wanted; /* ids asked of the other side (stored as keys with ts 0) */
	struct side *peer;
} side_t;

static void
s_push_ids(void *arg, const uint8_t (*keys)[40], size_t n)
{
	side_t *me = arg;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < me->set.n; j++)
			if (memcmp(me->set.k[j], keys[i], 40) == 0)
				s_add(&me->outbox, me->set.k[j]);
}

static void
s_push_range(void *arg, const uint8_t *lo, const uint8_t *hi)
{
	side_t *me = arg;
	size_t a = s_lower(&me->set, lo), b = s_lower(&me->set, hi);

	for (size_t i = a; i < b; i++)
		s_add(&me->outbox, me->set.k[i]);
}

static void
s_want(void *arg, const uint8_t (*ids)[32], size_t n)
{
	side_t *me = arg;

	/* The peer answers a want with the events: look them up there. */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < me->peer->set.n; j++)
			if (memcmp(me->peer->set.k[j] + 8, ids[i], 32) == 0)
				s_add(&me->wanted, me->peer->set.k[j]);
}

static void
s_deliver(side_t *from, side_t *to)
{
	for (size_t i = 0; i < from->outbox.n; i++)
		s_add(&to->set, from->outbox.k[i]);
	for (size_t i = 0; i < from->wanted.n; i++)
		s_add(&from->set, from->wanted.k[i]);
	from->outbox.n = 0;
	from->wanted.n = 0;
	s_sort(&to->set);
	s_sort(&from->set);
}

typedef struct result {
	int rounds;   /* messages sent, both ways */
	size_t bytes; /* their total size */
} result_t;

/* Runs a whole reconciliation; events found missing travel after each
 * message. recent: a opens it as after an outage (recon_start_recent; over
 * its newest `recent` items when more than 1, recon_start_recent_n), and
 * both sides can read their newest items. */
static result_t
s_reconcile_how(side_t *a, side_t *b, size_t recent)
{
	recon_src_t sa = {&a->set, s_fp, s_items, s_split, s_has, recent ? s_recent : NULL};
	recon_src_t sb = {&b->set, s_fp, s_items, s_split, s_has, recent ? s_recent : NULL};
	recon_sink_t ka = {a, s_push_ids, s_push_range, s_want, NULL};
	recon_sink_t kb = {b, s_push_ids, s_push_range, s_want, NULL};
	recon_t *ra = recon_new(&sa, &ka), *rb = recon_new(&sb, &kb);
	size_t cap = 1 << 20, len = 0, outlen = 0;
	uint8_t *msg = malloc(cap), *out = malloc(cap);
	result_t res = {0, 0};
	int done = 0, turn = 1;

	a->peer = b;
	b->peer = a;
	if (recent > 1)
		assert_int_equal(recon_start_recent_n(ra, msg, cap, &len, recent), 0);
	else if (recent)
		assert_int_equal(recon_start_recent(ra, msg, cap, &len), 0);
	else
		assert_int_equal(recon_start(ra, msg, cap, &len), 0);
	res.rounds = 1;
	res.bytes = len;
	while (!done) {
		recon_t *r = turn ? rb : ra;
		assert_int_equal(recon_process(r, msg, len, out, cap, &outlen, &done), 0);
		s_deliver(a, b);
		s_deliver(b, a);
		if (done)
			break;
		memcpy(msg, out, outlen);
		len = outlen;
		res.rounds++;
		res.bytes += len;
		turn = !turn;
		assert_true(res.rounds < 60);
	}
	recon_destroy(&ra);
	recon_destroy(&rb);
	free(msg);
	free(out);
	return res;
}

static void
s_key(uint8_t k[RECON_KEY_LEN], uint64_t ts)
{
	for (int i = 0; i < 8; i++)
		k[i] = (uint8_t)(ts >> (56 - 8 * i));
	randombytes_buf(k + 8, 32);
}

static void
s_free(side_t *s)
{
	free(s->set.k);
	free(s->outbox.k);
	free(s->wanted.k);
	memset(s, 0, sizeof(*s));
}

/* Builds two sets: n common items, da only in a, db only in b; clustered puts
 * the differences at the newest timestamps (a's before b's), interleaved
 * mixes a's, b's and `recent` more common items in that newest span (an
 * outage during which both sites wrote). Checks the union is reached. */
static result_t
s_case_how(size_t n, size_t da, size_t db, int clustered, int interleaved, size_t recent,
           size_t opening)
{
	side_t a = {0}, b = {0};
	set_t uni = {0};
	uint8_t k[RECON_KEY_LEN];
	uint64_t base = 1700000000000ull << 16;
	result_t r;

	for (size_t i = 0; i < n; i++) {
		s_key(k, base + (uint64_t)randombytes_uniform(1u << 30));
		s_add(&a.set, k);
		s_add(&b.set, k);
		s_add(&uni, k);
	}
	for (size_t i = 0; i < recent; i++) {
		s_key(k, base + (1ull << 30) + randombytes_uniform(1u << 24));
		s_add(&a.set, k);
		s_add(&b.set, k);
		s_add(&uni, k);
	}
	for (size_t i = 0; i < da + db; i++) {
		uint64_t ts = interleaved ? base + (1ull << 30) + randombytes_uniform(1u << 24)
		              : clustered ? base + (1ull << 30) + i * 7
		                          : base + randombytes_uniform(1u << 30);
		s_key(k, ts);
		s_add(i < da ? &a.set : &b.set, k);
		s_add(&uni, k);
	}
	s_sort(&a.set);
	s_sort(&b.set);
	s_sort(&uni);
	r = s_reconcile_how(&a, &b, opening);
	assert_int_equal(a.set.n, uni.n);
	assert_int_equal(b.set.n, uni.n);
	assert_memory_equal(a.set.k, uni.k, uni.n * RECON_KEY_LEN);
	assert_memory_equal(b.set.k, uni.k, uni.n * RECON_KEY_LEN);
	s_free(&a);
	s_free(&b);
	free(uni.k);
	return r;
}

static result_t
s_case_mixed(size_t n, size_t da, size_t db, int clustered, int interleaved, size_t recent)
{
	return s_case_how(n, da, db, clustered, interleaved, recent, 0);
}

static result_t
s_case(size_t n, size_t da, size_t db, int clustered)
{
	return s_case_mixed(n, da, db, clustered, 0, 0);
}

static void
test_identical_sets_one_round_trip(void **state)
{
	(void)state;
	for (size_t n = 0; n <= 20000; n = n ? n * 10 : 20) {
		result_t r = s_case(n, 0, 0, 0);
		/* one message and a silent agreement: one round trip */
		assert_int_equal(r.rounds, 1);
		assert_true(r.bytes < 1024);
	}
}

static void
test_empty_against_full(void **state)
{
	(void)state;
	s_case(0, 5000, 0, 0);
	s_case(0, 0, 5000, 0);
	s_case(0, 1, 0, 0);
}

static void
test_random_property(void **state)
{
	(void)state;
	/* Random sizes and differences, on either side or both, 200 times. */
	for (int t = 0; t < 200; t++) {
		size_t n = randombytes_uniform(t < 150 ? 300 : 5000);
		size_t da = randombytes_uniform(t % 3 == 0 ? 3 : 200);
		size_t db = randombytes_uniform(t % 4 == 0 ? 3 : 200);
		s_case(n, da, db, t % 2);
	}
}

static void
test_outage_clustered_newest(void **state)
{
	(void)state;
	/* 2,000 new events at each side during an outage, 50,000 in common. */
	result_t r = s_case(50000, 2000, 2000, 1);
	assert_true(r.rounds <= 6); /* three round trips */
}

/* The heal of an outage during which both sites wrote, as tests/bench/heal.py
 * makes it: 1,000 new events at each side, interleaved in time with each
 * other and with events both hold, at the newest end of a larger set. Where
 * most of a message's ranges differ, the differences are dense: an id list
 * settles a range of up to RECON_MAX_IDS in this round where splitting it
 * would cost a round trip more (and as many bytes in the next round's lists). */
static void
test_outage_both_sides_interleaved(void **state)
{
	(void)state;
	for (int t = 0; t < 3; t++) {
		result_t r = s_case_mixed(50000, 1000, 1000, 0, 1, t * 1000);
		/* two round trips (splitting further took a message more) */
		assert_true(r.rounds <= 4);
		/* and fewer bytes than splitting: ~40 per difference */
		assert_true(r.bytes / 2000 < 64);
	}
}

/*
 * The same heal answered by the tail rule: the message's last ranges all
 * differ (the outage reached the newest events at both sides), and they are
 * listed at once instead of split. Three messages where the dense rule alone
 * took four: the equal parts of the opening, their split, then the lists.
 */
static void
test_outage_tail_listed(void **state)
{
	(void)state;
	for (int t = 0; t < 3; t++) {
		result_t r = s_case_mixed(50000, 1000, 1000, 0, 1, t * 1000);
		assert_true(r.rounds <= 3);
	}
}

/*
 * The heal after an outage, opened as a link coming up does
 * (recon_start_recent): our newest items in ranges of 64, 64, 128 ... 1,024,
 * read from the newest end. The peer lists the differing ones at once: the
 * union is known after two messages, one round trip, where the equal parts
 * took four. Both sides in agreement: one message of a few hundred bytes.
 */
static void
test_outage_heal_in_one_round_trip(void **state)
{
	(void)state;
	for (int t = 0; t < 3; t++) {
		result_t r = s_case_how(50000, 1000, 1000, 0, 1, t * 500, 1);
		assert_int_equal(r.rounds, 2);
	}
	for (size_t n = 20; n <= 20000; n *= 10) {
		result_t r = s_case_how(n, 0, 0, 0, 0, 0, 1);
		assert_int_equal(r.rounds, 1);
		assert_true(r.bytes < 1024);
	}
	/* Differences older than the newest RECON_RECENT_MAX items are still
	 * found, a round trip later. */
	s_case_how(20000, 300, 300, 0, 0, 0, 1);
	assert_true(s_case_how(30000, 6000, 6000, 0, 1, 4000, 1).rounds > 2);
	/* Unless the opening is cut from as many as the outage holds (the
	 * node's count of what the peer may lack, and a quarter more:
	 * reconcile.c): 10,000 of a's newest are new or in the outage's span. */
	assert_int_equal(s_case_how(30000, 6000, 6000, 0, 1, 4000, 12564).rounds, 2);
}

static void
test_scattered_differences(void **state)
{
	(void)state;
	result_t r = s_case(50000, 100, 100, 0);
	/* well under 1 KiB per difference */
	assert_true(r.bytes / 200 < 1024);
}

static void
test_malformed_messages_refused(void **state)
{
	side_t a = {0};
	recon_src_t sa = {&a.set, s_fp, s_items, s_split, s_has, NULL};
	recon_sink_t ka = {&a, s_push_ids, s_push_range, s_want, NULL};
	recon_t *r = recon_new(&sa, &ka);
	uint8_t out[4096], good[64];
	size_t outlen, len;
	int done;
	uint8_t bad_version[] = {9, 0, 1};
	uint8_t not_to_inf[] = {1, 5, 0, 0};             /* ends at ts 4, not infinity */
	uint8_t bad_mode[] = {1, 0, 7};                  /* unknown mode */
	uint8_t short_fp[] = {1, 0, 1, 3, 1, 2};         /* fingerprint cut short */
	uint8_t ids_overrun[] = {1, 0, 2, 100, 1, 2, 3}; /* 100 ids announced, 3 bytes */
	uint8_t decreasing[] = {1, 9, 0, 0, 1,
	                        0, 0, 0, 0}; /* second bound == first (not increasing) */

	a.peer = &a;
	assert_int_equal(
	    recon_process(r, bad_version, sizeof(bad_version), out, sizeof(out), &outlen, &done),
	    CPT_EVERSION);
	assert_int_equal(
	    recon_process(r, not_to_inf, sizeof(not_to_inf), out, sizeof(out), &outlen, &done),
	    CPT_EINVAL);
	assert_int_equal(
	    recon_process(r, bad_mode, sizeof(bad_mode), out, sizeof(out), &outlen, &done),
	    CPT_EINVAL);
	assert_int_equal(
	    recon_process(r, short_fp, sizeof(short_fp), out, sizeof(out), &outlen, &done),
	    CPT_EINVAL);
	assert_int_equal(
	    recon_process(r, ids_overrun, sizeof(ids_overrun), out, sizeof(out), &outlen, &done),
	    CPT_EINVAL);
	assert_int_equal(
	    recon_process(r, decreasing, sizeof(decreasing), out, sizeof(out), &outlen, &done),
	    CPT_EINVAL);
	assert_int_equal(recon_process(r, NULL, 0, out, sizeof(out), &outlen, &done), CPT_EVERSION);
	/* and a valid one still works afterwards */
	assert_int_equal(recon_start(r, good, sizeof(good), &len), 0);
	assert_int_equal(recon_process(r, good, len, out, sizeof(out), &outlen, &done), 0);
	assert_true(done);
	recon_destroy(&r);
	s_free(&a);
}

static void
test_truncated_messages_never_crash(void **state)
{
	side_t a = {0}, b = {0};
	uint8_t k[RECON_KEY_LEN], msg[65536], out[1 << 16];
	size_t len, outlen;
	int done;
	recon_src_t sa = {&a.set, s_fp, s_items, s_split, s_has, NULL};
	recon_sink_t ka = {&a, s_push_ids, s_push_range, s_want, NULL};
	recon_t *ra, *rb;
	recon_src_t sb = {&b.set, s_fp, s_items, s_split, s_has, NULL};
	recon_sink_t kb = {&b, s_push_ids, s_push_range, s_want, NULL};

	(void)state;
	for (int i = 0; i < 500; i++) {
		s_key(k, 1000 + (uint64_t)i);
		s_add(&a.set, k);
	}
	s_sort(&a.set);
	a.peer = &b;
	b.peer = &a;
	ra = recon_new(&sa, &ka);
	rb = recon_new(&sb, &kb);
	assert_int_equal(recon_start(ra, msg, sizeof(msg), &len), 0);
	/* Every prefix of a valid message is either refused or answered. */
	for (size_t cut = 0; cut < len; cut++) {
		int rc = recon_process(rb, msg, cut, out, sizeof(out), &outlen, &done);
		assert_true(rc == CPT_EINVAL || rc == CPT_EVERSION || rc == 0);
		a.outbox.n = a.wanted.n = b.outbox.n = b.wanted.n = 0;
	}
	recon_destroy(&ra);
	recon_destroy(&rb);
	s_free(&a);
	s_free(&b);
}

/* The id sum is arithmetic mod 2^256 on little-endian numbers (PROTOCOL.md
 * 10.3): checked against a byte-by-byte reference, carries across every
 * limb, and wrap-around both ways. */
static void
s_ref_add(uint8_t sum[32], const uint8_t id[32], int sub)
{
	int carry = 0;
	for (int i = 0; i < 32; i++) {
		int v = sub ? (int)sum[i] - id[i] - carry : (int)sum[i] + id[i] + carry;
		carry = sub ? v < 0 : v > 255;
		sum[i] = (uint8_t)(v & 0xff);
	}
}

static void
test_sum_arithmetic(void **state)
{
	uint8_t a[32], b[32], r[32], one[32] = {1}, ff[32], zero[32] = {0};

	(void)state;
	for (int t = 0; t < 20000; t++) {
		randombytes_buf(a, 32);
		randombytes_buf(b, 32);
		if (t % 3 == 0) /* long carry chains */
			memset(a + (t % 32), 0xff, 32 - (t % 32));
		for (int sub = 0; sub < 2; sub++) {
			memcpy(r, a, 32);
			s_ref_add(r, b, sub);
			{
				uint8_t got[32];
				memcpy(got, a, 32);
				if (sub)
					recon_sum_sub(got, b);
				else
					recon_sum_add(got, b);
				assert_memory_equal(got, r, 32);
			}
		}
	}
	memset(ff, 0xff, 32);
	memcpy(r, ff, 32);
	recon_sum_add(r, one);
	assert_memory_equal(r, zero, 32); /* 2^256 - 1 + 1 wraps to 0 */
	recon_sum_sub(r, one);
	assert_memory_equal(r, ff, 32); /* 0 - 1 wraps to 2^256 - 1 */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sum_arithmetic),
	    cmocka_unit_test(test_identical_sets_one_round_trip),
	    cmocka_unit_test(test_empty_against_full),
	    cmocka_unit_test(test_random_property),
	    cmocka_unit_test(test_outage_clustered_newest),
	    cmocka_unit_test(test_outage_both_sides_interleaved),
	    cmocka_unit_test(test_outage_tail_listed),
	    cmocka_unit_test(test_outage_heal_in_one_round_trip),
	    cmocka_unit_test(test_scattered_differences),
	    cmocka_unit_test(test_malformed_messages_refused),
	    cmocka_unit_test(test_truncated_messages_never_crash),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
