/*
 * `comptoir mail`: the e-mail digests of this site (node/mail) — compose
 * the digests due now into the outbox (the running node delivers them), set
 * a person's address as an admin, and show what waits in the outbox.
 */
#include <stdio.h>
#include <string.h>

#include "node/cli/cli_internal.h"
#include "node/mail/mail.h"

int
cmd_mail(opts_t *o)
{
	const char *sub = o->nargs > 0 ? o->args[0] : "";
	node_t *n;
	int rc = 1;

	if (!((strcmp(sub, "digest") == 0 && o->nargs == 2) ||
	      (strcmp(sub, "email") == 0 && o->nargs == 3) ||
	      (strcmp(sub, "status") == 0 && o->nargs == 1))) {
		fprintf(stderr, "usage: comptoir mail digest daily|weekly|immediate [--force]\n"
		                "       comptoir mail email HANDLE ADDRESS   (\"\" clears it)\n"
		                "       comptoir mail status\n"
		                "each takes --dir DIR (default ./var)\n");
		return 2;
	}
	if (strcmp(sub, "email") == 0 && !event_valid_handle(o->args[1])) {
		fprintf(stderr, "comptoir: \"%s\" is not a valid handle\n", o->args[1]);
		return 2;
	}
	if ((n = cli_open(o)) == NULL)
		return 1;
	if (strcmp(sub, "digest") == 0) {
		size_t queued = 0;
		int r = mail_digest_run(n, o->args[1], hlc_wall_ms(), o->force, &queued);
		if (r == CPT_EINVAL) {
			fprintf(stderr,
			        "comptoir: no such digest \"%s\": daily, weekly or immediate\n",
			        o->args[1]);
			rc = 2;
		} else if (r != 0) {
			fprintf(stderr, "comptoir: cannot compose the digests: %s\n",
			        store_strerror(r));
		} else {
			printf("%zu %s digests queued%s\n", queued, o->args[1],
			       node_cfg(n)->mail.relay[0]
			           ? ""
			           : " (no mail: section in the config: nothing "
			             "will deliver them)");
			rc = 0;
		}
	} else if (strcmp(sub, "email") == 0) {
		int r = mail_set_email(node_store(n), o->args[1], o->args[2]);
		if (r == CPT_EINVAL)
			fprintf(stderr, "comptoir: \"%s\" is not an e-mail address\n", o->args[2]);
		else if (r != 0)
			fprintf(stderr, "comptoir: cannot set the address: %s\n",
			        store_strerror(r));
		else {
			printf("address of \"%s\" %s\n", o->args[1],
			       o->args[2][0] ? "set" : "cleared");
			rc = 0;
		}
	} else {
		json_t *s = mail_outbox_status(node_store(n));
		if (s) {
			json_t *old = json_object_get(s, "oldest_ms");
			printf("waiting: %lld\n",
			       (long long)json_integer_value(json_object_get(s, "waiting")));
			if (json_is_integer(old))
				printf("oldest: %lld s ago\n",
				       (long long)((json_integer_value(old) -
				                    (json_int_t)hlc_wall_ms()) /
				                   -1000));
			printf("most attempts: %lld\n",
			       (long long)json_integer_value(json_object_get(s, "attempts")));
			if (json_is_string(json_object_get(s, "last_error")))
				printf("last error: %s\n",
				       json_string_value(json_object_get(s, "last_error")));
			json_decref(s);
			rc = 0;
		}
	}
	node_close(&n);
	return rc;
}
