/*
 * Links to peer sites: the sockets (the ROUTER peers dial, a DEALER and its
 * monitor per peer we dial), dialing with back-off, liveness (HELLO, PING,
 * silence), up and down, bans of hostile peers and the close of revoked ones.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/sync_internal.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93 /* draft option, accepted by Debian's libzmq 4.3.4 */
#endif

#define BAN_MS      60000 /* a hostile peer is shut out this long */
#define DIAL_MIN_MS 500   /* first redial after a refused handshake */
#define DIAL_MAX_MS 8000  /* longest wait between dials */
#define MON_EVENTS                                                                                 \
	(ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |                    \
	 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |                   \
	 ZMQ_EVENT_DISCONNECTED)

const char *
link_name(const link_t *l)
{
	return l->st.site[0] ? l->st.site : "?";
}

/* ------------------------------------------------------------- sockets */

/*
 * Options of every peer socket. ZMTP heartbeats stay off although PITFALLS 6
 * recommends them: in libzmq 4.3.4 a heartbeat timer firing on a connection
 * whose input is stopped (our queue from a flooding peer is full) after that
 * connection failed (the peer reset it) asserts in stream_engine_base.cpp
 * (!_io_error) and aborts the process. Liveness comes from our own PING/PONG
 * (link_tick), dead dialed links are redialed, and TCP keepalive reaps dead
 * incoming connections.
 */
static void
s_common_opts(sync_t *s, void *sock)
{
	int zero = 0, one = 1, idle = 60, intvl = 10, cnt = 3;
	int64_t max = (int64_t)s->recv_limit + 1024;
	int hwm = 2000;

	zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max, sizeof(max));
	zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(sock, ZMQ_TCP_KEEPALIVE, &one, sizeof(one));
	zmq_setsockopt(sock, ZMQ_TCP_KEEPALIVE_IDLE, &idle, sizeof(idle));
	zmq_setsockopt(sock, ZMQ_TCP_KEEPALIVE_INTVL, &intvl, sizeof(intvl));
	zmq_setsockopt(sock, ZMQ_TCP_KEEPALIVE_CNT, &cnt, sizeof(cnt));
}

int
link_listen(sync_t *s, char *err, size_t errlen)
{
	int one = 1, rc;
	char ep[CFG_MAX_STR];
	size_t eplen = sizeof(ep);

	if (s->conf.listen[0] == 0)
		return 0;
	s->srv = zmq_socket(s->ctx, ZMQ_ROUTER);
	if (s->srv == NULL) {
		snprintf(err, errlen, "cannot create the peer socket: %s", zmq_strerror(errno));
		return -1;
	}
	s_common_opts(s, s->srv);
	zmq_setsockopt(s->srv, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
	zmq_setsockopt(s->srv, ZMQ_CURVE_SERVER, &one, sizeof(one));
	zmq_setsockopt(s->srv, ZMQ_CURVE_SECRETKEY, key_curve_secret(s->conf.curve), 32);
	zmq_setsockopt(s->srv, ZMQ_ZAP_DOMAIN, SYNC_ZAP_DOMAIN, strlen(SYNC_ZAP_DOMAIN));
	/* Without this, a missing handler would let anyone in (PITFALLS 1). */
	if (zmq_setsockopt(s->srv, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof(one)) != 0) {
		snprintf(err, errlen, "libzmq refuses ZMQ_ZAP_ENFORCE_DOMAIN: cannot fail closed");
		zmq_close(s->srv);
		s->srv = NULL;
		return -1;
	}
	rc = zmq_bind(s->srv, s->conf.listen);
	if (rc != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", s->conf.listen,
		         zmq_strerror(errno));
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

/*
 * Closes the connection a peer dialed us on. libzmq 4.3 cannot close one
 * peer of a ROUTER (and closing the whole ROUTER drops every site and races
 * the rebind of its port), so the engine shuts down the reading side of the
 * TCP socket under libzmq: libzmq reads the end of the stream once it has
 * room for more input, and tears the session down as if the peer had gone.
 * Only the reading side: a full shutdown raises EPOLLHUP even while libzmq
 * has stopped reading that connection, which 4.3.4 does not survive (see
 * s_common_opts). The descriptor comes from the peer's last message
 * (ZMQ_SRCFD); its peer address is compared first so that a descriptor
 * number reused by another connection is never touched. The peer dials
 * again and meets ZAP, which refuses it while it is banned or revoked.
 */
void
link_drop_incoming(link_t *l)
{
	struct sockaddr_storage now;
	socklen_t len = sizeof(now);

	if (l->fd >= 0 && l->fd_addr_len > 0 &&
	    getpeername(l->fd, (struct sockaddr *)&now, &len) == 0 && len == l->fd_addr_len &&
	    memcmp(&now, &l->fd_addr, len) == 0)
		shutdown(l->fd, SHUT_RD);
	l->fd = -1;
	l->fd_addr_len = 0;
	l->rid_len = 0;
}

link_t *
link_by_key(sync_t *s, const uint8_t key[CPT_KEY_LEN])
{
	for (int i = 0; i < s->n_links; i++)
		if (s->links[i].used && memcmp(s->links[i].st.site_key, key, CPT_KEY_LEN) == 0)
			return &s->links[i];
	return NULL;
}

/*
 * Every link is taken: the peer is refused, and that is said once per key
 * (a log line naming it and the limit, the count in sync_over_limit) rather
 * than at each of its messages.
 */
static void
s_over_limit(sync_t *s, const uint8_t key[CPT_KEY_LEN])
{
	char hex[CPT_HEX_ID];

	if (s->over_keys == NULL &&
	    (s->over_keys = calloc(SYNC_MAX_PEERS, sizeof(*s->over_keys))) == NULL)
		return;
	for (uint64_t i = 0; i < s->over_limit && i < SYNC_MAX_PEERS; i++)
		if (memcmp(s->over_keys[i], key, CPT_KEY_LEN) == 0)
			return;
	if (s->over_limit == SYNC_MAX_PEERS)
		return;
	memcpy(s->over_keys[s->over_limit], key, CPT_KEY_LEN);
	pthread_mutex_lock(&s->lock);
	s->over_limit++;
	pthread_mutex_unlock(&s->lock);
	cpt_hex32(hex, key);
	log_errorx("sync", "peer refused: site key %s would be link %d, over the limit of %d links",
	           hex, SYNC_MAX_PEERS + 1, SYNC_MAX_PEERS);
}

link_t *
link_new(sync_t *s, const uint8_t key[CPT_KEY_LEN])
{
	link_t *l = link_by_key(s, key);

	if (l)
		return l;
	for (int i = 0; i < SYNC_MAX_PEERS; i++)
		if (!s->links[i].used) {
			l = &s->links[i];
			pthread_mutex_lock(&s->lock);
			memset(l, 0, sizeof(*l));
			l->used = 1;
			l->fd = -1;
			l->backoff_ms = DIAL_MIN_MS;
			memcpy(l->st.site_key, key, CPT_KEY_LEN);
			if (i >= s->n_links)
				s->n_links = i + 1;
			pthread_mutex_unlock(&s->lock);
			return l;
		}
	s_over_limit(s, key);
	return NULL;
}

void
link_add(sync_t *s, const sync_peer_conf_t *pc)
{
	link_t *l = link_new(s, pc->site_key);

	/* Dialing itself happens in link_tick, which respects bans and the
	 * backoff after a refused handshake. */
	if (l && strncmp(l->st.endpoint, pc->endpoint, sizeof(l->st.endpoint)) != 0) {
		link_close_dealer(l);
		pthread_mutex_lock(&s->lock);
		snprintf(l->st.endpoint, sizeof(l->st.endpoint), "%s", pc->endpoint);
		pthread_mutex_unlock(&s->lock);
		l->next_dial_ms = 0;
		l->dial_warned = 0;
	}
}

static void
s_set_site(sync_t *s, link_t *l, const char *site)
{
	pthread_mutex_lock(&s->lock);
	snprintf(l->st.site, sizeof(l->st.site), "%s", site);
	pthread_mutex_unlock(&s->lock);
}

int
link_learn(sync_t *s, link_t *l)
{
	uint8_t curve[CPT_KEY_LEN];
	char site[64] = "";

	if (s->conf.ops.lookup(s->conf.ops.ctx, l->st.site_key, curve, site) != 0)
		return -1;
	memcpy(l->curve, curve, CPT_KEY_LEN);
	l->has_curve = 1;
	if (strcmp(site, l->st.site) != 0)
		s_set_site(s, l, site);
	return 0;
}

/*
 * Closes the dealer of a link and its monitor. libzmq 4.3 sends monitor
 * events with a blocking send from its I/O thread: an event raised while the
 * dealer is torn down, after our end of the monitor pipe is gone (or while
 * that pipe is full), blocks the I/O thread for good, and every link of the
 * node with it. So: drain what is pending, stop the monitor, then close.
 */
void
link_close_dealer(link_t *l)
{
	if (l->mon) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		while (zmq_msg_recv(&m, l->mon, ZMQ_DONTWAIT) >= 0)
			;
		zmq_msg_close(&m);
	}
	if (l->dealer) {
		zmq_socket_monitor(l->dealer, NULL, 0);
		zmq_close(l->dealer);
		l->dealer = NULL;
	}
	if (l->mon) {
		zmq_close(l->mon);
		l->mon = NULL;
	}
}

/* Dials a peer: CURVE client expecting the server key of its certificate,
 * and only while that certificate stands (a revoked site is not dialed). */
static void
s_dial(sync_t *s, link_t *l)
{
	int one = 1, zero = 0, ivl = 200, ivl_max = 5000;
	uint8_t sign[CPT_KEY_LEN];
	char site[64], mon_ep[64], hex[CPT_HEX_ID];
	const char *why = NULL;
	int revoked = 0;

	if (l->dealer || l->st.endpoint[0] == 0)
		return;
	l->next_dial_ms = sync_now_ms() + DIAL_MAX_MS; /* unless all goes well below */
	if (link_learn(s, l) != 0)
		why = "no certificate for this site";
	else if ((revoked = !s->conf.ops.admit(s->conf.ops.ctx, l->curve, sign, site) ||
	                    memcmp(sign, l->st.site_key, CPT_KEY_LEN) != 0))
		why = "its certificate is revoked or expired";
	/* What the status page shows: a revoked site is not an outage. */
	pthread_mutex_lock(&s->lock);
	l->st.revoked = revoked;
	pthread_mutex_unlock(&s->lock);
	if (why) {
		if (!l->dial_warned) {
			cpt_hex32(hex, l->st.site_key);
			log_warnx("sync", "not dialing peer site=%s key=%s endpoint=%s: %s",
			          link_name(l), hex, l->st.endpoint, why);
			l->dial_warned = 1;
		}
		return;
	}
	l->dealer = zmq_socket(s->ctx, ZMQ_DEALER);
	if (l->dealer == NULL)
		return;
	s_common_opts(s, l->dealer);
	/* Queue nothing for a link that is not up: HELLO is resent until it is. */
	zmq_setsockopt(l->dealer, ZMQ_IMMEDIATE, &one, sizeof(one));
	zmq_setsockopt(l->dealer, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
	zmq_setsockopt(l->dealer, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof(ivl_max));
	zmq_setsockopt(l->dealer, ZMQ_CURVE_SERVERKEY, l->curve, 32);
	zmq_setsockopt(l->dealer, ZMQ_CURVE_PUBLICKEY, key_curve_public(s->conf.curve), 32);
	zmq_setsockopt(l->dealer, ZMQ_CURVE_SECRETKEY, key_curve_secret(s->conf.curve), 32);
	/* A refused handshake is final for libzmq (PITFALLS 3): watch for it and
	 * dial again later, when the peer may have learnt our certificate. */
	snprintf(mon_ep, sizeof(mon_ep), "inproc://comptoir-sync-mon-%u", s->mon_seq++);
	if (zmq_socket_monitor(l->dealer, mon_ep, MON_EVENTS) == 0) {
		if ((l->mon = zmq_socket(s->ctx, ZMQ_PAIR)) != NULL) {
			zmq_setsockopt(l->mon, ZMQ_LINGER, &zero, sizeof(zero));
			if (zmq_connect(l->mon, mon_ep) != 0) {
				zmq_close(l->mon);
				l->mon = NULL;
			}
		}
		if (l->mon == NULL) /* nobody would read its events: see link_close_dealer */
			zmq_socket_monitor(l->dealer, NULL, 0);
	}
	if (zmq_connect(l->dealer, l->st.endpoint) != 0) {
		log_warnx("sync", "cannot dial %s: %s", l->st.endpoint, zmq_strerror(errno));
		link_close_dealer(l);
		return;
	}
	l->next_dial_ms = 0;
	l->dial_warned = 0;
	l->dial_ms = sync_now_ms();
	l->dealer_check = l->mon_check = 1; /* new sockets: looked at once */
	log_info("sync", "dialing peer site=%s endpoint=%s", link_name(l), l->st.endpoint);
}

/* ----------------------------------------------------------- sending */

int
link_send(sync_t *s, link_t *l, int type, const void *const *frames, const size_t *lens, size_t n)
{
	uint8_t head[2] = {SYNC_VERSION, (uint8_t)type};
	void *sock = l->dealer;
	size_t bytes = 2;

	if (l->ban_until_ms > sync_now_ms() || l->revoked)
		return -1;
	/* A send may take in what libzmq queued for the socket, its descriptor
	 * then silent: the loop looks at a socket sent on (engine.c). */
	l->dealer_check |= sock != NULL;
	/* The link we dial first; the one it dialed when ours is not up. */
	if (sock == NULL || zmq_send(sock, head, 2, ZMQ_DONTWAIT | (n ? ZMQ_SNDMORE : 0)) < 0) {
		if (l->rid_len == 0 || s->srv == NULL)
			return -1;
		sock = s->srv;
		s->srv_check = 1;
		if (zmq_send(sock, l->rid, l->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
			return -1;
		if (zmq_send(sock, head, 2, ZMQ_DONTWAIT | (n ? ZMQ_SNDMORE : 0)) < 0)
			return -1;
	}
	for (size_t i = 0; i < n; i++) {
		/* Once the first frame is queued, the rest of the message follows. */
		zmq_send(sock, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0);
		bytes += lens[i];
	}
	l->last_tx_ms = sync_now_ms();
	log_debug("sync", "trace send site=%s type=%d frames=%zu bytes=%zu", link_name(l), type, n,
	          bytes);
	pthread_mutex_lock(&s->lock);
	l->st.bytes_out += bytes;
	l->st.msgs_out++;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int
link_up(const link_t *l)
{
	return l->st.connected && (l->dealer || l->rid_len);
}

int
link_send_hello(sync_t *s, link_t *l)
{
	uint8_t b[CPT_KEY_LEN + 64];
	size_t nl = strlen(s->conf.site);
	const void *f[1] = {b};
	size_t len[1];

	if (nl > 63)
		nl = 63;
	memcpy(b, s->conf.site_key, CPT_KEY_LEN);
	memcpy(b + CPT_KEY_LEN, s->conf.site, nl);
	len[0] = CPT_KEY_LEN + nl;
	return link_send(s, l, SYNC_HELLO, f, len, 1);
}

void
link_knock(sync_t *s, link_t *l, uint64_t now)
{
	if (l->st.connected || l->dealer == NULL) {
		l->knock_ms = 0;
		return;
	}
	l->hello_ms = now;
	if (link_send_hello(s, l) == 0) {
		l->knock_ms = 0;
		reconcile_open_early(s, l);
	} else if (--l->knock_tries <= 0) {
		l->knock_ms = 0;
	} else {
		l->knock_ms = now + 2;
	}
}

/* ---------------------------------------------------------- link state */

void
link_set_connected(sync_t *s, link_t *l, int up)
{
	if (l->st.connected == up)
		return;
	pthread_mutex_lock(&s->lock);
	l->st.connected = up;
	atomic_fetch_add(&s->links_up, up ? 1 : -1);
	l->st.since_ms = sync_wall_ms();
	l->st.settled = 0;
	if (up)
		l->st.refused = 0;
	else
		l->st.to_receive = 0;
	pthread_mutex_unlock(&s->lock);
	l->hello_in = 0;
	l->knock_ms = 0;
	s->timers_due = 1; /* its deadlines are others now */
	/* Whatever was queued for it was for the connection that ended: the
	 * reconciliation of the new one finds what it still lacks. */
	flow_reset(s, l);
	blob_link_reset(s, l, up);
	log_info("sync", "peer %s site=%s", up ? "connected" : "disconnected", link_name(l));
	l->recon_owed = 0; /* either way, owed no longer: up reconciles now */
	if (up && !l->recon_early)
		reconcile_schedule_recent(l);
	else if (!up)
		l->recon_due = l->recon_recent = 0;
	/* Opened already, behind our HELLO (reconcile_open_early): its answer
	 * comes after the peer's HELLO that brings the link up here. */
	l->recon_early = 0;
}

void
link_ban(sync_t *s, link_t *l, const char *why)
{
	char hex[CPT_HEX_ID];

	cpt_hex32(hex, l->st.site_key);
	log_warnx("sync", "disconnecting peer site=%s key=%s for %d s: %s", link_name(l), hex,
	          BAN_MS / 1000, why);
	l->ban_until_ms = sync_now_ms() + BAN_MS;
	l->bad = 0;
	s->timers_due = 1;
	link_set_connected(s, l, 0);
	link_close_dealer(l);
	l->next_dial_ms = l->ban_until_ms;
	link_drop_incoming(l);
}

void
link_malformed(sync_t *s, link_t *l, int type, size_t n)
{
	pthread_mutex_lock(&s->lock);
	l->st.rejected++;
	pthread_mutex_unlock(&s->lock);
	log_warnx("sync", "malformed message from site=%s (type %d, %zu frames)", link_name(l),
	          type, n);
	if (++l->bad >= BAD_LIMIT)
		link_ban(s, l, "too many malformed messages");
}

void
link_revoked_close(link_t *l)
{
	link_close_dealer(l);
	link_drop_incoming(l);
	l->close_ms = 0;
	l->grace_acks = 0;
}

/* Events of the monitor of a link we dial: a refused handshake means the
 * peer does not (yet) know us, or it is not who its certificate says. */
int
link_on_monitor(sync_t *s, link_t *l)
{
	zmq_msg_t m[2];
	int overflow;
	size_t n = recv_msg(l->mon, m, 2, &overflow);
	uint16_t ev = 0;
	uint32_t value = 0;

	if (n == 0)
		return 0;
	if (n == 2 && zmq_msg_size(&m[0]) >= 6) {
		memcpy(&ev, zmq_msg_data(&m[0]), 2);
		memcpy(&value, (uint8_t *)zmq_msg_data(&m[0]) + 2, 4);
	}
	for (size_t i = 0; i < n; i++)
		zmq_msg_close(&m[i]);
	switch (ev) {
	case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
		log_debug("sync", "trace handshake succeeded site=%s", link_name(l));
		l->backoff_ms = DIAL_MIN_MS;
		/* The link is back: knock now, not at the next heartbeat. The
		 * session's pipe may attach a moment after this event, so a
		 * HELLO that finds no connection is tried again shortly. */
		l->knock_ms = sync_now_ms();
		l->knock_tries = 50;
		pthread_mutex_lock(&s->lock);
		l->st.refused = 0;
		pthread_mutex_unlock(&s->lock);
		break;
	case ZMQ_EVENT_DISCONNECTED: link_set_connected(s, l, 0); break;
	case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
	case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
	case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
		/* Refused at its ZAP stage (the value is the ZAP status code): it
		 * does not admit this site — our certificate has not reached it
		 * yet, or we are revoked. The status says so, not "unreachable". */
		if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
			log_warnx(
			    "sync",
			    "handshake with peer site=%s endpoint=%s failed: refused by %s: not "
			    "admitted (it does not hold this site's certificate yet, or this site "
			    "is "
			    "revoked): dialing again in %u ms",
			    link_name(l), l->st.endpoint, link_name(l), (unsigned)l->backoff_ms);
		else
			log_warnx("sync",
			          "handshake with peer site=%s endpoint=%s failed (the peer does "
			          "not hold "
			          "the key of its certificate, or speaks another protocol): "
			          "dialing again "
			          "in %u ms",
			          link_name(l), l->st.endpoint, (unsigned)l->backoff_ms);
		pthread_mutex_lock(&s->lock);
		l->st.refused =
		    ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? (value ? (int)value : 400) : 0;
		pthread_mutex_unlock(&s->lock);
		link_set_connected(s, l, 0);
		link_close_dealer(l);
		l->next_dial_ms = sync_now_ms() + l->backoff_ms;
		l->backoff_ms = l->backoff_ms * 2 > DIAL_MAX_MS ? DIAL_MAX_MS : l->backoff_ms * 2;
		s->timers_due = 1;
		break;
	}
	return 1;
}

int
link_tick(sync_t *s, link_t *l, uint64_t now)
{
	uint64_t hb = s->conf.heartbeat_ms;

	if (l->revoked && l->close_ms && now >= l->close_ms)
		link_revoked_close(l);
	if (l->dealer == NULL && l->st.endpoint[0] && !l->revoked && now >= l->next_dial_ms &&
	    l->ban_until_ms <= now)
		s_dial(s, l);
	/* Silence means nothing while we do not read it (recv_held): the
	 * deadlines count from when we listen again. */
	if (recv_held(s, l))
		l->last_rx_ms = now;
	if (l->st.connected && sync_since(now, l->last_rx_ms) > 3 * hb)
		link_set_connected(s, l, 0);
	if (!l->st.connected) {
		/* Knock until the peer answers: HELLO brings the link up. A
		 * connection silent that long may be dead (no ZMTP heartbeats):
		 * dial afresh. */
		if (l->dealer &&
		    sync_since(now, l->dial_ms > l->last_rx_ms ? l->dial_ms : l->last_rx_ms) >
		        (10 * hb > 5000 ? 10 * hb : 5000)) {
			link_close_dealer(l);
			l->next_dial_ms = now;
		} else if (l->dealer && sync_since(now, l->hello_ms) >= hb) {
			l->hello_ms = now;
			link_send_hello(s, l);
		}
		return 0;
	}
	if (sync_since(now, l->last_tx_ms) >= hb)
		link_send(s, l, SYNC_PING, NULL, NULL, 0);
	return 1;
}

/* A deadline already past means its action was tried and could not go
 * (a full queue): it is tried again a little later, not in a spin. */
static uint64_t
s_after(uint64_t t, uint64_t now)
{
	return t > now ? t : now + 50;
}

uint64_t
link_next_ms(const sync_t *s, const link_t *l, uint64_t now)
{
	uint64_t hb = s->conf.heartbeat_ms, next = UINT64_MAX, t;

	if (l->revoked && l->close_ms)
		next = s_after(l->close_ms, now);
	if (l->dealer == NULL && l->st.endpoint[0] && !l->revoked) {
		t = l->next_dial_ms > l->ban_until_ms ? l->next_dial_ms : l->ban_until_ms;
		next = t < next ? s_after(t, now) : next;
	}
	if (l->st.connected) {
		t = s_after(l->last_rx_ms + 3 * hb + 1, now);
		next = t < next ? t : next;
		t = s_after(l->last_tx_ms + hb, now);
		next = t < next ? t : next;
	} else if (l->dealer) {
		uint64_t from = l->dial_ms > l->last_rx_ms ? l->dial_ms : l->last_rx_ms;
		t = s_after(from + (10 * hb > 5000 ? 10 * hb : 5000) + 1, now);
		next = t < next ? t : next;
		t = s_after(l->hello_ms + hb, now);
		next = t < next ? t : next;
	}
	return next == UINT64_MAX ? 0 : next;
}
