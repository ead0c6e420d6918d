/*
 * The body rules of each kind (the table of kinds.c names them), the names
 * people and sites may have, and the rule of a profile field that the API
 * applies before it signs (one rule, two callers). Sizes are the protocol's
 * (EVT_MAX_* in crypto/crypto.h).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "node/event/event_internal.h"

/* ----------------------------------------------------------------- names */

static int
s_is_name(const char *s, size_t len, size_t max, const char *extra)
{
	if (len == 0 || len > max ||
	    !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(islower(c) || isdigit(c) || strchr(extra, c)) || c == 0)
			return 0;
	}
	return 1;
}

int
event_valid_handle(const char *s)
{
	return s_is_name(s, strlen(s), 32, "._-");
}

int
event_valid_site(const char *s)
{
	return s_is_name(s, strlen(s), 63, "-");
}

int
event_valid_title(const char *s, size_t len)
{
	json_t *probe;

	if (len < 1 || len > EVT_MAX_TITLE)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	/* UTF-8 (a JSON string is; command-line input may not be). */
	if ((probe = json_stringn(s, len)) == NULL)
		return 0;
	json_decref(probe);
	return 1;
}

/* ---------------------------------------------------------------- fields */

/* Field checks write why and return 0 when the field is wrong. */
static int
s_want_str(const json_t *b, const char *name, size_t min, size_t max, char *why, size_t wl)
{
	json_t *v = json_object_get(b, name);

	if (!json_is_string(v)) {
		snprintf(why, wl, "\"%s\" must be a string", name);
		return 0;
	}
	if (json_string_length(v) < min || json_string_length(v) > max) {
		snprintf(why, wl, "\"%s\" must be %zu to %zu bytes", name, min, max);
		return 0;
	}
	return 1;
}

static int
s_want_hex(const json_t *b, const char *name, size_t bytes, char *why, size_t wl)
{
	json_t *v = json_object_get(b, name);
	uint8_t tmp[64];
	size_t n = 0;
	const char *end;

	if (!json_is_string(v) || json_string_length(v) != 2 * bytes || bytes > sizeof(tmp) ||
	    strspn(json_string_value(v), "0123456789abcdef") != 2 * bytes ||
	    sodium_hex2bin(tmp, sizeof(tmp), json_string_value(v), 2 * bytes, NULL, &n, &end) !=
	        0 ||
	    n != bytes) {
		snprintf(why, wl, "\"%s\" must be %zu lowercase hex digits", name, 2 * bytes);
		return 0;
	}
	return 1;
}

static int
s_want_int(const json_t *b, const char *name, char *why, size_t wl)
{
	json_t *v = json_object_get(b, name);

	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(why, wl, "\"%s\" must be a non-negative integer", name);
		return 0;
	}
	return 1;
}

/* Fills in a refusal and returns CPT_EINVAL. */
static int s_refuse(event_refusal_t *out, const char *code, long long min, long long max,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
s_refuse(event_refusal_t *out, const char *code, long long min, long long max, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->why, sizeof(out->why), fmt, ap);
	va_end(ap);
	out->code = code;
	out->min = min;
	out->max = max;
	return CPT_EINVAL;
}

int
event_profile_field(const char *k, const json_t *v, event_refusal_t *out)
{
	size_t max = strcmp(k, "bio") == 0 ? EVT_MAX_BIO : EVT_MAX_FIELD, i;
	json_t *s;

	if (json_is_null(v))
		return 0;
	if (strcmp(k, "skills") != 0) {
		if (json_is_string(v) && json_string_length(v) <= max)
			return 0;
		return s_refuse(out, json_is_string(v) ? "too_long" : "wrong_type", -1,
		                (long long)max,
		                "\"%s\" must be a string of at most %zu bytes or null", k, max);
	}
	if (!json_is_array(v) || json_array_size(v) > EVT_MAX_SKILLS)
		return s_refuse(out, "wrong_type", -1, -1,
		                "\"skills\" must be a list of at most %d strings", EVT_MAX_SKILLS);
	json_array_foreach (v, i, s) {
		if (!json_is_string(s) || json_string_length(s) == 0 ||
		    json_string_length(s) > EVT_MAX_SKILL)
			return s_refuse(out, "wrong_type", -1, -1,
			                "each skill must be a string of 1 to %d bytes",
			                EVT_MAX_SKILL);
	}
	return 0;
}

/* ----------------------------------------------------------------- kinds */

int
ev_check_site_cert(const json_t *b, char *why, size_t wl)
{
	json_t *eps = json_object_get(b, "endpoints"), *e;
	size_t i;
	int ok = s_want_str(b, "site", 1, 63, why, wl);

	if (ok && !event_valid_site(json_string_value(json_object_get(b, "site")))) {
		snprintf(why, wl, "\"site\" is not a valid site name");
		ok = 0;
	}
	ok = ok && s_want_hex(b, "sign_key", 32, why, wl) &&
	     s_want_hex(b, "curve_key", 32, why, wl) && s_want_hex(b, "seal_key", 32, why, wl);
	/* Optional: the name staff read ("Nantes plant"). */
	if (ok && json_object_get(b, "title") &&
	    (!json_is_string(json_object_get(b, "title")) ||
	     !event_valid_title(json_string_value(json_object_get(b, "title")),
	                        json_string_length(json_object_get(b, "title"))))) {
		snprintf(why, wl, "\"title\" must be 1 to %d bytes without control characters",
		         EVT_MAX_TITLE);
		ok = 0;
	}
	if (ok && (!json_is_array(eps) || json_array_size(eps) > 16)) {
		snprintf(why, wl, "\"endpoints\" must be a list of at most 16 strings");
		ok = 0;
	}
	if (ok)
		json_array_foreach (eps, i, e)
			if (!json_is_string(e) || json_string_length(e) > 255) {
				snprintf(why, wl,
				         "\"endpoints\" must be strings of at most 255 bytes");
				ok = 0;
				break;
			}
	ok = ok && s_want_int(b, "not_before", why, wl) && s_want_int(b, "not_after", why, wl);
	return ok ? 0 : CPT_EINVAL;
}

int
ev_check_enrol(const json_t *b, char *why, size_t wl)
{
	const char *role;
	int ok = s_want_str(b, "handle", 1, 32, why, wl);

	if (ok && !event_valid_handle(json_string_value(json_object_get(b, "handle")))) {
		snprintf(why, wl, "\"handle\" is not a valid handle");
		ok = 0;
	}
	ok = ok && s_want_hex(b, "key", 32, why, wl) && s_want_str(b, "site", 1, 63, why, wl);
	if (ok && !event_valid_site(json_string_value(json_object_get(b, "site")))) {
		snprintf(why, wl, "\"site\" is not a valid site name");
		ok = 0;
	}
	ok = ok && s_want_str(b, "role", 1, 16, why, wl);
	role = ok ? json_string_value(json_object_get(b, "role")) : NULL;
	if (ok && strcmp(role, "member") != 0 && strcmp(role, "admin") != 0) {
		snprintf(why, wl, "\"role\" must be \"member\" or \"admin\"");
		ok = 0;
	}
	if (ok && json_object_get(b, "name"))
		ok = s_want_str(b, "name", 0, EVT_MAX_FIELD, why, wl);
	/* The proof itself is checked with the federation (ev_check_enrol_v2). */
	ok = ok && s_want_hex(b, "proof", CPT_SIG_LEN, why, wl);
	return ok ? 0 : CPT_EINVAL;
}

int
ev_check_revoke(const json_t *b, char *why, size_t wl)
{
	int ok = s_want_hex(b, "key", 32, why, wl) && s_want_int(b, "effective", why, wl);
	json_t *v = json_object_get(b, "vouch");
	const char *ids;
	size_t n;

	if (ok && json_object_get(b, "reason"))
		ok = s_want_str(b, "reason", 0, 256, why, wl);
	if (!ok)
		return CPT_EINVAL;
	/* What the revoker vouches for (PROTOCOL.md 7.3): from <= to, and up to
	 * EVENT_VOUCH_MAX id prefixes of 16 bytes, lowercase, strictly increasing. */
	ids = json_string_value(json_object_get(v, "ids"));
	n = ids ? strlen(ids) : 0;
	if (!json_is_object(v) || !json_is_integer(json_object_get(v, "from")) ||
	    !json_is_integer(json_object_get(v, "to")) ||
	    json_integer_value(json_object_get(v, "from")) < 0 ||
	    json_integer_value(json_object_get(v, "to")) <
	        json_integer_value(json_object_get(v, "from")) ||
	    ids == NULL || n % 32 != 0 || n / 32 > EVENT_VOUCH_MAX ||
	    strspn(ids, "0123456789abcdef") != n) {
		snprintf(why, wl,
		         "\"vouch\" must be {from, to, ids}: from <= to, and at most %d lowercase "
		         "id prefixes of 32 hex digits",
		         EVENT_VOUCH_MAX);
		return CPT_EINVAL;
	}
	for (size_t i = 32; i < n; i += 32)
		if (memcmp(ids + i - 32, ids + i, 32) >= 0) {
			snprintf(why, wl, "\"vouch\" ids must be in strictly increasing order");
			return CPT_EINVAL;
		}
	return 0;
}

int
ev_check_key_backup(const json_t *b, char *why, size_t wl)
{
	int ok = s_want_str(b, "handle", 1, 32, why, wl);
	json_int_t ops = json_integer_value(json_object_get(b, "ops"));
	json_int_t mem = json_integer_value(json_object_get(b, "mem"));

	if (ok && !event_valid_handle(json_string_value(json_object_get(b, "handle")))) {
		snprintf(why, wl, "\"handle\" is not a valid handle");
		ok = 0;
	}
	if (ok && strcmp(json_string_value(json_object_get(b, "kdf")) ?: "", "argon2id13") != 0) {
		snprintf(why, wl, "\"kdf\" must be \"argon2id13\"");
		ok = 0;
	}
	/* Bounds, so that a forged backup cannot make a login take minutes or
	 * gigabytes (PROTOCOL.md 7.4). */
	if (ok && (!json_is_integer(json_object_get(b, "ops")) || ops < 1 || ops > 16)) {
		snprintf(why, wl, "\"ops\" must be an integer from 1 to 16");
		ok = 0;
	}
	if (ok && (!json_is_integer(json_object_get(b, "mem")) || mem < 8192 || mem > 268435456)) {
		snprintf(why, wl, "\"mem\" must be an integer from 8192 to 268435456");
		ok = 0;
	}
	ok = ok && s_want_hex(b, "salt", 16, why, wl) && s_want_hex(b, "nonce", 24, why, wl) &&
	     s_want_hex(b, "box", 48, why, wl);
	return ok ? 0 : CPT_EINVAL;
}

int
ev_check_profile(const json_t *body, char *why, size_t wl)
{
	json_t *fields = json_object_get(body, "fields"), *v;
	const char *k;

	if (!json_is_object(fields) || json_object_size(fields) == 0) {
		snprintf(why, wl, "\"fields\" must be a non-empty object");
		return CPT_EINVAL;
	}
	json_object_foreach (fields, k, v) {
		event_refusal_t r;
		int known = 0;
		for (int i = 0; index_profile_fields[i]; i++)
			known |= strcmp(k, index_profile_fields[i]) == 0;
		if (!known)
			continue; /* a newer node's field: ignored */
		if (event_profile_field(k, v, &r) != 0) {
			snprintf(why, wl, "%s", r.why);
			return CPT_EINVAL;
		}
	}
	return 0;
}

int
ev_check_post(const json_t *b, char *why, size_t wl)
{
	return s_want_str(b, "text", 1, EVT_MAX_TEXT, why, wl) ? 0 : CPT_EINVAL;
}

int
ev_check_text_of(const json_t *b, char *why, size_t wl)
{
	return s_want_hex(b, "post", 32, why, wl) && s_want_str(b, "text", 1, EVT_MAX_TEXT, why, wl)
	           ? 0
	           : CPT_EINVAL;
}

int
ev_check_reaction(const json_t *b, char *why, size_t wl)
{
	if (!s_want_hex(b, "post", 32, why, wl) ||
	    !s_want_str(b, "reaction", 1, EVT_MAX_REACTION, why, wl))
		return CPT_EINVAL;
	if (!json_is_boolean(json_object_get(b, "on"))) {
		snprintf(why, wl, "\"on\" must be true or false");
		return CPT_EINVAL;
	}
	return 0;
}

int
ev_check_redact(const json_t *b, char *why, size_t wl)
{
	return s_want_hex(b, "target", 32, why, wl) ? 0 : CPT_EINVAL;
}

/* ------------------------------------- rules that need the event itself */

/* The 32 bytes of a hex field already checked by the rules above. */
static void
s_key_of(const json_t *b, const char *name, uint8_t out[CPT_KEY_LEN])
{
	const char *h = json_string_value(json_object_get(b, name));

	if (h == NULL || cpt_unhex32(out, h, strlen(h)) != 0)
		memset(out, 0, CPT_KEY_LEN);
}

int
ev_check_cert_v2(const ingest_ctx_t *ctx, const evt_t *ev, const json_t *b, char *why, size_t wl)
{
	uint8_t sk[CPT_KEY_LEN], ck[CPT_KEY_LEN], xk[CPT_KEY_LEN];
	uint64_t nb = (uint64_t)json_integer_value(json_object_get(b, "not_before"));
	uint64_t na = (uint64_t)json_integer_value(json_object_get(b, "not_after"));

	s_key_of(b, "sign_key", sk);
	s_key_of(b, "curve_key", ck);
	s_key_of(b, "seal_key", xk);
	if (!key_ed25519_valid(sk) || sodium_memcmp(sk, ctx->root, CPT_KEY_LEN) == 0) {
		snprintf(why, wl, "\"sign_key\" must be a valid Ed25519 key, not the root's");
		return CPT_EINVAL;
	}
	if (!key_x25519_valid(ck)) {
		snprintf(why, wl, "\"curve_key\" must be a valid X25519 key");
		return CPT_EINVAL;
	}
	if (!key_x25519_valid(xk) || sodium_memcmp(xk, ck, CPT_KEY_LEN) == 0) {
		snprintf(why, wl, "\"seal_key\" must be a valid X25519 key apart from curve_key");
		return CPT_EINVAL;
	}
	/* Valid from the moment it is issued, never before. */
	if (nb < HLC_MS(ev->ts)) {
		snprintf(why, wl, "\"not_before\" must not be before the certificate's own time");
		return CPT_EINVAL;
	}
	if (na != 0 && na <= nb) {
		snprintf(why, wl, "\"not_after\" must be 0 or after not_before");
		return CPT_EINVAL;
	}
	return 0;
}

int
ev_check_enrol_v2(const ingest_ctx_t *ctx, const evt_t *ev, const json_t *b, char *why, size_t wl)
{
	uint8_t key[CPT_KEY_LEN], sig[CPT_SIG_LEN];
	const char *proof = json_string_value(json_object_get(b, "proof"));
	size_t n = 0;

	(void)ev;
	s_key_of(b, "key", key);
	if (!key_ed25519_valid(key) || sodium_memcmp(key, ctx->root, CPT_KEY_LEN) == 0) {
		snprintf(why, wl, "\"key\" must be a valid Ed25519 key, not the root's");
		return CPT_EINVAL;
	}
	/* The key's holder agreed to be this handle at this site (hole 1). */
	if (proof == NULL ||
	    sodium_hex2bin(sig, sizeof(sig), proof, strlen(proof), NULL, &n, NULL) != 0 ||
	    n != CPT_SIG_LEN ||
	    evt_proof_verify(sig, ctx->fed, key, json_string_value(json_object_get(b, "site")),
	                     json_string_value(json_object_get(b, "handle"))) != 0) {
		snprintf(why, wl, "\"proof\" is not the enrolled key's signature of its enrolment");
		return CPT_EINVAL;
	}
	return 0;
}

int
ev_check_revoke_v2(const ingest_ctx_t *ctx, const evt_t *ev, const json_t *b, char *why, size_t wl)
{
	uint8_t key[CPT_KEY_LEN];

	(void)ctx;
	(void)ev;
	s_key_of(b, "key", key);
	if (!key_ed25519_valid(key)) {
		snprintf(why, wl, "\"key\" must be a valid Ed25519 key");
		return CPT_EINVAL;
	}
	return 0;
}

/* The short names of kinds in rule names (PROTOCOL.md 7, 8.8). */
static const char *
s_rule_kind(unsigned kind)
{
	switch (kind) {
	case EVT_SITE_CERT: return "cert";
	case EVT_ENROL: return "enrol";
	case EVT_REVOKE: return "revoke";
	case EVT_REDACT: return "redaction";
	}
	return evt_kind_name(kind);
}

const char *
ev_rule_of(unsigned kind, const char *why, char *buf, size_t cap)
{
	const char *q = strchr(why, '"'), *e = q ? strchr(q + 1, '"') : NULL;

	/* Each message names its field first, in quotes: the rule is kind.field. */
	if (q && e && e > q + 1)
		snprintf(buf, cap, "%s.%.*s", s_rule_kind(kind), (int)(e - q - 1), q + 1);
	else
		snprintf(buf, cap, "%s.body", s_rule_kind(kind));
	return buf;
}

int
event_validate(const evt_t *ev, const json_t *body, char *why, size_t whylen)
{
	const ev_kind_t *k = ev_kind(ev->kind);

	return k->validate ? k->validate(body, why, whylen) : 0;
}
