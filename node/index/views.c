/*
 * Stored post views (DB_FEED, DB_SPACE_FEED), schema 8: a small binary
 * record of what the post's envelope does not hold (its author's handle, the
 * count of comments, an edit's text), and the one reader that makes the JSON
 * the API shows from that record, the key's (ts, id), the envelope and the
 * reaction registers (DB_REACTIONS).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "node/index/index_internal.h"

/*
 * Record, version 1 (docs/ARCHITECTURE.md, "Store", "Schema 8"):
 *   version(1) = 1, flags(1): bit 0 edited, bit 1 reacted (some reaction is
 *   on: the counts are then read from DB_REACTIONS, else they are {})
 *   comments: varint
 *   handle: len(1) bytes
 *   edited only: edit's ms varint, its text as compact JSON: len varint bytes
 * Varints are LEB128, 7 bits a byte, low first.
 */
#define VIEW_V1      1
#define VIEW_EDITED  1u
#define VIEW_REACTED 2u

struct buf {
	uint8_t *p; /* malloc'd */
	size_t len; /* used */
	size_t cap; /* allocated */
	int oom;    /* an allocation failed */
	int stack;  /* p is the caller's (not malloc'd) until it grows */
};

static void
s_add(struct buf *b, const void *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 512; /* a feed view: one allocation */
		uint8_t *np;
		while (nc < b->len + n)
			nc *= 2;
		/* b->p may be a caller's array on the stack (ix_view_put_rec). */
		if ((np = b->stack ? malloc(nc) : realloc(b->p, nc)) == NULL) {
			b->oom = 1;
			return;
		}
		if (b->stack)
			memcpy(np, b->p, b->len);
		b->stack = 0;
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
s_varint(struct buf *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;

	do {
		t[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			t[n] |= 0x80;
		n++;
	} while (v);
	s_add(b, t, n);
}

/* Reads a varint at *p (before end): 0, or -1 when it runs past end. */
static int
s_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned sh = 0; *p < end && sh < 64; sh += 7) {
		uint8_t c = *(*p)++;
		r |= (uint64_t)(c & 0x7f) << sh;
		if (!(c & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

static int s_put_rec(store_txn_t *txn, enum store_db db, const void *key, size_t klen,
                     const char *handle, uint64_t comments, int reacted, int edited,
                     uint64_t edit_ms, const json_t *text, int over);

int
ix_view_put(store_txn_t *txn, enum store_db db, const void *key, size_t klen, const json_t *view,
            int over)
{
	const json_t *edited = json_object_get(view, "edited");
	/* "reacted", or the counts of a JSON view of schema 7 (s_to_8). */
	int reacted = json_is_true(json_object_get(view, "reacted")) ||
	              json_object_size(json_object_get(view, "reactions")) > 0;

	assert(txn != NULL && key != NULL && view != NULL);
	return s_put_rec(txn, db, key, klen, json_string_value(json_object_get(view, "author")),
	                 (uint64_t)json_integer_value(json_object_get(view, "comments")), reacted,
	                 json_is_integer(edited), (uint64_t)json_integer_value(edited),
	                 json_object_get(view, "text"), over);
}

int
ix_view_put_rec(store_txn_t *txn, enum store_db db, const void *key, size_t klen,
                const char *handle, uint64_t comments, int reacted, int edited, uint64_t edit_ms,
                const json_t *text)
{
	return s_put_rec(txn, db, key, klen, handle, comments, reacted, edited, edit_ms, text, 0);
}

static int
s_put_rec(store_txn_t *txn, enum store_db db, const void *key, size_t klen, const char *handle,
          uint64_t comments, int reacted, int edited, uint64_t edit_ms, const json_t *text,
          int over)
{
	/* A feed view's record is a few dozen bytes: the stack, no allocation. */
	uint8_t small[256];
	struct buf b = {small, 0, sizeof(small), 0, 1};
	size_t hl = handle ? strlen(handle) : 0;
	uint8_t head[2] = {VIEW_V1,
	                   (uint8_t)((edited ? VIEW_EDITED : 0) | (reacted ? VIEW_REACTED : 0))};
	int rc;

	assert(txn != NULL && key != NULL);
	if (hl > 255) /* handles are at most 32 bytes; a bound all the same */
		hl = 0;
	s_add(&b, head, 2);
	s_varint(&b, comments);
	s_add(&b, (uint8_t[]){(uint8_t)hl}, 1);
	s_add(&b, handle, hl);
	if (edited) {
		char *t = json_dumps(text, JSON_COMPACT | JSON_ENCODE_ANY);
		s_varint(&b, edit_ms);
		if (t == NULL) {
			b.oom = 1;
		} else {
			s_varint(&b, strlen(t));
			s_add(&b, t, strlen(t));
		}
		free(t);
	}
	rc = b.oom  ? CPT_ENOMEM
	     : over ? store_put_over(txn, db, key, klen, b.p, b.len)
	            : store_put(txn, db, key, klen, b.p, b.len);
	if (!b.stack)
		free(b.p);
	return rc;
}

json_t *
index_view_lean(const store_val_t *rec)
{
	const uint8_t *p, *end;
	uint64_t comments;
	json_t *o;
	unsigned flags;

	assert(rec != NULL);
	p = rec->data;
	end = p + rec->len;
	if (rec->len < 2 || p[0] != VIEW_V1)
		return NULL;
	flags = p[1];
	p += 2;
	if (s_get_varint(&p, end, &comments) != 0 || p >= end || (size_t)(end - p) < 1u + *p)
		return NULL;
	if ((o = json_object()) == NULL)
		return NULL;
	json_object_set_new(o, "author", json_stringn((const char *)p + 1, *p));
	p += 1 + *p;
	json_object_set_new(o, "comments", json_integer((json_int_t)comments));
	json_object_set_new(o, "reacted", json_boolean(flags & VIEW_REACTED));
	if (flags & VIEW_EDITED) {
		uint64_t ms, tl;
		json_t *t;
		if (s_get_varint(&p, end, &ms) != 0 || s_get_varint(&p, end, &tl) != 0 ||
		    tl > (uint64_t)(end - p) ||
		    (t = json_loadb((const char *)p, tl, JSON_DECODE_ANY, NULL)) == NULL)
			goto bad;
		json_object_set_new(o, "edited", json_integer((json_int_t)ms));
		json_object_set_new(o, "text", t);
	} else {
		json_object_set_new(o, "edited", json_null());
	}
	return o;
bad:
	json_decref(o);
	return NULL;
}

static void
s_mention(const char *h, void *arg)
{
	json_array_append_new(arg, json_string(h));
}

json_t *
index_view_json(store_txn_t *txn, const uint8_t *space, const uint8_t tsid[STORE_TSID_LEN],
                const store_val_t *rec, uint8_t author[CPT_KEY_LEN])
{
	const uint8_t *id = tsid + 8;
	uint64_t ts = store_get_u64(tsid);
	json_t *lean = index_view_lean(rec), *body = NULL, *text, *view = NULL, *mentions,
	       *reactions;
	char hex[CPT_HEX_ID];
	evt_t ev;

	assert(txn != NULL && tsid != NULL);
	if (lean == NULL)
		return NULL;
	/* The post's envelope, opened when sealed: its author, and its text
	 * unless an edit replaced it. The one read of the event. */
	if (index_event_open(txn, id, &ev, &body) != 0 || ev.kind != EVT_POST || body == NULL)
		goto out;
	text = json_is_null(json_object_get(lean, "edited")) ? json_object_get(body, "text")
	                                                     : json_object_get(lean, "text");
	if (!json_is_string(text) || (mentions = json_array()) == NULL)
		goto out;
	ix_each_mention(json_string_value(text), s_mention, mentions);
	/* The members in byte order: the order the JSON views were stored in,
	 * so that the API's bytes are those of schema 7. */
	if ((view = json_object()) == NULL) {
		json_decref(mentions);
		goto out;
	}
	json_object_set(view, "author", json_object_get(lean, "author"));
	cpt_hex32(hex, ev.author);
	json_object_set_new(view, "author_key", json_string(hex));
	json_object_set(view, "comments", json_object_get(lean, "comments"));
	json_object_set_new(view, "created", json_integer((json_int_t)HLC_MS(ts)));
	json_object_set(view, "edited", json_object_get(lean, "edited"));
	cpt_hex32(hex, id);
	json_object_set_new(view, "id", json_string(hex));
	json_object_set_new(view, "mentions", mentions);
	reactions = json_is_true(json_object_get(lean, "reacted")) ? ix_reaction_counts(txn, id)
	                                                           : json_object();
	if (reactions == NULL) {
		json_decref(view);
		view = NULL;
		goto out;
	}
	json_object_set_new(view, "reactions", reactions);
	if (space) {
		cpt_hex32(hex, space);
		json_object_set_new(view, "space", json_string(hex));
	}
	json_object_set(view, "text", text);
	json_object_set_new(view, "ts", json_integer((json_int_t)ts));
	if (author)
		memcpy(author, ev.author, CPT_KEY_LEN);
out:
	json_decref(body);
	json_decref(lean);
	return view;
}

json_t *
index_view_get(store_txn_t *txn, const uint8_t *space, const uint8_t tsid[STORE_TSID_LEN])
{
	uint8_t k[CPT_ID_LEN + STORE_TSID_LEN];
	size_t p = space ? CPT_ID_LEN : 0;
	store_val_t v;

	assert(txn != NULL && tsid != NULL);
	if (space)
		memcpy(k, space, CPT_ID_LEN);
	memcpy(k + p, tsid, STORE_TSID_LEN);
	if (store_get(txn, space ? DB_SPACE_FEED : DB_FEED, k, p + STORE_TSID_LEN, &v) != 0)
		return NULL;
	return index_view_json(txn, space, tsid, &v, NULL);
}

/* The bytes of a JSON string s[0..n) are those jansson writes for it
 * (JSON_COMPACT): no quote, backslash or control character to escape. The
 * caller knows them to be valid UTF-8 (a validated body, a register's key). */
static int
s_plain(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] == '"' || s[i] == '\\')
			return 0;
	return 1;
}

static void
s_mention_text(const char *h, void *arg)
{
	struct buf *b = arg;

	/* Handles of mentions are lowercase letters, digits, '.', '_', '-'. */
	if (b->len > 0 && b->p[b->len - 1] != '[')
		s_add(b, ",", 1);
	s_add(b, "\"", 1);
	s_add(b, h, strlen(h));
	s_add(b, "\"", 1);
}

/* Appends a string literal, without its NUL. */
#define S_LIT(b, lit) s_add((b), (lit), sizeof(lit) - 1)

static void
s_add_u64(struct buf *b, uint64_t v)
{
	char t[24];
	int n = snprintf(t, sizeof(t), "%llu", (unsigned long long)v);

	s_add(b, t, (size_t)n);
}

/* The bytes the text of post id is read from: its clear body, or for a
 * sealed post opened here its plaintext as stored (DB_OPENED: JSON as
 * jansson wrote it) when it holds "kind":EVT_POST once. 0, or -1: none
 * that s_view_text_fast reads. */
static int
s_post_bytes(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], evt_t *ev, const uint8_t **b,
             size_t *n)
{
	char kind[24];
	const uint8_t *k;
	store_val_t v;
	int kl;

	if (index_event(txn, id, ev) != 0 || ev->body == NULL)
		return -1;
	if (ev->kind == EVT_POST) {
		*b = ev->body;
		*n = ev->body_len;
		return 0;
	}
	if (ev->kind != EVT_SEALED || store_get(txn, DB_OPENED, id, CPT_ID_LEN, &v) != 0)
		return -1;
	kl = snprintf(kind, sizeof(kind), "\"kind\":%d", EVT_POST);
	if ((k = memmem(v.data, v.len, kind, (size_t)kl)) == NULL ||
	    (size_t)((const uint8_t *)v.data + v.len - k) <= (size_t)kl ||
	    (k[kl] != ',' && k[kl] != '}') ||
	    memmem(k + 1, v.len - (size_t)(k + 1 - (const uint8_t *)v.data), "\"kind\"", 6) !=
	        NULL ||
	    memmem(v.data, (size_t)(k - (const uint8_t *)v.data), "\"kind\"", 6) != NULL)
		return -1;
	*b = v.data;
	*n = v.len;
	return 0;
}

/* index_view_text without parsing: a post (clear, or sealed and opened
 * here), not edited, whose body holds its text once, as "text":"..." with
 * nothing escaped in the body. NULL when the view is not such a one (the
 * caller then takes the JSON path, which gives the same bytes). */
static char *
s_view_text_fast(store_txn_t *txn, const uint8_t *space, const uint8_t tsid[STORE_TSID_LEN],
                 const store_val_t *rec, size_t *len, uint8_t author[CPT_KEY_LEN], char handle[64],
                 int *files)
{
	static const char key[] = "\"text\"";
	const uint8_t *p = rec->data, *end = p + rec->len, *id = tsid + 8, *t, *te, *h, *body;
	uint64_t ts = store_get_u64(tsid), comments;
	struct buf b = {0};
	json_t *counts;
	char hex[CPT_HEX_ID], *text;
	size_t hl, bl;
	int reacted;
	evt_t ev;

	if (rec->len < 2 || p[0] != VIEW_V1 || (p[1] & ~VIEW_REACTED) != 0)
		return NULL; /* not version 1, or edited */
	p += 2;
	if (s_get_varint(&p, end, &comments) != 0 || p >= end || (size_t)(end - p) != 1u + *p)
		return NULL;
	hl = *p;
	h = p + 1;
	if (hl >= 64 || !s_plain(h, hl))
		return NULL;
	if (s_post_bytes(txn, id, &ev, &body, &bl) != 0 || memchr(body, '\\', bl) != NULL)
		return NULL;
	t = memmem(body, bl, key, sizeof(key) - 1);
	if (t == NULL || memmem(t + 1, bl - (size_t)(t + 1 - body), key, sizeof(key) - 1) != NULL)
		return NULL;
	t += sizeof(key) - 1;
	if ((size_t)(body + bl - t) < 3 || t[0] != ':' || t[1] != '"')
		return NULL;
	t += 2;
	if ((te = memchr(t, '"', (size_t)(body + bl - t))) == NULL || !s_plain(t, (size_t)(te - t)))
		return NULL;
	/* Most posts have no reaction on: their record says so, no lookup. */
	reacted = (((const uint8_t *)rec->data)[1] & VIEW_REACTED) != 0;
	counts = reacted ? ix_reaction_counts(txn, id) : NULL;
	if (reacted && counts == NULL)
		return NULL;
	S_LIT(&b, "{\"author\":\"");
	s_add(&b, h, hl);
	S_LIT(&b, "\",\"author_key\":\"");
	cpt_hex32(hex, ev.author);
	s_add(&b, hex, 2 * CPT_KEY_LEN);
	S_LIT(&b, "\",\"comments\":");
	s_add_u64(&b, comments);
	S_LIT(&b, ",\"created\":");
	s_add_u64(&b, HLC_MS(ts));
	S_LIT(&b, ",\"edited\":null,\"id\":\"");
	cpt_hex32(hex, id);
	s_add(&b, hex, 2 * CPT_ID_LEN);
	S_LIT(&b, "\",\"mentions\":[");
	if ((text = malloc((size_t)(te - t) + 1)) == NULL) {
		b.oom = 1;
	} else {
		memcpy(text, t, (size_t)(te - t));
		text[te - t] = 0;
		ix_each_mention(text, s_mention_text, &b);
		free(text);
	}
	S_LIT(&b, "],\"reactions\":");
	if (counts == NULL || json_object_size(counts) == 0) {
		S_LIT(&b, "{}");
	} else {
		char *c = json_dumps(counts, JSON_COMPACT);
		if (c == NULL)
			b.oom = 1;
		else
			s_add(&b, c, strlen(c));
		free(c);
	}
	json_decref(counts);
	if (space) {
		S_LIT(&b, ",\"space\":\"");
		cpt_hex32(hex, space);
		s_add(&b, hex, 2 * CPT_ID_LEN);
		S_LIT(&b, "\"");
	}
	S_LIT(&b, ",\"text\":\"");
	s_add(&b, t, (size_t)(te - t));
	S_LIT(&b, "\",\"ts\":");
	s_add_u64(&b, ts);
	s_add(&b, "}", 2); /* with its NUL */
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len - 1;
	memcpy(author, ev.author, CPT_KEY_LEN);
	memcpy(handle, h, hl);
	handle[hl] = 0;
	*files = memmem(body, bl, "files", 5) != NULL;
	return (char *)b.p;
}

char *
index_view_text(store_txn_t *txn, const uint8_t *space, const uint8_t tsid[STORE_TSID_LEN],
                const store_val_t *rec, size_t *len, uint8_t author[CPT_KEY_LEN], char handle[64],
                int *files)
{
	char *s = s_view_text_fast(txn, space, tsid, rec, len, author, handle, files);
	json_t *j;

	assert(txn != NULL && tsid != NULL && rec != NULL && len != NULL);
	if (s != NULL)
		return s;
	/* Sealed, edited, or a body with escapes: the JSON path. */
	if ((j = index_view_json(txn, space, tsid, rec, author)) == NULL)
		return NULL;
	if ((s = json_dumps(j, JSON_COMPACT)) != NULL) {
		*len = strlen(s);
		snprintf(handle, 64, "%s", json_string_value(json_object_get(j, "author")) ?: "");
		*files = 1; /* the caller looks */
	}
	json_decref(j);
	return s;
}
