// SPDX-License-Identifier: BSD-3-Clause
// heap.hpp -- thread heaps: one thread's pages in one pool, and the fast paths over them.
//
// A ThreadHeap lives in the pool (in the gap before the first slice, or in
// a heap slab), so the checker can find it.  Only its owner thread touches
// it, except for `delayed_free`, which other threads push onto.  A page
// has two free lists: `free`, where allocation pops and the owner's frees
// push (the block freed last is reused first, while in cache), and
// `thread_free` for other threads' frees, folded in only when `free` runs
// dry.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/layout.hpp"
#include "util/valgrind.hpp"

namespace vmem::core {

// Frees bound for one page of another heap, pushed as one chain (one CAS)
// when a free for another page comes, when it holds kRemoteBatchMax blocks,
// or when the heap takes a slow path.
inline constexpr uint32_t kRemoteBatchMax = 64;
struct RemoteBatch {
	SliceDescriptor *page;
	FreeBlock *head;
	FreeBlock *tail;
	uint32_t count;
};

struct ThreadHeap {
	// The page to allocate a request of n <= kDirectMax bytes from, at
	// direct[(n + 7) / 8]: the current page of n's class, or the empty
	// page when there is none (so the fast path tests only `free`).
	SliceDescriptor *direct[kDirectCount];
	SliceDescriptor *current[kClassCount];
	PageQueue queues[kClassCount];	     // pages with free blocks, or that may have some
	PageQueue full;			     // pages that had none when last looked at
	std::atomic<uintptr_t> delayed_free; // blocks freed by other threads into full pages
	RemoteBatch remote;
	uint32_t owner_thread; // 0: the slot is unused
	uint32_t index;	       // 1-based slot number in the pool's heap table
	uint32_t next_free;    // chain of unused slots
	uint32_t reserved;
	uint64_t pool_cookie;
	uint64_t classes_paged; // bit c: the heap has taken a page of class c (see acquire_page_locked)
};
static_assert(kClassCount <= 64, "ThreadHeap::classes_paged has a bit per class");

// Thread heaps beyond those in the pool's head gap live in slabs of 64 KiB.
inline constexpr uint32_t kHeapSlabSlices = 4;
inline constexpr size_t kHeapSlabBytes = size_t{kHeapSlabSlices} << kSliceShift;
inline constexpr uint32_t kHeapsPerSlab = static_cast<uint32_t>(kHeapSlabBytes / sizeof(ThreadHeap));
static_assert(kHeapsPerSlab >= 16, "a slab holds a useful number of heaps");

// The page every empty direct/current entry points at: it never has a
// free block, so allocating from it always takes the slow path.
extern SliceDescriptor g_empty_page;

// ---------------------------------------------------------------- blocks

// Reads and writes of a free block's link word.  Under Valgrind free
// blocks are inaccessible, so each access opens the word for a moment.
inline FreeBlock *block_next(const FreeBlock *block) noexcept
{
	if (vg::active()) {
		vg::defined(block, sizeof(FreeBlock));
		FreeBlock *next = block->next;
		vg::no_access(block, sizeof(FreeBlock));
		return next;
	}
	return block->next;
}

inline void set_block_next(FreeBlock *block, FreeBlock *next) noexcept
{
	if (vg::active()) {
		vg::undefined(block, sizeof(FreeBlock));
		block->next = next;
		vg::no_access(block, sizeof(FreeBlock));
		return;
	}
	block->next = next;
}

// Pops the first block of a page's free list (which must not be empty)
// and hands it out.
inline void *pop_block(SliceDescriptor *page) noexcept
{
	FreeBlock *block = page->free;
	if (vg::active()) {
		vg::malloc_like(block, page->block_size, false);
		vg::defined(block, sizeof(FreeBlock));
		page->free = block->next;
		vg::undefined(block, sizeof(FreeBlock));
	} else {
		page->free = block->next;
	}
	page->used++;
	return block;
}

// ---------------------------------------------------------------- heap operations
// `state` is the pool's; `heap` belongs to the calling thread.

// The fast path of malloc for n <= kDirectMax: a pop from the current
// page of the class, else the generic path.
void *heap_malloc_generic(PoolState *state, ThreadHeap *heap, size_t size) noexcept;

inline void *heap_malloc_small(PoolState *state, ThreadHeap *heap, size_t size) noexcept
{
	SliceDescriptor *page = heap->direct[(size + 7) >> 3];
	if (__builtin_expect(page->free != nullptr, true))
		return pop_block(page);
	return heap_malloc_generic(state, heap, size);
}

// Returns a block to its page, which the calling thread owns.
void heap_free_local(PoolState *state, ThreadHeap *heap, SliceDescriptor *page, FreeBlock *block) noexcept;

// Returns a block to a page some other heap owns (or none does), batching
// frees bound for the same page when the calling thread has a heap here.
void heap_free_remote(PoolState *state, ThreadHeap *heap, SliceDescriptor *page, FreeBlock *block) noexcept;

// Pushes the pending remote batch to its page.
void heap_flush_remote(PoolState *state, ThreadHeap *heap) noexcept;

// A new heap for the calling thread (thread number `thread`), or nullptr
// when the pool has no room for one.  Takes the pool lock.
ThreadHeap *heap_create(PoolState *state, uint32_t thread, uint64_t pool_cookie) noexcept;

// Gives every page of the heap to the pool's abandoned queues (to be
// reclaimed by any heap of the pool) and frees the heap's slot; under
// CONSERVATIVE, also the heap's slab when no heap of it is left in use.
// Runs on the owner thread.  Takes the pool lock.
void heap_abandon(PoolState *state, ThreadHeap *heap) noexcept;

// Under the pool lock: gives back to the free spans what no thread uses,
// so that its slices can serve other sizes or be purged: the empty pages
// of `heap` (the calling thread's; nullptr for a thread with no heap in
// the pool), every abandoned page that other threads' frees have emptied,
// and every heap slab whose heaps are all unused.
void heap_release_unused_locked(PoolState *state, ThreadHeap *heap) noexcept;

// heap_release_unused_locked, taking the pool lock.
void heap_release_empty_pages(PoolState *state, ThreadHeap *heap) noexcept;

// In a forked child, under the pool lock: ends the delayed frees that the
// parent's other threads, absent from the child, were making at the fork
// (pages left in mode FREEING), as those threads would have: without it
// the child's next retire of such a page, or free into it, waits forever.
void heap_settle_after_fork(PoolState *state) noexcept;

// Heap slot `index`, which must be a head heap or lie in a slab present
// (a slot in use, or on the chain of unused slots).
ThreadHeap *heap_at(PoolState *state, uint32_t index) noexcept;

// Sets up the heap table of a new pool: the heaps that fit in
// [gap_start, gap_end) (memory between the tables and the first slice,
// otherwise unused; writable and, in a file pool, with blocks reserved),
// and no slab until those are taken.
void heaps_init(PoolState *state, uintptr_t gap_start, uintptr_t gap_end) noexcept;

// The page descriptor of `address`, or nullptr when it is not inside a
// page or large block of the pool.
SliceDescriptor *span_of(PoolState *state, uintptr_t address) noexcept;

} // namespace vmem::core
