// SPDX-License-Identifier: BSD-3-Clause
// bookkeeping.hpp -- memory the library needs outside pools (pool records, lookup slots).
//
// Once vmem_set_funcs has installed both a malloc_func and a free_func, this
// memory comes from them, so a program can account for it; otherwise it comes
// from pages the library maps itself: the library never calls the system
// malloc.  Every block remembers where it came from, so changing the
// functions while blocks are live frees each through the right one.
#pragma once

#include <cstddef>

namespace vmem::bookkeeping {

struct HostFunctions {
	void *(*malloc_func)(size_t);
	void (*free_func)(void *);
	void *(*realloc_func)(void *, size_t);
	char *(*strdup_func)(const char *);
};

// vmem_set_funcs without the print function; nullptr members restore defaults.
void set_host_functions(const HostFunctions &funcs) noexcept;

// A block of at least `size` bytes aligned to 16, or nullptr when the source
// has no memory (the caller fails with ENOMEM).
void *allocate(size_t size) noexcept;

// A copy of `s` in bookkeeping memory, made with strdup_func when the host
// functions include one, or nullptr.
char *duplicate(const char *s) noexcept;

// A block from the library's own pages, whatever the host functions: for
// per-thread state, which may outlive every pool (a thread's lookup slots
// stay until it exits), so the host functions see nothing left over once
// the last pool is gone.
void *allocate_own(size_t size) noexcept;

void release(void *block) noexcept;

// Blocks currently live from the library's own pages (for tests).
size_t internal_blocks_live() noexcept;

} // namespace vmem::bookkeeping
