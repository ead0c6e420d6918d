/*
 * Files and pictures over HTTP (docs/API.md "Files", PROTOCOL.md 18.8):
 * POST /api/files streams the request body into the blob store as it
 * arrives (never whole in memory), checks its type from the content, makes
 * thumbnails and signs the file event; GET /api/files/ID serves a blob with
 * the headers of 18.8, one range at a time, each chunk checked against its
 * hash as it is read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/http/http_internal.h"
#include "node/outbox/outbox.h"

#define UP_HEAD        65536 /* bytes kept to decide the type (PROTOCOL.md 18.2) */
#define THUMB_S        320   /* the feed's and the avatars' thumbnail */
#define THUMB_L        1280  /* the full-width one */
#define NAME_MAX_B     255
#define SEALED_PIC_MAX (64u << 20) /* a private picture, held in memory (stripped, thumbnails) */

/* An upload being received (http_req_t.up): the put, the head and the
 * UTF-8 state of a text. Freed by api_files_done.
 *
 * The body always goes through the strip filter. Where its kept bytes go:
 *   - company-wide: to put, as they come;
 *   - a private space's file that is no picture: to sput, sealed as they
 *     come (the size is the Content-Length, known before the first byte);
 *   - a private space's picture: to pic, in memory, then sealed once whole,
 *     with the size after stripping (which is not known before the end). */
struct http_upload {
	blob_put_t *put;       /* the blob being written; NULL once committed or aborted */
	uint8_t head[UP_HEAD]; /* its first bytes */
	size_t hlen;           /* how many */
	uint64_t total;        /* bytes received */
	int err;               /* the first error of a write (CPT_ETOOBIG, CPT_ENOSPC…), or 0 */
	int utf8_need;         /* continuation bytes still expected */
	uint8_t utf8_lo, utf8_hi;  /* the range of the next continuation byte */
	int utf8_bad;              /* a byte past the head broke UTF-8 (or was NUL) */
	char name[NAME_MAX_B + 1]; /* the name given (?name=) */
	blob_strip_t *strip;       /* metadata out of pictures, between the body and put */
	uint64_t max;              /* bytes of body accepted (limits.max_file_mb) */
	/* In a space (?space=): */
	char space[CPT_HEX_ID];      /* its id in hex, "" when company-wide */
	int sealed;                  /* 1: a private space's, sealed (18.4) */
	blob_store_t *bs;            /* the node's blob store (borrowed from http_t) */
	blob_sput_t *sput;           /* then the sealed blob being written, instead of put */
	uint8_t fkey[BLOB_FKEY_LEN]; /* and its file key (wiped in api_files_done) */
	uint64_t declared;           /* the plaintext size (Content-Length) */
	int routed;                  /* sealed: the first kept bytes chose sput or pic */
	uint8_t *pic;                /* sealed picture: its stripped bytes (wiped, freed) */
	size_t plen, pcap;           /* their length, and pic's capacity */
	int pic_big;                 /* sealed picture: over SEALED_PIC_MAX */
};

/* Drops what an upload wrote or holds: its put, its sealed put, and a
 * private picture's bytes in memory (wiped). Nothing half-stored stays. */
static void
s_upload_drop(struct http_upload *u)
{
	blob_put_abort(&u->put);
	blob_sput_abort(&u->sput);
	if (u->pic != NULL) {
		sodium_memzero(u->pic, u->pcap);
		free(u->pic);
		u->pic = NULL;
	}
	u->plen = u->pcap = 0;
}

/* The strip filter's sink: the blob being written. */
static int
s_to_put(void *arg, const void *data, size_t len)
{
	return blob_put_write(arg, data, len);
}

/* Appends a private picture's kept bytes in memory, growing by copies that
 * wipe the old buffer (realloc would leave the plaintext in freed memory). */
static int
s_pic_append(struct http_upload *u, const void *data, size_t len)
{
	if (len > SEALED_PIC_MAX - u->plen) {
		u->pic_big = 1;
		return CPT_ETOOBIG;
	}
	if (u->plen + len > u->pcap) {
		size_t cap = u->pcap * 2 > u->plen + len ? u->pcap * 2 : u->plen + len;
		uint8_t *nb;
		if (cap > SEALED_PIC_MAX)
			cap = SEALED_PIC_MAX;
		if ((nb = malloc(cap)) == NULL)
			return CPT_ENOMEM;
		if (u->pic != NULL) {
			memcpy(nb, u->pic, u->plen);
			sodium_memzero(u->pic, u->pcap);
			free(u->pic);
		}
		u->pic = nb;
		u->pcap = cap;
	}
	memcpy(u->pic + u->plen, data, len);
	u->plen += len;
	return 0;
}

/*
 * The strip filter's sink for a private space's file. The filter has told
 * the format by its first call: a picture is held in memory (at most
 * SEALED_PIC_MAX, the Content-Length's worth reserved up front) and sealed
 * at the end with its size after stripping, since each segment's
 * associated data holds the size and the metadata removed changes it; any
 * other file passes unchanged and is sealed as it streams, under the size
 * announced.
 */
static int
s_to_sealed(void *arg, const void *data, size_t len)
{
	struct http_upload *u = arg;
	int rc;

	if (!u->routed) {
		u->routed = 1;
		if (blob_strip_is_picture(u->strip)) {
			if (u->declared > SEALED_PIC_MAX) {
				u->pic_big = 1;
				return CPT_ETOOBIG;
			}
			if ((u->pic = malloc((size_t)u->declared)) == NULL)
				return CPT_ENOMEM;
			u->pcap = (size_t)u->declared;
		} else {
			rc = blob_sput_begin(u->bs, &u->sput, u->fkey, 0, u->declared);
			if (rc != 0)
				return rc == CPT_EINVAL ? CPT_ETOOBIG : rc;
		}
	}
	if (u->pic != NULL)
		return s_pic_append(u, data, len);
	return blob_sput_write(u->sput, data, len);
}

/* A name as PROTOCOL.md 18.3 takes it: 1..255 bytes, valid UTF-8, no '/',
 * '\\' or control character. */
static int
s_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > NAME_MAX_B || !blob_utf8_ok((const uint8_t *)s, n, 1))
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '/' || s[i] == '\\')
			return 0;
	return 1;
}

/* Feeds bytes past the head to the UTF-8 check (a text must be valid over
 * the whole file, PROTOCOL.md 18.2), across the chunks' edges. */
static void
s_utf8_feed(struct http_upload *u, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n && !u->utf8_bad; i++) {
		uint8_t c = b[i];
		if (u->utf8_need > 0) {
			if (c < u->utf8_lo || c > u->utf8_hi) {
				u->utf8_bad = 1;
				break;
			}
			u->utf8_need--;
			u->utf8_lo = 0x80;
			u->utf8_hi = 0xbf;
			continue;
		}
		u->utf8_lo = 0x80;
		u->utf8_hi = 0xbf;
		if (c == 0)
			u->utf8_bad = 1;
		else if (c < 0x80)
			continue;
		else if (c >= 0xc2 && c <= 0xdf)
			u->utf8_need = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			u->utf8_need = 2;
			if (c == 0xe0)
				u->utf8_lo = 0xa0;
			if (c == 0xed)
				u->utf8_hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			u->utf8_need = 3;
			if (c == 0xf0)
				u->utf8_lo = 0x90;
			if (c == 0xf4)
				u->utf8_hi = 0x8f;
		} else
			u->utf8_bad = 1;
	}
}

int
api_files_is_upload(const http_req_t *r)
{
	return strcmp(r->method, "POST") == 0 &&
	       (strcmp(r->url, "/api/files") == 0 || strcmp(r->url, "/api/v1/files") == 0);
}

int
api_files_begin(http_req_t *r)
{
	http_t *h = r->h;
	struct http_upload *u;
	const char *name = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "name");
	const char *space = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "space");
	const char *cl =
	    MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t max = (uint64_t)h->max_file_mb << 20, declared = cl ? strtoull(cl, NULL, 10) : 0;
	store_txn_t *txn;
	query_blob_counts_t c;
	int rc;

	/* Who, before one byte is stored: a session with its CSRF token, or a
	 * token with the write scope. */
	if (!http_need_csrf(r))
		return 0;
	if (r->via_token && (r->tok.scopes & TOK_WRITE) == 0)
		return http_fail(r, 403, "scope", NULL, NULL,
		                 "this API token lacks the scope \"write\""),
		       0;
	if (h->bs == NULL)
		return http_error(r, 503, NULL, "the file store is not open on this node"), 0;
	if (!s_name_ok(name))
		return http_fail(r, 400, "bad_name", "name", NULL,
		                 "the file name (?name=) must be 1 to 255 bytes of UTF-8 without / "
		                 "\\ or control characters"),
		       0;
	if (declared > max)
		return http_fail(r, 413, "file_too_big", NULL,
		                 json_pack("{s:I}", "max", (json_int_t)max),
		                 "the file is over %u MiB (limits.max_file_mb)", h->max_file_mb),
		       0;
	/* The site's store: what is held plus this one must fit. */
	if (!http_read_begin(r, &txn))
		return 0;
	rc = query_blob_counts(txn, h->bs, &c);
	store_read_end(h->st, &txn);
	if (rc != 0)
		return http_error(r, 500, NULL, "store unavailable"), 0;
	if (c.held_bytes + declared > ((uint64_t)h->max_blobs_gb << 30))
		return http_fail(r, 507, "store_full", NULL, NULL,
		                 "the site's file store is full (limits.max_blobs_gb = %u GiB)",
		                 h->max_blobs_gb),
		       0;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return http_error(r, 500, NULL, "out of memory"), 0;
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->max = max;
	if (space != NULL) {
		uint8_t sid[CPT_ID_LEN];
		if (!api_space_writable(r, space, sid, &u->sealed)) {
			free(u);
			return 0;
		}
		snprintf(u->space, sizeof(u->space), "%s", space);
	}
	u->bs = h->bs;
	if (u->sealed) {
		/* A private space's file never reaches the disk in clear: it
		 * is sealed segment by segment, and each segment's associated
		 * data holds the size (PROTOCOL.md 18.4). The sealed put starts
		 * at the first kept bytes (s_to_sealed). */
		if (cl == NULL || declared == 0) {
			free(u);
			return http_fail(r, 411, "length_required", NULL, NULL,
			                 "a file of a private space needs its Content-Length"),
			       0;
		}
		u->declared = declared;
		randombytes_buf(u->fkey, sizeof(u->fkey));
		rc = blob_strip_new(&u->strip, s_to_sealed, u);
	} else if ((rc = blob_put_begin(h->bs, &u->put, max)) == 0) {
		/* A picture's metadata (GPS, serial numbers, XMP) goes before
		 * its bytes are hashed: the id is that of the clean file
		 * (PROTOCOL.md 18.2). */
		if ((rc = blob_strip_new(&u->strip, s_to_put, u->put)) != 0)
			blob_put_abort(&u->put);
	}
	if (rc != 0) {
		sodium_memzero(u, sizeof(*u));
		free(u);
		return http_error(r, 500, NULL, "cannot write to the file store: %s",
		                  cpt_strerror(rc)),
		       0;
	}
	r->up = u;
	return 1;
}

void
api_files_data(http_req_t *r, const char *data, size_t n)
{
	struct http_upload *u = r->up;
	const uint8_t *b = (const uint8_t *)data;
	int rc;

	if (u == NULL || u->err != 0 || u->strip == NULL)
		return;
	if (u->hlen < UP_HEAD) {
		size_t k = UP_HEAD - u->hlen < n ? UP_HEAD - u->hlen : n;
		memcpy(u->head + u->hlen, b, k);
		u->hlen += k;
		if (k < n)
			s_utf8_feed(u, b + k, n - k);
	} else {
		s_utf8_feed(u, b, n);
	}
	u->total += n;
	/* The body's bytes count, not only what is kept: a picture followed by
	 * an endless trailer (dropped) still meets the limit. */
	if (u->total > u->max)
		rc = CPT_ETOOBIG;
	else
		rc = blob_strip_feed(u->strip, data, n);
	if (rc != 0) {
		u->err = rc;
		s_upload_drop(u); /* nothing half-stored stays */
	}
}

void
api_files_done(http_req_t *r)
{
	struct http_upload *u = r->up;

	if (u == NULL)
		return;
	if (u->put != NULL || u->sput != NULL || u->pic != NULL) {
		log_info("http", "upload of \"%s\" cut after %llu bytes: dropped", u->name,
		         (unsigned long long)u->total);
		s_upload_drop(u);
	}
	blob_strip_destroy(&u->strip);
	sodium_memzero(u, sizeof(*u)); /* the file key, the head of a private file */
	free(u);
	r->up = NULL;
}

/* Drops a blob put by this upload when no event wants it (it may have
 * been here before, named by another file event: then it stays). */
static void
s_drop_unwanted(http_req_t *r, const uint8_t id[BLOB_ID_LEN])
{
	store_txn_t *txn;
	query_blob_t b;
	int rc;

	if (store_read_begin(r->h->st, &txn) != 0)
		return;
	rc = query_blob_wanted(txn, id, &b);
	store_read_end(r->h->st, &txn);
	if (rc == CPT_ENOTFOUND && blob_delete(r->h->bs, id) != 0)
		log_warnx("http", "cannot remove an unused upload");
}

/* What an upload's clean-up puts in the outbox (under a write transaction). */
struct unposted {
	const json_t *entry; /* {"file", "redaction", "not_before"} */
	uint64_t now;        /* wall ms */
};

static int
s_unposted_put(store_txn_t *txn, void *arg)
{
	struct unposted *u = arg;
	return outbox_put(txn, "unposted", NULL, u->entry, u->now);
}

/*
 * The clean-up of an upload never posted (docs/ARCHITECTURE.md, "Files and
 * pictures"): the redaction of file event file, signed now by the uploader
 * (whose key is open for this request only), kept in the outbox's
 * "unposted" channel until limits.unposted_ttl has passed; the daemon's
 * worker then submits it unless an event of the author names the file. A
 * failure here is logged: the file then stays until its author deletes it.
 */
static void
s_unposted_schedule(http_req_t *r, const uint8_t file[CPT_ID_LEN])
{
	char hex[CPT_HEX_ID], *env = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	json_t *body, *entry = NULL;
	struct unposted u;
	int rc = CPT_ENOMEM;

	cpt_hex32(hex, file);
	if ((body = json_pack("{s:s}", "target", hex)) != NULL &&
	    (rc = http_sign(r, EVT_REDACT, body, &buf, &len)) == 0 &&
	    (env = malloc(len * 2 + 1)) != NULL) {
		sodium_bin2hex(env, len * 2 + 1, buf, len);
		u.now = hlc_wall_ms();
		entry = json_pack("{s:s, s:s, s:I}", "file", hex, "redaction", env, "not_before",
		                  (json_int_t)(u.now + (uint64_t)r->h->unposted_ttl * 1000));
		u.entry = entry;
		rc = entry ? store_write(r->h->st, s_unposted_put, &u) : CPT_ENOMEM;
	}
	if (rc != 0)
		log_warnx("http", "upload %s: its clean-up if never posted is not set: %s", hex,
		          cpt_strerror(rc));
	json_decref(entry);
	json_decref(body);
	free(env);
	free(buf);
}

/* A thumbnail of image id, longest side side, put and pinned: 1 with its
 * entry appended to thumbs, 0 when none could be made (the file goes on
 * without it). */
static int
s_thumb(http_req_t *r, const uint8_t id[BLOB_ID_LEN], int side, json_t *thumbs,
        uint8_t tid[BLOB_ID_LEN])
{
	uint8_t *webp = NULL;
	size_t len = 0;
	int w = 0, h = 0, rc;
	blob_put_t *p = NULL;
	uint64_t size = 0;
	char hex[CPT_HEX_ID];

	if (blob_thumb(r->h->bs, id, side, &webp, &len, &w, &h) != 0)
		return 0;
	rc = blob_put_begin(r->h->bs, &p, BLOB_MAX_SIZE);
	if (rc == 0 && (rc = blob_put_write(p, webp, len)) != 0)
		blob_put_abort(&p);
	if (rc == 0)
		rc = blob_put_commit(&p, tid, &size);
	free(webp);
	if (rc != 0 || blob_pin(r->h->bs, tid) != 0)
		return 0;
	cpt_hex32(hex, tid);
	json_array_append_new(thumbs, json_pack("{s:s, s:I, s:i, s:i}", "blob", hex, "size",
	                                        (json_int_t)size, "w", w, "h", h));
	return 1;
}

/* ------------------------------------------------ private spaces (18.4) */

/* Wipes the file key of a sealed file's body before it is freed. */
static void
s_wipe_fkey(json_t *body)
{
	json_t *k = json_object_get(body, "fkey");

	if (json_is_string(k))
		sodium_memzero((void *)json_string_value(k), json_string_length(k));
}

/* A thumbnail of the opened picture pic (len bytes), sealed under the
 * upload's key as part part, put and pinned: 1 with its entry appended to
 * thumbs and its id to blobs, 0 when none could be made. */
static int
s_thumb_sealed(http_req_t *r, struct http_upload *u, const uint8_t *pic, size_t len, int side,
               uint8_t part, json_t *thumbs, json_t *blobs, uint8_t tid[BLOB_ID_LEN])
{
	uint8_t *webp = NULL;
	size_t wl = 0;
	int w = 0, h = 0, rc;
	uint64_t size = 0;
	char hex[CPT_HEX_ID];

	if (blob_thumb_buf(pic, len, side, &webp, &wl, &w, &h) != 0)
		return 0;
	rc = blob_seal_bytes(r->h->bs, u->fkey, part, webp, wl, tid, &size);
	sodium_memzero(webp, wl);
	free(webp);
	if (rc != 0 || blob_pin(r->h->bs, tid) != 0)
		return 0;
	cpt_hex32(hex, tid);
	json_array_append_new(thumbs,
	                      json_pack("{s:s, s:I, s:i, s:i, s:I}", "blob", hex, "size",
	                                (json_int_t)size, "w", w, "h", h, "plain", (json_int_t)wl));
	json_array_append_new(blobs, json_string(hex));
	return 1;
}

/* The end of an upload in a private space: a picture, held in memory
 * stripped of its metadata, is read there for its dimensions and
 * thumbnails, then sealed with its size after stripping (never on disk in
 * clear, nor sealed with its GPS position); any other file was sealed as
 * it came and is committed. The thumbnails are sealed under the same key,
 * and the sealed file event is signed with the ciphertext blobs in clear
 * (PROTOCOL.md 18.4). */
static int
s_create_sealed(http_req_t *r, struct http_upload *u, const char *type)
{
	uint8_t id[BLOB_ID_LEN], tids[2][BLOB_ID_LEN];
	uint64_t size = 0, plain;
	int rc, w = 0, h = 0, nthumbs = 0, ok, image = blob_type_is_image(type);
	json_t *body = NULL, *thumbs = NULL, *blobs = NULL, *outer = NULL, *reply;
	char hex[CPT_HEX_ID], ehex[CPT_HEX_ID], khex[2 * BLOB_FKEY_LEN + 1];
	ingest_res_t res;

	if (u->total != u->declared) {
		s_upload_drop(u);
		return http_fail(r, 400, "cut", NULL, NULL,
		                 "the file is shorter than its Content-Length: nothing was stored");
	}
	/* The filter and blob_sniff read the same magic numbers: a picture
	 * is in memory, anything else was sealed as it came. */
	if (image != (u->pic != NULL) || (!image && u->sput == NULL)) {
		s_upload_drop(u);
		return http_error(r, 500, NULL, "the upload of \"%s\" lost its way", u->name);
	}
	if (image) {
		/* Read before anything is written: a picture refused leaves
		 * nothing behind. */
		rc = blob_image_dims_buf(u->pic, u->plen, &w, &h);
		if (rc != 0) {
			s_upload_drop(u);
			return http_fail(
			    r, rc == CPT_ETOOBIG ? 413 : 415,
			    rc == CPT_ETOOBIG ? "image_too_big" : "bad_image", NULL, NULL,
			    rc == CPT_ETOOBIG
			        ? "the picture is over 20000 pixels a side or 100 megapixels"
			        : "the picture cannot be read (damaged or not what it says)");
		}
		plain = u->plen;
		rc = blob_seal_bytes(r->h->bs, u->fkey, 0, u->pic, u->plen, id, &size);
	} else {
		plain = u->total;
		rc = blob_sput_commit(&u->sput, id, &size);
	}
	if (rc != 0)
		s_upload_drop(u);
	if (rc == CPT_ENOSPC)
		return http_fail(r, 507, "no_space", NULL, NULL,
		                 "the node's disk is full: the file was not stored");
	if (rc != 0)
		return http_error(r, 500, NULL, "cannot store the file: %s", cpt_strerror(rc));
	if (blob_pin(r->h->bs, id) != 0) {
		s_upload_drop(u);
		s_drop_unwanted(r, id);
		return http_error(r, 503, NULL, "too many uploads at once: try again");
	}
	cpt_hex32(hex, id);
	sodium_bin2hex(khex, sizeof(khex), u->fkey, sizeof(u->fkey));
	body = json_pack("{s:s, s:I, s:s, s:s, s:I, s:s}", "blob", hex, "size", (json_int_t)size,
	                 "type", type, "name", u->name, "plain", (json_int_t)plain, "fkey", khex);
	sodium_memzero(khex, sizeof(khex));
	blobs = json_array();
	thumbs = json_array();
	if (body == NULL || blobs == NULL || thumbs == NULL ||
	    json_array_append_new(blobs, json_string(hex)) != 0) {
		rc = CPT_ENOMEM;
		goto fail;
	}
	if (image) {
		json_object_set_new(body, "w", json_integer(w));
		json_object_set_new(body, "h", json_integer(h));
		if ((w > THUMB_S || h > THUMB_S) &&
		    s_thumb_sealed(r, u, u->pic, u->plen, THUMB_S, (uint8_t)(nthumbs + 1), thumbs,
		                   blobs, tids[nthumbs]))
			nthumbs++;
		if ((w > THUMB_L || h > THUMB_L) &&
		    s_thumb_sealed(r, u, u->pic, u->plen, THUMB_L, (uint8_t)(nthumbs + 1), thumbs,
		                   blobs, tids[nthumbs]))
			nthumbs++;
		s_upload_drop(u); /* the plaintext, wiped */
		if (nthumbs > 0)
			json_object_set(body, "thumbs", thumbs);
	}
	if ((outer = json_pack("{s:O}", "blobs", blobs)) == NULL) {
		rc = CPT_ENOMEM;
		goto fail;
	}
	ok = api_space_publish_outer(r, u->space, EVT_FILE, body, outer, &res);
	for (int i = 0; i < nthumbs; i++)
		blob_unpin(r->h->bs, tids[i]);
	blob_unpin(r->h->bs, id);
	if (!ok) {
		for (int i = 0; i < nthumbs; i++)
			s_drop_unwanted(r, tids[i]);
		s_drop_unwanted(r, id);
		rc = 0;
		goto out;
	}
	/* The answer says what the person sent; the key stays in the event. */
	s_wipe_fkey(body);
	json_object_del(body, "fkey");
	reply = body;
	body = NULL;
	cpt_hex32(ehex, res.id);
	json_object_set_new(reply, "id", json_string(ehex));
	json_object_set_new(reply, "size", json_integer((json_int_t)plain));
	json_object_set_new(reply, "space", json_string(u->space));
	json_object_set_new(reply, "sealed", json_true());
	json_object_set_new(reply, "url", json_sprintf("/api/files/%s", hex));
	rc = http_reply(r, 201, reply);
	goto out;
fail:
	rc = http_error(r, 500, NULL, "cannot store the file: %s", cpt_strerror(rc));
	for (int i = 0; i < nthumbs; i++)
		blob_unpin(r->h->bs, tids[i]);
	blob_unpin(r->h->bs, id);
	for (int i = 0; i < nthumbs; i++)
		s_drop_unwanted(r, tids[i]);
	s_drop_unwanted(r, id);
out:
	s_upload_drop(u);
	s_wipe_fkey(body);
	json_decref(body);
	json_decref(thumbs);
	json_decref(blobs);
	json_decref(outer);
	return rc;
}

int
api_files_create(http_req_t *r)
{
	struct http_upload *u = r->up;
	const char *type = NULL;
	uint8_t id[BLOB_ID_LEN], tids[2][BLOB_ID_LEN];
	uint64_t size = 0;
	int rc, w = 0, h = 0, nthumbs = 0, pinned = 0;
	json_t *body = NULL, *thumbs = NULL;
	ingest_res_t res;
	char hex[CPT_HEX_ID], ehex[CPT_HEX_ID];

	if (u == NULL)
		return http_error(r, 500, NULL, "the upload was not started");
	/* The last bytes the filter held go out (they may fail too). */
	if (u->err == 0 && (rc = blob_strip_end(u->strip)) != 0) {
		u->err = rc;
		s_upload_drop(u);
	}
	if (u->pic_big)
		return http_fail(r, 413, "image_too_big", NULL, NULL,
		                 "a picture of a private space is at most %u MiB",
		                 SEALED_PIC_MAX >> 20);
	if (u->err == CPT_ETOOBIG)
		return http_fail(r, 413, "file_too_big", NULL,
		                 json_pack("{s:I}", "max", (json_int_t)r->h->max_file_mb << 20),
		                 "the file is over %u MiB (limits.max_file_mb)", r->h->max_file_mb);
	if (u->err == CPT_ENOSPC)
		return http_fail(r, 507, "no_space", NULL, NULL,
		                 "the node's disk is full: the file was not stored");
	if (u->err == CPT_EINVAL)
		return http_fail(r, 415, "bad_image", NULL, NULL,
		                 "the picture is damaged: %s; it was not stored",
		                 blob_strip_error(u->strip));
	if (u->err != 0)
		return http_error(r, 500, NULL, "cannot write the file: %s", cpt_strerror(u->err));
	if (blob_strip_dropped(u->strip) > 0)
		log_info("http", "upload of \"%s\": %llu bytes of metadata removed", u->name,
		         (unsigned long long)blob_strip_dropped(u->strip));
	if (u->total == 0) {
		s_upload_drop(u);
		return http_fail(r, 400, "empty", NULL, NULL, "the file is empty");
	}
	/* The type from the bytes, never from the name (PROTOCOL.md 18.2). */
	rc = blob_sniff(u->head, u->hlen, u->total == u->hlen, &type);
	if (rc == 0 && strcmp(type, "text/plain") == 0) {
		size_t nl = strlen(u->name);
		if (u->utf8_bad || u->utf8_need > 0)
			rc = CPT_ENOTFOUND;
		else if (nl > 4 && strcasecmp(u->name + nl - 4, ".csv") == 0)
			type = "text/csv";
	}
	if (rc == CPT_ENOTFOUND && r->h->allow_other)
		type = "application/octet-stream", rc = 0;
	if (rc != 0) {
		s_upload_drop(u);
		return http_fail(
		    r, 415, rc == CPT_EPERM ? "markup_refused" : "type_refused", NULL, NULL,
		    rc == CPT_EPERM
		        ? "SVG, HTML and XML files are refused: a browser would run them"
		        : "this kind of file is not accepted: pictures (JPEG, PNG, "
		          "WebP, GIF), PDF, office documents and plain text are");
	}
	if (u->sealed)
		return s_create_sealed(r, u, type);
	rc = blob_put_commit(&u->put, id, &size);
	if (rc == CPT_ENOSPC)
		return http_fail(r, 507, "no_space", NULL, NULL,
		                 "the node's disk is full: the file was not stored");
	if (rc != 0)
		return http_error(r, 500, NULL, "cannot store the file: %s", cpt_strerror(rc));
	if (blob_pin(r->h->bs, id) != 0) {
		s_drop_unwanted(r, id);
		return http_error(r, 503, NULL, "too many uploads at once: try again");
	}
	pinned = 1;
	cpt_hex32(hex, id);
	body = json_pack("{s:s, s:I, s:s, s:s}", "blob", hex, "size", (json_int_t)size, "type",
	                 type, "name", u->name);
	if (body == NULL)
		goto oom;
	if (blob_type_is_image(type)) {
		rc = blob_image_dims(r->h->bs, id, &w, &h);
		if (rc != 0) {
			blob_unpin(r->h->bs, id);
			s_drop_unwanted(r, id);
			json_decref(body);
			return http_fail(
			    r, rc == CPT_ETOOBIG ? 413 : 415,
			    rc == CPT_ETOOBIG ? "image_too_big" : "bad_image", NULL, NULL,
			    rc == CPT_ETOOBIG
			        ? "the picture is over 20000 pixels a side or 100 megapixels"
			        : "the picture cannot be read (damaged or not what it "
			          "says)");
		}
		json_object_set_new(body, "w", json_integer(w));
		json_object_set_new(body, "h", json_integer(h));
		if ((thumbs = json_array()) == NULL)
			goto oom;
		if ((w > THUMB_S || h > THUMB_S) && s_thumb(r, id, THUMB_S, thumbs, tids[nthumbs]))
			nthumbs++;
		if ((w > THUMB_L || h > THUMB_L) && s_thumb(r, id, THUMB_L, thumbs, tids[nthumbs]))
			nthumbs++;
		if (nthumbs > 0)
			json_object_set(body, "thumbs", thumbs);
	}
	/* The event names blobs that are durable here (PROTOCOL.md 18.3). */
	rc = http_publish(r, EVT_FILE, body, &res);
	for (int i = 0; i < nthumbs; i++)
		blob_unpin(r->h->bs, tids[i]);
	blob_unpin(r->h->bs, id);
	pinned = 0;
	if (!rc) {
		for (int i = 0; i < nthumbs; i++)
			s_drop_unwanted(r, tids[i]);
		s_drop_unwanted(r, id);
		json_decref(body);
		json_decref(thumbs);
		return 0; /* answered */
	}
	s_unposted_schedule(r, res.id);
	cpt_hex32(ehex, res.id);
	json_object_set_new(body, "id", json_string(ehex));
	json_object_set_new(body, "url", json_sprintf("/api/files/%s", hex));
	json_decref(thumbs);
	return http_reply(r, 201, body);
oom:
	if (pinned)
		blob_unpin(r->h->bs, id);
	json_decref(body);
	json_decref(thumbs);
	return http_error(r, 500, NULL, "out of memory");
}

/* ------------------------------------------------------------- serving */

/* A download being sent: chunks read and checked one at a time. */
struct dl {
	blob_store_t *bs;        /* where */
	uint8_t id[BLOB_ID_LEN]; /* what */
	uint64_t first;          /* the first byte sent (a range's start) */
	uint32_t chunk;          /* the chunk in buf, or UINT32_MAX */
	size_t clen;             /* its length */
	uint8_t buf[BLOB_CHUNK]; /* its bytes, checked */
};

static ssize_t
s_dl_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct dl *d = cls;
	uint64_t at = d->first + pos;
	uint32_t c = (uint32_t)(at / BLOB_CHUNK);
	size_t off = (size_t)(at % BLOB_CHUNK), n;

	if (c != d->chunk) {
		/* A chunk that does not match its hash is not sent: the blob is
		 * moved to blobs/bad/ and the transfer ends in error. */
		if (blob_read_chunk(d->bs, d->id, c, d->buf, &d->clen) != 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		d->chunk = c;
	}
	if (off >= d->clen)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = d->clen - off < max ? d->clen - off : max;
	memcpy(out, d->buf + off, n);
	return (ssize_t)n;
}

static void
s_dl_free(void *cls)
{
	free(cls);
}

/* A sealed download (PROTOCOL.md 18.4): the plaintext, opened segment by
 * segment as the range is sent. */
struct sdl {
	blob_sread_t *rd; /* the reader (holds the file key) */
	uint64_t first;   /* the first plaintext byte sent */
};

static ssize_t
s_sdl_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct sdl *d = cls;
	size_t got = 0;

	if (blob_sread_at(d->rd, d->first + pos, (uint8_t *)out, max, &got) != 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return got ? (ssize_t)got : MHD_CONTENT_READER_END_OF_STREAM;
}

static void
s_sdl_free(void *cls)
{
	struct sdl *d = cls;

	blob_sread_close(&d->rd);
	free(d);
}

/* Parses one "bytes=a-b", "bytes=a-" or "bytes=-n" of a blob of size:
 * 1 with [*from, *to], 0 when absent or not understood (the whole is
 * sent, RFC 9110 allows it), -1 when unsatisfiable. */
static int
s_range(const char *v, uint64_t size, uint64_t *from, uint64_t *to)
{
	char *end;
	unsigned long long a, b;

	if (v == NULL || strncmp(v, "bytes=", 6) != 0 || strchr(v, ',') != NULL)
		return 0;
	v += 6;
	if (*v == '-') {
		b = strtoull(v + 1, &end, 10);
		if (end == v + 1 || *end)
			return 0;
		if (b == 0)
			return -1;
		*from = b >= size ? 0 : size - b;
		*to = size - 1;
		return 1;
	}
	a = strtoull(v, &end, 10);
	if (end == v || *end != '-')
		return 0;
	v = end + 1;
	if (*v == 0)
		b = size - 1;
	else {
		b = strtoull(v, &end, 10);
		if (*end)
			return 0;
	}
	if (a >= size || b < a)
		return -1;
	*from = a;
	*to = b >= size ? size - 1 : b;
	return 1;
}

/* The site of a user key, for "arrives when the link to X is back". */
static void
s_site_of(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], char site[64])
{
	char handle[64];

	site[0] = 0;
	if (index_handle_of(txn, key, handle) == 0 && index_handle_site(txn, handle, site) != 0)
		site[0] = 0;
}

/* The name the newest file event gives the blob, into out ("" when none). */
static void
s_name_of(store_txn_t *txn, const query_blob_t *b, char *out, size_t cap)
{
	evt_t ev;
	json_t *body = NULL;

	out[0] = 0;
	if (index_event_open(txn, b->event, &ev, &body) == 0 && body != NULL)
		snprintf(out, cap, "%s",
		         json_string_value(json_object_get(body, "name"))
		             ? json_string_value(json_object_get(body, "name"))
		             : "");
	json_decref(body);
}

int
api_file_get(http_req_t *r, const uint8_t id[BLOB_ID_LEN])
{
	http_t *h = r->h;
	store_txn_t *txn;
	query_blob_t b;
	uint64_t size = 0, from = 0, to = 0;
	char hex[CPT_HEX_ID], etag[CPT_HEX_ID + 2], name[NAME_MAX_B + 1], site[64];
	char disp[1024], crange[96], len[32];
	const char *inm, *type;
	struct dl *d;
	struct MHD_Response *resp;
	unsigned status = 200;
	int rc, rg, image, srk = CPT_EPERM;
	query_sealed_blob_t sb;

	memset(&sb, 0, sizeof(sb));
	if (!http_need_session(r))
		return 0;
	if (h->bs == NULL)
		return http_error(r, 503, NULL, "the file store is not open on this node");
	if (!http_read_begin(r, &txn))
		return 0;
	rc = query_blob_wanted(txn, id, &b);
	if (rc == 0)
		s_name_of(txn, &b, name, sizeof(name));
	if (rc == 0)
		s_site_of(txn, b.author, site);
	/* A private space's blob: its key, from a sealed file event this site
	 * opened, of a space the caller may read now (PROTOCOL.md 18.4). */
	if (rc == 0 && b.is_private)
		srk = query_blob_sealed_for(txn, id, r->sess.handle, index_spaces_site(), &sb);
	store_read_end(h->st, &txn);
	/* Nobody wants it (never named, or erased): never served again. */
	if (rc == CPT_ENOTFOUND)
		return http_fail(r, 404, "no_such_file", NULL, NULL,
		                 "no such file (or it was deleted)");
	if (rc != 0)
		return http_error(r, 500, NULL, "store unavailable");
	if (b.is_private && srk != 0) {
		sodium_memzero(&sb, sizeof(sb));
		return http_fail(r, 403, "private_file", NULL, NULL,
		                 "this file belongs to a private space you are not a member of");
	}
	if (!blob_has(h->bs, id, &size)) {
		sodium_memzero(&sb, sizeof(sb));
		/* Someone waits for it: fetched first, whatever its size (18.6). */
		fed_blob_demand(h->fed, id);
		return http_fail(r, 404, "not_here_yet", NULL, json_pack("{s:s}", "from", site),
		                 "file not here yet: it arrives when the link to %s is back",
		                 site[0] ? site : "its site");
	}
	if (b.is_private) {
		/* The member reads the plaintext: its type, name and size. */
		snprintf(b.type, sizeof(b.type), "%s", sb.type);
		snprintf(name, sizeof(name), "%s", sb.name);
		size = sb.plain;
	}
	cpt_hex32(hex, id);
	snprintf(etag, sizeof(etag), "\"%s\"", hex);
	inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	type = b.type[0] && blob_type_known(b.type) ? b.type : "application/octet-stream";
	image = blob_type_is_image(type);
	if (image)
		snprintf(disp, sizeof(disp), "inline");
	else {
		/* RFC 5987: the name percent-encoded, nothing a header could break on. */
		size_t o = (size_t)snprintf(disp, sizeof(disp), "attachment; filename*=UTF-8''");
		for (const char *p = name[0] ? name : "file"; *p && o + 4 < sizeof(disp); p++) {
			unsigned char c = (unsigned char)*p;
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || strchr("-._~", c))
				disp[o++] = (char)c;
			else
				o += (size_t)snprintf(disp + o, sizeof(disp) - o, "%%%02X", c);
		}
		disp[o] = 0;
	}
	from = 0;
	to = size - 1;
	if (inm && strstr(inm, hex) != NULL) {
		status = 304;
	} else {
		rg = s_range(
		    MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE),
		    size, &from, &to);
		if (rg < 0) {
			const char *hdr[] = {"Content-Range", crange, NULL};
			sodium_memzero(&sb, sizeof(sb));
			snprintf(crange, sizeof(crange), "bytes */%llu", (unsigned long long)size);
			return http_reply_hdr(r, 416,
			                      json_pack("{s:s, s:s}", "error",
			                                "the range is past the end of the file",
			                                "code", "bad_range"),
			                      hdr);
		}
		if (rg > 0)
			status = 206;
	}
	if (status == 304) {
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	} else if (b.is_private) {
		struct sdl *sd = calloc(1, sizeof(*sd));
		if (sd == NULL ||
		    blob_sread_open(h->bs, &sd->rd, id, sb.fkey, sb.part, sb.plain) != 0) {
			sodium_memzero(&sb, sizeof(sb));
			free(sd);
			return http_error(r, 500, NULL, "cannot open the file");
		}
		sd->first = from;
		resp = MHD_create_response_from_callback(to - from + 1, 64 * 1024, s_sdl_read, sd,
		                                         s_sdl_free);
		if (resp == NULL)
			s_sdl_free(sd);
	} else {
		if ((d = calloc(1, sizeof(*d))) == NULL)
			return http_error(r, 500, NULL, "out of memory");
		d->bs = h->bs;
		memcpy(d->id, id, BLOB_ID_LEN);
		d->first = from;
		d->chunk = UINT32_MAX;
		resp = MHD_create_response_from_callback(to - from + 1, 64 * 1024, s_dl_read, d,
		                                         s_dl_free);
		if (resp == NULL)
			free(d);
	}
	sodium_memzero(&sb, sizeof(sb)); /* the reader holds its own copy of the key */
	if (resp == NULL)
		return http_error(r, 500, NULL, "out of memory");
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Content-Security-Policy", "sandbox; default-src 'none'");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Content-Disposition", disp);
	MHD_add_response_header(resp, "ETag", etag);
	MHD_add_response_header(resp, "Cache-Control", "private, max-age=31536000, immutable");
	MHD_add_response_header(resp, "Accept-Ranges", "bytes");
	if (r->https && h->hsts_max_age > 0) {
		char v[32];
		snprintf(v, sizeof(v), "max-age=%u", h->hsts_max_age);
		MHD_add_response_header(resp, "Strict-Transport-Security", v);
	}
	if (status == 206) {
		snprintf(crange, sizeof(crange), "bytes %llu-%llu/%llu", (unsigned long long)from,
		         (unsigned long long)to, (unsigned long long)size);
		MHD_add_response_header(resp, "Content-Range", crange);
	}
	(void)len;
	MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	r->queued = 1;
	return 0;
}

/* ------------------------------------------------------------- erasure */

int
api_files_redact_of(http_req_t *r, const uint8_t file[CPT_ID_LEN],
                    const uint8_t author[CPT_KEY_LEN])
{
	store_txn_t *txn;
	evt_t ev;
	int rc, ok;
	char hex[CPT_HEX_ID];
	ingest_res_t res;
	json_t *body, *opened = NULL;

	if (store_read_begin(r->h->st, &txn) != 0)
		return 0;
	/* A private space's file is a sealed event opened here as a file. */
	rc = index_event_open(txn, file, &ev, &opened);
	ok = rc == 0 && ev.kind == EVT_FILE && ev.body != NULL && opened != NULL &&
	     sodium_memcmp(ev.author, author, CPT_KEY_LEN) == 0;
	store_read_end(r->h->st, &txn);
	json_decref(opened);
	if (!ok)
		return 0;
	cpt_hex32(hex, file);
	if ((body = json_pack("{s:s}", "target", hex)) == NULL)
		return 0;
	ok = http_publish(r, EVT_REDACT, body, &res);
	json_decref(body);
	return ok;
}

int
api_file_delete(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	char hex[CPT_HEX_ID];

	if (!http_need_csrf(r))
		return 0;
	if (!api_files_redact_of(r, id, r->sess.key))
		return r->queued ? 0
		                 : http_fail(r, 404, "no_such_file", NULL, NULL,
		                             "no file event of yours with this id");
	cpt_hex32(hex, id);
	return http_reply(r, 200, json_pack("{s:s}", "deleted", hex));
}
