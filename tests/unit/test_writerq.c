/*
 * The order in which the writer of peers' batches (node/fed/writer.c) takes
 * them: a live batch (a relay of what was just written) goes into the next
 * transaction alone, ahead of the catch-up batches queued before it, which
 * keep their own order and merge up to the transaction's cap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/syscall.h>
#include <unistd.h>

#include "node/fed/fed_internal.h"

#define CAP 3000 /* envelopes per transaction, as MERGE_MAX */

/* Pushes k envelopes, live or not, as item it. */
static void
s_push(fed_wq_t *q, fed_wq_item_t *it, size_t k, int live)
{
	it->k = k;
	it->live = live;
	fed_wq_push(q, it);
}

/*
 * Twelve catch-up batches of 1,000 are waiting (a heal: an older sender's
 * window), then a live relay of one event comes. Before, one queue in
 * arrival order: the live event went into the fifth transaction, after
 * 12,000 envelopes had been committed (seconds at a site healing on a busy
 * machine). Now it opens the next one, which the catch-up fills up.
 */
static void
test_live_batch_goes_first(void **state)
{
	fed_wq_t q;
	fed_wq_item_t bulk[12], live, live2, *list;
	size_t n = 0;

	(void)state;
	fed_wq_init(&q);
	for (int i = 0; i < 12; i++)
		s_push(&q, &bulk[i], 1000, 0);
	s_push(&q, &live, 1, 1);
	/* The next transaction: the live batch, then the first two of the
	 * catch-up (a third would pass the cap). */
	list = fed_wq_take(&q, CAP, &n);
	assert_ptr_equal(list, &live);
	assert_ptr_equal(list->next, &bulk[0]);
	assert_ptr_equal(list->next->next, &bulk[1]);
	assert_null(list->next->next->next);
	assert_int_equal(n, 2001);
	/* Then the catch-up's, in their order, three per transaction. */
	list = fed_wq_take(&q, CAP, &n);
	assert_ptr_equal(list, &bulk[2]);
	assert_ptr_equal(list->next, &bulk[3]);
	assert_ptr_equal(list->next->next, &bulk[4]);
	assert_null(list->next->next->next);
	assert_int_equal(n, 3000);
	/* Live batches coming in between go before the rest again, in their
	 * own order. */
	s_push(&q, &live, 2, 1);
	s_push(&q, &live2, 1, 1);
	list = fed_wq_take(&q, CAP, &n);
	assert_ptr_equal(list, &live);
	assert_ptr_equal(list->next, &live2);
	assert_ptr_equal(list->next->next, &bulk[5]);
	assert_ptr_equal(list->next->next->next, &bulk[6]);
	assert_null(list->next->next->next->next);
	assert_int_equal(n, 2003);
	list = fed_wq_take(&q, CAP, &n);
	assert_ptr_equal(list, &bulk[7]);
	assert_int_equal(n, 3000);
	list = fed_wq_take(&q, CAP, &n);
	assert_ptr_equal(list, &bulk[10]);
	assert_int_equal(n, 2000);
	assert_null(fed_wq_take(&q, CAP, &n));
	assert_int_equal(n, 0);
	/* Emptied, both lanes take new batches again. */
	s_push(&q, &bulk[0], 1000, 0);
	list = fed_wq_take(&q, CAP, &n);
	assert_ptr_equal(list, &bulk[0]);
	s_push(&q, &live, 1, 1);
	assert_ptr_equal(fed_wq_take(&q, CAP, &n), &live);
	assert_null(fed_wq_take(&q, CAP, &n));
}

/* A batch larger than the cap still goes (alone): nothing waits for ever. */
static void
test_batch_over_the_cap_goes_alone(void **state)
{
	fed_wq_t q;
	fed_wq_item_t big, small;
	size_t n = 0;

	(void)state;
	fed_wq_init(&q);
	s_push(&q, &big, CAP + 1, 0);
	s_push(&q, &small, 1, 0);
	assert_ptr_equal(fed_wq_take(&q, CAP, &n), &big);
	assert_int_equal(n, CAP + 1);
	assert_ptr_equal(fed_wq_take(&q, CAP, &n), &small);
	assert_int_equal(n, 1);
}

/*
 * A catch-up's batches are verified one after another and each was
 * committed alone, as soon as it was queued: the writer waits for what the
 * pool still holds of ours (pooled) while the queue holds less than two
 * batches (GATHER_MIN in writer.c), and never once a live batch waits, or
 * when nothing more is coming.
 */
#define GATHER 2000

static void
test_catch_up_gathers_a_commit(void **state)
{
	fed_wq_t q;
	fed_wq_item_t bulk[4], live;
	size_t n = 0;

	(void)state;
	fed_wq_init(&q);
	assert_false(fed_wq_gather(&q, GATHER, 3)); /* nothing waiting: the writer sleeps */
	s_push(&q, &bulk[0], 1000, 0);
	/* two more batches are being verified */
	assert_true(fed_wq_gather(&q, GATHER, 2));
	assert_false(fed_wq_gather(&q, GATHER, 0)); /* none: commit what is there */
	s_push(&q, &bulk[1], 1000, 0);
	assert_false(fed_wq_gather(&q, GATHER, 1)); /* enough for one commit */
	s_push(&q, &bulk[2], 1000, 0);
	/* Batches that waited go together, up to the transaction's cap. */
	assert_ptr_equal(fed_wq_take(&q, CAP, &n), &bulk[0]);
	assert_int_equal(n, 3000);
	/* A live relay never waits for the catch-up's batches. */
	s_push(&q, &bulk[3], 1000, 0);
	assert_true(fed_wq_gather(&q, GATHER, 1));
	s_push(&q, &live, 1, 1);
	assert_false(fed_wq_gather(&q, GATHER, 1));
	assert_ptr_equal(fed_wq_take(&q, CAP, &n), &live);
	assert_int_equal(n, 1001);
}

/*
 * The writer commits a catch-up with the idle I/O class and goes back to its
 * default after (the class of this thread, read back from the kernel).
 */
static void
test_catch_up_writes_idle(void **state)
{
	(void)state;
	assert_int_equal(fed_writer_io_bulk(1), 0);
	assert_int_equal(syscall(SYS_ioprio_get, 1, 0) >> 13, 3); /* IOPRIO_CLASS_IDLE */
	assert_int_equal(fed_writer_io_bulk(0), 0);
	/* the default: class none (best effort at the thread's nice level) */
	assert_int_equal(syscall(SYS_ioprio_get, 1, 0) >> 13, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_live_batch_goes_first),
	    cmocka_unit_test(test_batch_over_the_cap_goes_alone),
	    cmocka_unit_test(test_catch_up_gathers_a_commit),
	    cmocka_unit_test(test_catch_up_writes_idle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
