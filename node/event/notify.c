/*
 * The body rules of the kinds of notifications and following (PROTOCOL.md
 * 17): follow (16), mine (17, sealed: only its form is checked here),
 * announce (18), ack (19). Their effect is decided by views (node/query,
 * node/index/notify.c), never by acceptance.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/event/event_internal.h"

/* Is obj[name] lowercase hex of bytes bytes? */
static int
s_hex(const json_t *obj, const char *name, size_t bytes, char *why, size_t wl)
{
	const char *s = json_string_value(json_object_get(obj, name));

	if (s != NULL && strlen(s) == 2 * bytes) {
		size_t i;
		for (i = 0; i < 2 * bytes; i++)
			if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
				break;
		if (i == 2 * bytes)
			return 1;
	}
	snprintf(why, wl, "\"%s\" must be %zu lowercase hex digits", name, 2 * bytes);
	return 0;
}

int
ev_check_follow(const json_t *b, char *why, size_t wl)
{
	const char *what = json_string_value(json_object_get(b, "what"));
	const char *target = json_string_value(json_object_get(b, "target"));

	if (what == NULL || (strcmp(what, "person") != 0 && strcmp(what, "space") != 0)) {
		snprintf(why, wl, "\"what\" must be \"person\" or \"space\"");
		return CPT_EINVAL;
	}
	if (strcmp(what, "person") == 0 && (target == NULL || !event_valid_handle(target))) {
		snprintf(why, wl, "\"target\" must be a handle");
		return CPT_EINVAL;
	}
	if (strcmp(what, "space") == 0 && !s_hex(b, "target", CPT_ID_LEN, why, wl))
		return CPT_EINVAL;
	if (!json_is_boolean(json_object_get(b, "on"))) {
		snprintf(why, wl, "\"on\" must be true or false");
		return CPT_EINVAL;
	}
	return 0;
}

int
ev_check_mine(const json_t *b, char *why, size_t wl)
{
	const char *box = json_string_value(json_object_get(b, "box"));
	uint8_t *out;
	size_t len = 0;
	int ok;

	if (!s_hex(b, "nonce", crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, why, wl))
		return CPT_EINVAL;
	/* Decoded into a scratch buffer only to check the form (its bytes are
	 * never read): canonical base64 of at least a tag and one byte. */
	out = box ? malloc(strlen(box) + 1) : NULL;
	ok = out && cpt_unb64(out, strlen(box) + 1, &len, box, strlen(box)) == 0 &&
	     len >= crypto_aead_xchacha20poly1305_ietf_ABYTES + 1;
	free(out);
	if (!ok) {
		snprintf(why, wl, "\"box\" must be canonical base64 of at least %d bytes",
		         (int)crypto_aead_xchacha20poly1305_ietf_ABYTES + 1);
		return CPT_EINVAL;
	}
	return 0;
}

int
ev_check_announce(const json_t *b, char *why, size_t wl)
{
	const char *scope = json_string_value(json_object_get(b, "scope"));
	json_t *until = json_object_get(b, "until");

	if (!s_hex(b, "post", CPT_ID_LEN, why, wl))
		return CPT_EINVAL;
	if (scope == NULL || (strcmp(scope, "site") != 0 && strcmp(scope, "all") != 0)) {
		snprintf(why, wl, "\"scope\" must be \"site\" or \"all\"");
		return CPT_EINVAL;
	}
	if (!json_is_integer(until) || json_integer_value(until) < 0) {
		snprintf(why, wl, "\"until\" must be a non-negative integer (ms, 0: until read)");
		return CPT_EINVAL;
	}
	return 0;
}

int
ev_check_ack(const json_t *b, char *why, size_t wl)
{
	return s_hex(b, "post", CPT_ID_LEN, why, wl) ? 0 : CPT_EINVAL;
}
