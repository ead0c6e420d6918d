/*
 * libFuzzer target for the blob messages a peer sends (PROTOCOL.md 18.6):
 * the frame rules (sync_msg_check) and the decoder of their fixed fields
 * (sync_bmsg_decode), then what the engine does with a decoded BMAP or
 * BCHUNK before it trusts it: the manifest against the id, the chunk
 * against the manifest. Input: byte 0 picks the type (10 + byte % 6), the
 * rest is frames as [u16 length, bytes]...
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sync/sync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *f[2] = {NULL, NULL};
	size_t len[3] = {2, 0, 0}, n = 1, pos = 1;
	sync_bmsg_t b;
	int type;

	if (size < 1)
		return 0;
	type = SYNC_BHELLO + data[0] % 6;
	while (n < 3 && pos + 2 <= size) {
		size_t l = (size_t)data[pos] << 8 | data[pos + 1];
		pos += 2;
		if (l > size - pos)
			l = size - pos;
		f[n - 1] = data + pos;
		len[n++] = l;
		pos += l;
	}
	if (sync_msg_check(type, n, len, 1 << 20) != 0) {
		/* What the check refuses, the decoder refuses too. */
		if (n >= 2 && sync_bmsg_decode(type, f, len + 1, n, &b) == 0)
			abort();
		return 0;
	}
	if (sync_bmsg_decode(type, f, len + 1, n, &b) != 0)
		return 0;
	if (type == SYNC_BMAP) {
		uint8_t id[32];
		/* The decoder let the manifest through: its length fits the size,
		 * so the id can be computed; an id equal to the claimed one from
		 * fuzzed bytes would be a BLAKE2b preimage. */
		if (sync_blob_id(id, b.size, f[1], len[2]) != 0)
			abort();
	} else if (type == SYNC_BCHUNK) {
		uint8_t h[32];
		if (len[2] == 0 || len[2] > SYNC_BLOB_CHUNK)
			abort();
		crypto_generichash(h, sizeof(h), f[1], len[2], NULL, 0);
	} else if (type == SYNC_BGET) {
		if (b.count < 1 || b.count > SYNC_BGET_MAX ||
		    (uint64_t)b.index + b.count > SYNC_BLOB_MAX_CHUNKS)
			abort();
	}
	return 0;
}
