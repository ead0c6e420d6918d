/*
 * GET /api/stream: Server-Sent Events. A stream's thread blocks on the
 * node's change ring (never in a read transaction), renders what changed
 * in a short one, and checks its session at every wake-up.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/http/http_internal.h"

#define SSE_WAIT_MS 1000  /* a stream checks for shutdown this often */
#define SSE_PING_MS 15000 /* and writes a comment this often when idle */
#define SSE_BATCH   64    /* changes fetched per wait */

/* One Server-Sent Events listener. Its thread blocks in node_changes() (never
 * in a read transaction), then renders what changed in a short one. */
struct sse {
	http_t *h;                      /* the server */
	char token[SESS_TOKEN_LEN + 1]; /* the listener's session: the stream ends with it */
	char handle[64];                /* who listens: posts of spaces are shown as to them */
	uint64_t last;                  /* newest change sent */
	int resync;                     /* send a resync first (Last-Event-ID too old or unknown) */
	uint64_t idle_since;            /* when something was last written */
	char *buf;                      /* rendered, not yet sent */
	size_t len;                     /* bytes in buf */
	size_t off;                     /* bytes of buf sent */
	size_t cap;                     /* bytes allocated */
	int fd;                         /* the connection's socket, to see the client leave */
	long bell;                      /* the unread count last sent; -1: none yet */
	json_t *mine;                   /* the person's own state (read marks...), folded when
	                                   a kind 17 event comes; NULL: not yet */
};

static int s_sse_add(struct sse *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
s_sse_add(struct sse *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = s->cap - s->len;
		va_start(ap, fmt);
		n = vsnprintf(s->buf ? s->buf + s->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -1;
		if ((size_t)n < room) {
			s->len += (size_t)n;
			return 0;
		}
		size_t ncap = (s->cap ? s->cap * 2 : 4096) + (size_t)n;
		char *nb = realloc(s->buf, ncap);
		if (nb == NULL)
			return -1;
		s->buf = nb;
		s->cap = ncap;
	}
}

/* Renders one change as an SSE event. */
static void
s_sse_change(struct sse *s, store_txn_t *txn, const node_change_t *c)
{
	char id[CPT_HEX_ID], ref[CPT_HEX_ID];
	const uint8_t *post = NULL;
	uint8_t inner_post[CPT_ID_LEN];
	uint16_t kind = c->kind;
	json_t *data, *view = NULL;
	char *text;

	cpt_hex32(id, c->id);
	if (c->has_ref)
		post = c->ref;
	else if (c->kind == EVT_POST)
		post = c->id;
	switch (c->kind) {
	case EVT_POST:
	case EVT_COMMENT:
	case EVT_REACTION:
	case EVT_EDIT:
	case EVT_REDACT:
		/* A post of a space only to those who may read it (PROTOCOL.md 16.9). */
		if (post && txn)
			view = query_post_as(txn, post, 0, s->handle, index_spaces_site());
		break;
	case EVT_SEALED:
		/* Opened here and readable by the listener: it goes out as what it
		 * is (a post, a comment...); to anyone else, as "sealed" alone. */
		if (txn) {
			evt_t ev;
			json_t *b = NULL;
			const char *ph;
			if (index_event_open(txn, c->id, &ev, &b) == 0 && b) {
				ph = json_string_value(json_object_get(b, "post"));
				if (ev.kind == EVT_POST)
					memcpy(inner_post, c->id, CPT_ID_LEN);
				if ((ev.kind == EVT_POST ||
				     (ph && cpt_unhex32(inner_post, ph, strlen(ph)) == 0)) &&
				    (view = query_post_as(txn, inner_post, 0, s->handle,
				                          index_spaces_site())) != NULL) {
					kind = ev.kind;
					post = inner_post;
				}
			}
			json_decref(b);
		}
		break;
	}
	if (post)
		cpt_hex32(ref, post);
	data =
	    json_pack("{s:s, s:s, s:s?, s:o?, s:I}", "id", id, "kind", evt_kind_name(kind), "post",
	              post ? ref : NULL, "view", view, "stored_us", (json_int_t)c->stored_us);
	if (data == NULL)
		return;
	if (json_object_get(data, "post") == NULL)
		json_object_set_new(data, "post", json_null());
	if (json_object_get(data, "view") == NULL)
		json_object_set_new(data, "view", json_null());
	/* Compact JSON holds no newline: one data line per event. */
	if ((text = json_dumps(data, JSON_COMPACT)) != NULL) {
		s_sse_add(s, "id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)c->seq,
		          evt_kind_name(kind), text);
		free(text);
	}
	json_decref(data);
}

static ssize_t
s_sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct sse *s = cls;
	http_t *h = s->h;
	node_change_t ch[SSE_BATCH];

	while (s->off == s->len) {
		sess_info_t info;
		size_t got;
		int lost = 0;
		uint64_t now;

		s->off = s->len = 0;
		if (atomic_load(&h->stopping))
			return MHD_CONTENT_READER_END_OF_STREAM;
		/* The session is checked before anything is written: a logout, an
		 * expiry or a revoked key ends the stream before one more byte. */
		if (s->resync && sess_get(h->sess, s->token, &info) != 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (s->resync) {
			s->resync = 0;
			s->last = node_change_seq(h->node);
			s_sse_add(s, "id: %llu\nevent: resync\ndata: {}\n\n",
			          (unsigned long long)s->last);
			break;
		}
		got = node_changes(h->node, s->last, ch, SSE_BATCH, SSE_WAIT_MS, &lost);
		now = hlc_wall_ms();
		/* A closed tab ends its stream now, not at the next failed write:
		 * its place counts in max_streams_per_person. And at every wake-up
		 * (changes, or SSE_WAIT_MS without) the session is checked, so the
		 * stream also ends within a second of a logout or a disable. */
		if ((got == 0 && http_guard_hung_up(s->fd)) ||
		    sess_get(h->sess, s->token, &info) != 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (lost) {
			s->resync = 1;
			continue;
		}
		if (got > 0) {
			store_txn_t *txn = NULL;
			if (store_read_begin(h->st, &txn) != 0)
				txn = NULL;
			for (size_t i = 0; i < got; i++) {
				s_sse_change(s, txn, &ch[i]);
				s->last = ch[i].seq;
			}
			/* The bell: the person's unread count, when it changed. Their
			 * own state is folded again only when a "mine" event came (its
			 * fold reads all of them; the count alone is cheap). */
			for (size_t i = 0; i < got; i++)
				if (ch[i].kind == EVT_MINE) {
					json_decref(s->mine);
					s->mine = NULL;
				}
			if (txn) {
				long n = api_notify_unread_with(h, txn, &info, &s->mine);
				if (n >= 0 && n != s->bell) {
					s->bell = n;
					s_sse_add(s, "event: bell\ndata: {\"unread\":%ld}\n\n", n);
				}
			}
			store_read_end(h->st, &txn);
		} else if (now - s->idle_since >= SSE_PING_MS) {
			s_sse_add(s, ": ping\n\n");
		}
		if (s->len > 0)
			s->idle_since = now;
	}
	size_t n = s->len - s->off < max ? s->len - s->off : max;
	memcpy(out, s->buf + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static void
s_sse_free(void *cls)
{
	struct sse *s = cls;

	json_decref(s->mine);
	free(s->buf);
	free(s);
}

int
api_stream(http_req_t *r)
{
	http_t *h = r->h;
	struct MHD_Response *resp;
	const char *lei;
	struct sse *s;
	uint64_t now_seq;
	enum MHD_Result ok;

	if (!http_need_session(r) || !http_guard_stream(r))
		return 0;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return http_error(r, 500, NULL, "out of memory");
	s->h = h;
	s->bell = -1;
	s->fd = http_guard_fd(r->conn);
	snprintf(s->token, sizeof(s->token), "%s", r->token);
	snprintf(s->handle, sizeof(s->handle), "%s", r->sess.handle);
	/* The position is taken now, before the client learns the stream is
	 * open: whatever it does next is seen. */
	now_seq = node_change_seq(h->node);
	s->last = now_seq;
	lei = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Last-Event-ID");
	if (lei && *lei) {
		char *end;
		unsigned long long v;
		errno = 0;
		v = strtoull(lei, &end, 10);
		if (errno != 0 || *end != 0 || !isdigit((unsigned char)*lei) || v > now_seq)
			s->resync = 1; /* not ours (the node restarted?): start over */
		else
			s->last = v;
	}
	s->idle_since = hlc_wall_ms();
	/* "retry" sets the client's reconnection delay; the comment makes the
	 * response start at once, so a client knows it is listening. */
	if (s_sse_add(s, "retry: 3000\n: comptoir %s\n\n", h->site) != 0) {
		s_sse_free(s);
		return http_error(r, 500, NULL, "out of memory");
	}
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, s_sse_read, s,
	                                         s_sse_free);
	if (resp == NULL) {
		s_sse_free(s);
		return http_error(r, 500, NULL, "out of memory");
	}
	http_add_common(r, resp);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        "text/event-stream; charset=utf-8");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	ok = MHD_queue_response(r->conn, 200, resp);
	MHD_destroy_response(resp);
	if (ok == MHD_YES) {
		r->queued = 1;
		node_count_http(h->node, 200);
	}
	return 0;
}
