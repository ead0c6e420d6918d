/*
 * report — the management workbook (XLSX, libxlsxwriter) written from the
 * data of query_report: Summary with charts, Adoption, Departments,
 * Exchange, Questions, Spaces and Gains with live formulas. xlsx.c reads
 * only that JSON (no store, no session); store.c makes the workbook of a
 * period from a node's store, for the monthly mail. Called by node/http,
 * node/daemon and node/cli.
 */
#ifndef COMPTOIR_REPORT_H
#define COMPTOIR_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "crypto/crypto.h"

/* Writes the workbook of data (query_report's answer, borrowed) to path.
 * site: the site that made it, shown on the Summary. generated_ms: the time
 * written on the Summary and in the file's properties; everything else is a
 * function of data, so two sites with the same events give the same file
 * apart from that time. 0, or CPT_EINVAL (data is not a report) or CPT_EIO
 * (the file could not be written) with a message in err. */
int report_xlsx_write(const json_t *data, const char *site, uint64_t generated_ms, const char *path,
                      char *err, size_t errlen) CPT_WUR;

/* The same into memory: *out (malloc'd, the caller frees) and *len. The
 * file is made under TMPDIR (or /tmp) and removed. */
int report_xlsx(const json_t *data, const char *site, uint64_t generated_ms, uint8_t **out,
                size_t *len, char *err, size_t errlen) CPT_WUR;

/* The workbook of the events from from_ms up to (not including) to_ms in
 * node's store (a node_t *; the name of this site on its Summary), into
 * *out (malloc'd, the caller frees) and *len: a mail_report_fn of
 * node/mail, which the daemon and the CLI give to the monthly report. 0, or
 * -1 with err. */
int report_workbook_of(void *node, uint64_t from_ms, uint64_t to_ms, uint8_t **out, size_t *len,
                       char *err, size_t errlen) CPT_WUR;

/* The sheets of the workbook, in order, NULL-terminated (the tests and the
 * docs list the same). */
extern const char *const report_sheets[];

#endif
