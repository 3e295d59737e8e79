/* SPDX-License-Identifier: BSD-3-Clause */
/* test_pool_threads.c -- pools created and deleted from many threads at once. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libvmem.h>

#include "test_helpers.h"

enum { THREADS = 8, POOLS_PER_ROUND = 4 };

/* Rounds of creating and deleting pools per thread (fewer with
 * VMEM_TEST_QUICK, for Valgrind's tools). */
static int rounds(void)
{
	return getenv("VMEM_TEST_QUICK") != NULL ? 8 : 40;
}

struct worker {
	pthread_t thread;
	int index;
	char *region; /* POOLS_PER_ROUND pools' worth of this thread's own memory */
	const char *dir;
	int failures;
	char first_error[256];
};

static void *create_and_delete(void *arg)
{
	struct worker *w = arg;
	VMEM *pools[POOLS_PER_ROUND];
	for (int round = 0; round < rounds(); round++) {
		for (int i = 0; i < POOLS_PER_ROUND; i++) {
			/* even slots in the thread's region, odd ones in files */
			pools[i] = (i % 2 == 0) ? vmem_create_in_region(w->region + (size_t)i * VMEM_MIN_POOL,
									VMEM_MIN_POOL)
						: vmem_create(w->dir, VMEM_MIN_POOL);
			if (pools[i] == NULL && w->failures++ == 0)
				snprintf(w->first_error, sizeof(w->first_error), "%s", vmem_errormsg());
		}
		for (int i = POOLS_PER_ROUND - 1; i >= 0; i--) {
			if (pools[i] == NULL)
				continue;
			errno = 0;
			vmem_delete(pools[i]);
			if (errno != 0 && w->failures++ == 0)
				snprintf(w->first_error, sizeof(w->first_error), "delete: %s",
					 vmem_errormsg());
		}
	}
	return NULL;
}

static void eight_threads_create_and_delete(void **state)
{
	(void)state;
	char *dir = make_test_dir();
	assert_non_null(dir);
	size_t region_size = (size_t)POOLS_PER_ROUND * VMEM_MIN_POOL;
	char *regions = map_region(THREADS * region_size);
	assert_non_null(regions);
	int fds = count_open_fds();
	struct worker workers[THREADS];
	for (int t = 0; t < THREADS; t++) {
		workers[t] = (struct worker){.index = t, .region = regions + t * region_size, .dir = dir};
		assert_int_equal(pthread_create(&workers[t].thread, NULL, create_and_delete, &workers[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(workers[t].thread, NULL);
		if (workers[t].failures != 0)
			fail_msg("thread %d: %d failures, first: %s", t, workers[t].failures,
				 workers[t].first_error);
	}
	/* no pool file left open, mapped or named */
	assert_int_equal(count_open_fds(), fds);
	assert_int_equal(count_mappings_of(dir), 0);
	assert_int_equal(count_dir_entries(dir), 0);
	unmap_region(regions, THREADS * region_size);
	remove_test_dir(dir);
}

struct deleter {
	pthread_t thread;
	VMEM *pool;
	int err;
};

static void *delete_one(void *arg)
{
	struct deleter *d = arg;
	errno = 0;
	vmem_delete(d->pool);
	d->err = errno;
	return NULL;
}

static void racing_deletes_of_one_pool(void **state)
{
	(void)state;
	/* eight threads delete the same pool: exactly one succeeds */
	for (int round = 0; round < 20; round++) {
		VMEM *vmp = vmem_create("/tmp", VMEM_MIN_POOL);
		assert_non_null(vmp);
		struct deleter d[THREADS];
		for (int t = 0; t < THREADS; t++) {
			d[t] = (struct deleter){.pool = vmp};
			assert_int_equal(pthread_create(&d[t].thread, NULL, delete_one, &d[t]), 0);
		}
		int succeeded = 0;
		for (int t = 0; t < THREADS; t++) {
			pthread_join(d[t].thread, NULL);
			if (d[t].err == 0)
				succeeded++;
			else
				assert_int_equal(d[t].err, EINVAL);
		}
		assert_int_equal(succeeded, 1);
	}
}

struct message_thread {
	pthread_t thread;
	char seen[256];
};

static void *fail_in_thread(void *arg)
{
	struct message_thread *m = arg;
	assert_null(vmem_create(NULL, VMEM_MIN_POOL));
	snprintf(m->seen, sizeof(m->seen), "%s", vmem_errormsg());
	return NULL;
}

static void error_messages_are_per_thread(void **state)
{
	(void)state;
	assert_null(vmem_create("/tmp", 1));
	char mine[256];
	snprintf(mine, sizeof(mine), "%s", vmem_errormsg());
	struct message_thread m;
	assert_int_equal(pthread_create(&m.thread, NULL, fail_in_thread, &m), 0);
	pthread_join(m.thread, NULL);
	assert_string_equal(m.seen, "invalid (NULL) path");
	assert_string_equal(vmem_errormsg(), mine);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(eight_threads_create_and_delete),
	    cmocka_unit_test(racing_deletes_of_one_pool),
	    cmocka_unit_test(error_messages_are_per_thread),
	};
	return cmocka_run_group_tests_name("pools and threads", tests, NULL, NULL);
}
