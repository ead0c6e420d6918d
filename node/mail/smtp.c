/*
 * The outbox worker: one thread that composes the digests when they are due
 * and delivers what waits in DB_OUTBOX to the company's relay with libcurl's
 * SMTP, with a timeout on every delivery and an exponential back-off when the
 * relay fails. Nothing else waits on it: the node's other threads only kick it.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "config/config.h"
#include "node/mail/mail_internal.h"
#include "node/store/store.h"

#define OUTBOX_BATCH   8                    /* mails taken per pass */
#define OUTBOX_GIVE_UP (3ull * 86400000ull) /* a mail older than this is dropped, logged */
#define SCHEDULE_MS    60000                /* how often due digests are looked for */
#define WAIT_MAX_MS                                                                                \
	1000 /* the outbox is looked at this often at least:                                       \
	        the CLI may have queued a digest */

struct mail {
	node_t *n;          /* the node */
	store_t *st;        /* its store */
	cfg_mail_t c;       /* the mail: section, copied at start */
	char password[256]; /* the relay's password, "" = none */
	pthread_t th;       /* the worker */
	pthread_mutex_t mu; /* guards what follows */
	pthread_cond_t cv;  /* kicks */
	int stop;           /* the worker must end */
	int kicked;         /* something may be due */
	int dirty;          /* events were stored since the last immediate pass */
	uint64_t sent;      /* mails delivered (log and tests) */
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

/* Delivers message to to through the relay. 0, or -1 with err. */
static int
s_send(const struct mail *m, const char *to, const char *message, char *err, size_t errlen)
{
	CURL *c = curl_easy_init();
	struct curl_slist *rcpt = NULL;
	struct upload u = {message, strlen(message), 0};
	char from[CFG_MAX_STR + 2], rto[300], ebuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;

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
	curl_easy_setopt(c, CURLOPT_READFUNCTION, s_read);
	curl_easy_setopt(c, CURLOPT_READDATA, &u);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
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
	return rc == CURLE_OK ? 0 : -1;
}

/* ------------------------------------------------------------- outbox */

/* One mail taken from the outbox (copied out of the read transaction). */
struct taken {
	uint8_t key[16];
	json_t *e; /* the entry */
};

/* What a delivery changes in the outbox. */
struct outcome {
	const struct taken *t;
	int ok;            /* delivered: the entry goes */
	int drop;          /* too old: it goes too */
	uint64_t next_at;  /* else: when to try again */
	const char *error; /* and why it failed */
};

static int
s_outcome_fn(store_txn_t *txn, void *arg)
{
	struct outcome *o = arg;
	json_t *e;
	int rc;

	if (o->ok || o->drop) {
		rc = store_del(txn, DB_OUTBOX, o->t->key, sizeof(o->t->key));
		return rc == CPT_ENOTFOUND ? 0 : rc;
	}
	e = json_deep_copy(o->t->e);
	if (e == NULL)
		return CPT_ENOMEM;
	json_object_set_new(e, "attempts",
	                    json_integer(json_integer_value(json_object_get(e, "attempts")) + 1));
	json_object_set_new(e, "next_at", json_integer((json_int_t)o->next_at));
	json_object_set_new(e, "last_error", json_string(o->error));
	rc = store_put_json(txn, DB_OUTBOX, o->t->key, sizeof(o->t->key), e);
	json_decref(e);
	return rc;
}

/* Takes up to OUTBOX_BATCH entries due at now; *next gets the soonest
 * next_at of those not due (UINT64_MAX: none). */
static size_t
s_take(struct mail *m, uint64_t now, struct taken *out, uint64_t *next)
{
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	size_t n = 0;

	*next = UINT64_MAX;
	if (store_read_begin(m->st, &txn) != 0)
		return 0;
	if (store_cur_open(txn, DB_OUTBOX, &cur) == 0) {
		for (int r = store_cur_get(cur, &k, &v, STORE_FIRST); r == 0;
		     r = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			json_t *e;
			uint64_t at;
			if (k.len != 16 || (e = json_loadb(v.data, v.len, 0, NULL)) == NULL)
				continue;
			at = (uint64_t)json_integer_value(json_object_get(e, "next_at"));
			if (at > now || n == OUTBOX_BATCH) {
				if (at < *next)
					*next = at;
				json_decref(e);
				continue;
			}
			memcpy(out[n].key, k.data, 16);
			out[n++].e = e;
		}
		store_cur_close(&cur);
	}
	store_read_end(m->st, &txn);
	return n;
}

/* Delivers what is due; *next as s_take. */
static void
s_deliver(struct mail *m, uint64_t now, uint64_t *next)
{
	struct taken t[OUTBOX_BATCH];
	size_t n = s_take(m, now, t, next);

	for (size_t i = 0; i < n; i++) {
		const char *to = json_string_value(json_object_get(t[i].e, "to"));
		const char *msg = json_string_value(json_object_get(t[i].e, "message"));
		uint64_t created = (uint64_t)json_integer_value(json_object_get(t[i].e, "created"));
		json_int_t tries = json_integer_value(json_object_get(t[i].e, "attempts"));
		struct outcome o = {&t[i], 0, 0, 0, NULL};
		char err[CURL_ERROR_SIZE + 64] = "";
		int rc;

		if (to == NULL || msg == NULL) {
			o.drop = 1;
			log_warnx("mail", "dropping a malformed outbox entry");
		} else if (s_send(m, to, msg, err, sizeof(err)) == 0) {
			o.ok = 1;
			m->sent++;
			log_info("mail", "digest delivered to %s", to);
		} else if (now - created > OUTBOX_GIVE_UP) {
			o.drop = 1;
			log_warnx("mail", "giving up on a digest to %s after %lld attempts: %s", to,
			          (long long)tries + 1, err);
		} else {
			/* retry_min, doubling, up to retry_max */
			uint64_t d = (uint64_t)m->c.retry_min * 1000u;
			for (json_int_t j = 0; j < tries && d < (uint64_t)m->c.retry_max * 1000u;
			     j++)
				d *= 2;
			if (d > (uint64_t)m->c.retry_max * 1000u)
				d = (uint64_t)m->c.retry_max * 1000u;
			o.next_at = now + d;
			o.error = err;
			log_warnx("mail",
			          "cannot deliver a digest to %s through %s (attempt %lld, next in "
			          "%llu s): %s",
			          to, m->c.relay, (long long)tries + 1,
			          (unsigned long long)(d / 1000), err);
		}
		if ((rc = store_write(m->st, s_outcome_fn, &o)) != 0)
			log_warnx("mail", "cannot update the outbox: %s", store_strerror(rc));
		if (!o.ok && !o.drop && o.next_at < *next)
			*next = o.next_at;
		json_decref(t[i].e);
	}
	if (n == OUTBOX_BATCH)
		*next = now; /* more may be due */
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

static void *
s_worker(void *arg)
{
	struct mail *m = arg;
	uint64_t next_schedule = 0, next_immediate = 0;

	pthread_mutex_lock(&m->mu);
	while (!m->stop) {
		uint64_t now, next, wait;
		int dirty = m->dirty;
		struct timespec ts;

		m->kicked = 0;
		pthread_mutex_unlock(&m->mu);
		now = hlc_wall_ms();
		if (now >= next_schedule) {
			s_digests(m, "daily", now);
			s_digests(m, "weekly", now);
			next_schedule = now + SCHEDULE_MS;
		}
		/* Immediate digests gather immediate_every (a minute) of events
		 * into one mail. */
		if (dirty && now >= next_immediate) {
			pthread_mutex_lock(&m->mu);
			m->dirty = 0;
			pthread_mutex_unlock(&m->mu);
			s_digests(m, "immediate", now);
			next_immediate = now + (uint64_t)m->c.immediate_every * 1000u;
		}
		s_deliver(m, now, &next);
		now = hlc_wall_ms();
		wait = WAIT_MAX_MS;
		if (next > now && next - now < wait)
			wait = next - now;
		else if (next <= now)
			wait = 10;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)(wait / 1000);
		ts.tv_nsec += (long)(wait % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&m->mu);
		while (!m->stop && !m->kicked) {
			int rc = pthread_cond_timedwait(&m->cv, &m->mu, &ts);
			if (rc == ETIMEDOUT)
				break;
		}
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
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
	pthread_cond_init(&m->cv, NULL);
	if (node_listen(n, s_on_commit, m) != 0 || pthread_create(&m->th, NULL, s_worker, m) != 0) {
		node_unlisten(n, s_on_commit, m);
		snprintf(err, errlen, "cannot start the mail worker");
		pthread_mutex_destroy(&m->mu);
		pthread_cond_destroy(&m->cv);
		curl_global_cleanup();
		free(m);
		return -1;
	}
	log_info("mail", "digests go through %s from %s", m->c.relay, m->c.from);
	*out = m;
	return 0;
}

void
mail_kick(mail_t *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	m->kicked = 1;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

void
mail_stop(mail_t **self_p)
{
	struct mail *m;

	if (self_p == NULL || (m = *self_p) == NULL)
		return;
	node_unlisten(m->n, s_on_commit, m);
	pthread_mutex_lock(&m->mu);
	m->stop = 1;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	pthread_join(m->th, NULL);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	curl_global_cleanup();
	memset(m->password, 0, sizeof(m->password));
	free(m);
	*self_p = NULL;
}
