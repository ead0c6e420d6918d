/*
 * The type of an uploaded file from its first bytes, never from its name or
 * the browser's word (docs/PROTOCOL.md 18.2): magic numbers, the first
 * entries of a zip for office files, UTF-8 for text. SVG and HTML are refused.
 */
#include "node/blob/blob.h"

#include <string.h>
#include <strings.h>

static int
s_starts(const uint8_t *b, size_t len, const char *magic, size_t mlen)
{
	return len >= mlen && memcmp(b, magic, mlen) == 0;
}

static uint32_t
s_le16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t
s_le32(const uint8_t *p)
{
	return s_le16(p) | s_le16(p + 2) << 16;
}

/* Whether name (n bytes) starts with prefix. */
static int
s_name_is(const uint8_t *name, size_t n, const char *prefix)
{
	size_t pl = strlen(prefix);
	return n >= pl && memcmp(name, prefix, pl) == 0;
}

/*
 * An office file is a zip: ODF's first entry is "mimetype", stored, holding
 * the type; OOXML's entries under word/, xl/ or ppt/ say which. The local
 * headers are walked as far as the head reaches (entries with a data
 * descriptor, bit 3, have no size up front: the walk stops there).
 */
static const char *
s_zip(const uint8_t *b, size_t len)
{
	static const char *const odf[] = {"application/vnd.oasis.opendocument.text",
	                                  "application/vnd.oasis.opendocument.spreadsheet",
	                                  "application/vnd.oasis.opendocument.presentation"};
	size_t off = 0;
	int ooxml = 0;

	while (off + 30 <= len && memcmp(b + off, "PK\x03\x04", 4) == 0) {
		uint32_t flags = s_le16(b + off + 6), method = s_le16(b + off + 8);
		uint32_t csize = s_le32(b + off + 18), nlen = s_le16(b + off + 26);
		uint32_t xlen = s_le16(b + off + 28);
		const uint8_t *name = b + off + 30;
		size_t data = off + 30 + nlen + xlen;

		if (data > len)
			break;
		if (off == 0 && s_name_is(name, nlen, "mimetype") && nlen == 8 && method == 0) {
			for (size_t i = 0; i < sizeof(odf) / sizeof(odf[0]); i++)
				if (csize == strlen(odf[i]) && data + csize <= len &&
				    memcmp(b + data, odf[i], csize) == 0)
					return odf[i];
			return NULL;
		}
		if (s_name_is(name, nlen, "[Content_Types].xml"))
			ooxml = 1;
		else if (ooxml && s_name_is(name, nlen, "word/"))
			return "application/"
			       "vnd.openxmlformats-officedocument.wordprocessingml.document";
		else if (ooxml && s_name_is(name, nlen, "xl/"))
			return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
		else if (ooxml && s_name_is(name, nlen, "ppt/"))
			return "application/"
			       "vnd.openxmlformats-officedocument.presentationml.presentation";
		if (flags & 8)
			break;
		off = data + csize;
	}
	return NULL;
}

/* Whether the text, skipping a BOM and white space, opens like markup a
 * browser would run: HTML, SVG or XML (which can be either). */
static int
s_markup(const uint8_t *b, size_t len)
{
	static const char *const tags[] = {"<svg",  "<html", "<!doctype", "<?xml", "<script",
	                                   "<head", "<body", "<iframe",   "<!--"};
	size_t i = 0;

	if (s_starts(b, len, "\xef\xbb\xbf", 3))
		i = 3;
	while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
		i++;
	for (size_t t = 0; t < sizeof(tags) / sizeof(tags[0]); t++) {
		size_t tl = strlen(tags[t]);
		if (len - i >= tl && strncasecmp((const char *)b + i, tags[t], tl) == 0)
			return 1;
	}
	return 0;
}

/* Valid UTF-8 without NUL over the head; a sequence cut by the end of the
 * head (the file goes on) is allowed when the head is not the whole file. */
static int
s_utf8(const uint8_t *b, size_t len, int whole)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = b[i];
		size_t n;
		uint32_t cp;
		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return 0;
		if (i + n >= len)
			return !whole; /* cut by the head's end: the file goes on */
		for (size_t k = 1; k <= n; k++) {
			if ((b[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (b[i + k] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		i += n + 1;
	}
	return 1;
}

int
blob_sniff(const uint8_t *head, size_t len, int whole, const char **type)
{
	*type = NULL;
	if (len == 0)
		return CPT_EINVAL;
	if (s_starts(head, len, "\xff\xd8\xff", 3))
		*type = "image/jpeg";
	else if (s_starts(head, len, "\x89PNG\r\n\x1a\n", 8))
		*type = "image/png";
	else if (len >= 12 && memcmp(head, "RIFF", 4) == 0 && memcmp(head + 8, "WEBP", 4) == 0)
		*type = "image/webp";
	else if (s_starts(head, len, "GIF87a", 6) || s_starts(head, len, "GIF89a", 6))
		*type = "image/gif";
	else if (s_starts(head, len, "%PDF-", 5))
		*type = "application/pdf";
	else if (s_starts(head, len, "PK\x03\x04", 4))
		*type = s_zip(head, len);
	else if (s_markup(head, len))
		return CPT_EPERM;
	else if (s_utf8(head, len, whole))
		*type = "text/plain";
	return *type != NULL ? 0 : CPT_ENOTFOUND;
}
