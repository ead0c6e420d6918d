/*
 * libFuzzer target for the metadata filter of uploads (blob_strip,
 * PROTOCOL.md 18.2 "Metadata"): any bytes, fed in pieces of fuzzed sizes.
 * Beyond "never crashes, never reads out of bounds", it checks that the
 * pieces do not matter (streamed or whole, the same bytes and the same
 * verdict) and that a kept file passes a second time unchanged.
 * Input: byte 0 picks the size of the pieces, the rest is the file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/blob/blob.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
	uint8_t *b;
	size_t len, cap;
} out_t;

static int
s_sink(void *arg, const void *p, size_t n)
{
	out_t *o = arg;

	if (o->len + n > o->cap) {
		size_t cap = (o->len + n) * 2;
		uint8_t *b = realloc(o->b, cap);
		if (b == NULL)
			abort();
		o->b = b;
		o->cap = cap;
	}
	memcpy(o->b + o->len, p, n);
	o->len += n;
	return 0;
}

/* The filter over in, in pieces of piece bytes (0: whole). */
static int
s_run(const uint8_t *in, size_t n, size_t piece, out_t *o)
{
	blob_strip_t *s;
	size_t at = 0;
	int rc = 0;

	o->len = 0;
	if (blob_strip_new(&s, s_sink, o) != 0)
		abort();
	while (at < n && rc == 0) {
		size_t k = piece == 0 || piece > n - at ? n - at : piece;
		rc = blob_strip_feed(s, in + at, k);
		at += k;
	}
	if (rc == 0)
		rc = blob_strip_end(s);
	if (rc != 0 && rc != CPT_EINVAL)
		abort();
	if (rc == CPT_EINVAL && strlen(blob_strip_error(s)) == 0)
		abort();
	blob_strip_destroy(&s);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	out_t a = {0}, b = {0}, c = {0};
	size_t piece;
	int ra, rb;

	if (size < 1)
		return 0;
	piece = 1 + data[0] % 64;
	data++, size--;
	ra = s_run(data, size, 0, &a);
	rb = s_run(data, size, piece, &b);
	/* The pieces never change the verdict; on success, nor the bytes. */
	if (ra != rb)
		abort();
	if (ra == 0) {
		if (a.len != b.len || (a.len > 0 && memcmp(a.b, b.b, a.len) != 0))
			abort();
		/* What was kept is clean: a second pass keeps it all. */
		if (s_run(a.b, a.len, piece, &c) != 0 || c.len != a.len ||
		    (a.len > 0 && memcmp(a.b, c.b, a.len) != 0))
			abort();
	}
	free(a.b);
	free(b.b);
	free(c.b);
	return 0;
}
