/*
 * The `comptoir` command line: usage, options, opening a node with its
 * store checked first, and the helpers the commands share. The commands
 * themselves, one file per group: cmd_site.c, cmd_user.c, cmd_store.c,
 * cmd_status.c. Every command that acts on a node takes --dir DIR
 * (default ./var) and works whether the node runs or not (LMDB lets two
 * processes share the store).
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

#ifndef COMPTOIR_VERSION
#define COMPTOIR_VERSION "0.1.0"
#endif

#define DEFAULT_DIR "./var"

static const char s_usage[] =
    "usage: comptoir COMMAND [OPTIONS]\n"
    "\n"
    "Comptoir: a company intranet that runs one node per site and replicates\n"
    "signed events between sites.\n"
    "\n"
    "Commands for a site (all take --dir DIR, default ./var):\n"
    "  init [--site NAME] [--title TITLE] [--http ADDR:PORT] [--listen ENDPOINT] [--join]\n"
    "       [--tls-cert FILE --tls-key FILE]\n"
    "                        create a node: config, keys, store; a lone site gets its\n"
    "                        own federation root key (--join: none, to join another);\n"
    "                        TITLE is the name staff read (\"Nantes plant\");\n"
    "                        HTTPS with that certificate (needed off loopback)\n"
    "  run [--check] [--allow-root]\n"
    "                        run the node in the foreground (--check: validate the\n"
    "                        config and exit); refuses to run as root unless told\n"
    "  status                what the store holds, whether the node runs, each peer's link\n"
    "  figures [--days N] [--json]\n"
    "                        adoption per site and exchange between sites over the\n"
    "                        last N days (default 30, at most 366), for management\n"
    "  user add HANDLE [--admin] [--name NAME] [--password-file FILE]\n"
    "                        enrol a member of staff (prints a password unless given)\n"
    "  user passwd HANDLE [--password-file FILE]\n"
    "                        reset a password (a new key is enrolled, the old revoked)\n"
    "  user disable HANDLE   revoke a user's key everywhere\n"
    "  user enable HANDLE [--password-file FILE]\n"
    "                        give a disabled user access again (a new key and password)\n"
    "  user list             the users known here\n"
    "  mail digest daily|weekly|immediate [--force]\n"
    "                        compose the e-mail digests due now (the running node sends them)\n"
    "  mail email HANDLE ADDRESS\n"
    "                        the address a person's digests go to, when they set none\n"
    "  mail status           what waits in the mail outbox\n"
    "  token list [HANDLE]   the personal API tokens (never their secret)\n"
    "  token revoke ID       revoke an API token at once\n"
    "  verify                check every signature and that the views match a rebuild\n"
    "  reindex               rebuild every view from the events alone (search too)\n"
    "  search WORDS... [--site SITE] [--json]\n"
    "                        search posts, comments and people as staff would\n"
    "                        (\"a phrase\", word*; accents, case and endings do not count)\n"
    "  backup DEST           hot, consistent copy of the store, config and keys\n"
    "  restore BACKUP        put a backup in place as a new DIR (then run: it catches up)\n"
    "  repair [--force]      rebuild a damaged (or lost) store: keep every event still\n"
    "                        readable, the peers send the rest (the damaged one is kept)\n"
    "  export                every event as one JSON line on stdout\n"
    "  site request [--endpoint ENDPOINT] [--title TITLE]\n"
    "                        print this site's certificate request (for federation IT);\n"
    "                        ENDPOINT is where the other sites dial this one\n"
    "  site install CERT [--seed BACKUP] [--force]\n"
    "                        trust the federation root that certified this site\n"
    "                        (--seed: start from another site's backup)\n"
    "  peer add CERT [--endpoint ENDPOINT]\n"
    "                        link to the site of that certificate (one side is enough)\n"
    "\n"
    "Commands for federation IT (the root key stays offline):\n"
    "  root init --out FILE  create the company root key\n"
    "  root certify --key ROOTKEY [--dir DIR] [--days N] site.req > site.cert\n"
    "                        certify a site (with --dir, publish it through that node)\n"
    "  root revoke --key ROOTKEY --dir DIR SITE\n"
    "                        revoke a site: every site closes its links within a second\n"
    "\n"
    "Other commands:\n"
    "  keygen --out PREFIX   write PREFIX.key (Ed25519) and PREFIX.curve (CURVE), mode 0600\n"
    "  version               print the version\n"
    "  help                  this text\n";

/* ------------------------------------------------------------- helpers */

static int
s_parse(opts_t *o, int argc, char **argv)
{
	static const struct {
		const char *name; /* --name */
		size_t off;       /* where its value (or flag) goes */
		int is_flag;      /* 1: takes no value; 2: a number */
	} known[] = {
	    {"--dir", offsetof(opts_t, dir), 0},
	    {"--site", offsetof(opts_t, site), 0},
	    {"--http", offsetof(opts_t, http), 0},
	    {"--listen", offsetof(opts_t, listen), 0},
	    {"--out", offsetof(opts_t, out), 0},
	    {"--password-file", offsetof(opts_t, pwfile), 0},
	    {"--name", offsetof(opts_t, name), 0},
	    {"--admin", offsetof(opts_t, admin), 1},
	    {"--check", offsetof(opts_t, check), 1},
	    {"--json", offsetof(opts_t, json), 1},
	    {"--key", offsetof(opts_t, key), 0},
	    {"--endpoint", offsetof(opts_t, endpoint), 0},
	    {"--days", offsetof(opts_t, days), 2},
	    {"--tls-cert", offsetof(opts_t, tls_cert), 0},
	    {"--tls-key", offsetof(opts_t, tls_key), 0},
	    {"--seed", offsetof(opts_t, seed), 0},
	    {"--title", offsetof(opts_t, title), 0},
	    {"--force", offsetof(opts_t, force), 1},
	    {"--allow-root", offsetof(opts_t, allow_root), 1},
	    {"--join", offsetof(opts_t, join), 1},
	};

	memset(o, 0, sizeof(*o));
	o->dir = DEFAULT_DIR;
	/* Options and positional arguments in any order, GNU style. */
	for (int i = 1; i < argc; i++) {
		size_t k, n = sizeof(known) / sizeof(known[0]);
		if (strncmp(argv[i], "--", 2) != 0 || argv[i][2] == 0) {
			if (o->nargs == 8) {
				fprintf(stderr, "comptoir: too many arguments\n");
				return -1;
			}
			o->args[o->nargs++] = argv[i];
			continue;
		}
		for (k = 0; k < n && strcmp(argv[i], known[k].name) != 0; k++)
			;
		if (k == n) {
			fprintf(stderr, "comptoir: unknown option \"%s\"\n", argv[i]);
			return -1;
		}
		if (known[k].is_flag == 1) {
			*(int *)((char *)o + known[k].off) = 1;
		} else if (known[k].is_flag == 2) {
			char *end;
			long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : -1;
			if (i + 1 >= argc || *end || v < 0 || v > 36500) {
				fprintf(stderr, "comptoir: %s needs a number of days (0-36500)\n",
				        argv[i]);
				return -1;
			}
			*(int *)((char *)o + known[k].off) = (int)v;
			i++;
		} else if (i + 1 >= argc) {
			fprintf(stderr, "comptoir: option %s needs a value\n", argv[i]);
			return -1;
		} else {
			*(const char **)((char *)o + known[k].off) = argv[++i];
			if (known[k].off == offsetof(opts_t, dir))
				o->dir_given = 1;
		}
	}
	return 0;
}

node_t *
cli_open_checked(const opts_t *o, enum cli_check check)
{
	node_t *n = NULL;
	char err[4600];

	if (check != CLI_CHECK_NONE &&
	    chk_store(o->dir, check == CLI_CHECK_OPEN, NULL, err, sizeof(err)) == CPT_EDAMAGED) {
		fprintf(stderr, "comptoir: %s\n", err);
		return NULL;
	}
	/* Anything else (no store, no process to check it in): node_open says
	 * what is wrong. */
	if (node_open(&n, o->dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "comptoir: %s\n", err);
		return NULL;
	}
	return n;
}

node_t *
cli_open(const opts_t *o)
{
	return cli_open_checked(o, CLI_CHECK_OPEN);
}

/* Reads the first line of a password file. */
int
cli_read_password(const char *path, char out[ACCT_MAX_PASSWORD + 1])
{
	FILE *f = fopen(path, "r");
	size_t len;

	if (f == NULL) {
		fprintf(stderr, "comptoir: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fgets(out, ACCT_MAX_PASSWORD + 1, f) == NULL) {
		fprintf(stderr, "comptoir: %s: empty password file\n", path);
		fclose(f);
		return -1;
	}
	fclose(f);
	len = strcspn(out, "\r\n");
	out[len] = 0;
	if (len < 8) {
		fprintf(stderr, "comptoir: %s: password shorter than 8 characters\n", path);
		sodium_memzero(out, ACCT_MAX_PASSWORD + 1);
		return -1;
	}
	return 0;
}

/* Publishes body as kind signed by key and reports a refusal. */
int
cli_publish(node_t *n, const key_sign_t *key, uint16_t kind, json_t *body, uint8_t id[CPT_ID_LEN])
{
	ingest_res_t res;
	int rc = node_publish(n, key, kind, body, &res);

	json_decref(body);
	if (rc == CPT_ENOSPC) {
		fprintf(stderr, "comptoir: no space left on device (%s): nothing was stored\n",
		        store_dir(node_store(n)));
		return -1;
	}
	if (rc != 0) {
		fprintf(stderr, "comptoir: store error: %s\n", cpt_strerror(rc));
		return -1;
	}
	if (res.rc != 0) {
		fprintf(stderr, "comptoir: %s event refused: %s (%s)\n", evt_kind_name(kind),
		        cpt_strerror(res.rc), res.why);
		return -1;
	}
	if (id)
		memcpy(id, res.id, CPT_ID_LEN);
	return 0;
}

int
cli_mkdir(const char *path)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "comptoir: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Copies a small file (config, key) keeping mode 0600. */
int
cli_copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out;
	ssize_t r;

	if (in < 0)
		return -1;
	if ((out = open(to, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0) {
		close(in);
		return -1;
	}
	while ((r = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)r) != r) {
			r = -1;
			break;
		}
	if (r == 0 && fsync(out) != 0)
		r = -1;
	close(in);
	close(out);
	return r == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ main */

/*
 * The last resort: what reads the store is checked in a child first, but a
 * page damaged after that check (or a bug) can still crash the process.
 * It then says so instead of dying without a word, and dies of the same
 * signal (its exit status stays honest). Only write(2) in the handler; the
 * text is made before. Not under AddressSanitizer, whose report says more.
 */
#if defined(__SANITIZE_ADDRESS__)
#define CLI_KEEP_SIGNALS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CLI_KEEP_SIGNALS 1
#endif
#endif

#ifndef CLI_KEEP_SIGNALS
static char s_crash_text[4600]; /* what follows the signal's name */
static size_t s_crash_len;      /* its length */

static void
s_on_crash(int sig)
{
	const char *name = sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : "SIGABRT";
	ssize_t w;

	w = write(STDERR_FILENO, "comptoir: crashed with ", 23);
	w = write(STDERR_FILENO, name, strlen(name));
	w = write(STDERR_FILENO, s_crash_text, s_crash_len);
	(void)w;
	/* SA_RESETHAND: the signal raised again, or the fault met again on
	 * return, now takes its default action. */
	raise(sig);
}
#endif

static void
s_crash_install(const char *dir)
{
#ifndef CLI_KEEP_SIGNALS
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGABRT};
	struct sigaction sa;
	int n =
	    snprintf(s_crash_text, sizeof(s_crash_text),
	             ": if it was reading %s/store/data.mdb, the store may be damaged: "
	             "comptoir verify --dir %s checks it, comptoir repair --dir %s rebuilds it\n",
	             dir, dir, dir);

	s_crash_len = n < 0                              ? 0
	              : (size_t)n < sizeof(s_crash_text) ? (size_t)n
	                                                 : sizeof(s_crash_text) - 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = s_on_crash;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
#else
	(void)dir;
#endif
}

int
cli_main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(opts_t *);
	} cmds[] = {
	    {"init", cmd_init},       {"run", cmd_run},         {"status", cmd_status},
	    {"figures", cmd_figures}, {"user", cmd_user},       {"verify", cmd_verify},
	    {"reindex", cmd_reindex}, {"backup", cmd_backup},   {"export", cmd_export},
	    {"keygen", cmd_keygen},   {"root", cmd_root},       {"site", cmd_site},
	    {"peer", cmd_peer},       {"restore", cmd_restore}, {"repair", cmd_repair},
	    {"mail", cmd_mail},       {"search", cmd_search},   {"token", cmd_token},
	};
	opts_t o;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(s_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("comptoir %s (envelope v%d, store schema %d)\n", COMPTOIR_VERSION,
		       EVT_VERSION, INDEX_SCHEMA);
		return 0;
	}
	if (cpt_init() != 0) {
		fprintf(stderr, "comptoir: cannot initialise libsodium\n");
		return 1;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name) != 0)
			continue;
		if (s_parse(&o, argc - 1, argv + 1) != 0) {
			fprintf(stderr, "run `comptoir help` for usage\n");
			return 2;
		}
		s_crash_install(o.dir);
		return cmds[i].fn(&o);
	}
	fprintf(stderr, "comptoir: unknown command \"%s\"; run `comptoir help`\n", argv[1]);
	return 2;
}
