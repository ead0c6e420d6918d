/*
 * The monthly report: once a month, the workbook of the month before goes to
 * each person of this site with the management role and an address, queued
 * into the outbox in the same write transaction that records the month as
 * sent (DB_MAIL, "report"), so the schedule queues a month once only.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "node/index/index.h"
#include "node/mail/mail_internal.h"
#include "node/outbox/outbox.h"
#include "node/query/query.h"

#define XLSX_TYPE "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

static const char *const s_subject[2] = {"Comptoir: figures for %s",
                                         "Comptoir : les chiffres de %s"};
static const char *const s_body[2] = {
    "Hello,\n\nAttached is the workbook of Comptoir's figures for %s (UTC), made by site %s "
    "from the events it holds: adoption by site and department, the exchange between sites, "
    "questions answered, spaces, and the estimated gains. It opens in Excel or LibreOffice; "
    "type your own assumptions in the coloured cells of its Gains sheet and the estimate is "
    "recomputed.\n\n-- \nYou get this report each month because you have the management role "
    "on Comptoir: %s\n",
    "Bonjour,\n\nVoici en pièce jointe le classeur des chiffres de Comptoir pour %s (UTC), "
    "établi par le site %s à partir des événements qu'il détient : adoption par site et par "
    "service, échanges entre sites, questions résolues, espaces et gains estimés. Il s'ouvre "
    "dans Excel ou LibreOffice ; saisissez vos hypothèses dans les cellules colorées de la "
    "feuille Gains et l'estimation est recalculée.\n\n-- \nVous recevez ce rapport chaque mois "
    "parce que vous avez le rôle direction sur Comptoir : %s\n"};

/* ms at 00:00 UTC on the first day of month index ym (year * 12 + month - 1). */
static uint64_t
s_month_start(int ym)
{
	struct tm tm = {0};

	tm.tm_year = ym / 12 - 1900;
	tm.tm_mon = ym % 12;
	tm.tm_mday = 1;
	return (uint64_t)timegm(&tm) * 1000u;
}

/* The month the schedule owes at now_ms: the one before the latest
 * report_day at daily_hour. -1 when report_day is 0. */
static int
s_month_due(const cfg_mail_t *c, uint64_t now_ms)
{
	time_t s = (time_t)(now_ms / 1000);
	struct tm tm;
	int ym;

	if (c->report_day == 0)
		return -1;
	gmtime_r(&s, &tm);
	ym = (tm.tm_year + 1900) * 12 + tm.tm_mon;
	if (now_ms <
	    s_month_start(ym) + ((uint64_t)(c->report_day - 1) * 24u + c->daily_hour) * 3600000u)
		ym--; /* this month's is not due yet: the one owed is last month's */
	return ym - 1;
}

/* "YYYY-MM" as a month index; -1 when it is not one. */
static int
s_parse_month(const char *m)
{
	int y, mo;
	char tail;

	if (m == NULL || strlen(m) != 7 || sscanf(m, "%4d-%2d%c", &y, &mo, &tail) != 2 ||
	    m[4] != '-' || y < 1970 || mo < 1 || mo > 12)
		return -1;
	return y * 12 + mo - 1;
}

/* One recipient, read before the workbook is made. */
struct rcpt {
	char handle[64];
	char to[256];
	int lang;    /* 0 English, 1 French */
	char was[8]; /* the month last sent ("" none) */
};

/* The people of the site with the management role and an address. */
static int
s_recipients(node_t *n, struct rcpt **out, size_t *count)
{
	store_t *st = node_store(n);
	mail_person_t *people;
	size_t np;
	store_txn_t *txn;
	int rc;

	*out = NULL;
	*count = 0;
	if ((rc = mail_people(st, node_cfg(n)->name, &people, &np)) != 0)
		return rc;
	if (np == 0 || (rc = store_read_begin(st, &txn)) != 0) {
		free(people);
		return rc;
	}
	if ((*out = calloc(np, sizeof(**out))) == NULL) {
		store_read_end(st, &txn);
		free(people);
		return CPT_ENOMEM;
	}
	for (size_t i = 0; i < np; i++) {
		json_t *info = index_key_info(txn, people[i].key);
		json_t *mine = NULL, *prefs = NULL, *rec = NULL;
		const char *role = json_string_value(json_object_get(info, "role"));
		const char *email, *lang, *was;
		if (role && strcmp(role, "management") == 0) {
			mine = index_mine_state(txn, node_ingest_ctx(n)->fed, people[i].key);
			prefs = mine ? query_prefs(mine) : NULL;
			rec = store_get_json(txn, DB_MAIL, people[i].handle,
			                     strlen(people[i].handle));
			/* The address as for the digests: their own, else the admin's. */
			email = json_string_value(json_object_get(prefs, "email"));
			if (email == NULL || *email == 0)
				email = json_string_value(json_object_get(rec, "email"));
			lang = json_string_value(json_object_get(prefs, "lang"));
			was = json_string_value(json_object_get(rec, "report"));
			if (email && *email) {
				struct rcpt *r = &(*out)[(*count)++];
				snprintf(r->handle, sizeof(r->handle), "%s", people[i].handle);
				snprintf(r->to, sizeof(r->to), "%s", email);
				r->lang = lang && strcmp(lang, "fr") == 0;
				snprintf(r->was, sizeof(r->was), "%s",
				         was && strlen(was) == 7 ? was : "");
			}
		}
		json_decref(info);
		json_decref(mine);
		json_decref(prefs);
		json_decref(rec);
	}
	store_read_end(st, &txn);
	free(people);
	return 0;
}

/* The queueing: every mail and every record in one write transaction. */
struct queue_all {
	struct rcpt *r;    /* the recipients */
	json_t **mime;     /* their messages (NULL: not due) */
	size_t n;          /* how many */
	const char *month; /* "YYYY-MM" */
	int complete;      /* the month is over: recorded as sent */
	uint64_t now;      /* when */
	int force;         /* by hand */
	size_t queued;     /* out */
};

static int
s_queue_fn(store_txn_t *txn, void *arg)
{
	struct queue_all *q = arg;
	int rc = 0;

	q->queued = 0;
	for (size_t i = 0; i < q->n && rc == 0; i++) {
		const char *h = q->r[i].handle;
		json_t *rec, *e;
		const char *was;
		if (q->mime[i] == NULL)
			continue;
		if ((rec = store_get_json(txn, DB_MAIL, h, strlen(h))) == NULL &&
		    (rec = json_object()) == NULL)
			return CPT_ENOMEM;
		was = json_string_value(json_object_get(rec, "report"));
		/* Another process queued it since it was read: not twice. */
		if (!q->force && was && strcmp(was, q->month) >= 0) {
			json_decref(rec);
			continue;
		}
		/* A month still running, sent by hand, is not the whole month
		 * the schedule owes once it is over. */
		if (q->complete && (was == NULL || strcmp(was, q->month) < 0))
			json_object_set_new(rec, "report", json_string(q->month));
		rc = store_put_json(txn, DB_MAIL, h, strlen(h), rec);
		json_decref(rec);
		e = json_pack("{s:s, s:s, s:O}", "to", q->r[i].to, "handle", h, "mime", q->mime[i]);
		if (rc == 0)
			rc = e ? outbox_put(txn, "mail", NULL, e, q->now) : CPT_ENOMEM;
		json_decref(e);
		if (rc == 0)
			q->queued++;
	}
	return rc;
}

int
mail_report_run(node_t *n, uint64_t now_ms, const char *month, int force, mail_report_fn fn,
                void *arg, size_t *queued, char month_out[8], char *err, size_t errlen)
{
	const cfg_mail_t *c = &node_cfg(n)->mail;
	struct rcpt *r = NULL;
	json_t **mime = NULL;
	size_t count = 0, due = 0;
	uint8_t *xlsx = NULL;
	size_t len = 0;
	int ym, rc;
	char m[8];

	assert(n != NULL && fn != NULL && queued != NULL);
	*queued = 0;
	month_out[0] = 0;
	ym = month ? s_parse_month(month) : s_month_due(c, now_ms);
	if (month && ym < 0) {
		snprintf(err, errlen, "\"%s\" is not a month, YYYY-MM", month);
		return CPT_EINVAL;
	}
	if (ym < 0)
		return 0; /* report_day: 0 */
	snprintf(m, sizeof(m), "%04d-%02d", (ym / 12) % 10000, ym % 12 + 1);
	memcpy(month_out, m, 8);
	if ((rc = s_recipients(n, &r, &count)) != 0) {
		snprintf(err, errlen, "the store cannot be read: %s", store_strerror(rc));
		return rc;
	}
	for (size_t i = 0; i < count; i++)
		due += force || strcmp(r[i].was, m) < 0;
	if (due == 0) {
		free(r);
		return 0;
	}
	/* The workbook once, for all of them: a month is a long walk. */
	if (fn(arg, s_month_start(ym), s_month_start(ym + 1), &xlsx, &len, err, errlen) != 0) {
		free(r);
		return CPT_EIO;
	}
	rc = 0;
	if ((mime = calloc(count, sizeof(*mime))) == NULL)
		rc = CPT_ENOMEM;
	for (size_t i = 0; i < count && rc == 0; i++) {
		char subject[128], name[CFG_MAX_STR + 32], *text;
		size_t cap;
		mail_attachment_t a = {name, XLSX_TYPE, xlsx, len};
		if (!force && strcmp(r[i].was, m) >= 0)
			continue;
		snprintf(subject, sizeof(subject), s_subject[r[i].lang], m);
		snprintf(name, sizeof(name), "comptoir-%s-%s.xlsx", node_cfg(n)->name, m);
		cap = strlen(s_body[r[i].lang]) + 2 * CFG_MAX_STR + 16;
		if ((text = malloc(cap)) == NULL) {
			rc = CPT_ENOMEM;
			break;
		}
		snprintf(text, cap, s_body[r[i].lang], m, node_cfg(n)->name, c->base_url);
		mime[i] = mail_mime(c->from, r[i].to, subject, text, &a, 1, now_ms);
		free(text);
		if (mime[i] == NULL)
			rc = CPT_ENOMEM;
	}
	if (rc == 0) {
		struct queue_all q = {r,      mime,  count, m, s_month_start(ym + 1) <= now_ms,
		                      now_ms, force, 0};
		rc = store_write(node_store(n), s_queue_fn, &q);
		if (rc == 0)
			*queued = q.queued;
	}
	if (rc != 0)
		snprintf(err, errlen, "the report cannot be queued: %s", store_strerror(rc));
	for (size_t i = 0; mime && i < count; i++)
		json_decref(mime[i]);
	free(mime);
	free(xlsx);
	free(r);
	return rc;
}
