/*
 * Digests: for each person of this site, their unread notifications since
 * their previous digest, written in their language as one plain-text mail
 * into the durable outbox (DB_OUTBOX), in the same transaction that records
 * when it went (DB_MAIL): a digest is queued once, and only once, even when
 * the CLI and the daemon compose at the same time.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "node/index/index.h"
#include "node/mail/mail_internal.h"
#include "node/outbox/outbox.h"
#include "node/query/query.h"

#define DIGEST_MAX 50 /* groups one mail lists */

/* ------------------------------------------------------------ language */

enum { L_EN, L_FR };

static const char *const s_text[][2] = {
#define T_SUBJECT_1 0
    {"Comptoir: 1 new notification", "Comptoir : 1 nouvelle notification"},
#define T_SUBJECT_N 1
    {"Comptoir: %zu new notifications", "Comptoir : %zu nouvelles notifications"},
#define T_HELLO 2
    {"Hello %s,\n\nHere is what happened on Comptoir since %s (UTC):\n\n",
     "Bonjour %s,\n\nVoici ce qui s'est passé sur Comptoir depuis le %s (UTC) :\n\n"},
#define T_MENTION 3
    {"%s mentioned you", "%s vous a mentionné"},
#define T_COMMENT 4
    {"%s commented on your post", "%s a commenté votre publication"},
#define T_REPLY 5
    {"%s replied after you", "%s a répondu après vous"},
#define T_REACTION 6
    {"%s reacted to your post", "%s a réagi à votre publication"},
#define T_SPACE_POST 7
    {"%s posted in a space you follow", "%s a publié dans un espace que vous suivez"},
#define T_OTHERS_1 8
    {"%s and 1 other", "%s et 1 autre"},
#define T_OTHERS_N 9
    {"%s and %lld others", "%s et %lld autres"},
#define T_FOOTER 10
    {"\n-- \nThis digest comes from your site's Comptoir. To change how often you get it, or "
     "to stop it: %s/#/settings\n",
     "\n-- \nCe résumé vient du Comptoir de votre site. Pour en changer la fréquence, ou "
     "l'arrêter : %s/#/settings\n"},
#define T_POST_GONE 11
    {"(a post you can no longer see)", "(une publication que vous ne voyez plus)"},
#define T_SPACE_REQUEST 12
    {"%s asks to join a space you run", "%s demande à rejoindre un espace que vous animez"},
#define T_SPACE_INVITE 13
    {"%s invited you to a space", "%s vous a invité dans un espace"},
#define T_SPACE_LINK 14
    {"(a space)", "(un espace)"},
/* The same with several people ("Erin et 1 autre ont répondu"): the
 * French verb agrees, and so does "ask" in English. */
#define T_MENTION_N 15
    {"%s mentioned you", "%s vous ont mentionné"},
#define T_COMMENT_N 16
    {"%s commented on your post", "%s ont commenté votre publication"},
#define T_REPLY_N 17
    {"%s replied after you", "%s ont répondu après vous"},
#define T_REACTION_N 18
    {"%s reacted to your post", "%s ont réagi à votre publication"},
#define T_SPACE_POST_N 19
    {"%s posted in a space you follow", "%s ont publié dans un espace que vous suivez"},
#define T_SPACE_REQUEST_N 20
    {"%s ask to join a space you run", "%s demandent à rejoindre un espace que vous animez"},
#define T_SPACE_INVITE_N 21
    {"%s invited you to a space", "%s vous ont invité dans un espace"},
};

static const struct {
	const char *type;
	int text;   /* one person did it */
	int text_n; /* several did */
} s_types[] = {
    {"mention", T_MENTION, T_MENTION_N},
    {"comment", T_COMMENT, T_COMMENT_N},
    {"reply", T_REPLY, T_REPLY_N},
    {"reaction", T_REACTION, T_REACTION_N},
    {"space_post", T_SPACE_POST, T_SPACE_POST_N},
    {"space_request", T_SPACE_REQUEST, T_SPACE_REQUEST_N},
    {"space_invite", T_SPACE_INVITE, T_SPACE_INVITE_N},
};

/* ------------------------------------------------------------- buffers */

typedef struct buf {
	char *p;    /* text, NUL-terminated */
	size_t len; /* bytes */
	size_t cap; /* allocated */
	int oom;    /* an allocation failed */
} buf_t;

static void s_add(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
s_add(buf_t *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t nc = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
		char *np = realloc(b->p, nc);
		if (np == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
}

/* ---------------------------------------------------------- the message */

/* "2026-12-06 14:05" of ms, UTC. */
static void
s_when(char out[32], uint64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(out, 32, "%Y-%m-%d %H:%M", &tm);
}

/* The name people know handle by (their profile's name), else the handle. */
static void
s_name(store_txn_t *txn, const char *handle, char *out, size_t cap)
{
	json_t *p = query_person(txn, handle);
	const char *name =
	    json_string_value(json_object_get(json_object_get(p, "profile"), "name"));

	snprintf(out, cap, "%s", name && *name ? name : handle);
	json_decref(p);
}

/* Appends base64 of in, in lines of 76. */
static void
s_b64_lines(buf_t *b, const char *in, size_t len)
{
	size_t cap = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
	char *enc = malloc(cap);

	if (enc == NULL) {
		b->oom = 1;
		return;
	}
	sodium_bin2base64(enc, cap, (const unsigned char *)in, len, sodium_base64_VARIANT_ORIGINAL);
	for (size_t at = 0, n = strlen(enc); at < n; at += 76)
		s_add(b, "%.*s\r\n", (int)(n - at < 76 ? n - at : 76), enc + at);
	free(enc);
}

/* The text of one group: who did what, on which post, and the link. */
static void
s_group_text(buf_t *b, store_txn_t *txn, const json_t *g, int lang, const char *base)
{
	const json_t *types = json_object_get(g, "types"), *post = json_object_get(g, "post");
	char when[32];

	s_when(when, (uint64_t)json_integer_value(json_object_get(g, "at")));
	s_add(b, "* [%s] ", when);
	for (size_t i = 0, first = 1; i < sizeof(s_types) / sizeof(s_types[0]); i++) {
		const json_t *t = json_object_get(types, s_types[i].type);
		char name[256], who[320];
		json_int_t actors;
		if (t == NULL)
			continue;
		s_name(txn, json_string_value(json_array_get(json_object_get(t, "by"), 0)) ?: "?",
		       name, sizeof(name));
		actors = json_integer_value(json_object_get(t, "actors"));
		if (actors <= 1)
			snprintf(who, sizeof(who), "%s", name);
		else if (actors == 2)
			snprintf(who, sizeof(who), s_text[T_OTHERS_1][lang], name);
		else
			snprintf(who, sizeof(who), s_text[T_OTHERS_N][lang], name,
			         (long long)(actors - 1));
		if (!first)
			s_add(b, "; ");
		s_add(b, s_text[actors > 1 ? s_types[i].text_n : s_types[i].text][lang], who);
		first = 0;
	}
	if (json_is_object(post)) {
		s_add(b, "\n  \"%s\"\n  %s/#/post/%s\n\n",
		      json_string_value(json_object_get(post, "text")), base,
		      json_string_value(json_object_get(post, "id")));
	} else if (json_object_get(types, "space_request") ||
	           json_object_get(types, "space_invite")) {
		s_add(b, "\n  %s %s/#/space/%s\n\n", s_text[T_SPACE_LINK][lang], base,
		      json_string_value(json_object_get(g, "group")));
	} else {
		s_add(b, "\n  %s\n\n", s_text[T_POST_GONE][lang]);
	}
}

/* Encodes a header value as RFC 2047 when it is not plain ASCII. */
static void
s_header(buf_t *b, const char *name, const char *value)
{
	int ascii = 1;

	for (const char *p = value; *p; p++)
		ascii &= (unsigned char)*p < 0x80 && *p != '\r' && *p != '\n';
	if (ascii) {
		s_add(b, "%s: %s\r\n", name, value);
		return;
	}
	size_t cap = sodium_base64_encoded_len(strlen(value), sodium_base64_VARIANT_ORIGINAL);
	char *enc = malloc(cap);
	if (enc == NULL) {
		b->oom = 1;
		return;
	}
	sodium_bin2base64(enc, cap, (const unsigned char *)value, strlen(value),
	                  sodium_base64_VARIANT_ORIGINAL);
	s_add(b, "%s: =?UTF-8?B?%s?=\r\n", name, enc);
	free(enc);
}

/* The headers every mail of Comptoir has, each line ending in CRLF. */
static void
s_headers(buf_t *b, const char *from, const char *to, const char *subject, uint64_t now_ms)
{
	char date[64], id[33];
	uint8_t rnd[16];
	time_t s = (time_t)(now_ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(id, sizeof(id), rnd, sizeof(rnd));
	s_add(b, "Date: %s\r\nFrom: Comptoir <%s>\r\nTo: <%s>\r\n", date, from, to);
	s_header(b, "Subject", subject);
	s_add(b, "Message-ID: <%s@comptoir>\r\nAuto-Submitted: auto-generated\r\n", id);
}

char *
mail_message(const char *from, const char *to, const char *subject, const char *text,
             uint64_t now_ms)
{
	buf_t b = {0};

	s_headers(&b, from, to, subject, now_ms);
	s_add(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
	          "Content-Transfer-Encoding: base64\r\n\r\n");
	s_b64_lines(&b, text, strlen(text));
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

json_t *
mail_mime(const char *from, const char *to, const char *subject, const char *text,
          const mail_attachment_t *att, size_t natt, uint64_t now_ms)
{
	buf_t b = {0};
	json_t *out = json_object(), *heads = json_array(), *atts = json_array();
	int bad = out == NULL || heads == NULL || atts == NULL;

	s_headers(&b, from, to, subject, now_ms);
	/* libcurl takes the headers one by one, without their CRLF. */
	for (char *line = b.p, *end; !b.oom && !bad && line && *line; line = end + 2) {
		if ((end = strstr(line, "\r\n")) == NULL)
			break;
		bad |= json_array_append_new(heads, json_stringn(line, (size_t)(end - line))) != 0;
	}
	for (size_t i = 0; i < natt && !bad; i++) {
		size_t cap = sodium_base64_encoded_len(att[i].len, sodium_base64_VARIANT_ORIGINAL);
		char *enc = malloc(cap);
		json_t *a;
		if (enc == NULL) {
			bad = 1;
			break;
		}
		sodium_bin2base64(enc, cap, att[i].data, att[i].len,
		                  sodium_base64_VARIANT_ORIGINAL);
		a = json_pack("{s:s, s:s, s:s}", "name", att[i].name, "type", att[i].type, "data",
		              enc);
		free(enc);
		bad |= a == NULL || json_array_append_new(atts, a) != 0;
	}
	bad |= b.oom || json_object_set_new(out, "headers", heads) != 0;
	heads = NULL;
	bad |= json_object_set_new(out, "text", json_string(text)) != 0;
	bad |= json_object_set_new(out, "attachments", atts) != 0;
	atts = NULL;
	free(b.p);
	if (bad) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* ------------------------------------------------------------ schedule */

/* The start of the slot of period that contains now (ms, UTC): today's (or
 * yesterday's) daily hour, this week's weekly day and hour. */
static uint64_t
s_slot(const cfg_mail_t *c, const char *period, uint64_t now_ms)
{
	const uint64_t day = 86400000ull;
	uint64_t today = now_ms / day * day, at = today + (uint64_t)c->daily_hour * 3600000ull;

	if (strcmp(period, "daily") == 0)
		return at <= now_ms ? at : at - day;
	/* 1970-01-01 was a Thursday (ISO day 4). */
	unsigned wday = (unsigned)((now_ms / day + 3) % 7) + 1; /* 1 Monday .. 7 Sunday */
	uint64_t back = (wday + 7 - c->weekly_day) % 7;
	at -= back * day;
	return at <= now_ms ? at : at - 7 * day;
}

/* ---------------------------------------------------------- composing */

/* One mail queued with its record, in one write transaction. */
struct queue_one {
	const char *handle; /* who */
	const char *period; /* which digest */
	uint64_t was;       /* DB_MAIL's value of period when composed (0: none) */
	uint64_t now;       /* when */
	char *message;      /* the RFC 5322 message (NULL: nothing to send, record only) */
	const char *to;     /* the address */
	int queued;         /* out: it was */
};

static int
s_queue_fn(store_txn_t *txn, void *arg)
{
	struct queue_one *q = arg;
	json_t *rec = store_get_json(txn, DB_MAIL, q->handle, strlen(q->handle));
	int rc;

	if (rec == NULL)
		rec = json_object();
	if (rec == NULL)
		return CPT_ENOMEM;
	/* Another composer got there first: nothing twice. */
	if ((uint64_t)json_integer_value(json_object_get(rec, q->period)) != q->was) {
		json_decref(rec);
		return STORE_NOCHANGE;
	}
	json_object_set_new(rec, q->period, json_integer((json_int_t)q->now));
	rc = store_put_json(txn, DB_MAIL, q->handle, strlen(q->handle), rec);
	json_decref(rec);
	if (rc == 0 && q->message) {
		json_t *e = json_pack("{s:s, s:s, s:s}", "to", q->to, "handle", q->handle,
		                      "message", q->message);
		rc = e ? outbox_put(txn, "mail", NULL, e, q->now) : CPT_ENOMEM;
		json_decref(e);
		q->queued = rc == 0;
	}
	return rc;
}

int
mail_people(store_t *st, const char *site, mail_person_t **out, size_t *n)
{
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = store_read_begin(st, &txn)) != 0)
		return rc;
	if ((rc = store_cur_open(txn, DB_MINE_KEYS, &cur)) != 0) {
		store_read_end(st, &txn);
		return rc;
	}
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		json_t *r;
		const char *s;
		int ok;
		if (k.len != CPT_KEY_LEN)
			continue;
		r = index_key_info(txn, k.data);
		s = json_string_value(json_object_get(r, "site"));
		ok = s && strcmp(s, site) == 0 && index_revoked_at(txn, k.data) == UINT64_MAX;
		json_decref(r);
		if (!ok)
			continue;
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			mail_person_t *np = realloc(*out, nc * sizeof(*np));
			if (np == NULL) {
				rc = CPT_ENOMEM;
				break;
			}
			*out = np;
			cap = nc;
		}
		memcpy((*out)[*n].key, k.data, CPT_KEY_LEN);
		if (index_handle_of(txn, k.data, (*out)[*n].handle) == 0)
			(*n)++;
	}
	store_cur_close(&cur);
	store_read_end(st, &txn);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

/* Composes person's digest of period, or decides there is none. */
static int
s_compose(node_t *n, const mail_person_t *p, const char *period, uint64_t now, uint64_t slot,
          int force, size_t *queued)
{
	const cfg_mail_t *c = &node_cfg(n)->mail;
	store_t *st = node_store(n);
	store_txn_t *txn;
	json_t *mine = NULL, *prefs = NULL, *list = NULL, *rec = NULL;
	struct queue_one q = {p->handle, period, 0, now, NULL, NULL, 0};
	const char *want, *email, *lang_s;
	char to[256], subject[128], when[32], name[256];
	uint64_t since;
	int rc = 0, lang;
	buf_t b = {0};

	if ((rc = store_read_begin(st, &txn)) != 0)
		return rc;
	mine = index_mine_state(txn, node_ingest_ctx(n)->fed, p->key);
	prefs = mine ? query_prefs(mine) : NULL;
	rec = store_get_json(txn, DB_MAIL, p->handle, strlen(p->handle));
	want = json_string_value(json_object_get(prefs, "digest"));
	email = json_string_value(json_object_get(prefs, "email"));
	if (email == NULL || *email == 0)
		email = json_string_value(json_object_get(rec, "email"));
	q.was = (uint64_t)json_integer_value(json_object_get(rec, period));
	if (prefs == NULL) {
		rc = CPT_ENOMEM;
		goto out;
	}
	/* Not this person's choice, no address, or already sent in this slot. */
	if (want == NULL || strcmp(want, period) != 0 || email == NULL || *email == 0 ||
	    (!force && q.was >= slot))
		goto out;
	snprintf(to, sizeof(to), "%s", email);
	q.to = to;
	lang_s = json_string_value(json_object_get(prefs, "lang"));
	lang = lang_s && strcmp(lang_s, "fr") == 0 ? L_FR : L_EN;
	/* What is new since the previous digest, or over the period before. */
	since = q.was ? q.was
	              : now - (strcmp(period, "weekly") == 0  ? 7 * 86400000ull
	                       : strcmp(period, "daily") == 0 ? 86400000ull
	                                                      : 3600000ull);
	{
		query_notify_opts_t o = {
		    .limit = DIGEST_MAX, .since = HLC_MAKE(since, 0), .unread_only = 1, .mail = 1};
		list = query_notifications(txn, mine, p->handle, &o);
	}
	if (list == NULL) {
		rc = CPT_ENOMEM;
		goto out;
	}
	if (json_array_size(json_object_get(list, "items")) > 0) {
		size_t i, count = json_array_size(json_object_get(list, "items"));
		json_t *g;
		s_name(txn, p->handle, name, sizeof(name));
		s_when(when, since);
		s_add(&b, s_text[T_HELLO][lang], name, when);
		json_array_foreach (json_object_get(list, "items"), i, g)
			s_group_text(&b, txn, g, lang, c->base_url);
		s_add(&b, s_text[T_FOOTER][lang], c->base_url);
		if (count == 1)
			snprintf(subject, sizeof(subject), "%s", s_text[T_SUBJECT_1][lang]);
		else
			snprintf(subject, sizeof(subject), s_text[T_SUBJECT_N][lang], count);
	}
out:
	store_read_end(st, &txn);
	json_decref(mine);
	json_decref(prefs);
	json_decref(list);
	json_decref(rec);
	if (rc != 0 || q.to == NULL || b.oom) {
		free(b.p);
		return rc ? rc : b.oom ? CPT_ENOMEM : 0;
	}
	if (b.p) {
		q.message = mail_message(c->from, to, subject, b.p, now);
		free(b.p);
		if (q.message == NULL)
			return CPT_ENOMEM;
	}
	/* Nothing new: the record moves on all the same (the next digest
	 * covers from now). */
	rc = store_write(st, s_queue_fn, &q);
	free(q.message);
	if (rc == STORE_NOCHANGE)
		rc = 0;
	if (rc == 0 && q.queued)
		(*queued)++;
	return rc;
}

int
mail_digest_run(node_t *n, const char *period, uint64_t now_ms, int force, size_t *queued)
{
	const cfg_t *cfg = node_cfg(n);
	mail_person_t *people;
	size_t count;
	uint64_t slot;
	int rc;

	assert(n != NULL && period != NULL && queued != NULL);
	*queued = 0;
	if (strcmp(period, "immediate") != 0 && strcmp(period, "daily") != 0 &&
	    strcmp(period, "weekly") != 0)
		return CPT_EINVAL;
	slot =
	    strcmp(period, "immediate") == 0 || force ? now_ms : s_slot(&cfg->mail, period, now_ms);
	if ((rc = mail_people(node_store(n), cfg->name, &people, &count)) != 0)
		return rc;
	for (size_t i = 0; i < count && rc == 0; i++)
		rc = s_compose(n, &people[i], period, now_ms, slot, force, queued);
	free(people);
	return rc;
}

/* ------------------------------------------------------- admin, status */

struct set_email {
	const char *handle;
	const char *email;
};

static int
s_set_email_fn(store_txn_t *txn, void *arg)
{
	struct set_email *s = arg;
	json_t *rec = store_get_json(txn, DB_MAIL, s->handle, strlen(s->handle));
	int rc;

	if (rec == NULL)
		rec = json_object();
	if (rec == NULL)
		return CPT_ENOMEM;
	json_object_set_new(rec, "email", json_string(s->email));
	rc = store_put_json(txn, DB_MAIL, s->handle, strlen(s->handle), rec);
	json_decref(rec);
	return rc;
}

int
mail_set_email(store_t *st, const char *handle, const char *email)
{
	struct set_email s = {handle, email};
	json_t *v = json_string(email);
	char why[128];
	int bad;

	assert(st != NULL && handle != NULL && email != NULL);
	bad = v == NULL || query_pref_check("email", v, why, sizeof(why)) != 0;
	json_decref(v);
	if (bad || strlen(handle) == 0 || strlen(handle) > 32)
		return CPT_EINVAL;
	return store_write(st, s_set_email_fn, &s);
}

json_t *
mail_outbox_status(store_t *st)
{
	return outbox_status(st, "mail", NULL);
}
