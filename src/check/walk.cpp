// SPDX-License-Identifier: BSD-3-Clause
// walk.cpp -- verifies a pool's metadata invariant by invariant while visiting it.
#include "check/walk.hpp"

#include <bit>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "core/heap.hpp"
#include "core/pool.hpp"
#include "core/pool_directory.hpp"
#include "core/span_allocator.hpp"
#include "core/thread_cache.hpp"
#include "platform/os.hpp"
#include "util/bits.hpp"
#include "util/mutex.hpp"
#include "util/race_annotations.hpp"

namespace vmem::check {

using namespace core;

const char *invariant_name(unsigned invariant) noexcept
{
	static const char *const kNames[kInvariantCount] = {
	    "none",	      "pool overlap", "header",	       "table geometry",
	    "slice tiling",   "span ends",    "readiness",     "fresh mark",
	    "free-span bins", "coalescing",   "page geometry", "free lists",
	    "page ownership", "page queues",  "heap table",    "large blocks",
	};
	return invariant < kInvariantCount ? kNames[invariant] : "unknown";
}

namespace {

// A page's block count as it is now, while its owner thread may be
// changing it: a statistic, not something to verify.  The owner writes
// the count without atomics (its fast path must not pay for them), so
// this read is a deliberate race, hidden from ThreadSanitizer.
__attribute__((no_sanitize_thread)) uint32_t moving_used(const SliceDescriptor *page) noexcept
{
	return *reinterpret_cast<const volatile uint16_t *>(&page->used);
}

// Bits over a range of numbers, in memory the walk maps for itself (the
// library never calls the system malloc, and a large pool's bitmaps can
// be megabytes, of which only the words of used slices are touched).
class Bitmap {
public:
	Bitmap() = default;
	Bitmap(const Bitmap &) = delete;
	Bitmap &operator=(const Bitmap &) = delete;
	~Bitmap()
	{
		if (words_ != nullptr)
			os::unmap(words_, bytes_);
	}
	bool init(uint64_t bits) noexcept
	{
		bytes_ = align_up(((bits + 63) / 64) * 8, os::page_size());
		void *addr = nullptr;
		if (os::map_anonymous(bytes_, &addr) != 0)
			return false;
		words_ = static_cast<uint64_t *>(addr);
		return true;
	}
	bool test(uint64_t bit) const noexcept
	{
		return (words_[bit / 64] >> (bit % 64)) & 1;
	}
	void set(uint64_t bit) noexcept
	{
		words_[bit / 64] |= uint64_t{1} << (bit % 64);
	}

private:
	uint64_t *words_ = nullptr;
	size_t bytes_ = 0;
};

class Walk {
public:
	Walk(PoolHeader *header, const PoolRecord &record, uint32_t id, Visitor &visitor,
	     Finding *finding) noexcept
	    : header_(header), state_(state_of(header)), record_(record), id_(id), visitor_(visitor),
	      finding_(finding)
	{
	}

	// Invariant 2, before anything else of the pool is read.
	bool header_holds() noexcept;
	// Everything else, under the pool lock.
	bool run() noexcept;
	bool out_of_memory() const noexcept
	{
		return out_of_memory_;
	}

private:
	bool fail(unsigned invariant, uintptr_t address, const char *fmt, ...) noexcept
	    __attribute__((format(printf, 4, 5)));

	SliceDescriptor &desc(uint32_t slice) const noexcept
	{
		return state_->descriptors[slice];
	}
	uintptr_t desc_address(uint32_t slice) const noexcept
	{
		return address_of(&desc(slice));
	}
	bool ready(uint32_t slice) const noexcept
	{
		return spans::descriptor_ready(state_, slice);
	}
	bool is_slice(uint32_t slice) const noexcept
	{
		return slice >= state_->first_slice && slice < state_->end_slice;
	}
	uint64_t bit(uint32_t slice) const noexcept
	{
		return slice - state_->first_slice;
	}
	bool is_head(uint32_t slice, SliceKind kind) const noexcept
	{
		return is_slice(slice) && heads_.test(bit(slice)) && desc(slice).kind == kind;
	}
	// The descriptor `d` points at, when it is the first of a page.
	bool is_page(const SliceDescriptor *d) const noexcept
	{
		if (d < state_->descriptors)
			return false;
		uint64_t slice = static_cast<uint64_t>(d - state_->descriptors);
		return slice < state_->end_slice && &desc(static_cast<uint32_t>(slice)) == d &&
		       is_head(static_cast<uint32_t>(slice), SliceKind::page);
	}
	// Slot numbers run up to the last slab number in use; the slots of a
	// slab given back (a hole in heap_slabs) are not in the table.
	uint32_t slot_limit() const noexcept
	{
		return state_->head_heap_count + state_->heap_slab_count * kHeapsPerSlab;
	}
	bool slot_in_hole(uint32_t index) const noexcept
	{
		return index > state_->head_heap_count &&
		       state_->heap_slabs[(index - 1 - state_->head_heap_count) / kHeapsPerSlab] == 0;
	}
	// Heap slot `index` (1..slot_limit()), or nullptr when the slab
	// recorded for it does not lie among the pool's slices.
	ThreadHeap *heap_or_null(uint32_t index) const noexcept
	{
		if (index > state_->head_heap_count) {
			uint32_t slab =
			    state_->heap_slabs[(index - 1 - state_->head_heap_count) / kHeapsPerSlab];
			if (!is_slice(slab) || state_->end_slice - slab < kHeapSlabSlices)
				return nullptr;
		}
		return heap_at(state_, index);
	}

	bool geometry_holds() noexcept;
	bool segment_states_hold() noexcept;
	bool spans_hold() noexcept;
	bool span_holds(uint32_t first, const SliceDescriptor &d, bool previous_free) noexcept;
	bool file_blocks_held(uint32_t first, uint32_t count) noexcept;
	bool page_holds(uint32_t first, const SliceDescriptor &page) noexcept;
	bool block_list_holds(uint32_t first, const SliceDescriptor &page, const FreeBlock *head,
			      uint32_t limit, const char *list, uint32_t *count) noexcept;
	bool large_holds(uint32_t first, const SliceDescriptor &span) noexcept;
	bool free_bins_hold() noexcept;
	bool heap_table_holds() noexcept;
	bool abandoned_queues_hold() noexcept;
	bool own_heap_holds(ThreadHeap *heap) noexcept;
	bool queue_holds(const PageQueue &queue, uint32_t limit, const char *what,
			 bool (Walk::*entry_holds)(uint32_t, const SliceDescriptor &, unsigned) noexcept,
			 unsigned arg, uint32_t *count) noexcept;
	bool abandoned_entry_holds(uint32_t slice, const SliceDescriptor &page, unsigned cls) noexcept;
	bool own_entry_holds(uint32_t slice, const SliceDescriptor &page, unsigned cls) noexcept;

	PoolHeader *header_;
	PoolState *state_;
	const PoolRecord &record_;
	uint32_t id_;
	Visitor &visitor_;
	Finding *finding_;
	uint32_t me_ = 0;		 // the calling thread's number (0: it has no heap anywhere)
	ThreadHeap *own_heap_ = nullptr; // the calling thread's heap in this pool

	Bitmap heads_;	 // slice starts a span
	Bitmap visited_; // span already met on a list
	uint32_t free_spans_ = 0;
	uint32_t slab_spans_ = 0;
	uint32_t abandoned_pages_ = 0;
	uint32_t own_pages_ = 0;
	uint64_t large_bytes_ = 0;
	uint64_t large_blocks_ = 0;
	bool out_of_memory_ = false;
};

bool Walk::fail(unsigned invariant, uintptr_t address, const char *fmt, ...) noexcept
{
	finding_->invariant = invariant;
	finding_->address = address;
	va_list ap;
	va_start(ap, fmt);
	std::vsnprintf(finding_->detail, sizeof(finding_->detail), fmt, ap);
	va_end(ap);
	return false;
}

// ---------------------------------------------------------------- 2, 3: header and geometry

bool Walk::header_holds() noexcept
{
	uintptr_t at = address_of(header_);
	size_t page = os::page_size();
	uint32_t backing = record_.flags & (kBackingFile | kBackingDeviceDax | kBackingRegion | kGrowing);
	if (std::memcmp(header_->signature, kHeaderSignature, sizeof(kHeaderSignature)) != 0)
		return fail(kInvHeader, at, "the header's signature is wrong");
	if (header_->format_version != kFormatVersion)
		return fail(kInvHeader, at, "format version %u, expected %u", header_->format_version,
			    kFormatVersion);
	if (header_->base != record_.base)
		return fail(kInvHeader, at, "base 0x%llx, the pool is at 0x%lx",
			    static_cast<unsigned long long>(header_->base),
			    static_cast<unsigned long>(record_.base));
	if (header_->size != record_.size)
		return fail(kInvHeader, at, "size %llu, the pool spans %zu",
			    static_cast<unsigned long long>(header_->size), record_.size);
	if (header_->page_size != page || header_->heap_offset != 2 * page)
		return fail(kInvHeader, at, "page size %llu and heap offset %llu, expected %zu and %zu",
			    static_cast<unsigned long long>(header_->page_size),
			    static_cast<unsigned long long>(header_->heap_offset), page, 2 * page);
	if (header_->flags != backing)
		return fail(kInvHeader, at, "backing flags 0x%x, the pool was created with 0x%x",
			    header_->flags, backing);
	if (header_->fd != record_.fd)
		return fail(kInvHeader, at, "file descriptor %d, the pool's is %d", header_->fd, record_.fd);
	if (header_->directory_id != id_)
		return fail(kInvHeader, at, "directory id %u, the pool's is %u", header_->directory_id, id_);
	if (header_->cookie == 0)
		return fail(kInvHeader, at, "the pool's cookie is 0");
	return true;
}

bool Walk::geometry_holds() noexcept
{
	TableLayout layout;
	uintptr_t at = address_of(state_);
	if (compute_table_layout(header_, os::page_size(), &layout) != 0)
		return fail(kInvGeometry, at, "the header's size leaves no room for the tables");
	auto pointer_wrong = [&](const char *what, const void *actual, uintptr_t expected) {
		return fail(kInvGeometry, at, "%s at %p, expected 0x%lx", what, actual,
			    static_cast<unsigned long>(expected));
	};
	if (state_->pool_base != header_->base || state_->slice_origin != layout.slice_origin)
		return fail(kInvGeometry, at,
			    "pool base 0x%lx and slice origin 0x%lx, expected 0x%lx and 0x%lx",
			    static_cast<unsigned long>(state_->pool_base),
			    static_cast<unsigned long>(state_->slice_origin),
			    static_cast<unsigned long>(header_->base),
			    static_cast<unsigned long>(layout.slice_origin));
	if (state_->segment_count != layout.segment_count)
		return fail(kInvGeometry, at, "%u segments, expected %u", state_->segment_count,
			    layout.segment_count);
	if (address_of(state_->segment_states) != layout.states_at)
		return pointer_wrong("segment states", state_->segment_states, layout.states_at);
	if (address_of(state_->slices_reserved) != layout.reserved_at)
		return pointer_wrong("reserved-slice words", state_->slices_reserved, layout.reserved_at);
	if (address_of(state_->slice_back) != layout.back_at)
		return pointer_wrong("back map", state_->slice_back, layout.back_at);
	if (address_of(state_->descriptors) != layout.table_at)
		return pointer_wrong("descriptor table", state_->descriptors, layout.table_at);
	if (state_->first_slice != layout.first_slice || state_->end_slice != layout.end_slice)
		return fail(kInvGeometry, at, "slices [%u, %u), expected [%u, %u)", state_->first_slice,
			    state_->end_slice, layout.first_slice, layout.end_slice);
	if (state_->fresh_slice < state_->first_slice || state_->fresh_slice > state_->end_slice)
		return fail(kInvGeometry, at, "fresh mark %u outside [%u, %u]", state_->fresh_slice,
			    state_->first_slice, state_->end_slice);
	bool file = (header_->flags & kBackingFile) != 0;
	if (state_->fd != header_->fd || state_->zero_when_new != (file ? 1u : 0u))
		return fail(kInvGeometry, at, "file descriptor %d and zero-when-new %u, expected %d and %u",
			    state_->fd, state_->zero_when_new, header_->fd, file ? 1u : 0u);
	uintptr_t heaps_at = align_up(layout.gap_start, 64);
	uintptr_t gap_end = slice_address(state_, state_->first_slice);
	uint32_t head_heaps =
	    heaps_at < gap_end ? static_cast<uint32_t>((gap_end - heaps_at) / sizeof(ThreadHeap)) : 0;
	if (state_->head_heaps != heaps_at || state_->head_heap_count != head_heaps)
		return fail(kInvGeometry, at, "%u head heaps at 0x%lx, expected %u at 0x%lx",
			    state_->head_heap_count, static_cast<unsigned long>(state_->head_heaps),
			    head_heaps, static_cast<unsigned long>(heaps_at));
	return true;
}

// ---------------------------------------------------------------- 4-7, 9: spans

bool Walk::segment_states_hold() noexcept
{
	for (uint32_t seg = 0; seg < state_->segment_count; seg++) {
		uint8_t s = state_->segment_states[seg];
		if ((s & ~(kSegmentDescriptorsReady | kSegmentReservedWordReady | kSegmentFastFree)) != 0 ||
		    ((s & kSegmentFastFree) && !(s & kSegmentDescriptorsReady)))
			return fail(kInvReadiness, address_of(&state_->segment_states[seg]),
				    "segment %u has state 0x%x", seg, s);
	}
	return true;
}

bool Walk::file_blocks_held(uint32_t first, uint32_t count) noexcept
{
	if (state_->fd < 0)
		return true;
	for (uint32_t slice = first; slice < first + count; slice++) {
		uint32_t seg = slice / kSlicesPerSegment;
		if (!(state_->segment_states[seg] & kSegmentReservedWordReady) ||
		    !((state_->slices_reserved[seg] >> (slice % kSlicesPerSegment)) & 1))
			return fail(kInvReadiness, slice_address(state_, slice),
				    "slice %u is in use but has no file blocks reserved", slice);
	}
	return true;
}

bool Walk::spans_hold() noexcept
{
	bool previous_free = false;
	for (uint32_t slice = state_->first_slice; slice < state_->end_slice;) {
		if (!ready(slice))
			return fail(kInvReadiness, slice_address(state_, slice),
				    "slice %u starts a span but its segment's descriptors were never written",
				    slice);
		const SliceDescriptor &d = desc(slice);
		if (!span_holds(slice, d, previous_free))
			return false;
		previous_free = d.kind == SliceKind::free;
		slice += d.slice_count;
	}
	return true;
}

bool Walk::span_holds(uint32_t first, const SliceDescriptor &d, bool previous_free) noexcept
{
	uintptr_t at = address_of(&d);
	if (d.kind != SliceKind::free && d.kind != SliceKind::page && d.kind != SliceKind::large &&
	    d.kind != SliceKind::heap_slab)
		return fail(kInvTiling, at, "slice %u starts no span: its kind is %u", first,
			    static_cast<unsigned>(d.kind));
	uint32_t count = d.slice_count;
	if (d.back_offset != 0 || count == 0 || count > state_->end_slice - first)
		return fail(kInvTiling, at,
			    "span at slice %u has length %u and back offset %u (%u slices left)", first,
			    count, d.back_offset, state_->end_slice - first);
	uint32_t last = first + count - 1;
	if (count > 1) {
		if (!ready(last))
			return fail(kInvReadiness, desc_address(last),
				    "the end of the span at slice %u lies in a segment never prepared",
				    first);
		const SliceDescriptor &end = desc(last);
		bool free = d.kind == SliceKind::free;
		if ((free && (end.kind != SliceKind::free || end.slice_count != count)) ||
		    (!free && end.kind != SliceKind::interior) || end.back_offset != count - 1)
			return fail(
			    kInvSpanEnds, address_of(&end),
			    "the end tag of the %u-slice span at slice %u says kind %u, back offset %u",
			    count, first, static_cast<unsigned>(end.kind), end.back_offset);
	}
	if (d.kind != SliceKind::free) {
		if (state_->slice_back[first] != 0)
			return fail(kInvSpanEnds, address_of(&state_->slice_back[first]),
				    "the back-map byte of the span start %u is %u", first,
				    state_->slice_back[first]);
		if (d.kind != SliceKind::large)
			for (uint32_t i = 1; i < count; i++)
				if (state_->slice_back[first + i] != i)
					return fail(kInvSpanEnds, address_of(&state_->slice_back[first + i]),
						    "slice %u of the span at %u has back-map byte %u", i,
						    first, state_->slice_back[first + i]);
		if (first + count > state_->fresh_slice)
			return fail(kInvFreshMark, at, "the span at slice %u reaches past the fresh mark %u",
				    first, state_->fresh_slice);
		if (!file_blocks_held(first, count))
			return false;
	}
	heads_.set(bit(first));
	switch (d.kind) {
	case SliceKind::free:
		if (previous_free)
			return fail(kInvCoalesced, at, "the free span at slice %u follows another free span",
				    first);
		free_spans_++;
		visitor_.free_span(first, count);
		return true;
	case SliceKind::page:
		return page_holds(first, d);
	case SliceKind::large:
		return large_holds(first, d);
	default:
		if (count != kHeapSlabSlices)
			return fail(kInvHeapTable, at, "the heap slab at slice %u has %u slices", first,
				    count);
		slab_spans_++;
		visitor_.heap_slab(first, count);
		return true;
	}
}

// ---------------------------------------------------------------- 10-12: pages

bool Walk::block_list_holds(uint32_t first, const SliceDescriptor &page, const FreeBlock *head,
			    uint32_t limit, const char *list, uint32_t *count) noexcept
{
	uintptr_t start = slice_address(state_, first);
	uintptr_t carved_end = start + uint64_t{page.capacity} * page.block_size;
	uint32_t n = 0;
	for (const FreeBlock *block = head; block != nullptr; block = block_next(block)) {
		uintptr_t b = address_of(block);
		if (b < start || b >= carved_end || (b - start) % page.block_size != 0)
			return fail(
			    kInvFreeLists, b,
			    "block on the %s list of the page at slice %u is not a carved block of it "
			    "(page 0x%lx, %u blocks of %u bytes)",
			    list, first, static_cast<unsigned long>(start), page.capacity, page.block_size);
		if (++n > limit)
			return fail(kInvFreeLists, address_of(&page),
				    "the %s list of the page at slice %u is longer than %u blocks (a cycle?)",
				    list, first, limit);
	}
	*count = n;
	return true;
}

bool Walk::page_holds(uint32_t first, const SliceDescriptor &page) noexcept
{
	uintptr_t at = address_of(&page);
	unsigned cls = page.size_class;
	if (cls >= kClassCount || page.block_size != class_block_size(cls))
		return fail(kInvPageGeometry, at, "page at slice %u: class %u with %u-byte blocks", first,
			    cls, page.block_size);
	uint32_t count = page.slice_count;
	if (count != page_slices_of_class(cls, true) && count != page_slices_of_class(cls, false) &&
	    count != 1)
		return fail(kInvPageGeometry, at, "page at slice %u of class %u spans %u slices", first, cls,
			    count);
	if (page.reserved != (uint64_t{count} << kSliceShift) / page.block_size)
		return fail(
		    kInvPageGeometry, at, "page at slice %u holds %u blocks, expected %llu", first,
		    page.reserved,
		    static_cast<unsigned long long>((uint64_t{count} << kSliceShift) / page.block_size));

	// 12: owned by a live heap of the same thread, or by none
	uint32_t owner = page.owner_thread.load(std::memory_order_relaxed);
	if (owner == 0) {
		if (page.heap_index != 0 || !(page.flags & kPageAbandoned))
			return fail(kInvOwnership, at,
				    "page at slice %u has no owner but heap %u, flags 0x%x", first,
				    page.heap_index, page.flags);
		abandoned_pages_++;
	} else {
		if (page.heap_index == 0 || page.heap_index > slot_limit())
			return fail(kInvOwnership, at, "page at slice %u names heap %u of %u", first,
				    page.heap_index, slot_limit());
		if (slot_in_hole(page.heap_index))
			return fail(kInvOwnership, at,
				    "page at slice %u names heap %u, whose slab was given back", first,
				    page.heap_index);
		ThreadHeap *heap = heap_or_null(page.heap_index);
		if (heap == nullptr)
			return fail(kInvHeapTable, at,
				    "page at slice %u names heap %u, whose slab is outside the pool", first,
				    page.heap_index);
		if (heap->owner_thread != owner)
			return fail(kInvOwnership, at,
				    "page at slice %u is owned by thread %u, its heap %u by %u", first, owner,
				    page.heap_index, heap->owner_thread);
		if (owner == me_)
			own_pages_++;
	}

	PageVisit visit{first, count, cls, page.block_size, 0, 0, page.reserved, page.heap_index};
	bool quiet = owner == 0 || owner == me_;
	if (!quiet) {
		// another live thread's page: its counts move under us
		visit.live = moving_used(&page);
		visitor_.page(visit);
		return true;
	}
	// 10, 11: counts and lists of a page nobody else changes now
	if (page.capacity > page.reserved || page.used > page.capacity)
		return fail(kInvPageGeometry, at, "page at slice %u: %u blocks used, %u carved, %u in all",
			    first, page.used, page.capacity, page.reserved);
	uint32_t free_count = 0;
	uint32_t remote_count = 0;
	if (!block_list_holds(first, page, page.free, page.capacity, "free", &free_count))
		return false;
	auto *remote = reinterpret_cast<const FreeBlock *>(page.thread_free.load(std::memory_order_acquire) &
							   ~kDelayedMask);
	race::happens_after(&page.thread_free); // the remote threads' links
	if (!block_list_holds(first, page, remote, page.used, "remote-free", &remote_count))
		return false;
	if (free_count + page.used != page.capacity)
		return fail(kInvFreeLists, at, "page at slice %u: %u free blocks and %u used, but %u carved",
			    first, free_count, page.used, page.capacity);
	visit.live = page.used - remote_count;
	visit.capacity = page.capacity;
	visitor_.page(visit);
	return true;
}

// ---------------------------------------------------------------- 15: large blocks

bool Walk::large_holds(uint32_t first, const SliceDescriptor &span) noexcept
{
	uint64_t bytes = uint64_t{span.slice_count} << kSliceShift;
	if (span.block_size >= bytes || span.block_size % 16 != 0)
		return fail(kInvLarge, address_of(&span),
			    "large block at slice %u starts %u bytes into its %llu", first, span.block_size,
			    static_cast<unsigned long long>(bytes));
	large_bytes_ += bytes;
	large_blocks_++;
	visitor_.large(LargeVisit{first, span.slice_count, bytes - span.block_size});
	return true;
}

// ---------------------------------------------------------------- 8: free-span bins

bool Walk::free_bins_hold() noexcept
{
	uint32_t listed = 0;
	for (unsigned bin = 0; bin < kFreeSpanBins; bin++) {
		bool marked = (state_->free_bin_bitmap[bin / 64] >> (bin % 64)) & 1;
		if (marked != (state_->free_bins[bin] != 0))
			return fail(kInvFreeBins, address_of(&state_->free_bins[bin]),
				    "bin %u is %s but its bitmap bit says otherwise", bin,
				    marked ? "empty" : "not empty");
		uint32_t prev = 0;
		for (uint32_t slice = state_->free_bins[bin]; slice != 0;) {
			if (!is_head(slice, SliceKind::free))
				return fail(kInvFreeBins, address_of(&state_->free_bins[bin]),
					    "bin %u lists slice %u, which starts no free span", bin, slice);
			const SliceDescriptor &d = desc(slice);
			if (visited_.test(bit(slice)))
				return fail(kInvFreeBins, address_of(&d),
					    "the free span at slice %u is listed twice", slice);
			visited_.set(bit(slice));
			if (spans::bin_of(d.slice_count) != bin || d.prev != prev)
				return fail(
				    kInvFreeBins, address_of(&d),
				    "the free span at slice %u (%u slices) is in bin %u, linked back to %u "
				    "not %u",
				    slice, d.slice_count, bin, d.prev, prev);
			listed++;
			prev = slice;
			slice = d.next;
		}
	}
	if (listed != free_spans_)
		return fail(kInvFreeBins, address_of(state_->free_bins),
			    "%u free spans, but the bins list %u", free_spans_, listed);
	return true;
}

// ---------------------------------------------------------------- 14: heap table

bool Walk::heap_table_holds() noexcept
{
	uintptr_t at = address_of(state_);
	uint32_t slabs = state_->heap_slab_count; // at most kMaxHeapSlabs (run)
	uint32_t present = 0;
	for (uint32_t i = 0; i < kMaxHeapSlabs; i++) {
		uint32_t slice = state_->heap_slabs[i];
		// numbers below the count may be holes, but not the last one
		bool hole_allowed = i + 1 < slabs;
		if (slice == 0 && (i >= slabs || hole_allowed))
			continue;
		if (i >= slabs || !is_head(slice, SliceKind::heap_slab) || visited_.test(bit(slice)))
			return fail(kInvHeapTable, address_of(&state_->heap_slabs[i]),
				    "heap slab %u of %u is recorded at slice %u", i, slabs, slice);
		visited_.set(bit(slice));
		present++;
	}
	if (present != slab_spans_)
		return fail(kInvHeapTable, at, "%u heap slabs recorded, %u found among the spans", present,
			    slab_spans_);
	uint32_t capacity = state_->head_heap_count + present * kHeapsPerSlab;
	if (state_->heap_capacity != capacity)
		return fail(kInvHeapTable, at, "heap capacity %u, the head and %u slabs hold %u",
			    state_->heap_capacity, present, capacity);
	uint32_t limit = slot_limit();
	Bitmap free_slots;
	if (!free_slots.init(uint64_t{limit} + 1)) {
		out_of_memory_ = true;
		return false;
	}
	uint32_t free_count = 0;
	for (uint32_t index = state_->free_heaps; index != 0; index = heap_at(state_, index)->next_free) {
		if (index > limit || slot_in_hole(index) || free_slots.test(index))
			return fail(kInvHeapTable, at,
				    "the chain of unused heap slots reaches slot %u twice, in a slab "
				    "given back or outside the %u slots",
				    index, limit);
		ThreadHeap *heap = heap_at(state_, index);
		if (heap->owner_thread != 0 || heap->index != index)
			return fail(kInvHeapTable, address_of(heap),
				    "unused heap slot %u says it is slot %u owned by thread %u", index,
				    heap->index, heap->owner_thread);
		free_slots.set(index);
		free_count++;
	}
	uint32_t live = 0;
	for (uint32_t index = 1; index <= limit; index++) {
		if (slot_in_hole(index))
			continue;
		ThreadHeap *heap = heap_at(state_, index);
		if (heap->index != index)
			return fail(kInvHeapTable, address_of(heap), "heap slot %u says it is slot %u", index,
				    heap->index);
		if (heap->owner_thread == 0) {
			if (!free_slots.test(index))
				return fail(kInvHeapTable, address_of(heap),
					    "heap slot %u is unused but not on the chain of unused slots",
					    index);
			continue;
		}
		if (heap->pool_cookie != header_->cookie)
			return fail(kInvHeapTable, address_of(heap), "heap %u carries another pool's cookie",
				    index);
		if (heap->owner_thread == me_) {
			if (own_heap_ != nullptr)
				return fail(kInvHeapTable, address_of(heap), "thread %u owns heaps %u and %u",
					    me_, own_heap_->index, index);
			own_heap_ = heap;
		}
		live++;
		visitor_.heap(HeapVisit{index, heap->owner_thread});
	}
	if (live + free_count != capacity)
		return fail(kInvHeapTable, at, "%u heaps in use and %u unused, of %u", live, free_count,
			    capacity);
	return true;
}

// ---------------------------------------------------------------- 13: page queues

bool Walk::queue_holds(const PageQueue &queue, uint32_t limit, const char *what,
		       bool (Walk::*entry_holds)(uint32_t, const SliceDescriptor &, unsigned) noexcept,
		       unsigned arg, uint32_t *count) noexcept
{
	uint32_t prev = 0;
	uint32_t n = 0;
	for (uint32_t slice = queue.first; slice != 0;) {
		if (!is_head(slice, SliceKind::page) || visited_.test(bit(slice)))
			return fail(kInvPageQueues, address_of(&queue),
				    "the %s queue reaches slice %u, which is no page or is queued twice",
				    what, slice);
		const SliceDescriptor &page = desc(slice);
		if (++n > limit)
			return fail(kInvPageQueues, address_of(&queue),
				    "the %s queue holds more than the %u pages "
				    "that can be on it",
				    what, limit);
		if (page.prev != prev)
			return fail(kInvPageQueues, address_of(&page),
				    "the page at slice %u on the %s queue is linked back to %u, not %u",
				    slice, what, page.prev, prev);
		if (!(this->*entry_holds)(slice, page, arg))
			return false;
		visited_.set(bit(slice));
		prev = slice;
		slice = page.next;
	}
	if (queue.last != prev)
		return fail(kInvPageQueues, address_of(&queue), "the %s queue ends at %u but says %u", what,
			    prev, queue.last);
	*count += n;
	return true;
}

bool Walk::abandoned_entry_holds(uint32_t slice, const SliceDescriptor &page, unsigned cls) noexcept
{
	if (page.owner_thread.load(std::memory_order_relaxed) != 0 || page.size_class != cls)
		return fail(kInvPageQueues, address_of(&page),
			    "the page at slice %u (class %u) is on the abandoned queue of class %u but owned",
			    slice, page.size_class, cls);
	return true;
}

bool Walk::abandoned_queues_hold() noexcept
{
	uint32_t queued = 0;
	for (unsigned cls = 0; cls < kClassCount; cls++)
		if (!queue_holds(state_->abandoned[cls], abandoned_pages_, "abandoned",
				 &Walk::abandoned_entry_holds, cls, &queued))
			return false;
	if (queued != abandoned_pages_)
		return fail(kInvPageQueues, address_of(state_->abandoned), "%u abandoned pages, %u queued",
			    abandoned_pages_, queued);
	return true;
}

// `cls`: the queue's class, or kClassCount for the full queue
bool Walk::own_entry_holds(uint32_t slice, const SliceDescriptor &page, unsigned cls) noexcept
{
	bool in_full = (page.flags & kPageInFull) != 0;
	if (page.heap_index != own_heap_->index ||
	    (cls < kClassCount ? page.size_class != cls || in_full : !in_full))
		return fail(kInvPageQueues, address_of(&page),
			    "the page at slice %u (class %u, heap %u, flags 0x%x) is on queue %u of heap %u",
			    slice, page.size_class, page.heap_index, page.flags, cls, own_heap_->index);
	bool current = own_heap_->current[page.size_class] == &page;
	if (((page.flags & kPageCurrent) != 0) != current)
		return fail(kInvPageQueues, address_of(&page),
			    "the page at slice %u has the current flag %s but is %s heap %u's current page",
			    slice, (page.flags & kPageCurrent) ? "set" : "clear", current ? "" : "not",
			    own_heap_->index);
	return true;
}

bool Walk::own_heap_holds(ThreadHeap *heap) noexcept
{
	uint32_t queued = 0;
	for (unsigned cls = 0; cls <= kClassCount; cls++) {
		const PageQueue &queue = cls < kClassCount ? heap->queues[cls] : heap->full;
		if (!queue_holds(queue, own_pages_, cls < kClassCount ? "class" : "full",
				 &Walk::own_entry_holds, cls, &queued))
			return false;
	}
	if (queued != own_pages_)
		return fail(kInvPageQueues, address_of(heap), "heap %u owns %u pages, %u are queued",
			    heap->index, own_pages_, queued);
	for (unsigned cls = 0; cls < kClassCount; cls++) {
		SliceDescriptor *current = heap->current[cls];
		if (current == &g_empty_page)
			continue;
		if (!is_page(current) || current->heap_index != heap->index || current->size_class != cls ||
		    !(current->flags & kPageCurrent))
			return fail(
			    kInvPageQueues, address_of(&heap->current[cls]),
			    "heap %u's current page of class %u is not a page of it with the current flag",
			    heap->index, cls);
	}
	if (!vg::active())
		for (size_t i = 0; i < kDirectCount; i++)
			if (heap->direct[i] != heap->current[size_class_of(i == 0 ? 1 : i * 8)])
				return fail(kInvPageQueues, address_of(&heap->direct[i]),
					    "heap %u's direct entry %zu is not its current page", heap->index,
					    i);
	const RemoteBatch &batch = heap->remote;
	if (batch.count > kRemoteBatchMax || (batch.count != 0 && !is_page(batch.page)))
		return fail(kInvPageQueues, address_of(&heap->remote),
			    "heap %u's batch of %u remote frees is bad", heap->index, batch.count);
	return true;
}

bool Walk::run() noexcept
{
	if (!geometry_holds() || !segment_states_hold())
		return false;
	uint64_t slices = state_->end_slice - state_->first_slice;
	if (!heads_.init(slices) || !visited_.init(slices)) {
		out_of_memory_ = true;
		return false;
	}
	me_ = current_thread_number();
	// the heap table first: pages name heaps
	if (state_->heap_slab_count > kMaxHeapSlabs || state_->heap_capacity > slot_limit())
		return fail(kInvHeapTable, address_of(state_), "heap capacity %u with %u slabs",
			    state_->heap_capacity, state_->heap_slab_count);
	if (!spans_hold() || !free_bins_hold() || !heap_table_holds() || !abandoned_queues_hold())
		return false;
	if (own_heap_ != nullptr && !own_heap_holds(own_heap_))
		return false;
	if (large_bytes_ != state_->large_bytes || large_blocks_ != state_->large_blocks)
		return fail(kInvLarge, address_of(&state_->large_bytes),
			    "counters say %llu large blocks in %llu bytes, the spans hold %llu in %llu",
			    static_cast<unsigned long long>(state_->large_blocks),
			    static_cast<unsigned long long>(state_->large_bytes),
			    static_cast<unsigned long long>(large_blocks_),
			    static_cast<unsigned long long>(large_bytes_));
	visitor_.pool(*header_, *state_);
	return true;
}

} // namespace

WalkResult walk_pool(uintptr_t handle, Visitor &visitor, Finding *finding) noexcept
{
	directory::lock();
	uint32_t id = directory::find_by_base(handle);
	if (id == 0) {
		directory::unlock();
		return WalkResult::not_a_pool;
	}
	DirectoryEntry &entry = directory::entry(id);
	if (entry.overlaps.load(std::memory_order_relaxed) != 0) {
		finding->invariant = kInvOverlap;
		finding->address = handle;
		std::snprintf(finding->detail, sizeof(finding->detail),
			      "the pool's range shares bytes with %u other live pool(s)",
			      entry.overlaps.load(std::memory_order_relaxed));
		directory::unlock();
		return WalkResult::corrupt;
	}
	auto *header = header_of_handle(handle, os::page_size());
	Walk walk(header, *entry.record, id, visitor, finding);
	WalkResult result = WalkResult::corrupt;
	if (walk.header_holds()) {
		LockGuard guard(state_of(header)->lock);
		if (walk.run())
			result = WalkResult::consistent;
		else if (walk.out_of_memory())
			result = WalkResult::no_memory;
	}
	directory::unlock();
	return result;
}

} // namespace vmem::check
