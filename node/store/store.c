/*
 * The LMDB store: opening (after the checks of walk.c), transactions with
 * on-demand map growth, typed reads and writes, cursors, meta values, hot
 * backups, and LMDB's error codes turned into the project's. Transactions
 * and cursors handed out are LMDB's own under opaque names: no allocation
 * and one call between a caller and LMDB on the hot paths (ingest, feed
 * reads).
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <lmdb.h>

#include "config/config.h"
#include "node/store/store_internal.h"

/* Free bytes under which an EIO from a write is taken for a full disk: more
 * than the largest commit writes (3,000 events, about 12 MB at 1M events). */
#define STORE_NEARLY_FULL (32ull << 20)

static const char *const s_db_names[DB_COUNT] = {
    [DB_META] = "meta",
    [DB_EVENTS_V11] = "events",
    [DB_ORDER] = "order",
    [DB_BY_REF] = "by_ref",
    [DB_TOMBSTONES] = "tombstones",
    [DB_PENDING] = "pending",
    [DB_KEYS] = "keys",
    [DB_REVOKED] = "revoked",
    [DB_HANDLES] = "handles",
    [DB_BACKUPS] = "backups",
    [DB_POSTS_V1] = "posts",
    [DB_FEED] = "feed_views",
    [DB_PROFILES] = "profiles",
    [DB_MENTIONS] = "mentions",
    [DB_PEERS] = "peers",
    [DB_BUCKETS_V5] = "buckets",
    [DB_REACTIONS] = "reactions",
    [DB_PENDING_IDS] = "pending_ids",
    [DB_SESSIONS] = "sessions",
    [DB_SPACES] = "spaces",
    [DB_MY_SPACES] = "my_spaces",
    [DB_SPACE_FEED] = "space_views",
    [DB_OPENED] = "opened",
    [DB_SITE_SEALS] = "site_seals",
    [DB_NOTIFY] = "notify",
    [DB_NOTIFY_BY] = "notify_by",
    [DB_ANNOUNCE] = "announce",
    [DB_MINE_KEYS] = "mine_keys",
    [DB_OUTBOX] = "outbox",
    [DB_MAIL] = "mail",
    [DB_TOKENS] = "tokens",
    [DB_SPACE_FOLLOWS] = "space_follows",
    [DB_BLOB_REFS] = "blob_refs",
    [DB_HOOKS] = "hooks",
    [DB_BOTS] = "bots",
    [DB_BUCKETS_L3] = "buckets_3",
    [DB_BUCKETS_L4] = "buckets_4",
    [DB_BUCKETS_L5] = "buckets_5",
    [DB_BUCKETS_L6] = "buckets_6",
    [DB_BUCKETS_L7] = "buckets_7",
    [DB_FEED_V7] = "feed",
    [DB_SPACE_FEED_V7] = "space_feed",
    [DB_BY_AUTHOR] = "by_author_s",
    [DB_MINE] = "mine_s",
    [DB_SPACE_GOV] = "space_gov_s",
    [DB_SPACE_ITEMS] = "space_items_s",
    [DB_BY_AUTHOR_V8] = "by_author",
    [DB_MINE_V8] = "mine",
    [DB_SPACE_GOV_V8] = "space_gov",
    [DB_SPACE_ITEMS_V8] = "space_items",
    [DB_ENVELOPES] = "envelopes",
    [DB_EVENT_IDS] = "event_ids",
    [DB_REF_NUMS] = "ref_nums",
};

/*
 * The split databases (store.h, "Split databases"): a flat key prefix(32)
 * ts(8) id(32) -> value is LMDB's key prefix -> duplicate ts id value, sorted
 * (MDB_DUPSORT) and of one size (MDB_DUPFIXED: a duplicate costs its bytes
 * and no node header). Within a prefix the (ts, id) are unique, so the
 * duplicates' order (bytes of ts id value) is the flat keys' order. New names:
 * LMDB keeps a database's flags for its life, so the step to schema 9 fills
 * these from the flat ones (DB_*_V8) and empties those. Not split, measured
 * or bounded: DB_BY_REF (a target has one or two references on average in
 * the bench's mix, and a target's run costs a node, a sub-page header and
 * the prefix: 27 B/event split against 26 flat at 200,000 events), and
 * DB_SPACE_FEED (JSON views: a duplicate is at most 511 bytes).
 */
struct s_split {
	enum store_db old; /* the flat database it was (schema 8) */
	size_t vlen;       /* the fixed length of its values */
};
static const struct s_split s_splits[DB_COUNT] = {
    [DB_BY_AUTHOR] = {DB_BY_AUTHOR_V8, 2},
    [DB_MINE] = {DB_MINE_V8, 0},
    [DB_SPACE_GOV] = {DB_SPACE_GOV_V8, 2},
    [DB_SPACE_ITEMS] = {DB_SPACE_ITEMS_V8, 2},
};
#define SPLIT_P    STORE_SPLIT_PREFIX
#define SPLIT_K    STORE_SPLIT_KEY_LEN
#define SPLIT_REST (SPLIT_K - SPLIT_P) /* the key's bytes in a duplicate: ts id */

/* Whether db is split (a DB_META, never split, marks the others). */
static int
s_is_split(enum store_db db)
{
	return s_splits[db].old != DB_META;
}

enum store_db
store_split_old(enum store_db db)
{
	assert(db >= 0 && db < DB_COUNT);
	return s_is_split(db) ? s_splits[db].old : DB_COUNT;
}

/* Map size at creation and growth step. A test may define smaller ones before
 * including this file, to make MDB_MAP_FULL happen in every code path. */
#ifndef STORE_MAP_INITIAL
#define STORE_MAP_INITIAL (64ull << 20)
#endif
#ifndef STORE_MAP_STEP
#define STORE_MAP_STEP (256ull << 20)
#endif
#define MAP_INITIAL STORE_MAP_INITIAL
#define MAP_STEP    STORE_MAP_STEP

/* The file's written room beyond LMDB's last page (s_headroom): made again
 * when under HEADROOM_MIN, up to HEADROOM_CHUNK beyond the last page, while
 * the commits since the last look grew the store by at most HEADROOM_GROWN
 * (live commits; a catch-up's commits extend the file themselves). */
#define HEADROOM_MIN   (256u << 10)
#define HEADROOM_CHUNK (1u << 20)
#define HEADROOM_GROWN (256u << 10)

/* Entries at most of a time-ordered database's tail moved behind a key
 * (s_put_tail). */
#define TAIL_MAX 16

/* A time-ordered database's tail taken out in a write transaction and held
 * until the transaction needs it back (s_put_ordered). */
struct s_held {
	size_t n;                         /* entries held, 0: none */
	MDB_val k[TAIL_MAX], v[TAIL_MAX]; /* them, largest first, pointing into copy */
	uint8_t *copy;                    /* their bytes (malloc'd) */
	unsigned cursors;                 /* store cursors open on the database */
};

struct store {
	MDB_env *env;          /* the LMDB environment; its user context is this store */
	MDB_dbi dbi[DB_COUNT]; /* handles of the named databases */
	char dir[4096];        /* data directory */
	pthread_rwlock_t grow; /* held for reading by every txn, for writing to resize the map */
	uint8_t memo[STORE_MEMO_LEN]; /* the layer above's value (store_memo_set) */
	int has_memo;                 /* memo was set */
	int lazy_meta;                /* MDB_NOMETASYNC is set on env: the last commit's meta page
	                                 is written, not synced. Read and changed only by the holder
	                                 of LMDB's write lock (inside store_write_flags) */
	uint64_t known;      /* atomic: every commit up to this txnid is this process's own or was
	                        looked at (store_seen); 0 at open: not known */
	struct s_held *held; /* per database: a time-ordered one's tail taken out in the write
	                        transaction under way (s_put_tail); the writing thread's */
	uint64_t tail_outs;  /* atomic: times a tail was taken out (store_tail_outs) */
	int held_rc;         /* a tail could not be put back in the write transaction under
	                        way: its commit fails with this (s_give_back_all) */
	uint64_t file_end;   /* bytes data.mdb holds at least (s_headroom), 0: not looked at */
	uint64_t used_seen;  /* LMDB's pages in use, in bytes, at s_headroom's last look */
	uint64_t split_gen;  /* the generation of split_last's entries that hold: moved on at
	                        the end of each write transaction and by any write to a split
	                        database other than an append (s_split_put) */
	struct s_split_last {
		uint64_t gen;         /* valid while it is split_gen */
		uint8_t db;           /* the split database */
		uint8_t key[SPLIT_K]; /* the flat key appended last under its prefix */
	} split_last[64];             /* by prefix: the writing thread's */
};

/* The write transaction this thread runs a function in (store_write_flags,
 * store_open), NULL when none: the only one whose tails may be held
 * (s_put_ordered, "A tail taken out is held"). */
static _Thread_local MDB_txn *s_wtxn;
/* The next number of a database of that transaction (store_next_number),
 * when valid: set by store_next_number, cleared when s_wtxn is set or
 * cleared (every write transaction starts and ends without one) and by any
 * write to db but the put of an 8-byte key (s_num_put). Per thread, as
 * s_wtxn is: a put reaches it with no call into LMDB. */
static _Thread_local struct s_num {
	int valid;        /* next holds */
	enum store_db db; /* the database numbered */
	uint64_t next;    /* one more than its last key */
} s_wnum;
static int s_give_back(store_txn_t *txn, enum store_db db);
static int s_give_back_at(store_txn_t *txn, enum store_db db, const void *key, size_t klen);
static int s_give_back_all(store_txn_t *txn);
static void s_held_drop(store_t *st);

/* A store_txn_t is an MDB_txn: the name is opaque, the pointer LMDB's. */
#define TXN(t) ((MDB_txn *)(t))

/* A cursor: LMDB's, and for a split database the flat key it is at. */
struct store_cur {
	MDB_cursor *mc;       /* LMDB's cursor */
	int split;            /* on a split database */
	int at;               /* split: it was moved once (LMDB 0.9.24's MDB_PREV on an
	                         unplaced cursor of duplicates gives a wrong entry) */
	uint8_t key[SPLIT_K]; /* split: the flat key of the entry it is at */
	struct s_held *held;  /* the write transaction's record of its database's tail, whose
	                         cursors count this one (s_put_ordered holds no tail while
	                         one is open), or NULL */
};
#define CUR(x) ((x)->mc)

/* ---------------------------------------------------------------- errors */

/* The LMDB code behind this thread's last CPT_EIO or CPT_EDAMAGED. */
static _Thread_local int s_last_lmdb;

/* An LMDB (or system) code as the project's. */
static int
s_err(int rc)
{
	switch (rc) {
	case 0: return 0;
	case MDB_NOTFOUND: return CPT_ENOTFOUND;
	case MDB_KEYEXIST: return CPT_EEXIST;
	case MDB_MAP_FULL: return CPT_EMAPFULL;
	case ENOMEM: return CPT_ENOMEM;
	case ENOSPC:
	case EDQUOT: return CPT_ENOSPC;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH: s_last_lmdb = rc; return CPT_EDAMAGED;
	}
	s_last_lmdb = rc;
	return CPT_EIO;
}

const char *
store_strerror(int rc)
{
	if ((rc == CPT_EIO || rc == CPT_EDAMAGED) && s_last_lmdb != 0)
		return mdb_strerror(s_last_lmdb);
	return cpt_strerror(rc);
}

/* The store of a transaction: the environment's user context. */
static store_t *
s_store(store_txn_t *txn)
{
	return mdb_env_get_userctx(mdb_txn_env(TXN(txn)));
}

static MDB_dbi
s_dbi(store_txn_t *txn, enum store_db db)
{
	assert(db >= 0 && db < DB_COUNT);
	return s_store(txn)->dbi[db];
}

uint64_t
store_tail_outs(store_t *st)
{
	assert(st != NULL);
	return __atomic_load_n(&st->tail_outs, __ATOMIC_RELAXED);
}

const char *
store_db_name(enum store_db db)
{
	assert(db >= 0 && db < DB_COUNT);
	return s_db_names[db];
}

store_t *
store_of(store_txn_t *txn)
{
	assert(txn != NULL);
	return s_store(txn);
}

void
store_memo_set(store_t *st, const uint8_t v[STORE_MEMO_LEN])
{
	assert(st != NULL && v != NULL);
	memcpy(st->memo, v, STORE_MEMO_LEN);
	st->has_memo = 1;
}

int
store_memo_get(const store_t *st, uint8_t out[STORE_MEMO_LEN])
{
	assert(st != NULL && out != NULL);
	if (!st->has_memo)
		return CPT_ENOTFOUND;
	memcpy(out, st->memo, STORE_MEMO_LEN);
	return 0;
}

/* --------------------------------------------------------------- opening */

static int
s_mkdir(const char *path)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* Free bytes under which an EIO from a write is taken for a full disk: more
 * than the largest commit writes (3,000 events, about 12 MB at 1M events). */
#define STORE_NEARLY_FULL (32ull << 20)

int
store_open(store_t **out, const char *dir, int flags, store_write_fn first, void *arg, char *err,
           size_t errlen)
{
	store_t *st;
	char path[4200];
	MDB_txn *txn = NULL;
	struct stat sb;
	int rc, create = (flags & STORE_CREATE) != 0;

	assert(out != NULL && dir != NULL);
	*out = NULL;
	snprintf(path, sizeof(path), "%s/store", dir);
	if (stat(path, &sb) != 0) {
		if (!create) {
			snprintf(err, errlen, "%s: no store here (run comptoir init --dir %s)",
			         path, dir);
			return CPT_ENOTFOUND;
		}
		if (s_mkdir(dir) != 0 || s_mkdir(path) != 0) {
			rc = errno;
			snprintf(err, errlen, "%s: %s", path, strerror(rc));
			return rc == ENOSPC || rc == EDQUOT ? CPT_ENOSPC : CPT_EIO;
		}
	}
	{
		/* LMDB would make a new empty store of a missing or empty data.mdb:
		 * only init and site install may (create); for everyone else the
		 * site's events are gone, and saying so is the only safe answer. */
		char file[4300];
		snprintf(file, sizeof(file), "%s/data.mdb", path);
		char why[64];
		rc = store_check_file(file, dir, err, errlen, why, sizeof(why));
		if (rc == CPT_ENOTFOUND && !create) {
			snprintf(
			    err, errlen,
			    "%s: no store here (%s); only comptoir init makes one: to rebuild "
			    "this site's store from its peers run comptoir repair --dir %s, or "
			    "restore a backup (comptoir restore BACKUP --dir NEWDIR)",
			    file, why, dir);
			return CPT_ENOTFOUND;
		}
		if (rc != 0 && rc != CPT_ENOTFOUND)
			return rc;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return CPT_ENOMEM;
	if ((st->held = calloc(DB_COUNT, sizeof(*st->held))) == NULL) {
		free(st);
		return CPT_ENOMEM;
	}
	snprintf(st->dir, sizeof(st->dir), "%s", dir);
	pthread_rwlock_init(&st->grow, NULL);
	if ((rc = mdb_env_create(&st->env)) != 0)
		goto fail;
	mdb_env_set_userctx(st->env, st);
	mdb_env_set_maxdbs(st->env, DB_COUNT + 4);
	mdb_env_set_maxreaders(st->env, 512);
	mdb_env_set_mapsize(st->env, MAP_INITIAL);
	if ((rc = store_lock_alloc(path, dir, err, errlen)) != 0) {
		store_close(&st);
		return rc;
	}
	/* MDB_NOTLS: HTTP threads each run their own short read transactions. */
	if ((rc = mdb_env_open(st->env, path, MDB_NOTLS, 0600)) != 0)
		goto fail;
	{
		int dead = 0;
		mdb_reader_check(st->env, &dead);
	}
	/* The map may have been grown by another process: adopt its size. */
	mdb_env_set_mapsize(st->env, 0);
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
		goto fail;
	for (int i = 0; i < DB_COUNT; i++)
		if ((rc =
		         mdb_dbi_open(txn, s_db_names[i],
		                      MDB_CREATE | (s_is_split(i) ? MDB_DUPSORT | MDB_DUPFIXED : 0),
		                      &st->dbi[i])) != 0)
			goto fail;
	if (first) {
		s_wtxn = txn;
		s_wnum.valid = 0;
		rc = first((store_txn_t *)txn, arg);
		if (rc == 0 && (rc = s_give_back_all((store_txn_t *)txn)) != 0)
			rc = s_err(rc);
		s_wtxn = NULL;
		s_wnum.valid = 0;
		s_held_drop(st);
	}
	if (first && rc != 0) {
		mdb_txn_abort(txn);
		store_close(&st);
		if (rc == CPT_ENOSPC)
			snprintf(err, errlen, "no space left on device (%s): cannot write %s", dir,
			         path);
		else
			snprintf(err, errlen, "%s: %s", path, store_strerror(rc));
		return rc;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto fail;
	*out = st;
	return 0;
fail:
	if (txn)
		mdb_txn_abort(txn);
	store_close(&st);
	{
		/* A short write of the first commit reads EIO, as in s_write_error:
		 * a nearly full disk says which (seen when the store got the
		 * databases of spaces, a first commit of more pages). */
		struct statvfs vfs;
		if (rc == EIO && statvfs(path, &vfs) == 0 &&
		    (uint64_t)vfs.f_bavail * vfs.f_frsize < STORE_NEARLY_FULL)
			rc = ENOSPC;
	}
	if (rc == ENOSPC || rc == EDQUOT) {
		snprintf(err, errlen, "no space left on device (%s): cannot write %s", dir, path);
		return CPT_ENOSPC;
	}
	snprintf(err, errlen, "%s: %s", path, mdb_strerror(rc));
	return CPT_EIO;
}

void
store_close(store_t **self_p)
{
	store_t *st = *self_p;

	if (st == NULL)
		return;
	/* A last commit made with STORE_LAZY_META is made durable: a clean stop
	 * leaves nothing a power cut could undo. */
	if (st->env && st->lazy_meta && mdb_env_sync(st->env, 1) != 0)
		log_warnx("store", "%s: the last commit could not be synced at close", st->dir);
	if (st->env)
		mdb_env_close(st->env);
	pthread_rwlock_destroy(&st->grow);
	s_held_drop(st);
	free(st->held);
	free(st);
	*self_p = NULL;
}

const char *
store_dir(const store_t *st)
{
	assert(st != NULL);
	return st->dir;
}

uint64_t
store_bytes(store_t *st)
{
	MDB_envinfo info;
	MDB_stat est;

	assert(st != NULL);
	if (mdb_env_info(st->env, &info) != 0 || mdb_env_stat(st->env, &est) != 0)
		return 0;
	return (info.me_last_pgno + 1) * (uint64_t)est.ms_psize;
}

uint64_t
store_map_size(store_t *st)
{
	MDB_envinfo info;

	assert(st != NULL);
	return mdb_env_info(st->env, &info) == 0 ? info.me_mapsize : 0;
}

int
store_set_nosync(store_t *st, int on)
{
	assert(st != NULL);
	return mdb_env_set_flags(st->env, MDB_NOSYNC, on ? 1 : 0) == 0 ? 0 : CPT_EIO;
}

int
store_sync(store_t *st)
{
	assert(st != NULL);
	return mdb_env_sync(st->env, 1) == 0 ? 0 : CPT_EIO;
}

/* Moves st->known on to txnid, never back. */
static void
s_known_raise(store_t *st, uint64_t txnid)
{
	uint64_t k = __atomic_load_n(&st->known, __ATOMIC_ACQUIRE);

	while (k < txnid && !__atomic_compare_exchange_n(&st->known, &k, txnid, 0, __ATOMIC_ACQ_REL,
	                                                 __ATOMIC_ACQUIRE))
		;
}

/* A commit of this process made txnid: known moves on only when every
 * commit before it was known, so that one of another process in between
 * still reads as changed. */
static void
s_known_own(store_t *st, uint64_t txnid)
{
	uint64_t k = txnid - 1;

	(void)__atomic_compare_exchange_n(&st->known, &k, txnid, 0, __ATOMIC_ACQ_REL,
	                                  __ATOMIC_ACQUIRE);
}

int
store_changed_elsewhere(store_t *st)
{
	MDB_envinfo info;

	assert(st != NULL);
	/* The newest meta page, read from the map: no reader slot, no lock. */
	if (mdb_env_info(st->env, &info) != 0)
		return 1;
	return (uint64_t)info.me_last_txnid != __atomic_load_n(&st->known, __ATOMIC_ACQUIRE);
}

void
store_seen(store_t *st, store_txn_t *txn)
{
	assert(st != NULL && txn != NULL);
	s_known_raise(st, (uint64_t)mdb_txn_id(TXN(txn)));
}

/* ---------------------------------------------------------- transactions */

/*
 * What store_write returns for an LMDB or system error rc of a write. A full
 * disk (or a quota) is named in the log, at most every 10 s, and returned as
 * CPT_ENOSPC for the callers to name too: before, it read "input/output
 * error". Nothing acknowledged is lost: the transaction was not committed.
 */
static int
s_write_error(store_t *st, int rc)
{
	static uint64_t last_ms; /* when it was last logged */
	char path[4200];
	struct statvfs vfs;

	/* LMDB turns a short write (the disk filled up in the middle of a
	 * commit's pwritev) into EIO: a nearly full disk tells them apart. */
	snprintf(path, sizeof(path), "%s/store", st->dir);
	if (rc == EIO && statvfs(path, &vfs) == 0 &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < STORE_NEARLY_FULL)
		rc = ENOSPC;
	if (rc == ENOSPC || rc == EDQUOT) {
		uint64_t now = hlc_wall_ms(), then = __atomic_load_n(&last_ms, __ATOMIC_RELAXED);
		if (now - then >= 10000 &&
		    __atomic_compare_exchange_n(&last_ms, &then, now, 0, __ATOMIC_RELAXED,
		                                __ATOMIC_RELAXED))
			log_warnx("store",
			          "no space left on device (%s): writes are refused until "
			          "space is freed; nothing acknowledged was lost",
			          st->dir);
		return CPT_ENOSPC;
	}
	s_last_lmdb = rc;
	return CPT_EIO;
}

/* Adopts a map grown by another process, or grows it by step. lmdb.h: only
 * while no transaction of this process is open, hence the write lock that
 * every transaction holds for reading. */
static void
s_resize(store_t *st, size_t step)
{
	MDB_envinfo info;

	pthread_rwlock_wrlock(&st->grow);
	mdb_env_info(st->env, &info);
	mdb_env_set_mapsize(st->env, step ? info.me_mapsize + step : 0);
	pthread_rwlock_unlock(&st->grow);
}

/* Grows a full map. Each MDB_MAP_FULL reruns the caller's function from the
 * start: the step doubles each time (the file is sparse), so that a large
 * transaction such as a reindex runs a few times, not once per step. */
static void
s_grow(store_t *st, int *fulls)
{
	s_resize(st, MAP_STEP << *fulls);
	if (*fulls < 8)
		(*fulls)++;
}

int
store_read_begin(store_t *st, store_txn_t **txn)
{
	MDB_txn *t;
	int rc;

	assert(st != NULL && txn != NULL);
	for (int attempt = 0; attempt < 4; attempt++) {
		pthread_rwlock_rdlock(&st->grow);
		rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &t);
		if (rc == 0) {
			*txn = (store_txn_t *)t;
			return 0;
		}
		pthread_rwlock_unlock(&st->grow);
		if (rc != MDB_MAP_RESIZED)
			break;
		s_resize(st, 0);
	}
	s_last_lmdb = rc;
	*txn = NULL;
	return CPT_EIO;
}

void
store_read_end(store_t *st, store_txn_t **txn)
{
	assert(st != NULL && txn != NULL);
	if (*txn == NULL)
		return;
	mdb_txn_abort(TXN(*txn));
	*txn = NULL;
	pthread_rwlock_unlock(&st->grow);
}

/* Bumps the sequence so other processes see the change. */
static int
s_bump_seq(store_t *st, MDB_txn *txn)
{
	MDB_val k = {3, "seq"}, v;
	uint8_t b[8];
	uint64_t seq = 0;

	if (mdb_get(txn, st->dbi[DB_META], &k, &v) == 0 && v.mv_size == 8)
		seq = store_get_u64(v.mv_data);
	store_put_u64(b, seq + 1);
	v.mv_size = 8;
	v.mv_data = b;
	return mdb_put(txn, st->dbi[DB_META], &k, &v, 0);
}

/*
 * The meta page of the commit about to be made (txn open, so this thread
 * holds LMDB's write lock: no other commit of this environment runs, and
 * every change of the flag is made under that lock, as lmdb.h asks of
 * mdb_env_set_flags). MDB_NOMETASYNC is read by mdb_txn_commit only
 * (mdb_env_write_meta: the meta page goes through the descriptor opened
 * O_DSYNC, or through the plain one when the flag is set); read
 * transactions read other bits of the same word, which this never changes.
 */
static void
s_meta_sync(store_t *st, int lazy)
{
	if (st->lazy_meta == lazy)
		return;
	if (mdb_env_set_flags(st->env, MDB_NOMETASYNC, lazy) == 0)
		st->lazy_meta = lazy;
}

/*
 * Keeps data.mdb written ahead of LMDB's last page, so that a live commit
 * overwrites blocks the file already holds. A commit that writes past the
 * end of the file (LMDB appends the pages it takes beyond its last one)
 * changes the file's size and makes ext4 allocate blocks, and its fdatasync
 * then writes the inode too, a synchronous write and wait of its own
 * (ext4_write_inode under fdatasync, one commit in two or three of a live
 * post: ARCHITECTURE "The file written ahead"). Zeros are written here, up
 * to HEADROOM_CHUNK beyond the last page, when the room left is under
 * HEADROOM_MIN: once per ~250 pages that the store grows by; the next
 * commit's sync takes them to the disk with its own pages.
 *
 * Called at the start of a write transaction, before fn: this thread holds
 * LMDB's write lock, no commit of any process runs, and nothing beyond the
 * last committed page is LMDB's (it takes pages there only in a write
 * transaction, and a transaction that was aborted or killed left nothing
 * there that anyone reads). Pages written later in this transaction (a
 * spill, the commit) land over the zeros, after them. Never past the map.
 * Best effort: an error leaves the file as it was and the commit as
 * before (a full disk gives its room back).
 */
static void
s_headroom(store_t *st)
{
	static const uint8_t zeros[64 << 10];
	MDB_envinfo info;
	MDB_stat est;
	struct stat sb;
	uint64_t used, end, want;
	int fd;

	if (mdb_env_info(st->env, &info) != 0 || mdb_env_stat(st->env, &est) != 0)
		return;
	used = ((uint64_t)info.me_last_pgno + 1) * est.ms_psize;
	if (used > st->used_seen + HEADROOM_GROWN) {
		/* A large commit (or another process's), or the first look:
		 * LMDB extends the file itself for those. */
		st->used_seen = used;
		st->file_end = 0;
		return;
	}
	st->used_seen = used;
	if (st->file_end >= used + HEADROOM_MIN)
		return;
	if (mdb_env_get_fd(st->env, &fd) != 0 || fstat(fd, &sb) != 0)
		return;
	st->file_end = (uint64_t)sb.st_size;
	if (st->file_end >= used + HEADROOM_MIN)
		return;
	want = used + HEADROOM_CHUNK;
	if (want > info.me_mapsize)
		want = info.me_mapsize;
	end = st->file_end > used ? st->file_end : used;
	for (uint64_t at = end; at < want;) {
		size_t n = want - at < sizeof(zeros) ? (size_t)(want - at) : sizeof(zeros);
		ssize_t w = pwrite(fd, zeros, n, (off_t)at);
		if (w <= 0) {
			/* Room not kept: the file back to its size before. */
			if (ftruncate(fd, (off_t)end) != 0)
				log_debug("store", "%s: headroom not given back", st->dir);
			return;
		}
		at += (uint64_t)w;
	}
	st->file_end = want;
}

int
store_write(store_t *st, store_write_fn fn, void *arg)
{
	return store_write_flags(st, 0, fn, arg);
}

int
store_write_flags(store_t *st, unsigned flags, store_write_fn fn, void *arg)
{
	MDB_txn *txn;
	int rc, fulls = 0;

	assert(st != NULL && fn != NULL && (flags & ~STORE_LAZY_META) == 0);
	for (int attempt = 0; attempt < 64; attempt++) {
		pthread_rwlock_rdlock(&st->grow);
		rc = mdb_txn_begin(st->env, NULL, 0, &txn);
		if (rc != 0) {
			pthread_rwlock_unlock(&st->grow);
			if (rc == MDB_MAP_RESIZED) {
				s_resize(st, 0);
				continue;
			}
			return s_write_error(st, rc);
		}
		s_headroom(st);
		s_wtxn = txn;
		s_wnum.valid = 0;
		rc = fn((store_txn_t *)txn, arg);
		/* The tails held back in place before anything of the commit. */
		if (rc == 0 && (rc = s_give_back_all((store_txn_t *)txn)) != 0)
			rc = s_err(rc);
		s_wtxn = NULL;
		s_wnum.valid = 0;
		s_held_drop(st);
		if (rc == CPT_EMAPFULL) {
			mdb_txn_abort(txn);
			pthread_rwlock_unlock(&st->grow);
			s_grow(st, &fulls);
			continue;
		}
		if (rc != 0) {
			mdb_txn_abort(txn);
			pthread_rwlock_unlock(&st->grow);
			/* STORE_NOCHANGE: nothing to store, no commit (no fsync) needed.
			 * A put that spilled pages to a full disk says ENOSPC. */
			if (rc == CPT_ENOSPC)
				return s_write_error(st, ENOSPC);
			return rc == STORE_NOCHANGE ? 0 : rc;
		}
		if ((rc = s_bump_seq(st, txn)) != 0) {
			mdb_txn_abort(txn);
			pthread_rwlock_unlock(&st->grow);
			if (rc == MDB_MAP_FULL) {
				s_grow(st, &fulls);
				continue;
			}
			return s_write_error(st, rc);
		}
		s_meta_sync(st, (flags & STORE_LAZY_META) != 0);
		/* The seq bumped: this commit writes, and takes this txnid. */
		uint64_t txnid = (uint64_t)mdb_txn_id(txn);
		/* A failed commit has freed the txn already (lmdb.h): never abort it. */
		rc = mdb_txn_commit(txn);
		pthread_rwlock_unlock(&st->grow);
		if (rc == MDB_MAP_FULL) {
			s_grow(st, &fulls);
			continue;
		}
		if (rc == 0)
			s_known_own(st, txnid);
		return rc == 0 ? 0 : s_write_error(st, rc);
	}
	return CPT_EFULL;
}

/* ------------------------------------------------------ split databases */

/* Puts c of a split database at the duplicate of the flat key key (klen
 * bytes). 0 (found: *d is the duplicate), MDB_NOTFOUND, or an LMDB error.
 * *end (may be NULL) says, when not found, that the key would come after
 * every duplicate of its prefix (or that there is none). */
static int
s_split_find(MDB_cursor *c, const void *key, size_t klen, MDB_val *d, int *end)
{
	MDB_val k = {SPLIT_P, (void *)key};
	int rc;

	if (end)
		*end = 0;
	if (klen != SPLIT_K)
		return MDB_NOTFOUND; /* every flat key there is SPLIT_K bytes */
	d->mv_size = SPLIT_REST;
	d->mv_data = (uint8_t *)key + SPLIT_P;
	if ((rc = mdb_cursor_get(c, &k, d, MDB_GET_BOTH_RANGE)) != 0) {
		if (rc == MDB_NOTFOUND && end)
			*end = 1;
		return rc;
	}
	if (d->mv_size < SPLIT_REST ||
	    memcmp(d->mv_data, (const uint8_t *)key + SPLIT_P, SPLIT_REST))
		return MDB_NOTFOUND;
	return 0;
}

static int
s_split_get(store_txn_t *txn, enum store_db db, const void *key, size_t klen, store_val_t *out)
{
	MDB_cursor *c;
	MDB_val d;
	int rc;

	if ((rc = mdb_cursor_open(TXN(txn), s_dbi(txn, db), &c)) != 0)
		return s_err(rc);
	rc = s_split_find(c, key, klen, &d, NULL);
	mdb_cursor_close(c);
	if (rc != 0)
		return s_err(rc);
	out->len = d.mv_size - SPLIT_REST;
	out->data = (const uint8_t *)d.mv_data + SPLIT_REST;
	return 0;
}

/*
 * The flat key a write transaction appended last under the prefix of key
 * in split database db, or NULL (not this thread's write transaction: no
 * record). A catch-up brings each author's events in time order, and each
 * was put after a search for its duplicate (s_split_find, half the cost of
 * the put: ~2,400 instructions a time in DB_BY_AUTHOR): a key after the one
 * appended last under its prefix in this transaction, with no other write
 * to the database since (split_gen), comes after every duplicate of the
 * prefix and is appended at once. The record's slot is the prefix's (a
 * hash, an author's key or a space id); a slot taken by another prefix or
 * database is just not a hit.
 */
static struct s_split_last *
s_split_last(store_txn_t *txn, enum store_db db, const uint8_t *key)
{
	struct s_split_last *l;

	if (TXN(txn) != s_wtxn)
		return NULL;
	l = &s_store(txn)
	         ->split_last[(key[0] + key[15] * 7u + key[31] * 13u + (unsigned)db * 37u) % 64];
	if (l->gen != s_store(txn)->split_gen || l->db != (uint8_t)db ||
	    memcmp(l->key, key, SPLIT_P) != 0)
		l->gen = s_store(txn)->split_gen - 1; /* not a hit: the slot is for this one */
	return l;
}

/* A flat put on a split database: the duplicate of the same flat key, when
 * there, is replaced (or kept when its value is the same). */
static int
s_split_put(store_txn_t *txn, enum store_db db, const void *key, size_t klen, const void *val,
            size_t vlen, unsigned flags)
{
	uint8_t buf[SPLIT_REST + 8];
	MDB_val k = {SPLIT_P, (void *)key}, d;
	MDB_cursor *c;
	store_t *st = s_store(txn);
	struct s_split_last *last;
	int rc, end;

	/* Code builds these keys: another length is a caller's mistake. */
	if (klen != SPLIT_K || vlen != s_splits[db].vlen || vlen > sizeof(buf) - SPLIT_REST)
		return CPT_EINVAL;
	memcpy(buf, (const uint8_t *)key + SPLIT_P, SPLIT_REST);
	if (vlen)
		memcpy(buf + SPLIT_REST, val, vlen);
	if ((last = s_split_last(txn, db, key)) != NULL && last->gen == st->split_gen &&
	    memcmp(last->key + SPLIT_P, buf, SPLIT_REST) < 0) {
		/* After the key this transaction appended last under the same
		 * prefix, with no other write since: after every duplicate of
		 * it, so appended without looking (s_split_last). */
		d.mv_size = SPLIT_REST + vlen;
		d.mv_data = buf;
		if ((rc = mdb_put(TXN(txn), s_dbi(txn, db), &k, &d, MDB_APPENDDUP)) == 0)
			memcpy(last->key, key, SPLIT_K);
		else
			st->split_gen++;
		return s_err(rc);
	}
	if ((rc = mdb_cursor_open(TXN(txn), s_dbi(txn, db), &c)) != 0)
		return s_err(rc);
	rc = s_split_find(c, key, klen, &d, &end);
	if (rc == 0) {
		if (flags & MDB_NOOVERWRITE)
			rc = MDB_KEYEXIST;
		else if (d.mv_size == SPLIT_REST + vlen &&
		         memcmp((uint8_t *)d.mv_data + SPLIT_REST, val, vlen) == 0)
			rc = 0; /* the same entry: nothing to write */
		else if ((rc = mdb_cursor_del(c, 0)) == 0)
			rc = MDB_NOTFOUND; /* another value: put the new one below */
	}
	if (rc == MDB_NOTFOUND) {
		d.mv_size = SPLIT_REST + vlen;
		d.mv_data = buf;
		/* After every duplicate of its prefix (a new event of an author
		 * mostly is): appended, so that LMDB leaves the page before it
		 * full. Any other put of a fixed-size duplicate splits its page
		 * in the middle (mdb_page_split, LEAF2 pages), as LMDB does when
		 * flat keys land before others (s_time_ordered). */
		rc = mdb_cursor_put(c, &k, &d, end ? MDB_APPENDDUP : 0);
		if (rc == 0 && end && last) {
			last->gen = st->split_gen;
			last->db = (uint8_t)db;
			memcpy(last->key, key, SPLIT_K);
		} else {
			st->split_gen++; /* a duplicate deleted or put among others */
		}
	}
	mdb_cursor_close(c);
	return s_err(rc);
}

static int
s_split_del(store_txn_t *txn, enum store_db db, const void *key, size_t klen)
{
	MDB_cursor *c;
	MDB_val d;
	int rc;

	s_store(txn)->split_gen++;
	if ((rc = mdb_cursor_open(TXN(txn), s_dbi(txn, db), &c)) != 0)
		return s_err(rc);
	if ((rc = s_split_find(c, key, klen, &d, NULL)) == 0)
		rc = mdb_cursor_del(c, 0);
	mdb_cursor_close(c);
	return s_err(rc);
}

/* The flat key of the entry c is at (k, d its LMDB key and duplicate) into
 * cur->key, and its value out of d. */
static void
s_split_out(store_cur_t *cur, const MDB_val *k, const MDB_val *d, store_val_t *fk, store_val_t *v)
{
	/* A damaged page could hand out other sizes: never copy past them. */
	size_t kl = k->mv_size < SPLIT_P ? k->mv_size : SPLIT_P;
	size_t dl = d->mv_size < SPLIT_REST ? d->mv_size : SPLIT_REST;

	memcpy(cur->key, k->mv_data, kl);
	memcpy(cur->key + kl, d->mv_data, dl);
	fk->len = kl + dl;
	fk->data = cur->key;
	if (v) {
		v->len = d->mv_size - dl;
		v->data = (const uint8_t *)d->mv_data + dl;
	}
}

/* STORE_SEEK on a split database: the first entry whose flat key is >= the
 * klen bytes at key. */
static int
s_split_seek(MDB_cursor *c, const uint8_t *key, size_t klen, MDB_val *k, MDB_val *d)
{
	uint8_t want[SPLIT_K];
	size_t rest;
	int rc;

	k->mv_size = klen < SPLIT_P ? klen : SPLIT_P;
	k->mv_data = (void *)key;
	if ((rc = mdb_cursor_get(c, k, d, MDB_SET_RANGE)) != 0 || klen <= SPLIT_P ||
	    k->mv_size != SPLIT_P || memcmp(k->mv_data, key, SPLIT_P) != 0)
		return rc; /* a prefix after the key's: its first duplicate */
	rest = klen > SPLIT_K ? SPLIT_REST : klen - SPLIT_P;
	/* The key's own prefix: its first duplicate >= the rest (duplicates
	 * compare as the flat keys do, bytes then length, as long as the rest
	 * is no longer than a key's: a longer one comes after its first
	 * SPLIT_REST bytes). */
	memcpy(want, key, SPLIT_P + rest);
	k->mv_size = SPLIT_P;
	k->mv_data = want;
	d->mv_size = rest;
	d->mv_data = want + SPLIT_P;
	rc = mdb_cursor_get(c, k, d, MDB_GET_BOTH_RANGE);
	if (rc == 0 && klen > SPLIT_K && memcmp(d->mv_data, want + SPLIT_P, SPLIT_REST) == 0)
		rc = mdb_cursor_get(c, k, d, MDB_NEXT);
	else if (rc == 0) /* k still points at want, which dies here: the map's */
		rc = mdb_cursor_get(c, k, d, MDB_GET_CURRENT);
	else if (rc == MDB_NOTFOUND) {
		/* All of the prefix's are before: the next prefix's first. */
		k->mv_size = SPLIT_P;
		k->mv_data = want;
		if ((rc = mdb_cursor_get(c, k, d, MDB_SET_KEY)) == 0)
			rc = mdb_cursor_get(c, k, d, MDB_NEXT_NODUP);
	}
	return rc;
}

int
store_split_fill(store_txn_t *txn, enum store_db db, size_t max, size_t *moved)
{
	uint8_t buf[SPLIT_REST + 8], last[SPLIT_K];
	MDB_cursor *from = NULL, *to = NULL;
	MDB_val k, d, pk, pd;
	size_t vlen;
	int rc, have = 0;

	assert(txn != NULL && moved != NULL && db >= 0 && db < DB_COUNT && s_is_split(db));
	*moved = 0;
	s_store(txn)->split_gen++;
	vlen = s_splits[db].vlen;
	if ((rc = mdb_cursor_open(TXN(txn), s_dbi(txn, s_splits[db].old), &from)) != 0 ||
	    (rc = mdb_cursor_open(TXN(txn), s_dbi(txn, db), &to)) != 0)
		goto out;
	/* Where the last call stopped: after the last entry of db. */
	rc = mdb_cursor_get(to, &pk, &pd, MDB_LAST);
	if (rc == 0 && (pk.mv_size != SPLIT_P || pd.mv_size != SPLIT_REST + vlen))
		rc = MDB_CORRUPTED;
	if (rc == 0) {
		have = 1;
		memcpy(last, pk.mv_data, SPLIT_P);
		memcpy(last + SPLIT_P, pd.mv_data, SPLIT_REST);
		k.mv_size = SPLIT_K;
		k.mv_data = last;
		rc = mdb_cursor_get(from, &k, &d, MDB_SET_RANGE);
		if (rc == 0 && k.mv_size == SPLIT_K && memcmp(k.mv_data, last, SPLIT_K) == 0)
			rc = mdb_cursor_get(from, &k, &d, MDB_NEXT);
	} else if (rc == MDB_NOTFOUND) {
		rc = mdb_cursor_get(from, &k, &d, MDB_FIRST);
	}
	/* In key order, so each one goes at the end: LMDB's appends, which
	 * leave full pages behind them. */
	for (; rc == 0 && *moved < max; rc = mdb_cursor_get(from, &k, &d, MDB_NEXT)) {
		int same;
		if (k.mv_size != SPLIT_K || d.mv_size != vlen) {
			rc = MDB_CORRUPTED;
			break;
		}
		same = have && memcmp(last, k.mv_data, SPLIT_P) == 0;
		memcpy(buf, (uint8_t *)k.mv_data + SPLIT_P, SPLIT_REST);
		if (vlen)
			memcpy(buf + SPLIT_REST, d.mv_data, vlen);
		memcpy(last, k.mv_data, SPLIT_P);
		have = 1;
		pk.mv_size = SPLIT_P;
		pk.mv_data = last;
		pd.mv_size = SPLIT_REST + vlen;
		pd.mv_data = buf;
		if ((rc = mdb_cursor_put(to, &pk, &pd, same ? MDB_APPENDDUP : MDB_APPEND)) != 0)
			break;
		(*moved)++;
	}
	if (rc == MDB_NOTFOUND)
		rc = 0;
out:
	if (to)
		mdb_cursor_close(to);
	if (from)
		mdb_cursor_close(from);
	return s_err(rc);
}

/* ------------------------------------------------------ reads and writes */

int
store_get(store_txn_t *txn, enum store_db db, const void *key, size_t klen, store_val_t *out)
{
	MDB_val k = {klen, (void *)key}, v;
	int rc;

	if (s_is_split(db))
		return s_split_get(txn, db, key, klen, out);
	if ((rc = s_give_back_at(txn, db, key, klen)) != 0 ||
	    (rc = mdb_get(TXN(txn), s_dbi(txn, db), &k, &v)) != 0)
		return s_err(rc);
	out->len = v.mv_size;
	out->data = v.mv_data;
	return 0;
}

/*
 * Databases whose keys start with a timestamp: new keys mostly come after
 * nearly every key there (a post now; a catch-up, which streams ranges in
 * time order). LMDB packs pages full when keys come at the very end (its
 * split then leaves the old page full), but splits in the middle when a key
 * lands before even one other: a site that joins holds a few events of its
 * own, made now, and the whole history it fetches lands just before them,
 * so every page of DB_ORDER was left half full (106 bytes per event for 52
 * of data; issue 23, docs/BENCHMARKS.md). So a key that belongs among the
 * last TAIL_MAX is put at the end: the entries after it are taken out, the
 * key appended, and they are appended back (the same content). Pages then
 * end about 3/4 full, not full: taking the tail out of a page just split
 * leaves it under LMDB's fill threshold, and the rebalance borrows a node
 * from the full page before it. Anything else is an ordinary put. The
 * reconciliation index's levels (DB_BUCKETS_L3..L7) are keyed by time too:
 * a bucket already there is updated in place (an ordinary put).
 */
static int
s_time_ordered(enum store_db db)
{
	return db == DB_ORDER || db == DB_FEED || db == DB_ENVELOPES ||
	       (db >= DB_BUCKETS_L3 && db <= DB_BUCKETS_L7);
}

/*
 * A tail taken out is held until the transaction needs it back (issue 23,
 * session 14). In a catch-up every event of the history lands below the
 * joining site's own few newer entries, in DB_ORDER (and the level-4
 * buckets): taking them out and appending them back for each event was
 * ~3,900 instructions a time, twice per event, 11% of the writer's
 * (docs/BENCHMARKS.md, "Session 13: the pipeline's CPU per event"). Held,
 * the tail is taken out once per transaction: the keys that come below it
 * and after everything else are appended (MDB_APPEND, which leaves full
 * pages behind: DB_ORDER's are full, not 3/4 full, 53 bytes per event at
 * 200,000 against 65), and the tail is appended back before anything else
 * reads or writes that database in the transaction (s_give_back: every
 * entry point of this file that reaches a database goes through it; a get,
 * a put in place or a delete of a key below the tail leaves it out:
 * s_give_back_at, as the buckets' flush reads and rewrites buckets below
 * it) and before the commit (s_give_back_all). A failed or aborted
 * transaction loses nothing: the tail's deletes go with it. A store cursor
 * open on the database in the
 * transaction keeps its tail in place (the cursor must see it): the tail is
 * then moved back at once, as before. Only in a write transaction run by
 * store_write or store_open, on its own thread (s_wtxn), so a read
 * transaction never sees a tail held: it reads committed pages.
 */

/* The held tail of db in txn, or NULL when txn holds none of db's. */
static struct s_held *
s_held_of(store_txn_t *txn, enum store_db db)
{
	store_t *st;

	if (TXN(txn) != s_wtxn || !s_time_ordered(db))
		return NULL;
	st = s_store(txn);
	return st->held && st->held[db].n ? &st->held[db] : NULL;
}

/* Appends db's held tail back (it is after every key there). 0 or an LMDB
 * error (the transaction is then aborted by store_write). */
static int
s_give_back(store_txn_t *txn, enum store_db db)
{
	struct s_held *h = s_held_of(txn, db);
	MDB_cursor *c;
	int rc;

	if (h == NULL)
		return 0;
	if ((rc = mdb_cursor_open(TXN(txn), s_store(txn)->dbi[db], &c)) != 0)
		return rc;
	for (size_t i = h->n; rc == 0 && i-- > 0;)
		rc = mdb_cursor_put(c, &h->k[i], &h->v[i], MDB_APPEND);
	mdb_cursor_close(c);
	free(h->copy);
	h->copy = NULL;
	h->n = 0;
	/* Entries are missing now: whatever the caller makes of the error,
	 * this transaction must not commit (a full map reruns it). */
	if (rc != 0 && s_store(txn)->held_rc == 0)
		s_store(txn)->held_rc = rc;
	return rc;
}

/* s_give_back for a read or a write of key (klen bytes) alone: a key
 * below every entry held is read, replaced or deleted where it is, with
 * the tail still out (the buckets of a catch-up are read and rewritten
 * below the joining site's own). */
static int
s_give_back_at(store_txn_t *txn, enum store_db db, const void *key, size_t klen)
{
	struct s_held *h = s_held_of(txn, db);
	MDB_val k = {klen, (void *)key};

	if (h == NULL || mdb_cmp(TXN(txn), s_store(txn)->dbi[db], &k, &h->k[h->n - 1]) < 0)
		return 0;
	return s_give_back(txn, db);
}

/* Every held tail back, before the commit. */
static int
s_give_back_all(store_txn_t *txn)
{
	int rc = 0;

	for (int db = 0; rc == 0 && db < DB_COUNT; db++)
		rc = s_give_back(txn, db);
	return rc ? rc : s_store(txn)->held_rc;
}

/* Forgets what a transaction that ends without a commit held. */
static void
s_held_drop(store_t *st)
{
	st->held_rc = 0;
	st->split_gen++;
	if (st->held == NULL)
		return;
	for (int db = 0; db < DB_COUNT; db++) {
		free(st->held[db].copy);
		st->held[db].copy = NULL;
		st->held[db].n = 0;
		st->held[db].cursors = 0;
	}
}

/* The tail of a time-ordered database moved behind key (s_put_ordered),
 * appended back at once, or kept in keep (when not NULL) for later.
 * MDB_KEYEXIST when key is there (the caller decides), MDB_NOTFOUND when it
 * does not belong among the last TAIL_MAX (an ordinary put then). */
static int
s_put_tail(MDB_txn *txn, MDB_dbi dbi, MDB_cursor *c, MDB_val *key, MDB_val *val,
           struct s_held *keep)
{
	MDB_val lk, lv, tk[TAIL_MAX], tv[TAIL_MAX];
	size_t n = 0, bytes = 0;
	uint8_t *copy, *at;
	int rc;

	for (rc = mdb_cursor_get(c, &lk, &lv, MDB_LAST); rc == 0;
	     rc = mdb_cursor_get(c, &lk, &lv, MDB_PREV)) {
		int cmp = mdb_cmp(txn, dbi, key, &lk);
		if (cmp == 0)
			return MDB_KEYEXIST;
		if (cmp > 0)
			break;
		if (n == TAIL_MAX)
			return MDB_NOTFOUND;
		tk[n] = lk;
		tv[n++] = lv;
		bytes += lk.mv_size + lv.mv_size;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (n == 0)
		return MDB_NOTFOUND;
	/* Copies: the values point into pages the deletes rearrange. */
	if ((copy = malloc(bytes)) == NULL)
		return ENOMEM;
	at = copy;
	for (size_t i = 0; i < n; i++) {
		memcpy(at, tk[i].mv_data, tk[i].mv_size);
		tk[i].mv_data = at;
		at += tk[i].mv_size;
		memcpy(at, tv[i].mv_data, tv[i].mv_size);
		tv[i].mv_data = at;
		at += tv[i].mv_size;
	}
	for (size_t i = 0; i < n && rc != ENOMEM; i++)
		if ((rc = mdb_cursor_get(c, &lk, &lv, MDB_LAST)) != 0 ||
		    (rc = mdb_cursor_del(c, 0)) != 0)
			break;
	if (rc == 0 || rc == MDB_NOTFOUND)
		rc = mdb_cursor_put(c, key, val, MDB_APPEND);
	if (rc == 0 && keep) {
		memcpy(keep->k, tk, n * sizeof(*tk));
		memcpy(keep->v, tv, n * sizeof(*tv));
		keep->copy = copy;
		keep->n = n;
		return 0;
	}
	for (size_t i = n; rc == 0 && i-- > 0;)
		rc = mdb_cursor_put(c, &tk[i], &tv[i], MDB_APPEND);
	free(copy);
	return rc;
}

static int
s_put_ordered(store_txn_t *txn, enum store_db db, MDB_val *k, MDB_val *v, unsigned flags)
{
	store_t *st = s_store(txn);
	struct s_held *h = s_held_of(txn, db), *keep = NULL;
	MDB_dbi dbi = st->dbi[db];
	MDB_cursor *c;
	MDB_val key = *k, val = *v;
	int rc;

	/* Below the held tail (or none held): after everything else, mostly.
	 * mdb_put's cursor is on its stack: an append costs no allocation. */
	if (h == NULL || mdb_cmp(TXN(txn), dbi, &key, &h->k[h->n - 1]) < 0) {
		rc = mdb_put(TXN(txn), dbi, &key, &val, MDB_APPEND);
		if (rc != MDB_KEYEXIST)
			return rc;
		key = *k;
		val = *v;
	}
	/* Else the tail goes back and the key is put as any other. */
	if (h && (rc = s_give_back(txn, db)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(TXN(txn), dbi, &c)) != 0)
		return rc;
	rc = h ? mdb_cursor_put(c, &key, &val, MDB_APPEND) : MDB_KEYEXIST;
	if (rc == MDB_KEYEXIST) {
		key = *k;
		val = *v;
		if (TXN(txn) == s_wtxn && st->held && st->held[db].cursors == 0)
			keep = &st->held[db];
		rc = s_put_tail(TXN(txn), dbi, c, &key, &val, keep);
		if (rc == 0)
			__atomic_add_fetch(&st->tail_outs, 1, __ATOMIC_RELAXED);
		if (rc == MDB_KEYEXIST && !(flags & MDB_NOOVERWRITE))
			rc = MDB_NOTFOUND; /* replaced by an ordinary put */
	}
	mdb_cursor_close(c);
	return rc;
}

/*
 * The next number of a database keyed by numbers, kept for the write
 * transaction (issue 23, session 14): each envelope appended took it from a
 * cursor opened on DB_ENVELOPES for its last key (~1,600 instructions, 2.4%
 * of the writer's per event in a catch-up). Read once per transaction, then
 * moved on by the puts of the same write transaction: an 8-byte key put
 * (appended or not, new or replacing) leaves the last key the greater of
 * the two, and any other write to the database (a key of another length,
 * a delete, a failed put, a drop, a cursor's delete) makes the next call
 * read it again, as does the end of every write transaction, committed or
 * not (s_wnum is cleared with s_wtxn): an aborted transaction's numbers are
 * given again.
 */
static struct s_num *
s_num_of(store_txn_t *txn, enum store_db db)
{
	return s_wnum.valid && s_wnum.db == db && TXN(txn) == s_wtxn ? &s_wnum : NULL;
}

/* A write to db (rc: its result): the number moves on or is forgotten. */
static void
s_num_put(store_txn_t *txn, enum store_db db, const void *key, size_t klen, int rc)
{
	struct s_num *n = s_num_of(txn, db);

	if (n == NULL)
		return;
	if (rc != 0 || key == NULL || klen != 8) {
		n->valid = 0;
		return;
	}
	if (store_get_u64(key) >= n->next)
		n->next = store_get_u64(key) + 1;
}

int
store_next_number(store_txn_t *txn, enum store_db db, uint64_t *next)
{
	struct s_num *n = s_num_of(txn, db);
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	assert(next != NULL && !s_is_split(db));
	if (n != NULL) {
		*next = n->next;
		return 0;
	}
	if ((rc = s_give_back(txn, db)) != 0 ||
	    (rc = mdb_cursor_open(TXN(txn), s_dbi(txn, db), &c)) != 0)
		return s_err(rc);
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return s_err(rc);
	*next = rc == 0 && k.mv_size == 8 ? store_get_u64(k.mv_data) + 1 : 1;
	if (TXN(txn) == s_wtxn) {
		s_wnum.valid = 1;
		s_wnum.db = db;
		s_wnum.next = *next;
	}
	return 0;
}

static int
s_put(store_txn_t *txn, enum store_db db, const void *key, size_t klen, const void *val,
      size_t vlen, unsigned flags)
{
	MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
	int rc;

	if (s_is_split(db))
		return s_split_put(txn, db, key, klen, val, vlen, flags);
	if (s_time_ordered(db)) {
		rc = s_put_ordered(txn, db, &k, &v, flags);
		if (rc != MDB_NOTFOUND) {
			s_num_put(txn, db, key, klen, rc);
			return s_err(rc);
		}
		if ((rc = s_give_back(txn, db)) != 0) {
			s_num_put(txn, db, NULL, 0, rc);
			return s_err(rc);
		}
	}
	rc = mdb_put(TXN(txn), s_dbi(txn, db), &k, &v, flags);
	s_num_put(txn, db, key, klen, rc);
	return s_err(rc);
}

int
store_put(store_txn_t *txn, enum store_db db, const void *key, size_t klen, const void *val,
          size_t vlen)
{
	return s_put(txn, db, key, klen, val, vlen, 0);
}

/*
 * A key that is there goes through s_put_ordered to an ordinary put in every
 * case (MDB_APPEND refuses it, s_put_tail finds it or gives up after
 * TAIL_MAX): the same put, straight. A catch-up rewrites the views of
 * recent posts (a comment's count) and the reconciliation buckets of every
 * level in place, and each of those searched the last TAIL_MAX entries
 * first.
 */
int
store_put_over(store_txn_t *txn, enum store_db db, const void *key, size_t klen, const void *val,
               size_t vlen)
{
	MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
	int rc;

	if (s_is_split(db))
		return s_split_put(txn, db, key, klen, val, vlen, 0);
	if ((rc = s_give_back_at(txn, db, key, klen)) == 0)
		rc = mdb_put(TXN(txn), s_dbi(txn, db), &k, &v, 0);
	s_num_put(txn, db, key, klen, rc);
	return s_err(rc);
}

int
store_put_new(store_txn_t *txn, enum store_db db, const void *key, size_t klen, const void *val,
              size_t vlen)
{
	return s_put(txn, db, key, klen, val, vlen, MDB_NOOVERWRITE);
}

int
store_del_existing(store_txn_t *txn, enum store_db db, const void *key, size_t klen)
{
	MDB_val k = {klen, (void *)key};
	int rc;

	if (s_is_split(db))
		return s_split_del(txn, db, key, klen);
	s_num_put(txn, db, NULL, 0, 0); /* the last key may go */
	if ((rc = s_give_back_at(txn, db, key, klen)) != 0)
		return s_err(rc);
	return s_err(mdb_del(TXN(txn), s_dbi(txn, db), &k, NULL));
}

int
store_del(store_txn_t *txn, enum store_db db, const void *key, size_t klen)
{
	int rc = store_del_existing(txn, db, key, klen);

	return rc == CPT_ENOTFOUND ? 0 : rc;
}

int
store_drop(store_txn_t *txn, enum store_db db)
{
	int rc = s_give_back(txn, db);

	s_store(txn)->split_gen++;
	s_num_put(txn, db, NULL, 0, 0);
	return s_err(rc ? rc : mdb_drop(TXN(txn), s_dbi(txn, db), 0));
}

int
store_put_json(store_txn_t *txn, enum store_db db, const void *key, size_t klen, const json_t *j)
{
	/* Into a buffer on the stack: most views are well under 4 KiB, and
	 * json_dumps would grow a heap buffer and copy it once more. */
	char buf[4096], *s = buf;
	size_t n = json_dumpb(j, buf, sizeof(buf), JSON_COMPACT | JSON_SORT_KEYS);
	int rc;

	if (n == 0)
		return CPT_ENOMEM;
	if (n > sizeof(buf)) {
		if ((s = malloc(n)) == NULL)
			return CPT_ENOMEM;
		if (json_dumpb(j, s, n, JSON_COMPACT | JSON_SORT_KEYS) != n) {
			free(s);
			return CPT_ENOMEM;
		}
	}
	rc = store_put(txn, db, key, klen, s, n);
	if (s != buf)
		free(s);
	return rc;
}

json_t *
store_get_json(store_txn_t *txn, enum store_db db, const void *key, size_t klen)
{
	store_val_t v = {0, NULL}; /* set by store_get; gcc cannot tell once s_put is inlined */

	if (store_get(txn, db, key, klen, &v) != 0)
		return NULL;
	return json_loadb(v.data, v.len, 0, NULL);
}

int
store_each_json(store_txn_t *txn, enum store_db db,
                void (*fn)(void *arg, store_txn_t *txn, const store_val_t *key, json_t *rec),
                void *arg)
{
	store_cur_t *cur;
	store_val_t k, v;
	int rc;

	if ((rc = store_cur_open(txn, db, &cur)) != 0)
		return rc;
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		json_t *rec = json_loadb(v.data, v.len, 0, NULL);
		fn(arg, txn, &k, rec);
		json_decref(rec);
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

size_t
store_count(store_txn_t *txn, enum store_db db)
{
	MDB_stat s;

	if (s_give_back(txn, db) != 0 || mdb_stat(TXN(txn), s_dbi(txn, db), &s) != 0)
		return 0;
	return s.ms_entries;
}

int
store_meta_get(store_txn_t *txn, const char *key, void *out, size_t *len)
{
	MDB_val k = {strlen(key), (void *)key}, v;
	int rc = mdb_get(TXN(txn), s_dbi(txn, DB_META), &k, &v);

	if (rc == MDB_NOTFOUND)
		return CPT_ENOTFOUND;
	if (rc != 0)
		return s_err(rc) == CPT_EDAMAGED ? CPT_EDAMAGED : CPT_EIO;
	if (v.mv_size > *len) {
		*len = v.mv_size;
		return CPT_ETOOBIG;
	}
	memcpy(out, v.mv_data, v.mv_size);
	*len = v.mv_size;
	return 0;
}

int
store_meta_put(store_txn_t *txn, const char *key, const void *val, size_t len)
{
	return store_put(txn, DB_META, key, strlen(key), val, len);
}

uint64_t
store_seq(store_txn_t *txn)
{
	uint8_t b[8];
	size_t len = sizeof(b);

	if (store_meta_get(txn, "seq", b, &len) != 0 || len != 8)
		return 0;
	return store_get_u64(b);
}

int
store_rebuild(store_txn_t *txn, enum store_db db, enum store_db from, store_entry_fn fn, void *arg)
{
	store_cur_t *cur;
	store_val_t k, v;
	int rc;

	if ((rc = store_drop(txn, db)) != 0)
		return rc;
	/* Puts go to another database: the cursor on from stays valid. */
	if ((rc = store_cur_open(txn, from, &cur)) != 0)
		return rc;
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT))
		if ((rc = fn(txn, &k, &v, arg)) != 0)
			break;
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

/* --------------------------------------------------------------- cursors */

int
store_cur_open(store_txn_t *txn, enum store_db db, store_cur_t **out)
{
	store_cur_t *cur;
	int rc;

	assert(txn != NULL && out != NULL);
	*out = NULL;
	if ((cur = malloc(sizeof(*cur))) == NULL)
		return CPT_ENOMEM;
	if ((rc = s_give_back(txn, db)) != 0 ||
	    (rc = mdb_cursor_open(TXN(txn), s_dbi(txn, db), &cur->mc)) != 0) {
		free(cur);
		return s_err(rc);
	}
	cur->split = s_is_split(db);
	cur->at = 0;
	cur->held = NULL;
	if (TXN(txn) == s_wtxn && s_time_ordered(db) && s_store(txn)->held) {
		cur->held = &s_store(txn)->held[db];
		cur->held->cursors++;
	}
	*out = cur;
	return 0;
}

void
store_cur_close(store_cur_t **cur)
{
	if (*cur == NULL)
		return;
	if ((*cur)->held && (*cur)->held->cursors > 0)
		(*cur)->held->cursors--;
	mdb_cursor_close(CUR(*cur));
	free(*cur);
	*cur = NULL;
}

int
store_cur_get(store_cur_t *cur, store_val_t *k, store_val_t *v, enum store_op op)
{
	static const MDB_cursor_op ops[] = {
	    [STORE_FIRST] = MDB_FIRST, [STORE_LAST] = MDB_LAST,      [STORE_NEXT] = MDB_NEXT,
	    [STORE_PREV] = MDB_PREV,   [STORE_SEEK] = MDB_SET_RANGE,
	};
	MDB_val mk = {0, NULL}, mv;
	int rc;

	assert(cur != NULL && k != NULL && op >= STORE_FIRST && op <= STORE_SEEK);
	if (op == STORE_SEEK) {
		mk.mv_size = k->len;
		mk.mv_data = (void *)k->data;
	}
	/* Split: LMDB's next and previous walk the duplicates and cross
	 * from one prefix's last to the next one's first, as flat keys do. */
	if (cur->split && !cur->at && (op == STORE_NEXT || op == STORE_PREV))
		op = op == STORE_NEXT ? STORE_FIRST : STORE_LAST; /* what they mean there */
	if (cur->split && op == STORE_SEEK)
		rc = s_split_seek(CUR(cur), k->data, k->len, &mk, &mv);
	else
		rc = mdb_cursor_get(CUR(cur), &mk, &mv, ops[op]);
	if (rc != 0)
		return s_err(rc);
	if (cur->split) {
		cur->at = 1;
		s_split_out(cur, &mk, &mv, k, v);
		return 0;
	}
	k->len = mk.mv_size;
	k->data = mk.mv_data;
	if (v) {
		v->len = mv.mv_size;
		v->data = mv.mv_data;
	}
	return 0;
}

int
store_cur_del(store_cur_t *cur)
{
	store_t *st;

	assert(cur != NULL);
	st = mdb_env_get_userctx(mdb_txn_env(mdb_cursor_txn(CUR(cur))));
	if (cur->split) /* what s_split_last recorded may be gone */
		st->split_gen++;
	if (s_wnum.valid && mdb_cursor_txn(CUR(cur)) == s_wtxn &&
	    st->dbi[s_wnum.db] == mdb_cursor_dbi(CUR(cur)))
		s_wnum.valid = 0; /* the last key may go: read again */
	return s_err(mdb_cursor_del(CUR(cur), 0));
}

/* --------------------------------------------------------------- backups */

static int
s_drop_sessions_fn(store_txn_t *txn, void *arg)
{
	(void)arg;
	return store_drop(txn, DB_SESSIONS);
}

int
store_backup(store_t *st, const char *dest_dir, char *err, size_t errlen)
{
	char path[4200];
	int rc;

	assert(st != NULL && dest_dir != NULL);
	if (mkdir(dest_dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dest_dir, strerror(errno));
		return CPT_EIO;
	}
	snprintf(path, sizeof(path), "%s/store", dest_dir);
	if (mkdir(path, 0700) != 0) {
		snprintf(err, errlen, "%s: %s", path,
		         errno == EEXIST ? "already exists" : strerror(errno));
		return CPT_EIO;
	}
	/* mdb_env_copy2 runs in a read transaction: writers go on meanwhile. */
	rc = mdb_env_copy2(st->env, path, MDB_CP_COMPACT);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", path, mdb_strerror(rc));
		return CPT_EIO;
	}
	/* The copy holds every event: private like the original. */
	snprintf(path, sizeof(path), "%s/store/data.mdb", dest_dir);
	chmod(path, 0600);
	/* But no login sessions: a restored backup must not bring back one
	 * closed since (nor a seeded site open another site's). */
	{
		store_t *copy = NULL;
		if ((rc = store_open(&copy, dest_dir, 0, NULL, NULL, err, errlen)) != 0)
			return rc;
		rc = store_write(copy, s_drop_sessions_fn, NULL);
		store_close(&copy);
		if (rc != 0) {
			snprintf(err, errlen, "%s: cannot drop the session records: %s", dest_dir,
			         store_strerror(rc));
			return rc;
		}
	}
	return 0;
}
