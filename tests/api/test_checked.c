/* SPDX-License-Identifier: BSD-3-Clause */
/* test_checked.c -- the checked build (--enable-checked): every double free and non-block free refused and
 * logged. */
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

/* ------------------------------------------------------------ the log */

/* What the library printed through vmem_set_funcs' print function. */
static char g_log[1 << 16];
static size_t g_log_used;
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;

static void capture_log(const char *text)
{
	pthread_mutex_lock(&g_log_lock);
	size_t len = strlen(text);
	if (g_log_used + len < sizeof(g_log)) {
		memcpy(g_log + g_log_used, text, len + 1);
		g_log_used += len;
	}
	pthread_mutex_unlock(&g_log_lock);
}

static void clear_log(void)
{
	g_log_used = 0;
	g_log[0] = '\0';
}

/* Lines of the captured log that contain `text`. */
static int log_lines_with(const char *text)
{
	int lines = 0;
	for (const char *at = g_log; (at = strstr(at, text)) != NULL; at += strlen(text))
		lines++;
	return lines;
}

/* ------------------------------------------------------------ pools */

/* Each case runs on a file pool and on a region pool. */
struct pools {
	char *dir;
	void *region;
	VMEM *pool[2];
};
#define kRegionSize (32 * MiB)

static int setup_pools(void **state)
{
	struct pools *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -1;
	p->dir = make_test_dir();
	p->region = map_region(kRegionSize);
	p->pool[0] = p->dir != NULL ? vmem_create(p->dir, 32 * MiB) : NULL;
	p->pool[1] = p->region != NULL ? vmem_create_in_region(p->region, kRegionSize) : NULL;
	vmem_set_funcs(NULL, NULL, NULL, NULL, capture_log);
	clear_log();
	*state = p;
	return p->pool[0] != NULL && p->pool[1] != NULL ? 0 : -1;
}

static int teardown_pools(void **state)
{
	struct pools *p = *state;
	vmem_set_funcs(NULL, NULL, NULL, NULL, NULL);
	for (int i = 0; i < 2; i++)
		if (p->pool[i] != NULL)
			vmem_delete(p->pool[i]);
	if (p->region != NULL)
		unmap_region(p->region, kRegionSize);
	if (p->dir != NULL)
		remove_test_dir(p->dir);
	free(p);
	return 0;
}

static size_t live_allocations(VMEM *vmp)
{
	struct vmem_stats st;
	assert_int_equal(vmem_stats_get(vmp, &st, sizeof(st)), 0);
	return st.allocations;
}

/* Asserts that the last call was refused with EINVAL and a message
 * containing `text`, logged once at level 1 although VMEM_LOG_LEVEL is 0. */
static void assert_refused(const char *text, int *logged)
{
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(vmem_errormsg(), text));
	(*logged)++;
	assert_int_equal(log_lines_with("<libvmem>: <1>"), *logged);
	assert_non_null(strstr(g_log, vmem_errormsg()));
}

/* Allocates `count` blocks of `size` and asserts that none is one of
 * `taken` (blocks still live) nor returned twice; frees them again. */
static void assert_fresh_blocks(VMEM *vmp, size_t size, void *const *taken, int taken_count)
{
	enum { most = 64 };
	void *fresh[most];
	int count = size > 65536 ? 4 : most; /* the pools hold 32 MiB */
	for (int i = 0; i < count; i++) {
		fresh[i] = vmem_malloc(vmp, size);
		assert_non_null(fresh[i]);
		for (int j = 0; j < taken_count; j++)
			assert_ptr_not_equal(fresh[i], taken[j]);
		for (int j = 0; j < i; j++)
			assert_ptr_not_equal(fresh[i], fresh[j]);
	}
	for (int i = 0; i < count; i++)
		vmem_free(vmp, fresh[i]);
}

/* ------------------------------------------------------------ cases */

static const size_t kSizes[] = {0, 1, 8, 9, 16, 24, 100, 1024, 1500, 8192, 9000, 65536, 65537, 1 << 20};
#define kSizeCount (sizeof(kSizes) / sizeof(kSizes[0]))

/* A second free of any block, through its pool or a NULL pool, is refused:
 * the pool keeps its count, its other blocks and its consistency, and the
 * block is never handed out twice. */
static void double_free_is_refused(void **state)
{
	struct pools *p = *state;
	int logged = 0;
	for (int which = 0; which < 2; which++) {
		VMEM *vmp = p->pool[which];
		for (size_t i = 0; i < kSizeCount; i++) {
			for (int null_pool = 0; null_pool < 2; null_pool++) {
				size_t size = kSizes[i];
				void *neighbour = vmem_malloc(vmp, size);
				void *block = vmem_malloc(vmp, size);
				assert_non_null(neighbour);
				assert_non_null(block);
				fill_pattern(neighbour, size, i);
				size_t before = live_allocations(vmp);
				errno = 0;
				vmem_free(null_pool ? NULL : vmp, block);
				assert_int_equal(errno, 0);
				assert_int_equal(live_allocations(vmp), before - 1);

				vmem_free(null_pool ? NULL : vmp, block);
				/* blocks over 64 KiB are spans, refused in every build */
				assert_refused(size > 65536 ? "is not a block of pool" : "double free of",
					       &logged);
				assert_int_equal(live_allocations(vmp), before - 1);
				assert_int_equal(vmem_check(vmp), 1);
				assert_true(check_pattern(neighbour, size, i));
				assert_fresh_blocks(vmp, size, &neighbour, 1);
				vmem_free(vmp, neighbour);
			}
		}
		assert_int_equal(live_allocations(vmp), 0);
	}
}

/* An address inside a block, or a block the page has not handed out, is
 * no block to free, resize or measure. */
static void non_blocks_are_refused(void **state)
{
	struct pools *p = *state;
	int logged = 0;
	for (int which = 0; which < 2; which++) {
		VMEM *vmp = p->pool[which];
		static const size_t sizes[] = {16, 48, 1000, 2000, 20000};
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			char *block = vmem_malloc(vmp, sizes[i]);
			assert_non_null(block);
			size_t usable = vmem_malloc_usable_size(vmp, block);
			fill_pattern(block, usable, 7);
			size_t before = live_allocations(vmp);
			size_t offsets[] = {1, 8, usable / 2};
			for (size_t k = 0; k < 3; k++) {
				vmem_free(vmp, block + offsets[k]);
				assert_refused("not the start of a block", &logged);
				assert_null(vmem_realloc(vmp, block + offsets[k], 10));
				assert_refused("not the start of a block", &logged);
				assert_int_equal(vmem_malloc_usable_size(vmp, block + offsets[k]), 0);
				assert_refused("not the start of a block", &logged);
			}
			/* the next block of the page: carved and free, or not carved yet */
			vmem_free(vmp, block + usable);
			assert_int_equal(errno, EINVAL);
			assert_true(strstr(vmem_errormsg(), "double free of") != NULL ||
				    strstr(vmem_errormsg(), "not the start of a block") != NULL ||
				    strstr(vmem_errormsg(), "is not a block of pool") != NULL);
			logged++;
			assert_int_equal(live_allocations(vmp), before);
			assert_int_equal(vmem_check(vmp), 1);
			assert_true(check_pattern(block, usable, 7));
			void *taken = block;
			assert_fresh_blocks(vmp, sizes[i], &taken, 1);
			errno = 0;
			vmem_free(vmp, block);
			assert_int_equal(errno, 0);
		}
		assert_int_equal(live_allocations(vmp), 0);
	}
}

/* A freed block cannot be resized or measured: that is a use after free. */
static void freed_blocks_are_not_used(void **state)
{
	struct pools *p = *state;
	int logged = 0;
	for (int which = 0; which < 2; which++) {
		VMEM *vmp = p->pool[which];
		void *keep = vmem_malloc(vmp, 200);
		void *block = vmem_malloc(vmp, 200);
		assert_non_null(keep);
		assert_non_null(block);
		vmem_free(vmp, block);
		assert_null(vmem_realloc(vmp, block, 300));
		assert_refused("is a free block of pool", &logged);
		assert_null(vmem_realloc(NULL, block, 100));
		assert_refused("is a free block of pool", &logged);
		assert_int_equal(vmem_malloc_usable_size(vmp, block), 0);
		assert_refused("is a free block of pool", &logged);
		assert_int_equal(live_allocations(vmp), 1);
		assert_int_equal(vmem_check(vmp), 1);
		/* resizing a live block frees its old place once, and only once */
		void *moved = vmem_realloc(vmp, keep, 5000);
		assert_non_null(moved);
		assert_ptr_not_equal(moved, keep);
		vmem_free(vmp, keep);
		assert_refused("double free of", &logged);
		vmem_free(vmp, moved);
		assert_int_equal(live_allocations(vmp), 0);
	}
}

/* Two threads freeing the same blocks at once: each block is freed by
 * exactly one of them and refused to the other. */
enum { kRaceBlocks = 20000 };
struct race {
	VMEM *vmp;
	void **blocks;
	pthread_barrier_t *start;
	int refused;
	int other_errors; /* counted here: CMocka's asserts belong to the main thread */
};

static void *free_all(void *arg)
{
	struct race *r = arg;
	pthread_barrier_wait(r->start);
	for (int i = 0; i < kRaceBlocks; i++) {
		errno = 0;
		vmem_free(r->vmp, r->blocks[i]);
		if (errno == EINVAL && strstr(vmem_errormsg(), "double free of") != NULL)
			r->refused++;
		else if (errno != 0)
			r->other_errors++;
	}
	return NULL;
}

static void concurrent_double_frees_free_once(void **state)
{
	struct pools *p = *state;
	vmem_set_funcs(NULL, NULL, NULL, NULL, NULL); /* 20,000 log lines are not the point */
	for (int which = 0; which < 2; which++) {
		VMEM *vmp = p->pool[which];
		void **blocks = malloc(kRaceBlocks * sizeof(*blocks));
		assert_non_null(blocks);
		for (int i = 0; i < kRaceBlocks; i++) {
			blocks[i] = vmem_malloc(vmp, 16 + (size_t)(i % 8) * 16);
			assert_non_null(blocks[i]);
		}
		pthread_barrier_t start;
		pthread_barrier_init(&start, NULL, 2);
		struct race racers[2] = {{vmp, blocks, &start, 0, 0}, {vmp, blocks, &start, 0, 0}};
		pthread_t threads[2];
		for (int t = 0; t < 2; t++)
			assert_int_equal(pthread_create(&threads[t], NULL, free_all, &racers[t]), 0);
		for (int t = 0; t < 2; t++)
			assert_int_equal(pthread_join(threads[t], NULL), 0);
		pthread_barrier_destroy(&start);
		assert_int_equal(racers[0].other_errors + racers[1].other_errors, 0);
		assert_int_equal(racers[0].refused + racers[1].refused, kRaceBlocks);
		/* blocks freed into full pages wait in the owner's delayed-free
		 * list, counted live until its next slow path: checked below */
		assert_int_equal(vmem_check(vmp), 1);
		/* every block came back exactly once: as many distinct blocks again */
		for (int i = 0; i < kRaceBlocks; i++) {
			blocks[i] = vmem_malloc(vmp, 16);
			assert_non_null(blocks[i]);
			*(int *)blocks[i] = i;
		}
		for (int i = 0; i < kRaceBlocks; i++)
			assert_int_equal(*(int *)blocks[i], i);
		for (int i = 0; i < kRaceBlocks; i++)
			vmem_free(vmp, blocks[i]);
		assert_int_equal(live_allocations(vmp), 0);
		free(blocks);
	}
	vmem_set_funcs(NULL, NULL, NULL, NULL, capture_log);
}

/* Freeing, resizing or measuring through a deleted file pool's handle is
 * refused before anything reads through it (its mapping is gone). */
static void calls_through_a_deleted_pool_are_refused(void **state)
{
	struct pools *p = *state;
	int logged = 0;
	VMEM *gone = vmem_create(p->dir, VMEM_MIN_POOL);
	assert_non_null(gone);
	void *small = vmem_malloc(gone, 32);
	void *large = vmem_malloc(gone, 1 << 20);
	assert_non_null(small);
	assert_non_null(large);
	vmem_delete(gone);
	void *blocks[] = {small, large};
	for (int i = 0; i < 2; i++) {
		vmem_free(gone, blocks[i]);
		assert_refused("invalid pool handle", &logged);
		assert_null(vmem_realloc(gone, blocks[i], 64));
		assert_refused("invalid pool handle", &logged);
		assert_int_equal(vmem_malloc_usable_size(gone, blocks[i]), 0);
		assert_refused("invalid pool handle", &logged);
		vmem_free(NULL, blocks[i]);
		assert_refused("is in no live pool", &logged);
	}
	assert_null(vmem_malloc(gone, 32));
	assert_refused("invalid pool handle", &logged);
	vmem_delete(gone);
	assert_refused("invalid pool handle", &logged);
}

/* Freeing a block of one pool through another is refused and logged. */
static void wrong_pool_free_is_refused(void **state)
{
	struct pools *p = *state;
	int logged = 0;
	for (int which = 0; which < 2; which++) {
		VMEM *owner = p->pool[which], *other = p->pool[1 - which];
		for (size_t i = 0; i < kSizeCount; i++) {
			void *block = vmem_malloc(owner, kSizes[i]);
			assert_non_null(block);
			vmem_free(other, block);
			assert_refused("is not a block of pool", &logged);
			assert_int_equal(live_allocations(owner), 1);
			assert_int_equal(vmem_check(owner), 1);
			assert_int_equal(vmem_check(other), 1);
			vmem_free(owner, block);
		}
	}
}

/* The smallest block is 16 bytes: the second word holds the free mark. */
static void smallest_block_has_room_for_the_mark(void **state)
{
	struct pools *p = *state;
	for (size_t size = 0; size <= 16; size++) {
		void *block = vmem_malloc(p->pool[0], size);
		assert_non_null(block);
		assert_int_equal(vmem_malloc_usable_size(p->pool[0], block), 16);
		vmem_free(p->pool[0], block);
	}
	void *zeroed = vmem_calloc(p->pool[0], 0, 8);
	assert_non_null(zeroed);
	assert_int_equal(vmem_malloc_usable_size(p->pool[0], zeroed), 16);
	vmem_free(p->pool[0], zeroed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(double_free_is_refused, setup_pools, teardown_pools),
	    cmocka_unit_test_setup_teardown(non_blocks_are_refused, setup_pools, teardown_pools),
	    cmocka_unit_test_setup_teardown(freed_blocks_are_not_used, setup_pools, teardown_pools),
	    cmocka_unit_test_setup_teardown(concurrent_double_frees_free_once, setup_pools, teardown_pools),
	    cmocka_unit_test_setup_teardown(calls_through_a_deleted_pool_are_refused, setup_pools,
					    teardown_pools),
	    cmocka_unit_test_setup_teardown(wrong_pool_free_is_refused, setup_pools, teardown_pools),
	    cmocka_unit_test_setup_teardown(smallest_block_has_room_for_the_mark, setup_pools,
					    teardown_pools),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
