/*
 * Blobs between sites (docs/PROTOCOL.md 18.6): BHELLO once per link, then
 * fetching pulled by the receiver — the manifest asked of every linked peer,
 * chunks asked in windows (8 per peer, 32 in all), each checked against the
 * manifest before it is written — and serving, one chunk per link per round
 * of the loop, after the events. The store is reached through conf.blob.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sync/sync_internal.h"

#define PEER_WINDOW      8     /* chunks asked of one peer and not received */
#define TOTAL_WINDOW     32    /* chunks asked in all */
#define BSERVE_MAX       64    /* BGET requests queued per peer; beyond, BNONE busy */
#define CHUNK_TIMEOUT_MS 30000 /* a chunk not back by then is asked again */
#define MAP_RETRY_MS     10000 /* a manifest nobody had is asked again this often */
#define SCAN_MS          2000  /* next_missing is read this often (and when kicked) */
#define STALL_MS         20    /* a full send queue is tried again after this */
#define STATUS_MS        500   /* the status counts are refreshed this often */
#define SERVE_BURST      4     /* chunks served to a link per round when no event waits */

enum { BC_MISSING = 0, BC_ASKED = 1, BC_HELD = 2 };

static int
s_slot(const sync_t *s, const link_t *l)
{
	return (int)(l - s->links);
}

int
blob_enabled(const sync_t *s)
{
	return s->conf.blob.wanted != NULL;
}

int
blob_init(sync_t *s)
{
	if (!blob_enabled(s))
		return 0;
	s->bbuf = malloc(SYNC_BLOB_CHUNK);
	return s->bbuf ? 0 : -1;
}

static void
s_fetch_free(bfetch_t *f)
{
	free(f->state);
	free(f->owner);
	free(f->asked_ms);
	free(f->manifest);
	memset(f, 0, sizeof(*f));
}

void
blob_fini(sync_t *s)
{
	for (int i = 0; i < BFETCH_MAX; i++)
		s_fetch_free(&s->fetch[i]);
	for (int i = 0; i < s->n_links; i++) {
		free(s->links[i].bq);
		s->links[i].bq = NULL;
	}
	free(s->bbuf);
	s->bbuf = NULL;
}

static bfetch_t *
s_fetch_of(sync_t *s, const uint8_t id[32])
{
	for (int i = 0; i < BFETCH_MAX; i++)
		if (s->fetch[i].used && memcmp(s->fetch[i].id, id, 32) == 0)
			return &s->fetch[i];
	return NULL;
}

static void
s_hex(char out[CPT_HEX_ID], const uint8_t id[32])
{
	cpt_hex32(out, id);
}

/* ------------------------------------------------------------ sending */

static int
s_send(sync_t *s, link_t *l, int type, const void *a, size_t alen, const void *b, size_t blen)
{
	const void *f[2] = {a, b};
	size_t fl[2] = {alen, blen};

	return link_send(s, l, type, f, fl, b ? 2 : 1);
}

static void
s_send_none(sync_t *s, link_t *l, const uint8_t id[32], int reason)
{
	bfetch_t *f = reason == SYNC_BNONE_ERASED ? NULL : s_fetch_of(s, id);
	uint8_t b[37];

	memcpy(b, id, 32);
	b[32] = (uint8_t)reason;
	/* The chunks of it this site holds: a fetch under way here, so the
	 * asker knows it comes (partial files are not served). */
	sync_be_put(b + 33, f && f->manifest ? f->n_held : 0, 4);
	s_send(s, l, SYNC_BNONE, b, sizeof(b), NULL, 0);
}

/* -------------------------------------------------------- link state */

/* Chunks asked of link slot k (every slot when k < 0) of f are to ask again. */
static void
s_unask(sync_t *s, bfetch_t *f, int k)
{
	if (f->state == NULL)
		return;
	for (uint32_t i = 0; i < f->n; i++)
		if (f->state[i] == BC_ASKED && (k < 0 || f->owner[i] == k)) {
			f->state[i] = BC_MISSING;
			if (s->links[f->owner[i]].b_inflight > 0)
				s->links[f->owner[i]].b_inflight--;
		}
}

void
blob_link_reset(sync_t *s, link_t *l, int up)
{
	int bit = s_slot(s, l);

	/* The peer's blob version stays: a link that one side saw go down
	 * for a moment (silence under load) is the same peer, which would not
	 * say BHELLO again. A HELLO (a new or restarted peer) clears it. */
	(void)up;
	l->bhello_out = 0;
	l->bq_head = l->bq_len = 0;
	l->b_stall_ms = 0;
	/* What was served on the connection that ended no longer waits. */
	s->blob_unread -= l->b_sent - l->b_read;
	l->b_sent = l->b_read = l->b_probe_at = 0;
	l->b_probe_out = l->b_budget_wait = 0;
	pthread_mutex_lock(&s->lock);
	l->st.blob_unread = 0;
	s->bst.unread = s->blob_unread;
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < BFETCH_MAX; i++) {
		bfetch_t *f = &s->fetch[i];
		if (!f->used)
			continue;
		s_unask(s, f, s_slot(s, l));
		peerset_del(&f->holders, bit);
		peerset_del(&f->map_asked, bit);
		peerset_del(&f->refused, bit);
	}
	l->b_inflight = 0;
}

void
blob_on_hello(sync_t *s, link_t *l)
{
	blob_link_reset(s, l, 1);
	l->bver = 0;
	pthread_mutex_lock(&s->lock);
	l->st.blob_version = 0;
	pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------ serving */

static void
s_damaged(sync_t *s, const uint8_t id[32])
{
	char hex[CPT_HEX_ID];

	s_hex(hex, id);
	log_warnx("sync", "blob %s is damaged on disk here: not served, to fetch again", hex);
	pthread_mutex_lock(&s->lock);
	s->bst.damaged++;
	pthread_mutex_unlock(&s->lock);
	s->blob_kick = 1;
}

/* Remembers that link l asked for blob id's manifest and was answered
 * BNONE (s_maps_later); the oldest entry gives way when all are taken. */
static void
s_map_later(sync_t *s, link_t *l, const uint8_t id[32])
{
	size_t n = sizeof(s->map_later) / sizeof(s->map_later[0]), k = 0;
	int tag = s_slot(s, l) + 1;

	for (size_t i = 0; i < n; i++)
		if (s->map_later[i].slot == tag && memcmp(s->map_later[i].id, id, 32) == 0) {
			s->map_later[i].until_ms = sync_now_ms() + MAP_RETRY_MS;
			return;
		}
	for (size_t i = 0; i < n; i++) {
		if (s->map_later[i].slot == 0) {
			k = i;
			break;
		}
		if (s->map_later[i].until_ms < s->map_later[k].until_ms)
			k = i;
	}
	memcpy(s->map_later[k].id, id, 32);
	s->map_later[k].slot = tag;
	s->map_later[k].until_ms = sync_now_ms() + MAP_RETRY_MS;
}

static void
s_on_map_get(sync_t *s, link_t *l, const sync_bmsg_t *b)
{
	const sync_blob_ops_t *o = &s->conf.blob;
	uint8_t *m = NULL, head[40];
	uint64_t size = 0;
	size_t mlen = 0;
	int rc;

	/* Never serve what this site does not want: an erased blob stays
	 * erased, whoever asks (18.5). */
	if (!o->wanted(o->ctx, b->id)) {
		s_map_later(s, l, b->id);
		s_send_none(s, l, b->id, SYNC_BNONE_ERASED);
		return;
	}
	rc = o->manifest(o->ctx, b->id, &m, &size, &mlen);
	if (rc == 0) {
		memcpy(head, b->id, 32);
		sync_be_put(head + 32, size, 8);
		s_send(s, l, SYNC_BMAP, head, sizeof(head), m, mlen);
	} else {
		if (rc == CPT_EDAMAGED)
			s_damaged(s, b->id);
		s_map_later(s, l, b->id);
		s_send_none(s, l, b->id, SYNC_BNONE_NOT_YET);
	}
	free(m);
}

/* The manifests asked while they could not be served, looked at again (a
 * scan follows each commit of a file event and each fetch completed): the
 * asker, whose fetch is still under way, takes a BMAP as from a holder
 * (18.6), instead of asking again in MAP_RETRY_MS. A relay in a chain so
 * passes a new blob on at once, and the author's site answers a peer that
 * got the event before its own commit. */
static void
s_maps_later(sync_t *s, uint64_t now)
{
	const sync_blob_ops_t *o = &s->conf.blob;

	for (size_t i = 0; i < sizeof(s->map_later) / sizeof(s->map_later[0]); i++) {
		uint8_t *m = NULL, head[40];
		uint64_t size = 0;
		size_t mlen = 0;
		link_t *l;

		if (s->map_later[i].slot == 0)
			continue;
		l = &s->links[s->map_later[i].slot - 1];
		if (now >= s->map_later[i].until_ms || !l->used || !link_up(l)) {
			s->map_later[i].slot = 0;
			continue;
		}
		if (!o->wanted(o->ctx, s->map_later[i].id) ||
		    o->manifest(o->ctx, s->map_later[i].id, &m, &size, &mlen) != 0)
			continue;
		memcpy(head, s->map_later[i].id, 32);
		sync_be_put(head + 32, size, 8);
		s_send(s, l, SYNC_BMAP, head, sizeof(head), m, mlen);
		free(m);
		s->map_later[i].slot = 0;
	}
}

static void
s_on_get(sync_t *s, link_t *l, const sync_bmsg_t *b)
{
	const sync_blob_ops_t *o = &s->conf.blob;
	bserve_t *q;

	if (!o->wanted(o->ctx, b->id)) {
		s_send_none(s, l, b->id, SYNC_BNONE_ERASED);
		return;
	}
	if (l->bq == NULL && (l->bq = malloc(BSERVE_MAX * sizeof(*l->bq))) == NULL) {
		s_send_none(s, l, b->id, SYNC_BNONE_BUSY);
		return;
	}
	if (l->bq_len >= BSERVE_MAX) {
		s_send_none(s, l, b->id, SYNC_BNONE_BUSY);
		return;
	}
	q = &l->bq[(l->bq_head + l->bq_len++) % BSERVE_MAX];
	memcpy(q->id, b->id, 32);
	q->index = b->index;
	q->left = b->count;
}

/*
 * The serving budget (PROTOCOL.md 18.6): a peer that asks and never reads
 * would have every chunk it asks for sit in our send queue (up to its high
 * water mark of 2000 messages: 500 MiB). So a link gets at most
 * SYNC_BLOB_PEER_BUDGET bytes of chunks, and all links together
 * SYNC_BLOB_TOTAL_BUDGET, beyond what the peer is known to have read. It is
 * known from a probe: a BMAP_GET of a random id, which every peer answers
 * (BNONE 1) after reading what came before it, since a link delivers in
 * order. A probe goes out when half the budget is unread, so an honest
 * reader (8 chunks asked at a time) never waits for it.
 */
static void
s_probe(sync_t *s, link_t *l)
{
	if (l->b_probe_out)
		return;
	randombytes_buf(l->b_probe_id, sizeof(l->b_probe_id));
	if (s_send(s, l, SYNC_BMAP_GET, l->b_probe_id, 32, NULL, 0) == 0) {
		l->b_probe_out = 1;
		l->b_probe_at = l->b_sent;
	}
}

static void
s_unread_status(sync_t *s, link_t *l)
{
	pthread_mutex_lock(&s->lock);
	l->st.blob_unread = l->b_sent - l->b_read;
	s->bst.unread = s->blob_unread;
	if (s->blob_unread > s->bst.unread_max)
		s->bst.unread_max = s->blob_unread;
	pthread_mutex_unlock(&s->lock);
}

/* The answer to l's probe: what was served before it was read. */
static int
s_probe_answer(sync_t *s, link_t *l, const uint8_t id[32])
{
	if (!l->b_probe_out || sodium_memcmp(id, l->b_probe_id, 32) != 0)
		return 0;
	s->blob_unread -= l->b_probe_at - l->b_read;
	l->b_read = l->b_probe_at;
	l->b_probe_out = 0;
	l->b_budget_wait = 0;
	s_unread_status(s, l);
	return 1;
}

/* One chunk of the first request queued for l: 1, or 0 when l must wait
 * (its send queue is full, or the budget is spent). */
static int
s_serve_one(sync_t *s, link_t *l, uint64_t now)
{
	const sync_blob_ops_t *o = &s->conf.blob;
	bserve_t *q = &l->bq[l->bq_head];
	uint8_t head[36];
	size_t len = 0;
	int rc;

	if (l->b_sent - l->b_read + SYNC_BLOB_CHUNK > SYNC_BLOB_PEER_BUDGET ||
	    s->blob_unread + SYNC_BLOB_CHUNK > SYNC_BLOB_TOTAL_BUDGET) {
		if (!l->b_budget_wait) {
			l->b_budget_wait = 1;
			pthread_mutex_lock(&s->lock);
			l->st.blob_held_back++;
			pthread_mutex_unlock(&s->lock);
		}
		s_probe(s, l);
		return 0;
	}
	rc = o->read_chunk(o->ctx, q->id, q->index, s->bbuf, &len);
	if (rc == 0) {
		memcpy(head, q->id, 32);
		sync_be_put(head + 32, q->index, 4);
		if (s_send(s, l, SYNC_BCHUNK, head, sizeof(head), s->bbuf, len) != 0) {
			l->b_stall_ms = now + STALL_MS; /* its queue is full: later */
			return 0;
		}
		l->b_sent += len;
		s->blob_unread += len;
		s_unread_status(s, l);
		pthread_mutex_lock(&s->lock);
		l->st.blob_bytes_out += len;
		pthread_mutex_unlock(&s->lock);
		if (l->b_sent - l->b_read >= SYNC_BLOB_PEER_BUDGET / 2)
			s_probe(s, l);
		q->index++;
		q->left--;
	} else {
		/* Not here (erased meanwhile, past its end) or damaged: the
		 * rest of the request is answered at once. */
		if (rc == CPT_EDAMAGED)
			s_damaged(s, q->id);
		s_send_none(s, l, q->id, SYNC_BNONE_NOT_YET);
		q->left = 0;
	}
	if (q->left == 0) {
		l->bq_head = (l->bq_head + 1) % BSERVE_MAX;
		l->bq_len--;
	}
	return 1;
}

/* ----------------------------------------------------------- fetching */

static void
s_finish(sync_t *s, bfetch_t *f)
{
	const sync_blob_ops_t *o = &s->conf.blob;
	char hex[CPT_HEX_ID];
	int rc = o->part_finish(o->ctx, f->id);

	s_hex(hex, f->id);
	if (rc == 0) {
		log_info("sync", "blob %s fetched (%llu bytes)", hex, (unsigned long long)f->size);
		pthread_mutex_lock(&s->lock);
		s->bst.fetched++;
		pthread_mutex_unlock(&s->lock);
	} else {
		/* Asked again from next_missing; the partial file is hashed
		 * again then, so nothing checked is fetched twice. */
		log_warnx("sync", "blob %s: cannot store it (error %d): fetched again later", hex,
		          rc);
	}
	s_unask(s, f, -1);
	s_fetch_free(f);
	s->blob_kick = 1;
}

static void
s_on_map(sync_t *s, link_t *l, const sync_bmsg_t *b, const uint8_t *m, size_t mlen)
{
	const sync_blob_ops_t *o = &s->conf.blob;
	bfetch_t *f = s_fetch_of(s, b->id);
	uint8_t id[32];
	char hex[CPT_HEX_ID];
	uint64_t resumed = 0;
	int rc;

	if (sync_blob_id(id, b->size, m, mlen) != 0 || sodium_memcmp(id, b->id, 32) != 0) {
		pthread_mutex_lock(&s->lock);
		l->st.blob_refused++;
		pthread_mutex_unlock(&s->lock);
		link_ban(s, l, "sent a blob manifest that does not hash to its blob id");
		return;
	}
	if (f == NULL)
		return; /* fetched meanwhile, or no longer wanted: harmless */
	peerset_add(&f->holders, s_slot(s, l));
	peerset_del(&f->refused, s_slot(s, l));
	if (f->manifest != NULL)
		return;
	f->n = sync_blob_nchunks(b->size);
	f->size = b->size;
	f->manifest = malloc(mlen);
	f->state = calloc(f->n, 1);
	f->owner = calloc(f->n, sizeof(*f->owner));
	f->asked_ms = calloc(f->n, sizeof(uint64_t));
	if (!f->manifest || !f->state || !f->owner || !f->asked_ms) {
		s_fetch_free(f);
		return;
	}
	memcpy(f->manifest, m, mlen);
	/* Resume: chunks of an earlier fetch that still match are kept. */
	rc = o->part_open(o->ctx, f->id, f->size, f->manifest, mlen, f->state);
	s_hex(hex, f->id);
	if (rc != 0) {
		log_warnx("sync", "blob %s: cannot open its partial file (error %d)", hex, rc);
		s_fetch_free(f);
		return;
	}
	for (uint32_t i = 0; i < f->n; i++) {
		f->state[i] = f->state[i] ? BC_HELD : BC_MISSING;
		if (f->state[i] == BC_HELD) {
			f->n_held++;
			f->held_bytes += sync_blob_chunk_len(f->size, i);
		}
	}
	resumed = f->held_bytes;
	if (resumed) {
		log_info("sync", "blob %s: resuming, %llu of %llu bytes already here", hex,
		         (unsigned long long)resumed, (unsigned long long)f->size);
		pthread_mutex_lock(&s->lock);
		s->bst.resumed_bytes += resumed;
		pthread_mutex_unlock(&s->lock);
	}
	if (f->n_held == f->n)
		s_finish(s, f);
}

static void
s_on_chunk(sync_t *s, link_t *l, const sync_bmsg_t *b, const uint8_t *data, size_t len)
{
	const sync_blob_ops_t *o = &s->conf.blob;
	bfetch_t *f = s_fetch_of(s, b->id);
	uint8_t h[32];
	uint32_t i = b->index;
	int rc;

	/* A chunk of no fetch here: a late answer to a request given up for
	 * lost, or of a blob completed or erased since. Never written. */
	if (f == NULL || f->manifest == NULL || i >= f->n)
		return;
	crypto_generichash(h, sizeof(h), data, len, NULL, 0);
	if (len != sync_blob_chunk_len(f->size, i) ||
	    sodium_memcmp(h, f->manifest + (size_t)i * 32, 32) != 0) {
		char hex[CPT_HEX_ID], why[200];
		s_hex(hex, f->id);
		snprintf(why, sizeof(why),
		         "sent chunk %u of blob %s that does not match its manifest", i, hex);
		pthread_mutex_lock(&s->lock);
		l->st.blob_refused++;
		pthread_mutex_unlock(&s->lock);
		link_ban(s, l, why);
		return;
	}
	if (f->state[i] == BC_HELD)
		return;
	if (f->state[i] == BC_ASKED && s->links[f->owner[i]].b_inflight > 0)
		s->links[f->owner[i]].b_inflight--;
	f->state[i] = BC_MISSING;
	if ((rc = o->part_write(o->ctx, f->id, i, data, len)) != 0) {
		char hex[CPT_HEX_ID];
		s_hex(hex, f->id);
		log_warnx("sync", "blob %s: cannot write chunk %u (error %d)", hex, i, rc);
		return;
	}
	f->state[i] = BC_HELD;
	f->n_held++;
	f->held_bytes += len;
	if (i < f->lo)
		f->lo = i;
	pthread_mutex_lock(&s->lock);
	l->st.blob_bytes_in += len;
	s->bst.bytes_in += len;
	pthread_mutex_unlock(&s->lock);
	if (f->n_held == f->n)
		s_finish(s, f);
}

static void
s_on_none(sync_t *s, link_t *l, const sync_bmsg_t *b, uint64_t now)
{
	bfetch_t *f;

	if (s_probe_answer(s, l, b->id))
		return;
	if ((f = s_fetch_of(s, b->id)) == NULL)
		return;
	if (b->reason == SYNC_BNONE_NOT_YET) {
		/* It fetches the blob too: the chunks it holds arrive there first. */
		pthread_mutex_lock(&s->lock);
		l->st.blob_held_said = b->held;
		pthread_mutex_unlock(&s->lock);
	}
	if (b->reason == SYNC_BNONE_BUSY) {
		l->b_stall_ms = now + 1000; /* asked again after a pause */
	} else {
		peerset_del(&f->holders, s_slot(s, l));
		peerset_add(&f->refused, s_slot(s, l));
	}
	s_unask(s, f, s_slot(s, l));
	f->lo = 0;
}

void
blob_on(sync_t *s, link_t *l, int type, zmq_msg_t *m, const size_t *len, size_t n)
{
	const uint8_t *f[2] = {NULL, NULL};
	size_t fl[2] = {0, 0};
	sync_bmsg_t b;

	if (!blob_enabled(s)) {
		/* This node does not speak blobs: a BHELLO is ignored (so the
		 * peer sends nothing else), anything else is malformed. */
		if (type != SYNC_BHELLO)
			link_malformed(s, l, type, n);
		return;
	}
	for (size_t i = 1; i < n && i < 3; i++) {
		f[i - 1] = zmq_msg_data(&m[i]);
		fl[i - 1] = len[i];
	}
	if (sync_bmsg_decode(type, f, fl, n, &b) != 0) {
		link_malformed(s, l, type, n);
		return;
	}
	if (type == SYNC_BHELLO) {
		l->bver = b.version < SYNC_BLOB_VERSION ? b.version : SYNC_BLOB_VERSION;
		pthread_mutex_lock(&s->lock);
		l->st.blob_version = l->bver;
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (l->bver == 0) {
		/* Before its BHELLO (after its HELLO, our side forgot it): a
		 * message that crossed a HELLO, dropped; the BHELLO follows. */
		return;
	}
	switch (type) {
	case SYNC_BMAP_GET: s_on_map_get(s, l, &b); break;
	case SYNC_BGET: s_on_get(s, l, &b); break;
	case SYNC_BMAP: s_on_map(s, l, &b, f[1], fl[1]); break;
	case SYNC_BCHUNK: s_on_chunk(s, l, &b, f[1], fl[1]); break;
	case SYNC_BNONE: s_on_none(s, l, &b, sync_now_ms()); break;
	}
}

/* ------------------------------------------------------------- rounds */

/* Reads what the node wants and lacks; fills free slots in its order and
 * drops fetches it no longer lists (erased, or held by now). */
static void
s_scan(sync_t *s, uint64_t now)
{
	const sync_blob_ops_t *o = &s->conf.blob;
	sync_blob_want_t w[4 * BFETCH_MAX];
	size_t n = o->next_missing(o->ctx, w, 4 * BFETCH_MAX);

	s->blob_gen++;
	s->blob_next_ms = now + SCAN_MS;
	s->blob_kick = 0;
	for (size_t i = 0; i < n && i < 4 * BFETCH_MAX; i++) {
		bfetch_t *f = s_fetch_of(s, w[i].id);
		if (f) {
			f->seen = s->blob_gen;
			f->prio = w[i].prio;
			continue;
		}
		for (int k = 0; k < BFETCH_MAX; k++)
			if (!s->fetch[k].used) {
				f = &s->fetch[k];
				memset(f, 0, sizeof(*f));
				f->used = 1;
				memcpy(f->id, w[i].id, 32);
				f->prio = w[i].prio;
				f->size_hint = w[i].size;
				f->seen = s->blob_gen;
				break;
			}
	}
	for (int k = 0; k < BFETCH_MAX; k++) {
		bfetch_t *f = &s->fetch[k];
		if (f->used && f->seen != s->blob_gen) {
			if (o->forget)
				o->forget(o->ctx, f->id);
			s_unask(s, f, -1);
			s_fetch_free(f);
		}
	}
}

static int
s_can_ask(const link_t *l, uint64_t now)
{
	return l->used && link_up(l) && l->bver > 0 && l->bhello_out && l->b_stall_ms <= now;
}

/* Manifests to ask: of every peer not asked yet, and again of those that
 * had none after a while. */
static void
s_ask_maps(sync_t *s, bfetch_t *f, uint64_t now)
{
	if (f->map_ms && sync_since(now, f->map_ms) >= MAP_RETRY_MS) {
		memset(&f->map_asked, 0, sizeof(f->map_asked));
		memset(&f->refused, 0, sizeof(f->refused));
	}
	for (int i = 0; i < s->n_links; i++) {
		link_t *l = &s->links[i];
		if (!s_can_ask(l, now) || peerset_has(&f->map_asked, i))
			continue;
		if (s_send(s, l, SYNC_BMAP_GET, f->id, 32, NULL, 0) == 0) {
			peerset_add(&f->map_asked, i);
			if (f->map_ms == 0 || sync_since(now, f->map_ms) >= MAP_RETRY_MS)
				f->map_ms = now;
		}
	}
}

/* Chunks to ask of the peers that hold f, within the windows. */
static void
s_ask_chunks(sync_t *s, bfetch_t *f, uint64_t now, int *total)
{
	for (int k = 0; k < s->n_links && *total < TOTAL_WINDOW; k++) {
		link_t *l = &s->links[k];
		uint8_t b[38];
		uint32_t first, count = 0, room;

		if (!peerset_has(&f->holders, k) || !s_can_ask(l, now) ||
		    l->b_inflight >= PEER_WINDOW)
			continue;
		room = (uint32_t)(PEER_WINDOW - l->b_inflight);
		if (room > (uint32_t)(TOTAL_WINDOW - *total))
			room = (uint32_t)(TOTAL_WINDOW - *total);
		if (room > SYNC_BGET_MAX)
			room = SYNC_BGET_MAX;
		while (f->lo < f->n && f->state[f->lo] != BC_MISSING)
			f->lo++;
		first = f->lo;
		while (first + count < f->n && count < room &&
		       f->state[first + count] == BC_MISSING)
			count++;
		if (count == 0)
			return; /* every chunk is asked or held */
		/* The site's cap on what files may take of its links: chunks are
		 * asked only as fast as it allows (a chunk at a time at least). */
		if (s->conf.blob_rate) {
			uint32_t afford = (uint32_t)(s->blob_tokens / SYNC_BLOB_CHUNK);
			if (afford == 0)
				return;
			if (count > afford)
				count = afford;
			s->blob_tokens -= (double)count * SYNC_BLOB_CHUNK;
		}
		memcpy(b, f->id, 32);
		sync_be_put(b + 32, first, 4);
		sync_be_put(b + 36, count, 2);
		if (s_send(s, l, SYNC_BGET, b, sizeof(b), NULL, 0) != 0) {
			l->b_stall_ms = now + STALL_MS;
			continue;
		}
		for (uint32_t i = first; i < first + count; i++) {
			f->state[i] = BC_ASKED;
			f->owner[i] = (uint16_t)k;
			f->asked_ms[i] = now;
		}
		l->b_inflight += (int)count;
		*total += (int)count;
	}
}

/* Chunks asked too long ago are asked again (of this peer or another). */
static void
s_timeouts(sync_t *s, bfetch_t *f, uint64_t now)
{
	for (uint32_t i = 0; i < f->n; i++)
		if (f->state[i] == BC_ASKED &&
		    sync_since(now, f->asked_ms[i]) >= CHUNK_TIMEOUT_MS) {
			f->state[i] = BC_MISSING;
			if (s->links[f->owner[i]].b_inflight > 0)
				s->links[f->owner[i]].b_inflight--;
			if (i < f->lo)
				f->lo = i;
		}
}

/* The status counts: per peer what is still to fetch from it, and overall. */
static void
s_status(sync_t *s)
{
	uint64_t wait[SYNC_MAX_PEERS] = {0}, wait_bytes[SYNC_MAX_PEERS] = {0};
	uint64_t fetching = 0, bytes = 0, unreachable = 0;

	for (int k = 0; k < BFETCH_MAX; k++) {
		const bfetch_t *f = &s->fetch[k];
		uint64_t size = f->size ? f->size : f->size_hint;
		uint64_t left = size > f->held_bytes ? size - f->held_bytes : 0;
		if (!f->used)
			continue;
		fetching++;
		bytes += left;
		if (peerset_empty(&f->holders))
			unreachable++;
		for (int i = 0; i < s->n_links; i++)
			if (peerset_has(&f->holders, i)) {
				wait[i]++;
				wait_bytes[i] += left;
			}
	}
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->n_links; i++) {
		s->links[i].st.blob_wait = wait[i];
		s->links[i].st.blob_wait_bytes = wait_bytes[i];
	}
	s->bst.fetching = fetching;
	s->bst.fetching_bytes = bytes;
	s->bst.unreachable = unreachable;
	pthread_mutex_unlock(&s->lock);
}

void
blob_round(sync_t *s, uint64_t now)
{
	int total = 0, order[BFETCH_MAX], n = 0;
	int check_timeouts = 0;

	if (!blob_enabled(s))
		return;
	/* BHELLO once per connection, after HELLO brought it up. */
	for (int i = 0; i < s->n_links; i++) {
		link_t *l = &s->links[i];
		if (l->used && link_up(l) && !l->bhello_out) {
			uint8_t b[2] = {SYNC_BLOB_VERSION, 0};
			if (s_send(s, l, SYNC_BHELLO, b, 2, NULL, 0) == 0)
				l->bhello_out = 1;
		}
	}
	/* Serving: one chunk per link per round, so that EVENTS and ACKs are
	 * never queued behind a file. */
	for (int i = 0; i < s->n_links; i++) {
		link_t *l = &s->links[i];
		/* More than one when no event waits for that link: a round of
		 * the loop then costs less than the chunk it carries. */
		int burst = l->wq_len == 0 && l->n_ranges == 0 ? SERVE_BURST : 1;
		for (int k = 0;
		     k < burst && l->used && l->bq_len > 0 && link_up(l) && l->b_stall_ms <= now;
		     k++)
			if (!s_serve_one(s, l, now))
				break;
	}
	if (s->blob_kick || now >= s->blob_next_ms) {
		s_scan(s, now);
		s_maps_later(s, now);
	}
	if (s->conf.blob_rate) {
		/* Refilled with the time passed; at most a second's worth (and
		 * never less than a chunk) saved up. */
		double cap =
		    s->conf.blob_rate > SYNC_BLOB_CHUNK ? s->conf.blob_rate : SYNC_BLOB_CHUNK;
		s->blob_tokens +=
		    (double)sync_since(now, s->blob_tokens_ms) * s->conf.blob_rate / 1000.0;
		if (s->blob_tokens > cap)
			s->blob_tokens = cap;
		s->blob_tokens_ms = now;
	}
	if (sync_since(now, s->blob_timeout_ms) >= 1000) {
		s->blob_timeout_ms = now;
		check_timeouts = 1;
	}
	/* Fetches by priority class, then in the node's order. */
	for (int p = 0; p <= 9; p++)
		for (int k = 0; k < BFETCH_MAX; k++) {
			int q = s->fetch[k].prio < 0 || s->fetch[k].prio > 9 ? 9 : s->fetch[k].prio;
			if (s->fetch[k].used && q == p)
				order[n++] = k;
		}
	for (int i = 0; i < s->n_links; i++)
		total += s->links[i].b_inflight;
	for (int j = 0; j < n; j++) {
		bfetch_t *f = &s->fetch[order[j]];
		if (!f->used)
			continue;
		/* The manifest is asked of every peer, also once we have it:
		 * its answer (BMAP or BNONE) says who holds the blob. */
		s_ask_maps(s, f, now);
		if (f->manifest == NULL)
			continue;
		if (check_timeouts)
			s_timeouts(s, f, now);
		s_ask_chunks(s, f, now, &total);
	}
	if (sync_since(now, s->blob_status_ms) >= STATUS_MS) {
		s->blob_status_ms = now;
		s_status(s);
	}
}

int
blob_busy(const sync_t *s)
{
	uint64_t now;

	if (!blob_enabled(s))
		return 0;
	if (s->blob_kick)
		return 1;
	now = sync_now_ms();
	for (int i = 0; i < s->n_links; i++) {
		const link_t *l = &s->links[i];
		if (l->used && l->bq_len > 0 && link_up(l) && l->b_stall_ms <= now)
			return 1;
	}
	return 0;
}

uint64_t
blob_next_ms(const sync_t *s, uint64_t now)
{
	uint64_t next;

	if (!blob_enabled(s))
		return 0;
	next = s->blob_next_ms > now ? s->blob_next_ms : now + 50;
	/* Stalled sends, timeouts, manifests to ask again, the status: a
	 * quarter second is soon enough for each. */
	for (int i = 0; i < s->n_links; i++)
		if (s->links[i].used && s->links[i].b_stall_ms > now &&
		    s->links[i].b_stall_ms < next)
			next = s->links[i].b_stall_ms;
	for (int k = 0; k < BFETCH_MAX; k++)
		if (s->fetch[k].used && now + (s->conf.blob_rate ? 20 : 250) < next)
			next = now + (s->conf.blob_rate ? 20 : 250);
	return next;
}
