/*
 * Flow control, per peer: the events it asked for and the ranges it lacks,
 * sent in EVENTS of bounded size with at most WINDOW unacknowledged, so that
 * memory stays flat however far behind it is; and the backlog both sides show.
 */
#include <stdlib.h>
#include <string.h>

#include "sync/sync_internal.h"

#define WANTQ_MAX 16384 /* ids a peer may have asked for and not received yet */
/*
 * EVENTS messages of more than SMALL_MAX envelopes sent and not yet ACKed,
 * per link: ranges streamed, ids asked for, and relays of a catch-up. Four
 * since issue 24's eleventh session (twelve before): the receiver reads a
 * link alone no further once 8,000 of its envelopes are on their way to its
 * store (recv_held), and stops reading every peer at twelve batches, so a
 * window of twelve let one healing link stop the reading of the live relays
 * behind it, and a hub healing from HQ held twelve batches of HQ's and up to
 * twelve relayed batches per branch in memory. Four batches of 1,000 still
 * keep the receiver's pool verifying while its writer commits three, and at
 * a round trip of 100 ms they carry 40,000 events a second, more than a
 * node stores.
 */
#define WINDOW      4
#define ACK_WAIT_MS 5000 /* an ACK not back by then is taken as lost */
/*
 * A message of at most SMALL_MAX envelopes (a live event relayed or offered,
 * the odd few a reconciliation found) is counted apart from the window: under
 * a live load of 20 events/s whose commits took seconds on a busy machine, a
 * link had dozens of single-event relays unacknowledged, each counted as
 * much as a batch of 1,000, and the ranges a reconciliation had found waited
 * behind them. The window bounds what is in flight in bytes; small messages
 * are small. The ACK says how many envelopes it answers (stored, duplicate,
 * pending, refused), so each side tells the two kinds apart alike.
 */
#define SMALL_MAX SYNC_LIVE_MAX

/*
 * Sends envelopes (borrowed, only read; NULL ones skipped) to l in EVENTS
 * messages of up to BATCH_EVENTS, counted in its window. Envelopes that
 * arrive without a body (erased by a redaction) go after the others: the
 * receiver accepts one only once it holds the redaction, which is then
 * likely in the same answer.
 */
static int
s_send_envs(sync_t *s, link_t *l, const uint8_t *const *env, const size_t *elen, size_t n)
{
	const void *f[BATCH_EVENTS];
	size_t len[BATCH_EVENTS], k = 0, bytes = 0, sent = 0;
	int msgs = 0;
	uint64_t t0 = sync_now_us();

	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i <= n; i++) {
			int last = pass == 1 && i == n;
			int bare = i < n && env[i] && elen[i] <= EVT_FIXED_LEN;
			if (i < n && (env[i] == NULL || bare != pass))
				continue;
			if (k > 0 && (last || i == n || k == BATCH_EVENTS ||
			              bytes + (i < n ? elen[i] : 0) + 64 > s->send_cap)) {
				if (link_send(s, l, SYNC_EVENTS, f, len, k) == 0) {
					sent += k;
					msgs++;
					if (k <= SMALL_MAX)
						l->inflight_small++;
					else
						l->inflight++;
				}
				k = 0;
				bytes = 0;
			}
			if (i < n) {
				f[k] = env[i];
				len[k++] = elen[i];
				bytes += elen[i] + 8;
			}
		}
	}
	log_debug("sync", "trace events out site=%s ids=%zu sent=%zu msgs=%d in %llu us",
	          l->st.site, n, sent, msgs, (unsigned long long)(sync_now_us() - t0));
	if (msgs) {
		l->inflight_events += sent;
		l->inflight_ms = sync_now_ms();
	}
	pthread_mutex_lock(&s->lock);
	l->st.sent += sent;
	pthread_mutex_unlock(&s->lock);
	return msgs;
}

/* ids read from the store: n envelopes, each malloc'd (NULL when not held),
 * or -1 when out of memory. */
static int
s_read(sync_t *s, const uint8_t (*ids)[CPT_ID_LEN], size_t n, uint8_t ***env, size_t **elen)
{
	*env = calloc(n ? n : 1, sizeof(**env));
	*elen = calloc(n ? n : 1, sizeof(**elen));
	if (*env == NULL || *elen == NULL) {
		free(*env);
		free(*elen);
		return -1;
	}
	/* One read for the lot, not one per event. */
	s->conf.ops.get_many(s->conf.ops.ctx, ids, n, *env, *elen);
	return 0;
}

static void
s_read_free(uint8_t **env, size_t *elen, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(env[i]);
	free(env);
	free(elen);
}

/* An envelope and its size, for s_ts_order. */
struct env_ref {
	uint8_t *env;
	size_t len;
};

/* By the timestamp of the header (PROTOCOL.md 3: 8 bytes big-endian at
 * offset 68); absent envelopes last. */
static int
s_cmp_ts(const void *a, const void *b)
{
	const struct env_ref *x = a, *y = b;

	if (x->env == NULL || y->env == NULL)
		return (x->env == NULL) - (y->env == NULL);
	return memcmp(x->env + 68, y->env + 68, 8);
}

/*
 * Puts envelopes read by id in timestamp order, as the store holds them. The
 * ids of a reconciliation come sorted by id (recon.c merges the two lists
 * that way): at random, a comment or reaction came before its post in half
 * the cases, waited in the receiver's pending set and was admitted later in
 * the same transaction, which costs its writer the round trip through
 * `pending` and relays it back to us as a later admission (123-140 of a
 * heal's 1,000, sent back after its commit). A timestamp comes after those of
 * what its author had seen (the hybrid clock), so parents come first.
 */
static void
s_ts_order(uint8_t **env, size_t *elen, size_t n)
{
	struct env_ref *r;

	if (n < 2 || (r = malloc(n * sizeof(*r))) == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		r[i].env = env[i] && elen[i] >= EVT_FIXED_LEN ? env[i] : NULL;
		r[i].len = elen[i];
		if (r[i].env == NULL && env[i] != NULL) {
			free(env[i]); /* not an envelope: never sent */
			env[i] = NULL;
		}
	}
	qsort(r, n, sizeof(*r), s_cmp_ts);
	for (size_t i = 0; i < n; i++) {
		env[i] = r[i].env;
		elen[i] = r[i].len;
	}
	free(r);
}

int
flow_send_events(sync_t *s, link_t *l, const uint8_t (*ids)[CPT_ID_LEN], size_t n)
{
	uint8_t **env;
	size_t *elen;
	int msgs;
	uint64_t t0 = sync_now_us();

	if (s_read(s, ids, n, &env, &elen) != 0)
		return 0;
	s_ts_order(env, elen, n);
	log_debug("sync", "trace events read site=%s ids=%zu in %llu us", l->st.site, n,
	          (unsigned long long)(sync_now_us() - t0));
	msgs = s_send_envs(s, l, (const uint8_t *const *)env, elen, n);
	s_read_free(env, elen, n);
	return msgs;
}

/*
 * A hub relays each batch it stores to every other link: a region's hub
 * healing from HQ, to its ten branches. Each link's copy was read back from
 * the store, once per link, on the engine thread (a batch of 1,000 relayed
 * to ten links took 300-400 ms there at a load of 30, reads and sends, and
 * the engine read no peer meanwhile): one read serves them all. Read, not taken from the batch as
 * received: an event whose redaction is held here is stored without its body, and that is what goes
 * on.
 *
 * A relay of more than SMALL_MAX events (a catch-up's batch, relayed by a
 * hub to its branches) to a link whose window is full waits in the link's
 * queue of ids and goes as its ACKs come back (flow_serve), read again from
 * the store then: 32 bytes an event while it waits, where a message sent at
 * once held the envelopes in ZeroMQ's queues, and, at a branch slower than
 * its hub, as many batches as the hub was ahead (issue 24, session 11).
 * What the queue cannot take is sent at once, as before: never dropped.
 */
static void
s_relay(sync_t *s, const peerset_t *skip, const uint8_t (*ids)[CPT_ID_LEN], size_t n)
{
	uint8_t **env = NULL;
	size_t *elen = NULL;

	for (int i = 0; i < s->n_links; i++) {
		link_t *l = &s->links[i];
		if ((skip && peerset_has(skip, i)) || !l->used || !link_up(l) || n == 0)
			continue;
		if (n > SMALL_MAX &&
		    (l->inflight >= WINDOW || (l->wantq && l->wq_head < l->wq_len)) &&
		    l->wq_len - l->wq_head + n <= WANTQ_MAX) {
			flow_want(s, l, (const uint8_t *)ids, n);
			continue;
		}
		if (env == NULL && s_read(s, ids, n, &env, &elen) != 0)
			return;
		s_send_envs(s, l, (const uint8_t *const *)env, elen, n);
	}
	if (env)
		s_read_free(env, elen, n);
}

void
flow_relay(sync_t *s, const link_t *from, const uint8_t (*ids)[CPT_ID_LEN], size_t n)
{
	peerset_t skip = {{0}};

	if (from)
		peerset_add(&skip, (int)(from - s->links));
	s_relay(s, &skip, ids, n);
}

/*
 * Events kept waiting (an author's events before their enrolment, a site's
 * before its certificate, an event held until its time) were relayed, once
 * admitted, to every peer, the one that sent them included, which held them
 * already (issue 24, session 15: 13-23 of a heal's 1,000 came back, 123-140
 * in id order, 911 when an enrolment came a round trip after what it
 * enrols; 39-70% of a heal of 10,000). Runs of ids with the same senders go
 * together, in the order given.
 */
void
flow_relay_announced(sync_t *s, const uint8_t (*ids)[CPT_ID_LEN], size_t n)
{
	peerset_t run, next;
	size_t first = 0;

	if (s->senders_n == 0) {
		s_relay(s, NULL, ids, n);
		return;
	}
	memset(&run, 0, sizeof(run));
	for (size_t i = 0; i < n; i++) {
		memset(&next, 0, sizeof(next));
		senders_take(s, ids[i], &next);
		if (i > first && memcmp(&next, &run, sizeof(run)) != 0) {
			s_relay(s, &run, ids + first, i - first);
			first = i;
		}
		run = next;
	}
	if (n > first)
		s_relay(s, &run, ids + first, n - first);
}

/*
 * A live batch's events as soon as the node admitted them, before its commit
 * (recv_admitted): from the batch's own copy, since the store does not hold
 * them yet, in messages of at most SMALL_MAX (a live message's events), so
 * never held back by the window nor queued as ids to read back later.
 */
void
flow_relay_envs(sync_t *s, const link_t *from, const uint8_t *const *env, const size_t *elen,
                size_t n)
{
	for (int i = 0; i < s->n_links && n > 0; i++) {
		link_t *l = &s->links[i];
		if (l == from || !l->used || !link_up(l))
			continue;
		s_send_envs(s, l, env, elen, n);
	}
}

void
flow_offer(sync_t *s, link_t *l, const void *env, size_t len)
{
	const void *f[1] = {env};
	size_t fl[1] = {len};

	if (link_send(s, l, SYNC_EVENTS, f, fl, 1) != 0)
		return;
	l->inflight_small++;
	l->inflight_events++;
	l->inflight_ms = sync_now_ms();
	pthread_mutex_lock(&s->lock);
	l->st.sent++;
	pthread_mutex_unlock(&s->lock);
}

/* What we have for the peer and it has not acknowledged: queued ids, the rest
 * of the ranges being streamed, events in flight (to_send, BACKLOG). */
static uint64_t
s_backlog(const link_t *l)
{
	return l->wq_len - l->wq_head + l->stream_left + l->inflight_events;
}

void
flow_reset(sync_t *s, link_t *l)
{
	free(l->wantq);
	l->wantq = NULL;
	l->wq_head = l->wq_len = 0;
	l->inflight = 0;
	l->inflight_small = 0;
	l->inflight_events = 0;
	pthread_mutex_lock(&s->lock);
	l->st.to_send = 0;
	pthread_mutex_unlock(&s->lock);
	free(l->ranges);
	l->ranges = NULL;
	l->n_ranges = l->ranges_cap = l->ranges_head = 0;
	l->range_at_set = 0;
	l->stream_left = 0;
	l->backlog_said = 0;
}

/* What does not fit is dropped: the peer asks again at the next
 * reconciliation. */
void
flow_want(sync_t *s, link_t *l, const uint8_t *ids, size_t n)
{
	size_t room;

	if (l->wantq == NULL && (l->wantq = malloc(WANTQ_MAX * CPT_ID_LEN)) == NULL)
		return;
	if (l->wq_head > 0) {
		memmove(l->wantq, l->wantq + l->wq_head, (l->wq_len - l->wq_head) * CPT_ID_LEN);
		l->wq_len -= l->wq_head;
		l->wq_head = 0;
	}
	room = WANTQ_MAX - l->wq_len;
	if (n > room)
		n = room;
	memcpy(l->wantq + l->wq_len, ids, n * CPT_ID_LEN);
	l->wq_len += n;
	pthread_mutex_lock(&s->lock);
	l->st.to_send = s_backlog(l);
	pthread_mutex_unlock(&s->lock);
}

/*
 * Streamed later, a batch at a time, as the peer acknowledges: memory stays
 * flat however much it lacks. The queue grows to RANGES_MAX; past it, the
 * last range is stretched to take the new one in (a range that holds more
 * sends a few events the peer has, which it counts as duplicates). A range
 * dropped would wait for the next periodic reconciliation, a minute by
 * default, and a heal after an outage finds a hundred small ranges or more.
 */
void
flow_ranges_add(sync_t *s, link_t *l, const uint8_t *lo, const uint8_t *hi)
{
	uint8_t from[SYNC_TSID_LEN], to[SYNC_TSID_LEN];
	uint8_t(*last)[SYNC_TSID_LEN];
	uint64_t count = 0;
	uint8_t fp[RECON_FP_LEN];

	/* What an earlier reconciliation queued (sent in part, perhaps not yet
	 * stored there) is not queued twice: the new range loses the ends it
	 * shares with a queued one, or goes when one holds it whole. */
	memcpy(from, lo, SYNC_TSID_LEN);
	memcpy(to, hi, SYNC_TSID_LEN);
	for (size_t i = l->ranges_head; i < l->n_ranges; i++) {
		const uint8_t *qlo = l->ranges[i][0], *qhi = l->ranges[i][1];
		int lo_in =
		    memcmp(from, qlo, SYNC_TSID_LEN) >= 0 && memcmp(from, qhi, SYNC_TSID_LEN) < 0;
		int hi_in =
		    memcmp(to, qlo, SYNC_TSID_LEN) > 0 && memcmp(to, qhi, SYNC_TSID_LEN) <= 0;
		if (lo_in && hi_in)
			return;
		if (lo_in)
			memcpy(from, qhi, SYNC_TSID_LEN);
		else if (hi_in)
			memcpy(to, qlo, SYNC_TSID_LEN);
		if (memcmp(from, to, SYNC_TSID_LEN) >= 0)
			return;
	}
	/* How many: for the backlog both sides show (BACKLOG). */
	s->conf.ops.fingerprint(s->conf.ops.ctx, from, to, &count, fp);
	l->stream_left += count;
	if (l->n_ranges == l->ranges_cap && l->ranges_head > 0) {
		/* Room at the front, from ranges streamed already. */
		memmove(l->ranges[0], l->ranges[l->ranges_head],
		        (l->n_ranges - l->ranges_head) * sizeof(l->ranges[0]));
		l->n_ranges -= l->ranges_head;
		l->ranges_head = 0;
	}
	if (l->n_ranges == l->ranges_cap && l->ranges_cap < RANGES_MAX) {
		size_t cap = l->ranges_cap ? l->ranges_cap * 2 : 16;
		void *p = realloc(l->ranges, cap * sizeof(l->ranges[0]));
		if (p != NULL) {
			l->ranges = p;
			l->ranges_cap = cap;
		}
	}
	if (l->n_ranges < l->ranges_cap) {
		memcpy(l->ranges[l->n_ranges][0], from, SYNC_TSID_LEN);
		memcpy(l->ranges[l->n_ranges][1], to, SYNC_TSID_LEN);
		l->n_ranges++;
		return;
	}
	/* Full (or no memory for a first range: the next reconciliation finds
	 * it). The last range is stretched, unless it is the one being streamed
	 * from its cursor, whose start has passed. */
	if (l->n_ranges == 0 || (l->n_ranges == l->ranges_head + 1 && l->range_at_set))
		return;
	last = l->ranges[l->n_ranges - 1];
	if (memcmp(from, last[0], SYNC_TSID_LEN) < 0)
		memcpy(last[0], from, SYNC_TSID_LEN);
	if (memcmp(to, last[1], SYNC_TSID_LEN) > 0)
		memcpy(last[1], to, SYNC_TSID_LEN);
}

/*
 * Refills the queue of events to send from the ranges the peer lacks: up to
 * one EVENTS message's worth with the ids queued already, across as many
 * ranges as it takes. A heal finds many ranges of a few events each; a
 * message per range cost a round trip each, WINDOW of them at a time. And
 * the ids a reconciliation message pushes and the ranges it finds go out
 * together: sent as two messages, they were verified as two batches and
 * committed in two transactions at the peer, the second waiting for the
 * first's fsync (issue 23).
 */
static void
s_ranges_feed(sync_t *s, link_t *l)
{
	uint8_t(*page)[SYNC_TSID_LEN];
	size_t queued = l->wantq ? l->wq_len - l->wq_head : 0;

	if (l->n_ranges == 0 || queued >= BATCH_EVENTS)
		return;
	if ((page = malloc(BATCH_EVENTS * SYNC_TSID_LEN)) == NULL)
		return;
	while (l->n_ranges > 0 && queued < BATCH_EVENTS) {
		uint8_t(*r)[SYNC_TSID_LEN] = l->ranges[l->ranges_head];
		size_t max = BATCH_EVENTS - queued, n, k = 0;

		n = s->conf.ops.scan(s->conf.ops.ctx, l->range_at_set ? l->range_at : r[0], page,
		                     max);
		/* scan starts after its key: include the range's first key itself. */
		if (!l->range_at_set && s->conf.ops.has(s->conf.ops.ctx, r[0] + 8)) {
			l->stream_left -= l->stream_left > 0;
			flow_want(s, l, r[0] + 8, 1);
			queued++;
		}
		while (k < n && memcmp(page[k], r[1], SYNC_TSID_LEN) < 0)
			k++;
		l->stream_left = l->stream_left > k ? l->stream_left - k : 0;
		for (size_t i = 0; i < k; i++)
			flow_want(s, l, page[i] + 8, 1);
		queued += k;
		if (k > 0) {
			memcpy(l->range_at, page[k - 1], SYNC_TSID_LEN);
			l->range_at_set = 1;
		}
		if (k == n && n == max)
			break; /* the page is full: this range goes on at the next refill */
		/* This range is done: the next one. */
		l->range_at_set = 0;
		if (++l->ranges_head == l->n_ranges) {
			l->ranges_head = l->n_ranges = 0;
			l->stream_left = 0; /* the count was an estimate if events came meanwhile */
		}
	}
	free(page);
}

/* Sends queued events while fewer than WINDOW answers are unacknowledged:
 * memory stays flat however far behind the peer is. What cannot be sent now
 * (link down, queue full) is dropped: the next reconciliation asks again. */
void
flow_serve(sync_t *s, link_t *l)
{
	uint64_t now = sync_now_ms();

	if ((l->inflight > 0 || l->inflight_small > 0) &&
	    sync_since(now, l->inflight_ms) > ACK_WAIT_MS) {
		/* A peer slower to store than ACK_WAIT_MS also ends here, and
		 * then gets a new window on top of the one it holds: said, so
		 * that a receiver's heap growing under load can be traced. */
		log_info("sync", "no ACK from site=%s for %d ms: %d messages taken as lost",
		         l->st.site, ACK_WAIT_MS, l->inflight + l->inflight_small);
		l->inflight = 0; /* ACKs lost: do not stall the link for good */
		l->inflight_small = 0;
		l->inflight_events = 0;
	}
	if (l->inflight < WINDOW && link_up(l))
		s_ranges_feed(s, l);
	while (l->wantq && l->wq_head < l->wq_len && l->inflight < WINDOW && link_up(l)) {
		/* The part that does not fill a message goes first: 1,003 ids
		 * went as 1,000 then 3, and the peer committed the 3 alone after
		 * the 1,000, an fsync more before it held them all. Sent first,
		 * they are verified and committed while the 1,000 are verified. */
		size_t k = (l->wq_len - l->wq_head) % BATCH_EVENTS;
		if (k == 0)
			k = BATCH_EVENTS;
		flow_send_events(s, l, (const uint8_t(*)[CPT_ID_LEN])(l->wantq + l->wq_head), k);
		l->wq_head += k;
	}
	if (l->wantq && l->wq_head >= l->wq_len) {
		free(l->wantq);
		l->wantq = NULL;
		l->wq_head = l->wq_len = 0;
	}
	pthread_mutex_lock(&s->lock);
	l->st.to_send = s_backlog(l);
	pthread_mutex_unlock(&s->lock);
}

void
flow_on_ack(sync_t *s, link_t *l, const uint8_t *ack, uint64_t now)
{
	/* stored + duplicate + pending + refused: every envelope of the
	 * message it acknowledges */
	uint64_t k = sync_be_get(ack, 4) + sync_be_get(ack + 4, 4) + sync_be_get(ack + 8, 4) +
	             sync_be_get(ack + 12, 4);

	if (k <= SMALL_MAX && l->inflight_small > 0)
		l->inflight_small--;
	else if (l->inflight > 0)
		l->inflight--;
	l->inflight_ms = now;
	l->inflight_events = l->inflight_events > k ? l->inflight_events - k : 0;
	flow_serve(s, l);
}

void
flow_on_backlog(sync_t *s, link_t *l, const uint8_t *backlog)
{
	/* What it has queued for us: shown as our backlog from it. */
	uint64_t v = sync_be_get(backlog, 8);

	pthread_mutex_lock(&s->lock);
	l->st.to_receive = v;
	pthread_mutex_unlock(&s->lock);
}

/* So that the peer's status shows what remains of a catch-up: when it
 * changes, at most once a second, and at once when it reaches zero or grows
 * from zero. */
void
flow_backlog_say(sync_t *s, link_t *l, uint64_t now)
{
	uint64_t v = s_backlog(l);
	uint8_t b[8];
	const void *f[1] = {b};
	size_t fl[1] = {8};

	if (v == l->backlog_said || !link_up(l))
		return;
	if (v != 0 && l->backlog_said != 0 && sync_since(now, l->backlog_ms) < 1000)
		return;
	sync_be_put(b, v, 8);
	if (link_send(s, l, SYNC_BACKLOG, f, fl, 1) == 0) {
		l->backlog_said = v;
		l->backlog_ms = now;
	}
}

/* Ranges or ids to send, and room in the window. Waiting for ACKs (a full
 * window) does not count: spinning on it took a whole core from the rest of
 * the machine. Ids count as ranges do: those a reconciliation message pushes
 * (a peer's id list showed what it lacks) waited for the next ACK or timer,
 * 50 to 500 ms into a heal, when the message found no range besides. */
int
flow_ready(const link_t *l)
{
	return (l->n_ranges || (l->wantq && l->wq_head < l->wq_len)) && l->inflight < WINDOW &&
	       link_up(l);
}

uint64_t
flow_next_ms(const link_t *l)
{
	uint64_t next = 0;

	if (l->inflight > 0 || l->inflight_small > 0)
		next = l->inflight_ms + ACK_WAIT_MS + 1;
	if (l->st.connected && s_backlog(l) != l->backlog_said) {
		uint64_t t = l->backlog_ms + 1000;
		next = next == 0 || t < next ? t : next;
	}
	return next;
}

void
flow_tick(sync_t *s, link_t *l, uint64_t now)
{
	if (l->wantq || l->n_ranges)
		flow_serve(s, l);
	flow_backlog_say(s, l, now);
}
