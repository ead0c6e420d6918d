/*
 * mail — e-mail digests through the company's own SMTP relay: the durable
 * outbox in the store (DB_OUTBOX), the digests composed from each person's
 * notifications in their language (DB_MAIL says when each went out), and
 * a worker thread that delivers with libcurl's SMTP and backs off when the
 * relay is down, so that a dead relay never slows or stops the node.
 * Calls node/core, node/query, node/index, node/store; called by
 * node/daemon and node/cli.
 */
#ifndef COMPTOIR_MAIL_H
#define COMPTOIR_MAIL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "node/core/core.h"

/* The delivery worker of a running node. */
typedef struct mail mail_t;

/*
 * Starts the worker for node n when its config has a mail: section (a
 * relay), and registers it as an after-commit listener (immediate digests
 * follow new events). 0 with *out NULL when mail is off; 0 with *out set;
 * or -1 with err (a password file that does not load). The worker owns a
 * thread until mail_stop.
 */
int mail_start(mail_t **out, node_t *n, char *err, size_t errlen) CPT_WUR;
/* Stops the worker (a delivery under way ends at its timeout, at most
 * MAIL_TIMEOUT_S) and frees it; NULLs *self_p; safe on NULL. */
void mail_stop(mail_t **self_p);
/* Wakes the worker: something may be due (a digest run, an outbox entry). */
void mail_kick(mail_t *m);

/* Longest a delivery may take, connection included, in seconds. */
#define MAIL_TIMEOUT_S 30

/*
 * Composes the digests of period ("immediate", "daily" or "weekly") due at
 * now_ms for every person of this site whose preference it is and who has
 * an address, into the outbox: one mail each with their unread
 * notifications since their previous digest (at most 50), in their
 * language; a person with nothing new gets none. force: due now, whatever
 * the hour (comptoir mail digest). *queued gets how many were queued.
 * Works from any process (the daemon's worker, or the CLI while the node
 * runs). 0, CPT_EINVAL (no such period) or a store error.
 */
int mail_digest_run(node_t *n, const char *period, uint64_t now_ms, int force,
                    size_t *queued) CPT_WUR;

/* The address a site admin sets for handle ("" clears it): used when the
 * person has set none in their preferences. 0, CPT_EINVAL (not an address)
 * or a store error. */
int mail_set_email(store_t *st, const char *handle, const char *email) CPT_WUR;

/* What waits in the outbox: {"waiting": n, "oldest_ms": ms or null,
 * "attempts": the most tries of one, "last_error": text or null}. A new
 * reference, NULL on a store error. */
json_t *mail_outbox_status(store_t *st);

#endif
