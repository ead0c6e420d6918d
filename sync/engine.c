/*
 * The sync engine: one thread owning every ZeroMQ socket — the ROUTER peers
 * dial, one DEALER per peer we dial, the ZAP handler, and the command pipe.
 * It pushes new events to connected peers, relays what it receives, and
 * reconciles both sets on every (re)connect and periodically.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <zmq.h>

#include "sync/sync.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93 /* draft option, accepted by Debian's libzmq 4.3.4 */
#endif

#define MAX_FRAMES     1002   /* EVENTS: type frame + 1000 envelopes, plus routing id */
#define IDS_PAGE       6000   /* (ts, id) per IDS page: 240 KB */
#define WANT_MAX       8000   /* ids per WANT */
#define BATCH_EVENTS   1000   /* envelopes per EVENTS */
#define BAN_MS         60000  /* a hostile peer is shut out this long */
#define BAD_LIMIT      20     /* malformed messages before a peer is banned */
#define CMD_ENDPOINT   "inproc://comptoir-sync-cmd"

enum cmd { CMD_STOP = 1, CMD_ANNOUNCE, CMD_ADD_PEER, CMD_RECHECK };

/* One peer site: how to reach it and what we know of the link. */
typedef struct link {
	int used;                       /* slot in use */
	sync_peer_status_t st;          /* what the status page shows */
	uint8_t curve[CPT_KEY_LEN];     /* its transport key */
	void *dealer;                   /* socket when we dial it, else NULL */
	uint8_t rid[256];               /* routing id on our ROUTER when it dialed us */
	size_t rid_len;                 /* 0 when it has not */
	uint64_t last_rx_ms;            /* last message from it */
	uint64_t last_tx_ms;            /* last message to it */
	uint64_t ban_until_ms;          /* shut out until then */
	int bad;                        /* malformed messages seen */
	int hello_in;                   /* it said HELLO since the link came up */
	/* reconciliation: we send our id list page by page */
	int sending_ids;                /* pages left to send */
	uint8_t ids_after[SYNC_TSID_LEN]; /* cursor */
	int ids_after_set;              /* cursor is set */
} link_t;

struct sync {
	sync_conf_t conf;               /* settings */
	void *ctx;                      /* ZeroMQ context */
	void *srv;                      /* ROUTER peers dial, or NULL */
	void *zap;                      /* ZAP handler (REP) */
	void *cmd_in;                   /* command pipe, engine side */
	void *cmd_out;                  /* command pipe, callers' side (under cmd_lock) */
	pthread_mutex_t cmd_lock;       /* serialises callers of cmd_out */
	pthread_t thread;               /* the engine */
	pthread_mutex_t lock;           /* guards links[].st for sync_status */
	link_t links[SYNC_MAX_PEERS];   /* peers */
	unsigned port;                  /* bound port */
	uint64_t next_reconcile_ms;     /* periodic reconciliation */
	int stop;                       /* leave the loop */
};

static uint64_t
s_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
s_hex(char out[CPT_HEX_ID], const uint8_t k[32])
{
	cpt_hex32(out, k);
}

/* ------------------------------------------------------------- sockets */

static void
s_common_opts(sync_t *s, void *sock)
{
	int hb = (int)s->conf.heartbeat_ms, ttl = hb * 3 > 65000 ? 65000 : hb * 3, zero = 0;
	int64_t max = (int64_t)s->conf.max_msg + 1024;
	int hwm = 2000;

	zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max, sizeof(max));
	zmq_setsockopt(sock, ZMQ_HEARTBEAT_IVL, &hb, sizeof(hb));
	zmq_setsockopt(sock, ZMQ_HEARTBEAT_TIMEOUT, &ttl, sizeof(ttl));
	zmq_setsockopt(sock, ZMQ_HEARTBEAT_TTL, &ttl, sizeof(ttl));
	zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof(hwm));
}

/* The ROUTER peers dial: CURVE server, ZAP enforced (fails closed). */
static int
s_bind_server(sync_t *s, char *err, size_t errlen)
{
	int one = 1, rc;
	char ep[CFG_MAX_STR];
	size_t eplen = sizeof(ep);

	if (s->conf.listen[0] == 0)
		return 0;
	s->srv = zmq_socket(s->ctx, ZMQ_ROUTER);
	s_common_opts(s, s->srv);
	zmq_setsockopt(s->srv, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
	zmq_setsockopt(s->srv, ZMQ_CURVE_SERVER, &one, sizeof(one));
	zmq_setsockopt(s->srv, ZMQ_CURVE_SECRETKEY, key_curve_secret(s->conf.curve), 32);
	zmq_setsockopt(s->srv, ZMQ_ZAP_DOMAIN, SYNC_ZAP_DOMAIN, strlen(SYNC_ZAP_DOMAIN));
	/* Without this, a missing handler would let anyone in (PITFALLS 1). */
	if (zmq_setsockopt(s->srv, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof(one)) != 0) {
		snprintf(err, errlen, "libzmq refuses ZMQ_ZAP_ENFORCE_DOMAIN: cannot fail closed");
		return -1;
	}
	rc = zmq_bind(s->srv, s->conf.listen);
	if (rc != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", s->conf.listen, zmq_strerror(errno));
		zmq_close(s->srv);
		s->srv = NULL;
		return -1;
	}
	if (zmq_getsockopt(s->srv, ZMQ_LAST_ENDPOINT, ep, &eplen) == 0) {
		const char *colon = strrchr(ep, ':');
		s->port = colon ? (unsigned)atoi(colon + 1) : 0;
	}
	return 0;
}

/* Drops every incoming link: the only way to close one ROUTER peer. Honest
 * peers dial again within their reconnect interval; ZAP re-checks them. */
static void
s_rebind_server(sync_t *s)
{
	char err[256];

	if (s->srv == NULL)
		return;
	zmq_close(s->srv);
	s->srv = NULL;
	for (int i = 0; i < SYNC_MAX_PEERS; i++)
		s->links[i].rid_len = 0;
	if (s_bind_server(s, err, sizeof(err)) != 0)
		log_warnx("sync", "rebinding the peer endpoint failed: %s", err);
}

static link_t *
s_link_by_key(sync_t *s, const uint8_t key[CPT_KEY_LEN])
{
	for (int i = 0; i < SYNC_MAX_PEERS; i++)
		if (s->links[i].used && memcmp(s->links[i].st.site_key, key, CPT_KEY_LEN) == 0)
			return &s->links[i];
	return NULL;
}

static link_t *
s_link_new(sync_t *s, const uint8_t key[CPT_KEY_LEN])
{
	link_t *l = s_link_by_key(s, key);

	if (l)
		return l;
	for (int i = 0; i < SYNC_MAX_PEERS; i++)
		if (!s->links[i].used) {
			l = &s->links[i];
			memset(l, 0, sizeof(*l));
			l->used = 1;
			memcpy(l->st.site_key, key, CPT_KEY_LEN);
			return l;
		}
	return NULL;
}

/* Dials a peer: CURVE client expecting the server key of its certificate. */
static void
s_dial(sync_t *s, link_t *l)
{
	int one = 1, ivl = 200, ivl_max = 5000;

	if (l->dealer || l->st.endpoint[0] == 0)
		return;
	if (s->conf.ops.lookup(s->conf.ops.ctx, l->st.site_key, l->curve, l->st.site) != 0) {
		char hex[CPT_HEX_ID];
		s_hex(hex, l->st.site_key);
		log_warnx("sync", "no certificate for peer site_key=%s endpoint=%s: not dialing", hex,
			  l->st.endpoint);
		return;
	}
	l->dealer = zmq_socket(s->ctx, ZMQ_DEALER);
	s_common_opts(s, l->dealer);
	/* Queue nothing for a link that is not up: HELLO is resent until it is. */
	zmq_setsockopt(l->dealer, ZMQ_IMMEDIATE, &one, sizeof(one));
	zmq_setsockopt(l->dealer, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
	zmq_setsockopt(l->dealer, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof(ivl_max));
	zmq_setsockopt(l->dealer, ZMQ_CURVE_SERVERKEY, l->curve, 32);
	zmq_setsockopt(l->dealer, ZMQ_CURVE_PUBLICKEY, key_curve_public(s->conf.curve), 32);
	zmq_setsockopt(l->dealer, ZMQ_CURVE_SECRETKEY, key_curve_secret(s->conf.curve), 32);
	if (zmq_connect(l->dealer, l->st.endpoint) != 0) {
		log_warnx("sync", "cannot dial %s: %s", l->st.endpoint, zmq_strerror(errno));
		zmq_close(l->dealer);
		l->dealer = NULL;
		return;
	}
	log_info("sync", "dialing peer site=%s endpoint=%s", l->st.site, l->st.endpoint);
}

/* ----------------------------------------------------------- sending */

/* Sends a message of n frames to a link, never blocking. 0, or -1 when the
 * link is down or its queue is full (reconciliation repairs what is lost). */
static int
s_send(sync_t *s, link_t *l, int type, const void *const *frames, const size_t *lens, size_t n)
{
	uint8_t head[2] = {SYNC_VERSION, (uint8_t)type};
	void *sock = l->dealer;
	size_t bytes = 2;

	if (l->ban_until_ms > s_now())
		return -1;
	if (sock == NULL) {
		if (l->rid_len == 0 || s->srv == NULL)
			return -1;
		sock = s->srv;
		if (zmq_send(sock, l->rid, l->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
			return -1;
	}
	if (zmq_send(sock, head, 2, ZMQ_DONTWAIT | (n ? ZMQ_SNDMORE : 0)) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		/* Once the first frame is queued, the rest of the message follows. */
		zmq_send(sock, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0);
		bytes += lens[i];
	}
	l->last_tx_ms = s_now();
	pthread_mutex_lock(&s->lock);
	l->st.bytes_out += bytes;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int
s_link_up(const link_t *l)
{
	return l->st.connected && (l->dealer || l->rid_len);
}

static void
s_send_hello(sync_t *s, link_t *l)
{
	uint8_t b[CPT_KEY_LEN + 64];
	size_t nl = strlen(s->conf.site);
	const void *f[1] = {b};
	size_t len[1];

	memcpy(b, s->conf.site_key, CPT_KEY_LEN);
	memcpy(b + CPT_KEY_LEN, s->conf.site, nl);
	len[0] = CPT_KEY_LEN + nl;
	s_send(s, l, SYNC_HELLO, f, len, 1);
}

/* Sends events (by id) to a link in EVENTS messages of bounded size. */
static void
s_send_events(sync_t *s, link_t *l, const uint8_t (*ids)[CPT_ID_LEN], size_t n)
{
	const void *f[BATCH_EVENTS];
	size_t len[BATCH_EVENTS], k = 0, bytes = 0, sent = 0;
	uint8_t *bufs[BATCH_EVENTS];

	for (size_t i = 0; i <= n; i++) {
		uint8_t *e = NULL;
		size_t elen = 0;
		if (i < n && (e = s->conf.ops.get(s->conf.ops.ctx, ids[i], &elen)) == NULL)
			continue;
		if (k > 0 && (i == n || k == BATCH_EVENTS || bytes + elen + 64 > s->conf.max_msg)) {
			if (s_send(s, l, SYNC_EVENTS, f, len, k) == 0)
				sent += k;
			for (size_t j = 0; j < k; j++)
				free(bufs[j]);
			k = 0;
			bytes = 0;
		}
		if (e) {
			bufs[k] = e;
			f[k] = e;
			len[k++] = elen;
			bytes += elen + 8;
		}
	}
	pthread_mutex_lock(&s->lock);
	l->st.sent += sent;
	pthread_mutex_unlock(&s->lock);
}

/* Sends the next page of our (ts, id) list to a reconciling link. */
static void
s_send_ids_page(sync_t *s, link_t *l)
{
	uint8_t(*page)[SYNC_TSID_LEN] = malloc(IDS_PAGE * SYNC_TSID_LEN);
	size_t n;
	uint8_t last;
	const void *f[2];
	size_t len[2];

	if (page == NULL)
		return;
	n = s->conf.ops.scan(s->conf.ops.ctx, l->ids_after_set ? l->ids_after : NULL, page, IDS_PAGE);
	last = n < IDS_PAGE;
	f[0] = page;
	len[0] = n * SYNC_TSID_LEN;
	f[1] = &last;
	len[1] = 1;
	if (s_send(s, l, SYNC_IDS, f, len, 2) == 0) {
		if (n > 0) {
			memcpy(l->ids_after, page[n - 1], SYNC_TSID_LEN);
			l->ids_after_set = 1;
		}
		if (last) {
			l->sending_ids = 0;
			pthread_mutex_lock(&s->lock);
			l->st.last_reconcile_ms = s_now();
			pthread_mutex_unlock(&s->lock);
		}
	}
	free(page);
}

static void
s_start_reconcile(link_t *l)
{
	l->sending_ids = 1;
	l->ids_after_set = 0;
}

/* ---------------------------------------------------------- link state */

static void
s_set_connected(sync_t *s, link_t *l, int up)
{
	if (l->st.connected == up)
		return;
	pthread_mutex_lock(&s->lock);
	l->st.connected = up;
	l->st.since_ms = s_now();
	if (!up) {
		l->st.to_send = 0;
		l->st.to_receive = 0;
	}
	pthread_mutex_unlock(&s->lock);
	l->hello_in = 0;
	log_info("sync", "peer %s site=%s", up ? "connected" : "disconnected",
		 l->st.site[0] ? l->st.site : "?");
	if (up)
		s_start_reconcile(l);
}

static void
s_ban(sync_t *s, link_t *l, const char *why)
{
	char hex[CPT_HEX_ID];

	s_hex(hex, l->st.site_key);
	log_warnx("sync", "disconnecting peer site=%s key=%s: %s", l->st.site, hex, why);
	l->ban_until_ms = s_now() + BAN_MS;
	s_set_connected(s, l, 0);
	if (l->dealer) {
		zmq_close(l->dealer);
		l->dealer = NULL;
	}
	if (l->rid_len)
		s_rebind_server(s);
}

/* ------------------------------------------------------------ receiving */

/* Reads one whole message (all frames) from sock into msgs; returns the count,
 * or 0 when it had more frames than allowed (drained and dropped). */
static size_t
s_recv(void *sock, zmq_msg_t *msgs, size_t max)
{
	size_t n = 0;
	int more = 1;

	while (more) {
		zmq_msg_t tmp, *m = n < max ? &msgs[n] : &tmp;
		zmq_msg_init(m);
		if (zmq_msg_recv(m, sock, 0) < 0) {
			zmq_msg_close(m);
			break;
		}
		more = zmq_msg_more(m);
		if (n < max)
			n++;
		else
			zmq_msg_close(m);
	}
	if (more || n == max) {
		/* too many frames: drop the lot */
		for (size_t i = 0; i < n; i++)
			zmq_msg_close(&msgs[i]);
		return 0;
	}
	return n;
}

static void
s_handle(sync_t *s, link_t *l, zmq_msg_t *m, size_t n)
{
	size_t len[MAX_FRAMES];
	int type = sync_msg_type(zmq_msg_data(&m[0]), zmq_msg_size(&m[0]));
	uint64_t now = s_now();

	for (size_t i = 0; i < n; i++)
		len[i] = zmq_msg_size(&m[i]);
	if (type < 0 || sync_msg_check(type, n, len, s->conf.max_msg) != 0) {
		pthread_mutex_lock(&s->lock);
		l->st.rejected++;
		pthread_mutex_unlock(&s->lock);
		log_warnx("sync", "malformed message from site=%s (type %d, %zu frames)", l->st.site,
			  type, n);
		if (++l->bad >= BAD_LIMIT)
			s_ban(s, l, "too many malformed messages");
		return;
	}
	l->last_rx_ms = now;
	pthread_mutex_lock(&s->lock);
	l->st.last_exchange_ms = now;
	for (size_t i = 0; i < n; i++)
		l->st.bytes_in += len[i];
	pthread_mutex_unlock(&s->lock);
	if (!l->st.connected)
		s_set_connected(s, l, 1);

	switch (type) {
	case SYNC_HELLO:
		if (!l->hello_in) {
			l->hello_in = 1;
			s_send_hello(s, l); /* answer so that both sides come up at once */
		}
		break;
	case SYNC_PING:
		s_send(s, l, SYNC_PONG, NULL, NULL, 0);
		break;
	case SYNC_PONG:
	case SYNC_ACK:
		break;
	case SYNC_WANT: {
		size_t k = len[1] / CPT_ID_LEN;
		pthread_mutex_lock(&s->lock);
		l->st.to_send += k;
		pthread_mutex_unlock(&s->lock);
		s_send_events(s, l, zmq_msg_data(&m[1]), k);
		pthread_mutex_lock(&s->lock);
		l->st.to_send = l->st.to_send > k ? l->st.to_send - k : 0;
		pthread_mutex_unlock(&s->lock);
		break;
	}
	case SYNC_IDS: {
		const uint8_t *p = zmq_msg_data(&m[1]);
		size_t k = len[1] / SYNC_TSID_LEN, w = 0;
		uint8_t(*want)[CPT_ID_LEN] = malloc((k ? k : 1) * CPT_ID_LEN);
		if (want == NULL)
			break;
		for (size_t i = 0; i < k; i++)
			if (!s->conf.ops.has(s->conf.ops.ctx, p + i * SYNC_TSID_LEN + 8))
				memcpy(want[w++], p + i * SYNC_TSID_LEN + 8, CPT_ID_LEN);
		for (size_t i = 0; i < w; i += WANT_MAX) {
			const void *f[1] = {want[i]};
			size_t fl[1] = {(w - i < WANT_MAX ? w - i : WANT_MAX) * CPT_ID_LEN};
			if (s_send(s, l, SYNC_WANT, f, fl, 1) == 0) {
				pthread_mutex_lock(&s->lock);
				l->st.to_receive += fl[0] / CPT_ID_LEN;
				pthread_mutex_unlock(&s->lock);
			}
		}
		free(want);
		break;
	}
	case SYNC_EVENTS: {
		size_t k = n - 1, stored = 0, dup = 0, pend = 0, bad = 0;
		const uint8_t *bufs[BATCH_EVENTS];
		size_t lens[BATCH_EVENTS];
		int rc[BATCH_EVENTS];
		uint8_t(*ids)[CPT_ID_LEN] = malloc(k * CPT_ID_LEN);
		uint8_t(*fresh)[CPT_ID_LEN] = malloc(k * CPT_ID_LEN);
		uint8_t ack[16];
		const void *f[1] = {ack};
		size_t fl[1] = {16};

		if (ids == NULL || fresh == NULL) {
			free(ids);
			free(fresh);
			break;
		}
		for (size_t i = 0; i < k; i++) {
			bufs[i] = zmq_msg_data(&m[i + 1]);
			lens[i] = len[i + 1];
		}
		if (s->conf.ops.put(s->conf.ops.ctx, bufs, lens, k, rc, ids) != 0) {
			log_warnx("sync", "store error while ingesting %zu events from site=%s", k,
				  l->st.site);
			free(ids);
			free(fresh);
			break;
		}
		for (size_t i = 0; i < k; i++) {
			if (rc[i] == 0)
				memcpy(fresh[stored++], ids[i], CPT_ID_LEN);
			else if (rc[i] == CPT_EEXIST)
				dup++;
			else if (rc[i] == CPT_EPENDING)
				pend++;
			else
				bad++;
		}
		pthread_mutex_lock(&s->lock);
		l->st.received += stored;
		l->st.rejected += bad;
		l->st.to_receive = l->st.to_receive > k ? l->st.to_receive - k : 0;
		pthread_mutex_unlock(&s->lock);
		/* Tell the sender what is now durably stored here. */
		for (int j = 0; j < 4; j++) {
			uint32_t v = j == 0 ? (uint32_t)stored : j == 1 ? (uint32_t)dup : j == 2 ? (uint32_t)pend : (uint32_t)bad;
			ack[4 * j] = (uint8_t)(v >> 24);
			ack[4 * j + 1] = (uint8_t)(v >> 16);
			ack[4 * j + 2] = (uint8_t)(v >> 8);
			ack[4 * j + 3] = (uint8_t)v;
		}
		s_send(s, l, SYNC_ACK, f, fl, 1);
		if (bad) {
			log_warnx("sync", "site=%s sent %zu events that were refused", l->st.site, bad);
			l->bad += (int)(bad > 5 ? 5 : bad);
			if (l->bad >= BAD_LIMIT) {
				s_ban(s, l, "too many invalid events");
				free(ids);
				free(fresh);
				return;
			}
		}
		/* Relay: every other connected peer may lack them. */
		if (stored)
			for (int i = 0; i < SYNC_MAX_PEERS; i++)
				if (&s->links[i] != l && s->links[i].used && s_link_up(&s->links[i]))
					s_send_events(s, &s->links[i], (const uint8_t(*)[CPT_ID_LEN])fresh, stored);
		free(ids);
		free(fresh);
		break;
	}
	}
}

/* A message on the ROUTER: [routing id][frames...]; who sent it comes from
 * the ZAP User-Id, never from the routing id (PITFALLS 2). */
static void
s_on_server(sync_t *s)
{
	zmq_msg_t m[MAX_FRAMES];
	size_t n = s_recv(s->srv, m, MAX_FRAMES);
	const char *uid;
	uint8_t key[CPT_KEY_LEN];
	link_t *l;

	if (n < 2) {
		for (size_t i = 0; i < n; i++)
			zmq_msg_close(&m[i]);
		return;
	}
	uid = zmq_msg_gets(&m[1], "User-Id");
	if (uid == NULL || cpt_unhex32(key, uid, strlen(uid)) != 0 || (l = s_link_new(s, key)) == NULL ||
	    l->ban_until_ms > s_now()) {
		for (size_t i = 0; i < n; i++)
			zmq_msg_close(&m[i]);
		return;
	}
	if (zmq_msg_size(&m[0]) <= sizeof(l->rid)) {
		memcpy(l->rid, zmq_msg_data(&m[0]), zmq_msg_size(&m[0]));
		l->rid_len = zmq_msg_size(&m[0]);
	}
	if (l->st.site[0] == 0) {
		uint8_t curve[CPT_KEY_LEN];
		s->conf.ops.lookup(s->conf.ops.ctx, key, curve, l->st.site);
		memcpy(l->curve, curve, CPT_KEY_LEN);
	}
	s_handle(s, l, m + 1, n - 1);
	for (size_t i = 0; i < n; i++)
		zmq_msg_close(&m[i]);
}

static void
s_on_dealer(sync_t *s, link_t *l)
{
	zmq_msg_t m[MAX_FRAMES];
	size_t n = s_recv(l->dealer, m, MAX_FRAMES);

	if (n >= 1)
		s_handle(s, l, m, n);
	for (size_t i = 0; i < n; i++)
		zmq_msg_close(&m[i]);
}

/* ZAP (RFC 27): admit only the CURVE keys of certified, unrevoked sites of
 * this federation; the User-Id is the site's signing key in hex. */
static void
s_on_zap(sync_t *s)
{
	zmq_msg_t m[8];
	size_t n = s_recv(s->zap, m, 8);
	const char *status = "400", *text = "not a certified site of this federation";
	char uid[CPT_HEX_ID] = "";
	char site[64] = "";

	if (n >= 7 && zmq_msg_size(&m[2]) == strlen(SYNC_ZAP_DOMAIN) &&
	    memcmp(zmq_msg_data(&m[2]), SYNC_ZAP_DOMAIN, strlen(SYNC_ZAP_DOMAIN)) == 0 &&
	    zmq_msg_size(&m[5]) == 5 && memcmp(zmq_msg_data(&m[5]), "CURVE", 5) == 0 &&
	    zmq_msg_size(&m[6]) == CPT_KEY_LEN) {
		uint8_t sign[CPT_KEY_LEN];
		link_t *l;
		if (s->conf.ops.admit(s->conf.ops.ctx, zmq_msg_data(&m[6]), sign, site)) {
			l = s_link_by_key(s, sign);
			if (l && l->ban_until_ms > s_now()) {
				text = "banned for a while";
			} else {
				status = "200";
				text = "OK";
				s_hex(uid, sign);
			}
		}
	}
	if (n >= 2) {
		if (strcmp(status, "200") != 0) {
			char hex[CPT_HEX_ID] = "?";
			if (n >= 7 && zmq_msg_size(&m[6]) == CPT_KEY_LEN)
				s_hex(hex, zmq_msg_data(&m[6]));
			log_warnx("sync", "refused a connection at the ZAP stage curve_key=%s: %s", hex, text);
		}
		zmq_send(s->zap, "1.0", 3, ZMQ_SNDMORE);
		zmq_send(s->zap, zmq_msg_data(&m[1]), zmq_msg_size(&m[1]), ZMQ_SNDMORE);
		zmq_send(s->zap, status, 3, ZMQ_SNDMORE);
		zmq_send(s->zap, text, strlen(text), ZMQ_SNDMORE);
		zmq_send(s->zap, uid, strlen(uid), ZMQ_SNDMORE);
		zmq_send(s->zap, "", 0, 0);
	}
	for (size_t i = 0; i < n; i++)
		zmq_msg_close(&m[i]);
}

/* Re-checks every link's admission after the trust state changed. */
static void
s_recheck(sync_t *s)
{
	int drop_router = 0;

	for (int i = 0; i < SYNC_MAX_PEERS; i++) {
		link_t *l = &s->links[i];
		uint8_t sign[CPT_KEY_LEN];
		char site[64];
		if (!l->used || (!l->dealer && !l->rid_len))
			continue;
		if (s->conf.ops.admit(s->conf.ops.ctx, l->curve, sign, site))
			continue;
		log_warnx("sync", "site=%s is no longer certified: closing its link", l->st.site);
		s_set_connected(s, l, 0);
		l->ban_until_ms = s_now() + BAN_MS;
		if (l->dealer) {
			zmq_close(l->dealer);
			l->dealer = NULL;
		}
		if (l->rid_len)
			drop_router = 1;
	}
	if (drop_router)
		s_rebind_server(s);
}

static void
s_on_cmd(sync_t *s)
{
	zmq_msg_t m[4];
	size_t n = s_recv(s->cmd_in, m, 4);
	const uint8_t *d;

	if (n < 1 || zmq_msg_size(&m[0]) < 1)
		goto out;
	d = zmq_msg_data(&m[0]);
	switch (d[0]) {
	case CMD_STOP:
		s->stop = 1;
		break;
	case CMD_ANNOUNCE:
		if (n == 2 && zmq_msg_size(&m[1]) % CPT_ID_LEN == 0)
			for (int i = 0; i < SYNC_MAX_PEERS; i++)
				if (s->links[i].used && s_link_up(&s->links[i]))
					s_send_events(s, &s->links[i], zmq_msg_data(&m[1]),
						      zmq_msg_size(&m[1]) / CPT_ID_LEN);
		break;
	case CMD_ADD_PEER:
		if (n == 2 && zmq_msg_size(&m[1]) == sizeof(sync_peer_conf_t)) {
			const sync_peer_conf_t *pc = zmq_msg_data(&m[1]);
			link_t *l = s_link_new(s, pc->site_key);
			if (l && (l->dealer == NULL || strcmp(l->st.endpoint, pc->endpoint) != 0)) {
				if (l->dealer) {
					zmq_close(l->dealer);
					l->dealer = NULL;
				}
				snprintf(l->st.endpoint, sizeof(l->st.endpoint), "%s", pc->endpoint);
				s_dial(s, l);
				s_send_hello(s, l);
			}
		}
		break;
	case CMD_RECHECK:
		s_recheck(s);
		break;
	}
out:
	for (size_t i = 0; i < n; i++)
		zmq_msg_close(&m[i]);
}

/* Heartbeats, link timeouts, pending id pages, periodic reconciliation. */
static void
s_timers(sync_t *s)
{
	uint64_t now = s_now(), hb = s->conf.heartbeat_ms;
	int periodic = now >= s->next_reconcile_ms;

	if (periodic)
		s->next_reconcile_ms = now + (uint64_t)s->conf.reconcile_interval_s * 1000;
	for (int i = 0; i < SYNC_MAX_PEERS; i++) {
		link_t *l = &s->links[i];
		if (!l->used)
			continue;
		if (l->dealer == NULL && l->st.endpoint[0] && l->ban_until_ms < now)
			s_dial(s, l);
		if (l->st.connected && now - l->last_rx_ms > 3 * hb)
			s_set_connected(s, l, 0);
		if (!l->st.connected) {
			/* Knock until the peer answers: HELLO brings the link up. */
			if (l->dealer && now - l->last_tx_ms >= hb)
				s_send_hello(s, l);
			continue;
		}
		if (now - l->last_tx_ms >= hb)
			s_send(s, l, SYNC_PING, NULL, NULL, 0);
		if (periodic && !l->sending_ids)
			s_start_reconcile(l);
		if (l->sending_ids)
			s_send_ids_page(s, l);
	}
}

static void *
s_main(void *arg)
{
	sync_t *s = arg;
	zmq_pollitem_t items[3 + SYNC_MAX_PEERS];
	link_t *owner[3 + SYNC_MAX_PEERS];

	s->next_reconcile_ms = s_now() + (uint64_t)s->conf.reconcile_interval_s * 1000;
	while (!s->stop) {
		int n = 0, busy = 0;

		items[n] = (zmq_pollitem_t){s->cmd_in, 0, ZMQ_POLLIN, 0};
		owner[n++] = NULL;
		items[n] = (zmq_pollitem_t){s->zap, 0, ZMQ_POLLIN, 0};
		owner[n++] = NULL;
		if (s->srv) {
			items[n] = (zmq_pollitem_t){s->srv, 0, ZMQ_POLLIN, 0};
			owner[n++] = NULL;
		}
		for (int i = 0; i < SYNC_MAX_PEERS; i++) {
			if (s->links[i].used && s->links[i].dealer) {
				items[n] = (zmq_pollitem_t){s->links[i].dealer, 0, ZMQ_POLLIN, 0};
				owner[n++] = &s->links[i];
			}
			busy |= s->links[i].used && s->links[i].sending_ids && s->links[i].st.connected;
		}
		/* While id pages are due, do not sleep between them. */
		if (zmq_poll(items, n, busy ? 0 : 50) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			if (!(items[i].revents & ZMQ_POLLIN))
				continue;
			if (items[i].socket == s->cmd_in)
				s_on_cmd(s);
			else if (items[i].socket == s->zap)
				s_on_zap(s);
			else if (items[i].socket == s->srv && s->srv)
				s_on_server(s);
			else if (owner[i] && owner[i]->dealer == items[i].socket)
				s_on_dealer(s, owner[i]);
		}
		s_timers(s);
	}
	return NULL;
}

/* ---------------------------------------------------------------- API */

static void
s_cmd(sync_t *s, uint8_t cmd, const void *data, size_t len)
{
	pthread_mutex_lock(&s->cmd_lock);
	zmq_send(s->cmd_out, &cmd, 1, data ? ZMQ_SNDMORE : 0);
	if (data)
		zmq_send(s->cmd_out, data, len, 0);
	pthread_mutex_unlock(&s->cmd_lock);
}

sync_t *
sync_start(const sync_conf_t *conf, const sync_peer_conf_t *peers, size_t n_peers, char *err,
	   size_t errlen)
{
	sync_t *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->conf = *conf;
	if (s->conf.heartbeat_ms < 100)
		s->conf.heartbeat_ms = 1000;
	if (s->conf.reconcile_interval_s == 0)
		s->conf.reconcile_interval_s = 60;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->cmd_lock, NULL);
	s->ctx = zmq_ctx_new();
	/* The ZAP handler exists before any CURVE socket binds (PITFALLS 1). */
	s->zap = zmq_socket(s->ctx, ZMQ_REP);
	if (zmq_bind(s->zap, "inproc://zeromq.zap.01") != 0) {
		snprintf(err, errlen, "cannot start the ZAP handler: %s", zmq_strerror(errno));
		goto fail;
	}
	s->cmd_in = zmq_socket(s->ctx, ZMQ_PULL);
	s->cmd_out = zmq_socket(s->ctx, ZMQ_PUSH);
	zmq_bind(s->cmd_in, CMD_ENDPOINT);
	zmq_connect(s->cmd_out, CMD_ENDPOINT);
	if (s_bind_server(s, err, errlen) != 0)
		goto fail;
	for (size_t i = 0; i < n_peers; i++) {
		link_t *l = s_link_new(s, peers[i].site_key);
		if (l == NULL)
			break;
		snprintf(l->st.endpoint, sizeof(l->st.endpoint), "%s", peers[i].endpoint);
		s_dial(s, l);
	}
	if (pthread_create(&s->thread, NULL, s_main, s) != 0) {
		snprintf(err, errlen, "cannot start the sync thread");
		goto fail;
	}
	return s;
fail:
	if (s->srv)
		zmq_close(s->srv);
	if (s->zap)
		zmq_close(s->zap);
	if (s->cmd_in)
		zmq_close(s->cmd_in);
	if (s->cmd_out)
		zmq_close(s->cmd_out);
	for (int i = 0; i < SYNC_MAX_PEERS; i++)
		if (s->links[i].dealer)
			zmq_close(s->links[i].dealer);
	zmq_ctx_term(s->ctx);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->cmd_lock);
	free(s);
	return NULL;
}

void
sync_stop(sync_t **self_p)
{
	sync_t *s = *self_p;

	if (s == NULL)
		return;
	s_cmd(s, CMD_STOP, NULL, 0);
	pthread_join(s->thread, NULL);
	for (int i = 0; i < SYNC_MAX_PEERS; i++)
		if (s->links[i].dealer)
			zmq_close(s->links[i].dealer);
	if (s->srv)
		zmq_close(s->srv);
	zmq_close(s->zap);
	zmq_close(s->cmd_in);
	zmq_close(s->cmd_out);
	zmq_ctx_term(s->ctx);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->cmd_lock);
	free(s);
	*self_p = NULL;
}

void
sync_announce(sync_t *s, const uint8_t (*ids)[CPT_ID_LEN], size_t n)
{
	if (s && n)
		s_cmd(s, CMD_ANNOUNCE, ids, n * CPT_ID_LEN);
}

void
sync_add_peer(sync_t *s, const sync_peer_conf_t *peer)
{
	if (s)
		s_cmd(s, CMD_ADD_PEER, peer, sizeof(*peer));
}

void
sync_recheck(sync_t *s)
{
	if (s)
		s_cmd(s, CMD_RECHECK, NULL, 0);
}

size_t
sync_status(sync_t *s, sync_peer_status_t *out, size_t max)
{
	size_t k = 0;

	if (s == NULL)
		return 0;
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < SYNC_MAX_PEERS && k < max; i++)
		if (s->links[i].used)
			out[k++] = s->links[i].st;
	pthread_mutex_unlock(&s->lock);
	return k;
}

unsigned
sync_port(sync_t *s)
{
	return s ? s->port : 0;
}
