/*
 * Mentions (DB_MENTIONS: handle, then (ts, id)): the @handles of each post
 * and comment, added with it and taken out when its text goes.
 */
#include <ctype.h>
#include <string.h>

#include "node/index/index_internal.h"

void
ix_each_mention(const char *text, void (*fn)(const char *h, void *arg), void *arg)
{
	char seen[32][33];
	int n = 0;

	for (const char *p = text; (p = strchr(p, '@')) != NULL; p++) {
		char h[33];
		size_t len = 0;
		int dup = 0;
		if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '.'))
			continue;
		while (len < 32 &&
		       (islower((unsigned char)p[1 + len]) || isdigit((unsigned char)p[1 + len]) ||
		        (len > 0 && strchr("._-", p[1 + len]) && p[1 + len])))
			len++;
		while (len > 0 && strchr("._-", p[len])) /* "@bob." ends a sentence */
			len--;
		if (len == 0)
			continue;
		memcpy(h, p + 1, len);
		h[len] = 0;
		for (int i = 0; i < n; i++)
			dup |= strcmp(seen[i], h) == 0;
		if (dup || n == 32)
			continue;
		strcpy(seen[n++], h);
		fn(h, arg);
	}
}

/* One text's mentions being added or taken out. */
struct mention_arg {
	store_txn_t *txn;  /* where */
	const evt_t *ev;   /* the event (its timestamp) */
	const uint8_t *id; /* its id */
	int add;           /* 1 add, 0 take out */
	int rc;            /* the first error */
};

static void
s_mention_put(const char *h, void *argp)
{
	struct mention_arg *a = argp;
	uint8_t k[33 + 1 + 8 + CPT_ID_LEN];
	size_t hl = strlen(h);
	int rc;

	if (a->rc != 0)
		return;
	memcpy(k, h, hl);
	k[hl] = 0;
	store_put_u64(k + hl + 1, a->ev->ts);
	memcpy(k + hl + 9, a->id, CPT_ID_LEN);
	if (a->add)
		rc = store_put(a->txn, DB_MENTIONS, k, hl + 9 + CPT_ID_LEN, "", 0);
	else
		rc = store_del(a->txn, DB_MENTIONS, k, hl + 9 + CPT_ID_LEN);
	a->rc = rc;
}

/* Adds (or removes) the mentions of ev's text; have_body is ev's parsed
 * body when the caller has it, else NULL. */
static int
s_mentions(store_txn_t *txn, const evt_t *ev, const json_t *have_body, const uint8_t id[CPT_ID_LEN],
           int add)
{
	json_t *body = have_body ? json_incref((json_t *)have_body) : index_body(ev);
	struct mention_arg a = {txn, ev, id, add, 0};
	const char *text;

	if (body == NULL)
		return 0;
	if ((text = json_string_value(json_object_get(body, "text"))) != NULL)
		ix_each_mention(text, s_mention_put, &a);
	json_decref(body);
	return a.rc;
}

int
ix_mentions_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	(void)ix;
	return s_mentions(txn, e->ev, e->body, e->id, 1);
}

/* The text went (the event left, or a redaction erased it): its mentions
 * with it. e->body is the text's, kept by the caller past the erasure. */
int
ix_mentions_removed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	(void)ix;
	return s_mentions(txn, e->ev, e->body, e->id, 0);
}
