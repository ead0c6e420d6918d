/*
 * Range-based set reconciliation over (timestamp, id), after negentropy:
 * ranges whose additive fingerprints differ are split, small ranges are
 * settled with id lists. Stateless between messages: each side answers the
 * message it got from its own set alone. docs/PROTOCOL.md, "Reconciliation".
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sync/sync.h"

#define MODE_SKIP 0
#define MODE_FP   1
#define MODE_IDS  2

static const uint8_t s_zero[RECON_KEY_LEN];

/* --------------------------------------------------------- fingerprints */

/* Ids are little-endian 256-bit numbers; the sum wraps mod 2^256. Four
 * 64-bit limbs (any alignment, any host: memcpy, swapped on a big-endian
 * one). Fingerprints add one per bucket or event walked: byte-by-byte limbs
 * were most of a reconciliation's CPU. */
static void
s_limbs(uint64_t l[4], const uint8_t b[32])
{
	memcpy(l, b, 32);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	for (int i = 0; i < 4; i++)
		l[i] = __builtin_bswap64(l[i]);
#endif
}

static void
s_bytes(uint8_t b[32], const uint64_t l[4])
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	uint64_t t[4];
	for (int i = 0; i < 4; i++)
		t[i] = __builtin_bswap64(l[i]);
	memcpy(b, t, 32);
#else
	memcpy(b, l, 32);
#endif
}

void
recon_sum_add(uint8_t sum[32], const uint8_t id[32])
{
	uint64_t a[4], b[4], carry = 0;

	s_limbs(a, sum);
	s_limbs(b, id);
	for (int i = 0; i < 4; i++) {
		uint64_t t = a[i] + carry;
		uint64_t c1 = t < carry;
		a[i] = t + b[i];
		carry = c1 | (a[i] < t);
	}
	s_bytes(sum, a);
}

void
recon_sum_sub(uint8_t sum[32], const uint8_t id[32])
{
	uint64_t a[4], b[4], borrow = 0;

	s_limbs(a, sum);
	s_limbs(b, id);
	for (int i = 0; i < 4; i++) {
		uint64_t t = a[i] - borrow;
		uint64_t b1 = a[i] < borrow;
		borrow = b1 | (t < b[i]);
		a[i] = t - b[i];
	}
	s_bytes(sum, a);
}

void
recon_fingerprint(uint8_t fp[RECON_FP_LEN], const uint8_t sum[32], uint64_t count)
{
	uint8_t buf[40];

	memcpy(buf, sum, 32);
	for (int i = 0; i < 8; i++)
		buf[32 + i] = (uint8_t)(count >> (8 * i));
	crypto_generichash(fp, RECON_FP_LEN, buf, sizeof(buf), NULL, 0);
}

/* ----------------------------------------------------------- encoding */

typedef struct wbuf {
	uint8_t *p;    /* output */
	size_t len;    /* used */
	size_t cap;    /* size */
	int overflow;  /* a write did not fit */
	uint64_t prev; /* timestamp of the previous bound */
} wbuf_t;

static void
s_put(wbuf_t *w, const void *d, size_t n)
{
	if (w->overflow || w->len + n > w->cap) {
		w->overflow = 1;
		return;
	}
	memcpy(w->p + w->len, d, n);
	w->len += n;
}

static void
s_varint(wbuf_t *w, uint64_t v)
{
	uint8_t b[10];
	size_t n = 0;

	do {
		b[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			b[n] |= 0x80;
		n++;
	} while (v);
	s_put(w, b, n);
}

static int
s_is_inf(const uint8_t k[RECON_KEY_LEN])
{
	for (int i = 0; i < RECON_KEY_LEN; i++)
		if (k[i] != 0xff)
			return 0;
	return 1;
}

static uint64_t
s_ts(const uint8_t k[RECON_KEY_LEN])
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | k[i];
	return v;
}

/* A bound: varint 0 for infinity, else varint(ts - previous ts + 1), then
 * the id prefix length and bytes (the rest of the id is zeros). */
static void
s_bound(wbuf_t *w, const uint8_t k[RECON_KEY_LEN])
{
	uint64_t ts;
	size_t plen = 32;

	if (s_is_inf(k)) {
		s_varint(w, 0);
		return;
	}
	ts = s_ts(k);
	s_varint(w, ts - w->prev + 1);
	w->prev = ts;
	while (plen > 0 && k[8 + plen - 1] == 0)
		plen--;
	s_varint(w, plen);
	s_put(w, k + 8, plen);
}

typedef struct rbuf {
	const uint8_t *p; /* input */
	size_t len;       /* size */
	size_t pos;       /* read so far */
	uint64_t prev;    /* timestamp of the previous bound */
} rbuf_t;

static int
s_get_varint(rbuf_t *r, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		uint8_t b;
		if (r->pos >= r->len)
			return -1;
		b = r->p[r->pos++];
		if (shift == 63 && (b & 0x7e))
			return -1; /* beyond 64 bits */
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
	}
	return -1;
}

static int
s_get_bound(rbuf_t *r, uint8_t k[RECON_KEY_LEN])
{
	uint64_t d, plen, ts;

	if (s_get_varint(r, &d) != 0)
		return -1;
	if (d == 0) {
		memset(k, 0xff, RECON_KEY_LEN);
		return 0;
	}
	if (d - 1 > UINT64_MAX - r->prev)
		return -1;
	ts = r->prev + (d - 1);
	r->prev = ts;
	if (s_get_varint(r, &plen) != 0 || plen > 32 || r->len - r->pos < plen)
		return -1;
	for (int i = 0; i < 8; i++)
		k[i] = (uint8_t)(ts >> (56 - 8 * i));
	memset(k + 8, 0, 32);
	memcpy(k + 8, r->p + r->pos, plen);
	r->pos += plen;
	/* ts = UINT64_MAX with a full 0xff id would be infinity in disguise. */
	return s_is_inf(k) ? -1 : 0;
}

/* The smallest bound b with prev < b <= next: next's timestamp and the
 * shortest id prefix that still sorts after prev. */
static void
s_min_bound(uint8_t out[RECON_KEY_LEN], const uint8_t prev[RECON_KEY_LEN],
            const uint8_t next[RECON_KEY_LEN])
{
	size_t i = 0;

	memset(out, 0, RECON_KEY_LEN);
	memcpy(out, next, 8);
	if (memcmp(prev, next, 8) != 0)
		return;
	while (i < 32 && prev[8 + i] == next[8 + i])
		i++;
	memcpy(out + 8, next + 8, i < 32 ? i + 1 : 32);
}

/* ------------------------------------------------------------ ranges */

static void
s_emit_fp(recon_t *rc, wbuf_t *w, const uint8_t hi[RECON_KEY_LEN], uint64_t count,
          const uint8_t fp[RECON_FP_LEN])
{
	s_bound(w, hi);
	s_varint(w, MODE_FP);
	s_varint(w, count);
	s_put(w, fp, RECON_FP_LEN);
	rc->stats.ranges_sent++;
}

static void
s_emit_skip(wbuf_t *w, const uint8_t hi[RECON_KEY_LEN], int *pending_skip,
            uint8_t skip_hi[RECON_KEY_LEN])
{
	/* Adjacent skips merge into one range: written before the next range. */
	*pending_skip = 1;
	memcpy(skip_hi, hi, RECON_KEY_LEN);
	(void)w;
}

static void
s_flush_skip(wbuf_t *w, int *pending_skip, const uint8_t skip_hi[RECON_KEY_LEN])
{
	if (!*pending_skip)
		return;
	s_bound(w, skip_hi);
	s_varint(w, MODE_SKIP);
	*pending_skip = 0;
}

/* Lists our ids in [lo, hi); returns -1 when there are more than max. */
static long
s_list(recon_t *rc, const uint8_t lo[RECON_KEY_LEN], const uint8_t hi[RECON_KEY_LEN], size_t max)
{
	size_t n = rc->src.items(rc->src.ctx, lo, hi, rc->scratch, max + 1);

	return n > max ? -1 : (long)n;
}

/* Splits our part of [lo, hi) into RECON_BRANCH ranges and emits their
 * fingerprints. */
static void
s_emit_split(recon_t *rc, wbuf_t *w, const uint8_t lo[RECON_KEY_LEN],
             const uint8_t hi[RECON_KEY_LEN], uint64_t count)
{
	uint8_t bounds[RECON_BRANCH][RECON_KEY_LEN], cur[RECON_KEY_LEN];
	size_t nb = rc->src.split(rc->src.ctx, lo, hi, count, RECON_BRANCH, bounds);

	memcpy(cur, lo, RECON_KEY_LEN);
	for (size_t i = 0; i <= nb; i++) {
		const uint8_t *end = i < nb ? bounds[i] : hi;
		uint64_t c;
		uint8_t fp[RECON_FP_LEN];
		if (i < nb && memcmp(end, cur, RECON_KEY_LEN) <= 0)
			continue; /* a split point that does not advance */
		rc->src.fingerprint(rc->src.ctx, cur, end, &c, fp);
		s_emit_fp(rc, w, end, c, fp);
		memcpy(cur, end, RECON_KEY_LEN);
	}
}

static void
s_emit_ids(recon_t *rc, wbuf_t *w, const uint8_t hi[RECON_KEY_LEN], size_t n)
{
	s_bound(w, hi);
	s_varint(w, MODE_IDS);
	s_varint(w, n);
	for (size_t i = 0; i < n; i++)
		s_put(w, rc->scratch[i] + 8, 32);
	rc->stats.ids_sent += n;
	rc->stats.ranges_sent++;
	if (rc->sink.listed && n && !w->overflow)
		rc->sink.listed(rc->sink.arg, (const uint8_t(*)[RECON_KEY_LEN])rc->scratch, n);
}

/* Our count and fingerprint of one of the message's fingerprinted ranges,
 * computed in the first pass over it (recon_process). */
struct recon_memo {
	uint64_t own;             /* our events in the range */
	uint8_t fp[RECON_FP_LEN]; /* their fingerprint */
	int differs;              /* the peer's count or fingerprint is not ours */
};

/* Our answer to the peer's fingerprint of [lo, hi), ours being m.
 * dense_max: a range of at most this many of ours is listed, not split, the
 * message's ranges differing densely enough (recon_process). */
static void
s_on_fp(recon_t *rc, wbuf_t *w, const uint8_t lo[RECON_KEY_LEN], const uint8_t hi[RECON_KEY_LEN],
        uint64_t peer_count, const uint8_t peer_fp[RECON_FP_LEN], const struct recon_memo *m,
        uint64_t dense_max, int tail, int *pending_skip, uint8_t skip_hi[RECON_KEY_LEN],
        size_t reserve)
{
	uint64_t own = m->own, delta;
	const uint8_t *fp = m->fp;
	long n;

	if (own == peer_count && sodium_memcmp(fp, peer_fp, RECON_FP_LEN) == 0) {
		s_emit_skip(w, hi, pending_skip, skip_hi);
		return;
	}
	if (peer_count == 0) {
		/* The peer has nothing here: stream it all, no list needed. */
		rc->sink.push_range(rc->sink.arg, lo, hi);
		rc->stats.push_ranges++;
		s_emit_skip(w, hi, pending_skip, skip_hi);
		return;
	}
	s_flush_skip(w, pending_skip, skip_hi);
	delta = own > peer_count ? own - peer_count : peer_count - own;
	/* Beyond the frame budget, leave the range for the next round. */
	if (w->len + reserve + 64 + RECON_TAIL_IDS * 32 > w->cap) {
		s_emit_fp(rc, w, hi, own, fp);
		return;
	}
	/* Few of ours, or mostly different: our id list settles the range.
	 * Dense differences (both sites wrote in the same span during an
	 * outage: the counts hardly differ, the sets do) are mostly different
	 * too: split, nearly every part would differ again, and the next round
	 * would list them all the same, a round trip later. A range of the
	 * differing tail is listed up to RECON_TAIL_IDS: the peer cut it at
	 * up to RECON_MAX_IDS of its own, and we hold as many of ours there
	 * besides, the outage's. */
	if (((own <= RECON_MAX_IDS &&
	      (own <= RECON_SMALL || own <= 2 * delta || own <= dense_max)) ||
	     (tail && own <= RECON_TAIL_IDS)) &&
	    (n = s_list(rc, lo, hi, RECON_TAIL_IDS)) >= 0) {
		s_emit_ids(rc, w, hi, (size_t)n);
		return;
	}
	/* Few of the peer's: our unsplit fingerprint asks it for its list. */
	if (peer_count <= RECON_MAX_IDS && (peer_count <= RECON_SMALL || peer_count <= 2 * delta)) {
		s_emit_fp(rc, w, hi, own, fp);
		return;
	}
	s_emit_split(rc, w, lo, hi, own);
}

static int
s_cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/* The peer's full id list of [lo, hi): push what it lacks, want what we lack.
 * Each list is sorted by id for the other's lookups (bsearch), and both
 * findings come out in the lists' own orders: ours by (ts, id), the peer's
 * as it sent it (by key, from a node like this one). Events then go out
 * and are asked for oldest first, a post before its comments: in id order
 * (a merge of the two sorted lists, until session 14), half of a heal's
 * comments and reactions reached the receiver before their posts, waited in
 * its pending set and were admitted, and relayed back, later. */
static void
s_on_ids(recon_t *rc, const uint8_t lo[RECON_KEY_LEN], const uint8_t hi[RECON_KEY_LEN],
         const uint8_t *ids, size_t n)
{
	uint64_t own;
	uint8_t fp[RECON_FP_LEN];
	size_t k = 0, p = 0, mine;
	long listed;

	rc->stats.ids_received += n;
	if (n == 0) {
		rc->src.fingerprint(rc->src.ctx, lo, hi, &own, fp);
		if (own) {
			rc->sink.push_range(rc->sink.arg, lo, hi);
			rc->stats.push_ranges++;
		}
		return;
	}
	listed = s_list(rc, lo, hi, RECON_LIST_MAX);
	if (listed < 0) {
		/* Too many of ours to list: stream the range (the peer drops the few
		 * duplicates) and ask for what we lack. */
		for (size_t i = 0; i < n; i++)
			if (!rc->src.has(rc->src.ctx, ids + 32 * i))
				memcpy(rc->want[k++], ids + 32 * i, 32);
		rc->sink.push_range(rc->sink.arg, lo, hi);
		rc->stats.push_ranges++;
	} else {
		mine = (size_t)listed;
		memcpy(rc->peer, ids, 32 * n);
		qsort(rc->peer, n, 32, s_cmp_id);
		for (size_t m = 0; m < mine; m++)
			memcpy(rc->mine[m], rc->scratch[m] + 8, 32);
		qsort(rc->mine, mine, 32, s_cmp_id);
		/* The peer's, not in our range: maybe here under other keys. */
		for (size_t i = 0; i < n; i++) {
			const uint8_t *id = ids + 32 * i;
			if (bsearch(id, rc->mine, mine, 32, s_cmp_id) == NULL &&
			    !rc->src.has(rc->src.ctx, id))
				memcpy(rc->want[k++], id, 32);
		}
		/* Ours it did not list. */
		for (size_t m = 0; m < mine; m++)
			if (bsearch(rc->scratch[m] + 8, rc->peer, n, 32, s_cmp_id) == NULL)
				memcpy(rc->push[p++], rc->scratch[m], RECON_KEY_LEN);
		if (p) {
			rc->sink.push_ids(rc->sink.arg, (const uint8_t(*)[RECON_KEY_LEN])rc->push,
			                  p);
			rc->stats.pushed += p;
		}
	}
	if (k)
		rc->sink.want_ids(rc->sink.arg, (const uint8_t(*)[32])rc->want, k);
	rc->stats.wanted += k;
}

/* ---------------------------------------------------------------- API */

recon_t *
recon_new(const recon_src_t *src, const recon_sink_t *sink)
{
	recon_t *rc = calloc(1, sizeof(*rc));

	if (rc == NULL)
		return NULL;
	rc->src = *src;
	rc->sink = *sink;
	return rc;
}

void
recon_destroy(recon_t **self_p)
{
	if (*self_p)
		free((*self_p)->memo);
	free(*self_p);
	*self_p = NULL;
}

int
recon_start(recon_t *rc, uint8_t *out, size_t cap, size_t *len)
{
	wbuf_t w = {out, 0, cap, 0, 0};
	uint8_t inf[RECON_KEY_LEN], fp[RECON_FP_LEN];
	uint64_t count;
	uint8_t v = RECON_VERSION;

	memset(inf, 0xff, sizeof(inf));
	s_put(&w, &v, 1);
	rc->src.fingerprint(rc->src.ctx, s_zero, inf, &count, fp);
	if (count > RECON_SMALL)
		s_emit_split(rc, &w, s_zero, inf, count);
	else
		s_emit_fp(rc, &w, inf, count, fp);
	rc->stats.rounds++;
	rc->stats.bytes_sent += w.len;
	*len = w.len;
	return w.overflow ? CPT_ETOOBIG : 0;
}

int
recon_start_recent(recon_t *rc, uint8_t *out, size_t cap, size_t *len)
{
	return recon_start_recent_n(rc, out, cap, len, RECON_RECENT_MAX);
}

int
recon_start_recent_n(recon_t *rc, uint8_t *out, size_t cap, size_t *len, size_t max)
{
	wbuf_t w = {out, 0, cap, 0, 0};
	uint8_t inf[RECON_KEY_LEN], fp[RECON_FP_LEN], hi[RECON_KEY_LEN];
	uint8_t(*items)[RECON_KEY_LEN];
	size_t starts[RECON_RECENT_CAP / RECON_RECENT_FIRST + 1];
	uint64_t total;
	size_t n, first, nr = 0, at;
	uint8_t v = RECON_VERSION;

	memset(inf, 0xff, sizeof(inf));
	if (max > RECON_RECENT_CAP)
		max = RECON_RECENT_CAP;
	if (rc->src.recent == NULL || max <= RECON_SMALL)
		return recon_start(rc, out, cap, len);
	rc->src.fingerprint(rc->src.ctx, s_zero, inf, &total, fp);
	if (total <= RECON_SMALL)
		return recon_start(rc, out, cap, len);
	/* One item more than we list: the bound below the oldest listed goes
	 * between it and the one before. 320 KiB for 8,192, for this message
	 * only. */
	if ((items = malloc((max + 1) * RECON_KEY_LEN)) == NULL)
		return recon_start(rc, out, cap, len);
	n = rc->src.recent(rc->src.ctx, items, max + 1);
	if (n <= RECON_SMALL || n > max + 1) {
		free(items);
		return recon_start(rc, out, cap, len);
	}
	first = n == max + 1; /* items[0] is only the one before */
	/* Where each range starts, from the newest back: 64, 64, 128, 256,
	 * 512 items, then 1,024 each. */
	for (at = n; at > first; nr++) {
		size_t size = nr == 0 ? RECON_RECENT_FIRST : (size_t)RECON_RECENT_FIRST << (nr - 1);
		if (size > RECON_MAX_IDS)
			size = RECON_MAX_IDS;
		at = at - first > size ? at - size : first;
		starts[nr] = at;
	}
	s_put(&w, &v, 1);
	/* Everything before the listed items, in one range. */
	if (first) {
		uint64_t c;
		recon_bound_between(hi, items[0], items[1]);
		rc->src.fingerprint(rc->src.ctx, s_zero, hi, &c, fp);
		s_emit_fp(rc, &w, hi, c, fp);
	}
	/* Then the listed ones, oldest range first, their fingerprints summed
	 * from the items read. */
	for (size_t i = nr; i-- > 0;) {
		size_t from = starts[i], to = i > 0 ? starts[i - 1] : n;
		uint8_t sum[32] = {0};
		for (size_t k = from; k < to; k++)
			recon_sum_add(sum, items[k] + 8);
		recon_fingerprint(fp, sum, to - from);
		if (i > 0)
			recon_bound_between(hi, items[to - 1], items[to]);
		s_emit_fp(rc, &w, i > 0 ? hi : inf, to - from, fp);
	}
	free(items);
	rc->stats.rounds++;
	rc->stats.bytes_sent += w.len;
	*len = w.len;
	return w.overflow ? CPT_ETOOBIG : 0;
}

/* One range of a message: its upper bound, mode and payload. */
typedef struct range_in {
	uint8_t hi[RECON_KEY_LEN]; /* upper bound (the lower is the previous one's) */
	uint64_t mode;             /* MODE_* */
	uint64_t count;            /* MODE_FP: the peer's count; MODE_IDS: ids listed */
	const uint8_t *data;       /* MODE_FP: its fingerprint; MODE_IDS: its ids */
} range_in_t;

/* Reads the next range after lo; CPT_EINVAL when malformed. */
static int
s_range_in(rbuf_t *r, const uint8_t lo[RECON_KEY_LEN], range_in_t *g)
{
	if (s_get_bound(r, g->hi) != 0 || memcmp(g->hi, lo, RECON_KEY_LEN) <= 0 ||
	    s_get_varint(r, &g->mode) != 0)
		return CPT_EINVAL;
	g->count = 0;
	g->data = NULL;
	switch (g->mode) {
	case MODE_SKIP: return 0;
	case MODE_FP:
		if (s_get_varint(r, &g->count) != 0 || r->len - r->pos < RECON_FP_LEN)
			return CPT_EINVAL;
		g->data = r->p + r->pos;
		r->pos += RECON_FP_LEN;
		return 0;
	case MODE_IDS:
		if (s_get_varint(r, &g->count) != 0 || g->count > RECON_LIST_MAX ||
		    (r->len - r->pos) / 32 < g->count)
			return CPT_EINVAL;
		g->data = r->p + r->pos;
		r->pos += 32 * g->count;
		return 0;
	}
	return CPT_EINVAL;
}

/* The memo's room for n ranges. */
static int
s_memo_room(recon_t *rc, size_t n)
{
	size_t cap = rc->memo_cap ? rc->memo_cap : 64;
	struct recon_memo *m;

	if (n <= rc->memo_cap)
		return 0;
	while (cap < n)
		cap *= 2;
	if ((m = realloc(rc->memo, cap * sizeof(*m))) == NULL)
		return CPT_ENOMEM;
	rc->memo = m;
	rc->memo_cap = cap;
	return 0;
}

/*
 * Two passes over the message. The first checks it whole and computes our
 * fingerprint of each range the peer fingerprinted, counting those that
 * differ; the second answers range by range. Whether most ranges differ is
 * what tells dense differences (an outage both sites wrote through: every
 * part of the newest span differs) from scattered ones (a few parts do), which
 * the counts alone cannot: there both sides hold about as many.
 */
int
recon_process(recon_t *rc, const uint8_t *in, size_t inlen, uint8_t *out, size_t cap,
              size_t *outlen, int *done)
{
	rbuf_t r = {in, inlen, 0, 0};
	wbuf_t w = {out, 0, cap, 0, 0};
	uint8_t lo[RECON_KEY_LEN], skip_hi[RECON_KEY_LEN];
	uint8_t v = RECON_VERSION;
	int pending_skip = 0, sent_ranges = 0, rcode;
	uint64_t dense_max;
	size_t ranges_in = 0, n_fp = 0, n_diff = 0, at = 0, tail_from;
	range_in_t g;

	*done = 0;
	*outlen = 0;
	rc->stats.bytes_received += inlen;
	if (inlen < 1 || in[0] != RECON_VERSION)
		return CPT_EVERSION;
	/* First pass: the message checked whole, our fingerprints. */
	r.pos = 1;
	memcpy(lo, s_zero, RECON_KEY_LEN);
	while (r.pos < r.len) {
		if (s_range_in(&r, lo, &g) != 0)
			return CPT_EINVAL;
		if (++ranges_in > RECON_MAX_RANGES)
			return CPT_EINVAL;
		if (g.mode == MODE_FP) {
			struct recon_memo *m;
			if ((rcode = s_memo_room(rc, n_fp + 1)) != 0)
				return rcode;
			m = &rc->memo[n_fp++];
			rc->src.fingerprint(rc->src.ctx, lo, g.hi, &m->own, m->fp);
			m->differs =
			    m->own != g.count || sodium_memcmp(m->fp, g.data, RECON_FP_LEN) != 0;
			n_diff += m->differs != 0;
		}
		memcpy(lo, g.hi, RECON_KEY_LEN);
	}
	/* The ranges must cover everything up to infinity. */
	if (!s_is_inf(lo))
		return CPT_EINVAL;
	/* How many differences a range holds, on average, from the share of
	 * ranges that differ (a Poisson count: P(none) = e^-lambda; one range
	 * more in the share's denominator keeps it finite when all differ). A
	 * lone differing range says nothing (the top of a reconciliation, or a
	 * single difference). Listed up to RECON_DENSE_BYTES per difference. */
	dense_max = 0;
	if (n_diff >= 2) {
		double lambda = -log(1.0 - (double)n_diff / (double)(n_fp + 1));
		dense_max = (uint64_t)(lambda * RECON_DENSE_BYTES / 32);
	}
	/* The tail rule: when the message's last two fingerprinted ranges or
	 * more all differ, the differences reach our newest events, as an
	 * outage both sites wrote through leaves them (the link came back while
	 * both wrote), and the ranges of that tail are listed (up to
	 * RECON_TAIL_IDS each), not split: split, every part of them would
	 * differ again, and the dense rule above lists them only where nearly
	 * every range of the message differs, which the agreeing ranges before
	 * them (the rest of the store, in one range of recon_start_recent's
	 * opening or 15 of recon_start's) keep from happening. A round trip
	 * saved for at most their ids; scattered differences rarely fall in
	 * both newest ranges (docs/ARCHITECTURE.md). */
	tail_from = n_fp;
	while (tail_from > 0 && rc->memo[tail_from - 1].differs)
		tail_from--;
	if (n_fp - tail_from < 2)
		tail_from = n_fp;
	/* Second pass: the answers. */
	r.pos = 1;
	r.prev = 0;
	s_put(&w, &v, 1);
	memcpy(lo, s_zero, RECON_KEY_LEN);
	while (r.pos < r.len) {
		size_t before = w.len;
		if (s_range_in(&r, lo, &g) != 0)
			return CPT_EINVAL; /* checked above: cannot happen */
		switch (g.mode) {
		case MODE_SKIP: s_emit_skip(&w, g.hi, &pending_skip, skip_hi); break;
		case MODE_FP:
			/* Keep room to close every remaining range with a fingerprint. */
			s_on_fp(rc, &w, lo, g.hi, g.count, g.data, &rc->memo[at], dense_max,
			        at >= tail_from, &pending_skip, skip_hi, (r.len - r.pos) / 2);
			at++;
			break;
		case MODE_IDS:
			s_on_ids(rc, lo, g.hi, g.data, (size_t)g.count);
			s_emit_skip(&w, g.hi, &pending_skip, skip_hi);
			break;
		}
		if (w.len != before)
			sent_ranges = 1;
		memcpy(lo, g.hi, RECON_KEY_LEN);
	}
	if (w.overflow)
		return CPT_ETOOBIG;
	if (!sent_ranges) {
		*done = 1; /* every range agreed or is settled: nothing to answer */
		return 0;
	}
	s_flush_skip(&w, &pending_skip, skip_hi);
	if (w.overflow)
		return CPT_ETOOBIG;
	rc->stats.rounds++;
	rc->stats.bytes_sent += w.len;
	*outlen = w.len;
	return 0;
}

void
recon_bound_between(uint8_t out[RECON_KEY_LEN], const uint8_t prev[RECON_KEY_LEN],
                    const uint8_t next[RECON_KEY_LEN])
{
	s_min_bound(out, prev, next);
}
