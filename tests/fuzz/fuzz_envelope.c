/*
 * libFuzzer target for the envelope decoder: evt_decode on any bytes, then
 * evt_verify and evt_id on what it accepts, checking the invariants PROTOCOL.md
 * promises. Seed corpus: tests/fuzz/corpus/envelope (tests/tools/mkvectors -c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Not assert(): these must hold in every build, NDEBUG or not. */
#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

/* The promises about an envelope evt_decode accepted. */
static void
s_accepted(const evt_t *ev, const uint8_t *data, size_t size)
{
	uint8_t id[CPT_ID_LEN], id2[CPT_ID_LEN];
	evt_t red;
	int rc, vrc;

	/* What was accepted is what the header says it is. */
	CHECK(ev->raw == data && ev->raw_len == size);
	CHECK(ev->version == EVT_VERSION && ev->kind != 0);
	CHECK(ev->body_len > 0 && ev->body_len <= EVT_MAX_BODY);
	if (ev->body == NULL)
		CHECK(size == EVT_FIXED_LEN);
	else
		CHECK(ev->body == data + EVT_FIXED_LEN && size == EVT_FIXED_LEN + ev->body_len);

	/* Signed in its own federation or not, verifying never fails otherwise. */
	vrc = evt_verify(ev, ev->fed);
	CHECK(vrc == 0 || vrc == CPT_ESIG);
	evt_id(id, ev);

	/* Redaction keeps the id and the verdict. */
	CHECK(evt_decode(&red, data, EVT_FIXED_LEN, EVT_MAX_BODY) == 0 && red.body == NULL);
	CHECK(evt_verify(&red, red.fed) == vrc);
	evt_id_raw(id2, data);
	CHECK(memcmp(id, id2, sizeof(id)) == 0);

	/* A lower cap refuses exactly the bodies above it. */
	rc = evt_decode(&red, data, size, 256);
	CHECK(ev->body_len > 256 ? rc == CPT_ETOOBIG : rc == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t mended[EVT_MAX_LEN];
	static int ready;
	evt_t ev;
	int rc;

	if (!ready) {
		CHECK(cpt_init() == 0);
		ready = 1;
	}
	rc = evt_decode(&ev, data, size, EVT_MAX_BODY);
	CHECK(rc == 0 || rc == CPT_EINVAL || rc == CPT_EVERSION || rc == CPT_ETOOBIG ||
	      rc == CPT_EHASH);
	if (rc == 0)
		s_accepted(&ev, data, size);
	if (rc != CPT_EHASH)
		return 0;
	/* Mutated bodies never match their hash: mend it, so that the body checks
	 * behind the hash are fuzzed too. */
	CHECK(size > EVT_FIXED_LEN && size <= EVT_MAX_LEN);
	memcpy(mended, data, size);
	crypto_generichash(mended + 76, CPT_HASH_LEN, mended + EVT_FIXED_LEN, size - EVT_FIXED_LEN,
	                   NULL, 0);
	rc = evt_decode(&ev, mended, size, EVT_MAX_BODY);
	CHECK(rc == 0 || rc == CPT_EINVAL);
	if (rc == 0)
		s_accepted(&ev, mended, size);
	return 0;
}
