/*
 * recon — benchmark of the range-based reconciliation over two real LMDB
 * stores kept by the node's own index (node/index/buckets.c): round trips, bytes
 * and CPU time per side, next to the targets of the catch-up issue.
 *
 *   recon [N]     (default N = 1,000,000)
 *
 * The stores hold (timestamp, id) keys only, as DB_ORDER and the buckets do:
 * reconciliation never reads event bodies. Differences are applied as the
 * events would be (inserted on the side that lacked them) between messages.
 * Cases 1-6 open as the periodic round does (equal parts), 7 and 8 as a
 * link coming up (recon_start_recent, our newest items).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "node/index/index.h"
#include "sync/sync.h"

typedef struct side {
	store_t *st;          /* the store */
	const char *name;     /* "a" or "b" */
	double cpu_ms;        /* CPU spent answering */
	struct side *peer;    /* the other side */
	size_t pushed;        /* events it sent */
	size_t wanted;        /* events it asked for */
	uint8_t (*moved)[40]; /* keys to insert at the peer after this message */
	size_t n_moved, cap_moved;
} side_t;

static double
s_cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct ins {
	store_t *st;
	uint8_t (*keys)[40];
	size_t n;
};

static int
s_ins_fn(store_txn_t *txn, void *arg)
{
	struct ins *a = arg;
	int rc;

	for (size_t i = 0; i < a->n; i++) {
		store_val_t k = {40, a->keys[i]}, v = {2, "\0\6"};
		if ((rc = store_put_new(txn, DB_ORDER, k.data, k.len, v.data, v.len)) != 0) {
			if (rc == CPT_EEXIST)
				continue;
			return rc;
		}
		if ((rc = bk_update(txn, a->keys[i], 1)) != 0)
			return rc;
	}
	return 0;
}

static void
s_insert(store_t *st, uint8_t (*keys)[40], size_t n)
{
	for (size_t i = 0; i < n; i += 50000) {
		struct ins a = {st, keys + i, n - i < 50000 ? n - i : 50000};
		if (store_write(st, s_ins_fn, &a) != 0) {
			fprintf(stderr, "recon: insert failed\n");
			exit(1);
		}
	}
}

/* recon_src over a store, as node/fed/ops.c does it. */
static void
s_fp(void *ctx, const uint8_t *lo, const uint8_t *hi, uint64_t *count, uint8_t fp[RECON_FP_LEN])
{
	side_t *sd = ctx;
	store_txn_t *txn;
	uint8_t sum[32] = {0};

	*count = 0;
	if (store_read_begin(sd->st, &txn) == 0) {
		bk_fingerprint(txn, lo, hi, count, sum);
		store_read_end(sd->st, &txn);
	}
	recon_fingerprint(fp, sum, *count);
}

static size_t
s_items(void *ctx, const uint8_t *lo, const uint8_t *hi, uint8_t (*out)[RECON_KEY_LEN], size_t max)
{
	side_t *sd = ctx;
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k = {40, (void *)lo}, v;
	size_t n = 0;

	if (store_read_begin(sd->st, &txn) != 0)
		return 0;
	if (store_cur_open(txn, DB_ORDER, &cur) != 0) {
		store_read_end(sd->st, &txn);
		return 0;
	}
	for (int rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0 && n < max;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		if (memcmp(k.data, hi, 40) >= 0)
			break;
		memcpy(out[n++], k.data, 40);
	}
	store_cur_close(&cur);
	store_read_end(sd->st, &txn);
	return n;
}

static size_t
s_split(void *ctx, const uint8_t *lo, const uint8_t *hi, uint64_t count, size_t k,
        uint8_t (*bounds)[RECON_KEY_LEN])
{
	side_t *sd = ctx;
	store_txn_t *txn;
	size_t n;

	if (store_read_begin(sd->st, &txn) != 0)
		return 0;
	n = bk_split(txn, lo, hi, count, k, bounds);
	store_read_end(sd->st, &txn);
	return n;
}

static int
s_has(void *ctx, const uint8_t id[32])
{
	(void)ctx;
	(void)id;
	return 0; /* ids offered in lists are looked up in the range already */
}

static void
s_move(side_t *from, const uint8_t key[40])
{
	if (from->n_moved == from->cap_moved) {
		from->cap_moved = from->cap_moved ? 2 * from->cap_moved : 1024;
		from->moved = realloc(from->moved, from->cap_moved * 40);
	}
	memcpy(from->moved[from->n_moved++], key, 40);
}

/* Every key made, sorted by id when looked up: finds the key of an id the
 * sink hands out without scanning a store (outside the timed part). */
static uint8_t (*s_all)[40];
static size_t s_n_all, s_cap_all;
static int s_all_sorted;

static void
s_remember(uint8_t (*k)[40], size_t n)
{
	if (s_n_all + n > s_cap_all) {
		s_cap_all = (s_n_all + n) * 2;
		s_all = realloc(s_all, s_cap_all * 40);
	}
	memcpy(s_all + s_n_all, k, n * 40);
	s_n_all += n;
	s_all_sorted = 0;
}

static int
s_cmp_id(const void *x, const void *y)
{
	return memcmp((const uint8_t *)x + 8, (const uint8_t *)y + 8, 32);
}

/* The sink: what the peer lacks travels to it; what we lack is fetched.
 * Ids asked for are kept as they come; their keys are found after the
 * timed part. */
static void
s_push_ids(void *arg, const uint8_t (*keys)[40], size_t n)
{
	side_t *sd = arg;

	for (size_t i = 0; i < n; i++)
		s_move(sd, keys[i]);
	sd->pushed += n;
}

static void
s_push_wanted(side_t *sd, const uint8_t (*ids)[32], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t k[40] = {0};
		memcpy(k + 8, ids[i], 32); /* timestamp filled in by s_resolve */
		s_move(sd, k);
	}
	sd->pushed += n;
}

static void
s_resolve(side_t *sd)
{
	if (!s_all_sorted) {
		qsort(s_all, s_n_all, 40, s_cmp_id);
		s_all_sorted = 1;
	}
	for (size_t i = 0; i < sd->n_moved; i++) {
		uint8_t(*hit)[40];
		if (store_get_u64(sd->moved[i]) != 0)
			continue;
		hit = bsearch(sd->moved[i], s_all, s_n_all, 40, s_cmp_id);
		if (hit)
			memcpy(sd->moved[i], *hit, 40);
	}
}

static void
s_push_range(void *arg, const uint8_t *lo, const uint8_t *hi)
{
	side_t *sd = arg;
	uint8_t(*buf)[40] = malloc(1000000 * 40);
	size_t n = s_items(sd, lo, hi, buf, 1000000);

	for (size_t i = 0; i < n; i++)
		s_move(sd, buf[i]);
	sd->pushed += n;
	free(buf);
}

static void
s_want(void *arg, const uint8_t (*ids)[32], size_t n)
{
	side_t *sd = arg;

	/* The peer answers with the events: it pushes them. */
	s_push_wanted(sd->peer, ids, n);
	sd->wanted += n;
}

static void
s_deliver(side_t *from)
{
	s_resolve(from);
	if (from->n_moved)
		s_insert(from->peer->st, from->moved, from->n_moved);
	from->n_moved = 0;
}

/* Our newest max keys in increasing order, as node/fed/ops.c reads them
 * (recon_start_recent). */
static size_t
s_recent(void *ctx, uint8_t (*out)[RECON_KEY_LEN], size_t max)
{
	side_t *sd = ctx;
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	size_t n = 0;

	if (max == 0 || store_read_begin(sd->st, &txn) != 0)
		return 0;
	if (store_cur_open(txn, DB_ORDER, &cur) == 0) {
		for (int rc = store_cur_get(cur, &k, &v, STORE_LAST); rc == 0 && n < max;
		     rc = store_cur_get(cur, &k, &v, STORE_PREV))
			if (k.len == 40)
				memcpy(out[max - 1 - n++], k.data, 40);
		store_cur_close(&cur);
	}
	store_read_end(sd->st, &txn);
	if (n < max)
		memmove(out, out + (max - n), n * 40);
	return n;
}

/* 1: the runs open as a link coming up does (recon_start_recent). */
static int g_recent;

typedef struct result {
	int messages;
	size_t bytes;
	double cpu_a, cpu_b;
	size_t moved;
} result_t;

static result_t
s_run(side_t *a, side_t *b)
{
	recon_src_t sa = {a, s_fp, s_items, s_split, s_has, s_recent},
	            sb = {b, s_fp, s_items, s_split, s_has, s_recent};
	recon_sink_t ka = {a, s_push_ids, s_push_range, s_want, NULL},
	             kb = {b, s_push_ids, s_push_range, s_want, NULL};
	recon_t *ra = recon_new(&sa, &ka), *rb = recon_new(&sb, &kb);
	size_t cap = 1 << 20, len, outlen;
	uint8_t *msg = malloc(cap), *out = malloc(cap);
	result_t r = {0, 0, 0, 0, 0};
	double t;
	int done = 0, turn = 1;

	a->pushed = b->pushed = a->wanted = b->wanted = 0;
	t = s_cpu_ms();
	if ((g_recent ? recon_start_recent(ra, msg, cap, &len) : recon_start(ra, msg, cap, &len)) !=
	    0)
		exit(1);
	r.cpu_a += s_cpu_ms() - t;
	r.messages = 1;
	r.bytes = len;
	while (!done) {
		side_t *me = turn ? b : a;
		t = s_cpu_ms();
		if (recon_process(turn ? rb : ra, msg, len, out, cap, &outlen, &done) != 0) {
			fprintf(stderr, "recon: bad message\n");
			exit(1);
		}
		if (turn)
			r.cpu_b += s_cpu_ms() - t;
		else
			r.cpu_a += s_cpu_ms() - t;
		(void)me;
		r.moved += a->n_moved + b->n_moved;
		s_deliver(a);
		s_deliver(b);
		if (done)
			break;
		memcpy(msg, out, outlen);
		len = outlen;
		r.messages++;
		r.bytes += len;
		turn = !turn;
	}
	recon_destroy(&ra);
	recon_destroy(&rb);
	free(msg);
	free(out);
	return r;
}

static void
s_key(uint8_t k[40], uint64_t ts)
{
	store_put_u64(k, ts);
	randombytes_buf(k + 8, 32);
}

static store_t *
s_open(const char *dir, const char *name)
{
	char path[256], err[256];
	store_t *st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (index_store_open(&st, path, 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "recon: %s\n", err);
		exit(1);
	}
	if (store_set_nosync(st, 1) != 0) /* a benchmark store: speed over safety */
		exit(1);
	return st;
}

static void
s_report(const char *what, result_t r, size_t diffs, const char *target)
{
	int rts = (r.messages + 1) / 2;
	printf("%-44s messages=%d round_trips=%d bytes=%zu", what, r.messages, rts, r.bytes);
	if (diffs)
		printf(" bytes_per_difference=%.1f", (double)r.bytes / diffs);
	printf(" cpu_ms_a=%.1f cpu_ms_b=%.1f moved=%zu   [target: %s]\n", r.cpu_a, r.cpu_b, r.moved,
	       target);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	char dir[] = "/tmp/comptoir-recon-XXXXXX";
	uint8_t(*keys)[40];
	uint64_t base = (1700000000000ull) << 16, span = 365ull * 86400 * 1000 << 16;
	side_t a = {0}, b = {0};
	result_t r;
	char cmd[128];

	if (sodium_init() < 0 || mkdtemp(dir) == NULL)
		return 1;
	keys = malloc(n * 40);
	/* N events spread over a year, sorted by time as a site's history is. */
	for (size_t i = 0; i < n; i++)
		s_key(keys[i], base + span / n * i + randombytes_uniform(1000));
	s_remember(keys, n);
	a.st = s_open(dir, "a");
	b.st = s_open(dir, "b");
	a.name = "a";
	b.name = "b";
	a.peer = &b;
	b.peer = &a;
	printf("recon benchmark, N=%zu (both stores in LMDB with the bucket index)\n", n);
	s_insert(a.st, keys, n);
	s_insert(b.st, keys, n);

	r = s_run(&a, &b);
	s_report("1. same N events on both sides", r, 0, "1 round trip, <= 1 KiB");

	/* 10 differences: CPU per side. */
	{
		uint8_t k[10][40];
		for (int i = 0; i < 10; i++)
			s_key(k[i],
			      base + randombytes_uniform((uint32_t)(span >> 20)) * (1ull << 20));
		s_remember(k, 10);
		s_insert(a.st, k, 5);
		s_insert(b.st, k + 5, 5);
		r = s_run(&a, &b);
		s_report("2. d=10 scattered: CPU per reconciliation", r, 10, "<= 50 ms per side");
	}
	/* 10,000 newest on one side: an outage. */
	{
		size_t d = 10000;
		uint8_t(*k)[40] = malloc(d * 40);
		for (size_t i = 0; i < d; i++)
			s_key(k[i], base + span + 1000 * i);
		s_remember(k, d);
		s_insert(a.st, k, d);
		r = s_run(&a, &b);
		s_report("3. d=10,000 at the newest timestamps", r, d,
		         "<= 3 round trips, <= 40 B/diff");
		free(k);
	}
	/* 1,000 scattered over all timestamps, both sides. */
	{
		size_t d = 1000;
		uint8_t(*k)[40] = malloc(d * 40);
		for (size_t i = 0; i < d; i++)
			s_key(k[i], base + (uint64_t)((double)span * randombytes_uniform(1u << 30) /
			                              (1u << 30)));
		s_remember(k, d);
		s_insert(a.st, k, d / 2);
		s_insert(b.st, k + d / 2, d - d / 2);
		r = s_run(&a, &b);
		s_report("4. d=1,000 scattered over all timestamps", r, d,
		         "<= 1 KiB per difference");
		free(k);
	}
	r = s_run(&a, &b);
	s_report("5. after all that: in agreement again", r, 0, "1 round trip");
	/* The heal of tests/bench/heal.py: 1,000 new at each side, interleaved
	 * at the newest end, opened in equal parts (the periodic round), then
	 * as a link coming up (recon_start_recent). */
	for (int recent = 0; recent < 2; recent++) {
		size_t d = 2000;
		uint8_t(*k)[40] = malloc(d * 40);
		uint64_t from = base + span + 2000ull * 10000;
		for (size_t i = 0; i < d; i++)
			s_key(k[i], from + (uint64_t)randombytes_uniform(1u << 30));
		s_remember(k, d);
		s_insert(a.st, k, d / 2);
		s_insert(b.st, k + d / 2, d - d / 2);
		g_recent = recent;
		r = s_run(&a, &b);
		s_report(recent ? "7. the heal's outage, opened as a link comes up"
		                : "6. the heal's outage (1,000 new each side)",
		         r, d, recent ? "fewer messages than 6" : "<= 3 round trips");
		free(k);
		base += 1ull << 31; /* the next outage after this one */
	}
	r = s_run(&a, &b);
	s_report("8. in agreement, opened as a link comes up", r, 0, "1 round trip, <= 1 KiB");
	g_recent = 0;
	store_close(&a.st);
	store_close(&b.st);
	free(keys);
	free(a.moved);
	free(b.moved);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
