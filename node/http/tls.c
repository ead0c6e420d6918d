/*
 * HTTPS for the HTTP server: the certificate and key named in the config,
 * checked with GnuTLS (the library libmicrohttpd serves TLS with) so that a
 * bad file is a clear error at start and in `run --check`; the rule that
 * plain HTTP is for loopback only; and the optional plain port that sends
 * browsers to HTTPS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sodium.h>

#include "node/http/http_internal.h"

#define TLS_MAX_FILE  (1u << 20) /* a certificate chain or key larger than this is refused */
#define TLS_WARN_DAYS 30         /* warn when the certificate expires sooner */
/* TLS 1.2 and 1.3 only: every browser of the last decade speaks them. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* "file:line:col: " for a value of the config, or "file: " without one. */
static void s_at(char *err, size_t errlen, const cfg_t *cfg, cfg_pos_t pos, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
s_at(char *err, size_t errlen, const cfg_t *cfg, cfg_pos_t pos, const char *fmt, ...)
{
	const char *file = cfg->path[0] ? cfg->path : "comptoir.yaml";
	va_list ap;
	int n;

	if (pos.line)
		n = snprintf(err, errlen, "%s:%u:%u: ", file, pos.line, pos.col);
	else
		n = snprintf(err, errlen, "%s: ", file);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* A path of the config: relative ones are relative to the config's folder. */
static void
s_resolve(char *out, size_t outlen, const cfg_t *cfg, const char *path)
{
	char dir[CFG_MAX_STR];

	if (path[0] == '/' || cfg->path[0] == 0) {
		snprintf(out, outlen, "%s", path);
		return;
	}
	snprintf(dir, sizeof(dir), "%s", cfg->path);
	snprintf(out, outlen, "%s/%s", dirname(dir), path);
}

/* Reads a whole file of at most TLS_MAX_FILE bytes, NUL-terminated. 0, or
 * -1 with errno (EFBIG when too large). */
static int
s_read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	*out = NULL;
	if (f == NULL)
		return -1;
	if ((buf = malloc(TLS_MAX_FILE + 1)) == NULL) {
		fclose(f);
		errno = ENOMEM;
		return -1;
	}
	n = fread(buf, 1, TLS_MAX_FILE + 1, f);
	if (ferror(f) || n > TLS_MAX_FILE) {
		int e = ferror(f) ? errno : EFBIG;
		fclose(f);
		sodium_memzero(buf, TLS_MAX_FILE + 1);
		free(buf);
		errno = e;
		return -1;
	}
	fclose(f);
	buf[n] = 0;
	*out = buf;
	*len = n;
	return 0;
}

static void
s_free_secret(char **p)
{
	if (*p) {
		sodium_memzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

static int
s_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const uint8_t *)&((const struct sockaddr_in *)(const void *)ss)
		            ->sin_addr)[0] == 127;
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

/* Does the certificate cover name? (The names of h came from it.) */
static int
s_cert_covers(char names[][CFG_MAX_STR], size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		const char *p = names[i];
		if (strcmp(p, name) == 0)
			return 1;
		if (p[0] == '*' && p[1] == '.' && strchr(name, '.') &&
		    strcmp(strchr(name, '.') + 1, p + 2) == 0)
			return 1;
	}
	return 0;
}

/* What the certificate says of itself that staff would meet: its dates and
 * its names. Warnings only: the node still starts. */
static void
s_cert_notes(http_t *h, const cfg_t *cfg, gnutls_x509_crt_t crt, const char *path)
{
	char names[HTTP_MAX_NAMES][CFG_MAX_STR];
	size_t n = 0;
	time_t now = time(NULL), until = gnutls_x509_crt_get_expiration_time(crt),
	       from = gnutls_x509_crt_get_activation_time(crt);
	char day[32];

	if (until != (time_t)-1) {
		strftime(day, sizeof(day), "%Y-%m-%d", gmtime(&until));
		if (until < now)
			log_warnx("http", "tls.cert %s expired on %s: browsers refuse it", path,
			          day);
		else if (until < now + TLS_WARN_DAYS * 86400)
			log_warnx("http", "tls.cert %s expires on %s: renew it", path, day);
	}
	if (from != (time_t)-1 && from > now) {
		strftime(day, sizeof(day), "%Y-%m-%d", gmtime(&from));
		log_warnx("http", "tls.cert %s is not valid before %s (is the clock right?)", path,
		          day);
	}
	for (unsigned seq = 0; n < HTTP_MAX_NAMES; seq++) {
		char buf[CFG_MAX_STR];
		size_t len = sizeof(buf) - 1;
		unsigned critical;
		int type = gnutls_x509_crt_get_subject_alt_name(crt, seq, buf, &len, &critical);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type != GNUTLS_SAN_DNSNAME || len == 0 || len >= sizeof(buf) ||
		    memchr(buf, 0, len) != NULL)
			continue;
		buf[len] = 0;
		for (char *c = buf; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		snprintf(names[n++], CFG_MAX_STR, "%s", buf);
		/* The names the certificate was made for are names staff use. */
		http_guard_add_name(h, buf);
	}
	if (n == 0)
		log_warnx(
		    "http",
		    "tls.cert %s names no host (no DNS subject alternative name): browsers will "
		    "warn for every name",
		    path);
	for (size_t i = 0; i < cfg->n_http_names; i++)
		if (n > 0 && !s_cert_covers(names, n, cfg->http_names[i]))
			log_warnx(
			    "http",
			    "http_names has %s, which tls.cert %s does not name: browsers will "
			    "warn there",
			    cfg->http_names[i], path);
}

/* Loads and checks tls.cert and tls.key into h. */
static int
s_load(http_t *h, const cfg_t *cfg, char *err, size_t errlen)
{
	char cpath[CFG_MAX_STR * 2 + 2], kpath[CFG_MAX_STR * 2 + 2];
	char *cpem = NULL, *kpem = NULL;
	size_t clen = 0, klen = 0;
	gnutls_x509_crt_t *crts = NULL;
	unsigned ncrt = 0;
	gnutls_x509_privkey_t key = NULL;
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_datum_t cd, kd;
	struct stat st;
	int rc, ret = -1;

	s_resolve(cpath, sizeof(cpath), cfg, cfg->tls.cert);
	s_resolve(kpath, sizeof(kpath), cfg, cfg->tls.key);
	if (s_read_file(cpath, &cpem, &clen) != 0) {
		s_at(err, errlen, cfg, cfg->tls.cert_at, "tls.cert: cannot read %s: %s", cpath,
		     errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
		goto out;
	}
	if (s_read_file(kpath, &kpem, &klen) != 0) {
		s_at(err, errlen, cfg, cfg->tls.key_at, "tls.key: cannot read %s: %s", kpath,
		     errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
		goto out;
	}
	if (stat(kpath, &st) == 0 && (st.st_mode & S_IROTH)) {
		s_at(err, errlen, cfg, cfg->tls.key_at,
		     "tls.key: %s is readable by every user of this machine: chmod o-r it (0600, "
		     "or 0640 for a group such as ssl-cert)",
		     kpath);
		goto out;
	}
	cd.data = (unsigned char *)cpem;
	cd.size = (unsigned)clen;
	kd.data = (unsigned char *)kpem;
	kd.size = (unsigned)klen;
	if ((rc = gnutls_x509_crt_list_import2(&crts, &ncrt, &cd, GNUTLS_X509_FMT_PEM, 0)) < 0 ||
	    ncrt == 0) {
		s_at(err, errlen, cfg, cfg->tls.cert_at,
		     "tls.cert: %s holds no PEM certificate (-----BEGIN CERTIFICATE-----): %s",
		     cpath, gnutls_strerror(rc < 0 ? rc : GNUTLS_E_NO_CERTIFICATE_FOUND));
		goto out;
	}
	if ((rc = gnutls_x509_privkey_init(&key)) < 0 ||
	    (rc = gnutls_x509_privkey_import2(key, &kd, GNUTLS_X509_FMT_PEM, NULL,
	                                      GNUTLS_PKCS_PLAIN)) < 0) {
		if (strstr(kpem, "ENCRYPTED") != NULL)
			s_at(err, errlen, cfg, cfg->tls.key_at,
			     "tls.key: %s is encrypted: the node needs it unencrypted, readable by "
			     "its user only (openssl pkey -in %s -out NEW.key)",
			     kpath, kpath);
		else
			s_at(err, errlen, cfg, cfg->tls.key_at,
			     "tls.key: %s holds no PEM private key: %s", kpath,
			     gnutls_strerror(rc));
		goto out;
	}
	/* What libmicrohttpd will do with the two: a key that is not the
	 * certificate's fails here, with its name. */
	if ((rc = gnutls_certificate_allocate_credentials(&cred)) < 0 ||
	    (rc = gnutls_certificate_set_x509_key_mem2(cred, &cd, &kd, GNUTLS_X509_FMT_PEM, NULL,
	                                               0)) < 0) {
		if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
			s_at(err, errlen, cfg, cfg->tls.key_at,
			     "tls.key: %s is not the key of the certificate in %s", kpath, cpath);
		else
			s_at(err, errlen, cfg, cfg->tls.cert_at,
			     "tls.cert: %s and %s cannot be used together: %s", cpath, kpath,
			     gnutls_strerror(rc));
		goto out;
	}
	s_cert_notes(h, cfg, crts[0], cpath);
	h->tls_cert = cpem;
	h->tls_key = kpem;
	cpem = kpem = NULL;
	ret = 0;
out:
	if (cred)
		gnutls_certificate_free_credentials(cred);
	if (key)
		gnutls_x509_privkey_deinit(key);
	for (unsigned i = 0; i < ncrt; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	s_free_secret(&cpem);
	s_free_secret(&kpem);
	return ret;
}

int
http_tls_setup(http_t *h, const cfg_t *cfg, const struct sockaddr_storage *ss, char *err,
               size_t errlen)
{
	if (cfg->tls.cert[0]) {
		if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
			s_at(err, errlen, cfg, cfg->tls.at,
			     "tls: this libmicrohttpd was built without TLS");
			return -1;
		}
		if (s_load(h, cfg, err, errlen) != 0)
			return -1;
		h->tls = 1;
		return 0;
	}
	if (s_is_loopback(ss))
		return 0;
	if (cfg->insecure_plain_http) {
		log_warnx(
		    "http",
		    "insecure_plain_http: serving plain HTTP on %s, which is not loopback: "
		    "passwords and session cookies cross the network in clear (for an isolated "
		    "test network only; see docs/OPERATIONS.md, HTTPS)",
		    cfg->http);
		return 0;
	}
	if (cfg->n_proxies > 0) {
		/* Behind a reverse proxy that speaks HTTPS to browsers: nobody else
		 * may reach the plain port. */
		h->plain_restricted = 1;
		log_info("http", "plain HTTP on %s for loopback and trusted_proxies only",
		         cfg->http);
		return 0;
	}
	s_at(err, errlen, cfg, cfg->http_at,
	     "http: %s is not a loopback address and no tls is configured: passwords and session "
	     "cookies would cross the network in clear: set tls.cert and tls.key "
	     "(docs/OPERATIONS.md, HTTPS), or bind 127.0.0.1 behind a reverse proxy listed in "
	     "trusted_proxies",
	     cfg->http);
	return -1;
}

void
http_tls_free(http_t *h)
{
	s_free_secret(&h->tls_cert);
	s_free_secret(&h->tls_key);
}

int
http_check(const cfg_t *cfg, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	char perr[256];
	http_t *h;
	int rc = 0;

	if (http_parse_bind(cfg->http, &ss, perr, sizeof(perr)) != 0) {
		s_at(err, errlen, cfg, cfg->http_at, "%s", perr);
		return CPT_ECONFIG;
	}
	if (cfg->tls.redirect_http[0] &&
	    http_parse_bind(cfg->tls.redirect_http, &ss, perr, sizeof(perr)) != 0) {
		s_at(err, errlen, cfg, cfg->tls.redirect_at, "tls.redirect_http: %s",
		     perr + strlen("http: "));
		return CPT_ECONFIG;
	}
	http_parse_bind(cfg->http, &ss, perr, sizeof(perr));
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return CPT_ENOMEM;
	}
	if (http_tls_setup(h, cfg, &ss, err, errlen) != 0)
		rc = CPT_ECONFIG;
	http_tls_free(h);
	free(h);
	return rc;
}

/* ------------------------------------------------------------- redirect */

/* Percent-encodes what is not safe in a Location path; "/" when too long. */
static void
s_escape_path(char *out, size_t outlen, const char *url)
{
	static const char safe[] = "-._~/!$&'()*+,;=:@";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
		if (o + 4 >= outlen) {
			snprintf(out, outlen, "/");
			return;
		}
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr(safe, *p))
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, outlen - o, "%%%02X", *p);
	}
	out[o] = 0;
	if (out[0] != '/')
		snprintf(out, outlen, "/");
}

static enum MHD_Result
s_redirect_reply(struct MHD_Connection *c, unsigned status, const char *location, const char *error)
{
	struct MHD_Response *resp;
	enum MHD_Result ok;
	char body[320];

	snprintf(body, sizeof(body), "{\"error\":\"%s\"}", error ? error : "use https");
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (location)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ok = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ok;
}

/* Every request on the plain port: 308 to the same path on https, for a Host
 * this node answers to (never a redirect to a name an attacker chose). */
static enum MHD_Result
s_redirect_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	http_t *h = cls;
	char name[CFG_MAX_STR], path[2048], location[CFG_MAX_STR + sizeof(path) + 16];
	const char *why;
	unsigned status;

	if (!http_guard_host(h, c, name, sizeof(name), &why, &status))
		return s_redirect_reply(
		    c, status, NULL, status == 421 ? "unknown host name" : "malformed Host header");
	s_escape_path(path, sizeof(path), url);
	if (h->port == 443)
		snprintf(location, sizeof(location), "https://%s%s", name, path);
	else
		snprintf(location, sizeof(location), "https://%s:%u%s", name, h->port, path);
	return s_redirect_reply(c, 308, location, NULL);
}

static void
s_redirect_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                     enum MHD_RequestTerminationCode toe)
{
	http_guard_done(c);
}

int
http_tls_redirect_start(http_t *h, const cfg_t *cfg, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *di;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
	                 MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;

	if (cfg->tls.redirect_http[0] == 0)
		return 0;
	if (http_parse_bind(cfg->tls.redirect_http, &ss, err, errlen) != 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->redirect = MHD_start_daemon(
	    flags, 0, http_guard_accept, h, s_redirect_access, h, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, h->max_conns,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(h->deadline_ms / 1000),
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024), MHD_OPTION_NOTIFY_CONNECTION,
	    http_guard_notify, h, MHD_OPTION_NOTIFY_COMPLETED, s_redirect_completed, h,
	    MHD_OPTION_STRICT_FOR_CLIENT, (int)1, MHD_OPTION_END);
	if (h->redirect == NULL) {
		snprintf(err, errlen, "http: cannot listen on %s (tls.redirect_http): %s",
		         cfg->tls.redirect_http, errno ? strerror(errno) : "libmicrohttpd refused");
		return -1;
	}
	di = MHD_get_daemon_info(h->redirect, MHD_DAEMON_INFO_BIND_PORT);
	h->redirect_port = di ? di->port : 0;
	log_info("http", "redirecting plain HTTP on %s port %u to https", cfg->tls.redirect_http,
	         h->redirect_port);
	return 0;
}

const char *
http_tls_priorities(void)
{
	return TLS_PRIORITIES;
}
