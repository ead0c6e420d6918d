/*
 * The LMDB store: opening (with the checks LMDB itself does not make),
 * schema check, transactions with on-demand map growth, meta values, hot
 * backups and the walk that reads every page. What lives in each database
 * is in node.h (enum store_db) and docs/ARCHITECTURE.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "node/event/event_internal.h"
#include "node/node.h"

static const char *const s_db_names[DB_COUNT] = {
	[DB_META] = "meta",	    [DB_EVENTS] = "events",	    [DB_ORDER] = "order",
	[DB_BY_AUTHOR] = "by_author", [DB_BY_REF] = "by_ref",	    [DB_TOMBSTONES] = "tombstones",
	[DB_PENDING] = "pending",   [DB_KEYS] = "keys",		    [DB_REVOKED] = "revoked",
	[DB_HANDLES] = "handles",   [DB_BACKUPS] = "backups",	    [DB_POSTS_V1] = "posts",
	[DB_FEED] = "feed",	    [DB_PROFILES] = "profiles",	    [DB_MENTIONS] = "mentions", [DB_PEERS] = "peers", [DB_BUCKETS] = "buckets",
	[DB_REACTIONS] = "reactions", [DB_PENDING_IDS] = "pending_ids",
	[DB_SESSIONS] = "sessions",
};

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

void
store_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

uint64_t
store_get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static int
s_mkdir(const char *path)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

uint16_t
store_get_kind(const MDB_val *v)
{
	const uint8_t *p = v->mv_data;

	return v->mv_size == 2 ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

static int
s_bk_rebuild_fn(MDB_txn *txn, void *arg)
{
	return bk_rebuild(arg, txn);
}

static int
s_schema_put(store_t *st, MDB_txn *txn, uint64_t schema)
{
	uint8_t b[8];
	MDB_val k = {6, "schema"}, v = {8, b};

	store_put_u64(b, schema);
	return mdb_put(txn, st->dbi[DB_META], &k, &v, 0);
}

/* One DB_PENDING entry into DB_PENDING_IDS. */
static int
s_pending_id_fn(store_t *st, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *arg)
{
	(void)v;
	(void)arg;
	return k->mv_size == CPT_KEY_LEN + CPT_ID_LEN ? ig_pending_id(st, txn, k->mv_data, 1) : 0;
}

/* Schema 2 -> 3: the reaction registers from the reactions stored, and the
 * index of waiting events by id. */
static int
s_migrate_v2_fn(MDB_txn *txn, void *arg)
{
	store_t *st = arg;
	int rc = vw_reactions_build(st, txn);

	if (rc == 0)
		rc = store_rebuild(st, txn, DB_PENDING_IDS, DB_PENDING, s_pending_id_fn, NULL);
	return rc != 0 ? rc : s_schema_put(st, txn, 3);
}

/* Schema 1 -> 2: each post view moves from "posts" (under its id) into the
 * feed entry (ts, id) that already pointed at it. Views are rebuilt from the
 * events by `comptoir reindex`; this only moves bytes, in one transaction. */
static int
s_migrate_v1_fn(MDB_txn *txn, void *arg)
{
	store_t *st = arg;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	uint8_t at[512]; /* the key last seen (LMDB keys: at most 511 bytes) */
	size_t at_len = 0;
	int first = 1;

	if ((rc = mdb_cursor_open(txn, st->dbi[DB_FEED], &cur)) != 0)
		return rc;
	/* Puts go through mdb_put and the cursor seeks again after each: a
	 * value that changes size moves within its page. */
	for (;;) {
		MDB_val pk, pv, nv, fk;
		if (first) {
			rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		} else {
			k.mv_size = at_len;
			k.mv_data = at;
			rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
			if (rc == 0 && k.mv_size == at_len && memcmp(k.mv_data, at, at_len) == 0)
				rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
		first = 0;
		if (rc != 0)
			break;
		at_len = k.mv_size < sizeof(at) ? k.mv_size : sizeof(at) - 1;
		memcpy(at, k.mv_data, at_len);
		if (k.mv_size != 8 + CPT_ID_LEN)
			continue; /* not a feed key: left as it is */
		fk.mv_size = at_len;
		fk.mv_data = at;
		pk.mv_size = CPT_ID_LEN;
		pk.mv_data = at + 8;
		rc = mdb_get(txn, st->dbi[DB_POSTS_V1], &pk, &pv);
		if (rc == MDB_NOTFOUND)
			continue;
		/* A copy: pv points into the map, which the put may rearrange. */
		if (rc != 0 || (nv.mv_data = malloc(pv.mv_size ? pv.mv_size : 1)) == NULL) {
			rc = rc ? rc : CPT_ENOMEM;
			break;
		}
		memcpy(nv.mv_data, pv.mv_data, pv.mv_size);
		nv.mv_size = pv.mv_size;
		rc = mdb_put(txn, st->dbi[DB_FEED], &fk, &nv, 0);
		free(nv.mv_data);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return rc;
	if ((rc = mdb_drop(txn, st->dbi[DB_POSTS_V1], 0)) != 0)
		return rc;
	return s_schema_put(st, txn, 2);
}

/* ------------------------------------------------ the lock file */

/* LMDB maps lock.mdb (its reader table) for writing and makes it with
 * ftruncate, so its pages are holes until a reader first touches them: on
 * a full disk that touch is SIGBUS. They are allocated here, before LMDB
 * maps the file. A new file gets room for more than the table LMDB sizes
 * for 512 readers (it adopts a larger file's size); an existing one keeps
 * its size, which other processes have mapped. */
#define LOCK_BYTES (64u << 10)

static int
s_lock_alloc(const char *store_path, const char *dir, char *err, size_t errlen)
{
	char path[4300];
	struct stat sb;
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/lock.mdb", store_path);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return 0; /* LMDB says what is wrong */
	if (fstat(fd, &sb) == 0 &&
	    fallocate(fd, 0, 0, sb.st_size > 0 ? sb.st_size : (off_t)LOCK_BYTES) != 0 &&
	    (errno == ENOSPC || errno == EDQUOT)) {
		snprintf(err, errlen, "no space left on device (%s): cannot allocate %s", dir, path);
		rc = CPT_ENOSPC;
	}
	close(fd);
	return rc;
}

/* ------------------------------------------------ checks before mapping */

/*
 * LMDB 0.9 has no page checksums and trusts its file (PITFALLS 23): a file
 * shorter than its meta page says gives SIGBUS at the first access to a
 * missing page. These are the fields of the two meta pages that tell, read
 * with pread before anything is mapped. The layout is LMDB 0.9's (MDB_page,
 * MDB_meta and MDB_db in mdb.c, native byte order, 64-bit pgno_t).
 */
#define LMDB_MAGIC      0xBEEFC0DEu /* MDB_MAGIC */
#define LMDB_DATA_VER   1           /* MDB_DATA_VERSION */
#define LMDB_P_META     0x08        /* mp_flags of a meta page */
#define LMDB_PAGEHDR    16          /* PAGEHDRSZ: pgno(8) pad(2) flags(2) lower/upper(4) */
#define LMDB_NO_PAGE    UINT64_MAX  /* P_INVALID: the root of an empty database */
#define LMDB_MAX_DEPTH  32          /* CURSOR_STACK: deeper trees cannot be walked */
/* Offsets in a meta page, from its start. */
#define LM_FLAGS        10
#define LM_MAGIC        (LMDB_PAGEHDR + 0)
#define LM_VERSION      (LMDB_PAGEHDR + 4)
#define LM_PSIZE        (LMDB_PAGEHDR + 24)      /* mm_dbs[FREE_DBI].md_pad */
#define LM_DB(i)        (LMDB_PAGEHDR + 24 + 48 * (i)) /* mm_dbs[i]: 0 free pages, 1 main */
#define LM_DB_DEPTH     6
#define LM_DB_ROOT      40
#define LM_LAST_PG      (LMDB_PAGEHDR + 120)
#define LM_TXNID        (LMDB_PAGEHDR + 128)
#define LM_SIZE         (LMDB_PAGEHDR + 136)

/* What one meta page says. */
typedef struct meta_info {
	uint32_t psize;   /* page size */
	uint64_t last_pg; /* last page used by the commit it describes */
	uint64_t txnid;   /* that commit */
} meta_info_t;

static uint64_t
s_ne64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static uint32_t
s_ne32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* Reads and checks meta page i at off; a message in what on failure. */
static int
s_meta_read(int fd, int i, off_t off, meta_info_t *m, char *what, size_t wl)
{
	uint8_t b[LM_SIZE];
	ssize_t n = pread(fd, b, sizeof(b), off);
	uint16_t flags;

	if (n < 0) {
		snprintf(what, wl, "cannot read meta page %d: %s", i, strerror(errno));
		return CPT_EIO;
	}
	if ((size_t)n < sizeof(b)) {
		snprintf(what, wl, "it is truncated: it ends inside meta page %d", i);
		return CPT_EDAMAGED;
	}
	memcpy(&flags, b + LM_FLAGS, 2);
	if (!(flags & LMDB_P_META) || s_ne32(b + LM_MAGIC) != LMDB_MAGIC) {
		snprintf(what, wl, "meta page %d is damaged (not an LMDB meta page)", i);
		return CPT_EDAMAGED;
	}
	if (s_ne32(b + LM_VERSION) != LMDB_DATA_VER) {
		snprintf(what, wl, "meta page %d has LMDB data version %u, this LMDB reads %d", i,
		         s_ne32(b + LM_VERSION), LMDB_DATA_VER);
		return CPT_EDAMAGED;
	}
	m->psize = s_ne32(b + LM_PSIZE);
	m->last_pg = s_ne64(b + LM_LAST_PG);
	m->txnid = s_ne64(b + LM_TXNID);
	if (m->psize < 512 || m->psize > 65536 || (m->psize & (m->psize - 1)) != 0) {
		snprintf(what, wl, "meta page %d is damaged (page size %u)", i, m->psize);
		return CPT_EDAMAGED;
	}
	if (m->last_pg < 1 || m->last_pg > (UINT64_MAX >> 17)) {
		snprintf(what, wl, "meta page %d is damaged (last page %llu)", i,
		         (unsigned long long)m->last_pg);
		return CPT_EDAMAGED;
	}
	for (int d = 0; d < 2; d++) {
		uint64_t root = s_ne64(b + LM_DB(d) + LM_DB_ROOT);
		uint16_t depth;
		memcpy(&depth, b + LM_DB(d) + LM_DB_DEPTH, 2);
		if ((root != LMDB_NO_PAGE && (root < 2 || root > m->last_pg)) ||
		    depth > LMDB_MAX_DEPTH) {
			snprintf(what, wl, "meta page %d is damaged (the %s tree's root is page %llu "
			         "of %llu, depth %u)", i, d ? "main" : "free-page",
			         (unsigned long long)root, (unsigned long long)m->last_pg + 1, depth);
			return CPT_EDAMAGED;
		}
	}
	return 0;
}

/*
 * Checks path (a data.mdb) before LMDB maps it: both meta pages are LMDB's
 * and agree on a page size, and the file holds every page the newest commit
 * uses. Returns 0, CPT_ENOTFOUND (no file, or an empty one: why says which),
 * CPT_EDAMAGED or CPT_EIO with "path ..." in err.
 */
static int
s_check_file(const char *path, const char *dir, char *err, size_t errlen, char *why, size_t wl)
{
	meta_info_t m[2];
	struct stat sb;
	char what[256], hint[4400];
	int fd, rc;

	snprintf(hint, sizeof(hint), STORE_REPAIR_HINT, dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(why, wl, "the file is missing");
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? CPT_ENOTFOUND : CPT_EIO;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: %s", path,
		         S_ISREG(sb.st_mode) ? strerror(errno) : "not a regular file");
		close(fd);
		return CPT_EIO;
	}
	if (sb.st_size == 0) {
		snprintf(why, wl, "the file is empty");
		snprintf(err, errlen, "%s: the file is empty", path);
		close(fd);
		return CPT_ENOTFOUND;
	}
	rc = s_meta_read(fd, 0, 0, &m[0], what, sizeof(what));
	if (rc == 0)
		rc = s_meta_read(fd, 1, (off_t)m[0].psize, &m[1], what, sizeof(what));
	close(fd);
	if (rc == 0 && m[0].psize != m[1].psize) {
		snprintf(what, sizeof(what), "its meta pages disagree on the page size (%u, %u)",
		         m[0].psize, m[1].psize);
		rc = CPT_EDAMAGED;
	}
	if (rc == 0) {
		/* LMDB uses the meta page of the newest commit (mdb_env_pick_meta). */
		const meta_info_t *cur = &m[m[1].txnid > m[0].txnid];
		uint64_t need = (cur->last_pg + 1) * cur->psize;
		if ((uint64_t)sb.st_size < need) {
			snprintf(what, sizeof(what),
			         "it is truncated: %llu bytes where its last commit uses %llu "
			         "(%llu pages of %u bytes)",
			         (unsigned long long)sb.st_size, (unsigned long long)need,
			         (unsigned long long)cur->last_pg + 1, cur->psize);
			rc = CPT_EDAMAGED;
		}
	}
	if (rc == CPT_EDAMAGED)
		snprintf(err, errlen, "%s is damaged: %s; %s", path, what, hint);
	else if (rc != 0)
		snprintf(err, errlen, "%s: %s", path, what);
	return rc;
}

int
store_open(store_t **out, const char *dir, int create, char *err, size_t errlen)
{
	store_t *st;
	char path[4200];
	MDB_txn *txn = NULL;
	struct stat sb;
	int rc, old_schema = STORE_SCHEMA;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/store", dir);
	if (stat(path, &sb) != 0) {
		if (!create) {
			snprintf(err, errlen, "%s: no store here (run comptoir init --dir %s)", path, dir);
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
		rc = s_check_file(file, dir, err, errlen, why, sizeof(why));
		if (rc == CPT_ENOTFOUND && !create) {
			snprintf(err, errlen,
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
	snprintf(st->dir, sizeof(st->dir), "%s", dir);
	pthread_rwlock_init(&st->grow, NULL);
	if ((rc = mdb_env_create(&st->env)) != 0)
		goto fail;
	mdb_env_set_maxdbs(st->env, DB_COUNT + 4);
	mdb_env_set_maxreaders(st->env, 512);
	mdb_env_set_mapsize(st->env, MAP_INITIAL);
	if ((rc = s_lock_alloc(path, dir, err, errlen)) != 0) {
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
		if ((rc = mdb_dbi_open(txn, s_db_names[i], MDB_CREATE, &st->dbi[i])) != 0)
			goto fail;
	{
		MDB_val k = {6, "schema"}, v;
		uint8_t cur[8];
		rc = mdb_get(txn, st->dbi[DB_META], &k, &v);
		if (rc == MDB_NOTFOUND) {
			store_put_u64(cur, STORE_SCHEMA);
			v.mv_size = 8;
			v.mv_data = cur;
			if ((rc = mdb_put(txn, st->dbi[DB_META], &k, &v, 0)) != 0)
				goto fail;
		} else if (rc != 0) {
			goto fail;
		} else if (v.mv_size == 8 && store_get_u64(v.mv_data) < STORE_SCHEMA) {
			old_schema = (int)store_get_u64(v.mv_data); /* moved forward below */
		} else if (v.mv_size != 8 || store_get_u64(v.mv_data) > STORE_SCHEMA) {
			if (v.mv_size != 8)
				snprintf(err, errlen,
				         "%s: store schema is not a version this comptoir knows "
				         "(%zu bytes)",
				         path, v.mv_size);
			else
				snprintf(err, errlen,
				         "%s: store schema %llu is newer than this comptoir "
				         "understands (%d); "
				         "run a newer comptoir",
				         path, (unsigned long long)store_get_u64(v.mv_data),
				         STORE_SCHEMA);
			mdb_txn_abort(txn);
			store_close(&st);
			return CPT_EVERSION;
		}
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto fail;
	if (old_schema == 1 && (rc = store_write(st, s_migrate_v1_fn, st)) != 0) {
		snprintf(err, errlen, "%s: cannot move the post views to schema 2: %s", path,
		         rc > -100 ? cpt_strerror(rc) : mdb_strerror(rc));
		store_close(&st);
		return rc > -100 ? rc : CPT_EIO;
	}
	if (old_schema < 3 && (rc = store_write(st, s_migrate_v2_fn, st)) != 0) {
		snprintf(err, errlen, "%s: cannot build the indexes of schema 3: %s", path,
		         rc > -100 ? cpt_strerror(rc) : mdb_strerror(rc));
		store_close(&st);
		return rc > -100 ? rc : CPT_EIO;
	}
	/* A store from before the reconciliation index gets it once, in a
	 * transaction of its own: it may need the map to grow. */
	{
		MDB_txn *r;
		size_t nb = 0, no = 0;
		if (store_read_begin(st, &r) == 0) {
			nb = store_count(st, r, DB_BUCKETS);
			no = store_count(st, r, DB_ORDER);
			store_read_end(st, &r);
		}
		if (nb == 0 && no > 0 && (rc = store_write(st, s_bk_rebuild_fn, st)) != 0) {
			snprintf(err, errlen, "%s: cannot build the reconciliation index: %s", path,
			         rc > -100 ? cpt_strerror(rc) : mdb_strerror(rc));
			store_close(&st);
			return rc > -100 ? rc : CPT_EIO;
		}
	}
	*out = st;
	return 0;
fail:
	if (txn)
		mdb_txn_abort(txn);
	store_close(&st);
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
	if (st->env)
		mdb_env_close(st->env);
	pthread_rwlock_destroy(&st->grow);
	free(st);
	*self_p = NULL;
}

/* Free bytes under which an EIO from a write is taken for a full disk: more
 * than the largest commit writes (3,000 events, about 12 MB at 1M events). */
#define STORE_NEARLY_FULL (32ull << 20)

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
			log_warnx("store", "no space left on device (%s): writes are refused until "
			          "space is freed; nothing acknowledged was lost", st->dir);
		return CPT_ENOSPC;
	}
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
store_read_begin(store_t *st, MDB_txn **txn)
{
	int rc;

	for (int attempt = 0; attempt < 4; attempt++) {
		pthread_rwlock_rdlock(&st->grow);
		rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
		if (rc == 0)
			return 0;
		pthread_rwlock_unlock(&st->grow);
		if (rc != MDB_MAP_RESIZED)
			break;
		s_resize(st, 0);
	}
	*txn = NULL;
	return CPT_EIO;
}

void
store_read_end(store_t *st, MDB_txn **txn)
{
	if (*txn == NULL)
		return;
	mdb_txn_abort(*txn);
	*txn = NULL;
	pthread_rwlock_unlock(&st->grow);
}

int
store_write(store_t *st, store_write_fn fn, void *arg)
{
	MDB_txn *txn;
	int rc, fulls = 0;

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
		rc = fn(txn, arg);
		if (rc == MDB_MAP_FULL) {
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
			if (rc == ENOSPC || rc == EDQUOT)
				return s_write_error(st, rc);
			return rc == STORE_NOCHANGE ? 0 : rc;
		}
		{
			/* Bump the sequence so other processes see the change. */
			MDB_val k = {3, "seq"}, v;
			uint8_t b[8];
			uint64_t seq = 0;
			if (mdb_get(txn, st->dbi[DB_META], &k, &v) == 0 && v.mv_size == 8)
				seq = store_get_u64(v.mv_data);
			store_put_u64(b, seq + 1);
			v.mv_size = 8;
			v.mv_data = b;
			rc = mdb_put(txn, st->dbi[DB_META], &k, &v, 0);
			if (rc != 0) {
				mdb_txn_abort(txn);
				pthread_rwlock_unlock(&st->grow);
				if (rc == MDB_MAP_FULL) {
					s_grow(st, &fulls);
					continue;
				}
				return s_write_error(st, rc);
			}
		}
		/* A failed commit has freed the txn already (lmdb.h): never abort it. */
		rc = mdb_txn_commit(txn);
		pthread_rwlock_unlock(&st->grow);
		if (rc == MDB_MAP_FULL) {
			s_grow(st, &fulls);
			continue;
		}
		return rc == 0 ? 0 : s_write_error(st, rc);
	}
	return CPT_EFULL;
}

int
store_meta_get(store_t *st, MDB_txn *txn, const char *key, void *out, size_t *len)
{
	MDB_val k = {strlen(key), (void *)key}, v;
	int rc = mdb_get(txn, st->dbi[DB_META], &k, &v);

	if (rc == MDB_NOTFOUND)
		return CPT_ENOTFOUND;
	if (rc != 0)
		return CPT_EIO;
	if (v.mv_size > *len)
		return CPT_ETOOBIG;
	memcpy(out, v.mv_data, v.mv_size);
	*len = v.mv_size;
	return 0;
}

int
store_meta_put(store_t *st, MDB_txn *txn, const char *key, const void *val, size_t len)
{
	MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)val};
	int rc = mdb_put(txn, st->dbi[DB_META], &k, &v, 0);

	return rc == MDB_MAP_FULL ? MDB_MAP_FULL : rc == 0 ? 0 : CPT_EIO;
}

uint64_t
store_seq(store_t *st, MDB_txn *txn)
{
	uint8_t b[8];
	size_t len = sizeof(b);

	if (store_meta_get(st, txn, "seq", b, &len) != 0 || len != 8)
		return 0;
	return store_get_u64(b);
}

size_t
store_count(store_t *st, MDB_txn *txn, enum store_db db)
{
	MDB_stat s;

	if (mdb_stat(txn, st->dbi[db], &s) != 0)
		return 0;
	return s.ms_entries;
}

int
store_rebuild(store_t *st, MDB_txn *txn, enum store_db db, enum store_db from, store_entry_fn fn,
	      void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_drop(txn, st->dbi[db], 0)) != 0)
		return rc;
	/* Puts go to another database: the cursor on from stays valid. */
	if ((rc = mdb_cursor_open(txn, st->dbi[from], &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if ((rc = fn(st, txn, &k, &v, arg)) != 0)
			break;
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
s_drop_sessions_fn(MDB_txn *txn, void *arg)
{
	store_t *st = arg;

	return mdb_drop(txn, st->dbi[DB_SESSIONS], 0);
}

int
store_backup(store_t *st, const char *dest_dir, char *err, size_t errlen)
{
	char path[4200];
	int rc;

	if (mkdir(dest_dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dest_dir, strerror(errno));
		return CPT_EIO;
	}
	snprintf(path, sizeof(path), "%s/store", dest_dir);
	if (mkdir(path, 0700) != 0) {
		snprintf(err, errlen, "%s: %s", path, errno == EEXIST ? "already exists" : strerror(errno));
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
		if ((rc = store_open(&copy, dest_dir, 0, err, errlen)) != 0)
			return rc;
		rc = store_write(copy, s_drop_sessions_fn, copy);
		store_close(&copy);
		if (rc != 0) {
			snprintf(err, errlen, "%s: cannot drop the session records: %s", dest_dir,
			         rc > -100 ? cpt_strerror(rc) : mdb_strerror(rc));
			return rc > -100 ? rc : CPT_EIO;
		}
	}
	return 0;
}

/* -------------------------------------------------------------- the walk */

/* One key in every this many is looked up again from the root: binary
 * searches read the branch pages' keys, which a cursor walk never does. */
#define WALK_LOOKUP_EVERY 16
/* Progress is reported every this many entries. */
#define WALK_REPORT_EVERY 8192

/* A walk under way. */
typedef struct walk {
	const char *dir;           /* the data directory */
	MDB_txn *txn;              /* its read transaction */
	uint64_t last_pg;          /* the last page of the newest commit */
	store_walk_fn progress;    /* reports, or NULL */
	void *arg;                 /* for it */
	store_walk_pos_t pos;      /* where it is */
	volatile uint64_t sink;    /* every byte read is added here, so each is read */
	size_t total;              /* entries read in all */
} walk_t;

static void
s_walk_note(walk_t *w, const MDB_val *k)
{
	w->pos.key_len = k->mv_size < sizeof(w->pos.key) ? k->mv_size : sizeof(w->pos.key);
	memcpy(w->pos.key, k->mv_data, w->pos.key_len);
}

/* Adds up every byte of v: a value whose size or address LMDB took from a
 * damaged page faults here, in the walk, and not later in the node. */
static void
s_walk_touch(walk_t *w, const MDB_val *v)
{
	const uint8_t *p = v->mv_data;
	uint64_t s = 0;

	for (size_t i = 0; i < v->mv_size; i += 64)
		s += p[i];
	if (v->mv_size)
		s += p[v->mv_size - 1];
	w->sink += s;
}

/* "database X is damaged after N entries (key ab12...): what". */
static int
s_walk_damaged(walk_t *w, char *err, size_t errlen, const char *fmt, const char *what)
{
	char hex[2 * sizeof(w->pos.key) + 1];
	size_t at;

	for (size_t i = 0; i < w->pos.key_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", w->pos.key[i]);
	hex[2 * w->pos.key_len] = 0;
	at = (size_t)snprintf(err, errlen,
	                      "%s/store/data.mdb is damaged: database \"%s\", after %zu entries",
	                      w->dir, w->pos.db, w->pos.entries);
	if (at < errlen && w->pos.entries > 0)
		at += (size_t)snprintf(err + at, errlen - at, " (last key %s%s)", hex,
		                       w->pos.key_len == sizeof(w->pos.key) ? "..." : "");
	if (at < errlen)
		at += (size_t)snprintf(err + at, errlen - at, fmt, what);
	if (at < errlen) {
		snprintf(err + at, errlen - at, "; ");
		at += 2;
	}
	if (at < errlen)
		snprintf(err + at, errlen - at, STORE_REPAIR_HINT, w->dir);
	return CPT_EDAMAGED;
}

/* Reads every entry of dbi in key order. free_list: the free-page list,
 * whose values are page numbers that must lie inside the file. */
static int
s_walk_db(walk_t *w, MDB_dbi dbi, const char *name, int free_list, char *err, size_t errlen)
{
	MDB_cursor *cur, *look;
	MDB_stat ms;
	MDB_val k, v, prev = {0, NULL};
	int rc;

	w->pos.db = name;
	w->pos.entries = 0;
	w->pos.key_len = 0;
	if (w->progress)
		w->progress(w->arg, &w->pos);
	if ((rc = mdb_stat(w->txn, dbi, &ms)) != 0 || (rc = mdb_cursor_open(w->txn, dbi, &cur)) != 0)
		return s_walk_damaged(w, err, errlen, ": %s", mdb_strerror(rc));
	if ((rc = mdb_cursor_open(w->txn, dbi, &look)) != 0) {
		mdb_cursor_close(cur);
		return s_walk_damaged(w, err, errlen, ": %s", mdb_strerror(rc));
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		s_walk_touch(w, &k);
		s_walk_touch(w, &v);
		if (free_list) {
			uint64_t n = 0, pg, a, b;
			if (k.mv_size != 8 || v.mv_size < 8 || v.mv_size % 8 != 0 ||
			    (memcpy(&n, v.mv_data, 8), n != v.mv_size / 8 - 1)) {
				rc = CPT_EDAMAGED;
				break;
			}
			for (uint64_t i = 1; i <= n && rc == 0; i++) {
				memcpy(&pg, (uint8_t *)v.mv_data + 8 * i, 8);
				if (pg < 2 || pg > w->last_pg)
					rc = CPT_EDAMAGED;
			}
			if (rc != 0)
				break;
			if (prev.mv_data) {
				memcpy(&a, prev.mv_data, 8);
				memcpy(&b, k.mv_data, 8);
				if (a >= b) {
					rc = CPT_EDAMAGED;
					break;
				}
			}
		} else if (prev.mv_data) {
			/* LMDB's default order (mdb_cmp_memn): bytes, then length. */
			size_t m = prev.mv_size < k.mv_size ? prev.mv_size : k.mv_size;
			int c = memcmp(prev.mv_data, k.mv_data, m);
			if (c > 0 || (c == 0 && prev.mv_size >= k.mv_size)) {
				rc = CPT_EDAMAGED;
				break;
			}
		}
		if (w->pos.entries % WALK_LOOKUP_EVERY == 0) {
			MDB_val lk = k, lv;
			int r = mdb_cursor_get(look, &lk, &lv, MDB_SET_KEY);
			if (r != 0 || lv.mv_size != v.mv_size || lv.mv_data != v.mv_data) {
				rc = r ? r : CPT_EDAMAGED;
				break;
			}
		}
		prev = k;
		w->pos.entries++;
		w->total++;
		if (w->pos.entries % WALK_REPORT_EVERY == 0) {
			s_walk_note(w, &k);
			if (w->progress)
				w->progress(w->arg, &w->pos);
		}
	}
	mdb_cursor_close(look);
	mdb_cursor_close(cur);
	if (prev.mv_data)
		s_walk_note(w, &prev);
	if (rc == CPT_EDAMAGED)
		return s_walk_damaged(w, err, errlen, ": %s",
		                      free_list ? "a free-page entry is not a list of pages of the file"
		                                : "keys out of order, or a key not found again");
	if (rc != MDB_NOTFOUND)
		return s_walk_damaged(w, err, errlen, ": %s", mdb_strerror(rc));
	if (w->pos.entries != ms.ms_entries) {
		char what[96];
		snprintf(what, sizeof(what), "%zu entries read where the database counts %zu",
		         w->pos.entries, (size_t)ms.ms_entries);
		return s_walk_damaged(w, err, errlen, ": %s", what);
	}
	return 0;
}

/* LMDB aborts after an assertion fails on a damaged page: say where first. */
static walk_t *s_walk_current;
static void
s_walk_assert(MDB_env *env, const char *msg)
{
	(void)env;
	if (s_walk_current)
		s_walk_current->pos.key_len = 0; /* the last key noted is not this entry's */
	if (s_walk_current && s_walk_current->progress)
		s_walk_current->progress(s_walk_current->arg, &s_walk_current->pos);
	(void)msg; /* LMDB prints it */
}

/* STORE_WALK_LIGHT: the first and last entries of a database, which is
 * what opening the store and most commands read. */
static int
s_walk_ends(walk_t *w, MDB_dbi dbi, const char *name, char *err, size_t errlen)
{
	MDB_cursor *cur;
	MDB_stat ms;
	MDB_val k, v;
	int rc;

	w->pos.db = name;
	w->pos.entries = 0;
	w->pos.key_len = 0;
	if ((rc = mdb_stat(w->txn, dbi, &ms)) != 0 || (rc = mdb_cursor_open(w->txn, dbi, &cur)) != 0)
		return s_walk_damaged(w, err, errlen, ": %s", mdb_strerror(rc));
	for (int i = 0; i < 2; i++) {
		rc = mdb_cursor_get(cur, &k, &v, i ? MDB_LAST : MDB_FIRST);
		if (rc == 0) {
			s_walk_touch(w, &k);
			s_walk_touch(w, &v);
			w->total++;
		} else if (rc != MDB_NOTFOUND || ms.ms_entries != 0) {
			break;
		}
		rc = 0;
	}
	mdb_cursor_close(cur);
	return rc ? s_walk_damaged(w, err, errlen, ": %s", mdb_strerror(rc)) : 0;
}

int
store_walk(const char *dir, int flags, store_walk_fn progress, void *arg, size_t *entries,
           char *err, size_t errlen)
{
	char path[4200], why[64], names[64][64];
	MDB_env *env = NULL;
	MDB_envinfo info;
	MDB_dbi main_dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	struct stat sb;
	walk_t w = {.dir = dir, .progress = progress, .arg = arg};
	size_t n_names = 0;
	int rc;

	*entries = 0;
	snprintf(path, sizeof(path), "%s/store/data.mdb", dir);
	if ((rc = s_check_file(path, dir, err, errlen, why, sizeof(why))) != 0) {
		if (rc == CPT_ENOTFOUND)
			snprintf(err, errlen, "%s: no store here (%s)", path, why);
		return rc;
	}
	snprintf(path, sizeof(path), "%s/store", dir);
	if ((rc = mdb_env_create(&env)) != 0)
		goto lmdb;
	mdb_env_set_maxdbs(env, 64);
	mdb_env_set_maxreaders(env, 512);
	mdb_env_set_assert(env, s_walk_assert);
	{
		/* Read-only when it can be: the walk never writes. Without a lock
		 * file (a store just copied in) LMDB needs to create one. */
		char lock[4300];
		snprintf(lock, sizeof(lock), "%s/lock.mdb", path);
		if ((rc = s_lock_alloc(path, dir, err, errlen)) != 0) {
			mdb_env_close(env);
			return rc;
		}
		rc = mdb_env_open(env, path, MDB_NOTLS | (stat(lock, &sb) == 0 ? MDB_RDONLY : 0), 0600);
	}
	if (rc != 0)
		goto lmdb;
	mdb_env_info(env, &info);
	w.last_pg = info.me_last_pgno;
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &w.txn)) != 0)
		goto lmdb;
	s_walk_current = &w;
	/* The free-page list: a damaged one would hand live pages to the next
	 * write, which would overwrite events. */
	if (!(flags & STORE_WALK_LIGHT) && (rc = s_walk_db(&w, 0, "(free pages)", 1, err, errlen)) != 0)
		goto out;
	if ((rc = mdb_dbi_open(w.txn, NULL, 0, &main_dbi)) != 0)
		goto lmdb;
	if ((rc = s_walk_db(&w, main_dbi, "(list of databases)", 0, err, errlen)) != 0)
		goto out;
	if ((rc = mdb_cursor_open(w.txn, main_dbi, &cur)) != 0)
		goto lmdb;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n_names < 64;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size == 0 || k.mv_size >= sizeof(names[0]) || memchr(k.mv_data, 0, k.mv_size)) {
			rc = CPT_EDAMAGED;
			break;
		}
		memcpy(names[n_names], k.mv_data, k.mv_size);
		names[n_names++][k.mv_size] = 0;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND && rc != 0) {
		w.pos.db = "(list of databases)";
		rc = s_walk_damaged(&w, err, errlen, ": %s",
		                    rc == CPT_EDAMAGED ? "a name is not a database name" : mdb_strerror(rc));
		goto out;
	}
	for (size_t i = 0; i < n_names; i++) {
		MDB_dbi dbi;
		w.pos.db = names[i];
		w.pos.entries = 0;
		if ((rc = mdb_dbi_open(w.txn, names[i], 0, &dbi)) != 0) {
			rc = s_walk_damaged(&w, err, errlen, ": cannot be opened: %s", mdb_strerror(rc));
			goto out;
		}
		if ((flags & STORE_WALK_LIGHT) && strcmp(names[i], "meta") != 0)
			rc = s_walk_ends(&w, dbi, names[i], err, errlen);
		else
			rc = s_walk_db(&w, dbi, names[i], 0, err, errlen);
		if (rc != 0)
			goto out;
	}
	rc = 0;
	goto out;
lmdb:
	if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID ||
	    rc == MDB_VERSION_MISMATCH || rc == MDB_CURSOR_FULL) {
		if (w.pos.db) {
			rc = s_walk_damaged(&w, err, errlen, ": %s", mdb_strerror(rc));
		} else {
			char hint[4400];
			snprintf(hint, sizeof(hint), STORE_REPAIR_HINT, dir);
			snprintf(err, errlen, "%s/data.mdb is damaged: %s; %s", path, mdb_strerror(rc), hint);
			rc = CPT_EDAMAGED;
		}
	} else {
		snprintf(err, errlen, "%s: %s", path, mdb_strerror(rc));
		rc = CPT_EIO;
	}
out:
	s_walk_current = NULL;
	*entries = w.total;
	if (w.txn)
		mdb_txn_abort(w.txn);
	if (env)
		mdb_env_close(env);
	return rc;
}

int
store_read_db(const char *path, const char *name, store_kv_fn fn, void *arg, char *err,
              size_t errlen)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_cursor *cur;
	MDB_dbi dbi;
	MDB_val k, v;
	struct stat sb;
	char lock[4300];
	int rc;

	snprintf(lock, sizeof(lock), "%s/lock.mdb", path);
	if ((rc = mdb_env_create(&env)) != 0)
		goto out;
	mdb_env_set_maxdbs(env, 64);
	if ((rc = mdb_env_open(env, path, MDB_NOTLS | (stat(lock, &sb) == 0 ? MDB_RDONLY : 0),
	                       0600)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, name, 0, &dbi)) != 0 || (rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		goto out;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		int r = fn(arg, &k, &v);
		if (r != 0) {
			mdb_cursor_close(cur);
			mdb_txn_abort(txn);
			mdb_env_close(env);
			return r;
		}
	}
	mdb_cursor_close(cur);
out:
	if (rc != 0 && rc != MDB_NOTFOUND)
		snprintf(err, errlen, "%s/data.mdb, database \"%s\": %s", path, name, mdb_strerror(rc));
	if (txn)
		mdb_txn_abort(txn);
	if (env)
		mdb_env_close(env);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : CPT_EDAMAGED;
}
