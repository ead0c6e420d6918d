/*
 * Shared by the files of node/fed/: the federation's state and the writer
 * that commits peers' batches. Not for other folders.
 */
#ifndef COMPTOIR_FED_INTERNAL_H
#define COMPTOIR_FED_INTERNAL_H

#include <pthread.h>

#include "node/fed/fed.h"

/*
 * What a peer may still lack of ours when the engine cannot tell (the link
 * is down, or up but not yet reconciled): the events stored here at or after
 * a watermark. The watermark follows the peer while it is in step (link up,
 * a reconciliation ended since, nothing left to send); it goes down to any
 * older event that arrives meanwhile. Counted from the reconciliation index
 * (bk_fingerprint): an upper bound, since the peer may have some of them
 * from elsewhere. Kept in the store while the link is down (fed_peer_mark).
 */
typedef struct unsent {
	uint8_t key[CPT_KEY_LEN]; /* the peer's site key */
	char site[64];            /* its name, for a peer the engine has no link for */
	uint8_t from[40];         /* events at or after this (ts, id) may be missing there */
	int known;                /* from is set (never in step, nothing persisted: unknown) */
	uint8_t saved[40];        /* the watermark the store holds */
	int saved_known;          /* saved is set */
	uint64_t down_ms;         /* when its link went down (wall ms), 0 unknown */
	uint64_t count;           /* events stored here at or after from, at the last tick */
	int linked;               /* the engine had a link for it at the last tick */
	int revoked;              /* its certificate is revoked or expired */
} unsent_t;

/* The thread that commits batches from peers once verified (writer.c). */
typedef struct fed_writer fed_writer_t;

/* writer.c: one batch waiting for the writer, the first member of the
 * writer's own job (which owns it); k its envelopes, live set for a live
 * batch (sync_put_t.live). */
typedef struct fed_wq_item {
	struct fed_wq_item *next; /* queue */
	size_t k;                 /* envelopes */
	int live;                 /* a live batch: taken before the others */
} fed_wq_item_t;

/* writer.c: the writer's queue, two lanes, each in arrival order. Not
 * locked: the writer's lock guards it. */
typedef struct fed_wq {
	fed_wq_item_t *head, **tail;   /* catch-up batches */
	fed_wq_item_t *lhead, **ltail; /* live batches */
} fed_wq_t;

struct fed {
	node_t *node;         /* the node (not owned) */
	sync_t *sync;         /* the sync engine while running, else NULL */
	vpool_t *vpool;       /* signature checks on every core, while running */
	fed_writer_t *writer; /* commits batches from peers, while running */
	key_curve_t *curve;   /* transport key while running */
	int listening;        /* the node's listeners are set */
	blob_store_t *blobs;  /* the blob store (not owned), NULL: no blob messages */

	pthread_mutex_t unsent_lock;     /* guards what follows */
	unsent_t unsent[SYNC_MAX_PEERS]; /* per peer seen, in order of first sight */
	size_t n_unsent;                 /* how many */
	int self_revoked;                /* this site is revoked: nothing goes out, ever */
	json_t *sites;                   /* fed_sites() for /api/status, or NULL */
	uint64_t sites_ms;               /* when it was read (a second old at most) */
	size_t dial_excess;              /* peers to dial past SYNC_MAX_PEERS, not dialed */
};

/* blobs.c: the blob functions of the engine (all NULL without a store). */
void fed_blob_ops(fed_t *f, sync_blob_ops_t *ops);

/* writer.c: started before the sync engine, destroyed after it (it commits
 * what is queued, then stops; safe on NULL). */
fed_writer_t *fed_writer_new(fed_t *f);
void fed_writer_destroy(fed_writer_t **self_p);
/* writer.c: 1 when event id is in a batch from a peer handed to the pool
 * or the writer and not yet committed (any thread), else 0; 0 for NULL. */
int fed_writer_on_way(fed_writer_t *w, const uint8_t id[CPT_ID_LEN]);
/* writer.c: batches verified by the writer rather than by the pool (small
 * ones, the pool idle), since the writer started; 0 for NULL. */
unsigned long fed_writer_inlined(fed_writer_t *w);
/* writer.c: an empty queue; it (borrowed, not copied) queued in its lane;
 * the next transaction's batches taken off the queue: every live batch
 * waiting, then the catch-up's, each lane in arrival order, up to max
 * envelopes in all (at least one batch). Returns the first of
 * the list (linked by next, NULL-terminated; NULL when the queue is empty)
 * and their envelopes in *n. */
void fed_wq_init(fed_wq_t *q);
void fed_wq_push(fed_wq_t *q, fed_wq_item_t *it);
fed_wq_item_t *fed_wq_take(fed_wq_t *q, size_t max, size_t *n);
/* writer.c: should the writer wait for more before it takes a transaction
 * from q? 1 while only catch-up batches wait, fewer than min envelopes in
 * all, and pooled (batches of ours still being verified) > 0: they come in
 * a moment and share the commit. 0 once a live batch waits (it never waits
 * for the catch-up), min is reached, or nothing else is coming. */
int fed_wq_gather(const fed_wq_t *q, size_t min, int pooled);
/* writer.c: the calling thread's I/O class for what it writes next: idle
 * for a catch-up's commit (bulk 1), its default otherwise. 0, or CPT_EIO
 * when the kernel refused (the class is then unchanged). */
int fed_writer_io_bulk(int bulk) CPT_WUR;
/* writer.c: on the writer's thread while it commits its jobs, takes the
 * events its transaction admitted from waiting (c, n: NODE_ADMITTED;
 * their ids copied) and returns 1: they are announced with its last job
 * (sync_put_announce), so that the engine knows which peers sent them while
 * they waited, this transaction's among them. 0 on any other thread, or
 * out of memory: the caller announces them. */
int fed_writer_admitted(const node_change_t *c, size_t n);
/* writer.c: ops.put (sync/sync.h). */
int fed_put(void *ctx, sync_put_t *job);
/* fed.c: the trust state changed (a revocation): links are checked again. */
void fed_trust_changed(fed_t *f);

/* unsent.c: the watermarks kept in the store are loaded (at start), moved
 * (each tick), kept (at stop). */
void fed_unsent_load(fed_t *f);
void fed_unsent_tick(fed_t *f);
void fed_unsent_save(fed_t *f);

/* peers.c: the watermark of what a peer may lack (unsent.c): events at or
 * after the (ts, id) key from, and since when its link is down (wall ms,
 * 0 unknown). Kept in the peer's DB_PEERS record, beside what `peer add`
 * wrote. 0 or a store error; _marked: 0 or CPT_ENOTFOUND when none was kept.
 * fed_peer_keys: the keys of every DB_PEERS record, up to max. */
int fed_peer_mark(node_t *n, const uint8_t site_key[CPT_KEY_LEN], const uint8_t from[40],
                  uint64_t down_ms) CPT_WUR;
int fed_peer_marked(node_t *n, const uint8_t site_key[CPT_KEY_LEN], uint8_t from[40],
                    uint64_t *down_ms) CPT_WUR;
size_t fed_peer_keys(node_t *n, uint8_t (*out)[CPT_KEY_LEN], size_t max);

#endif
