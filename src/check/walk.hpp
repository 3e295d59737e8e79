// SPDX-License-Identifier: BSD-3-Clause
// walk.hpp -- the one walk over a pool's metadata behind vmem_check and the statistics.
//
// walk_pool verifies the invariants numbered in doc/design.md (section 12)
// while it visits the pool's spans, pages, large blocks and thread heaps,
// and hands each to a Visitor: the checker's visitor ignores them, the
// statistics add them up.  It reads metadata only, never a block's bytes
// (except the link word of blocks on free lists), and bounds-checks every
// pointer and index before following it, so a corrupt pool gives a
// Finding, never a fault or a hang.
//
// It runs with the directory's mutex held (the pool cannot be deleted) and
// the pool's lock held (no slow path changes spans, pages or heaps).  Fast
// paths keep running: the free lists and counts of pages that another live
// thread owns change under it, so those are verified only for pages the
// calling thread owns and for abandoned pages, and are read for the
// statistics as they are at that moment.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/layout.hpp"
#include "core/pool_header.hpp"

namespace vmem::check {

// The invariants, numbered as in doc/design.md section 12.
enum Invariant : unsigned {
	kInvOverlap = 1,       // the pool's range shares no byte with another live pool's
	kInvHeader = 2,	       // signature, version, base, size, page size, backing, fd, id
	kInvGeometry = 3,      // PoolState's tables where the header says they are
	kInvTiling = 4,	       // spans tile [first_slice, end_slice)
	kInvSpanEnds = 5,      // end tags and back-map bytes of each span
	kInvReadiness = 6,     // descriptors written and file blocks reserved where used
	kInvFreshMark = 7,     // nothing handed out at or above fresh_slice
	kInvFreeBins = 8,      // every free span in its bin's list, once
	kInvCoalesced = 9,     // no two free spans side by side
	kInvPageGeometry = 10, // class, block size, length, counts of each page
	kInvFreeLists = 11,    // free-list blocks on block boundaries, bounded, counted
	kInvOwnership = 12,    // each page owned by a live heap or abandoned
	kInvPageQueues = 13,   // abandoned queues and the caller's heap queues
	kInvHeapTable = 14,    // heap slots, slabs and the free-slot chain
	kInvLarge = 15,	       // large blocks and the pool's large-block counters
	kInvariantCount = 16,
};

const char *invariant_name(unsigned invariant) noexcept;

struct PageVisit {
	uint32_t slice;	 // first slice
	uint32_t slices; // length in slices
	unsigned size_class;
	uint32_t block_size;
	uint32_t live;	     // blocks handed out and not freed (read as it is now for other threads' pages)
	uint32_t capacity;   // blocks carved so far
	uint32_t reserved;   // blocks the page holds
	uint32_t heap_index; // owning heap, 0 when abandoned
};

struct LargeVisit {
	uint32_t slice;
	uint32_t slices;
	uint64_t usable; // bytes of the block
};

struct HeapVisit {
	uint32_t index;	       // 1-based slot
	uint32_t owner_thread; // thread number
};

class Visitor {
public:
	virtual void page(const PageVisit &) noexcept {}
	virtual void large(const LargeVisit &) noexcept {}
	virtual void free_span(uint32_t /*slice*/, uint32_t /*slices*/) noexcept {}
	virtual void heap(const HeapVisit &) noexcept {}
	virtual void heap_slab(uint32_t /*slice*/, uint32_t /*slices*/) noexcept {}
	// Last, while the locks are still held: the pool as a whole.
	virtual void pool(const core::PoolHeader &, const core::PoolState &) noexcept {}

protected:
	~Visitor() = default;
};

// The first invariant found broken.
struct Finding {
	unsigned invariant;
	uintptr_t address; // where: the metadata or block concerned
	char detail[200];
};

enum class WalkResult {
	consistent, // every invariant holds; the visitor saw the whole pool
	corrupt,    // *finding says which invariant failed where
	not_a_pool, // the handle is no live pool (nothing was read through it)
	no_memory,  // no memory for the walk's bitmaps
};

// Walks the pool whose handle is `handle`.
WalkResult walk_pool(uintptr_t handle, Visitor &visitor, Finding *finding) noexcept;

} // namespace vmem::check
