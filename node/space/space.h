/*
 * node/space — spaces as a pure function of their events (docs/PROTOCOL.md 16):
 * the body rules of kinds 11 to 14, sealed bodies and key events at the JSON
 * level, and the fold that turns the governance events of one space into its
 * state. It depends on crypto/ and jansson only (no LMDB, no other node/
 * header), so that it is tested alone and every caller — the index, queries,
 * the HTTP handlers, verify — gets one answer from one place.
 */
#ifndef COMPTOIR_NODE_SPACE_H
#define COMPTOIR_NODE_SPACE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "crypto/crypto.h"

/* ------------------------------------------------------------ body rules */

/* Limits of PROTOCOL.md 16.3. */
#define SPACE_NAME_MAX  100  /* bytes of a space's name */
#define SPACE_DESC_MAX  2000 /* bytes of its description */
#define SPACE_SEALS_MAX 128  /* seals in one space_key event */

/*
 * Checks the body of an event of kind 11 to 14 against the rules every site
 * applies on arrival (PROTOCOL.md 16.3): types, lengths, patterns, hex,
 * base64, X25519 keys — never the state of a space, so that acceptance stays
 * the trust rules' alone. For a post (kind 6), checks its optional "space".
 * Other kinds: 0. Returns 0 or CPT_EINVAL; *rule (when rule is not NULL)
 * then names the broken rule, a static string such as "space_member.user".
 */
int space_body_check(uint16_t kind, const json_t *body, const char **rule) CPT_WUR;

/*
 * Parses the plaintext of a sealed body (PROTOCOL.md 16.5): the body rules of
 * section 4 (UTF-8, an object, no duplicate key, no NUL; the padding is JSON
 * whitespace), then, for outer kind EVT_SPACE, a profile ("name",
 * "description"), and for EVT_SEALED a "kind" of 6 to 9 with that kind's
 * fields. On success *plain is a new reference the caller releases
 * (json_decref) and *inner_kind (when not NULL) the inner kind (EVT_SPACE for
 * a profile). Returns 0 or CPT_EINVAL with *rule set as above.
 */
int space_plain_parse(json_t **plain, uint16_t *inner_kind, uint16_t outer_kind,
                      const uint8_t *text, size_t len, const char **rule) CPT_WUR;

/* Reads a 64-digit lowercase hex member of obj into out: 0, or CPT_EINVAL when
 * it is missing or not exactly that. The form of every id and key in bodies. */
int space_hex_member(uint8_t out[32], const json_t *obj, const char *name) CPT_WUR;

/* ------------------------------------------------------- sealed bodies */

/*
 * Encrypts plain (a JSON object, serialised compact and padded) under the key
 * of key_id in ring, bound to ctx, with a random nonce, into a new object
 * {"key", "nonce", "box"} (PROTOCOL.md 16.5) that the caller releases.
 * Returns 0, CPT_ENOTFOUND (the ring lacks the key), CPT_ETOOBIG, CPT_ENOMEM.
 */
int space_seal(json_t **sealed, const skey_ring_t *ring, const uint8_t key_id[SKEY_ID_LEN],
               const skey_ctx_t *ctx, const json_t *plain) CPT_WUR;
/*
 * Opens a "sealed" object (one that passed space_body_check) bound to ctx (for
 * the profile of a space's creating event, ctx->space is NULL: PROTOCOL.md 16.5) and
 * parses its plaintext with space_plain_parse(ctx->kind). Returns 0 with *plain
 * (released by the caller) and *inner_kind; CPT_ENOTFOUND when the ring lacks
 * the key (this site is not a member site, or the key has not been sealed to
 * it yet); CPT_EAUTH when the box does not open (forged, or moved from another
 * event); CPT_EINVAL when the plaintext breaks a rule (*rule says which).
 */
int space_unseal(json_t **plain, uint16_t *inner_kind, const skey_ring_t *ring,
                 const skey_ctx_t *ctx, const json_t *sealed, const char **rule) CPT_WUR;

/*
 * The body of a space_key event (kind 13): the key of key_id, sealed with the
 * space's id to each of the n seal keys (distinct, valid X25519, n from 1 to
 * SPACE_SEALS_MAX). *body is new, released by the caller. Returns 0,
 * CPT_ENOTFOUND (the ring lacks the key), CPT_EINVAL (a bad or repeated seal
 * key, or n out of range), CPT_ENOMEM.
 */
int space_key_body(json_t **body, const skey_ring_t *ring, const uint8_t space[CPT_ID_LEN],
                   const uint8_t key_id[SKEY_ID_LEN], const uint8_t (*seal_pks)[CPT_KEY_LEN],
                   size_t n) CPT_WUR;
/*
 * Opens the seal of a space_key body addressed to this site's seal key pair
 * and adds the key to ring. Returns 0 (also when the ring had it), CPT_ENOTFOUND
 * (no seal to this site), CPT_EAUTH (the box does not open), CPT_EINVAL (it
 * opens to another space or a key that is not the named one: a dishonest
 * sealer), CPT_EFULL.
 */
int space_key_open(skey_ring_t *ring, const json_t *body, const key_curve_t *seal) CPT_WUR;

/* -------------------------------------------------------------- the fold */

enum space_visibility { SPACE_OPEN = 1, SPACE_PRIVATE = 2 };
/* How people join. SPACE_JOIN_SITE: a site space, whose members are its staff. */
enum space_join {
	SPACE_JOIN_OPEN = 1,
	SPACE_JOIN_REQUEST = 2,
	SPACE_JOIN_INVITE = 3,
	SPACE_JOIN_SITE = 4
};
/* Roles, in rank order: a higher role has every right of a lower one. */
enum space_role { SPACE_NONE = 0, SPACE_MEMBER = 1, SPACE_ADMIN = 2, SPACE_OWNER = 3 };

/* What the fold did with an event (PROTOCOL.md 16.7): applied, or why not. */
enum space_effect {
	SPACE_APPLIED = 0,
	SPACE_NOT_HERE = 1,   /* not this space's: another space's, a site space's membership */
	SPACE_NO_SPACE = 2,   /* before the space's creating event, or that event is not here */
	SPACE_NO_RIGHT = 3,   /* the author did not have the right at that point */
	SPACE_NO_CHANGE = 4,  /* nothing to do: already a member, nothing pending, same role */
	SPACE_POLICY = 5,     /* the join policy does not allow it */
	SPACE_ARCHIVED = 6,   /* the space was archived at that point */
	SPACE_LAST_OWNER = 7, /* it would leave the space without an owner */
	SPACE_MALFORMED = 8,  /* the body does not pass space_body_check */
};
/* A static name of an effect, as in PROTOCOL.md 16.7 ("applied", "no_right"). */
const char *space_effect_name(int effect);

/*
 * One governance event of a space, as the caller found it. Every pointer is
 * borrowed and must stay valid until space_fold() returns (the state copies
 * what it keeps).
 */
typedef struct space_evt {
	uint64_t ts;            /* its timestamp */
	uint8_t id[CPT_ID_LEN]; /* its id */
	uint16_t kind;          /* EVT_SPACE, EVT_SPACE_MEMBER or EVT_SPACE_KEY */
	const char *author; /* kinds 11, 12: the author's handle; kind 13: the signing site's name;
	                       NULL when the caller cannot tell (the event is then of no effect) */
	const json_t *body; /* the parsed body */
	const json_t *profile; /* kind 11 of a private space: its opened "sealed" profile, or NULL
	                          (not opened here: the state's name is then unknown) */
} space_evt_t;

/*
 * What the fold needs to know beyond the space's events: people, sites and
 * their seal keys, read by the caller from the trust records (PROTOCOL.md 8.7,
 * 7.1). Strings returned must live until space_fold() returns.
 */
typedef struct space_env {
	/* The site name owning handle, with *active = 1 when the person holds a
	 * key that is not revoked now; NULL when no enrolment names the handle. */
	const char *(*person)(void *ctx, const char *handle, int *active);
	/* The seal_key of the newest certificate of site: 0, or CPT_ENOTFOUND. */
	int (*seal_key)(void *ctx, const char *site, uint8_t out[CPT_KEY_LEN]);
	/* Site spaces: calls add(arg, handle, admin, active) for each handle
	 * owned by site (admin = 1 for a site admin, active as in person).
	 * Returns 0 or an error, which space_fold() returns; stops and returns
	 * what add returned when that is not 0. */
	int (*roster)(void *ctx, const char *site,
	              int (*add)(void *arg, const char *handle, int admin, int active), void *arg);
	void *ctx; /* passed to each function */
} space_env_t;

/* The state of one space; opaque, owned by whoever space_fold() gave it to. */
typedef struct space_state space_state_t;

/*
 * Folds the governance events of the space whose id is space: sorts them by
 * (timestamp, id), applies each only if its author had the right in the state
 * the earlier ones made, then derives the member sites, the keys, the key to
 * write with and who must seal what to whom (PROTOCOL.md 16.7, 16.8).
 * site is NULL for a space made by an event (the event whose id is space,
 * when it is among evs), or a site's name for that site's space (then space
 * must be skey_site_space() of it, and only kind 13 events have an effect).
 * The result depends on the set of events only, never on their order in evs;
 * an id given twice counts once.
 * Returns 0 with *out (free it with space_state_destroy), CPT_ENOMEM, or the
 * error of env->roster.
 */
int space_fold(space_state_t **out, const uint8_t space[CPT_ID_LEN], const char *site,
               const space_evt_t *evs, size_t n, const space_env_t *env) CPT_WUR;
/* Frees the state and sets *self_p to NULL; safe on NULL. */
void space_state_destroy(space_state_t **self_p);

/* The accessors below borrow from the state: pointers live as long as it. */

const uint8_t *space_state_id(const space_state_t *st);
/* 1 when the space exists: its creating event is here, or it is a site space. */
int space_state_exists(const space_state_t *st);
/* The site of a site space, else NULL. */
const char *space_state_site(const space_state_t *st);
/* The creator's handle and the creating event's timestamp (NULL, 0 for a site space). */
const char *space_state_creator(const space_state_t *st);
uint64_t space_state_created(const space_state_t *st);
int space_state_visibility(const space_state_t *st); /* enum space_visibility */
int space_state_join(const space_state_t *st);       /* enum space_join */
int space_state_archived(const space_state_t *st);
/* The name and description, or NULL when not set or sealed and not opened here. */
const char *space_state_name(const space_state_t *st);
const char *space_state_description(const space_state_t *st);
/* The space's cover (PROTOCOL.md 18.3 "space.cover"): the hex id of a file
 * event, or NULL; *by (when not NULL) the handle of the admin who set it,
 * whose file event it must be. Borrowed from the state. */
const char *space_state_cover(const space_state_t *st, const char **by);

/* A member now. */
typedef struct space_member {
	const char *handle; /* the person */
	const char *site;   /* the site owning the handle, or NULL when unknown */
	int role;           /* enum space_role, never SPACE_NONE */
	int active;         /* 0 when the person holds no valid key now (disabled) */
	uint64_t since;     /* timestamp of the event that made them a member (0 in a site space) */
} space_member_t;

/* Members sorted by handle; i < space_state_nmembers(). */
size_t space_state_nmembers(const space_state_t *st);
const space_member_t *space_state_member(const space_state_t *st, size_t i);
/* The role of handle now, SPACE_NONE when not a member. */
int space_state_role(const space_state_t *st, const char *handle);
/*
 * The role handle had just before the position (ts, id) — what decides whether
 * a post, comment, reaction or edit of the space at that position counts
 * (PROTOCOL.md 16.9). In a site space: SPACE_MEMBER (SPACE_ADMIN for a site
 * admin) when the handle belongs to the site, disabled or not, whatever the
 * position: staff's past posts stay.
 */
int space_state_role_at(const space_state_t *st, const char *handle, uint64_t ts,
                        const uint8_t id[CPT_ID_LEN]);
/* 1 when the space existed and was not archived at (ts, id): content there counts. */
int space_state_open_at(const space_state_t *st, uint64_t ts, const uint8_t id[CPT_ID_LEN]);

/* An invitation or a request waiting for an answer. */
typedef struct space_pending {
	const char *handle; /* who is invited, or who asks */
	int invited;        /* 1: an invitation; 0: a request to join */
	const char *by;     /* who invited (the handle itself for a request) */
	uint64_t ts;        /* when */
} space_pending_t;

size_t space_state_npending(const space_state_t *st);
const space_pending_t *space_state_pending(const space_state_t *st, size_t i);

/* A member site: a site with at least one active member now (PROTOCOL.md 16.8). */
typedef struct space_site {
	const char *name;              /* the site's name */
	int has_seal;                  /* 0 when no certificate of it gives a seal_key */
	uint8_t seal_key[CPT_KEY_LEN]; /* its current seal_key when has_seal */
} space_site_t;

/* Member sites sorted by name; none for an open space. */
size_t space_state_nsites(const space_state_t *st);
const space_site_t *space_state_site_at(const space_state_t *st, size_t i);
/* 1 when name is a member site. */
int space_state_is_member_site(const space_state_t *st, const char *name);

/* A space key (an epoch) as the effective space_key events make it. */
typedef struct space_key {
	uint8_t id[SKEY_ID_LEN]; /* the key id */
	uint64_t ts; /* the timestamp of the first effective event naming it: its start */
	uint8_t evt[CPT_ID_LEN]; /* that event's id */
	const char *by;          /* the site that signed it */
	size_t nholders;         /* how many seal keys it is sealed to */
} space_key_t;

/* Keys in the order of their start; the last is the key to write with. */
size_t space_state_nkeys(const space_state_t *st);
const space_key_t *space_state_key(const space_state_t *st, size_t i);
/* The key to write with (the newest start), or NULL: none yet, or an open space. */
const space_key_t *space_state_write_key(const space_state_t *st);
/* 1 when key i is sealed to seal_key. */
int space_state_key_held(const space_state_t *st, size_t i, const uint8_t seal_key[CPT_KEY_LEN]);
/*
 * 1 when a new epoch must start before anything more is written: the space is
 * private (or a site space), has member sites, and either has no key or its
 * write key is sealed to a seal key that is not a member site's current one (a
 * site lost its last member, or changed its seal key). A writer's node starts
 * it itself; epoch_by is the member site that starts it without waiting for a
 * writer (the first by name), NULL when there is no epoch due.
 */
int space_state_epoch_due(const space_state_t *st);
const char *space_state_epoch_by(const space_state_t *st);

/* A key a member site lacks: key, to whom, and which member site seals it. */
typedef struct space_duty {
	uint8_t key[SKEY_ID_LEN];     /* the key id */
	const char *to;               /* the member site that lacks it */
	uint8_t to_seal[CPT_KEY_LEN]; /* that site's current seal_key */
	const char *by;               /* the first member site (by name) that holds it, or NULL
	                                 when no member site does (the key is lost to newcomers) */
} space_duty_t;

size_t space_state_nduties(const space_state_t *st);
const space_duty_t *space_state_duty(const space_state_t *st, size_t i);

/* The effect of an input event by id (enum space_effect); -1 when not an input. */
int space_state_effect(const space_state_t *st, const uint8_t id[CPT_ID_LEN]);

#endif
