/*
 * comptoir search: the search staff have in the header, for site IT at the
 * console (it sees what any member of staff may). While the node runs the
 * index is read as it is; else it is first brought up to the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/cli/cli_internal.h"

/* One line of a result: what, who, when, and the snippet with the
 * matches between [ and ]. */
static void
s_print(const char *what, const json_t *it)
{
	const json_t *sn = json_object_get(it, "snippet"), *part;
	size_t i;

	printf("%-8s %-16s %-10s ", what,
	       json_string_value(
	           json_object_get(it, what[0] == 'p' && what[1] == 'e' ? "handle" : "author"))
	           ?: "",
	       json_string_value(json_object_get(it, "id"))
	           ? json_string_value(json_object_get(it, "id"))
	           : "");
	json_array_foreach (sn, i, part)
		printf(i % 2 ? "[%s]" : "%s", json_string_value(part));
	printf("\n");
}

int
cmd_search(opts_t *o)
{
	char q[SEARCH_MAX_Q + 1] = "", err[1024];
	node_t *n;
	search_t *s = NULL;
	search_q_t sq;
	json_t *out, *it;
	size_t i;
	int rc;

	for (int a = 0; a < o->nargs; a++) {
		size_t l = strlen(q);
		if (l + strlen(o->args[a]) + 2 > sizeof(q)) {
			fprintf(stderr, "comptoir: the search is too long (at most %d bytes)\n",
			        SEARCH_MAX_Q);
			return 2;
		}
		snprintf(q + l, sizeof(q) - l, "%s%s", l ? " " : "", o->args[a]);
	}
	if (q[0] == 0) {
		fprintf(stderr, "comptoir: search needs words: comptoir search WORDS...\n");
		return 2;
	}
	if ((n = cli_open_checked(o, CLI_CHECK_OPEN)) == NULL)
		return 1;
	rc = search_open(&s, node_store(n), o->dir, cli_running_pid(o->dir) ? SEARCH_READONLY : 0,
	                 err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "comptoir: %s\n", err);
		node_close(&n);
		return 1;
	}
	memset(&sq, 0, sizeof(sq));
	sq.q = q;
	sq.site = o->site;
	sq.limit = 20;
	out = search_find(s, &sq, NULL, &rc, err, sizeof(err));
	search_close(&s);
	node_close(&n);
	if (out == NULL) {
		fprintf(stderr, "comptoir: search failed: %s\n", err);
		return rc == CPT_EINVAL ? 2 : 1;
	}
	if (o->json) {
		char *txt = json_dumps(out, JSON_INDENT(2));
		if (txt)
			printf("%s\n", txt);
		free(txt);
	} else {
		json_array_foreach (json_object_get(json_object_get(out, "posts"), "items"), i, it)
			s_print(json_string_value(json_object_get(it, "type")), it);
		json_array_foreach (json_object_get(json_object_get(out, "people"), "items"), i, it)
			s_print("person", it);
	}
	json_decref(out);
	return 0;
}
