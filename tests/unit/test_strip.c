/*
 * Unit tests for blob_strip (PROTOCOL.md 18.2 "Metadata"): real pictures made
 * by libvips, given GPS positions, serial numbers, XMP, comments and trailers
 * by hand, come out without them, keep their orientation and ICC profile, and
 * decode to the same pixels; broken pictures are refused by name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "node/blob/blob.h"

typedef struct {
	uint8_t *b;
	size_t len, cap;
} buf_t;

static void
b_add(buf_t *o, const void *p, size_t n)
{
	if (o->len + n > o->cap) {
		o->cap = (o->len + n) * 2 + 64;
		o->b = realloc(o->b, o->cap);
		assert_non_null(o->b);
	}
	memcpy(o->b + o->len, p, n);
	o->len += n;
}

static int
s_sink(void *arg, const void *data, size_t len)
{
	b_add(arg, data, len);
	return 0;
}

/* Runs the filter over in, in pieces of the sizes of step (cycled). */
static int
s_strip(const uint8_t *in, size_t n, const size_t *step, size_t nstep, buf_t *out, char *why)
{
	blob_strip_t *s;
	size_t at = 0, k = 0;
	int rc = 0;

	out->len = 0;
	assert_int_equal(blob_strip_new(&s, s_sink, out), 0);
	while (at < n && rc == 0) {
		size_t piece = step ? step[k++ % nstep] : n;
		if (piece > n - at)
			piece = n - at;
		rc = blob_strip_feed(s, in + at, piece);
		at += piece;
	}
	if (rc == 0)
		rc = blob_strip_end(s);
	if (why)
		snprintf(why, 160, "%s", blob_strip_error(s));
	blob_strip_destroy(&s);
	assert_null(s);
	return rc;
}

static int
s_has(const buf_t *o, const char *needle)
{
	return memmem(o->b, o->len, needle, strlen(needle)) != NULL;
}

/* An RGB test card of w × h made by libvips. */
static VipsImage *
s_card(int w, int h)
{
	VipsImage *a = NULL, *b = NULL, *c = NULL, *rgb = NULL;
	VipsImage *bands[3];

	assert_int_equal(vips_sines(&a, w, h, "hfreq", 2.0, "vfreq", 3.0, NULL), 0);
	assert_int_equal(vips_linear1(a, &b, 100.0, 128.0, NULL), 0);
	assert_int_equal(vips_cast_uchar(b, &c, NULL), 0);
	bands[0] = bands[1] = bands[2] = c;
	assert_int_equal(vips_bandjoin(bands, &rgb, 3, NULL), 0);
	g_object_unref(a);
	g_object_unref(b);
	g_object_unref(c);
	return rgb;
}

/* The decoded pixels of an image file held in memory. */
static uint8_t *
s_pixels(const uint8_t *file, size_t len, size_t *plen, int *orientation)
{
	VipsImage *im =
	    vips_image_new_from_buffer(file, len, "", "access", VIPS_ACCESS_RANDOM, NULL);
	uint8_t *px;

	assert_non_null(im);
	if (orientation) {
		*orientation = 0;
		if (vips_image_get_typeof(im, VIPS_META_ORIENTATION))
			assert_int_equal(vips_image_get_int(im, VIPS_META_ORIENTATION, orientation),
			                 0);
	}
	px = vips_image_write_to_memory(im, plen);
	assert_non_null(px);
	g_object_unref(im);
	return px;
}

static void
s_same_pixels(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t la, lb;
	uint8_t *pa = s_pixels(a, alen, &la, NULL), *pb = s_pixels(b, blen, &lb, NULL);

	assert_int_equal(la, lb);
	assert_memory_equal(pa, pb, la);
	g_free(pa);
	g_free(pb);
}

/* ---------------------------------------------------------------- JPEG */

static void
put16(buf_t *o, unsigned v, int le)
{
	uint8_t b[2] = {le ? (uint8_t)v : (uint8_t)(v >> 8), le ? (uint8_t)(v >> 8) : (uint8_t)v};
	b_add(o, b, 2);
}

static void
put32(buf_t *o, uint32_t v, int le)
{
	uint8_t b[4];
	for (int i = 0; i < 4; i++)
		b[i] = le ? (uint8_t)(v >> (8 * i)) : (uint8_t)(v >> (24 - 8 * i));
	b_add(o, b, 4);
}

static void
ifd_entry(buf_t *o, unsigned tag, unsigned type, uint32_t count, uint32_t value, int le)
{
	put16(o, tag, le);
	put16(o, type, le);
	put32(o, count, le);
	if (type == 3 && count == 1) {
		put16(o, value, le);
		put16(o, 0, le);
	} else {
		put32(o, value, le);
	}
}

/* "Exif\0\0" and a TIFF block as a phone writes it: Make, Model, serial
 * number, orientation, a GPS IFD with a position, an IFD1 thumbnail. */
static void
s_exif(buf_t *o, int le, int orientation)
{
	buf_t t = {0};
	/* IFD0 at 8: 5 entries → 2 + 60 + 4 = 66 bytes → data at 74 */
	b_add(&t, le ? "II" : "MM", 2);
	put16(&t, 42, le);
	put32(&t, 8, le);
	put16(&t, 5, le);
	ifd_entry(&t, 0x010f, 2, 8, 74, le); /* Make → "PhoneCo\0" */
	ifd_entry(&t, 0x0110, 2, 8, 82, le); /* Model → "Pixel-9\0" */
	ifd_entry(&t, 0x0112, 3, 1, (uint32_t)orientation, le);
	ifd_entry(&t, 0xa431, 2, 12, 90, le); /* BodySerialNumber */
	ifd_entry(&t, 0x8825, 4, 1, 102, le); /* GPS IFD */
	put32(&t, 160, le);                   /* IFD1 (thumbnail) */
	assert_int_equal(t.len, 74);
	b_add(&t, "PhoneCo\0", 8);
	b_add(&t, "Pixel-9\0", 8);
	b_add(&t, "SN-4242-XYZ\0", 12);
	/* GPS IFD at 102: 2 entries → 2 + 24 + 4 = 30 → data at 132 */
	put16(&t, 2, le);
	ifd_entry(&t, 0x0001, 2, 2, 'N', le); /* GPSLatitudeRef "N" */
	ifd_entry(&t, 0x0002, 5, 3, 132, le); /* GPSLatitude */
	put32(&t, 0, le);
	for (int i = 0; i < 3; i++) { /* 47/1 13/1 2577/100 */
		uint32_t num[3] = {47, 13, 2577}, den[3] = {1, 1, 100};
		put32(&t, num[i], le);
		put32(&t, den[i], le);
	}
	assert_int_equal(t.len, 156);
	b_add(&t, "GPS!", 4); /* a marker the test looks for */
	/* IFD1 at 160: a JPEG thumbnail */
	put16(&t, 0, le);
	put32(&t, 0, le);
	b_add(&t, "\xff\xd8\xff\xdbTHUMB-GPS\xff\xd9", 15);
	b_add(o, "Exif\0\0", 6);
	b_add(o, t.b, t.len);
	free(t.b);
}

static void
s_segment(buf_t *o, uint8_t marker, const void *p, size_t n)
{
	uint8_t h[4] = {0xff, marker, (uint8_t)((n + 2) >> 8), (uint8_t)(n + 2)};
	b_add(o, h, 4);
	b_add(o, p, n);
}

/* A libvips JPEG given a phone's metadata; *sos is where its scan begins. */
static void
s_phone_jpeg(buf_t *o, int le, size_t *sos, size_t *vsos, buf_t *plain)
{
	VipsImage *card = s_card(96, 64);
	void *jpg = NULL;
	size_t jlen = 0, i = 2;
	buf_t ex = {0};
	const uint8_t *j;

	assert_int_equal(vips_jpegsave_buffer(card, &jpg, &jlen, "Q", 90, "strip", TRUE, NULL), 0);
	g_object_unref(card);
	j = jpg;
	b_add(plain, j, jlen);
	o->len = 0;
	b_add(o, "\xff\xd8", 2);
	s_exif(&ex, le, 6);
	s_segment(o, 0xe1, ex.b, ex.len);
	free(ex.b);
	s_segment(o, 0xe1, "http://ns.adobe.com/xap/1.0/\0<x:xmpmeta exif:GPSLatitude=\"47,13N\"/>",
	          67);
	s_segment(o, 0xe2, "MPF\0MM\0*", 8);
	s_segment(o, 0xe2, "ICC_PROFILE\0\1\1fake-profile", 26);
	s_segment(o, 0xed, "Photoshop 3.0\0IPTC-byline", 25);
	s_segment(o, 0xfe, "secret comment", 14);
	b_add(o, "junk", 4); /* between segments: libjpeg skips it */
	/* the rest of libvips's file after its SOI (its JFIF, tables, scan) */
	b_add(o, j + 2, jlen - 2);
	/* MPF's second picture after the end, with its own position */
	b_add(o, "\xff\xd8\xff\xe1GPS-of-the-second-picture\xff\xd9", 32);
	for (i = 2; i + 1 < jlen; i++)
		if (j[i] == 0xff && j[i + 1] == 0xda)
			break;
	*vsos = i;
	*sos = o->len - 32 - (jlen - i);
	g_free(jpg);
}

static const size_t steps[] = {1, 3, 7, 4096, 2, 65536, 5, 13};

static void
test_jpeg(void **state)
{
	for (int le = 0; le <= 1; le++) {
		buf_t in = {0}, out = {0}, plain = {0}, again = {0};
		size_t sos, vsos, osos = 0;
		int o = 0;
		size_t pl;
		uint8_t *px;

		s_phone_jpeg(&in, le, &sos, &vsos, &plain);
		assert_true(s_has(&in, "GPS!"));
		assert_int_equal(s_strip(in.b, in.len, steps, 8, &out, NULL), 0);
		/* Nothing of the phone's metadata is left. */
		assert_false(s_has(&out, "GPS"));
		assert_false(s_has(&out, "PhoneCo"));
		assert_false(s_has(&out, "Pixel-9"));
		assert_false(s_has(&out, "SN-4242"));
		assert_false(s_has(&out, "THUMB"));
		assert_false(s_has(&out, "ns.adobe.com"));
		assert_false(s_has(&out, "Photoshop"));
		assert_false(s_has(&out, "secret"));
		assert_false(s_has(&out, "MPF"));
		assert_false(s_has(&out, "junk"));
		assert_true(s_has(&out, "ICC_PROFILE"));
		/* The segments before the scan: only JFIF (no thumbnail), the
		 * orientation's EXIF, the ICC profile and the tables. */
		for (size_t i = 2; i + 4 <= out.len;) {
			uint8_t m = out.b[i + 1];
			size_t l = (size_t)out.b[i + 2] << 8 | out.b[i + 3];
			assert_int_equal(out.b[i], 0xff);
			if (m == 0xda) {
				osos = i;
				break;
			}
			if (m == 0xe1) {
				assert_memory_equal(out.b + i + 4, "Exif\0\0", 6);
				assert_int_equal(blob_exif_orientation(out.b + i + 10, l - 8), 6);
			} else if (m == 0xe0) {
				assert_memory_equal(out.b + i + 4, "JFIF\0", 5);
				assert_int_equal(l, 16);
			} else if (m == 0xe2) {
				assert_memory_equal(out.b + i + 4, "ICC_PROFILE\0", 12);
			} else {
				assert_true(m < 0xe0 || m == 0xee);
				assert_true(m != 0xfe);
			}
			i += 2 + l;
		}
		/* The scan and the end are libvips's bytes, unchanged; nothing after. */
		assert_int_equal(out.len - osos, plain.len - vsos);
		assert_memory_equal(out.b + osos, plain.b + vsos, plain.len - vsos);
		/* It decodes to the same pixels, upright as the phone said. */
		s_same_pixels(plain.b, plain.len, out.b, out.len);
		px = s_pixels(out.b, out.len, &pl, &o);
		g_free(px);
		assert_int_equal(o, 6);
		/* Streamed or whole, the same bytes; and a second pass changes nothing. */
		assert_int_equal(s_strip(in.b, in.len, NULL, 0, &again, NULL), 0);
		assert_int_equal(again.len, out.len);
		assert_memory_equal(again.b, out.b, out.len);
		assert_int_equal(s_strip(out.b, out.len, steps + 1, 7, &again, NULL), 0);
		assert_int_equal(again.len, out.len);
		assert_memory_equal(again.b, out.b, out.len);
		(void)sos;
		free(in.b), free(out.b), free(plain.b), free(again.b);
	}
}

static void
test_jpeg_broken(void **state)
{
	buf_t in = {0}, out = {0}, plain = {0};
	size_t sos, vsos;
	char why[160];

	s_phone_jpeg(&in, 0, &sos, &vsos, &plain);
	/* Cut inside the EXIF: refused, named. */
	assert_int_equal(s_strip(in.b, 100, steps, 8, &out, why), CPT_EINVAL);
	assert_non_null(strstr(why, "the JPEG ends before its image data"));
	/* Cut inside the scan: kept as far as it goes, metadata gone. */
	assert_int_equal(s_strip(in.b, sos + 40, steps, 8, &out, why), 0);
	assert_false(s_has(&out, "GPS"));
	/* A segment length under 2: refused at its byte. */
	in.b[5] = 1;
	in.b[4] = 0;
	assert_int_equal(s_strip(in.b, in.len, steps, 8, &out, why), CPT_EINVAL);
	assert_non_null(strstr(why, "length under 2 at byte 4"));
	/* A second SOI before the scan. */
	assert_int_equal(s_strip((const uint8_t *)"\xff\xd8\xff\xd8", 4, NULL, 0, &out, why),
	                 CPT_EINVAL);
	assert_non_null(strstr(why, "second start of image"));
	/* Three bytes that look like a JPEG and nothing more. */
	assert_int_equal(s_strip((const uint8_t *)"\xff\xd8\xff", 3, NULL, 0, &out, why),
	                 CPT_EINVAL);
	free(in.b), free(out.b), free(plain.b);
}

/* ----------------------------------------------------------------- PNG */

static void
s_chunk(buf_t *o, const char *type, const void *p, uint32_t n)
{
	uint8_t crc[4] = {1, 2, 3, 4}; /* copied as it is: the filter keeps CRCs */
	put32(o, n, 0);
	b_add(o, type, 4);
	b_add(o, p, n);
	b_add(o, crc, 4);
}

static void
test_png(void **state)
{
	VipsImage *card = s_card(40, 30);
	void *png = NULL;
	size_t plen = 0;
	buf_t in = {0}, out = {0}, again = {0};
	char why[160];

	assert_int_equal(vips_pngsave_buffer(card, &png, &plen, "strip", TRUE, NULL), 0);
	g_object_unref(card);
	/* signature and IHDR (8 + 25 bytes), then text and EXIF, then the rest */
	b_add(&in, png, 33);
	s_chunk(&in, "tEXt", "Author\0Jean GPS", 15);
	s_chunk(&in, "eXIf", "MM\0*GPS-in-exif", 15);
	s_chunk(&in, "iTXt", "XML:com.adobe.xmp\0\0\0\0\0<gps/>", 29);
	s_chunk(&in, "zTXt", "Comment\0\0xx", 11);
	s_chunk(&in, "tIME", "\x07\xea\x0c\x06\x10\x00\x00", 7);
	s_chunk(&in, "pHYs", "\0\0\x0b\x13\0\0\x0b\x13\x01", 9);
	b_add(&in, (uint8_t *)png + 33, plen - 33);
	b_add(&in, "appended GPS", 12);
	assert_int_equal(s_strip(in.b, in.len, steps, 8, &out, NULL), 0);
	assert_false(s_has(&out, "GPS"));
	assert_false(s_has(&out, "Jean"));
	assert_false(s_has(&out, "tIME"));
	assert_false(s_has(&out, "zTXt"));
	assert_true(s_has(&out, "pHYs"));
	/* What is left is libvips's PNG with the pixel size chunk in it. */
	assert_int_equal(out.len, plen + 21);
	assert_memory_equal(out.b, png, 33);
	assert_memory_equal(out.b + 33 + 21, (uint8_t *)png + 33, plen - 33);
	assert_int_equal(s_strip(out.b, out.len, steps + 2, 6, &again, NULL), 0);
	assert_int_equal(again.len, out.len);
	/* A chunk type that is not four letters; a PNG cut before its pixels. */
	memcpy(in.b + 33 + 4, "t3Xt", 4);
	assert_int_equal(s_strip(in.b, in.len, NULL, 0, &out, why), CPT_EINVAL);
	assert_non_null(strstr(why, "not four letters at byte 37"));
	assert_int_equal(s_strip(png, 40, NULL, 0, &out, why), CPT_EINVAL);
	assert_non_null(strstr(why, "the PNG ends before its image data"));
	g_free(png);
	free(in.b), free(out.b), free(again.b);
}

/* ---------------------------------------------------------------- WebP */

static void
s_riff(buf_t *o, const char *fourcc, const void *p, uint32_t n)
{
	b_add(o, fourcc, 4);
	put32(o, n, 1);
	b_add(o, p, n);
	if (n & 1)
		b_add(o, "", 1);
}

static void
test_webp(void **state)
{
	VipsImage *card = s_card(40, 30);
	void *webp = NULL;
	size_t wlen = 0;
	buf_t in = {0}, out = {0}, plain = {0};
	const uint8_t *w;
	uint8_t vp8x[10] = {0x08 | 0x04, 0, 0, 0, 39, 0, 0, 29, 0, 0};
	size_t i, cl = 0;

	assert_int_equal(
	    vips_webpsave_buffer(card, &webp, &wlen, "lossless", TRUE, "strip", TRUE, NULL), 0);
	g_object_unref(card);
	w = webp;
	/* libvips's image chunk (VP8L), wherever it put it. */
	for (i = 12; i + 8 <= wlen; i += 8 + cl + (cl & 1)) {
		cl = (size_t)w[i + 4] | (size_t)w[i + 5] << 8 | (size_t)w[i + 6] << 16;
		if (memcmp(w + i, "VP8", 3) == 0 && (w[i + 3] == 'L' || w[i + 3] == ' '))
			break;
	}
	assert_true(i + 8 + cl <= wlen);
	/* The extended format: VP8X saying EXIF and XMP, the image, EXIF, XMP. */
	b_add(&in, "RIFF\0\0\0\0WEBP", 12);
	s_riff(&in, "VP8X", vp8x, 10);
	b_add(&in, w + i, 8 + cl + (cl & 1));
	s_riff(&in, "EXIF", "MM\0*GPS-position", 16);
	s_riff(&in, "XMP ", "<x:xmpmeta GPS/>", 16);
	in.b[4] = (uint8_t)(in.len - 8), in.b[5] = (uint8_t)((in.len - 8) >> 8);
	in.b[6] = (uint8_t)((in.len - 8) >> 16);
	b_add(&in, "after the RIFF", 14);
	b_add(&plain, in.b, in.len - 14);
	assert_int_equal(s_strip(in.b, in.len, steps, 8, &out, NULL), 0);
	assert_false(s_has(&out, "GPS"));
	assert_false(s_has(&out, "EXIF"));
	assert_false(s_has(&out, "XMP "));
	assert_false(s_has(&out, "after"));
	assert_int_equal(out.len, plain.len);  /* blanked, not removed */
	assert_int_equal(out.b[20] & 0x0c, 0); /* VP8X no longer announces them */
	s_same_pixels(plain.b, plain.len, out.b, out.len);
	g_free(webp);
	free(in.b), free(out.b), free(plain.b);
}

/* ----------------------------------------------------------------- GIF */

static void
test_gif(void **state)
{
	/* A real 1 x 1 GIF: header, screen, two colours, graphic control,
	 * image, trailer. */
	static const uint8_t head[] = {'G',  'I', 'F', '8',  '9',  'a',  1, 0, 1, 0,
	                               0x80, 0,   0,   0xff, 0xff, 0xff, 0, 0, 0};
	static const uint8_t loop[] = {0x21, 0xff, 11,  'N', 'E', 'T', 'S', 'C', 'A', 'P',
	                               'E',  '2',  '.', '0', 3,   1,   0,   0,   0};
	static const uint8_t rest[] = {0x21, 0xf9, 4, 1, 0, 0, 0, 0, 0x2c, 0,    0, 0,
	                               0,    1,    0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3b};
	buf_t in = {0}, out = {0}, want = {0}, plain = {0};
	char why[160];

	b_add(&plain, head, sizeof(head));
	b_add(&plain, rest, sizeof(rest));
	b_add(&in, head, sizeof(head));
	b_add(&in, "\x21\xfe\x05GPS!!\x00", 9);                  /* a comment */
	b_add(&in, loop, sizeof(loop));                          /* looping: kept */
	b_add(&in, "\x21\xff\x0bXMP DataXMP\x06<gps/>\x00", 22); /* XMP */
	b_add(&in, rest, sizeof(rest));
	b_add(&in, "appended GPS", 12);
	b_add(&want, head, sizeof(head));
	b_add(&want, loop, sizeof(loop));
	b_add(&want, rest, sizeof(rest));
	assert_int_equal(s_strip(in.b, in.len, steps, 8, &out, NULL), 0);
	assert_int_equal(out.len, want.len);
	assert_memory_equal(out.b, want.b, want.len);
	assert_false(s_has(&out, "GPS"));
	s_same_pixels(plain.b, plain.len, out.b, out.len);
	/* A block that is no block; a GIF cut before its image. */
	in.b[sizeof(head)] = 0x99;
	assert_int_equal(s_strip(in.b, in.len, NULL, 0, &out, why), CPT_EINVAL);
	assert_non_null(strstr(why, "neither an image"));
	assert_int_equal(s_strip(want.b, sizeof(head) + 5, NULL, 0, &out, why), CPT_EINVAL);
	assert_non_null(strstr(why, "the GIF ends before its image data"));
	free(in.b), free(out.b), free(want.b), free(plain.b);
}

/* Other files (and tiny ones) pass byte for byte. */
static void
test_other(void **state)
{
	const char *pdf = "%PDF-1.7\n/Author (Jean) /GPS (47N)\n%%EOF\n";
	buf_t out = {0};

	assert_int_equal(s_strip((const uint8_t *)pdf, strlen(pdf), steps, 8, &out, NULL), 0);
	assert_int_equal(out.len, strlen(pdf));
	assert_memory_equal(out.b, pdf, out.len);
	assert_int_equal(s_strip((const uint8_t *)"hi", 2, NULL, 0, &out, NULL), 0);
	assert_int_equal(out.len, 2);
	free(out.b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jpeg), cmocka_unit_test(test_jpeg_broken),
	    cmocka_unit_test(test_png),  cmocka_unit_test(test_webp),
	    cmocka_unit_test(test_gif),  cmocka_unit_test(test_other),
	};

	if (VIPS_INIT("test_strip") != 0)
		return 1;
	vips_cache_set_max(0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
