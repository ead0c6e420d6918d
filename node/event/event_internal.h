/*
 * Shared by the files of node/event/: the table of kinds and the steps of
 * the ingest path that several files take (admitting, removing, erasing an
 * event). Not for other folders.
 */
#ifndef COMPTOIR_EVENT_INTERNAL_H
#define COMPTOIR_EVENT_INTERNAL_H

#include "node/event/event.h"

/* Who may sign a kind: a set of the statuses of enum event_key. */
#define EV_BY(s)   (1u << (s))
#define EV_BY_ROOT EV_BY(EVENT_KEY_ROOT)
#define EV_BY_SITE EV_BY(EVENT_KEY_SITE)
#define EV_BY_USER EV_BY(EVENT_KEY_USER)
#define EV_BY_ANY  (EV_BY_ROOT | EV_BY_SITE | EV_BY_USER) /* any key valid at its time */

/*
 * One kind of event: everything the ingest path needs to know of it. Adding
 * a kind is an entry in kinds.c and its functions; its indexes register in
 * node/index/registry.c.
 */
typedef struct ev_kind {
	uint16_t kind; /* enum evt_kind */
	/* Its body's rules (validate.c): 0, or CPT_EINVAL with why. NULL: none. */
	int (*validate)(const json_t *body, char *why, size_t wl);
	const char *ref;  /* the body field naming what it refers to, or NULL */
	int ref_is_key;   /* ref names a key (a revocation): indexed under it in
	                     DB_BY_REF, but the event refers to no post */
	unsigned signers; /* EV_BY_*: the statuses a signer may have (trust.c) */
	/* Further rules on the signer (trust.c), once its status is allowed:
	 * 0, CPT_EPERM, or CPT_EPENDING with wait set (the key whose
	 * certificate or enrolment is missing) and why. NULL: none. */
	int (*authorise)(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const json_t *body,
	                 int status, const json_t *signer, uint8_t wait[CPT_KEY_LEN], char *why,
	                 size_t wl);
	int redactable;   /* a redaction may erase its body */
	int trust;        /* it changes key state: the key-record cache is off while
	                     it applies, and links are checked again after it */
	int changes_post; /* it changes the view of the post it refers to (or is one) */
	/* What it does beyond the indexes, once they are updated (depth: how
	 * deep in admissions from pending). 0 or a store error. NULL: nothing. */
	int (*apply)(ingest_ctx_t *ctx, store_txn_t *txn, const index_ev_t *e, int depth);
	/* The same when it leaves the store (with its body). NULL: nothing. */
	int (*remove)(ingest_ctx_t *ctx, store_txn_t *txn, const index_ev_t *e);
	/* Body rules that need the event and the federation (validate.c): key
	 * validity, proofs, a certificate's window. 0 or CPT_EINVAL with why.
	 * NULL: none. */
	int (*check)(const ingest_ctx_t *ctx, const evt_t *ev, const json_t *body, char *why,
	             size_t wl);
} ev_kind_t;

/* The entry of kind; kinds this node does not know get one that stores
 * and relays them (any certified author, no body rule, no effect). */
const ev_kind_t *ev_kind(unsigned kind);
/* The event body refers to, in ref. keys: also the key a revocation names
 * (indexed under it). 1 when there is one, else 0. */
int ev_ref_of(const evt_t *ev, const json_t *body, uint8_t ref[CPT_ID_LEN], int keys);

/* validate.c: the body rules of each kind, for the table. */
int ev_check_site_cert(const json_t *b, char *why, size_t wl);
int ev_check_enrol(const json_t *b, char *why, size_t wl);
int ev_check_revoke(const json_t *b, char *why, size_t wl);
int ev_check_key_backup(const json_t *b, char *why, size_t wl);
int ev_check_profile(const json_t *b, char *why, size_t wl);
int ev_check_post(const json_t *b, char *why, size_t wl);
int ev_check_text_of(const json_t *b, char *why, size_t wl); /* comment, edit */
int ev_check_reaction(const json_t *b, char *why, size_t wl);
int ev_check_redact(const json_t *b, char *why, size_t wl);
/* notify.c: the kinds of notifications and following (16 to 19). */
int ev_check_follow(const json_t *b, char *why, size_t wl);
int ev_check_mine(const json_t *b, char *why, size_t wl);
int ev_check_announce(const json_t *b, char *why, size_t wl);
int ev_check_ack(const json_t *b, char *why, size_t wl);
/* files.c: the file event (kind 20), and the optional "files" list of a
 * post, comment or edit (PROTOCOL.md 18.3). */
int ev_check_file(const json_t *b, char *why, size_t wl);
int ev_check_files_of(const json_t *b, char *why, size_t wl);

int ev_check_cert_v2(const ingest_ctx_t *ctx, const evt_t *ev, const json_t *b, char *why,
                     size_t wl);
int ev_check_enrol_v2(const ingest_ctx_t *ctx, const evt_t *ev, const json_t *b, char *why,
                      size_t wl);
int ev_check_revoke_v2(const ingest_ctx_t *ctx, const evt_t *ev, const json_t *b, char *why,
                       size_t wl);
/* validate.c: the rule name of a body refusal, "kind.field", from the field
 * its message names first; written into buf, returned. */
const char *ev_rule_of(unsigned kind, const char *why, char *buf, size_t cap);

/* The states of an event that passed the checks of the event alone
 * (PROTOCOL.md 8): what the set rules make of it. */
enum ev_state {
	EV_ADMIT,   /* admitted: stored, applied, relayed */
	EV_PENDING, /* waits for a certificate or an enrolment */
	EV_HELD,    /* waits for the clock */
	EV_ASIDE,   /* refused by a site's revocation, which the root may undo */
	EV_REFUSE,  /* refused for good: not kept */
};

/* A verdict of the set rules on one event. */
typedef struct ev_verdict {
	enum ev_state state; /* what it is */
	int rc;              /* its code: 0, CPT_EPENDING, CPT_EHELD, CPT_EREVOKED, CPT_EPERM */
	const char *rule;    /* the rule that decided (PROTOCOL.md 8.8), static; NULL: admitted */
	uint8_t dep[CPT_KEY_LEN]; /* when kept: the key whose trust state can change it */
} ev_verdict_t;

/* trust.c: the set rules (PROTOCOL.md 8.2 to 8.5) on ev (body parsed, or
 * NULL when it came without it), from the trust records of what is admitted
 * now. 0 with *out, or a store error. */
int ev_judge(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const uint8_t id[CPT_ID_LEN],
             const json_t *body, ev_verdict_t *out) CPT_WUR;

/* ingest.c: one event through the path (depth: admissions from pending,
 * bounded; preverified: a worker checked its signature, pre_body its body
 * parsed there). Returns a store error or 0; its fate is in res. */
int ev_ingest_one(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t *buf, size_t len,
                  ingest_res_t *res, int depth, int preverified, json_t *pre_body) CPT_WUR;
/* ingest.c: takes a stored event out of the store and of every index, as
 * if it had never come. With keep, *keep gets a copy of the stored bytes
 * (the caller frees it). 0, CPT_ENOTFOUND when it is not stored, or a store
 * error. */
int ev_remove(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], uint8_t **keep,
              size_t *keep_len) CPT_WUR;

/* pending.c: keeps an event that is not admitted (pending, held, aside) in
 * DB_PENDING under (v->dep, id), or for a held one under the held marker
 * and its release time, with its rule in DB_PENDING_IDS. capped: a new
 * arrival, refused with CPT_EFULL when max_pending events are kept
 * already (events taken back are never dropped for want of room). */
int ev_keep(ingest_ctx_t *ctx, store_txn_t *txn, const ev_verdict_t *v, const uint8_t *raw,
            size_t raw_len, const uint8_t id[CPT_ID_LEN], int capped) CPT_WUR;
/* pending.c: the dep of a site's enrolments and revocations that wait: their
 * verdict depends on the signer's and the named key's trust state, so they
 * are judged again whenever any key is settled (there are few of them). */
extern const uint8_t ev_trust_dep[CPT_KEY_LEN];
/* pending.c: the verdict of an event held until ms release (PROTOCOL.md 6). */
void ev_held_verdict(ev_verdict_t *v, uint64_t release);
/* pending.c: is id kept without being admitted? 1 with its code and rule
 * (rule: 40 bytes), 0 when not, or a store error. */
int ev_kept(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], int *rc, char rule[40]) CPT_WUR;
/* pending.c: the trust state of key changed (a certificate, an enrolment or
 * a revocation of it was admitted or left): what depends on it is judged
 * again when the outermost ingest settles. 0 or CPT_ENOMEM. */
int ev_settle_push(ingest_ctx_t *ctx, const uint8_t key[CPT_KEY_LEN]) CPT_WUR;
/* pending.c: judges again, key after key until none changes, what depends
 * on the keys pushed: the events kept under them, the events they signed,
 * the enrolments and revocations that name them. 0 or a store error. */
int ev_settle(ingest_ctx_t *ctx, store_txn_t *txn) CPT_WUR;
/* pending.c: releases the held events whose time has come at now_ms
 * through the ingest path. 0 or a store error. */
int ev_held_release(ingest_ctx_t *ctx, store_txn_t *txn, uint64_t now_ms) CPT_WUR;
/* pending.c: the table's apply and remove of trust events: their key's
 * trust state changed. */
int ev_trust_apply(ingest_ctx_t *ctx, store_txn_t *txn, const index_ev_t *e, int depth);
int ev_trust_remove(ingest_ctx_t *ctx, store_txn_t *txn, const index_ev_t *e);
/* pending.c: frees the work list of a context; empties it (a new or a
 * retried transaction). */
void ev_work_free(ingest_ctx_t *ctx);
void ev_work_reset(ingest_ctx_t *ctx);

/* redact.c: is event id (by author) erased by a redaction held here? */
int ev_is_redacted(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t id[CPT_ID_LEN],
                   const uint8_t author[CPT_KEY_LEN]);
/* redact.c: the table's apply and remove of redactions. */
int ev_redact_apply(ingest_ctx_t *ctx, store_txn_t *txn, const index_ev_t *e, int depth);
int ev_redact_remove(ingest_ctx_t *ctx, store_txn_t *txn, const index_ev_t *e);

/* reindex.c: every stored event's id with its timestamp, sorted: full events in (timestamp, id)
 * order, then bodiless (redacted) ones, which are taken back only once
 * their redaction is known, and a redaction is usually newer than what it
 * erases. *out is malloc'd (free it, on failure too). 0 or an error. */
typedef struct ev_tsid {
	uint64_t ts;            /* its timestamp */
	uint8_t id[CPT_ID_LEN]; /* its id */
	int bare;               /* stored without its body */
} ev_tsid_t;
int ev_collect(store_txn_t *txn, ev_tsid_t **out, size_t *n) CPT_WUR;

#endif
