/*
 * Blob replication between real sync engines (sync/blob.c, PROTOCOL.md
 * 18.6) in one process: real ZeroMQ over CURVE on loopback, real blob
 * stores on disk (node/blob); what each site wants is a set the test holds
 * (the node derives it from the events: tests/integration/test_files_sync.py
 * runs the whole node). Transfer with identical bytes, resume from a partial
 * file, damage on disk found when serving, a blob not wanted never served,
 * and a peer sending a chunk that does not match banned.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "node/blob/blob.h"
#include "sync/sync.h"

#define SITES 3
#define WANTS 16

/* One site: its engine, its blob store, what it wants. */
typedef struct site {
	char name[16];
	uint8_t sign[32];         /* its site key (an identifier here) */
	key_curve_t *curve;       /* its transport key */
	blob_store_t *bs;         /* its blobs */
	char dir[64];             /* where */
	sync_t *s;                /* its engine */
	pthread_mutex_t lock;     /* guards wants (the engine thread reads them) */
	uint8_t wants[WANTS][32]; /* blobs it wants */
	int n_wants;
	int corrupt; /* hostile: flips a byte of every chunk it serves */
} site_t;

static site_t s_sites[SITES];

/* An empty store's event ops and the sites by key, over s_sites. */
#include "tests/unit/sync_sites.h"

/* ------------------------ events: none (the other ops: sync_sites.h) */

static int
s_put(void *ctx, sync_put_t *job)
{
	for (size_t i = 0; i < job->n; i++) {
		job->rc[i] = CPT_EEXIST;
		memset(job->ids[i], 0, CPT_ID_LEN);
	}
	job->err = 0;
	sync_put_done(job);
	return 0;
}

/* ------------------------------------------------------------- blobs */

static int
s_wanted(void *ctx, const uint8_t id[32])
{
	site_t *st = ctx;
	int yes = 0;

	pthread_mutex_lock(&st->lock);
	for (int i = 0; i < st->n_wants; i++)
		yes |= memcmp(st->wants[i], id, 32) == 0;
	pthread_mutex_unlock(&st->lock);
	return yes;
}

static size_t
s_next_missing(void *ctx, sync_blob_want_t *out, size_t max)
{
	site_t *st = ctx;
	size_t n = 0;

	pthread_mutex_lock(&st->lock);
	for (int i = 0; i < st->n_wants && n < max; i++)
		if (!blob_has(st->bs, st->wants[i], NULL)) {
			memcpy(out[n].id, st->wants[i], 32);
			out[n].size = 0;
			out[n].prio = 3;
			n++;
		}
	pthread_mutex_unlock(&st->lock);
	return n;
}

static int
s_manifest(void *ctx, const uint8_t id[32], uint8_t **m, uint64_t *size, size_t *mlen)
{
	site_t *st = ctx;
	int rc = blob_manifest(st->bs, id, m, size, mlen);

	if (rc == 0 && st->corrupt == 2)
		(*m)[*mlen - 1] ^= 1; /* a hostile peer: a manifest that is not the id's */
	return rc;
}

static int
s_read_chunk(void *ctx, const uint8_t id[32], uint32_t index, uint8_t *buf, size_t *len)
{
	site_t *st = ctx;
	int rc = blob_read_chunk(st->bs, id, index, buf, len);

	if (rc == 0 && st->corrupt == 1)
		buf[*len / 2] ^= 1; /* a hostile peer: the bytes do not match */
	return rc;
}

static int
s_part_open(void *ctx, const uint8_t id[32], uint64_t size, const uint8_t *m, size_t mlen,
            uint8_t *held)
{
	return blob_part_open(((site_t *)ctx)->bs, id, size, m, mlen, held);
}

static int
s_part_write(void *ctx, const uint8_t id[32], uint32_t index, const uint8_t *d, size_t len)
{
	return blob_part_write(((site_t *)ctx)->bs, id, index, d, len);
}

static int
s_part_finish(void *ctx, const uint8_t id[32])
{
	return blob_part_finish(((site_t *)ctx)->bs, id);
}

/* ------------------------------------------------------------ helpers */

static void
s_want(site_t *st, const uint8_t id[32])
{
	pthread_mutex_lock(&st->lock);
	memcpy(st->wants[st->n_wants++], id, 32);
	pthread_mutex_unlock(&st->lock);
	sync_blob_kick(st->s);
}

/* Starts site i, listening on loopback; dials site peer (-1: none). */
static void
s_start(int i, int peer)
{
	site_t *st = &s_sites[i];
	sync_conf_t c;
	sync_peer_conf_t pc;
	char err[256];

	s_conf(&c, st, s_put);
	c.blob =
	    (sync_blob_ops_t){st,          s_wanted,     s_next_missing, s_manifest, s_read_chunk,
	                      s_part_open, s_part_write, s_part_finish,  NULL};
	if (peer >= 0) {
		snprintf(pc.endpoint, sizeof(pc.endpoint), "tcp://127.0.0.1:%u",
		         sync_port(s_sites[peer].s));
		memcpy(pc.site_key, s_sites[peer].sign, 32);
	}
	st->s = sync_start(&c, &pc, peer >= 0 ? 1 : 0, err, sizeof(err));
	if (st->s == NULL)
		fail_msg("sync_start: %s", err);
}

static void
s_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Waits (up to 60 s, in steps) for site i to hold the blob. */
static int
s_wait_has(int i, const uint8_t id[32])
{
	for (int k = 0; k < 3000; k++) {
		if (blob_has(s_sites[i].bs, id, NULL))
			return 1;
		s_sleep_ms(20);
	}
	return 0;
}

/* Waits (up to 10 s) for site i to count n blobs fetched: the count
 * follows the rename that makes the blob held. */
static void
s_wait_fetched(int i, uint64_t n)
{
	sync_blob_status_t bs;

	for (int k = 0; k < 500; k++) {
		sync_blob_status(s_sites[i].s, &bs);
		if (bs.fetched >= n)
			return;
		s_sleep_ms(20);
	}
}

/* The status of site j as site i sees it. */
static int
s_peer(int i, int j, sync_peer_status_t *out)
{
	sync_peer_status_t st[SYNC_MAX_PEERS];
	size_t n = sync_status(s_sites[i].s, st, SYNC_MAX_PEERS);

	for (size_t k = 0; k < n; k++)
		if (memcmp(st[k].site_key, s_sites[j].sign, 32) == 0) {
			*out = st[k];
			return 1;
		}
	return 0;
}

static uint8_t *
s_bytes(size_t len, uint8_t seed)
{
	uint8_t *b = malloc(len);
	assert_non_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 31 + seed + (i >> 11));
	return b;
}

static void
s_store(site_t *st, const uint8_t *b, size_t len, uint8_t id[32])
{
	blob_put_t *p;

	assert_int_equal(blob_put_begin(st->bs, &p, len), 0);
	assert_int_equal(blob_put_write(p, b, len), 0);
	assert_int_equal(blob_put_commit(&p, id, NULL), 0);
}

/* Every chunk of the blob at site i equals b. */
static void
s_same(int i, const uint8_t id[32], const uint8_t *b, size_t len)
{
	uint8_t *buf = malloc(BLOB_CHUNK);
	size_t got;

	for (uint32_t k = 0; k < sync_blob_nchunks(len); k++) {
		assert_int_equal(blob_read_chunk(s_sites[i].bs, id, k, buf, &got), 0);
		assert_int_equal(got, sync_blob_chunk_len(len, k));
		assert_memory_equal(buf, b + (size_t)k * BLOB_CHUNK, got);
	}
	free(buf);
}

static int
s_setup(void **state)
{
	const char *names[SITES] = {"nantes", "lyon", "hostile"};

	for (int i = 0; i < SITES; i++) {
		site_t *st = &s_sites[i];
		memset(st, 0, sizeof(*st));
		snprintf(st->name, sizeof(st->name), "%s", names[i]);
		randombytes_buf(st->sign, 32);
		assert_non_null(st->curve = key_curve_new());
		snprintf(st->dir, sizeof(st->dir), "/tmp/test_blobsync.XXXXXX");
		assert_non_null(mkdtemp(st->dir));
		assert_int_equal(blob_store_open(&st->bs, st->dir), 0);
		pthread_mutex_init(&st->lock, NULL);
	}
	return 0;
}

static int
s_teardown(void **state)
{
	for (int i = 0; i < SITES; i++) {
		site_t *st = &s_sites[i];
		char cmd[128];
		sync_stop(&st->s);
		blob_store_close(&st->bs);
		key_curve_destroy(&st->curve);
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", st->dir);
		assert_int_equal(system(cmd), 0);
		pthread_mutex_destroy(&st->lock);
	}
	return 0;
}

/* ------------------------------------------------------------- tests */

/*
 * Nantes holds blobs, Lyon dials it. A blob both want arrives whole and
 * identical, once (bytes counted); one Lyon already has half of in a
 * partial file arrives with only the other half fetched; one Nantes does not
 * want (erased there) is never served; one damaged on Nantes's disk is found
 * when served and not passed on.
 */
static void
test_transfer(void **state)
{
	size_t len = 3 * BLOB_CHUNK + 12345, len2 = 8 * BLOB_CHUNK;
	uint8_t *b = s_bytes(len, 1), *b2 = s_bytes(len2, 2), *b3 = s_bytes(1000, 3);
	uint8_t *b4 = s_bytes(2 * BLOB_CHUNK, 4);
	uint8_t id[32], id2[32], id3[32], id4[32], held[8];
	uint8_t *man = NULL;
	uint64_t size;
	size_t mlen;
	sync_blob_status_t bs;
	sync_peer_status_t ps;
	char path[4200];
	FILE *fp;

	s_store(&s_sites[0], b, len, id);
	s_store(&s_sites[0], b2, len2, id2);
	s_store(&s_sites[0], b3, 1000, id3);
	s_store(&s_sites[0], b4, 2 * BLOB_CHUNK, id4);
	s_want(&s_sites[0], id); /* not kicked: the engine is not there yet */
	s_sites[0].n_wants = 0;
	s_start(0, -1);
	s_want(&s_sites[0], id);
	s_want(&s_sites[0], id2);
	s_want(&s_sites[0], id4);
	s_start(1, 0);

	/* 1. A whole blob, identical, each byte fetched once. */
	s_want(&s_sites[1], id);
	assert_true(s_wait_has(1, id));
	s_same(1, id, b, len);
	s_wait_fetched(1, 1);
	sync_blob_status(s_sites[1].s, &bs);
	assert_int_equal(bs.bytes_in, len);
	assert_int_equal(bs.fetched, 1);
	assert_true(s_peer(1, 0, &ps));
	assert_int_equal(ps.blob_bytes_in, len);
	assert_int_equal(ps.blob_version, 1);
	assert_true(s_peer(0, 1, &ps));
	assert_int_equal(ps.blob_bytes_out, len);

	/* 2. Resume: half of blob 2 is already in a partial file at Lyon. */
	assert_int_equal(blob_manifest(s_sites[0].bs, id2, &man, &size, &mlen), 0);
	assert_int_equal(blob_part_open(s_sites[1].bs, id2, size, man, mlen, held), 0);
	for (uint32_t k = 0; k < 4; k++)
		assert_int_equal(
		    blob_part_write(s_sites[1].bs, id2, k, b2 + (size_t)k * BLOB_CHUNK, BLOB_CHUNK),
		    0);
	free(man);
	s_want(&s_sites[1], id2);
	assert_true(s_wait_has(1, id2));
	s_same(1, id2, b2, len2);
	s_wait_fetched(1, 2);
	sync_blob_status(s_sites[1].s, &bs);
	assert_int_equal(bs.fetched, 2);
	assert_int_equal(bs.bytes_in, len + len2 / 2);
	assert_int_equal(bs.resumed_bytes, len2 / 2);

	/* 3. Not wanted at Nantes (erased there): never served. */
	s_want(&s_sites[1], id3);
	for (int k = 0; k < 100; k++) {
		sync_blob_status(s_sites[1].s, &bs);
		if (bs.unreachable == 1)
			break;
		s_sleep_ms(20);
	}
	/* Lyon waits for it from no one, and does not hold it. */
	assert_int_equal(bs.unreachable, 1);
	s_sleep_ms(300);
	assert_false(blob_has(s_sites[1].bs, id3, NULL));
	assert_true(s_peer(0, 1, &ps));
	assert_int_equal(ps.blob_bytes_out, len + len2 / 2);

	/* 4. Damaged on Nantes's disk: found when served, moved aside, counted. */
	assert_int_equal(blob_path(s_sites[0].bs, id4, path, sizeof(path)), 0);
	assert_non_null(fp = fopen(path, "r+b"));
	fseek(fp, BLOB_CHUNK + 99, SEEK_SET);
	fputc(b4[BLOB_CHUNK + 99] ^ 0x80, fp);
	fclose(fp);
	s_want(&s_sites[1], id4);
	for (int k = 0; k < 1000; k++) {
		sync_blob_status(s_sites[0].s, &bs);
		if (bs.damaged >= 1)
			break;
		s_sleep_ms(20);
	}
	assert_int_equal(bs.damaged, 1);
	assert_false(blob_has(s_sites[0].bs, id4, NULL));
	assert_false(blob_has(s_sites[1].bs, id4, NULL));
	/* Nantes wants it again: it is now one it fetches (from no one here). */
	for (int k = 0; k < 200; k++) {
		sync_blob_status(s_sites[0].s, &bs);
		if (bs.fetching >= 1)
			break;
		s_sleep_ms(20);
	}
	assert_int_equal(bs.fetching, 1);
	free(b);
	free(b2);
	free(b3);
	free(b4);
}

/*
 * A hostile site (certified: admitted) holds the blob Lyon wants and sends
 * its chunks with a byte changed: Lyon bans it at the first chunk and writes
 * nothing of it; a good site holding the same blob then completes it.
 */
static void
test_hostile_chunk(void **state)
{
	size_t len = 4 * BLOB_CHUNK;
	uint8_t *b = s_bytes(len, 9), id[32];
	sync_peer_status_t ps;
	sync_blob_status_t bs;
	int banned = 0;

	s_store(&s_sites[2], b, len, id);
	s_sites[2].corrupt = 1;
	s_want(&s_sites[2], id);
	s_start(2, -1);
	s_start(1, 2);
	s_want(&s_sites[1], id);
	for (int k = 0; k < 1500 && !banned; k++) {
		banned = s_peer(1, 2, &ps) && ps.blob_refused >= 1 && !ps.connected;
		if (!banned)
			s_sleep_ms(20);
	}
	assert_true(banned);
	sync_blob_status(s_sites[1].s, &bs);
	assert_int_equal(bs.bytes_in, 0);
	assert_false(blob_has(s_sites[1].bs, id, NULL));
	/* An honest holder: the same blob from Nantes. */
	s_store(&s_sites[0], b, len, id);
	s_want(&s_sites[0], id);
	s_start(0, 1);
	assert_true(s_wait_has(1, id));
	s_same(1, id, b, len);
	assert_true(s_peer(1, 2, &ps));
	assert_false(ps.connected); /* still shut out */
	free(b);
}

/* A hostile site sending a manifest that does not hash to the blob id:
 * banned at once, nothing asked of it, nothing written. */
static void
test_hostile_map(void **state)
{
	size_t len = 2 * BLOB_CHUNK + 5;
	uint8_t *b = s_bytes(len, 11), id[32];
	sync_peer_status_t ps;
	sync_blob_status_t bs;
	int banned = 0;

	s_store(&s_sites[2], b, len, id);
	s_sites[2].corrupt = 2;
	s_want(&s_sites[2], id);
	s_start(2, -1);
	s_start(1, 2);
	s_want(&s_sites[1], id);
	for (int k = 0; k < 1500 && !banned; k++) {
		banned = s_peer(1, 2, &ps) && ps.blob_refused >= 1 && !ps.connected;
		if (!banned)
			s_sleep_ms(20);
	}
	assert_true(banned);
	assert_true(s_peer(2, 1, &ps));
	assert_int_equal(ps.blob_bytes_out, 0); /* no chunk was asked of it */
	sync_blob_status(s_sites[1].s, &bs);
	assert_int_equal(bs.bytes_in, 0);
	assert_false(blob_has(s_sites[1].bs, id, NULL));
	free(b);
}

/* A raw peer (site me's CURVE key, admitted): a DEALER dialing site server. */
static void *
s_raw_dial(void *ctx, int server, int me)
{
	void *d = zmq_socket(ctx, ZMQ_DEALER);
	int zero = 0;
	char ep[64];

	assert_non_null(d);
	zmq_setsockopt(d, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(d, ZMQ_CURVE_SERVERKEY, key_curve_public(s_sites[server].curve), 32);
	zmq_setsockopt(d, ZMQ_CURVE_PUBLICKEY, key_curve_public(s_sites[me].curve), 32);
	zmq_setsockopt(d, ZMQ_CURVE_SECRETKEY, key_curve_secret(s_sites[me].curve), 32);
	snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%u", sync_port(s_sites[server].s));
	assert_int_equal(zmq_connect(d, ep), 0);
	return d;
}

static void
s_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static void
s_raw_send(void *d, int type, const void *b, size_t n)
{
	uint8_t head[2] = {SYNC_VERSION, (uint8_t)type};

	assert_true(zmq_send(d, head, 2, n ? ZMQ_SNDMORE : 0) == 2);
	if (n)
		assert_true(zmq_send(d, b, n, 0) == (int)n);
}

/*
 * A peer that asks for chunks and never reads them (a raw DEALER: HELLO,
 * BHELLO, then 64 BGETs of 8 chunks, 128 MiB in all) gets no more than the
 * budget of chunk bytes from Nantes, whose serving then waits for a probe's
 * answer that never comes: its send queue holds at most 4 MiB of chunks for
 * that peer, not the 2000 messages (500 MiB) of the socket's high-water
 * mark. An honest site then fetches the same 8 MiB blob, past the budget:
 * its answers to the probes let serving go on.
 */
static void
test_budget(void **state)
{
	size_t len = 32 * BLOB_CHUNK;
	uint8_t *b = s_bytes(len, 21), id[32], hello[32 + 8], get[38], bh[2] = {1, 0};
	void *ctx = zmq_ctx_new(), *d;
	sync_peer_status_t ps;
	sync_blob_status_t bs;
	int held = 0;

	s_store(&s_sites[0], b, len, id);
	s_want(&s_sites[0], id);
	s_start(0, -1);
	d = s_raw_dial(ctx, 0, 2);
	memcpy(hello, s_sites[2].sign, 32);
	memcpy(hello + 32, "hostile", 7);
	s_raw_send(d, SYNC_HELLO, hello, 39);
	s_raw_send(d, SYNC_BHELLO, bh, 2);
	for (int k = 0; k < 64; k++) {
		memcpy(get, id, 32);
		s_be(get + 32, (uint64_t)(k * 8) % 32, 4);
		s_be(get + 36, 8, 2);
		s_raw_send(d, SYNC_BGET, get, sizeof(get));
	}
	/* The condition: Nantes holds back (its budget for that peer spent). */
	for (int k = 0; k < 1500 && !held; k++) {
		held = s_peer(0, 2, &ps) && ps.blob_held_back >= 1;
		if (!held)
			s_sleep_ms(20);
	}
	assert_true(held);
	assert_true(ps.blob_bytes_out <= SYNC_BLOB_PEER_BUDGET);
	assert_true(ps.blob_bytes_out >= SYNC_BLOB_PEER_BUDGET / 2);
	assert_true(ps.blob_unread <= SYNC_BLOB_PEER_BUDGET);
	sync_blob_status(s_sites[0].s, &bs);
	assert_true(bs.unread_max <= SYNC_BLOB_TOTAL_BUDGET);
	/* More asking changes nothing: still held back at the same bytes. */
	for (int k = 0; k < 8; k++) {
		memcpy(get, id, 32);
		s_be(get + 32, 0, 4);
		s_be(get + 36, 8, 2);
		s_raw_send(d, SYNC_BGET, get, sizeof(get));
	}
	s_raw_send(d, SYNC_PING, NULL, 0);
	assert_true(s_peer(0, 2, &ps));
	assert_true(ps.blob_bytes_out <= SYNC_BLOB_PEER_BUDGET);
	/* An honest reader gets the whole 8 MiB, twice the budget. */
	s_start(1, 0);
	s_want(&s_sites[1], id);
	assert_true(s_wait_has(1, id));
	s_same(1, id, b, len);
	assert_true(s_peer(0, 1, &ps));
	assert_int_equal(ps.blob_bytes_out, len);
	assert_true(s_peer(0, 2, &ps));
	assert_true(ps.blob_bytes_out <= SYNC_BLOB_PEER_BUDGET);
	sync_blob_status(s_sites[0].s, &bs);
	assert_true(bs.unread_max <= SYNC_BLOB_TOTAL_BUDGET);
	zmq_close(d);
	zmq_ctx_term(ctx);
	free(b);
}

/*
 * BNONE's "chunks held": Lyon holds half of a blob (a partial file, its
 * fetch under way: the only holder it had was banned for a bad chunk);
 * Nantes, which wants the blob too, asks Lyon and is told 4 chunks are held
 * there (it was always 0).
 */
static void
test_held_said(void **state)
{
	size_t len = 8 * BLOB_CHUNK;
	uint8_t *b = s_bytes(len, 31), id[32], held[8], *man = NULL;
	uint64_t size;
	size_t mlen;
	sync_peer_status_t ps;
	int banned = 0, said = 0;

	s_store(&s_sites[2], b, len, id);
	s_sites[2].corrupt = 1;
	s_want(&s_sites[2], id);
	assert_int_equal(blob_manifest(s_sites[2].bs, id, &man, &size, &mlen), 0);
	assert_int_equal(blob_part_open(s_sites[1].bs, id, size, man, mlen, held), 0);
	for (uint32_t k = 0; k < 4; k++)
		assert_int_equal(
		    blob_part_write(s_sites[1].bs, id, k, b + (size_t)k * BLOB_CHUNK, BLOB_CHUNK),
		    0);
	free(man);
	s_start(2, -1);
	s_start(1, 2);
	s_want(&s_sites[1], id);
	for (int k = 0; k < 1500 && !banned; k++) {
		banned = s_peer(1, 2, &ps) && ps.blob_refused >= 1 && !ps.connected;
		if (!banned)
			s_sleep_ms(20);
	}
	assert_true(banned);
	s_want(&s_sites[0], id);
	s_start(0, 1);
	for (int k = 0; k < 1500 && !said; k++) {
		said = s_peer(0, 1, &ps) && ps.blob_held_said == 4;
		if (!said)
			s_sleep_ms(20);
	}
	assert_true(said);
	assert_false(blob_has(s_sites[0].bs, id, NULL));
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_transfer, s_setup, s_teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_chunk, s_setup, s_teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_map, s_setup, s_teardown),
	    cmocka_unit_test_setup_teardown(test_budget, s_setup, s_teardown),
	    cmocka_unit_test_setup_teardown(test_held_said, s_setup, s_teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
