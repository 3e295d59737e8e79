// SPDX-License-Identifier: BSD-3-Clause
// check_api.cpp -- vmem_check, vmem_stats_print and vmem_stats_get: the metadata walk's three readers.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "api/export.hpp"
#include "check/report.hpp"
#include "check/stats.hpp"
#include "check/walk.hpp"
#include "libvmem.h"
#include "util/bits.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

using namespace vmem;

namespace {

// The walk's checker visitor: the invariants are all it wants.
class CheckOnly final : public check::Visitor {};

// "invariant N (name) violated at 0x...: detail", as vmem_errormsg gives it.
struct Description {
	char text[320];
	explicit Description(const check::Finding &finding) noexcept
	{
		std::snprintf(text, sizeof(text), "invariant %u (%s) violated at 0x%lx: %s",
			      finding.invariant, check::invariant_name(finding.invariant),
			      static_cast<unsigned long>(finding.address), finding.detail);
	}
};

// Sets errno and the message for a walk that did not see a consistent
// pool, and returns the errno value.
int report_failure(check::WalkResult result, const VMEM *vmp, const check::Finding &finding) noexcept
{
	switch (result) {
	case check::WalkResult::not_a_pool:
		VMEM_MISUSE(EINVAL, "invalid pool handle: %p (not a live pool)",
			    static_cast<const void *>(vmp));
		return EINVAL;
	case check::WalkResult::no_memory:
		VMEM_FAIL(ENOMEM, "out of memory for the metadata walk");
		return ENOMEM;
	default: {
		VMEM_FAIL(EIO, "pool %p is corrupt: %s", static_cast<const void *>(vmp),
			  Description(finding).text);
		return EIO;
	}
	}
}

} // namespace

VMEM_EXPORT int vmem_check(VMEM *vmp)
{
	VMEM_LOG(log::kTrace, "vmp %p", static_cast<void *>(vmp));
	if (vmp == nullptr) {
		VMEM_FAIL(EINVAL, "invalid (NULL) pool handle");
		return -1;
	}
	CheckOnly visitor;
	check::Finding finding{};
	switch (check::walk_pool(address_of(vmp), visitor, &finding)) {
	case check::WalkResult::consistent:
		return 1;
	case check::WalkResult::corrupt: {
		Description description(finding);
		error::set_message("%s", description.text);
		VMEM_LOG(log::kErrors, "pool %p: %s", static_cast<void *>(vmp), description.text);
		return 0;
	}
	case check::WalkResult::not_a_pool:
		report_failure(check::WalkResult::not_a_pool, vmp, finding);
		return -1;
	default:
		report_failure(check::WalkResult::no_memory, vmp, finding);
		return -1;
	}
}

VMEM_EXPORT void vmem_stats_print(VMEM *vmp, const char *opts)
{
	VMEM_LOG(log::kTrace, "vmp %p opts %s", static_cast<void *>(vmp), opts != nullptr ? opts : "(null)");
	if (vmp == nullptr) {
		VMEM_FAIL(EINVAL, "invalid (NULL) pool handle");
		return;
	}
	check::PoolStats stats;
	check::Finding finding{};
	check::WalkResult result = check::collect_stats(address_of(vmp), &stats, &finding);
	if (result == check::WalkResult::consistent) {
		// the locks are released: the print function may call us
		check::print_report(address_of(vmp), stats, check::parse_report_options(opts));
	} else {
		report_failure(result, vmp, finding);
		if (result == check::WalkResult::corrupt) {
			log::print(error::message());
			log::print("\n");
		}
	}
	check::release_stats(&stats);
}

VMEM_EXPORT int vmem_stats_get(VMEM *vmp, struct vmem_stats *st, size_t st_size)
{
	if (vmp == nullptr || st == nullptr) {
		VMEM_FAIL(EINVAL, "invalid (NULL) %s", vmp == nullptr ? "pool handle" : "statistics pointer");
		return EINVAL;
	}
	if (st_size < sizeof(struct vmem_stats)) {
		VMEM_FAIL(EINVAL, "statistics size %zu smaller than %zu", st_size, sizeof(struct vmem_stats));
		return EINVAL;
	}
	check::PoolStats stats;
	check::Finding finding{};
	check::WalkResult result = check::collect_stats(address_of(vmp), &stats, &finding);
	check::release_stats(&stats);
	if (result != check::WalkResult::consistent)
		return report_failure(result, vmp, finding);
	struct vmem_stats numbers = {};
	numbers.pool_size = stats.pool_size;
	numbers.allocated = stats.allocated;
	numbers.active = stats.active;
	numbers.resident = stats.resident;
	numbers.metadata = stats.metadata;
	numbers.allocations = stats.allocations;
	// a caller built against a later, larger struct keeps its extra bytes
	std::memcpy(st, &numbers, std::min(st_size, sizeof(numbers)));
	return 0;
}
