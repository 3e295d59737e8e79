// SPDX-License-Identifier: BSD-3-Clause
// race_annotations.hpp -- happens-before marks for helgrind and drd on the lock-free hand-overs.
//
// helgrind and drd see the order that locks, thread creation and joins
// give, not the order atomics give.  Blocks freed by other threads reach
// their owner through atomic lists (a page's thread_free, a heap's
// delayed_free), so without these marks every such block's next pointer
// and contents look raced over.  `happens_before(sync)` goes just before
// the release that publishes through `sync`, `happens_after(sync)` just
// after the acquire that takes it.  Fields that are read without any
// order on purpose (timers, hints) are declared `unordered` once.  All of
// it costs one predicted branch outside those two tools.
#pragma once

#include <cstddef>

#ifdef HAVE_VALGRIND_HELGRIND_H
#include <valgrind/helgrind.h>
#endif

namespace vmem::race {

// Set once at library start-up (init()): true under helgrind or drd.
extern bool g_active;

inline bool active() noexcept
{
	return __builtin_expect(g_active, false);
}

#ifdef HAVE_VALGRIND_HELGRIND_H
inline void happens_before(const volatile void *sync) noexcept
{
	if (active())
		ANNOTATE_HAPPENS_BEFORE(sync);
}
inline void happens_after(const volatile void *sync) noexcept
{
	if (active())
		ANNOTATE_HAPPENS_AFTER(sync);
}
inline void unordered(const volatile void *addr, size_t size) noexcept
{
	if (active())
		ANNOTATE_BENIGN_RACE_SIZED(addr, size, "read without order on purpose");
}
#else
inline void happens_before(const volatile void *) noexcept {}
inline void happens_after(const volatile void *) noexcept {}
inline void unordered(const volatile void *, size_t) noexcept {}
#endif

void init() noexcept;

} // namespace vmem::race
