// SPDX-License-Identifier: BSD-3-Clause
// thread_cache.hpp -- which heap the calling thread uses in a pool: the MRU pair, then slots.
//
// Each thread remembers its most recently used {pool, heap} pair, checked
// against the pool's random cookie (a new pool at the same address has
// another), and an array of slots indexed by pool id, checked against the
// directory's generation.  A thread keeps at most kMaxHeapsPerThread
// heaps; past that the least recently used one is abandoned, and at thread
// exit all of them are.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/heap.hpp"
#include "core/layout.hpp"
#include "core/pool_header.hpp"

namespace vmem::core {

inline constexpr uint32_t kMaxHeapsPerThread = 64;

struct HeapSlot {
	uint64_t generation; // the pool's directory generation when the heap was made
	uint64_t cookie;
	ThreadHeap *heap; // nullptr: none
	PoolState *state;
	uint64_t last_use;
};

struct ThreadCache {
	uintptr_t mru_pool; // handle of the pool used last
	const PoolHeader *mru_header;
	uint64_t mru_cookie;
	ThreadHeap *mru_heap;
	PoolState *mru_state;
	uint32_t thread_number; // 0 until the thread first needs a heap
	uint32_t slot_capacity;
	HeapSlot *slots; // indexed by pool id, in bookkeeping memory
	uint32_t live_heaps;
	uint64_t clock;
	bool exit_hook_armed;
};

extern thread_local ThreadCache t_cache __attribute__((tls_model("initial-exec")));

// The calling thread's heap in the pool `handle` (whose header is
// `header`), made on first use.  nullptr with errno and message set when
// the handle is not a live pool (EINVAL) or no heap can be made (ENOMEM).
ThreadHeap *thread_heap_slow(uintptr_t handle, PoolHeader *header) noexcept;

inline ThreadHeap *thread_heap(uintptr_t handle, PoolHeader *header) noexcept
{
	ThreadCache &cache = t_cache;
	if (__builtin_expect(cache.mru_pool == handle && header->cookie == cache.mru_cookie, true))
		return cache.mru_heap;
	return thread_heap_slow(handle, header);
}

// The calling thread's heap in the pool if it has one already (no heap is
// made), for batching remote frees.
inline ThreadHeap *existing_thread_heap(uintptr_t handle, PoolHeader *header) noexcept
{
	ThreadCache &cache = t_cache;
	return cache.mru_pool == handle && header->cookie == cache.mru_cookie ? cache.mru_heap : nullptr;
}

inline uint32_t current_thread_number() noexcept
{
	return t_cache.thread_number;
}

} // namespace vmem::core
