/*
 * The queue of ranges a peer lacks (sync/flow.c), alone: a store of keys in
 * memory answers the engine's questions, and the two calls that reach the
 * network (link_send, link_up) are this file's, so that what would be sent
 * is counted. Whole engines over CURVE are tests/unit/test_blobsync.c's and
 * tests/integration's; this is the arithmetic of the queue at its limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sync/sync_internal.h"

#define KEYS 5000 /* (ts, id) keys in the store, ts = 10 * i */

static uint8_t g_keys[KEYS][SYNC_TSID_LEN];
static size_t g_sent[KEYS]; /* times each key's event was sent */
static size_t g_msgs;       /* EVENTS messages sent */
static size_t g_reads;      /* calls of get_many: reads of envelopes from the store */
static size_t g_link_events[SYNC_MAX_PEERS]; /* envelopes sent to each link of the engine */
static size_t g_link_msgs[SYNC_MAX_PEERS];   /* EVENTS messages sent to each */
static size_t g_sizes[64];                   /* envelopes in each of the first 64 */

static void
s_key(uint8_t out[SYNC_TSID_LEN], uint64_t ts)
{
	memset(out, 0, SYNC_TSID_LEN);
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(ts >> (56 - 8 * i));
	/* The id names the key's index, for the counting below. */
	memcpy(out + 8, &ts, sizeof(ts));
}

static long
s_index_of_id(const uint8_t *id)
{
	uint64_t ts;
	memcpy(&ts, id, sizeof(ts));
	return ts % 10 == 0 && ts / 10 < KEYS ? (long)(ts / 10) : -1;
}

/* The first key >= k. */
static size_t
s_lower(const uint8_t *k)
{
	size_t lo = 0, hi = KEYS;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (memcmp(g_keys[mid], k, SYNC_TSID_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
s_has(void *ctx, const uint8_t id[CPT_ID_LEN])
{
	(void)ctx;
	return s_index_of_id(id) >= 0;
}

static void
s_get_many(void *ctx, const uint8_t (*ids)[CPT_ID_LEN], size_t n, uint8_t **out, size_t *len)
{
	(void)ctx;
	g_reads++;
	for (size_t i = 0; i < n; i++) {
		/* Envelopes with a body (longer than the fixed part). */
		len[i] = EVT_FIXED_LEN + 40;
		out[i] = calloc(1, len[i]);
		assert_non_null(out[i]);
		memcpy(out[i], ids[i], CPT_ID_LEN);
	}
}

static size_t
s_scan(void *ctx, const uint8_t *after, uint8_t (*out)[SYNC_TSID_LEN], size_t max)
{
	size_t i = after ? s_lower(after) : 0, n = 0;
	(void)ctx;
	if (after && i < KEYS && memcmp(g_keys[i], after, SYNC_TSID_LEN) == 0)
		i++;
	for (; i < KEYS && n < max; i++)
		memcpy(out[n++], g_keys[i], SYNC_TSID_LEN);
	return n;
}

static void
s_fingerprint(void *ctx, const uint8_t *lo, const uint8_t *hi, uint64_t *count, uint8_t fp[16])
{
	(void)ctx;
	*count = s_lower(hi) - s_lower(lo);
	memset(fp, 0, 16);
}

int
link_up(const link_t *l)
{
	(void)l;
	return 1;
}

int
link_send(sync_t *s, link_t *l, int type, const void *const *frames, const size_t *lens, size_t n)
{
	(void)lens;
	if (type != SYNC_EVENTS)
		return 0;
	if (g_msgs < 64)
		g_sizes[g_msgs] = n;
	g_msgs++;
	if (l >= s->links && l < s->links + SYNC_MAX_PEERS) {
		g_link_events[l - s->links] += n;
		g_link_msgs[l - s->links]++;
	}
	for (size_t i = 0; i < n; i++) {
		long k = s_index_of_id(frames[i]);
		assert_true(k >= 0);
		g_sent[k]++;
	}
	return 0;
}

static sync_t *
s_engine(void)
{
	sync_t *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	pthread_mutex_init(&s->lock, NULL);
	s->send_cap = 64 << 20;
	s->conf.ops.has = s_has;
	s->conf.ops.get_many = s_get_many;
	s->conf.ops.scan = s_scan;
	s->conf.ops.fingerprint = s_fingerprint;
	for (size_t i = 0; i < KEYS; i++)
		s_key(g_keys[i], 10 * i);
	memset(g_sent, 0, sizeof(g_sent));
	g_msgs = 0;
	g_reads = 0;
	memset(g_link_events, 0, sizeof(g_link_events));
	memset(g_link_msgs, 0, sizeof(g_link_msgs));
	return s;
}

static void
s_engine_free(sync_t *s, link_t *l)
{
	flow_reset(s, l);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Serves until the queue is empty, acknowledging each message. */
static void
s_drain(sync_t *s, link_t *l)
{
	static const uint8_t ack[16];
	for (int round = 0; round < 10000 && (l->n_ranges || l->wantq || l->inflight); round++) {
		flow_serve(s, l);
		while (l->inflight > 0)
			flow_on_ack(s, l, ack, 0);
	}
}

/* Queues the range of keys [a, b) (indexes). */
static void
s_add(sync_t *s, link_t *l, size_t a, size_t b)
{
	uint8_t lo[SYNC_TSID_LEN], hi[SYNC_TSID_LEN];
	s_key(lo, 10 * a);
	s_key(hi, 10 * b);
	flow_ranges_add(s, l, lo, hi);
}

/* A heal finds a few hundred small ranges: all are kept (64 were, and the
 * rest waited for the next periodic reconciliation, a minute), and they go
 * out in few messages, not one each (a round trip each). */
static void
test_many_small_ranges_kept_and_batched(void **state)
{
	sync_t *s = s_engine();
	link_t l;
	size_t n = 0;

	(void)state;
	memset(&l, 0, sizeof(l));
	/* 300 ranges of 3 events, with gaps of 7 the peer holds. */
	for (size_t r = 0; r < 300; r++)
		s_add(s, &l, 10 * r, 10 * r + 3);
	assert_int_equal(l.n_ranges, 300);
	s_drain(s, &l);
	for (size_t i = 0; i < KEYS; i++) {
		int in = i < 3000 && i % 10 < 3;
		assert_int_equal(g_sent[i], in ? 1 : 0);
		n += g_sent[i];
	}
	assert_int_equal(n, 900);
	/* 900 events fit one message of BATCH_EVENTS. */
	assert_true(g_msgs <= 2);
	s_engine_free(s, &l);
}

/* Past RANGES_MAX, a range is not dropped: the last one stretches to take
 * it in, so every event still goes (a few the peer holds go with them). */
static void
test_ranges_past_the_limit_stretch(void **state)
{
	sync_t *s = s_engine();
	link_t l;
	const size_t ranges = RANGES_MAX + 200;

	(void)state;
	assert_true(ranges <= KEYS);
	memset(&l, 0, sizeof(l));
	/* Keys are 10 apart in ts: ranges of one key each, [10 i, 10 i + 1). */
	for (size_t r = 0; r < ranges; r++) {
		uint8_t lo[SYNC_TSID_LEN], hi[SYNC_TSID_LEN];
		s_key(lo, 10 * r);
		s_key(hi, 10 * r + 1);
		flow_ranges_add(s, &l, lo, hi);
	}
	assert_int_equal(l.n_ranges, RANGES_MAX);
	s_drain(s, &l);
	for (size_t i = 0; i < ranges; i++)
		assert_int_equal(g_sent[i], 1);
	for (size_t i = ranges; i < KEYS; i++)
		assert_int_equal(g_sent[i], 0);
	s_engine_free(s, &l);
}

/* A range queued again, whole or in part, is not sent twice. */
static void
test_overlap_not_queued_twice(void **state)
{
	sync_t *s = s_engine();
	link_t l;

	(void)state;
	memset(&l, 0, sizeof(l));
	s_add(s, &l, 100, 200);
	s_add(s, &l, 120, 180); /* inside */
	s_add(s, &l, 150, 250); /* overlaps the end */
	s_drain(s, &l);
	for (size_t i = 0; i < KEYS; i++)
		assert_int_equal(g_sent[i], i >= 100 && i < 250 ? 1 : 0);
	s_engine_free(s, &l);
}

/* A region's hub relays each batch it stores to its ten branches (and a
 * node announces its own events to every peer): one read of the batch from
 * the store serves every link, not one read per link on the engine thread.
 * Each other link gets each event once, in one message; the sender none. */
static void
test_relay_reads_once_for_every_link(void **state)
{
	sync_t *s = s_engine();
	uint8_t(*ids)[CPT_ID_LEN] = malloc(1000 * CPT_ID_LEN);
	const int links = 11; /* the link it came from and ten others */

	(void)state;
	assert_non_null(ids);
	for (size_t i = 0; i < 1000; i++)
		memcpy(ids[i], g_keys[i] + 8, CPT_ID_LEN);
	for (int i = 0; i < links; i++)
		s->links[i].used = 1;
	s->n_links = links;
	flow_relay(s, &s->links[0], (const uint8_t(*)[CPT_ID_LEN])ids, 1000);
	assert_int_equal(g_reads, 1);
	assert_int_equal(g_link_events[0], 0);
	for (int i = 1; i < links; i++) {
		assert_int_equal(g_link_events[i], 1000);
		assert_int_equal(g_link_msgs[i], 1);
		assert_int_equal(s->links[i].inflight, 1); /* counted in its window */
		assert_int_equal(s->links[i].st.sent, 1000);
	}
	for (size_t i = 0; i < 1000; i++)
		assert_int_equal(g_sent[i], links - 1);
	/* Announced (no link to leave out): every link, still one read. */
	g_reads = 0;
	flow_relay(s, NULL, (const uint8_t(*)[CPT_ID_LEN])ids, 10);
	assert_int_equal(g_reads, 1);
	assert_int_equal(g_link_events[0], 10);
	/* Nobody to relay to: no read at all. */
	g_reads = 0;
	for (int i = 1; i < links; i++)
		s->links[i].used = 0;
	flow_relay(s, &s->links[0], (const uint8_t(*)[CPT_ID_LEN])ids, 1000);
	assert_int_equal(g_reads, 0);
	free(ids);
	for (int i = 0; i < links; i++)
		flow_reset(s, &s->links[i]);
	s_engine_free(s, &s->links[0]);
}

/* The ids a reconciliation message pushes and the ranges it finds go out in
 * one EVENTS message when they fit: two messages were two batches at the
 * peer, verified and committed (an fsync each) one after the other. */
static void
test_ids_and_ranges_share_a_message(void **state)
{
	sync_t *s = s_engine();
	link_t l;
	uint8_t(*ids)[CPT_ID_LEN] = malloc(600 * CPT_ID_LEN);

	(void)state;
	assert_non_null(ids);
	memset(&l, 0, sizeof(l));
	for (size_t i = 0; i < 600; i++)
		memcpy(ids[i], g_keys[i] + 8, CPT_ID_LEN);
	flow_want(s, &l, (const uint8_t *)ids, 600);
	for (size_t r = 0; r < 100; r++)
		s_add(s, &l, 1000 + 10 * r, 1000 + 10 * r + 3);
	flow_serve(s, &l);
	assert_int_equal(g_msgs, 1);
	for (size_t i = 0; i < KEYS; i++)
		assert_int_equal(g_sent[i], i < 600 || (i >= 1000 && i < 2000 && i % 10 < 3));
	free(ids);
	s_engine_free(s, &l);
}

/* 1,003 ids asked: the 3 that do not fill a message go first, so that the
 * peer verifies and commits them while it verifies the 1,000 (sent last,
 * they were a second commit after the first, on the way to the union). */
static void
test_partial_message_first(void **state)
{
	sync_t *s = s_engine();
	link_t l;
	uint8_t(*ids)[CPT_ID_LEN] = malloc(1003 * CPT_ID_LEN);

	(void)state;
	assert_non_null(ids);
	memset(&l, 0, sizeof(l));
	for (size_t i = 0; i < 1003; i++)
		memcpy(ids[i], g_keys[i] + 8, CPT_ID_LEN);
	flow_want(s, &l, (const uint8_t *)ids, 1003);
	flow_serve(s, &l);
	assert_int_equal(g_msgs, 2);
	assert_int_equal(g_sizes[0], 3);
	assert_int_equal(g_sizes[1], BATCH_EVENTS);
	for (size_t i = 0; i < KEYS; i++)
		assert_int_equal(g_sent[i], i < 1003);
	free(ids);
	s_engine_free(s, &l);
}

/* Ids a reconciliation message pushes, with no range besides, are work the
 * engine's loop sees (flow_ready): they go out in the round that found them,
 * not at the next ACK or timer. */
static void
test_pushed_ids_are_ready(void **state)
{
	sync_t *s = s_engine();
	link_t l;
	uint8_t(*ids)[CPT_ID_LEN] = malloc(1003 * CPT_ID_LEN);

	(void)state;
	assert_non_null(ids);
	memset(&l, 0, sizeof(l));
	assert_false(flow_ready(&l));
	for (size_t i = 0; i < 1003; i++)
		memcpy(ids[i], g_keys[i] + 8, CPT_ID_LEN);
	flow_want(s, &l, (const uint8_t *)ids, 1003);
	assert_true(flow_ready(&l));
	flow_serve(s, &l);
	assert_false(flow_ready(&l)); /* all sent */
	assert_int_equal(g_msgs, 2);
	/* A full window holds them back until an ACK. */
	l.inflight = 12;
	flow_want(s, &l, (const uint8_t *)ids, 5);
	assert_false(flow_ready(&l));
	l.inflight = 0;
	assert_true(flow_ready(&l));
	free(ids);
	s_engine_free(s, &l);
}

/* Live events relayed one by one and not acknowledged yet (a busy peer
 * commits in seconds) leave the window to the ranges a reconciliation found:
 * each counted as much as a batch of 1,000, twelve of them stopped the
 * streaming until their ACKs came back. Their ACKs (one envelope each) close
 * what they opened, not the window. */
static void
test_live_relays_leave_the_window(void **state)
{
	sync_t *s = s_engine();
	link_t *l = &s->links[1];
	uint8_t ack1[16] = {0};

	(void)state;
	s->links[0].used = s->links[1].used = 1;
	s->n_links = 2;
	for (size_t i = 0; i < 30; i++)
		flow_relay(s, &s->links[0], (const uint8_t(*)[CPT_ID_LEN])(g_keys[4000 + i] + 8),
		           1);
	assert_int_equal(g_link_msgs[1], 30);
	/* A reconciliation finds 3,000 events missing: streamed at once, and
	 * on as each batch is acknowledged (their ACKs say 1,000 each). */
	s_add(s, l, 0, 3000);
	flow_serve(s, l);
	assert_true(g_link_msgs[1] > 30);
	assert_true(l->inflight >= 1);
	for (int round = 0; round < 100 && (l->inflight || l->n_ranges); round++) {
		uint8_t ackb[16] = {0};
		ackb[2] = 1000 >> 8;
		ackb[3] = 1000 & 0xff;
		flow_on_ack(s, l, ackb, sync_now_ms());
	}
	for (size_t i = 0; i < 3000; i++)
		assert_int_equal(g_sent[i], 1);
	/* The relays (and the odd envelope of the ranges that went first,
	 * alone) are still unacknowledged: their ACKs close what they opened. */
	assert_int_equal(l->inflight, 0);
	assert_true(l->inflight_small >= 30);
	ack1[3] = 1; /* stored: 1 */
	for (int i = l->inflight_small; i > 0; i--)
		flow_on_ack(s, l, ack1, sync_now_ms());
	assert_int_equal(l->inflight_small, 0);
	assert_int_equal(l->inflight, 0);
	flow_reset(s, &s->links[0]);
	s_engine_free(s, l);
}

/*
 * A hub relays each batch of its catch-up to a branch slower than itself:
 * past the window, the relays wait as ids in the link's queue and go as the
 * branch acknowledges, each event once. Before, every relay went at once:
 * twelve batches and more unacknowledged per branch, held in ZeroMQ's
 * queues at the hub (tens of MB at a region's hub, issue 24), and more than
 * the branch reads of one link before it stops reading it, so a live relay
 * behind them waited for the whole of them.
 */
static void
test_catch_up_relays_keep_the_window(void **state)
{
	sync_t *s = s_engine();
	link_t *l = &s->links[1];
	uint8_t ack[16] = {0}, ack1[16] = {0};
	const size_t batches = 10, per = KEYS / 10; /* events per batch relayed */

	(void)state;
	s->links[0].used = s->links[1].used = 1;
	s->n_links = 2;
	for (size_t b = 0; b < batches; b++) {
		uint8_t(*ids)[CPT_ID_LEN] = malloc(per * CPT_ID_LEN);
		assert_non_null(ids);
		for (size_t i = 0; i < per; i++)
			memcpy(ids[i], g_keys[b * per + i] + 8, CPT_ID_LEN);
		flow_relay(s, &s->links[0], (const uint8_t(*)[CPT_ID_LEN])ids, per);
		free(ids);
	}
	/* Four batches out, the other six waiting as ids. */
	assert_true(l->inflight <= 4);
	assert_true(g_link_msgs[1] <= 4);
	assert_int_equal(l->wq_len - l->wq_head, (batches - g_link_msgs[1]) * per);
	/* A live relay (one event) still goes at once, outside the window. */
	flow_relay(s, &s->links[0], (const uint8_t(*)[CPT_ID_LEN])(g_keys[0] + 8), 1);
	assert_int_equal(l->inflight_small, 1);
	/* As the branch acknowledges, the rest go, each event once (and the
	 * queued ones merge into messages of up to 1,000). */
	ack[2] = 1000 >> 8;
	ack[3] = 1000 & 0xff;
	for (int round = 0; round < 100 && l->inflight; round++)
		flow_on_ack(s, l, ack, sync_now_ms());
	assert_null(l->wantq);
	for (size_t i = 1; i < KEYS; i++)
		assert_int_equal(g_sent[i], 1);
	assert_int_equal(g_sent[0], 2); /* its batch, and the live relay */
	ack1[3] = 1;
	flow_on_ack(s, l, ack1, sync_now_ms());
	assert_int_equal(l->inflight_small, 0);
	flow_reset(s, &s->links[0]);
	s_engine_free(s, l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_many_small_ranges_kept_and_batched),
	    cmocka_unit_test(test_ranges_past_the_limit_stretch),
	    cmocka_unit_test(test_overlap_not_queued_twice),
	    cmocka_unit_test(test_relay_reads_once_for_every_link),
	    cmocka_unit_test(test_ids_and_ranges_share_a_message),
	    cmocka_unit_test(test_partial_message_first),
	    cmocka_unit_test(test_live_relays_leave_the_window),
	    cmocka_unit_test(test_catch_up_relays_keep_the_window),
	    cmocka_unit_test(test_pushed_ids_are_ready),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
