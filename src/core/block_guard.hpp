// SPDX-License-Identifier: BSD-3-Clause
// block_guard.hpp -- the checked build's mark on free blocks of pages: double frees and non-blocks always
// refused.
//
// Every block of a page that is not handed out (carved into a free list,
// or freed) carries a mark in its second word: its own address mixed with
// a secret drawn at start-up.  Handing a block out clears the mark; freeing
// it sets the mark with one atomic exchange, and finding the mark already
// there means the block was free: a double free, caught even when two
// threads free the same block at once.  An address that is not the start
// of a carved block of its page is refused before the mark is looked at.
// User data matching the mark by chance is a 2^-64 event for any value not
// derived from the secret.  Blocks over 64 KiB have spans of their own,
// which the free path validates in every build.
//
// Only the checked build (util/checked_build.hpp) calls these; its
// smallest block is 16 bytes, so every block has a second word.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/layout.hpp"
#include "util/bits.hpp"
#include "util/valgrind.hpp"

namespace vmem::core::guard {

extern uint64_t g_secret; // drawn when the library is loaded, never 0

inline uint64_t *mark_word(const void *block) noexcept
{
	return pointer_at<uint64_t>(address_of(block) + sizeof(uint64_t));
}

inline uint64_t mark_of(const void *block) noexcept
{
	return address_of(block) ^ g_secret;
}

// A block carved into its page's free list: not handed out yet.
inline void mark_carved(void *block) noexcept
{
	if (vg::active())
		vg::undefined(mark_word(block), sizeof(uint64_t));
	__atomic_store_n(mark_word(block), mark_of(block), __ATOMIC_RELAXED);
	if (vg::active())
		vg::no_access(mark_word(block), sizeof(uint64_t));
}

// A block handed to the caller (its memory is the caller's from here on).
inline void clear_mark(void *block) noexcept
{
	__atomic_store_n(mark_word(block), 0, __ATOMIC_RELAXED);
}

// Whether `block` (a carved block) is free now.
inline bool is_free(const void *block) noexcept
{
	if (vg::active())
		vg::defined(mark_word(block), sizeof(uint64_t));
	return __atomic_load_n(mark_word(block), __ATOMIC_RELAXED) == mark_of(block);
}

// Marks `block` free; false when it was free already (a double free).
inline bool take_for_free(void *block) noexcept
{
	if (vg::active())
		vg::defined(mark_word(block), sizeof(uint64_t));
	return __atomic_exchange_n(mark_word(block), mark_of(block), __ATOMIC_RELAXED) != mark_of(block);
}

// Whether `address` is the start of a block `page` has carved: on the grid
// of its block size and below its capacity.  The capacity is the owner's
// field; another thread freeing a block it was handed saw it at least as
// large as the block needs.
bool is_carved_block(const PoolState *state, const SliceDescriptor *page, const void *address) noexcept;

} // namespace vmem::core::guard
