/*
 * node/blob — the blob store: files and pictures as immutable files under the
 * data directory, named by their blob id (docs/PROTOCOL.md 18.1, 18.7). It
 * knows crypto/ (libsodium) and the file system only: no LMDB, no event.
 * A blob under blobs/<2 hex>/<64 hex> is complete and was checked; anything
 * half-written lives in blobs/tmp/ and never counts (docs/ARCHITECTURE.md,
 * "Files and pictures").
 */
#ifndef COMPTOIR_NODE_BLOB_H
#define COMPTOIR_NODE_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "crypto/crypto.h"

#define BLOB_ID_LEN     32                           /* a blob id, BLAKE2b-256 */
#define BLOB_CHUNK      262144u                      /* bytes of a chunk (PROTOCOL 18.1) */
#define BLOB_MAX_SIZE   ((uint64_t)1 << 33)          /* 8 GiB */
#define BLOB_MAX_CHUNKS (BLOB_MAX_SIZE / BLOB_CHUNK) /* 32768: a manifest fits 1 MiB */

/* The number of chunks of a blob of size bytes (0 for 0). */
uint32_t blob_nchunks(uint64_t size);

/*
 * The blob id of PROTOCOL 18.1 from a size and its manifest (nchunks(size) ×
 * 32 bytes): BLAKE2b-256("comptoir/blob/v1" || size u64 BE || manifest).
 * Returns 0, or CPT_EINVAL when size is 0, over BLOB_MAX_SIZE, or mlen is not
 * blob_nchunks(size) × 32.
 */
int blob_id_of(uint8_t id[BLOB_ID_LEN], uint64_t size, const uint8_t *manifest,
               size_t mlen) CPT_WUR;

/* The blob id of bytes held in memory (tests, small blobs). Same returns. */
int blob_id_of_bytes(uint8_t id[BLOB_ID_LEN], const uint8_t *data, size_t len) CPT_WUR;

typedef struct blob_store blob_store_t;
typedef struct blob_put blob_put_t;

/*
 * Opens (creating them, mode 0700) the folders blobs/, blobs/tmp/ under dir
 * and removes what blobs/tmp/ holds: writes a crash cut short, which never
 * counted. On success *bs is the caller's, released with blob_store_close.
 * Returns 0, CPT_ENOMEM, or CPT_EIO (errno says why; the path is logged).
 */
int blob_store_open(blob_store_t **bs, const char *dir) CPT_WUR;

/* The same for reading beside a running node (comptoir status, backup):
 * nothing is made and blobs/tmp/ is left alone (the node may be writing
 * there). Use it for blob_has, blob_path and reads only. Returns 0 or
 * CPT_ENOMEM. */
int blob_store_peek(blob_store_t **bs, const char *dir) CPT_WUR;

/* Releases a store; safe on NULL, sets *bs to NULL. Puts not committed must
 * have been aborted first. */
void blob_store_close(blob_store_t **bs);

/* 1 when the blob is here (complete), 0 otherwise; *size (when not NULL)
 * its size. */
int blob_has(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], uint64_t *size);

/*
 * Starts writing a blob whose bytes are given in order by blob_put_write,
 * streamed to a file in blobs/tmp/ and hashed chunk by chunk: never held
 * whole in memory. max is the largest size accepted (≤ BLOB_MAX_SIZE).
 * *p belongs to the caller until blob_put_commit or blob_put_abort, which
 * release it. Returns 0, CPT_ENOMEM or CPT_EIO.
 */
int blob_put_begin(blob_store_t *bs, blob_put_t **p, uint64_t max) CPT_WUR;

/* Appends len bytes. Returns 0, CPT_ETOOBIG (past max), CPT_ENOMEM,
 * CPT_ENOSPC or CPT_EIO; after any error the put can only be aborted (later
 * calls return CPT_ESTATE). */
int blob_put_write(blob_put_t *p, const void *data, size_t len) CPT_WUR;

/*
 * Makes the blob durable under its id: fsync of the file, its manifest
 * written beside it, rename into blobs/<2 hex>/, fsync of the folder. Only
 * once this returns 0 may anything (an HTTP 201, an event, an ACK) say the
 * blob is here: it then survives kill -9 and power loss. *id gets the id,
 * *size (when not NULL) the size. A blob already here is kept and the new
 * copy dropped (same id, same bytes). Releases *p in every case and NULLs it.
 * Returns 0, CPT_EINVAL (no byte written), CPT_ESTATE (a write had failed),
 * CPT_ENOMEM, CPT_ENOSPC or CPT_EIO.
 */
int blob_put_commit(blob_put_t **p, uint8_t id[BLOB_ID_LEN], uint64_t *size) CPT_WUR;

/* Drops a put and its temporary file; safe on NULL, NULLs *p. */
void blob_put_abort(blob_put_t **p);

/*
 * Reads chunk index of a blob into buf (capacity BLOB_CHUNK) and checks it
 * against the blob's manifest: *len gets its length. A chunk that does not
 * match (the disk corrupted it) moves the blob and its manifest to
 * blobs/bad/, logged: the blob no longer counts as here and is fetched
 * again. Returns 0, CPT_ENOTFOUND (not here, or index past the end),
 * CPT_EDAMAGED (it did not match: now moved away) or CPT_EIO.
 */
int blob_read_chunk(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], uint32_t index, uint8_t *buf,
                    size_t *len) CPT_WUR;

/*
 * The manifest of a blob here: *manifest is a new malloc'd buffer of *mlen
 * bytes the caller frees, checked against the id. Returns 0, CPT_ENOTFOUND,
 * CPT_EDAMAGED (the manifest file does not hash to the id: blob moved to
 * blobs/bad/), CPT_ENOMEM or CPT_EIO.
 */
int blob_manifest(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], uint8_t **manifest,
                  uint64_t *size, size_t *mlen) CPT_WUR;

/*
 * Erases a blob: unlinks its file, then its manifest, then fsyncs the
 * folder, so that after a return of 0 its bytes are no longer in the store
 * even after a crash. Returns 0 (also when it was not here) or CPT_EIO.
 */
int blob_delete(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN]) CPT_WUR;

/*
 * Partial fetches (PROTOCOL.md 18.6 "Resume", 18.7): a blob fetched from
 * peers by chunks is written at its offsets in blobs/part/<64 hex>, its
 * manifest beside it (<64 hex>.map), and renamed into place when whole.
 *
 * blob_part_open makes (or reopens) the partial file of a blob whose
 * manifest (mlen = nchunks(size) x 32 bytes) was checked against id by the
 * caller, and sets held[i] (nchunks bytes, the caller's) to 1 for each chunk
 * already there that matches its hash, else 0: after a cut, a restart or
 * kill -9 only the others are fetched. 0, CPT_EINVAL, CPT_ENOSPC or CPT_EIO.
 */
int blob_part_open(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], uint64_t size,
                   const uint8_t *manifest, size_t mlen, uint8_t *held) CPT_WUR;
/* Writes chunk index (len bytes, checked against the manifest by the
 * caller) at its offset. 0, CPT_ENOTFOUND (no partial file: erased
 * meanwhile), CPT_ENOSPC or CPT_EIO. Not durable until blob_part_finish. */
int blob_part_write(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], uint32_t index,
                    const uint8_t *data, size_t len) CPT_WUR;
/* Every chunk is written: fsync, the manifest beside the final name, the
 * rename, fsync of the folder; the blob is here from then on (blob_has),
 * surviving kill -9. 0, CPT_ENOTFOUND, CPT_ENOSPC or CPT_EIO. */
int blob_part_finish(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN]) CPT_WUR;
/* Removes a partial file and its manifest (the blob is erased, or no longer
 * wanted); safe when there is none. */
void blob_part_drop(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN]);

/*
 * Pins a blob between its put and the commit of the event that names it,
 * so that a sweep running meanwhile does not erase it as unwanted
 * (blob_unpin after the event is committed, or not). Pins count. Returns 0
 * or CPT_EFULL (256 blobs pinned at once: try again later).
 */
int blob_pin(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN]) CPT_WUR;
void blob_unpin(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN]);

/*
 * Erasure (PROTOCOL.md 18.5, 18.9): calls keep(arg, id) for every blob here
 * that is not pinned, and deletes (blob_delete) those for which it returns
 * 0; a negative return stops the sweep and is returned. *erased (when not
 * NULL) gets how many went. Thread-safe with puts and reads. Returns 0,
 * keep's error or CPT_EIO.
 */
int blob_sweep(blob_store_t *bs, int (*keep)(void *arg, const uint8_t id[BLOB_ID_LEN]), void *arg,
               uint64_t *erased) CPT_WUR;

/* The path of a blob's file into out (cap bytes): for serving with a file
 * descriptor. Returns 0 or CPT_ETOOBIG. The file may not exist. */
int blob_path(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], char *out, size_t cap) CPT_WUR;

/*
 * The type of an upload from its first len bytes (PROTOCOL.md 18.2), never
 * from its name: *type gets a static string ("image/jpeg", "text/plain", an
 * office type…). whole says the head is the whole file (a UTF-8 sequence cut
 * by its end is then refused). Returns 0, CPT_EPERM (markup a browser would
 * run: SVG, HTML, XML), CPT_ENOTFOUND (no accepted type) or CPT_EINVAL
 * (empty). Text is checked over the head only: the upload checks the rest.
 */
int blob_sniff(const uint8_t *head, size_t len, int whole, const char **type) CPT_WUR;

/*
 * The dimensions of an image blob here, after its EXIF orientation, read
 * from its header with libvips (no decode). Returns 0, CPT_ENOTFOUND,
 * CPT_EINVAL (libvips cannot read it as an image), CPT_ETOOBIG (a side over
 * 20 000 pixels or over 100 megapixels: PROTOCOL.md 18.2) or CPT_EIO
 * (libvips did not start). Thread-safe.
 */
int blob_image_dims(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], int *w, int *h) CPT_WUR;

/*
 * A WebP thumbnail of an image blob here, its longest side side pixels
 * (never enlarged), upright, without EXIF or any metadata: *out is a new
 * malloc'd buffer of *len bytes the caller frees, *w and *h its size.
 * Returns 0, CPT_ENOTFOUND, CPT_EINVAL (not a readable image), CPT_ENOMEM
 * or CPT_EIO. Decodes the image: call it off any loop that must stay
 * responsive (the HTTP connection's own thread does).
 */
int blob_thumb(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], int side, uint8_t **out,
               size_t *len, int *w, int *h) CPT_WUR;

/* 1 when the bytes are valid UTF-8 with no NUL (whole: a sequence cut by
 * the end is refused): the text rule of PROTOCOL.md 18.2. */
int blob_utf8_ok(const uint8_t *b, size_t len, int whole);

/* 1 when type is one of the closed list of PROTOCOL.md 18.2 (what a file
 * event may name), else 0. */
int blob_type_known(const char *type);
/* 1 for the image types of that list (shown inline, with thumbnails). */
int blob_type_is_image(const char *type);

/*
 * Metadata removed from an upload's original before it is hashed
 * (PROTOCOL.md 18.2 "Metadata"), losslessly and as the bytes stream in: a
 * filter fed the upload's bytes in order (blob_strip_feed) that gives out
 * (arg, bytes, len) the bytes to store, in order, in pieces of its choosing.
 *   - JPEG: EXIF is replaced by an EXIF block that holds the orientation
 *     only (so GPS, maker notes, serial numbers, dates and the EXIF
 *     thumbnail go); XMP, IPTC and Photoshop data, every other APPn but
 *     JFIF (its thumbnail removed), the ICC profile and Adobe's colour
 *     marker, comments, junk between segments and anything after the end of
 *     the image (a phone's MPF pictures) go. Tables and scans pass unchanged.
 *   - PNG: ancillary chunks other than those that say how to show the
 *     picture (tEXt, zTXt, iTXt, eXIf, tIME, private chunks) and anything
 *     after IEND go.
 *   - WebP: EXIF and XMP chunks are blanked (a JUNK chunk of zeros of the
 *     same size: the RIFF size at the head was passed on already), VP8X's
 *     flags for them cleared, anything after the RIFF goes.
 *   - GIF: comments, application extensions but looping (XMP), unknown
 *     extensions and anything after the trailer go.
 *   - anything else passes unchanged.
 * A picture whose structure is broken before its image data is refused
 * (CPT_EINVAL, blob_strip_error names what and where); one cut inside its
 * image data is kept as far as it goes. Holds at most 192 KiB, whatever the
 * file's size. Not thread-safe; one per upload.
 */
typedef int (*blob_sink_fn)(void *arg, const void *data, size_t len);
typedef struct blob_strip blob_strip_t;

/* A new filter that writes to out(arg, …). Returns 0 or CPT_ENOMEM. */
int blob_strip_new(blob_strip_t **s, blob_sink_fn out, void *arg) CPT_WUR;
/* Feeds the next n bytes. Returns 0, CPT_EINVAL (broken picture), the
 * sink's own error, or CPT_ESTATE after an earlier error. */
int blob_strip_feed(blob_strip_t *s, const void *data, size_t n) CPT_WUR;
/* The input is over: the last bytes go out. Same returns. */
int blob_strip_end(blob_strip_t *s) CPT_WUR;
/* What was wrong after CPT_EINVAL, lowercase, naming the byte; static to s. */
const char *blob_strip_error(const blob_strip_t *s);
/* Input bytes not passed on (metadata, junk, trailers): for the log. */
uint64_t blob_strip_dropped(const blob_strip_t *s);
/* 1 when the input was taken for a JPEG, PNG, WebP or GIF. */
int blob_strip_is_picture(const blob_strip_t *s);
/* Frees a filter; safe on NULL, NULLs *s. */
void blob_strip_destroy(blob_strip_t **s);
/* The EXIF orientation (1..8) in a TIFF block of n bytes (an EXIF segment
 * after its "Exif\0\0"), 0 when none or unreadable. Bounds-checked. */
int blob_exif_orientation(const uint8_t *tiff, size_t n);
/* The body rules of a file (PROTOCOL.md 18.3), and with sealed those of a
 * private space's sealed file too (18.4: "fkey", "plain", and each size
 * that of a sealed blob). 0, or CPT_EINVAL with why (wl bytes) saying
 * which rule broke. */
int blob_file_check(const json_t *b, int sealed, char *why, size_t wl) CPT_WUR;

/* ------------------------------------- sealed blobs (seal.c, 18.4) */

#define BLOB_FKEY_LEN 32     /* a file key */
#define BLOB_SEG      65536u /* plaintext bytes of a segment */
#define BLOB_SEG_TAG  16     /* the tag after each sealed segment */
/* The largest plaintext whose sealed blob fits BLOB_MAX_SIZE. */
#define BLOB_SEALED_MAX ((BLOB_MAX_SIZE / (BLOB_SEG + BLOB_SEG_TAG)) * BLOB_SEG)

/* The size of the sealed blob of a plain-byte file (PROTOCOL.md 18.4: each
 * segment plus its tag, the last padded to 4 KiB); 0 when plain is 0 or
 * over BLOB_SEALED_MAX. */
uint64_t blob_sealed_size(uint64_t plain);

typedef struct blob_sput blob_sput_t;
typedef struct blob_sread blob_sread_t;

/*
 * Writes a sealed blob as its plaintext streams in: plain bytes (known
 * before the first, since each segment's associated data holds the size)
 * given by blob_sput_write, sealed segment by segment under key with the
 * part number part (0 for a file, 1 and 2 for its thumbnails: each blob
 * of one key has its own nonces) and written through blob_put. No
 * plaintext byte reaches the disk. *sp is the caller's until commit or
 * abort. Returns 0, CPT_EINVAL (plain 0 or too big), CPT_ENOMEM, CPT_EIO.
 */
int blob_sput_begin(blob_store_t *bs, blob_sput_t **sp, const uint8_t key[BLOB_FKEY_LEN],
                    uint8_t part, uint64_t plain) CPT_WUR;
/* Appends len plaintext bytes. 0, CPT_ETOOBIG (past the size announced),
 * CPT_ESTATE (an earlier write failed), or blob_put_write's errors. */
int blob_sput_write(blob_sput_t *sp, const void *data, size_t len) CPT_WUR;
/* As blob_put_commit, for the ciphertext: *id is the sealed blob's id, *size
 * its size. CPT_EINVAL when fewer bytes than announced were written. Releases
 * *sp and NULLs it in every case. */
int blob_sput_commit(blob_sput_t **sp, uint8_t id[BLOB_ID_LEN], uint64_t *size) CPT_WUR;
/* Drops a sealed put; safe on NULL, NULLs *sp. */
void blob_sput_abort(blob_sput_t **sp);
/* The three above for bytes in memory (a thumbnail). */
int blob_seal_bytes(blob_store_t *bs, const uint8_t key[BLOB_FKEY_LEN], uint8_t part,
                    const uint8_t *data, size_t len, uint8_t id[BLOB_ID_LEN],
                    uint64_t *size) CPT_WUR;

/*
 * Reads a sealed blob here as plaintext, by range: only the segments asked
 * are read (each chunk checked against the manifest, as blob_read_chunk)
 * and opened. plain is the plaintext size the sealed event gives. *r is the
 * caller's, released by blob_sread_close (which wipes the key and what was
 * opened). Returns 0, CPT_ENOTFOUND (not here), CPT_EAUTH (the blob's size
 * is not that of plain bytes sealed), CPT_EINVAL or CPT_ENOMEM.
 */
int blob_sread_open(blob_store_t *bs, blob_sread_t **r, const uint8_t id[BLOB_ID_LEN],
                    const uint8_t key[BLOB_FKEY_LEN], uint8_t part, uint64_t plain) CPT_WUR;
/* Up to max plaintext bytes at off into out, *got how many (0 at the end).
 * Returns 0, CPT_EAUTH (a segment does not open: another key, part or size,
 * or bytes changed), or blob_read_chunk's errors. */
int blob_sread_at(blob_sread_t *r, uint64_t off, uint8_t *out, size_t max, size_t *got) CPT_WUR;
void blob_sread_close(blob_sread_t **r);
/* The whole plaintext in a new malloc'd buffer (*out, plain bytes, the
 * caller frees it and should wipe it): for a picture's thumbnails. Returns
 * as blob_sread_open and blob_sread_at. */
int blob_sread_all(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN],
                   const uint8_t key[BLOB_FKEY_LEN], uint8_t part, uint64_t plain,
                   uint8_t **out) CPT_WUR;

/* blob_image_dims and blob_thumb for an image held in memory (a private
 * space's picture, opened: it never touches the disk in clear). Same
 * returns. */
int blob_image_dims_buf(const uint8_t *data, size_t len, int *w, int *h) CPT_WUR;
int blob_thumb_buf(const uint8_t *data, size_t len, int side, uint8_t **out, size_t *len_out,
                   int *w, int *h) CPT_WUR;

#endif
