/*
 * Pictures of an image blob with libvips (docs/ARCHITECTURE.md, "Files and
 * pictures"): its dimensions after EXIF orientation, checked against the
 * limits of PROTOCOL.md 18.2 on the header before any decode, and WebP
 * thumbnails shrunk on load, rotated upright, stripped of EXIF (no GPS).
 */
#include "node/blob/blob.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "config/config.h"

#define THUMB_MAX_SIDE   20000                 /* pixels of a side (PROTOCOL.md 18.2) */
#define THUMB_MAX_PIXELS (100ull * 1000000ull) /* 100 megapixels */

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static int s_ok;

/* One libvips for the process: no operation cache (each image is seen
 * once), one worker thread per call (the HTTP connection's own thread does
 * the work; two cores are shared with the node). */
static void
s_init(void)
{
	if (VIPS_INIT("comptoir") != 0) {
		log_warnx("blob", "libvips cannot start: %s", vips_error_buffer());
		vips_error_clear();
		return;
	}
	vips_cache_set_max(0);
	vips_concurrency_set(1);
	s_ok = 1;
}

/* The orientation tag (1..8) of an image, 1 when none. */
static int
s_orientation(VipsImage *im)
{
	int o = 1;

	if (vips_image_get_typeof(im, VIPS_META_ORIENTATION) &&
	    vips_image_get_int(im, VIPS_META_ORIENTATION, &o) != 0)
		o = 1;
	return o;
}

static uint32_t
s_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void
s_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Drops the EXIF, XMP and ICC chunks of a WebP file in place and clears
 * their flags in the VP8X header; *n is its new length. libvips 8.14
 * writes an EXIF chunk of its own (orientation, resolution) even with
 * "strip": this is what makes "no metadata in a thumbnail" hold whatever
 * the libvips version. A file that is not the RIFF it should be is left
 * as it is (it came from libvips: never from a browser). */
static void
s_webp_strip(uint8_t *b, size_t *n)
{
	size_t off = 12, out = 12;

	if (*n < 12 || memcmp(b, "RIFF", 4) != 0 || memcmp(b + 8, "WEBP", 4) != 0)
		return;
	while (off + 8 <= *n) {
		uint32_t sz = s_le32(b + off + 4);
		size_t whole = 8 + (size_t)sz + (sz & 1);
		if (whole > *n - off)
			return; /* cut: leave it */
		if (memcmp(b + off, "EXIF", 4) != 0 && memcmp(b + off, "XMP ", 4) != 0 &&
		    memcmp(b + off, "ICCP", 4) != 0) {
			memmove(b + out, b + off, whole);
			if (memcmp(b + out, "VP8X", 4) == 0 && sz >= 1)
				b[out + 8] &= (uint8_t) ~(0x20 | 0x08 | 0x04); /* ICC, EXIF, XMP */
			out += whole;
		}
		off += whole;
	}
	s_put_le32(b + 4, (uint32_t)(out - 8));
	*n = out;
}

/* The dimensions of im (opened lazily: its header only) after its EXIF
 * orientation, against the limits of PROTOCOL.md 18.2. Drops im. */
static int
s_dims(VipsImage *im, int *w, int *h)
{
	int iw = vips_image_get_width(im), ih = vips_image_get_height(im);

	if (s_orientation(im) >= 5) {
		int t = iw;
		iw = ih;
		ih = t;
	}
	g_object_unref(im);
	if (iw < 1 || ih < 1 || iw > THUMB_MAX_SIDE || ih > THUMB_MAX_SIDE ||
	    (uint64_t)iw * (uint64_t)ih > THUMB_MAX_PIXELS)
		return CPT_ETOOBIG;
	*w = iw;
	*h = ih;
	return 0;
}

int
blob_image_dims(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], int *w, int *h)
{
	char path[4200];
	VipsImage *im;

	pthread_once(&s_once, s_init);
	if (!s_ok)
		return CPT_EIO;
	if (blob_path(bs, id, path, sizeof(path)) != 0)
		return CPT_ENOTFOUND;
	/* The header only: libvips opens lazily, nothing is decoded yet. */
	if ((im = vips_image_new_from_file(path, "access", VIPS_ACCESS_SEQUENTIAL, NULL)) == NULL) {
		vips_error_clear();
		return CPT_EINVAL;
	}
	return s_dims(im, w, h);
}

int
blob_image_dims_buf(const uint8_t *data, size_t len, int *w, int *h)
{
	VipsImage *im;

	pthread_once(&s_once, s_init);
	if (!s_ok)
		return CPT_EIO;
	if ((im = vips_image_new_from_buffer(data, len, "", "access", VIPS_ACCESS_SEQUENTIAL,
	                                     NULL)) == NULL) {
		vips_error_clear();
		return CPT_EINVAL;
	}
	return s_dims(im, w, h);
}

/* The WebP of thumbnail im (what names it in logs): *out a new malloc'd
 * buffer of *len bytes, *w and *h its size. Drops im. */
static int
s_webp(VipsImage *im, const char *what, uint8_t **out, size_t *len, int *w, int *h)
{
	void *buf = NULL;
	size_t n = 0;

	/* No EXIF, XMP, IPTC or ICC in the thumbnail, so no position: libvips
	 * 8.14's "strip" of webpsave still wrote the EXIF block (seen: the
	 * VP8X header's EXIF flag), so the fields go from a private copy
	 * first, and strip drops what else it knows. */
	{
		VipsImage *bare = NULL;
		char **fields;
		if (vips_copy(im, &bare, NULL) != 0) {
			vips_error_clear();
			g_object_unref(im);
			return CPT_EINVAL;
		}
		g_object_unref(im);
		im = bare;
		if ((fields = vips_image_get_fields(im)) != NULL) {
			for (int i = 0; fields[i]; i++)
				if (strcmp(fields[i], VIPS_META_EXIF_NAME) == 0 ||
				    strcmp(fields[i], VIPS_META_XMP_NAME) == 0 ||
				    strcmp(fields[i], VIPS_META_IPTC_NAME) == 0 ||
				    strcmp(fields[i], VIPS_META_ICC_NAME) == 0 ||
				    strncmp(fields[i], "exif-", 5) == 0)
					vips_image_remove(im, fields[i]);
			g_strfreev(fields);
		}
	}
	if (vips_webpsave_buffer(im, &buf, &n, "Q", 80, "strip", TRUE, NULL) != 0) {
		log_warnx("blob", "no thumbnail of %s: %s", what, vips_error_buffer());
		vips_error_clear();
		g_object_unref(im);
		return CPT_EINVAL;
	}
	*w = vips_image_get_width(im);
	*h = vips_image_get_height(im);
	g_object_unref(im);
	if ((*out = malloc(n)) == NULL) {
		g_free(buf);
		return CPT_ENOMEM;
	}
	memcpy(*out, buf, n);
	g_free(buf);
	s_webp_strip(*out, &n);
	*len = n;
	return 0;
}

int
blob_thumb(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], int side, uint8_t **out, size_t *len,
           int *w, int *h)
{
	char path[4200];
	VipsImage *im = NULL;

	*out = NULL;
	*len = 0;
	pthread_once(&s_once, s_init);
	if (!s_ok)
		return CPT_EIO;
	if (blob_path(bs, id, path, sizeof(path)) != 0)
		return CPT_ENOTFOUND;
	/* Shrink on load (a JPEG decodes at 1/8 for a small side), upright
	 * (autorotate is vips_thumbnail's default), never enlarged. */
	if (vips_thumbnail(path, &im, side, "size", VIPS_SIZE_DOWN, "fail_on", VIPS_FAIL_ON_ERROR,
	                   NULL) != 0) {
		log_warnx("blob", "no thumbnail of %s: %s", path, vips_error_buffer());
		vips_error_clear();
		return CPT_EINVAL;
	}
	return s_webp(im, path, out, len, w, h);
}

int
blob_thumb_buf(const uint8_t *data, size_t len, int side, uint8_t **out, size_t *len_out, int *w,
               int *h)
{
	VipsImage *im = NULL;

	*out = NULL;
	*len_out = 0;
	pthread_once(&s_once, s_init);
	if (!s_ok)
		return CPT_EIO;
	/* As blob_thumb; libvips reads the buffer where it is (no copy). */
	if (vips_thumbnail_buffer((void *)data, len, &im, side, "size", VIPS_SIZE_DOWN, "fail_on",
	                          VIPS_FAIL_ON_ERROR, NULL) != 0) {
		log_warnx("blob", "no thumbnail of a sealed picture: %s", vips_error_buffer());
		vips_error_clear();
		return CPT_EINVAL;
	}
	return s_webp(im, "a sealed picture", out, len_out, w, h);
}
