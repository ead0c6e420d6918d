/*
 * What the sync engine calls to fetch and serve blobs (sync_blob_ops_t,
 * PROTOCOL.md 18.5-18.7): "wanted" and the list of missing blobs from the
 * blob refs (node/query), manifests, chunks and partial files from the blob
 * store (node/blob). A blob is never fetched, kept or served unless an
 * admitted, unredacted event names it.
 */
#include <stdlib.h>
#include <string.h>

#include "node/fed/fed_internal.h"
#include "node/query/query.h"

#define FETCH_MAX_DEFAULT ((uint64_t)256 << 20) /* files.fetch_max (18.6): on demand above */

void
fed_set_blobs(fed_t *f, blob_store_t *bs)
{
	f->blobs = bs;
}

static int
s_wanted(void *ctx, const uint8_t id[32])
{
	fed_t *f = ctx;
	store_txn_t *txn;
	query_blob_t b;
	int rc;

	if (store_read_begin(node_store(f->node), &txn) != 0)
		return 0; /* cannot say: neither fetch nor serve now, asked again later */
	rc = query_blob_wanted(txn, id, &b);
	store_read_end(node_store(f->node), &txn);
	return rc == 0;
}

typedef struct missing {
	sync_blob_want_t *out; /* where */
	size_t n, max;         /* filled, room */
} missing_t;

static int
s_missing_one(void *arg, const query_blob_t *b)
{
	missing_t *m = arg;

	if (m->n >= m->max)
		return 1;
	memcpy(m->out[m->n].id, b->id, 32);
	m->out[m->n].size = b->size;
	m->out[m->n].prio = b->prio;
	m->n++;
	return 0;
}

static size_t
s_next_missing(void *ctx, sync_blob_want_t *out, size_t max)
{
	fed_t *f = ctx;
	store_txn_t *txn;
	missing_t m = {out, 0, max};

	if (store_read_begin(node_store(f->node), &txn) != 0)
		return 0;
	if (query_blobs_missing(txn, f->blobs, FETCH_MAX_DEFAULT, max, s_missing_one, &m) < 0)
		m.n = 0;
	store_read_end(node_store(f->node), &txn);
	return m.n;
}

static int
s_manifest(void *ctx, const uint8_t id[32], uint8_t **m, uint64_t *size, size_t *mlen)
{
	return blob_manifest(((fed_t *)ctx)->blobs, id, m, size, mlen);
}

static int
s_read_chunk(void *ctx, const uint8_t id[32], uint32_t index, uint8_t *buf, size_t *len)
{
	return blob_read_chunk(((fed_t *)ctx)->blobs, id, index, buf, len);
}

static int
s_part_open(void *ctx, const uint8_t id[32], uint64_t size, const uint8_t *m, size_t mlen,
            uint8_t *held)
{
	fed_t *f = ctx;

	/* Wanted now, or not started: no partial file for an erased blob. */
	if (!s_wanted(f, id))
		return CPT_ENOTFOUND;
	return blob_part_open(f->blobs, id, size, m, mlen, held);
}

static int
s_part_write(void *ctx, const uint8_t id[32], uint32_t index, const uint8_t *d, size_t len)
{
	return blob_part_write(((fed_t *)ctx)->blobs, id, index, d, len);
}

static int
s_part_finish(void *ctx, const uint8_t id[32])
{
	fed_t *f = ctx;
	int rc;

	if (!s_wanted(f, id)) {
		blob_part_drop(f->blobs, id);
		return CPT_ENOTFOUND;
	}
	rc = blob_part_finish(f->blobs, id);
	/* Redacted while its last chunks came: the erasure's sweep may have
	 * run before the rename; this one is erased here. */
	if (rc == 0 && !s_wanted(f, id) && blob_delete(f->blobs, id) != 0)
		rc = CPT_EIO;
	return rc;
}

static void
s_forget(void *ctx, const uint8_t id[32])
{
	fed_t *f = ctx;

	/* An erased blob leaves nothing, not even part of it (18.9). */
	if (!s_wanted(f, id))
		blob_part_drop(f->blobs, id);
}

void
fed_blob_ops(fed_t *f, sync_blob_ops_t *ops)
{
	memset(ops, 0, sizeof(*ops));
	if (f->blobs == NULL)
		return; /* no blob store: the engine speaks no blob message */
	*ops =
	    (sync_blob_ops_t){f,           s_wanted,     s_next_missing, s_manifest, s_read_chunk,
	                      s_part_open, s_part_write, s_part_finish,  s_forget};
}

void
fed_blob_kick(fed_t *f)
{
	if (f && f->sync)
		sync_blob_kick(f->sync);
}
