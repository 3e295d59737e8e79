// SPDX-License-Identifier: BSD-3-Clause
// vmmalloc.cpp -- libvmmalloc: LD_PRELOAD it and a program's whole heap lives in one vmem pool.
//
// The malloc family is defined here and exported (src/vmmalloc/vmmalloc.map);
// the allocator is libvmem's, linked in.  The pool is made in a constructor
// before main from VMMALLOC_POOL_DIR and VMMALLOC_POOL_SIZE.  Until it exists
// (the dynamic loader and libc may allocate first) requests are carved from
// a static bootstrap arena, whose blocks are never given back.  A pointer in
// neither the pool nor the arena came from the C library's own malloc (a
// library loaded with RTLD_DEEPBIND binds to it): it is handed back to the
// C library instead of being taken for a pool block.
#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <unistd.h>

#include "core/pool.hpp"
#include "libvmem.h"

extern "C" {
void *__libc_malloc(size_t size);
void __libc_free(void *ptr);
void *__libc_realloc(void *ptr, size_t size);
}

#define VMMALLOC_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

VMEM *g_pool = nullptr;
bool g_log_stats = false;
size_t (*g_libc_usable_size)(void *) = nullptr;

// ---------------------------------------------------------------- bootstrap arena

constexpr size_t kArenaSize = 4 << 20;
alignas(64) unsigned char g_arena[kArenaSize];
size_t g_arena_used = 0; // before the constructor: a single thread

struct ArenaHeader {
	size_t size;
	size_t pad;
};

bool in_arena(const void *p) noexcept
{
	auto a = reinterpret_cast<uintptr_t>(p);
	auto base = reinterpret_cast<uintptr_t>(g_arena);
	return a >= base && a < base + kArenaSize;
}

void *arena_alloc(size_t size, size_t alignment) noexcept
{
	if (alignment < 16)
		alignment = 16;
	size_t start = (g_arena_used + sizeof(ArenaHeader) + alignment - 1) & ~(alignment - 1);
	if (size > kArenaSize || start + size > kArenaSize)
		return nullptr;
	g_arena_used = start + size;
	reinterpret_cast<ArenaHeader *>(g_arena + start)[-1].size = size;
	return g_arena + start;
}

size_t arena_size(const void *p) noexcept
{
	return reinterpret_cast<const ArenaHeader *>(p)[-1].size;
}

// ---------------------------------------------------------------- configuration

[[noreturn]] __attribute__((format(printf, 1, 2))) void die(const char *fmt, ...) noexcept
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0) {
		size_t length =
		    static_cast<size_t>(n) < sizeof(line) ? static_cast<size_t>(n) : sizeof(line) - 1;
		(void)!write(2, "Error (libvmmalloc): ", 21);
		(void)!write(2, line, length);
		(void)!write(2, "\n", 1);
	}
	abort();
}

// A byte count with an optional K, M or G suffix; false for anything else.
bool parse_size(const char *text, unsigned long long *bytes) noexcept
{
	if (*text == '\0' || *text == '-')
		return false;
	char *end = nullptr;
	errno = 0;
	unsigned long long value = strtoull(text, &end, 10);
	if (errno != 0 || end == text)
		return false;
	unsigned shift = 0;
	switch (*end) {
	case '\0':
		break;
	case 'K':
	case 'k':
		shift = 10;
		end++;
		break;
	case 'M':
	case 'm':
		shift = 20;
		end++;
		break;
	case 'G':
	case 'g':
		shift = 30;
		end++;
		break;
	default:
		return false;
	}
	if (*end != '\0' || (shift != 0 && value > (~0ULL >> shift)))
		return false;
	*bytes = value << shift;
	return true;
}

__attribute__((constructor(101))) void vmmalloc_init()
{
	const char *dir = getenv("VMMALLOC_POOL_DIR");
	if (dir == nullptr || *dir == '\0')
		die("environment variable VMMALLOC_POOL_DIR not specified");
	const char *size_text = getenv("VMMALLOC_POOL_SIZE");
	if (size_text == nullptr || *size_text == '\0')
		die("environment variable VMMALLOC_POOL_SIZE not specified");
	unsigned long long size = 0;
	if (!parse_size(size_text, &size))
		die("VMMALLOC_POOL_SIZE value \"%s\" is not a byte count (K, M and G suffixes accepted)",
		    size_text);
	if (size < VMEM_MIN_POOL)
		die("VMMALLOC_POOL_SIZE value is less than minimum (%llu < %zu)", size, VMEM_MIN_POOL);
	long fork_mode = vmem::core::kForkPrivate;
	if (const char *fork_text = getenv("VMMALLOC_FORK")) {
		char *end = nullptr;
		fork_mode = strtol(fork_text, &end, 10);
		if (*fork_text == '\0' || *end != '\0' || fork_mode < 0 || fork_mode > 3)
			die("incorrect VMMALLOC_FORK value (%s)", fork_text);
	}
	const char *stats = getenv("VMMALLOC_LOG_STATS");
	g_log_stats = stats != nullptr && strcmp(stats, "1") == 0;
	g_libc_usable_size = reinterpret_cast<size_t (*)(void *)>(dlsym(RTLD_NEXT, "malloc_usable_size"));
	VMEM *pool = vmem_create(dir, static_cast<size_t>(size));
	if (pool == nullptr)
		die("vmem pool creation failed: %s", vmem_errormsg());
	vmem::core::set_fork_mode(reinterpret_cast<uintptr_t>(pool),
				  static_cast<vmem::core::ForkMode>(fork_mode));
	g_pool = pool;
}

// The pool stays until the process ends: destructors of other libraries
// still free their blocks after this one runs.
__attribute__((destructor(102))) void vmmalloc_fini()
{
	if (g_log_stats && g_pool != nullptr)
		vmem_stats_print(g_pool, "");
}

// ---------------------------------------------------------------- the calls

enum class Owner { none, pool, arena, libc };

Owner owner_of(void *p) noexcept
{
	if (p == nullptr)
		return Owner::none;
	if (in_arena(p))
		return Owner::arena;
	if (g_pool != nullptr && vmem_pool_from_ptr(p) == g_pool)
		return Owner::pool;
	return Owner::libc;
}

void *allocate(size_t size, size_t alignment) noexcept
{
	if (g_pool == nullptr) {
		void *p = arena_alloc(size == 0 ? 1 : size, alignment);
		if (p == nullptr)
			errno = ENOMEM;
		return p;
	}
	void *p = alignment <= 16 ? vmem_malloc(g_pool, size) : vmem_aligned_alloc(g_pool, alignment, size);
	if (p == nullptr)
		errno = ENOMEM;
	return p;
}

size_t usable_size(void *p) noexcept
{
	switch (owner_of(p)) {
	case Owner::pool:
		return vmem_malloc_usable_size(g_pool, p);
	case Owner::arena:
		return arena_size(p);
	case Owner::libc:
		return g_libc_usable_size != nullptr ? g_libc_usable_size(p) : 0;
	default:
		return 0;
	}
}

bool power_of_two(size_t n) noexcept
{
	return n != 0 && (n & (n - 1)) == 0;
}

} // namespace

VMMALLOC_EXPORT void *malloc(size_t size)
{
	return allocate(size, 16);
}

VMMALLOC_EXPORT void free(void *ptr)
{
	switch (owner_of(ptr)) {
	case Owner::pool:
		vmem_free(g_pool, ptr);
		break;
	case Owner::libc:
		__libc_free(ptr);
		break;
	default:
		break; // NULL, or a bootstrap block: kept
	}
}

VMMALLOC_EXPORT void cfree(void *ptr)
{
	free(ptr);
}

VMMALLOC_EXPORT void *calloc(size_t count, size_t size)
{
	size_t bytes = 0;
	if (__builtin_mul_overflow(count, size, &bytes)) {
		errno = ENOMEM;
		return nullptr;
	}
	if (g_pool != nullptr) {
		void *p = vmem_calloc(g_pool, count, size);
		if (p == nullptr)
			errno = ENOMEM;
		return p;
	}
	void *p = allocate(bytes, 16); // the arena is static: already zero
	return p;
}

VMMALLOC_EXPORT void *realloc(void *ptr, size_t size)
{
	switch (owner_of(ptr)) {
	case Owner::none:
		return malloc(size);
	case Owner::libc:
		return __libc_realloc(ptr, size);
	case Owner::arena: {
		if (size == 0)
			return nullptr;
		void *moved = malloc(size);
		if (moved != nullptr) {
			size_t old = arena_size(ptr);
			memcpy(moved, ptr, old < size ? old : size);
		}
		return moved;
	}
	default: {
		void *moved = vmem_realloc(g_pool, ptr, size);
		if (moved == nullptr && size != 0)
			errno = ENOMEM;
		return moved;
	}
	}
}

VMMALLOC_EXPORT void *reallocarray(void *ptr, size_t count, size_t size)
{
	size_t bytes = 0;
	if (__builtin_mul_overflow(count, size, &bytes)) {
		errno = ENOMEM;
		return nullptr;
	}
	return realloc(ptr, bytes);
}

VMMALLOC_EXPORT void *memalign(size_t alignment, size_t size)
{
	if (!power_of_two(alignment)) {
		errno = EINVAL;
		return nullptr;
	}
	return allocate(size, alignment);
}

VMMALLOC_EXPORT void *aligned_alloc(size_t alignment, size_t size)
{
	return memalign(alignment, size);
}

VMMALLOC_EXPORT int posix_memalign(void **out, size_t alignment, size_t size)
{
	if (!power_of_two(alignment) || alignment % sizeof(void *) != 0)
		return EINVAL;
	int saved = errno;
	void *p = allocate(size, alignment);
	errno = saved; // posix_memalign reports through its result only
	if (p == nullptr)
		return ENOMEM;
	*out = p;
	return 0;
}

VMMALLOC_EXPORT void *valloc(size_t size)
{
	return allocate(size, static_cast<size_t>(sysconf(_SC_PAGESIZE)));
}

VMMALLOC_EXPORT void *pvalloc(size_t size)
{
	size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
	size_t rounded = (size + page - 1) & ~(page - 1);
	return allocate(rounded == 0 ? page : rounded, page);
}

VMMALLOC_EXPORT size_t malloc_usable_size(void *ptr)
{
	return usable_size(ptr);
}
