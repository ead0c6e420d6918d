/*
 * Unit tests for blob_sniff (PROTOCOL.md 18.2): the type of an upload comes
 * from its bytes; markup, garbage and truncated office files are refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "node/blob/blob.h"

static const char *
s_type(const void *b, size_t len, int whole, int *rc)
{
	const char *t;
	*rc = blob_sniff(b, len, whole, &t);
	return t;
}

/* A zip local header for name with data, stored. */
static size_t
s_zip_entry(uint8_t *out, const char *name, const char *data, uint16_t flags)
{
	size_t n = strlen(name), d = strlen(data);
	memset(out, 0, 30);
	memcpy(out, "PK\x03\x04", 4);
	out[6] = (uint8_t)flags;
	out[18] = (uint8_t)d, out[19] = (uint8_t)(d >> 8);
	out[26] = (uint8_t)n;
	memcpy(out + 30, name, n);
	memcpy(out + 30 + n, data, d);
	return 30 + n + d;
}

static void
test_magic(void **state)
{
	int rc;
	assert_string_equal(s_type("\xff\xd8\xff\xe0\0\x10JFIF", 10, 0, &rc), "image/jpeg");
	assert_string_equal(s_type("\x89PNG\r\n\x1a\n\0\0", 10, 0, &rc), "image/png");
	assert_string_equal(s_type("RIFF\0\0\0\0WEBPVP8 ", 16, 0, &rc), "image/webp");
	assert_string_equal(s_type("GIF89a\1\0", 8, 0, &rc), "image/gif");
	assert_string_equal(s_type("%PDF-1.7\n", 9, 0, &rc), "application/pdf");
	assert_string_equal(s_type("Bonjour, équipe ☕\n", strlen("Bonjour, équipe ☕\n"), 1, &rc),
	                    "text/plain");
	assert_int_equal(rc, 0);
}

static void
test_refused(void **state)
{
	int rc;
	/* Markup a browser would run, whatever the name says. */
	assert_null(s_type("<svg xmlns=\"http://www.w3.org/2000/svg\">", 40, 1, &rc));
	assert_int_equal(rc, CPT_EPERM);
	assert_null(s_type("\xef\xbb\xbf  \n<!DOCTYPE html><p>", 24, 1, &rc));
	assert_int_equal(rc, CPT_EPERM);
	assert_null(s_type("<HTML>", 6, 1, &rc));
	assert_int_equal(rc, CPT_EPERM);
	/* Garbage, NUL, invalid or overlong UTF-8, surrogates. */
	assert_null(s_type("\x00\x01\x02\x03", 4, 1, &rc));
	assert_int_equal(rc, CPT_ENOTFOUND);
	assert_null(s_type("abc\xc0\xafz", 6, 1, &rc));
	assert_null(s_type("abc\xed\xa0\x80z", 7, 1, &rc));
	assert_null(s_type("abc\xff", 4, 1, &rc));
	/* A sequence cut by the end: refused for a whole file, not for a head. */
	assert_null(s_type("abc\xe2\x98", 5, 1, &rc));
	assert_string_equal(s_type("abc\xe2\x98", 5, 0, &rc), "text/plain");
	assert_int_equal(blob_sniff((const uint8_t *)"", 0, 1, &(const char *){NULL}), CPT_EINVAL);
}

static void
test_office(void **state)
{
	uint8_t b[1024];
	size_t n;
	int rc;

	n = s_zip_entry(b, "mimetype", "application/vnd.oasis.opendocument.spreadsheet", 0);
	assert_string_equal(s_type(b, n, 0, &rc), "application/vnd.oasis.opendocument.spreadsheet");
	n = s_zip_entry(b, "mimetype", "application/x-evil", 0);
	assert_null(s_type(b, n, 0, &rc));
	n = s_zip_entry(b, "[Content_Types].xml", "<Types/>", 0);
	n += s_zip_entry(b + n, "_rels/.rels", "<r/>", 0);
	n += s_zip_entry(b + n, "word/document.xml", "<w/>", 0);
	assert_string_equal(
	    s_type(b, n, 0, &rc),
	    "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
	/* Cut in the middle of the second header: not known. */
	assert_null(s_type(b, 60, 0, &rc));
	assert_int_equal(rc, CPT_ENOTFOUND);
	/* A zip of anything else. */
	n = s_zip_entry(b, "payload.exe", "MZ", 0);
	assert_null(s_type(b, n, 0, &rc));
	/* A header whose name runs past the head. */
	n = s_zip_entry(b, "[Content_Types].xml", "", 0);
	b[26] = 0xff;
	assert_null(s_type(b, n, 0, &rc));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_magic),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_office),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
