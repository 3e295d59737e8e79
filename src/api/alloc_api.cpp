// SPDX-License-Identifier: BSD-3-Clause
// alloc_api.cpp -- the allocation entry points: argument checks, then core.
#include <cerrno>
#include <cstring>
#include <cwchar>

#include "api/export.hpp"
#include "core/alloc.hpp"
#include "core/pool.hpp"
#include "libvmem.h"
#include "util/bits.hpp"
#include "util/error.hpp"

using namespace vmem;

namespace {

// A NULL handle is refused before anything reads through it.
bool handle_given(const VMEM *vmp) noexcept
{
	if (vmp != nullptr)
		return true;
	VMEM_FAIL(EINVAL, "invalid (NULL) pool handle");
	return false;
}

// The string copies refuse a NULL string (the original crashed on one).
bool string_given(const void *s) noexcept
{
	if (s != nullptr)
		return true;
	VMEM_FAIL(EINVAL, "invalid (NULL) string");
	return false;
}

// malloc for the string copies, whose lengths come with their terminator.
void *copy_of(VMEM *vmp, const void *source, size_t bytes) noexcept
{
	void *copy = core::pool_malloc(address_of(vmp), bytes);
	if (copy != nullptr)
		std::memcpy(copy, source, bytes);
	return copy;
}

// The pool of `ptr` for a call given a NULL pool; 0 (EINVAL) for a pointer
// in no live pool, which is not read.  Out of line: the calls that name
// their pool must not pay for it.
__attribute__((noinline)) uintptr_t pool_of_pointer(const void *ptr) noexcept
{
	uintptr_t handle = core::pool_holding(address_of(ptr));
	if (handle == 0)
		VMEM_MISUSE(EINVAL, "pointer %p is in no live pool", ptr);
	return handle;
}

// The pool calls that accept a NULL pool find it from the pointer.
inline uintptr_t pool_for(VMEM *vmp, const void *ptr) noexcept
{
	if (__builtin_expect(vmp != nullptr, true))
		return address_of(vmp);
	return pool_of_pointer(ptr);
}

} // namespace

VMEM_EXPORT VMEM *vmem_pool_from_ptr(const void *ptr)
{
	return pointer_at<VMEM>(core::pool_holding(address_of(ptr)));
}

VMEM_EXPORT void *vmem_malloc(VMEM *vmp, size_t size)
{
	if (!handle_given(vmp))
		return nullptr;
	return core::pool_malloc(address_of(vmp), size);
}

namespace {

// vmem_free(NULL, ptr), whole and out of line, so that a free naming its
// pool keeps no register across a call.
__attribute__((noinline)) void free_in_pool_of(void *ptr) noexcept
{
	if (uintptr_t handle = pool_of_pointer(ptr))
		core::pool_free(handle, ptr);
}

} // namespace

VMEM_EXPORT void vmem_free(VMEM *vmp, void *ptr)
{
	if (ptr == nullptr)
		return;
	if (__builtin_expect(vmp == nullptr, false))
		return free_in_pool_of(ptr);
	core::pool_free(address_of(vmp), ptr);
}

VMEM_EXPORT void *vmem_calloc(VMEM *vmp, size_t nmemb, size_t size)
{
	if (!handle_given(vmp))
		return nullptr;
	return core::pool_calloc(address_of(vmp), nmemb, size);
}

VMEM_EXPORT void *vmem_realloc(VMEM *vmp, void *ptr, size_t size)
{
	if (vmp == nullptr && ptr == nullptr) {
		VMEM_FAIL(EINVAL, "invalid (NULL) pool handle and pointer: no pool to allocate from");
		return nullptr;
	}
	uintptr_t handle = pool_for(vmp, ptr);
	return handle != 0 ? core::pool_realloc(handle, ptr, size) : nullptr;
}

VMEM_EXPORT void *vmem_aligned_alloc(VMEM *vmp, size_t alignment, size_t size)
{
	if (!handle_given(vmp))
		return nullptr;
	if (alignment == 0 || !is_power_of_two(alignment)) {
		VMEM_FAIL(EINVAL, "invalid alignment %zu: not a power of two", alignment);
		return nullptr;
	}
	return core::pool_aligned_alloc(address_of(vmp), alignment, size);
}

VMEM_EXPORT char *vmem_strdup(VMEM *vmp, const char *s)
{
	if (!handle_given(vmp) || !string_given(s))
		return nullptr;
	return static_cast<char *>(copy_of(vmp, s, std::strlen(s) + 1));
}

VMEM_EXPORT wchar_t *vmem_wcsdup(VMEM *vmp, const wchar_t *s)
{
	if (!handle_given(vmp) || !string_given(s))
		return nullptr;
	return static_cast<wchar_t *>(copy_of(vmp, s, (std::wcslen(s) + 1) * sizeof(wchar_t)));
}

VMEM_EXPORT size_t vmem_malloc_usable_size(VMEM *vmp, void *ptr)
{
	if (ptr == nullptr)
		return 0;
	uintptr_t handle = pool_for(vmp, ptr);
	return handle != 0 ? core::pool_usable_size(handle, ptr) : 0;
}
