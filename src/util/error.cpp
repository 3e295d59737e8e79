// SPDX-License-Identifier: BSD-3-Clause
// error.cpp -- the per-thread error message behind vmem_errormsg().
#include "util/error.hpp"

#include <cerrno>
#include <cstdarg>
#include <cstdio>

#include "util/checked_build.hpp"
#include "util/log.hpp"

namespace vmem::error {

namespace {
// One line per thread; paths in messages fit (PATH_MAX plus the text).
constexpr size_t kMessageCapacity = 4096 + 256;
thread_local char t_message[kMessageCapacity];

void report(bool always_log, int err, const char *file, int line, const char *func, const char *fmt,
	    va_list ap) noexcept
{
	std::vsnprintf(t_message, sizeof(t_message), fmt, ap);
	if (always_log || log::enabled(log::kErrors))
		log::write(log::kErrors, file, line, func, "%s", t_message);
	errno = err; // last, so logging cannot clobber it
}
} // namespace

void set(int err, const char *file, int line, const char *func, const char *fmt, ...) noexcept
{
	va_list ap;
	va_start(ap, fmt);
	report(false, err, file, line, func, fmt, ap);
	va_end(ap);
}

void misuse(int err, const char *file, int line, const char *func, const char *fmt, ...) noexcept
{
	va_list ap;
	va_start(ap, fmt);
	report(kCheckedBuild, err, file, line, func, fmt, ap);
	va_end(ap);
}

const char *set_message(const char *fmt, ...) noexcept
{
	va_list ap;
	va_start(ap, fmt);
	std::vsnprintf(t_message, sizeof(t_message), fmt, ap);
	va_end(ap);
	return t_message;
}

const char *message() noexcept
{
	return t_message;
}

} // namespace vmem::error
