/*
 * Profiles (DB_PROFILES, per handle): last-writer-wins registers per field
 * over the profile events of every key the handle's site enrolled for it,
 * and the names its enrolments carry, ordered by (timestamp, id).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/index/index_internal.h"

/* "photo": a file event id of the person's own picture (PROTOCOL.md 18.3). */
const char *const index_profile_fields[] = {"name",     "title", "department", "site",  "phone",
                                            "location", "bio",   "skills",     "photo", NULL};

/* Collects [ts, id hex] of events into a JSON array (arg). */
static int
s_collect_ev(index_ctx_t *ix, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	uint64_t ts;
	char hex[CPT_HEX_ID];

	if (index_env_ts(txn, id, &ts) != 0)
		return 0;
	cpt_hex32(hex, id);
	json_array_append_new(arg, json_pack("[I, s]", (json_int_t)ts, hex));
	return 0;
}

static int
s_cmp_tsid_json(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	json_int_t tx = json_integer_value(json_array_get(x, 0)),
	           ty = json_integer_value(json_array_get(y, 0));

	if (tx != ty)
		return (uint64_t)tx < (uint64_t)ty ? -1 : 1;
	return strcmp(json_string_value(json_array_get(x, 1)),
	              json_string_value(json_array_get(y, 1)));
}

/* Sorts an array of [ts, id hex] by (timestamp, id): hex order is byte order. */
static void
s_sort_tsid(json_t *arr)
{
	size_t n = json_array_size(arr);
	json_t **items = calloc(n ? n : 1, sizeof(*items));

	if (items == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		items[i] = json_incref(json_array_get(arr, i));
	qsort(items, n, sizeof(*items), s_cmp_tsid_json);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, items[i]);
	free(items);
}

struct profile_acc {
	json_t *fields;   /* field -> value, last writer wins */
	uint64_t updated; /* newest profile timestamp */
};

static int
s_profile_ev(index_ctx_t *ix, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	struct profile_acc *a = arg;
	evt_t ev;
	json_t *b, *f, *v;
	const char *k;

	if (index_event(txn, id, &ev) != 0 || (b = index_body(&ev)) == NULL)
		return 0;
	/* Events come in (timestamp, id) order: a later one overwrites. An
	 * enrolment by the handle's site may carry the name its admins gave
	 * (the site cannot sign the user's profile): a write of "name", where
	 * "" clears it. Anything else in it is not a name and changes nothing. */
	if (ev.kind == EVT_ENROL) {
		v = json_object_get(b, "name");
		if (json_is_string(v) && json_string_length(v) <= EVT_MAX_FIELD) {
			if (json_string_length(v) == 0)
				json_object_del(a->fields, "name");
			else
				json_object_set(a->fields, "name", v);
			a->updated = ev.ts;
		}
		json_decref(b);
		return 0;
	}
	f = json_object_get(b, "fields");
	json_object_foreach (f, k, v) {
		for (int i = 0; index_profile_fields[i]; i++)
			if (strcmp(k, index_profile_fields[i]) == 0) {
				if (json_is_null(v))
					json_object_del(a->fields, k);
				else
					json_object_set(a->fields, k, v);
			}
	}
	a->updated = ev.ts;
	json_decref(b);
	return 0;
}

/* Appends [ts, id hex] of the enrolment of entry e ([ts, id, key, by, site] of a
 * DB_HANDLES list) to evs when it carries a "name". */
static void
s_enrol_name(index_ctx_t *ix, store_txn_t *txn, const json_t *e, json_t *evs)
{
	const char *ih = json_string_value(json_array_get(e, 1));
	uint8_t id[CPT_ID_LEN];
	evt_t ev;
	json_t *b;

	if (ih == NULL || cpt_unhex32(id, ih, strlen(ih)) != 0 || index_event(txn, id, &ev) != 0 ||
	    (b = index_body(&ev)) == NULL)
		return;
	if (json_object_get(b, "name"))
		json_array_append_new(evs, json_pack("[I, s]", (json_int_t)ev.ts, ih));
	json_decref(b);
}

/* Profiles are per handle: the LWW registers merge the profile events of
 * every key the owning site enrolled for the handle and that still has this
 * handle (a key enrolled again under another handle writes that one), and
 * the names the owning site's enrolments of the handle carry. */
int
ix_profile_rebuild_handle(index_ctx_t *ix, store_txn_t *txn, const char *handle)
{
	struct profile_acc acc = {json_object(), 0};
	json_t *rec, *enrols, *e, *evs, *seen;
	const char *first_by;
	size_t i;
	int rc = 0;

	enrols = ix_handle_enrols(txn, handle);
	/* The owning site is a site name (PROTOCOL.md 8.7): a site certified
	 * again with a new key keeps its people. */
	first_by = json_string_value(json_array_get(json_array_get(enrols, 0), 4));
	/* Gather the profile events of every key, then apply them in order. */
	evs = json_array();
	seen = json_object();
	json_array_foreach (enrols, i, e) {
		uint8_t k[CPT_KEY_LEN];
		char now[64];
		const char *kh = json_string_value(json_array_get(e, 2));
		if (first_by == NULL ||
		    strcmp(json_string_value(json_array_get(e, 4)) ?: "", first_by) != 0)
			continue;
		/* The owning site's enrolments that name the person. */
		s_enrol_name(ix, txn, e, evs);
		if (kh == NULL || json_object_get(seen, kh) ||
		    cpt_unhex32(k, kh, strlen(kh)) != 0 ||
		    index_handle_cached(ix, txn, k, now) != 0 || strcmp(now, handle) != 0)
			continue;
		json_object_set_new(seen, kh, json_true());
		if ((rc = index_each_by_author(ix, txn, k, EVT_PROFILE, s_collect_ev, evs)) != 0)
			break;
	}
	json_decref(seen);
	if (rc == 0) {
		s_sort_tsid(evs);
		json_array_foreach (evs, i, e) {
			uint8_t id[CPT_ID_LEN];
			const char *ih = json_string_value(json_array_get(e, 1));
			if (cpt_unhex32(id, ih, strlen(ih)) == 0 &&
			    (rc = s_profile_ev(ix, txn, id, EVT_PROFILE, &acc)) != 0)
				break;
		}
	}
	json_decref(evs);
	json_decref(enrols);
	if (rc != 0 || acc.updated == 0) {
		json_decref(acc.fields);
		return rc != 0 ? rc : store_del(txn, DB_PROFILES, handle, strlen(handle));
	}
	rec = json_pack("{s:o, s:I}", "fields", acc.fields, "updated",
	                (json_int_t)HLC_MS(acc.updated));
	if (rec == NULL)
		return CPT_ENOMEM;
	rc = store_put_json(txn, DB_PROFILES, handle, strlen(handle), rec);
	json_decref(rec);
	return rc;
}

static int
s_profile_rebuild(index_ctx_t *ix, store_txn_t *txn, const uint8_t author[CPT_KEY_LEN])
{
	char handle[64];

	if (index_handle_cached(ix, txn, author, handle) != 0)
		return 0;
	return ix_profile_rebuild_handle(ix, txn, handle);
}

int
ix_profiles_changed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	return s_profile_rebuild(ix, txn, e->ev->author);
}
