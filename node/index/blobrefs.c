/*
 * Blob refs (DB_BLOB_REFS): which events name which blob (PROTOCOL.md 18.5).
 * A file event (kind 20) names its blob and its thumbnails; a sealed event
 * (kind 14) names the ciphertext blobs of its outer "blobs". A blob is
 * wanted while one admitted, unredacted event names it: a function of the
 * event set, so every site converges to the same set of blobs.
 */
#include <string.h>

#include "node/index/index_internal.h"

#define REF_KEY_LEN (1 + 32 + STORE_TSID_LEN) /* 'b' blob ts id */
#define REF_VAL_MIN (8 + 1 + CPT_KEY_LEN)     /* size flags author, then the type */
#define REFS_MAX    3                         /* blobs of one event: the file, 2 thumbnails */

/* The blobs an event names, with what each ref records. */
struct named {
	size_t n;                   /* how many */
	uint8_t blob[REFS_MAX][32]; /* their ids */
	uint64_t size[REFS_MAX];    /* their sizes (0: not known, a sealed event's) */
	uint8_t flags[REFS_MAX];    /* INDEX_BLOB_THUMB, INDEX_BLOB_SEALED */
	const char *type[REFS_MAX]; /* their types ("" unknown; borrowed from the body) */
};

/* The blobs body (of an event of kind) names, into out. A body that does
 * not say (erased, or a sealed event without "blobs") names none. */
static void
s_named(uint16_t kind, const json_t *body, struct named *out)
{
	memset(out, 0, sizeof(*out));
	if (body == NULL)
		return;
	if (kind == EVT_FILE) {
		const char *type = json_string_value(json_object_get(body, "type"));
		json_t *thumbs = json_object_get(body, "thumbs"), *t;
		size_t i;
		if (index_hex_field(body, "blob", out->blob[0]) != 0)
			return;
		out->size[0] = (uint64_t)json_integer_value(json_object_get(body, "size"));
		out->type[0] = type ? type : "";
		out->n = 1;
		json_array_foreach (thumbs, i, t) {
			if (out->n == REFS_MAX ||
			    index_hex_field(t, "blob", out->blob[out->n]) != 0)
				continue;
			out->size[out->n] =
			    (uint64_t)json_integer_value(json_object_get(t, "size"));
			out->flags[out->n] = INDEX_BLOB_THUMB;
			out->type[out->n] = "image/webp";
			out->n++;
		}
		return;
	}
	if (kind == EVT_SEALED) {
		json_t *blobs = json_object_get(body, "blobs"), *v;
		size_t i;
		if (!json_is_array(blobs) || json_array_size(blobs) > REFS_MAX)
			return;
		json_array_foreach (blobs, i, v) {
			const char *h = json_string_value(v);
			if (h == NULL || strlen(h) != 64 ||
			    cpt_unhex32(out->blob[out->n], h, 64) != 0)
				continue;
			out->flags[out->n] =
			    INDEX_BLOB_SEALED | (out->n > 0 ? INDEX_BLOB_THUMB : 0);
			out->type[out->n] = "";
			out->n++;
		}
	}
}

static void
s_ref_key(uint8_t k[REF_KEY_LEN], const uint8_t blob[32], uint64_t ts, const uint8_t id[32])
{
	k[0] = 'b';
	memcpy(k + 1, blob, 32);
	store_tsid(k + 33, ts, id);
}

int
ix_blobrefs_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	struct named nm;
	uint8_t k[REF_KEY_LEN], ek[1 + CPT_ID_LEN], list[REFS_MAX * 32];
	int rc;

	(void)ix;
	s_named(e->ev->kind, e->body, &nm);
	if (nm.n == 0)
		return 0;
	for (size_t i = 0; i < nm.n; i++) {
		size_t tl = strlen(nm.type[i]);
		uint8_t v[REF_VAL_MIN + 128];
		if (tl > 128)
			tl = 128;
		store_put_u64(v, nm.size[i]);
		v[8] = nm.flags[i];
		memcpy(v + 9, e->ev->author, CPT_KEY_LEN);
		memcpy(v + REF_VAL_MIN, nm.type[i], tl);
		s_ref_key(k, nm.blob[i], e->ev->ts, e->id);
		if ((rc = store_put(txn, DB_BLOB_REFS, k, sizeof(k), v, REF_VAL_MIN + tl)) != 0)
			return rc;
		memcpy(list + 32 * i, nm.blob[i], 32);
	}
	ek[0] = 'e';
	memcpy(ek + 1, e->id, CPT_ID_LEN);
	return store_put(txn, DB_BLOB_REFS, ek, sizeof(ek), list, 32 * nm.n);
}

/* The event left, or its body did (a redaction): its refs go, found by its
 * own record, so that no body is needed to undo them. */
int
ix_blobrefs_removed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	uint8_t k[REF_KEY_LEN], ek[1 + CPT_ID_LEN], list[REFS_MAX * 32];
	store_val_t v;
	size_t n;
	int rc;

	(void)ix;
	ek[0] = 'e';
	memcpy(ek + 1, e->id, CPT_ID_LEN);
	rc = store_get(txn, DB_BLOB_REFS, ek, sizeof(ek), &v);
	if (rc == CPT_ENOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	n = v.len / 32 <= REFS_MAX ? v.len / 32 : REFS_MAX;
	memcpy(list, v.data, 32 * n); /* copied: the deletes below move the map */
	for (size_t i = 0; i < n; i++) {
		s_ref_key(k, list + 32 * i, e->ev->ts, e->id);
		if ((rc = store_del(txn, DB_BLOB_REFS, k, sizeof(k))) != 0)
			return rc;
	}
	return store_del(txn, DB_BLOB_REFS, ek, sizeof(ek));
}

/* Fills r from a ref entry; 0, or CPT_EINVAL when it is not one. */
static int
s_ref_of(const store_val_t *k, const store_val_t *v, index_blob_ref_t *r)
{
	const uint8_t *kb = k->data, *vb = v->data;
	size_t tl;

	if (k->len != REF_KEY_LEN || kb[0] != 'b' || v->len < REF_VAL_MIN)
		return CPT_EINVAL;
	memcpy(r->blob, kb + 1, 32);
	r->ts = store_get_u64(kb + 33);
	memcpy(r->id, kb + 41, CPT_ID_LEN);
	r->size = store_get_u64(vb);
	r->flags = vb[8];
	memcpy(r->author, vb + 9, CPT_KEY_LEN);
	tl =
	    v->len - REF_VAL_MIN < sizeof(r->type) - 1 ? v->len - REF_VAL_MIN : sizeof(r->type) - 1;
	memcpy(r->type, vb + REF_VAL_MIN, tl);
	r->type[tl] = 0;
	return 0;
}

int
index_blob_refs(store_txn_t *txn, const uint8_t *blob, index_blob_fn fn, void *arg)
{
	store_cur_t *cur = NULL;
	store_val_t k, v;
	uint8_t seek[1 + 32];
	index_blob_ref_t r;
	int rc;

	if ((rc = store_cur_open(txn, DB_BLOB_REFS, &cur)) != 0)
		return rc;
	seek[0] = 'b';
	if (blob)
		memcpy(seek + 1, blob, 32);
	k.data = seek;
	k.len = blob ? sizeof(seek) : 1;
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		const uint8_t *kb = k.data;
		if (k.len < 1 || kb[0] != 'b' || (blob && (k.len < 33 || memcmp(kb + 1, blob, 32))))
			break;
		if (s_ref_of(&k, &v, &r) != 0)
			continue;
		if ((rc = fn(arg, &r)) != 0)
			break;
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}
