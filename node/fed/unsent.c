/*
 * What each peer still lacks of ours, when the engine cannot tell (the
 * link is down, or not yet reconciled): a watermark per peer (fed_internal.h,
 * unsent_t) moved once a second, counted from the reconciliation index, kept
 * in the store while the link is down; and the peers' state as the status,
 * the metrics and status.json show it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/fed/fed_internal.h"
#include "node/index/index.h"

/* The watermark entry of a peer, made (and loaded from the store) on first
 * sight when make is set; NULL when full or unknown. Under unsent_lock. */
static unsent_t *
s_unsent_of(fed_t *f, const uint8_t key[CPT_KEY_LEN], int make)
{
	unsent_t *u;
	json_t *site;

	for (size_t i = 0; i < f->n_unsent; i++)
		if (memcmp(f->unsent[i].key, key, CPT_KEY_LEN) == 0)
			return &f->unsent[i];
	if (!make || f->n_unsent == SYNC_MAX_PEERS)
		return NULL;
	u = &f->unsent[f->n_unsent++];
	memset(u, 0, sizeof(*u));
	memcpy(u->key, key, CPT_KEY_LEN);
	if (fed_peer_marked(f->node, key, u->saved, &u->down_ms) == 0) {
		memcpy(u->from, u->saved, 40);
		u->known = u->saved_known = 1;
	}
	if ((site = fed_site(f->node, key)) != NULL) {
		snprintf(u->site, sizeof(u->site), "%s",
		         json_string_value(json_object_get(site, "site")) ?: "");
		u->revoked = json_is_true(json_object_get(site, "revoked")) ||
		             json_is_true(json_object_get(site, "expired"));
		json_decref(site);
	}
	return u;
}

/* Keeps a watermark that moved (while the link is down, and at stop), so
 * that a restart still knows what the peer lacks. Under unsent_lock. */
static void
s_unsent_keep(fed_t *f, unsent_t *u)
{
	if (u->known && (!u->saved_known || memcmp(u->saved, u->from, 40) != 0) &&
	    fed_peer_mark(f->node, u->key, u->from, u->down_ms) == 0) {
		memcpy(u->saved, u->from, 40);
		u->saved_known = 1;
	}
}

/* The peers a watermark was kept for: known before the engine links them
 * again (a peer that dials us is not linked until it does). */
void
fed_unsent_load(fed_t *f)
{
	uint8_t(*keys)[CPT_KEY_LEN] = malloc(SYNC_MAX_PEERS * CPT_KEY_LEN);
	size_t k = keys ? fed_peer_keys(f->node, keys, SYNC_MAX_PEERS) : 0;

	pthread_mutex_lock(&f->unsent_lock);
	for (size_t i = 0; i < k; i++)
		s_unsent_of(f, keys[i], 1);
	pthread_mutex_unlock(&f->unsent_lock);
	free(keys);
}

/* Once a second: moves each peer's watermark and counts what lies above it
 * (see unsent_t). A peer in step holds every event we held at the previous
 * tick: those were announced since, and nothing is left unacknowledged. */
void
fed_unsent_tick(fed_t *f)
{
	sync_peer_status_t *ps = calloc(SYNC_MAX_PEERS, sizeof(*ps));
	size_t np = ps ? sync_status(f->sync, ps, SYNC_MAX_PEERS) : 0;
	uint8_t after[40], low[40], inf[40];
	int has_low;
	store_txn_t *txn;

	if (ps == NULL)
		return;
	memset(inf, 0xff, sizeof(inf));
	node_stored_since(f->node, after, low, &has_low);
	pthread_mutex_lock(&f->unsent_lock);
	{
		json_t *me = fed_site(f->node, key_sign_public(node_site_key(f->node)));
		f->self_revoked = json_is_true(json_object_get(me, "revoked"));
		json_decref(me);
	}
	for (size_t i = 0; i < f->n_unsent; i++)
		f->unsent[i].linked = 0;
	for (size_t i = 0; i < np; i++) {
		unsent_t *u = s_unsent_of(f, ps[i].site_key, 1);
		if (u == NULL)
			continue;
		u->linked = 1;
		u->revoked = ps[i].revoked;
		if (ps[i].connected && ps[i].settled && ps[i].to_send == 0) {
			memcpy(u->from, after, 40);
			u->known = 1;
		}
		if (!ps[i].connected)
			u->down_ms = ps[i].since_ms;
	}
	for (size_t i = 0; i < f->n_unsent; i++) {
		/* Revoked meanwhile? (the engine says so for those it links) */
		json_t *site = f->unsent[i].linked ? NULL : fed_site(f->node, f->unsent[i].key);
		if (site)
			f->unsent[i].revoked = json_is_true(json_object_get(site, "revoked")) ||
			                       json_is_true(json_object_get(site, "expired"));
		json_decref(site);
	}
	if (store_read_begin(node_store(f->node), &txn) == 0) {
		for (size_t i = 0; i < f->n_unsent; i++) {
			unsent_t *u = &f->unsent[i];
			uint8_t sum[32];
			if (u->known && has_low && memcmp(low, u->from, 40) < 0)
				memcpy(u->from, low, 40);
			u->count = 0;
			if (u->known && !u->revoked)
				bk_fingerprint(txn, u->from, inf, &u->count, sum);
		}
		store_read_end(node_store(f->node), &txn);
	}
	for (size_t i = 0; i < f->n_unsent; i++) {
		int up = 0;
		for (size_t j = 0; j < np; j++)
			up |= ps[j].connected &&
			      memcmp(ps[j].site_key, f->unsent[i].key, CPT_KEY_LEN) == 0;
		if (!up)
			s_unsent_keep(f, &f->unsent[i]);
	}
	pthread_mutex_unlock(&f->unsent_lock);
	free(ps);
}

/* At stop: every watermark that moved is kept. */
void
fed_unsent_save(fed_t *f)
{
	pthread_mutex_lock(&f->unsent_lock);
	for (size_t i = 0; i < f->n_unsent; i++)
		s_unsent_keep(f, &f->unsent[i]);
	pthread_mutex_unlock(&f->unsent_lock);
}

size_t
fed_peers(fed_t *f, sync_peer_status_t *out, size_t max)
{
	size_t k = sync_status(f->sync, out, max);

	pthread_mutex_lock(&f->unsent_lock);
	for (size_t i = 0; i < k; i++) {
		unsent_t *u = s_unsent_of(f, out[i].site_key, 0);
		if (out[i].revoked || f->self_revoked)
			out[i].to_send = 0; /* nothing will go to it any more */
		else if (u && u->known && !(out[i].connected && out[i].settled) &&
		         u->count > out[i].to_send)
			out[i].to_send = u->count;
	}
	/* A peer that dials us and has not since this node started: still a
	 * site cut off, with what waits for it. */
	for (size_t i = 0; i < f->n_unsent && k < max; i++) {
		unsent_t *u = &f->unsent[i];
		int listed = 0;
		if (!u->known || u->site[0] == 0)
			continue;
		for (size_t j = 0; j < k && !listed; j++)
			listed = memcmp(out[j].site_key, u->key, CPT_KEY_LEN) == 0;
		if (listed)
			continue;
		memset(&out[k], 0, sizeof(out[k]));
		memcpy(out[k].site_key, u->key, CPT_KEY_LEN);
		snprintf(out[k].site, sizeof(out[k].site), "%s", u->site);
		out[k].since_ms = u->down_ms;
		out[k].revoked = u->revoked;
		out[k].to_send = u->revoked || f->self_revoked ? 0 : u->count;
		k++;
	}
	pthread_mutex_unlock(&f->unsent_lock);
	return k;
}

json_t *
fed_peer_json(fed_t *f, const sync_peer_status_t *p)
{
	char key[CPT_HEX_ID];
	json_t *j, *site = fed_site(f->node, p->site_key);
	const char *state = p->connected ? "connected" : p->refused ? "refused" : "unreachable";

	/* A revoked site is not an outage: nothing will ever reach it again. */
	if (p->revoked)
		state = json_is_true(json_object_get(site, "expired")) ? "expired" : "revoked";
	cpt_hex32(key, p->site_key);
	j = json_pack("{s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	              "s:I, s:I, s:I, s:I}",
	              "site", p->site, "site_key", key, "endpoint", p->endpoint, "state", state,
	              "connected", p->connected, "since_ms", (json_int_t)p->since_ms,
	              "last_exchange_ms", (json_int_t)p->last_exchange_ms, "last_reconcile_ms",
	              (json_int_t)p->last_reconcile_ms, "sent", (json_int_t)p->sent, "received",
	              (json_int_t)p->received, "rejected", (json_int_t)p->rejected, "to_send",
	              (json_int_t)p->to_send, "to_receive", (json_int_t)p->to_receive, "bytes_in",
	              (json_int_t)p->bytes_in, "bytes_out", (json_int_t)p->bytes_out, "msgs_in",
	              (json_int_t)p->msgs_in, "msgs_out", (json_int_t)p->msgs_out, "rate_in",
	              (json_int_t)p->rate_in, "reconciliations", (json_int_t)p->reconciliations);
	/* How long receiving to_receive takes at rate_in, rounded up; null when
	 * nothing is coming or nothing is being stored yet. */
	if (j)
		json_object_set_new(
		    j, "eta_s",
		    p->to_receive && p->rate_in
		        ? json_integer((json_int_t)((p->to_receive + p->rate_in - 1) / p->rate_in))
		        : json_null());
	if (j && json_is_string(json_object_get(site, "title")))
		json_object_set(j, "title", json_object_get(site, "title"));
	/* Files (PROTOCOL.md 18.6): what is still to fetch from it, and the
	 * traffic; blob_version 0: it speaks no blob message. */
	if (j)
		json_object_set_new(
		    j, "files",
		    json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "blob_version",
		              p->blob_version, "to_fetch", (json_int_t)p->blob_wait,
		              "to_fetch_bytes", (json_int_t)p->blob_wait_bytes, "bytes_in",
		              (json_int_t)p->blob_bytes_in, "bytes_out",
		              (json_int_t)p->blob_bytes_out, "refused", (json_int_t)p->blob_refused,
		              "unread", (json_int_t)p->blob_unread, "held_back",
		              (json_int_t)p->blob_held_back, "held_there",
		              (json_int_t)p->blob_held_said));
	json_decref(site);
	return j;
}

json_t *
fed_peers_json(fed_t *f)
{
	sync_peer_status_t *ps = calloc(SYNC_MAX_PEERS, sizeof(*ps));
	json_t *out = json_array();
	size_t np = ps ? fed_peers(f, ps, SYNC_MAX_PEERS) : 0;

	for (size_t i = 0; out && i < np; i++)
		json_array_append_new(out, fed_peer_json(f, &ps[i]));
	free(ps);
	return out;
}

void
fed_status_json(fed_t *f, json_t *status)
{
	json_t *sites, *x;
	uint64_t now = hlc_wall_ms();
	size_t i, over;

	/* Every open tab polls the status: the scan of the key records (0.4 ms
	 * at 5,000 users) is made once a second at most. */
	pthread_mutex_lock(&f->unsent_lock);
	if (f->sites == NULL || now - f->sites_ms >= 1000 || now < f->sites_ms) {
		json_decref(f->sites);
		f->sites = fed_sites(f->node);
		f->sites_ms = now;
	}
	sites = json_deep_copy(f->sites);
	pthread_mutex_unlock(&f->unsent_lock);
	if (sites == NULL)
		sites = json_array();

	json_array_foreach (sites, i, x) {
		if (!json_is_true(json_object_get(x, "self")))
			continue;
		if (json_is_string(json_object_get(x, "title")))
			json_object_set(status, "title", json_object_get(x, "title"));
		json_object_set(status, "revoked", json_object_get(x, "revoked"));
	}
	if (json_object_get(status, "revoked") == NULL)
		json_object_set_new(status, "revoked", json_false());
	json_object_set_new(status, "sites", sites);
	json_object_set_new(status, "peers", fed_peers_json(f));
	/* Peers past the engine's limit of links: never dropped in silence. */
	pthread_mutex_lock(&f->unsent_lock);
	over = f->dial_excess;
	pthread_mutex_unlock(&f->unsent_lock);
	json_object_set_new(status, "peers_limit", json_integer(SYNC_MAX_PEERS));
	json_object_set_new(status, "peers_over_limit",
	                    json_integer((json_int_t)(over + sync_over_limit(f->sync))));
	json_object_set_new(status, "file_sync", fed_file_sync_json(f));
}

json_t *
fed_file_sync_json(fed_t *f)
{
	sync_blob_status_t b;

	sync_blob_status(f->sync, &b);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "fetching",
	                 (json_int_t)b.fetching, "fetching_bytes", (json_int_t)b.fetching_bytes,
	                 "unreachable", (json_int_t)b.unreachable, "fetched", (json_int_t)b.fetched,
	                 "bytes_in", (json_int_t)b.bytes_in, "resumed_bytes",
	                 (json_int_t)b.resumed_bytes, "damaged", (json_int_t)b.damaged, "unread",
	                 (json_int_t)b.unread, "unread_max", (json_int_t)b.unread_max);
}
