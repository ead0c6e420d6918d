/*
 * The body rules of a file (PROTOCOL.md 18.3), and of a private space's
 * sealed file (18.4: its file key and plaintext sizes): the rule the file
 * event's admission and a sealed file's opening share.
 */
#include "node/blob/blob.h"

#include <stdio.h>
#include <string.h>

#define FILE_MAX_NAME   255   /* bytes of a name */
#define FILE_MAX_DIM    20000 /* pixels of a side */
#define FILE_MAX_THUMBS 2     /* thumbnails of an image */
#define FILE_MAX_THUMB  1280  /* pixels of a thumbnail's longest side */

/* A lowercase 64-hex-digit string? */
static int
s_hex64(const json_t *v)
{
	const char *s = json_string_value(v);

	return s != NULL && json_string_length(v) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* Sealed: "plain" (the plaintext size) of o, and its "size" that of the
 * sealed blob of so many bytes (18.4). */
static int
s_sealed_sizes(const json_t *o)
{
	const json_t *p = json_object_get(o, "plain");

	return json_is_integer(p) && json_integer_value(p) >= 1 &&
	       (uint64_t)json_integer_value(p) <= BLOB_SEALED_MAX &&
	       (uint64_t)json_integer_value(json_object_get(o, "size")) ==
	           blob_sealed_size((uint64_t)json_integer_value(p));
}

/* An integer in [lo, hi]? */
static int
s_int_in(const json_t *v, json_int_t lo, json_int_t hi)
{
	return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

/* A name as given at upload: 1..255 bytes, no '/', '\\' or control character. */
static int
s_name_ok(const json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);

	if (s == NULL || n == 0 || n > FILE_MAX_NAME || strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '/' || s[i] == '\\')
			return 0;
	return 1;
}

int
blob_file_check(const json_t *b, int sealed, char *why, size_t wl)
{
	const char *type = json_string_value(json_object_get(b, "type"));
	json_t *w = json_object_get(b, "w"), *h = json_object_get(b, "h");
	json_t *thumbs = json_object_get(b, "thumbs"), *t;
	int image;
	size_t i;

	if (!s_hex64(json_object_get(b, "blob"))) {
		snprintf(why, wl, "\"blob\" must be 64 lowercase hex digits");
		return CPT_EINVAL;
	}
	if (!s_int_in(json_object_get(b, "size"), 1, (json_int_t)BLOB_MAX_SIZE)) {
		snprintf(why, wl, "\"size\" must be an integer from 1 to 2^33");
		return CPT_EINVAL;
	}
	if (!blob_type_known(type)) {
		snprintf(why, wl, "\"type\" must be one of the types of PROTOCOL.md 18.2");
		return CPT_EINVAL;
	}
	if (!s_name_ok(json_object_get(b, "name"))) {
		snprintf(why, wl,
		         "\"name\" must be 1 to 255 bytes without / \\ or control "
		         "characters");
		return CPT_EINVAL;
	}
	image = blob_type_is_image(type);
	if ((w != NULL || h != NULL) &&
	    (!image || !s_int_in(w, 1, FILE_MAX_DIM) || !s_int_in(h, 1, FILE_MAX_DIM))) {
		snprintf(why, wl,
		         "\"dims\" w and h must be both set, 1 to 20000, and only for "
		         "images");
		return CPT_EINVAL;
	}
	if (thumbs == NULL)
		return 0;
	if (!image || !json_is_array(thumbs) || json_array_size(thumbs) > FILE_MAX_THUMBS) {
		snprintf(why, wl, "\"thumbs\" must be a list of at most 2, for images only");
		return CPT_EINVAL;
	}
	json_array_foreach (thumbs, i, t) {
		if (!json_is_object(t) || !s_hex64(json_object_get(t, "blob")) ||
		    !s_int_in(json_object_get(t, "size"), 1, (json_int_t)BLOB_MAX_SIZE) ||
		    !s_int_in(json_object_get(t, "w"), 1, FILE_MAX_THUMB) ||
		    !s_int_in(json_object_get(t, "h"), 1, FILE_MAX_THUMB)) {
			snprintf(why, wl,
			         "\"thumbs\" entries must be {blob, size, w, h} with w, h "
			         "at most 1280");
			return CPT_EINVAL;
		}
		if (sealed && !s_sealed_sizes(t)) {
			snprintf(why, wl,
			         "\"thumbs\" entries of a sealed file need \"plain\", and \"size\" "
			         "that of its sealed blob (plain.plain)");
			return CPT_EINVAL;
		}
	}
	return 0;
}
