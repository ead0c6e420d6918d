/*
 * Reconciliation driven for each link: when one opens (the side that dialed,
 * on connect and periodically), answering the peer's messages through
 * recon.c, and what its findings become (WANTs now, queued ids and ranges).
 */
#include <stdlib.h>
#include <string.h>

#include "sync/sync_internal.h"

#define WANT_MAX 8000 /* ids per WANT: 256 KB, under every node's MSG_FLOOR */

/* The store's functions serve recon.c as they are: its keys are ours. */
_Static_assert(RECON_KEY_LEN == SYNC_TSID_LEN, "recon keys are (ts, id) keys");
_Static_assert(RECON_FP_LEN == 16, "sync_ops_t.fingerprint fills 16 bytes");

/* Findings, for the link whose message is being processed (s->recon_link). */
static void
s_push_ids(void *arg, const uint8_t (*ids)[32], size_t n)
{
	sync_t *s = arg;
	flow_want(s, s->recon_link, (const uint8_t *)ids, n);
}

static void
s_push_range(void *arg, const uint8_t *lo, const uint8_t *hi)
{
	sync_t *s = arg;
	flow_ranges_add(s, s->recon_link, lo, hi);
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
	recon_sink_t sink = {s, s_push_ids, s_push_range, s_want};

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
	int rc;

	s->recon_link = l;
	rc = l->recon_recent ? recon_start_recent(s->recon, s->recon_out, s->send_cap - 64, &len)
	                     : recon_start(s->recon, s->recon_out, s->send_cap - 64, &len);
	s->recon_link = NULL;
	if (rc != 0)
		return -1;
	log_debug("sync", "trace recon open site=%s bytes=%zu recent=%d in %llu us", l->st.site,
	          len, l->recon_recent, (unsigned long long)(sync_now_us() - t0));
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
	log_debug("sync",
	          "trace recon answer site=%s in=%zu out=%zu done=%d want=%zu queued=%zu "
	          "ranges=%zu in %llu us",
	          l->st.site, len, outlen, done, s->recon_nwant, l->wq_len - l->wq_head,
	          l->n_ranges - l->ranges_head, (unsigned long long)(sync_now_us() - t0));
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
