/*
 * The foreground loop of `comptoir run`: what starts in which order, what
 * runs when (signals and other processes' writes to the store at once, a
 * timer every second and every 10 s; the loop sleeps until the nearest), and
 * what stops in which order (the HTTP server before the engine, the engine
 * before the writer that feeds the store).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "node/auth/auth.h"
#include "node/daemon/daemon.h"
#include "node/fed/fed.h"
#include "node/http/http.h"
#include "node/hooks/hooks.h"
#include "node/mail/mail.h"
#include "node/outbox/outbox.h"
#include "node/query/query.h"
#include "node/report/report.h"
#include "node/search/search.h"

#define REPOLL_MS 10 /* the store looked at again after a change (s_watch_store) */

static volatile sig_atomic_t s_stop, s_reload;
static int s_wake[2] = {-1, -1}; /* the handler writes a byte: the loop wakes at once */

static void
s_on_signal(int sig)
{
	int saved = errno;

	if (sig == SIGHUP)
		s_reload = 1;
	else
		s_stop = 1;
	if (s_wake[1] >= 0 && write(s_wake[1], "", 1) < 0) {
		/* full: a wake-up is pending already */
	}
	errno = saved;
}

static uint64_t
s_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Reads whatever is waiting on a non-blocking descriptor. */
static void
s_drain(int fd)
{
	char buf[4096];

	while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0)
		;
}

/*
 * Events other processes (the CLI: `user add`, `root revoke`) write to the
 * store are seen when such a process closes the store's file after writing
 * to it: inotify's IN_CLOSE_WRITE on data.mdb, which comes once its commits
 * are whole (meta pages written) and at its exit whatever the way (a kill
 * closes its descriptors too). This process never closes its own, so its
 * commits do not wake the loop: watching IN_MODIFY did, on every pwrite of
 * every commit (two or three wake-ups of this thread per live event, ~80
 * us of its CPU). The store is looked at again REPOLL_MS later (LMDB
 * publishes a commit to readers in lock.mdb, a mapped write, a moment after
 * its meta page), and once a second whatever happens: a writer that keeps
 * the file open is seen within a second. -1 when inotify is not available:
 * the loop then looks every 100 ms.
 */
static int
s_watch_store(node_t *n)
{
	char path[4200];
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	snprintf(path, sizeof(path), "%s/store/data.mdb", node_dir(n));
	if (fd >= 0 && inotify_add_watch(fd, path, IN_CLOSE_WRITE) < 0) {
		log_warnx("node",
		          "cannot watch %s (%s): looking for other processes' events "
		          "every 100 ms instead",
		          path, strerror(errno));
		close(fd);
		fd = -1;
	}
	return fd;
}

/*
 * The poll of other processes' events, when another process may have
 * committed: the second look after a watch event, the look each second and
 * a close by a reader find nothing new most of the time, and then need no
 * read transaction, no wait for a committing leader and no walk
 * (store_changed_elsewhere reads LMDB's meta page: the newest commit is
 * ours, or was seen by a poll already).
 */
static void
s_poll_store(node_t *n)
{
	if (store_changed_elsewhere(node_store(n)))
		node_poll_store(n);
}

/* Writes dir/status.json (atomically) for `comptoir status`: the link state
 * lives in this process, the CLI reads it from there. */
static void
s_write_status(node_t *n, fed_t *f)
{
	char path[4200], tmp[4300];
	json_t *root;

	root = json_pack("{s:I, s:i, s:o, s:o}", "written_ms", (json_int_t)hlc_wall_ms(), "pid",
	                 (int)getpid(), "peers", fed_peers_json(f), "file_sync",
	                 fed_file_sync_json(f));
	snprintf(path, sizeof(path), "%s/status.json", node_dir(n));
	snprintf(tmp, sizeof(tmp), "%s/status.json.tmp", node_dir(n));
	if (root && json_dump_file(root, tmp, JSON_COMPACT) == 0)
		rename(tmp, path);
	json_decref(root);
}

/* ------------------------------------------------------------ files */

/* Erasure (PROTOCOL.md 18.5, 18.9): a blob stays while an event names it.
 * The sweep asks the blob refs of each blob file; a redaction (ours or a
 * peer's) runs it after its commit, since unlinking is no part of a
 * transaction, and start-up runs it once (a crash between a blob's put and
 * its event, or before a sweep). */
struct files {
	node_t *n;          /* the node */
	blob_store_t *bs;   /* its blobs */
	outbox_t *unposted; /* the worker that erases uploads never posted */
};
static struct files s_files;

static int
s_blob_keep(void *arg, const uint8_t id[BLOB_ID_LEN])
{
	struct files *f = arg;
	store_txn_t *txn;
	query_blob_t b;
	int rc;

	if (store_read_begin(node_store(f->n), &txn) != 0)
		return 1; /* cannot say: keep */
	rc = query_blob_wanted(txn, id, &b);
	store_read_end(node_store(f->n), &txn);
	return rc == CPT_ENOTFOUND ? 0 : 1;
}

static void
s_files_sweep(struct files *f)
{
	uint64_t erased = 0;

	if (blob_sweep(f->bs, s_blob_keep, f, &erased) != 0)
		log_warnx("blob", "the sweep of unwanted files stopped early");
	else if (erased)
		log_info("blob", "%llu file(s) erased", (unsigned long long)erased);
}

static void
s_files_on_commit(void *arg, const node_change_t *changes, size_t n, enum node_origin origin)
{
	(void)origin;
	for (size_t i = 0; i < n; i++)
		if (changes[i].kind == EVT_REDACT) {
			s_files_sweep(arg);
			return;
		}
}

/*
 * Uploads never posted (docs/ARCHITECTURE.md, "Files and pictures"): the
 * upload put, in the outbox's "unposted" channel, the redaction of its file
 * event signed by its author at upload time, due limits.unposted_ttl later.
 * When it is due, the redaction is submitted through the single ingest path,
 * as if the author had deleted the file, unless an event of the author names
 * the file by then (or the file event is gone or already erased): the blob
 * then goes by the sweep above, at this site and every site the redaction
 * reaches.
 */
static enum outbox_result
s_unposted_deliver(void *arg, const json_t *e, char *err, size_t errlen)
{
	struct files *f = arg;
	const char *fh = json_string_value(json_object_get(e, "file"));
	const char *env = json_string_value(json_object_get(e, "redaction"));
	uint8_t file[CPT_ID_LEN], *buf = NULL;
	size_t len = 0, hl = env ? strlen(env) : 0;
	store_txn_t *txn;
	ingest_res_t res;
	evt_t ev;
	int rc, used = 0;

	if (fh == NULL || cpt_unhex32(file, fh, strlen(fh)) != 0 || env == NULL || hl == 0 ||
	    hl % 2 != 0 || (buf = malloc(hl / 2)) == NULL ||
	    sodium_hex2bin(buf, hl / 2, env, hl, NULL, &len, NULL) != 0) {
		free(buf);
		snprintf(err, errlen, "a malformed entry");
		return OUTBOX_DROP;
	}
	if (store_read_begin(node_store(f->n), &txn) != 0) {
		free(buf);
		snprintf(err, errlen, "store unavailable");
		return OUTBOX_RETRY;
	}
	rc = index_event(txn, file, &ev);
	if (rc == 0 && ev.kind == EVT_FILE && ev.body != NULL)
		used = query_file_used(txn, file, ev.author, ev.ts);
	store_read_end(node_store(f->n), &txn);
	if (rc != 0 || ev.kind != EVT_FILE || ev.body == NULL || used != 0) {
		free(buf);
		if (rc == CPT_ENOTFOUND || rc == 0) {
			if (used == 1)
				log_info("blob", "upload %s is used: kept", fh);
			if (used >= 0)
				return OUTBOX_DROP; /* used, erased already, or never committed */
		}
		snprintf(err, errlen, "store error");
		return OUTBOX_RETRY;
	}
	{
		const uint8_t *b = buf;
		rc = node_submit(f->n, &b, &len, 1, &res);
	}
	free(buf);
	if (rc != 0) {
		snprintf(err, errlen, "cannot commit: %s", cpt_strerror(rc));
		return OUTBOX_RETRY;
	}
	if (res.rc != 0 && res.rc != CPT_EEXIST) {
		log_warnx("blob", "the redaction of upload %s was refused (%s): the file stays", fh,
		          res.why);
		return OUTBOX_DROP;
	}
	log_info("blob", "upload %s was never posted: erased", fh);
	return OUTBOX_SENT;
}

static void
daemon_files_start(node_t *n, blob_store_t *bs, const cfg_t *cfg)
{
	outbox_ops_t ops = {
	    .name = "unposted",
	    .deliver = s_unposted_deliver,
	    .arg = &s_files,
	    .retry_min_s = 60,
	    .retry_max_s = 3600,
	    /* An entry is due ttl after it was put: give up a month after that. */
	    .give_up_ms = ((uint64_t)cfg->limits.unposted_ttl + 30ull * 86400) * 1000,
	};
	char err[256];

	s_files.n = n;
	s_files.bs = bs;
	s_files_sweep(&s_files);
	if (node_listen(n, s_files_on_commit, &s_files) != 0)
		log_warnx("blob", "no erasure of files after redactions: too many listeners");
	if (outbox_start(&s_files.unposted, node_store(n), &ops, err, sizeof(err)) != 0)
		log_warnx("blob", "uploads never posted are kept: %s", err);
}

static void
daemon_files_stop(node_t *n)
{
	outbox_stop(&s_files.unposted);
	if (s_files.bs != NULL)
		node_unlisten(n, s_files_on_commit, &s_files);
	s_files.bs = NULL;
}

/* Opens the search index and starts its writer. The index is a view: a
 * file that will not open (damaged, foreign) is removed and built again
 * from the store; when even that fails the node runs without search (its
 * calls answer 503) rather than not at all. */
static search_t *
s_search_open(node_t *n)
{
	char err[1024], path[4200];
	search_t *s = NULL;

	/* For benchmarks (tests/bench/catchup.py): what search costs a fill. */
	if (getenv("COMPTOIR_NO_SEARCH") && *getenv("COMPTOIR_NO_SEARCH")) {
		log_warnx("search", "COMPTOIR_NO_SEARCH is set: running without search");
		return NULL;
	}

	for (int attempt = 0; attempt < 2 && s == NULL; attempt++) {
		/* A file not clean (a crash) is caught up by the writer after
		 * the start: the site answers at once, and at a million posts
		 * the reconciliation takes minutes. */
		if (search_open(&s, node_store(n), node_dir(n), SEARCH_CATCH_UP_LATER, err,
		                sizeof(err)) == 0 &&
		    search_start(s, n, err, sizeof(err)) == 0)
			break;
		search_close(&s);
		log_warnx("search", "%s%s", err,
		          attempt == 0 ? ": building the index again from the store" : "");
		if (attempt == 0)
			for (int i = 0; i < 3; i++) {
				snprintf(path, sizeof(path), "%s/search.db%s", node_dir(n),
				         i == 0   ? ""
				         : i == 1 ? "-wal"
				                  : "-shm");
				unlink(path);
			}
	}
	if (s == NULL)
		log_errorx("search", "running without search: %s", err);
	return s;
}

int
daemon_run(node_t *n)
{
	const cfg_t *cfg = node_cfg(n);
	struct sigaction sa;
	sess_table_t *sessions;
	search_t *search;
	blob_store_t *blobs = NULL;
	http_t *http;
	fed_t *fed;
	mail_t *mail = NULL;
	hooks_t *hooks = NULL;
	char err[512];

	assert(n != NULL);
	if (s_wake[0] < 0 && pipe2(s_wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		log_errorx("node", "cannot make the wake-up pipe: %s", strerror(errno));
		return 1;
	}
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
	search = s_search_open(n);
	if ((http = http_start(n, sessions, fed, err, sizeof(err))) == NULL) {
		log_errorx("http", "%s", err);
		search_close(&search);
		fed_destroy(&fed);
		sess_destroy(&sessions);
		return 1;
	}
	http_set_search(http, search);
	/* The blob store beside the LMDB store (PROTOCOL.md 18.7): files are
	 * served and uploaded through it; the node runs without files when it
	 * cannot open (the calls answer 503). */
	if (blob_store_open(&blobs, node_dir(n)) != 0)
		log_warnx("blob", "no file store under %s/blobs: %s", node_dir(n), strerror(errno));
	else {
		http_set_blobs(http, blobs);
		fed_set_blobs(fed, blobs); /* fetched from and served to peers (18.6) */
		daemon_files_start(n, blobs, cfg);
	}
	if (fed_start(fed, err, sizeof(err)) != 0) {
		log_errorx("sync", "%s", err);
		http_stop(&http);
		search_close(&search);
		fed_destroy(&fed);
		sess_destroy(&sessions);
		return 1;
	}
	/* Mail last: a relay that is down only delays digests (node/mail). */
	if (mail_start(&mail, n, err, sizeof(err)) != 0)
		log_warnx("mail", "no e-mail digests: %s", err);
	/* Webhooks: a dead receiver only delays its own deliveries. */
	if (hooks_start(&hooks, n, err, sizeof(err)) != 0)
		log_warnx("hooks", "no webhooks: %s", err);
	http_set_hooks(http, hooks);
	/* The monthly report's workbook is node/report's: mail sits beside it. */
	mail_set_report(mail, report_workbook_of, n);
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
	{
		int watch = s_watch_store(n);
		uint64_t now = s_now_ms(), next_second = now, next_sweep = now + 10000;
		uint64_t next_poll = watch < 0 ? now + 100 : 0; /* 0: none due */

		while (!s_stop) {
			struct pollfd fds[2] = {{s_wake[0], POLLIN, 0}, {watch, POLLIN, 0}};
			uint64_t next = next_second < next_sweep ? next_second : next_sweep;
			if (next_poll && next_poll < next)
				next = next_poll;
			now = s_now_ms();
			if (poll(fds, watch >= 0 ? 2 : 1, next > now ? (int)(next - now) : 0) < 0 &&
			    errno != EINTR)
				break;
			s_drain(s_wake[0]);
			if (s_reload) {
				s_reload = 0;
				node_reload(n);
			}
			now = s_now_ms();
			if (watch >= 0 && (fds[1].revents & POLLIN)) {
				s_drain(watch);
				s_poll_store(n);
				next_poll = now + REPOLL_MS;
			} else if (next_poll && now >= next_poll) {
				s_poll_store(n);
				next_poll = watch < 0 ? now + 100 : 0;
			}
			if (now >= next_second) {
				next_second = now + 1000;
				if (watch >= 0)
					s_poll_store(n);
				/* Events dated ahead are applied when the clock reaches them. */
				if (node_release_held(n) != 0)
					log_warnx("node",
					          "cannot release held events now: will try again");
				/* Seals owed to other member sites of spaces, new epochs. */
				node_spaces_tick(n);
				fed_tick(fed);
				s_write_status(n, fed);
			}
			/* Every 10 s: idle sessions, and keys revoked with nobody
			 * asking since, leave memory (one store read per session). */
			if (now >= next_sweep) {
				next_sweep = now + 10000;
				sess_sweep(sessions);
			}
		}
		if (watch >= 0)
			close(watch);
	}
	log_info("node", "stopping");
	http_stop(&http);
	hooks_stop(&hooks);
	mail_stop(&mail);
	daemon_files_stop(n);
	fed_destroy(&fed);
	blob_store_close(&blobs);
	/* Last: every writer has stopped, so the sequence it records is the
	 * store's whole. */
	search_close(&search);
	{
		char path[4200];
		snprintf(path, sizeof(path), "%s/status.json", node_dir(n));
		unlink(path);
	}
	sess_destroy(&sessions);
	return 0;
}
