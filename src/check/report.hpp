// SPDX-License-Identifier: BSD-3-Clause
// report.hpp -- vmem_stats_print's report, as text or as one JSON object.
#pragma once

#include <cstdint>

#include "check/stats.hpp"

namespace vmem::check {

struct ReportOptions {
	bool general = true; // omitted by 'g'
	bool totals = true;  // 'm'
	bool heaps = true;   // 'a'
	bool bins = true;    // 'b'
	bool large = true;   // 'l'
	bool json = false;   // 'J'
};

// Reads vmem_stats_print's opts (nullptr: everything, as text); unknown
// letters are ignored.
ReportOptions parse_report_options(const char *opts) noexcept;

// Hands the report on pool `handle` to the print function, a few lines at
// a time.  Call it with no lock held.
void print_report(uintptr_t handle, const PoolStats &stats, const ReportOptions &options) noexcept;

} // namespace vmem::check
