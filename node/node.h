/*
 * node — one Comptoir site: the LMDB store, the single ingest path, the
 * views, local accounts and sessions, the HTTP API and the CLI. Used by
 * node/main.c and the tests; sync/ never includes it.
 */
#ifndef COMPTOIR_NODE_H
#define COMPTOIR_NODE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config/config.h"
#include "crypto/crypto.h"
#include "node/event/event.h"
#include "node/index/index.h"
#include "node/query/query.h"
#include "node/store/store.h"
#include "sync/sync.h"

/* -------------------------------------------------------------- accounts */

/* argon2id cost of key backups: libsodium's INTERACTIVE limits. */
#define ACCT_MAX_PASSWORD 1024
#define ACCT_MIN_PASSWORD 8 /* a password a person chooses (POST /api/me/password) */

/* Makes the body of a key-backup event: the seed sealed under a key derived
 * from password with argon2id. Waits for a free KDF slot (with priority, see
 * acct_backup_open). New reference, or NULL. */
json_t *acct_backup_make(const char *handle, const uint8_t seed[CPT_SEED_LEN], const char *password);
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

/* Device cookies (the trusted browsers above): a MAC of the handle under a
 * key derived from the site's signing key, so none is stored and they stay
 * valid across restarts. out gets ACCT_DEVICE_LEN chars and a NUL. */
#define ACCT_DEVICE_LEN 43
void acct_device_cookie(const key_sign_t *site, const char *handle, char out[ACCT_DEVICE_LEN + 1]);
/* Is cookie (may be NULL) a device cookie of handle from this site? */
int acct_device_check(const key_sign_t *site, const char *handle, const char *cookie);

/* ------------------------------------------------------------------ node */

typedef struct node node_t;

/* A change the node announces (to SSE listeners, and later to peers). */
typedef struct node_change {
	uint64_t seq;            /* increasing number of this change */
	uint16_t kind;           /* event kind */
	uint8_t id[CPT_ID_LEN];  /* the event */
	uint8_t ref[CPT_ID_LEN]; /* the post it refers to, or zeros */
	int has_ref;             /* ref is set */
} node_change_t;

/* Opens the node of data directory dir: config dir/comptoir.yaml, keys under
 * dir/keys, the store. Does not start HTTP. err gets a message naming the file. */
int node_open(node_t **out, const char *dir, char *err, size_t errlen) CPT_WUR;
void node_close(node_t **self_p);

store_t *node_store(node_t *n);
const cfg_t *node_cfg(node_t *n);
const key_sign_t *node_site_key(node_t *n);
ingest_ctx_t *node_ingest_ctx(node_t *n);

/* Ingests n envelopes through the single path and commits them durably before
 * returning (group commit with concurrent callers). res[i] per event. */
int node_submit(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count,
		ingest_res_t *res) CPT_WUR;
/* The same for events received from a peer: the sync engine relays them
 * itself, so they are not announced to it again. */
int node_submit_from_peer(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count,
			  ingest_res_t *res) CPT_WUR;
/* The same, for a batch whose signatures the verification pool checked:
 * verified[i] set means envelope i decoded and its signature is valid;
 * bodies (or NULL) the bodies it parsed (vpool_verify), borrowed. */
int node_submit_verified(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count,
			 const uint8_t *verified, json_t *const *bodies, ingest_res_t *res) CPT_WUR;
/* The node's signature-checking pool while it runs, else NULL. */
vpool_t *node_vpool(node_t *n);
/* The peer batch writer while the sync engine runs, else NULL. */
struct fed_writer *node_fed_writer(node_t *n);
/* A revocation was stored: links are re-checked (no-op when sync is off). */
void node_trust_changed(node_t *n);
/* The state of every peer link (empty when sync is off); returns how many.
 * to_send is what the engine has queued, or, while the link is down or not
 * yet reconciled, the events stored here since the peer was last in step
 * when that is more (an upper bound: daemon.c, unsent_t); 0 for a revoked
 * peer, and for every peer when this site is revoked. */
size_t node_peers(node_t *n, sync_peer_status_t *out, size_t max);
/* A peer link as /api/status and status.json show it (docs/API.md): its
 * "state" (connected, unreachable, refused, revoked, expired), "title" when
 * its certificate has one, eta_s, the seconds its backlog still needs at the
 * current rate. New reference, or NULL. node_peers_json: every peer. */
json_t *node_peer_json(node_t *n, const sync_peer_status_t *p);
json_t *node_peers_json(node_t *n);
/* Adds to a status object what the node knows of the federation: "title"
 * and "revoked" of this site, "sites" (fed_sites) and "peers". */
void node_status_json(node_t *n, json_t *status);

/* Signs body as kind by author with the next HLC timestamp, then submits it.
 * res->id is the event id. Returns 0 when the call ran (see res->rc). */
int node_publish(node_t *n, const key_sign_t *author, uint16_t kind, const json_t *body,
		 ingest_res_t *res) CPT_WUR;

/* Waits until a change newer than after exists or timeout_ms passes; copies
 * up to max changes newer than after into out and returns how many. Changes
 * older than the ring (1024) are lost: *lost is set, the caller resyncs. */
size_t node_changes(node_t *n, uint64_t after, node_change_t *out, size_t max, int timeout_ms,
		    int *lost);
/* The newest change number. */
uint64_t node_change_seq(node_t *n);

/* Counters for /metrics and status. */
typedef struct node_stats {
	uint64_t started_ms;        /* when the node started */
	uint64_t ingested;          /* events stored */
	uint64_t rejected;          /* events refused */
	uint64_t rejected_by[32];   /* events refused, by -CPT_ code */
	uint64_t pending;           /* events put aside */
	uint64_t http_requests[6];  /* by status class: 1xx..5xx, index 1..5 */
	uint64_t logins_ok;         /* successful logins */
	uint64_t logins_failed;     /* failed logins */
} node_stats_t;
void node_stats(node_t *n, node_stats_t *out);
void node_count_http(node_t *n, unsigned status);
void node_count_login(node_t *n, int ok);

/* Runs the node in the foreground until SIGTERM or SIGINT: HTTP, and later
 * sync. SIGHUP reloads the config when it is valid. Returns an exit code. */
int node_run(node_t *n);

/* --------------------------------------------------------------- users */

/* A site's staff accounts (node/users.c), for the CLI and the admin pages.
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
 * (admin: -1 leaves it, 0 member, 1 admin) of an active handle of this site:
 * one enrolment of its current key again, with the role and the name (the
 * site cannot sign the user's profile; views.c reads the name of an
 * enrolment as a write of the profile's "name"). CPT_EINVAL when name is
 * over EVT_MAX_FIELD bytes, CPT_ESTATE when the handle is disabled. */
int users_edit(node_t *n, const char *handle, const char *name, int admin, char *err,
	       size_t errlen) CPT_WUR;
/* [{"handle", "site", "role", "disabled", "name"}], of this site or all. */
json_t *users_list(node_t *n, int this_site_only);

/* ------------------------------------------------------------ federation */

/* The thread that commits batches from peers once verified (ops.put):
 * started before the sync engine, destroyed after it. */
typedef struct fed_writer fed_writer_t;
fed_writer_t *fed_writer_new(node_t *n);
/* Commits what is queued, then stops; safe on NULL. */
void fed_writer_destroy(fed_writer_t **self_p);
/* Fills ops with the store functions the sync engine calls on node n. */
void fed_sync_ops(node_t *n, sync_ops_t *ops);
/* The peers this site dials (config, then `peer add`); returns how many. */
size_t fed_peers(node_t *n, sync_peer_conf_t *out, size_t max);
/* Records a peer this site dials. */
int fed_peer_add(node_t *n, const uint8_t site_key[CPT_KEY_LEN], const char *endpoint,
		 const char *site) CPT_WUR;
/* The watermark of what a peer may lack (daemon.c, "waiting to send"):
 * events at or after the (ts, id) key from, and since when its link is
 * down (wall ms, 0 unknown). Kept in the peer's DB_PEERS record, beside
 * what `peer add` wrote. 0 or a CPT_/LMDB code; _marked: 0 or
 * CPT_ENOTFOUND when none was kept. fed_peer_keys: the keys of every
 * DB_PEERS record, up to max; returns how many. */
int fed_peer_mark(node_t *n, const uint8_t site_key[CPT_KEY_LEN], const uint8_t from[40],
		  uint64_t down_ms) CPT_WUR;
int fed_peer_marked(node_t *n, const uint8_t site_key[CPT_KEY_LEN], uint8_t from[40],
		    uint64_t *down_ms) CPT_WUR;
size_t fed_peer_keys(node_t *n, uint8_t (*out)[CPT_KEY_LEN], size_t max);
/* Every site certified here, by name: [{"site", "title" (when its
 * certificate has one), "key", "revoked", "expired", "self"}]. New
 * reference (an empty array on a store error). fed_site: the same object
 * for one site key, or NULL when no site certificate names it. */
json_t *fed_sites(node_t *n);
json_t *fed_site(node_t *n, const uint8_t key[CPT_KEY_LEN]);
/* Reads a "key: value" text file ("-" = stdin) into a JSON object; NULL with
 * "path:line: message" in err. */
json_t *fed_read_kv(const char *path, char *err, size_t errlen);

/* -------------------------------------------------------------- sessions */

#define SESS_TOKEN_LEN 43 /* base64url of 32 random bytes, no padding */

typedef struct sess_table sess_table_t;

/* What a request learns of its session; a copy, valid after the table lock. */
typedef struct sess_info {
	char handle[64];              /* who */
	uint8_t key[CPT_KEY_LEN];     /* their public key */
	int admin;                    /* admin of this site */
	char csrf[SESS_TOKEN_LEN + 1];/* the token state-changing calls must send */
} sess_info_t;

/* What a session stays valid against, checked in the store at every use:
 * the key not revoked, nor the site that enrolled it before it did, and no
 * newer key backup (a password changed elsewhere) than the one it opened. */
typedef struct sess_anchor {
	uint8_t site[CPT_KEY_LEN]; /* the key of the site that enrolled the user's key */
	uint64_t enrol_ms;         /* when it did (the enrolment's HLC ms) */
	uint64_t backup_ts;        /* HLC timestamp of the key backup the login opened */
} sess_anchor_t;

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
size_t sess_count(sess_table_t *t);

/* ------------------------------------------------------------------ http */

typedef struct http http_t;

/* Starts the HTTP API and UI on cfg->http for node n. NULL with err set. */
http_t *http_start(node_t *n, sess_table_t *sessions, char *err, size_t errlen);
void http_stop(http_t **self_p);
/* The port actually bound (for "127.0.0.1:0"). */
unsigned http_port(const http_t *h);
/* Checks the HTTP settings of cfg as http_start would, without listening:
 * the bind addresses, the TLS certificate and key (read, parsed, one the
 * other's), plain HTTP on an address that is not loopback. Warnings (a
 * certificate about to expire) are logged. 0, or CPT_ECONFIG with err
 * "file:line:column: what is wrong". */
int http_check(const cfg_t *cfg, char *err, size_t errlen) CPT_WUR;

/* -------------------------------------------------------------------- cli */

/* Entry point of the `comptoir` binary; returns the exit code. */
int cli_main(int argc, char **argv);

#endif
