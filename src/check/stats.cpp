// SPDX-License-Identifier: BSD-3-Clause
// stats.cpp -- adds up what the metadata walk visits into a PoolStats.
#include "check/stats.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/heap.hpp"
#include "platform/os.hpp"
#include "util/bits.hpp"

namespace vmem::check {

using namespace core;

namespace {

// Heap slots a pool can have: the head gap holds fewer than a slice's worth.
constexpr uint32_t kMaxHeapSlots = kSliceSize / sizeof(ThreadHeap) + kMaxHeapSlabs * kHeapsPerSlab + 1;

unsigned large_bucket(uint64_t usable) noexcept
{
	if (usable <= (uint64_t{1} << kLargeFirstBucketShift))
		return 0;
	unsigned shift = static_cast<unsigned>(std::bit_width(usable - 1)); // usable <= 2^shift
	return std::min(shift - kLargeFirstBucketShift, kLargeBuckets - 1);
}

class StatsCollector final : public Visitor {
public:
	explicit StatsCollector(PoolStats *stats) noexcept : stats_(stats) {}

	bool out_of_memory() const noexcept
	{
		return out_of_memory_;
	}

	void page(const PageVisit &page) noexcept override
	{
		ClassStats &cls = stats_->classes[page.size_class];
		cls.pages++;
		cls.blocks += page.live;
		cls.capacity += page.reserved;
		stats_->allocated += uint64_t{page.live} * page.block_size;
		stats_->allocations += page.live;
		if (page.live != 0)
			stats_->active += uint64_t{page.slices} << kSliceShift;
		if (HeapStats *heap = heap_stats(page.heap_index)) {
			heap->pages++;
			heap->blocks += page.live;
		}
	}

	void large(const LargeVisit &large) noexcept override
	{
		stats_->large_count++;
		stats_->large_bytes += large.usable;
		stats_->large_by_size[large_bucket(large.usable)]++;
		stats_->allocated += large.usable;
		stats_->allocations++;
		stats_->active += uint64_t{large.slices} << kSliceShift;
	}

	void free_span(uint32_t, uint32_t slices) noexcept override
	{
		stats_->free += uint64_t{slices} << kSliceShift;
	}

	void heap(const HeapVisit &heap) noexcept override
	{
		if (HeapStats *h = heap_stats(heap.index)) {
			h->index = heap.index;
			h->owner_thread = heap.owner_thread;
		}
	}

	void heap_slab(uint32_t, uint32_t slices) noexcept override
	{
		stats_->metadata += uint64_t{slices} << kSliceShift;
	}

	void pool(const PoolHeader &header, const PoolState &state) noexcept override
	{
		stats_->backing = header.flags;
		stats_->pool_size = header.size;
		stats_->slices = state.end_slice - state.first_slice;
		stats_->segments = state.segment_count;
		stats_->usage_policy = state.usage_policy.load(std::memory_order_relaxed);
		// The guard and header pages, the segment states, the tables of
		// segments in use (descriptors, back-map bytes, reserved-slice
		// word) and the head heaps; heap slabs were added as visited.
		// Tables of segments never used take address space, not memory.
		uint64_t ready = 0;
		for (uint32_t seg = 0; seg < state.segment_count; seg++)
			ready += (state.segment_states[seg] & kSegmentDescriptorsReady) != 0;
		stats_->metadata +=
		    2 * header.page_size + state.segment_count +
		    ready * (kSlicesPerSegment * (sizeof(SliceDescriptor) + 1) + sizeof(uint64_t)) +
		    uint64_t{state.head_heap_count} * sizeof(ThreadHeap);
		stats_->resident = header.size;
		if (header.flags & kBackingFile) {
			uint64_t bytes = 0;
			// a growing pool spans what its file has grown to
			if ((header.flags & kGrowing) && os::file_logical_size(state.fd, &bytes) == 0)
				stats_->pool_size = bytes;
			if (os::file_allocated_bytes(state.fd, &bytes) == 0) {
				stats_->has_file = true;
				stats_->file_blocks = bytes;
				stats_->resident = std::min<uint64_t>(bytes, stats_->pool_size);
			}
		} else if (header.flags & kBackingRegion) {
			uint64_t bytes = 0;
			// the last page may hold bytes past the pool's end
			if (os::resident_bytes(pointer_at(header.base), header.size, &bytes) == 0)
				stats_->resident = std::min<uint64_t>(bytes, stats_->pool_size);
		}
	}

private:
	HeapStats *heap_stats(uint32_t index) noexcept
	{
		if (index == 0 || index >= kMaxHeapSlots)
			return nullptr;
		if (stats_->heaps == nullptr) {
			size_t bytes = align_up(sizeof(HeapStats) * kMaxHeapSlots, os::page_size());
			void *addr = nullptr;
			if (os::map_anonymous(bytes, &addr) != 0) {
				out_of_memory_ = true;
				return nullptr;
			}
			stats_->heaps = static_cast<HeapStats *>(addr);
			stats_->heaps_mapped = bytes;
			stats_->heap_slots = kMaxHeapSlots;
		}
		return &stats_->heaps[index];
	}

	PoolStats *stats_;
	bool out_of_memory_ = false;
};

} // namespace

WalkResult collect_stats(uintptr_t handle, PoolStats *stats, Finding *finding) noexcept
{
	std::memset(static_cast<void *>(stats), 0, sizeof(*stats));
	StatsCollector collector(stats);
	WalkResult result = walk_pool(handle, collector, finding);
	if (result == WalkResult::consistent && collector.out_of_memory())
		return WalkResult::no_memory;
	return result;
}

void release_stats(PoolStats *stats) noexcept
{
	if (stats->heaps != nullptr)
		os::unmap(stats->heaps, stats->heaps_mapped);
	stats->heaps = nullptr;
}

} // namespace vmem::check
