// SPDX-License-Identifier: BSD-3-Clause
// span_allocator.hpp -- runs of slices: free-span bins, coalescing, file-block reservation.
//
// Every function here runs under PoolState::lock.  A span is a run of
// slices whose first descriptor says what it is and how long it is, and
// whose last descriptor points back to the first, so neighbours coalesce
// in O(1) when a span is freed.
#pragma once

#include <bit>
#include <cstdint>

#include "core/layout.hpp"

namespace vmem::core::spans {

// Free spans are binned by length: 1 to 8 slices exactly, then four bins
// per doubling, so a bin's spans differ by less than 25% in length.
inline unsigned bin_of(uint32_t count) noexcept
{
	if (count <= 8)
		return count - 1;
	unsigned b = static_cast<unsigned>(std::bit_width(count)) - 1; // >= 3
	return 8 + (b - 3) * 4 + ((count >> (b - 2)) & 3);
}
static_assert(kFreeSpanBins >= 8 + (31 - 3) * 4 + 4, "a bin for every 32-bit length");

// Sets up the free span of a new pool: [first_slice, end_slice).
// Returns 0 or the errno of reserving file blocks for its descriptors.
int init(PoolState *state) noexcept;

// Takes `count` slices starting at an address aligned to `alignment` bytes
// (a power of two, at least kSliceSize) from the free spans, with file
// blocks reserved for all of them.  Returns the first slice, or 0 with *err
// set (ENOMEM: no free span that large; ENOSPC and the like: the file
// system could not reserve it).
uint32_t allocate(PoolState *state, uint32_t count, size_t alignment, int *err) noexcept;

// Cuts the allocated span [first, first + count) down to new_count slices
// (rewriting its length and end tag) and frees the rest; false (nothing changed) when the descriptors for the
// cut could not be prepared.
bool shrink_in_place(PoolState *state, uint32_t first, uint32_t count, uint32_t new_count) noexcept;

// Gives [first, first + count) back, merging it with free neighbours.
void release(PoolState *state, uint32_t first, uint32_t count) noexcept;

// Extends the allocated span [first, first + count) to new_count slices
// using the free span right after it (rewriting the span's length and end
// tag); false (nothing changed) when that is not free or too small.
bool grow_in_place(PoolState *state, uint32_t first, uint32_t count, uint32_t new_count) noexcept;

// Makes the descriptors of slices [first, last] writable: reserves file
// blocks for their table pages and clears pages never used.  0 or an errno.
// The slices must lie in the pool (last < end_slice): the tables end there,
// and a segment past them would be written over what follows.
int prepare_descriptors(PoolState *state, uint32_t first, uint32_t last) noexcept;

// Whether the descriptor of `slice` has ever been written (reading one
// that has not is meaningless in a region pool, whose memory starts dirty).
bool descriptor_ready(const PoolState *state, uint32_t slice) noexcept;

// Bytes of free spans and their count (for statistics and tests).
uint64_t free_slices(const PoolState *state) noexcept;

} // namespace vmem::core::spans
