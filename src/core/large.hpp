// SPDX-License-Identifier: BSD-3-Clause
// large.hpp -- blocks over 64 KiB: each on a span of slices of its own, resized in place.
//
// A large block's span starts at its first slice (kind large) and the block
// starts block_size bytes into it (0 unless an alignment above the slice
// size asked for more).  Large and huge blocks are the same thing here:
// spans of any length, grown into a free neighbour and shrunk in place.
#pragma once

#include <cstddef>

#include "core/layout.hpp"

namespace vmem::core {

// A block of at least `size` bytes aligned to `alignment` (a power of two,
// at least kSliceSize).  Bytes from *zero_from on are known to read as zero
// (memory never used before), so calloc clears only what lies below.
// nullptr when the pool has no room (or the file system none to reserve).
void *large_malloc(PoolState *state, size_t size, size_t alignment, size_t *zero_from) noexcept;

void large_free(PoolState *state, SliceDescriptor *span) noexcept;

size_t large_usable_size(const SliceDescriptor *span) noexcept;

// Resizes the block in place to hold `size` bytes: shrinks (freeing whole
// slices at the end) or grows into a free span after it.  False when it
// cannot grow in place; the block is then unchanged.
bool large_resize_in_place(PoolState *state, SliceDescriptor *span, size_t size) noexcept;

inline void *large_block_address(const PoolState *state, const SliceDescriptor *span) noexcept
{
	return pointer_at(slice_address(state, index_of(state, span)) + span->block_size);
}

} // namespace vmem::core
