/* SPDX-License-Identifier: BSD-3-Clause */
/* test_alloc_large.c -- blocks over 64 KiB: resizing in place, huge blocks, full pools. */
#define _GNU_SOURCE
#include <errno.h>
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

static void huge_block_resizes_in_place(void **state)
{
	(void)state;
	VMEM *vmp = vmem_create("/tmp", 16 * MiB);
	assert_non_null(vmp);
	char *block = vmem_malloc(vmp, 12 * MiB);
	assert_non_null(block);
	fill_pattern(block, 12 * MiB, 3);
	char *p = vmem_realloc(vmp, block, 6 * MiB);
	assert_ptr_equal(p, block);
	assert_true(check_pattern(block, 6 * MiB, 3));
	assert_true(vmem_malloc_usable_size(vmp, block) < 7 * MiB);
	p = vmem_realloc(vmp, block, 12 * MiB);
	assert_ptr_equal(p, block);
	assert_true(check_pattern(block, 6 * MiB, 3));
	assert_true(vmem_malloc_usable_size(vmp, block) >= 12 * MiB);
	p = vmem_realloc(vmp, block, 8 * MiB);
	assert_ptr_equal(p, block);
	/* the 4 MiB given back is usable */
	char *other = vmem_malloc(vmp, 4 * MiB);
	assert_non_null(other);
	/* the pool is full now: growing cannot succeed, and leaves all as it was */
	errno = 0;
	assert_null(vmem_realloc(vmp, block, 12 * MiB));
	assert_int_equal(errno, ENOMEM);
	assert_true(vmem_malloc_usable_size(vmp, block) >= 8 * MiB);
	assert_true(check_pattern(block, 6 * MiB, 3));
	vmem_free(vmp, other);
	vmem_free(vmp, block);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
}

static void huge_block_shrinks_to_small_in_a_full_pool(void **state)
{
	(void)state;
	/* as the original: a 12 MiB block in a full 16 MiB pool realloc'd to 16
	 * bytes succeeds, as a different block of exactly 16 usable bytes */
	VMEM *vmp = vmem_create("/tmp", 16 * MiB);
	char *block = vmem_malloc(vmp, 12 * MiB);
	assert_non_null(block);
	void *filler[4096];
	size_t n = 0;
	while (n < 4096 && (filler[n] = vmem_malloc(vmp, 256 * 1024)) != NULL)
		n++;
	memcpy(block, "kept bytes", 11);
	char *small = vmem_realloc(vmp, block, 16);
	assert_non_null(small);
	assert_ptr_not_equal(small, block);
	assert_int_equal(vmem_malloc_usable_size(vmp, small), 16);
	assert_string_equal(small, "kept bytes");
	vmem_free(vmp, small);
	for (size_t i = 0; i < n; i++)
		vmem_free(vmp, filler[i]);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
}

/* A block grown in place up to the last slice of a region pool that ends on
 * a 1 MiB boundary: the pool stays whole, the block keeps its contents, and
 * the thread's next small allocation works (preparing a descriptor past the
 * pool's end once zeroed the thread heaps beside the tables). */
static void block_grows_in_place_to_the_pools_end(void **state)
{
	(void)state;
	size_t size = 16 * MiB;
	void *region = map_region(size);
	assert_non_null(region);
	VMEM *vmp = vmem_create_in_region(region, size);
	assert_non_null(vmp);
	void *small = vmem_malloc(vmp, 64);
	assert_non_null(small);
	void *block = vmem_malloc(vmp, MiB);
	assert_non_null(block);
	fill_pattern(block, MiB, 7);
	size_t n;
	void *grown = NULL;
	for (n = size; n > MiB && grown == NULL; n -= 16384)
		grown = vmem_realloc(vmp, block, n);
	assert_ptr_equal(grown, block); /* in place: nothing lies after it */
	assert_true(check_pattern(grown, MiB, 7));
	if (vmem_check(vmp) != 1)
		fail_msg("after growing to the end: %s", vmem_errormsg());
	void *after = vmem_malloc(vmp, 64);
	assert_non_null(after);
	vmem_free(vmp, after);
	vmem_free(vmp, small);
	vmem_free(vmp, grown);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
	unmap_region(region, size);
}

static void large_blocks_of_every_size(void **state)
{
	(void)state;
	VMEM *vmp = vmem_create("/tmp", 256 * MiB);
	uint64_t rng = 42;
	enum { N = 80 }; /* about 40 live of 2 MiB on average: a third of the pool */
	void *live[N] = {0};
	size_t sizes[N] = {0};
	for (int round = 0; round < 3000; round++) {
		int i = (int)(next_random(&rng) % N);
		if (live[i] != NULL) {
			assert_true(check_pattern(live[i], sizes[i] < 4096 ? sizes[i] : 4096, (uint64_t)i));
			if (next_random(&rng) % 2) {
				vmem_free(vmp, live[i]);
				live[i] = NULL;
				continue;
			}
			size_t grown = 65537 + next_random(&rng) % (4 * MiB);
			void *q = vmem_realloc(vmp, live[i], grown);
			assert_non_null(q);
			size_t kept = sizes[i] < grown ? sizes[i] : grown;
			assert_true(check_pattern(q, kept < 4096 ? kept : 4096, (uint64_t)i));
			live[i] = q;
			sizes[i] = grown;
			fill_pattern(q, grown < 4096 ? grown : 4096, (uint64_t)i);
			continue;
		}
		sizes[i] = 65537 + next_random(&rng) % (4 * MiB);
		live[i] = vmem_malloc(vmp, sizes[i]);
		assert_non_null(live[i]);
		fill_pattern(live[i], sizes[i] < 4096 ? sizes[i] : 4096, (uint64_t)i);
	}
	for (int i = 0; i < N; i++)
		vmem_free(vmp, live[i]);
	/* all coalesced: nearly the whole pool in one block */
	void *all = vmem_malloc(vmp, 250 * MiB);
	assert_non_null(all);
	vmem_free(vmp, all);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(huge_block_resizes_in_place),
	    cmocka_unit_test(huge_block_shrinks_to_small_in_a_full_pool),
	    cmocka_unit_test(block_grows_in_place_to_the_pools_end),
	    cmocka_unit_test(large_blocks_of_every_size),
	};
	return cmocka_run_group_tests_name("large blocks", tests, NULL, NULL);
}
