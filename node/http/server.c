/*
 * The HTTP server of a node (libmicrohttpd, one thread per connection):
 * starting and stopping it, and each request from its first byte to its
 * answer (the front door's checks, the body read up to its cap, routing).
 */
#include <assert.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "node/http/http_internal.h"

#define MAX_DISCARD (64u << 20) /* an oversized upload is read this far, then cut */

static void
s_client_addr(struct MHD_Connection *conn, char out[48])
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(out, 48, "?");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, 48);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, 48);
	/* Behind a trusted reverse proxy, the client it names. */
	http_guard_forwarded_for(conn, out);
}

static enum MHD_Result
s_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
         const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	http_t *h = cls;
	http_req_t *r = *con_cls;

	if (r == NULL) {
		const char *cl;
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		r->h = h;
		r->conn = conn;
		r->url = url;
		r->method = method;
		s_client_addr(conn, r->addr);
		*con_cls = r;
		/* Framing and Host before anything reads the request. */
		if (!http_guard_request(r))
			return r->queued ? MHD_YES : MHD_NO;
		/* An upload streams to the blob store: its own checks and caps. */
		if (api_files_is_upload(r)) {
			if (!api_files_begin(r))
				return r->queued ? MHD_YES : MHD_NO;
			return MHD_YES;
		}
		/* A declared length over the cap is refused before the body is read. */
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > h->max_body) {
			r->too_big = 1;
			http_error(r, 413, NULL, "request body over %u bytes", h->max_body);
			return r->queued ? MHD_YES : MHD_NO;
		}
		return MHD_YES;
	}
	if (*upload_size > 0) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (r->queued)
			return MHD_YES;
		if (r->up != NULL) {
			api_files_data(r, upload, n);
			return MHD_YES;
		}
		if (r->too_big || r->len + n > h->max_body) {
			/* Read on to the end to answer 413, but not forever. */
			r->too_big = 1;
			r->discarded += n;
			return r->discarded > MAX_DISCARD ? MHD_NO : MHD_YES;
		}
		if (r->len + n + 1 > r->cap) {
			size_t ncap = r->cap ? r->cap : 4096;
			char *nb;
			while (ncap < r->len + n + 1)
				ncap *= 2;
			if ((nb = realloc(r->body, ncap)) == NULL)
				return MHD_NO;
			r->body = nb;
			r->cap = ncap;
		}
		memcpy(r->body + r->len, upload, n);
		r->len += n;
		r->body[r->len] = 0;
		return MHD_YES;
	}
	if (r->queued)
		return MHD_YES;
	if (r->too_big)
		http_error(r, 413, NULL, "request body over %u bytes", h->max_body);
	else
		http_route(r);
	if (!r->queued)
		http_error(r, 500, NULL, "internal error");
	return r->queued ? MHD_YES : MHD_NO;
}

static void
s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
            enum MHD_RequestTerminationCode toe)
{
	http_req_t *r = *con_cls;

	http_guard_done(conn);
	if (r == NULL)
		return;
	api_files_done(r);
	if (r->body)
		sodium_memzero(r->body, r->cap); /* it may hold a password */
	free(r->body);
	sodium_memzero(r->token, sizeof(r->token));
	sodium_memzero(r->bearer, sizeof(r->bearer));
	free(r);
	*con_cls = NULL;
}

static void
s_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	if (!log_enabled(LOG_LEVEL_DEBUG))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = 0;
	log_debug("http", "%s", msg);
}

/* Parses "ADDR:PORT": IPv4, [IPv6] or a host name; port 0..65535. */
int
http_parse_bind(const char *spec, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	char host[CFG_MAX_STR], *end;
	const char *colon, *h0 = spec;
	size_t hl;
	unsigned long port;
	struct addrinfo hints, *res = NULL;

	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');
		if (rb == NULL || rb[1] != ':')
			goto bad;
		h0 = spec + 1;
		hl = (size_t)(rb - h0);
		colon = rb + 1;
	} else {
		if ((colon = strrchr(spec, ':')) == NULL)
			goto bad;
		hl = (size_t)(colon - spec);
	}
	if (hl == 0 || hl >= sizeof(host) || !isdigit((unsigned char)colon[1]))
		goto bad;
	memcpy(host, h0, hl);
	host[hl] = 0;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != 0 || port > 65535)
		goto bad;
	memset(ss, 0, sizeof(*ss));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = spec[0] == '[' ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL) {
		snprintf(err, errlen, "http: cannot resolve \"%s\"", host);
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	else
		goto bad;
	return 0;
bad:
	snprintf(err, errlen, "http: \"%s\" is not ADDR:PORT", spec);
	return -1;
}

/* The host part of "HOST:PORT", when it is a name (not an address or a
 * wildcard): the name staff were told to use. */
static void
s_bind_name(http_t *h, const char *spec)
{
	char host[CFG_MAX_STR];
	const char *colon = strrchr(spec, ':');
	unsigned char bin[16];
	size_t n;

	if (spec[0] == '[' || colon == NULL || (n = (size_t)(colon - spec)) >= sizeof(host))
		return;
	memcpy(host, spec, n);
	host[n] = 0;
	if (inet_pton(AF_INET, host, bin) != 1)
		http_guard_add_name(h, host);
}

http_t *
http_start(node_t *n, sess_table_t *sessions, fed_t *fed, char *err, size_t errlen)
{
	const cfg_t *cfg = node_cfg(n);
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *di;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
	                 MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	struct MHD_OptionItem opt[16];
	int no = 0;
	http_t *h;

	assert(n != NULL && sessions != NULL && fed != NULL);
	if (http_parse_bind(cfg->http, &ss, err, errlen) != 0)
		return NULL;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->rl = calloc(HTTP_RL_SLOTS, sizeof(*h->rl))) == NULL) {
		free(h);
		snprintf(err, errlen, "http: out of memory");
		return NULL;
	}
	h->node = n;
	h->fed = fed;
	h->st = node_store(n);
	h->sess = sessions;
	snprintf(h->site, sizeof(h->site), "%s", cfg->name);
	h->max_body = cfg->limits.max_http_body;
	h->login_per_minute = cfg->limits.login_per_minute ? cfg->limits.login_per_minute : 10;
	h->writes_per_minute = cfg->limits.writes_per_minute ? cfg->limits.writes_per_minute : 600;
	h->writes_burst = cfg->limits.writes_burst ? cfg->limits.writes_burst : 120;
	h->hsts_max_age = cfg->tls.hsts_max_age;
	h->max_file_mb = cfg->limits.max_file_mb ? cfg->limits.max_file_mb : 100;
	h->max_blobs_gb = cfg->limits.max_blobs_gb ? cfg->limits.max_blobs_gb : 100;
	h->unposted_ttl = cfg->limits.unposted_ttl ? cfg->limits.unposted_ttl : 86400;
	atomic_init(&h->stopping, 0);
	pthread_mutex_init(&h->rl_lock, NULL);
	pthread_mutex_init(&h->fig_lock, NULL);
	if (http_guard_start(h, cfg, err, errlen) != 0) {
		http_stop(&h);
		return NULL;
	}
	s_bind_name(h, cfg->http);
	if (http_tls_setup(h, cfg, &ss, err, errlen) != 0) {
		http_stop(&h);
		return NULL;
	}
	/* Limits are ours (http_guard.c): libmicrohttpd's per-address cap
	 * cannot spare a reverse proxy, and its timeout restarts on every
	 * byte. Its own total stays as a backstop. */
	opt[no++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
	opt[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, h->max_conns, NULL};
	opt[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
	                                    (intptr_t)(h->deadline_ms / 1000), NULL};
	opt[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, 128 * 1024, NULL};
	opt[no++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)s_completed, h};
	opt[no++] =
	    (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)http_guard_notify, h};
	opt[no++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)s_mhd_log, h};
	/* Strict: a Host header in HTTP/1.1, no space in the request target. */
	opt[no++] = (struct MHD_OptionItem){MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL};
	if (h->tls) {
		flags |= MHD_USE_TLS;
		opt[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert};
		opt[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key};
		opt[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
		                                    (void *)http_tls_priorities()};
	}
	opt[no++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	h->mhd = MHD_start_daemon(flags, 0, http_guard_accept, h, s_access, h, MHD_OPTION_ARRAY,
	                          opt, MHD_OPTION_END);
	if (h->mhd == NULL) {
		snprintf(err, errlen, "http: cannot listen on %s: %s", cfg->http,
		         errno ? strerror(errno) : "libmicrohttpd refused");
		http_stop(&h);
		return NULL;
	}
	di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di ? di->port : 0;
	if (http_tls_redirect_start(h, cfg, err, errlen) != 0) {
		http_stop(&h);
		return NULL;
	}
	{
		/* The address as configured, with the port bound (it may say 0). */
		const char *colon = strrchr(cfg->http, ':');
		int hostlen = colon ? (int)(colon - cfg->http) : (int)strlen(cfg->http);
		log_info("http", "listening on %s://%.*s:%u", h->tls ? "https" : "http", hostlen,
		         cfg->http, h->port);
	}
	return h;
}

void
http_stop(http_t **self_p)
{
	http_t *h = *self_p;

	if (h == NULL)
		return;
	/* Streams see the flag within SSE_WAIT_MS; MHD then joins their threads. */
	atomic_store(&h->stopping, 1);
	if (h->redirect)
		MHD_stop_daemon(h->redirect);
	if (h->mhd)
		MHD_stop_daemon(h->mhd);
	http_guard_stop(h);
	http_tls_free(h);
	pthread_mutex_destroy(&h->rl_lock);
	pthread_mutex_destroy(&h->fig_lock);
	for (size_t i = 0; i < HTTP_FIG_SLOTS; i++)
		json_decref(h->fig[i].json);
	free(h->rl);
	free(h);
	*self_p = NULL;
}

void
http_set_blobs(http_t *h, blob_store_t *bs)
{
	h->bs = bs;
}

unsigned
http_port(const http_t *h)
{
	return h ? h->port : 0;
}
