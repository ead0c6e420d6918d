/*
 * Unit tests for crypto/trust.c: which keys a body may name (Ed25519 and
 * X25519 validity, PROTOCOL.md "Keys in bodies") and the enrolment proof.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <sodium.h>

#include "crypto/crypto.h"

static key_sign_t *s_user; /* seed 40..5f: alice of the vectors */
static uint8_t s_fed[CPT_FED_LEN];

static int
s_setup(void **state)
{
	uint8_t seed[CPT_SEED_LEN], root[CPT_KEY_LEN] = {0};

	(void)state;
	if (cpt_init() != 0)
		return -1;
	for (int i = 0; i < CPT_SEED_LEN; i++)
		seed[i] = (uint8_t)(0x40 + i);
	s_user = key_sign_from_seed(seed);
	memset(root, 0x11, sizeof(root));
	evt_federation_id(s_fed, root);
	return s_user ? 0 : -1;
}

static int
s_teardown(void **state)
{
	(void)state;
	key_sign_destroy(&s_user);
	return 0;
}

static void
s_hex(uint8_t out[32], const char *hex)
{
	assert_int_equal(cpt_unhex32(out, hex, strlen(hex)), 0);
}

/* ------------------------------------------------------------- Ed25519 */

static void
test_ed25519_keys(void **state)
{
	uint8_t k[32], t8[32], mixed[32];

	(void)state;
	/* Honest keys are valid. */
	assert_int_equal(key_ed25519_valid(key_sign_public(s_user)), 1);
	for (int i = 0; i < 50; i++) {
		key_sign_t *r = key_sign_new();
		assert_non_null(r);
		assert_int_equal(key_ed25519_valid(key_sign_public(r)), 1);
		key_sign_destroy(&r);
	}
	/* The small-order encodings of PROTOCOL.md 5, with and without bit 255. */
	static const char *small[] = {
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    "0100000000000000000000000000000000000000000000000000000000000000",
	    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
	    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
	    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	};
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		s_hex(k, small[i]);
		assert_int_equal(key_ed25519_valid(k), 0);
		k[31] |= 0x80;
		assert_int_equal(key_ed25519_valid(k), 0);
	}
	/* A key plus a point of order 8: on the curve, canonical, not of small
	 * order, and still refused: not in the prime-order subgroup. The
	 * signature rules of section 5 accept such an author key. */
	s_hex(t8, small[2]);
	assert_int_equal(crypto_core_ed25519_add(mixed, key_sign_public(s_user), t8), 0);
	assert_int_equal(key_ed25519_valid(mixed), 0);
	/* y >= p: not canonical. */
	s_hex(k, "efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
	assert_int_equal(key_ed25519_valid(k), 0);
	/* A y with no x on the curve (y = 2). */
	memset(k, 0, sizeof(k));
	k[0] = 2;
	assert_int_equal(key_ed25519_valid(k), 0);
}

/* ------------------------------------------------------------- X25519 */

static void
test_x25519_keys(void **state)
{
	uint8_t sk[32], pk[32];

	(void)state;
	for (int i = 0; i < 50; i++) {
		randombytes_buf(sk, sizeof(sk));
		assert_int_equal(crypto_scalarmult_base(pk, sk), 0);
		assert_int_equal(key_x25519_valid(pk), 1);
	}
	/* The five small-order values, as libsodium lists them. */
	static const char *small[] = {
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    "0100000000000000000000000000000000000000000000000000000000000000",
	    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	};
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		s_hex(pk, small[i]);
		assert_int_equal(key_x25519_valid(pk), 0);
		/* libsodium agrees: nothing to compute with it. */
		assert_int_not_equal(crypto_scalarmult(sk, sk, pk), 0);
	}
	/* Not canonical: u = p, u = p + 1, and bit 255 set on a good key. */
	s_hex(pk, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
	assert_int_equal(key_x25519_valid(pk), 0);
	s_hex(pk, "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
	assert_int_equal(key_x25519_valid(pk), 0);
	randombytes_buf(sk, sizeof(sk));
	assert_int_equal(crypto_scalarmult_base(pk, sk), 0);
	pk[31] |= 0x80;
	assert_int_equal(key_x25519_valid(pk), 0);
	/* u = p - 2: canonical, not of small order: valid (it is on the twist;
	 * X25519 is defined there and every implementation agrees). */
	s_hex(pk, "ebffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
	assert_int_equal(key_x25519_valid(pk), 1);
	/* u = 9, the base point. */
	memset(pk, 0, sizeof(pk));
	pk[0] = 9;
	assert_int_equal(key_x25519_valid(pk), 1);
}

/* ------------------------------------------------------------- proofs */

static void
test_proof_statement(void **state)
{
	uint8_t m[EVT_PROOF_MAX], key[32];
	char long_site[65], long_handle[34];
	size_t n;

	(void)state;
	memset(key, 0xab, sizeof(key));
	n = evt_proof_statement(m, s_fed, key, "lyon", "alice.martin");
	/* domain, federation, key, 4 "lyon", 12 "alice.martin" */
	assert_int_equal(n, 27 + 32 + 32 + 1 + 4 + 1 + 12);
	assert_memory_equal(m, "comptoir/enrolment-proof/v1", 27);
	assert_memory_equal(m + 27, s_fed, 32);
	assert_memory_equal(m + 59, key, 32);
	assert_int_equal(m[91], 4);
	assert_memory_equal(m + 92, "lyon", 4);
	assert_int_equal(m[96], 12);
	assert_memory_equal(m + 97, "alice.martin", 12);
	/* The longest fits; longer is refused. */
	memset(long_site, 'a', 63);
	long_site[63] = 0;
	memset(long_handle, 'b', 32);
	long_handle[32] = 0;
	assert_int_equal(evt_proof_statement(m, s_fed, key, long_site, long_handle), EVT_PROOF_MAX);
	long_site[63] = 'a';
	long_site[64] = 0;
	assert_int_equal(evt_proof_statement(m, s_fed, key, long_site, "x"), 0);
	long_handle[32] = 'b';
	long_handle[33] = 0;
	assert_int_equal(evt_proof_statement(m, s_fed, key, "lyon", long_handle), 0);
	assert_int_equal(evt_proof_statement(m, s_fed, key, "", "x"), 0);
	assert_int_equal(evt_proof_statement(m, s_fed, key, "lyon", ""), 0);
}

static void
test_proof_binds_everything(void **state)
{
	uint8_t sig[CPT_SIG_LEN], other_fed[CPT_FED_LEN];
	const uint8_t *pk = key_sign_public(s_user);
	key_sign_t *other = key_sign_new();

	(void)state;
	assert_non_null(other);
	assert_int_equal(evt_proof_sign(sig, s_user, s_fed, "lyon", "alice.martin"), 0);
	assert_int_equal(evt_proof_verify(sig, s_fed, pk, "lyon", "alice.martin"), 0);
	/* Each part of the statement counts. */
	assert_int_equal(evt_proof_verify(sig, s_fed, pk, "paris", "alice.martin"), CPT_ESIG);
	assert_int_equal(evt_proof_verify(sig, s_fed, pk, "lyon", "alice.martin2"), CPT_ESIG);
	assert_int_equal(
	    evt_proof_verify(sig, s_fed, key_sign_public(other), "lyon", "alice.martin"), CPT_ESIG);
	memcpy(other_fed, s_fed, sizeof(other_fed));
	other_fed[0] ^= 1;
	assert_int_equal(evt_proof_verify(sig, other_fed, pk, "lyon", "alice.martin"), CPT_ESIG);
	/* "lyo" + "nalice.martin" is another statement than "lyon" + "alice.martin". */
	assert_int_equal(evt_proof_verify(sig, s_fed, pk, "lyo", "nalice.martin"), CPT_ESIG);
	sig[5] ^= 1;
	assert_int_equal(evt_proof_verify(sig, s_fed, pk, "lyon", "alice.martin"), CPT_ESIG);
	/* Too long to be a statement. */
	assert_int_equal(
	    evt_proof_sign(sig, s_user, s_fed, "lyon", "a-handle-of-thirty-three-bytes-xx"),
	    CPT_EINVAL);
	/* The domain string is signed: the same bytes without it do not verify. */
	{
		uint8_t m[EVT_PROOF_MAX];
		size_t n = evt_proof_statement(m, s_fed, key_sign_public(other), "lyon", "x");
		key_sign_sign(other, sig, m + 27, n - 27);
		assert_int_equal(evt_proof_verify(sig, s_fed, key_sign_public(other), "lyon", "x"),
		                 CPT_ESIG);
		key_sign_sign(other, sig, m, n);
		assert_int_equal(evt_proof_verify(sig, s_fed, key_sign_public(other), "lyon", "x"),
		                 0);
	}
	key_sign_destroy(&other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ed25519_keys),
	    cmocka_unit_test(test_x25519_keys),
	    cmocka_unit_test(test_proof_statement),
	    cmocka_unit_test(test_proof_binds_everything),
	};
	return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
