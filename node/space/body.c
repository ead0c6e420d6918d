/*
 * The bodies of the space kinds (docs/PROTOCOL.md 16.3 to 16.5): the rules a
 * site applies on arrival, which never look at a space's state, and sealed
 * bodies and key events built and opened at the JSON level.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/space/space.h"

#define POST_TEXT_MAX 10000               /* PROTOCOL.md 7.6 */
#define REACTION_MAX  32                  /* PROTOCOL.md 7.8 */
#define B64_LEN(n)    (((n) + 2) / 3 * 4) /* cpt_b64_len() as a constant */

/* ------------------------------------------------------------- helpers */

/* Sets *rule and returns CPT_EINVAL: every refusal goes through here. */
static int
s_bad(const char **rule, const char *name)
{
	if (rule != NULL)
		*rule = name;
	return CPT_EINVAL;
}

/* Decodes exactly 2 * n lowercase hex digits (PROTOCOL.md 7: "A-F are refused"). */
static int
s_unhex(uint8_t *out, size_t n, const char *s, size_t len)
{
	if (len != 2 * n)
		return CPT_EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return CPT_EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned hi = (unsigned)(s[2 * i] <= '9' ? s[2 * i] - '0' : s[2 * i] - 'a' + 10);
		unsigned lo =
		    (unsigned)(s[2 * i + 1] <= '9' ? s[2 * i + 1] - '0' : s[2 * i + 1] - 'a' + 10);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int
s_hex_of(uint8_t *out, size_t n, const json_t *v)
{
	if (!json_is_string(v))
		return CPT_EINVAL;
	return s_unhex(out, n, json_string_value(v), json_string_length(v));
}

int
space_hex_member(uint8_t out[32], const json_t *obj, const char *name)
{
	return s_hex_of(out, 32, json_object_get(obj, name));
}

static void
s_hex_into(char *out, const uint8_t *in, size_t n)
{
	sodium_bin2hex(out, 2 * n + 1, in, n);
}

/* A string of min..max bytes; with no_ctl, no control character (U+0000 to
 * U+001F, U+007F) except, when lf_ok, the line feed. */
static int
s_text(const json_t *v, size_t min, size_t max, int no_ctl, int lf_ok)
{
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return 0;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n < min || n > max)
		return 0;
	if (no_ctl)
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)s[i];
			if ((c < 0x20 && !(lf_ok && c == '\n')) || c == 0x7f)
				return 0;
		}
	return 1;
}

/* A handle: [a-z0-9][a-z0-9._-]{0,31} (PROTOCOL.md 7). */
static int
s_handle(const json_t *v)
{
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return 0;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n < 1 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		         (i > 0 && (c == '.' || c == '_' || c == '-'));
		if (!ok)
			return 0;
	}
	return 1;
}

/* The index of v's string in names (NULL-terminated), or -1. */
static int
s_enum(const json_t *v, const char *const *names)
{
	if (!json_is_string(v))
		return -1;
	for (int i = 0; names[i] != NULL; i++)
		if (strcmp(json_string_value(v), names[i]) == 0)
			return i;
	return -1;
}

static const char *const s_visibility[] = {"open", "private", NULL};
static const char *const s_join[] = {"open", "request", "invite", NULL};
static const char *const s_actions[] = {"join",   "leave",  "request", "approve", "decline",
                                        "invite", "remove", "promote", "demote",  NULL};

/* A "sealed" object: key id, nonce, and a box of at least a tag and one byte. */
static int
s_sealed_check(const json_t *o, const char **rule)
{
	uint8_t tmp[SKEY_ID_LEN]; /* the larger of a key id and a nonce */
	const json_t *box;
	size_t n;

	if (!json_is_object(o))
		return s_bad(rule, "sealed.sealed");
	if (s_hex_of(tmp, SKEY_ID_LEN, json_object_get(o, "key")) != 0)
		return s_bad(rule, "sealed.key");
	if (s_hex_of(tmp, SKEY_NONCE_LEN, json_object_get(o, "nonce")) != 0)
		return s_bad(rule, "sealed.nonce");
	box = json_object_get(o, "box");
	if (!json_is_string(box))
		return s_bad(rule, "sealed.box");
	n = json_string_length(box);
	/* The decoded length is 3/4 of the text less the padding; decoding
	 * into a scratch buffer is the only exact canonicality check. */
	{
		uint8_t *buf = malloc(n / 4 * 3 + 1);
		size_t got = 0;
		int rc;

		if (buf == NULL)
			return CPT_ENOMEM;
		rc = cpt_unb64(buf, n / 4 * 3 + 1, &got, json_string_value(box), n);
		free(buf);
		if (rc != 0 || got < SKEY_TAG_LEN + 1)
			return s_bad(rule, "sealed.box");
	}
	return 0;
}

/* --------------------------------------------------------- body rules */

static int
s_check_space(const json_t *b, const char **rule)
{
	uint8_t id[CPT_ID_LEN];
	const json_t *space = json_object_get(b, "space"), *name = json_object_get(b, "name");
	const json_t *desc = json_object_get(b, "description"),
	             *sealed = json_object_get(b, "sealed");
	const json_t *join = json_object_get(b, "join"), *archived = json_object_get(b, "archived");
	int rc;

	if (space != NULL && s_hex_of(id, CPT_ID_LEN, space) != 0)
		return s_bad(rule, "space.space");
	if (name != NULL && !s_text(name, 1, SPACE_NAME_MAX, 1, 0))
		return s_bad(rule, "space.name");
	if (desc != NULL && !s_text(desc, 0, SPACE_DESC_MAX, 1, 1))
		return s_bad(rule, "space.description");
	if (join != NULL && s_enum(join, s_join) < 0)
		return s_bad(rule, "space.join");
	if (archived != NULL && !json_is_boolean(archived))
		return s_bad(rule, "space.archived");
	/* A cover: a file event's id, or null to take it off (18.3). */
	if (json_object_get(b, "cover") != NULL && !json_is_null(json_object_get(b, "cover")) &&
	    s_hex_of(id, CPT_ID_LEN, json_object_get(b, "cover")) != 0)
		return s_bad(rule, "space.cover");
	if (sealed != NULL && (rc = s_sealed_check(sealed, rule)) != 0)
		return rc;
	if (space == NULL) {
		/* The creating event. */
		int vis = s_enum(json_object_get(b, "visibility"), s_visibility);

		if (vis < 0)
			return s_bad(rule, "space.visibility");
		if (join == NULL)
			return s_bad(rule, "space.join");
		if (archived != NULL)
			return s_bad(rule, "space.archived");
		if (vis == 1) {
			/* Private: the profile is sealed, never in clear. */
			if (name != NULL || desc != NULL)
				return s_bad(rule, "space.name");
			if (json_object_get(b, "cover") != NULL)
				return s_bad(rule, "space.cover");
			if (sealed == NULL)
				return s_bad(rule, "space.sealed");
		} else {
			if (name == NULL)
				return s_bad(rule, "space.name");
			if (sealed != NULL)
				return s_bad(rule, "space.sealed");
		}
		return 0;
	}
	/* An edit: visibility is fixed at creation (PROTOCOL.md 16.2). */
	if (json_object_get(b, "visibility") != NULL)
		return s_bad(rule, "space.visibility");
	if (sealed != NULL && (name != NULL || desc != NULL || json_object_get(b, "cover") != NULL))
		return s_bad(rule, "space.sealed");
	return 0;
}

static int
s_check_member(const json_t *b, const char **rule)
{
	uint8_t id[CPT_ID_LEN];
	const json_t *user = json_object_get(b, "user"), *role = json_object_get(b, "role");
	int action;

	if (space_hex_member(id, b, "space") != 0)
		return s_bad(rule, "space_member.space");
	action = s_enum(json_object_get(b, "action"), s_actions);
	if (action < 0)
		return s_bad(rule, "space_member.action");
	if (user != NULL && !s_handle(user))
		return s_bad(rule, "space_member.user");
	switch (action) {
	case 0:
	case 1:
	case 2: /* join, leave, request: oneself */
		if (user != NULL)
			return s_bad(rule, "space_member.user");
		break;
	case 4: /* decline: one's own invitation or request, or someone's */ break;
	default:
		if (user == NULL)
			return s_bad(rule, "space_member.user");
	}
	if (action == 7) {
		static const char *const up[] = {"admin", "owner", NULL};
		if (s_enum(role, up) < 0)
			return s_bad(rule, "space_member.role");
	} else if (action == 8) {
		static const char *const down[] = {"member", "admin", NULL};
		if (s_enum(role, down) < 0)
			return s_bad(rule, "space_member.role");
	} else if (role != NULL) {
		return s_bad(rule, "space_member.role");
	}
	return 0;
}

static int
s_check_key(const json_t *b, const char **rule)
{
	uint8_t id[CPT_ID_LEN], to[CPT_KEY_LEN], box[SKEY_SEAL_LEN + 3];
	const json_t *seals = json_object_get(b, "seals");
	size_t n;

	if (space_hex_member(id, b, "space") != 0)
		return s_bad(rule, "space_key.space");
	if (space_hex_member(id, b, "key") != 0)
		return s_bad(rule, "space_key.key");
	if (!json_is_array(seals) || json_array_size(seals) < 1 ||
	    json_array_size(seals) > SPACE_SEALS_MAX)
		return s_bad(rule, "space_key.seals");
	n = json_array_size(seals);
	for (size_t i = 0; i < n; i++) {
		const json_t *s = json_array_get(seals, i), *bx;
		size_t got = 0;

		if (!json_is_object(s))
			return s_bad(rule, "space_key.seals");
		if (space_hex_member(to, s, "to") != 0 || !key_x25519_valid(to))
			return s_bad(rule, "space_key.to");
		/* Two seals to one key would let a sealer show two sites two keys. */
		for (size_t j = 0; j < i; j++) {
			uint8_t other[CPT_KEY_LEN];
			if (space_hex_member(other, json_array_get(seals, j), "to") == 0 &&
			    memcmp(other, to, CPT_KEY_LEN) == 0)
				return s_bad(rule, "space_key.to");
		}
		bx = json_object_get(s, "box");
		if (!json_is_string(bx) ||
		    cpt_unb64(box, sizeof(box), &got, json_string_value(bx),
		              json_string_length(bx)) != 0 ||
		    got != SKEY_SEAL_LEN)
			return s_bad(rule, "space_key.box");
	}
	return 0;
}

int
space_body_check(uint16_t kind, const json_t *body, const char **rule)
{
	uint8_t id[CPT_ID_LEN];

	if (!json_is_object(body))
		return s_bad(rule, "body.object");
	switch (kind) {
	case EVT_POST:
		if (json_object_get(body, "space") != NULL &&
		    space_hex_member(id, body, "space") != 0)
			return s_bad(rule, "post.space");
		return 0;
	case EVT_SPACE: return s_check_space(body, rule);
	case EVT_SPACE_MEMBER: return s_check_member(body, rule);
	case EVT_SPACE_KEY: return s_check_key(body, rule);
	case EVT_SEALED:
		if (space_hex_member(id, body, "space") != 0)
			return s_bad(rule, "sealed.space");
		/* A sealed file's ciphertext blobs, in clear so that every
		 * site keeps and relays them (PROTOCOL.md 18.4). */
		if (json_object_get(body, "blobs") != NULL) {
			const json_t *blobs = json_object_get(body, "blobs"), *v;
			size_t i;
			if (!json_is_array(blobs) || json_array_size(blobs) < 1 ||
			    json_array_size(blobs) > 3)
				return s_bad(rule, "sealed.blobs");
			json_array_foreach (blobs, i, v) {
				const char *h = json_string_value(v);
				if (h == NULL || json_string_length(v) != 64 ||
				    strspn(h, "0123456789abcdef") != 64)
					return s_bad(rule, "sealed.blobs");
			}
		}
		return s_sealed_check(json_object_get(body, "sealed"), rule);
	}
	return 0;
}

/* -------------------------------------------------------- plaintexts */

/* The fields of an inner post, comment, reaction or edit (PROTOCOL.md 7.6 to 7.9). */
static int
s_check_inner(json_t *p, uint16_t kind, const char **rule)
{
	uint8_t id[CPT_ID_LEN];

	if (kind == EVT_FILE)
		return 0;
	if (kind != EVT_POST && space_hex_member(id, p, "post") != 0)
		return s_bad(rule, kind == EVT_COMMENT    ? "comment.post"
		                   : kind == EVT_REACTION ? "reaction.post"
		                                          : "edit.post");
	if (kind == EVT_REACTION) {
		if (!s_text(json_object_get(p, "reaction"), 1, REACTION_MAX, 0, 0))
			return s_bad(rule, "reaction.reaction");
		if (!json_is_boolean(json_object_get(p, "on")))
			return s_bad(rule, "reaction.on");
		return 0;
	}
	if (!s_text(json_object_get(p, "text"), 1, POST_TEXT_MAX, 0, 0))
		return s_bad(rule, kind == EVT_POST      ? "post.text"
		                   : kind == EVT_COMMENT ? "comment.text"
		                                         : "edit.text");
	/* The composer's optional flag, as in a post in clear (7.6). */
	if (kind == EVT_POST && json_object_get(p, "question") != NULL &&
	    !json_is_boolean(json_object_get(p, "question")))
		return s_bad(rule, "post.question");
	return 0;
}

int
space_plain_parse(json_t **plain, uint16_t *inner_kind, uint16_t outer_kind, const uint8_t *text,
                  size_t len, const char **rule)
{
	json_error_t err;
	json_t *p;
	int rc = CPT_EINVAL;

	assert(plain != NULL && (text != NULL || len == 0));
	*plain = NULL;
	/* The body rules of section 4: no NUL, one object, no duplicate key;
	 * jansson refuses \u0000, bad UTF-8 and nesting beyond 2048. */
	if (len == 0 || memchr(text, 0, len) != NULL)
		return s_bad(rule, "plain.json");
	p = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &err);
	if (p == NULL || !json_is_object(p)) {
		json_decref(p);
		return s_bad(rule, "plain.json");
	}
	if (outer_kind == EVT_SPACE) {
		if (!s_text(json_object_get(p, "name"), 1, SPACE_NAME_MAX, 1, 0)) {
			rc = s_bad(rule, "plain.name");
			goto fail;
		}
		if (json_object_get(p, "description") != NULL &&
		    !s_text(json_object_get(p, "description"), 0, SPACE_DESC_MAX, 1, 1)) {
			rc = s_bad(rule, "plain.description");
			goto fail;
		}
		if (json_object_get(p, "cover") != NULL &&
		    !json_is_null(json_object_get(p, "cover"))) {
			uint8_t cid[CPT_ID_LEN];
			if (space_hex_member(cid, p, "cover") != 0) {
				rc = s_bad(rule, "plain.cover");
				goto fail;
			}
		}
		if (inner_kind != NULL)
			*inner_kind = EVT_SPACE;
	} else if (outer_kind == EVT_SEALED) {
		const json_t *k = json_object_get(p, "kind");
		json_int_t kv = json_is_integer(k) ? json_integer_value(k) : 0;

		/* 6 to 9, or a file (PROTOCOL.md 18.4), whose fields the
		 * opener checks with blob_file_check: node/blob is at this
		 * module's level, and one rule has one owner. */
		if ((kv < EVT_POST || kv > EVT_EDIT) && kv != EVT_FILE) {
			rc = s_bad(rule, "plain.kind");
			goto fail;
		}
		/* The space is the outer event's: an inner one could only contradict it. */
		if (json_object_get(p, "space") != NULL) {
			rc = s_bad(rule, "plain.space");
			goto fail;
		}
		if ((rc = s_check_inner(p, (uint16_t)kv, rule)) != 0)
			goto fail;
		if (inner_kind != NULL)
			*inner_kind = (uint16_t)kv;
	} else {
		rc = s_bad(rule, "plain.kind");
		goto fail;
	}
	*plain = p;
	return 0;
fail:
	json_decref(p);
	return rc;
}

/* ------------------------------------------------------ sealed bodies */

int
space_seal(json_t **sealed, const skey_ring_t *ring, const uint8_t key_id[SKEY_ID_LEN],
           const skey_ctx_t *ctx, const json_t *plain)
{
	uint8_t nonce[SKEY_NONCE_LEN], *ct = NULL;
	char key_hex[2 * SKEY_ID_LEN + 1], nonce_hex[2 * SKEY_NONCE_LEN + 1], *b64 = NULL;
	char *text;
	size_t tlen, clen = 0, cap;
	int rc;

	assert(sealed != NULL && ring != NULL && key_id != NULL && ctx != NULL && plain != NULL);
	*sealed = NULL;
	if ((text = json_dumps(plain, JSON_COMPACT)) == NULL)
		return CPT_ENOMEM;
	tlen = strlen(text);
	if (tlen > EVT_MAX_BODY) {
		rc = CPT_ETOOBIG;
		goto out;
	}
	cap = skey_sealed_len(tlen);
	if ((ct = malloc(cap)) == NULL || (b64 = malloc(cpt_b64_len(cap) + 1)) == NULL) {
		rc = CPT_ENOMEM;
		goto out;
	}
	randombytes_buf(nonce, sizeof(nonce));
	if ((rc = skey_encrypt(ring, ct, cap, &clen, key_id, ctx, nonce, (const uint8_t *)text,
	                       tlen)) != 0)
		goto out;
	cpt_b64(b64, ct, clen);
	s_hex_into(key_hex, key_id, SKEY_ID_LEN);
	s_hex_into(nonce_hex, nonce, SKEY_NONCE_LEN);
	*sealed = json_pack("{s:s, s:s, s:s}", "key", key_hex, "nonce", nonce_hex, "box", b64);
	rc = *sealed != NULL ? 0 : CPT_ENOMEM;
out:
	/* The plaintext of private content: wiped, not just freed. */
	sodium_memzero(text, strlen(text));
	free(text);
	free(ct);
	free(b64);
	return rc;
}

int
space_unseal(json_t **plain, uint16_t *inner_kind, const skey_ring_t *ring, const skey_ctx_t *ctx,
             const json_t *sealed, const char **rule)
{
	uint8_t key_id[SKEY_ID_LEN], nonce[SKEY_NONCE_LEN], *ct = NULL, *pt = NULL;
	const json_t *box;
	size_t blen, clen = 0, plen = 0;
	int rc;

	assert(plain != NULL && ring != NULL && ctx != NULL);
	*plain = NULL;
	if (s_sealed_check(sealed, rule) != 0)
		return CPT_EINVAL;
	if (s_hex_of(key_id, SKEY_ID_LEN, json_object_get(sealed, "key")) != 0 ||
	    s_hex_of(nonce, SKEY_NONCE_LEN, json_object_get(sealed, "nonce")) != 0)
		return CPT_EINVAL;
	if (!skey_ring_has(ring, key_id))
		return CPT_ENOTFOUND;
	box = json_object_get(sealed, "box");
	blen = json_string_length(box);
	if ((ct = malloc(blen / 4 * 3 + 1)) == NULL) {
		rc = CPT_ENOMEM;
		goto out;
	}
	if ((rc = cpt_unb64(ct, blen / 4 * 3 + 1, &clen, json_string_value(box), blen)) != 0)
		goto out;
	if ((pt = malloc(clen)) == NULL) {
		rc = CPT_ENOMEM;
		goto out;
	}
	if ((rc = skey_decrypt(ring, pt, clen, &plen, key_id, ctx, nonce, ct, clen)) != 0)
		goto out;
	rc = space_plain_parse(plain, inner_kind, ctx->kind, pt, plen, rule);
	sodium_memzero(pt, plen);
out:
	free(ct);
	free(pt);
	return rc;
}

int
space_key_body(json_t **body, const skey_ring_t *ring, const uint8_t space[CPT_ID_LEN],
               const uint8_t key_id[SKEY_ID_LEN], const uint8_t (*seal_pks)[CPT_KEY_LEN], size_t n)
{
	uint8_t box[SKEY_SEAL_LEN];
	char b64[B64_LEN(SKEY_SEAL_LEN) + 1], hex[CPT_HEX_ID];
	json_t *seals = NULL;
	int rc;

	assert(body != NULL && ring != NULL && space != NULL && key_id != NULL);
	*body = NULL;
	if (n < 1 || n > SPACE_SEALS_MAX || seal_pks == NULL)
		return CPT_EINVAL;
	if (!skey_ring_has(ring, key_id))
		return CPT_ENOTFOUND;
	if ((seals = json_array()) == NULL)
		return CPT_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < i; j++)
			if (memcmp(seal_pks[i], seal_pks[j], CPT_KEY_LEN) == 0) {
				rc = CPT_EINVAL;
				goto fail;
			}
		if ((rc = skey_ring_seal(ring, box, key_id, space, seal_pks[i])) != 0)
			goto fail;
		cpt_b64(b64, box, sizeof(box));
		cpt_hex32(hex, seal_pks[i]);
		if (json_array_append_new(seals, json_pack("{s:s, s:s}", "to", hex, "box", b64)) !=
		    0) {
			rc = CPT_ENOMEM;
			goto fail;
		}
	}
	{
		char space_hex[CPT_HEX_ID], key_hex[CPT_HEX_ID];

		cpt_hex32(space_hex, space);
		cpt_hex32(key_hex, key_id);
		*body = json_pack("{s:s, s:s, s:o}", "space", space_hex, "key", key_hex, "seals",
		                  seals);
	}
	return *body != NULL ? 0 : CPT_ENOMEM;
fail:
	json_decref(seals);
	return rc;
}

int
space_key_open(skey_ring_t *ring, const json_t *body, const key_curve_t *seal)
{
	uint8_t space[CPT_ID_LEN], key_id[SKEY_ID_LEN], to[CPT_KEY_LEN], box[SKEY_SEAL_LEN + 3];
	const json_t *seals, *s;
	size_t i, got = 0;

	assert(ring != NULL && body != NULL && seal != NULL);
	if (space_body_check(EVT_SPACE_KEY, body, NULL) != 0 ||
	    space_hex_member(space, body, "space") != 0 ||
	    space_hex_member(key_id, body, "key") != 0)
		return CPT_EINVAL;
	seals = json_object_get(body, "seals");
	json_array_foreach (seals, i, s) {
		const json_t *bx = json_object_get(s, "box");

		if (space_hex_member(to, s, "to") != 0 ||
		    memcmp(to, key_curve_public(seal), CPT_KEY_LEN) != 0)
			continue;
		if (cpt_unb64(box, sizeof(box), &got, json_string_value(bx),
		              json_string_length(bx)) != 0 ||
		    got != SKEY_SEAL_LEN)
			return CPT_EINVAL;
		return skey_ring_open(ring, box, space, key_id, seal);
	}
	return CPT_ENOTFOUND;
}
