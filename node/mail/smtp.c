/*
 * The mail channel of the outbox (node/outbox): its tick composes the
 * digests and the monthly report when they are due, its delivery hands a
 * message to the company's relay with libcurl's SMTP (and its MIME builder
 * for mail with attachments), with a timeout on every delivery; the
 * outbox's worker retries with back-off. The node's other threads only
 * kick it.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "config/config.h"
#include "node/mail/mail_internal.h"
#include "node/outbox/outbox.h"
#include "node/store/store.h"

#define OUTBOX_GIVE_UP (3ull * 86400000ull) /* a mail older than this is dropped, logged */
#define SCHEDULE_MS    60000                /* how often due digests are looked for */
#define WAIT_MAX_MS                                                                                \
	1000 /* the outbox is looked at this often at least:                                       \
	        the CLI may have queued a digest */

struct mail {
	node_t *n;               /* the node */
	store_t *st;             /* its store */
	cfg_mail_t c;            /* the mail: section, copied at start */
	char password[256];      /* the relay's password, "" = none */
	outbox_t *ob;            /* the mail channel of the outbox: its worker delivers */
	pthread_mutex_t mu;      /* guards dirty and the report's fields */
	int dirty;               /* events were stored since the last immediate pass */
	uint64_t next_schedule;  /* when due digests are looked for next (worker only) */
	uint64_t next_immediate; /* when immediate digests may go next (worker only) */
	uint64_t sent;           /* mails delivered (log and tests; worker only) */
	mail_report_fn report;   /* makes the monthly workbook (NULL: no monthly report) */
	void *report_arg;        /* its argument */
	int report_now;          /* look whether the monthly report is due at the next tick */
	char report_said[8];     /* the month the log last said was owed nothing (worker only) */
};

/* --------------------------------------------------------------- curl */

struct upload {
	const char *data; /* the message */
	size_t len;       /* its bytes */
	size_t off;       /* sent */
};

static size_t
s_read(char *out, size_t size, size_t nitems, void *arg)
{
	struct upload *u = arg;
	size_t n = size * nitems;

	if (n > u->len - u->off)
		n = u->len - u->off;
	memcpy(out, u->data + u->off, n);
	u->off += n;
	return n;
}

/* mail_mime's message as libcurl's MIME structure of c, its headers into
 * *heads (the caller frees both, after the transfer): the text part, then
 * each attachment, base64 by libcurl. 0; -1 with err when memory is short
 * (try again later); -2 with err for a malformed entry (it will not get
 * better). */
static int
s_mime(CURL *c, const json_t *msg, curl_mime **out, struct curl_slist **heads, char *err,
       size_t errlen)
{
	const json_t *x;
	size_t i;
	curl_mime *mime = curl_mime_init(c);
	curl_mimepart *part;
	const char *text = json_string_value(json_object_get(msg, "text"));

	*out = mime;
	if (text == NULL || !json_is_array(json_object_get(msg, "headers"))) {
		snprintf(err, errlen, "a malformed message in the outbox");
		return -2;
	}
	json_array_foreach (json_object_get(msg, "headers"), i, x) {
		struct curl_slist *more;
		if (!json_is_string(x))
			continue;
		if ((more = curl_slist_append(*heads, json_string_value(x))) == NULL)
			goto oom;
		*heads = more;
	}
	if (mime == NULL || (part = curl_mime_addpart(mime)) == NULL ||
	    curl_mime_data(part, text, CURL_ZERO_TERMINATED) != CURLE_OK ||
	    curl_mime_type(part, "text/plain; charset=UTF-8") != CURLE_OK ||
	    curl_mime_encoder(part, "base64") != CURLE_OK)
		goto oom;
	json_array_foreach (json_object_get(msg, "attachments"), i, x) {
		const char *b64 = json_string_value(json_object_get(x, "data"));
		const char *name = json_string_value(json_object_get(x, "name"));
		const char *type = json_string_value(json_object_get(x, "type"));
		size_t cap = b64 ? strlen(b64) / 4 * 3 + 3 : 0, len = 0;
		unsigned char *bin;
		int ok;
		if (b64 == NULL || name == NULL || type == NULL) {
			snprintf(err, errlen, "a malformed attachment in the outbox");
			return -2;
		}
		if ((bin = malloc(cap)) == NULL)
			goto oom;
		if (sodium_base642bin(bin, cap, b64, strlen(b64), NULL, &len, NULL,
		                      sodium_base64_VARIANT_ORIGINAL) != 0) {
			free(bin);
			snprintf(err, errlen, "an attachment in the outbox is not base64");
			return -2;
		}
		ok = (part = curl_mime_addpart(mime)) != NULL &&
		     curl_mime_data(part, (const char *)bin, len) == CURLE_OK &&
		     curl_mime_filename(part, name) == CURLE_OK &&
		     curl_mime_type(part, type) == CURLE_OK &&
		     curl_mime_encoder(part, "base64") == CURLE_OK;
		free(bin); /* curl_mime_data copied it */
		if (!ok)
			goto oom;
	}
	return 0;
oom:
	snprintf(err, errlen, "the message cannot be built now: out of memory");
	return -1;
}

/* Delivers to to through the relay: message (an RFC 5322 text), or mime
 * (mail_mime's). 0; -1 with err; -2 with err when the entry is malformed. */
static int
s_send(const struct mail *m, const char *to, const char *message, const json_t *mime, char *err,
       size_t errlen)
{
	CURL *c = curl_easy_init();
	struct curl_slist *rcpt = NULL, *heads = NULL;
	curl_mime *parts = NULL;
	struct upload u = {message, message ? strlen(message) : 0, 0};
	char from[CFG_MAX_STR + 2], rto[300], ebuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;
	int built;

	if (c == NULL) {
		snprintf(err, errlen, "cannot start libcurl");
		return -1;
	}
	snprintf(from, sizeof(from), "<%s>", m->c.from);
	snprintf(rto, sizeof(rto), "<%s>", to);
	rcpt = curl_slist_append(NULL, rto);
	curl_easy_setopt(c, CURLOPT_URL, m->c.relay);
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	if (message) {
		curl_easy_setopt(c, CURLOPT_READFUNCTION, s_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &u);
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	} else if ((built = s_mime(c, mime, &parts, &heads, err, errlen)) != 0) {
		curl_mime_free(parts);
		curl_slist_free_all(heads);
		curl_slist_free_all(rcpt);
		curl_easy_cleanup(c);
		return built;
	} else {
		/* For SMTP, libcurl takes the mail's headers from HTTPHEADER and
		 * adds MIME-Version and the multipart Content-Type itself. */
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, heads);
		curl_easy_setopt(c, CURLOPT_MIMEPOST, parts);
	}
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)MAIL_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	/* STARTTLS when the relay offers it; smtps:// is TLS from the start. */
	curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
	if (m->c.user[0]) {
		curl_easy_setopt(c, CURLOPT_USERNAME, m->c.user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, m->password);
	}
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		snprintf(err, errlen, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(c);
	curl_mime_free(parts);
	curl_slist_free_all(heads);
	return rc == CURLE_OK ? 0 : -1;
}

/* ------------------------------------------------------------- outbox */

/* The mail channel's delivery (node/outbox runs it on its worker). */
static enum outbox_result
s_deliver(void *arg, const json_t *e, char *err, size_t errlen)
{
	struct mail *m = arg;
	const char *to = json_string_value(json_object_get(e, "to"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	const json_t *mime = json_object_get(e, "mime");
	json_int_t tries = json_integer_value(json_object_get(e, "attempts"));
	int rc;

	if (to == NULL || (msg == NULL && !json_is_object(mime))) {
		log_warnx("mail", "dropping a malformed outbox entry");
		return OUTBOX_DROP;
	}
	if ((rc = s_send(m, to, msg, mime, err, errlen)) == -2) {
		log_warnx("mail", "dropping a malformed outbox entry: %s", err);
		return OUTBOX_DROP;
	}
	if (rc != 0) {
		log_warnx("mail", "cannot deliver a %s to %s through %s (attempt %lld): %s",
		          msg ? "digest" : "mail", to, m->c.relay, (long long)tries + 1, err);
		return OUTBOX_RETRY;
	}
	m->sent++;
	log_info("mail", "%s delivered to %s", msg ? "digest" : "mail", to);
	return OUTBOX_SENT;
}

/* ------------------------------------------------------------- worker */

static void
s_on_commit(void *arg, const node_change_t *changes, size_t n, enum node_origin origin)
{
	struct mail *m = arg;

	(void)changes;
	(void)origin;
	if (n == 0)
		return;
	pthread_mutex_lock(&m->mu);
	m->dirty = 1;
	pthread_mutex_unlock(&m->mu);
}

static void
s_digests(struct mail *m, const char *period, uint64_t now)
{
	size_t queued = 0;
	int rc = mail_digest_run(m->n, period, now, 0, &queued);

	if (rc != 0)
		log_warnx("mail", "cannot compose the %s digests: %s", period, store_strerror(rc));
	else if (queued)
		log_info("mail", "%zu %s digests queued", queued, period);
}

/* The monthly report when it is due (mail_report_run says, from DB_MAIL). */
static void
s_report(struct mail *m, mail_report_fn fn, void *arg, uint64_t now)
{
	size_t queued = 0;
	char err[512] = "", month[8] = "";
	int rc = mail_report_run(m->n, now, NULL, 0, fn, arg, &queued, month, err, sizeof(err));

	if (rc != 0) {
		log_warnx("mail", "cannot compose the monthly report of %s: %s", month, err);
	} else if (queued) {
		log_info("mail", "the report of %s queued for %zu people of the management role",
		         month, queued);
	} else if (month[0] && strcmp(month, m->report_said) != 0) {
		/* Once per month and process: the schedule did look. */
		log_info("mail",
		         "the report of %s: nothing owed (sent before, or nobody has the "
		         "management role and an address)",
		         month);
		memcpy(m->report_said, month, sizeof(month));
	}
}

/* The mail channel's tick: the digests and the report due, before the
 * outbox delivers. */
static uint64_t
s_tick(void *arg, uint64_t now)
{
	struct mail *m = arg;
	int dirty;

	mail_report_fn report;
	void *report_arg;
	int report_now;

	pthread_mutex_lock(&m->mu);
	report = m->report;
	report_arg = m->report_arg;
	report_now = m->report_now;
	m->report_now = 0;
	pthread_mutex_unlock(&m->mu);
	if (now >= m->next_schedule || report_now) {
		if (now >= m->next_schedule) {
			s_digests(m, "daily", now);
			s_digests(m, "weekly", now);
		}
		if (report)
			s_report(m, report, report_arg, now);
		m->next_schedule = now + SCHEDULE_MS;
	}
	/* Immediate digests gather immediate_every (a minute) of events into
	 * one mail. */
	pthread_mutex_lock(&m->mu);
	dirty = m->dirty;
	if (dirty && now >= m->next_immediate)
		m->dirty = 0;
	pthread_mutex_unlock(&m->mu);
	if (dirty && now >= m->next_immediate) {
		s_digests(m, "immediate", now);
		m->next_immediate = now + (uint64_t)m->c.immediate_every * 1000u;
	}
	/* The dirty flag is looked at again within WAIT_MAX_MS. */
	return m->next_schedule < now + WAIT_MAX_MS ? m->next_schedule : now + WAIT_MAX_MS;
}

/* The password file, relative to the config file's folder. */
static int
s_password(struct mail *m, const cfg_t *cfg, char *err, size_t errlen)
{
	char path[2 * CFG_MAX_STR + 2];
	const char *slash = strrchr(cfg->path, '/');
	FILE *f;
	size_t n;

	if (m->c.password_file[0] == 0)
		return 0;
	if (m->c.password_file[0] == '/' || slash == NULL)
		snprintf(path, sizeof(path), "%s", m->c.password_file);
	else
		snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - cfg->path), cfg->path,
		         m->c.password_file);
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: mail.password_file: %s", path, strerror(errno));
		return -1;
	}
	n = fread(m->password, 1, sizeof(m->password) - 1, f);
	fclose(f);
	m->password[n] = 0;
	m->password[strcspn(m->password, "\r\n")] = 0;
	return 0;
}

int
mail_start(mail_t **out, node_t *n, char *err, size_t errlen)
{
	const cfg_t *cfg = node_cfg(n);
	struct mail *m;

	assert(out != NULL && n != NULL);
	*out = NULL;
	if (cfg->mail.relay[0] == 0)
		return 0;
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m->n = n;
	m->st = node_store(n);
	m->c = cfg->mail;
	if (s_password(m, cfg, err, errlen) != 0) {
		free(m);
		return -1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		snprintf(err, errlen, "cannot start libcurl");
		free(m);
		return -1;
	}
	pthread_mutex_init(&m->mu, NULL);
	{
		outbox_ops_t ops = {0};
		ops.name = "mail";
		ops.deliver = s_deliver;
		ops.tick = s_tick;
		ops.arg = m;
		ops.retry_min_s = m->c.retry_min;
		ops.retry_max_s = m->c.retry_max;
		ops.give_up_ms = OUTBOX_GIVE_UP;
		ops.poll_ms = WAIT_MAX_MS;
		if (node_listen(n, s_on_commit, m) != 0 ||
		    outbox_start(&m->ob, m->st, &ops, err, errlen) != 0) {
			node_unlisten(n, s_on_commit, m);
			snprintf(err, errlen, "cannot start the mail worker");
			pthread_mutex_destroy(&m->mu);
			curl_global_cleanup();
			free(m);
			return -1;
		}
	}
	log_info("mail", "digests go through %s from %s", m->c.relay, m->c.from);
	*out = m;
	return 0;
}

void
mail_set_report(mail_t *m, mail_report_fn fn, void *arg)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	m->report = fn;
	m->report_arg = arg;
	m->report_now = 1;
	pthread_mutex_unlock(&m->mu);
	outbox_kick(m->ob);
}

void
mail_kick(mail_t *m)
{
	if (m != NULL)
		outbox_kick(m->ob);
}

void
mail_stop(mail_t **self_p)
{
	struct mail *m;

	if (self_p == NULL || (m = *self_p) == NULL)
		return;
	node_unlisten(m->n, s_on_commit, m);
	outbox_stop(&m->ob);
	pthread_mutex_destroy(&m->mu);
	curl_global_cleanup();
	memset(m->password, 0, sizeof(m->password));
	free(m);
	*self_p = NULL;
}
