/*
 * sync's private header: the engine's state (sync_t), one peer link (link_t),
 * and what the files of sync/ call in one another. Included by the .c files of sync/ only:
 * the rest of the tree sees sync/sync.h alone. Unless a comment says
 * otherwise, every function here runs on the engine thread, which owns every
 * socket and every field below (the status copies under sync_t.lock apart).
 */
#ifndef COMPTOIR_SYNC_INTERNAL_H
#define COMPTOIR_SYNC_INTERNAL_H

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include <zmq.h>

#include "sync/sync.h"

/* Limits more than one file needs; the others live in the file they bound. */
#define BATCH_EVENTS 1000 /* envelopes per EVENTS (flow.c sends, recv.c takes in) */
#define RANGES_MAX   4096 /* ranges a peer lacks, queued for streaming (flow.c) */
#define BAD_LIMIT    20   /* malformed messages or forged events before a ban */
#define RECON_HELD_EVENTS                                                                          \
	BATCH_EVENTS     /* a link's envelopes on their way to our store from                      \
	                    which its periodic reconciliation waits (reconcile.c) */
#define REFUSED_SLOTS 64 /* addresses whose ZAP refusals are logged one by one (zap.c) */

/* One peer site: how to reach it and what we know of the link. The fields
 * are grouped by concern, each group headed by the files that write it. */
typedef struct link {
	int used;                   /* slot in use */
	sync_peer_status_t st;      /* what the status page shows (under sync.lock) */
	uint8_t curve[CPT_KEY_LEN]; /* its transport key */
	int has_curve;              /* curve is known (from its certificate) */
	/* link.c: the link we dial */
	void *dealer;          /* socket when we dial it, else NULL */
	void *mon;             /* PAIR reading the dealer's monitor events */
	uint64_t next_dial_ms; /* do not dial before then */
	uint64_t dial_ms;      /* when the dealer was made */
	uint32_t backoff_ms;   /* next wait after a refused handshake */
	int dial_warned;       /* "cannot dial" logged since the last success */
	uint64_t hello_ms;     /* last HELLO tried while the link is not up */
	uint64_t knock_ms; /* a handshake succeeded: HELLO then, not at the next timer (0: none) */
	int knock_tries;   /* retries left of that HELLO (the pipe may attach a moment later) */
	/* engine.c's loop (set by link.c too): ask the socket's ZMQ_EVENTS before
	 * sleeping, as its descriptor may not fire for what it holds (it was sent
	 * on, connected, made, or left with messages unread) */
	int dealer_check; /* the dealer */
	int mon_check;    /* the monitor */
	/* recv.c and link.c: the link it dialed */
	uint8_t rid[256];                /* routing id on our ROUTER when it dialed us */
	size_t rid_len;                  /* 0 when it has not */
	int fd;                          /* connection its last message came in on, or -1 */
	struct sockaddr_storage fd_addr; /* that connection's peer address */
	socklen_t fd_addr_len;           /* its length, 0 when unknown */
	/* link.c, zap.c, recv.c: state */
	uint64_t last_rx_ms;   /* last message from it */
	uint64_t last_tx_ms;   /* last message to it */
	uint64_t ban_until_ms; /* shut out until then */
	int revoked;           /* no longer certified: every message dropped */
	uint64_t close_ms;     /* revoked: close its connections then, or at the ACK of
	                          what was in flight (the revocation itself) */
	int grace_acks;        /* ACKs still awaited before that close */
	int bad;               /* malformed messages and forged events seen */
	uint64_t win_ms;       /* start of the current one-second window */
	uint32_t win_msgs;     /* messages received in it */
	int hello_in;          /* it said HELLO since the link came up */
	/* reconcile.c (link.c clears recon_due when the link goes down) */
	int recon_due;         /* a reconciliation should start */
	int recon_owed;        /* a periodic one was put off by a catch-up into our store: it
	                          starts when the store has taken it (recv.c) */
	uint64_t reconcile_ms; /* when the current (or last) one started */
	int recon_recent;      /* the one due follows an outage: opened from our newest items
	                          (recon_start_recent) */
	int recon_early;       /* ours went out behind our HELLO, before the link came up:
	                          its coming up opens none (reconcile_open_early) */
	struct recon_sent *recon_sent; /* what its reconciliations pushed lately, or NULL */
	/* flow.c: ranges the peer lacks entirely, streamed as its ACKs come back */
	uint8_t (*ranges)[2][SYNC_TSID_LEN]; /* [lo, hi), malloc'd while non-empty */
	size_t ranges_head;                  /* first not yet streamed; 0 when empty */
	size_t n_ranges, ranges_cap;         /* end of the queue (0: empty), room */
	uint8_t range_at[SYNC_TSID_LEN];     /* cursor in the first range */
	int range_at_set;                    /* cursor is set */
	uint64_t stream_left;  /* events of the queued ranges not yet queued to send */
	uint64_t backlog_said; /* what our last BACKLOG to it said */
	uint64_t backlog_ms;   /* when */
	uint64_t rate_mark;    /* st.received at the last rate tick (engine.c) */
	/* flow.c: events it asked for, sent as its ACKs come back */
	uint8_t (*wantq)[CPT_ID_LEN]; /* queued ids, malloc'd while non-empty */
	size_t wq_head, wq_len;       /* next to send, end */
	int inflight;                 /* EVENTS of more than SMALL_MAX envelopes sent and not yet
	                                 ACKed: the window (flow.c) */
	int inflight_small;           /* the smaller ones (live relays), outside the window */
	size_t storing;               /* its EVENTS messages on their way to our store (recv.c) */
	size_t storing_events;        /* the envelopes in them (recv.c) */
	uint64_t inflight_ms;         /* last EVENTS sent or ACK received */
	uint64_t inflight_events;     /* envelopes in them */
	/* blob.c: blob messages (PROTOCOL.md 18.6) */
	int bver;               /* blob version it announced (BHELLO), 0: none yet */
	int bhello_out;         /* our BHELLO went out on this connection */
	int b_inflight;         /* chunks asked of it and not received */
	uint64_t b_stall_ms;    /* its send queue was full, or it was busy: wait until */
	struct bserve *bq;      /* BGET requests to serve, malloc'd (BSERVE_MAX) */
	size_t bq_head, bq_len; /* next to serve, how many */
	uint64_t b_sent;        /* chunk bytes served on this connection */
	uint64_t b_read;        /* of them, those the peer is known to have read (a probe's
	                           answer came back after them) */
	uint64_t b_probe_at;    /* b_sent when the probe awaiting its answer went out */
	int b_probe_out;        /* a probe (BMAP_GET of b_probe_id) awaits its answer */
	int b_budget_wait;      /* serving is held back by the budget until an answer */
	uint8_t b_probe_id[32]; /* the probe's id: random, no blob's */
} link_t;

/* blob.c: a BGET of a peer waiting to be served. */
typedef struct bserve {
	uint8_t id[32]; /* the blob */
	uint32_t index; /* next chunk to send */
	uint32_t left;  /* chunks of the request still to send */
} bserve_t;

#define BFETCH_MAX 4 /* blobs fetched at once */

/* A set of link slots, a bit each: SYNC_MAX_PEERS of them (512 since the
 * limit was raised: a 64-bit mask wrapped past slot 63). */
#define PEERSET_WORDS ((SYNC_MAX_PEERS + 63) / 64)
typedef struct peerset {
	uint64_t w[PEERSET_WORDS];
} peerset_t;
static inline void
peerset_add(peerset_t *p, int i)
{
	p->w[i >> 6] |= (uint64_t)1 << (i & 63);
}
static inline void
peerset_del(peerset_t *p, int i)
{
	p->w[i >> 6] &= ~((uint64_t)1 << (i & 63));
}
static inline int
peerset_has(const peerset_t *p, int i)
{
	return (int)((p->w[i >> 6] >> (i & 63)) & 1);
}
static inline int
peerset_empty(const peerset_t *p)
{
	for (int k = 0; k < PEERSET_WORDS; k++)
		if (p->w[k])
			return 0;
	return 1;
}

/* blob.c: one blob being fetched. */
typedef struct bfetch {
	int used;            /* slot in use */
	uint8_t id[32];      /* the blob */
	int prio;            /* its class (sync_blob_want_t) */
	uint64_t size;       /* from the checked manifest, 0 until then */
	uint64_t size_hint;  /* from the event, for the status until then */
	uint32_t n;          /* chunks */
	uint32_t n_held;     /* chunks checked and written */
	uint64_t held_bytes; /* their bytes */
	uint32_t lo;         /* no chunk before this one is still to ask */
	uint8_t *state;      /* per chunk: BC_MISSING, BC_ASKED, BC_HELD */
	uint16_t *owner;     /* per chunk asked: the link index asked */
	uint64_t *asked_ms;  /* per chunk asked: when */
	uint8_t *manifest;   /* n x 32, checked against id */
	peerset_t map_asked; /* links asked for the manifest (a bit per link slot) */
	peerset_t holders;   /* links that sent its manifest: they hold it */
	peerset_t refused;   /* links that answered BNONE since the last round of asking */
	uint64_t map_ms;     /* when the manifest was last asked */
	uint64_t seen;       /* the generation of next_missing that last listed it */
} bfetch_t;

/* A connection refused at the ZAP stage, for the rate-limited log (zap.c). */
typedef struct zap_refused {
	char addr[64];        /* the client's address (ZAP's Address), "" when free */
	char key[CPT_HEX_ID]; /* the CURVE key it presented, in hex ("?" when none) */
	uint64_t since_ms;    /* when its window began (the refusal logged in full) */
	uint64_t more;        /* refusals since, not logged yet */
} zap_refused_t;

/* EVENTS received and gathered for one put (recv.c; opaque elsewhere). */
typedef struct recv_batch recv_batch_t;

#define POLL_ITEMS (3 + 2 * SYNC_MAX_PEERS) /* sync.poll_socks and poll_fds */

/* One socket of the engine's poll set (engine.c; opaque elsewhere). */
typedef struct engine_sock engine_sock_t;
/* A command queued for the engine (engine.c; opaque elsewhere). */
typedef struct engine_cmd engine_cmd_t;

struct sync {
	sync_conf_t conf;             /* settings */
	atomic_int links_up;          /* links connected (the engine's; read by any thread) */
	void *ctx;                    /* ZeroMQ context */
	void *srv;                    /* ROUTER peers dial, or NULL */
	void *zap;                    /* ZAP handler (REP) */
	int cmd_fd;                   /* command pipe: an eventfd, written when the list
	                                 below stops being empty (engine.c) */
	engine_cmd_t *cmd_head;       /* commands queued, oldest first (under cmd_lock) */
	engine_cmd_t *cmd_tail;       /* the newest (under cmd_lock) */
	pthread_mutex_t cmd_lock;     /* guards the list */
	atomic_int cmd_writers;       /* callers writing cmd_fd (after the lock) */
	pthread_t thread;             /* the engine */
	pthread_mutex_t lock;         /* guards links[].st and links[].used for sync_status */
	link_t links[SYNC_MAX_PEERS]; /* peers */
	int n_links;      /* slots ever used (slots are taken in order and never freed): every loop
	                     over the links stops there. A loop round walked all 512 slots (about
	                     1 MB of link_t) several times, for each message, at a site of 2 links */
	unsigned port;    /* bound port */
	unsigned mon_seq; /* names monitor endpoints uniquely */
	recon_t *recon;   /* reconciliation state, shared: one message at a time */
	link_t *recon_link;                /* the link whose message is being processed */
	uint8_t *recon_out;                /* its answer, send_cap bytes */
	uint8_t (*recon_want)[CPT_ID_LEN]; /* ids it showed we lack: one WANT per message */
	size_t recon_nwant;                /* how many in recon_want */
	uint64_t rate_ms;                  /* last rate tick */
	size_t recv_limit;                 /* largest message accepted: max(max_msg, MSG_FLOOR) */
	size_t send_cap;                   /* largest message sent (see sync_start) */
	uint64_t next_reconcile_ms;        /* periodic reconciliation */
	uint64_t next_recheck_ms;          /* certificates checked again (expiry) */
	int recheck_due;                   /* a recheck asked from the engine thread itself */
	int timers_due;                    /* a link changed state: run the timers this round */
	recv_batch_t *in;      /* envelopes of catch-up messages waiting for the end of this round,
	                          or NULL */
	recv_batch_t *in_live; /* those of live messages (at most SYNC_LIVE_MAX), apart */
	size_t jobs_out;       /* batches given to ops.put, not done yet */
	/* senders.c: events kept waiting here (pending, held, aside) and the
	 * links that sent them, an open-addressing table (see there) */
	struct sender *senders;
	size_t senders_cap, senders_n;        /* slots (a power of two, or 0), used */
	size_t live_out;                      /* of them, live ones */
	int stop;                             /* leave the loop */
	int thread_started;                   /* the engine thread ran (engine.c, s_free) */
	zap_refused_t refused[REFUSED_SLOTS]; /* addresses refused lately, for the log */
	uint64_t refused_other;               /* refusals of addresses past the table, not logged */
	uint64_t refused_other_since;         /* when the first of those came */
	uint64_t refused_check_ms;            /* when the windows were last looked at */
	/* blob.c */
	bfetch_t fetch[BFETCH_MAX]; /* blobs being fetched */
	uint64_t blob_next_ms;      /* next look at next_missing */
	int blob_kick;              /* look now (sync_blob_kick, a damaged blob) */
	/* Manifests asked of this site while it could not serve them (not here
	 * yet, or not wanted yet: a local event is offered to peers before its
	 * commit); looked at again at each scan, answered with BMAP when they
	 * can be, forgotten after MAP_RETRY_MS, when the asker asks again. */
	struct {
		uint8_t id[32];    /* the blob */
		int slot;          /* the link slot that asked plus 1, 0 when free */
		uint64_t until_ms; /* forgotten after */
	} map_later[32];
	uint64_t blob_gen;        /* generation of next_missing lists */
	sync_blob_status_t bst;   /* the status counters (under lock) */
	uint8_t *bbuf;            /* one chunk, to serve (SYNC_BLOB_CHUNK bytes) */
	uint64_t blob_status_ms;  /* last refresh of the blob status counts */
	uint64_t blob_timeout_ms; /* last look for chunks given up for lost */
	uint64_t blob_unread;     /* chunk bytes served to every link and not known read */
	double blob_tokens;       /* bytes that may be asked now (conf.blob_rate) */
	uint64_t blob_tokens_ms;  /* when they were last refilled */
	/* Peers refused for want of a link (link_new): each key counted and
	 * logged once, up to SYNC_MAX_PEERS of them (then the count stops). */
	uint8_t (*over_keys)[CPT_KEY_LEN]; /* those keys, allocated at the first */
	uint64_t over_limit;               /* how many (under lock) */
	/* The engine thread's poll set: its three sockets, then a dealer and a
	 * monitor per link (POLL_ITEMS), and the descriptor (ZMQ_FD) of each at
	 * the same index; on the heap, as hundreds of links would be tens of KB
	 * of its stack. */
	engine_sock_t *poll_socks;
	struct pollfd *poll_fds;
	/* As link.dealer_check, for the engine's own sockets (link.c sets
	 * srv_check when it sends on the ROUTER). */
	int srv_check, zap_check;
};

/* ------------------------------------------------------------- clocks */

/* Milliseconds on the monotonic clock: every timer and deadline. */
static inline uint64_t
sync_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Microseconds on the monotonic clock: the durations of the debug trace. */
static inline uint64_t
sync_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Milliseconds since the epoch: only for what the status page shows. */
static inline uint64_t
sync_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Time from then to now, 0 when then is later (set after now was read). */
static inline uint64_t
sync_since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

/* Unsigned big-endian integers of n bytes (ACK, BACKLOG). */
static inline void
sync_be_put(uint8_t *b, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static inline uint64_t
sync_be_get(const uint8_t *b, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | b[i];
	return v;
}

/* ------------------------------------------------ engine.c: the thread */

/* 1 when the caller runs on s's engine thread (any thread may ask). */
int engine_on_thread(const sync_t *s);

/* --------------------------------------------- link.c: peers and links */

/* The ROUTER peers dial, when conf.listen is set: CURVE server with ZAP
 * enforced. 0, or -1 with err filled (nothing left open). */
int link_listen(sync_t *s, char *err, size_t errlen) CPT_WUR;
/* The link of a site key, NULL when none. Points into s->links: valid for
 * the life of the engine (slots are never freed). */
link_t *link_by_key(sync_t *s, const uint8_t key[CPT_KEY_LEN]);
/* The link of a site key, made when new (any thread before the engine
 * starts, else the engine's); NULL when every slot is taken. */
link_t *link_new(sync_t *s, const uint8_t key[CPT_KEY_LEN]);
/* An outgoing link, or a new endpoint for one (CMD_ADD_PEER); dialed by
 * link_tick. */
void link_add(sync_t *s, const sync_peer_conf_t *pc);
/* The site name for logs: "?" until known. Borrowed from l. */
const char *link_name(const link_t *l);
/* Learns a link's transport key and site name from its certificate: 0, or
 * -1 when no certificate is held for it. */
int link_learn(sync_t *s, link_t *l) CPT_WUR;
/* 1 when the link is up and has a connection to send on. */
int link_up(const link_t *l);
/* Sends a message of n frames to a link, never blocking: 0, or -1 when the
 * link is down, shut out or its queue full. Best effort by design (not
 * warn_unused_result): what is lost is repaired by reconciliation, so most
 * callers ignore the answer. frames are copied before it returns. */
int link_send(sync_t *s, link_t *l, int type, const void *const *frames, const size_t *lens,
              size_t n);
/* Our HELLO (site key and name), best effort: 0 when it went out, -1 when
 * the link had no connection to send on. */
int link_send_hello(sync_t *s, link_t *l);
/* The HELLO due since a handshake succeeded (knock_ms), tried now. */
void link_knock(sync_t *s, link_t *l, uint64_t now);
/* Marks a link up or down; either way what was queued for it starts afresh
 * (flow_reset) and, when up, a reconciliation is due. */
void link_set_connected(sync_t *s, link_t *l, int up);
/* A malformed message from l: counted, logged, and past BAD_LIMIT a ban. */
void link_malformed(sync_t *s, link_t *l, int type, size_t n);
/* Cuts every connection with a link and shuts it out for a while. why is
 * logged. */
void link_ban(sync_t *s, link_t *l, const char *why);
/* Closes the connection a peer dialed us on (see the comment in link.c). */
void link_drop_incoming(link_t *l);
/* Closes the dealer of a link and its monitor; safe when there is none. */
void link_close_dealer(link_t *l);
/* Closes every connection with a revoked link, at the end of its grace. */
void link_revoked_close(link_t *l);
/* Reads an event of the monitor of l's dealer (refused handshakes): 1, or 0
 * when none was waiting. It may close the dealer and the monitor. */
int link_on_monitor(sync_t *s, link_t *l);
/* A timer round for one link: the close of a revoked link, dialing,
 * liveness (link down after silence, HELLO until it answers, PING). 1 when
 * the link is up and the rest of its round should run. */
int link_tick(sync_t *s, link_t *l, uint64_t now);
/* When link_tick next has something to do for l (after now). */
uint64_t link_next_ms(const sync_t *s, const link_t *l, uint64_t now);

/* ------------------------------------------ zap.c: admission of sites */

/* The ZAP handler (REP on inproc://zeromq.zap.01), bound before any CURVE
 * socket. 0, or -1 with err filled (engine.c's s_free closes what was made). */
int zap_start(sync_t *s, char *err, size_t errlen) CPT_WUR;
/* Answers one ZAP request waiting on s->zap: 1, or 0 when none was
 * waiting. */
int zap_on_request(sync_t *s);
/* The trust state changed: closes the links of sites no longer admitted. */
void zap_recheck(sync_t *s);
/* Once a second: sums up the refusals not logged one by one. */
void zap_tick(sync_t *s, uint64_t now);

/* -------------------------------- flow.c: queues, window and backlog */

/* Sends events (by id) to l in EVENTS messages, counted in its window;
 * returns how many messages went out. ids are only read. */
int flow_send_events(sync_t *s, link_t *l, const uint8_t (*ids)[CPT_ID_LEN], size_t n);
/* Sends events (by id, read once from the store) to every link that is up
 * but from (NULL: to all), counted in each one's window. ids are only read. */
void flow_relay(sync_t *s, const link_t *from, const uint8_t (*ids)[CPT_ID_LEN], size_t n);
/* The same for events the node announced (sync_announce: made here, or
 * admitted after waiting): each goes to every link that is up but those
 * that sent it while it waited (senders_take), in the order given. */
void flow_relay_announced(sync_t *s, const uint8_t (*ids)[CPT_ID_LEN], size_t n);
/* Sends envelopes (borrowed, only read) to every link that is up but from,
 * at once: a live batch's admitted events, before our commit. */
void flow_relay_envs(sync_t *s, const link_t *from, const uint8_t *const *env, const size_t *elen,
                     size_t n);
/* Sends one local envelope (sync_offer) to l, counted in its window. */
void flow_offer(sync_t *s, link_t *l, const void *env, size_t len);
/* Queues ids l asked for (copied); what does not fit is dropped. */
void flow_want(sync_t *s, link_t *l, const uint8_t *ids, size_t n);
/* Queues a range [lo, hi) (copied) that l lacks entirely, streamed later. */
void flow_ranges_add(sync_t *s, link_t *l, const uint8_t *lo, const uint8_t *hi);
/* Sends what is queued for l while its window allows. */
void flow_serve(sync_t *s, link_t *l);
/* An ACK (16 bytes) from l: its window opens, and more goes out. */
void flow_on_ack(sync_t *s, link_t *l, const uint8_t *ack, uint64_t now);
/* A BACKLOG (8 bytes) from l: what it has queued for us. */
void flow_on_backlog(sync_t *s, link_t *l, const uint8_t *backlog);
/* Tells l how many events we have queued for it, when that changed. */
void flow_backlog_say(sync_t *s, link_t *l, uint64_t now);
/* Forgets everything queued for l (its link went up or down). */
void flow_reset(sync_t *s, link_t *l);
/* 1 when ranges or ids wait for l, it is up and its window has room: the
 * loop does not sleep. */
int flow_ready(const link_t *l);
/* A timer round for an up link: serves its queues, says its backlog. */
void flow_tick(sync_t *s, link_t *l, uint64_t now);
/* When flow_tick next has something to do for l: an ACK given up for lost,
 * a backlog to say; 0 when nothing. */
uint64_t flow_next_ms(const link_t *l);

/* ------------------------ reconcile.c: recon.c driven for each link */

/* Makes s->recon and s->recon_out (send_cap bytes): 0, or -1 (out of
 * memory, nothing left allocated). */
int reconcile_init(sync_t *s) CPT_WUR;
/* Frees them; safe when reconcile_init failed or never ran. */
void reconcile_fini(sync_t *s);
/* A reconciliation with l is due (opened by reconcile_tick if we dialed). */
void reconcile_schedule(link_t *l);
/* The same after an outage (the link came up): opened from our newest items. */
void reconcile_schedule_recent(link_t *l);
/* Opens the reconciliation of a link we dial right behind our HELLO, before
 * the link is up (link_knock). */
void reconcile_open_early(sync_t *s, link_t *l);
/* A timer round for an up link: opens a reconciliation when due. */
void reconcile_tick(sync_t *s, link_t *l, int periodic);
/* Answers a RECON message from l (msg is only read). */
void reconcile_on(sync_t *s, link_t *l, const uint8_t *msg, size_t len);

/* ------------------------------------ blob.c: blobs, pulled by chunks */

/* Makes the chunk buffer: 0, or -1 (out of memory). */
int blob_init(sync_t *s) CPT_WUR;
/* Frees every fetch, every serving queue and the buffer. */
void blob_fini(sync_t *s);
/* 1 when blob messages are spoken at all (conf.blob set). */
int blob_enabled(const sync_t *s);
/* A blob message from l (type SYNC_BHELLO..SYNC_BNONE, frames 1..n-1 of m
 * checked by sync_msg_check). */
void blob_on(sync_t *s, link_t *l, int type, zmq_msg_t *m, const size_t *len, size_t n);
/* The link came up or went down: our BHELLO is due (up), what was asked of it
 * is asked elsewhere and what it asked is forgotten. */
void blob_link_reset(sync_t *s, link_t *l, int up);
/* A HELLO from l: a new or restarted peer; its blob version is forgotten
 * until its BHELLO, ours is sent again, what was asked of it asked again. */
void blob_on_hello(sync_t *s, link_t *l);
/* Work of a round: BHELLO due, new fetches, chunks to ask, one chunk per
 * link served, chunks given up for lost. */
void blob_round(sync_t *s, uint64_t now);
/* 1 when chunks wait to be served: the loop does not sleep. */
int blob_busy(const sync_t *s);
/* When blob_round next has something to do (0: nothing). */
uint64_t blob_next_ms(const sync_t *s, uint64_t now);

/* -------------------- senders.c: who sent the events that wait here */

#define SENDERS_LINKS 3 /* senders kept per event; a fourth gets it back once admitted */

/* Link slot sent event id, which the node keeps waiting (pending, held or
 * aside): once admitted it is not relayed back there. Out of memory, or
 * past the table's size, it is not noted (a duplicate later, no more). */
void senders_note(sync_t *s, const uint8_t id[CPT_ID_LEN], int slot);
/* Adds to skip the slots of the links that sent id while it waited, and
 * forgets it; 1 when it was noted, else 0 (skip unchanged). */
int senders_take(sync_t *s, const uint8_t id[CPT_ID_LEN], peerset_t *skip);
/* Frees the table. */
void senders_fini(sync_t *s);

/* ----------------------- recv.c: from the sockets to the store and ACKs */

/* Reads one whole message (all frames) from sock into msgs without waiting
 * for its first frame; returns the count (0: nothing there). A message of
 * more than max frames is drained, its first max frames kept, and *overflow
 * set. The caller closes the msgs returned. */
size_t recv_msg(void *sock, zmq_msg_t *msgs, size_t max, int *overflow);
/* Handles one message from the ROUTER; 0 when none was waiting. */
int recv_on_server(sync_t *s);
/* Handles one message from l's dealer; 0 when none was waiting. */
int recv_on_dealer(sync_t *s, link_t *l);
/* Gives the envelopes gathered this round to ops.put. */
void recv_flush(sync_t *s);
/* 1 while so many batches are on their way to the store that reads pause. */
int recv_saturated(const sync_t *s);
/* 1 while l's dealer is not read: the store is saturated, or l alone has
 * so many events on their way to it (the other sockets are still read). */
int recv_held(const sync_t *s, const link_t *l);
/* The engine a put job belongs to (any thread). */
sync_t *recv_job_engine(const sync_put_t *job);
/* The node admitted these envelopes of a job (sync_put_admitted): relayed
 * now if the job is live, and not again by recv_done. */
void recv_admitted(sync_t *s, sync_put_t *job, const sync_admitted_t *adm, size_t n);
/* ids (n, copied) go to the peers once job is done, after its ACKs and
 * relays (sync_put_announce), as flow_relay_announced. */
void recv_announce_after(sync_t *s, sync_put_t *job, const uint8_t (*ids)[CPT_ID_LEN], size_t n);
/* A put job came back: ACKs, counts and relay; frees the batch. */
void recv_done(sync_t *s, sync_put_t *job);

#endif
