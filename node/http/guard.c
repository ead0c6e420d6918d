/*
 * The HTTP server's front door: a table of open connections that caps them
 * per client address and bounds each request's whole duration (libmicrohttpd
 * restarts its timeout on every byte, PITFALLS 25), streams counted per
 * person, and the checks every request passes first: its framing (request
 * smuggling), its Host header (DNS rebinding), and the client address behind
 * a trusted reverse proxy.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "node/http/http_internal.h"

#define WARN_EVERY_MS 10000 /* refusals and cuts are logged at most this often */
#define STREAM_IDLE_S 60    /* a stream writes every 15 s: silent this long, it is dead */

static uint64_t
s_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ addresses */

/* A peer address as (family, 4 or 16 bytes); IPv4-mapped IPv6 is IPv4, so
 * that one client counts once whichever socket family served it. */
static int
s_addr_of(const struct sockaddr *sa, int *family, uint8_t addr[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	memset(addr, 0, 16);
	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		*family = AF_INET;
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const uint8_t *a6 =
		    ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
		if (memcmp(a6, mapped, 12) == 0) {
			memcpy(addr, a6 + 12, 4);
			*family = AF_INET;
		} else {
			memcpy(addr, a6, 16);
			*family = AF_INET6;
		}
		return 0;
	}
	return -1;
}

static int
s_is_loopback(int family, const uint8_t addr[16])
{
	static const uint8_t one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

	return family == AF_INET ? addr[0] == 127 : memcmp(addr, one, 16) == 0;
}

static int
s_in_net(const cfg_net_t *net, int family, const uint8_t addr[16])
{
	unsigned full = net->prefix / 8, rest = net->prefix % 8;

	if (net->family != family)
		return 0;
	if (memcmp(net->addr, addr, full) != 0)
		return 0;
	return rest == 0 || ((net->addr[full] ^ addr[full]) & (0xff00u >> rest) & 0xff) == 0;
}

static int
s_is_proxy(const http_t *h, int family, const uint8_t addr[16])
{
	for (size_t i = 0; i < h->n_proxies; i++)
		if (s_in_net(&h->proxies[i], family, addr))
			return 1;
	return 0;
}

static void
s_addr_text(int family, const uint8_t addr[16], char out[48])
{
	if (inet_ntop(family, addr, out, 48) == NULL)
		snprintf(out, 48, "?");
}

/* An IPv4-mapped IPv6 address becomes IPv4, as s_addr_of does. */
static void
s_unmap(int *family, uint8_t addr[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (*family == AF_INET6 && memcmp(addr, mapped, 12) == 0) {
		memmove(addr, addr + 12, 4);
		memset(addr + 4, 0, 12);
		*family = AF_INET;
	}
}

/* Parses one X-Forwarded-For entry (or the host of a Host header): an
 * address, "[v6]", "v4:port" or "[v6]:port" (what proxies write), spaces
 * around it allowed. */
static int
s_parse_ip(const char *s, size_t n, int *family, uint8_t addr[16])
{
	char buf[64];
	int rc;

	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = 0;
	memset(addr, 0, 16);
	if (buf[0] == '[') {
		char *rb = strchr(buf, ']');
		if (rb == NULL || (rb[1] != 0 && rb[1] != ':'))
			return -1;
		*rb = 0;
		*family = AF_INET6;
		rc = inet_pton(AF_INET6, buf + 1, addr) == 1 ? 0 : -1;
		s_unmap(family, addr);
		return rc;
	}
	if (inet_pton(AF_INET6, buf, addr) == 1) {
		*family = AF_INET6;
		s_unmap(family, addr);
		return 0;
	}
	if (strchr(buf, ':') != NULL && strchr(buf, ':') == strrchr(buf, ':'))
		*strchr(buf, ':') = 0; /* v4:port */
	*family = AF_INET;
	return inet_pton(AF_INET, buf, addr) == 1 ? 0 : -1;
}

/* ---------------------------------------------------------------- table */

static struct http_conn *
s_slot(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* Logs a refusal or a cut, at most once per WARN_EVERY_MS: a flood of them
 * must not become a flood of log lines. Called with conn_lock held. */
static void s_warn(http_t *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
s_warn(http_t *h, const char *fmt, ...)
{
	uint64_t now = s_mono_ms();
	char msg[256];
	va_list ap;

	if (h->warn_ms != 0 && now - h->warn_ms < WARN_EVERY_MS) {
		h->warn_skipped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (h->warn_skipped)
		log_warnx("http", "%s (and %u more refusals or cuts since the last report)", msg,
		          h->warn_skipped);
	else
		log_warnx("http", "%s", msg);
	h->warn_ms = now;
	h->warn_skipped = 0;
}

enum MHD_Result
http_guard_accept(void *cls, const struct sockaddr *sa, socklen_t len)
{
	http_t *h = cls;
	uint8_t addr[16];
	char text[48];
	unsigned same = 0;
	int family, proxy;
	enum MHD_Result ok = MHD_YES;

	if (s_addr_of(sa, &family, addr) != 0)
		return MHD_NO;
	proxy = s_is_proxy(h, family, addr);
	pthread_mutex_lock(&h->conn_lock);
	if (h->plain_restricted && !proxy && !s_is_loopback(family, addr)) {
		atomic_fetch_add(&h->door.refused_direct, 1);
		s_addr_text(family, addr, text);
		s_warn(h,
		       "refused a plain HTTP connection from %s: without tls, only loopback and "
		       "trusted_proxies may connect",
		       text);
		ok = MHD_NO;
	} else if (h->n_conns >= h->max_conns) {
		atomic_fetch_add(&h->door.refused_full, 1);
		s_warn(h, "refused a connection: %u open (limits.max_connections)", h->n_conns);
		ok = MHD_NO;
	} else if (!proxy) {
		for (unsigned i = 0; i < h->max_conns; i++)
			if (h->conns[i].conn && h->conns[i].family == family &&
			    memcmp(h->conns[i].addr, addr, 16) == 0)
				same++;
		if (same >= h->per_address) {
			atomic_fetch_add(&h->door.refused_address, 1);
			s_addr_text(family, addr, text);
			s_warn(h,
			       "refused a connection from %s: %u open from that address "
			       "(limits.max_connections_per_address)",
			       text, same);
			ok = MHD_NO;
		}
	}
	pthread_mutex_unlock(&h->conn_lock);
	return ok;
}

/* libmicrohttpd calls STARTED in its listening thread right after accept
 * (so accept's count and this insert do not race with another accept), and
 * CLOSED before it closes the socket: while a slot is in the table, its fd
 * is open, and the reaper may shut it down under conn_lock. */
void
http_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                  enum MHD_ConnectionNotificationCode code)
{
	http_t *h = cls;
	struct http_conn *slot = NULL;

	pthread_mutex_lock(&h->conn_lock);
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fd =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *ca =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		for (unsigned i = 0; i < h->max_conns && slot == NULL; i++)
			if (h->conns[i].conn == NULL)
				slot = &h->conns[i];
		if (slot == NULL || fd == NULL) {
			/* Two daemons share the table; accept counted both. */
			if (fd)
				shutdown(fd->connect_fd, SHUT_RDWR);
			*socket_context = NULL;
		} else {
			memset(slot, 0, sizeof(*slot));
			slot->conn = c;
			slot->h = h;
			slot->fd = fd->connect_fd;
			if (ca == NULL ||
			    s_addr_of(ca->client_addr, &slot->family, slot->addr) != 0)
				slot->family = AF_UNSPEC;
			slot->proxy = s_is_proxy(h, slot->family, slot->addr);
			slot->since_ms = s_mono_ms();
			h->n_conns++;
			*socket_context = slot;
		}
	} else if ((slot = *socket_context) != NULL) {
		memset(slot, 0, sizeof(*slot));
		h->n_conns--;
		*socket_context = NULL;
	}
	pthread_mutex_unlock(&h->conn_lock);
}

void
http_guard_done(struct MHD_Connection *c)
{
	struct http_conn *slot = s_slot(c);

	/* Called in the connection's own thread, before CLOSED frees the slot. */
	if (slot == NULL)
		return;
	pthread_mutex_lock(&slot->h->conn_lock);
	slot->since_ms = s_mono_ms();
	slot->stream = 0;
	pthread_mutex_unlock(&slot->h->conn_lock);
}

int
http_guard_stream(http_req_t *r)
{
	http_t *h = r->h;
	struct http_conn *slot = s_slot(r->conn);
	unsigned open = 0;

	if (slot == NULL)
		return 1; /* not in the table: accept shut it already */
	pthread_mutex_lock(&h->conn_lock);
	for (unsigned i = 0; i < h->max_conns; i++)
		if (h->conns[i].conn && h->conns[i].stream &&
		    memcmp(h->conns[i].person, r->sess.key, CPT_KEY_LEN) == 0)
			open++;
	if (open < h->streams_per_person) {
		slot->stream = 1;
		memcpy(slot->person, r->sess.key, CPT_KEY_LEN);
	}
	pthread_mutex_unlock(&h->conn_lock);
	if (open >= h->streams_per_person) {
		const char *hdr[] = {"Retry-After", "30", NULL};
		atomic_fetch_add(&h->door.streams_refused, 1);
		http_reply_hdr(r, 429,
		               json_pack("{s:s}", "error",
		                         "too many open event streams for this person: close a tab "
		                         "(limits.max_streams_per_person)"),
		               hdr);
		return 0;
	}
	/* No deadline now; libmicrohttpd's idle timeout still ends a stream
	 * whose client stopped reading (a ping is written every 15 s). */
	MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)STREAM_IDLE_S);
	return 1;
}

int
http_guard_fd(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

	return ci ? ci->connect_fd : -1;
}

int
http_guard_hung_up(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLRDHUP};

	if (fd < 0)
		return 0;
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* Cuts every connection whose request outlived request_timeout, then sleeps
 * until the nearest deadline: a new request's deadline is never nearer than
 * a full request_timeout away, so nothing needs to wake it but stop. */
static void *
s_reaper(void *arg)
{
	http_t *h = arg;

	pthread_mutex_lock(&h->conn_lock);
	while (!h->reaper_stop) {
		uint64_t now = s_mono_ms(), next = now + h->deadline_ms;
		unsigned cut = 0;
		struct timespec ts;

		for (unsigned i = 0; i < h->max_conns; i++) {
			struct http_conn *c = &h->conns[i];
			if (c->conn == NULL || c->stream || c->cut)
				continue;
			if (now >= c->since_ms + h->deadline_ms) {
				/* shutdown, not close: the fd stays libmicrohttpd's, and
				 * its thread wakes to a closed socket and ends. */
				shutdown(c->fd, SHUT_RDWR);
				c->cut = 1;
				cut++;
			} else if (c->since_ms + h->deadline_ms < next) {
				next = c->since_ms + h->deadline_ms;
			}
		}
		if (cut) {
			atomic_fetch_add(&h->door.cut_deadline, cut);
			s_warn(h,
			       "cut %u connection(s) whose request took over %llu s "
			       "(limits.request_timeout)",
			       cut, (unsigned long long)(h->deadline_ms / 1000));
		}
		ts.tv_sec = (time_t)(next / 1000);
		ts.tv_nsec = (long)(next % 1000) * 1000000L + 1000000L; /* 1 ms past it */
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&h->conn_cond, &h->conn_lock, &ts);
	}
	pthread_mutex_unlock(&h->conn_lock);
	return NULL;
}

void
http_guard_add_name(http_t *h, const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= CFG_MAX_STR || h->n_names >= HTTP_MAX_NAMES)
		return;
	for (size_t i = 0; i < h->n_names; i++)
		if (strcasecmp(h->names[i], name) == 0)
			return;
	for (size_t i = 0; i <= n; i++)
		h->names[h->n_names][i] = (char)tolower((unsigned char)name[i]);
	if (n > 1 && h->names[h->n_names][n - 1] == '.')
		h->names[h->n_names][n - 1] = 0;
	h->n_names++;
}

int
http_guard_start(http_t *h, const cfg_t *cfg, char *err, size_t errlen)
{
	pthread_condattr_t ca;

	h->max_conns = cfg->limits.max_connections;
	h->per_address = cfg->limits.max_connections_per_address;
	h->streams_per_person = cfg->limits.max_streams_per_person;
	h->deadline_ms = (uint64_t)cfg->limits.request_timeout * 1000;
	h->n_proxies = cfg->n_proxies;
	memcpy(h->proxies, cfg->proxies, sizeof(h->proxies));
	http_guard_add_name(h, "localhost");
	for (size_t i = 0; i < cfg->n_http_names; i++)
		http_guard_add_name(h, cfg->http_names[i]);
	if ((h->conns = calloc(h->max_conns, sizeof(*h->conns))) == NULL) {
		snprintf(err, errlen, "http: out of memory");
		return -1;
	}
	pthread_mutex_init(&h->conn_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->conn_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&h->reaper, NULL, s_reaper, h) != 0) {
		snprintf(err, errlen, "http: cannot start a thread: %s", strerror(errno));
		return -1;
	}
	h->reaper_started = 1;
	return 0;
}

void
http_guard_stop(http_t *h)
{
	if (h->conns == NULL)
		return;
	if (h->reaper_started) {
		pthread_mutex_lock(&h->conn_lock);
		h->reaper_stop = 1;
		pthread_cond_signal(&h->conn_cond);
		pthread_mutex_unlock(&h->conn_lock);
		pthread_join(h->reaper, NULL);
		h->reaper_started = 0;
	}
	pthread_cond_destroy(&h->conn_cond);
	pthread_mutex_destroy(&h->conn_lock);
	free(h->conns);
	h->conns = NULL;
}

/* ------------------------------------------------------------- requests */

/* What the header lines say about the body's length. */
struct framing {
	unsigned n_length;  /* Content-Length headers */
	unsigned n_te;      /* Transfer-Encoding headers */
	unsigned n_host;    /* Host headers */
	int lengths_differ; /* two Content-Length values differ */
	int bad_length;     /* a Content-Length that is not digits alone */
	int te_unknown;     /* a Transfer-Encoding other than chunked */
	int bad_name;       /* a header name that is not a token */
	char length[24];    /* the first Content-Length value */
};

static int
s_is_tchar(unsigned char c)
{
	return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static enum MHD_Result
s_framing_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct framing *f = cls;
	const unsigned char *k = (const unsigned char *)key;

	if (*k == 0)
		f->bad_name = 1;
	for (; *k; k++)
		if (!s_is_tchar(*k))
			f->bad_name = 1;
	if (value == NULL)
		value = "";
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		size_t n = strlen(value);
		if (n == 0 || n >= sizeof(f->length) || strspn(value, "0123456789") != n)
			f->bad_length = 1;
		else if (f->n_length++ == 0)
			memcpy(f->length, value, n + 1);
		else if (strcmp(f->length, value) != 0)
			f->lengths_differ = 1;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0) {
		f->n_host++;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		f->n_te++;
		if (strcasecmp(value, "chunked") != 0)
			f->te_unknown = 1;
	}
	return MHD_YES;
}

/* A 4xx/5xx that also closes the connection: after a request whose end is
 * in doubt, no byte that follows may be read as another request. */
static int s_refuse(http_req_t *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
s_refuse(http_req_t *r, unsigned status, const char *fmt, ...)
{
	const char *hdr[] = {"Connection", "close", NULL};
	char msg[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_reply_hdr(r, status, json_pack("{s:s}", "error", msg), hdr);
	return 0;
}

/* Request smuggling: a front proxy and this server must never disagree on
 * where a request ends (RFC 9112, 6.1 and 6.3). libmicrohttpd reads the first
 * Content-Length and lets Transfer-Encoding win silently. */
static int
s_framing_ok(http_req_t *r)
{
	struct framing f;

	memset(&f, 0, sizeof(f));
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, s_framing_cb, &f);
	if (f.bad_name)
		return s_refuse(r, 400, "malformed header name");
	if (f.bad_length)
		return s_refuse(r, 400, "malformed Content-Length header");
	if (f.lengths_differ)
		return s_refuse(r, 400, "two different Content-Length headers");
	if (f.n_te > 0 && f.n_length > 0)
		return s_refuse(r, 400, "Content-Length together with Transfer-Encoding");
	if (f.n_te > 1)
		return s_refuse(r, 400, "more than one Transfer-Encoding header");
	if (f.n_host > 1)
		return s_refuse(r, 400, "more than one Host header"); /* which is meant? */
	if (f.te_unknown)
		return s_refuse(r, 501, "only Transfer-Encoding: chunked is supported");
	return 1;
}

/* The address of the local end of c, for a Host that is an address. */
static int
s_local_addr(struct MHD_Connection *c, int *family, uint8_t addr[16])
{
	const union MHD_ConnectionInfo *fd =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (fd == NULL || getsockname(fd->connect_fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	return s_addr_of((const struct sockaddr *)&ss, family, addr);
}

static int
s_name_matches(const char *pattern, const char *name)
{
	if (pattern[0] == '*' && pattern[1] == '.') {
		/* A certificate's wildcard covers one label, never a dot. */
		const char *dot = strchr(name, '.');
		return dot != NULL && dot != name && strcmp(dot + 1, pattern + 2) == 0;
	}
	return strcmp(pattern, name) == 0;
}

int
http_guard_host(http_t *h, struct MHD_Connection *c, char *name, size_t namelen, const char **why,
                unsigned *status)
{
	const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	struct http_conn *slot = s_slot(c);
	char buf[CFG_MAX_STR];
	size_t n, hl;
	const char *port;
	int family, lfamily;
	uint8_t addr[16], laddr[16];

	*status = 400;
	name[0] = 0;
	if (host == NULL || *host == 0) {
		*why = "missing Host header";
		return 0;
	}
	n = strlen(host);
	if (n >= sizeof(buf)) {
		*why = "malformed Host header";
		return 0;
	}
	/* host [":" port], host a name, an IPv4 address or an [IPv6] address */
	if (host[0] == '[') {
		const char *rb = strchr(host, ']');
		if (rb == NULL) {
			*why = "malformed Host header";
			return 0;
		}
		hl = (size_t)(rb - host) + 1;
	} else {
		hl = strcspn(host, ":");
	}
	port = host + hl;
	if (*port == ':' && (port[1] == 0 || strspn(port + 1, "0123456789") != strlen(port + 1) ||
	                     strlen(port + 1) > 5))
		port = NULL;
	if (hl == 0 || port == NULL || (*port != 0 && *port != ':')) {
		*why = "malformed Host header";
		return 0;
	}
	for (size_t i = 0; i < hl; i++) {
		unsigned char ch = (unsigned char)host[i];
		if (!isalnum(ch) && !strchr("-.[]:", ch)) {
			*why = "malformed Host header";
			return 0;
		}
		buf[i] = (char)tolower(ch);
	}
	buf[hl] = 0;
	if (hl > 1 && buf[hl - 1] == '.')
		buf[--hl] = 0;
	snprintf(name, namelen, "%s", buf);
	*status = 421;
	*why = "unknown host name";
	/* An address is no DNS rebinding: the page that sent it was loaded
	 * from that address. It must be the one the client reached (or what a
	 * trusted proxy forwards). */
	if (s_parse_ip(buf, hl, &family, addr) == 0 && (buf[0] == '[' || family == AF_INET)) {
		if (slot && slot->proxy)
			return 1;
		return s_local_addr(c, &lfamily, laddr) == 0 && lfamily == family &&
		       memcmp(addr, laddr, 16) == 0;
	}
	for (size_t i = 0; i < h->n_names; i++)
		if (s_name_matches(h->names[i], buf))
			return 1;
	return 0;
}

/* When a request came through a trusted proxy, what it says of its scheme. */
static int
s_forwarded_https(struct MHD_Connection *c)
{
	struct http_conn *slot = s_slot(c);
	const char *proto;

	if (slot == NULL || !slot->proxy)
		return 0;
	proto = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-Proto");
	return proto != NULL && strcasecmp(proto, "https") == 0;
}

int
http_guard_request(http_req_t *r)
{
	http_t *h = r->h;
	char name[CFG_MAX_STR];
	const char *why;
	unsigned status;

	r->https = h->tls || s_forwarded_https(r->conn);
	if (!s_framing_ok(r)) {
		atomic_fetch_add(&h->door.bad_framing, 1);
		return 0;
	}
	if (!http_guard_host(h, r->conn, name, sizeof(name), &why, &status)) {
		atomic_fetch_add(&h->door.bad_host, 1);
		if (status == 421)
			s_refuse(r, 421,
			         "unknown host name \"%.200s\": this node answers to the names in "
			         "http_names of its comptoir.yaml",
			         name);
		else
			s_refuse(r, 400, "%s", why);
		return 0;
	}
	return 1;
}

/* ---------------------------------------------------------------- proxies */

/* X-Forwarded-For may come as several header lines: one list, in order. */
struct xff {
	char list[1024]; /* the values joined by "," */
	int over;        /* they did not fit */
};

static enum MHD_Result
s_xff_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct xff *x = cls;
	size_t have = strlen(x->list);

	if (strcasecmp(key, "X-Forwarded-For") != 0 || value == NULL)
		return MHD_YES;
	if (have + strlen(value) + 2 > sizeof(x->list)) {
		x->over = 1;
		return MHD_NO;
	}
	snprintf(x->list + have, sizeof(x->list) - have, "%s%s", have ? "," : "", value);
	return MHD_YES;
}

/* The client is the rightmost entry that is not a trusted proxy: entries to
 * its left were written by the client itself and prove nothing. */
void
http_guard_forwarded_for(struct MHD_Connection *c, char out[48])
{
	struct http_conn *slot = s_slot(c);
	struct xff x;
	size_t end;
	int family;
	uint8_t addr[16];

	if (slot == NULL || !slot->proxy)
		return;
	memset(&x, 0, sizeof(x));
	MHD_get_connection_values(c, MHD_HEADER_KIND, s_xff_cb, &x);
	if (x.over)
		return;
	end = strlen(x.list);
	while (end > 0) {
		size_t start = end;
		while (start > 0 && x.list[start - 1] != ',')
			start--;
		if (s_parse_ip(x.list + start, end - start, &family, addr) != 0)
			return; /* garbage: keep the proxy's own address */
		s_addr_text(family, addr, out);
		if (!s_is_proxy(slot->h, family, addr))
			return;
		end = start > 0 ? start - 1 : 0;
	}
}
