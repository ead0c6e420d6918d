/*
 * core — the node: one data directory opened (config, keys, store), the
 * hybrid logical clock of the events made here, the group commit every
 * write goes through, the ring of changes a live stream reads, counters,
 * and a list of after-commit listeners: the federation hears of new events
 * through them, so the core knows nothing of sync or HTTP. Calls node/event
 * and below; called by node/auth, node/fed, node/http, node/daemon, node/cli.
 */
#ifndef COMPTOIR_CORE_H
#define COMPTOIR_CORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config/config.h"
#include "crypto/crypto.h"
#include "node/event/event.h"
#include "node/store/store.h"

typedef struct node node_t;

/* ------------------------------------------------------------- opening */

/* Opens the node of data directory dir: config dir/comptoir.yaml, keys under
 * dir/keys, the store (index_store_open). Starts nothing. *out is NULL on
 * failure, err names the file. Returns 0 or a CPT_ code. */
int node_open(node_t **out, const char *dir, char *err, size_t errlen) CPT_WUR;
/* Closes the node (nothing may run on it any more); safe on NULL. */
void node_close(node_t **self_p);

/* What the node holds, borrowed for the node's life. */
store_t *node_store(node_t *n);
const cfg_t *node_cfg(node_t *n);
const key_sign_t *node_site_key(node_t *n);
/* The site's seal key pair (the seal_key of its certificates, PROTOCOL.md
 * 7.1 and 9): what space keys are sealed to. Borrowed for the node's life. */
const key_curve_t *node_seal_key(node_t *n);

/* The seal key's file in a data directory, written by comptoir init. */
#define NODE_SEAL_FILE "keys/site.seal"
/* Loads dir/keys/site.seal; NULL with the reason (naming the file; a node
 * made before protocol version 2 has none) in err. key_curve_destroy it. */
key_curve_t *node_seal_load(const char *dir, char *err, size_t errlen);
const char *node_dir(node_t *n);
/* The ingest context of the writer: only while no commit runs (a test,
 * a command); its federation id and limits may be read at any time. */
ingest_ctx_t *node_ingest_ctx(node_t *n);

/* Reads the config again: what can change without a restart (log level,
 * limits) is taken when the file is valid; else logged and kept. */
void node_reload(node_t *n);

/* ------------------------------------------------------ writes (commits) */

/* The outcome of every submit; res[i] says what became of buf[i]. The
 * buffers are read during the call only. Each returns 0 when the commit
 * ran (the events' fates in res), CPT_ENOSPC on a full disk, or CPT_EIO. */

/* Ingests count envelopes through the single path and commits them durably
 * before returning (group commit with concurrent callers). */
int node_submit(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count,
                ingest_res_t *res) CPT_WUR;
/* Releases the events held for the clock (PROTOCOL.md 6) whose time has
 * come: a commit of no event, only when one is due. The daemon's timer
 * calls it every second. 0, or as node_submit. */
int node_release_held(node_t *n) CPT_WUR;
/* The same for events received from a peer: the sync engine relays them
 * itself, so the listeners are told they came from a peer. */
int node_submit_from_peer(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count,
                          ingest_res_t *res) CPT_WUR;
/* The same, for a batch whose signatures the verification pool checked:
 * verified[i] set means envelope i decoded and its signature is valid;
 * bodies (or NULL) the bodies it parsed (vpool_verify), borrowed. */
int node_submit_verified(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count,
                         const uint8_t *verified, json_t *const *bodies, ingest_res_t *res) CPT_WUR;
/* Told what a batch's transaction decided, before its commit (below): res
 * (count of them, borrowed for the call) as node_submit will return them if
 * the commit succeeds. Called on the committing thread, inside the write
 * transaction: it must not block, nor call into the node. */
typedef void (*node_decided_fn)(void *arg, const ingest_res_t *res, size_t count);
/* node_submit_verified, and decided(arg, res, count) is called once the
 * transaction holding the batch is built, before it is committed: what it
 * stored is decided (authorised, not a duplicate, not pending or held) but
 * not durable, and the commit may still fail (then nothing of it is stored
 * and the function returns an error). Called at most once per call; not
 * called when the transaction stores nothing (duplicates and refusals
 * only). The federation relays a live batch's admitted events from it
 * (node/fed/writer.c). decided may be NULL. The first live envelopes come
 * from live batches, the others from a catch-up: the listeners hear the
 * latter with node_change_t.catchup set. */
int node_submit_decided(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count,
                        const uint8_t *verified, json_t *const *bodies, ingest_res_t *res,
                        size_t live, node_decided_fn decided, void *arg) CPT_WUR;

/* Returns 0 once verified[i] and bodies[i] of a node_submit_streamed call
 * are final; or, when may_stop (the transaction holds that call's
 * envelopes alone), CPT_EAGAIN to give the transaction up. Called on the
 * committing thread, inside the transaction. */
typedef int (*node_await_fn)(void *arg, size_t i, int may_stop);
/* node_submit_decided for one catch-up batch (no live envelope, told after
 * the commit) that the pool is still verifying: the transaction is built
 * as it goes, each envelope once await(arg, i, ...) has returned 0 for it.
 * CPT_EAGAIN when await gave the transaction up: nothing was stored, res
 * means nothing, the caller submits the batch again. */
int node_submit_streamed(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count,
                         const uint8_t *verified, json_t *const *bodies, ingest_res_t *res,
                         node_await_fn await, void *arg) CPT_WUR;
/* 1 when a commit waits for the one under way (a request queued behind its
 * leader), else 0: a streamed transaction gives itself up for it. */
int node_submit_waiting(node_t *n);

/* Signs body as kind by author with the next HLC timestamp, without
 * submitting it: *out (a new malloc'd buffer of *out_len bytes the caller
 * frees) is an envelope to submit later (node_submit), e.g. the redaction of
 * an upload that is never posted. 0, CPT_ENOMEM or CPT_ETOOBIG. */
int node_sign(node_t *n, const key_sign_t *author, uint16_t kind, const json_t *body, uint8_t **out,
              size_t *out_len) CPT_WUR;

/* Signs body as kind by author with the next HLC timestamp, then submits it
 * (offered to peers first when a listener takes offers). res->id is the
 * event id. Returns 0 when the call ran (see res->rc). */
int node_publish(node_t *n, const key_sign_t *author, uint16_t kind, const json_t *body,
                 ingest_res_t *res) CPT_WUR;

/* --------------------------------------------------------------- spaces */

/*
 * Seals plain (a kind 6 to 9 body with "kind", PROTOCOL.md 16.5; or a
 * profile, for kind EVT_SPACE) written by the user key author as an event of
 * kind (EVT_SEALED or EVT_SPACE) in the private space or site space space,
 * with the space's write key, after starting a new epoch (a key event signed
 * by this site, committed first) when the fold says one is due or this site
 * lacks the write key. space NULL: a space being created (its id is not
 * known yet, 16.5): a new key, which node_space_key_to_self then seals to
 * this site under the new id. *sealed is a new {"key", "nonce", "box"}
 * object; key_id gets the key used. Returns 0, CPT_EPERM (this site is not
 * a member site), CPT_ESTATE (no seal key to seal to) or an error, with err.
 */
int node_space_seal(node_t *n, const uint8_t author[CPT_KEY_LEN], const uint8_t *space,
                    uint16_t kind, const json_t *plain, json_t **sealed,
                    uint8_t key_id[SKEY_ID_LEN], char *err, size_t errlen) CPT_WUR;
/* Seals key key_id of space to this site's own seal key in a key event
 * signed by this site (the first key of a space made here). 0 or an error. */
int node_space_key_to_self(node_t *n, const uint8_t space[CPT_ID_LEN],
                           const uint8_t key_id[SKEY_ID_LEN], char *err, size_t errlen) CPT_WUR;
/* Starts a new epoch of the private space or site space space at a
 * member's request (PROTOCOL.md 16.8, "a member MAY ask for a new epoch"):
 * a new key sealed to every member site in key events signed by this site.
 * The caller checked that the asker is a member. key_id gets the new key.
 * Returns 0, CPT_ESTATE (an open space: no keys; no seal key to seal to),
 * CPT_EPERM (this site is not a member site) or an error, with err. */
int node_space_rotate(node_t *n, const uint8_t space[CPT_ID_LEN], uint8_t key_id[SKEY_ID_LEN],
                      char *err, size_t errlen) CPT_WUR;
/* Makes what this site owes to spaces (PROTOCOL.md 16.8): the epochs it is
 * designated to start, the seals of keys it holds to member sites lacking
 * them. Called by the daemon's loop; returns how many key events it made. */
int node_spaces_tick(node_t *n);

/* --------------------------------------------------- changes, listeners */

/* A change the node announces: an event stored. */
typedef struct node_change {
	uint64_t seq;            /* increasing number of this change (the ring's) */
	uint64_t ts;             /* the event's timestamp */
	uint64_t stored_us;      /* when this site's commit of it ended (or, stored by
	                            another process, when the node saw it): wall clock,
	                            microseconds since the epoch */
	uint16_t kind;           /* event kind */
	uint8_t id[CPT_ID_LEN];  /* the event */
	uint8_t ref[CPT_ID_LEN]; /* the post it refers to, or zeros */
	uint8_t catchup;         /* stored by a catch-up's batch (node_submit_decided): a
	                            listener may put its work off until the catch-up ends */
	int has_ref;             /* ref is set */
} node_change_t;

/* Where stored events came from, for the listeners. */
enum node_origin {
	NODE_LOCAL,     /* made here; peers have not heard of them */
	NODE_OFFERED,   /* made here and offered to peers before the commit */
	NODE_PEER,      /* received from a peer (the sync engine relays them) */
	NODE_ELSEWHERE, /* stored by another process (the CLI), seen by node_poll_store */
	NODE_ADMITTED,  /* stored once what it waited for came (a certificate, an
	                   enrolment, its time): received earlier, perhaps from a
	                   peer, but relayed by nobody yet */
};

/* Called after each commit (on the committing thread, outside every lock of
 * the node) with the events it stored; changes is borrowed for the call. A
 * listener must not block for long: it is on the write path. The events a
 * transaction admitted from waiting (NODE_ADMITTED) are told on the thread
 * of its first peer batch (node_submit_from_peer and the like) when it
 * holds one, whoever led it, before that call returns; else on the
 * leader's. */
typedef void (*node_listener_fn)(void *arg, const node_change_t *changes, size_t n,
                                 enum node_origin origin);
/* Adds a listener (at most 8); 0 or CPT_EFULL. Listeners are called in the
 * order added. node_unlisten removes one (fn and arg as given). */
int node_listen(node_t *n, node_listener_fn fn, void *arg) CPT_WUR;
void node_unlisten(node_t *n, node_listener_fn fn, void *arg);
/* Takes the envelope of an event made here before it is committed (the
 * sync engine offers it to peers so that their commits overlap ours); 1
 * when it was offered. One such hook; NULL removes it. */
typedef int (*node_offer_fn)(void *arg, const uint8_t *env, size_t len);
void node_set_offer(node_t *n, node_offer_fn fn, void *arg);

/* Waits until a change newer than after exists or timeout_ms passes; copies
 * up to max changes newer than after into out and returns how many. Changes
 * older than the ring (1024) are lost: *lost is set, the caller resyncs. */
size_t node_changes(node_t *n, uint64_t after, node_change_t *out, size_t max, int timeout_ms,
                    int *lost);
/* The newest change number. */
uint64_t node_change_seq(node_t *n);

/* Events stored by another process (the CLI) since the last call are
 * announced like our own: in the ring and to the listeners
 * (NODE_ELSEWHERE). The running node calls it often. */
void node_poll_store(node_t *n);
/* The store's sequence as of the last node_poll_store: every event stored
 * up to it has been announced (a view kept beside the store, node/search,
 * records it when it closes). */
uint64_t node_polled_seq(node_t *n);

/* What was stored since the previous call, for the federation's
 * watermarks: *after gets the key following the newest (ts, id) stored at
 * the previous call, *low (when *has_low) the smallest (ts, id) stored
 * since. */
void node_stored_since(node_t *n, uint8_t after[40], uint8_t low[40], int *has_low);

/* ---------------------------------------------------------------- stats */

/* Counters for /metrics and status. */
typedef struct node_stats {
	uint64_t started_ms;       /* when the node started */
	uint64_t ingested;         /* events stored */
	uint64_t stored_us;        /* when the last commit that stored events ended (wall clock,
	                              microseconds since the epoch; 0: none since the start) */
	uint64_t rejected;         /* events refused */
	uint64_t rejected_by[32];  /* events refused, by -CPT_ code */
	uint64_t pending;          /* events put aside */
	uint64_t http_requests[6]; /* by status class: 1xx..5xx, index 1..5 */
	uint64_t logins_ok;        /* successful logins */
	uint64_t logins_failed;    /* failed logins */
} node_stats_t;
void node_stats(node_t *n, node_stats_t *out);
void node_count_http(node_t *n, unsigned status);
void node_count_login(node_t *n, int ok);

#endif
