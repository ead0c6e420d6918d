/*
 * The federation side of a running node: started by the daemon after the
 * node opened, it owns the sync engine, the verification pool and the
 * writer thread, and listens to the node's commits: local events are
 * offered to peers before their commit and announced after it, and a
 * revocation makes the engine check its links again.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/fed/fed_internal.h"

fed_t *
fed_new(node_t *n)
{
	fed_t *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	f->node = n;
	pthread_mutex_init(&f->unsent_lock, NULL);
	return f;
}

void
fed_trust_changed(fed_t *f)
{
	if (f->sync)
		sync_recheck(f->sync);
}

/* Events made here go to the peers while the node commits them: a peer's
 * copy of an event we then lose in a crash comes back here by
 * reconciliation. What counts as acknowledged (the 201) still waits for our
 * own commit. */
static int
s_offer(void *arg, const uint8_t *env, size_t len)
{
	fed_t *f = arg;

	if (f->sync == NULL)
		return 0;
	sync_offer(f->sync, env, len);
	return 1;
}

/* After a commit: peers hear of local events at once (and of another
 * process's, seen by the node's poll); a revocation (or, from another
 * process, a certificate) checks the links again. Events from peers are
 * relayed by the engine itself, and it checks its links after their batch
 * (writer.c). */
static void
s_on_commit(void *arg, const node_change_t *c, size_t n, enum node_origin origin)
{
	fed_t *f = arg;
	uint8_t(*ids)[CPT_ID_LEN];
	int trust = 0;

	/* A file event (clear or sealed) may name a blob to fetch; a
	 * redaction may end a fetch: the engine looks again now. */
	for (size_t i = 0; i < n; i++)
		if (c[i].kind == EVT_FILE || c[i].kind == EVT_SEALED || c[i].kind == EVT_REDACT) {
			fed_blob_kick(f);
			break;
		}
	if (origin == NODE_PEER)
		return;
	for (size_t i = 0; i < n; i++)
		trust |= c[i].kind == EVT_REVOKE ||
		         (origin == NODE_ELSEWHERE && c[i].kind == EVT_SITE_CERT);
	/* Events admitted from waiting were never relayed when they came (the
	 * engine relays what a batch stores, and they were kept): they go to
	 * every peer now, not at the next periodic reconciliation, but those
	 * that sent them (the engine noted which when it got their batches
	 * back: when the writer's own transaction admits them, it announces
	 * them after handing its batches back, fed_writer_admitted). */
	if (origin == NODE_ADMITTED && f->sync && fed_writer_admitted(c, n))
		; /* announced by the writer */
	else if ((origin == NODE_LOCAL || origin == NODE_ELSEWHERE || origin == NODE_ADMITTED) &&
	         f->sync && (ids = malloc(n * CPT_ID_LEN)) != NULL) {
		for (size_t i = 0; i < n; i++)
			memcpy(ids[i], c[i].id, CPT_ID_LEN);
		sync_announce(f->sync, (const uint8_t(*)[CPT_ID_LEN])ids, n);
		free(ids);
	}
	if (trust)
		fed_trust_changed(f);
}

/*
 * The peers to dial, at most SYNC_MAX_PEERS of them in peers (which has room
 * for that many); returns how many it holds. Those past the limit are not
 * dialed, and that is said: an error in the log when their number changes,
 * and "peers_over_limit" in the status.
 */
static size_t
s_dialed(fed_t *f, sync_peer_conf_t *peers)
{
	size_t all = fed_peers_dialed(f->node, peers, SYNC_MAX_PEERS);
	size_t over = all > SYNC_MAX_PEERS ? all - SYNC_MAX_PEERS : 0;

	if (over != f->dial_excess && over > 0)
		log_errorx("fed",
		           "%zu peers to dial, over the limit of %d links: the last %zu (config "
		           "first, then `peer add` in key order) are not dialed",
		           all, SYNC_MAX_PEERS, over);
	pthread_mutex_lock(&f->unsent_lock);
	f->dial_excess = over;
	pthread_mutex_unlock(&f->unsent_lock);
	return all - over;
}

int
fed_start(fed_t *f, char *err, size_t errlen)
{
	node_t *n = f->node;
	const cfg_t *cfg = node_cfg(n);
	sync_conf_t sc;
	sync_peer_conf_t *peers;
	size_t np;
	char path[4200];

	assert(f != NULL && f->sync == NULL);
	snprintf(path, sizeof(path), "%s/keys/site.curve", node_dir(n));
	if ((f->curve = key_curve_load(path, err, errlen)) == NULL)
		return -1;
	f->vpool = vpool_new(0);
	f->writer = fed_writer_new(f);
	memset(&sc, 0, sizeof(sc));
	snprintf(sc.listen, sizeof(sc.listen), "%s", cfg->listen);
	sc.curve = f->curve;
	memcpy(sc.site_key, key_sign_public(node_site_key(n)), CPT_KEY_LEN);
	snprintf(sc.site, sizeof(sc.site), "%.63s", cfg->name);
	sc.max_msg = cfg->limits.max_msg;
	sc.heartbeat_ms = cfg->sync.heartbeat_ms;
	sc.reconcile_interval_s = cfg->sync.reconcile_interval;
	sc.refused_log_ms = cfg->sync.refused_log_s * 1000;
	fed_sync_ops(f, &sc.ops);
	fed_blob_ops(f, &sc.blob);
	sc.blob_rate = cfg->sync.file_rate_kb * 1024u;
	if ((peers = calloc(SYNC_MAX_PEERS, sizeof(*peers))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	np = s_dialed(f, peers);
	f->sync = sync_start(&sc, peers, np, err, errlen);
	free(peers);
	if (f->sync == NULL)
		return -1;
	if (node_listen(n, s_on_commit, f) != 0) {
		snprintf(err, errlen, "too many listeners on the node");
		return -1;
	}
	node_set_offer(n, s_offer, f);
	f->listening = 1;
	fed_unsent_load(f);
	return 0;
}

void
fed_tick(fed_t *f)
{
	sync_peer_conf_t *peers = calloc(SYNC_MAX_PEERS, sizeof(*peers));
	size_t np = peers ? s_dialed(f, peers) : 0;

	/* Peers added with `comptoir peer add` while running are dialed. */
	for (size_t i = 0; i < np; i++)
		sync_add_peer(f->sync, &peers[i]);
	free(peers);
	fed_unsent_tick(f);
}

void
fed_destroy(fed_t **self_p)
{
	fed_t *f = *self_p;

	if (f == NULL)
		return;
	sync_stop(&f->sync);
	fed_unsent_save(f);
	/* The writer commits what it holds: the listeners still hear of it
	 * (nothing goes out: the engine is gone). */
	/* The pool first: batches it still checks go to the writer, which
	 * then commits them. */
	vpool_destroy(&f->vpool);
	fed_writer_destroy(&f->writer);
	if (f->listening) {
		node_set_offer(f->node, NULL, NULL);
		node_unlisten(f->node, s_on_commit, f);
	}
	key_curve_destroy(&f->curve);
	pthread_mutex_destroy(&f->unsent_lock);
	json_decref(f->sites);
	free(f);
	*self_p = NULL;
}
