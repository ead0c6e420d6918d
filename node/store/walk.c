/*
 * The checks LMDB does not make on its own file: the meta pages and the
 * file's size before LMDB maps it, the lock file allocated before LMDB
 * touches it, the walk that reads every page of a store, and reading one
 * database of a damaged store. They open their own environment: run the
 * walk in a child process (check.c), never where the store is open.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "node/store/store_internal.h"

/* ------------------------------------------------ the lock file */

/* LMDB maps lock.mdb (its reader table) for writing and makes it with
 * ftruncate, so its pages are holes until a reader first touches them: on
 * a full disk that touch is SIGBUS. They are allocated here, before LMDB
 * maps the file. A new file gets room for more than the table LMDB sizes
 * for 512 readers (it adopts a larger file's size); an existing one keeps
 * its size, which other processes have mapped. */
#define LOCK_BYTES (64u << 10)

int
store_lock_alloc(const char *store_path, const char *dir, char *err, size_t errlen)
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
		snprintf(err, errlen, "no space left on device (%s): cannot allocate %s", dir,
		         path);
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
#define LMDB_MAGIC     0xBEEFC0DEu /* MDB_MAGIC */
#define LMDB_DATA_VER  1           /* MDB_DATA_VERSION */
#define LMDB_P_META    0x08        /* mp_flags of a meta page */
#define LMDB_PAGEHDR   16          /* PAGEHDRSZ: pgno(8) pad(2) flags(2) lower/upper(4) */
#define LMDB_NO_PAGE   UINT64_MAX  /* P_INVALID: the root of an empty database */
#define LMDB_MAX_DEPTH 32          /* CURSOR_STACK: deeper trees cannot be walked */
/* Offsets in a meta page, from its start. */
#define LM_FLAGS    10
#define LM_MAGIC    (LMDB_PAGEHDR + 0)
#define LM_VERSION  (LMDB_PAGEHDR + 4)
#define LM_PSIZE    (LMDB_PAGEHDR + 24)            /* mm_dbs[FREE_DBI].md_pad */
#define LM_DB(i)    (LMDB_PAGEHDR + 24 + 48 * (i)) /* mm_dbs[i]: 0 free pages, 1 main */
#define LM_DB_DEPTH 6
#define LM_DB_ROOT  40
#define LM_LAST_PG  (LMDB_PAGEHDR + 120)
#define LM_TXNID    (LMDB_PAGEHDR + 128)
#define LM_SIZE     (LMDB_PAGEHDR + 136)

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
			snprintf(what, wl,
			         "meta page %d is damaged (the %s tree's root is page %llu "
			         "of %llu, depth %u)",
			         i, d ? "main" : "free-page", (unsigned long long)root,
			         (unsigned long long)m->last_pg + 1, depth);
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
int
store_check_file(const char *path, const char *dir, char *err, size_t errlen, char *why, size_t wl)
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

/* -------------------------------------------------------------- the walk */

/* One key in every this many is looked up again from the root: binary
 * searches read the branch pages' keys, which a cursor walk never does. */
#define WALK_LOOKUP_EVERY 16
/* Progress is reported every this many entries. */
#define WALK_REPORT_EVERY 8192

/* A walk under way. */
typedef struct walk {
	const char *dir;        /* the data directory */
	MDB_txn *txn;           /* its read transaction */
	uint64_t last_pg;       /* the last page of the newest commit */
	store_walk_fn progress; /* reports, or NULL */
	void *arg;              /* for it */
	store_walk_pos_t pos;   /* where it is */
	volatile uint64_t sink; /* every byte read is added here, so each is read */
	size_t total;           /* entries read in all */
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

/* LMDB's default order of keys and of duplicates (mdb_cmp_memn): bytes,
 * then length. */
static int
s_walk_cmp(const MDB_val *a, const MDB_val *b)
{
	size_t m = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
	int c = memcmp(a->mv_data, b->mv_data, m);

	return c ? c : (a->mv_size > b->mv_size) - (a->mv_size < b->mv_size);
}

/* Reads every entry of dbi in key order. free_list: the free-page list,
 * whose values are page numbers that must lie inside the file. */
static int
s_walk_db(walk_t *w, MDB_dbi dbi, const char *name, int free_list, char *err, size_t errlen)
{
	MDB_cursor *cur, *look;
	MDB_stat ms;
	MDB_val k, v, prev = {0, NULL}, prev_v = {0, NULL};
	unsigned flags = 0;
	int rc, dups;

	w->pos.db = name;
	w->pos.entries = 0;
	w->pos.key_len = 0;
	if (w->progress)
		w->progress(w->arg, &w->pos);
	if ((rc = mdb_stat(w->txn, dbi, &ms)) != 0 ||
	    (rc = mdb_cursor_open(w->txn, dbi, &cur)) != 0)
		return s_walk_damaged(w, err, errlen, ": %s", mdb_strerror(rc));
	if ((rc = mdb_cursor_open(w->txn, dbi, &look)) != 0) {
		mdb_cursor_close(cur);
		return s_walk_damaged(w, err, errlen, ": %s", mdb_strerror(rc));
	}
	/* A split database (store.c) holds sorted duplicates: a key comes
	 * again, each time with a greater value. */
	dups = !free_list && mdb_dbi_flags(w->txn, dbi, &flags) == 0 && (flags & MDB_DUPSORT);
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
			int c = s_walk_cmp(&prev, &k);
			if (c > 0 || (c == 0 && (!dups || s_walk_cmp(&prev_v, &v) >= 0))) {
				rc = CPT_EDAMAGED;
				break;
			}
		}
		if (w->pos.entries % WALK_LOOKUP_EVERY == 0) {
			MDB_val lk = k, lv = v;
			int r = mdb_cursor_get(look, &lk, &lv, dups ? MDB_GET_BOTH : MDB_SET_KEY);
			if (r != 0 || lv.mv_size != v.mv_size ||
			    (dups ? memcmp(lv.mv_data, v.mv_data, v.mv_size) != 0
			          : lv.mv_data != v.mv_data)) {
				rc = r ? r : CPT_EDAMAGED;
				break;
			}
		}
		prev = k;
		prev_v = v;
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
		                      free_list
		                          ? "a free-page entry is not a list of pages of the file"
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
	if ((rc = mdb_stat(w->txn, dbi, &ms)) != 0 ||
	    (rc = mdb_cursor_open(w->txn, dbi, &cur)) != 0)
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
	if ((rc = store_check_file(path, dir, err, errlen, why, sizeof(why))) != 0) {
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
		if ((rc = store_lock_alloc(path, dir, err, errlen)) != 0) {
			mdb_env_close(env);
			return rc;
		}
		rc = mdb_env_open(env, path, MDB_NOTLS | (stat(lock, &sb) == 0 ? MDB_RDONLY : 0),
		                  0600);
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
	if (!(flags & STORE_WALK_LIGHT) &&
	    (rc = s_walk_db(&w, 0, "(free pages)", 1, err, errlen)) != 0)
		goto out;
	if ((rc = mdb_dbi_open(w.txn, NULL, 0, &main_dbi)) != 0)
		goto lmdb;
	if ((rc = s_walk_db(&w, main_dbi, "(list of databases)", 0, err, errlen)) != 0)
		goto out;
	if ((rc = mdb_cursor_open(w.txn, main_dbi, &cur)) != 0)
		goto lmdb;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n_names < 64;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size == 0 || k.mv_size >= sizeof(names[0]) ||
		    memchr(k.mv_data, 0, k.mv_size)) {
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
		                    rc == CPT_EDAMAGED ? "a name is not a database name"
		                                       : mdb_strerror(rc));
		goto out;
	}
	for (size_t i = 0; i < n_names; i++) {
		MDB_dbi dbi;
		w.pos.db = names[i];
		w.pos.entries = 0;
		if ((rc = mdb_dbi_open(w.txn, names[i], 0, &dbi)) != 0) {
			rc = s_walk_damaged(&w, err, errlen, ": cannot be opened: %s",
			                    mdb_strerror(rc));
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
			snprintf(err, errlen, "%s/data.mdb is damaged: %s; %s", path,
			         mdb_strerror(rc), hint);
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
	    (rc = mdb_dbi_open(txn, name, 0, &dbi)) != 0 ||
	    (rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		goto out;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		store_val_t sk = {k.mv_size, k.mv_data}, sv = {v.mv_size, v.mv_data};
		int r = fn(arg, &sk, &sv);
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
		snprintf(err, errlen, "%s/data.mdb, database \"%s\": %s", path, name,
		         mdb_strerror(rc));
	if (txn)
		mdb_txn_abort(txn);
	if (env)
		mdb_env_close(env);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : CPT_EDAMAGED;
}
