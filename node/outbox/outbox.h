/*
 * outbox — the durable queue of what the node sends out (e-mail digests,
 * webhook deliveries) and the worker that sends it: entries put in DB_OUTBOX
 * inside the caller's write transaction, one worker thread per channel that
 * delivers them in order per lane, retries with an exponential back-off and
 * gives up on an entry past its age limit. Calls node/store; called by
 * node/mail and node/hooks.
 */
#ifndef COMPTOIR_OUTBOX_H
#define COMPTOIR_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "node/store/store.h"

/* One channel's worker. */
#define OUTBOX_BATCH 32 /* entries taken, and outcomes recorded together, per pass */
typedef struct outbox outbox_t;

/* What a delivery returns (outbox_ops_t.deliver). */
enum outbox_result {
	OUTBOX_SENT = 0,  /* delivered: the entry goes */
	OUTBOX_RETRY = 1, /* failed: tried again after the back-off */
	OUTBOX_DROP = 2,  /* never deliverable (its webhook is gone): the entry goes */
};

/*
 * A channel: entries whose "channel" is name ("mail" also takes the entries
 * made before channels, which have none). Plain data, copied by
 * outbox_start.
 */
typedef struct outbox_ops {
	const char *name; /* the channel, "mail" or "hook"; the log's name too */
	/* Delivers one entry (borrowed for the call; it holds what the putter put,
	 * with "attempts" so far); err gets why it failed. Runs on the worker
	 * thread, outside every transaction: it may block up to its own timeout.
	 * The outcome is recorded after the pass (at most OUTBOX_BATCH entries):
	 * a crash in between sends an entry again (at least once). */
	enum outbox_result (*deliver)(void *arg, const json_t *entry, char *err, size_t errlen);
	/* Optional: called at each turn of the worker before deliveries, to put
	 * new entries (a digest run, events to turn into deliveries); returns
	 * when it wants to run again (wall ms), UINT64_MAX: when kicked. */
	uint64_t (*tick)(void *arg, uint64_t now_ms);
	/* Optional: called inside the write transaction that records the
	 * outcomes of a pass's deliveries, so that what the channel keeps of
	 * them (a webhook's log) goes in the same commit: one fsync per pass,
	 * not per delivery. It may run more than once for one pass (a map grown):
	 * it must not forget what it writes until flushed() is called. 0, or an
	 * error that aborts the commit (logged; the entries are tried again). */
	int (*flush)(void *arg, store_txn_t *txn);
	/* Optional: the commit above is done (ok: it committed). */
	void (*flushed)(void *arg, int ok);
	void *arg;            /* handed to deliver and tick */
	uint32_t retry_min_s; /* first back-off, doubled at each failure */
	uint32_t retry_max_s; /* longest back-off */
	uint64_t give_up_ms;  /* an entry older than this is dropped, logged */
	uint32_t poll_ms;     /* the queue is looked at this often at least (another
	                         process may put), 0: 1000 */
} outbox_ops_t;

/*
 * Puts entry (borrowed; copied with "channel", "lane", "created",
 * "attempts": 0 and "next_at": now_ms added, or the entry's own "not_before"
 * (wall ms) when it is later: not delivered before) in the outbox within the write
 * transaction txn. lane (or NULL): entries of one lane are delivered one at
 * a time in the order put, a later one waiting while an earlier one backs
 * off (a webhook's deliveries); entries without a lane do not wait for each
 * other. 0, CPT_ENOMEM or a store error (CPT_EMAPFULL passed back as is).
 */
int outbox_put(store_txn_t *txn, const char *channel, const char *lane, const json_t *entry,
               uint64_t now_ms) CPT_WUR;

/* Starts the worker of channel ops->name on st. 0 with *out set, or -1
 * with err. The worker owns a thread until outbox_stop. */
int outbox_start(outbox_t **out, store_t *st, const outbox_ops_t *ops, char *err,
                 size_t errlen) CPT_WUR;
/* Wakes the worker: something may be due. Safe from any thread, on NULL. */
void outbox_kick(outbox_t *o);
/* Stops the worker (a delivery under way ends at its own timeout) and frees
 * it; NULLs *self_p; safe on NULL. */
void outbox_stop(outbox_t **self_p);
/* Entries delivered by this worker since it started. */
uint64_t outbox_sent(outbox_t *o);

/*
 * What waits in channel (lane: only that lane, or NULL): {"waiting": n,
 * "oldest_ms": ms or null, "attempts": the most tries of one, "last_error":
 * text or null}. A new reference, NULL on a store error.
 */
json_t *outbox_status(store_t *st, const char *channel, const char *lane);
/* Removes every entry of lane in channel (a webhook deleted): 0 or a store
 * error. In the caller's write transaction. */
int outbox_drop_lane(store_txn_t *txn, const char *channel, const char *lane) CPT_WUR;

#endif
