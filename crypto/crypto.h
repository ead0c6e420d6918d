/*
 * crypto — the bottom layer of Comptoir: the project's error codes, the signed
 * event envelope, the hybrid logical clock, and key pairs with their key files.
 * Everything above (config/, sync/, node/) includes only this header from here.
 * docs/PROTOCOL.md describes every byte this module reads or writes.
 */
#ifndef COMPTOIR_CRYPTO_H
#define COMPTOIR_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CPT_WUR __attribute__((warn_unused_result))

/* ---------------------------------------------------------------- errors */

/* Every fallible function of the project returns 0 or one of these. */
enum cpt_err {
	CPT_OK = 0,
	CPT_EINVAL = -1,      /* malformed input */
	CPT_ENOMEM = -2,      /* allocation failed */
	CPT_EIO = -3,         /* a system call failed; errno says why */
	CPT_ENOTFOUND = -4,   /* the thing asked for does not exist */
	CPT_EAGAIN = -5,      /* try again later */
	CPT_ETOOBIG = -6,     /* over a size limit */
	CPT_EVERSION = -7,    /* unknown envelope or schema version */
	CPT_EFEDERATION = -8, /* the event belongs to another federation */
	CPT_ESIG = -9,        /* bad signature */
	CPT_EHASH = -10,      /* body does not match its hash */
	CPT_EPERM = -11,      /* not allowed */
	CPT_EEXIST = -12,     /* already there */
	CPT_EPENDING = -13,   /* kept aside until a certificate arrives */
	CPT_EREDACTED = -14,  /* the body was erased by a redaction */
	CPT_EREVOKED = -15,   /* the author's key is revoked */
	CPT_EFULL = -16,      /* a bounded queue or store is full */
	CPT_EKEYFILE = -17,   /* a key file is unreadable, unsafe or malformed */
	CPT_ECONFIG = -18,    /* a configuration error */
	CPT_ESTATE = -19,     /* wrong state for this call */
	CPT_EAUTH = -20,      /* authentication failed */
	CPT_ENOSPC = -21,     /* no space left on the device (or over the disk quota) */
	CPT_EDAMAGED = -22,   /* a file (the store) is damaged: its bytes cannot be trusted */
	CPT_EHELD = -23,      /* kept until its time: dated ahead of the receiver's clock */
};

/* A static string describing err, never NULL. */
const char *cpt_strerror(int err);

/* ---------------------------------------------------------------- sizes */

#define CPT_KEY_LEN  32 /* Ed25519 and X25519 public keys */
#define CPT_SEED_LEN 32 /* Ed25519 secret seed */
#define CPT_SIG_LEN  64 /* Ed25519 signature */
#define CPT_HASH_LEN 32 /* BLAKE2b-256 */
#define CPT_ID_LEN   32 /* event id */
#define CPT_FED_LEN  32 /* federation id */
#define CPT_HEX_ID   65 /* hex of a 32-byte value, with its NUL */

/* -------------------------------------------------------- event envelope */

#define EVT_VERSION    2                /* protocol version 2 (PROTOCOL.md, "Version 2") */
#define EVT_HEADER_LEN 112              /* signed header, see PROTOCOL.md */
#define EVT_FIXED_LEN  176              /* header + signature */
#define EVT_MAX_BODY   65536            /* protocol cap on a body */
#define EVT_MAX_LEN    (EVT_FIXED_LEN + EVT_MAX_BODY)
#define EVT_SIG_DOMAIN "comptoir/event/v1"

/* Kinds of the first set. Unknown kinds are stored and relayed, not rejected. */
enum evt_kind {
	EVT_SITE_CERT = 1,
	EVT_ENROL = 2,
	EVT_REVOKE = 3,
	EVT_KEY_BACKUP = 4,
	EVT_PROFILE = 5,
	EVT_POST = 6,
	EVT_COMMENT = 7,
	EVT_REACTION = 8,
	EVT_EDIT = 9,
	EVT_REDACT = 10,
};

/* The lowercase name of a kind ("post"), or "unknown". */
const char *evt_kind_name(unsigned kind);
/* The kind of a name, or 0 when the name is unknown. */
unsigned evt_kind_from_name(const char *name);

/*
 * A decoded envelope. Every pointer is borrowed from the buffer given to
 * evt_decode() and lives as long as that buffer (for an LMDB value: until the
 * end of its transaction).
 */
typedef struct evt {
	uint8_t version;                 /* EVT_VERSION */
	uint16_t kind;                   /* enum evt_kind, or unknown */
	uint8_t fed[CPT_FED_LEN];        /* federation id */
	uint8_t author[CPT_KEY_LEN];     /* Ed25519 public key of the signer */
	uint64_t ts;                     /* HLC timestamp: wall ms << 16 | counter */
	uint8_t body_hash[CPT_HASH_LEN]; /* BLAKE2b-256 of the body */
	uint32_t body_len;               /* length of the body, even when redacted */
	uint8_t sig[CPT_SIG_LEN];        /* Ed25519 signature of the header */
	const uint8_t *body;             /* the body, or NULL when redacted */
	const uint8_t *raw;              /* the whole envelope as decoded */
	size_t raw_len;                  /* its length: FIXED_LEN (+ body_len) */
} evt_t;

/*
 * Decodes and checks the structure of an envelope: lengths (no length field is
 * trusted), version, the reserved byte, the body cap max_body (at most
 * EVT_MAX_BODY), the body hash, and that the body is a UTF-8 JSON object
 * without duplicate keys or NUL characters. A buffer of exactly EVT_FIXED_LEN
 * bytes with body_len > 0 is a redacted event: ev->body is NULL.
 * Does not check the signature or the federation: see evt_verify().
 * Returns 0, CPT_EINVAL, CPT_EVERSION, CPT_ETOOBIG or CPT_EHASH.
 */
int evt_decode(evt_t *ev, const uint8_t *buf, size_t len, size_t max_body) CPT_WUR;

/*
 * The same, but without parsing the body as JSON: for a caller that parses it
 * next with the same rules (JSON_REJECT_DUPLICATES, no NUL byte, an object),
 * or for events stored after a full check. Every length, the version and the
 * body hash are still checked.
 */
int evt_decode_lazy(evt_t *ev, const uint8_t *buf, size_t len, size_t max_body) CPT_WUR;

/*
 * Checks that a decoded event belongs to federation fed and that its signature
 * by ev->author is valid. Returns 0, CPT_EFEDERATION or CPT_ESIG.
 */
int evt_verify(const evt_t *ev, const uint8_t fed[CPT_FED_LEN]) CPT_WUR;

/* The event id: BLAKE2b-256 of the header and the signature (raw[0..176)). */
void evt_id(uint8_t id[CPT_ID_LEN], const evt_t *ev);
/* The same from the first EVT_FIXED_LEN bytes of an envelope. */
void evt_id_raw(uint8_t id[CPT_ID_LEN], const uint8_t fixed[EVT_FIXED_LEN]);

/* The 32-byte federation id of a root public key. */
void evt_federation_id(uint8_t fed[CPT_FED_LEN], const uint8_t root_pk[CPT_KEY_LEN]);

/* ------------------------------------------------------------------- keys */

/* An Ed25519 key pair; the secret half lives in sodium_malloc memory. */
typedef struct key_sign key_sign_t;
/* An X25519 key pair for ZeroMQ CURVE; the secret half in sodium_malloc memory. */
typedef struct key_curve key_curve_t;

/* A new random key pair, or NULL when memory is short. Free with key_sign_destroy(). */
key_sign_t *key_sign_new(void);
/* The key pair of a 32-byte seed (test vectors, unlocked user keys), or NULL. */
key_sign_t *key_sign_from_seed(const uint8_t seed[CPT_SEED_LEN]);
/* Wipes and frees the key, sets *self_p to NULL; safe on NULL. */
void key_sign_destroy(key_sign_t **self_p);
/* The public key, borrowed for the life of the key. */
const uint8_t *key_sign_public(const key_sign_t *self);
/* Copies the seed to out (a secret: the caller wipes it). */
void key_sign_seed(const key_sign_t *self, uint8_t out[CPT_SEED_LEN]);
/* Signs msg into sig (detached). */
void key_sign_sign(const key_sign_t *self, uint8_t sig[CPT_SIG_LEN], const uint8_t *msg,
		   size_t len);

key_curve_t *key_curve_new(void);
void key_curve_destroy(key_curve_t **self_p);
const uint8_t *key_curve_public(const key_curve_t *self);
/* The secret key, borrowed for the life of the key (for ZMQ_CURVE_SECRETKEY). */
const uint8_t *key_curve_secret(const key_curve_t *self);

/*
 * Key files (PROTOCOL.md, "Key files"): text, a type line first, mode 0600.
 * save: creates path with mode 0600 and refuses to overwrite (CPT_EEXIST).
 * load: refuses a file readable or writable by group or others, a truncated or
 * malformed file, a wrong type, or a public key that does not match the secret.
 * On failure returns NULL and writes into err (errlen bytes) a message that
 * names the file, such as "site.key: file is readable by group or others (mode 0644)".
 */
int key_sign_save(const key_sign_t *self, const char *path) CPT_WUR;
key_sign_t *key_sign_load(const char *path, char *err, size_t errlen);
int key_curve_save(const key_curve_t *self, const char *path) CPT_WUR;
key_curve_t *key_curve_load(const char *path, char *err, size_t errlen);

/* Public-key file ("comptoir-ed25519-public-v1"), mode 0644, for sharing a root key. */
int key_public_save(const uint8_t pk[CPT_KEY_LEN], const char *path) CPT_WUR;
int key_public_load(uint8_t pk[CPT_KEY_LEN], const char *path, char *err, size_t errlen) CPT_WUR;

/* A short human fingerprint of a public key: "AB12-CD34-..." (5 groups of 4 hex). */
#define CPT_FPR_LEN 25
void key_fingerprint(char out[CPT_FPR_LEN], const uint8_t pk[CPT_KEY_LEN]);

/* Signs an event: encodes the header for kind, fed, author = key, ts and body,
 * signs it, and writes the envelope to out (cap bytes). Sets *out_len.
 * Returns 0, CPT_ETOOBIG (body over EVT_MAX_BODY or cap too small). The body is
 * not checked here; evt_decode() the result to check it. */
int evt_sign(uint8_t *out, size_t cap, size_t *out_len, uint16_t kind,
	     const uint8_t fed[CPT_FED_LEN], uint64_t ts, const uint8_t *body, size_t body_len,
	     const key_sign_t *key) CPT_WUR;

/* ------------------------------------------------------------ trust checks */

/*
 * What the trust rules check that is cryptography alone (PROTOCOL.md,
 * "Keys in bodies" and "enrol"); crypto/trust.c.
 */

/* 1 when pk is a valid Ed25519 key for a body: canonical, not of small order,
 * in the prime-order subgroup (crypto_core_ed25519_is_valid_point); else 0. */
int key_ed25519_valid(const uint8_t pk[CPT_KEY_LEN]);
/* 1 when pk is a valid X25519 key for a body: bit 255 clear, u < p, and u not
 * one of the five small-order values libsodium refuses; else 0. */
int key_x25519_valid(const uint8_t pk[CPT_KEY_LEN]);

#define EVT_PROOF_DOMAIN "comptoir/enrolment-proof/v1"
/* The longest statement: domain, federation, key, then site (<= 63 bytes) and
 * handle (<= 32 bytes), each after a one-byte length. */
#define EVT_PROOF_MAX (sizeof(EVT_PROOF_DOMAIN) - 1 + CPT_FED_LEN + CPT_KEY_LEN + 1 + 63 + 1 + 32)

/* Writes the statement an enrolment proof signs into out and returns its
 * length; 0 when site is not 1..63 bytes or handle not 1..32 bytes. */
size_t evt_proof_statement(uint8_t out[EVT_PROOF_MAX], const uint8_t fed[CPT_FED_LEN],
			   const uint8_t key[CPT_KEY_LEN], const char *site, const char *handle);
/* The proof that user, the key being enrolled, agrees to be handle at site in
 * federation fed. Returns 0, or CPT_EINVAL when site or handle is too long. */
int evt_proof_sign(uint8_t sig[CPT_SIG_LEN], const key_sign_t *user, const uint8_t fed[CPT_FED_LEN],
		   const char *site, const char *handle) CPT_WUR;
/* Checks a proof by key (strict rules of PROTOCOL.md 5). Returns 0, CPT_EINVAL
 * (site or handle too long), or CPT_ESIG. */
int evt_proof_verify(const uint8_t sig[CPT_SIG_LEN], const uint8_t fed[CPT_FED_LEN],
		     const uint8_t key[CPT_KEY_LEN], const char *site, const char *handle) CPT_WUR;

/* ------------------------------------------------------------------- HLC */

/*
 * Hybrid logical clock: 48 bits of wall-clock milliseconds, 16 bits of counter.
 * Values never go backwards in one clock. Not thread-safe: one owner.
 */
typedef struct hlc {
	uint64_t last; /* the greatest timestamp issued or observed */
} hlc_t;

#define HLC_MS(ts)      ((ts) >> 16)
#define HLC_COUNTER(ts) ((ts)&0xffff)
#define HLC_MAKE(ms, c) (((uint64_t)(ms) << 16) | ((uint64_t)(c)&0xffff))
/* Timestamps further than this ahead of the wall clock are not absorbed. */
#define HLC_MAX_DRIFT_MS (24ull * 3600 * 1000)
/* Events dated further ahead than this are held until their time (PROTOCOL.md 6);
 * the skew between two sites' clocks that goes unnoticed. */
#define EVT_HOLD_MS (5ull * 60 * 1000)

/* A timestamp greater than every one issued or observed. wall_ms is the
 * current wall clock in ms (hlc_wall_ms() in production, fixed in tests). */
uint64_t hlc_next(hlc_t *clk, uint64_t wall_ms);
/* Absorbs a received timestamp so the next ones follow it. Timestamps more
 * than HLC_MAX_DRIFT_MS ahead of wall_ms are ignored; returns -1 for them. */
int hlc_observe(hlc_t *clk, uint64_t ts, uint64_t wall_ms);
/* The wall clock in milliseconds since the epoch. */
uint64_t hlc_wall_ms(void);

/* ------------------------------------------------------------------- hex */

/* Lowercase hex of 32 bytes into out (65 bytes with NUL). */
void cpt_hex32(char out[CPT_HEX_ID], const uint8_t in[32]);
/* Parses exactly 64 hex digits; returns 0 or CPT_EINVAL. */
int cpt_unhex32(uint8_t out[32], const char *hex, size_t len) CPT_WUR;

/* Initialises libsodium; call once before anything else. Returns 0 or -1. */
int cpt_init(void) CPT_WUR;

#endif
