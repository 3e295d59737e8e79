/* SPDX-License-Identifier: BSD-3-Clause */
/* test_alloc_threads.c -- many threads allocating, freeing and handing blocks to each other. */
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

#include <cmocka.h>
#include <libvmem.h>

#include "test_helpers.h"

/* Every block starts with who it is, so any thread can verify and free it. */
struct block_header {
	VMEM *pool;
	uint64_t seed;
	size_t size;
};

static void *make_block(VMEM *vmp, size_t size, uint64_t seed)
{
	struct block_header *h = vmem_malloc(vmp, size);
	if (h == NULL)
		return NULL;
	h->pool = vmp;
	h->seed = seed;
	h->size = size;
	fill_pattern(h + 1, size - sizeof(*h), seed);
	return h;
}

/* Checks the block's contents and frees it; false if they were damaged. */
static bool verify_and_free(struct block_header *h)
{
	bool intact = check_pattern(h + 1, h->size - sizeof(*h), h->seed);
	vmem_free(h->pool, h);
	return intact;
}

enum { THREADS = 8, EXCHANGE_SLOTS = 256 };
static _Atomic(struct block_header *) exchange[EXCHANGE_SLOTS];

struct churn_worker {
	pthread_t thread;
	VMEM *pool;
	uint64_t rng;
	long operations;
	long damaged;
	long failed;
};

/* Random sizes, mostly small, sometimes medium or large; a third of the
 * frees go through the exchange, so another thread frees the block. */
static void *churn(void *arg)
{
	struct churn_worker *w = arg;
	enum { LIVE = 512 };
	struct block_header *live[LIVE] = {0};
	for (long op = 0; op < w->operations; op++) {
		uint64_t r = next_random(&w->rng);
		unsigned i = (unsigned)(r % LIVE);
		if (live[i] != NULL) {
			if ((r >> 20) % 3 == 0) {
				_Atomic(struct block_header *) *slot = &exchange[(r >> 32) % EXCHANGE_SLOTS];
				test_hand_over(slot);
				struct block_header *got = atomic_exchange(slot, live[i]);
				test_take_over(slot);
				if (got != NULL && !verify_and_free(got))
					w->damaged++;
			} else if (!verify_and_free(live[i])) {
				w->damaged++;
			}
			live[i] = NULL;
			continue;
		}
		size_t size = sizeof(struct block_header) + 1 + (r >> 40) % 512;
		if ((r >> 12) % 64 == 0)
			size += (r >> 24) % 16000;
		if ((r >> 12) % 1024 == 1)
			size += 65536 + (r >> 24) % 300000;
		live[i] = make_block(w->pool, size, r);
		if (live[i] == NULL)
			w->failed++;
	}
	for (unsigned i = 0; i < LIVE; i++) {
		if (live[i] != NULL && !verify_and_free(live[i]))
			w->damaged++;
	}
	return NULL;
}

static void run_churn(VMEM **pools, size_t pool_count, long operations)
{
	struct churn_worker workers[THREADS];
	for (int t = 0; t < THREADS; t++) {
		workers[t] = (struct churn_worker){.pool = pools[t % pool_count],
						   .rng = 0x9e3779b97f4a7c15ULL * (t + 1),
						   .operations = operations};
		assert_int_equal(pthread_create(&workers[t].thread, NULL, churn, &workers[t]), 0);
	}
	long damaged = 0, failed = 0;
	for (int t = 0; t < THREADS; t++) {
		pthread_join(workers[t].thread, NULL);
		damaged += workers[t].damaged;
		failed += workers[t].failed;
	}
	for (int s = 0; s < EXCHANGE_SLOTS; s++) {
		struct block_header *left = atomic_exchange(&exchange[s], NULL);
		if (left != NULL && !verify_and_free(left))
			damaged++;
	}
	assert_int_equal(damaged, 0);
	assert_int_equal(failed, 0);
}

/* Valgrind runs the threads one at a time, some fifty times slower: an
 * eighth of the operations still takes every path many times over. */
static long scaled(long operations)
{
	return running_under_valgrind() ? operations / 8 : operations;
}

static void single_thread_churn(void **state)
{
	(void)state;
	VMEM *vmp = vmem_create("/tmp", 128 * MiB);
	assert_non_null(vmp);
	struct churn_worker w = {.pool = vmp, .rng = 7, .operations = scaled(400000)};
	churn(&w);
	for (int s = 0; s < EXCHANGE_SLOTS; s++) {
		struct block_header *left = atomic_exchange(&exchange[s], NULL);
		if (left != NULL && !verify_and_free(left))
			w.damaged++;
	}
	assert_int_equal(w.damaged, 0);
	assert_int_equal(w.failed, 0);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
}

static void eight_threads_one_pool(void **state)
{
	(void)state;
	VMEM *vmp = vmem_create("/tmp", 256 * MiB);
	assert_non_null(vmp);
	run_churn(&vmp, 1, scaled(200000));
	/* everything came back: one block of nearly the whole pool fits */
	void *all = vmem_malloc(vmp, 200 * MiB);
	assert_non_null(all);
	vmem_free(vmp, all);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
}

static void eight_threads_own_pools_cross_frees(void **state)
{
	(void)state;
	VMEM *pools[THREADS];
	char *regions = map_region(THREADS * 64 * MiB);
	for (int t = 0; t < THREADS; t++) {
		pools[t] = t % 2 == 0 ? vmem_create("/tmp", 64 * MiB)
				      : vmem_create_in_region(regions + t * 64 * MiB, 64 * MiB);
		assert_non_null(pools[t]);
	}
	run_churn(pools, THREADS, scaled(150000));
	for (int t = 0; t < THREADS; t++) {
		void *all = vmem_malloc(pools[t], 48 * MiB);
		assert_non_null(all);
		vmem_free(pools[t], all);
		assert_int_equal(vmem_check(pools[t]), 1);
		vmem_delete(pools[t]);
	}
	unmap_region(regions, THREADS * 64 * MiB);
}

/* 16 threads, one pool, 32-64 KiB blocks: the traffic that crashes
 * memkind's pmem kinds. */
struct large_worker {
	pthread_t thread;
	VMEM *pool;
	uint64_t rng;
	long pairs;
	long damaged;
	long failed;
};

static void *large_pairs(void *arg)
{
	struct large_worker *w = arg;
	uint64_t *keep[4] = {0};
	for (long i = 0; i < w->pairs; i++) {
		uint64_t r = next_random(&w->rng);
		size_t size = 32768 + (r % 32769);
		uint64_t *block = vmem_malloc(w->pool, size);
		if (block == NULL) {
			w->failed++;
			continue;
		}
		size_t words = size / 8;
		block[0] = r;
		block[words / 2] = ~r;
		block[words - 1] = r ^ size;
		/* hold a few for a while, so blocks do not simply bounce */
		unsigned k = (unsigned)(r >> 60) % 4;
		uint64_t *old = keep[k];
		keep[k] = block;
		block = old;
		if (block == NULL)
			continue;
		size_t old_size = vmem_malloc_usable_size(w->pool, block);
		(void)old_size;
		uint64_t seed = block[0];
		size_t old_words = (32768 + (seed % 32769)) / 8;
		if (block[old_words / 2] != ~seed ||
		    block[old_words - 1] != (seed ^ (32768 + (seed % 32769))))
			w->damaged++;
		vmem_free(w->pool, block);
	}
	for (unsigned k = 0; k < 4; k++)
		vmem_free(w->pool, keep[k]);
	return NULL;
}

static void sixteen_threads_medium_blocks(void **state)
{
	(void)state;
	enum { N = 16 };
	long pairs = scaled(getenv("VMEM_TEST_QUICK") != NULL ? 100000 : 1000000);
	VMEM *vmp = vmem_create("/tmp", 256 * MiB);
	assert_non_null(vmp);
	struct large_worker workers[N];
	for (int t = 0; t < N; t++) {
		workers[t] = (struct large_worker){.pool = vmp, .rng = 1234567 + t, .pairs = pairs};
		assert_int_equal(pthread_create(&workers[t].thread, NULL, large_pairs, &workers[t]), 0);
	}
	long damaged = 0, failed = 0;
	for (int t = 0; t < N; t++) {
		pthread_join(workers[t].thread, NULL);
		damaged += workers[t].damaged;
		failed += workers[t].failed;
	}
	assert_int_equal(damaged, 0);
	assert_int_equal(failed, 0);
	void *all = vmem_malloc(vmp, 200 * MiB);
	assert_non_null(all);
	vmem_free(vmp, all);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(single_thread_churn),
	    cmocka_unit_test(eight_threads_one_pool),
	    cmocka_unit_test(eight_threads_own_pools_cross_frees),
	    cmocka_unit_test(sixteen_threads_medium_blocks),
	};
	return cmocka_run_group_tests_name("threads", tests, NULL, NULL);
}
