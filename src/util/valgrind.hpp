// SPDX-License-Identifier: BSD-3-Clause
// valgrind.hpp -- memcheck client requests, active only when running under Valgrind.
//
// Pool blocks are reported as heap blocks (MALLOCLIKE/FREELIKE) and free
// memory inside pools as inaccessible, so memcheck finds leaks, overruns and
// use after free in pool memory as it does on the system heap.
#pragma once

#include <cstddef>

#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/memcheck.h>
#endif

namespace vmem::vg {

// Set once at library start-up from RUNNING_ON_VALGRIND (init()).
extern bool g_active;

inline bool active() noexcept
{
	return __builtin_expect(g_active, false);
}

#ifdef HAVE_VALGRIND_MEMCHECK_H
inline void malloc_like(const void *p, size_t size, bool zeroed) noexcept
{
	VALGRIND_MALLOCLIKE_BLOCK(p, size, 0, zeroed);
}
inline void free_like(const void *p) noexcept
{
	VALGRIND_FREELIKE_BLOCK(p, 0);
}
inline void resize_in_place(const void *p, size_t old_size, size_t new_size) noexcept
{
	VALGRIND_RESIZEINPLACE_BLOCK(p, old_size, new_size, 0);
}
inline void no_access(const void *p, size_t size) noexcept
{
	VALGRIND_MAKE_MEM_NOACCESS(p, size);
}
inline void undefined(const void *p, size_t size) noexcept
{
	VALGRIND_MAKE_MEM_UNDEFINED(p, size);
}
inline void defined(const void *p, size_t size) noexcept
{
	VALGRIND_MAKE_MEM_DEFINED(p, size);
}
#else
inline void malloc_like(const void *, size_t, bool) noexcept {}
inline void free_like(const void *) noexcept {}
inline void resize_in_place(const void *, size_t, size_t) noexcept {}
inline void no_access(const void *, size_t) noexcept {}
inline void undefined(const void *, size_t) noexcept {}
inline void defined(const void *, size_t) noexcept {}
#endif

// Whether the process runs under the Valgrind tool named `tool`
// ("memcheck", "helgrind", "drd").
bool running_under_tool(const char *tool) noexcept;

// Sets g_active: true under memcheck (not under callgrind or other
// tools, whose instruction counts the requests would only inflate).
void init() noexcept;

} // namespace vmem::vg
