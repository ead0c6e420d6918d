/*
 * Unit tests of the two tables that wire the ingest path: the registry of
 * derived indexes (node/index/registry.c) and the table of event kinds
 * (node/event/kinds.c). A database nobody registers would be skipped by
 * reindex and verify without a word; a kind without its entry would be
 * signed by anyone: both are caught here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "node/event/event_internal.h"
#include "node/index/index.h"

/* What the store holds that is not derived from the events by the
 * registry: the events themselves (and schema 11's database of them,
 * emptied by the step to 12), what waits (and its index by id, which
 * follows it), meta values, the peers added by hand, login sessions, the
 * personal keys learnt at login, the mail outbox and when digests went,
 * the API tokens, the webhooks, the bots' sealed seeds, and the reference
 * numbers (local, as the envelopes' numbers: kept across a reindex, which
 * keys the views by them). */
static const enum store_db s_not_derived[] = {
    DB_META,        DB_ENVELOPES, DB_EVENT_IDS, DB_EVENTS_V11, DB_PENDING,
    DB_PENDING_IDS, DB_PEERS,     DB_SESSIONS,  DB_MINE_KEYS,  DB_OUTBOX,
    DB_MAIL,        DB_TOKENS,    DB_HOOKS,     DB_BOTS,       DB_REF_NUMS};

/* Every database is either owned by exactly one index of the registry or
 * one of the few that are not derived; none is both. */
static void
test_every_database_has_one_owner(void **state)
{
	int owners[DB_COUNT] = {0};
	size_t n;
	const index_def_t *reg = index_registry(&n);

	(void)state;
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(reg[i].name);
		assert_true(reg[i].n_dbs > 0);
		for (size_t j = 0; j < reg[i].n_dbs; j++) {
			assert_true(reg[i].dbs[j] >= 0 && reg[i].dbs[j] < DB_COUNT);
			owners[reg[i].dbs[j]]++;
		}
		/* An index that listens to kinds does something with them. */
		if (reg[i].kinds)
			assert_true(reg[i].added != NULL || reg[i].removed != NULL);
	}
	for (size_t i = 0; i < sizeof(s_not_derived) / sizeof(s_not_derived[0]); i++)
		owners[s_not_derived[i]] += 100;
	for (int db = 0; db < DB_COUNT; db++) {
		if (owners[db] != 1 && owners[db] != 100)
			fail_msg("database \"%s\": %d owners in the registry%s", store_db_name(db),
			         owners[db] % 100, owners[db] >= 100 ? " and not derived" : "");
	}
}

/* Every kind of the protocol has its entry, and the entry says who signs
 * it; kinds from a newer node are stored by any certified key. */
static void
test_every_kind_has_an_entry(void **state)
{
	(void)state;
	for (unsigned k = EVT_SITE_CERT; k <= EVT_SEALED; k++) {
		const ev_kind_t *e = ev_kind(k);
		if (e->kind != k)
			fail_msg("kind %u (%s) has no entry in node/event/kinds.c", k,
			         evt_kind_name(k));
		assert_true(e->signers != 0);
		assert_int_equal(e->signers & ~EV_BY_ANY, 0);
	}
	assert_int_equal(ev_kind(0)->signers, EV_BY_ANY);
	assert_int_equal(ev_kind(EVT_SEALED + 1)->signers, EV_BY_ANY);
	assert_int_equal(ev_kind(65535)->signers, EV_BY_ANY);
	/* Trust events and redactions carry state: never erased. */
	assert_false(event_redactable(EVT_SITE_CERT));
	assert_false(event_redactable(EVT_ENROL));
	assert_false(event_redactable(EVT_REVOKE));
	assert_false(event_redactable(EVT_REDACT));
	assert_true(event_redactable(EVT_POST));
	assert_true(event_redactable(EVT_SEALED + 1));
	/* Spaces (PROTOCOL.md 16.10): governance is state, never erased; the
	 * space key is signed by a site, the rest by users; sealed content is
	 * erased like a post. */
	assert_false(event_redactable(EVT_SPACE));
	assert_false(event_redactable(EVT_SPACE_MEMBER));
	assert_false(event_redactable(EVT_SPACE_KEY));
	assert_true(event_redactable(EVT_SEALED));
	assert_int_equal(ev_kind(EVT_SPACE_KEY)->signers, EV_BY_SITE);
	assert_int_equal(ev_kind(EVT_SPACE)->signers, EV_BY_USER);
	assert_int_equal(ev_kind(EVT_SEALED)->signers, EV_BY_USER);
	/* The kinds of notifications (PROTOCOL.md 17): user kinds, erasable. */
	for (unsigned k = EVT_FOLLOW; k <= EVT_ACK; k++) {
		const ev_kind_t *e = ev_kind(k);
		if (e->kind != k)
			fail_msg("kind %u (%s) has no entry in node/event/kinds.c", k,
			         evt_kind_name(k));
		assert_int_equal(e->signers, EV_BY_USER);
		assert_true(e->validate != NULL);
		assert_true(event_redactable(k));
	}
}

/* What refers to what: a comment, a reaction and an edit to "post", a
 * redaction to "target", a revocation to its key only where keys count. */
static void
test_refs_by_kind(void **state)
{
	static const char hex[] =
	    "0101010101010101010101010101010101010101010101010101010101010101";
	json_t *b = json_pack("{s:s, s:s, s:s}", "post", hex, "target", hex, "key", hex);
	uint8_t ref[CPT_ID_LEN];
	evt_t ev;

	(void)state;
	assert_non_null(b);
	memset(&ev, 0, sizeof(ev));
	for (unsigned k = EVT_SITE_CERT; k <= EVT_REDACT + 1; k++) {
		int want =
		    k == EVT_COMMENT || k == EVT_REACTION || k == EVT_EDIT || k == EVT_REDACT;
		ev.kind = (uint16_t)k;
		assert_int_equal(ev_ref_of(&ev, b, ref, 0), want);
		assert_int_equal(ev_ref_of(&ev, b, ref, 1),
		                 want || k == EVT_REVOKE || k == EVT_ENROL);
	}
	json_decref(b);
}

/* The writer's cache of bodies parsed (node/index/base.c) gives back a
 * parse only for the very bytes it was made from: the same body in another
 * envelope shares it, any other body gets its own, an erased one none. */
static void
test_bodies_by_their_bytes(void **state)
{
	static const char *const bodies[] = {"{\"text\":\"one\"}", "{\"text\":\"two\"}",
	                                     "{\"text\":\"one\",\"x\":1}", "{\"text\":\"one\"}"};
	uint8_t fed[CPT_FED_LEN] = {7}, env[4][256];
	size_t len[4];
	evt_t ev[4], erased;
	key_sign_t *key;
	index_ctx_t ix = {0};
	json_t *kept, *j, *k;

	(void)state;
	assert_int_equal(cpt_init(), 0);
	assert_non_null(key = key_sign_new());
	for (int i = 0; i < 4; i++) {
		assert_int_equal(evt_sign(env[i], sizeof(env[i]), &len[i], EVT_POST, fed,
		                          HLC_MAKE(1000 + (uint64_t)i, 0),
		                          (const uint8_t *)bodies[i], strlen(bodies[i]), key),
		                 0);
		assert_int_equal(evt_decode_lazy(&ev[i], env[i], len[i], EVT_MAX_BODY), 0);
	}
	assert_non_null(kept = index_body(&ev[0]));
	index_body_keep(&ix, &ev[0], kept);
	/* The same bytes, in its envelope or another: the parse kept. */
	assert_ptr_equal(j = index_body_cached(&ix, &ev[0]), kept);
	json_decref(j);
	assert_ptr_equal(j = index_body_cached(&ix, &ev[3]), kept);
	json_decref(j);
	/* Other bytes: their own parse, kept in turn. */
	assert_non_null(j = index_body_cached(&ix, &ev[1]));
	assert_ptr_not_equal(j, kept);
	assert_string_equal(json_string_value(json_object_get(j, "text")), "two");
	assert_ptr_equal(k = index_body_cached(&ix, &ev[1]), j);
	json_decref(k);
	json_decref(j);
	assert_non_null(j = index_body_cached(&ix, &ev[2]));
	assert_ptr_not_equal(j, kept);
	assert_int_equal(json_integer_value(json_object_get(j, "x")), 1);
	json_decref(j);
	/* Erased (header and signature only): no body. */
	assert_int_equal(evt_decode_lazy(&erased, env[0], EVT_FIXED_LEN, EVT_MAX_BODY), 0);
	assert_null(erased.body);
	assert_null(index_body_cached(&ix, &erased));
	json_decref(kept);
	index_ctx_release(&ix);
	assert_null(ix.bodies);
	key_sign_destroy(&key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_database_has_one_owner),
	    cmocka_unit_test(test_every_kind_has_an_entry),
	    cmocka_unit_test(test_refs_by_kind),
	    cmocka_unit_test(test_bodies_by_their_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
