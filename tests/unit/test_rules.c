/*
 * Replays tests/vectors/rules.txt (docs/PROTOCOL.md 11.2) against the node's single
 * ingest path: each scene on a fresh store with its receiver clock, each arrival's
 * result code and the rule it names, what it admitted or took back, and the final state (admitted,
 * pending in DB_PENDING_IDS, erased bodies, handles and their home sites). Held and aside events
 * are checked as kept and not admitted. A clock step offers again what was answered EHELD or
 * EAGAIN, as a peer would.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "node/event/event.h"
#include "node/index/index.h"
#include "node/query/query.h"
#include "node/store/store.h"

#define MAX_EVENTS  512
#define MAX_PARTIES 64
#define MAX_SCENES  128

static const char *s_path = "tests/vectors/rules.txt";
static char *s_text; /* the file, cut into lines */

static struct party {
	const char *name;        /* as in the file */
	uint8_t pk[CPT_KEY_LEN]; /* its public key */
} s_parties[MAX_PARTIES];
static size_t s_nparties;

static struct event {
	const char *label;      /* as in the file */
	uint8_t *env;           /* the envelope */
	size_t len;             /* its length */
	uint8_t id[CPT_ID_LEN]; /* its id */
	int last_rc;            /* the last result in the scene being replayed */
	char last_rule[40];     /* and the rule it named (PROTOCOL.md 8.8) */
} s_events[MAX_EVENTS];
static size_t s_nevents;

static struct scene {
	const char *name;       /* as in the file */
	const char *lines[256]; /* its lines, in order */
	size_t n;               /* how many */
} s_scenes[MAX_SCENES];
static size_t s_nscenes;

static uint8_t s_root[CPT_KEY_LEN];

/* ------------------------------------------------------------ the file */

static struct event *
s_event(const char *label, size_t len)
{
	for (size_t i = 0; i < s_nevents; i++)
		if (strlen(s_events[i].label) == len && memcmp(s_events[i].label, label, len) == 0)
			return &s_events[i];
	return NULL;
}

static int
s_load(void)
{
	FILE *f = fopen(s_path, "rb");
	size_t cap = 1 << 20, len = 0, n;
	char *p, *eol;
	struct event *ev = NULL;
	struct scene *sc = NULL;

	if (f == NULL || (s_text = malloc(cap)) == NULL)
		return -1;
	while ((n = fread(s_text + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (len + 1 == cap && (s_text = realloc(s_text, cap *= 2)) == NULL)
			return -1;
	}
	fclose(f);
	s_text[len] = 0;
	for (p = s_text; *p; p = eol + 1) {
		if ((eol = strchr(p, '\n')) == NULL)
			eol = p + strlen(p) - 1;
		else
			*eol = 0;
		if (*p == '#')
			continue;
		if (*p == 0) {
			ev = NULL;
			sc = NULL;
			continue;
		}
		if (strncmp(p, "party: ", 7) == 0 && s_nparties < MAX_PARTIES) {
			char *name = p + 7, *sp = strchr(name, ' '),
			     *pk = sp ? strchr(sp + 1, ' ') : NULL;
			if (!pk ||
			    cpt_unhex32(s_parties[s_nparties].pk, pk + 1, strlen(pk + 1)) != 0)
				return -1;
			*sp = 0;
			s_parties[s_nparties++].name = name;
			if (strcmp(name, "root") == 0)
				memcpy(s_root, s_parties[s_nparties - 1].pk, CPT_KEY_LEN);
		} else if (strncmp(p, "event: ", 7) == 0 && s_nevents < MAX_EVENTS) {
			ev = &s_events[s_nevents++];
			ev->label = p + 7;
		} else if (ev && strncmp(p, "envelope: ", 10) == 0) {
			size_t hl = strlen(p + 10);
			if ((ev->env = malloc(hl / 2 + 1)) == NULL ||
			    sodium_hex2bin(ev->env, hl / 2 + 1, p + 10, hl, NULL, &ev->len, NULL) !=
			        0)
				return -1;
			evt_id_raw(ev->id, ev->env);
		} else if (strncmp(p, "scene: ", 7) == 0 && s_nscenes < MAX_SCENES) {
			sc = &s_scenes[s_nscenes++];
			sc->name = p + 7;
		} else if (sc && sc->n < 256) {
			sc->lines[sc->n++] = p;
		}
	}
	return s_nscenes > 0 ? 0 : -1;
}

/* ------------------------------------------------------------ a receiver */

struct rx {
	char dir[64];     /* its temporary directory */
	store_t *st;      /* its store */
	ingest_ctx_t ctx; /* its ingest context */
	char *problems;   /* what did not match, one a line */
	size_t plen;      /* length of problems */
};

static void
s_problem(struct rx *r, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	size_t l;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	l = strlen(line);
	if ((r->problems = realloc(r->problems, r->plen + l + 4)) == NULL)
		abort();
	memcpy(r->problems + r->plen, "  ", 2);
	memcpy(r->problems + r->plen + 2, line, l);
	r->plen += l + 3;
	r->problems[r->plen - 1] = '\n';
	r->problems[r->plen] = 0;
}

struct one {
	ingest_ctx_t *ctx;
	struct event *ev;
	ingest_res_t res;
};

static int
s_one_fn(store_txn_t *txn, void *arg)
{
	struct one *o = arg;
	const uint8_t *b = o->ev->env;
	size_t len = o->ev->len;

	return ingest_txn(o->ctx, txn, &b, &len, 1, &o->res);
}

static int
s_ingest(struct rx *r, struct event *ev)
{
	struct one o = {&r->ctx, ev, {0}};

	assert_int_equal(store_write(r->st, s_one_fn, &o), 0);
	ev->last_rc = o.res.rc;
	snprintf(ev->last_rule, sizeof(ev->last_rule), "%s", o.res.rule);
	return o.res.rc;
}

static const char *
s_code(int rc)
{
	switch (rc) {
	case 0: return "ok";
	case CPT_EEXIST: return "EEXIST";
	case CPT_EPENDING: return "EPENDING";
	case CPT_EHELD: return "EHELD";
	case CPT_EAGAIN: return "EAGAIN";
	case CPT_EPERM: return "EPERM";
	case CPT_EREVOKED: return "EREVOKED";
	case CPT_EINVAL: return "EINVAL";
	case CPT_EFULL: return "EFULL";
	case CPT_EVERSION: return "EVERSION";
	case CPT_ESIG: return "ESIG";
	}
	return cpt_strerror(rc);
}

static size_t
s_stored_len(struct rx *r, const struct event *ev)
{
	store_txn_t *txn;
	index_env_t v;
	size_t n = 0;

	assert_int_equal(store_read_begin(r->st, &txn), 0);
	if (index_env_read(txn, ev->id, &v) == 0)
		n = index_env_len(&v);
	store_read_end(r->st, &txn);
	return n;
}

static int
s_pending(struct rx *r, const struct event *ev)
{
	store_txn_t *txn;
	int found;

	assert_int_equal(store_read_begin(r->st, &txn), 0);
	found = index_is_pending(txn, ev->id);
	store_read_end(r->st, &txn);
	return found;
}

/* Which events are admitted: a bit per event. */
static void
s_admitted(struct rx *r, unsigned char *out)
{
	for (size_t i = 0; i < s_nevents; i++)
		out[i] = s_stored_len(r, &s_events[i]) > 0;
}

/* Compares the changes between before and now with "+label -label" words. */
static void
s_changes(struct rx *r, const char *what, const unsigned char *before, const struct event *self,
          const char *words)
{
	unsigned char now[MAX_EVENTS];
	char want[4096];

	s_admitted(r, now);
	snprintf(want, sizeof(want), " %s ", words ? words : "");
	for (size_t i = 0; i < s_nevents; i++) {
		char w[160];
		const struct event *e = &s_events[i];
		if (e == self || (self && memcmp(e->id, self->id, CPT_ID_LEN) == 0) ||
		    now[i] == before[i])
			continue;
		/* two labels of one id (a bodiless copy): the first speaks for both */
		int dup = 0;
		for (size_t j = 0; j < i; j++)
			dup |= memcmp(s_events[j].id, e->id, CPT_ID_LEN) == 0;
		if (dup)
			continue;
		snprintf(w, sizeof(w), " %c%s ", now[i] ? '+' : '-', e->label);
		if (strstr(want, w) == NULL)
			s_problem(r, "%s: %s%s, not expected", what, now[i] ? "+" : "-", e->label);
	}
	for (char *tok = strtok(want, " "); tok; tok = strtok(NULL, " ")) {
		struct event *e = s_event(tok + 1, strlen(tok + 1));
		if (!e || (tok[0] != '+' && tok[0] != '-'))
			continue;
		if ((s_stored_len(r, e) > 0) != (tok[0] == '+'))
			s_problem(r, "%s: %s expected, not seen", what, tok);
	}
}

static int
s_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
test_scene(void **state)
{
	const struct scene *sc = *state;
	struct rx r;
	char err[256];
	int first_clock = 1;

	memset(&r, 0, sizeof(r));
	snprintf(r.dir, sizeof(r.dir), "/tmp/comptoir-rules-XXXXXX");
	assert_non_null(mkdtemp(r.dir));
	if (index_store_open(&r.st, r.dir, 1, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	assert_int_equal(store_set_nosync(r.st, 1), 0);
	r.ctx.st = r.st;
	evt_federation_id(r.ctx.fed, s_root);
	memcpy(r.ctx.root, s_root, CPT_KEY_LEN);
	r.ctx.max_body = EVT_MAX_BODY;
	r.ctx.max_pending = 1000;
	for (size_t i = 0; i < s_nevents; i++)
		s_events[i].last_rc = 1; /* never seen */

	for (size_t li = 0; li < sc->n; li++) {
		const char *line = sc->lines[li];
		unsigned char before[MAX_EVENTS];
		char buf[4096], *words;

		snprintf(buf, sizeof(buf), "%s", line);
		if (strncmp(buf, "max_pending: ", 13) == 0) {
			r.ctx.max_pending = (uint32_t)strtoul(buf + 13, NULL, 10);
		} else if (strncmp(buf, "clock: ", 7) == 0) {
			r.ctx.now_ms = strtoull(buf + 7, &words, 10);
			if (first_clock) {
				first_clock = 0;
				continue;
			}
			s_admitted(&r, before);
			/* what was held or too far ahead is offered again, as a peer would */
			for (size_t i = 0; i < s_nevents; i++)
				if (s_events[i].last_rc == CPT_EHELD ||
				    s_events[i].last_rc == CPT_EAGAIN)
					(void)s_ingest(&r, &s_events[i]);
			s_changes(&r, buf, before, NULL, words);
		} else if (strncmp(buf, "arrive: ", 8) == 0) {
			char *label = buf + 8, *want = strchr(label, ' '), *rest, *slash;
			struct event *ev;
			int rc;
			if (want == NULL)
				fail_msg("%s: bad line \"%s\"", sc->name, line);
			*want++ = 0;
			rest = strchr(want, ' ');
			if (rest)
				*rest++ = 0;
			if ((ev = s_event(label, strlen(label))) == NULL)
				fail_msg("%s: no event %s", sc->name, label);
			s_admitted(&r, before);
			rc = s_ingest(&r, ev);
			if ((slash = strchr(want, '/')) != NULL)
				*slash = 0;
			if (strcmp(s_code(rc), want) != 0)
				s_problem(&r, "%s: got %s, want %s (%s)", label, s_code(rc), want,
				          ev->last_rule);
			else if (slash && strcmp(ev->last_rule, slash + 1) != 0)
				s_problem(&r, "%s: %s names rule \"%s\", want \"%s\"", label, want,
				          ev->last_rule, slash + 1);
			s_changes(&r, label, before, ev, rest);
		} else if (strncmp(buf, "admitted:", 9) == 0) {
			unsigned char now[MAX_EVENTS];
			char want[4096];
			s_admitted(&r, now);
			snprintf(want, sizeof(want), " %s ", buf + 9);
			for (size_t i = 0; i < s_nevents; i++) {
				char w[160];
				int listed;
				snprintf(w, sizeof(w), " %s ", s_events[i].label);
				listed = strstr(want, w) != NULL;
				/* a label not listed whose id another listed label shares */
				for (size_t j = 0; !listed && j < s_nevents; j++) {
					char w2[160];
					snprintf(w2, sizeof(w2), " %s ", s_events[j].label);
					listed = j != i &&
					         memcmp(s_events[j].id, s_events[i].id,
					                CPT_ID_LEN) == 0 &&
					         strstr(want, w2) != NULL;
				}
				if (listed != now[i])
					s_problem(&r, "at the end %s is %sadmitted",
					          s_events[i].label, now[i] ? "" : "not ");
			}
		} else if (strncmp(buf, "pending:", 8) == 0) {
			for (char *tok = strtok(buf + 8, " "); tok; tok = strtok(NULL, " ")) {
				struct event *e = s_event(tok, strlen(tok));
				if (e && !s_pending(&r, e))
					s_problem(&r, "at the end %s is not pending", tok);
			}
		} else if (strncmp(buf, "held:", 5) == 0 || strncmp(buf, "aside:", 6) == 0) {
			/* kept but not admitted: "admitted:" checked that they are not */
		} else if (strncmp(buf, "erased:", 7) == 0) {
			for (char *tok = strtok(buf + 7, " "); tok; tok = strtok(NULL, " ")) {
				struct event *e = s_event(tok, strlen(tok));
				if (e && s_stored_len(&r, e) != EVT_FIXED_LEN)
					s_problem(&r, "at the end %s is not erased", tok);
			}
		} else if (strncmp(buf, "handle: ", 8) == 0) {
			char h[64], site[64], who[64];
			uint8_t key[CPT_KEY_LEN];
			store_txn_t *txn;
			json_t *p;
			const uint8_t *want = NULL;
			if (sscanf(buf + 8, "%63s %63s %63s", h, site, who) != 3)
				fail_msg("%s: bad line \"%s\"", sc->name, line);
			for (size_t i = 0; i < s_nparties; i++)
				if (strcmp(s_parties[i].name, who) == 0)
					want = s_parties[i].pk;
			assert_int_equal(store_read_begin(r.st, &txn), 0);
			if (index_key_of(txn, h, key) != 0 || !want ||
			    memcmp(key, want, CPT_KEY_LEN) != 0)
				s_problem(&r, "handle %s: its key is not %s's", h, who);
			p = query_person(txn, h);
			if (!p || strcmp(json_string_value(json_object_get(p, "home_site")) ?: "",
			                 site) != 0)
				s_problem(&r, "handle %s: its site is not %s", h, site);
			json_decref(p);
			store_read_end(r.st, &txn);
		}
	}
	ingest_ctx_release(&r.ctx);
	store_close(&r.st);
	nftw(r.dir, s_rm, 8, FTW_DEPTH | FTW_PHYS);
	if (r.problems) {
		char msg[8192];
		snprintf(msg, sizeof(msg), "scene %s:\n%s", sc->name, r.problems);
		free(r.problems);
		fail_msg("%s", msg);
	}
}

/* ------------------------------------------------------------ orders */

/* A digest of every database that is a function of the event set: events,
 * indexes and views, trust records, what is kept and why. */
static uint8_t s_per_db[32][32];  /* the last digest's, per database (for a message) */
static size_t s_lens[MAX_EVENTS]; /* the last delivery's stored length of each event */

/* The digest's two states, for an entry. */
struct digest_pair {
	crypto_generichash_state *h, *hd;
};

static int
s_digest_entry(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct digest_pair *p = arg;
	uint8_t lens[16];

	store_put_u64(lens, klen);
	store_put_u64(lens + 8, vlen);
	crypto_generichash_update(p->h, lens, sizeof(lens));
	crypto_generichash_update(p->h, k, klen);
	crypto_generichash_update(p->h, v, vlen);
	crypto_generichash_update(p->hd, k, klen);
	crypto_generichash_update(p->hd, v, vlen);
	return 0;
}

static void
s_digest(store_t *st, uint8_t out[32])
{
	static const enum store_db dbs[] = {
	    DB_EVENT_IDS,  DB_ORDER,      DB_BY_AUTHOR,  DB_BY_REF,     DB_TOMBSTONES,
	    DB_PENDING,    DB_KEYS,       DB_REVOKED,    DB_HANDLES,    DB_BACKUPS,
	    DB_FEED,       DB_PROFILES,   DB_MENTIONS,   DB_REACTIONS,  DB_PENDING_IDS,
	    DB_BUCKETS_L3, DB_BUCKETS_L4, DB_BUCKETS_L5, DB_BUCKETS_L6, DB_BUCKETS_L7,
	};
	crypto_generichash_state h;
	store_txn_t *txn;

	crypto_generichash_init(&h, NULL, 0, 32);
	assert_int_equal(store_read_begin(st, &txn), 0);
	for (size_t d = 0; d < sizeof(dbs) / sizeof(dbs[0]); d++) {
		store_cur_t *cur;
		store_val_t k, v;
		uint8_t tag[8] = {(uint8_t)dbs[d]};
		crypto_generichash_state hd;
		crypto_generichash_init(&hd, NULL, 0, 32);
		struct digest_pair p = {&h, &hd};
		crypto_generichash_update(&h, tag, sizeof(tag));
		/* Keyed by reference numbers, which follow the order the events
		 * came in: each number taken as the id it stands for. */
		if (index_ref_keyed(dbs[d])) {
			assert_int_equal(index_ref_canon(txn, dbs[d], s_digest_entry, &p), 0);
			crypto_generichash_final(&hd, s_per_db[d], 32);
			continue;
		}
		assert_int_equal(store_cur_open(txn, dbs[d], &cur), 0);
		for (int rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
		     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			/* An envelope's number follows the order it came in: what
			 * counts is the envelope it numbers. */
			if (dbs[d] == DB_EVENT_IDS) {
				assert_int_equal(k.len, CPT_ID_LEN);
				assert_int_equal(index_env_stored(txn, k.data, &v), 0);
			}
			s_digest_entry(&p, k.data, k.len, v.data, v.len);
		}
		store_cur_close(&cur);
		crypto_generichash_final(&hd, s_per_db[d], 32);
	}
	store_read_end(st, &txn);
	crypto_generichash_final(&h, out, 32);
}

/* The arrivals of a scene, once each, and its last clock. */
static size_t
s_arrivals(const struct scene *sc, struct event **out, uint64_t *last_clock)
{
	size_t n = 0;

	*last_clock = 0;
	for (size_t li = 0; li < sc->n; li++) {
		const char *line = sc->lines[li];
		if (strncmp(line, "clock: ", 7) == 0) {
			*last_clock = strtoull(line + 7, NULL, 10);
		} else if (strncmp(line, "arrive: ", 8) == 0) {
			const char *label = line + 8, *sp = strchr(label, ' ');
			struct event *ev =
			    s_event(label, sp ? (size_t)(sp - label) : strlen(label));
			int seen = 0;
			for (size_t i = 0; ev && i < n; i++)
				seen |= out[i] == ev;
			if (ev && !seen && n < MAX_EVENTS)
				out[n++] = ev;
		}
	}
	return n;
}

/* The final state after delivering evs (n) in this order at the clock. */
static void
s_deliver(struct event **evs, size_t n, uint64_t clock, uint8_t digest[32])
{
	struct rx r;
	char err[256];

	memset(&r, 0, sizeof(r));
	snprintf(r.dir, sizeof(r.dir), "/tmp/comptoir-order-XXXXXX");
	assert_non_null(mkdtemp(r.dir));
	if (index_store_open(&r.st, r.dir, 1, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	assert_int_equal(store_set_nosync(r.st, 1), 0);
	r.ctx.st = r.st;
	evt_federation_id(r.ctx.fed, s_root);
	memcpy(r.ctx.root, s_root, CPT_KEY_LEN);
	r.ctx.max_body = EVT_MAX_BODY;
	r.ctx.max_pending = 1000;
	r.ctx.now_ms = clock;
	for (size_t i = 0; i < n; i++)
		(void)s_ingest(&r, evs[i]);
	/* Then a peer offers again what this node lacks, as reconciliation does:
	 * an erasure is not undone in place, the target leaves and comes back. */
	for (size_t i = 0; i < n; i++)
		(void)s_ingest(&r, evs[i]);
	s_digest(r.st, digest);
	for (size_t i = 0; i < s_nevents; i++)
		s_lens[i] = s_stored_len(&r, &s_events[i]);
	ingest_ctx_release(&r.ctx);
	store_close(&r.st);
	nftw(r.dir, s_rm, 8, FTW_DEPTH | FTW_PHYS);
}

/*
 * Every scene whose result is a function of the set (not "orders:
 * as-written"): its events delivered at its last clock in 30 orders (the
 * written one, its reverse, and shuffles from a fixed seed), then offered
 * once more as a peer's reconciliation would, leave the same bytes in every
 * database (PROTOCOL.md 8: two nodes that hold the same events admit the same
 * ones, and every view is a function of the set).
 */
static void
test_orders(void **state)
{
	const struct scene *sc = *state;
	struct event *evs[MAX_EVENTS], *tmp[MAX_EVENTS];
	uint8_t want[32], got[32];
	uint64_t clock, rng = 0x9e3779b97f4a7c15ull;
	size_t n;

	for (size_t li = 0; li < sc->n; li++)
		if (strcmp(sc->lines[li], "orders: as-written") == 0)
			skip();
	uint8_t want_db[32][32];
	size_t want_lens[MAX_EVENTS];
	n = s_arrivals(sc, evs, &clock);
	s_deliver(evs, n, clock, want);
	memcpy(want_db, s_per_db, sizeof(want_db));
	memcpy(want_lens, s_lens, sizeof(want_lens));
	for (int round = 0; round < 30; round++) {
		memcpy(tmp, evs, n * sizeof(*tmp));
		if (round == 0) {
			for (size_t i = 0; i < n / 2; i++) {
				struct event *x = tmp[i];
				tmp[i] = tmp[n - 1 - i];
				tmp[n - 1 - i] = x;
			}
		} else {
			for (size_t i = n; i > 1; i--) {
				size_t j;
				rng ^= rng << 13;
				rng ^= rng >> 7;
				rng ^= rng << 17;
				j = (size_t)(rng % i);
				struct event *x = tmp[i - 1];
				tmp[i - 1] = tmp[j];
				tmp[j] = x;
			}
		}
		s_deliver(tmp, n, clock, got);
		if (memcmp(want, got, 32) != 0) {
			char order[4096] = "";
			for (size_t d = 0; d < 16; d++)
				if (memcmp(want_db[d], s_per_db[d], 32) != 0)
					snprintf(order + strlen(order),
					         sizeof(order) - strlen(order),
					         "[database %zu of the digest differs] ", d);
			for (size_t e = 0; e < s_nevents; e++)
				if (want_lens[e] != s_lens[e])
					snprintf(order + strlen(order),
					         sizeof(order) - strlen(order),
					         "[%s stored as %zu bytes, not %zu] ",
					         s_events[e].label, s_lens[e], want_lens[e]);
			for (size_t i = 0; i < n; i++) {
				strncat(order, tmp[i]->label, sizeof(order) - strlen(order) - 2);
				strcat(order, " ");
			}
			fail_msg("scene %s: the order %s leaves other bytes than the written one",
			         sc->name, order);
		}
	}
}

int
main(int argc, char **argv)
{
	struct CMUnitTest *tests;
	int rc;

	if (argc > 1)
		s_path = argv[1];
	if (cpt_init() != 0 || s_load() != 0) {
		fprintf(stderr, "%s: cannot load the rule vectors\n", s_path);
		return 1;
	}
	if ((tests = calloc(2 * s_nscenes, sizeof(*tests))) == NULL)
		return 1;
	for (size_t i = 0; i < s_nscenes; i++) {
		char *name = malloc(strlen(s_scenes[i].name) + 16);
		tests[i].name = s_scenes[i].name;
		tests[i].test_func = test_scene;
		tests[i].initial_state = &s_scenes[i];
		if (name == NULL)
			return 1;
		sprintf(name, "%s/orders", s_scenes[i].name);
		tests[s_nscenes + i].name = name;
		tests[s_nscenes + i].test_func = test_orders;
		tests[s_nscenes + i].initial_state = &s_scenes[i];
	}
	rc = _cmocka_run_group_tests("rules", tests, 2 * s_nscenes, NULL, NULL);
	for (size_t i = 0; i < s_nscenes; i++)
		free((char *)tests[s_nscenes + i].name);
	free(tests);
	for (size_t i = 0; i < s_nevents; i++)
		free(s_events[i].env);
	free(s_text);
	return rc;
}
