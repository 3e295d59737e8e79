// SPDX-License-Identifier: BSD-3-Clause
// alloc_api.cpp -- the allocation entry points: argument checks, then core.
#include <cerrno>
#include <cstring>
#include <cwchar>

#include "api/export.hpp"
#include "core/alloc.hpp"
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

} // namespace

VMEM_EXPORT void *vmem_malloc(VMEM *vmp, size_t size)
{
	if (!handle_given(vmp))
		return nullptr;
	return core::pool_malloc(address_of(vmp), size);
}

VMEM_EXPORT void vmem_free(VMEM *vmp, void *ptr)
{
	if (ptr == nullptr || !handle_given(vmp))
		return;
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
	if (!handle_given(vmp))
		return nullptr;
	return core::pool_realloc(address_of(vmp), ptr, size);
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
	if (ptr == nullptr || !handle_given(vmp))
		return 0;
	return core::pool_usable_size(address_of(vmp), ptr);
}
