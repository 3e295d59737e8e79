// SPDX-License-Identifier: BSD-3-Clause
// pool_api.cpp -- entry points that create and delete pools: argument checks, then core.
#include <cerrno>
#include <cstring>

#include "api/export.hpp"
#include "core/layout.hpp"
#include "core/pool.hpp"
#include "libvmem.h"
#include "platform/os.hpp"
#include "util/bits.hpp"
#include "util/bookkeeping.hpp"
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

// vmem_create after its trace: a pool in a file in `dir`, or on a device DAX.
VMEM *create_at_path(const char *dir, size_t size) noexcept
{
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

// The region checks vmem_create_in_region and vmem_config_set_region share.
bool region_acceptable(const void *addr, size_t size) noexcept
{
	if (addr == nullptr) {
		VMEM_FAIL(EINVAL, "invalid (NULL) region address");
		return false;
	}
	if (!is_aligned(address_of(addr), os::page_size())) {
		VMEM_FAIL(EINVAL, "addr %p not aligned to pagesize %zu", addr, os::page_size());
		return false;
	}
	return pool_size_acceptable(size);
}

} // namespace

VMEM_EXPORT VMEM *vmem_create(const char *dir, size_t size)
{
	api::ensure_initialized();
	VMEM_LOG(log::kTrace, "dir %s size %zu", dir != nullptr ? dir : "(null)", size);
	return create_at_path(dir, size);
}

VMEM_EXPORT VMEM *vmem_create_in_region(void *addr, size_t size)
{
	api::ensure_initialized();
	VMEM_LOG(log::kTrace, "addr %p size %zu", addr, size);
	if (!region_acceptable(addr, size))
		return nullptr;
	return as_handle(core::create_in_region(addr, size));
}

VMEM_EXPORT void vmem_delete(VMEM *vmp)
{
	VMEM_LOG(log::kTrace, "vmp %p", static_cast<void *>(vmp));
	core::destroy(address_of(vmp)); // an unknown handle: EINVAL and a message
}

// ---------------------------------------------------------------- configured creation

// What vmem_config_* collected.  Kept in bookkeeping memory (through the
// vmem_set_funcs functions when set).
struct vmem_config {
	char *path; // a copy, nullptr when none was set
	void *region;
	size_t region_size;
	size_t size;
	bool size_set;
	unsigned policy;
};

namespace {

bool config_given(const void *cfg) noexcept
{
	if (cfg != nullptr)
		return true;
	VMEM_FAIL(EINVAL, "invalid (NULL) configuration");
	return false;
}

} // namespace

VMEM_EXPORT vmem_config *vmem_config_new(void)
{
	api::ensure_initialized();
	auto *cfg = static_cast<vmem_config *>(bookkeeping::allocate(sizeof(vmem_config)));
	if (cfg == nullptr) {
		VMEM_FAIL(ENOMEM, "out of memory for a configuration");
		return nullptr;
	}
	*cfg = vmem_config{nullptr, nullptr, 0, 0, false, VMEM_USAGE_POLICY_DEFAULT};
	return cfg;
}

VMEM_EXPORT void vmem_config_delete(vmem_config *cfg)
{
	if (cfg == nullptr)
		return;
	bookkeeping::release(cfg->path);
	bookkeeping::release(cfg);
}

VMEM_EXPORT int vmem_config_set_path(vmem_config *cfg, const char *dir_or_devdax)
{
	if (!config_given(cfg))
		return EINVAL;
	if (dir_or_devdax == nullptr || *dir_or_devdax == '\0') {
		VMEM_FAIL(EINVAL, "invalid (NULL or empty) path");
		return EINVAL;
	}
	char *copy = bookkeeping::duplicate(dir_or_devdax);
	if (copy == nullptr) {
		VMEM_FAIL(ENOMEM, "out of memory for the path");
		return ENOMEM;
	}
	bookkeeping::release(cfg->path);
	cfg->path = copy;
	return 0;
}

VMEM_EXPORT int vmem_config_set_region(vmem_config *cfg, void *addr, size_t size)
{
	if (!config_given(cfg))
		return EINVAL;
	if (!region_acceptable(addr, size))
		return EINVAL;
	cfg->region = addr;
	cfg->region_size = size;
	return 0;
}

VMEM_EXPORT int vmem_config_set_size(vmem_config *cfg, size_t size)
{
	if (!config_given(cfg))
		return EINVAL;
	if (size != 0 && !pool_size_acceptable(size))
		return EINVAL;
	cfg->size = size;
	cfg->size_set = true;
	return 0;
}

VMEM_EXPORT int vmem_config_set_usage_policy(vmem_config *cfg, enum vmem_usage_policy policy)
{
	if (!config_given(cfg))
		return EINVAL;
	if (policy != VMEM_USAGE_POLICY_DEFAULT && policy != VMEM_USAGE_POLICY_CONSERVATIVE) {
		VMEM_FAIL(EINVAL, "invalid usage policy %d", static_cast<int>(policy));
		return EINVAL;
	}
	cfg->policy = policy;
	return 0;
}

VMEM_EXPORT VMEM *vmem_create_with_config(const vmem_config *cfg)
{
	api::ensure_initialized();
	if (!config_given(cfg))
		return nullptr;
	if ((cfg->path != nullptr) == (cfg->region != nullptr)) {
		VMEM_FAIL(EINVAL, "a configuration needs exactly one of a path and a region (it has %s)",
			  cfg->path != nullptr ? "both" : "neither");
		return nullptr;
	}
	VMEM *vmp = nullptr;
	if (cfg->region != nullptr) {
		if (cfg->size_set && cfg->size != cfg->region_size) {
			VMEM_FAIL(EINVAL, "size %zu set for a region of %zu bytes", cfg->size,
				  cfg->region_size);
			return nullptr;
		}
		vmp = as_handle(core::create_in_region(cfg->region, cfg->region_size));
	} else if (!cfg->size_set || cfg->size == 0) {
		vmp = as_handle(core::create_growing(cfg->path)); // vmem_config_new(3)
	} else {
		vmp = create_at_path(cfg->path, cfg->size);
	}
	if (vmp != nullptr && cfg->policy != VMEM_USAGE_POLICY_DEFAULT)
		core::set_usage_policy(core::header_of_handle(address_of(vmp), os::page_size()), cfg->policy);
	return vmp;
}
