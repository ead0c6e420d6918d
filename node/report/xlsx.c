/*
 * The management workbook: one sheet per question management asks (how many
 * use it, where, do sites and departments talk to each other, are questions
 * answered, which spaces live, what is it worth), native charts, and a Gains sheet whose
 * estimate is live formulas over assumptions typed by management.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xlsxwriter.h>

#include "node/report/report.h"

const char *const report_sheets[] = {"Summary",   "Adoption", "Departments", "Exchange",
                                     "Questions", "Spaces",   "Gains",       NULL};

/* The formats, made once per workbook. */
struct fmt {
	lxw_format *title; /* the sheet's title */
	lxw_format *head;  /* table headings */
	lxw_format *pct;   /* a share, 0.0% */
	lxw_format *num;   /* a count, #,##0 */
	lxw_format *dec;   /* hours, #,##0.0 */
	lxw_format *money; /* an amount, #,##0 */
	lxw_format *input; /* an assumption management types: coloured, unlocked */
	lxw_format *note;  /* grey help text */
};

static json_int_t
s_int(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static void
s_day(char out[16], json_int_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 16, "%Y-%m-%d", &tm);
}

/* A department's label: "" is those with none in their profile. */
static const char *
s_dept(const char *d)
{
	return d && *d ? d : "(none)";
}

static void
s_heads(lxw_worksheet *ws, lxw_row_t row, const char *const *heads, struct fmt *fm)
{
	for (lxw_col_t c = 0; heads[c]; c++)
		worksheet_write_string(ws, row, c, heads[c], fm->head);
}

/* One row of a site's or department's totals from its column 1: staff,
 * active, share (a formula), posts, comments, reactions. */
static void
s_totals_row(lxw_worksheet *ws, lxw_row_t row, const json_t *x, struct fmt *fm)
{
	char f[64], a[16], b[16];
	json_int_t staff = s_int(x, "staff"), active = s_int(x, "active");

	worksheet_write_number(ws, row, 1, (double)staff, fm->num);
	worksheet_write_number(ws, row, 2, (double)active, fm->num);
	lxw_rowcol_to_cell(a, row, 2);
	lxw_rowcol_to_cell(b, row, 1);
	snprintf(f, sizeof(f), "=IF(%s>0,%s/%s,0)", b, a, b);
	worksheet_write_formula_num(ws, row, 3, f, fm->pct, staff > 0 ? (double)active / staff : 0);
	worksheet_write_number(ws, row, 4, (double)s_int(x, "posts"), fm->num);
	worksheet_write_number(ws, row, 5, (double)s_int(x, "comments"), fm->num);
	worksheet_write_number(ws, row, 6, (double)s_int(x, "reactions"), fm->num);
}

/* A SUM formula of column col over rows first..last, with its value. */
static void
s_sum(lxw_worksheet *ws, lxw_row_t row, lxw_col_t col, lxw_row_t first, lxw_row_t last,
      double value, lxw_format *f)
{
	char r[32], formula[48];

	if (last < first) {
		worksheet_write_number(ws, row, col, 0, f);
		return;
	}
	lxw_rowcol_to_range(r, first, col, last, col);
	snprintf(formula, sizeof(formula), "=SUM(%s)", r);
	worksheet_write_formula_num(ws, row, col, formula, f, value);
}

/* A table of names by month: rows of arr (name_key), columns months, the
 * value field of each month. Returns the row after it. */
static lxw_row_t
s_month_table(lxw_worksheet *ws, lxw_row_t row, const char *title, const char *name_head,
              const json_t *months, const json_t *arr, const char *name_key, const char *field,
              struct fmt *fm, int dept)
{
	size_t i, m;
	json_t *x, *v;

	worksheet_write_string(ws, row++, 0, title, fm->head);
	worksheet_write_string(ws, row, 0, name_head, fm->head);
	json_array_foreach (months, m, v)
		worksheet_write_string(ws, row, (lxw_col_t)(1 + m), json_string_value(v), fm->head);
	row++;
	json_array_foreach (arr, i, x) {
		const char *name = json_string_value(json_object_get(x, name_key));
		worksheet_write_string(ws, row, 0, dept ? s_dept(name) : name, NULL);
		json_array_foreach (json_object_get(x, "months"), m, v) {
			double n = field ? (double)s_int(v, field)
			                 : (double)(s_int(v, "posts") + s_int(v, "comments") +
			                            s_int(v, "reactions"));
			worksheet_write_number(ws, row, (lxw_col_t)(1 + m), n, fm->num);
		}
		row++;
	}
	return row + 1;
}

struct book {
	lxw_workbook *wb;
	struct fmt fm;
	const json_t *d;
	lxw_row_t adopt_first, adopt_last; /* Adoption: rows of the active-by-month table */
	lxw_row_t adopt_head;              /* its heading row (the months) */
	lxw_worksheet *ws[7];              /* the sheets, in the order of report_sheets */
	lxw_row_t exch_total;              /* Exchange: the row of the cross-site total */
	lxw_col_t exch_col;                /* and its column */
	double exch_cross;                 /* its value */
	double answered;                   /* Questions: answered, for Gains */
	double days;                       /* the period's length */
};

static void
s_adoption(struct book *b)
{
	static const char *const heads[] = {"Site",  "Staff",    "Active",    "Share active",
	                                    "Posts", "Comments", "Reactions", NULL};
	lxw_worksheet *ws = b->ws[1];
	const json_t *sites = json_object_get(b->d, "sites");
	lxw_row_t row = 2, first;
	size_t i;
	json_t *x;
	json_int_t t[7] = {0};

	worksheet_write_string(ws, 0, 0, "Adoption by site", b->fm.title);
	worksheet_set_column(ws, 0, 0, 22, NULL);
	worksheet_set_column(ws, 1, 40, 11, NULL);
	s_heads(ws, row++, heads, &b->fm);
	first = row;
	json_array_foreach (sites, i, x) {
		worksheet_write_string(ws, row, 0, json_string_value(json_object_get(x, "site")),
		                       NULL);
		s_totals_row(ws, row++, x, &b->fm);
		t[1] += s_int(x, "staff");
		t[2] += s_int(x, "active");
		t[4] += s_int(x, "posts");
		t[5] += s_int(x, "comments");
		t[6] += s_int(x, "reactions");
	}
	worksheet_write_string(ws, row, 0, "All sites", b->fm.head);
	for (lxw_col_t c = 1; c <= 6; c++)
		if (c != 3)
			s_sum(ws, row, c, first, row - 1, (double)t[c], b->fm.num);
	{
		char f[64], a[16], s[16];
		lxw_rowcol_to_cell(a, row, 2);
		lxw_rowcol_to_cell(s, row, 1);
		snprintf(f, sizeof(f), "=IF(%s>0,%s/%s,0)", s, a, s);
		worksheet_write_formula_num(ws, row, 3, f, b->fm.pct,
		                            t[1] > 0 ? (double)t[2] / (double)t[1] : 0);
	}
	row += 2;
	b->adopt_head = row + 1;
	b->adopt_first = row + 2;
	row =
	    s_month_table(ws, row, "Active staff by month", "Site", json_object_get(b->d, "months"),
	                  json_object_get(b->d, "adoption"), "site", "active", &b->fm, 0);
	b->adopt_last = row - 2;
	s_month_table(ws, row, "Posts, comments and reactions by month", "Site",
	              json_object_get(b->d, "months"), json_object_get(b->d, "adoption"), "site",
	              NULL, &b->fm, 0);
}

static void
s_departments(struct book *b)
{
	static const char *const heads[] = {"Department", "Staff",    "Active",    "Share active",
	                                    "Posts",      "Comments", "Reactions", NULL};
	lxw_worksheet *ws = b->ws[2];
	const json_t *depts = json_object_get(b->d, "departments");
	lxw_row_t row = 3;
	size_t i;
	json_t *x;

	worksheet_write_string(ws, 0, 0, "Adoption by department", b->fm.title);
	worksheet_write_string(ws, 1, 0,
	                       "The department each person gives in their profile today; "
	                       "(none): no department given.",
	                       b->fm.note);
	worksheet_set_column(ws, 0, 0, 24, NULL);
	worksheet_set_column(ws, 1, 40, 11, NULL);
	s_heads(ws, row++, heads, &b->fm);
	json_array_foreach (depts, i, x) {
		worksheet_write_string(
		    ws, row, 0, s_dept(json_string_value(json_object_get(x, "department"))), NULL);
		s_totals_row(ws, row++, x, &b->fm);
	}
	s_month_table(ws, row + 1, "Active staff by month", "Department",
	              json_object_get(b->d, "months"), depts, "department", "active", &b->fm, 1);
}

/* The names of the rows and columns of a matrix of pairs: every name that
 * is a "from" or a "to", and the extra names given (all sites), sorted and
 * unique. */
static json_t *
s_names(const json_t *pairs, const json_t *extra, const char *extra_key)
{
	json_t *set = json_object(), *out = json_array(), *x;
	const char **v;
	const char *k;
	size_t i, n = 0;

	json_array_foreach (pairs, i, x) {
		json_object_set_new(set, json_string_value(json_object_get(x, "from")),
		                    json_true());
		json_object_set_new(set, json_string_value(json_object_get(x, "to")), json_true());
	}
	json_array_foreach (extra, i, x)
		json_object_set_new(set, json_string_value(json_object_get(x, extra_key)),
		                    json_true());
	v = calloc(json_object_size(set) + 1, sizeof(*v));
	if (v == NULL) {
		json_decref(set);
		return out;
	}
	json_object_foreach (set, k, x)
		v[n++] = k;
	for (i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
			const char *t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	for (i = 0; i < n; i++)
		json_array_append_new(out, json_string(v[i]));
	free(v);
	json_decref(set);
	return out;
}

/* A matrix: rows "from", columns "to", cells comments + reactions, with
 * totals. Returns the row after it; *total_row the row of the totals. */
static lxw_row_t
s_matrix(struct book *b, lxw_worksheet *ws, lxw_row_t row, const char *title, const json_t *pairs,
         const json_t *names, int dept, lxw_row_t *total_row, double *total)
{
	size_t n = json_array_size(names), i, j;
	lxw_row_t first;
	json_t *x;
	double sum = 0;

	worksheet_write_string(ws, row++, 0, title, b->fm.head);
	worksheet_write_string(ws, row, 0, "From \\ on posts of", b->fm.head);
	for (j = 0; j < n; j++)
		worksheet_write_string(ws, row, (lxw_col_t)(1 + j),
		                       dept ? s_dept(json_string_value(json_array_get(names, j)))
		                            : json_string_value(json_array_get(names, j)),
		                       b->fm.head);
	worksheet_write_string(ws, row, (lxw_col_t)(1 + n), "Total", b->fm.head);
	first = ++row;
	for (i = 0; i < n; i++, row++) {
		const char *from = json_string_value(json_array_get(names, i));
		double rsum = 0;
		worksheet_write_string(ws, row, 0, dept ? s_dept(from) : from, NULL);
		for (j = 0; j < n; j++) {
			const char *to = json_string_value(json_array_get(names, j));
			double v = 0;
			size_t k;
			json_array_foreach (pairs, k, x)
				if (strcmp(json_string_value(json_object_get(x, "from")), from) ==
				        0 &&
				    strcmp(json_string_value(json_object_get(x, "to")), to) == 0)
					v = (double)(s_int(x, "comments") + s_int(x, "reactions"));
			if (i == j)
				worksheet_write_string(ws, row, (lxw_col_t)(1 + j), "", NULL);
			else
				worksheet_write_number(ws, row, (lxw_col_t)(1 + j), v, b->fm.num);
			rsum += v;
		}
		if (n) {
			char r[32], f[48];
			lxw_rowcol_to_range(r, row, 1, row, (lxw_col_t)n);
			snprintf(f, sizeof(f), "=SUM(%s)", r);
			worksheet_write_formula_num(ws, row, (lxw_col_t)(1 + n), f, b->fm.num,
			                            rsum);
		}
		sum += rsum;
	}
	worksheet_write_string(ws, row, 0, "Total", b->fm.head);
	for (j = 0; j <= n; j++) {
		double csum = 0;
		size_t k;
		const char *to = j < n ? json_string_value(json_array_get(names, j)) : NULL;
		json_array_foreach (pairs, k, x)
			if (to == NULL ||
			    strcmp(json_string_value(json_object_get(x, "to")), to) == 0)
				csum += (double)(s_int(x, "comments") + s_int(x, "reactions"));
		s_sum(ws, row, (lxw_col_t)(1 + j), first, row - 1, csum, b->fm.num);
	}
	*total_row = row;
	*total = sum;
	return row + 2;
}

static void
s_exchange(struct book *b)
{
	static const char *const heads[] = {"From", "On posts of", "Comments", "Reactions", NULL};
	lxw_worksheet *ws = b->ws[3];
	const json_t *pairs = json_object_get(b->d, "exchange");
	const json_t *dpairs = json_object_get(b->d, "department_exchange");
	json_t *names = s_names(pairs, json_object_get(b->d, "sites"), "site");
	json_t *dnames = s_names(dpairs, json_object_get(b->d, "departments"), "department");
	lxw_row_t row = 3, total_row, dtotal_row, list;
	double dtotal;
	size_t i, n = json_array_size(names);
	json_t *x;
	lxw_chart *chart;

	worksheet_write_string(ws, 0, 0, "Exchange: the walls broken", b->fm.title);
	worksheet_write_string(ws, 1, 0,
	                       "Comments and reactions by staff of one site (department) on posts "
	                       "of another.",
	                       b->fm.note);
	worksheet_set_column(ws, 0, 0, 24, NULL);
	worksheet_set_column(ws, 1, 40, 12, NULL);
	row = s_matrix(b, ws, row, "Between sites", pairs, names, 0, &total_row, &b->exch_cross);
	b->exch_total = total_row;
	b->exch_col = (lxw_col_t)(1 + n);
	row = s_matrix(b, ws, row, "Between departments", dpairs, dnames, 1, &dtotal_row, &dtotal);
	worksheet_write_string(ws, row++, 0, "Between sites, pair by pair", b->fm.head);
	s_heads(ws, row++, heads, &b->fm);
	list = row;
	json_array_foreach (pairs, i, x) {
		worksheet_write_string(ws, row, 0, json_string_value(json_object_get(x, "from")),
		                       NULL);
		worksheet_write_string(ws, row, 1, json_string_value(json_object_get(x, "to")),
		                       NULL);
		worksheet_write_number(ws, row, 2, (double)s_int(x, "comments"), b->fm.num);
		worksheet_write_number(ws, row++, 3, (double)s_int(x, "reactions"), b->fm.num);
	}
	(void)list;
	/* A stacked bar per site: what its staff gave to each other site. */
	if (n > 0 && (chart = workbook_add_chart(b->wb, LXW_CHART_BAR_STACKED)) != NULL) {
		lxw_row_t first = total_row - (lxw_row_t)n;
		for (i = 0; i < n; i++) {
			lxw_chart_series *s = chart_add_series(chart, NULL, NULL);
			chart_series_set_categories(s, "Exchange", first, 0, total_row - 1, 0);
			chart_series_set_values(s, "Exchange", first, (lxw_col_t)(1 + i),
			                        total_row - 1, (lxw_col_t)(1 + i));
			chart_series_set_name_range(s, "Exchange", first - 1, (lxw_col_t)(1 + i));
		}
		chart_title_set_name(chart, "Comments and reactions given to other sites");
		worksheet_insert_chart(ws, 3, (lxw_col_t)(n + 3), chart);
	}
	json_decref(names);
	json_decref(dnames);
}

static void
s_questions(struct book *b)
{
	lxw_worksheet *ws = b->ws[4];
	const json_t *q = json_object_get(b->d, "questions");
	const json_t *median = json_object_get(q, "median_answer_ms");
	lxw_row_t row = 9, first;
	size_t i;
	json_t *x;
	json_int_t asked = s_int(q, "asked"), answered = s_int(q, "answered");

	worksheet_write_string(ws, 0, 0, "Questions asked and answered", b->fm.title);
	worksheet_write_string(ws, 1, 0,
	                       "A question: a post flagged as one in the composer, or with a "
	                       "question mark. Answered: a comment by someone else in the period.",
	                       b->fm.note);
	worksheet_set_column(ws, 0, 0, 44, NULL);
	worksheet_set_column(ws, 1, 3, 12, NULL);
	worksheet_write_string(ws, 3, 0, "Questions asked", NULL);
	worksheet_write_number(ws, 3, 1, (double)asked, b->fm.num);
	worksheet_write_string(ws, 4, 0, "Answered", NULL);
	worksheet_write_number(ws, 4, 1, (double)answered, b->fm.num);
	worksheet_write_string(ws, 5, 0, "Share answered", NULL);
	worksheet_write_formula_num(ws, 5, 1, "=IF(B4>0,B5/B4,0)", b->fm.pct,
	                            asked > 0 ? (double)answered / (double)asked : 0);
	worksheet_write_string(ws, 6, 0, "Median time to a first answer (hours)", NULL);
	if (json_is_integer(median))
		worksheet_write_number(ws, 6, 1, (double)json_integer_value(median) / 3600000.0,
		                       b->fm.dec);
	worksheet_write_string(ws, 7, 0, "Answered from another site", NULL);
	worksheet_write_number(ws, 7, 1, (double)s_int(q, "answered_other_site"), b->fm.num);
	worksheet_write_string(ws, 8, 0, "Answered from another department", NULL);
	worksheet_write_number(ws, 8, 1, (double)s_int(q, "answered_other_department"), b->fm.num);
	row = 10;
	worksheet_write_string(ws, row, 0, "Site", b->fm.head);
	worksheet_write_string(ws, row, 1, "Asked", b->fm.head);
	worksheet_write_string(ws, row, 2, "Answered", b->fm.head);
	worksheet_write_string(ws, row, 3, "Share", b->fm.head);
	first = ++row;
	json_array_foreach (json_object_get(q, "sites"), i, x) {
		char f[64], a[16], s[16];
		json_int_t sa = s_int(x, "asked"), sn = s_int(x, "answered");
		worksheet_write_string(ws, row, 0, json_string_value(json_object_get(x, "site")),
		                       NULL);
		worksheet_write_number(ws, row, 1, (double)sa, b->fm.num);
		worksheet_write_number(ws, row, 2, (double)sn, b->fm.num);
		lxw_rowcol_to_cell(a, row, 2);
		lxw_rowcol_to_cell(s, row, 1);
		snprintf(f, sizeof(f), "=IF(%s>0,%s/%s,0)", s, a, s);
		worksheet_write_formula_num(ws, row++, 3, f, b->fm.pct,
		                            sa > 0 ? (double)sn / (double)sa : 0);
	}
	(void)first;
	b->answered = (double)answered;
}

/* Activity and members per space. A private space is counted, never
 * named: the workbook travels beyond its members. */
static void
s_spaces(struct book *b)
{
	static const char *const heads[] = {"Space",
	                                    "Kind",
	                                    "Members now",
	                                    "Posts in the period",
	                                    "Active members in the period",
	                                    "Posts, all time",
	                                    "Comments on its posts, all time",
	                                    NULL};
	lxw_worksheet *ws = b->ws[5];
	const json_t *spaces = json_object_get(b->d, "spaces");
	lxw_row_t row = 4, first;
	double t[7] = {0};
	size_t i, n = json_array_size(spaces);
	json_t *x;
	lxw_chart *chart;

	worksheet_write_string(ws, 0, 0, "Spaces: activity and members", b->fm.title);
	worksheet_write_string(
	    ws, 1, 0,
	    "Active members: who posted in the space in the period (who wrote, in a private "
	    "one). A private "
	    "space (and a site's space) is counted but not named, and its "
	    "posts are all its messages (posts, comments, reactions, edits): "
	    "they are sealed, and every site counts them alike without "
	    "opening them. A site's space is named by its site.",
	    b->fm.note);
	worksheet_set_column(ws, 0, 0, 30, NULL);
	worksheet_set_column(ws, 1, 1, 10, NULL);
	worksheet_set_column(ws, 2, 6, 15, NULL);
	s_heads(ws, 3, heads, &b->fm);
	first = row;
	json_array_foreach (spaces, i, x) {
		const char *name = json_string_value(json_object_get(x, "name"));
		const char *vis = json_string_value(json_object_get(x, "visibility"));
		const json_t *members = json_object_get(x, "members");
		static const char *const field[] = {"posts_recent", "active_members", "posts",
		                                    "comments"};
		int site = json_is_string(json_object_get(x, "site"));
		worksheet_write_string(ws, row, 0, name ? name : "(a private space)", NULL);
		worksheet_write_string(ws, row, 1, site ? "site" : vis ? vis : "", NULL);
		if (json_is_integer(members)) {
			worksheet_write_number(ws, row, 2, (double)json_integer_value(members),
			                       b->fm.num);
			t[2] += (double)json_integer_value(members);
		}
		for (int k = 0; k < 4; k++) {
			double v = (double)s_int(x, field[k]);
			/* A private space's comments are not told from its posts:
			 * blank, not 0. */
			if (json_is_null(json_object_get(x, field[k])))
				continue;
			worksheet_write_number(ws, row, (lxw_col_t)(3 + k), v, b->fm.num);
			t[3 + k] += v;
		}
		row++;
	}
	worksheet_write_string(ws, row, 0, "All spaces", b->fm.head);
	/* Members and active members are not summed: one person is in many
	 * spaces. */
	s_sum(ws, row, 3, first, row - 1, t[3], b->fm.num);
	s_sum(ws, row, 5, first, row - 1, t[5], b->fm.num);
	s_sum(ws, row, 6, first, row - 1, t[6], b->fm.num);
	/* The period's posts of the busiest spaces (the table's first rows,
	 * most posts first). */
	if (n > 0 && (chart = workbook_add_chart(b->wb, LXW_CHART_BAR)) != NULL) {
		lxw_row_t last = first + (lxw_row_t)(n < 15 ? n : 15) - 1;
		lxw_chart_series *sr = chart_add_series(chart, NULL, NULL);
		chart_series_set_categories(sr, "Spaces", first, 0, last, 0);
		chart_series_set_values(sr, "Spaces", first, 3, last, 3);
		chart_series_set_name_range(sr, "Spaces", 3, 3);
		chart_title_set_name(chart, "Posts in the period, by space");
		chart_legend_set_position(chart, LXW_CHART_LEGEND_NONE);
		worksheet_insert_chart(ws, 3, 8, chart);
	}
}

/* The assumptions, then the estimate as formulas over them and over the
 * other sheets' cells: LibreOffice or Excel recompute it when management
 * changes an assumption. The cached values are those of the defaults. */
static void
s_gains(struct book *b)
{
	lxw_worksheet *ws = b->ws[6];
	char f[160], cell[16];
	const double min_q = 20, min_x = 5, cost = 40;
	double hours, gain;

	worksheet_write_string(ws, 0, 0, "Estimated gains", b->fm.title);
	worksheet_write_string(ws, 1, 0,
	                       "Type your own assumptions in the coloured cells: the estimate "
	                       "below is recomputed from them.",
	                       b->fm.note);
	worksheet_set_column(ws, 0, 0, 52, NULL);
	worksheet_set_column(ws, 1, 1, 14, NULL);
	worksheet_write_string(ws, 3, 0, "Assumptions", b->fm.head);
	worksheet_write_string(ws, 4, 0, "Minutes saved per answered question", NULL);
	worksheet_write_number(ws, 4, 1, min_q, b->fm.input);
	worksheet_write_string(ws, 5, 0, "Minutes saved per exchange between sites", NULL);
	worksheet_write_number(ws, 5, 1, min_x, b->fm.input);
	worksheet_write_string(ws, 6, 0, "Hourly cost of staff time", NULL);
	worksheet_write_number(ws, 6, 1, cost, b->fm.input);
	worksheet_write_string(ws, 8, 0, "From the figures of the period", b->fm.head);
	worksheet_write_string(ws, 9, 0, "Questions answered", NULL);
	worksheet_write_formula_num(ws, 9, 1, "=Questions!B5", b->fm.num, b->answered);
	worksheet_write_string(ws, 10, 0, "Exchanges between sites (comments and reactions)", NULL);
	lxw_rowcol_to_cell(cell, b->exch_total, b->exch_col);
	snprintf(f, sizeof(f), "=Exchange!%s", cell);
	worksheet_write_formula_num(ws, 10, 1, f, b->fm.num, b->exch_cross);
	worksheet_write_string(ws, 11, 0, "Days in the period", NULL);
	worksheet_write_number(ws, 11, 1, b->days, b->fm.num);
	worksheet_write_string(ws, 13, 0, "Estimate", b->fm.head);
	hours = (b->answered * min_q + b->exch_cross * min_x) / 60.0;
	gain = hours * cost;
	worksheet_write_string(ws, 14, 0, "Hours saved in the period", NULL);
	worksheet_write_formula_num(ws, 14, 1, "=(B10*B5+B11*B6)/60", b->fm.dec, hours);
	worksheet_write_string(ws, 15, 0, "Gain in the period", NULL);
	worksheet_write_formula_num(ws, 15, 1, "=B15*B7", b->fm.money, gain);
	worksheet_write_string(ws, 16, 0, "Gain over a year at this pace", NULL);
	worksheet_write_formula_num(ws, 16, 1, "=IF(B12>0,B16*365/B12,0)", b->fm.money,
	                            b->days > 0 ? gain * 365 / b->days : 0);
}

static void
s_summary(struct book *b, const char *site, uint64_t generated_ms)
{
	static const char *const heads[] = {"", "This period", "Previous period", "Trend", NULL};
	static const char *const what[] = {"posts", "comments", "reactions"};
	static const char *const label[] = {"Posts", "Comments", "Reactions"};
	lxw_worksheet *ws = b->ws[0];
	const json_t *d = b->d, *prev = json_object_get(d, "previous");
	const json_t *sites = json_object_get(d, "sites"), *weeks = json_object_get(d, "weeks");
	char a[16], z[16], line[160], f[96];
	json_int_t t[4] = {0}, staff = 0, active = 0;
	size_t i, nweeks = json_array_size(weeks), nsites = json_array_size(sites);
	size_t nmonths = json_array_size(json_object_get(d, "months"));
	lxw_row_t row, wfirst;
	json_t *x;
	lxw_chart *chart;

	json_array_foreach (sites, i, x) {
		staff += s_int(x, "staff");
		active += s_int(x, "active");
		for (int k = 0; k < 3; k++)
			t[k] += s_int(x, what[k]);
	}
	worksheet_set_column(ws, 0, 0, 34, NULL);
	worksheet_set_column(ws, 1, 4, 16, NULL);
	worksheet_write_string(ws, 0, 0, "Comptoir: figures for management", b->fm.title);
	s_day(a, s_int(d, "from"));
	s_day(z, s_int(d, "to") - 1);
	snprintf(line, sizeof(line), "Period: %s to %s (UTC), %.0f days", a, z, b->days);
	worksheet_write_string(ws, 1, 0, line, NULL);
	{
		time_t g = (time_t)(generated_ms / 1000);
		struct tm tm;
		char when[32];
		gmtime_r(&g, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
		snprintf(line, sizeof(line), "Made by site %s on %s, from the events it holds.",
		         site, when);
	}
	worksheet_write_string(ws, 2, 0, line, b->fm.note);
	worksheet_write_string(ws, 3, 0, "Aggregated figures: no person is named in this workbook.",
	                       b->fm.note);
	s_heads(ws, 5, heads, &b->fm);
	worksheet_write_string(ws, 6, 0, "Sites", NULL);
	worksheet_write_number(ws, 6, 1, (double)nsites, b->fm.num);
	worksheet_write_string(ws, 7, 0, "Staff", NULL);
	worksheet_write_number(ws, 7, 1, (double)staff, b->fm.num);
	worksheet_write_string(ws, 8, 0, "Active staff", NULL);
	worksheet_write_number(ws, 8, 1, (double)active, b->fm.num);
	worksheet_write_number(ws, 8, 2, (double)s_int(prev, "active"), b->fm.num);
	worksheet_write_string(ws, 9, 0, "Share active", NULL);
	worksheet_write_formula_num(ws, 9, 1, "=IF(B8>0,B9/B8,0)", b->fm.pct,
	                            staff > 0 ? (double)active / (double)staff : 0);
	for (int k = 0; k < 3; k++) {
		worksheet_write_string(ws, (lxw_row_t)(10 + k), 0, label[k], NULL);
		worksheet_write_number(ws, (lxw_row_t)(10 + k), 1, (double)t[k], b->fm.num);
		worksheet_write_number(ws, (lxw_row_t)(10 + k), 2, (double)s_int(prev, what[k]),
		                       b->fm.num);
	}
	worksheet_write_string(ws, 13, 0, "Exchanges between sites", NULL);
	lxw_rowcol_to_cell(a, b->exch_total, b->exch_col);
	snprintf(f, sizeof(f), "=Exchange!%s", a);
	worksheet_write_formula_num(ws, 13, 1, f, b->fm.num, b->exch_cross);
	/* The trend: this period against the previous one of the same length. */
	for (lxw_row_t r = 8; r <= 12; r++) {
		double cur, was;
		if (r == 9)
			continue;
		cur = r == 8 ? (double)active : (double)t[r - 10];
		was = r == 8 ? (double)s_int(prev, "active") : (double)s_int(prev, what[r - 10]);
		snprintf(f, sizeof(f), "=IF(C%u>0,B%u/C%u-1,\"\")", r + 1, r + 1, r + 1);
		if (was > 0)
			worksheet_write_formula_num(ws, r, 3, f, b->fm.pct, cur / was - 1);
		else
			worksheet_write_formula_str(ws, r, 3, f, b->fm.pct, "");
	}
	/* Activity by week, the chart's data. */
	row = 16;
	worksheet_write_string(ws, row++, 0, "Activity by week", b->fm.head);
	{
		static const char *const wh[] = {"Week from", "Active",    "Posts",
		                                 "Comments",  "Reactions", NULL};
		s_heads(ws, row++, wh, &b->fm);
	}
	wfirst = row;
	json_array_foreach (weeks, i, x) {
		char day[16];
		s_day(day, s_int(x, "start"));
		worksheet_write_string(ws, row, 0, day, NULL);
		worksheet_write_number(ws, row, 1, (double)s_int(x, "active"), b->fm.num);
		for (int k = 0; k < 3; k++)
			worksheet_write_number(ws, row, (lxw_col_t)(2 + k),
			                       (double)s_int(x, what[k]), b->fm.num);
		row++;
	}
	/* Adoption by month per site: a line per site, from the Adoption sheet. */
	if (nsites && nmonths && (chart = workbook_add_chart(b->wb, LXW_CHART_LINE)) != NULL) {
		for (lxw_row_t r = b->adopt_first; r <= b->adopt_last; r++) {
			lxw_chart_series *s = chart_add_series(chart, NULL, NULL);
			chart_series_set_categories(s, "Adoption", b->adopt_head, 1, b->adopt_head,
			                            (lxw_col_t)nmonths);
			chart_series_set_values(s, "Adoption", r, 1, r, (lxw_col_t)nmonths);
			chart_series_set_name_range(s, "Adoption", r, 0);
		}
		chart_title_set_name(chart, "Active staff by month, per site");
		worksheet_insert_chart(ws, 1, 6, chart);
	}
	if (nweeks && (chart = workbook_add_chart(b->wb, LXW_CHART_COLUMN_STACKED)) != NULL) {
		for (int k = 0; k < 3; k++) {
			lxw_chart_series *s = chart_add_series(chart, NULL, NULL);
			chart_series_set_categories(s, "Summary", wfirst, 0, row - 1, 0);
			chart_series_set_values(s, "Summary", wfirst, (lxw_col_t)(2 + k), row - 1,
			                        (lxw_col_t)(2 + k));
			chart_series_set_name_range(s, "Summary", wfirst - 1, (lxw_col_t)(2 + k));
		}
		chart_title_set_name(chart, "Activity by week");
		worksheet_insert_chart(ws, 17, 6, chart);
	}
}

int
report_xlsx_write(const json_t *data, const char *site, uint64_t generated_ms, const char *path,
                  char *err, size_t errlen)
{
	struct book b = {.d = data};
	lxw_doc_properties props = {.title = "Comptoir: figures for management",
	                            .created = (time_t)(generated_ms / 1000)};
	lxw_error rc;

	if (!json_is_object(data) || !json_is_array(json_object_get(data, "sites")) ||
	    !json_is_array(json_object_get(data, "months"))) {
		snprintf(err, errlen, "the report's data is incomplete");
		return CPT_EINVAL;
	}
	b.days = (double)(s_int(data, "to") - s_int(data, "from")) / 86400000.0;
	if ((b.wb = workbook_new(path)) == NULL) {
		snprintf(err, errlen, "%s cannot be created: %s", path, strerror(errno));
		return CPT_EIO;
	}
	workbook_set_properties(b.wb, &props);
	b.fm.title = workbook_add_format(b.wb);
	format_set_bold(b.fm.title);
	format_set_font_size(b.fm.title, 14);
	b.fm.head = workbook_add_format(b.wb);
	format_set_bold(b.fm.head);
	format_set_bottom(b.fm.head, LXW_BORDER_THIN);
	b.fm.pct = workbook_add_format(b.wb);
	format_set_num_format(b.fm.pct, "0.0%");
	b.fm.num = workbook_add_format(b.wb);
	format_set_num_format(b.fm.num, "#,##0");
	b.fm.dec = workbook_add_format(b.wb);
	format_set_num_format(b.fm.dec, "#,##0.0");
	b.fm.money = workbook_add_format(b.wb);
	format_set_num_format(b.fm.money, "#,##0");
	b.fm.input = workbook_add_format(b.wb);
	format_set_bg_color(b.fm.input, 0xFFF2CC);
	format_set_border(b.fm.input, LXW_BORDER_THIN);
	format_set_unlocked(b.fm.input);
	b.fm.note = workbook_add_format(b.wb);
	format_set_italic(b.fm.note);
	format_set_font_color(b.fm.note, 0x666666);
	for (int i = 0; report_sheets[i]; i++)
		b.ws[i] = workbook_add_worksheet(b.wb, report_sheets[i]);
	s_adoption(&b);
	s_departments(&b);
	s_exchange(&b);
	s_questions(&b);
	s_spaces(&b);
	s_gains(&b);
	s_summary(&b, site, generated_ms);
	if ((rc = workbook_close(b.wb)) != LXW_NO_ERROR) {
		snprintf(err, errlen, "%s cannot be written: %s", path, lxw_strerror(rc));
		return CPT_EIO;
	}
	return 0;
}

int
report_xlsx(const json_t *data, const char *site, uint64_t generated_ms, uint8_t **out, size_t *len,
            char *err, size_t errlen)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	FILE *f;
	int fd, rc;
	long n;

	*out = NULL;
	*len = 0;
	snprintf(path, sizeof(path), "%s/comptoir-report-XXXXXX", dir && *dir ? dir : "/tmp");
	if ((fd = mkstemp(path)) < 0) {
		snprintf(err, errlen, "a temporary file cannot be made in %s: %s",
		         dir && *dir ? dir : "/tmp", strerror(errno));
		return CPT_EIO;
	}
	close(fd);
	if ((rc = report_xlsx_write(data, site, generated_ms, path, err, errlen)) != 0) {
		unlink(path);
		return rc;
	}
	rc = CPT_EIO;
	if ((f = fopen(path, "rb")) != NULL && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (*out = malloc((size_t)n)) != NULL &&
	    fread(*out, 1, (size_t)n, f) == (size_t)n) {
		*len = (size_t)n;
		rc = 0;
	} else {
		snprintf(err, errlen, "%s cannot be read back", path);
		free(*out);
		*out = NULL;
	}
	if (f)
		fclose(f);
	unlink(path);
	return rc;
}
