/*
 * The index file (dir/search.db): its schema, the rows derived from the
 * store's views, the writer thread that follows the group commit, and the
 * reconciliation that opening, reindex and verify share (one walk of the
 * store compared row by row with the file).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "node/index/index.h"
#include "node/query/query.h"
#include "node/search/search_internal.h"

/* ------------------------------------------------------------- schema */

/* docs holds what filters and orders; fts what is matched and quoted. A
 * row of fts has the rowid of its docs row. The hash is of every derived
 * field: reconciliation compares it, nothing else. A post's or comment's
 * row is found by its time (its rowid's range) and key, people's and
 * spaces' by their key alone (docs_key covers only them): a unique index
 * over every key took a random page per post (docs/ARCHITECTURE.md,
 * "Search"). */
static const char s_schema[] =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS docs(rid INTEGER PRIMARY KEY, key TEXT NOT NULL,"
    " type INTEGER NOT NULL, ts INTEGER NOT NULL, author TEXT, site TEXT, space TEXT,"
    " post TEXT, name TEXT, dept TEXT, skills TEXT, hash BLOB NOT NULL);"
    "CREATE UNIQUE INDEX IF NOT EXISTS docs_key ON docs(key) WHERE rid < 1099511627776;"
    "CREATE INDEX IF NOT EXISTS docs_type_ts ON docs(type, ts);"
    "CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(title, body, alt,"
    " tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3');"
    "CREATE VIRTUAL TABLE IF NOT EXISTS pfts USING fts5(title, body, alt,"
    " tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3');"
    /* The terms of fts, to read a long prefix as the terms it begins. */
    "CREATE VIRTUAL TABLE IF NOT EXISTS fts_v USING fts5vocab(fts, 'row');";

/* 2: rowids in time order; 3: alt; 4: pfts; 5: spaces; 6: no index over
 * posts' keys */
#define SCHEMA_VERSION "6"

/* What an older layout's file loses before it is built again. */
static const char s_drop[] = "BEGIN; DROP TABLE IF EXISTS fts_v; DROP TABLE IF EXISTS fts;"
                             " DROP TABLE IF EXISTS pfts; DROP TABLE IF EXISTS docs;"
                             " DROP TABLE IF EXISTS meta; COMMIT;";

int
sx_fail(sqlite3 *db, const char *what, char *err, size_t errlen)
{
	if (err && errlen)
		snprintf(err, errlen, "search index: %s: %s", what,
		         db ? sqlite3_errmsg(db) : "no file");
	return CPT_EIO;
}

static int
s_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sx_fail(db, sql, err, errlen);
	return 0;
}

int
sx_connect(sqlite3 **out, const char *path, int readonly, char *err, size_t errlen)
{
	int fl = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

	*out = NULL;
	if (sqlite3_open_v2(path, out, fl | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path,
		         *out ? sqlite3_errmsg(*out) : "out of memory");
		sqlite3_close(*out);
		*out = NULL;
		return CPT_EIO;
	}
	/* A reader waits for a checkpoint or a schema change, never fails on it. */
	sqlite3_busy_timeout(*out, 5000);
	return 0;
}

/* ------------------------------------------------------------- docs */

/* One derived row, its strings owned. */
typedef struct doc {
	char key[80];     /* "p"/"c" + event id in hex, "u" + handle */
	int type;         /* SX_POST, ... */
	int64_t ts;       /* ms it was written (people: 0) */
	char *author;     /* handle, or NULL */
	char *site;       /* author's home site key, hex, or NULL */
	char *space;      /* space id, or NULL */
	char *post;       /* a comment's post, or NULL */
	char *name;       /* people: name and handle, folded (for typos) */
	char *dept;       /* people: department, folded */
	char *skills;     /* people: "|skill|skill|", folded */
	char *title;      /* matched: a person's name and handle */
	char *body;       /* matched: a text, a person's other fields */
	uint8_t hash[16]; /* of everything above */
} doc_t;

static char *
s_dup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static char *
s_fold_dup(const char *s)
{
	size_t n;
	char *f;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	if ((f = malloc(n)) != NULL)
		query_fold(s, f, n);
	return f;
}

static void
s_doc_clear(doc_t *d)
{
	free(d->author);
	free(d->site);
	free(d->space);
	free(d->post);
	free(d->name);
	free(d->dept);
	free(d->skills);
	free(d->title);
	free(d->body);
	memset(d, 0, sizeof(*d));
}

static void
s_hash_str(crypto_generichash_state *h, const char *s)
{
	uint8_t z = 0;

	if (s)
		crypto_generichash_update(h, (const uint8_t *)s, strlen(s) + 1);
	else
		crypto_generichash_update(h, &z, 1); /* NULL is not "" */
}

static void
s_doc_hash(doc_t *d)
{
	crypto_generichash_state h;
	uint8_t t[12];

	crypto_generichash_init(&h, NULL, 0, sizeof(d->hash));
	store_put_u64(t, (uint64_t)d->ts);
	t[8] = (uint8_t)d->type;
	t[9] = t[10] = t[11] = 0;
	crypto_generichash_update(&h, t, sizeof(t));
	s_hash_str(&h, d->key);
	s_hash_str(&h, d->author);
	s_hash_str(&h, d->site);
	s_hash_str(&h, d->space);
	s_hash_str(&h, d->post);
	s_hash_str(&h, d->name);
	s_hash_str(&h, d->dept);
	s_hash_str(&h, d->skills);
	s_hash_str(&h, d->title);
	s_hash_str(&h, d->body);
	crypto_generichash_final(&h, d->hash, sizeof(d->hash));
}

static const char *
s_str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* ------------------------------------------------------------- memos */

/*
 * A writer's batch, and a reconciliation, read one LMDB snapshot, in which
 * the same author's home site and the same post's place are derived again
 * for every post and comment: the key record's JSON parsed once per post
 * was a tenth of the index's CPU, a post's view parsed again for each of
 * its comments more. Within a snapshot the answer cannot change, so each
 * is kept until the next snapshot (s_memo_reset), and the ids derived in a
 * batch are derived once (a post's comments are derived with it and again
 * by their own change). A memo only ever skips work that would give the
 * same row: a full table or a miss derives as before.
 */
static void
s_memo_reset(search_t *s)
{
	if (++s->gen == 0) { /* wrapped: no entry of 2^32 snapshots ago counts */
		memset(s->sites, 0, sizeof(s->sites));
		memset(s->posts, 0, sizeof(s->posts));
		if (s->done)
			memset(s->done, 0, SX_DONE * sizeof(*s->done));
		s->gen = 1;
	}
	s->n_done = 0;
}

/* The home site of an author (their key record's "site"), as the lean
 * views do not give it: a new string, or NULL when none. */
static char *
s_author_site(search_t *s, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN])
{
	sx_site_t *e = &s->sites[(key[0] ^ key[CPT_KEY_LEN - 1]) % SX_SITES];
	json_t *rec;
	const char *site;
	char *out;

	if (e->gen == s->gen && memcmp(e->key, key, CPT_KEY_LEN) == 0)
		return e->has ? strdup(e->site) : NULL;
	rec = index_key_info(txn, key);
	site = json_string_value(json_object_get(rec, "site"));
	out = s_dup(site);
	if (site == NULL || strlen(site) < sizeof(e->site)) {
		e->gen = s->gen;
		memcpy(e->key, key, CPT_KEY_LEN);
		e->has = site != NULL;
		if (site)
			strcpy(e->site, site);
	}
	json_decref(rec);
	return out;
}

/* Notes the place of post id in this snapshot: shown (it has a view here),
 * and its space or NULL. */
static void
s_post_note(search_t *s, const uint8_t id[CPT_ID_LEN], int shown, const char *space)
{
	sx_post_t *e = &s->posts[(id[0] | (unsigned)id[1] << 8) % SX_POSTS];

	if (space && strlen(space) >= sizeof(e->space))
		return; /* not a space id: not kept */
	e->gen = s->gen;
	memcpy(e->id, id, CPT_ID_LEN);
	e->shown = shown;
	e->has_space = space != NULL;
	if (space)
		strcpy(e->space, space);
}

/* The place of post id for its comments' rows: 1 when it has a view here,
 * with its space (a new string) or NULL into *space; 0 when it has none. */
static int
s_post_place(search_t *s, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], char **space)
{
	sx_post_t *e = &s->posts[(id[0] | (unsigned)id[1] << 8) % SX_POSTS];
	json_t *p;

	*space = NULL;
	if (e->gen == s->gen && memcmp(e->id, id, CPT_ID_LEN) == 0) {
		if (e->shown && e->has_space)
			*space = strdup(e->space);
		return e->shown;
	}
	if ((p = query_post_lean(txn, id)) == NULL) {
		s_post_note(s, id, 0, NULL);
		return 0;
	}
	*space = s_dup(s_str(p, "space"));
	s_post_note(s, id, 1, s_str(p, "space"));
	json_decref(p);
	return 1;
}

/* Whether id (of kind) was derived already in this batch; when not, it is
 * marked as derived (when the table has room). */
static int
s_done(search_t *s, const uint8_t id[CPT_ID_LEN], uint16_t kind)
{
	size_t h;
	uint64_t x;

	if (s->done == NULL)
		return 0;
	memcpy(&x, id, sizeof(x)); /* an id is a hash: its bytes are spread */
	for (h = (size_t)x & (SX_DONE - 1);; h = (h + 1) & (SX_DONE - 1)) {
		sx_done_t *e = &s->done[h];
		if (e->gen != s->gen) {
			if (s->n_done >= SX_DONE / 2)
				return 0; /* full enough: derived again, as before */
			e->gen = s->gen;
			e->kind = kind;
			memcpy(e->id, id, CPT_ID_LEN);
			s->n_done++;
			return 0;
		}
		if (e->kind == kind && memcmp(e->id, id, CPT_ID_LEN) == 0)
			return 1;
	}
}

/* The row of a post or a comment from its view, or 0 with nothing when it
 * is not shown (a comment of a post that is not shown either). 1: a row. */
static int
s_derive_text(search_t *s, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], uint16_t kind, doc_t *d)
{
	char hex[CPT_HEX_ID];
	const char *akey;
	uint8_t key[CPT_KEY_LEN];
	json_t *v;

	memset(d, 0, sizeof(*d));
	/* A post of a space too: its view exists here only when this site
	 * may read it (a private space's sealed text is opened only at its
	 * member sites), and who may read it is decided at search time
	 * (search_may_read): the row depends on the events, not on a viewer. */
	v = kind == EVT_POST ? query_post_lean(txn, id) : query_comment_lean(txn, id);
	if (kind == EVT_POST)
		s_post_note(s, id, v != NULL, v ? s_str(v, "space") : NULL);
	if (v == NULL)
		return 0;
	if (kind == EVT_COMMENT) {
		/* A comment is shown with its post, and is in its post's space. */
		const char *post = s_str(v, "post");
		uint8_t pid[CPT_ID_LEN];
		if (post == NULL || cpt_unhex32(pid, post, strlen(post)) != 0 ||
		    !s_post_place(s, txn, pid, &d->space)) {
			json_decref(v);
			return 0;
		}
	} else {
		d->space = s_dup(s_str(v, "space"));
	}
	cpt_hex32(hex, id);
	snprintf(d->key, sizeof(d->key), "%c%s", kind == EVT_POST ? 'p' : 'c', hex);
	d->type = kind == EVT_POST ? SX_POST : SX_COMMENT;
	d->ts = (int64_t)json_integer_value(json_object_get(v, "created"));
	d->author = s_dup(s_str(v, "author"));
	akey = s_str(v, "author_key");
	d->site =
	    akey && cpt_unhex32(key, akey, strlen(akey)) == 0 ? s_author_site(s, txn, key) : NULL;
	d->post = kind == EVT_COMMENT ? s_dup(s_str(v, "post")) : NULL;
	d->body = s_dup(s_str(v, "text"));
	d->title = NULL;
	json_decref(v);
	s_doc_hash(d);
	return 1;
}

/* Appends s to the buffer b (*n used of *cap) with a separator. */
static void
s_cat(char **b, size_t *n, size_t *cap, const char *s, const char *sep)
{
	size_t l;

	if (s == NULL || *s == 0 || *b == NULL)
		return;
	l = strlen(s) + strlen(sep);
	if (*n + l + 1 > *cap) {
		char *nb = realloc(*b, *n + l + 1 + 256);
		if (nb == NULL)
			return;
		*b = nb;
		*cap = *n + l + 1 + 256;
	}
	if (*n)
		*n += (size_t)sprintf(*b + *n, "%s", sep);
	*n += (size_t)sprintf(*b + *n, "%s", s);
}

/* The row of a person, or 0 when they are not in the directory. */
static int
s_derive_person(store_txn_t *txn, const char *handle, doc_t *d)
{
	json_t *p, *prof, *s;
	size_t i, n = 0, cap = 256, sn = 1, scap = 256;
	char *body, *skills;

	memset(d, 0, sizeof(*d));
	if ((p = query_person(txn, handle)) == NULL)
		return 0;
	if (json_is_true(json_object_get(p, "disabled"))) {
		json_decref(p);
		return 0;
	}
	prof = json_object_get(p, "profile");
	snprintf(d->key, sizeof(d->key), "u%s", handle);
	d->type = SX_PERSON;
	d->author = s_dup(handle);
	d->site = s_dup(s_str(p, "home_site"));
	{
		char t[400];
		snprintf(t, sizeof(t), "%s %s", s_str(prof, "name") ? s_str(prof, "name") : "",
		         handle);
		d->title = s_dup(t);
		d->name = s_fold_dup(t);
	}
	d->dept = s_fold_dup(s_str(prof, "department"));
	body = malloc(cap);
	skills = malloc(scap);
	if (body)
		body[0] = 0;
	if (skills)
		strcpy(skills, "|");
	s_cat(&body, &n, &cap, s_str(prof, "title"), " · ");
	s_cat(&body, &n, &cap, s_str(prof, "department"), " · ");
	s_cat(&body, &n, &cap, s_str(prof, "site"), " · ");
	s_cat(&body, &n, &cap, s_str(prof, "location"), " · ");
	json_array_foreach (json_object_get(prof, "skills"), i, s) {
		char *f = s_fold_dup(json_string_value(s));
		s_cat(&body, &n, &cap, json_string_value(s), " · ");
		if (f) {
			s_cat(&skills, &sn, &scap, f, "");
			s_cat(&skills, &sn, &scap, "|", "");
		}
		free(f);
	}
	s_cat(&body, &n, &cap, s_str(prof, "bio"), " · ");
	d->body = body;
	d->skills = skills;
	json_decref(p);
	s_doc_hash(d);
	return 1;
}

/* The row of a space (its name and description, matched like people's
 * names), or 0 when it has none here: no such space, or a private space
 * whose profile this site cannot open (its name is sealed). Who may see it
 * is decided at search time (query_space). */
static int
s_derive_space(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], doc_t *d)
{
	json_t *st;
	const char *name;
	char hex[CPT_HEX_ID];

	memset(d, 0, sizeof(*d));
	if ((st = index_space_get(txn, space)) == NULL)
		return 0;
	name = s_str(st, "name");
	if (!json_is_true(json_object_get(st, "exists")) || name == NULL || *name == 0) {
		json_decref(st);
		return 0;
	}
	cpt_hex32(hex, space);
	snprintf(d->key, sizeof(d->key), "s%s", hex);
	d->type = SX_SPACE;
	d->space = s_dup(hex);
	d->title = s_dup(name);
	d->name = s_fold_dup(name);
	d->body = s_dup(s_str(st, "description") ? s_str(st, "description") : "");
	json_decref(st);
	s_doc_hash(d);
	return 1;
}

/* ------------------------------------------------------------- writes */

enum {
	ST_GET,
	ST_GET_TIMED,
	ST_INS,
	ST_UPD,
	ST_DEL,
	ST_FTS_DEL,
	ST_FTS_INS,
	ST_PFTS_DEL,
	ST_PFTS_INS,
	ST_META_PUT,
	ST_LAST_RID,
	ST_COUNT,
};

static const char *const s_sql[ST_COUNT] = {
    /* People and spaces (docs_key: rowids below SX_RID_TIMED). */
    "SELECT rid, hash FROM docs WHERE key = ?1 AND rid < 1099511627776",
    /* Posts and comments: the rows of one millisecond, a few at most. */
    "SELECT rid, hash, key FROM docs WHERE rid BETWEEN ?1 AND ?2",
    "INSERT INTO docs(key, type, ts, author, site, space, post, name, dept, skills, hash, rid)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    "UPDATE docs SET key = ?1, type = ?2, ts = ?3, author = ?4, site = ?5, space = ?6,"
    " post = ?7, name = ?8, dept = ?9, skills = ?10, hash = ?11 WHERE rid = ?12",
    "DELETE FROM docs WHERE rid = ?1",
    "DELETE FROM fts WHERE rowid = ?1",
    "INSERT INTO fts(rowid, title, body, alt) VALUES(?1, ?2, ?3, ?4)",
    "DELETE FROM pfts WHERE rowid = ?1",
    "INSERT INTO pfts(rowid, title, body, alt) VALUES(?1, ?2, ?3, ?4)",
    "INSERT OR REPLACE INTO meta(k, v) VALUES(?1, ?2)",
    "SELECT max(rid) FROM docs WHERE rid BETWEEN ?1 AND ?2",
};

static sqlite3_stmt *
s_st(search_t *s, int which)
{
	sqlite3_stmt *st = s->stmt[which];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

static void
s_bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* Whether key is a post's or a comment's: its rowid says its time. */
static int
s_key_timed(const char *key)
{
	return key[0] == 'p' || key[0] == 'c';
}

/* The rowids a row of key written at ts (ms) may have, [*lo, *hi]. Posts
 * and comments sort by time: rid = ms << SX_RID_SHIFT plus a counter, so
 * that FTS5 walks the newest first by rowid and stops at the page
 * (docs/ARCHITECTURE.md, "Search"); people and spaces are below
 * SX_RID_TIMED. */
static void
s_rid_range(const char *key, int64_t ts, int64_t *lo, int64_t *hi)
{
	if (s_key_timed(key)) {
		*lo = (ts > 0 ? ts : 1) * ((int64_t)1 << SX_RID_SHIFT);
		if (*lo < SX_RID_TIMED)
			*lo = SX_RID_TIMED;
		*hi = *lo + ((int64_t)1 << SX_RID_SHIFT) - 1;
	} else {
		*lo = 1;
		*hi = SX_RID_TIMED - 1;
	}
}

/* The rowid of a new row of d: the next in its range, after last when the
 * lookup saw the range (else 0: read here). 0 on an error or when the range
 * is full. */
static int64_t
s_new_rid(search_t *s, const doc_t *d, int64_t last)
{
	sqlite3_stmt *st;
	int64_t lo, hi;

	s_rid_range(d->key, d->ts, &lo, &hi);
	if (last == 0) {
		st = s_st(s, ST_LAST_RID);
		sqlite3_bind_int64(st, 1, lo);
		sqlite3_bind_int64(st, 2, hi);
		if (sqlite3_step(st) != SQLITE_ROW) {
			sqlite3_reset(st);
			return 0;
		}
		last = sqlite3_column_type(st, 0) == SQLITE_NULL ? lo - 1
		                                                 : sqlite3_column_int64(st, 0);
		sqlite3_reset(st); /* see s_lookup */
	}
	return last < hi ? last + 1 : 0; /* 1024 rows in one ms: refused, logged */
}

/* The rowid and hash of key, whose row (if any) was written at ts (ms; a
 * post or comment: the time of its event, -1 when the store has no such
 * event, and so no row). *last gets the highest rowid of the range when
 * it was read (else 0). 1 found, 0 not, <0 error. */
static int
s_lookup(search_t *s, const char *key, int64_t ts, int64_t *rid, uint8_t hash[16], int64_t *last)
{
	sqlite3_stmt *st;
	int64_t lo, hi;
	int rc, found = 0;

	*last = 0;
	if (s_key_timed(key)) {
		if (ts < 0)
			return 0;
		s_rid_range(key, ts, &lo, &hi);
		st = s_st(s, ST_GET_TIMED);
		sqlite3_bind_int64(st, 1, lo);
		sqlite3_bind_int64(st, 2, hi);
		*last = lo - 1;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *k = (const char *)sqlite3_column_text(st, 2);
			*last = sqlite3_column_int64(st, 0);
			if (found || k == NULL || strcmp(k, key) != 0)
				continue;
			found = 1;
			*rid = *last;
			memset(hash, 0, 16);
			if (sqlite3_column_bytes(st, 1) == 16)
				memcpy(hash, sqlite3_column_blob(st, 1), 16);
		}
		sqlite3_reset(st); /* below */
		if (rc != SQLITE_DONE)
			*last = 0;
		return rc == SQLITE_DONE ? found : CPT_EIO;
	}
	st = s_st(s, ST_GET);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*rid = sqlite3_column_int64(st, 0);
		memset(hash, 0, 16);
		if (sqlite3_column_bytes(st, 1) == 16)
			memcpy(hash, sqlite3_column_blob(st, 1), 16);
	}
	/* A statement left on its row holds a read transaction open on the
	 * writer's connection: no checkpoint could pass it and the WAL grew
	 * without end (600 MB during a rebuild). Reset as soon as read. */
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : CPT_EIO;
}

/* The time (ms) of event id in the store, which is the time of its row
 * (the views' "created"), or -1 when the store does not hold it. */
static int64_t
s_event_ms(store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	evt_t ev;

	return index_event(txn, id, &ev) == 0 ? (int64_t)HLC_MS(ev.ts) : -1;
}

static int
s_step_done(sqlite3_stmt *st)
{
	return sqlite3_step(st) == SQLITE_DONE ? 0 : CPT_EIO;
}

static int
s_remove_rid(search_t *s, int64_t rid)
{
	sqlite3_stmt *st = s_st(s, rid < SX_RID_TIMED ? ST_PFTS_DEL : ST_FTS_DEL);

	sqlite3_bind_int64(st, 1, rid);
	if (s_step_done(st) != 0)
		return CPT_EIO;
	st = s_st(s, ST_DEL);
	sqlite3_bind_int64(st, 1, rid);
	return s_step_done(st);
}

/* The title and body folded (query_fold) when they hold a ligature that
 * folds to two letters (æ œ ß þ ĳ), else NULL. Freed by the caller. */
static char *
s_ligatures(const doc_t *d)
{
	static const char *const lig[] = {"\xc3\xa6", "\xc3\x86", "\xc5\x93", "\xc5\x92",
	                                  "\xc3\x9f", "\xc3\xbe", "\xc3\x9e", "\xc4\xb3",
	                                  "\xc4\xb2", NULL};
	const char *t = d->title ? d->title : "", *b = d->body ? d->body : "";
	size_t n;
	char *both, *out;
	int any = 0;

	for (int i = 0; lig[i] && !any; i++)
		any = strstr(t, lig[i]) != NULL || strstr(b, lig[i]) != NULL;
	if (!any)
		return NULL;
	n = strlen(t) + strlen(b) + 2;
	if ((both = malloc(n)) == NULL || (out = malloc(n * 2)) == NULL) {
		free(both);
		return NULL;
	}
	snprintf(both, n, "%s %s", t, b);
	query_fold(both, out, n * 2);
	free(both);
	return out;
}

/* Writes d (present: a row) or takes key out (d NULL; ts: as s_lookup's).
 * *rid gets the row's id (0 when none). */
static int
s_put(search_t *s, const char *key, int64_t ts, const doc_t *d, int64_t *rid_out)
{
	int64_t rid = 0, last;
	uint8_t h[16];
	sqlite3_stmt *st;
	int found, rc;

	if (rid_out)
		*rid_out = 0;
	if ((found = s_lookup(s, key, d ? d->ts : ts, &rid, h, &last)) < 0)
		return found;
	if (d == NULL)
		return found ? s_remove_rid(s, rid) : 0;
	if (found && memcmp(h, d->hash, 16) == 0) {
		if (rid_out)
			*rid_out = rid;
		return 0;
	}
	if (!found && (rid = s_new_rid(s, d, last)) == 0) {
		log_warnx("search", "no rowid left for %s (over %d rows in one millisecond)",
		          d->key, 1 << SX_RID_SHIFT);
		return CPT_EFULL;
	}
	st = s_st(s, found ? ST_UPD : ST_INS);
	s_bind_text(st, 1, d->key);
	sqlite3_bind_int(st, 2, d->type);
	sqlite3_bind_int64(st, 3, d->ts);
	s_bind_text(st, 4, d->author);
	s_bind_text(st, 5, d->site);
	s_bind_text(st, 6, d->space);
	s_bind_text(st, 7, d->post);
	s_bind_text(st, 8, d->name);
	s_bind_text(st, 9, d->dept);
	s_bind_text(st, 10, d->skills);
	sqlite3_bind_blob(st, 11, d->hash, 16, SQLITE_STATIC);
	sqlite3_bind_int64(st, 12, rid);
	if (s_step_done(st) != 0)
		return CPT_EIO;
	if (found) {
		st = s_st(s, rid < SX_RID_TIMED ? ST_PFTS_DEL : ST_FTS_DEL);
		sqlite3_bind_int64(st, 1, rid);
		if (s_step_done(st) != 0)
			return CPT_EIO;
	}
	/* People in a table of their own: the directory matches prefixes as
	 * one types, which over the posts' table would merge the doclists of
	 * every word so begun (docs/ARCHITECTURE.md, "Search"). */
	st = s_st(s, rid < SX_RID_TIMED ? ST_PFTS_INS : ST_FTS_INS);
	sqlite3_bind_int64(st, 1, rid);
	s_bind_text(st, 2, d->title ? d->title : "");
	s_bind_text(st, 3, d->body ? d->body : "");
	{
		/* The tokenizer folds accents, not ligatures: "Œnologie" is
		 * found as "oenologie" through this column, only filled for
		 * texts that have one. */
		char *alt = s_ligatures(d);
		s_bind_text(st, 4, alt ? alt : "");
		rc = s_step_done(st);
		free(alt);
		if (rc != 0)
			return CPT_EIO;
	}
	if (rid_out)
		*rid_out = rid;
	return 0;
}

/* Derives the row of a post or comment id now and writes it. */
static int
s_sync_text(search_t *s, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], uint16_t kind)
{
	doc_t d;
	char key[80], hex[CPT_HEX_ID];
	int has, rc;

	if (s_done(s, id, kind))
		return 0; /* derived in this batch, from the same snapshot */
	has = s_derive_text(s, txn, id, kind, &d);
	cpt_hex32(hex, id);
	snprintf(key, sizeof(key), "%c%s", kind == EVT_POST ? 'p' : 'c', hex);
	rc = s_put(s, key, has ? d.ts : s_event_ms(txn, id), has ? &d : NULL, NULL);
	s_doc_clear(&d);
	return rc;
}

static int
s_sync_person(search_t *s, store_txn_t *txn, const char *handle)
{
	doc_t d;
	char key[80];
	int has, rc;

	has = s_derive_person(txn, handle, &d);
	snprintf(key, sizeof(key), "u%s", handle);
	rc = s_put(s, key, 0, has ? &d : NULL, NULL);
	s_doc_clear(&d);
	return rc;
}

static int
s_sync_space_row(search_t *s, store_txn_t *txn, const uint8_t space[CPT_ID_LEN])
{
	doc_t d;
	char key[80], hex[CPT_HEX_ID];
	int has, rc;

	has = s_derive_space(txn, space, &d);
	cpt_hex32(hex, space);
	snprintf(key, sizeof(key), "s%s", hex);
	rc = s_put(s, key, 0, has ? &d : NULL, NULL);
	s_doc_clear(&d);
	return rc;
}

/* How long the writer reads one LMDB snapshot, at most (ms). While a
 * snapshot is open LMDB cannot reuse the pages the store's commits free
 * after it: at nice 10 behind a catch-up a batch of 2,000 changes held one
 * for seconds, and the store's file ended with 470 bytes per event of free
 * pages at 200,000 events (issue 23, session 10); a fill's enrolments, each
 * deriving everything its key wrote in one snapshot, held one for 1.0-2.4 s
 * under up to 9 of the store's commits (session 15). */
#define SX_SNAP_MS 20

static uint64_t
s_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* The writer's snapshot *txn, ended and taken again when it is SX_SNAP_MS
 * old (wlock held): between changes of a batch and between the rows of a
 * change that derives many (an enrolment's key, a space). A row derived in
 * a newer snapshot is the row of a newer store, as a later batch would
 * derive it, so nothing else changes. 0, or CPT_EIO with *txn NULL. */
static int
s_snap_renew(search_t *s, store_txn_t **txn)
{
	if (s_now_ms() - s->snap_since < SX_SNAP_MS)
		return 0;
	store_read_end(s->st, txn);
	if (store_read_begin(s->st, txn) != 0) {
		*txn = NULL;
		return CPT_EIO;
	}
	s->snap_since = s_now_ms();
	s_memo_reset(s); /* the memos are of one snapshot */
	return 0;
}

/* The posts, comments and sealed events by one author, or in one space,
 * collected in one snapshot and derived in as many as it takes
 * (s_snap_renew). */
struct id_list {
	uint8_t (*id)[CPT_ID_LEN]; /* the events */
	uint16_t *kind;            /* and their kinds */
	size_t n, cap;             /* used, allocated */
	int rc;                    /* CPT_ENOMEM once an append failed */
};

static void
s_ids_add(struct id_list *l, const uint8_t *id, uint16_t kind)
{
	if (l->rc != 0)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		void *ni = realloc(l->id, cap * CPT_ID_LEN), *nk;
		if (ni == NULL) {
			l->rc = CPT_ENOMEM;
			return;
		}
		l->id = ni;
		if ((nk = realloc(l->kind, cap * sizeof(*l->kind))) == NULL) {
			l->rc = CPT_ENOMEM;
			return;
		}
		l->kind = nk;
		l->cap = cap;
	}
	memcpy(l->id[l->n], id, CPT_ID_LEN);
	l->kind[l->n++] = kind;
}

static void
s_ids_free(struct id_list *l)
{
	free(l->id);
	free(l->kind);
	memset(l, 0, sizeof(*l));
}

/* Each comment of a post is derived again (its post went or came back). */
struct ref_walk {
	search_t *s; /* the index */
	int rc;      /* the first error */
};

static int
s_ref_comment(index_ctx_t *ix, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	struct ref_walk *w = arg;

	(void)ix;
	if (kind == EVT_COMMENT && w->rc == 0)
		w->rc = s_sync_text(w->s, txn, id, EVT_COMMENT);
	return 0;
}

static int s_sync_target(search_t *s, store_txn_t *txn, const uint8_t id[CPT_ID_LEN],
                         uint16_t known);

static int
s_by_author(index_ctx_t *ix, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	(void)ix;
	(void)txn;
	if (kind == EVT_POST || kind == EVT_COMMENT || kind == EVT_SEALED)
		s_ids_add(arg, id, kind);
	return 0;
}

/* A post or comment and, for a post, its comments. known: the kind of id
 * when the caller knows it is a clear post or comment (a change of that
 * kind: the id commits to its kind), else 0. */
static int
s_sync_target(search_t *s, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], uint16_t known)
{
	index_ctx_t ix = {0};
	struct ref_walk w = {s, 0};
	evt_t ev;
	json_t *b = NULL;
	int rc;

	/* A sealed event counts as its inner kind when this site opened it;
	 * a clear one's body is not parsed here (the row's derivation reads
	 * it once: a parse less per post, jansson being a quarter of the
	 * indexing's CPU), nor its envelope read when the change says what it
	 * is (one that is not stored any more derives no row either way). */
	if (known == EVT_POST || known == EVT_COMMENT) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = known;
		rc = 0;
	} else {
		rc = index_event(txn, id, &ev);
	}
	if (rc == 0 && ev.kind == EVT_SEALED) {
		rc = index_event_open(txn, id, &ev, &b);
		json_decref(b);
	}
	if (rc != 0 || (ev.kind != EVT_POST && ev.kind != EVT_COMMENT)) {
		/* Not here, or a sealed event not opened here (any more: a
		 * redaction erases its body): no row of it, nor of its
		 * comments, which are shown with it. */
		char key[80], hex[CPT_HEX_ID];
		int64_t ms = s_event_ms(txn, id); /* -1: not here, so no row */
		cpt_hex32(hex, id);
		snprintf(key, sizeof(key), "p%s", hex);
		if ((rc = s_put(s, key, ms, NULL, NULL)) != 0)
			return rc;
		key[0] = 'c';
		if ((rc = s_put(s, key, ms, NULL, NULL)) != 0)
			return rc;
	} else if ((rc = s_sync_text(s, txn, id, ev.kind)) != 0 || ev.kind != EVT_POST) {
		return rc;
	}
	rc = index_each_ref(&ix, txn, id, s_ref_comment, &w);
	index_ctx_release(&ix);
	return rc ? rc : w.rc;
}

/* A space's row and everything that names it (DB_SPACE_ITEMS: its posts,
 * clear or sealed, and the sealed comments and edits of them), derived
 * again: a membership, a key or a profile changes what this site holds of
 * it (posts placed or not, sealed events opened), and the space's store
 * views are decided again in the same commit without being announced. */
static int
s_sync_space(search_t *s, store_txn_t **txnp, const uint8_t space[CPT_ID_LEN])
{
	uint8_t from[CPT_ID_LEN + 40];
	struct id_list l = {0};
	store_cur_t *cur;
	store_val_t k = {sizeof(from), from}, v;
	int rc;

	if ((rc = s_sync_space_row(s, *txnp, space)) != 0)
		return rc;
	memset(from, 0, sizeof(from));
	memcpy(from, space, CPT_ID_LEN);
	if ((rc = store_cur_open(*txnp, DB_SPACE_ITEMS, &cur)) != 0)
		return rc;
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0 && l.rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		if (k.len != sizeof(from) || memcmp(k.data, space, CPT_ID_LEN) != 0)
			break;
		s_ids_add(&l, (const uint8_t *)k.data + CPT_ID_LEN + 8, 0);
	}
	store_cur_close(&cur);
	rc = rc == CPT_ENOTFOUND ? 0 : rc;
	rc = rc ? rc : l.rc;
	/* s_sync_target takes a post with its comments; a sealed comment or
	 * edit is derived as what it is about. */
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		evt_t ev;
		json_t *b = NULL;
		uint8_t ref[CPT_ID_LEN];
		if (i % 16 == 15 && (rc = s_snap_renew(s, txnp)) != 0)
			break;
		if (index_event_open(*txnp, l.id[i], &ev, &b) != 0)
			continue;
		if (ev.kind == EVT_POST || ev.kind == EVT_COMMENT)
			rc = s_sync_target(s, *txnp, l.id[i], 0);
		else if (b && (index_hex_field(b, "post", ref) == 0 ||
		               index_hex_field(b, "target", ref) == 0))
			rc = s_sync_target(s, *txnp, ref, 0);
		json_decref(b);
	}
	s_ids_free(&l);
	return rc;
}

/* Whether event id (a post, a comment, or a sealed one: kind) has a row:
 * 1, 0, or 1 when the file cannot tell (derived again, as before). */
static int
s_has_row(search_t *s, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], uint16_t kind)
{
	char key[80], hex[CPT_HEX_ID];
	int64_t ms = s_event_ms(txn, id), rid, last;
	uint8_t hash[16];
	int rc = 0;

	if (ms < 0)
		return 0;
	cpt_hex32(hex, id);
	for (int i = 0; rc == 0 && i < 2; i++) {
		if ((i == 0 && kind == EVT_COMMENT) || (i == 1 && kind == EVT_POST))
			continue;
		snprintf(key, sizeof(key), "%c%s", i == 0 ? 'p' : 'c', hex);
		rc = s_lookup(s, key, ms, &rid, hash, &last);
	}
	return rc != 0;
}

/*
 * What a key wrote, and its person (an enrolment, a revocation): the rows
 * that the key's posts, comments and sealed events have are derived again
 * (the author's handle and site; no row once revoked). Those without a row
 * are left to their own change: every stored event has one, applied after
 * it was stored (events admitted from waiting are announced, NODE_ADMITTED),
 * so a row missing now is either to come or rightly missing. In a fill the
 * enrolments come first and their posts after: nothing was to be derived
 * again, and deriving what the store held so far made each enrolment's
 * batch the longest of the fill (BENCHMARKS, session 15). The ids are
 * collected in one snapshot and looked at in as many as it takes.
 */
static int
s_sync_key(search_t *s, store_txn_t **txnp, const uint8_t key[CPT_KEY_LEN])
{
	index_ctx_t ix = {0};
	struct id_list l = {0};
	char handle[64];
	int rc;

	if (index_handle_of(*txnp, key, handle) == 0 && (rc = s_sync_person(s, *txnp, handle)) != 0)
		return rc;
	rc = index_each_by_author(&ix, *txnp, key, EVT_POST, s_by_author, &l);
	if (rc == 0)
		rc = index_each_by_author(&ix, *txnp, key, EVT_COMMENT, s_by_author, &l);
	if (rc == 0)
		rc = index_each_by_author(&ix, *txnp, key, EVT_SEALED, s_by_author, &l);
	index_ctx_release(&ix);
	rc = rc ? rc : l.rc;
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		if (i % 16 == 15 && (rc = s_snap_renew(s, txnp)) != 0)
			break;
		if (!s_has_row(s, *txnp, l.id[i], l.kind[i]))
			continue;
		if (l.kind[i] == EVT_SEALED) /* a private space's: as what it opens to */
			rc = s_sync_target(s, *txnp, l.id[i], 0);
		else
			rc = s_sync_text(s, *txnp, l.id[i], l.kind[i]);
	}
	s_ids_free(&l);
	return rc;
}

/*
 * The rows of handle's posts and comments whose events the store no longer
 * holds, removed: a revocation takes back what its key signed after
 * "effective", and those events leave the store (and DB_BY_AUTHOR, which
 * s_sync_key walks) without a change of their own, so their rows stayed
 * (found in session 15: the file then differed from a rebuild until the
 * next reconciliation; hits were never shown, being read again from the
 * store). One scan of docs, which has no index on author: revocations are
 * rare. The row's time is its rowid's.
 */
static int
s_drop_gone(search_t *s, store_txn_t *txn, const char *handle)
{
	sqlite3_stmt *st;
	int64_t *rids = NULL;
	size_t n = 0, cap = 0;
	int rc = 0, step;

	if (sqlite3_prepare_v2(s->w, "SELECT rid, key FROM docs WHERE author = ? AND rid >= ?", -1,
	                       &st, NULL) != SQLITE_OK)
		return CPT_EIO;
	sqlite3_bind_text(st, 1, handle, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, SX_RID_TIMED);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 1);
		uint8_t id[CPT_ID_LEN];
		evt_t ev;
		if (key == NULL || strlen(key) != 1 + 2 * CPT_ID_LEN ||
		    cpt_unhex32(id, key + 1, 2 * CPT_ID_LEN) != 0 || index_event(txn, id, &ev) == 0)
			continue;
		if (n == cap) {
			int64_t *nr = realloc(rids, (cap = cap ? cap * 2 : 64) * sizeof(*rids));
			if (nr == NULL) {
				rc = CPT_ENOMEM;
				break;
			}
			rids = nr;
		}
		rids[n++] = sqlite3_column_int64(st, 0);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = CPT_EIO;
	sqlite3_finalize(st); /* before the deletes: no read left open */
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = s_remove_rid(s, rids[i]);
	free(rids);
	return rc;
}

/* What the change refers to, from the change or else from its body
 * (changes announced by node_poll_store carry no reference). 1 with ref
 * set, or 0. */
static int
s_ref(store_txn_t *txn, const sx_change_t *c, uint8_t ref[CPT_ID_LEN])
{
	const char *field;
	evt_t ev;
	json_t *b;
	int ok;

	if (c->flags & SX_REF) {
		memcpy(ref, c->ref, CPT_ID_LEN);
		return 1;
	}
	/* A sealed edit or comment: the opened body's fields. */
	if (index_event_open(txn, c->id, &ev, &b) != 0 || b == NULL)
		return 0;
	field = ev.kind == EVT_REDACT ? "target" : ev.kind == EVT_REVOKE ? "key" : "post";
	ok = index_hex_field(b, field, ref) == 0;
	json_decref(b);
	return ok;
}

/* What one stored event changes in the index, read in *txnp (which the
 * changes that derive many rows renew: s_snap_renew). */
static int
s_apply_one(search_t *s, store_txn_t **txnp, const sx_change_t *c)
{
	store_txn_t *txn = *txnp;
	uint8_t ref[CPT_ID_LEN];
	evt_t ev;
	json_t *b;
	char handle[64];
	int rc = 0;

	switch (c->kind) {
	case EVT_POST:
	case EVT_COMMENT: return s_sync_target(s, txn, c->id, c->kind);
	case EVT_EDIT:
	case EVT_REDACT: return s_ref(txn, c, ref) ? s_sync_target(s, txn, ref, 0) : 0;
	case EVT_PROFILE:
		if (index_event(txn, c->id, &ev) == 0 &&
		    index_handle_of(txn, ev.author, handle) == 0)
			return s_sync_person(s, txn, handle);
		return 0;
	case EVT_ENROL:
		if (index_event(txn, c->id, &ev) != 0 || (b = index_body(&ev)) == NULL)
			return 0;
		if (s_str(b, "handle") && event_valid_handle(s_str(b, "handle")))
			rc = s_sync_person(s, txn, s_str(b, "handle"));
		/* The rows of what its key wrote: another change of the same
		 * event's when it is a catch-up's (SX_ROW_ONLY, s_listener). */
		if (rc == 0 && !(c->flags & SX_ROW_ONLY) && index_hex_field(b, "key", ref) == 0)
			rc = s_sync_key(s, txnp, ref);
		json_decref(b);
		return rc;
	case EVT_SITE_CERT:
		/* What a certificate admits (enrolments, what their users wrote)
		 * is announced, each as a change of its own (NODE_ADMITTED), and
		 * derived as such. It made the writer reconcile the whole file
		 * before admitted events were announced: in a fill, where the
		 * new site's certificate is the newest event and arrives last,
		 * that derived every row of the store a second time (BENCHMARKS,
		 * "Session 13: the search index during a fill"). */
		return 0;
	case EVT_REVOKE:
		if (!s_ref(txn, c, ref))
			return 0;
		if ((rc = s_sync_key(s, txnp, ref)) == 0 &&
		    index_handle_of(*txnp, ref, handle) == 0)
			rc = s_drop_gone(s, *txnp, handle);
		return rc;
	case EVT_SEALED:
		/* Content of a private space: as its inner kind, when opened
		 * here (else nothing: the key event that opens it later walks
		 * the space). */
		if (index_event_open(txn, c->id, &ev, &b) != 0)
			return 0;
		json_decref(b);
		if (ev.kind == EVT_POST || ev.kind == EVT_COMMENT)
			return s_sync_target(s, txn, c->id, 0);
		if (ev.kind == EVT_EDIT || ev.kind == EVT_REDACT)
			return s_ref(txn, c, ref) ? s_sync_target(s, txn, ref, 0) : 0;
		return 0;
	case EVT_SPACE:
	case EVT_SPACE_MEMBER:
	case EVT_SPACE_KEY:
		/* The space it names (its own id when it creates one). */
		if (index_event(txn, c->id, &ev) != 0 || (b = index_body(&ev)) == NULL)
			return 0;
		if (index_hex_field(b, "space", ref) != 0)
			memcpy(ref, c->id, CPT_ID_LEN);
		json_decref(b);
		return s_sync_space(s, txnp, ref);
	default: return 0;
	}
}

static int
s_meta_put(search_t *s, const char *k, const char *v)
{
	sqlite3_stmt *st = s_st(s, ST_META_PUT);

	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, v, -1, SQLITE_STATIC);
	return s_step_done(st);
}

/* The value of meta k into out ("" when none). */
static void
s_meta_get(sqlite3 *db, const char *k, char *out, size_t cap)
{
	sqlite3_stmt *st;

	out[0] = 0;
	if (sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = ?1", -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

/* ----------------------------------------------------- reconciliation */

#define SX_RECON_TXN 5000 /* rows written per transaction of a reconciliation */

/* The walk of the store that reconcile, rebuild and verify share. */
struct recon {
	search_t *s;             /* the index */
	int write;               /* put the index right; else only count */
	int64_t *seen;           /* rowids of the rows the store derives (sorted at the end) */
	size_t n_seen, cap_seen; /* used, allocated */
	size_t docs;             /* rows the store derives */
	size_t wrong;            /* rows missing, different or extra */
	int rc;                  /* the first error */
};

static void
s_recon_doc(struct recon *r, const char *key, const doc_t *d)
{
	int64_t rid = 0, last;
	uint8_t h[16];
	int found;

	r->docs++;
	if ((found = s_lookup(r->s, key, d->ts, &rid, h, &last)) < 0) {
		r->rc = found;
		return;
	}
	if (!found || memcmp(h, d->hash, 16) != 0) {
		r->wrong++;
		if (r->write && (r->rc = s_put(r->s, key, d->ts, d, &rid)) != 0)
			return;
		/* One transaction per few thousand rows: one for a million
		 * spilled the same FTS5 pages to the WAL again and again (a
		 * 900 MB WAL for a 600 MB file). The file says "dirty" until
		 * the end, so a crash half-way is caught up at the next open. */
		if (r->write && r->wrong % SX_RECON_TXN == 0 &&
		    (sqlite3_exec(r->s->w, "COMMIT", NULL, NULL, NULL) != SQLITE_OK ||
		     sqlite3_exec(r->s->w, "BEGIN", NULL, NULL, NULL) != SQLITE_OK))
			r->rc = CPT_EIO;
	}
	if (rid == 0)
		return; /* verify: missing, nothing to keep */
	if (r->n_seen == r->cap_seen) {
		size_t cap = r->cap_seen ? r->cap_seen * 2 : 4096;
		int64_t *ns = realloc(r->seen, cap * sizeof(*ns));
		if (ns == NULL) {
			r->rc = CPT_ENOMEM;
			return;
		}
		r->seen = ns;
		r->cap_seen = cap;
	}
	r->seen[r->n_seen++] = rid;
}

static int
s_cmp_rid(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int
s_reconcile(search_t *s, int write, size_t *docs, size_t *wrong, char *err, size_t errlen)
{
	struct recon r = {s, write, NULL, 0, 0, 0, 0, 0};
	store_txn_t *txn = NULL;
	store_cur_t *cur = NULL;
	store_val_t k, v;
	sqlite3_stmt *st;
	int rc;

	if (write && s_exec(s->w, "BEGIN", err, errlen) != 0)
		return CPT_EIO;
	if (write && s_meta_put(s, "state", "dirty") != 0) {
		sqlite3_exec(s->w, "ROLLBACK", NULL, NULL, NULL);
		return sx_fail(s->w, "writing the state", err, errlen);
	}
	if ((rc = store_read_begin(s->st, &txn)) != 0)
		goto out;
	s_memo_reset(s); /* a new snapshot */
	/* Posts and comments, in time order. */
	if ((rc = store_cur_open(txn, DB_ORDER, &cur)) != 0)
		goto out;
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0 && r.rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		uint16_t kind = store_get_kind(&v);
		if (s->quit) { /* the node stops: the next start reconciles */
			snprintf(err, errlen,
			         "search index: reconciliation stopped by the node's stop");
			rc = CPT_EAGAIN;
			goto out;
		}
		uint8_t id[CPT_ID_LEN];
		doc_t d;
		if ((kind != EVT_POST && kind != EVT_COMMENT && kind != EVT_SEALED) ||
		    k.len != STORE_TSID_LEN)
			continue;
		memcpy(id, (const uint8_t *)k.data + 8, CPT_ID_LEN);
		if (kind == EVT_SEALED) { /* a private space's: its inner kind, if opened */
			evt_t ev;
			json_t *b = NULL;
			if (index_event_open(txn, id, &ev, &b) != 0)
				continue;
			json_decref(b);
			kind = ev.kind;
			if (kind != EVT_POST && kind != EVT_COMMENT)
				continue;
		}
		if (s_derive_text(s, txn, id, kind, &d))
			s_recon_doc(&r, d.key, &d);
		s_doc_clear(&d);
	}
	store_cur_close(&cur);
	if (rc != CPT_ENOTFOUND)
		goto out;
	/* People, by handle. */
	if ((rc = store_cur_open(txn, DB_HANDLES, &cur)) != 0)
		goto out;
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0 && r.rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		char h[64];
		doc_t d;
		if (k.len == 0 || k.len >= sizeof(h))
			continue;
		memcpy(h, k.data, k.len);
		h[k.len] = 0;
		if (s_derive_person(txn, h, &d))
			s_recon_doc(&r, d.key, &d);
		s_doc_clear(&d);
	}
	store_cur_close(&cur);
	if (rc != CPT_ENOTFOUND)
		goto out;
	/* Spaces, by id. */
	if ((rc = store_cur_open(txn, DB_SPACES, &cur)) != 0)
		goto out;
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0 && r.rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		doc_t d;
		if (k.len != CPT_ID_LEN)
			continue;
		if (s_derive_space(txn, k.data, &d))
			s_recon_doc(&r, d.key, &d);
		s_doc_clear(&d);
	}
	store_cur_close(&cur);
	if (rc != CPT_ENOTFOUND)
		goto out;
	rc = r.rc;
	if (rc != 0)
		goto out;
	/* Rows the store no longer derives. */
	if (r.n_seen > 1) /* an empty store: no array, and qsort(NULL, 0) is undefined */
		qsort(r.seen, r.n_seen, sizeof(*r.seen), s_cmp_rid);
	if (sqlite3_prepare_v2(s->w, "SELECT rid FROM docs", -1, &st, NULL) != SQLITE_OK) {
		rc = CPT_EIO;
		goto out;
	}
	{
		int64_t *gone = NULL;
		size_t n = 0, cap = 0;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			int64_t rid = sqlite3_column_int64(st, 0);
			if (r.n_seen && bsearch(&rid, r.seen, r.n_seen, sizeof(*r.seen), s_cmp_rid))
				continue;
			r.wrong++;
			if (!write)
				continue;
			if (n == cap) {
				int64_t *ng =
				    realloc(gone, (cap = cap ? cap * 2 : 256) * sizeof(*ng));
				if (ng == NULL)
					break;
				gone = ng;
			}
			gone[n++] = rid;
		}
		sqlite3_finalize(st);
		rc = rc == SQLITE_DONE ? 0 : CPT_EIO;
		for (size_t i = 0; rc == 0 && i < n; i++)
			rc = s_remove_rid(s, gone[i]);
		free(gone);
	}
out:
	store_cur_close(&cur);
	store_read_end(s->st, &txn);
	free(r.seen);
	if (write) {
		if (rc == 0 && s_exec(s->w, "COMMIT", err, errlen) != 0)
			rc = CPT_EIO;
		else if (rc != 0)
			sqlite3_exec(s->w, "ROLLBACK", NULL, NULL, NULL);
	}
	if (rc != 0 && err[0] == 0)
		snprintf(err, errlen, "search index: reconciling with the store failed: %s",
		         rc == CPT_EIO ? sqlite3_errmsg(s->w) : cpt_strerror(rc));
	*docs = r.docs;
	*wrong = r.wrong;
	return rc;
}

/* The store's commit sequence now. */
static uint64_t
s_store_seq(store_t *st)
{
	store_txn_t *txn;
	uint64_t seq;

	if (store_read_begin(st, &txn) != 0)
		return 0;
	seq = store_seq(txn);
	store_read_end(st, &txn);
	return seq;
}

/* ------------------------------------------------------------- writer */

/* Applies a batch of changes in one SQLite transaction, reading the store
 * in snapshots of SX_SNAP_MS at most: each change derives its rows from
 * what the store holds when it is read, as it would in a batch of its own. */
static int
s_apply(search_t *s, const sx_change_t *c, size_t n)
{
	store_txn_t *txn;
	int rc = 0;

	if (store_read_begin(s->st, &txn) != 0)
		return CPT_EIO;
	pthread_mutex_lock(&s->wlock);
	s->snap_since = s_now_ms();
	s_memo_reset(s); /* a new snapshot */
	if (sqlite3_exec(s->w, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		rc = CPT_EIO;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (i % 16 == 15 && (rc = s_snap_renew(s, &txn)) != 0)
			break;
		rc = s_apply_one(s, &txn, &c[i]);
	}
	if (rc == 0 && sqlite3_exec(s->w, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = CPT_EIO;
	if (rc != 0) {
		log_warnx("search", "indexing %zu changes failed: %s", n, sqlite3_errmsg(s->w));
		sqlite3_exec(s->w, "ROLLBACK", NULL, NULL, NULL);
	}
	pthread_mutex_unlock(&s->wlock);
	store_read_end(s->st, &txn);
	return rc;
}

/* Changes of one SQLite transaction at most: keeps the LMDB reader short. */
#define SX_BATCH 2000

/* The path of dir/search.<ext> (the backlog file: "behind"; the ring's
 * overflow: "over") into out. */
static void
s_file_path(const search_t *s, const char *ext, char *out, size_t cap)
{
	snprintf(out, cap, "%.*s.%s", (int)(strlen(s->path) - 3), s->path, ext); /* search.db */
}

static void
s_behind_path(const search_t *s, char *out, size_t cap)
{
	s_file_path(s, "behind", out, cap);
}

/* The changes file f holds, not taken yet. */
static uint64_t
s_file_n(const sx_file_t *f)
{
	return (f->wr - f->rd) / sizeof(sx_change_t);
}

/* Changes not taken yet (the ring and the files); qlock held. */
static uint64_t
s_backlog(const search_t *s)
{
	return s->qn + s_file_n(&s->over) + s_file_n(&s->cu);
}

/* Whether the file is being brought up to its store (a start that found it
 * behind): the backlog then counts one for the whole of it; qlock held. */
static int
s_mending(const search_t *s)
{
	return s->need_recon || s->reconciling;
}

void
sx_quiet_heard(sx_quiet_t *q, uint64_t now)
{
	if (q->last && now > q->last && now - q->last < q->max_ms && now - q->last > q->gap)
		q->gap = now - q->last;
	q->last = now;
}

uint64_t
sx_quiet_left(const sx_quiet_t *q, uint64_t now)
{
	uint64_t quiet = 2 * q->gap;

	if (q->last == 0)
		return 0;
	if (quiet > q->max_ms)
		quiet = q->max_ms;
	if (quiet < q->min_ms)
		quiet = q->min_ms;
	return now - q->last < quiet ? q->last + quiet - now : 0;
}

void
sx_quiet_end(sx_quiet_t *q)
{
	/* last stays: a catch-up that goes on after a pause longer than its
	 * quiet time (the index took its changes meanwhile) learns that pause
	 * as a gap, and waits twice as long the next time. */
	q->gap = 0;
}

/*
 * How many ms more the writer leaves the backlog file alone, 0 when it may
 * take it; qlock held. A catch-up's changes wait there until no catch-up
 * change has been heard for the quiet time (sx_quiet_left, search.h,
 * SEARCH_QUIET_MS): the index then takes no CPU from the verifiers and the
 * store's writer while they are at work, and holds no LMDB snapshot while
 * it waits (its snapshots are a batch's, s_apply; SCHED_IDLE, which let the
 * thread be preempted inside one, made the store's file 40% larger). The
 * quiet time is twice the longest gap between two commits of the catch-up,
 * so that a loaded machine's slower commits do not read as its end, within
 * [min_ms, max_ms]. Not while stopping (search_close decides then).
 */
static uint64_t
s_deferred_for(const search_t *s, uint64_t now)
{
	if (s->stop || s->cu.rd == s->cu.wr)
		return 0;
	return sx_quiet_left(&s->quiet, now);
}

/* Changes the writer may take now: the live ones (the ring and its
 * overflow), and the backlog file's unless a catch-up holds them back;
 * qlock held. */
static uint64_t
s_ready(const search_t *s)
{
	return s_deferred_for(s, s_now_ms()) ? s->qn + s_file_n(&s->over) : s_backlog(s);
}

/* The writer has work: changes it may take, or a reconciliation; qlock
 * held. When only a catch-up's changes wait, *wait_ms says for how long. */
static int
s_work(const search_t *s, uint64_t *wait_ms)
{
	*wait_ms = 0;
	if (s->qn > 0 || s->over.rd < s->over.wr || s->need_recon)
		return 1;
	if (s->cu.rd == s->cu.wr)
		return 0;
	*wait_ms = s_deferred_for(s, s_now_ms());
	return *wait_ms == 0;
}

/* Appends n changes to file f (the backlog or the ring's overflow); qlock
 * held. 0, or -1 when the file is missing or cannot be written (nothing
 * counted: the caller waits for room in the ring instead). */
static int
s_spill(search_t *s, sx_file_t *f, const sx_change_t *c, size_t n)
{
	size_t len = n * sizeof(*c), off = 0;

	if (f->fd < 0)
		return -1;
	while (off < len) {
		ssize_t w = pwrite(f->fd, (const char *)c + off, len - off, (off_t)(f->wr + off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_warnx("search",
			          "cannot write the backlog file: %s: commits wait for "
			          "the index instead",
			          strerror(w < 0 ? errno : EIO));
			close(f->fd);
			f->fd = -1;
			if (f->rd < f->wr)
				s->need_recon = 1; /* what it held is lost: derived again */
			f->rd = f->wr = 0;
			return -1;
		}
		off += (size_t)w;
	}
	f->wr += len;
	s->spilled += n;
	return 0;
}

/* Reads up to max changes from file f into out; qlock held. The number
 * read; an unreadable file is given up and the writer reconciles the whole
 * index instead (need_recon), so nothing is lost. An emptied file starts
 * again at 0 (its pages are given back). */
static size_t
s_unspill(search_t *s, sx_file_t *f, sx_change_t *out, size_t max)
{
	uint64_t avail = s_file_n(f);
	size_t n = avail < max ? (size_t)avail : max, len = n * sizeof(*out), off = 0;

	while (off < len) {
		ssize_t r = pread(f->fd, (char *)out + off, len - off, (off_t)(f->rd + off));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			log_warnx("search",
			          "cannot read the backlog file: %s: the index is "
			          "reconciled with the store instead",
			          r < 0 ? strerror(errno) : "shorter than written");
			s->need_recon = 1;
			f->rd = f->wr = 0;
			if (ftruncate(f->fd, 0) != 0) {
				close(f->fd);
				f->fd = -1;
			}
			return 0;
		}
		off += (size_t)r;
	}
	f->rd += len;
	if (f->rd == f->wr) {
		f->rd = f->wr = 0;
		if (ftruncate(f->fd, 0) != 0) {
			close(f->fd);
			f->fd = -1;
		}
	}
	return n;
}

/*
 * The window of live changes (search.h, SEARCH_WINDOW_MS); qlock held, the
 * writer has changes. Waits until the window closes, window_max changes
 * wait, a search hurries the writer (sx_wait_fresh) or the writer stops;
 * the listener does not wake it for each change meanwhile (s_listener).
 * Not for a backlog already long (a catch-up) nor a reconciliation.
 */
static void
s_window(search_t *s)
{
	struct timespec until;

	if (s->window_ms && !s->need_recon && !s->hurry && s_ready(s) < s->window_max) {
		cpt_deadline(&until, s->window_ms);
		s->windowing = 1;
		while (!s->stop && !s->hurry && !s->need_recon && s_ready(s) < s->window_max)
			if (pthread_cond_timedwait(&s->qcond, &s->qlock, &until) == ETIMEDOUT)
				break;
		s->windowing = 0;
	}
	/* The batch the writer takes now (qlock still held) holds what a
	 * search waits for. */
	s->hurry = 0;
}

static void *
s_writer(void *arg)
{
	search_t *s = arg;

	/* Its CPU apart from the main thread's in top -H, perf and catchup.py
	 * (a third of a receiving node's during a fill went unnamed). */
	pthread_setname_np(pthread_self(), "cpt-search");
	/* Below the threads that check and store events (nice 10: about a
	 * tenth of a core when they all want one). In a catch-up it took a
	 * quarter of the CPU from the signature checks; now the index follows
	 * behind the store and catches up after it. On an idle machine it runs
	 * at once all the same. Failing to lower it changes nothing else. */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
	pthread_mutex_lock(&s->qlock);
	for (;;) {
		size_t n, first, n_ring, n_over = 0;
		uint64_t wait_ms;
		int recon;
		while ((!s_work(s, &wait_ms) || s->held) && !s->stop) {
			if (wait_ms && !s->held) {
				/* A catch-up is under way: woken when it is quiet, or
				 * by a live change (s_listener), holding nothing. */
				struct timespec until;
				cpt_deadline(&until, wait_ms);
				s->quieting = 1;
				pthread_cond_timedwait(&s->qcond, &s->qlock, &until);
				s->quieting = 0;
			} else {
				pthread_cond_wait(&s->qcond, &s->qlock);
			}
		}
		s_window(s);
		/* Stopping: a long backlog is kept in the file for the next
		 * start (search_close) rather than holding the stop, and a
		 * reconciliation not begun is left to the next start. */
		if (s->stop && (s_backlog(s) == 0 || s_backlog(s) > s->drain_max))
			break;
		/* Taken out of the ring now, so that a commit goes on while this
		 * batch is indexed; the live changes first (a post written here
		 * is found soon even during a catch-up): the ring's, and those
		 * that overflowed it (half the batch at least when there are
		 * any, so that neither waits on the other), then the backlog
		 * file, unless a catch-up holds it back (s_deferred_for). */
		n = s->over.rd < s->over.wr ? SX_BATCH / 2 : SX_BATCH;
		n = n_ring = s->qn < n ? s->qn : n;
		first = s->qcap - s->qhead < n ? s->qcap - s->qhead : n;
		memcpy(s->batch, s->q + s->qhead, first * sizeof(*s->batch));
		memcpy(s->batch + first, s->q, (n - first) * sizeof(*s->batch));
		s->qhead = (s->qhead + n) % s->qcap;
		s->qn -= n;
		if (n < SX_BATCH && s->over.rd < s->over.wr)
			n += n_over = s_unspill(s, &s->over, s->batch + n, SX_BATCH - n);
		if (n < SX_BATCH && s->cu.rd < s->cu.wr && s_deferred_for(s, s_now_ms()) == 0) {
			n += s_unspill(s, &s->cu, s->batch + n, SX_BATCH - n);
			if (s->cu.rd == s->cu.wr) /* emptied: the next catch-up is timed afresh */
				sx_quiet_end(&s->quiet);
		}
		pthread_cond_broadcast(&s->qroom);
		pthread_mutex_unlock(&s->qlock);
		/* A failed batch leaves the file "not clean": the next open
		 * reconciles it with the store. */
		if (n > 0 && s_apply(s, s->batch, n) != 0)
			s->failed = 1;
		pthread_mutex_lock(&s->qlock);
		/* Stopping: a reconciliation still owed stays owed, so that
		 * search_close leaves the file "dirty" for the next start. */
		recon = s->need_recon && !s->stop;
		if (recon)
			s->need_recon = 0;
		s->reconciling = recon;
		pthread_mutex_unlock(&s->qlock);
		if (recon) {
			/* A certificate's batch, a lost backlog, or a start after a
			 * crash (SEARCH_CATCH_UP_LATER): the whole file against the
			 * store, in one snapshot; the changes heard meanwhile wait
			 * in the ring and the backlog file. */
			char err[512] = "";
			size_t docs, wrong;
			pthread_mutex_lock(&s->wlock);
			if (s_reconcile(s, 1, &docs, &wrong, err, sizeof(err)) != 0) {
				if (!s->quit)
					log_warnx("search", "%s", err);
				s->failed = 1; /* "dirty" stays: reconciled at the next start */
			} else if (wrong) {
				log_info("search",
				         "index brought up to the store: %zu of %zu rows put right",
				         wrong, docs);
			}
			pthread_mutex_unlock(&s->wlock);
		}
		pthread_mutex_lock(&s->qlock);
		s->reconciling = 0;
		s->applied += n;
		s->rq_done += n_ring;
		s->ov_done += n_over;
		pthread_cond_broadcast(&s->acond);
	}
	pthread_mutex_unlock(&s->qlock);
	return NULL;
}

/* Puts n live changes in the ring; qlock held. What does not fit goes to
 * the overflow file, or, when it cannot be written, the commit waits for
 * room. Not to the backlog file: a catch-up holds that back, and a search
 * waits for every live change (sx_wait_fresh). */
static void
s_ring_add(search_t *s, const sx_change_t *c, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (s->qn == s->qcap) {
			size_t k = n - i < 256 ? n - i : 256;
			if (s_spill(s, &s->over, c + i, k) == 0) {
				i += k;
				s->heard += k;
				s->ov_in += k;
				pthread_cond_signal(&s->qcond);
				continue;
			}
			s->q_waits++;
			while (s->qn == s->qcap)
				pthread_cond_wait(&s->qroom, &s->qlock);
		}
		for (; i < n && s->qn < s->qcap; i++) {
			s->q[(s->qhead + s->qn++) % s->qcap] = c[i];
			s->heard++;
			s->rq_in++;
		}
		if (s->qn > s->q_peak)
			s->q_peak = s->qn;
		/* In a window the writer wakes when it closes, or when enough
		 * changes wait: not once per change. */
		if (!s->windowing || s->qn >= s->window_max)
			pthread_cond_signal(&s->qcond);
	}
}

/* A catch-up's n changes, heard at now: to the backlog file, taken once the
 * catch-up is quiet (s_deferred_for); to the ring when the file cannot be
 * written. qlock held. */
static void
s_defer(search_t *s, const sx_change_t *c, size_t n, uint64_t now)
{
	if (s_spill(s, &s->cu, c, n) != 0) {
		s_ring_add(s, c, n);
		return;
	}
	s->heard += n;
	s->deferred += n;
	/* Timed per commit (one call of the listener): the gaps between
	 * them make the quiet time. */
	sx_quiet_heard(&s->quiet, now);
	/* Woken once to time the quiet (not while it does: each commit would
	 * wake it), nor in a window (it looks at the file after it). */
	if (!s->quieting && !s->windowing)
		pthread_cond_signal(&s->qcond);
}

/*
 * Whether a change waits for the end of its catch-up: 0, no (live); 1, yes
 * (a catch-up's); 2, both: a catch-up's enrolment puts its person in the
 * directory at once (SX_ROW_ONLY) and looks at what its key wrote after
 * the catch-up. A space's event derives again everything in the space (its
 * posts' places, sealed events opened): put off, that was everything the
 * catch-up brought in one transaction (in a 200,000-event fill, the first
 * deferred batch held the enrolments, which derived then all 180,000
 * posts: 18 s and 1.4 GB of WAL, BENCHMARKS session 14); taken at once, it
 * derives what the store holds so far, as before; they are few. An
 * enrolment's key and a revocation now only derive again the rows that
 * exist (s_sync_key): put off, they cost a look-up per event of the key,
 * and taken at once they read the store in the middle of the catch-up,
 * whose commits could not reuse the pages freed under those snapshots
 * (session 15).
 */
static int
s_deferrable(const node_change_t *ch)
{
	switch (ch->kind) {
	case EVT_ENROL: return ch->catchup ? 2 : 0;
	case EVT_SPACE:
	case EVT_SPACE_MEMBER:
	case EVT_SPACE_KEY: return 0;
	default: return ch->catchup;
	}
}

/* n changes of the listener's: live ones to the ring, a catch-up's to the
 * file (*now: the commit's time, taken once); qlock held. */
static void
s_hear(search_t *s, const sx_change_t *c, size_t n, int live, uint64_t *now)
{
	if (live) {
		s_ring_add(s, c, n);
		return;
	}
	if (*now == 0)
		*now = s_now_ms();
	s_defer(s, c, n, *now);
}

/*
 * The node's after-commit listener: copies the changes into the ring and
 * never touches SQLite. A catch-up's changes go to the backlog file (they
 * wait for the catch-up's end: s_defer), and so does what does not fit in
 * the ring, which is bounded in bytes (search_start): the commit does not
 * wait for the index, and no change is ever dropped, so the index stays a
 * function of the event set. Only when the file cannot be written does the
 * commit wait for room in the ring; see docs/ARCHITECTURE.md, "Search".
 */
static void
s_listener(void *arg, const node_change_t *changes, size_t n, enum node_origin origin)
{
	search_t *s = arg;
	sx_change_t buf[256];
	uint64_t now = 0;

	pthread_mutex_lock(&s->qlock);
	(void)origin;
	/* The catch-up's first (their own pass: the file's writes in chunks),
	 * then the live ones. */
	for (int live = 0; live < 2; live++) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			const node_change_t *ch = &changes[i];
			int d = s_deferrable(ch);
			if (live ? d == 1 : d == 0)
				continue;
			memset(&buf[k], 0, sizeof(buf[k])); /* no stray bytes in the file */
			buf[k].kind = ch->kind;
			memcpy(buf[k].id, ch->id, CPT_ID_LEN);
			memcpy(buf[k].ref, ch->ref, CPT_ID_LEN);
			buf[k].flags =
			    (ch->has_ref ? SX_REF : 0) | (live && d == 2 ? SX_ROW_ONLY : 0);
			if (++k < sizeof(buf) / sizeof(buf[0]))
				continue;
			s_hear(s, buf, k, live, &now);
			k = 0;
		}
		if (k)
			s_hear(s, buf, k, live, &now);
	}
	pthread_mutex_unlock(&s->qlock);
}

/* ------------------------------------------------------------- opening */

static void
s_finalize_all(search_t *s)
{
	for (int i = 0; i < ST_COUNT; i++)
		if (s->stmt[i]) {
			sqlite3_finalize(s->stmt[i]);
			s->stmt[i] = NULL;
		}
}

static void
s_free(search_t *s)
{
	s_finalize_all(s);
	sqlite3_close(s->w);
	for (int i = 0; i < SX_READERS; i++)
		sqlite3_close(s->r[i]);
	pthread_mutex_destroy(&s->qlock);
	pthread_mutex_destroy(&s->wlock);
	pthread_mutex_destroy(&s->rlock);
	pthread_cond_destroy(&s->qcond);
	pthread_cond_destroy(&s->rcond);
	pthread_cond_destroy(&s->qroom);
	pthread_cond_destroy(&s->acond);
	if (s->cu.fd >= 0)
		close(s->cu.fd);
	if (s->over.fd >= 0)
		close(s->over.fd);
	free(s->q);
	free(s->batch);
	free(s->done);
	free(s);
}

/* When state is want followed by " behind R W" and the backlog file holds
 * those bytes, opens it as the writer's backlog: 0. Else -1 (the index is
 * reconciled as after a crash). */
static int
s_behind_load(search_t *s, const char *state, const char *want)
{
	char path[sizeof(s->path) + 8];
	size_t wl = strlen(want);
	uint64_t rd, wr;
	struct stat sb;
	int fd;

	if (strncmp(state, want, wl) != 0 ||
	    sscanf(state + wl, " behind %" SCNu64 " %" SCNu64, &rd, &wr) != 2 || rd >= wr ||
	    (wr - rd) % sizeof(sx_change_t) != 0)
		return -1;
	s_behind_path(s, path, sizeof(path));
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size < wr) {
		close(fd);
		return -1;
	}
	s->cu.fd = fd;
	s->cu.rd = rd;
	s->cu.wr = wr;
	s->heard = (wr - rd) / sizeof(sx_change_t);
	log_info("search",
	         "the index is %" PRIu64 " changes behind the store: indexed after the start",
	         s->heard);
	return 0;
}

int
search_open(search_t **out, store_t *st, const char *dir, int flags, char *err, size_t errlen)
{
	search_t *s;
	char state[64], want[64], ver[16];
	int rc = 0;

	assert(out != NULL && st != NULL && dir != NULL);
	*out = NULL;
	err[0] = 0;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "search index: out of memory");
		return CPT_ENOMEM;
	}
	s->st = st;
	s->readonly = (flags & SEARCH_READONLY) != 0;
	snprintf(s->path, sizeof(s->path), "%s/search.db", dir);
	pthread_mutex_init(&s->qlock, NULL);
	pthread_mutex_init(&s->wlock, NULL);
	pthread_mutex_init(&s->rlock, NULL);
	pthread_cond_init(&s->qcond, NULL);
	pthread_cond_init(&s->rcond, NULL);
	pthread_cond_init(&s->qroom, NULL);
	pthread_cond_init(&s->acond, NULL);
	s->qcap = SEARCH_QUEUE_BYTES / sizeof(sx_change_t);
	s->cu.fd = s->over.fd = -1;
	s->drain_max = SEARCH_DRAIN_MAX;
	s->window_ms = SEARCH_WINDOW_MS;
	s->window_max = SEARCH_WINDOW_MAX;
	s->quiet.min_ms = SEARCH_QUIET_MS;
	s->quiet.max_ms = SEARCH_QUIET_MAX_MS;
	if (!s->readonly) {
		if ((rc = sx_connect(&s->w, s->path, 0, err, errlen)) != 0)
			goto fail;
		/* An older layout's tables go first: the file is then built again
		 * from the store like a new one, by the writer after the start for
		 * the daemon (SEARCH_CATCH_UP_LATER), not before it serves. */
		s_meta_get(s->w, "version", ver, sizeof(ver));
		if (!(flags & SEARCH_AS_IS) && ver[0] && strcmp(ver, SCHEMA_VERSION) != 0) {
			log_info("search", "index file of layout %s: built again as layout %s", ver,
			         SCHEMA_VERSION);
			if ((rc = s_exec(s->w, s_drop, err, errlen)) != 0)
				goto fail;
		}
		if ((rc = s_exec(s->w, s_schema, err, errlen)) != 0)
			goto fail;
		/* A lost SQLite commit costs a reconciliation, never a wrong
		 * answer: synchronous NORMAL, and FULL where it matters. */
		if ((rc = s_exec(s->w, "PRAGMA synchronous=NORMAL", err, errlen)) != 0)
			goto fail;
		/* FTS5's segment merges read many pages: through a map of the
		 * file (the kernel's page cache, given back under pressure)
		 * rather than 32 MiB of SQLite's own cache on the heap, which
		 * took a catch-up's heap over its 64 MiB target; the heap
		 * keeps 4 MiB, for the pages being written. */
		if ((rc = s_exec(s->w, "PRAGMA cache_size=-4096; PRAGMA mmap_size=1073741824", err,
		                 errlen)) != 0)
			goto fail;
		for (int i = 0; i < ST_COUNT; i++)
			if (sqlite3_prepare_v3(s->w, s_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
			                       &s->stmt[i], NULL) != SQLITE_OK) {
				rc = sx_fail(s->w, "preparing", err, errlen);
				goto fail;
			}
		s_meta_get(s->w, "version", ver, sizeof(ver));
		s_meta_get(s->w, "state", state, sizeof(state));
		if (ver[0] && strcmp(ver, SCHEMA_VERSION) != 0)
			state[0] = 0; /* another layout: rebuilt below */
		snprintf(want, sizeof(want), "clean %llu", (unsigned long long)s_store_seq(st));
		s->current = strcmp(state, want) == 0;
		if (flags & SEARCH_AS_IS) {
			s->as_is = 1;
		} else if (!(flags & SEARCH_REBUILD_AT_OPEN) &&
		           s_behind_load(s, state, want) == 0) {
			/* Closed during a catch-up: the rows are the store's but for
			 * the changes of the backlog file, indexed after the start. */
			strcpy(state, want);
		} else if (flags & SEARCH_REBUILD_AT_OPEN) {
			if ((rc = search_rebuild(s, err, errlen)) != 0)
				goto fail;
		} else if (strcmp(state, want) != 0 && (flags & SEARCH_CATCH_UP_LATER)) {
			s->need_recon = 1; /* by the writer, after search_start */
		} else if (strcmp(state, want) != 0) {
			size_t docs, wrong;
			if ((rc = s_reconcile(s, 1, &docs, &wrong, err, errlen)) != 0)
				goto fail;
			if (wrong)
				log_info("search",
				         "index brought up to the store: %zu of %zu rows put right",
				         wrong, docs);
		}
		if (!s->as_is && s->cu.fd < 0) {
			char bpath[sizeof(s->path) + 8];
			s_behind_path(s, bpath, sizeof(bpath));
			(void)unlink(bpath); /* a backlog of a state no longer current */
		}
		if (!s->as_is && s_meta_put(s, "version", SCHEMA_VERSION) != 0) {
			rc = sx_fail(s->w, "writing the version", err, errlen);
			goto fail;
		}
	}
	for (int i = 0; i < SX_READERS; i++)
		if ((rc = sx_connect(&s->r[i], s->path, 1, err, errlen)) != 0)
			goto fail;
	*out = s;
	return 0;
fail:
	s_free(s);
	return rc ? rc : CPT_EIO;
}

int
search_start(search_t *s, node_t *n, char *err, size_t errlen)
{
	int rc;

	assert(s != NULL && n != NULL && !s->readonly && !s->started);
	s->q = malloc(s->qcap * sizeof(*s->q));
	s->batch = malloc(SX_BATCH * sizeof(*s->batch));
	s->done = calloc(SX_DONE, sizeof(*s->done));
	if (s->q == NULL || s->batch == NULL || s->done == NULL) {
		snprintf(err, errlen, "search index: out of memory for the writer's queue");
		return CPT_ENOMEM;
	}
	for (int i = 0; i < 2; i++) {
		sx_file_t *f = i ? &s->over : &s->cu;
		char path[sizeof(s->path) + 8];
		if (f->fd >= 0)
			continue; /* the backlog kept at the last stop */
		s_file_path(s, i ? "over" : "behind", path, sizeof(path));
		/* Without them commits wait for the index when the ring is full
		 * (s_listener): slower, never wrong. An overflow file left by a
		 * crash is of a file "dirty" now, reconciled: emptied. */
		if ((f->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
			log_warnx("search", "cannot open %s: %s: commits will wait for the index",
			          path, strerror(errno));
	}
	/* From here the file may be behind the store: said durably before the
	 * first event is heard. */
	pthread_mutex_lock(&s->wlock);
	rc = s_exec(s->w, "PRAGMA synchronous=FULL", err, errlen);
	if (rc == 0 && s_meta_put(s, "state", "dirty") != 0)
		rc = sx_fail(s->w, "writing the state", err, errlen);
	if (rc == 0)
		rc = s_exec(s->w, "PRAGMA synchronous=NORMAL", err, errlen);
	pthread_mutex_unlock(&s->wlock);
	if (rc != 0)
		return rc;
	if (pthread_create(&s->thread, NULL, s_writer, s) != 0) {
		snprintf(err, errlen, "search index: cannot start the writer thread");
		return CPT_EIO;
	}
	s->started = 1;
	if ((rc = node_listen(n, s_listener, s)) != 0) {
		snprintf(err, errlen, "search index: no room for another commit listener");
		return rc;
	}
	s->node = n;
	return 0;
}

void
search_close(search_t **self_p)
{
	search_t *s;
	uint64_t seq;

	if (self_p == NULL || (s = *self_p) == NULL)
		return;
	*self_p = NULL;
	seq = 0;
	if (s->node) {
		/* What another process (the CLI) stored since the node's last
		 * poll is announced now, while we still listen; the sequence of
		 * that poll is what the file will say it holds. A write after it
		 * makes the next open catch up. */
		node_poll_store(s->node);
		seq = node_polled_seq(s->node);
		node_unlisten(s->node, s_listener, s);
	}
	if (s->started) {
		s->quit = 1;
		pthread_mutex_lock(&s->qlock);
		s->stop = 1;
		pthread_cond_signal(&s->qcond);
		pthread_cond_broadcast(&s->acond);
		pthread_mutex_unlock(&s->qlock);
		pthread_join(s->thread, NULL);
		if (s->need_recon)
			s->failed = 1; /* a reconciliation not done: "dirty" stays */
	}
	if (s->over.fd >= 0) {
		char path[sizeof(s->path) + 8];
		s_file_path(s, "over", path, sizeof(path));
		(void)unlink(path); /* its changes are in the backlog file now, or reconciled */
	}
	if (!s->readonly && !s->as_is && !s->failed) {
		char state[96];
		int n = snprintf(state, sizeof(state), "clean %llu",
		                 (unsigned long long)(s->node ? seq : s_store_seq(s->st)));
		/* What the writer left (a stop during a catch-up) is kept: the
		 * overflow and the ring after the backlog file, made durable
		 * before the state names it. */
		if (s_backlog(s) > 0) {
			sx_change_t c[256];
			int ok = s->cu.fd >= 0;
			size_t k;
			while (ok && s->over.rd < s->over.wr) {
				k = s_unspill(s, &s->over, c, 256);
				ok = k > 0 && s_spill(s, &s->cu, c, k) == 0;
			}
			for (size_t i = 0; ok && i < s->qn; i++) {
				const sx_change_t *q = &s->q[(s->qhead + i) % s->qcap];
				memset(&c[0], 0, sizeof(c[0])); /* no stray bytes in the file */
				c[0].kind = q->kind;
				memcpy(c[0].id, q->id, CPT_ID_LEN);
				memcpy(c[0].ref, q->ref, CPT_ID_LEN);
				c[0].flags = q->flags;
				ok = s_spill(s, &s->cu, &c[0], 1) == 0;
			}
			if (ok && fsync(s->cu.fd) == 0)
				snprintf(state + n, sizeof(state) - (size_t)n,
				         " behind %" PRIu64 " %" PRIu64, s->cu.rd, s->cu.wr);
			else
				state[0] = 0; /* "dirty" stays: reconciled at open */
			if (state[0])
				log_info("search",
				         "%" PRIu64
				         " changes not indexed yet: kept for the next start",
				         s_file_n(&s->cu));
		} else if (s->cu.fd >= 0) {
			char path[sizeof(s->path) + 8];
			s_behind_path(s, path, sizeof(path));
			(void)unlink(path);
		}
		if (state[0] && s_meta_put(s, "state", state) != 0)
			log_warnx("search", "cannot record the index's state: %s",
			          sqlite3_errmsg(s->w));
	}
	s_free(s);
}

int
search_rebuild(search_t *s, char *err, size_t errlen)
{
	size_t docs, wrong;
	int rc;

	assert(s != NULL && !s->readonly);
	err[0] = 0;
	pthread_mutex_lock(&s->wlock);
	/* "dirty" first: a crash after the emptying is caught up at open. */
	if (s_meta_put(s, "state", "dirty") != 0)
		rc = sx_fail(s->w, "writing the state", err, errlen);
	else
		rc = s_exec(s->w, "DELETE FROM docs; DELETE FROM fts; DELETE FROM pfts;", err,
		            errlen);
	if (rc == 0)
		rc = s_reconcile(s, 1, &docs, &wrong, err, errlen);
	pthread_mutex_unlock(&s->wlock);
	return rc;
}

int
search_verify(search_t *s, size_t *docs, size_t *wrong, char *err, size_t errlen)
{
	int rc;

	assert(s != NULL && !s->readonly);
	err[0] = 0;
	pthread_mutex_lock(&s->wlock);
	rc = s_reconcile(s, 0, docs, wrong, err, errlen);
	pthread_mutex_unlock(&s->wlock);
	return rc;
}

int
search_is_current(search_t *s)
{
	return s->current;
}

uint64_t
sx_wait_fresh(search_t *s, unsigned ms, int *mending)
{
	struct timespec until;
	uint64_t want, want_ov, lack;

	pthread_mutex_lock(&s->qlock);
	/* Every live change: the ring's and its overflow's (a catch-up's wait
	 * in the backlog file, and a search does not wait seconds for a
	 * hundred thousand of them). Each is first in first out, so a count
	 * reached is every change heard before. */
	want = s->rq_in;
	want_ov = s->ov_in;
	if (s->started && !s->stop && (s->rq_done < want || s->ov_done < want_ov)) {
		/* The writer's window (s_window) ends now. */
		s->hurry = 1;
		pthread_cond_signal(&s->qcond);
		cpt_deadline(&until, ms);
		while ((s->rq_done < want || s->ov_done < want_ov) && !s->stop)
			if (pthread_cond_timedwait(&s->acond, &s->qlock, &until) != 0)
				break; /* the time is up: answer from the index as it is */
	}
	lack = s_file_n(&s->cu) + (want > s->rq_done ? want - s->rq_done : 0) +
	       (want_ov > s->ov_done ? want_ov - s->ov_done : 0) + (uint64_t)s_mending(s);
	if (mending)
		*mending = s_mending(s);
	pthread_mutex_unlock(&s->qlock);
	return lack;
}

void
search_counts(search_t *s, uint64_t *heard, uint64_t *applied)
{
	pthread_mutex_lock(&s->qlock);
	*heard = s->heard;
	*applied = s->applied;
	pthread_mutex_unlock(&s->qlock);
}

void
search_set_window(search_t *s, unsigned ms, size_t max)
{
	assert(s != NULL);
	pthread_mutex_lock(&s->qlock);
	s->window_ms = ms;
	s->window_max = max;
	pthread_cond_signal(&s->qcond);
	pthread_mutex_unlock(&s->qlock);
}

void
search_set_quiet(search_t *s, unsigned ms, unsigned max_ms)
{
	assert(s != NULL && ms <= max_ms);
	pthread_mutex_lock(&s->qlock);
	s->quiet.min_ms = ms;
	s->quiet.max_ms = max_ms;
	pthread_cond_signal(&s->qcond);
	pthread_mutex_unlock(&s->qlock);
}

void
search_set_queue_bytes(search_t *s, size_t bytes)
{
	assert(s != NULL && !s->started && bytes >= sizeof(sx_change_t));
	s->qcap = bytes / sizeof(sx_change_t);
}

void
search_queue_stats(search_t *s, size_t *peak_bytes, size_t *bound_bytes, uint64_t *waits,
                   uint64_t *spilled)
{
	pthread_mutex_lock(&s->qlock);
	*peak_bytes = s->q_peak * sizeof(sx_change_t);
	*bound_bytes = s->qcap * sizeof(sx_change_t);
	*waits = s->q_waits;
	*spilled = s->spilled;
	pthread_mutex_unlock(&s->qlock);
}

uint64_t
search_backlog(search_t *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->qlock);
	n = s_backlog(s) + (uint64_t)s_mending(s);
	pthread_mutex_unlock(&s->qlock);
	return n;
}

uint64_t
search_deferred(search_t *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->qlock);
	n = s->deferred;
	pthread_mutex_unlock(&s->qlock);
	return n;
}

void
search_set_drain_max(search_t *s, size_t changes)
{
	s->drain_max = changes;
}

void
search_hold(search_t *s, int held)
{
	pthread_mutex_lock(&s->qlock);
	s->held = held;
	pthread_cond_signal(&s->qcond);
	pthread_cond_broadcast(&s->acond);
	pthread_mutex_unlock(&s->qlock);
}

/* ------------------------------------------------------------- readers */

sqlite3 *
sx_reader(search_t *s)
{
	sqlite3 *db = NULL;

	pthread_mutex_lock(&s->rlock);
	for (;;) {
		for (int i = 0; i < SX_READERS; i++)
			if (!s->r_busy[i]) {
				s->r_busy[i] = 1;
				db = s->r[i];
				break;
			}
		if (db)
			break;
		pthread_cond_wait(&s->rcond, &s->rlock);
	}
	pthread_mutex_unlock(&s->rlock);
	return db;
}

void
sx_reader_done(search_t *s, sqlite3 *db)
{
	pthread_mutex_lock(&s->rlock);
	for (int i = 0; i < SX_READERS; i++)
		if (s->r[i] == db)
			s->r_busy[i] = 0;
	pthread_cond_signal(&s->rcond);
	pthread_mutex_unlock(&s->rlock);
}
