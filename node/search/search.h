/*
 * search — the full-text index of what a person may read (posts, comments,
 * people, spaces and their content), kept in SQLite FTS5 beside the LMDB store
 * (dir/search.db), and the searches over it. The index is a view: every row
 * is derived from the views of node/query, a writer thread follows the
 * group commit through an after-commit listener, and a file not closed
 * cleanly at the store's sequence is reconciled with the store at open
 * (docs/ARCHITECTURE.md, "Search"). Every answer is checked against the
 * store at the moment of the search, so that a redacted or deleted text is
 * never shown. The only module that includes sqlite3.h. Calls node/core and
 * below; called by node/http, node/daemon and node/cli.
 */
#ifndef COMPTOIR_SEARCH_H
#define COMPTOIR_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "crypto/crypto.h"
#include "node/core/core.h"
#include "node/store/store.h"

/* An open index; its functions may be called from any thread. */
typedef struct search search_t;

#define SEARCH_READONLY        1 /* search_open: only search (another process writes it) */
#define SEARCH_REBUILD_AT_OPEN 2 /* search_open: fill it again whole (comptoir reindex) */
#define SEARCH_AS_IS           4 /* search_open: no catch-up, nothing written (verify) */
#define SEARCH_CATCH_UP_LATER                                                                      \
	8 /* search_open: a file not clean is reconciled by the                                    \
	   * writer after search_start (the daemon) */

/*
 * Opens (creating it when missing) the index of data directory dir, whose
 * store st is open, and brings it up to the store: when the file does not
 * say it was closed cleanly at the store's current sequence (a crash, a CLI
 * write, a new file), every row is compared with the store and put right,
 * here, or with SEARCH_CATCH_UP_LATER by the writer thread once started
 * (searches meanwhile find what the file holds; every hit is still read
 * from the store). With SEARCH_READONLY nothing is written (a CLI while
 * the node runs).
 * *out is NULL on failure, with a message naming the file in err. Returns 0,
 * CPT_EIO (SQLite's error) or CPT_ENOMEM. st must outlive the index.
 */
int search_open(search_t **out, store_t *st, const char *dir, int flags, char *err,
                size_t errlen) CPT_WUR;
/*
 * Starts the writer thread and listens to the commits of n (whose store is
 * the index's): the events of each commit are indexed by the thread soon
 * after. Marks the file "not clean" durably first. 0, CPT_EIO, CPT_ENOMEM
 * or CPT_EFULL.
 */
int search_start(search_t *s, node_t *n, char *err, size_t errlen) CPT_WUR;
/* Stops listening and closes. A backlog of SEARCH_DRAIN_MAX changes or
 * fewer is indexed first and the file records the store's sequence (it is
 * clean); a longer one (a stop during a catch-up) is kept in
 * dir/search.behind, made durable, and indexed by the writer after the next
 * start, in the background, instead of holding the stop. Call it once no
 * writer commits any more. Safe on NULL; NULLs the pointer. */
void search_close(search_t **self_p);
/* At close, a backlog this long or shorter is indexed before the file is
 * closed: about 1.5 s of the writer's work. */
#define SEARCH_DRAIN_MAX 20000
/* Sets the longest backlog drained at close (tests: 0) before search_close. */
void search_set_drain_max(search_t *s, size_t changes);
/* Tests: while held is set, the writer thread takes no change (they pile
 * up in the queue and the backlog file); search_close releases it. */
void search_hold(search_t *s, int held);

/* Empties the index and fills it again from the store (comptoir reindex).
 * 0 or an error with a message in err. */
int search_rebuild(search_t *s, char *err, size_t errlen) CPT_WUR;
/* Compares every row with what the store derives now, writing nothing:
 * *docs gets the rows the store derives, *wrong those missing, different or
 * extra in the index. 0 (also when *wrong > 0) or an error. */
int search_verify(search_t *s, size_t *docs, size_t *wrong, char *err, size_t errlen) CPT_WUR;
/* 1 when the file says it was closed cleanly at the store's current
 * sequence: it then holds exactly what the store derives. */
int search_is_current(search_t *s);
/* Changes applied by the writer thread since start, and changes heard. */
void search_counts(search_t *s, uint64_t *heard, uint64_t *applied);
/*
 * Live changes are indexed in windows: the writer, woken by a change, waits
 * up to SEARCH_WINDOW_MS for others (or until SEARCH_WINDOW_MAX wait) and
 * indexes them all in one SQLite transaction, whose cost (FTS5 writes a
 * segment per transaction and merges them; the WAL's pages and checkpoints)
 * is most of a live change's. A change is thus in the index at most
 * SEARCH_WINDOW_MS after its commit, plus the indexing; a search ends the
 * window at once (it waits for every live change committed before it), as
 * does a stop. A backlog does not wait for a window.
 */
#define SEARCH_WINDOW_MS  1000
#define SEARCH_WINDOW_MAX 256
/* Sets the window (0 ms: none) and its count; any time. */
void search_set_window(search_t *s, unsigned ms, size_t max);

/*
 * A catch-up yields (issues 23 and 24): the changes of a catch-up's commits
 * (node_change_t.catchup: a peer's batches taken by reconciliation, not
 * live) go straight to the backlog file below, and the writer takes them
 * only once no catch-up change has been heard for the quiet time: at least
 * SEARCH_QUIET_MS, twice the longest gap between two of the catch-up's
 * commits when that is longer (a loaded machine commits less often), at
 * most SEARCH_QUIET_MAX_MS. Meanwhile it holds no LMDB snapshot and takes
 * no CPU from the verifiers and the store's writer, but live changes are
 * indexed as before (the ring, its windows), and a search waits only for
 * those: it answers from the index and says how many changes it lacks
 * ("behind"). 1 s is twice the store writer's longest gathering of a
 * catch-up's batches (GATHER_MS, node/fed/writer.c): the pause between two
 * commits of one catch-up, so that a heal's one or two commits and a
 * fill's stream are indexed after them and not between them.
 */
#define SEARCH_QUIET_MS     1000
#define SEARCH_QUIET_MAX_MS 10000
/* Sets the quiet time (at least ms, at most max_ms; tests: a long one
 * holds a catch-up's changes, 0 lets them go); any time. */
void search_set_quiet(search_t *s, unsigned ms, unsigned max_ms);

/*
 * The queue between the commits and the writer thread is a ring bounded in
 * bytes. A commit that finds it full writes the rest of its changes to the
 * overflow file (dir/search.over, 72 bytes a change, not synced: a crash
 * leaves the index "not clean", reconciled at open), which the writer reads
 * back with the ring (half of each batch at least while it holds changes):
 * the commit never waits for the index and nothing is dropped. The
 * overflow is live: a catch-up does not hold it back, and a search waits
 * for it as for the ring. Only when the file cannot be written does the
 * commit wait for room in the ring. 1 MiB holds about 14,500 changes,
 * seven batches of the writer.
 */
#define SEARCH_QUEUE_BYTES (1024 * 1024)
/* Sets the bound (tests: a small one) before search_start; at least one
 * change's size. */
void search_set_queue_bytes(search_t *s, size_t bytes);
/* The most bytes the ring ever held, its bound, how many times a commit
 * waited for room (the overflow file could not be written), and how many
 * changes went to the overflow and backlog files. */
void search_queue_stats(search_t *s, size_t *peak_bytes, size_t *bound_bytes, uint64_t *waits,
                        uint64_t *spilled);
/* Changes heard and not yet indexed (the ring, its overflow and the
 * backlog file), plus
 * one while the file is being reconciled with the store (a start after a
 * crash): how far the index is behind the store; 0 when it holds it all. */
uint64_t search_backlog(search_t *s);
/* Of the changes ever heard, how many were a catch-up's, sent to the
 * backlog file to wait for the catch-up's end. */
uint64_t search_deferred(search_t *s);

/* ------------------------------------------------------------- searching */

enum search_type {
	SEARCH_ALL,    /* every group, a page of each */
	SEARCH_POSTS,  /* posts and comments */
	SEARCH_PEOPLE, /* people (the directory) */
	SEARCH_SPACES, /* spaces */
};

#define SEARCH_MAX_Q     200 /* bytes of a query */
#define SEARCH_MAX_LIMIT 100 /* results of one group per page */

/* A search; strings are borrowed for the call, NULL or "" for none. */
typedef struct search_q {
	const char *q;          /* words, "a phrase", prefixes; "" lists (people only) */
	enum search_type type;  /* which groups */
	const char *site;       /* author's home site (key, 64 hex) */
	const char *author;     /* author's handle */
	const char *space;      /* a space id (64 hex) */
	const char *department; /* people: department, compared folded */
	const char *skill;      /* people: one skill, compared folded */
	uint64_t before_ms;     /* only what was written before (0: no bound) */
	uint64_t after_ms;      /* only what was written at or after (0: no bound) */
	int newest;             /* newest first; else best match first */
	size_t limit;           /* results per group, 1..SEARCH_MAX_LIMIT */
	size_t offset;          /* paging: the "next" of the previous page */
} search_q_t;

/*
 * Searches for the person viewer (their key; NULL: site IT at the console,
 * who sees what any staff member may). Returns a new object {"posts":
 * {"items", "next"}, "people": {...}, "spaces": {...}, "behind": N} with
 * the groups the type asks for; "next" is the offset of the following page
 * or null; "behind" the changes the index did not hold yet (a catch-up's,
 * indexed after it: the answer may be incomplete), 0 at rest. Each
 * item is read from the store now and kept only when viewer may read it
 * (search_may_read). NULL with a message in err when q is not a search
 * (CPT_EINVAL in *rc) or on an error.
 */
json_t *search_find(search_t *s, const search_q_t *q, const uint8_t *viewer, int *rc, char *err,
                    size_t errlen);

/* May viewer (NULL: site IT, who reads what any staff member of this site
 * may) read the post or comment whose view is v, in txn? A comment is read
 * with its post; a post of a space when the space's rules let the viewer
 * read it (query_space_readable: open, a member of a private one, their
 * site's space). The one place where visibility is decided for search
 * results. */
int search_may_read(store_txn_t *txn, const json_t *v, const uint8_t *viewer);

/* ------------------------------------------------------------- language */

/* The form of one word as the index matches it, into out (cap bytes): folded
 * (query_fold), then stripped of a French or English ending ("réunions"
 * gives "reunion", "meetings" "meet"); the search then takes it as a
 * prefix. */
void search_stem(const char *word, char *out, size_t cap);
/* The FTS5 expression of a query into out: each word stemmed and tried
 * with the French and English endings (exact terms: FTS5 reads them
 * lazily), or, when prefix is set or the word ends in "*", taken as a
 * prefix; "quoted words" as a phrase; every part required. 0, or
 * CPT_EINVAL when nothing is left to search. */
int search_expr(const char *q, int prefix, char *out, size_t cap) CPT_WUR;
/* Optimal string alignment distance of a and b (ASCII bytes), capped at max+1. */
unsigned search_distance(const char *a, const char *b, unsigned max);

#endif
