/*
 * fed — the node's side of the federation: the sync engine (sync/) started
 * on the node, the functions it calls to reach the store (has, get, put
 * through a writer thread, fingerprints), the peers this site dials, the
 * sites certified here, and what each peer still lacks of ours when the
 * engine cannot tell (watermarks). It hears of new events as an
 * after-commit listener of the node core. Calls sync/ and node/core and
 * below; called by node/http (status), node/daemon and node/cli.
 */
#ifndef COMPTOIR_FED_H
#define COMPTOIR_FED_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "crypto/crypto.h"
#include "node/blob/blob.h"
#include "node/core/core.h"
#include "sync/sync.h"

typedef struct fed fed_t;

/* -------------------------------------------------------- life (fed.c) */

/* The federation side of node n, not running: no thread, no socket. NULL
 * when memory is short. n must outlive it. */
fed_t *fed_new(node_t *n);
/* Starts it: the verification pool, the writer thread, the sync engine on
 * the config's listen address with the peers this site dials, and the
 * node's listeners (new events offered and announced, revocations checked
 * against the links). 0, or -1 with err set (the transport key unreadable,
 * the endpoint not bound). */
int fed_start(fed_t *f, char *err, size_t errlen) CPT_WUR;
/* The blob store the engine fetches into and serves from (PROTOCOL.md
 * 18.6), not owned: it must outlive fed_destroy. Set before fed_start;
 * without it the engine speaks no blob message. */
void fed_set_blobs(fed_t *f, blob_store_t *bs);
/* New blobs may be wanted, or fewer (a file event or a redaction was
 * committed): the engine looks again now. Safe on NULL and when not
 * running. */
void fed_blob_kick(fed_t *f);
/* A person opened blob id and it is not here: it is fetched first (class 1
 * of PROTOCOL.md 18.6), whatever its size (limits.fetch_max_mb), for ten
 * minutes from this call. Safe from any thread, on NULL. */
void fed_blob_demand(fed_t *f, const uint8_t id[32]);
/* Stops the engine, keeps each down peer's watermark, lets the writer
 * commit what it holds, frees everything; safe on NULL. */
void fed_destroy(fed_t **self_p);
/* Once a second while running: peers added with `peer add` are dialed,
 * and each peer's watermark moves (fed_peers). */
void fed_tick(fed_t *f);

/* ------------------------------------------- what sync calls (ops.c) */

/* Fills ops with the store functions the sync engine calls on f's node;
 * ops->ctx is f. Without fed_start (tests), batches are committed at once
 * and signatures checked by the writer. */
void fed_sync_ops(fed_t *f, sync_ops_t *ops);

/* ----------------------------------------------- peers' state (unsent.c) */

/* The state of every peer link (empty when not running); returns how many.
 * to_send is what the engine has queued, or, while the link is down or not
 * yet reconciled, the events stored here since the peer was last in step
 * when that is more (an upper bound: unsent.c); 0 for a revoked peer, and
 * for every peer when this site is revoked. */
size_t fed_peers(fed_t *f, sync_peer_status_t *out, size_t max);
/* A peer link as /api/status and status.json show it (docs/API.md): its
 * "state" (connected, unreachable, refused, revoked, expired), "title" when
 * its certificate has one, eta_s, the seconds its backlog still needs at the
 * current rate. New reference, or NULL. fed_peers_json: every peer. */
json_t *fed_peer_json(fed_t *f, const sync_peer_status_t *p);
json_t *fed_peers_json(fed_t *f);
/* Adds to a status object what the node knows of the federation: "title"
 * and "revoked" of this site, "sites" (fed_sites) and "peers". */
void fed_status_json(fed_t *f, json_t *status);
/* The blob fetching as a whole (sync_blob_status) as /api/status's
 * "file_sync" and status.json show it: fetching, fetching_bytes,
 * unreachable (no linked peer holds them: they arrive when the site that
 * has them is linked again), fetched, bytes_in, resumed_bytes, damaged. New
 * reference, or NULL; zeros when not running. */
json_t *fed_file_sync_json(fed_t *f);

/* ------------------------------------------------ peers kept (peers.c) */

/* The peers this site dials (config, then `peer add`): the first max of
 * them in out; returns how many there are, which may be more than max. */
size_t fed_peers_dialed(node_t *n, sync_peer_conf_t *out, size_t max);
/* Records a peer this site dials (keeping what its record held). 0 or a
 * store error. */
int fed_peer_add(node_t *n, const uint8_t site_key[CPT_KEY_LEN], const char *endpoint,
                 const char *site) CPT_WUR;

/* --------------------------------------------------- sites (sites.c) */

/* Every site certified here, by name: [{"site", "title" (when its
 * certificate has one), "key", "revoked", "expired", "self"}]. New
 * reference (an empty array on a store error). fed_site: the same object
 * for one site key, or NULL when no site certificate names it. */
json_t *fed_sites(node_t *n);
json_t *fed_site(node_t *n, const uint8_t key[CPT_KEY_LEN]);

#endif
