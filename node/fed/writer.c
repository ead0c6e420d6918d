/*
 * The receive pipeline's last steps: batches from peers, verified on every
 * core (node/event/vpool.c), committed by a writer thread through the node's
 * group commit, then handed back to the engine, which acknowledges them.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "node/fed/fed_internal.h"

#define LOG_REFUSED 5 /* refusals logged one by one per batch from a peer */

/*
 * Batches from peers, on their way to the store (ops.put). The sync thread
 * drops what is already stored (replays, relays that crossed, a peer's
 * re-announcements: answered from a read transaction, never reaching the
 * write path, so a batch of duplicates costs no fsync) and gives the rest to
 * the pool that checks signatures on every core (node/event/vpool.c), without
 * waiting: the network thread goes on reading and sending (during a heal,
 * its own events go out while the peer's are checked). A writer thread then
 * commits the verified batches — all those waiting, in one transaction —
 * and hands each back to the engine, which acknowledges it. Verification of
 * batch k+1 thus overlaps the commit of batch k, and a backlog is stored in
 * large transactions: the cost of a commit (its page writes and fsyncs) is
 * shared by more events the further behind the site is.
 */
/* Events per writer transaction, at most: LMDB mallocs a transaction's dirty
 * pages and keeps them afterwards, and a transaction dirties more pages per
 * event the larger the store (the writer's arena at 1M events: ~31 MiB with
 * 3,000, ~22.6 with 2,000). 2,000 kept the heap under 64 MiB but slowed a 1M
 * fill, which waits on these commits (docs/BENCHMARKS.md, issue 23 session
 * 11): 3,000 until a commit dirties fewer pages per event. */
#define MERGE_MAX 3000
/* Batches of at most this many envelopes go to the writer unverified, which
 * checks them in its transaction, when the pool holds none of ours: a live
 * event comes alone, and handing it to a verify thread cost a wake-up of
 * every verify thread and a hand-off more than its check (~60 us).
 * (vpool_verify on this thread wakes the workers all the same.) */
#define INLINE_MAX 4
/* A live batch (sync_put_t.live) of at most this many envelopes is checked
 * by the writer in its transaction, whatever the pool holds: through the
 * pool it would wait for the catch-up's batches queued there before it. */
#define LIVE_INLINE_MAX 64
/*
 * How long the writer waits at most for the next verified batches of a
 * catch-up before it commits what it holds (fed_wq_gather). The pool hands
 * batches over one by one as it verifies them, and a writer faster than the
 * pool committed each alone: in a fill, 1,070-1,770 envelopes per commit on
 * average for a cap of 3,000 (issue 23, session 13). A commit's cost is
 * mostly its dirty pages, and a page that three batches' events land in is
 * copied, written and synced once instead of three times: 6,856 -> 4,578
 * bytes written per event and 25.6 -> 20.6 us of the writer's CPU per event
 * at 1,000 -> 3,000 per commit, N = 100,000 (docs/BENCHMARKS.md). 100 ms
 * was too short on a loaded machine, where the pool takes longer than that
 * for a batch (commits stayed at 1,500). The sender's ACKs wait that much
 * longer; a live batch never waits, nor a batch when none is being verified.
 */
#define GATHER_MS 500
/*
 * How many envelopes it gathers so, at most: two batches of 1,000, not the
 * 3,000 of MERGE_MAX. A sender keeps four batches unacknowledged (its
 * window, sync/flow.c), and a writer holding three of them for its commit
 * left the pool one to verify meanwhile; with two, the pool verifies the
 * next two while the writer commits. Commits of 2,000 write 5,367 bytes per
 * event at N = 100,000 (1,000: 6,856; 3,000: 4,578). When the writer is the
 * slower, batches wait anyway and it takes up to MERGE_MAX as before.
 */
#define GATHER_MIN 2000
/*
 * Once a burst of at least this many envelopes is committed and nothing
 * waits, the writer hands the heap it freed back to the system
 * (malloc_trim). A catch-up's batches are allocated and freed on four
 * threads (the engine, two verify workers, the writer), each with its own
 * glibc arena, and glibc returns free memory from the top of the main heap
 * only: a region's hub kept 47-66 MB of anonymous memory after its heal
 * (issue 24, session 11), a node at rest 13. A trim costs a walk of the
 * arenas, a few ms, once per burst.
 */
#define TRIM_AFTER (2 * MERGE_MAX)
/* A catch-up batch of at least this many envelopes, alone in the pool while
 * the writer has nothing else to do, is streamed: the writer builds its
 * transaction while the pool still checks it (s_stream). */
#define STREAM_MIN 256
/* How often a streamed transaction waiting for the pool looks for another
 * commit waiting behind it (node_submit_waiting), at most. */
#define STREAM_POLL_MS 2

typedef struct pjob {
	fed_wq_item_t q;      /* first: its place in the writer's queue; q.k the envelopes to
	                         store (not known here already), q.live a live batch */
	sync_put_t *job;      /* the engine's */
	const uint8_t **fbuf; /* them */
	size_t *flen;         /* their sizes */
	size_t *at;           /* their index in job */
	uint8_t *ok;          /* 1 when the pool verified it */
	json_t **bodies;      /* their bodies, parsed by the pool (or NULL) */
	fed_writer_t *w;      /* the writer it goes to once verified */
	uint64_t t_us;        /* when it was taken (the debug trace) */
	int pooled;           /* verified by the pool (counted in fed_writer.pooled) */
	/* Streamed (s_stream), under the writer's lock: */
	int streamed;     /* the writer builds it while the pool checks it */
	int pool_done;    /* the pool is done with it (s_verified came) */
	size_t upto;      /* envelopes [0, upto) checked by the pool */
	uint64_t done_us; /* when the pool was done (the debug trace) */
	/* On its way (fed_writer_on_way), under the writer's way_lock: */
	uint8_t (*way)[CPT_ID_LEN];       /* the ids of its envelopes, sorted, or NULL */
	size_t way_n;                     /* how many */
	struct pjob *way_prev, *way_next; /* the writer's list of those with ids */
} pjob_t;

struct fed_writer {
	fed_t *fed;           /* whose */
	pthread_t thread;     /* the writer */
	pthread_mutex_t lock; /* guards what follows */
	pthread_cond_t cond;  /* a job was queued, or stop */
	fed_wq_t q;           /* verified batches, two lanes (fed_wq_take) */
	int stop;             /* leave once the queue is empty */
	/* the sync thread's (s_put), not under lock: */
	unsigned clean;           /* batches in a row looked up with no duplicate */
	unsigned long batches;    /* batches seen */
	atomic_int pooled;        /* batches in the pool, not yet queued here: while one is, a
	                             small batch goes through the pool too, to keep the order */
	atomic_ulong inlined;     /* batches sent past the pool (fed_writer_inlined) */
	pjob_t *cand;             /* under lock: a catch-up batch alone in the pool, which the
	                             writer may stream while idle (s_stream), or NULL */
	pthread_mutex_t way_lock; /* guards way */
	pjob_t *way;              /* batches handed over and not yet committed (their ids) */
};

/* The ids of events admitted from waiting by the transaction this thread,
 * the writer, is committing (fed_writer_admitted); NULL elsewhere. */
struct admitted {
	uint8_t (*ids)[CPT_ID_LEN]; /* malloc'd */
	size_t n, cap;              /* used, room */
};
static _Thread_local struct admitted *s_admitted;

int
fed_writer_admitted(const node_change_t *c, size_t n)
{
	struct admitted *a = s_admitted;

	if (a == NULL)
		return 0;
	if (a->n + n > a->cap) {
		size_t cap = a->n + n > 2 * a->cap ? a->n + n : 2 * a->cap;
		uint8_t(*ids)[CPT_ID_LEN] = realloc(a->ids, cap * CPT_ID_LEN);
		if (ids == NULL)
			return 0;
		a->ids = ids;
		a->cap = cap;
	}
	for (size_t i = 0; i < n; i++)
		memcpy(a->ids[a->n++], c[i].id, CPT_ID_LEN);
	return 1;
}

static struct timespec s_deadline(unsigned ms);

/* Microseconds on the monotonic clock: the debug trace's durations. */
static uint64_t
s_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int
s_cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, CPT_ID_LEN);
}

/* p's envelopes are on their way to the store from now (fed_put): their
 * ids (hashed there, in p->job->ids), sorted, in the writer's list.
 * Without memory, not listed. */
static void
s_way_add(fed_writer_t *w, pjob_t *p)
{
	size_t k = 0;

	if ((p->way = malloc((p->q.k ? p->q.k : 1) * CPT_ID_LEN)) == NULL)
		return;
	for (size_t j = 0; j < p->q.k; j++)
		if (p->flen[j] >= EVT_FIXED_LEN)
			memcpy(p->way[k++], p->job->ids[p->at[j]], CPT_ID_LEN);
	qsort(p->way, k, CPT_ID_LEN, s_cmp_id);
	p->way_n = k;
	pthread_mutex_lock(&w->way_lock);
	p->way_prev = NULL;
	p->way_next = w->way;
	if (w->way)
		w->way->way_prev = p;
	w->way = p;
	pthread_mutex_unlock(&w->way_lock);
}

/* p is committed (or failed): off the list. */
static void
s_way_del(pjob_t *p)
{
	fed_writer_t *w = p->w;

	if (p->way == NULL || w == NULL)
		return;
	pthread_mutex_lock(&w->way_lock);
	if (p->way_prev)
		p->way_prev->way_next = p->way_next;
	else
		w->way = p->way_next;
	if (p->way_next)
		p->way_next->way_prev = p->way_prev;
	pthread_mutex_unlock(&w->way_lock);
	free(p->way);
	p->way = NULL;
}

int
fed_writer_on_way(fed_writer_t *w, const uint8_t id[CPT_ID_LEN])
{
	int found = 0;

	if (w == NULL)
		return 0;
	pthread_mutex_lock(&w->way_lock);
	for (pjob_t *p = w->way; p && !found; p = p->way_next)
		found = bsearch(id, p->way, p->way_n, CPT_ID_LEN, s_cmp_id) != NULL;
	pthread_mutex_unlock(&w->way_lock);
	return found;
}

static void
s_pjob_free(pjob_t *p)
{
	if (p == NULL)
		return;
	s_way_del(p);
	for (size_t i = 0; p->bodies && i < p->q.k; i++)
		json_decref(p->bodies[i]);
	free(p->bodies);
	free(p->fbuf);
	free(p->flen);
	free(p->at);
	free(p->ok);
	free(p);
}

/* Results of a committed (or failed) batch, back to the engine. */
static void
s_pjob_finish(fed_t *f, pjob_t *p, const ingest_res_t *res, int err)
{
	sync_put_t *job = p->job;
	size_t refused = 0;
	int revoked = 0;

	job->err = err;
	for (size_t j = 0; j < p->q.k; j++) {
		size_t i = p->at[j];
		job->rc[i] = err ? CPT_EIO : res[j].rc;
		memcpy(job->ids[i], res[j].id, CPT_ID_LEN);
		if (res[j].rc == 0 && res[j].kind == EVT_REVOKE)
			revoked = 1;
		if (err == 0 && res[j].rc != 0 && res[j].rc != CPT_EEXIST &&
		    res[j].rc != CPT_EPENDING && ++refused <= LOG_REFUSED) {
			/* A hostile batch holds up to 1000 of them: the first few
			 * are logged, the engine logs the count and the peer. */
			char hex[CPT_HEX_ID];
			cpt_hex32(hex, res[j].id);
			log_info("ingest", "refused event from a peer id=%s kind=%s reason=\"%s\"",
			         hex, evt_kind_name(res[j].kind), res[j].why);
		}
	}
	if (refused > LOG_REFUSED)
		log_info("ingest", "refused %zu more events of the same batch",
		         refused - LOG_REFUSED);
	s_pjob_free(p);
	sync_put_done(job);
	/* After the relay (the engine handles its commands in order): the
	 * revocation then reaches the revoked site too, before its link closes. */
	if (revoked)
		fed_trust_changed(f);
}

/*
 * A catch-up's commits write with the idle I/O class, the others with the
 * thread's default: on a disk shared with other work, the pages and fsyncs
 * of a heal's transactions of 3,000 envelopes yield to the small commits
 * that carry live events (issue 24, session 11: on the simulator's one disk,
 * the other sites' commits waited for eleven healing sites'). Linux's
 * ioprio_set on the calling thread, honoured by the mq-deadline and BFQ
 * schedulers (the kernel's anti-starvation still serves idle requests); the
 * idle class and the default need no privilege.
 */
#define IOPRIO_IDLE (3 << 13) /* IOPRIO_PRIO_VALUE(IOPRIO_CLASS_IDLE, 0) */

int
fed_writer_io_bulk(int bulk)
{
	/* who 1: IOPRIO_WHO_PROCESS, 0: the calling thread; class 0: the
	 * default, derived from the thread's nice value */
	return syscall(SYS_ioprio_set, 1, 0, bulk ? IOPRIO_IDLE : 0) == 0 ? 0 : CPT_EIO;
}

/*
 * The transaction holding list's batches is built and about to be committed
 * (node_submit_decided; on the committing thread, inside the transaction):
 * what it admitted of the live batches goes to the engine, which relays it
 * now rather than after the commit's fsyncs (sync_put_admitted). Only what
 * the transaction stores (rc 0), as it stores it: never an event refused,
 * kept pending or held, nor a duplicate, and without its body an event whose
 * redaction is held. A catch-up's batches wait for the commit as before.
 */
static void
s_decided(void *arg, const ingest_res_t *res, size_t n)
{
	size_t at = 0;

	for (pjob_t *p = arg; p && at < n; p = (pjob_t *)p->q.next) {
		size_t k = p->q.k, m = 0;
		/* None: its events are relayed after the commit, as before. */
		sync_admitted_t *adm = p->q.live ? malloc((k ? k : 1) * sizeof(*adm)) : NULL;
		for (size_t j = 0; adm && j < k && at + j < n; j++) {
			const ingest_res_t *r = &res[at + j];
			/* As the store holds it: whole, or without its body (a
			 * redaction of it is held here); anything else goes after
			 * the commit, read back from the store. */
			int whole = r->stored_len == p->flen[j],
			    bare = r->stored_len == EVT_FIXED_LEN;
			if (r->rc != 0 || r->stored_len == 0 || !(whole || bare))
				continue;
			adm[m].at = (uint32_t)p->at[j];
			adm[m++].len = (uint32_t)r->stored_len;
		}
		if (m)
			sync_put_admitted(p->job, adm, m);
		free(adm);
		at += k;
	}
}

/* Commits the jobs of list (n envelopes in all) in one transaction; early:
 * what it admits of live batches is relayed before the commit (s_decided). */
static void
s_commit_jobs(fed_t *f, pjob_t *list, size_t n, int early)
{
	const uint8_t **buf = malloc((n ? n : 1) * sizeof(*buf));
	size_t *len = malloc((n ? n : 1) * sizeof(*len)), at = 0;
	uint8_t *ok = malloc(n ? n : 1);
	json_t **bodies = calloc(n ? n : 1, sizeof(*bodies));
	ingest_res_t *res = calloc(n ? n : 1, sizeof(*res));
	size_t live = 0; /* envelopes of live batches: the list's first (fed_wq_take) */
	int err = CPT_ENOMEM;
	struct admitted adm = {NULL, 0, 0};

	if (buf && len && ok && bodies && res) {
		for (pjob_t *p = list; p; p = (pjob_t *)p->q.next) {
			memcpy(buf + at, p->fbuf, p->q.k * sizeof(*buf));
			memcpy(len + at, p->flen, p->q.k * sizeof(*len));
			memcpy(ok + at, p->ok, p->q.k);
			memcpy(bodies + at, p->bodies, p->q.k * sizeof(*bodies));
			live += p->q.live ? p->q.k : 0;
			at += p->q.k;
		}
		uint64_t t0 = s_now_us();
		int bulk = list && !list->q.live; /* live batches come first */
		if (bulk && fed_writer_io_bulk(1) != 0) {
			/* not fatal: the commit only keeps its priority */
		}
		/* Told what it decided only when a live batch is in it: for each
		 * event it stores, the node reads the transaction's envelope back
		 * (two lookups and a hash of its body) to say how it holds it,
		 * and a catch-up's batches alone would relay nothing early
		 * (s_decided skips them): 6,000 of the writer's 81,000
		 * instructions per event in a catch-up (session 13). */
		/* What it admits from waiting is told to the listeners before
		 * this returns (when this thread leads the group commit): kept
		 * for the last job below. */
		s_admitted = &adm;
		err = n ? node_submit_decided(f->node, buf, len, n, ok, bodies, res, live,
		                              early && !bulk ? s_decided : NULL, list)
		        : 0;
		s_admitted = NULL;
		if (bulk && fed_writer_io_bulk(0) != 0) {
			/* not fatal: the next commit sets it again */
		}
		log_debug("fed", "trace commit events=%zu in %llu us", n,
		          (unsigned long long)(s_now_us() - t0));
	}
	at = 0;
	while (list) {
		pjob_t *next = (pjob_t *)list->q.next;
		size_t k = list->q.k;
		/* Events that waited go out once every job of the transaction
		 * is back: the engine has noted who sent them, and skips those
		 * (they came back to their senders, 13-23 of a heal's 1,000). */
		if (next == NULL && adm.n)
			sync_put_announce(list->job, (const uint8_t(*)[CPT_ID_LEN])adm.ids, adm.n);
		s_pjob_finish(f, list, res ? res + at : NULL, res ? err : CPT_ENOMEM);
		at += k;
		list = next;
	}
	free(buf);
	free(len);
	free(ok);
	free(bodies); /* borrowed: the jobs own them (s_pjob_free) */
	free(res);
	free(adm.ids);
}

/* Under the pool's lock (vpool_progress_fn): more of p is checked. */
static void
s_progress(void *arg, size_t upto)
{
	pjob_t *p = arg;
	fed_writer_t *w = p->w;

	pthread_mutex_lock(&w->lock);
	p->upto = upto;
	if (p->streamed)
		pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* node_await_fn: envelope i of a streamed batch is checked (0); or the
 * transaction is given up (CPT_EAGAIN), when it may be, for a live batch
 * queued or another commit waiting: those would otherwise wait for the
 * pool to finish the batch, where they waited for one commit at most; or
 * for another catch-up batch entering the pool, which the gathering
 * (fed_wq_gather) commits with this one, as before streaming. */
static int
s_await(void *arg, size_t i, int may_stop)
{
	pjob_t *p = arg;
	fed_writer_t *w = p->w;
	int rc = 0;

	pthread_mutex_lock(&w->lock);
	while (p->upto <= i) {
		struct timespec until;
		if (may_stop && (w->q.lhead != NULL || atomic_load(&w->pooled) > 1 ||
		                 node_submit_waiting(w->fed->node))) {
			rc = CPT_EAGAIN;
			break;
		}
		/* Progress and queued batches signal; another commit does
		 * not, hence the wake-up every STREAM_POLL_MS. */
		until = s_deadline(STREAM_POLL_MS);
		pthread_cond_timedwait(&w->cond, &w->lock, &until);
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/*
 * Commits p, a catch-up batch the pool is still checking, in a transaction
 * built as the pool goes (node_submit_streamed): each envelope is ingested
 * once the pool's checked prefix covers it, so that once the pool is done
 * only the build of the last few and the commit remain (issue 23, session
 * 15: the heal's 1,000 were verified whole, then built in 17-20 ms, then
 * committed).
 */
static void
s_stream(fed_writer_t *w, pjob_t *p)
{
	size_t k = p->q.k;
	ingest_res_t *res = calloc(k ? k : 1, sizeof(*res));
	uint64_t t0 = s_now_us(), t1;
	int err = CPT_ENOMEM;
	struct admitted adm = {NULL, 0, 0}; /* as in s_commit_jobs */

	if (fed_writer_io_bulk(1) != 0) {
		/* not fatal: the commit only keeps its priority */
	}
	s_admitted = &adm;
	if (res)
		err = node_submit_streamed(w->fed->node, p->fbuf, p->flen, k, p->ok, p->bodies, res,
		                           s_await, p);
	s_admitted = NULL;
	if (fed_writer_io_bulk(0) != 0) {
		/* not fatal: the next commit sets it again */
	}
	t1 = s_now_us();
	pthread_mutex_lock(&w->lock);
	if (err == CPT_EAGAIN) {
		/* Given up (s_await): the batch goes the usual way, queued
		 * once checked (by s_verified, or here if it was already). */
		p->streamed = 0;
		if (p->pool_done)
			fed_wq_push(&w->q, &p->q);
		pthread_mutex_unlock(&w->lock);
		log_debug("fed", "trace stream given up events=%zu after %llu us", k,
		          (unsigned long long)(t1 - t0));
		free(res);
		free(adm.ids); /* nothing was stored, so nothing admitted */
		return;
	}
	/* A transaction that failed early left envelopes to the pool: it
	 * owns the batch's arrays until s_verified. */
	while (!p->pool_done)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
	log_debug("fed", "trace commit streamed events=%zu in %llu us, %llu us after the pool", k,
	          (unsigned long long)(t1 - t0),
	          (unsigned long long)(t1 > p->done_us ? t1 - p->done_us : 0));
	if (adm.n)
		sync_put_announce(p->job, (const uint8_t(*)[CPT_ID_LEN])adm.ids, adm.n);
	s_pjob_finish(w->fed, p, res, res ? err : CPT_ENOMEM);
	free(res);
	free(adm.ids);
}

void
fed_wq_init(fed_wq_t *q)
{
	q->head = q->lhead = NULL;
	q->tail = &q->head;
	q->ltail = &q->lhead;
}

void
fed_wq_push(fed_wq_t *q, fed_wq_item_t *it)
{
	it->next = NULL;
	if (it->live) {
		*q->ltail = it;
		q->ltail = &it->next;
	} else {
		*q->tail = it;
		q->tail = &it->next;
	}
}

/*
 * Every live batch waiting goes first, then the catch-up's in their order,
 * up to max envelopes in all (at least one batch). A live event thus waits
 * at most for the commit under way and its own, never for the thousands of
 * envelopes queued before it (twelve batches of 1,000 at a site healing:
 * four commits of 3,000, 5-8 s each on the simulator's shared disk). It
 * shares its transaction with the catch-up rather than going alone: alone,
 * each live relay that came during a heal cost a commit (two fsyncs) more,
 * about one per live event at every site healing.
 * Out of order is safe: an event whose parent is still queued waits in
 * `pending` and is admitted when the parent comes (what the batches of two
 * peers already do), and the engine acknowledges each message when its own
 * batch is committed, whatever the order.
 */
fed_wq_item_t *
fed_wq_take(fed_wq_t *q, size_t max, size_t *n_out)
{
	fed_wq_item_t *list = NULL, **lt = &list;
	size_t n = 0;

	for (int lane = 0; lane < 2; lane++) {
		fed_wq_item_t **qh = lane == 0 ? &q->lhead : &q->head;
		fed_wq_item_t ***qt = lane == 0 ? &q->ltail : &q->tail;
		while (*qh && (n == 0 || n + (*qh)->k <= max)) {
			fed_wq_item_t *it = *qh;
			*qh = it->next;
			it->next = NULL;
			n += it->k;
			*lt = it;
			lt = &it->next;
		}
		if (*qh == NULL)
			*qt = qh;
	}
	*n_out = n;
	return list;
}

int
fed_wq_gather(const fed_wq_t *q, size_t min, int pooled)
{
	size_t n = 0;

	if (q->lhead || q->head == NULL || pooled <= 0)
		return 0;
	for (const fed_wq_item_t *it = q->head; it; it = it->next)
		n += it->k;
	return n < min;
}

/* The monotonic clock ms from now, for pthread_cond_timedwait (the
 * writer's condition variable waits on CLOCK_MONOTONIC). */
static struct timespec
s_deadline(unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static void *
s_writer_main(void *arg)
{
	fed_writer_t *w = arg;

	size_t since_trim = 0; /* envelopes committed since the last malloc_trim */

	pthread_setname_np(pthread_self(), "cpt-writer"); /* top -H, perf */
	pthread_mutex_lock(&w->lock);
	for (;;) {
		pjob_t *list;
		size_t n = 0;
		while (w->q.head == NULL && w->q.lhead == NULL && !w->stop && w->cand == NULL)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->q.head == NULL && w->q.lhead == NULL && w->cand) {
			/* Nothing verified waits: build the batch the pool checks. */
			pjob_t *p = w->cand;
			w->cand = NULL;
			p->streamed = 1;
			pthread_mutex_unlock(&w->lock);
			since_trim += p->q.k; /* counted now: s_stream may free p */
			s_stream(w, p);
			pthread_mutex_lock(&w->lock);
			continue;
		}
		if (!w->stop && fed_wq_gather(&w->q, GATHER_MIN, atomic_load(&w->pooled))) {
			/* A catch-up: what the pool is verifying shares this commit
			 * (GATHER_MS). s_verified signals each batch it queues. */
			struct timespec until = s_deadline(GATHER_MS);
			while (!w->stop &&
			       fed_wq_gather(&w->q, GATHER_MIN, atomic_load(&w->pooled)))
				if (pthread_cond_timedwait(&w->cond, &w->lock, &until) != 0)
					break;
		}
		/* The pjob_t of each item: its first member. */
		list = (pjob_t *)fed_wq_take(&w->q, MERGE_MAX, &n);
		if (list == NULL)
			break;
		pthread_mutex_unlock(&w->lock);
		s_commit_jobs(w->fed, list, n, 1);
		since_trim += n;
		pthread_mutex_lock(&w->lock);
		if (since_trim >= TRIM_AFTER && w->q.head == NULL && w->q.lhead == NULL) {
			/* The burst is over: its freed heap goes back (below). */
			pthread_mutex_unlock(&w->lock);
			malloc_trim(0);
			since_trim = 0;
			pthread_mutex_lock(&w->lock);
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

fed_writer_t *
fed_writer_new(fed_t *f)
{
	fed_writer_t *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;

	if (w == NULL)
		return NULL;
	w->fed = f;
	fed_wq_init(&w->q);
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->way_lock, NULL);
	/* On the monotonic clock: the gathering's deadline (s_deadline). */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&w->thread, NULL, s_writer_main, w) != 0) {
		pthread_mutex_destroy(&w->lock);
		pthread_mutex_destroy(&w->way_lock);
		pthread_cond_destroy(&w->cond);
		free(w);
		return NULL;
	}
	return w;
}

void
fed_writer_destroy(fed_writer_t **self_p)
{
	fed_writer_t *w = *self_p;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_mutex_destroy(&w->way_lock);
	pthread_cond_destroy(&w->cond);
	free(w);
	*self_p = NULL;
}

/* A batch is verified (vpool_done_fn, or directly): to the writer. */
static void
s_verified(void *arg)
{
	pjob_t *p = arg;
	fed_writer_t *w = p->w;
	int pooled = p->pooled; /* read now: once queued, p is the writer's to free */

	log_debug("fed", "trace verified events=%zu in %llu us", p->q.k,
	          (unsigned long long)(s_now_us() - p->t_us));
	pthread_mutex_lock(&w->lock);
	if (w->cand == p)
		w->cand = NULL;
	if (p->streamed) {
		/* The writer builds it already (s_stream): the rest is checked. */
		p->upto = p->q.k;
		p->pool_done = 1;
		p->done_us = s_now_us();
		pthread_cond_signal(&w->cond);
		if (pooled)
			atomic_fetch_sub(&w->pooled, 1);
		pthread_mutex_unlock(&w->lock);
		return;
	}
	fed_wq_push(&w->q, &p->q);
	pthread_cond_signal(&w->cond);
	/* Once it is queued: a batch that sees 0 comes after this one. */
	if (pooled)
		atomic_fetch_sub(&w->pooled, 1);
	pthread_mutex_unlock(&w->lock);
}

unsigned long
fed_writer_inlined(fed_writer_t *w)
{
	return w ? atomic_load(&w->inlined) : 0;
}

int
fed_put(void *ctx, sync_put_t *job)
{
	fed_t *f = ctx;
	node_t *node = f->node;
	store_t *st = node_store(node);
	fed_writer_t *w = f->writer;
	size_t n = job->n, k = 0, dups = 0;
	pjob_t *p = calloc(1, sizeof(*p));
	store_txn_t *txn = NULL;
	int look = 1;

	if (p == NULL || (p->fbuf = calloc(n ? n : 1, sizeof(*p->fbuf))) == NULL ||
	    (p->flen = calloc(n ? n : 1, sizeof(*p->flen))) == NULL ||
	    (p->at = calloc(n ? n : 1, sizeof(*p->at))) == NULL ||
	    (p->ok = calloc(n ? n : 1, 1)) == NULL ||
	    (p->bodies = calloc(n ? n : 1, sizeof(*p->bodies))) == NULL) {
		s_pjob_free(p);
		return CPT_ENOMEM;
	}
	p->job = job;
	p->t_us = s_now_us();
	/* Duplicates are looked up before verification while batches bring
	 * some (relays crossing in a mesh): a lookup is ~20x cheaper than a
	 * signature check. A catch-up brings none, and there the lookups were
	 * 4% of the node's CPU: after 4 clean batches only one in 8 is looked
	 * up, to notice when duplicates come back. Those that get through are
	 * verified for nothing and then refused by the writer's put. */
	if (w) {
		look = w->clean < 4 || w->batches % 8 == 0;
		w->batches++;
	}
	if (!look || store_read_begin(st, &txn) != 0)
		txn = NULL;
	for (size_t i = 0; i < n; i++) {
		memset(job->ids[i], 0, CPT_ID_LEN);
		job->rc[i] = CPT_EEXIST;
		if (job->len[i] >= EVT_FIXED_LEN) {
			/* Hashed once: the lookup and the list of those on their
			 * way (s_way_add) both read it. */
			evt_id_raw(job->ids[i], job->buf[i]);
			if (txn && index_env_ts(txn, job->ids[i], NULL) == 0) {
				dups++;
				continue;
			}
		}
		p->fbuf[k] = job->buf[i];
		p->flen[k] = job->len[i];
		p->at[k++] = i;
	}
	if (txn) {
		store_read_end(st, &txn);
		if (w)
			w->clean = dups ? 0 : w->clean + 1;
	}
	p->q.k = k;
	if (k == 0 || w == NULL) {
		/* Nothing to store, or no writer thread: done here and now (the
		 * store checks the signatures itself when no pool did). */
		if (k > 0 && f->vpool)
			vpool_verify(f->vpool, p->fbuf, p->flen, k, node_ingest_ctx(node)->fed,
			             node_ingest_ctx(node)->max_body, p->ok, p->bodies);
		s_commit_jobs(f, p, k, 0);
		return 0;
	}
	/* Signatures on every core first, without holding up this (the
	 * network) thread: the pool hands the batch to the writer, in order.
	 * Without a pool, ok[] stays 0 and the writer checks them itself. */
	p->w = w;
	p->q.live = job->live;
	/* Held by the pool and the writer from now on: a reconciliation
	 * meanwhile takes them for stored (fed_writer_on_way), or it asked
	 * for them again (2,766 of a heal of 20,000 a side). */
	s_way_add(w, p);
	if (f->vpool && ((p->q.live && k <= LIVE_INLINE_MAX) ||
	                 (k <= INLINE_MAX && atomic_load(&w->pooled) == 0))) {
		/* ok[] stays 0: the writer checks them in its transaction. */
		atomic_fetch_add(&w->inlined, 1);
		s_verified(p);
		return 0;
	}
	if (f->vpool) {
		int stream = !p->q.live && k >= STREAM_MIN;
		p->pooled = 1;
		pthread_mutex_lock(&w->lock);
		/* Alone in the pool, no catch-up batch for the writer to
		 * commit (live ones go first): it may build this one while
		 * the pool checks it (s_stream). */
		if (stream && atomic_load(&w->pooled) == 0 && w->q.head == NULL &&
		    w->cand == NULL) {
			w->cand = p;
			pthread_cond_signal(&w->cond);
		}
		atomic_fetch_add(&w->pooled, 1);
		pthread_mutex_unlock(&w->lock);
		if (vpool_submit_progress(f->vpool, p->fbuf, p->flen, k, node_ingest_ctx(node)->fed,
		                          node_ingest_ctx(node)->max_body, p->ok, p->bodies,
		                          s_verified, stream ? s_progress : NULL, p) == 0)
			return 0;
		/* Not queued: checked by the writer in its transaction (ok[]
		 * stays 0), streamed or not. */
		s_verified(p);
		return 0;
	}
	s_verified(p);
	return 0;
}
