/*
 * Shared by the two files of the HTTP server: http.c (the daemon, requests,
 * replies, sessions and CSRF, the stream, metrics, assets) and http_api.c
 * (the JSON calls). Not for other files.
 */
#ifndef COMPTOIR_HTTP_INTERNAL_H
#define COMPTOIR_HTTP_INTERNAL_H

#include <stdatomic.h>

#include <microhttpd.h>

#include "node/node.h"

/* One client address in the login rate limiter: a token bucket. */
struct http_rl {
	char addr[48];    /* the client address as text, "" = free slot */
	double tokens;    /* attempts left, refilled at login_per_minute per minute */
	uint64_t last_ms; /* when tokens was last refilled */
};

#define HTTP_RL_SLOTS 4096 /* addresses remembered; the stalest is reused */

/* GET /api/figures walks every event of the period (~4 µs each): answers are
 * kept a minute per period, and one computation runs at a time. */
#define HTTP_FIG_SLOTS 8
#define HTTP_FIG_MAX_AGE_MS 60000

struct http {
	node_t *node;               /* the node served (not owned) */
	store_t *st;                /* its store (not owned) */
	sess_table_t *sess;         /* login sessions (not owned) */
	struct MHD_Daemon *mhd;     /* the server */
	unsigned port;              /* the port bound */
	atomic_int stopping;        /* set by http_stop: streams end */
	char site[CFG_MAX_STR];     /* site name, copied: a config reload must not race */
	uint32_t max_body;          /* largest request body */
	uint32_t login_per_minute;  /* login attempts per address per minute */
	pthread_mutex_t rl_lock;    /* guards rl */
	struct http_rl *rl;         /* HTTP_RL_SLOTS buckets */
	pthread_mutex_t dummy_lock; /* guards dummy */
	json_t *dummy;              /* key backup opened for unknown handles (timing) */
	pthread_mutex_t fig_lock;   /* guards fig; held while figures are computed */
	struct http_fig {
		unsigned days;      /* the period, 0: free slot */
		uint64_t at_ms;     /* when computed */
		json_t *json;       /* the answer */
	} fig[HTTP_FIG_SLOTS];      /* figures computed in the last HTTP_FIG_MAX_AGE_MS */
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
	sess_info_t sess;               /* the session */
	char addr[48];                  /* client address as text */
} http_req_t;

/* Replies. Each queues one response with the common headers, counts it,
 * and returns 0. json is stolen (decref'd) in every case. */
int http_reply(http_req_t *r, unsigned status, json_t *json);
/* {"error": message}, plus "field": field when field is not NULL. */
int http_error(http_req_t *r, unsigned status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A reply with extra headers: hdr is a NULL-terminated list of name, value. */
int http_reply_hdr(http_req_t *r, unsigned status, json_t *json, const char *const *hdr);

/* Guards of a call: each returns 1 when the request may go on, or queues
 * the error reply (401, 403, 415, 400) and returns 0. */
int http_need_session(http_req_t *r);
/* A session and, for a state-changing method, the right X-CSRF-Token. */
int http_need_csrf(http_req_t *r);
/* The body as a JSON object sent as application/json: new reference in *out. */
int http_need_json(http_req_t *r, json_t **out);
/* Parses a request body as every call does: JSON, no duplicate key, an
 * object. A new reference, or NULL with the reason (valid UTF-8) in why. */
json_t *http_parse_body(const char *buf, size_t len, char *why, size_t wl);
/* Cuts s at the end of its last whole UTF-8 character: a message cut by
 * snprintf must still go out as a JSON string. */
void http_utf8_trim(char *s);

/* The calls whose body api_body_check knows (node/http_api.c). */
enum api_body {
	API_LOGIN,    /* POST /api/login */
	API_POST,     /* POST /api/posts */
	API_EDIT,     /* PATCH /api/posts/ID */
	API_COMMENT,  /* POST /api/posts/ID/comments */
	API_REACTION, /* POST /api/posts/ID/reactions */
	API_PROFILE,  /* PUT /api/profile */
	API_BODY_COUNT
};
/* The body checks of a call, made on a parsed body before anything is
 * signed. 0, or CPT_EINVAL with the field at fault in *field (NULL when
 * none; borrowed from body or static) and a message (valid UTF-8) in why. */
int api_body_check(enum api_body call, const json_t *body, const char **field, char *why,
                   size_t wl) CPT_WUR;
/* The body of the event a call signs once api_body_check passed, its kind
 * in *kind; post is the hex id of the post the call names (or NULL). A new
 * reference, NULL for API_LOGIN or when memory is short. */
json_t *api_body_event(enum api_body call, const json_t *body, const char *post, uint16_t *kind);

/* The login rate limiter: 1 when addr may try now, else 0 and *retry_s. */
int http_login_allowed(http_t *h, const char *addr, unsigned *retry_s);

/* Parses 64 lowercase hex digits; 0 or -1. */
int http_parse_id(uint8_t out[CPT_ID_LEN], const char *s, size_t len);

/* The JSON calls (http_api.c). Each answers the request. */
int api_login(http_req_t *r);
int api_logout(http_req_t *r);
int api_me(http_req_t *r);
int api_post_create(http_req_t *r);
int api_feed(http_req_t *r);
int api_post_get(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_post_edit(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_post_delete(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_comment_create(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_comments(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_reaction_set(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
int api_people(http_req_t *r);
int api_figures(http_req_t *r);
int api_person(http_req_t *r, const char *handle);
int api_profile_put(http_req_t *r);

/* The admin calls (http_admin.c): users of this site. */
int api_admin_users(http_req_t *r);
int api_admin_user_add(http_req_t *r);
int api_admin_user_disable(http_req_t *r, const char *handle);
int api_admin_user_password(http_req_t *r, const char *handle);

#endif
