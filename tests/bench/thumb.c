/*
 * thumb — what a picture costs the node that takes its upload (issue 20):
 * a phone-sized photo (4032 x 3024 JPEG, made here by libvips), stored as a
 * blob, then its dimensions read (blob_image_dims) and its two WebP
 * thumbnails made (blob_thumb, 320 and 1280). Prints the median of RUNS
 * (default 9) in ms for each step and for the whole, one core (libvips runs
 * one worker thread, as in the node).
 *   ./build/tests/bench/thumb [WIDTH HEIGHT]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vips/vips.h>

#include "node/blob/blob.h"

static double
s_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
s_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* A smooth picture with a little grain, as a photo compresses. */
static void *
s_photo(int w, int h, size_t *len)
{
	VipsImage *s = NULL, *n = NULL, *a = NULL, *b = NULL, *c = NULL, *rgb = NULL;
	VipsImage *bands[3];
	void *buf = NULL;

	if (vips_sines(&s, w, h, "hfreq", 3.0, "vfreq", 2.0, NULL) ||
	    vips_gaussnoise(&n, w, h, "sigma", 8.0, "mean", 0.0, NULL) ||
	    vips_linear1(s, &a, 90.0, 128.0, NULL) || vips_add(a, n, &b, NULL) ||
	    vips_cast_uchar(b, &c, NULL))
		return NULL;
	bands[0] = bands[1] = bands[2] = c;
	if (vips_bandjoin(bands, &rgb, 3, NULL) ||
	    vips_jpegsave_buffer(rgb, &buf, len, "Q", 88, NULL))
		return NULL;
	g_object_unref(s);
	g_object_unref(n);
	g_object_unref(a);
	g_object_unref(b);
	g_object_unref(c);
	g_object_unref(rgb);
	return buf;
}

/* The strip filter's sink in the bench: counts what is kept. */
static int
s_count(void *arg, const void *data, size_t len)
{
	(void)data;
	*(uint64_t *)arg += len;
	return 0;
}

int
main(int argc, char **argv)
{
	int w = argc > 2 ? atoi(argv[1]) : 4032, h = argc > 2 ? atoi(argv[2]) : 3024;
	int runs = getenv("RUNS") ? atoi(getenv("RUNS")) : 9;
	char dir[] = "/tmp/comptoir-thumb-XXXXXX";
	blob_store_t *bs = NULL;
	blob_put_t *p = NULL;
	uint8_t id[BLOB_ID_LEN];
	size_t len = 0;
	void *jpg;
	double *dims = calloc((size_t)runs, sizeof(double)),
	       *t320 = calloc((size_t)runs, sizeof(double));
	double *t1280 = calloc((size_t)runs, sizeof(double)),
	       *all = calloc((size_t)runs, sizeof(double));

	if (VIPS_INIT(argv[0]) != 0 || mkdtemp(dir) == NULL || blob_store_open(&bs, dir) != 0)
		return 1;
	vips_cache_set_max(0);
	vips_concurrency_set(1);
	if ((jpg = s_photo(w, h, &len)) == NULL)
		return 1;
	if (blob_put_begin(bs, &p, BLOB_MAX_SIZE) != 0 || blob_put_write(p, jpg, len) != 0 ||
	    blob_put_commit(&p, id, NULL) != 0)
		return 1;
	/* The metadata filter every upload goes through (node/blob/strip.c),
	 * in 64 KiB pieces as the HTTP body comes, into a sink that counts. */
	{
		double *ts = calloc((size_t)runs, sizeof(double));
		for (int r = 0; r < runs; r++) {
			blob_strip_t *st = NULL;
			uint64_t kept = 0;
			double t0 = s_now();
			if (blob_strip_new(&st, s_count, &kept) != 0)
				return 1;
			for (size_t o = 0; o < len; o += 65536)
				if (blob_strip_feed(st, (const uint8_t *)jpg + o,
				                    len - o < 65536 ? len - o : 65536) != 0)
					return 1;
			if (blob_strip_end(st) != 0)
				return 1;
			blob_strip_destroy(&st);
			ts[r] = s_now() - t0;
		}
		qsort(ts, (size_t)runs, sizeof(double), s_cmp);
		printf("strip_ms=%.2f strip_MB_per_s=%.0f\n", ts[runs / 2],
		       (double)len / 1e6 / (ts[runs / 2] / 1000.0));
		free(ts);
	}
	g_free(jpg);
	for (int r = 0; r < runs; r++) {
		uint8_t *out;
		size_t ol;
		int iw, ih, tw, th;
		double t0 = s_now(), t1, t2, t3;
		if (blob_image_dims(bs, id, &iw, &ih) != 0)
			return 1;
		t1 = s_now();
		if (blob_thumb(bs, id, 320, &out, &ol, &tw, &th) != 0)
			return 1;
		free(out);
		t2 = s_now();
		if (blob_thumb(bs, id, 1280, &out, &ol, &tw, &th) != 0)
			return 1;
		free(out);
		t3 = s_now();
		dims[r] = t1 - t0;
		t320[r] = t2 - t1;
		t1280[r] = t3 - t2;
		all[r] = t3 - t0;
	}
	qsort(dims, (size_t)runs, sizeof(double), s_cmp);
	qsort(t320, (size_t)runs, sizeof(double), s_cmp);
	qsort(t1280, (size_t)runs, sizeof(double), s_cmp);
	qsort(all, (size_t)runs, sizeof(double), s_cmp);
	printf("photo %dx%d JPEG, %zu bytes; median of %d runs, one core:\n", w, h, len, runs);
	printf("dims_ms=%.1f thumb320_ms=%.1f thumb1280_ms=%.1f per_photo_ms=%.1f\n",
	       dims[runs / 2], t320[runs / 2], t1280[runs / 2], all[runs / 2]);
	if (blob_delete(bs, id) != 0)
		return 1;
	blob_store_close(&bs);
	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			return 1;
	}
	return 0;
}
