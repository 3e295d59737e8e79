// SPDX-License-Identifier: BSD-3-Clause
// block_guard.cpp -- the checked build's secret, and the test of a block's address against its page.
#include "core/block_guard.hpp"

#include "platform/os.hpp"
#include "util/checked_build.hpp"

namespace vmem::core::guard {

// Drawn at load time: a mark must not be a value programs store, such as
// a block's own address (an empty list head points at itself).
uint64_t g_secret = kCheckedBuild ? os::random_u64() | 1 : 0;

bool is_carved_block(const PoolState *state, const SliceDescriptor *page, const void *address) noexcept
{
	uintptr_t offset = address_of(address) - slice_address(state, index_of(state, page));
	uint16_t capacity = __atomic_load_n(&page->capacity, __ATOMIC_RELAXED); // the owner may be carving
	return offset % page->block_size == 0 && offset / page->block_size < capacity;
}

} // namespace vmem::core::guard
