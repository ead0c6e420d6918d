/*
 * feed_read — reads per second and latency of GET /api/feed on a running
 * node, for tests/bench/run.sh and tests/bench/memory.sh.
 *
 *   feed_read --port P --handle H --password PW [--conns C] [--duration S]
 *             [--warmup S] [--limit N] [--pages N] [--src ADDR] [--node-pid PID]
 *             [--path /api/spaces/ID/feed]
 *
 * Logs in once (POST /api/login from ADDR, default 127.0.0.1), then C
 * threads each keep one HTTP/1.1 keep-alive connection and ask
 * GET /api/feed?limit=N (or the --path given: a space's feed) in a closed loop (a new request as
 * soon as the previous answer is read) with the session cookie. With --pages N > 1 each connection
 * follows the "next" cursor N pages deep, then starts again at the top (the UI's infinite scroll).
 * Latency is from the first byte sent to the last byte of the answer. The first --warmup seconds
 * are not counted; the run stops after --duration more seconds (or 50M requests).
 *
 * Prints one line of key=value figures, reads_per_s, p50_ms, p99_ms among
 * them, and the CPU time per read of this client and, with --node-pid, of
 * the node (from /proc/PID/stat over the measured seconds): on a shared
 * machine the rates move with the neighbours' load, the CPU per read much
 * less. Any answer other than 200 with an "items" list counts as an error;
 * exits 1 when there were errors or no reads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define MAX_REQUESTS 50000000ul
#define MAX_CONNS    64 /* the node accepts 64 connections per client address */

/* ---------------------------------------------- minimal HTTP/1.1 client */

#include "tests/bench/httpc.h"
const char *src;       /* client address */
char cookie[128];      /* the session */
const char *path;      /* the feed read: /api/feed, or a space's (--path) */
unsigned limit, pages; /* feed page size, pages followed */
atomic_int phase;      /* 0 warm-up, 1 measured, 2 stop */
atomic_ulong issued;   /* requests started, bounded by MAX_REQUESTS */
}
shared_t;

typedef struct worker {
	shared_t *sh;
	pthread_t th;
	double *lat;          /* latencies (s) of measured reads */
	size_t n, cap;        /* how many, room */
	unsigned long errors; /* bad answers while measured */
	unsigned long items;  /* posts received while measured */
	int failed;           /* could not connect at all */
} worker_t;

static void *
s_work(void *arg)
{
	worker_t *w = arg;
	shared_t *sh = w->sh;
	hconn_t c = {.fd = -1, .src = sh->src, .port = sh->port};
	char req[1024], next[96] = "";
	unsigned page = 0;

	if (h_connect(&c) != 0) {
		w->failed = 1;
		return NULL;
	}
	while (atomic_load(&sh->phase) < 2 && atomic_fetch_add(&sh->issued, 1) < MAX_REQUESTS) {
		hresp_t r;
		double t0, t1;
		int phase, n, good;
		const char *p;

		if (next[0])
			n = snprintf(req, sizeof(req),
			             "GET %s?limit=%u&before=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			             "Cookie: comptoir_session=%s\r\n\r\n",
			             sh->path, sh->limit, next, sh->cookie);
		else
			n = snprintf(req, sizeof(req),
			             "GET %s?limit=%u HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			             "Cookie: comptoir_session=%s\r\n\r\n",
			             sh->path, sh->limit, sh->cookie);
		t0 = s_now();
		good = h_request(&c, req, (size_t)n, &r) == 0 && r.status == 200 &&
		       strncmp(r.body, "{\"items\":[", 10) == 0;
		t1 = s_now();
		phase = atomic_load(&sh->phase);
		/* Follow the cursor: `],"next":"80 hex"` ends the answer. */
		next[0] = 0;
		if (good && ++page < sh->pages && (p = strstr(r.body, "],\"next\":\"")) != NULL &&
		    strlen(p) >= 10 + 80)
			snprintf(next, sizeof(next), "%.80s", p + 10);
		if (!next[0])
			page = 0;
		if (phase != 1)
			continue;
		if (!good) {
			w->errors++;
			if (w->errors <= 3)
				fprintf(stderr, "feed_read: bad answer: HTTP %d %.200s\n", r.status,
				        r.body ? r.body : "(none)");
			if (c.fd < 0 && h_connect(&c) != 0)
				usleep(10000);
			continue;
		}
		for (p = r.body; (p = strstr(p, "\"author_key\":")) != NULL; p++)
			w->items++;
		if (w->n == w->cap) {
			size_t ncap = w->cap ? 2 * w->cap : 65536;
			double *nl = realloc(w->lat, ncap * sizeof(*nl));
			if (nl == NULL)
				continue;
			w->lat = nl;
			w->cap = ncap;
		}
		w->lat[w->n++] = t1 - t0;
	}
	h_close(&c);
	free(c.buf);
	return NULL;
}

static int
s_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double
s_pct(const double *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return n ? v[i < n ? i : n - 1] : 0;
}

static int
s_usage(void)
{
	fprintf(stderr,
	        "usage: feed_read --port P --handle H --password PW [--conns C] [--duration S]\n"
	        "                 [--warmup S] [--limit N] [--pages N] [--src ADDR] [--node-pid "
	        "PID]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	shared_t sh;
	worker_t *w;
	hconn_t lc = {.fd = -1};
	const char *handle = NULL, *password = NULL;
	char csrf[64];
	unsigned conns = 16, duration = 10, warmup = 2;
	long node_pid = 0;
	double node_cpu = -1, self_cpu;
	double *all, t_start, t_end;
	size_t total = 0;
	unsigned long errors = 0, items = 0;
	int failed = 0;

	memset(&sh, 0, sizeof(sh));
	sh.limit = 20;
	sh.pages = 1;
	sh.path = "/api/feed";
	sh.src = "127.0.0.1";
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *o = argv[i], *v = argv[i + 1];
		unsigned long x = strtoul(v, NULL, 10);
		if (strcmp(o, "--port") == 0 && x > 0 && x < 65536)
			sh.port = (int)x;
		else if (strcmp(o, "--handle") == 0)
			handle = v;
		else if (strcmp(o, "--password") == 0)
			password = v;
		else if (strcmp(o, "--src") == 0)
			sh.src = v;
		else if (strcmp(o, "--path") == 0 && strlen(v) < 200 && v[0] == '/')
			sh.path = v;
		else if (strcmp(o, "--conns") == 0 && x >= 1 && x <= MAX_CONNS)
			conns = (unsigned)x;
		else if (strcmp(o, "--node-pid") == 0 && x > 0)
			node_pid = (long)x;
		else if (strcmp(o, "--duration") == 0 && x >= 1 && x <= 3600)
			duration = (unsigned)x;
		else if (strcmp(o, "--warmup") == 0 && x <= 600)
			warmup = (unsigned)x;
		else if (strcmp(o, "--limit") == 0 && x >= 1 && x <= 100)
			sh.limit = (unsigned)x;
		else if (strcmp(o, "--pages") == 0 && x >= 1 && x <= 100000)
			sh.pages = (unsigned)x;
		else
			return s_usage();
	}
	if (argc % 2 != 1 || sh.port == 0 || handle == NULL || password == NULL)
		return s_usage();
	lc.src = sh.src;
	lc.port = sh.port;
	if (h_login(&lc, handle, password, sh.cookie, csrf) != 0) {
		fprintf(stderr, "feed_read: cannot log in as %s on port %d\n", handle, sh.port);
		return 1;
	}
	h_close(&lc);
	free(lc.buf);
	if ((w = calloc(conns, sizeof(*w))) == NULL)
		return 1;
	atomic_init(&sh.phase, warmup ? 0 : 1);
	atomic_init(&sh.issued, 0);
	for (unsigned i = 0; i < conns; i++) {
		w[i].sh = &sh;
		if (pthread_create(&w[i].th, NULL, s_work, &w[i]) != 0) {
			fprintf(stderr, "feed_read: cannot start thread %u\n", i);
			conns = i;
			failed = 1;
			break;
		}
	}
	if (warmup)
		sleep(warmup);
	if (node_pid)
		node_cpu = s_cpu_of(node_pid);
	self_cpu = s_cpu_of((long)getpid());
	atomic_store(&sh.phase, 1);
	t_start = s_now();
	/* Sleep the duration in short steps: a nanosleep may return early. */
	while (s_now() - t_start < duration) {
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
	}
	atomic_store(&sh.phase, 2);
	t_end = s_now();
	if (node_cpu >= 0)
		node_cpu = s_cpu_of(node_pid) - node_cpu;
	self_cpu = s_cpu_of((long)getpid()) - self_cpu;
	for (unsigned i = 0; i < conns; i++) {
		pthread_join(w[i].th, NULL);
		total += w[i].n;
		errors += w[i].errors;
		items += w[i].items;
		failed |= w[i].failed;
	}
	if ((all = malloc((total ? total : 1) * sizeof(*all))) == NULL)
		return 1;
	total = 0;
	for (unsigned i = 0; i < conns; i++) {
		memcpy(all + total, w[i].lat, w[i].n * sizeof(*all));
		total += w[i].n;
		free(w[i].lat);
	}
	qsort(all, total, sizeof(*all), s_cmp);
	printf("conns=%u limit=%u pages=%u duration_s=%.2f reads=%zu errors=%lu "
	       "items_per_read=%.1f reads_per_s=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
	       "max_ms=%.3f",
	       conns, sh.limit, sh.pages, t_end - t_start, total, errors,
	       total ? (double)items / (double)total : 0.0, (double)total / (t_end - t_start),
	       1e3 * s_pct(all, total, 0.50), 1e3 * s_pct(all, total, 0.90),
	       1e3 * s_pct(all, total, 0.99), total ? 1e3 * all[total - 1] : 0.0);
	/* CPU per request (measured phase, all threads): the node's figure does
	 * not depend on how busy the machine is, unlike the rates. */
	if (node_cpu >= 0)
		printf(" node_cpu_us_per_read=%.0f", total ? 1e6 * node_cpu / (double)total : 0.0);
	printf(" client_cpu_us_per_read=%.0f\n", total ? 1e6 * self_cpu / (double)total : 0.0);
	free(all);
	free(w);
	if (failed)
		fprintf(stderr, "feed_read: some connections could not be opened\n");
	return total == 0 || errors || failed ? 1 : 0;
}
