/*
 * For the unit tests that face a real sync engine with a peer driven by hand
 * (test_hold, test_sendback): the peer is a ZeroMQ ROUTER of the test, a
 * CURVE server on a loopback port it picks, which the engine dials; it
 * speaks the protocol message by message. Included by one test file each
 * (static functions), after <cmocka.h>.
 */
#ifndef TESTS_UNIT_SYNC_HAND_H
#define TESTS_UNIT_SYNC_HAND_H

#include <stdint.h>
#include <string.h>

#include <zmq.h>

#include "sync/sync.h"

/* A ROUTER in ctx, CURVE server with curve's secret, bound to a loopback
 * port; its endpoint in ep. No ZAP handler in ctx: it admits any client,
 * which is the engine under test. */
__attribute__((unused)) static void *
hand_router(void *ctx, const key_curve_t *curve, char *ep, size_t eplen)
{
	void *router = zmq_socket(ctx, ZMQ_ROUTER);
	int one = 1, zero = 0;

	assert_non_null(router);
	assert_int_equal(zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof(zero)), 0);
	assert_int_equal(zmq_setsockopt(router, ZMQ_CURVE_SERVER, &one, sizeof(one)), 0);
	assert_int_equal(zmq_setsockopt(router, ZMQ_CURVE_SECRETKEY, key_curve_secret(curve), 32),
	                 0);
	assert_int_equal(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
	assert_int_equal(zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, ep, &eplen), 0);
	return router;
}

/* One message to the peer of routing id rid: frame 0 [version, type], then
 * n frames (f[i], fl[i] bytes). 0, or -1 when a frame did not go. */
__attribute__((unused)) static int
hand_send(void *router, const zmq_msg_t *rid, int type, const void *const *f, const size_t *fl,
          size_t n)
{
	uint8_t head[2] = {SYNC_VERSION, (uint8_t)type};
	zmq_msg_t r;
	int rc = 0;

	zmq_msg_init(&r);
	zmq_msg_copy(&r, (zmq_msg_t *)rid);
	rc |= zmq_msg_send(&r, router, ZMQ_SNDMORE) < 0;
	rc |= zmq_send(router, head, 2, n ? ZMQ_SNDMORE : 0) < 0;
	for (size_t i = 0; i < n; i++)
		rc |= zmq_send(router, f[i], fl[i], i + 1 < n ? ZMQ_SNDMORE : 0) < 0;
	return rc ? -1 : 0;
}

/* A HELLO of the site whose key is sign and whose name is name. */
__attribute__((unused)) static int
hand_hello(void *router, const zmq_msg_t *rid, const uint8_t sign[32], const char *name)
{
	uint8_t b[32 + 63];
	size_t nl = strlen(name) > 63 ? 63 : strlen(name);
	const void *f[1] = {b};
	size_t fl[1] = {32 + nl};

	memcpy(b, sign, 32);
	memcpy(b + 32, name, nl);
	return hand_send(router, rid, SYNC_HELLO, f, fl, 1);
}

/* Called with each frame after frame 0 of a message hand_recv reads (k from
 * 0); data is valid during the call only. */
typedef void (*hand_frame_fn)(void *arg, int type, size_t k, const void *data, size_t len);

/* Reads the next message within wait_ms, answering PINGs (the engine's
 * link stays up): its type, or -1 when none came. The routing id goes to
 * rid (initialised by the caller) when rid_out is set; fn (may be NULL)
 * sees the frames. */
__attribute__((unused)) static int
hand_recv(void *router, zmq_msg_t *rid, int rid_out, int wait_ms, hand_frame_fn fn, void *arg)
{
	zmq_pollitem_t it = {router, 0, ZMQ_POLLIN, 0};
	zmq_msg_t r, m;
	int type = -1;
	size_t k = 0;

	if (zmq_poll(&it, 1, wait_ms) <= 0)
		return -1;
	zmq_msg_init(&r);
	assert_true(zmq_msg_recv(&r, router, 0) >= 0);
	for (int more = 1; more; k++) {
		zmq_msg_init(&m);
		assert_true(zmq_msg_recv(&m, router, 0) >= 0);
		more = zmq_msg_more(&m);
		if (k == 0 && zmq_msg_size(&m) == 2)
			type = ((const uint8_t *)zmq_msg_data(&m))[1];
		else if (k > 0 && fn)
			fn(arg, type, k - 1, zmq_msg_data(&m), zmq_msg_size(&m));
		zmq_msg_close(&m);
	}
	if (type == SYNC_PING)
		assert_int_equal(hand_send(router, &r, SYNC_PONG, NULL, NULL, 0), 0);
	if (rid_out)
		zmq_msg_copy(rid, &r);
	zmq_msg_close(&r);
	return type;
}

#endif
