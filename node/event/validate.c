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
	    sodium_hex2bin(tmp, sizeof(tmp), json_string_value(v), 2 * bytes, NULL, &n, &end) !=
	        0 ||
	    n != bytes) {
		snprintf(why, wl, "\"%s\" must be %zu hex digits", name, 2 * bytes);
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
	int ok = s_want_str(b, "site", 1, 63, why, wl) && s_want_hex(b, "sign_key", 32, why, wl) &&
	         s_want_hex(b, "curve_key", 32, why, wl) && s_want_int(b, "not_before", why, wl) &&
	         s_want_int(b, "not_after", why, wl);

	if (ok && !event_valid_site(json_string_value(json_object_get(b, "site")))) {
		snprintf(why, wl, "\"site\" is not a valid site name");
		ok = 0;
	}
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
	return ok ? 0 : CPT_EINVAL;
}

int
ev_check_enrol(const json_t *b, char *why, size_t wl)
{
	const char *role;
	int ok = s_want_str(b, "handle", 1, 32, why, wl) && s_want_hex(b, "key", 32, why, wl) &&
	         s_want_str(b, "site", 1, 63, why, wl) && s_want_str(b, "role", 1, 16, why, wl);

	if (ok && !event_valid_handle(json_string_value(json_object_get(b, "handle")))) {
		snprintf(why, wl, "\"handle\" is not a valid handle");
		ok = 0;
	}
	role = json_string_value(json_object_get(b, "role"));
	if (ok && strcmp(role, "member") != 0 && strcmp(role, "admin") != 0 &&
	    strcmp(role, "management") != 0) {
		snprintf(why, wl, "\"role\" must be \"member\", \"admin\" or \"management\"");
		ok = 0;
	}
	return ok ? 0 : CPT_EINVAL;
}

int
ev_check_revoke(const json_t *b, char *why, size_t wl)
{
	int ok = s_want_hex(b, "key", 32, why, wl) && s_want_int(b, "effective", why, wl);

	if (ok && json_object_get(b, "reason"))
		ok = s_want_str(b, "reason", 0, 256, why, wl);
	return ok ? 0 : CPT_EINVAL;
}

int
ev_check_key_backup(const json_t *b, char *why, size_t wl)
{
	int ok = s_want_str(b, "handle", 1, 32, why, wl) && s_want_str(b, "kdf", 1, 16, why, wl) &&
	         s_want_int(b, "ops", why, wl) && s_want_int(b, "mem", why, wl) &&
	         s_want_hex(b, "salt", 16, why, wl) && s_want_hex(b, "nonce", 24, why, wl) &&
	         s_want_hex(b, "box", 48, why, wl);

	if (ok && strcmp(json_string_value(json_object_get(b, "kdf")), "argon2id13") != 0) {
		snprintf(why, wl, "\"kdf\" must be \"argon2id13\"");
		ok = 0;
	}
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
	const json_t *q = json_object_get(b, "question");

	if (!s_want_str(b, "text", 1, EVT_MAX_TEXT, why, wl))
		return CPT_EINVAL;
	/* Optional (posts made before it have none): the composer's flag. */
	if (q != NULL && !json_is_boolean(q)) {
		snprintf(why, wl, "\"question\" must be true or false");
		return CPT_EINVAL;
	}
	return 0;
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

int
event_validate(const evt_t *ev, const json_t *body, char *why, size_t whylen)
{
	const ev_kind_t *k = ev_kind(ev->kind);

	return k->validate ? k->validate(body, why, whylen) : 0;
}
