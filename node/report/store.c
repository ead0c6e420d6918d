/*
 * The workbook of a period straight from a node's store: what the monthly
 * report attaches (node/mail calls it through the daemon or the CLI, which
 * hand it over as a mail_report_fn: this module is beside node/mail).
 */
#include <stdio.h>

#include "node/core/core.h"
#include "node/query/query.h"
#include "node/report/report.h"

int
report_workbook_of(void *node, uint64_t from_ms, uint64_t to_ms, uint8_t **out, size_t *len,
                   char *err, size_t errlen)
{
	node_t *n = node;
	store_txn_t *txn;
	json_t *data;
	int rc;

	*out = NULL;
	*len = 0;
	if (store_read_begin(node_store(n), &txn) != 0) {
		snprintf(err, errlen, "the store cannot be read");
		return -1;
	}
	data = query_report(txn, from_ms, to_ms);
	store_read_end(node_store(n), &txn);
	if (data == NULL) {
		snprintf(err, errlen, "the report's data cannot be computed");
		return -1;
	}
	rc = report_xlsx(data, node_cfg(n)->name, hlc_wall_ms(), out, len, err, errlen);
	json_decref(data);
	return rc == 0 ? 0 : -1;
}
