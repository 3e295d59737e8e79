// SPDX-License-Identifier: BSD-3-Clause
// heap.cpp -- thread heaps: page queues, refills, local and remote frees, abandonment.
#include "core/block_guard.hpp"
#include "core/heap.hpp"

#include <bitset>
#include <cstring>

#include "core/purge.hpp"
#include "core/span_allocator.hpp"
#include "util/race_annotations.hpp"

namespace vmem::core {

SliceDescriptor g_empty_page{};

namespace {

// Extending a page's free list carves about this much at a time, so pages
// of a file pool are written (and backed) only as they are used.
constexpr size_t kExtendBytes = 4096;

// The range of ThreadHeap::direct entries that serve class `cls`.
struct DirectRange {
	uint16_t first;
	uint16_t last; // exclusive
};
constexpr DirectRange direct_range(unsigned cls) noexcept
{
	DirectRange range{0, 0};
	bool found = false;
	for (size_t i = 0; i < kDirectCount; i++) {
		if (size_class_of(i == 0 ? 1 : i * 8) != cls)
			continue;
		if (!found)
			range.first = static_cast<uint16_t>(i);
		found = true;
		range.last = static_cast<uint16_t>(i + 1);
	}
	return range;
}
struct DirectTable {
	DirectRange ranges[kClassCount];
	constexpr DirectTable() noexcept : ranges{}
	{
		for (unsigned c = 0; c < kClassCount; c++)
			ranges[c] = direct_range(c);
	}
};
constexpr DirectTable kDirect{};

SliceDescriptor &desc(PoolState *state, uint32_t slice) noexcept
{
	return state->descriptors[slice];
}

// Marks the slices after `first` of a `count`-slice page or slab as its
// own: each later slice's byte in the back map says how far back the page
// starts, which is how a free of a block there finds its page.  Only the
// last slice's descriptor is written, as the span's end: coalescing reads
// the kind of the slice before a freed span, and `interior` there keeps an
// older free span's end tag from passing for a free neighbour.
void tag_interior(PoolState *state, uint32_t first, uint32_t count) noexcept
{
	for (uint32_t i = 1; i < count; i++)
		state->slice_back[first + i] = static_cast<uint8_t>(i);
	if (count > 1) {
		SliceDescriptor &last = desc(state, first + count - 1);
		last.kind = SliceKind::interior;
		last.back_offset = count - 1;
	}
}

uintptr_t page_start(PoolState *state, const SliceDescriptor *page) noexcept
{
	return slice_address(state, index_of(state, page));
}

// ---------------------------------------------------------------- page queues

void queue_push(PoolState *state, PageQueue &queue, SliceDescriptor *page) noexcept
{
	uint32_t index = index_of(state, page);
	page->next = 0;
	page->prev = queue.last;
	if (queue.last != 0)
		desc(state, queue.last).next = index;
	else
		queue.first = index;
	queue.last = index;
}

void queue_remove(PoolState *state, PageQueue &queue, SliceDescriptor *page) noexcept
{
	if (page->prev != 0)
		desc(state, page->prev).next = page->next;
	else
		queue.first = page->next;
	if (page->next != 0)
		desc(state, page->next).prev = page->prev;
	else
		queue.last = page->prev;
	page->next = page->prev = 0;
}

// Calls fn(page) for every page of `queue`; fn may unlink the page it is
// given (the next one is read first).
template <typename Fn> void for_each_page_of(PoolState *state, PageQueue &queue, Fn fn) noexcept
{
	for (uint32_t index = queue.first; index != 0;) {
		SliceDescriptor *page = &desc(state, index);
		index = page->next;
		fn(page);
	}
}

void set_current(ThreadHeap *heap, unsigned cls, SliceDescriptor *page) noexcept
{
	if (heap->current[cls] != &g_empty_page)
		heap->current[cls]->flags &= static_cast<uint8_t>(~kPageCurrent);
	if (page != &g_empty_page)
		page->flags |= kPageCurrent;
	heap->current[cls] = page;
	// Under Valgrind the direct array stays on the empty page, so that
	// every allocation takes the generic path, which reports to memcheck.
	if (vg::active())
		return;
	for (unsigned i = kDirect.ranges[cls].first; i < kDirect.ranges[cls].last; i++)
		heap->direct[i] = page;
}

// ---------------------------------------------------------------- delayed-free modes

// Sets how remote frees into `page` reach its owner, first waiting out a
// remote thread that is handing a block to the owner heap right now.
void set_delayed_mode(SliceDescriptor *page, uintptr_t mode) noexcept
{
	uintptr_t old = page->thread_free.load(std::memory_order_relaxed);
	for (;;) {
		if ((old & kDelayedMask) == kDelayedFreeing) {
			__builtin_ia32_pause();
			old = page->thread_free.load(std::memory_order_relaxed);
			continue;
		}
		if ((old & kDelayedMask) == mode)
			return;
		race::happens_before(&page->thread_free); // what the owner wrote, heap_index first
		if (page->thread_free.compare_exchange_weak(old, (old & ~kDelayedMask) | mode,
							    std::memory_order_acq_rel,
							    std::memory_order_relaxed)) {
			race::happens_after(&page->thread_free);
			return;
		}
	}
}

// ---------------------------------------------------------------- page contents

// Takes the chain of blocks other threads freed into the page, leaving
// the mode bits as they are: one atomic read-modify-write, whether the
// chain is empty or not (heap_abandon counts on that).
uintptr_t take_thread_free(SliceDescriptor *page) noexcept
{
	uintptr_t taken = page->thread_free.fetch_and(kDelayedMask, std::memory_order_acq_rel);
	race::happens_after(&page->thread_free);
	return taken;
}

// Puts a chain taken from the page's thread_free onto its free list:
// those blocks are no longer used.
void splice_thread_free(SliceDescriptor *page, uintptr_t taken) noexcept
{
	auto *head = reinterpret_cast<FreeBlock *>(taken & ~kDelayedMask);
	if (head == nullptr)
		return;
	FreeBlock *tail = head;
	uint32_t count = 1;
	for (FreeBlock *next; (next = block_next(tail)) != nullptr; tail = next)
		count++;
	set_block_next(tail, page->free);
	page->free = head;
	page->flags &= static_cast<uint8_t>(~kPageFreshZero);
	page->used = static_cast<uint16_t>(page->used - count);
}

// Moves the blocks other threads freed into the page onto its free list.
void collect_thread_free(SliceDescriptor *page) noexcept
{
	if ((page->thread_free.load(std::memory_order_relaxed) & ~kDelayedMask) != 0)
		splice_thread_free(page, take_thread_free(page));
}

// Carves the next untouched blocks of the page into its (empty) free list.
void extend_free_list(PoolState *state, SliceDescriptor *page) noexcept
{
	size_t size = page->block_size;
	uint32_t count = static_cast<uint32_t>(kExtendBytes / size);
	if (count == 0)
		count = 1;
	if (count > static_cast<uint32_t>(page->reserved - page->capacity))
		count = page->reserved - page->capacity;
	uintptr_t first = page_start(state, page) + size * page->capacity;
	for (uint32_t i = 0; i < count; i++) {
		auto *block = pointer_at<FreeBlock>(first + size * i);
		set_block_next(block,
			       i + 1 < count ? pointer_at<FreeBlock>(first + size * (i + 1)) : nullptr);
		if constexpr (kCheckedBuild)
			guard::mark_carved(block);
	}
	page->free = pointer_at<FreeBlock>(first);
	// an atomic store (a plain one on x86): the checked build's frees read
	// the capacity from other threads (block_guard.hpp)
	__atomic_store_n(&page->capacity, static_cast<uint16_t>(page->capacity + count), __ATOMIC_RELAXED);
	// never-used memory of a file pool reads as zero: calloc need not clear
	if (page->flags & kPageZeroMemory)
		page->flags |= kPageFreshZero;
	else
		page->flags &= static_cast<uint8_t>(~kPageFreshZero);
}

// Gives the page free blocks if it can have any: other threads' frees, or
// untouched blocks.  False when it is full.
bool refill(PoolState *state, SliceDescriptor *page) noexcept
{
	if (page->free != nullptr)
		return true;
	collect_thread_free(page);
	if (page->free != nullptr)
		return true;
	if (page->capacity < page->reserved) {
		extend_free_list(state, page);
		return true;
	}
	return false;
}

// Pushes a freed block onto its page's free list (owner only), where the
// next allocation of its class takes it while it is still in cache.
void return_block(SliceDescriptor *page, FreeBlock *block) noexcept
{
	set_block_next(block, page->free);
	page->free = block;
	page->flags &= static_cast<uint8_t>(~kPageFreshZero);
	page->used = static_cast<uint16_t>(page->used - 1);
}

void move_to_full(PoolState *state, ThreadHeap *heap, SliceDescriptor *page) noexcept
{
	queue_remove(state, heap->queues[page->size_class], page);
	queue_push(state, heap->full, page);
	page->flags |= kPageInFull;
	set_delayed_mode(page, kDelayedUse); // from now on remote frees tell the heap
}

// The delayed-free mode stays as it is: if it still says "tell the heap",
// the next remote free does so once and sets it to "don't" itself, which
// costs less than an atomic exchange here on every page that leaves the
// full queue (a page going back and forth would pay two each time).
void move_from_full(PoolState *state, ThreadHeap *heap, SliceDescriptor *page) noexcept
{
	queue_remove(state, heap->full, page);
	queue_push(state, heap->queues[page->size_class], page);
	page->flags &= static_cast<uint8_t>(~kPageInFull);
}

// Under the pool lock: the slices of the page or heap slab whose first
// descriptor is `span` go back to the free spans.
void release_span_locked(PoolState *state, SliceDescriptor *span) noexcept
{
	uint32_t first = index_of(state, span);
	uint32_t count = span->slice_count;
	if (vg::active())
		vg::no_access(pointer_at(slice_address(state, first)), size_t{count} << kSliceShift);
	spans::release(state, first, count);
}

// Waits out a remote thread that told the owner heap of a free into this
// page (mode kDelayedFreeing) and has not yet set the mode back: the owner
// may have freed that very block already and emptied the page, and the
// remote thread's last write goes to the page's thread_free.  The page
// must not go back to the free spans, whose next page may start at the
// same descriptor, before that write.  An empty page has no block that
// another free could bring, so no remote thread enters the mode again.
void wait_out_freeing(const SliceDescriptor *page) noexcept
{
	while ((page->thread_free.load(std::memory_order_acquire) & kDelayedMask) == kDelayedFreeing)
		__builtin_ia32_pause();
	race::happens_after(&page->thread_free);
}

// Under the pool lock: takes an empty page of the heap off its queue and
// gives it back to the free spans.
void retire_locked(PoolState *state, ThreadHeap *heap, SliceDescriptor *page) noexcept
{
	queue_remove(state, (page->flags & kPageInFull) ? heap->full : heap->queues[page->size_class], page);
	wait_out_freeing(page);
	release_span_locked(state, page);
}

// An empty page that is not the current one of its class goes back to the
// pool at once: thread heaps keep pages, not piles of idle memory.
void retire(PoolState *state, ThreadHeap *heap, SliceDescriptor *page) noexcept
{
	LockGuard guard(state->lock);
	retire_locked(state, heap, page);
}

// Blocks freed by other threads into pages that were full.
void process_delayed(PoolState *state, ThreadHeap *heap) noexcept
{
	uintptr_t chain = heap->delayed_free.exchange(0, std::memory_order_acquire);
	race::happens_after(&heap->delayed_free);
	for (auto *block = reinterpret_cast<FreeBlock *>(chain); block != nullptr;) {
		FreeBlock *next = block_next(block);
		SliceDescriptor *page = span_of(state, address_of(block));
		heap_free_local(state, heap, page, block);
		block = next;
	}
}

// Pushes the chain head..tail onto the page's thread_free, or, while the
// page sits on its owner's full queue, onto the owner heap's delayed list.
void push_remote_chain(PoolState *state, SliceDescriptor *page, FreeBlock *head, FreeBlock *tail) noexcept
{
	uintptr_t old = page->thread_free.load(std::memory_order_relaxed);
	for (;;) {
		uintptr_t mode = old & kDelayedMask;
		if (mode == kDelayedFreeing) {
			__builtin_ia32_pause();
			old = page->thread_free.load(std::memory_order_relaxed);
			continue;
		}
		if (mode == kDelayedUse) {
			// Tell the owner once; the FREEING mode keeps it from
			// abandoning the heap, or giving the page back, while we
			// use them.
			if (!page->thread_free.compare_exchange_weak(
				old, (old & ~kDelayedMask) | kDelayedFreeing, std::memory_order_acquire,
				std::memory_order_relaxed))
				continue;
			race::happens_after(&page->thread_free);
			ThreadHeap *owner = heap_at(state, page->heap_index);
			uintptr_t delayed = owner->delayed_free.load(std::memory_order_relaxed);
			do {
				set_block_next(tail, reinterpret_cast<FreeBlock *>(delayed));
				race::happens_before(&owner->delayed_free);
			} while (!owner->delayed_free.compare_exchange_weak(
			    delayed, address_of(head), std::memory_order_release, std::memory_order_relaxed));
			old = page->thread_free.load(std::memory_order_relaxed);
			race::happens_before(&page->thread_free);
			while (!page->thread_free.compare_exchange_weak(
			    old, (old & ~kDelayedMask) | kDelayedNone, std::memory_order_release,
			    std::memory_order_relaxed)) {
			}
			return;
		}
		// acquire too: see push_remote
		set_block_next(tail, reinterpret_cast<FreeBlock *>(old & ~kDelayedMask));
		race::happens_before(&page->thread_free);
		if (page->thread_free.compare_exchange_weak(
			old, address_of(head) | mode, std::memory_order_acq_rel, std::memory_order_relaxed))
			return;
	}
}

// Under the pool lock: if `page` is an abandoned page, takes its remote
// frees and, when that leaves it empty, gives it back to the free spans.
// Under the lock a page's first descriptor with no owner is an abandoned
// page, on the queue of its class (heap_abandon and acquire_page_locked
// change both together); the owner is read first, since `used` of a page
// someone owns is its owner's to change.  Remote threads push onto
// thread_free without the lock, but a block on its way is still counted
// in `used`: once the take leaves `used` at 0, every carved block is on
// `free`, and no free into the page can be in flight.
bool release_if_empty_abandoned_locked(PoolState *state, SliceDescriptor *page) noexcept
{
	if (page->kind != SliceKind::page || page->owner_thread.load(std::memory_order_relaxed) != 0)
		return false;
	collect_thread_free(page);
	if (page->used != 0)
		return false;
	queue_remove(state, state->abandoned[page->size_class], page);
	release_span_locked(state, page);
	return true;
}

// Under the pool lock: every abandoned page that other threads' frees
// have emptied goes back to the free spans.
void release_empty_abandoned_locked(PoolState *state) noexcept
{
	for (auto &queue : state->abandoned)
		for_each_page_of(state, queue, [&](SliceDescriptor *page) {
			release_if_empty_abandoned_locked(state, page);
		});
}

// Pushes a chain of remote frees to its page.  Under CONSERVATIVE an
// abandoned page is then looked at under the lock, so that the frees that
// empty it give its memory back at once, as the policy promises, and not
// at the next purge.  The page's owner is read after the push: either
// heap_abandon's take of thread_free (after it clears the owner) comes
// after the push in the order of changes to thread_free, and the
// abandoning thread finds the pushed blocks itself, or it comes before,
// and the push, which reads the take's value or a later push's, acquires
// the cleared owner with it.  The page may meanwhile have been reclaimed
// or given back: release_if_empty_abandoned_locked then leaves it be.
void push_remote(PoolState *state, SliceDescriptor *page, FreeBlock *head, FreeBlock *tail) noexcept
{
	push_remote_chain(state, page, head, tail);
	if (purge::conservative(state) && page->owner_thread.load(std::memory_order_relaxed) == 0) {
		LockGuard guard(state->lock);
		release_if_empty_abandoned_locked(state, page);
	}
}

// Under the pool lock: takes an abandoned page of `cls` for the heap, or a
// new page from the free spans.  nullptr when the pool has no room.
SliceDescriptor *acquire_page_locked(PoolState *state, ThreadHeap *heap, unsigned cls) noexcept
{
	// The most recently abandoned page first: its memory is the likeliest
	// to be in cache, and taking pages back in that order keeps the live
	// blocks of short-lived threads on fewer pages.
	while (state->abandoned[cls].last != 0) {
		SliceDescriptor *page = &desc(state, state->abandoned[cls].last);
		queue_remove(state, state->abandoned[cls], page);
		page->owner_thread.store(heap->owner_thread, std::memory_order_relaxed);
		page->heap_index = heap->index;
		page->flags &= static_cast<uint8_t>(~kPageAbandoned);
		set_delayed_mode(page, kDelayedNone);
		queue_push(state, heap->queues[cls], page);
		if (refill(state, page))
			return page;
		move_to_full(state, heap, page);
	}
	uint64_t class_bit = uint64_t{1} << cls;
	uint32_t count = page_slices_of_class(cls, !(heap->classes_paged & class_bit));
	uint32_t fresh_before = state->fresh_slice;
	int err = 0;
	uint32_t first = spans::allocate(state, count, kSliceSize, &err);
	if (first == 0 && count == kSmallPageSlices) {
		// a pool with no four free slices in a row still fills up
		count = 1;
		first = spans::allocate(state, count, kSliceSize, &err);
	}
	if (first == 0)
		return nullptr;
	SliceDescriptor *page = &desc(state, first);
	size_t block_size = class_block_size(cls);
	page->kind = SliceKind::page;
	page->size_class = static_cast<uint8_t>(cls);
	page->flags = (state->zero_when_new && first >= fresh_before) ? kPageZeroMemory : 0;
	page->back_offset = 0;
	page->slice_count = count;
	page->block_size = static_cast<uint32_t>(block_size);
	page->used = 0;
	page->capacity = 0;
	page->reserved = static_cast<uint16_t>((size_t{count} << kSliceShift) / block_size);
	page->owner_thread.store(heap->owner_thread, std::memory_order_relaxed);
	page->heap_index = heap->index;
	page->free = nullptr;
	page->thread_free.store(kDelayedNone, std::memory_order_relaxed);
	// the two words other threads read and change without the lock, and
	// the count the statistics walk reads while the owner changes it
	// (walk.cpp, moving_used; TSan still checks every other access)
	race::unordered(&page->owner_thread, sizeof(page->owner_thread));
	race::unordered(&page->thread_free, sizeof(page->thread_free));
	race::unordered(&page->used, sizeof(page->used));
	tag_interior(state, first, count);
	heap->classes_paged |= class_bit;
	if (vg::active())
		vg::no_access(pointer_at(slice_address(state, first)), size_t{count} << kSliceShift);
	queue_push(state, heap->queues[cls], page);
	return page;
}

SliceDescriptor *acquire_page(PoolState *state, ThreadHeap *heap, unsigned cls) noexcept
{
	{
		LockGuard guard(state->lock);
		if (SliceDescriptor *page = acquire_page_locked(state, heap, cls))
			return page;
	}
	// The pool is out of free spans: give back what this heap and
	// abandoned heaps hold empty, and try once more.
	heap_release_empty_pages(state, heap);
	LockGuard guard(state->lock);
	return acquire_page_locked(state, heap, cls);
}

// The first free block on this heap's pages of a class in [first, end)
// whose blocks keep `alignment`, or nullptr.
void *pop_from_classes(PoolState *state, ThreadHeap *heap, unsigned first, unsigned end,
		       size_t alignment) noexcept
{
	for (unsigned cls = first; cls < end; cls++) {
		if (class_block_size(cls) % alignment != 0)
			continue;
		for (uint32_t index = heap->queues[cls].first; index != 0;) {
			SliceDescriptor *page = &desc(state, index);
			index = page->next;
			if (refill(state, page))
				return pop_block(page);
		}
	}
	return nullptr;
}

// The pool has no room for a new page of `cls`: a free block of a larger
// class on one of this heap's pages serves instead, so the last pages of
// every class fill up before the pool says no.  Classes up to twice the
// size come first (at most half the block unused); only then any larger
// one, since a full pool that can still serve a request should.  The class
// must keep the alignment blocks of `cls` have: its block size a multiple
// of the largest power of two dividing theirs.
void *malloc_from_larger_class(PoolState *state, ThreadHeap *heap, unsigned cls) noexcept
{
	size_t size = class_block_size(cls);
	size_t alignment = size & (~size + 1);
	unsigned within_double = cls + 1;
	while (within_double < kClassCount && class_block_size(within_double) <= 2 * size)
		within_double++;
	if (void *block = pop_from_classes(state, heap, cls + 1, within_double, alignment))
		return block;
	return pop_from_classes(state, heap, within_double, kClassCount, alignment);
}

} // namespace

// ---------------------------------------------------------------- public operations

ThreadHeap *heap_at(PoolState *state, uint32_t index) noexcept
{
	if (index <= state->head_heap_count)
		return pointer_at<ThreadHeap>(state->head_heaps) + (index - 1);
	uint32_t in_slabs = index - 1 - state->head_heap_count;
	uint32_t slab = state->heap_slabs[in_slabs / kHeapsPerSlab];
	return pointer_at<ThreadHeap>(slice_address(state, slab)) + in_slabs % kHeapsPerSlab;
}

namespace {

// Chains heaps [first_index, first_index + count) at `heaps` as unused.
void add_free_heaps(PoolState *state, ThreadHeap *heaps, uint32_t first_index, uint32_t count) noexcept
{
	for (uint32_t i = count; i-- > 0;) {
		heaps[i].owner_thread = 0;
		heaps[i].index = first_index + i;
		heaps[i].next_free = state->free_heaps;
		state->free_heaps = heaps[i].index;
	}
	state->heap_capacity += count;
}

// Slab numbers (indexes into PoolState::heap_slabs), a bit each; set and
// read with operator[], which does not throw.
using SlabSet = std::bitset<kMaxHeapSlabs>;

// The slab number of heap slot `index`, which is not a head heap.
uint32_t slab_number_of(const PoolState *state, uint32_t index) noexcept
{
	return (index - 1 - state->head_heap_count) / kHeapsPerSlab;
}

// Under the pool lock: whether no heap of the (present) slab is in use.
// A heap's owner changes only under the lock (heap_create, heap_abandon);
// an unused heap is in no thread's slots, no page names it (abandoned
// pages name no heap) and no remote free reaches it (heap_abandon set
// every page of it to kDelayedNever, waiting out any remote thread that
// was telling it of a free).
bool slab_unused(PoolState *state, uint32_t slab) noexcept
{
	auto *heaps = pointer_at<ThreadHeap>(slice_address(state, state->heap_slabs[slab]));
	for (uint32_t i = 0; i < kHeapsPerSlab; i++)
		if (heaps[i].owner_thread != 0)
			return false;
	return true;
}

// Under the pool lock: gives the slabs of `slabs`, whose heaps are all
// unused, back to the free spans.  Their slots leave the chain of unused
// slots; their numbers stay in heap_slabs as holes (0), which heap_create
// fills before it adds a number, so slot numbers of the other slabs, which
// pages and threads hold, do not move.
void release_heap_slabs_locked(PoolState *state, const SlabSet &slabs) noexcept
{
	for (uint32_t *link = &state->free_heaps; *link != 0;) {
		ThreadHeap *heap = heap_at(state, *link);
		if (*link > state->head_heap_count && slabs[slab_number_of(state, *link)])
			*link = heap->next_free;
		else
			link = &heap->next_free;
	}
	for (uint32_t slab = 0; slab < state->heap_slab_count; slab++) {
		if (!slabs[slab])
			continue;
		SliceDescriptor *span = &desc(state, state->heap_slabs[slab]);
		state->heap_slabs[slab] = 0;
		state->heap_capacity -= kHeapsPerSlab;
		release_span_locked(state, span);
	}
	while (state->heap_slab_count != 0 && state->heap_slabs[state->heap_slab_count - 1] == 0)
		state->heap_slab_count--;
}

} // namespace

void heaps_init(PoolState *state, uintptr_t gap_start, uintptr_t gap_end) noexcept
{
	std::memset(state->heap_slabs, 0, sizeof(state->heap_slabs));
	state->heap_slab_count = 0;
	state->free_heaps = 0;
	state->heap_capacity = 0;
	std::memset(state->abandoned, 0, sizeof(state->abandoned));
	uintptr_t start = align_up(gap_start, 64);
	state->head_heaps = start;
	state->head_heap_count =
	    start < gap_end ? static_cast<uint32_t>((gap_end - start) / sizeof(ThreadHeap)) : 0;
	if (state->head_heap_count > 0)
		add_free_heaps(state, pointer_at<ThreadHeap>(start), 1, state->head_heap_count);
}

ThreadHeap *heap_create(PoolState *state, uint32_t thread, uint64_t pool_cookie) noexcept
{
	LockGuard guard(state->lock);
	if (state->free_heaps == 0) {
		// the first slab number given back, else a new one
		uint32_t slab_number = 0;
		while (slab_number < state->heap_slab_count && state->heap_slabs[slab_number] != 0)
			slab_number++;
		if (slab_number == kMaxHeapSlabs)
			return nullptr;
		int err = 0;
		uint32_t first = spans::allocate(state, kHeapSlabSlices, kSliceSize, &err);
		if (first == 0)
			return nullptr;
		SliceDescriptor &slab = desc(state, first);
		slab.kind = SliceKind::heap_slab;
		slab.slice_count = kHeapSlabSlices;
		slab.back_offset = 0;
		tag_interior(state, first, kHeapSlabSlices);
		state->heap_slabs[slab_number] = first;
		if (slab_number == state->heap_slab_count)
			state->heap_slab_count++;
		auto *heaps = pointer_at<ThreadHeap>(slice_address(state, first));
		if (vg::active())
			vg::undefined(heaps, kHeapSlabBytes); // free slices are off limits until used
		add_free_heaps(state, heaps, state->head_heap_count + slab_number * kHeapsPerSlab + 1,
			       kHeapsPerSlab);
	}
	ThreadHeap *heap = heap_at(state, state->free_heaps);
	state->free_heaps = heap->next_free;
	uint32_t index = heap->index;
	std::memset(static_cast<void *>(heap), 0, sizeof(*heap));
	for (auto &entry : heap->direct)
		entry = &g_empty_page;
	for (auto &entry : heap->current)
		entry = &g_empty_page;
	heap->index = index;
	heap->owner_thread = thread;
	heap->pool_cookie = pool_cookie;
	race::unordered(&heap->delayed_free, sizeof(heap->delayed_free)); // remote threads push
	return heap;
}

void *heap_malloc_generic(PoolState *state, ThreadHeap *heap, size_t size) noexcept
{
	purge::on_heap_slow_path(state);
	if (heap->delayed_free.load(std::memory_order_relaxed) != 0)
		process_delayed(state, heap);
	if (heap->remote.count != 0)
		heap_flush_remote(state, heap);
	unsigned cls = size_class_of(size);
	SliceDescriptor *page = heap->current[cls];
	if (page != &g_empty_page) {
		if (refill(state, page))
			return pop_block(page);
		move_to_full(state, heap, page);
	}
	// Another page of the class with room; full ones move aside so the
	// next search does not see them again.
	for (uint32_t index = heap->queues[cls].first; index != 0;) {
		page = &desc(state, index);
		index = page->next;
		if (refill(state, page)) {
			set_current(heap, cls, page);
			return pop_block(page);
		}
		move_to_full(state, heap, page);
	}
	page = acquire_page(state, heap, cls);
	if (page == nullptr) {
		set_current(heap, cls, &g_empty_page);
		return malloc_from_larger_class(state, heap, cls);
	}
	set_current(heap, cls, page);
	refill(state, page);
	return pop_block(page);
}

void heap_free_local(PoolState *state, ThreadHeap *heap, SliceDescriptor *page, FreeBlock *block) noexcept
{
	return_block(page, block);
	if (page->flags & kPageInFull)
		move_from_full(state, heap, page);
	if (page->used == 0 && heap->current[page->size_class] != page)
		retire(state, heap, page);
}

void heap_flush_remote(PoolState *state, ThreadHeap *heap) noexcept
{
	RemoteBatch &batch = heap->remote;
	if (batch.count == 0)
		return;
	push_remote(state, batch.page, batch.head, batch.tail);
	batch = RemoteBatch{nullptr, nullptr, nullptr, 0};
}

void heap_free_remote(PoolState *state, ThreadHeap *heap, SliceDescriptor *page, FreeBlock *block) noexcept
{
	if (heap == nullptr) {
		set_block_next(block, nullptr);
		push_remote(state, page, block, block);
		return;
	}
	RemoteBatch &batch = heap->remote;
	if (batch.page == page && batch.count < kRemoteBatchMax) {
		set_block_next(block, batch.head);
		batch.head = block;
		batch.count++;
		return;
	}
	heap_flush_remote(state, heap);
	set_block_next(block, nullptr);
	batch = RemoteBatch{page, block, block, 1};
}

void heap_abandon(PoolState *state, ThreadHeap *heap) noexcept
{
	heap_flush_remote(state, heap);
	// No remote thread may tell this heap anything from here on...
	auto for_each_page = [&](auto fn) {
		for (unsigned cls = 0; cls <= kClassCount; cls++) {
			PageQueue &queue = cls < kClassCount ? heap->queues[cls] : heap->full;
			for_each_page_of(state, queue, [&](SliceDescriptor *page) { fn(queue, page); });
		}
	};
	for_each_page([](PageQueue &, SliceDescriptor *page) { set_delayed_mode(page, kDelayedNever); });
	// ...and what it was told before is returned to the pages.
	uintptr_t chain = heap->delayed_free.exchange(0, std::memory_order_acquire);
	race::happens_after(&heap->delayed_free);
	for (auto *block = reinterpret_cast<FreeBlock *>(chain); block != nullptr;) {
		FreeBlock *next = block_next(block);
		return_block(span_of(state, address_of(block)), block);
		block = next;
	}
	LockGuard guard(state->lock);
	for_each_page([&](PageQueue &queue, SliceDescriptor *page) {
		queue_remove(state, queue, page);
		// The owner goes before the remote frees are taken, with a
		// read-modify-write even when there are none: a remote thread
		// whose push comes later then sees the page without an owner
		// (push_remote), and under CONSERVATIVE gives it back if its
		// frees empty it.
		page->owner_thread.store(0, std::memory_order_relaxed);
		splice_thread_free(page, take_thread_free(page));
		if (page->used == 0) {
			release_span_locked(state, page);
			return;
		}
		page->heap_index = 0;
		page->flags =
		    static_cast<uint8_t>((page->flags & ~(kPageInFull | kPageCurrent)) | kPageAbandoned);
		queue_push(state, state->abandoned[page->size_class], page);
	});
	heap->owner_thread = 0;
	heap->next_free = state->free_heaps;
	state->free_heaps = heap->index;
	// CONSERVATIVE gives memory back as soon as nothing uses it: the
	// heap's slab too, when this was its last heap in use.
	if (heap->index > state->head_heap_count && purge::conservative(state)) {
		SlabSet unused{};
		uint32_t slab = slab_number_of(state, heap->index);
		if (slab_unused(state, slab)) {
			unused[slab] = true;
			release_heap_slabs_locked(state, unused);
		}
	}
}

void heap_release_unused_locked(PoolState *state, ThreadHeap *heap) noexcept
{
	if (heap != nullptr) {
		for (unsigned cls = 0; cls < kClassCount; cls++) {
			for_each_page_of(state, heap->queues[cls], [&](SliceDescriptor *page) {
				collect_thread_free(page);
				if (page->used != 0)
					return;
				if (heap->current[cls] == page)
					set_current(heap, cls, &g_empty_page);
				retire_locked(state, heap, page);
			});
		}
	}
	// Abandoned pages belong to nobody: under the lock, any thread may
	// take their remote frees and free the empty ones.
	release_empty_abandoned_locked(state);
	SlabSet unused{};
	for (uint32_t slab = 0; slab < state->heap_slab_count; slab++)
		if (state->heap_slabs[slab] != 0 && slab_unused(state, slab))
			unused[slab] = true;
	if (unused.any())
		release_heap_slabs_locked(state, unused);
}

void heap_settle_after_fork(PoolState *state) noexcept
{
	// The spans tile the slices ever handed out; one step per span, so a
	// large pool of large blocks costs little.
	for (uint32_t slice = state->first_slice; slice < state->fresh_slice;) {
		SliceDescriptor &span = desc(state, slice);
		slice += span.slice_count != 0 ? span.slice_count : 1;
		if (span.kind != SliceKind::page)
			continue;
		uintptr_t word = span.thread_free.load(std::memory_order_relaxed);
		if ((word & kDelayedMask) == kDelayedFreeing)
			span.thread_free.store((word & ~kDelayedMask) | kDelayedNone,
					       std::memory_order_relaxed);
	}
}

void heap_release_empty_pages(PoolState *state, ThreadHeap *heap) noexcept
{
	LockGuard guard(state->lock);
	heap_release_unused_locked(state, heap);
}

SliceDescriptor *span_of(PoolState *state, uintptr_t address) noexcept
{
	if (address < slice_address(state, state->first_slice) ||
	    address >= slice_address(state, state->end_slice))
		return nullptr;
	uint32_t slice = slice_of(state, address);
	if (!spans::descriptor_ready(state, slice))
		return nullptr;
	SliceDescriptor *d = span_head(state, slice);
	if (d->kind != SliceKind::page && d->kind != SliceKind::large)
		return nullptr;
	return d;
}

} // namespace vmem::core
