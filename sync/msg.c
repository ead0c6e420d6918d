/*
 * The sync message codec: frame 0 is [version, type]; each type has a fixed
 * frame count and bounded frame sizes, checked before any frame is used.
 * docs/PROTOCOL.md, "Sync messages".
 */
#include <string.h>

#include <sodium.h>

#include "sync/sync.h"

#define BLOB_DOMAIN "comptoir/blob/v1"

int
sync_msg_type(const uint8_t *frame0, size_t len)
{
	if (frame0 == NULL || len != 2 || frame0[0] != SYNC_VERSION)
		return -1;
	if (frame0[1] < SYNC_HELLO || frame0[1] > SYNC_BNONE)
		return -1;
	return frame0[1];
}

int
sync_msg_check(int type, size_t n, const size_t *len, size_t max_msg)
{
	size_t total = 0;

	for (size_t i = 0; i < n; i++) {
		/* A manifest (BMAP's frame 2) may be 1 MiB, the floor of max_msg:
		 * it alone is bounded by its own rule below. */
		if (type == SYNC_BMAP && i == 2)
			continue;
		if (len[i] > max_msg)
			return CPT_EINVAL;
		total += len[i];
	}
	if (total > max_msg)
		return CPT_EINVAL;
	switch (type) {
	case SYNC_HELLO:
		return n == 2 && len[1] > CPT_KEY_LEN && len[1] <= CPT_KEY_LEN + 63 ? 0
		                                                                    : CPT_EINVAL;
	case SYNC_PING:
	case SYNC_PONG: return n == 1 ? 0 : CPT_EINVAL;
	case SYNC_EVENTS:
		if (n < 2 || n > 1 + 1000)
			return CPT_EINVAL;
		for (size_t i = 1; i < n; i++)
			if (len[i] < EVT_FIXED_LEN || len[i] > EVT_MAX_LEN)
				return CPT_EINVAL;
		return 0;
	case SYNC_ACK: return n == 2 && len[1] == 16 ? 0 : CPT_EINVAL;
	case SYNC_IDS: return n == 3 && len[1] % SYNC_TSID_LEN == 0 && len[2] == 1 ? 0 : CPT_EINVAL;
	case SYNC_WANT: return n == 2 && len[1] > 0 && len[1] % CPT_ID_LEN == 0 ? 0 : CPT_EINVAL;
	case SYNC_RECON: return n == 2 && len[1] > 0 ? 0 : CPT_EINVAL;
	case SYNC_BACKLOG: return n == 2 && len[1] == 8 ? 0 : CPT_EINVAL;
	case SYNC_BHELLO: return n == 2 && len[1] == 2 ? 0 : CPT_EINVAL;
	case SYNC_BMAP_GET: return n == 2 && len[1] == 32 ? 0 : CPT_EINVAL;
	case SYNC_BMAP:
		return n == 3 && len[1] == 40 && len[2] > 0 && len[2] % 32 == 0 &&
		               len[2] <= (size_t)SYNC_BLOB_MAX_CHUNKS * 32
		           ? 0
		           : CPT_EINVAL;
	case SYNC_BGET: return n == 2 && len[1] == 38 ? 0 : CPT_EINVAL;
	case SYNC_BCHUNK:
		return n == 3 && len[1] == 36 && len[2] > 0 && len[2] <= SYNC_BLOB_CHUNK
		           ? 0
		           : CPT_EINVAL;
	case SYNC_BNONE: return n == 2 && len[1] == 37 ? 0 : CPT_EINVAL;
	}
	return CPT_EINVAL;
}

/* ------------------------------------------------------------- blobs */

uint32_t
sync_blob_nchunks(uint64_t size)
{
	return (uint32_t)((size + SYNC_BLOB_CHUNK - 1) / SYNC_BLOB_CHUNK);
}

size_t
sync_blob_chunk_len(uint64_t size, uint32_t index)
{
	uint64_t off = (uint64_t)index * SYNC_BLOB_CHUNK;

	if (off >= size)
		return 0;
	return size - off < SYNC_BLOB_CHUNK ? (size_t)(size - off) : SYNC_BLOB_CHUNK;
}

int
sync_blob_id(uint8_t id[32], uint64_t size, const uint8_t *manifest, size_t mlen)
{
	crypto_generichash_state st;
	uint8_t be[8];

	if (size == 0 || size > SYNC_BLOB_MAX_SIZE || manifest == NULL ||
	    mlen != (size_t)sync_blob_nchunks(size) * 32)
		return CPT_EINVAL;
	for (int i = 0; i < 8; i++)
		be[i] = (uint8_t)(size >> (56 - 8 * i));
	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)BLOB_DOMAIN, strlen(BLOB_DOMAIN));
	crypto_generichash_update(&st, be, sizeof(be));
	crypto_generichash_update(&st, manifest, mlen);
	crypto_generichash_final(&st, id, 32);
	return 0;
}

static uint64_t
s_get(const uint8_t *b, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | b[i];
	return v;
}

int
sync_bmsg_decode(int type, const uint8_t *const *f, const size_t *len, size_t n_frames,
                 sync_bmsg_t *out)
{
	size_t lens[3] = {2, 0, 0};

	if (f == NULL || len == NULL || out == NULL || n_frames < 2 || n_frames > 3)
		return CPT_EINVAL;
	for (size_t i = 1; i < n_frames; i++) {
		if (f[i - 1] == NULL)
			return CPT_EINVAL;
		lens[i] = len[i - 1];
	}
	if (sync_msg_check(type, n_frames, lens, (size_t)1 << 20) != 0)
		return CPT_EINVAL;
	memset(out, 0, sizeof(*out));
	if (type == SYNC_BHELLO) {
		out->version = f[0][0];
		return out->version >= 1 ? 0 : CPT_EINVAL;
	}
	memcpy(out->id, f[0], 32);
	switch (type) {
	case SYNC_BMAP_GET: return 0;
	case SYNC_BMAP:
		out->size = s_get(f[0] + 32, 8);
		if (out->size == 0 || out->size > SYNC_BLOB_MAX_SIZE ||
		    len[1] != (size_t)sync_blob_nchunks(out->size) * 32)
			return CPT_EINVAL;
		return 0;
	case SYNC_BGET:
		out->index = (uint32_t)s_get(f[0] + 32, 4);
		out->count = (uint16_t)s_get(f[0] + 36, 2);
		if (out->count < 1 || out->count > SYNC_BGET_MAX ||
		    out->index >= SYNC_BLOB_MAX_CHUNKS ||
		    (uint64_t)out->index + out->count > SYNC_BLOB_MAX_CHUNKS)
			return CPT_EINVAL;
		return 0;
	case SYNC_BCHUNK:
		out->index = (uint32_t)s_get(f[0] + 32, 4);
		return out->index < SYNC_BLOB_MAX_CHUNKS ? 0 : CPT_EINVAL;
	case SYNC_BNONE:
		out->reason = f[0][32];
		out->held = (uint32_t)s_get(f[0] + 33, 4);
		return out->held <= SYNC_BLOB_MAX_CHUNKS ? 0 : CPT_EINVAL;
	}
	return CPT_EINVAL;
}
