/*
 * The stored envelopes: the one place that knows how the signed bytes of
 * each admitted event are laid out in the store. Every reader of "the
 * envelope of id" and every writer of one goes through here.
 *
 * Schema 11 stores them compact (issue 23, docs/ARCHITECTURE.md "Stored
 * envelopes"): the first byte of a value says its form.
 *   0xC1  [kind 2][author 32][ts 8][sig 64][body]: version 2, reserved 0,
 *         the store's federation, BLAKE2b-256(body) and the body's length
 *         are put back on reading;
 *   0xC2  [kind 2][author 32][ts 8][body hash 32][body length 4][sig 64]: a
 *         redacted event (no body: its hash and length are kept);
 *   0xC0  [the envelope, verbatim]: what neither form can hold exactly;
 *   other the envelope verbatim (its first byte is its version, 2): as
 *         schema 10 stored every one.
 * Reading gives back the exact signed bytes: the header is fixed-width
 * binary, rebuilt field by field, and the body is never touched.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "config/config.h"
#include "node/index/index_internal.h"

/* The forms, and where the fields sit in the compact ones. */
enum {
	ENV_VERBATIM = 0xC0,
	ENV_FULL = 0xC1,
	ENV_REDACTED = 0xC2,
	C_KIND = 1,
	C_AUTHOR = 3,
	C_TS = 35,
	C_SIG = 43,    /* ENV_FULL */
	C_BODY = 107,  /* ENV_FULL: its length */
	C_HASH = 43,   /* ENV_REDACTED */
	C_LEN = 75,    /* ENV_REDACTED */
	C_RSIG = 79,   /* ENV_REDACTED */
	C_RLEN = 143,  /* ENV_REDACTED: its length */
	E_FED = 4,     /* offsets in the envelope (PROTOCOL.md 3) */
	E_AUTHOR = 36, /* ... */
	E_TS = 68,
	E_HASH = 76,
	E_LEN = 108,
	E_SIG = 112,
};

/* The meta key of the federation the compact forms leave out. */
#define META_FED "env_fed"

/* The federation of the store's compact envelopes into fed: kept with the
 * store once read at open (index_env_open), else read from the meta (a
 * store with no event yet when it was opened). 0 or CPT_ENOTFOUND. */
static int
s_fed(store_txn_t *txn, uint8_t fed[CPT_FED_LEN])
{
	size_t len = CPT_FED_LEN;
	int rc;

	if (store_memo_get(store_of(txn), fed) == 0)
		return 0;
	rc = store_meta_get(txn, META_FED, fed, &len);
	if ((rc == 0 && len != CPT_FED_LEN) || rc == CPT_ETOOBIG)
		rc = CPT_EDAMAGED;
	return rc;
}

int
index_env_open(store_t *st)
{
	store_txn_t *txn;
	uint8_t fed[CPT_FED_LEN];
	size_t len = sizeof(fed);
	int rc;

	if ((rc = store_read_begin(st, &txn)) != 0)
		return rc;
	rc = store_meta_get(txn, META_FED, fed, &len);
	store_read_end(st, &txn);
	if (rc == CPT_ENOTFOUND)
		return 0; /* none yet: the first envelope stored names it */
	if ((rc == 0 && len != CPT_FED_LEN) || rc == CPT_ETOOBIG)
		return CPT_EDAMAGED;
	if (rc == 0)
		store_memo_set(st, fed);
	return rc;
}

/* A stored value that is no envelope: said once per read, naming the id. */
static int
s_damaged(const uint8_t id[CPT_ID_LEN], const char *why)
{
	char hex[CPT_HEX_ID];

	cpt_hex32(hex, id);
	log_warnx("store", "stored envelope of event %s is damaged: %s", hex, why);
	return CPT_EDAMAGED;
}

/* The stored value p (len bytes) as an envelope into *out, fed the
 * store's federation (read only for a compact form). 0, or CPT_EDAMAGED
 * and *why what is wrong. */
static int
s_form(const uint8_t *fed, const uint8_t *p, size_t len, index_env_t *out, const char **why)
{
	uint8_t *f = out->fixed;
	size_t skip = 0;

	memset(out, 0, sizeof(*out));
	if (len == 0) {
		*why = "empty value";
		return CPT_EDAMAGED;
	}
	switch (p[0]) {
	case ENV_FULL:
	case ENV_REDACTED:
		if (p[0] == ENV_FULL ? len <= C_BODY || len - C_BODY > UINT32_MAX : len != C_RLEN) {
			*why = "compact value of a wrong length";
			return CPT_EDAMAGED;
		}
		f[0] = EVT_VERSION;
		f[1] = 0;
		memcpy(f + 2, p + C_KIND, 2);
		memcpy(f + E_FED, fed, CPT_FED_LEN);
		memcpy(f + E_AUTHOR, p + C_AUTHOR, CPT_KEY_LEN);
		memcpy(f + E_TS, p + C_TS, 8);
		if (p[0] == ENV_FULL) {
			out->body = p + C_BODY;
			out->body_len = len - C_BODY;
			crypto_generichash(f + E_HASH, CPT_HASH_LEN, out->body, out->body_len, NULL,
			                   0);
			out->hashed = 1;
			cpt_put_be32(f + E_LEN, (uint32_t)out->body_len);
			memcpy(f + E_SIG, p + C_SIG, CPT_SIG_LEN);
		} else {
			memcpy(f + E_HASH, p + C_HASH, CPT_HASH_LEN);
			memcpy(f + E_LEN, p + C_LEN, 4);
			memcpy(f + E_SIG, p + C_RSIG, CPT_SIG_LEN);
		}
		return 0;
	case ENV_VERBATIM: skip = 1; /* FALLTHROUGH */
	default:
		if (len - skip < EVT_FIXED_LEN) {
			*why = "shorter than an envelope's header";
			return CPT_EDAMAGED;
		}
		memcpy(f, p + skip, EVT_FIXED_LEN);
		out->body_len = len - skip - EVT_FIXED_LEN;
		out->body = out->body_len ? p + skip + EVT_FIXED_LEN : NULL;
		return 0;
	}
}

int
index_env_unpack(const uint8_t fed[CPT_FED_LEN], const uint8_t *val, size_t len, index_env_t *out)
{
	const char *why = NULL;

	return s_form(fed, val, len, out, &why);
}

int
index_env_is_compact(const uint8_t *val, size_t len)
{
	return len > 0 && (val[0] == ENV_FULL || val[0] == ENV_REDACTED);
}

/* The stored value v of id as an envelope into *out. */
static int
s_unpack(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], const store_val_t *v, index_env_t *out)
{
	uint8_t fed[CPT_FED_LEN];
	const char *why = NULL;
	int rc;

	if (index_env_is_compact(v->data, v->len) && (rc = s_fed(txn, fed)) != 0) {
		memset(out, 0, sizeof(*out));
		return rc == CPT_ENOTFOUND ? s_damaged(id, "the store names no federation") : rc;
	}
	if (s_form(fed, v->data, v->len, out, &why) != 0)
		return s_damaged(id, why);
	return 0;
}

/* The stored value of id into *v (schema 12: its number in
 * DB_EVENT_IDS, the value under it in DB_ENVELOPES). 0, CPT_ENOTFOUND,
 * CPT_EDAMAGED (logged with the id) or a store error. */
static int
s_stored(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], store_val_t *v)
{
	store_val_t s;
	int rc = store_get(txn, DB_EVENT_IDS, id, CPT_ID_LEN, &s);

	if (rc != 0)
		return rc;
	if (s.len != 8)
		return s_damaged(id, "its number is not 8 bytes");
	rc = store_get(txn, DB_ENVELOPES, s.data, 8, v);
	return rc == CPT_ENOTFOUND ? s_damaged(id, "nothing is stored under its number") : rc;
}

int
index_env_read(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], index_env_t *out)
{
	store_val_t v;
	int rc = s_stored(txn, id, &v);

	if (rc != 0) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	return s_unpack(txn, id, &v, out);
}

size_t
index_env_len(const index_env_t *e)
{
	return EVT_FIXED_LEN + e->body_len;
}

void
index_env_copy(const index_env_t *e, uint8_t *out)
{
	memcpy(out, e->fixed, EVT_FIXED_LEN);
	if (e->body_len)
		memcpy(out + EVT_FIXED_LEN, e->body, e->body_len);
}

uint8_t *
index_env_dup(const index_env_t *e, size_t *len)
{
	uint8_t *b = malloc(index_env_len(e));

	if (b == NULL)
		return NULL;
	index_env_copy(e, b);
	*len = index_env_len(e);
	return b;
}

int
index_env_decode(const index_env_t *e, evt_t *ev, int lazy)
{
	/* A compact form's hash was made from its body on reading: no second hash. */
	return evt_decode_parts(ev, e->fixed, e->body, e->body_len, EVT_MAX_BODY,
	                        (lazy ? 1 : 0) | (e->hashed ? EVT_DECODE_HASHED : 0));
}

int
index_env_ts(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], uint64_t *ts)
{
	store_val_t v;
	const uint8_t *p;
	int rc;

	if (ts == NULL) /* whether it is stored: its number says it */
		return store_get(txn, DB_EVENT_IDS, id, CPT_ID_LEN, &v);
	if ((rc = s_stored(txn, id, &v)) != 0)
		return rc;
	p = v.data;
	/* The timestamp, where each form keeps it: no rebuilding for this. */
	if (v.len > 0 && (p[0] == ENV_FULL || p[0] == ENV_REDACTED)) {
		if (p[0] == ENV_FULL ? v.len <= C_BODY : v.len != C_RLEN)
			return s_damaged(id, "compact value of a wrong length");
		p += C_TS;
	} else {
		if (v.len > 0 && p[0] == ENV_VERBATIM)
			p++;
		if (v.len - (size_t)(p - (const uint8_t *)v.data) < EVT_FIXED_LEN)
			return s_damaged(id, "shorter than an envelope's header");
		p += E_TS;
	}
	*ts = store_get_u64(p);
	return 0;
}

/* Can fixed (and body, body_len) be stored compact under federation fed,
 * and given back byte for byte? hashed: the caller knows the header's hash
 * to be the body's (it decoded these bytes). */
static int
s_compactable(const uint8_t *env, size_t len, const uint8_t fed[CPT_FED_LEN], int hashed)
{
	uint8_t hash[CPT_HASH_LEN];
	size_t blen = len - EVT_FIXED_LEN;

	if (env[0] != EVT_VERSION || env[1] != 0 || memcmp(env + E_FED, fed, CPT_FED_LEN) != 0)
		return 0;
	if (blen == 0)
		return 1; /* redacted: hash and length are kept */
	if (blen > UINT32_MAX || cpt_get_be32(env + E_LEN) != blen)
		return 0;
	/* The hash is put back from the body: it must be the body's. */
	if (hashed)
		return 1;
	crypto_generichash(hash, sizeof(hash), env + EVT_FIXED_LEN, blen, NULL, 0);
	return memcmp(hash, env + E_HASH, CPT_HASH_LEN) == 0;
}

static size_t s_env_pack(const uint8_t *fed, const uint8_t *env, size_t len, uint8_t *out,
                         int hashed);

size_t
index_env_pack(const uint8_t *fed, const uint8_t *env, size_t len, uint8_t *out)
{
	return s_env_pack(fed, env, len, out, 0);
}

static size_t
s_env_pack(const uint8_t *fed, const uint8_t *env, size_t len, uint8_t *out, int hashed)
{
	if (fed && s_compactable(env, len, fed, hashed)) {
		size_t blen = len - EVT_FIXED_LEN;
		out[0] = blen ? ENV_FULL : ENV_REDACTED;
		memcpy(out + C_KIND, env + 2, 2);
		memcpy(out + C_AUTHOR, env + E_AUTHOR, CPT_KEY_LEN);
		memcpy(out + C_TS, env + E_TS, 8);
		if (blen == 0) {
			memcpy(out + C_HASH, env + E_HASH, CPT_HASH_LEN);
			memcpy(out + C_LEN, env + E_LEN, 4);
			memcpy(out + C_RSIG, env + E_SIG, CPT_SIG_LEN);
			return C_RLEN;
		}
		memcpy(out + C_SIG, env + E_SIG, CPT_SIG_LEN);
		memcpy(out + C_BODY, env + EVT_FIXED_LEN, blen);
		return C_BODY + blen;
	}
	if (env[0] == ENV_VERBATIM || env[0] == ENV_FULL || env[0] == ENV_REDACTED) {
		out[0] = ENV_VERBATIM; /* a first byte that would read as a form */
		memcpy(out + 1, env, len);
		return len + 1;
	}
	memcpy(out, env, len);
	return len;
}

/* The stored form of env (len bytes) into out (at least len + 1 bytes),
 * compact when it can be; *olen its length. */
static int
s_pack(store_txn_t *txn, const uint8_t *env, size_t len, uint8_t *out, size_t *olen, int hashed)
{
	uint8_t fed[CPT_FED_LEN];
	int rc = s_fed(txn, fed);

	if (rc == CPT_ENOTFOUND && env[0] == EVT_VERSION) {
		/* The store's first envelope names its federation (every admitted
		 * event is of the node's own: PROTOCOL.md receiver rule step 10),
		 * written in the same transaction as the envelope. */
		memcpy(fed, env + E_FED, CPT_FED_LEN);
		rc = store_meta_put(txn, META_FED, fed, CPT_FED_LEN);
		if (rc != 0)
			return rc;
	} else if (rc != 0 && rc != CPT_ENOTFOUND) {
		return rc;
	}
	*olen = s_env_pack(rc == 0 ? fed : NULL, env, len, out, hashed);
	return 0;
}

/*
 * The numbers a write transaction looked up or gave, by id: an event's
 * ingest asks for the number of the same post four or five times (its
 * references walked for the post view and the notification group, its
 * reaction registers, the group's entries, the reference's key), and each
 * ask was two searches (DB_REF_NUMS, then DB_EVENT_IDS' random leaf):
 * 15% of the writer's instructions in a catch-up (session 17). An id's
 * number never changes once given (a removed event keeps it in
 * DB_REF_NUMS), but one given by a transaction that does not commit is
 * given again: the memo holds for one transaction, between
 * index_ref_memo_begin and index_ref_memo_end on its thread, and only what
 * the store answered (never a "none"). Direct-mapped by the id's first
 * bytes (a hash).
 */
#define REF_MEMO 1024

/* Kept by the context (index_ctx_t.nums) from one transaction to the next,
 * made once: an entry holds for the transaction whose generation it has,
 * so that beginning one clears nothing (a reindex begins one per event). */
struct ix_nums {
	const store_txn_t *txn; /* the transaction it holds for */
	uint32_t gen;           /* its generation: entries of another are empty */
	size_t hits;            /* asks answered from it (index_ref_memo_hits) */
	size_t fresh;           /* index_ref_fresh's yes (index_ref_memo_fresh) */
	int floor_known;        /* floor holds the meta's "num_floor" in txn (s_floor) */
	uint64_t floor;
	struct ref_memo_e {
		uint8_t id[CPT_ID_LEN];
		uint8_t num[8];
		uint32_t gen;  /* the memo's generation when it was kept */
		uint8_t fresh; /* num is the envelope number this transaction gave it, and
		                  nothing was keyed under it since (index_ref_fresh) */
	} e[REF_MEMO];
};
static _Thread_local struct ix_nums *s_memo; /* the memo open on this thread, or NULL */
static _Thread_local size_t s_memo_hits;     /* of the last memo ended on this thread */
static _Thread_local size_t s_memo_fresh;    /* likewise */

void
index_ref_memo_begin(index_ctx_t *ix, const store_txn_t *txn)
{
	struct ix_nums *m;

	index_ref_memo_end();
	/* Without memory, no memo: every ask goes to the store. */
	if (ix->nums == NULL && (ix->nums = calloc(1, sizeof(*ix->nums))) == NULL)
		return;
	m = ix->nums;
	if (++m->gen == 0) { /* wrapped: every entry's generation could match again */
		memset(m->e, 0, sizeof(m->e));
		m->gen = 1;
	}
	m->txn = txn;
	m->hits = m->fresh = 0;
	m->floor_known = 0;
	s_memo = m;
}

void
index_ref_memo_end(void)
{
	if (s_memo == NULL)
		return;
	s_memo_hits = s_memo->hits;
	s_memo_fresh = s_memo->fresh;
	s_memo = NULL;
}

void
ix_nums_free(index_ctx_t *ix)
{
	if (ix->nums && s_memo == ix->nums)
		index_ref_memo_end();
	free(ix->nums);
	ix->nums = NULL;
}

size_t
index_ref_memo_hits(void)
{
	return s_memo ? s_memo->hits : s_memo_hits;
}

size_t
index_ref_memo_fresh(void)
{
	return s_memo ? s_memo->fresh : s_memo_fresh;
}

static struct ref_memo_e *
s_memo_slot(const store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	if (s_memo == NULL || s_memo->txn != txn)
		return NULL;
	return &s_memo->e[(id[0] | (unsigned)id[1] << 8) % REF_MEMO];
}

static void
s_memo_keep(struct ref_memo_e *m, const uint8_t id[CPT_ID_LEN], const uint8_t num[8], int fresh)
{
	if (m == NULL)
		return;
	memcpy(m->id, id, CPT_ID_LEN);
	memcpy(m->num, num, 8);
	m->gen = s_memo->gen;
	m->fresh = (uint8_t)fresh;
}

/*
 * id's envelope was just stored under the new number seq: its reference
 * number is seq unless it was given one before it came (DB_REF_NUMS, a
 * small database). With none there, nothing was ever keyed under seq (a
 * number is never given twice: the floor), and nothing is until an entry
 * is put under it, which asks for the number with give set
 * (index_ref_num): until then the post's own indexes need not look for
 * references, registers or groups under it (index_ref_fresh).
 */
static int
s_memo_stored(store_txn_t *txn, const uint8_t *id, size_t klen, const uint8_t seq[8])
{
	struct ref_memo_e *m;
	store_val_t v;
	int rc;

	if (klen != CPT_ID_LEN || (m = s_memo_slot(txn, id)) == NULL)
		return 0;
	rc = store_get(txn, DB_REF_NUMS, id, CPT_ID_LEN, &v);
	if (rc == 0 && v.len == 8)
		s_memo_keep(m, id, v.data, 0);
	else if (rc == CPT_ENOTFOUND)
		s_memo_keep(m, id, seq, 1);
	return rc == CPT_ENOTFOUND || rc == 0 ? 0 : rc;
}

int
index_ref_fresh(store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	struct ref_memo_e *m = s_memo_slot(txn, id);

	if (m == NULL || m->gen != s_memo->gen || !m->fresh || memcmp(m->id, id, CPT_ID_LEN) != 0)
		return 0;
	s_memo->fresh++;
	return 1;
}

/* The meta key of the smallest number the next envelope may take: above
 * every number given to an id without an envelope at it (DB_REF_NUMS), so
 * that no two ids ever share a reference number. */
#define META_FLOOR "num_floor"

static int
s_floor(store_txn_t *txn, uint64_t *floor)
{
	uint8_t b[8];
	size_t len = sizeof(b);
	struct ix_nums *m = s_memo && s_memo->txn == txn ? s_memo : NULL;
	int rc;

	/* Read once per transaction that keeps a memo (every envelope put
	 * asked: 880 of a catch-up's instructions per event); only s_floor_above
	 * writes it. */
	if (m && m->floor_known) {
		*floor = m->floor;
		return 0;
	}
	rc = store_meta_get(txn, META_FLOOR, b, &len);
	*floor = rc == 0 && len == 8 ? store_get_u64(b) : 0;
	if (rc == CPT_ENOTFOUND)
		rc = 0;
	if (m && rc == 0) {
		m->floor = *floor;
		m->floor_known = 1;
	}
	return rc;
}

/* Raises the floor to above n. */
static int
s_floor_above(store_txn_t *txn, uint64_t n)
{
	uint8_t b[8];
	uint64_t floor;
	int rc = s_floor(txn, &floor);

	if (rc != 0 || floor > n)
		return rc;
	store_put_u64(b, n + 1);
	if ((rc = store_meta_put(txn, META_FLOOR, b, 8)) == 0 && s_memo && s_memo->txn == txn) {
		s_memo->floor = n + 1;
		s_memo->floor_known = 1;
	}
	return rc;
}

/* The number the next envelope is stored under: one more than the last
 * (kept by the store for the write transaction), or the floor. */
static int
s_next_seq(store_txn_t *txn, uint8_t seq[8])
{
	uint64_t next, floor;
	int rc = store_next_number(txn, DB_ENVELOPES, &next);

	if (rc == 0)
		rc = s_floor(txn, &floor);
	if (rc == 0)
		store_put_u64(seq, next > floor ? next : floor);
	return rc;
}

/* index_env_put_stored for a key of klen bytes (an id, but for what a
 * damaged schema 11 store held: moved as it was). */
static int
s_put_stored(store_txn_t *txn, const uint8_t *id, size_t klen, const void *val, size_t len,
             int flags)
{
	uint8_t seq[8];
	store_val_t s;
	int rc;

	if (flags & INDEX_ENV_NEW) {
		/* The id first: CPT_EEXIST writes nothing, and a new one costs
		 * one search of the ids. */
		if ((rc = s_next_seq(txn, seq)) != 0 ||
		    (rc = store_put_new(txn, DB_EVENT_IDS, id, klen, seq, 8)) != 0 ||
		    (rc = store_put_new(txn, DB_ENVELOPES, seq, 8, val, len)) != 0)
			return rc;
		return s_memo_stored(txn, id, klen, seq);
	}
	rc = store_get(txn, DB_EVENT_IDS, id, klen, &s);
	if (rc == 0 && s.len == 8) { /* replaced where it is */
		memcpy(seq, s.data, 8);
		return store_put(txn, DB_ENVELOPES, seq, 8, val, len);
	}
	if (rc != 0 && rc != CPT_ENOTFOUND)
		return rc;
	/* A new one (or one whose number was damaged): at the end. */
	if ((rc = s_next_seq(txn, seq)) != 0 ||
	    (rc = store_put_new(txn, DB_ENVELOPES, seq, 8, val, len)) != 0)
		return rc;
	return store_put(txn, DB_EVENT_IDS, id, klen, seq, 8);
}

int
index_env_put_stored(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], const void *val, size_t len,
                     int flags)
{
	return s_put_stored(txn, id, CPT_ID_LEN, val, len, flags);
}

int
index_env_put(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], const void *env, size_t len,
              int flags)
{
	uint8_t small[EVT_FIXED_LEN + 1024], *buf = small;
	size_t olen = 0;
	int rc;

	if (len < EVT_FIXED_LEN)
		return CPT_EINVAL;
	/* Most envelopes are a few hundred bytes: the stack; a big one the heap. */
	if (len + 1 > sizeof(small) && (buf = malloc(len + 1)) == NULL)
		return CPT_ENOMEM;
	rc = s_pack(txn, env, len, buf, &olen, (flags & INDEX_ENV_HASHED) != 0);
	if (rc == 0)
		rc = index_env_put_stored(txn, id, buf, olen, flags);
	if (buf != small)
		free(buf);
	return rc;
}

int
index_env_del(store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	uint8_t seq[8];
	store_val_t s;
	int rc = store_get(txn, DB_EVENT_IDS, id, CPT_ID_LEN, &s);

	if (rc == CPT_ENOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (s.len == 8) {
		memcpy(seq, s.data, 8);
		if ((rc = store_del(txn, DB_ENVELOPES, seq, 8)) != 0)
			return rc;
		/* Its number stays its own (what refers to it is keyed by it),
		 * and is never given to another. */
		rc = store_get(txn, DB_REF_NUMS, id, CPT_ID_LEN, &s);
		if (rc == CPT_ENOTFOUND)
			rc = store_put(txn, DB_REF_NUMS, id, CPT_ID_LEN, seq, 8);
		if (rc == 0)
			rc = s_floor_above(txn, store_get_u64(seq));
		if (rc != 0)
			return rc;
	}
	return store_del(txn, DB_EVENT_IDS, id, CPT_ID_LEN);
}

/* ---------------------------------------------- reference numbers (13) */

int
index_ref_num(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], int give, uint8_t num[8])
{
	struct ref_memo_e *m = s_memo_slot(txn, id);
	store_val_t v;
	int rc;

	if (m && m->gen == s_memo->gen && memcmp(m->id, id, CPT_ID_LEN) == 0) {
		memcpy(num, m->num, 8);
		s_memo->hits++;
		if (give) /* an entry is about to be keyed under it */
			m->fresh = 0;
		return 0;
	}
	rc = store_get(txn, DB_REF_NUMS, id, CPT_ID_LEN, &v);
	if (rc == CPT_ENOTFOUND)
		rc = store_get(txn, DB_EVENT_IDS, id, CPT_ID_LEN, &v);
	if (rc == 0 && v.len == 8) {
		memcpy(num, v.data, 8);
		s_memo_keep(m, id, num, 0);
		return 0;
	}
	if (rc == 0)
		return CPT_EDAMAGED;
	if (rc != CPT_ENOTFOUND || !give)
		return rc;
	/* Referred to before it is stored: a number of the envelopes' own
	 * sequence (the references still land in the last pages), that no
	 * envelope takes after it. */
	if ((rc = s_next_seq(txn, num)) != 0 ||
	    (rc = s_floor_above(txn, store_get_u64(num))) != 0 ||
	    (rc = store_put(txn, DB_REF_NUMS, id, CPT_ID_LEN, num, 8)) != 0)
		return rc;
	s_memo_keep(m, id, num, 0);
	return 0;
}

int
index_ref_keyed(enum store_db db)
{
	return db == DB_BY_REF || db == DB_NOTIFY_BY || db == DB_REACTIONS;
}

/* One number and the id it stands for. */
struct ref_pair {
	uint64_t num;
	uint8_t id[CPT_ID_LEN];
};

static int
s_pair_cmp(const void *a, const void *b)
{
	const struct ref_pair *x = a, *y = b;

	return x->num < y->num ? -1 : x->num > y->num;
}

/* Every reference number of txn's store and its id, sorted by number, in
 * *out (malloc'd; *n of them). 0, CPT_ENOMEM or a store error. */
static int
s_ref_pairs(store_txn_t *txn, struct ref_pair **out, size_t *n)
{
	static const enum store_db dbs[] = {DB_REF_NUMS, DB_EVENT_IDS};
	size_t cap = store_count(txn, DB_REF_NUMS) + store_count(txn, DB_EVENT_IDS) + 1, m = 0;
	struct ref_pair *p = malloc(cap * sizeof(*p));
	int rc = 0;

	if (p == NULL)
		return CPT_ENOMEM;
	for (size_t d = 0; rc == 0 && d < 2; d++) {
		store_cur_t *cur;
		store_val_t k, v, r;
		if ((rc = store_cur_open(txn, dbs[d], &cur)) != 0)
			break;
		for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0 && m < cap;
		     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			if (k.len != CPT_ID_LEN || v.len != 8)
				continue;
			/* A stored event with a number of its own in DB_REF_NUMS. */
			if (dbs[d] == DB_EVENT_IDS &&
			    store_get(txn, DB_REF_NUMS, k.data, CPT_ID_LEN, &r) == 0)
				continue;
			p[m].num = store_get_u64(v.data);
			memcpy(p[m].id, k.data, CPT_ID_LEN);
			m++;
		}
		store_cur_close(&cur);
		rc = rc == CPT_ENOTFOUND ? 0 : rc;
	}
	if (rc != 0) {
		free(p);
		return rc;
	}
	qsort(p, m, sizeof(*p), s_pair_cmp);
	*out = p;
	*n = m;
	return 0;
}

/* An entry of a database keyed by reference numbers, the number put back
 * as the id (index_ref_canon). */
struct canon {
	uint8_t *k, *v;
	size_t kl, vl;
};

static int
s_canon_cmp(const void *a, const void *b)
{
	const struct canon *x = a, *y = b;

	return store_key_cmp(x->k, x->kl, y->k, y->kl);
}

int
index_ref_canon(store_txn_t *txn, enum store_db db, index_canon_fn fn, void *arg)
{
	struct ref_pair *pairs = NULL;
	struct canon *e = NULL;
	size_t np = 0, n = 0, cap;
	store_cur_t *cur = NULL;
	store_val_t k, v;
	int rc;

	if ((rc = s_ref_pairs(txn, &pairs, &np)) != 0)
		return rc;
	cap = store_count(txn, db) + 1;
	if ((e = calloc(cap, sizeof(*e))) == NULL) {
		rc = CPT_ENOMEM;
		goto out;
	}
	if ((rc = store_cur_open(txn, db, &cur)) != 0)
		goto out;
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0 && n < cap;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		struct ref_pair want = {0}, *hit = NULL;
		if (k.len >= 8) {
			want.num = store_get_u64(k.data);
			hit = bsearch(&want, pairs, np, sizeof(*pairs), s_pair_cmp);
		}
		/* A number that stands for no id: kept as it is (it differs). */
		e[n].kl = hit ? k.len - 8 + CPT_ID_LEN : k.len;
		e[n].vl = v.len;
		if ((e[n].k = malloc(e[n].kl + v.len + 1)) == NULL) {
			rc = CPT_ENOMEM;
			break;
		}
		e[n].v = e[n].k + e[n].kl;
		if (hit) {
			memcpy(e[n].k, hit->id, CPT_ID_LEN);
			memcpy(e[n].k + CPT_ID_LEN, (const uint8_t *)k.data + 8, k.len - 8);
		} else {
			memcpy(e[n].k, k.data, k.len);
		}
		memcpy(e[n].v, v.data, v.len);
		n++;
	}
	store_cur_close(&cur);
	if (rc != CPT_ENOTFOUND && rc != 0)
		goto out;
	rc = 0;
	qsort(e, n, sizeof(*e), s_canon_cmp);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = fn(arg, e[i].k, e[i].kl, e[i].v, e[i].vl);
out:
	for (size_t i = 0; e && i < n; i++)
		free(e[i].k);
	free(e);
	free(pairs);
	return rc;
}

int
index_env_stored(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], store_val_t *v)
{
	return s_stored(txn, id, v);
}

size_t
index_env_count(store_txn_t *txn)
{
	return store_count(txn, DB_EVENT_IDS);
}

int
index_env_each(store_txn_t *txn, index_env_fn fn, void *arg)
{
	store_cur_t *cur;
	store_val_t k, v, s;
	int rc;

	if ((rc = store_cur_open(txn, DB_EVENT_IDS, &cur)) != 0)
		return rc;
	for (rc = store_cur_get(cur, &k, &s, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &s, STORE_NEXT)) {
		const uint8_t *id = k.len == CPT_ID_LEN ? k.data : NULL;
		index_env_t e;
		int ok = id != NULL && s_stored(txn, id, &v) == 0 && s_unpack(txn, id, &v, &e) == 0;
		if ((rc = fn(arg, id, ok ? &e : NULL)) != 0)
			break;
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

/* ------------------------------------------------ schema 11 (schema.c) */

/* How far the rewrite went: the last id rewritten, in the meta. */
#define META_AT "env11_at"

int
index_env_compact_step(store_txn_t *txn, size_t max, int *done)
{
	uint8_t at[CPT_ID_LEN], (*ids)[CPT_ID_LEN] = NULL, *buf = NULL;
	size_t alen = sizeof(at), n = 0, cap = 0, olen = 0;
	store_cur_t *cur;
	store_val_t k, v;
	int rc, has_at;

	*done = 0;
	rc = store_meta_get(txn, META_AT, at, &alen);
	if (rc != 0 && rc != CPT_ENOTFOUND)
		return rc;
	has_at = rc == 0 && alen == CPT_ID_LEN;
	if ((ids = malloc(max * sizeof(*ids))) == NULL)
		return CPT_ENOMEM;
	/* The ids of this round first: the values are replaced below, and a
	 * cursor is not walked over a database being rewritten under it. */
	if ((rc = store_cur_open(txn, DB_EVENTS_V11, &cur)) != 0) {
		free(ids);
		return rc;
	}
	if (has_at) {
		k.len = CPT_ID_LEN;
		k.data = at;
		rc = store_cur_get(cur, &k, &v, STORE_SEEK);
		if (rc == 0 && k.len == CPT_ID_LEN && memcmp(k.data, at, CPT_ID_LEN) == 0)
			rc = store_cur_get(cur, &k, &v, STORE_NEXT);
	} else {
		rc = store_cur_get(cur, &k, &v, STORE_FIRST);
	}
	for (; rc == 0 && n < max; rc = store_cur_get(cur, &k, &v, STORE_NEXT))
		if (k.len == CPT_ID_LEN)
			memcpy(ids[n++], k.data, CPT_ID_LEN);
	store_cur_close(&cur);
	if (rc != 0 && rc != CPT_ENOTFOUND) {
		free(ids);
		return rc;
	}
	*done = rc == CPT_ENOTFOUND;
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const uint8_t *p;
		size_t len;
		if ((rc = store_get(txn, DB_EVENTS_V11, ids[i], CPT_ID_LEN, &v)) != 0)
			break;
		p = v.data;
		len = v.len;
		/* Only what schema 10 wrote (verbatim, version first) is
		 * rewritten: a compact value is left as it is (idempotent). */
		if (len < EVT_FIXED_LEN || p[0] != EVT_VERSION)
			continue;
		if (2 * len + 1 > cap) {
			uint8_t *b = realloc(buf, 2 * len + 1);
			if (b == NULL) {
				rc = CPT_ENOMEM;
				break;
			}
			buf = b;
			cap = 2 * len + 1;
		}
		memcpy(buf, p, len); /* the map's bytes change with the put */
		/* Packed behind the copy (packing needs room for len + 1). */
		if ((rc = s_pack(txn, buf, len, buf + len, &olen, 0)) == 0)
			rc = store_put(txn, DB_EVENTS_V11, ids[i], CPT_ID_LEN, buf + len, olen);
	}
	if (rc == 0 && n > 0)
		rc = store_meta_put(txn, META_AT, ids[n - 1], CPT_ID_LEN);
	if (rc == 0 && *done)
		rc = store_del(txn, DB_META, META_AT, strlen(META_AT));
	free(buf);
	free(ids);
	return rc;
}

/* ------------------------------------------------ schema 12 (schema.c) */

int
index_env_move_step(store_txn_t *txn, size_t max, int *done)
{
	uint8_t(*ids)[CPT_ID_LEN] = NULL, *buf = NULL;
	size_t n = 0, cap = 0, *klen = NULL;
	store_cur_t *cur;
	store_val_t k, v;
	int rc;

	*done = 0;
	ids = malloc(max * sizeof(*ids));
	klen = malloc(max * sizeof(*klen));
	if (ids == NULL || klen == NULL) {
		free(ids);
		free(klen);
		return CPT_ENOMEM;
	}
	/* The first ids left: what a round moves it deletes, so the old
	 * database holds exactly what is still to move (nothing to remember
	 * between rounds, and a round killed leaves it as it was). */
	if ((rc = store_cur_open(txn, DB_EVENTS_V11, &cur)) != 0)
		goto out;
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0 && n < max;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		/* A shorter key, no id (a damaged store's), is moved as it is:
		 * index_env_each says it is no id, as before. A longer one is
		 * left, and goes with the database emptied at the end. */
		if (k.len > CPT_ID_LEN)
			continue;
		klen[n] = k.len;
		memcpy(ids[n], k.data, k.len);
		n++;
	}
	store_cur_close(&cur);
	if (rc != 0 && rc != CPT_ENOTFOUND)
		goto out;
	*done = rc == CPT_ENOTFOUND;
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((rc = store_get(txn, DB_EVENTS_V11, ids[i], klen[i], &v)) != 0)
			break;
		if (v.len > cap) {
			uint8_t *b = realloc(buf, v.len);
			if (b == NULL) {
				rc = CPT_ENOMEM;
				break;
			}
			buf = b;
			cap = v.len;
		}
		/* Copied: the map's bytes are not ours past the next write. The
		 * value as it is (compact since schema 11, or verbatim). */
		if (v.len)
			memcpy(buf, v.data, v.len);
		if ((rc = s_put_stored(txn, ids[i], klen[i], buf, v.len, 0)) == 0)
			rc = store_del(txn, DB_EVENTS_V11, ids[i], klen[i]);
	}
	if (rc == 0 && *done)
		rc = store_drop(txn, DB_EVENTS_V11);
out:
	free(buf);
	free(klen);
	free(ids);
	return rc;
}
