/*
 * index — every index derived from the events, behind one registry. Each
 * index says which databases it owns, which kinds it listens to, what to do
 * when an event of them is added or removed, and how to rebuild itself:
 * insert, redaction, revocation, `comptoir reindex` and `comptoir verify`
 * reach every index through the registry, never by hand. Also the reads
 * the layers above need of them (key records, handles, events by id), the
 * reconciliation index and the schema of the store. Called by node/event
 * (which decides what is accepted) and by every module above it; it calls
 * only node/store.
 */
#ifndef COMPTOIR_INDEX_H
#define COMPTOIR_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "crypto/crypto.h"
#include "node/space/space.h"
#include "node/store/store.h"

/* --------------------------------------------------- schema (schema.c) */

/* The version of what the store holds. 2: post views live in DB_FEED under
 * (ts, id); 3: DB_REACTIONS and DB_PENDING_IDS; 4: protocol version 2 (site
 * windows and users' enrolments in DB_KEYS, enrolments in DB_BY_REF, held and
 * aside events in DB_PENDING with their rule in DB_PENDING_IDS; the reconciliation
 * index keeps levels 3 to 7 only; DB_NOTIFY, DB_NOTIFY_BY and the databases
 * of kinds 16 to 19); 5: DB_SPACE_FOLLOWS, the followers of spaces; 6: the
 * reconciliation index one database per level; 8: post views (DB_FEED,
 * DB_SPACE_FEED) as records of what the envelope does not hold (views.c);
 * 9: DB_BY_AUTHOR, DB_MINE, DB_SPACE_GOV and DB_SPACE_ITEMS split (store.h);
 * 10: the reconciliation index's level 3 only under dense level-4 buckets;
 * 11: envelopes stored compact (envelopes.c: no federation, body hash or
 * body length where they can be put back); 12: envelopes under a number
 * of the store's own, in the order stored (DB_ENVELOPES, full pages), with
 * DB_EVENT_IDS from id to number; 13: DB_BY_REF, DB_NOTIFY_BY and
 * DB_REACTIONS keyed by the target's reference number (index_ref_num,
 * DB_REF_NUMS), not its id.
 * A store older than INDEX_SCHEMA_V2 is refused: its events are of version 1. */
#define INDEX_SCHEMA    13
#define INDEX_SCHEMA_V2 4

/*
 * Opens the store of dir as store_open does (flags: STORE_CREATE), then
 * checks its schema: a new store gets INDEX_SCHEMA, an older one is moved
 * forward by the steps of schema.c (each in a transaction of its own), a
 * newer one or an unknown value is refused (CPT_EVERSION), and an index a
 * store from before it lacks is built. Every command opens the store through
 * this. *out is NULL on failure; err names the path.
 */
int index_store_open(store_t **out, const char *dir, int flags, char *err, size_t errlen) CPT_WUR;

/* ----------------------------------------------------- context (keys.c) */

/* Changes of the reconciliation index gathered over a transaction (buckets.c). */
typedef struct bk_acc bk_acc_t;
/* Key records read in this transaction, parsed (keys.c). */
typedef struct ix_cache ix_cache_t;
/* The fold of the space last asked about in this transaction (spaces.c). */
typedef struct ix_spaces_cache ix_spaces_cache_t;
/* Bodies parsed, by the hash of their bytes (base.c). */
typedef struct ix_bodies ix_bodies_t;
/* Reference numbers remembered for a transaction (envelopes.c). */
typedef struct ix_nums ix_nums_t;

/* What the indexes keep while a write transaction runs. Zero it to start;
 * index_ctx_release frees what it holds. A context belongs to one thread. */
typedef struct index_ctx {
	ix_cache_t *cache;         /* key records, parsed; made on first use; NULL: none yet */
	bk_acc_t *bk;              /* reconciliation changes gathered, applied by bk_acc_flush;
	                              NULL: each change is applied at once */
	ix_spaces_cache_t *spaces; /* folds of spaces; made on first use; emptied with the cache */
	int keep_folds;            /* folds are kept between the transactions bracketed by
	                              index_txn_begin/end (the node's writer); 0: within one */
	ix_bodies_t *bodies;       /* bodies parsed, by their hash; made on first use; kept
	                              across transactions (a body's parse is a function of
	                              its bytes), freed by index_ctx_release */
	ix_nums_t *nums;           /* the memo of reference numbers (index_ref_memo_begin);
	                              made on first use, freed by index_ctx_release */
} index_ctx_t;

/* Frees the cache; the context can be used again. */
void index_ctx_release(index_ctx_t *ix);
/* Empties the cache after any change of the trust state: the key records
 * and the folds of spaces, which read them. */
void index_cache_clear(index_ctx_t *ix);
/* At the start of a transaction: the key records are read afresh (another
 * process may have written them); the folds are left to
 * index_spaces_cache_clear. */
void index_cache_renew(index_ctx_t *ix);
/* Empties the folds of spaces kept (spaces.c): at the start of a write
 * transaction (and of a retry), except between index_txn_begin and
 * index_txn_end of a context that keeps them; index_cache_off empties them
 * too. Not between the events of one transaction: a reindex ingests one at
 * a time. */
void index_spaces_cache_clear(index_ctx_t *ix);
/*
 * Brackets a write transaction of a context with keep_folds set (the
 * node's writer, node/core), so that the folds of spaces outlive it:
 * index_txn_begin inside the transaction, at the start of each attempt
 * (store_write runs its function again after growing the map), and
 * index_txn_end after store_write returned, committed = 1 when it committed
 * (0: aborted, failed, or nothing to commit). What was folded in a
 * transaction that did not commit is dropped; another writer's commit (the
 * store's sequence moved) empties them all. No-ops without keep_folds.
 */
void index_txn_begin(index_ctx_t *ix, store_txn_t *txn);
void index_txn_end(index_ctx_t *ix, int committed);
/* Compares every fold kept with a fresh fold of the same space in txn (the
 * tests' check that the cache is neither ahead of nor behind the store):
 * the number of folds compared, -1 with why filled at the first
 * that differs, or CPT_ENOMEM. */
int index_spaces_cache_check(index_ctx_t *ix, store_txn_t *txn, char *why, size_t whylen) CPT_WUR;
/* How many folds of spaces the context has made (a test counts that a
 * post in a space does not fold it again). */
size_t index_spaces_folds(const index_ctx_t *ix);
/* While a trust event takes effect (off = 1) the records change under their
 * readers: the cache is emptied and keeps nothing until off = 0.
 * index_cache_is_off says which, for a caller that nests. */
void index_cache_off(index_ctx_t *ix, int off);
int index_cache_is_off(const index_ctx_t *ix);
/* How many key records the cache has read from the store since it was
 * made (index_ctx_release ends it): what a test counts to see that records
 * stay cached between the events of a transaction. */
size_t index_cache_reads(const index_ctx_t *ix);

/* ------------------------------------------------- registry (registry.c) */

/* An event as the registry hands it to an index. Every pointer is borrowed
 * for the call (ev's bytes may live in the transaction's map). */
typedef struct index_ev {
	const evt_t *ev;    /* the event; ev->body may be NULL (erased) */
	const json_t *body; /* its parsed body, or NULL: erased, or removed without it */
	const uint8_t *id;  /* its id */
	const uint8_t *ref; /* what it refers to (post, target, revoked key), or NULL */
} index_ev_t;

/* One derived index. */
typedef struct index_def {
	const char *name;         /* for messages */
	const enum store_db *dbs; /* the databases it owns: emptied by reindex, compared
	                             by verify */
	size_t n_dbs;             /* how many */
	uint64_t kinds;           /* bit k: it listens to events of kind k (k < 64) */
	/* An event of its kinds is stored with its body (after the base
	 * indexes). 0 or a store error. NULL: nothing to do. */
	int (*added)(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e);
	/* An event of its kinds left the store, or its body did (a redaction,
	 * or it arrived erased): undo what added did. e->body is the body it
	 * had when the caller still has it. 0 or a store error. */
	int (*removed)(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e);
	/* Rebuilds the index from another one (schema steps, a store from
	 * before it), or NULL: only a reindex from the events rebuilds it. */
	int (*rebuild)(store_txn_t *txn);
} index_def_t;

/* The bit of a kind in index_def_t.kinds. */
#define INDEX_KIND(k) (1ull << (k))

/* The registry, in the order its hooks run; *n gets how many. Static. */
const index_def_t *index_registry(size_t *n);
/* Calls added (index_removed: removed) of every index that listens to
 * e->ev->kind, in registry order; stops at the first error. */
int index_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;
int index_removed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;
/* Empties every database of the registry (before a reindex). */
int index_drop_all(store_txn_t *txn) CPT_WUR;

/* ------------------------------------------ envelopes (envelopes.c) */

/* The envelopes of admitted events are read and written only through
 * these: their layout in the store is envelopes.c's (docs/ARCHITECTURE.md,
 * "Store"). An envelope and whatever finds it by id change in the caller's
 * transaction, together. */

/*
 * A stored envelope (envelopes.c): its header and signature rebuilt, byte
 * for byte the signed ones, and its body where the store keeps it. The
 * store leaves out what every envelope of the site holds alike or what the
 * body gives (federation, body hash and length): a reader never assumes
 * the envelope is one run of bytes in the map.
 */
typedef struct index_env {
	uint8_t fixed[EVT_FIXED_LEN]; /* header and signature, as signed */
	const uint8_t *body;          /* the body, borrowed as store_val_t says (until the end
	                                 of the transaction or the next write to the
	                                 envelopes); NULL when redacted */
	size_t body_len;              /* bytes at body; 0 when redacted */
	int hashed;                   /* the header's body hash was computed here from body (a
	                                 compact form): index_env_decode does not compare them */
} index_env_t;

/* The stored envelope of id into *out (its body borrowed, see
 * index_env_t): no copy of the body is made. 0, CPT_ENOTFOUND,
 * CPT_EDAMAGED (the stored value is no envelope: logged with the id) or a
 * store error. */
int index_env_read(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], index_env_t *out) CPT_WUR;
/* The length of the envelope's bytes: EVT_FIXED_LEN + body_len. */
size_t index_env_len(const index_env_t *e);
/* The envelope's bytes, contiguous, into out (index_env_len(e) bytes). */
void index_env_copy(const index_env_t *e, uint8_t *out);
/* The same in a new heap buffer (the caller frees it), *len its length;
 * NULL when memory is short. For what outlives the transaction (sending,
 * exporting, ingesting again). */
uint8_t *index_env_dup(const index_env_t *e, size_t *len);
/* evt_decode (lazy: evt_decode_lazy) of the envelope, through
 * evt_decode_parts: ev borrows from e (ev->raw is e->fixed) and from the
 * transaction (ev->body). 0 or evt_decode's error. */
int index_env_decode(const index_env_t *e, evt_t *ev, int lazy) CPT_WUR;
/* A stored value val (len bytes, as the events database holds it) as an
 * envelope into *out (borrowing from val), for fed, the store's federation:
 * for `comptoir repair`, which reads the file's bytes, not LMDB's trees. 0
 * or CPT_EDAMAGED. index_env_is_compact: is val of a compact form, one
 * without the federation in it (1) or not (0)? */
int index_env_unpack(const uint8_t fed[CPT_FED_LEN], const uint8_t *val, size_t len,
                     index_env_t *out) CPT_WUR;
int index_env_is_compact(const uint8_t *val, size_t len);
/* The stored form of the envelope env (len >= EVT_FIXED_LEN bytes) into
 * out (room for len + 1 bytes), compact for federation fed when reading it
 * back gives the same bytes (fed NULL: never); its length. What
 * index_env_put stores, and index_env_unpack reads. */
size_t index_env_pack(const uint8_t *fed, const uint8_t *env, size_t len, uint8_t *out);
/* At open (index_store_open): keeps the federation of the store's compact
 * envelopes with st, so that reading one needs no meta read. 0, or a store
 * error. */
int index_env_open(store_t *st) CPT_WUR;
/* One round of schema 11 (schema.c): up to max stored envelopes after the
 * last round's, rewritten compact where they can be; *done is set when
 * none is left. Idempotent: a compact value is left alone, and the place
 * reached is written in the same transaction. 0 or a store error. */
int index_env_compact_step(store_txn_t *txn, size_t max, int *done) CPT_WUR;
/* One round of schema 12 (schema.c): up to max stored envelopes of
 * DB_EVENTS_V11 (the first in id order) moved to DB_ENVELOPES under the
 * next numbers and to DB_EVENT_IDS, and deleted there, in the caller's
 * transaction; *done is set when none is left (the old database is then
 * emptied). 0 or a store error. */
int index_env_move_step(store_txn_t *txn, size_t max, int *done) CPT_WUR;
/* Is id stored? 0 (*ts, when not NULL, gets its timestamp), CPT_ENOTFOUND
 * or a store error. Cheaper than index_env_read where only that matters. */
int index_env_ts(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], uint64_t *ts) CPT_WUR;
/* Stores env (len >= EVT_FIXED_LEN bytes, copied; its timestamp is read
 * from its header) as the envelope of id, compact when index_env_read can
 * give back the same bytes (else verbatim: nothing is ever lost). flags INDEX_ENV_NEW: CPT_EEXIST,
 * nothing written, when id is stored already; 0: replaces it (a redaction
 * keeping the header, a reindex). 0, CPT_EINVAL (too short), CPT_EMAPFULL
 * (give it back to store_write) or a store error. */
#define INDEX_ENV_NEW 1
/* flags INDEX_ENV_HASHED: the caller decoded these very bytes (evt_decode:
 * the header's body hash is the body's), so storing them compact does not
 * hash the body again to know it can. */
#define INDEX_ENV_HASHED 2
int index_env_put(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], const void *env, size_t len,
                  int flags) CPT_WUR;
/* Deletes the envelope of id; 0 also when it was not there. */
int index_env_del(store_txn_t *txn, const uint8_t id[CPT_ID_LEN]) CPT_WUR;
/* The reference number of id (schema 13, DB_REF_NUMS): what the databases
 * of references to a post are keyed by, 8 bytes big-endian into num. A
 * stored event's is its envelope's number; an id without one (not stored
 * yet, or never an event) is given the next number when give is set (in a
 * write transaction), and keeps it. 0, CPT_ENOTFOUND (none, give unset) or
 * a store error. */
int index_ref_num(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], int give, uint8_t num[8]) CPT_WUR;
/* What index_ref_num answers in txn, a write transaction of this thread,
 * is remembered until index_ref_memo_end (or the next begin), in ix's
 * memory: around a transaction's ingest (node/event), never across two (a
 * number given by one that aborts is given again). index_ref_memo_hits: the asks answered
 * so in the memo open, else in the last one ended on this thread (tests). */
void index_ref_memo_begin(index_ctx_t *ix, const store_txn_t *txn);
void index_ref_memo_end(void);
size_t index_ref_memo_hits(void);
/* Likewise, how many times the memo told an index that a post just stored
 * has nothing keyed under its number yet, so that it looked for nothing
 * there (the tests). */
size_t index_ref_memo_fresh(void);
/* Each entry of db (keyed by a reference number, then anything) with the
 * number put back as the id it stands for, in the order of those keys: a
 * form that does not depend on the order the events were stored in (verify
 * and the tests compare it). fn's answer other than 0 stops the walk and is
 * returned. 0, CPT_ENOMEM or a store error. */
/* Whether db is keyed by reference numbers (DB_BY_REF, DB_NOTIFY_BY,
 * DB_REACTIONS). */
int index_ref_keyed(enum store_db db);
typedef int (*index_canon_fn)(void *arg, const uint8_t *k, size_t klen, const uint8_t *v,
                              size_t vlen);
int index_ref_canon(store_txn_t *txn, enum store_db db, index_canon_fn fn, void *arg) CPT_WUR;
/* The stored value of id (the form index_env_pack made, as the store
 * holds it) into *v, borrowed from the transaction: for verify, which
 * compares it with a rebuild's. 0, CPT_ENOTFOUND, CPT_EDAMAGED or a store
 * error. */
int index_env_stored(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], store_val_t *v) CPT_WUR;
/* Stores val (len bytes: a stored form, as index_env_pack makes) as the
 * envelope of id, flags as index_env_put's: for the step to schema 12 and
 * for tests that store a damaged value. 0, CPT_EEXIST or a store error. */
int index_env_put_stored(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], const void *val,
                         size_t len, int flags) CPT_WUR;
/* How many envelopes are stored (0 on an error). */
size_t index_env_count(store_txn_t *txn);
/* Calls fn(arg, id, env) on each stored envelope in the store's order; id
 * is NULL when the entry's key is not an id, env NULL when its value is no
 * envelope (a damaged store: logged), and both are borrowed for the call.
 * A nonzero return stops the walk and is returned; else 0 or the cursor's
 * error. */
typedef int (*index_env_fn)(void *arg, const uint8_t *id, const index_env_t *env);
int index_env_each(store_txn_t *txn, index_env_fn fn, void *arg) CPT_WUR;

/* -------------------------------------------- base indexes (base.c) */

/* The stored event id, decoded into ev (its body borrowed from the
 * transaction and not parsed: index_body; ev->raw is NULL: the signed bytes
 * are index_env_read's). 0, CPT_ENOTFOUND, CPT_EINVAL or an error. */
int index_event(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], evt_t *ev) CPT_WUR;
/* The parsed body of ev under the decoder's rules (an object, no NUL, no
 * duplicate key): a new reference, NULL when erased or not such an object. */
json_t *index_body(const evt_t *ev);
/* index_body, through ix's cache of bodies parsed: a body whose bytes hash
 * to ev->body_hash (with its length) and that was parsed before is not
 * parsed again. ev->body_hash must be the hash of ev->body (as every
 * decoder leaves it). The reference given back is shared with the cache:
 * the caller reads it and never changes it. */
json_t *index_body_cached(index_ctx_t *ix, const evt_t *ev);
/* Keeps body, the parse of ev's body (index_body's result, by whoever made
 * it), in ix's cache: the writer's own bodies, which the events that refer
 * to them read again. Not changed afterwards by anyone (the cache shares it). */
void index_body_keep(index_ctx_t *ix, const evt_t *ev, json_t *body);
/* The 32 bytes of the 64-hex-digit string field name of obj. 0 or CPT_EINVAL. */
int index_hex_field(const json_t *obj, const char *name, uint8_t out[32]) CPT_WUR;

/* The base indexes of a stored event: DB_ORDER (and the reconciliation
 * index), DB_BY_AUTHOR, and DB_BY_REF under ref when it refers to something.
 * add: put (an event indexed again is counted once); del: take out. */
int index_base_add(index_ctx_t *ix, store_txn_t *txn, const evt_t *ev, const uint8_t id[CPT_ID_LEN],
                   const uint8_t *ref) CPT_WUR;
int index_base_del(index_ctx_t *ix, store_txn_t *txn, const evt_t *ev, const uint8_t id[CPT_ID_LEN],
                   const uint8_t *ref) CPT_WUR;
/* DB_BY_REF's key (schema 13): the target's reference number (8 bytes,
 * index_ref_num), then the referring event's ts(8) id(32). */
#define INDEX_REF_KEY_LEN (8 + 8 + CPT_ID_LEN)
/* The DB_BY_REF key of event (ts, id) referring to target into k; give as
 * index_ref_num's. 0, CPT_ENOTFOUND (target has no number, give unset) or
 * a store error. */
int index_ref_key(store_txn_t *txn, const uint8_t target[CPT_ID_LEN], int give, uint64_t ts,
                  const uint8_t id[CPT_ID_LEN], uint8_t k[INDEX_REF_KEY_LEN]) CPT_WUR;
/* An erased event refers to nothing any more: its DB_BY_REF entry goes. */
int index_base_unref(store_txn_t *txn, const uint8_t ref[CPT_ID_LEN], uint64_t ts,
                     const uint8_t id[CPT_ID_LEN]) CPT_WUR;

/* Called for each event found, in (timestamp, id) order; a nonzero return
 * stops the walk and is returned. id is borrowed for the call. */
typedef int (*index_each_fn)(index_ctx_t *ix, store_txn_t *txn, const uint8_t *id, uint16_t kind,
                             void *arg);
/* Each event referring to target (DB_BY_REF). */
int index_each_ref(index_ctx_t *ix, store_txn_t *txn, const uint8_t target[CPT_ID_LEN],
                   index_each_fn fn, void *arg) CPT_WUR;
/* Each event of kind want by author (DB_BY_AUTHOR). */
int index_each_by_author(index_ctx_t *ix, store_txn_t *txn, const uint8_t author[CPT_KEY_LEN],
                         uint16_t want, index_each_fn fn, void *arg) CPT_WUR;

/* ------------------------------------------ trust records (keys.c) */

/* The key record (DB_KEYS) of key: a new reference, or NULL. */
json_t *index_key_info(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN]);
/* The handle of a user key, copied into out (64 bytes); 0 or CPT_ENOTFOUND. */
int index_handle_of(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], char out[64]) CPT_WUR;
/* The key a handle names now (the newest enrolment of it by the site of
 * its first); 0 or CPT_ENOTFOUND. */
int index_key_of(store_txn_t *txn, const char *handle, uint8_t key[CPT_KEY_LEN]) CPT_WUR;
/* Does a window of site record rec (DB_KEYS: the union of its
 * certificates' [not_before, not_after)) contain t_ms? */
int index_site_valid_at(const json_t *rec, uint64_t t_ms);
/* The site name a handle belongs to: the site of its first admitted
 * enrolment (PROTOCOL.md 8.7), copied into out; 0 or CPT_ENOTFOUND. */
int index_handle_site(store_txn_t *txn, const char *handle, char out[64]) CPT_WUR;
/* The smallest effective revocation time of key (ms), or UINT64_MAX. */
uint64_t index_revoked_at(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN]);
/* The same with the store's answer: 0 with *ms (UINT64_MAX when the record
 * is not 8 bytes), CPT_ENOTFOUND when the key was never revoked, or a store
 * error (a caller that must tell "not revoked" from "cannot say"). */
int index_revoked(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], uint64_t *ms) CPT_WUR;
/* The same two through the context's cache: *rec a new reference to the
 * record (NULL when none), *revoked as index_revoked_at. 0, or CPT_ENOMEM
 * (no cache could be made: the caller treats the key as unknown). */
int index_key_cached(index_ctx_t *ix, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN],
                     json_t **rec, uint64_t *revoked) CPT_WUR;
/* index_handle_of through the cache. */
int index_handle_cached(index_ctx_t *ix, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN],
                        char out[64]) CPT_WUR;

/* ------------------------------------------------- posts (posts.c) */

/* What the references of a post or a comment say: its comments, and its
 * text, the newest edit by its own author. */
typedef struct index_refs {
	uint8_t author[CPT_KEY_LEN]; /* in: whose edits count */
	uint64_t edit_ts;            /* the newest edit's timestamp */
	uint8_t edit_id[CPT_ID_LEN]; /* its id */
	json_t *text;                /* in: the event's own text; out: the current one
	                                (borrowed from the caller or from edit_body) */
	json_t *edit_body;           /* the newest edit's body (owned: json_decref it), or NULL */
	size_t comments;             /* visible comments */
	const uint8_t *space;        /* in: the post's space when the references are
	                                counted by PROTOCOL.md 16.9 (the post view), or
	                                NULL: every one (a company-wide post, a query) */
} index_refs_t;
/* Reads the references of id into acc (author and text set by the caller).
 * 0 or a store error; acc->edit_body must be released either way. */
int index_refs(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], index_refs_t *acc) CPT_WUR;
/* The same through ix, whose folds of spaces serve the calls that follow
 * (index_ctx_release after): the comments of one thread. */
int index_refs_in(index_ctx_t *ix, store_txn_t *txn, const uint8_t id[CPT_ID_LEN],
                  index_refs_t *acc) CPT_WUR;
/* Appends to the array out the reactions author has on post
 * (DB_REACTIONS). 0 or a store error. */
int index_reactions_of(store_txn_t *txn, const uint8_t post[CPT_ID_LEN],
                       const uint8_t author[CPT_KEY_LEN], json_t *out) CPT_WUR;

/* ------------------------------------------------- spaces (spaces.c) */

/*
 * This site as spaces see it: its key ring (borrowed; NULL: this process
 * opens nothing), its seal key pair (borrowed, or NULL), the federation and
 * the site's name. One per process, set by node/core when it opens the node
 * and before any ingest, so that ingest, reindex and verify open the same
 * sealed events; the pointers must live until it is set again.
 */
void index_spaces_setup(skey_ring_t *ring, const key_curve_t *seal, const uint8_t fed[CPT_FED_LEN],
                        const char *site);
/* The ring, locked for the caller (sealing a body, adding a key made here):
 * index_spaces_ring_unlock after. May return NULL (still locked). */
skey_ring_t *index_spaces_ring_lock(void);
void index_spaces_ring_unlock(void);
/* This site's name as set up (static; "" when none). */
const char *index_spaces_site(void);
/* The id of site's space in this federation (skey_site_space). */
void index_site_space(uint8_t out[CPT_ID_LEN], const char *site);
/* Opens into the ring every key sealed to this site among the stored key
 * events (at start: the ring lives in memory, the keys in the events). */
int index_spaces_load(store_txn_t *txn) CPT_WUR;
/* A fresh fold of space (site: a site space's site, else NULL) from its
 * stored governance events. 0 with *out (space_state_destroy it) and *keep
 * (json_decref it after the state: the strings the state borrows), or an
 * error. */
int index_space_fold(space_state_t **out, json_t **keep, store_txn_t *txn,
                     const uint8_t space[CPT_ID_LEN], const char *site) CPT_WUR;
/* The stored state of a space (DB_SPACES): a new reference, or NULL. */
json_t *index_space_get(store_txn_t *txn, const uint8_t space[CPT_ID_LEN]);
/* The spaces handle is a member of (site spaces aside), up to max, with
 * their roles (enum space_role) and names ("" when not known here); roles
 * and names may be NULL. 0 or a store error. */
int index_my_spaces(store_txn_t *txn, const char *handle, uint8_t (*out)[CPT_ID_LEN], int *roles,
                    char (*names)[SPACE_NAME_MAX + 1], size_t max, size_t *n) CPT_WUR;
/* Which references of post count on it (PROTOCOL.md 16.9): 0 every one (a
 * company-wide post, or one not here yet), 1 those index_space_ref_in
 * admits in space (set), 2 none (a post that counts nowhere); or a negative
 * store error. ix: a context whose folds serve the calls that follow
 * (index_ctx_release after). */
int index_post_space(index_ctx_t *ix, store_txn_t *txn, const uint8_t post[CPT_ID_LEN],
                     uint8_t space[CPT_ID_LEN]) CPT_WUR;
/* Whether a comment, reaction or edit (ev, id; body: its opened body, as
 * index_event_open gives it) of a post of space counts on it: its author a
 * member of space at its position, sealed exactly when space is private.
 * 1 or 0. */
int index_space_ref_in(index_ctx_t *ix, store_txn_t *txn, const uint8_t space[CPT_ID_LEN],
                       const evt_t *ev, const uint8_t id[CPT_ID_LEN], const json_t *body);
/* Whether handle is a member of space now (DB_MY_SPACES: site spaces
 * aside), with the space's name ("" when not known here) into name when
 * not NULL: 1 yes, 0 no, or a store error. */
int index_my_space(store_txn_t *txn, const char *handle, const uint8_t space[CPT_ID_LEN],
                   char name[SPACE_NAME_MAX + 1]);
/* ------------------------------------------------- post views (views.c) */

/* The view of a post as the API shows it, from its stored record (rec: a
 * value of DB_FEED, or of DB_SPACE_FEED with space its space; NULL for
 * DB_FEED), the key's tsid (ts(8) id(32)) and the post's envelope (read
 * here, opened when sealed): {"author", "author_key", "comments", "created",
 * "edited", "id", "mentions", "reactions", ["space",] "text", "ts"}, in that
 * order. author, when not NULL, gets the post's author key. A new reference,
 * or NULL when the record is not one this version reads or the post is not
 * here with its body. */
json_t *index_view_json(store_txn_t *txn, const uint8_t *space, const uint8_t tsid[STORE_TSID_LEN],
                        const store_val_t *rec, uint8_t author[CPT_KEY_LEN]);
/* The same, read from DB_FEED (space NULL) or space's DB_SPACE_FEED under
 * tsid. NULL when there is no view there. */
json_t *index_view_get(store_txn_t *txn, const uint8_t *space, const uint8_t tsid[STORE_TSID_LEN]);
/* The same view as JSON text, as json_dumps(JSON_COMPACT) writes
 * index_view_json's object, made without parsing the post's body when it
 * can be (a clear post whose text needs no escape: the feed's common case).
 * *len gets its length, author the post's author key, handle (64 bytes) the
 * view's "author", *files 0 when the post's body names no files for sure.
 * malloc'd (the caller frees it), or NULL as index_view_json. */
char *index_view_text(store_txn_t *txn, const uint8_t *space, const uint8_t tsid[STORE_TSID_LEN],
                      const store_val_t *rec, size_t *len, uint8_t author[CPT_KEY_LEN],
                      char handle[64], int *files);
/* Only what the record holds, no envelope read: {"author", "comments",
 * "edited"} and "text" when edited. A new reference, or NULL
 * (a record this version does not read). */
json_t *index_view_lean(const store_val_t *rec);

/* Event id with its body as views read it: for a sealed event this site
 * opened, ev->kind is the inner kind and *body its plaintext (with the
 * outer "space" and "sealed_here": true); a sealed event not opened keeps
 * kind EVT_SEALED and a NULL body. *body is a new reference or NULL. 0,
 * CPT_ENOTFOUND, or an error, as index_event. */
int index_event_open(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], evt_t *ev,
                     json_t **body) CPT_WUR;
/* The same, a body in clear read through ix's cache (index_body_cached):
 * *body is shared with the cache, read only. */
int index_event_open_in(index_ctx_t *ix, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], evt_t *ev,
                        json_t **body) CPT_WUR;

/* ------------------------------------------ notifications (notify.c) */

/* A person's notifications are grouped: one group per post (its id), or per
 * space for what concerns a space as a whole (requests, invitations). A
 * group's record (DB_NOTIFY) is a JSON object {"latest": ms, "types": {type:
 * {"n": items, "ts": newest ms, "by": [newest handles, at most 3], "actors":
 * distinct handles}}}; types are listed by index_notify_types. */

/* The types a record may hold, NULL-terminated: "mention", "comment" (on
 * my post), "reply" (after my comment), "reaction" (on my post),
 * "space_post" (a post in a space I follow), "space_request" (someone asks
 * to join a space I administer), "space_invite" (I am invited). Static. */
const char *const *index_notify_types(void);
/* Recomputes the groups of post from the post and what refers to it (each
 * person's record of it, replaced). The space index calls it for the posts
 * whose visibility a space's fold changed. 0 or a store error. */
int index_notify_post(index_ctx_t *ix, store_txn_t *txn, const uint8_t post[CPT_ID_LEN]) CPT_WUR;
/* The same for one person (a handle): only who's record of post is
 * computed and replaced, the others' are left as they are; for a change
 * that concerns who alone (their follow of the post's space). 0 or a store
 * error. */
int index_notify_post_for(index_ctx_t *ix, store_txn_t *txn, const uint8_t post[CPT_ID_LEN],
                          const char *who) CPT_WUR;
/* Replaces every record of group by recs (handle -> record, borrowed; NULL
 * or empty: the group is gone). The hook of the space index (PROTOCOL.md
 * 17.4): after its fold, a space's join requests for its admins and its
 * invitations for the invited, under the space's id. 0 or a store error. */
int index_notify_group(index_ctx_t *ix, store_txn_t *txn, const uint8_t group[CPT_ID_LEN],
                       const json_t *recs) CPT_WUR;
/* The hook of the space index (PROTOCOL.md 17.3): after it folds a space,
 * the space's group (under its id) becomes its pending requests, one item
 * each for every active admin and owner, and its invitations, one item for
 * each person invited (by whom); an archived space's group is emptied. A
 * function of the fold, so of the event set. 0 or a store error. */
int index_notify_space(index_ctx_t *ix, store_txn_t *txn, const space_state_t *st) CPT_WUR;
/* Calls fn for each group of handle, newest first (by "latest", then
 * group id), strictly before the (latest, group) cursor before (40 bytes)
 * or from the newest when NULL: n is the number of items of the group (all
 * types), rec its record as JSON text (len bytes, not NUL-terminated,
 * borrowed for the call). A nonzero return of fn stops the walk and is
 * returned; 0 when all were seen. */
typedef int (*index_notify_fn)(void *arg, uint64_t latest, const uint8_t group[CPT_ID_LEN],
                               uint64_t n, const char *rec, size_t len);
int index_notify_each(store_txn_t *txn, const char *handle, const uint8_t *before,
                      index_notify_fn fn, void *arg) CPT_WUR;

/* Calls fn for each announce event (kind 18) held, newest first, with the
 * post it names. Stops at fn's first nonzero return, which it returns. */
int index_announce_each(store_txn_t *txn,
                        int (*fn)(void *arg, uint64_t ts, const uint8_t id[CPT_ID_LEN],
                                  const uint8_t post[CPT_ID_LEN]),
                        void *arg) CPT_WUR;

/* ------------------------------------------ personal state (mine.c) */

#define INDEX_MINE_KEY_LEN 32
/* The personal key of a user: BLAKE2b-256 keyed by their signing seed over
 * "comptoir/personal-key/v1" (PROTOCOL.md 17.2). */
void index_mine_derive(uint8_t k[INDEX_MINE_KEY_LEN], const uint8_t seed[CPT_SEED_LEN]);
/* The personal keys this node learnt (DB_MINE_KEYS, local: never sent):
 * put when the person logs in here; get: 0, CPT_ENOTFOUND, CPT_EINVAL. */
int index_mine_key_put(store_txn_t *txn, const uint8_t user[CPT_KEY_LEN],
                       const uint8_t k[INDEX_MINE_KEY_LEN]) CPT_WUR;
int index_mine_key_get(store_txn_t *txn, const uint8_t user[CPT_KEY_LEN],
                       uint8_t k[INDEX_MINE_KEY_LEN]) CPT_WUR;
/* The body of a kind 17 event: plain (an object: "read", "mute",
 * "prefs") sealed under k for author in federation fed: {"nonce", "box"}, a
 * new reference, or NULL when memory is short. */
json_t *index_mine_seal(const uint8_t k[INDEX_MINE_KEY_LEN], const uint8_t fed[CPT_FED_LEN],
                        const uint8_t author[CPT_KEY_LEN], const json_t *plain);
/* The plaintext object of such a body, or NULL (not sealed under k for
 * that author and federation, or not a JSON object). */
json_t *index_mine_open(const uint8_t k[INDEX_MINE_KEY_LEN], const uint8_t fed[CPT_FED_LEN],
                        const uint8_t author[CPT_KEY_LEN], const json_t *body);
/* The fold of user's kind 17 events this node can open (a function of the
 * events and the key it holds): {"read": {group hex: [latest,
 * n]} (each the largest marked), "mute":
 * {post hex: bool}, "prefs": {name: value}, "known": whether the key is
 * held, "events", "opened"}. A new reference, NULL on a store error. */
json_t *index_mine_state(store_txn_t *txn, const uint8_t fed[CPT_FED_LEN],
                         const uint8_t user[CPT_KEY_LEN]);

/* ------------------------------------------------ backups (backups.c) */

/* The newest key backup of a user key: 0 with its timestamp and id,
 * CPT_ENOTFOUND, CPT_EINVAL (a record of another size), or a store error. */
int index_backup(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], uint64_t *ts,
                 uint8_t id[CPT_ID_LEN]) CPT_WUR;

/* ----------------------------------------------- profiles (profiles.c) */

/* The fields of a profile, in order, NULL-terminated: what a profile event
 * may set (other names, from a newer node, are ignored). */
extern const char *const index_profile_fields[];

/* ----------------------------------------------- blob refs (blobrefs.c) */

#define INDEX_BLOB_THUMB                                                                           \
	1                   /* the ref names a thumbnail (of a file event, or a                    \
	                       sealed event's second or third blob) */
#define INDEX_BLOB_SEALED 2 /* named by a sealed event's outer "blobs": ciphertext */

/* One event naming one blob (DB_BLOB_REFS), copied out of the store. */
typedef struct index_blob_ref {
	uint8_t blob[32];            /* the blob id */
	uint64_t ts;                 /* the naming event's timestamp */
	uint8_t id[CPT_ID_LEN];      /* its id */
	uint8_t author[CPT_KEY_LEN]; /* its author */
	uint64_t size;               /* the size it gives (0: not known, sealed) */
	unsigned flags;              /* INDEX_BLOB_* */
	char type[129];              /* its type ("" when not known) */
} index_blob_ref_t;

/* Called for each ref found; r is the caller's for the call only. A
 * nonzero return stops the walk and is returned. */
typedef int (*index_blob_fn)(void *arg, const index_blob_ref_t *r);
/* Each ref of blob in (ts, id) order, or of every blob (blob NULL) in
 * (blob, ts, id) order. 0, fn's return or a store error. */
int index_blob_refs(store_txn_t *txn, const uint8_t *blob, index_blob_fn fn, void *arg) CPT_WUR;

/* --------------------------------------------- tombstones (tombstones.c) */

/* Calls fn(arg, rid) for each redaction rid recorded against id; a nonzero
 * return stops and is returned. 0 when none stopped it. */
int index_tombstones(store_txn_t *txn, const uint8_t id[CPT_ID_LEN],
                     int (*fn)(void *arg, const uint8_t rid[CPT_ID_LEN]), void *arg);

/* -------------------------------------- waiting events (pending.c) */

/* DB_PENDING_IDS follows DB_PENDING (which node/event owns): sets the
 * entry of the DB_PENDING key k = (awaited key, id) to the rule that keeps
 * it (PROTOCOL.md 8.8: "author.unknown", "clock.hold", "revoked.unvouched"),
 * or removes it (rule NULL; none there is fine). */
int index_pending_id(store_txn_t *txn, const uint8_t k[CPT_KEY_LEN + CPT_ID_LEN],
                     const char *rule) CPT_WUR;
/* Is event id waiting in DB_PENDING (for any key)? */
int index_is_pending(store_txn_t *txn, const uint8_t id[CPT_ID_LEN]);

/* ------------------------------- reconciliation index (buckets.c) */

/* Every DB_ORDER insert and delete changes it in the same transaction.
 * Keys are DB_ORDER keys (40 bytes). */
int bk_update(store_txn_t *txn, const uint8_t key[40], int add) CPT_WUR;
/* The same changes gathered over a transaction and applied once at its end:
 * bk_acc_add per event, then bk_acc_flush (which empties it) before the
 * commit; bk_acc_reset drops them (the transaction was aborted). */
bk_acc_t *bk_acc_new(void);
void bk_acc_free(bk_acc_t **self_p);
int bk_acc_add(bk_acc_t *a, const uint8_t key[40], int add) CPT_WUR;
int bk_acc_flush(bk_acc_t *a, store_txn_t *txn) CPT_WUR;
void bk_acc_reset(bk_acc_t *a);
/* Count and id sum of the events with lo <= key < hi (hi may be all 0xff). */
void bk_fingerprint(store_txn_t *txn, const uint8_t lo[40], const uint8_t hi[40], uint64_t *count,
                    uint8_t sum[32]);
/* The key of the event of rank r in (ts, id) order; 0 or CPT_ENOTFOUND. */
int bk_key_at(store_txn_t *txn, uint64_t r, uint8_t out[40]) CPT_WUR;
/* Up to k-1 bounds cutting the count events of [lo, hi) into k equal parts. */
size_t bk_split(store_txn_t *txn, const uint8_t lo[40], const uint8_t hi[40], uint64_t count,
                size_t k, uint8_t (*bounds)[40]);
/* Rebuilds the index from DB_ORDER. */
int bk_rebuild(store_txn_t *txn) CPT_WUR;

#endif
