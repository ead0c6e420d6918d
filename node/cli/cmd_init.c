/*
 * Making a node: keygen, and init (config, keys and store, written under
 * temporary names and linked in place, removed again when init fails).
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

int
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
	printf("wrote %s.key (Ed25519, fingerprint %s) and %s.curve (CURVE), mode 0600\n", o->out,
	       fpr, o->out);
out:
	key_sign_destroy(&sk);
	key_curve_destroy(&ck);
	return rc;
}

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
		fprintf(stderr, "comptoir: no space left on device (%s): cannot write %s\n", dir,
		        path);
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

int
cmd_init(opts_t *o)
{
	const char *site = o->site ? o->site : "comptoir";
	const char *http = o->http ? o->http : "127.0.0.1:8080";
	const char *listen = o->listen ? o->listen : "tcp://127.0.0.1:7400";
	char path[4200], hex[CPT_HEX_ID], fpr[CPT_FPR_LEN], err[1024];
	char tls_cert[PATH_MAX] = "", tls_key[PATH_MAX] = "";
	key_sign_t *root = NULL, *sk = NULL;
	key_curve_t *ck = NULL, *xk = NULL;
	node_t *n = NULL;
	store_t *st = NULL;
	struct stat sb;
	int rc = 1;
	/* What this init created, removed again if it fails: a failed init
	 * (a full disk) leaves nothing half made behind. */
	static const char *const files[] = {"keys/root.key", "keys/site.key", "keys/site.curve",
	                                    NODE_SEAL_FILE,  "comptoir.yaml", "store/data.mdb",
	                                    "store/lock.mdb"};
	enum { NFILES = sizeof(files) / sizeof(files[0]) };
	int made_dir = 0, made_keys = 0, made_store = 0, made[NFILES] = {0};

	if (!event_valid_site(site)) {
		fprintf(stderr, "comptoir: \"%s\" is not a valid site name (a-z, 0-9, -)\n", site);
		return 2;
	}
	if (!cli_title_ok(o->title))
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
	xk = key_curve_new(); /* the seal key: a key of its own, never the transport's */
	if ((!root && !o->join) || !sk || !ck || !xk)
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
	snprintf(path, sizeof(path), "%s/" NODE_SEAL_FILE, o->dir);
	if (key_seal_save(xk, path) != 0)
		goto io;
	made[3] = 1;
	snprintf(path, sizeof(path), "%s/comptoir.yaml", o->dir);
	if (s_write_config(path, site, http, listen, root ? key_sign_public(root) : NULL,
	                   tls_cert[0] ? tls_cert : NULL, tls_key[0] ? tls_key : NULL) != 0)
		goto io;
	made[4] = 1;
	snprintf(path, sizeof(path), "%s/store", o->dir);
	made_store = stat(path, &sb) != 0;
	made[5] = made[6] = made_store;
	if (index_store_open(&st, o->dir, 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "comptoir: %s\n", err);
		goto out;
	}
	store_close(&st);
	if (o->join) {
		key_fingerprint(fpr, key_sign_public(sk));
		printf(
		    "initialised site \"%s\" in %s, to join an existing federation\n"
		    "  site key fingerprint: %s\n"
		    "next: comptoir site request --dir %s > %s.req, have federation IT certify it\n"
		    "      (comptoir root certify), then comptoir site install --dir %s %s.cert\n",
		    site, o->dir, fpr, o->dir, site, o->dir, site);
		rc = 0;
		goto out;
	}
	if ((n = cli_open(o)) == NULL)
		goto out;
	/* The lone site's root certifies it, exactly as it will certify the next. */
	{
		char chex[CPT_HEX_ID], xhex[CPT_HEX_ID];
		uint8_t env[EVT_FIXED_LEN + 4096];
		const uint8_t *b = env;
		size_t elen;
		ingest_res_t res;
		cpt_hex32(hex, key_sign_public(sk));
		cpt_hex32(chex, key_curve_public(ck));
		cpt_hex32(xhex, key_curve_public(xk));
		if (cli_site_cert(env, sizeof(env), &elen, root, site, hex, chex, xhex, listen,
		                  o->title, 0) != 0)
			goto out;
		if ((rc = node_submit(n, &b, &elen, 1, &res)) != 0 || res.rc != 0) {
			fprintf(stderr, "comptoir: the site's certificate was refused: %s (%s)\n",
			        cpt_strerror(rc ? rc : res.rc), rc ? "" : res.why);
			rc = 1;
			goto out;
		}
		rc = 1;
	}
	key_fingerprint(fpr, key_sign_public(root));
	printf("initialised site \"%s\"%s%s%s in %s\n"
	       "  http:   %s://%s/ (staff's browsers)\n"
	       "  listen: %s (other sites connect here)\n"
	       "  root key fingerprint: %s\n"
	       "  the federation root key is %s/keys/root.key: move it offline once\n"
	       "  other sites are certified (comptoir root certify --key FILE)\n"
	       "next: comptoir user add HANDLE --admin --dir %s; comptoir run --dir %s\n",
	       site, o->title ? " (" : "", o->title ? o->title : "", o->title ? ")" : "", o->dir,
	       tls_cert[0] ? "https" : "http", http, listen, fpr, o->dir, o->dir, o->dir);
	rc = 0;
	goto out;
io:
	s_write_failed(path, errno, o->dir);
out:
	node_close(&n);
	key_sign_destroy(&root);
	key_sign_destroy(&sk);
	key_curve_destroy(&ck);
	key_curve_destroy(&xk);
	if (rc != 0) {
		for (int i = NFILES - 1; i >= 0; i--) {
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
