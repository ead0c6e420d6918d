/*
 * The registry of derived indexes: one table, in the order the indexes'
 * hooks run. Insert, redaction, revocation, reindex (index_drop_all) and
 * verify (index_registry) all go through it, so a new index is one entry
 * here and its file. The base indexes (base.c) are listed for reindex and
 * verify; node/event writes them itself, before the hooks, since every
 * other index reads them.
 */
#include <assert.h>

#include "node/index/index_internal.h"

/* The flat databases of schema 8 (DB_*_V8) as DB_POSTS_V1: empty since the
 * step to schema 9 split them, emptied by a reindex, compared (empty) by
 * verify. */
static const enum store_db s_base[] = {DB_ORDER, DB_BY_AUTHOR, DB_BY_REF, DB_BY_AUTHOR_V8};
static const enum store_db s_tomb[] = {DB_TOMBSTONES};
static const enum store_db s_keys[] = {DB_KEYS, DB_REVOKED, DB_HANDLES};
static const enum store_db s_backups[] = {DB_BACKUPS};
/* DB_FEED_V7 and DB_SPACE_FEED_V7 as DB_POSTS_V1 (empty since schema 8). */
static const enum store_db s_posts[] = {DB_POSTS_V1, DB_FEED, DB_REACTIONS, DB_FEED_V7};
static const enum store_db s_profiles[] = {DB_PROFILES};
static const enum store_db s_mentions[] = {DB_MENTIONS};
/* DB_BUCKETS_V5 as DB_POSTS_V1: empty since its schema step, emptied by a
 * reindex, compared (empty) by verify. */
static const enum store_db s_buckets[] = {DB_BUCKETS_V5, DB_BUCKETS_L3, DB_BUCKETS_L4,
                                          DB_BUCKETS_L5, DB_BUCKETS_L6, DB_BUCKETS_L7};
static const enum store_db s_notify[] = {DB_NOTIFY, DB_NOTIFY_BY};
static const enum store_db s_announce[] = {DB_ANNOUNCE};
static const enum store_db s_mine[] = {DB_MINE, DB_MINE_V8};
static const enum store_db s_follows[] = {DB_SPACE_FOLLOWS};
static const enum store_db s_blobrefs[] = {DB_BLOB_REFS};
static const enum store_db s_spaces[] = {
    DB_SPACE_GOV, DB_SPACE_ITEMS, DB_SPACES,        DB_MY_SPACES,    DB_SPACE_FEED,
    DB_OPENED,    DB_SITE_SEALS,  DB_SPACE_FEED_V7, DB_SPACE_GOV_V8, DB_SPACE_ITEMS_V8};

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define K(k) INDEX_KIND(k)

static int
s_reactions_rebuild(store_txn_t *txn)
{
	return ix_reactions_build(txn);
}

static int
s_buckets_rebuild(store_txn_t *txn)
{
	return bk_rebuild(txn);
}

/* Mentions before posts, as the code this table replaced: neither reads
 * the other's databases, so the order changes no byte. */
static const index_def_t s_registry[] = {
    {"base", s_base, N(s_base), 0, NULL, NULL, NULL},
    {"tombstones", s_tomb, N(s_tomb), K(EVT_REDACT), ix_tombstones_added, ix_tombstones_removed,
     NULL},
    {"keys", s_keys, N(s_keys), K(EVT_SITE_CERT) | K(EVT_ENROL) | K(EVT_REVOKE), ix_keys_added,
     ix_keys_removed, NULL},
    {"backups", s_backups, N(s_backups), K(EVT_KEY_BACKUP), ix_backups_changed, ix_backups_changed,
     NULL},
    {"mentions", s_mentions, N(s_mentions), K(EVT_POST) | K(EVT_COMMENT), ix_mentions_added,
     ix_mentions_removed, NULL},
    {"posts", s_posts, N(s_posts), K(EVT_POST) | K(EVT_COMMENT) | K(EVT_REACTION) | K(EVT_EDIT),
     ix_posts_added, ix_posts_removed, s_reactions_rebuild},
    /* After posts (a post's view is placed there) and keys (the records a
     * fold reads). */
    {"spaces", s_spaces, N(s_spaces),
     K(EVT_SITE_CERT) | K(EVT_ENROL) | K(EVT_REVOKE) | K(EVT_POST) | K(EVT_SPACE) |
         K(EVT_SPACE_MEMBER) | K(EVT_SPACE_KEY) | K(EVT_SEALED),
     ix_spaces_added, ix_spaces_removed, NULL},
    {"profiles", s_profiles, N(s_profiles), K(EVT_PROFILE), ix_profiles_changed,
     ix_profiles_changed, NULL},
    {"notify", s_notify, N(s_notify), K(EVT_POST) | K(EVT_COMMENT) | K(EVT_REACTION),
     ix_notify_added, ix_notify_changed, ix_notify_rebuild},
    /* After notify and spaces: a change of a register computes again the
     * groups of the space's posts (DB_SPACE_FEED) for its author. */
    {"follows", s_follows, N(s_follows), K(EVT_FOLLOW), ix_follows_changed, ix_follows_changed,
     ix_follows_rebuild},
    {"announce", s_announce, N(s_announce), K(EVT_ANNOUNCE), ix_announce_added, ix_announce_removed,
     NULL},
    {"mine", s_mine, N(s_mine), K(EVT_MINE), ix_mine_added, ix_mine_removed, NULL},
    {"blob refs", s_blobrefs, N(s_blobrefs), K(EVT_FILE) | K(EVT_SEALED), ix_blobrefs_added,
     ix_blobrefs_removed, NULL},
    {"buckets", s_buckets, N(s_buckets), 0, NULL, NULL, s_buckets_rebuild},
};

const index_def_t *
index_registry(size_t *n)
{
	*n = N(s_registry);
	return s_registry;
}

/* Does index d listen to kind? */
static int
s_listens(const index_def_t *d, uint16_t kind)
{
	return kind < 64 && (d->kinds & INDEX_KIND(kind)) != 0;
}

int
index_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	int rc;

	assert(ix != NULL && txn != NULL && e != NULL && e->ev != NULL && e->id != NULL);
	for (size_t i = 0; i < N(s_registry); i++)
		if (s_registry[i].added && s_listens(&s_registry[i], e->ev->kind) &&
		    (rc = s_registry[i].added(ix, txn, e)) != 0)
			return rc;
	return 0;
}

int
index_removed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	int rc;

	assert(ix != NULL && txn != NULL && e != NULL && e->ev != NULL && e->id != NULL);
	for (size_t i = 0; i < N(s_registry); i++)
		if (s_registry[i].removed && s_listens(&s_registry[i], e->ev->kind) &&
		    (rc = s_registry[i].removed(ix, txn, e)) != 0)
			return rc;
	return 0;
}

int
index_drop_all(store_txn_t *txn)
{
	int rc;

	for (size_t i = 0; i < N(s_registry); i++)
		for (size_t j = 0; j < s_registry[i].n_dbs; j++)
			if ((rc = store_drop(txn, s_registry[i].dbs[j])) != 0)
				return rc;
	return 0;
}
