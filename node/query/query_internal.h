/*
 * Shared by the files of node/query/. Not for other folders.
 */
#ifndef COMPTOIR_QUERY_INTERNAL_H
#define COMPTOIR_QUERY_INTERNAL_H

#include "node/index/index.h"
#include "node/query/query.h"

/* Adds what a post or comment shows of its author, read now from the key
 * record and the profile: "author_site", the home site, and "author_name",
 * the profile's name, or null, and "author_bot", true for a service
 * account (feed.c). */
void q_author_extra(store_txn_t *txn, json_t *obj, const uint8_t key[CPT_KEY_LEN],
                    const char *handle);
/* The same for a post view, whose author is "author_key" and "author";
 * returns post (NULL stays NULL). */
json_t *q_post_extra(store_txn_t *txn, json_t *post);
/* q_post_extra, or with lean set post as it is (the lean views). */
json_t *q_post_extra_as(store_txn_t *txn, json_t *post, int lean);
/* Appends to out the stored view v of the post under tsid (ts(8) id(32)) in
 * DB_FEED, or in space's DB_SPACE_FEED (space not NULL), as the API shows
 * it (index_view_json) with "space_name" (label, when not NULL) and what
 * q_post_extra adds: the same bytes as json_dumps(JSON_COMPACT) of the view,
 * labelled and passed through q_post_extra, the author's part kept between
 * reads. comma: a "," goes first. 1 when appended, 0 when the view is not
 * one (skipped). */
int q_view_text(store_txn_t *txn, query_text_t *out, const uint8_t *space,
                const uint8_t tsid[STORE_TSID_LEN], const store_val_t *v, const json_t *label,
                int comma);

/* ------------------------------------- the figures walk (figures.c) */

#define QUERY_DAY_MS  86400000ULL
#define QUERY_WEEK_MS (7 * QUERY_DAY_MS)

struct rep;

/* One walk over the events of a period: the figures (query_figures) and the
 * report (report.c, which adds its counters through rep) count with the same
 * code, so that the workbook's numbers are the figures' numbers. */
struct fig {
	store_txn_t *txn;
	json_t *who;      /* author hex -> [site, handle] (or null: unknown key) */
	json_t *post_who; /* post hex -> [site, handle] of its author (or null) */
	json_t *sites;  /* site -> {"staff", "posts", "comments", "reactions", "seen": {handle}} */
	json_t *pairs;  /* "from\nto" -> {"from", "to", "comments", "reactions"} */
	json_t **weeks; /* per week, oldest first: {"posts", ..., "seen": {handle}} */
	size_t nweeks;  /* 7-day windows ending at now_ms; the oldest cut at from_ms */
	uint64_t from_ms; /* start of the period */
	uint64_t now_ms;  /* its end (events of a clock ahead count in the last week) */
	uint64_t to_ms;   /* events at or after it are left out (UINT64_MAX: none) */
	struct rep *rep;  /* the report's own counters (report.c), or NULL */
};

/* Fills f (txn, nweeks, from_ms, now_ms, to_ms and rep set by the caller):
 * the sites, their staff, then every event from from_ms to to_ms. 0 or a
 * CPT_ code; q_fig_free in both cases. */
int q_fig_walk(struct fig *f) CPT_WUR;
void q_fig_free(struct fig *f);
/* Counters {"staff", "posts", "comments", "reactions", "seen": {}}. */
json_t *q_fig_counters(void);
/* Adds n to the integer field of o. */
void q_fig_add(json_t *o, const char *field, json_int_t n);
/* Counts one event of what ("posts"...; NULL: none, a sealed event) by
 * handle in counters c, and handle as active there. */
void q_fig_count(json_t *c, const char *what, const char *handle);
/* The counters of site, made on first use (borrowed from f). */
json_t *q_fig_site(struct fig *f, const char *site);
/* [site, handle] of a user key (borrowed from f), or NULL. */
json_t *q_fig_who(struct fig *f, const uint8_t key[CPT_KEY_LEN]);
/* {"posts", "comments", "reactions", "active"} of counters c, with "staff". */
json_t *q_fig_out(json_t *c, int with_staff);
/* f->sites as [{"site", counts...}] (name_site) or f->pairs as they are,
 * sorted by name. */
json_t *q_fig_sorted(json_t *o, int name_site);
/* f->weeks as the API shows them. */
json_t *q_fig_weeks(struct fig *f);
/* query_figures_spaces's lines, their posts_recent and active_members
 * counted from since up to (not including) until. */
json_t *q_fig_spaces(store_txn_t *txn, uint64_t since, uint64_t until);
/* The report's part of one member of the staff, by handle (report.c). */
void q_report_staff(struct fig *f, const char *handle);
/* The report's part of one event (report.c): w the author's [site, handle],
 * body its body or NULL, post_w the [site, handle] of the post a comment or
 * a reaction answers, or NULL. A sealed event (kind 14) makes its author
 * active in their site's month and department, nothing more. */
void q_report_event(struct fig *f, const uint8_t id[CPT_ID_LEN], const evt_t *ev, uint16_t kind,
                    json_t *w, json_t *body, json_t *post_w);

#endif
