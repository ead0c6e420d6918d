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
	CPT_EMAPFULL = -23,   /* the store's map is full: store_write grows it and runs again */
	CPT_EHELD = -24,      /* kept until its time: dated ahead of the receiver's clock */
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

#define EVT_VERSION    2     /* protocol version 2 (PROTOCOL.md, "Version 2") */
#define EVT_HEADER_LEN 112   /* signed header, see PROTOCOL.md */
#define EVT_FIXED_LEN  176   /* header + signature */
#define EVT_MAX_BODY   65536 /* protocol cap on a body */
#define EVT_MAX_LEN    (EVT_FIXED_LEN + EVT_MAX_BODY)
#define EVT_SIG_DOMAIN "comptoir/event/v1"

/* Sizes of what people write into bodies, in bytes of UTF-8: protocol
 * rules (docs/PROTOCOL.md), since every site must accept the same events.
 * The one place they are set: node/event validates with them, node/index
 * relies on them as bounds, the API checks and the UI reads them. */
#define EVT_MAX_TEXT     10000 /* a post, a comment, an edit */
#define EVT_MAX_FIELD    200   /* a profile field (name, title, ...) */
#define EVT_MAX_BIO      2000  /* the profile's "bio" */
#define EVT_MAX_SKILLS   32    /* skills in a profile */
#define EVT_MAX_SKILL    64    /* one skill */
#define EVT_MAX_REACTION 32    /* a reaction's name */
#define EVT_MAX_TITLE    64    /* a site's title ("Nantes plant") */

/* Kinds of the protocol. Unknown kinds are stored and relayed, not rejected. */
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
	/* Spaces (PROTOCOL.md 16): acceptance by the trust rules alone, effect by the
	 * space's fold (node/space). */
	EVT_SPACE = 11,        /* create or edit a space */
	EVT_SPACE_MEMBER = 12, /* a membership action */
	EVT_SPACE_KEY = 13,    /* a space key sealed to member sites, signed by a site */
	EVT_SEALED = 14,       /* content of a private space, encrypted under a space key */
	/* Notifications (PROTOCOL.md 17): 15 is left to spaces. */
	EVT_FOLLOW = 16,   /* follow or unfollow a person or a space, in clear */
	EVT_MINE = 17,     /* a person's own state (read marks, mutes, preferences), sealed to
	                      their own key */
	EVT_ANNOUNCE = 18, /* an admin makes a post an announcement (or ends one) */
	EVT_ACK = 19,      /* "I have read this announcement", in clear for its author */
	/* Files and pictures (PROTOCOL.md 18). */
	EVT_FILE = 20, /* "this person published this blob under this name" */
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
 * The same checks (evt_decode, or evt_decode_lazy when lazy is nonzero) on
 * an envelope held in two pieces: its header and signature at fixed, and
 * its body_len body bytes at body (NULL and 0: a redacted event), as a
 * store that keeps them apart gives them back. ev->raw is fixed and only
 * its first EVT_FIXED_LEN bytes are the envelope's (enough for evt_id and
 * evt_verify); ev->raw_len is 0 unless body follows fixed in memory (or
 * there is none): raw is then not the whole envelope; ev->body points into
 * body. Both are borrowed for the life of ev.
 */
int evt_decode_parts(evt_t *ev, const uint8_t fixed[EVT_FIXED_LEN], const uint8_t *body,
                     size_t body_len, size_t max_body, int lazy) CPT_WUR;
/* lazy may also hold EVT_DECODE_HASHED: the header's body hash was computed
 * from these very body bytes by the caller (a store that keeps the body
 * and puts its hash back), so comparing them again would compare a hash
 * with itself: it is not. Any other caller leaves it out. */
#define EVT_DECODE_HASHED 2

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
/* A site's seal key (keys/site.seal, PROTOCOL.md 9): the same file type as a
 * CURVE key, with a comment that says what it seals; load it with key_curve_load(). */
int key_seal_save(const key_curve_t *self, const char *path) CPT_WUR;

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

/* ------------------------------------------------------------- space keys */

/*
 * What private spaces need of cryptography (PROTOCOL.md 16.4 to 16.6;
 * crypto/spacekey.c): a space key is a random XChaCha20-Poly1305 key named by
 * its key id, sealed (crypto_box_seal) with the space's id to the seal_key of
 * each member site, and used to encrypt bodies with associated data that binds
 * them to their event (federation, kind, author, space, key id).
 *
 * Space keys live in a key ring: one sodium_malloc region for many keys
 * (PITFALLS 20: a guarded allocation per key would exhaust the mappings),
 * read-only except while a key is added, wiped when destroyed. A seal key pair
 * (keys/site.seal) is a key_curve_t, loaded with key_curve_load().
 */

#define SKEY_LEN         32  /* a space key */
#define SKEY_ID_LEN      32  /* its id: BLAKE2b-256(SKEY_ID_DOMAIN || key) */
#define SKEY_NONCE_LEN   24  /* XChaCha20-Poly1305 nonce */
#define SKEY_TAG_LEN     16  /* Poly1305 tag, after the ciphertext */
#define SKEY_SEAL_LEN    112 /* crypto_box_seal of key || space id: 48 + 64 bytes */
#define SKEY_PAD         64  /* plaintexts are padded with spaces to a multiple of this */
#define SKEY_ID_DOMAIN   "comptoir/space-key-id/v1"
#define SKEY_AD_DOMAIN   "comptoir/space-seal/v1"
#define SKEY_SITE_DOMAIN "comptoir/site-space/v1"
/* Associated data: domain (22), federation (32), kind (2), author (32), space (32), key id (32). */
#define SKEY_AD_LEN                                                                                \
	(sizeof(SKEY_AD_DOMAIN) - 1 + CPT_FED_LEN + 2 + CPT_KEY_LEN + CPT_ID_LEN + SKEY_ID_LEN)

/* A set of space keys in guarded memory. Not thread-safe: one owner. */
typedef struct skey_ring skey_ring_t;

/* A ring for at most cap keys (cap >= 1), or NULL when memory is short. */
skey_ring_t *skey_ring_new(size_t cap);
/* Wipes and frees the ring, sets *self_p to NULL; safe on NULL. */
void skey_ring_destroy(skey_ring_t **self_p);
/* How many keys the ring holds. */
size_t skey_ring_count(const skey_ring_t *self);
/* 1 when the ring holds the key of id, else 0. */
int skey_ring_has(const skey_ring_t *self, const uint8_t id[SKEY_ID_LEN]);

/* Makes a new random key, adds it, and writes its id. 0, CPT_EFULL. */
int skey_ring_generate(skey_ring_t *self, uint8_t id[SKEY_ID_LEN]) CPT_WUR;
/* Adds a given key (test vectors; a key the caller decrypted itself) and writes
 * its id. 0 (also when it was there already) or CPT_EFULL. */
int skey_ring_add(skey_ring_t *self, const uint8_t key[SKEY_LEN], uint8_t id[SKEY_ID_LEN]) CPT_WUR;

/* The id of a key: BLAKE2b-256("comptoir/space-key-id/v1" || key). */
void skey_id_of(uint8_t id[SKEY_ID_LEN], const uint8_t key[SKEY_LEN]);

/*
 * Seals the key of id with the space's id to a site's seal public key:
 * box = crypto_box_seal(key || space, seal_pk), SKEY_SEAL_LEN bytes (random:
 * two seals of one key differ). Returns 0, CPT_ENOTFOUND (no such key in the
 * ring) or CPT_EINVAL (seal_pk is not a valid X25519 key, PROTOCOL.md 2.2).
 */
int skey_ring_seal(const skey_ring_t *self, uint8_t box[SKEY_SEAL_LEN],
                   const uint8_t id[SKEY_ID_LEN], const uint8_t space[CPT_ID_LEN],
                   const uint8_t seal_pk[CPT_KEY_LEN]) CPT_WUR;
/*
 * Opens a box sealed to this site's seal key pair and adds the key to the
 * ring, after checking that the box names space and that the key's id is id
 * (a sealer cannot hand one site another key under the same id, nor a key of
 * another space). Returns 0, CPT_EAUTH (the box does not open with seal),
 * CPT_EINVAL (it opens but names another space, or the key is not id's),
 * or CPT_EFULL.
 */
int skey_ring_open(skey_ring_t *self, const uint8_t box[SKEY_SEAL_LEN],
                   const uint8_t space[CPT_ID_LEN], const uint8_t id[SKEY_ID_LEN],
                   const key_curve_t *seal) CPT_WUR;

/* What a sealed body is bound to: the event that carries it. */
typedef struct skey_ctx {
	const uint8_t *fed;    /* federation id, CPT_FED_LEN bytes */
	uint16_t kind;         /* the carrying event's kind (EVT_SPACE or EVT_SEALED) */
	const uint8_t *author; /* the carrying event's author key */
	const uint8_t *space;  /* the space's id, or NULL in the event that creates it (zeros) */
} skey_ctx_t;

/* Writes the associated data of ctx and key id into ad (SKEY_AD_LEN bytes). */
void skey_ad(uint8_t ad[SKEY_AD_LEN], const skey_ctx_t *ctx, const uint8_t id[SKEY_ID_LEN]);

/* The ciphertext length of a plaintext of plain_len bytes: padded, plus the tag. */
size_t skey_sealed_len(size_t plain_len);

/*
 * Encrypts plain (a JSON text: it is padded with spaces, 0x20, to a multiple of
 * SKEY_PAD bytes, which a JSON reader ignores) under the key of id with the
 * associated data of ctx, with XChaCha20-Poly1305-IETF. out receives
 * skey_sealed_len(plain_len) bytes: the ciphertext then the tag. nonce must be
 * random (randombytes_buf; fixed only in test vectors) and never reused with
 * the key. Returns 0, CPT_ENOTFOUND (no such key), CPT_ETOOBIG (cap too small).
 */
int skey_encrypt(const skey_ring_t *self, uint8_t *out, size_t cap, size_t *out_len,
                 const uint8_t id[SKEY_ID_LEN], const skey_ctx_t *ctx,
                 const uint8_t nonce[SKEY_NONCE_LEN], const uint8_t *plain,
                 size_t plain_len) CPT_WUR;
/*
 * Decrypts ct (ciphertext and tag) into out (cap >= ct_len - SKEY_TAG_LEN) and
 * sets *out_len; the padding is left in. Returns 0, CPT_ENOTFOUND (no such key
 * here: not a member site, or not yet sealed to it), CPT_EAUTH (forged, or
 * bound to another event), CPT_EINVAL (shorter than a tag), CPT_ETOOBIG.
 * out is never written with unauthenticated bytes (zeros on CPT_EAUTH).
 */
int skey_decrypt(const skey_ring_t *self, uint8_t *out, size_t cap, size_t *out_len,
                 const uint8_t id[SKEY_ID_LEN], const skey_ctx_t *ctx,
                 const uint8_t nonce[SKEY_NONCE_LEN], const uint8_t *ct, size_t ct_len) CPT_WUR;

/* The id of a site's space: BLAKE2b-256("comptoir/site-space/v1" || fed || site name). */
void skey_site_space(uint8_t id[CPT_ID_LEN], const uint8_t fed[CPT_FED_LEN], const char *site);

/* ---------------------------------------------------------------- base64 */

/* RFC 4648 section 4 (the standard alphabet, with '=' padding, no line break):
 * the form of sealed boxes in bodies. */

/* The length of the base64 of n bytes, without a NUL. */
size_t cpt_b64_len(size_t n);
/* Writes the base64 of in (n bytes) and a NUL into out (cpt_b64_len(n) + 1 bytes). */
void cpt_b64(char *out, const uint8_t *in, size_t n);
/* Decodes exactly len characters of canonical base64 (padding present, unused
 * bits zero, nothing else) into out (cap bytes). 0, CPT_EINVAL, CPT_ETOOBIG. */
int cpt_unb64(uint8_t *out, size_t cap, size_t *out_len, const char *s, size_t len) CPT_WUR;

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

struct timespec;
/* The wall-clock time ms milliseconds from now, as pthread_cond_timedwait
 * takes it (a condition variable on CLOCK_REALTIME, the default). */
void cpt_deadline(struct timespec *out, uint64_t ms);

/* A big-endian u32 at p (the envelope's body length, PROTOCOL.md 3). */
uint32_t cpt_get_be32(const uint8_t *p);
void cpt_put_be32(uint8_t *p, uint32_t v);

/* ------------------------------------------------------------------- hex */

/* Lowercase hex of 32 bytes into out (65 bytes with NUL). */
void cpt_hex32(char out[CPT_HEX_ID], const uint8_t in[32]);
/* Parses exactly 64 hex digits; returns 0 or CPT_EINVAL. */
int cpt_unhex32(uint8_t out[32], const char *hex, size_t len) CPT_WUR;

/* Initialises libsodium; call once before anything else. Returns 0 or -1. */
int cpt_init(void) CPT_WUR;

#endif
