// SPDX-License-Identifier: BSD-3-Clause
// pool_directory.hpp -- the process-wide table of live pools.
//
// Each live pool has an id (a small integer, reused after delete) with its
// address range and a generation that changes at every delete, so state that
// remembers an id can tell when it has gone stale.  A radix table keyed by
// 4 MiB address granule (with whole 32 GiB spans registered once) answers
// "which pool holds this address" without locks; adding and removing pools
// take one mutex.  All of it lives in pages
// the directory maps itself and never unmaps, so a lock-free reader never
// touches freed memory.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace vmem::core {

struct PoolRecord;

struct DirectoryEntry {
	std::atomic<uintptr_t> base{0}; // 0: the id is free
	std::atomic<uintptr_t> end{0};
	std::atomic<uint64_t> generation{0};
	std::atomic<uint32_t> overlaps{0}; // live pools sharing bytes with this one
	uint32_t next_free = 0;		   // free-id chain, under the mutex
	uint64_t visit_stamp = 0;	   // overlap accounting, under the mutex
	PoolRecord *record = nullptr;	   // under the mutex
};

namespace directory {

// Addresses the directory covers: the 48-bit user address space.
inline constexpr unsigned kAddressBits = 48;
inline constexpr unsigned kGranuleShift = 22; // 4 MiB

// Registers [base, end) for `record`; the first `head` bytes hold the
// pool's guard and header.  Returns 0 and the pool's id, or ENOMEM (no
// memory for the table), EEXIST (the head shares bytes with the head of a
// live pool: writing one would fault on or wreck the other), or EINVAL (the
// range lies outside the covered address space, or more than four pools
// would share one 4 MiB granule, which only overlapping regions can cause).
// Overlaps that spare the heads are allowed and counted (vmem_check reports
// them).
int add(uintptr_t base, uintptr_t end, size_t head, PoolRecord *record, uint32_t *id) noexcept;

// Unregisters the live pool whose range starts at `base` and returns its
// record, or nullptr when no live pool starts there.
PoolRecord *remove(uintptr_t base) noexcept;

// The id of a live pool whose range holds `address`, or 0.  Lock-free; a
// pool being deleted at the same moment may or may not be found.
uint32_t find(uintptr_t address) noexcept;

// The id of the live pool whose range starts exactly at `base`, or 0.
uint32_t find_by_base(uintptr_t base) noexcept;

DirectoryEntry &entry(uint32_t id) noexcept;

// A count of removals so far.  A handle found live while it read n is
// still live while it reads n: callers cache lookups under it and look
// again only when a pool has gone since.  On a cache line of its own:
// threads read it on every pool switch.
struct alignas(64) RemovalCount {
	std::atomic<uint64_t> value{0};
};
// Declared hidden: -fvisibility=hidden covers definitions only, and a
// default-visibility declaration is reached through the GOT, an extra
// instruction on every malloc's fast path.
extern RemovalCount g_removals __attribute__((visibility("hidden")));

inline uint64_t removals() noexcept
{
	return g_removals.value.load(std::memory_order_acquire);
}

// Runs fn(arg) under the directory's mutex if pool `id` is still the live
// pool of that generation, so the pool cannot be deleted while fn runs.
// Returns whether it ran.
bool run_if_live(uint32_t id, uint64_t generation, void (*fn)(void *), void *arg) noexcept;

// Runs fn(record, arg) for every live pool.  The caller holds the
// directory's mutex through lock() and unlock() (the fork handlers hold it
// across a fork, so no pool comes or goes meanwhile).
void for_each_live(void (*fn)(PoolRecord *, void *), void *arg) noexcept;
void lock() noexcept;
void unlock() noexcept;

size_t live_pools() noexcept;

} // namespace directory
} // namespace vmem::core
