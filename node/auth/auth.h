/*
 * auth — who someone is: accounts (key backups sealed under a password with
 * argon2id, the login back-off, device cookies), sessions (a table of
 * unlocked keys, each checked against the key state in the store at every
 * use) and a site's users (enrol, reset, disable, enable, edit, list: signed
 * events published through the node). What someone may do is node/event's
 * rule (one rule for the API and for ingest). Calls node/core and below;
 * called by node/http, node/daemon and node/cli.
 */
#ifndef COMPTOIR_AUTH_H
#define COMPTOIR_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "crypto/crypto.h"
#include "node/core/core.h"
#include "node/store/store.h"

/* ------------------------------------------- accounts (accounts.c) */

/* argon2id cost of key backups: libsodium's INTERACTIVE limits. */
#define ACCT_MAX_PASSWORD 1024
#define ACCT_MIN_PASSWORD 8 /* a password a person chooses (POST /api/me/password) */

/* Makes the body of a key-backup event: the seed sealed under a key derived
 * from password with argon2id. Waits for a free KDF slot (with priority, see
 * acct_backup_open). New reference, or NULL. */
json_t *acct_backup_make(const char *handle, const uint8_t seed[CPT_SEED_LEN],
                         const char *password);
/* Opens a key-backup body with password; the key is returned in sodium_malloc
 * memory (key_sign_destroy it). NULL with *rc = CPT_EAUTH on a wrong password,
 * CPT_EINVAL on a malformed body, CPT_EAGAIN when too many logins run at once.
 * At most two argon2id runs at once in the process; a caller with priority
 * (a known browser, a signed-in person) is given a free slot before the
 * others waiting. */
key_sign_t *acct_backup_open(const json_t *body, const char *password, int priority, int *rc);
/* For a login that names no account: waits for a KDF slot as a login would,
 * gives it back at once, then sleeps about as long as an argon2id run takes
 * here (measured on the real runs). Unknown handles then cost no KDF, and
 * answer in about the time a known one does. */
int acct_kdf_pause(void) CPT_WUR; /* 0, or CPT_EAGAIN as acct_backup_open would */
/* A random password of 4 groups of 5 letters and digits, "abcde-fghij-...". */
void acct_password_generate(char out[32]);

/*
 * Password guesses per account (one table per process, like the KDF slots it
 * protects). The first ACCT_FREE_FAILURES failures of a handle are free; each
 * further one makes the handle wait 2^(n-free) s, up to ACCT_MAX_BACKOFF_S,
 * before the next attempt. Handles that do not exist are counted the same
 * way, so a 429 tells nothing about which exist. A trusted attempt (a browser
 * holding a device cookie of this handle, or a signed-in person) is never
 * held back by the account's failures: a flood of guesses does not lock the
 * person out of their usual browser. Forgotten an hour after the last failure.
 */
#define ACCT_FREE_FAILURES 5
#define ACCT_MAX_BACKOFF_S 900
/* May handle be tried now? 1 (then call acct_login_done once), or 0 with
 * *retry_s, the seconds until it may. now_ms: wall clock. */
int acct_login_allow(const char *handle, int trusted, uint64_t now_ms, unsigned *retry_s) CPT_WUR;
/* The attempt allowed by acct_login_allow ended: outcome 1 the password was
 * right, -1 it was wrong, 0 neither (busy, disabled, error). */
void acct_login_done(const char *handle, int trusted, int outcome, uint64_t now_ms);
/* Forgets every account's failures (unit tests). */
void acct_login_reset(void);

/* The body of the newest key backup of key (the index of DB_BACKUPS, then
 * the event): a new reference, or NULL; *ts (when not NULL) gets its
 * timestamp. txn: a read transaction. */
json_t *acct_backup_load(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], uint64_t *ts);
/* Is rec (a user's key record) an admin of this site: its newest enrolment
 * is an admin's under site_name (the same site is the same name, PROTOCOL.md
 * 8.6), or, without a name, one signed by the key site? */
int acct_is_site_admin(const key_sign_t *site, const char *site_name, const json_t *rec);

/* Keeps the personal key of key (index_mine_derive: it opens the person's
 * own sealed state, PROTOCOL.md 17.2) in this node's DB_MINE_KEYS, so that
 * the node can show their read marks and send their digests while they are
 * away. Called when someone logs in here. 0 or a store error. */
int acct_mine_remember(store_t *st, const key_sign_t *key) CPT_WUR;

/* Device cookies (the trusted browsers above): a MAC of the handle under a
 * key derived from the site's signing key, so none is stored and they stay
 * valid across restarts. out gets ACCT_DEVICE_LEN chars and a NUL. */
#define ACCT_DEVICE_LEN 43
void acct_device_cookie(const key_sign_t *site, const char *handle, char out[ACCT_DEVICE_LEN + 1]);
/* Is cookie (may be NULL) a device cookie of handle from this site? */
int acct_device_check(const key_sign_t *site, const char *handle, const char *cookie);

/* ------------------------------------------------------ users (users.c) */

/* The roles a site gives its staff in their enrolment: a member, an admin
 * of the site, or management (sees the figures and the reports, is sent the
 * monthly workbook; admins see them too). */
enum { USERS_MEMBER = 0, USERS_ADMIN = 1, USERS_MANAGEMENT = 2 };
/* "member", "admin" or "management". */
const char *users_role_name(int role);

/* A site's staff accounts, for the CLI and the admin pages, on a node opened
 * here; each change is a signed event published through the node.
 * Each returns 0 or a CPT_ code with a message in err. */
int users_add(node_t *n, const char *handle, int admin, const char *name, const char *password,
              char *err, size_t errlen) CPT_WUR;
/* A new key for handle (the site cannot open the old one), the old revoked. */
int users_reset(node_t *n, const char *handle, const char *password, char *err,
                size_t errlen) CPT_WUR;
/* Revokes the handle's key everywhere; CPT_ESTATE when it is disabled already. */
int users_disable(node_t *n, const char *handle, char *err, size_t errlen) CPT_WUR;
/* Gives a disabled handle back its access: a revoked key stays revoked, so a
 * new key is enrolled with the same role and this password (as users_reset).
 * CPT_ESTATE when the handle is not disabled. */
int users_enable(node_t *n, const char *handle, const char *password, char *err,
                 size_t errlen) CPT_WUR;
/* Changes the display name (name: NULL leaves it, "" clears it) and the role
 * (admin: -1 leaves it, else a USERS_ role) of an active handle of this site:
 * one enrolment of its current key again, with the role and the name (the
 * site cannot sign the user's profile; node/index/profiles.c reads the name of an
 * enrolment as a write of the profile's "name"). CPT_EINVAL when name is
 * over EVT_MAX_FIELD bytes, CPT_ESTATE when the handle is disabled. */
int users_edit(node_t *n, const char *handle, const char *name, int admin, char *err,
               size_t errlen) CPT_WUR;
/* [{"handle", "site", "role", "disabled", "name"}], of this site or all. */
json_t *users_list(node_t *n, int this_site_only);

/*
 * The bodies of the revocations of key from effective (PROTOCOL.md 7.3):
 * vouch lists the 16-byte id prefixes of the events by key admitted here
 * dated before to, in pages of at most EVENT_VOUCH_MAX cut between two ms
 * (the first from 0, the last up to to); one body with an empty list when
 * there are none. A new array (json_decref it), or NULL when memory is
 * short or more than EVENT_VOUCH_MAX events share one ms. A user's
 * revocation uses to = min(effective, now - 7 days), a site's to = effective.
 */
json_t *users_revocations(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], uint64_t effective,
                          uint64_t to, const char *reason);

/* ---------------------------------------------------- sessions (sessions.c) */

#define SESS_TOKEN_LEN 43 /* base64url of 32 random bytes, no padding */

typedef struct sess_table sess_table_t;

/* What a request learns of its session; a copy, valid after the table lock. */
typedef struct sess_info {
	char handle[64];               /* who */
	uint8_t key[CPT_KEY_LEN];      /* their public key */
	int admin;                     /* admin of this site */
	char csrf[SESS_TOKEN_LEN + 1]; /* the token state-changing calls must send */
} sess_info_t;

/* What a session stays valid against, checked in the store at every use:
 * the key not revoked, nor the site that enrolled it before it did, and no
 * newer key backup (a password changed elsewhere) than the one it opened. */
typedef struct sess_anchor {
	uint8_t site[CPT_KEY_LEN]; /* the key of the site that enrolled the user's key */
	uint64_t enrol_ms;         /* when it did (the enrolment's HLC ms) */
	uint64_t backup_ts;        /* HLC timestamp of the key backup the login opened */
} sess_anchor_t;

/* The anchor of a session from the user's key record (its enrolling site
 * and time) and the key backup the login opened: 0, or -1 when the record
 * lacks them. */
int sess_anchor_of(const json_t *rec, uint64_t backup_ts, sess_anchor_t *a) CPT_WUR;

/*
 * A table of at most max_sessions sessions, idle for at most ttl_s, at most
 * per_person of them per handle (a new login closes that person's least
 * recently used one). With a store (else NULL: memory only, no checks), each
 * session has a record in DB_SESSIONS, keyed by a hash of the cookie token,
 * holding the seed sealed under a key derived from the token (which only the
 * browser keeps): after a restart the records are loaded sealed, and the
 * first request with the cookie opens its session again. The store must
 * outlive the table.
 */
sess_table_t *sess_new(store_t *st, size_t max_sessions, uint32_t ttl_s, uint32_t per_person);
/* Frees the table, wiping every seed in memory (the records stay: a restart
 * opens them again); safe on NULL. */
void sess_destroy(sess_table_t **self_p);
/* Opens a session for an unlocked key (ownership passes to the table). Writes
 * the cookie token into token. CPT_EFULL when the table is full. */
int sess_open(sess_table_t *t, key_sign_t **key, const char *handle, int admin,
              const sess_anchor_t *anchor, char token[SESS_TOKEN_LEN + 1],
              sess_info_t *info) CPT_WUR;
/* Looks a token up, checks the session is still valid in the store (closing
 * it when not), refreshes its idle time. 0 or CPT_ENOTFOUND. */
int sess_get(sess_table_t *t, const char *token, sess_info_t *info) CPT_WUR;
/* Signs with the session's key (under the table lock): node_publish for a session. */
int sess_publish(sess_table_t *t, const char *token, node_t *n, uint16_t kind, const json_t *body,
                 ingest_res_t *res) CPT_WUR;
/* Signs with the session's key without ingesting (node_sign): *out the
 * caller's to free. 0, CPT_ENOTFOUND (no such session) or node_sign's codes. */
int sess_sign(sess_table_t *t, const char *token, node_t *n, uint16_t kind, const json_t *body,
              uint8_t **out, size_t *out_len) CPT_WUR;
/* The session's anchor now takes the key backup of timestamp backup_ts
 * (UINT64_MAX: any, while the caller publishes a new one). */
int sess_rebase(sess_table_t *t, const char *token, uint64_t backup_ts) CPT_WUR;
/* Closes a session, wiping its key and deleting its record. */
void sess_close(sess_table_t *t, const char *token);
/* Closes every session of a handle (user disabled), but keep_token's when
 * not NULL (a password changed from that session). */
void sess_close_handle(sess_table_t *t, const char *handle, const char *keep_token);
/* Closes the sessions idle too long or no longer valid (see sess_anchor_t);
 * the node calls it every few seconds, so an unlocked seed does not outlive
 * its session in memory. */
void sess_sweep(sess_table_t *t);
/* Sessions open now (not idle too long). */
size_t sess_count(sess_table_t *t);
/* Is a key with this anchor still valid in the store (what sess_get checks)?
 * 1 yes, 0 no, -1 store error. txn: a read transaction. */
int sess_anchor_valid(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], const sess_anchor_t *a);
/* Copies the unlocked seed of a session (a secret: the caller wipes it) and
 * its anchor, to seal it again under a new API token. 0 or CPT_ENOTFOUND. */
int sess_seed(sess_table_t *t, const char *token, uint8_t seed[CPT_SEED_LEN],
              sess_anchor_t *anchor) CPT_WUR;

/* ------------------------------------------------ API tokens (tokens.c) */

/*
 * Personal API tokens: "cpt_" and 43 base64url chars (256 random bits),
 * shown once. The store keeps, in DB_TOKENS under a hash of the token, who
 * it acts as, its name, scopes, expiry and last use, and the person's seed
 * sealed under a key derived from the token (docs/ARCHITECTURE.md, "API
 * tokens"): the node signs for the person with no session and no password,
 * and nothing in the store opens the seed without the token.
 */
#define TOK_PREFIX "cpt_"
#define TOK_LEN    47 /* "cpt_" + 43 */
#define TOK_ID_LEN 16 /* hex chars of the public id: the first 8 bytes of the hash */

enum tok_scope {
	TOK_READ = 1,   /* every GET of the API the person may make */
	TOK_WRITE = 2,  /* posts, comments, reactions, edits and deletes of them */
	TOK_SPACES = 4, /* creating, editing and joining spaces, their members */
	TOK_ADMIN = 8,  /* the site's admin calls (admins only) */
};
#define TOK_ALL (TOK_READ | TOK_WRITE | TOK_SPACES | TOK_ADMIN)

/* What a request learns of its token (a copy). */
typedef struct tok_info {
	char handle[64];          /* who it acts as */
	uint8_t key[CPT_KEY_LEN]; /* their public key */
	int admin;                /* made by an admin (the admin scope needs it) */
	unsigned scopes;          /* enum tok_scope bits */
	char id[TOK_ID_LEN + 1];  /* the public id (lists, revocation, rate limits) */
} tok_info_t;

/* Scopes from a JSON array of names ("read", "write", "spaces", "admin"):
 * the bits, or 0 with a message in err naming what is wrong. */
unsigned tok_scopes_parse(const json_t *names, char *err, size_t errlen);
/* The names of scopes: a new JSON array. */
json_t *tok_scopes_json(unsigned scopes);
/* Is s shaped like a token ("cpt_" and 43 base64url chars)? */
int tok_shape_ok(const char *s);
/*
 * Makes a token for a person whose seed is unlocked now (a session): seals
 * seed under the token and writes the record. expires_ms: wall ms, 0 never.
 * out gets the token (shown once), view (when not NULL) the record as
 * tok_list shows it. 0, CPT_EINVAL (name empty or over 100 bytes, no scope,
 * admin scope for a non-admin) or a store error.
 */
int tok_create(store_t *st, const uint8_t seed[CPT_SEED_LEN], const char *handle, int admin,
               const sess_anchor_t *anchor, const char *name, unsigned scopes, uint64_t expires_ms,
               char out[TOK_LEN + 1], json_t **view) CPT_WUR;
/* Looks token up: 0 with info when it exists, has not expired at now_ms and
 * its key is still valid (not revoked, nor its enrolling site before);
 * CPT_ENOTFOUND for any other token (malformed, unknown, revoked, expired),
 * CPT_EIO when the store fails. Records the last use (at most once a minute). */
int tok_check(store_t *st, const char *token, uint64_t now_ms, tok_info_t *info) CPT_WUR;
/* Signs body as kind with the token's person's key (opened for this call
 * only) and ingests it: node_publish's codes, CPT_ENOTFOUND as tok_check. */
int tok_publish(store_t *st, const char *token, node_t *n, uint16_t kind, const json_t *body,
                ingest_res_t *res) CPT_WUR;
/* Signs without ingesting (node_sign): *out the caller's to free. */
int tok_sign(store_t *st, const char *token, node_t *n, uint16_t kind, const json_t *body,
             uint8_t **out, size_t *out_len) CPT_WUR;
/* The tokens of key (all when key is NULL), newest first: [{"id", "name",
 * "handle", "scopes", "created", "expires", "last_used"}], never a secret. */
json_t *tok_list(store_t *st, const uint8_t *key);
/* Revokes (deletes) the token of public id, when it is key's (any when key
 * is NULL: the CLI). 0, CPT_ENOTFOUND or a store error. */
int tok_revoke(store_t *st, const char *id, const uint8_t *key) CPT_WUR;

/* ------------------------------------------ service accounts (users.c) */

/*
 * Service accounts (bots). users_add_bot makes one for site IT: a key of
 * its own enrolled with the role "bot" (shown as a bot wherever its posts
 * go) and no password anyone knows, so it never logs in; its seed is kept
 * here only sealed to the key of owner, a person of this site, in DB_BOTS,
 * so that the owner, logged in, makes and revokes the bot's API tokens.
 * 0, CPT_EINVAL (handle), CPT_EEXIST, CPT_ENOTFOUND (no such owner here) or
 * an error, with err.
 */
int users_add_bot(node_t *n, const char *handle, const char *name, const char *owner, char *err,
                  size_t errlen) CPT_WUR;
/* The bots of owner (NULL: every bot of this site): [{"handle", "owner",
 * "name", "key", "created", "disabled"}]. A new array, NULL on a store error. */
json_t *users_bots(store_t *st, const char *owner);
/*
 * Makes an API token for the bot handle, owned by the person whose seed
 * owner_seed is (unlocked by their session): opens the bot's seed with it
 * and seals it under the new token (tok_create; never the admin scope).
 * 0, CPT_ENOTFOUND (no such bot of theirs), CPT_EINVAL (as tok_create) or
 * an error. out and view as tok_create.
 */
int users_bot_token(store_t *st, const uint8_t owner_seed[CPT_SEED_LEN], const char *owner,
                    const char *handle, const char *name, unsigned scopes, uint64_t expires_ms,
                    char out[TOK_LEN + 1], json_t **view) CPT_WUR;
/* The key of the bot handle when owner owns it (owner NULL: any owner): 0
 * or CPT_ENOTFOUND. For listing and revoking its tokens (tok_list, tok_revoke). */
int users_bot_key(store_t *st, const char *owner, const char *handle,
                  uint8_t key[CPT_KEY_LEN]) CPT_WUR;

#endif
