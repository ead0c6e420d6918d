/*
 * The `comptoir` command line: one function per subcommand. Every command
 * that acts on a node takes --dir DIR (default ./var) and works whether the
 * node runs or not (LMDB lets two processes share the store).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "node/auth/auth.h"
#include "node/cli/cli.h"
#include "node/daemon/daemon.h"
#include "node/event/event.h"
#include "node/fed/fed.h"
#include "node/http/http.h"
#include "node/index/index.h"
#include "node/query/query.h"

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
	"  verify                check every signature and that the views match a rebuild\n"
	"  reindex               rebuild every view from the events alone\n"
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

/* Options shared by every subcommand; each command reads what it needs. */
typedef struct opts {
	const char *dir;      /* --dir */
	const char *site;     /* --site */
	const char *http;     /* --http */
	const char *listen;   /* --listen */
	const char *out;      /* --out */
	const char *pwfile;   /* --password-file */
	const char *name;     /* --name */
	const char *key;      /* --key (a root key file) */
	const char *seed;     /* --seed: a backup of another site to start from */
	const char *endpoint; /* --endpoint */
	const char *tls_cert; /* --tls-cert: the HTTPS certificate (PEM) */
	const char *tls_key;  /* --tls-key: its key */
	const char *title;    /* --title: the site's name for staff, in its certificate */
	int days;             /* --days: certificate validity, 0 = none */
	int dir_given;        /* --dir was given */
	int force;            /* --force */
	int join;             /* --join: init without a root of its own */
	int allow_root;       /* --allow-root: run as root anyway */
	int admin;            /* --admin */
	int check;            /* --check */
	int json;             /* --json: machine-readable output */
	int nargs;            /* positional arguments */
	char *args[8];        /* them */
} opts_t;

static int
s_parse(opts_t *o, int argc, char **argv)
{
	static const struct {
		const char *name;  /* --name */
		size_t off;        /* where its value (or flag) goes */
		int is_flag;       /* 1: takes no value; 2: a number */
	} known[] = {
		{"--dir", offsetof(opts_t, dir), 0},	   {"--site", offsetof(opts_t, site), 0},
		{"--http", offsetof(opts_t, http), 0},	   {"--listen", offsetof(opts_t, listen), 0},
		{"--out", offsetof(opts_t, out), 0},	   {"--password-file", offsetof(opts_t, pwfile), 0},
		{"--name", offsetof(opts_t, name), 0},	   {"--admin", offsetof(opts_t, admin), 1},
		{"--check", offsetof(opts_t, check), 1},   {"--json", offsetof(opts_t, json), 1},   {"--key", offsetof(opts_t, key), 0},
		{"--endpoint", offsetof(opts_t, endpoint), 0}, {"--days", offsetof(opts_t, days), 2},
		{"--tls-cert", offsetof(opts_t, tls_cert), 0}, {"--tls-key", offsetof(opts_t, tls_key), 0},
		{"--seed", offsetof(opts_t, seed), 0},     {"--title", offsetof(opts_t, title), 0},     {"--force", offsetof(opts_t, force), 1},   {"--allow-root", offsetof(opts_t, allow_root), 1},   {"--join", offsetof(opts_t, join), 1},
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
				fprintf(stderr, "comptoir: %s needs a number of days (0-36500)\n", argv[i]);
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

/* How much of the store a command reads in a child process before it opens
 * the store itself (node/check.c): a damaged store is refused with a message
 * instead of crashing the command (LMDB has no checksums, PITFALLS 23). */
enum s_check {
	CHECK_OPEN, /* what opening reads: the first and last entries of each database */
	CHECK_ALL,  /* every page: for the commands that read everything */
	CHECK_NONE, /* checked already */
};

static node_t *
s_open_checked(const opts_t *o, enum s_check check)
{
	node_t *n = NULL;
	char err[4600];

	if (check != CHECK_NONE &&
	    chk_store(o->dir, check == CHECK_OPEN, NULL, err, sizeof(err)) == CPT_EDAMAGED) {
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

static node_t *
s_open(const opts_t *o)
{
	return s_open_checked(o, CHECK_OPEN);
}

/* Reads the first line of a password file. */
static int
s_read_password(const char *path, char out[ACCT_MAX_PASSWORD + 1])
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
static int
s_publish(node_t *n, const key_sign_t *key, uint16_t kind, json_t *body, uint8_t id[CPT_ID_LEN])
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

static int
s_mkdir(const char *path)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "comptoir: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The host of a tcp://HOST:PORT endpoint, copied into out ("" when none). */
static void
s_ep_host(char *out, size_t cap, const char *ep)
{
	const char *h = strncmp(ep, "tcp://", 6) == 0 ? ep + 6 : ep, *colon = strrchr(h, ':');
	size_t len = colon ? (size_t)(colon - h) : strlen(h);

	snprintf(out, cap, "%.*s", (int)len, h);
}

/* An endpoint no other site can dial: a listen address meaning "every
 * interface" (0.0.0.0, *, ::), or none at all. */
static int
s_ep_wildcard(const char *ep)
{
	char host[CFG_MAX_STR];

	s_ep_host(host, sizeof(host), ep);
	return host[0] == 0 || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0 ||
	       strcmp(host, "::") == 0 || strcmp(host, "[::]") == 0;
}

/* An endpoint only this machine can dial. */
static int
s_ep_loopback(const char *ep)
{
	char host[CFG_MAX_STR];

	s_ep_host(host, sizeof(host), ep);
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0;
}

/* Checks --title; prints why it is refused. */
static int
s_title_ok(const char *title)
{
	if (title == NULL || event_valid_title(title, strlen(title)))
		return 1;
	fprintf(stderr, "comptoir: --title \"%s\" must be 1 to %d bytes of UTF-8 without control characters\n",
		title, EVT_MAX_TITLE);
	return 0;
}

/* Reads a small "key: value" text file (a site request, a certificate; "-"
 * is stdin) into a JSON object of strings; NULL with "path:line: message"
 * in err. */
static json_t *
s_read_kv(const char *path, char *err, size_t errlen)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char line[140000];
	json_t *obj;
	int lineno = 0;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	obj = json_object();
	while (fgets(line, sizeof(line), f)) {
		char *colon, *val;
		size_t len = strcspn(line, "\r\n");
		lineno++;
		line[len] = 0;
		if (line[0] == '#' || line[0] == 0)
			continue;
		if ((colon = strstr(line, ": ")) == NULL) {
			snprintf(err, errlen, "%s:%d: expected \"key: value\"", path, lineno);
			json_decref(obj);
			obj = NULL;
			break;
		}
		*colon = 0;
		val = colon + 2;
		if (json_object_get(obj, line)) {
			snprintf(err, errlen, "%s:%d: duplicate field \"%.200s\"", path, lineno, line);
			json_decref(obj);
			obj = NULL;
			break;
		}
		json_object_set_new(obj, line, json_string(val));
		if (json_object_get(obj, line) == NULL) {
			snprintf(err, errlen, "%s:%d: field \"%.200s\" is not valid UTF-8", path, lineno, line);
			json_decref(obj);
			obj = NULL;
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	return obj;
}

/* ---------------------------------------------------------------- keygen */

static int
cmd_keygen(opts_t *o)
{
	char path[4096];
	key_sign_t *sk;
	key_curve_t *ck;
	char fpr[CPT_FPR_LEN];
	int rc = 0;

	if (o->out == NULL) {
		fprintf(stderr, "usage: comptoir keygen --out PREFIX\n");
		return 2;
	}
	sk = key_sign_new();
	ck = key_curve_new();
	if (sk == NULL || ck == NULL) {
		fprintf(stderr, "comptoir: out of memory\n");
		rc = 1;
		goto out;
	}
	snprintf(path, sizeof(path), "%s.key", o->out);
	if (key_sign_save(sk, path) != 0) {
		fprintf(stderr, "comptoir: %s: cannot write (exists already?)\n", path);
		rc = 1;
		goto out;
	}
	snprintf(path, sizeof(path), "%s.curve", o->out);
	if (key_curve_save(ck, path) != 0) {
		fprintf(stderr, "comptoir: %s: cannot write (exists already?)\n", path);
		rc = 1;
		goto out;
	}
	key_fingerprint(fpr, key_sign_public(sk));
	printf("wrote %s.key (Ed25519, fingerprint %s) and %s.curve (CURVE), mode 0600\n", o->out, fpr,
	       o->out);
out:
	key_sign_destroy(&sk);
	key_curve_destroy(&ck);
	return rc;
}

/* ------------------------------------------------------------------ init */

static int
s_write_config(const char *path, const char *site, const char *http, const char *listen,
	       const uint8_t root[CPT_KEY_LEN], const char *tls_cert, const char *tls_key)
{
	char hex[CPT_HEX_ID], tmp[4300];
	int fd, e;
	FILE *f;

	/* Written under a temporary name, then linked: the config appears whole
	 * or not at all (a full disk midway leaves no half config). */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		e = errno;
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		errno = e;
		return -1;
	}
	if (root)
		cpt_hex32(hex, root);
	else
		snprintf(hex, sizeof(hex), "(set by comptoir site install)");
	fprintf(f,
		"# Comptoir node configuration, written by `comptoir init`.\n"
		"# Every key is described in config/comptoir.example.yaml.\n"
		"# Check it with `comptoir run --check --dir DIR`; SIGHUP reloads it.\n"
		"\n"
		"# The site's name, shown to staff and to the other sites.\n"
		"name: %s\n"
		"# Where the store and keys live, relative to this file.\n"
		"data_dir: .\n"
		"# Address and port of the web UI and JSON API on the site LAN.\n"
		"http: %s\n"
		"# HTTPS: a certificate of the company's CA and its key (docs/OPERATIONS.md,\n"
		"# HTTPS). Required when http is not a loopback address; redirect_http adds a\n"
		"# plain port that sends browsers to HTTPS.\n"
		"%stls:\n"
		"%s  cert: %s\n"
		"%s  key: %s\n"
		"#   redirect_http: 0.0.0.0:80\n"
		"# The names staff type to reach this node, besides its address and the\n"
		"# names in the certificate; any other Host is refused (DNS rebinding).\n"
		"# http_names:\n"
		"#   - intranet.paris.example\n"
		"# ZeroMQ endpoint where peer sites connect (CURVE-encrypted).\n"
		"listen: %s\n"
		"# The federation's root public key: only sites it certified can join.\n"
		"%sroot_key: %s\n"
		"# error, warn, info or debug.\n"
		"log_level: info\n"
		"\n"
		"# Peer sites; `comptoir peer add` fills this in.\n"
		"# peers:\n"
		"#   - endpoint: tcp://lyon.example.com:7400\n"
		"#     site_key: <the peer site's key, 64 hex digits>\n"
		"\n"
		"# limits:\n"
		"#   max_body: 65536\n"
		"#   max_http_body: 262144\n"
		"#   login_per_minute: 10\n",
		site, http, tls_cert ? "" : "# ", tls_cert ? "" : "# ",
		tls_cert ? tls_cert : "/etc/comptoir/tls/site.crt", tls_cert ? "" : "# ",
		tls_key ? tls_key : "/etc/comptoir/tls/site.key", listen, root ? "" : "# ", hex);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || ferror(f)) {
		e = errno;
		fclose(f);
		unlink(tmp);
		errno = e;
		return -1;
	}
	if (fclose(f) != 0 || link(tmp, path) != 0) {
		e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	unlink(tmp);
	return 0;
}

/* Says why path could not be written: a full disk by its name. */
static void
s_write_failed(const char *path, int e, const char *dir)
{
	if (e == ENOSPC || e == EDQUOT)
		fprintf(stderr, "comptoir: no space left on device (%s): cannot write %s\n", dir, path);
	else
		fprintf(stderr, "comptoir: %s: cannot write: %s\n", path, strerror(e));
}

/* Makes a directory; *made says whether this call created it. */
static int
s_mkdir_new(const char *path, int *made)
{
	struct stat sb;

	*made = stat(path, &sb) != 0;
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		*made = 0;
		return -1;
	}
	return 0;
}

/* --tls-cert and --tls-key of init, checked before anything is created:
 * made absolute (the config must not depend on the folder init ran in) and
 * loaded as `run` will load them. Without them, an address off loopback
 * gets a warning: `run` refuses plain HTTP there until tls is set. */
static int
s_init_tls(const opts_t *o, const char *http, char cert[PATH_MAX], char key[PATH_MAX])
{
	cfg_t *cfg;
	char err[1024];
	int rc = 0;

	if ((o->tls_cert == NULL) != (o->tls_key == NULL)) {
		fprintf(stderr, "comptoir: --tls-cert and --tls-key go together\n");
		return 2;
	}
	if (o->tls_cert && realpath(o->tls_cert, cert) == NULL) {
		fprintf(stderr, "comptoir: --tls-cert %s: %s\n", o->tls_cert, strerror(errno));
		return 1;
	}
	if (o->tls_key && realpath(o->tls_key, key) == NULL) {
		fprintf(stderr, "comptoir: --tls-key %s: %s\n", o->tls_key, strerror(errno));
		return 1;
	}
	if (strlen(cert) >= CFG_MAX_STR || strlen(key) >= CFG_MAX_STR) {
		fprintf(stderr, "comptoir: --tls-cert and --tls-key paths must be under %d bytes\n",
			CFG_MAX_STR);
		return 1;
	}
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return 1;
	cfg_defaults(cfg);
	snprintf(cfg->http, sizeof(cfg->http), "%s", http);
	snprintf(cfg->tls.cert, sizeof(cfg->tls.cert), "%s", cert);
	snprintf(cfg->tls.key, sizeof(cfg->tls.key), "%s", key);
	if (http_check(cfg, err, sizeof(err)) != 0) {
		/* err starts with "comptoir.yaml: ": the file does not exist yet */
		const char *msg = strncmp(err, "comptoir.yaml: ", 15) == 0 ? err + 15 : err;
		if (cert[0]) {
			fprintf(stderr, "comptoir: %s\n", msg);
			rc = 1;
		} else {
			fprintf(stderr, "comptoir: warning: %s\n", msg);
		}
	}
	free(cfg);
	return rc;
}

static int
cmd_init(opts_t *o)
{
	const char *site = o->site ? o->site : "comptoir";
	const char *http = o->http ? o->http : "127.0.0.1:8080";
	const char *listen = o->listen ? o->listen : "tcp://127.0.0.1:7400";
	char path[4200], hex[CPT_HEX_ID], fpr[CPT_FPR_LEN], err[1024];
	char tls_cert[PATH_MAX] = "", tls_key[PATH_MAX] = "";
	key_sign_t *root = NULL, *sk = NULL;
	key_curve_t *ck = NULL;
	node_t *n = NULL;
	store_t *st = NULL;
	struct stat sb;
	json_t *cert;
	int rc = 1;
	/* What this init created, removed again if it fails: a failed init
	 * (a full disk) leaves nothing half made behind. */
	static const char *const files[] = {"keys/root.key", "keys/site.key", "keys/site.curve",
	                                    "comptoir.yaml", "store/data.mdb", "store/lock.mdb"};
	int made_dir = 0, made_keys = 0, made_store = 0, made[6] = {0};

	if (!event_valid_site(site)) {
		fprintf(stderr, "comptoir: \"%s\" is not a valid site name (a-z, 0-9, -)\n", site);
		return 2;
	}
	if (!s_title_ok(o->title))
		return 2;
	if (o->title && o->join) {
		/* A joining site's certificate is made by federation IT. */
		fprintf(stderr, "comptoir: --title goes into the certificate: give it to "
				"`comptoir site request` instead (after init --join)\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/comptoir.yaml", o->dir);
	if (stat(path, &sb) == 0) {
		fprintf(stderr, "comptoir: %s exists already: this directory holds a node\n", path);
		return 1;
	}
	if ((rc = s_init_tls(o, http, tls_cert, tls_key)) != 0)
		return rc;
	rc = 1;
	if (s_mkdir_new(o->dir, &made_dir) != 0) {
		s_write_failed(o->dir, errno, o->dir);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/keys", o->dir);
	if (s_mkdir_new(path, &made_keys) != 0) {
		s_write_failed(path, errno, o->dir);
		goto out;
	}
	root = o->join ? NULL : key_sign_new();
	sk = key_sign_new();
	ck = key_curve_new();
	if ((!root && !o->join) || !sk || !ck)
		goto out;
	snprintf(path, sizeof(path), "%s/keys/root.key", o->dir);
	if (root && key_sign_save(root, path) != 0)
		goto io;
	made[0] = root != NULL;
	snprintf(path, sizeof(path), "%s/keys/site.key", o->dir);
	if (key_sign_save(sk, path) != 0)
		goto io;
	made[1] = 1;
	snprintf(path, sizeof(path), "%s/keys/site.curve", o->dir);
	if (key_curve_save(ck, path) != 0)
		goto io;
	made[2] = 1;
	snprintf(path, sizeof(path), "%s/comptoir.yaml", o->dir);
	if (s_write_config(path, site, http, listen, root ? key_sign_public(root) : NULL,
			   tls_cert[0] ? tls_cert : NULL, tls_key[0] ? tls_key : NULL) != 0)
		goto io;
	made[3] = 1;
	snprintf(path, sizeof(path), "%s/store", o->dir);
	made_store = stat(path, &sb) != 0;
	made[4] = made[5] = made_store;
	if (index_store_open(&st, o->dir, 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "comptoir: %s\n", err);
		goto out;
	}
	store_close(&st);
	if (o->join) {
		key_fingerprint(fpr, key_sign_public(sk));
		printf("initialised site \"%s\" in %s, to join an existing federation\n"
		       "  site key fingerprint: %s\n"
		       "next: comptoir site request --dir %s > %s.req, have federation IT certify it\n"
		       "      (comptoir root certify), then comptoir site install --dir %s %s.cert\n",
		       site, o->dir, fpr, o->dir, site, o->dir, site);
		rc = 0;
		goto out;
	}
	if ((n = s_open(o)) == NULL)
		goto out;
	/* The lone site's root certifies it, exactly as it will certify the next. */
	cpt_hex32(hex, key_sign_public(sk));
	{
		char chex[CPT_HEX_ID];
		cpt_hex32(chex, key_curve_public(ck));
		cert = json_pack("{s:s, s:s, s:s, s:[s], s:I, s:I}", "site", site, "sign_key", hex,
				 "curve_key", chex, "endpoints", listen, "not_before", (json_int_t)0,
				 "not_after", (json_int_t)0);
		if (cert && o->title)
			json_object_set_new(cert, "title", json_string(o->title));
	}
	if (s_publish(n, root, EVT_SITE_CERT, cert, NULL) != 0)
		goto out;
	key_fingerprint(fpr, key_sign_public(root));
	printf("initialised site \"%s\"%s%s%s in %s\n"
	       "  http:   %s://%s/ (staff's browsers)\n"
	       "  listen: %s (other sites connect here)\n"
	       "  root key fingerprint: %s\n"
	       "  the federation root key is %s/keys/root.key: move it offline once\n"
	       "  other sites are certified (comptoir root certify --key FILE)\n"
	       "next: comptoir user add HANDLE --admin --dir %s; comptoir run --dir %s\n",
	       site, o->title ? " (" : "", o->title ? o->title : "", o->title ? ")" : "", o->dir, tls_cert[0] ? "https" : "http", http,
	       listen, fpr, o->dir, o->dir, o->dir);
	rc = 0;
	goto out;
io:
	s_write_failed(path, errno, o->dir);
out:
	node_close(&n);
	key_sign_destroy(&root);
	key_sign_destroy(&sk);
	key_curve_destroy(&ck);
	if (rc != 0) {
		for (int i = 5; i >= 0; i--) {
			snprintf(path, sizeof(path), "%s/%s", o->dir, files[i]);
			if (made[i])
				unlink(path);
		}
		snprintf(path, sizeof(path), "%s/store", o->dir);
		if (made_store)
			rmdir(path);
		snprintf(path, sizeof(path), "%s/keys", o->dir);
		if (made_keys)
			rmdir(path);
		if (made_dir)
			rmdir(o->dir);
		fprintf(stderr, "comptoir: init failed: what it had written in %s was removed\n",
		        o->dir);
	}
	return rc;
}

/* ------------------------------------------------------------------ user */

static int
s_get_password(const opts_t *o, char pw[ACCT_MAX_PASSWORD + 1], int *generated)
{
	*generated = 0;
	if (o->pwfile)
		return s_read_password(o->pwfile, pw);
	acct_password_generate(pw);
	*generated = 1;
	return 0;
}

static int
cmd_user(opts_t *o)
{
	const char *sub = o->nargs > 0 ? o->args[0] : "";
	const char *handle = o->nargs > 1 ? o->args[1] : NULL;
	char pw[ACCT_MAX_PASSWORD + 1], err[1024];
	node_t *n;
	int rc = 1, generated = 0;

	if (strcmp(sub, "list") != 0 && (handle == NULL || o->nargs != 2)) {
		fprintf(stderr, "usage: comptoir user add HANDLE [--admin] [--name NAME] [--password-file FILE]\n"
				"       comptoir user passwd HANDLE [--password-file FILE]\n"
				"       comptoir user disable HANDLE\n"
				"       comptoir user enable HANDLE [--password-file FILE]\n"
				"       comptoir user list\n"
				"each takes --dir DIR (default ./var)\n");
		return 2;
	}
	if (handle && !event_valid_handle(handle)) {
		fprintf(stderr, "comptoir: \"%s\" is not a valid handle (a-z, 0-9, . _ -, up to 32)\n",
			handle);
		return 2;
	}
	if ((strcmp(sub, "add") == 0 || strcmp(sub, "passwd") == 0 || strcmp(sub, "enable") == 0) &&
	    s_get_password(o, pw, &generated) != 0)
		return 1;
	if ((n = s_open(o)) == NULL)
		return 1;
	if (strcmp(sub, "add") == 0) {
		if (users_add(n, handle, o->admin, o->name, pw, err, sizeof(err)) == 0) {
			printf("user \"%s\" added%s\n", handle, o->admin ? " as admin" : "");
			if (generated)
				printf("password: %s\n", pw);
			rc = 0;
		}
	} else if (strcmp(sub, "passwd") == 0) {
		if (users_reset(n, handle, pw, err, sizeof(err)) == 0) {
			printf("password of \"%s\" reset\n", handle);
			if (generated)
				printf("password: %s\n", pw);
			rc = 0;
		}
	} else if (strcmp(sub, "disable") == 0) {
		if (users_disable(n, handle, err, sizeof(err)) == 0) {
			printf("user \"%s\" disabled\n", handle);
			rc = 0;
		}
	} else if (strcmp(sub, "enable") == 0) {
		if (users_enable(n, handle, pw, err, sizeof(err)) == 0) {
			printf("user \"%s\" enabled with a new key\n", handle);
			if (generated)
				printf("password: %s\n", pw);
			rc = 0;
		}
	} else if (strcmp(sub, "list") == 0) {
		json_t *list = users_list(n, 0), *u;
		size_t i;
		printf("%-20s %-12s %-7s %-9s %s\n", "HANDLE", "SITE", "ROLE", "STATE", "NAME");
		json_array_foreach(list, i, u)
			printf("%-20s %-12s %-7s %-9s %s\n", json_string_value(json_object_get(u, "handle")),
			       json_string_value(json_object_get(u, "site")) ?: "?",
			       json_string_value(json_object_get(u, "role")) ?: "?",
			       json_is_true(json_object_get(u, "disabled")) ? "disabled" : "active",
			       json_string_value(json_object_get(u, "name")) ?: "");
		json_decref(list);
		rc = 0;
	} else {
		fprintf(stderr, "comptoir: unknown user command \"%s\"\n", sub);
		rc = 2;
	}
	if (rc == 1)
		fprintf(stderr, "comptoir: %s\n", err);
	sodium_memzero(pw, sizeof(pw));
	node_close(&n);
	return rc;
}

/* ---------------------------------------------------------- run, status */

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

static int
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
			log_info("store", "%s/store/data.mdb: %zu entries read in %llu ms, no damage found",
			         o->dir, entries, (unsigned long long)(hlc_wall_ms() - t0));
		if ((n = s_open_checked(o, CHECK_NONE)) == NULL)
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
			printf("node:      not answering: pid %lld has not written %s for %s\n", pid, path,
			       (s_span(ago, sizeof(ago), (now - written) / 1000), ago));
		else
			printf("node:      not running (it stopped %s ago)\n",
			       (s_span(ago, sizeof(ago), (now - written) / 1000), ago));
		printf("           start it: comptoir run --dir %s (or systemctl start comptoir);\n"
		       "           what stopped it is at the end of its log (journalctl -u comptoir)\n",
		       dir);
		json_decref(st);
		return;
	}
	printf("node:      running, pid %lld\n", (long long)json_integer_value(json_object_get(st, "pid")));
	if (json_array_size(json_object_get(st, "peers")) == 0)
		printf("peers:     none\n");
	else
		printf("peers:\n  %-14s %-13s %-14s %-14s %8s %8s %8s %8s %7s\n", "SITE", "STATE", "SINCE",
		       "LAST EXCHANGE", "SENT", "RECEIVED", "TO SEND", "TO RECV", "RATE/S");
	json_array_foreach(json_object_get(st, "peers"), i, p) {
		char since[32], last[32];
		const char *state = json_string_value(json_object_get(p, "state"));
		if (state == NULL) /* a node of the previous version */
			state = json_is_true(json_object_get(p, "connected")) ? "connected" : "unreachable";
		s_age(since, sizeof(since), (uint64_t)json_integer_value(json_object_get(p, "since_ms")));
		s_age(last, sizeof(last), (uint64_t)json_integer_value(json_object_get(p, "last_exchange_ms")));
		printf("  %-14s %-13s %-14s %-14s %8lld %8lld %8lld %8lld %7lld\n",
		       json_string_value(json_object_get(p, "site"))[0] ? json_string_value(json_object_get(p, "site")) : "?",
		       state, since, last,
		       (long long)json_integer_value(json_object_get(p, "sent")),
		       (long long)json_integer_value(json_object_get(p, "received")),
		       (long long)json_integer_value(json_object_get(p, "to_send")),
		       (long long)json_integer_value(json_object_get(p, "to_receive")),
		       (long long)json_integer_value(json_object_get(p, "rate_in")));
	}
	/* What the states mean for site IT, and a catch-up under way. */
	json_array_foreach(json_object_get(st, "peers"), i, p) {
		const char *site = json_string_value(json_object_get(p, "site"));
		const char *state = json_string_value(json_object_get(p, "state")) ?: "";
		char left[24];
		if (strcmp(state, "refused") == 0)
			printf("refused by %s: not admitted (it does not hold this site's certificate yet, "
			       "or this site is revoked)\n", site);
		else if (strcmp(state, "revoked") == 0)
			printf("%s is revoked: nothing is exchanged with it any more\n", site);
		else if (strcmp(state, "expired") == 0)
			printf("%s's certificate has expired: nothing is exchanged with it until federation IT "
			       "certifies it again\n", site);
		if (!json_is_integer(json_object_get(p, "eta_s")))
			continue;
		s_span(left, sizeof(left), (uint64_t)json_integer_value(json_object_get(p, "eta_s")));
		printf("catching up from %s: %lld events to receive at %lld events/s, about %s left\n",
		       site, (long long)json_integer_value(json_object_get(p, "to_receive")),
		       (long long)json_integer_value(json_object_get(p, "rate_in")), left);
	}
	json_decref(st);
}

static int
cmd_status(opts_t *o)
{
	node_t *n = s_open(o);
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
		printf("site:      %s (%s)\n", node_cfg(n)->name, json_string_value(json_object_get(self, "title")));
	else
		printf("site:      %s\n", node_cfg(n)->name);
	if (json_is_true(json_object_get(self, "revoked")))
		printf("REVOKED:   federation IT revoked this site's certificate: no site exchanges with it\n"
		       "           any more (a new site needs new keys: comptoir init --join)\n");
	else if (json_is_true(json_object_get(self, "expired")))
		printf("EXPIRED:   this site's certificate is not valid now: have federation IT certify it\n"
		       "           again (comptoir site request, root certify, site install)\n");
	json_decref(self);
	printf("http:      %s://%s/\n", node_cfg(n)->tls.cert[0] ? "https" : "http", node_cfg(n)->http);
	printf("listen:    %s\n", node_cfg(n)->listen);
	printf("root key:  %s\n", fpr);
	printf("events:    %zu\n", store_count(txn, DB_EVENTS));
	printf("posts:     %zu\n", store_count(txn, DB_FEED));
	printf("users:     %zu\n", store_count(txn, DB_HANDLES));
	printf("pending:   %zu\n", store_count(txn, DB_PENDING));
	printf("store:     %zu bytes used of a %zu-byte map\n", (size_t)store_bytes(st),
	       (size_t)store_map_size(st));
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

static int
cmd_figures(opts_t *o)
{
	node_t *n;
	store_t *st;
	store_txn_t *txn;
	json_t *f, *x;
	size_t i;
	char a[16], b[16];
	int days = o->days ? o->days : 30;

	if (days < 1 || days > QUERY_FIGURES_MAX_DAYS) {
		fprintf(stderr, "comptoir figures: --days must be from 1 to %d (got %d)\n",
			QUERY_FIGURES_MAX_DAYS, days);
		return 2;
	}
	if ((n = s_open(o)) == NULL)
		return 1;
	st = node_store(n);
	if (store_read_begin(st, &txn) != 0) {
		node_close(&n);
		return 1;
	}
	f = query_figures(txn, hlc_wall_ms(), (unsigned)days);
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
	json_array_foreach(json_object_get(f, "sites"), i, x) {
		char act[32];
		json_int_t staff = s_int(x, "staff"), active = s_int(x, "active");
		if (staff > 0)
			snprintf(act, sizeof(act), "%lld (%lld%%)", (long long)active,
				 (long long)(active * 100 / staff));
		else
			snprintf(act, sizeof(act), "%lld", (long long)active);
		printf("%-20s %7lld %14s %7lld %9lld %10lld\n", json_string_value(json_object_get(x, "site")),
		       (long long)staff, act, (long long)s_int(x, "posts"), (long long)s_int(x, "comments"),
		       (long long)s_int(x, "reactions"));
	}
	printf("\nBetween sites (comments and reactions by staff of one site on posts of another):\n");
	if (json_array_size(json_object_get(f, "exchange")) == 0)
		printf("  none in the period\n");
	else
		printf("%-20s %-20s %9s %10s\n", "from", "to", "comments", "reactions");
	json_array_foreach(json_object_get(f, "exchange"), i, x)
		printf("%-20s %-20s %9lld %10lld\n", json_string_value(json_object_get(x, "from")),
		       json_string_value(json_object_get(x, "to")), (long long)s_int(x, "comments"),
		       (long long)s_int(x, "reactions"));
	printf("\nBy week (7 days ending on the date):\n%-12s %7s %7s %9s %10s\n", "week to", "active",
	       "posts", "comments", "reactions");
	json_array_foreach(json_object_get(f, "weeks"), i, x) {
		json_t *next = json_array_get(json_object_get(f, "weeks"), i + 1);
		s_day(a, next ? (uint64_t)s_int(next, "start") - 1 : (uint64_t)s_int(f, "to"));
		printf("%-12s %7lld %7lld %9lld %10lld\n", a, (long long)s_int(x, "active"),
		       (long long)s_int(x, "posts"), (long long)s_int(x, "comments"),
		       (long long)s_int(x, "reactions"));
	}
	json_decref(f);
	return 0;
}

/* ---------------------------------------------- verify, reindex, backup */

/* comptoir verify, in a child process: the walk of every page, then every
 * signature and the views against a rebuild. err gets the event count. */
static int
s_verify_child(chk_t *c, void *arg, char *err, size_t errlen)
{
	const opts_t *o = arg;
	node_t *n = NULL;
	size_t count = 0, entries = 0;
	int rc;

	if ((rc = store_walk(o->dir, 0, chk_walk_progress, c, &entries, err, errlen)) != 0)
		return rc;
	chk_at(c, "the check of every signature and view, after a walk of %zu entries", entries);
	if ((rc = node_open(&n, o->dir, err, errlen)) != 0)
		return rc;
	rc = event_verify(node_ingest_ctx(n), &count, err, errlen);
	node_close(&n);
	if (rc == 0)
		snprintf(err, errlen, "%zu", count);
	return rc;
}

/* Runs the verification of o->dir in a child; prints a failure. Returns 0
 * and the number of events, or -1. */
static int
s_verify(const opts_t *o, size_t *events, const char *what)
{
	char err[4600];
	int rc = chk_run(o->dir, s_verify_child, (void *)o, NULL, NULL, err, sizeof(err));

	if (rc == 0) {
		*events = (size_t)strtoull(err, NULL, 10);
		return 0;
	}
	if (rc == CPT_EDAMAGED || rc == CPT_ENOTFOUND || rc == CPT_ECONFIG || rc == CPT_EKEYFILE)
		fprintf(stderr, "comptoir: %s\n", err);
	else
		fprintf(stderr, "comptoir: %s: %s\n", what, err);
	return -1;
}

static int
cmd_verify(opts_t *o)
{
	size_t count = 0;

	if (s_verify(o, &count, "verify failed") != 0)
		return 1;
	printf("verified %zu events: every signature is valid and the views match a rebuild\n",
	       count);
	return 0;
}

static int
cmd_reindex(opts_t *o)
{
	node_t *n = s_open_checked(o, CHECK_ALL);
	char err[1024] = "";
	int rc;

	if (n == NULL)
		return 1;
	rc = event_reindex(node_ingest_ctx(n), err, sizeof(err));
	if (rc == 0)
		printf("views rebuilt from the events\n");
	else
		fprintf(stderr, "comptoir: reindex failed: %s\n", err);
	node_close(&n);
	return rc == 0 ? 0 : 1;
}

/* Copies a small file (config, key) keeping mode 0600. */
static int
s_copy_file(const char *from, const char *to)
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

static int
cmd_backup(opts_t *o)
{
	static const char *const files[] = {"comptoir.yaml", "keys/site.key", "keys/site.curve",
					    "keys/root.key", "peers.txt", NULL};
	const char *dest = o->nargs == 1 ? o->args[0] : NULL;
	char err[1024], from[4200], to[4200];
	node_t *n;
	int rc = 1;

	if (dest == NULL) {
		fprintf(stderr, "usage: comptoir backup --dir DIR DEST\n");
		return 2;
	}
	/* A copy of a damaged store would be damaged too: every page is read first. */
	if ((n = s_open_checked(o, CHECK_ALL)) == NULL)
		return 1;
	if (store_backup(node_store(n), dest, err, sizeof(err)) != 0) {
		fprintf(stderr, "comptoir: backup: %s\n", err);
		goto out;
	}
	snprintf(to, sizeof(to), "%s/keys", dest);
	if (s_mkdir(to) != 0)
		goto out;
	for (int i = 0; files[i]; i++) {
		struct stat sb;
		snprintf(from, sizeof(from), "%s/%s", o->dir, files[i]);
		snprintf(to, sizeof(to), "%s/%s", dest, files[i]);
		if (stat(from, &sb) != 0)
			continue;
		if (s_copy_file(from, to) != 0) {
			fprintf(stderr, "comptoir: backup: cannot copy %s to %s: %s\n", from, to,
				strerror(errno));
			goto out;
		}
	}
	printf("backup of site \"%s\" written to %s (store, config and keys: keep it safe)\n",
	       node_cfg(n)->name, dest);
	rc = 0;
out:
	node_close(&n);
	return rc;
}

static int
cmd_restore(opts_t *o)
{
	static const char *const files[] = {"comptoir.yaml", "keys/site.key", "keys/site.curve",
					    "keys/root.key", "peers.txt", "store/data.mdb", NULL};
	const char *src = o->nargs == 1 ? o->args[0] : NULL;
	char from[4200], to[4200];
	struct stat sb;
	node_t *n;
	size_t events = 0;

	if (src == NULL || !o->dir_given) {
		fprintf(stderr, "usage: comptoir restore BACKUP --dir DIR\n");
		return 2;
	}
	snprintf(to, sizeof(to), "%s/comptoir.yaml", o->dir);
	if (stat(to, &sb) == 0) {
		fprintf(stderr, "comptoir: %s exists: restore into a new directory\n", to);
		return 1;
	}
	snprintf(from, sizeof(from), "%s/store/data.mdb", src);
	if (stat(from, &sb) != 0) {
		fprintf(stderr, "comptoir: %s: not a comptoir backup (no store/data.mdb)\n", src);
		return 1;
	}
	if (s_mkdir(o->dir) != 0)
		return 1;
	snprintf(to, sizeof(to), "%s/keys", o->dir);
	if (s_mkdir(to) != 0)
		return 1;
	snprintf(to, sizeof(to), "%s/store", o->dir);
	if (s_mkdir(to) != 0)
		return 1;
	for (int i = 0; files[i]; i++) {
		snprintf(from, sizeof(from), "%s/%s", src, files[i]);
		snprintf(to, sizeof(to), "%s/%s", o->dir, files[i]);
		if (stat(from, &sb) != 0)
			continue;
		if (s_copy_file(from, to) != 0) {
			fprintf(stderr, "comptoir: restore: cannot copy %s to %s: %s\n", from, to,
				strerror(errno));
			return 1;
		}
	}
	/* The copy must open and verify before anyone relies on it. */
	if (s_verify(o, &events, "the restored store does not verify") != 0 ||
	    (n = s_open_checked(o, CHECK_NONE)) == NULL)
		return 1;
	printf("restored site \"%s\" into %s: %zu events verified\n"
	       "start it (comptoir run --dir %s): it reconciles what it missed with its peers\n",
	       node_cfg(n)->name, o->dir, events, o->dir);
	node_close(&n);
	return 0;
}

/* ---------------------------------------------------------------- repair */

/* Is a node running on dir? It writes dir/status.json every second. */
static long
s_running_pid(const char *dir)
{
	char path[4200];
	json_t *st;
	long pid = 0;

	snprintf(path, sizeof(path), "%s/status.json", dir);
	if ((st = json_load_file(path, 0, NULL)) == NULL)
		return 0;
	if (hlc_wall_ms() - (uint64_t)json_integer_value(json_object_get(st, "written_ms")) < 5000) {
		pid = (long)json_integer_value(json_object_get(st, "pid"));
		if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH))
			pid = 0;
	}
	json_decref(st);
	return pid;
}

static int
cmd_repair(opts_t *o)
{
	char path[4200], err[CFG_ERR_LEN + 4600];
	cfg_t cfg;
	key_sign_t *sk;
	repair_report_t rep;
	size_t entries = 0;
	long pid;
	int rc;

	/* The config and keys are outside the store: repair needs them (the
	 * federation's id is what it looks for) and leaves them as they are. */
	snprintf(path, sizeof(path), "%s/comptoir.yaml", o->dir);
	if (cfg_load(&cfg, path, err) != 0) {
		fprintf(stderr, "comptoir: %s\n", err);
		return 1;
	}
	if (!cfg.has_root_key) {
		fprintf(stderr, "comptoir: %s: no root_key: this site is not part of a federation "
		        "yet, so it has nothing to repair (comptoir site install)\n", path);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/keys/site.key", o->dir);
	if ((sk = key_sign_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "comptoir: %s\n(repair rebuilds the store, not the keys: restore "
		        "them from a backup)\n", err);
		return 1;
	}
	key_sign_destroy(&sk);
	if ((pid = s_running_pid(o->dir)) != 0) {
		fprintf(stderr, "comptoir: the node of %s is running (pid %ld): stop it first\n", o->dir,
		        pid);
		return 1;
	}
	rc = chk_store(o->dir, 0, &entries, err, sizeof(err));
	if (rc == 0 && !o->force) {
		printf("%s/store/data.mdb is not damaged (%zu entries read): nothing to repair "
		       "(--force rebuilds it anyway)\n", o->dir, entries);
		return 0;
	}
	if (rc == CPT_EDAMAGED) {
		printf("%s\n", err);
	} else if (rc == CPT_ENOTFOUND) {
		printf("%s has no store: a new one is made, and the peers fill it\n", o->dir);
	} else if (rc != 0 && !o->force) {
		fprintf(stderr, "comptoir: %s\ncomptoir: cannot tell whether the store is damaged; "
		        "--force repairs it anyway\n", err);
		return 1;
	}
	rc = repair_store(o->dir, &cfg, &rep, err, sizeof(err));
	if (rep.moved_to[0])
		printf("moved the damaged store to %s (kept: delete it once this site has caught "
		       "up with its peers)\n", rep.moved_to);
	if (rc != 0) {
		fprintf(stderr, "comptoir: repair failed: %s\n", err);
		if (rc == CPT_ENOSPC)
			fprintf(stderr, "comptoir: no space left on device (%s): free some, then run "
			        "comptoir repair --dir %s again\n", o->dir, o->dir);
		return 1;
	}
	printf("read %zu damaged store%s: %zu events found (%zu copies in all); "
	       "%zu stored again, %zu refused%s%s%s, %zu damaged copies left out\n",
	       rep.sources, rep.sources == 1 ? "" : "s", rep.events, rep.copies, rep.stored,
	       rep.refused, rep.refused ? " (the first: " : "", rep.refused ? rep.why : "",
	       rep.refused ? ")" : "", rep.damaged);
	if (rep.peers)
		printf("kept %zu peer%s added with comptoir peer add\n", rep.peers,
		       rep.peers == 1 ? "" : "s");
	if (rep.peers_lost)
		fprintf(stderr, "comptoir: warning: the peers added with comptoir peer add could not "
		        "be read: add them again (comptoir peer add --dir %s PEER.cert); the peers "
		        "of comptoir.yaml are kept\n", o->dir);
	printf("repaired %s; next: comptoir run --dir %s, and its peers send what could not be "
	       "read\n", o->dir, o->dir);
	return 0;
}

static int
cmd_export(opts_t *o)
{
	node_t *n = s_open_checked(o, CHECK_ALL);
	store_t *st;
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	size_t count = 0, unreadable = 0;
	int r;

	if (n == NULL)
		return 1;
	st = node_store(n);
	if (store_read_begin(st, &txn) != 0 || store_cur_open(txn, DB_ORDER, &cur) != 0) {
		node_close(&n);
		return 1;
	}
	for (r = store_cur_get(cur, &k, &v, STORE_FIRST); r == 0;
	     r = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		store_val_t ev;
		store_val_t idk = {CPT_ID_LEN, (uint8_t *)k.data + 8};
		evt_t e;
		char idhex[CPT_HEX_ID], author[CPT_HEX_ID], *hex, *line;
		json_t *obj, *body;

		/* Every event of the order index is stored and decodes: one that
		 * does not is counted and reported, never skipped in silence. */
		if (k.len != 40 || store_get(txn, DB_EVENTS, idk.data, idk.len, &ev) != 0 ||
		    evt_decode(&e, ev.data, ev.len, EVT_MAX_BODY) != 0) {
			unreadable++;
			continue;
		}
		cpt_hex32(idhex, idk.data);
		cpt_hex32(author, e.author);
		if ((hex = malloc(2 * ev.len + 1)) == NULL) {
			r = CPT_ENOMEM;
			break;
		}
		sodium_bin2hex(hex, 2 * ev.len + 1, ev.data, ev.len);
		body = e.body ? json_loadb((const char *)e.body, e.body_len, 0, NULL) : NULL;
		obj = json_pack("{s:s, s:s, s:i, s:s, s:I, s:I, s:o, s:b, s:s}", "id", idhex, "kind",
				evt_kind_name(e.kind), "kind_code", e.kind, "author", author, "ts",
				(json_int_t)e.ts, "created", (json_int_t)HLC_MS(e.ts),
				"body", body ? body : json_null(), "redacted", e.body == NULL, "envelope", hex);
		free(hex);
		if (obj && (line = json_dumps(obj, JSON_COMPACT)) != NULL) {
			puts(line);
			free(line);
			count++;
		}
		json_decref(obj);
	}
	store_cur_close(&cur);
	store_read_end(st, &txn);
	node_close(&n);
	/* A walk that ended early must not pass for a complete export. */
	if (r != CPT_ENOTFOUND) {
		fprintf(stderr, "comptoir: export stopped after %zu events: %s: %s\n", count,
		        o->dir, store_strerror(r));
		return 1;
	}
	if (unreadable) {
		fprintf(stderr, "comptoir: exported %zu events, but %zu of the order index could not "
		        "be read: run comptoir verify --dir %s\n", count, unreadable, o->dir);
		return 1;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "comptoir: export: cannot write the output: %s\n", strerror(errno));
		return 1;
	}
	fprintf(stderr, "exported %zu events\n", count);
	return 0;
}


/* ------------------------------------------------------------ federation */

/* The text signed as a site request's proof: every field line, in order;
 * the title line only when there is one (older requests have none). */
static void
s_request_text(char *out, size_t cap, const char *site, const char *sign, const char *curve,
	       const char *endpoint, const char *title)
{
	snprintf(out, cap,
		 "type: comptoir-site-request-v1\nsite: %s\nsign_key: %s\ncurve_key: %s\nendpoint: %s\n"
		 "%s%s%s",
		 site, sign, curve, endpoint, title ? "title: " : "", title ? title : "", title ? "\n" : "");
}

#define REQ_DOMAIN "comptoir/site-request/v1"

static int
cmd_root(opts_t *o)
{
	const char *sub = o->nargs > 0 ? o->args[0] : "";
	char err[1024], fpr[CPT_FPR_LEN], hex[CPT_HEX_ID];
	key_sign_t *root = NULL;
	int rc = 1;

	if (strcmp(sub, "init") == 0) {
		char pub[4200];
		if (o->out == NULL) {
			fprintf(stderr, "usage: comptoir root init --out FILE\n");
			return 2;
		}
		if ((root = key_sign_new()) == NULL || key_sign_save(root, o->out) != 0) {
			fprintf(stderr, "comptoir: %s: cannot write (exists already?)\n", o->out);
			goto out;
		}
		snprintf(pub, sizeof(pub), "%s.pub", o->out);
		if (key_public_save(key_sign_public(root), pub) != 0)
			fprintf(stderr, "comptoir: %s: cannot write the public key\n", pub);
		key_fingerprint(fpr, key_sign_public(root));
		cpt_hex32(hex, key_sign_public(root));
		printf("federation root key written to %s (keep it offline)\n"
		       "public key: %s (also in %s)\nfingerprint: %s\n",
		       o->out, hex, pub, fpr);
		rc = 0;
		goto out;
	}
	if (o->key == NULL) {
		fprintf(stderr, "usage: comptoir root certify|revoke --key ROOTKEY ...\n");
		return 2;
	}
	if ((root = key_sign_load(o->key, err, sizeof(err))) == NULL) {
		fprintf(stderr, "comptoir: %s\n", err);
		return 1;
	}
	if (strcmp(sub, "certify") == 0 && o->nargs == 2) {
		json_t *req = s_read_kv(o->args[1], err, sizeof(err)), *body;
		const char *sign, *curve, *ep, *proof, *title;
		char text[2048], *btext, site[64];
		uint8_t sk[CPT_KEY_LEN], ck[CPT_KEY_LEN], sig[CPT_SIG_LEN], fed[CPT_FED_LEN];
		uint8_t msg[2048 + sizeof(REQ_DOMAIN)], env[EVT_FIXED_LEN + 4096];
		size_t sl = 0, elen, mlen;
		hlc_t clk = {0};
		uint64_t now = hlc_wall_ms();
		char *ehex;

		if (req == NULL) {
			fprintf(stderr, "comptoir: %s\n", err);
			goto out;
		}
		snprintf(site, sizeof(site), "%s", json_string_value(json_object_get(req, "site")) ?: "");
		sign = json_string_value(json_object_get(req, "sign_key"));
		curve = json_string_value(json_object_get(req, "curve_key"));
		ep = json_string_value(json_object_get(req, "endpoint"));
		proof = json_string_value(json_object_get(req, "proof"));
		title = json_string_value(json_object_get(req, "title"));
		if (!sign || !curve || !ep || !proof || (title && !event_valid_title(title, strlen(title))) ||
		    strcmp(json_string_value(json_object_get(req, "type")) ?: "",
			   "comptoir-site-request-v1") != 0 ||
		    !event_valid_site(site) || cpt_unhex32(sk, sign, strlen(sign)) != 0 ||
		    cpt_unhex32(ck, curve, strlen(curve)) != 0 || strlen(proof) != 128 ||
		    sodium_hex2bin(sig, sizeof(sig), proof, 128, NULL, &sl, NULL) != 0) {
			fprintf(stderr, "comptoir: %s: not a valid site request\n", o->args[1]);
			json_decref(req);
			goto out;
		}
		/* The request proves the site holds its signing key. */
		s_request_text(text, sizeof(text), site, sign, curve, ep, title);
		mlen = strlen(REQ_DOMAIN) + strlen(text);
		memcpy(msg, REQ_DOMAIN, strlen(REQ_DOMAIN));
		memcpy(msg + strlen(REQ_DOMAIN), text, strlen(text));
		if (crypto_sign_verify_detached(sig, msg, mlen, sk) != 0) {
			fprintf(stderr, "comptoir: %s: the request's proof does not verify\n", o->args[1]);
			json_decref(req);
			goto out;
		}
		if (s_ep_wildcard(ep))
			fprintf(stderr, "comptoir: warning: %s certifies endpoint %s, which no other site can "
					"dial: have that site make its request again with --endpoint "
					"tcp://HOST:PORT\n", o->args[1], ep);
		body = json_pack("{s:s, s:s, s:s, s:[s], s:I, s:I}", "site", site, "sign_key", sign,
				 "curve_key", curve, "endpoints", ep, "not_before", (json_int_t)0,
				 "not_after",
				 (json_int_t)(o->days ? now + (uint64_t)o->days * 86400000ull : 0));
		if (body && title)
			json_object_set_new(body, "title", json_string(title));
		btext = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		evt_federation_id(fed, key_sign_public(root));
		if (btext == NULL || evt_sign(env, sizeof(env), &elen, EVT_SITE_CERT, fed,
					      hlc_next(&clk, now), (uint8_t *)btext, strlen(btext),
					      root) != 0) {
			free(btext);
			json_decref(req);
			goto out;
		}
		free(btext);
		ehex = malloc(2 * elen + 1);
		sodium_bin2hex(ehex, 2 * elen + 1, env, elen);
		cpt_hex32(hex, key_sign_public(root));
		key_fingerprint(fpr, key_sign_public(root));
		printf("# Comptoir site certificate: give it to the site (comptoir site install)\n"
		       "# and to the sites that will link to it (comptoir peer add).\n"
		       "type: comptoir-site-cert-v1\nsite: %s\n%s%s%sroot: %s\nroot_fingerprint: %s\n"
		       "endpoint: %s\nevent: %s\n",
		       site, title ? "title: " : "", title ? title : "", title ? "\n" : "", hex, fpr, ep, ehex);
		free(ehex);
		json_decref(req);
		/* With --dir, the federation learns of the site at once through that node. */
		if (o->dir_given) {
			node_t *n = s_open(o);
			ingest_res_t res;
			const uint8_t *b = env;
			if (n == NULL || node_submit(n, &b, &elen, 1, &res) != 0 ||
			    (res.rc != 0 && res.rc != CPT_EEXIST)) {
				fprintf(stderr, "comptoir: could not store the certificate in %s: %s\n",
					o->dir, n ? res.why : "cannot open");
				node_close(&n);
				goto out;
			}
			fprintf(stderr, "certificate of \"%s\" stored in %s\n", site, o->dir);
			node_close(&n);
		}
		rc = 0;
	} else if (strcmp(sub, "revoke") == 0 && o->nargs == 2) {
		/* root revoke --key ROOTKEY --dir DIR SITE: published through that node. */
		node_t *n = s_open(o);
		store_txn_t *txn;
		store_cur_t *cur;
		store_val_t k, v;
		uint8_t target[CPT_KEY_LEN];
		int found = 0;

		if (n == NULL)
			goto out;
		if (sodium_memcmp(key_sign_public(root), node_cfg(n)->root_key, CPT_KEY_LEN) != 0) {
			fprintf(stderr, "comptoir: %s is not the root key of the federation of %s\n",
				o->key, o->dir);
			node_close(&n);
			goto out;
		}
		if (cpt_unhex32(target, o->args[1], strlen(o->args[1])) == 0) {
			found = 1;
		} else if (store_read_begin(node_store(n), &txn) == 0) {
			if (store_cur_open(txn, DB_KEYS, &cur) == 0) {
				for (int r = store_cur_get(cur, &k, &v, STORE_FIRST); r == 0 && !found;
				     r = store_cur_get(cur, &k, &v, STORE_NEXT)) {
					json_t *rec = json_loadb(v.data, v.len, 0, NULL);
					const char *t = json_string_value(json_object_get(rec, "type"));
					const char *sn = json_string_value(json_object_get(rec, "site"));
					if (t && sn && strcmp(t, "site") == 0 && strcmp(sn, o->args[1]) == 0 &&
					    k.len == CPT_KEY_LEN) {
						memcpy(target, k.data, CPT_KEY_LEN);
						found = 1;
					}
					json_decref(rec);
				}
				store_cur_close(&cur);
			}
			store_read_end(node_store(n), &txn);
		}
		if (!found) {
			fprintf(stderr, "comptoir: no site \"%s\" known in %s\n", o->args[1], o->dir);
			node_close(&n);
			goto out;
		}
		cpt_hex32(hex, target);
		if (s_publish(n, root, EVT_REVOKE,
			      json_pack("{s:s, s:I, s:s}", "key", hex, "effective", (json_int_t)hlc_wall_ms(),
					"reason", o->name ? o->name : "revoked by federation IT"),
			      NULL) == 0) {
			printf("revoked %s (key %s); every site will refuse it from now on\n", o->args[1],
			       hex);
			rc = 0;
		}
		node_close(&n);
	} else {
		fprintf(stderr, "usage: comptoir root init --out FILE\n"
				"       comptoir root certify --key ROOTKEY [--dir DIR] [--days N] site.req > site.cert\n"
				"       comptoir root revoke --key ROOTKEY --dir DIR SITE\n");
		rc = 2;
	}
out:
	key_sign_destroy(&root);
	return rc;
}

/* Loads what `site request` and `site install` need without a federation. */
static int
s_load_site(const opts_t *o, cfg_t *cfg, key_sign_t **sk, key_curve_t **ck)
{
	char path[4200], err[CFG_ERR_LEN + 512];

	snprintf(path, sizeof(path), "%s/comptoir.yaml", o->dir);
	if (cfg_load(cfg, path, err) != 0) {
		fprintf(stderr, "comptoir: %s\n", err);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/keys/site.key", o->dir);
	if ((*sk = key_sign_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "comptoir: %s\n", err);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/keys/site.curve", o->dir);
	if ((*ck = key_curve_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "comptoir: %s\n", err);
		key_sign_destroy(sk);
		return -1;
	}
	return 0;
}

/* Replaces (or adds) the root_key line of the config, atomically. */
static int
s_set_root_key(const char *dir, const uint8_t root[CPT_KEY_LEN])
{
	char path[4200], tmp[4300], line[4096], hex[CPT_HEX_ID];
	FILE *in, *out;
	int done = 0, fd;

	snprintf(path, sizeof(path), "%s/comptoir.yaml", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	cpt_hex32(hex, root);
	if ((in = fopen(path, "r")) == NULL)
		return -1;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0 || (out = fdopen(fd, "w")) == NULL) {
		fclose(in);
		return -1;
	}
	while (fgets(line, sizeof(line), in)) {
		if (strncmp(line, "root_key:", 9) == 0 || strncmp(line, "# root_key:", 11) == 0) {
			fprintf(out, "root_key: %s\n", hex);
			done = 1;
		} else {
			fputs(line, out);
		}
	}
	if (!done)
		fprintf(out, "root_key: %s\n", hex);
	fclose(in);
	if (fflush(out) != 0 || fsync(fileno(out)) != 0) {
		fclose(out);
		return -1;
	}
	fclose(out);
	return rename(tmp, path);
}

static int
s_seed_clear_fn(store_txn_t *txn, void *arg)
{
	(void)arg;
	/* The other site's own links are not ours. */
	return store_drop(txn, DB_PEERS);
}

/*
 * Starts an empty site from a backup of another site of the same federation
 * (site install --seed): its store is copied in, so that reconciliation only
 * has the tail to fetch. Refuses a store that already holds events and a
 * backup of another federation.
 */
static int
s_seed(const opts_t *o, const uint8_t fed[CPT_FED_LEN])
{
	char from[4200], to[4200], err[1024];
	store_t *st = NULL;
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	size_t have = 0;
	int same = -1;

	if (index_store_open(&st, o->dir, 1, err, sizeof(err)) == 0) {
		if (store_read_begin(st, &txn) == 0) {
			have = store_count(txn, DB_EVENTS);
			store_read_end(st, &txn);
		}
		store_close(&st);
	}
	if (have) {
		fprintf(stderr, "comptoir: %s already holds %zu events: --seed starts an empty site\n",
			o->dir, have);
		return -1;
	}
	snprintf(from, sizeof(from), "%s/store/data.mdb", o->seed);
	snprintf(to, sizeof(to), "%s/store/data.mdb", o->dir);
	unlink(to);
	snprintf(to, sizeof(to), "%s/store/lock.mdb", o->dir);
	unlink(to);
	snprintf(to, sizeof(to), "%s/store/data.mdb", o->dir);
	if (s_copy_file(from, to) != 0) {
		fprintf(stderr, "comptoir: cannot copy %s to %s: %s\n", from, to, strerror(errno));
		return -1;
	}
	if (index_store_open(&st, o->dir, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "comptoir: %s: %s\n", o->seed, err);
		unlink(to);
		return -1;
	}
	/* Every event of the seed must belong to this federation: check one. */
	if (store_read_begin(st, &txn) == 0) {
		if (store_cur_open(txn, DB_EVENTS, &cur) == 0) {
			if (store_cur_get(cur, &k, &v, STORE_FIRST) == 0 && v.len >= EVT_FIXED_LEN)
				same = memcmp((uint8_t *)v.data + 4, fed, CPT_FED_LEN) == 0;
			store_cur_close(&cur);
		}
		have = store_count(txn, DB_EVENTS);
		store_read_end(st, &txn);
	}
	if (same != 1 || store_write(st, s_seed_clear_fn, NULL) != 0) {
		fprintf(stderr, "comptoir: %s is not a backup of a site of this federation\n", o->seed);
		store_close(&st);
		unlink(to);
		return -1;
	}
	store_close(&st);
	printf("seeded %s with %zu events from %s; reconciliation fetches only what came after\n",
	       o->dir, have, o->seed);
	return 0;
}

/* Reads a site certificate file: the event, its decoded form, the body. */
static uint8_t *
s_read_cert(const char *path, size_t *len, evt_t *ev, json_t **body)
{
	char err[1024];
	json_t *kv = s_read_kv(path, err, sizeof(err));
	const char *hex = kv ? json_string_value(json_object_get(kv, "event")) : NULL;
	uint8_t *buf = NULL;
	size_t n = 0;

	if (kv == NULL) {
		fprintf(stderr, "comptoir: %s\n", err);
		return NULL;
	}
	if (hex == NULL || strcmp(json_string_value(json_object_get(kv, "type")) ?: "",
				  "comptoir-site-cert-v1") != 0 ||
	    strlen(hex) > 2 * EVT_MAX_LEN || (buf = malloc(strlen(hex) / 2 + 1)) == NULL ||
	    sodium_hex2bin(buf, strlen(hex) / 2 + 1, hex, strlen(hex), NULL, &n, NULL) != 0 ||
	    evt_decode(ev, buf, n, EVT_MAX_BODY) != 0 || ev->kind != EVT_SITE_CERT ||
	    (*body = json_loadb((const char *)ev->body, ev->body_len, 0, NULL)) == NULL) {
		fprintf(stderr, "comptoir: %s: not a valid site certificate\n", path);
		free(buf);
		json_decref(kv);
		return NULL;
	}
	json_decref(kv);
	*len = n;
	return buf;
}

/* The title in this site's current certificate, when the store holds one
 * (a re-certified site keeps its title unless told otherwise). */
static void
s_own_title(const char *dir, const uint8_t key[CPT_KEY_LEN], char out[EVT_MAX_TITLE + 1])
{
	char err[1024];
	store_t *st = NULL;
	store_txn_t *txn;
	json_t *rec;

	out[0] = 0;
	if (index_store_open(&st, dir, 0, err, sizeof(err)) != 0)
		return;
	if (store_read_begin(st, &txn) == 0) {
		rec = index_key_info(txn, key);
		if (json_is_string(json_object_get(rec, "title")))
			snprintf(out, EVT_MAX_TITLE + 1, "%s", json_string_value(json_object_get(rec, "title")));
		json_decref(rec);
		store_read_end(st, &txn);
	}
	store_close(&st);
}

static int
cmd_site(opts_t *o)
{
	const char *sub = o->nargs > 0 ? o->args[0] : "";
	cfg_t cfg;
	key_sign_t *sk = NULL;
	key_curve_t *ck = NULL;
	char sign[CPT_HEX_ID], curve[CPT_HEX_ID], text[2048], proof[129], fpr[CPT_FPR_LEN];
	int rc = 1;

	if (strcmp(sub, "request") == 0) {
		uint8_t msg[2048 + sizeof(REQ_DOMAIN)], sig[CPT_SIG_LEN];
		size_t mlen;
		const char *ep;
		char title[EVT_MAX_TITLE + 1];
		if (!s_title_ok(o->title))
			return 2;
		if (s_load_site(o, &cfg, &sk, &ck) != 0)
			return 1;
		ep = o->endpoint ? o->endpoint : cfg.listen;
		if (strncmp(ep, "tcp://", 6) != 0 || s_ep_wildcard(ep)) {
			/* The certificate would send every other site to an address
			 * that means "all interfaces" here and nothing there. */
			fprintf(stderr, "comptoir: %s is %s, not an address other sites can dial: give the "
					"one they reach this machine at with --endpoint tcp://HOST:PORT "
					"(its DNS name, e.g. tcp://%s.example.com:%s)\n",
				ep, o->endpoint ? "given" : "where this node listens (every interface)", cfg.name,
				strrchr(ep, ':') && strrchr(ep, ':')[1] ? strrchr(ep, ':') + 1 : "7400");
			rc = 2;
			goto out;
		}
		if (s_ep_loopback(ep))
			fprintf(stderr, "comptoir: note: %s is a loopback address: only sites on this machine can "
					"dial it (--endpoint tcp://HOST:PORT gives another)\n", ep);
		cpt_hex32(sign, key_sign_public(sk));
		cpt_hex32(curve, key_curve_public(ck));
		if (o->title == NULL)
			s_own_title(o->dir, key_sign_public(sk), title);
		s_request_text(text, sizeof(text), cfg.name, sign, curve, ep,
			       o->title ? o->title : title[0] ? title : NULL);
		mlen = strlen(REQ_DOMAIN) + strlen(text);
		memcpy(msg, REQ_DOMAIN, strlen(REQ_DOMAIN));
		memcpy(msg + strlen(REQ_DOMAIN), text, strlen(text));
		key_sign_sign(sk, sig, msg, mlen);
		sodium_bin2hex(proof, sizeof(proof), sig, sizeof(sig));
		printf("# Comptoir site request: take it to federation IT (comptoir root certify)\n%s"
		       "proof: %s\n",
		       text, proof);
		key_fingerprint(fpr, key_sign_public(sk));
		fprintf(stderr, "site \"%s\", key fingerprint %s\n", cfg.name, fpr);
		rc = 0;
	} else if (strcmp(sub, "install") == 0 && o->nargs == 2) {
		evt_t ev;
		json_t *body = NULL;
		size_t len;
		uint8_t *buf, fed[CPT_FED_LEN];
		if (s_load_site(o, &cfg, &sk, &ck) != 0)
			return 1;
		if ((buf = s_read_cert(o->args[1], &len, &ev, &body)) == NULL)
			goto out;
		cpt_hex32(sign, key_sign_public(sk));
		cpt_hex32(curve, key_curve_public(ck));
		evt_federation_id(fed, ev.author);
		if (evt_verify(&ev, fed) != 0) {
			fprintf(stderr, "comptoir: %s: the certificate's signature does not verify\n",
				o->args[1]);
		} else if (strcmp(json_string_value(json_object_get(body, "sign_key")) ?: "", sign) != 0 ||
			   strcmp(json_string_value(json_object_get(body, "curve_key")) ?: "", curve) != 0) {
			fprintf(stderr, "comptoir: %s certifies other keys than this site's (%s/keys)\n",
				o->args[1], o->dir);
		} else if (cfg.has_root_key && sodium_memcmp(cfg.root_key, ev.author, CPT_KEY_LEN) != 0 &&
			   !o->force) {
			fprintf(stderr, "comptoir: %s already belongs to another federation; "
					"a site cannot change federation (use a new --dir)\n",
				o->dir);
		} else if (o->seed && s_seed(o, fed) != 0) {
			/* s_seed said why */
		} else if (s_set_root_key(o->dir, ev.author) != 0) {
			fprintf(stderr, "comptoir: cannot update %s/comptoir.yaml: %s\n", o->dir,
				strerror(errno));
		} else {
			char err[1024];
			store_t *st = NULL;
			node_t *n;
			if (index_store_open(&st, o->dir, 1, err, sizeof(err)) != 0)
				fprintf(stderr, "comptoir: %s\n", err);
			store_close(&st);
			if ((n = s_open(o)) != NULL) {
				ingest_res_t res;
				const uint8_t *b = buf;
				if (node_submit(n, &b, &len, 1, &res) == 0 &&
				    (res.rc == 0 || res.rc == CPT_EEXIST)) {
					key_fingerprint(fpr, ev.author);
					printf("site \"%s\" installed; it now trusts the federation root "
					       "with fingerprint %s\n"
					       "check this fingerprint with federation IT, then link a "
					       "peer: comptoir peer add --dir %s PEER.cert\n",
					       cfg.name, fpr, o->dir);
					rc = 0;
				} else {
					fprintf(stderr, "comptoir: certificate refused: %s\n", res.why);
				}
				node_close(&n);
			}
		}
		json_decref(body);
		free(buf);
	} else {
		fprintf(stderr, "usage: comptoir site request --dir DIR [--endpoint ENDPOINT] [--title TITLE] > site.req\n"
				"       comptoir site install --dir DIR [--seed BACKUP] site.cert\n");
		rc = 2;
	}
out:
	key_sign_destroy(&sk);
	key_curve_destroy(&ck);
	return rc;
}

/*
 * dir/peers.txt: a copy, outside the store, of the peers added here (one
 * "SITEKEY ENDPOINT SITE CERTIFICATE" line each, the certificate's event in
 * hex: dialing a peer needs it), so that comptoir repair keeps them when the
 * store is damaged or lost. The store's list stays the one the
 * node reads. Rewritten whole, then renamed: never half written.
 */
static int
s_peers_file_put(const char *dir, const char *key_hex, const char *ep, const char *site,
                 const uint8_t *cert, size_t cert_len)
{
	char path[4200], tmp[4300], *line = NULL, *hex;
	size_t cap = 0;
	FILE *in, *out;
	int fd, ok;

	if (strpbrk(ep, " \t\n") || strpbrk(site, " \t\n"))
		return -1;
	snprintf(path, sizeof(path), "%s/peers.txt", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -1;
	if ((out = fdopen(fd, "w")) == NULL) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	fprintf(out, "# peers added with comptoir peer add (a copy for comptoir repair)\n");
	if ((in = fopen(path, "r")) != NULL) {
		while (getline(&line, &cap, in) > 0)
			if (line[0] != '#' && strncmp(line, key_hex, 64) != 0)
				fputs(line, out);
		free(line);
		fclose(in);
	}
	if ((hex = malloc(2 * cert_len + 1)) == NULL) {
		fclose(out);
		unlink(tmp);
		return -1;
	}
	sodium_bin2hex(hex, 2 * cert_len + 1, cert, cert_len);
	fprintf(out, "%s %s %s %s\n", key_hex, ep, site, hex);
	free(hex);
	ok = fflush(out) == 0 && fsync(fileno(out)) == 0;
	ok = fclose(out) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

static int
cmd_peer(opts_t *o)
{
	const char *sub = o->nargs > 0 ? o->args[0] : "";
	evt_t ev;
	json_t *body = NULL;
	size_t len;
	uint8_t *buf = NULL, sk[CPT_KEY_LEN];
	node_t *n = NULL;
	int rc = 1;

	if (strcmp(sub, "add") != 0 || o->nargs != 2) {
		fprintf(stderr, "usage: comptoir peer add --dir DIR PEER.cert [--endpoint ENDPOINT]\n");
		return 2;
	}
	if ((buf = s_read_cert(o->args[1], &len, &ev, &body)) == NULL || (n = s_open(o)) == NULL)
		goto out;
	{
		ingest_res_t res;
		const uint8_t *b = buf;
		const char *site = json_string_value(json_object_get(body, "site"));
		const char *skh = json_string_value(json_object_get(body, "sign_key"));
		const char *ep = o->endpoint ? o->endpoint
					     : json_string_value(json_array_get(json_object_get(body, "endpoints"), 0));
		if (node_submit(n, &b, &len, 1, &res) != 0 || (res.rc != 0 && res.rc != CPT_EEXIST)) {
			fprintf(stderr, "comptoir: %s: certificate refused: %s (%s)\n", o->args[1],
				cpt_strerror(res.rc), res.why);
			goto out;
		}
		if (!site || !skh || !ep || cpt_unhex32(sk, skh, strlen(skh)) != 0 ||
		    strncmp(ep, "tcp://", 6) != 0 || s_ep_wildcard(ep)) {
			fprintf(stderr, "comptoir: %s: no usable endpoint (give --endpoint tcp://HOST:PORT)\n",
				o->args[1]);
			goto out;
		}
		if (sodium_memcmp(sk, key_sign_public(node_site_key(n)), CPT_KEY_LEN) == 0) {
			fprintf(stderr, "comptoir: %s is this site's own certificate\n", o->args[1]);
			goto out;
		}
		if (fed_peer_add(n, sk, ep, site) != 0) {
			fprintf(stderr, "comptoir: cannot record the peer\n");
			goto out;
		}
		if (s_peers_file_put(o->dir, skh, ep, site, buf, len) != 0)
			fprintf(stderr, "comptoir: warning: cannot update %s/peers.txt (the copy of the "
			        "list that comptoir repair reads): %s\n", o->dir, strerror(errno));
		printf("peer \"%s\" added: this site dials %s (a running node picks it up within a "
		       "second)\n",
		       site, ep);
		rc = 0;
	}
out:
	node_close(&n);
	json_decref(body);
	free(buf);
	return rc;
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
	int n = snprintf(s_crash_text, sizeof(s_crash_text),
	                 ": if it was reading %s/store/data.mdb, the store may be damaged: "
	                 "comptoir verify --dir %s checks it, comptoir repair --dir %s rebuilds it\n",
	                 dir, dir, dir);

	s_crash_len = n < 0 ? 0 : (size_t)n < sizeof(s_crash_text) ? (size_t)n : sizeof(s_crash_text) - 1;
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
		{"init", cmd_init},	  {"run", cmd_run},	    {"status", cmd_status},
		{"figures", cmd_figures},
		{"user", cmd_user},	  {"verify", cmd_verify}, {"reindex", cmd_reindex},
		{"backup", cmd_backup}, {"export", cmd_export}, {"keygen", cmd_keygen},
		{"root", cmd_root},	  {"site", cmd_site},	    {"peer", cmd_peer},
		{"restore", cmd_restore}, {"repair", cmd_repair},
	};
	opts_t o;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(s_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("comptoir %s (envelope v%d, store schema %d)\n", COMPTOIR_VERSION, EVT_VERSION,
		       INDEX_SCHEMA);
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
