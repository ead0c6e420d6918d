/*
 * Metadata removed from an upload's original before it is hashed (PROTOCOL.md
 * 18.2 "Metadata"): a streaming rewriter of JPEG segments, PNG chunks, WebP
 * chunks and GIF blocks that passes the image data through unchanged (lossless: libvips would
 * re-encode, docs/ARCHITECTURE.md "Files and pictures"). It holds one JPEG
 * segment at most (64 KiB), whatever the file's size.
 */
#include "node/blob/blob.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRIP_OUT 65536 /* bytes gathered before they go to the sink */

enum s_fmt {
	F_UNKNOWN, /* not enough bytes yet to tell */
	F_PASS,    /* not a picture we rewrite: passed unchanged */
	F_JPEG,
	F_PNG,
	F_WEBP,
	F_GIF,
};

enum s_state {
	/* JPEG */
	J_SOI,   /* the FF D8 that opens the file */
	J_M0,    /* waiting for a marker's FF (other bytes are junk, dropped) */
	J_M1,    /* after FF: the marker's code */
	J_L0,    /* the segment length's high byte */
	J_L1,    /* its low byte */
	J_SEG,   /* the segment's payload, gathered in seg[] */
	J_ECS,   /* entropy-coded data after SOS, passed through */
	J_ECSFF, /* an FF in entropy-coded data: stuffing, a restart or a marker */
	/* PNG */
	P_SIG,  /* the 8-byte signature */
	P_HDR,  /* a chunk's length and type (8 bytes) */
	P_PASS, /* a kept chunk's data and CRC */
	P_SKIP, /* a dropped chunk's data and CRC */
	/* WebP */
	W_HDR,  /* RIFF, its size, WEBP (12 bytes) */
	W_CH,   /* a chunk's FourCC and size (8 bytes) */
	W_PASS, /* a kept chunk's payload and pad byte */
	W_ZERO, /* a blanked chunk's payload: zeros instead */
	/* GIF */
	G_HDR,     /* signature and logical screen descriptor (13 bytes) */
	G_PASS,    /* a colour table (or the LZW code size) passed, then next */
	G_BLOCK,   /* the introducer of the next block */
	G_EXT,     /* an extension's label */
	G_IMG,     /* an image descriptor after its 0x2C (9 bytes) */
	G_APPSZ,   /* the size of an application extension's first sub-block */
	G_APPID,   /* that sub-block: the application's name, which decides */
	G_SUB,     /* a data sub-block's size (0 ends the block) */
	G_SUBDATA, /* its bytes, kept or dropped */
	/* all */
	S_TRAIL, /* after the image's end: dropped */
	S_PASS,  /* passed unchanged */
};

struct blob_strip {
	blob_sink_fn out;        /* where kept bytes go */
	void *arg;               /* its argument */
	enum s_fmt fmt;          /* what the file is */
	enum s_state state;      /* where in it */
	uint8_t magic[12];       /* the first bytes, until the format is known */
	size_t mlen;             /* how many */
	uint64_t pos;            /* input bytes consumed */
	uint64_t dropped;        /* input bytes not passed on */
	int failed;              /* an error was returned: every later call fails */
	char why[160];           /* what is wrong, for blob_strip_error */
	int image_seen;          /* image data started (SOS, IDAT, a WebP image chunk) */
	uint8_t hdr[12];         /* a header being gathered (PNG, WebP) */
	size_t hgot;             /* its bytes so far */
	uint64_t left;           /* bytes left in a passed, skipped or blanked run */
	int iend;                /* PNG: the run being passed is IEND's */
	int vp8x_first;          /* WebP: the next passed byte is VP8X's flags */
	uint64_t riff_end;       /* WebP: the offset where the RIFF ends */
	uint8_t marker;          /* JPEG: the segment's marker */
	uint32_t seglen, seggot; /* its payload's length, and bytes gathered */
	int exif_done;           /* JPEG: the first EXIF segment was seen */
	int keep;                /* GIF: the sub-blocks being read are kept */
	enum s_state next;       /* GIF: the state after a G_PASS */
	uint8_t seg[65536];      /* JPEG: a segment's payload */
	uint8_t obuf[STRIP_OUT]; /* bytes kept, not yet given to the sink */
	size_t olen;             /* how many */
};

/* ------------------------------------------------------------ plumbing */

static int
s_flush(blob_strip_t *s)
{
	int rc = 0;

	if (s->olen > 0)
		rc = s->out(s->arg, s->obuf, s->olen);
	s->olen = 0;
	return rc;
}

static int
s_emit(blob_strip_t *s, const uint8_t *b, size_t n)
{
	int rc;

	if (n >= sizeof(s->obuf)) {
		if ((rc = s_flush(s)) != 0)
			return rc;
		return s->out(s->arg, b, n);
	}
	if (s->olen + n > sizeof(s->obuf) && (rc = s_flush(s)) != 0)
		return rc;
	memcpy(s->obuf + s->olen, b, n);
	s->olen += n;
	return 0;
}

static int
s_emit_zeros(blob_strip_t *s, size_t n)
{
	int rc;

	while (n > 0) {
		size_t k = sizeof(s->obuf) - s->olen;
		if (k == 0) {
			if ((rc = s_flush(s)) != 0)
				return rc;
			continue;
		}
		if (k > n)
			k = n;
		memset(s->obuf + s->olen, 0, k);
		s->olen += k;
		n -= k;
	}
	return 0;
}

static int s_fail(blob_strip_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
s_fail(blob_strip_t *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	s->failed = 1;
	return CPT_EINVAL;
}

static uint16_t
s_u16(const uint8_t *p, int le)
{
	return le ? (uint16_t)(p[0] | p[1] << 8) : (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
s_u32(const uint8_t *p, int le)
{
	return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	                (uint32_t)p[3] << 24
	          : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
	                (uint32_t)p[3];
}

/* ---------------------------------------------------------------- JPEG */

int
blob_exif_orientation(const uint8_t *tiff, size_t n)
{
	int le;
	uint32_t off;
	uint16_t count;

	/* A TIFF header: byte order, 42, the offset of IFD0. */
	if (n < 8)
		return 0;
	if (tiff[0] == 'I' && tiff[1] == 'I')
		le = 1;
	else if (tiff[0] == 'M' && tiff[1] == 'M')
		le = 0;
	else
		return 0;
	if (s_u16(tiff + 2, le) != 42)
		return 0;
	off = s_u32(tiff + 4, le);
	if (off < 8 || off > n - 2)
		return 0;
	count = s_u16(tiff + off, le);
	for (uint32_t i = 0; i < count; i++) {
		size_t e = (size_t)off + 2 + (size_t)i * 12;
		if (e + 12 > n)
			break;
		/* Orientation: tag 0x0112, SHORT, one value, held in the entry. */
		if (s_u16(tiff + e, le) == 0x0112 && s_u16(tiff + e + 2, le) == 3 &&
		    s_u32(tiff + e + 4, le) >= 1) {
			uint16_t v = s_u16(tiff + e + 8, le);
			return v >= 1 && v <= 8 ? v : 0;
		}
	}
	return 0;
}

/* An APP1 EXIF segment that holds the orientation and nothing else. */
static int
s_emit_exif(blob_strip_t *s, int orientation)
{
	uint8_t e[36] = {
	    0xff, 0xe1, 0x00, 34, 'E', 'x', 'i', 'f', 0, 0, /* APP1, length, "Exif\0\0" */
	    'I',  'I',  42,   0,  8,   0,   0,   0,         /* TIFF header, IFD0 at 8 */
	    1,    0,                                        /* one entry */
	    0x12, 0x01, 3,    0,  1,   0,   0,   0,         /* 0x0112 SHORT × 1 */
	    0,    0,    0,    0,                            /* its value, below */
	    0,    0,    0,    0,                            /* no next IFD */
	};

	e[28] = (uint8_t)orientation;
	return s_emit(s, e, sizeof(e));
}

/* What is kept of a whole segment (marker s->marker, payload in seg[]). */
static int
s_jpeg_segment(blob_strip_t *s)
{
	const uint8_t *p = s->seg;
	uint32_t n = s->seglen;
	uint8_t m = s->marker, h[4];
	int rc;

	switch (m) {
	case 0xe0: /* APP0: JFIF kept without its thumbnail; JFXX is only a thumbnail */
		if (n >= 14 && memcmp(p, "JFIF\0", 5) == 0) {
			uint8_t j[18] = {0xff, 0xe0, 0, 16};
			memcpy(j + 4, p, 12);
			j[16] = j[17] = 0; /* no thumbnail */
			return s_emit(s, j, sizeof(j));
		}
		break;
	case 0xe1: /* APP1: EXIF (only its orientation is kept), XMP, extended XMP */
		if (n >= 6 && memcmp(p, "Exif\0", 5) == 0 && !s->exif_done) {
			int o = blob_exif_orientation(p + 6, n - 6);
			s->exif_done = 1;
			if (o != 0)
				return s_emit_exif(s, o);
		}
		break;
	case 0xe2: /* APP2: the ICC profile is kept; MPF, FlashPix are not */
		if (n >= 12 && memcmp(p, "ICC_PROFILE\0", 12) == 0)
			goto keep;
		break;
	case 0xee: /* APP14 Adobe: says how to read the colours of CMYK and YCCK */
		if (n >= 5 && memcmp(p, "Adobe", 5) == 0)
			goto keep;
		break;
	default:
		/* APP3..APP15 (IPTC, Photoshop, Ducky, maker data) and COM go. */
		if ((m >= 0xe0 && m <= 0xef) || m == 0xfe)
			break;
		goto keep;
	}
	s->dropped += (uint64_t)n + 4;
	return 0;
keep:
	h[0] = 0xff;
	h[1] = m;
	h[2] = (uint8_t)((n + 2) >> 8);
	h[3] = (uint8_t)(n + 2);
	if ((rc = s_emit(s, h, 4)) != 0)
		return rc;
	return s_emit(s, p, n);
}

/* A marker's code m, read after its FF outside entropy-coded data. */
static int
s_jpeg_marker(blob_strip_t *s, uint8_t m)
{
	uint8_t b[2] = {0xff, m};

	if (m == 0xff) /* fill bytes before a marker */
		return s->dropped++, 0;
	if (m == 0x00) { /* FF 00 outside a scan: junk, as libjpeg skips it */
		s->dropped += 2;
		s->state = J_M0;
		return 0;
	}
	if (m == 0xd8)
		return s_fail(s, "the JPEG has a second start of image at byte %llu",
		              (unsigned long long)s->pos);
	if (m == 0xd9) { /* end of image: what follows goes (MPF pictures, appended data) */
		s->state = S_TRAIL;
		return s_emit(s, b, 2);
	}
	if ((m >= 0xd0 && m <= 0xd7) || m == 0x01) { /* no length */
		s->state = J_M0;
		return s_emit(s, b, 2);
	}
	s->marker = m;
	s->state = J_L0;
	return 0;
}

/* A segment is whole: kept or not, then the next marker or the scan's data. */
static int
s_jpeg_seg_done(blob_strip_t *s)
{
	int rc = s_jpeg_segment(s);

	if (rc == 0 && s->marker == 0xda) {
		s->image_seen = 1;
		s->state = J_ECS;
	} else if (rc == 0) {
		s->state = J_M0;
	}
	return rc;
}

static int
s_jpeg(blob_strip_t *s, const uint8_t *b, size_t n)
{
	size_t i = 0;
	int rc = 0;

	while (i < n && rc == 0) {
		switch (s->state) {
		case J_SOI:
			/* The format check saw FF D8 FF: the first two bytes are SOI. */
			s->hdr[s->hgot++] = b[i++];
			s->pos++;
			if (s->hgot == 2) {
				s->hgot = 0;
				s->state = J_M0;
				rc = s_emit(s, (const uint8_t *)"\xff\xd8", 2);
			}
			break;
		case J_M0: {
			const uint8_t *ff = memchr(b + i, 0xff, n - i);
			size_t k = ff ? (size_t)(ff - (b + i)) : n - i;
			s->dropped += k; /* junk between segments */
			s->pos += k;
			i += k;
			if (ff) {
				i++, s->pos++;
				s->state = J_M1;
			}
			break;
		}
		case J_M1:
			s->pos++;
			rc = s_jpeg_marker(s, b[i++]);
			break;
		case J_L0:
			s->seglen = (uint32_t)b[i++] << 8;
			s->pos++;
			s->state = J_L1;
			break;
		case J_L1:
			s->seglen |= b[i++];
			s->pos++;
			if (s->seglen < 2) {
				rc = s_fail(s,
				            "a JPEG segment (marker FF%02X) has a length under 2 "
				            "at byte %llu",
				            s->marker, (unsigned long long)s->pos - 2);
				break;
			}
			s->seglen -= 2;
			s->seggot = 0;
			s->state = J_SEG;
			if (s->seglen == 0)
				rc = s_jpeg_seg_done(s);
			break;
		case J_SEG: {
			size_t k = s->seglen - s->seggot;
			if (k > n - i)
				k = n - i;
			memcpy(s->seg + s->seggot, b + i, k);
			s->seggot += (uint32_t)k;
			s->pos += k;
			i += k;
			if (s->seggot == s->seglen)
				rc = s_jpeg_seg_done(s);
			break;
		}
		case J_ECS: {
			const uint8_t *ff = memchr(b + i, 0xff, n - i);
			size_t k = ff ? (size_t)(ff - (b + i)) : n - i;
			if (k > 0 && (rc = s_emit(s, b + i, k)) != 0)
				break;
			s->pos += k;
			i += k;
			if (ff) {
				i++, s->pos++;
				s->state = J_ECSFF;
			}
			break;
		}
		case J_ECSFF: {
			uint8_t m = b[i++];
			s->pos++;
			if (m == 0x00 || (m >= 0xd0 && m <= 0xd7)) {
				/* a stuffed FF or a restart marker: image data */
				uint8_t two[2] = {0xff, m};
				rc = s_emit(s, two, 2);
				s->state = J_ECS;
			} else if (m == 0xff) {
				s->dropped++; /* fill */
			} else {
				/* A marker: the next table or scan, or the end. */
				rc = s_jpeg_marker(s, m);
			}
			break;
		}
		case S_TRAIL:
			s->dropped += n - i;
			s->pos += n - i;
			i = n;
			break;
		default: return s_fail(s, "internal state %d", (int)s->state);
		}
	}
	return rc;
}

/* ----------------------------------------------------------------- PNG */

/* Ancillary chunks that say how to show the picture, kept; every other
 * ancillary chunk (tEXt, zTXt, iTXt, eXIf, tIME, private ones) goes. */
static int
s_png_keep(const uint8_t t[4])
{
	static const char *const keep[] = {"tRNS", "cHRM", "gAMA", "iCCP", "sBIT", "sRGB",
	                                   "cICP", "mDCv", "cLLi", "bKGD", "hIST", "pHYs",
	                                   "sPLT", "acTL", "fcTL", "fdAT"};

	if (t[0] >= 'A' && t[0] <= 'Z') /* critical: needed to decode */
		return 1;
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (memcmp(t, keep[i], 4) == 0)
			return 1;
	return 0;
}

static int
s_letter(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int
s_png(blob_strip_t *s, const uint8_t *b, size_t n)
{
	size_t i = 0;
	int rc = 0;

	while (i < n && rc == 0) {
		switch (s->state) {
		case P_SIG:
		case P_HDR: {
			size_t want = 8, k = want - s->hgot; /* the signature, or a header */
			if (k > n - i)
				k = n - i;
			memcpy(s->hdr + s->hgot, b + i, k);
			s->hgot += k;
			s->pos += k;
			i += k;
			if (s->hgot < want)
				break;
			s->hgot = 0;
			if (s->state == P_SIG) {
				/* checked by the format test */
				rc = s_emit(s, s->hdr, 8);
				s->state = P_HDR;
				break;
			}
			{
				uint32_t len = s_u32(s->hdr, 0);
				const uint8_t *t = s->hdr + 4;
				if (len > 0x7fffffffu)
					return s_fail(s,
					              "a PNG chunk's length is over 2^31-1 at byte "
					              "%llu",
					              (unsigned long long)s->pos - 8);
				if (!s_letter(t[0]) || !s_letter(t[1]) || !s_letter(t[2]) ||
				    !s_letter(t[3]))
					return s_fail(s,
					              "a PNG chunk's type is not four letters at "
					              "byte %llu",
					              (unsigned long long)s->pos - 4);
				if (s->pos == 16 && memcmp(t, "IHDR", 4) != 0)
					return s_fail(s, "the PNG does not start with its IHDR "
					                 "chunk");
				s->left = (uint64_t)len + 4; /* data and CRC */
				s->iend = memcmp(t, "IEND", 4) == 0;
				if (memcmp(t, "IDAT", 4) == 0)
					s->image_seen = 1;
				if (s_png_keep(t)) {
					rc = s_emit(s, s->hdr, 8);
					s->state = P_PASS;
				} else {
					s->dropped += 8;
					s->state = P_SKIP;
				}
			}
			break;
		}
		case P_PASS:
		case P_SKIP: {
			size_t k = s->left < n - i ? (size_t)s->left : n - i;
			if (s->state == P_PASS)
				rc = s_emit(s, b + i, k);
			else
				s->dropped += k;
			s->left -= k;
			s->pos += k;
			i += k;
			if (s->left == 0)
				s->state = s->iend ? S_TRAIL : P_HDR;
			break;
		}
		case S_TRAIL:
			s->dropped += n - i;
			s->pos += n - i;
			i = n;
			break;
		default: return s_fail(s, "internal state %d", (int)s->state);
		}
	}
	return rc;
}

/* ---------------------------------------------------------------- WebP */

static int
s_webp(blob_strip_t *s, const uint8_t *b, size_t n)
{
	size_t i = 0;
	int rc = 0;

	while (i < n && rc == 0) {
		if (s->state != S_TRAIL && s->pos == s->riff_end && s->state == W_CH &&
		    s->hgot == 0) {
			s->state = S_TRAIL; /* past the RIFF: appended bytes go */
			continue;
		}
		switch (s->state) {
		case W_HDR:
		case W_CH: {
			size_t want = s->state == W_HDR ? 12 : 8, k = want - s->hgot;
			if (k > n - i)
				k = n - i;
			memcpy(s->hdr + s->hgot, b + i, k);
			s->hgot += k;
			s->pos += k;
			i += k;
			if (s->hgot < want)
				break;
			s->hgot = 0;
			if (s->state == W_HDR) {
				uint32_t size = s_u32(s->hdr + 4, 1);
				if (size < 4)
					return s_fail(s, "the WebP's RIFF size is under 4");
				s->riff_end = 8 + (uint64_t)size;
				rc = s_emit(s, s->hdr, 12);
				s->state = W_CH;
				break;
			}
			{
				uint32_t size = s_u32(s->hdr + 4, 1);
				uint64_t padded = (uint64_t)size + (size & 1);
				const uint8_t *t = s->hdr;
				if (s->pos + padded > s->riff_end)
					return s_fail(s,
					              "a WebP chunk (%.4s) runs past the end of "
					              "its RIFF at byte %llu",
					              (const char *)t,
					              (unsigned long long)s->pos - 8);
				s->left = padded;
				if (memcmp(t, "VP8 ", 4) == 0 || memcmp(t, "VP8L", 4) == 0 ||
				    memcmp(t, "ANMF", 4) == 0)
					s->image_seen = 1;
				if (memcmp(t, "EXIF", 4) == 0 || memcmp(t, "XMP ", 4) == 0) {
					/* Blanked, not removed: the RIFF size was passed on
					 * already. JUNK is RIFF's padding chunk; readers skip
					 * unknown chunks. */
					memcpy(s->hdr, "JUNK", 4);
					s->dropped += padded;
					s->state = W_ZERO;
				} else {
					s->vp8x_first = memcmp(t, "VP8X", 4) == 0 && size >= 1;
					s->state = W_PASS;
				}
				rc = s_emit(s, s->hdr, 8);
				if (s->left == 0)
					s->state = W_CH;
			}
			break;
		}
		case W_PASS:
		case W_ZERO: {
			size_t k = s->left < n - i ? (size_t)s->left : n - i;
			if (s->state == W_ZERO) {
				rc = s_emit_zeros(s, k);
			} else if (s->vp8x_first) {
				/* VP8X's flags no longer announce EXIF (0x08) or XMP (0x04). */
				uint8_t f = b[i] & (uint8_t)~0x0c;
				s->vp8x_first = 0;
				rc = s_emit(s, &f, 1);
				if (rc == 0 && k > 1)
					rc = s_emit(s, b + i + 1, k - 1);
			} else {
				rc = s_emit(s, b + i, k);
			}
			s->left -= k;
			s->pos += k;
			i += k;
			if (s->left == 0)
				s->state = W_CH;
			break;
		}
		case S_TRAIL:
			s->dropped += n - i;
			s->pos += n - i;
			i = n;
			break;
		default: return s_fail(s, "internal state %d", (int)s->state);
		}
	}
	return rc;
}

/* ----------------------------------------------------------------- GIF */

/* A GIF's blocks: images, graphic control and plain text extensions and the
 * looping extension are kept; comments and other application extensions
 * (XMP) go, and anything after the trailer. */
static int
s_gif(blob_strip_t *s, const uint8_t *b, size_t n)
{
	size_t i = 0;
	int rc = 0;

	while (i < n && rc == 0) {
		switch (s->state) {
		case G_HDR:
		case G_IMG:
		case G_APPID: {
			size_t k = s->seglen - s->seggot;
			if (k > n - i)
				k = n - i;
			memcpy(s->seg + s->seggot, b + i, k);
			s->seggot += (uint32_t)k;
			s->pos += k;
			i += k;
			if (s->seggot < s->seglen)
				break;
			if (s->state == G_HDR) {
				uint8_t f = s->seg[10];
				rc = s_emit(s, s->seg, 13);
				s->left =
				    f & 0x80 ? 3u << ((f & 7) + 1) : 0; /* global colour table */
				s->next = G_BLOCK;
				s->state = s->left ? G_PASS : G_BLOCK;
			} else if (s->state == G_IMG) {
				uint8_t f = s->seg[8], sep = 0x2c;
				s->image_seen = 1;
				if ((rc = s_emit(s, &sep, 1)) == 0)
					rc = s_emit(s, s->seg, 9);
				/* the local colour table, then the LZW code size byte */
				s->left = (f & 0x80 ? 3u << ((f & 7) + 1) : 0) + 1;
				s->next = G_SUB;
				s->keep = 1;
				s->state = G_PASS;
			} else {
				uint8_t h[3] = {0x21, 0xff, (uint8_t)s->seglen};
				s->keep =
				    s->seglen == 11 && (memcmp(s->seg, "NETSCAPE2.0", 11) == 0 ||
				                        memcmp(s->seg, "ANIMEXTS1.0", 11) == 0);
				if (s->keep && (rc = s_emit(s, h, 3)) == 0)
					rc = s_emit(s, s->seg, s->seglen);
				else if (!s->keep)
					s->dropped += 3 + s->seglen;
				s->state = G_SUB;
			}
			break;
		}
		case G_PASS:
		case G_SUBDATA: {
			size_t k = s->left < n - i ? (size_t)s->left : n - i;
			if (s->state == G_PASS || s->keep)
				rc = s_emit(s, b + i, k);
			else
				s->dropped += k;
			s->left -= k;
			s->pos += k;
			i += k;
			if (s->left == 0)
				s->state = s->state == G_PASS ? s->next : G_SUB;
			break;
		}
		case G_BLOCK: {
			uint8_t c = b[i++];
			s->pos++;
			if (c == 0x21) {
				s->state = G_EXT;
			} else if (c == 0x2c) {
				s->seglen = 9;
				s->seggot = 0;
				s->state = G_IMG;
			} else if (c == 0x3b) {
				rc = s_emit(s, &c, 1);
				s->state = S_TRAIL;
			} else {
				return s_fail(
				    s,
				    "a GIF block is neither an image, an extension nor the "
				    "end (0x%02X at byte %llu)",
				    c, (unsigned long long)s->pos - 1);
			}
			break;
		}
		case G_EXT: {
			uint8_t label = b[i++], h[2] = {0x21, label};
			s->pos++;
			if (label == 0xff) {
				s->state = G_APPSZ;
				break;
			}
			/* Graphic control (timing, transparency) and plain text are
			 * part of the picture; comments and unknown labels go. */
			s->keep = label == 0xf9 || label == 0x01;
			if (s->keep)
				rc = s_emit(s, h, 2);
			else
				s->dropped += 2;
			s->state = G_SUB;
			break;
		}
		case G_APPSZ:
			s->seglen = b[i++];
			s->seggot = 0;
			s->pos++;
			if (s->seglen == 0) {
				s->dropped += 3; /* an empty application extension */
				s->state = G_BLOCK;
			} else {
				s->state = G_APPID;
			}
			break;
		case G_SUB: {
			uint8_t size = b[i++];
			s->pos++;
			if (s->keep)
				rc = s_emit(s, &size, 1);
			else
				s->dropped++;
			s->left = size;
			s->state = size ? G_SUBDATA : G_BLOCK;
			break;
		}
		case S_TRAIL:
			s->dropped += n - i;
			s->pos += n - i;
			i = n;
			break;
		default: return s_fail(s, "internal state %d", (int)s->state);
		}
	}
	return rc;
}

/* ----------------------------------------------------------------- API */

int
blob_strip_new(blob_strip_t **s, blob_sink_fn out, void *arg)
{
	*s = calloc(1, sizeof(**s));
	if (*s == NULL)
		return CPT_ENOMEM;
	(*s)->out = out;
	(*s)->arg = arg;
	return 0;
}

void
blob_strip_destroy(blob_strip_t **s)
{
	if (s == NULL || *s == NULL)
		return;
	free(*s);
	*s = NULL;
}

/* Runs n bytes through the machine of the format. */
static int
s_run(blob_strip_t *s, const uint8_t *b, size_t n)
{
	switch (s->fmt) {
	case F_JPEG: return s_jpeg(s, b, n);
	case F_PNG: return s_png(s, b, n);
	case F_WEBP: return s_webp(s, b, n);
	case F_GIF: return s_gif(s, b, n);
	default: s->pos += n; return s_emit(s, b, n);
	}
}

/* Tells the format from the first bytes (all of them when the file is
 * shorter than 12), then runs them. */
static int
s_decide(blob_strip_t *s)
{
	const uint8_t *m = s->magic;

	if (s->mlen >= 3 && memcmp(m, "\xff\xd8\xff", 3) == 0)
		s->fmt = F_JPEG, s->state = J_SOI;
	else if (s->mlen >= 8 && memcmp(m, "\x89PNG\r\n\x1a\n", 8) == 0)
		s->fmt = F_PNG, s->state = P_SIG;
	else if (s->mlen >= 12 && memcmp(m, "RIFF", 4) == 0 && memcmp(m + 8, "WEBP", 4) == 0)
		s->fmt = F_WEBP, s->state = W_HDR;
	else if (s->mlen >= 6 && (memcmp(m, "GIF87a", 6) == 0 || memcmp(m, "GIF89a", 6) == 0)) {
		s->fmt = F_GIF, s->state = G_HDR;
		s->seglen = 13;
		s->seggot = 0;
	} else
		s->fmt = F_PASS, s->state = S_PASS;
	return s_run(s, s->magic, s->mlen);
}

int
blob_strip_feed(blob_strip_t *s, const void *data, size_t n)
{
	const uint8_t *b = data;
	int rc = 0;

	if (s->failed)
		return CPT_ESTATE;
	if (s->fmt == F_UNKNOWN) {
		size_t k = sizeof(s->magic) - s->mlen < n ? sizeof(s->magic) - s->mlen : n;
		memcpy(s->magic + s->mlen, b, k);
		s->mlen += k;
		b += k;
		n -= k;
		if (s->mlen < sizeof(s->magic))
			return 0;
		if ((rc = s_decide(s)) != 0)
			goto out;
	}
	if (s->fmt == F_PASS) {
		/* Other files: straight to the sink, no copy. */
		if ((rc = s_flush(s)) == 0 && n > 0)
			rc = s->out(s->arg, b, n);
		s->pos += n;
		goto out;
	}
	if (n > 0)
		rc = s_run(s, b, n);
	if (rc == 0)
		rc = s_flush(s);
out:
	if (rc != 0)
		s->failed = 1;
	return rc;
}

int
blob_strip_end(blob_strip_t *s)
{
	int rc;

	if (s->failed)
		return CPT_ESTATE;
	if (s->fmt == F_UNKNOWN && (rc = s_decide(s)) != 0)
		goto out;
	rc = 0;
	switch (s->fmt) {
	case F_JPEG:
		/* Cut inside the image data: kept as far as it goes (a reader shows
		 * what is there; the metadata before it was already handled).
		 * Cut before: there is no picture, and perhaps metadata unread. */
		if (!s->image_seen && s->state != S_TRAIL)
			rc = s_fail(s, "the JPEG ends before its image data (at byte %llu)",
			            (unsigned long long)s->pos);
		else if (s->state == J_SEG || s->state == J_ECSFF)
			s->dropped += s->state == J_SEG ? s->seggot + 4 : 1;
		break;
	case F_PNG:
		if (!s->image_seen && s->state != S_TRAIL)
			rc = s_fail(s, "the PNG ends before its image data (at byte %llu)",
			            (unsigned long long)s->pos);
		else if (s->state == P_HDR && s->hgot > 0)
			/* A chunk header cut short: not passed on. */
			s->dropped += s->hgot;
		break;
	case F_WEBP:
		if (!s->image_seen)
			rc = s_fail(s, "the WebP ends before its image data (at byte %llu)",
			            (unsigned long long)s->pos);
		break;
	case F_GIF:
		if (!s->image_seen)
			rc = s_fail(s, "the GIF ends before its image data (at byte %llu)",
			            (unsigned long long)s->pos);
		break;
	default: break;
	}
	if (rc == 0)
		rc = s_flush(s);
out:
	if (rc != 0)
		s->failed = 1;
	return rc;
}

const char *
blob_strip_error(const blob_strip_t *s)
{
	return s->why[0] ? s->why : "no error";
}

uint64_t
blob_strip_dropped(const blob_strip_t *s)
{
	return s->dropped;
}

int
blob_strip_is_picture(const blob_strip_t *s)
{
	return s->fmt == F_JPEG || s->fmt == F_PNG || s->fmt == F_WEBP || s->fmt == F_GIF;
}
