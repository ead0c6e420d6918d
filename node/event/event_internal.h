/*
 * Shared by the files of node/ that make up the ingest path (ingest.c,
 * views.c). Not for other modules.
 */
#ifndef COMPTOIR_INGEST_INTERNAL_H
#define COMPTOIR_INGEST_INTERNAL_H

#include "node/node.h"

enum { KEY_UNKNOWN = 0, KEY_ROOT, KEY_SITE, KEY_USER, KEY_REVOKED, KEY_EXPIRED };

int ig_load_event(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], evt_t *ev);
/* The parsed body (new reference), NULL when redacted. */
json_t *ig_body(const evt_t *ev);
int ig_hex_field(const json_t *obj, const char *name, uint8_t out[32]);
uint64_t ig_revoked_at(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN]);
int ig_key_status(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], uint64_t ts_ms,
		  json_t **info);
int ig_redactable(unsigned kind);
/* DB_PENDING_IDS follows DB_PENDING: adds (or removes) the entry of the
 * DB_PENDING key k = (awaited key, id). 0 or an LMDB error. */
int ig_pending_id(store_t *st, store_txn_t *txn, const uint8_t k[CPT_KEY_LEN + CPT_ID_LEN], int add);
/* Is event id waiting in DB_PENDING (for any key)? */
int ig_is_pending(store_t *st, store_txn_t *txn, const uint8_t id[CPT_ID_LEN]);
/* Empties the key-record cache (ingest.c): after any change of trust state. */
void ig_cache_clear(ingest_ctx_t *ctx);
/* The handle of a user key, through the cache; 0 or CPT_ENOTFOUND. */
int ig_handle_of(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], char out[64]);

/* views.c: body validation by kind (0 or CPT_EINVAL with why). */
int vw_validate(const evt_t *ev, const json_t *body, char *why, size_t whylen);
/* views.c: view updates; each returns 0 or an LMDB error. */
int vw_site_cert(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const json_t *body,
		 const uint8_t id[CPT_ID_LEN]);
int vw_enrol(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const json_t *body,
	     const uint8_t id[CPT_ID_LEN]);
/* The enrolment id (its body) left the store: out of its handle's list, and
 * the key's record rebuilt from the enrolments that remain (none: deleted). */
int vw_unenrol(ingest_ctx_t *ctx, store_txn_t *txn, const json_t *body, const uint8_t id[CPT_ID_LEN]);
/* Adds (or removes) the mentions of ev's text; body is ev's parsed body when
 * the caller has it, else NULL. */
int vw_mentions(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const json_t *body,
		const uint8_t id[CPT_ID_LEN], int add);
int vw_post_rebuild(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t id[CPT_ID_LEN]);
int vw_post_rebuild_ev(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], const evt_t *ev,
		       const json_t *body);
/* A comment or reaction (ev, body, id) on post came: the reaction register
 * and the post view's counts, by difference. Edits rebuild the view. */
int vw_post_ref_added(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const json_t *body,
		      const uint8_t id[CPT_ID_LEN], const uint8_t post[CPT_ID_LEN]);
/* The reaction registers of post, from its reactions still stored (after
 * one went). */
int vw_reactions_rebuild(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t post[CPT_ID_LEN]);
/* Every reaction register, from DB_BY_REF (store schema 2 -> 3). */
int vw_reactions_build(store_t *st, store_txn_t *txn);
int vw_profile_rebuild(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t author[CPT_KEY_LEN]);
int vw_backup_rebuild(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t author[CPT_KEY_LEN]);

#endif
