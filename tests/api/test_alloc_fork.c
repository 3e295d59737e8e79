/* SPDX-License-Identifier: BSD-3-Clause */
/* test_alloc_fork.c -- pools created before fork() work in the child, apart from the parent. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libvmem.h>

#include "test_helpers.h"

enum { BLOCKS = 2000 };

/* Allocates, fills and checks blocks; false when a block was damaged. */
static bool exercise(VMEM *vmp, uint64_t seed)
{
	static void *blocks[BLOCKS];
	uint64_t rng = seed;
	for (int i = 0; i < BLOCKS; i++) {
		size_t size = 16 + next_random(&rng) % 3000;
		blocks[i] = vmem_malloc(vmp, size);
		if (blocks[i] == NULL)
			return false;
		fill_pattern(blocks[i], size, seed + (uint64_t)i);
	}
	/* consistent with the blocks live, in the parent and in a child */
	bool intact = vmem_check(vmp) == 1;
	rng = seed;
	for (int i = 0; i < BLOCKS; i++) {
		size_t size = 16 + next_random(&rng) % 3000;
		intact = intact && check_pattern(blocks[i], size, seed + (uint64_t)i);
		vmem_free(vmp, blocks[i]);
	}
	return intact;
}

static void parent_and_child_both_allocate(VMEM *vmp)
{
	/* a block from before the fork, seen by both */
	char *before = vmem_strdup(vmp, "made before fork");
	assert_non_null(before);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		bool ok = strcmp(before, "made before fork") == 0 && exercise(vmp, 1000);
		vmem_free(vmp, before);
		ok = ok && exercise(vmp, 2000);
		_exit(ok ? 0 : 1);
	}
	/* the parent works at the same time, on its own copy */
	bool ok = exercise(vmp, 3000);
	int status = 0;
	waitpid(pid, &status, 0);
	assert_true(ok);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(before, "made before fork");
	vmem_free(vmp, before);
	assert_true(exercise(vmp, 4000));
}

static void file_pool_across_fork(void **state)
{
	(void)state;
	VMEM *vmp = vmem_create("/tmp", 64 * MiB);
	assert_non_null(vmp);
	parent_and_child_both_allocate(vmp);
	/* a second fork of an already private pool */
	parent_and_child_both_allocate(vmp);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
}

static void region_pool_across_fork(void **state)
{
	(void)state;
	void *region = map_region(64 * MiB);
	VMEM *vmp = vmem_create_in_region(region, 64 * MiB);
	assert_non_null(vmp);
	parent_and_child_both_allocate(vmp);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
	unmap_region(region, 64 * MiB);
}

static VMEM *busy_pool;
static atomic_int stop_busy;

static void *keep_allocating(void *arg)
{
	(void)arg;
	uint64_t rng = 99;
	while (!atomic_load(&stop_busy)) {
		void *p = vmem_malloc(busy_pool, 100000 + next_random(&rng) % 100000);
		vmem_free(busy_pool, p);
	}
	return NULL;
}

static void fork_while_another_thread_allocates(void **state)
{
	(void)state;
	/* no lock may be inherited held: the child allocates at once */
	busy_pool = vmem_create("/tmp", 64 * MiB);
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, keep_allocating, NULL), 0);
	for (int i = 0; i < 20; i++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(exercise(busy_pool, (uint64_t)i) ? 0 : 1);
		int status = 0;
		waitpid(pid, &status, 0);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	atomic_store(&stop_busy, 1);
	pthread_join(thread, NULL);
	assert_int_equal(vmem_check(busy_pool), 1);
	vmem_delete(busy_pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(file_pool_across_fork),
	    cmocka_unit_test(region_pool_across_fork),
	    cmocka_unit_test(fork_while_another_thread_allocates),
	};
	return cmocka_run_group_tests_name("fork", tests, NULL, NULL);
}
