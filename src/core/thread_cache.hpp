// SPDX-License-Identifier: BSD-3-Clause
// thread_cache.hpp -- which heap the calling thread uses in a pool: the MRU pair, then slots.
//
// Each thread remembers its most recently used {pool, heap} pair, valid
// while no pool has been removed since it was made (so neither a deleted
// pool nor a new pool at the same address is taken for it, and the check
// reads nothing through the handle), an array of slots indexed by pool id,
// checked against the directory's generation, and the ids of the handles it looked up lately,
// so that moving between pools costs no directory walk.  A thread keeps at
// most kMaxHeapsPerThread heaps; past that the least recently used one is
// abandoned, and at thread exit all of them are.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/heap.hpp"
#include "core/layout.hpp"
#include "core/pool_directory.hpp"
#include "core/pool_header.hpp"

namespace vmem::core {

inline constexpr uint32_t kMaxHeapsPerThread = 64;

struct HeapSlot {
	uint64_t generation; // the pool's directory generation when the heap was made
	ThreadHeap *heap;    // nullptr: none
	PoolState *state;
	uint64_t last_use;
	uintptr_t handle;
};

// A pool the thread switched to, its id, and the directory's removal count
// then: while no pool has been removed since, the pool is still live and
// slot `id` holds its heap (a slot loses its heap only through drop_slot,
// which clears the pool's entries, or when its pool goes, which is a
// removal).
struct RecentPool {
	uintptr_t handle;
	uint64_t removals;
	uint32_t id;
	uint32_t unused;
};
inline constexpr uint32_t kRecentPools = 256; // two-way sets of two entries

struct ThreadCache {
	uintptr_t mru_pool;    // handle of the pool used last
	uint64_t mru_removals; // the directory's removal count when it was found live
	ThreadHeap *mru_heap;
	PoolState *mru_state;
	uint32_t thread_number; // 0 until the thread first needs a heap
	uint32_t slot_capacity;
	HeapSlot *slots; // indexed by pool id, in bookkeeping memory
	uint32_t live_heaps;
	uint64_t clock;
	bool exit_hook_armed;
	// Made when the thread uses a second pool, in bookkeeping memory: a
	// thread switching between pools finds its heap here without walking
	// the directory or reading the pool's header (pools' headers share
	// cache sets).
	RecentPool *recent;
};

// constinit: zero-initialized, so no access needs to call a TLS init function first
extern constinit thread_local ThreadCache t_cache __attribute__((tls_model("initial-exec")));

// The calling thread's heap in the pool `handle` (whose header is
// `header`), made on first use.  nullptr with errno and message set when
// the handle is not a live pool (EINVAL) or no heap can be made (ENOMEM).
ThreadHeap *thread_heap_slow(uintptr_t handle, PoolHeader *header) noexcept;

// Whether `handle` is the thread's MRU pool and still live: one load of
// the removal count, which sits on a cache line of its own.
inline bool mru_is(const ThreadCache &cache, uintptr_t handle) noexcept
{
	return cache.mru_pool == handle && cache.mru_removals == directory::removals();
}

// The first of the two entries of the table of recent pools where
// `handle` may be.
inline RecentPool *recent_pair(RecentPool *table, uintptr_t handle) noexcept
{
	// pools start on page boundaries; multiplying spreads the page number
	size_t set = ((handle >> 12) * 0x9e3779b97f4a7c15u) >> 57; // 128 sets
	return &table[set * 2];
}

// Makes slot `id`, the thread's heap in `handle`, the most recently used
// pair and returns its heap; `removals` is the directory's removal count
// read before `handle` was last found live.
inline ThreadHeap *use_slot(ThreadCache &cache, uint32_t id, uintptr_t handle, uint64_t removals) noexcept
{
	HeapSlot &slot = cache.slots[id];
	slot.last_use = ++cache.clock;
	cache.mru_pool = handle;
	cache.mru_removals = removals;
	cache.mru_heap = slot.heap;
	cache.mru_state = slot.state;
	return slot.heap;
}

// The thread's heap in `handle` from the table of recent pools, made the
// MRU pair; nullptr when it is not there.
inline ThreadHeap *recent_heap(ThreadCache &cache, uintptr_t handle) noexcept
{
	if (cache.recent == nullptr)
		return nullptr;
	RecentPool *pair = recent_pair(cache.recent, handle);
	uint64_t removals = directory::removals();
	for (int way = 0; way < 2; way++)
		if (pair[way].handle == handle && pair[way].removals == removals)
			return use_slot(cache, pair[way].id, handle, removals);
	return nullptr;
}

inline ThreadHeap *thread_heap(uintptr_t handle, PoolHeader *header) noexcept
{
	ThreadCache &cache = t_cache;
	if (__builtin_expect(mru_is(cache, handle), true))
		return cache.mru_heap;
	if (ThreadHeap *heap = recent_heap(cache, handle))
		return heap;
	return thread_heap_slow(handle, header);
}

// The calling thread's heap in the pool if it has one already (no heap is
// made), for batching remote frees.
inline ThreadHeap *existing_thread_heap(uintptr_t handle) noexcept
{
	ThreadCache &cache = t_cache;
	return mru_is(cache, handle) ? cache.mru_heap : nullptr;
}

inline uint32_t current_thread_number() noexcept
{
	return t_cache.thread_number;
}

} // namespace vmem::core
