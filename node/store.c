/*
 * The LMDB store: opening, schema check, transactions with on-demand map
 * growth, meta values and hot backups. What lives in each database is in
 * node.h (enum store_db) and docs/ARCHITECTURE.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/ingest_internal.h"
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
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return CPT_EIO;
		}
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
	snprintf(err, errlen, "%s: %s", path, mdb_strerror(rc));
	if (txn)
		mdb_txn_abort(txn);
	store_close(&st);
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
			return CPT_EIO;
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
			/* STORE_NOCHANGE: nothing to store, no commit (no fsync) needed. */
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
				return CPT_EIO;
			}
		}
		/* A failed commit has freed the txn already (lmdb.h): never abort it. */
		rc = mdb_txn_commit(txn);
		pthread_rwlock_unlock(&st->grow);
		if (rc == MDB_MAP_FULL) {
			s_grow(st, &fulls);
			continue;
		}
		return rc == 0 ? 0 : CPT_EIO;
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
