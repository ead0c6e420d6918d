/*
 * Shared by the files of node/index/: the indexes' functions the registry
 * table names, and what one index asks of another (a new enrolment rebuilds
 * profiles and the posts showing a handle). Not for other folders.
 */
#ifndef COMPTOIR_INDEX_INTERNAL_H
#define COMPTOIR_INDEX_INTERNAL_H

#include "node/index/index.h"

/* envelopes.c: whether id's reference number is the envelope number this
 * transaction just gave it, with nothing keyed under it since (nothing in
 * DB_BY_REF, DB_REACTIONS or DB_NOTIFY_BY): a post being ingested that
 * nothing referred to before. 0 when the memo of numbers does not say so
 * (index_ref_memo_begin): then look. */
int index_ref_fresh(store_txn_t *txn, const uint8_t id[CPT_ID_LEN]);

/* envelopes.c: frees the memo of reference numbers (index_ctx_release). */
void ix_nums_free(index_ctx_t *ix);
/* base.c: frees the cache of bodies parsed (index_ctx_release). */
void ix_bodies_free(index_ctx_t *ix);

/* posts.c: the view of post id from the post and what refers to it, in
 * DB_FEED under the post's (ts, id). have/have_body: the post just decoded
 * and parsed (no reload), or its header alone when it just left (the view to
 * delete is found by its timestamp); both NULL: read from the store. */
int ix_post_rebuild(index_ctx_t *ix, store_txn_t *txn, const uint8_t id[CPT_ID_LEN]) CPT_WUR;
int ix_post_rebuild_ev(index_ctx_t *ix, store_txn_t *txn, const uint8_t id[CPT_ID_LEN],
                       const evt_t *have, const json_t *have_body) CPT_WUR;
/* posts.c: a post view's "reactions" from the registers of post (DB_REACTIONS):
 * {name: authors with it on}, names in byte order. A new reference, or NULL
 * when out of memory. */
json_t *ix_reaction_counts(store_txn_t *txn, const uint8_t post[CPT_ID_LEN]);
/* views.c: stores view (a post view as index_view_json makes it, or as
 * index_view_lean reads it) under key in db (DB_FEED or DB_SPACE_FEED) as
 * a record: only its "author", "comments", "edited", and "text" when
 * edited. over: the caller found key in this transaction (a view rewritten
 * in place: store_put_over). 0 or a store error. */
int ix_view_put(store_txn_t *txn, enum store_db db, const void *key, size_t klen,
                const json_t *view, int over) CPT_WUR;
/* views.c: the same record from its fields: the author's handle (NULL:
 * none), the count of comments, whether some reaction is on, and when
 * edited the edit's ms and text (any JSON value, written as compact JSON). */
int ix_view_put_rec(store_txn_t *txn, enum store_db db, const void *key, size_t klen,
                    const char *handle, uint64_t comments, int reacted, int edited,
                    uint64_t edit_ms, const json_t *text) CPT_WUR;
/* posts.c: the views of every post of key (they show its handle). */
int ix_posts_of_rebuild(index_ctx_t *ix, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN]) CPT_WUR;
/* posts.c: every reaction register, from DB_BY_REF (schema 3). */
int ix_reactions_build(store_txn_t *txn) CPT_WUR;
/* posts.c: the hooks of the posts index (registry.c). */
int ix_posts_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;
int ix_posts_removed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;

/* spaces.c: where the view of post id (ev, its body: opened when sealed)
 * goes: 0 the company-wide feed (no "space"), 1 its space's feed (space
 * set: it counts there, PROTOCOL.md 16.9), -1 nowhere. */
int ix_space_place(index_ctx_t *ix, store_txn_t *txn, const evt_t *ev, const uint8_t id[CPT_ID_LEN],
                   const json_t *body, uint8_t space[CPT_ID_LEN]);
/* spaces.c: whether a comment, reaction or edit (ev, id; body: its opened
 * body) of a post of space counts on it (PROTOCOL.md 16.9): its author a
 * member of space at its position, sealed exactly when space is private.
 * 1 counts, 0 not. */
int ix_space_ref_in(index_ctx_t *ix, store_txn_t *txn, const uint8_t space[CPT_ID_LEN],
                    const evt_t *ev, const uint8_t id[CPT_ID_LEN], const json_t *body);
/* spaces.c: the same with the post's place looked up: 1 counts (a
 * company-wide post, or one not here yet: its view counts again when it
 * comes), 0 not, or a negative store error. */
int ix_space_ref_counts(index_ctx_t *ix, store_txn_t *txn, const uint8_t post[CPT_ID_LEN],
                        const evt_t *ev, const uint8_t id[CPT_ID_LEN], const json_t *body);
/* posts.c: the reaction registers and the view of post, again (its
 * space's membership changed: who counts on it may have). */
int ix_post_refs_rebuild(index_ctx_t *ix, store_txn_t *txn, const uint8_t post[CPT_ID_LEN]) CPT_WUR;
/* spaces.c: the hooks of the spaces index, and its cached fold. */
int ix_spaces_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;
int ix_spaces_removed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;
void ix_spaces_cache_clear(index_ctx_t *ix);
void ix_spaces_cache_free(index_ctx_t *ix);

/* follows.c: the hook of the followers index (kind 16 events): the
 * author's register of the space named, and the posts it changes. */
int ix_follows_changed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;
/* follows.c: every register again from the follow events (DB_ORDER): a
 * store from before the index (schema 5). */
int ix_follows_rebuild(store_txn_t *txn) CPT_WUR;
/* follows.c: calls fn with the handle of each follower of space whose
 * register follows since before (ts, id): who hears of that post of the
 * space (space_post, PROTOCOL.md 17.3); a person with two keys that follow
 * may be named twice. 0 or a store error. */
int ix_space_followers(index_ctx_t *ix, store_txn_t *txn, const uint8_t space[CPT_ID_LEN],
                       uint64_t ts, const uint8_t id[CPT_ID_LEN],
                       void (*fn)(const char *who, void *arg), void *arg) CPT_WUR;

/* mentions.c: calls fn for each distinct @handle of text (at most 32). */
void ix_each_mention(const char *text, void (*fn)(const char *h, void *arg), void *arg);
int ix_mentions_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;
int ix_mentions_removed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;

/* notify.c: the hooks of the notifications index, and its rebuild from
 * the posts (schema 4). */
int ix_notify_changed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;
/* As ix_notify_changed, for an event being added: a post's groups are
 * computed from e->body, not from the store's bytes parsed again. */
int ix_notify_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;
int ix_notify_rebuild(store_txn_t *txn) CPT_WUR;
/* base.c: schema 13, DB_BY_REF again under the targets' reference
 * numbers. */
int ix_by_ref_renumber(store_txn_t *txn) CPT_WUR;
/* notify.c: schema 13, DB_NOTIFY_BY again from DB_NOTIFY under the groups'
 * reference numbers. */
int ix_notify_by_renumber(store_txn_t *txn) CPT_WUR;
/* notify.c: the announce events by time (DB_ANNOUNCE). */
int ix_announce_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;
int ix_announce_removed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;

/* mine.c: each person's kind 17 events (DB_MINE). */
int ix_mine_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;
int ix_mine_removed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;

/* profiles.c: the profile of handle, from the events of every key its
 * owning site enrolled for it. */
int ix_profile_rebuild_handle(index_ctx_t *ix, store_txn_t *txn, const char *handle) CPT_WUR;
int ix_profiles_changed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;

/* blobrefs.c: the events naming each blob (DB_BLOB_REFS). */
int ix_blobrefs_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;
int ix_blobrefs_removed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;

/* backups.c */
int ix_backups_changed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;

/* keys.c: the trust records (DB_KEYS, DB_REVOKED, DB_HANDLES). */
int ix_keys_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;
int ix_keys_removed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;

/* keys.c: the handle's enrolments, [[ts, id hex, key hex, by hex], ...]
 * sorted by (ts, id): a new reference (an empty array when none). The site
 * of the first enrolment owns the handle federation-wide; its newest
 * enrolment of the handle names the current key. */
json_t *ix_handle_enrols(store_txn_t *txn, const char *handle);

/* tombstones.c */
int ix_tombstones_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;
int ix_tombstones_removed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e) CPT_WUR;

#endif
