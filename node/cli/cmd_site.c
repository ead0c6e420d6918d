/*
 * The commands of the federation: root (the root key's: init, certify,
 * revoke), site (request, install) and peer add, with the "key: value"
 * files IT carries between machines.
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

/* What a site request's proof of possession signs, before the request's text
 * (PROTOCOL.md 14.1). */
#define REQ_DOMAIN "comptoir/site-request/v2"
#define REQ_TYPE   "comptoir-site-request-v2"
#define CERT_TYPE  "comptoir-site-cert-v2"

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
			snprintf(err, errlen, "%s:%d: duplicate field \"%.200s\"", path, lineno,
			         line);
			json_decref(obj);
			obj = NULL;
			break;
		}
		json_object_set_new(obj, line, json_string(val));
		if (json_object_get(obj, line) == NULL) {
			snprintf(err, errlen, "%s:%d: field \"%.200s\" is not valid UTF-8", path,
			         lineno, line);
			json_decref(obj);
			obj = NULL;
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	return obj;
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
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "localhost") == 0 ||
	       strcmp(host, "[::1]") == 0;
}

/* Checks --title; prints why it is refused. */
int
cli_title_ok(const char *title)
{
	if (title == NULL || event_valid_title(title, strlen(title)))
		return 1;
	fprintf(
	    stderr,
	    "comptoir: --title \"%s\" must be 1 to %d bytes of UTF-8 without control characters\n",
	    title, EVT_MAX_TITLE);
	return 0;
}

/* The text signed as a site request's proof (PROTOCOL.md 14.1): every field
 * line, in this order; the title line only when there is one. */
static void
s_request_text(char *out, size_t cap, const char *site, const char *sign, const char *curve,
               const char *seal, const char *endpoint, const char *title)
{
	snprintf(out, cap,
	         "type: " REQ_TYPE "\nsite: %s\nsign_key: %s\ncurve_key: %s\nseal_key: %s\n"
	         "endpoint: %s\n%s%s%s",
	         site, sign, curve, seal, endpoint, title ? "title: " : "", title ? title : "",
	         title ? "\n" : "");
}

/* The version a file of another type speaks, for the message that names it:
 * "v1" of "comptoir-site-request-v1", or NULL when it is no such file. */
static const char *
s_type_version(const char *type, const char *prefix)
{
	size_t pl = strlen(prefix);

	if (type == NULL || strncmp(type, prefix, pl) != 0 || type[pl] != 'v')
		return NULL;
	return type + pl + 1;
}

int
cli_site_cert(uint8_t *env, size_t cap, size_t *len, const key_sign_t *root, const char *site,
              const char *sign_hex, const char *curve_hex, const char *seal_hex,
              const char *endpoint, const char *title, int days)
{
	uint8_t fed[CPT_FED_LEN];
	uint64_t now = hlc_wall_ms();
	json_t *body;
	char *text;
	int rc;

	/* Valid from the moment it is issued, never before (PROTOCOL.md 7.1):
	 * not_before is the ms of its own timestamp. */
	body = json_pack("{s:s, s:s, s:s, s:s, s:[s], s:I, s:I}", "site", site, "sign_key",
	                 sign_hex, "curve_key", curve_hex, "seal_key", seal_hex, "endpoints",
	                 endpoint, "not_before", (json_int_t)now, "not_after",
	                 (json_int_t)(days > 0 ? now + (uint64_t)days * 86400000ull : 0));
	if (body && title)
		json_object_set_new(body, "title", json_string(title));
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL)
		return CPT_ENOMEM;
	evt_federation_id(fed, key_sign_public(root));
	rc = evt_sign(env, cap, len, EVT_SITE_CERT, fed, HLC_MAKE(now, 0), (uint8_t *)text,
	              strlen(text), root);
	free(text);
	return rc;
}

int
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
		json_t *req = s_read_kv(o->args[1], err, sizeof(err));
		const char *sign, *curve, *seal, *ep, *proof, *title, *type, *ver;
		char text[2048], site[64];
		uint8_t sk[CPT_KEY_LEN], ck[CPT_KEY_LEN], xk[CPT_KEY_LEN], sig[CPT_SIG_LEN];
		uint8_t msg[2048 + sizeof(REQ_DOMAIN)], env[EVT_FIXED_LEN + 4096];
		size_t sl = 0, elen, mlen;
		char *ehex;

		if (req == NULL) {
			fprintf(stderr, "comptoir: %s\n", err);
			goto out;
		}
		type = json_string_value(json_object_get(req, "type"));
		ver = s_type_version(type, "comptoir-site-request-");
		if (ver && strcmp(type, REQ_TYPE) != 0) {
			fprintf(stderr,
			        "comptoir: %s: request of protocol version %s: make it again with "
			        "this version (%d)\n",
			        o->args[1], ver[0] == 'v' ? ver + 1 : ver, EVT_VERSION);
			json_decref(req);
			goto out;
		}
		snprintf(site, sizeof(site), "%s",
		         json_string_value(json_object_get(req, "site")) ?: "");
		sign = json_string_value(json_object_get(req, "sign_key"));
		curve = json_string_value(json_object_get(req, "curve_key"));
		seal = json_string_value(json_object_get(req, "seal_key"));
		ep = json_string_value(json_object_get(req, "endpoint"));
		proof = json_string_value(json_object_get(req, "proof"));
		title = json_string_value(json_object_get(req, "title"));
		if (!sign || !curve || !seal || !ep || !proof ||
		    (title && !event_valid_title(title, strlen(title))) || type == NULL ||
		    strcmp(type, REQ_TYPE) != 0 || !event_valid_site(site) ||
		    cpt_unhex32(sk, sign, strlen(sign)) != 0 ||
		    cpt_unhex32(ck, curve, strlen(curve)) != 0 ||
		    cpt_unhex32(xk, seal, strlen(seal)) != 0 || strlen(proof) != 128 ||
		    sodium_hex2bin(sig, sizeof(sig), proof, 128, NULL, &sl, NULL) != 0) {
			fprintf(stderr, "comptoir: %s: not a valid site request\n", o->args[1]);
			json_decref(req);
			goto out;
		}
		/* Every key a certificate names must be a valid point (PROTOCOL.md 2.2):
		 * refused here rather than by every site. */
		if (!key_ed25519_valid(sk) || !key_x25519_valid(ck) || !key_x25519_valid(xk) ||
		    sodium_memcmp(ck, xk, CPT_KEY_LEN) == 0 ||
		    sodium_memcmp(sk, key_sign_public(root), CPT_KEY_LEN) == 0) {
			fprintf(stderr,
			        "comptoir: %s: a key of the request is not valid (sign_key, "
			        "curve_key, seal_key: valid points, seal_key apart from curve_key, "
			        "not the root key)\n",
			        o->args[1]);
			json_decref(req);
			goto out;
		}
		/* The request proves the site holds its signing key. */
		s_request_text(text, sizeof(text), site, sign, curve, seal, ep, title);
		mlen = strlen(REQ_DOMAIN) + strlen(text);
		memcpy(msg, REQ_DOMAIN, strlen(REQ_DOMAIN));
		memcpy(msg + strlen(REQ_DOMAIN), text, strlen(text));
		if (crypto_sign_verify_detached(sig, msg, mlen, sk) != 0) {
			fprintf(stderr, "comptoir: %s: the request's proof does not verify\n",
			        o->args[1]);
			json_decref(req);
			goto out;
		}
		if (s_ep_wildcard(ep))
			fprintf(
			    stderr,
			    "comptoir: warning: %s certifies endpoint %s, which no other site can "
			    "dial: have that site make its request again with --endpoint "
			    "tcp://HOST:PORT\n",
			    o->args[1], ep);
		if (cli_site_cert(env, sizeof(env), &elen, root, site, sign, curve, seal, ep, title,
		                  o->days) != 0) {
			json_decref(req);
			goto out;
		}
		ehex = malloc(2 * elen + 1);
		sodium_bin2hex(ehex, 2 * elen + 1, env, elen);
		cpt_hex32(hex, key_sign_public(root));
		key_fingerprint(fpr, key_sign_public(root));
		printf("# Comptoir site certificate: give it to the site (comptoir site install)\n"
		       "# and to the sites that will link to it (comptoir peer add).\n"
		       "type: " CERT_TYPE "\nsite: %s\n%s%s%sroot: %s\nroot_fingerprint: %s\n"
		       "endpoint: %s\nevent: %s\n",
		       site, title ? "title: " : "", title ? title : "", title ? "\n" : "", hex,
		       fpr, ep, ehex);
		free(ehex);
		json_decref(req);
		/* With --dir, the federation learns of the site at once through that node. */
		if (o->dir_given) {
			node_t *n = cli_open(o);
			ingest_res_t res;
			const uint8_t *b = env;
			if (n == NULL || node_submit(n, &b, &elen, 1, &res) != 0 ||
			    (res.rc != 0 && res.rc != CPT_EEXIST)) {
				fprintf(stderr,
				        "comptoir: could not store the certificate in %s: %s\n",
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
		node_t *n = cli_open(o);
		store_txn_t *txn;
		store_cur_t *cur;
		store_val_t k, v;
		uint8_t target[CPT_KEY_LEN];
		int found = 0;

		if (n == NULL)
			goto out;
		if (sodium_memcmp(key_sign_public(root), node_cfg(n)->root_key, CPT_KEY_LEN) != 0) {
			fprintf(stderr,
			        "comptoir: %s is not the root key of the federation of %s\n",
			        o->key, o->dir);
			node_close(&n);
			goto out;
		}
		if (cpt_unhex32(target, o->args[1], strlen(o->args[1])) == 0) {
			found = 1;
		} else if (store_read_begin(node_store(n), &txn) == 0) {
			if (store_cur_open(txn, DB_KEYS, &cur) == 0) {
				for (int r = store_cur_get(cur, &k, &v, STORE_FIRST);
				     r == 0 && !found; r = store_cur_get(cur, &k, &v, STORE_NEXT)) {
					json_t *rec = json_loadb(v.data, v.len, 0, NULL);
					const char *t =
					    json_string_value(json_object_get(rec, "type"));
					const char *sn =
					    json_string_value(json_object_get(rec, "site"));
					if (t && sn && strcmp(t, "site") == 0 &&
					    strcmp(sn, o->args[1]) == 0 && k.len == CPT_KEY_LEN) {
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
			fprintf(stderr, "comptoir: no site \"%s\" known in %s\n", o->args[1],
			        o->dir);
			node_close(&n);
			goto out;
		}
		cpt_hex32(hex, target);
		{
			/* A site's revocation vouches for what the site signed
			 * before it (to = effective): what a thief of its key
			 * backdated is shut out (PROTOCOL.md 7.3, 8.3). */
			uint64_t eff = hlc_wall_ms();
			json_t *bodies = NULL, *b;
			size_t i;
			if (store_read_begin(node_store(n), &txn) == 0) {
				bodies = users_revocations(txn, target, eff, eff,
				                           o->name ? o->name
				                                   : "revoked by federation IT");
				store_read_end(node_store(n), &txn);
			}
			rc = bodies ? 0 : 1;
			json_array_foreach (bodies, i, b)
				if (rc == 0 &&
				    cli_publish(n, root, EVT_REVOKE, json_incref(b), NULL) != 0)
					rc = 1;
			json_decref(bodies);
			if (rc == 0)
				printf(
				    "revoked %s (key %s); every site will refuse it from now on\n",
				    o->args[1], hex);
			else
				fprintf(stderr, "comptoir: %s was not revoked\n", o->args[1]);
		}
		node_close(&n);
	} else {
		fprintf(stderr, "usage: comptoir root init --out FILE\n"
		                "       comptoir root certify --key ROOTKEY [--dir DIR] [--days N] "
		                "site.req > site.cert\n"
		                "       comptoir root revoke --key ROOTKEY --dir DIR SITE\n");
		rc = 2;
	}
out:
	key_sign_destroy(&root);
	return rc;
}

/* Loads what `site request` and `site install` need without a federation:
 * the config and the site's three keys (keys/site.key, site.curve, site.seal). */
static int
s_load_site(const opts_t *o, cfg_t *cfg, key_sign_t **sk, key_curve_t **ck, key_curve_t **xk)
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
	if ((*xk = node_seal_load(o->dir, err, sizeof(err))) == NULL) {
		fprintf(stderr, "comptoir: %s\n", err);
		key_sign_destroy(sk);
		key_curve_destroy(ck);
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
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0 ||
	    (out = fdopen(fd, "w")) == NULL) {
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
/* Whether the first envelope of a seed names this federation. */
struct seed_fed {
	const uint8_t *fed; /* this federation */
	int same;           /* 1 yes, 0 no, -1 no envelope */
};

static int
s_seed_fed(void *arg, const uint8_t *id, const index_env_t *env)
{
	struct seed_fed *sf = arg;

	(void)id;
	sf->same = env != NULL && memcmp(env->fixed + 4, sf->fed, CPT_FED_LEN) == 0;
	return 1; /* one is enough */
}

static int
s_seed(const opts_t *o, const uint8_t fed[CPT_FED_LEN])
{
	char from[4200], to[4200], err[1024];
	store_t *st = NULL;
	store_txn_t *txn;
	size_t have = 0;
	int same = -1;

	if (index_store_open(&st, o->dir, 1, err, sizeof(err)) == 0) {
		if (store_read_begin(st, &txn) == 0) {
			have = index_env_count(txn);
			store_read_end(st, &txn);
		}
		store_close(&st);
	}
	if (have) {
		fprintf(stderr,
		        "comptoir: %s already holds %zu events: --seed starts an empty site\n",
		        o->dir, have);
		return -1;
	}
	snprintf(from, sizeof(from), "%s/store/data.mdb", o->seed);
	snprintf(to, sizeof(to), "%s/store/data.mdb", o->dir);
	unlink(to);
	snprintf(to, sizeof(to), "%s/store/lock.mdb", o->dir);
	unlink(to);
	snprintf(to, sizeof(to), "%s/store/data.mdb", o->dir);
	if (cli_copy_file(from, to) != 0) {
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
		struct seed_fed sf = {fed, -1};
		if (index_env_each(txn, s_seed_fed, &sf) >= 0)
			same = sf.same;
		have = index_env_count(txn);
		store_read_end(st, &txn);
	}
	if (same != 1 || store_write(st, s_seed_clear_fn, NULL) != 0) {
		fprintf(stderr, "comptoir: %s is not a backup of a site of this federation\n",
		        o->seed);
		store_close(&st);
		unlink(to);
		return -1;
	}
	store_close(&st);
	printf("seeded %s with %zu events from %s; reconciliation fetches only what came after\n",
	       o->dir, have, o->seed);
	return 0;
}

/* Reads a site certificate file: the event, its decoded form, the body.
 * A file or an event of another protocol version is refused by name. */
static uint8_t *
s_read_cert(const char *path, size_t *len, evt_t *ev, json_t **body)
{
	char err[1024];
	json_t *kv = s_read_kv(path, err, sizeof(err));
	const char *hex = kv ? json_string_value(json_object_get(kv, "event")) : NULL;
	const char *type = kv ? json_string_value(json_object_get(kv, "type")) : NULL;
	const char *ver = s_type_version(type, "comptoir-site-cert-");
	uint8_t *buf = NULL;
	size_t n = 0;
	int drc = 0;

	if (kv == NULL) {
		fprintf(stderr, "comptoir: %s\n", err);
		return NULL;
	}
	if (ver && strcmp(type, CERT_TYPE) != 0) {
		fprintf(stderr,
		        "comptoir: %s: certificate of protocol version %s: have federation IT "
		        "certify the site again with this version (%d)\n",
		        path, ver, EVT_VERSION);
		json_decref(kv);
		return NULL;
	}
	if (hex == NULL || type == NULL || strcmp(type, CERT_TYPE) != 0 ||
	    strlen(hex) > 2 * EVT_MAX_LEN || (buf = malloc(strlen(hex) / 2 + 1)) == NULL ||
	    sodium_hex2bin(buf, strlen(hex) / 2 + 1, hex, strlen(hex), NULL, &n, NULL) != 0 ||
	    (drc = evt_decode(ev, buf, n, EVT_MAX_BODY)) != 0 || ev->kind != EVT_SITE_CERT ||
	    (*body = json_loadb((const char *)ev->body, ev->body_len, 0, NULL)) == NULL) {
		if (drc == CPT_EVERSION)
			fprintf(stderr,
			        "comptoir: %s: its event is of protocol version %u, this node "
			        "speaks version %d: have federation IT certify the site again\n",
			        path, n > 0 ? buf[0] : 0, EVT_VERSION);
		else
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
			snprintf(out, EVT_MAX_TITLE + 1, "%s",
			         json_string_value(json_object_get(rec, "title")));
		json_decref(rec);
		store_read_end(st, &txn);
	}
	store_close(&st);
}

int
cmd_site(opts_t *o)
{
	const char *sub = o->nargs > 0 ? o->args[0] : "";
	cfg_t cfg;
	key_sign_t *sk = NULL;
	key_curve_t *ck = NULL, *xk = NULL;
	char sign[CPT_HEX_ID], curve[CPT_HEX_ID], seal[CPT_HEX_ID], text[2048], proof[129],
	    fpr[CPT_FPR_LEN];
	int rc = 1;

	if (strcmp(sub, "request") == 0) {
		uint8_t msg[2048 + sizeof(REQ_DOMAIN)], sig[CPT_SIG_LEN];
		size_t mlen;
		const char *ep;
		char title[EVT_MAX_TITLE + 1];
		if (!cli_title_ok(o->title))
			return 2;
		if (s_load_site(o, &cfg, &sk, &ck, &xk) != 0)
			return 1;
		ep = o->endpoint ? o->endpoint : cfg.listen;
		if (strncmp(ep, "tcp://", 6) != 0 || s_ep_wildcard(ep)) {
			/* The certificate would send every other site to an address
			 * that means "all interfaces" here and nothing there. */
			fprintf(stderr,
			        "comptoir: %s is %s, not an address other sites can dial: give the "
			        "one they reach this machine at with --endpoint tcp://HOST:PORT "
			        "(its DNS name, e.g. tcp://%s.example.com:%s)\n",
			        ep,
			        o->endpoint ? "given" : "where this node listens (every interface)",
			        cfg.name,
			        strrchr(ep, ':') && strrchr(ep, ':')[1] ? strrchr(ep, ':') + 1
			                                                : "7400");
			rc = 2;
			goto out;
		}
		if (s_ep_loopback(ep))
			fprintf(stderr,
			        "comptoir: note: %s is a loopback address: only sites on this "
			        "machine can "
			        "dial it (--endpoint tcp://HOST:PORT gives another)\n",
			        ep);
		cpt_hex32(sign, key_sign_public(sk));
		cpt_hex32(curve, key_curve_public(ck));
		cpt_hex32(seal, key_curve_public(xk));
		if (o->title == NULL)
			s_own_title(o->dir, key_sign_public(sk), title);
		s_request_text(text, sizeof(text), cfg.name, sign, curve, seal, ep,
		               o->title   ? o->title
		               : title[0] ? title
		                          : NULL);
		mlen = strlen(REQ_DOMAIN) + strlen(text);
		memcpy(msg, REQ_DOMAIN, strlen(REQ_DOMAIN));
		memcpy(msg + strlen(REQ_DOMAIN), text, strlen(text));
		key_sign_sign(sk, sig, msg, mlen);
		sodium_bin2hex(proof, sizeof(proof), sig, sizeof(sig));
		printf(
		    "# Comptoir site request: take it to federation IT (comptoir root certify)\n%s"
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
		if (s_load_site(o, &cfg, &sk, &ck, &xk) != 0)
			return 1;
		if ((buf = s_read_cert(o->args[1], &len, &ev, &body)) == NULL)
			goto out;
		cpt_hex32(sign, key_sign_public(sk));
		cpt_hex32(curve, key_curve_public(ck));
		cpt_hex32(seal, key_curve_public(xk));
		evt_federation_id(fed, ev.author);
		if (evt_verify(&ev, fed) != 0) {
			fprintf(stderr,
			        "comptoir: %s: the certificate's signature does not verify\n",
			        o->args[1]);
		} else if (strcmp(json_string_value(json_object_get(body, "sign_key")) ?: "",
		                  sign) != 0 ||
		           strcmp(json_string_value(json_object_get(body, "curve_key")) ?: "",
		                  curve) != 0 ||
		           strcmp(json_string_value(json_object_get(body, "seal_key")) ?: "",
		                  seal) != 0) {
			fprintf(stderr,
			        "comptoir: %s certifies other keys than this site's (%s/keys)\n",
			        o->args[1], o->dir);
		} else if (cfg.has_root_key &&
		           sodium_memcmp(cfg.root_key, ev.author, CPT_KEY_LEN) != 0 && !o->force) {
			fprintf(stderr,
			        "comptoir: %s already belongs to another federation; "
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
			if ((n = cli_open(o)) != NULL) {
				ingest_res_t res;
				const uint8_t *b = buf;
				if (node_submit(n, &b, &len, 1, &res) == 0 &&
				    (res.rc == 0 || res.rc == CPT_EEXIST)) {
					key_fingerprint(fpr, ev.author);
					printf("site \"%s\" installed; it now trusts the "
					       "federation root "
					       "with fingerprint %s\n"
					       "check this fingerprint with federation IT, then "
					       "link a "
					       "peer: comptoir peer add --dir %s PEER.cert\n",
					       cfg.name, fpr, o->dir);
					rc = 0;
				} else {
					fprintf(stderr, "comptoir: certificate refused: %s\n",
					        res.why);
				}
				node_close(&n);
			}
		}
		json_decref(body);
		free(buf);
	} else {
		fprintf(stderr,
		        "usage: comptoir site request --dir DIR [--endpoint ENDPOINT] [--title "
		        "TITLE] > site.req\n"
		        "       comptoir site install --dir DIR [--seed BACKUP] site.cert\n");
		rc = 2;
	}
out:
	key_sign_destroy(&sk);
	key_curve_destroy(&ck);
	key_curve_destroy(&xk);
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

int
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
		fprintf(stderr,
		        "usage: comptoir peer add --dir DIR PEER.cert [--endpoint ENDPOINT]\n");
		return 2;
	}
	if ((buf = s_read_cert(o->args[1], &len, &ev, &body)) == NULL || (n = cli_open(o)) == NULL)
		goto out;
	{
		ingest_res_t res;
		const uint8_t *b = buf;
		const char *site = json_string_value(json_object_get(body, "site"));
		const char *skh = json_string_value(json_object_get(body, "sign_key"));
		const char *ep =
		    o->endpoint
		        ? o->endpoint
		        : json_string_value(json_array_get(json_object_get(body, "endpoints"), 0));
		if (node_submit(n, &b, &len, 1, &res) != 0 ||
		    (res.rc != 0 && res.rc != CPT_EEXIST)) {
			fprintf(stderr, "comptoir: %s: certificate refused: %s (%s)\n", o->args[1],
			        cpt_strerror(res.rc), res.why);
			goto out;
		}
		if (!site || !skh || !ep || cpt_unhex32(sk, skh, strlen(skh)) != 0 ||
		    strncmp(ep, "tcp://", 6) != 0 || s_ep_wildcard(ep)) {
			fprintf(
			    stderr,
			    "comptoir: %s: no usable endpoint (give --endpoint tcp://HOST:PORT)\n",
			    o->args[1]);
			goto out;
		}
		if (sodium_memcmp(sk, key_sign_public(node_site_key(n)), CPT_KEY_LEN) == 0) {
			fprintf(stderr, "comptoir: %s is this site's own certificate\n",
			        o->args[1]);
			goto out;
		}
		if (fed_peer_add(n, sk, ep, site) != 0) {
			fprintf(stderr, "comptoir: cannot record the peer\n");
			goto out;
		}
		if (s_peers_file_put(o->dir, skh, ep, site, buf, len) != 0)
			fprintf(stderr,
			        "comptoir: warning: cannot update %s/peers.txt (the copy of the "
			        "list that comptoir repair reads): %s\n",
			        o->dir, strerror(errno));
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
