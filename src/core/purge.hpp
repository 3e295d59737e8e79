// SPDX-License-Identifier: BSD-3-Clause
// purge.hpp -- giving the memory of free slices back: usage policies and vmem_purge.
//
// A slice's bit in slices_reserved says it holds memory (a region) or file
// blocks (a file pool).  Freed slices keep theirs until a purge punches a
// hole in the file (fallocate) or advises the region's pages away
// (madvise, whichever advice the region takes, probed once) and clears the
// bits; allocating them again reserves them anew.  Under CONSERVATIVE a
// span is purged as it is freed; under DEFAULT purges are batched: the
// first free leaves a purge due kPurgeDelayNs later, and the next slow
// path after that (a span freed or taken) purges every free span.  There
// is no thread of our own.  Device DAX pools are not purged.  Everything
// here but on_heap_slow_path runs under PoolState::lock.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/layout.hpp"

namespace vmem::core::purge {

inline constexpr uint64_t kPurgeDelayNs = 500'000'000; // DEFAULT: half a second

enum PurgeKind : uint8_t {
	kPurgeFile = 1,	  // punch holes in the pool's file
	kPurgeRegion = 2, // advise the caller's region
	kPurgeNever = 3,  // device DAX, or a file system that cannot punch
};

enum RegionAdvice : uint8_t {
	kAdviceUnprobed = 0,
	kAdviceRemove,	 // MADV_REMOVE works (shared mappings)
	kAdviceDontNeed, // MADV_DONTNEED (private mappings)
	kAdviceNone,	 // neither: the region keeps its memory
};

// The span [first, first + count) was just freed (merged into a free span).
void on_release(PoolState *state, uint32_t first, uint32_t count) noexcept;

// A slow path ran under the pool lock: purges when a DEFAULT purge is due.
void on_slow_path(PoolState *state) noexcept;

// A heap's malloc slow path (no lock held): takes the lock and purges when
// a DEFAULT purge is due, so pools whose spans stay put still purge.
void on_heap_slow_path(PoolState *state) noexcept;

// Purges every free span now; the bytes given back.
uint64_t purge_all(PoolState *state) noexcept;

// Whether the pool's usage policy is CONSERVATIVE: every page or span
// freed gives its memory back at once.  Reads the policy without the lock.
bool conservative(const PoolState *state) noexcept;

// Whether the pool's memory can be given back at all (not device DAX).
bool purgeable(const PoolState *state) noexcept;

} // namespace vmem::core::purge
