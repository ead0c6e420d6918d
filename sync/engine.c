/*
 * The sync engine: one thread owning every ZeroMQ socket — the ROUTER peers
 * dial, one DEALER (and its monitor) per peer we dial, the ZAP handler, and
 * the command pipe. It pushes new events to connected peers, relays what it
 * receives, and reconciles both sets on every (re)connect and periodically.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <sodium.h>
#include <zmq.h>

#include "sync/sync.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93 /* draft option, accepted by Debian's libzmq 4.3.4 */
#endif

#define MAX_FRAMES     1002   /* routing id + type frame + 1000 envelopes */
#define RANGES_MAX     64     /* ranges a peer lacks, queued for streaming */
#define WANT_MAX       8000   /* ids per WANT: 256 KB */
#define MSG_FLOOR      (1024 * 1024) /* every node accepts messages this big, sends none bigger */
#define BATCH_EVENTS   1000   /* envelopes per EVENTS */
#define WANTQ_MAX      16384  /* ids a peer may have asked for and not received yet */
#define WINDOW         12     /* EVENTS messages answering WANTs sent and not yet ACKed */
#define JOBS_MAX       12     /* batches on their way to the store before reading stops */
#define ACK_WAIT_MS    5000   /* an ACK not back by then is taken as lost */
#define BAN_MS         60000  /* a hostile peer is shut out this long */
#define BAD_LIMIT      20     /* malformed messages or forged events before a ban */
#define FLOOD_MSGS     20000  /* messages per second from one peer beyond which it is banned */
#define DIAL_MIN_MS    500    /* first redial after a refused handshake */
#define DIAL_MAX_MS    8000   /* longest wait between dials */
#define READ_BURST     64     /* messages read from one socket per round */
#define REVOKE_GRACE_MS 1000  /* a revoked peer's link stays open this long for what was sent */
#define CMD_ENDPOINT   "inproc://comptoir-sync-cmd"
#define MON_EVENTS                                                                             \
	(ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |                \
	 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |               \
	 ZMQ_EVENT_DISCONNECTED)

enum cmd { CMD_STOP = 1, CMD_ANNOUNCE, CMD_ADD_PEER, CMD_RECHECK, CMD_OFFER, CMD_PUT_DONE };

/* One peer site: how to reach it and what we know of the link. */
typedef struct link {
	int used;                       /* slot in use */
	sync_peer_status_t st;          /* what the status page shows (under sync.lock) */
	uint8_t curve[CPT_KEY_LEN];     /* its transport key */
	int has_curve;                  /* curve is known (from its certificate) */
	/* the link we dial */
	void *dealer;                   /* socket when we dial it, else NULL */
	void *mon;                      /* PAIR reading the dealer's monitor events */
	uint64_t next_dial_ms;          /* do not dial before then */
	uint64_t dial_ms;               /* when the dealer was made */
	uint32_t backoff_ms;            /* next wait after a refused handshake */
	int dial_warned;                /* "cannot dial" logged since the last success */
	/* the link it dialed */
	uint8_t rid[256];               /* routing id on our ROUTER when it dialed us */
	size_t rid_len;                 /* 0 when it has not */
	int fd;                         /* connection its last message came in on, or -1 */
	struct sockaddr_storage fd_addr;/* that connection's peer address */
	socklen_t fd_addr_len;          /* its length, 0 when unknown */
	/* state */
	uint64_t last_rx_ms;            /* last message from it */
	uint64_t last_tx_ms;            /* last message to it */
	uint64_t ban_until_ms;          /* shut out until then */
	int revoked;                    /* no longer certified: every message dropped */
	uint64_t close_ms;              /* revoked: close its connections then, or at the ACK of
	                                   what was in flight (the revocation itself) */
	int grace_acks;                 /* ACKs still awaited before that close */
	int bad;                        /* malformed messages and forged events seen */
	uint64_t win_ms;                /* start of the current one-second window */
	uint32_t win_msgs;              /* messages received in it */
	int hello_in;                   /* it said HELLO since the link came up */
	/* reconciliation (recon.c): we open a session when due */
	int recon_due;                  /* a reconciliation should start */
	uint64_t reconcile_ms;          /* when the current (or last) one started */
	/* ranges the peer lacks entirely, streamed as its ACKs come back */
	uint8_t ranges[RANGES_MAX][2][SYNC_TSID_LEN]; /* [lo, hi) */
	size_t n_ranges;                /* how many queued */
	uint8_t range_at[SYNC_TSID_LEN];/* cursor in the first range */
	int range_at_set;               /* cursor is set */
	uint64_t stream_left;           /* events of the queued ranges not yet queued to send */
	uint64_t backlog_said;          /* what our last BACKLOG to it said */
	uint64_t backlog_ms;            /* when */
	uint64_t rate_mark;             /* st.received at the last rate tick */
	/* events it asked for, sent as its ACKs come back (flow control) */
	uint8_t (*wantq)[CPT_ID_LEN];   /* queued ids, malloc'd while non-empty */
	size_t wq_head, wq_len;         /* next to send, end */
	int inflight;                   /* EVENTS sent and not yet ACKed */
	size_t storing;                 /* its EVENTS messages on their way to our store */
	uint64_t inflight_ms;           /* last EVENTS sent or ACK received */
	uint64_t inflight_events;       /* envelopes in them */
} link_t;

/* EVENTS received, ingested together: one put job (s_batch_flush), back
 * through sync_put_done once committed (s_batch_done). */
typedef struct inbatch {
	sync_put_t job;                 /* what ops.put sees */
	sync_t *s;                      /* the engine */
	zmq_msg_t env[BATCH_EVENTS];    /* the envelope frames, moved out of their messages */
	size_t n_env;                   /* how many */
	size_t bytes;                   /* their total size */
	struct {
		link_t *l;              /* who sent it */
		size_t first, count;    /* its envelopes in env[] */
	} msgs[BATCH_EVENTS];           /* the messages they came in */
	size_t n_msgs;                  /* how many */
	const uint8_t *bufs[BATCH_EVENTS]; /* job.buf */
	size_t lens[BATCH_EVENTS];      /* job.len */
	int rc[BATCH_EVENTS];           /* job.rc */
	uint8_t ids[BATCH_EVENTS][CPT_ID_LEN]; /* job.ids */
} inbatch_t;

/* Connections refused at the ZAP stage are logged per address and key:
 * the first of a minute in full, the next ones counted and summed up in one
 * line at the end of the minute (a site redialing every few seconds, or a
 * flood from one address, writes two lines a minute). Past REFUSED_SLOTS
 * pairs, one line a minute counts all the others: whatever the flood, a
 * bounded number of lines. */
#define REFUSED_SLOTS     64
#define REFUSED_WINDOW_MS 60000

typedef struct refused {
	char addr[64];          /* the client's address (ZAP's Address), "" when free */
	char key[CPT_HEX_ID];   /* the CURVE key it presented, in hex ("?" when none) */
	uint64_t since_ms;      /* when its window began (the refusal logged in full) */
	uint64_t more;          /* refusals since, not logged yet */
} refused_t;

struct sync {
	sync_conf_t conf;               /* settings */
	void *ctx;                      /* ZeroMQ context */
	void *srv;                      /* ROUTER peers dial, or NULL */
	void *zap;                      /* ZAP handler (REP) */
	void *cmd_in;                   /* command pipe, engine side */
	void *cmd_out;                  /* command pipe, callers' side (under cmd_lock) */
	pthread_mutex_t cmd_lock;       /* serialises callers of cmd_out */
	pthread_t thread;               /* the engine */
	pthread_mutex_t lock;           /* guards links[].st and links[].used for sync_status */
	link_t links[SYNC_MAX_PEERS];   /* peers */
	unsigned port;                  /* bound port */
	unsigned mon_seq;               /* names monitor endpoints uniquely */
	size_t want_max;                /* ids per WANT */
	recon_t *recon;                 /* reconciliation state, shared: one message at a time */
	link_t *recon_link;             /* the link whose message is being processed */
	uint8_t *recon_out;             /* its answer, send_cap bytes */
	uint64_t rate_ms;               /* last rate tick */
	size_t recv_limit;              /* largest message accepted: max(max_msg, MSG_FLOOR) */
	size_t send_cap;                /* largest message sent (see sync_start) */
	uint64_t next_reconcile_ms;     /* periodic reconciliation */
	int recheck_due;                /* a recheck asked from the engine thread itself */
	inbatch_t *in;                  /* envelopes waiting for the end of this round, or NULL */
	size_t jobs_out;                /* batches given to ops.put, not done yet */
	int stop;                       /* leave the loop */
	int thread_started;             /* the engine thread ran (s_free) */
	refused_t refused[REFUSED_SLOTS]; /* addresses refused lately, for the log */
	uint64_t refused_other;         /* refusals of addresses past the table, not logged */
	uint64_t refused_other_since;   /* when the first of those came */
	uint64_t refused_check_ms;      /* when the windows were last looked at */
};

/* The engine whose thread this is, NULL on other threads. */
static _Thread_local sync_t *s_engine;

/* Milliseconds on the monotonic clock: every timer and deadline. */
static uint64_t
s_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Unsigned big-endian integers of n bytes (ACK, BACKLOG). */
static void
s_be_put(uint8_t *b, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t
s_be_get(const uint8_t *b, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | b[i];
	return v;
}

/* Milliseconds since the epoch: only for what the status page shows. */
static uint64_t
s_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Time from then to now, 0 when then is later (set after now was read). */
static uint64_t
s_since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

static void
s_hex(char out[CPT_HEX_ID], const uint8_t k[32])
{
	cpt_hex32(out, k);
}

static const char *
s_name(const link_t *l)
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
 * (s_timers), dead dialed links are redialed, and TCP keepalive reaps dead
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
static void
s_drop_incoming(link_t *l)
{
	struct sockaddr_storage now;
	socklen_t len = sizeof(now);

	if (l->fd >= 0 && l->fd_addr_len > 0 && getpeername(l->fd, (struct sockaddr *)&now, &len) == 0 &&
	    len == l->fd_addr_len && memcmp(&now, &l->fd_addr, len) == 0)
		shutdown(l->fd, SHUT_RD);
	l->fd = -1;
	l->fd_addr_len = 0;
	l->rid_len = 0;
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
			pthread_mutex_lock(&s->lock);
			memset(l, 0, sizeof(*l));
			l->used = 1;
			l->fd = -1;
			l->backoff_ms = DIAL_MIN_MS;
			memcpy(l->st.site_key, key, CPT_KEY_LEN);
			pthread_mutex_unlock(&s->lock);
			return l;
		}
	return NULL;
}

static void
s_set_site(sync_t *s, link_t *l, const char *site)
{
	pthread_mutex_lock(&s->lock);
	snprintf(l->st.site, sizeof(l->st.site), "%s", site);
	pthread_mutex_unlock(&s->lock);
}

/* Learns a link's transport key and site name from its certificate. */
static int
s_learn(sync_t *s, link_t *l)
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
static void
s_close_dealer(link_t *l)
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
	l->next_dial_ms = s_now() + DIAL_MAX_MS; /* unless all goes well below */
	if (s_learn(s, l) != 0)
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
			s_hex(hex, l->st.site_key);
			log_warnx("sync", "not dialing peer site=%s key=%s endpoint=%s: %s", s_name(l), hex,
				  l->st.endpoint, why);
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
		if (l->mon == NULL) /* nobody would read its events: see s_close_dealer */
			zmq_socket_monitor(l->dealer, NULL, 0);
	}
	if (zmq_connect(l->dealer, l->st.endpoint) != 0) {
		log_warnx("sync", "cannot dial %s: %s", l->st.endpoint, zmq_strerror(errno));
		s_close_dealer(l);
		return;
	}
	l->next_dial_ms = 0;
	l->dial_warned = 0;
	l->dial_ms = s_now();
	log_info("sync", "dialing peer site=%s endpoint=%s", s_name(l), l->st.endpoint);
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

	if (l->ban_until_ms > s_now() || l->revoked)
		return -1;
	/* The link we dial first; the one it dialed when ours is not up. */
	if (sock == NULL || zmq_send(sock, head, 2, ZMQ_DONTWAIT | (n ? ZMQ_SNDMORE : 0)) < 0) {
		if (l->rid_len == 0 || s->srv == NULL)
			return -1;
		sock = s->srv;
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

	if (nl > 63)
		nl = 63;
	memcpy(b, s->conf.site_key, CPT_KEY_LEN);
	memcpy(b + CPT_KEY_LEN, s->conf.site, nl);
	len[0] = CPT_KEY_LEN + nl;
	s_send(s, l, SYNC_HELLO, f, len, 1);
}

/*
 * Sends events (by id) to a link in EVENTS messages of bounded size; returns
 * how many messages went out. Envelopes that arrive without a body (erased by
 * a redaction) go after the others: the receiver accepts one only once it
 * holds the redaction, which is then likely in the same answer.
 */
static int
s_send_events(sync_t *s, link_t *l, const uint8_t (*ids)[CPT_ID_LEN], size_t n)
{
	const void *f[BATCH_EVENTS];
	size_t len[BATCH_EVENTS], k = 0, bytes = 0, sent = 0;
	uint8_t **env = calloc(n ? n : 1, sizeof(*env));
	size_t *elen = calloc(n ? n : 1, sizeof(*elen));
	int msgs = 0;

	if (env == NULL || elen == NULL) {
		free(env);
		free(elen);
		return 0;
	}
	/* One read for the lot, not one per event. */
	s->conf.ops.get_many(s->conf.ops.ctx, ids, n, env, elen);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i <= n; i++) {
			int last = pass == 1 && i == n;
			int bare = i < n && env[i] && elen[i] <= EVT_FIXED_LEN;
			if (i < n && (env[i] == NULL || bare != pass))
				continue;
			if (k > 0 && (last || i == n || k == BATCH_EVENTS ||
				      bytes + (i < n ? elen[i] : 0) + 64 > s->send_cap)) {
				if (s_send(s, l, SYNC_EVENTS, f, len, k) == 0) {
					sent += k;
					msgs++;
				}
				k = 0;
				bytes = 0;
			}
			if (i < n) {
				f[k] = env[i];
				len[k++] = elen[i];
				bytes += elen[i] + 8;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		free(env[i]);
	free(env);
	free(elen);
	if (msgs) {
		l->inflight += msgs;
		l->inflight_events += sent;
		l->inflight_ms = s_now();
	}
	pthread_mutex_lock(&s->lock);
	l->st.sent += sent;
	pthread_mutex_unlock(&s->lock);
	return msgs;
}

static void s_ranges_feed(sync_t *s, link_t *l);

/* What we have for the peer and it has not acknowledged: queued ids, the rest
 * of the ranges being streamed, events in flight (to_send, BACKLOG). */
static uint64_t
s_backlog(const link_t *l)
{
	return l->wq_len - l->wq_head + l->stream_left + l->inflight_events;
}

static void
s_wantq_clear(sync_t *s, link_t *l)
{
	free(l->wantq);
	l->wantq = NULL;
	l->wq_head = l->wq_len = 0;
	l->inflight = 0;
	l->inflight_events = 0;
	pthread_mutex_lock(&s->lock);
	l->st.to_send = 0;
	pthread_mutex_unlock(&s->lock);
}

/* Queues ids a peer asked for; what does not fit is dropped (it asks again
 * at the next reconciliation). */
static void
s_wantq_add(sync_t *s, link_t *l, const uint8_t *ids, size_t n)
{
	size_t room;

	if (l->wantq == NULL && (l->wantq = malloc(WANTQ_MAX * CPT_ID_LEN)) == NULL)
		return;
	if (l->wq_head > 0) {
		memmove(l->wantq, l->wantq + l->wq_head, (l->wq_len - l->wq_head) * CPT_ID_LEN);
		l->wq_len -= l->wq_head;
		l->wq_head = 0;
	}
	room = WANTQ_MAX - l->wq_len;
	if (n > room)
		n = room;
	memcpy(l->wantq + l->wq_len, ids, n * CPT_ID_LEN);
	l->wq_len += n;
	pthread_mutex_lock(&s->lock);
	l->st.to_send = s_backlog(l);
	pthread_mutex_unlock(&s->lock);
}

/* Sends queued events while fewer than WINDOW answers are unacknowledged:
 * memory stays flat however far behind the peer is. What cannot be sent now
 * (link down, queue full) is dropped: the next reconciliation asks again. */
static void
s_wantq_serve(sync_t *s, link_t *l)
{
	uint64_t now = s_now();

	if (l->inflight > 0 && s_since(now, l->inflight_ms) > ACK_WAIT_MS) {
		l->inflight = 0; /* ACKs lost: do not stall the link for good */
		l->inflight_events = 0;
	}
	if (l->inflight < WINDOW && s_link_up(l))
		s_ranges_feed(s, l);
	while (l->wantq && l->wq_head < l->wq_len && l->inflight < WINDOW && s_link_up(l)) {
		size_t k = l->wq_len - l->wq_head;
		if (k > BATCH_EVENTS)
			k = BATCH_EVENTS;
		s_send_events(s, l, (const uint8_t(*)[CPT_ID_LEN])(l->wantq + l->wq_head), k);
		l->wq_head += k;
	}
	if (l->wantq && l->wq_head >= l->wq_len) {
		free(l->wantq);
		l->wantq = NULL;
		l->wq_head = l->wq_len = 0;
	}
	pthread_mutex_lock(&s->lock);
	l->st.to_send = s_backlog(l);
	pthread_mutex_unlock(&s->lock);
}

/* Tells the peer how many events we have queued for it (BACKLOG), so that
 * its status shows what remains of a catch-up: when that changes, at most
 * once a second, and at once when it reaches zero or grows from zero. */
static void
s_backlog_say(sync_t *s, link_t *l, uint64_t now)
{
	uint64_t v = s_backlog(l);
	uint8_t b[8];
	const void *f[1] = {b};
	size_t fl[1] = {8};

	if (v == l->backlog_said || !s_link_up(l))
		return;
	if (v != 0 && l->backlog_said != 0 && s_since(now, l->backlog_ms) < 1000)
		return;
	s_be_put(b, v, 8);
	if (s_send(s, l, SYNC_BACKLOG, f, fl, 1) == 0) {
		l->backlog_said = v;
		l->backlog_ms = now;
	}
}

/* ------------------------------------------------------ reconciliation */

/* recon.c reads our set through the store functions. */
static void
s_rc_fp(void *ctx, const uint8_t *lo, const uint8_t *hi, uint64_t *count, uint8_t fp[RECON_FP_LEN])
{
	sync_t *s = ctx;
	s->conf.ops.fingerprint(s->conf.ops.ctx, lo, hi, count, fp);
}

static size_t
s_rc_items(void *ctx, const uint8_t *lo, const uint8_t *hi, uint8_t (*out)[RECON_KEY_LEN], size_t max)
{
	sync_t *s = ctx;
	return s->conf.ops.items(s->conf.ops.ctx, lo, hi, out, max);
}

static size_t
s_rc_split(void *ctx, const uint8_t *lo, const uint8_t *hi, uint64_t count, size_t k,
	   uint8_t (*bounds)[RECON_KEY_LEN])
{
	sync_t *s = ctx;
	return s->conf.ops.split(s->conf.ops.ctx, lo, hi, count, k, bounds);
}

static int
s_rc_has(void *ctx, const uint8_t id[32])
{
	sync_t *s = ctx;
	return s->conf.ops.has(s->conf.ops.ctx, id);
}

/* Findings, for the link whose message is being processed. */
static void s_wantq_add(sync_t *s, link_t *l, const uint8_t *ids, size_t n);
static void s_malformed(sync_t *s, link_t *l, int type, size_t n);

static void
s_rc_push_ids(void *arg, const uint8_t (*ids)[32], size_t n)
{
	sync_t *s = arg;
	s_wantq_add(s, s->recon_link, (const uint8_t *)ids, n);
}

static void
s_rc_push_range(void *arg, const uint8_t *lo, const uint8_t *hi)
{
	sync_t *s = arg;
	link_t *l = s->recon_link;

	/* Streamed later, a batch at a time, as the peer acknowledges: memory
	 * stays flat however much it lacks. A full queue drops the range; the
	 * next reconciliation finds it again. */
	uint8_t from[SYNC_TSID_LEN], to[SYNC_TSID_LEN];

	/* What an earlier reconciliation queued (sent in part, perhaps not yet
	 * stored there) is not queued twice: the new range loses the ends it
	 * shares with a queued one, or goes when one holds it whole. */
	memcpy(from, lo, SYNC_TSID_LEN);
	memcpy(to, hi, SYNC_TSID_LEN);
	for (size_t i = 0; i < l->n_ranges; i++) {
		const uint8_t *qlo = l->ranges[i][0], *qhi = l->ranges[i][1];
		int lo_in = memcmp(from, qlo, SYNC_TSID_LEN) >= 0 && memcmp(from, qhi, SYNC_TSID_LEN) < 0;
		int hi_in = memcmp(to, qlo, SYNC_TSID_LEN) > 0 && memcmp(to, qhi, SYNC_TSID_LEN) <= 0;
		if (lo_in && hi_in)
			return;
		if (lo_in)
			memcpy(from, qhi, SYNC_TSID_LEN);
		else if (hi_in)
			memcpy(to, qlo, SYNC_TSID_LEN);
		if (memcmp(from, to, SYNC_TSID_LEN) >= 0)
			return;
	}
	if (l->n_ranges == RANGES_MAX)
		return;
	lo = from;
	hi = to;
	{
		/* How many: for the backlog both sides show (BACKLOG). */
		uint64_t count = 0;
		uint8_t fp[RECON_FP_LEN];
		s->conf.ops.fingerprint(s->conf.ops.ctx, lo, hi, &count, fp);
		l->stream_left += count;
	}
	memcpy(l->ranges[l->n_ranges][0], lo, SYNC_TSID_LEN);
	memcpy(l->ranges[l->n_ranges][1], hi, SYNC_TSID_LEN);
	l->n_ranges++;
}

static void
s_rc_want(void *arg, const uint8_t (*ids)[32], size_t n)
{
	sync_t *s = arg;
	link_t *l = s->recon_link;

	/* Asked for at once, while the reconciliation goes on. */
	for (size_t i = 0; i < n; i += s->want_max) {
		const void *f[1] = {ids[i]};
		size_t fl[1] = {(n - i < s->want_max ? n - i : s->want_max) * CPT_ID_LEN};
		if (s_send(s, l, SYNC_WANT, f, fl, 1) == 0) {
			pthread_mutex_lock(&s->lock);
			l->st.to_receive += fl[0] / CPT_ID_LEN;
			pthread_mutex_unlock(&s->lock);
		}
	}
}

static void
s_recon_count(sync_t *s, link_t *l)
{
	pthread_mutex_lock(&s->lock);
	l->st.reconciliations++;
	pthread_mutex_unlock(&s->lock);
}

/* Opens a reconciliation with a link: our first message. */
static void
s_recon_start(sync_t *s, link_t *l)
{
	size_t len;
	const void *f[1];
	size_t fl[1];

	s->recon_link = l;
	if (recon_start(s->recon, s->recon_out, s->send_cap - 64, &len) != 0) {
		s->recon_link = NULL;
		return;
	}
	s->recon_link = NULL;
	f[0] = s->recon_out;
	fl[0] = len;
	if (s_send(s, l, SYNC_RECON, f, fl, 1) == 0) {
		l->recon_due = 0;
		s_recon_count(s, l);
	}
}

/* Answers a peer's reconciliation message; a malformed one counts against it. */
static void
s_recon_on(sync_t *s, link_t *l, const uint8_t *msg, size_t len)
{
	size_t outlen;
	int done, rc;

	s->recon_link = l;
	rc = recon_process(s->recon, msg, len, s->recon_out, s->send_cap - 64, &outlen, &done);
	s->recon_link = NULL;
	s_recon_count(s, l);
	s_backlog_say(s, l, s_now());
	if (rc != 0) {
		s_malformed(s, l, SYNC_RECON, 2);
		return;
	}
	if (done) {
		/* Over: both sides know it, so that each can tell all the other
		 * lacks of its events is in its queue (settled, PROTOCOL.md 10.3).
		 * The message that says so is the one-range Skip; it is not
		 * answered itself. */
		static const uint8_t over[3] = {RECON_VERSION, 0, 0};
		pthread_mutex_lock(&s->lock);
		l->st.last_reconcile_ms = s_wall();
		l->st.settled = 1;
		pthread_mutex_unlock(&s->lock);
		if (len != sizeof(over) || memcmp(msg, over, sizeof(over)) != 0) {
			const void *f[1] = {over};
			size_t fl[1] = {sizeof(over)};
			s_send(s, l, SYNC_RECON, f, fl, 1);
		}
		return;
	}
	{
		const void *f[1] = {s->recon_out};
		size_t fl[1] = {outlen};
		if (s_send(s, l, SYNC_RECON, f, fl, 1) == 0)
			s_recon_count(s, l);
	}
}

/* Refills the queue of events to send from the ranges the peer lacks. */
static void
s_ranges_feed(sync_t *s, link_t *l)
{
	uint8_t(*page)[SYNC_TSID_LEN];
	size_t n, k = 0;

	if (l->n_ranges == 0 || (l->wantq && l->wq_len - l->wq_head > 0))
		return;
	if ((page = malloc(BATCH_EVENTS * SYNC_TSID_LEN)) == NULL)
		return;
	n = s->conf.ops.scan(s->conf.ops.ctx, l->range_at_set ? l->range_at : l->ranges[0][0], page,
			     BATCH_EVENTS);
	/* scan starts after its key: include the range's first key itself. */
	if (!l->range_at_set && s->conf.ops.has(s->conf.ops.ctx, l->ranges[0][0] + 8)) {
		l->stream_left -= l->stream_left > 0;
		s_wantq_add(s, l, l->ranges[0][0] + 8, 1);
	}
	while (k < n && memcmp(page[k], l->ranges[0][1], SYNC_TSID_LEN) < 0)
		k++;
	l->stream_left = l->stream_left > k ? l->stream_left - k : 0;
	for (size_t i = 0; i < k; i++)
		s_wantq_add(s, l, page[i] + 8, 1);
	if (k > 0) {
		memcpy(l->range_at, page[k - 1], SYNC_TSID_LEN);
		l->range_at_set = 1;
	}
	if (k < n || n < BATCH_EVENTS) {
		/* This range is done: the next one. */
		memmove(l->ranges[0], l->ranges[1], (l->n_ranges - 1) * sizeof(l->ranges[0]));
		l->n_ranges--;
		l->range_at_set = 0;
		if (l->n_ranges == 0)
			l->stream_left = 0; /* the count was an estimate if events came meanwhile */
	}
	free(page);
}

static void
s_start_reconcile(link_t *l)
{
	l->recon_due = 1;
	l->reconcile_ms = s_now();
}

/* ---------------------------------------------------------- link state */

static void
s_set_connected(sync_t *s, link_t *l, int up)
{
	if (l->st.connected == up)
		return;
	pthread_mutex_lock(&s->lock);
	l->st.connected = up;
	l->st.since_ms = s_wall();
	l->st.settled = 0;
	if (up)
		l->st.refused = 0;
	else
		l->st.to_receive = 0;
	pthread_mutex_unlock(&s->lock);
	l->hello_in = 0;
	s_wantq_clear(s, l);
	log_info("sync", "peer %s site=%s", up ? "connected" : "disconnected", s_name(l));
	l->n_ranges = 0;
	l->range_at_set = 0;
	l->stream_left = 0;
	l->backlog_said = 0;
	if (up)
		s_start_reconcile(l);
	else
		l->recon_due = 0;
}

/* Cuts every connection with a link and shuts it out for BAN_MS. */
static void
s_ban(sync_t *s, link_t *l, const char *why)
{
	char hex[CPT_HEX_ID];

	s_hex(hex, l->st.site_key);
	log_warnx("sync", "disconnecting peer site=%s key=%s for %d s: %s", s_name(l), hex,
		  BAN_MS / 1000, why);
	l->ban_until_ms = s_now() + BAN_MS;
	l->bad = 0;
	s_set_connected(s, l, 0);
	s_close_dealer(l);
	l->next_dial_ms = l->ban_until_ms;
	s_drop_incoming(l);
}

/* Closes every connection with a revoked link, at the end of its grace. */
static void
s_revoked_close(link_t *l)
{
	s_close_dealer(l);
	s_drop_incoming(l);
	l->close_ms = 0;
	l->grace_acks = 0;
}

/* ------------------------------------------------------------ receiving */

/* Reads one whole message (all frames) from sock into msgs without waiting
 * for its first frame; returns the count (0: nothing there). A message of
 * more than max frames is drained, its first max frames kept, and *overflow
 * set. */
static size_t
s_recv(void *sock, zmq_msg_t *msgs, size_t max, int *overflow)
{
	size_t n = 0;
	int more = 1;

	*overflow = 0;
	while (more) {
		zmq_msg_t tmp, *m = n < max ? &msgs[n] : &tmp;
		zmq_msg_init(m);
		if (zmq_msg_recv(m, sock, n == 0 && !*overflow ? ZMQ_DONTWAIT : 0) < 0) {
			zmq_msg_close(m);
			break;
		}
		more = zmq_msg_more(m);
		if (n < max) {
			n++;
		} else {
			*overflow = 1;
			zmq_msg_close(m);
		}
	}
	return n;
}

/* Is an ingest error a sign of a forged or broken event (as opposed to one
 * an honest peer may relay: revoked since, not yet valid here, pending)? */
static int
s_forged(int rc)
{
	switch (rc) {
	case CPT_EINVAL:
	case CPT_ETOOBIG:
	case CPT_EVERSION:
	case CPT_EFEDERATION:
	case CPT_ESIG:
	case CPT_EHASH:
	case CPT_EPERM: /* signed by a key that may not sign it: same verdict everywhere */
		return 1;
	}
	return 0;
}

static void
s_malformed(sync_t *s, link_t *l, int type, size_t n)
{
	pthread_mutex_lock(&s->lock);
	l->st.rejected++;
	pthread_mutex_unlock(&s->lock);
	log_warnx("sync", "malformed message from site=%s (type %d, %zu frames)", s_name(l), type, n);
	if (++l->bad >= BAD_LIMIT)
		s_ban(s, l, "too many malformed messages");
}

/*
 * Envelopes received are ingested in batches: every EVENTS message read in
 * one round of the loop (up to BATCH_EVENTS envelopes) goes to the store in
 * one put, hence one durable commit, instead of one commit per message —
 * what lets a site keep up with a busy peer. The put returns at once: the
 * node checks signatures and commits while this thread reads the next
 * messages, so verification, storage and the network overlap. Each message
 * still gets its own ACK, accounting and relay once its batch is committed
 * (s_batch_done), never before.
 */
static void s_batch_done(sync_t *s, inbatch_t *b);

static void
s_batch_flush(sync_t *s)
{
	inbatch_t *b = s->in;

	if (b == NULL || b->n_env == 0)
		return;
	s->in = NULL;
	for (size_t i = 0; i < b->n_env; i++) {
		b->bufs[i] = zmq_msg_data(&b->env[i]);
		b->lens[i] = zmq_msg_size(&b->env[i]);
	}
	b->job = (sync_put_t){b->bufs, b->lens, b->n_env, b->rc, b->ids, 0};
	s->jobs_out++;
	if (s->conf.ops.put(s->conf.ops.ctx, &b->job) != 0) {
		/* Not taken: as a store error, nothing acknowledged. */
		b->job.err = CPT_EIO;
		s_batch_done(s, b);
	}
	/* b may be gone already: the node completes small jobs at once. */
}

/* Reads from peers pause while this many batches are on their way to the
 * store: memory stays bounded whatever peers send. */
static int
s_saturated(const sync_t *s)
{
	return s->jobs_out >= JOBS_MAX;
}

static void
s_batch_done(sync_t *s, inbatch_t *b)
{
	const size_t *lens = b->lens;
	const int *rc = b->rc;
	uint8_t(*ids)[CPT_ID_LEN] = b->ids, (*fresh)[CPT_ID_LEN] = NULL;
	int stored_ok = b->job.err == 0;

	s->jobs_out--;
	for (size_t j = 0; j < b->n_msgs; j++)
		b->msgs[j].l->storing--;
	if (!stored_ok)
		log_warnx("sync", "store error while ingesting %zu events from peers", b->n_env);
	else if ((fresh = malloc(b->n_env * CPT_ID_LEN)) == NULL)
		stored_ok = 0;
	for (size_t j = 0; stored_ok && j < b->n_msgs; j++) {
		link_t *l = b->msgs[j].l;
		size_t first = b->msgs[j].first, k = b->msgs[j].count;
		size_t stored = 0, dup = 0, pend = 0, refused = 0, forged = 0;
		uint8_t ack[16];
		const void *f[1] = {ack};
		size_t fl[1] = {16};

		for (size_t i = first; i < first + k; i++) {
			if (rc[i] == 0) {
				memcpy(fresh[stored++], ids[i], CPT_ID_LEN);
			} else if (rc[i] == CPT_EEXIST) {
				dup++;
			} else if (rc[i] == CPT_EPENDING) {
				pend++;
			} else {
				refused++;
				/* A bare envelope is refused while its redaction has
				 * not arrived: not a forgery. */
				if (s_forged(rc[i]) && lens[i] > EVT_FIXED_LEN)
					forged++;
			}
		}
		pthread_mutex_lock(&s->lock);
		l->st.received += stored;
		l->st.rejected += refused;
		l->st.to_receive = l->st.to_receive > k ? l->st.to_receive - k : 0;
		pthread_mutex_unlock(&s->lock);
		/* Tell the sender what is now durably stored here. */
		s_be_put(ack, stored, 4);
		s_be_put(ack + 4, dup, 4);
		s_be_put(ack + 8, pend, 4);
		s_be_put(ack + 12, refused, 4);
		s_send(s, l, SYNC_ACK, f, fl, 1);
		if (refused)
			log_warnx("sync", "site=%s sent %zu events that were refused (%zu forged or malformed)",
				  s_name(l), refused, forged);
		if (forged) {
			l->bad += (int)(forged > 5 ? 5 : forged);
			if (l->bad >= BAD_LIMIT) {
				s_ban(s, l, "too many forged or malformed events");
				continue;
			}
		}
		/* Relay: every other connected peer may lack them. */
		if (stored)
			for (int i = 0; i < SYNC_MAX_PEERS; i++)
				if (&s->links[i] != l && s->links[i].used && s_link_up(&s->links[i]))
					s_send_events(s, &s->links[i], (const uint8_t(*)[CPT_ID_LEN])fresh,
						      stored);
	}
	free(fresh);
	for (size_t i = 0; i < b->n_env; i++)
		zmq_msg_close(&b->env[i]);
	free(b);
}

/* Takes the envelopes of an EVENTS message (frames 1..n-1 of m, moved out)
 * into the batch. */
static void
s_batch_add(sync_t *s, link_t *l, zmq_msg_t *m, const size_t *len, size_t n)
{
	inbatch_t *b = s->in;
	size_t k = n - 1, bytes = 0;

	for (size_t i = 1; i < n; i++)
		bytes += len[i];
	if (b && (b->n_env + k > BATCH_EVENTS || (b->n_env > 0 && b->bytes + bytes > s->recv_limit)))
		s_batch_flush(s);
	if ((b = s->in) == NULL) {
		if ((b = malloc(sizeof(*b))) == NULL) {
			/* Dropped unacknowledged: the sender's window and the next
			 * reconciliation bring them again. */
			log_warnx("sync", "out of memory: %zu events from site=%s dropped", k, s_name(l));
			return;
		}
		b->s = s;
		b->n_env = b->n_msgs = b->bytes = 0;
		s->in = b;
	}
	l->storing++;
	b->msgs[b->n_msgs].l = l;
	b->msgs[b->n_msgs].first = b->n_env;
	b->msgs[b->n_msgs].count = k;
	b->n_msgs++;
	for (size_t i = 1; i < n; i++) {
		zmq_msg_init(&b->env[b->n_env]);
		zmq_msg_move(&b->env[b->n_env++], &m[i]);
	}
	b->bytes += bytes;
}

static void
s_handle(sync_t *s, link_t *l, zmq_msg_t *m, size_t n, int overflow)
{
	size_t len[MAX_FRAMES];
	int type = n > 0 ? sync_msg_type(zmq_msg_data(&m[0]), zmq_msg_size(&m[0])) : -1;
	uint64_t now = s_now();

	if (l->revoked) {
		/* In its grace (s_recheck): nothing is taken from it, and the
		 * ACKs of what was in flight, the revocation among them, end it. */
		if (type == SYNC_ACK && l->close_ms && --l->grace_acks <= 0)
			s_revoked_close(l);
		return;
	}
	if (s_since(now, l->win_ms) >= 1000) {
		l->win_ms = now;
		l->win_msgs = 0;
	}
	if (++l->win_msgs > FLOOD_MSGS) {
		s_ban(s, l, "flooding");
		return;
	}
	for (size_t i = 0; i < n; i++)
		len[i] = zmq_msg_size(&m[i]);
	if (overflow || type < 0 || sync_msg_check(type, n, len, s->recv_limit) != 0) {
		s_malformed(s, l, type, n);
		return;
	}
	l->last_rx_ms = now;
	pthread_mutex_lock(&s->lock);
	l->st.last_exchange_ms = s_wall();
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
		} else if (!l->recon_due && s_since(now, l->reconcile_ms) > s->conf.heartbeat_ms) {
			/* It knocks again: its side of the link restarted while ours
			 * stayed up. What it missed meanwhile is pushed now. */
			s_start_reconcile(l);
		}
		break;
	case SYNC_PING:
		s_send(s, l, SYNC_PONG, NULL, NULL, 0);
		break;
	case SYNC_PONG:
		break;
	case SYNC_ACK:
		if (l->inflight > 0)
			l->inflight--;
		l->inflight_ms = now;
		{
			/* stored + duplicate + pending + refused: every envelope of
			 * the message it acknowledges */
			const uint8_t *d = zmq_msg_data(&m[1]);
			uint64_t k = s_be_get(d, 4) + s_be_get(d + 4, 4) + s_be_get(d + 8, 4) +
				     s_be_get(d + 12, 4);
			l->inflight_events = l->inflight_events > k ? l->inflight_events - k : 0;
		}
		s_wantq_serve(s, l);
		break;
	case SYNC_WANT:
		s_wantq_add(s, l, zmq_msg_data(&m[1]), len[1] / CPT_ID_LEN);
		s_wantq_serve(s, l);
		break;
	case SYNC_RECON:
		s_recon_on(s, l, zmq_msg_data(&m[1]), len[1]);
		break;
	case SYNC_IDS:
		s_malformed(s, l, type, n); /* the pre-reconciliation id list: no longer spoken */
		break;
	case SYNC_BACKLOG: {
		/* What it has queued for us: shown as our backlog from it. */
		uint64_t v = s_be_get(zmq_msg_data(&m[1]), 8);
		pthread_mutex_lock(&s->lock);
		l->st.to_receive = v;
		pthread_mutex_unlock(&s->lock);
		break;
	}
	case SYNC_EVENTS:
		s_batch_add(s, l, m, len, n);
		break;
	}
}

/* A message on the ROUTER: [routing id][frames...]; who sent it comes from
 * the ZAP User-Id, never from the routing id (PITFALLS 2). */
static int
s_on_server(sync_t *s)
{
	zmq_msg_t m[MAX_FRAMES];
	int overflow;
	size_t n = s_recv(s->srv, m, MAX_FRAMES, &overflow);
	const char *uid;
	uint8_t key[CPT_KEY_LEN];
	link_t *l;
	int fd;

	if (n == 0)
		return 0;
	if (n < 2)
		goto out;
	uid = zmq_msg_gets(&m[1], "User-Id");
	if (uid == NULL || cpt_unhex32(key, uid, strlen(uid)) != 0 || (l = s_link_new(s, key)) == NULL)
		goto out;
	/* The connection it came on, to close it should the peer be shut out. */
	fd = zmq_msg_get(&m[1], ZMQ_SRCFD);
	if (fd >= 0 && fd != l->fd) {
		l->fd = fd;
		l->fd_addr_len = sizeof(l->fd_addr);
		if (getpeername(fd, (struct sockaddr *)&l->fd_addr, &l->fd_addr_len) != 0)
			l->fd_addr_len = 0;
	}
	if (l->ban_until_ms > s_now() || (l->revoked && !l->close_ms)) {
		s_drop_incoming(l);
		goto out;
	}
	if (zmq_msg_size(&m[0]) <= sizeof(l->rid)) {
		/* A new routing id is a new connection: its side starts afresh. */
		if (l->rid_len && (l->rid_len != zmq_msg_size(&m[0]) ||
				   memcmp(l->rid, zmq_msg_data(&m[0]), l->rid_len) != 0) && !l->dealer)
			s_set_connected(s, l, 0);
		memcpy(l->rid, zmq_msg_data(&m[0]), zmq_msg_size(&m[0]));
		l->rid_len = zmq_msg_size(&m[0]);
	}
	if (!l->has_curve)
		s_learn(s, l);
	s_handle(s, l, m + 1, n - 1, overflow);
out:
	for (size_t i = 0; i < n; i++)
		zmq_msg_close(&m[i]);
	return 1;
}

static int
s_on_dealer(sync_t *s, link_t *l)
{
	zmq_msg_t m[MAX_FRAMES];
	int overflow;
	size_t n = s_recv(l->dealer, m, MAX_FRAMES, &overflow);

	if (n >= 1)
		s_handle(s, l, m, n, overflow);
	for (size_t i = 0; i < n; i++)
		zmq_msg_close(&m[i]);
	return n > 0;
}

/* Events of the monitor of a link we dial: a refused handshake means the
 * peer does not (yet) know us, or it is not who its certificate says. */
static void
s_on_monitor(sync_t *s, link_t *l)
{
	zmq_msg_t m[2];
	int overflow;
	size_t n = s_recv(l->mon, m, 2, &overflow);
	uint16_t ev = 0;
	uint32_t value = 0;

	if (n == 2 && zmq_msg_size(&m[0]) >= 6) {
		memcpy(&ev, zmq_msg_data(&m[0]), 2);
		memcpy(&value, (uint8_t *)zmq_msg_data(&m[0]) + 2, 4);
	}
	for (size_t i = 0; i < n; i++)
		zmq_msg_close(&m[i]);
	switch (ev) {
	case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
		l->backoff_ms = DIAL_MIN_MS;
		pthread_mutex_lock(&s->lock);
		l->st.refused = 0;
		pthread_mutex_unlock(&s->lock);
		break;
	case ZMQ_EVENT_DISCONNECTED:
		s_set_connected(s, l, 0);
		break;
	case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
	case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
	case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
		/* Refused at its ZAP stage (the value is the ZAP status code): it
		 * does not admit this site — our certificate has not reached it
		 * yet, or we are revoked. The status says so, not "unreachable". */
		if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
			log_warnx("sync", "handshake with peer site=%s endpoint=%s failed: refused by %s: not "
					  "admitted (it does not hold this site's certificate yet, or this site is "
					  "revoked): dialing again in %u ms",
				  s_name(l), l->st.endpoint, s_name(l), (unsigned)l->backoff_ms);
		else
			log_warnx("sync", "handshake with peer site=%s endpoint=%s failed (the peer does not hold "
					  "the key of its certificate, or speaks another protocol): dialing again in %u ms",
				  s_name(l), l->st.endpoint, (unsigned)l->backoff_ms);
		pthread_mutex_lock(&s->lock);
		l->st.refused = ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? (value ? (int)value : 400) : 0;
		pthread_mutex_unlock(&s->lock);
		s_set_connected(s, l, 0);
		s_close_dealer(l);
		l->next_dial_ms = s_now() + l->backoff_ms;
		l->backoff_ms = l->backoff_ms * 2 > DIAL_MAX_MS ? DIAL_MAX_MS : l->backoff_ms * 2;
		break;
	}
}

/* Logs a connection refused at the ZAP stage, rate-limited per address. */
static void
s_log_refused(sync_t *s, const char *from, size_t len, const char *key_hex, const char *why)
{
	char addr[64];
	size_t n = len < sizeof(addr) - 1 ? len : sizeof(addr) - 1;
	refused_t *free_slot = NULL;

	/* Bytes from the wire: printable only. */
	for (size_t i = 0; i < n; i++) {
		char c = from[i];
		addr[i] = c > 0x20 && c < 0x7f ? c : '?';
	}
	addr[n] = 0;
	for (int i = 0; i < REFUSED_SLOTS; i++) {
		refused_t *r = &s->refused[i];
		if (r->addr[0] && strcmp(r->addr, addr) == 0 && strcmp(r->key, key_hex) == 0) {
			r->more++;
			return;
		}
		if (!r->addr[0] && !free_slot)
			free_slot = r;
	}
	if (free_slot == NULL) {
		if (s->refused_other++ == 0)
			s->refused_other_since = s_now();
		return;
	}
	snprintf(free_slot->addr, sizeof(free_slot->addr), "%s", addr);
	snprintf(free_slot->key, sizeof(free_slot->key), "%s", key_hex);
	free_slot->since_ms = s_now();
	free_slot->more = 0;
	log_warnx("sync", "refused a connection from %s at the ZAP stage curve_key=%s: %s "
	          "(the same again within a minute is counted, not logged one by one)",
	          addr, key_hex, why);
}

/* At the end of each address's minute: one line with what was not logged,
 * and the address's slot freed once it stayed quiet a whole minute. */
static void
s_refused_windows(sync_t *s, uint64_t now)
{
	if (s_since(now, s->refused_check_ms) < 1000)
		return;
	s->refused_check_ms = now;
	for (int i = 0; i < REFUSED_SLOTS; i++) {
		refused_t *r = &s->refused[i];
		if (!r->addr[0] || s_since(now, r->since_ms) < REFUSED_WINDOW_MS)
			continue;
		if (r->more == 0) {
			r->addr[0] = 0;
			continue;
		}
		log_warnx("sync", "refused %llu more connections from %s at the ZAP stage in the "
		          "last %llu s curve_key=%s", (unsigned long long)r->more, r->addr,
		          (unsigned long long)s_since(now, r->since_ms) / 1000, r->key);
		r->more = 0;
		r->since_ms = now;
	}
	if (s->refused_other && s_since(now, s->refused_other_since) >= REFUSED_WINDOW_MS) {
		log_warnx("sync", "refused %llu connections at the ZAP stage in the last %llu s from "
		          "addresses and keys past the %d logged one by one",
		          (unsigned long long)s->refused_other,
		          (unsigned long long)s_since(now, s->refused_other_since) / 1000,
		          REFUSED_SLOTS);
		s->refused_other = 0;
	}
}

/* ZAP (RFC 27): admit only the CURVE keys of certified, unrevoked sites of
 * this federation; the User-Id is the site's signing key in hex. */
static void
s_on_zap(sync_t *s)
{
	zmq_msg_t m[8];
	int overflow;
	size_t n = s_recv(s->zap, m, 8, &overflow);
	const char *status = "400", *text = "not a certified site of this federation";
	char uid[CPT_HEX_ID] = "";
	char site[64] = "";

	if (n >= 7 && !overflow && zmq_msg_size(&m[2]) == strlen(SYNC_ZAP_DOMAIN) &&
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
				if (l && l->revoked) { /* certified again (a new certificate) */
					l->revoked = 0;
					l->close_ms = 0;
					pthread_mutex_lock(&s->lock);
					l->st.revoked = 0;
					pthread_mutex_unlock(&s->lock);
				}
			}
		}
	}
	if (n >= 2) {
		if (strcmp(status, "200") != 0) {
			char hex[CPT_HEX_ID] = "?";
			if (n >= 7 && zmq_msg_size(&m[6]) == CPT_KEY_LEN)
				s_hex(hex, zmq_msg_data(&m[6]));
			/* Frame 3 is the client's address (RFC 27). */
			s_log_refused(s, n >= 4 ? zmq_msg_data(&m[3]) : "?", n >= 4 ? zmq_msg_size(&m[3]) : 1,
			              hex, text);
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
	for (int i = 0; i < SYNC_MAX_PEERS; i++) {
		link_t *l = &s->links[i];
		uint8_t sign[CPT_KEY_LEN];
		char site[64];
		if (!l->used || l->revoked || (!l->has_curve && s_learn(s, l) != 0))
			continue;
		if (s->conf.ops.admit(s->conf.ops.ctx, l->curve, sign, site) &&
		    memcmp(sign, l->st.site_key, CPT_KEY_LEN) == 0)
			continue;
		log_warnx("sync", "site=%s is no longer certified: closing its link", s_name(l));
		/* What was sent to it last is likely the revocation itself: the
		 * link stays open until that is acknowledged, or a second, so
		 * that the revoked site learns why nobody answers any more. */
		l->revoked = 1;
		l->grace_acks = l->inflight;
		pthread_mutex_lock(&s->lock);
		l->st.revoked = 1;
		pthread_mutex_unlock(&s->lock);
		s_set_connected(s, l, 0);
		if (l->grace_acks > 0)
			l->close_ms = s_now() + REVOKE_GRACE_MS;
		else
			s_revoked_close(l);
	}
}

static void
s_on_cmd(sync_t *s)
{
	zmq_msg_t m[4];
	int overflow;
	size_t n = s_recv(s->cmd_in, m, 4, &overflow);
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
	case CMD_OFFER:
		/* A local event on its way to our store: peers get it now, in
		 * parallel with our own commit. */
		if (n == 2 && zmq_msg_size(&m[1]) >= EVT_FIXED_LEN && zmq_msg_size(&m[1]) <= EVT_MAX_LEN)
			for (int i = 0; i < SYNC_MAX_PEERS; i++) {
				link_t *l = &s->links[i];
				const void *f[1] = {zmq_msg_data(&m[1])};
				size_t fl[1] = {zmq_msg_size(&m[1])};
				if (!l->used || !s_link_up(l) || s_send(s, l, SYNC_EVENTS, f, fl, 1) != 0)
					continue;
				l->inflight++;
				l->inflight_events++;
				l->inflight_ms = s_now();
				pthread_mutex_lock(&s->lock);
				l->st.sent++;
				pthread_mutex_unlock(&s->lock);
			}
		break;
	case CMD_ADD_PEER:
		if (n == 2 && zmq_msg_size(&m[1]) == sizeof(sync_peer_conf_t)) {
			const sync_peer_conf_t *pc = zmq_msg_data(&m[1]);
			link_t *l = s_link_new(s, pc->site_key);
			/* Dialing itself happens in s_timers, which respects bans and
			 * the backoff after a refused handshake. */
			if (l && strncmp(l->st.endpoint, pc->endpoint, sizeof(l->st.endpoint)) != 0) {
				s_close_dealer(l);
				pthread_mutex_lock(&s->lock);
				snprintf(l->st.endpoint, sizeof(l->st.endpoint), "%s", pc->endpoint);
				pthread_mutex_unlock(&s->lock);
				l->next_dial_ms = 0;
				l->dial_warned = 0;
			}
		}
		break;
	case CMD_RECHECK:
		s_recheck(s);
		break;
	case CMD_PUT_DONE:
		if (n == 2 && zmq_msg_size(&m[1]) == sizeof(inbatch_t *)) {
			inbatch_t *b;
			memcpy(&b, zmq_msg_data(&m[1]), sizeof(b));
			s_batch_done(s, b);
		}
		break;
	}
out:
	for (size_t i = 0; i < n; i++)
		zmq_msg_close(&m[i]);
}

/* Heartbeats, link timeouts, dialing, pending id pages, queued events,
 * periodic reconciliation. */
static void
s_timers(sync_t *s)
{
	uint64_t now = s_now(), hb = s->conf.heartbeat_ms;
	int periodic = now >= s->next_reconcile_ms;
	uint64_t rate_ms = s_since(now, s->rate_ms);
	int rate_tick = rate_ms >= 2000;

	if (rate_tick)
		s->rate_ms = now;
	if (periodic)
		s->next_reconcile_ms = now + (uint64_t)s->conf.reconcile_interval_s * 1000;
	s_refused_windows(s, now);
	for (int i = 0; i < SYNC_MAX_PEERS; i++) {
		link_t *l = &s->links[i];
		if (!l->used)
			continue;
		if (l->revoked && l->close_ms && now >= l->close_ms)
			s_revoked_close(l);
		if (l->dealer == NULL && l->st.endpoint[0] && !l->revoked && now >= l->next_dial_ms &&
		    l->ban_until_ms <= now)
			s_dial(s, l);
		/* Silence means nothing while we do not read (s_saturated): the
		 * deadlines count from when we listen again. */
		if (s_saturated(s))
			l->last_rx_ms = now;
		if (l->st.connected && s_since(now, l->last_rx_ms) > 3 * hb)
			s_set_connected(s, l, 0);
		if (!l->st.connected) {
			/* Knock until the peer answers: HELLO brings the link up. A
			 * connection silent that long may be dead (no ZMTP heartbeats):
			 * dial afresh. */
			if (l->dealer && s_since(now, l->dial_ms > l->last_rx_ms ? l->dial_ms : l->last_rx_ms) >
					     (10 * hb > 5000 ? 10 * hb : 5000)) {
				s_close_dealer(l);
				l->next_dial_ms = now;
			} else if (l->dealer && s_since(now, l->last_tx_ms) >= hb) {
				s_send_hello(s, l);
			}
			continue;
		}
		if (s_since(now, l->last_tx_ms) >= hb)
			s_send(s, l, SYNC_PING, NULL, NULL, 0);
		/* The side that dialed opens reconciliations, so that two sites in
		 * agreement settle it in one round trip, not two crossing ones.
		 * Not while what it sends is still going into our store: the
		 * backlog would be found missing and asked for a second time. */
		if (periodic && l->dealer && l->storing == 0)
			s_start_reconcile(l);
		if (l->recon_due && l->dealer)
			s_recon_start(s, l);
		else
			l->recon_due = 0;
		if (l->wantq || l->n_ranges)
			s_wantq_serve(s, l);
		s_backlog_say(s, l, now);
		if (rate_tick) {
			pthread_mutex_lock(&s->lock);
			l->st.rate_in = (l->st.received - l->rate_mark) * 1000 / (rate_ms ? rate_ms : 1);
			l->rate_mark = l->st.received;
			pthread_mutex_unlock(&s->lock);
		}
	}
}

static void *
s_main(void *arg)
{
	sync_t *s = arg;
	zmq_pollitem_t items[3 + 2 * SYNC_MAX_PEERS];
	link_t *owner[3 + 2 * SYNC_MAX_PEERS];

	s_engine = s;
	pthread_setname_np(pthread_self(), "cpt-sync");
	s->next_reconcile_ms = s_now() + (uint64_t)s->conf.reconcile_interval_s * 1000;
	while (!s->stop) {
		int n = 0, busy = 0;

		items[n] = (zmq_pollitem_t){s->cmd_in, 0, ZMQ_POLLIN, 0};
		owner[n++] = NULL;
		items[n] = (zmq_pollitem_t){s->zap, 0, ZMQ_POLLIN, 0};
		owner[n++] = NULL;
		/* While the store is behind, peers wait (their messages stay in
		 * ZeroMQ's queues and TCP's): completions come on cmd_in. */
		if (s->srv && !s_saturated(s)) {
			items[n] = (zmq_pollitem_t){s->srv, 0, ZMQ_POLLIN, 0};
			owner[n++] = NULL;
		}
		for (int i = 0; i < SYNC_MAX_PEERS; i++) {
			link_t *l = &s->links[i];
			if (l->used && l->dealer && !s_saturated(s)) {
				items[n] = (zmq_pollitem_t){l->dealer, 0, ZMQ_POLLIN, 0};
				owner[n++] = l;
			}
			if (l->used && l->mon) {
				items[n] = (zmq_pollitem_t){l->mon, 0, ZMQ_POLLIN, 0};
				owner[n++] = l;
			}
			/* Work that can go out now keeps the loop from sleeping; ranges
			 * waiting for ACKs (a full window) do not: spinning on them
			 * took a whole core from the rest of the machine. */
			busy |= l->used && l->st.connected &&
				(l->recon_due || (l->n_ranges && l->inflight < WINDOW));
		}
		/* While work is due, do not sleep between rounds. */
		if (zmq_poll(items, n, busy ? 0 : 50) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			if (!(items[i].revents & ZMQ_POLLIN))
				continue;
			/* A handler may have closed sockets polled in this round; the
			 * owner check skips those, and reads never wait. */
			if (items[i].socket == s->cmd_in)
				s_on_cmd(s);
			else if (items[i].socket == s->zap)
				s_on_zap(s);
			else if (owner[i] == NULL && s->srv && items[i].socket == s->srv)
				for (int k = 0; k < READ_BURST && s->srv && !s_saturated(s) && s_on_server(s); k++)
					;
			else if (owner[i] && owner[i]->dealer && owner[i]->dealer == items[i].socket)
				for (int k = 0; k < READ_BURST && owner[i]->dealer && !s_saturated(s) &&
						s_on_dealer(s, owner[i]);
				     k++)
					;
			else if (owner[i] && owner[i]->mon && owner[i]->mon == items[i].socket)
				s_on_monitor(s, owner[i]);
		}
		s_batch_flush(s);
		if (s->recheck_due) {
			s->recheck_due = 0;
			s_recheck(s);
		}
		s_timers(s);
	}
	s_batch_flush(s);
	/* Every batch given to the store comes back before the sockets close. */
	while (s->jobs_out > 0) {
		zmq_pollitem_t it = {s->cmd_in, 0, ZMQ_POLLIN, 0};
		if (zmq_poll(&it, 1, 1000) < 0 && errno != EINTR)
			break;
		if (it.revents & ZMQ_POLLIN)
			s_on_cmd(s);
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

static void
s_free(sync_t *s)
{
	/* The writer's last sync_put_done may still be leaving s_cmd: its
	 * message arrived (the engine waited for every job), but its zmq_send
	 * may not have returned, nor its unlock happened. s_cmd holds the lock
	 * throughout: once it is ours, nobody else is using cmd_out. */
	if (s->thread_started) {
		pthread_mutex_lock(&s->cmd_lock);
		pthread_mutex_unlock(&s->cmd_lock);
	}
	for (int i = 0; i < SYNC_MAX_PEERS; i++) {
		s_close_dealer(&s->links[i]);
		free(s->links[i].wantq);
	}
	if (s->srv)
		zmq_close(s->srv);
	if (s->zap)
		zmq_close(s->zap);
	if (s->cmd_in)
		zmq_close(s->cmd_in);
	if (s->cmd_out)
		zmq_close(s->cmd_out);
	zmq_ctx_term(s->ctx);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->cmd_lock);
	recon_destroy(&s->recon);
	free(s->recon_out);
	free(s);
}

sync_t *
sync_start(const sync_conf_t *conf, const sync_peer_conf_t *peers, size_t n_peers, char *err,
	   size_t errlen)
{
	sync_t *s = calloc(1, sizeof(*s));
	int zero = 0;

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->conf = *conf;
	if (s->conf.heartbeat_ms < 100)
		s->conf.heartbeat_ms = 1000;
	if (s->conf.reconcile_interval_s == 0)
		s->conf.reconcile_interval_s = 60;
	/*
	 * Sites may set different limits.max_msg, and a message over the
	 * receiver's limit is malformed there (and counts towards a ban). So
	 * every node accepts at least MSG_FLOOR and sends at most MSG_FLOOR (or
	 * its own, smaller, limit — though never less than one envelope of the
	 * largest size): any two nodes understand each other.
	 */
	s->recv_limit = s->conf.max_msg > MSG_FLOOR ? s->conf.max_msg : MSG_FLOOR;
	s->send_cap = s->conf.max_msg < MSG_FLOOR ? s->conf.max_msg : MSG_FLOOR;
	if (s->send_cap < EVT_MAX_LEN + 4096)
		s->send_cap = EVT_MAX_LEN + 4096;
	s->want_max = WANT_MAX;         /* 256 KB, within send_cap */
	{
		recon_src_t src = {s, s_rc_fp, s_rc_items, s_rc_split, s_rc_has};
		recon_sink_t sink = {s, s_rc_push_ids, s_rc_push_range, s_rc_want};
		s->recon = recon_new(&src, &sink);
		s->recon_out = malloc(s->send_cap);
		if (s->recon == NULL || s->recon_out == NULL) {
			recon_destroy(&s->recon);
			free(s->recon_out);
			free(s);
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->cmd_lock, NULL);
	s->ctx = zmq_ctx_new();
	if (s->ctx == NULL) {
		snprintf(err, errlen, "cannot create a ZeroMQ context");
		pthread_mutex_destroy(&s->lock);
		pthread_mutex_destroy(&s->cmd_lock);
		free(s);
		return NULL;
	}
	/* The ZAP handler exists before any CURVE socket binds (PITFALLS 1). */
	s->zap = zmq_socket(s->ctx, ZMQ_REP);
	if (s->zap)
		zmq_setsockopt(s->zap, ZMQ_LINGER, &zero, sizeof(zero));
	if (s->zap == NULL || zmq_bind(s->zap, "inproc://zeromq.zap.01") != 0) {
		snprintf(err, errlen, "cannot start the ZAP handler: %s", zmq_strerror(errno));
		goto fail;
	}
	s->cmd_in = zmq_socket(s->ctx, ZMQ_PULL);
	s->cmd_out = zmq_socket(s->ctx, ZMQ_PUSH);
	if (s->cmd_in)
		zmq_setsockopt(s->cmd_in, ZMQ_LINGER, &zero, sizeof(zero));
	if (s->cmd_out)
		zmq_setsockopt(s->cmd_out, ZMQ_LINGER, &zero, sizeof(zero));
	if (s->cmd_in == NULL || s->cmd_out == NULL || zmq_bind(s->cmd_in, CMD_ENDPOINT) != 0 ||
	    zmq_connect(s->cmd_out, CMD_ENDPOINT) != 0) {
		snprintf(err, errlen, "cannot create the command pipe: %s", zmq_strerror(errno));
		goto fail;
	}
	if (s_bind_server(s, err, errlen) != 0)
		goto fail;
	/* Links we dial are dialed by the engine thread, on its first round. */
	for (size_t i = 0; i < n_peers; i++) {
		link_t *l = s_link_new(s, peers[i].site_key);
		if (l == NULL)
			break;
		snprintf(l->st.endpoint, sizeof(l->st.endpoint), "%s", peers[i].endpoint);
	}
	if (pthread_create(&s->thread, NULL, s_main, s) != 0) {
		snprintf(err, errlen, "cannot start the sync thread");
		goto fail;
	}
	s->thread_started = 1;
	return s;
fail:
	s_free(s);
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
	s_free(s);
	*self_p = NULL;
}

void
sync_announce(sync_t *s, const uint8_t (*ids)[CPT_ID_LEN], size_t n)
{
	if (s && n)
		s_cmd(s, CMD_ANNOUNCE, ids, n * CPT_ID_LEN);
}

void
sync_offer(sync_t *s, const uint8_t *env, size_t len)
{
	if (s && len)
		s_cmd(s, CMD_OFFER, env, len);
}

void
sync_put_done(sync_put_t *job)
{
	inbatch_t *b = (inbatch_t *)job; /* job is its first member */
	sync_t *s = b->s;

	/* On the engine's own thread (a job completed within put) at once: a
	 * command to our own pipe could block on a pipe only we drain. */
	if (s_engine == s)
		s_batch_done(s, b);
	else
		s_cmd(s, CMD_PUT_DONE, &b, sizeof(b));
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
	if (s == NULL)
		return;
	/* From the engine itself (a revocation received from a peer): a command
	 * to our own pipe could block on a full pipe that only we drain. */
	if (s_engine == s)
		s->recheck_due = 1;
	else
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
