/*
 * What the body of each call may hold, checked before anything is signed,
 * and the event a call then signs. They take a parsed body and no request,
 * so that the fuzz target (tests/fuzz/fuzz_http_body.c) runs these very
 * checks. The rules of what people write are node/event's (one rule, two
 * callers): a profile field, the sizes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "node/http/http_internal.h"

static const char *const s_login_keys[] = {"handle", "password", NULL};
static const char *const s_password_keys[] = {"old", "new", NULL};
/* "files": ids of file events by the same person (PROTOCOL.md 18.3) */
static const char *const s_text_keys[] = {"text", "files", NULL};
static const char *const s_post_keys[] = {"text", "question", "space", "files",
                                          NULL}; /* "space": api_posts.c */
static const char *const s_reaction_keys[] = {"reaction", "on", NULL};

/* Fills in a refusal: its code and field, the bounds broken (or -1), the
 * message (cut on a character: it goes out as JSON). Returns CPT_EINVAL. */
static int s_refuse(api_refusal_t *out, const char *code, const char *name, long long min,
                    long long max, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int
s_refuse(api_refusal_t *out, const char *code, const char *name, long long min, long long max,
         const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->why, sizeof(out->why), fmt, ap);
	va_end(ap);
	http_utf8_trim(out->why);
	out->code = code;
	out->field = name;
	out->min = min;
	out->max = max;
	return CPT_EINVAL;
}

/* Refuses keys of body other than those of allowed (NULL-terminated). */
static int
s_only_keys(const json_t *body, const char *const *allowed, api_refusal_t *out)
{
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)body, k, v) {
		int ok = 0;
		for (int i = 0; allowed[i]; i++)
			ok |= strcmp(k, allowed[i]) == 0;
		if (!ok)
			return s_refuse(out, "unknown_field", k, -1, -1, "unknown field \"%s\"", k);
	}
	return 0;
}

/* A string field of min..max bytes. Empty and too long are told apart:
 * the UI says which. */
static int
s_want_str(const json_t *body, const char *name, size_t min, size_t max, api_refusal_t *out)
{
	json_t *v = json_object_get(body, name);

	if (!json_is_string(v))
		return s_refuse(out, "wrong_type", name, -1, -1, "\"%s\" must be a string", name);
	/* jansson refuses \u0000 unless asked, so the length is the C length. */
	if (json_string_length(v) < min || json_string_length(v) > max)
		return s_refuse(out, json_string_length(v) < min ? "too_short" : "too_long", name,
		                (long long)min, (long long)max, "\"%s\" must be %zu to %zu bytes",
		                name, min, max);
	return 0;
}

/* One profile field, by the rule of node/event (the one the ingest path
 * applies to the event this call signs). */
static int
s_profile_field(const char *k, const json_t *v, api_refusal_t *out)
{
	event_refusal_t why;

	if (event_profile_field(k, v, &why) == 0)
		return 0;
	return s_refuse(out, why.code, k, why.min, why.max, "%s", why.why);
}

int
api_body_check(enum api_body call, const json_t *body, api_refusal_t *out)
{
	const char *k;
	json_t *v, *on;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->min = out->max = -1;
	switch (call) {
	case API_LOGIN:
		if ((rc = s_only_keys(body, s_login_keys, out)) == 0 &&
		    (rc = s_want_str(body, "handle", 1, 64, out)) == 0)
			rc = s_want_str(body, "password", 0, ACCT_MAX_PASSWORD, out);
		return rc;
	case API_PASSWORD:
		if ((rc = s_only_keys(body, s_password_keys, out)) == 0 &&
		    (rc = s_want_str(body, "old", 0, ACCT_MAX_PASSWORD, out)) == 0)
			rc = s_want_str(body, "new", ACCT_MIN_PASSWORD, ACCT_MAX_PASSWORD, out);
		return rc;
	case API_POST:
		if ((rc = s_only_keys(body, s_post_keys, out)) == 0 &&
		    (rc = s_want_str(body, "text", 1, EVT_MAX_TEXT, out)) == 0 &&
		    (on = json_object_get(body, "question")) != NULL && !json_is_boolean(on))
			rc = s_refuse(out, "wrong_type", "question", -1, -1,
			              "\"question\" must be true or false");
		return rc;
	case API_EDIT:
	case API_COMMENT:
		if ((rc = s_only_keys(body, s_text_keys, out)) == 0)
			rc = s_want_str(body, "text", 1, EVT_MAX_TEXT, out);
		if (rc == 0 && json_object_get(body, "files") != NULL) {
			json_t *f = json_object_get(body, "files"), *x;
			size_t i;
			int ok =
			    json_is_array(f) && json_array_size(f) >= 1 && json_array_size(f) <= 10;
			json_array_foreach (f, i, x) {
				uint8_t id[CPT_ID_LEN];
				ok = ok && json_is_string(x) &&
				     http_parse_id(id, json_string_value(x),
				                   json_string_length(x)) == 0;
			}
			if (!ok)
				rc = s_refuse(
				    out, "wrong_type", "files", 1, 10,
				    "\"files\" must be a list of 1 to 10 file ids (64 lowercase "
				    "hex digits, from POST /api/files)");
		}
		return rc;
	case API_REACTION:
		if ((rc = s_only_keys(body, s_reaction_keys, out)) == 0 &&
		    (rc = s_want_str(body, "reaction", 1, EVT_MAX_REACTION, out)) == 0 &&
		    (on = json_object_get(body, "on")) != NULL && !json_is_boolean(on))
			rc = s_refuse(out, "wrong_type", "on", -1, -1,
			              "\"on\" must be true or false");
		return rc;
	case API_PROFILE:
		if ((rc = s_only_keys(body, index_profile_fields, out)) != 0)
			return rc;
		if (json_object_size(body) == 0)
			return s_refuse(out, "empty", NULL, -1, -1,
			                "give at least one profile field");
		json_object_foreach ((json_t *)body, k, v) {
			if ((rc = s_profile_field(k, v, out)) != 0)
				return rc;
		}
		return 0;
	case API_BODY_COUNT: break;
	}
	return s_refuse(out, "bad_request", NULL, -1, -1, "no such call");
}

json_t *
api_body_event(enum api_body call, const json_t *body, const char *post, uint16_t *kind)
{
	const char *text = json_string_value(json_object_get(body, "text"));
	json_t *on, *files = json_object_get(body, "files"), *ev = NULL;

	switch (call) {
	case API_POST:
		*kind = EVT_POST;
		ev = json_pack("{s:s}", "text", text);
		/* The composer's "question" flag goes into the body only when set:
		 * posts without it stay byte for byte what they were. */
		if (ev != NULL && json_is_true(json_object_get(body, "question")))
			json_object_set_new(ev, "question", json_true());
		break;
	case API_EDIT:
		*kind = EVT_EDIT;
		ev = json_pack("{s:s, s:s}", "post", post, "text", text);
		break;
	case API_COMMENT:
		*kind = EVT_COMMENT;
		ev = json_pack("{s:s, s:s}", "post", post, "text", text);
		break;
	case API_REACTION:
		*kind = EVT_REACTION;
		on = json_object_get(body, "on");
		return json_pack("{s:s, s:s, s:b}", "post", post, "reaction",
		                 json_string_value(json_object_get(body, "reaction")), "on",
		                 on ? json_is_true(on) : 1);
	case API_PROFILE: *kind = EVT_PROFILE; return json_pack("{s:O}", "fields", body);
	case API_LOGIN:
	case API_PASSWORD:
	case API_BODY_COUNT: break;
	}
	if (ev != NULL && files != NULL)
		json_object_set(ev, "files", files);
	return ev;
}

/* A body that fails api_body_check is answered 400 with its code, naming
 * the field and the bounds it broke. */
/* A file of the caller's own that a post, comment or edit names and that
 * was deleted meanwhile (by its author, or as an upload never posted within
 * limits.unposted_ttl): 1 with its id in hex, so the call is refused by
 * name instead of carrying a file that never shows. */
static int
s_file_gone(http_req_t *r, const json_t *body, char hex[CPT_HEX_ID])
{
	const json_t *files = json_object_get(body, "files"), *x;
	store_txn_t *txn;
	size_t i;
	int gone = 0;

	if (!json_is_array(files) || store_read_begin(r->h->st, &txn) != 0)
		return 0;
	json_array_foreach (files, i, x) {
		uint8_t id[CPT_ID_LEN];
		evt_t ev;
		if (!json_is_string(x) ||
		    http_parse_id(id, json_string_value(x), json_string_length(x)) != 0)
			continue;
		if (index_event(txn, id, &ev) == 0 && ev.kind == EVT_FILE && ev.body == NULL &&
		    sodium_memcmp(ev.author, r->sess.key, CPT_KEY_LEN) == 0) {
			cpt_hex32(hex, id);
			gone = 1;
			break;
		}
	}
	store_read_end(r->h->st, &txn);
	return gone;
}

int
http_body_ok(http_req_t *r, enum api_body call, const json_t *body)
{
	api_refusal_t why;
	json_t *params = NULL;
	char hex[CPT_HEX_ID];

	if (api_body_check(call, body, &why) == 0) {
		if ((call == API_POST || call == API_COMMENT || call == API_EDIT) &&
		    s_file_gone(r, body, hex)) {
			http_fail(
			    r, 400, "file_gone", "files", json_pack("{s:s}", "file", hex),
			    "the file %s was deleted (an upload is deleted when no post names "
			    "it within limits.unposted_ttl): attach it again",
			    hex);
			return 0;
		}
		return 1;
	}
	if (why.min >= 0 || why.max >= 0) {
		params = json_object();
		if (params && why.min >= 0)
			json_object_set_new(params, "min", json_integer(why.min));
		if (params && why.max >= 0)
			json_object_set_new(params, "max", json_integer(why.max));
	}
	http_fail(r, 400, why.code, why.field, params, "%s", why.why);
	return 0;
}
