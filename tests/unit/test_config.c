/*
 * Unit tests of config/config.c: defaults, the example file, files on disk,
 * and one test per kind of error with its exact "file:line:column: message".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"

#define EXAMPLE "config/comptoir.example.yaml"

/* The three required keys, for tests about something else. */
#define BASE "name: a\ndata_dir: x\nhttp: 127.0.0.1:8080\n"
#define KEY0 "0000000000000000000000000000000000000000000000000000000000000000"

/* cfg_t is about 20 KB: one static copy rather than one per stack frame. */
static cfg_t s_cfg;

static int
s_load_n(const char *yaml, size_t len, char err[CFG_ERR_LEN])
{
	memset(err, 'X', CFG_ERR_LEN); /* a stale message must not pass */
	err[CFG_ERR_LEN - 1] = '\0';
	return cfg_load_buffer(&s_cfg, "t.yaml", yaml, len, err);
}

static void
s_ok(const char *yaml)
{
	char err[CFG_ERR_LEN];
	int rc = s_load_n(yaml, strlen(yaml), err);

	if (rc != 0)
		print_error("unexpected error: %s\n", err);
	assert_int_equal(rc, 0);
}

static void
s_fails_n(const char *yaml, size_t len, const char *want)
{
	char err[CFG_ERR_LEN];

	assert_int_equal(s_load_n(yaml, len, err), CPT_ECONFIG);
	assert_string_equal(err, want);
}

static void
s_fails(const char *yaml, const char *want)
{
	s_fails_n(yaml, strlen(yaml), want);
}

/* Writes len bytes to a new temporary file; the caller unlinks path before
 * asserting anything, so that a failing test leaves no file behind. */
static void
s_write_tmp(char path[64], const char *data, size_t len)
{
	int fd;

	snprintf(path, 64, "/tmp/test_config_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* ---------------------------------------------------------------- good */

static void
test_defaults(void **state)
{
	cfg_t cfg;

	memset(&cfg, 0xa5, sizeof(cfg));
	cfg_defaults(&cfg);
	assert_string_equal(cfg.path, "");
	assert_string_equal(cfg.name, "comptoir");
	assert_string_equal(cfg.data_dir, "./var");
	assert_string_equal(cfg.listen, "tcp://127.0.0.1:7400");
	assert_string_equal(cfg.http, "127.0.0.1:8080");
	assert_int_equal(cfg.has_root_key, 0);
	assert_int_equal(cfg.log_level, LOG_LEVEL_INFO);
	assert_int_equal(cfg.n_peers, 0);
	assert_int_equal(cfg.limits.max_body, 65536);
	assert_int_equal(cfg.limits.max_pending, 100000);
	assert_int_equal(cfg.limits.max_http_body, 262144);
	assert_int_equal(cfg.limits.max_sessions, 10000);
	assert_int_equal(cfg.limits.session_ttl, 86400);
	assert_int_equal(cfg.limits.sessions_per_person, 16);
	assert_int_equal(cfg.limits.login_per_minute, 10);
	assert_int_equal(cfg.limits.max_msg, 4194304);
	assert_int_equal(cfg.sync.reconcile_interval, 60);
	assert_int_equal(cfg.sync.heartbeat_ms, 1000);
	assert_int_equal(cfg.sync.refused_log_s, 60);
	assert_int_equal(cfg.limits.max_connections, 512);
	assert_int_equal(cfg.limits.max_connections_per_address, 16);
	assert_int_equal(cfg.limits.request_timeout, 30);
	assert_int_equal(cfg.limits.max_streams_per_person, 8);
	assert_int_equal(cfg.limits.writes_per_minute, 600);
	assert_int_equal(cfg.limits.writes_burst, 120);
	assert_string_equal(cfg.tls.cert, "");
	assert_string_equal(cfg.tls.key, "");
	assert_string_equal(cfg.tls.redirect_http, "");
	assert_int_equal(cfg.tls.hsts_max_age, 31536000);
	assert_int_equal(cfg.n_http_names, 0);
	assert_int_equal(cfg.n_proxies, 0);
	assert_int_equal(cfg.insecure_plain_http, 0);
	assert_int_equal(cfg.http_at.line, 0);
}

static void
test_log_level_parse(void **state)
{
	enum cfg_log_level l = LOG_LEVEL_INFO;

	assert_int_equal(cfg_log_level_parse(&l, "error"), 0);
	assert_int_equal(l, LOG_LEVEL_ERROR);
	assert_int_equal(cfg_log_level_parse(&l, "warn"), 0);
	assert_int_equal(l, LOG_LEVEL_WARN);
	assert_int_equal(cfg_log_level_parse(&l, "debug"), 0);
	assert_int_equal(l, LOG_LEVEL_DEBUG);
	assert_int_equal(cfg_log_level_parse(&l, "info"), 0);
	assert_int_equal(l, LOG_LEVEL_INFO);
	assert_int_equal(cfg_log_level_parse(&l, "INFO"), CPT_EINVAL);
	assert_int_equal(cfg_log_level_parse(&l, "warning"), CPT_EINVAL);
	assert_int_equal(cfg_log_level_parse(&l, ""), CPT_EINVAL);
	assert_int_equal(cfg_log_level_parse(&l, NULL), CPT_EINVAL);
	assert_int_equal(l, LOG_LEVEL_INFO);
}

/* Only the required keys: everything else keeps its default. */
static void
test_minimal(void **state)
{
	s_ok("name: lyon-2\ndata_dir: /srv/comptoir\nhttp: web.example.com:80\n");
	assert_string_equal(s_cfg.path, "");
	assert_string_equal(s_cfg.name, "lyon-2");
	assert_string_equal(s_cfg.data_dir, "/srv/comptoir");
	assert_string_equal(s_cfg.http, "web.example.com:80");
	assert_string_equal(s_cfg.listen, "tcp://127.0.0.1:7400");
	assert_int_equal(s_cfg.has_root_key, 0);
	assert_int_equal(s_cfg.n_peers, 0);
	assert_int_equal(s_cfg.log_level, LOG_LEVEL_INFO);
	assert_int_equal(s_cfg.limits.max_body, 65536);
	assert_int_equal(s_cfg.sync.heartbeat_ms, 1000);
}

/* Flow style, quoted strings, bounds of every range, relative data_dir. */
static void
test_full_flow(void **state)
{
	s_ok("{name: '7x', data_dir: \"var/../d\", http: \"[::1]:65535\", listen: '',\n"
	     " root_key: 0102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F20,\n"
	     " log_level: \"debug\", peers: [],\n"
	     " limits: {max_body: 256, max_pending: 0, max_http_body: 1048576,\n"
	     "   max_sessions: 1, session_ttl: 2592000, sessions_per_person: 1,\n"
	     "   login_per_minute: 1000,\n"
	     "   max_msg: 1048576},\n"
	     " sync: {reconcile_interval: 86400, heartbeat_ms: 100}}\n");
	assert_string_equal(s_cfg.name, "7x");
	assert_string_equal(s_cfg.data_dir, "var/../d");
	assert_string_equal(s_cfg.http, "[::1]:65535");
	assert_string_equal(s_cfg.listen, "");
	assert_int_equal(s_cfg.has_root_key, 1);
	assert_int_equal(s_cfg.root_key[0], 0x01);
	assert_int_equal(s_cfg.root_key[25], 0x1a);
	assert_int_equal(s_cfg.root_key[31], 0x20);
	assert_int_equal(s_cfg.log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(s_cfg.n_peers, 0);
	assert_int_equal(s_cfg.limits.max_body, 256);
	assert_int_equal(s_cfg.limits.max_pending, 0);
	assert_int_equal(s_cfg.limits.max_http_body, 1048576);
	assert_int_equal(s_cfg.limits.max_sessions, 1);
	assert_int_equal(s_cfg.limits.session_ttl, 2592000);
	assert_int_equal(s_cfg.limits.sessions_per_person, 1);
	assert_int_equal(s_cfg.limits.login_per_minute, 1000);
	assert_int_equal(s_cfg.limits.max_msg, 1048576);
	assert_int_equal(s_cfg.sync.reconcile_interval, 86400);
	assert_int_equal(s_cfg.sync.heartbeat_ms, 100);
}

static void
test_upper_bounds(void **state)
{
	s_ok(BASE "limits:\n  max_body: 65536\n  max_pending: 10000000\n"
	          "  max_http_body: 1048576\n  max_sessions: 100000\n  session_ttl: 60\n"
	          "  sessions_per_person: 1000\n"
	          "  login_per_minute: 1\n  max_msg: 67108864\n"
	          "sync:\n  reconcile_interval: 1\n  heartbeat_ms: 60000\n  refused_log_s: 3600\n");
	assert_int_equal(s_cfg.limits.max_pending, 10000000);
	assert_int_equal(s_cfg.limits.max_sessions, 100000);
	assert_int_equal(s_cfg.limits.session_ttl, 60);
	assert_int_equal(s_cfg.limits.sessions_per_person, 1000);
	assert_int_equal(s_cfg.limits.max_msg, 67108864);
	assert_int_equal(s_cfg.sync.reconcile_interval, 1);
	assert_int_equal(s_cfg.sync.heartbeat_ms, 60000);
	assert_int_equal(s_cfg.sync.refused_log_s, 3600);
}

static void
test_addresses_ok(void **state)
{
	s_ok(BASE "listen: tcp://*:7400\n");
	assert_string_equal(s_cfg.listen, "tcp://*:7400");
	s_ok(BASE "listen: \"tcp://[::]:1\"\n");
	s_ok(BASE "listen: tcp://eth0:7400\n");
	s_ok("name: a\ndata_dir: x\nhttp: 0.0.0.0:1\n");
	s_ok("name: a\ndata_dir: x\nhttp: localhost:8080\n");
	s_ok("name: a\ndata_dir: x\nhttp: \"[fe80::1]:8080\"\n");
}

static void
test_peers(void **state)
{
	s_ok(
	    BASE
	    "peers:\n"
	    "  - endpoint: tcp://lyon.example.com:7400\n"
	    "    site_key: " KEY0 "\n"
	    "  - {site_key: \"ff00000000000000000000000000000000000000000000000000000000000001\",\n"
	    "     endpoint: 'tcp://10.0.0.2:1'}\n");
	assert_int_equal(s_cfg.n_peers, 2);
	assert_string_equal(s_cfg.peers[0].endpoint, "tcp://lyon.example.com:7400");
	assert_int_equal(s_cfg.peers[0].site_key[0], 0);
	assert_string_equal(s_cfg.peers[1].endpoint, "tcp://10.0.0.2:1");
	assert_int_equal(s_cfg.peers[1].site_key[0], 0xff);
	assert_int_equal(s_cfg.peers[1].site_key[31], 0x01);
}

static void
test_example_file(void **state)
{
	char err[CFG_ERR_LEN];
	int rc = cfg_load(&s_cfg, EXAMPLE, err);

	if (rc != 0)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	assert_string_equal(s_cfg.path, EXAMPLE);
	assert_string_equal(s_cfg.name, "paris");
	assert_string_equal(s_cfg.data_dir, "./var");
	assert_string_equal(s_cfg.http, "127.0.0.1:8080");
	assert_string_equal(s_cfg.listen, "tcp://0.0.0.0:7400");
	assert_int_equal(s_cfg.has_root_key, 1);
	assert_int_equal(s_cfg.root_key[0], 0xd7);
	assert_int_equal(s_cfg.root_key[31], 0x1a);
	assert_int_equal(s_cfg.log_level, LOG_LEVEL_INFO);
	assert_int_equal(s_cfg.n_peers, 2);
	assert_string_equal(s_cfg.peers[0].endpoint, "tcp://lyon.example.com:7400");
	assert_int_equal(s_cfg.peers[0].site_key[0], 0x3d);
	assert_int_equal(s_cfg.peers[0].site_key[31], 0x0c);
	assert_string_equal(s_cfg.peers[1].endpoint, "tcp://[2001:db8::7]:7400");
	assert_int_equal(s_cfg.peers[1].site_key[0], 0xfc);
	assert_int_equal(s_cfg.peers[1].site_key[31], 0x25);
	assert_int_equal(s_cfg.limits.max_body, 65536);
	assert_int_equal(s_cfg.limits.max_pending, 100000);
	assert_int_equal(s_cfg.limits.max_http_body, 262144);
	assert_int_equal(s_cfg.limits.max_sessions, 10000);
	assert_int_equal(s_cfg.limits.session_ttl, 86400);
	assert_int_equal(s_cfg.limits.login_per_minute, 10);
	assert_int_equal(s_cfg.limits.max_msg, 4194304);
	assert_int_equal(s_cfg.sync.reconcile_interval, 60);
	assert_int_equal(s_cfg.sync.heartbeat_ms, 1000);
	assert_int_equal(s_cfg.limits.max_connections, 512);
	assert_int_equal(s_cfg.limits.max_connections_per_address, 16);
	assert_int_equal(s_cfg.limits.request_timeout, 30);
	assert_int_equal(s_cfg.limits.max_streams_per_person, 8);
	assert_string_equal(s_cfg.tls.cert, "/etc/comptoir/tls/paris.crt");
	assert_string_equal(s_cfg.tls.key, "/etc/comptoir/tls/paris.key");
	assert_string_equal(s_cfg.tls.redirect_http, "0.0.0.0:8080");
	assert_int_equal(s_cfg.tls.hsts_max_age, 31536000);
	assert_int_equal(s_cfg.n_http_names, 2);
	assert_string_equal(s_cfg.http_names[0], "intranet.paris.example.com");
	assert_int_equal(s_cfg.n_proxies, 2);
	assert_int_equal(s_cfg.proxies[1].prefix, 28);
	assert_int_equal(s_cfg.insecure_plain_http, 0);
}

/* The HTTPS and front-door keys, and where their values were. */
static void
test_http_keys(void **state)
{
	s_ok(BASE "tls:\n"
	          "  cert: a/site.crt\n"
	          "  key: \"/k.pem\"\n"
	          "  redirect_http: \"[::]:80\"\n"
	          "  hsts_max_age: 0\n"
	          "http_names: [Intranet.Paris.Corp., 10.1.2.3, \"[fe80::1]\", a]\n"
	          "trusted_proxies:\n"
	          "  - 10.0.0.1\n"
	          "  - 10.1.0.0/16\n"
	          "  - \"2001:db8::/32\"\n"
	          "  - ::1\n"
	          "  - 0.0.0.0/0\n"
	          "insecure_plain_http: true\n"
	          "limits: {max_connections: 16, max_connections_per_address: 1,\n"
	          "  request_timeout: 2, max_streams_per_person: 1}\n");
	assert_int_equal(s_cfg.http_at.line, 3);
	assert_int_equal(s_cfg.http_at.col, 7);
	assert_string_equal(s_cfg.tls.cert, "a/site.crt");
	assert_int_equal(s_cfg.tls.cert_at.line, 5);
	assert_int_equal(s_cfg.tls.cert_at.col, 9);
	assert_string_equal(s_cfg.tls.key, "/k.pem");
	assert_int_equal(s_cfg.tls.key_at.line, 6);
	assert_int_equal(s_cfg.tls.key_at.col, 8);
	assert_string_equal(s_cfg.tls.redirect_http, "[::]:80");
	assert_int_equal(s_cfg.tls.redirect_at.line, 7);
	assert_int_equal(s_cfg.tls.at.line, 5);
	assert_int_equal(s_cfg.tls.hsts_max_age, 0);
	assert_int_equal(s_cfg.n_http_names, 4);
	assert_string_equal(s_cfg.http_names[0], "intranet.paris.corp"); /* lowercase, no dot */
	assert_string_equal(s_cfg.http_names[1], "10.1.2.3");
	assert_string_equal(s_cfg.http_names[2], "[fe80::1]");
	assert_int_equal(s_cfg.n_proxies, 5);
	assert_int_equal(s_cfg.proxies[0].family, AF_INET);
	assert_int_equal(s_cfg.proxies[0].prefix, 32);
	assert_int_equal(s_cfg.proxies[0].addr[0], 10);
	assert_int_equal(s_cfg.proxies[0].addr[3], 1);
	assert_int_equal(s_cfg.proxies[1].prefix, 16);
	assert_int_equal(s_cfg.proxies[2].family, AF_INET6);
	assert_int_equal(s_cfg.proxies[2].prefix, 32);
	assert_int_equal(s_cfg.proxies[2].addr[1], 0x01);
	assert_int_equal(s_cfg.proxies[3].prefix, 128);
	assert_int_equal(s_cfg.proxies[3].addr[15], 1);
	assert_int_equal(s_cfg.proxies[4].prefix, 0);
	assert_int_equal(s_cfg.insecure_plain_http, 1);
	assert_int_equal(s_cfg.limits.max_connections, 16);
	assert_int_equal(s_cfg.limits.max_connections_per_address, 1);
	assert_int_equal(s_cfg.limits.request_timeout, 2);
	assert_int_equal(s_cfg.limits.max_streams_per_person, 1);
	s_ok(BASE "tls: {}\nhttp_names: []\ntrusted_proxies: []\ninsecure_plain_http: false\n");
	assert_string_equal(s_cfg.tls.cert, "");
	assert_int_equal(s_cfg.n_http_names, 0);
	assert_int_equal(s_cfg.n_proxies, 0);
}

/* The mail: section (e-mail digests, issue 18): its values, its defaults,
 * and each error named with its place. */
static void
test_mail_keys(void **state)
{
	(void)state;
	s_ok(BASE);
	assert_string_equal(s_cfg.mail.relay, "");
	assert_int_equal(s_cfg.mail.daily_hour, 7);
	assert_int_equal(s_cfg.mail.weekly_day, 1);
	assert_int_equal(s_cfg.mail.retry_min, 60);
	assert_int_equal(s_cfg.mail.retry_max, 3600);
	assert_int_equal(s_cfg.mail.report_day, 1); /* the monthly workbook, on the 1st */
	s_ok(BASE "mail:\n"
	          "  relay: smtp://127.0.0.1:2525\n"
	          "  from: comptoir@paris.example.com\n"
	          "  base_url: https://intranet.paris.example.com\n"
	          "  user: comptoir\n"
	          "  password_file: smtp.pw\n"
	          "  daily_hour: 23\n"
	          "  weekly_day: 7\n"
	          "  retry_min: 1\n"
	          "  retry_max: 2\n"
	          "  report_day: 0\n");
	assert_string_equal(s_cfg.mail.relay, "smtp://127.0.0.1:2525");
	assert_string_equal(s_cfg.mail.from, "comptoir@paris.example.com");
	assert_string_equal(s_cfg.mail.base_url, "https://intranet.paris.example.com");
	assert_string_equal(s_cfg.mail.password_file, "smtp.pw");
	assert_int_equal(s_cfg.mail.daily_hour, 23);
	assert_int_equal(s_cfg.mail.weekly_day, 7);
	assert_int_equal(s_cfg.mail.retry_max, 2);
	assert_int_equal(s_cfg.mail.report_day, 0);
	s_fails(BASE "mail:\n  relay: smtp://x:25\n  from: a@b\n  base_url: https://x\n"
	             "  report_day: 29\n",
	        "t.yaml:8:15: \"report_day\" must be between 0 and 28");
	s_fails(BASE "mail:\n  relay: http://x\n  from: a@b\n  base_url: https://x\n",
	        "t.yaml:5:10: \"relay\" must be smtp://HOST:PORT or smtps://HOST:PORT");
	s_fails(BASE "mail:\n  relay: smtp://x:25\n  from: nobody\n  base_url: https://x\n",
	        "t.yaml:6:9: \"from\" must be an address such as comptoir@example.com");
	s_fails(BASE "mail:\n  relay: smtp://x:25\n  from: a@b\n  base_url: x\n",
	        "t.yaml:7:13: \"base_url\" must start with https:// (or http://)");
	s_fails(BASE "mail:\n  relay: smtp://x:25\n  from: a@b\n",
	        "t.yaml:5:3: missing required key \"base_url\"");
	s_fails(BASE "mail:\n  relay: smtp://x:25\n  from: a@b\n  base_url: https://x\n"
	             "  daily_hour: 24\n",
	        "t.yaml:8:15: \"daily_hour\" must be between 0 and 23");
	s_fails(BASE "mail:\n  relay: smtp://x:25\n  from: a@b\n  base_url: https://x\n"
	             "  retry_min: 10\n  retry_max: 5\n",
	        "t.yaml:5:3: \"retry_max\" must not be less than \"retry_min\"");
	s_fails(BASE "mail: smtp://x\n", "t.yaml:4:7: \"mail\" must be a mapping");
}

static void
test_err_http_keys(void **state)
{
	s_fails(BASE "tls:\n  cert: c.pem\n", "t.yaml:5:3: \"tls\" needs both \"cert\" and \"key\" "
	                                      "(or neither)");
	s_fails(BASE "tls: {key: k.pem}\n", "t.yaml:4:6: \"tls\" needs both \"cert\" and \"key\" "
	                                    "(or neither)");
	s_fails(BASE "tls:\n  redirect_http: 0.0.0.0:80\n",
	        "t.yaml:5:18: \"redirect_http\" needs \"cert\" and \"key\": it sends browsers to "
	        "HTTPS");
	s_fails(BASE "tls:\n  cert: ''\n  key: k\n", "t.yaml:5:9: \"cert\" must not be empty");
	s_fails(BASE "tls:\n  cert: c\n  key: k\n  redirect_http: 80\n",
	        "t.yaml:7:18: \"redirect_http\" must be of the form ADDR:PORT");
	s_fails(BASE "tls:\n  cert: c\n  key: k\n  hsts_max_age: 63072001\n",
	        "t.yaml:7:17: \"hsts_max_age\" must be between 0 and 63072000");
	s_fails(BASE "tls:\n  certificate: c\n", "t.yaml:5:3: unknown key \"certificate\"");
	s_fails(BASE "tls: c.pem\n", "t.yaml:4:6: \"tls\" must be a mapping");
	s_fails(BASE "http_names: intranet\n", "t.yaml:4:13: \"http_names\" must be a sequence");
	s_fails(BASE "http_names: [good.name, bad_name]\n",
	        "t.yaml:4:25: \"http_names\" entries must be host names (intranet.paris.corp) or "
	        "addresses");
	s_fails(BASE "http_names: [\"*.paris.corp\"]\n",
	        "t.yaml:4:14: \"http_names\" entries must be host names (intranet.paris.corp) or "
	        "addresses");
	s_fails(BASE "http_names: [[a]]\n", "t.yaml:4:14: \"http_names\" must be a string");
	s_fails(BASE "trusted_proxies: [proxy.corp]\n",
	        "t.yaml:4:19: \"trusted_proxies\" entries must be an IPv4 or IPv6 address, or "
	        "ADDRESS/PREFIX");
	s_fails(BASE "trusted_proxies: [10.0.0.0/33]\n",
	        "t.yaml:4:19: \"trusted_proxies\" prefix must be between 0 and 32");
	s_fails(BASE "trusted_proxies: [\"::/129\"]\n",
	        "t.yaml:4:19: \"trusted_proxies\" prefix must be between 0 and 128");
	s_fails(BASE "trusted_proxies: [10.0.0.0/]\n",
	        "t.yaml:4:19: \"trusted_proxies\" prefix must be between 0 and 32");
	s_fails(BASE "trusted_proxies: [10.0.0.0/-1]\n",
	        "t.yaml:4:19: \"trusted_proxies\" prefix must be between 0 and 32");
	s_fails(BASE "insecure_plain_http: yes\n",
	        "t.yaml:4:22: \"insecure_plain_http\" must be true or false");
	s_fails(BASE "insecure_plain_http: \"true\"\n",
	        "t.yaml:4:22: \"insecure_plain_http\" must be true or false");
	s_fails(BASE "limits: {max_connections: 15}\n",
	        "t.yaml:4:27: \"max_connections\" must be between 16 and 10000");
	s_fails(BASE "limits: {max_connections_per_address: 0}\n",
	        "t.yaml:4:39: \"max_connections_per_address\" must be between 1 and 10000");
	s_fails(BASE "limits: {request_timeout: 1}\n",
	        "t.yaml:4:27: \"request_timeout\" must be between 2 and 3600");
	s_fails(BASE "limits: {max_streams_per_person: 1001}\n",
	        "t.yaml:4:34: \"max_streams_per_person\" must be between 1 and 1000");
	s_fails(BASE "limits: {writes_per_minute: 0}\n",
	        "t.yaml:4:29: \"writes_per_minute\" must be between 1 and 100000");
	s_fails(BASE "limits: {writes_burst: 100001}\n",
	        "t.yaml:4:24: \"writes_burst\" must be between 1 and 100000");
}

static void
test_err_too_many_names(void **state)
{
	char buf[2048];
	int n = snprintf(buf, sizeof(buf), BASE "http_names:\n");

	for (int i = 0; i < CFG_MAX_NAMES; i++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "  - n%d.corp\n", i);
	s_ok(buf);
	assert_int_equal(s_cfg.n_http_names, CFG_MAX_NAMES);
	snprintf(buf + n, sizeof(buf) - (size_t)n, "  - one-more.corp\n");
	s_fails(buf, "t.yaml:21:5: \"http_names\" has more than 16 entries");
}

static void
test_file_on_disk(void **state)
{
	const char *yaml = "name: disk\ndata_dir: d\nhttp: 127.0.0.1:9\nlog_level: warn\n";
	char path[64], err[CFG_ERR_LEN];
	int rc;

	s_write_tmp(path, yaml, strlen(yaml));
	rc = cfg_load(&s_cfg, path, err);
	unlink(path);
	assert_int_equal(rc, 0);
	assert_string_equal(s_cfg.path, path);
	assert_string_equal(s_cfg.name, "disk");
	assert_int_equal(s_cfg.log_level, LOG_LEVEL_WARN);
}

/* The file name, not "t.yaml", prefixes the messages of cfg_load. */
static void
test_file_on_disk_error(void **state)
{
	const char *yaml = "name: disk\ndata_dir: d\nhttp: 127.0.0.1:9\nnmae: x\n";
	char path[64], want[CFG_ERR_LEN], err[CFG_ERR_LEN];
	int rc;

	s_write_tmp(path, yaml, strlen(yaml));
	rc = cfg_load(&s_cfg, path, err);
	unlink(path);
	assert_int_equal(rc, CPT_ECONFIG);
	snprintf(want, sizeof(want), "%s:4:1: unknown key \"nmae\"", path);
	assert_string_equal(err, want);
}

static void
test_file_missing(void **state)
{
	char err[CFG_ERR_LEN], want[CFG_ERR_LEN];

	assert_int_equal(cfg_load(&s_cfg, "/nonexistent/comptoir.yaml", err), CPT_EIO);
	snprintf(want, sizeof(want), "/nonexistent/comptoir.yaml: %s", strerror(ENOENT));
	assert_string_equal(err, want);
}

static void
test_file_is_directory(void **state)
{
	char err[CFG_ERR_LEN], want[CFG_ERR_LEN];

	assert_int_equal(cfg_load(&s_cfg, "config", err), CPT_EIO);
	snprintf(want, sizeof(want), "config: %s", strerror(EISDIR));
	assert_string_equal(err, want);
}

static void
test_file_too_big_on_disk(void **state)
{
	char path[64], err[CFG_ERR_LEN], want[CFG_ERR_LEN];
	int rc;
	size_t len = CFG_MAX_FILE + 1;
	char *big = malloc(len);

	assert_non_null(big);
	memset(big, '#', len);
	s_write_tmp(path, big, len);
	free(big);
	rc = cfg_load(&s_cfg, path, err);
	unlink(path);
	assert_int_equal(rc, CPT_ECONFIG);
	snprintf(want, sizeof(want), "%s:1:1: file is larger than 65536 bytes", path);
	assert_string_equal(err, want);
}

/* Exactly CFG_MAX_FILE bytes is still accepted. */
static void
test_file_at_limit(void **state)
{
	char *buf = malloc(CFG_MAX_FILE);
	size_t n = strlen(BASE);
	char err[CFG_ERR_LEN];

	assert_non_null(buf);
	memcpy(buf, BASE, n);
	memset(buf + n, '#', CFG_MAX_FILE - n);
	assert_int_equal(cfg_load_buffer(&s_cfg, "t.yaml", buf, CFG_MAX_FILE, err), 0);
	free(buf);
}

/* ---------------------------------------------------------------- errors */

static void
test_err_too_big(void **state)
{
	char *buf = malloc(CFG_MAX_FILE + 1);

	assert_non_null(buf);
	memset(buf, ' ', CFG_MAX_FILE + 1);
	s_fails_n(buf, CFG_MAX_FILE + 1, "t.yaml:1:1: file is larger than 65536 bytes");
	free(buf);
}

static void
test_err_unknown_key(void **state)
{
	s_fails(BASE "nmae: paris\n", "t.yaml:4:1: unknown key \"nmae\"");
}

static void
test_err_unknown_key_nested(void **state)
{
	s_fails(BASE "limits:\n  max_body: 1024\n  max_bdy: 1024\n",
	        "t.yaml:6:3: unknown key \"max_bdy\"");
	s_fails(BASE "sync:\n  heartbeat: 1\n", "t.yaml:5:3: unknown key \"heartbeat\"");
	s_fails(BASE "peers:\n  - endpoint: tcp://a:1\n    key: x\n",
	        "t.yaml:6:5: unknown key \"key\"");
}

/* Control bytes and quotes of a key are escaped in the message. */
static void
test_err_unknown_key_escaped(void **state)
{
	s_fails(BASE "\"a\\0\\e[31m\\\"\": 1\n",
	        "t.yaml:4:1: unknown key \"a\\x00\\x1b[31m\\x22\"");
}

static void
test_err_duplicate_key(void **state)
{
	s_fails(BASE "http: 127.0.0.1:9\n", "t.yaml:4:1: duplicate key \"http\"");
	s_fails(BASE "sync: {heartbeat_ms: 100, heartbeat_ms: 200}\n",
	        "t.yaml:4:27: duplicate key \"heartbeat_ms\"");
}

static void
test_err_key_not_scalar(void **state)
{
	s_fails(BASE "? [a]\n: b\n", "t.yaml:4:3: a key must be a string");
}

static void
test_err_missing_required(void **state)
{
	s_fails("data_dir: x\nhttp: a:1\n", "t.yaml:1:1: missing required key \"name\"");
	s_fails("name: a\nhttp: a:1\n", "t.yaml:1:1: missing required key \"data_dir\"");
	s_fails("# comment\n\nname: a\ndata_dir: x\n", "t.yaml:3:1: missing required key \"http\"");
}

static void
test_err_missing_peer_key(void **state)
{
	s_fails(BASE "peers:\n  - endpoint: tcp://a:1\n",
	        "t.yaml:5:5: missing required key \"site_key\"");
	s_fails(BASE "peers:\n  - site_key: " KEY0 "\n",
	        "t.yaml:5:5: missing required key \"endpoint\"");
}

static void
test_err_range(void **state)
{
	s_fails(BASE "limits:\n  max_body: 100\n",
	        "t.yaml:5:13: \"max_body\" must be between 256 and 65536");
	s_fails(BASE "limits:\n  max_msg: 67108865\n",
	        "t.yaml:5:12: \"max_msg\" must be between 1048576 and 67108864");
	s_fails(BASE "limits: {session_ttl: 59}\n",
	        "t.yaml:4:23: \"session_ttl\" must be between 60 and 2592000");
	s_fails(BASE "limits:\n  sessions_per_person: 0\n",
	        "t.yaml:5:24: \"sessions_per_person\" must be between 1 and 1000");
	s_fails(BASE "limits:\n  sessions_per_person: 1001\n",
	        "t.yaml:5:24: \"sessions_per_person\" must be between 1 and 1000");
	s_fails(BASE "limits:\n  sessions_per_person: many\n",
	        "t.yaml:5:24: expected an integer for \"sessions_per_person\"");
	s_fails(BASE "sync:\n  heartbeat_ms: 60001\n",
	        "t.yaml:5:17: \"heartbeat_ms\" must be between 100 and 60000");
	s_fails(BASE "sync:\n  refused_log_s: 0\n",
	        "t.yaml:5:18: \"refused_log_s\" must be between 1 and 3600");
}

static void
test_err_negative(void **state)
{
	s_fails(BASE "limits:\n  max_pending: -1\n",
	        "t.yaml:5:16: \"max_pending\" must be between 0 and 10000000");
}

static void
test_err_overflow(void **state)
{
	s_fails(BASE "limits:\n  max_pending: 18446744073709551617\n",
	        "t.yaml:5:16: \"max_pending\" must be between 0 and 10000000");
	s_fails(BASE "limits:\n  max_pending: 4294967296\n",
	        "t.yaml:5:16: \"max_pending\" must be between 0 and 10000000");
}

static void
test_err_quoted_integer(void **state)
{
	s_fails(BASE "limits:\n  max_body: \"1024\"\n",
	        "t.yaml:5:13: expected an integer for \"max_body\"");
	s_fails(BASE "limits:\n  max_body: '1024'\n",
	        "t.yaml:5:13: expected an integer for \"max_body\"");
}

static void
test_err_not_integer(void **state)
{
	s_fails(BASE "limits:\n  max_body: 1024.0\n",
	        "t.yaml:5:13: expected an integer for \"max_body\"");
	s_fails(BASE "limits:\n  max_body: 1e4\n",
	        "t.yaml:5:13: expected an integer for \"max_body\"");
	s_fails(BASE "limits:\n  max_body: 0x400\n",
	        "t.yaml:5:13: expected an integer for \"max_body\"");
	s_fails(BASE "limits:\n  max_body: +1024\n",
	        "t.yaml:5:13: expected an integer for \"max_body\"");
	s_fails(BASE "limits:\n  max_body:\n", "t.yaml:5:12: expected an integer for \"max_body\"");
	s_fails(BASE "limits:\n  max_body: [1024]\n",
	        "t.yaml:5:13: expected an integer for \"max_body\"");
}

/* YAML 1.1 reads 0400 as octal: refused rather than guessed. */
static void
test_err_leading_zero(void **state)
{
	s_fails(BASE "limits:\n  max_body: 0400\n",
	        "t.yaml:5:13: \"max_body\" must not have leading zeros");
}

static void
test_err_anchor(void **state)
{
	s_fails(BASE "limits: &l\n  max_body: 1024\n",
	        "t.yaml:4:9: anchors and aliases are not allowed");
}

static void
test_err_alias(void **state)
{
	/* an alias whose anchor is nowhere still comes out as an event */
	s_fails(BASE "listen: *x\n", "t.yaml:4:9: anchors and aliases are not allowed");
	s_fails(BASE "peers: [*p]\n", "t.yaml:4:9: anchors and aliases are not allowed");
}

/* PITFALLS 16: a self-referencing alias, the crash of a recursive walker. */
static void
test_err_alias_cycle(void **state)
{
	s_fails("a: &x [1, *x]\n", "t.yaml:1:4: anchors and aliases are not allowed");
}

static void
test_err_tag(void **state)
{
	s_fails(BASE "listen: !!str tcp://a:1\n", "t.yaml:4:9: tags are not allowed");
	s_fails(BASE "limits: !!map {}\n", "t.yaml:4:9: tags are not allowed");
	s_fails(BASE "listen: ! x\n", "t.yaml:4:9: tags are not allowed");
	s_fails("%TAG !e! tag:example.com,2000:\n---\n" BASE, "t.yaml:1:1: tags are not allowed");
}

static void
test_err_not_sequence(void **state)
{
	s_fails(BASE "peers: tcp://a:1\n", "t.yaml:4:8: \"peers\" must be a sequence");
	s_fails(BASE "peers:\n  endpoint: tcp://a:1\n", "t.yaml:5:3: \"peers\" must be a sequence");
}

static void
test_err_not_mapping(void **state)
{
	s_fails(BASE "limits: 3\n", "t.yaml:4:9: \"limits\" must be a mapping");
	s_fails(BASE "sync: [1]\n", "t.yaml:4:7: \"sync\" must be a mapping");
	s_fails(BASE "peers:\n  - tcp://a:1\n", "t.yaml:5:5: a peer must be a mapping");
}

static void
test_err_not_string(void **state)
{
	s_fails("name: [a]\n", "t.yaml:1:7: \"name\" must be a string");
	s_fails(BASE "listen: {a: 1}\n", "t.yaml:4:9: \"listen\" must be a string");
}

static void
test_err_too_many_peers(void **state)
{
	char buf[16384];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "%speers:\n", BASE);

	for (int i = 0; i <= CFG_MAX_PEERS; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
		                      "  - {endpoint: \"tcp://h%d:1\", site_key: %s}\n", i, KEY0);
	assert_true(n < sizeof(buf));
	s_fails(buf, "t.yaml:69:5: too many peers: tcp://h64:1 is peer 65, over the limit of 64 in "
	             "\"peers\" (add more with `comptoir peer add`)");
	/* one fewer is fine */
	*strstr(buf, "  - {endpoint: \"tcp://h64:1\"") = '\0';
	s_ok(buf);
	assert_int_equal(s_cfg.n_peers, CFG_MAX_PEERS);
	assert_string_equal(s_cfg.peers[63].endpoint, "tcp://h63:1");
}

/* A "\0" escape puts a NUL inside a scalar: strlen would cut "a" out of it. */
static void
test_err_nul_in_scalar(void **state)
{
	s_fails("name: \"a\\0b\"\n", "t.yaml:1:7: \"name\" must not contain a NUL byte");
	s_fails(BASE "root_key: \"" KEY0 "\\0\"\n",
	        "t.yaml:4:11: \"root_key\" must not contain a NUL byte");
}

/* A raw NUL byte in the file stops the reader. */
static void
test_err_nul_byte(void **state)
{
	static const char yaml[] = BASE "listen: tcp://a:1\0tcp://b:2\n";

	s_fails_n(yaml, sizeof(yaml) - 1, "t.yaml:4:18: NUL bytes are not allowed");
}

static void
test_err_control_character(void **state)
{
	s_fails(BASE "listen: \"tcp://a:1\\n\"\n",
	        "t.yaml:4:9: \"listen\" must not contain control characters");
}

static void
test_err_invalid_utf8(void **state)
{
	s_fails("name: caf\xe9\n", "t.yaml:1:10: invalid input: incomplete UTF-8 octet sequence");
	s_fails("name: a\nhttp: \xff\n",
	        "t.yaml:2:7: invalid input: invalid leading UTF-8 octet (0xff)");
}

static void
test_err_empty(void **state)
{
	s_fails("", "t.yaml:1:1: the file is empty");
	s_fails("# nothing\n\n", "t.yaml:1:1: the file is empty");
	s_fails_n(NULL, 0, "t.yaml:1:1: the file is empty");
}

static void
test_err_top_not_mapping(void **state)
{
	s_fails("- name: a\n", "t.yaml:1:1: the top level must be a mapping");
	s_fails("# c\nparis\n", "t.yaml:2:1: the top level must be a mapping");
	s_fails("---\n", "t.yaml:2:1: the top level must be a mapping");
}

static void
test_err_two_documents(void **state)
{
	s_fails(BASE "---\n" BASE, "t.yaml:4:1: more than one document");
	s_fails(BASE "...\n---\n", "t.yaml:5:1: more than one document");
}

static void
test_err_syntax(void **state)
{
	s_fails(BASE "listen: [a\n", "t.yaml:5:1: syntax error: did not find expected ',' or ']' "
	                             "(while parsing a flow sequence at line 4)");
	s_fails("name: a\n  data_dir: x\n",
	        "t.yaml:2:11: syntax error: mapping values are not allowed in this context");
	s_fails("name: a\n\tdata_dir: x\n",
	        "t.yaml:2:1: syntax error: found a tab character that violates indentation "
	        "(while scanning a plain scalar at line 1)");
	s_fails("name: a\n@x: y\n",
	        "t.yaml:2:1: syntax error: found character that cannot start any token "
	        "(while scanning for the next token at line 2)");
}

static void
test_err_depth(void **state)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf), BASE "listen: ");

	/* 1 for the top mapping, then 15 sequences is the limit; 16 are too many */
	for (int i = 0; i < CFG_MAX_DEPTH - 1; i++)
		buf[n++] = '[';
	for (int i = 0; i < CFG_MAX_DEPTH - 1; i++)
		buf[n++] = ']';
	buf[n++] = '\n';
	buf[n] = '\0';
	s_fails(buf, "t.yaml:4:9: \"listen\" must be a string");

	n = snprintf(buf, sizeof(buf), BASE "listen: ");
	for (int i = 0; i < CFG_MAX_DEPTH; i++)
		buf[n++] = '[';
	for (int i = 0; i < CFG_MAX_DEPTH; i++)
		buf[n++] = ']';
	buf[n++] = '\n';
	buf[n] = '\0';
	s_fails(buf, "t.yaml:4:24: nesting is deeper than 16 levels");
}

/* PITFALLS 15: 30000 levels would take libyaml seconds; the cap stops early. */
static void
test_err_depth_huge(void **state)
{
	size_t n = 30000;
	char *buf = malloc(2 * n + 4);

	assert_non_null(buf);
	memcpy(buf, "a: ", 3);
	memset(buf + 3, '[', n);
	memset(buf + 3 + n, ']', n);
	s_fails_n(buf, 2 * n + 3, "t.yaml:1:19: nesting is deeper than 16 levels");
	free(buf);
}

static void
test_err_string_too_long(void **state)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "name: a\nhttp: a:1\ndata_dir: /%0255d\n", 0);
	s_fails(buf, "t.yaml:3:11: \"data_dir\" is longer than 255 bytes");
	snprintf(buf, sizeof(buf), "name: a\nhttp: a:1\ndata_dir: /%0254d\n", 0);
	s_ok(buf);
	assert_int_equal(strlen(s_cfg.data_dir), 255);
}

static void
test_err_hex(void **state)
{
	s_fails(BASE "root_key: " KEY0 "0\n",
	        "t.yaml:4:11: \"root_key\" must be 64 hexadecimal digits");
	s_fails(BASE "root_key: 000000000000000000000000000000000000000000000000000000000000000g\n",
	        "t.yaml:4:11: \"root_key\" must be 64 hexadecimal digits");
	s_fails(BASE "root_key: \"\"\n", "t.yaml:4:11: \"root_key\" must be 64 hexadecimal digits");
	s_fails(BASE "peers:\n  - endpoint: tcp://a:1\n    site_key: abc\n",
	        "t.yaml:6:15: \"site_key\" must be 64 hexadecimal digits");
}

static void
test_err_name(void **state)
{
	const char *want = "t.yaml:1:7: \"name\" must be 1 to 63 characters of a-z, 0-9 and -, "
	                   "not starting with -";
	char buf[256];

	s_fails("name: Paris\n", want);
	s_fails("name: -paris\n", want);
	s_fails("name: pa_ris\n", want);
	s_fails("name: \"\"\n", want);
	snprintf(buf, sizeof(buf), "name: %064d\n", 0);
	s_fails(buf, want);
	snprintf(buf, sizeof(buf), "name: %063d\ndata_dir: x\nhttp: a:1\n", 0);
	s_ok(buf);
}

static void
test_err_data_dir_empty(void **state)
{
	s_fails("name: a\ndata_dir: ''\n", "t.yaml:2:11: \"data_dir\" must not be empty");
}

static void
test_err_http(void **state)
{
	s_fails("http: 127.0.0.1\n", "t.yaml:1:7: \"http\" must be of the form ADDR:PORT");
	s_fails("http: \"127.0.0.1:\"\n", "t.yaml:1:7: \"http\" must be of the form ADDR:PORT");
	s_fails("http: 127.0.0.1:0\n", "t.yaml:1:7: \"http\" port must be between 1 and 65535");
	s_fails("http: a:65536\n", "t.yaml:1:7: \"http\" port must be between 1 and 65535");
	s_fails("http: a:80x\n", "t.yaml:1:7: \"http\" port must be between 1 and 65535");
	s_fails("http: 256.0.0.1:80\n", "t.yaml:1:7: \"http\" must name an IPv4 address, an "
	                                "[IPv6] address or a hostname");
	s_fails("http: \"[::g]:80\"\n", "t.yaml:1:7: \"http\" must name an IPv4 address, an "
	                                "[IPv6] address or a hostname");
	s_fails("http: ::1:80\n", "t.yaml:1:7: \"http\" must name an IPv4 address, an "
	                          "[IPv6] address or a hostname");
	s_fails("http: \"*:80\"\n", "t.yaml:1:7: \"http\" must name an IPv4 address, an "
	                            "[IPv6] address or a hostname");
}

static void
test_err_listen(void **state)
{
	s_fails(BASE "listen: ipc:///tmp/x\n", "t.yaml:4:9: \"listen\" must start with \"tcp://\"");
	s_fails(BASE "listen: tcp://a\n",
	        "t.yaml:4:9: \"listen\" must be of the form tcp://HOST:PORT");
	s_fails(BASE "listen: tcp://*:*\n",
	        "t.yaml:4:9: \"listen\" port must be between 1 and 65535");
	/* a peer endpoint is connected to: "*" means nothing there */
	s_fails(BASE "peers:\n  - endpoint: tcp://*:1\n    site_key: " KEY0 "\n",
	        "t.yaml:5:15: \"endpoint\" must name an IPv4 address, an [IPv6] address or a "
	        "hostname");
}

static void
test_err_log_level(void **state)
{
	s_fails(BASE "log_level: verbose\n",
	        "t.yaml:4:12: \"log_level\" must be one of error, warn, info, debug");
}

/* A message longer than the buffer is cut, never overflowed. */
static void
test_err_long_name(void **state)
{
	char name[1024], err[CFG_ERR_LEN];

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(cfg_load_buffer(&s_cfg, name, "x", 1, err), CPT_ECONFIG);
	assert_int_equal(strlen(err), CFG_ERR_LEN - 1);
	assert_memory_equal(err, name, CFG_ERR_LEN - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_log_level_parse),
	    cmocka_unit_test(test_minimal),
	    cmocka_unit_test(test_full_flow),
	    cmocka_unit_test(test_upper_bounds),
	    cmocka_unit_test(test_addresses_ok),
	    cmocka_unit_test(test_peers),
	    cmocka_unit_test(test_example_file),
	    cmocka_unit_test(test_http_keys),
	    cmocka_unit_test(test_err_http_keys),
	    cmocka_unit_test(test_err_too_many_names),
	    cmocka_unit_test(test_file_on_disk),
	    cmocka_unit_test(test_file_on_disk_error),
	    cmocka_unit_test(test_file_missing),
	    cmocka_unit_test(test_file_is_directory),
	    cmocka_unit_test(test_file_too_big_on_disk),
	    cmocka_unit_test(test_file_at_limit),
	    cmocka_unit_test(test_err_too_big),
	    cmocka_unit_test(test_err_unknown_key),
	    cmocka_unit_test(test_err_unknown_key_nested),
	    cmocka_unit_test(test_err_unknown_key_escaped),
	    cmocka_unit_test(test_err_duplicate_key),
	    cmocka_unit_test(test_err_key_not_scalar),
	    cmocka_unit_test(test_err_missing_required),
	    cmocka_unit_test(test_err_missing_peer_key),
	    cmocka_unit_test(test_err_range),
	    cmocka_unit_test(test_err_negative),
	    cmocka_unit_test(test_err_overflow),
	    cmocka_unit_test(test_err_quoted_integer),
	    cmocka_unit_test(test_err_not_integer),
	    cmocka_unit_test(test_err_leading_zero),
	    cmocka_unit_test(test_err_anchor),
	    cmocka_unit_test(test_err_alias),
	    cmocka_unit_test(test_err_alias_cycle),
	    cmocka_unit_test(test_err_tag),
	    cmocka_unit_test(test_err_not_sequence),
	    cmocka_unit_test(test_err_not_mapping),
	    cmocka_unit_test(test_err_not_string),
	    cmocka_unit_test(test_err_too_many_peers),
	    cmocka_unit_test(test_err_nul_in_scalar),
	    cmocka_unit_test(test_err_nul_byte),
	    cmocka_unit_test(test_err_control_character),
	    cmocka_unit_test(test_err_invalid_utf8),
	    cmocka_unit_test(test_err_empty),
	    cmocka_unit_test(test_err_top_not_mapping),
	    cmocka_unit_test(test_err_two_documents),
	    cmocka_unit_test(test_err_syntax),
	    cmocka_unit_test(test_err_depth),
	    cmocka_unit_test(test_err_depth_huge),
	    cmocka_unit_test(test_err_string_too_long),
	    cmocka_unit_test(test_err_hex),
	    cmocka_unit_test(test_err_name),
	    cmocka_unit_test(test_err_data_dir_empty),
	    cmocka_unit_test(test_err_http),
	    cmocka_unit_test(test_err_listen),
	    cmocka_unit_test(test_mail_keys),
	    cmocka_unit_test(test_err_log_level),
	    cmocka_unit_test(test_err_long_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
