/*
 * http — the HTTP API and web UI of a node (libmicrohttpd, a thread per
 * connection): a thin adapter. The front door (connections, deadlines,
 * Host, framing, HTTPS), request bodies and replies, one routing table,
 * and one file per group of calls, which read through node/query and write
 * through sessions (node/auth) into the node's single ingest path. Calls
 * every module below it; called by node/daemon (and node/cli: http_check).
 */
#ifndef COMPTOIR_HTTP_H
#define COMPTOIR_HTTP_H

#include <stddef.h>

#include "config/config.h"
#include "node/auth/auth.h"
#include "node/core/core.h"
#include "node/fed/fed.h"
#include "node/search/search.h"

typedef struct http http_t;

/* Starts the HTTP API and UI on cfg->http for node n, with its session
 * table and its federation (for the status and the metrics), all borrowed
 * until http_stop. NULL with err set. */
http_t *http_start(node_t *n, sess_table_t *sessions, fed_t *fed, char *err, size_t errlen);
/* The search index the calls of search and the directory use (borrowed
 * until http_stop; NULL: they answer 503). Set once, after http_start. */
void http_set_search(http_t *h, search_t *s);
/* Stops serving (live streams end within a second), frees; safe on NULL. */
void http_stop(http_t **self_p);
/* The port actually bound (for "127.0.0.1:0"). */
unsigned http_port(const http_t *h);
/* Checks the HTTP settings of cfg as http_start would, without listening:
 * the bind addresses, the TLS certificate and key (read, parsed, one the
 * other's), plain HTTP on an address that is not loopback. Warnings (a
 * certificate about to expire) are logged. 0, or CPT_ECONFIG with err
 * "file:line:column: what is wrong". */
int http_check(const cfg_t *cfg, char *err, size_t errlen) CPT_WUR;

#endif
