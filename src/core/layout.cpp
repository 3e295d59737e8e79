// SPDX-License-Identifier: BSD-3-Clause
// layout.cpp -- lays out a new pool's tables and its first free span.
#include "core/layout.hpp"

#include <cerrno>
#include <cstring>

#include "core/heap.hpp"
#include "core/span_allocator.hpp"
#include "platform/os.hpp"
#include "util/valgrind.hpp"

namespace vmem::core {

int layout_init(PoolHeader *header, int fd, bool zero_when_new) noexcept
{
	size_t page = os::page_size();
	uintptr_t base = header->base;
	uintptr_t end = base + header->size;
	PoolState *state = state_of(header);
	uintptr_t colour_offset = uintptr_t{pool_colour(address_of(header))} * 64;

	// slices are numbered in 32 bits: 64 TiB
	if ((align_up(end, kSegmentSize) - align_down(base, kSegmentSize)) >> kSliceShift > UINT32_MAX)
		return EFBIG;
	state->lock.init();
	state->pool_base = base;
	state->slice_origin = align_down(base, kSegmentSize);
	state->segment_count =
	    static_cast<uint32_t>((align_up(end, kSegmentSize) - state->slice_origin) >> kSegmentShift);
	state->fd = fd;
	state->zero_when_new = zero_when_new ? 1 : 0;

	// The segment states (a byte each) are read by every free: they go in
	// the header page right after the state when they fit (pools of up to
	// about a GiB), so a free touches one page of metadata less.  Else they
	// start the allocator's space.  Then come a word of file-block bits per
	// segment (a bit per slice), the back map (a byte per slice, see
	// span_head) and the descriptor table.
	uintptr_t state_end = address_of(state) + sizeof(PoolState);
	bool states_in_header = state_end + state->segment_count <= address_of(header) + page;
	uintptr_t space_at = base + header->heap_offset + colour_offset;
	uintptr_t states_at = states_in_header ? state_end : space_at;
	uintptr_t reserved_at = states_in_header ? space_at : align_up(states_at + state->segment_count, 8);
	uintptr_t reserved_end = reserved_at + uint64_t{state->segment_count} * 8;
	uintptr_t back_at = align_up(reserved_end, 64);
	uintptr_t back_end = back_at + uint64_t{state->segment_count} * kSlicesPerSegment;
	uintptr_t table_at = align_up(back_end, page) + colour_offset;
	uintptr_t tables_end =
	    table_at + uint64_t{state->segment_count} * kSlicesPerSegment * sizeof(SliceDescriptor);
	state->segment_states = pointer_at<uint8_t>(states_at);
	state->slices_reserved = pointer_at<uint64_t>(reserved_at);
	state->slice_back = pointer_at<uint8_t>(back_at);
	state->descriptors = pointer_at<SliceDescriptor>(table_at);
	// The gap up to the first slice boundary holds the first thread heaps
	// (a 14 MiB pool fits a few there) instead of going unused; the first
	// slice moves up one when not even one heap would fit, since a
	// pool's first thread would otherwise take a whole slab of heaps.
	uintptr_t gap_start = align_up(tables_end, 64) + colour_offset;
	state->first_slice = slice_of(state, align_up(gap_start + sizeof(ThreadHeap), kSliceSize));
	state->end_slice = slice_of(state, align_down(end, kSliceSize));
	if (tables_end > end || state->first_slice >= state->end_slice)
		return ENOMEM; // cannot happen above VMEM_MIN_POOL, but a check costs nothing here
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
	if (fd >= 0 && !states_in_header) {
		if (int err = os::file_reserve(fd, states_at - base, state->segment_count))
			return err;
	}
	if (!zero_when_new) {
		std::memset(state->segment_states, 0, state->segment_count);
		std::memset(state->slices_reserved, 0, reserved_end - reserved_at);
	}
	state->large_bytes = 0;
	state->large_blocks = 0;
	uintptr_t gap_end = slice_address(state, state->first_slice);
	if (fd >= 0 && gap_start < gap_end) {
		uintptr_t reserve_from = align_down(gap_start, page);
		if (int err = os::file_reserve(fd, reserve_from - base, gap_end - reserve_from))
			return err;
	}
	heaps_init(state, gap_start, gap_end);
	// Free slices are off limits until handed out, so memcheck reports a
	// stray access there (such as a block of a deleted pool read after a
	// new pool took its region).
	if (vg::active())
		vg::no_access(pointer_at(slice_address(state, state->first_slice)),
			      size_t{state->end_slice - state->first_slice} << kSliceShift);
	return spans::init(state);
}

} // namespace vmem::core
