/*
 * The searches: a query turned into an FTS5 expression (folded words,
 * French and English endings stripped, prefixes, phrases), the groups run
 * against the read connections, every hit checked against the store at the
 * moment of the search, and one typo forgiven in people's names.
 */
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "node/index/index.h"
#include "node/query/query.h"
#include "node/search/search_internal.h"

/* ------------------------------------------------------------- language */

static int
s_ends(const char *w, size_t n, const char *suf)
{
	size_t l = strlen(suf);
	return n > l && memcmp(w + n - l, suf, l) == 0;
}

void
search_stem(const char *word, char *out, size_t cap)
{
	size_t n;

	assert(word != NULL && out != NULL && cap > 0);
	query_fold(word, out, cap);
	n = strlen(out);
	/* Plurals of both languages first: "reunions", "travaux", "meetings". */
	if (n >= 5 && s_ends(out, n, "ies"))
		n -= 3;
	else if (n >= 4 && (out[n - 1] == 's' || out[n - 1] == 'x') && out[n - 2] != 's')
		n -= 1;
	/* Then one ending of each: the prefix match does the rest. */
	if (n >= 8 && s_ends(out, n, "ement"))
		n -= 5; /* "rapidement" */
	else if (n >= 7 && s_ends(out, n, "ing"))
		n -= 3; /* "meeting" */
	else if (n >= 6 && (s_ends(out, n, "ed") || s_ends(out, n, "ee")))
		n -= 2; /* "planned", "livree" */
	else if (n >= 5 && out[n - 1] == 'e')
		n -= 1; /* "grande", "equipe" */
	out[n] = 0;
}

/* The letters and digits of w, words split by anything else ("jean-pierre"
 * gives "jean pierre"), into part (cap bytes). 0 when nothing is left. */
static size_t
s_clean(const char *w, char *part, size_t cap)
{
	size_t k = 0;
	int any = 0, sep = 0;

	for (const unsigned char *p = (const unsigned char *)w; *p && k + 4 < cap; p++) {
		if (isalnum(*p) || *p >= 0x80) {
			if (sep && any)
				part[k++] = ' ';
			part[k++] = (char)*p;
			any = 1;
			sep = 0;
		} else {
			sep = 1;
		}
	}
	part[k] = 0;
	return any ? k : 0;
}

/* Appends text to out (*n used of cap). CPT_ETOOBIG when it does not fit. */
static int
s_cat(char *out, size_t cap, size_t *n, const char *text)
{
	size_t l = strlen(text);

	if (*n + l + 1 >= cap)
		return CPT_ETOOBIG;
	memcpy(out + *n, text, l + 1);
	*n += l;
	return 0;
}

/* The endings a stem is tried with: French and English inflections. */
static const char *const s_endings[] = {"",      "s",      "x",   "e",    "es",   "ee",    "ees",
                                        "er",    "ers",    "ed",  "ing",  "ings", "ement", "ements",
                                        "ation", "ations", "ion", "ions", NULL};

/* Expands a folded prefix into an FTS5 expression of the terms it begins
 * (into out, cap bytes): 0, or non-zero to keep it a prefix. */
typedef int (*sx_expand_fn)(void *arg, const char *prefix, char *out, size_t cap);

#define SX_EXPAND_CAP   8192 /* bytes of one prefix's terms */
#define SX_EXPAND_TERMS 100  /* terms a prefix is read as at most; more: FTS5's prefix */

static int sx_expr(const char *q, int prefix, char *out, size_t cap, sx_expand_fn expand,
                   void *arg);

int
search_expr(const char *q, int prefix, char *out, size_t cap)
{
	return sx_expr(q, prefix, out, cap, NULL, NULL);
}

static int
sx_expr(const char *q, int prefix, char *out, size_t cap, sx_expand_fn expand, void *arg)
{
	size_t n = 0;
	const char *p = q;
	char buf[SEARCH_MAX_Q * 2 + 8], f[SEARCH_MAX_Q * 2 + 8], part[SEARCH_MAX_Q * 2 + 8];
	char t[SEARCH_MAX_Q * 6 + 64], *ex = NULL;
	int parts = 0;

	assert(q != NULL && out != NULL && cap > 8);
	out[0] = 0;
	if (strlen(q) > SEARCH_MAX_Q)
		return CPT_EINVAL;
	/* ex: the terms of a prefix, from expand (allocated once needed). */
	while (*p) {
		size_t l;
		int rc = 0, star;
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (*p == 0)
			break;
		if (*p == '"') { /* a phrase: words as they are, folded */
			const char *e = strchr(p + 1, '"');
			l = e ? (size_t)(e - p - 1) : strlen(p + 1);
			memcpy(buf, p + 1, l);
			buf[l] = 0;
			p = e ? e + 1 : p + 1 + l;
			query_fold(buf, f, sizeof(f));
			if (s_clean(f, part, sizeof(part)) == 0)
				continue;
			snprintf(t, sizeof(t), "%s\"%s\"", parts ? " AND " : "", part);
			rc = s_cat(out, cap, &n, t);
		} else {
			l = strcspn(p, " \t\r\n\"");
			memcpy(buf, p, l);
			buf[l] = 0;
			p += l;
			star = l > 1 && buf[l - 1] == '*';
			if (prefix || star) {
				/* A prefix: as typed (folded), no ending taken off. */
				query_fold(buf, f, sizeof(f));
				if (s_clean(f, part, sizeof(part)) == 0)
					continue;
				/* One word: the terms it begins, when the index has
				 * few (expand); else FTS5's prefix. */
				rc = CPT_ENOTFOUND;
				if (expand && !strchr(part, ' ') &&
				    (ex || (ex = malloc(SX_EXPAND_CAP))) &&
				    expand(arg, part, ex, SX_EXPAND_CAP) == 0) {
					size_t n0 = n;
					rc = s_cat(out, cap, &n, parts ? " AND (" : "(");
					if (rc == 0)
						rc = s_cat(out, cap, &n, ex);
					if (rc == 0)
						rc = s_cat(out, cap, &n, ")");
					if (rc != 0) { /* too long for out: the prefix */
						n = n0;
						out[n] = 0;
					}
				}
				if (rc != 0) {
					snprintf(t, sizeof(t), "%s\"%s\"*", parts ? " AND " : "",
					         part);
					rc = s_cat(out, cap, &n, t);
				}
			} else {
				/* A word: its stem with each ending, exact terms that
				 * FTS5 reads lazily (a prefix merges whole doclists). */
				search_stem(buf, f, sizeof(f));
				if (s_clean(f, part, sizeof(part)) == 0)
					continue;
				if (strchr(part, ' ')) { /* "jean-pierre": a phrase */
					snprintf(t, sizeof(t), "%s\"%s\"", parts ? " AND " : "",
					         part);
					rc = s_cat(out, cap, &n, t);
				} else {
					rc = s_cat(out, cap, &n, parts ? " AND (" : "(");
					for (int i = 0; rc == 0 && s_endings[i]; i++) {
						snprintf(t, sizeof(t), "%s\"%s%s\"",
						         i ? " OR " : "", part, s_endings[i]);
						rc = s_cat(out, cap, &n, t);
					}
					/* English doubles a final consonant: cancel, cancelled. */
					if (rc == 0 && strlen(part) >= 3 &&
					    strchr("aeiouy", part[strlen(part) - 1]) == NULL) {
						char last = part[strlen(part) - 1];
						snprintf(t, sizeof(t),
						         " OR \"%s%ced\" OR \"%s%cing\"", part,
						         last, part, last);
						rc = s_cat(out, cap, &n, t);
					}
					if (rc == 0)
						rc = s_cat(out, cap, &n, ")");
				}
			}
		}
		if (rc != 0) {
			free(ex);
			return CPT_EINVAL;
		}
		parts++;
	}
	free(ex);
	return parts ? 0 : CPT_EINVAL;
}

unsigned
search_distance(const char *a, const char *b, unsigned max)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned d[34][34];

	if (la > 32 || lb > 32)
		return max + 1;
	if ((la > lb ? la - lb : lb - la) > max)
		return max + 1;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			unsigned c = a[i - 1] == b[j - 1] ? 0 : 1, m = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < m)
				m = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + c < m)
				m = d[i - 1][j - 1] + c;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < m)
				m = d[i - 2][j - 2] + 1; /* two letters swapped */
			d[i][j] = m;
		}
	return d[la][lb] > max ? max + 1 : d[la][lb];
}

/* ----------------------------------------------------------- visibility */

int
search_may_read(store_txn_t *txn, const json_t *v, const uint8_t *viewer)
{
	const char *post, *sp, *site = index_spaces_site();
	char handle[64] = "";
	uint8_t id[CPT_ID_LEN];
	json_t *p;

	if (v == NULL)
		return 0;
	/* The viewer's handle: a private space's content is read by its
	 * members, as the space's own pages decide it (query_post_as,
	 * query_space_readable); site IT ("") reads what any staff member of
	 * this site may: company-wide, open spaces, this site's space. */
	if (viewer && index_handle_of(txn, viewer, handle) != 0)
		return 0;
	/* A comment is read with its post: none without it. */
	if ((post = json_string_value(json_object_get(v, "post"))) != NULL &&
	    json_object_get(v, "comments") == NULL) {
		if (cpt_unhex32(id, post, strlen(post)) != 0 ||
		    (p = query_post_as(txn, id, 0, handle, site)) == NULL)
			return 0;
		json_decref(p);
		return 1;
	}
	if ((sp = json_string_value(json_object_get(v, "space"))) == NULL)
		return 1;
	return cpt_unhex32(id, sp, strlen(sp)) == 0 && query_space_readable(txn, id, handle, site);
}

/* ------------------------------------------------------------- searching */

/* Splits a snippet with \x02 before and \x03 after each match into
 * ["plain", "match", "plain", ...]: odd places are matches. */
static json_t *
s_snippet(const char *s)
{
	json_t *a = json_array();
	const char *p = s ? s : "";

	for (int hl = 0;; hl = !hl) {
		size_t l = strcspn(p, hl ? "\x03" : "\x02");
		json_array_append_new(a, json_stringn(p, l));
		p += l;
		if (*p == 0)
			break;
		p++;
	}
	return a;
}

/* What one group needs from the query. */
struct group {
	search_t *s;           /* the index */
	const search_q_t *q;   /* the search */
	const uint8_t *viewer; /* who reads */
	const char *expr;      /* the FTS5 expression of posts, or NULL (people: a listing) */
	const char *pexpr;     /* the same for people: every word a prefix */
	store_txn_t *txn;      /* the store now */
	sqlite3 *db;           /* a read connection */
	char handle[64];       /* the viewer's handle, "" for site IT */
	const char *site;      /* this site's name (spaces' access) */
	char *readable;        /* JSON array of the spaces whose content viewer reads */
	char *visible;         /* JSON array of the spaces viewer sees */
};

static void
s_bind_opt(sqlite3_stmt *st, const char *name, const char *v)
{
	int i = sqlite3_bind_parameter_index(st, name);
	if (i > 0)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

/* Rows of a group scanned per page at most (hits the viewer may not read
 * are skipped; a page stops there and says where to go on). */
#define SX_SCAN_MAX 2000
/* "Best match" ranks the newest SX_BEST_WINDOW matches: FTS5 walks rowids
 * (time order) from the newest and stops there, so a word in a tenth of a
 * million posts costs as much as a rare one (docs/ARCHITECTURE.md). */
#define SX_BEST_WINDOW 200

static const char *
s_vstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* ------------------------------------------------------------- snippets */

/* The snippet of a post or comment is cut from the text the store gives
 * (the one shown), with the words the query matches marked by the same
 * rules as search_expr: FTS5's snippet() ran the whole match again for each
 * hit, a tenth of a search's time (docs/BENCHMARKS.md, "Search"). */

#define HL_WORDS 32 /* query words marked at most */
#define HL_SPAN  24 /* tokens in a snippet, as snippet() had */

enum { HL_STEM, HL_PREFIX, HL_EXACT };

struct hl {
	char w[HL_WORDS][64]; /* folded stems, prefixes or words */
	int mode[HL_WORDS];   /* HL_* */
	size_t n;             /* used */
};

static void
s_hl_add(struct hl *hl, const char *part, int mode)
{
	/* "jean pierre": each word of it, exactly. */
	for (const char *p = part; *p && hl->n < HL_WORDS;) {
		size_t l = strcspn(p, " ");
		if (l > 0 && l < sizeof(hl->w[0])) {
			memcpy(hl->w[hl->n], p, l);
			hl->w[hl->n][l] = 0;
			hl->mode[hl->n++] = strchr(part, ' ') && mode == HL_STEM ? HL_EXACT : mode;
		}
		p += l;
		p += strspn(p, " ");
	}
}

/* The words of q as search_expr reads them (prefix: every word a prefix). */
static void
s_hl_words(const char *q, int prefix, struct hl *hl)
{
	char buf[SEARCH_MAX_Q * 2 + 8], f[SEARCH_MAX_Q * 2 + 8], part[SEARCH_MAX_Q * 2 + 8];
	const char *p = q;

	hl->n = 0;
	while (*p && strlen(q) <= SEARCH_MAX_Q) {
		size_t l;
		p += strspn(p, " \t\r\n");
		if (*p == 0)
			break;
		if (*p == '"') {
			const char *e = strchr(p + 1, '"');
			l = e ? (size_t)(e - p - 1) : strlen(p + 1);
			memcpy(buf, p + 1, l);
			buf[l] = 0;
			p = e ? e + 1 : p + 1 + l;
			query_fold(buf, f, sizeof(f));
			if (s_clean(f, part, sizeof(part)))
				s_hl_add(hl, part, HL_EXACT);
			continue;
		}
		l = strcspn(p, " \t\r\n\"");
		memcpy(buf, p, l);
		buf[l] = 0;
		p += l;
		if (prefix || (l > 1 && buf[l - 1] == '*')) {
			query_fold(buf, f, sizeof(f));
			if (s_clean(f, part, sizeof(part)))
				s_hl_add(hl, part, HL_PREFIX);
		} else {
			search_stem(buf, f, sizeof(f));
			if (s_clean(f, part, sizeof(part)))
				s_hl_add(hl, part, HL_STEM);
		}
	}
}

/* Does the folded token t match one of the query's words? */
static int
s_hl_match(const struct hl *hl, const char *t)
{
	for (size_t i = 0; i < hl->n; i++) {
		const char *w = hl->w[i];
		size_t lw = strlen(w);
		if (hl->mode[i] == HL_EXACT) {
			if (strcmp(t, w) == 0)
				return 1;
			continue;
		}
		if (strncmp(t, w, lw) != 0)
			continue;
		if (hl->mode[i] == HL_PREFIX)
			return 1;
		for (int e = 0; s_endings[e]; e++)
			if (strcmp(t + lw, s_endings[e]) == 0)
				return 1;
		/* The doubled final consonant of English, as search_expr. */
		if (lw >= 3 && strchr("aeiouy", w[lw - 1]) == NULL && t[lw] == w[lw - 1] &&
		    (strcmp(t + lw + 1, "ed") == 0 || strcmp(t + lw + 1, "ing") == 0))
			return 1;
	}
	return 0;
}

/* Length of the token character at p (a letter or digit, as the tokenizer
 * sees them closely enough for marking), or 0 for a separator; *len gets
 * the character's bytes. */
static int
s_hl_letter(const unsigned char *p, size_t *len)
{
	unsigned cp;

	if (p[0] < 0x80) {
		*len = 1;
		return isalnum(p[0]) != 0;
	}
	if ((p[0] & 0xe0) == 0xc0 && (p[1] & 0xc0) == 0x80) {
		*len = 2;
		cp = (unsigned)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
		/* Latin-1's signs and spaces, × and ÷, are separators. */
		return !(cp < 0xc0 || cp == 0xd7 || cp == 0xf7);
	}
	if ((p[0] & 0xf0) == 0xe0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
		*len = 3;
		cp = (unsigned)(p[0] & 0x0f) << 12 | (unsigned)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
		/* General punctuation (’ « … – and the spaces) separates. */
		return !(cp >= 0x2000 && cp <= 0x206f) && !(cp >= 0x3000 && cp <= 0x303f);
	}
	if ((p[0] & 0xf8) == 0xf0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 &&
	    (p[3] & 0xc0) == 0x80) {
		*len = 4;
		return 0; /* emoji and other symbols */
	}
	*len = 1; /* not UTF-8: the store never gives it, but never loop on it */
	return 0;
}

/* Appends n bytes at from to the snippet a as a plain or a marked piece:
 * a snippet alternates plain (even places) and matches (odd places), so a
 * piece of the same kind as the last one is joined to it. */
static void
s_hl_piece(json_t *a, const char *from, size_t n, int match)
{
	size_t sz = json_array_size(a);

	if (n == 0)
		return;
	if (sz > 0 && ((sz - 1) % 2 == 1) == (match != 0)) {
		json_t *last = json_array_get(a, sz - 1);
		size_t ll = json_string_length(last);
		char *j = malloc(ll + n);
		if (j == NULL)
			return;
		memcpy(j, json_string_value(last), ll);
		memcpy(j + ll, from, n);
		json_array_set_new(a, sz - 1, json_stringn(j, ll + n));
		free(j);
		return;
	}
	if (sz == 0 && match)
		json_array_append_new(a, json_string(""));
	json_array_append_new(a, json_stringn(from, n));
}

/* The snippet of text for the words of hl: HL_SPAN tokens around the first
 * match, "…" where the text goes on. */
static json_t *
s_text_snippet(const struct hl *hl, const char *text)
{
	const unsigned char *p = (const unsigned char *)(text ? text : "");
	size_t ntok = 0, first = (size_t)-1, start, cut_from, cut_to, len;
	struct {
		size_t a, b;
		int m;
	} tok[512];
	json_t *a = json_array();

	while (*p && ntok < sizeof(tok) / sizeof(tok[0])) {
		const unsigned char *t0;
		char word[128], f[256];
		if (!s_hl_letter(p, &len)) {
			p += len;
			continue;
		}
		t0 = p;
		while (*p && s_hl_letter(p, &len))
			p += len;
		tok[ntok].a = (size_t)(t0 - (const unsigned char *)text);
		tok[ntok].b = (size_t)(p - (const unsigned char *)text);
		tok[ntok].m = 0;
		if ((size_t)(p - t0) < sizeof(word)) {
			memcpy(word, t0, (size_t)(p - t0));
			word[p - t0] = 0;
			query_fold(word, f, sizeof(f));
			tok[ntok].m = s_hl_match(hl, f);
		}
		if (tok[ntok].m && first == (size_t)-1)
			first = ntok;
		ntok++;
		if (first != (size_t)-1 && ntok >= first + HL_SPAN)
			break;
	}
	if (a == NULL || text == NULL || ntok == 0)
		return a ? (json_array_append_new(a, json_string(text ? text : "")), a) : NULL;
	/* From the start when the match is seen there with a few words after
	 * it; else from three words before it. */
	start = first == (size_t)-1 || first + 4 <= HL_SPAN ? 0 : first - 3;
	cut_from = start ? tok[start].a : 0;
	{
		size_t end = start + HL_SPAN < ntok ? start + HL_SPAN : ntok;
		int more = end < ntok || *p;
		cut_to = more ? tok[end - 1].b : strlen(text);
		if (start)
			s_hl_piece(a, "…", strlen("…"), 0);
		for (size_t i = start, at = cut_from; i < end; i++) {
			s_hl_piece(a, text + at, tok[i].a - at, 0);
			s_hl_piece(a, text + tok[i].a, tok[i].b - tok[i].a, tok[i].m);
			at = tok[i].b;
		}
		if (cut_to > tok[end - 1].b)
			s_hl_piece(a, text + tok[end - 1].b, cut_to - tok[end - 1].b, 0);
		if (more)
			s_hl_piece(a, "…", strlen("…"), 0);
	}
	return a;
}

static json_t *
s_posts(struct group *g, int *rc, char *err, size_t errlen)
{
	const search_q_t *q = g->q;
	char sql[1600], filt[600];
	size_t n = 0, scanned = 0;
	sqlite3_stmt *st;
	json_t *items = json_array(), *out;
	int more = 0, r;
	struct hl hl;

	s_hl_words(q->q, 0, &hl);

	/* Rowids are ms << SX_RID_SHIFT: the time bounds are rowid bounds,
	 * which FTS5 itself applies. */
	char bounds[128];
	snprintf(bounds, sizeof(bounds), "%s%s", q->before_ms ? " AND fts.rowid < :before" : "",
	         q->after_ms ? " AND fts.rowid >= :after" : "");
	/* Spaces the viewer may not read are left out by the query itself, so
	 * that a page is not eaten by hits dropped afterwards; each hit is
	 * still checked against the store below. */
	snprintf(filt, sizeof(filt),
	         "d.type IN (%d, %d) AND (d.space IS NULL OR d.space IN"
	         " (SELECT value FROM json_each(:spaces)))%s%s%s",
	         SX_POST, SX_COMMENT, q->site && *q->site ? " AND d.site = :site" : "",
	         q->author && *q->author ? " AND d.author = :author" : "",
	         q->space && *q->space ? " AND d.space = :space" : "");
	/* A phrase is listed newest first even for "best match": BM25 counts,
	 * for each phrase, the rows of the whole index that hold it (its
	 * IDF), reading the position lists of every row of its words: 46 ms
	 * for "de la" at a million posts, whatever the window (BENCHMARKS). */
	if (q->newest || strchr(q->q, '"'))
		snprintf(sql, sizeof(sql),
		         "SELECT d.key, fts.rowid FROM fts JOIN docs d ON d.rid = fts.rowid"
		         " WHERE fts MATCH :expr%s AND %s ORDER BY fts.rowid DESC LIMIT :lim "
		         "OFFSET :off",
		         bounds, filt);
	else
		/* bm25 over the window alone, then the filters: ranking inside
		 * the join cost five times more. */
		snprintf(sql, sizeof(sql),
		         "SELECT d.key, m.r FROM (SELECT fts.rowid AS r, fts.rank AS rk FROM fts"
		         " WHERE fts MATCH :expr%s ORDER BY fts.rowid DESC LIMIT %d) m"
		         " JOIN docs d ON d.rid = m.r WHERE %s ORDER BY m.rk, m.r DESC"
		         " LIMIT :lim OFFSET :off",
		         bounds, SX_BEST_WINDOW, filt);
	if (sqlite3_prepare_v2(g->db, sql, -1, &st, NULL) != SQLITE_OK) {
		*rc = sx_fail(g->db, "preparing a search", err, errlen);
		json_decref(items);
		return NULL;
	}
	sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":expr"), g->expr, -1,
	                  SQLITE_STATIC);
	s_bind_opt(st, ":site", q->site);
	s_bind_opt(st, ":author", q->author);
	s_bind_opt(st, ":space", q->space);
	s_bind_opt(st, ":spaces", g->readable ? g->readable : "[]");
	if (q->before_ms)
		sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":before"),
		                   (sqlite3_int64)(q->before_ms << SX_RID_SHIFT));
	if (q->after_ms)
		sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":after"),
		                   (sqlite3_int64)(q->after_ms << SX_RID_SHIFT));
	sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":lim"), SX_SCAN_MAX);
	sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":off"), (sqlite3_int64)q->offset);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		uint8_t id[CPT_ID_LEN];
		json_t *v;
		if (n == q->limit) {
			more = 1;
			break;
		}
		scanned++;
		if (key == NULL || strlen(key) != 65 || cpt_unhex32(id, key + 1, 64) != 0)
			continue;
		/* The store now, not the index: what was redacted a moment ago
		 * is not shown, whatever the writer thread has done. */
		v = key[0] == 'p' ? query_post_as(g->txn, id, 0, g->handle, g->site)
		                  : query_comment(g->txn, id);
		if (v == NULL || !search_may_read(g->txn, v, g->viewer)) {
			json_decref(v);
			continue;
		}
		json_object_set_new(v, "type", json_string(key[0] == 'p' ? "post" : "comment"));
		json_object_set_new(v, "snippet", s_text_snippet(&hl, s_vstr(v, "text")));
		json_object_del(v, "mentions");
		json_array_append_new(items, v);
		n++;
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE) {
		*rc = sx_fail(g->db, "searching", err, errlen);
		sqlite3_finalize(st);
		json_decref(items);
		return NULL;
	}
	if (r == SQLITE_ROW && scanned == SX_SCAN_MAX)
		more = 1;
	sqlite3_finalize(st);
	out = json_pack("{s:o, s:o}", "items", items, "next",
	                more ? json_integer((json_int_t)(q->offset + scanned)) : json_null());
	return out;
}

/* Adds the people whose name or handle is one typo away from the single
 * word of the query (FTS5 knows no typos; the directory is small). */
static void
s_people_typos(struct group *g, json_t *items, const char *word)
{
	char f[80];
	sqlite3_stmt *st;

	query_fold(word, f, sizeof(f));
	if (strlen(f) < 4 || strlen(f) > 32)
		return;
	if (sqlite3_prepare_v2(g->db, "SELECT key, name FROM docs WHERE type = 3 ORDER BY key", -1,
	                       &st, NULL) != SQLITE_OK)
		return;
	while (sqlite3_step(st) == SQLITE_ROW && json_array_size(items) < g->q->limit) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);
		char tok[80];
		int hit = 0;
		size_t i;
		json_t *it, *p;
		if (key == NULL || name == NULL)
			continue;
		for (const char *n = name; *n && !hit;) {
			size_t l = strcspn(n, " -'.");
			if (l > 0 && l < sizeof(tok)) {
				memcpy(tok, n, l);
				tok[l] = 0;
				hit = search_distance(f, tok, 1) <= 1;
			}
			n += l;
			n += strspn(n, " -'.");
		}
		if (!hit)
			continue;
		json_array_foreach (items, i, it)
			if (strcmp(json_string_value(json_object_get(it, "handle")), key + 1) == 0)
				hit = 0;
		if (hit && (p = query_person(g->txn, key + 1)) != NULL) {
			if (json_is_true(json_object_get(p, "disabled"))) {
				json_decref(p);
				continue;
			}
			json_object_set_new(p, "snippet", json_pack("[s]", ""));
			json_object_set_new(p, "typo", json_true());
			json_array_append_new(items, p);
		}
	}
	sqlite3_finalize(st);
}

static json_t *
s_people(struct group *g, int *rc, char *err, size_t errlen)
{
	const search_q_t *q = g->q;
	char sql[1200], *skill = NULL, *dept = NULL;
	sqlite3_stmt *st;
	json_t *items = json_array();
	size_t n = 0, scanned = 0;
	int more = 0, r;

	snprintf(sql, sizeof(sql),
	         "SELECT d.key, %s FROM docs d%s WHERE d.type = %d%s%s%s%s ORDER BY %s"
	         " LIMIT :lim OFFSET :off",
	         g->expr ? "snippet(pfts, -1, char(2), char(3), '…', 16)" : "NULL",
	         g->expr ? " JOIN pfts ON pfts.rowid = d.rid" : "", SX_PERSON,
	         g->expr ? " AND pfts MATCH :expr" : "",
	         q->site && *q->site ? " AND d.site = :site" : "",
	         q->department && *q->department ? " AND d.dept = :dept" : "",
	         q->skill && *q->skill ? " AND instr(d.skills, :skill) > 0" : "",
	         g->expr ? "pfts.rank, d.key" : "d.key");
	if (sqlite3_prepare_v2(g->db, sql, -1, &st, NULL) != SQLITE_OK) {
		*rc = sx_fail(g->db, "preparing a search", err, errlen);
		json_decref(items);
		return NULL;
	}
	if (g->expr)
		sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":expr"), g->pexpr, -1,
		                  SQLITE_STATIC);
	s_bind_opt(st, ":site", q->site);
	if (q->department && *q->department) {
		size_t l = strlen(q->department) + 1;
		if ((dept = malloc(l)) != NULL)
			query_fold(q->department, dept, l);
		s_bind_opt(st, ":dept", dept ? dept : "");
	}
	if (q->skill && *q->skill) {
		size_t l = strlen(q->skill) + 3;
		char *f = malloc(l);
		if (f && (skill = malloc(l)) != NULL) {
			query_fold(q->skill, f, l);
			snprintf(skill, l, "|%s|", f);
		}
		free(f);
		s_bind_opt(st, ":skill", skill ? skill : "||");
	}
	sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":lim"), SX_SCAN_MAX);
	sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":off"), (sqlite3_int64)q->offset);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		json_t *p;
		if (n == q->limit) {
			more = 1;
			break;
		}
		scanned++;
		if (key == NULL || key[0] != 'u')
			continue;
		p = query_person(g->txn, key + 1);
		if (p == NULL || json_is_true(json_object_get(p, "disabled"))) {
			json_decref(p);
			continue;
		}
		json_object_set_new(p, "snippet",
		                    s_snippet((const char *)sqlite3_column_text(st, 1)));
		json_array_append_new(items, p);
		n++;
	}
	free(skill);
	free(dept);
	if (r != SQLITE_ROW && r != SQLITE_DONE) {
		*rc = sx_fail(g->db, "searching", err, errlen);
		sqlite3_finalize(st);
		json_decref(items);
		return NULL;
	}
	sqlite3_finalize(st);
	/* One word, first page, room left: a name typed with one typo. */
	if (g->expr && q->offset == 0 && !more && strchr(q->q, ' ') == NULL &&
	    strchr(q->q, '"') == NULL && !(q->department && *q->department) &&
	    !(q->skill && *q->skill) && !(q->site && *q->site))
		s_people_typos(g, items, q->q);
	return json_pack("{s:o, s:o}", "items", items, "next",
	                 more ? json_integer((json_int_t)(q->offset + scanned)) : json_null());
}

/* Spaces whose name or description matches, among those the viewer sees
 * (query_spaces: a private space only for its members and invitees), best
 * match first; each read again from the store as the viewer is shown it. */
static json_t *
s_spaces(struct group *g, int *rc, char *err, size_t errlen)
{
	const search_q_t *q = g->q;
	sqlite3_stmt *st;
	json_t *items = json_array();
	size_t n = 0, scanned = 0;
	int more = 0, r;

	if (sqlite3_prepare_v2(g->db,
	                       "SELECT d.key, snippet(pfts, -1, char(2), char(3), '…', 16)"
	                       " FROM docs d JOIN pfts ON pfts.rowid = d.rid WHERE d.type = 4"
	                       " AND pfts MATCH :expr AND d.space IN"
	                       " (SELECT value FROM json_each(:spaces))"
	                       " ORDER BY pfts.rank, d.key LIMIT :lim OFFSET :off",
	                       -1, &st, NULL) != SQLITE_OK) {
		*rc = sx_fail(g->db, "preparing a search", err, errlen);
		json_decref(items);
		return NULL;
	}
	sqlite3_bind_text(st, 1, g->pexpr, -1, SQLITE_STATIC);
	s_bind_opt(st, ":spaces", g->visible ? g->visible : "[]");
	sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":lim"), SX_SCAN_MAX);
	sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":off"), (sqlite3_int64)q->offset);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		uint8_t id[CPT_ID_LEN];
		json_t *sp, *o;
		if (n == q->limit) {
			more = 1;
			break;
		}
		scanned++;
		if (key == NULL || strlen(key) != 65 || cpt_unhex32(id, key + 1, 64) != 0)
			continue;
		if ((sp = query_space(g->txn, id, g->handle, g->site)) == NULL)
			continue;
		o = json_pack(
		    "{s:O, s:O, s:O, s:O, s:O, s:O, s:o}", "id", json_object_get(sp, "id"), "name",
		    json_object_get(sp, "name"), "description", json_object_get(sp, "description"),
		    "visibility", json_object_get(sp, "visibility"), "member_count",
		    json_object_get(sp, "member_count"), "my_role", json_object_get(sp, "my_role"),
		    "snippet", s_snippet((const char *)sqlite3_column_text(st, 1)));
		json_decref(sp);
		if (o) {
			json_array_append_new(items, o);
			n++;
		}
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE) {
		*rc = sx_fail(g->db, "searching", err, errlen);
		sqlite3_finalize(st);
		json_decref(items);
		return NULL;
	}
	sqlite3_finalize(st);
	return json_pack("{s:o, s:o}", "items", items, "next",
	                 more ? json_integer((json_int_t)(q->offset + scanned)) : json_null());
}

#define SX_XEXPR_CAP 65536 /* bytes of an expression with its prefixes read as terms */

/* sx_expand_fn over the index's vocabulary (fts_v): the terms prefix
 * begins, "t1" OR "t2" ..., when there are 1 to SX_EXPAND_TERMS of them
 * and the prefix is longer than the prefix indexes (2 and 3 letters). */
static int
s_expand(void *arg, const char *prefix, char *out, size_t cap)
{
	struct group *g = arg;
	sqlite3_stmt *st;
	char hi[128];
	size_t n = 0, k = 0;
	int r;

	if (strlen(prefix) < 4 || strlen(prefix) + 2 > sizeof(hi))
		return 1;
	snprintf(hi, sizeof(hi), "%s\xff", prefix); /* above every term so begun */
	if (sqlite3_prepare_v2(g->db,
	                       "SELECT term FROM fts_v WHERE term >= ?1 AND term < ?2 LIMIT ?3", -1,
	                       &st, NULL) != SQLITE_OK)
		return 1;
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, SX_EXPAND_TERMS + 1);
	out[0] = 0;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		size_t l = t ? strlen(t) : 0;
		if (++k > SX_EXPAND_TERMS || l == 0 || strchr(t, '"') || n + l + 8 >= cap) {
			r = SQLITE_ERROR;
			break;
		}
		n += (size_t)snprintf(out + n, cap - n, "%s\"%s\"", n ? " OR " : "", t);
	}
	sqlite3_finalize(st);
	return r == SQLITE_DONE && k > 0 ? 0 : 1;
}

/* The spaces the viewer reads the content of (readable) and sees (visible)
 * as JSON arrays of ids, into g. */
static void
s_viewer_spaces(struct group *g)
{
	json_t *all = query_spaces(g->txn, g->handle, g->site, NULL, 0), *sp;
	json_t *rd = json_array(), *vs = json_array();
	size_t i;

	json_array_foreach (all, i, sp) {
		json_t *id = json_object_get(sp, "id");
		json_array_append(vs, id);
		if (json_is_true(json_object_get(sp, "readable")))
			json_array_append(rd, id);
	}
	g->readable = json_dumps(rd, JSON_COMPACT);
	g->visible = json_dumps(vs, JSON_COMPACT);
	json_decref(all);
	json_decref(rd);
	json_decref(vs);
}

json_t *
search_find(search_t *s, const search_q_t *q, const uint8_t *viewer, int *rc, char *err,
            size_t errlen)
{
	char expr[SEARCH_MAX_Q * 48 + 64], pexpr[SEARCH_MAX_Q * 4 + 64], *xexpr = NULL;
	struct group g = {s, q, viewer, NULL, NULL, NULL, NULL, "", NULL, NULL, NULL};
	json_t *out = NULL, *grp;
	uint64_t behind;
	int mending = 0;
	int has_expr;

	assert(s != NULL && q != NULL && rc != NULL);
	*rc = 0;
	err[0] = 0;
	if (q->limit < 1 || q->limit > SEARCH_MAX_LIMIT) {
		*rc = CPT_EINVAL;
		snprintf(err, errlen, "\"limit\" must be from 1 to %d", SEARCH_MAX_LIMIT);
		return NULL;
	}
	has_expr = q->q && *q->q && search_expr(q->q, 0, expr, sizeof(expr)) == 0 &&
	           search_expr(q->q, 1, pexpr, sizeof(pexpr)) == 0;
	if (!has_expr &&
	    (q->type != SEARCH_PEOPLE || (q->q && strspn(q->q, " \t") != strlen(q->q)))) {
		*rc = CPT_EINVAL;
		snprintf(err, errlen,
		         q->q && *q->q ? "\"q\" has no word to search for"
		                       : "\"q\" is missing: say what to search for");
		return NULL;
	}
	g.expr = has_expr ? expr : NULL;
	g.pexpr = has_expr ? pexpr : NULL;
	behind = sx_wait_fresh(s, SX_FRESH_MS, &mending);
	if ((*rc = store_read_begin(s->st, &g.txn)) != 0) {
		snprintf(err, errlen, "search index: cannot read the store");
		return NULL;
	}
	g.site = index_spaces_site();
	if (viewer && index_handle_of(g.txn, viewer, g.handle) != 0) {
		/* Not a person of this store (yet): company-wide content only. */
		snprintf(g.handle, sizeof(g.handle), "%s", "");
		g.viewer = NULL;
	}
	if (q->type != SEARCH_PEOPLE)
		s_viewer_spaces(&g);
	g.db = sx_reader(s);
	/* A word typed as a prefix is read as the terms it begins when the
	 * index has few (a prefix of four letters or more has no prefix index,
	 * and FTS5 merges the whole doclist of every term so begun: hundreds
	 * of ms at a million posts, docs/BENCHMARKS.md). */
	if (has_expr && (q->type == SEARCH_ALL || q->type == SEARCH_POSTS) && strchr(q->q, '*') &&
	    (xexpr = malloc(SX_XEXPR_CAP)) != NULL &&
	    sx_expr(q->q, 0, xexpr, SX_XEXPR_CAP, s_expand, &g) == 0)
		g.expr = xexpr;
	out = json_object();
	if (q->type == SEARCH_ALL || q->type == SEARCH_POSTS) {
		if ((grp = s_posts(&g, rc, err, errlen)) == NULL)
			goto fail;
		json_object_set_new(out, "posts", grp);
	}
	if (q->type == SEARCH_ALL || q->type == SEARCH_PEOPLE) {
		if ((grp = s_people(&g, rc, err, errlen)) == NULL)
			goto fail;
		json_object_set_new(out, "people", grp);
	}
	if (q->type == SEARCH_ALL || q->type == SEARCH_SPACES) {
		if (g.expr == NULL)
			grp = json_pack("{s:[], s:n}", "items", "next");
		else if ((grp = s_spaces(&g, rc, err, errlen)) == NULL)
			goto fail;
		json_object_set_new(out, "spaces", grp);
	}
	/* What the index lacked (a catch-up's changes, indexed after it): the
	 * page may be incomplete, and says so; while the file is brought up to
	 * its store the count is not how much is missing, and the page says
	 * that instead. */
	json_object_set_new(out, "behind", json_integer((json_int_t)behind));
	json_object_set_new(out, "mending", json_boolean(mending));
	sx_reader_done(s, g.db);
	store_read_end(s->st, &g.txn);
	free(g.readable);
	free(g.visible);
	free(xexpr);
	return out;
fail:
	sx_reader_done(s, g.db);
	store_read_end(s->st, &g.txn);
	free(g.readable);
	free(g.visible);
	free(xexpr);
	json_decref(out);
	return NULL;
}
