/*
 * Rebuilding every index from the events alone (comptoir reindex): the
 * registry's databases emptied, then every stored event through the single
 * ingest path, in (timestamp, id) order, then every event kept without being
 * admitted (pending, held, aside), in one transaction.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/event/event_internal.h"

/* Full events first, then bodiless ones; each in (timestamp, id) order. */
static int
s_cmp(const void *a, const void *b)
{
	const ev_tsid_t *x = a, *y = b;

	if (x->bare != y->bare)
		return x->bare - y->bare;
	return store_cmp_tsid(x->ts, x->id, y->ts, y->id);
}

/* What ev_collect gathers. */
struct collect {
	ev_tsid_t *out; /* the array */
	size_t n, cap;  /* its length and capacity */
};

static int
s_collect(void *arg, const uint8_t *id, const index_env_t *v)
{
	struct collect *c = arg;

	if (id == NULL || v == NULL)
		return 0;
	if (c->n == c->cap) {
		ev_tsid_t *bigger = realloc(c->out, 2 * c->cap * sizeof(*c->out));
		if (bigger == NULL)
			return CPT_ENOMEM;
		c->out = bigger;
		c->cap *= 2;
	}
	c->out[c->n].ts = store_env_ts(v->fixed);
	c->out[c->n].bare = v->body == NULL;
	memcpy(c->out[c->n].id, id, CPT_ID_LEN);
	c->n++;
	return 0;
}

int
ev_collect(store_txn_t *txn, ev_tsid_t **out, size_t *n)
{
	struct collect c = {NULL, 0, 1024};
	int rc;

	*n = 0;
	if ((c.out = malloc(c.cap * sizeof(*c.out))) == NULL) {
		*out = NULL;
		return CPT_ENOMEM;
	}
	rc = index_env_each(txn, s_collect, &c);
	*out = c.out;
	*n = c.n;
	qsort(*out, *n, sizeof(**out), s_cmp);
	return rc;
}

struct reindex {
	ingest_ctx_t *ctx; /* with reindexing set */
	char *err;         /* message */
	size_t errlen;     /* its size */
};

/* What is kept without being admitted (pending, held, aside) goes through
 * the same path again, as if it arrived now: bounded by max_pending, so it
 * fits in memory. */
static int
s_rerun_kept(ingest_ctx_t *ctx, store_txn_t *txn)
{
	store_cur_t *cur;
	store_val_t k, v;
	uint8_t **envs = NULL;
	size_t *lens = NULL, n = 0, cap = 0;
	int rc;

	if ((rc = store_cur_open(txn, DB_PENDING, &cur)) != 0)
		return rc;
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		if (n == cap) {
			uint8_t **be = realloc(envs, (cap = cap ? 2 * cap : 64) * sizeof(*envs));
			size_t *bl = be ? realloc(lens, cap * sizeof(*lens)) : NULL;
			if (be)
				envs = be;
			if (bl == NULL) {
				rc = CPT_ENOMEM;
				break;
			}
			lens = bl;
		}
		if ((envs[n] = malloc(v.len ? v.len : 1)) == NULL) {
			rc = CPT_ENOMEM;
			break;
		}
		memcpy(envs[n], v.data, v.len);
		lens[n++] = v.len;
	}
	store_cur_close(&cur);
	if (rc == CPT_ENOTFOUND)
		rc = 0;
	if (rc == 0)
		rc = store_drop(txn, DB_PENDING);
	if (rc == 0)
		rc = store_drop(txn, DB_PENDING_IDS);
	for (size_t i = 0; i < n && rc == 0; i++) {
		ingest_res_t res;
		const uint8_t *b = envs[i];
		rc = ingest_txn(ctx, txn, &b, &lens[i], 1, &res);
	}
	for (size_t i = 0; i < n; i++)
		free(envs[i]);
	free(envs);
	free(lens);
	return rc;
}

static int
s_reindex_fn(store_txn_t *txn, void *arg)
{
	struct reindex *r = arg;
	ev_tsid_t *all = NULL;
	size_t n = 0;
	int rc;

	index_spaces_cache_clear(&r->ctx->ix); /* a retried transaction folds afresh */
	if ((rc = index_drop_all(txn)) != 0)
		return rc;
	if ((rc = ev_collect(txn, &all, &n)) != 0) {
		free(all);
		return rc;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		index_env_t v;
		uint8_t *copy;
		size_t len;
		ingest_res_t res;
		const uint8_t *b;

		if (index_env_read(txn, all[i].id, &v) != 0)
			continue; /* purged by a revocation met earlier in this rebuild */
		if ((copy = index_env_dup(&v, &len)) == NULL) {
			rc = CPT_ENOMEM;
			break;
		}
		b = copy;
		rc = ingest_txn(r->ctx, txn, &b, &len, 1, &res);
		free(copy);
	}
	free(all);
	return rc == 0 ? s_rerun_kept(r->ctx, txn) : rc;
}

int
event_reindex(ingest_ctx_t *ctx, char *err, size_t errlen)
{
	ingest_ctx_t c = *ctx;
	struct reindex r = {&c, err, errlen};
	int rc;

	assert(ctx != NULL && ctx->st != NULL && err != NULL);
	memset(&c.ix, 0, sizeof(c.ix)); /* its own cache, released below */
	c.work = NULL;
	c.later = NULL; /* the caller's list stays the caller's (a reindex records none) */
	c.n_later = c.cap_later = 0;
	err[0] = 0;
	c.reindexing = 1;
	rc = store_write(ctx->st, s_reindex_fn, &r);
	ingest_ctx_release(&c);
	if (rc != 0 && err[0] == 0)
		snprintf(err, errlen, "%s", store_strerror(rc));
	return rc;
}
