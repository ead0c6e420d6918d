/*
 * The body rules of files (PROTOCOL.md 18.3): the file event (kind 20) and
 * the "files" list that posts, comments and edits may carry. What a site
 * wants and keeps follows from these events (node/index/blobrefs.c).
 */
#include <stdio.h>
#include <string.h>

#include "node/blob/blob.h"
#include "node/event/event_internal.h"

#define FILES_MAX 10 /* files of a post or comment */

/* A lowercase 64-hex-digit string? */
static int
s_hex64(const json_t *v)
{
	const char *s = json_string_value(v);

	return s != NULL && json_string_length(v) == 64 && strspn(s, "0123456789abcdef") == 64;
}

int
ev_check_file(const json_t *b, char *why, size_t wl)
{
	/* One owner of the rule: the blob module, which the sealed file of a
	 * private space (PROTOCOL.md 18.4) is checked by too. */
	return blob_file_check(b, 0, why, wl);
}

int
ev_check_files_of(const json_t *b, char *why, size_t wl)
{
	json_t *files = json_object_get(b, "files"), *v;
	size_t i;

	if (files == NULL)
		return 0;
	if (!json_is_array(files) || json_array_size(files) < 1 ||
	    json_array_size(files) > FILES_MAX) {
		snprintf(why, wl, "\"files\" must be a list of 1 to 10 file event ids");
		return CPT_EINVAL;
	}
	json_array_foreach (files, i, v) {
		if (!s_hex64(v)) {
			snprintf(why, wl, "\"files\" entries must be 64 lowercase hex digits");
			return CPT_EINVAL;
		}
	}
	return 0;
}
