// SPDX-License-Identifier: BSD-3-Clause
// alloc.hpp -- allocation in a pool, by handle: the operations behind vmem_malloc and friends.
//
// malloc and free of small blocks have inline fast paths here: a handful of
// loads and stores, no lock, no atomic read-modify-write.  Everything else
// (other sizes, first use of a pool by a thread, remote frees, pages that
// fill up or empty, Valgrind, bad pointers) takes the out-of-line paths in
// alloc.cpp.  Each operation reports failure through VMEM_FAIL (errno plus
// message) and changes nothing when it fails.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/heap.hpp"
#include "core/layout.hpp"
#include "core/thread_cache.hpp"
#include "platform/os.hpp"
#include "util/checked_build.hpp"

namespace vmem::core {

void *pool_malloc_slow(uintptr_t handle, size_t size) noexcept;
void pool_free_slow(uintptr_t handle, void *block) noexcept;
void *pool_calloc(uintptr_t handle, size_t count, size_t size) noexcept;
void *pool_realloc(uintptr_t handle, void *block, size_t size) noexcept;
// `alignment` is a power of two (the caller checked).
void *pool_aligned_alloc(uintptr_t handle, size_t alignment, size_t size) noexcept;
size_t pool_usable_size(uintptr_t handle, const void *block) noexcept;

inline PoolHeader *header_of(uintptr_t handle) noexcept
{
	return header_of_handle(handle, os::page_size());
}

// Fast path: the calling thread's most recent pool, a size served through
// the direct array, a page with a free block.  Under Valgrind the direct
// array holds only the empty page, so every call takes the slow path,
// which reports blocks to memcheck.  The checked build always takes the
// slow path, which clears the block's free mark.
inline void *pool_malloc(uintptr_t handle, size_t size) noexcept
{
	if constexpr (kCheckedBuild)
		return pool_malloc_slow(handle, size);
	ThreadCache &cache = t_cache;
	if (__builtin_expect(mru_is(cache, handle) && size <= kDirectMax, true)) {
		// malloc(0) lands on direct[0], which serves the 8-byte class
		SliceDescriptor *page = cache.mru_heap->direct[(size + 7) >> 3];
		FreeBlock *block = page->free;
		if (__builtin_expect(block != nullptr, true)) {
			page->free = block->next;
			page->used++;
			return block;
		}
	}
	return pool_malloc_slow(handle, size);
}

// Fast path: a block of a small or medium page this thread owns, whose
// page neither empties nor leaves the full queue.  The checked build
// always takes the slow path, which validates the handle and the block.
inline void pool_free(uintptr_t handle, void *block) noexcept
{
	if constexpr (kCheckedBuild)
		return pool_free_slow(handle, block);
	PoolState *state = state_of(header_of(handle));
	uint64_t slice = (address_of(block) - state->slice_origin) >> kSliceShift;
	// one unsigned compare covers both ends of [first_slice, end_slice)
	if (__builtin_expect(slice - state->first_slice < uint64_t{state->end_slice - state->first_slice},
			     true) &&
	    __builtin_expect(state->segment_states[slice / kSlicesPerSegment] & kSegmentFastFree, true)) {
		SliceDescriptor *page = span_head(state, slice);
		uint32_t me = t_cache.thread_number;
		// The page must not empty (unless it is the current page of
		// its class, which stays) nor have to leave the full queue:
		// either needs the heap, so the slow path.
		if (__builtin_expect(page->kind == SliceKind::page && me != 0 &&
					 page->owner_thread.load(std::memory_order_relaxed) == me &&
					 !(page->flags & kPageInFull) &&
					 (page->used > 1 || (page->flags & kPageCurrent)),
				     true)) {
			auto *free_block = static_cast<FreeBlock *>(block);
			free_block->next = page->free;
			page->free = free_block;
			page->flags &= static_cast<uint8_t>(~kPageFreshZero);
			page->used--;
			return;
		}
	}
	pool_free_slow(handle, block);
}

} // namespace vmem::core
