/*
 * The node at run time: opening a data directory, the group commit every
 * write goes through, the clock of the events made here, the ring of
 * changes a live stream reads, the after-commit listeners, counters.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "node/core/core_internal.h"
#include "node/index/index.h"

#define RING      1024
#define LISTENERS 8

/* A caller of node_submit waiting for its batch to be committed. */
typedef struct wreq {
	const uint8_t *const *buf; /* envelopes */
	const size_t *len;         /* their lengths */
	size_t n;                  /* how many */
	ingest_res_t *res;         /* outcome of each */
	const uint8_t *verified;   /* signatures checked by the pool, or NULL */
	json_t *const *bodies;     /* bodies parsed by the pool, or NULL */
	enum node_origin origin;   /* where they come from: peers' alone may commit lazily */
	node_decided_fn decided;   /* told the outcome before the commit, or NULL */
	void *decided_arg;         /* for it */
	node_await_fn await;       /* waits for verified[i], or NULL (node_submit_streamed) */
	void *await_arg;           /* for it */
	int told;                  /* decided was called (a rerun transaction tells once) */
	int done;                  /* committed (or failed) */
	int rc;                    /* store error of the whole commit */
	node_change_t *later;      /* what the transaction admitted from waiting, told on this
	                              submitter's thread (s_submit), malloc'd, or NULL */
	size_t n_later;            /* how many */
	struct wreq *next;         /* queue link */
} wreq_t;

/* An after-commit listener. */
typedef struct listener {
	node_listener_fn fn; /* called */
	void *arg;           /* with this */
} listener_t;

struct node {
	char dir[4096];           /* data directory */
	cfg_t cfg;                /* configuration in force */
	store_t *st;              /* the store */
	ingest_ctx_t ictx;        /* ingest context (the committing leader's) */
	key_sign_t *site_key;     /* this site's signing key */
	key_curve_t *seal_key;    /* this site's seal key pair (keys/site.seal) */
	skey_ring_t *skeys;       /* the space keys this site holds (node/core/spaces.c) */
	pthread_mutex_t hlc_lock; /* guards hlc and the keys below */
	hlc_t hlc;                /* timestamps of events made here */

	pthread_mutex_t wlock; /* guards the write queue */
	pthread_cond_t wcond;  /* a batch was committed */
	wreq_t *queue;         /* waiting requests, oldest first */
	wreq_t **queue_tail;   /* where the next one goes */
	int leader;            /* a caller is committing now */

	pthread_mutex_t clock_;   /* guards the change ring and stats */
	pthread_cond_t ccond;     /* a change was added */
	node_change_t ring[RING]; /* the last changes */
	uint64_t seq;             /* newest change number */
	node_stats_t stats;       /* counters */

	pthread_mutex_t llock;           /* guards the listeners and the offer hook */
	listener_t listeners[LISTENERS]; /* after-commit listeners, in order */
	size_t n_listeners;              /* how many */
	node_offer_fn offer;             /* takes local events before their commit, or NULL */
	void *offer_arg;                 /* for it */

	uint64_t store_seq; /* store sequence last seen (node_poll_store) */
	/* under hlc_lock: */
	uint8_t newest[40];      /* greatest (ts, id) stored or seen: finds the CLI's events */
	uint8_t newest_tick[40]; /* newest at the last node_stored_since */
	uint8_t lowest[40];      /* smallest (ts, id) stored since then */
	int has_lowest;          /* lowest is set */
};

static void
s_hlc_init(node_t *n)
{
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;

	n->hlc.last = 0;
	if (store_read_begin(n->st, &txn) != 0)
		return;
	if (store_cur_open(txn, DB_ORDER, &cur) == 0) {
		if (store_cur_get(cur, &k, &v, STORE_LAST) == 0 && k.len == 40) {
			n->hlc.last = store_get_u64(k.data);
			memcpy(n->newest, k.data, 40);
			memcpy(n->newest_tick, k.data, 40);
		}
		store_cur_close(&cur);
	}
	n->store_seq = store_seq(txn);
	store_read_end(n->st, &txn);
}

int
node_open(node_t **out, const char *dir, char *err, size_t errlen)
{
	node_t *n;
	char path[4200], cerr[CFG_ERR_LEN];
	int rc;

	assert(out != NULL && dir != NULL);
	*out = NULL;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return CPT_ENOMEM;
	snprintf(n->dir, sizeof(n->dir), "%s", dir);
	pthread_mutex_init(&n->hlc_lock, NULL);
	pthread_mutex_init(&n->wlock, NULL);
	pthread_cond_init(&n->wcond, NULL);
	pthread_mutex_init(&n->clock_, NULL);
	pthread_cond_init(&n->ccond, NULL);
	pthread_mutex_init(&n->llock, NULL);
	n->queue_tail = &n->queue;
	snprintf(path, sizeof(path), "%s/comptoir.yaml", dir);
	if ((rc = cfg_load(&n->cfg, path, cerr)) != 0) {
		snprintf(err, errlen, "%s", cerr);
		goto fail;
	}
	if (!n->cfg.has_root_key) {
		snprintf(err, errlen,
		         "%s: no root_key: this site is not part of a federation yet "
		         "(comptoir init, or comptoir site install)",
		         path);
		rc = CPT_ECONFIG;
		goto fail;
	}
	log_set_level(n->cfg.log_level);
	snprintf(path, sizeof(path), "%s/keys/site.key", dir);
	if ((n->site_key = key_sign_load(path, err, errlen)) == NULL) {
		rc = CPT_EKEYFILE;
		goto fail;
	}
	if ((n->seal_key = node_seal_load(dir, err, errlen)) == NULL) {
		rc = CPT_EKEYFILE;
		goto fail;
	}
	if ((rc = index_store_open(&n->st, dir, 0, err, errlen)) != 0)
		goto fail;
	n->ictx.st = n->st;
	/* One writer (the group commit's leader) ingests for the node: the
	 * folds of spaces are kept between its transactions (index_txn_begin). */
	n->ictx.ix.keep_folds = 1;
	memcpy(n->ictx.root, n->cfg.root_key, CPT_KEY_LEN);
	evt_federation_id(n->ictx.fed, n->cfg.root_key);
	n->ictx.max_body = n->cfg.limits.max_body;
	n->ictx.max_pending = n->cfg.limits.max_pending;
	if ((rc = node_spaces_open(n, &n->skeys, err, errlen)) != 0)
		goto fail;
	s_hlc_init(n);
	n->stats.started_ms = hlc_wall_ms();
	*out = n;
	return 0;
fail:
	node_close(&n);
	return rc;
}

void
node_close(node_t **self_p)
{
	node_t *n = *self_p;

	if (n == NULL)
		return;
	ingest_ctx_release(&n->ictx);
	node_spaces_close(n, &n->skeys);
	store_close(&n->st);
	key_sign_destroy(&n->site_key);
	key_curve_destroy(&n->seal_key);
	pthread_mutex_destroy(&n->hlc_lock);
	pthread_mutex_destroy(&n->wlock);
	pthread_cond_destroy(&n->wcond);
	pthread_mutex_destroy(&n->clock_);
	pthread_cond_destroy(&n->ccond);
	pthread_mutex_destroy(&n->llock);
	free(n);
	*self_p = NULL;
}

store_t *
node_store(node_t *n)
{
	return n->st;
}

const cfg_t *
node_cfg(node_t *n)
{
	return &n->cfg;
}

const key_sign_t *
node_site_key(node_t *n)
{
	return n->site_key;
}

const key_curve_t *
node_seal_key(node_t *n)
{
	return n->seal_key;
}

key_curve_t *
node_seal_load(const char *dir, char *err, size_t errlen)
{
	char path[4200];
	key_curve_t *k;

	snprintf(path, sizeof(path), "%s/" NODE_SEAL_FILE, dir);
	if ((k = key_curve_load(path, err, errlen)) == NULL && access(path, F_OK) != 0)
		snprintf(err, errlen,
		         "%s: no seal key: this node was made before protocol version 2; make "
		         "it again with comptoir init",
		         path);
	return k;
}

ingest_ctx_t *
node_ingest_ctx(node_t *n)
{
	return &n->ictx;
}

/* ---------------------------------------------------------- group commit */

struct batch {
	node_t *node;      /* whose store */
	wreq_t *head;      /* the requests of this commit */
	int changed;       /* the last attempt had something to commit */
	uint64_t built_us; /* when the transaction was built, before its commit (debug trace) */
};

/* Microseconds on the monotonic clock: the debug trace's durations. */
static uint64_t
s_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Microseconds since the epoch: node_stats_t.stored_us. */
static uint64_t
s_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int
s_commit_fn(store_txn_t *txn, void *arg)
{
	struct batch *b = arg;
	int rc;

	int changed = 0;

	/* The folds of spaces outlive the transaction only if it commits. */
	index_txn_begin(&b->node->ictx.ix, txn);
	b->changed = 0;
	b->node->ictx.n_later = 0; /* this transaction's (a retry records them again) */
	for (wreq_t *r = b->head; r; r = r->next) {
		b->node->ictx.verified = r->verified;
		b->node->ictx.bodies = r->bodies;
		b->node->ictx.await = r->await;
		b->node->ictx.await_arg = r->await_arg;
		/* Given up, it takes nobody else's events with it (alone
		 * always, s_take_queue: checked all the same). */
		b->node->ictx.await_may_stop = r == b->head && r->next == NULL;
		rc = ingest_txn(&b->node->ictx, txn, r->buf, r->len, r->n, r->res);
		b->node->ictx.verified = NULL;
		b->node->ictx.bodies = NULL;
		b->node->ictx.await = NULL;
		b->node->ictx.await_arg = NULL;
		if (rc != 0)
			return rc;
		/* A request of no event releases held events: it commits. */
		changed |= r->n == 0;
		for (size_t i = 0; i < r->n && !changed; i++)
			changed = r->res[i].rc == 0 || r->res[i].rc == CPT_EPENDING ||
			          r->res[i].rc == CPT_EHELD || r->res[i].rc == CPT_EREVOKED;
	}
	/* Duplicates and refusals only: no commit, no fsync. */
	b->changed = changed || b->node->ictx.n_later;
	b->built_us = s_now_us();
	/* What the transaction decided, before its commit (node_submit_decided):
	 * the federation relays a peer's live events from here, so that the
	 * commits of a path overlap. Once only, though a commit that finds the
	 * map full runs this function again (with the same outcome: the same
	 * events on the same store). */
	for (wreq_t *r = b->head; r && b->changed; r = r->next) {
		if (!r->decided || r->told)
			continue;
		/* What goes on is what the store holds at the end: a redaction
		 * later in the transaction (or admitted from waiting) erases a
		 * body, a revocation may take an event back. */
		for (size_t i = 0; i < r->n; i++) {
			index_env_t v;
			r->res[i].stored_len = 0;
			if (r->res[i].rc == 0 && index_env_read(txn, r->res[i].id, &v) == 0)
				r->res[i].stored_len = index_env_len(&v);
		}
		r->told = 1;
		r->decided(r->decided_arg, r->res, r->n);
	}
	return b->changed ? 0 : STORE_NOCHANGE;
}

/* Adds a change to the ring (under clock_); its seq is set here, and the
 * time it was stored (stored_us: one clock reading per commit). */
static void
s_announce_change(node_t *n, const node_change_t *from, uint64_t stored_us)
{
	node_change_t *c;

	n->seq++;
	c = &n->ring[n->seq % RING];
	*c = *from;
	c->seq = n->seq;
	c->stored_us = stored_us;
}

static void
s_announce(node_t *n, const ingest_res_t *res, uint64_t ts, uint64_t stored_us)
{
	node_change_t c;

	memset(&c, 0, sizeof(c));
	c.ts = ts;
	c.kind = res->kind;
	memcpy(c.id, res->id, CPT_ID_LEN);
	memcpy(c.ref, res->ref, CPT_ID_LEN);
	c.has_ref = res->has_ref;
	s_announce_change(n, &c, stored_us);
}

/* A new event is stored (under hlc_lock): the watermarks may go down to it. */
static void
s_note_stored(node_t *n, const uint8_t key[40])
{
	if (!n->has_lowest || memcmp(key, n->lowest, 40) < 0) {
		memcpy(n->lowest, key, 40);
		n->has_lowest = 1;
	}
}

/*
 * How the group commit of these requests syncs. A transaction made only of
 * events that peers sent (NODE_PEER: the sync engine's batches) syncs its
 * data pages and only writes its meta page (STORE_LAZY_META): one sync
 * instead of two per commit, where each node of a federation commits each
 * live event alone. A kill -9 loses nothing of it; a power cut can undo it
 * while it is the last commit, and the peers that sent those events still
 * hold them and offer them again at the next reconciliation (ARCHITECTURE,
 * "Durability"). Anything else in the transaction — a local event (its 201
 * waits for this commit), an event made here and offered before its commit
 * (NODE_OFFERED: the peers may not have it), the release of held events —
 * makes it a full sync, which also makes an earlier lazy commit durable.
 */
static unsigned
s_sync_flags(const wreq_t *head)
{
	for (const wreq_t *r = head; r; r = r->next)
		if (r->origin != NODE_PEER || r->n == 0)
			return 0;
	return head ? STORE_LAZY_META : 0;
}

static int s_submit(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count,
                    ingest_res_t *res, enum node_origin origin, const uint8_t *verified,
                    json_t *const *bodies, node_decided_fn decided, void *decided_arg, size_t live,
                    node_await_fn await, void *await_arg);

int
node_submit(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count,
            ingest_res_t *res)
{
	return s_submit(n, buf, len, count, res, NODE_LOCAL, NULL, NULL, NULL, NULL, count, NULL,
	                NULL);
}

int
node_release_held(node_t *n)
{
	store_txn_t *txn;
	int due = 0;

	if (store_read_begin(n->st, &txn) == 0) {
		due = event_held_due(txn, hlc_wall_ms());
		store_read_end(n->st, &txn);
	}
	return due ? s_submit(n, NULL, NULL, 0, NULL, NODE_LOCAL, NULL, NULL, NULL, NULL, 0, NULL,
	                      NULL)
	           : 0;
}

int
node_submit_from_peer(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count,
                      ingest_res_t *res)
{
	return s_submit(n, buf, len, count, res, NODE_PEER, NULL, NULL, NULL, NULL, count, NULL,
	                NULL);
}

int
node_submit_verified(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count,
                     const uint8_t *verified, json_t *const *bodies, ingest_res_t *res)
{
	return s_submit(n, buf, len, count, res, NODE_PEER, verified, bodies, NULL, NULL, count,
	                NULL, NULL);
}

int
node_submit_decided(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count,
                    const uint8_t *verified, json_t *const *bodies, ingest_res_t *res, size_t live,
                    node_decided_fn decided, void *arg)
{
	return s_submit(n, buf, len, count, res, NODE_PEER, verified, bodies, decided, arg, live,
	                NULL, NULL);
}

int
node_submit_waiting(node_t *n)
{
	int waiting;

	pthread_mutex_lock(&n->wlock);
	waiting = n->queue != NULL;
	pthread_mutex_unlock(&n->wlock);
	return waiting;
}

int
node_submit_streamed(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count,
                     const uint8_t *verified, json_t *const *bodies, ingest_res_t *res,
                     node_await_fn await, void *arg)
{
	return s_submit(n, buf, len, count, res, NODE_PEER, verified, bodies, NULL, NULL, 0, await,
	                arg);
}

/* The listeners, called in order outside every lock of the node. */
static void
s_tell(node_t *n, const node_change_t *c, size_t count, enum node_origin origin)
{
	listener_t ls[LISTENERS];
	size_t nl;

	pthread_mutex_lock(&n->llock);
	nl = n->n_listeners;
	memcpy(ls, n->listeners, nl * sizeof(*ls));
	pthread_mutex_unlock(&n->llock);
	for (size_t i = 0; i < nl; i++)
		ls[i].fn(ls[i].arg, c, count, origin);
}

/* After a commit: a peer's timestamps move our clock on, and the listeners
 * hear of what was stored (envelopes from live on: a catch-up's). */
static void
s_after_commit(node_t *n, const uint8_t *const *buf, const size_t *len, const ingest_res_t *res,
               size_t count, enum node_origin origin, size_t live)
{
	node_change_t *c = malloc((count ? count : 1) * sizeof(*c));
	size_t k = 0;

	/* Timestamps of what peers sent move our clock on (PROTOCOL.md). */
	pthread_mutex_lock(&n->hlc_lock);
	for (size_t i = 0; i < count; i++) {
		uint64_t ts;
		uint8_t key[40];
		if (res[i].rc != 0 || len[i] < EVT_FIXED_LEN)
			continue;
		ts = store_env_ts(buf[i]);
		hlc_observe(&n->hlc, ts, hlc_wall_ms());
		/* Whatever this process stored is announced already: the
		 * store poll looks only beyond it, for the CLI's events. */
		store_tsid(key, ts, res[i].id);
		if (memcmp(key, n->newest, 40) > 0)
			memcpy(n->newest, key, 40);
		s_note_stored(n, key);
		if (c) {
			memset(&c[k], 0, sizeof(c[k]));
			c[k].ts = ts;
			c[k].kind = res[i].kind;
			memcpy(c[k].id, res[i].id, CPT_ID_LEN);
			memcpy(c[k].ref, res[i].ref, CPT_ID_LEN);
			c[k].catchup = i >= live;
			c[k++].has_ref = res[i].has_ref;
		}
	}
	pthread_mutex_unlock(&n->hlc_lock);
	if (k)
		s_tell(n, c, k, origin);
	free(c);
}

/*
 * What a commit stored moves n->newest on before the leader lets go (under
 * hlc_lock): node_poll_store, which waits for no leader to be at work,
 * looks only beyond it, and so never takes this process's events for
 * another's. When this was done later, in each submitter's s_after_commit,
 * a poll woken by the commit's write to data.mdb (inotify) in between
 * announced peers' events again as the CLI's, to every peer: a duplicate
 * on every link (1.5 to 3.2 duplicates per event in tests/sim).
 */
static void
s_newest(node_t *n, const struct batch *b)
{
	uint8_t key[40];

	pthread_mutex_lock(&n->hlc_lock);
	for (const wreq_t *r = b->head; r; r = r->next)
		for (size_t i = 0; i < r->n; i++) {
			if (r->res[i].rc != 0 || r->len[i] < EVT_FIXED_LEN)
				continue;
			store_tsid(key, store_env_ts(r->buf[i]), r->res[i].id);
			if (memcmp(key, n->newest, 40) > 0)
				memcpy(n->newest, key, 40);
		}
	for (size_t i = 0; i < n->ictx.n_later; i++) {
		store_tsid(key, n->ictx.later[i].ts, n->ictx.later[i].id);
		if (memcmp(key, n->newest, 40) > 0)
			memcpy(n->newest, key, 40);
	}
	pthread_mutex_unlock(&n->hlc_lock);
}

/* After a commit that admitted waiting events or released held ones (c,
 * their seq already given): the clock and the watermarks as for any stored
 * event, and the listeners hear of them as NODE_ADMITTED. */
static void
s_after_later(node_t *n, const node_change_t *c, size_t count)
{
	pthread_mutex_lock(&n->hlc_lock);
	for (size_t i = 0; i < count; i++) {
		uint8_t key[40];
		hlc_observe(&n->hlc, c[i].ts, hlc_wall_ms());
		store_tsid(key, c[i].ts, c[i].id);
		if (memcmp(key, n->newest, 40) > 0)
			memcpy(n->newest, key, 40);
		s_note_stored(n, key);
	}
	pthread_mutex_unlock(&n->hlc_lock);
	s_tell(n, c, count, NODE_ADMITTED);
}

/*
 * The requests the next transaction commits (under wlock): everything
 * queued, but a streamed request (node_submit_streamed) goes alone: sharing
 * its transaction, the others would wait for the pool to check its batch,
 * and it could not give the transaction up for them. First in the queue, it
 * goes now; behind others, they go first and it goes next, so that neither
 * waits more than one transaction for the other.
 */
static wreq_t *
s_take_queue(node_t *n)
{
	wreq_t *head = n->queue, *plain = NULL, **pt = &plain, *streamed = NULL, **st = &streamed;

	if (head && head->await) {
		n->queue = head->next;
		if (n->queue == NULL)
			n->queue_tail = &n->queue;
		head->next = NULL;
		return head;
	}
	for (wreq_t *r = head, *next; r; r = next) {
		next = r->next;
		r->next = NULL;
		if (r->await) {
			*st = r;
			st = &r->next;
		} else {
			*pt = r;
			pt = &r->next;
		}
	}
	n->queue = streamed;
	n->queue_tail = streamed ? st : &n->queue;
	return plain;
}

static int
s_submit(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count, ingest_res_t *res,
         enum node_origin origin, const uint8_t *verified, json_t *const *bodies,
         node_decided_fn decided, void *decided_arg, size_t live, node_await_fn await,
         void *await_arg)
{
	wreq_t me = {buf,   len,       count, res, verified, bodies, origin, decided, decided_arg,
	             await, await_arg, 0,     0,   0,        NULL,   0,      NULL};

	assert(n != NULL && (count == 0 || (buf && len && res)));
	pthread_mutex_lock(&n->wlock);
	*n->queue_tail = &me;
	n->queue_tail = &me.next;
	while (!me.done) {
		if (n->leader) {
			pthread_cond_wait(&n->wcond, &n->wlock);
			continue;
		}
		/* Lead: commit everything queued so far in one transaction. */
		struct batch b = {n, s_take_queue(n), 0, 0};
		n->leader = 1;
		pthread_mutex_unlock(&n->wlock);
		uint64_t t0 = s_now_us();
		int rc = store_write_flags(n->st, s_sync_flags(b.head), s_commit_fn, &b);
		if (log_enabled(LOG_LEVEL_DEBUG)) {
			uint64_t t1 = s_now_us();
			log_msg(LOG_LEVEL_DEBUG, "store",
			        "trace group commit rc=%d build %llu us commit %llu us", rc,
			        (unsigned long long)(b.built_us ? b.built_us - t0 : 0),
			        (unsigned long long)(b.built_us ? t1 - b.built_us : 0));
		}
		index_txn_end(&n->ictx.ix, rc == 0 && b.changed);
		node_change_t *later = NULL;
		size_t n_later = 0;
		if (rc == 0)
			s_newest(n, &b);
		pthread_mutex_lock(&n->clock_);
		uint64_t ingested = n->stats.ingested;
		uint64_t stored_us = s_wall_us();
		/* Events this transaction admitted from waiting or released from
		 * held: told like the others, to the ring here and to the
		 * listeners below (no submitter's res[] names them). */
		if (rc == 0 && n->ictx.n_later &&
		    (later = malloc(n->ictx.n_later * sizeof(*later))) != NULL) {
			for (size_t i = 0; i < n->ictx.n_later; i++) {
				const ingest_later_t *x = &n->ictx.later[i];
				node_change_t *c = &later[n_later++];
				memset(c, 0, sizeof(*c));
				c->ts = x->ts;
				c->kind = x->kind;
				memcpy(c->id, x->id, CPT_ID_LEN);
				memcpy(c->ref, x->ref, CPT_ID_LEN);
				c->has_ref = x->has_ref;
				n->stats.ingested++;
				s_announce_change(n, c, stored_us);
			}
		}
		for (wreq_t *r = b.head; r; r = r->next)
			for (size_t i = 0; i < r->n; i++) {
				if (rc == 0 && r->res[i].rc == 0) {
					n->stats.ingested++;
					s_announce(n, &r->res[i],
					           r->len[i] >= EVT_FIXED_LEN
					               ? store_env_ts(r->buf[i])
					               : 0,
					           stored_us);
				} else if (rc == 0 && r->res[i].rc == CPT_EPENDING) {
					n->stats.pending++;
				} else if (rc == 0 && r->res[i].rc != CPT_EEXIST) {
					n->stats.rejected++;
					if (r->res[i].rc < 0 && r->res[i].rc > -32)
						n->stats.rejected_by[-r->res[i].rc]++;
				}
			}
		/* When the store came to hold them: what a benchmark times a heal
		 * to (tests/bench/heal.py), exactly, instead of polling. */
		if (n->stats.ingested != ingested)
			n->stats.stored_us = stored_us;
		pthread_cond_broadcast(&n->ccond);
		pthread_mutex_unlock(&n->clock_);
		pthread_mutex_lock(&n->wlock);
		for (wreq_t *r = b.head, *next; r; r = next) {
			next = r->next;
			r->rc = rc;
			r->done = 1;
			/* What it admitted from waiting is told on the thread of the
			 * transaction's first peer batch, whoever led it: the
			 * federation's writer hands those to the engine with its
			 * batch, which knows by then who sent them and skips those
			 * peers (node/fed/writer.c). Told by a local post's leader,
			 * they reached the engine ahead of the batch and went back
			 * to their sender (issue 24, session 16). */
			if (later && r->origin == NODE_PEER) {
				r->later = later;
				r->n_later = n_later;
				later = NULL;
			}
		}
		n->leader = 0;
		pthread_cond_broadcast(&n->wcond);
		if (later) {
			pthread_mutex_unlock(&n->wlock);
			s_after_later(n, later, n_later);
			free(later);
			pthread_mutex_lock(&n->wlock);
		}
	}
	pthread_mutex_unlock(&n->wlock);
	if (me.later) {
		s_after_later(n, me.later, me.n_later);
		free(me.later);
	}
	if (me.rc == 0)
		s_after_commit(n, buf, len, res, count, origin, live);
	/* A full disk is logged by the store itself, at most every 10 s; a
	 * streamed transaction given up (CPT_EAGAIN) is no failure. */
	if (me.rc != 0 && me.rc != CPT_ENOSPC && me.rc != CPT_EAGAIN)
		log_warnx("store", "commit failed: %s", store_strerror(me.rc));
	return me.rc == 0 || me.rc == CPT_ENOSPC || me.rc == CPT_EAGAIN ? me.rc : CPT_EIO;
}

int
node_sign(node_t *n, const key_sign_t *author, uint16_t kind, const json_t *body, uint8_t **out,
          size_t *out_len)
{
	char *text = json_dumps(body, JSON_COMPACT);
	uint8_t *buf;
	size_t tlen;
	uint64_t ts;
	int rc;

	assert(n != NULL && author != NULL && body != NULL && out != NULL && out_len != NULL);
	*out = NULL;
	if (text == NULL)
		return CPT_ENOMEM;
	tlen = strlen(text);
	if ((buf = malloc(EVT_FIXED_LEN + tlen)) == NULL) {
		free(text);
		return CPT_ENOMEM;
	}
	pthread_mutex_lock(&n->hlc_lock);
	ts = hlc_next(&n->hlc, hlc_wall_ms());
	pthread_mutex_unlock(&n->hlc_lock);
	rc = evt_sign(buf, EVT_FIXED_LEN + tlen, out_len, kind, n->ictx.fed, ts,
	              (const uint8_t *)text, tlen, author);
	free(text);
	if (rc != 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

int
node_publish(node_t *n, const key_sign_t *author, uint16_t kind, const json_t *body,
             ingest_res_t *res)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	assert(n != NULL && author != NULL && body != NULL && res != NULL);
	rc = node_sign(n, author, kind, body, &buf, &len);
	if (rc == CPT_ENOMEM)
		return rc;
	if (rc == 0) {
		const uint8_t *b = buf;
		/* Peers get it while we commit: a peer's copy of an event we then
		 * lose in a crash comes back here by reconciliation. What counts
		 * as acknowledged (the 201) still waits for our own commit. */
		node_offer_fn offer;
		void *arg;
		pthread_mutex_lock(&n->llock);
		offer = n->offer;
		arg = n->offer_arg;
		pthread_mutex_unlock(&n->llock);
		int offered = offer && offer(arg, buf, len);
		rc = s_submit(n, &b, &len, 1, res, offered ? NODE_OFFERED : NODE_LOCAL, NULL, NULL,
		              NULL, NULL, 1, NULL, NULL);
		/* A peer's copy came back first (relayed round a cycle of links,
		 * or by a reconciliation) and its commit stored these very bytes
		 * before ours: the event is stored, not refused. Synced before it
		 * counts as acknowledged: a commit of peers' events may leave its
		 * meta page to the next sync (STORE_LAZY_META). */
		if (rc == 0 && offered && res->rc == CPT_EEXIST) {
			rc = store_sync(n->st);
			if (rc == 0)
				res->rc = 0;
		}
	} else {
		memset(res, 0, sizeof(*res));
		res->rc = rc;
		snprintf(res->why, sizeof(res->why), "body too big");
		rc = 0;
	}
	free(buf);
	return rc;
}

/* ----------------------------------------------------------- changes */

size_t
node_changes(node_t *n, uint64_t after, node_change_t *out, size_t max, int timeout_ms, int *lost)
{
	struct timespec until;
	size_t k = 0;

	cpt_deadline(&until, timeout_ms > 0 ? (uint64_t)timeout_ms : 0);
	*lost = 0;
	pthread_mutex_lock(&n->clock_);
	while (n->seq <= after) {
		if (pthread_cond_timedwait(&n->ccond, &n->clock_, &until) == ETIMEDOUT)
			break;
	}
	if (n->seq > after) {
		uint64_t from = after + 1;
		if (n->seq - after > RING) {
			*lost = 1;
			from = n->seq - RING + 1;
		}
		for (uint64_t s = from; s <= n->seq && k < max; s++)
			out[k++] = n->ring[s % RING];
	}
	pthread_mutex_unlock(&n->clock_);
	return k;
}

uint64_t
node_change_seq(node_t *n)
{
	uint64_t s;

	pthread_mutex_lock(&n->clock_);
	s = n->seq;
	pthread_mutex_unlock(&n->clock_);
	return s;
}

void
node_stats(node_t *n, node_stats_t *out)
{
	pthread_mutex_lock(&n->clock_);
	*out = n->stats;
	pthread_mutex_unlock(&n->clock_);
}

void
node_count_http(node_t *n, unsigned status)
{
	pthread_mutex_lock(&n->clock_);
	if (status / 100 >= 1 && status / 100 <= 5)
		n->stats.http_requests[status / 100]++;
	pthread_mutex_unlock(&n->clock_);
}

void
node_count_login(node_t *n, int ok)
{
	pthread_mutex_lock(&n->clock_);
	if (ok)
		n->stats.logins_ok++;
	else
		n->stats.logins_failed++;
	pthread_mutex_unlock(&n->clock_);
}

const char *
node_dir(node_t *n)
{
	return n->dir;
}

void
node_reload(node_t *n)
{
	char path[4200], err[CFG_ERR_LEN];
	cfg_t fresh;

	snprintf(path, sizeof(path), "%s/comptoir.yaml", n->dir);
	if (cfg_load(&fresh, path, err) != 0) {
		log_warnx("config", "reload refused, keeping the running config: %s", err);
		return;
	}
	/* What can change without a restart: log level and limits. */
	n->cfg.log_level = fresh.log_level;
	n->cfg.limits = fresh.limits;
	log_set_level(fresh.log_level);
	n->ictx.max_body = fresh.limits.max_body;
	n->ictx.max_pending = fresh.limits.max_pending;
	log_info("config", "reloaded path=%s", path);
}

/* --------------------------------------------------------- listeners */

int
node_listen(node_t *n, node_listener_fn fn, void *arg)
{
	int rc = 0;

	assert(n != NULL && fn != NULL);
	pthread_mutex_lock(&n->llock);
	if (n->n_listeners == LISTENERS)
		rc = CPT_EFULL;
	else
		n->listeners[n->n_listeners++] = (listener_t){fn, arg};
	pthread_mutex_unlock(&n->llock);
	return rc;
}

void
node_unlisten(node_t *n, node_listener_fn fn, void *arg)
{
	pthread_mutex_lock(&n->llock);
	for (size_t i = 0; i < n->n_listeners; i++)
		if (n->listeners[i].fn == fn && n->listeners[i].arg == arg) {
			memmove(&n->listeners[i], &n->listeners[i + 1],
			        (n->n_listeners - i - 1) * sizeof(n->listeners[0]));
			n->n_listeners--;
			break;
		}
	pthread_mutex_unlock(&n->llock);
}

void
node_set_offer(node_t *n, node_offer_fn fn, void *arg)
{
	pthread_mutex_lock(&n->llock);
	n->offer = fn;
	n->offer_arg = arg;
	pthread_mutex_unlock(&n->llock);
}

/* ----------------------------------------------- other processes' events */

#define POLL_MAX 256 /* events of another process taken per poll */

uint64_t
node_polled_seq(node_t *n)
{
	return n->store_seq;
}

void
node_poll_store(node_t *n)
{
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	node_change_t *c;
	size_t count = 0;
	uint64_t seq;
	int rc;

	/* Not while this process commits: its events are beyond n->newest
	 * until the leader moves it on (s_newest). */
	pthread_mutex_lock(&n->wlock);
	while (n->leader)
		pthread_cond_wait(&n->wcond, &n->wlock);
	if (store_read_begin(n->st, &txn) != 0) {
		pthread_mutex_unlock(&n->wlock);
		return;
	}
	seq = store_seq(txn);
	if (seq == n->store_seq) {
		/* Nothing since: every commit up to this snapshot is announced. */
		store_seen(n->st, txn);
		store_read_end(n->st, &txn);
		pthread_mutex_unlock(&n->wlock);
		return;
	}
	if ((c = calloc(POLL_MAX, sizeof(*c))) == NULL) {
		store_read_end(n->st, &txn);
		pthread_mutex_unlock(&n->wlock);
		return;
	}
	n->store_seq = seq;
	if (store_cur_open(txn, DB_ORDER, &cur) == 0) {
		pthread_mutex_lock(&n->hlc_lock);
		k.len = 40;
		k.data = n->newest;
		rc = store_cur_get(cur, &k, &v, STORE_SEEK);
		if (rc == 0 && memcmp(k.data, n->newest, 40) == 0)
			rc = store_cur_get(cur, &k, &v, STORE_NEXT);
		for (; rc == 0 && count < POLL_MAX; rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			if (k.len != 40)
				continue;
			c[count].ts = store_get_u64(k.data);
			c[count].kind = store_get_kind(&v);
			memcpy(c[count++].id, (const uint8_t *)k.data + 8, CPT_ID_LEN);
			memcpy(n->newest, k.data, 40);
			s_note_stored(n, k.data);
			hlc_observe(&n->hlc, store_get_u64(k.data), hlc_wall_ms());
		}
		pthread_mutex_unlock(&n->hlc_lock);
		store_cur_close(&cur);
	}
	/* Whatever this snapshot holds is announced now (beyond POLL_MAX, the
	 * next poll takes the rest). */
	if (count < POLL_MAX)
		store_seen(n->st, txn);
	else
		n->store_seq = 0; /* not all of it: the next poll reads on */
	store_read_end(n->st, &txn);
	pthread_mutex_unlock(&n->wlock);
	if (count) {
		s_tell(n, c, count, NODE_ELSEWHERE);
		pthread_mutex_lock(&n->clock_);
		uint64_t seen_us = s_wall_us();
		for (size_t i = 0; i < count; i++) {
			ingest_res_t r;
			memset(&r, 0, sizeof(r));
			memcpy(r.id, c[i].id, CPT_ID_LEN);
			r.kind = c[i].kind;
			s_announce(n, &r, c[i].ts, seen_us);
		}
		pthread_cond_broadcast(&n->ccond);
		pthread_mutex_unlock(&n->clock_);
	}
	free(c);
}

/* key + 1, as a 40-byte big-endian number: the first key after it. */
static void
s_key_next(uint8_t out[40], const uint8_t key[40])
{
	memcpy(out, key, 40);
	for (int i = 39; i >= 0 && ++out[i] == 0; i--)
		;
}

void
node_stored_since(node_t *n, uint8_t after[40], uint8_t low[40], int *has_low)
{
	pthread_mutex_lock(&n->hlc_lock);
	s_key_next(after, n->newest_tick);
	memcpy(n->newest_tick, n->newest, 40);
	*has_low = n->has_lowest;
	memcpy(low, n->lowest, 40);
	n->has_lowest = 0;
	pthread_mutex_unlock(&n->hlc_lock);
}
