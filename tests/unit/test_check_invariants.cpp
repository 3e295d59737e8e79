// SPDX-License-Identifier: BSD-3-Clause
// test_check_invariants.cpp -- vmem_check finds each invariant broken, names it, and never crashes.
//
// Each test corrupts exactly one piece of a region pool's metadata, expects
// vmem_check to return 0 with vmem_errormsg naming the invariant's number
// (doc/design.md, section 12), then restores the bytes and expects 1 again:
// so it was that corruption, and only it, that the checker reported.
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <pthread.h>
#include <sys/mman.h>
#include <vector>

#include "cmocka_cxx.hpp"
#include "core/heap.hpp"
#include "core/layout.hpp"
#include "core/span_allocator.hpp"
#include "libvmem.h"
#include "platform/os.hpp"
#include "util/bits.hpp"

using namespace vmem;
using namespace vmem::core;

namespace {

constexpr size_t kPoolSize = 32 * MiB;
constexpr int kSmallBlocks = 400;

struct Pool {
	char *region;
	VMEM *vmp;
	PoolHeader *header;
	PoolState *state;
	void *small[kSmallBlocks]; // 48-byte blocks, every other one freed
	void *medium;		   // a block on a 32-slice page
	void *large;		   // a large block's span
};

char *map_region(size_t size)
{
	void *p =
	    mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? nullptr : static_cast<char *>(p);
}

int setup(void **state)
{
	auto *pool = new Pool{};
	pool->region = map_region(kPoolSize);
	if (pool->region == nullptr)
		return -1;
	pool->vmp = vmem_create_in_region(pool->region, kPoolSize);
	if (pool->vmp == nullptr)
		return -1;
	pool->header = header_of_handle(address_of(pool->vmp), os::page_size());
	pool->state = state_of(pool->header);
	for (auto &p : pool->small)
		p = vmem_malloc(pool->vmp, 48);
	for (int i = 0; i < kSmallBlocks; i += 2) {
		vmem_free(pool->vmp, pool->small[i]);
		pool->small[i] = nullptr;
	}
	pool->medium = vmem_malloc(pool->vmp, 10000);
	pool->large = vmem_malloc(pool->vmp, 300 * 1024);
	if (pool->medium == nullptr || pool->large == nullptr)
		return -1;
	*state = pool;
	return 0;
}

int teardown(void **state)
{
	auto *pool = static_cast<Pool *>(*state);
	// every test restores what it broke: the pool is whole again
	assert_int_equal(vmem_check(pool->vmp), 1);
	vmem_delete(pool->vmp);
	munmap(pool->region, kPoolSize);
	delete pool;
	return 0;
}

// vmem_check reports `invariant` (and nothing else) for the pool as it is
// now.  `line` is the caller's, for the failure message.
void expect_violation(VMEM *vmp, unsigned invariant, int line = __builtin_LINE())
{
	char expected[32];
	std::snprintf(expected, sizeof(expected), "invariant %u ", invariant);
	int verdict = vmem_check(vmp);
	const char *message = vmem_errormsg();
	if (verdict != 0 || std::strstr(message, expected) != message) {
		std::fprintf(stderr, "line %d: expected 0 and \"%s\", got %d and \"%s\"\n", line, expected,
			     verdict, message);
		fail();
	}
}

// Sets *field to `bad`, expects `invariant` reported, puts the old value
// back and expects the pool consistent again.
template <typename T>
void corrupt(VMEM *vmp, T *field, T bad, unsigned invariant, int line = __builtin_LINE())
{
	T saved;
	std::memcpy(static_cast<void *>(&saved), field, sizeof(T));
	std::memcpy(static_cast<void *>(field), &bad, sizeof(T));
	expect_violation(vmp, invariant, line);
	std::memcpy(static_cast<void *>(field), &saved, sizeof(T));
	assert_int_equal(vmem_check(vmp), 1);
}

Pool &pool_of(void **state)
{
	return *static_cast<Pool *>(*state);
}

SliceDescriptor *page_of(Pool &pool, const void *block)
{
	SliceDescriptor *page = span_of(pool.state, address_of(block));
	assert_non_null(page);
	return page;
}

uint32_t slice_of_block(Pool &pool, const void *block)
{
	return index_of(pool.state, page_of(pool, block));
}

// ---------------------------------------------------------------- 1: overlap, -1 cases

void overlapping_pools_both_report_invariant_1(void **)
{
	char *region = map_region(48 * MiB);
	assert_non_null(region);
	VMEM *a = vmem_create_in_region(region, kPoolSize);
	VMEM *b = vmem_create_in_region(region + 16 * MiB, kPoolSize); // heads apart, ranges shared
	assert_non_null(a);
	assert_non_null(b);
	expect_violation(a, 1);
	expect_violation(b, 1);
	vmem_delete(b);
	assert_int_equal(vmem_check(a), 1);
	vmem_delete(a);
	munmap(region, 48 * MiB);
}

void handles_that_are_no_pool_give_minus_one(void **)
{
	errno = 0;
	assert_int_equal(vmem_check(nullptr), -1);
	assert_int_equal(errno, EINVAL);
	char *region = map_region(kPoolSize);
	assert_non_null(region);
	// never a pool: nothing is read through the handle
	errno = 0;
	assert_int_equal(vmem_check(reinterpret_cast<VMEM *>(region + 4 * os::page_size())), -1);
	assert_int_equal(errno, EINVAL);
	// a deleted region pool: its memory is still mapped and still looks
	// much like a pool, but the handle is no live pool
	VMEM *vmp = vmem_create_in_region(region, kPoolSize);
	assert_non_null(vmp);
	vmem_free(vmp, vmem_malloc(vmp, 100));
	vmem_delete(vmp);
	errno = 0;
	assert_int_equal(vmem_check(vmp), -1);
	assert_int_equal(errno, EINVAL);
	assert_non_null(std::strstr(vmem_errormsg(), "not a live pool"));
	munmap(region, kPoolSize);
}

// ---------------------------------------------------------------- 2, 3: header and geometry

void scribbled_header_fields_break_invariant_2(void **state)
{
	Pool &pool = pool_of(state);
	corrupt(pool.vmp, &pool.header->signature[0], 'X', 2);
	corrupt(pool.vmp, &pool.header->format_version, kFormatVersion + 1, 2);
	corrupt(pool.vmp, &pool.header->base, pool.header->base + 4096, 2);
	corrupt(pool.vmp, &pool.header->size, pool.header->size - 4096, 2);
	corrupt(pool.vmp, &pool.header->flags, uint32_t{kBackingFile}, 2);
	corrupt(pool.vmp, &pool.header->fd, 7, 2);
	corrupt(pool.vmp, &pool.header->cookie, uint64_t{0}, 2);
	corrupt(pool.vmp, &pool.header->directory_id, pool.header->directory_id + 1, 2);
}

void header_wiped_whole_breaks_invariant_2(void **state)
{
	Pool &pool = pool_of(state);
	PoolHeader saved;
	std::memcpy(static_cast<void *>(&saved), pool.header, sizeof(saved));
	std::memset(static_cast<void *>(pool.header), 0xA5, sizeof(PoolHeader));
	expect_violation(pool.vmp, 2);
	std::memcpy(static_cast<void *>(pool.header), &saved, sizeof(saved));
}

void table_geometry_breaks_invariant_3(void **state)
{
	Pool &pool = pool_of(state);
	PoolState *s = pool.state;
	corrupt(pool.vmp, &s->first_slice, s->first_slice + 1, 3);
	corrupt(pool.vmp, &s->end_slice, s->end_slice - 1, 3);
	corrupt(pool.vmp, &s->descriptors, s->descriptors + 1, 3);
	corrupt(pool.vmp, &s->slice_back, s->slice_back + 64, 3);
	corrupt(pool.vmp, &s->segment_count, s->segment_count + 1, 3);
	corrupt(pool.vmp, &s->fresh_slice, s->end_slice + 1, 3);
	corrupt(pool.vmp, &s->head_heap_count, s->head_heap_count + 1, 3);
}

// ---------------------------------------------------------------- 4-7, 9: spans

void span_start_breaks_invariant_4(void **state)
{
	Pool &pool = pool_of(state);
	SliceDescriptor *page = page_of(pool, pool.small[1]);
	corrupt(pool.vmp, &page->kind, SliceKind::unused, 4);
	corrupt(pool.vmp, &page->kind, SliceKind::interior, 4);
	corrupt(pool.vmp, &page->slice_count, uint32_t{0}, 4);
	corrupt(pool.vmp, &page->back_offset, uint32_t{3}, 4);
	SliceDescriptor *large = page_of(pool, pool.large);
	corrupt(pool.vmp, &large->slice_count, pool.state->end_slice, 4);
}

void span_end_tags_and_back_map_break_invariant_5(void **state)
{
	Pool &pool = pool_of(state);
	SliceDescriptor *large = page_of(pool, pool.large);
	SliceDescriptor *large_end = large + large->slice_count - 1;
	corrupt(pool.vmp, &large_end->back_offset, large_end->back_offset + 1, 5);
	corrupt(pool.vmp, &large_end->kind, SliceKind::page, 5);
	SliceDescriptor *medium = page_of(pool, pool.medium);
	assert_int_equal(medium->slice_count, kMediumPageSlices);
	uint32_t first = index_of(pool.state, medium);
	corrupt(pool.vmp, &pool.state->slice_back[first + 5], uint8_t{4}, 5);
	corrupt(pool.vmp, &pool.state->slice_back[first], uint8_t{1}, 5);
}

void segment_readiness_breaks_invariant_6(void **state)
{
	Pool &pool = pool_of(state);
	uint32_t seg = slice_of_block(pool, pool.small[1]) / kSlicesPerSegment;
	uint8_t *states = &pool.state->segment_states[seg];
	// descriptors in use in a segment that says they were never written
	corrupt(pool.vmp, states, uint8_t{0}, 6);
	// fast frees without ready descriptors, an unknown bit
	corrupt(pool.vmp, states, uint8_t{kSegmentFastFree}, 6);
	corrupt(pool.vmp, states, static_cast<uint8_t>(*states | 0x80), 6);
}

void span_past_fresh_mark_breaks_invariant_7(void **state)
{
	Pool &pool = pool_of(state);
	corrupt(pool.vmp, &pool.state->fresh_slice, slice_of_block(pool, pool.large), 7);
}

// A free span of three or more slices, cut into two free spans side by side
// (bins untouched): the tiling sees them before the bins do.
void adjacent_free_spans_break_invariant_9(void **state)
{
	Pool &pool = pool_of(state);
	PoolState *s = pool.state;
	uint32_t first = 0;
	for (unsigned bin = kFreeSpanBins; bin-- > 0 && first == 0;)
		for (uint32_t f = s->free_bins[bin]; f != 0; f = s->descriptors[f].next)
			if (s->descriptors[f].slice_count >= 3 &&
			    spans::descriptor_ready(s, f + s->descriptors[f].slice_count - 1) &&
			    spans::descriptor_ready(s, f + 1)) {
				first = f;
				break;
			}
	assert_int_not_equal(first, 0);
	uint32_t count = s->descriptors[first].slice_count;
	uint32_t changed[3] = {first, first + 1, first + count - 1};
	unsigned char saved[3][sizeof(SliceDescriptor)];
	for (int i = 0; i < 3; i++)
		std::memcpy(saved[i], static_cast<void *>(&s->descriptors[changed[i]]),
			    sizeof(SliceDescriptor));
	s->descriptors[first].slice_count = 1;
	s->descriptors[first + 1].kind = SliceKind::free;
	s->descriptors[first + 1].back_offset = 0;
	s->descriptors[first + 1].slice_count = count - 1;
	s->descriptors[first + count - 1].slice_count = count - 1;
	s->descriptors[first + count - 1].back_offset = count - 2;
	expect_violation(pool.vmp, 9);
	for (int i = 0; i < 3; i++)
		std::memcpy(static_cast<void *>(&s->descriptors[changed[i]]), saved[i],
			    sizeof(SliceDescriptor));
}

// ---------------------------------------------------------------- 8: bins

void free_span_bins_break_invariant_8(void **state)
{
	Pool &pool = pool_of(state);
	PoolState *s = pool.state;
	unsigned used_bin = kFreeSpanBins, empty_bin = kFreeSpanBins;
	for (unsigned bin = 0; bin < kFreeSpanBins; bin++) {
		if (s->free_bins[bin] != 0 && used_bin == kFreeSpanBins)
			used_bin = bin;
		if (s->free_bins[bin] == 0 && empty_bin == kFreeSpanBins)
			empty_bin = bin;
	}
	assert_int_not_equal(used_bin, kFreeSpanBins);
	uint64_t *word = &s->free_bin_bitmap[empty_bin / 64];
	corrupt(pool.vmp, word, *word | (uint64_t{1} << (empty_bin % 64)), 8);
	// a listed span dropped from its bin
	corrupt(pool.vmp, &s->free_bins[used_bin], s->descriptors[s->free_bins[used_bin]].next, 8);
	// a bin that lists a page
	corrupt(pool.vmp, &s->free_bins[used_bin], slice_of_block(pool, pool.small[1]), 8);
	// a bad back link
	SliceDescriptor &head = s->descriptors[s->free_bins[used_bin]];
	corrupt(pool.vmp, &head.prev, uint32_t{1}, 8);
}

// ---------------------------------------------------------------- 10, 11: pages

void page_geometry_breaks_invariant_10(void **state)
{
	Pool &pool = pool_of(state);
	SliceDescriptor *page = page_of(pool, pool.small[1]);
	corrupt(pool.vmp, &page->block_size, page->block_size + 16, 10);
	corrupt(pool.vmp, &page->size_class, uint8_t{kClassCount}, 10);
	corrupt(pool.vmp, &page->reserved, static_cast<uint16_t>(page->reserved + 1), 10);
	corrupt(pool.vmp, &page->capacity, static_cast<uint16_t>(page->reserved + 1), 10);
	corrupt(pool.vmp, &page->used, static_cast<uint16_t>(page->capacity + 1), 10);
}

void free_list_cycle_breaks_invariant_11(void **state)
{
	Pool &pool = pool_of(state);
	SliceDescriptor *page = page_of(pool, pool.small[1]);
	FreeBlock *first = page->free;
	assert_non_null(first);
	assert_non_null(first->next);
	// the second free block links back to the first: a cycle, reported
	// (the walk is bounded by the page's capacity), not followed forever
	corrupt(pool.vmp, &first->next->next, first, 11);
}

void free_list_pointers_break_invariant_11(void **state)
{
	Pool &pool = pool_of(state);
	SliceDescriptor *page = page_of(pool, pool.small[1]);
	FreeBlock *first = page->free;
	assert_non_null(first);
	// outside the page, inside another block, past the carved blocks
	corrupt(pool.vmp, &first->next, pointer_at<FreeBlock>(0x1000), 11);
	corrupt(pool.vmp, &page->free, pointer_at<FreeBlock>(address_of(first) + 8), 11);
	corrupt(pool.vmp, &page->free,
		pointer_at<FreeBlock>(slice_address(pool.state, index_of(pool.state, page)) +
				      uint64_t{page->capacity} * page->block_size),
		11);
	// counts that do not add up: one block neither free nor used
	corrupt(pool.vmp, &page->used, static_cast<uint16_t>(page->used - 1), 11);
	// a remote-free list into another page
	corrupt(pool.vmp, reinterpret_cast<uintptr_t *>(&page->thread_free),
		address_of(pool.medium) | kDelayedNone, 11);
}

// ---------------------------------------------------------------- 12, 13: owners and queues

void page_owner_breaks_invariant_12(void **state)
{
	Pool &pool = pool_of(state);
	SliceDescriptor *page = page_of(pool, pool.small[1]);
	corrupt(pool.vmp, &page->heap_index, uint32_t{0}, 12);
	corrupt(pool.vmp, reinterpret_cast<uint32_t *>(&page->owner_thread), page->owner_thread.load() + 1000,
		12);
	// no owner, but not marked abandoned
	uint32_t owner = page->owner_thread.load();
	uint32_t heap = page->heap_index;
	page->owner_thread.store(0);
	page->heap_index = 0;
	expect_violation(pool.vmp, 12);
	page->owner_thread.store(owner);
	page->heap_index = heap;
}

void own_heap_queues_break_invariant_13(void **state)
{
	Pool &pool = pool_of(state);
	SliceDescriptor *page = page_of(pool, pool.small[1]);
	ThreadHeap *heap = heap_at(pool.state, page->heap_index);
	PageQueue &queue = heap->queues[page->size_class];
	corrupt(pool.vmp, &queue.last, uint32_t{0}, 13);
	corrupt(pool.vmp, &queue.first, uint32_t{0}, 13);
	corrupt(pool.vmp, &page->flags, static_cast<uint8_t>(page->flags ^ kPageInFull), 13);
	// the current-page flag on a page that is not current, and off the one that is
	corrupt(pool.vmp, &page->flags, static_cast<uint8_t>(page->flags ^ kPageCurrent), 13);
	SliceDescriptor *current = heap->current[page->size_class];
	assert_ptr_not_equal(current, &g_empty_page);
	corrupt(pool.vmp, &current->flags, static_cast<uint8_t>(current->flags & ~kPageCurrent), 13);
	size_t direct = (48 + 7) / 8;
	corrupt(pool.vmp, &heap->direct[direct], &g_empty_page, 13);
	corrupt(pool.vmp, &heap->remote.count, kRemoteBatchMax + 1, 13);
}

struct LeaveBlocks {
	VMEM *vmp;
	void *block;
};

void *allocate_and_exit(void *arg)
{
	auto *leave = static_cast<LeaveBlocks *>(arg);
	// 96-byte blocks, a class the main thread does not use: the exiting
	// thread's page is abandoned with live blocks and a free list
	void *blocks[50];
	for (auto &b : blocks)
		b = vmem_malloc(leave->vmp, 96);
	for (int i = 0; i < 50; i += 2)
		vmem_free(leave->vmp, blocks[i]);
	leave->block = blocks[1];
	return nullptr;
}

void abandoned_pages_break_invariants_11_and_13(void **state)
{
	Pool &pool = pool_of(state);
	LeaveBlocks leave{pool.vmp, nullptr};
	pthread_t thread;
	pthread_create(&thread, nullptr, allocate_and_exit, &leave);
	pthread_join(thread, nullptr);
	assert_int_equal(vmem_check(pool.vmp), 1);
	SliceDescriptor *page = page_of(pool, leave.block);
	assert_int_equal(page->owner_thread.load(), 0);
	assert_true(page->flags & kPageAbandoned);
	PageQueue &queue = pool.state->abandoned[page->size_class];
	corrupt(pool.vmp, &queue.first, uint32_t{0}, 13);
	corrupt(pool.vmp, &page->size_class, static_cast<uint8_t>(page->size_class + 1), 10);
	FreeBlock *first = page->free;
	assert_non_null(first);
	corrupt(pool.vmp, &first->next, first, 11);
	vmem_free(pool.vmp, leave.block);
}

// ---------------------------------------------------------------- 14, 15: heaps and large blocks

void heap_table_breaks_invariant_14(void **state)
{
	Pool &pool = pool_of(state);
	PoolState *s = pool.state;
	ThreadHeap *mine = heap_at(s, page_of(pool, pool.small[1])->heap_index);
	corrupt(pool.vmp, &s->heap_capacity, s->heap_capacity + 1, 14);
	corrupt(pool.vmp, &s->heap_slab_count, s->heap_slab_count + 1, 14);
	corrupt(pool.vmp, &mine->index, mine->index + 1, 14);
	corrupt(pool.vmp, &mine->pool_cookie, mine->pool_cookie ^ 1, 14);
	// the chain of unused slots reaching a heap in use
	corrupt(pool.vmp, &s->free_heaps, mine->index, 14);
	// an unused slot missing from the chain
	if (s->free_heaps != 0)
		corrupt(pool.vmp, &s->free_heaps, heap_at(s, s->free_heaps)->next_free, 14);
}

// Heaps of made-up threads (numbers no real thread gets), enough to need
// two slabs beyond the head heaps.
constexpr uint32_t kFakeThreads = 1u << 30;

void heap_slab_holes_break_invariants_12_and_14(void **state)
{
	Pool &pool = pool_of(state);
	PoolState *s = pool.state;
	uint32_t head = s->head_heap_count;
	uint32_t used_before = s->heap_capacity;
	for (uint32_t index = s->free_heaps; index != 0; index = heap_at(s, index)->next_free)
		used_before--;
	std::vector<ThreadHeap *> heaps;
	while (s->heap_slab_count < 2 || s->free_heaps != 0)
		heaps.push_back(
		    heap_create(s, kFakeThreads + static_cast<uint32_t>(heaps.size()), pool.header->cookie));
	assert_int_equal(vmem_check(pool.vmp), 1);
	uint32_t second_slab = s->heap_slabs[1];
	// every heap of slab 0 goes: its slab is given back, a hole below slab 1
	auto in_slab_0 = [&](uint32_t index) { return index > head && index <= head + kHeapsPerSlab; };
	std::vector<ThreadHeap *> others;
	for (ThreadHeap *heap : heaps) {
		if (in_slab_0(heap->index))
			heap_abandon(s, heap);
		else
			others.push_back(heap);
	}
	heap_release_empty_pages(s, nullptr);
	assert_int_equal(s->heap_slabs[0], 0);
	assert_int_equal(s->heap_slabs[1], second_slab);
	assert_int_equal(s->heap_slab_count, 2);
	assert_int_equal(s->heap_capacity, head + kHeapsPerSlab);
	assert_int_equal(vmem_check(pool.vmp), 1);

	// a page naming a heap of the slab given back
	SliceDescriptor *page = page_of(pool, pool.small[1]);
	corrupt(pool.vmp, &page->heap_index, head + 1, 12);
	// the last slab number a hole, a slab recorded twice, a slot of the hole on the chain
	corrupt(pool.vmp, &s->heap_slab_count, uint32_t{1}, 14);
	corrupt(pool.vmp, &s->heap_slabs[0], second_slab, 14);
	uint32_t in_use = others.back()->index;
	heap_abandon(s, others.back());
	assert_int_equal(s->free_heaps, in_use);
	corrupt(pool.vmp, &others.back()->next_free, head + 1, 14);

	// slab number 0 serves again once the chain is empty
	others.back() = heap_create(s, kFakeThreads + 1000, pool.header->cookie);
	assert_int_equal(others.back()->index, in_use);
	ThreadHeap *refill = heap_create(s, kFakeThreads + 1001, pool.header->cookie);
	assert_true(s->heap_slabs[0] != 0);
	assert_int_equal(refill->index, head + 1);
	assert_int_equal(vmem_check(pool.vmp), 1);
	heap_abandon(s, refill);

	// with every made-up heap gone, the slabs go and the count with them
	for (ThreadHeap *heap : others)
		heap_abandon(s, heap);
	heap_release_empty_pages(s, nullptr);
	uint32_t used_after = s->heap_capacity;
	for (uint32_t index = s->free_heaps; index != 0; index = heap_at(s, index)->next_free)
		used_after--;
	assert_int_equal(used_after, used_before);
	if (used_before <= head) {
		assert_int_equal(s->heap_slab_count, 0);
		assert_int_equal(s->heap_capacity, head);
	}
}

void large_blocks_break_invariant_15(void **state)
{
	Pool &pool = pool_of(state);
	SliceDescriptor *large = page_of(pool, pool.large);
	corrupt(pool.vmp, &pool.state->large_blocks, pool.state->large_blocks + 1, 15);
	corrupt(pool.vmp, &pool.state->large_bytes, pool.state->large_bytes - kSliceSize, 15);
	corrupt(pool.vmp, &large->block_size, uint32_t{8}, 15);
	corrupt(pool.vmp, &large->block_size, large->slice_count * uint32_t{kSliceSize}, 15);
}

} // namespace

int main()
{
	const CMUnitTest tests[] = {
	    cmocka_unit_test(overlapping_pools_both_report_invariant_1),
	    cmocka_unit_test(handles_that_are_no_pool_give_minus_one),
	    cmocka_unit_test_setup_teardown(scribbled_header_fields_break_invariant_2, setup, teardown),
	    cmocka_unit_test_setup_teardown(header_wiped_whole_breaks_invariant_2, setup, teardown),
	    cmocka_unit_test_setup_teardown(table_geometry_breaks_invariant_3, setup, teardown),
	    cmocka_unit_test_setup_teardown(span_start_breaks_invariant_4, setup, teardown),
	    cmocka_unit_test_setup_teardown(span_end_tags_and_back_map_break_invariant_5, setup, teardown),
	    cmocka_unit_test_setup_teardown(segment_readiness_breaks_invariant_6, setup, teardown),
	    cmocka_unit_test_setup_teardown(span_past_fresh_mark_breaks_invariant_7, setup, teardown),
	    cmocka_unit_test_setup_teardown(free_span_bins_break_invariant_8, setup, teardown),
	    cmocka_unit_test_setup_teardown(adjacent_free_spans_break_invariant_9, setup, teardown),
	    cmocka_unit_test_setup_teardown(page_geometry_breaks_invariant_10, setup, teardown),
	    cmocka_unit_test_setup_teardown(free_list_cycle_breaks_invariant_11, setup, teardown),
	    cmocka_unit_test_setup_teardown(free_list_pointers_break_invariant_11, setup, teardown),
	    cmocka_unit_test_setup_teardown(page_owner_breaks_invariant_12, setup, teardown),
	    cmocka_unit_test_setup_teardown(own_heap_queues_break_invariant_13, setup, teardown),
	    cmocka_unit_test_setup_teardown(abandoned_pages_break_invariants_11_and_13, setup, teardown),
	    cmocka_unit_test_setup_teardown(heap_table_breaks_invariant_14, setup, teardown),
	    cmocka_unit_test_setup_teardown(heap_slab_holes_break_invariants_12_and_14, setup, teardown),
	    cmocka_unit_test_setup_teardown(large_blocks_break_invariant_15, setup, teardown),
	};
	return cmocka_run_group_tests_name("vmem_check invariants", tests, nullptr, nullptr);
}
