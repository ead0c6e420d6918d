/*
 * The commands of the store: verify (in a child: a damaged page must not
 * crash the command), reindex, backup, restore, repair, export.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

struct verify_arg {
	const opts_t *o;  /* the command */
	char scratch[64]; /* the child's TMPDIR, removed by the parent */
};

/* The search index against what the store derives now. A running node's
 * writer may be a moment behind: its file is compared read-only and only a
 * stopped node's (or a clean file's) difference is an error. */
static int
s_verify_search(node_t *n, const char *dir, char *err, size_t errlen)
{
	char path[4200];
	struct stat sb;
	search_t *s = NULL;
	size_t docs = 0, wrong = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/search.db", dir);
	if (stat(path, &sb) != 0)
		return 0; /* never opened: the node builds it at start */
	if (cli_running_pid(dir) != 0)
		return 0; /* its writer is a moment behind: nothing to compare */
	if ((rc = search_open(&s, node_store(n), dir, SEARCH_AS_IS, err, errlen)) != 0)
		return rc;
	rc = search_verify(s, &docs, &wrong, err, errlen);
	/* A file not closed cleanly is caught up at the next start: behind, not wrong. */
	if (!search_is_current(s))
		wrong = 0;
	search_close(&s);
	if (rc == 0 && wrong > 0) {
		snprintf(err, errlen,
		         "the search index differs from the store in %zu of %zu rows: run comptoir "
		         "reindex --dir %s",
		         wrong, docs, dir);
		return CPT_EDAMAGED;
	}
	return rc;
}

/* comptoir verify, in a child process: the walk of every page, then every
 * signature and the views against a rebuild. err gets the event count. */
static int
s_verify_child(chk_t *c, void *arg, char *err, size_t errlen)
{
	struct verify_arg *va = arg;
	const opts_t *o = va->o;
	node_t *n = NULL;
	size_t count = 0, entries = 0;
	int rc;

	/* The rebuild's scratch store goes there: if this child dies, the
	 * parent still removes it. */
	if (va->scratch[0])
		setenv("TMPDIR", va->scratch, 1);
	if ((rc = store_walk(o->dir, 0, chk_walk_progress, c, &entries, err, errlen)) != 0)
		return rc;
	chk_at(c, "the check of every signature and view, after a walk of %zu entries", entries);
	if ((rc = node_open(&n, o->dir, err, errlen)) != 0)
		return rc;
	rc = event_verify(node_ingest_ctx(n), &count, err, errlen);
	if (rc == 0)
		rc = s_verify_search(n, o->dir, err, errlen);
	node_close(&n);
	if (rc == 0)
		snprintf(err, errlen, "%zu", count);
	return rc;
}

static int
s_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Runs the verification of o->dir in a child; prints a failure. Returns 0
 * and the number of events, or -1. */
static int
s_verify(const opts_t *o, size_t *events, const char *what)
{
	char err[4600];
	const char *t = getenv("TMPDIR");
	struct verify_arg va = {o, ""};
	int rc;

	snprintf(va.scratch, sizeof(va.scratch), "%.40s/comptoir-verify-XXXXXX",
	         t && t[0] && strlen(t) <= 40 ? t : "/tmp");
	if (mkdtemp(va.scratch) == NULL)
		va.scratch[0] = 0;
	rc = chk_run(o->dir, s_verify_child, &va, NULL, NULL, err, sizeof(err));
	if (va.scratch[0])
		nftw(va.scratch, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS);

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

int
cmd_verify(opts_t *o)
{
	size_t count = 0;

	if (s_verify(o, &count, "verify failed") != 0)
		return 1;
	printf("verified %zu events: every signature is valid and the views match a rebuild\n",
	       count);
	return 0;
}

int
cmd_reindex(opts_t *o)
{
	node_t *n = cli_open_checked(o, CLI_CHECK_ALL);
	char err[1024] = "";
	int rc;

	if (n == NULL)
		return 1;
	rc = event_reindex(node_ingest_ctx(n), err, sizeof(err));
	if (rc == 0) {
		/* The search index is a view too: filled again from the views
		 * just rebuilt. */
		search_t *s = NULL;
		if ((rc = search_open(&s, node_store(n), o->dir, SEARCH_REBUILD_AT_OPEN, err,
		                      sizeof(err))) == 0)
			search_close(&s);
	}
	if (rc == 0)
		printf("views and the search index rebuilt from the events\n");
	else
		fprintf(stderr, "comptoir: reindex failed: %s\n", err);
	node_close(&n);
	return rc == 0 ? 0 : 1;
}

/* Copies the complete blobs (PROTOCOL.md 18.7: blobs/<2 hex>/<64 hex> and
 * its manifest) of data directory from into to/blobs/, skipping a file
 * already there (a blob never changes under its id). Half-written ones
 * (tmp/, part/) are not copied: they never counted. *n gets how many blobs
 * were copied. 0, or -1 with the file named on stderr. */
static int
s_copy_blobs(const char *from, const char *to, size_t *n)
{
	char src[4200], dst[4200], f1[4600], f2[4600];
	DIR *top, *d;
	struct dirent *de, *fe;
	int rc = 0;

	*n = 0;
	snprintf(src, sizeof(src), "%s/blobs", from);
	if ((top = opendir(src)) == NULL)
		return errno == ENOENT ? 0 : -1;
	snprintf(dst, sizeof(dst), "%s/blobs", to);
	if (cli_mkdir(dst) != 0) {
		closedir(top);
		return -1;
	}
	while (rc == 0 && (de = readdir(top)) != NULL) {
		if (strlen(de->d_name) != 2 || strspn(de->d_name, "0123456789abcdef") != 2)
			continue;
		snprintf(f1, sizeof(f1), "%s/%s", src, de->d_name);
		snprintf(f2, sizeof(f2), "%s/%s", dst, de->d_name);
		if ((d = opendir(f1)) == NULL)
			continue;
		if (cli_mkdir(f2) != 0) {
			closedir(d);
			rc = -1;
			break;
		}
		while ((fe = readdir(d)) != NULL) {
			char a[5000], b[5000];
			struct stat sb;
			size_t l = strlen(fe->d_name);
			if (strspn(fe->d_name, "0123456789abcdef") != 64 ||
			    (l != 64 && (l != 68 || strcmp(fe->d_name + 64, ".map") != 0)))
				continue;
			snprintf(a, sizeof(a), "%s/%s", f1, fe->d_name);
			snprintf(b, sizeof(b), "%s/%s", f2, fe->d_name);
			if (stat(b, &sb) == 0)
				continue;
			if (cli_copy_file(a, b) != 0) {
				fprintf(stderr, "comptoir: cannot copy %s to %s: %s\n", a, b,
				        strerror(errno));
				rc = -1;
				break;
			}
			if (l == 64)
				(*n)++;
		}
		closedir(d);
	}
	closedir(top);
	return rc;
}

int
cmd_backup(opts_t *o)
{
	static const char *const files[] = {"comptoir.yaml", "keys/site.key", "keys/site.curve",
	                                    "keys/root.key", "peers.txt",     NULL};
	const char *dest = o->nargs == 1 ? o->args[0] : NULL;
	char err[1024], from[4200], to[4200];
	node_t *n;
	size_t nblobs = 0;
	int rc = 1;

	if (dest == NULL) {
		fprintf(stderr, "usage: comptoir backup --dir DIR DEST\n");
		return 2;
	}
	/* A copy of a damaged store would be damaged too: every page is read first. */
	if ((n = cli_open_checked(o, CLI_CHECK_ALL)) == NULL)
		return 1;
	if (store_backup(node_store(n), dest, err, sizeof(err)) != 0) {
		fprintf(stderr, "comptoir: backup: %s\n", err);
		goto out;
	}
	snprintf(to, sizeof(to), "%s/keys", dest);
	if (cli_mkdir(to) != 0)
		goto out;
	for (int i = 0; files[i]; i++) {
		struct stat sb;
		snprintf(from, sizeof(from), "%s/%s", o->dir, files[i]);
		snprintf(to, sizeof(to), "%s/%s", dest, files[i]);
		if (stat(from, &sb) != 0)
			continue;
		if (cli_copy_file(from, to) != 0) {
			fprintf(stderr, "comptoir: backup: cannot copy %s to %s: %s\n", from, to,
			        strerror(errno));
			goto out;
		}
	}
	/* The files after the store: a blob the copied events name is on disk
	 * before them (PROTOCOL.md 18.3), so it is here now. */
	if (s_copy_blobs(o->dir, dest, &nblobs) != 0) {
		fprintf(stderr, "comptoir: backup: the files (blobs/) could not all be copied\n");
		goto out;
	}
	printf("backup of site \"%s\" written to %s (store, config, keys and %zu new file(s): "
	       "keep it safe)\n",
	       node_cfg(n)->name, dest, nblobs);
	rc = 0;
out:
	node_close(&n);
	return rc;
}

int
cmd_restore(opts_t *o)
{
	static const char *const files[] = {"comptoir.yaml",
	                                    "keys/site.key",
	                                    "keys/site.curve",
	                                    "keys/root.key",
	                                    "peers.txt",
	                                    "store/data.mdb",
	                                    NULL};
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
	if (cli_mkdir(o->dir) != 0)
		return 1;
	snprintf(to, sizeof(to), "%s/keys", o->dir);
	if (cli_mkdir(to) != 0)
		return 1;
	snprintf(to, sizeof(to), "%s/store", o->dir);
	if (cli_mkdir(to) != 0)
		return 1;
	for (int i = 0; files[i]; i++) {
		snprintf(from, sizeof(from), "%s/%s", src, files[i]);
		snprintf(to, sizeof(to), "%s/%s", o->dir, files[i]);
		if (stat(from, &sb) != 0)
			continue;
		if (cli_copy_file(from, to) != 0) {
			fprintf(stderr, "comptoir: restore: cannot copy %s to %s: %s\n", from, to,
			        strerror(errno));
			return 1;
		}
	}
	{
		size_t nb = 0;
		if (s_copy_blobs(src, o->dir, &nb) != 0) {
			fprintf(stderr,
			        "comptoir: restore: the files (blobs/) could not be copied\n");
			return 1;
		}
	}
	/* The copy must open and verify before anyone relies on it. */
	if (s_verify(o, &events, "the restored store does not verify") != 0 ||
	    (n = cli_open_checked(o, CLI_CHECK_NONE)) == NULL)
		return 1;
	printf("restored site \"%s\" into %s: %zu events verified\n"
	       "start it (comptoir run --dir %s): it reconciles what it missed with its peers\n",
	       node_cfg(n)->name, o->dir, events, o->dir);
	node_close(&n);
	return 0;
}

long
cli_running_pid(const char *dir)
{
	char path[4200];
	json_t *st;
	long pid = 0;

	snprintf(path, sizeof(path), "%s/status.json", dir);
	if ((st = json_load_file(path, 0, NULL)) == NULL)
		return 0;
	if (hlc_wall_ms() - (uint64_t)json_integer_value(json_object_get(st, "written_ms")) <
	    5000) {
		pid = (long)json_integer_value(json_object_get(st, "pid"));
		if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH))
			pid = 0;
	}
	json_decref(st);
	return pid;
}

int
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
		fprintf(stderr,
		        "comptoir: %s: no root_key: this site is not part of a federation "
		        "yet, so it has nothing to repair (comptoir site install)\n",
		        path);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/keys/site.key", o->dir);
	if ((sk = key_sign_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr,
		        "comptoir: %s\n(repair rebuilds the store, not the keys: restore "
		        "them from a backup)\n",
		        err);
		return 1;
	}
	key_sign_destroy(&sk);
	if ((pid = cli_running_pid(o->dir)) != 0) {
		fprintf(stderr, "comptoir: the node of %s is running (pid %ld): stop it first\n",
		        o->dir, pid);
		return 1;
	}
	rc = chk_store(o->dir, 0, &entries, err, sizeof(err));
	if (rc == 0 && !o->force) {
		printf("%s/store/data.mdb is not damaged (%zu entries read): nothing to repair "
		       "(--force rebuilds it anyway)\n",
		       o->dir, entries);
		return 0;
	}
	if (rc == CPT_EDAMAGED) {
		printf("%s\n", err);
	} else if (rc == CPT_ENOTFOUND) {
		printf("%s has no store: a new one is made, and the peers fill it\n", o->dir);
	} else if (rc != 0 && !o->force) {
		fprintf(stderr,
		        "comptoir: %s\ncomptoir: cannot tell whether the store is damaged; "
		        "--force repairs it anyway\n",
		        err);
		return 1;
	}
	rc = repair_store(o->dir, &cfg, &rep, err, sizeof(err));
	if (rep.moved_to[0])
		printf("moved the damaged store to %s (kept: delete it once this site has caught "
		       "up with its peers)\n",
		       rep.moved_to);
	if (rc != 0) {
		fprintf(stderr, "comptoir: repair failed: %s\n", err);
		if (rc == CPT_ENOSPC)
			fprintf(stderr,
			        "comptoir: no space left on device (%s): free some, then run "
			        "comptoir repair --dir %s again\n",
			        o->dir, o->dir);
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
		fprintf(stderr,
		        "comptoir: warning: the peers added with comptoir peer add could not "
		        "be read: add them again (comptoir peer add --dir %s PEER.cert); the peers "
		        "of comptoir.yaml are kept\n",
		        o->dir);
	printf("repaired %s; next: comptoir run --dir %s, and its peers send what could not be "
	       "read\n",
	       o->dir, o->dir);
	return 0;
}

int
cmd_export(opts_t *o)
{
	node_t *n = cli_open_checked(o, CLI_CHECK_ALL);
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
		index_env_t ev;
		store_val_t idk = {CPT_ID_LEN, (uint8_t *)k.data + 8};
		evt_t e;
		char idhex[CPT_HEX_ID], author[CPT_HEX_ID], *hex, *line;
		size_t elen;
		json_t *obj, *body;

		/* Every event of the order index is stored and decodes: one that
		 * does not is counted and reported, never skipped in silence. */
		if (k.len != 40 || index_env_read(txn, idk.data, &ev) != 0 ||
		    index_env_decode(&ev, &e, 0) != 0) {
			unreadable++;
			continue;
		}
		cpt_hex32(idhex, idk.data);
		cpt_hex32(author, e.author);
		elen = index_env_len(&ev);
		if ((hex = malloc(2 * elen + 1)) == NULL) {
			r = CPT_ENOMEM;
			break;
		}
		/* The signed bytes as they were signed: header, then body. */
		sodium_bin2hex(hex, 2 * EVT_FIXED_LEN + 1, ev.fixed, EVT_FIXED_LEN);
		if (ev.body_len)
			sodium_bin2hex(hex + 2 * EVT_FIXED_LEN, 2 * ev.body_len + 1, ev.body,
			               ev.body_len);
		body = e.body ? json_loadb((const char *)e.body, e.body_len, 0, NULL) : NULL;
		obj = json_pack("{s:s, s:s, s:i, s:s, s:I, s:I, s:o, s:b, s:s}", "id", idhex,
		                "kind", evt_kind_name(e.kind), "kind_code", e.kind, "author",
		                author, "ts", (json_int_t)e.ts, "created", (json_int_t)HLC_MS(e.ts),
		                "body", body ? body : json_null(), "redacted", e.body == NULL,
		                "envelope", hex);
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
		fprintf(stderr,
		        "comptoir: exported %zu events, but %zu of the order index could not "
		        "be read: run comptoir verify --dir %s\n",
		        count, unreadable, o->dir);
		return 1;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "comptoir: export: cannot write the output: %s\n", strerror(errno));
		return 1;
	}
	fprintf(stderr, "exported %zu events\n", count);
	return 0;
}
