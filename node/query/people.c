/*
 * People: a person's identity and profile by handle, and the directory
 * search over handles, home sites and profile fields, compared with case
 * and accents folded.
 */
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "node/query/query_internal.h"

json_t *
query_person(store_txn_t *txn, const char *handle)
{
	uint8_t key[CPT_KEY_LEN];
	json_t *rec, *prof, *out;
	char hex[CPT_HEX_ID], site[64];

	assert(txn != NULL && handle != NULL);
	if (index_key_of(txn, handle, key) != 0 || index_handle_site(txn, handle, site) != 0)
		return NULL;
	if ((rec = index_key_info(txn, key)) == NULL)
		return NULL;
	prof = store_get_json(txn, DB_PROFILES, handle, strlen(handle));
	cpt_hex32(hex, key);
	/* The home site is the site the handle belongs to (PROTOCOL.md 8.7). */
	out = json_pack("{s:s, s:s, s:s, s:O, s:b}", "handle", handle, "key", hex, "home_site",
	                site, "role", json_object_get(rec, "role"), "disabled",
	                index_revoked_at(txn, key) != UINT64_MAX);
	if (out) {
		json_t *fields = prof ? json_object_get(prof, "fields") : NULL;
		/* A person without a profile yet gets an empty one, owned by out. */
		json_object_set_new(out, "profile", fields ? json_incref(fields) : json_object());
		json_object_set_new(out, "updated",
		                    prof ? json_incref(json_object_get(prof, "updated"))
		                         : json_null());
	}
	json_decref(prof);
	json_decref(rec);
	return out;
}

/* What each code point of U+00C0..U+017F folds to, one character each; the
 * digits stand for two letters (1 ae, 2 th, 3 ss, 4 ij, 5 oe) and "." for a
 * code point kept as it is (the signs × and ÷). */
static const char s_latin[] =
    /* U+00C0 ÀÁÂÃÄÅÆÇ ÈÉÊË ÌÍÎÏ ÐÑ ÒÓÔÕÖ × Ø ÙÚÛÜ Ý Þ ß */
    "aaaaaa1ceeeeiiiidnooooo.ouuuuy23"
    /* U+00E0 àáâãäåæç èéêë ìíîï ðñ òóôõö ÷ ø ùúûü ý þ ÿ */
    "aaaaaa1ceeeeiiiidnooooo.ouuuuy2y"
    /* U+0100 ĀāĂăĄą ĆćĈĉĊċČč ĎďĐđ ĒēĔĕĖėĘęĚě */
    "aaaaaaccccccccddddeeeeeeeeee"
    /* U+011C ĜĝĞğĠġĢģ ĤĥĦħ ĨĩĪīĬĭĮįİı Ĳĳ Ĵĵ Ķķĸ */
    "gggggggghhhhiiiiiiiiii44jjkkk"
    /* U+0139 ĹĺĻļĽľĿŀŁł ŃńŅņŇňŉŊŋ ŌōŎŏŐő Œœ */
    "llllllllllnnnnnnnnnoooooo55"
    /* U+0154 ŔŕŖŗŘř ŚśŜŝŞşŠš ŢţŤťŦŧ ŨũŪūŬŭŮůŰűŲų Ŵŵ ŶŷŸ ŹźŻżŽž ſ */
    "rrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";

void
query_fold(const char *s, char *out, size_t cap)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	if (cap == 0)
		return;
	while (*p && n + 1 < cap) {
		unsigned cp = 0;
		size_t len = 1;
		if (p[0] < 0x80) {
			out[n++] = (char)tolower(p[0]);
			p++;
			continue;
		}
		/* Two-byte sequences hold every code point folded here. */
		if ((p[0] & 0xe0) == 0xc0 && (p[1] & 0xc0) == 0x80) {
			cp = (unsigned)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
			len = 2;
		}
		if (cp >= 0x300 && cp <= 0x36f) {
			p += len; /* a combining accent: "e" + U+0301 is "é" */
			continue;
		}
		if (cp >= 0xc0 && cp <= 0x17f && s_latin[cp - 0xc0] != '.') {
			static const char *const two[] = {"ae", "th", "ss", "ij", "oe"};
			char c = s_latin[cp - 0xc0];
			if (c >= '1' && c <= '5') {
				if (n + 2 >= cap)
					break;
				memcpy(out + n, two[c - '1'], 2);
				n += 2;
			} else {
				out[n++] = c;
			}
			p += len;
			continue;
		}
		/* Anything else, byte for byte; a sequence is never cut. */
		len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 1;
		for (size_t i = 1; i < len; i++)
			if (p[i] == 0) {
				len = i;
				break;
			}
		if (n + len >= cap)
			break;
		memcpy(out + n, p, len);
		n += len;
		p += len;
	}
	out[n] = 0;
}

/* Does hay, folded, contain fq (folded already)? Profile fields are at
 * most EVT_MAX_BIO bytes and folding never lengthens them. */
static int
s_contains(const char *hay, const char *fq)
{
	char f[EVT_MAX_BIO + 1];

	if (hay == NULL)
		return 0;
	query_fold(hay, f, sizeof(f));
	return strstr(f, fq) != NULL;
}

/* Does person p match the folded query fq? */
static int
s_person_matches(const json_t *p, const char *fq)
{
	static const char *const fields[] = {"name", "title",    "department",
	                                     "site", "location", NULL};
	json_t *prof = json_object_get(p, "profile"), *s;
	size_t i;

	if (fq == NULL || *fq == 0)
		return 1;
	if (s_contains(json_string_value(json_object_get(p, "handle")), fq) ||
	    s_contains(json_string_value(json_object_get(p, "home_site")), fq))
		return 1;
	for (i = 0; fields[i]; i++)
		if (s_contains(json_string_value(json_object_get(prof, fields[i])), fq))
			return 1;
	json_array_foreach (json_object_get(prof, "skills"), i, s)
		if (s_contains(json_string_value(s), fq))
			return 1;
	return 0;
}

json_t *
query_people(store_txn_t *txn, const char *q, size_t limit)
{
	store_cur_t *cur;
	store_val_t k, v;
	json_t *out = json_array();
	char fq[EVT_MAX_BIO + 1];
	int rc;

	assert(txn != NULL);
	/* Folded once; the API caps q far below this. */
	query_fold(q ? q : "", fq, sizeof(fq));
	if (store_cur_open(txn, DB_HANDLES, &cur) != 0)
		return out;
	rc = store_cur_get(cur, &k, &v, STORE_FIRST);
	while (rc == 0 && json_array_size(out) < limit) {
		char h[64];
		json_t *p;
		if (k.len < sizeof(h)) {
			memcpy(h, k.data, k.len);
			h[k.len] = 0;
			p = query_person(txn, h);
			if (p && !json_is_true(json_object_get(p, "disabled")) &&
			    s_person_matches(p, fq))
				json_array_append(out, p);
			json_decref(p);
		}
		rc = store_cur_get(cur, &k, &v, STORE_NEXT);
	}
	store_cur_close(&cur);
	return out;
}
