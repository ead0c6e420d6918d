/*
 * Loads the node's YAML configuration into a cfg_t with libyaml's event API,
 * in two passes over the same bytes: the first checks the shape of the stream,
 * the second walks the schema. Every error says "file:line:column: problem".
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "config/config.h"

/* One loading of one buffer. */
typedef struct loader {
	yaml_parser_t parser;     /* libyaml event parser over buf */
	yaml_event_t ev;          /* the current event, valid while have_ev */
	int have_ev;              /* ev must be deleted before the next parse */
	const unsigned char *buf; /* the input, to place reader errors */
	size_t len;               /* its length in bytes */
	const char *name;         /* file name used in messages */
	char *err;                /* CFG_ERR_LEN bytes for the message */
	cfg_t *cfg;               /* what the second pass fills */
} loader_t;

/*
 * A key of a mapping. One table type serves every mapping so that unknown,
 * duplicate and missing keys are found by one function (s_mapping).
 */
typedef struct key_spec {
	const char *name; /* the key as written in the file */
	int required;     /* its absence is an error */
	size_t off;       /* integer keys: offset of the uint32_t in the target */
	uint32_t min;     /* integer keys: smallest value accepted */
	uint32_t max;     /* integer keys: largest value accepted */
} key_spec_t;

typedef int (*value_fn)(loader_t *ld, const key_spec_t *spec, int k, void *arg);

/* The schema, one key per line (kept out of clang-format, which packs tables). */
/* clang-format off */
enum { K_NAME, K_DATA_DIR, K_HTTP, K_LISTEN, K_ROOT_KEY, K_LOG_LEVEL, K_PEERS, K_LIMITS, K_SYNC,
       K_HTTP_NAMES, K_PROXIES, K_TLS, K_INSECURE, K_MAIL, K_WEBHOOKS };
static const key_spec_t s_top_keys[] = {
	{"name",      1, 0, 0, 0},
	{"data_dir",  1, 0, 0, 0},
	{"http",      1, 0, 0, 0},
	{"listen",    0, 0, 0, 0},
	{"root_key",  0, 0, 0, 0},
	{"log_level", 0, 0, 0, 0},
	{"peers",     0, 0, 0, 0},
	{"limits",    0, 0, 0, 0},
	{"sync",      0, 0, 0, 0},
	{"http_names",          0, 0, 0, 0},
	{"trusted_proxies",     0, 0, 0, 0},
	{"tls",                 0, 0, 0, 0},
	{"insecure_plain_http", 0, 0, 0, 0},
	{"mail",                0, 0, 0, 0},
	{"webhooks",            0, 0, 0, 0},
};

enum { K_ENDPOINT, K_SITE_KEY };
static const key_spec_t s_peer_keys[] = {
	{"endpoint", 1, 0, 0, 0},
	{"site_key", 1, 0, 0, 0},
};

#define LIMIT(n, lo, hi) {#n, 0, offsetof(cfg_limits_t, n), lo, hi}
static const key_spec_t s_limit_keys[] = {
	LIMIT(max_body, 256, 65536),
	LIMIT(max_pending, 0, 10000000),
	LIMIT(max_http_body, 1024, 1048576),
	LIMIT(max_sessions, 1, 100000),
	LIMIT(session_ttl, 60, 30 * 86400),
	LIMIT(sessions_per_person, 1, 1000),
	LIMIT(login_per_minute, 1, 1000),
	LIMIT(max_msg, 1048576, 64 * 1048576),
	LIMIT(max_connections, 16, 10000),
	LIMIT(max_connections_per_address, 1, 10000),
	LIMIT(request_timeout, 2, 3600),
	LIMIT(max_streams_per_person, 1, 1000),
	LIMIT(writes_per_minute, 1, 100000),
	LIMIT(writes_burst, 1, 100000),
	LIMIT(max_file_mb, 1, 8192),
	LIMIT(max_blobs_gb, 1, 1000000),
	LIMIT(fetch_max_mb, 1, 8192),
	LIMIT(unposted_ttl, 1, 31536000),
};
#undef LIMIT

enum { K_TLS_CERT, K_TLS_KEY, K_TLS_REDIRECT, K_TLS_HSTS };
static const key_spec_t s_tls_keys[] = {
	{"cert",          0, 0, 0, 0},
	{"key",           0, 0, 0, 0},
	{"redirect_http", 0, 0, 0, 0},
	{"hsts_max_age",  0, offsetof(cfg_tls_t, hsts_max_age), 0, 2 * 31536000},
};

#define SYNC(n, lo, hi) {#n, 0, offsetof(cfg_sync_t, n), lo, hi}
static const key_spec_t s_sync_keys[] = {
	SYNC(reconcile_interval, 1, 86400),
	SYNC(heartbeat_ms, 100, 60000),
	SYNC(file_rate_kb, 0, 4000000),
	SYNC(refused_log_s, 1, 3600),
};
#undef SYNC

enum { K_MAIL_RELAY, K_MAIL_FROM, K_MAIL_BASE, K_MAIL_USER, K_MAIL_PWFILE, K_MAIL_DAILY,
       K_MAIL_WEEKLY, K_MAIL_RETRY_MIN, K_MAIL_RETRY_MAX, K_MAIL_IMMEDIATE, K_MAIL_REPORT_DAY };
#define MAILN(n, lo, hi) {#n, 0, offsetof(cfg_mail_t, n), lo, hi}
static const key_spec_t s_mail_keys[] = {
	{"relay",         1, 0, 0, 0},
	{"from",          1, 0, 0, 0},
	{"base_url",      1, 0, 0, 0},
	{"user",          0, 0, 0, 0},
	{"password_file", 0, 0, 0, 0},
	MAILN(daily_hour, 0, 23),
	MAILN(weekly_day, 1, 7),
	MAILN(retry_min, 1, 3600),
	MAILN(retry_max, 1, 86400),
	MAILN(immediate_every, 1, 3600),
	MAILN(report_day, 0, 28),
};
#undef MAILN

#define HOOKN(n, lo, hi) {#n, 0, offsetof(cfg_hooks_t, n), lo, hi}
static const key_spec_t s_hooks_keys[] = {
	HOOKN(retry_min, 1, 3600),
	HOOKN(retry_max, 1, 86400),
	HOOKN(max_failures, 1, 1000),
	HOOKN(timeout, 1, 60),
	HOOKN(give_up, 60, 30 * 86400),
};
#undef HOOKN
/* clang-format on */

#define NKEYS(t) ((int)(sizeof(t) / sizeof((t)[0])))

static const char *const s_level_names[] = {"error", "warn", "info", "debug"};

void
cfg_defaults(cfg_t *cfg)
{
	assert(cfg != NULL);
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->name, sizeof(cfg->name), "comptoir");
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "./var");
	snprintf(cfg->listen, sizeof(cfg->listen), "tcp://127.0.0.1:7400");
	snprintf(cfg->http, sizeof(cfg->http), "127.0.0.1:8080");
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->limits.max_body = 65536;
	cfg->limits.max_pending = 100000;
	cfg->limits.max_http_body = 262144;
	cfg->limits.max_sessions = 10000;
	cfg->limits.session_ttl = 86400;
	cfg->limits.sessions_per_person = 16;
	cfg->limits.login_per_minute = 10;
	cfg->limits.max_msg = 4194304;
	cfg->limits.max_connections = 512;
	cfg->limits.max_connections_per_address = 16;
	cfg->limits.request_timeout = 30;
	cfg->limits.max_streams_per_person = 8;
	cfg->limits.writes_per_minute = 600;
	cfg->limits.writes_burst = 120;
	cfg->limits.max_file_mb = 100;
	cfg->limits.max_blobs_gb = 100;
	cfg->limits.fetch_max_mb = 256;
	cfg->limits.unposted_ttl = 86400;
	cfg->tls.hsts_max_age = 31536000;
	cfg->sync.reconcile_interval = 60;
	cfg->sync.refused_log_s = 60;
	cfg->sync.heartbeat_ms = 1000;
	cfg->mail.daily_hour = 7;
	cfg->mail.weekly_day = 1;
	cfg->mail.retry_min = 60;
	cfg->mail.retry_max = 3600;
	cfg->mail.immediate_every = 60;
	cfg->hooks.retry_min = 10;
	cfg->hooks.retry_max = 3600;
	cfg->hooks.max_failures = 50;
	cfg->hooks.timeout = 10;
	cfg->hooks.give_up = 3 * 86400;
	cfg->mail.report_day = 1;
}

int
cfg_log_level_parse(enum cfg_log_level *out, const char *s)
{
	assert(out != NULL);
	if (s == NULL)
		return CPT_EINVAL;
	for (int i = 0; i < NKEYS(s_level_names); i++) {
		if (strcmp(s, s_level_names[i]) == 0) {
			*out = (enum cfg_log_level)i;
			return 0;
		}
	}
	return CPT_EINVAL;
}

/* ---------------------------------------------------------------- errors */

static int s_error(loader_t *ld, size_t line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int s_error_at(loader_t *ld, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
s_verror(loader_t *ld, size_t line, size_t col, const char *fmt, va_list ap)
{
	int n = snprintf(ld->err, CFG_ERR_LEN, "%s:%zu:%zu: ", ld->name, line, col);

	if (n >= 0 && n < CFG_ERR_LEN)
		vsnprintf(ld->err + n, CFG_ERR_LEN - (size_t)n, fmt, ap);
	return CPT_ECONFIG;
}

static int
s_error(loader_t *ld, size_t line, size_t col, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = s_verror(ld, line, col, fmt, ap);
	va_end(ap);
	return rc;
}

/* libyaml marks are 0-based; messages are 1-based like every editor. */
static int
s_error_at(loader_t *ld, yaml_mark_t m, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = s_verror(ld, m.line + 1, m.column + 1, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * Copies a scalar for a message: keys come from the file and may hold NUL
 * bytes, control characters or terminal escapes, so those become \xNN, and a
 * long one is cut so that the position and the problem stay readable.
 */
static void
s_quote(char *out, size_t outsz, const unsigned char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (o + 8 >= outsz) {
			snprintf(out + o, outsz - o, "...");
			return;
		}
		if (s[i] < 0x20 || s[i] == 0x7f || s[i] == '"' || s[i] == '\\')
			o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", s[i]);
		else
			out[o++] = (char)s[i];
	}
	out[o] = '\0';
}

/* Line and column of a byte offset: reader errors come with an offset only. */
static int s_error_offset(loader_t *ld, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
s_error_offset(loader_t *ld, size_t off, const char *fmt, ...)
{
	size_t line = 1, col = 1;
	va_list ap;
	int rc;

	if (off > ld->len)
		off = ld->len;
	for (size_t i = 0; i < off; i++) {
		if (ld->buf[i] == '\n') {
			line++;
			col = 1;
		} else if ((ld->buf[i] & 0xc0) != 0x80) {
			col++; /* columns count characters, as libyaml's marks do */
		}
	}
	va_start(ap, fmt);
	rc = s_verror(ld, line, col, fmt, ap);
	va_end(ap);
	return rc;
}

/* The parser failed: report its problem where it found it. */
static int
s_parse_error(loader_t *ld)
{
	const yaml_parser_t *p = &ld->parser;
	const char *problem = p->problem != NULL ? p->problem : "unknown error";

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		snprintf(ld->err, CFG_ERR_LEN, "%s: out of memory", ld->name);
		return CPT_ENOMEM;
	case YAML_READER_ERROR:
		/* A raw NUL byte is the usual case; name it plainly. */
		if (p->problem_value == 0)
			return s_error_offset(ld, p->problem_offset, "NUL bytes are not allowed");
		if (p->problem_value != -1)
			return s_error_offset(ld, p->problem_offset, "invalid input: %s (0x%02x)",
			                      problem, (unsigned)p->problem_value);
		return s_error_offset(ld, p->problem_offset, "invalid input: %s", problem);
	default:
		if (p->context != NULL)
			return s_error_at(ld, p->problem_mark, "syntax error: %s (%s at line %zu)",
			                  problem, p->context, p->context_mark.line + 1);
		return s_error_at(ld, p->problem_mark, "syntax error: %s", problem);
	}
}

/* ---------------------------------------------------------------- pass 1 */

/* Anchors make shared nodes and cycles (PITFALLS 16); tags change types. */
static int
s_check_node(loader_t *ld, const yaml_event_t *ev, const yaml_char_t *anchor,
             const yaml_char_t *tag)
{
	if (anchor != NULL)
		return s_error_at(ld, ev->start_mark, "anchors and aliases are not allowed");
	if (tag != NULL)
		return s_error_at(ld, ev->start_mark, "tags are not allowed");
	return 0;
}

/*
 * The shape of the stream, before any meaning: syntax, exactly one document
 * whose top is a mapping, no anchor, alias or tag, depth at most
 * CFG_MAX_DEPTH. Stopping at the first deep level also keeps libyaml away
 * from its quadratic time on deep nesting (PITFALLS 15).
 */
static int
s_check_stream(loader_t *ld)
{
	yaml_event_t ev;
	int depth = 0, docs = 0, top = 0, rc = 0;

	for (;;) {
		if (!yaml_parser_parse(&ld->parser, &ev))
			return s_parse_error(ld);
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			yaml_event_delete(&ev);
			if (docs == 0)
				return s_error(ld, 1, 1, "the file is empty");
			return 0;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				rc = s_error_at(ld, ev.start_mark, "more than one document");
			else if (ev.data.document_start.tag_directives.start !=
			         ev.data.document_start.tag_directives.end)
				rc = s_error_at(ld, ev.start_mark, "tags are not allowed");
			top = 1;
			break;
		case YAML_ALIAS_EVENT:
			rc = s_error_at(ld, ev.start_mark, "anchors and aliases are not allowed");
			break;
		case YAML_SCALAR_EVENT:
			rc = s_check_node(ld, &ev, ev.data.scalar.anchor, ev.data.scalar.tag);
			if (rc == 0 && top)
				rc = s_error_at(ld, ev.start_mark,
				                "the top level must be a mapping");
			break;
		case YAML_SEQUENCE_START_EVENT:
			rc = s_check_node(ld, &ev, ev.data.sequence_start.anchor,
			                  ev.data.sequence_start.tag);
			if (rc == 0 && top)
				rc = s_error_at(ld, ev.start_mark,
				                "the top level must be a mapping");
			if (rc == 0 && ++depth > CFG_MAX_DEPTH)
				rc = s_error_at(ld, ev.start_mark,
				                "nesting is deeper than %d levels", CFG_MAX_DEPTH);
			break;
		case YAML_MAPPING_START_EVENT:
			rc = s_check_node(ld, &ev, ev.data.mapping_start.anchor,
			                  ev.data.mapping_start.tag);
			top = 0;
			if (rc == 0 && ++depth > CFG_MAX_DEPTH)
				rc = s_error_at(ld, ev.start_mark,
				                "nesting is deeper than %d levels", CFG_MAX_DEPTH);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT: depth--; break;
		default: break;
		}
		yaml_event_delete(&ev);
		if (rc != 0)
			return rc;
	}
}

/* ---------------------------------------------------------------- pass 2 */

static int
s_next(loader_t *ld)
{
	if (ld->have_ev) {
		yaml_event_delete(&ld->ev);
		ld->have_ev = 0;
	}
	if (!yaml_parser_parse(&ld->parser, &ld->ev))
		return s_parse_error(ld);
	ld->have_ev = 1;
	return 0;
}

/*
 * The current event as a string of at most CFG_MAX_STR - 1 bytes, copied to
 * out with its NUL. Lengths come from libyaml, never strlen: a "\0" escape
 * puts a NUL inside a scalar (PITFALLS 17).
 */
static int
s_string(loader_t *ld, const char *key, char out[CFG_MAX_STR])
{
	const unsigned char *v;
	size_t len;

	if (ld->ev.type != YAML_SCALAR_EVENT)
		return s_error_at(ld, ld->ev.start_mark, "\"%s\" must be a string", key);
	v = ld->ev.data.scalar.value;
	len = ld->ev.data.scalar.length;
	if (memchr(v, '\0', len) != NULL)
		return s_error_at(ld, ld->ev.start_mark, "\"%s\" must not contain a NUL byte", key);
	for (size_t i = 0; i < len; i++)
		if (v[i] < 0x20 || v[i] == 0x7f)
			return s_error_at(ld, ld->ev.start_mark,
			                  "\"%s\" must not contain control characters", key);
	if (len >= CFG_MAX_STR)
		return s_error_at(ld, ld->ev.start_mark, "\"%s\" is longer than %d bytes", key,
		                  CFG_MAX_STR - 1);
	memcpy(out, v, len);
	out[len] = '\0';
	return 0;
}

/*
 * A plain decimal scalar within [min, max]. Quoted scalars are strings to a
 * YAML reader, and a leading zero means octal in YAML 1.1: both are refused
 * rather than guessed. A negative or huge number is an integer out of range.
 */
static int
s_uint(loader_t *ld, const char *key, uint32_t min, uint32_t max, uint32_t *out)
{
	const unsigned char *v;
	size_t len, i = 0;
	uint64_t n = 0;
	int neg = 0;

	if (ld->ev.type != YAML_SCALAR_EVENT || ld->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return s_error_at(ld, ld->ev.start_mark, "expected an integer for \"%s\"", key);
	v = ld->ev.data.scalar.value;
	len = ld->ev.data.scalar.length;
	if (len > 0 && v[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (i == len)
		return s_error_at(ld, ld->ev.start_mark, "expected an integer for \"%s\"", key);
	for (size_t j = i; j < len; j++) {
		if (v[j] < '0' || v[j] > '9')
			return s_error_at(ld, ld->ev.start_mark, "expected an integer for \"%s\"",
			                  key);
		if (n <= UINT32_MAX) /* stays far from overflow; anything above is out of range */
			n = n * 10 + (uint64_t)(v[j] - '0');
	}
	if (v[i] == '0' && len - i > 1)
		return s_error_at(ld, ld->ev.start_mark, "\"%s\" must not have leading zeros", key);
	if (neg || n < min || n > max)
		return s_error_at(ld, ld->ev.start_mark, "\"%s\" must be between %u and %u", key,
		                  (unsigned)min, (unsigned)max);
	*out = (uint32_t)n;
	return 0;
}

/*
 * The current event is a MAPPING_START: reads keys until its end, refusing
 * unknown and duplicate keys at the key's position, and calls fn with the
 * value as the current event. Missing required keys are reported at the
 * mapping's position. Returns with MAPPING_END as the current event.
 */
static int
s_mapping(loader_t *ld, const key_spec_t *specs, int nspecs, value_fn fn, void *arg)
{
	yaml_mark_t start = ld->ev.start_mark;
	uint32_t seen = 0;
	char quoted[80];
	int rc, k;

	assert(nspecs <= 32);
	for (;;) {
		if ((rc = s_next(ld)) != 0)
			return rc;
		if (ld->ev.type == YAML_MAPPING_END_EVENT)
			break;
		if (ld->ev.type != YAML_SCALAR_EVENT)
			return s_error_at(ld, ld->ev.start_mark, "a key must be a string");
		for (k = 0; k < nspecs; k++)
			if (ld->ev.data.scalar.length == strlen(specs[k].name) &&
			    memcmp(ld->ev.data.scalar.value, specs[k].name,
			           ld->ev.data.scalar.length) == 0)
				break;
		if (k == nspecs) {
			s_quote(quoted, sizeof(quoted), ld->ev.data.scalar.value,
			        ld->ev.data.scalar.length);
			return s_error_at(ld, ld->ev.start_mark, "unknown key \"%s\"", quoted);
		}
		/* libyaml keeps duplicates silently; the last would win (PITFALLS 17) */
		if (seen & (1u << k))
			return s_error_at(ld, ld->ev.start_mark, "duplicate key \"%s\"",
			                  specs[k].name);
		seen |= 1u << k;
		if ((rc = s_next(ld)) != 0)
			return rc;
		if ((rc = fn(ld, &specs[k], k, arg)) != 0)
			return rc;
	}
	for (k = 0; k < nspecs; k++)
		if (specs[k].required && !(seen & (1u << k)))
			return s_error_at(ld, start, "missing required key \"%s\"", specs[k].name);
	return 0;
}

/* A value of a mapping of integers (limits, sync); arg is the target struct. */
static int
s_int_value(loader_t *ld, const key_spec_t *spec, int k, void *arg)
{
	return s_uint(ld, spec->name, spec->min, spec->max,
	              (uint32_t *)(void *)((char *)arg + spec->off));
}

static int
s_name_ok(const char *s)
{
	size_t len = strlen(s);

	if (len < 1 || len > 63 || *s == '-')
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return 0;
	return 1;
}

/* A DNS name: dot-separated labels of [A-Za-z0-9-], no hyphen at either end. */
static int
s_hostname_ok(const char *h, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? h[i] : '.';

		if (c == '.') {
			if (label == 0 || label > 63 || h[i - 1] == '-')
				return 0;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		           (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
			label++;
		} else {
			return 0;
		}
	}
	return 1;
}

/* An IPv4 address, a [bracketed] IPv6 address, a hostname, or "*" if allowed. */
static int
s_host_ok(const char *h, size_t n, int allow_star)
{
	char addr[64];
	unsigned char bin[16];

	if (n == 1 && h[0] == '*')
		return allow_star;
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		if (n - 2 >= sizeof(addr))
			return 0;
		memcpy(addr, h + 1, n - 2);
		addr[n - 2] = '\0';
		return inet_pton(AF_INET6, addr, bin) == 1;
	}
	if (strspn(h, "0123456789.") >= n) {
		/* all digits and dots: an IPv4 address, not a name ("999.1.1.1") */
		if (n >= sizeof(addr))
			return 0;
		memcpy(addr, h, n);
		addr[n] = '\0';
		return inet_pton(AF_INET, addr, bin) == 1;
	}
	return s_hostname_ok(h, n);
}

enum { HP_OK, HP_FORM, HP_HOST, HP_PORT };

/* "HOST:PORT" with a port in 1..65535 written without leading zeros. */
static int
s_hostport(const char *s, int allow_star)
{
	const char *colon;
	size_t plen;
	unsigned long port = 0;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return HP_FORM;
		colon = close + 1;
	} else if ((colon = strrchr(s, ':')) == NULL) {
		return HP_FORM;
	}
	plen = strlen(colon + 1);
	if (plen == 0)
		return HP_FORM;
	if (!s_host_ok(s, (size_t)(colon - s), allow_star))
		return HP_HOST;
	if (plen > 5 || strspn(colon + 1, "0123456789") != plen || colon[1] == '0')
		return HP_PORT;
	port = strtoul(colon + 1, NULL, 10);
	if (port < 1 || port > 65535)
		return HP_PORT;
	return HP_OK;
}

/* Checks an "ADDR:PORT" or (endpoint) "tcp://HOST:PORT" value just read. */
static int
s_check_address(loader_t *ld, const char *key, const char *s, int endpoint, int allow_star)
{
	const char *form = endpoint ? "tcp://HOST:PORT" : "ADDR:PORT";
	int rc;

	if (endpoint) {
		if (strncmp(s, "tcp://", 6) != 0)
			return s_error_at(ld, ld->ev.start_mark,
			                  "\"%s\" must start with \"tcp://\"", key);
		s += 6;
	}
	rc = s_hostport(s, allow_star);
	if (rc == HP_FORM)
		return s_error_at(ld, ld->ev.start_mark, "\"%s\" must be of the form %s", key,
		                  form);
	if (rc == HP_HOST)
		return s_error_at(ld, ld->ev.start_mark,
		                  "\"%s\" must name an IPv4 address, an [IPv6] address or a "
		                  "hostname%s",
		                  key, allow_star ? " or *" : "");
	if (rc == HP_PORT)
		return s_error_at(ld, ld->ev.start_mark, "\"%s\" port must be between 1 and 65535",
		                  key);
	return 0;
}

static int
s_key32(loader_t *ld, const char *key, uint8_t out[CPT_KEY_LEN])
{
	char hex[CFG_MAX_STR];
	int rc;

	if ((rc = s_string(ld, key, hex)) != 0)
		return rc;
	if (cpt_unhex32(out, hex, strlen(hex)) != 0)
		return s_error_at(ld, ld->ev.start_mark, "\"%s\" must be 64 hexadecimal digits",
		                  key);
	return 0;
}

static int
s_peer_value(loader_t *ld, const key_spec_t *spec, int k, void *arg)
{
	cfg_peer_t *peer = arg;
	int rc;

	if (k == K_SITE_KEY)
		return s_key32(ld, spec->name, peer->site_key);
	if ((rc = s_string(ld, spec->name, peer->endpoint)) != 0)
		return rc;
	return s_check_address(ld, spec->name, peer->endpoint, 1, 0);
}

static int
s_peers(loader_t *ld, cfg_t *cfg)
{
	int rc;

	if (ld->ev.type != YAML_SEQUENCE_START_EVENT)
		return s_error_at(ld, ld->ev.start_mark, "\"peers\" must be a sequence");
	cfg->n_peers = 0;
	for (;;) {
		cfg_peer_t peer;
		yaml_mark_t at;

		if ((rc = s_next(ld)) != 0)
			return rc;
		if (ld->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		if (ld->ev.type != YAML_MAPPING_START_EVENT)
			return s_error_at(ld, ld->ev.start_mark, "a peer must be a mapping");
		at = ld->ev.start_mark;
		memset(&peer, 0, sizeof(peer));
		if ((rc = s_mapping(ld, s_peer_keys, NKEYS(s_peer_keys), s_peer_value, &peer)) != 0)
			return rc;
		/* Parsed first, so that the error names the peer left out. */
		if (cfg->n_peers == CFG_MAX_PEERS)
			return s_error_at(ld, at,
			                  "too many peers: %s is peer %d, over the limit of %d in "
			                  "\"peers\" (add more with `comptoir peer add`)",
			                  peer.endpoint[0] ? peer.endpoint : "this one",
			                  CFG_MAX_PEERS + 1, CFG_MAX_PEERS);
		cfg->peers[cfg->n_peers++] = peer;
	}
}

/* Where the current event starts, 1-based. */
static cfg_pos_t
s_pos(const loader_t *ld)
{
	cfg_pos_t p = {(uint32_t)ld->ev.start_mark.line + 1,
	               (uint32_t)ld->ev.start_mark.column + 1};

	return p;
}

/* true or false, plain: YAML 1.1's yes/no/on/off are refused, not guessed. */
static int
s_bool(loader_t *ld, const char *key, int *out)
{
	const char *v = (const char *)ld->ev.data.scalar.value;

	if (ld->ev.type == YAML_SCALAR_EVENT &&
	    ld->ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		if (strcmp(v, "true") == 0 && ld->ev.data.scalar.length == 4) {
			*out = 1;
			return 0;
		}
		if (strcmp(v, "false") == 0 && ld->ev.data.scalar.length == 5) {
			*out = 0;
			return 0;
		}
	}
	return s_error_at(ld, ld->ev.start_mark, "\"%s\" must be true or false", key);
}

typedef int (*item_fn)(loader_t *ld, const char *key, size_t i, void *arg);

/* A sequence of at most max items, each handed to fn as the current event. */
static int
s_sequence(loader_t *ld, const char *key, size_t max, size_t *n, item_fn fn, void *arg)
{
	int rc;

	if (ld->ev.type != YAML_SEQUENCE_START_EVENT)
		return s_error_at(ld, ld->ev.start_mark, "\"%s\" must be a sequence", key);
	for (*n = 0;;) {
		if ((rc = s_next(ld)) != 0)
			return rc;
		if (ld->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		if (*n == max)
			return s_error_at(ld, ld->ev.start_mark, "\"%s\" has more than %zu entries",
			                  key, max);
		if ((rc = fn(ld, key, *n, arg)) != 0)
			return rc;
		(*n)++;
	}
}

/* A name of http_names: a DNS name or an address, kept in lowercase (host
 * names compare without case). */
static int
s_http_name(loader_t *ld, const char *key, size_t i, void *arg)
{
	cfg_t *cfg = arg;
	char *name = cfg->http_names[i];
	size_t n;
	int rc;

	if ((rc = s_string(ld, key, name)) != 0)
		return rc;
	n = strlen(name);
	if (n > 0 && name[n - 1] == '.')
		name[--n] = '\0'; /* "intranet.corp." is the same name */
	if (!s_host_ok(name, n, 0))
		return s_error_at(ld, ld->ev.start_mark,
		                  "\"%s\" entries must be host names (intranet.paris.corp) or "
		                  "addresses",
		                  key);
	for (char *c = name; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return 0;
}

/* An entry of trusted_proxies: "ADDR" or "ADDR/PREFIX", IPv4 or IPv6. */
static int
s_proxy(loader_t *ld, const char *key, size_t i, void *arg)
{
	cfg_net_t *net = &((cfg_t *)arg)->proxies[i];
	char s[CFG_MAX_STR], *slash, *end;
	unsigned long prefix;
	int rc;

	if ((rc = s_string(ld, key, s)) != 0)
		return rc;
	memset(net, 0, sizeof(*net));
	if ((slash = strchr(s, '/')) != NULL)
		*slash = '\0';
	if (inet_pton(AF_INET, s, net->addr) == 1) {
		net->family = AF_INET;
		net->prefix = 32;
	} else if (inet_pton(AF_INET6, s, net->addr) == 1) {
		net->family = AF_INET6;
		net->prefix = 128;
	} else {
		return s_error_at(
		    ld, ld->ev.start_mark,
		    "\"%s\" entries must be an IPv4 or IPv6 address, or ADDRESS/PREFIX", key);
	}
	if (slash != NULL) {
		errno = 0;
		prefix = strtoul(slash + 1, &end, 10);
		if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || errno != 0 ||
		    prefix > net->prefix)
			return s_error_at(ld, ld->ev.start_mark,
			                  "\"%s\" prefix must be between 0 and %u", key,
			                  net->prefix);
		net->prefix = (unsigned)prefix;
	}
	return 0;
}

static int
s_tls_value(loader_t *ld, const key_spec_t *spec, int k, void *arg)
{
	cfg_tls_t *tls = arg;
	int rc = 0;

	switch (k) {
	case K_TLS_CERT:
	case K_TLS_KEY:
		if (k == K_TLS_CERT)
			tls->cert_at = s_pos(ld);
		else
			tls->key_at = s_pos(ld);
		if ((rc = s_string(ld, spec->name, k == K_TLS_CERT ? tls->cert : tls->key)) == 0 &&
		    (k == K_TLS_CERT ? tls->cert : tls->key)[0] == '\0')
			rc = s_error_at(ld, ld->ev.start_mark, "\"%s\" must not be empty",
			                spec->name);
		break;
	case K_TLS_REDIRECT:
		tls->redirect_at = s_pos(ld);
		if ((rc = s_string(ld, spec->name, tls->redirect_http)) == 0)
			rc = s_check_address(ld, spec->name, tls->redirect_http, 0, 0);
		break;
	case K_TLS_HSTS: rc = s_int_value(ld, spec, k, arg); break;
	}
	return rc;
}

static int
s_mail_value(loader_t *ld, const key_spec_t *spec, int k, void *arg)
{
	cfg_mail_t *m = arg;
	char *out = NULL;
	int rc;

	switch (k) {
	case K_MAIL_RELAY: out = m->relay; break;
	case K_MAIL_FROM: out = m->from; break;
	case K_MAIL_BASE: out = m->base_url; break;
	case K_MAIL_USER: out = m->user; break;
	case K_MAIL_PWFILE: out = m->password_file; break;
	default: return s_int_value(ld, spec, k, arg);
	}
	if ((rc = s_string(ld, spec->name, out)) != 0)
		return rc;
	if (k == K_MAIL_RELAY && strncmp(out, "smtp://", 7) != 0 &&
	    strncmp(out, "smtps://", 8) != 0)
		return s_error_at(ld, ld->ev.start_mark,
		                  "\"relay\" must be smtp://HOST:PORT or smtps://HOST:PORT");
	if (k == K_MAIL_FROM && (strchr(out, '@') == NULL || strpbrk(out, " <>\"\r\n") != NULL))
		return s_error_at(ld, ld->ev.start_mark,
		                  "\"from\" must be an address such as comptoir@example.com");
	if (k == K_MAIL_BASE && strncmp(out, "http://", 7) != 0 && strncmp(out, "https://", 8) != 0)
		return s_error_at(ld, ld->ev.start_mark,
		                  "\"base_url\" must start with https:// (or http://)");
	return 0;
}

/* The tls: mapping; the current event is its MAPPING_START. */
static int
s_tls(loader_t *ld, cfg_tls_t *tls)
{
	int rc;

	tls->at = s_pos(ld);
	if ((rc = s_mapping(ld, s_tls_keys, NKEYS(s_tls_keys), s_tls_value, tls)) != 0)
		return rc;
	if ((tls->cert[0] == '\0') != (tls->key[0] == '\0'))
		return s_error(ld, tls->at.line, tls->at.col,
		               "\"tls\" needs both \"cert\" and \"key\" (or neither)");
	if (tls->redirect_http[0] != '\0' && tls->cert[0] == '\0')
		return s_error(ld, tls->redirect_at.line, tls->redirect_at.col,
		               "\"redirect_http\" needs \"cert\" and \"key\": it sends browsers to "
		               "HTTPS");
	return 0;
}

static int
s_top_value(loader_t *ld, const key_spec_t *spec, int k, void *arg)
{
	cfg_t *cfg = arg;
	const char *key = spec->name;
	char level[CFG_MAX_STR];
	int rc = 0;

	switch (k) {
	case K_NAME:
		if ((rc = s_string(ld, key, cfg->name)) == 0 && !s_name_ok(cfg->name))
			rc = s_error_at(ld, ld->ev.start_mark,
			                "\"name\" must be 1 to 63 characters of a-z, 0-9 and -, "
			                "not starting with -");
		break;
	case K_DATA_DIR:
		if ((rc = s_string(ld, key, cfg->data_dir)) == 0 && cfg->data_dir[0] == '\0')
			rc = s_error_at(ld, ld->ev.start_mark, "\"data_dir\" must not be empty");
		break;
	case K_HTTP:
		cfg->http_at = s_pos(ld);
		if ((rc = s_string(ld, key, cfg->http)) == 0)
			rc = s_check_address(ld, key, cfg->http, 0, 0);
		break;
	case K_LISTEN:
		/* "" turns listening off: a site that only connects out */
		if ((rc = s_string(ld, key, cfg->listen)) == 0 && cfg->listen[0] != '\0')
			rc = s_check_address(ld, key, cfg->listen, 1, 1);
		break;
	case K_ROOT_KEY:
		if ((rc = s_key32(ld, key, cfg->root_key)) == 0)
			cfg->has_root_key = 1;
		break;
	case K_LOG_LEVEL:
		if ((rc = s_string(ld, key, level)) == 0 &&
		    cfg_log_level_parse(&cfg->log_level, level) != 0)
			rc = s_error_at(ld, ld->ev.start_mark,
			                "\"log_level\" must be one of error, warn, info, debug");
		break;
	case K_PEERS: rc = s_peers(ld, cfg); break;
	case K_LIMITS:
	case K_SYNC:
		if (ld->ev.type != YAML_MAPPING_START_EVENT)
			return s_error_at(ld, ld->ev.start_mark, "\"%s\" must be a mapping", key);
		if (k == K_LIMITS)
			rc = s_mapping(ld, s_limit_keys, NKEYS(s_limit_keys), s_int_value,
			               &cfg->limits);
		else
			rc =
			    s_mapping(ld, s_sync_keys, NKEYS(s_sync_keys), s_int_value, &cfg->sync);
		break;
	case K_HTTP_NAMES:
		rc = s_sequence(ld, key, CFG_MAX_NAMES, &cfg->n_http_names, s_http_name, cfg);
		break;
	case K_PROXIES:
		rc = s_sequence(ld, key, CFG_MAX_PROXIES, &cfg->n_proxies, s_proxy, cfg);
		break;
	case K_TLS:
		if (ld->ev.type != YAML_MAPPING_START_EVENT)
			return s_error_at(ld, ld->ev.start_mark, "\"%s\" must be a mapping", key);
		rc = s_tls(ld, &cfg->tls);
		break;
	case K_INSECURE: rc = s_bool(ld, key, &cfg->insecure_plain_http); break;
	case K_MAIL:
		if (ld->ev.type != YAML_MAPPING_START_EVENT)
			return s_error_at(ld, ld->ev.start_mark, "\"%s\" must be a mapping", key);
		cfg->mail.at = s_pos(ld);
		rc = s_mapping(ld, s_mail_keys, NKEYS(s_mail_keys), s_mail_value, &cfg->mail);
		if (rc == 0 && cfg->mail.retry_max < cfg->mail.retry_min)
			rc = s_error(ld, cfg->mail.at.line, cfg->mail.at.col,
			             "\"retry_max\" must not be less than \"retry_min\"");
		break;
	case K_WEBHOOKS:
		if (ld->ev.type != YAML_MAPPING_START_EVENT)
			return s_error_at(ld, ld->ev.start_mark, "\"%s\" must be a mapping", key);
		cfg->hooks.at = s_pos(ld);
		rc = s_mapping(ld, s_hooks_keys, NKEYS(s_hooks_keys), s_int_value, &cfg->hooks);
		if (rc == 0 && cfg->hooks.retry_max < cfg->hooks.retry_min)
			rc = s_error(ld, cfg->hooks.at.line, cfg->hooks.at.col,
			             "\"retry_max\" must not be less than \"retry_min\"");
		break;
	}
	return rc;
}

/* Pass 2, after s_check_stream() vouched for the shape of the stream. */
static int
s_load(loader_t *ld)
{
	int rc;

	do {
		if ((rc = s_next(ld)) != 0)
			return rc;
		/* cannot happen after pass 1, but a loop must not hang on it */
		if (ld->ev.type == YAML_STREAM_END_EVENT || ld->ev.type == YAML_NO_EVENT)
			return s_error(ld, 1, 1, "the file is empty");
	} while (ld->ev.type != YAML_MAPPING_START_EVENT);
	return s_mapping(ld, s_top_keys, NKEYS(s_top_keys), s_top_value, ld->cfg);
}

/* ---------------------------------------------------------------- public */

int
cfg_load_buffer(cfg_t *cfg, const char *name, const char *buf, size_t len, char err[CFG_ERR_LEN])
{
	loader_t ld;
	int rc;

	assert(cfg != NULL && name != NULL && err != NULL);
	assert(buf != NULL || len == 0);
	cfg_defaults(cfg);
	err[0] = '\0';
	memset(&ld, 0, sizeof(ld));
	ld.buf = (const unsigned char *)(buf != NULL ? buf : "");
	ld.len = len;
	ld.name = name;
	ld.err = err;
	ld.cfg = cfg;
	if (len > CFG_MAX_FILE)
		return s_error(&ld, 1, 1, "file is larger than %d bytes", CFG_MAX_FILE);

	if (!yaml_parser_initialize(&ld.parser)) {
		snprintf(err, CFG_ERR_LEN, "%s: out of memory", name);
		return CPT_ENOMEM;
	}
	yaml_parser_set_input_string(&ld.parser, ld.buf, len);
	rc = s_check_stream(&ld);
	yaml_parser_delete(&ld.parser);
	if (rc != 0)
		return rc;

	if (!yaml_parser_initialize(&ld.parser)) {
		snprintf(err, CFG_ERR_LEN, "%s: out of memory", name);
		return CPT_ENOMEM;
	}
	yaml_parser_set_input_string(&ld.parser, ld.buf, len);
	rc = s_load(&ld);
	if (ld.have_ev)
		yaml_event_delete(&ld.ev);
	yaml_parser_delete(&ld.parser);
	return rc;
}

int
cfg_load(cfg_t *cfg, const char *path, char err[CFG_ERR_LEN])
{
	char *buf;
	size_t n;
	FILE *f;
	int rc;

	assert(cfg != NULL && path != NULL && err != NULL);
	cfg_defaults(cfg);
	if (strlen(path) >= sizeof(cfg->path)) {
		snprintf(err, CFG_ERR_LEN, "%s: path is longer than %d bytes", path,
		         CFG_MAX_STR - 1);
		return CPT_ECONFIG;
	}
	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(err, CFG_ERR_LEN, "%s: %s", path, strerror(errno));
		return CPT_EIO;
	}
	/* One byte more than allowed tells "too big" without reading it all. */
	if ((buf = malloc(CFG_MAX_FILE + 1)) == NULL) {
		fclose(f);
		snprintf(err, CFG_ERR_LEN, "%s: out of memory", path);
		return CPT_ENOMEM;
	}
	n = fread(buf, 1, CFG_MAX_FILE + 1, f);
	if (ferror(f)) {
		snprintf(err, CFG_ERR_LEN, "%s: %s", path, strerror(errno));
		fclose(f);
		free(buf);
		return CPT_EIO;
	}
	fclose(f);
	rc = cfg_load_buffer(cfg, path, buf, n, err);
	free(buf);
	if (rc == 0)
		snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	return rc;
}
