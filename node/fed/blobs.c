/*
 * What the sync engine calls to fetch and serve blobs (sync_blob_ops_t,
 * PROTOCOL.md 18.5-18.7): "wanted" and the list of missing blobs from the
 * blob refs (node/query), manifests, chunks and partial files from the blob
 * store (node/blob). A blob is never fetched, kept or served unless an
 * admitted, unredacted event names it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "node/fed/fed_internal.h"
#include "node/query/query.h"

#define DEMAND_MAX 32           /* blobs asked for on demand at once */
#define DEMAND_MS  (600 * 1000) /* how long a demand lasts: 10 minutes */

/*
 * Fetching on demand (PROTOCOL.md 18.6, class 1): a file a person opens
 * that is not here (above limits.fetch_max_mb, so never fetched on its own,
 * or not reached yet in the order) goes first in the list the engine reads,
 * whatever its size, for DEMAND_MS; opening it again renews it. One fed per
 * process, so the table is the module's (a static, under its lock).
 */
static pthread_mutex_t s_dlock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint8_t id[32];    /* the blob */
	uint64_t until_ms; /* wall ms the demand lasts to; 0: free */
} s_demand[DEMAND_MAX];

void
fed_blob_demand(fed_t *f, const uint8_t id[32])
{
	uint64_t now = hlc_wall_ms();
	int slot = -1, oldest = 0;

	pthread_mutex_lock(&s_dlock);
	for (int i = 0; i < DEMAND_MAX; i++) {
		if (s_demand[i].until_ms > now && memcmp(s_demand[i].id, id, 32) == 0) {
			slot = i;
			break;
		}
		if (slot < 0 && s_demand[i].until_ms <= now)
			slot = i;
		if (s_demand[i].until_ms < s_demand[oldest].until_ms)
			oldest = i;
	}
	if (slot < 0)
		slot = oldest; /* full: the oldest demand gives way */
	memcpy(s_demand[slot].id, id, 32);
	s_demand[slot].until_ms = now + DEMAND_MS;
	pthread_mutex_unlock(&s_dlock);
	fed_blob_kick(f);
}

/* The blobs demanded now into ids (at most DEMAND_MAX): how many. */
static size_t
s_demanded(uint8_t (*ids)[32])
{
	uint64_t now = hlc_wall_ms();
	size_t n = 0;

	pthread_mutex_lock(&s_dlock);
	for (int i = 0; i < DEMAND_MAX; i++)
		if (s_demand[i].until_ms > now)
			memcpy(ids[n++], s_demand[i].id, 32);
	pthread_mutex_unlock(&s_dlock);
	return n;
}

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
	size_t first;          /* the first n of out are demanded (class 1) */
} missing_t;

static int
s_missing_one(void *arg, const query_blob_t *b)
{
	missing_t *m = arg;

	if (m->n >= m->max)
		return 1;
	for (size_t i = 0; i < m->first; i++)
		if (memcmp(m->out[i].id, b->id, 32) == 0)
			return 0; /* listed first already */
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
	missing_t m = {out, 0, max, 0};
	uint8_t ids[DEMAND_MAX][32];
	size_t nd = s_demanded(ids);
	uint64_t fetch_max = (uint64_t)node_cfg(f->node)->limits.fetch_max_mb << 20;

	if (fetch_max == 0)
		fetch_max = (uint64_t)256 << 20;
	if (store_read_begin(node_store(f->node), &txn) != 0)
		return 0;
	/* Class 1 first: what a person is waiting for, wanted and not here. */
	for (size_t i = 0; i < nd && m.n < max; i++) {
		query_blob_t b;
		if (query_blob_wanted(txn, ids[i], &b) != 0 || blob_has(f->blobs, ids[i], NULL))
			continue;
		memcpy(out[m.n].id, ids[i], 32);
		out[m.n].size = b.size;
		out[m.n].prio = 1;
		m.n++;
	}
	m.first = m.n;
	if (query_blobs_missing(txn, f->blobs, fetch_max, max, s_missing_one, &m) < 0)
		m.n = m.first;
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
