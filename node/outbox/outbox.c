/*
 * The outbox shared by mail and webhooks: entries in DB_OUTBOX keyed so that
 * they sort in the order put, and one worker thread per channel that takes
 * what is due, delivers it outside every transaction, and records the
 * outcome (gone, or tried again later) in a write of its own.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "config/config.h"
#include "node/outbox/outbox.h"

#define BATCH    OUTBOX_BATCH
#define LANES    64 /* lanes told apart per pass; more wait for the next pass */
#define KEY_LEN  16
#define LANE_MAX 64

struct outbox {
	store_t *st;               /* the store (not owned) */
	outbox_ops_t ops;          /* the channel, copied */
	char name[LANE_MAX];       /* ops.name, copied */
	pthread_t th;              /* the worker */
	pthread_mutex_t mu;        /* guards stop and kicked */
	pthread_cond_t cv;         /* kicks */
	int stop;                  /* the worker must end */
	int kicked;                /* something may be due */
	atomic_uint_fast64_t sent; /* entries delivered */
};

/* ------------------------------------------------------------ putting */

/* The order part of keys put by this process: increasing, so that entries
 * put in one millisecond keep their order; its low bits random, so that two
 * processes (the node and the CLI) never make the same key. */
static atomic_uint_fast64_t s_order;
static atomic_uint_fast64_t s_last_ms;

int
outbox_put(store_txn_t *txn, const char *channel, const char *lane, const json_t *entry,
           uint64_t now_ms)
{
	uint8_t k[KEY_LEN];
	uint64_t ms = now_ms, last = atomic_load(&s_last_ms), order;
	json_t *e;
	int rc;

	assert(txn != NULL && channel != NULL && entry != NULL);
	/* A clock stepped back must not put an entry before its lane's older ones. */
	while (last > ms || !atomic_compare_exchange_weak(&s_last_ms, &last, ms))
		if (last > ms)
			ms = last;
	order = (atomic_fetch_add(&s_order, 1) << 24) | (randombytes_random() & 0xffffffu);
	store_put_u64(k, ms);
	store_put_u64(k + 8, order);
	if ((e = json_deep_copy(entry)) == NULL)
		return CPT_ENOMEM;
	json_object_set_new(e, "channel", json_string(channel));
	if (lane)
		json_object_set_new(e, "lane", json_string(lane));
	json_object_set_new(e, "created", json_integer((json_int_t)now_ms));
	json_object_set_new(e, "attempts", json_integer(0));
	json_object_set_new(e, "next_at", json_integer((json_int_t)now_ms));
	/* An entry not due before a time of its own (an upload's clean-up). */
	if (json_integer_value(json_object_get(entry, "not_before")) > (json_int_t)now_ms)
		json_object_set(e, "next_at", json_object_get(entry, "not_before"));
	rc = store_put_json(txn, DB_OUTBOX, k, sizeof(k), e);
	json_decref(e);
	return rc;
}

/* The channel of an entry: "mail" for those put before there were channels. */
static const char *
s_channel(const json_t *e)
{
	const char *c = json_string_value(json_object_get(e, "channel"));
	return c ? c : "mail";
}

static int
s_same(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

int
outbox_drop_lane(store_txn_t *txn, const char *channel, const char *lane)
{
	store_cur_t *cur;
	store_val_t k, v;
	uint8_t keys[BATCH][KEY_LEN];
	size_t n;
	int rc;

	/* Deletes in rounds: a cursor walk is not kept across deletions. */
	do {
		n = 0;
		if ((rc = store_cur_open(txn, DB_OUTBOX, &cur)) != 0)
			return rc;
		for (int r = store_cur_get(cur, &k, &v, STORE_FIRST); r == 0 && n < BATCH;
		     r = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			json_t *e = json_loadb(v.data, v.len, 0, NULL);
			if (k.len == KEY_LEN && e && strcmp(s_channel(e), channel) == 0 &&
			    s_same(json_string_value(json_object_get(e, "lane")), lane))
				memcpy(keys[n++], k.data, KEY_LEN);
			json_decref(e);
		}
		store_cur_close(&cur);
		for (size_t i = 0; i < n; i++)
			if ((rc = store_del(txn, DB_OUTBOX, keys[i], KEY_LEN)) != 0 &&
			    rc != CPT_ENOTFOUND)
				return rc;
	} while (n == BATCH);
	return 0;
}

json_t *
outbox_status(store_t *st, const char *channel, const char *lane)
{
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	json_int_t waiting = 0, attempts = 0, oldest = -1;
	json_t *last = NULL;
	int rc;

	if (store_read_begin(st, &txn) != 0)
		return NULL;
	if (store_cur_open(txn, DB_OUTBOX, &cur) != 0) {
		store_read_end(st, &txn);
		return NULL;
	}
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		json_t *e = json_loadb(v.data, v.len, 0, NULL);
		json_int_t a = json_integer_value(json_object_get(e, "attempts"));
		if (e == NULL || strcmp(s_channel(e), channel) != 0 ||
		    (lane && !s_same(json_string_value(json_object_get(e, "lane")), lane))) {
			json_decref(e);
			continue;
		}
		waiting++;
		if (oldest < 0 || json_integer_value(json_object_get(e, "created")) < oldest)
			oldest = json_integer_value(json_object_get(e, "created"));
		if (a >= attempts) {
			attempts = a;
			if (json_is_string(json_object_get(e, "last_error"))) {
				json_decref(last);
				last = json_incref(json_object_get(e, "last_error"));
			}
		}
		json_decref(e);
	}
	store_cur_close(&cur);
	store_read_end(st, &txn);
	return json_pack("{s:I, s:o, s:I, s:o}", "waiting", waiting, "oldest_ms",
	                 oldest < 0 ? json_null() : json_integer(oldest), "attempts", attempts,
	                 "last_error", last ? last : json_null());
}

/* ------------------------------------------------------------- worker */

/* One entry taken (copied out of the read transaction). */
struct taken {
	uint8_t key[KEY_LEN];
	json_t *e; /* the entry */
};

/* What a delivery changes in the outbox. */
struct outcome {
	const struct taken *t;
	int gone;         /* delivered or dropped: the entry goes */
	uint64_t next_at; /* else: when to try again */
	char error[512];  /* and why it failed */
};

/* The outcomes of one pass, recorded in one commit with the channel's own. */
struct outcomes {
	struct outbox *o;
	struct outcome *oc;
	size_t n;
};

static int
s_outcome_one(store_txn_t *txn, const struct outcome *o)
{
	json_t *e;
	int rc;

	if (o->gone) {
		rc = store_del(txn, DB_OUTBOX, o->t->key, KEY_LEN);
		return rc == CPT_ENOTFOUND ? 0 : rc;
	}
	/* Deleted meanwhile (a webhook removed): nothing to update. */
	if ((e = store_get_json(txn, DB_OUTBOX, o->t->key, KEY_LEN)) == NULL)
		return 0;
	json_decref(e);
	if ((e = json_deep_copy(o->t->e)) == NULL)
		return CPT_ENOMEM;
	json_object_set_new(e, "attempts",
	                    json_integer(json_integer_value(json_object_get(e, "attempts")) + 1));
	json_object_set_new(e, "next_at", json_integer((json_int_t)o->next_at));
	json_object_set_new(e, "last_error", json_string(o->error));
	rc = store_put_json(txn, DB_OUTBOX, o->t->key, KEY_LEN, e);
	json_decref(e);
	return rc;
}

static int
s_outcomes_fn(store_txn_t *txn, void *arg)
{
	struct outcomes *a = arg;
	int rc;

	for (size_t i = 0; i < a->n; i++)
		if ((rc = s_outcome_one(txn, &a->oc[i])) != 0)
			return rc;
	return a->o->ops.flush ? a->o->ops.flush(a->o->ops.arg, txn) : 0;
}

/* Lanes seen in one pass: a lane whose first entry is not due, or failed,
 * holds back the rest of that lane. */
struct lanes {
	char name[LANES][LANE_MAX];
	int blocked[LANES];
	size_t n;
};

/* The slot of lane (NULL: none; -1: more lanes than fit, treated as blocked). */
static int
s_lane(struct lanes *l, const char *lane)
{
	if (lane == NULL)
		return -2;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->name[i], lane) == 0)
			return (int)i;
	if (l->n == LANES || strlen(lane) >= LANE_MAX)
		return -1;
	snprintf(l->name[l->n], LANE_MAX, "%s", lane);
	l->blocked[l->n] = 0;
	return (int)l->n++;
}

/* Takes up to BATCH entries of the channel due at now, in key order, each
 * lane's only while its earlier entries are taken too; *next gets the
 * soonest next_at of those left (UINT64_MAX: none). */
static size_t
s_take(struct outbox *o, uint64_t now, struct taken *out, uint64_t *next, struct lanes *lanes)
{
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	size_t n = 0;

	*next = UINT64_MAX;
	lanes->n = 0;
	if (store_read_begin(o->st, &txn) != 0)
		return 0;
	if (store_cur_open(txn, DB_OUTBOX, &cur) == 0) {
		for (int r = store_cur_get(cur, &k, &v, STORE_FIRST); r == 0;
		     r = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			json_t *e;
			uint64_t at;
			int li;
			if (k.len != KEY_LEN || (e = json_loadb(v.data, v.len, 0, NULL)) == NULL)
				continue;
			if (strcmp(s_channel(e), o->name) != 0) {
				json_decref(e);
				continue;
			}
			at = (uint64_t)json_integer_value(json_object_get(e, "next_at"));
			li = s_lane(lanes, json_string_value(json_object_get(e, "lane")));
			if (at > now || n == BATCH || li == -1 || (li >= 0 && lanes->blocked[li])) {
				if (at < *next && (li < 0 || !lanes->blocked[li]))
					*next = at;
				if (li >= 0)
					lanes->blocked[li] = 1;
				json_decref(e);
				continue;
			}
			memcpy(out[n].key, k.data, KEY_LEN);
			out[n++].e = e;
		}
		store_cur_close(&cur);
	}
	store_read_end(o->st, &txn);
	return n;
}

/* The back-off after tries failures: retry_min, doubling, up to retry_max. */
static uint64_t
s_backoff(const outbox_ops_t *ops, json_int_t tries)
{
	uint64_t d = (uint64_t)ops->retry_min_s * 1000u, max = (uint64_t)ops->retry_max_s * 1000u;

	for (json_int_t j = 0; j < tries && d < max; j++)
		d *= 2;
	return d > max ? max : d;
}

/* Delivers what is due; *next as s_take. */
static void
s_deliver(struct outbox *o, uint64_t now, uint64_t *next)
{
	struct taken t[BATCH];
	struct lanes *lanes = calloc(1, sizeof(*lanes));
	struct outcome *oc = calloc(BATCH, sizeof(*oc));
	struct outcomes all = {o, oc, 0};
	size_t n;
	int rc;

	if (lanes == NULL || oc == NULL) {
		free(lanes);
		free(oc);
		*next = now + 1000;
		return;
	}
	n = s_take(o, now, t, next, lanes);
	/* The lanes are told again below: those that fail now hold back their
	 * later entries taken in this same pass. */
	lanes->n = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t created = (uint64_t)json_integer_value(json_object_get(t[i].e, "created"));
		json_int_t tries = json_integer_value(json_object_get(t[i].e, "attempts"));
		int li = s_lane(lanes, json_string_value(json_object_get(t[i].e, "lane")));
		struct outcome *c = &oc[all.n];
		enum outbox_result res;

		if (li >= 0 && lanes->blocked[li])
			continue;
		c->t = &t[i];
		res = o->ops.deliver(o->ops.arg, t[i].e, c->error, sizeof(c->error));
		now = hlc_wall_ms();
		if (res == OUTBOX_SENT) {
			c->gone = 1;
			atomic_fetch_add(&o->sent, 1);
		} else if (res == OUTBOX_DROP) {
			c->gone = 1;
		} else if (now - created > o->ops.give_up_ms) {
			c->gone = 1;
			log_warnx(o->name, "giving up on an entry after %lld attempts: %s",
			          (long long)tries + 1, c->error);
		} else {
			c->next_at = now + s_backoff(&o->ops, tries);
			if (li >= 0)
				lanes->blocked[li] = 1;
			if (c->next_at < *next)
				*next = c->next_at;
		}
		all.n++;
	}
	/* One commit for the pass: the outcomes and what the channel keeps. */
	if (all.n) {
		rc = store_write(o->st, s_outcomes_fn, &all);
		if (rc != 0) {
			log_warnx(o->name, "cannot update the outbox: %s", store_strerror(rc));
			/* Nothing recorded: what went is sent again (at least once). */
			*next = now + 1000;
		}
		if (o->ops.flushed)
			o->ops.flushed(o->ops.arg, rc == 0);
	}
	for (size_t i = 0; i < n; i++)
		json_decref(t[i].e);
	if (n == BATCH)
		*next = now; /* more may be due */
	free(oc);
	free(lanes);
}

static void *
s_worker(void *arg)
{
	struct outbox *o = arg;
	uint64_t next_tick = 0;
	char name[16];

	/* Its CPU apart from the main thread's in top -H, perf and latency
	 * benchmarks: cpt-hook, cpt-mail, cpt-unposted. */
	snprintf(name, sizeof(name), "cpt-%.11s", o->name);
	pthread_setname_np(pthread_self(), name);
	pthread_mutex_lock(&o->mu);
	while (!o->stop) {
		uint64_t now, next, wait;
		int kicked = o->kicked;
		struct timespec ts;

		o->kicked = 0;
		pthread_mutex_unlock(&o->mu);
		now = hlc_wall_ms();
		if (o->ops.tick && (kicked || now >= next_tick))
			next_tick = o->ops.tick(o->ops.arg, now);
		s_deliver(o, now, &next);
		now = hlc_wall_ms();
		wait = o->ops.poll_ms ? o->ops.poll_ms : 1000;
		if (next_tick > now && next_tick - now < wait)
			wait = next_tick - now;
		if (next > now && next - now < wait)
			wait = next - now;
		else if (next <= now)
			wait = 10;
		cpt_deadline(&ts, wait);
		pthread_mutex_lock(&o->mu);
		while (!o->stop && !o->kicked) {
			if (pthread_cond_timedwait(&o->cv, &o->mu, &ts) == ETIMEDOUT)
				break;
		}
	}
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

int
outbox_start(outbox_t **out, store_t *st, const outbox_ops_t *ops, char *err, size_t errlen)
{
	struct outbox *o;

	assert(out != NULL && st != NULL && ops != NULL && ops->name != NULL &&
	       ops->deliver != NULL);
	*out = NULL;
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	o->st = st;
	o->ops = *ops;
	snprintf(o->name, sizeof(o->name), "%s", ops->name);
	o->ops.name = o->name;
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->cv, NULL);
	if (pthread_create(&o->th, NULL, s_worker, o) != 0) {
		snprintf(err, errlen, "cannot start the %s worker", o->name);
		pthread_mutex_destroy(&o->mu);
		pthread_cond_destroy(&o->cv);
		free(o);
		return -1;
	}
	*out = o;
	return 0;
}

void
outbox_kick(outbox_t *o)
{
	if (o == NULL)
		return;
	pthread_mutex_lock(&o->mu);
	o->kicked = 1;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
}

uint64_t
outbox_sent(outbox_t *o)
{
	return o ? atomic_load(&o->sent) : 0;
}

void
outbox_stop(outbox_t **self_p)
{
	struct outbox *o;

	if (self_p == NULL || (o = *self_p) == NULL)
		return;
	pthread_mutex_lock(&o->mu);
	o->stop = 1;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
	pthread_join(o->th, NULL);
	pthread_mutex_destroy(&o->mu);
	pthread_cond_destroy(&o->cv);
	free(o);
	*self_p = NULL;
}
