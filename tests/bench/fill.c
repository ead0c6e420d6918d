/*
 * fill — fills the store of a node quickly with valid events, for the
 * benchmarks (tests/bench/run.sh, tests/bench/memory.sh).
 *
 *   fill --dir DIR --posts N [--users M] [--comments C] [--reactions R]
 *        [--password PW] [--prefix P] [--days D] [--batch B] [--seed S]
 *        [--root ROOTKEY] [--spaces K [--private]] [--lang fren]
 *
 * --lang fren: French and English text for the search benchmark
 * (tests/bench/search.c): each word is one of 200 common French and English
 * words, drawn by a Zipf-like law (rank r with weight ~1/r), or, one word in
 * four, a rarer word of three syllables among 64,000 (a vocabulary shaped like
 * a real one, not 60 words that each match a tenth of the posts).
 *
 * DIR is a data directory made by `comptoir init` (the node must not be
 * running: the fill is faster alone, and a running node would announce every
 * event it finds). M users (handles P0000, P0001, ...) are enrolled the way
 * `comptoir user add` does it (node/auth/users.c, s_enrol): an enrolment signed by
 * the site key, a key backup sealed under PW with argon2id and signed by the
 * user's key, and a profile. Then N posts, C comments and R reactions on
 * recent posts are signed with the users' keys and ingested through
 * node_submit (the single ingest path: verify, authorise, views, durable
 * commit) in batches of B, so the store is exactly what the API would have
 * built. The timestamps are spread over the last D days, the enrolments just
 * before them, so the site looks as if it had been running that long: the
 * site is certified again (DIR/keys/root.key) from before them, since a site
 * signs nothing before its certificate's window (PROTOCOL.md 8.3). A site
 * whose certificate is recent (made just now, as every bench does) gets its
 * events in the seconds since it, unless --backdate: then the root key
 * certifies it back and the events do span the D days (a year's store has
 * its reconciliation buckets spread as a real one's: issue 23).
 *
 * With --spaces K, user 0 makes K spaces (open; with --private, private,
 * each with a key sealed to this site by the site key, as the node does) and
 * every user joins them all; each post then goes to one of the K spaces or
 * company-wide, at random (1 in K + 1 each): in clear in an open space,
 * sealed (kind 14) in a private one, which costs the signer a seal per post
 * ("seal_us_per_post=") and the ingester the opening. The spaces' ids are
 * printed ("space=ID", the first ones). Comments and reactions stay
 * company-wide.
 *
 * A signing thread prepares the next batch while the main thread ingests
 * the current one. Prints the ingest rate ("events_per_s=") on the last line.
 * Exits 1 if any event was refused.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "node/auth/auth.h"
#include "node/core/core.h"
#include "node/event/event.h"
#include "node/index/index.h"
#include "node/space/space.h"

#define MAX_SPACES 1000

#define MAX_USERS 10000
#define RECENT    2000 /* comments and reactions go to one of the last RECENT posts */
#define MAX_EVENT 2048 /* bytes of one signed envelope we make */
#define QUEUE     3    /* batches in flight between the signer and the ingester */

static const char *const s_words[] = {
    "the",      "canteen",   "meeting", "project", "deadline", "report",   "shipment",
    "plant",    "customer",  "welding", "line",    "quality",  "audit",    "safety",
    "training", "badge",     "parking", "lyon",    "paris",    "budget",   "review",
    "team",     "friday",    "monday",  "coffee",  "server",   "printer",  "office",
    "holiday",  "schedule",  "update",  "release", "invoice",  "supplier", "warehouse",
    "forklift", "inventory", "kpi",     "roadmap", "workshop", "is",       "will",
    "be",       "closed",    "open",    "moved",   "to",       "on",       "at",
    "for",      "with",      "please",  "thanks",  "reminder", "new",      "again",
    "today",    "tomorrow",  "next",    "week",
};
#define N_WORDS (sizeof(s_words) / sizeof(s_words[0]))

/* --lang fren: common words, most frequent first. */
static const char *const s_fren[] = {
    "le",
    "la",
    "the",
    "de",
    "et",
    "and",
    "à",
    "to",
    "les",
    "of",
    "un",
    "a",
    "une",
    "in",
    "est",
    "is",
    "pour",
    "for",
    "en",
    "on",
    "du",
    "des",
    "avec",
    "with",
    "sur",
    "at",
    "réunion",
    "meeting",
    "équipe",
    "team",
    "projet",
    "project",
    "demain",
    "tomorrow",
    "semaine",
    "week",
    "client",
    "customer",
    "commande",
    "order",
    "livraison",
    "delivery",
    "sécurité",
    "safety",
    "qualité",
    "quality",
    "usine",
    "plant",
    "entrepôt",
    "warehouse",
    "stock",
    "inventory",
    "rapport",
    "report",
    "budget",
    "réunions",
    "meetings",
    "formation",
    "training",
    "cantine",
    "canteen",
    "bureau",
    "office",
    "lundi",
    "monday",
    "mardi",
    "tuesday",
    "mercredi",
    "jeudi",
    "thursday",
    "vendredi",
    "friday",
    "fournisseur",
    "supplier",
    "facture",
    "invoice",
    "audit",
    "planning",
    "schedule",
    "congés",
    "holiday",
    "parking",
    "badge",
    "imprimante",
    "printer",
    "serveur",
    "server",
    "réseau",
    "network",
    "mise",
    "update",
    "version",
    "release",
    "atelier",
    "workshop",
    "chariot",
    "forklift",
    "quai",
    "dock",
    "camion",
    "truck",
    "expédition",
    "shipment",
    "retard",
    "delay",
    "urgent",
    "merci",
    "thanks",
    "rappel",
    "reminder",
    "nouveau",
    "new",
    "fermé",
    "closed",
    "ouvert",
    "open",
    "déplacé",
    "moved",
    "prochaine",
    "next",
    "aujourd'hui",
    "today",
    "matin",
    "morning",
    "après-midi",
    "afternoon",
    "soir",
    "evening",
    "direction",
    "management",
    "ressources",
    "humaines",
    "paie",
    "payroll",
    "contrat",
    "contract",
    "sinistre",
    "incident",
    "panne",
    "outage",
    "maintenance",
    "préventive",
    "preventive",
    "chaîne",
    "line",
    "soudure",
    "welding",
    "peinture",
    "painting",
    "contrôle",
    "inspection",
    "objectif",
    "target",
    "résultat",
    "result",
    "trimestre",
    "quarter",
    "année",
    "year",
    "salon",
    "fair",
    "visite",
    "visit",
    "Lyon",
    "Paris",
    "Nantes",
    "Lille",
    "Marseille",
    "Toulouse",
    "Bordeaux",
    "Strasbourg",
    "Rennes",
    "Grenoble",
    "café",
    "coffee",
    "pause",
    "break",
    "fête",
    "party",
    "anniversaire",
    "birthday",
    "bienvenue",
    "welcome",
    "départ",
    "leaving",
    "retraite",
    "retirement",
    "félicitations",
    "congratulations",
    "question",
    "réponse",
    "answer",
    "aide",
    "help",
    "besoin",
    "need",
    "document",
    "procédure",
    "procedure",
    "consigne",
    "instruction",
    "sondage",
    "survey",
    "vote",
    "élection",
};
#define N_FREN (sizeof(s_fren) / sizeof(s_fren[0]))
/* Syllables of the rarer words: 40^3 = 64,000 of them. */
static const char *const s_syl[] = {"ba",  "bé",  "co",  "da",  "fi",  "ga",   "jo",  "ka",
                                    "lu",  "ma",  "né",  "po",  "ri",  "sa",   "tè",  "vo",
                                    "zu",  "pla", "tra", "cri", "bro", "ster", "mon", "dal",
                                    "vik", "ron", "tal", "mer", "lin", "gor",  "fan", "nel",
                                    "qua", "ben", "sol", "dru", "wen", "xa",   "yol", "ç"};
#define N_SYL (sizeof(s_syl) / sizeof(s_syl[0]))

static const char *const s_reactions[] = {"\xf0\x9f\x91\x8d", "\xf0\x9f\x8e\x89",
                                          "\xe2\x9d\xa4\xef\xb8\x8f", "\xf0\x9f\x98\x82"};

/* One batch of signed envelopes. */
typedef struct batch {
	uint8_t *data;       /* envelopes, MAX_EVENT bytes apart */
	const uint8_t **buf; /* pointers into data */
	size_t *len;         /* their lengths */
	size_t n;            /* how many */
	int last;            /* no batch after this one */
} batch_t;

typedef struct fill {
	/* options */
	const char *dir, *password, *prefix;
	const char *root; /* the root key file (--root; DIR/keys/root.key) */
	size_t posts, users, comments, reactions, batch, spaces;
	int private_;
	unsigned days;
	int backdate; /* --backdate: spread over the days even after a recent certificate */
	uint64_t seed;
	int fren; /* --lang fren */
	/* state */
	node_t *node;
	const uint8_t *fed;
	key_sign_t **keys;                 /* the users' keys */
	uint64_t ts_from;                  /* first event timestamp (ms) */
	uint64_t ts_span;                  /* ms the events are spread over */
	uint64_t enrol_back;               /* ms before ts_from the enrolments go */
	uint64_t space_back;               /* ms before ts_from the spaces go */
	uint64_t rng;                      /* xorshift state */
	uint8_t (*recent)[CPT_ID_LEN];     /* ring of the last RECENT post ids */
	size_t n_recent;                   /* posts made so far */
	uint8_t (*space)[CPT_ID_LEN];      /* the spaces made (--spaces) */
	uint8_t (*space_key)[SKEY_ID_LEN]; /* their keys (--private) */
	double seal_s;                     /* seconds the signer spent sealing */
	/* queue between the signer and the ingester */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	batch_t q[QUEUE];       /* ring of batches */
	size_t q_head, q_count; /* next to ingest, batches filled */
	size_t q_free;          /* batches free for the signer */
	int failed;             /* the signer failed */
	int stop;               /* the ingester gave up: the signer ends */
} fill_t;

static uint64_t
s_rand(fill_t *f)
{
	uint64_t x = f->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return f->rng = x;
}

static double
s_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
s_handle(const fill_t *f, size_t i, char out[64])
{
	snprintf(out, 64, "%s%04zu", f->prefix, i);
}

/* A text of 8..40 words, sometimes with a mention. */
static void
s_text(fill_t *f, char *out, size_t cap)
{
	size_t words = 8 + s_rand(f) % 33, len = 0;

	for (size_t w = 0; w < words && len + 48 < cap; w++) {
		int n;
		if (w == words / 2 && s_rand(f) % 10 == 0) {
			char h[64];
			s_handle(f, s_rand(f) % f->users, h);
			n = snprintf(out + len, cap - len, "%s@%s", w ? " " : "", h);
		} else {
			if (!f->fren) {
				n = snprintf(out + len, cap - len, "%s%s", w ? " " : "",
				             s_words[s_rand(f) % N_WORDS]);
			} else if (s_rand(f) % 4 == 0) {
				uint64_t r = s_rand(f);
				n = snprintf(out + len, cap - len, "%s%s%s%s", w ? " " : "",
				             s_syl[r % N_SYL], s_syl[(r / N_SYL) % N_SYL],
				             s_syl[(r / N_SYL / N_SYL) % N_SYL]);
			} else {
				/* Zipf-like: rank = N^u - 1 for u uniform in [0, 1). */
				double u = (double)(s_rand(f) % 1000000) / 1e6;
				size_t r = (size_t)(pow((double)N_FREN + 1, u)) - 1;
				n = snprintf(out + len, cap - len, "%s%s", w ? " " : "",
				             s_fren[r < N_FREN ? r : N_FREN - 1]);
			}
		}
		len += (size_t)n;
	}
	if (len + 2 < cap) {
		out[len++] = '.';
		out[len] = 0;
	}
}

/* Signs body as kind by key at ts into out; returns the length or 0. */
static size_t
s_sign(fill_t *f, uint8_t *out, uint16_t kind, const json_t *body, uint64_t ts,
       const key_sign_t *key)
{
	char *text = json_dumps(body, JSON_COMPACT);
	size_t len = 0;

	if (text == NULL)
		return 0;
	if (evt_sign(out, MAX_EVENT, &len, kind, f->fed, ts, (const uint8_t *)text, strlen(text),
	             key) != 0)
		len = 0;
	free(text);
	return len;
}

static long s_submit(fill_t *f, const uint8_t *const *buf, const size_t *len, size_t n);

/* The site certified again with its own keys, from two hours before the
 * enrolments: windows add up, and the site may sign from then on. */
static int
s_certify_back(fill_t *f)
{
	char path[4200], err[1024], sk[CPT_HEX_ID];
	uint64_t ms = f->ts_from - 2 * 3600 * 1000;
	key_sign_t *root;
	store_txn_t *txn;
	json_t *rec = NULL, *body;
	uint8_t env[MAX_EVENT];
	const uint8_t *b = env;
	size_t len = 0;
	int rc = -1;

	if (f->root)
		snprintf(path, sizeof(path), "%s", f->root);
	else
		snprintf(path, sizeof(path), "%s/keys/root.key", f->dir);
	if ((root = key_sign_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fill: %s (the root key certifies the site back in time)\n", err);
		return -1;
	}
	if (store_read_begin(node_store(f->node), &txn) == 0) {
		rec = index_key_info(txn, key_sign_public(node_site_key(f->node)));
		store_read_end(node_store(f->node), &txn);
	}
	cpt_hex32(sk, key_sign_public(node_site_key(f->node)));
	body = rec ? json_pack("{s:O, s:s, s:O, s:O, s:O, s:I, s:I}", "site",
	                       json_object_get(rec, "site"), "sign_key", sk, "curve_key",
	                       json_object_get(rec, "curve_key"), "seal_key",
	                       json_object_get(rec, "seal_key"), "endpoints",
	                       json_object_get(rec, "endpoints"), "not_before", (json_int_t)ms,
	                       "not_after", (json_int_t)0)
	           : NULL;
	if (body)
		len = s_sign(f, env, EVT_SITE_CERT, body, HLC_MAKE(ms, 0), root);
	if (len > 0 && s_submit(f, &b, &len, 1) == 0)
		rc = 0;
	else
		fprintf(stderr, "fill: cannot certify the site from %llu\n",
		        (unsigned long long)ms);
	json_decref(body);
	json_decref(rec);
	key_sign_destroy(&root);
	return rc;
}

/* 1 when a window of the site's record, open at its end, already starts
 * before the enrolments: no new certificate then. A second fill of the same
 * site (heal.py's outages) made one each time, and a certificate makes the
 * receiving node settle its trust state and reconcile its search index: work
 * an outage does not cause. */
static int
s_covered(fill_t *f)
{
	store_txn_t *txn;
	json_t *rec = NULL, *w;
	uint64_t need = f->ts_from - f->enrol_back;
	size_t i;
	int covered = 0;

	if (store_read_begin(node_store(f->node), &txn) != 0)
		return 0;
	rec = index_key_info(txn, key_sign_public(node_site_key(f->node)));
	store_read_end(node_store(f->node), &txn);
	json_array_foreach (json_object_get(rec, "windows"), i, w) {
		uint64_t from = (uint64_t)json_integer_value(json_array_get(w, 0));
		uint64_t to = (uint64_t)json_integer_value(json_array_get(w, 1));
		if (from <= need && to == 0)
			covered = 1;
	}
	json_decref(rec);
	return covered;
}

/* Ingests a batch and reports refusals; returns the number refused or -1. */
static long
s_submit(fill_t *f, const uint8_t *const *buf, const size_t *len, size_t n)
{
	ingest_res_t *res = calloc(n ? n : 1, sizeof(*res));
	long bad = 0;

	if (res == NULL)
		return -1;
	if (node_submit(f->node, buf, len, n, res) != 0) {
		fprintf(stderr, "fill: node_submit failed (store error)\n");
		free(res);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (res[i].rc == 0)
			continue;
		if (bad++ < 5)
			fprintf(stderr, "fill: %s event refused: %s (%s)\n",
			        evt_kind_name(res[i].kind), cpt_strerror(res[i].rc), res[i].why);
	}
	free(res);
	return bad;
}

/* Enrols the users as s_enrol in node/auth/users.c does, at timestamps before the
 * events: enrolment by the site key, key backup, profile. */
static int
s_enrol_users(fill_t *f)
{
	const cfg_t *cfg = node_cfg(f->node);
	size_t n = 3 * f->users;
	uint8_t *data = malloc(n * MAX_EVENT);
	const uint8_t **buf = calloc(n, sizeof(*buf));
	size_t *len = calloc(n, sizeof(*len));
	uint64_t ts = HLC_MAKE(f->ts_from - f->enrol_back, 0);
	size_t k = 0;
	long bad;

	if (!data || !buf || !len) {
		free(data);
		free(buf);
		free(len);
		return -1;
	}
	for (size_t i = 0; i < f->users; i++) {
		char handle[64], hex[CPT_HEX_ID], name[64];
		uint8_t seed[CPT_SEED_LEN];
		json_t *enrol, *backup, *profile;

		if ((f->keys[i] = key_sign_new()) == NULL)
			goto fail;
		s_handle(f, i, handle);
		cpt_hex32(hex, key_sign_public(f->keys[i]));
		{
			/* The key agrees to be this handle here (PROTOCOL.md 7.2). */
			uint8_t sig[CPT_SIG_LEN];
			char proof[2 * CPT_SIG_LEN + 1];
			if (evt_proof_sign(sig, f->keys[i], f->fed, cfg->name, handle) != 0)
				goto fail;
			sodium_bin2hex(proof, sizeof(proof), sig, sizeof(sig));
			enrol = json_pack("{s:s, s:s, s:s, s:s, s:s}", "handle", handle, "key", hex,
			                  "site", cfg->name, "role", "member", "proof", proof);
		}
		key_sign_seed(f->keys[i], seed);
		backup = acct_backup_make(handle, seed, f->password);
		sodium_memzero(seed, sizeof(seed));
		snprintf(name, sizeof(name), "Bench User %zu", i);
		profile = json_pack("{s:{s:s, s:s}}", "fields", "name", name, "site", cfg->name);
		if (!enrol || !backup || !profile) {
			json_decref(enrol);
			json_decref(backup);
			json_decref(profile);
			goto fail;
		}
		buf[k] = data + k * MAX_EVENT;
		len[k] =
		    s_sign(f, data + k * MAX_EVENT, EVT_ENROL, enrol, ts++, node_site_key(f->node));
		k++;
		buf[k] = data + k * MAX_EVENT;
		len[k] = s_sign(f, data + k * MAX_EVENT, EVT_KEY_BACKUP, backup, ts++, f->keys[i]);
		k++;
		buf[k] = data + k * MAX_EVENT;
		len[k] = s_sign(f, data + k * MAX_EVENT, EVT_PROFILE, profile, ts++, f->keys[i]);
		k++;
		json_decref(enrol);
		json_decref(backup);
		json_decref(profile);
		if (len[k - 1] == 0 || len[k - 2] == 0 || len[k - 3] == 0)
			goto fail;
		if ((i + 1) % 50 == 0 || i + 1 == f->users)
			fprintf(stderr, "fill: %zu/%zu users prepared (argon2id)\r", i + 1,
			        f->users);
	}
	fprintf(stderr, "\n");
	bad = s_submit(f, buf, len, k);
	free(data);
	free(buf);
	free(len);
	return bad == 0 ? 0 : -1;
fail:
	fprintf(stderr, "fill: cannot prepare the users\n");
	free(data);
	free(buf);
	free(len);
	return -1;
}

/* Makes the spaces (user 0 creates them; private ones get a key sealed to
 * this site by the site key) and has every user join them, before the
 * posts. 0 or -1. */
static int
s_make_spaces(fill_t *f)
{
	size_t n = f->spaces * (f->users + 1);
	uint8_t *data = malloc(n * MAX_EVENT);
	const uint8_t **buf = calloc(n, sizeof(*buf));
	size_t *len = calloc(n, sizeof(*len)), k = 0;
	uint64_t ts = HLC_MAKE(f->ts_from - f->space_back, 0);
	uint8_t seal_pk[CPT_KEY_LEN];
	int rc = -1;

	if (!data || !buf || !len || (f->private_ && node_seal_key(f->node) == NULL))
		goto out;
	if (f->private_)
		memcpy(seal_pk, key_curve_public(node_seal_key(f->node)), CPT_KEY_LEN);
	for (size_t i = 0; i < f->spaces; i++) {
		char name[64];
		json_t *body;
		snprintf(name, sizeof(name), "Bench space %zu", i);
		if (f->private_) {
			skey_ctx_t c = {f->fed, EVT_SPACE, key_sign_public(f->keys[0]), NULL};
			json_t *sealed = NULL, *profile = json_pack("{s:s}", "name", name);
			skey_ring_t *ring = index_spaces_ring_lock();
			int src = ring ? skey_ring_generate(ring, f->space_key[i]) : -1;
			if (src == 0)
				src = space_seal(&sealed, ring, f->space_key[i], &c, profile);
			index_spaces_ring_unlock();
			json_decref(profile);
			if (src != 0)
				goto out;
			body = json_pack("{s:s, s:s, s:o}", "visibility", "private", "join", "open",
			                 "sealed", sealed);
		} else {
			body = json_pack("{s:s, s:s, s:s}", "visibility", "open", "join", "open",
			                 "name", name);
		}
		buf[k] = data + k * MAX_EVENT;
		len[k] = s_sign(f, data + k * MAX_EVENT, EVT_SPACE, body, ts++, f->keys[0]);
		json_decref(body);
		if (len[k] == 0)
			goto out;
		evt_id_raw(f->space[i], buf[k]);
		k++;
	}
	if (s_submit(f, buf, len, k) != 0)
		goto out;
	k = 0;
	for (size_t i = 0; i < f->spaces; i++) {
		char hex[CPT_HEX_ID];
		cpt_hex32(hex, f->space[i]);
		if (f->private_) {
			json_t *body = NULL;
			skey_ring_t *ring = index_spaces_ring_lock();
			int src = ring
			              ? space_key_body(&body, ring, f->space[i], f->space_key[i],
			                               (const uint8_t(*)[CPT_KEY_LEN]) & seal_pk, 1)
			              : -1;
			index_spaces_ring_unlock();
			if (src != 0)
				goto out;
			buf[k] = data + k * MAX_EVENT;
			len[k] = s_sign(f, data + k * MAX_EVENT, EVT_SPACE_KEY, body, ts++,
			                node_site_key(f->node));
			json_decref(body);
			if (len[k++] == 0)
				goto out;
		}
		for (size_t u = 1; u < f->users; u++) {
			json_t *body = json_pack("{s:s, s:s}", "space", hex, "action", "join");
			buf[k] = data + k * MAX_EVENT;
			len[k] = s_sign(f, data + k * MAX_EVENT, EVT_SPACE_MEMBER, body, ts++,
			                f->keys[u]);
			json_decref(body);
			if (len[k++] == 0)
				goto out;
		}
	}
	rc = s_submit(f, buf, len, k) == 0 ? 0 : -1;
out:
	free(data);
	free(buf);
	free(len);
	return rc;
}

/* The body of a post of text in space i (i == f->spaces: company-wide). */
static json_t *
s_post_body(fill_t *f, const char *text, size_t i, size_t user, uint16_t *kind)
{
	char hex[CPT_HEX_ID];
	json_t *sealed = NULL, *plain;
	skey_ctx_t c;
	skey_ring_t *ring;
	double t0;
	int rc;

	*kind = EVT_POST;
	if (i >= f->spaces)
		return json_pack("{s:s}", "text", text);
	cpt_hex32(hex, f->space[i]);
	if (!f->private_)
		return json_pack("{s:s, s:s}", "text", text, "space", hex);
	*kind = EVT_SEALED;
	t0 = s_now();
	c = (skey_ctx_t){f->fed, EVT_SEALED, key_sign_public(f->keys[user]), f->space[i]};
	plain = json_pack("{s:i, s:s}", "kind", EVT_POST, "text", text);
	ring = index_spaces_ring_lock();
	rc = ring && plain ? space_seal(&sealed, ring, f->space_key[i], &c, plain) : -1;
	index_spaces_ring_unlock();
	json_decref(plain);
	f->seal_s += s_now() - t0;
	return rc == 0 ? json_pack("{s:s, s:o}", "space", hex, "sealed", sealed) : NULL;
}

/* ------------------------------------------------------------- signer */

/* Event number i of total: its timestamp, spread evenly over the span. */
static uint64_t
s_ts(fill_t *f, size_t i, size_t total, uint64_t *prev)
{
	uint64_t ms = f->ts_from + (uint64_t)((double)i * (double)f->ts_span / (double)total);
	uint64_t ts = HLC_MAKE(ms, 0);

	if (ts <= *prev)
		ts = *prev + 1;
	*prev = ts;
	return ts;
}

static void *
s_signer(void *arg)
{
	fill_t *f = arg;
	size_t total = f->posts + f->comments + f->reactions;
	size_t made = 0, posts = 0, comments = 0, reactions = 0, slot = 0;
	uint64_t prev = 0, c_acc = 0, r_acc = 0;
	char text[1024];

	while (made < total) {
		batch_t *b;
		pthread_mutex_lock(&f->lock);
		while (f->q_free == 0 && !f->stop)
			pthread_cond_wait(&f->cond, &f->lock);
		if (f->stop) {
			pthread_mutex_unlock(&f->lock);
			return NULL;
		}
		f->q_free--;
		pthread_mutex_unlock(&f->lock);
		b = &f->q[slot];
		b->n = 0;
		while (b->n < f->batch && made < total) {
			uint8_t *out = b->data + b->n * MAX_EVENT;
			size_t user = s_rand(f) % f->users, len;
			uint16_t kind;
			json_t *body;
			char hex[CPT_HEX_ID];

			/* Comments and reactions follow the posts at the requested ratio,
			 * on one of the recent posts. */
			if (posts > 0 && comments < f->comments && c_acc >= f->posts) {
				c_acc -= f->posts;
				kind = EVT_COMMENT;
			} else if (posts > 0 && reactions < f->reactions && r_acc >= f->posts) {
				r_acc -= f->posts;
				kind = EVT_REACTION;
			} else if (posts < f->posts) {
				kind = EVT_POST;
				c_acc += f->comments;
				r_acc += f->reactions;
			} else if (comments < f->comments) {
				kind = EVT_COMMENT;
			} else {
				kind = EVT_REACTION;
			}
			if (kind != EVT_POST) {
				size_t window = posts < RECENT ? posts : RECENT;
				size_t back = 1 + s_rand(f) % window;
				cpt_hex32(hex, f->recent[(posts - back) % RECENT]);
			}
			if (kind == EVT_POST) {
				s_text(f, text, sizeof(text));
				body = s_post_body(f, text,
				                   f->spaces ? s_rand(f) % (f->spaces + 1) : 0,
				                   user, &kind);
			} else if (kind == EVT_COMMENT) {
				s_text(f, text, 200);
				body = json_pack("{s:s, s:s}", "post", hex, "text", text);
			} else {
				body = json_pack("{s:s, s:s, s:b}", "post", hex, "reaction",
				                 s_reactions[s_rand(f) % 4], "on", 1);
			}
			len = body ? s_sign(f, out, kind, body, s_ts(f, made, total, &prev),
			                    f->keys[user])
			           : 0;
			json_decref(body);
			if (len == 0) {
				fprintf(stderr, "fill: cannot sign an event\n");
				pthread_mutex_lock(&f->lock);
				f->failed = 1;
				b->last = 1;
				f->q_count++;
				pthread_cond_broadcast(&f->cond);
				pthread_mutex_unlock(&f->lock);
				return NULL;
			}
			if (kind == EVT_POST || kind == EVT_SEALED) {
				evt_id_raw(f->recent[posts % RECENT], out);
				posts++;
			} else if (kind == EVT_COMMENT) {
				comments++;
			} else {
				reactions++;
			}
			b->buf[b->n] = out;
			b->len[b->n] = len;
			b->n++;
			made++;
		}
		b->last = made == total;
		pthread_mutex_lock(&f->lock);
		f->q_count++;
		pthread_cond_broadcast(&f->cond);
		pthread_mutex_unlock(&f->lock);
		slot = (slot + 1) % QUEUE;
	}
	return NULL;
}

/* ---------------------------------------------------------------- main */

static int
s_usage(void)
{
	fprintf(
	    stderr,
	    "usage: fill --dir DIR --posts N [--users M] [--comments C] [--reactions R]\n"
	    "            [--password PW] [--prefix P] [--days D] [--batch B] [--seed S]\n"
	    "            [--root ROOTKEY] [--spaces K [--private]] [--lang fren] [--backdate]\n");
	return 2;
}

static int
s_num(const char *s, size_t *out, size_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || end == s || v > max)
		return -1;
	*out = (size_t)v;
	return 0;
}

int
main(int argc, char **argv)
{
	fill_t f;
	pthread_t th;
	char err[1024];
	size_t total, done = 0, days = 30, seed = 1;
	long refused = 0;
	double t0, t1;
	int rc = 1, started = 0;

	memset(&f, 0, sizeof(f));
	f.password = "bench-password";
	f.prefix = "u";
	f.users = 50;
	f.batch = 1000;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = v == NULL;
		if (!bad && strcmp(o, "--dir") == 0)
			f.dir = v;
		else if (!bad && strcmp(o, "--password") == 0)
			f.password = v;
		else if (!bad && strcmp(o, "--prefix") == 0)
			f.prefix = v;
		else if (!bad && strcmp(o, "--root") == 0)
			f.root = v;
		else if (!bad && strcmp(o, "--posts") == 0)
			bad = s_num(v, &f.posts, 100000000);
		else if (!bad && strcmp(o, "--users") == 0)
			bad = s_num(v, &f.users, MAX_USERS) || f.users == 0;
		else if (!bad && strcmp(o, "--comments") == 0)
			bad = s_num(v, &f.comments, 100000000);
		else if (!bad && strcmp(o, "--reactions") == 0)
			bad = s_num(v, &f.reactions, 100000000);
		else if (!bad && strcmp(o, "--batch") == 0)
			bad = s_num(v, &f.batch, 100000) || f.batch == 0;
		else if (!bad && strcmp(o, "--days") == 0)
			bad = s_num(v, &days, 3650) || days == 0;
		else if (!bad && strcmp(o, "--seed") == 0)
			bad = s_num(v, &seed, (size_t)-1);
		else if (!bad && strcmp(o, "--lang") == 0)
			f.fren = strcmp(v, "fren") == 0 ? 1 : (bad = 1, 0);
		else if (!bad && strcmp(o, "--spaces") == 0)
			bad = s_num(v, &f.spaces, MAX_SPACES);
		else if (strcmp(o, "--private") == 0) {
			f.private_ = 1;
			continue;
		} else if (strcmp(o, "--backdate") == 0) {
			f.backdate = 1;
			continue;
		} else
			bad = 1;
		if (bad)
			return s_usage();
		i++;
	}
	if (f.dir == NULL || (f.posts == 0 && (f.comments || f.reactions)))
		return s_usage();
	if (strlen(f.prefix) > 24 || !event_valid_handle(f.prefix) || strlen(f.password) < 8) {
		fprintf(stderr, "fill: bad --prefix (a handle start) or --password (8+ chars)\n");
		return 2;
	}
	f.days = (unsigned)days;
	f.rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)seed;
	if (cpt_init() != 0) {
		fprintf(stderr, "fill: libsodium failed to initialise\n");
		return 1;
	}
	if (node_open(&f.node, f.dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "fill: %s\n", err);
		return 1;
	}
	f.fed = node_ingest_ctx(f.node)->fed;
	f.ts_span = (uint64_t)f.days * 86400 * 1000;
	f.ts_from = hlc_wall_ms() - f.ts_span - 60 * 1000;
	f.enrol_back = 3600 * 1000;
	f.space_back = 1800 * 1000;
	{
		/* A certificate is valid from its issue (protocol version 2): a
		 * site made just now cannot enrol anyone a month ago. The events
		 * then go between the certificate and now. */
		store_txn_t *txn;
		json_t *rec = NULL;
		uint64_t nb = 0;
		if (store_read_begin(node_store(f.node), &txn) == 0) {
			rec = index_key_info(txn, key_sign_public(node_site_key(f.node)));
			store_read_end(node_store(f.node), &txn);
		}
		nb = (uint64_t)json_integer_value(json_object_get(rec, "not_before"));
		json_decref(rec);
		if (!f.backdate && nb && f.ts_from < nb + f.enrol_back + 1000) {
			f.enrol_back = 1500;
			f.space_back = 1000;
			f.ts_from = nb + 2000;
			while (hlc_wall_ms() < f.ts_from + 2000) {
				struct timespec w = {0, 100 * 1000000L};
				nanosleep(&w, NULL);
			}
			f.ts_span = hlc_wall_ms() - f.ts_from;
			fprintf(stderr,
			        "fill: the site's certificate is recent: the events go in the "
			        "%.1f s since it\n",
			        (double)f.ts_span / 1000);
		}
	}
	f.keys = calloc(f.users, sizeof(*f.keys));
	f.recent = calloc(RECENT, CPT_ID_LEN);
	pthread_mutex_init(&f.lock, NULL);
	pthread_cond_init(&f.cond, NULL);
	f.q_free = QUEUE;
	for (int i = 0; i < QUEUE; i++) {
		f.q[i].data = malloc(f.batch * MAX_EVENT);
		f.q[i].buf = calloc(f.batch, sizeof(*f.q[i].buf));
		f.q[i].len = calloc(f.batch, sizeof(*f.q[i].len));
		if (!f.q[i].data || !f.q[i].buf || !f.q[i].len)
			goto out;
	}
	if (!f.keys || !f.recent)
		goto out;
	fprintf(stderr, "fill: enrolling %zu users (%s0000..., password \"%s\")\n", f.users,
	        f.prefix, f.password);
	if (!s_covered(&f) && s_certify_back(&f) != 0)
		goto out;
	if (s_enrol_users(&f) != 0)
		goto out;
	if (f.spaces) {
		f.space = calloc(f.spaces, CPT_ID_LEN);
		f.space_key = calloc(f.spaces, SKEY_ID_LEN);
		if (!f.space || !f.space_key || s_make_spaces(&f) != 0) {
			fprintf(stderr, "fill: cannot make the spaces\n");
			goto out;
		}
		for (size_t i = 0; i < f.spaces && i < 3; i++) {
			char hex[CPT_HEX_ID];
			cpt_hex32(hex, f.space[i]);
			printf("space=%s\n", hex);
		}
	}
	total = f.posts + f.comments + f.reactions;
	if (total == 0) {
		rc = 0;
		goto out;
	}
	t0 = s_now();
	if (pthread_create(&th, NULL, s_signer, &f) != 0)
		goto out;
	started = 1;
	for (;;) {
		batch_t *b;
		long bad;
		int last;
		pthread_mutex_lock(&f.lock);
		while (f.q_count == 0)
			pthread_cond_wait(&f.cond, &f.lock);
		b = &f.q[f.q_head];
		pthread_mutex_unlock(&f.lock);
		if (f.failed)
			goto out;
		bad = s_submit(&f, b->buf, b->len, b->n);
		done += b->n;
		last = b->last;
		pthread_mutex_lock(&f.lock);
		f.q_count--;
		f.q_free++;
		f.q_head = (f.q_head + 1) % QUEUE;
		pthread_cond_broadcast(&f.cond);
		pthread_mutex_unlock(&f.lock);
		if (bad < 0)
			goto out;
		refused += bad;
		if (done % (50 * f.batch) < f.batch || last)
			fprintf(stderr, "fill: %zu/%zu events, %.0f/s\r", done, total,
			        (double)done / (s_now() - t0));
		if (last)
			break;
	}
	t1 = s_now();
	fprintf(stderr, "\n");
	printf("fill: %zu events (%zu posts, %zu comments, %zu reactions) by %zu users in %.1f s\n",
	       total, f.posts, f.comments, f.reactions, f.users, t1 - t0);
	if (f.private_ && f.posts)
		printf("seal_us_per_post=%.1f\n", 1e6 * f.seal_s * (double)(f.spaces + 1) /
		                                      ((double)f.posts * (double)f.spaces));
	printf("events_per_s=%.0f refused=%ld\n", (double)total / (t1 - t0), refused);
	rc = refused == 0 ? 0 : 1;
out:
	if (started) {
		/* The signer may wait for a free batch: let it finish. */
		pthread_mutex_lock(&f.lock);
		f.stop = 1;
		pthread_cond_broadcast(&f.cond);
		pthread_mutex_unlock(&f.lock);
		pthread_join(th, NULL);
	}
	for (size_t i = 0; f.keys && i < f.users; i++)
		key_sign_destroy(&f.keys[i]);
	free(f.keys);
	free(f.recent);
	free(f.space);
	free(f.space_key);
	for (int i = 0; i < QUEUE; i++) {
		free(f.q[i].data);
		free(f.q[i].buf);
		free(f.q[i].len);
	}
	node_close(&f.node);
	return rc;
}
