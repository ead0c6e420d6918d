/*
 * The signed event envelope: encode, sign, decode, verify, id.
 * The layout is in docs/PROTOCOL.md, section "Envelope"; change neither alone.
 */
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "crypto/crypto.h"

/* Offsets of the header fields (PROTOCOL.md). */
enum {
	OFF_VERSION = 0,
	OFF_RESERVED = 1,
	OFF_KIND = 2,
	OFF_FED = 4,
	OFF_AUTHOR = 36,
	OFF_TS = 68,
	OFF_HASH = 76,
	OFF_LEN = 108,
	OFF_SIG = 112,
};

static const char *const s_kind_names[] = {
    [EVT_SITE_CERT] = "site_cert", [EVT_ENROL] = "enrol",
    [EVT_REVOKE] = "revoke",       [EVT_KEY_BACKUP] = "key_backup",
    [EVT_PROFILE] = "profile",     [EVT_POST] = "post",
    [EVT_COMMENT] = "comment",     [EVT_REACTION] = "reaction",
    [EVT_EDIT] = "edit",           [EVT_REDACT] = "redaction",
    [EVT_SPACE] = "space",         [EVT_SPACE_MEMBER] = "space_member",
    [EVT_SPACE_KEY] = "space_key", [EVT_SEALED] = "sealed",
    [EVT_FOLLOW] = "follow",       [EVT_MINE] = "mine",
    [EVT_ANNOUNCE] = "announce",   [EVT_ACK] = "ack",
    [EVT_FILE] = "file",
};

const char *
evt_kind_name(unsigned kind)
{
	if (kind < sizeof(s_kind_names) / sizeof(s_kind_names[0]) && s_kind_names[kind])
		return s_kind_names[kind];
	return "unknown";
}

unsigned
evt_kind_from_name(const char *name)
{
	for (unsigned k = 1; k < sizeof(s_kind_names) / sizeof(s_kind_names[0]); k++)
		if (s_kind_names[k] && strcmp(s_kind_names[k], name) == 0)
			return k;
	return 0;
}

static void
s_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
s_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint16_t
s_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint64_t
s_get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* The message an envelope signature covers: domain string, then the header. */
static void
s_signed_message(uint8_t *msg, const uint8_t header[EVT_HEADER_LEN])
{
	memcpy(msg, EVT_SIG_DOMAIN, sizeof(EVT_SIG_DOMAIN) - 1);
	memcpy(msg + sizeof(EVT_SIG_DOMAIN) - 1, header, EVT_HEADER_LEN);
}

#define SIGNED_MSG_LEN (sizeof(EVT_SIG_DOMAIN) - 1 + EVT_HEADER_LEN)

int
evt_sign(uint8_t *out, size_t cap, size_t *out_len, uint16_t kind, const uint8_t fed[CPT_FED_LEN],
         uint64_t ts, const uint8_t *body, size_t body_len, const key_sign_t *key)
{
	uint8_t msg[SIGNED_MSG_LEN];

	if (body_len == 0 || body_len > EVT_MAX_BODY || cap < EVT_FIXED_LEN + body_len)
		return CPT_ETOOBIG;
	out[OFF_VERSION] = EVT_VERSION;
	out[OFF_RESERVED] = 0;
	s_put16(out + OFF_KIND, kind);
	memcpy(out + OFF_FED, fed, CPT_FED_LEN);
	memcpy(out + OFF_AUTHOR, key_sign_public(key), CPT_KEY_LEN);
	s_put64(out + OFF_TS, ts);
	crypto_generichash(out + OFF_HASH, CPT_HASH_LEN, body, body_len, NULL, 0);
	cpt_put_be32(out + OFF_LEN, (uint32_t)body_len);
	s_signed_message(msg, out);
	key_sign_sign(key, out + OFF_SIG, msg, sizeof(msg));
	memmove(out + EVT_FIXED_LEN, body, body_len);
	*out_len = EVT_FIXED_LEN + body_len;
	return 0;
}

/* The body must be one JSON object in valid UTF-8, without NUL or duplicate keys.
 * jansson checks UTF-8 and refuses \u0000 unless asked (JSON_ALLOW_NUL). */
static int
s_check_body(const uint8_t *body, size_t len)
{
	json_error_t jerr;
	json_t *root;
	int ok;

	if (memchr(body, 0, len) != NULL)
		return CPT_EINVAL;
	root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return CPT_EINVAL;
	ok = json_is_object(root);
	json_decref(root);
	return ok ? 0 : CPT_EINVAL;
}

/* s_decode's checks: the body's rules (evt_decode's JSON parse); S_HASHED:
 * the header's hash is known to be the body's (EVT_DECODE_HASHED). */
#define S_CHECK_BODY 1
#define S_HASHED     2

static int s_decode(evt_t *ev, const uint8_t *fixed, const uint8_t *body, size_t body_len,
                    size_t max_body, int check);

int
evt_decode(evt_t *ev, const uint8_t *buf, size_t len, size_t max_body)
{
	if (buf == NULL || len < EVT_FIXED_LEN) {
		memset(ev, 0, sizeof(*ev));
		return CPT_EINVAL;
	}
	return s_decode(ev, buf, len > EVT_FIXED_LEN ? buf + EVT_FIXED_LEN : NULL,
	                len - EVT_FIXED_LEN, max_body, 1);
}

int
evt_decode_lazy(evt_t *ev, const uint8_t *buf, size_t len, size_t max_body)
{
	if (buf == NULL || len < EVT_FIXED_LEN) {
		memset(ev, 0, sizeof(*ev));
		return CPT_EINVAL;
	}
	return s_decode(ev, buf, len > EVT_FIXED_LEN ? buf + EVT_FIXED_LEN : NULL,
	                len - EVT_FIXED_LEN, max_body, 0);
}

int
evt_decode_parts(evt_t *ev, const uint8_t fixed[EVT_FIXED_LEN], const uint8_t *body,
                 size_t body_len, size_t max_body, int lazy)
{
	if (fixed == NULL || (body == NULL && body_len > 0)) {
		memset(ev, 0, sizeof(*ev));
		return CPT_EINVAL;
	}
	return s_decode(ev, fixed, body_len ? body : NULL, body_len, max_body,
	                (lazy & 1 ? 0 : S_CHECK_BODY) | (lazy & EVT_DECODE_HASHED ? S_HASHED : 0));
}

/* One decoder for both shapes: the header and signature at fixed, the body
 * (blen bytes, NULL when there are none: a redacted event) at body, which
 * follows fixed in memory when the envelope was given whole. */
static int
s_decode(evt_t *ev, const uint8_t *fixed, const uint8_t *body, size_t blen, size_t max_body,
         int check)
{
	const uint8_t *buf = fixed;
	uint8_t hash[CPT_HASH_LEN];

	memset(ev, 0, sizeof(*ev));
	if (max_body > EVT_MAX_BODY)
		max_body = EVT_MAX_BODY;
	if (buf[OFF_VERSION] != EVT_VERSION)
		return CPT_EVERSION;
	if (buf[OFF_RESERVED] != 0)
		return CPT_EINVAL;
	ev->version = buf[OFF_VERSION];
	ev->kind = s_get16(buf + OFF_KIND);
	memcpy(ev->fed, buf + OFF_FED, CPT_FED_LEN);
	memcpy(ev->author, buf + OFF_AUTHOR, CPT_KEY_LEN);
	ev->ts = s_get64(buf + OFF_TS);
	memcpy(ev->body_hash, buf + OFF_HASH, CPT_HASH_LEN);
	ev->body_len = cpt_get_be32(buf + OFF_LEN);
	memcpy(ev->sig, buf + OFF_SIG, CPT_SIG_LEN);
	if (ev->kind == 0 || ev->body_len == 0)
		return CPT_EINVAL;
	if (ev->body_len > max_body)
		return CPT_ETOOBIG;
	ev->raw = buf;
	/* Whole only when the body follows the header (evt_decode_parts). */
	ev->raw_len = blen == 0 || body == buf + EVT_FIXED_LEN ? EVT_FIXED_LEN + blen : 0;
	if (blen == 0) /* redacted: header and signature only */
		return 0;
	if (blen != ev->body_len)
		return CPT_EINVAL;
	if (!(check & S_HASHED)) {
		crypto_generichash(hash, sizeof(hash), body, ev->body_len, NULL, 0);
		/* memcmp: both hashes are public (the sender's bytes), and
		 * sodium_memcmp's constant time is for secrets; it cost 279
		 * instructions here, once per envelope checked. */
		if (memcmp(hash, ev->body_hash, sizeof(hash)) != 0)
			return CPT_EHASH;
	}
	if ((check & S_CHECK_BODY) && s_check_body(body, ev->body_len) != 0)
		return CPT_EINVAL;
	ev->body = body;
	return 0;
}

int
evt_verify(const evt_t *ev, const uint8_t fed[CPT_FED_LEN])
{
	uint8_t msg[SIGNED_MSG_LEN];

	if (memcmp(ev->fed, fed, CPT_FED_LEN) != 0) /* public: as the body's hash */
		return CPT_EFEDERATION;
	s_signed_message(msg, ev->raw);
	if (crypto_sign_verify_detached(ev->sig, msg, sizeof(msg), ev->author) != 0)
		return CPT_ESIG;
	return 0;
}

void
evt_id_raw(uint8_t id[CPT_ID_LEN], const uint8_t fixed[EVT_FIXED_LEN])
{
	crypto_generichash(id, CPT_ID_LEN, fixed, EVT_FIXED_LEN, NULL, 0);
}

void
evt_id(uint8_t id[CPT_ID_LEN], const evt_t *ev)
{
	evt_id_raw(id, ev->raw);
}

#define FED_DOMAIN "comptoir/federation/v1"

void
evt_federation_id(uint8_t fed[CPT_FED_LEN], const uint8_t root_pk[CPT_KEY_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, CPT_FED_LEN);
	crypto_generichash_update(&st, (const uint8_t *)FED_DOMAIN, sizeof(FED_DOMAIN) - 1);
	crypto_generichash_update(&st, root_pk, CPT_KEY_LEN);
	crypto_generichash_final(&st, fed, CPT_FED_LEN);
}
