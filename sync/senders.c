/*
 * Which links sent the events the node kept waiting (pending, held, aside),
 * so that once admitted they are relayed to every peer but those (issue 24,
 * session 15). A table in the engine's memory: a restart forgets it, and an
 * event admitted after one goes back to its sender once, which answers it
 * as a duplicate.
 */
#include <stdlib.h>
#include <string.h>

#include "sync/sync_internal.h"

#define SENDERS_MIN 1024 /* slots of a new table */
/* Slots at most (40 bytes each: 5 MiB): a table this full is forgotten at
 * once (events that wait for good stay in it; what it forgets costs a
 * duplicate each). The node keeps at most limits.max_pending waiting. */
#define SENDERS_MAX (1u << 17)

/* One event kept waiting here and the links that sent it. */
struct sender {
	uint8_t id[CPT_ID_LEN];       /* the event */
	uint16_t link[SENDERS_LINKS]; /* the slots of the links that sent it */
	uint8_t n;                    /* how many of them; 0: a free slot */
};

/* The slot an id starts its search at. Ids are hashes of what their signer
 * chose: a signer who made them collide would lengthen its own searches, in
 * a table its peers fill only with what waits here (limits.max_pending). */
static size_t
s_home(const uint8_t *id, size_t cap)
{
	uint64_t h;

	memcpy(&h, id, sizeof(h));
	return (size_t)h & (cap - 1);
}

/* The slot holding id, or the free slot where it would go. */
static size_t
s_find(const sync_t *s, const uint8_t *id)
{
	size_t mask = s->senders_cap - 1, i = s_home(id, s->senders_cap);

	while (s->senders[i].n && memcmp(s->senders[i].id, id, CPT_ID_LEN) != 0)
		i = (i + 1) & mask;
	return i;
}

/* Twice the slots, or none past SENDERS_MAX (everything forgotten); 0 or
 * -1 when memory is short (nothing noted then). */
static int
s_grow(sync_t *s)
{
	struct sender *old = s->senders, *t;
	size_t cap = s->senders_cap ? 2 * s->senders_cap : SENDERS_MIN, old_cap = s->senders_cap;

	if (cap > SENDERS_MAX) {
		memset(s->senders, 0, s->senders_cap * sizeof(*s->senders));
		s->senders_n = 0;
		return 0;
	}
	if ((t = calloc(cap, sizeof(*t))) == NULL)
		return -1;
	s->senders = t;
	s->senders_cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].n)
			s->senders[s_find(s, old[i].id)] = old[i];
	free(old);
	return 0;
}

void
senders_note(sync_t *s, const uint8_t id[CPT_ID_LEN], int slot)
{
	struct sender *e;

	/* At most half full: searches stay short. */
	if (2 * (s->senders_n + 1) > s->senders_cap && s_grow(s) != 0)
		return;
	e = &s->senders[s_find(s, id)];
	if (e->n == 0) {
		memcpy(e->id, id, CPT_ID_LEN);
		s->senders_n++;
	}
	for (int k = 0; k < e->n; k++)
		if (e->link[k] == slot)
			return;
	if (e->n < SENDERS_LINKS)
		e->link[e->n++] = (uint16_t)slot;
}

int
senders_take(sync_t *s, const uint8_t id[CPT_ID_LEN], peerset_t *skip)
{
	size_t mask, i, j;

	if (s->senders_n == 0)
		return 0;
	mask = s->senders_cap - 1;
	i = s_find(s, id);
	if (s->senders[i].n == 0)
		return 0;
	for (int k = 0; k < s->senders[i].n; k++)
		peerset_add(skip, s->senders[i].link[k]);
	/* Deleted by moving back the entries after it that searched past it
	 * (linear probing keeps no tombstones). */
	for (j = i;;) {
		size_t h;
		j = (j + 1) & mask;
		if (s->senders[j].n == 0)
			break;
		h = s_home(s->senders[j].id, s->senders_cap);
		/* Does j's search pass over i? (i, j cyclically after h.) */
		if (((j - h) & mask) >= ((j - i) & mask)) {
			s->senders[i] = s->senders[j];
			i = j;
		}
	}
	s->senders[i].n = 0;
	s->senders_n--;
	return 1;
}

void
senders_fini(sync_t *s)
{
	free(s->senders);
	s->senders = NULL;
	s->senders_cap = s->senders_n = 0;
}
