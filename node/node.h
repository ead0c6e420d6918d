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
#include "node/store/store.h"
#include "sync/sync.h"

/* ----------------------------------------------------------------- store */

/* Opens the store of dir as store_open does (flags: STORE_CREATE), then
 * checks its schema: a new store gets the current one, an older one is moved
 * forward (node/index/schema.c), a newer one is refused. */
#define STORE_SCHEMA 3
int index_store_open(store_t **out, const char *dir, int flags, char *err, size_t errlen) CPT_WUR;

/* Reconciliation index (node/buckets.c): every DB_ORDER insert and delete
 * calls bk_update in the same transaction. Keys are DB_ORDER keys (40 bytes). */
int bk_update(store_t *st, store_txn_t *txn, const uint8_t key[40], int add) CPT_WUR;
/* The same changes gathered over a transaction and applied once at its end:
 * bk_acc_add per event, then bk_acc_flush (which empties it) before the
 * commit; bk_acc_reset drops them (the transaction was aborted). */
typedef struct bk_acc bk_acc_t;
bk_acc_t *bk_acc_new(void);
void bk_acc_free(bk_acc_t **self_p);
int bk_acc_add(bk_acc_t *a, const uint8_t key[40], int add) CPT_WUR;
int bk_acc_flush(bk_acc_t *a, store_t *st, store_txn_t *txn) CPT_WUR;
void bk_acc_reset(bk_acc_t *a);
/* Count and id sum of the events with lo <= key < hi (hi may be all 0xff). */
void bk_fingerprint(store_t *st, store_txn_t *txn, const uint8_t lo[40], const uint8_t hi[40],
		    uint64_t *count, uint8_t sum[32]);
/* The key of the event of rank r in (ts, id) order; 0 or CPT_ENOTFOUND. */
int bk_key_at(store_t *st, store_txn_t *txn, uint64_t r, uint8_t out[40]) CPT_WUR;
/* Up to k-1 bounds cutting the count events of [lo, hi) into k equal parts. */
size_t bk_split(store_t *st, store_txn_t *txn, const uint8_t lo[40], const uint8_t hi[40],
		uint64_t count, size_t k, uint8_t (*bounds)[40]);
/* Rebuilds the index from DB_ORDER. */
int bk_rebuild(store_t *st, store_txn_t *txn) CPT_WUR;

/* Signature checks on every core (node/verify.c). One caller at a time. */
typedef struct vpool vpool_t;
/* threads = 0: one per core but the caller's. NULL when memory is short. */
vpool_t *vpool_new(size_t threads);
void vpool_destroy(vpool_t **self_p);
/* Decodes and verifies n envelopes in parallel; ok[i] = 1 when envelope i
 * decoded and its signature is valid for fed. With bodies (else NULL), the
 * body of each verified envelope is parsed there too: bodies[i] a new
 * reference, NULL when none or not a JSON object (the writer then parses it
 * and says why). Blocks until all are done. */
void vpool_verify(vpool_t *p, const uint8_t *const *buf, const size_t *len, size_t n,
		  const uint8_t fed[CPT_FED_LEN], uint32_t max_body, uint8_t *ok, json_t **bodies);

/* --------------------------------------------------------------- repair */

/* What comptoir repair did (node/repair.c). */
typedef struct repair_report {
	char moved_to[4200]; /* where the damaged store was moved, "" when there was none */
	size_t sources;      /* damaged stores read (this one, and any left by an earlier repair) */
	size_t copies;       /* signed envelopes found in their bytes, copies included */
	size_t events;       /* distinct events among them */
	size_t stored;       /* stored again (or waiting for a certificate) */
	size_t refused;      /* refused by the ingest path: revoked or erased since */
	size_t damaged;      /* copies found damaged (a bad signature): no event */
	char why[128];       /* the first refusal's reason */
	size_t peers;        /* peers (comptoir peer add) kept */
	int peers_lost;      /* a damaged store's list of peers could not be read, and
	                        dir/peers.txt did not name them all (or was not there) */
} repair_report_t;

/*
 * Rebuilds the store of data directory dir, whose node must not be running:
 * dir/store is moved to dir/store.damaged-DATE (never deleted); the bytes of
 * every dir/store.damaged-* are scanned for envelopes of cfg's federation,
 * which go, once each, through the single ingest path into a new store
 * (built in dir/repair.tmp, then renamed to dir/store); the list of peers is
 * read from the damaged stores in a child process, and from dir/peers.txt
 * (the copy comptoir peer add writes). The config and keys are not
 * touched. Returns 0 or a CPT_ code with a message in err; out says what was
 * done in both cases.
 */
int repair_store(const char *dir, const cfg_t *cfg, repair_report_t *out, char *err,
                 size_t errlen) CPT_WUR;

/* ---------------------------------------------------------------- ingest */

/* What ingest needs to know of its site. */
typedef struct ingest_ctx {
	store_t *st;                    /* the store */
	uint8_t fed[CPT_FED_LEN];       /* federation id */
	uint8_t root[CPT_KEY_LEN];      /* root public key */
	uint32_t max_body;              /* body cap */
	uint32_t max_pending;           /* pending cap */
	uint64_t now_ms;                /* wall clock for the drift check, 0 = read it */
	int reindexing;                 /* events are already in DB_EVENTS: rebuilding views */
	json_t *const *bodies;          /* for one ingest_txn call: bodies[i] parsed by the pool
	                                   (vpool_verify), or NULL: parsed here */
	const uint8_t *verified;        /* for one ingest_txn call: verified[i] set when a
	                                   worker checked envelope i's signature; NULL = none */
	struct ig_cache *cache;         /* parsed key records (ingest.c); ingest_ctx_release */
	bk_acc_t *bk;                   /* reconciliation index changes, during ingest_txn */
} ingest_ctx_t;

/* The outcome of one event. */
typedef struct ingest_res {
	int rc;                  /* 0 stored, CPT_EEXIST already there, CPT_EPENDING, or an error */
	uint8_t id[CPT_ID_LEN];  /* the event id (when it decoded) */
	uint16_t kind;           /* its kind (when it decoded) */
	uint8_t ref[CPT_ID_LEN]; /* the event it refers to (comment, reaction, edit, redaction) */
	int has_ref;             /* ref is set */
	char why[128];           /* for a rejection: what was wrong */
} ingest_res_t;

/*
 * The single ingest path, inside a write transaction: decode, verify,
 * authorise, validate the body by kind, store, update every view. One bad
 * event never fails the others; res[i] says what became of buf[i].
 * Admitted pending events are stored too. Returns 0 or a store error (the
 * transaction must then be aborted; store_write() does so).
 */
int ingest_txn(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t *const *buf, const size_t *len,
	       size_t n, ingest_res_t *res) CPT_WUR;

/* Frees what an ingest context holds (its cache). */
void ingest_ctx_release(ingest_ctx_t *ctx);

/* Rebuilds every view from the events alone (comptoir reindex). */
int ingest_reindex(ingest_ctx_t *ctx, char *err, size_t errlen) CPT_WUR;

/* Verifies every stored event and compares the views with a rebuild made in a
 * scratch store; prints differences to stderr. Returns 0 when all is well. */
int ingest_verify_all(ingest_ctx_t *ctx, size_t *n_events, char *err, size_t errlen) CPT_WUR;

/* ----------------------------------------------------------------- views */

/* Is s a valid handle ([a-z0-9][a-z0-9._-]{0,31}) or site name ([a-z0-9][a-z0-9-]{0,62})? */
int vw_valid_handle(const char *s);
int vw_valid_site(const char *s);
/* Is s (len bytes) a valid site title, the name staff read ("Nantes plant"):
 * 1 to VW_MAX_TITLE bytes of UTF-8 without control characters? */
#define VW_MAX_TITLE 64
int vw_valid_title(const char *s, size_t len);

/* Sizes of what people write, in bytes of UTF-8: the one place they are set
 * (event validation, the API's checks, and GET /api/session for the UI). */
#define VW_MAX_TEXT  10000 /* a post, a comment, an edit */
#define VW_MAX_FIELD 200   /* a profile field (name, title, ...) */
#define VW_MAX_BIO   2000  /* the profile's "bio" */

/* Folds UTF-8 text for search into out (cap bytes, NUL-terminated): ASCII
 * and the Latin letters of U+00C0..U+017F lose case and accents ("Lefèvre"
 * gives "lefevre", "Æ" "ae"), combining accents (U+0300..U+036F) are
 * dropped, anything else is copied. The result is never longer than s. */
void vw_fold(const char *s, char *out, size_t cap);

/* Renders a post view as the API shows it (new reference), or NULL. With
 * children: also its newest VIEW_COMMENTS_PAGE comments ("comment_list",
 * oldest first) and "comments_before", the cursor of earlier ones or null. */
#define VIEW_COMMENTS_PAGE 50
json_t *view_post(store_t *st, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], int with_children);
/* A comment as the API shows it ({"id", "post", "author", "author_key",
 * "author_site", "author_name", "text", "created", "edited"}: the text is
 * the newest edit by its author), new reference, or NULL when id is not a
 * comment with its body. */
json_t *view_comment(store_t *st, store_txn_t *txn, const uint8_t id[CPT_ID_LEN]);

/* Figures for management over the last days (1..FIGURES_MAX_DAYS) before
 * now_ms (node/figures.c): per site (every certified site not revoked, and
 * any other home site of an author of the period), staff (enrolled, not disabled) and,
 * in the period, active staff (who posted, commented or reacted), posts,
 * comments and reactions; "exchange", comments and reactions by staff of one
 * site on posts of another; "weeks", the same per 7-day window ending now,
 * oldest first. A function of the event set. NULL when days is out of range
 * or on a store error. */
#define FIGURES_MAX_DAYS 366
json_t *view_figures(store_t *st, store_txn_t *txn, uint64_t now_ms, unsigned days);

/* Up to limit comments of post id, oldest first: the newest, or those
 * strictly before the (ts, id) cursor before40. next gets the cursor (80 hex)
 * of the oldest listed when earlier comments remain, else "". NULL on a
 * store error. */
json_t *view_comments(store_t *st, store_txn_t *txn, const uint8_t id[CPT_ID_LEN],
		      const uint8_t *before40, size_t limit, char next[81]);
/* Appends to the array out the reactions author has on (DB_REACTIONS).
 * Returns 0 or an LMDB error. */
int view_my_reactions(store_t *st, store_txn_t *txn, const uint8_t post[CPT_ID_LEN],
		      const uint8_t author[CPT_KEY_LEN], json_t *out);
/* The feed, newest first, before the cursor (NULL = from the top). Sets *next.
 * Post views (here and from view_post) carry, read now, "author_site" (the
 * author's home site) and "author_name" (their profile's name, or null). */
json_t *view_feed(store_t *st, store_txn_t *txn, const uint8_t *before40, size_t limit,
		  char next[81]);
/* A person's profile and identity by handle, or NULL. */
json_t *view_person(store_t *st, store_txn_t *txn, const char *handle);
/* Directory search: a substring of the handle, home site, name, title,
 * department, site, location or a skill, compared folded (vw_fold: case and
 * accents do not count). Disabled users are left out. */
json_t *view_people(store_t *st, store_txn_t *txn, const char *q, size_t limit);
/* The handle of a user key, copied into out (64 bytes); 0 or CPT_ENOTFOUND. */
int view_handle_of(store_t *st, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], char out[64]);
/* The key record (DB_KEYS) of a key, new reference, or NULL. */
json_t *view_key_info(store_t *st, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN]);
/* The key owning a handle; 0 or CPT_ENOTFOUND. */
int view_key_of(store_t *st, store_txn_t *txn, const char *handle, uint8_t key[CPT_KEY_LEN]);


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
 * over VW_MAX_FIELD bytes, CPT_ESTATE when the handle is disabled. */
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
