/*
 * api_post — posts per second and latency of POST /api/posts on a running
 * node, with K concurrent logged-in clients, for tests/bench/run.sh.
 *
 *   api_post --port P [--clients K] [--prefix P] [--users M] [--password PW]
 *            [--duration S] [--warmup S] [--src-net A.B.C] [--text-bytes N]
 *            [--node-pid PID]
 *
 * Client i logs in as user PREFIX%04u (i modulo M, as made by fill) from the
 * address A.B.C.(i+1) (default net 127.0.1: each loopback address has its
 * own login rate limit, as each desk in an office would), then keeps one
 * HTTP/1.1 keep-alive connection and posts in a closed loop: a new post as
 * soon as the 201 of the previous one is read. Each post is signed with the
 * user's key and committed durably (fsync) before the answer, so concurrent
 * clients share commits (node_submit's group commit). Latency is from the
 * first byte sent to the last byte of the answer. The first --warmup seconds
 * are not counted; the run stops after --duration more seconds (or 10M posts).
 *
 * Prints one line of key=value figures: posts_per_s, p50_ms, p99_ms among
 * them, and the CPU time per post of this client and, with --node-pid, of
 * the node over the measured seconds. Any answer other than 201 counts as
 * an error; exits 1 when there were errors or no posts.
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

#define MAX_POSTS   10000000ul
#define MAX_CLIENTS 250

/* ---------------------------------------------- minimal HTTP/1.1 client */

#include "tests/bench/httpc.h"
const char *net;      /* client addresses are NET.(i+1) */
const char *prefix;   /* user handles */
const char *password; /* their password */
unsigned users;       /* how many users there are */
unsigned text_bytes;  /* length of each post */
atomic_int ready;     /* clients done with their login */
atomic_int go;        /* every client is in: post */
atomic_int phase;     /* 0 warm-up, 1 measured, 2 stop */
atomic_ulong issued;  /* posts started, bounded by MAX_POSTS */
}
shared_t;

typedef struct worker {
	shared_t *sh;
	unsigned idx; /* client number */
	pthread_t th;
	double *lat;          /* latencies (s) of measured posts */
	size_t n, cap;        /* how many, room */
	unsigned long errors; /* bad answers while measured */
	int failed;           /* could not log in */
} worker_t;

static void *
s_work(void *arg)
{
	worker_t *w = arg;
	shared_t *sh = w->sh;
	char src[32], handle[64], cookie[128], csrf[64];
	hconn_t c = {.fd = -1, .src = src, .port = sh->port};
	char *req = malloc(sh->text_bytes + 1024), *text = malloc(sh->text_bytes + 1);
	unsigned long seq = 0;

	snprintf(src, sizeof(src), "%s.%u", sh->net, w->idx + 1);
	snprintf(handle, sizeof(handle), "%s%04u", sh->prefix, w->idx % sh->users);
	if (req == NULL || text == NULL || h_login(&c, handle, sh->password, cookie, csrf) != 0) {
		fprintf(stderr, "api_post: client %u (%s from %s) cannot log in\n", w->idx, handle,
		        src);
		w->failed = 1;
		atomic_fetch_add(&sh->ready, 1);
		free(req);
		free(text);
		free(c.buf);
		h_close(&c);
		return NULL;
	}
	atomic_fetch_add(&sh->ready, 1);
	/* Nobody posts before everyone is logged in: the figures are those of
	 * K clients posting, not of logins (argon2id) competing with posts. */
	while (!atomic_load(&sh->go) && atomic_load(&sh->phase) < 2) {
		struct timespec ts = {0, 5 * 1000000L};
		nanosleep(&ts, NULL);
	}
	while (atomic_load(&sh->phase) < 2 && atomic_fetch_add(&sh->issued, 1) < MAX_POSTS) {
		hresp_t r;
		double t0, t1;
		int n, good, phase;
		size_t tl;

		/* "bench post N by H:" then filler words up to text_bytes. */
		tl = (size_t)snprintf(text, sh->text_bytes + 1, "bench post %lu by %s:", seq++,
		                      handle);
		while (tl + 8 < sh->text_bytes)
			tl += (size_t)snprintf(text + tl, sh->text_bytes + 1 - tl, " lorem");
		n = snprintf(req, sh->text_bytes + 1024,
		             "POST /api/posts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		             "Cookie: comptoir_session=%s\r\nX-CSRF-Token: %s\r\n"
		             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n"
		             "{\"text\":\"%s\"}",
		             cookie, csrf, tl + 11, text);
		t0 = s_now();
		good = h_request(&c, req, (size_t)n, &r) == 0 && r.status == 201;
		t1 = s_now();
		phase = atomic_load(&sh->phase);
		if (phase != 1)
			continue;
		if (!good) {
			w->errors++;
			if (w->errors <= 3)
				fprintf(stderr, "api_post: bad answer: HTTP %d %.200s\n", r.status,
				        r.body ? r.body : "(none)");
			if (c.fd < 0 && h_connect(&c) != 0)
				usleep(10000);
			continue;
		}
		if (w->n == w->cap) {
			size_t ncap = w->cap ? 2 * w->cap : 16384;
			double *nl = realloc(w->lat, ncap * sizeof(*nl));
			if (nl == NULL)
				continue;
			w->lat = nl;
			w->cap = ncap;
		}
		w->lat[w->n++] = t1 - t0;
	}
	memset(cookie, 0, sizeof(cookie));
	memset(csrf, 0, sizeof(csrf));
	h_close(&c);
	free(c.buf);
	free(req);
	free(text);
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
	        "usage: api_post --port P [--clients K] [--prefix P] [--users M] [--password PW]\n"
	        "                [--duration S] [--warmup S] [--src-net A.B.C] [--text-bytes N]\n"
	        "                [--node-pid PID]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	shared_t sh;
	worker_t *w;
	unsigned clients = 8, duration = 10, warmup = 2;
	long node_pid = 0;
	double node_cpu = -1, self_cpu;
	double *all, t_start, t_end, t_login;
	size_t total = 0;
	unsigned long errors = 0;
	int failed = 0;

	memset(&sh, 0, sizeof(sh));
	sh.net = "127.0.1";
	sh.prefix = "u";
	sh.password = "bench-password";
	sh.users = 50;
	sh.text_bytes = 200;
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *o = argv[i], *v = argv[i + 1];
		unsigned long x = strtoul(v, NULL, 10);
		if (strcmp(o, "--port") == 0 && x > 0 && x < 65536)
			sh.port = (int)x;
		else if (strcmp(o, "--prefix") == 0)
			sh.prefix = v;
		else if (strcmp(o, "--password") == 0)
			sh.password = v;
		else if (strcmp(o, "--src-net") == 0)
			sh.net = v;
		else if (strcmp(o, "--users") == 0 && x >= 1 && x <= 10000)
			sh.users = (unsigned)x;
		else if (strcmp(o, "--clients") == 0 && x >= 1 && x <= MAX_CLIENTS)
			clients = (unsigned)x;
		else if (strcmp(o, "--node-pid") == 0 && x > 0)
			node_pid = (long)x;
		else if (strcmp(o, "--duration") == 0 && x >= 1 && x <= 3600)
			duration = (unsigned)x;
		else if (strcmp(o, "--warmup") == 0 && x <= 600)
			warmup = (unsigned)x;
		else if (strcmp(o, "--text-bytes") == 0 && x >= 40 && x <= 9000)
			sh.text_bytes = (unsigned)x;
		else
			return s_usage();
	}
	if (argc % 2 != 1 || sh.port == 0)
		return s_usage();
	if ((w = calloc(clients, sizeof(*w))) == NULL)
		return 1;
	atomic_init(&sh.ready, 0);
	atomic_init(&sh.go, 0);
	atomic_init(&sh.phase, 0);
	atomic_init(&sh.issued, 0);
	/* Clients log in (argon2id, about 70 ms each, a few at a time on the
	 * node); they start posting together when all are in. */
	t_login = s_now();
	for (unsigned i = 0; i < clients; i++) {
		w[i].sh = &sh;
		w[i].idx = i;
		if (pthread_create(&w[i].th, NULL, s_work, &w[i]) != 0) {
			fprintf(stderr, "api_post: cannot start thread %u\n", i);
			clients = i;
			failed = 1;
			break;
		}
	}
	while (atomic_load(&sh.ready) < (int)clients && s_now() - t_login < 300) {
		struct timespec ts = {0, 20 * 1000000L};
		nanosleep(&ts, NULL);
	}
	t_login = s_now() - t_login;
	atomic_store(&sh.go, 1);
	if (warmup)
		sleep(warmup);
	if (node_pid)
		node_cpu = s_cpu_of(node_pid);
	self_cpu = s_cpu_of((long)getpid());
	atomic_store(&sh.phase, 1);
	t_start = s_now();
	while (s_now() - t_start < duration) {
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
	}
	atomic_store(&sh.phase, 2);
	t_end = s_now();
	if (node_cpu >= 0)
		node_cpu = s_cpu_of(node_pid) - node_cpu;
	self_cpu = s_cpu_of((long)getpid()) - self_cpu;
	for (unsigned i = 0; i < clients; i++) {
		pthread_join(w[i].th, NULL);
		total += w[i].n;
		errors += w[i].errors;
		failed |= w[i].failed;
	}
	if ((all = malloc((total ? total : 1) * sizeof(*all))) == NULL)
		return 1;
	total = 0;
	for (unsigned i = 0; i < clients; i++) {
		memcpy(all + total, w[i].lat, w[i].n * sizeof(*all));
		total += w[i].n;
		free(w[i].lat);
	}
	qsort(all, total, sizeof(*all), s_cmp);
	printf("clients=%u text_bytes=%u login_s=%.1f duration_s=%.2f posts=%zu errors=%lu "
	       "posts_per_s=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f",
	       clients, sh.text_bytes, t_login, t_end - t_start, total, errors,
	       (double)total / (t_end - t_start), 1e3 * s_pct(all, total, 0.50),
	       1e3 * s_pct(all, total, 0.90), 1e3 * s_pct(all, total, 0.99),
	       total ? 1e3 * all[total - 1] : 0.0);
	/* CPU per request (measured phase, all threads): the node's figure does
	 * not depend on how busy the machine is, unlike the rates. */
	if (node_cpu >= 0)
		printf(" node_cpu_us_per_post=%.0f", total ? 1e6 * node_cpu / (double)total : 0.0);
	printf(" client_cpu_us_per_post=%.0f\n", total ? 1e6 * self_cpu / (double)total : 0.0);
	free(all);
	free(w);
	if (failed)
		fprintf(stderr, "api_post: some clients could not log in\n");
	return total == 0 || errors || failed ? 1 : 0;
}
