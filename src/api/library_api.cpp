// SPDX-License-Identifier: BSD-3-Clause
// library_api.cpp -- library-wide entry points: version check, host functions, error text.
#include <mutex>

#include "api/export.hpp"
#include "core/fork.hpp"
#include "libvmem.h"
#include "util/bookkeeping.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/race_annotations.hpp"
#include "util/valgrind.hpp"

namespace vmem::api {

namespace {
std::once_flag g_init_once;
}

void ensure_initialized() noexcept
{
	std::call_once(g_init_once, [] {
		log::init_from_environment();
		vg::init();
		race::init();
		core::install_fork_handlers();
	});
}

__attribute__((constructor)) static void library_constructor()
{
	ensure_initialized();
}

} // namespace vmem::api

using namespace vmem;

VMEM_EXPORT const char *vmem_check_version(unsigned major_required, unsigned minor_required)
{
	api::ensure_initialized();
	if (major_required != VMEM_MAJOR_VERSION)
		return error::set_message("libvmem major version mismatch (need %u, found %u)",
					  major_required, VMEM_MAJOR_VERSION);
	if (minor_required > VMEM_MINOR_VERSION)
		return error::set_message("libvmem minor version mismatch (need %u, found %u)",
					  minor_required, VMEM_MINOR_VERSION);
	return nullptr;
}

VMEM_EXPORT void vmem_set_funcs(void *(*malloc_func)(size_t size), void (*free_func)(void *ptr),
				void *(*realloc_func)(void *ptr, size_t size),
				char *(*strdup_func)(const char *s), void (*print_func)(const char *s))
{
	api::ensure_initialized();
	bookkeeping::set_host_functions({malloc_func, free_func, realloc_func, strdup_func});
	log::set_print_function(print_func);
}

VMEM_EXPORT const char *vmem_errormsg(void)
{
	return error::message();
}
