/*
 * The receive pipeline's last steps: batches from peers, verified on every
 * core (node/event/vpool.c), committed by a writer thread through the node's
 * group commit, then handed back to the engine, which acknowledges them.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

typedef struct pjob {
	struct pjob *next;    /* queue */
	sync_put_t *job;      /* the engine's */
	size_t k;             /* envelopes to store (not known here already) */
	const uint8_t **fbuf; /* them */
	size_t *flen;         /* their sizes */
	size_t *at;           /* their index in job */
	uint8_t *ok;          /* 1 when the pool verified it */
	json_t **bodies;      /* their bodies, parsed by the pool (or NULL) */
	fed_writer_t *w;      /* the writer it goes to once verified */
	uint64_t t_us;        /* when it was taken (the debug trace) */
	int pooled;           /* verified by the pool (counted in fed_writer.pooled) */
} pjob_t;

struct fed_writer {
	fed_t *fed;           /* whose */
	pthread_t thread;     /* the writer */
	pthread_mutex_t lock; /* guards what follows */
	pthread_cond_t cond;  /* a job was queued, or stop */
	pjob_t *head, **tail; /* verified batches, in arrival order */
	int stop;             /* leave once the queue is empty */
	/* the sync thread's (s_put), not under lock: */
	unsigned clean;        /* batches in a row looked up with no duplicate */
	unsigned long batches; /* batches seen */
	atomic_int pooled;     /* batches in the pool, not yet queued here: while one is, a
	                          small batch goes through the pool too, to keep the order */
	atomic_ulong inlined;  /* batches sent past the pool (fed_writer_inlined) */
};

/* Microseconds on the monotonic clock: the debug trace's durations. */
static uint64_t
s_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
s_pjob_free(pjob_t *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; p->bodies && i < p->k; i++)
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
	for (size_t j = 0; j < p->k; j++) {
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

/* Commits the jobs of list (n envelopes in all) in one transaction. */
static void
s_commit_jobs(fed_t *f, pjob_t *list, size_t n)
{
	const uint8_t **buf = malloc((n ? n : 1) * sizeof(*buf));
	size_t *len = malloc((n ? n : 1) * sizeof(*len)), at = 0;
	uint8_t *ok = malloc(n ? n : 1);
	json_t **bodies = calloc(n ? n : 1, sizeof(*bodies));
	ingest_res_t *res = calloc(n ? n : 1, sizeof(*res));
	int err = CPT_ENOMEM;

	if (buf && len && ok && bodies && res) {
		for (pjob_t *p = list; p; p = p->next) {
			memcpy(buf + at, p->fbuf, p->k * sizeof(*buf));
			memcpy(len + at, p->flen, p->k * sizeof(*len));
			memcpy(ok + at, p->ok, p->k);
			memcpy(bodies + at, p->bodies, p->k * sizeof(*bodies));
			at += p->k;
		}
		uint64_t t0 = s_now_us();
		err = n ? node_submit_verified(f->node, buf, len, n, ok, bodies, res) : 0;
		log_debug("fed", "trace commit events=%zu in %llu us", n,
		          (unsigned long long)(s_now_us() - t0));
	}
	at = 0;
	while (list) {
		pjob_t *next = list->next;
		size_t k = list->k;
		s_pjob_finish(f, list, res ? res + at : NULL, res ? err : CPT_ENOMEM);
		at += k;
		list = next;
	}
	free(buf);
	free(len);
	free(ok);
	free(bodies); /* borrowed: the jobs own them (s_pjob_free) */
	free(res);
}

static void *
s_writer_main(void *arg)
{
	fed_writer_t *w = arg;

	pthread_setname_np(pthread_self(), "cpt-writer"); /* top -H, perf */
	pthread_mutex_lock(&w->lock);
	for (;;) {
		pjob_t *list, **lt = &list;
		size_t n = 0;
		while (w->head == NULL && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->head == NULL)
			break;
		/* Everything waiting, up to MERGE_MAX envelopes (at least one job). */
		while (w->head && (n == 0 || n + w->head->k <= MERGE_MAX)) {
			pjob_t *p = w->head;
			w->head = p->next;
			p->next = NULL;
			n += p->k;
			*lt = p;
			lt = &p->next;
		}
		if (w->head == NULL)
			w->tail = &w->head;
		pthread_mutex_unlock(&w->lock);
		s_commit_jobs(w->fed, list, n);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

fed_writer_t *
fed_writer_new(fed_t *f)
{
	fed_writer_t *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->fed = f;
	w->tail = &w->head;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pthread_create(&w->thread, NULL, s_writer_main, w) != 0) {
		pthread_mutex_destroy(&w->lock);
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

	log_debug("fed", "trace verified events=%zu in %llu us", p->k,
	          (unsigned long long)(s_now_us() - p->t_us));
	pthread_mutex_lock(&w->lock);
	*w->tail = p;
	w->tail = &p->next;
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
		if (txn && job->len[i] >= EVT_FIXED_LEN) {
			evt_id_raw(job->ids[i], job->buf[i]);
			if (index_env_ts(txn, job->ids[i], NULL) == 0) {
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
	p->k = k;
	if (k == 0 || w == NULL) {
		/* Nothing to store, or no writer thread: done here and now (the
		 * store checks the signatures itself when no pool did). */
		if (k > 0 && f->vpool)
			vpool_verify(f->vpool, p->fbuf, p->flen, k, node_ingest_ctx(node)->fed,
			             node_ingest_ctx(node)->max_body, p->ok, p->bodies);
		s_commit_jobs(f, p, k);
		return 0;
	}
	/* Signatures on every core first, without holding up this (the
	 * network) thread: the pool hands the batch to the writer, in order.
	 * Without a pool, ok[] stays 0 and the writer checks them itself. */
	p->w = w;
	if (f->vpool && k <= INLINE_MAX && atomic_load(&w->pooled) == 0) {
		/* ok[] stays 0: the writer checks them in its transaction. */
		atomic_fetch_add(&w->inlined, 1);
		s_verified(p);
		return 0;
	}
	if (f->vpool) {
		p->pooled = 1;
		atomic_fetch_add(&w->pooled, 1);
		if (vpool_submit(f->vpool, p->fbuf, p->flen, k, node_ingest_ctx(node)->fed,
		                 node_ingest_ctx(node)->max_body, p->ok, p->bodies, s_verified,
		                 p) == 0)
			return 0;
		p->pooled = 0;
		atomic_fetch_sub(&w->pooled, 1);
	}
	s_verified(p);
	return 0;
}
