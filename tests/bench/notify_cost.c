/*
 * notify_cost — what notifications cost the writer and the reader (issue 18):
 *
 *   notify_cost --dir DIR storm N     N posts each mentioning one person,
 *                                     against N posts mentioning nobody
 *   notify_cost --dir DIR fanout M    one group written for M people at once
 *                                     (the hook a space's post will use)
 *   notify_cost --dir DIR space M     through a real open space of M members
 *                                     who all follow it: each post notifies M
 *                                     (space_post), against the same posts when
 *                                     nobody follows; then one member stops
 *   notify_cost --dir DIR hot N       one post, N comments by N people: each
 *                                     comment notifies everyone before it
 *   notify_cost --dir DIR year        a year of one person's normal activity:
 *                                     the size of their state, and the time of
 *                                     their bell and of their state's fold
 *
 * (DIR made by `comptoir init`, a fresh one per mode.) Events are signed
 * beforehand and stored through node_submit_verified in batches of 1000,
 * as after the sync engine's verification pool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "node/core/core.h"
#include "node/index/index.h"
#include "node/query/query.h"

static double
s_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static node_t *s_node;
static hlc_t s_clk;
static const char *s_dir; /* the data directory (its keys/root.key) */
/* Enrolments signed at s_clk (the year mode dates them a year back) instead
 * of now through node_publish. */
static int s_back;

static void s_sign_now(const key_sign_t *k, uint16_t kind, json_t *body);

static key_sign_t *
s_user(const char *handle)
{
	key_sign_t *k = key_sign_new();
	char hex[CPT_HEX_ID], proof[2 * CPT_SIG_LEN + 1];
	uint8_t sig[CPT_SIG_LEN];
	ingest_res_t r;
	json_t *b;

	cpt_hex32(hex, key_sign_public(k));
	/* The key's proof that it takes the handle (PROTOCOL.md 7.2). */
	if (evt_proof_sign(sig, k, node_ingest_ctx(s_node)->fed, node_cfg(s_node)->name, handle) !=
	    0)
		exit(1);
	sodium_bin2hex(proof, sizeof(proof), sig, sizeof(sig));
	b = json_pack("{s:s, s:s, s:s, s:s, s:s}", "handle", handle, "key", hex, "site",
	              node_cfg(s_node)->name, "role", "member", "proof", proof);
	if (s_back) {
		/* At s_clk, inside the window s_certify_back opened; what follows
		 * is signed after it. */
		s_sign_now(node_site_key(s_node), EVT_ENROL, b);
		json_decref(b);
		return k;
	}
	if (node_publish(s_node, node_site_key(s_node), EVT_ENROL, b, &r) != 0 || r.rc != 0) {
		fprintf(stderr, "notify_cost: enrolment refused: %s\n", r.why);
		exit(1);
	}
	json_decref(b);
	/* The events signed after it come after it (PROTOCOL.md 8.5: an event
	 * older than its author's enrolment is refused). */
	if (s_clk.last < HLC_MAKE(hlc_wall_ms() + 1, 0))
		s_clk.last = HLC_MAKE(hlc_wall_ms() + 1, 0);
	return k;
}

/* A batch of signed events waiting to be stored. */
typedef struct batch {
	uint8_t **env;
	size_t *len;
	size_t n, cap;
} batch_t;

static void
s_add(batch_t *b, const key_sign_t *k, uint16_t kind, const char *body, uint8_t id[CPT_ID_LEN])
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 1024;
		b->env = realloc(b->env, b->cap * sizeof(*b->env));
		b->len = realloc(b->len, b->cap * sizeof(*b->len));
	}
	b->env[b->n] = malloc(EVT_FIXED_LEN + strlen(body));
	s_clk.last += 1 << 10;
	if (evt_sign(b->env[b->n], EVT_FIXED_LEN + strlen(body), &b->len[b->n], kind,
	             node_ingest_ctx(s_node)->fed, s_clk.last, (const uint8_t *)body, strlen(body),
	             k) != 0)
		exit(1);
	if (id)
		evt_id_raw(id, b->env[b->n]);
	b->n++;
}

/* Stores the batch (1000 a transaction); seconds taken. */
static double
s_store(batch_t *b)
{
	ingest_res_t res[1000];
	uint8_t *ok = malloc(b->n ? b->n : 1);
	double t0 = s_now();

	memset(ok, 1, b->n);
	for (size_t i = 0; i < b->n; i += 1000) {
		size_t k = b->n - i < 1000 ? b->n - i : 1000;
		if (node_submit_verified(s_node, (const uint8_t *const *)b->env + i, b->len + i, k,
		                         ok + i, NULL, res) != 0) {
			fprintf(stderr, "notify_cost: store error\n");
			exit(1);
		}
		for (size_t j = 0; j < k; j++)
			if (res[j].rc != 0) {
				fprintf(stderr, "notify_cost: refused: %s\n", res[j].why);
				exit(1);
			}
	}
	for (size_t i = 0; i < b->n; i++)
		free(b->env[i]);
	b->n = 0;
	free(ok);
	return s_now() - t0;
}

/* Signs body (taken) as kind by k at the next tick of s_clk and stores it
 * at once; exits if it is refused. */
static void
s_sign_now(const key_sign_t *k, uint16_t kind, json_t *body)
{
	batch_t b = {0};
	char *text = json_dumps(body, JSON_COMPACT);

	if (text == NULL)
		exit(1);
	s_add(&b, k, kind, text, NULL);
	free(text);
	s_store(&b);
	free(b.env);
	free(b.len);
}

/* The site certified again by the root key (keys/root.key of the
 * directory) from ms on, as tests/bench/fill.c does: a certificate is valid
 * from its issue (protocol version 2), so a site made now cannot enrol
 * anyone a year ago. Its windows add up. */
static void
s_certify_back(uint64_t ms)
{
	char path[4200], err[1024], sk[CPT_HEX_ID];
	key_sign_t *root;
	store_txn_t *txn;
	json_t *rec = NULL, *body;

	snprintf(path, sizeof(path), "%s/keys/root.key", s_dir);
	if ((root = key_sign_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "notify_cost: %s (the root key certifies the site back in time)\n",
		        err);
		exit(1);
	}
	if (store_read_begin(node_store(s_node), &txn) == 0) {
		rec = index_key_info(txn, key_sign_public(node_site_key(s_node)));
		store_read_end(node_store(s_node), &txn);
	}
	cpt_hex32(sk, key_sign_public(node_site_key(s_node)));
	body = rec ? json_pack("{s:O, s:s, s:O, s:O, s:O, s:I, s:I}", "site",
	                       json_object_get(rec, "site"), "sign_key", sk, "curve_key",
	                       json_object_get(rec, "curve_key"), "seal_key",
	                       json_object_get(rec, "seal_key"), "endpoints",
	                       json_object_get(rec, "endpoints"), "not_before", (json_int_t)ms,
	                       "not_after", (json_int_t)0)
	           : NULL;
	if (body == NULL) {
		fprintf(stderr, "notify_cost: no certificate of this site to renew\n");
		exit(1);
	}
	s_clk.last = HLC_MAKE(ms, 0);
	s_sign_now(root, EVT_SITE_CERT, body);
	json_decref(rec);
	key_sign_destroy(&root);
}

static size_t
s_count(enum store_db db)
{
	store_txn_t *txn;
	size_t n;

	if (store_read_begin(node_store(s_node), &txn) != 0)
		return 0;
	n = store_count(txn, db);
	store_read_end(node_store(s_node), &txn);
	return n;
}

static void
s_storm(size_t n)
{
	key_sign_t *a = s_user("alice"), *b = s_user("bob");
	batch_t bt = {0};
	char body[128];
	double t_plain, t_mention;

	(void)b;
	for (size_t i = 0; i < n; i++) {
		snprintf(body, sizeof(body), "{\"text\":\"the audit is on friday, item %zu\"}", i);
		s_add(&bt, a, EVT_POST, body, NULL);
	}
	t_plain = s_store(&bt);
	for (size_t i = 0; i < n; i++) {
		snprintf(body, sizeof(body), "{\"text\":\"@bob the audit is on friday, item %zu\"}",
		         i);
		s_add(&bt, a, EVT_POST, body, NULL);
	}
	t_mention = s_store(&bt);
	printf(
	    "storm: %zu posts without a mention in %.3f s (%.1f us each); %zu mentioning @bob in "
	    "%.3f s (%.1f us each): %.1f us per notification written, %.0f mentions/s; "
	    "notify entries %zu\n",
	    n, t_plain, t_plain * 1e6 / n, n, t_mention, t_mention * 1e6 / n,
	    (t_mention - t_plain) * 1e6 / n, n / t_mention, s_count(DB_NOTIFY));
}

struct fan {
	uint8_t group[CPT_ID_LEN];
	json_t *recs;
};

static int
s_fan_fn(store_txn_t *txn, void *arg)
{
	struct fan *f = arg;
	index_ctx_t ix = {0};
	int rc = index_notify_group(&ix, txn, f->group, f->recs);

	index_ctx_release(&ix);
	return rc;
}

static void
s_fanout(size_t m)
{
	struct fan f;
	double t0, t1, t2;

	randombytes_buf(f.group, sizeof(f.group));
	f.recs = json_object();
	for (size_t i = 0; i < m; i++) {
		char h[32];
		snprintf(h, sizeof(h), "member%05zu", i);
		json_object_set_new(f.recs, h,
		                    json_pack("{s:I, s:{s:{s:i, s:I, s:[s], s:i}}}", "latest",
		                              (json_int_t)HLC_MAKE(hlc_wall_ms(), 0), "types",
		                              "space_post", "n", 1, "ts",
		                              (json_int_t)HLC_MAKE(hlc_wall_ms(), 0), "by", "alice",
		                              "actors", 1));
	}
	t0 = s_now();
	if (store_write(node_store(s_node), s_fan_fn, &f) != 0)
		exit(1);
	t1 = s_now();
	/* The same group again (a comment on it): every record replaced. */
	if (store_write(node_store(s_node), s_fan_fn, &f) != 0)
		exit(1);
	t2 = s_now();
	printf("fanout: one post to %zu people: %.1f ms (%.1f us per notification), commit "
	       "included; written again (an update of the group): %.1f ms; notify entries %zu\n",
	       m, (t1 - t0) * 1e3, (t1 - t0) * 1e6 / m, (t2 - t1) * 1e3, s_count(DB_NOTIFY));
	json_decref(f.recs);
}

/* Posts n posts in space (hex) one transaction each, as staff write them:
 * the median and the slowest, in ms. */
static void
s_space_posts(const key_sign_t *a, const char *hex, size_t n, const char *what, double *med,
              double *max)
{
	batch_t bt = {0};
	double *t = calloc(n, sizeof(*t));
	char body[192];

	for (size_t i = 0; i < n; i++) {
		snprintf(body, sizeof(body), "{\"text\":\"%s, walk %zu\",\"space\":\"%s\"}", what,
		         i, hex);
		s_add(&bt, a, EVT_POST, body, NULL);
		t[i] = s_store(&bt) * 1e3;
	}
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && t[j - 1] > t[j]; j--) {
			double x = t[j];
			t[j] = t[j - 1];
			t[j - 1] = x;
		}
	*med = t[n / 2];
	*max = t[n - 1];
	free(t);
}

static void
s_space(size_t m)
{
	key_sign_t *a = s_user("alice"), **people = calloc(m, sizeof(*people));
	batch_t bt = {0};
	uint8_t sid[CPT_ID_LEN];
	char hex[CPT_HEX_ID], body[192];
	double med0, max0, med1, max1, t;
	size_t before;

	for (size_t i = 0; i < m; i++) {
		char h[32];
		snprintf(h, sizeof(h), "m%05zu", i);
		people[i] = s_user(h);
	}
	/* Everything after the enrolments (PROTOCOL.md 8.5), which are now. */
	s_clk.last = HLC_MAKE(hlc_wall_ms(), 0);
	s_add(&bt, a, EVT_SPACE, "{\"visibility\":\"open\",\"join\":\"open\",\"name\":\"Hiking\"}",
	      sid);
	s_store(&bt);
	cpt_hex32(hex, sid);
	for (size_t i = 0; i < m; i++) {
		snprintf(body, sizeof(body), "{\"space\":\"%s\",\"action\":\"join\"}", hex);
		s_add(&bt, people[i], EVT_SPACE_MEMBER, body, NULL);
	}
	s_store(&bt);
	/* Members who do not follow: a post notifies nobody. */
	s_space_posts(a, hex, 21, "nobody follows", &med0, &max0);
	for (size_t i = 0; i < m; i++) {
		snprintf(body, sizeof(body), "{\"what\":\"space\",\"target\":\"%s\",\"on\":true}",
		         hex);
		s_add(&bt, people[i], EVT_FOLLOW, body, NULL);
	}
	t = s_store(&bt);
	printf("space: %zu members; their %zu follows stored in %.2f s\n", m, m, t);
	before = s_count(DB_NOTIFY);
	s_space_posts(a, hex, 21, "everyone follows", &med1, &max1);
	printf("space: a post notifying nobody: median %.1f ms, max %.1f ms (21 posts, one "
	       "transaction each)\n",
	       med0, max0);
	printf("space: a post notifying %zu followers: median %.1f ms, max %.1f ms; %.1f us per "
	       "notification over the post alone; notify entries +%zu\n",
	       m, med1, max1, (med1 - med0) * 1e3 / m, s_count(DB_NOTIFY) - before);
	/* One member stops: only their records of the 21 posts are computed. */
	snprintf(body, sizeof(body), "{\"what\":\"space\",\"target\":\"%s\",\"on\":false}", hex);
	s_add(&bt, people[0], EVT_FOLLOW, body, NULL);
	before = s_count(DB_NOTIFY);
	t = s_store(&bt);
	printf("space: one follower stops: %.1f ms; notify entries -%zu\n", t * 1e3,
	       before - s_count(DB_NOTIFY));
	for (size_t i = 0; i < m; i++)
		key_sign_destroy(&people[i]);
	key_sign_destroy(&a);
	free(people);
	free(bt.env);
	free(bt.len);
}

static void
s_hot(size_t n)
{
	key_sign_t *a = s_user("alice");
	batch_t bt = {0};
	uint8_t post[CPT_ID_LEN];
	char ph[CPT_HEX_ID], body[160];
	key_sign_t **people = calloc(n, sizeof(*people));
	double t;

	s_add(&bt, a, EVT_POST, "{\"text\":\"who comes to the offsite?\"}", post);
	s_store(&bt);
	cpt_hex32(ph, post);
	for (size_t i = 0; i < n; i++) {
		char h[32];
		snprintf(h, sizeof(h), "p%05zu", i);
		people[i] = s_user(h);
	}
	/* In batches of 100, timed at each hundredth: the cost grows with the thread. */
	for (size_t i = 0; i < n; i += 100) {
		for (size_t j = i; j < i + 100 && j < n; j++) {
			snprintf(body, sizeof(body), "{\"post\":\"%s\",\"text\":\"me too, %zu\"}",
			         ph, j);
			s_add(&bt, people[j], EVT_COMMENT, body, NULL);
		}
		t = s_store(&bt);
		if ((i + 100) % (n / 5 < 100 ? 100 : n / 5) == 0 || i + 100 >= n)
			printf("hot: comments %zu..%zu of one thread: %.2f ms each (notify entries "
			       "%zu)\n",
			       i + 1, i + 100, t * 1e3 / 100, s_count(DB_NOTIFY));
	}
}

struct walk {
	size_t groups, bytes;
};

static int
s_walk_fn(void *arg, uint64_t latest, const uint8_t group[CPT_ID_LEN], uint64_t n, const char *rec,
          size_t len)
{
	struct walk *w = arg;
	(void)latest;
	(void)n;
	(void)rec;
	w->groups++;
	w->bytes += len + 8 + strlen("claire") + 1 + 8 + CPT_ID_LEN + CPT_ID_LEN + 8 + 8;
	(void)group;
	return 0;
}

static int
s_mine_size_fn(index_ctx_t *ix, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	evt_t ev;
	size_t *bytes = arg;
	(void)ix;
	if (kind == EVT_MINE && index_event(txn, id, &ev) == 0)
		*bytes += ev.body_len + EVT_FIXED_LEN;
	return 0;
}

static int
s_key_fn(store_txn_t *txn, void *arg)
{
	uint8_t *k = arg;
	return index_mine_key_put(txn, k, k + CPT_KEY_LEN);
}

/* A year of one person (claire): each working day (250), 2 posts of hers
 * get 1 comment and 3 reactions each from colleagues, she is mentioned
 * twice, she comments on 2 threads that get 2 more comments each; she
 * opens her notifications 4 times a day (4 mine events marking what was
 * unread). Her colleagues' own activity is there too. */
static void
s_year(void)
{
	key_sign_t *c, *o[8];
	batch_t bt = {0};
	char body[200], ph[CPT_HEX_ID];
	uint8_t id[CPT_ID_LEN], seed[CPT_SEED_LEN], kk[CPT_KEY_LEN + INDEX_MINE_KEY_LEN];
	store_txn_t *txn;
	struct walk w = {0};
	size_t mine_bytes = 0, mine_events = 0;
	double t0, t_bell = 0, t_fold = 0;
	index_ctx_t ix = {0};

	/* The site certified from a year and two hours ago, the people enrolled
	 * an hour after that, their year after (PROTOCOL.md 8.5: nothing of an
	 * author before their enrolment). */
	s_certify_back(hlc_wall_ms() - 366ull * 86400000ull - 2 * 3600000ull);
	s_clk.last = HLC_MAKE(hlc_wall_ms() - 366ull * 86400000ull - 3600000ull, 0);
	s_back = 1;
	c = s_user("claire");
	for (int i = 0; i < 8; i++) {
		char h[16];
		snprintf(h, sizeof(h), "coll%d", i);
		o[i] = s_user(h);
	}
	s_back = 0;
	key_sign_seed(c, seed);
	memcpy(kk, key_sign_public(c), CPT_KEY_LEN);
	index_mine_derive(kk + CPT_KEY_LEN, seed);
	if (store_write(node_store(s_node), s_key_fn, kk) != 0)
		exit(1);
	if (s_clk.last < HLC_MAKE(hlc_wall_ms() - 366ull * 86400000ull, 0))
		s_clk.last = HLC_MAKE(hlc_wall_ms() - 366ull * 86400000ull, 0);
	for (int day = 0; day < 250; day++) {
		for (int p = 0; p < 2; p++) {
			snprintf(body, sizeof(body), "{\"text\":\"claire's news of day %d, #%d\"}",
			         day, p);
			s_add(&bt, c, EVT_POST, body, id);
			cpt_hex32(ph, id);
			snprintf(body, sizeof(body), "{\"post\":\"%s\",\"text\":\"thanks claire\"}",
			         ph);
			s_add(&bt, o[(day + p) % 8], EVT_COMMENT, body, NULL);
			for (int r = 0; r < 3; r++) {
				snprintf(body, sizeof(body),
				         "{\"post\":\"%s\",\"reaction\":\"+1\",\"on\":true}", ph);
				s_add(&bt, o[(day + r + 1) % 8], EVT_REACTION, body, NULL);
			}
		}
		for (int m = 0; m < 2; m++) {
			snprintf(body, sizeof(body),
			         "{\"text\":\"@claire can you check item %d-%d\"}", day, m);
			s_add(&bt, o[(day + m) % 8], EVT_POST, body, NULL);
		}
		for (int th = 0; th < 2; th++) {
			snprintf(body, sizeof(body), "{\"text\":\"a colleague's thread %d-%d\"}",
			         day, th);
			s_add(&bt, o[(day + 3 + th) % 8], EVT_POST, body, id);
			cpt_hex32(ph, id);
			snprintf(body, sizeof(body), "{\"post\":\"%s\",\"text\":\"claire agrees\"}",
			         ph);
			s_add(&bt, c, EVT_COMMENT, body, NULL);
			for (int k = 0; k < 2; k++) {
				snprintf(body, sizeof(body),
				         "{\"post\":\"%s\",\"text\":\"and then %d\"}", ph, k);
				s_add(&bt, o[(day + 5 + k) % 8], EVT_COMMENT, body, NULL);
			}
		}
		if (bt.n >= 900)
			s_store(&bt);
		/* Her 4 reads of the day: the unread groups, marked. */
		s_store(&bt);
		for (int r = 0; r < 4; r++) {
			json_t *mine, *list, *read = json_object(), *g, *plain, *sealed;
			query_notify_opts_t qo = {.limit = 500, .unread_only = 1};
			size_t i;
			char *text;
			if (store_read_begin(node_store(s_node), &txn) != 0)
				exit(1);
			mine =
			    index_mine_state(txn, node_ingest_ctx(s_node)->fed, key_sign_public(c));
			list = query_notifications(txn, mine, "claire", &qo);
			store_read_end(node_store(s_node), &txn);
			json_array_foreach (json_object_get(list, "items"), i, g) {
				uint64_t l, n;
				if (query_parse_mark(json_string_value(json_object_get(g, "mark")),
				                     &l, &n) == 0)
					json_object_set_new(
					    read, json_string_value(json_object_get(g, "group")),
					    json_pack("[I, I]", (json_int_t)l, (json_int_t)n));
			}
			json_decref(list);
			json_decref(mine);
			if (json_object_size(read) == 0) {
				json_decref(read);
				continue;
			}
			plain = json_pack("{s:o}", "read", read);
			sealed = index_mine_seal(kk + CPT_KEY_LEN, node_ingest_ctx(s_node)->fed,
			                         key_sign_public(c), plain);
			text = json_dumps(sealed, JSON_COMPACT);
			s_add(&bt, c, EVT_MINE, text, NULL);
			free(text);
			json_decref(sealed);
			json_decref(plain);
			s_store(&bt);
		}
	}
	s_store(&bt);
	if (store_read_begin(node_store(s_node), &txn) != 0)
		exit(1);
	if (index_notify_each(txn, "claire", NULL, s_walk_fn, &w) != 0)
		exit(1);
	if (index_each_by_author(&ix, txn, key_sign_public(c), EVT_MINE, s_mine_size_fn,
	                         &mine_bytes) != 0)
		exit(1);
	for (int rep = 0; rep < 20; rep++) {
		json_t *mine;
		long n;
		t0 = s_now();
		mine = index_mine_state(txn, node_ingest_ctx(s_node)->fed, key_sign_public(c));
		t_fold += s_now() - t0;
		mine_events = (size_t)json_integer_value(json_object_get(mine, "events"));
		t0 = s_now();
		n = query_unread(txn, mine, "claire");
		t_bell += s_now() - t0;
		if (n < 0)
			exit(1);
		json_decref(mine);
	}
	store_read_end(node_store(s_node), &txn);
	index_ctx_release(&ix);
	printf("year: claire's notification groups %zu, about %zu bytes in the index (keys and "
	       "values, both databases); her sealed state: %zu events, %zu bytes as stored; "
	       "folding it %.2f ms, her bell (unread count) %.2f ms after the fold\n",
	       w.groups, w.bytes, mine_events, mine_bytes, t_fold * 1e3 / 20, t_bell * 1e3 / 20);
}

int
main(int argc, char **argv)
{
	const char *dir = NULL, *mode = NULL;
	size_t n = 0;
	char err[1024];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			s_dir = dir = argv[++i];
		else if (mode == NULL)
			mode = argv[i];
		else
			n = strtoul(argv[i], NULL, 10);
	}
	if (dir == NULL || mode == NULL || cpt_init() != 0) {
		fprintf(
		    stderr,
		    "usage: notify_cost --dir DIR storm N | fanout M | space M | hot N | year\n");
		return 2;
	}
	if (node_open(&s_node, dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "notify_cost: %s\n", err);
		return 1;
	}
	s_clk.last = HLC_MAKE(hlc_wall_ms(), 0);
	if (strcmp(mode, "storm") == 0)
		s_storm(n ? n : 10000);
	else if (strcmp(mode, "fanout") == 0)
		s_fanout(n ? n : 5000);
	else if (strcmp(mode, "space") == 0)
		s_space(n ? n : 5000);
	else if (strcmp(mode, "hot") == 0)
		s_hot(n ? n : 1000);
	else if (strcmp(mode, "year") == 0)
		s_year();
	else {
		fprintf(stderr, "notify_cost: no such mode \"%s\"\n", mode);
		return 2;
	}
	node_close(&s_node);
	return 0;
}
