/*
 * hooks — outgoing webhooks on the site LAN: registrations (DB_HOOKS, local
 * to this site), the events of this site's store turned into deliveries in
 * the shared outbox (node/outbox, channel "hook", one lane per webhook), and
 * their delivery over HTTP with libcurl, signed with HMAC-SHA256 under a
 * secret shown once. Calls node/outbox, node/core, node/query, node/index,
 * node/store; called by node/http, node/daemon and node/cli.
 */
#ifndef COMPTOIR_HOOKS_H
#define COMPTOIR_HOOKS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "node/core/core.h"

/* The webhooks of a running node: a listener of the core and the outbox's
 * "hook" worker. */
typedef struct hooks hooks_t;

/* A webhook's id: 16 random bytes as 32 lowercase hex digits. */
#define HOOK_ID_HEX 32
/* The secret's text: "whsec_" and 64 hex digits; the HMAC key is that text. */
#define HOOK_SECRET_LEN 70
/* Longest URL. */
#define HOOK_URL_MAX 512
/* Deliveries kept in a webhook's log, newest first. */
#define HOOK_LOG_MAX 20
/* Bytes of a receiver's answer read at most; more ends the delivery. */
#define HOOK_REPLY_MAX 65536

/*
 * Starts the webhooks of node n: a listener that notes new posts and
 * comments (nothing more: the write path never waits), the outbox worker
 * that turns them into deliveries and delivers them (config webhooks:).
 * 0 with *out set, or -1 with err. Owns a thread until hooks_stop.
 */
int hooks_start(hooks_t **out, node_t *n, char *err, size_t errlen) CPT_WUR;
/* Stops the worker (a delivery under way ends at its timeout) and frees;
 * NULLs *self_p; safe on NULL. */
void hooks_stop(hooks_t **self_p);
/* The registrations changed (made, removed, enabled): safe on NULL. */
void hooks_changed(hooks_t *h);
/* Deliveries made since start (benchmarks, status). */
uint64_t hooks_sent(hooks_t *h);

/* Who asks: a person of this site, and whether they are a site admin. */
typedef struct hooks_who {
	const char *handle; /* borrowed */
	int admin;          /* a site admin */
} hooks_who_t;

/*
 * Registers a webhook for who from req ({"url", "events": [..], "space":
 * hex or null, "name": text}): *view gets the new webhook as hooks_get
 * shows it plus "secret", the only time it is shown. The URL is http:// or
 * https:// with a host (loopback and private addresses are allowed: the
 * site LAN); events are among "post", "comment", "mention", "reply" and
 * "ping" is always sent by the test button. "post" and "comment" need a
 * space the caller administers, or a site admin; "mention" and "reply" are
 * the caller's own. 0; CPT_EINVAL or CPT_EPERM with why in err (naming the
 * field); or a store error.
 */
int hooks_create(store_t *st, const hooks_who_t *who, const json_t *req, json_t **view, char *err,
                 size_t errlen) CPT_WUR;
/* The webhooks who sees: their own, every one for a site admin. A new
 * array, NULL on a store error. */
json_t *hooks_list(store_t *st, const hooks_who_t *who);
/* One webhook with its log ("log": newest first) and what waits for it in
 * the outbox ("waiting"); NULL when it does not exist for who. */
json_t *hooks_get(store_t *st, const hooks_who_t *who, const char *id);
/* Enables (failures counted again from zero) or disables a webhook by
 * hand. 0, CPT_ENOTFOUND (not who's) or a store error. */
int hooks_enable(store_t *st, const hooks_who_t *who, const char *id, int on) CPT_WUR;
/* Removes a webhook and what waits for it. 0, CPT_ENOTFOUND or an error. */
int hooks_delete(store_t *st, const hooks_who_t *who, const char *id) CPT_WUR;
/* Queues a "ping" delivery to a webhook (the "send a test" button), even
 * when disabled deliveries are not: its outcome shows in the log. 0,
 * CPT_ENOTFOUND or a store error. */
int hooks_test(store_t *st, const hooks_who_t *who, const char *id) CPT_WUR;

#endif
