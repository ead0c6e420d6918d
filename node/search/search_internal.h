/*
 * Shared by the files of node/search/: search.c (the file, the rows, the
 * writer) and find.c (the searches). Not for other folders.
 */
#ifndef COMPTOIR_SEARCH_INTERNAL_H
#define COMPTOIR_SEARCH_INTERNAL_H

#include <pthread.h>

#include <sqlite3.h>

#include "node/search/search.h"

/* Row types (docs.type). */
enum { SX_POST = 1, SX_COMMENT = 2, SX_PERSON = 3, SX_SPACE = 4 };

/* Rowids: posts and comments at ms << SX_RID_SHIFT (+ a counter), in time
 * order; people and spaces below SX_RID_TIMED. */
#define SX_RID_SHIFT 10
#define SX_RID_TIMED ((int64_t)1 << 40)

#define SX_READERS 4 /* read connections: searches at once */

/* A change heard from the node, queued for the writer thread. */
typedef struct sx_change {
	uint16_t kind;           /* event kind */
	uint8_t id[CPT_ID_LEN];  /* the event */
	uint8_t ref[CPT_ID_LEN]; /* what it refers to */
	int flags;               /* SX_REF, SX_ROW_ONLY (the backlog file's 0 or 1: SX_REF) */
} sx_change_t;
#define SX_REF      1 /* ref is set */
#define SX_ROW_ONLY 2 /* an enrolment's person only: its key's rows are another change's */

/* A file of changes (sx_change_t), appended and read back in order. */
typedef struct sx_file {
	int fd;          /* open, or -1 */
	uint64_t rd, wr; /* its changes not taken yet: bytes [rd, wr) */
} sx_file_t;

/*
 * When a catch-up is quiet: the rule of the quiet time (search.h,
 * SEARCH_QUIET_MS), its clock handed in (ms, any monotonic origin above 0),
 * so that it is tested without waiting (test_search, test_quiet_time).
 * sx_quiet_heard: a catch-up's commit heard at now; a gap between two
 * commits longer than max_ms is another catch-up's start, not a slow
 * commit. sx_quiet_left: how many ms more the catch-up's changes wait at
 * now, 0 when it is quiet (or none was heard): min_ms at least, twice the
 * longest gap heard, at most max_ms. sx_quiet_end: the catch-up's changes
 * have all been taken; its gaps are forgotten, the next one is timed
 * afresh.
 */
typedef struct sx_quiet {
	uint64_t last;   /* when the last catch-up commit was heard (ms), or 0 */
	uint64_t gap;    /* the longest gap between two of them since sx_quiet_end (ms) */
	unsigned min_ms; /* the quiet time, at least */
	unsigned max_ms; /* and at most */
} sx_quiet_t;
void sx_quiet_heard(sx_quiet_t *q, uint64_t now);
uint64_t sx_quiet_left(const sx_quiet_t *q, uint64_t now);
void sx_quiet_end(sx_quiet_t *q);

/* What one LMDB snapshot (a writer's batch, a reconciliation) derives
 * again and again, kept for that snapshot only: an entry counts when its
 * gen is the search's (search.c, s_memo_reset). */
#define SX_SITES 64   /* authors' home sites (direct-mapped by key) */
#define SX_POSTS 256  /* posts' places, for their comments (by id) */
#define SX_DONE  4096 /* ids derived in this batch (open addressing) */
typedef struct sx_site {
	uint32_t gen;             /* valid when the search's gen */
	uint8_t key[CPT_KEY_LEN]; /* the author's key */
	int has;                  /* a site is known */
	char site[CPT_HEX_ID];    /* its "site", hex */
} sx_site_t;
typedef struct sx_post {
	uint32_t gen;           /* valid when the search's gen */
	uint8_t id[CPT_ID_LEN]; /* the post */
	int shown;              /* it has a view here */
	int has_space;          /* it is in a space */
	char space[CPT_HEX_ID]; /* which, hex */
} sx_post_t;
typedef struct sx_done {
	uint32_t gen;           /* taken when the search's gen */
	uint16_t kind;          /* derived as EVT_POST or EVT_COMMENT */
	uint8_t id[CPT_ID_LEN]; /* a post or comment derived in this batch */
} sx_done_t;

struct search {
	store_t *st;               /* the store (not owned) */
	node_t *node;              /* listened to, or NULL */
	char path[4200];           /* dir/search.db */
	int readonly;              /* SEARCH_READONLY */
	int as_is;                 /* SEARCH_AS_IS: the file is not written */
	int current;               /* the file was clean at the store\'s sequence when opened */
	sqlite3 *w;                /* the writer's connection (NULL when read-only) */
	sqlite3_stmt *stmt[16];    /* its prepared statements (search.c) */
	pthread_mutex_t wlock;     /* guards w and st */
	sqlite3 *r[SX_READERS];    /* read connections */
	int r_busy[SX_READERS];    /* in use */
	pthread_mutex_t rlock;     /* guards r_busy */
	pthread_cond_t rcond;      /* a reader came back */
	pthread_t thread;          /* the writer thread */
	int started;               /* thread runs */
	pthread_mutex_t qlock;     /* guards q to q_waits, the backlog, stop, heard, applied */
	pthread_cond_t qcond;      /* changes queued, or stop */
	pthread_cond_t qroom;      /* the writer took changes out: room in q */
	pthread_cond_t acond;      /* the writer applied a batch (applied grew) */
	sx_change_t *q;            /* a ring of changes not taken yet, qcap long */
	size_t qhead, qn, qcap;    /* first, used, slots (the bound / sizeof) */
	size_t q_peak;             /* most slots ever used at once */
	uint64_t q_waits;          /* times a commit waited for room */
	sx_change_t *batch;        /* the writer's batch, SX_BATCH long */
	sx_file_t cu;              /* a catch-up's changes (dir/search.behind): s_defer */
	sx_file_t over;            /* live changes the ring had no room for (dir/search.over) */
	uint64_t spilled;          /* changes ever written to either */
	size_t drain_max;          /* at close: drained when the backlog is this or less */
	int held;                  /* tests: the writer takes nothing (search_hold) */
	int stop;                  /* the thread ends once q is empty */
	uint64_t heard, applied;   /* changes queued, applied */
	int need_recon;            /* writer thread: reconcile after this batch */
	int reconciling;           /* the writer is reconciling the file (qlock) */
	volatile int quit;         /* search_close: a reconciliation under way gives up */
	volatile int failed;       /* a change was lost: not clean at close */
	uint32_t gen;              /* the snapshot the memos below hold (wlock) */
	uint64_t snap_since;       /* when the writer took its snapshot (ms, wlock) */
	sx_site_t sites[SX_SITES]; /* authors' sites in this snapshot */
	sx_post_t posts[SX_POSTS]; /* posts' places in this snapshot */
	sx_done_t *done;           /* SX_DONE slots, or NULL: ids derived in this batch */
	size_t n_done;             /* slots taken in this batch */
	unsigned window_ms;        /* live changes wait this long for others (qlock) */
	size_t window_max;         /* or until this many wait */
	int windowing;             /* the writer waits out a window (qlock) */
	int hurry;                 /* a search waits for the index: the window ends (qlock) */
	/* A catch-up's changes wait in the backlog file (qlock; search.c, s_defer): */
	uint64_t rq_in;    /* changes ever put in the ring (searches wait for these) */
	uint64_t rq_done;  /* of them, taken and applied (the ring is first in first out) */
	uint64_t ov_in;    /* live changes ever put in the overflow file (and these) */
	uint64_t ov_done;  /* of them, taken and applied (the file is first in first out) */
	sx_quiet_t quiet;  /* when the catch-up is quiet */
	uint64_t deferred; /* catch-up changes ever sent to the file */
	int quieting;      /* the writer waits for the catch-up to be quiet */
};

/* Read your writes: waits, at most ms, until the writer has applied every
 * live change heard before the call (a profile saved, then the directory
 * searched): at once, even while a catch-up goes on, since the changes of a
 * catch-up's commits are not waited for (they are in the backlog file,
 * indexed once the catch-up is quiet). No wait while the writer stops.
 * Returns how many changes heard before the call the index still lacks
 * (the backlog file's, those the wait gave up on, plus one during a
 * reconciliation): the answer may miss their rows. *mending (may be NULL)
 * is 1 while the file is being brought up to its store (a start after a
 * crash, or after events were written with the node stopped), when that
 * count says nothing of how much is missing. */
uint64_t sx_wait_fresh(search_t *s, unsigned ms, int *mending);
#define SX_FRESH_MS 1000 /* search_find's wait, at most */

/* Opens path with its own connection. 0 or CPT_EIO with a message. */
int sx_connect(sqlite3 **out, const char *path, int readonly, char *err, size_t errlen);
/* err gets "search index: what: SQLite's message"; returns CPT_EIO. */
int sx_fail(sqlite3 *db, const char *what, char *err, size_t errlen);
/* A read connection for one search (waits for a free one), and its return. */
sqlite3 *sx_reader(search_t *s);
void sx_reader_done(search_t *s, sqlite3 *db);

#endif
