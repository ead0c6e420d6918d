/*
 * The node's side of the federation: the store functions the sync engine
 * calls (has, get, put, scan, admit, lookup), the peers this site dials,
 * and the certificate files IT carries between machines (site requests,
 * site certificates).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/event/event_internal.h"
#include "node/node.h"
#include "sync/sync.h"

/* --------------------------------------------------------- sync ops */

#define LOG_REFUSED 5 /* refusals logged one by one per batch from a peer */

static int
s_has(void *ctx, const uint8_t id[CPT_ID_LEN])
{
	store_t *st = node_store(ctx);
	store_txn_t *txn;
	store_val_t v;
	int found;

	if (store_read_begin(st, &txn) != 0)
		return 1; /* cannot tell: do not ask for it now */
	/* Or waiting for its author's certificate: asking again would only
	 * bring the same bytes back at every reconciliation. */
	found = store_get(txn, DB_EVENTS, id, CPT_ID_LEN, &v) == 0 || index_is_pending(txn, id);
	store_read_end(st, &txn);
	return found;
}

static uint8_t *
s_get(void *ctx, const uint8_t id[CPT_ID_LEN], size_t *len)
{
	store_t *st = node_store(ctx);
	store_txn_t *txn;
	store_val_t v;
	uint8_t *copy = NULL;

	if (store_read_begin(st, &txn) != 0)
		return NULL;
	if (store_get(txn, DB_EVENTS, id, CPT_ID_LEN, &v) == 0 && (copy = malloc(v.len))) {
		memcpy(copy, v.data, v.len);
		*len = v.len;
	}
	store_read_end(st, &txn);
	return copy;
}

/* Copies of n envelopes in one read transaction. */
static void
s_get_many(void *ctx, const uint8_t (*ids)[CPT_ID_LEN], size_t n, uint8_t **out, size_t *len)
{
	store_t *st = node_store(ctx);
	store_txn_t *txn;
	store_val_t v;

	memset(out, 0, n * sizeof(*out));
	if (store_read_begin(st, &txn) != 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (store_get(txn, DB_EVENTS, ids[i], CPT_ID_LEN, &v) == 0 &&
		    (out[i] = malloc(v.len)) != NULL) {
			memcpy(out[i], v.data, v.len);
			len[i] = v.len;
		}
	store_read_end(st, &txn);
}

/*
 * Batches from peers, on their way to the store (ops.put). The sync thread
 * drops what is already stored (replays, relays that crossed, a peer's
 * re-announcements: answered from a read transaction, never reaching the
 * write path, so a batch of duplicates costs no fsync) and checks the
 * signatures of the rest on every core (node/verify.c). A writer thread then
 * commits the verified batches — all those waiting, in one transaction —
 * and hands each back to the engine, which acknowledges it. Verification of
 * batch k+1 thus overlaps the commit of batch k, and a backlog is stored in
 * large transactions: the cost of a commit (its page writes and fsyncs) is
 * shared by more events the further behind the site is.
 */
#define MERGE_MAX 3000 /* events per writer transaction, at most (heap: LMDB's dirty pages) */

typedef struct pjob {
	struct pjob *next;     /* queue */
	sync_put_t *job;       /* the engine's */
	size_t k;              /* envelopes to store (not known here already) */
	const uint8_t **fbuf;  /* them */
	size_t *flen;          /* their sizes */
	size_t *at;            /* their index in job */
	uint8_t *ok;           /* 1 when the pool verified it */
	json_t **bodies;       /* their bodies, parsed by the pool (or NULL) */
} pjob_t;

struct fed_writer {
	node_t *node;          /* where */
	pthread_t thread;      /* the writer */
	pthread_mutex_t lock;  /* guards what follows */
	pthread_cond_t cond;   /* a job was queued, or stop */
	pjob_t *head, **tail;  /* verified batches, in arrival order */
	int stop;              /* leave once the queue is empty */
	/* the sync thread's (s_put), not under lock: */
	unsigned clean;        /* batches in a row looked up with no duplicate */
	unsigned long batches; /* batches seen */
};

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
s_pjob_finish(node_t *node, pjob_t *p, const ingest_res_t *res, int err)
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
		if (err == 0 && res[j].rc != 0 && res[j].rc != CPT_EEXIST && res[j].rc != CPT_EPENDING &&
		    ++refused <= LOG_REFUSED) {
			/* A hostile batch holds up to 1000 of them: the first few
			 * are logged, the engine logs the count and the peer. */
			char hex[CPT_HEX_ID];
			cpt_hex32(hex, res[j].id);
			log_info("ingest", "refused event from a peer id=%s kind=%s reason=\"%s\"", hex,
				 evt_kind_name(res[j].kind), res[j].why);
		}
	}
	if (refused > LOG_REFUSED)
		log_info("ingest", "refused %zu more events of the same batch", refused - LOG_REFUSED);
	s_pjob_free(p);
	sync_put_done(job);
	/* After the relay (the engine handles its commands in order): the
	 * revocation then reaches the revoked site too, before its link closes. */
	if (revoked)
		node_trust_changed(node);
}

/* Commits the jobs of list (n envelopes in all) in one transaction. */
static void
s_commit_jobs(node_t *node, pjob_t *list, size_t n)
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
		err = n ? node_submit_verified(node, buf, len, n, ok, bodies, res) : 0;
	}
	at = 0;
	while (list) {
		pjob_t *next = list->next;
		size_t k = list->k;
		s_pjob_finish(node, list, res ? res + at : NULL, res ? err : CPT_ENOMEM);
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
		s_commit_jobs(w->node, list, n);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

fed_writer_t *
fed_writer_new(node_t *node)
{
	fed_writer_t *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->node = node;
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

static int
s_put(void *ctx, sync_put_t *job)
{
	node_t *node = ctx;
	store_t *st = node_store(node);
	fed_writer_t *w = node_fed_writer(node);
	size_t n = job->n, k = 0, dups = 0;
	pjob_t *p = calloc(1, sizeof(*p));
	store_txn_t *txn = NULL;
	int look = 1;

	if (p == NULL || (p->fbuf = calloc(n ? n : 1, sizeof(*p->fbuf))) == NULL ||
	    (p->flen = calloc(n ? n : 1, sizeof(*p->flen))) == NULL ||
	    (p->at = calloc(n ? n : 1, sizeof(*p->at))) == NULL || (p->ok = calloc(n ? n : 1, 1)) == NULL ||
	    (p->bodies = calloc(n ? n : 1, sizeof(*p->bodies))) == NULL) {
		s_pjob_free(p);
		return CPT_ENOMEM;
	}
	p->job = job;
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
		store_val_t v;
		memset(job->ids[i], 0, CPT_ID_LEN);
		job->rc[i] = CPT_EEXIST;
		if (txn && job->len[i] >= EVT_FIXED_LEN) {
			evt_id_raw(job->ids[i], job->buf[i]);
			if (store_get(txn, DB_EVENTS, job->ids[i], CPT_ID_LEN, &v) == 0) {
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
	/* Signatures on every core first; the writer then only stores. Without
	 * a pool, ok[] stays 0 and the writer checks them itself. */
	if (k > 0 && node_vpool(node))
		vpool_verify(node_vpool(node), p->fbuf, p->flen, k, node_ingest_ctx(node)->fed,
			     node_ingest_ctx(node)->max_body, p->ok, p->bodies);
	if (k == 0 || w == NULL) {
		/* Nothing to store, or no writer thread: done here and now. */
		s_commit_jobs(node, p, k);
		return 0;
	}
	pthread_mutex_lock(&w->lock);
	*w->tail = p;
	w->tail = &p->next;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

static size_t
s_scan(void *ctx, const uint8_t *after, uint8_t (*out)[SYNC_TSID_LEN], size_t max)
{
	store_t *st = node_store(ctx);
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	size_t n = 0;
	int rc;

	if (store_read_begin(st, &txn) != 0)
		return 0;
	if (store_cur_open(txn, DB_ORDER, &cur) != 0) {
		store_read_end(st, &txn);
		return 0;
	}
	if (after) {
		k.len = SYNC_TSID_LEN;
		k.data = (void *)after;
		rc = store_cur_get(cur, &k, &v, STORE_SEEK);
		if (rc == 0 && k.len == SYNC_TSID_LEN && memcmp(k.data, after, SYNC_TSID_LEN) == 0)
			rc = store_cur_get(cur, &k, &v, STORE_NEXT);
	} else {
		rc = store_cur_get(cur, &k, &v, STORE_FIRST);
	}
	for (; rc == 0 && n < max; rc = store_cur_get(cur, &k, &v, STORE_NEXT))
		if (k.len == SYNC_TSID_LEN)
			memcpy(out[n++], k.data, SYNC_TSID_LEN);
	store_cur_close(&cur);
	store_read_end(st, &txn);
	return n;
}

/* Is curve_pk the transport key of a site certified now? Scans the site
 * records: sites are few, and handshakes rare. */
static int
s_admit(void *ctx, const uint8_t curve_pk[CPT_KEY_LEN], uint8_t sign_key[CPT_KEY_LEN], char site[64])
{
	node_t *node = ctx;
	store_t *st = node_store(node);
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	char want[CPT_HEX_ID];
	int ok = 0, rc;
	/* A private context: the node's belongs to the writer thread, and its
	 * cache may hold a key record from before a revocation. */
	ingest_ctx_t ic = *node_ingest_ctx(node);

	memset(&ic.ix, 0, sizeof(ic.ix));
	ic.verified = NULL;
	cpt_hex32(want, curve_pk);
	if (store_read_begin(st, &txn) != 0)
		return 0;
	if (store_cur_open(txn, DB_KEYS, &cur) == 0) {
		for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0 && !ok;
		     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			json_t *rec;
			const char *type, *ck;
			if (k.len != CPT_KEY_LEN || memmem(v.data, v.len, want, 64) == NULL)
				continue;
			if ((rec = json_loadb(v.data, v.len, 0, NULL)) == NULL)
				continue;
			type = json_string_value(json_object_get(rec, "type"));
			ck = json_string_value(json_object_get(rec, "curve_key"));
			if (type && strcmp(type, "site") == 0 && ck && strcmp(ck, want) == 0 &&
			    event_key_status(&ic, txn, k.data, hlc_wall_ms(), NULL) == EVENT_KEY_SITE) {
				memcpy(sign_key, k.data, CPT_KEY_LEN);
				snprintf(site, 64, "%s", json_string_value(json_object_get(rec, "site")));
				ok = 1;
			}
			json_decref(rec);
		}
		store_cur_close(&cur);
	}
	store_read_end(st, &txn);
	ingest_ctx_release(&ic);
	return ok;
}

static int
s_lookup(void *ctx, const uint8_t sign_key[CPT_KEY_LEN], uint8_t curve_pk[CPT_KEY_LEN], char site[64])
{
	store_t *st = node_store(ctx);
	store_txn_t *txn;
	json_t *rec;
	int rc = CPT_ENOTFOUND;

	if (store_read_begin(st, &txn) != 0)
		return CPT_EIO;
	rec = index_key_info(txn, sign_key);
	store_read_end(st, &txn);
	if (rec && json_string_value(json_object_get(rec, "type")) &&
	    strcmp(json_string_value(json_object_get(rec, "type")), "site") == 0 &&
	    index_hex_field(rec, "curve_key", curve_pk) == 0) {
		snprintf(site, 64, "%s", json_string_value(json_object_get(rec, "site")));
		rc = 0;
	}
	json_decref(rec);
	return rc;
}

static void
s_fingerprint(void *ctx, const uint8_t *lo, const uint8_t *hi, uint64_t *count, uint8_t fp[16])
{
	store_t *st = node_store(ctx);
	store_txn_t *txn;
	uint8_t sum[32] = {0};

	*count = 0;
	if (store_read_begin(st, &txn) == 0) {
		bk_fingerprint(txn, lo, hi, count, sum);
		store_read_end(st, &txn);
	}
	recon_fingerprint(fp, sum, *count);
}

static size_t
s_items(void *ctx, const uint8_t *lo, const uint8_t *hi, uint8_t (*out)[SYNC_TSID_LEN], size_t max)
{
	store_t *st = node_store(ctx);
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k = {SYNC_TSID_LEN, (void *)lo}, v;
	size_t n = 0;
	int rc;

	if (store_read_begin(st, &txn) != 0)
		return 0;
	if (store_cur_open(txn, DB_ORDER, &cur) == 0) {
		for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0 && n < max;
		     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			if (k.len != SYNC_TSID_LEN)
				continue;
			if (memcmp(k.data, hi, SYNC_TSID_LEN) >= 0)
				break;
			memcpy(out[n++], k.data, SYNC_TSID_LEN);
		}
		store_cur_close(&cur);
	}
	store_read_end(st, &txn);
	return n;
}

static size_t
s_split(void *ctx, const uint8_t *lo, const uint8_t *hi, uint64_t count, size_t k,
	uint8_t (*bounds)[SYNC_TSID_LEN])
{
	store_t *st = node_store(ctx);
	store_txn_t *txn;
	size_t n = 0;

	if (store_read_begin(st, &txn) != 0)
		return 0;
	n = bk_split(txn, lo, hi, count, k, bounds);
	store_read_end(st, &txn);
	return n;
}

void
fed_sync_ops(node_t *n, sync_ops_t *ops)
{
	ops->fingerprint = s_fingerprint;
	ops->items = s_items;
	ops->split = s_split;
	ops->ctx = n;
	ops->has = s_has;
	ops->get = s_get;
	ops->get_many = s_get_many;
	ops->put = s_put;
	ops->scan = s_scan;
	ops->admit = s_admit;
	ops->lookup = s_lookup;
}

/* The peers this site dials: the config's, then those added with `peer add`. */
size_t
fed_peers(node_t *n, sync_peer_conf_t *out, size_t max)
{
	const cfg_t *cfg = node_cfg(n);
	store_t *st = node_store(n);
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	size_t count = 0;

	for (size_t i = 0; i < cfg->n_peers && count < max; i++) {
		snprintf(out[count].endpoint, sizeof(out[count].endpoint), "%s", cfg->peers[i].endpoint);
		memcpy(out[count].site_key, cfg->peers[i].site_key, CPT_KEY_LEN);
		count++;
	}
	if (store_read_begin(st, &txn) != 0)
		return count;
	if (store_cur_open(txn, DB_PEERS, &cur) == 0) {
		for (int rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0 && count < max;
		     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			json_t *rec = json_loadb(v.data, v.len, 0, NULL);
			const char *ep = json_string_value(json_object_get(rec, "endpoint"));
			int dup = 0;
			for (size_t i = 0; i < count; i++)
				dup |= memcmp(out[i].site_key, k.data, CPT_KEY_LEN) == 0;
			if (ep && k.len == CPT_KEY_LEN && !dup) {
				snprintf(out[count].endpoint, sizeof(out[count].endpoint), "%s", ep);
				memcpy(out[count].site_key, k.data, CPT_KEY_LEN);
				count++;
			}
			json_decref(rec);
		}
		store_cur_close(&cur);
	}
	store_read_end(st, &txn);
	return count;
}

struct peer_put {
	store_t *st;              /* where */
	uint8_t key[CPT_KEY_LEN]; /* site key */
	json_t *rec;              /* fields to set: {"endpoint", "site"}, or {"unsent_from"} */
};

/* Sets the fields of rec in the peer's record, keeping the others (a peer
 * added again keeps its watermark, a watermark keeps the endpoint). */
static int
s_peer_put_fn(store_txn_t *txn, void *arg)
{
	struct peer_put *p = arg;
	json_t *old = store_get_json(txn, DB_PEERS, p->key, CPT_KEY_LEN);
	int rc;

	if (!json_is_object(old)) {
		json_decref(old);
		old = json_object();
	}
	if (old == NULL || json_object_update(old, p->rec) != 0) {
		json_decref(old);
		return CPT_ENOMEM;
	}
	rc = store_put_json(txn, DB_PEERS, p->key, CPT_KEY_LEN, old);
	json_decref(old);
	return rc;
}

int
fed_peer_add(node_t *n, const uint8_t site_key[CPT_KEY_LEN], const char *endpoint, const char *site)
{
	struct peer_put p = {node_store(n), {0}, json_pack("{s:s, s:s}", "endpoint", endpoint, "site", site)};
	int rc;

	if (p.rec == NULL)
		return CPT_ENOMEM;
	memcpy(p.key, site_key, CPT_KEY_LEN);
	rc = store_write(node_store(n), s_peer_put_fn, &p);
	json_decref(p.rec);
	return rc;
}

int
fed_peer_mark(node_t *n, const uint8_t site_key[CPT_KEY_LEN], const uint8_t from[40], uint64_t down_ms)
{
	char hex[81];
	struct peer_put p = {node_store(n), {0}, NULL};
	int rc;

	sodium_bin2hex(hex, sizeof(hex), from, 40);
	if ((p.rec = json_pack("{s:s, s:I}", "unsent_from", hex, "down_ms", (json_int_t)down_ms)) == NULL)
		return CPT_ENOMEM;
	memcpy(p.key, site_key, CPT_KEY_LEN);
	rc = store_write(node_store(n), s_peer_put_fn, &p);
	json_decref(p.rec);
	return rc;
}

int
fed_peer_marked(node_t *n, const uint8_t site_key[CPT_KEY_LEN], uint8_t from[40], uint64_t *down_ms)
{
	store_t *st = node_store(n);
	store_txn_t *txn;
	json_t *rec;
	const char *hex;
	size_t len = 0;
	int rc = CPT_ENOTFOUND;

	if (store_read_begin(st, &txn) != 0)
		return CPT_EIO;
	rec = store_get_json(txn, DB_PEERS, site_key, CPT_KEY_LEN);
	store_read_end(st, &txn);
	hex = json_string_value(json_object_get(rec, "unsent_from"));
	if (hex && strlen(hex) == 80 && sodium_hex2bin(from, 40, hex, 80, NULL, &len, NULL) == 0 && len == 40)
		rc = 0;
	*down_ms = (uint64_t)json_integer_value(json_object_get(rec, "down_ms"));
	json_decref(rec);
	return rc;
}

size_t
fed_peer_keys(node_t *n, uint8_t (*out)[CPT_KEY_LEN], size_t max)
{
	store_t *st = node_store(n);
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	size_t count = 0;

	if (store_read_begin(st, &txn) != 0)
		return 0;
	if (store_cur_open(txn, DB_PEERS, &cur) == 0) {
		for (int rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0 && count < max;
		     rc = store_cur_get(cur, &k, &v, STORE_NEXT))
			if (k.len == CPT_KEY_LEN)
				memcpy(out[count++], k.data, CPT_KEY_LEN);
		store_cur_close(&cur);
	}
	store_read_end(st, &txn);
	return count;
}

/* ----------------------------------------------------- sites by name */

/* A site record (DB_KEYS) as the API shows it. */
static json_t *
s_site_json(store_txn_t *txn, store_t *st, const uint8_t key[CPT_KEY_LEN], const json_t *rec,
	    const uint8_t self[CPT_KEY_LEN], uint64_t now)
{
	store_val_t v;
	char hex[CPT_HEX_ID];
	json_int_t nb = json_integer_value(json_object_get(rec, "not_before"));
	json_int_t na = json_integer_value(json_object_get(rec, "not_after"));
	int revoked = store_get(txn, DB_REVOKED, key, CPT_KEY_LEN, &v) == 0 && v.len == 8 &&
		      store_get_u64(v.data) <= now;
	json_t *j;

	cpt_hex32(hex, key);
	j = json_pack("{s:O, s:s, s:b, s:b, s:b}", "site", json_object_get(rec, "site"), "key", hex,
		      "revoked", revoked, "expired", !revoked && ((na && (uint64_t)na <= now) || (uint64_t)nb > now),
		      "self", self && memcmp(key, self, CPT_KEY_LEN) == 0);
	if (j && json_is_string(json_object_get(rec, "title")))
		json_object_set(j, "title", json_object_get(rec, "title"));
	return j;
}

json_t *
fed_site(node_t *n, const uint8_t key[CPT_KEY_LEN])
{
	store_t *st = node_store(n);
	store_txn_t *txn;
	json_t *rec, *j = NULL;

	if (store_read_begin(st, &txn) != 0)
		return NULL;
	rec = index_key_info(txn, key);
	if (rec && strcmp(json_string_value(json_object_get(rec, "type")) ?: "", "site") == 0)
		j = s_site_json(txn, st, key, rec, key_sign_public(node_site_key(n)), hlc_wall_ms());
	json_decref(rec);
	store_read_end(st, &txn);
	return j;
}

static int
s_by_site(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;

	return strcmp(json_string_value(json_object_get(x, "site")) ?: "",
		      json_string_value(json_object_get(y, "site")) ?: "");
}

/*
 * Every site certificate held here, by name. DB_KEYS holds users too, and
 * sites are few: the records that cannot be a site's are skipped before
 * parsing (they are stored with sorted keys, so a site's says "type":"site").
 */
json_t *
fed_sites(node_t *n)
{
	static const char tag[] = "\"type\":\"site\"";
	store_t *st = node_store(n);
	const uint8_t *self = key_sign_public(node_site_key(n));
	uint64_t now = hlc_wall_ms();
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	json_t *out = json_array(), **all = NULL;
	size_t count = 0, cap = 0;

	if (out == NULL || store_read_begin(st, &txn) != 0)
		return out;
	if (store_cur_open(txn, DB_KEYS, &cur) == 0) {
		for (int rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
		     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			json_t *rec, *j = NULL;
			if (k.len != CPT_KEY_LEN || memmem(v.data, v.len, tag, sizeof(tag) - 1) == NULL ||
			    (rec = json_loadb(v.data, v.len, 0, NULL)) == NULL)
				continue;
			if (strcmp(json_string_value(json_object_get(rec, "type")) ?: "", "site") == 0 &&
			    json_is_string(json_object_get(rec, "site")))
				j = s_site_json(txn, st, k.data, rec, self, now);
			json_decref(rec);
			if (j && count == cap) {
				json_t **more = realloc(all, (cap = cap ? 2 * cap : 16) * sizeof(*all));
				if (more == NULL) {
					json_decref(j);
					break;
				}
				all = more;
			}
			if (j)
				all[count++] = j;
		}
		store_cur_close(&cur);
	}
	store_read_end(st, &txn);
	if (count)
		qsort(all, count, sizeof(*all), s_by_site);
	for (size_t i = 0; i < count; i++)
		json_array_append_new(out, all[i]);
	free(all);
	return out;
}

/* ------------------------------------------------ certificate files */

/* Reads a small "key: value" text file into a JSON object of strings. */
json_t *
fed_read_kv(const char *path, char *err, size_t errlen)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char line[140000];
	json_t *obj;
	int lineno = 0;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	obj = json_object();
	while (fgets(line, sizeof(line), f)) {
		char *colon, *val;
		size_t len = strcspn(line, "\r\n");
		lineno++;
		line[len] = 0;
		if (line[0] == '#' || line[0] == 0)
			continue;
		if ((colon = strstr(line, ": ")) == NULL) {
			snprintf(err, errlen, "%s:%d: expected \"key: value\"", path, lineno);
			json_decref(obj);
			obj = NULL;
			break;
		}
		*colon = 0;
		val = colon + 2;
		if (json_object_get(obj, line)) {
			snprintf(err, errlen, "%s:%d: duplicate field \"%s\"", path, lineno, line);
			json_decref(obj);
			obj = NULL;
			break;
		}
		json_object_set_new(obj, line, json_string(val));
		if (json_object_get(obj, line) == NULL) {
			snprintf(err, errlen, "%s:%d: field \"%s\" is not valid UTF-8", path, lineno, line);
			json_decref(obj);
			obj = NULL;
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	return obj;
}
