/*
 * libFuzzer target for the stored form of envelopes (node/index/envelopes.c,
 * schema 11): index_env_unpack on any bytes never reads past them, and what
 * it reads is an envelope that index_env_pack stores again without losing a
 * byte; a compact value packs back to itself; decoding the two pieces
 * (evt_decode_parts) answers as evt_decode does on the whole.
 * Input: 32 bytes of federation id, then the stored value. Seed corpus:
 * tests/fuzz/corpus/storedenv.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/index/index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Not assert(): these must hold in every build, NDEBUG or not. */
#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	const uint8_t *fed = data, *v = data + CPT_FED_LEN;
	size_t n, elen, plen;
	uint8_t *env, *packed;
	index_env_t e, back;
	evt_t whole, parts;
	int rc;

	if (!ready) {
		CHECK(cpt_init() == 0);
		ready = 1;
	}
	if (size < CPT_FED_LEN)
		return 0;
	n = size - CPT_FED_LEN;
	rc = index_env_unpack(fed, v, n, &e);
	CHECK(rc == 0 || rc == CPT_EDAMAGED);
	if (rc != 0)
		return 0;
	/* The body is within the value. */
	CHECK((e.body == NULL) == (e.body_len == 0));
	if (e.body)
		CHECK(e.body >= v && e.body + e.body_len <= v + n);
	env = index_env_dup(&e, &elen);
	CHECK(env != NULL && elen == EVT_FIXED_LEN + e.body_len);
	/* Two pieces or one run of bytes: the same answer. */
	CHECK(evt_decode_parts(&parts, e.fixed, e.body, e.body_len, EVT_MAX_BODY, 0) ==
	      evt_decode(&whole, env, elen, EVT_MAX_BODY));
	CHECK(evt_decode_parts(&parts, e.fixed, e.body, e.body_len, EVT_MAX_BODY, 1) ==
	      evt_decode_lazy(&whole, env, elen, EVT_MAX_BODY));
	/* Stored again, with the federation or without: nothing is lost. */
	packed = malloc(elen + 1);
	CHECK(packed != NULL);
	for (int with = 0; with < 2; with++) {
		plen = index_env_pack(with ? fed : NULL, env, elen, packed);
		CHECK(plen <= elen + 1);
		CHECK(index_env_unpack(fed, packed, plen, &back) == 0);
		CHECK(index_env_len(&back) == elen);
		CHECK(memcmp(back.fixed, env, EVT_FIXED_LEN) == 0);
		CHECK(back.body_len == 0 ||
		      memcmp(back.body, env + EVT_FIXED_LEN, back.body_len) == 0);
		/* A compact value is the one form of its envelope. */
		if (with && index_env_is_compact(v, n))
			CHECK(plen == n && memcmp(packed, v, n) == 0);
	}
	free(packed);
	free(env);
	return 0;
}
