/*
 * Files as the sync side and the API read them (PROTOCOL.md 18.5, 18.6):
 * whether a blob is wanted here, what the events naming it say, and the
 * wanted blobs this site lacks in the order to fetch them. Only reads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/index/index.h"
#include "node/query/query.h"

/* Folds one ref into the blob's summary. */
static void
s_fold(query_blob_t *b, const index_blob_ref_t *r)
{
	if (b->refs == 0) {
		memcpy(b->id, r->blob, 32);
		memcpy(b->author, r->author, CPT_KEY_LEN); /* the oldest: where it was first */
		b->is_private = 1;
		b->thumb = 1;
	}
	b->refs++;
	/* Public as soon as one file event names it in clear; a thumbnail only
	 * when every ref says so (an image also posted as itself is a file). */
	if (!(r->flags & INDEX_BLOB_SEALED)) {
		b->is_private = 0;
		if (r->size)
			b->size = r->size;
		if (r->type[0])
			memcpy(b->type, r->type, sizeof(b->type));
	}
	if (!(r->flags & INDEX_BLOB_THUMB))
		b->thumb = 0;
	if (r->ts >= b->newest) {
		b->newest = r->ts;
		memcpy(b->event, r->id, CPT_ID_LEN);
	}
}

static void
s_classify(query_blob_t *b)
{
	if (b->thumb)
		b->prio = QUERY_BLOB_THUMB;
	else if (b->size != 0 && b->size <= QUERY_BLOB_SMALL)
		b->prio = QUERY_BLOB_SMALL_FILE;
	else
		b->prio = QUERY_BLOB_LARGE_FILE;
}

static int
s_one(void *arg, const index_blob_ref_t *r)
{
	s_fold(arg, r);
	return 0;
}

int
query_blob_wanted(store_txn_t *txn, const uint8_t id[32], query_blob_t *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = index_blob_refs(txn, id, s_one, out)) != 0)
		return rc;
	if (out->refs == 0)
		return CPT_ENOTFOUND;
	s_classify(out);
	return 0;
}

/* The walk over every ref: blobs one after the other. */
struct walk {
	blob_store_t *bs;            /* what is here */
	uint64_t fetch_max;          /* larger blobs are left out (0: none is) */
	query_blob_t cur;            /* the blob being folded */
	query_blob_t *miss;          /* the missing ones, grown */
	size_t n, cap;               /* how many, room */
	query_blob_counts_t *counts; /* or NULL */
	int rc;                      /* CPT_ENOMEM when growing failed */
};

/* The blob folded so far is complete: count it, keep it when missing. */
static void
s_close(struct walk *w)
{
	query_blob_t *b = &w->cur;
	uint64_t have = 0;
	int here;

	if (b->refs == 0)
		return;
	s_classify(b);
	here = w->bs != NULL && blob_has(w->bs, b->id, &have);
	if (w->counts) {
		w->counts->wanted++;
		if (here) {
			w->counts->held++;
			w->counts->held_bytes += have;
		} else {
			w->counts->missing++;
			w->counts->missing_bytes += b->size;
		}
	}
	if (!here && w->miss != NULL && (w->fetch_max == 0 || b->size <= w->fetch_max)) {
		if (w->n == w->cap) {
			size_t cap = w->cap ? 2 * w->cap : 64;
			query_blob_t *m = realloc(w->miss, cap * sizeof(*m));
			if (m == NULL) {
				w->rc = CPT_ENOMEM;
				return;
			}
			w->miss = m;
			w->cap = cap;
		}
		w->miss[w->n++] = *b;
	}
	memset(b, 0, sizeof(*b));
}

static int
s_walk(void *arg, const index_blob_ref_t *r)
{
	struct walk *w = arg;

	if (w->cur.refs != 0 && memcmp(w->cur.id, r->blob, 32) != 0)
		s_close(w);
	s_fold(&w->cur, r);
	return w->rc;
}

/* Fetch order (PROTOCOL.md 18.6): class, then within thumbnails and small
 * files newest first, large files smallest first (then newest); the id
 * breaks ties, so the order is a function of the event set. */
static int
s_order(const void *pa, const void *pb)
{
	const query_blob_t *a = pa, *b = pb;

	if (a->prio != b->prio)
		return a->prio < b->prio ? -1 : 1;
	if (a->prio == QUERY_BLOB_LARGE_FILE && a->size != b->size) {
		uint64_t sa = a->size ? a->size : UINT64_MAX, sb = b->size ? b->size : UINT64_MAX;
		if (sa != sb)
			return sa < sb ? -1 : 1;
	}
	if (a->newest != b->newest)
		return a->newest > b->newest ? -1 : 1;
	return memcmp(a->id, b->id, 32);
}

int
query_blobs_missing(store_txn_t *txn, blob_store_t *bs, uint64_t fetch_max, size_t max,
                    query_blob_fn fn, void *arg)
{
	struct walk w;
	int rc;

	memset(&w, 0, sizeof(w));
	w.bs = bs;
	w.fetch_max = fetch_max;
	w.miss = malloc(64 * sizeof(*w.miss));
	w.cap = w.miss ? 64 : 0;
	if (w.miss == NULL)
		return CPT_ENOMEM;
	rc = index_blob_refs(txn, NULL, s_walk, &w);
	if (rc == 0)
		s_close(&w);
	if (rc == 0)
		rc = w.rc;
	if (rc == 0) {
		if (w.n > 1)
			qsort(w.miss, w.n, sizeof(*w.miss), s_order);
		for (size_t i = 0; i < w.n && i < max && rc == 0; i++)
			rc = fn(arg, &w.miss[i]);
	}
	free(w.miss);
	return rc;
}

int
query_blob_counts(store_txn_t *txn, blob_store_t *bs, query_blob_counts_t *out)
{
	struct walk w;
	int rc;

	memset(&w, 0, sizeof(w));
	memset(out, 0, sizeof(*out));
	w.bs = bs;
	w.counts = out;
	rc = index_blob_refs(txn, NULL, s_walk, &w);
	if (rc == 0)
		s_close(&w);
	return rc;
}

/* ------------------------------------ sealed blobs (PROTOCOL.md 18.4) */

struct sealed_for {
	const char *handle, *site; /* who reads */
	store_txn_t *txn;          /* where */
	query_sealed_blob_t *out;  /* what was found */
	int found;                 /* 1 once found */
};

static int
s_sealed_one(void *arg, const index_blob_ref_t *r)
{
	struct sealed_for *f = arg;
	evt_t ev;
	json_t *body = NULL, *thumbs, *t, *hit = NULL;
	uint8_t space[CPT_ID_LEN];
	const char *fkey, *type, *name;
	char hex[65];
	size_t i;
	int part = -1;

	if (!(r->flags & INDEX_BLOB_SEALED))
		return 0;
	/* Opened here (a member site) as a file: else this site has only
	 * the ciphertext, and so does everyone it could serve. */
	if (index_event_open(f->txn, r->id, &ev, &body) != 0 || body == NULL ||
	    ev.kind != EVT_FILE || index_hex_field(body, "space", space) != 0 ||
	    query_space_readable(f->txn, space, f->handle, f->site) != 1)
		goto next;
	cpt_hex32(hex, r->blob);
	if (json_is_string(json_object_get(body, "blob")) &&
	    strcmp(json_string_value(json_object_get(body, "blob")), hex) == 0) {
		part = 0;
		hit = body;
	}
	thumbs = json_object_get(body, "thumbs");
	json_array_foreach (thumbs, i, t)
		if (part < 0 && json_is_string(json_object_get(t, "blob")) &&
		    strcmp(json_string_value(json_object_get(t, "blob")), hex) == 0) {
			part = (int)i + 1;
			hit = t;
		}
	fkey = json_string_value(json_object_get(body, "fkey"));
	if (part < 0 || fkey == NULL || strlen(fkey) != 64 ||
	    cpt_unhex32(f->out->fkey, fkey, 64) != 0)
		goto next;
	f->out->part = (uint8_t)part;
	f->out->plain = (uint64_t)json_integer_value(json_object_get(hit, "plain"));
	type = part == 0 ? json_string_value(json_object_get(body, "type")) : "image/webp";
	name = json_string_value(json_object_get(body, "name"));
	snprintf(f->out->type, sizeof(f->out->type), "%s", type ? type : "");
	snprintf(f->out->name, sizeof(f->out->name), "%s", name ? name : "");
	memcpy(f->out->event, r->id, CPT_ID_LEN);
	f->found = 1;
next:
	json_decref(body);
	return f->found;
}

int
query_blob_sealed_for(store_txn_t *txn, const uint8_t id[32], const char *handle, const char *site,
                      query_sealed_blob_t *out)
{
	struct sealed_for f = {handle, site, txn, out, 0};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = index_blob_refs(txn, id, s_sealed_one, &f);
	if (rc < 0)
		return rc;
	return f.found ? 0 : CPT_EPERM;
}

/* --------------------------------------------- files as views show them */

/* The file event hex id, as a view shows it when it is a file by author
 * with its body: {"id", "blob", "name", "size", "type", "w", "h",
 * "thumbs", "url", "thumb"}; NULL otherwise (erased, someone else's, not a
 * file: PROTOCOL.md 18.3 shows only the author's own files). */
static json_t *
s_file_view(store_txn_t *txn, const char *hex, const uint8_t author[CPT_KEY_LEN])
{
	uint8_t id[CPT_ID_LEN];
	evt_t ev;
	json_t *body = NULL, *v = NULL, *thumbs, *small = NULL, *t;
	const char *blob;
	size_t i;

	if (hex == NULL || strlen(hex) != 64 || cpt_unhex32(id, hex, 64) != 0)
		return NULL;
	if (index_event_open(txn, id, &ev, &body) != 0 || body == NULL || ev.kind != EVT_FILE ||
	    memcmp(ev.author, author, CPT_KEY_LEN) != 0 ||
	    (blob = json_string_value(json_object_get(body, "blob"))) == NULL) {
		json_decref(body);
		return NULL;
	}
	thumbs = json_object_get(body, "thumbs");
	json_array_foreach (thumbs, i, t)
		if (small == NULL || json_integer_value(json_object_get(t, "w")) <
		                         json_integer_value(json_object_get(small, "w")))
			small = t;
	/* A sealed file (PROTOCOL.md 18.4) shows its plaintext size, not its blob's. */
	v = json_pack("{s:s, s:s, s:O, s:O, s:O, s:o}", "id", hex, "blob", blob, "name",
	              json_object_get(body, "name"), "size",
	              json_object_get(body, "plain") ? json_object_get(body, "plain")
	                                             : json_object_get(body, "size"),
	              "type", json_object_get(body, "type"), "url",
	              json_sprintf("/api/files/%s", blob));
	if (v != NULL) {
		json_t *w = json_object_get(body, "w"), *h = json_object_get(body, "h");
		if (w && h) {
			json_object_set(v, "w", w);
			json_object_set(v, "h", h);
		}
		json_object_set_new(v, "thumbs", thumbs ? json_incref(thumbs) : json_array());
		/* What a list shows: the small thumbnail, or the picture itself
		 * when it is small enough to have none. */
		if (small)
			json_object_set_new(
			    v, "thumb",
			    json_sprintf("/api/files/%s",
			                 json_string_value(json_object_get(small, "blob"))));
		else if (blob_type_is_image(json_string_value(json_object_get(body, "type"))))
			json_object_set_new(v, "thumb", json_sprintf("/api/files/%s", blob));
	}
	json_decref(body);
	return v;
}

json_t *
query_files_view(store_txn_t *txn, const json_t *ids, const uint8_t author[CPT_KEY_LEN])
{
	json_t *out = json_array(), *x, *v;
	size_t i;

	if (out == NULL || !json_is_array(ids))
		return out;
	json_array_foreach (ids, i, x)
		if ((v = s_file_view(txn, json_string_value(x), author)) != NULL)
			json_array_append_new(out, v);
	return out;
}

json_t *
query_photo_url(store_txn_t *txn, const char *file_hex, const uint8_t author[CPT_KEY_LEN])
{
	json_t *v = s_file_view(txn, file_hex, author), *u = NULL;

	if (v != NULL && blob_type_is_image(json_string_value(json_object_get(v, "type"))))
		u = json_incref(json_object_get(v, "thumb"));
	json_decref(v);
	return u;
}

/* ------------------------------------------------- uploads never posted */

/* 1 when the string hex is a value anywhere in j (depth-bounded). */
static int
s_names(const json_t *j, const char *hex, int depth)
{
	const char *k;
	const json_t *v;
	size_t i;

	if (depth > 8)
		return 0;
	if (json_is_string(j))
		return strcmp(json_string_value(j), hex) == 0;
	if (json_is_array(j)) {
		json_array_foreach (j, i, v)
			if (s_names(v, hex, depth + 1))
				return 1;
	} else if (json_is_object(j)) {
		json_object_foreach ((json_t *)j, k, v)
			if (s_names(v, hex, depth + 1))
				return 1;
	}
	return 0;
}

int
query_file_used(store_txn_t *txn, const uint8_t file[CPT_ID_LEN], const uint8_t author[CPT_KEY_LEN],
                uint64_t ts)
{
	uint8_t seek[CPT_KEY_LEN + 8];
	char hex[CPT_HEX_ID];
	store_cur_t *cur;
	store_val_t k = {sizeof(seek), seek}, v;
	int rc, used = 0;

	memcpy(seek, author, CPT_KEY_LEN);
	store_put_u64(seek + CPT_KEY_LEN, ts);
	cpt_hex32(hex, file);
	if ((rc = store_cur_open(txn, DB_BY_AUTHOR, &cur)) != 0)
		return rc;
	/* The author's events from ts on, in time order (DB_BY_AUTHOR). */
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	     rc == 0 && !used && k.len == CPT_KEY_LEN + 8 + CPT_ID_LEN &&
	     memcmp(k.data, author, CPT_KEY_LEN) == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		uint16_t kind = store_get_kind(&v);
		uint8_t id[CPT_ID_LEN];
		json_t *body = NULL;
		evt_t ev;
		if (kind == EVT_REDACT || kind == EVT_FILE)
			continue;
		memcpy(id, (const uint8_t *)k.data + CPT_KEY_LEN + 8, CPT_ID_LEN);
		if (index_event_open(txn, id, &ev, &body) != 0)
			continue;
		/* Sealed and not opened here: it may name the file. */
		if (ev.kind == EVT_SEALED && body == NULL && ev.body != NULL)
			used = 1;
		else if (body != NULL && s_names(body, hex, 0))
			used = 1;
		json_decref(body);
	}
	store_cur_close(&cur);
	if (rc != 0 && rc != CPT_ENOTFOUND && !used)
		return rc;
	return used;
}

json_t *
query_cover(store_txn_t *txn, const char *file_hex, const char *by)
{
	uint8_t id[CPT_ID_LEN];
	evt_t ev;
	json_t *body = NULL, *v, *out = NULL, *t, *large = NULL;
	char handle[64];
	size_t i;

	if (file_hex == NULL || by == NULL || strlen(file_hex) != 64 ||
	    cpt_unhex32(id, file_hex, 64) != 0)
		return NULL;
	if (index_event_open(txn, id, &ev, &body) != 0 || body == NULL || ev.kind != EVT_FILE) {
		json_decref(body);
		return NULL;
	}
	json_decref(body);
	/* The setter's own picture, as a profile photo is its owner's. */
	if (index_handle_of(txn, ev.author, handle) != 0 || strcmp(handle, by) != 0)
		return NULL;
	v = s_file_view(txn, file_hex, ev.author);
	if (v == NULL || !blob_type_is_image(json_string_value(json_object_get(v, "type")))) {
		json_decref(v);
		return NULL;
	}
	json_array_foreach (json_object_get(v, "thumbs"), i, t)
		if (large == NULL || json_integer_value(json_object_get(t, "w")) >
		                         json_integer_value(json_object_get(large, "w")))
			large = t;
	out = json_pack(
	    "{s:O, s:o}", "thumb", json_object_get(v, "thumb"), "url",
	    large ? json_sprintf("/api/files/%s", json_string_value(json_object_get(large, "blob")))
	          : json_incref(json_object_get(v, "url")));
	json_decref(v);
	return out;
}
