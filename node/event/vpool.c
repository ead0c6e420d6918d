/*
 * Signature checks on every core: a pool of worker threads that decode and
 * verify envelopes of a batch in parallel, off the network loop, so the
 * single writer only stores (batches from peers, node/fed; a repair's scan).
 * The ingest path still decodes everything; it skips only the Ed25519
 * check of envelopes a worker verified here.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "node/event/event.h"

/* One batch to check: the caller's arrays, and where the workers are. */
typedef struct vjob {
	struct vjob *next;          /* queue */
	const uint8_t *const *buf;  /* envelopes */
	const size_t *len;          /* lengths */
	size_t n;                   /* count */
	uint8_t *ok;                /* out: 1 when verified */
	json_t **bodies;            /* out: parsed bodies, or NULL */
	const uint8_t *fed;         /* federation id */
	uint32_t max_body;          /* body cap */
	size_t next_i;              /* next index to take */
	size_t finished;            /* envelopes done */
	vpool_done_fn done;         /* called once every envelope is checked, or NULL */
	void *arg;                  /* its argument */
	int freed_by_pool;          /* malloc'd by vpool_submit (freed once done) */
	vpool_progress_fn progress; /* told the checked prefix as it grows, or NULL */
	uint8_t *chunk_done;        /* with progress: 1 per chunk of CHUNK checked */
	size_t upto;                /* with progress: envelopes [0, upto) checked */
} vjob_t;

#define CHUNK 16 /* envelopes a worker takes at a time */

struct vpool {
	pthread_t *threads;   /* workers */
	size_t n_threads;     /* how many */
	pthread_mutex_t lock; /* guards the queue and the jobs in it */
	pthread_cond_t work;  /* a job is posted */
	pthread_cond_t done;  /* a job finished */
	int stop;             /* workers leave */
	vjob_t *head, **tail; /* jobs in order: their done callbacks run in this order */
};

static void
s_check(const vjob_t *j, size_t i)
{
	evt_t ev;

	json_t *body = NULL;

	if (j->bodies == NULL) {
		j->ok[i] = evt_decode(&ev, j->buf[i], j->len[i], j->max_body) == 0 &&
		           evt_verify(&ev, j->fed) == 0;
		return;
	}
	/* The writer's JSON parse, done here on every core, is also the check
	 * of the body's rules that evt_decode would make (index_body applies
	 * the same ones): one parse instead of two. */
	j->ok[i] = evt_decode_lazy(&ev, j->buf[i], j->len[i], j->max_body) == 0 &&
	           (ev.body == NULL || (body = index_body(&ev)) != NULL) &&
	           evt_verify(&ev, j->fed) == 0;
	if (!j->ok[i]) {
		json_decref(body);
		body = NULL;
	}
	j->bodies[i] = body;
}

/* The first job with envelopes left to take (under lock), or NULL. */
static vjob_t *
s_open_job(vpool_t *p)
{
	for (vjob_t *j = p->head; j; j = j->next)
		if (j->next_i < j->n)
			return j;
	return NULL;
}

/*
 * Jobs at the head of the queue that are finished leave it, in order, and
 * their callbacks run (under lock: a callback only hands the job on). A job
 * finished behind an unfinished one waits for it, so that batches reach the
 * writer in the order they came.
 */
static void
s_retire(vpool_t *p)
{
	while (p->head && p->head->finished == p->head->n) {
		vjob_t *j = p->head;
		p->head = j->next;
		if (p->head == NULL)
			p->tail = &p->head;
		if (j->done)
			j->done(j->arg);
		if (j->freed_by_pool) {
			free(j->chunk_done);
			free(j);
		}
	}
	pthread_cond_broadcast(&p->done);
}

/* Takes envelopes in chunks of the oldest open job until only job is left
 * (only == NULL: until none is open). Called and returns under lock. */
static void
s_work(vpool_t *p, const vjob_t *only)
{
	vjob_t *j;

	while ((j = s_open_job(p)) != NULL && (only == NULL || j == only)) {
		size_t from = j->next_i, to = from + CHUNK < j->n ? from + CHUNK : j->n;
		j->next_i = to;
		pthread_mutex_unlock(&p->lock);
		for (size_t i = from; i < to; i++)
			s_check(j, i);
		pthread_mutex_lock(&p->lock);
		j->finished += to - from;
		if (j->chunk_done) {
			size_t was = j->upto;
			j->chunk_done[from / CHUNK] = 1;
			while (j->upto < j->n && j->chunk_done[j->upto / CHUNK])
				j->upto = j->upto + CHUNK < j->n ? j->upto + CHUNK : j->n;
			/* The whole job is told by done, not here. */
			if (j->upto > was && j->upto < j->n)
				j->progress(j->arg, j->upto);
		}
		if (j->finished == j->n)
			s_retire(p);
	}
}

/*
 * The workers run at a lower CPU priority than the node's other threads
 * (issue 24, session 11). What reaches the pool is bulk: a catch-up's or a
 * repair's batches (a live relay is checked by the writer, in its lane). At
 * nice 0 a site catching up gave its verification as much of the machine as
 * the threads that answer its staff and pass live events on; at nice 5 it
 * yields to them (a quarter of their weight), and takes the whole machine
 * when they are idle. The search index's writer stays below it, at nice 10
 * (issue 23: in a catch-up the index follows the store). Linux gives
 * each thread its own nice value (setpriority on a thread id); a process may
 * always lower its own priority, so this needs no privilege, and a failure
 * changes nothing but the priority.
 */
#define WORKER_NICE 5

static void *
s_main(void *arg)
{
	vpool_t *p = arg;

	pthread_setname_np(pthread_self(), "cpt-verify");
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), WORKER_NICE) != 0) {
		/* not fatal: the pool only loses its yielding */
	}
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && s_open_job(p) == NULL)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->stop)
			break;
		s_work(p, NULL);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

vpool_t *
vpool_new(size_t threads)
{
	vpool_t *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	if (threads == 0) {
		/* The cores this process may run on (taskset, systemd's
		 * CPUAffinity=, a container's cpuset), else those online. */
		cpu_set_t set;
		long c = sched_getaffinity(0, sizeof(set), &set) == 0
		             ? CPU_COUNT(&set)
		             : sysconf(_SC_NPROCESSORS_ONLN);
		threads = c > 1 ? (size_t)c : 1;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->tail = &p->head;
	p->threads = calloc(threads ? threads : 1, sizeof(*p->threads));
	for (size_t i = 0; i < threads && p->threads; i++)
		if (pthread_create(&p->threads[i], NULL, s_main, p) == 0)
			p->n_threads++;
	return p;
}

void
vpool_destroy(vpool_t **self_p)
{
	vpool_t *p = *self_p;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	/* Jobs still queued are finished first: their callbacks own memory. */
	s_work(p, NULL);
	while (p->head)
		pthread_cond_wait(&p->done, &p->lock);
	p->stop = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	free(p);
	*self_p = NULL;
}

/* Queues j (under lock) and wakes the workers. */
static void
s_post(vpool_t *p, vjob_t *j)
{
	*p->tail = j;
	p->tail = &j->next;
	pthread_cond_broadcast(&p->work);
}

void
vpool_verify(vpool_t *p, const uint8_t *const *buf, const size_t *len, size_t n,
             const uint8_t fed[CPT_FED_LEN], uint32_t max_body, uint8_t *ok, json_t **bodies)
{
	vjob_t j = {NULL, buf, len,  n,    ok, bodies, fed,  max_body,
	            0,    0,   NULL, NULL, 0,  NULL,   NULL, 0};

	if (n == 0)
		return;
	pthread_mutex_lock(&p->lock);
	s_post(p, &j);
	/* The caller takes its share, then waits until its job has left the
	 * queue (after those before it). */
	s_work(p, &j);
	for (;;) {
		int queued = 0;
		for (vjob_t *q = p->head; q; q = q->next)
			queued |= q == &j;
		if (!queued)
			break;
		pthread_cond_wait(&p->done, &p->lock);
	}
	pthread_mutex_unlock(&p->lock);
}

int
vpool_submit(vpool_t *p, const uint8_t *const *buf, const size_t *len, size_t n,
             const uint8_t fed[CPT_FED_LEN], uint32_t max_body, uint8_t *ok, json_t **bodies,
             vpool_done_fn done, void *arg)
{
	return vpool_submit_progress(p, buf, len, n, fed, max_body, ok, bodies, done, NULL, arg);
}

int
vpool_submit_progress(vpool_t *p, const uint8_t *const *buf, const size_t *len, size_t n,
                      const uint8_t fed[CPT_FED_LEN], uint32_t max_body, uint8_t *ok,
                      json_t **bodies, vpool_done_fn done, vpool_progress_fn progress, void *arg)
{
	vjob_t *j = calloc(1, sizeof(*j));
	uint8_t *cd = progress && n ? calloc(n / CHUNK + 1, 1) : NULL;

	if (j == NULL || (progress && n && cd == NULL)) {
		free(j);
		free(cd);
		return CPT_ENOMEM;
	}
	*j = (vjob_t){NULL, buf, len,  n,   ok, bodies,   fed, max_body,
	              0,    0,   done, arg, 1,  progress, cd,  0};
	pthread_mutex_lock(&p->lock);
	s_post(p, j);
	if (n == 0)
		s_retire(p);
	pthread_mutex_unlock(&p->lock);
	return 0;
}
