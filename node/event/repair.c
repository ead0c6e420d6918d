/*
 * comptoir repair: a damaged store is moved aside (never deleted), every
 * signed event still readable in its bytes goes through the single ingest
 * path into a new store, and the peers send the rest when the node runs.
 * The salvage reads the file, not LMDB's trees: damaged trees cannot crash it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <ftw.h>

#include <sodium.h>

#include "config/config.h"
#include "node/event/event_internal.h"

#define MAX_SOURCES 16          /* damaged stores read by one repair */
#define SCAN_CHUNK  (8u << 20)  /* bytes of a damaged file read at once */
#define SCAN_OVER   EVT_MAX_LEN /* and beyond, so that an envelope is never cut */
#define BATCH       1000        /* events per transaction of the new store */
#define MAX_PEERS   256         /* peers kept from the damaged store */

/* A signed envelope found in a damaged file. */
typedef struct found {
	uint8_t id[CPT_ID_LEN]; /* its id */
	uint64_t ts;            /* its timestamp */
	uint64_t off;           /* where it starts in its file */
	uint32_t len;           /* its length: EVT_FIXED_LEN + body, or EVT_FIXED_LEN (bodiless) */
	uint32_t vlen;          /* 0: the envelope's bytes are at off; else the length of its
	                           compact stored value there (node/index/envelopes.c) */
	uint16_t src;           /* which file */
	uint16_t kind;          /* its kind */
	uint8_t bare;           /* found without its body */
	uint8_t head[16];       /* the first bytes of its body hash and author: what
	                           tells a fragment of a whole copy found too */
} found_t;

/* A repair under way. */
typedef struct rep {
	const char *dir;                          /* the data directory */
	uint8_t fed[CPT_FED_LEN];                 /* the federation id: what the scan looks for */
	size_t psize;                             /* the page size of the file being scanned */
	char src[MAX_SOURCES][4200];              /* the damaged stores (directories) */
	int fd[MAX_SOURCES];                      /* their data.mdb, open */
	size_t n_src;                             /* how many */
	found_t *all;                             /* envelopes found */
	size_t n, cap;                            /* how many, room */
	uint8_t peer_key[MAX_PEERS][CPT_KEY_LEN]; /* peers of the damaged store */
	char *peer_rec[MAX_PEERS];                /* their records (JSON text) */
	size_t n_peers;                           /* how many */
	uint8_t *cert[MAX_PEERS];                 /* their certificates, from dir/peers.txt */
	size_t cert_len[MAX_PEERS];               /* lengths */
	size_t n_certs;                           /* how many */
	repair_report_t *out;                     /* the counts */
} rep_t;

/* ------------------------------------------------------------ the scan */

static int
s_add(rep_t *r, const found_t *f)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 4096;
		found_t *bigger = realloc(r->all, cap * sizeof(*bigger));
		if (bigger == NULL)
			return CPT_ENOMEM;
		r->all = bigger;
		r->cap = cap;
	}
	r->all[r->n++] = *f;
	return 0;
}

/* f, whose header decoded into ev (its id already in f), kept among the
 * envelopes found: its time, kind and the first bytes of its body hash and
 * author taken from ev. */
static int
s_keep(rep_t *r, found_t *f, const evt_t *ev)
{
	f->ts = ev->ts;
	f->kind = ev->kind;
	memcpy(f->head, ev->body_hash, 8);
	memcpy(f->head + 8, ev->author, 8);
	return s_add(r, f);
}

/* p (avail bytes of the file from offset off) may start an envelope of this
 * federation: keeps it when its structure and body hash hold. Its signature
 * is checked by the ingest path, like a peer's. */
static int
s_candidate(rep_t *r, uint16_t src, const uint8_t *p, size_t avail, uint64_t off)
{
	found_t f = {.src = src, .off = off};
	uint32_t body;
	evt_t ev;

	if (avail < EVT_FIXED_LEN)
		return 0;
	body = cpt_get_be32(p + 108);
	if (body == 0 || body > EVT_MAX_BODY)
		return 0;
	if (EVT_FIXED_LEN + (size_t)body <= avail &&
	    evt_decode_lazy(&ev, p, EVT_FIXED_LEN + body, EVT_MAX_BODY) == 0) {
		f.len = EVT_FIXED_LEN + body;
	} else if (evt_decode_lazy(&ev, p, EVT_FIXED_LEN, EVT_MAX_BODY) == 0) {
		/* Redacted (the store keeps header and signature), or a copy whose
		 * body was damaged: ingest takes it only if a redaction allows it.
		 * Or a fragment: a page LMDB reused keeps the start of older
		 * entries under newer ones. s_bare sorts them out. */
		f.len = EVT_FIXED_LEN;
		f.bare = 1;
	} else {
		return 0;
	}
	evt_id(f.id, &ev);
	return s_keep(r, &f, &ev);
}

/* The envelope of f (f->len bytes) into out: as the file holds it, or
 * rebuilt from its compact stored value. 0, or -1 when it cannot be read. */
static int
s_read(rep_t *r, const found_t *f, uint8_t *out)
{
	index_env_t e;
	uint8_t *v;
	int ok;

	if (f->vlen == 0)
		return pread(r->fd[f->src], out, f->len, (off_t)f->off) == (ssize_t)f->len ? 0 : -1;
	if ((v = malloc(f->vlen)) == NULL)
		return -1;
	ok = pread(r->fd[f->src], v, f->vlen, (off_t)f->off) == (ssize_t)f->vlen &&
	     index_env_unpack(r->fed, v, f->vlen, &e) == 0 && index_env_len(&e) == f->len;
	if (ok)
		index_env_copy(&e, out);
	free(v);
	return ok ? 0 : -1;
}

/* Little-endian fields of LMDB's pages (lmdb.h's MDB_page and MDB_node on
 * the machines Debian builds for). */
static unsigned
s_le16(const uint8_t *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

/* The value val (vlen bytes, at offset off of source src) of the entry of
 * key: kept when it is the compact form of an envelope, which rebuilding
 * it and hashing the header tells. key is the id it must have (schema 11
 * kept envelopes under their ids), or NULL: an envelope's number (schema
 * 12), where the value alone says what it is. */
static int
s_compact(rep_t *r, uint16_t src, const uint8_t *key, const uint8_t *val, size_t vlen, uint64_t off)
{
	found_t f = {.src = src, .off = off, .vlen = (uint32_t)vlen};
	index_env_t e;
	evt_t ev;

	if (!index_env_is_compact(val, vlen) || index_env_unpack(r->fed, val, vlen, &e) != 0 ||
	    evt_decode_parts(&ev, e.fixed, e.body, e.body_len, EVT_MAX_BODY, 1) != 0)
		return 0;
	evt_id(f.id, &ev);
	if (key != NULL && memcmp(f.id, key, CPT_ID_LEN) != 0)
		return 0;
	f.len = (uint32_t)index_env_len(&e);
	f.bare = e.body == NULL;
	return s_keep(r, &f, &ev);
}

/* The compact envelopes of the leaf pages in buf (n bytes of source i from
 * offset base, page-aligned): they hold no federation id for the scan
 * below to find, so each leaf's entries of 32-byte keys (ids: schema 11)
 * and of 8-byte keys (numbers: schema 12) are read, as far as the page's
 * own bounds allow (the bytes are not trusted), and a value that went to
 * overflow pages is read where its entry points. */
static int
s_scan_leaves(rep_t *r, uint16_t i, const uint8_t *buf, size_t n, uint64_t base)
{
	const size_t ps = r->psize;
	uint8_t *big = NULL;
	int rc = 0;

	for (size_t pg = 0; pg + ps <= n && pg < SCAN_CHUNK && rc == 0; pg += ps) {
		const uint8_t *page = buf + pg;
		unsigned flags = s_le16(page + 10), lower = s_le16(page + 12);
		if (!(flags & 0x02) || (flags & 0x25) || lower < 16 || lower > ps)
			continue; /* not a leaf of whole nodes (P_LEAF, not LEAF2/branch/overflow)
			           */
		for (unsigned k = 0; k < (lower - 16) / 2 && rc == 0; k++) {
			unsigned at = s_le16(page + 16 + 2 * k), ks;
			const uint8_t *node = page + at, *id;
			size_t dsize;
			if (at < 16 || (size_t)at + 48 > ps)
				continue;
			ks = s_le16(node + 6);
			if (ks != CPT_ID_LEN && ks != 8)
				continue;
			id = ks == CPT_ID_LEN ? node + 8 : NULL;
			dsize = s_le16(node) | (size_t)s_le16(node + 2) << 16;
			if (dsize <= 1 || dsize > EVT_MAX_LEN)
				continue;
			if (s_le16(node + 4) == 0 && (size_t)at + 8 + ks + dsize <= ps) {
				rc = s_compact(r, i, id, node + 8 + ks, dsize,
				               base + pg + at + 8 + ks);
			} else if (s_le16(node + 4) == 0x01) { /* F_BIGDATA: on overflow pages */
				uint64_t pgno = 0, voff;
				for (int b = 7; b >= 0; b--)
					pgno = pgno << 8 | node[8 + ks + b];
				if (pgno > UINT64_MAX / ps - 1)
					continue;
				voff = pgno * ps + 16;
				if (big == NULL && (big = malloc(EVT_MAX_LEN)) == NULL)
					return CPT_ENOMEM;
				if (pread(r->fd[i], big, dsize, (off_t)voff) == (ssize_t)dsize)
					rc = s_compact(r, i, id, big, dsize, voff);
			}
		}
	}
	free(big);
	return rc;
}

/* The page size the file was made with: in its first meta page (LMDB keeps
 * it where the free list's record has padding), else the usual 4096. */
static size_t
s_psize(int fd)
{
	uint8_t m[48];
	uint32_t magic, ps;

	if (pread(fd, m, sizeof(m), 0) != (ssize_t)sizeof(m))
		return 4096;
	magic =
	    (uint32_t)m[16] | (uint32_t)m[17] << 8 | (uint32_t)m[18] << 16 | (uint32_t)m[19] << 24;
	ps = (uint32_t)m[40] | (uint32_t)m[41] << 8 | (uint32_t)m[42] << 16 | (uint32_t)m[43] << 24;
	if (magic != 0xBEEFC0DEu || ps < 512 || ps > 65536 || (ps & (ps - 1)) != 0)
		return 4096;
	return ps;
}

/* Every envelope of the federation in the bytes of source i: the federation
 * id sits 4 bytes into each (docs/PROTOCOL.md), wherever LMDB put it (a
 * leaf, an overflow page, a free page). */
static int
s_scan(rep_t *r, uint16_t i)
{
	struct stat sb;
	uint8_t *buf;
	int rc = 0;

	if (fstat(r->fd[i], &sb) != 0)
		return CPT_EIO;
	if ((buf = malloc(SCAN_CHUNK + SCAN_OVER)) == NULL)
		return CPT_ENOMEM;
	r->psize = s_psize(r->fd[i]);
	for (uint64_t base = 0; base < (uint64_t)sb.st_size && rc == 0; base += SCAN_CHUNK) {
		size_t n = 0;
		const uint8_t *p, *hit;
		while (n < SCAN_CHUNK + SCAN_OVER) {
			ssize_t got =
			    pread(r->fd[i], buf + n, SCAN_CHUNK + SCAN_OVER - n, (off_t)(base + n));
			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0) {
				/* A disk read error: what it held is lost, the rest is not. */
				fprintf(stderr,
				        "comptoir: %s/data.mdb: cannot read at byte %llu: %s\n",
				        r->src[i], (unsigned long long)(base + n), strerror(errno));
				break;
			}
			if (got == 0)
				break;
			n += (size_t)got;
		}
		/* Compact envelopes (schema 11), in this chunk's leaf pages. */
		rc = s_scan_leaves(r, i, buf, n, base);
		/* Envelopes starting in [base, base + SCAN_CHUNK): the next chunk
		 * has the later ones, and SCAN_OVER holds the end of the last. */
		for (p = buf + 4; n >= CPT_FED_LEN + 4 && p + CPT_FED_LEN <= buf + n && rc == 0;
		     p = hit + 1) {
			size_t start;
			hit = memmem(p, (size_t)(buf + n - p), r->fed, CPT_FED_LEN);
			if (hit == NULL)
				break;
			start = (size_t)(hit - buf) - 4;
			if (start >= SCAN_CHUNK)
				break;
			rc = s_candidate(r, i, buf + start, n - start, base + start);
		}
		if (n < SCAN_CHUNK + SCAN_OVER)
			break;
	}
	free(buf);
	return rc;
}

static int
s_cmp_id(const void *a, const void *b)
{
	const found_t *x = a, *y = b;
	int c = memcmp(x->id, y->id, CPT_ID_LEN);

	return c ? c : x->bare - y->bare; /* a whole copy before a bodiless one */
}

/* Site certificates, then enrolments, then the other whole events, each in
 * (timestamp, id) order, then bodiless ones. The result does not depend on
 * the order (the ingest path converges whatever it is); this one spares the
 * wait in DB_PENDING of every event older than its author's certificate (a
 * site's certificate is often newer than history copied from elsewhere) and
 * a second check of its signature when it is released. A bodiless copy is
 * accepted once the redaction is known: they come last, as in reindex. */
static int
s_rank(const found_t *f)
{
	return f->bare ? 3 : f->kind == EVT_SITE_CERT ? 0 : f->kind == EVT_ENROL ? 1 : 2;
}

static int
s_cmp_order(const void *a, const void *b)
{
	const found_t *x = a, *y = b;

	if (s_rank(x) != s_rank(y))
		return s_rank(x) - s_rank(y);
	return store_cmp_tsid(x->ts, x->id, y->ts, y->id);
}

/* (timestamp, head): the header of an event, for fragments. */
static int
s_cmp_head(const void *a, const void *b)
{
	const found_t *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return memcmp(x->head, y->head, sizeof(x->head));
}

/*
 * Keeps a bodiless candidate only when it is an event: not the header of an
 * event found whole (a fragment of a copy, or the same event), and signed.
 * The signature is checked here, unlike a whole copy's (the ingest path
 * does that): a fragment is no event, and must not count as refused.
 */
static int
s_bare(rep_t *r)
{
	found_t *whole = NULL;
	size_t n_whole = 0, w = 0;

	for (size_t i = 0; i < r->n; i++)
		n_whole += !r->all[i].bare;
	if (n_whole && (whole = malloc(n_whole * sizeof(*whole))) == NULL)
		return CPT_ENOMEM;
	n_whole = 0;
	for (size_t i = 0; i < r->n; i++)
		if (!r->all[i].bare)
			whole[n_whole++] = r->all[i];
	if (n_whole)
		qsort(whole, n_whole, sizeof(*whole), s_cmp_head);
	for (size_t i = 0; i < r->n; i++) {
		found_t *f = &r->all[i];
		uint8_t buf[EVT_FIXED_LEN];
		evt_t ev;
		if (f->bare) {
			if (n_whole && bsearch(f, whole, n_whole, sizeof(*whole), s_cmp_head))
				continue;
			if (f->len != sizeof(buf) || s_read(r, f, buf) != 0 ||
			    evt_decode_lazy(&ev, buf, sizeof(buf), EVT_MAX_BODY) != 0 ||
			    evt_verify(&ev, r->fed) != 0)
				continue;
		}
		r->all[w++] = *f;
	}
	r->n = w;
	free(whole);
	return 0;
}

/* One entry per event, the whole copy when there is one, in ingest order. */
static int
s_unique(rep_t *r)
{
	size_t w = 0;
	int rc;

	if (r->n == 0)
		return 0; /* nothing found (and r->all may be NULL) */
	if ((rc = s_bare(r)) != 0)
		return rc;
	r->out->copies = r->n;
	qsort(r->all, r->n, sizeof(*r->all), s_cmp_id);
	for (size_t i = 0; i < r->n; i++)
		if (w == 0 || memcmp(r->all[w - 1].id, r->all[i].id, CPT_ID_LEN) != 0)
			r->all[w++] = r->all[i];
	r->n = w;
	qsort(r->all, r->n, sizeof(*r->all), s_cmp_order);
	return 0;
}

/* --------------------------------------------------- the list of peers */

/* The peers a site added (comptoir peer add) live in its store, not in its
 * config: they are read with LMDB, in a child that a damaged page may kill. */
static int
s_peer_line(void *arg, const store_val_t *k, const store_val_t *v)
{
	chk_t *c = arg;
	char line[1024], hex[CPT_HEX_ID];

	if (k->len != CPT_KEY_LEN || v->len == 0 || v->len > 900 || memchr(v->data, '\n', v->len))
		return 0;
	cpt_hex32(hex, k->data);
	snprintf(line, sizeof(line), "%s %.*s", hex, (int)v->len, (const char *)v->data);
	chk_data(c, line);
	return 0;
}

struct peers_arg {
	const char *path; /* the damaged store */
};

static int
s_peers_child(chk_t *c, void *arg, char *err, size_t errlen)
{
	struct peers_arg *a = arg;

	chk_at(c, "the list of peers");
	return store_read_db(a->path, "peers", s_peer_line, c, err, errlen);
}

static void
s_peer_got(void *arg, const char *line)
{
	rep_t *r = arg;
	uint8_t key[CPT_KEY_LEN];
	json_t *rec;

	if (strlen(line) < 66 || line[64] != ' ' || cpt_unhex32(key, line, 64) != 0)
		return;
	/* Only a record that parses is kept: the store's bytes are not trusted. */
	rec = json_loads(line + 65, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_string(json_object_get(rec, "endpoint")) && r->n_peers < MAX_PEERS) {
		for (size_t i = 0; i < r->n_peers; i++)
			if (memcmp(r->peer_key[i], key, CPT_KEY_LEN) == 0) {
				json_decref(rec);
				return;
			}
		memcpy(r->peer_key[r->n_peers], key, CPT_KEY_LEN);
		r->peer_rec[r->n_peers] = strdup(line + 65);
		if (r->peer_rec[r->n_peers])
			r->n_peers++;
	}
	json_decref(rec);
}

/* dir/peers.txt, the copy of the list that comptoir peer add keeps outside
 * the store: "SITEKEY ENDPOINT SITE CERTIFICATE" per line (the certificate's
 * event in hex, ingested like the rest: dialing a peer needs it). Peers read
 * from the damaged store come first; this adds those it lacked. Returns 1
 * when the file was there. */
static int
s_peers_file(rep_t *r)
{
	char path[4200], *line = NULL, ep[512], site[128], hex[CPT_HEX_ID];
	size_t cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/peers.txt", r->dir);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (getline(&line, &cap, f) > 0) {
		json_t *rec;
		char *text, got[1024];
		int at = 0;
		size_t n = 0;
		if (line[0] == '#' ||
		    sscanf(line, "%64s %511s %127s %n", hex, ep, site, &at) != 3 ||
		    strlen(hex) != 64)
			continue;
		rec = json_pack("{s:s, s:s}", "endpoint", ep, "site", site);
		text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
		if (text && strlen(text) < 900) {
			snprintf(got, sizeof(got), "%s %s", hex, text);
			s_peer_got(r, got);
		}
		free(text);
		json_decref(rec);
		/* The certificate, bounded like any envelope. */
		line[strcspn(line, "\r\n")] = 0;
		if (at > 0 && r->n_certs < MAX_PEERS && strlen(line + at) <= 2 * EVT_MAX_LEN &&
		    (r->cert[r->n_certs] = malloc(strlen(line + at) / 2 + 1)) != NULL) {
			if (sodium_hex2bin(r->cert[r->n_certs], strlen(line + at) / 2 + 1,
			                   line + at, strlen(line + at), NULL, &n, NULL) == 0 &&
			    n >= EVT_FIXED_LEN)
				r->cert_len[r->n_certs++] = n;
			else
				free(r->cert[r->n_certs]);
		}
	}
	free(line);
	fclose(f);
	return 1;
}

/* ------------------------------------------------------- the new store */

struct fill {
	ingest_ctx_t *ctx;          /* on the new store, with verified and bodies set */
	const uint8_t *bufs[BATCH]; /* this transaction's envelopes */
	size_t lens[BATCH];         /* their lengths */
	size_t n;                   /* how many */
	ingest_res_t res[BATCH];    /* what became of each */
};

/* One batch through the single ingest path; run again from the start when
 * the map grows (store_write). */
static int
s_fill_fn(store_txn_t *txn, void *arg)
{
	struct fill *f = arg;

	return ingest_txn(f->ctx, txn, f->bufs, f->lens, f->n, f->res);
}

struct peers_put {
	store_t *st; /* the new store */
	rep_t *r;    /* the peers */
};

static int
s_peers_put_fn(store_txn_t *txn, void *arg)
{
	struct peers_put *p = arg;
	int rc = 0;

	for (size_t i = 0; i < p->r->n_peers && rc == 0; i++)
		rc = store_put(txn, DB_PEERS, p->r->peer_key[i], CPT_KEY_LEN, p->r->peer_rec[i],
		               strlen(p->r->peer_rec[i]));
	return rc;
}

static int
s_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
s_sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Builds the new store in dir/repair.tmp from what was found, then puts it
 * in place of dir/store. */
static int
s_build(rep_t *r, const cfg_t *cfg, char *err, size_t errlen)
{
	char tmp[4200], from[4300], to[4300];
	store_t *st = NULL;
	ingest_ctx_t ctx = {0};
	struct fill *f = calloc(1, sizeof(*f));
	uint8_t *data = NULL, ok[BATCH];
	size_t cap = (size_t)BATCH * 2048; /* bytes of data */
	json_t *bodies[BATCH] = {0};
	vpool_t *pool = vpool_new(0);
	struct peers_put pp;
	int rc;

	snprintf(tmp, sizeof(tmp), "%s/repair.tmp", r->dir);
	if (f == NULL || pool == NULL || (data = malloc(cap)) == NULL) {
		rc = CPT_ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	/* What an interrupted repair left: its own output, never a source. */
	nftw(tmp, s_rm, 16, FTW_DEPTH | FTW_PHYS);
	if ((rc = index_store_open(&st, tmp, 1, err, errlen)) != 0)
		goto out;
	/* One fsync at the end instead of one per batch: until the rename
	 * below, this store is nobody's. */
	if (store_set_nosync(st, 1) != 0)
		log_warnx("repair", "the new store syncs every commit");
	ctx.st = st;
	memcpy(ctx.root, cfg->root_key, CPT_KEY_LEN);
	memcpy(ctx.fed, r->fed, CPT_FED_LEN);
	ctx.max_body = cfg->limits.max_body;
	/* Everything here had been accepted once: events waiting for their
	 * author's certificate may be many while the certificate is missing. */
	ctx.max_pending = UINT32_MAX;
	f->ctx = &ctx;
	/* The peers' certificates first, like any event: without them the
	 * node could not dial its peers to fetch what was lost. */
	f->n = 0;
	for (size_t i = 0; i < r->n_certs && f->n < BATCH; i++) {
		f->bufs[f->n] = r->cert[i];
		f->lens[f->n++] = r->cert_len[i];
	}
	if (f->n && (rc = store_write(st, s_fill_fn, f)) != 0) {
		snprintf(err, errlen, "%s/store: cannot store the peers' certificates: %s", tmp,
		         cpt_strerror(rc));
		goto out;
	}
	for (size_t at = 0, end; at < r->n; at = end) {
		size_t bytes = 0;
		end = at + BATCH < r->n ? at + BATCH : r->n;
		for (size_t i = at; i < end; i++)
			bytes += r->all[i].len;
		if (bytes > cap) {
			uint8_t *bigger = realloc(data, bytes);
			if (bigger == NULL) {
				rc = CPT_ENOMEM;
				snprintf(err, errlen, "out of memory");
				goto out;
			}
			data = bigger;
			cap = bytes;
		}
		f->n = 0;
		bytes = 0;
		for (size_t i = at; i < end; i++) {
			const found_t *e = &r->all[i];
			if (s_read(r, e, data + bytes) != 0) {
				r->out->damaged++;
				continue;
			}
			f->bufs[f->n] = data + bytes;
			f->lens[f->n++] = e->len;
			bytes += e->len;
		}
		/* Verified on every core, as a peer's batch is (node/event/vpool.c). */
		vpool_verify(pool, f->bufs, f->lens, f->n, r->fed, cfg->limits.max_body, ok,
		             bodies);
		ctx.verified = ok;
		ctx.bodies = bodies;
		rc = store_write(st, s_fill_fn, f);
		ctx.verified = NULL;
		ctx.bodies = NULL;
		for (size_t i = 0; i < f->n; i++) {
			json_decref(bodies[i]);
			bodies[i] = NULL;
		}
		if (rc != 0) {
			snprintf(err, errlen, "%s/store: cannot store the events salvaged: %s", tmp,
			         cpt_strerror(rc));
			goto out;
		}
		for (size_t i = 0; i < f->n; i++) {
			int x = f->res[i].rc;
			if (x == 0 || x == CPT_EPENDING || x == CPT_EEXIST) {
				r->out->stored++;
			} else if (x == CPT_ESIG) {
				/* Its body matches its hash but its header was damaged
				 * (or half overwritten): no event, a damaged copy. */
				r->out->damaged++;
			} else {
				r->out->refused++;
				if (!r->out->why[0])
					snprintf(r->out->why, sizeof(r->out->why), "%s",
					         f->res[i].why[0] ? f->res[i].why
					                          : cpt_strerror(x));
			}
		}
	}
	pp = (struct peers_put){st, r};
	if (r->n_peers && (rc = store_write(st, s_peers_put_fn, &pp)) != 0) {
		snprintf(err, errlen, "%s/store: cannot store the list of peers: %s", tmp,
		         cpt_strerror(rc));
		goto out;
	}
	r->out->peers = r->n_peers;
	if (store_sync(st) != 0) {
		snprintf(err, errlen, "%s/store: cannot write it to disk: %s", tmp,
		         strerror(errno));
		rc = errno == ENOSPC || errno == EDQUOT ? CPT_ENOSPC : CPT_EIO;
		goto out;
	}
	ingest_ctx_release(&ctx);
	store_close(&st);
	snprintf(from, sizeof(from), "%s/store", tmp);
	snprintf(to, sizeof(to), "%s/store", r->dir);
	if (rename(from, to) != 0 || s_sync_dir(r->dir) != 0) {
		snprintf(err, errlen, "cannot move %s to %s: %s", from, to, strerror(errno));
		rc = CPT_EIO;
		goto out;
	}
	rmdir(tmp);
	rc = 0;
out:
	vpool_destroy(&pool);
	free(data);
	free(f);
	ingest_ctx_release(&ctx);
	store_close(&st);
	return rc;
}

/* ----------------------------------------------------------- the repair */

/* Moves dir/store aside as dir/store.damaged-YYYYMMDD-HHMMSS. */
static int
s_move_aside(const char *dir, char *moved, size_t cap, char *err, size_t errlen)
{
	char from[4200], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	struct stat sb;

	moved[0] = 0;
	snprintf(from, sizeof(from), "%s/store", dir);
	if (stat(from, &sb) != 0)
		return 0;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	for (int i = 0; i < 100; i++) {
		if (i == 0)
			snprintf(moved, cap, "%s/store.damaged-%s", dir, stamp);
		else
			snprintf(moved, cap, "%s/store.damaged-%s.%d", dir, stamp, i);
		if (stat(moved, &sb) != 0 && errno == ENOENT) {
			if (rename(from, moved) != 0 || s_sync_dir(dir) != 0) {
				snprintf(err, errlen, "cannot move %s to %s: %s", from, moved,
				         strerror(errno));
				moved[0] = 0;
				return CPT_EIO;
			}
			return 0;
		}
	}
	snprintf(err, errlen, "cannot find a free name for the damaged store in %s", dir);
	moved[0] = 0;
	return CPT_EEXIST;
}

static int
s_cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Every dir/store.damaged-* holding a data.mdb, oldest name first. */
static void
s_sources(rep_t *r)
{
	DIR *d = opendir(r->dir);
	struct dirent *de;
	struct stat sb;
	char path[4300];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL && r->n_src < MAX_SOURCES) {
		if (strncmp(de->d_name, "store.damaged-", 14) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s/data.mdb", r->dir, de->d_name);
		if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		snprintf(r->src[r->n_src++], sizeof(r->src[0]), "%s/%s", r->dir, de->d_name);
	}
	closedir(d);
	qsort(r->src, r->n_src, sizeof(r->src[0]), s_cmp_str);
}

int
repair_store(const char *dir, const cfg_t *cfg, repair_report_t *out, char *err, size_t errlen)
{
	rep_t *r = calloc(1, sizeof(*r));
	int rc;

	memset(out, 0, sizeof(*out));
	err[0] = 0;
	if (r == NULL)
		return CPT_ENOMEM;
	r->dir = dir;
	r->out = out;
	for (size_t i = 0; i < MAX_SOURCES; i++)
		r->fd[i] = -1;
	evt_federation_id(r->fed, cfg->root_key);
	if ((rc = s_move_aside(dir, out->moved_to, sizeof(out->moved_to), err, errlen)) != 0)
		goto out;
	s_sources(r);
	out->sources = r->n_src;
	for (size_t i = 0; i < r->n_src; i++) {
		char path[4300], perr[1200];
		struct peers_arg pa = {r->src[i]};
		snprintf(path, sizeof(path), "%s/data.mdb", r->src[i]);
		if ((r->fd[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			rc = CPT_EIO;
			goto out;
		}
		if ((rc = s_scan(r, (uint16_t)i)) != 0) {
			snprintf(err, errlen, "%s: %s", path, cpt_strerror(rc));
			goto out;
		}
		if (chk_run(dir, s_peers_child, &pa, s_peer_got, r, perr, sizeof(perr)) != 0)
			out->peers_lost = 1;
	}
	/* The copy outside the store names every peer added since it exists. */
	if (s_peers_file(r))
		out->peers_lost = 0;
	else if (r->n_src == 0)
		out->peers_lost = 1;
	if ((rc = s_unique(r)) != 0) {
		snprintf(err, errlen, "%s", cpt_strerror(rc));
		goto out;
	}
	out->events = r->n;
	rc = s_build(r, cfg, err, errlen);
out:
	for (size_t i = 0; i < r->n_src; i++)
		if (r->fd[i] >= 0)
			close(r->fd[i]);
	for (size_t i = 0; i < r->n_peers; i++)
		free(r->peer_rec[i]);
	for (size_t i = 0; i < r->n_certs; i++)
		free(r->cert[i]);
	free(r->all);
	free(r);
	return rc;
}
