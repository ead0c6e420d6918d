/*
 * `comptoir` whose writer thread waits before each of its commits, for the
 * tests of what a node does before a peer's batch is durable here
 * (tests/integration/test_relay.py). The daemon has no such knob: this
 * binary links the same library and puts itself in front of LMDB's
 * mdb_txn_commit, so that a commit made on the thread named cpt-writer (the
 * batches from peers, node/fed/writer.c) first sleeps for the milliseconds
 * written in the file named by COMPTOIR_TEST_COMMIT_DELAY_FILE, read at each
 * commit (missing, empty or 0: no wait). A test thus links its sites at full
 * speed, then turns the wait on. The word "fail" there makes the next such
 * commit fail instead (the transaction aborted, EIO, as a dying disk would),
 * and the file is emptied. Each wait and failure is logged on stderr.
 *
 * usage: commit_delay ARGS...   (those of comptoir: run --dir DIR)
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/cli/cli.h"

/* LMDB's, declared here: its header is the store's alone. */
typedef struct MDB_txn MDB_txn;
int mdb_txn_commit(MDB_txn *txn);
void mdb_txn_abort(MDB_txn *txn);

static int (*s_commit)(MDB_txn *txn); /* LMDB's own, found at start */

/* The wait the test asks for now, in ms (0: none; -1: fail this commit,
 * and the file is emptied). */
static long
s_delay_ms(void)
{
	const char *path = getenv("COMPTOIR_TEST_COMMIT_DELAY_FILE");
	FILE *f = path && *path ? fopen(path, "r") : NULL;
	char word[16] = "";
	long ms = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%15s", word) == 1 && strcmp(word, "fail") == 0) {
		fclose(f);
		if ((f = fopen(path, "w")) != NULL)
			fclose(f);
		return -1;
	}
	ms = strtol(word, NULL, 10);
	fclose(f);
	return ms < 0 || ms > 600000 ? 0 : ms;
}

int
mdb_txn_commit(MDB_txn *txn)
{
	char name[16] = "";
	long ms;

	if (pthread_getname_np(pthread_self(), name, sizeof(name)) != 0 ||
	    strcmp(name, "cpt-writer") != 0 || (ms = s_delay_ms()) == 0)
		return s_commit(txn);
	if (ms < 0) {
		/* As LMDB's own failed commit: the transaction is gone. */
		fprintf(stderr, "commit_delay: failing a writer commit\n");
		mdb_txn_abort(txn);
		return EIO;
	}
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	fprintf(stderr, "commit_delay: holding a writer commit for %ld ms\n", ms);
	while (nanosleep(&ts, &ts) != 0)
		;
	fprintf(stderr, "commit_delay: writer commit goes on\n");
	return s_commit(txn);
}

int
main(int argc, char **argv)
{
	/* The next definition after ours: the shared library's. */
	*(void **)&s_commit = dlsym(RTLD_NEXT, "mdb_txn_commit");
	if (s_commit == NULL) {
		fprintf(stderr, "commit_delay: mdb_txn_commit not found: %s\n", dlerror());
		return 2;
	}
	return cli_main(argc, argv);
}
