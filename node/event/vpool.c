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
#include <unistd.h>

#include "node/event/event.h"

struct vpool {
	pthread_t *threads;   /* workers */
	size_t n_threads;     /* how many */
	pthread_mutex_t lock; /* guards the job below */
	pthread_cond_t work;  /* a job is posted */
	pthread_cond_t done;  /* a worker finished its share */
	uint64_t generation;  /* bumps with each job */
	int stop;             /* workers leave */
	/* the job: */
	const uint8_t *const *buf; /* envelopes */
	const size_t *len;         /* lengths */
	size_t n;                  /* count */
	uint8_t *ok;               /* out: 1 when verified */
	json_t **bodies;           /* out: parsed bodies, or NULL */
	const uint8_t *fed;        /* federation id */
	uint32_t max_body;         /* body cap */
	size_t next;               /* next index to take */
	size_t finished;           /* envelopes done */
};

static void
s_check(vpool_t *p, size_t i)
{
	evt_t ev;

	p->ok[i] =
	    evt_decode(&ev, p->buf[i], p->len[i], p->max_body) == 0 && evt_verify(&ev, p->fed) == 0;
	/* The writer's JSON parse, done here on every core. */
	if (p->bodies)
		p->bodies[i] = p->ok[i] && ev.body ? index_body(&ev) : NULL;
}

/* Takes envelopes in chunks until the job is exhausted. */
static void
s_work(vpool_t *p)
{
	for (;;) {
		size_t from, to;
		pthread_mutex_lock(&p->lock);
		from = p->next;
		to = from + 16 < p->n ? from + 16 : p->n;
		p->next = to;
		pthread_mutex_unlock(&p->lock);
		if (from >= to)
			return;
		for (size_t i = from; i < to; i++)
			s_check(p, i);
		pthread_mutex_lock(&p->lock);
		p->finished += to - from;
		if (p->finished == p->n)
			pthread_cond_broadcast(&p->done);
		pthread_mutex_unlock(&p->lock);
	}
}

static void *
s_main(void *arg)
{
	vpool_t *p = arg;
	uint64_t seen = 0;

	pthread_setname_np(pthread_self(), "cpt-verify");
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && p->generation == seen)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->stop)
			break;
		seen = p->generation;
		pthread_mutex_unlock(&p->lock);
		s_work(p);
		pthread_mutex_lock(&p->lock);
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
		threads = c > 1 ? (size_t)c - 1 : 0; /* the caller works too */
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
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

void
vpool_verify(vpool_t *p, const uint8_t *const *buf, const size_t *len, size_t n,
             const uint8_t fed[CPT_FED_LEN], uint32_t max_body, uint8_t *ok, json_t **bodies)
{
	if (n == 0)
		return;
	pthread_mutex_lock(&p->lock);
	p->buf = buf;
	p->len = len;
	p->n = n;
	p->ok = ok;
	p->bodies = bodies;
	p->fed = fed;
	p->max_body = max_body;
	p->next = 0;
	p->finished = 0;
	p->generation++;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	/* The caller takes its share, then waits for the workers' last chunks. */
	s_work(p);
	pthread_mutex_lock(&p->lock);
	while (p->finished < p->n)
		pthread_cond_wait(&p->done, &p->lock);
	p->n = 0;
	pthread_mutex_unlock(&p->lock);
}
