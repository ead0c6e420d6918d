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

#endif
