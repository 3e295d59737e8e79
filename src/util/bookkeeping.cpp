// SPDX-License-Identifier: BSD-3-Clause
// bookkeeping.cpp -- host-function or self-mapped memory for the library's own records.
#include "util/bookkeeping.hpp"

#include <cstdint>
#include <cstring>
#include <mutex>

#include "platform/os.hpp"
#include "util/bits.hpp"

namespace vmem::bookkeeping {

namespace {

// Where a block came from, stored in the 16 bytes before it.
struct BlockHeader {
	void (*host_free)(void *); // nullptr: the library's own pages
	uint32_t size_class;	   // internal blocks: index into the free lists
	uint32_t reserved;
};
static_assert(sizeof(BlockHeader) == 16, "blocks stay 16-byte aligned");

// The library's own pages: power-of-two blocks from 64 B to 64 KiB carved
// from 256 KiB mappings, each size on its own free list.  Records are rare
// (one per pool, a few per thread), so a mutex is enough.
constexpr unsigned kMinClassShift = 6;	// 64 B
constexpr unsigned kMaxClassShift = 16; // 64 KiB
constexpr unsigned kClassCount = kMaxClassShift - kMinClassShift + 1;
constexpr uint32_t kDirectMapped = UINT32_MAX; // larger blocks get a mapping each
constexpr size_t kCarveSize = 256 * KiB;

struct FreeBlock {
	FreeBlock *next;
};

struct InternalHeap {
	std::mutex lock;
	FreeBlock *free_lists[kClassCount] = {};
	char *carve_cursor = nullptr;
	char *carve_end = nullptr;
	size_t live = 0;
};

InternalHeap g_heap;

// vmem_set_funcs' functions, read and written under g_funcs_lock so that a
// block never pairs one call's malloc_func with another call's free_func.
std::mutex g_funcs_lock;
HostFunctions g_funcs = {nullptr, nullptr, nullptr, nullptr};

unsigned class_of(size_t total) noexcept
{
	unsigned shift = kMinClassShift;
	while ((size_t{1} << shift) < total)
		shift++;
	return shift - kMinClassShift;
}

void *internal_allocate(size_t total) noexcept
{
	if (total > (size_t{1} << kMaxClassShift)) {
		void *mapping = nullptr;
		size_t length = align_up(total, os::page_size());
		if (os::map_anonymous(length, &mapping) != 0)
			return nullptr;
		auto *header = static_cast<BlockHeader *>(mapping);
		header->size_class = kDirectMapped;
		header->reserved = static_cast<uint32_t>(length / os::page_size());
		std::lock_guard guard(g_heap.lock);
		g_heap.live++;
		return header;
	}
	unsigned cls = class_of(total);
	size_t class_size = size_t{1} << (cls + kMinClassShift);
	std::lock_guard guard(g_heap.lock);
	FreeBlock *block = g_heap.free_lists[cls];
	if (block != nullptr) {
		g_heap.free_lists[cls] = block->next;
	} else {
		if (g_heap.carve_end - g_heap.carve_cursor < static_cast<ptrdiff_t>(class_size)) {
			// The rest of the old carve area is dropped: at most one
			// 64 KiB block's worth, and only when class sizes mix.
			void *area = nullptr;
			if (os::map_anonymous(kCarveSize, &area) != 0)
				return nullptr;
			g_heap.carve_cursor = static_cast<char *>(area);
			g_heap.carve_end = g_heap.carve_cursor + kCarveSize;
		}
		block = reinterpret_cast<FreeBlock *>(g_heap.carve_cursor);
		g_heap.carve_cursor += class_size;
	}
	g_heap.live++;
	auto *header = reinterpret_cast<BlockHeader *>(block);
	header->size_class = cls;
	return header;
}

void internal_release(BlockHeader *header) noexcept
{
	if (header->size_class == kDirectMapped) {
		os::unmap(header, header->reserved * os::page_size());
		std::lock_guard guard(g_heap.lock);
		g_heap.live--;
		return;
	}
	unsigned cls = header->size_class;
	auto *block = reinterpret_cast<FreeBlock *>(header);
	std::lock_guard guard(g_heap.lock);
	block->next = g_heap.free_lists[cls];
	g_heap.free_lists[cls] = block;
	g_heap.live--;
}

} // namespace

void set_host_functions(const HostFunctions &funcs) noexcept
{
	std::lock_guard guard(g_funcs_lock);
	g_funcs = funcs;
}

void *allocate_own(size_t size) noexcept
{
	if (size > SIZE_MAX - sizeof(BlockHeader) - 64)
		return nullptr;
	auto *header = static_cast<BlockHeader *>(internal_allocate(size + sizeof(BlockHeader)));
	if (header == nullptr)
		return nullptr;
	header->host_free = nullptr;
	return header + 1;
}

void *allocate(size_t size) noexcept
{
	if (size > SIZE_MAX - sizeof(BlockHeader) - 64)
		return nullptr;
	size_t total = size + sizeof(BlockHeader);
	void *(*host_malloc)(size_t) = nullptr;
	void (*host_free)(void *) = nullptr;
	{
		std::lock_guard guard(g_funcs_lock);
		host_malloc = g_funcs.malloc_func;
		host_free = g_funcs.free_func;
	}
	if (host_malloc == nullptr || host_free == nullptr)
		return allocate_own(size);
	auto *header = static_cast<BlockHeader *>(host_malloc(total));
	if (header == nullptr)
		return nullptr;
	header->host_free = host_free;
	return header + 1;
}

char *duplicate(const char *s) noexcept
{
	size_t len = std::strlen(s) + 1;
	char *(*host_strdup)(const char *) = nullptr;
	void (*host_free)(void *) = nullptr;
	{
		std::lock_guard guard(g_funcs_lock); // the pair must match
		host_strdup = g_funcs.strdup_func;
		host_free = g_funcs.free_func;
	}
	if (host_strdup != nullptr && host_free != nullptr) {
		// strdup_func's result has no room for our header: copy it into
		// a block of our own so release() works the same for every block.
		char *host_copy = host_strdup(s);
		if (host_copy == nullptr)
			return nullptr;
		char *copy = static_cast<char *>(allocate(len));
		if (copy != nullptr)
			std::memcpy(copy, host_copy, len);
		host_free(host_copy);
		return copy;
	}
	char *copy = static_cast<char *>(allocate(len));
	if (copy != nullptr)
		std::memcpy(copy, s, len);
	return copy;
}

void release(void *block) noexcept
{
	if (block == nullptr)
		return;
	BlockHeader *header = static_cast<BlockHeader *>(block) - 1;
	if (header->host_free != nullptr)
		header->host_free(header);
	else
		internal_release(header);
}

size_t internal_blocks_live() noexcept
{
	std::lock_guard guard(g_heap.lock);
	return g_heap.live;
}

} // namespace vmem::bookkeeping
