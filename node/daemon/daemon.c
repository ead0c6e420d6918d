/*
 * The foreground loop of `comptoir run`: what starts in which order, what
 * runs every 100 ms, every second and every 10 s, and what stops in which
 * order (the HTTP server before the engine, the engine before the writer
 * that feeds the store).
 */
#include <assert.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "node/auth/auth.h"
#include "node/daemon/daemon.h"
#include "node/fed/fed.h"
#include "node/http/http.h"

static volatile sig_atomic_t s_stop, s_reload;

static void
s_on_signal(int sig)
{
	if (sig == SIGHUP)
		s_reload = 1;
	else
		s_stop = 1;
}

/* Writes dir/status.json (atomically) for `comptoir status`: the link state
 * lives in this process, the CLI reads it from there. */
static void
s_write_status(node_t *n, fed_t *f)
{
	char path[4200], tmp[4300];
	json_t *root;

	root = json_pack("{s:I, s:i, s:o}", "written_ms", (json_int_t)hlc_wall_ms(), "pid",
	                 (int)getpid(), "peers", fed_peers_json(f));
	snprintf(path, sizeof(path), "%s/status.json", node_dir(n));
	snprintf(tmp, sizeof(tmp), "%s/status.json.tmp", node_dir(n));
	if (root && json_dump_file(root, tmp, JSON_COMPACT) == 0)
		rename(tmp, path);
	json_decref(root);
}

int
daemon_run(node_t *n)
{
	const cfg_t *cfg = node_cfg(n);
	struct sigaction sa;
	sess_table_t *sessions;
	http_t *http;
	fed_t *fed;
	char err[512];

	assert(n != NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = s_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((sessions = sess_new(node_store(n), cfg->limits.max_sessions, cfg->limits.session_ttl,
	                         cfg->limits.sessions_per_person)) == NULL ||
	    (fed = fed_new(n)) == NULL) {
		log_errorx("node", "cannot allocate the session table");
		sess_destroy(&sessions);
		return 1;
	}
	if ((http = http_start(n, sessions, fed, err, sizeof(err))) == NULL) {
		log_errorx("http", "%s", err);
		fed_destroy(&fed);
		sess_destroy(&sessions);
		return 1;
	}
	if (fed_start(fed, err, sizeof(err)) != 0) {
		log_errorx("sync", "%s", err);
		http_stop(&http);
		fed_destroy(&fed);
		sess_destroy(&sessions);
		return 1;
	}
	{
		/* The address as configured, with the port bound when it said 0. */
		char addr[CFG_MAX_STR];
		const char *colon = strrchr(cfg->http, ':');
		snprintf(addr, sizeof(addr), "%.*s:%u",
		         colon ? (int)(colon - cfg->http) : (int)strlen(cfg->http), cfg->http,
		         http_port(http));
		log_info("node", "site %s running http=%s://%s/ listen=%s dir=%s", cfg->name,
		         cfg->tls.cert[0] ? "https" : "http", addr,
		         cfg->listen[0] ? cfg->listen : "off", node_dir(n));
	}
	for (unsigned tick = 0; !s_stop; tick++) {
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
		if (s_reload) {
			s_reload = 0;
			node_reload(n);
		}
		node_poll_store(n);
		if (tick % 10 == 0) {
			/* Seals owed to other member sites of spaces, new epochs. */
			node_spaces_tick(n);
			fed_tick(fed);
			s_write_status(n, fed);
		}
		/* Every 10 s: idle sessions, and keys revoked with nobody asking
		 * since, leave memory (one store read per session). */
		if (tick % 100 == 0)
			sess_sweep(sessions);
	}
	log_info("node", "stopping");
	http_stop(&http);
	fed_destroy(&fed);
	{
		char path[4200];
		snprintf(path, sizeof(path), "%s/status.json", node_dir(n));
		unlink(path);
	}
	sess_destroy(&sessions);
	return 0;
}
