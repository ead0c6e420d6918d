/*
 * libFuzzer target for what a peer sends: the sync message framing checks
 * (sync_msg_type, sync_msg_check) and the reconciliation decoder
 * (recon_process), answered from a small fixed set. Input: byte 0 picks the
 * part; for framing, the rest is frames as [u16 length, bytes]...
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync/sync.h"

#define SET 64

static uint8_t s_keys[SET][RECON_KEY_LEN];
static int s_ready;

static size_t
s_lower(const uint8_t *b)
{
	size_t i = 0;
	while (i < SET && memcmp(s_keys[i], b, RECON_KEY_LEN) < 0)
		i++;
	return i;
}

static void
s_fp(void *ctx, const uint8_t *lo, const uint8_t *hi, uint64_t *count, uint8_t fp[RECON_FP_LEN])
{
	uint8_t sum[32] = {0};
	size_t a = s_lower(lo), b = s_lower(hi);

	(void)ctx;
	for (size_t i = a; i < b; i++)
		recon_sum_add(sum, s_keys[i] + 8);
	*count = b > a ? b - a : 0;
	recon_fingerprint(fp, sum, *count);
}

static size_t
s_items(void *ctx, const uint8_t *lo, const uint8_t *hi, uint8_t (*out)[RECON_KEY_LEN], size_t max)
{
	size_t a = s_lower(lo), b = s_lower(hi), n = 0;

	(void)ctx;
	for (size_t i = a; i < b && n < max; i++)
		memcpy(out[n++], s_keys[i], RECON_KEY_LEN);
	return n;
}

static size_t
s_split(void *ctx, const uint8_t *lo, const uint8_t *hi, uint64_t count, size_t k,
        uint8_t (*bounds)[RECON_KEY_LEN])
{
	size_t a = s_lower(lo), b = s_lower(hi), n = 0;

	(void)ctx;
	(void)count;
	for (size_t j = 1; j < k; j++) {
		size_t at = a + (b - a) * j / k;
		if (at > a && at < b)
			recon_bound_between(bounds[n++], s_keys[at - 1], s_keys[at]);
	}
	return n;
}

static int
s_has(void *ctx, const uint8_t id[32])
{
	(void)ctx;
	(void)id;
	return 0;
}

static void
s_push_ids(void *arg, const uint8_t (*keys)[40], size_t n)
{
	(void)arg;
	(void)keys;
	(void)n;
}

static void
s_want_ids(void *arg, const uint8_t (*ids)[32], size_t n)
{
	(void)arg;
	(void)ids;
	(void)n;
}

static void
s_push_range(void *arg, const uint8_t *lo, const uint8_t *hi)
{
	(void)arg;
	(void)lo;
	(void)hi;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[1 << 16];
	static recon_t *rc;

	if (!s_ready) {
		/* A fixed set: ascending timestamps, ids from a simple generator. */
		for (int i = 0; i < SET; i++) {
			for (int b = 0; b < 8; b++)
				s_keys[i][b] =
				    (uint8_t)((1000ull + 7ull * (uint64_t)i) >> (56 - 8 * b));
			for (int b = 0; b < 32; b++)
				s_keys[i][8 + b] = (uint8_t)(i * 31 + b * 7);
		}
		recon_src_t src = {NULL, s_fp, s_items, s_split, s_has, NULL};
		recon_sink_t sink = {NULL, s_push_ids, s_push_range, s_want_ids, NULL};
		rc = recon_new(&src, &sink);
		s_ready = 1;
	}
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		size_t outlen;
		int done;
		/* Any result will do; what matters is never crashing or reading
		 * out of bounds, and an answer that fits. */
		if (recon_process(rc, data + 1, size - 1, out, sizeof(out), &outlen, &done) == 0 &&
		    outlen > sizeof(out))
			abort();
	} else {
		size_t len[16], n = 0, pos = 1;
		while (n < 16 && pos + 2 <= size) {
			size_t l = (size_t)data[pos] << 8 | data[pos + 1];
			pos += 2;
			if (l > size - pos)
				l = size - pos;
			len[n++] = l;
			if (n == 1)
				(void)sync_msg_type(data + pos, l);
			pos += l;
		}
		if (n > 0) {
			int type = data[0] >> 1;
			(void)sync_msg_check(type, n, len, 1 << 20);
		}
	}
	return 0;
}
