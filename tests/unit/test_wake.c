/*
 * The engine's loop sleeps in poll(2) on its sockets' ZMQ_FDs (sync/engine.c),
 * which fire on an edge: a socket read only in part, or sent on, or left
 * aside while the store is behind, holds messages that no descriptor
 * announces any more. Here a hub (a real engine over CURVE on loopback)
 * takes bursts on several links at once, links it dials and links that
 * dialed it, and answers every last message of each: "peers" are ZeroMQ
 * sockets of this test that speak the protocol by hand, and the hub's store
 * answers its batches from a thread of its own, as the node's writer does.
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

#include <sodium.h>
#include <zmq.h>

#include "sync/sync.h"

#define HUB    0
#define DIALED 3 /* peers the hub dials (ROUTERs of this test) */
#define DIALER 3 /* peers that dial the hub (DEALERs of this test) */
#define SITES  (1 + DIALED + DIALER)
#define BURST  150  /* of each kind per peer: more than one round of reads (READ_BURST) */
#define STEADY 2000 /* EVENTS per peer, one a millisecond or so */

typedef struct site {
	char name[16];
	uint8_t sign[32];   /* its site key (an identifier here) */
	key_curve_t *curve; /* its transport key */
	sync_t *s;          /* its engine (the hub's only) */
} site_t;

static site_t s_sites[SITES];

/* An empty store's event ops and the sites by key, over s_sites. */
#include "tests/unit/sync_sites.h"

/* --------------------------------- the hub's store, on its own thread */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static sync_put_t *g_jobs[256];
static size_t g_n_jobs;
static int g_stop;

static int
s_put(void *ctx, sync_put_t *job)
{
	pthread_mutex_lock(&g_lock);
	assert_true(g_n_jobs < 256); /* the engine holds at most JOBS_MAX + LIVE_JOBS_MAX */
	g_jobs[g_n_jobs++] = job;
	pthread_cond_signal(&g_cond);
	pthread_mutex_unlock(&g_lock);
	return 0;
}

/* Answers the batches a millisecond after they come, all of them at once:
 * completions reach the engine through its command pipe in bursts, and
 * the engine's reads pause now and then while live batches are out. */
static void *
s_store(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g_lock);
	while (!g_stop || g_n_jobs) {
		sync_put_t *jobs[256];
		size_t n;
		struct timespec ts = {0, 1000000L};

		if (g_n_jobs == 0) {
			pthread_cond_wait(&g_cond, &g_lock);
			continue;
		}
		pthread_mutex_unlock(&g_lock);
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&g_lock);
		n = g_n_jobs;
		memcpy(jobs, g_jobs, n * sizeof(*jobs));
		g_n_jobs = 0;
		pthread_mutex_unlock(&g_lock);
		for (size_t k = 0; k < n; k++) {
			for (size_t i = 0; i < jobs[k]->n; i++) {
				jobs[k]->rc[i] = CPT_EEXIST; /* nothing to relay */
				memset(jobs[k]->ids[i], 0, CPT_ID_LEN);
			}
			jobs[k]->err = 0;
			sync_put_done(jobs[k]);
		}
		pthread_mutex_lock(&g_lock);
	}
	pthread_mutex_unlock(&g_lock);
	return NULL;
}

/* ------------------------------------------------------------ peers */

typedef struct peer {
	int site;        /* its index in s_sites */
	void *sock;      /* ROUTER (the hub dials it) or DEALER (it dials the hub) */
	zmq_msg_t rid;   /* the hub's routing id on a ROUTER */
	int hello;       /* the hub's HELLO came */
	int acks, pongs; /* what came back since */
} peer_t;

/* One message to the hub, of a type and frames of flen bytes (a HELLO's
 * one frame is the peer's key and name). */
static void
s_send(peer_t *p, int type, size_t frames, size_t flen)
{
	uint8_t head[2] = {SYNC_VERSION, (uint8_t)type}, env[256] = {0};

	assert_true(flen <= sizeof(env));
	if (p->site <= DIALED) {
		zmq_msg_t r;
		zmq_msg_init(&r);
		zmq_msg_copy(&r, &p->rid);
		assert_true(zmq_msg_send(&r, p->sock, ZMQ_SNDMORE) >= 0);
	}
	assert_true(zmq_send(p->sock, head, 2, frames ? ZMQ_SNDMORE : 0) >= 0);
	for (size_t i = 0; i < frames; i++) {
		if (type == SYNC_HELLO) {
			uint8_t b[32 + 16];
			size_t nl = strlen(s_sites[p->site].name);
			memcpy(b, s_sites[p->site].sign, 32);
			memcpy(b + 32, s_sites[p->site].name, nl);
			assert_true(zmq_send(p->sock, b, 32 + nl, 0) >= 0);
		} else {
			/* Distinct envelopes of the size the message check wants. */
			randombytes_buf(env, 16);
			assert_true(
			    zmq_send(p->sock, env, flen, i + 1 < frames ? ZMQ_SNDMORE : 0) >= 0);
		}
	}
}

/* Reads one message of the hub from p, if any waits: its type, or -1. The
 * hub's routing id is kept (a ROUTER peer); ACKs and PONGs are counted;
 * PINGs are answered, and the hub's HELLO on a link it dials. */
static int
s_recv(peer_t *p)
{
	zmq_msg_t m;
	int type = -1, k = 0;

	if (p->site <= DIALED) {
		zmq_msg_t r;
		zmq_msg_init(&r);
		if (zmq_msg_recv(&r, p->sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&r);
			return -1;
		}
		zmq_msg_close(&p->rid);
		zmq_msg_init(&p->rid);
		zmq_msg_move(&p->rid, &r);
		zmq_msg_close(&r);
	}
	for (int more = 1; more; k++) {
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, p->sock, k == 0 && p->site > DIALED ? ZMQ_DONTWAIT : 0) < 0) {
			zmq_msg_close(&m);
			return -1;
		}
		more = zmq_msg_more(&m);
		if (k == 0 && zmq_msg_size(&m) == 2)
			type = ((const uint8_t *)zmq_msg_data(&m))[1];
		zmq_msg_close(&m);
	}
	p->acks += type == SYNC_ACK;
	p->pongs += type == SYNC_PONG;
	if (type == SYNC_PING)
		s_send(p, SYNC_PONG, 0, 0);
	if (type == SYNC_HELLO && !p->hello && p->site <= DIALED)
		s_send(p, SYNC_HELLO, 1, 0);
	p->hello |= type == SYNC_HELLO;
	return type;
}

/* Waits up to wait_ms for any peer's message and reads every one waiting. */
static void
s_pump(peer_t *peers, int n, int wait_ms)
{
	zmq_pollitem_t it[DIALED + DIALER];

	for (int i = 0; i < n; i++)
		it[i] = (zmq_pollitem_t){peers[i].sock, 0, ZMQ_POLLIN, 0};
	if (zmq_poll(it, n, wait_ms) <= 0)
		return;
	for (int i = 0; i < n; i++)
		while (s_recv(&peers[i]) >= 0)
			;
}

/* A peer's socket with its transport key (CURVE server for a ROUTER). */
static void *
s_socket(void *ctx, int site, int type)
{
	void *sock = zmq_socket(ctx, type);
	int zero = 0, one = 1;

	assert_non_null(sock);
	assert_int_equal(zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero)), 0);
	if (type == ZMQ_ROUTER) {
		assert_int_equal(zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof(one)), 0);
		assert_int_equal(zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY,
		                                key_curve_secret(s_sites[site].curve), 32),
		                 0);
	} else {
		assert_int_equal(zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY,
		                                key_curve_public(s_sites[HUB].curve), 32),
		                 0);
		assert_int_equal(zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY,
		                                key_curve_public(s_sites[site].curve), 32),
		                 0);
		assert_int_equal(zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY,
		                                key_curve_secret(s_sites[site].curve), 32),
		                 0);
	}
	return sock;
}

/* ------------------------------------------------------------- tests */

/*
 * Six peers, three the hub dials and three that dial it, each send at once
 * 150 live EVENTS (ACKed once the store answers, through the command pipe),
 * 150 PONGs (which the hub answers with nothing) and a PING: every EVENTS
 * is ACKed and every PING answered. The heartbeat is a minute long, so no
 * timer of the hub sends on a link meanwhile: a message left unread behind
 * a descriptor that fired once (a burst read only in part, a socket put
 * aside while live batches were out, a send that took in the socket's
 * mailbox) stays unread, and its link stalls.
 */
/* The hub, its store's thread, and its peers, each link up (its HELLO
 * came): DIALED peers it dials, then DIALER peers that dial it. */
static void
s_begin(void *ctx, peer_t *peers, pthread_t *store)
{
	sync_peer_conf_t pc[DIALED];
	sync_conf_t c;
	char err[256], ep[64];
	int n = DIALED + DIALER, all = 0;

	memset(peers, 0, sizeof(*peers) * (size_t)n);
	memset(pc, 0, sizeof(pc));
	g_stop = 0;
	assert_int_equal(pthread_create(store, NULL, s_store, NULL), 0);
	for (int i = 0; i < DIALED; i++) {
		size_t eplen = sizeof(pc[i].endpoint);
		peer_t *p = &peers[i];
		p->site = 1 + i;
		p->sock = s_socket(ctx, p->site, ZMQ_ROUTER);
		zmq_msg_init(&p->rid);
		assert_int_equal(zmq_bind(p->sock, "tcp://127.0.0.1:*"), 0);
		assert_int_equal(zmq_getsockopt(p->sock, ZMQ_LAST_ENDPOINT, pc[i].endpoint, &eplen),
		                 0);
		memcpy(pc[i].site_key, s_sites[p->site].sign, 32);
	}
	/* A heartbeat of a minute: no timer of the hub sends on a link while
	 * the test runs (a send makes the loop look at the socket again). */
	s_conf(&c, &s_sites[HUB], s_put);
	c.heartbeat_ms = 60000;
	c.reconcile_interval_s = 600;
	s_sites[HUB].s = sync_start(&c, pc, DIALED, err, sizeof(err));
	if (s_sites[HUB].s == NULL)
		fail_msg("sync_start: %s", err);
	snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%u", sync_port(s_sites[HUB].s));
	for (int i = DIALED; i < n; i++) {
		peer_t *p = &peers[i];
		p->site = 1 + i;
		p->sock = s_socket(ctx, p->site, ZMQ_DEALER);
		zmq_msg_init(&p->rid);
		assert_int_equal(zmq_connect(p->sock, ep), 0);
		s_send(p, SYNC_HELLO, 1, 0);
	}
	/* Every link up: the hub's HELLO on each (answered on the links it
	 * dials; on the others, its answer to theirs). */
	for (int k = 0; k < 500 && !all; k++) {
		s_pump(peers, n, 20);
		all = 1;
		for (int i = 0; i < n; i++)
			all &= peers[i].hello;
	}
	for (int i = 0; i < n; i++) {
		assert_true(peers[i].hello);
		peers[i].acks = peers[i].pongs = 0;
	}
}

/* Each peer sends a PING: within ten seconds, every peer has its acks
 * ACKs and one PONG, or a link stalled. Then everything is closed. */
static void
s_end(void *ctx, peer_t *peers, pthread_t store, int acks)
{
	int n = DIALED + DIALER, all = 0;

	for (int i = 0; i < n; i++)
		s_send(&peers[i], SYNC_PING, 0, 0);
	for (int k = 0; k < 500 && !all; k++) {
		s_pump(peers, n, 20);
		all = 1;
		for (int i = 0; i < n; i++)
			all &= peers[i].acks == acks && peers[i].pongs == 1;
	}
	for (int i = 0; i < n; i++) {
		if (peers[i].acks != acks || peers[i].pongs != 1)
			printf("# %s: %d ACKs of %d, %d PONG\n", s_sites[peers[i].site].name,
			       peers[i].acks, acks, peers[i].pongs);
		assert_int_equal(peers[i].acks, acks);
		assert_int_equal(peers[i].pongs, 1);
	}
	sync_stop(&s_sites[HUB].s);
	pthread_mutex_lock(&g_lock);
	g_stop = 1;
	pthread_cond_signal(&g_cond);
	pthread_mutex_unlock(&g_lock);
	pthread_join(store, NULL);
	for (int i = 0; i < n; i++) {
		zmq_msg_close(&peers[i].rid);
		zmq_close(peers[i].sock);
	}
	zmq_ctx_term(ctx);
}

/*
 * Six peers, three the hub dials and three that dial it, each send at once
 * 150 live EVENTS (ACKed once the store answers, through the command pipe)
 * and 150 PONGs (which the hub answers with nothing), then a PING: every
 * EVENTS is ACKed and every PING answered. A burst is more than one round's
 * reads (READ_BURST): a socket read in part and not looked at again before
 * the loop slept kept the rest unread, and its link stalled.
 */
static void
test_bursts_on_every_link_all_answered(void **state)
{
	void *ctx = zmq_ctx_new();
	peer_t peers[DIALED + DIALER];
	pthread_t store;

	(void)state;
	s_begin(ctx, peers, &store);
	for (int i = 0; i < DIALED + DIALER; i++) {
		for (int k = 0; k < BURST; k++)
			s_send(&peers[i], SYNC_EVENTS, 1, 200);
		for (int k = 0; k < BURST; k++)
			s_send(&peers[i], SYNC_PONG, 0, 0);
	}
	s_end(ctx, peers, store, BURST);
}

/*
 * The same six peers send a live EVENTS each every millisecond or so for
 * two seconds, the ACKs read as they come: the hub sends on a socket (an
 * ACK) while the peer's next message may have just reached it. A send can
 * take in the mailbox's news of that message, and the descriptor then stays
 * silent: a socket sent on and not looked at again before the loop slept
 * left it unread, and its link stalled.
 */
static void
test_steady_flow_on_every_link_all_answered(void **state)
{
	void *ctx = zmq_ctx_new();
	peer_t peers[DIALED + DIALER];
	pthread_t store;
	int sent = 0;

	(void)state;
	s_begin(ctx, peers, &store);
	for (; sent < STEADY; sent++) {
		for (int i = 0; i < DIALED + DIALER; i++)
			s_send(&peers[i], SYNC_EVENTS, 1, 200);
		s_pump(peers, DIALED + DIALER, 1);
	}
	s_end(ctx, peers, store, sent);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bursts_on_every_link_all_answered),
	    cmocka_unit_test(test_steady_flow_on_every_link_all_answered),
	};
	int rc;

	for (int i = 0; i < SITES; i++)
		snprintf(s_sites[i].name, sizeof(s_sites[i].name), i == HUB ? "hub" : "peer%d", i);
	if (s_sites_keys() != 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	s_sites_free();
	return rc;
}
