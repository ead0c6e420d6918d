/*
 * query — what the API and the CLI show, read from the indexes: the feed,
 * a post with its thread, people and the directory, figures for
 * management. It only reads, in the caller's read transaction, and every
 * answer is a function of the event set. Calls node/index and node/store;
 * called by node/http, node/cli and node/auth.
 */
#ifndef COMPTOIR_QUERY_H
#define COMPTOIR_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "crypto/crypto.h"
#include "node/blob/blob.h"
#include "node/store/store.h"

/* Every function takes a read transaction (store_read_begin) and returns a
 * new reference the caller decrefs, or NULL; nothing borrowed from the
 * transaction outlives it. */

/* ------------------------------------------------------- feed (feed.c) */

/* The feed, newest first, before the cursor (NULL = from the top): up to
 * limit post views; next gets the cursor (80 hex) of the last one when more
 * may follow, else "". Post views (here and from query_post) carry, read
 * now, "author_site" (the author's home site) and "author_name" (their
 * profile's name, or null). An array, empty on a store error. */
json_t *query_feed(store_txn_t *txn, const uint8_t *before40, size_t limit, char next[81]);

/* --------------------------------------------------- threads (thread.c) */

/* Comments a post answer carries, newest first page. */
#define QUERY_COMMENTS_PAGE 50
/* A post view as the API shows it, or NULL (no such post, or not visible).
 * With children: also its newest QUERY_COMMENTS_PAGE comments
 * ("comment_list", oldest first) and "comments_before", the cursor of
 * earlier ones or null. */
json_t *query_post(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], int with_children);
/* The same with children, and "my_reactions": the reactions viewer has on
 * it (GET /api/posts/ID). NULL also on a store error. */
json_t *query_post_for(store_txn_t *txn, const uint8_t id[CPT_ID_LEN],
                       const uint8_t viewer[CPT_KEY_LEN]);
/* A comment as the API shows it ({"id", "post", "author", "author_key",
 * "author_site", "author_name", "text", "created", "edited"}: the text is
 * the newest edit by its author), or NULL when id is not a comment with its
 * body. */
json_t *query_comment(store_txn_t *txn, const uint8_t id[CPT_ID_LEN]);
/* Up to limit comments of post id, oldest first: the newest, or those
 * strictly before the (ts, id) cursor before40. next gets the cursor (80
 * hex) of the oldest listed when earlier comments remain, else "". NULL on
 * a store error. */
json_t *query_comments(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], const uint8_t *before40,
                       size_t limit, char next[81]);
/* The newest visible posts of key, newest first, up to max. */
json_t *query_posts_of(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], size_t max);

/* The same for a reader: a post of a space too, when handle (a person of
 * site) may read it (query_space_readable), with "space" and "space_name";
 * NULL otherwise, as for a post that does not exist (PROTOCOL.md 16.9). */
json_t *query_post_as(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], int with_children,
                      const char *handle, const char *site);
json_t *query_post_for_as(store_txn_t *txn, const uint8_t id[CPT_ID_LEN],
                          const uint8_t viewer[CPT_KEY_LEN], const char *handle, const char *site);
/* A post's view wherever it is, company-wide or in a space, with nobody's
 * access checked: for query_post_as and the checks of the API. */
json_t *query_post_any(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], int with_children);
/* query_post_any(txn, id, 0) and query_comment, lean: of the author only
 * "author" and "author_key" (no "author_site", "author_name",
 * "author_photo", "author_bot": neither the key record nor the profile is
 * read), and no "files" (the body is not opened again). For node/search,
 * whose rows hold none of these but the site, which it reads once per
 * author and batch: the key record parsed again for each post was a tenth
 * of indexing one, the profile a fifth. */
json_t *query_post_lean(store_txn_t *txn, const uint8_t id[CPT_ID_LEN]);
json_t *query_comment_lean(store_txn_t *txn, const uint8_t id[CPT_ID_LEN]);

/* ---------------------------------------------------- spaces (spaces.c) */

/* Spaces as a person (handle, of this site site) sees them; a private space
 * they are neither a member of nor invited to, and another site's space,
 * do not exist for them (NULL, or left out of lists). */

/* 1 when handle may read the content of space: an open space, a private one
 * they are a member of, their site's space. */
int query_space_readable(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const char *handle,
                         const char *site);
/* A space: its state ("name", "description", "visibility", "join",
 * "archived", "members", "pending" (all for its admins, one's own for
 * others), "sites", "creator", "created") with "my_role", "my_pending",
 * "readable" and "member_count"; NULL when it does not exist for them. */
json_t *query_space(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const char *handle,
                    const char *site);
/* The spaces handle sees (their site's first, then by id), whose folded
 * name contains q (NULL: all); mine: only those they are a member of or
 * invited to or asked to join. An array. */
json_t *query_spaces(store_txn_t *txn, const char *handle, const char *site, const char *q,
                     int mine);
/* A space's feed as query_feed pages it; the views carry "space" and
 * "space_name". The caller checked the reader (query_space_readable). */
json_t *query_space_feed(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const char *site,
                         const uint8_t *before40, size_t limit, char next[81]);
/* JSON text being written: the feeds' answers, where each stored view is
 * copied as it is stored and what is read now spliced in (a view parsed and
 * dumped again cost most of a read: docs/BENCHMARKS.md). Zero it to start;
 * query_text_free frees p. */
typedef struct query_text {
	char *p;    /* the bytes, NUL-terminated after each append; malloc'd */
	size_t len; /* bytes written */
	size_t cap; /* bytes allocated */
	int oom;    /* an append failed: the text is incomplete, do not send it */
} query_text_t;
/* Appends n bytes of s (or marks oom). */
void query_text_add(query_text_t *t, const void *s, size_t n);
/* Appends j dumped as http_reply dumps (JSON_COMPACT, any value). */
void query_text_json(query_text_t *t, const json_t *j);
/* Frees the bytes; t can be used again. Safe on a zeroed t. */
void query_text_free(query_text_t *t);

/* The main feed of handle as query_main_feed, appended to out as the JSON
 * text of its array of items, byte for byte what json_dumps(JSON_COMPACT)
 * of query_main_feed's array gives. 0, or CPT_ENOMEM (out->oom). */
int query_main_feed_text(store_txn_t *txn, const char *handle, const char *site,
                         const uint8_t *before40, size_t limit, char next[81],
                         query_text_t *out) CPT_WUR;
/* A space's feed for handle as query_space_feed_as, as text the same way:
 * 0, CPT_ENOTFOUND when they may not read it (nothing appended), or
 * CPT_ENOMEM. */
int query_space_feed_as_text(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const char *handle,
                             const char *site, const uint8_t *before40, size_t limit, char next[81],
                             query_text_t *out) CPT_WUR;
/* The main feed of handle: company-wide posts, their site's space and the
 * spaces they are a member of now, newest first, as query_feed pages it. */
json_t *query_main_feed(store_txn_t *txn, const char *handle, const char *site,
                        const uint8_t *before40, size_t limit, char next[81]);
/* A space's feed for handle (a person of site): as query_space_feed, or
 * NULL when they may not read it (query_space_readable). A member's read
 * parses no state of the space: membership and label come from the list
 * of their spaces (a space's state, its member list, is kilobytes). */
json_t *query_space_feed_as(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const char *handle,
                            const char *site, const uint8_t *before40, size_t limit, char next[81]);
/* The spaces handle is a member of that viewer (of viewer_site) may read:
 * [{"id", "name", "visibility", "role"}]. */
json_t *query_person_spaces(store_txn_t *txn, const char *handle, const char *viewer,
                            const char *viewer_site);
/* Figures of a space: {"posts", "comments", "posts_recent" (made from
 * since_ms up to, not including, until_ms: UINT64_MAX for "until now"),
 * "active_members" (authors of those)}; NULL on a store error. */
json_t *query_space_figures(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], uint64_t since_ms,
                            uint64_t until_ms);

/* ---------------------------------------------------- people (people.c) */

/* A person's profile and identity by handle, or NULL. */
json_t *query_person(store_txn_t *txn, const char *handle);
/* Directory search: a substring of the handle, home site, name, title,
 * department, site, location or a skill, compared folded (query_fold: case
 * and accents do not count). Disabled users are left out. */
json_t *query_people(store_txn_t *txn, const char *q, size_t limit);
/* Folds UTF-8 text for search into out (cap bytes, NUL-terminated): ASCII
 * and the Latin letters of U+00C0..U+017F lose case and accents ("Lefèvre"
 * gives "lefevre", "Æ" "ae"), combining accents (U+0300..U+036F) are
 * dropped, anything else is copied. The result is never longer than s. */
void query_fold(const char *s, char *out, size_t cap);

/* ---------------------------------------- notifications (notify.c) */

/* Every function below that takes mine wants the person's own state, the
 * fold index_mine_state gives (read marks, mutes, preferences). */

/* The preferences of mine, every one with its value or its default:
 * {"digest": "daily", "lang": "en", "email": "", "inapp": {type: bool},
 * "mail": {type: bool}, "spaces": {space hex: "all"|"mentions"|"off"}}. */
json_t *query_prefs(const json_t *mine);
/* Is v a valid value of the preference name ("inapp.<type>", "mail.<type>",
 * "digest", "lang", "email", "space.<id>")? 0, or CPT_EINVAL with why
 * (what the API answers). */
int query_pref_check(const char *name, const json_t *v, char *why, size_t wl) CPT_WUR;

/* What query_notifications lists. */
typedef struct query_notify_opts {
	const uint8_t *before; /* a (latest, group) cursor (40 bytes), or NULL: from the newest */
	size_t limit;          /* page size */
	uint64_t since;        /* only groups whose shown items are newer (ms); 0: all */
	int unread_only;       /* only unread groups */
	int mail;              /* apply the e-mail preferences instead of the in-app ones */
} query_notify_opts_t;
/* The notification groups of handle, newest first: muted ones left out,
 * kinds turned off taken out (a group with none left is left out). {"items":
 * [{"group", "latest" (HLC), "at" (its ms), "unread", "mark": "latest:n" (what a read
 * mark of it must say, as text: query_parse_mark), "types", "names": {handle: profile
 * name or null} of the actors named, "post": {id, author, author_name, text} or
 * null}], "next": cursor or null, "unread": unread groups in the whole list
 * (null when paged with a cursor)}. NULL on a store error. */
json_t *query_notifications(store_txn_t *txn, const json_t *mine, const char *handle,
                            const query_notify_opts_t *o);
/* A mark as the list gives it ("latest:n", decimal): 0, or CPT_EINVAL. */
int query_parse_mark(const char *s, uint64_t *latest, uint64_t *n) CPT_WUR;
/* The bell: how many groups of handle are unread. -1 on a store error. */
long query_unread(store_txn_t *txn, const json_t *mine, const char *handle);
/* Whom user follows now (the newest follow event of each target wins):
 * {"people": [handle], "spaces": [space hex]}. NULL on a store error. */
json_t *query_follows(store_txn_t *txn, const uint8_t user[CPT_KEY_LEN]);
/* The "For you" feed of viewer, newest first, paged as query_feed: their
 * own posts, the posts of the people they follow, and the posts that count
 * in their spaces, their site's space and the spaces they follow and may
 * read (PROTOCOL.md 17.6); each post shown only when viewer may read it.
 * NULL on a store error. */
json_t *query_foryou(store_txn_t *txn, const uint8_t viewer[CPT_KEY_LEN], const uint8_t *before40,
                     size_t limit, char next[81]);
/* The announcements viewer sees, newest first: post views with an
 * "announcement": {"scope", "until", "ts", "read" (viewer acked it), and
 * for the post's author or the announcer "read_by" and "of" (staff of the
 * scope now)}. pinned_only: only those still pinned for viewer (not read,
 * not past their date). NULL on a store error. */
json_t *query_announcements(store_txn_t *txn, const uint8_t viewer[CPT_KEY_LEN], uint64_t now_ms,
                            int pinned_only);
/* May user announce with scope ("site": an admin; "all": an admin of the
 * founding site)? The same rule the views apply (PROTOCOL.md 17.5). */
int query_may_announce(store_txn_t *txn, const uint8_t user[CPT_KEY_LEN], const char *scope);

/* -------------------------------------------------- figures (figures.c) */

/* Figures for management over the last days (1..QUERY_FIGURES_MAX_DAYS)
 * before now_ms: per site (every certified site not revoked, and any other
 * home site of an author of the period), staff (enrolled, not disabled)
 * and, in the period, active staff (who posted, commented or reacted, in a private space too),
 * posts, comments and reactions; "exchange", comments and reactions by
 * staff of one site on posts of another; "weeks", the same per 7-day window
 * ending now, oldest first. A function of the event set. NULL when days is
 * out of range or on a store error. */
#define QUERY_FIGURES_MAX_DAYS 366
json_t *query_figures(store_txn_t *txn, uint64_t now_ms, unsigned days);
/* Figures per space for management (query_figures gives them as "spaces"):
 * a new array, the spaces with most posts first, of {"id", "name" (null
 * when this site cannot open a private space's profile), "visibility",
 * "site" (a site space's site, or null), "archived", "members" (now; a
 * site space: null), "posts", "comments" (on its posts), "posts_recent"
 * (in the last days before now_ms) and "active_members" (their authors)},
 * every space this site knows and every site's space; for every reader:
 * query_figures_spaces_for hides the names a reader may not see. NULL on a
 * store error or a days out of range. */
json_t *query_figures_spaces(store_txn_t *txn, uint64_t now_ms, unsigned days);
/* Hides, in place, in spaces (query_figures_spaces's array), the names of
 * the private spaces handle (a person of site) may not read: counted, not
 * named ("name" null, "hidden" true). handle NULL: every private space's
 * name (a workbook, which travels). */
void query_figures_spaces_for(store_txn_t *txn, json_t *spaces, const char *handle,
                              const char *site);

/* --------------------------------------------------- report (report.c) */

/* The data of the management workbook for the events from from_ms up to
 * (not including) to_ms, at most QUERY_REPORT_MAX_DAYS long: "sites",
 * "exchange" and "weeks" counted by the walk of query_figures (7-day
 * windows ending at to_ms); "previous", the totals of the period of the
 * same length before; "months" ("YYYY-MM", UTC) and "adoption" per site and
 * month; "departments" (from profiles as they are now; "" for none) with
 * their staff, totals and months; "department_exchange"; "questions": posts
 * that ask (a "question" flag or a "?" in the text), how many got a comment
 * from someone else in the period, from another site, from another
 * department, the median delay to that first answer and the counts per
 * site; "spaces", query_figures_spaces's lines with "posts_recent" and
 * "active_members" counted over the period, and no private space named.
 * Names no person. NULL on a bad period or a store error. */
#define QUERY_REPORT_MAX_DAYS 1100
json_t *query_report(store_txn_t *txn, uint64_t from_ms, uint64_t to_ms);

/* ------------------------------------------------------ files (files.c) */

/* The fetch classes of PROTOCOL.md 18.6, in the order to fetch (class 1,
 * "a person is waiting for it now", is the sync side's: on demand). */
enum query_blob_prio {
	QUERY_BLOB_THUMB = 2,      /* thumbnails: what the feed, profile photos (drawn from
	                              their thumbnail) and space covers show */
	QUERY_BLOB_SMALL_FILE = 3, /* other blobs of QUERY_BLOB_SMALL bytes or less */
	QUERY_BLOB_LARGE_FILE = 4, /* larger ones (and sealed ones of unknown size), smallest
	                              first */
};
#define QUERY_BLOB_SMALL (1u << 20)

/* What the events naming a blob say of it, folded (a copy: no pointer
 * into the store). */
typedef struct query_blob {
	uint8_t id[32];              /* the blob id */
	size_t refs;                 /* admitted, unredacted events naming it (>= 1) */
	int is_private;              /* 1: named only by sealed events' "blobs": ciphertext of a
	                                private space, served to browsers only to members */
	int thumb;                   /* 1: every ref names it as a thumbnail */
	uint64_t size;               /* its size as a clear file event gives it; 0 when only
	                                sealed events name it (the manifest says, BMAP) */
	char type[129];              /* its type (PROTOCOL.md 18.2), "" when not known here */
	int prio;                    /* enum query_blob_prio */
	uint64_t newest;             /* the newest naming event's timestamp (HLC) */
	uint8_t event[CPT_ID_LEN];   /* that event's id */
	uint8_t author[CPT_KEY_LEN]; /* the oldest naming event's author: whose home site
	                                first had it ("arrives when the link to X is back") */
} query_blob_t;

/*
 * Is blob id wanted here (PROTOCOL.md 18.5: named by an admitted,
 * unredacted file event, or by the "blobs" of a sealed one)? 0 with *out
 * filled, CPT_ENOTFOUND when nobody wants it (never fetch it, never serve
 * it: answer BNONE erased), or a store error. Reads in txn only; the
 * sync side calls it for each BGET and BMAP_GET it serves and before it
 * writes a fetched chunk.
 */
int query_blob_wanted(store_txn_t *txn, const uint8_t id[32], query_blob_t *out) CPT_WUR;

/* Called with each blob in order; b is the caller's for the call only. A
 * nonzero return stops the walk and is returned. */
typedef int (*query_blob_fn)(void *arg, const query_blob_t *b);
/*
 * The wanted blobs bs does not hold (blob_has), best first (PROTOCOL.md
 * 18.6): thumbnails, then blobs of 1 MiB or less, newest first, then larger
 * ones smallest first; ties by newest event, then id, so that the order is
 * a function of the event set. Blobs larger than fetch_max (0: no cap) are
 * left out (fetched on demand only). fn gets the first max of them. Memory:
 * one query_blob_t per missing blob for the call (about 300 bytes each).
 * 0, fn's return, CPT_ENOMEM or a store error.
 */
int query_blobs_missing(store_txn_t *txn, blob_store_t *bs, uint64_t fetch_max, size_t max,
                        query_blob_fn fn, void *arg) CPT_WUR;

/* A space's cover as views show it (PROTOCOL.md 18.3 "space.cover"):
 * {"thumb", "url"} (the small thumbnail, and the large one or the picture)
 * when file_hex is a picture file event of by's (a handle) that this site
 * reads (a private space's is opened here); NULL otherwise. New reference. */
json_t *query_cover(store_txn_t *txn, const char *file_hex, const char *by);

/* What a reader needs to open a sealed blob (PROTOCOL.md 18.4). */
typedef struct query_sealed_blob {
	uint8_t fkey[32];          /* the file key (the caller wipes it: sodium_memzero) */
	uint8_t part;              /* 0 the file, 1 or 2 a thumbnail */
	uint64_t plain;            /* the plaintext size */
	char type[129];            /* its type: the file's, or image/webp for a thumbnail */
	char name[256];            /* the file's name */
	uint8_t event[CPT_ID_LEN]; /* the sealed event it was found in */
} query_sealed_blob_t;
/*
 * The key of sealed blob id as handle (a person of site) may read it: one
 * sealed file event naming it in its "blobs", opened here, of a space the
 * person may read now (query_space_readable). 0 with *out, CPT_EPERM when
 * no such event (not a member, or this site cannot open any: it holds only
 * ciphertext), or a store error.
 */
int query_blob_sealed_for(store_txn_t *txn, const uint8_t id[32], const char *handle,
                          const char *site, query_sealed_blob_t *out) CPT_WUR;

/* Counts for status and /metrics. */
typedef struct query_blob_counts {
	uint64_t wanted;        /* blobs wanted here */
	uint64_t held;          /* of them, here */
	uint64_t held_bytes;    /* their bytes on disk */
	uint64_t missing;       /* wanted and not here yet */
	uint64_t missing_bytes; /* their sizes, as far as known (sealed ones count 0) */
} query_blob_counts_t;
/* Fills *out from one walk of the refs (bs may be NULL: nothing held). 0
 * or a store error. */
int query_blob_counts(store_txn_t *txn, blob_store_t *bs, query_blob_counts_t *out) CPT_WUR;

/* The file events of a post's or comment's "files" (ids: its array of hex
 * ids, borrowed) as views show them, in order: only file events by author
 * with their body (PROTOCOL.md 18.3), each {"id", "blob", "name", "size",
 * "type", "w", "h" (pictures), "thumbs", "url", "thumb" (pictures: the
 * small thumbnail's URL)}. A new array (empty when none). */
json_t *query_files_view(store_txn_t *txn, const json_t *ids, const uint8_t author[CPT_KEY_LEN]);
/* The URL of a profile photo or space cover: the small thumbnail of file
 * event file_hex when it is a picture by author, else NULL. New reference. */
json_t *query_photo_url(store_txn_t *txn, const char *file_hex, const uint8_t author[CPT_KEY_LEN]);
/*
 * Whether file event file (by author, signed at ts, an HLC timestamp) is
 * used: named by an event of its author signed at or after ts, anywhere in
 * its body (a post's, comment's or edit's "files", a profile's "photo", a
 * space's "cover", a kind this node does not know), a redaction aside. A
 * sealed event this site cannot open counts as naming it (what it holds is
 * not known: the clean-up of unposted uploads must never erase a used file).
 * Only the author's own events count, as only they are shown (PROTOCOL.md
 * 18.3). 1 used, 0 not, or a store error (negative).
 */
int query_file_used(store_txn_t *txn, const uint8_t file[CPT_ID_LEN],
                    const uint8_t author[CPT_KEY_LEN], uint64_t ts) CPT_WUR;

#endif
