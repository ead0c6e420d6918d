/*
 * The calls that show the site: its status (this site, its peers, the
 * sites by name), the Prometheus metrics, and the figures for management
 * (computed one at a time, kept a minute per period).
 */
#include <stdio.h>
#include <stdlib.h>

#include "node/http/http_internal.h"

#ifdef COMPTOIR_VERSION
#define HTTP_VERSION_STR COMPTOIR_VERSION
#else
#define HTTP_VERSION_STR "0.1.0"
#endif

#define MAX_PEERS_SHOWN SYNC_MAX_PEERS

int
api_status(http_req_t *r)
{
	http_t *h = r->h;
	node_stats_t ns;
	store_txn_t *txn;
	json_t *j;

	node_stats(h->node, &ns);
	if (store_read_begin(h->st, &txn) != 0)
		return http_error(r, 500, NULL, "store unavailable");
	j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "site", h->site, "version",
	              HTTP_VERSION_STR, "uptime_s",
	              (json_int_t)((hlc_wall_ms() - ns.started_ms) / 1000), "events",
	              (json_int_t)index_env_count(txn), "posts",
	              (json_int_t)store_count(txn, DB_FEED), "users",
	              (json_int_t)store_count(txn, DB_HANDLES), "pending",
	              (json_int_t)store_count(txn, DB_PENDING), "store_bytes",
	              (json_int_t)store_bytes(h->st), "sessions", (json_int_t)sess_count(h->sess));
	if (j) {
		/* Files (PROTOCOL.md 18.5): what the events want, what is here. */
		query_blob_counts_t c;
		if (query_blob_counts(txn, h->bs, &c) == 0)
			json_object_set_new(
			    j, "files",
			    json_pack("{s:I, s:I, s:I, s:I, s:I}", "wanted", (json_int_t)c.wanted,
			              "held", (json_int_t)c.held, "bytes", (json_int_t)c.held_bytes,
			              "missing", (json_int_t)c.missing, "missing_bytes",
			              (json_int_t)c.missing_bytes));
	}
	store_read_end(h->st, &txn);
	/* When this node last stored events (a heal's benchmark reads it to
	 * time the union exactly, without polling fast). */
	if (j)
		json_object_set_new(j, "stored_us", json_integer((json_int_t)ns.stored_us));
	if (j) {
		/* How far the search index is behind the store (a catch-up). */
		search_t *s = atomic_load(&h->search);
		if (s)
			json_object_set_new(
			    j, "search",
			    json_pack("{s:I}", "behind", (json_int_t)search_backlog(s)));
	}
	if (j) /* this site's title and state, the sites by name, the peer links */
		fed_status_json(h->fed, j);
	return http_reply(r, 200, j);
}

int
api_metrics(http_req_t *r)
{
	http_t *h = r->h;
	node_stats_t ns;
	store_txn_t *txn;
	size_t events = 0, pending = 0, len = 0;
	uint64_t bytes = 0;
	char *buf = NULL;
	FILE *f;
	query_blob_counts_t bc;
	int have_bc = 0;

	node_stats(h->node, &ns);
	if (store_read_begin(h->st, &txn) == 0) {
		events = index_env_count(txn);
		pending = store_count(txn, DB_PENDING);
		bytes = store_bytes(h->st);
		have_bc = query_blob_counts(txn, h->bs, &bc) == 0;
		store_read_end(h->st, &txn);
	}
	if ((f = open_memstream(&buf, &len)) == NULL)
		return http_error(r, 500, NULL, "out of memory");
#define METRIC(name, type, help) fprintf(f, "# HELP " name " " help "\n# TYPE " name " " type "\n")
	METRIC("comptoir_events_stored", "gauge", "Events held in the store.");
	fprintf(f, "comptoir_events_stored %zu\n", events);
	{
		search_t *s = atomic_load(&h->search);
		if (s) {
			METRIC("comptoir_search_behind", "gauge",
			       "Changes stored and not yet in the search index.");
			fprintf(f, "comptoir_search_behind %llu\n",
			        (unsigned long long)search_backlog(s));
		}
	}
	if (have_bc) {
		METRIC("comptoir_blobs_wanted", "gauge",
		       "Files (blobs) named by an unredacted event: what this site keeps.");
		fprintf(f, "comptoir_blobs_wanted %llu\n", (unsigned long long)bc.wanted);
		METRIC("comptoir_blobs_held", "gauge", "Of them, files on this site's disk.");
		fprintf(f, "comptoir_blobs_held %llu\n", (unsigned long long)bc.held);
		METRIC("comptoir_blob_bytes", "gauge", "Bytes of the files on this site's disk.");
		fprintf(f, "comptoir_blob_bytes %llu\n", (unsigned long long)bc.held_bytes);
		METRIC("comptoir_blobs_missing", "gauge",
		       "Files wanted and not here yet (to fetch from peers).");
		fprintf(f, "comptoir_blobs_missing %llu\n", (unsigned long long)bc.missing);
	}
	METRIC("comptoir_ingested_total", "counter", "Events accepted by ingest since start.");
	fprintf(f, "comptoir_ingested_total %llu\n", (unsigned long long)ns.ingested);
	METRIC("comptoir_rejected_total", "counter", "Events refused by ingest since start.");
	fprintf(f, "comptoir_rejected_total %llu\n", (unsigned long long)ns.rejected);
	METRIC("comptoir_rejected_by_reason_total", "counter",
	       "Events refused by ingest since start, by reason.");
	for (int c = 1; c < 32; c++)
		if (ns.rejected_by[c])
			fprintf(f, "comptoir_rejected_by_reason_total{reason=\"%s\"} %llu\n",
			        cpt_strerror(-c), (unsigned long long)ns.rejected_by[c]);
	METRIC("comptoir_pending_events", "gauge",
	       "Events kept without being admitted: pending, held or aside.");
	fprintf(f, "comptoir_pending_events %zu\n", pending);
	METRIC("comptoir_http_requests_total", "counter",
	       "HTTP requests answered, by status class.");
	for (int c = 1; c <= 5; c++)
		fprintf(f, "comptoir_http_requests_total{code=\"%dxx\"} %llu\n", c,
		        (unsigned long long)ns.http_requests[c]);
	METRIC("comptoir_logins_total", "counter", "Password logins, by result.");
	fprintf(f, "comptoir_logins_total{result=\"ok\"} %llu\n", (unsigned long long)ns.logins_ok);
	fprintf(f, "comptoir_logins_total{result=\"failed\"} %llu\n",
	        (unsigned long long)ns.logins_failed);
	{
		sync_peer_status_t *ps = calloc(MAX_PEERS_SHOWN, sizeof(*ps));
		size_t np = ps ? fed_peers(h->fed, ps, MAX_PEERS_SHOWN) : 0, up = 0, revoked = 0;
		for (size_t i = 0; i < np; i++) {
			up += ps[i].connected != 0;
			revoked += ps[i].revoked != 0;
		}
		/* A revoked site is no outage: its links are down for good. */
		METRIC("comptoir_peers", "gauge", "Peer links, by state.");
		fprintf(f, "comptoir_peers{state=\"up\"} %zu\n", up);
		fprintf(f, "comptoir_peers{state=\"down\"} %zu\n", np - up - revoked);
		fprintf(f, "comptoir_peers{state=\"revoked\"} %zu\n", revoked);
		METRIC("comptoir_peer_backlog_events", "gauge",
		       "Events still to exchange with a peer, by direction.");
		for (size_t i = 0; i < np; i++) {
			char key[CPT_HEX_ID];
			cpt_hex32(key, ps[i].site_key);
			/* Site names are [a-z0-9-]: safe inside a label value. */
			fprintf(f,
			        "comptoir_peer_backlog_events{site=\"%s\",key=\"%.16s\",direction="
			        "\"send\"} %llu\n",
			        event_valid_site(ps[i].site) ? ps[i].site : "", key,
			        (unsigned long long)ps[i].to_send);
			fprintf(f,
			        "comptoir_peer_backlog_events{site=\"%s\",key=\"%.16s\",direction="
			        "\"receive\"} %llu\n",
			        event_valid_site(ps[i].site) ? ps[i].site : "", key,
			        (unsigned long long)ps[i].to_receive);
		}
		METRIC("comptoir_peer_receive_rate", "gauge",
		       "Events stored from a peer per second, over the last seconds.");
		for (size_t i = 0; i < np; i++) {
			char key[CPT_HEX_ID];
			cpt_hex32(key, ps[i].site_key);
			fprintf(f, "comptoir_peer_receive_rate{site=\"%s\",key=\"%.16s\"} %llu\n",
			        event_valid_site(ps[i].site) ? ps[i].site : "", key,
			        (unsigned long long)ps[i].rate_in);
		}
		/* Files (PROTOCOL.md 18.6): bytes fetched and served, what is
		 * still to fetch from each peer. */
		METRIC("comptoir_peer_file_bytes_total", "counter",
		       "Checked file chunk bytes exchanged with a peer since start, by direction.");
		for (size_t i = 0; i < np; i++)
			for (int d = 0; d < 2; d++) {
				char key[CPT_HEX_ID];
				cpt_hex32(key, ps[i].site_key);
				fprintf(f,
				        "comptoir_peer_file_bytes_total{site=\"%s\",key=\"%.16s\","
				        "direction=\"%s\"} %llu\n",
				        event_valid_site(ps[i].site) ? ps[i].site : "", key,
				        d ? "out" : "in",
				        (unsigned long long)(d ? ps[i].blob_bytes_out
				                               : ps[i].blob_bytes_in));
			}
		METRIC("comptoir_peer_files_to_fetch_bytes", "gauge",
		       "Bytes of files being fetched that a peer holds, still to fetch.");
		for (size_t i = 0; i < np; i++) {
			char key[CPT_HEX_ID];
			cpt_hex32(key, ps[i].site_key);
			fprintf(
			    f,
			    "comptoir_peer_files_to_fetch_bytes{site=\"%s\",key=\"%.16s\"} %llu\n",
			    event_valid_site(ps[i].site) ? ps[i].site : "", key,
			    (unsigned long long)ps[i].blob_wait_bytes);
		}
		free(ps);
	}
	{
		unsigned open;
		pthread_mutex_lock(&h->conn_lock);
		open = h->n_conns;
		pthread_mutex_unlock(&h->conn_lock);
		METRIC("comptoir_http_connections", "gauge", "Open HTTP connections.");
		fprintf(f, "comptoir_http_connections %u\n", open);
		METRIC("comptoir_http_refused_total", "counter",
		       "HTTP connections refused at accept, by reason.");
		fprintf(f, "comptoir_http_refused_total{reason=\"max_connections\"} %llu\n",
		        (unsigned long long)atomic_load(&h->door.refused_full));
		fprintf(f, "comptoir_http_refused_total{reason=\"per_address\"} %llu\n",
		        (unsigned long long)atomic_load(&h->door.refused_address));
		fprintf(f, "comptoir_http_refused_total{reason=\"not_proxy\"} %llu\n",
		        (unsigned long long)atomic_load(&h->door.refused_direct));
		METRIC("comptoir_http_cut_total", "counter",
		       "HTTP connections cut because a request outlived request_timeout.");
		fprintf(f, "comptoir_http_cut_total %llu\n",
		        (unsigned long long)atomic_load(&h->door.cut_deadline));
		METRIC("comptoir_http_rejected_total", "counter",
		       "HTTP requests refused before routing, by reason.");
		fprintf(f, "comptoir_http_rejected_total{reason=\"host\"} %llu\n",
		        (unsigned long long)atomic_load(&h->door.bad_host));
		fprintf(f, "comptoir_http_rejected_total{reason=\"framing\"} %llu\n",
		        (unsigned long long)atomic_load(&h->door.bad_framing));
		fprintf(f, "comptoir_http_rejected_total{reason=\"streams_per_person\"} %llu\n",
		        (unsigned long long)atomic_load(&h->door.streams_refused));
	}
	METRIC("comptoir_sessions", "gauge", "Open login sessions.");
	fprintf(f, "comptoir_sessions %zu\n", sess_count(h->sess));
	METRIC("comptoir_store_bytes", "gauge", "Bytes used in the LMDB map.");
	fprintf(f, "comptoir_store_bytes %llu\n", (unsigned long long)bytes);
	METRIC("comptoir_uptime_seconds", "gauge", "Seconds since the node started.");
	fprintf(f, "comptoir_uptime_seconds %llu\n",
	        (unsigned long long)((hlc_wall_ms() - ns.started_ms) / 1000));
#undef METRIC
	if (fclose(f) != 0 || buf == NULL) {
		free(buf);
		return http_error(r, 500, NULL, "out of memory");
	}
	http_queue(r, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len,
	           MHD_RESPMEM_MUST_COPY, NULL);
	free(buf);
	return 0;
}
int
api_figures(http_req_t *r)
{
	http_t *h = r->h;
	struct http_fig *hit = NULL, *oldest = NULL;
	long days;
	uint64_t now;
	store_txn_t *txn;
	json_t *f;

	if (!http_need_figures(r))
		return 0;
	if ((days = http_query_int(r, "days", 30, 1, QUERY_FIGURES_MAX_DAYS)) < 0)
		return http_error(r, 400, "days", "\"days\" must be a number from 1 to %d",
		                  QUERY_FIGURES_MAX_DAYS);
	/* One computation at a time; an answer less than a minute old is
	 * served again (a copy: the cached one stays the cache's). */
	pthread_mutex_lock(&h->fig_lock);
	now = hlc_wall_ms();
	for (size_t i = 0; i < HTTP_FIG_SLOTS; i++) {
		struct http_fig *e = &h->fig[i];
		if (e->json && e->days == (unsigned)days && now >= e->at_ms &&
		    now - e->at_ms < HTTP_FIG_MAX_AGE_MS)
			hit = e;
		if (oldest == NULL || e->at_ms < oldest->at_ms)
			oldest = e;
	}
	if (hit == NULL) {
		json_t *fresh;
		if (!http_read_begin(r, &txn)) {
			pthread_mutex_unlock(&h->fig_lock);
			return 0;
		}
		fresh = query_figures(txn, now, (unsigned)days);
		store_read_end(h->st, &txn);
		if (fresh &&
		    json_object_set_new(fresh, "computed", json_integer((json_int_t)now)) == 0) {
			json_decref(oldest->json);
			oldest->days = (unsigned)days;
			oldest->at_ms = now;
			oldest->json = fresh;
			hit = oldest;
		} else {
			json_decref(fresh);
		}
	}
	f = hit ? json_deep_copy(hit->json) : NULL;
	pthread_mutex_unlock(&h->fig_lock);
	if (f == NULL)
		return http_error(r, 500, NULL, "the figures cannot be computed");
	/* The cache is everyone's: the names of private spaces the caller
	 * may not read are hidden from their copy (counted, not named). */
	if (!http_read_begin(r, &txn)) {
		json_decref(f);
		return 0;
	}
	query_figures_spaces_for(txn, json_object_get(f, "spaces"), r->sess.handle,
	                         index_spaces_site());
	store_read_end(h->st, &txn);
	return http_reply(r, 200, f);
}
