/*
 * The sync message codec: frame 0 is [version, type]; each type has a fixed
 * frame count and bounded frame sizes, checked before any frame is used.
 * docs/PROTOCOL.md, "Sync messages".
 */
#include "sync/sync.h"

int
sync_msg_type(const uint8_t *frame0, size_t len)
{
	if (frame0 == NULL || len != 2 || frame0[0] != SYNC_VERSION)
		return -1;
	if (frame0[1] < SYNC_HELLO || frame0[1] > SYNC_BACKLOG)
		return -1;
	return frame0[1];
}

int
sync_msg_check(int type, size_t n, const size_t *len, size_t max_msg)
{
	size_t total = 0;

	for (size_t i = 0; i < n; i++) {
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
	}
	return CPT_EINVAL;
}
