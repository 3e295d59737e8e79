// SPDX-License-Identifier: BSD-3-Clause
// fault.hpp -- failures injected into the system calls of os.cpp, for tests.
//
// Every system call through which the library gets or changes memory and
// files asks should_fail() first.  Disarmed (always, outside the fault
// injection tests) that is one relaxed load of a flag nobody writes.  Armed,
// each call of a kind is counted, and the calls numbered [first, first +
// times) of one kind fail with the armed errno instead of reaching the
// kernel, so a test can make the n-th mmap of an operation fail, for every n.
// Not exported from libvmem.so: tests link the internal library.
#pragma once

#include <atomic>

namespace vmem::os::fault {

// The system calls that can be made to fail.
enum class Syscall : unsigned {
	open_tmpfile, // open(O_TMPFILE)
	mkostemp,     // the named-file fallback when O_TMPFILE is unsupported
	ftruncate,
	fallocate, // reserving blocks, growing a file, punching holes
	madvise,
	mmap,
	mprotect,
	count
};

// Name of a Syscall, for test messages.
const char *name(Syscall call) noexcept;

// Starts counting calls from 0 for every kind; the calls [first, first +
// times) of `call` then fail with `error`.  times 0: count only.
void arm(Syscall call, unsigned first, unsigned times, int error) noexcept;

// Adds a second plan to the armed one (at most four in all), e.g. O_TMPFILE
// unsupported on every call and the fallback's first call failing.
void also(Syscall call, unsigned first, unsigned times, int error) noexcept;

// Stops counting and failing.
void disarm() noexcept;

// Calls of `call` made since arm().
unsigned calls(Syscall call) noexcept;

// Failures injected since arm().
unsigned injected() noexcept;

namespace detail {
extern std::atomic<bool> g_armed;
bool count_and_decide(Syscall call) noexcept;
} // namespace detail

// Whether this call of `call` is to fail; when it is, errno holds the
// error to report.  Called right before the real system call.
inline bool should_fail(Syscall call) noexcept
{
	if (__builtin_expect(!detail::g_armed.load(std::memory_order_relaxed), 1))
		return false;
	return detail::count_and_decide(call);
}

} // namespace vmem::os::fault
