/*
 * Checking a store (comptoir verify): every signature, and every index of
 * the registry (and the events, the waiting ones) equal to a rebuild made
 * from the events alone in a scratch store.
 */
#include <assert.h>
#include <errno.h>
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "node/event/event_internal.h"

struct rebuild {
	store_t *from;     /* the store checked */
	ingest_ctx_t *ctx; /* context on the scratch store */
	ev_tsid_t *ids;    /* envelopes pass: events to ingest, in order */
	size_t n, at;      /* how many, next one */
	enum store_db db;  /* DB_META for the envelopes, or DB_PENDING walked in key order */
	uint8_t after[64]; /* DB_PENDING pass: resume after this key */
	int has_after;     /* after is set */
	uint8_t last[64];  /* the last pending key this transaction took */
	int more;          /* pending entries remain after last */
	store_txn_t *snap; /* the one snapshot of the store verified, read throughout */
};

/* Copies up to 1000 events per transaction into the scratch store. The pass
 * over DB_PENDING walks it in key order: those events only wait again, in
 * whatever order they come. */
static int
s_rebuild_fn(store_txn_t *txn, void *arg)
{
	struct rebuild *b = arg;
	store_txn_t *rtxn;
	size_t end = b->at + 1000 < b->n ? b->at + 1000 : b->n;
	int rc = 0;

	/* Every pass reads the same snapshot as the comparison: on a live
	 * store, an event committed between two reads was "in the store but
	 * not in the rebuild". */
	rtxn = b->snap;
	if (b->db == DB_PENDING) {
		store_cur_t *cur;
		store_val_t k = {sizeof(b->after), b->after}, v;
		size_t count = 0;
		int r;

		b->more = 0;
		if ((rc = store_cur_open(rtxn, DB_PENDING, &cur)) != 0) {
			return rc;
		}
		if (b->has_after) {
			r = store_cur_get(cur, &k, &v, STORE_SEEK);
			if (r == 0 && k.len == sizeof(b->after) &&
			    memcmp(k.data, b->after, sizeof(b->after)) == 0)
				r = store_cur_get(cur, &k, &v, STORE_NEXT);
		} else {
			r = store_cur_get(cur, &k, &v, STORE_FIRST);
		}
		for (; r == 0 && count < 1000 && rc == 0;
		     r = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			ingest_res_t res;
			const uint8_t *p = v.data;
			size_t len = v.len;
			if (k.len != sizeof(b->last))
				continue;
			rc = ingest_txn(b->ctx, txn, &p, &len, 1, &res);
			memcpy(b->last, k.data, sizeof(b->last));
			count++;
		}
		b->more = r == 0 && count > 0;
		store_cur_close(&cur);
		return rc;
	}
	for (size_t i = b->at; i < end && rc == 0; i++) {
		index_env_t v;
		ingest_res_t res;
		const uint8_t *p;
		uint8_t *copy;
		size_t len;

		if (index_env_read(rtxn, b->ids[i].id, &v) != 0)
			continue;
		/* Contiguous for ingest: the header is rebuilt, not in the map. */
		if ((copy = index_env_dup(&v, &len)) == NULL)
			return CPT_ENOMEM;
		p = copy;
		rc = ingest_txn(b->ctx, txn, &p, &len, 1, &res);
		free(copy);
	}
	return rc;
}

/* Compares one database of two stores; reports the first differences. */
/* Up to max bytes of v on stderr, printable ASCII as is and every other
 * byte as \xNN: keys and values may be binary, and the output is read as
 * text (a terminal, a test's UTF-8 decoding). */
static void
s_show(const store_val_t *v, size_t max)
{
	const unsigned char *p = v->data;
	size_t n = v->len < max ? v->len : max;

	for (size_t i = 0; i < n; i++)
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			fputc(p[i], stderr);
		else
			fprintf(stderr, "\\x%02x", p[i]);
	if (v->len > max)
		fputs("...", stderr);
}

/* The entries of db in the store (ta) and the rebuild (tb), compared key
 * by key. DB_EVENT_IDS's values are numbers that follow the order the
 * envelopes were stored in (schema 12), which a rebuild does not repeat:
 * what is compared under each id is the stored envelope it numbers. */
static size_t
s_diff(store_txn_t *ta, store_txn_t *tb, enum store_db db)
{
	const char *name = store_db_name(db);
	store_cur_t *ca, *cb;
	store_val_t ka, va, kb, vb;
	size_t diffs = 0;
	int ra, rb;

	if (store_cur_open(ta, db, &ca) != 0)
		return 1;
	if (store_cur_open(tb, db, &cb) != 0) {
		store_cur_close(&ca);
		return 1;
	}
	ra = store_cur_get(ca, &ka, &va, STORE_FIRST);
	rb = store_cur_get(cb, &kb, &vb, STORE_FIRST);
	while (ra == 0 || rb == 0) {
		int c;
		if (ra != 0)
			c = 1;
		else if (rb != 0)
			c = -1;
		else
			c = store_key_cmp(ka.data, ka.len, kb.data, kb.len);
		if (c == 0 && db == DB_EVENT_IDS && ka.len == CPT_ID_LEN) {
			/* A number that leads nowhere compares as an empty value. */
			if (index_env_stored(ta, ka.data, &va) != 0)
				va = (store_val_t){0, NULL};
			if (index_env_stored(tb, kb.data, &vb) != 0)
				vb = (store_val_t){0, NULL};
		}
		if (c == 0 &&
		    (va.len != vb.len || (va.len && memcmp(va.data, vb.data, va.len) != 0))) {
			if (diffs++ < 5) {
				fprintf(stderr,
				        "verify: %s: an entry differs from the rebuild: key ",
				        name);
				s_show(&ka, 64);
				fputs(", stored ", stderr);
				s_show(&va, 200);
				fputs(" / rebuilt ", stderr);
				s_show(&vb, 200);
				fputc('\n', stderr);
			}
		} else if (c != 0) {
			if (diffs++ < 5) {
				fprintf(stderr, "verify: %s: an entry %s: key ", name,
				        c < 0 ? "is in the store but not in the rebuild"
				              : "is in the rebuild but not in the store");
				s_show(c < 0 ? &ka : &kb, 64);
				fputc('\n', stderr);
			}
		}
		if (c <= 0)
			ra = store_cur_get(ca, &ka, &va, STORE_NEXT);
		if (c >= 0)
			rb = store_cur_get(cb, &kb, &vb, STORE_NEXT);
	}
	store_cur_close(&ca);
	store_cur_close(&cb);
	return diffs;
}

/* The entries of a database keyed by reference numbers (schema 13), in
 * the form index_ref_canon gives: (klen k vlen v)* in a growing buffer. */
struct canon_buf {
	uint8_t *p;
	size_t len, cap, n;
};

static int
s_canon_fn(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct canon_buf *b = arg;
	size_t need = b->len + 16 + klen + vlen;

	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *np;
		while (cap < need)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL)
			return CPT_ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	store_put_u64(b->p + b->len, klen);
	memcpy(b->p + b->len + 8, k, klen);
	store_put_u64(b->p + b->len + 8 + klen, vlen);
	memcpy(b->p + b->len + 16 + klen, v, vlen);
	b->len = need;
	b->n++;
	return 0;
}

/* s_diff for a database keyed by reference numbers, which follow the order
 * the events were stored in (a rebuild numbers them otherwise): compared
 * with each number put back as the id it stands for. */
static size_t
s_diff_canon(store_txn_t *ta, store_txn_t *tb, enum store_db db)
{
	struct canon_buf a = {0}, b = {0};
	size_t diffs = 0, ia = 0, ib = 0;

	if (index_ref_canon(ta, db, s_canon_fn, &a) != 0 ||
	    index_ref_canon(tb, db, s_canon_fn, &b) != 0) {
		free(a.p);
		free(b.p);
		return 1;
	}
	while (ia < a.len || ib < b.len) {
		store_val_t ka = {0}, va = {0}, kb = {0}, vb = {0};
		int c;
		if (ia < a.len) {
			ka.len = store_get_u64(a.p + ia);
			ka.data = a.p + ia + 8;
			va.len = store_get_u64(a.p + ia + 8 + ka.len);
			va.data = a.p + ia + 16 + ka.len;
		}
		if (ib < b.len) {
			kb.len = store_get_u64(b.p + ib);
			kb.data = b.p + ib + 8;
			vb.len = store_get_u64(b.p + ib + 8 + kb.len);
			vb.data = b.p + ib + 16 + kb.len;
		}
		if (ia >= a.len)
			c = 1;
		else if (ib >= b.len)
			c = -1;
		else
			c = store_key_cmp(ka.data, ka.len, kb.data, kb.len);
		if (c != 0 || va.len != vb.len ||
		    (va.len && memcmp(va.data, vb.data, va.len) != 0)) {
			if (diffs++ < 5) {
				fprintf(stderr,
				        "verify: %s: an entry differs from the rebuild: key ",
				        store_db_name(db));
				s_show(c <= 0 ? &ka : &kb, 64);
				fputc('\n', stderr);
			}
		}
		if (c <= 0)
			ia += 16 + ka.len + va.len;
		if (c >= 0)
			ib += 16 + kb.len + vb.len;
	}
	free(a.p);
	free(b.p);
	return diffs;
}

static int
s_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Step 1 of verify: each stored envelope decodes, verifies, and is stored
 * as the envelope of its own id. */
struct check1 {
	ingest_ctx_t *ctx; /* the federation */
	size_t *n;         /* envelopes read */
	size_t *bad;       /* of them, those that fail */
};

static int
s_check1(void *arg, const uint8_t *id, const index_env_t *v)
{
	struct check1 *c = arg;
	evt_t e;
	uint8_t mine[CPT_ID_LEN];

	(*c->n)++;
	if (id == NULL || v == NULL || index_env_decode(v, &e, 0) != 0 ||
	    evt_verify(&e, c->ctx->fed) != 0 ||
	    (evt_id(mine, &e), memcmp(mine, id, CPT_ID_LEN) != 0)) {
		char hex[CPT_HEX_ID];
		if (id)
			cpt_hex32(hex, id);
		else
			snprintf(hex, sizeof(hex), "(bad key)");
		fprintf(stderr, "verify: event %s does not verify\n", hex);
		(*c->bad)++;
	}
	return 0;
}

int
event_verify(ingest_ctx_t *ctx, size_t *n_events, char *err, size_t errlen)
{
	store_t *st = ctx->st, *scratch = NULL;
	char tmp[4200];
	store_txn_t *txn = NULL, *t2 = NULL;
	size_t bad = 0, diffs = 0;
	ingest_ctx_t sc;
	ev_tsid_t *ids = NULL;
	size_t n = 0;
	int rc;

	assert(ctx != NULL && ctx->st != NULL && n_events != NULL && err != NULL);
	*n_events = 0;
	/* 1. Every stored event decodes, verifies, and sits under its own id. */
	if (store_read_begin(st, &txn) != 0) {
		snprintf(err, errlen, "cannot read the store");
		return CPT_EIO;
	}
	{
		struct check1 c1 = {ctx, n_events, &bad};
		if (index_env_each(txn, s_check1, &c1) != 0)
			bad++; /* the walk stopped: not every event was read */
	}
	store_read_end(st, &txn);
	if (bad) {
		snprintf(err, errlen, "%zu of %zu events do not verify", bad, *n_events);
		return CPT_ESIG;
	}
	/* 2. The views equal a rebuild from the events alone, in a scratch store.
	 * $TMPDIR when set: `comptoir verify` points it at a directory it
	 * removes itself, should this process die in the middle. */
	snprintf(tmp, sizeof(tmp), "%s/comptoir-verify-XXXXXX",
	         getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmp) == NULL) {
		snprintf(err, errlen, "cannot create a scratch directory %s: %s", tmp,
		         strerror(errno));
		return CPT_EIO;
	}
	if (index_store_open(&scratch, tmp, 1, err, errlen) != 0) {
		nftw(tmp, s_rm, 16, FTW_DEPTH | FTW_PHYS);
		return CPT_EIO;
	}
	/* A scratch copy is thrown away: no fsync per batch. */
	if (store_set_nosync(scratch, 1) != 0)
		log_warnx("verify", "the scratch store syncs every commit");
	sc = *ctx;
	sc.st = scratch;
	memset(&sc.ix, 0, sizeof(sc.ix)); /* the scratch store's own; released below */
	sc.work = NULL;
	sc.later = NULL; /* the scratch store's own list; released below */
	sc.n_later = sc.cap_later = 0;
	sc.reindexing = 0;
	/* Events wait in the rebuild whenever their certificate is newer than
	 * they are; all of them had been accepted, whatever the cap is now. */
	sc.max_pending = UINT32_MAX;
	rc = 0;
	{
		struct rebuild b = {.from = st, .ctx = &sc, .db = DB_META};
		/* One snapshot for the rebuild and the comparison (below). */
		if (store_read_begin(st, &txn) != 0)
			rc = CPT_EIO;
		else
			rc = ev_collect(txn, &ids, &n);
		b.snap = txn;
		b.ids = ids;
		b.n = n;
		while (rc == 0 && b.at < b.n) {
			rc = store_write(scratch, s_rebuild_fn, &b);
			b.at = b.at + 1000 < b.n ? b.at + 1000 : b.n;
		}
		free(ids);
		ids = NULL;
		b.db = DB_PENDING;
		do {
			if (rc == 0)
				rc = store_write(scratch, s_rebuild_fn, &b);
			if (rc == 0 && b.more) {
				memcpy(b.after, b.last, sizeof(b.after));
				b.has_after = 1;
			}
		} while (rc == 0 && b.more);
	}
	if (rc == 0 && txn != NULL) {
		if (store_read_begin(scratch, &t2) == 0) {
			/* Every index of the registry, then what is not derived. */
			static const enum store_db also[] = {DB_PENDING, DB_PENDING_IDS};
			size_t nr;
			const index_def_t *reg = index_registry(&nr);
			for (size_t i = 0; i < nr; i++)
				for (size_t j = 0; j < reg[i].n_dbs; j++)
					diffs += index_ref_keyed(reg[i].dbs[j])
					             ? s_diff_canon(txn, t2, reg[i].dbs[j])
					             : s_diff(txn, t2, reg[i].dbs[j]);
			diffs += s_diff(txn, t2, DB_EVENT_IDS);
			for (size_t i = 0; i < sizeof(also) / sizeof(also[0]); i++)
				diffs += s_diff(txn, t2, also[i]);
			store_read_end(scratch, &t2);
		}
	}
	if (txn != NULL)
		store_read_end(st, &txn);
	ingest_ctx_release(&sc);
	store_close(&scratch);
	nftw(tmp, s_rm, 16, FTW_DEPTH | FTW_PHYS);
	if (rc != 0) {
		snprintf(err, errlen, "rebuild failed: %s", store_strerror(rc));
		return rc;
	}
	if (diffs) {
		snprintf(err, errlen,
		         "%zu view entries differ from a rebuild (run comptoir reindex)", diffs);
		return CPT_EINVAL;
	}
	return 0;
}
