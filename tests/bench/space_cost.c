/*
 * space_cost — what private spaces cost one core, before any of it is wired
 * into the node: sealing and opening a post (node/space over crypto/),
 * opening a key sealed to this site, and folding a space's governance
 * events, next to an Ed25519 verify (what every event costs already).
 * Prints one "name=µs per op" line each, the median of 5 runs.
 *   ./build/tests/bench/space_cost
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "crypto/crypto.h"
#include "node/space/space.h"

static double
s_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
s_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Runs fn n times, 5 times over; prints the median µs per call. */
#define MEASURE(name, n, body)                                                                     \
	do {                                                                                       \
		double us[5];                                                                      \
		for (int r_ = 0; r_ < 5; r_++) {                                                   \
			double t0_ = s_now();                                                      \
			for (int i_ = 0; i_ < (n); i_++) {                                         \
				body;                                                              \
			}                                                                          \
			us[r_] = (s_now() - t0_) * 1e6 / (n);                                      \
		}                                                                                  \
		qsort(us, 5, sizeof(double), s_cmp);                                               \
		printf("%s=%.2f\n", name, us[2]);                                                  \
	} while (0)

/* The people of the fold benchmark: handle "uN" at site "sN mod 20". */
static const char *
s_person(void *ctx, const char *handle, int *active)
{
	static char sites[20][8];
	int n = atoi(handle + 1);

	(void)ctx;
	*active = 1;
	snprintf(sites[n % 20], sizeof(sites[0]), "s%d", n % 20);
	return sites[n % 20];
}

static uint8_t s_seal_pk[20][32];

static int
s_seal_key(void *ctx, const char *site, uint8_t out[32])
{
	(void)ctx;
	memcpy(out, s_seal_pk[atoi(site + 1) % 20], 32);
	return 0;
}

int
main(void)
{
	uint8_t fed[CPT_FED_LEN] = {1}, author[CPT_KEY_LEN] = {2}, space[CPT_ID_LEN] = {3};
	uint8_t kid[SKEY_ID_LEN], env[EVT_FIXED_LEN + 4096], box[SKEY_SEAL_LEN];
	skey_ring_t *ring, *other;
	key_curve_t *seal;
	skey_ctx_t ctx = {fed, EVT_SEALED, author, space};
	json_t *post, *sealed = NULL, *plain = NULL;
	const char *text = "La cantine sera fermée vendredi pour l'audit qualité : pensez à "
	                   "prévoir votre déjeuner. Les badges des visiteurs sont à retirer à "
	                   "l'accueil du bâtiment B avant 9 h. Merci à tous pour votre patience "
	                   "pendant ces travaux, la réouverture est prévue lundi.";
	uint16_t inner;
	key_sign_t *k;
	size_t len;
	evt_t ev;
	volatile int sink = 0;

	/* libsodium first: sodium_malloc aborts before sodium_init. */
	if (cpt_init() != 0)
		return 1;
	ring = skey_ring_new(8);
	other = skey_ring_new(1 << 16);
	seal = key_curve_new();
	if (ring == NULL || other == NULL || seal == NULL || (k = key_sign_new()) == NULL)
		return 1;
	if (skey_ring_generate(ring, kid) != 0)
		return 1;
	post = json_pack("{s:i, s:s}", "kind", EVT_POST, "text", text);
	printf("# a post of %zu bytes of text\n", strlen(text));

	/* What every event costs already, for scale. */
	{
		char body[600];
		snprintf(body, sizeof(body), "{\"text\":\"%s\"}", text);
		if (evt_sign(env, sizeof(env), &len, EVT_POST, fed, 1, (const uint8_t *)body,
		             strlen(body), k) != 0 ||
		    evt_decode(&ev, env, len, EVT_MAX_BODY) != 0)
			return 1;
	}
	MEASURE("ed25519_verify_us", 5000, sink += evt_verify(&ev, fed));

	/* A writer: the sealed object of a post (JSON, padding, XChaCha20-Poly1305, base64). */
	MEASURE("seal_post_us", 20000, {
		json_decref(sealed);
		sink += space_seal(&sealed, ring, kid, &ctx, post);
	});
	/* A reader at a member site: base64, decryption, JSON and its rules. */
	MEASURE("unseal_post_us", 20000, {
		json_decref(plain);
		sink += space_unseal(&plain, &inner, ring, &ctx, sealed, NULL);
	});
	/* A site opening a key sealed to it (X25519), and sealing one. */
	MEASURE("seal_key_us", 2000,
	        sink += skey_ring_seal(ring, box, kid, space, key_curve_public(seal)));
	MEASURE("open_key_us", 2000, sink += skey_ring_open(other, box, space, kid, seal));

	/* The fold of one big space: 1,000 members at 20 sites, 3,000 events, 10 epochs. */
	{
		static space_evt_t evs[3100];
		static json_t *bodies[3100];
		static char handles[1000][8];
		space_env_t envr = {s_person, s_seal_key, NULL, NULL};
		uint8_t sk[32];
		char sh[CPT_HEX_ID], kh[CPT_HEX_ID];
		size_t n = 0;

		for (int i = 0; i < 20; i++)
			crypto_box_keypair(s_seal_pk[i], sk);
		bodies[n] =
		    json_pack("{s:s, s:s, s:s}", "visibility", "open", "join", "open", "name", "x");
		evs[n] = (space_evt_t){HLC_MAKE(1000, 0), {0}, EVT_SPACE, "u0", bodies[n], NULL};
		randombytes_buf(evs[n].id, 32);
		memcpy(space, evs[n].id, 32);
		cpt_hex32(sh, space);
		n++;
		/* Private needs a sealed profile: any valid one will do for the fold. */
		json_object_set_new(bodies[0], "visibility", json_string("private"));
		json_object_del(bodies[0], "name");
		json_object_set_new(bodies[0], "sealed",
		                    json_pack("{s:s, s:s, s:s}", "key", sh, "nonce",
		                              "000102030405060708090a0b0c0d0e0f1011121314151617",
		                              "box", "AAAAAAAAAAAAAAAAAAAAAAAA"));
		for (int i = 0; i < 1000; i++)
			snprintf(handles[i], sizeof(handles[i]), "u%d", i);
		for (int i = 1; i < 3000; i++) {
			const char *h = handles[(i * 7919) % 1000];

			if (i % 300 == 0) {
				json_t *seals = json_array();
				for (int s = 0; s < 20; s++) {
					char to[CPT_HEX_ID], b64[200];
					cpt_hex32(to, s_seal_pk[s]);
					cpt_b64(b64, box, sizeof(box));
					json_array_append_new(
					    seals, json_pack("{s:s, s:s}", "to", to, "box", b64));
				}
				randombytes_buf(sk, 32);
				cpt_hex32(kh, sk);
				bodies[n] = json_pack("{s:s, s:s, s:o}", "space", sh, "key", kh,
				                      "seals", seals);
				evs[n] = (space_evt_t){HLC_MAKE(1000 + i, 0),
				                       {0},
				                       EVT_SPACE_KEY,
				                       "s0",
				                       bodies[n],
				                       NULL};
			} else {
				bodies[n] = i % 3 == 0 ? json_pack("{s:s, s:s, s:s}", "space", sh,
				                                   "action", "invite", "user", h)
				                       : json_pack("{s:s, s:s}", "space", sh,
				                                   "action", "join");
				evs[n] = (space_evt_t){
				    HLC_MAKE(1000 + i, 0), {0},       EVT_SPACE_MEMBER,
				    i % 3 == 0 ? "u0" : h, bodies[n], NULL};
			}
			randombytes_buf(evs[n].id, 32);
			n++;
		}
		{
			space_state_t *st = NULL;
			if (space_fold(&st, space, NULL, evs, n, &envr) != 0)
				return 1;
			printf("# fold: %zu events, %zu members, %zu member sites, %zu keys\n", n,
			       space_state_nmembers(st), space_state_nsites(st),
			       space_state_nkeys(st));
			space_state_destroy(&st);
		}
		MEASURE("fold_3000_events_us", 20, {
			space_state_t *st = NULL;
			sink += space_fold(&st, space, NULL, evs, n, &envr);
			space_state_destroy(&st);
		});
		for (size_t i = 0; i < n; i++)
			json_decref(bodies[i]);
	}
	json_decref(sealed);
	json_decref(plain);
	json_decref(post);
	skey_ring_destroy(&ring);
	skey_ring_destroy(&other);
	key_curve_destroy(&seal);
	key_sign_destroy(&k);
	return sink == 12345 ? 2 : 0;
}
