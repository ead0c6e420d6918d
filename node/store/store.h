/*
 * store — the node's LMDB store, and the only module that includes lmdb.h.
 * Opaque handles (a store, its transactions, their cursors), typed reads
 * and writes of the named databases, transactions that grow the map when it
 * is full, meta values, hot backups, the checks LMDB does not make on its
 * own file, and LMDB's errors turned into the project's codes. It knows no
 * view: what each database holds is written by node/index and node/event.
 * Every module of node/ above it may call it.
 */
#ifndef COMPTOIR_STORE_H
#define COMPTOIR_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "crypto/crypto.h"

/* The named databases. What each holds, and who writes it, is in
 * docs/ARCHITECTURE.md ("Store"); keys that sort by time start with the
 * 8-byte big-endian HLC timestamp. */
enum store_db {
	DB_META,        /* "schema", "env_fed", "env11_at", "seq", ... -> values */
	DB_EVENTS_V11,  /* schema 11 and older: id(32) -> stored envelope; moved to DB_ENVELOPES
	                   and DB_EVENT_IDS and emptied by the step to schema 12 */
	DB_ORDER,       /* ts(8) id(32) -> kind(2) */
	DB_BY_AUTHOR,   /* author(32) ts(8) id(32) -> kind(2); split (below) */
	DB_BY_REF,      /* target's number(8) ts(8) id(32) -> kind(2): comments, reactions, edits,
	                   redactions; enrolments and revocations under the key's number (schema 13:
	                   the target's reference number, index_ref_num; its id before) */
	DB_TOMBSTONES,  /* target id(32) redaction id(32) -> "": bodies never accepted again */
	DB_PENDING,     /* awaited key(32) id(32) -> envelope: waiting for that key's certificate
	                   or enrolment (the author's, or the user a site revokes) */
	DB_KEYS,        /* key(32) -> JSON: what a key is (site, user), who vouched, roles */
	DB_REVOKED,     /* key(32) -> effective ms (8): smallest effective time seen */
	DB_HANDLES,     /* handle -> JSON list of its enrolments [ts, id, key, by] in order */
	DB_BACKUPS,     /* user key(32) -> ts(8) id(32) of the newest key backup */
	DB_POSTS_V1,    /* schema 1 only: post id(32) -> JSON view; emptied at open */
	DB_FEED,        /* ts(8) id(32) -> record of every visible post's view (schema 8: what its
	                   envelope does not hold, node/index/views.c) */
	DB_PROFILES,    /* handle -> JSON profile: LWW registers per field */
	DB_MENTIONS,    /* handle 0x00 ts(8) id(32) -> "" */
	DB_PEERS,       /* site key(32) -> JSON {"endpoint"}: peers added with comptoir peer add */
	DB_BUCKETS_V5,  /* schema 5 and older: level(1) ts>>8*level(8) -> count(8) sum of ids(32);
	                   emptied by the step to schema 6 (DB_BUCKETS_L3..L7 since) */
	DB_REACTIONS,   /* post's number(8) author(32) reaction -> ts(8) id(32) on(1): the newest
	                   (ts, id) reaction event of each author and reaction on each post
	                   (schema 13: the post's reference number; its id before) */
	DB_PENDING_IDS, /* id(32) awaited key(32) -> "": DB_PENDING by event id (sync's has) */
	DB_SESSIONS,    /* session id(32) -> record (node/auth/sessions.c): local, never replicated,
	                   not a view; the seed in it is sealed under the browser's cookie */
	DB_SPACE_GOV,   /* space(32) ts(8) id(32) -> kind(2): a space's governance events (11-13);
	                   split (below) */
	DB_SPACE_ITEMS, /* space(32) ts(8) id(32) -> kind(2): posts naming a space, sealed events;
	                   split (below) */
	DB_SPACES,      /* space(32) -> JSON: the fold's state (node/index/spaces.c) */
	DB_MY_SPACES,   /* handle 0x00 space(32) -> role(1): the spaces a person is a member of */
	DB_SPACE_FEED,  /* space(32) ts(8) id(32) -> record of the view of a post that counts in the
	                   space (as DB_FEED's) */
	DB_OPENED,      /* id(32) -> JSON plaintext of a sealed event this site opened */
	DB_SITE_SEALS,  /* site name -> JSON {ts, id, seal_key, title}: the newest certificate's */
	DB_NOTIFY,      /* handle 0x00 latest ts(8) group(32) -> JSON: a person's notifications
	                   grouped by post (node/index/notify.c), newest first when walked back */
	DB_NOTIFY_BY,   /* group's number(8) handle -> latest ts(8): the entries of DB_NOTIFY of a
	                   group (schema 13: keyed by the post's number, index_ref_num; its id
	                   before) */
	DB_ANNOUNCE,    /* ts(8) id(32) -> post(32): every announce event (node/index/notify.c) */
	DB_MINE,        /* author(32) ts(8) id(32) -> "": each person's kind 17 events
	                   (node/index/mine.c), so that their fold reads only those; split */
	DB_MINE_KEYS,   /* user key(32) -> personal key(32): local, never replicated, not a
	                   view; kept when the person logs in here (node/index/mine.c) */
	DB_OUTBOX,      /* ms(8) order(8) -> JSON entry: local, the durable outbox of mails and
	                   webhook deliveries (node/outbox) */
	DB_MAIL,        /* handle -> JSON: local, when each person's digest last went out */
	DB_TOKENS,      /* token id(32) -> JSON: local, personal API tokens (node/auth/tokens.c);
	                   the id is a hash of the token, the seed in it sealed under the token */
	DB_SPACE_FOLLOWS, /* space(32) author(32) -> ts(8) id(32) on(1): the newest follow event
	                     of each author naming the space (node/index/follows.c) */
	DB_BLOB_REFS,     /* 'b' blob(32) ts(8) id(32) -> size(8) flags(1) author(32) type: the
	                     events naming a blob; 'e' id(32) -> blob ids (n x 32) it names
	                     (node/index/blobrefs.c, PROTOCOL.md 18.5) */
	DB_HOOKS,         /* hook id(16) -> JSON: local, outgoing webhooks and their delivery log
	                     (node/hooks) */
	DB_BOTS,          /* bot handle -> JSON {owner, sealed}: local, service accounts made here;
	                     the bot's seed sealed to its owner's key (node/auth/users.c) */
	/* The reconciliation index (node/index/buckets.c), one database per
	 * level (schema 6): ts >> 8*level (8) -> count(8) sum of ids(32). Each
	 * level's new buckets come at its end, so its pages fill (one database
	 * for all levels put each level's new buckets before the coarser
	 * levels' entries: pages half full, issue 23). Consecutive values. */
	DB_BUCKETS_L3,
	DB_BUCKETS_L4,
	DB_BUCKETS_L5,
	DB_BUCKETS_L6,
	DB_BUCKETS_L7,
	DB_FEED_V7,       /* schema 7 and older: DB_FEED's views as JSON; moved and emptied by
	                     the step to schema 8 */
	DB_SPACE_FEED_V7, /* the same for DB_SPACE_FEED */
	/* Schema 8 and older: the flat databases that DB_BY_AUTHOR, DB_MINE,
	 * DB_SPACE_GOV and DB_SPACE_ITEMS were before they were split
	 * (schema 9, store_split_old); emptied by the step to schema 9. */
	DB_BY_AUTHOR_V8,
	DB_MINE_V8,
	DB_SPACE_GOV_V8,
	DB_SPACE_ITEMS_V8,
	/* The stored envelopes (schema 12, node/index/envelopes.c): each under a
	 * number of this store's own, given in the order they are stored, so
	 * that they are appended and their pages fill (under their ids, which
	 * are hashes, they landed at random and pages were ~64% full), with
	 * the ids beside them. */
	DB_ENVELOPES, /* seq(8) -> stored envelope (compact: envelopes.c) */
	DB_EVENT_IDS, /* id(32) -> seq(8) */
	/* The reference numbers (schema 13, node/index/envelopes.c): the
	 * databases of what refers to a post (DB_NOTIFY_BY) are keyed by the
	 * post's number in this store, not its id, so that references to
	 * recent posts land in the last pages. A stored event's number is its
	 * DB_EVENT_IDS value; this holds the others: an id referred to before
	 * it is stored (or that is never an event: a key), and a stored event
	 * taken out since, whose number stays its own. */
	DB_REF_NUMS, /* id(32) -> number(8) */
	DB_COUNT
};

/* A store (one data directory's dir/store), safe to share between threads. */
typedef struct store store_t;
/* A transaction: read-only (store_read_begin) or the one writer's
 * (store_write). Used by one thread at a time. */
typedef struct store_txn store_txn_t;
/* A cursor on one database, inside one transaction. */
typedef struct store_cur store_cur_t;

/* A key or a value. What the store hands out points into the map: valid
 * until the end of the transaction, or until the next write in it to the
 * same database, whichever comes first (as LMDB's MDB_val). Copy it before. */
typedef struct store_val {
	size_t len;       /* bytes */
	const void *data; /* the bytes, borrowed */
} store_val_t;

/* ------------------------------------------------------------- opening */

#define STORE_CREATE 1 /* store_open: make dir/store when it is missing or empty */

/* A function run in a write transaction (store_write, store_open). */
typedef int (*store_write_fn)(store_txn_t *txn, void *arg);

/*
 * Opens the store of data directory dir (dir/store). The file is checked
 * before LMDB maps it (a truncated or foreign data.mdb is refused, PITFALLS
 * 23) and a missing or empty one is refused unless flags has STORE_CREATE.
 * Opening knows no schema: node/index/schema.c (index_store_open) checks the
 * version and moves an older store forward, and every command opens the
 * store through it. first (or NULL) runs with arg in the write transaction
 * that opens the databases, so that a new store's first values (its schema)
 * go in its first commit; a nonzero return aborts the opening and is
 * returned. *out is NULL on failure. Returns 0, CPT_ENOTFOUND, CPT_EDAMAGED,
 * CPT_ENOSPC, CPT_EIO or first's error, with a message naming the path in err.
 */
int store_open(store_t **out, const char *dir, int flags, store_write_fn first, void *arg,
               char *err, size_t errlen) CPT_WUR;
/* Closes a store (no transaction may be open on it); safe on NULL. */
void store_close(store_t **self_p);
/* The data directory (borrowed, lives as long as the store). */
const char *store_dir(const store_t *st);
/* Bytes of the map in use (up to the last page of the newest commit), and
 * the map's size, for status; 0 when LMDB cannot say. */
uint64_t store_bytes(store_t *st);
uint64_t store_map_size(store_t *st);
/* Turns fsync at each commit off (on = 1) or on: only for a store thrown
 * away or rebuilt whole before use (verify's scratch store, repair's new
 * one, unit tests), never for the node's. 0 or CPT_EIO. */
int store_set_nosync(store_t *st, int on) CPT_WUR;
/* Flushes everything to disk (after writes made with nosync). 0 or CPT_EIO. */
int store_sync(store_t *st) CPT_WUR;
/*
 * Whether another process (the CLI) may have committed since this one last
 * looked (store_seen): 1 when the newest commit is neither one of this
 * process's own, made after everything before it was known, nor one a
 * store_seen covered; 0 when every commit is. Reads LMDB's meta page, no
 * transaction: cheap enough for every wake-up of a commit (the daemon's
 * loop). 1 until the first store_seen.
 */
int store_changed_elsewhere(store_t *st);
/* Every commit up to txn's snapshot (a read transaction) has been looked
 * at: store_changed_elsewhere says 0 for them from now on. */
void store_seen(store_t *st, store_txn_t *txn);

/* --------------------------------------------------------- transactions */

/* A read transaction, usable from any thread (LMDB's MDB_NOTLS). Keep it
 * short (PITFALLS 9: a reader held open stops page reuse) and end it with
 * store_read_end; never across a network wait or a streamed response.
 * 0 or CPT_EIO (*txn is then NULL). */
int store_read_begin(store_t *st, store_txn_t **txn) CPT_WUR;
/* Ends a read transaction; *txn is NULLed. Safe on a NULL *txn. */
void store_read_end(store_t *st, store_txn_t **txn);

/*
 * Runs fn(txn, arg) in a write transaction and commits it. When the map is
 * full (a store_put or store_del returned CPT_EMAPFULL, which fn must pass
 * back as it is) the transaction is aborted, the map grown and fn run
 * again: fn must not keep state across calls except through arg, reset at
 * its start. fn returns 0 to commit, STORE_NOCHANGE to end without a commit
 * (no fsync: store_write then returns 0), anything else to abort (returned
 * as is). Every commit bumps the sequence (store_seq). Returns 0, fn's
 * error, CPT_ENOSPC (logged here, at most every 10 s) or CPT_EIO. One write
 * transaction at a time in the process: fn must not call store_write.
 */
#define STORE_NOCHANGE 1
int store_write(store_t *st, store_write_fn fn, void *arg) CPT_WUR;
/*
 * store_write with flags. STORE_LAZY_META: the commit's data pages are
 * synced (fdatasync) but its meta page is only written (LMDB's
 * MDB_NOMETASYNC, for this commit alone): the commit survives a kill -9
 * like any other (the write is in the page cache), and a power cut can undo
 * it, and only it, as long as it is the last: the next commit's data sync
 * (of any kind) makes its meta page durable first, so what a power cut
 * leaves is always every commit but at most the last lazy one. Only for a
 * transaction whose loss costs nothing a later exchange does not bring back
 * (events that peers sent and still hold, and what is derived from them);
 * never for what was acknowledged to a local user or exists only here.
 * store_close syncs a last lazy commit.
 */
#define STORE_LAZY_META 1u
int store_write_flags(store_t *st, unsigned flags, store_write_fn fn, void *arg) CPT_WUR;

/* How many times a write of this store took the tail of a time-ordered
 * database out to put a key before it (store.c, s_put_ordered): once per
 * transaction and database while nothing reads the tail back in between;
 * for tests and benchmarks. */
uint64_t store_tail_outs(store_t *st);

/* The name of a database ("events", "feed", ...): static. */
const char *store_db_name(enum store_db db);

/*
 * Split databases (schema 9, issue 23). DB_BY_AUTHOR, DB_MINE, DB_SPACE_GOV
 * and DB_SPACE_ITEMS hold keys prefix(32) ts(8) id(32), many under each
 * prefix. LMDB holds them split after the prefix: one key per prefix with
 * sorted duplicates ts id value (MDB_DUPSORT | MDB_DUPFIXED), so that each
 * prefix's new entries come at the end of its own run and pages fill
 * (docs/ARCHITECTURE.md, "Store"). Callers see the same flat keys and values
 * as for any database, with every call of this header; what differs: keys
 * put there must be STORE_SPLIT_KEY_LEN bytes and their values the
 * database's fixed length (CPT_EINVAL otherwise), and a key handed out by
 * store_cur_get lives in the cursor until its next move or close (values
 * still point into the map). store_split_old gives the flat database a
 * split one was before (its old name, DB_*_V8), or DB_COUNT for a database
 * that is not split.
 */
#define STORE_SPLIT_PREFIX  32
#define STORE_SPLIT_KEY_LEN (STORE_SPLIT_PREFIX + 8 + 32)
enum store_db store_split_old(enum store_db db);
/*
 * Moves on the filling of split database db from the flat one it was
 * (store_split_old): copies up to max entries of that one, those after the
 * last entry db holds, in key order, and sets *moved to how many. Fewer than
 * max: it is all there (the flat one is not emptied: store_drop it). Each
 * call goes on where the last committed one stopped, so that a fill cut
 * short (kill -9) goes on at the next. 0, CPT_EMAPFULL (to store_write),
 * CPT_EDAMAGED (a flat entry no split key can hold) or an error.
 */
int store_split_fill(store_txn_t *txn, enum store_db db, size_t max, size_t *moved) CPT_WUR;

/* The store a transaction belongs to. */
store_t *store_of(store_txn_t *txn);

/*
 * A 32-byte value the layer above keeps with an open store for its life
 * (node/index/envelopes.c: the federation its envelopes are stored for,
 * read once from a committed transaction). store_memo_set copies it, before
 * the store is shared between threads; store_memo_get copies it to out: 0,
 * or CPT_ENOTFOUND when none was set.
 */
#define STORE_MEMO_LEN 32
void store_memo_set(store_t *st, const uint8_t v[STORE_MEMO_LEN]);
int store_memo_get(const store_t *st, uint8_t out[STORE_MEMO_LEN]) CPT_WUR;

/* ------------------------------------------------------ reads and writes */

/* The value of key in db into *out (borrowed, see store_val_t). 0,
 * CPT_ENOTFOUND or an error. */
int store_get(store_txn_t *txn, enum store_db db, const void *key, size_t klen,
              store_val_t *out) CPT_WUR;
/* Writes key -> val (replacing). 0, CPT_EMAPFULL (give it back to
 * store_write), CPT_ENOSPC or an error. key and val are copied. */
int store_put(store_txn_t *txn, enum store_db db, const void *key, size_t klen, const void *val,
              size_t vlen) CPT_WUR;
/* store_put of a key the caller found in this transaction (a record
 * rewritten in place): the same entries as store_put, without the search
 * for the end of a time-ordered database (s_put_ordered), which only ever
 * appends keys that are not there. */
int store_put_over(store_txn_t *txn, enum store_db db, const void *key, size_t klen,
                   const void *val, size_t vlen) CPT_WUR;
/* The same, but CPT_EEXIST (nothing written) when key is there already. */
int store_put_new(store_txn_t *txn, enum store_db db, const void *key, size_t klen, const void *val,
                  size_t vlen) CPT_WUR;
/* Deletes key; 0 also when it was not there. */
int store_del(store_txn_t *txn, enum store_db db, const void *key, size_t klen) CPT_WUR;
/* Deletes key; CPT_ENOTFOUND when it was not there. */
int store_del_existing(store_txn_t *txn, enum store_db db, const void *key, size_t klen) CPT_WUR;
/* Empties db. */
int store_drop(store_txn_t *txn, enum store_db db) CPT_WUR;
/* Writes a JSON value canonically (sorted keys, compact). */
int store_put_json(store_txn_t *txn, enum store_db db, const void *key, size_t klen,
                   const json_t *j) CPT_WUR;
/* The JSON value of key: a new reference, or NULL (absent, not JSON, or an error). */
json_t *store_get_json(store_txn_t *txn, enum store_db db, const void *key, size_t klen);
/* Calls fn(arg, txn, key, rec) for each entry of db in key order, rec its
 * value parsed as JSON (NULL when it does not parse; fn does not own it).
 * For the small databases of records (DB_BOTS, DB_HOOKS). Returns 0, or the
 * cursor's error. */
int store_each_json(store_txn_t *txn, enum store_db db,
                    void (*fn)(void *arg, store_txn_t *txn, const store_val_t *key, json_t *rec),
                    void *arg) CPT_WUR;
/* One more than the last key of db read as a big-endian 8-byte number (1
 * when db is empty or its last key is not 8 bytes): the number the next
 * entry of a database keyed by numbers (DB_ENVELOPES) is put under. Read
 * once per write transaction, then kept and moved on by its puts (an
 * aborted transaction's numbers are given again). 0 or an error. */
int store_next_number(store_txn_t *txn, enum store_db db, uint64_t *next) CPT_WUR;
/* Number of entries of db (0 on an error). */
size_t store_count(store_txn_t *txn, enum store_db db);

/* Meta values (DB_META) by name. get: 0, CPT_ENOTFOUND, CPT_ETOOBIG (out
 * holds *len bytes at most; *len gets the size), CPT_EIO. */
int store_meta_get(store_txn_t *txn, const char *key, void *out, size_t *len) CPT_WUR;
int store_meta_put(store_txn_t *txn, const char *key, const void *val, size_t len) CPT_WUR;
/* The sequence bumped by every commit: a running node sees writes made by
 * another process (the CLI) when it changes. 0 when never written. */
uint64_t store_seq(store_txn_t *txn);

/*
 * Empties db, then calls fn on each entry of from in key order to fill it
 * again (an index rebuilt from what it indexes). fn may write to db, not to
 * from. Returns 0, fn's first nonzero return or an error.
 */
typedef int (*store_entry_fn)(store_txn_t *txn, const store_val_t *k, const store_val_t *v,
                              void *arg);
int store_rebuild(store_txn_t *txn, enum store_db db, enum store_db from, store_entry_fn fn,
                  void *arg) CPT_WUR;

/* --------------------------------------------------------------- cursors */

/* Where store_cur_get moves. */
enum store_op {
	STORE_FIRST, /* the first entry */
	STORE_LAST,  /* the last entry */
	STORE_NEXT,  /* the entry after the current one (the first when none) */
	STORE_PREV,  /* the entry before the current one (the last when none) */
	STORE_SEEK,  /* the first entry whose key is >= *k (k is read, then set) */
};

/* A cursor on db; close it before the transaction ends. 0 or an error. */
int store_cur_open(store_txn_t *txn, enum store_db db, store_cur_t **out) CPT_WUR;
/* Closes a cursor; *cur is NULLed. Safe on a NULL *cur. */
void store_cur_close(store_cur_t **cur);
/* Moves the cursor (op) and gives the entry there in k and v (v may be
 * NULL), borrowed as store_val_t says. 0, CPT_ENOTFOUND (no such entry:
 * the end of the walk) or an error. */
int store_cur_get(store_cur_t *cur, store_val_t *k, store_val_t *v, enum store_op op) CPT_WUR;
/* Deletes the entry under the cursor; the next STORE_NEXT gives the one
 * after it. 0 or an error. */
int store_cur_del(store_cur_t *cur) CPT_WUR;

/* ---------------------------------------------------------------- errors */

/* What an error of this thread's last store call was: LMDB's own message
 * for CPT_EIO and CPT_EDAMAGED when LMDB gave one, else cpt_strerror(rc).
 * Static string. */
const char *store_strerror(int rc);

/* ------------------------------------------------- key layouts (keys.c) */

/* Big-endian u64 at p (8 bytes). */
void store_put_u64(uint8_t *p, uint64_t v);
uint64_t store_get_u64(const uint8_t *p);
/* The event kind an index entry holds (DB_ORDER, DB_BY_AUTHOR, DB_BY_REF:
 * 2 bytes, big-endian), or 0 when the value is not 2 bytes. */
uint16_t store_get_kind(const store_val_t *v);
/* The 2-byte value of those entries. */
void store_put_kind(uint8_t out[2], uint16_t kind);
/* The (ts, id) key of an event, 40 bytes: DB_ORDER's, DB_FEED's, and the
 * tail of DB_BY_AUTHOR's and DB_BY_REF's. */
#define STORE_TSID_LEN (8 + CPT_ID_LEN)
void store_tsid(uint8_t out[STORE_TSID_LEN], uint64_t ts, const uint8_t id[CPT_ID_LEN]);
/* Orders two keys as LMDB's default comparison does (bytes, then the
 * shorter first): <0, 0, >0. */
int store_key_cmp(const void *a, size_t alen, const void *b, size_t blen);
/* Orders two (timestamp, id) pairs: <0, 0, >0. */
int store_cmp_tsid(uint64_t ts_a, const uint8_t *id_a, uint64_t ts_b, const uint8_t *id_b);
/* The HLC timestamp in a stored envelope's header (offset 68); the bytes
 * must hold at least EVT_FIXED_LEN. */
uint64_t store_env_ts(const void *envelope);

/* ------------------------------------------------ backups and the walk */

/* Hot, consistent, compacted copy into dest_dir (created when missing; its
 * store subdirectory must not exist), without login sessions. The writer
 * goes on meanwhile. 0 or a CPT_ code with a message in err. */
int store_backup(store_t *st, const char *dest_dir, char *err, size_t errlen) CPT_WUR;

/* What every message about a damaged store ends with; %s is the data directory. */
#define STORE_REPAIR_HINT                                                                          \
	"run comptoir repair --dir %s: it keeps every event that can still be read and the "       \
	"peers send the rest (docs/OPERATIONS.md, \"A damaged store\")"

/* Where store_walk() is: the database it reads, how many of its entries it
 * has read, and the first bytes of the last key of a report. */
typedef struct store_walk_pos {
	const char *db;  /* a database name, "(free pages)" or "(list of databases)" */
	size_t entries;  /* entries of it read so far */
	uint8_t key[40]; /* the first bytes of the last key reported */
	size_t key_len;  /* how many */
} store_walk_pos_t;
/* Called at each database and every few thousand entries; pos is borrowed
 * for the call. */
typedef void (*store_walk_fn)(void *arg, const store_walk_pos_t *pos);

/*
 * Reads every entry of every database of the store in dir/store (and the
 * free-page list), touching each byte, and checks what LMDB does not: keys in
 * order, one key in 16 found again from the root, entry counts, free pages
 * inside the file. LMDB has no checksums (PITFALLS 23): a damaged page may
 * crash the process that reads it, so run this in a child process
 * (chk_store) and never in a process that has the store open (it opens
 * its own environment, PITFALLS 12). *entries gets how many were read.
 * Returns 0, CPT_ENOTFOUND (no store), CPT_EDAMAGED with what and where in
 * err, or CPT_EIO.
 */
#define STORE_WALK_LIGHT                                                                           \
	1 /* flags: only the first and last entries of each database                               \
	     (and all of meta), what opening the store reads */
int store_walk(const char *dir, int flags, store_walk_fn progress, void *arg, size_t *entries,
               char *err, size_t errlen) CPT_WUR;

/* Reads every entry of database name of the LMDB environment in path (the
 * directory holding data.mdb), read-only, calling fn(arg, key, value) on
 * each; the values live during the call. For salvaging what is not an event
 * from a damaged store: run it in a child (chk_run). Returns 0, fn's
 * nonzero return, or CPT_EDAMAGED with a message. */
typedef int (*store_kv_fn)(void *arg, const store_val_t *k, const store_val_t *v);
int store_read_db(const char *path, const char *name, store_kv_fn fn, void *arg, char *err,
                  size_t errlen) CPT_WUR;

/* ------------------------------------------ reading in a child (check.c) */

/* Reading a store in a child process: a damaged store may crash its
 * reader; the parent lives and says where. */
typedef struct chk chk_t;
/* Runs in the child; returns 0 or a CPT_ code with a message in err. */
typedef int (*chk_fn)(chk_t *c, void *arg, char *err, size_t errlen);
/* Forks (call it with no store open and one thread: PITFALLS 12), runs
 * fn(c, arg) in the child, passes the lines it sends with chk_data to
 * on_data(data_arg, line) (may be NULL), waits. Returns fn's result and
 * message; when the child died, CPT_EDAMAGED with "DIR/store/data.mdb is damaged: reading it
 * crashed (SIGSEGV) in <the child's last chk_at>; <STORE_REPAIR_HINT>". */
typedef void (*chk_data_fn)(void *arg, const char *line);
int chk_run(const char *dir, chk_fn fn, void *arg, chk_data_fn on_data, void *data_arg, char *err,
            size_t errlen) CPT_WUR;
/* In the child: a line of text (no newline, under 1 KiB) for the parent's
 * on_data, called while the child runs. */
void chk_data(chk_t *c, const char *line);
/* In the child: where it is now, for the message if it crashes. */
void chk_at(chk_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A store_walk_fn for a walk in a child: arg is the chk_t. */
void chk_walk_progress(void *arg, const store_walk_pos_t *pos);
/* store_walk(dir) in a child (light: STORE_WALK_LIGHT). 0 (entries gets how
 * many were read), CPT_ENOTFOUND, CPT_EDAMAGED or CPT_EIO with a message. */
int chk_store(const char *dir, int light, size_t *entries, char *err, size_t errlen) CPT_WUR;

#endif
