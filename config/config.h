/*
 * config — the node's YAML configuration loaded into a struct, and the
 * logger every module uses. A leaf module: it depends on crypto/ for the
 * error codes and nothing else of the project.
 */
#ifndef COMPTOIR_CONFIG_H
#define COMPTOIR_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

/* ---------------------------------------------------------------- config */

#define CFG_MAX_PEERS   64
#define CFG_MAX_STR     256   /* longest string value, NUL included */
#define CFG_MAX_FILE    65536 /* a config file larger than this is refused */
#define CFG_MAX_DEPTH   16    /* deepest nesting of mappings and sequences */
#define CFG_ERR_LEN     512   /* size of an error message buffer */
#define CFG_MAX_NAMES   16    /* entries of http_names */
#define CFG_MAX_PROXIES 16    /* entries of trusted_proxies */

enum cfg_log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* One peer site named in the config. */
typedef struct cfg_peer {
	char endpoint[CFG_MAX_STR];    /* ZeroMQ endpoint, "tcp://host:port" */
	uint8_t site_key[CPT_KEY_LEN]; /* the peer site's Ed25519 key, expected */
} cfg_peer_t;

/* Bounds on what the node accepts; every one has a default and a range. */
typedef struct cfg_limits {
	uint32_t max_body;            /* largest event body accepted, bytes [256, 65536] */
	uint32_t max_pending;         /* events kept waiting for a certificate [0, 10M] */
	uint32_t max_http_body;       /* largest HTTP request body, bytes [1024, 1 MiB] */
	uint32_t max_sessions;        /* open login sessions [1, 100000] */
	uint32_t session_ttl;         /* idle session lifetime, seconds [60, 30 days] */
	uint32_t sessions_per_person; /* open sessions of one handle [1, 1000] */
	uint32_t login_per_minute;    /* login attempts per client address [1, 1000] */
	uint32_t max_msg;             /* largest sync message, bytes [1 MiB, 64 MiB] */
	/* The HTTP server's connections (PITFALLS 25). */
	uint32_t max_connections;             /* open HTTP connections in all [16, 10000] */
	uint32_t max_connections_per_address; /* from one client address [1, 10000] */
	uint32_t request_timeout;        /* seconds for a whole request and its answer [2, 3600] */
	uint32_t max_streams_per_person; /* open /api/stream per person [1, 1000] */
	uint32_t writes_per_minute;      /* signed writes per person per minute [1, 100000] */
	uint32_t writes_burst;           /* writes one person may make at once [1, 100000] */
	/* Files and pictures (PROTOCOL.md 18). */
	uint32_t max_file_mb;  /* largest upload, MiB [1, 8192] */
	uint32_t max_blobs_gb; /* the site's blob store: uploads past it are refused, GiB
	                          [1, 1000000] */
	uint32_t fetch_max_mb; /* blobs above it are fetched from peers on demand only, MiB
	                          [1, 8192] */
	uint32_t unposted_ttl; /* seconds after which an upload no event of its author names
	                          is erased [1, 31536000] */
} cfg_limits_t;

/* Sync tuning. */
typedef struct cfg_sync {
	uint32_t reconcile_interval; /* seconds between periodic reconciliations [1, 86400] */
	uint32_t heartbeat_ms;       /* ZMQ heartbeat interval [100, 60000] */
	uint32_t file_rate_kb;       /* files fetched from peers, KiB/s in all; 0: no cap
	                                [0, 4000000] (PROTOCOL.md 18.6) */
	uint32_t refused_log_s;      /* connections refused at the ZAP stage: after the first
	                                of an address, one line per address per this many
	                                seconds counts the rest [1, 3600] */
} cfg_sync_t;

/* Where a value was in the file (1-based), for messages about it that only
 * later checks can make (a certificate file that does not load); 0 = absent. */
typedef struct cfg_pos {
	uint32_t line; /* line of the value */
	uint32_t col;  /* column of the value */
} cfg_pos_t;

/* HTTPS: both files or neither; every path relative to the config file. */
typedef struct cfg_tls {
	char cert[CFG_MAX_STR];          /* PEM certificate, then its chain; "" = no TLS */
	char key[CFG_MAX_STR];           /* PEM private key of the certificate, unencrypted */
	char redirect_http[CFG_MAX_STR]; /* plain "ADDR:PORT" answering 308 to https, "" = none */
	uint32_t hsts_max_age;           /* Strict-Transport-Security max-age, s; 0 = no header */
	cfg_pos_t at;                    /* the tls: mapping */
	cfg_pos_t cert_at;               /* its cert value */
	cfg_pos_t key_at;                /* its key value */
	cfg_pos_t redirect_at;           /* its redirect_http value */
} cfg_tls_t;

/* E-mail digests through the company's SMTP relay (node/mail). */
typedef struct cfg_mail {
	char relay[CFG_MAX_STR];    /* "smtp://host:port" or "smtps://host:port"; "" = no mail */
	char from[CFG_MAX_STR];     /* the sender address, "comptoir@paris.example.com" */
	char base_url[CFG_MAX_STR]; /* this site's web address, for links back: "https://..." */
	char user[CFG_MAX_STR];     /* relay login, "" = none */
	char password_file[CFG_MAX_STR]; /* a file holding the relay password (relative to the
	                                    config file), "" = none */
	uint32_t daily_hour;             /* UTC hour daily digests go out [0, 23] */
	uint32_t weekly_day;      /* day weekly digests go out, 1 Monday .. 7 Sunday [1, 7] */
	uint32_t retry_min;       /* first back-off after a failed delivery, s [1, 3600] */
	uint32_t retry_max;       /* longest back-off, s [1, 86400] */
	uint32_t immediate_every; /* "immediate" digests gather this long, s [1, 3600] */
	uint32_t report_day;      /* day of the month the workbook of the month before goes to
	                             the management role, at daily_hour [1, 28]; 0 = never */
	cfg_pos_t at;             /* the mail: mapping */
} cfg_mail_t;

/* Outgoing webhooks (node/hooks): how deliveries are retried. */
typedef struct cfg_hooks {
	uint32_t retry_min;    /* first back-off after a failed delivery, s [1, 3600] */
	uint32_t retry_max;    /* longest back-off, s [1, 86400] */
	uint32_t max_failures; /* failures in a row that disable a webhook [1, 1000] */
	uint32_t timeout;      /* longest a delivery may take, connection included, s [1, 60] */
	uint32_t give_up;      /* a delivery older than this is dropped, s [60, 30 days] */
	cfg_pos_t at;          /* the webhooks: mapping */
} cfg_hooks_t;

/* A trusted reverse proxy: an address, or a network as address/prefix. */
typedef struct cfg_net {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network byte order; 4 bytes used for AF_INET */
	unsigned prefix;  /* leading bits that must match: 32 or 128 for one address */
} cfg_net_t;

/* A loaded configuration. Plain data: copy it, free nothing. */
typedef struct cfg {
	char path[CFG_MAX_STR];          /* the file it came from, "" for defaults */
	char name[CFG_MAX_STR];          /* node (site) name, [a-z0-9-]{1,63} */
	char data_dir[CFG_MAX_STR];      /* data directory; relative to the config file */
	char listen[CFG_MAX_STR];        /* peer listen endpoint, "" = no listening */
	char http[CFG_MAX_STR];          /* HTTP bind "ADDR:PORT" */
	int has_root_key;                /* root_key was given */
	uint8_t root_key[CPT_KEY_LEN];   /* federation root public key */
	enum cfg_log_level log_level;    /* log level */
	size_t n_peers;                  /* number of peers */
	cfg_peer_t peers[CFG_MAX_PEERS]; /* peers */
	cfg_limits_t limits;             /* limits */
	cfg_sync_t sync;                 /* sync tuning */
	cfg_pos_t http_at;               /* where http was written (0 for defaults) */
	size_t n_http_names;             /* number of http_names */
	char http_names[CFG_MAX_NAMES][CFG_MAX_STR]; /* host names staff use, besides the
	                                               bind address and localhost */
	size_t n_proxies;                            /* number of trusted_proxies */
	cfg_net_t proxies[CFG_MAX_PROXIES];          /* whose X-Forwarded-For/-Proto are believed */
	cfg_tls_t tls;                               /* HTTPS */
	int insecure_plain_http; /* serve plain HTTP on a non-loopback address anyway */
	cfg_mail_t mail;         /* e-mail digests */
	cfg_hooks_t hooks;       /* outgoing webhooks */
} cfg_t;

/* Fills cfg with the embedded defaults (name "comptoir", data_dir "./var",
 * listen "tcp://127.0.0.1:7400", http "127.0.0.1:8080", no root key, info,
 * no TLS, no extra host names, no trusted proxy). */
void cfg_defaults(cfg_t *cfg);

/*
 * Loads path into cfg (defaults first, then the file). On error returns
 * CPT_ECONFIG (or CPT_EIO when the file cannot be read) and writes into err
 * a message of the form "path:line:column: what is wrong" (1-based).
 * Errors: unknown keys, wrong types, missing required keys (name, data_dir,
 * http), out-of-range values, duplicate keys, anchors and aliases, tags,
 * files over CFG_MAX_FILE, nesting deeper than CFG_MAX_DEPTH, YAML syntax,
 * tls with one of cert and key, redirect_http without them. The certificate
 * and key files are not read here: http_check() in node/ loads them.
 * CPT_ENOMEM when memory runs out. On any error cfg holds defaults and part
 * of the file: do not use it. On success cfg->path is a copy of path.
 */
int cfg_load(cfg_t *cfg, const char *path, char err[CFG_ERR_LEN]) CPT_WUR;

/* The same from a memory buffer (len bytes, NULs allowed); name is used in
 * messages in place of a path, and cfg->path stays "". */
int cfg_load_buffer(cfg_t *cfg, const char *name, const char *buf, size_t len,
                    char err[CFG_ERR_LEN]) CPT_WUR;

/* Parses "error", "warn", "info" or "debug"; returns 0 or CPT_EINVAL. */
int cfg_log_level_parse(enum cfg_log_level *out, const char *s) CPT_WUR;

/* ----------------------------------------------------------------- log */

/*
 * Logs go to stderr as "LEVEL component message key=value ...", one line
 * each, the form journald keeps. The level is checked before formatting.
 */
void log_set_level(enum cfg_log_level level);
int log_enabled(enum cfg_log_level level);
void log_msg(enum cfg_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
_Noreturn void fatalx(const char *component, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(c, ...)                                                                          \
	do {                                                                                       \
		if (log_enabled(LOG_LEVEL_DEBUG))                                                  \
			log_msg(LOG_LEVEL_DEBUG, c, __VA_ARGS__);                                  \
	} while (0)
#define log_info(c, ...)                                                                           \
	do {                                                                                       \
		if (log_enabled(LOG_LEVEL_INFO))                                                   \
			log_msg(LOG_LEVEL_INFO, c, __VA_ARGS__);                                   \
	} while (0)
#define log_warnx(c, ...)  log_msg(LOG_LEVEL_WARN, c, __VA_ARGS__)
#define log_errorx(c, ...) log_msg(LOG_LEVEL_ERROR, c, __VA_ARGS__)

#endif
