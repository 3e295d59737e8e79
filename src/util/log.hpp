// SPDX-License-Identifier: BSD-3-Clause
// log.hpp -- the library's log and its print function (VMEM_LOG_LEVEL, VMEM_LOG_FILE).
//
// Every build honours the variables (the original did only in debug builds):
//   0 nothing but requested output (stats), 1 every error, 2 pool operations,
//   3 function trace, 4 library internals.
#pragma once

#include <cstdarg>

namespace vmem::log {

enum Level : int { kErrors = 1, kOperations = 2, kTrace = 3, kInternals = 4 };

// Reads VMEM_LOG_LEVEL and VMEM_LOG_FILE.  A log file that cannot be opened
// is reported on stderr and aborts the process, as the original did.
void init_from_environment() noexcept;

bool enabled(int level) noexcept;

// Writes "<libvmem>: <level> [file:line func] message\n" through the print
// function when `level` is enabled.
void write(int level, const char *file, int line, const char *func, const char *fmt, ...) noexcept
    __attribute__((format(printf, 5, 6)));
void vwrite(int level, const char *file, int line, const char *func, const char *fmt, va_list ap) noexcept;

// Hands `text` to the print function as it is (stats output, always printed).
void print(const char *text) noexcept;

// vmem_set_funcs' print_func; nullptr restores the default (the log file or stderr).
void set_print_function(void (*print_func)(const char *)) noexcept;

} // namespace vmem::log

#define VMEM_LOG(level, ...)                                                                                 \
	do {                                                                                                 \
		if (::vmem::log::enabled(level))                                                             \
			::vmem::log::write(level, __FILE__, __LINE__, __func__, __VA_ARGS__);                \
	} while (0)
