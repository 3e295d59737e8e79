// SPDX-License-Identifier: BSD-3-Clause
// layout.hpp -- the allocator's structures inside a pool (see doc/design.md, "Heap layout").
//
// The pool's address range is cut into 16 KiB slices on a grid anchored at
// the 1 MiB boundary at or below the pool's base, so the slice of an
// address is (address - slice_origin) >> 14.  Each slice has a 64-byte
// SliceDescriptor in the descriptor table; the 64 descriptors of one 1 MiB
// segment fill exactly one 4 KiB page of the table, written (and, in a file
// pool, given file blocks) only when the segment is first used.
//
//   base + 0            guard page
//   base + page         PoolHeader, then PoolState, then (when they fit in
//                       this page) the segment states: a byte per segment
//   base + 2 * page     (the segment states when they did not fit, then) one
//                       64-bit word per segment: which slices have file blocks
//   then                the back map: a byte per slice (slice_back)
//   then                the descriptor table: a page's worth per segment
//   then                the first thread heaps, in the gap up to the first slice
//   first_slice         slices: pages of blocks, large blocks, heap slabs
//                       and free spans, up to the last whole slice
//
// PoolState, the space from base + 2 * page, the table and the gap are each
// offset by a multiple of 64 bytes from the pool's cache colour
// (pool_colour below).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/pool_header.hpp"
#include "core/size_classes.hpp"
#include "util/bits.hpp"
#include "util/mutex.hpp"

namespace vmem::core {

inline constexpr unsigned kSliceShift = 14; // 16 KiB
inline constexpr size_t kSliceSize = size_t{1} << kSliceShift;
inline constexpr unsigned kSegmentShift = 20; // 1 MiB
inline constexpr size_t kSegmentSize = size_t{1} << kSegmentShift;
inline constexpr uint32_t kSlicesPerSegment = kSegmentSize / kSliceSize;
static_assert(kSlicesPerSegment == 64,
	      "a segment's descriptors fill one 4 KiB page, its reserved bits one word");

// How many slices a page of a class spans.  A pool holds a partly used
// page of each class in use, and once the pool is full what those pages
// have not handed out is lost to every other class: with 64 KiB pages, a
// full 14 MiB pool of mixed sizes stranded 5% of itself in the barely used
// pages of its smallest classes.  So a heap's first page of a class of
// blocks up to 1 KiB is one slice (16 or more blocks).  Later pages of
// small classes are four slices (8 or more blocks), since a heap that
// uses a class that much would switch pages four times as often on small
// ones; medium pages are 32 slices (512 KiB: 8 or more blocks).
inline constexpr size_t kOneSlicePageMax = 1024;
inline constexpr uint32_t kSmallPageSlices = 4;	  // 64 KiB
inline constexpr uint32_t kMediumPageSlices = 32; // 512 KiB
static_assert(kMediumPageSlices <= 256, "a slice_back byte reaches a page's first slice");

constexpr uint32_t page_slices_of_class(unsigned cls, bool first_page_of_class) noexcept
{
	size_t block_size = class_block_size(cls);
	if (block_size > kSmallMax)
		return kMediumPageSlices;
	return first_page_of_class && block_size <= kOneSlicePageMax ? 1 : kSmallPageSlices;
}

// What a slice descriptor describes.
enum class SliceKind : uint8_t {
	unused = 0, // never written, or inside a span whose ends say what it is
	free,	    // first or last slice of a free span
	page,	    // first slice of a small or medium page
	large,	    // first slice of a large block's span
	heap_slab,  // first slice of a slab of thread heaps
	interior,   // a later slice of a page, or the last slice of a span
};

// Page flags (SliceDescriptor::flags).
enum PageFlags : uint8_t {
	kPageInFull = 1u << 0,	   // on its heap's full queue: no free block left
	kPageFreshZero = 1u << 1,  // every block on `free` is untouched, zero memory
	kPageAbandoned = 1u << 2,  // owned by no heap: on the pool's abandoned queue
	kPageZeroMemory = 1u << 3, // the page's memory was never used: untouched blocks read as zero
	kPageCurrent = 1u << 4,	   // its heap's current page for the class: kept even when empty
};

// The low two bits of SliceDescriptor::thread_free: how a remote free of a
// block of this page must tell the owner (the protocol of mimalloc's
// delayed free).
enum DelayedFree : uintptr_t {
	kDelayedUse = 0,     // the page is on its heap's full queue: tell the heap
	kDelayedFreeing = 1, // a remote thread is telling the heap right now
	kDelayedNone = 2,    // the heap knows already: push onto thread_free only
	kDelayedNever = 3,   // abandoned page: there is no heap to tell
};
inline constexpr uintptr_t kDelayedMask = 3;

struct FreeBlock {
	FreeBlock *next;
};

// Fields marked (lock) change only under PoolState::lock; (owner) only by
// the thread owning the page.  The two groups do not share an 8-byte word,
// so reading a neighbour's span fields under the lock never touches bytes
// its owner is writing.
struct SliceDescriptor {
	SliceKind kind;	    // (lock)
	uint8_t size_class; // (lock) pages: the class of their blocks
	uint16_t reserved0;
	uint32_t back_offset; // (lock) interior slices: how many slices back the span starts
	uint32_t slice_count; // (lock) first slice of a span: its length in slices
	uint32_t block_size;  // (lock) pages: bytes per block; large blocks: offset of the block in its span
	uint16_t used;	      // (owner) pages: blocks handed out and not yet back on free
	uint16_t capacity;    // (owner) pages: blocks carved into free lists so far
	uint16_t reserved;    // pages: blocks the page holds
	uint8_t flags;	      // (owner) PageFlags
	uint8_t reserved1;
	std::atomic<uint32_t> owner_thread; // pages: thread number of the owning heap, 0 when abandoned
	uint32_t heap_index;		    // pages: the owning heap (1-based)
	uint32_t next;			    // page-queue and free-span-bin links as slice indexes (0: none)
	uint32_t prev;
	FreeBlock *free; // allocation pops and the owner's frees push here (owner only)
	uint64_t reserved2;
	std::atomic<uintptr_t> thread_free; // other threads' frees, tagged with DelayedFree
};
static_assert(sizeof(SliceDescriptor) == 64, "64 descriptors of a segment fill one 4 KiB page");

inline constexpr unsigned kFreeSpanBins = 124; // see span_allocator.cpp
inline constexpr unsigned kMaxHeapSlabs = 256;

// Per-segment state bits (PoolState::segment_states).
enum SegmentState : uint8_t {
	kSegmentDescriptorsReady = 1u << 0,  // its descriptor page has file blocks and was zeroed
	kSegmentReservedWordReady = 1u << 1, // its word of slices_reserved has file blocks
	// Ready, and frees into it may take the inline fast path: set with
	// kSegmentDescriptorsReady except under Valgrind, whose frees must
	// reach the slow path (it reports them), so the fast path tests one
	// bit for both.
	kSegmentFastFree = 1u << 2,
};

// A heap's queue of pages of one size class.
struct PageQueue {
	uint32_t first;
	uint32_t last;
};

struct ThreadHeap;

// The allocator's state of a pool, right after the PoolHeader.
struct PoolState {
	Mutex lock; // spans, page hand-out, heap table, abandoned queues

	uintptr_t pool_base;	      // the handle: file offsets are addresses minus this
	uintptr_t slice_origin;	      // address of slice 0: the 1 MiB boundary at or below base
	SliceDescriptor *descriptors; // descriptor table, indexed by slice
	uint8_t *segment_states;      // SegmentState per segment
	uint64_t *slices_reserved;    // per segment, a bit per slice: it has file blocks
	uint8_t *slice_back;  // per slice, a byte: how many slices back its page starts (see span_head)
	uint32_t first_slice; // usable slices are [first_slice, end_slice)
	uint32_t end_slice;
	uint32_t fresh_slice; // slices at or above it were never handed out
	uint32_t segment_count;
	int32_t fd;		// file to reserve blocks in, -1 for none
	uint32_t zero_when_new; // 1: never-used memory reads as zero (file pools)

	uint64_t free_bin_bitmap[2];
	uint32_t free_bins[kFreeSpanBins]; // first slice of each bin's free-span list

	uintptr_t head_heaps;		    // heaps in the gap between the tables and the first slice
	uint32_t head_heap_count;	    // how many fit there: heap indexes 1..head_heap_count
	uint32_t heap_slabs[kMaxHeapSlabs]; // first slice of each heap slab (0: none, or given back)
	uint32_t heap_slab_count;	    // slab numbers in use: the last one's slab is present
	uint32_t free_heaps;		    // chain of unused heap slots (1-based index)
	uint32_t heap_capacity;		    // heap slots in the head and in the slabs present

	PageQueue abandoned[kClassCount]; // pages whose heap went away

	uint64_t large_bytes;  // bytes in live large blocks' spans
	uint64_t large_blocks; // live large blocks

	// Giving free slices back (purge.cpp): slices_reserved has a bit per
	// slice that holds memory or file blocks, free or not.
	// vmem_usage_policy: written under the lock, read without it by
	// remote frees into abandoned pages (heap.cpp)
	std::atomic<uint8_t> usage_policy;
	uint8_t purge_kind;    // purge::PurgeKind: punch the file, advise the region, or never
	uint8_t region_advice; // purge::RegionAdvice: how a region's memory goes back
	// DEFAULT: free slices hold memory until purge_due_ns.  Written under
	// the lock, read without it by the heaps' malloc slow path.
	std::atomic<uint8_t> purge_pending;
	// Slices given back so far, modulo 2^32 (under the lock): vmem_purge
	// reports the difference, which is less than the pool's slices.
	uint32_t purged_slices;
	std::atomic<uint64_t> purge_due_ns;
};

// Where a pool's tables lie: a function of its header alone, so the
// checker recomputes it to verify PoolState.
struct TableLayout {
	uintptr_t slice_origin;
	uint32_t segment_count;
	bool states_in_header; // segment states in the header page, after PoolState
	uintptr_t states_at;   // segment states: a byte per segment
	uintptr_t reserved_at; // slices_reserved: a word per segment
	uintptr_t reserved_end;
	uintptr_t back_at;    // slice_back: a byte per slice
	uintptr_t table_at;   // descriptor table
	uintptr_t tables_end; // end of the descriptor table
	uintptr_t gap_start;  // the first thread heaps, up to the first slice
	uint32_t first_slice;
	uint32_t end_slice;
};

// The table layout of the pool `header` describes, or EFBIG (more than
// 2^32 slices) or ENOMEM (the tables leave no slice).
int compute_table_layout(const PoolHeader *header, size_t page_size, TableLayout *layout) noexcept;

// Lays out the tables of the new pool `header` describes and makes all its
// slices one free span.  `fd` is the file to reserve blocks in (-1: none);
// `zero_when_new` says never-used memory reads as zero.  0 or an errno.
int layout_init(PoolHeader *header, int fd, bool zero_when_new) noexcept;

inline PoolHeader *header_of_handle(uintptr_t handle, size_t page_size) noexcept
{
	return pointer_at<PoolHeader>(handle + page_size);
}

// The pool's cache colour, 0..63, a function of where its header is.
// Pools sit at page (usually 4 MiB) multiples, so each would have its
// state, descriptor table and first thread heap at the same cache sets as
// every other: a thread using 64 pools would miss the cache on each switch.
// Offsetting those structures by colour x 64 bytes spreads them.
inline unsigned pool_colour(uintptr_t header_address) noexcept
{
	// the high bits of the product mix all the bits of the address above
	// its (zero) page offset
	return static_cast<unsigned>((header_address * 0x9e3779b97f4a7c15u) >> 58);
}

// PoolState follows PoolHeader in the header page, on a cache line of its
// own, kStateOffset plus one of kStateColours line offsets in.
inline constexpr size_t kStateOffset = align_up(sizeof(PoolHeader), 64);
inline constexpr unsigned kStateColours = 16;
static_assert(kStateOffset + (kStateColours - 1) * 64 + sizeof(PoolState) <= 4096,
	      "header and state share one page");

inline uintptr_t state_address(uintptr_t header_address) noexcept
{
	static_assert(kStateColours == 16, "the state's colour is the top 4 of the 6 colour bits");
	return header_address + kStateOffset + (pool_colour(header_address) >> 2) * 64;
}

inline PoolState *state_of(PoolHeader *header) noexcept
{
	return pointer_at<PoolState>(state_address(address_of(header)));
}

inline uintptr_t slice_address(const PoolState *state, uint32_t slice) noexcept
{
	return state->slice_origin + (uintptr_t{slice} << kSliceShift);
}

inline uint32_t slice_of(const PoolState *state, uintptr_t address) noexcept
{
	return static_cast<uint32_t>((address - state->slice_origin) >> kSliceShift);
}

// The descriptor of the first slice of the span `slice` belongs to, by
// the slice's byte in slice_back (0 in a span's first slice; a page's or
// slab's later slices say how far back it starts).  The free fast path
// reads that byte, not the slice's own descriptor: the bytes of a whole
// pool's live pages stay in cache where their descriptors would not.  A
// byte whose span no longer reaches the slice (large spans do not write
// their later slices, which may keep bytes of older pages) gives the
// slice's own descriptor.
inline SliceDescriptor *span_head(const PoolState *state, uint64_t slice) noexcept
{
	uint32_t back = state->slice_back[slice];
	SliceDescriptor *head = &state->descriptors[slice - back];
	return back < head->slice_count ? head : &state->descriptors[slice];
}

inline uint32_t index_of(const PoolState *state, const SliceDescriptor *d) noexcept
{
	return static_cast<uint32_t>(d - state->descriptors);
}

} // namespace vmem::core
