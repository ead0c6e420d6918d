/*
 * The commands of a running site: run (with --check), status (what the
 * store holds, whether the node runs, each peer's link, from status.json)
 * and figures for management.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "node/cli/cli_internal.h"
#include "node/mail/mail.h"
#include "node/report/report.h"

/*
 * run --check: every key file of the node must load as the node will load it
 * (site.key did in node_open; site.curve is only read when the node starts
 * its links, and root.key only by root certify): a truncated or malformed
 * file, or one that others can read, is refused here, naming the file.
 */
static int
s_check_key_files(const opts_t *o)
{
	char path[4200], err[4600];
	struct stat sb;
	key_curve_t *ck;
	key_sign_t *rk;

	snprintf(path, sizeof(path), "%s/keys/site.curve", o->dir);
	if ((ck = key_curve_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "comptoir: %s\n", err);
		return -1;
	}
	key_curve_destroy(&ck);
	/* The root key is optional (a joining site has none, a first site may
	 * have moved it offline), but if it is here it must be sound. */
	snprintf(path, sizeof(path), "%s/keys/root.key", o->dir);
	if (lstat(path, &sb) != 0 && errno == ENOENT)
		return 0;
	if ((rk = key_sign_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "comptoir: %s\n", err);
		return -1;
	}
	key_sign_destroy(&rk);
	return 0;
}

int
cmd_run(opts_t *o)
{
	node_t *n;
	int rc;
	const char *env = getenv("COMPTOIR_ALLOW_ROOT");

	/* A network daemon holding keys has no business running as root. */
	if (!o->check && geteuid() == 0 && !o->allow_root && !(env && strcmp(env, "1") == 0)) {
		fprintf(stderr, "comptoir: refusing to run as root; run it as a dedicated user "
		                "(see deploy/systemd/comptoir.service), or pass --allow-root\n");
		return 1;
	}
	{
		/* Every page is read once, in a child, before the node serves: a
		 * damaged store is refused here rather than crashing the node in
		 * the middle of a request (about 0.1 s per 300,000 entries). */
		char err[4600];
		size_t entries = 0;
		uint64_t t0 = hlc_wall_ms();
		rc = chk_store(o->dir, 0, &entries, err, sizeof(err));
		if (rc == CPT_EDAMAGED) {
			fprintf(stderr, "comptoir: %s\n", err);
			return 1;
		}
		if (rc == 0 && !o->check)
			log_info("store",
			         "%s/store/data.mdb: %zu entries read in %llu ms, no damage found",
			         o->dir, entries, (unsigned long long)(hlc_wall_ms() - t0));
		if ((n = cli_open_checked(o, CLI_CHECK_NONE)) == NULL)
			return 1;
		if (o->check && (rc = s_check_key_files(o)) != 0) {
			node_close(&n);
			return 1;
		}
		if (o->check) {
			/* What http_start would refuse: TLS files, plain HTTP off loopback. */
			char herr[1024];
			if (http_check(node_cfg(n), herr, sizeof(herr)) != 0) {
				fprintf(stderr, "comptoir: %s\n", herr);
				node_close(&n);
				return 1;
			}
		}
		if (o->check) {
			printf("%s/comptoir.yaml: configuration is valid\n"
			       "%s/store/data.mdb: %zu entries read, no damage found\n",
			       o->dir, o->dir, entries);
			node_close(&n);
			return 0;
		}
	}
	rc = daemon_run(n);
	node_close(&n);
	return rc;
}

/* A span of s seconds as "12 s", "3 min", "2 h", "4 d". */
static void
s_span(char *out, size_t cap, uint64_t s)
{
	if (s < 120)
		snprintf(out, cap, "%llu s", (unsigned long long)s);
	else if (s < 7200)
		snprintf(out, cap, "%llu min", (unsigned long long)s / 60);
	else if (s < 172800)
		snprintf(out, cap, "%llu h", (unsigned long long)s / 3600);
	else
		snprintf(out, cap, "%llu d", (unsigned long long)s / 86400);
}

/* Age as "12 s ago", "3 min ago", ..., or "never". */
static void
s_age(char *out, size_t cap, uint64_t then_ms)
{
	uint64_t now = hlc_wall_ms();
	char span[24];

	if (then_ms == 0) {
		snprintf(out, cap, "never");
		return;
	}
	s_span(span, sizeof(span), now > then_ms ? (now - then_ms) / 1000 : 0);
	snprintf(out, cap, "%s ago", span);
}

/* The link state, as the running node wrote it in dir/status.json. */
static void
s_print_peers(const char *dir)
{
	char path[4200];
	json_t *st, *p;
	size_t i;
	uint64_t now = hlc_wall_ms(), written;

	snprintf(path, sizeof(path), "%s/status.json", dir);
	st = json_load_file(path, 0, NULL);
	written = (uint64_t)json_integer_value(json_object_get(st, "written_ms"));
	if (st == NULL || now - written > 5000) {
		/* The node writes status.json every second while it runs. */
		long long pid = (long long)json_integer_value(json_object_get(st, "pid"));
		char ago[24];
		if (st == NULL)
			printf("node:      not running\n");
		else if (pid > 0 && kill((pid_t)pid, 0) == 0)
			printf("node:      not answering: pid %lld has not written %s for %s\n",
			       pid, path, (s_span(ago, sizeof(ago), (now - written) / 1000), ago));
		else
			printf("node:      not running (it stopped %s ago)\n",
			       (s_span(ago, sizeof(ago), (now - written) / 1000), ago));
		printf("           start it: comptoir run --dir %s (or systemctl start comptoir);\n"
		       "           what stopped it is at the end of its log (journalctl -u "
		       "comptoir)\n",
		       dir);
		json_decref(st);
		return;
	}
	printf("node:      running, pid %lld\n",
	       (long long)json_integer_value(json_object_get(st, "pid")));
	if (json_array_size(json_object_get(st, "peers")) == 0)
		printf("peers:     none\n");
	else
		printf("peers:\n  %-14s %-13s %-14s %-14s %8s %8s %8s %8s %7s\n", "SITE", "STATE",
		       "SINCE", "LAST EXCHANGE", "SENT", "RECEIVED", "TO SEND", "TO RECV",
		       "RATE/S");
	json_array_foreach (json_object_get(st, "peers"), i, p) {
		char since[32], last[32];
		const char *state = json_string_value(json_object_get(p, "state"));
		if (state == NULL) /* a node of the previous version */
			state = json_is_true(json_object_get(p, "connected")) ? "connected"
			                                                      : "unreachable";
		s_age(since, sizeof(since),
		      (uint64_t)json_integer_value(json_object_get(p, "since_ms")));
		s_age(last, sizeof(last),
		      (uint64_t)json_integer_value(json_object_get(p, "last_exchange_ms")));
		printf("  %-14s %-13s %-14s %-14s %8lld %8lld %8lld %8lld %7lld\n",
		       json_string_value(json_object_get(p, "site"))[0]
		           ? json_string_value(json_object_get(p, "site"))
		           : "?",
		       state, since, last,
		       (long long)json_integer_value(json_object_get(p, "sent")),
		       (long long)json_integer_value(json_object_get(p, "received")),
		       (long long)json_integer_value(json_object_get(p, "to_send")),
		       (long long)json_integer_value(json_object_get(p, "to_receive")),
		       (long long)json_integer_value(json_object_get(p, "rate_in")));
	}
	/* What the states mean for site IT, and a catch-up under way. */
	json_array_foreach (json_object_get(st, "peers"), i, p) {
		const char *site = json_string_value(json_object_get(p, "site"));
		const char *state = json_string_value(json_object_get(p, "state")) ?: "";
		char left[24];
		if (strcmp(state, "refused") == 0)
			printf("refused by %s: not admitted (it does not hold this site's "
			       "certificate yet, "
			       "or this site is revoked)\n",
			       site);
		else if (strcmp(state, "revoked") == 0)
			printf("%s is revoked: nothing is exchanged with it any more\n", site);
		else if (strcmp(state, "expired") == 0)
			printf("%s's certificate has expired: nothing is exchanged with it until "
			       "federation IT "
			       "certifies it again\n",
			       site);
		if (!json_is_integer(json_object_get(p, "eta_s")))
			continue;
		s_span(left, sizeof(left),
		       (uint64_t)json_integer_value(json_object_get(p, "eta_s")));
		printf(
		    "catching up from %s: %lld events to receive at %lld events/s, about %s left\n",
		    site, (long long)json_integer_value(json_object_get(p, "to_receive")),
		    (long long)json_integer_value(json_object_get(p, "rate_in")), left);
	}
	/* The search index behind the store: a catch-up, or a start after a crash. */
	if (json_integer_value(json_object_get(json_object_get(st, "search"), "behind")) > 0)
		printf("search:    %lld changes not in the index yet: it follows the store, and "
		       "finds what it holds so far\n",
		       (long long)json_integer_value(
		           json_object_get(json_object_get(st, "search"), "behind")));
	/* Files still to fetch, by the peer that holds them (PROTOCOL.md 18.6). */
	json_array_foreach (json_object_get(st, "peers"), i, p) {
		json_t *fs = json_object_get(p, "files");
		if (json_integer_value(json_object_get(fs, "to_fetch")) == 0)
			continue;
		printf("files from %s: %lld to fetch, %lld bytes left\n",
		       json_string_value(json_object_get(p, "site")),
		       (long long)json_integer_value(json_object_get(fs, "to_fetch")),
		       (long long)json_integer_value(json_object_get(fs, "to_fetch_bytes")));
	}
	{
		json_t *fs = json_object_get(st, "file_sync");
		if (json_integer_value(json_object_get(fs, "unreachable")) > 0)
			printf("files:     %lld wanted that no linked site holds now: they arrive "
			       "when the site that has them is linked again\n",
			       (long long)json_integer_value(json_object_get(fs, "unreachable")));
		if (json_is_object(fs))
			printf(
			    "files:     %lld fetched since start (%lld bytes; %lld bytes kept from "
			    "cut transfers), %lld damaged on disk found\n",
			    (long long)json_integer_value(json_object_get(fs, "fetched")),
			    (long long)json_integer_value(json_object_get(fs, "bytes_in")),
			    (long long)json_integer_value(json_object_get(fs, "resumed_bytes")),
			    (long long)json_integer_value(json_object_get(fs, "damaged")));
	}
	json_decref(st);
}

int
cmd_status(opts_t *o)
{
	node_t *n = cli_open(o);
	store_t *st;
	store_txn_t *txn;
	char fpr[CPT_FPR_LEN];
	json_t *self;

	if (n == NULL)
		return 1;
	st = node_store(n);
	self = fed_site(n, key_sign_public(node_site_key(n)));
	if (store_read_begin(st, &txn) != 0) {
		json_decref(self);
		node_close(&n);
		return 1;
	}
	key_fingerprint(fpr, node_cfg(n)->root_key);
	if (json_is_string(json_object_get(self, "title")))
		printf("site:      %s (%s)\n", node_cfg(n)->name,
		       json_string_value(json_object_get(self, "title")));
	else
		printf("site:      %s\n", node_cfg(n)->name);
	if (json_is_true(json_object_get(self, "revoked")))
		printf("REVOKED:   federation IT revoked this site's certificate: no site "
		       "exchanges with it\n"
		       "           any more (a new site needs new keys: comptoir init --join)\n");
	else if (json_is_true(json_object_get(self, "expired")))
		printf("EXPIRED:   this site's certificate is not valid now: have federation IT "
		       "certify it\n"
		       "           again (comptoir site request, root certify, site install)\n");
	json_decref(self);
	printf("http:      %s://%s/\n", node_cfg(n)->tls.cert[0] ? "https" : "http",
	       node_cfg(n)->http);
	printf("listen:    %s\n", node_cfg(n)->listen);
	printf("root key:  %s\n", fpr);
	printf("events:    %zu\n", index_env_count(txn));
	printf("posts:     %zu\n", store_count(txn, DB_FEED));
	printf("users:     %zu\n", store_count(txn, DB_HANDLES));
	printf("pending:   %zu\n", store_count(txn, DB_PENDING));
	printf("store:     %zu bytes used of a %zu-byte map\n", (size_t)store_bytes(st),
	       (size_t)store_map_size(st));
	{
		/* Files: read beside a running node, nothing touched. */
		blob_store_t *bs = NULL;
		query_blob_counts_t c;
		if (blob_store_peek(&bs, o->dir) == 0 && query_blob_counts(txn, bs, &c) == 0)
			printf("files:     %llu here (%llu bytes), %llu still to fetch\n",
			       (unsigned long long)c.held, (unsigned long long)c.held_bytes,
			       (unsigned long long)c.missing);
		blob_store_close(&bs);
	}
	store_read_end(st, &txn);
	s_print_peers(o->dir);
	node_close(&n);
	return 0;
}

/* A day as YYYY-MM-DD (UTC). */
static void
s_day(char out[16], uint64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 16, "%Y-%m-%d", &tm);
}

static json_int_t
s_int(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

int
cmd_figures(opts_t *o)
{
	node_t *n;
	store_t *st;
	store_txn_t *txn;
	json_t *f, *x;
	size_t i;
	char a[16], b[16], hs[64];
	int days = o->days ? o->days : 30;

	if (days < 1 || days > QUERY_FIGURES_MAX_DAYS) {
		fprintf(stderr, "comptoir figures: --days must be from 1 to %d (got %d)\n",
		        QUERY_FIGURES_MAX_DAYS, days);
		return 2;
	}
	if ((n = cli_open(o)) == NULL)
		return 1;
	st = node_store(n);
	if (store_read_begin(st, &txn) != 0) {
		node_close(&n);
		return 1;
	}
	if (o->as &&
	    (index_handle_site(txn, o->as, hs) != 0 || strcmp(hs, index_spaces_site()) != 0)) {
		fprintf(stderr, "comptoir figures: no person %s at this site (--as)\n", o->as);
		store_read_end(st, &txn);
		node_close(&n);
		return 2;
	}
	f = query_figures(txn, hlc_wall_ms(), (unsigned)days);
	/* As GET /api/figures answers: a private space is counted, and named
	 * only to a reader of it (--as HANDLE, a person of this site); the
	 * site's IT is nobody's reader. */
	if (f != NULL)
		query_figures_spaces_for(txn, json_object_get(f, "spaces"), o->as,
		                         index_spaces_site());
	store_read_end(st, &txn);
	node_close(&n);
	if (f == NULL) {
		fprintf(stderr, "comptoir figures: the store could not be read\n");
		return 1;
	}
	if (o->json) {
		/* The answer of GET /api/figures, for scripts and spreadsheets. */
		if (json_dumpf(f, stdout, JSON_INDENT(2)) != 0 || putchar('\n') == EOF) {
			json_decref(f);
			return 1;
		}
		json_decref(f);
		return 0;
	}
	s_day(a, (uint64_t)s_int(f, "from"));
	s_day(b, (uint64_t)s_int(f, "to"));
	printf("Last %d days (%s to %s, UTC), from the events this site holds.\n\n", days, a, b);
	printf("%-20s %7s %14s %7s %9s %10s\n", "site", "staff", "active", "posts", "comments",
	       "reactions");
	json_array_foreach (json_object_get(f, "sites"), i, x) {
		char act[32];
		json_int_t staff = s_int(x, "staff"), active = s_int(x, "active");
		if (staff > 0)
			snprintf(act, sizeof(act), "%lld (%lld%%)", (long long)active,
			         (long long)(active * 100 / staff));
		else
			snprintf(act, sizeof(act), "%lld", (long long)active);
		printf("%-20s %7lld %14s %7lld %9lld %10lld\n",
		       json_string_value(json_object_get(x, "site")), (long long)staff, act,
		       (long long)s_int(x, "posts"), (long long)s_int(x, "comments"),
		       (long long)s_int(x, "reactions"));
	}
	printf(
	    "\nBetween sites (comments and reactions by staff of one site on posts of another):\n");
	if (json_array_size(json_object_get(f, "exchange")) == 0)
		printf("  none in the period\n");
	else
		printf("%-20s %-20s %9s %10s\n", "from", "to", "comments", "reactions");
	json_array_foreach (json_object_get(f, "exchange"), i, x)
		printf("%-20s %-20s %9lld %10lld\n", json_string_value(json_object_get(x, "from")),
		       json_string_value(json_object_get(x, "to")), (long long)s_int(x, "comments"),
		       (long long)s_int(x, "reactions"));
	printf("\nBy week (7 days ending on the date):\n%-12s %7s %7s %9s %10s\n", "week to",
	       "active", "posts", "comments", "reactions");
	json_array_foreach (json_object_get(f, "weeks"), i, x) {
		json_t *next = json_array_get(json_object_get(f, "weeks"), i + 1);
		s_day(a, next ? (uint64_t)s_int(next, "start") - 1 : (uint64_t)s_int(f, "to"));
		printf("%-12s %7lld %7lld %9lld %10lld\n", a, (long long)s_int(x, "active"),
		       (long long)s_int(x, "posts"), (long long)s_int(x, "comments"),
		       (long long)s_int(x, "reactions"));
	}
	json_decref(f);
	return 0;
}

/* A day "YYYY-MM-DD" (UTC) as ms at its start; -1 when it is not one. */
static long long
s_day_ms(const char *s)
{
	struct tm tm = {0};
	char *end;

	if (s == NULL || strlen(s) != 10 || (end = strptime(s, "%Y-%m-%d", &tm)) == NULL || *end)
		return -1;
	return (long long)timegm(&tm) * 1000;
}

/* comptoir report send: the monthly report queued now, by hand; the
 * running node's worker delivers it. */
static int
s_report_send(opts_t *o)
{
	node_t *n;
	size_t queued = 0;
	char err[512] = "", month[8];
	int rc;

	if (o->nargs != 1 || o->xlsx || o->from || o->to) {
		fprintf(stderr, "usage: comptoir report send [--month YYYY-MM] [--dir DIR]\n");
		return 2;
	}
	if ((n = cli_open(o)) == NULL)
		return 1;
	rc = mail_report_run(n, hlc_wall_ms(), o->month, 1, report_workbook_of, n, &queued, month,
	                     err, sizeof(err));
	if (rc == 0 && month[0] == 0) {
		fprintf(stderr, "comptoir report: no month owed (mail.report_day is 0): give "
		                "--month YYYY-MM\n");
		rc = 2;
	} else if (rc == 0) {
		printf("report of %s queued for %zu people of the management role%s\n", month,
		       queued,
		       queued == 0 ? " (none has the role and an e-mail address)"
		       : node_cfg(n)->mail.relay[0]
		           ? ""
		           : " (no mail: section in the config: nothing will deliver it)");
	} else {
		fprintf(stderr, "comptoir report: %s\n", err);
		rc = rc == CPT_EINVAL ? 2 : 1;
	}
	node_close(&n);
	return rc;
}

int
cmd_report(opts_t *o)
{
	const long long day = 86400000LL;
	long long from_ms, to_ms;
	node_t *n;
	store_t *st;
	store_txn_t *txn;
	json_t *data;
	char err[512], site[CFG_MAX_STR];
	int rc;

	if (o->nargs > 0 && strcmp(o->args[0], "send") == 0)
		return s_report_send(o);
	if (o->nargs > 0) {
		fprintf(stderr, "comptoir report: no such command \"%s\" (send, or --xlsx FILE)\n",
		        o->args[0]);
		return 2;
	}
	if (o->xlsx == NULL && !o->json) {
		fprintf(stderr, "comptoir report: give --xlsx FILE (or --json)\n");
		return 2;
	}
	to_ms = o->to ? s_day_ms(o->to) : (long long)(hlc_wall_ms() / (uint64_t)day) * day;
	if (to_ms < 0) {
		fprintf(stderr, "comptoir report: --to must be a day, YYYY-MM-DD (got \"%s\")\n",
		        o->to);
		return 2;
	}
	to_ms += day;
	from_ms = o->from ? s_day_ms(o->from) : to_ms - 30 * day;
	if (from_ms < 0) {
		fprintf(stderr, "comptoir report: --from must be a day, YYYY-MM-DD (got \"%s\")\n",
		        o->from);
		return 2;
	}
	if (from_ms >= to_ms || to_ms - from_ms > QUERY_REPORT_MAX_DAYS * day) {
		fprintf(stderr,
		        "comptoir report: the period must run forwards and last at most %d days\n",
		        QUERY_REPORT_MAX_DAYS);
		return 2;
	}
	if ((n = cli_open(o)) == NULL)
		return 1;
	snprintf(site, sizeof(site), "%s", node_cfg(n)->name);
	st = node_store(n);
	if (store_read_begin(st, &txn) != 0) {
		node_close(&n);
		return 1;
	}
	data = query_report(txn, (uint64_t)from_ms, (uint64_t)to_ms);
	store_read_end(st, &txn);
	node_close(&n);
	if (data == NULL) {
		fprintf(stderr, "comptoir report: the store could not be read\n");
		return 1;
	}
	if (o->json) {
		rc = json_dumpf(data, stdout, JSON_INDENT(2)) != 0 || putchar('\n') == EOF;
		json_decref(data);
		return rc;
	}
	rc = report_xlsx_write(data, site, hlc_wall_ms(), o->xlsx, err, sizeof(err));
	json_decref(data);
	if (rc != 0) {
		fprintf(stderr, "comptoir report: %s\n", err);
		return 1;
	}
	printf("%s written\n", o->xlsx);
	return 0;
}
