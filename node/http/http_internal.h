/*
 * Shared by the files of node/http/: server.c (starting, requests),
 * reply.c (replies, guards, arguments, publishing), routes.c (the routing
 * table), body.c (the bodies' checks), one api_*.c per group of calls,
 * stream.c, assets.c, guard.c (connections, Host, framing, proxies) and
 * tls.c (HTTPS and the redirect port). Not for other folders (the fuzz
 * target of request bodies excepted: it runs body.c's checks).
 */
#ifndef COMPTOIR_HTTP_INTERNAL_H
#define COMPTOIR_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <microhttpd.h>

#include "node/event/event.h"
#include "node/http/http.h"
#include "node/index/index.h"
#include "node/query/query.h"

/* One client address in the login rate limiter, or one person in the write
 * limiter ("w:" and 32 hex digits of their key): a token bucket. */
struct http_rl {
	char addr[48];    /* the client address as text, "" = free slot */
	double tokens;    /* attempts left, refilled at the limit's rate per minute */
	uint64_t last_ms; /* when tokens was last refilled */
};

#define HTTP_RL_SLOTS 4096 /* addresses remembered; the stalest is reused */

/* GET /api/figures walks every event of the period (~4 µs each): answers are
 * kept a minute per period, and one computation runs at a time. */
#define HTTP_FIG_SLOTS      8
#define HTTP_FIG_MAX_AGE_MS 60000

/* One open connection, in the table of http_guard.c (PITFALLS 25). */
struct http_conn {
	struct MHD_Connection *conn; /* the connection; NULL: free slot */
	http_t *h;                   /* the server whose table holds it */
	int fd;                      /* its socket: shut down when its deadline passes */
	int family;                  /* AF_INET (IPv4-mapped IPv6 too) or AF_INET6 */
	uint8_t addr[16];            /* the peer's address, 4 or 16 bytes */
	int proxy;                   /* the peer is one of trusted_proxies */
	uint64_t since_ms;           /* monotonic: when its current request began */
	int stream;                  /* an event stream: no deadline, counted per person */
	uint8_t person[CPT_KEY_LEN]; /* the stream's person */
	int cut;                     /* shut down by the deadline; closing */
};

#define HTTP_MAX_NAMES 64 /* host names answered: http_names, certificate, bind */

/* Counters of the front door, for /metrics. */
struct http_door_stats {
	atomic_ullong refused_full;    /* connections refused: max_connections reached */
	atomic_ullong refused_address; /* refused: max_connections_per_address reached */
	atomic_ullong refused_direct;  /* refused: plain HTTP from outside loopback/proxies */
	atomic_ullong cut_deadline;    /* cut: request_timeout passed */
	atomic_ullong bad_host;        /* requests answered 421/400 for their Host */
	atomic_ullong bad_framing;     /* requests answered 400/501 for their framing */
	atomic_ullong streams_refused; /* streams answered 429: max_streams_per_person */
};

struct http {
	node_t *node;               /* the node served (not owned) */
	fed_t *fed;                 /* its federation, for status and metrics (not owned) */
	_Atomic(search_t *) search; /* the search index (not owned), NULL until set */
	_Atomic(hooks_t *) hooks;   /* the webhooks (not owned), NULL until set */
	store_t *st;                /* its store (not owned) */
	sess_table_t *sess;         /* login sessions (not owned) */
	struct MHD_Daemon *mhd;     /* the server */
	unsigned port;              /* the port bound */
	atomic_int stopping;        /* set by http_stop: streams end */
	char site[CFG_MAX_STR];     /* site name, copied: a config reload must not race */
	uint32_t max_body;          /* largest request body */
	uint32_t login_per_minute;  /* login attempts per address per minute */
	uint32_t writes_per_minute; /* signed writes per person per minute */
	uint32_t writes_burst;      /* writes a person may make at once */
	pthread_mutex_t rl_lock;    /* guards rl */
	struct http_rl *rl;         /* HTTP_RL_SLOTS buckets */
	pthread_mutex_t fig_lock;   /* guards fig; held while figures are computed */
	struct http_fig {
		unsigned days;  /* the period, 0: free slot */
		uint64_t at_ms; /* when computed */
		json_t *json;   /* the answer */
	} fig[HTTP_FIG_SLOTS];  /* figures computed in the last HTTP_FIG_MAX_AGE_MS */

	/* The front door (http_guard.c). */
	pthread_mutex_t conn_lock;   /* guards conns, n_conns, warn_* and reaper_stop */
	pthread_cond_t conn_cond;    /* wakes the reaper to stop (monotonic clock) */
	pthread_t reaper;            /* cuts requests past their deadline */
	int reaper_started;          /* reaper must be joined */
	int reaper_stop;             /* tells the reaper to end */
	struct http_conn *conns;     /* max_conns slots */
	unsigned n_conns;            /* slots in use */
	unsigned max_conns;          /* limits.max_connections */
	unsigned per_address;        /* limits.max_connections_per_address */
	unsigned streams_per_person; /* limits.max_streams_per_person */
	uint64_t deadline_ms;        /* limits.request_timeout, in ms */
	uint64_t warn_ms;            /* when the last refusal or cut was logged */
	unsigned warn_skipped;       /* refusals and cuts not logged since */
	int plain_restricted;        /* plain HTTP off loopback: loopback and proxies only */
	size_t n_proxies;            /* trusted_proxies */
	cfg_net_t proxies[CFG_MAX_PROXIES];
	size_t n_names;                          /* names: host names this node answers to */
	char names[HTTP_MAX_NAMES][CFG_MAX_STR]; /* lowercase; "*.x" from certificates */
	struct http_door_stats door;             /* counters */

	/* HTTPS (http_tls.c). */
	int tls;                     /* the main port speaks TLS */
	char *tls_cert;              /* PEM, kept while the daemon runs */
	char *tls_key;               /* PEM, wiped when freed */
	unsigned hsts_max_age;       /* tls.hsts_max_age */
	struct MHD_Daemon *redirect; /* the plain port answering 308 to https, or NULL */
	unsigned redirect_port;      /* its port */
	/* Files (api_files.c). */
	blob_store_t *bs;      /* the blob store (not owned), NULL until http_set_blobs */
	uint32_t max_file_mb;  /* limits.max_file_mb */
	uint32_t max_blobs_gb; /* limits.max_blobs_gb */
	uint32_t unposted_ttl; /* limits.unposted_ttl: an upload never posted goes after it, s */
	int allow_other;       /* files of no listed type are taken as octet-stream (off) */
};

/* One request: the body being received, then what the handler learnt. */
typedef struct http_req {
	http_t *h;                      /* the server */
	struct MHD_Connection *conn;    /* the connection */
	const char *url;                /* path, unescaped, no query */
	const char *method;             /* "GET", ... */
	char *body;                     /* the request body (NUL-terminated) */
	size_t len;                     /* its length */
	size_t cap;                     /* bytes allocated */
	uint64_t discarded;             /* bytes dropped beyond max_body */
	int too_big;                    /* the body went over max_body */
	int queued;                     /* a response was queued */
	int has_sess;                   /* sess and token are valid */
	char token[SESS_TOKEN_LEN + 1]; /* the session cookie */
	sess_info_t sess;               /* the session (or what the API token acts as) */
	int via_token;                  /* sess came from an API token, not a cookie */
	tok_info_t tok;                 /* that token (api_tokens.c) */
	char bearer[TOK_LEN + 1];       /* the token itself: never logged, wiped at the end */
	char v1url[512];                /* /api/v1/X read as /api/X (url then points here) */
	char addr[48];                  /* client address as text */
	int https;                      /* came over TLS, here or at a trusted proxy */
	struct http_upload *up;         /* POST /api/files: the upload being streamed, or NULL */
} http_req_t;

/* The session cookie's name. */
#define HTTP_COOKIE "comptoir_session"

/* Adds the headers every answer carries (and HSTS over HTTPS) to resp. */
void http_add_common(http_req_t *r, struct MHD_Response *resp);
/* Queues an answer of len bytes at data (type: its Content-Type, or NULL;
 * mode: libmicrohttpd's memory mode; hdr: NULL-terminated name, value
 * pairs, or NULL) with the common headers, and counts it. Returns 0. */
int http_queue(http_req_t *r, unsigned status, const char *type, const void *data, size_t len,
               enum MHD_ResponseMemoryMode mode, const char *const *hdr);

/* Replies. Each queues one response with the common headers, counts it,
 * and returns 0. json is stolen (decref'd) in every case. */
int http_reply(http_req_t *r, unsigned status, json_t *json);
/* The same for JSON written as text (the feeds, spliced from stored views):
 * t is sent and freed (query_text_free); a t that ran out of memory is a
 * 500 as http_reply's. */
int http_reply_text(http_req_t *r, unsigned status, query_text_t *t);
/* {"error": message, "code": the status's code ("not_found", ...)}, plus
 * "field": field when field is not NULL. */
int http_error(http_req_t *r, unsigned status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same with a code of its own: a stable snake_case word the UI
 * translates ("too_long", "user_exists"; docs/API.md lists them), the
 * message staying the English fallback; params (stolen, may be NULL) adds
 * its members, such as "max", beside the others. */
int http_fail(http_req_t *r, unsigned status, const char *code, const char *field, json_t *params,
              const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* A reply with extra headers: hdr is a NULL-terminated list of name, value. */
int http_reply_hdr(http_req_t *r, unsigned status, json_t *json, const char *const *hdr);

/* Guards of a call: each returns 1 when the request may go on, or queues
 * the error reply (401, 403, 415, 400) and returns 0. */
int http_need_session(http_req_t *r);
/* The same without an answer: 1 when the request has a session, 0 when it
 * has none (or it ended), -1 when the store could not be read. */
int http_has_session(http_req_t *r);
/* A session and, for a state-changing method, the right X-CSRF-Token; a
 * request with an API token needs none (a page of another site cannot make
 * a browser send an Authorization header here: no CORS is answered). */
int http_need_csrf(http_req_t *r);
/* The body as a JSON object sent as application/json: new reference in *out. */
int http_need_json(http_req_t *r, json_t **out);
/* Parses a request body as every call does: JSON, no duplicate key, an
 * object. A new reference, or NULL with the reason (valid UTF-8) in why. */
json_t *http_parse_body(const char *buf, size_t len, char *why, size_t wl);
/* Cuts s at the end of its last whole UTF-8 character: a message cut by
 * snprintf must still go out as a JSON string. */
void http_utf8_trim(char *s);

/* The calls whose body api_body_check knows (body.c). */
enum api_body {
	API_LOGIN,    /* POST /api/login */
	API_POST,     /* POST /api/posts */
	API_EDIT,     /* PATCH /api/posts/ID and /api/comments/ID */
	API_COMMENT,  /* POST /api/posts/ID/comments */
	API_REACTION, /* POST /api/posts/ID/reactions */
	API_PROFILE,  /* PUT /api/profile */
	API_PASSWORD, /* POST /api/me/password */
	API_BODY_COUNT
};
/* Why api_body_check refused a body. */
typedef struct api_refusal {
	const char *field;  /* the field at fault, or NULL; borrowed from the body or static */
	const char *code;   /* the stable code the UI translates (docs/API.md): unknown_field,
	                       wrong_type, too_short, too_long, empty, bad_request; static */
	long long min, max; /* the bounds the field broke (too_short, too_long), else -1 */
	char why[256];      /* the message in English, valid UTF-8 */
} api_refusal_t;
/* The body checks of a call, made on a parsed body before anything is
 * signed. 0, or CPT_EINVAL with out filled in. */
int api_body_check(enum api_body call, const json_t *body, api_refusal_t *out) CPT_WUR;
/* The body of the event a call signs once api_body_check passed, its kind
 * in *kind; post is the hex id of the post the call names (or NULL). A new
 * reference, NULL for API_LOGIN or when memory is short. */
json_t *api_body_event(enum api_body call, const json_t *body, const char *post, uint16_t *kind);

/* The login rate limiter: 1 when addr may try now, else 0 and *retry_s. */
int http_login_allowed(http_t *h, const char *addr, unsigned *retry_s);
/* May the person of key sign one more write now (limits.writes_per_minute,
 * limits.writes_burst)? 1, or 0 with *retry_s the seconds until one may. */
int http_write_allowed(http_t *h, const uint8_t key[CPT_KEY_LEN], unsigned *retry_s);
/* The same for one API token (public id): half the person's rate and burst. */
int http_token_write_allowed(http_t *h, const char *id, unsigned *retry_s);
/* 429 with Retry-After: too many attempts from this address or on this
 * account. Returns 0. */
int http_too_many(http_req_t *r, unsigned retry, const char *msg);

/* A read transaction for the call: 1, or replies 500 and returns 0. */
int http_read_begin(http_req_t *r, store_txn_t **txn);
/* Signs body as kind with the session's key and ingests it (no read
 * transaction may be open: the write may wait for the map to grow, which
 * waits for readers). 1 when it was stored (res->id is the event), or
 * replies (401, 403, 400, 507, 500 with what went wrong) and returns 0. */
int http_publish(http_req_t *r, uint16_t kind, const json_t *body, ingest_res_t *res);
/* Signs body as kind with the caller's key (session or token) without
 * ingesting it: *out the caller's to free. 0 or an error (nothing answered). */
int http_sign(http_req_t *r, uint16_t kind, const json_t *body, uint8_t **out, size_t *out_len);
/* A decimal query argument in lo..hi; def when absent; -1 when bad. */
long http_query_int(http_req_t *r, const char *name, long def, long lo, long hi);
/* The "before" cursor (80 hex: ts, id) into cur: 1 when absent (*has = 0)
 * or good (*has = 1); replies 400 and returns 0 when bad. */
int http_query_cursor(http_req_t *r, uint8_t cur[40], int *has);
/* A body that fails api_body_check is answered 400 with its code, naming
 * the field and the bounds it broke: 1 when the body passes, else 0. */
int http_body_ok(http_req_t *r, enum api_body call, const json_t *body);

/* The search index, or NULL after replying 503 (search.c is starting or
 * could not open its file). */
search_t *http_need_search(http_req_t *r);

/* Routes a request to its call (routes.c); the web UI's files otherwise
 * (http_asset). */
void http_route(http_req_t *r);
int http_asset(http_req_t *r);

/* Parses 64 lowercase hex digits; 0 or -1. */
int http_parse_id(uint8_t out[CPT_ID_LEN], const char *s, size_t len);

/* The calls, one file per group. Each answers the request. */
/* api_auth.c */
int api_login(http_req_t *r);
int api_logout(http_req_t *r);
int api_me(http_req_t *r);
/* API tokens (api_tokens.c). */
int api_tokens_list(http_req_t *r);
int api_tokens_create(http_req_t *r);
int api_tokens_revoke(http_req_t *r, const char *id);
/* Service accounts (api_tokens.c): the bots I own and their tokens, a bot
 * added by a site admin, a token of my bot (argument: its handle). */
int api_bots_list(http_req_t *r);
int api_bots_add(http_req_t *r);
int api_bots_token(http_req_t *r, const char *bot);
/* Outgoing webhooks (api_hooks.c): the argument is a webhook id. */
int api_hooks_list(http_req_t *r);
int api_hooks_create(http_req_t *r);
int api_hooks_get(http_req_t *r, const char *id);
int api_hooks_edit(http_req_t *r, const char *id);
int api_hooks_delete(http_req_t *r, const char *id);
int api_hooks_test(http_req_t *r, const char *id);
/* GET /api/openapi.json (assets.c). */
int api_openapi(http_req_t *r);
/* Route i of the routing table (for GET /api/openapi.json and its test):
 * its path pattern, method and scope, or NULL past the end. */
const char *http_route_pattern(size_t i, const char **method, unsigned *scope);
int api_session(http_req_t *r);
int api_me_password(http_req_t *r);
/* api_posts.c */
int api_post_create(http_req_t *r);
int api_feed(http_req_t *r);
int api_post_get(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_post_edit(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_post_delete(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_comment_create(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_comments(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_comment_edit(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_comment_delete(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_reaction_set(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
/* api_spaces.c */
int api_spaces(http_req_t *r);
int api_space_create(http_req_t *r);
int api_space_get(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_space_edit(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_space_feed(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_space_figures(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_space_archive(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
/* POST /api/spaces/ID/rotate: a new key period at a member's request. */
int api_space_rotate(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_space_join(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_space_leave(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_space_request(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_space_approve(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_space_decline(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_space_invite(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_space_remove(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_space_promote(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_space_demote(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
/* Publishes body as kind written in space_hex (NULL: company-wide, as
 * http_publish): in clear in an open space (a post gets "space"), sealed as
 * a kind 14 event in a private space or a site space. The caller must be a
 * member. 1 when stored, or replies (404, 403, 409, ...) and returns 0. */
int api_space_publish(http_req_t *r, const char *space_hex, uint16_t kind, const json_t *body,
                      ingest_res_t *res);
/* The same with outer fields (borrowed) added in clear to the sealed event
 * of a private space (a sealed file's "blobs", PROTOCOL.md 18.4); ignored
 * in an open space. */
int api_space_publish_outer(http_req_t *r, const char *space_hex, uint16_t kind, const json_t *body,
                            const json_t *outer, ingest_res_t *res);
/* Whether the caller may write in space_hex (a member, not archived):
 * 1 with space (its id) and *sealed (1 private or a site space, 0 open),
 * or replies (400, 404, 403) and returns 0. */
int api_space_writable(http_req_t *r, const char *space_hex, uint8_t space[CPT_ID_LEN],
                       int *sealed);
/* api_files.c: POST /api/files streams its body (never buffered): server.c
 * calls api_files_is_upload on a request's first call, api_files_begin
 * (checks who and the limits before a byte is stored: 1 to go on, 0 when
 * answered), api_files_data for each piece of the body, the route
 * (api_files_create) at its end, and api_files_done when the request ends
 * in any way (a cut upload is dropped there: nothing half-stored stays). */
int api_files_is_upload(const http_req_t *r);
int api_files_begin(http_req_t *r);
void api_files_data(http_req_t *r, const char *data, size_t n);
int api_files_create(http_req_t *r);
void api_files_done(http_req_t *r);
/* GET /api/files/ID: a blob with the headers of PROTOCOL.md 18.8. */
int api_file_get(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
/* DELETE /api/files/ID: the person's own file event ID is redacted (its
 * blob is erased when no other event names it). */
int api_file_delete(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
/* Redacts file event file when it is a file by author with its body
 * (PROTOCOL.md 18.9: a post's deletion takes its files): 1 when
 * published, 0 when not such an event or the write failed (replied). */
int api_files_redact_of(http_req_t *r, const uint8_t file[CPT_ID_LEN],
                        const uint8_t author[CPT_KEY_LEN]);
/* api_people.c */
int api_people(http_req_t *r);
/* api_search.c */
int api_search(http_req_t *r);
/* The arguments of a search (q, type, site, author, space, department,
 * skill, before, after, order, limit, offset) into q, borrowed from the
 * request: 1, or 0 after replying 400. */
int api_search_args(http_req_t *r, search_q_t *q, long def_limit);
/* Runs q for the session's person and replies 200, 400 or 500. */
int api_search_reply(http_req_t *r, search_t *s, const search_q_t *q);
int api_person(http_req_t *r, const char *handle);
int api_profile_put(http_req_t *r);
/* api_status.c */
int api_status(http_req_t *r);
int api_metrics(http_req_t *r);
int api_figures(http_req_t *r);
/* api_reports.c: the management workbook. */
int api_report_workbook(http_req_t *r);
/* A session whose key has the management or the admin role (read from the
 * key record at each call); else queues 401 or 403 and returns 0. */
int http_need_figures(http_req_t *r);
/* stream.c */
int api_stream(http_req_t *r);
/* api_notify.c: notifications, following, announcements. */
int api_notifications(http_req_t *r);
int api_notifications_count(http_req_t *r);
int api_notifications_read(http_req_t *r);
int api_notifications_mute(http_req_t *r);
int api_prefs_get(http_req_t *r);
int api_prefs_put(http_req_t *r);
int api_follows_get(http_req_t *r);
int api_follows_set(http_req_t *r);
int api_announce(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_announce_ack(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_announcements(http_req_t *r);
/* GET /api/feed?view=foryou (api_feed hands it over). */
int api_feed_foryou(http_req_t *r, const uint8_t *before40, size_t limit);
/* The announcements still pinned for the session's person, newest first
 * (an empty array when they cannot be read): the feed's "pinned". */
json_t *api_feed_pinned(http_req_t *r, store_txn_t *txn);
/* The bell of who (their unread groups), read in txn; -1 on a store error.
 * The event stream sends it when it changes. */
long api_notify_unread(http_t *h, store_txn_t *txn, const sess_info_t *who);
/* The same with who's own state kept in *mine between calls (folded when
 * NULL; the caller drops it when a kind 17 event was stored). */
long api_notify_unread_with(http_t *h, store_txn_t *txn, const sess_info_t *who, json_t **mine);

/* api_admin.c: users of this site. */
int api_admin_users(http_req_t *r);
int api_admin_user_add(http_req_t *r);
int api_admin_user_disable(http_req_t *r, const char *handle);
int api_admin_user_password(http_req_t *r, const char *handle);
int api_admin_user_enable(http_req_t *r, const char *handle);
int api_admin_user_edit(http_req_t *r, const char *handle);

/* ------------------------------------------------ front door (guard.c) */

/* Sets up the connection table and starts the reaper thread, from the
 * limits, trusted_proxies and http_names of cfg. 0, or -1 with err. */
int http_guard_start(http_t *h, const cfg_t *cfg, char *err, size_t errlen);
/* Stops the reaper and frees the table; after every daemon has stopped. */
void http_guard_stop(http_t *h);
/* Adds a host name answered (lowercase, "*.x" allowed); ignored when full. */
void http_guard_add_name(http_t *h, const char *name);

/* libmicrohttpd callbacks, cls = the http_t, for every daemon. accept refuses
 * a connection over max_connections or max_connections_per_address (trusted
 * proxies exempt), or, in plain_restricted mode, from outside loopback and
 * the proxies; notify keeps the table. */
enum MHD_Result http_guard_accept(void *cls, const struct sockaddr *sa, socklen_t len);
void http_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);
/* A request of c ended (its answer sent, or it failed): the deadline of the
 * connection's next request starts now, and a stream is no longer one. */
void http_guard_done(struct MHD_Connection *c);
/* Before a stream opens: 1 when its person has fewer than
 * max_streams_per_person open (the connection then has no deadline), else
 * queues 429 and returns 0. Needs r->sess. */
int http_guard_stream(http_req_t *r);
/* The checks of a new request, before anything else: its framing (one
 * Content-Length, or Transfer-Encoding: chunked alone) and its Host header.
 * 1 when it may go on, else queues 400, 421 or 501 (closing) and returns 0.
 * Sets r->https. */
int http_guard_request(http_req_t *r);
/* The socket of c, or -1. */
int http_guard_fd(struct MHD_Connection *c);
/* Has the client of socket fd closed its side (or the connection failed)?
 * Does not block; 0 for fd -1. */
int http_guard_hung_up(int fd);
/* When the peer of c is a trusted proxy, replaces out (the peer's address)
 * with the client address its X-Forwarded-For names. */
void http_guard_forwarded_for(struct MHD_Connection *c, char out[48]);
/* Is the Host header of c one this node answers to? 1 yes; 0 with the
 * reason in why (for a 421 or 400 reply). name gets the host, lowercase,
 * without port, when one was sent. */
int http_guard_host(http_t *h, struct MHD_Connection *c, char *name, size_t namelen,
                    const char **why, unsigned *status);

/* ---------------------------------------------------- HTTPS (tls.c) */

/* "ADDR:PORT" (IPv4, [IPv6] or a name) into ss. 0, or -1 with err. */
int http_parse_bind(const char *spec, struct sockaddr_storage *ss, char *err, size_t errlen);
/* Decides how the main port speaks, for cfg bound at ss: with tls.cert and
 * tls.key, loads and checks them into h (tls, tls_cert, tls_key, the names
 * of the certificate); without, plain HTTP on loopback, to loopback and
 * proxies only (plain_restricted) when trusted_proxies are set, or refused.
 * 0, or -1 with err "file:line:col: ...". */
int http_tls_setup(http_t *h, const cfg_t *cfg, const struct sockaddr_storage *ss, char *err,
                   size_t errlen);
/* The GnuTLS priority string of the HTTPS port. */
const char *http_tls_priorities(void);
/* Starts the plain port of tls.redirect_http. 0, or -1 with err. */
int http_tls_redirect_start(http_t *h, const cfg_t *cfg, char *err, size_t errlen);
/* Frees what http_tls_load kept (after the daemons stopped). */
void http_tls_free(http_t *h);

#endif
