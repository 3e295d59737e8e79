// SPDX-License-Identifier: BSD-3-Clause
// stats.hpp -- a pool's statistics, added up from the metadata walk.
//
// vmem_stats_get and vmem_stats_print both fill a PoolStats through
// collect_stats (one walk, under the locks) and use it after the locks
// are released: the print function may call back into the library.
#pragma once

#include <cstddef>
#include <cstdint>

#include "check/walk.hpp"
#include "core/size_classes.hpp"

namespace vmem::check {

struct ClassStats {
	uint64_t pages;
	uint64_t blocks;   // live blocks
	uint64_t capacity; // blocks the pages hold
};

struct HeapStats {
	uint32_t index; // 0: slot not in use
	uint32_t owner_thread;
	uint64_t pages;
	uint64_t blocks;
};

// Large blocks by usable size: up to 128 KiB, 256 KiB, ... 1 GiB, larger.
inline constexpr unsigned kLargeBuckets = 15;
inline constexpr unsigned kLargeFirstBucketShift = 17;

struct PoolStats {
	// general
	uint32_t backing; // PoolFlags
	uint64_t pool_size;
	uint64_t slices;
	uint64_t segments;
	unsigned usage_policy; // vmem_usage_policy
	// totals
	uint64_t allocated;
	uint64_t active;
	uint64_t resident;
	uint64_t metadata;
	uint64_t free;	      // bytes in free spans
	uint64_t allocations; // live blocks
	bool has_file;
	uint64_t file_blocks; // bytes of file blocks (pools with a file)
	// detail
	ClassStats classes[core::kClassCount];
	uint64_t large_count;
	uint64_t large_bytes; // usable bytes
	uint64_t large_by_size[kLargeBuckets];
	HeapStats *heaps; // indexed by heap slot, heap_slots of them, in mapped memory
	uint32_t heap_slots;
	size_t heaps_mapped; // bytes mapped for `heaps`
};

// Walks the pool and fills *stats (which the caller releases with
// release_stats whatever the result).  The result is walk_pool's.
WalkResult collect_stats(uintptr_t handle, PoolStats *stats, Finding *finding) noexcept;

void release_stats(PoolStats *stats) noexcept;

} // namespace vmem::check
