// SPDX-License-Identifier: BSD-3-Clause
// valgrind.cpp -- whether the process runs under Valgrind, decided once at start-up.
#include "util/valgrind.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

namespace vmem::vg {

bool g_active = false;

bool running_under_tool(const char *tool) noexcept
{
#ifdef HAVE_VALGRIND_VALGRIND_H
	if (RUNNING_ON_VALGRIND == 0)
		return false;
	// Valgrind preloads a library named after the tool: memcheck's is
	// vgpreload_memcheck-<platform>.so.
	const char *preload = std::getenv("LD_PRELOAD");
	if (preload == nullptr)
		return false;
	char name[64];
	std::snprintf(name, sizeof(name), "vgpreload_%s-", tool);
	return std::strstr(preload, name) != nullptr;
#else
	(void)tool;
	return false;
#endif
}

void init() noexcept
{
	g_active = running_under_tool("memcheck");
}

} // namespace vmem::vg
