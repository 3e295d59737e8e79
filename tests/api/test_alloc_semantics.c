/* SPDX-License-Identifier: BSD-3-Clause */
/* test_alloc_semantics.c -- each allocation function's contract and edge cases, in both kinds of pool. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <cmocka.h>
#include <libvmem.h>

#include "test_helpers.h"

/* Each test runs on a file pool and on a region pool (4 KiB-aligned only). */
struct fixture {
	VMEM *vmp;
	void *region;
	size_t region_size;
};

static int setup_file_pool(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->vmp = vmem_create("/tmp", 32 * MiB);
	*state = f;
	return f->vmp == NULL ? -1 : 0;
}

static int setup_region_pool(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->region_size = 32 * MiB + 8 * MiB;
	char *mapping = map_region(f->region_size);
	f->region = mapping;
	/* 4 KiB past a 4 MiB boundary */
	char *at = (char *)((((uintptr_t)mapping + 4 * MiB - 1) & ~(uintptr_t)(4 * MiB - 1)) + 4096);
	f->vmp = vmem_create_in_region(at, 32 * MiB);
	*state = f;
	return f->vmp == NULL ? -1 : 0;
}

static int teardown_pool(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(vmem_check(f->vmp), 1);
	vmem_delete(f->vmp);
	if (f->region != NULL)
		unmap_region(f->region, f->region_size);
	free(f);
	return 0;
}

static VMEM *pool(void **state)
{
	return ((struct fixture *)*state)->vmp;
}

static void malloc_zero_is_unique_and_freeable(void **state)
{
	VMEM *vmp = pool(state);
	void *a = vmem_malloc(vmp, 0);
	void *b = vmem_malloc(vmp, 0);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_true(vmem_malloc_usable_size(vmp, a) >= 1);
	vmem_free(vmp, a);
	vmem_free(vmp, b);
}

static void every_result_is_aligned_and_big_enough(void **state)
{
	VMEM *vmp = pool(state);
	static const size_t sizes[] = {1,    7,	    8,	   9,	  15,	 16,	 17,	  100,	      128,
				       129,  200,   500,   1000,  1024,	 1025,	 3000,	  4096,	      8192,
				       8193, 20000, 65535, 65536, 65537, 100000, 1000000, 3 * MiB + 5};
	void *blocks[sizeof(sizes) / sizeof(sizes[0])];
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		blocks[i] = vmem_malloc(vmp, sizes[i]);
		assert_non_null(blocks[i]);
		size_t alignment = sizes[i] <= 8 ? 8 : 16;
		assert_int_equal((uintptr_t)blocks[i] % alignment, 0);
		size_t usable = vmem_malloc_usable_size(vmp, blocks[i]);
		assert_true(usable >= sizes[i]);
		/* the whole usable size can be written */
		memset(blocks[i], (int)i, usable);
	}
	/* the original's spacing bounds: usable - requested */
	static const struct {
		size_t size, slack;
	} bounds[] = {{10, 8}, {100, 16}, {200, 32}, {500, 64}, {1000, 128}, {2000, 256}, {3000, 512}};
	for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
		void *p = vmem_malloc(vmp, bounds[i].size);
		assert_true(vmem_malloc_usable_size(vmp, p) - bounds[i].size <= bounds[i].slack);
		vmem_free(vmp, p);
	}
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned char *bytes = blocks[i];
		assert_int_equal(bytes[0], (unsigned char)i);
		assert_int_equal(bytes[sizes[i] - 1], (unsigned char)i);
		vmem_free(vmp, blocks[i]);
	}
}

static void free_null_is_a_no_op(void **state)
{
	errno = 0;
	vmem_free(pool(state), NULL);
	assert_int_equal(errno, 0);
	assert_int_equal(vmem_malloc_usable_size(pool(state), NULL), 0);
}

static void calloc_zeroes_and_checks_overflow(void **state)
{
	VMEM *vmp = pool(state);
	/* dirty some memory first, so zeroing cannot come from fresh pages */
	for (int round = 0; round < 2; round++) {
		void *dirty[64];
		for (int i = 0; i < 64; i++) {
			dirty[i] = vmem_malloc(vmp, 1000);
			memset(dirty[i], 0xff, 1000);
		}
		for (int i = 0; i < 64; i++)
			vmem_free(vmp, dirty[i]);
		unsigned char *z = vmem_calloc(vmp, 10, 100);
		assert_non_null(z);
		for (int i = 0; i < 1000; i++)
			assert_int_equal(z[i], 0);
		vmem_free(vmp, z);
	}
	unsigned char *big = vmem_calloc(vmp, 1, 5 * MiB);
	assert_non_null(big);
	for (size_t i = 0; i < 5 * MiB; i += 4093)
		assert_int_equal(big[i], 0);
	memset(big, 0xee, 5 * MiB);
	vmem_free(vmp, big);
	big = vmem_calloc(vmp, 5, MiB); /* likely the same, dirty slices */
	for (size_t i = 0; i < 5 * MiB; i += 4093)
		assert_int_equal(big[i], 0);
	vmem_free(vmp, big);

	void *one = vmem_calloc(vmp, 0, 10); /* a zero product still gives a block */
	assert_non_null(one);
	vmem_free(vmp, one);
	errno = 0;
	assert_null(vmem_calloc(vmp, SIZE_MAX / 2, 3));
	assert_int_equal(errno, ENOMEM);
	assert_non_null(strstr(vmem_errormsg(), "overflows"));
	errno = 0;
	assert_null(vmem_calloc(vmp, (size_t)1 << 33, (size_t)1 << 33));
	assert_int_equal(errno, ENOMEM);
}

static void realloc_edges(void **state)
{
	VMEM *vmp = pool(state);
	/* realloc(NULL, n) is malloc */
	char *p = vmem_realloc(vmp, NULL, 100);
	assert_non_null(p);
	fill_pattern(p, 100, 1);
	/* growing keeps the contents, at any size */
	static const size_t steps[] = {200, 5000, 70000, 1000000, 3000, 50};
	size_t kept = 100;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char *q = vmem_realloc(vmp, p, steps[i]);
		assert_non_null(q);
		size_t common = kept < steps[i] ? kept : steps[i];
		assert_true(check_pattern(q, common, 1));
		fill_pattern(q, steps[i], 1);
		kept = steps[i];
		p = q;
	}
	/* realloc(p, 0) frees and returns NULL */
	assert_null(vmem_realloc(vmp, p, 0));
	/* a realloc that cannot be met leaves the block as it was */
	char *r = vmem_malloc(vmp, 1000);
	fill_pattern(r, 1000, 9);
	errno = 0;
	assert_null(vmem_realloc(vmp, r, SIZE_MAX - 4096));
	assert_int_equal(errno, ENOMEM);
	assert_true(check_pattern(r, 1000, 9));
	assert_true(vmem_malloc_usable_size(vmp, r) >= 1000);
	vmem_free(vmp, r);
}

static void aligned_alloc_every_power_of_two(void **state)
{
	VMEM *vmp = pool(state);
	for (size_t alignment = 1; alignment <= 4 * MiB; alignment <<= 1) {
		static const size_t sizes[] = {1, 24, 1000, 100000};
		for (size_t i = 0; i < 4; i++) {
			void *p = vmem_aligned_alloc(vmp, alignment, sizes[i]);
			if (p == NULL)
				fail_msg("alignment %zu size %zu: %s", alignment, sizes[i], vmem_errormsg());
			assert_int_equal((uintptr_t)p % alignment, 0);
			assert_true(vmem_malloc_usable_size(vmp, p) >= sizes[i]);
			memset(p, 0x11, sizes[i]);
			vmem_free(vmp, p);
		}
	}
	/* a quarter of the pool in a fresh pool */
	void *quarter = vmem_aligned_alloc(vmp, 8 * MiB, 100);
	assert_non_null(quarter);
	assert_int_equal((uintptr_t)quarter % (8 * MiB), 0);
	vmem_free(vmp, quarter);
	static const size_t bad[] = {0, 3, 24, 4097};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_null(vmem_aligned_alloc(vmp, bad[i], 64));
		assert_int_equal(errno, EINVAL);
		assert_non_null(strstr(vmem_errormsg(), "invalid alignment"));
	}
	/* an alignment no address of the pool has */
	uintptr_t base = (uintptr_t)vmp, end = base + 32 * MiB;
	size_t impossible = 64 * MiB;
	while ((base + impossible - 1) / impossible * impossible < end)
		impossible <<= 1;
	errno = 0;
	assert_null(vmem_aligned_alloc(vmp, impossible, 100));
	assert_int_equal(errno, ENOMEM);
}

static void string_copies(void **state)
{
	VMEM *vmp = pool(state);
	char *s = vmem_strdup(vmp, "volatile pools");
	assert_string_equal(s, "volatile pools");
	char *empty = vmem_strdup(vmp, "");
	assert_string_equal(empty, "");
	wchar_t *w = vmem_wcsdup(vmp, L"wide \u00e9t\u00e9");
	assert_int_equal(wcscmp(w, L"wide \u00e9t\u00e9"), 0);
	assert_true(vmem_malloc_usable_size(vmp, w) >= (wcslen(w) + 1) * sizeof(wchar_t));
	vmem_free(vmp, s);
	vmem_free(vmp, empty);
	vmem_free(vmp, w);
	errno = 0;
	assert_null(vmem_strdup(vmp, NULL));
	assert_int_equal(errno, EINVAL);
}

static void bad_pointers_are_refused(void **state)
{
	VMEM *vmp = pool(state);
	int on_stack = 0;
	errno = 0;
	vmem_free(vmp, &on_stack);
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(vmem_errormsg(), "is not a block of pool"));
	errno = 0;
	assert_int_equal(vmem_malloc_usable_size(vmp, &on_stack), 0);
	assert_int_equal(errno, EINVAL);
	char *large = vmem_malloc(vmp, 200000);
	errno = 0;
	vmem_free(vmp, large + 64); /* inside a large block, not its start */
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(vmem_realloc(vmp, large + 64, 10));
	assert_int_equal(errno, EINVAL);
	vmem_free(vmp, large);
	/* a NULL handle */
	errno = 0;
	assert_null(vmem_malloc(NULL, 10));
	assert_int_equal(errno, EINVAL);
	assert_string_equal(vmem_errormsg(), "invalid (NULL) pool handle");
}

static void interior_pointers_of_large_blocks_over_old_pages(void **state)
{
	VMEM *vmp = pool(state);
	/* small and medium pages of several slices come and go, then large
	 * blocks take their slices: no pointer into a large block but its
	 * start may pass for a block */
	void *medium[80], *small[400];
	for (int i = 0; i < 80; i++)
		medium[i] = vmem_malloc(vmp, 20000);
	for (int i = 0; i < 400; i++)
		small[i] = vmem_malloc(vmp, 2000);
	for (int i = 0; i < 80; i++)
		vmem_free(vmp, medium[i]);
	for (int i = 0; i < 400; i++)
		vmem_free(vmp, small[i]);
	char *large[4];
	for (int i = 0; i < 4; i++)
		large[i] = vmem_malloc(vmp, 1 * MiB + 100);
	for (int i = 0; i < 4; i++) {
		for (size_t offset = 16 * 1024; offset < 1 * MiB; offset += 16 * 1024) {
			errno = 0;
			assert_int_equal(vmem_malloc_usable_size(vmp, large[i] + offset + 8), 0);
			assert_int_equal(errno, EINVAL);
		}
		vmem_free(vmp, large[i]);
	}
}

static void out_of_memory_then_reusable(void **state)
{
	VMEM *vmp = pool(state);
	enum { MAX = 1 << 20 };
	void **blocks = malloc(MAX * sizeof(void *));
	size_t sizes[] = {48, 3000, 40000, 300000};
	for (size_t s = 0; s < 4; s++) {
		size_t n = 0;
		errno = 0;
		while (n < MAX && (blocks[n] = vmem_malloc(vmp, sizes[s])) != NULL)
			n++;
		assert_int_equal(errno, ENOMEM);
		assert_non_null(strstr(vmem_errormsg(), "out of memory"));
		assert_true(n > 0);
		for (size_t i = 0; i < n; i++)
			vmem_free(vmp, blocks[i]);
		/* everything is back: the same count fits again */
		size_t again = 0;
		while (again < n && (blocks[again] = vmem_malloc(vmp, sizes[s])) != NULL)
			again++;
		assert_int_equal(again, n);
		for (size_t i = 0; i < again; i++)
			vmem_free(vmp, blocks[i]);
	}
	/* and the whole pool serves one big block after all that */
	void *big = vmem_malloc(vmp, 16 * MiB);
	assert_non_null(big);
	vmem_free(vmp, big);
	free(blocks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(malloc_zero_is_unique_and_freeable),
	    BOTH(every_result_is_aligned_and_big_enough),
	    BOTH(free_null_is_a_no_op),
	    BOTH(calloc_zeroes_and_checks_overflow),
	    BOTH(realloc_edges),
	    BOTH(aligned_alloc_every_power_of_two),
	    BOTH(string_copies),
	    BOTH(bad_pointers_are_refused),
	    BOTH(interior_pointers_of_large_blocks_over_old_pages),
	    BOTH(out_of_memory_then_reusable),
	};
	return cmocka_run_group_tests_name("allocation semantics", tests, NULL, NULL);
}
