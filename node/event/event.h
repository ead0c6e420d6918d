/*
 * event — whether an event is accepted, and what it does: the single
 * ingest path (decode, verify, validate, authorise, store, indexes, then
 * what the kind does: admitting waiting events, purges, erasures), driven
 * by ONE TABLE OF KINDS (kinds.c: each kind's body rules, what it refers to,
 * who may sign it, whether it can be redacted, how it applies and how it is
 * removed). The rules of acceptance live here and only here (validate.c,
 * trust.c, pending.c, revoke.c, redact.c); the API asks them too (one rule,
 * two callers). Also reindex, verify and repair, which run every event
 * through the same path. Calls node/index and node/store; called by the
 * node core and the modules above it.
 */
#ifndef COMPTOIR_EVENT_H
#define COMPTOIR_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config/config.h"
#include "crypto/crypto.h"
#include "node/index/index.h"
#include "node/store/store.h"

/* ------------------------------------------------------ ingest (ingest.c) */

/* An event stored by a transaction other than as one of its own arrivals:
 * a waiting event admitted because its certificate or enrolment came, or a
 * held one whose time came (ingest_ctx_t.later). */
typedef struct ingest_later {
	uint8_t id[CPT_ID_LEN];  /* the event */
	uint64_t ts;             /* its timestamp */
	uint16_t kind;           /* its kind */
	uint8_t ref[CPT_ID_LEN]; /* the event it refers to, or zeros */
	int has_ref;             /* ref is set */
} ingest_later_t;

/* What ingest needs to know of its site. Set the fields, zero the rest;
 * ingest_ctx_release frees what it gathers. One thread at a time. */
typedef struct ingest_ctx {
	store_t *st;               /* the store (borrowed) */
	uint8_t fed[CPT_FED_LEN];  /* federation id */
	uint8_t root[CPT_KEY_LEN]; /* root public key */
	uint32_t max_body;         /* body cap */
	uint32_t max_pending;      /* pending cap */
	uint64_t now_ms;           /* wall clock for the drift check, 0 = read it */
	int reindexing;            /* events are stored already: rebuilding views */
	json_t *const *bodies;     /* for one ingest_txn call: bodies[i] parsed by the pool
	                              (vpool_verify), or NULL: parsed here; borrowed */
	const uint8_t *verified;   /* for one ingest_txn call: verified[i] set when a
	                              worker checked envelope i's signature; NULL = none */
	/* For one ingest_txn call, or NULL: returns 0 once verified[i] and
	 * bodies[i] are final (the pool still checks the batch while the
	 * transaction is built), or, when may_stop, CPT_EAGAIN to give the
	 * transaction up (ingest_txn returns it, having stored nothing that
	 * commits). */
	int (*await)(void *arg, size_t i, int may_stop);
	void *await_arg;      /* its argument */
	int await_may_stop;   /* the transaction holds this call's envelopes alone */
	index_ctx_t ix;       /* the indexes' key-record cache and gathered changes */
	struct ev_work *work; /* keys whose trust state changed, to settle (pending.c);
	                         made on first use, freed by ingest_ctx_release */
	/* Events stored at depth > 0 (admitted from waiting, released when
	 * held) since the caller last set n_later to 0, for its announcements:
	 * no res[] names them, and nobody else would tell the peers, the
	 * streams or the search index. Not kept while reindexing. Grown on
	 * use, freed by ingest_ctx_release; the caller empties it at the start
	 * of each write transaction (a retried one records them again). */
	ingest_later_t *later;
	size_t n_later, cap_later; /* used, room */
} ingest_ctx_t;

/* The outcome of one event. */
typedef struct ingest_res {
	int rc;                  /* 0 stored, CPT_EEXIST already there, CPT_EPENDING, or an error */
	uint8_t id[CPT_ID_LEN];  /* the event id (when it decoded) */
	uint16_t kind;           /* its kind (when it decoded) */
	uint8_t ref[CPT_ID_LEN]; /* the event it refers to (comment, reaction, edit, redaction) */
	int has_ref;             /* ref is set */
	size_t stored_len;       /* node_submit_decided only, for its decided function: the
	                            bytes of the envelope the transaction holds at its end (rc
	                            0): its length, EVT_FIXED_LEN when stored without its body
	                            (a redaction of it is held), 0 when none is held */
	char rule[40];           /* for any other outcome than 0 and EEXIST: the rule that
	                            decided it (PROTOCOL.md 8.8: "enrol.proof", "site.window") */
	char why[128];           /* for a rejection: what was wrong */
} ingest_res_t;

/* The most id prefixes one revocation's vouch lists (PROTOCOL.md 7.3). */
#define EVENT_VOUCH_MAX 1000

/*
 * The single ingest path, inside a write transaction, in the order of
 * PROTOCOL.md 8.1: decode, verify, what is kept already, the clock, the
 * body rules, what no event can change, held events, then the set rules;
 * an admitted event is stored, every index updated, what its kind does
 * applied, and the trust state it changes settled (what it admits, takes
 * back, puts aside). One bad event never fails the others; res[i] says what
 * became of buf[i] (the buffers are read during the call only). Held events
 * whose time has come (ctx->now_ms) are released first, so a call with
 * n = 0 releases them. Returns 0 or a store error (the transaction must
 * then be aborted; store_write() does so, and runs the caller's function
 * again on CPT_EMAPFULL).
 */
int ingest_txn(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t *const *buf, const size_t *len,
               size_t n, ingest_res_t *res) CPT_WUR;

/* Is a held event due at now_ms (PROTOCOL.md 6)? An ingest_txn call, even
 * of no event, then releases it. One seek; 0 on any error. */
int event_held_due(store_txn_t *txn, uint64_t now_ms);

/* Frees what an ingest context holds (its cache); it can be used again. */
void ingest_ctx_release(ingest_ctx_t *ctx);

/* ------------------------------------------- reindex, verify, repair */

/* Rebuilds every index of the registry from the events alone, in one
 * transaction (comptoir reindex). 0 or a CPT_ code with a message in err. */
int event_reindex(ingest_ctx_t *ctx, char *err, size_t errlen) CPT_WUR;

/* Verifies every stored event and compares every index of the registry
 * (and the events, the waiting ones) with a rebuild made in a scratch store;
 * prints differences to stderr. Returns 0 when all is well, else a CPT_
 * code with a message in err; *n_events gets how many events were read. */
int event_verify(ingest_ctx_t *ctx, size_t *n_events, char *err, size_t errlen) CPT_WUR;

/* What comptoir repair did (repair.c). */
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

/* ------------------------------------------- signatures on every core */

/* A pool of threads checking signatures (vpool.c): jobs are checked in the
 * order they were given, each by every worker at once. */
typedef struct vpool vpool_t;
/* Called on a worker thread, under the pool's lock, once every envelope of
 * a job is checked, and in the order the jobs were given: it should only
 * hand the job on (a queue, a signal), never call the pool. */
typedef void (*vpool_done_fn)(void *arg);
/* threads = 0: one per core this process may run on. The workers run at
 * nice 5 (bulk work: they yield to the node's other threads). NULL when
 * memory is short. */
vpool_t *vpool_new(size_t threads);
/* Stops and joins the workers; safe on NULL. */
void vpool_destroy(vpool_t **self_p);
/* Decodes and verifies n envelopes in parallel; ok[i] = 1 when envelope i
 * decoded and its signature is valid for fed. With bodies (else NULL), the
 * body of each verified envelope is parsed there too: bodies[i] a new
 * reference, NULL when none or not a JSON object (the writer then parses it
 * and says why). Blocks until all are done; buf, len live during the call. */
void vpool_verify(vpool_t *p, const uint8_t *const *buf, const size_t *len, size_t n,
                  const uint8_t fed[CPT_FED_LEN], uint32_t max_body, uint8_t *ok, json_t **bodies);
/* The same without waiting: done(arg) is called once the job is checked
 * (see vpool_done_fn); buf, len, ok, bodies and fed live until then. The
 * caller's thread does none of the work (the network loop stays free).
 * 0, or CPT_ENOMEM (nothing queued). vpool_destroy finishes queued jobs. */
int vpool_submit(vpool_t *p, const uint8_t *const *buf, const size_t *len, size_t n,
                 const uint8_t fed[CPT_FED_LEN], uint32_t max_body, uint8_t *ok, json_t **bodies,
                 vpool_done_fn done, void *arg) CPT_WUR;
/* Called on a worker thread, under the pool's lock, each time the checked
 * prefix of a job grows (envelopes [0, upto) checked: their ok[] and
 * bodies[] final), short of the whole job, which done tells: it should only
 * note it and signal, never call the pool. */
typedef void (*vpool_progress_fn)(void *arg, size_t upto);
/* vpool_submit, with progress(arg, upto) as the checked prefix grows (the
 * writer builds its transaction meanwhile). */
int vpool_submit_progress(vpool_t *p, const uint8_t *const *buf, const size_t *len, size_t n,
                          const uint8_t fed[CPT_FED_LEN], uint32_t max_body, uint8_t *ok,
                          json_t **bodies, vpool_done_fn done, vpool_progress_fn progress,
                          void *arg) CPT_WUR;

/* ------------------------------------------------------ kinds (kinds.c) */

/* Can an event of this kind be erased by a redaction? Certificates,
 * enrolments, revocations and redactions carry state and cannot. */
int event_redactable(unsigned kind);
/* Does an event of this kind change the view of the post it refers to (or
 * is it one)? What a live stream shows with it. */
int event_changes_post(unsigned kind);

/* ------------------------------------------------ body rules (validate.c) */

/* Checks the body of ev by its kind's rules. 0, or CPT_EINVAL with why. */
int event_validate(const evt_t *ev, const json_t *body, char *why, size_t whylen) CPT_WUR;
/* Is s a valid handle ([a-z0-9][a-z0-9._-]{0,31}) or site name ([a-z0-9][a-z0-9-]{0,62})? */
int event_valid_handle(const char *s);
int event_valid_site(const char *s);
/* Is s (len bytes) a valid site title: 1 to EVT_MAX_TITLE bytes of UTF-8
 * without control characters? */
int event_valid_title(const char *s, size_t len);

/* Why a field broke a rule: what the API answers (docs/API.md) and what
 * an event's refusal says. */
typedef struct event_refusal {
	const char *code;   /* stable: wrong_type, too_short, too_long (static) */
	long long min, max; /* the bounds the field broke, else -1 */
	char why[200];      /* the message in English, valid UTF-8 */
} event_refusal_t;
/* One profile field (index_profile_fields: name, title, ..., skills) of
 * value v (null clears it). 0, or CPT_EINVAL with out filled in. */
int event_profile_field(const char *name, const json_t *v, event_refusal_t *out) CPT_WUR;

/* ----------------------------------------------------- trust (trust.c) */

/* What a key is at a given time. */
enum event_key {
	EVENT_KEY_UNKNOWN = 0, /* nothing vouches for it yet */
	EVENT_KEY_ROOT,        /* the federation's root */
	EVENT_KEY_SITE,        /* a certified site, its certificate valid then */
	EVENT_KEY_USER,        /* an enrolled user whose site was not revoked before */
	EVENT_KEY_REVOKED,     /* revoked at or before then */
	EVENT_KEY_EXPIRED,     /* a site certificate not valid then */
};
/* The status of key at ts_ms, through ctx's cache: a site key is
 * EVENT_KEY_SITE when one of its certificates' windows contains ts_ms and
 * no revocation by the root is effective then (the ZAP check of the link);
 * info (optional) gets the key record, a new reference (NULL when unknown). */
int event_key_status(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN],
                     uint64_t ts_ms, json_t **info);
/* May the holder of key redactor erase, at t_ms, what author wrote? Its
 * author may, and an admin of the author's site at that time: the newest
 * enrolments of both dated at or before t_ms name the same site, the
 * redactor's as "admin" (PROTOCOL.md 8.6). The one rule: the ingest path
 * applies it to every redaction, the API before it signs one. */
int event_may_redact(store_txn_t *txn, const uint8_t redactor[CPT_KEY_LEN],
                     const uint8_t author[CPT_KEY_LEN], uint64_t t_ms);

#endif
