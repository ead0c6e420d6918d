/*
 * The space vectors of docs/PROTOCOL.md 16.11, written by
 * `mkvectors -s > tests/vectors/spaces.txt`: key ids, a site space's id, a
 * private space made, its key sealed to a site, membership, sealed content,
 * and three boxes a receiver must refuse. Everything is fixed (seeds, space
 * keys, nonces, and the ephemeral secrets of the sealed boxes, built here as
 * crypto_box_seal builds them), so the file is the same at every run.
 * Checked by tests/unit/test_skey.c (the library) and
 * tests/vectors/verify_spaces.py (the document). Included by mkvectors.c only.
 */

/* 32 (or n) consecutive byte values from first. */
static void
sp_bytes(uint8_t *out, size_t n, uint8_t first)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(first + i);
}

static void
sp_hex(char *out, const uint8_t *b, size_t n)
{
	s_hex_into(out, b, n);
	out[2 * n] = '\0';
}

/* Prints an event vector's common lines (no blank line: the caller adds its own). */
static void
sp_event(struct s_made *out, const char *name, const char *expect, const char *note,
         const char *who_name, const struct s_party *who, uint16_t kind, uint64_t ts,
         const char *body)
{
	uint8_t id[CPT_ID_LEN];
	evt_t ev;

	if (evt_sign(out->env, sizeof(out->env), &out->len, kind, s_fed, ts, (const uint8_t *)body,
	             strlen(body), who->key) != 0 ||
	    evt_decode(&ev, out->env, out->len, EVT_MAX_BODY) != 0 || evt_verify(&ev, s_fed) != 0)
		s_die(name);
	evt_id(id, &ev);
	cpt_hex32(out->id, id);
	printf("name: %s\nexpect: %s\nnote: %s; %s\n", name, expect, note, s_when(ts));
	printf("author: %s\n", who_name);
	s_put_hex("seed", who->seed, CPT_SEED_LEN);
	printf("public: %s\nkind: %u\ntimestamp: %llu\nbody: %s\nid: %s\n", who->hex, kind,
	       (unsigned long long)ts, body, out->id);
	s_put_hex("envelope", out->env, out->len);
	s_nvectors++;
}

/*
 * A "sealed" object: plain encrypted under key (32 bytes) with nonce, bound to
 * (kind, author, space). Writes the JSON object into obj and prints nothing;
 * the caller prints what sp_sealed_lines() gives.
 */
struct sp_sealed {
	uint8_t key[SKEY_LEN], key_id[SKEY_ID_LEN], nonce[SKEY_NONCE_LEN], ad[SKEY_AD_LEN];
	const char *plain; /* the plaintext, unpadded */
	size_t padded;     /* its padded length */
	char obj[4400];    /* {"key":…,"nonce":…,"box":…} */
};

static void
sp_seal_body(struct sp_sealed *s, uint16_t kind, const struct s_party *author, const uint8_t *space)
{
	skey_ring_t *ring = skey_ring_new(1);
	skey_ctx_t ctx = {s_fed, kind, key_sign_public(author->key), space};
	uint8_t ct[2048], id[SKEY_ID_LEN];
	char b64[4096], kh[CPT_HEX_ID], nh[2 * SKEY_NONCE_LEN + 1];
	size_t clen = 0;

	if (ring == NULL || skey_ring_add(ring, s->key, id) != 0 ||
	    skey_encrypt(ring, ct, sizeof(ct), &clen, id, &ctx, s->nonce, (const uint8_t *)s->plain,
	                 strlen(s->plain)) != 0)
		s_die("seal body");
	memcpy(s->key_id, id, SKEY_ID_LEN);
	skey_ad(s->ad, &ctx, id);
	s->padded = clen - SKEY_TAG_LEN;
	cpt_b64(b64, ct, clen);
	sp_hex(kh, id, SKEY_ID_LEN);
	sp_hex(nh, s->nonce, SKEY_NONCE_LEN);
	snprintf(s->obj, sizeof(s->obj), "{\"key\":\"%s\",\"nonce\":\"%s\",\"box\":\"%s\"}", kh, nh,
	         b64);
	skey_ring_destroy(&ring);
}

static void
sp_sealed_lines(const struct sp_sealed *s)
{
	s_put_hex("space_key", s->key, SKEY_LEN);
	s_put_hex("key_id", s->key_id, SKEY_ID_LEN);
	s_put_hex("nonce", s->nonce, SKEY_NONCE_LEN);
	s_put_hex("ad", s->ad, SKEY_AD_LEN);
	printf("plaintext: %s\npadded: %zu\n", s->plain, s->padded);
}

/*
 * crypto_box_seal(key || space, pk) with a fixed ephemeral secret: the
 * ephemeral public key, then crypto_box_easy under the nonce
 * BLAKE2b-192(epk || pk) — libsodium's construction, made reproducible.
 * Checked by opening it with crypto_box_seal_open and secret sk.
 */
static void
sp_seal_key(uint8_t box[SKEY_SEAL_LEN], const uint8_t key[SKEY_LEN],
            const uint8_t space[CPT_ID_LEN], const uint8_t pk[CPT_KEY_LEN], const uint8_t sk[32],
            uint8_t eph_first)
{
	uint8_t esk[32], nonce[crypto_box_NONCEBYTES], msg[SKEY_LEN + CPT_ID_LEN],
	    back[sizeof(msg)];
	crypto_generichash_state st;

	sp_bytes(esk, sizeof(esk), eph_first);
	if (crypto_scalarmult_base(box, esk) != 0)
		s_die("ephemeral key");
	crypto_generichash_init(&st, NULL, 0, sizeof(nonce));
	crypto_generichash_update(&st, box, 32);
	crypto_generichash_update(&st, pk, CPT_KEY_LEN);
	crypto_generichash_final(&st, nonce, sizeof(nonce));
	memcpy(msg, key, SKEY_LEN);
	memcpy(msg + SKEY_LEN, space, CPT_ID_LEN);
	if (crypto_box_easy(box + 32, msg, sizeof(msg), nonce, pk, esk) != 0 ||
	    crypto_box_seal_open(back, box, SKEY_SEAL_LEN, pk, sk) != 0 ||
	    memcmp(back, msg, sizeof(msg)) != 0)
		s_die("sealed box");
}

/* The body of a space_key event for one seal, and its vector lines. */
static void
sp_key_event(struct s_made *out, const char *name, const char *expect, const char *note,
             const uint8_t space_named[CPT_ID_LEN], const uint8_t key[SKEY_LEN],
             const uint8_t key_named[SKEY_ID_LEN], const uint8_t space_sealed[CPT_ID_LEN],
             uint64_t ts, uint8_t eph_first)
{
	uint8_t sk[32], pk[32], box[SKEY_SEAL_LEN], esk[32];
	char body[1024], b64[256], sh[CPT_HEX_ID], kh[CPT_HEX_ID], ph[CPT_HEX_ID];

	sp_bytes(sk, sizeof(sk), 0xe0); /* lyon's seal secret, as in events.txt */
	if (crypto_scalarmult_base(pk, sk) != 0)
		s_die("seal key");
	sp_seal_key(box, key, space_sealed, pk, sk, eph_first);
	cpt_b64(b64, box, sizeof(box));
	cpt_hex32(sh, space_named);
	cpt_hex32(kh, key_named);
	cpt_hex32(ph, pk);
	snprintf(body, sizeof(body),
	         "{\"space\":\"%s\",\"key\":\"%s\",\"seals\":[{\"to\":\"%s\",\"box\":\"%s\"}]}", sh,
	         kh, ph, b64);
	sp_event(out, name, expect, note, "lyon", &s_lyon, EVT_SPACE_KEY, ts, body);
	s_put_hex("space_key", key, SKEY_LEN);
	s_put_hex("seal_secret", sk, 32);
	s_put_hex("seal_public", pk, 32);
	sp_bytes(esk, sizeof(esk), eph_first);
	s_put_hex("ephemeral_secret", esk, 32);
	printf("\n");
}

static void
sp_unhex_id(uint8_t out[CPT_ID_LEN], const char *hex)
{
	if (cpt_unhex32(out, hex, strlen(hex)) != 0)
		s_die("id");
}

/* The plaintext of the blob_seal vector: byte i is (7 i + 3) mod 256. */
#define SP_BLOB_PLAIN 66536 /* two segments, the second padded to 4 KiB */

/*
 * A private space's file sealed as PROTOCOL.md 18.4 says: the ids of the
 * sealed blob of that plaintext under a fixed file key, as part 0 (the
 * file) and part 1 (a thumbnail), made through node/blob in a store of a
 * temporary folder.
 */
static void
sp_blob_seal(void)
{
	static uint8_t plain[SP_BLOB_PLAIN];
	uint8_t fkey[BLOB_FKEY_LEN], id[BLOB_ID_LEN];
	char dir[] = "/tmp/mkvectors.XXXXXX", cmd[64], hex[CPT_HEX_ID];
	blob_store_t *bs = NULL;
	uint64_t size = 0;

	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)(7 * i + 3);
	sp_bytes(fkey, sizeof(fkey), 0xa0);
	if (mkdtemp(dir) == NULL || blob_store_open(&bs, dir) != 0)
		s_die("blob store");
	printf("name: blob_seal\nexpect: ok\n"
	       "note: a private space's file of %d bytes sealed in 64 KiB segments under its file "
	       "key (PROTOCOL.md 18.4), as the file (part 0) and as a thumbnail (part 1)\n",
	       SP_BLOB_PLAIN);
	s_put_hex("fkey", fkey, sizeof(fkey));
	printf("plain_size: %d\nplain_rule: byte i is (7 i + 3) mod 256\n", SP_BLOB_PLAIN);
	for (uint8_t part = 0; part < 2; part++) {
		if (blob_seal_bytes(bs, fkey, part, plain, sizeof(plain), id, &size) != 0)
			s_die("blob seal");
		cpt_hex32(hex, id);
		printf("blob_part%u: %s\n", part, hex);
	}
	printf("size: %llu\n\n", (unsigned long long)size);
	blob_store_close(&bs);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		s_die("rm");
	s_nvectors++;
}

static void
sp_vectors(void)
{
	static struct s_made create, key_ev, invite, join, post, comment, open, open_post, m;
	static struct sp_sealed prof, spost, scomment;
	uint8_t k1[SKEY_LEN], k1_id[SKEY_ID_LEN], k2[SKEY_LEN], site_space[CPT_ID_LEN];
	uint8_t space[CPT_ID_LEN], open_space[CPT_ID_LEN];
	char body[8192], fed_hex[CPT_HEX_ID];
	const uint64_t day = 24 * 60 * MINUTE, t = T0 + day;

	printf("# Comptoir space vectors, written by tests/tools/mkvectors -s: do not edit.\n"
	       "# Format and meaning: docs/PROTOCOL.md, section 16.11. Root seed 000102..1f,\n"
	       "# lyon 202122..3f (seal secret e0e1..ff), alice 404142..5f, bruno 606162..7f.\n"
	       "# Check them: python3 tests/vectors/verify_spaces.py\n\n");

	/* A key id. */
	sp_bytes(k1, sizeof(k1), 0x88);
	sp_bytes(k2, sizeof(k2), 0xc8);
	skey_id_of(k1_id, k1);
	printf("name: space_key_id\nexpect: ok\nnote: BLAKE2b-256(\"%s\" || key)\n",
	       SKEY_ID_DOMAIN);
	s_put_hex("space_key", k1, SKEY_LEN);
	s_put_hex("key_id", k1_id, SKEY_ID_LEN);
	printf("\n");
	s_nvectors++;

	/* Lyon's site space. */
	skey_site_space(site_space, s_fed, "lyon");
	cpt_hex32(fed_hex, s_fed);
	printf("name: site_space_lyon\nexpect: ok\nnote: BLAKE2b-256(\"%s\" || federation || "
	       "site name)\nroot_public: %s\nfederation: %s\nsite: lyon\n",
	       SKEY_SITE_DOMAIN, s_root.hex, fed_hex);
	s_put_hex("space", site_space, CPT_ID_LEN);
	printf("\n");
	s_nvectors++;

	/* A private space: its profile sealed under k1 with a zero space id. */
	memcpy(prof.key, k1, SKEY_LEN);
	sp_bytes(prof.nonce, SKEY_NONCE_LEN, 0x50);
	prof.plain = "{\"name\":\"Comité RH\",\"description\":\"Recrutements 2025, confidentiel\"}";
	sp_seal_body(&prof, EVT_SPACE, &s_alice, NULL);
	snprintf(body, sizeof(body),
	         "{\"visibility\":\"private\",\"join\":\"invite\",\"sealed\":%s}", prof.obj);
	sp_event(&create, "space_create_private", "ok",
	         "alice creates a private space; its id is this event's id; the associated data "
	         "holds 32 zero bytes for the space",
	         "alice", &s_alice, EVT_SPACE, HLC_MAKE(t, 0), body);
	sp_sealed_lines(&prof);
	printf("\n");
	sp_unhex_id(space, create.id);

	/* Lyon seals k1 to itself. */
	sp_key_event(&key_ev, "space_key_lyon", "ok",
	             "lyon's node seals the space key (key || space id) to lyon's seal key", space,
	             k1, k1_id, space, HLC_MAKE(t, 1), 0x11);

	snprintf(body, sizeof(body),
	         "{\"space\":\"%s\",\"action\":\"invite\",\"user\":\"bruno.durand\"}", create.id);
	sp_event(&invite, "space_invite_bruno", "ok", "alice invites bruno: membership is in clear",
	         "alice", &s_alice, EVT_SPACE_MEMBER, HLC_MAKE(t + MINUTE, 0), body);
	printf("\n");
	snprintf(body, sizeof(body), "{\"space\":\"%s\",\"action\":\"join\"}", create.id);
	sp_event(&join, "space_join_bruno", "ok", "bruno accepts", "bruno", &s_bruno,
	         EVT_SPACE_MEMBER, HLC_MAKE(t + 2 * MINUTE, 0), body);
	printf("\n");

	/* Content. */
	memcpy(spost.key, k1, SKEY_LEN);
	sp_bytes(spost.nonce, SKEY_NONCE_LEN, 0x68);
	spost.plain = "{\"kind\":6,\"text\":\"Budget 2025 : +4 % pour l'équipe ☕ @bruno.durand\"}";
	sp_seal_body(&spost, EVT_SEALED, &s_alice, space);
	snprintf(body, sizeof(body), "{\"space\":\"%s\",\"sealed\":%s}", create.id, spost.obj);
	sp_event(&post, "sealed_post", "ok", "alice posts in the private space: a sealed post",
	         "alice", &s_alice, EVT_SEALED, HLC_MAKE(t + 3 * MINUTE, 0), body);
	sp_sealed_lines(&spost);
	printf("\n");

	memcpy(scomment.key, k1, SKEY_LEN);
	sp_bytes(scomment.nonce, SKEY_NONCE_LEN, 0x80);
	{
		static char plain[256];
		snprintf(
		    plain, sizeof(plain),
		    "{\"kind\":7,\"post\":\"%s\",\"text\":\"Merci, je prépare les chiffres.\"}",
		    post.id);
		scomment.plain = plain;
	}
	sp_seal_body(&scomment, EVT_SEALED, &s_bruno, space);
	snprintf(body, sizeof(body), "{\"space\":\"%s\",\"sealed\":%s}", create.id, scomment.obj);
	sp_event(&comment, "sealed_comment", "ok",
	         "bruno comments: which post it answers is sealed too", "bruno", &s_bruno,
	         EVT_SEALED, HLC_MAKE(t + 4 * MINUTE, 0), body);
	sp_sealed_lines(&scomment);
	printf("\n");

	/* An open space and a post in it: all in clear. */
	sp_event(&open, "space_create_open", "ok", "alice creates an open space, joined on request",
	         "alice", &s_alice, EVT_SPACE, HLC_MAKE(t + 5 * MINUTE, 0),
	         "{\"visibility\":\"open\",\"join\":\"request\",\"name\":\"Randonnée\","
	         "\"description\":\"Sorties du dimanche\"}");
	printf("\n");
	sp_unhex_id(open_space, open.id);
	snprintf(body, sizeof(body), "{\"text\":\"Dimanche au Pilat ?\",\"space\":\"%s\"}",
	         open.id);
	sp_event(&open_post, "post_open_space", "ok", "a post in an open space names it", "alice",
	         &s_alice, EVT_POST, HLC_MAKE(t + 6 * MINUTE, 0), body);
	printf("\n");

	/* What a receiver refuses to open. */
	snprintf(body, sizeof(body), "{\"space\":\"%s\",\"sealed\":%s}", create.id, spost.obj);
	sp_event(&m, "sealed_moved", "EAUTH",
	         "bruno copies alice's sealed post into an event of his: a valid envelope, but the "
	         "box does not open (the associated data names the author)",
	         "bruno", &s_bruno, EVT_SEALED, HLC_MAKE(t + 7 * MINUTE, 0), body);
	{
		/* The associated data a receiver computes for this event: bruno's. */
		static struct sp_sealed moved;
		skey_ctx_t ctx = {s_fed, EVT_SEALED, key_sign_public(s_bruno.key), space};

		moved = spost;
		skey_ad(moved.ad, &ctx, moved.key_id);
		sp_sealed_lines(&moved);
	}
	printf("\n");
	sp_key_event(
	    &m, "seal_other_space", "EINVAL",
	    "a seal of k1 made for the open space, put in a key event of the private one: it "
	    "opens, but names another space",
	    space, k1, k1_id, open_space, HLC_MAKE(t + 8 * MINUTE, 0), 0x31);
	sp_key_event(&m, "seal_wrong_key", "EINVAL",
	             "a seal of another key under k1's id: it opens, but the key's id is not k1's",
	             space, k2, k1_id, space, HLC_MAKE(t + 9 * MINUTE, 0), 0x51);
	sp_blob_seal();
}
