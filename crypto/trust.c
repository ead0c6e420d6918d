/*
 * The parts of the trust rules that are cryptography alone: whether a key
 * named in a body is a valid point, and the enrolment proof, by which the
 * enrolled key agrees to its enrolment (docs/PROTOCOL.md, "Keys in bodies"
 * and kind 2 "enrol"). The rules that read other events live in node/.
 */
#include <string.h>

#include <sodium.h>

#include "crypto/crypto.h"

int
key_ed25519_valid(const uint8_t pk[CPT_KEY_LEN])
{
	/* Canonical, not of small order, and [L]P the identity: libsodium
	 * checks all three, which the signature check alone does not (it
	 * accepts a key with a torsion component). */
	return crypto_core_ed25519_is_valid_point(pk) == 1;
}

/*
 * X25519 public keys are u-coordinates. RFC 7748 defines X25519 for every u
 * (the top bit masked, u reduced mod p), so two implementations agree on any
 * canonical key except where libsodium refuses to compute: the points of
 * small order, whose shared secret is all zero. Those are refused here, by
 * value, as libsodium 1.0.18 lists them (x25519_ref10.c, has_small_order);
 * p and p + 1 are already out as non-canonical.
 */
static const uint8_t s_x25519_small[5][32] = {
    {0}, /* 0 (order 4 on the curve: the point (0, 0) has order 2) */
    {1}, /* 1 */
    {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
     0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
     0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
    {0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1,
     0x55, 0x9c, 0x83, 0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c,
     0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57},
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
};

int
key_x25519_valid(const uint8_t pk[CPT_KEY_LEN])
{
	int below_p = 0;

	if (pk[31] & 0x80)
		return 0; /* bit 255 set: not how X25519 writes a key */
	/* u < p = 2^255 - 19: compared from the top byte down. */
	for (int i = 31; i >= 0; i--) {
		uint8_t pb = i == 31 ? 0x7f : i == 0 ? 0xed : 0xff;
		if (pk[i] != pb) {
			below_p = pk[i] < pb;
			break;
		}
	}
	if (!below_p)
		return 0;
	for (size_t i = 0; i < sizeof(s_x25519_small) / sizeof(s_x25519_small[0]); i++)
		if (memcmp(pk, s_x25519_small[i], 32) == 0)
			return 0;
	return 1;
}

size_t
evt_proof_statement(uint8_t out[EVT_PROOF_MAX], const uint8_t fed[CPT_FED_LEN],
                    const uint8_t key[CPT_KEY_LEN], const char *site, const char *handle)
{
	size_t dl = sizeof(EVT_PROOF_DOMAIN) - 1, sl = strlen(site), hl = strlen(handle), n = 0;

	if (sl == 0 || sl > 63 || hl == 0 || hl > 32)
		return 0;
	memcpy(out, EVT_PROOF_DOMAIN, dl);
	n = dl;
	memcpy(out + n, fed, CPT_FED_LEN);
	n += CPT_FED_LEN;
	memcpy(out + n, key, CPT_KEY_LEN);
	n += CPT_KEY_LEN;
	out[n++] = (uint8_t)sl;
	memcpy(out + n, site, sl);
	n += sl;
	out[n++] = (uint8_t)hl;
	memcpy(out + n, handle, hl);
	return n + hl;
}

int
evt_proof_sign(uint8_t sig[CPT_SIG_LEN], const key_sign_t *user, const uint8_t fed[CPT_FED_LEN],
               const char *site, const char *handle)
{
	uint8_t m[EVT_PROOF_MAX];
	size_t n = evt_proof_statement(m, fed, key_sign_public(user), site, handle);

	if (n == 0)
		return CPT_EINVAL;
	key_sign_sign(user, sig, m, n);
	return 0;
}

int
evt_proof_verify(const uint8_t sig[CPT_SIG_LEN], const uint8_t fed[CPT_FED_LEN],
                 const uint8_t key[CPT_KEY_LEN], const char *site, const char *handle)
{
	uint8_t m[EVT_PROOF_MAX];
	size_t n = evt_proof_statement(m, fed, key, site, handle);

	if (n == 0)
		return CPT_EINVAL;
	return crypto_sign_verify_detached(sig, m, n, key) == 0 ? 0 : CPT_ESIG;
}
