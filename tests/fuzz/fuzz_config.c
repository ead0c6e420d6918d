/*
 * libFuzzer target for the config loader: any bytes must give either a
 * config that keeps every documented bound or a "name:line:column: ..." error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A string field must keep its NUL inside its array, whatever was loaded. */
static void
s_check_str(const char *s, size_t cap)
{
	if (memchr(s, '\0', cap) == NULL)
		abort();
}

/* Properties of a success: every value inside the range config.h promises. */
static void
s_check_cfg(const cfg_t *cfg)
{
	s_check_str(cfg->path, sizeof(cfg->path));
	s_check_str(cfg->name, sizeof(cfg->name));
	s_check_str(cfg->data_dir, sizeof(cfg->data_dir));
	s_check_str(cfg->listen, sizeof(cfg->listen));
	s_check_str(cfg->http, sizeof(cfg->http));
	if (strlen(cfg->name) < 1 || strlen(cfg->name) > 63 || cfg->data_dir[0] == '\0')
		abort();
	if (cfg->log_level > LOG_LEVEL_DEBUG || cfg->n_peers > CFG_MAX_PEERS)
		abort();
	for (size_t i = 0; i < cfg->n_peers; i++) {
		s_check_str(cfg->peers[i].endpoint, sizeof(cfg->peers[i].endpoint));
		if (strncmp(cfg->peers[i].endpoint, "tcp://", 6) != 0)
			abort();
	}
	if (cfg->limits.max_body < 256 || cfg->limits.max_body > 65536 ||
	    cfg->limits.max_pending > 10000000 || cfg->limits.max_http_body < 1024 ||
	    cfg->limits.max_http_body > 1048576 || cfg->limits.max_sessions < 1 ||
	    cfg->limits.max_sessions > 100000 || cfg->limits.session_ttl < 60 ||
	    cfg->limits.session_ttl > 30 * 86400 || cfg->limits.sessions_per_person < 1 ||
	    cfg->limits.sessions_per_person > 1000 || cfg->limits.login_per_minute < 1 ||
	    cfg->limits.login_per_minute > 1000 || cfg->limits.max_msg < 65536 ||
	    cfg->limits.max_msg > 64 * 1048576 || cfg->sync.reconcile_interval < 1 ||
	    cfg->sync.reconcile_interval > 86400 || cfg->sync.heartbeat_ms < 100 ||
	    cfg->sync.heartbeat_ms > 60000)
		abort();
}

/* Properties of a failure: a positioned message, printable, NUL-terminated. */
static void
s_check_err(const char *err)
{
	static const char prefix[] = "fuzz.yaml:";
	const char *p = err + sizeof(prefix) - 1;

	if (memchr(err, '\0', CFG_ERR_LEN) == NULL)
		abort();
	if (strncmp(err, prefix, sizeof(prefix) - 1) != 0)
		abort();
	/* "LINE:COLUMN: ", both 1-based, unless it is the out-of-memory message */
	if (strcmp(p, " out of memory") != 0) {
		if (*p < '1' || *p > '9')
			abort();
		p += strspn(p, "0123456789");
		if (*p++ != ':' || *p < '1' || *p > '9')
			abort();
		p += strspn(p, "0123456789");
		if (p[0] != ':' || p[1] != ' ' || p[2] == '\0')
			abort();
	}
	for (; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort(); /* bytes from the file are escaped before printing */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static cfg_t cfg;
	char err[CFG_ERR_LEN];
	int rc;

	rc = cfg_load_buffer(&cfg, "fuzz.yaml", (const char *)data, size, err);
	if (rc == 0)
		s_check_cfg(&cfg);
	else if (rc == CPT_ECONFIG || rc == CPT_ENOMEM)
		s_check_err(err);
	else
		abort();
	return 0;
}
