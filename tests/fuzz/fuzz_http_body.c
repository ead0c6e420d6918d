/*
 * libFuzzer target for HTTP request bodies, through the checks the API makes
 * before it signs anything (api_body_check in node/http/body.c, after
 * http_parse_body), then through the ingest path's own body rules
 * (evt_decode, event_validate) for what the API lets through. Byte 0 picks the
 * call; the rest is the body. Seed corpus: tests/fuzz/corpus/http_body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/http/http_internal.h"
#include "node/event/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Not assert(): these must hold in every build, NDEBUG or not. */
#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

#define POST_HEX "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

/* A message goes out as a JSON string: valid UTF-8, not empty, no NUL cut. */
static void
s_message(const char *why, size_t cap)
{
	json_t *j;

	CHECK(memchr(why, 0, cap) != NULL && why[0] != 0);
	j = json_string(why);
	CHECK(j != NULL);
	json_decref(j);
}

/* A body the API accepted makes an event that the ingest path accepts: the
 * two sets of rules (the API's and node/event's) must never disagree, or the
 * API would sign what every site then refuses. */
static void
s_accepted(enum api_body call, const json_t *body)
{
	static key_sign_t *key;
	static uint8_t fed[CPT_FED_LEN];
	uint8_t *buf;
	size_t len, tlen;
	uint16_t kind = 0;
	json_t *ev, *back;
	char *text, why[128];
	evt_t e;

	if (call == API_LOGIN || call == API_PASSWORD)
		return; /* no event */
	if (key == NULL) {
		CHECK(cpt_init() == 0 && (key = key_sign_new()) != NULL);
		evt_federation_id(fed, key_sign_public(key));
	}
	ev = api_body_event(call, body, POST_HEX, &kind);
	CHECK(ev != NULL && kind != 0);
	/* As node_publish signs it. */
	text = json_dumps(ev, JSON_COMPACT);
	CHECK(text != NULL);
	tlen = strlen(text);
	buf = malloc(EVT_FIXED_LEN + tlen);
	CHECK(buf != NULL);
	if (evt_sign(buf, EVT_FIXED_LEN + tlen, &len, kind, fed, (uint64_t)1 << 40,
	             (const uint8_t *)text, tlen, key) == 0) {
		CHECK(evt_decode(&e, buf, len, EVT_MAX_BODY) == 0);
		back = json_loadb((const char *)e.body, e.body_len, JSON_REJECT_DUPLICATES, NULL);
		CHECK(back != NULL);
		why[0] = 0;
		CHECK(event_validate(&e, back, why, sizeof(why)) == 0);
		json_decref(back);
	} else {
		/* Only a body over the protocol's cap may fail to sign. */
		CHECK(tlen > EVT_MAX_BODY);
	}
	free(buf);
	free(text);
	json_decref(ev);
}

/* A body a peer could send in an event of any kind: event_validate answers,
 * with a message when it refuses. */
static void
s_event_body(uint16_t kind, const json_t *body)
{
	evt_t e;
	char why[128] = "";
	int rc;

	memset(&e, 0, sizeof(e));
	e.version = EVT_VERSION;
	e.kind = kind;
	rc = event_validate(&e, body, why, sizeof(why));
	CHECK(rc == 0 || rc == CPT_EINVAL);
	if (rc != 0)
		s_message(why, sizeof(why));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256];
	api_refusal_t no;
	json_t *body;
	unsigned call;
	int rc;

	if (size < 1)
		return 0;
	call = data[0] % (API_BODY_COUNT + 1);
	memset(why, 0x55, sizeof(why));
	body = http_parse_body((const char *)data + 1, size - 1, why, sizeof(why));
	if (body == NULL) {
		s_message(why, sizeof(why));
		return 0;
	}
	CHECK(json_is_object(body));
	if (call == API_BODY_COUNT) {
		/* Byte 0 past the calls: the body as an event's, of kind 1..11. */
		s_event_body((uint16_t)(1 + data[0] / (API_BODY_COUNT + 1) % 11), body);
	} else {
		memset(&no, 0x55, sizeof(no));
		rc = api_body_check((enum api_body)call, body, &no);
		CHECK(rc == 0 || rc == CPT_EINVAL);
		if (rc == 0) {
			s_accepted((enum api_body)call, body);
		} else {
			s_message(no.why, sizeof(no.why));
			/* A refusal has a code the UI can translate. */
			CHECK(no.code != NULL && no.code[0] != 0);
			/* The field named is one of the body's keys, or a known one. */
			if (no.field) {
				json_t *f = json_string(no.field);
				CHECK(f != NULL);
				json_decref(f);
			}
		}
	}
	json_decref(body);
	return 0;
}
