/*
 * Encrypted blobs of private spaces (PROTOCOL.md 18.4): a file is cut into
 * segments of 64 KiB, each sealed with XChaCha20-Poly1305 under the file's
 * key, so that it is written as it streams in and read back by range. The
 * store sees only ciphertext: its id, manifest and chunks are the sealed bytes.
 */
#include "node/blob/blob.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define SEG_CT  (BLOB_SEG + BLOB_SEG_TAG) /* bytes of a whole sealed segment */
#define SEG_PAD 4096u                     /* the last segment is padded to this */
#define AD_TAG  "comptoir/blob-seal/v1"   /* 21 bytes */
#define AD_LEN  (21 + 8 + 1)

/* The plaintext bytes of segment i of a plain-byte file, before and after
 * padding. */
static size_t
s_seg_len(uint64_t plain, uint64_t i, size_t *padded)
{
	uint64_t left = plain - i * BLOB_SEG;
	size_t n = left >= BLOB_SEG ? BLOB_SEG : (size_t)left;

	*padded = (n + SEG_PAD - 1) / SEG_PAD * SEG_PAD;
	return n;
}

static uint64_t
s_nseg(uint64_t plain)
{
	return (plain + BLOB_SEG - 1) / BLOB_SEG;
}

uint64_t
blob_sealed_size(uint64_t plain)
{
	uint64_t n = s_nseg(plain), size;
	size_t padded;

	if (plain == 0 || plain > BLOB_SEALED_MAX)
		return 0;
	(void)s_seg_len(plain, n - 1, &padded);
	size = (n - 1) * SEG_CT + padded + BLOB_SEG_TAG;
	return size;
}

/* The nonce and the associated data of segment i (PROTOCOL.md 18.4). */
static void
s_nonce_ad(uint8_t nonce[24], uint8_t ad[AD_LEN], uint8_t part, uint64_t i, uint64_t plain)
{
	memset(nonce, 0, 24);
	for (int k = 0; k < 8; k++) {
		nonce[k] = (uint8_t)(i >> (56 - 8 * k));
		ad[21 + k] = (uint8_t)(plain >> (56 - 8 * k));
	}
	nonce[8] = part;
	memcpy(ad, AD_TAG, 21);
	ad[29] = i + 1 == s_nseg(plain) ? 1 : 0;
}

/* ----------------------------------------------------------- writing */

struct blob_sput {
	blob_put_t *put;            /* the ciphertext blob being written */
	uint8_t key[BLOB_FKEY_LEN]; /* the file key (wiped on release) */
	uint8_t part;               /* 0 the file, 1.. its thumbnails */
	uint64_t plain;             /* the plaintext size, announced */
	uint64_t done;              /* plaintext bytes taken so far */
	uint64_t seg;               /* the segment being filled */
	size_t fill;                /* its bytes so far */
	int failed;                 /* a write failed: only abort is left */
	uint8_t buf[SEG_CT];        /* the segment: plaintext, then sealed in place */
};

static void
s_sput_free(blob_sput_t *sp)
{
	sodium_memzero(sp, sizeof(*sp));
	free(sp);
}

int
blob_sput_begin(blob_store_t *bs, blob_sput_t **spp, const uint8_t key[BLOB_FKEY_LEN], uint8_t part,
                uint64_t plain)
{
	blob_sput_t *sp;
	int rc;

	*spp = NULL;
	if (plain == 0 || plain > BLOB_SEALED_MAX)
		return CPT_EINVAL;
	if ((sp = calloc(1, sizeof(*sp))) == NULL)
		return CPT_ENOMEM;
	if ((rc = blob_put_begin(bs, &sp->put, blob_sealed_size(plain))) != 0) {
		free(sp);
		return rc;
	}
	memcpy(sp->key, key, BLOB_FKEY_LEN);
	sp->part = part;
	sp->plain = plain;
	*spp = sp;
	return 0;
}

/* Seals the segment in buf and appends it to the blob. */
static int
s_flush(blob_sput_t *sp)
{
	uint8_t nonce[24], ad[AD_LEN];
	size_t padded, n = s_seg_len(sp->plain, sp->seg, &padded);
	unsigned long long clen = 0;
	int rc;

	memset(sp->buf + n, 0, padded - n);
	s_nonce_ad(nonce, ad, sp->part, sp->seg, sp->plain);
	crypto_aead_xchacha20poly1305_ietf_encrypt(sp->buf, &clen, sp->buf, padded, ad, AD_LEN,
	                                           NULL, nonce, sp->key);
	rc = blob_put_write(sp->put, sp->buf, (size_t)clen);
	sodium_memzero(sp->buf, sizeof(sp->buf));
	sp->seg++;
	sp->fill = 0;
	return rc;
}

int
blob_sput_write(blob_sput_t *sp, const void *data, size_t len)
{
	const uint8_t *b = data;
	int rc;

	if (sp->failed)
		return CPT_ESTATE;
	if (len > sp->plain - sp->done) {
		sp->failed = 1;
		return CPT_ETOOBIG;
	}
	while (len > 0) {
		size_t room = BLOB_SEG - sp->fill, k = len < room ? len : room;
		memcpy(sp->buf + sp->fill, b, k);
		sp->fill += k;
		sp->done += k;
		b += k;
		len -= k;
		/* A segment is sealed once whole, or once the file is. */
		if (sp->fill == BLOB_SEG || sp->done == sp->plain) {
			if ((rc = s_flush(sp)) != 0) {
				sp->failed = 1;
				return rc;
			}
		}
	}
	return 0;
}

int
blob_sput_commit(blob_sput_t **spp, uint8_t id[BLOB_ID_LEN], uint64_t *size)
{
	blob_sput_t *sp = *spp;
	int rc;

	*spp = NULL;
	if (sp->failed || sp->done != sp->plain) {
		rc = sp->failed ? CPT_ESTATE : CPT_EINVAL;
		blob_put_abort(&sp->put);
		s_sput_free(sp);
		return rc;
	}
	rc = blob_put_commit(&sp->put, id, size);
	s_sput_free(sp);
	return rc;
}

void
blob_sput_abort(blob_sput_t **spp)
{
	if (spp == NULL || *spp == NULL)
		return;
	blob_put_abort(&(*spp)->put);
	s_sput_free(*spp);
	*spp = NULL;
}

int
blob_seal_bytes(blob_store_t *bs, const uint8_t key[BLOB_FKEY_LEN], uint8_t part,
                const uint8_t *data, size_t len, uint8_t id[BLOB_ID_LEN], uint64_t *size)
{
	blob_sput_t *sp = NULL;
	int rc;

	if ((rc = blob_sput_begin(bs, &sp, key, part, len)) != 0)
		return rc;
	if ((rc = blob_sput_write(sp, data, len)) != 0) {
		blob_sput_abort(&sp);
		return rc;
	}
	return blob_sput_commit(&sp, id, size);
}

/* ----------------------------------------------------------- reading */

struct blob_sread {
	blob_store_t *bs;           /* where (borrowed) */
	uint8_t id[BLOB_ID_LEN];    /* the ciphertext blob */
	uint8_t key[BLOB_FKEY_LEN]; /* the file key (wiped on release) */
	uint8_t part;               /* 0 the file, 1.. its thumbnails */
	uint64_t plain;             /* the plaintext size */
	uint32_t chunk;             /* the chunk in cbuf, or UINT32_MAX */
	size_t clen;                /* its length */
	uint64_t seg;               /* the segment opened in pbuf, or UINT64_MAX */
	size_t plen;                /* its plaintext length (padding aside) */
	uint8_t pbuf[SEG_CT];       /* a segment: ciphertext, then opened in place */
	uint8_t cbuf[BLOB_CHUNK];   /* a chunk, checked against the manifest */
};

int
blob_sread_open(blob_store_t *bs, blob_sread_t **rp, const uint8_t id[BLOB_ID_LEN],
                const uint8_t key[BLOB_FKEY_LEN], uint8_t part, uint64_t plain)
{
	blob_sread_t *r;
	uint64_t size = 0;

	*rp = NULL;
	if (plain == 0 || plain > BLOB_SEALED_MAX)
		return CPT_EINVAL;
	if (!blob_has(bs, id, &size))
		return CPT_ENOTFOUND;
	/* The size is hashed into the id: one that does not match the
	 * plaintext size announced was sealed for another file. */
	if (size != blob_sealed_size(plain))
		return CPT_EAUTH;
	if ((r = malloc(sizeof(*r))) == NULL)
		return CPT_ENOMEM;
	r->bs = bs;
	memcpy(r->id, id, BLOB_ID_LEN);
	memcpy(r->key, key, BLOB_FKEY_LEN);
	r->part = part;
	r->plain = plain;
	r->chunk = UINT32_MAX;
	r->clen = 0;
	r->seg = UINT64_MAX;
	r->plen = 0;
	*rp = r;
	return 0;
}

/* Copies len ciphertext bytes at off into out, chunk by checked chunk. */
static int
s_ct_read(blob_sread_t *r, uint64_t off, uint8_t *out, size_t len)
{
	int rc;

	while (len > 0) {
		uint32_t c = (uint32_t)(off / BLOB_CHUNK);
		size_t at = (size_t)(off % BLOB_CHUNK), k;
		if (c != r->chunk) {
			r->chunk = UINT32_MAX;
			if ((rc = blob_read_chunk(r->bs, r->id, c, r->cbuf, &r->clen)) != 0)
				return rc;
			r->chunk = c;
		}
		if (at >= r->clen)
			return CPT_EIO;
		k = r->clen - at < len ? r->clen - at : len;
		memcpy(out, r->cbuf + at, k);
		out += k;
		off += k;
		len -= k;
	}
	return 0;
}

/* Opens segment i into pbuf. */
static int
s_seg_open(blob_sread_t *r, uint64_t i)
{
	uint8_t nonce[24], ad[AD_LEN];
	size_t padded, n = s_seg_len(r->plain, i, &padded);
	unsigned long long plen = 0;
	int rc;

	r->seg = UINT64_MAX;
	if ((rc = s_ct_read(r, i * SEG_CT, r->pbuf, padded + BLOB_SEG_TAG)) != 0)
		return rc;
	s_nonce_ad(nonce, ad, r->part, i, r->plain);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(r->pbuf, &plen, NULL, r->pbuf,
	                                               padded + BLOB_SEG_TAG, ad, AD_LEN, nonce,
	                                               r->key) != 0)
		return CPT_EAUTH;
	/* The padding is zeros: anything else was not written by a writer of
	 * this section. */
	for (size_t k = n; k < padded; k++)
		if (r->pbuf[k] != 0)
			return CPT_EAUTH;
	r->seg = i;
	r->plen = n;
	return 0;
}

int
blob_sread_at(blob_sread_t *r, uint64_t off, uint8_t *out, size_t max, size_t *got)
{
	uint64_t i = off / BLOB_SEG;
	size_t at = (size_t)(off % BLOB_SEG), n;
	int rc;

	*got = 0;
	if (off >= r->plain || max == 0)
		return 0;
	if (i != r->seg && (rc = s_seg_open(r, i)) != 0)
		return rc;
	n = r->plen - at < max ? r->plen - at : max;
	memcpy(out, r->pbuf + at, n);
	*got = n;
	return 0;
}

void
blob_sread_close(blob_sread_t **rp)
{
	if (rp == NULL || *rp == NULL)
		return;
	sodium_memzero((*rp)->key, sizeof((*rp)->key));
	sodium_memzero((*rp)->pbuf, sizeof((*rp)->pbuf));
	free(*rp);
	*rp = NULL;
}

int
blob_sread_all(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], const uint8_t key[BLOB_FKEY_LEN],
               uint8_t part, uint64_t plain, uint8_t **out)
{
	blob_sread_t *r = NULL;
	uint8_t *buf;
	uint64_t off = 0;
	size_t got = 0;
	int rc;

	*out = NULL;
	if (plain > SIZE_MAX)
		return CPT_ETOOBIG;
	if ((rc = blob_sread_open(bs, &r, id, key, part, plain)) != 0)
		return rc;
	if ((buf = malloc((size_t)plain)) == NULL) {
		blob_sread_close(&r);
		return CPT_ENOMEM;
	}
	while (off < plain) {
		if ((rc = blob_sread_at(r, off, buf + off, (size_t)(plain - off), &got)) != 0 ||
		    got == 0) {
			sodium_memzero(buf, (size_t)off);
			free(buf);
			blob_sread_close(&r);
			return rc != 0 ? rc : CPT_EIO;
		}
		off += got;
	}
	blob_sread_close(&r);
	*out = buf;
	return 0;
}
