// SPDX-License-Identifier: BSD-3-Clause
// race_annotations.cpp -- whether the process runs under helgrind or drd, decided once at start-up.
#include "util/race_annotations.hpp"

#include "util/valgrind.hpp"

namespace vmem::race {

bool g_active = false;

void init() noexcept
{
	g_active = vg::running_under_tool("helgrind") || vg::running_under_tool("drd");
}

} // namespace vmem::race
