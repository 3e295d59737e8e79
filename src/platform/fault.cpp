// SPDX-License-Identifier: BSD-3-Clause
// fault.cpp -- counters and the armed failure of fault.hpp.
#include "platform/fault.hpp"

#include <cerrno>

namespace vmem::os::fault {

namespace {

constexpr unsigned kKinds = static_cast<unsigned>(Syscall::count);

struct Plan {
	Syscall call = Syscall::count;
	unsigned first = 0;
	unsigned times = 0;
	int error = 0;
};

constexpr unsigned kMaxPlans = 4;

// Written by arm(), also() and disarm() only, before and after the
// operation under test; its threads read them after seeing g_armed set.
Plan g_plans[kMaxPlans];
unsigned g_plan_count = 0;
std::atomic<unsigned> g_calls[kKinds];
std::atomic<unsigned> g_injected{0};

} // namespace

namespace detail {
std::atomic<bool> g_armed{false};

bool count_and_decide(Syscall call) noexcept
{
	if (!g_armed.load(std::memory_order_acquire)) // pairs with arm(): g_plan is set
		return false;
	unsigned index = static_cast<unsigned>(call);
	unsigned number = g_calls[index].fetch_add(1, std::memory_order_relaxed);
	for (unsigned i = 0; i < g_plan_count; i++) {
		const Plan &plan = g_plans[i];
		if (call == plan.call && number >= plan.first && number - plan.first < plan.times) {
			g_injected.fetch_add(1, std::memory_order_relaxed);
			errno = plan.error;
			return true;
		}
	}
	return false;
}
} // namespace detail

const char *name(Syscall call) noexcept
{
	switch (call) {
	case Syscall::open_tmpfile:
		return "open(O_TMPFILE)";
	case Syscall::mkostemp:
		return "mkostemp";
	case Syscall::ftruncate:
		return "ftruncate";
	case Syscall::fallocate:
		return "fallocate";
	case Syscall::madvise:
		return "madvise";
	case Syscall::mmap:
		return "mmap";
	case Syscall::mprotect:
		return "mprotect";
	case Syscall::count:
		break;
	}
	return "?";
}

void arm(Syscall call, unsigned first, unsigned times, int error) noexcept
{
	detail::g_armed.store(false, std::memory_order_release);
	for (auto &count : g_calls)
		count.store(0, std::memory_order_relaxed);
	g_injected.store(0, std::memory_order_relaxed);
	g_plans[0] = Plan{call, first, times, error};
	g_plan_count = 1;
	detail::g_armed.store(true, std::memory_order_release);
}

void also(Syscall call, unsigned first, unsigned times, int error) noexcept
{
	detail::g_armed.store(false, std::memory_order_release);
	if (g_plan_count < kMaxPlans)
		g_plans[g_plan_count++] = Plan{call, first, times, error};
	detail::g_armed.store(true, std::memory_order_release);
}

void disarm() noexcept
{
	detail::g_armed.store(false, std::memory_order_release);
}

unsigned calls(Syscall call) noexcept
{
	return g_calls[static_cast<unsigned>(call)].load(std::memory_order_relaxed);
}

unsigned injected() noexcept
{
	return g_injected.load(std::memory_order_relaxed);
}

} // namespace vmem::os::fault
