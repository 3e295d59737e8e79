// SPDX-License-Identifier: BSD-3-Clause
// valgrind.cpp -- whether the process runs under Valgrind, decided once at start-up.
#include "util/valgrind.hpp"

#include <cstdlib>
#include <cstring>

namespace vmem::vg {

bool g_active = false;

void init() noexcept
{
#ifdef HAVE_VALGRIND_MEMCHECK_H
	if (RUNNING_ON_VALGRIND == 0)
		return;
	// Valgrind preloads a library named after the tool: memcheck's is
	// vgpreload_memcheck-<platform>.so.
	const char *preload = std::getenv("LD_PRELOAD");
	g_active = preload != nullptr && std::strstr(preload, "vgpreload_memcheck") != nullptr;
#endif
}

} // namespace vmem::vg
