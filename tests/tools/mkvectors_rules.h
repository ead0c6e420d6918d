/*
 * The receiver-rule vectors of docs/PROTOCOL.md section 11.2, written by
 * `mkvectors -r > tests/vectors/rules.txt`: the events (signed here, from fixed
 * seeds) and the scenes, each a receiver clock and arrivals with the expected
 * result of each. The expectations are written by hand from the document;
 * tests/vectors/replay_rules.py computes them again from the document alone.
 * Included by mkvectors.c only.
 *
 * Bodies are templates: "@30d+2h" is a time (ms) from T0, "$name" a party's
 * public key in hex, and "$word:args" one of the expansions of r_token().
 */

/* Who signs: seeds are 32 consecutive byte values from `first`. */
static struct r_party {
	const char *name;     /* as written in templates */
	uint8_t first;        /* first byte of the seed */
	key_sign_t *key;      /* its key pair */
	char hex[CPT_HEX_ID]; /* public key */
} r_parties[] = {
    {"root", 0x00, NULL, ""},    {"paris", 0x10, NULL, ""},     {"nantes", 0x18, NULL, ""},
    {"lyon", 0x20, NULL, ""},    {"rogue", 0x30, NULL, ""},     {"hugo", 0x38, NULL, ""},
    {"alice", 0x40, NULL, ""},   {"carol", 0x50, NULL, ""},     {"bruno", 0x60, NULL, ""},
    {"dave", 0x70, NULL, ""},    {"bruno_new", 0x88, NULL, ""}, {"lyon_new", 0x90, NULL, ""},
    {"mallory", 0x98, NULL, ""}, {"erin", 0xa8, NULL, ""},      {"frank", 0xb0, NULL, ""},
    {"gina", 0xb8, NULL, ""},
};

#define R_BARE 1 /* print the 176-byte form: the body erased */
#define R_V1   2 /* version byte 1: an event of the old protocol */

/* One event: who signs what, when. */
struct r_event {
	const char *label;  /* how scenes name it */
	const char *author; /* a party */
	unsigned kind;      /* kind code */
	const char *ts;     /* "@time", optionally "#counter" */
	const char *body;   /* a template */
	const char *note;   /* what it is for */
	int flags;          /* R_BARE, R_V1 */
};

/* Body templates. */
#define CERT(site, key, curve, seal, nb, na)                                                       \
	"{\"site\":\"" site "\",\"sign_key\":\"$" key "\",\"curve_key\":\"$x:" curve               \
	"\",\"seal_key\":\"$x:" seal "\",\"endpoints\":[\"tcp://" site ".example:7450\"],"         \
	"\"not_before\":" nb ",\"not_after\":" na "}"
#define ENROL(handle, key, site, role)                                                             \
	"{\"handle\":\"" handle "\",\"key\":\"$" key "\",\"site\":\"" site "\",\"role\":\"" role   \
	"\",\"proof\":\"$proof:" key ":" key ":" site ":" handle "\"}"
#define REVOKE(key, eff, from, to, ids)                                                            \
	"{\"key\":\"$" key "\",\"effective\":" eff                                                 \
	",\"reason\":\"test\",\"vouch\":{\"from\":" from ",\"to\":" to ",\"ids\":\"" ids "\"}}"
#define TEXT(t) "{\"text\":\"" t "\"}"
#define BACKUP(handle, ops, mem)                                                                   \
	"{\"handle\":\"" handle "\",\"kdf\":\"argon2id13\",\"ops\":" ops ",\"mem\":" mem           \
	",\"salt\":\"$rep:32:d\",\"nonce\":\"$rep:48:e\",\"box\":\"$rep:96:7\"}"

static const struct r_event r_events[] = {
    /* ---------------------------------------------------------- the world */
    {"cert_lyon", "root", 1, "@0", CERT("lyon", "lyon", "c0", "e0", "@0", "0"),
     "the root certifies lyon from the moment it signs", 0},
    {"cert_paris", "root", 1, "@1m", CERT("paris", "paris", "c8", "e8", "@1m", "0"),
     "the root certifies paris", 0},
    {"cert_lyon_title", "root", 1, "@6m",
     "{\"site\":\"lyon\",\"title\":\"Entrepôt de Lyon\",\"sign_key\":\"$lyon\",\"curve_key\":"
     "\"$x:c0\",\"seal_key\":\"$x:e0\",\"endpoints\":[],\"not_before\":@6m,\"not_after\":0}",
     "lyon certified again with a title: valid from @6m; with cert_lyon, lyon's windows are "
     "[@0, forever) and [@6m, forever)",
     0},
    {"cert_rogue", "root", 1, "@10d", CERT("rogue", "rogue", "d0", "f0", "@10d", "0"),
     "the root certifies a site that will misbehave, ten days later", 0},
    {"cert_lyon_new", "root", 1, "@30d+1h", CERT("lyon", "lyon_new", "d8", "f8", "@30d+1h", "0"),
     "lyon's new signing key after the old one was stolen: same site name", 0},
    {"cert_nantes", "root", 1, "@1m#1", CERT("nantes", "nantes", "c8", "e8", "@1m", "@20d"),
     "nantes, certified for 20 days", 0},
    {"cert_nantes_renew", "root", 1, "@22d", CERT("nantes", "nantes", "c8", "e8", "@22d", "0"),
     "nantes certified again, two days after its first certificate expired", 0},

    {"enrol_alice", "lyon", 2, "@2m", ENROL("alice.martin", "alice", "lyon", "admin"),
     "lyon enrols alice as an admin; the proof is alice's", 0},
    {"enrol_bruno", "lyon", 2, "@3m", ENROL("bruno.durand", "bruno", "lyon", "member"), "", 0},
    {"enrol_carol", "paris", 2, "@4m", ENROL("carol.petit", "carol", "paris", "member"), "", 0},
    {"enrol_dave", "paris", 2, "@5m", ENROL("dave.roux", "dave", "paris", "admin"), "a paris admin",
     0},
    {"enrol_erin", "lyon", 2, "@12d", ENROL("erin.blanc", "erin", "lyon", "member"),
     "lyon enrols erin, after rogue was certified", 0},
    {"enrol_gina", "nantes", 2, "@2d", ENROL("gina.leroy", "gina", "nantes", "member"), "", 0},
    {"enrol_hugo", "nantes", 2, "@21d", ENROL("hugo.faure", "hugo", "nantes", "member"),
     "nantes enrols hugo while its certificate has expired", 0},
    {"enrol_hugo_again", "nantes", 2, "@23d", ENROL("hugo.faure", "hugo", "nantes", "member"),
     "nantes enrols hugo again, under its new certificate", 0},
    {"enrol_alice_paris", "paris", 2, "@10d", ENROL("alice.p", "alice", "paris", "member"),
     "paris enrols alice's key too: alice signed a proof for paris as well", 0},

    {"post_alice", "alice", 6, "@1d", TEXT("Bonjour à tous"), "", 0},
    {"post_alice_early", "alice", 6, "@1m", TEXT("before my enrolment"),
     "dated before alice's enrolment (@2m)", 0},
    {"post_alice_11", "alice", 6, "@11d", TEXT("alice on day 11"), "", 0},
    {"post_alice_13", "alice", 6, "@13d", TEXT("alice on day 13"), "", 0},
    {"post_alice_35", "alice", 6, "@35d", TEXT("alice after lyon's old key was revoked"), "", 0},
    {"post_alice_39", "alice", 6, "@39d+1h", TEXT("alice on day 39"), "", 0},
    {"post_alice_v1", "alice", 6, "@1d", TEXT("Bonjour à tous"),
     "post_alice as a node of protocol version 1 would send it", R_V1},
    {"post_bruno_1", "bruno", 6, "@2d", TEXT("bruno on day 2"), "", 0},
    {"post_bruno_2", "bruno", 6, "@20d", TEXT("bruno on day 20"), "", 0},
    {"post_bruno_0", "bruno", 6, "@15d", TEXT("bruno on day 15, at a site cut off from lyon"),
     "legitimate, but it reaches lyon only after lyon revoked bruno", 0},
    {"post_bruno_3", "bruno", 6, "@29d", TEXT("bruno on day 29, at a site cut off from lyon"),
     "legitimate and late, inside the revocation's late window", 0},
    {"post_bruno_7", "bruno", 6, "@7d", TEXT("bruno's old key, after its reset"), "", 0},
    {"post_bruno_new", "bruno_new", 6, "@6d+1h", TEXT("bruno with his new key"), "", 0},
    {"post_carol", "carol", 6, "@2d+1h", TEXT("carol on day 2"), "", 0},
    {"post_gina_25", "gina", 6, "@25d", TEXT("gina after nantes' certificate expired"), "", 0},
    {"post_mallory", "mallory", 6, "@31d", TEXT("mallory, enrolled by the thief"), "", 0},
    {"post_mallory_1", "mallory", 6, "@31d+1m", TEXT("one"), "", 0},
    {"post_mallory_2", "mallory", 6, "@31d+2m", TEXT("two"), "", 0},
    {"post_mallory_3", "mallory", 6, "@31d+3m", TEXT("three"), "", 0},
    {"comment_bruno", "bruno", 7, "@2d+1h", "{\"post\":\"$id:post_alice\",\"text\":\"Merci !\"}",
     "", 0},
    {"comment_bruno_bare", "bruno", 7, "@2d+1h",
     "{\"post\":\"$id:post_alice\",\"text\":\"Merci !\"}", "comment_bruno without its body",
     R_BARE},

    /* ------------------------------------------------ hole 1: no proof */
    {"rogue_enrol_alice", "rogue", 2, "@11d",
     "{\"handle\":\"alice.r\",\"key\":\"$alice\",\"site\":\"rogue\",\"role\":\"member\","
     "\"proof\":\"$proof:rogue:alice:rogue:alice.r\"}",
     "rogue enrols alice's key, which it knows, with a proof it signed itself", 0},
    {"rogue_enrol_alice_replay", "rogue", 2, "@11d#1",
     "{\"handle\":\"alice.r\",\"key\":\"$alice\",\"site\":\"rogue\",\"role\":\"member\","
     "\"proof\":\"$proof:alice:alice:lyon:alice.martin\"}",
     "the same with alice's real proof, copied from enrol_alice: it names lyon and "
     "alice.martin",
     0},
    {"rogue_copy_alice", "rogue", 2, "@11d#2", ENROL("alice.martin", "alice", "lyon", "admin"),
     "enrol_alice's body, word for word, signed by rogue: rogue is no lyon", 0},
    {"rogue_revoke_alice", "rogue", 3, "@11d+1m", REVOKE("alice", "0", "0", "0", ""),
     "then rogue revokes alice's key from the beginning of time", 0},

    /* ------------------------------------ hole 2: a stolen user key */
    {"revoke_bruno", "lyon", 3, "@30d",
     REVOKE("bruno", "@30d", "0", "@23d", "$pfx:post_bruno_1+post_bruno_2"),
     "lyon revokes bruno's key from @30d and vouches for his events before @23d: the two it "
     "holds; [@23d, @30d) is the late window",
     0},
    {"root_revoke_bruno", "root", 3, "@30d",
     REVOKE("bruno", "@30d", "0", "@23d", "$pfx:post_bruno_1+post_bruno_2"),
     "the same revocation, by the root", 0},
    {"forged_old", "bruno", 6, "@10d", TEXT("forged, dated day 10"),
     "the thief of bruno's key backdates a post", 0},
    {"forged_window", "bruno", 6, "@25d", TEXT("forged, dated day 25"),
     "the thief backdates into the late window: the bound", 0},
    {"forged_after", "bruno", 6, "@31d", TEXT("forged, dated day 31"), "", 0},

    /* ------------------------------------ hole 2: a stolen site key */
    {"root_revoke_lyon", "root", 3, "@30d",
     REVOKE("lyon", "@30d", "0", "@30d", "$pfx:enrol_alice+enrol_bruno"),
     "the root revokes lyon's stolen key from @30d and vouches for the two enrolments it "
     "holds",
     0},
    {"thief_enrol_mallory", "lyon", 2, "@20d", ENROL("mallory.x", "mallory", "lyon", "admin"),
     "the thief of lyon's key backdates an enrolment", 0},
    {"thief_enrol_late", "lyon", 2, "@31d", ENROL("mallory.y", "mallory", "lyon", "admin"), "", 0},
    {"thief_revoke_alice", "lyon", 3, "@29d", REVOKE("alice", "@2m", "0", "@29d", ""),
     "the thief backdates a revocation of alice", 0},
    {"thief_revoke_alice_late", "lyon", 3, "@31d", REVOKE("alice", "@2m", "0", "@31d", ""),
     "the thief revokes alice after the theft, before the root has heard of it", 0},
    {"reenrol_bruno", "lyon_new", 2, "@31d", ENROL("bruno.durand", "bruno", "lyon", "member"),
     "lyon's new key enrols bruno again with his first proof (it names lyon, not a key)", 0},
    {"enrol_frank", "lyon_new", 2, "@31d+1m", ENROL("frank.noel", "frank", "lyon", "admin"),
     "an admin enrolled by lyon's new key", 0},

    /* --------------------------------------------- handle takeover */
    {"rogue_claim_alice_early", "rogue", 2, "@1m",
     ENROL("alice.martin", "mallory", "rogue", "member"),
     "rogue claims alice.martin, dated before alice's enrolment and before its own "
     "certificate",
     0},
    {"rogue_claim_alice", "rogue", 2, "@10d+1m",
     ENROL("alice.martin", "mallory", "rogue", "member"),
     "rogue claims alice.martin inside its validity: after alice", 0},
    {"rogue_claim_erin", "rogue", 2, "@11d", ENROL("erin.blanc", "mallory", "rogue", "member"),
     "rogue backdates a claim of erin.blanc to before erin's enrolment, inside its validity", 0},
    {"root_revoke_rogue", "root", 3, "@13d", REVOKE("rogue", "@10d", "0", "@10d", ""),
     "federation IT revokes rogue from its certificate's first moment", 0},

    /* ------------------------------------------- hole 3: the future */
    {"profile_now", "alice", 5, "@40d-1h", "{\"fields\":{\"name\":\"Alice Martin\"}}", "", 0},
    {"profile_future", "alice", 5, "@40d+2h", "{\"fields\":{\"name\":\"Alice (from the future)\"}}",
     "two hours ahead of the receiver", 0},
    {"profile_skew", "alice", 5, "@40d+4m", "{\"fields\":{\"title\":\"RH\"}}",
     "four minutes ahead: inside the tolerance", 0},
    {"profile_far", "alice", 5, "@41d+1h", "{\"fields\":{\"name\":\"Alice (far)\"}}",
     "25 hours ahead", 0},
    {"root_revoke_alice_future", "root", 3, "@40d+1h", REVOKE("alice", "@39d", "0", "0", ""),
     "a revocation dated an hour ahead, effective the day before", 0},

    /* ------------------------------------------ hole 5: password reset */
    {"reset_enrol_bruno", "lyon", 2, "@5d", ENROL("bruno.durand", "bruno_new", "lyon", "member"),
     "password reset: lyon enrols a new key for the handle", 0},
    {"reset_revoke_bruno", "lyon", 3, "@5d#1",
     REVOKE("bruno", "@5d", "0", "@5d", "$pfx:post_bruno_1"), "and revokes the old one from then",
     0},
    {"edit_bruno_new", "lyon", 2, "@6d", ENROL("bruno.durand", "bruno_new", "lyon", "admin"),
     "bruno becomes an admin: the same key enrolled again, with the same proof", 0},

    /* ----------------------------------------------------- redaction */
    {"redact_by_alice", "alice", 10, "@3d", "{\"target\":\"$id:comment_bruno\"}",
     "an admin of lyon erases a lyon member's comment", 0},
    {"redact_by_dave", "dave", 10, "@3d", "{\"target\":\"$id:post_alice\"}",
     "an admin of paris tries to erase a lyon post", 0},
    {"redact_by_frank", "frank", 10, "@32d", "{\"target\":\"$id:post_bruno_1\"}",
     "an admin enrolled by lyon's new key erases a post of a member enrolled by the old key: "
     "the same site",
     0},
    {"demote_alice", "lyon", 2, "@10d", ENROL("alice.martin", "alice", "lyon", "member"),
     "alice is no longer an admin from @10d", 0},
    {"redact_by_alice_late", "alice", 10, "@21d", "{\"target\":\"$id:post_bruno_2\"}",
     "alice, a member by then, tries to erase bruno's post", 0},

    /* ------------------------------------------------------ reach */
    {"paris_revoke_alice", "paris", 3, "@12d", REVOKE("alice", "0", "0", "@12d", ""),
     "paris revokes alice's key from 0 and vouches for nothing: it reaches back only to its "
     "own enrolment of her (@10d)",
     0},

    /* ------------------------------------------------- who signs what */
    {"unknown_by_alice", "alice", 300, "@1d+1m", "{\"x\":1}", "a kind this version does not know",
     0},
    {"unknown_by_lyon", "lyon", 300, "@1d+2m", "{\"x\":2}", "", 0},
    {"unknown_by_root", "root", 300, "@1d+3m", "{\"x\":3}", "", 0},
    {"post_by_root", "root", 6, "@1d+4m", TEXT("the root posts"), "", 0},
    {"post_by_lyon", "lyon", 6, "@1d+5m", TEXT("lyon posts"), "", 0},
    {"enrol_by_root", "root", 2, "@1d+6m", ENROL("root.user", "mallory", "lyon", "member"), "", 0},
    {"cert_by_lyon", "lyon", 1, "@1d+7m", CERT("lyon2", "mallory", "c0", "e0", "@1d+7m", "0"), "",
     0},
    {"enrol_by_alice", "alice", 2, "@1d+8m", ENROL("mallory.a", "mallory", "lyon", "member"),
     "a user key signs an enrolment", 0},
    {"revoke_by_alice", "alice", 3, "@1d+9m", REVOKE("bruno", "@1d", "0", "0", ""),
     "a user key signs a revocation", 0},
    {"lyon_revokes_paris", "lyon", 3, "@1d+10m", REVOKE("paris", "@1d", "0", "0", ""),
     "a site revokes another site", 0},
    {"revoke_root", "lyon", 3, "@1d+11m", REVOKE("root", "@1d", "0", "0", ""), "", 0},
    {"enrol_site_key", "lyon", 2, "@1d+12m", ENROL("paris.key", "paris", "lyon", "member"),
     "lyon enrols paris's signing key as a user (with a proof signed by it)", 0},
    {"post_by_paris_key", "paris", 6, "@1d+13m", TEXT("a site key posting"), "", 0},
    {"enrol_other_site", "lyon", 2, "@1d+14m", ENROL("mallory.p", "mallory", "paris", "member"),
     "lyon enrols someone as a user of paris (the proof names paris)", 0},

    /* ----------------------------------------------- body rules: cert */
    {"cert_nb_zero", "root", 1, "@1d", CERT("lille", "mallory", "c0", "e0", "0", "0"),
     "not_before 0: before the certificate's own time", 0},
    {"cert_empty_window", "root", 1, "@1d", CERT("lille", "mallory", "c0", "e0", "@1d", "@1d"),
     "not_after = not_before", 0},
    {"cert_no_seal", "root", 1, "@1d",
     "{\"site\":\"lille\",\"sign_key\":\"$mallory\",\"curve_key\":\"$x:c0\",\"endpoints\":[],"
     "\"not_before\":@1d,\"not_after\":0}",
     "no seal_key", 0},
    {"cert_seal_is_curve", "root", 1, "@1d", CERT("lille", "mallory", "c0", "c0", "@1d", "0"),
     "seal_key = curve_key", 0},
    {"cert_sign_small", "root", 1, "@1d",
     "{\"site\":\"lille\",\"sign_key\":\"$small:2\",\"curve_key\":\"$x:c0\",\"seal_key\":"
     "\"$x:e0\",\"endpoints\":[],\"not_before\":@1d,\"not_after\":0}",
     "sign_key a point of order 8", 0},
    {"cert_sign_torsion", "root", 1, "@1d",
     "{\"site\":\"lille\",\"sign_key\":\"$torsion:mallory\",\"curve_key\":\"$x:c0\","
     "\"seal_key\":\"$x:e0\",\"endpoints\":[],\"not_before\":@1d,\"not_after\":0}",
     "sign_key = mallory's key plus a point of order 8: a valid encoding on the curve, not in "
     "the prime-order subgroup",
     0},
    {"cert_sign_root", "root", 1, "@1d", CERT("lille", "root", "c0", "e0", "@1d", "0"),
     "the root key as a site key", 0},
    {"cert_curve_small", "root", 1, "@1d",
     "{\"site\":\"lille\",\"sign_key\":\"$mallory\",\"curve_key\":\"$xsmall:2\",\"seal_key\":"
     "\"$x:e0\",\"endpoints\":[],\"not_before\":@1d,\"not_after\":0}",
     "curve_key a small-order X25519 value", 0},
    {"cert_curve_high", "root", 1, "@1d",
     "{\"site\":\"lille\",\"sign_key\":\"$mallory\",\"curve_key\":\"$xhigh:c0\",\"seal_key\":"
     "\"$x:e0\",\"endpoints\":[],\"not_before\":@1d,\"not_after\":0}",
     "curve_key with bit 255 set", 0},
    {"cert_seal_small", "root", 1, "@1d",
     "{\"site\":\"lille\",\"sign_key\":\"$mallory\",\"curve_key\":\"$x:c0\",\"seal_key\":"
     "\"$xsmall:0\",\"endpoints\":[],\"not_before\":@1d,\"not_after\":0}",
     "seal_key 0", 0},
    {"cert_bad_site", "root", 1, "@1d", CERT("Lille", "mallory", "c0", "e0", "@1d", "0"),
     "an uppercase site name", 0},
    {"cert_upper_key", "root", 1, "@1d",
     "{\"site\":\"lille\",\"sign_key\":\"$MALLORY\",\"curve_key\":\"$x:c0\",\"seal_key\":"
     "\"$x:e0\",\"endpoints\":[],\"not_before\":@1d,\"not_after\":0}",
     "sign_key in uppercase hex", 0},

    /* ---------------------------------------------- body rules: enrol */
    {"enrol_no_proof", "lyon", 2, "@1d",
     "{\"handle\":\"mallory.m\",\"key\":\"$mallory\",\"site\":\"lyon\",\"role\":\"member\"}",
     "a version 1 enrolment: no proof", 0},
    {"enrol_proof_other_key", "lyon", 2, "@1d",
     "{\"handle\":\"alice.martin\",\"key\":\"$alice\",\"site\":\"lyon\",\"role\":\"member\","
     "\"proof\":\"$proof:bruno:alice:lyon:alice.martin\"}",
     "the statement names alice's key, bruno signed it", 0},
    {"enrol_proof_other_site", "lyon", 2, "@1d",
     "{\"handle\":\"mallory.m\",\"key\":\"$mallory\",\"site\":\"lyon\",\"role\":\"member\","
     "\"proof\":\"$proof:mallory:mallory:paris:mallory.m\"}",
     "mallory's proof names paris", 0},
    {"enrol_proof_other_handle", "lyon", 2, "@1d",
     "{\"handle\":\"mallory.m\",\"key\":\"$mallory\",\"site\":\"lyon\",\"role\":\"member\","
     "\"proof\":\"$proof:mallory:mallory:lyon:mallory.n\"}",
     "mallory's proof names another handle", 0},
    {"enrol_proof_upper", "lyon", 2, "@1d",
     "{\"handle\":\"mallory.m\",\"key\":\"$mallory\",\"site\":\"lyon\",\"role\":\"member\","
     "\"proof\":\"$PROOF:mallory:mallory:lyon:mallory.m\"}",
     "the right proof in uppercase hex", 0},
    {"enrol_key_torsion", "lyon", 2, "@1d",
     "{\"handle\":\"mallory.m\",\"key\":\"$torsion:mallory\",\"site\":\"lyon\",\"role\":"
     "\"member\",\"proof\":\"$proof:mallory:mallory:lyon:mallory.m\"}",
     "the key has a torsion component", 0},
    {"enrol_key_small", "lyon", 2, "@1d",
     "{\"handle\":\"mallory.m\",\"key\":\"$small:1\",\"site\":\"lyon\",\"role\":"
     "\"member\",\"proof\":\"$proof:mallory:mallory:lyon:mallory.m\"}",
     "the key is the identity point", 0},
    {"enrol_key_root", "lyon", 2, "@1d", ENROL("root.r", "root", "lyon", "member"),
     "the root key as a user key, with the root's own proof", 0},
    {"enrol_bad_handle", "lyon", 2, "@1d", ENROL("Mallory", "mallory", "lyon", "member"), "", 0},
    {"enrol_bad_role", "lyon", 2, "@1d", ENROL("mallory.m", "mallory", "lyon", "owner"), "", 0},
    {"enrol_long_name", "lyon", 2, "@1d",
     "{\"handle\":\"mallory.m\",\"key\":\"$mallory\",\"site\":\"lyon\",\"role\":\"member\","
     "\"name\":\"$rep:201:n\",\"proof\":\"$proof:mallory:mallory:lyon:mallory.m\"}",
     "a name of 201 bytes", 0},

    /* --------------------------------------------- body rules: revoke */
    {"revoke_no_vouch", "lyon", 3, "@1d", "{\"key\":\"$bruno\",\"effective\":@1d}",
     "a version 1 revocation: no vouch", 0},
    {"revoke_vouch_unsorted", "lyon", 3, "@1d",
     REVOKE("bruno", "@1d", "0", "@1d", "$pfxrev:post_alice+post_carol"), "ids out of order", 0},
    {"revoke_vouch_upper", "lyon", 3, "@1d", REVOKE("bruno", "@1d", "0", "@1d", "$PFX:post_alice"),
     "ids in uppercase hex", 0},
    {"revoke_vouch_backwards", "lyon", 3, "@1d", REVOKE("bruno", "@1d", "@1d", "0", ""),
     "from after to", 0},
    {"revoke_vouch_partial", "lyon", 3, "@1d", REVOKE("bruno", "@1d", "0", "@1d", "$rep:31:a"),
     "31 hex digits", 0},
    {"revoke_key_small", "lyon", 3, "@1d",
     "{\"key\":\"$small:0\",\"effective\":@1d,\"vouch\":{\"from\":0,\"to\":0,\"ids\":\"\"}}", "",
     0},

    /* ----------------------------------------- body rules: the others */
    {"backup_ops_zero", "alice", 4, "@1d", BACKUP("alice.martin", "0", "67108864"), "", 0},
    {"backup_mem_big", "alice", 4, "@1d", BACKUP("alice.martin", "2", "268435457"), "", 0},
    {"backup_bad_handle", "alice", 4, "@1d", BACKUP("Alice", "2", "67108864"), "", 0},
    {"backup_ok", "alice", 4, "@1d", BACKUP("alice.martin", "2", "67108864"),
     "a key backup (its box is no real box: receivers do not open it)", 0},
    {"backup_other_handle", "alice", 4, "@1d+1m", BACKUP("bruno.durand", "2", "67108864"),
     "a key backup whose handle is not alice's: the field is informational", 0},
    {"post_empty", "alice", 6, "@1d", TEXT(""), "", 0},
    {"reaction_no_on", "alice", 8, "@1d", "{\"post\":\"$id:post_alice\",\"reaction\":\"ok\"}", "",
     0},
    {"comment_upper_post", "alice", 7, "@1d", "{\"post\":\"$ID:post_alice\",\"text\":\"x\"}", "",
     0},
    {"profile_skills_33", "alice", 5, "@1d",
     "{\"fields\":{\"skills\":[\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
     "\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
     "\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]}}",
     "33 skills", 0},
    {"redaction_short", "alice", 10, "@1d", "{\"target\":\"$rep:62:a\"}", "", 0},
};

/*
 * The scenes. A scene is a receiver: its clock, then arrivals in order, each
 * with the result it must give ("ok" or an error, and after "/" the rule of
 * PROTOCOL.md 8.8 that decides), and what else changes: "+label" becomes
 * admitted, "-label" stops being. Then the final state. "@..." are times.
 */
static const char *const r_scenes[] = {
    "scene: basics\n"
    "note: a certificate, an enrolment, a post; the post again\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: enrol_alice ok\n"
    "arrive: post_alice ok\n"
    "arrive: post_alice EEXIST\n"
    "admitted: cert_lyon enrol_alice post_alice\n",

    "scene: pending_then_released\n"
    "note: what waits for its author's enrolment and certificate is admitted when they come\n"
    "clock: @40d\n"
    "arrive: post_alice EPENDING/author.unknown\n"
    "arrive: post_alice EPENDING/author.unknown\n"
    "arrive: enrol_alice EPENDING/author.unknown\n"
    "arrive: cert_lyon ok +enrol_alice +post_alice\n"
    "admitted: cert_lyon enrol_alice post_alice\n",

    "scene: user_before_enrolment\n"
    "note: a user key is valid from its first enrolment on\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: enrol_alice ok\n"
    "arrive: post_alice_early EPENDING/user.before_enrolment\n"
    "admitted: cert_lyon enrol_alice\n"
    "pending: post_alice_early\n",

    "scene: certificate_windows\n"
    "note: a certificate is valid from its issue; a site's windows add up\n"
    "clock: @40d\n"
    "arrive: cert_lyon_title ok\n"
    "arrive: enrol_alice EPENDING/site.window\n"
    "arrive: cert_lyon ok +enrol_alice\n"
    "arrive: cert_rogue ok\n"
    "arrive: rogue_claim_alice_early EPENDING/site.window\n"
    "admitted: cert_lyon cert_lyon_title cert_rogue enrol_alice\n"
    "pending: rogue_claim_alice_early\n",

    "scene: certificate_expiry\n"
    "note: users enrolled inside a window stay; the site signs nothing outside one\n"
    "clock: @40d\n"
    "arrive: cert_nantes ok\n"
    "arrive: enrol_gina ok\n"
    "arrive: post_gina_25 ok\n"
    "arrive: enrol_hugo EPENDING/site.window\n"
    "arrive: cert_nantes_renew ok\n"
    "arrive: enrol_hugo_again ok\n"
    "admitted: cert_nantes cert_nantes_renew enrol_gina enrol_hugo_again post_gina_25\n"
    "pending: enrol_hugo\n",

    "scene: signers\n"
    "note: who may sign which kind; unknown kinds by any valid key\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: cert_paris ok\n"
    "arrive: enrol_alice ok\n"
    "arrive: enrol_bruno ok\n"
    "arrive: unknown_by_alice ok\n"
    "arrive: unknown_by_lyon ok\n"
    "arrive: unknown_by_root ok\n"
    "arrive: post_by_root EPERM/author.kind\n"
    "arrive: post_by_lyon EPERM/author.kind\n"
    "arrive: enrol_by_root EPERM/author.kind\n"
    "arrive: cert_by_lyon EPERM/author.kind\n"
    "arrive: enrol_by_alice EPENDING/author.not_site\n"
    "arrive: revoke_by_alice EPENDING/author.not_site\n"
    "arrive: lyon_revokes_paris EPERM/revoke.site_key\n"
    "arrive: revoke_root EPERM/revoke.root\n"
    "arrive: enrol_site_key EPERM/enrol.site_key\n"
    "arrive: post_by_paris_key EPERM/author.kind\n"
    "arrive: enrol_other_site EPENDING/site.window\n"
    "admitted: cert_lyon cert_paris enrol_alice enrol_bruno unknown_by_alice unknown_by_lyon "
    "unknown_by_root\n"
    "pending: enrol_by_alice enrol_other_site revoke_by_alice\n",

    "scene: site_key_enrolled_first\n"
    "note: enrol_site_key before paris is certified: paris's key is a user until its "
    "certificate comes; then the enrolment and what the key signed as a user go for good\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: enrol_site_key ok\n"
    "arrive: post_by_paris_key ok\n"
    "arrive: cert_paris ok -enrol_site_key -post_by_paris_key\n"
    "admitted: cert_lyon cert_paris\n",

    "scene: body_rules_cert\n"
    "note: certificates that break a rule of section 7.1; hole 4 for their keys\n"
    "clock: @40d\n"
    "arrive: cert_nb_zero EINVAL/cert.not_before\n"
    "arrive: cert_empty_window EINVAL/cert.not_after\n"
    "arrive: cert_no_seal EINVAL/cert.seal_key\n"
    "arrive: cert_seal_is_curve EINVAL/cert.seal_key\n"
    "arrive: cert_sign_small EINVAL/cert.sign_key\n"
    "arrive: cert_sign_torsion EINVAL/cert.sign_key\n"
    "arrive: cert_sign_root EINVAL/cert.sign_key\n"
    "arrive: cert_upper_key EINVAL/cert.sign_key\n"
    "arrive: cert_curve_small EINVAL/cert.curve_key\n"
    "arrive: cert_curve_high EINVAL/cert.curve_key\n"
    "arrive: cert_seal_small EINVAL/cert.seal_key\n"
    "arrive: cert_bad_site EINVAL/cert.site\n"
    "admitted:\n",

    "scene: body_rules_enrol\n"
    "note: enrolments that break a rule of section 7.2, the proof first among them\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: enrol_no_proof EINVAL/enrol.proof\n"
    "arrive: enrol_proof_other_key EINVAL/enrol.proof\n"
    "arrive: enrol_proof_other_site EINVAL/enrol.proof\n"
    "arrive: enrol_proof_other_handle EINVAL/enrol.proof\n"
    "arrive: enrol_proof_upper EINVAL/enrol.proof\n"
    "arrive: enrol_key_torsion EINVAL/enrol.key\n"
    "arrive: enrol_key_small EINVAL/enrol.key\n"
    "arrive: enrol_key_root EINVAL/enrol.key\n"
    "arrive: enrol_bad_handle EINVAL/enrol.handle\n"
    "arrive: enrol_bad_role EINVAL/enrol.role\n"
    "arrive: enrol_long_name EINVAL/enrol.name\n"
    "admitted: cert_lyon\n",

    "scene: body_rules_revoke\n"
    "note: revocations that break a rule of section 7.3\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: revoke_no_vouch EINVAL/revoke.vouch\n"
    "arrive: revoke_vouch_unsorted EINVAL/revoke.vouch\n"
    "arrive: revoke_vouch_upper EINVAL/revoke.vouch\n"
    "arrive: revoke_vouch_backwards EINVAL/revoke.vouch\n"
    "arrive: revoke_vouch_partial EINVAL/revoke.vouch\n"
    "arrive: revoke_key_small EINVAL/revoke.key\n"
    "admitted: cert_lyon\n",

    "scene: body_rules_others\n"
    "note: the other kinds; a key backup's handle is not compared with the enrolment\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: enrol_alice ok\n"
    "arrive: post_alice ok\n"
    "arrive: backup_ops_zero EINVAL/key_backup.ops\n"
    "arrive: backup_mem_big EINVAL/key_backup.mem\n"
    "arrive: backup_bad_handle EINVAL/key_backup.handle\n"
    "arrive: backup_ok ok\n"
    "arrive: backup_other_handle ok\n"
    "arrive: post_empty EINVAL/post.text\n"
    "arrive: reaction_no_on EINVAL/reaction.on\n"
    "arrive: comment_upper_post EINVAL/comment.post\n"
    "arrive: profile_skills_33 EINVAL/profile.skills\n"
    "arrive: redaction_short EINVAL/redaction.target\n"
    "admitted: backup_ok backup_other_handle cert_lyon enrol_alice post_alice\n",

    "scene: old_protocol\n"
    "note: an event of protocol version 1 is refused at decoding\n"
    "clock: @40d\n"
    "arrive: post_alice_v1 EVERSION/decode.version\n"
    "admitted:\n",

    "scene: hole1_foreign_enrolment\n"
    "note: hole 1: a certified site enrols another site's user key and revokes it from 0\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: enrol_alice ok\n"
    "arrive: post_alice ok\n"
    "arrive: cert_rogue ok\n"
    "arrive: rogue_enrol_alice EINVAL/enrol.proof\n"
    "arrive: rogue_enrol_alice_replay EINVAL/enrol.proof\n"
    "arrive: rogue_copy_alice EPENDING/site.window\n"
    "arrive: rogue_revoke_alice EPENDING/revoke.not_enrolled\n"
    "admitted: cert_lyon cert_rogue enrol_alice post_alice\n"
    "pending: rogue_copy_alice rogue_revoke_alice\n",

    "scene: hole2_user_key\n"
    "note: hole 2: the thief of bruno's key backdates; lyon's revocation vouches for what it "
    "held before @23d\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: enrol_bruno ok\n"
    "arrive: post_bruno_1 ok\n"
    "arrive: post_bruno_2 ok\n"
    "arrive: revoke_bruno ok\n"
    "arrive: forged_old EREVOKED/revoked.unvouched\n"
    "arrive: forged_window ok\n"
    "arrive: forged_after EREVOKED/revoked.effective\n"
    "arrive: post_bruno_3 ok\n"
    "arrive: post_bruno_0 EREVOKED/revoked.unvouched\n"
    "admitted: cert_lyon enrol_bruno forged_window post_bruno_1 post_bruno_2 post_bruno_3 "
    "revoke_bruno\n"
    "aside: forged_after forged_old post_bruno_0\n",

    "scene: hole2_user_key_forged_first\n"
    "note: the forgeries arrive before the revocation: admitted, then put aside\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: enrol_bruno ok\n"
    "arrive: forged_old ok\n"
    "arrive: forged_after ok\n"
    "arrive: post_bruno_1 ok\n"
    "arrive: post_bruno_2 ok\n"
    "arrive: revoke_bruno ok -forged_old -forged_after\n"
    "admitted: cert_lyon enrol_bruno post_bruno_1 post_bruno_2 revoke_bruno\n"
    "aside: forged_after forged_old\n",

    "scene: hole2_user_key_root\n"
    "note: the same revocation by the root: its refusals are final, nothing is kept\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: enrol_bruno ok\n"
    "arrive: forged_old ok\n"
    "arrive: post_bruno_1 ok\n"
    "arrive: post_bruno_2 ok\n"
    "arrive: root_revoke_bruno ok -forged_old\n"
    "arrive: forged_after EREVOKED/revoked.effective\n"
    "arrive: forged_window ok\n"
    "admitted: cert_lyon enrol_bruno forged_window post_bruno_1 post_bruno_2 "
    "root_revoke_bruno\n",

    "scene: hole2_site_key\n"
    "note: hole 2: the thief of lyon's key backdates an enrolment and a revocation; the root's "
    "revocation vouches for lyon's two real enrolments; lyon's users keep their keys\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: enrol_alice ok\n"
    "arrive: enrol_bruno ok\n"
    "arrive: post_alice ok\n"
    "arrive: root_revoke_lyon ok\n"
    "arrive: thief_enrol_mallory EREVOKED/revoked.unvouched\n"
    "arrive: post_mallory EPENDING/author.unknown\n"
    "arrive: thief_enrol_late EREVOKED/revoked.effective\n"
    "arrive: thief_revoke_alice EREVOKED/revoked.unvouched\n"
    "arrive: post_alice_35 ok\n"
    "arrive: cert_lyon_new ok\n"
    "arrive: reenrol_bruno ok\n"
    "admitted: cert_lyon cert_lyon_new enrol_alice enrol_bruno post_alice post_alice_35 "
    "reenrol_bruno root_revoke_lyon\n"
    "pending: post_mallory\n",

    "scene: hole2_site_key_thief_first\n"
    "note: the thief's events arrive before the root's revocation: admitted, then taken "
    "back; what the thief's revocation had put aside comes back\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: enrol_alice ok\n"
    "arrive: post_alice ok\n"
    "arrive: thief_enrol_mallory ok\n"
    "arrive: post_mallory ok\n"
    "arrive: thief_revoke_alice_late ok -post_alice\n"
    "arrive: root_revoke_lyon ok -thief_enrol_mallory -post_mallory -thief_revoke_alice_late "
    "+post_alice\n"
    "admitted: cert_lyon enrol_alice post_alice root_revoke_lyon\n"
    "pending: post_mallory\n",

    "scene: handle_takeover_bound\n"
    "note: backdating a claim is bounded by the claimant's certificate: alice.martin, first "
    "enrolled before rogue was certified, stays lyon's; erin.blanc, enrolled after, is taken\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: enrol_alice ok\n"
    "arrive: cert_rogue ok\n"
    "arrive: rogue_claim_alice_early EPENDING/site.window\n"
    "arrive: rogue_claim_alice ok\n"
    "arrive: enrol_erin ok\n"
    "arrive: rogue_claim_erin ok\n"
    "admitted: cert_lyon cert_rogue enrol_alice enrol_erin rogue_claim_alice rogue_claim_erin\n"
    "pending: rogue_claim_alice_early\n"
    "handle: alice.martin lyon alice\n"
    "handle: erin.blanc rogue mallory\n",

    "scene: handle_takeover_undone\n"
    "note: federation IT revokes rogue from its first moment: its claims go, erin.blanc is "
    "lyon's again\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: enrol_alice ok\n"
    "arrive: cert_rogue ok\n"
    "arrive: rogue_claim_alice ok\n"
    "arrive: enrol_erin ok\n"
    "arrive: rogue_claim_erin ok\n"
    "arrive: root_revoke_rogue ok -rogue_claim_alice -rogue_claim_erin\n"
    "admitted: cert_lyon cert_rogue enrol_alice enrol_erin root_revoke_rogue\n"
    "handle: alice.martin lyon alice\n"
    "handle: erin.blanc lyon erin\n",

    "scene: hole3_future\n"
    "note: hole 3: events dated ahead are held until their time, not applied\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: enrol_alice ok\n"
    "arrive: profile_now ok\n"
    "arrive: profile_future EHELD/clock.hold\n"
    "arrive: profile_future EHELD/clock.hold\n"
    "arrive: profile_skew ok\n"
    "arrive: profile_far EAGAIN/clock.future\n"
    "clock: @40d+1h\n"
    "clock: @40d+2h-5m +profile_future\n"
    "admitted: cert_lyon enrol_alice profile_future profile_now profile_skew\n",

    "scene: hole3_held_revocation\n"
    "note: a revocation dated ahead takes effect at its time\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: enrol_alice ok\n"
    "arrive: post_alice_39 ok\n"
    "arrive: root_revoke_alice_future EHELD/clock.hold\n"
    "clock: @40d+1h -post_alice_39 +root_revoke_alice_future\n"
    "admitted: cert_lyon enrol_alice root_revoke_alice_future\n",

    "scene: hole5_password_reset\n"
    "note: hole 5: after a reset the handle's key is the newest its site enrolled\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: enrol_bruno ok\n"
    "arrive: post_bruno_1 ok\n"
    "arrive: reset_enrol_bruno ok\n"
    "arrive: reset_revoke_bruno ok\n"
    "arrive: edit_bruno_new ok\n"
    "arrive: post_bruno_new ok\n"
    "arrive: post_bruno_7 EREVOKED/revoked.effective\n"
    "admitted: cert_lyon edit_bruno_new enrol_bruno post_bruno_1 post_bruno_new "
    "reset_enrol_bruno reset_revoke_bruno\n"
    "aside: post_bruno_7\n"
    "handle: bruno.durand lyon bruno_new\n",

    "scene: revocation_reach\n"
    "note: a site's revocation reaches back no further than its own first enrolment of the "
    "key\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: cert_paris ok\n"
    "arrive: enrol_alice ok\n"
    "arrive: post_alice ok\n"
    "arrive: post_alice_11 ok\n"
    "arrive: enrol_alice_paris ok\n"
    "arrive: paris_revoke_alice ok -post_alice_11\n"
    "arrive: post_alice_13 EREVOKED/revoked.effective\n"
    "admitted: cert_lyon cert_paris enrol_alice enrol_alice_paris paris_revoke_alice "
    "post_alice\n"
    "aside: post_alice_11 post_alice_13\n"
    "handle: alice.martin lyon alice\n"
    "handle: alice.p paris alice\n",

    "scene: redaction_rights\n"
    "note: the author, or an admin (at the redaction's time) of the same site name, erases\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: cert_paris ok\n"
    "arrive: enrol_alice ok\n"
    "arrive: enrol_bruno ok\n"
    "arrive: enrol_dave ok\n"
    "arrive: post_alice ok\n"
    "arrive: comment_bruno ok\n"
    "arrive: post_bruno_1 ok\n"
    "arrive: post_bruno_2 ok\n"
    "arrive: redact_by_alice ok\n"
    "arrive: redact_by_dave ok\n"
    "arrive: demote_alice ok\n"
    "arrive: redact_by_alice_late ok\n"
    "arrive: cert_lyon_new ok\n"
    "arrive: enrol_frank ok\n"
    "arrive: redact_by_frank ok\n"
    "admitted: cert_lyon cert_lyon_new cert_paris comment_bruno demote_alice enrol_alice "
    "enrol_bruno enrol_dave enrol_frank post_alice post_bruno_1 post_bruno_2 redact_by_alice "
    "redact_by_alice_late redact_by_dave redact_by_frank\n"
    "erased: comment_bruno post_bruno_1\n",

    "scene: bodiless_copy\n"
    "note: a copy without its body is admitted only once a redaction allowed to erase it is "
    "held (the one verdict that depends on order: sync sends such copies last)\n"
    "orders: as-written\n"
    "clock: @40d\n"
    "arrive: cert_lyon ok\n"
    "arrive: enrol_alice ok\n"
    "arrive: enrol_bruno ok\n"
    "arrive: post_alice ok\n"
    "arrive: comment_bruno_bare EINVAL/redacted.no_redaction\n"
    "arrive: redact_by_alice ok\n"
    "arrive: comment_bruno_bare ok\n"
    "arrive: comment_bruno EEXIST\n"
    "admitted: cert_lyon comment_bruno_bare enrol_alice enrol_bruno post_alice "
    "redact_by_alice\n"
    "erased: comment_bruno_bare\n",

    "scene: pending_full\n"
    "note: what waits is bounded (max_pending); the rest is refused, to be offered again\n"
    "orders: as-written\n"
    "max_pending: 2\n"
    "clock: @40d\n"
    "arrive: post_mallory_1 EPENDING/author.unknown\n"
    "arrive: post_mallory_2 EPENDING/author.unknown\n"
    "arrive: post_mallory_3 EFULL/pending.full\n"
    "admitted:\n"
    "pending: post_mallory_1 post_mallory_2\n",
};
