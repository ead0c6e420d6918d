/*
 * The data of the management workbook (GET /api/reports/workbook.xlsx,
 * `comptoir report`): the figures of a period counted by the same walk as
 * GET /api/figures (figures.c), plus adoption per month, departments,
 * exchange between departments and the questions asked and answered.
 *
 * A pure read and a function of the event set, as the figures are: sites
 * holding the same events give the same data. Nothing here names a person.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/query/query_internal.h"

struct rep {
	int mfirst;          /* year * 12 + month (0-11) of the period's first month */
	size_t nmonths;      /* months the period touches */
	json_t *site_months; /* site -> [counters per month] */
	json_t *dept_of;     /* handle -> department ("" for none) */
	json_t *depts;       /* department -> counters, with "staff" */
	json_t *dept_months; /* department -> [counters per month] */
	json_t *dpairs;      /* "from\nto" -> {"from", "to", "comments", "reactions"} */
	json_t *questions;   /* post hex -> {"site", "handle", "dept", "ms", "answered"} */
	json_t *q_sites;     /* site -> {"asked", "answered"} */
	json_int_t asked, answered, other_site, other_dept;
	uint64_t *delays; /* ms from each answered question to its first answer */
	size_t ndelays, cap;
};

static int
s_month(uint64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	return (tm.tm_year + 1900) * 12 + tm.tm_mon;
}

/* The department of handle in its profile now ("" when none), borrowed. */
static const char *
s_dept(struct fig *f, const char *handle)
{
	json_t *d = json_object_get(f->rep->dept_of, handle);

	if (d == NULL) {
		json_t *prof = store_get_json(f->txn, DB_PROFILES, handle, strlen(handle));
		const char *v = json_string_value(
		    json_object_get(json_object_get(prof, "fields"), "department"));
		d = json_string(v ? v : "");
		json_decref(prof);
		if (d == NULL || json_object_set_new(f->rep->dept_of, handle, d) != 0)
			return "";
	}
	return json_string_value(d);
}

/* The counters of key in o (made on first use), a single set or one per
 * month. */
static json_t *
s_get(json_t *o, const char *key, size_t months)
{
	json_t *c = json_object_get(o, key);

	if (c != NULL)
		return c;
	if (months == 0)
		c = q_fig_counters();
	else if ((c = json_array()) != NULL)
		for (size_t i = 0; i < months; i++)
			json_array_append_new(c, q_fig_counters());
	if (c && json_object_set_new(o, key, c) != 0)
		return NULL;
	return c;
}

void
q_report_staff(struct fig *f, const char *handle)
{
	json_t *d = s_get(f->rep->depts, s_dept(f, handle), 0);

	if (d)
		q_fig_add(d, "staff", 1);
}

/* Does a post ask? A "question" flag set in the composer, or a question
 * mark in its text. */
static int
s_asks(const json_t *body)
{
	const char *text = json_string_value(json_object_get(body, "text"));

	return json_is_true(json_object_get(body, "question")) || (text && strchr(text, '?'));
}

void
q_report_event(struct fig *f, const uint8_t id[CPT_ID_LEN], const evt_t *ev, uint16_t kind,
               json_t *w, json_t *body, json_t *post_w)
{
	struct rep *r = f->rep;
	const char *what = kind == EVT_POST       ? "posts"
	                   : kind == EVT_COMMENT  ? "comments"
	                   : kind == EVT_REACTION ? "reactions"
	                                          : NULL; /* sealed: its author active */
	const char *site = json_string_value(json_array_get(w, 0));
	const char *handle = json_string_value(json_array_get(w, 1));
	const char *dept = s_dept(f, handle);
	uint64_t ms = HLC_MS(ev->ts);
	int m = s_month(ms) - r->mfirst;
	json_t *c;
	char hex[CPT_HEX_ID];

	if (m < 0 || (size_t)m >= r->nmonths)
		m = m < 0 ? 0 : (int)r->nmonths - 1; /* a clock ahead: the last month */
	if ((c = s_get(r->site_months, site, r->nmonths)) != NULL)
		q_fig_count(json_array_get(c, (size_t)m), what, handle);
	if ((c = s_get(r->depts, dept, 0)) != NULL)
		q_fig_count(c, what, handle);
	if ((c = s_get(r->dept_months, dept, r->nmonths)) != NULL)
		q_fig_count(json_array_get(c, (size_t)m), what, handle);
	if (what == NULL)
		return;
	if (kind == EVT_POST) {
		json_t *q, *qs;
		if (body == NULL || !s_asks(body))
			return;
		cpt_hex32(hex, id);
		q = json_pack("{s:s, s:s, s:s, s:I, s:b}", "site", site, "handle", handle, "dept",
		              dept, "ms", (json_int_t)ms, "answered", 0);
		if (q == NULL || json_object_set_new(r->questions, hex, q) != 0)
			return;
		r->asked++;
		if ((qs = json_object_get(r->q_sites, site)) == NULL &&
		    (qs = json_pack("{s:i, s:i}", "asked", 0, "answered", 0)) != NULL)
			json_object_set_new(r->q_sites, site, qs);
		if (qs)
			q_fig_add(qs, "asked", 1);
		return;
	}
	if (post_w == NULL)
		return;
	{
		/* Between departments, as between sites: staff of one answering a
		 * post of another. */
		const char *to = s_dept(f, json_string_value(json_array_get(post_w, 1)));
		char k[2 * EVT_MAX_FIELD + 2];
		json_t *pair;
		if (strcmp(to, dept) != 0) {
			snprintf(k, sizeof(k), "%s\n%s", dept, to);
			if ((pair = json_object_get(r->dpairs, k)) == NULL &&
			    (pair = json_pack("{s:s, s:s, s:i, s:i}", "from", dept, "to", to,
			                      "comments", 0, "reactions", 0)) != NULL)
				json_object_set_new(r->dpairs, k, pair);
			if (pair)
				q_fig_add(pair, what, 1);
		}
	}
	if (kind == EVT_COMMENT) {
		/* The first comment by someone else answers a question asked in
		 * the period (the walk is in time order: it was seen before). */
		uint8_t post[CPT_ID_LEN];
		json_t *q;
		uint64_t at;
		if (index_hex_field(body, "post", post) != 0)
			return;
		cpt_hex32(hex, post);
		if ((q = json_object_get(r->questions, hex)) == NULL ||
		    json_is_true(json_object_get(q, "answered")) ||
		    strcmp(json_string_value(json_object_get(q, "handle")), handle) == 0)
			return;
		json_object_set_new(q, "answered", json_true());
		r->answered++;
		q_fig_add(
		    json_object_get(r->q_sites, json_string_value(json_object_get(q, "site"))),
		    "answered", 1);
		if (strcmp(json_string_value(json_object_get(q, "site")), site) != 0)
			r->other_site++;
		if (strcmp(json_string_value(json_object_get(q, "dept")), dept) != 0)
			r->other_dept++;
		at = (uint64_t)json_integer_value(json_object_get(q, "ms"));
		if (r->ndelays == r->cap) {
			size_t cap = r->cap ? 2 * r->cap : 64;
			uint64_t *d = realloc(r->delays, cap * sizeof(*d));
			if (d == NULL)
				return;
			r->delays = d;
			r->cap = cap;
		}
		r->delays[r->ndelays++] = ms > at ? ms - at : 0;
	}
}

static int
s_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* [{name_key: key, "months": [{"posts", ..., "active"}]}] sorted by key
 * (object keys come in hash order: sorted, the output is a function of the
 * event set). */
static json_t *
s_by_month(json_t *o, const char *name_key, json_t *totals)
{
	const char **keys = calloc(json_object_size(o) + 1, sizeof(*keys));
	json_t *out = json_array(), *v;
	const char *k;
	size_t n = 0;

	if (keys == NULL || out == NULL) {
		free(keys);
		json_decref(out);
		return NULL;
	}
	json_object_foreach (o, k, v)
		keys[n++] = k;
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
			const char *t = keys[j];
			keys[j] = keys[j - 1];
			keys[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		json_t *months = json_array(), *row, *c;
		size_t m;
		json_array_foreach (json_object_get(o, keys[i]), m, c)
			json_array_append_new(months, q_fig_out(c, 0));
		row = totals ? q_fig_out(json_object_get(totals, keys[i]), 1) : json_object();
		if (row) {
			json_object_set_new(row, name_key, json_string(keys[i]));
			json_object_set_new(row, "months", months);
			json_array_append_new(out, row);
		} else {
			json_decref(months);
		}
	}
	free(keys);
	return out;
}

json_t *
query_report(store_txn_t *txn, uint64_t from_ms, uint64_t to_ms)
{
	struct rep r = {0};
	struct fig f = {.txn = txn, .rep = &r}, prev = {.txn = txn};
	json_t *out = NULL, *months = NULL, *depts = NULL, *qsites = NULL, *prevt = NULL, *x;
	json_t *spaces = NULL;
	uint64_t len = to_ms - from_ms;
	const char *k;
	size_t i;

	assert(txn != NULL);
	if (from_ms >= to_ms || len > (uint64_t)QUERY_REPORT_MAX_DAYS * QUERY_DAY_MS)
		return NULL;
	r.mfirst = s_month(from_ms);
	r.nmonths = (size_t)(s_month(to_ms - 1) - r.mfirst + 1);
	r.site_months = json_object();
	r.dept_of = json_object();
	r.depts = json_object();
	r.dept_months = json_object();
	r.dpairs = json_object();
	r.questions = json_object();
	r.q_sites = json_object();
	if (!r.site_months || !r.dept_of || !r.depts || !r.dept_months || !r.dpairs ||
	    !r.questions || !r.q_sites)
		goto done;
	f.from_ms = from_ms;
	f.now_ms = f.to_ms = to_ms;
	f.nweeks = (size_t)((len + QUERY_WEEK_MS - 1) / QUERY_WEEK_MS);
	prev.from_ms = from_ms > len ? from_ms - len : 0; /* a period from 1970 has a short one */
	prev.now_ms = prev.to_ms = from_ms;
	if (q_fig_walk(&f) != 0 || q_fig_walk(&prev) != 0)
		goto done;
	/* Every site has its months, those without activity too. */
	json_object_foreach (f.sites, k, x)
		if (s_get(r.site_months, k, r.nmonths) == NULL)
			goto done;
	json_object_foreach (r.depts, k, x)
		if (s_get(r.dept_months, k, r.nmonths) == NULL)
			goto done;
	/* The previous period's totals, for the trend. */
	prevt = json_pack("{s:I, s:I, s:i, s:i, s:i, s:i}", "from", (json_int_t)prev.from_ms, "to",
	                  (json_int_t)prev.to_ms, "active", 0, "posts", 0, "comments", 0,
	                  "reactions", 0);
	json_object_foreach (prev.sites, k, x) {
		json_t *o = q_fig_out(x, 0);
		const char *fk;
		json_t *fv;
		json_object_foreach (o, fk, fv)
			q_fig_add(prevt, fk, json_integer_value(fv));
		json_decref(o);
	}
	months = json_array();
	for (i = 0; months && i < r.nmonths; i++) {
		char m[24];
		int ym = r.mfirst + (int)i;
		snprintf(m, sizeof(m), "%04d-%02d", ym / 12, ym % 12 + 1);
		json_array_append_new(months, json_string(m));
	}
	depts = s_by_month(r.dept_months, "department", r.depts);
	qsites = json_array();
	{
		json_t *sorted = q_fig_sorted(f.sites, 1);
		json_array_foreach (sorted, i, x) {
			const char *site = json_string_value(json_object_get(x, "site"));
			json_t *qs = json_object_get(r.q_sites, site);
			json_array_append_new(
			    qsites,
			    json_pack("{s:s, s:I, s:I}", "site", site, "asked",
			              json_integer_value(json_object_get(qs, "asked")), "answered",
			              json_integer_value(json_object_get(qs, "answered"))));
		}
		json_decref(sorted);
	}
	/* A workbook travels (forwarded, attached to mail): no private space
	 * is named in it, whoever asked for it. */
	if ((spaces = q_fig_spaces(txn, from_ms, to_ms)) == NULL)
		goto done;
	query_figures_spaces_for(txn, spaces, NULL, NULL);
	if (r.ndelays > 1)
		qsort(r.delays, r.ndelays, sizeof(*r.delays), s_cmp_u64);
	out = json_pack(
	    "{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:o, s:o}}",
	    "from", (json_int_t)from_ms, "to", (json_int_t)to_ms, "sites", q_fig_sorted(f.sites, 1),
	    "exchange", q_fig_sorted(f.pairs, 0), "weeks", q_fig_weeks(&f), "previous", prevt,
	    "months", months, "adoption", s_by_month(r.site_months, "site", NULL), "departments",
	    depts, "department_exchange", q_fig_sorted(r.dpairs, 0), "questions", "asked", r.asked,
	    "answered", r.answered, "answered_other_site", r.other_site,
	    "answered_other_department", r.other_dept, "median_answer_ms",
	    r.ndelays
	        ? json_integer(
	              (json_int_t)((r.delays[(r.ndelays - 1) / 2] + r.delays[r.ndelays / 2]) / 2))
	        : json_null(),
	    "sites", qsites);
	if (out) {
		int bad = json_object_set_new(out, "spaces", spaces) != 0;
		spaces = NULL; /* taken, even on a failure */
		if (bad) {
			json_decref(out);
			out = NULL;
		}
	}
	prevt = months = depts = qsites = NULL;
done:
	json_decref(prevt);
	json_decref(months);
	json_decref(depts);
	json_decref(qsites);
	json_decref(spaces);
	q_fig_free(&f);
	q_fig_free(&prev);
	json_decref(r.site_months);
	json_decref(r.dept_of);
	json_decref(r.depts);
	json_decref(r.dept_months);
	json_decref(r.dpairs);
	json_decref(r.questions);
	json_decref(r.q_sites);
	free(r.delays);
	return out;
}
