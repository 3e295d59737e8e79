// SPDX-License-Identifier: BSD-3-Clause
// span_allocator.cpp -- runs of slices: free-span bins, coalescing, file-block reservation.
#include "core/span_allocator.hpp"

#include <bit>
#include <cerrno>
#include <cstring>
#include <new>

#include "core/purge.hpp"
#include "platform/os.hpp"
#include "util/valgrind.hpp"

namespace vmem::core::spans {

namespace {

SliceDescriptor &desc(PoolState *state, uint32_t slice) noexcept
{
	return state->descriptors[slice];
}

uint32_t segment_of(uint32_t slice) noexcept
{
	return slice / kSlicesPerSegment;
}

// Gives file blocks to the page of a file pool holding `address`, one of
// the per-segment table entries (reserved-slice word, back-map bytes)
// that are reserved as their segment comes into use.
int reserve_page_holding(const PoolState *state, uintptr_t address) noexcept
{
	size_t page = os::page_size();
	return os::file_reserve(state->fd, align_down(address, page) - state->pool_base, page);
}

void link(PoolState *state, uint32_t first) noexcept
{
	SliceDescriptor &d = desc(state, first);
	unsigned bin = bin_of(d.slice_count);
	d.prev = 0;
	d.next = state->free_bins[bin];
	if (d.next != 0)
		desc(state, d.next).prev = first;
	state->free_bins[bin] = first;
	state->free_bin_bitmap[bin / 64] |= uint64_t{1} << (bin % 64);
}

void unlink(PoolState *state, uint32_t first) noexcept
{
	SliceDescriptor &d = desc(state, first);
	unsigned bin = bin_of(d.slice_count);
	if (d.prev != 0)
		desc(state, d.prev).next = d.next;
	else
		state->free_bins[bin] = d.next;
	if (d.next != 0)
		desc(state, d.next).prev = d.prev;
	if (state->free_bins[bin] == 0)
		state->free_bin_bitmap[bin / 64] &= ~(uint64_t{1} << (bin % 64));
	d.next = d.prev = 0;
}

// Marks [first, first + count) as one free span and bins it.  Its end
// descriptors' pages are ready: they were written before, as ends of spans.
void insert_free(PoolState *state, uint32_t first, uint32_t count) noexcept
{
	SliceDescriptor &head = desc(state, first);
	head.kind = SliceKind::free;
	head.back_offset = 0;
	head.slice_count = count;
	if (count > 1) {
		SliceDescriptor &tail = desc(state, first + count - 1);
		tail.kind = SliceKind::free;
		tail.back_offset = count - 1;
		tail.slice_count = count;
	}
	link(state, first);
}

// The bits [start, start + length) of a 64-bit word (length 1 to 64).
uint64_t bit_run(unsigned start, unsigned length) noexcept
{
	return (length == 64 ? ~uint64_t{0} : (uint64_t{1} << length) - 1) << start;
}

// Reserves file blocks for the slices [first, first + count) that have
// none yet, one fallocate per run of such slices in a segment.  Slice by
// slice, not a segment at a time: on tmpfs reserving is allocating (and
// zeroing) memory, so a pool pays only for the slices it hands out.
//
// In a region the bits say which slices hold memory (purge.cpp gives
// that back); a device DAX pool keeps none.
int reserve_data(PoolState *state, uint32_t first, uint32_t count) noexcept
{
	bool file = state->fd >= 0;
	if (!file && state->purge_kind != purge::kPurgeRegion)
		return 0;
	uint32_t end = first + count;
	for (uint32_t seg = segment_of(first); seg <= segment_of(end - 1); seg++) {
		uint32_t seg_first = seg * kSlicesPerSegment;
		uint32_t lo = first > seg_first ? first - seg_first : 0;
		uint32_t hi = end < seg_first + kSlicesPerSegment ? end - seg_first : kSlicesPerSegment;
		if (!(state->segment_states[seg] & kSegmentReservedWordReady)) {
			if (file)
				if (int err =
					reserve_page_holding(state, address_of(&state->slices_reserved[seg])))
					return err;
			state->segment_states[seg] |= kSegmentReservedWordReady;
		}
		uint64_t wanted = bit_run(lo, hi - lo);
		uint64_t missing = wanted & ~state->slices_reserved[seg];
		while (missing != 0) {
			unsigned run_start = static_cast<unsigned>(std::countr_zero(missing));
			unsigned run_length = static_cast<unsigned>(std::countr_one(missing >> run_start));
			int err = file ? os::file_reserve(state->fd,
							  slice_address(state, seg_first + run_start) -
							      state->pool_base,
							  uint64_t{run_length} << kSliceShift)
				       : 0;
			if (err != 0)
				return err;
			uint64_t run = bit_run(run_start, run_length);
			state->slices_reserved[seg] |= run;
			missing &= ~run;
		}
	}
	return 0;
}

// The first slice at or after `first` whose address is aligned to `alignment`.
uint32_t aligned_slice(const PoolState *state, uint32_t first, size_t alignment) noexcept
{
	return slice_of(state, align_up(slice_address(state, first), alignment));
}

// Takes `count` slices from the free span starting at `first` (already
// unlinked), aligned to `alignment`; gives back the slices before and after.
uint32_t carve(PoolState *state, uint32_t first, uint32_t span_count, uint32_t count,
	       size_t alignment) noexcept
{
	uint32_t start = aligned_slice(state, first, alignment);
	uint32_t head = start - first;
	uint32_t tail = span_count - head - count;
	if (head > 0)
		insert_free(state, first, head);
	if (tail > 0)
		insert_free(state, start + count, tail);
	return start;
}

// How many spans of one bin find_fit compares before taking the best seen.
constexpr unsigned kFitScanLimit = 32;

// A free span that can hold `count` slices at `alignment`, unlinked: the
// shortest of the first kFitScanLimit that fit in the lowest bin holding
// any, the lower address on a tie.  Best fit keeps long spans long, which
// holds a pool's footprint (and, in a file pool, its reserved blocks) near
// what is live when big blocks of many sizes come and go.
uint32_t find_fit(PoolState *state, uint32_t count, size_t alignment, uint32_t *span_count) noexcept
{
	auto best_in_bin = [&](unsigned bin) -> uint32_t {
		uint32_t best = 0;
		uint32_t best_length = UINT32_MAX;
		unsigned seen = 0;
		for (uint32_t s = state->free_bins[bin]; s != 0 && seen < kFitScanLimit;
		     s = desc(state, s).next) {
			uint32_t length = desc(state, s).slice_count;
			if (uint64_t{aligned_slice(state, s, alignment)} + count > uint64_t{s} + length)
				continue;
			seen++;
			if (length < best_length || (length == best_length && s < best)) {
				best = s;
				best_length = length;
			}
		}
		return best;
	};
	// the bin `count` falls in also holds spans shorter than it; every
	// span in a higher bin is long enough (but for an alignment)
	for (unsigned bin = bin_of(count); bin < kFreeSpanBins;) {
		uint64_t word = state->free_bin_bitmap[bin / 64] >> (bin % 64);
		if (word == 0) {
			bin = (bin / 64 + 1) * 64; // the rest of this word's bins are empty
			continue;
		}
		bin += static_cast<unsigned>(std::countr_zero(word));
		if (uint32_t s = best_in_bin(bin)) {
			*span_count = desc(state, s).slice_count;
			unlink(state, s);
			return s;
		}
		bin++;
	}
	return 0;
}

} // namespace

bool descriptor_ready(const PoolState *state, uint32_t slice) noexcept
{
	return state->segment_states[segment_of(slice)] & kSegmentDescriptorsReady;
}

int prepare_descriptors(PoolState *state, uint32_t first, uint32_t last) noexcept
{
	for (uint32_t seg = segment_of(first); seg <= segment_of(last); seg++) {
		if (state->segment_states[seg] & kSegmentDescriptorsReady)
			continue;
		SliceDescriptor *page = &state->descriptors[seg * kSlicesPerSegment];
		uint8_t *back = &state->slice_back[seg * kSlicesPerSegment];
		if (state->fd >= 0) {
			if (int err = os::file_reserve(state->fd, address_of(page) - state->pool_base,
						       kSlicesPerSegment * sizeof(SliceDescriptor)))
				return err;
			if (int err = reserve_page_holding(state, address_of(back)))
				return err;
		}
		// A new file reads as zero already; a region holds whatever the
		// program left there.
		if (!state->zero_when_new) {
			for (uint32_t i = 0; i < kSlicesPerSegment; i++)
				new (&page[i]) SliceDescriptor{};
			std::memset(back, 0, kSlicesPerSegment);
		}
		state->segment_states[seg] |=
		    vg::active() ? kSegmentDescriptorsReady : kSegmentDescriptorsReady | kSegmentFastFree;
	}
	return 0;
}

int init(PoolState *state) noexcept
{
	std::memset(state->free_bins, 0, sizeof(state->free_bins));
	std::memset(state->free_bin_bitmap, 0, sizeof(state->free_bin_bitmap));
	uint32_t first = state->first_slice;
	uint32_t last = state->end_slice - 1;
	if (int err = prepare_descriptors(state, first, first))
		return err;
	if (int err = prepare_descriptors(state, last, last))
		return err;
	insert_free(state, first, state->end_slice - first);
	return 0;
}

uint32_t allocate(PoolState *state, uint32_t count, size_t alignment, int *err) noexcept
{
	purge::on_slow_path(state);
	uint32_t span_count = 0;
	uint32_t first = find_fit(state, count, alignment, &span_count);
	if (first == 0) {
		*err = ENOMEM;
		return 0;
	}
	// The descriptors of the span's ends exist; those of the pieces
	// carve may write (the new span's ends, the remainder's ends) may not.
	uint32_t start = aligned_slice(state, first, alignment);
	int prepared = prepare_descriptors(state, start, start + count - 1);
	if (prepared == 0 && start + count < first + span_count)
		prepared = prepare_descriptors(state, start + count, start + count);
	if (prepared == 0 && start > first)
		prepared = prepare_descriptors(state, start - 1, start - 1);
	if (prepared == 0)
		prepared = reserve_data(state, start, count);
	if (prepared != 0) {
		insert_free(state, first, span_count); // as it was
		*err = prepared;
		return 0;
	}
	carve(state, first, span_count, count, alignment);
	state->slice_back[start] = 0; // the span's first slice is its own head
	if (start + count > state->fresh_slice)
		state->fresh_slice = start + count;
	return start;
}

void release(PoolState *state, uint32_t first, uint32_t count) noexcept
{
	// If the span merges into a free left neighbour, its first descriptor
	// ends up inside the merged span: it must no longer say what it was,
	// or a stray pointer into these slices would find a page there.
	desc(state, first).kind = SliceKind::unused;
	if (first > state->first_slice && descriptor_ready(state, first - 1)) {
		SliceDescriptor &left = desc(state, first - 1);
		if (left.kind == SliceKind::free) {
			uint32_t left_first = first - 1 - left.back_offset;
			unlink(state, left_first);
			count += first - left_first;
			first = left_first;
		}
	}
	uint32_t after = first + count;
	if (after < state->end_slice && descriptor_ready(state, after)) {
		SliceDescriptor &right = desc(state, after);
		if (right.kind == SliceKind::free && right.back_offset == 0) {
			uint32_t right_count = right.slice_count;
			unlink(state, after);
			right.kind = SliceKind::unused; // now inside the merged span
			count += right_count;
		}
	}
	insert_free(state, first, count);
	purge::on_release(state, first, count);
	purge::on_slow_path(state);
}

bool grow_in_place(PoolState *state, uint32_t first, uint32_t count, uint32_t new_count) noexcept
{
	uint32_t after = first + count;
	if (after >= state->end_slice || !descriptor_ready(state, after))
		return false;
	SliceDescriptor &right = desc(state, after);
	if (right.kind != SliceKind::free || right.back_offset != 0 || count + right.slice_count < new_count)
		return false;
	uint32_t right_count = right.slice_count;
	uint32_t extra = new_count - count;
	// the new last slice's descriptor, and the remainder's first when
	// there is a remainder (the one inserted below): a span grown to the
	// pool's end has none, and the slice past the end has no descriptor
	bool remainder = right_count > extra;
	uint32_t new_last = first + new_count - 1;
	if (prepare_descriptors(state, new_last, remainder ? new_last + 1 : new_last) != 0 ||
	    reserve_data(state, after, extra) != 0)
		return false;
	unlink(state, after);
	right.kind = SliceKind::unused;
	if (remainder)
		insert_free(state, first + new_count, right_count - extra);
	desc(state, first).slice_count = new_count;
	SliceDescriptor &last = desc(state, first + new_count - 1);
	last.kind = SliceKind::interior;
	last.back_offset = new_count - 1;
	if (first + new_count > state->fresh_slice)
		state->fresh_slice = first + new_count;
	return true;
}

bool shrink_in_place(PoolState *state, uint32_t first, uint32_t count, uint32_t new_count) noexcept
{
	if (new_count >= count)
		return true;
	uint32_t cut = first + new_count;
	if (prepare_descriptors(state, cut - 1, cut) != 0)
		return false;
	if (new_count > 1) {
		SliceDescriptor &last = desc(state, cut - 1);
		last.kind = SliceKind::interior;
		last.back_offset = new_count - 1;
	}
	desc(state, first).slice_count = new_count;
	release(state, cut, count - new_count);
	return true;
}

uint64_t free_slices(const PoolState *state) noexcept
{
	uint64_t total = 0;
	for (unsigned bin = 0; bin < kFreeSpanBins; bin++) {
		for (uint32_t s = state->free_bins[bin]; s != 0; s = state->descriptors[s].next)
			total += state->descriptors[s].slice_count;
	}
	return total;
}

} // namespace vmem::core::spans
