// SPDX-License-Identifier: BSD-3-Clause
// alloc.hpp -- allocation in a pool, by handle: the operations behind vmem_malloc and friends.
//
// Each reports failure through VMEM_FAIL (errno plus message) and changes
// nothing when it fails.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vmem::core {

void *pool_malloc(uintptr_t handle, size_t size) noexcept;
void *pool_calloc(uintptr_t handle, size_t count, size_t size) noexcept;
void *pool_realloc(uintptr_t handle, void *block, size_t size) noexcept;
// `alignment` is a power of two (the caller checked).
void *pool_aligned_alloc(uintptr_t handle, size_t alignment, size_t size) noexcept;
void pool_free(uintptr_t handle, void *block) noexcept;
size_t pool_usable_size(uintptr_t handle, const void *block) noexcept;

} // namespace vmem::core
