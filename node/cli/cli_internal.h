/*
 * Shared by the files of node/cli/: the options every command reads, the
 * helpers they share (cli.c), and the commands (one file per group). Not
 * for other folders.
 */
#ifndef COMPTOIR_CLI_INTERNAL_H
#define COMPTOIR_CLI_INTERNAL_H

#include "node/auth/auth.h"
#include "node/cli/cli.h"
#include "node/core/core.h"
#include "node/daemon/daemon.h"
#include "node/event/event.h"
#include "node/fed/fed.h"
#include "node/http/http.h"
#include "node/index/index.h"
#include "node/query/query.h"
#include "node/search/search.h"
#include "node/store/store.h"

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

/* How much of the store a command reads in a child process before it opens
 * the store itself (node/store/check.c): a damaged store is refused with a message
 * instead of crashing the command (LMDB has no checksums, PITFALLS 23). */
enum cli_check {
	CLI_CHECK_OPEN, /* what opening reads: the first and last entries of each database */
	CLI_CHECK_ALL,  /* every page: for the commands that read everything */
	CLI_CHECK_NONE, /* checked already */
};

/* cli.c: the node of o->dir, its store checked first in a child as check
 * says (a damaged store is named, not crashed on); NULL with the reason
 * printed. cli_open: CLI_CHECK_OPEN. node_close it. */
node_t *cli_open_checked(const opts_t *o, enum cli_check check);
node_t *cli_open(const opts_t *o);
/* cli.c: the first line of a password file, at least 8 characters; 0, or
 * -1 with the reason printed. */
int cli_read_password(const char *path, char out[ACCT_MAX_PASSWORD + 1]);
/* cli.c: publishes body (stolen) as kind signed by key; id (or NULL) gets
 * the event's id. 0, or -1 with the refusal printed. */
int cli_publish(node_t *n, const key_sign_t *key, uint16_t kind, json_t *body,
                uint8_t id[CPT_ID_LEN]);
/* cli.c: mkdir 0700 (already there is fine); 0, or -1 with the reason printed. */
int cli_mkdir(const char *path);
/* cli.c: copies from to a new file to (mode 0600, fsynced); 0 or -1. */
int cli_copy_file(const char *from, const char *to);

/* cmd_site.c: checks --title (NULL is fine); 1, or 0 with why printed. */
int cli_title_ok(const char *title);
/* cmd_site.c: signs, with root, a site certificate of protocol version 2
 * (PROTOCOL.md 7.1, 14.2) issued now: not_before is the ms of its own
 * timestamp, not_after that plus days days (0 or less: never); the keys in
 * hex, title may be NULL. env (cap bytes) gets the envelope, *len its
 * length. 0, CPT_ETOOBIG or CPT_ENOMEM. */
int cli_site_cert(uint8_t *env, size_t cap, size_t *len, const key_sign_t *root, const char *site,
                  const char *sign_hex, const char *curve_hex, const char *seal_hex,
                  const char *endpoint, const char *title, int days) CPT_WUR;

/* The commands; each returns the exit code. */
int cmd_keygen(opts_t *o);
int cmd_init(opts_t *o);
int cmd_root(opts_t *o);
int cmd_site(opts_t *o);
int cmd_peer(opts_t *o);
int cmd_user(opts_t *o);
int cmd_run(opts_t *o);
int cmd_status(opts_t *o);
int cmd_figures(opts_t *o);
int cmd_verify(opts_t *o);
int cmd_reindex(opts_t *o);
int cmd_backup(opts_t *o);
int cmd_restore(opts_t *o);
int cmd_repair(opts_t *o);
int cmd_export(opts_t *o);
int cmd_mail(opts_t *o);
int cmd_search(opts_t *o);
/* cmd_store.c: the pid of the node running on dir (it writes
 * dir/status.json every second), or 0. */
long cli_running_pid(const char *dir);
int cmd_token(opts_t *o); /* cmd_token.c */

#endif
