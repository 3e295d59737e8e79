// SPDX-License-Identifier: BSD-3-Clause
// layout.cpp -- lays out a new pool's tables and its first free span.
#include "core/layout.hpp"

#include <cerrno>
#include <cstring>

#include "core/heap.hpp"
#include "core/purge.hpp"
#include "core/span_allocator.hpp"
#include "libvmem.h"
#include "platform/os.hpp"
#include "util/race_annotations.hpp"
#include "util/valgrind.hpp"

namespace vmem::core {

int compute_table_layout(const PoolHeader *header, size_t page, TableLayout *layout) noexcept
{
	uintptr_t base = header->base;
	uintptr_t end = base + header->size;
	uintptr_t header_at = address_of(header);
	uintptr_t colour_offset = uintptr_t{pool_colour(header_at)} * 64;

	// slices are numbered in 32 bits: 64 TiB
	if ((align_up(end, kSegmentSize) - align_down(base, kSegmentSize)) >> kSliceShift > UINT32_MAX)
		return EFBIG;
	layout->slice_origin = align_down(base, kSegmentSize);
	uint32_t segments =
	    static_cast<uint32_t>((align_up(end, kSegmentSize) - layout->slice_origin) >> kSegmentShift);
	layout->segment_count = segments;

	// The segment states (a byte each) are read by every free: they go in
	// the header page right after the state when they fit (pools of up to
	// about a GiB), so a free touches one page of metadata less.  Else they
	// start the allocator's space.  Then come a word of file-block bits per
	// segment (a bit per slice), the back map (a byte per slice, see
	// span_head) and the descriptor table.
	uintptr_t state_end = state_address(header_at) + sizeof(PoolState);
	layout->states_in_header = state_end + segments <= header_at + page;
	uintptr_t space_at = base + header->heap_offset + colour_offset;
	layout->states_at = layout->states_in_header ? state_end : space_at;
	layout->reserved_at = layout->states_in_header ? space_at : align_up(layout->states_at + segments, 8);
	layout->reserved_end = layout->reserved_at + uint64_t{segments} * 8;
	layout->back_at = align_up(layout->reserved_end, 64);
	uintptr_t back_end = layout->back_at + uint64_t{segments} * kSlicesPerSegment;
	layout->table_at = align_up(back_end, page) + colour_offset;
	layout->tables_end =
	    layout->table_at + uint64_t{segments} * kSlicesPerSegment * sizeof(SliceDescriptor);
	// The gap up to the first slice boundary holds the first thread heaps
	// (a 14 MiB pool fits a few there) instead of going unused; the first
	// slice moves up one when not even one heap would fit, since a
	// pool's first thread would otherwise take a whole slab of heaps.
	layout->gap_start = align_up(layout->tables_end, 64) + colour_offset;
	auto slice_at = [&](uintptr_t address) {
		return static_cast<uint32_t>((address - layout->slice_origin) >> kSliceShift);
	};
	layout->first_slice = slice_at(align_up(layout->gap_start + sizeof(ThreadHeap), kSliceSize));
	layout->end_slice = slice_at(align_down(end, kSliceSize));
	if (layout->tables_end > end || layout->first_slice >= layout->end_slice)
		return ENOMEM; // cannot happen above VMEM_MIN_POOL, but a check costs nothing here
	return 0;
}

int layout_init(PoolHeader *header, int fd, bool zero_when_new) noexcept
{
	size_t page = os::page_size();
	uintptr_t base = header->base;
	TableLayout layout;
	if (int err = compute_table_layout(header, page, &layout))
		return err;
	PoolState *state = state_of(header);
	state->lock.init();
	state->pool_base = base;
	state->slice_origin = layout.slice_origin;
	state->segment_count = layout.segment_count;
	state->fd = fd;
	state->zero_when_new = zero_when_new ? 1 : 0;
	state->segment_states = pointer_at<uint8_t>(layout.states_at);
	state->slices_reserved = pointer_at<uint64_t>(layout.reserved_at);
	state->slice_back = pointer_at<uint8_t>(layout.back_at);
	state->descriptors = pointer_at<SliceDescriptor>(layout.table_at);
	state->first_slice = layout.first_slice;
	state->end_slice = layout.end_slice;
	state->fresh_slice = state->first_slice;

	// Segment states outside the header page get file blocks now: every
	// free reads its segment's byte, even a free of a bad pointer into a
	// segment never used, and on tmpfs reading a hole in the file takes
	// memory, which a full file system answers with SIGBUS.  (A byte per
	// MiB: 1 MiB for a 1 TiB pool.)  The reserved-slice words get blocks
	// only when their segment is first used (8 MiB for 1 TiB), since only
	// allocation reads them; so do the back map's bytes and the descriptor
	// page of a segment, which a free reads only once the segment state
	// says they are ready.
	if (fd >= 0 && !layout.states_in_header) {
		if (int err = os::file_reserve(fd, layout.states_at - base, state->segment_count))
			return err;
	}
	if (!zero_when_new) {
		std::memset(state->segment_states, 0, state->segment_count);
		std::memset(state->slices_reserved, 0, layout.reserved_end - layout.reserved_at);
	}
	state->large_bytes = 0;
	state->large_blocks = 0;
	state->usage_policy.store(VMEM_USAGE_POLICY_DEFAULT, std::memory_order_relaxed);
	state->purge_kind = fd >= 0			       ? purge::kPurgeFile
			    : (header->flags & kBackingRegion) ? purge::kPurgeRegion
							       : purge::kPurgeNever;
	state->region_advice = purge::kAdviceUnprobed;
	state->purge_pending.store(0, std::memory_order_relaxed);
	state->purge_due_ns.store(0, std::memory_order_relaxed);
	state->purged_slices = 0;
	// read by every slow path without the lock, to decide whether to look
	// further under it
	race::unordered(&state->usage_policy, sizeof(state->usage_policy));
	race::unordered(&state->purge_pending, sizeof(state->purge_pending));
	race::unordered(&state->purge_due_ns, sizeof(state->purge_due_ns));
	uintptr_t gap_end = slice_address(state, state->first_slice);
	if (fd >= 0 && layout.gap_start < gap_end) {
		uintptr_t reserve_from = align_down(layout.gap_start, page);
		if (int err = os::file_reserve(fd, reserve_from - base, gap_end - reserve_from))
			return err;
	}
	heaps_init(state, layout.gap_start, gap_end);
	// Free slices are off limits until handed out, so memcheck reports a
	// stray access there (such as a block of a deleted pool read after a
	// new pool took its region).
	if (vg::active())
		vg::no_access(pointer_at(slice_address(state, state->first_slice)),
			      size_t{state->end_slice - state->first_slice} << kSliceShift);
	return spans::init(state);
}

} // namespace vmem::core
