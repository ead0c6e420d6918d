/*
 * sync — links between sites: ZeroMQ CURVE transport with a fail-closed ZAP
 * handler, live push of events, relaying, and reconciliation on (re)connect.
 * It knows nothing of LMDB or HTTP: it reaches the events through the
 * functions of sync_ops_t that node/ provides. One thread owns every socket.
 * This is the one header of sync/ for the rest of the tree; the files of
 * sync/ share sync/sync_internal.h, which nothing outside sync/ includes.
 */
#ifndef COMPTOIR_SYNC_H
#define COMPTOIR_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "crypto/crypto.h"

#define SYNC_VERSION 2 /* the protocol version (PROTOCOL.md 10.2); 1 is refused by name */
/* Links one engine holds, dialed and dialing in: a hub of a few hundred
 * branches fits. A peer past it is refused, counted (sync_over_limit) and
 * logged, never dropped in silence. */
#define SYNC_MAX_PEERS  512
#define SYNC_ZAP_DOMAIN "comptoir"
#define SYNC_TSID_LEN   40 /* timestamp (8, big-endian) then id (32) */

/* Message types: frame 0 of every message is [version, type]. PROTOCOL.md. */
enum sync_msg {
	SYNC_HELLO = 1,   /* frame 1: sender's site sign key (32) + site name */
	SYNC_PING = 2,    /* no payload */
	SYNC_PONG = 3,    /* no payload */
	SYNC_EVENTS = 4,  /* frames 1..n: one envelope each */
	SYNC_ACK = 5,     /* frame 1: stored u32, duplicate u32, pending u32, rejected u32 */
	SYNC_IDS = 6,     /* frame 1: n x (ts, id); frame 2: [last-page flag] */
	SYNC_WANT = 7,    /* frame 1: n x id (32) */
	SYNC_RECON = 8,   /* frame 1: a reconciliation message (recon.c) */
	SYNC_BACKLOG = 9, /* frame 1: u64 big-endian: events the sender has queued for us */
	/* Blob messages (PROTOCOL.md 18.6), sent only to a peer that said BHELLO. */
	SYNC_BHELLO = 10,   /* frame 1: blob version (u8), flags (u8) */
	SYNC_BMAP_GET = 11, /* frame 1: blob id (32) */
	SYNC_BMAP = 12,     /* frame 1: blob id (32), size (u64); frame 2: manifest (n x 32) */
	SYNC_BGET = 13,     /* frame 1: blob id (32), first chunk (u32), count (u16, 1..8) */
	SYNC_BCHUNK = 14,   /* frame 1: blob id (32), chunk index (u32); frame 2: its bytes */
	SYNC_BNONE = 15,    /* frame 1: blob id (32), reason (u8), chunks held (u32) */
};

#define SYNC_BLOB_VERSION 1
#define SYNC_BLOB_CHUNK   262144u /* bytes of a chunk (PROTOCOL.md 18.1) */
/* Chunk bytes a site serves to one peer, and to all, before the peer shows
 * it read them (PROTOCOL.md 18.6, "Serving budget"). */
#define SYNC_BLOB_PEER_BUDGET  (16u * SYNC_BLOB_CHUNK)  /* 4 MiB */
#define SYNC_BLOB_TOTAL_BUDGET (128u * SYNC_BLOB_CHUNK) /* 32 MiB */
#define SYNC_BLOB_MAX_SIZE     ((uint64_t)1 << 33)
#define SYNC_BLOB_MAX_CHUNKS   32768u /* a manifest is at most 1 MiB */
#define SYNC_BGET_MAX          8      /* chunks in one BGET */

/* The reasons of BNONE (PROTOCOL.md 18.6). */
enum sync_bnone {
	SYNC_BNONE_NOT_YET = 0, /* wanted there, not held (yet): ask again later */
	SYNC_BNONE_ERASED = 1,  /* not wanted there (redacted, erased, unknown): never served */
	SYNC_BNONE_BUSY = 2,    /* its queue for us is full: ask again later */
};

/* A blob this site wants and lacks, as the node lists them for fetching. */
typedef struct sync_blob_want {
	uint8_t id[32]; /* the blob id */
	uint64_t size;  /* its size as the event says (0 when unknown) */
	int prio;       /* 1 (on demand) .. 4 (large): lower is fetched first */
} sync_blob_want_t;

/*
 * Where the engine finds blobs (PROTOCOL.md 18.5-18.7): node/ provides them
 * over its blob store, sync/ knows no file. Called from the sync thread only.
 * Every function returns 0 or a CPT_ error unless said otherwise.
 */
typedef struct sync_blob_ops {
	void *ctx; /* passed back to every function */
	/* 1 when an admitted, unredacted event names the blob here, else 0:
	 * only such blobs are fetched or served. */
	int (*wanted)(void *ctx, const uint8_t id[32]);
	/* Up to max blobs wanted and not held here, the first to fetch first
	 * (priority, then newest); returns how many. */
	size_t (*next_missing)(void *ctx, sync_blob_want_t *out, size_t max);
	/* The manifest of a blob held here: *manifest malloc'd (the caller
	 * frees), *mlen bytes. CPT_ENOTFOUND, CPT_EDAMAGED (the store moved it
	 * away: it is to fetch again). */
	int (*manifest)(void *ctx, const uint8_t id[32], uint8_t **manifest, uint64_t *size,
	                size_t *mlen);
	/* Chunk index of a blob held here into buf (SYNC_BLOB_CHUNK bytes),
	 * checked against its manifest: *len its length. CPT_ENOTFOUND,
	 * CPT_EDAMAGED (moved away, to fetch again). */
	int (*read_chunk)(void *ctx, const uint8_t id[32], uint32_t index, uint8_t *buf,
	                  size_t *len);
	/* Opens (or makes) the partial file of a blob to fetch, with its
	 * manifest, already checked against the id (mlen = n x 32): held[i] set
	 * to 1 for each chunk already there that matches its hash, else 0 (n
	 * bytes, the caller's). */
	int (*part_open)(void *ctx, const uint8_t id[32], uint64_t size, const uint8_t *manifest,
	                 size_t mlen, uint8_t *held);
	/* Writes a checked chunk at its offset in the partial file. */
	int (*part_write)(void *ctx, const uint8_t id[32], uint32_t index, const uint8_t *data,
	                  size_t len);
	/* Every chunk is written: the blob is made durable under its id (fsync,
	 * rename): held from then on. */
	int (*part_finish)(void *ctx, const uint8_t id[32]);
	/* A fetch is given up: next_missing no longer lists the blob (erased,
	 * or come by another way). Its partial file goes if the blob is no
	 * longer wanted. May be NULL. */
	void (*forget)(void *ctx, const uint8_t id[32]);
} sync_blob_ops_t;

/* A batch of envelopes received from peers, on its way to the store. */
typedef struct sync_put {
	const uint8_t *const *buf;  /* envelopes */
	const size_t *len;          /* their sizes */
	size_t n;                   /* how many */
	int *rc;                    /* out: 0 (stored), CPT_EEXIST, CPT_EPENDING or an error */
	uint8_t (*ids)[CPT_ID_LEN]; /* out: event ids (zeros when undecodable) */
	int err;                    /* out: 0, or a store error (nothing committed) */
	int live; /* the envelopes came in messages of at most SYNC_LIVE_MAX (live relays and
	             offers), never with a catch-up's: ops.put may store this job before batches
	             given to it earlier, which the engine acknowledges in any order */
} sync_put_t;

/* EVENTS messages of at most this many envelopes are a live relay or offer
 * (or the odd few a reconciliation found): they leave the flow-control window
 * (sync/flow.c) and take the live lane to the store (sync/recv.c). */
#define SYNC_LIVE_MAX 8

/* Where the engine finds the events. Called from the sync thread only;
 * every function must be safe to call while the node serves HTTP. */
typedef struct sync_ops {
	void *ctx; /* passed back to every function */
	/* 1 when the event is stored (or pending) here, 0 when not. */
	int (*has)(void *ctx, const uint8_t id[CPT_ID_LEN]);
	/* A malloc'd copy of the envelope (caller frees), or NULL. The engine
	 * itself reads through get_many only. */
	uint8_t *(*get)(void *ctx, const uint8_t id[CPT_ID_LEN], size_t *len);
	/* The same for n ids in one read: out[i] a malloc'd copy (caller
	 * frees), NULL when absent. */
	void (*get_many)(void *ctx, const uint8_t (*ids)[CPT_ID_LEN], size_t n, uint8_t **out,
	                 size_t *len);
	/* Takes a batch of envelopes from peers to ingest through the node's
	 * single path, and returns at once: 0 when taken, else an error (the
	 * job was not taken). Once the batch is durably committed (or failed),
	 * the node fills job's outputs and calls sync_put_done(job), from any
	 * thread, possibly before put returns. Jobs complete in order. job and
	 * the envelopes it points to stay valid until that call, no longer. */
	int (*put)(void *ctx, sync_put_t *job);
	/* Fills out with up to max (ts, id) keys strictly after `after` (NULL =
	 * from the start) in order; returns how many. */
	size_t (*scan)(void *ctx, const uint8_t *after, uint8_t (*out)[SYNC_TSID_LEN], size_t max);
	/* Reconciliation (recon_src_t): count and fingerprint of [lo, hi), items
	 * of [lo, hi), and split points; from an index, never a scan of all. */
	void (*fingerprint)(void *ctx, const uint8_t *lo, const uint8_t *hi, uint64_t *count,
	                    uint8_t fp[16]);
	size_t (*items)(void *ctx, const uint8_t *lo, const uint8_t *hi,
	                uint8_t (*out)[SYNC_TSID_LEN], size_t max);
	size_t (*split)(void *ctx, const uint8_t *lo, const uint8_t *hi, uint64_t count, size_t k,
	                uint8_t (*bounds)[SYNC_TSID_LEN]);
	/* Admission: 1 when curve_pk is the transport key of a certified,
	 * unrevoked site of this federation; fills sign_key and site (64). */
	int (*admit)(void *ctx, const uint8_t curve_pk[CPT_KEY_LEN], uint8_t sign_key[CPT_KEY_LEN],
	             char site[64]);
	/* The transport key and name (site, 64 bytes) of a site from its
	 * certificate: 0, CPT_ENOTFOUND, or another error (not read). */
	int (*lookup)(void *ctx, const uint8_t sign_key[CPT_KEY_LEN], uint8_t curve_pk[CPT_KEY_LEN],
	              char site[64]);
	/* Reconciliation (recon_src_t.recent, optional): up to max of our
	 * newest (ts, id) keys, in increasing order; returns how many. */
	size_t (*recent)(void *ctx, uint8_t (*out)[SYNC_TSID_LEN], size_t max);
	/* Optional: how many of our events the site sign_key may lack, counted
	 * from the point it was last known in step (kept across a restart), or
	 * 0 when unknown. Sizes the reconciliation after an outage. */
	uint64_t (*unsent)(void *ctx, const uint8_t sign_key[CPT_KEY_LEN]);
} sync_ops_t;

/* An outgoing link to set up: where, and which site we expect there. */
typedef struct sync_peer_conf {
	char endpoint[CFG_MAX_STR];    /* tcp://host:port */
	uint8_t site_key[CPT_KEY_LEN]; /* the peer site's Ed25519 key */
} sync_peer_conf_t;

/* The state of one peer as the status page shows it. */
typedef struct sync_peer_status {
	char site[64];                 /* site name, "" until known */
	uint8_t site_key[CPT_KEY_LEN]; /* its Ed25519 key */
	char endpoint[CFG_MAX_STR];    /* where we dial it, "" when it dials us */
	int connected;                 /* link up now */
	uint64_t since_ms;             /* connected since, or down since (0: never up) */
	uint64_t last_exchange_ms;     /* last message either way */
	uint64_t last_reconcile_ms;    /* last complete reconciliation */
	uint64_t sent;                 /* events sent */
	uint64_t received;             /* events received and stored */
	uint64_t rejected;             /* events refused */
	uint64_t to_send;              /* events it asked for, not yet sent */
	uint64_t to_receive;           /* events we asked for, not yet received */
	uint64_t bytes_in, bytes_out;  /* traffic */
	uint64_t msgs_in, msgs_out;    /* messages received from it and sent to it, of every type
	                                  (what a live event costs per link: sim.py) */
	uint64_t rate_in;              /* events stored from it per second, last seconds */
	uint64_t reconciliations;      /* reconciliation messages exchanged */
	int revoked;                   /* its certificate is no longer valid here (revoked or
	                                  expired): not dialed, refused, its link closed */
	int refused;                   /* 0, or the ZAP status code (400) with which the peer
	                                  refused our last handshake: it does not admit us */
	int settled;                   /* a reconciliation ran to its end since the link came
	                                  up: to_send is then all it lacks of ours */
	int blob_version;              /* the blob version it announced (BHELLO), 0: none */
	uint64_t blob_bytes_in;        /* chunk bytes received from it and checked */
	uint64_t blob_bytes_out;       /* chunk bytes served to it */
	uint64_t blob_wait;            /* blobs being fetched that it holds (from its BMAP) */
	uint64_t blob_wait_bytes;      /* bytes of those still to fetch */
	uint64_t blob_refused;         /* chunks or manifests of it that failed their check */
	uint64_t blob_unread;          /* chunk bytes served to it not yet known read (at most
	                                  SYNC_BLOB_PEER_BUDGET) */
	uint64_t blob_held_back;       /* times serving it waited for the budget */
	uint64_t blob_held_said;       /* chunks of a blob we fetch that it said it holds (its
	                                  last BNONE "not here yet": a fetch under way there) */
} sync_peer_status_t;

/* What the engine's fetching looks like as a whole (sync_blob_status). */
typedef struct sync_blob_status {
	uint64_t fetching;       /* blobs being fetched now */
	uint64_t fetching_bytes; /* bytes of them still to fetch */
	uint64_t unreachable;    /* blobs being fetched that no linked peer holds now: they arrive
	                            when the site that has them is linked again */
	uint64_t fetched;        /* blobs completed since the start */
	uint64_t bytes_in;       /* chunk bytes received and checked since the start */
	uint64_t resumed_bytes;  /* bytes found already held in partial files (not fetched again) */
	uint64_t damaged;        /* blobs found damaged on disk here when read to serve */
	uint64_t unread;         /* chunk bytes served to peers, not yet known read */
	uint64_t unread_max;     /* the most it was since the start (SYNC_BLOB_TOTAL_BUDGET) */
} sync_blob_status_t;

typedef struct sync sync_t;

/* What the engine needs to run. */
typedef struct sync_conf {
	char listen[CFG_MAX_STR];      /* "" = accept no incoming links */
	const key_curve_t *curve;      /* our transport key (borrowed for the life of the engine) */
	uint8_t site_key[CPT_KEY_LEN]; /* our Ed25519 site key */
	char site[64];                 /* our site name */
	uint32_t max_msg;              /* largest message accepted (never under 1 MiB) */
	uint32_t heartbeat_ms;         /* heartbeat interval */
	uint32_t reconcile_interval_s; /* periodic reconciliation */
	uint32_t recheck_ms;           /* links' certificates checked again (0: 30 s), so
	                                  that one that expires ends its link in time */
	uint32_t refused_log_ms;       /* refused connections after an address's first are
	                                  counted in one line per address per this (0: 60 s) */
	sync_ops_t ops;                /* the store */
	uint32_t blob_rate;            /* bytes per second of chunks asked in all, 0: no cap */
	sync_blob_ops_t blob;          /* the blob store; blob.wanted NULL: no blob messages
	                                  (BHELLO is not sent, blob messages are malformed) */
} sync_conf_t;

/*
 * Starts the engine thread: binds listen, dials every peer (on its first
 * round). conf is copied, except conf->curve, which must outlive the engine
 * (sync_stop), and conf->ops.ctx, which must stay valid until then; every
 * function of conf->ops but get must be set. peers (n_peers of them) are
 * copied. Returns the engine, to be freed with sync_stop, or NULL with err
 * (errlen bytes, NUL-terminated) saying why: the endpoint cannot be bound,
 * out of memory, no thread. Call from one thread at a time.
 */
sync_t *sync_start(const sync_conf_t *conf, const sync_peer_conf_t *peers, size_t n_peers,
                   char *err, size_t errlen) CPT_WUR;
/* Stops the thread, once every job given to ops.put has come back through
 * sync_put_done (so whatever completes them must still run), closes every
 * link, frees the engine and sets *self_p to NULL. Safe when *self_p is NULL;
 * never from the engine's own thread (an ops function). */
void sync_stop(sync_t **self_p);
/* Offers newly stored events to every connected peer (any thread), but
 * those that sent them while the node kept them waiting (pending, held,
 * aside: noted as their batches came back). ids (n of them) are copied
 * before it returns. s may be NULL (no engine: nothing). */
void sync_announce(sync_t *s, const uint8_t (*ids)[CPT_ID_LEN], size_t n);
/* Sends a local event (its envelope) to every connected peer at once, before
 * it is stored here, so that the peers' commits overlap ours (any thread).
 * The event is not announced again after the commit. env (len bytes) is
 * copied before it returns. s may be NULL. */
void sync_offer(sync_t *s, const uint8_t *env, size_t len);
/* A job given to ops.put is committed (or failed): the engine acknowledges
 * its events to their senders and relays them (any thread, once per job).
 * The job belongs to the engine again: the node must not touch it after
 * this call, nor the buffers it pointed to. */
void sync_put_done(sync_put_t *job);
/* One envelope of a put job that the node admitted (sync_put_admitted). */
typedef struct sync_admitted {
	uint32_t at;  /* its index in the job */
	uint32_t len; /* the bytes of it that go on: the whole envelope, or EVT_FIXED_LEN
	                 when it is stored without its body (a redaction of it is held) */
} sync_admitted_t;
/*
 * What the node admitted of a live job (sync_put_t.live) in a transaction
 * that is built and not yet committed (n entries of adm, copied before it
 * returns). The engine relays them at once to every other linked peer, from
 * its own copy of the envelopes, and not again once the job is done; the
 * job's ACKs still wait for sync_put_done, which says what is durable. Only
 * what the node decided to store may be given (never an event it refuses,
 * keeps pending or holds); should the commit then fail, peers hold events
 * this site does not, which reconciliation brings back (docs/ARCHITECTURE.md).
 * Any thread, before the job's sync_put_done; ignored for a job that is not
 * live (a catch-up's relays wait for the commit: past the window they are
 * queued as ids, read back from the store).
 */
void sync_put_admitted(sync_put_t *job, const sync_admitted_t *adm, size_t n);
/*
 * Events that the transaction holding job stored other than as its
 * arrivals (kept waiting, then admitted by it: the node's NODE_ADMITTED),
 * announced like sync_announce once the job is done: the engine has then
 * noted which peers sent events it kept waiting, this job's included, and
 * relays each to every peer but those. ids (n) are copied before it
 * returns. Any thread, before the job's sync_put_done.
 */
void sync_put_announce(sync_put_t *job, const uint8_t (*ids)[CPT_ID_LEN], size_t n);
/* Adds an outgoing link, or gives a known site a new endpoint (any thread).
 * peer is copied. s may be NULL. */
void sync_add_peer(sync_t *s, const sync_peer_conf_t *peer);
/* The trust state changed (a revocation): re-check every link now and drop
 * those no longer admitted (any thread, the engine's own included). s may be
 * NULL. */
void sync_recheck(sync_t *s);
/* Copies the status of up to max peers into out (owned by the caller);
 * returns how many (any thread). 0 when s is NULL. */
size_t sync_status(sync_t *s, sync_peer_status_t *out, size_t max);
/* New blobs may be wanted (an event naming one was stored, a redaction
 * erased one, a blob was found damaged): the engine asks next_missing again
 * now rather than at its next timer (any thread). s may be NULL. */
void sync_blob_kick(sync_t *s);
/* The engine's fetching as a whole into *out (any thread); zeros when s is
 * NULL. */
void sync_blob_status(sync_t *s, sync_blob_status_t *out);
/* Peers refused because every one of the SYNC_MAX_PEERS links was taken
 * (dialed peers past it at start or when added, sites dialing in past it),
 * counted once per site key since the start (at most SYNC_MAX_PEERS of
 * them); 0 on NULL. */
uint64_t sync_over_limit(sync_t *s);
/* The port bound for listen (for "tcp://127.0.0.1:0" style endpoints), or 0
 * (no listen, or s NULL). */
unsigned sync_port(sync_t *s);

/* ------------------------------------------------------ reconciliation */

#define RECON_VERSION 1
#define RECON_KEY_LEN 40   /* (ts, id) keys and bounds, compared with memcmp */
#define RECON_FP_LEN  16   /* fingerprint: BLAKE2b-128 of (sum mod 2^256, count) */
#define RECON_BRANCH  16   /* a differing range splits into this many */
#define RECON_SMALL   16   /* ranges this small are settled with id lists */
#define RECON_MAX_IDS 1024 /* longest id list we send for one range */
/* Where most of a message's ranges differ (dense differences: both sites
 * wrote through an outage), a range is listed rather than split when its ids
 * cost at most this many bytes per difference it is expected to hold: a
 * round trip saved, within the 1 KiB per difference of scattered ones. */
#define RECON_DENSE_BYTES 1024
#define RECON_LIST_MAX    (4 * RECON_MAX_IDS) /* longest we accept or compare */
/* Longest list for a range of a message's differing tail (recon_process):
 * within what every node accepts (RECON_LIST_MAX since the first version). */
#define RECON_TAIL_IDS   (2 * RECON_MAX_IDS)
#define RECON_MAX_RANGES 65536 /* ranges in one message */
/* recon_start_recent's newest range, in items: an event written while the
 * link comes up makes the newest range differ, and listing 64 ids is
 * cheaper than a round trip more. */
#define RECON_RECENT_FIRST 64
/* How many of our newest items recon_start_recent cuts into ranges: an
 * outage of up to this many new events at the opener is found in one round
 * trip; what is older, from the split of the range before them. 8,192: the
 * heal of tests/bench/heal.py writes its cuts' events into one span, 5,015
 * by its third cut, and a comment or post found a round trip after its
 * parent's batch waits in the receiver's pending set. */
#define RECON_RECENT_MAX 8192
/* recon_start_recent_n's bounds: what the peer's answer may list (two
 * sites' ids of the span, 32 bytes each) stays within a message of 1 MiB. */
#define RECON_RECENT_MIN 1024
#define RECON_RECENT_CAP 16384

/* Where the reconciliation reads our set. Keys are 40 bytes: timestamp
 * (8, big-endian) then id; ranges are [lo, hi) by memcmp order; hi may be
 * 40 bytes of 0xff (infinity). Must not scan every item: see node/buckets.c. */
typedef struct recon_src {
	void *ctx; /* passed back */
	/* Count and fingerprint of our items in [lo, hi). */
	void (*fingerprint)(void *ctx, const uint8_t *lo, const uint8_t *hi, uint64_t *count,
	                    uint8_t fp[RECON_FP_LEN]);
	/* Up to max of our items in [lo, hi), in order; returns how many. */
	size_t (*items)(void *ctx, const uint8_t *lo, const uint8_t *hi,
	                uint8_t (*out)[RECON_KEY_LEN], size_t max);
	/* Up to k-1 bounds cutting our count items of [lo, hi) into k parts of
	 * about equal count, in order, each within (lo, hi); returns how many. */
	size_t (*split)(void *ctx, const uint8_t *lo, const uint8_t *hi, uint64_t count, size_t k,
	                uint8_t (*bounds)[RECON_KEY_LEN]);
	/* 1 when the event id is here (under any key), else 0. */
	int (*has)(void *ctx, const uint8_t id[32]);
	/* Optional (NULL: recon_start_recent is recon_start): up to max of our
	 * newest items, in increasing order; returns how many. */
	size_t (*recent)(void *ctx, uint8_t (*out)[RECON_KEY_LEN], size_t max);
} recon_src_t;

/* What the reconciliation finds, handed out while it runs. */
typedef struct recon_sink {
	void *arg; /* passed back */
	/* The peer lacks these events of ours (their (ts, id) keys). */
	void (*push_ids)(void *arg, const uint8_t (*keys)[RECON_KEY_LEN], size_t n);
	/* The peer lacks every event of ours in [lo, hi): stream them. */
	void (*push_range)(void *arg, const uint8_t *lo, const uint8_t *hi);
	/* We lack these events of the peer's: ask for them now. */
	void (*want_ids)(void *arg, const uint8_t (*ids)[32], size_t n);
	/* Optional (NULL: not told): our answer lists these events of ours
	 * (their keys), and the peer asks for those it does not hold. */
	void (*listed)(void *arg, const uint8_t (*keys)[RECON_KEY_LEN], size_t n);
} recon_sink_t;

typedef struct recon_stats {
	uint64_t rounds;         /* messages we sent */
	uint64_t bytes_sent;     /* their bytes */
	uint64_t bytes_received; /* bytes of messages received */
	uint64_t ranges_sent;    /* fingerprint and id-list ranges sent */
	uint64_t ids_sent;       /* ids in our lists */
	uint64_t ids_received;   /* ids in the peer's lists */
	uint64_t pushed;         /* events found missing at the peer (by id) */
	uint64_t push_ranges;    /* ranges found missing at the peer */
	uint64_t wanted;         /* events we asked for */
} recon_stats_t;

/* One side of a reconciliation. Its memory is bounded (about 0.7 MiB, and
 * 24 bytes per range of the largest message answered, at most 1.5 MiB),
 * whatever the size of the sets. */
typedef struct recon {
	recon_src_t src;                                    /* our set */
	recon_sink_t sink;                                  /* findings */
	recon_stats_t stats;                                /* counters */
	uint8_t scratch[RECON_LIST_MAX + 1][RECON_KEY_LEN]; /* our items of a range */
	uint8_t mine[RECON_LIST_MAX][32];                   /* their ids, sorted */
	uint8_t peer[RECON_LIST_MAX][32];                   /* the peer's list, sorted */
	uint8_t want[RECON_LIST_MAX][32];                   /* ids we lack */
	uint8_t push[RECON_LIST_MAX][RECON_KEY_LEN];        /* keys of ours the peer lacks */
	struct recon_memo *memo; /* our count and fingerprint of each of the message's
	                            fingerprinted ranges (first pass), grown as needed */
	size_t memo_cap;         /* its size, in ranges (at most RECON_MAX_RANGES) */
} recon_t;

/* A reconciliation side over src, reporting to sink (both copied; their ctx
 * and arg must outlive it). NULL when out of memory. Free with
 * recon_destroy. One message at a time: not thread-safe. */
recon_t *recon_new(const recon_src_t *src, const recon_sink_t *sink) CPT_WUR;
/* Frees it and sets *self_p to NULL; safe on NULL. */
void recon_destroy(recon_t **self_p);
/* The first message of a reconciliation, into out (cap bytes, the
 * caller's): 0 with *len set, or CPT_ETOOBIG when cap cannot hold it. */
int recon_start(recon_t *rc, uint8_t *out, size_t cap, size_t *len) CPT_WUR;
/* The same after an outage (a link coming up): our newest items (up to
 * RECON_RECENT_MAX) in ranges of, from the newest, RECON_RECENT_FIRST,
 * RECON_RECENT_FIRST, twice that, and so on up to RECON_MAX_IDS each, each
 * with its fingerprint, and everything before them in one range. An
 * outage's differences then fill the message's newest ranges, which the
 * peer lists at once (recon_process's tail rule), where equal parts of the
 * whole took two splits more; the items are read once from the newest end
 * (src.recent) instead of the splits' searches by rank. Without src.recent,
 * or with at most RECON_SMALL items, recon_start. Same returns. */
int recon_start_recent(recon_t *rc, uint8_t *out, size_t cap, size_t *len) CPT_WUR;
/* The same over our newest max items (at most RECON_RECENT_CAP): an outage
 * known to hold more new events than RECON_RECENT_MAX (or far fewer) is cut
 * to its size. */
int recon_start_recent_n(recon_t *rc, uint8_t *out, size_t cap, size_t *len, size_t max) CPT_WUR;
/* Answers a peer's message (in is only read): findings go to the sink while
 * it runs, the answer to out (cap bytes, the caller's). *done is set (and
 * nothing is to be sent) when every range is settled. Returns 0, CPT_EVERSION
 * or CPT_EINVAL for a malformed message (a hostile peer), CPT_ETOOBIG when the
 * answer does not fit cap, CPT_ENOMEM when the memo of a large message could
 * not grow (nothing answered: the next reconciliation tries again). */
int recon_process(recon_t *rc, const uint8_t *in, size_t inlen, uint8_t *out, size_t cap,
                  size_t *outlen, int *done) CPT_WUR;

/* Fingerprint arithmetic, shared with the store's index: pure functions of
 * their arguments, safe from any thread. */
void recon_sum_add(uint8_t sum[32], const uint8_t id[32]);
void recon_sum_sub(uint8_t sum[32], const uint8_t id[32]);
void recon_fingerprint(uint8_t fp[RECON_FP_LEN], const uint8_t sum[32], uint64_t count);
/* The shortest bound b with prev < b <= next (splits between two items). */
void recon_bound_between(uint8_t out[RECON_KEY_LEN], const uint8_t prev[RECON_KEY_LEN],
                         const uint8_t next[RECON_KEY_LEN]);

/* ------------------------------------------------------ message codec */

/* Checks frame 0 (len bytes, only read; NULL gives -1) and returns the
 * message type, or -1 (bad version/length). Pure, any thread. */
int sync_msg_type(const uint8_t *frame0, size_t len);
/* Validates a message's frames before use: n_frames of them, frame_len their
 * sizes (frame 0 included; each and their sum at most max_msg), counts and
 * sizes per type. 0 or CPT_EINVAL. Pure, any thread. Not warn_unused_result: it is a verdict, not
 * an action that can fail, and the fuzz target calls it for its decoding
 * alone. */
int sync_msg_check(int type, size_t n_frames, const size_t *frame_len, size_t max_msg);

/* The blob id of PROTOCOL.md 18.1 from a size and its manifest (mlen bytes):
 * 0, or CPT_EINVAL when size is 0 or too large, or mlen is not
 * ceil(size / SYNC_BLOB_CHUNK) x 32. Pure, any thread. */
int sync_blob_id(uint8_t id[32], uint64_t size, const uint8_t *manifest, size_t mlen) CPT_WUR;
/* The number of chunks of a blob of size bytes. */
uint32_t sync_blob_nchunks(uint64_t size);
/* The length of chunk index of a blob of size bytes (0 past its end). */
size_t sync_blob_chunk_len(uint64_t size, uint32_t index);

/* A blob message's fixed fields, decoded from frame 1 (and frame 2's length)
 * after sync_msg_check passed. */
typedef struct sync_bmsg {
	uint8_t id[32];  /* the blob id (every type but BHELLO) */
	uint8_t version; /* BHELLO */
	uint64_t size;   /* BMAP */
	uint32_t index;  /* BGET: first chunk; BCHUNK: the chunk */
	uint16_t count;  /* BGET */
	uint8_t reason;  /* BNONE */
	uint32_t held;   /* BNONE: chunks held */
} sync_bmsg_t;

/* Decodes a blob message (type SYNC_BHELLO..SYNC_BNONE, its frames 1..n-1 in
 * f and len, n_frames counting frame 0) with the rules of 18.6 a single
 * message can be checked against: sizes, BGET's count, BMAP's manifest length
 * against its size, BCHUNK's length within a chunk. 0 or CPT_EINVAL. Pure. */
int sync_bmsg_decode(int type, const uint8_t *const *f, const size_t *len, size_t n_frames,
                     sync_bmsg_t *out) CPT_WUR;

#endif
