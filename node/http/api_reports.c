/*
 * Reports for management: GET /api/reports/workbook.xlsx?from=&to=, the
 * workbook of node/report over the data of query_report. One computation
 * at a time (the figures' lock): a year of events is a long walk.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/http/http_internal.h"
#include "node/report/report.h"

/* A day "YYYY-MM-DD" (UTC) as ms at its start; -1 when it is not one. */
static long long
s_day_ms(const char *s)
{
	struct tm tm = {0};
	char *end;

	if (s == NULL || strlen(s) != 10 || (end = strptime(s, "%Y-%m-%d", &tm)) == NULL || *end)
		return -1;
	return (long long)timegm(&tm) * 1000;
}

int
http_need_figures(http_req_t *r)
{
	store_txn_t *txn;
	json_t *rec;
	const char *role;
	int ok;

	if (!http_need_session(r))
		return 0;
	if (r->sess.admin)
		return 1;
	/* The role as the key record says now: a grant or a withdrawal counts
	 * at the next request, not at the next login. */
	if (!http_read_begin(r, &txn))
		return 0;
	rec = index_key_info(txn, r->sess.key);
	store_read_end(r->h->st, &txn);
	role = json_string_value(json_object_get(rec, "role"));
	ok = role && (strcmp(role, "management") == 0 || strcmp(role, "admin") == 0);
	json_decref(rec);
	if (!ok)
		http_fail(r, 403, "no_figures", NULL, NULL,
		          "the figures are for management: a site admin can give you the role");
	return ok;
}

int
api_report_workbook(http_req_t *r)
{
	const char *from = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "from");
	const char *to = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "to");
	long long from_ms, to_ms;
	uint64_t now = hlc_wall_ms();
	store_txn_t *txn;
	json_t *data;
	uint8_t *xlsx;
	size_t len;
	char err[256], name[96], disp[160];
	int rc;

	if (!http_need_figures(r))
		return 0;
	/* "to" is the last day included; the default is the 30 days to today. */
	to_ms = to ? s_day_ms(to) : (long long)(now / 86400000LL) * 86400000LL;
	if (to_ms < 0)
		return http_error(r, 400, "to", "\"to\" must be a day, YYYY-MM-DD");
	to_ms += 86400000LL;
	from_ms = from ? s_day_ms(from) : to_ms - 30 * 86400000LL;
	if (from_ms < 0)
		return http_error(r, 400, "from", "\"from\" must be a day, YYYY-MM-DD");
	if (from_ms >= to_ms || to_ms - from_ms > QUERY_REPORT_MAX_DAYS * 86400000LL)
		return http_error(r, 400, "from",
		                  "the period must run forwards and last at most %d days",
		                  QUERY_REPORT_MAX_DAYS);
	pthread_mutex_lock(&r->h->fig_lock);
	if (!http_read_begin(r, &txn)) {
		pthread_mutex_unlock(&r->h->fig_lock);
		return 0;
	}
	data = query_report(txn, (uint64_t)from_ms, (uint64_t)to_ms);
	store_read_end(r->h->st, &txn);
	rc = data ? report_xlsx(data, r->h->site, now, &xlsx, &len, err, sizeof(err)) : CPT_EINVAL;
	pthread_mutex_unlock(&r->h->fig_lock);
	json_decref(data);
	if (rc != 0)
		return http_error(r, 500, NULL, "the workbook cannot be made%s%s", data ? ": " : "",
		                  data ? err : "");
	{
		time_t a = (time_t)(from_ms / 1000), z = (time_t)((to_ms - 1) / 1000);
		struct tm ta, tz;
		char da[16], dz[16];
		gmtime_r(&a, &ta);
		gmtime_r(&z, &tz);
		strftime(da, sizeof(da), "%Y-%m-%d", &ta);
		strftime(dz, sizeof(dz), "%Y-%m-%d", &tz);
		snprintf(name, sizeof(name), "comptoir-%s-to-%s.xlsx", da, dz);
	}
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", name);
	{
		const char *hdr[] = {"Content-Disposition", disp, "Cache-Control", "no-store",
		                     NULL};
		http_queue(r, 200,
		           "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		           xlsx, len, MHD_RESPMEM_MUST_COPY, hdr);
	}
	free(xlsx);
	return 0;
}
