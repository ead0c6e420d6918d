/*
 * The node at run time: opening a data directory, the group commit every
 * write goes through, the ring of changes announced to listeners, counters,
 * and the foreground loop of `comptoir run` with its signals.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "node/node.h"

#define RING 1024

/* A caller of node_submit waiting for its batch to be committed. */
typedef struct wreq {
	const uint8_t *const *buf; /* envelopes */
	const size_t *len;         /* their lengths */
	size_t n;                  /* how many */
	ingest_res_t *res;         /* outcome of each */
	const uint8_t *verified;   /* signatures checked by the pool, or NULL */
	json_t *const *bodies;     /* bodies parsed by the pool, or NULL */
	int done;                  /* committed (or failed) */
	int rc;                    /* store error of the whole commit */
	struct wreq *next;         /* queue link */
} wreq_t;

/*
 * What a peer may still lack of ours when the engine cannot tell (the link
 * is down, or up but not yet reconciled): the events stored here at or after
 * a watermark. The watermark follows the peer while it is in step (link up,
 * a reconciliation ended since, nothing left to send); it goes down to any
 * older event that arrives meanwhile. Counted from the reconciliation index
 * (bk_fingerprint): an upper bound, since the peer may have some of them
 * from elsewhere. Kept in the store while the link is down (fed_peer_mark).
 */
typedef struct unsent {
	uint8_t key[CPT_KEY_LEN]; /* the peer's site key */
	char site[64];            /* its name, for a peer the engine has no link for */
	uint8_t from[40];         /* events at or after this (ts, id) may be missing there */
	int known;                /* from is set (never in step, nothing persisted: unknown) */
	uint8_t saved[40];        /* the watermark the store holds */
	int saved_known;          /* saved is set */
	uint64_t down_ms;         /* when its link went down (wall ms), 0 unknown */
	uint64_t count;           /* events stored here at or after from, at the last tick */
	int linked;               /* the engine had a link for it at the last tick */
	int revoked;              /* its certificate is revoked or expired */
} unsent_t;

struct node {
	char dir[4096];             /* data directory */
	cfg_t cfg;                  /* configuration in force */
	store_t *st;                /* the store */
	ingest_ctx_t ictx;          /* ingest context */
	key_sign_t *site_key;       /* this site's signing key */
	pthread_mutex_t hlc_lock;   /* guards hlc */
	hlc_t hlc;                  /* timestamps of events made here */

	pthread_mutex_t wlock;      /* guards the write queue */
	pthread_cond_t wcond;       /* a batch was committed */
	wreq_t *queue;              /* waiting requests, oldest first */
	wreq_t **queue_tail;        /* where the next one goes */
	int leader;                 /* a caller is committing now */

	pthread_mutex_t clock_;     /* guards the change ring and stats */
	pthread_cond_t ccond;       /* a change was added */
	node_change_t ring[RING];   /* the last changes */
	uint64_t seq;               /* newest change number */
	node_stats_t stats;         /* counters */

	sync_t *sync;               /* the sync engine while running, else NULL */
	vpool_t *vpool;             /* signature checks on every core, while running */
	struct fed_writer *writer;  /* commits batches from peers, while running */
	key_curve_t *curve;         /* transport key while running */
	uint8_t newest[40];         /* greatest (ts, id) announced: finds the CLI's events */
	uint64_t store_seq;         /* store sequence last seen */
	/* under hlc_lock, for the watermarks (s_unsent_tick): */
	uint8_t newest_tick[40];    /* newest at the last tick */
	uint8_t lowest[40];         /* smallest (ts, id) stored since the last tick */
	int has_lowest;             /* lowest is set */

	pthread_mutex_t unsent_lock;        /* guards what follows */
	unsent_t unsent[SYNC_MAX_PEERS];    /* per peer seen, in order of first sight */
	size_t n_unsent;                    /* how many */
	int self_revoked;                   /* this site is revoked: nothing goes out, ever */
	json_t *sites;                      /* fed_sites() for /api/status, or NULL */
	uint64_t sites_ms;                  /* when it was read (a second old at most) */
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

	*out = NULL;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return CPT_ENOMEM;
	snprintf(n->dir, sizeof(n->dir), "%s", dir);
	pthread_mutex_init(&n->hlc_lock, NULL);
	pthread_mutex_init(&n->wlock, NULL);
	pthread_cond_init(&n->wcond, NULL);
	pthread_mutex_init(&n->clock_, NULL);
	pthread_cond_init(&n->ccond, NULL);
	pthread_mutex_init(&n->unsent_lock, NULL);
	n->queue_tail = &n->queue;
	snprintf(path, sizeof(path), "%s/comptoir.yaml", dir);
	if ((rc = cfg_load(&n->cfg, path, cerr)) != 0) {
		snprintf(err, errlen, "%s", cerr);
		goto fail;
	}
	if (!n->cfg.has_root_key) {
		snprintf(err, errlen, "%s: no root_key: this site is not part of a federation yet "
			 "(comptoir init, or comptoir site install)", path);
		rc = CPT_ECONFIG;
		goto fail;
	}
	log_set_level(n->cfg.log_level);
	snprintf(path, sizeof(path), "%s/keys/site.key", dir);
	if ((n->site_key = key_sign_load(path, err, errlen)) == NULL) {
		rc = CPT_EKEYFILE;
		goto fail;
	}
	if ((rc = index_store_open(&n->st, dir, 0, err, errlen)) != 0)
		goto fail;
	n->ictx.st = n->st;
	memcpy(n->ictx.root, n->cfg.root_key, CPT_KEY_LEN);
	evt_federation_id(n->ictx.fed, n->cfg.root_key);
	n->ictx.max_body = n->cfg.limits.max_body;
	n->ictx.max_pending = n->cfg.limits.max_pending;
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
	store_close(&n->st);
	key_sign_destroy(&n->site_key);
	pthread_mutex_destroy(&n->hlc_lock);
	pthread_mutex_destroy(&n->wlock);
	pthread_cond_destroy(&n->wcond);
	pthread_mutex_destroy(&n->clock_);
	pthread_cond_destroy(&n->ccond);
	pthread_mutex_destroy(&n->unsent_lock);
	json_decref(n->sites);
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

ingest_ctx_t *
node_ingest_ctx(node_t *n)
{
	return &n->ictx;
}

/* ---------------------------------------------------------- group commit */

struct batch {
	node_t *node; /* whose store */
	wreq_t *head; /* the requests of this commit */
};

static int
s_commit_fn(store_txn_t *txn, void *arg)
{
	struct batch *b = arg;
	int rc;

	int changed = 0;

	for (wreq_t *r = b->head; r; r = r->next) {
		b->node->ictx.verified = r->verified;
		b->node->ictx.bodies = r->bodies;
		rc = ingest_txn(&b->node->ictx, txn, r->buf, r->len, r->n, r->res);
		b->node->ictx.verified = NULL;
		b->node->ictx.bodies = NULL;
		if (rc != 0)
			return rc;
		for (size_t i = 0; i < r->n && !changed; i++)
			changed = r->res[i].rc == 0 || r->res[i].rc == CPT_EPENDING;
	}
	/* Duplicates and refusals only: no commit, no fsync. */
	return changed ? 0 : STORE_NOCHANGE;
}

static void
s_announce(node_t *n, const ingest_res_t *res)
{
	node_change_t *c;

	n->seq++;
	c = &n->ring[n->seq % RING];
	c->seq = n->seq;
	c->kind = res->kind;
	memcpy(c->id, res->id, CPT_ID_LEN);
	memcpy(c->ref, res->ref, CPT_ID_LEN);
	c->has_ref = res->has_ref;
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

/* from_peer: 0 local (announce to peers after the commit), 1 from a peer
 * (the engine relays it), 2 local and already offered to peers. */
static int s_submit(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count,
		    ingest_res_t *res, int from_peer, const uint8_t *verified, json_t *const *bodies);

int
node_submit(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count, ingest_res_t *res)
{
	return s_submit(n, buf, len, count, res, 0, NULL, NULL);
}

int
node_submit_from_peer(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count,
		      ingest_res_t *res)
{
	return s_submit(n, buf, len, count, res, 1, NULL, NULL);
}

int
node_submit_verified(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count,
		     const uint8_t *verified, json_t *const *bodies, ingest_res_t *res)
{
	return s_submit(n, buf, len, count, res, 1, verified, bodies);
}

/* After a commit: peers hear of local events at once; a peer's timestamps
 * move our clock on; a revocation re-checks the links. */
static void
s_after_commit(node_t *n, const ingest_res_t *res, size_t count, int from_peer)
{
	uint8_t(*ids)[CPT_ID_LEN] = malloc((count ? count : 1) * CPT_ID_LEN);
	size_t k = 0;
	int revoked = 0;

	for (size_t i = 0; i < count; i++) {
		if (res[i].rc != 0)
			continue;
		if (ids)
			memcpy(ids[k++], res[i].id, CPT_ID_LEN);
		revoked |= res[i].kind == EVT_REVOKE;
	}
	if (!from_peer && k && n->sync)
		sync_announce(n->sync, (const uint8_t(*)[CPT_ID_LEN])ids, k);
	if (revoked && from_peer != 1)
		node_trust_changed(n);
	free(ids);
}

static int
s_submit(node_t *n, const uint8_t *const *buf, const size_t *len, size_t count, ingest_res_t *res,
	 int from_peer, const uint8_t *verified, json_t *const *bodies)
{
	wreq_t me = {buf, len, count, res, verified, bodies, 0, 0, NULL};

	pthread_mutex_lock(&n->wlock);
	*n->queue_tail = &me;
	n->queue_tail = &me.next;
	while (!me.done) {
		if (n->leader) {
			pthread_cond_wait(&n->wcond, &n->wlock);
			continue;
		}
		/* Lead: commit everything queued so far in one transaction. */
		struct batch b = {n, n->queue};
		n->queue = NULL;
		n->queue_tail = &n->queue;
		n->leader = 1;
		pthread_mutex_unlock(&n->wlock);
		int rc = store_write(n->st, s_commit_fn, &b);
		pthread_mutex_lock(&n->clock_);
		for (wreq_t *r = b.head; r; r = r->next)
			for (size_t i = 0; i < r->n; i++) {
				if (rc == 0 && r->res[i].rc == 0) {
					n->stats.ingested++;
					s_announce(n, &r->res[i]);
				} else if (rc == 0 && r->res[i].rc == CPT_EPENDING) {
					n->stats.pending++;
				} else if (rc == 0 && r->res[i].rc != CPT_EEXIST) {
					n->stats.rejected++;
					if (r->res[i].rc < 0 && r->res[i].rc > -32)
						n->stats.rejected_by[-r->res[i].rc]++;
				}
			}
		pthread_cond_broadcast(&n->ccond);
		pthread_mutex_unlock(&n->clock_);
		pthread_mutex_lock(&n->wlock);
		for (wreq_t *r = b.head, *next; r; r = next) {
			next = r->next;
			r->rc = rc;
			r->done = 1;
		}
		n->leader = 0;
		pthread_cond_broadcast(&n->wcond);
	}
	pthread_mutex_unlock(&n->wlock);
	if (me.rc == 0) {
		/* Timestamps of what peers sent move our clock on (PROTOCOL.md). */
		pthread_mutex_lock(&n->hlc_lock);
		for (size_t i = 0; i < count; i++) {
			uint64_t ts;
			if (res[i].rc != 0 || len[i] < EVT_FIXED_LEN)
				continue;
			ts = store_get_u64(buf[i] + 68);
			hlc_observe(&n->hlc, ts, hlc_wall_ms());
			/* Whatever this process stored is announced already: the
			 * store poll looks only beyond it, for the CLI's events. */
			{
				uint8_t key[40];
				store_put_u64(key, ts);
				memcpy(key + 8, res[i].id, CPT_ID_LEN);
				if (memcmp(key, n->newest, 40) > 0)
					memcpy(n->newest, key, 40);
				s_note_stored(n, key);
			}
		}
		pthread_mutex_unlock(&n->hlc_lock);
		s_after_commit(n, res, count, from_peer);
	}
	/* A full disk is logged by the store itself, at most every 10 s. */
	if (me.rc != 0 && me.rc != CPT_ENOSPC)
		log_warnx("store", "commit failed: %s", store_strerror(me.rc));
	return me.rc == 0 || me.rc == CPT_ENOSPC ? me.rc : CPT_EIO;
}

int
node_publish(node_t *n, const key_sign_t *author, uint16_t kind, const json_t *body, ingest_res_t *res)
{
	char *text = json_dumps(body, JSON_COMPACT);
	uint8_t *buf;
	size_t len, tlen;
	uint64_t ts;
	int rc;

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
	rc = evt_sign(buf, EVT_FIXED_LEN + tlen, &len, kind, n->ictx.fed, ts, (const uint8_t *)text,
		      tlen, author);
	free(text);
	if (rc == 0) {
		const uint8_t *b = buf;
		/* Peers get it while we commit: a peer's copy of an event we then
		 * lose in a crash comes back here by reconciliation. What counts
		 * as acknowledged (the 201) still waits for our own commit. */
		if (n->sync) {
			sync_offer(n->sync, buf, len);
			rc = s_submit(n, &b, &len, 1, res, 2, NULL, NULL);
		} else {
			rc = node_submit(n, &b, &len, 1, res);
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

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
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

vpool_t *
node_vpool(node_t *n)
{
	return n->vpool;
}

struct fed_writer *
node_fed_writer(node_t *n)
{
	return n->writer;
}

void
node_trust_changed(node_t *n)
{
	sync_recheck(n->sync);
}

/* The watermark entry of a peer, made (and loaded from the store) on first
 * sight when make is set; NULL when full or unknown. Under unsent_lock. */
static unsent_t *
s_unsent_of(node_t *n, const uint8_t key[CPT_KEY_LEN], int make)
{
	unsent_t *u;
	json_t *site;

	for (size_t i = 0; i < n->n_unsent; i++)
		if (memcmp(n->unsent[i].key, key, CPT_KEY_LEN) == 0)
			return &n->unsent[i];
	if (!make || n->n_unsent == SYNC_MAX_PEERS)
		return NULL;
	u = &n->unsent[n->n_unsent++];
	memset(u, 0, sizeof(*u));
	memcpy(u->key, key, CPT_KEY_LEN);
	if (fed_peer_marked(n, key, u->saved, &u->down_ms) == 0) {
		memcpy(u->from, u->saved, 40);
		u->known = u->saved_known = 1;
	}
	if ((site = fed_site(n, key)) != NULL) {
		snprintf(u->site, sizeof(u->site), "%s", json_string_value(json_object_get(site, "site")) ?: "");
		u->revoked = json_is_true(json_object_get(site, "revoked")) ||
			     json_is_true(json_object_get(site, "expired"));
		json_decref(site);
	}
	return u;
}

/* key + 1, as a 40-byte big-endian number: the first key after it. */
static void
s_key_next(uint8_t out[40], const uint8_t key[40])
{
	memcpy(out, key, 40);
	for (int i = 39; i >= 0 && ++out[i] == 0; i--)
		;
}

/* Keeps a watermark that moved (while the link is down, and at stop), so
 * that a restart still knows what the peer lacks. Under unsent_lock. */
static void
s_unsent_keep(node_t *n, unsent_t *u)
{
	if (u->known && (!u->saved_known || memcmp(u->saved, u->from, 40) != 0) &&
	    fed_peer_mark(n, u->key, u->from, u->down_ms) == 0) {
		memcpy(u->saved, u->from, 40);
		u->saved_known = 1;
	}
}

/* The peers a watermark was kept for: known before the engine links them
 * again (a peer that dials us is not linked until it does). */
static void
s_unsent_load(node_t *n)
{
	uint8_t(*keys)[CPT_KEY_LEN] = malloc(SYNC_MAX_PEERS * CPT_KEY_LEN);
	size_t k = keys ? fed_peer_keys(n, keys, SYNC_MAX_PEERS) : 0;

	pthread_mutex_lock(&n->unsent_lock);
	for (size_t i = 0; i < k; i++)
		s_unsent_of(n, keys[i], 1);
	pthread_mutex_unlock(&n->unsent_lock);
	free(keys);
}

/* Once a second: moves each peer's watermark and counts what lies above it
 * (see unsent_t). A peer in step holds every event we held at the previous
 * tick: those were announced since, and nothing is left unacknowledged. */
static void
s_unsent_tick(node_t *n)
{
	sync_peer_status_t *ps = calloc(SYNC_MAX_PEERS, sizeof(*ps));
	size_t np = ps ? sync_status(n->sync, ps, SYNC_MAX_PEERS) : 0;
	uint8_t after[40], low[40], inf[40];
	int has_low;
	store_txn_t *txn;

	if (ps == NULL)
		return;
	memset(inf, 0xff, sizeof(inf));
	pthread_mutex_lock(&n->hlc_lock);
	s_key_next(after, n->newest_tick);
	memcpy(n->newest_tick, n->newest, 40);
	has_low = n->has_lowest;
	memcpy(low, n->lowest, 40);
	n->has_lowest = 0;
	pthread_mutex_unlock(&n->hlc_lock);
	pthread_mutex_lock(&n->unsent_lock);
	{
		json_t *me = fed_site(n, key_sign_public(n->site_key));
		n->self_revoked = json_is_true(json_object_get(me, "revoked"));
		json_decref(me);
	}
	for (size_t i = 0; i < n->n_unsent; i++)
		n->unsent[i].linked = 0;
	for (size_t i = 0; i < np; i++) {
		unsent_t *u = s_unsent_of(n, ps[i].site_key, 1);
		if (u == NULL)
			continue;
		u->linked = 1;
		u->revoked = ps[i].revoked;
		if (ps[i].connected && ps[i].settled && ps[i].to_send == 0) {
			memcpy(u->from, after, 40);
			u->known = 1;
		}
		if (!ps[i].connected)
			u->down_ms = ps[i].since_ms;
	}
	for (size_t i = 0; i < n->n_unsent; i++) {
		/* Revoked meanwhile? (the engine says so for those it links) */
		json_t *site = n->unsent[i].linked ? NULL : fed_site(n, n->unsent[i].key);
		if (site)
			n->unsent[i].revoked = json_is_true(json_object_get(site, "revoked")) ||
					       json_is_true(json_object_get(site, "expired"));
		json_decref(site);
	}
	if (store_read_begin(n->st, &txn) == 0) {
		for (size_t i = 0; i < n->n_unsent; i++) {
			unsent_t *u = &n->unsent[i];
			uint8_t sum[32];
			if (u->known && has_low && memcmp(low, u->from, 40) < 0)
				memcpy(u->from, low, 40);
			u->count = 0;
			if (u->known && !u->revoked)
				bk_fingerprint(txn, u->from, inf, &u->count, sum);
		}
		store_read_end(n->st, &txn);
	}
	for (size_t i = 0; i < n->n_unsent; i++) {
		int up = 0;
		for (size_t j = 0; j < np; j++)
			up |= ps[j].connected && memcmp(ps[j].site_key, n->unsent[i].key, CPT_KEY_LEN) == 0;
		if (!up)
			s_unsent_keep(n, &n->unsent[i]);
	}
	pthread_mutex_unlock(&n->unsent_lock);
	free(ps);
}

/* At stop: every watermark that moved is kept. */
static void
s_unsent_save(node_t *n)
{
	pthread_mutex_lock(&n->unsent_lock);
	for (size_t i = 0; i < n->n_unsent; i++)
		s_unsent_keep(n, &n->unsent[i]);
	pthread_mutex_unlock(&n->unsent_lock);
}

size_t
node_peers(node_t *n, sync_peer_status_t *out, size_t max)
{
	size_t k = sync_status(n->sync, out, max);

	pthread_mutex_lock(&n->unsent_lock);
	for (size_t i = 0; i < k; i++) {
		unsent_t *u = s_unsent_of(n, out[i].site_key, 0);
		if (out[i].revoked || n->self_revoked)
			out[i].to_send = 0; /* nothing will go to it any more */
		else if (u && u->known && !(out[i].connected && out[i].settled) && u->count > out[i].to_send)
			out[i].to_send = u->count;
	}
	/* A peer that dials us and has not since this node started: still a
	 * site cut off, with what waits for it. */
	for (size_t i = 0; i < n->n_unsent && k < max; i++) {
		unsent_t *u = &n->unsent[i];
		int listed = 0;
		if (!u->known || u->site[0] == 0)
			continue;
		for (size_t j = 0; j < k && !listed; j++)
			listed = memcmp(out[j].site_key, u->key, CPT_KEY_LEN) == 0;
		if (listed)
			continue;
		memset(&out[k], 0, sizeof(out[k]));
		memcpy(out[k].site_key, u->key, CPT_KEY_LEN);
		snprintf(out[k].site, sizeof(out[k].site), "%s", u->site);
		out[k].since_ms = u->down_ms;
		out[k].revoked = u->revoked;
		out[k].to_send = u->revoked || n->self_revoked ? 0 : u->count;
		k++;
	}
	pthread_mutex_unlock(&n->unsent_lock);
	return k;
}

json_t *
node_peer_json(node_t *n, const sync_peer_status_t *p)
{
	char key[CPT_HEX_ID];
	json_t *j, *site = fed_site(n, p->site_key);
	const char *state = p->connected ? "connected" : p->refused ? "refused" : "unreachable";

	/* A revoked site is not an outage: nothing will ever reach it again. */
	if (p->revoked)
		state = json_is_true(json_object_get(site, "expired")) ? "expired" : "revoked";
	cpt_hex32(key, p->site_key);
	j = json_pack("{s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		      "site", p->site, "site_key", key, "endpoint", p->endpoint, "state", state,
		      "connected", p->connected,
		      "since_ms", (json_int_t)p->since_ms, "last_exchange_ms",
		      (json_int_t)p->last_exchange_ms, "last_reconcile_ms",
		      (json_int_t)p->last_reconcile_ms, "sent", (json_int_t)p->sent, "received",
		      (json_int_t)p->received, "rejected", (json_int_t)p->rejected, "to_send",
		      (json_int_t)p->to_send, "to_receive", (json_int_t)p->to_receive, "bytes_in",
		      (json_int_t)p->bytes_in, "bytes_out", (json_int_t)p->bytes_out, "rate_in",
		      (json_int_t)p->rate_in, "reconciliations", (json_int_t)p->reconciliations);
	/* How long receiving to_receive takes at rate_in, rounded up; null when
	 * nothing is coming or nothing is being stored yet. */
	if (j)
		json_object_set_new(j, "eta_s",
				    p->to_receive && p->rate_in
					? json_integer((json_int_t)((p->to_receive + p->rate_in - 1) / p->rate_in))
					: json_null());
	if (j && json_is_string(json_object_get(site, "title")))
		json_object_set(j, "title", json_object_get(site, "title"));
	json_decref(site);
	return j;
}

json_t *
node_peers_json(node_t *n)
{
	sync_peer_status_t *ps = calloc(SYNC_MAX_PEERS, sizeof(*ps));
	json_t *out = json_array();
	size_t np = ps ? node_peers(n, ps, SYNC_MAX_PEERS) : 0;

	for (size_t i = 0; out && i < np; i++)
		json_array_append_new(out, node_peer_json(n, &ps[i]));
	free(ps);
	return out;
}

void
node_status_json(node_t *n, json_t *status)
{
	json_t *sites, *x;
	uint64_t now = hlc_wall_ms();
	size_t i;

	/* Every open tab polls the status: the scan of the key records (0.4 ms
	 * at 5,000 users) is made once a second at most. */
	pthread_mutex_lock(&n->unsent_lock);
	if (n->sites == NULL || now - n->sites_ms >= 1000 || now < n->sites_ms) {
		json_decref(n->sites);
		n->sites = fed_sites(n);
		n->sites_ms = now;
	}
	sites = json_deep_copy(n->sites);
	pthread_mutex_unlock(&n->unsent_lock);
	if (sites == NULL)
		sites = json_array();

	json_array_foreach(sites, i, x) {
		if (!json_is_true(json_object_get(x, "self")))
			continue;
		if (json_is_string(json_object_get(x, "title")))
			json_object_set(status, "title", json_object_get(x, "title"));
		json_object_set(status, "revoked", json_object_get(x, "revoked"));
	}
	if (json_object_get(status, "revoked") == NULL)
		json_object_set_new(status, "revoked", json_false());
	json_object_set_new(status, "sites", sites);
	json_object_set_new(status, "peers", node_peers_json(n));
}

/* --------------------------------------------------------------- run */

static volatile sig_atomic_t s_stop, s_reload;

static void
s_on_signal(int sig)
{
	if (sig == SIGHUP)
		s_reload = 1;
	else
		s_stop = 1;
}

/* Starts the sync engine: our transport key, the listen endpoint, the peers. */
static int
s_start_sync(node_t *n)
{
	sync_conf_t sc;
	sync_peer_conf_t peers[SYNC_MAX_PEERS];
	size_t np;
	char path[4200], err[512];

	snprintf(path, sizeof(path), "%s/keys/site.curve", n->dir);
	if ((n->curve = key_curve_load(path, err, sizeof(err))) == NULL) {
		log_errorx("sync", "%s", err);
		return -1;
	}
	n->vpool = vpool_new(0);
	n->writer = fed_writer_new(n);
	memset(&sc, 0, sizeof(sc));
	snprintf(sc.listen, sizeof(sc.listen), "%s", n->cfg.listen);
	sc.curve = n->curve;
	memcpy(sc.site_key, key_sign_public(n->site_key), CPT_KEY_LEN);
	snprintf(sc.site, sizeof(sc.site), "%.63s", n->cfg.name);
	sc.max_msg = n->cfg.limits.max_msg;
	sc.heartbeat_ms = n->cfg.sync.heartbeat_ms;
	sc.reconcile_interval_s = n->cfg.sync.reconcile_interval;
	fed_sync_ops(n, &sc.ops);
	np = fed_peers(n, peers, SYNC_MAX_PEERS);
	if ((n->sync = sync_start(&sc, peers, np, err, sizeof(err))) == NULL) {
		log_errorx("sync", "%s", err);
		return -1;
	}
	return 0;
}

/* Events stored by another process (the CLI) are announced like our own. */
static void
s_poll_store(node_t *n)
{
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	uint8_t(*ids)[CPT_ID_LEN];
	uint16_t kinds[256];
	size_t count = 0;
	uint64_t seq;
	int rc, trust = 0;

	if (store_read_begin(n->st, &txn) != 0)
		return;
	seq = store_seq(txn);
	if (seq == n->store_seq || (ids = malloc(256 * CPT_ID_LEN)) == NULL) {
		store_read_end(n->st, &txn);
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
		for (; rc == 0 && count < 256; rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			if (k.len != 40)
				continue;
			kinds[count] = store_get_kind(&v);
			trust |= kinds[count] == EVT_REVOKE || kinds[count] == EVT_SITE_CERT;
			memcpy(ids[count++], (uint8_t *)k.data + 8, CPT_ID_LEN);
			memcpy(n->newest, k.data, 40);
			s_note_stored(n, k.data);
			hlc_observe(&n->hlc, store_get_u64(k.data), hlc_wall_ms());
		}
		pthread_mutex_unlock(&n->hlc_lock);
		store_cur_close(&cur);
	}
	store_read_end(n->st, &txn);
	if (count) {
		sync_announce(n->sync, (const uint8_t(*)[CPT_ID_LEN])ids, count);
		/* The trust state may have changed too (comptoir root revoke). */
		if (trust)
			node_trust_changed(n);
		pthread_mutex_lock(&n->clock_);
		for (size_t i = 0; i < count; i++) {
			ingest_res_t r;
			memset(&r, 0, sizeof(r));
			memcpy(r.id, ids[i], CPT_ID_LEN);
			r.kind = kinds[i];
			s_announce(n, &r);
		}
		pthread_cond_broadcast(&n->ccond);
		pthread_mutex_unlock(&n->clock_);
	}
	free(ids);
}

/* Writes dir/status.json (atomically) for `comptoir status`: the link state
 * lives in this process, the CLI reads it from there. */
static void
s_write_status(node_t *n)
{
	char path[4200], tmp[4300];
	json_t *root;

	root = json_pack("{s:I, s:i, s:o}", "written_ms", (json_int_t)hlc_wall_ms(), "pid", (int)getpid(),
			 "peers", node_peers_json(n));
	snprintf(path, sizeof(path), "%s/status.json", n->dir);
	snprintf(tmp, sizeof(tmp), "%s/status.json.tmp", n->dir);
	if (root && json_dump_file(root, tmp, JSON_COMPACT) == 0)
		rename(tmp, path);
	json_decref(root);
}

/* Peers added with `comptoir peer add` while running are dialed. */
static void
s_poll_peers(node_t *n)
{
	sync_peer_conf_t peers[SYNC_MAX_PEERS];
	size_t np = fed_peers(n, peers, SYNC_MAX_PEERS);

	for (size_t i = 0; i < np; i++)
		sync_add_peer(n->sync, &peers[i]);
}

static void
s_reload_config(node_t *n)
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

int
node_run(node_t *n)
{
	struct sigaction sa;
	sess_table_t *sessions;
	http_t *http;
	char err[512];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = s_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((sessions = sess_new(n->st, n->cfg.limits.max_sessions, n->cfg.limits.session_ttl,
				 n->cfg.limits.sessions_per_person)) == NULL) {
		log_errorx("node", "cannot allocate the session table");
		return 1;
	}
	if ((http = http_start(n, sessions, err, sizeof(err))) == NULL) {
		log_errorx("http", "%s", err);
		sess_destroy(&sessions);
		return 1;
	}
	if (s_start_sync(n) != 0) {
		http_stop(&http);
		sess_destroy(&sessions);
		return 1;
	}
	s_unsent_load(n);
	{
		/* The address as configured, with the port bound when it said 0. */
		char addr[CFG_MAX_STR];
		const char *colon = strrchr(n->cfg.http, ':');
		snprintf(addr, sizeof(addr), "%.*s:%u", colon ? (int)(colon - n->cfg.http) : (int)strlen(n->cfg.http),
			 n->cfg.http, http_port(http));
		log_info("node", "site %s running http=%s://%s/ listen=%s dir=%s", n->cfg.name,
			 n->cfg.tls.cert[0] ? "https" : "http", addr,
			 n->cfg.listen[0] ? n->cfg.listen : "off", n->dir);
	}
	for (unsigned tick = 0; !s_stop; tick++) {
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
		if (s_reload) {
			s_reload = 0;
			s_reload_config(n);
		}
		s_poll_store(n);
		if (tick % 10 == 0) {
			s_poll_peers(n);
			s_unsent_tick(n);
			s_write_status(n);
		}
		/* Every 10 s: idle sessions, and keys revoked with nobody asking
		 * since, leave memory (one store read per session). */
		if (tick % 100 == 0)
			sess_sweep(sessions);
	}
	log_info("node", "stopping");
	http_stop(&http);
	sync_stop(&n->sync);
	s_unsent_save(n);
	fed_writer_destroy(&n->writer);
	vpool_destroy(&n->vpool);
	key_curve_destroy(&n->curve);
	{
		char path[4200];
		snprintf(path, sizeof(path), "%s/status.json", n->dir);
		unlink(path);
	}
	sess_destroy(&sessions);
	return 0;
}
