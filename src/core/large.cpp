// SPDX-License-Identifier: BSD-3-Clause
// large.cpp -- blocks over 64 KiB on spans of their own.
#include "core/large.hpp"

#include "core/span_allocator.hpp"
#include "util/valgrind.hpp"

namespace vmem::core {

namespace {

// Slices for `size` bytes starting `offset` bytes into the span; 0 when
// that is more slices than a pool can have.
uint32_t slices_for(size_t size, size_t offset) noexcept
{
	uint64_t limit = uint64_t{UINT32_MAX} << kSliceShift;
	if (size > limit - offset)
		return 0;
	return static_cast<uint32_t>((size + offset + kSliceSize - 1) >> kSliceShift);
}

} // namespace

void *large_malloc(PoolState *state, size_t size, size_t alignment, size_t *zero_from) noexcept
{
	uint32_t count = slices_for(size, 0);
	if (count == 0)
		return nullptr;
	LockGuard guard(state->lock);
	uint32_t fresh_before = state->fresh_slice;
	int err = 0;
	uint32_t first = spans::allocate(state, count, alignment, &err);
	if (first == 0)
		return nullptr;
	SliceDescriptor &span = state->descriptors[first];
	span.kind = SliceKind::large;
	span.slice_count = count;
	span.back_offset = 0;
	span.block_size = 0;
	span.flags = 0;
	if (count > 1) {
		SliceDescriptor &last = state->descriptors[first + count - 1];
		last.kind = SliceKind::interior;
		last.back_offset = count - 1;
	}
	state->large_bytes += uint64_t{count} << kSliceShift;
	state->large_blocks++;
	// slices at or above the old fresh mark were never handed out
	if (!state->zero_when_new || first + count <= fresh_before)
		*zero_from = size;
	else if (first >= fresh_before)
		*zero_from = 0;
	else
		*zero_from = size_t{fresh_before - first} << kSliceShift;
	void *block = pointer_at(slice_address(state, first));
	if (vg::active())
		vg::malloc_like(block, size_t{count} << kSliceShift, *zero_from == 0);
	return block;
}

void large_free(PoolState *state, SliceDescriptor *span) noexcept
{
	uint32_t first = index_of(state, span);
	uint32_t count = span->slice_count;
	if (vg::active()) {
		vg::free_like(large_block_address(state, span));
		vg::no_access(pointer_at(slice_address(state, first)), size_t{count} << kSliceShift);
	}
	LockGuard guard(state->lock);
	state->large_bytes -= uint64_t{count} << kSliceShift;
	state->large_blocks--;
	spans::release(state, first, count);
}

size_t large_usable_size(const SliceDescriptor *span) noexcept
{
	return (size_t{span->slice_count} << kSliceShift) - span->block_size;
}

bool large_resize_in_place(PoolState *state, SliceDescriptor *span, size_t size) noexcept
{
	uint32_t count = span->slice_count;
	uint32_t new_count = slices_for(size, span->block_size);
	if (new_count == 0)
		return false;
	if (new_count == count)
		return true;
	uint32_t first = index_of(state, span);
	size_t old_usable = large_usable_size(span);
	bool done;
	{
		LockGuard guard(state->lock);
		done = new_count < count ? spans::shrink_in_place(state, first, count, new_count)
					 : spans::grow_in_place(state, first, count, new_count);
		if (done) {
			state->large_bytes -= uint64_t{count} << kSliceShift;
			state->large_bytes += uint64_t{new_count} << kSliceShift;
		}
	}
	if (done && vg::active()) {
		vg::resize_in_place(large_block_address(state, span), old_usable, large_usable_size(span));
		if (new_count < count)
			vg::no_access(pointer_at(slice_address(state, first + new_count)),
				      size_t{count - new_count} << kSliceShift);
	}
	return done;
}

} // namespace vmem::core
