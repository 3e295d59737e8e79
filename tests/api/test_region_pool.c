/* SPDX-License-Identifier: BSD-3-Clause */
/* test_region_pool.c -- pools in caller memory: errors, guard, bounds, many pools. */
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

#include <cmocka.h>
#include <libvmem.h>

#include "test_helpers.h"

static void expect_region_failure(void *addr, size_t size, const char *message_start)
{
	int maps = count_mappings();
	errno = 0;
	assert_null(vmem_create_in_region(addr, size));
	assert_int_equal(errno, EINVAL);
	if (strncmp(vmem_errormsg(), message_start, strlen(message_start)) != 0)
		fail_msg("message \"%s\" does not start with \"%s\"", vmem_errormsg(), message_start);
	assert_mapping_count(maps);
}

static void null_address(void **state)
{
	(void)state;
	expect_region_failure(NULL, VMEM_MIN_POOL, "invalid (NULL) region address");
}

static void unaligned_address(void **state)
{
	(void)state;
	char *region = map_region(VMEM_MIN_POOL + 4096);
	assert_non_null(region);
	char expected[80];
	snprintf(expected, sizeof(expected), "addr %p not aligned to pagesize 4096", (void *)(region + 8));
	memset(region, 0x5a, 4096);
	expect_region_failure(region + 8, VMEM_MIN_POOL, expected);
	assert_string_equal(vmem_errormsg(), expected);
	/* a failed call writes nothing */
	for (int i = 0; i < 4096; i++)
		assert_int_equal((unsigned char)region[i], 0x5a);
	unmap_region(region, VMEM_MIN_POOL + 4096);
}

static void size_below_minimum(void **state)
{
	(void)state;
	char *region = map_region(VMEM_MIN_POOL);
	assert_non_null(region);
	expect_region_failure(region, VMEM_MIN_POOL - 4096, "size 14675968 smaller than 14680064");
	unmap_region(region, VMEM_MIN_POOL);
}

static void region_not_mapped(void **state)
{
	(void)state;
	char *region = map_region(2 * VMEM_MIN_POOL);
	assert_non_null(region);
	/* a hole in the middle of the range */
	assert_int_equal(munmap(region + VMEM_MIN_POOL, 4096), 0);
	expect_region_failure(region, 2 * VMEM_MIN_POOL, "region");
	assert_non_null(strstr(vmem_errormsg(), "not entirely mapped"));
	munmap(region, 2 * VMEM_MIN_POOL);
}

static void region_wrapping_the_address_space(void **state)
{
	(void)state;
	expect_region_failure((void *)(uintptr_t)0xfffffffffff00000ULL, VMEM_MIN_POOL, "region");
}

static void guard_page_and_nothing_written_outside(void **state)
{
	(void)state;
	/* a pool in the middle of a larger mapping filled with a pattern */
	size_t pool_size = VMEM_MIN_POOL;
	size_t margin = 64 * 1024;
	unsigned char *mapping = map_region(pool_size + 2 * margin);
	assert_non_null(mapping);
	memset(mapping, 0xa5, pool_size + 2 * margin);
	unsigned char *region = mapping + margin;
	VMEM *vmp = vmem_create_in_region(region, pool_size);
	assert_non_null(vmp);
	assert_ptr_equal(vmp, region);
	assert_true(read_faults(vmp));
	assert_false(read_faults(region + 4096 * 2));
	for (size_t i = 0; i < margin; i++) {
		assert_int_equal(mapping[i], 0xa5);
		assert_int_equal(mapping[margin + pool_size + i], 0xa5);
	}
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
	/* the region stays mapped and writable, guard lifted */
	assert_false(read_faults(region));
	region[0] = 1;
	for (size_t i = 0; i < margin; i++)
		assert_int_equal(mapping[margin + pool_size + i], 0xa5);
	unmap_region(mapping, pool_size + 2 * margin);
}

static void region_can_be_reused_after_delete(void **state)
{
	(void)state;
	void *region = map_region(VMEM_MIN_POOL);
	assert_non_null(region);
	for (int round = 0; round < 3; round++) {
		VMEM *vmp = vmem_create_in_region(region, VMEM_MIN_POOL);
		assert_non_null(vmp);
		assert_int_equal(vmem_check(vmp), 1);
		vmem_delete(vmp);
	}
	unmap_region(region, VMEM_MIN_POOL);
}

static void delete_twice(void **state)
{
	(void)state;
	void *region = map_region(VMEM_MIN_POOL);
	assert_non_null(region);
	VMEM *vmp = vmem_create_in_region(region, VMEM_MIN_POOL);
	assert_non_null(vmp);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
	errno = 0;
	vmem_delete(vmp);
	assert_int_equal(errno, EINVAL);
	char expected[64];
	snprintf(expected, sizeof(expected), "invalid pool handle: %p", region);
	assert_string_equal(vmem_errormsg(), expected);
	unmap_region(region, VMEM_MIN_POOL);
}

static void overlapping_regions_are_accepted(void **state)
{
	(void)state;
	/* as in the original, creation does not refuse an overlap (vmem_check
	 * reports it); both pools can be deleted in either order */
	size_t size = 2 * VMEM_MIN_POOL;
	char *region = map_region(size);
	assert_non_null(region);
	VMEM *a = vmem_create_in_region(region, VMEM_MIN_POOL);
	VMEM *b = vmem_create_in_region(region + VMEM_MIN_POOL / 2, VMEM_MIN_POOL);
	assert_non_null(a);
	assert_non_null(b);
	/* both report the overlap */
	assert_int_equal(vmem_check(a), 0);
	assert_int_equal(vmem_check(b), 0);
	assert_non_null(strstr(vmem_errormsg(), "invariant 1 "));
	errno = 0;
	vmem_delete(a);
	vmem_delete(b);
	assert_int_equal(errno, 0);
	unmap_region(region, size);
}

static void pools_sharing_guard_or_header_pages_are_refused(void **state)
{
	(void)state;
	/* a live pool's guard page is inaccessible and its header is its own:
	 * a second pool whose first two pages touch them must fail cleanly */
	char *region = map_region(3 * VMEM_MIN_POOL);
	assert_non_null(region);
	char *live_at = region + VMEM_MIN_POOL;
	VMEM *live = vmem_create_in_region(live_at, VMEM_MIN_POOL);
	assert_non_null(live);
	char *clashes[] = {live_at, live_at - 4096, live_at + 4096};
	for (size_t i = 0; i < sizeof(clashes) / sizeof(clashes[0]); i++) {
		errno = 0;
		assert_null(vmem_create_in_region(clashes[i], VMEM_MIN_POOL));
		assert_int_equal(errno, EINVAL);
	}
	/* the refused creations left the live pool as it was (the overlap
	 * below is deliberate: vmem_check reports it, see above) */
	assert_int_equal(vmem_check(live), 1);
	/* two pages up the heads are apart: an overlap, accepted */
	VMEM *overlapping = vmem_create_in_region(live_at + 2 * 4096, VMEM_MIN_POOL);
	assert_non_null(overlapping);
	errno = 0;
	vmem_delete(live);
	vmem_delete(overlapping);
	assert_int_equal(errno, 0);
	unmap_region(region, 3 * VMEM_MIN_POOL);
}

static void read_only_region(void **state)
{
	(void)state;
	char *region = mmap(NULL, VMEM_MIN_POOL, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(region != MAP_FAILED);
	expect_region_failure(region, VMEM_MIN_POOL, "region");
	assert_non_null(strstr(vmem_errormsg(), "is not readable and writable"));
	assert_int_equal(region[0], 0);
	munmap(region, VMEM_MIN_POOL);
}

static void header_page_read_only(void **state)
{
	(void)state;
	/* the guard page writable, the header page not */
	char *region = map_region(VMEM_MIN_POOL);
	assert_non_null(region);
	memset(region, 0x77, 4096);
	assert_int_equal(mprotect(region + 4096, 4096, PROT_READ), 0);
	expect_region_failure(region, VMEM_MIN_POOL, "region");
	for (int i = 0; i < 4096; i++)
		assert_int_equal((unsigned char)region[i], 0x77);
	unmap_region(region, VMEM_MIN_POOL);
}

static void thousand_pools_leave_nothing_behind(void **state)
{
	(void)state;
	enum { N = 1000 };
	size_t size = VMEM_MIN_POOL;
	/* one mapping holds every pool, at 4 KiB-but-not-4 MiB alignment */
	char *mapping = map_region((size_t)N * size + 4096);
	assert_non_null(mapping);
	static VMEM *pools[N];
	int maps = 0, fds = 0;
	/* the first round may map pool-directory tables for these addresses,
	 * which stay for later pools; the second must leave nothing at all */
	for (int round = 0; round < 2; round++) {
		if (round == 1) {
			maps = count_mappings();
			fds = count_open_fds();
		}
		for (int i = 0; i < N; i++) {
			pools[i] = vmem_create_in_region(mapping + 4096 + (size_t)i * size, size);
			assert_non_null(pools[i]);
		}
		for (int i = 0; i < N; i += 2) {
			assert_int_equal(vmem_check(pools[i]), 1);
			vmem_delete(pools[i]);
		}
		for (int i = 1; i < N; i += 2) {
			assert_int_equal(vmem_check(pools[i]), 1);
			vmem_delete(pools[i]);
		}
	}
	assert_mapping_count(maps);
	assert_int_equal(count_open_fds(), fds);
	unmap_region(mapping, (size_t)N * size + 4096);
}

static void ten_thousand_live_pools(void **state)
{
	(void)state;
	enum { N = 10000 };
	size_t size = VMEM_MIN_POOL;
	size_t total = (size_t)N * size;
	char *mapping = map_region(total);
	if (mapping == NULL && running_under_valgrind())
		skip(); /* Valgrind gives a program far less than 140 GB of address space */
	assert_non_null(mapping);
	VMEM **pools = calloc(N, sizeof(*pools));
	assert_non_null(pools);
	for (int i = 0; i < N; i++) {
		pools[i] = vmem_create_in_region(mapping + (size_t)i * size, size);
		if (pools[i] == NULL)
			fail_msg("pool %d: %s", i, vmem_errormsg());
	}
	/* every one of them is a live pool: each guard faults */
	for (int i = 0; i < N; i += 997) {
		assert_true(read_faults(pools[i]));
		assert_int_equal(vmem_check(pools[i]), 1);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(vmem_check(pools[i]), 1);
		vmem_delete(pools[i]);
	}
	free(pools);
	unmap_region(mapping, total);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(null_address),
	    cmocka_unit_test(unaligned_address),
	    cmocka_unit_test(size_below_minimum),
	    cmocka_unit_test(region_not_mapped),
	    cmocka_unit_test(region_wrapping_the_address_space),
	    cmocka_unit_test(guard_page_and_nothing_written_outside),
	    cmocka_unit_test(region_can_be_reused_after_delete),
	    cmocka_unit_test(delete_twice),
	    cmocka_unit_test(overlapping_regions_are_accepted),
	    cmocka_unit_test(pools_sharing_guard_or_header_pages_are_refused),
	    cmocka_unit_test(read_only_region),
	    cmocka_unit_test(header_page_read_only),
	    cmocka_unit_test(thousand_pools_leave_nothing_behind),
	    cmocka_unit_test(ten_thousand_live_pools),
	};
	return cmocka_run_group_tests_name("region pools", tests, NULL, NULL);
}
