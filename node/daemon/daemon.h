/*
 * daemon — `comptoir run`: wires the process together around an open node
 * (the session table, the HTTP server, the federation with its sync
 * engine), runs the loop of a running site (signals, the store poll, the
 * once-a-second federation tick and status.json, the session sweep) and
 * stops it all in order. Calls every module of node/ but the CLI; called by
 * node/cli.
 */
#ifndef COMPTOIR_DAEMON_H
#define COMPTOIR_DAEMON_H

#include "node/core/core.h"

/* Runs node n in the foreground until SIGTERM or SIGINT; SIGHUP reloads
 * the config when it is valid. Returns an exit code (0, or 1 when the HTTP
 * server or the sync engine could not start: logged). n stays the caller's. */
int daemon_run(node_t *n);

#endif
