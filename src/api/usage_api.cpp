// SPDX-License-Identifier: BSD-3-Clause
// usage_api.cpp -- giving memory back (usage policies, vmem_purge) and the DAX check.
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

void refuse_handle(const VMEM *vmp) noexcept
{
	if (vmp == nullptr)
		VMEM_FAIL(EINVAL, "invalid (NULL) pool handle");
	else
		VMEM_MISUSE(EINVAL, "invalid pool handle: %p (not a live pool)",
			    static_cast<const void *>(vmp));
}

struct PolicyChange {
	unsigned policy;
};

void change_policy(core::PoolHeader *header, void *arg) noexcept
{
	core::set_usage_policy(header, static_cast<PolicyChange *>(arg)->policy);
}

void purge_pool(core::PoolHeader *header, void *arg) noexcept
{
	*static_cast<uint64_t *>(arg) = core::purge_now(header);
}

} // namespace

VMEM_EXPORT int vmem_set_usage_policy(VMEM *vmp, enum vmem_usage_policy policy)
{
	VMEM_LOG(log::kTrace, "vmp %p policy %d", static_cast<void *>(vmp), static_cast<int>(policy));
	if (policy != VMEM_USAGE_POLICY_DEFAULT && policy != VMEM_USAGE_POLICY_CONSERVATIVE) {
		VMEM_FAIL(EINVAL, "invalid usage policy %d", static_cast<int>(policy));
		return EINVAL;
	}
	PolicyChange change{static_cast<unsigned>(policy)};
	if (vmp == nullptr || !core::with_live_pool(address_of(vmp), change_policy, &change)) {
		refuse_handle(vmp);
		return EINVAL;
	}
	return 0;
}

VMEM_EXPORT size_t vmem_purge(VMEM *vmp)
{
	VMEM_LOG(log::kTrace, "vmp %p", static_cast<void *>(vmp));
	uint64_t given = 0;
	if (vmp == nullptr || !core::with_live_pool(address_of(vmp), purge_pool, &given)) {
		refuse_handle(vmp);
		return 0;
	}
	return static_cast<size_t>(given);
}

VMEM_EXPORT int vmem_validate_dir(const char *dir)
{
	if (dir == nullptr) {
		VMEM_FAIL(EINVAL, "invalid (NULL) path");
		return EINVAL;
	}
	int err = os::probe_dax(dir);
	if (err == EOPNOTSUPP)
		VMEM_FAIL(err, "%s: the file system does not support DAX mappings (MAP_SYNC)", dir);
	else if (err != 0)
		VMEM_FAIL(err, "%s: %s", dir, std::strerror(err));
	return err;
}
