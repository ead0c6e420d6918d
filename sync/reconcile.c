/*
 * Reconciliation driven for each link: when one opens (the side that dialed,
 * on connect and periodically), answering the peer's messages through
 * recon.c, and what its findings become (WANTs now, queued ids and ranges).
 */
#include <stdlib.h>
#include <string.h>

#include "sync/sync_internal.h"

#define WANT_MAX 8000 /* ids per WANT: 256 KB, under every node's MSG_FLOOR */

/*
 * What a link's reconciliations pushed (issue 24, session 16), so that a
 * later one does not push it again. A reconciliation counts the events a
 * site admitted, not those it keeps pending (an author's events before
 * their enrolment) nor those still on their way to its store, so a second
 * reconciliation during a heal found thousands of events the peer held
 * missing, and they crossed the link twice. Entries live in two
 * generations of one periodic interval each (sync_conf_t.
 * reconcile_interval_s, at least GEN_MIN_MS): an event pushed here is not
 * pushed again by the next periodic reconciliation, but by the one after
 * (between one and two intervals after it was pushed), or after a
 * reconciliation that follows an outage or the peer's restart
 * (reconcile_schedule_recent forgets them all): a pending event the peer
 * then drops, or an event its commit lost (a full disk), is offered again
 * then, as any event it lacks. The ids our answers list are remembered
 * too (the peer asks for those it lacks: s_listed). What the peer asks for
 * (WANT) is sent whatever this holds; live relays and offers go as before.
 */
/* At least 30 s a generation: a heal at a load of 100 took 22 s, and its
 * periodic reconciliation at 20 s pushed again 5,024 events pushed 19.5 s
 * before (heal.py's interval of 5 s). */
#define GEN_MIN_MS 30000
/* Keys per generation (40 bytes each: 2.5 MiB, grown as needed and freed
 * with it): past it, what is pushed is not remembered, and may be pushed
 * again as before. A heal of 20,000 new events a side pushes 20,000 and
 * lists some 30,000 more (with 32,768, 4,000 of one cut went twice). */
#define SENT_MAX 65536
/* A range pushed whole is remembered (its keys listed: a walk of the (ts,
 * id) order, ~1 ms per 10,000) when it holds at most this many events; one
 * that holds keys remembered is pushed as the ids of the others when it
 * holds at most this many, else whole as before. */
#define SENT_RANGE_MAX 16384

/* One generation: keys sorted up to sorted, the rest appended since. */
struct sent_gen {
	uint8_t (*keys)[RECON_KEY_LEN]; /* malloc'd, or NULL */
	size_t n, sorted, cap;          /* used, sorted prefix, room */
};

struct recon_sent {
	struct sent_gen g[2]; /* [0] the newer, [1] the older */
	uint64_t gen_ms;      /* when g[0] started */
	uint64_t skipped;     /* events not pushed again (the debug trace) */
};

/* The store's functions serve recon.c as they are: its keys are ours. */
_Static_assert(RECON_KEY_LEN == SYNC_TSID_LEN, "recon keys are (ts, id) keys");
_Static_assert(RECON_FP_LEN == 16, "sync_ops_t.fingerprint fills 16 bytes");

static int
s_cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, RECON_KEY_LEN);
}

/* Sorts what g had appended since its last sort. */
static void
s_gen_sort(struct sent_gen *g)
{
	if (g->sorted < g->n) {
		qsort(g->keys, g->n, RECON_KEY_LEN, s_cmp_key);
		g->sorted = g->n;
	}
}

static void
s_sent_free(link_t *l)
{
	if (l->recon_sent == NULL)
		return;
	for (int i = 0; i < 2; i++)
		free(l->recon_sent->g[i].keys);
	free(l->recon_sent);
	l->recon_sent = NULL;
}

/* The link's memory, its older generation dropped when due; NULL when
 * memory is short (nothing filtered then). */
static struct recon_sent *
s_sent(sync_t *s, link_t *l)
{
	struct recon_sent *m = l->recon_sent;
	uint64_t now = sync_now_ms(), gen = (uint64_t)s->conf.reconcile_interval_s * 1000;

	if (m == NULL) {
		if ((m = calloc(1, sizeof(*m))) == NULL)
			return NULL;
		m->gen_ms = now;
		l->recon_sent = m;
	}
	if (gen < GEN_MIN_MS)
		gen = GEN_MIN_MS;
	if (sync_since(now, m->gen_ms) >= gen) {
		s_gen_sort(&m->g[0]);
		free(m->g[1].keys);
		m->g[1] = m->g[0];
		memset(&m->g[0], 0, sizeof(m->g[0]));
		m->gen_ms = now;
	}
	return m;
}

/* The first index of g's sorted keys at or after k. */
static size_t
s_lower(const struct sent_gen *g, const uint8_t *k)
{
	size_t a = 0, b = g->sorted;

	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (memcmp(g->keys[mid], k, RECON_KEY_LEN) < 0)
			a = mid + 1;
		else
			b = mid;
	}
	return a;
}

/* 1 when k was pushed lately (found in a sorted part: a message's own
 * pushes never repeat within it). */
static int
s_sent_has(const struct recon_sent *m, const uint8_t *k)
{
	for (int i = 0; i < 2; i++) {
		size_t at = s_lower(&m->g[i], k);
		if (at < m->g[i].sorted && memcmp(m->g[i].keys[at], k, RECON_KEY_LEN) == 0)
			return 1;
	}
	return 0;
}

/* 1 when a key of [lo, hi) was pushed lately. */
static int
s_sent_within(const struct recon_sent *m, const uint8_t *lo, const uint8_t *hi)
{
	for (int i = 0; i < 2; i++) {
		size_t at = s_lower(&m->g[i], lo);
		if (at < m->g[i].sorted && memcmp(m->g[i].keys[at], hi, RECON_KEY_LEN) < 0)
			return 1;
	}
	return 0;
}

/* Remembers k as pushed (up to SENT_MAX a generation). */
static void
s_sent_add(struct recon_sent *m, const uint8_t *k)
{
	struct sent_gen *g = &m->g[0];

	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 1024;
		uint8_t(*keys)[RECON_KEY_LEN];
		if (cap > SENT_MAX || (keys = realloc(g->keys, cap * RECON_KEY_LEN)) == NULL)
			return;
		g->keys = keys;
		g->cap = cap;
	}
	memcpy(g->keys[g->n++], k, RECON_KEY_LEN);
}

/* Sorts what a message added, for the next one's lookups. */
static void
s_sent_sort(link_t *l)
{
	if (l->recon_sent != NULL)
		s_gen_sort(&l->recon_sent->g[0]);
}

/* Queues keys[0..n) to be sent by id, and remembers those queued. */
static void
s_push_keys(sync_t *s, link_t *l, struct recon_sent *m, const uint8_t (*keys)[RECON_KEY_LEN],
            size_t n)
{
	uint8_t(*ids)[CPT_ID_LEN];
	size_t k = 0, added = 0, before = l->wq_len - l->wq_head, taken;

	if (n == 0 || (ids = malloc(n * CPT_ID_LEN)) == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		if (m && s_sent_has(m, keys[i])) {
			m->skipped++;
			continue;
		}
		memcpy(ids[k++], keys[i] + 8, CPT_ID_LEN);
		/* ids[0..added) are remembered: the first to fail stops it. */
		if (m && added == k - 1) {
			size_t was = m->g[0].n;
			s_sent_add(m, keys[i]);
			added += m->g[0].n > was;
		}
	}
	flow_want(s, l, (const uint8_t *)ids, k);
	/* What the queue had no room for (the last ones) is forgotten again. */
	taken = l->wq_len - l->wq_head - before;
	if (m && added > taken)
		m->g[0].n -= added - taken;
	free(ids);
}

/* Findings, for the link whose message is being processed (s->recon_link). */
static void
s_push_ids(void *arg, const uint8_t (*keys)[RECON_KEY_LEN], size_t n)
{
	sync_t *s = arg;
	link_t *l = s->recon_link;

	s_push_keys(s, l, s_sent(s, l), keys, n);
}

/* Ids our answer lists: the peer asks for those it lacks (WANT), and they
 * go as its answer; remembered too, or a reconciliation while they are on
 * their way to its store (or pending there) pushed them again (4,883 of a
 * heal of 10,000 a side). */
static void
s_listed(void *arg, const uint8_t (*keys)[RECON_KEY_LEN], size_t n)
{
	sync_t *s = arg;
	struct recon_sent *m = s_sent(s, s->recon_link);

	for (size_t i = 0; m && i < n; i++)
		if (!s_sent_has(m, keys[i]))
			s_sent_add(m, keys[i]);
}

/*
 * A range the peer lacks whole: streamed, and its events remembered when
 * they are few. When it holds events pushed lately, the others go by id
 * (the peer keeps those pending, or has them on their way to its store),
 * or the range whole when it holds too many to list.
 */
static void
s_push_range(void *arg, const uint8_t *lo, const uint8_t *hi)
{
	sync_t *s = arg;
	link_t *l = s->recon_link;
	struct recon_sent *m = s_sent(s, l);
	uint8_t(*items)[RECON_KEY_LEN] = NULL;
	size_t n = 0;

	if (m && (items = malloc((SENT_RANGE_MAX + 1) * RECON_KEY_LEN)) != NULL)
		n = s->conf.ops.items(s->conf.ops.ctx, lo, hi, items, SENT_RANGE_MAX + 1);
	if (items && n <= SENT_RANGE_MAX && s_sent_within(m, lo, hi)) {
		s_push_keys(s, l, m, (const uint8_t(*)[RECON_KEY_LEN])items, n);
	} else {
		flow_ranges_add(s, l, lo, hi);
		for (size_t i = 0; items && n <= SENT_RANGE_MAX && i < n; i++)
			s_sent_add(m, items[i]);
	}
	free(items);
}

/* Asks for what the message being processed showed we lack: one WANT for
 * all of it, sent once the message is done (recon.c finds them a leaf at a
 * time; a WANT and an EVENTS answer per leaf cost a round trip each). */
static void
s_want_flush(sync_t *s, link_t *l)
{
	const void *f[1] = {s->recon_want};
	size_t fl[1] = {s->recon_nwant * CPT_ID_LEN};

	if (s->recon_nwant == 0)
		return;
	if (link_send(s, l, SYNC_WANT, f, fl, 1) == 0) {
		pthread_mutex_lock(&s->lock);
		l->st.to_receive += s->recon_nwant;
		pthread_mutex_unlock(&s->lock);
	}
	s->recon_nwant = 0;
}

static void
s_want(void *arg, const uint8_t (*ids)[32], size_t n)
{
	sync_t *s = arg;

	for (size_t i = 0; i < n; i++) {
		if (s->recon_nwant == WANT_MAX)
			s_want_flush(s, s->recon_link);
		memcpy(s->recon_want[s->recon_nwant++], ids[i], CPT_ID_LEN);
	}
}

int
reconcile_init(sync_t *s)
{
	const sync_ops_t *o = &s->conf.ops;
	recon_src_t src = {o->ctx, o->fingerprint, o->items, o->split, o->has, o->recent};
	recon_sink_t sink = {s, s_push_ids, s_push_range, s_want, s_listed};

	s->recon = recon_new(&src, &sink);
	s->recon_out = malloc(s->send_cap);
	s->recon_want = malloc(WANT_MAX * CPT_ID_LEN);
	if (s->recon == NULL || s->recon_out == NULL || s->recon_want == NULL) {
		reconcile_fini(s);
		return -1;
	}
	return 0;
}

void
reconcile_fini(sync_t *s)
{
	for (int i = 0; i < s->n_links; i++)
		s_sent_free(&s->links[i]);
	recon_destroy(&s->recon);
	free(s->recon_out);
	s->recon_out = NULL;
	free(s->recon_want);
	s->recon_want = NULL;
}

static void
s_count(sync_t *s, link_t *l)
{
	pthread_mutex_lock(&s->lock);
	l->st.reconciliations++;
	pthread_mutex_unlock(&s->lock);
}

void
reconcile_schedule(link_t *l)
{
	l->recon_due = 1;
	l->reconcile_ms = sync_now_ms();
}

void
reconcile_schedule_recent(link_t *l)
{
	reconcile_schedule(l);
	l->recon_recent = 1;
	/* After an outage or the peer's restart, everything is offered again:
	 * what was pushed before may never have reached its store. */
	s_sent_free(l);
}

/*
 * How many of our newest items the opening after an outage cuts into
 * ranges: the events the peer may lack, as the node counts them from the
 * point it was last in step with it (sync_ops_t.unsent, kept across a
 * restart), and a quarter more for the peer's own events in the same span
 * and the node's count being a second old; RECON_RECENT_MAX when unknown.
 * 8,192 whatever the outage left an outage of 10,000 found in two round
 * trips (the enrolments, its oldest events, a round trip after what they
 * enrol, which waited in the peer's pending set), and read 8,192 items for
 * an outage of ten.
 */
static size_t
s_recent_items(sync_t *s, link_t *l)
{
	uint64_t lacks =
	    s->conf.ops.unsent ? s->conf.ops.unsent(s->conf.ops.ctx, l->st.site_key) : 0;
	uint64_t n = lacks + lacks / 4 + RECON_RECENT_FIRST;

	if (lacks == 0)
		return RECON_RECENT_MAX;
	return n < RECON_RECENT_MIN   ? RECON_RECENT_MIN
	       : n > RECON_RECENT_CAP ? RECON_RECENT_CAP
	                              : n;
}

/* Opens a reconciliation with a link: our first message, cut from our newest
 * items after an outage (l->recon_recent), else in equal parts. 0 when it
 * went out. */
static int
s_open(sync_t *s, link_t *l)
{
	size_t len;
	const void *f[1];
	size_t fl[1];
	uint64_t t0 = sync_now_us();
	size_t recent = 0;
	int rc;

	s->recon_link = l;
	if (l->recon_recent) {
		recent = s_recent_items(s, l);
		rc = recon_start_recent_n(s->recon, s->recon_out, s->send_cap - 64, &len, recent);
	} else {
		rc = recon_start(s->recon, s->recon_out, s->send_cap - 64, &len);
	}
	s->recon_link = NULL;
	if (rc != 0)
		return -1;
	log_debug("sync", "trace recon open site=%s bytes=%zu recent=%d items=%zu in %llu us",
	          l->st.site, len, l->recon_recent, recent,
	          (unsigned long long)(sync_now_us() - t0));
	f[0] = s->recon_out;
	fl[0] = len;
	if (link_send(s, l, SYNC_RECON, f, fl, 1) != 0)
		return -1;
	l->recon_due = 0;
	l->recon_recent = 0;
	l->reconcile_ms = sync_now_ms();
	s_count(s, l);
	return 0;
}

/*
 * Our HELLO just went out on a link we dial whose handshake succeeded: the
 * reconciliation goes right behind it, without waiting for the peer's HELLO
 * (the peer reads our HELLO first, on the same connection, and answers a
 * RECON from a site whose link it has just brought up as any other). The
 * HELLO's round trip was the first of the heal's: 4-6 ms of its 12 before
 * the reconciliation opened, more on a loaded machine (docs/BENCHMARKS.md,
 * "Session 14"). When the peer's HELLO comes, the link comes up without a
 * second reconciliation (link_set_connected, recon_early).
 */
void
reconcile_open_early(sync_t *s, link_t *l)
{
	if (l->dealer == NULL || l->st.connected)
		return;
	l->recon_recent = 1;
	s_sent_free(l); /* as reconcile_schedule_recent */
	if (s_open(s, l) == 0)
		l->recon_early = 1;
}

void
reconcile_tick(sync_t *s, link_t *l, int periodic)
{
	/* The side that dialed opens reconciliations, so that two sites in
	 * agreement settle it in one round trip, not two crossing ones. Not
	 * while a catch-up from it is going into our store (a batch's worth or
	 * more): that backlog would be found missing and asked for a second
	 * time; the reconciliation is owed, and opens once the store has taken
	 * it (recv.c). A few live events on their way do not hold it back:
	 * under a steady live flow some nearly always are, and the periodic
	 * reconciliation was skipped interval after interval (test_hold); at
	 * worst they are asked for once more. */
	/* A generation past its time is freed even while nothing is pushed. */
	if (periodic && l->recon_sent)
		(void)s_sent(s, l);
	if (periodic && l->dealer) {
		if (l->storing_events < RECON_HELD_EVENTS)
			reconcile_schedule(l);
		else
			l->recon_owed = 1;
	}
	if (l->recon_due && l->dealer)
		(void)s_open(s, l); /* not sent: due still, tried at the next round */
	else
		l->recon_due = 0;
}

/* A malformed message counts against the peer. */
void
reconcile_on(sync_t *s, link_t *l, const uint8_t *msg, size_t len)
{
	size_t outlen;
	int done, rc;
	uint64_t t0 = sync_now_us();

	s->recon_link = l;
	rc = recon_process(s->recon, msg, len, s->recon_out, s->send_cap - 64, &outlen, &done);
	s_sent_sort(l);
	log_debug("sync",
	          "trace recon answer site=%s in=%zu out=%zu done=%d want=%zu queued=%zu "
	          "ranges=%zu not_again=%llu in %llu us",
	          l->st.site, len, outlen, done, s->recon_nwant, l->wq_len - l->wq_head,
	          l->n_ranges - l->ranges_head,
	          (unsigned long long)(l->recon_sent ? l->recon_sent->skipped : 0),
	          (unsigned long long)(sync_now_us() - t0));
	s_want_flush(s, l);
	s->recon_link = NULL;
	s_count(s, l);
	flow_backlog_say(s, l, sync_now_ms());
	if (rc == CPT_ENOMEM) {
		/* Ours, not the peer's fault: unanswered, the reconciliation
		 * stops here and the next one starts again. */
		log_warnx("sync", "out of memory answering a reconciliation from %s", l->st.site);
		return;
	}
	if (rc != 0) {
		link_malformed(s, l, SYNC_RECON, 2);
		return;
	}
	if (done) {
		/* Over: both sides know it, so that each can tell all the other
		 * lacks of its events is in its queue (settled, PROTOCOL.md 10.3).
		 * The message that says so is the one-range Skip; it is not
		 * answered itself. */
		static const uint8_t over[3] = {RECON_VERSION, 0, 0};
		pthread_mutex_lock(&s->lock);
		l->st.last_reconcile_ms = sync_wall_ms();
		l->st.settled = 1;
		pthread_mutex_unlock(&s->lock);
		if (len != sizeof(over) || memcmp(msg, over, sizeof(over)) != 0) {
			const void *f[1] = {over};
			size_t fl[1] = {sizeof(over)};
			link_send(s, l, SYNC_RECON, f, fl, 1);
		}
		return;
	}
	{
		const void *f[1] = {s->recon_out};
		size_t fl[1] = {outlen};
		if (link_send(s, l, SYNC_RECON, f, fl, 1) == 0)
			s_count(s, l);
	}
}
