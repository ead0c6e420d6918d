/*
 * The calls of notifications, following and announcements: the list and
 * the bell, read marks, mutes and preferences (a person's own state, sealed
 * under their personal key into a kind 17 event: PROTOCOL.md 17), follows
 * (kind 16), the "For you" feed, announcements (kind 18) and their read
 * receipts (kind 19). Each change is a signed event through the single
 * ingest path, checked before it is signed.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "node/http/http_internal.h"

/* The federation's id, which a personal box is bound to. */
static const uint8_t *
s_fed(http_t *h)
{
	return node_ingest_ctx(h->node)->fed;
}

long
api_notify_unread(http_t *h, store_txn_t *txn, const sess_info_t *who)
{
	json_t *mine = index_mine_state(txn, s_fed(h), who->key);
	long n = mine ? query_unread(txn, mine, who->handle) : -1;

	json_decref(mine);
	return n;
}

long
api_notify_unread_with(http_t *h, store_txn_t *txn, const sess_info_t *who, json_t **mine)
{
	if (*mine == NULL)
		*mine = index_mine_state(txn, s_fed(h), who->key);
	return *mine ? query_unread(txn, *mine, who->handle) : -1;
}

/* The person's own state, or replies 500 and NULL. */
static json_t *
s_mine(http_req_t *r, store_txn_t *txn)
{
	json_t *mine = index_mine_state(txn, s_fed(r->h), r->sess.key);

	if (mine == NULL)
		http_error(r, 500, NULL, "the notification state cannot be read");
	return mine;
}

/* Seals plain under the session's personal key and publishes it as kind
 * 17. 1 when stored, or replies and 0. plain is borrowed. */
static int
s_publish_mine(http_req_t *r, const json_t *plain)
{
	uint8_t k[INDEX_MINE_KEY_LEN];
	store_txn_t *txn;
	ingest_res_t res;
	json_t *body;
	int rc, ok;

	if (!http_read_begin(r, &txn))
		return 0;
	rc = index_mine_key_get(txn, r->sess.key, k);
	store_read_end(r->h->st, &txn);
	if (rc != 0) {
		/* Kept at login: a session opened before this node knew of it. */
		http_fail(r, 409, "relogin", NULL, NULL,
		          "this node does not hold your personal key: log in again");
		return 0;
	}
	body = index_mine_seal(k, s_fed(r->h), r->sess.key, plain);
	sodium_memzero(k, sizeof(k));
	if (body == NULL) {
		http_error(r, 500, NULL, "out of memory");
		return 0;
	}
	ok = http_publish(r, EVT_MINE, body, &res);
	json_decref(body);
	return ok;
}

/* A group id from a hex string; 1, or replies 400 and 0. */
static int
s_group_id(http_req_t *r, const json_t *v, const char *field, uint8_t id[CPT_ID_LEN])
{
	const char *s = json_string_value(v);

	if (s == NULL || http_parse_id(id, s, strlen(s)) != 0) {
		http_fail(r, 400, "wrong_type", field, NULL,
		          "\"%s\" must be 64 lowercase hex digits", field);
		return 0;
	}
	return 1;
}

/* The bell's count now, as a reply. */
static int
s_reply_unread(http_req_t *r, unsigned status)
{
	store_txn_t *txn;
	long n;

	if (!http_read_begin(r, &txn))
		return 0;
	n = api_notify_unread(r->h, txn, &r->sess);
	store_read_end(r->h->st, &txn);
	if (n < 0)
		return http_error(r, 500, NULL, "the notifications cannot be read");
	return http_reply(r, status, json_pack("{s:I}", "unread", (json_int_t)n));
}

int
api_notifications(http_req_t *r)
{
	uint8_t cur[40];
	int has;
	long limit, unread;
	store_txn_t *txn;
	json_t *mine, *out;
	query_notify_opts_t o = {0};

	if (!http_need_session(r))
		return 0;
	if ((limit = http_query_int(r, "limit", 20, 1, 100)) < 0)
		return http_error(r, 400, "limit", "\"limit\" must be a number from 1 to 100");
	if ((unread = http_query_int(r, "unread", 0, 0, 1)) < 0)
		return http_error(r, 400, "unread", "\"unread\" must be 0 or 1");
	if (!http_query_cursor(r, cur, &has) || !http_read_begin(r, &txn))
		return 0;
	o.before = has ? cur : NULL;
	o.limit = (size_t)limit;
	o.unread_only = (int)unread;
	if ((mine = s_mine(r, txn)) == NULL) {
		store_read_end(r->h->st, &txn);
		return 0;
	}
	out = query_notifications(txn, mine, r->sess.handle, &o);
	store_read_end(r->h->st, &txn);
	json_decref(mine);
	if (out == NULL)
		return http_error(r, 500, NULL, "the notifications cannot be read");
	return http_reply(r, 200, out);
}

int
api_notifications_count(http_req_t *r)
{
	if (!http_need_session(r))
		return 0;
	return s_reply_unread(r, 200);
}

/* Most groups one "mark all read" covers (what one event holds). */
#define MARK_ALL_MAX 500

int
api_notifications_read(http_req_t *r)
{
	json_t *body, *groups, *g, *read, *plain;
	store_txn_t *txn;
	size_t i;
	int ok;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	groups = json_object_get(body, "groups");
	read = json_object();
	if (read == NULL) {
		json_decref(body);
		return http_error(r, 500, NULL, "out of memory");
	}
	if (json_is_true(json_object_get(body, "all"))) {
		/* Every unread group as it is now: a read mark per group, never a
		 * date, so that what arrives later from a site cut off is not
		 * taken for read (PROTOCOL.md 17.3). */
		query_notify_opts_t o = {.limit = MARK_ALL_MAX, .unread_only = 1};
		json_t *mine, *list;
		if (!http_read_begin(r, &txn)) {
			json_decref(read);
			json_decref(body);
			return 0;
		}
		mine = s_mine(r, txn);
		list = mine ? query_notifications(txn, mine, r->sess.handle, &o) : NULL;
		store_read_end(r->h->st, &txn);
		json_decref(mine);
		if (list == NULL) {
			json_decref(read);
			json_decref(body);
			return mine ? http_error(r, 500, NULL, "the notifications cannot be read")
			            : 0;
		}
		json_array_foreach (json_object_get(list, "items"), i, g) {
			uint64_t l, c;
			if (query_parse_mark(json_string_value(json_object_get(g, "mark")), &l,
			                     &c) == 0)
				json_object_set_new(
				    read, json_string_value(json_object_get(g, "group")),
				    json_pack("[I, I]", (json_int_t)l, (json_int_t)c));
		}
		json_decref(list);
	} else if (json_is_array(groups) && json_array_size(groups) > 0 &&
	           json_array_size(groups) <= MARK_ALL_MAX) {
		json_array_foreach (groups, i, g) {
			uint8_t id[CPT_ID_LEN];
			uint64_t l, c;
			if (!s_group_id(r, json_object_get(g, "group"), "group", id)) {
				json_decref(read);
				json_decref(body);
				return 0;
			}
			if (query_parse_mark(json_string_value(json_object_get(g, "mark")), &l,
			                     &c) != 0) {
				json_decref(read);
				json_decref(body);
				return http_fail(
				    r, 400, "wrong_type", "mark", NULL,
				    "\"mark\" must be the text the list gave, \"latest:n\"");
			}
			json_object_set_new(read, json_string_value(json_object_get(g, "group")),
			                    json_pack("[I, I]", (json_int_t)l, (json_int_t)c));
		}
	} else {
		json_decref(read);
		json_decref(body);
		return http_fail(r, 400, "bad_request", "groups", NULL,
		                 "send {\"all\": true} or {\"groups\": [{\"group\", \"mark\"}]} "
		                 "(1 to %d groups)",
		                 MARK_ALL_MAX);
	}
	json_decref(body);
	if (json_object_size(read) == 0) {
		json_decref(read);
		return s_reply_unread(r, 200); /* nothing unread: nothing to sign */
	}
	plain = json_pack("{s:o}", "read", read);
	ok = plain && s_publish_mine(r, plain);
	json_decref(plain);
	if (!ok)
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	return s_reply_unread(r, 200);
}

int
api_notifications_mute(http_req_t *r)
{
	json_t *body, *muted, *plain;
	uint8_t id[CPT_ID_LEN];
	int ok;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	muted = json_object_get(body, "muted");
	if (!s_group_id(r, json_object_get(body, "group"), "group", id)) {
		json_decref(body);
		return 0;
	}
	if (!json_is_boolean(muted)) {
		json_decref(body);
		return http_fail(r, 400, "wrong_type", "muted", NULL,
		                 "\"muted\" must be true or false");
	}
	plain = json_pack("{s:{s:O}}", "mute", json_string_value(json_object_get(body, "group")),
	                  muted);
	json_decref(body);
	ok = plain && s_publish_mine(r, plain);
	json_decref(plain);
	if (!ok)
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	return s_reply_unread(r, 200);
}

int
api_prefs_get(http_req_t *r)
{
	store_txn_t *txn;
	json_t *mine, *out;

	if (!http_need_session(r) || !http_read_begin(r, &txn))
		return 0;
	mine = s_mine(r, txn);
	store_read_end(r->h->st, &txn);
	if (mine == NULL)
		return 0;
	out = query_prefs(mine);
	if (out)
		json_object_set(out, "known", json_object_get(mine, "known"));
	json_decref(mine);
	return out ? http_reply(r, 200, out) : http_error(r, 500, NULL, "out of memory");
}

int
api_prefs_put(http_req_t *r)
{
	json_t *body, *v, *plain, *mine, *out;
	const char *name;
	char why[200];
	store_txn_t *txn;
	int ok;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	if (json_object_size(body) == 0 || json_object_size(body) > 64) {
		json_decref(body);
		return http_fail(r, 400, "bad_request", NULL, NULL,
		                 "send 1 to 64 preferences, {\"name\": value}");
	}
	json_object_foreach (body, name, v) {
		if (query_pref_check(name, v, why, sizeof(why)) != 0) {
			http_fail(r, 400, "bad_value", name, NULL, "%s", why);
			json_decref(body); /* after: the reply names a key of it */
			return 0;
		}
	}
	plain = json_pack("{s:O}", "prefs", body);
	json_decref(body);
	ok = plain && s_publish_mine(r, plain);
	json_decref(plain);
	if (!ok)
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	if (!http_read_begin(r, &txn))
		return 0;
	mine = s_mine(r, txn);
	store_read_end(r->h->st, &txn);
	if (mine == NULL)
		return 0;
	out = query_prefs(mine);
	json_decref(mine);
	return out ? http_reply(r, 200, out) : http_error(r, 500, NULL, "out of memory");
}

/* ---------------------------------------------------------- following */

int
api_follows_get(http_req_t *r)
{
	store_txn_t *txn;
	json_t *f;

	if (!http_need_session(r) || !http_read_begin(r, &txn))
		return 0;
	f = query_follows(txn, r->sess.key);
	store_read_end(r->h->st, &txn);
	return f ? http_reply(r, 200, f) : http_error(r, 500, NULL, "the follows cannot be read");
}

int
api_follows_set(http_req_t *r)
{
	json_t *body, *ev, *f;
	const char *what, *target;
	uint8_t key[CPT_KEY_LEN];
	store_txn_t *txn;
	ingest_res_t res;
	int ok, known;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	what = json_string_value(json_object_get(body, "what"));
	target = json_string_value(json_object_get(body, "target"));
	if (what == NULL || (strcmp(what, "person") != 0 && strcmp(what, "space") != 0)) {
		json_decref(body);
		return http_fail(r, 400, "bad_value", "what", NULL,
		                 "\"what\" must be \"person\" or \"space\"");
	}
	if (!json_is_boolean(json_object_get(body, "on"))) {
		json_decref(body);
		return http_fail(r, 400, "wrong_type", "on", NULL, "\"on\" must be true or false");
	}
	if (strcmp(what, "person") == 0) {
		if (target == NULL || !event_valid_handle(target)) {
			json_decref(body);
			return http_fail(r, 400, "bad_value", "target", NULL,
			                 "\"target\" must be a handle");
		}
		if (!http_read_begin(r, &txn)) {
			json_decref(body);
			return 0;
		}
		known = index_key_of(txn, target, key) == 0;
		store_read_end(r->h->st, &txn);
		if (!known) {
			http_fail(r, 404, "no_person", "target", NULL, "no such person: %s",
			          target);
			json_decref(body); /* after: the message names its target */
			return 0;
		}
		if (strcmp(target, r->sess.handle) == 0) {
			json_decref(body);
			return http_fail(r, 400, "bad_value", "target", NULL,
			                 "one does not follow oneself");
		}
	} else if (target == NULL || http_parse_id(key, target, strlen(target)) != 0) {
		json_decref(body);
		return http_fail(r, 400, "bad_value", "target", NULL,
		                 "\"target\" must be a space id, 64 lowercase hex digits");
	}
	ev = json_pack("{s:s, s:s, s:O}", "what", what, "target", target, "on",
	               json_object_get(body, "on"));
	json_decref(body);
	ok = ev && http_publish(r, EVT_FOLLOW, ev, &res);
	json_decref(ev);
	if (!ok)
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	if (!http_read_begin(r, &txn))
		return 0;
	f = query_follows(txn, r->sess.key);
	store_read_end(r->h->st, &txn);
	return f ? http_reply(r, 200, f) : http_error(r, 500, NULL, "the follows cannot be read");
}

/* ------------------------------------------------ feeds: For you, pinned */

json_t *
api_feed_pinned(http_req_t *r, store_txn_t *txn)
{
	json_t *p = query_announcements(txn, r->sess.key, hlc_wall_ms(), 1);

	return p ? p : json_array();
}

int
api_feed_foryou(http_req_t *r, const uint8_t *before40, size_t limit)
{
	char next[81];
	store_txn_t *txn;
	json_t *items, *pinned = NULL;

	if (!http_read_begin(r, &txn))
		return 0;
	items = query_foryou(txn, r->sess.key, before40, limit, next);
	if (before40 == NULL)
		pinned = api_feed_pinned(r, txn);
	store_read_end(r->h->st, &txn);
	if (items == NULL) {
		json_decref(pinned);
		return http_error(r, 500, NULL, "the feed cannot be read");
	}
	return http_reply(r, 200,
	                  json_pack("{s:o, s:o, s:o}", "items", items, "next",
	                            next[0] ? json_string(next) : json_null(), "pinned",
	                            pinned ? pinned : json_array()));
}

/* ------------------------------------------------------ announcements */

int
api_announce(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	json_t *body, *until, *ev, *p;
	const char *scope;
	char hex[CPT_HEX_ID];
	store_txn_t *txn;
	ingest_res_t res;
	int may, ok;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	scope = json_string_value(json_object_get(body, "scope"));
	until = json_object_get(body, "until");
	if (scope == NULL || (strcmp(scope, "site") != 0 && strcmp(scope, "all") != 0)) {
		json_decref(body);
		return http_fail(r, 400, "bad_value", "scope", NULL,
		                 "\"scope\" must be \"site\" or \"all\"");
	}
	if (until == NULL)
		until = json_integer(0);
	else
		json_incref(until);
	if (!json_is_integer(until) || json_integer_value(until) < 0) {
		json_decref(until);
		json_decref(body);
		return http_fail(r, 400, "wrong_type", "until", NULL,
		                 "\"until\" must be a time in ms, or 0: until read");
	}
	if (!http_read_begin(r, &txn)) {
		json_decref(until);
		json_decref(body);
		return 0;
	}
	p = query_post(txn, id, 0);
	may = query_may_announce(txn, r->sess.key, scope);
	store_read_end(r->h->st, &txn);
	if (p == NULL || !may) {
		/* The reply first: scope is borrowed from the body. */
		if (p == NULL)
			http_fail(r, 404, "no_post", NULL, NULL, "no such post");
		else
			http_fail(r, 403, "not_admin", "scope", NULL,
			          strcmp(scope, "all") == 0
			              ? "only admins of the founding site announce to everyone"
			              : "only site admins make announcements");
		json_decref(p);
		json_decref(until);
		json_decref(body);
		return 0;
	}
	json_decref(p);
	cpt_hex32(hex, id);
	ev = json_pack("{s:s, s:s, s:o}", "post", hex, "scope", scope, "until", until);
	json_decref(body);
	ok = ev && http_publish(r, EVT_ANNOUNCE, ev, &res);
	json_decref(ev);
	if (!ok)
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	return api_announcements(r);
}

int
api_announce_ack(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	char hex[CPT_HEX_ID];
	json_t *ev, *list, *a;
	store_txn_t *txn;
	ingest_res_t res;
	size_t i;
	int found = 0, read = 0, ok;

	if (!http_need_csrf(r) || !http_read_begin(r, &txn))
		return 0;
	list = query_announcements(txn, r->sess.key, hlc_wall_ms(), 0);
	store_read_end(r->h->st, &txn);
	if (list == NULL)
		return http_error(r, 500, NULL, "the announcements cannot be read");
	cpt_hex32(hex, id);
	json_array_foreach (list, i, a) {
		if (strcmp(json_string_value(json_object_get(a, "id")) ?: "", hex) == 0) {
			found = 1;
			read = json_is_true(
			    json_object_get(json_object_get(a, "announcement"), "read"));
		}
	}
	json_decref(list);
	if (!found)
		return http_fail(r, 404, "no_announcement", NULL, NULL,
		                 "no such announcement for you");
	if (!read) { /* once is enough: the author counts people, not clicks */
		ev = json_pack("{s:s}", "post", hex);
		ok = ev && http_publish(r, EVT_ACK, ev, &res);
		json_decref(ev);
		if (!ok)
			return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	}
	return api_announcements(r);
}

int
api_announcements(http_req_t *r)
{
	store_txn_t *txn;
	json_t *list;

	if (!http_need_session(r) || !http_read_begin(r, &txn))
		return 0;
	list = query_announcements(txn, r->sess.key, hlc_wall_ms(), 0);
	store_read_end(r->h->st, &txn);
	if (list == NULL)
		return http_error(r, 500, NULL, "the announcements cannot be read");
	return http_reply(r, 200, json_pack("{s:o}", "items", list));
}
