/*
 * `comptoir token`: the personal API tokens of this site, for site IT — list
 * them (never a secret: the store holds none) and revoke one at once, e.g. a
 * token that leaked. Tokens are made by their person from a session (the
 * seed must be unlocked to be sealed under the token).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/auth/auth.h"
#include "node/cli/cli_internal.h"

int
cmd_token(opts_t *o)
{
	const char *sub = o->nargs > 0 ? o->args[0] : "";
	node_t *n;
	int rc = 1;

	if (!((strcmp(sub, "list") == 0 && o->nargs <= 2) ||
	      (strcmp(sub, "revoke") == 0 && o->nargs == 2))) {
		fprintf(stderr, "usage: comptoir token list [HANDLE]\n"
		                "       comptoir token revoke ID\n"
		                "each takes --dir DIR (default ./var)\n");
		return 2;
	}
	if ((n = cli_open(o)) == NULL)
		return 1;
	if (strcmp(sub, "list") == 0) {
		json_t *all = tok_list(node_store(n), NULL), *v;
		size_t i;
		if (all == NULL) {
			fprintf(stderr, "comptoir: cannot read the tokens: store unavailable\n");
		} else {
			printf("%-16s  %-20s  %-24s  %s\n", "ID", "HANDLE", "NAME", "SCOPES");
			json_array_foreach (all, i, v) {
				const char *h = json_string_value(json_object_get(v, "handle"));
				char *sc = json_dumps(json_object_get(v, "scopes"), JSON_COMPACT);
				if (o->nargs == 2 && (h == NULL || strcmp(h, o->args[1]) != 0)) {
					free(sc);
					continue;
				}
				printf("%-16s  %-20s  %-24s  %s\n",
				       json_string_value(json_object_get(v, "id")), h ? h : "",
				       json_string_value(json_object_get(v, "name")), sc ? sc : "");
				free(sc);
			}
			json_decref(all);
			rc = 0;
		}
	} else {
		int r = tok_revoke(node_store(n), o->args[1], NULL);
		if (r == CPT_ENOTFOUND)
			fprintf(stderr, "comptoir: no such token: %s (comptoir token list)\n",
			        o->args[1]);
		else if (r != 0)
			fprintf(stderr, "comptoir: cannot revoke the token: %s\n",
			        store_strerror(r));
		else {
			printf("token %s revoked\n", o->args[1]);
			rc = 0;
		}
	}
	node_close(&n);
	return rc;
}
