/*
 * A minimal HTTP/1.1 keep-alive client shared by the load generators of
 * tests/bench (feed_read.c, api_post.c): connect, one request and its
 * answer, login. Static functions: each benchmark is one translation unit.
 */
#ifndef COMPTOIR_BENCH_HTTPC_H
#define COMPTOIR_BENCH_HTTPC_H
typedef struct hconn {
	int fd;          /* socket, -1 when closed */
	char *buf;       /* received bytes */
	size_t cap;      /* bytes allocated */
	size_t have;     /* bytes in buf */
	const char *src; /* local address to bind, or NULL */
	int port;        /* node port on 127.0.0.1 */
} hconn_t;

typedef struct hresp {
	int status;       /* HTTP status */
	const char *body; /* into the connection buffer, valid until the next request */
	size_t body_len;  /* its length */
	char cookie[128]; /* comptoir_session value from Set-Cookie, or "" */
	unsigned retry;   /* Retry-After seconds, or 0 */
} hresp_t;

static double
s_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) used so far by process pid, or -1. */
static double
s_cpu_of(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* Fields 14 and 15, counted after the ")" that ends the command name. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void
h_close(hconn_t *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->have = 0;
}

static int
h_connect(hconn_t *c)
{
	struct sockaddr_in sa;
	struct timeval tv = {10, 0};
	int one = 1;

	h_close(c);
	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	if (c->src) {
		if (inet_pton(AF_INET, c->src, &sa.sin_addr) != 1 ||
		    bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			h_close(c);
			return -1;
		}
	}
	sa.sin_port = htons((uint16_t)c->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		h_close(c);
		return -1;
	}
	return 0;
}

/* The value of header name in the head (NUL-terminated), copied into out. */
static int
h_header(const char *head, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
		const char *l = p + 2, *e;
		if (strncasecmp(l, name, nl) != 0 || l[nl] != ':')
			continue;
		l += nl + 1;
		while (*l == ' ')
			l++;
		e = strstr(l, "\r\n");
		if (e == NULL || (size_t)(e - l) >= cap)
			return -1;
		memcpy(out, l, (size_t)(e - l));
		out[e - l] = 0;
		return 0;
	}
	return -1;
}

/* Sends req and reads one answer (Content-Length bodies only). Reconnects
 * once when the kept-alive connection was closed under us. 0 or -1. */
static int
h_request(hconn_t *c, const char *req, size_t len, hresp_t *r)
{
	size_t head_len = 0, need = 0;
	char v[256];
	int close_after = 0;

	memset(r, 0, sizeof(*r));
	for (int attempt = 0;; attempt++) {
		size_t off = 0;
		int ok = c->fd >= 0 || h_connect(c) == 0;
		while (ok && off < len) {
			ssize_t n = send(c->fd, req + off, len - off, MSG_NOSIGNAL);
			if (n <= 0)
				ok = 0;
			else
				off += (size_t)n;
		}
		c->have = 0;
		/* Read the head. */
		while (ok) {
			char *end;
			ssize_t n;
			if (c->have + 4096 + 1 > c->cap) {
				size_t ncap = c->cap ? 2 * c->cap : 65536;
				char *nb = realloc(c->buf, ncap);
				if (nb == NULL)
					return -1;
				c->buf = nb;
				c->cap = ncap;
			}
			n = recv(c->fd, c->buf + c->have, c->cap - c->have - 1, 0);
			if (n <= 0) {
				ok = 0;
				break;
			}
			c->have += (size_t)n;
			c->buf[c->have] = 0;
			if ((end = strstr(c->buf, "\r\n\r\n")) != NULL) {
				head_len = (size_t)(end - c->buf) + 4;
				break;
			}
		}
		if (ok)
			break;
		/* A keep-alive connection may be closed by the server: retry once,
		 * only before anything of the answer arrived. */
		if (attempt > 0 || c->have > 0) {
			h_close(c);
			return -1;
		}
		h_close(c);
	}
	{
		char save = c->buf[head_len - 2];
		c->buf[head_len - 2] = 0; /* the head alone, ending with one CRLF */
		if (sscanf(c->buf, "HTTP/1.%*d %d", &r->status) != 1) {
			h_close(c);
			return -1;
		}
		if (h_header(c->buf, "Content-Length", v, sizeof(v)) != 0) {
			h_close(c);
			return -1;
		}
		need = strtoul(v, NULL, 10);
		if (h_header(c->buf, "Connection", v, sizeof(v)) == 0 &&
		    strcasecmp(v, "close") == 0)
			close_after = 1;
		if (h_header(c->buf, "Retry-After", v, sizeof(v)) == 0)
			r->retry = (unsigned)strtoul(v, NULL, 10);
		/* A login sets two cookies (the device one first): find ours. */
		{
			const char *p = strstr(c->buf, "\r\nSet-Cookie: comptoir_session=");
			if (p)
				snprintf(r->cookie, sizeof(r->cookie), "%.*s",
				         (int)strcspn(p + 31, ";\r"), p + 31);
		}
		c->buf[head_len - 2] = save;
	}
	if (head_len + need + 1 > c->cap) {
		char *nb = realloc(c->buf, head_len + need + 1);
		if (nb == NULL)
			return -1;
		c->buf = nb;
		c->cap = head_len + need + 1;
	}
	while (c->have < head_len + need) {
		ssize_t n = recv(c->fd, c->buf + c->have, head_len + need - c->have, 0);
		if (n <= 0) {
			h_close(c);
			return -1;
		}
		c->have += (size_t)n;
	}
	c->buf[head_len + need] = 0;
	r->body = c->buf + head_len;
	r->body_len = need;
	if (close_after) {
		/* The body stays readable: only the socket goes. */
		close(c->fd);
		c->fd = -1;
	}
	return 0;
}

/* Logs in as handle; fills cookie and csrf. Retries on 429 and 503. */
static int
h_login(hconn_t *c, const char *handle, const char *password, char cookie[128], char csrf[64])
{
	json_t *b = json_pack("{s:s, s:s}", "handle", handle, "password", password);
	char *body = b ? json_dumps(b, JSON_COMPACT) : NULL;
	char req[2048];
	int n, rc = -1;
	double deadline = s_now() + 120;

	json_decref(b);
	if (body == NULL)
		return -1;
	n = snprintf(
	    req, sizeof(req),
	    "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n\r\n%s",
	    strlen(body), body);
	free(body);
	for (int attempt = 0; attempt < 20 && s_now() < deadline; attempt++) {
		hresp_t r;
		json_t *j;
		if (h_request(c, req, (size_t)n, &r) != 0) {
			sleep(1);
			continue;
		}
		if (r.status == 429 || r.status == 503) {
			sleep(r.retry ? (r.retry < 30 ? r.retry : 30) : 1);
			continue;
		}
		if (r.status != 200 || !r.cookie[0]) {
			fprintf(stderr, "login of %s: HTTP %d %.200s\n", handle, r.status, r.body);
			break;
		}
		j = json_loadb(r.body, r.body_len, 0, NULL);
		if (json_is_string(json_object_get(j, "csrf_token"))) {
			snprintf(cookie, 128, "%s", r.cookie);
			snprintf(csrf, 64, "%s",
			         json_string_value(json_object_get(j, "csrf_token")));
			rc = 0;
		}
		json_decref(j);
		break;
	}
	memset(req, 0, sizeof(req));
	return rc;
}

/* ------------------------------------------------------------ the load */

typedef struct shared {
	int port; /* node port */
#endif
