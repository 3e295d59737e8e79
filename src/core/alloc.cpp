// SPDX-License-Identifier: BSD-3-Clause
// alloc.cpp -- allocation in a pool: size dispatch, small blocks through the thread heap, large on spans.
#include "core/alloc.hpp"

#include <cerrno>
#include <cstring>

#include "core/block_guard.hpp"
#include "core/heap.hpp"
#include "core/large.hpp"
#include "core/layout.hpp"
#include "core/thread_cache.hpp"
#include "platform/os.hpp"
#include "util/checked_build.hpp"
#include "util/error.hpp"

namespace vmem::core {

namespace {

void *fail_out_of_memory(uintptr_t handle, size_t size) noexcept
{
	VMEM_FAIL(ENOMEM, "out of memory: %zu bytes in pool 0x%lx", size, static_cast<unsigned long>(handle));
	return nullptr;
}

// A block of a page on its way to the caller: the checked build clears
// its free mark (block_guard.hpp).
[[gnu::always_inline]] inline void *handed_out(void *block) noexcept
{
	if constexpr (kCheckedBuild)
		if (block != nullptr)
			guard::clear_mark(block);
	return block;
}

// A block of class `cls` from the calling thread's heap.
void *malloc_class(PoolState *state, ThreadHeap *heap, size_t block_size) noexcept
{
	if (block_size <= kDirectMax)
		return handed_out(heap_malloc_small(state, heap, block_size));
	return handed_out(heap_malloc_generic(state, heap, block_size));
}

// The calling thread's heap in the pool, with the pool's state; nullptr
// with errno and message set when the handle is bad or no heap can be made.
struct HeapRef {
	PoolState *state;
	ThreadHeap *heap;
};
[[gnu::always_inline]] inline HeapRef heap_for(uintptr_t handle) noexcept
{
	PoolHeader *header = header_of(handle);
	return HeapRef{state_of(header), thread_heap(handle, header)};
}

// A block of `size` bytes aligned to `alignment`, or nullptr when the pool
// has no room (not reported: the caller decides).  *zero_from: bytes from
// there on are known to read as zero.  Kept out of line: inlined into
// malloc_in, its frame would weigh on every small allocation that misses
// the inline fast path (such as each switch to another pool).
[[gnu::noinline]] void *allocate_in(HeapRef ref, size_t size, size_t alignment, size_t *zero_from) noexcept
{
	void *block;
	if (size <= kMediumMax && alignment <= kSliceSize) {
		// the smallest class holding `size` whose blocks fall on
		// `alignment` boundaries: pages start on slice (16 KiB)
		// boundaries, so a class that is a multiple of the alignment
		// will do; larger alignments get a span of their own
		size_t need = size > alignment ? size : alignment;
		unsigned cls = size_class_of(need == 0 ? 1 : need);
		while (class_block_size(cls) % alignment != 0)
			cls++;
		block = malloc_class(ref.state, ref.heap, class_block_size(cls));
		if (block != nullptr) {
			SliceDescriptor *page = span_of(ref.state, address_of(block));
			// a fresh block holds only the free-list link we wrote
			*zero_from = (page->flags & kPageFreshZero) ? sizeof(FreeBlock) : size;
		}
		return block;
	}
	size_t span_alignment = alignment < kSliceSize ? kSliceSize : alignment;
	block = large_malloc(ref.state, size, span_alignment, zero_from);
	if (block == nullptr) {
		// small pages this thread keeps empty may be what stands in the way
		heap_release_empty_pages(ref.state, ref.heap);
		block = large_malloc(ref.state, size, span_alignment, zero_from);
	}
	return block;
}

// malloc's choice of path, without reporting a full pool.
[[gnu::always_inline]] inline void *malloc_in(HeapRef ref, size_t size) noexcept
{
	if (size <= kDirectMax)
		return handed_out(
		    heap_malloc_small(ref.state, ref.heap,
				      size == 0 ? 1 : size)); // malloc(0): a unique smallest block
	if (size <= kMediumMax)
		return handed_out(heap_malloc_generic(ref.state, ref.heap, size));
	size_t zero_from;
	return allocate_in(ref, size, kSliceSize, &zero_from);
}

// The aligned allocation of calloc and aligned_alloc, reporting failure.
void *allocate(uintptr_t handle, size_t size, size_t alignment, size_t *zero_from) noexcept
{
	HeapRef ref = heap_for(handle);
	if (ref.heap == nullptr)
		return nullptr;
	void *block = allocate_in(ref, size, alignment, zero_from);
	return block != nullptr ? block : fail_out_of_memory(handle, size);
}

// Whether `handle` names a live pool; EINVAL otherwise.  The checked build
// asks before anything reads through a handle given with a block: a
// deleted file pool's mapping is gone.  (Allocations need not: finding the
// thread's heap validates the handle in every build.)
bool handle_is_live(uintptr_t handle) noexcept
{
	if (mru_is(t_cache, handle) || directory::find_by_base(handle) != 0)
		return true;
	VMEM_MISUSE(EINVAL, "invalid pool handle: 0x%lx", static_cast<unsigned long>(handle));
	return false;
}

// What the caller does with a block it names: keeps it (usable size,
// realloc) or frees it.
enum class BlockUse { keep, free };

// The checked build's test of a block of a page: the start of a carved
// block, and not free; freeing marks it free in the same step.
bool page_block_is_live(PoolState *state, uintptr_t handle, SliceDescriptor *page, void *block,
			BlockUse use) noexcept
{
	auto pool = static_cast<unsigned long>(handle);
	if (!guard::is_carved_block(state, page, block)) {
		VMEM_MISUSE(EINVAL, "%p is not a block of pool 0x%lx: not the start of a block", block, pool);
		return false;
	}
	if (use == BlockUse::free ? guard::take_for_free(block) : !guard::is_free(block))
		return true;
	if (use == BlockUse::free)
		VMEM_MISUSE(EINVAL, "double free of %p in pool 0x%lx: the block is free already", block,
			    pool);
	else
		VMEM_MISUSE(EINVAL, "%p is a free block of pool 0x%lx (used after free)", block, pool);
	return false;
}

// The span of `block`, a block of pool `handle` the caller will use as
// `use` says; nullptr (EINVAL) for an address that is no block of the
// pool.  Default builds tell a page's blocks apart only in vmem_check; the
// checked build tests each one here, and the handle before it.
SliceDescriptor *block_span(uintptr_t handle, void *block, BlockUse use) noexcept
{
	if constexpr (kCheckedBuild)
		if (!handle_is_live(handle))
			return nullptr;
	PoolState *state = state_of(header_of(handle));
	SliceDescriptor *span = span_of(state, address_of(block));
	bool valid =
	    span != nullptr && (span->kind == SliceKind::page || large_block_address(state, span) == block);
	if (!valid) {
		VMEM_MISUSE(EINVAL, "%p is not a block of pool 0x%lx", block,
			    static_cast<unsigned long>(handle));
		return nullptr;
	}
	if constexpr (kCheckedBuild)
		if (span->kind == SliceKind::page && !page_block_is_live(state, handle, span, block, use))
			return nullptr;
	return span;
}

} // namespace

void *pool_malloc_slow(uintptr_t handle, size_t size) noexcept
{
	HeapRef ref = heap_for(handle);
	if (ref.heap == nullptr)
		return nullptr;
	void *block = malloc_in(ref, size);
	return __builtin_expect(block != nullptr, true) ? block : fail_out_of_memory(handle, size);
}

void *pool_calloc(uintptr_t handle, size_t count, size_t size) noexcept
{
	size_t total = 0;
	if (__builtin_mul_overflow(count, size, &total)) {
		VMEM_FAIL(ENOMEM, "calloc of %zu x %zu bytes overflows", count, size);
		return nullptr;
	}
	// calloc of nothing returns the smallest block, zeroed as any other
	size_t bytes = total == 0 ? 8 : total; // the 8-byte class
	size_t zero_from = 0;
	void *block = allocate(handle, bytes, 8, &zero_from);
	if (block != nullptr && zero_from > 0)
		std::memset(block, 0, zero_from < bytes ? zero_from : bytes);
	if (block != nullptr && vg::active())
		vg::defined(block, bytes); // zero, partly without our writing it
	return block;
}

void *pool_aligned_alloc(uintptr_t handle, size_t alignment, size_t size) noexcept
{
	if (alignment <= 8)
		return pool_malloc(handle, size);
	size_t zero_from;
	return allocate(handle, size == 0 ? 1 : size, alignment, &zero_from);
}

void pool_free_slow(uintptr_t handle, void *block) noexcept
{
	SliceDescriptor *span = block_span(handle, block, BlockUse::free);
	if (span == nullptr)
		return;
	PoolHeader *header = header_of(handle);
	PoolState *state = state_of(header);
	if (span->kind != SliceKind::page) {
		large_free(state, span);
		return;
	}
	if (vg::active())
		vg::free_like(block);
	uint32_t me = current_thread_number();
	if (me != 0 && span->owner_thread.load(std::memory_order_relaxed) == me) {
		// our own page: we have a heap in this pool, almost always the MRU one
		heap_free_local(state, thread_heap(handle, header), span, static_cast<FreeBlock *>(block));
		return;
	}
	heap_free_remote(state, existing_thread_heap(handle), span, static_cast<FreeBlock *>(block));
}

size_t pool_usable_size(uintptr_t handle, const void *block) noexcept
{
	if (block == nullptr)
		return 0;
	SliceDescriptor *span = block_span(handle, const_cast<void *>(block), BlockUse::keep);
	if (span == nullptr)
		return 0;
	return span->kind == SliceKind::page ? span->block_size : large_usable_size(span);
}

void *pool_realloc(uintptr_t handle, void *block, size_t size) noexcept
{
	if (block == nullptr)
		return pool_malloc(handle, size);
	if (size == 0) {
		pool_free(handle, block);
		return nullptr;
	}
	SliceDescriptor *span = block_span(handle, block, BlockUse::keep);
	if (span == nullptr)
		return nullptr;
	PoolState *state = state_of(header_of(handle));
	size_t usable;
	if (span->kind == SliceKind::page) {
		usable = span->block_size;
		// same block while the request still fills more than half of it
		if (size <= usable && size > usable / 2)
			return block;
	} else {
		if (size <= kMediumMax && size < large_usable_size(span) / 2) {
			// Moving to a small block: shrink in place first, so that
			// the slices it frees can hold the small block even in a
			// full pool; if even that fails, the shrunk block serves.
			large_resize_in_place(state, span, size);
			int saved_errno = errno;
			HeapRef ref = heap_for(handle);
			void *moved = ref.heap != nullptr ? malloc_in(ref, size) : nullptr;
			if (moved == nullptr) {
				errno = saved_errno; // a success all the same
				return block;
			}
			std::memcpy(moved, block, size);
			pool_free(handle, block);
			return moved;
		}
		if (large_resize_in_place(state, span, size))
			return block;
		usable = large_usable_size(span);
	}
	// A small or medium block that must move to grow gets half its new
	// size again as room, so a block grown step by step moves (and is
	// copied) a few times, not at every step; the room is taken only if
	// the pool has it.
	void *moved = nullptr;
	if (size > usable && size <= kMediumMax && span->kind == SliceKind::page) {
		size_t roomy = size + size / 2 < kMediumMax ? size + size / 2 : kMediumMax;
		HeapRef ref = heap_for(handle);
		if (ref.heap != nullptr)
			moved = malloc_in(ref, roomy);
	}
	if (moved == nullptr)
		moved = pool_malloc(handle, size);
	if (moved == nullptr)
		return nullptr; // the old block is as it was
	std::memcpy(moved, block, usable < size ? usable : size);
	pool_free(handle, block);
	return moved;
}

} // namespace vmem::core
