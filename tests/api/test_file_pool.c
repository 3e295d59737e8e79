/* SPDX-License-Identifier: BSD-3-Clause */
/* test_file_pool.c -- pools in unnamed temporary files: mapping, guard, invisibility, space, counts. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <time.h>

#include <cmocka.h>
#include <libvmem.h>

#include "test_helpers.h"

static int setup_dir(void **state)
{
	*state = make_test_dir();
	return *state == NULL ? -1 : 0;
}

static int teardown_dir(void **state)
{
	remove_test_dir(*state);
	return 0;
}

static void handle_is_segment_aligned_and_guarded(void **state)
{
	VMEM *vmp = vmem_create(*state, VMEM_MIN_POOL);
	assert_non_null(vmp);
	assert_int_equal((uintptr_t)vmp % (4 * MiB), 0);
	/* the first page is a guard: reading through the handle faults */
	assert_true(read_faults(vmp));
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
}

static void file_is_invisible_and_open_while_pool_lives(void **state)
{
	const char *dir = *state;
	int fds_before = count_open_fds();
	VMEM *vmp = vmem_create(dir, VMEM_MIN_POOL);
	assert_non_null(vmp);
	/* no name in the directory, but one more open file in it */
	assert_int_equal(count_dir_entries(dir), 0);
	assert_int_equal(count_open_fds(), fds_before + 1);
	int files = 0;
	allocated_bytes_of_open_files(dir, &files);
	assert_int_equal(files, 1);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
	assert_int_equal(count_open_fds(), fds_before);
	assert_int_equal(count_dir_entries(dir), 0);
}

static void size_rounds_up_to_a_page(void **state)
{
	VMEM *vmp = vmem_create(*state, VMEM_MIN_POOL + 1);
	assert_non_null(vmp);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
}

static void terabyte_pool_is_sparse(void **state)
{
	const size_t tib = (size_t)1 << 40;
	/* the test is about the file, not the address space: a process that
	 * cannot reserve 1 TiB of it (ThreadSanitizer keeps most of it for
	 * shadow memory) has nothing to test here */
	void *space =
	    mmap(NULL, tib + 2 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (space == MAP_FAILED)
		skip();
	munmap(space, tib + 2 * MiB);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	VMEM *vmp = vmem_create("/tmp", tib);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (vmp == NULL && errno == EFBIG)
		skip(); /* a file system whose files stop short of 1 TiB */
	if (vmp == NULL)
		fail_msg("1 TiB pool: %s", vmem_errormsg());
	int files = 0;
	uint64_t held = allocated_bytes_of_open_files("/tmp/#", &files);
	assert_true(files >= 1);
	/* the file is sized, not filled: the segment states (a byte per MiB)
	 * and a few header pages */
	assert_true(held < 2 * MiB);
	print_message("# 1 TiB pool created in %ld us\n",
		      (long)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000));
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
	(void)state;
}

static void space_returns_on_delete(void **state)
{
	(void)state;
	char *dir = mount_small_tmpfs(64 * MiB);
	if (dir == NULL)
		skip();
	struct statvfs before, during, after;
	assert_int_equal(statvfs(dir, &before), 0);
	VMEM *vmp = vmem_create(dir, VMEM_MIN_POOL);
	assert_non_null(vmp);
	assert_int_equal(statvfs(dir, &during), 0);
	/* the guard and header pages are allocated up front */
	assert_true(during.f_bfree < before.f_bfree);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
	assert_int_equal(statvfs(dir, &after), 0);
	assert_int_equal(after.f_bfree, before.f_bfree);
	unmount_small_tmpfs(dir);
}

/* Creates and deletes 100 pools; the second time round, nothing may be
 * left behind: the library keeps the bookkeeping it makes for pools (the
 * directory's chunks, pages of pool records) for the next ones, so the
 * process's mapping count is taken after a first round has made it. */
static void hundred_pools_leave_nothing_behind(void **state)
{
	enum { N = 100 };
	VMEM *pools[N];
	for (int i = 0; i < N; i++) {
		pools[i] = vmem_create(*state, VMEM_MIN_POOL + (size_t)i * MiB);
		assert_non_null(pools[i]);
	}
	for (int i = N - 1; i >= 0; i--)
		vmem_delete(pools[i]);
	int fds = count_open_fds();
	int maps = count_mappings();
	uintptr_t start[N], end[N];
	for (int i = 0; i < N; i++) {
		pools[i] = vmem_create(*state, VMEM_MIN_POOL + (size_t)i * MiB);
		assert_non_null(pools[i]);
		assert_true(mapping_around(pools[i], &start[i], &end[i]));
	}
	assert_int_equal(count_open_fds(), fds + N);
	/* distinct, non-overlapping pools */
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			assert_true(pools[i] != pools[j]);
	for (int i = N - 1; i >= 0; i--) {
		assert_int_equal(vmem_check(pools[i]), 1);
		vmem_delete(pools[i]);
	}
	assert_int_equal(count_open_fds(), fds);
	for (int i = 0; i < N; i++)
		assert_false(any_mapping_overlaps(start[i], end[i]));
	assert_int_equal(count_mappings_of(*state), 0);
	assert_mapping_count(maps);
	assert_int_equal(count_dir_entries(*state), 0);
}

static void delete_twice_is_an_error_not_a_crash(void **state)
{
	VMEM *vmp = vmem_create(*state, VMEM_MIN_POOL);
	assert_non_null(vmp);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
	errno = 0;
	vmem_delete(vmp); /* the mapping is gone: the handle must not be read */
	assert_int_equal(errno, EINVAL);
	char expected[64];
	snprintf(expected, sizeof(expected), "invalid pool handle: %p", (void *)vmp);
	assert_string_equal(vmem_errormsg(), expected);
}

static void allocation_through_a_deleted_pool_is_refused(void **state)
{
	VMEM *gone = vmem_create(*state, VMEM_MIN_POOL);
	VMEM *other = vmem_create(*state, VMEM_MIN_POOL);
	assert_non_null(gone);
	assert_non_null(other);
	vmem_free(gone, vmem_malloc(gone, 32));
	vmem_free(other, vmem_malloc(other, 32)); /* the thread's last pool is another one */
	assert_int_equal(vmem_check(gone), 1);
	vmem_delete(gone);
	errno = 0;
	assert_null(vmem_malloc(gone, 32)); /* unmapped: must not be read */
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(vmem_errormsg(), "invalid pool handle"));
	assert_int_equal(vmem_check(other), 1);
	vmem_delete(other);
}

/* The thread's most recently used pool is the one deleted: its fast path
 * must not read the gone mapping (this faulted before the MRU check read
 * the directory's removal count instead of the pool's header). */
static void allocation_through_the_last_used_deleted_pool_is_refused(void **state)
{
	VMEM *other = vmem_create(*state, VMEM_MIN_POOL);
	assert_non_null(other);
	void *kept = vmem_malloc(other, 48);
	assert_non_null(kept);
	for (int call = 0; call < 5; call++) {
		VMEM *gone = vmem_create(*state, VMEM_MIN_POOL);
		assert_non_null(gone);
		for (int i = 0; i < 3; i++) /* warm the fast path on `gone` */
			vmem_free(gone, vmem_malloc(gone, 32));
		vmem_delete(gone);
		errno = 0;
		void *p = NULL;
		switch (call) {
		case 0:
			p = vmem_malloc(gone, 32);
			break;
		case 1:
			p = vmem_malloc(gone, 0);
			break;
		case 2:
			p = vmem_calloc(gone, 4, 8);
			break;
		case 3:
			p = vmem_aligned_alloc(gone, 64, 100);
			break;
		case 4:
			p = vmem_strdup(gone, "x");
			break;
		}
		assert_null(p);
		assert_int_equal(errno, EINVAL);
		assert_non_null(strstr(vmem_errormsg(), "invalid pool handle"));
	}
	assert_int_equal(vmem_check(other), 1);
	vmem_free(other, kept);
	vmem_delete(other);
}

static void delete_of_garbage_handles(void **state)
{
	(void)state;
	int on_stack = 0;
	VMEM *bogus[] = {NULL, (VMEM *)&on_stack, (VMEM *)(uintptr_t)0x1000, (VMEM *)UINTPTR_MAX};
	for (size_t i = 0; i < sizeof(bogus) / sizeof(bogus[0]); i++) {
		errno = 0;
		vmem_delete(bogus[i]);
		assert_int_equal(errno, EINVAL);
		assert_non_null(strstr(vmem_errormsg(), "invalid pool handle"));
	}
	assert_int_equal(on_stack, 0);
}

static void interior_pointer_is_not_a_handle(void **state)
{
	VMEM *vmp = vmem_create(*state, VMEM_MIN_POOL);
	assert_non_null(vmp);
	errno = 0;
	vmem_delete((VMEM *)((char *)vmp + 8192));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vmem_check(vmp), 1);
	errno = 0;
	vmem_delete(vmp); /* the pool survived the bad call */
	assert_int_equal(errno, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(handle_is_segment_aligned_and_guarded, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(file_is_invisible_and_open_while_pool_lives, setup_dir,
					    teardown_dir),
	    cmocka_unit_test_setup_teardown(size_rounds_up_to_a_page, setup_dir, teardown_dir),
	    cmocka_unit_test(terabyte_pool_is_sparse),
	    cmocka_unit_test(space_returns_on_delete),
	    cmocka_unit_test_setup_teardown(hundred_pools_leave_nothing_behind, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(delete_twice_is_an_error_not_a_crash, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(allocation_through_a_deleted_pool_is_refused, setup_dir,
					    teardown_dir),
	    cmocka_unit_test_setup_teardown(allocation_through_the_last_used_deleted_pool_is_refused,
					    setup_dir, teardown_dir),
	    cmocka_unit_test(delete_of_garbage_handles),
	    cmocka_unit_test_setup_teardown(interior_pointer_is_not_a_handle, setup_dir, teardown_dir),
	};
	return cmocka_run_group_tests_name("file pools", tests, NULL, NULL);
}
