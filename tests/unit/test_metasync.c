/*
 * How the group commit syncs (node/core/core.c, store_write_flags): a
 * transaction made only of peers' events syncs its data pages and writes
 * its meta page without syncing it; any other is synced whole. Counted on
 * the system calls LMDB itself makes on the store's data.mdb: this test
 * defines fdatasync and pwrite, which liblmdb (a shared library) then calls
 * instead of libc's, and passes each on to libc's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "tests/unit/node_util.h"

/* ------------------------------------------------ the counted calls */

static atomic_int s_datasyncs;   /* fdatasync of data.mdb */
static atomic_int s_meta_synced; /* meta page writes through an O_DSYNC descriptor */
static atomic_int s_meta_lazy;   /* meta page writes through a plain one */
static atomic_int s_hold;        /* fdatasync of data.mdb waits while set */
static atomic_int s_held;        /* one is waiting */

/* The descriptor is the store's data file. */
static int
s_is_data(int fd)
{
	char link[64], path[4096];
	ssize_t k;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((k = readlink(link, path, sizeof(path) - 1)) <= 0)
		return 0;
	path[k] = 0;
	return k >= 15 && strcmp(path + k - 15, "/store/data.mdb") == 0;
}

static void
s_reset(void)
{
	atomic_store(&s_datasyncs, 0);
	atomic_store(&s_meta_synced, 0);
	atomic_store(&s_meta_lazy, 0);
}

int
fdatasync(int fd)
{
	static int (*real)(int);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "fdatasync");
	if (s_is_data(fd)) {
		atomic_fetch_add(&s_datasyncs, 1);
		if (atomic_load(&s_hold)) {
			atomic_store(&s_held, 1);
			while (atomic_load(&s_hold))
				usleep(1000);
		}
	}
	return real(fd);
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "pwrite");
	/* LMDB's two meta pages are the file's first two pages; a commit's
	 * data pages never are. */
	if (off < 2 * sysconf(_SC_PAGESIZE) && s_is_data(fd)) {
		if (fcntl(fd, F_GETFL) & O_DSYNC)
			atomic_fetch_add(&s_meta_synced, 1);
		else
			atomic_fetch_add(&s_meta_lazy, 1);
	}
	return real(fd, buf, n, off);
}

/* ---------------------------------------------------------- helpers */

struct fixture {
	char dir[64];        /* the node's temporary directory */
	node_t *n;           /* a real node */
	key_sign_t *user;    /* enrolled there */
	uint8_t env[4][512]; /* posts by user, not stored yet */
	size_t len[4];       /* their lengths */
};

static void
s_setup(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->n = tu_node(f->dir, "meta");
	f->user = key_sign_new();
	assert_non_null(f->user);
	tu_enrol(f->n, f->user, "meta1");
	for (int i = 0; i < 4; i++) {
		char body[64];
		snprintf(body, sizeof(body), "{\"text\":\"post %d\"}", i);
		f->len[i] = tu_sign(f->n, f->user, EVT_POST, body, hlc_wall_ms() + (uint64_t)i,
		                    f->env[i], sizeof(f->env[i]));
	}
	s_reset();
}

static void
s_teardown(struct fixture *f)
{
	node_close(&f->n);
	key_sign_destroy(&f->user);
	tu_rm(f->dir);
}

/* Stores post i as a peer's (through the call the federation's writer
 * makes, node_submit_verified, signatures left to the store as for a
 * batch the writer checks itself) or as a local one (node_submit). */
static void
s_store(struct fixture *f, int i, int from_peer)
{
	const uint8_t *b = f->env[i];
	uint8_t ok = 0;
	ingest_res_t res;

	if (from_peer)
		assert_int_equal(node_submit_verified(f->n, &b, &f->len[i], 1, &ok, NULL, &res), 0);
	else
		assert_int_equal(node_submit(f->n, &b, &f->len[i], 1, &res), 0);
	assert_int_equal(res.rc, 0);
}

/* ------------------------------------------------------------ tests */

/* A commit of peers' events alone: its data pages are synced, its meta page
 * only written. A local event's commit: both synced. Before this change
 * (store_write with LMDB's default) the peers' commit wrote its meta page
 * through the O_DSYNC descriptor too: meta_synced 1, meta_lazy 0. */
static void
test_peers_commit_one_sync(void **state)
{
	struct fixture f;

	(void)state;
	s_setup(&f);
	/* Meant as a check of the counting itself: it sees LMDB's calls. */
	s_store(&f, 0, 0);
	assert_int_equal(atomic_load(&s_datasyncs), 1);
	assert_int_equal(atomic_load(&s_meta_synced), 1);
	assert_int_equal(atomic_load(&s_meta_lazy), 0);

	s_reset();
	s_store(&f, 1, 1);
	assert_int_equal(atomic_load(&s_datasyncs), 1);
	assert_int_equal(atomic_load(&s_meta_synced), 0);
	assert_int_equal(atomic_load(&s_meta_lazy), 1);

	/* A local event after it is synced whole again (the flag is per
	 * commit, not left on), and its data sync makes the peers' commit's
	 * meta page durable too. */
	s_reset();
	s_store(&f, 2, 0);
	assert_int_equal(atomic_load(&s_datasyncs), 1);
	assert_int_equal(atomic_load(&s_meta_synced), 1);
	assert_int_equal(atomic_load(&s_meta_lazy), 0);
	s_teardown(&f);
}

/* A node closed after a lazy commit syncs it: a clean stop leaves nothing a
 * power cut could undo. Without it, mdb_env_close syncs nothing. */
static void
test_close_syncs_a_lazy_commit(void **state)
{
	struct fixture f;

	(void)state;
	s_setup(&f);
	s_store(&f, 0, 1);
	assert_int_equal(atomic_load(&s_meta_lazy), 1);
	s_reset();
	node_close(&f.n);
	assert_int_equal(atomic_load(&s_datasyncs), 1);
	s_teardown(&f);
}

/* One submit on a thread of its own. */
struct submit {
	struct fixture *f; /* whose node */
	int i;             /* which post */
	int from_peer;     /* as a peer's */
	atomic_int tid;    /* the thread's id once it runs */
	pthread_t thread;  /* it */
};

static void *
s_submit_main(void *arg)
{
	struct submit *s = arg;

	atomic_store(&s->tid, (int)syscall(SYS_gettid));
	s_store(s->f, s->i, s->from_peer);
	return NULL;
}

static void
s_start(struct submit *s, struct fixture *f, int i, int from_peer)
{
	s->f = f;
	s->i = i;
	s->from_peer = from_peer;
	atomic_store(&s->tid, 0);
	assert_int_equal(pthread_create(&s->thread, NULL, s_submit_main, s), 0);
}

/* The thread sleeps (in the group commit's queue: nothing else of the
 * submit blocks) in each of 5 looks 2 ms apart. */
static int
s_asleep(const struct submit *s)
{
	for (int look = 0; look < 5; look++) {
		char path[64], buf[256], *p;
		FILE *fp;
		int tid = atomic_load(&s->tid);

		if (tid == 0)
			return 0;
		snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
		if ((fp = fopen(path, "r")) == NULL)
			return 0;
		p = fgets(buf, sizeof(buf), fp);
		fclose(fp);
		if (p == NULL || (p = strrchr(buf, ')')) == NULL || p[1] != ' ' || p[2] != 'S')
			return 0;
		usleep(2000);
	}
	return 1;
}

/* A local event that shares a group commit with a peer's makes the whole
 * transaction synced: here a peer's event is being committed (held in its
 * fdatasync) while a local one and another peer's queue; they go together
 * in the next commit, which must sync its meta page. */
static void
test_local_in_a_shared_commit_syncs(void **state)
{
	struct fixture f;
	struct submit a, b, c;

	(void)state;
	s_setup(&f);
	atomic_store(&s_held, 0);
	atomic_store(&s_hold, 1);
	s_start(&a, &f, 0, 1);
	for (int t = 0; t < 5000 && !atomic_load(&s_held); t++)
		usleep(1000);
	assert_true(atomic_load(&s_held));
	s_start(&b, &f, 1, 0);
	s_start(&c, &f, 2, 1);
	for (int t = 0; t < 500 && !(s_asleep(&b) && s_asleep(&c)); t++)
		usleep(1000);
	assert_true(s_asleep(&b) && s_asleep(&c));
	atomic_store(&s_hold, 0);
	pthread_join(a.thread, NULL);
	pthread_join(b.thread, NULL);
	pthread_join(c.thread, NULL);
	/* Two commits: the first peer's alone, lazily; the two that queued
	 * behind it together, synced whole. */
	assert_int_equal(atomic_load(&s_datasyncs), 2);
	assert_int_equal(atomic_load(&s_meta_lazy), 1);
	assert_int_equal(atomic_load(&s_meta_synced), 1);
	s_teardown(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_peers_commit_one_sync),
	    cmocka_unit_test(test_close_syncs_a_lazy_commit),
	    cmocka_unit_test(test_local_in_a_shared_commit_syncs),
	};

	if (cpt_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
