// SPDX-License-Identifier: BSD-3-Clause
// pool_api.cpp -- entry points that create and delete pools: argument checks, then core.
#include <cerrno>
#include <cstring>

#include "api/export.hpp"
#include "core/pool.hpp"
#include "libvmem.h"
#include "platform/os.hpp"
#include "util/bits.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

using namespace vmem;

namespace {

VMEM *as_handle(core::PoolHeader *header) noexcept
{
	return header != nullptr ? pointer_at<VMEM>(core::handle_of(header)) : nullptr;
}

bool pool_size_acceptable(size_t size) noexcept
{
	if (size >= VMEM_MIN_POOL)
		return true;
	VMEM_FAIL(EINVAL, "size %zu smaller than %zu", size, VMEM_MIN_POOL);
	return false;
}

} // namespace

VMEM_EXPORT VMEM *vmem_create(const char *dir, size_t size)
{
	api::ensure_initialized();
	VMEM_LOG(log::kTrace, "dir %s size %zu", dir != nullptr ? dir : "(null)", size);
	if (!pool_size_acceptable(size))
		return nullptr;
	if (dir == nullptr) {
		VMEM_FAIL(EINVAL, "invalid (NULL) path");
		return nullptr;
	}
	os::PathKind kind;
	if (int err = os::classify_path(dir, &kind); err != 0) {
		VMEM_FAIL(err, "%s: %s", dir, std::strerror(err));
		return nullptr;
	}
	switch (kind) {
	case os::PathKind::device_dax:
		return as_handle(core::create_on_device_dax(dir, size));
	case os::PathKind::other_chardev:
		VMEM_FAIL(EINVAL, "%s is a character device but not device DAX", dir);
		return nullptr;
	default:
		// A missing path or a regular file fails in open() with ENOENT
		// or ENOTDIR, the errno the original gives.
		return as_handle(core::create_in_directory(dir, size));
	}
}

VMEM_EXPORT VMEM *vmem_create_in_region(void *addr, size_t size)
{
	api::ensure_initialized();
	VMEM_LOG(log::kTrace, "addr %p size %zu", addr, size);
	if (addr == nullptr) {
		VMEM_FAIL(EINVAL, "invalid (NULL) region address");
		return nullptr;
	}
	if (!is_aligned(address_of(addr), os::page_size())) {
		VMEM_FAIL(EINVAL, "addr %p not aligned to pagesize %zu", addr, os::page_size());
		return nullptr;
	}
	if (!pool_size_acceptable(size))
		return nullptr;
	return as_handle(core::create_in_region(addr, size));
}

VMEM_EXPORT void vmem_delete(VMEM *vmp)
{
	VMEM_LOG(log::kTrace, "vmp %p", static_cast<void *>(vmp));
	core::destroy(address_of(vmp)); // an unknown handle: EINVAL and a message
}
