/*
 * Pictures for the integration tests, made and read by libvips (python3 has
 * no image library here): `mkimage jpeg|png|webp W H` writes a test card to
 * stdout; `mkimage pixels FILE` prints "W H BANDS ORIENTATION BLAKE2B" of the
 * decoded pixels, so a test can tell that two files hold the same picture.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <vips/vips.h>

static int
s_make(const char *fmt, int w, int h)
{
	VipsImage *a = NULL, *b = NULL, *c = NULL, *rgb = NULL, *bands[3];
	void *buf = NULL;
	size_t len = 0;
	int rc;

	if (vips_sines(&a, w, h, "hfreq", 2.0, "vfreq", 3.0, NULL) ||
	    vips_linear1(a, &b, 100.0, 128.0, NULL) || vips_cast_uchar(b, &c, NULL))
		return 1;
	bands[0] = c;
	bands[1] = c;
	bands[2] = c;
	if (vips_bandjoin(bands, &rgb, 3, NULL))
		return 1;
	if (strcmp(fmt, "jpeg") == 0)
		rc = vips_jpegsave_buffer(rgb, &buf, &len, "Q", 90, "strip", TRUE, NULL);
	else if (strcmp(fmt, "png") == 0)
		rc = vips_pngsave_buffer(rgb, &buf, &len, "strip", TRUE, NULL);
	else
		rc = vips_webpsave_buffer(rgb, &buf, &len, "lossless", TRUE, "strip", TRUE, NULL);
	if (rc != 0 || fwrite(buf, 1, len, stdout) != len)
		return 1;
	g_free(buf);
	g_object_unref(a), g_object_unref(b), g_object_unref(c), g_object_unref(rgb);
	return 0;
}

static int
s_pixels(const char *path)
{
	VipsImage *im = vips_image_new_from_file(path, "access", VIPS_ACCESS_RANDOM, NULL);
	uint8_t h[32];
	char hex[65];
	size_t len = 0;
	void *px;
	int o = 0;

	if (im == NULL)
		return 1;
	if (vips_image_get_typeof(im, VIPS_META_ORIENTATION) &&
	    vips_image_get_int(im, VIPS_META_ORIENTATION, &o) != 0)
		o = 0;
	if ((px = vips_image_write_to_memory(im, &len)) == NULL)
		return 1;
	crypto_generichash(h, sizeof(h), px, len, NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	printf("%d %d %d %d %s\n", vips_image_get_width(im), vips_image_get_height(im),
	       vips_image_get_bands(im), o, hex);
	g_free(px);
	g_object_unref(im);
	return 0;
}

int
main(int argc, char **argv)
{
	int rc;

	if (VIPS_INIT(argv[0]) != 0)
		return 1;
	vips_cache_set_max(0);
	if (argc == 4 && (strcmp(argv[1], "jpeg") == 0 || strcmp(argv[1], "png") == 0 ||
	                  strcmp(argv[1], "webp") == 0))
		rc = s_make(argv[1], atoi(argv[2]), atoi(argv[3]));
	else if (argc == 3 && strcmp(argv[1], "pixels") == 0)
		rc = s_pixels(argv[2]);
	else {
		fprintf(stderr, "usage: mkimage jpeg|png|webp W H > FILE | mkimage pixels FILE\n");
		return 2;
	}
	if (rc != 0)
		fprintf(stderr, "mkimage: %s\n", vips_error_buffer());
	return rc;
}
