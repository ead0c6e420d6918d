/*
 * Outgoing webhooks: the registrations in DB_HOOKS, the matching of new
 * posts and comments against them (only what the webhook's owner may read
 * goes out), and the "hook" channel of the outbox that delivers them with
 * libcurl, signed, with a timeout, no redirect followed and the answer cut
 * at HOOK_REPLY_MAX. A webhook that fails max_failures times in a row is
 * disabled, with the reason in its record.
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <sodium.h>

#include "config/config.h"
#include "node/hooks/hooks.h"
#include "node/index/index.h"
#include "node/outbox/outbox.h"
#include "node/query/query.h"
#include "node/store/store.h"

#define RING 4096 /* changes noted and not yet matched; more are dropped, logged */
#define SEEN 256  /* events matched lately, told apart from one announced again */

struct hooks {
	node_t *n;                      /* the node */
	store_t *st;                    /* its store */
	cfg_hooks_t c;                  /* the webhooks: section, copied at start */
	outbox_t *ob;                   /* the "hook" channel's worker */
	pthread_mutex_t mu;             /* guards the ring */
	node_change_t ring[RING];       /* changes to match, oldest at head */
	size_t head, count;             /* the ring's first slot and length */
	uint64_t dropped;               /* changes dropped because the ring was full */
	json_t *results;                /* deliveries of the pass not recorded yet (worker only) */
	uint8_t seen[SEEN][CPT_ID_LEN]; /* the events matched last (worker only) */
	size_t seen_at;                 /* the next slot of seen */
	int idle; /* the last pass found no webhook enabled: a commit notes its changes
	             without waking the worker, which takes them each second (mu) */
};

static const char *const s_events[] = {"post", "comment", "mention", "reply"};

/* ------------------------------------------------------- registrations */

static int
s_id_ok(const char *id)
{
	if (id == NULL || strlen(id) != HOOK_ID_HEX)
		return 0;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

/* The record as its owner sees it: no secret. A new reference. */
static json_t *
s_view(const json_t *rec)
{
	json_t *v = json_deep_copy(rec);

	if (v) {
		json_object_del(v, "secret");
		json_object_del(v, "log");
	}
	return v;
}

/* May who see and change rec? */
static int
s_mine(const json_t *rec, const hooks_who_t *who)
{
	const char *owner = json_string_value(json_object_get(rec, "owner"));
	return who->admin || (owner && strcmp(owner, who->handle) == 0);
}

/* A URL a webhook may have: http(s), a host, no user name or password in
 * it, at most HOOK_URL_MAX bytes. 0, or -1 with why. */
static int
s_url_ok(const char *url, char *err, size_t errlen)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL, *user = NULL;
	int ok = 0;

	if (url == NULL || url[0] == 0 || strlen(url) > HOOK_URL_MAX) {
		snprintf(err, errlen,
		         "\"url\" must be an http:// or https:// address of 1 to %d bytes",
		         HOOK_URL_MAX);
		return -1;
	}
	if (strpbrk(url, " \t\r\n") != NULL) {
		snprintf(err, errlen, "\"url\" must not contain spaces or line breaks");
		return -1;
	}
	if ((u = curl_url()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		snprintf(err, errlen, "\"url\" is not a URL: %.80s", url);
	else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
		snprintf(err, errlen, "\"url\" must start with http:// or https://, not %.20s://",
		         scheme);
	else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
		snprintf(err, errlen, "\"url\" must not hold a user name or password");
	else
		ok = 1;
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(u);
	return ok ? 0 : -1;
}

struct put_arg {
	const uint8_t *key; /* the id's 16 bytes */
	json_t *rec;        /* the record */
};

static int
s_put_fn(store_txn_t *txn, void *arg)
{
	struct put_arg *p = arg;
	return store_put_json(txn, DB_HOOKS, p->key, 16, p->rec);
}

int
hooks_create(store_t *st, const hooks_who_t *who, const json_t *req, json_t **view, char *err,
             size_t errlen)
{
	const char *k, *url, *name = "", *space = NULL;
	json_t *v, *events, *evs, *rec;
	uint8_t key[16], sec[32], sp[CPT_ID_LEN];
	char id[HOOK_ID_HEX + 1], secret[HOOK_SECRET_LEN + 1];
	int site_wide = 0, rc;

	assert(st && who && req && view);
	*view = NULL;
	if (!json_is_object(req)) {
		snprintf(err, errlen, "the body must be a JSON object");
		return CPT_EINVAL;
	}
	json_object_foreach ((json_t *)req, k, v) {
		if (strcmp(k, "url") && strcmp(k, "events") && strcmp(k, "space") &&
		    strcmp(k, "name")) {
			snprintf(err, errlen, "unknown field \"%.40s\": url, events, space, name",
			         k);
			return CPT_EINVAL;
		}
	}
	url = json_string_value(json_object_get(req, "url"));
	if (s_url_ok(url, err, errlen) != 0)
		return CPT_EINVAL;
	v = json_object_get(req, "name");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || json_string_length(v) > 100) {
			snprintf(err, errlen, "\"name\" must be text of at most 100 bytes");
			return CPT_EINVAL;
		}
		name = json_string_value(v);
	}
	v = json_object_get(req, "space");
	if (v && !json_is_null(v)) {
		space = json_string_value(v);
		if (space == NULL || cpt_unhex32(sp, space, strlen(space)) != 0) {
			snprintf(err, errlen,
			         "\"space\" must be a space id (64 lowercase hex digits)");
			return CPT_EINVAL;
		}
	}
	events = json_object_get(req, "events");
	if (!json_is_array(events) || json_array_size(events) == 0 ||
	    json_array_size(events) > sizeof(s_events) / sizeof(s_events[0])) {
		snprintf(
		    err, errlen,
		    "\"events\" must be a list of one or more of post, comment, mention, reply");
		return CPT_EINVAL;
	}
	if ((evs = json_array()) == NULL)
		return CPT_ENOMEM;
	for (size_t i = 0; i < json_array_size(events); i++) {
		const char *e = json_string_value(json_array_get(events, i));
		size_t j, known = sizeof(s_events) / sizeof(s_events[0]);
		for (j = 0; e && j < known; j++)
			if (strcmp(e, s_events[j]) == 0)
				break;
		if (e == NULL || j == known) {
			snprintf(err, errlen,
			         "\"events\" holds \"%.30s\": known events are post, comment, "
			         "mention, reply",
			         e ? e : "(not text)");
			json_decref(evs);
			return CPT_EINVAL;
		}
		for (size_t m = 0; m < json_array_size(evs); m++)
			if (strcmp(json_string_value(json_array_get(evs, m)), e) == 0) {
				snprintf(err, errlen, "\"events\" names \"%s\" twice", e);
				json_decref(evs);
				return CPT_EINVAL;
			}
		if (strcmp(e, "post") == 0 || strcmp(e, "comment") == 0)
			site_wide = 1;
		json_array_append_new(evs, json_string(e));
	}
	/* Who may register what: the space's admins for their space, the site's
	 * for everything they may read; anyone for what concerns them. */
	if (space) {
		store_txn_t *txn;
		json_t *s = NULL;
		const char *role;
		if (store_read_begin(st, &txn) != 0) {
			json_decref(evs);
			return CPT_EIO;
		}
		s = query_space(txn, sp, who->handle, index_spaces_site());
		store_read_end(st, &txn);
		role = json_string_value(json_object_get(s, "my_role"));
		if (s == NULL) {
			snprintf(err, errlen, "no such space: %.64s", space);
			json_decref(evs);
			return CPT_EINVAL;
		}
		if (!who->admin && (role == NULL || strcmp(role, "member") == 0)) {
			snprintf(err, errlen,
			         "only the space's admins (or the site's) may add a "
			         "webhook to a space");
			json_decref(s);
			json_decref(evs);
			return CPT_EPERM;
		}
		json_decref(s);
	} else if (site_wide && !who->admin) {
		snprintf(err, errlen,
		         "\"post\" and \"comment\" need a \"space\" you administer "
		         "(the whole site's are for its admins)");
		json_decref(evs);
		return CPT_EPERM;
	}
	randombytes_buf(key, sizeof(key));
	randombytes_buf(sec, sizeof(sec));
	sodium_bin2hex(id, sizeof(id), key, sizeof(key));
	memcpy(secret, "whsec_", 6);
	sodium_bin2hex(secret + 6, sizeof(secret) - 6, sec, sizeof(sec));
	sodium_memzero(sec, sizeof(sec));
	rec = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:I, s:b, s:i, s:n, s:n, s:I, s:n, "
	                "s:[]}",
	                "id", id, "owner", who->handle, "name", name, "url", url, "events", evs,
	                "space", space ? json_string(space) : json_null(), "secret", secret,
	                "created", (json_int_t)hlc_wall_ms(), "enabled", 1, "failures", 0,
	                "disabled_reason", "disabled_at", "delivered", (json_int_t)0,
	                "last_delivery", "log");
	sodium_memzero(secret, sizeof(secret));
	if (rec == NULL)
		return CPT_ENOMEM;
	{
		struct put_arg p = {key, rec};
		rc = store_write(st, s_put_fn, &p);
	}
	if (rc == 0) {
		*view = s_view(rec);
		json_object_set(*view, "secret", json_object_get(rec, "secret"));
	}
	/* The record's copy of the secret goes with it. */
	json_decref(rec);
	return rc;
}

struct hooks_of {
	const hooks_who_t *who; /* whose */
	json_t *out;            /* the array filled */
};

static void
s_hook_row(void *arg, store_txn_t *txn, const store_val_t *k, json_t *rec)
{
	struct hooks_of *h = arg;

	(void)txn;
	(void)k;
	if (rec && s_mine(rec, h->who))
		json_array_append_new(h->out, s_view(rec));
}

json_t *
hooks_list(store_t *st, const hooks_who_t *who)
{
	store_txn_t *txn;
	struct hooks_of h = {who, json_array()};

	if (h.out == NULL || store_read_begin(st, &txn) != 0) {
		json_decref(h.out);
		return NULL;
	}
	if (store_each_json(txn, DB_HOOKS, s_hook_row, &h) != 0)
		log_warnx("hooks", "cannot read every webhook record");
	store_read_end(st, &txn);
	return h.out;
}

/* The record of id if who may see it: a new reference, or NULL. */
static json_t *
s_get(store_txn_t *txn, const hooks_who_t *who, const char *id, uint8_t key[16])
{
	json_t *rec;

	if (!s_id_ok(id) || sodium_hex2bin(key, 16, id, HOOK_ID_HEX, NULL, NULL, NULL) != 0)
		return NULL;
	rec = store_get_json(txn, DB_HOOKS, key, 16);
	if (rec && who && !s_mine(rec, who)) {
		json_decref(rec);
		return NULL;
	}
	return rec;
}

json_t *
hooks_get(store_t *st, const hooks_who_t *who, const char *id)
{
	store_txn_t *txn;
	uint8_t key[16];
	json_t *rec, *view, *ob;

	if (store_read_begin(st, &txn) != 0)
		return NULL;
	rec = s_get(txn, who, id, key);
	store_read_end(st, &txn);
	if (rec == NULL)
		return NULL;
	view = s_view(rec);
	json_object_set(view, "log", json_object_get(rec, "log"));
	json_decref(rec);
	ob = outbox_status(st, "hook", id);
	json_object_set_new(view, "waiting",
	                    ob ? json_incref(json_object_get(ob, "waiting")) : json_integer(0));
	json_decref(ob);
	return view;
}

/* A change to one webhook, under its write transaction. */
struct edit {
	const hooks_who_t *who;
	const char *id;
	int op; /* 0: enable/disable, 1: delete, 2: queue a ping */
	int on; /* op 0: enable */
};

static int
s_edit_fn(store_txn_t *txn, void *arg)
{
	struct edit *e = arg;
	uint8_t key[16];
	json_t *rec = s_get(txn, e->who, e->id, key);
	int rc;

	if (rec == NULL)
		return CPT_ENOTFOUND;
	if (e->op == 1) {
		json_decref(rec);
		if ((rc = store_del(txn, DB_HOOKS, key, 16)) != 0)
			return rc;
		return outbox_drop_lane(txn, "hook", e->id);
	}
	if (e->op == 2) {
		uint8_t d[16];
		char did[33], *body;
		json_t *entry, *b;
		randombytes_buf(d, sizeof(d));
		sodium_bin2hex(did, sizeof(did), d, sizeof(d));
		b = json_pack("{s:s, s:s, s:s, s:s, s:I}", "event", "ping", "delivery", did, "hook",
		              e->id, "site", index_spaces_site(), "created",
		              (json_int_t)hlc_wall_ms());
		body = b ? json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(b);
		json_decref(rec);
		if (body == NULL)
			return CPT_ENOMEM;
		entry = json_pack("{s:s, s:s, s:s, s:s, s:b}", "hook", e->id, "event", "ping",
		                  "delivery", did, "body", body, "ping", 1);
		free(body);
		rc = entry ? outbox_put(txn, "hook", e->id, entry, hlc_wall_ms()) : CPT_ENOMEM;
		json_decref(entry);
		return rc;
	}
	json_object_set_new(rec, "enabled", json_boolean(e->on));
	if (e->on) {
		json_object_set_new(rec, "failures", json_integer(0));
		json_object_set_new(rec, "disabled_reason", json_null());
		json_object_set_new(rec, "disabled_at", json_null());
	} else {
		json_object_set_new(rec, "disabled_reason", json_string("disabled by hand"));
		json_object_set_new(rec, "disabled_at", json_integer((json_int_t)hlc_wall_ms()));
	}
	rc = store_put_json(txn, DB_HOOKS, key, 16, rec);
	json_decref(rec);
	return rc;
}

int
hooks_enable(store_t *st, const hooks_who_t *who, const char *id, int on)
{
	struct edit e = {who, id, 0, on};
	return store_write(st, s_edit_fn, &e);
}

int
hooks_delete(store_t *st, const hooks_who_t *who, const char *id)
{
	struct edit e = {who, id, 1, 0};
	return store_write(st, s_edit_fn, &e);
}

int
hooks_test(store_t *st, const hooks_who_t *who, const char *id)
{
	struct edit e = {who, id, 2, 0};
	return store_write(st, s_edit_fn, &e);
}

/* ------------------------------------------------------------ matching */

static void
s_on_commit(void *arg, const node_change_t *changes, size_t n, enum node_origin origin)
{
	struct hooks *h = arg;
	int noted = 0;

	(void)origin;
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < n; i++) {
		if (changes[i].kind != EVT_POST && changes[i].kind != EVT_COMMENT &&
		    changes[i].kind != EVT_SEALED)
			continue;
		if (h->count == RING) {
			h->dropped++;
			continue;
		}
		h->ring[(h->head + h->count++) % RING] = changes[i];
		noted = 1;
	}
	/* With no webhook (most sites), a live event woke the worker for a
	 * pass that matched it against nothing (two read transactions and a
	 * wake-up per event). The changes still wait in the ring: a webhook
	 * enabled meanwhile gets them (hooks_changed wakes the worker). A ring
	 * half full (a catch-up) wakes it all the same. */
	if (noted && h->idle && h->count < RING / 2)
		noted = 0;
	pthread_mutex_unlock(&h->mu);
	if (noted)
		outbox_kick(h->ob);
}

/* Is handle mentioned in event id of timestamp ts (DB_MENTIONS: handle,
 * 0x00, ts(8), id(32), as node/index/mentions.c writes it)? */
static int
s_mentioned(store_txn_t *txn, const char *handle, uint64_t ts, const uint8_t id[CPT_ID_LEN])
{
	uint8_t k[64 + 1 + 8 + CPT_ID_LEN];
	size_t hl = strlen(handle);
	store_val_t v;

	if (hl > 64)
		return 0;
	memcpy(k, handle, hl);
	k[hl] = 0;
	store_put_u64(k + hl + 1, ts);
	memcpy(k + hl + 9, id, CPT_ID_LEN);
	return store_get(txn, DB_MENTIONS, k, hl + 9 + CPT_ID_LEN, &v) == 0;
}

/* Deliveries to put, gathered under a read transaction. */
struct pending {
	json_t *entries; /* [{"lane", "entry"}] */
};

static void
s_add(struct pending *p, const char *hook, const char *event, const char *site, json_t *data,
      const char *data_name)
{
	uint8_t d[16];
	char did[33], *body;
	json_t *b;

	randombytes_buf(d, sizeof(d));
	sodium_bin2hex(did, sizeof(did), d, sizeof(d));
	b = json_pack("{s:s, s:s, s:s, s:s, s:I, s:O}", "event", event, "delivery", did, "hook",
	              hook, "site", site, "created", (json_int_t)hlc_wall_ms(), data_name, data);
	body = b ? json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(b);
	if (body == NULL)
		return;
	json_array_append_new(p->entries, json_pack("{s:s, s:{s:s, s:s, s:s, s:s}}", "lane", hook,
	                                            "entry", "hook", hook, "event", event,
	                                            "delivery", did, "body", body));
	free(body);
}

/* The deliveries one change makes for one webhook rec. */
static void
s_match(store_txn_t *txn, const node_change_t *c, const json_t *rec, struct pending *p)
{
	const char *hook = json_string_value(json_object_get(rec, "id"));
	const char *owner = json_string_value(json_object_get(rec, "owner"));
	const char *space = json_string_value(json_object_get(rec, "space"));
	const char *site = index_spaces_site();
	json_t *evs = json_object_get(rec, "events");
	int want[4] = {0};
	json_t *post = NULL, *comment = NULL;
	const char *psp;

	if (hook == NULL || owner == NULL)
		return;
	for (size_t i = 0; i < json_array_size(evs); i++)
		for (size_t j = 0; j < 4; j++)
			if (strcmp(json_string_value(json_array_get(evs, i)) ?: "", s_events[j]) ==
			    0)
				want[j] = 1;
	/* Only what the owner may read: a post of a private space they are not
	 * a member of does not exist for them (query_post_as). */
	if ((post = query_post_as(txn, c->id, 0, owner, site)) == NULL) {
		const char *ph;
		uint8_t pid[CPT_ID_LEN];
		if ((comment = query_comment(txn, c->id)) == NULL)
			return;
		ph = json_string_value(json_object_get(comment, "post"));
		if (ph == NULL || cpt_unhex32(pid, ph, strlen(ph)) != 0 ||
		    (post = query_post_as(txn, pid, 0, owner, site)) == NULL) {
			json_decref(comment);
			return;
		}
	}
	psp = json_string_value(json_object_get(post, "space"));
	if (space && (psp == NULL || strcmp(psp, space) != 0))
		goto done;
	if (comment == NULL) {
		if (want[0])
			s_add(p, hook, "post", site, post, "post");
		else if (want[2] && s_mentioned(txn, owner, c->ts, c->id))
			s_add(p, hook, "mention", site, post, "post");
	} else {
		const char *pauthor = json_string_value(json_object_get(post, "author"));
		const char *cauthor = json_string_value(json_object_get(comment, "author"));
		json_object_set(comment, "post_view", post);
		if (want[1])
			s_add(p, hook, "comment", site, comment, "comment");
		else if (want[2] && s_mentioned(txn, owner, c->ts, c->id))
			s_add(p, hook, "mention", site, comment, "comment");
		else if (want[3] && pauthor && strcmp(pauthor, owner) == 0 &&
		         (cauthor == NULL || strcmp(cauthor, owner) != 0))
			s_add(p, hook, "reply", site, comment, "comment");
	}
done:
	json_decref(post);
	json_decref(comment);
}

static int
s_enqueue_fn(store_txn_t *txn, void *arg)
{
	struct pending *p = arg;
	uint64_t now = hlc_wall_ms();
	int rc;

	for (size_t i = 0; i < json_array_size(p->entries); i++) {
		json_t *e = json_array_get(p->entries, i);
		if ((rc = outbox_put(txn, "hook", json_string_value(json_object_get(e, "lane")),
		                     json_object_get(e, "entry"), now)) != 0)
			return rc;
	}
	return 0;
}

/* The "hook" channel's tick: the changes noted turned into deliveries. */
static uint64_t
s_tick(void *arg, uint64_t now)
{
	struct hooks *h = arg;
	node_change_t batch[256];
	size_t n = 0;
	uint64_t dropped;
	struct pending p = {json_array()};
	store_txn_t *txn;
	json_t *recs = json_array();
	uint64_t next;

	(void)now;
	for (;;) {
		pthread_mutex_lock(&h->mu);
		n = 0;
		while (n < sizeof(batch) / sizeof(batch[0]) && h->count) {
			batch[n++] = h->ring[h->head];
			h->head = (h->head + 1) % RING;
			h->count--;
		}
		dropped = h->dropped;
		h->dropped = 0;
		pthread_mutex_unlock(&h->mu);
		if (dropped)
			log_warnx("hooks",
			          "%llu new events were not matched against the webhooks: "
			          "too many at once",
			          (unsigned long long)dropped);
		if (n == 0 || p.entries == NULL || recs == NULL)
			break;
		json_array_clear(recs);
		json_array_clear(p.entries);
		if (store_read_begin(h->st, &txn) != 0)
			break;
		{
			store_cur_t *cur;
			store_val_t k, v;
			if (store_cur_open(txn, DB_HOOKS, &cur) == 0) {
				for (int r = store_cur_get(cur, &k, &v, STORE_FIRST); r == 0;
				     r = store_cur_get(cur, &k, &v, STORE_NEXT)) {
					json_t *rec = json_loadb(v.data, v.len, 0, NULL);
					if (rec && json_is_true(json_object_get(rec, "enabled")))
						json_array_append(recs, rec);
					json_decref(rec);
				}
				store_cur_close(&cur);
			}
		}
		/* hooks_changed clears it after a registration changes: a pass
		 * under way sets it from what it read, and the pass that
		 * hooks_changed asks for reads again. */
		pthread_mutex_lock(&h->mu);
		h->idle = json_array_size(recs) == 0;
		pthread_mutex_unlock(&h->mu);
		for (size_t i = 0; i < n; i++) {
			/* One event may be announced twice (seen with a sealed comment
			 * of a private space): it makes one delivery. */
			int seen = 0;
			for (size_t j = 0; j < SEEN && !seen; j++)
				seen = memcmp(h->seen[j], batch[i].id, CPT_ID_LEN) == 0;
			if (seen)
				continue;
			memcpy(h->seen[h->seen_at++ % SEEN], batch[i].id, CPT_ID_LEN);
			for (size_t j = 0; j < json_array_size(recs); j++)
				s_match(txn, &batch[i], json_array_get(recs, j), &p);
		}
		store_read_end(h->st, &txn);
		if (json_array_size(p.entries)) {
			int rc = store_write(h->st, s_enqueue_fn, &p);
			if (rc != 0)
				log_warnx("hooks", "cannot queue %zu webhook deliveries: %s",
				          json_array_size(p.entries), store_strerror(rc));
		}
	}
	json_decref(p.entries);
	json_decref(recs);
	/* Idle: the changes noted without a wake-up are taken each second. */
	pthread_mutex_lock(&h->mu);
	next = h->idle ? now + 1000 : UINT64_MAX;
	pthread_mutex_unlock(&h->mu);
	return next;
}

/* ------------------------------------------------------------ delivery */

struct reply {
	size_t got; /* bytes of the answer read */
};

static size_t
s_discard(char *data, size_t size, size_t nitems, void *arg)
{
	struct reply *r = arg;
	(void)data;
	r->got += size * nitems;
	/* A receiver that answers without end is cut off. */
	return r->got > HOOK_REPLY_MAX ? 0 : size * nitems;
}

/* What a delivery did to its webhook's record: a result ({"id", "event",
 * "delivery", "ping", "ok", "status", "error", "ms"}) applied in the
 * outbox's commit of the pass (s_flush). */
static int
s_result_apply(store_txn_t *txn, const json_t *r, uint32_t max_failures)
{
	const char *id = json_string_value(json_object_get(r, "id"));
	const char *error = json_string_value(json_object_get(r, "error"));
	int ok = json_is_true(json_object_get(r, "ok"));
	uint8_t key[16];
	json_t *rec = s_get(txn, NULL, id, key), *log, *item;
	int rc;

	if (rec == NULL)
		return 0; /* removed meanwhile */
	log = json_object_get(rec, "log");
	if (!json_is_array(log)) {
		log = json_array();
		json_object_set_new(rec, "log", log);
	}
	item = json_pack("{s:O, s:O, s:O, s:b, s:O, s:O, s:O}", "at", json_object_get(r, "at"),
	                 "event", json_object_get(r, "event"), "delivery",
	                 json_object_get(r, "delivery"), "ok", ok, "status",
	                 json_object_get(r, "status"), "error", json_object_get(r, "error"), "ms",
	                 json_object_get(r, "ms"));
	json_array_insert_new(log, 0, item);
	while (json_array_size(log) > HOOK_LOG_MAX)
		json_array_remove(log, HOOK_LOG_MAX);
	if (ok) {
		json_object_set_new(rec, "failures", json_integer(0));
		json_object_set_new(
		    rec, "delivered",
		    json_integer(json_integer_value(json_object_get(rec, "delivered")) + 1));
		json_object_set(rec, "last_delivery", json_object_get(r, "at"));
	} else if (!json_is_true(json_object_get(r, "ping"))) {
		json_int_t f = json_integer_value(json_object_get(rec, "failures")) + 1;
		json_object_set_new(rec, "failures", json_integer(f));
		if (f >= (json_int_t)max_failures &&
		    json_is_true(json_object_get(rec, "enabled"))) {
			char why[400];
			snprintf(why, sizeof(why), "%lld deliveries failed in a row; the last: %s",
			         (long long)f, error ? error : "?");
			json_object_set_new(rec, "enabled", json_false());
			json_object_set_new(rec, "disabled_reason", json_string(why));
			json_object_set_new(rec, "disabled_at",
			                    json_integer((json_int_t)hlc_wall_ms()));
			log_warnx("hooks", "webhook %s disabled after %lld failures in a row", id,
			          (long long)f);
			/* Its waiting deliveries go with it, in this same commit (the
			 * outbox's outcomes were written first). */
			if ((rc = outbox_drop_lane(txn, "hook", id)) != 0) {
				json_decref(rec);
				return rc;
			}
		}
	}
	rc = store_put_json(txn, DB_HOOKS, key, 16, rec);
	json_decref(rec);
	return rc;
}

/* The "hook" channel's flush: the results of the pass, in its commit. */
static int
s_flush(void *arg, store_txn_t *txn)
{
	struct hooks *h = arg;
	int rc;

	for (size_t i = 0; i < json_array_size(h->results); i++)
		if ((rc = s_result_apply(txn, json_array_get(h->results, i), h->c.max_failures)) !=
		    0)
			return rc;
	return 0;
}

static void
s_flushed(void *arg, int ok)
{
	struct hooks *h = arg;

	if (!ok)
		log_warnx("hooks", "cannot record %zu webhook deliveries",
		          json_array_size(h->results));
	json_array_clear(h->results);
}

/* POSTs body to url signed with secret. 0 (a 2xx answer) or -1 with why;
 * *status the HTTP status (0: none). */
static int
s_post(const struct hooks *h, const char *url, const char *secret, const json_t *e,
       const char *body, long *status, char *err, size_t errlen)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct reply rep = {0};
	crypto_auth_hmacsha256_state st;
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	char ts[24], line[300], hex[2 * crypto_auth_hmacsha256_BYTES + 1],
	    ebuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;

	*status = 0;
	if (c == NULL) {
		snprintf(err, errlen, "cannot start libcurl");
		return -1;
	}
	/* The signature covers the timestamp and the body: a receiver refuses
	 * an old delivery replayed. */
	snprintf(ts, sizeof(ts), "%llu", (unsigned long long)(hlc_wall_ms() / 1000));
	crypto_auth_hmacsha256_init(&st, (const uint8_t *)secret, strlen(secret));
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)ts, strlen(ts));
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)".", 1);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)body, strlen(body));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof(st));
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	snprintf(line, sizeof(line), "X-Comptoir-Timestamp: %s", ts);
	hdr = curl_slist_append(hdr, line);
	snprintf(line, sizeof(line), "X-Comptoir-Signature: v1=%s", hex);
	hdr = curl_slist_append(hdr, line);
	snprintf(line, sizeof(line), "X-Comptoir-Event: %.40s",
	         json_string_value(json_object_get(e, "event")) ?: "");
	hdr = curl_slist_append(hdr, line);
	snprintf(line, sizeof(line), "X-Comptoir-Delivery: %.40s",
	         json_string_value(json_object_get(e, "delivery")) ?: "");
	hdr = curl_slist_append(hdr, line);
	hdr = curl_slist_append(hdr, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_USERAGENT, "comptoir-webhooks/1");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_discard);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &rep);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)(h->c.timeout < 5 ? h->c.timeout : 5));
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)h->c.timeout);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (rc == CURLE_WRITE_ERROR && rep.got > HOOK_REPLY_MAX)
		snprintf(err, errlen, "the answer is longer than %d bytes", HOOK_REPLY_MAX);
	else if (rc != CURLE_OK)
		snprintf(err, errlen, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
	else if (*status >= 300 && *status < 400)
		snprintf(err, errlen, "HTTP %ld: redirects are not followed", *status);
	else if (*status < 200 || *status >= 300)
		snprintf(err, errlen, "HTTP %ld", *status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return rc == CURLE_OK && *status >= 200 && *status < 300 ? 0 : -1;
}

static enum outbox_result
s_deliver(void *arg, const json_t *e, char *err, size_t errlen)
{
	struct hooks *h = arg;
	const char *id = json_string_value(json_object_get(e, "hook"));
	const char *body = json_string_value(json_object_get(e, "body"));
	int ping = json_is_true(json_object_get(e, "ping"));
	store_txn_t *txn;
	uint8_t key[16];
	json_t *rec;
	char url[HOOK_URL_MAX + 1], secret[HOOK_SECRET_LEN + 1];
	long status = 0;
	uint64_t t0;
	int rc;

	if (id == NULL || body == NULL)
		return OUTBOX_DROP;
	if (store_read_begin(h->st, &txn) != 0) {
		snprintf(err, errlen, "store unavailable");
		return OUTBOX_RETRY;
	}
	rec = s_get(txn, NULL, id, key);
	store_read_end(h->st, &txn);
	if (rec == NULL)
		return OUTBOX_DROP;
	/* A disabled webhook's deliveries go; a ping is sent anyway. */
	if (!ping && !json_is_true(json_object_get(rec, "enabled"))) {
		json_decref(rec);
		return OUTBOX_DROP;
	}
	snprintf(url, sizeof(url), "%s", json_string_value(json_object_get(rec, "url")) ?: "");
	snprintf(secret, sizeof(secret), "%s",
	         json_string_value(json_object_get(rec, "secret")) ?: "");
	json_decref(rec);
	t0 = hlc_wall_ms();
	rc = s_post(h, url, secret, e, body, &status, err, errlen);
	sodium_memzero(secret, sizeof(secret));
	json_array_append_new(h->results,
	                      json_pack("{s:s, s:O, s:O, s:b, s:b, s:I, s:s?, s:I, s:I}", "id", id,
	                                "event", json_object_get(e, "event"), "delivery",
	                                json_object_get(e, "delivery"), "ping", ping, "ok", rc == 0,
	                                "status", (json_int_t)status, "error", rc == 0 ? NULL : err,
	                                "ms", (json_int_t)(hlc_wall_ms() - t0), "at",
	                                (json_int_t)hlc_wall_ms()));
	if (rc == 0)
		return OUTBOX_SENT;
	log_warnx("hooks", "cannot deliver to webhook %s: %s", id, err);
	/* A ping is tried once: its outcome is in the log. */
	return ping ? OUTBOX_DROP : OUTBOX_RETRY;
}

/* -------------------------------------------------------------- worker */

int
hooks_start(hooks_t **out, node_t *n, char *err, size_t errlen)
{
	struct hooks *h;
	outbox_ops_t ops;

	assert(out != NULL && n != NULL);
	*out = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->n = n;
	h->st = node_store(n);
	h->c = node_cfg(n)->hooks;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		snprintf(err, errlen, "cannot start libcurl");
		free(h);
		return -1;
	}
	pthread_mutex_init(&h->mu, NULL);
	if ((h->results = json_array()) == NULL) {
		snprintf(err, errlen, "out of memory");
		pthread_mutex_destroy(&h->mu);
		curl_global_cleanup();
		free(h);
		return -1;
	}
	memset(&ops, 0, sizeof(ops));
	ops.name = "hook";
	ops.deliver = s_deliver;
	ops.tick = s_tick;
	ops.flush = s_flush;
	ops.flushed = s_flushed;
	ops.arg = h;
	ops.retry_min_s = h->c.retry_min;
	ops.retry_max_s = h->c.retry_max;
	ops.give_up_ms = (uint64_t)h->c.give_up * 1000u;
	ops.poll_ms = 1000;
	if (outbox_start(&h->ob, h->st, &ops, err, errlen) != 0) {
		json_decref(h->results);
		pthread_mutex_destroy(&h->mu);
		curl_global_cleanup();
		free(h);
		return -1;
	}
	if (node_listen(n, s_on_commit, h) != 0) {
		snprintf(err, errlen, "cannot listen to the node's commits");
		outbox_stop(&h->ob);
		json_decref(h->results);
		pthread_mutex_destroy(&h->mu);
		curl_global_cleanup();
		free(h);
		return -1;
	}
	*out = h;
	return 0;
}

void
hooks_changed(hooks_t *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	h->idle = 0; /* until a pass reads the registrations again */
	pthread_mutex_unlock(&h->mu);
	outbox_kick(h->ob);
}

uint64_t
hooks_sent(hooks_t *h)
{
	return h ? outbox_sent(h->ob) : 0;
}

void
hooks_stop(hooks_t **self_p)
{
	struct hooks *h;

	if (self_p == NULL || (h = *self_p) == NULL)
		return;
	node_unlisten(h->n, s_on_commit, h);
	outbox_stop(&h->ob);
	json_decref(h->results);
	pthread_mutex_destroy(&h->mu);
	curl_global_cleanup();
	free(h);
	*self_p = NULL;
}
