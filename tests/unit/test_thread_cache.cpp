// SPDX-License-Identifier: BSD-3-Clause
// test_thread_cache.cpp -- per-thread heap slots: bounded, stale-safe, given back at thread exit.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <pthread.h>
#include <sys/mman.h>
#include <vector>

#include "cmocka_cxx.hpp"
#include "pool_internals.hpp"
#include "core/layout.hpp"
#include "core/span_allocator.hpp"
#include "core/thread_cache.hpp"
#include "libvmem.h"
#include "platform/os.hpp"
#include "util/bits.hpp"

using namespace vmem;
using namespace vmem::core;

namespace {

constexpr size_t kPoolSize = VMEM_MIN_POOL;

char *map_pools(size_t count)
{
	void *p = mmap(nullptr, count * kPoolSize, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? nullptr : static_cast<char *>(p);
}

void thousand_pools_in_turn_keep_heaps_bounded(void **)
{
	// VMEM_TEST_QUICK (for Valgrind's tools): still far more pools than
	// a thread keeps heaps for
	const size_t kPools = std::getenv("VMEM_TEST_QUICK") != nullptr ? 4 * kMaxHeapsPerThread : 1000;
	char *regions = map_pools(kPools);
	assert_non_null(regions);
	std::vector<VMEM *> pools(kPools);
	for (size_t i = 0; i < kPools; i++) {
		pools[i] = vmem_create_in_region(regions + i * kPoolSize, kPoolSize);
		assert_non_null(pools[i]);
	}
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < kPools; i++) {
			void *p = vmem_malloc(pools[i], 100);
			assert_non_null(p);
			vmem_free(pools[i], p);
			assert_true(t_cache.live_heaps <= kMaxHeapsPerThread);
		}
	}
	assert_int_equal(t_cache.live_heaps, kMaxHeapsPerThread);
	// the recent-pool table names only heaps the thread still has
	assert_non_null(t_cache.recent);
	for (uint32_t i = 0; i < kRecentPools; i++) {
		const RecentPool &entry = t_cache.recent[i];
		if (entry.handle != 0) {
			assert_non_null(t_cache.slots[entry.id].heap);
			assert_int_equal(t_cache.slots[entry.id].handle, entry.handle);
		}
	}
	// an abandoned heap's pool is whole again: its empty page went back
	// (the heap itself lives in the gap before the first slice)
	uint64_t free_slices = spans::free_slices(state_of_pool(pools[0]));
	PoolState *state = state_of_pool(pools[0]);
	assert_true(state->head_heap_count > 0);
	assert_int_equal(free_slices, state->end_slice - state->first_slice);
	for (size_t i = 0; i < kPools; i++) {
		assert_int_equal(vmem_check(pools[i]), 1);
		vmem_delete(pools[i]);
	}
	munmap(regions, kPools * kPoolSize);
}

// A thread switching among pools finds them in its recent-pool table; a
// pool deleted and made again at the same address must get a heap of its
// own, not the old pool's from the table.
void recent_pools_follow_delete_and_recreate(void **)
{
	char *regions = map_pools(3);
	assert_non_null(regions);
	VMEM *pools[3];
	for (int i = 0; i < 3; i++) {
		pools[i] = vmem_create_in_region(regions + i * kPoolSize, kPoolSize);
		assert_non_null(pools[i]);
	}
	for (int round = 0; round < 4; round++)
		for (VMEM *pool : pools)
			vmem_free(pool, vmem_malloc(pool, 48));
	assert_non_null(t_cache.recent);
	vmem_delete(pools[2]);
	pools[2] = vmem_create_in_region(regions + 2 * kPoolSize, kPoolSize);
	assert_non_null(pools[2]);
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 3; i++) {
			char *p = static_cast<char *>(vmem_malloc(pools[i], 48));
			assert_non_null(p);
			assert_true(p >= regions + i * kPoolSize && p < regions + (i + 1) * kPoolSize);
			if (i == 2) {
				// a heap made for the new pool (likely at the very
				// address of the old one's): it carries the new cookie
				assert_int_equal(
				    t_cache.mru_heap->pool_cookie,
				    header_of_handle(address_of(pools[2]), os::page_size())->cookie);
			}
			vmem_free(pools[i], p);
		}
	}
	for (VMEM *pool : pools) {
		assert_int_equal(vmem_check(pool), 1);
		vmem_delete(pool);
	}
	munmap(regions, 3 * kPoolSize);
}

struct StaleState {
	VMEM *pool;
	char *region;
	pthread_barrier_t *barrier;
	bool ok;
};

void *use_pool_across_recreation(void *arg)
{
	auto *s = static_cast<StaleState *>(arg);
	void *p = vmem_malloc(s->pool, 64); // the slot now names this pool
	vmem_free(s->pool, p);
	pthread_barrier_wait(s->barrier); // main deletes it and creates another here
	pthread_barrier_wait(s->barrier);
	// same address, new pool: the stale slot must not be used
	void *q = vmem_malloc(s->pool, 64);
	s->ok = q != nullptr && span_of(state_of_pool(s->pool), address_of(q)) != nullptr;
	std::memset(q, 1, 64);
	vmem_free(s->pool, q);
	return nullptr;
}

void stale_slots_after_delete_are_harmless(void **)
{
	char *region = map_pools(1);
	pthread_barrier_t barrier;
	pthread_barrier_init(&barrier, nullptr, 2);
	StaleState s{vmem_create_in_region(region, kPoolSize), region, &barrier, false};
	pthread_t thread;
	pthread_create(&thread, nullptr, use_pool_across_recreation, &s);
	pthread_barrier_wait(&barrier);
	vmem_delete(s.pool);
	VMEM *again = vmem_create_in_region(region, kPoolSize);
	assert_ptr_equal(again, s.pool);
	pthread_barrier_wait(&barrier);
	pthread_join(thread, nullptr);
	assert_true(s.ok);
	// the new pool is whole: the thread's heap went away when it exited
	// and took its pages with it
	void *big = vmem_malloc(again, 13 * MiB);
	assert_non_null(big);
	vmem_free(again, big);
	assert_int_equal(vmem_check(again), 1);
	vmem_delete(again);
	pthread_barrier_destroy(&barrier);
	munmap(region, kPoolSize);
}

void *allocate_and_leave(void *arg)
{
	auto *vmp = static_cast<VMEM *>(arg);
	// blocks left live: their pages are abandoned at exit, not lost
	for (int i = 0; i < 1000; i++)
		vmem_malloc(vmp, 128);
	return nullptr;
}

void thread_exit_abandons_pages_for_others(void **)
{
	VMEM *vmp = vmem_create("/tmp", kPoolSize);
	PoolState *state = state_of_pool(vmp);
	for (int i = 0; i < 20; i++) {
		pthread_t thread;
		pthread_create(&thread, nullptr, allocate_and_leave, vmp);
		pthread_join(thread, nullptr);
	}
	// every exited thread's pages sit on the abandoned queue of the class
	unsigned cls = size_class_of(128);
	uint32_t abandoned = 0;
	for (uint32_t s = state->abandoned[cls].first; s != 0; s = state->descriptors[s].next)
		abandoned++;
	assert_true(abandoned >= 1);
	// and this thread's heap takes them over instead of new pages
	uint64_t free_before = spans::free_slices(state);
	for (int i = 0; i < 100; i++)
		vmem_malloc(vmp, 128);
	assert_true(spans::free_slices(state) >= free_before - 1); // at most its heap slab
	assert_int_equal(vmem_check(vmp), 1);			   // abandoned and reclaimed pages included
	vmem_delete(vmp);
}

struct CrowdState {
	VMEM *pool;
	pthread_barrier_t *barrier;
	std::atomic<int> failures{0};
};

void *hold_a_heap(void *arg)
{
	auto *s = static_cast<CrowdState *>(arg);
	void *p = vmem_malloc(s->pool, 100);
	if (p == nullptr)
		s->failures++;
	pthread_barrier_wait(s->barrier); // every thread's heap is live at once
	vmem_free(s->pool, p);
	return nullptr;
}

void more_threads_than_the_head_holds(void **)
{
	constexpr int kThreads = 60;
	VMEM *vmp = vmem_create("/tmp", kPoolSize);
	PoolState *state = state_of_pool(vmp);
	assert_true(state->head_heap_count < kThreads);
	pthread_barrier_t barrier;
	pthread_barrier_init(&barrier, nullptr, kThreads);
	CrowdState s{vmp, &barrier};
	pthread_t threads[kThreads];
	for (auto &t : threads)
		pthread_create(&t, nullptr, hold_a_heap, &s);
	for (auto &t : threads)
		pthread_join(t, nullptr);
	assert_int_equal(s.failures.load(), 0);
	assert_true(state->heap_slab_count >= 1); // the rest came from a slab
	assert_true(state->heap_capacity >= static_cast<uint32_t>(kThreads));
	pthread_barrier_destroy(&barrier);
	assert_int_equal(vmem_check(vmp), 1); // heap slabs and the unused-slot chain included
	vmem_delete(vmp);
}

} // namespace

int main()
{
	const CMUnitTest tests[] = {
	    cmocka_unit_test(thousand_pools_in_turn_keep_heaps_bounded),
	    cmocka_unit_test(stale_slots_after_delete_are_harmless),
	    cmocka_unit_test(recent_pools_follow_delete_and_recreate),
	    cmocka_unit_test(thread_exit_abandons_pages_for_others),
	    cmocka_unit_test(more_threads_than_the_head_holds),
	};
	return cmocka_run_group_tests_name("thread heap slots", tests, nullptr, nullptr);
}
