/*
 * The receive pipeline: messages read from the ROUTER and the dealers,
 * checked and dispatched; EVENTS gathered into batches for ops.put, and once
 * a batch is committed, each message ACKed, counted and relayed to the others.
 */
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "sync/sync_internal.h"

#define MAX_FRAMES 1002  /* routing id + type frame + 1000 envelopes */
#define JOBS_MAX   12    /* batches on their way to the store before reading stops */
#define FLOOD_MSGS 20000 /* messages per second from one peer beyond which it is banned */
/* Envelopes of one link we dial on their way to the store, beyond which its
 * dealer is not read: fewer than JOBS_MAX batches of them (recv_held). */
#define LINK_HELD (8 * BATCH_EVENTS)
/* Live batches on their way to the store beyond which reading stops too.
 * They are counted apart from the JOBS_MAX of a catch-up: a live relay
 * neither waits for nor holds up the catch-up's batches (see recv_flush). */
#define LIVE_JOBS_MAX 16

/*
 * EVENTS received, ingested together: one put job (recv_flush), back
 * through sync_put_done once committed (recv_done). The envelopes are
 * copied out of their frames into one buffer of the batch, and the frames
 * closed at once. Kept as frames (zero copy), each pinned the whole receive
 * buffer libzmq decoded it from (8 KiB of data and a counter per possible
 * message, ~18 KiB, shared by a dozen envelopes) until its batch was
 * committed: a catch-up's batches on their way held 2-3 times their bytes
 * in the I/O thread's arena (heaptrack, 200,000 events: 37 MiB at the
 * peak). The copy costs a memcpy per envelope, on the sync thread.
 */
struct recv_batch {
	sync_put_t job;           /* what ops.put sees: first, so that a job is its batch */
	sync_t *s;                /* the engine */
	uint8_t *data;            /* the envelopes, end to end (malloc'd) */
	size_t cap;               /* data's size */
	size_t off[BATCH_EVENTS]; /* where each starts in data */
	size_t n_env;             /* how many */
	size_t bytes;             /* their total size (data's used part) */
	uint64_t put_us;          /* when given to ops.put (the debug trace) */
	struct {
		link_t *l;                     /* who sent it */
		size_t first, count;           /* its envelopes in env[] */
	} msgs[BATCH_EVENTS];                  /* the messages they came in */
	size_t n_msgs;                         /* how many */
	const uint8_t *bufs[BATCH_EVENTS];     /* job.buf */
	size_t lens[BATCH_EVENTS];             /* job.len */
	int rc[BATCH_EVENTS];                  /* job.rc */
	uint8_t ids[BATCH_EVENTS][CPT_ID_LEN]; /* job.ids */
	uint8_t early[BATCH_EVENTS];           /* relayed before the commit (recv_admitted) */
	uint8_t (*after)[CPT_ID_LEN];          /* announced once it is done (recv_announce_after):
	                                          malloc'd, or NULL */
	size_t n_after;                        /* how many */
};

size_t
recv_msg(void *sock, zmq_msg_t *msgs, size_t max, int *overflow)
{
	size_t n = 0;
	int more = 1;

	*overflow = 0;
	while (more) {
		zmq_msg_t tmp, *m = n < max ? &msgs[n] : &tmp;
		zmq_msg_init(m);
		if (zmq_msg_recv(m, sock, n == 0 && !*overflow ? ZMQ_DONTWAIT : 0) < 0) {
			zmq_msg_close(m);
			break;
		}
		more = zmq_msg_more(m);
		if (n < max) {
			n++;
		} else {
			*overflow = 1;
			zmq_msg_close(m);
		}
	}
	return n;
}

/* Is an ingest error a sign of a forged or broken event (as opposed to one
 * an honest peer may relay: revoked since, not yet valid here, pending)? */
static int
s_forged(int rc)
{
	switch (rc) {
	case CPT_EINVAL:
	case CPT_ETOOBIG:
	case CPT_EVERSION:
	case CPT_EFEDERATION:
	case CPT_ESIG:
	case CPT_EHASH:
	case CPT_EPERM: /* signed by a key that may not sign it: same verdict everywhere */
		return 1;
	}
	return 0;
}

/*
 * Envelopes received are ingested in batches: every EVENTS message read in
 * one round of the loop (up to BATCH_EVENTS envelopes) goes to the store in
 * one put, hence one durable commit, instead of one commit per message —
 * what lets a site keep up with a busy peer. The put returns at once: the
 * node checks signatures and commits while this thread reads the next
 * messages, so verification, storage and the network overlap. Each message
 * still gets its own ACK, accounting and relay once its batch is committed
 * (s_done), never before.
 */
static void s_done(sync_t *s, recv_batch_t *b);

/*
 * Two lanes (issue 24, session 11). The envelopes of live messages (at most
 * SYNC_LIVE_MAX: a relay or an offer of what was just written) go to the
 * store in batches of their own, marked live, which the node stores ahead of
 * the catch-up batches given to it before (node/fed/writer.c). In one batch
 * with a catch-up's 1,000, or queued behind twelve of them, a live event
 * waited for thousands of envelopes to be verified and committed: seconds
 * at a site healing from an outage, for an event its other peers wait for.
 */
static void
s_flush_one(sync_t *s, recv_batch_t **slot, int live)
{
	recv_batch_t *b = *slot;

	if (b == NULL || b->n_env == 0)
		return;
	*slot = NULL;
	for (size_t i = 0; i < b->n_env; i++)
		b->bufs[i] = b->data + b->off[i]; /* b->lens: set by s_batch_add */
	memset(b->early, 0, b->n_env);
	b->job = (sync_put_t){b->bufs, b->lens, b->n_env, b->rc, b->ids, 0, live};
	b->after = NULL;
	b->n_after = 0;
	b->put_us = sync_now_us();
	log_debug("sync", "trace put events=%zu msgs=%zu live=%d", b->n_env, b->n_msgs, live);
	s->jobs_out++;
	s->live_out += live != 0;
	if (s->conf.ops.put(s->conf.ops.ctx, &b->job) != 0) {
		/* Not taken: as a store error, nothing acknowledged. */
		b->job.err = CPT_EIO;
		s_done(s, b);
	}
	/* b may be gone already: the node completes small jobs at once. */
}

void
recv_flush(sync_t *s)
{
	s_flush_one(s, &s->in_live, 1);
	s_flush_one(s, &s->in, 0);
}

/* Reads from peers pause while this many batches are on their way to the
 * store: memory stays bounded whatever peers send. */
int
recv_saturated(const sync_t *s)
{
	return s->jobs_out - s->live_out >= JOBS_MAX || s->live_out >= LIVE_JOBS_MAX;
}

/*
 * A region's hub healing from HQ had twelve batches of HQ's events on their
 * way to its store all along (HQ's window is twelve messages of 1,000): it
 * read none of its branches for the whole catch-up, answered their
 * reconciliations seconds late, from a state its relays had overtaken
 * (events sent twice), and read their ACKs late. A link we dial is held
 * alone a little before that, so the ROUTER and the other links are still
 * read; a link that dialed us comes on the ROUTER, held only with the rest.
 */
int
recv_held(const sync_t *s, const link_t *l)
{
	return recv_saturated(s) || (l->dealer && l->storing_events >= LINK_HELD);
}

sync_t *
recv_job_engine(const sync_put_t *job)
{
	return ((const recv_batch_t *)job)->s; /* job is its first member */
}

/*
 * A live batch's events go on once the node has admitted them, before its
 * commit (issue 24, session 12): on a path of four hops each commit (two
 * fsyncs on a busy disk) came before the relay, and the path's commits
 * added up; now the next hop verifies and commits while this one does. What
 * is relayed is what the writer decided to store (authorised, not pending
 * or held, not a duplicate), sent from the batch's copy, which stays ours
 * until recv_done. The ACK to the sender still waits for the commit: it
 * means "survives kill -9" here.
 */
void
recv_admitted(sync_t *s, sync_put_t *job, const sync_admitted_t *adm, size_t n)
{
	recv_batch_t *b = (recv_batch_t *)job; /* job is its first member */
	const uint8_t *env[SYNC_LIVE_MAX];
	size_t elen[SYNC_LIVE_MAX], relayed = 0;
	uint8_t now[BATCH_EVENTS]; /* given in this call */

	if (!b->job.live)
		return;
	memset(now, 0, b->n_env);
	for (size_t k = 0; k < n; k++) {
		size_t i = adm[k].at;
		if (i < b->n_env && !b->early[i] && adm[k].len >= EVT_FIXED_LEN &&
		    adm[k].len <= b->lens[i]) {
			b->early[i] = 1 + (adm[k].len < b->lens[i]); /* 2: without its body */
			now[i] = 1;
		}
	}
	/* Message by message: each goes to every link but its sender's. */
	for (size_t j = 0; j < b->n_msgs; j++) {
		size_t first = b->msgs[j].first, m = 0;
		for (size_t i = first; i < first + b->msgs[j].count; i++) {
			if (!now[i])
				continue;
			env[m] = b->bufs[i];
			elen[m++] = b->early[i] == 2 ? EVT_FIXED_LEN : b->lens[i];
			relayed++;
			if (m == SYNC_LIVE_MAX) { /* a live message holds no more */
				flow_relay_envs(s, b->msgs[j].l, env, elen, m);
				m = 0;
			}
		}
		flow_relay_envs(s, b->msgs[j].l, env, elen, m);
	}
	log_debug("sync", "trace relayed before the commit events=%zu of %zu", relayed, b->n_env);
}

void
recv_announce_after(sync_t *s, sync_put_t *job, const uint8_t (*ids)[CPT_ID_LEN], size_t n)
{
	recv_batch_t *b = (recv_batch_t *)job; /* job is its first member */
	uint8_t(*all)[CPT_ID_LEN];

	if (n == 0)
		return;
	if ((all = realloc(b->after, (b->n_after + n) * CPT_ID_LEN)) == NULL) {
		/* Out of memory: now, to every peer, as before. */
		flow_relay(s, NULL, ids, n);
		return;
	}
	memcpy(all + b->n_after, ids, n * CPT_ID_LEN);
	b->after = all;
	b->n_after += n;
}

void
recv_done(sync_t *s, sync_put_t *job)
{
	s_done(s, (recv_batch_t *)job);
}

static void
s_done(sync_t *s, recv_batch_t *b)
{
	const size_t *lens = b->lens;
	const int *rc = b->rc;
	uint8_t(*ids)[CPT_ID_LEN] = b->ids, (*fresh)[CPT_ID_LEN] = NULL;
	int stored_ok = b->job.err == 0;

	s->jobs_out--;
	s->live_out -= b->job.live != 0;
	log_debug("sync", "trace put done events=%zu in %llu us", b->n_env,
	          (unsigned long long)(sync_now_us() - b->put_us));
	for (size_t j = 0; j < b->n_msgs; j++) {
		link_t *l = b->msgs[j].l;
		l->storing--;
		l->storing_events -= b->msgs[j].count;
		/* The catch-up that put off its periodic reconciliation is in. */
		if (l->recon_owed && l->storing == 0) {
			l->recon_owed = 0;
			if (l->st.connected)
				reconcile_schedule(l);
		}
	}
	if (!stored_ok)
		log_warnx("sync", "store error while ingesting %zu events from peers", b->n_env);
	else if ((fresh = malloc(b->n_env * CPT_ID_LEN)) == NULL)
		stored_ok = 0;
	for (size_t j = 0; stored_ok && j < b->n_msgs; j++) {
		link_t *l = b->msgs[j].l;
		size_t first = b->msgs[j].first, k = b->msgs[j].count;
		size_t stored = 0, fresh_n = 0, dup = 0, pend = 0, refused = 0, forged = 0;
		uint8_t ack[16];
		const void *f[1] = {ack};
		size_t fl[1] = {16};

		for (size_t i = first; i < first + k; i++) {
			if (rc[i] == 0) {
				stored++;
				/* Relayed already, before the commit (recv_admitted). */
				if (!b->early[i])
					memcpy(fresh[fresh_n++], ids[i], CPT_ID_LEN);
			} else if (rc[i] == CPT_EEXIST) {
				dup++;
			} else if (rc[i] == CPT_EPENDING || rc[i] == CPT_EHELD) {
				pend++; /* kept: waiting for an event, or for the clock */
				senders_note(s, ids[i], (int)(l - s->links));
			} else {
				/* Aside (a revocation covers it) is kept too, and may
				 * be admitted later. */
				if (rc[i] == CPT_EREVOKED)
					senders_note(s, ids[i], (int)(l - s->links));
				refused++;
				/* A bare envelope is refused while its redaction has
				 * not arrived: not a forgery. */
				if (s_forged(rc[i]) && lens[i] > EVT_FIXED_LEN)
					forged++;
			}
		}
		pthread_mutex_lock(&s->lock);
		l->st.received += stored;
		l->st.rejected += refused;
		l->st.to_receive = l->st.to_receive > k ? l->st.to_receive - k : 0;
		pthread_mutex_unlock(&s->lock);
		/* Tell the sender what is now durably stored here. */
		sync_be_put(ack, stored, 4);
		sync_be_put(ack + 4, dup, 4);
		sync_be_put(ack + 8, pend, 4);
		sync_be_put(ack + 12, refused, 4);
		link_send(s, l, SYNC_ACK, f, fl, 1);
		if (refused)
			log_warnx(
			    "sync",
			    "site=%s sent %zu events that were refused (%zu forged or malformed)",
			    link_name(l), refused, forged);
		if (forged) {
			l->bad += (int)(forged > 5 ? 5 : forged);
			if (l->bad >= BAD_LIMIT) {
				link_ban(s, l, "too many forged or malformed events");
				continue;
			}
		}
		/* Relay: every other connected peer may lack them. */
		flow_relay(s, l, (const uint8_t(*)[CPT_ID_LEN])fresh, fresh_n);
	}
	free(fresh);
	/* What the transaction admitted from waiting, once its senders, this
	 * batch's among them, are noted above. */
	if (b->n_after)
		flow_relay_announced(s, (const uint8_t(*)[CPT_ID_LEN])b->after, b->n_after);
	free(b->after);
	free(b->data);
	free(b);
}

/* Takes the envelopes of an EVENTS message (frames 1..n-1 of m, copied:
 * the caller closes m) into the batch. */
static void
s_batch_add(sync_t *s, link_t *l, zmq_msg_t *m, const size_t *len, size_t n)
{
	size_t k = n - 1, bytes = 0;
	int live = k <= SYNC_LIVE_MAX;
	recv_batch_t **slot = live ? &s->in_live : &s->in, *b = *slot;

	for (size_t i = 1; i < n; i++)
		bytes += len[i];
	if (b &&
	    (b->n_env + k > BATCH_EVENTS || (b->n_env > 0 && b->bytes + bytes > s->recv_limit)))
		s_flush_one(s, slot, live);
	if ((b = *slot) == NULL) {
		if ((b = malloc(sizeof(*b))) == NULL) {
			/* Dropped unacknowledged: the sender's window and the next
			 * reconciliation bring them again. */
			log_warnx("sync", "out of memory: %zu events from site=%s dropped", k,
			          link_name(l));
			return;
		}
		b->s = s;
		b->data = NULL;
		b->n_env = b->n_msgs = b->bytes = b->cap = 0;
		*slot = b;
	}
	if (b->bytes + bytes > b->cap) {
		/* A catch-up's batch is one message: one allocation of its size. */
		size_t cap = b->bytes + bytes > 2 * b->cap ? b->bytes + bytes : 2 * b->cap;
		uint8_t *d = realloc(b->data, cap ? cap : 1);
		if (d == NULL) {
			log_warnx("sync", "out of memory: %zu events from site=%s dropped", k,
			          link_name(l));
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	l->storing++;
	l->storing_events += k;
	b->msgs[b->n_msgs].l = l;
	b->msgs[b->n_msgs].first = b->n_env;
	b->msgs[b->n_msgs].count = k;
	b->n_msgs++;
	for (size_t i = 1; i < n; i++) {
		b->off[b->n_env] = b->bytes;
		b->lens[b->n_env++] = len[i];
		memcpy(b->data + b->bytes, zmq_msg_data(&m[i]), len[i]);
		b->bytes += len[i];
	}
}

/* One message from l (frame 0 onwards, the routing id already taken off):
 * checked before any frame is used, then dispatched. */
static void
s_handle(sync_t *s, link_t *l, zmq_msg_t *m, size_t n, int overflow)
{
	size_t len[MAX_FRAMES];
	int type = n > 0 ? sync_msg_type(zmq_msg_data(&m[0]), zmq_msg_size(&m[0])) : -1;
	uint64_t now = sync_now_ms();

	if (l->revoked) {
		/* In its grace (zap_recheck): nothing is taken from it, and the
		 * ACKs of what was in flight, the revocation among them, end it. */
		if (type == SYNC_ACK && l->close_ms && --l->grace_acks <= 0)
			link_revoked_close(l);
		return;
	}
	if (sync_since(now, l->win_ms) >= 1000) {
		l->win_ms = now;
		l->win_msgs = 0;
	}
	if (++l->win_msgs > FLOOD_MSGS) {
		link_ban(s, l, "flooding");
		return;
	}
	for (size_t i = 0; i < n; i++)
		len[i] = zmq_msg_size(&m[i]);
	if (type < 0 && n > 0 && len[0] == 2 &&
	    ((const uint8_t *)zmq_msg_data(&m[0]))[0] != SYNC_VERSION) {
		/* A peer of another protocol version is not malformed: it is
		 * refused by name, and may come back upgraded (PROTOCOL.md 10.2). */
		char why[160];
		snprintf(why, sizeof(why),
		         "peer site=%s speaks protocol version %u; this node speaks version %d: "
		         "upgrade that site",
		         link_name(l), ((const uint8_t *)zmq_msg_data(&m[0]))[0], SYNC_VERSION);
		link_ban(s, l, why);
		return;
	}
	if (overflow || type < 0 || sync_msg_check(type, n, len, s->recv_limit) != 0) {
		link_malformed(s, l, type, n);
		return;
	}
	l->last_rx_ms = now;
	if (log_enabled(LOG_LEVEL_DEBUG)) {
		size_t bytes = 0;
		for (size_t i = 0; i < n; i++)
			bytes += len[i];
		log_msg(LOG_LEVEL_DEBUG, "sync", "trace recv site=%s type=%d frames=%zu bytes=%zu",
		        link_name(l), type, n, bytes);
	}
	pthread_mutex_lock(&s->lock);
	l->st.last_exchange_ms = sync_wall_ms();
	for (size_t i = 0; i < n; i++)
		l->st.bytes_in += len[i];
	l->st.msgs_in++;
	pthread_mutex_unlock(&s->lock);
	if (!l->st.connected) {
		link_set_connected(s, l, 1);
		/* Up again on a link it dialed, by anything but its HELLO: our
		 * side went down alone (silence while it kept the link) and
		 * dropped what was queued for it. Only the dialing side opens
		 * reconciliations, and it saw no change: a HELLO on a link it
		 * holds up already makes it open one (SYNC_HELLO below). */
		if (l->dealer == NULL && type != SYNC_HELLO)
			link_send_hello(s, l);
	}

	if (type >= SYNC_BHELLO && type <= SYNC_BNONE) {
		blob_on(s, l, type, m, len, n);
		return;
	}
	switch (type) {
	case SYNC_HELLO:
		/* Our BHELLO goes (again) after each HELLO: a peer that knocks
		 * again may have restarted and forgotten it, and what we asked
		 * of it; its own BHELLO follows its HELLO. */
		blob_on_hello(s, l);
		if (!l->hello_in) {
			l->hello_in = 1;
			link_send_hello(s, l); /* answer so that both sides come up at once */
		} else if (!l->recon_due &&
		           sync_since(now, l->reconcile_ms) > s->conf.heartbeat_ms) {
			/* It knocks again: its side of the link restarted while ours
			 * stayed up. What it missed meanwhile is pushed now. */
			reconcile_schedule_recent(l);
		}
		break;
	case SYNC_PING: link_send(s, l, SYNC_PONG, NULL, NULL, 0); break;
	case SYNC_PONG: break;
	case SYNC_ACK: flow_on_ack(s, l, zmq_msg_data(&m[1]), now); break;
	case SYNC_WANT:
		flow_want(s, l, zmq_msg_data(&m[1]), len[1] / CPT_ID_LEN);
		flow_serve(s, l);
		break;
	case SYNC_RECON: reconcile_on(s, l, zmq_msg_data(&m[1]), len[1]); break;
	case SYNC_IDS:
		link_malformed(s, l, type,
		               n); /* the pre-reconciliation id list: no longer spoken */
		break;
	case SYNC_BACKLOG: flow_on_backlog(s, l, zmq_msg_data(&m[1])); break;
	case SYNC_EVENTS: s_batch_add(s, l, m, len, n); break;
	}
}

/* A message on the ROUTER: [routing id][frames...]; who sent it comes from
 * the ZAP User-Id, never from the routing id (PITFALLS 2). */
int
recv_on_server(sync_t *s)
{
	zmq_msg_t m[MAX_FRAMES];
	int overflow;
	size_t n = recv_msg(s->srv, m, MAX_FRAMES, &overflow);
	const char *uid;
	uint8_t key[CPT_KEY_LEN];
	link_t *l;
	int fd;

	if (n == 0)
		return 0;
	if (n < 2)
		goto out;
	uid = zmq_msg_gets(&m[1], "User-Id");
	if (uid == NULL || cpt_unhex32(key, uid, strlen(uid)) != 0 ||
	    (l = link_new(s, key)) == NULL)
		goto out;
	/* The connection it came on, to close it should the peer be shut out. */
	fd = zmq_msg_get(&m[1], ZMQ_SRCFD);
	if (fd >= 0 && fd != l->fd) {
		l->fd = fd;
		l->fd_addr_len = sizeof(l->fd_addr);
		if (getpeername(fd, (struct sockaddr *)&l->fd_addr, &l->fd_addr_len) != 0)
			l->fd_addr_len = 0;
	}
	if (l->ban_until_ms > sync_now_ms() || (l->revoked && !l->close_ms)) {
		link_drop_incoming(l);
		goto out;
	}
	if (zmq_msg_size(&m[0]) <= sizeof(l->rid)) {
		/* A new routing id is a new connection: its side starts afresh. */
		if (l->rid_len &&
		    (l->rid_len != zmq_msg_size(&m[0]) ||
		     memcmp(l->rid, zmq_msg_data(&m[0]), l->rid_len) != 0) &&
		    !l->dealer)
			link_set_connected(s, l, 0);
		memcpy(l->rid, zmq_msg_data(&m[0]), zmq_msg_size(&m[0]));
		l->rid_len = zmq_msg_size(&m[0]);
	}
	if (!l->has_curve && link_learn(s, l) != 0) {
		/* No certificate for it here (ZAP admitted it from one, so
		 * rarely): zap_recheck and dialing look it up again. */
	}
	s_handle(s, l, m + 1, n - 1, overflow);
out:
	for (size_t i = 0; i < n; i++)
		zmq_msg_close(&m[i]);
	return 1;
}

int
recv_on_dealer(sync_t *s, link_t *l)
{
	zmq_msg_t m[MAX_FRAMES];
	int overflow;
	size_t n = recv_msg(l->dealer, m, MAX_FRAMES, &overflow);

	if (n >= 1)
		s_handle(s, l, m, n, overflow);
	for (size_t i = 0; i < n; i++)
		zmq_msg_close(&m[i]);
	return n > 0;
}
