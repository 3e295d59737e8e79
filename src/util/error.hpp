// SPDX-License-Identifier: BSD-3-Clause
// error.hpp -- failures reported to callers: errno plus a one-line vmem_errormsg().
#pragma once

namespace vmem::error {

// Sets the calling thread's message and errno, and logs it at level 1.
// Returns nothing: callers return their own failure value next.
void set(int err, const char *file, int line, const char *func, const char *fmt, ...) noexcept
    __attribute__((format(printf, 5, 6)));

// set() for a misuse of the interface the library refused (a double
// free, a pointer that is no block, a handle that is no pool): the checked
// build also writes it to the log whatever the log level.
void misuse(int err, const char *file, int line, const char *func, const char *fmt, ...) noexcept
    __attribute__((format(printf, 5, 6)));

// Sets only the message (for results that report failure without errno,
// such as vmem_check_version) and returns it.
const char *set_message(const char *fmt, ...) noexcept __attribute__((format(printf, 1, 2)));

// The calling thread's last message ("" before the first failure).
const char *message() noexcept;

} // namespace vmem::error

#define VMEM_FAIL(err, ...) ::vmem::error::set((err), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define VMEM_MISUSE(err, ...) ::vmem::error::misuse((err), __FILE__, __LINE__, __func__, __VA_ARGS__)
