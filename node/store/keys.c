/*
 * Key layouts shared by every database: big-endian numbers (so that keys
 * sort by value), the 2-byte kind of the index entries, and the (timestamp,
 * id) key that orders events. One place, so that a layout changes once.
 */
#include <string.h>

#include "node/store/store.h"

void
store_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

uint64_t
store_get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

uint16_t
store_get_kind(const store_val_t *v)
{
	const uint8_t *p = v->data;

	return v->len == 2 ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

void
store_put_kind(uint8_t out[2], uint16_t kind)
{
	out[0] = (uint8_t)(kind >> 8);
	out[1] = (uint8_t)kind;
}

void
store_tsid(uint8_t out[STORE_TSID_LEN], uint64_t ts, const uint8_t id[CPT_ID_LEN])
{
	store_put_u64(out, ts);
	memcpy(out + 8, id, CPT_ID_LEN);
}

int
store_key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

int
store_cmp_tsid(uint64_t ts_a, const uint8_t *id_a, uint64_t ts_b, const uint8_t *id_b)
{
	if (ts_a != ts_b)
		return ts_a < ts_b ? -1 : 1;
	return memcmp(id_a, id_b, CPT_ID_LEN);
}

uint64_t
store_env_ts(const void *envelope)
{
	/* The header's timestamp field (docs/PROTOCOL.md, "Envelope"). */
	return store_get_u64((const uint8_t *)envelope + 68);
}
