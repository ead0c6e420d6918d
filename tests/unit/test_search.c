/*
 * Unit tests of node/search: folding and endings in French and English,
 * the query language, typos in names, visibility and redaction at the
 * moment of the search, the writer thread against a rebuild, and the
 * catch-up of a file behind its store. A real node (comptoir init) and real
 * SQLite files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "node/search/search.h"
#include "node/search/search_internal.h" /* sx_quiet_*: the quiet time's rule */
#include "tests/unit/node_util.h"

/* ------------------------------------------------------------- language */

static void
s_stem_is(const char *word, const char *want)
{
	char out[128];

	search_stem(word, out, sizeof(out));
	if (strcmp(out, want) != 0)
		fail_msg("stem of \"%s\": \"%s\", want \"%s\"", word, out, want);
}

static void
test_stem(void **state)
{
	(void)state;
	s_stem_is("réunions", "reunion");
	s_stem_is("Réunion", "reunion");
	s_stem_is("RÉUNION", "reunion");
	s_stem_is("travaux", "travau");
	s_stem_is("rapidement", "rapid");
	s_stem_is("livrée", "livr");
	s_stem_is("Meetings", "meet");
	s_stem_is("planned", "plann");
	s_stem_is("companies", "compan");
	s_stem_is("Lefèvre", "lefevr");
	s_stem_is("bus", "bus"); /* too short to lose its s */
	s_stem_is("Æsir", "aesir");
}

static void
s_expr_is(const char *q, const char *want)
{
	char out[2048];

	assert_int_equal(search_expr(q, 1, out, sizeof(out)), 0);
	if (strcmp(out, want) != 0)
		fail_msg("expression of '%s': '%s', want '%s'", q, out, want);
}

static void
test_expr(void **state)
{
	char out[2048];

	(void)state;
	/* Prefixes (the directory): as typed, folded. */
	s_expr_is("réunions", "\"reunions\"*");
	s_expr_is("  lundi   Réunions ", "\"lundi\"* AND \"reunions\"*");
	s_expr_is("\"de Lundi\" rapport", "\"de lundi\" AND \"rapport\"*");
	s_expr_is("jean-pierre", "\"jean pierre\"*");
	/* FTS5's own syntax is only text here. */
	s_expr_is("a OR b NOT c*", "\"a\"* AND \"or\"* AND \"b\"* AND \"not\"* AND \"c\"*");
	s_expr_is("\"unfinished phrase", "\"unfinished phrase\"");
	/* Words (posts): the stem with each ending, exact terms; a "*" asks
	 * for a prefix. */
	assert_int_equal(search_expr("Réunions", 0, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "(\"reunion\" OR \"reunions\" OR "));
	assert_null(strstr(out, "*"));
	assert_int_equal(search_expr("cancel", 0, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "\"cancelled\""));
	assert_int_equal(search_expr("livr* \"de la\"", 0, out, sizeof(out)), 0);
	assert_string_equal(out, "\"livr\"* AND \"de la\"");
	assert_int_equal(search_expr("", 0, out, sizeof(out)), CPT_EINVAL);
	assert_int_equal(search_expr("!!! ---", 0, out, sizeof(out)), CPT_EINVAL);
	assert_int_equal(search_expr("\"\"", 0, out, sizeof(out)), CPT_EINVAL);
}

static void
test_distance(void **state)
{
	(void)state;
	assert_int_equal(search_distance("lefevre", "lefevre", 1), 0);
	assert_int_equal(search_distance("lefebvre", "lefevre", 1), 1); /* one letter more */
	assert_int_equal(search_distance("lefvere", "lefevre", 1), 1);  /* two swapped */
	assert_int_equal(search_distance("martin", "martine", 1), 1);
	assert_int_equal(search_distance("dupont", "durand", 1), 2); /* capped at max + 1 */
}

/* ------------------------------------------------------------- the index */

struct fx {
	char dir[64];      /* the test directory */
	char data[80];     /* the node's data directory */
	node_t *n;         /* the node */
	key_sign_t *alice; /* a member */
	key_sign_t *bob;   /* another */
	search_t *s;       /* the index, started */
};

static key_sign_t *
s_key(uint8_t fill)
{
	uint8_t seed[CPT_SEED_LEN];

	memset(seed, fill, sizeof(seed));
	return key_sign_from_seed(seed);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[1024];

	assert_non_null(f);
	f->n = tu_node(f->dir, "paris");
	snprintf(f->data, sizeof(f->data), "%s/n", f->dir);
	f->alice = s_key(0x61);
	f->bob = s_key(0x62);
	tu_enrol(f->n, f->alice, "alice");
	tu_enrol(f->n, f->bob, "bob");
	if (search_open(&f->s, node_store(f->n), f->data, 0, err, sizeof(err)) != 0 ||
	    search_start(f->s, f->n, err, sizeof(err)) != 0)
		fail_msg("search: %s", err);
	/* Short windows of live changes: s_settle waits them out (the default,
	 * SEARCH_WINDOW_MS, and its end by a search: test_live_window). */
	search_set_window(f->s, 20, SEARCH_WINDOW_MAX);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	search_close(&f->s);
	node_close(&f->n);
	key_sign_destroy(&f->alice);
	key_sign_destroy(&f->bob);
	tu_rm(f->dir);
	free(f);
	return 0;
}

/* Publishes body (JSON text) as kind by key; the event id into id. */
static void
s_pub(struct fx *f, const key_sign_t *key, uint16_t kind, json_t *body, uint8_t id[CPT_ID_LEN])
{
	ingest_res_t res;

	assert_non_null(body);
	assert_int_equal(node_publish(f->n, key, kind, body, &res), 0);
	if (res.rc != 0)
		fail_msg("publish of kind %u: %s", kind, cpt_strerror(res.rc));
	if (id)
		memcpy(id, res.id, CPT_ID_LEN);
	json_decref(body);
}

/* Waits until the writer thread has applied everything it heard (the
 * condition, not a time: it comes once the thread has run). */
static void
s_settle(struct fx *f)
{
	uint64_t heard, applied;

	for (;;) {
		search_counts(f->s, &heard, &applied);
		if (applied >= heard && search_backlog(f->s) == 0)
			return;
		usleep(1000); /* a window of live changes (setup) */
	}
}

/* The ids (posts and comments) and handles a search finds, for viewer. */
static json_t *
s_find(struct fx *f, const char *q, enum search_type type)
{
	search_q_t sq = {0};
	char err[512];
	int rc;
	json_t *out;

	sq.q = q;
	sq.type = type;
	sq.limit = 20;
	out = search_find(f->s, &sq, key_sign_public(f->bob), &rc, err, sizeof(err));
	if (out == NULL)
		fail_msg("search '%s': %s", q, err);
	return out;
}

/* How many results of group grp a search has; the first one's field k in
 * first (when given). */
static size_t
s_count(struct fx *f, const char *q, const char *grp, const char *k, char *first, size_t cap)
{
	json_t *out = s_find(f, q, SEARCH_ALL),
	       *items = json_object_get(json_object_get(out, grp), "items");
	size_t n = json_array_size(items);

	if (first) {
		const char *v =
		    n ? json_string_value(json_object_get(json_array_get(items, 0), k)) : "";
		snprintf(first, cap, "%s", v ? v : "");
	}
	json_decref(out);
	return n;
}

/* The snippet of the first post q finds, its matches in brackets. */
static void
s_snip_is(struct fx *f, const char *q, const char *want)
{
	json_t *out = s_find(f, q, SEARCH_POSTS), *sn, *x;
	char got[1024] = "";
	size_t i;

	sn = json_object_get(
	    json_array_get(json_object_get(json_object_get(out, "posts"), "items"), 0), "snippet");
	json_array_foreach (sn, i, x)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), i % 2 ? "[%s]" : "%s",
		         json_string_value(x));
	json_decref(out);
	if (strcmp(got, want) != 0)
		fail_msg("snippet of \"%s\": \"%s\", want \"%s\"", q, got, want);
}

static void
test_languages(void **state)
{
	struct fx *f = *state;
	uint8_t p1[CPT_ID_LEN], p2[CPT_ID_LEN];
	char hex[CPT_HEX_ID], got[80];
	json_t *out, *sn;

	s_pub(f, f->alice, EVT_PROFILE,
	      json_pack("{s:{s:s, s:s, s:[s, s]}}", "fields", "name", "Aurélie Lefèvre",
	                "department", "Logistique", "skills", "Excel", "Réseaux"),
	      NULL);
	s_pub(f, f->alice, EVT_POST, json_pack("{s:s}", "text", "La Réunion de lundi est déplacée"),
	      p1);
	s_pub(f, f->bob, EVT_POST, json_pack("{s:s}", "text", "The weekly meetings are cancelled"),
	      p2);
	cpt_hex32(hex, p2);
	s_pub(f, f->alice, EVT_COMMENT,
	      json_pack("{s:s, s:s}", "post", hex, "text", "Nous gardons les réunions du jeudi"),
	      NULL);
	s_settle(f);

	/* French: accents, case, plural either way. */
	assert_int_equal(s_count(f, "reunions", "posts", NULL, NULL, 0), 2);
	assert_int_equal(s_count(f, "RÉUNION", "posts", NULL, NULL, 0), 2);
	assert_int_equal(s_count(f, "deplacee", "posts", "type", got, sizeof(got)), 1);
	assert_string_equal(got, "post");
	/* English: meeting finds meetings, cancel finds cancelled. */
	assert_int_equal(s_count(f, "meeting", "posts", NULL, NULL, 0), 1);
	assert_int_equal(s_count(f, "cancel", "posts", NULL, NULL, 0), 1);
	/* A phrase is in that order only. */
	assert_int_equal(s_count(f, "\"de lundi\"", "posts", NULL, NULL, 0), 1);
	assert_int_equal(s_count(f, "\"lundi de\"", "posts", NULL, NULL, 0), 0);
	/* Every word is required. */
	assert_int_equal(s_count(f, "reunion jeudi", "posts", "type", got, sizeof(got)), 1);
	assert_string_equal(got, "comment");
	/* People: accents folded, a typo forgiven, skills and departments. */
	assert_int_equal(s_count(f, "lefevre", "people", "handle", got, sizeof(got)), 1);
	assert_string_equal(got, "alice");
	assert_int_equal(s_count(f, "Lefebvre", "people", "handle", got, sizeof(got)), 1);
	assert_string_equal(got, "alice");
	assert_int_equal(s_count(f, "reseaux", "people", NULL, NULL, 0), 1);
	assert_int_equal(s_count(f, "lefxxxre", "people", NULL, NULL, 0), 0);

	/* The snippet marks what matched: ["La ", "Réunion", " de lundi..."]. */
	out = s_find(f, "réunion lundi", SEARCH_POSTS);
	sn = json_object_get(
	    json_array_get(json_object_get(json_object_get(out, "posts"), "items"), 0), "snippet");
	assert_true(json_array_size(sn) >= 4);
	assert_string_equal(json_string_value(json_array_get(sn, 1)), "Réunion");
	assert_string_equal(json_string_value(json_array_get(sn, 3)), "lundi");
	assert_null(json_object_get(out, "people"));
	json_decref(out);
	/* Cut from the text the store gives, marked by the rules of the
	 * search: endings, a doubled consonant, prefixes, accents, a French
	 * apostrophe; a short text whole. */
	s_snip_is(f, "cancel", "The weekly meetings are [cancelled]");
	s_snip_is(f, "meeting weekly", "The [weekly] [meetings] are cancelled");
	s_snip_is(f, "déplac*", "La Réunion de lundi est [déplacée]");
	s_snip_is(f, "\"de lundi\"", "La Réunion [de] [lundi] est déplacée");
	s_pub(
	    f, f->bob, EVT_POST,
	    json_pack("{s:s}", "text",
	              "Un deux trois quatre cinq six sept huit neuf dix onze douze treize "
	              "quatorze quinze seize dix-sept dix-huit dix-neuf vingt vingt-et-un "
	              "vingt-deux vingt-trois vingt-quatre vingt-cinq: l’équipe « Œnologie » "
	              "arrive, puis vingt-six vingt-sept vingt-huit vingt-neuf trente trente-et-un "
	              "trente-deux trente-trois trente-quatre trente-cinq trente-six fin"),
	    NULL);
	s_settle(f);
	/* A long prefix is read as the terms it begins, or as FTS5's prefix
	 * when they are many: the same posts either way. */
	{
		char text[2048] = "";
		for (int i = 0; i < 120; i++)
			snprintf(text + strlen(text), sizeof(text) - strlen(text), "zq%04d ", i);
		s_pub(f, f->alice, EVT_POST, json_pack("{s:s}", "text", text), NULL);
		s_pub(f, f->bob, EVT_POST, json_pack("{s:s}", "text", "zq0005 et rien d'autre"),
		      NULL);
		s_settle(f);
		assert_int_equal(s_count(f, "zq00*", "posts", NULL, NULL, 0), 2); /* 100 terms */
		assert_int_equal(s_count(f, "zq0*", "posts", NULL, NULL, 0), 2); /* 120: a prefix */
		assert_int_equal(s_count(f, "zq001*", "posts", NULL, NULL, 0), 1); /* 10 terms */
		assert_int_equal(s_count(f, "zq0005* rien", "posts", NULL, NULL, 0), 1);
		assert_int_equal(s_count(f, "zq9*", "posts", NULL, NULL, 0), 0);
		assert_int_equal(s_count(f, "livr*", "posts", NULL, NULL, 0), 0);
		assert_int_equal(s_count(f, "deplac*", "posts", NULL, NULL, 0), 1);
	}
	s_snip_is(f, "zq0005*", "[zq0005] et rien d'autre");
	s_snip_is(f, "equipe",
	          "…vingt-cinq: l’[équipe] « Œnologie » arrive, puis vingt-six vingt-sept "
	          "vingt-huit vingt-neuf trente trente-et-un trente-deux trente-trois trente…");
}

static void
test_filters_and_directory(void **state)
{
	struct fx *f = *state;
	search_q_t sq = {0};
	char err[512];
	json_t *out;
	int rc;

	s_pub(f, f->alice, EVT_PROFILE,
	      json_pack("{s:{s:s, s:s, s:[s]}}", "fields", "name", "Aurélie Lefèvre", "department",
	                "Logistique", "skills", "Réseaux"),
	      NULL);
	s_pub(f, f->bob, EVT_PROFILE,
	      json_pack("{s:{s:s, s:s, s:[s]}}", "fields", "name", "Bob Martin", "department",
	                "Achats", "skills", "Excel"),
	      NULL);
	s_pub(f, f->alice, EVT_POST, json_pack("{s:s}", "text", "inventaire annuel"), NULL);
	s_pub(f, f->bob, EVT_POST, json_pack("{s:s}", "text", "inventaire des achats"), NULL);
	s_settle(f);

	sq.q = "inventaire";
	sq.type = SEARCH_POSTS;
	sq.limit = 1;
	sq.newest = 1;
	sq.author = "bob";
	out = search_find(f->s, &sq, NULL, &rc, err, sizeof(err));
	assert_non_null(out);
	assert_int_equal(json_array_size(json_object_get(json_object_get(out, "posts"), "items")),
	                 1);
	assert_true(json_is_null(json_object_get(json_object_get(out, "posts"), "next")));
	json_decref(out);
	/* Paging: one by one, then nothing more. */
	sq.author = NULL;
	out = search_find(f->s, &sq, NULL, &rc, err, sizeof(err));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "posts"), "next")),
	                 1);
	json_decref(out);
	/* The directory: no words lists everyone; department and skill
	 * filters are folded. */
	memset(&sq, 0, sizeof(sq));
	sq.q = "";
	sq.type = SEARCH_PEOPLE;
	sq.limit = 10;
	out = search_find(f->s, &sq, NULL, &rc, err, sizeof(err));
	assert_int_equal(json_array_size(json_object_get(json_object_get(out, "people"), "items")),
	                 2);
	json_decref(out);
	sq.department = "LOGISTIQUE";
	out = search_find(f->s, &sq, NULL, &rc, err, sizeof(err));
	assert_int_equal(json_array_size(json_object_get(json_object_get(out, "people"), "items")),
	                 1);
	json_decref(out);
	sq.department = NULL;
	sq.skill = "reseaux";
	out = search_find(f->s, &sq, NULL, &rc, err, sizeof(err));
	assert_int_equal(json_array_size(json_object_get(json_object_get(out, "people"), "items")),
	                 1);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(json_object_get(out, "people"), "items"), 0),
	        "handle")),
	    "alice");
	json_decref(out);
	/* Posts need words. */
	sq.type = SEARCH_POSTS;
	sq.skill = NULL;
	assert_null(search_find(f->s, &sq, NULL, &rc, err, sizeof(err)));
	assert_int_equal(rc, CPT_EINVAL);
}

/* A redaction hides the post at once, before the writer thread has run:
 * the search checks the store. Then the index loses it too. */
static void
test_redaction(void **state)
{
	struct fx *f = *state;
	uint8_t p[CPT_ID_LEN], c[CPT_ID_LEN];
	char hex[CPT_HEX_ID];

	s_pub(f, f->alice, EVT_POST, json_pack("{s:s}", "text", "budget confidentiel du projet"),
	      p);
	cpt_hex32(hex, p);
	s_pub(f, f->bob, EVT_COMMENT,
	      json_pack("{s:s, s:s}", "post", hex, "text", "le budget est faux"), c);
	s_settle(f);
	assert_int_equal(s_count(f, "budget", "posts", NULL, NULL, 0), 2);
	s_pub(f, f->alice, EVT_REDACT, json_pack("{s:s}", "target", hex), NULL);
	/* No s_settle: the same moment as the views. */
	assert_int_equal(s_count(f, "budget", "posts", NULL, NULL, 0), 0);
	assert_int_equal(s_count(f, "confidentiel", "posts", NULL, NULL, 0), 0);
	s_settle(f);
	{
		size_t docs, wrong;
		char err[512];
		assert_int_equal(search_verify(f->s, &docs, &wrong, err, sizeof(err)), 0);
		assert_int_equal(wrong, 0);
	}
	/* An edit replaces the words found. */
	s_pub(f, f->bob, EVT_POST, json_pack("{s:s}", "text", "rendez-vous au quai"), p);
	cpt_hex32(hex, p);
	s_pub(f, f->bob, EVT_EDIT,
	      json_pack("{s:s, s:s}", "post", hex, "text", "rendez-vous au hangar"), NULL);
	s_settle(f);
	assert_int_equal(s_count(f, "hangar", "posts", NULL, NULL, 0), 1);
	assert_int_equal(s_count(f, "quai", "posts", NULL, NULL, 0), 0);
}

/* Every (key, title, body, hash) row of the index file in path, in order. */
static char *
s_dump(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t n = 0, cap = 4096;
	char *out = malloc(cap);

	assert_non_null(out);
	out[0] = 0;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT d.key, d.type, d.ts, d.author, d.site, d.post,"
	                                    " d.name, d.dept, d.skills, hex(d.hash),"
	                                    " coalesce(f.title, p.title), coalesce(f.body, p.body)"
	                                    " FROM docs d LEFT JOIN fts f ON f.rowid = d.rid"
	                                    " LEFT JOIN pfts p ON p.rowid = d.rid ORDER BY d.key",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		for (int i = 0; i < 12; i++) {
			const char *v = (const char *)sqlite3_column_text(st, i);
			size_t l = (v ? strlen(v) : 4) + 2;
			if (n + l + 1 > cap) {
				out = realloc(out, cap = (n + l + 1) * 2);
				assert_non_null(out);
			}
			n += (size_t)sprintf(out + n, "%s%c", v ? v : "NULL", i == 11 ? '\n' : '|');
		}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

/* The index the writer thread made equals one built from the store. */
static void
test_rebuild_equals_live(void **state)
{
	struct fx *f = *state;
	char hex[CPT_HEX_ID], path[128], other[128], err[1024], *a, *b;
	uint8_t p[CPT_ID_LEN];
	search_t *s2 = NULL;

	for (int i = 0; i < 30; i++) {
		char text[80];
		snprintf(text, sizeof(text), "message %d sur la livraison numéro %d", i, i * 7);
		s_pub(f, i % 2 ? f->alice : f->bob, EVT_POST, json_pack("{s:s}", "text", text), p);
		if (i % 3 == 0) {
			cpt_hex32(hex, p);
			s_pub(f, f->alice, EVT_COMMENT,
			      json_pack("{s:s, s:s}", "post", hex, "text", "reçu, merci"), NULL);
		}
		if (i % 5 == 0)
			s_pub(f, i % 2 ? f->alice : f->bob, EVT_REDACT,
			      json_pack("{s:s}", "target", (cpt_hex32(hex, p), hex)), NULL);
	}
	s_pub(f, f->bob, EVT_PROFILE, json_pack("{s:{s:s}}", "fields", "name", "Bob Martin"), NULL);
	s_settle(f);
	search_close(&f->s);
	snprintf(path, sizeof(path), "%s/search.db", f->data);
	snprintf(other, sizeof(other), "%s/rebuilt", f->dir);
	assert_int_equal(mkdir(other, 0700), 0);
	if (search_open(&s2, node_store(f->n), other, SEARCH_REBUILD_AT_OPEN, err, sizeof(err)) !=
	    0)
		fail_msg("rebuild: %s", err);
	search_close(&s2);
	snprintf(other, sizeof(other), "%s/rebuilt/search.db", f->dir);
	a = s_dump(path);
	b = s_dump(other);
	assert_true(strlen(a) > 1000);
	assert_string_equal(a, b);
	free(a);
	free(b);
	if (search_open(&f->s, node_store(f->n), f->data, 0, err, sizeof(err)) != 0)
		fail_msg("reopen: %s", err);
}

/* One batch of the writer (held while everything is published) reads one
 * snapshot, in which an author's site, a post's place and a row derived
 * once serve every change that needs them again (search.c, "memos"): the
 * index it makes equals the one rebuilt from the store. Posts with
 * comments by both authors, a comment on a post redacted in the same
 * batch, edits of a post and of a comment, comments on posts of another
 * batch (one redacted in this one), and a profile. */
static void
test_one_batch_equals_rebuild(void **state)
{
	struct fx *f = *state;
	char hex[CPT_HEX_ID], chex[CPT_HEX_ID], old[CPT_HEX_ID], gone[CPT_HEX_ID], path[128],
	    other[128], err[1024], *a, *b;
	uint8_t p[CPT_ID_LEN], c[CPT_ID_LEN];
	search_t *s2 = NULL;
	size_t docs, wrong;

	s_pub(f, f->alice, EVT_POST, json_pack("{s:s}", "text", "un ancien message"), p);
	cpt_hex32(old, p);
	s_pub(f, f->bob, EVT_POST, json_pack("{s:s}", "text", "bientôt retiré"), p);
	cpt_hex32(gone, p);
	s_pub(f, f->alice, EVT_COMMENT, json_pack("{s:s, s:s}", "post", gone, "text", "vu"), NULL);
	s_settle(f); /* a batch before: the place of gone was read then */
	search_hold(f->s, 1);
	/* A comment on a post, then the post's redaction: no row for either
	 * (a place remembered from the batch before would give one). */
	s_pub(f, f->alice, EVT_COMMENT,
	      json_pack("{s:s, s:s}", "post", gone, "text", "plus valable"), NULL);
	s_pub(f, f->bob, EVT_REDACT, json_pack("{s:s}", "target", gone), NULL);
	for (int i = 0; i < 24; i++) {
		char text[80];
		const key_sign_t *by = i % 2 ? f->alice : f->bob;
		snprintf(text, sizeof(text), "livraison %d du quai numéro %d", i, i * 3);
		s_pub(f, by, EVT_POST, json_pack("{s:s}", "text", text), p);
		cpt_hex32(hex, p);
		s_pub(f, f->alice, EVT_COMMENT,
		      json_pack("{s:s, s:s}", "post", hex, "text", "reçu au quai, merci"), c);
		cpt_hex32(chex, c);
		s_pub(f, f->bob, EVT_COMMENT,
		      json_pack("{s:s, s:s}", "post", hex, "text", "colis abîmé"), NULL);
		if (i % 4 == 1)
			s_pub(f, f->alice, EVT_EDIT,
			      json_pack("{s:s, s:s}", "post", chex, "text", "reçu au hangar"),
			      NULL);
		if (i % 4 == 2)
			s_pub(f, by, EVT_EDIT,
			      json_pack("{s:s, s:s}", "post", hex, "text", "livraison reportée"),
			      NULL);
		if (i % 5 == 0)
			s_pub(f, by, EVT_REDACT, json_pack("{s:s}", "target", hex), NULL);
		if (i % 6 == 0)
			s_pub(f, f->bob, EVT_COMMENT,
			      json_pack("{s:s, s:s}", "post", old, "text", "toujours valable"),
			      NULL);
	}
	s_pub(f, f->bob, EVT_PROFILE, json_pack("{s:{s:s}}", "fields", "name", "Bob Martin"), NULL);
	assert_int_equal(search_backlog(f->s), 96); /* one batch (SX_BATCH is 2,000) */
	search_hold(f->s, 0);
	s_settle(f);
	assert_int_equal(search_verify(f->s, &docs, &wrong, err, sizeof(err)), 0);
	assert_int_equal(wrong, 0);
	assert_int_equal(s_count(f, "hangar", "posts", NULL, NULL, 0), 5);
	assert_int_equal(s_count(f, "toujours", "posts", NULL, NULL, 0), 4);
	assert_int_equal(s_count(f, "valable", "posts", NULL, NULL, 0), 4);
	assert_int_equal(s_count(f, "retiré", "posts", NULL, NULL, 0), 0);
	search_close(&f->s);
	snprintf(path, sizeof(path), "%s/search.db", f->data);
	snprintf(other, sizeof(other), "%s/rebuilt", f->dir);
	assert_int_equal(mkdir(other, 0700), 0);
	if (search_open(&s2, node_store(f->n), other, SEARCH_REBUILD_AT_OPEN, err, sizeof(err)) !=
	    0)
		fail_msg("rebuild: %s", err);
	search_close(&s2);
	snprintf(other, sizeof(other), "%s/rebuilt/search.db", f->dir);
	a = s_dump(path);
	b = s_dump(other);
	assert_true(strlen(a) > 5000);
	assert_string_equal(a, b);
	free(a);
	free(b);
	if (search_open(&f->s, node_store(f->n), f->data, 0, err, sizeof(err)) != 0)
		fail_msg("reopen: %s", err);
}

/* A file behind its store (events stored while no index was open, as
 * after a crash) is brought up to it at open; verify sees a wrong row. */
static void
test_catch_up_and_verify(void **state)
{
	struct fx *f = *state;
	char err[1024];
	size_t docs, wrong;
	sqlite3 *db;
	char path[128];

	search_close(&f->s);
	s_pub(f, f->alice, EVT_POST, json_pack("{s:s}", "text", "stocké pendant la panne"), NULL);
	/* Opened as it is: behind, and says so. */
	assert_int_equal(
	    search_open(&f->s, node_store(f->n), f->data, SEARCH_AS_IS, err, sizeof(err)), 0);
	assert_false(search_is_current(f->s));
	assert_int_equal(search_verify(f->s, &docs, &wrong, err, sizeof(err)), 0);
	assert_int_equal(wrong, 1);
	search_close(&f->s);
	/* Opened for real: caught up. */
	assert_int_equal(search_open(&f->s, node_store(f->n), f->data, 0, err, sizeof(err)), 0);
	assert_int_equal(s_count(f, "panne", "posts", NULL, NULL, 0), 1);
	assert_int_equal(search_verify(f->s, &docs, &wrong, err, sizeof(err)), 0);
	assert_int_equal(wrong, 0);
	search_close(&f->s);
	/* A row lost from a file that says it is clean: verify finds it. */
	snprintf(path, sizeof(path), "%s/search.db", f->data);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DELETE FROM docs WHERE key LIKE 'p%'", NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(
	    search_open(&f->s, node_store(f->n), f->data, SEARCH_AS_IS, err, sizeof(err)), 0);
	assert_true(search_is_current(f->s));
	assert_int_equal(search_verify(f->s, &docs, &wrong, err, sizeof(err)), 0);
	assert_int_equal(wrong, 1);
	search_close(&f->s);
	assert_int_equal(search_open(&f->s, node_store(f->n), f->data, 0, err, sizeof(err)), 0);
}

/* The daemon's open (SEARCH_CATCH_UP_LATER): a file behind its store is
 * not reconciled in search_open, which returns at once, but by the writer
 * after the start; the status says it is behind until then. */
static void
test_catch_up_later(void **state)
{
	struct fx *f = *state;
	char err[1024];
	size_t docs, wrong;
	json_t *out;

	search_close(&f->s);
	s_pub(f, f->alice, EVT_POST, json_pack("{s:s}", "text", "rangé pendant la coupure"), NULL);
	assert_int_equal(
	    search_open(&f->s, node_store(f->n), f->data, SEARCH_CATCH_UP_LATER, err, sizeof(err)),
	    0);
	assert_int_equal(s_count(f, "coupure", "posts", NULL, NULL, 0), 0);
	assert_int_equal(search_backlog(f->s), 1);
	/* The answer says the index is being brought up to its store (its
	 * "behind" of 1 is not how much is missing: the page says so). */
	out = s_find(f, "coupure", SEARCH_ALL);
	assert_true(json_is_true(json_object_get(out, "mending")));
	assert_int_equal(json_integer_value(json_object_get(out, "behind")), 1);
	json_decref(out);
	if (search_start(f->s, f->n, err, sizeof(err)) != 0)
		fail_msg("search: %s", err);
	s_settle(f);
	assert_int_equal(s_count(f, "coupure", "posts", NULL, NULL, 0), 1);
	out = s_find(f, "coupure", SEARCH_ALL);
	assert_true(json_is_false(json_object_get(out, "mending")));
	assert_int_equal(json_integer_value(json_object_get(out, "behind")), 0);
	json_decref(out);
	assert_int_equal(search_verify(f->s, &docs, &wrong, err, sizeof(err)), 0);
	assert_int_equal(wrong, 0);
}

/* A stop that comes before the writer could reconcile (changes drained at
 * close, the reconciliation still owed) leaves the file not clean: the next
 * start reconciles it, rather than trusting a file that misses a post. */
static void
test_stop_before_catch_up(void **state)
{
	struct fx *f = *state;
	char err[1024];
	search_t *as_is;

	search_close(&f->s);
	s_pub(f, f->alice, EVT_POST, json_pack("{s:s}", "text", "écrit hors ligne"), NULL);
	assert_int_equal(
	    search_open(&f->s, node_store(f->n), f->data, SEARCH_CATCH_UP_LATER, err, sizeof(err)),
	    0);
	search_hold(f->s, 1);
	if (search_start(f->s, f->n, err, sizeof(err)) != 0)
		fail_msg("search: %s", err);
	s_pub(f, f->alice, EVT_POST, json_pack("{s:s}", "text", "écrit en ligne"), NULL);
	search_close(&f->s);
	assert_int_equal(
	    search_open(&as_is, node_store(f->n), f->data, SEARCH_AS_IS, err, sizeof(err)), 0);
	assert_false(search_is_current(as_is));
	search_close(&as_is);
	/* Reconciled at the next start: both posts found. */
	if (search_open(&f->s, node_store(f->n), f->data, 0, err, sizeof(err)) != 0 ||
	    search_start(f->s, f->n, err, sizeof(err)) != 0)
		fail_msg("search: %s", err);
	s_settle(f);
	assert_int_equal(s_count(f, "ligne", "posts", NULL, NULL, 0), 2);
}

/* The writer leaves no read transaction open between batches: a
 * checkpoint from another connection copies the whole WAL (a statement left
 * on its row once kept the WAL growing to 600 MB during a rebuild). */
static void
test_wal_checkpoints(void **state)
{
	struct fx *f = *state;
	char path[128];
	sqlite3 *db;
	sqlite3_stmt *st;

	for (int i = 0; i < 40; i++) {
		char text[64];
		snprintf(text, sizeof(text), "message %d du journal", i);
		s_pub(f, f->alice, EVT_POST, json_pack("{s:s}", "text", text), NULL);
	}
	s_settle(f);
	snprintf(path, sizeof(path), "%s/search.db", f->data);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(PASSIVE)", -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_true(sqlite3_column_int(st, 1) > 0); /* frames in the WAL */
	assert_int_equal(sqlite3_column_int(st, 2), sqlite3_column_int(st, 1)); /* all copied */
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* A burst far larger than the writer's queue, in one commit: the commit
 * waits for room (the queue never holds more bytes than its bound) and the
 * index ends with every event (nothing dropped). */
/* The posts' rows in the file. */
static int
s_post_rows(struct fx *f)
{
	char path[128];
	sqlite3 *db;
	sqlite3_stmt *st;
	int n;

	snprintf(path, sizeof(path), "%s/search.db", f->data);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM docs WHERE type = 1", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* The file has posts rows of posts and is what the store derives. */
static void
s_rows_check(struct fx *f, int posts)
{
	char err[1024];
	size_t docs, wrong;

	assert_int_equal(s_post_rows(f), posts);
	assert_int_equal(search_verify(f->s, &docs, &wrong, err, sizeof(err)), 0);
	assert_int_equal(wrong, 0);
}

/* A new index on f's node with a ring of room changes, started. */
static void
s_restart(struct fx *f, size_t room)
{
	char err[1024];

	search_close(&f->s);
	if (search_open(&f->s, node_store(f->n), f->data, 0, err, sizeof(err)) != 0)
		fail_msg("search: %s", err);
	if (room)
		search_set_queue_bytes(f->s, room * 72);
	if (search_start(f->s, f->n, err, sizeof(err)) != 0)
		fail_msg("search: %s", err);
}

/* n posts by alice ("WORD numéro I"), ago ms back, committed in one
 * transaction: as a local commit (node_submit) when live is (size_t)-1,
 * else as the federation's writer makes it (node_submit_decided), the
 * first live of them from a live batch and the others a catch-up's. */
static void
s_posts(struct fx *f, int n, const char *word, uint64_t ago, size_t live)
{
	static uint8_t env[400][512];
	const uint8_t *bufs[400];
	size_t lens[400];
	ingest_res_t res[400];
	uint64_t ms = hlc_wall_ms() - ago;

	assert_true(n <= 400);
	for (int i = 0; i < n; i++) {
		char body[96];
		snprintf(body, sizeof(body), "{\"text\":\"%s numéro %d\"}", word, i);
		lens[i] = tu_sign(f->n, f->alice, EVT_POST, body, ms + (uint64_t)i, env[i],
		                  sizeof(env[i]));
		bufs[i] = env[i];
	}
	if (live == (size_t)-1)
		assert_int_equal(node_submit(f->n, bufs, lens, (size_t)n, res), 0);
	else
		assert_int_equal(node_submit_decided(f->n, bufs, lens, (size_t)n, NULL, NULL, res,
		                                     live, NULL, NULL),
		                 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(res[i].rc, 0);
}

/* n posts by alice in one commit. */
static void
s_burst(struct fx *f, int n, const char *word)
{
	s_posts(f, n, word, 60000, (size_t)-1);
}

/* A commit larger than the ring does not wait for the index: what does not
 * fit goes to the backlog file, and every post still gets its row. */
static void
test_queue_bounded(void **state)
{
	struct fx *f = *state;
	enum { BURST = 400, ROOM = 16 };
	size_t peak, bound;
	uint64_t waits, spilled;

	s_restart(f, ROOM);
	/* Held, the writer takes nothing: the commit could only go on by
	 * waiting (it never would) or by the backlog file. */
	search_hold(f->s, 1);
	s_burst(f, BURST, "rafale");
	search_queue_stats(f->s, &peak, &bound, &waits, &spilled);
	assert_true(bound <= ROOM * 72);
	assert_true(peak <= bound);
	assert_int_equal(waits, 0);
	assert_int_equal(spilled, BURST - ROOM);
	assert_int_equal(search_backlog(f->s), BURST);
	search_hold(f->s, 0);
	s_settle(f);
	assert_int_equal(search_backlog(f->s), 0);
	s_rows_check(f, BURST);
}

/* A node stopped during a catch-up keeps its backlog for the next start
 * (instead of holding the stop, or reconciling the whole index at open),
 * and the writer indexes it after that start. */
static void
test_backlog_kept_at_close(void **state)
{
	struct fx *f = *state;
	enum { BURST = 300, ROOM = 16 };
	char path[128], err[1024];
	struct stat sb;
	search_t *as_is;

	s_restart(f, ROOM);
	search_hold(f->s, 1);
	search_set_drain_max(f->s, 0);
	s_burst(f, BURST, "arriéré");
	search_close(&f->s);
	/* Kept whole, not drained (held) and not lost: the ring's 16 and the
	 * 284 that overflowed it, in the backlog file; the overflow file gone. */
	snprintf(path, sizeof(path), "%s/search.over", f->data);
	assert_int_equal(stat(path, &sb), -1);
	snprintf(path, sizeof(path), "%s/search.behind", f->data);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, BURST * 72);
	/* Opened without the reconciliation of a crash: the rows come from the
	 * backlog, after the start. */
	if (search_open(&f->s, node_store(f->n), f->data, 0, err, sizeof(err)) != 0)
		fail_msg("search: %s", err);
	assert_false(search_is_current(f->s));
	assert_int_equal(s_post_rows(f), 0);
	assert_int_equal(search_backlog(f->s), BURST);
	if (search_start(f->s, f->n, err, sizeof(err)) != 0)
		fail_msg("search: %s", err);
	s_settle(f);
	assert_int_equal(search_backlog(f->s), 0);
	s_rows_check(f, BURST);
	/* A clean close with nothing behind: the file is gone, the index current. */
	search_close(&f->s);
	assert_int_equal(stat(path, &sb), -1);
	assert_int_equal(
	    search_open(&as_is, node_store(f->n), f->data, SEARCH_AS_IS, err, sizeof(err)), 0);
	assert_true(search_is_current(as_is));
	search_close(&as_is);
	s_restart(f, 0);
}

/* The backlog file named by the state but damaged: the index is reconciled
 * with the store at open, as after a crash. */
static void
test_backlog_damaged(void **state)
{
	struct fx *f = *state;
	enum { BURST = 200, ROOM = 16 };
	char path[128], err[1024];
	search_t *as_is;
	int fd;

	s_restart(f, ROOM);
	search_hold(f->s, 1);
	search_set_drain_max(f->s, 0);
	s_burst(f, BURST, "abîmé");
	search_close(&f->s);
	snprintf(path, sizeof(path), "%s/search.behind", f->data);
	/* Not current as it stands: verify must call it behind, not wrong. */
	assert_int_equal(
	    search_open(&as_is, node_store(f->n), f->data, SEARCH_AS_IS, err, sizeof(err)), 0);
	assert_false(search_is_current(as_is));
	search_close(&as_is);
	assert_true((fd = open(path, O_WRONLY)) >= 0);
	assert_int_equal(ftruncate(fd, 72), 0);
	close(fd);
	s_restart(f, 0);
	s_rows_check(f, BURST);
}

/* f's index, closed, equals one rebuilt from the store in another
 * directory (name); f's index is open again after. */
static void
s_equals_rebuild(struct fx *f, const char *name, size_t min_len)
{
	char path[128], other[160], err[1024], *a, *b;
	search_t *s2 = NULL;

	search_close(&f->s);
	snprintf(path, sizeof(path), "%s/search.db", f->data);
	snprintf(other, sizeof(other), "%s/%s", f->dir, name);
	assert_int_equal(mkdir(other, 0700), 0);
	if (search_open(&s2, node_store(f->n), other, SEARCH_REBUILD_AT_OPEN, err, sizeof(err)) !=
	    0)
		fail_msg("rebuild: %s", err);
	search_close(&s2);
	snprintf(other, sizeof(other), "%s/%s/search.db", f->dir, name);
	a = s_dump(path);
	b = s_dump(other);
	assert_true(strlen(a) > min_len);
	assert_string_equal(a, b);
	free(a);
	free(b);
	if (search_open(&f->s, node_store(f->n), f->data, 0, err, sizeof(err)) != 0 ||
	    search_start(f->s, f->n, err, sizeof(err)) != 0)
		fail_msg("reopen: %s", err);
}

enum { LOTS = 11, LOT = 400 }; /* 4,400 posts: a backlog of three batches */

/* A long backlog (a catch-up) gives the rows a rebuild derives. Posts in
 * commits of 400, up to eleven in one millisecond (a post's row is found by
 * its time and its key: the rowids of that millisecond), with posts,
 * comments, edits and redactions of other commits between them. */
static void
test_backlog_equals_rebuild(void **state)
{
	struct fx *f = *state;
	char word[32], hex[CPT_HEX_ID], err[1024];
	uint8_t p[CPT_ID_LEN];
	size_t docs, wrong;

	s_restart(f, 16);
	search_hold(f->s, 1);
	for (int i = 0; i < LOTS; i++) {
		snprintf(word, sizeof(word), "vrac lot%d", i);
		s_burst(f, LOT, word);
		s_pub(f, f->alice, EVT_POST, json_pack("{s:s}", "text", "palette à reprendre"), p);
		cpt_hex32(hex, p);
		s_pub(f, f->bob, EVT_COMMENT,
		      json_pack("{s:s, s:s}", "post", hex, "text", "palette reçue"), NULL);
		if (i % 3 == 0)
			s_pub(f, f->alice, EVT_EDIT,
			      json_pack("{s:s, s:s}", "post", hex, "text", "palette livrée"), NULL);
		if (i % 4 == 1)
			s_pub(f, f->alice, EVT_REDACT, json_pack("{s:s}", "target", hex), NULL);
	}
	assert_true(search_backlog(f->s) > 4000);
	search_hold(f->s, 0);
	s_settle(f);
	/* Posts: the bursts, and one a lot less the three redacted. */
	assert_int_equal(s_post_rows(f), LOTS * LOT + LOTS - 3);
	assert_int_equal(search_verify(f->s, &docs, &wrong, err, sizeof(err)), 0);
	assert_int_equal(wrong, 0);
	assert_int_equal(s_count(f, "livrée", "posts", NULL, NULL, 0), 3); /* lot 9's redacted */
	assert_int_equal(s_count(f, "reçue", "posts", NULL, NULL, 0), LOTS - 3);
	assert_int_equal(s_count(f, "lot7", "posts", NULL, NULL, 0), 20); /* a page of them */
	s_equals_rebuild(f, "rebuilt", 100000);
}

/* The child of test_killed_during_backlog: the node, its index with a ring
 * of 16 changes, a backlog of LOTS commits, the writer let go; then a
 * byte to fd, and it waits to be killed. Exits without cmocka on failure. */
static void
s_bulk_child(struct fx *f, int fd)
{
	static uint8_t env[LOT][512];
	const uint8_t *bufs[LOT];
	size_t lens[LOT];
	ingest_res_t res[LOT];
	char err[1024];

	if (node_open(&f->n, f->data, err, sizeof(err)) != 0 ||
	    search_open(&f->s, node_store(f->n), f->data, 0, err, sizeof(err)) != 0)
		_exit(2);
	search_set_queue_bytes(f->s, 16 * 72);
	if (search_start(f->s, f->n, err, sizeof(err)) != 0)
		_exit(3);
	search_hold(f->s, 1);
	for (int lot = 0; lot < LOTS; lot++) {
		uint64_t ms = hlc_wall_ms() - 60000;
		for (int i = 0; i < LOT; i++) {
			char body[96];
			snprintf(body, sizeof(body), "{\"text\":\"tué lot%d numéro %d\"}", lot, i);
			lens[i] = tu_sign(f->n, f->alice, EVT_POST, body, ms + (uint64_t)i, env[i],
			                  sizeof(env[i]));
			bufs[i] = env[i];
		}
		if (node_submit(f->n, bufs, lens, LOT, res) != 0)
			_exit(4);
	}
	search_hold(f->s, 0);
	if (write(fd, "x", 1) != 1)
		_exit(5);
	for (;;)
		pause();
}

/* Closes the fixture's node and index, runs child(f, fd) in a process of
 * its own, waits for the byte it writes to fd, then wait_us more, kills it
 * with SIGKILL and opens the node again (the index stays closed). */
static void
s_killed_child(struct fx *f, void (*child)(struct fx *, int), useconds_t wait_us)
{
	char err[1024], c;
	int fds[2], status;
	pid_t pid;

	search_close(&f->s);
	node_close(&f->n);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		child(f, fds[1]);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	if (wait_us)
		usleep(wait_us);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	if (node_open(&f->n, f->data, err, sizeof(err)) != 0)
		fail_msg("node_open: %s", err);
}

/* The index opened and started after a kill: not current, so reconciled
 * with the store, it ends with rows posts, 20 of them with word, and equal
 * to a rebuild. */
static void
s_restarted(struct fx *f, int rows, const char *word)
{
	char err[1024];

	if (search_open(&f->s, node_store(f->n), f->data, 0, err, sizeof(err)) != 0 ||
	    search_start(f->s, f->n, err, sizeof(err)) != 0)
		fail_msg("search: %s", err);
	assert_false(search_is_current(f->s));
	s_rows_check(f, rows);
	assert_int_equal(s_count(f, word, "posts", NULL, NULL, 0), 20);
	s_equals_rebuild(f, "rebuilt", 100000);
}

/* kill -9 while the writer indexes a long backlog: the file says "dirty"
 * (search_start wrote it durably), so the next open reconciles it with the
 * store, and it ends equal to a rebuild: whatever its transactions had
 * committed, the index is a function of the event set. */
static void
test_killed_during_backlog(void **state)
{
	struct fx *f = *state;

	/* into the backlog (4,400 rows take far longer) */
	s_killed_child(f, s_bulk_child, 30 * 1000);
	/* Killed before the backlog was indexed: rows are missing. */
	assert_true(s_post_rows(f) < LOTS * LOT);
	s_restarted(f, LOTS * LOT, "tué");
}

/* A file of an older layout (5: a unique index over every key) is emptied
 * and built again from the store by the writer after the start, not in
 * search_open (a daemon would not serve for minutes at a million posts);
 * the new layout indexes the keys of people and spaces only. */
static void
test_older_layout_built_again(void **state)
{
	struct fx *f = *state;
	char path[128], err[1024];
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t docs, wrong;

	s_pub(f, f->alice, EVT_POST, json_pack("{s:s}", "text", "ancienne disposition"), NULL);
	s_pub(f, f->bob, EVT_PROFILE, json_pack("{s:{s:s}}", "fields", "name", "Bob Martin"), NULL);
	s_settle(f);
	search_close(&f->s);
	snprintf(path, sizeof(path), "%s/search.db", f->data);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "UPDATE meta SET v = '5' WHERE k = 'version';"
	                              " CREATE UNIQUE INDEX IF NOT EXISTS layout5 ON docs(key)",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(
	    search_open(&f->s, node_store(f->n), f->data, SEARCH_CATCH_UP_LATER, err, sizeof(err)),
	    0);
	assert_int_equal(search_backlog(f->s), 1); /* built after the start */
	assert_int_equal(s_count(f, "disposition", "posts", NULL, NULL, 0), 0);
	if (search_start(f->s, f->n, err, sizeof(err)) != 0)
		fail_msg("search: %s", err);
	s_settle(f);
	assert_int_equal(s_count(f, "disposition", "posts", NULL, NULL, 0), 1);
	assert_int_equal(s_count(f, "martin", "people", NULL, NULL, 0), 1);
	assert_int_equal(search_verify(f->s, &docs, &wrong, err, sizeof(err)), 0);
	assert_int_equal(wrong, 0);
	/* docs' indexes: (type, ts) and the partial one over people's and
	 * spaces' keys; none over every key (an automatic index has no SQL). */
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT group_concat(name || ':' || coalesce(sql, ''),"
	                                    " ';') FROM (SELECT name, sql FROM sqlite_master WHERE"
	                                    " type = 'index' AND tbl_name = 'docs' ORDER BY name)",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0),
	                    "docs_key:CREATE UNIQUE INDEX docs_key ON docs(key)"
	                    " WHERE rid < 1099511627776;"
	                    "docs_type_ts:CREATE INDEX docs_type_ts ON docs(type, ts)");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* Lets the writer go 300 ms after the search began. */
static void *
s_release_later(void *arg)
{
	struct fx *f = arg;

	usleep(300 * 1000);
	search_hold(f->s, 0);
	return NULL;
}

/* Read your writes: a search waits for the changes committed before it (a
 * profile saved, then the directory searched), so that it finds them even
 * when the writer is late (it runs at nice 10, behind a catch-up). The
 * writer held, a post and a profile committed, the writer let go 300 ms
 * into the search: the search finds both. */
static void
test_search_reads_its_writes(void **state)
{
	struct fx *f = *state;
	pthread_t t;
	json_t *out;

	s_settle(f);
	search_hold(f->s, 1);
	s_pub(f, f->alice, EVT_POST, json_pack("{s:s}", "text", "inventaire du hangar nord"), NULL);
	s_pub(f, f->alice, EVT_PROFILE,
	      json_pack("{s:{s:s}}", "fields", "department", "Logistique portuaire"), NULL);
	assert_true(search_backlog(f->s) > 0);
	assert_int_equal(pthread_create(&t, NULL, s_release_later, f), 0);
	assert_int_equal(s_count(f, "hangar", "posts", NULL, NULL, 0), 1);
	out = s_find(f, "portuaire", SEARCH_PEOPLE);
	assert_int_equal(json_array_size(json_object_get(json_object_get(out, "people"), "items")),
	                 1);
	json_decref(out);
	pthread_join(t, NULL);
}

/* Live changes wait for each other (the writer's window): three posts
 * committed one by one stay in the queue while the window is open, a search
 * ends it and finds all three at once, and the count of changes ends it
 * without a search. */
static void
test_live_window(void **state)
{
	struct fx *f = *state;
	uint64_t heard, applied, before;

	s_settle(f);
	/* A window far longer than the test: only a search or the count ends it. */
	search_set_window(f->s, 600 * 1000, 4);
	search_counts(f->s, &heard, &before);
	for (int i = 0; i < 3; i++) {
		char text[64];
		snprintf(text, sizeof(text), "relevé du compteur %d", i);
		s_pub(f, f->alice, EVT_POST, json_pack("{s:s}", "text", text), NULL);
	}
	usleep(50 * 1000); /* time for a writer without a window to take them */
	assert_int_equal(search_backlog(f->s), 3);
	search_counts(f->s, &heard, &applied);
	assert_int_equal(applied, before);
	/* The search waits for them (read your writes) and the writer, hurried,
	 * indexes them now: a window that did not end would leave the search
	 * with none after SX_FRESH_MS. */
	assert_int_equal(s_count(f, "compteur", "posts", NULL, NULL, 0), 3);
	assert_int_equal(search_backlog(f->s), 0);
	/* Four changes waiting end the window: settles with no search. */
	for (int i = 0; i < 4; i++) {
		char text[64];
		snprintf(text, sizeof(text), "relevé de la jauge %d", i);
		s_pub(f, f->alice, EVT_POST, json_pack("{s:s}", "text", text), NULL);
	}
	s_settle(f);
	search_set_window(f->s, 0, 0);
	assert_int_equal(s_count(f, "jauge", "posts", NULL, NULL, 0), 4);
}

/* n posts by alice in one commit as the federation's writer makes it
 * (node_submit_decided): the first live of them from a live batch, the
 * others a catch-up's. */
static void
s_catchup(struct fx *f, int n, const char *word, size_t live)
{
	s_posts(f, n, word, 120000, live);
}

/* key enrolled as handle by a catch-up's commit (as tu_enrol, but through
 * node_submit_decided with no live envelope). */
static void
s_enrol_catchup(struct fx *f, const key_sign_t *key, const char *handle)
{
	char hex[CPT_HEX_ID], proof[2 * CPT_SIG_LEN + 1], *text;
	uint8_t sig[CPT_SIG_LEN], env[1024];
	const uint8_t *p = env;
	ingest_res_t res;
	size_t len;
	json_t *b;

	cpt_hex32(hex, key_sign_public(key));
	assert_int_equal(
	    evt_proof_sign(sig, key, node_ingest_ctx(f->n)->fed, node_cfg(f->n)->name, handle), 0);
	sodium_bin2hex(proof, sizeof(proof), sig, sizeof(sig));
	b = json_pack("{s:s, s:s, s:s, s:s, s:s}", "handle", handle, "key", hex, "site",
	              node_cfg(f->n)->name, "role", "member", "proof", proof);
	text = json_dumps(b, JSON_COMPACT);
	len = tu_sign(f->n, node_site_key(f->n), EVT_ENROL, text, hlc_wall_ms() - TU_PAST_MS + 2000,
	              env, sizeof(env));
	assert_int_equal(node_submit_decided(f->n, &p, &len, 1, NULL, NULL, &res, 0, NULL, NULL),
	                 0);
	assert_int_equal(res.rc, 0);
	free(text);
	json_decref(b);
}

/* The "behind" of a search for q, and its posts' count into *posts. */
static uint64_t
s_behind(struct fx *f, const char *q, size_t *posts)
{
	json_t *out = s_find(f, q, SEARCH_POSTS);
	uint64_t behind = (uint64_t)json_integer_value(json_object_get(out, "behind"));

	assert_non_null(json_object_get(out, "behind"));
	*posts = json_array_size(json_object_get(json_object_get(out, "posts"), "items"));
	json_decref(out);
	return behind;
}

/* A catch-up yields: the changes of a catch-up's commits wait in the
 * backlog file (never in memory) while the catch-up goes on, a live change
 * committed meanwhile is indexed and found at once (a search waits for it
 * and not for the catch-up, and says how many changes it lacks), and once
 * the catch-up is quiet every change is indexed: the file equals a
 * rebuild. The quiet time is set far longer than the test, then to
 * nothing: no time is measured. */
static void
test_catchup_waits(void **state)
{
	struct fx *f = *state;
	enum { CU = 300 };
	size_t posts, peak, bound;
	uint64_t waits, spilled;
	key_sign_t *carol;

	s_settle(f);
	search_set_quiet(f->s, 3600 * 1000, 3600 * 1000);
	s_catchup(f, CU, "rattrapage", 0);
	/* A commit of a live batch and the catch-up's next: the live one first. */
	s_catchup(f, 3, "mélange", 1);
	/* A staff member posts here during the catch-up. */
	s_pub(f, f->alice, EVT_POST, json_pack("{s:s}", "text", "urgent : quai 4 fermé"), NULL);
	/* An enrolment in a catch-up puts its person in the directory at
	 * once; what its key wrote is looked at after the catch-up (one change
	 * more in the file). */
	carol = s_key(0x63);
	s_enrol_catchup(f, carol, "carol");
	assert_int_equal(s_count(f, "carol", "people", NULL, NULL, 0), 1);
	assert_int_equal(search_deferred(f->s), CU + 3);
	assert_int_equal(s_behind(f, "fermé", &posts), CU + 3);
	assert_int_equal(posts, 1);
	assert_int_equal(s_behind(f, "mélange", &posts), CU + 3);
	assert_int_equal(posts, 1); /* the live batch's, not the two others */
	assert_int_equal(s_behind(f, "rattrapage", &posts), CU + 3);
	assert_int_equal(posts, 0);
	assert_int_equal(search_backlog(f->s), CU + 3);
	assert_int_equal(s_post_rows(f), 2);
	/* The ring held the live changes only: the catch-up went to the file. */
	search_queue_stats(f->s, &peak, &bound, &waits, &spilled);
	assert_true(peak <= 3 * 72);
	assert_int_equal(spilled, CU + 3);
	assert_int_equal(waits, 0);
	/* The catch-up is over: its changes are indexed. */
	search_set_quiet(f->s, 0, 0);
	s_settle(f);
	assert_int_equal(s_behind(f, "rattrapage", &posts), 0);
	assert_int_equal(posts, 20); /* a page of them */
	assert_int_equal(s_behind(f, "mélange", &posts), 0);
	assert_int_equal(posts, 3);
	s_rows_check(f, CU + 3 + 1);
	s_equals_rebuild(f, "rebuilt", 10000);
	key_sign_destroy(&carol);
}

/* Live changes that overflow the ring stay live: with a catch-up held back
 * (a quiet time of an hour) and a ring of 16, a commit of 400 live posts
 * and one more post overflow to a file of their own; a search waits for
 * them and finds the last post, and lacks only the catch-up's changes. They
 * went to the catch-up's backlog file before, waited for its end with it,
 * and a search did not wait for them: a staff member's own post was not
 * found ("behind" 685, no post). */
static void
test_overflow_stays_live(void **state)
{
	struct fx *f = *state;
	enum { CU = 300, BURST = 400, ROOM = 16 };
	size_t posts, peak, bound;
	uint64_t waits, spilled;
	pthread_t t;

	s_restart(f, ROOM);
	search_set_quiet(f->s, 3600 * 1000, 3600 * 1000);
	s_catchup(f, CU, "rattrapage", 0);
	/* Held, the writer takes nothing: the live posts overflow the ring. */
	search_hold(f->s, 1);
	s_burst(f, BURST, "rafale");
	s_pub(f, f->alice, EVT_POST, json_pack("{s:s}", "text", "urgent : quai 4 fermé"), NULL);
	search_queue_stats(f->s, &peak, &bound, &waits, &spilled);
	assert_true(peak <= bound && bound <= ROOM * 72);
	assert_int_equal(waits, 0);
	assert_int_equal(spilled, CU + BURST + 1 - ROOM);
	assert_int_equal(search_backlog(f->s), CU + BURST + 1);
	/* The writer let go 300 ms into the search: it waits for the ring and
	 * the overflow, not for the catch-up. */
	assert_int_equal(pthread_create(&t, NULL, s_release_later, f), 0);
	assert_int_equal(s_behind(f, "fermé", &posts), CU);
	assert_int_equal(posts, 1);
	pthread_join(t, NULL);
	assert_int_equal(s_post_rows(f), BURST + 1);
	assert_int_equal(search_backlog(f->s), CU);
	/* The catch-up over, everything is indexed. */
	search_set_quiet(f->s, 0, 0);
	s_settle(f);
	s_rows_check(f, CU + BURST + 1);
}

/* The quiet time's rule, on a clock the test hands in: the minimum after
 * one commit, twice the longest gap between two commits, at most the
 * maximum (a longer gap is another catch-up's start and is not learnt),
 * forgotten when the catch-up's changes have all been taken. */
static void
test_quiet_time(void **state)
{
	sx_quiet_t q = {0, 0, 1000, 10000};

	(void)state;
	assert_int_equal(sx_quiet_left(&q, 5000), 0); /* nothing heard: nothing waits */
	sx_quiet_heard(&q, 100000);
	assert_int_equal(sx_quiet_left(&q, 100000), 1000);
	assert_int_equal(sx_quiet_left(&q, 100400), 600);
	assert_int_equal(sx_quiet_left(&q, 101000), 0);
	/* Commits 300 ms apart: twice that is below the minimum. */
	sx_quiet_heard(&q, 100300);
	assert_int_equal(sx_quiet_left(&q, 100300), 1000);
	/* A gap of 2 s: 4 s from the last commit. */
	sx_quiet_heard(&q, 102300);
	assert_int_equal(sx_quiet_left(&q, 102300), 4000);
	assert_int_equal(sx_quiet_left(&q, 105300), 1000);
	assert_int_equal(sx_quiet_left(&q, 106300), 0);
	/* A shorter gap after it does not shorten it; the same instant is no gap. */
	sx_quiet_heard(&q, 102400);
	sx_quiet_heard(&q, 102400);
	assert_int_equal(sx_quiet_left(&q, 102400), 4000);
	/* A gap of 7 s: 14 s, at most 10. */
	sx_quiet_heard(&q, 109400);
	assert_int_equal(sx_quiet_left(&q, 109400), 10000);
	assert_int_equal(sx_quiet_left(&q, 119399), 1);
	assert_int_equal(sx_quiet_left(&q, 119400), 0);
	/* 20 s later: another catch-up, not a gap of this one (7 s stays). */
	sx_quiet_heard(&q, 129400);
	assert_int_equal(sx_quiet_left(&q, 129400), 10000);
	/* Its changes all taken: the gaps are forgotten, the minimum again. */
	sx_quiet_end(&q);
	assert_int_equal(sx_quiet_left(&q, 129400), 1000);
	assert_int_equal(sx_quiet_left(&q, 130400), 0);
	/* A catch-up that goes on 3 s later (the index took its changes in
	 * that pause) learns the pause: 6 s. */
	sx_quiet_heard(&q, 132400);
	assert_int_equal(sx_quiet_left(&q, 132400), 6000);
}

/* A revocation of key by this site, effective ms ago, committed live or as
 * a catch-up's (node_submit_decided with no live envelope). */
static void
s_revoke(struct fx *f, const key_sign_t *key, uint64_t ago, int catchup)
{
	char hex[CPT_HEX_ID], *text;
	uint8_t env[1024];
	const uint8_t *p = env;
	ingest_res_t res;
	size_t len;
	json_t *b;

	cpt_hex32(hex, key_sign_public(key));
	b = json_pack("{s:s, s:I, s:s, s:{s:I, s:I, s:s}}", "key", hex, "effective",
	              (json_int_t)(hlc_wall_ms() - ago), "reason", "clé perdue", "vouch", "from",
	              (json_int_t)0, "to", (json_int_t)0, "ids", "");
	text = json_dumps(b, JSON_COMPACT);
	len = tu_sign(f->n, node_site_key(f->n), EVT_REVOKE, text, hlc_wall_ms(), env, sizeof(env));
	if (catchup)
		assert_int_equal(
		    node_submit_decided(f->n, &p, &len, 1, NULL, NULL, &res, 0, NULL, NULL), 0);
	else
		assert_int_equal(node_submit(f->n, &p, &len, 1, &res), 0);
	if (res.rc != 0)
		fail_msg("revocation: %s", cpt_strerror(res.rc));
	free(text);
	json_decref(b);
}

/* A revocation removes the rows of what its key signed after "effective"
 * (taken back: those events leave the store unannounced, s_drop_gone),
 * live at once, a catch-up's once the catch-up is quiet; the file then
 * equals the store. Without s_drop_gone the file kept them (7 rows where
 * the store derives 2). */
static void
test_revocation_rows(void **state)
{
	struct fx *f = *state;
	key_sign_t *carol;
	size_t posts;

	s_settle(f);
	carol = s_key(0x63);
	tu_enrol(f->n, carol, "carol");
	s_burst(f, 5, "inventaire"); /* alice's, 60 s ago */
	s_pub(f, f->bob, EVT_POST, json_pack("{s:s}", "text", "inventaire de bob"), NULL);
	s_pub(f, carol, EVT_POST, json_pack("{s:s}", "text", "inventaire de carol"), NULL);
	s_settle(f);
	assert_int_equal(s_count(f, "inventaire", "posts", NULL, NULL, 0), 7);
	/* A catch-up's revocation waits for the catch-up's end. */
	search_set_quiet(f->s, 3600 * 1000, 3600 * 1000);
	s_revoke(f, f->alice, 120000, 1);
	assert_int_equal(s_behind(f, "inventaire", &posts), 1);
	assert_int_equal(s_post_rows(f), 7);
	search_set_quiet(f->s, 0, 0);
	s_settle(f);
	assert_int_equal(s_behind(f, "inventaire", &posts), 0);
	assert_int_equal(posts, 2);
	s_rows_check(f, 2);
	/* A live one at once. */
	s_revoke(f, carol, 120000, 0);
	s_settle(f);
	assert_int_equal(s_count(f, "inventaire", "posts", NULL, NULL, 0), 1);
	s_rows_check(f, 1);
	key_sign_destroy(&carol);
}

/* The child of test_killed_during_deferral: a catch-up of LOTS commits
 * held back by a quiet time longer than the test, then a live post, found
 * by a search; then a byte to fd, and it waits to be killed. Exits without
 * cmocka on failure. */
static void
s_deferred_child(struct fx *f, int fd)
{
	static uint8_t env[LOT][512];
	const uint8_t *bufs[LOT];
	size_t lens[LOT];
	ingest_res_t res[LOT];
	char err[1024];
	search_q_t sq = {0};
	json_t *out, *body;
	int rc;

	if (node_open(&f->n, f->data, err, sizeof(err)) != 0 ||
	    search_open(&f->s, node_store(f->n), f->data, 0, err, sizeof(err)) != 0)
		_exit(2);
	if (search_start(f->s, f->n, err, sizeof(err)) != 0)
		_exit(3);
	search_set_quiet(f->s, 3600 * 1000, 3600 * 1000);
	for (int lot = 0; lot < LOTS; lot++) {
		uint64_t ms = hlc_wall_ms() - 60000;
		for (int i = 0; i < LOT; i++) {
			char text[96];
			snprintf(text, sizeof(text), "{\"text\":\"différé lot%d numéro %d\"}", lot,
			         i);
			lens[i] = tu_sign(f->n, f->alice, EVT_POST, text, ms + (uint64_t)i, env[i],
			                  sizeof(env[i]));
			bufs[i] = env[i];
		}
		if (node_submit_decided(f->n, bufs, lens, LOT, NULL, NULL, res, 0, NULL, NULL) != 0)
			_exit(4);
	}
	body = json_pack("{s:s}", "text", "inventaire tournant du quai");
	if (node_publish(f->n, f->alice, EVT_POST, body, &res[0]) != 0 || res[0].rc != 0)
		_exit(5);
	json_decref(body);
	sq.q = "tournant";
	sq.type = SEARCH_POSTS;
	sq.limit = 10;
	out = search_find(f->s, &sq, NULL, &rc, err, sizeof(err));
	if (out == NULL ||
	    json_array_size(json_object_get(json_object_get(out, "posts"), "items")) != 1 ||
	    json_integer_value(json_object_get(out, "behind")) != LOTS * LOT)
		_exit(6);
	json_decref(out);
	if (write(fd, "x", 1) != 1)
		_exit(7);
	for (;;)
		pause();
}

/* kill -9 while a catch-up's changes wait (the quiet time not over): the
 * index holds the live post and none of the catch-up's, and says "dirty",
 * so the next open reconciles it with the store: it ends equal to a
 * rebuild. */
static void
test_killed_during_deferral(void **state)
{
	struct fx *f = *state;

	s_killed_child(f, s_deferred_child, 0);
	/* The live post indexed, the catch-up's 4,400 not. */
	assert_int_equal(s_post_rows(f), 1);
	s_restarted(f, LOTS * LOT + 1, "différé");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stem),
	    cmocka_unit_test(test_expr),
	    cmocka_unit_test(test_distance),
	    cmocka_unit_test(test_quiet_time),
	    cmocka_unit_test_setup_teardown(test_languages, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_filters_and_directory, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_redaction, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rebuild_equals_live, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_one_batch_equals_rebuild, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_catch_up_and_verify, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_catch_up_later, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_before_catch_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wal_checkpoints, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_live_window, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backlog_kept_at_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backlog_damaged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_search_reads_its_writes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backlog_equals_rebuild, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_killed_during_backlog, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_older_layout_built_again, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_catchup_waits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_killed_during_deferral, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overflow_stays_live, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_revocation_rows, setup, teardown),
	};

	assert_int_equal(cpt_init(), 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
