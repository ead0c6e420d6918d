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

int
blob_image_dims(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], int *w, int *h)
{
	char path[4200];
	VipsImage *im;
	int iw, ih;

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
	iw = vips_image_get_width(im);
	ih = vips_image_get_height(im);
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
blob_thumb(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], int side, uint8_t **out, size_t *len,
           int *w, int *h)
{
	char path[4200];
	VipsImage *im = NULL;
	void *buf = NULL;
	size_t n = 0;

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
	/* strip: no EXIF, XMP or ICC in the thumbnail, so no position. */
	if (vips_webpsave_buffer(im, &buf, &n, "Q", 80, "strip", TRUE, NULL) != 0) {
		log_warnx("blob", "no thumbnail of %s: %s", path, vips_error_buffer());
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
	*len = n;
	return 0;
}
