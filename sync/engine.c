/*
 * The sync engine: one thread owning every ZeroMQ socket (link.c, zap.c),
 * its loop and timers, and the command pipe through which other threads
 * reach it (the API of sync.h). The loop reads peers (recv.c), keeps links
 * alive, reconciles (reconcile.c) and feeds peers that lag (flow.c).
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "sync/sync_internal.h"

#define MSG_FLOOR  (1024 * 1024) /* every node accepts messages this big, sends none bigger */
#define READ_BURST 64            /* messages read from one socket per round */

enum cmd {
	CMD_STOP = 1,
	CMD_ANNOUNCE,
	CMD_ADD_PEER,
	CMD_RECHECK,
	CMD_OFFER,
	CMD_PUT_DONE,
	CMD_BLOB_KICK,
	CMD_PUT_ADMITTED,
	CMD_PUT_ANNOUNCE
};

/* The engine whose thread this is, NULL on other threads. */
static _Thread_local sync_t *s_engine;

int
engine_on_thread(const sync_t *s)
{
	return s_engine == s;
}

/*
 * The command pipe: what other threads ask of the engine (sync.h's API), a
 * list under cmd_lock and an eventfd written when the list stops being
 * empty. It was a ZeroMQ inproc PUSH/PULL pair: each command that woke the
 * engine cost it, beside the wake-up, three getpid(2), two poll(2) and a
 * read(2) of libzmq's mailbox, and two more syscalls to find the pipe empty
 * again (issue 24, session 15). A command is one allocation; the list has
 * no bound of its own: its producers are bounded (the jobs the engine gave
 * out, the node's writes, the operator's changes).
 */
struct engine_cmd {
	struct engine_cmd *next; /* the next one queued, or NULL */
	size_t len;              /* bytes of data */
	int has_data;            /* a data part was given (possibly of 0 bytes) */
	uint8_t cmd;             /* enum cmd */
	uint8_t data[];          /* its argument (unaligned: copied out where it matters) */
};

/* Handles one command (d: its data, len bytes, NULL when none). */
static void
s_on_cmd(sync_t *s, uint8_t cmd, const uint8_t *d, size_t len)
{
	switch (cmd) {
	case CMD_STOP: s->stop = 1; break;
	case CMD_ANNOUNCE:
		if (d && len % CPT_ID_LEN == 0)
			flow_relay_announced(s, (const uint8_t(*)[CPT_ID_LEN])d, len / CPT_ID_LEN);
		break;
	case CMD_PUT_ANNOUNCE:
		/* The job's pointer, then the ids to announce once it is done. */
		if (d && len >= sizeof(sync_put_t *) &&
		    (len - sizeof(sync_put_t *)) % CPT_ID_LEN == 0) {
			sync_put_t *job;
			memcpy(&job, d, sizeof(job));
			recv_announce_after(s, job, (const uint8_t(*)[CPT_ID_LEN])(d + sizeof(job)),
			                    (len - sizeof(job)) / CPT_ID_LEN);
		}
		break;
	case CMD_OFFER:
		/* A local event on its way to our store: peers get it now, in
		 * parallel with our own commit. */
		if (d && len >= EVT_FIXED_LEN && len <= EVT_MAX_LEN)
			for (int i = 0; i < s->n_links; i++) {
				link_t *l = &s->links[i];
				if (l->used && link_up(l))
					flow_offer(s, l, d, len);
			}
		break;
	case CMD_ADD_PEER:
		if (d && len == sizeof(sync_peer_conf_t)) {
			sync_peer_conf_t pc;
			memcpy(&pc, d, sizeof(pc)); /* aligned */
			link_add(s, &pc);
			s->timers_due = 1; /* dial now, not at the next timer */
		}
		break;
	case CMD_RECHECK: zap_recheck(s); break;
	case CMD_BLOB_KICK: s->blob_kick = 1; break;
	case CMD_PUT_ADMITTED:
		/* The job's pointer, then what the node admitted of it. */
		if (d && len >= sizeof(sync_put_t *) &&
		    (len - sizeof(sync_put_t *)) % sizeof(sync_admitted_t) == 0) {
			sync_put_t *job;
			size_t k = (len - sizeof(job)) / sizeof(sync_admitted_t);
			sync_admitted_t *adm = malloc((k ? k : 1) * sizeof(*adm));
			memcpy(&job, d, sizeof(job));
			if (adm) {
				/* Copied out: the command's bytes need not be aligned. */
				memcpy(adm, d + sizeof(job), k * sizeof(*adm));
				recv_admitted(s, job, adm, k);
				free(adm);
			}
		}
		break;
	case CMD_PUT_DONE:
		if (d && len == sizeof(sync_put_t *)) {
			sync_put_t *job;
			memcpy(&job, d, sizeof(job));
			recv_done(s, job);
		}
		break;
	}
}

/* Takes every command queued and handles them in order. The eventfd is
 * read first: a command queued after the list was taken writes it again. */
static void
s_on_cmds(sync_t *s)
{
	uint64_t v;
	engine_cmd_t *c, *next;

	if (read(s->cmd_fd, &v, sizeof(v)) < 0 && errno != EAGAIN && errno != EINTR)
		log_warnx("sync", "cannot read the command pipe: %s", strerror(errno));
	pthread_mutex_lock(&s->cmd_lock);
	c = s->cmd_head;
	s->cmd_head = s->cmd_tail = NULL;
	pthread_mutex_unlock(&s->cmd_lock);
	for (; c; c = next) {
		next = c->next;
		s_on_cmd(s, c->cmd, c->has_data ? c->data : NULL, c->len);
		free(c);
	}
}

/* The earlier of two deadlines (0: none). */
static uint64_t
s_sooner(uint64_t a, uint64_t b)
{
	return a == 0 || (b != 0 && b < a) ? b : a;
}

/*
 * Heartbeats, link timeouts, dialing, periodic reconciliation, the rate
 * shown per peer: the timers, run when the nearest is due (Redis's habit in
 * ae.c: the loop sleeps until the nearest timer or an event). Returns the
 * next deadline.
 */
static uint64_t
s_timers(sync_t *s, uint64_t now)
{
	int periodic = now >= s->next_reconcile_ms;
	uint64_t rate_ms = sync_since(now, s->rate_ms);
	int rate_tick = rate_ms >= 2000;
	uint64_t next, t;

	if (rate_tick)
		s->rate_ms = now;
	if (periodic)
		s->next_reconcile_ms = now + (uint64_t)s->conf.reconcile_interval_s * 1000;
	/* Nothing else happens when a certificate expires (or one made for
	 * later comes into force): a link would stay up until the next change
	 * of trust. */
	if (now >= s->next_recheck_ms) {
		s->next_recheck_ms = now + s->conf.recheck_ms;
		zap_recheck(s);
	}
	zap_tick(s, now);
	next = s_sooner(s->next_reconcile_ms, s->rate_ms + 2000);
	next = s_sooner(next, s->next_recheck_ms);
	next = s_sooner(next, now + 1000); /* zap_tick's summaries */
	for (int i = 0; i < s->n_links; i++) {
		link_t *l = &s->links[i];
		if (!l->used)
			continue;
		if (link_tick(s, l, now)) {
			reconcile_tick(s, l, periodic);
			flow_tick(s, l, now);
		}
		if (rate_tick) {
			pthread_mutex_lock(&s->lock);
			l->st.rate_in =
			    (l->st.received - l->rate_mark) * 1000 / (rate_ms ? rate_ms : 1);
			l->rate_mark = l->st.received;
			pthread_mutex_unlock(&s->lock);
		}
		next = s_sooner(next, link_next_ms(s, l, now));
		if ((t = flow_next_ms(l)) != 0)
			next = s_sooner(next, t > now ? t : now + 50);
	}
	next = s_sooner(next, blob_next_ms(s, now));
	return next;
}

/*
 * Work that events of this round made due and that cannot wait for a timer:
 * a reconciliation to open (a link came up), ranges to stream while the
 * window has room, a HELLO to send at once (a handshake just succeeded).
 */
static void
s_due(sync_t *s, uint64_t now)
{
	for (int i = 0; i < s->n_links; i++) {
		link_t *l = &s->links[i];
		if (!l->used)
			continue;
		if (l->knock_ms && now >= l->knock_ms)
			link_knock(s, l, now);
		if (!l->st.connected)
			continue;
		if (l->recon_due)
			reconcile_tick(s, l, 0);
		if (flow_ready(l))
			flow_serve(s, l);
	}
	/* After the events: files never hold back EVENTS and ACKs. */
	blob_round(s, now);
}

/*
 * The loop's poll set. The engine sleeps in poll(2) on the descriptors
 * libzmq gives for its sockets (ZMQ_FD), not in zmq_poll: zmq_poll asked
 * every socket's ZMQ_EVENTS before and after each sleep, each ask a poll(2)
 * of the socket's mailbox and a getpid(2) (libzmq's fork check), 2 x (3 + 2
 * per link we dial) of each per round, two to eight rounds per live event
 * (issue 24, session 15: 28 polls and 27 getpids per event at a site of one
 * link, 54 and 54 per write at a region's hub of the 12-site simulation).
 * The command pipe is an eventfd of our own (s_cmd), polled beside them.
 *
 * A ZMQ_FD is edge-triggered: it becomes readable when commands reach the
 * socket's mailbox (a message arrived in an empty queue, a pipe attached),
 * and any operation on the socket may take them in, leaving messages and a
 * silent descriptor. So a socket is read until it has nothing left (its
 * last read fails, which arms the descriptor again), and one that was sent
 * on, made, connected, or left with messages (READ_BURST, the store
 * saturated) is flagged (the *_check fields): its ZMQ_EVENTS is asked before
 * the next sleep, and a socket that holds something keeps the loop awake.
 */
enum sock_kind { SK_CMD, SK_ZAP, SK_SRV, SK_DEALER, SK_MON };

struct engine_sock {
	void *sock;          /* the socket, as it was when the set was made */
	link_t *owner;       /* its link (SK_DEALER, SK_MON), else NULL */
	enum sock_kind kind; /* which of the engine's sockets */
	int ready;           /* its descriptor fired, or its ZMQ_EVENTS said POLLIN */
};

/* The flag that makes the loop ask a socket's ZMQ_EVENTS before sleeping. */
static int *
s_check_flag(sync_t *s, const engine_sock_t *e)
{
	switch (e->kind) {
	case SK_CMD: break; /* not a socket: an eventfd, level-triggered */
	case SK_ZAP: return &s->zap_check;
	case SK_SRV: return &s->srv_check;
	case SK_DEALER: return &e->owner->dealer_check;
	case SK_MON: return &e->owner->mon_check;
	}
	abort();
}

/* Adds a socket to the set: its descriptor, and whether it holds something
 * already (asked when flagged). Returns 1 when it does. */
static int
s_add(sync_t *s, int *n, void *sock, link_t *owner, enum sock_kind kind)
{
	engine_sock_t *e = &s->poll_socks[*n];
	struct pollfd *p = &s->poll_fds[*n];
	int *check;
	size_t len = sizeof(p->fd);

	*e = (engine_sock_t){sock, owner, kind, 0};
	*p = (struct pollfd){-1, POLLIN, 0};
	if (kind == SK_CMD) {
		p->fd = s->cmd_fd;
		(*n)++;
		return 0;
	}
	if (zmq_getsockopt(sock, ZMQ_FD, &p->fd, &len) != 0)
		p->fd = -1; /* poll(2) skips it; the flag below still reads it */
	check = s_check_flag(s, e);
	if (*check || p->fd < 0) {
		uint32_t ev = 0;
		len = sizeof(ev);
		*check = 0;
		if (zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &len) != 0 || (ev & ZMQ_POLLIN))
			e->ready = 1; /* an error: the read says what it is */
	}
	(*n)++;
	return e->ready;
}

/* Reads one ready socket until it has nothing left or READ_BURST messages
 * were read; flags it when it may still hold some. A handler may have closed
 * sockets of the set: the owner checks skip those, and reads never wait. */
static void
s_read(sync_t *s, const engine_sock_t *e)
{
	link_t *l = e->owner;
	int k = 0, more = 1;

	switch (e->kind) {
	case SK_CMD: s_on_cmds(s); break;
	case SK_ZAP:
		while (k++ < READ_BURST && zap_on_request(s))
			;
		/* A REP read out of turn fails without taking in its mailbox:
		 * asked once more, the descriptor cannot stay readable. */
		s->zap_check = 1;
		break;
	case SK_SRV:
		if (s->srv != e->sock)
			break;
		for (; k < READ_BURST && s->srv && !recv_saturated(s) && (more = recv_on_server(s));
		     k++)
			;
		s->srv_check |= more;
		break;
	case SK_DEALER:
		if (l->dealer != e->sock)
			break;
		for (; k < READ_BURST && l->dealer && !recv_held(s, l) &&
		       (more = recv_on_dealer(s, l));
		     k++)
			;
		l->dealer_check |= more;
		break;
	case SK_MON:
		if (l->mon != e->sock)
			break;
		for (; k < READ_BURST && l->mon && (more = link_on_monitor(s, l)); k++)
			;
		l->mon_check |= more;
		break;
	}
}

static void *
s_main(void *arg)
{
	sync_t *s = arg;
	engine_sock_t *socks = s->poll_socks;
	struct pollfd *fds = s->poll_fds;
	uint64_t next_timer = 0;

	s_engine = s;
	pthread_setname_np(pthread_self(), "cpt-sync");
	s->next_reconcile_ms = sync_now_ms() + (uint64_t)s->conf.reconcile_interval_s * 1000;
	s->next_recheck_ms = sync_now_ms() + s->conf.recheck_ms;
	s->zap_check = s->srv_check = 1; /* looked at once */
	while (!s->stop) {
		int n = 0, busy = 0;
		long wait;
		uint64_t now;

		busy |= s_add(s, &n, NULL, NULL, SK_CMD);
		busy |= s_add(s, &n, s->zap, NULL, SK_ZAP);
		/* While the store is behind, peers wait (their messages stay in
		 * ZeroMQ's queues and TCP's): completions come as commands. The
		 * socket is looked at again when read again. */
		if (s->srv && !recv_saturated(s))
			busy |= s_add(s, &n, s->srv, NULL, SK_SRV);
		else
			s->srv_check = 1;
		for (int i = 0; i < s->n_links; i++) {
			link_t *l = &s->links[i];
			if (!l->used)
				continue;
			if (l->dealer && !recv_held(s, l))
				busy |= s_add(s, &n, l->dealer, l, SK_DEALER);
			else if (l->dealer)
				l->dealer_check = 1;
			if (l->mon)
				busy |= s_add(s, &n, l->mon, l, SK_MON);
			/* Work that can go out now keeps the loop from sleeping. */
			busy |= l->st.connected && (l->recon_due || flow_ready(l));
			if (l->knock_ms)
				next_timer = s_sooner(next_timer, l->knock_ms);
		}
		busy |= blob_busy(s);
		if (blob_enabled(s))
			next_timer = s_sooner(next_timer, blob_next_ms(s, sync_now_ms()));
		/* Sleep until an event or the nearest timer; not at all while
		 * work is due or a socket holds messages. */
		now = sync_now_ms();
		wait = busy || next_timer <= now ? 0 : (long)(next_timer - now);
		if (poll(fds, (nfds_t)n, (int)(wait > INT_MAX ? INT_MAX : wait)) < 0 &&
		    errno != EINTR)
			break;
		for (int i = 0; i < n; i++)
			if (socks[i].ready ||
			    (fds[i].revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL)))
				s_read(s, &socks[i]);
		recv_flush(s);
		if (s->recheck_due) {
			s->recheck_due = 0;
			zap_recheck(s);
		}
		now = sync_now_ms();
		if (now >= next_timer || s->timers_due) {
			s->timers_due = 0;
			next_timer = s_timers(s, now);
		}
		s_due(s, now);
	}
	recv_flush(s);
	/* Every batch given to the store comes back before the sockets close. */
	while (s->jobs_out > 0) {
		struct pollfd p = {s->cmd_fd, POLLIN, 0};
		if (poll(&p, 1, 1000) < 0 && errno != EINTR)
			break;
		if (p.revents & POLLIN)
			s_on_cmds(s);
	}
	return NULL;
}

/* ---------------------------------------------------------------- API */

/* Queues a command for the engine (any thread but the engine's, which
 * never waits for itself). Out of memory, it waits and tries again: a
 * completion lost would hold its batch, and sync_stop, for good. */
static void
s_cmd(sync_t *s, uint8_t cmd, const void *data, size_t len)
{
	engine_cmd_t *c;
	uint64_t one = 1;
	int wake;

	while ((c = malloc(sizeof(*c) + len)) == NULL) {
		struct timespec ts = {0, 10 * 1000000L};
		nanosleep(&ts, NULL);
	}
	c->next = NULL;
	c->len = data ? len : 0;
	c->has_data = data != NULL;
	c->cmd = cmd;
	if (data && len)
		memcpy(c->data, data, len);
	pthread_mutex_lock(&s->cmd_lock);
	wake = s->cmd_tail == NULL;
	if (wake)
		s->cmd_head = c;
	else
		s->cmd_tail->next = c;
	s->cmd_tail = c;
	if (wake)
		atomic_fetch_add(&s->cmd_writers, 1);
	pthread_mutex_unlock(&s->cmd_lock);
	/* The list was empty: the engine may be asleep. Written outside the
	 * lock, which the engine takes as soon as it wakes; an eventfd's
	 * counter does not fill up at one write per wake-up. */
	if (wake) {
		while (write(s->cmd_fd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
		atomic_fetch_sub(&s->cmd_writers, 1);
	}
}

static void
s_free(sync_t *s)
{
	/* The writer's last sync_put_done may still be leaving s_cmd: its
	 * command arrived (the engine waited for every job), but its unlock
	 * may not have happened, nor its write of the eventfd returned (counted
	 * in cmd_writers until it has). */
	if (s->thread_started) {
		pthread_mutex_lock(&s->cmd_lock);
		pthread_mutex_unlock(&s->cmd_lock);
		while (atomic_load(&s->cmd_writers) > 0) {
			struct timespec ts = {0, 100000L};
			nanosleep(&ts, NULL);
		}
	}
	for (int i = 0; i < s->n_links; i++) {
		link_close_dealer(&s->links[i]);
		free(s->links[i].wantq);
		free(s->links[i].ranges);
	}
	if (s->srv)
		zmq_close(s->srv);
	if (s->zap)
		zmq_close(s->zap);
	zmq_ctx_term(s->ctx);
	if (s->cmd_fd >= 0)
		close(s->cmd_fd);
	while (s->cmd_head) { /* commands left when the engine never ran */
		engine_cmd_t *c = s->cmd_head;
		s->cmd_head = c->next;
		free(c);
	}
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->cmd_lock);
	reconcile_fini(s);
	blob_fini(s);
	senders_fini(s);
	free(s->over_keys);
	free(s->poll_socks);
	free(s->poll_fds);
	free(s);
}

sync_t *
sync_start(const sync_conf_t *conf, const sync_peer_conf_t *peers, size_t n_peers, char *err,
           size_t errlen)
{
	sync_t *s;

	assert(conf != NULL && conf->curve != NULL && err != NULL && errlen > 0);
	assert(peers != NULL || n_peers == 0);
	assert(!conf->blob.wanted ||
	       (conf->blob.next_missing && conf->blob.manifest && conf->blob.read_chunk &&
	        conf->blob.part_open && conf->blob.part_write && conf->blob.part_finish));
	assert(conf->ops.has && conf->ops.get_many && conf->ops.put && conf->ops.scan &&
	       conf->ops.fingerprint && conf->ops.items && conf->ops.split && conf->ops.admit &&
	       conf->ops.lookup);
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->cmd_fd = -1;
	s->poll_socks = calloc(POLL_ITEMS, sizeof(*s->poll_socks));
	s->poll_fds = calloc(POLL_ITEMS, sizeof(*s->poll_fds));
	if (s->poll_socks == NULL || s->poll_fds == NULL) {
		free(s->poll_socks);
		free(s->poll_fds);
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->conf = *conf;
	if (s->conf.heartbeat_ms < 100)
		s->conf.heartbeat_ms = 1000;
	if (s->conf.reconcile_interval_s == 0)
		s->conf.reconcile_interval_s = 60;
	if (s->conf.recheck_ms == 0)
		s->conf.recheck_ms = 30000;
	if (s->conf.refused_log_ms == 0)
		s->conf.refused_log_ms = 60000;
	/*
	 * Sites may set different limits.max_msg, and a message over the
	 * receiver's limit is malformed there (and counts towards a ban). So
	 * every node accepts at least MSG_FLOOR and sends at most MSG_FLOOR (or
	 * its own, smaller, limit — though never less than one envelope of the
	 * largest size): any two nodes understand each other.
	 */
	s->recv_limit = s->conf.max_msg > MSG_FLOOR ? s->conf.max_msg : MSG_FLOOR;
	s->send_cap = s->conf.max_msg < MSG_FLOOR ? s->conf.max_msg : MSG_FLOOR;
	if (s->send_cap < EVT_MAX_LEN + 4096)
		s->send_cap = EVT_MAX_LEN + 4096;
	if (reconcile_init(s) != 0 || blob_init(s) != 0) {
		reconcile_fini(s);
		blob_fini(s);
		free(s->poll_socks);
		free(s->poll_fds);
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->cmd_lock, NULL);
	s->ctx = zmq_ctx_new();
	if (s->ctx == NULL) {
		snprintf(err, errlen, "cannot create a ZeroMQ context");
		pthread_mutex_destroy(&s->lock);
		pthread_mutex_destroy(&s->cmd_lock);
		reconcile_fini(s); /* what reconcile_init took */
		blob_fini(s);      /* and blob_init */
		free(s->poll_socks);
		free(s->poll_fds);
		free(s);
		return NULL;
	}
	/* The ZAP handler exists before any CURVE socket binds (PITFALLS 1). */
	if (zap_start(s, err, errlen) != 0)
		goto fail;
	if ((s->cmd_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		snprintf(err, errlen, "cannot create the command pipe: %s", strerror(errno));
		goto fail;
	}
	if (link_listen(s, err, errlen) != 0)
		goto fail;
	/* Links we dial are dialed by the engine thread, on its first round. */
	for (size_t i = 0; i < n_peers; i++) {
		link_t *l = link_new(s, peers[i].site_key);
		if (l == NULL)
			continue; /* counted and logged by link_new, each of them */
		snprintf(l->st.endpoint, sizeof(l->st.endpoint), "%s", peers[i].endpoint);
	}
	if (pthread_create(&s->thread, NULL, s_main, s) != 0) {
		snprintf(err, errlen, "cannot start the sync thread");
		goto fail;
	}
	s->thread_started = 1;
	return s;
fail:
	s_free(s);
	return NULL;
}

void
sync_stop(sync_t **self_p)
{
	sync_t *s;

	assert(self_p != NULL);
	if ((s = *self_p) == NULL)
		return;
	assert(!engine_on_thread(s)); /* the thread cannot join itself */
	s_cmd(s, CMD_STOP, NULL, 0);
	pthread_join(s->thread, NULL);
	s_free(s);
	*self_p = NULL;
}

void
sync_announce(sync_t *s, const uint8_t (*ids)[CPT_ID_LEN], size_t n)
{
	assert(ids != NULL || n == 0);
	if (s && n)
		s_cmd(s, CMD_ANNOUNCE, ids, n * CPT_ID_LEN);
}

void
sync_offer(sync_t *s, const uint8_t *env, size_t len)
{
	assert(env != NULL || len == 0);
	if (s && len)
		s_cmd(s, CMD_OFFER, env, len);
}

void
sync_put_done(sync_put_t *job)
{
	sync_t *s;

	assert(job != NULL);
	s = recv_job_engine(job);
	/* On the engine's own thread (a job completed within put) at once: a
	 * command to our own pipe could block on a pipe only we drain. */
	if (engine_on_thread(s))
		recv_done(s, job);
	else
		s_cmd(s, CMD_PUT_DONE, &job, sizeof(job));
}

void
sync_put_admitted(sync_put_t *job, const sync_admitted_t *adm, size_t n)
{
	sync_t *s;
	uint8_t *msg;
	size_t len = sizeof(job) + n * sizeof(*adm);

	assert(job != NULL && (adm != NULL || n == 0));
	if (n == 0 || !job->live)
		return;
	s = recv_job_engine(job);
	/* A single link up is the sender's (a branch's to its region): nobody
	 * to relay to, and a command would only wake the engine (+50% of its
	 * CPU per event at a branch). Should that link be another's, the relay
	 * after the commit serves it. */
	if (atomic_load(&s->links_up) < 2)
		return;
	/* On the engine's own thread at once, as sync_put_done. */
	if (engine_on_thread(s)) {
		recv_admitted(s, job, adm, n);
		return;
	}
	if ((msg = malloc(len)) == NULL)
		return; /* relayed after the commit instead */
	memcpy(msg, &job, sizeof(job));
	memcpy(msg + sizeof(job), adm, n * sizeof(*adm));
	s_cmd(s, CMD_PUT_ADMITTED, msg, len);
	free(msg);
}

void
sync_put_announce(sync_put_t *job, const uint8_t (*ids)[CPT_ID_LEN], size_t n)
{
	sync_t *s;
	uint8_t *msg;
	size_t len = sizeof(job) + n * CPT_ID_LEN;

	assert(job != NULL && (ids != NULL || n == 0));
	if (n == 0)
		return;
	s = recv_job_engine(job);
	/* On the engine's own thread at once, as sync_put_done. */
	if (engine_on_thread(s)) {
		recv_announce_after(s, job, ids, n);
		return;
	}
	if ((msg = malloc(len)) == NULL) {
		sync_announce(s, ids, n); /* to every peer now, as before */
		return;
	}
	memcpy(msg, &job, sizeof(job));
	memcpy(msg + sizeof(job), ids, n * CPT_ID_LEN);
	s_cmd(s, CMD_PUT_ANNOUNCE, msg, len);
	free(msg);
}

void
sync_add_peer(sync_t *s, const sync_peer_conf_t *peer)
{
	assert(peer != NULL);
	if (s)
		s_cmd(s, CMD_ADD_PEER, peer, sizeof(*peer));
}

void
sync_recheck(sync_t *s)
{
	if (s == NULL)
		return;
	/* From the engine itself (a revocation received from a peer): a command
	 * to our own pipe could block on a full pipe that only we drain. */
	if (engine_on_thread(s))
		s->recheck_due = 1;
	else
		s_cmd(s, CMD_RECHECK, NULL, 0);
}

size_t
sync_status(sync_t *s, sync_peer_status_t *out, size_t max)
{
	size_t k = 0;

	assert(out != NULL || max == 0);
	if (s == NULL)
		return 0;
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->n_links && k < max; i++)
		if (s->links[i].used)
			out[k++] = s->links[i].st;
	pthread_mutex_unlock(&s->lock);
	return k;
}

void
sync_blob_kick(sync_t *s)
{
	if (s == NULL)
		return;
	if (engine_on_thread(s))
		s->blob_kick = 1;
	else
		s_cmd(s, CMD_BLOB_KICK, NULL, 0);
}

void
sync_blob_status(sync_t *s, sync_blob_status_t *out)
{
	assert(out != NULL);
	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	*out = s->bst;
	pthread_mutex_unlock(&s->lock);
}

uint64_t
sync_over_limit(sync_t *s)
{
	uint64_t n;

	if (s == NULL)
		return 0;
	pthread_mutex_lock(&s->lock);
	n = s->over_limit;
	pthread_mutex_unlock(&s->lock);
	return n;
}

unsigned
sync_port(sync_t *s)
{
	return s ? s->port : 0;
}
