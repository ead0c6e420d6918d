/*
 * `comptoir bot`: service accounts for site IT — make one (a key of its own
 * enrolled as a bot, owned by a person of this site who then makes its API
 * tokens from their Settings page) and list them.
 */
#include <stdio.h>
#include <string.h>

#include "node/auth/auth.h"
#include "node/cli/cli_internal.h"

int
cmd_bot(opts_t *o)
{
	const char *sub = o->nargs > 0 ? o->args[0] : "";
	char err[256] = "";
	node_t *n;
	int rc = 1;

	if (!((strcmp(sub, "list") == 0 && o->nargs == 1) ||
	      (strcmp(sub, "add") == 0 && o->nargs == 2 && o->owner))) {
		fprintf(stderr, "usage: comptoir bot add HANDLE --owner HANDLE [--name NAME]\n"
		                "       comptoir bot list\n"
		                "each takes --dir DIR (default ./var)\n");
		return 2;
	}
	if ((n = cli_open(o)) == NULL)
		return 1;
	if (strcmp(sub, "add") == 0) {
		if (users_add_bot(n, o->args[1], o->name, o->owner, err, sizeof(err)) != 0)
			fprintf(stderr, "comptoir: cannot add the bot: %s\n", err);
		else {
			printf("bot %s added, owned by %s: they make its API tokens on their "
			       "Settings page\n",
			       o->args[1], o->owner);
			rc = 0;
		}
	} else {
		json_t *all = users_bots(node_store(n), NULL), *v;
		size_t i;
		if (all == NULL) {
			fprintf(stderr, "comptoir: cannot read the bots: store unavailable\n");
		} else {
			printf("%-20s  %-20s  %s\n", "BOT", "OWNER", "NAME");
			json_array_foreach (all, i, v)
				printf("%-20s  %-20s  %s%s\n",
				       json_string_value(json_object_get(v, "handle")),
				       json_string_value(json_object_get(v, "owner")),
				       json_string_value(json_object_get(v, "name")) ?: "",
				       json_is_true(json_object_get(v, "disabled")) ? " (disabled)"
				                                                    : "");
			json_decref(all);
			rc = 0;
		}
	}
	node_close(&n);
	return rc;
}
