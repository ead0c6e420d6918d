/*
 * `comptoir user`: add, passwd, disable, enable, list — the staff of this
 * site, through node/auth (the admin pages do the same).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "node/cli/cli_internal.h"

static int
s_get_password(const opts_t *o, char pw[ACCT_MAX_PASSWORD + 1], int *generated)
{
	*generated = 0;
	if (o->pwfile)
		return cli_read_password(o->pwfile, pw);
	acct_password_generate(pw);
	*generated = 1;
	return 0;
}

int
cmd_user(opts_t *o)
{
	const char *sub = o->nargs > 0 ? o->args[0] : "";
	const char *handle = o->nargs > 1 ? o->args[1] : NULL;
	char pw[ACCT_MAX_PASSWORD + 1], err[1024];
	node_t *n;
	int rc = 1, generated = 0;

	if (strcmp(sub, "list") != 0 && (handle == NULL || o->nargs != 2)) {
		fprintf(stderr, "usage: comptoir user add HANDLE [--admin] [--name NAME] "
		                "[--password-file FILE]\n"
		                "       comptoir user passwd HANDLE [--password-file FILE]\n"
		                "       comptoir user disable HANDLE\n"
		                "       comptoir user enable HANDLE [--password-file FILE]\n"
		                "       comptoir user list\n"
		                "each takes --dir DIR (default ./var)\n");
		return 2;
	}
	if (handle && !event_valid_handle(handle)) {
		fprintf(stderr,
		        "comptoir: \"%s\" is not a valid handle (a-z, 0-9, . _ -, up to 32)\n",
		        handle);
		return 2;
	}
	if ((strcmp(sub, "add") == 0 || strcmp(sub, "passwd") == 0 || strcmp(sub, "enable") == 0) &&
	    s_get_password(o, pw, &generated) != 0)
		return 1;
	if ((n = cli_open(o)) == NULL)
		return 1;
	if (strcmp(sub, "add") == 0) {
		if (users_add(n, handle, o->admin, o->name, pw, err, sizeof(err)) == 0) {
			printf("user \"%s\" added%s\n", handle, o->admin ? " as admin" : "");
			if (generated)
				printf("password: %s\n", pw);
			rc = 0;
		}
	} else if (strcmp(sub, "passwd") == 0) {
		if (users_reset(n, handle, pw, err, sizeof(err)) == 0) {
			printf("password of \"%s\" reset\n", handle);
			if (generated)
				printf("password: %s\n", pw);
			rc = 0;
		}
	} else if (strcmp(sub, "disable") == 0) {
		if (users_disable(n, handle, err, sizeof(err)) == 0) {
			printf("user \"%s\" disabled\n", handle);
			rc = 0;
		}
	} else if (strcmp(sub, "enable") == 0) {
		if (users_enable(n, handle, pw, err, sizeof(err)) == 0) {
			printf("user \"%s\" enabled with a new key\n", handle);
			if (generated)
				printf("password: %s\n", pw);
			rc = 0;
		}
	} else if (strcmp(sub, "list") == 0) {
		json_t *list = users_list(n, 0), *u;
		size_t i;
		printf("%-20s %-12s %-7s %-9s %s\n", "HANDLE", "SITE", "ROLE", "STATE", "NAME");
		json_array_foreach (list, i, u)
			printf("%-20s %-12s %-7s %-9s %s\n",
			       json_string_value(json_object_get(u, "handle")),
			       json_string_value(json_object_get(u, "site")) ?: "?",
			       json_string_value(json_object_get(u, "role")) ?: "?",
			       json_is_true(json_object_get(u, "disabled")) ? "disabled" : "active",
			       json_string_value(json_object_get(u, "name")) ?: "");
		json_decref(list);
		rc = 0;
	} else {
		fprintf(stderr, "comptoir: unknown user command \"%s\"\n", sub);
		rc = 2;
	}
	if (rc == 1)
		fprintf(stderr, "comptoir: %s\n", err);
	sodium_memzero(pw, sizeof(pw));
	node_close(&n);
	return rc;
}
