/* SPDX-License-Identifier: BSD-3-Clause */
/* test_alloc_fill.c -- how much of a pool can really be used, and that all of it comes back. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/statvfs.h>

#include <cmocka.h>
#include <libvmem.h>

#include "test_helpers.h"

enum { MAX_BLOCKS = 1 << 20 };
static void *blocks[MAX_BLOCKS];

/* Allocates `size`-byte blocks until the pool says no; returns the count. */
static size_t fill(VMEM *vmp, size_t size)
{
	size_t n = 0;
	while (n < MAX_BLOCKS && (blocks[n] = vmem_malloc(vmp, size)) != NULL)
		n++;
	assert_true(n < MAX_BLOCKS);
	assert_int_equal(errno, ENOMEM);
	return n;
}

static void free_all(VMEM *vmp, size_t n)
{
	for (size_t i = 0; i < n; i++)
		vmem_free(vmp, blocks[i]);
}

/* At least 97% of a fresh minimum-size pool goes to 64-byte objects, and
 * after freeing them all the same number fits again. */
static void expect_fill(VMEM *vmp, size_t pool_size)
{
	size_t n = fill(vmp, 64);
	double share = 100.0 * (double)(n * 64) / (double)pool_size;
	print_message("# %zu blocks of 64 bytes: %.2f%% of the pool\n", n, share);
	assert_true(share >= 97.0);
	free_all(vmp, n);
	assert_int_equal(fill(vmp, 64), n);
	free_all(vmp, n);
}

static void file_pool_fill(void **state)
{
	(void)state;
	VMEM *vmp = vmem_create("/tmp", VMEM_MIN_POOL);
	assert_non_null(vmp);
	expect_fill(vmp, VMEM_MIN_POOL);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
}

static void region_pool_fill_at_page_alignment(void **state)
{
	(void)state;
	char *mapping = map_region(VMEM_MIN_POOL + 8 * MiB);
	assert_non_null(mapping);
	/* aligned to 4 KiB, deliberately not to 4 MiB */
	char *at = (char *)((((uintptr_t)mapping + 4 * MiB - 1) & ~(uintptr_t)(4 * MiB - 1)) + 4096);
	VMEM *vmp = vmem_create_in_region(at, VMEM_MIN_POOL);
	assert_non_null(vmp);
	expect_fill(vmp, VMEM_MIN_POOL);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
	unmap_region(mapping, VMEM_MIN_POOL + 8 * MiB);
}

static void space_moves_between_size_classes(void **state)
{
	(void)state;
	/* a pool filled with one size, emptied, then filled with another:
	 * pages of the first class must have gone back to the pool */
	VMEM *vmp = vmem_create("/tmp", VMEM_MIN_POOL);
	assert_non_null(vmp);
	size_t sizes[] = {64, 4000, 100, 30000, 16};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = fill(vmp, sizes[i]);
		double share = 100.0 * (double)(n * sizes[i]) / VMEM_MIN_POOL;
		print_message("# %zu-byte blocks: %.1f%%\n", sizes[i], share);
		assert_true(share >= 75.0); /* class rounding included */
		free_all(vmp, n);
	}
	void *big = vmem_malloc(vmp, 12 * MiB);
	assert_non_null(big);
	vmem_free(vmp, big);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
}

/* Random sizes of 16 to 4096 bytes until 64 requests in a row fail: at
 * least 93% of a minimum-size pool is handed out (usable sizes).  Most
 * classes are barely used, and the pages they do not fill must not strand
 * much of the pool; then all of it comes back for one block. */
static void mixed_sizes_fill_the_pool(void **state)
{
	(void)state;
	VMEM *vmp = vmem_create("/tmp", VMEM_MIN_POOL);
	assert_non_null(vmp);
	uint64_t rng = 0x9e3779b97f4a7c15u;
	size_t n = 0, usable = 0;
	for (int misses = 0; misses < 64 && n < MAX_BLOCKS;) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		size_t size = 16 + rng % 4081;
		void *p = vmem_malloc(vmp, size);
		if (p == NULL) {
			assert_int_equal(errno, ENOMEM);
			misses++;
			continue;
		}
		blocks[n++] = p;
		usable += vmem_malloc_usable_size(vmp, p);
	}
	double share = 100.0 * (double)usable / VMEM_MIN_POOL;
	print_message("# %zu blocks of 16-4096 bytes: %.2f%% of the pool\n", n, share);
	assert_true(share >= 93.0);
	free_all(vmp, n);
	void *big = vmem_malloc(vmp, 12 * MiB);
	assert_non_null(big);
	vmem_free(vmp, big);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
}

/* A pool full of 4000-byte blocks with a few freed: a 16-byte request,
 * whose class has no page and no room for one, is served from a freed
 * large block instead of failing while the pool has free space. */
static void full_pool_serves_small_requests_from_larger_free_blocks(void **state)
{
	(void)state;
	VMEM *vmp = vmem_create("/tmp", VMEM_MIN_POOL);
	assert_non_null(vmp);
	size_t n = fill(vmp, 4000);
	/* slices too few for another page of 4000-byte blocks may still hold
	 * a page of 16-byte ones: use those up as well */
	size_t filled = n;
	while (filled < MAX_BLOCKS && (blocks[filled] = vmem_malloc(vmp, 16)) != NULL)
		filled++;
	assert_true(filled < MAX_BLOCKS);
	for (size_t i = 0; i < 3; i++) {
		vmem_free(vmp, blocks[n / 2 + i]);
		blocks[n / 2 + i] = NULL;
	}
	for (size_t i = 0; i < 3; i++) {
		char *small = vmem_malloc(vmp, 16);
		assert_non_null(small);
		memset(small, 0x5a, 16);
		assert_true(vmem_malloc_usable_size(vmp, small) >= 16);
		blocks[n / 2 + i] = small;
	}
	/* the three freed blocks are taken again: the pool is full once more */
	errno = 0;
	assert_null(vmem_malloc(vmp, 16));
	assert_int_equal(errno, ENOMEM);
	free_all(vmp, filled);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
}

static void full_file_system_gives_enomem_not_sigbus(void **state)
{
	(void)state;
	/* a 64 MiB pool on a 16 MiB tmpfs: creation takes no space, use does */
	char *dir = mount_small_tmpfs(16 * MiB);
	if (dir == NULL)
		skip();
	VMEM *vmp = vmem_create(dir, 64 * MiB);
	assert_non_null(vmp);
	size_t n = 0;
	errno = 0;
	while (n < MAX_BLOCKS && (blocks[n] = vmem_malloc(vmp, 100000)) != NULL) {
		memset(blocks[n], 0x5c, 100000); /* every byte really stored */
		n++;
	}
	assert_int_equal(errno, ENOMEM);
	assert_true(n > 0 && n < 64 * MiB / 100000);
	print_message("# %zu blocks of 100000 bytes before the file system was full\n", n);
	/* small blocks fail as cleanly */
	size_t small = 0;
	while (small < MAX_BLOCKS - n && (blocks[n + small] = vmem_malloc(vmp, 64)) != NULL)
		small++;
	assert_int_equal(errno, ENOMEM);
	free_all(vmp, n + small);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
	unmount_small_tmpfs(dir);
}

static void calloc_of_fresh_memory_writes_nothing(void **state)
{
	(void)state;
	/* 200 MiB of calloc in a fresh 1 GiB file pool: the memory is new, so
	 * no page of it should have been written (or even touched) */
	char *dir = make_test_dir();
	VMEM *vmp = vmem_create(dir, GiB);
	assert_non_null(vmp);
	int files = 0;
	uint64_t before = allocated_bytes_of_open_files(dir, &files);
	unsigned char *block = vmem_calloc(vmp, 200, MiB);
	assert_non_null(block);
	uint64_t after = allocated_bytes_of_open_files(dir, &files);
	/* blocks are reserved for the segments (fallocate), not written:
	 * reserved blocks read as zero, so check the page-cache side */
	unsigned char residency[16];
	size_t page = 4096;
	int resident = 0;
	for (size_t off = 0; off < 200 * MiB; off += 13 * MiB) {
		if (mincore(block + off - ((uintptr_t)(block + off) % page), page, residency) == 0 &&
		    residency[0] & 1)
			resident++;
	}
	print_message("# file blocks %llu -> %llu; sampled pages resident: %d\n", (unsigned long long)before,
		      (unsigned long long)after, resident);
	assert_int_equal(resident, 0);
	for (size_t off = 0; off < 200 * MiB; off += 997 * 1024)
		assert_int_equal(block[off], 0);
	vmem_free(vmp, block);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
	remove_test_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(file_pool_fill),
	    cmocka_unit_test(region_pool_fill_at_page_alignment),
	    cmocka_unit_test(space_moves_between_size_classes),
	    cmocka_unit_test(mixed_sizes_fill_the_pool),
	    cmocka_unit_test(full_pool_serves_small_requests_from_larger_free_blocks),
	    cmocka_unit_test(full_file_system_gives_enomem_not_sigbus),
	    cmocka_unit_test(calloc_of_fresh_memory_writes_nothing),
	};
	return cmocka_run_group_tests_name("pool fill", tests, NULL, NULL);
}
