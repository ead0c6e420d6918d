/*
 * Crafts signed events with chosen keys, times and bodies, and delivers them to a node
 * as a certified site would, one at a time, reporting what the node did with each (its
 * ACK). The attack tests of the trust rules (tests/integration/pending_trust.py) use it
 * for what no honest node does: backdating, dating ahead, enrolling someone else's key.
 * Loopback endpoints only.
 *
 * usage:
 *   forge pub SEED                               public key of a 64-hex seed
 *   forge proof SEED ROOTHEX SITE HANDLE         the enrolment proof of SEED's key
 *   forge torsion PUBHEX                         PUBHEX plus a point of order 8
 *   forge sign KEY ROOTHEX KIND MS[.COUNTER] BODY [--v1]
 *                                                an envelope, in hex; KEY is a key file
 *                                                or a 64-hex seed; --v1: version byte 1
 *   forge send ENDPOINT SERVER_CURVE_HEX CURVE_KEY SITE_KEY FILE [--frame-version N]
 *                                                each envelope of FILE (hex, one a line)
 *                                                in its own EVENTS message, waiting for
 *                                                its ACK; prints "ID stored|duplicate|
 *                                                pending|refused|no-ack" per line
 * Exit: 0 done, 2 usage, 3 the node refused the link or did not answer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <zmq.h>

#include "crypto/crypto.h"
#include "sync/sync.h"

static uint64_t
s_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
s_usage(void)
{
	fprintf(stderr,
	        "usage: forge pub SEED | proof SEED ROOTHEX SITE HANDLE | torsion PUBHEX |\n"
	        "       sign KEY ROOTHEX KIND MS[.COUNTER] BODY [--v1] |\n"
	        "       send ENDPOINT SERVER_CURVE_HEX CURVE_KEY SITE_KEY FILE "
	        "[--frame-version N]\n");
	return 2;
}

/* A key from a key file, or from 64 hex digits of seed. */
static key_sign_t *
s_key(const char *arg)
{
	uint8_t seed[CPT_SEED_LEN];
	char err[512];
	key_sign_t *k;

	if (cpt_unhex32(seed, arg, strlen(arg)) == 0) {
		k = key_sign_from_seed(seed);
		sodium_memzero(seed, sizeof(seed));
		return k;
	}
	if ((k = key_sign_load(arg, err, sizeof(err))) == NULL)
		fprintf(stderr, "forge: %s\n", err);
	return k;
}

static void
s_print_hex(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

/* ------------------------------------------------------------------ send */

static void *s_sock, *s_mon;
static int s_up, s_refused, s_gone;

static void
s_drain_monitor(void)
{
	for (;;) {
		zmq_msg_t m;
		uint16_t ev;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, s_mon, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			return;
		}
		if (zmq_msg_more(&m) && zmq_msg_size(&m) >= 2) {
			memcpy(&ev, zmq_msg_data(&m), 2);
			if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
				s_up = 1;
				s_gone = 0; /* gone is said of this connection */
			} else if (ev == ZMQ_EVENT_DISCONNECTED) {
				s_gone = 1;
			} else if (ev & (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
			                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
			                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)) {
				s_refused = 1;
			}
		}
		zmq_msg_close(&m);
	}
}

static uint8_t s_version = SYNC_VERSION; /* frame 0's version byte */

static void
s_send(int type, const void *frame, size_t len)
{
	uint8_t head[2] = {s_version, (uint8_t)type};

	zmq_send(s_sock, head, 2, frame ? ZMQ_SNDMORE : 0);
	if (frame)
		zmq_send(s_sock, frame, len, 0);
}

/* Reads for up to ms, answering PINGs; returns 1 when an ACK came (its four counts in
 * ack), 0 otherwise. */
static int
s_read(int ms, uint32_t ack[4])
{
	uint64_t until = s_ms() + (uint64_t)ms;

	while (s_ms() < until) {
		zmq_pollitem_t it[2] = {{s_sock, 0, ZMQ_POLLIN, 0}, {s_mon, 0, ZMQ_POLLIN, 0}};
		if (zmq_poll(it, 2, 20) < 0)
			return 0;
		if (it[1].revents & ZMQ_POLLIN)
			s_drain_monitor();
		/* A link that was up and went down brings no ACK: the node
		 * closed it (a ban, a peer of another protocol version). */
		if (s_up && s_gone)
			return 0;
		while (it[0].revents & ZMQ_POLLIN) {
			zmq_msg_t m;
			int type = -1, got_ack = 0, n = 0, more = 1;
			while (more) {
				zmq_msg_init(&m);
				if (zmq_msg_recv(&m, s_sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
					zmq_msg_close(&m);
					if (n == 0)
						goto next;
					break;
				}
				if (n == 0)
					type = sync_msg_type(zmq_msg_data(&m), zmq_msg_size(&m));
				else if (n == 1 && type == SYNC_ACK && zmq_msg_size(&m) == 16) {
					const uint8_t *p = zmq_msg_data(&m);
					for (int i = 0; i < 4; i++)
						ack[i] = (uint32_t)p[4 * i] << 24 |
						         (uint32_t)p[4 * i + 1] << 16 |
						         (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
					got_ack = 1;
				}
				more = zmq_msg_more(&m);
				zmq_msg_close(&m);
				n++;
			}
			if (type == SYNC_PING)
				s_send(SYNC_PONG, NULL, 0);
			if (got_ack)
				return 1;
		}
	next:;
	}
	return 0;
}

static int
s_loopback(const char *ep)
{
	return strncmp(ep, "tcp://127.", 10) == 0 || strncmp(ep, "tcp://localhost:", 16) == 0;
}

static int
s_cmd_send(int argc, char **argv)
{
	uint8_t server[CPT_KEY_LEN], *env = malloc(EVT_MAX_LEN);
	static char line[2 * EVT_MAX_LEN + 16];
	char err[512];
	key_curve_t *ck;
	key_sign_t *sk;
	void *ctx;
	FILE *fp;
	int zero = 0, rc = 0;
	uint64_t until;

	if (argc != 7 && !(argc == 9 && strcmp(argv[7], "--frame-version") == 0))
		return s_usage();
	if (argc == 9)
		s_version = (uint8_t)atoi(argv[8]);
	if (env == NULL || !s_loopback(argv[2]) ||
	    cpt_unhex32(server, argv[3], strlen(argv[3])) != 0)
		return s_usage();
	if ((ck = key_curve_load(argv[4], err, sizeof(err))) == NULL ||
	    (sk = key_sign_load(argv[5], err, sizeof(err))) == NULL) {
		fprintf(stderr, "forge: %s\n", err);
		return 2;
	}
	if ((fp = fopen(argv[6], "r")) == NULL) {
		fprintf(stderr, "forge: %s: %s\n", argv[6], strerror(errno));
		return 2;
	}
	ctx = zmq_ctx_new();
	s_sock = zmq_socket(ctx, ZMQ_DEALER);
	zmq_setsockopt(s_sock, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(s_sock, ZMQ_CURVE_SERVERKEY, server, 32);
	zmq_setsockopt(s_sock, ZMQ_CURVE_PUBLICKEY, key_curve_public(ck), 32);
	zmq_setsockopt(s_sock, ZMQ_CURVE_SECRETKEY, key_curve_secret(ck), 32);
	zmq_socket_monitor(s_sock, "inproc://forge-mon", ZMQ_EVENT_ALL);
	s_mon = zmq_socket(ctx, ZMQ_PAIR);
	zmq_setsockopt(s_mon, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_connect(s_mon, "inproc://forge-mon");
	zmq_connect(s_sock, argv[2]);
	for (until = s_ms() + 5000; s_ms() < until && !s_up && !s_refused;)
		s_read(20, (uint32_t[4]){0});
	if (!s_up) {
		printf("forge: handshake %s\n", s_refused ? "refused" : "never completed");
		rc = 3;
		goto out;
	}
	{
		/* HELLO: our signing key and a name, as a site says it. */
		uint8_t hello[CPT_KEY_LEN + 5];
		memcpy(hello, key_sign_public(sk), CPT_KEY_LEN);
		memcpy(hello + CPT_KEY_LEN, "forge", 5);
		s_send(SYNC_HELLO, hello, sizeof(hello));
		s_read(300, (uint32_t[4]){0});
	}
	while (fgets(line, sizeof(line), fp)) {
		size_t n = 0, hl = strcspn(line, "\r\n");
		uint8_t id[CPT_ID_LEN];
		uint32_t ack[4] = {0};
		static const char *const what[4] = {"stored", "duplicate", "pending", "refused"};
		const char *res = "no-ack";
		if (hl == 0 || sodium_hex2bin(env, EVT_MAX_LEN, line, hl, NULL, &n, NULL) != 0 ||
		    n < EVT_FIXED_LEN)
			continue;
		evt_id_raw(id, env);
		s_send(SYNC_EVENTS, env, n);
		if (s_read(10000, ack))
			for (int i = 0; i < 4; i++)
				if (ack[i])
					res = what[i];
		for (int i = 0; i < CPT_ID_LEN; i++)
			printf("%02x", id[i]);
		printf(" %s\n", res);
		fflush(stdout);
		if (s_gone || s_refused)
			break;
	}
out:
	fclose(fp);
	zmq_socket_monitor(s_sock, NULL, 0);
	zmq_close(s_mon);
	zmq_close(s_sock);
	zmq_ctx_term(ctx);
	key_curve_destroy(&ck);
	key_sign_destroy(&sk);
	free(env);
	return rc;
}

/* ------------------------------------------------------------------ main */

int
main(int argc, char **argv)
{
	uint8_t pk[CPT_KEY_LEN], fed[CPT_FED_LEN], sig[CPT_SIG_LEN];
	key_sign_t *k;

	if (argc < 2 || cpt_init() != 0)
		return s_usage();
	if (strcmp(argv[1], "pub") == 0 && argc == 3) {
		if ((k = s_key(argv[2])) == NULL)
			return 2;
		s_print_hex(key_sign_public(k), CPT_KEY_LEN);
		key_sign_destroy(&k);
		return 0;
	}
	if (strcmp(argv[1], "proof") == 0 && argc == 6) {
		if ((k = s_key(argv[2])) == NULL || cpt_unhex32(pk, argv[3], strlen(argv[3])) != 0)
			return s_usage();
		evt_federation_id(fed, pk);
		if (evt_proof_sign(sig, k, fed, argv[4], argv[5]) != 0)
			return s_usage();
		s_print_hex(sig, sizeof(sig));
		key_sign_destroy(&k);
		return 0;
	}
	if (strcmp(argv[1], "torsion") == 0 && argc == 3) {
		/* a point of order 8: y8 of PROTOCOL.md section 5 */
		static const char *t8 =
		    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05";
		uint8_t t[32], sum[32];
		if (cpt_unhex32(pk, argv[2], strlen(argv[2])) != 0 || cpt_unhex32(t, t8, 64) != 0 ||
		    crypto_core_ed25519_add(sum, pk, t) != 0)
			return s_usage();
		s_print_hex(sum, sizeof(sum));
		return 0;
	}
	if (strcmp(argv[1], "sign") == 0 &&
	    (argc == 7 || (argc == 8 && strcmp(argv[7], "--v1") == 0))) {
		static uint8_t env[EVT_MAX_LEN];
		size_t len;
		unsigned long long ms = strtoull(argv[5], NULL, 10);
		const char *dot = strchr(argv[5], '.');
		unsigned counter = dot ? (unsigned)strtoul(dot + 1, NULL, 10) : 0;
		if ((k = s_key(argv[2])) == NULL || cpt_unhex32(pk, argv[3], strlen(argv[3])) != 0)
			return s_usage();
		evt_federation_id(fed, pk);
		if (evt_sign(env, sizeof(env), &len, (uint16_t)atoi(argv[4]), fed,
		             HLC_MAKE(ms, counter), (const uint8_t *)argv[6], strlen(argv[6]),
		             k) != 0) {
			fprintf(stderr, "forge: cannot sign (body too big?)\n");
			return 2;
		}
		if (argc == 8)
			env[0] = 1;
		s_print_hex(env, len);
		key_sign_destroy(&k);
		return 0;
	}
	if (strcmp(argv[1], "send") == 0)
		return s_cmd_send(argc, argv);
	return s_usage();
}
