// SPDX-License-Identifier: BSD-3-Clause
// purge.cpp -- gives free slices' memory or file blocks back, by policy or on request.
#include "core/purge.hpp"

#include <bit>
#include <cerrno>

#include "libvmem.h"
#include "platform/os.hpp"
#include "util/bits.hpp"
#include "util/mutex.hpp"

namespace vmem::core::purge {

namespace {

// Gives back slices [first, first + count) of one segment (the bits of
// `run` in its word); false when the pool cannot give memory back.
bool give_back(PoolState *state, uint32_t first, uint32_t count) noexcept
{
	uintptr_t address = slice_address(state, first);
	size_t bytes = size_t{count} << kSliceShift;
	if (state->purge_kind == kPurgeFile) {
		if (os::file_punch(state->fd, address - state->pool_base, bytes) == 0)
			return true;
		// a file system without hole punching: free slices are reused
		// as they are, as every pool's were before purging
		state->purge_kind = kPurgeNever;
		return false;
	}
	if (state->purge_kind != kPurgeRegion)
		return false;
	// The first purge of a region finds the advice that works there:
	// MADV_REMOVE for shared mappings (it frees their pages and file
	// blocks), MADV_DONTNEED for private ones (MADV_REMOVE refuses those).
	if (state->region_advice == kAdviceUnprobed || state->region_advice == kAdviceRemove) {
		if (os::advise(pointer_at(address), bytes, os::Advice::remove) == 0) {
			state->region_advice = kAdviceRemove;
			return true;
		}
		if (state->region_advice == kAdviceRemove)
			return false;
	}
	if (os::advise(pointer_at(address), bytes, os::Advice::dont_need) == 0) {
		state->region_advice = kAdviceDontNeed;
		return true;
	}
	state->region_advice = kAdviceNone;
	state->purge_kind = kPurgeNever;
	return false;
}

// Purges the slices of [first, first + count) that hold memory; the bytes
// given back.  Slices at or above the fresh mark never held any.
uint64_t purge_span(PoolState *state, uint32_t first, uint32_t count) noexcept
{
	uint32_t end = first + count < state->fresh_slice ? first + count : state->fresh_slice;
	uint64_t given = 0;
	for (uint32_t slice = first; slice < end && state->purge_kind != kPurgeNever;) {
		uint32_t seg = slice / kSlicesPerSegment;
		uint32_t seg_end = (seg + 1) * kSlicesPerSegment < end ? (seg + 1) * kSlicesPerSegment : end;
		if (state->segment_states[seg] & kSegmentReservedWordReady) {
			unsigned lo = slice % kSlicesPerSegment;
			unsigned length = seg_end - slice;
			uint64_t wanted = (length == 64 ? ~uint64_t{0} : (uint64_t{1} << length) - 1) << lo;
			uint64_t held = state->slices_reserved[seg] & wanted;
			while (held != 0) {
				unsigned start = static_cast<unsigned>(std::countr_zero(held));
				unsigned run = static_cast<unsigned>(std::countr_one(held >> start));
				uint64_t bits = (run == 64 ? ~uint64_t{0} : (uint64_t{1} << run) - 1)
						<< start;
				if (!give_back(state, seg * kSlicesPerSegment + start, run))
					return given;
				state->slices_reserved[seg] &= ~bits;
				given += uint64_t{run} << kSliceShift;
				state->purged_slices += run;
				held &= ~bits;
			}
		}
		slice = seg_end;
	}
	return given;
}

} // namespace

bool conservative(const PoolState *state) noexcept
{
	return state->usage_policy.load(std::memory_order_relaxed) == VMEM_USAGE_POLICY_CONSERVATIVE;
}

bool purgeable(const PoolState *state) noexcept
{
	return state->purge_kind != kPurgeNever;
}

uint64_t purge_all(PoolState *state) noexcept
{
	uint64_t given = 0;
	for (unsigned bin = 0; bin < kFreeSpanBins; bin++)
		for (uint32_t s = state->free_bins[bin]; s != 0; s = state->descriptors[s].next)
			given += purge_span(state, s, state->descriptors[s].slice_count);
	state->purge_pending.store(0, std::memory_order_relaxed);
	return given;
}

void on_release(PoolState *state, uint32_t first, uint32_t count) noexcept
{
	if (!purgeable(state))
		return;
	if (conservative(state)) {
		purge_span(state, first, count);
		return;
	}
	if (!state->purge_pending.load(std::memory_order_relaxed)) {
		state->purge_due_ns.store(os::coarse_now_ns() + kPurgeDelayNs, std::memory_order_relaxed);
		state->purge_pending.store(1, std::memory_order_relaxed);
	}
}

namespace {

bool purge_due(const PoolState *state) noexcept
{
	return state->purge_pending.load(std::memory_order_relaxed) &&
	       os::coarse_now_ns() >= state->purge_due_ns.load(std::memory_order_relaxed);
}

} // namespace

void on_slow_path(PoolState *state) noexcept
{
	if (purge_due(state))
		purge_all(state);
}

void on_heap_slow_path(PoolState *state) noexcept
{
	if (!purge_due(state))
		return;
	LockGuard guard(state->lock);
	on_slow_path(state); // another thread may have purged meanwhile
}

} // namespace vmem::core::purge
