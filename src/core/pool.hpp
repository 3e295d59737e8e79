// SPDX-License-Identifier: BSD-3-Clause
// pool.hpp -- creating and deleting pools: mapping, header, directory entry.
//
// Each function reports its own failures through VMEM_FAIL (errno plus
// vmem_errormsg) and undoes every step it took, so a failed call leaves no
// descriptor, mapping, file or directory entry behind.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/pool_header.hpp"

namespace vmem::core {

// The library's record of a live pool, kept outside the pool in bookkeeping
// memory: what delete needs to tear the pool down, which must not depend on
// memory the program may have scribbled over.
struct PoolRecord {
	uintptr_t base; // the handle
	size_t size;	// bytes the pool spans
	void *mapping;	// what delete unmaps (nullptr for a region)
	size_t mapping_size;
	int fd;		      // backing file, -1 for none
	uint32_t flags;	      // PoolFlags
	char *path;	      // the directory or device it was created in (nullptr for a region)
	bool private_mapping; // a file pool remapped copy-on-write before a fork
	uint8_t fork_mode;    // ForkMode: what a fork does to a file pool
	int clone_fd;	      // kForkCopy: the child's copy, made before the fork (-1: none)
};

// What fork(2) does to a file pool (libvmmalloc's VMMALLOC_FORK).
enum ForkMode : uint8_t {
	kForkShared = 0,    // nothing: parent and child share the pool (one of them must stop using it)
	kForkPrivate = 1,   // remapped copy-on-write before the first fork (the default)
	kForkCopy = 2,	    // the child gets a copy of the pool in a new file
	kForkCopyElse1 = 3, // kForkCopy, or kForkPrivate when the copy cannot be made
};

// Sets the fork mode of the live pool `handle`; false when there is none.
bool set_fork_mode(uintptr_t handle, ForkMode mode) noexcept;

// A pool in a new unnamed file in `dir`, `size` bytes (at least VMEM_MIN_POOL).
PoolHeader *create_in_directory(const char *dir, size_t size) noexcept;

// A growing pool in a new unnamed file in `dir` (or, for a device DAX,
// the whole device): address space for the size of dir's file system
// (at least VMEM_MIN_POOL, at most kGrowingMax) is mapped once; the file
// starts with the head pages and grows as slices and tables are first
// used, so the pool's base and tables never move and allocation fails
// (ENOMEM) only when the file system is full.
inline constexpr uint64_t kGrowingMax = uint64_t{16} << 40; // 16 TiB
PoolHeader *create_growing(const char *dir) noexcept;

// A pool on the whole device DAX `device`, which must hold at least `size` bytes.
PoolHeader *create_on_device_dax(const char *device, size_t size) noexcept;

// A pool inside the caller's page-aligned, mapped region [addr, addr + size).
PoolHeader *create_in_region(void *addr, size_t size) noexcept;

// Deletes the live pool whose handle is `base`; false (EINVAL) when there is none.
bool destroy(uintptr_t base) noexcept;

// The handle of the live pool whose range holds `address`, or 0.  Reads
// only the pool directory: an address in no pool is never dereferenced.
uintptr_t pool_holding(uintptr_t address) noexcept;

// Runs fn(header, arg) for the live pool whose handle is `handle`, holding
// the directory's mutex (so the pool cannot be deleted meanwhile); false,
// without reading through the handle, when there is no such pool.
bool with_live_pool(uintptr_t handle, void (*fn)(PoolHeader *, void *), void *arg) noexcept;

// Sets the pool's usage policy; switching to CONSERVATIVE purges at once.
void set_usage_policy(PoolHeader *header, unsigned policy) noexcept;

// Gives back the calling thread's empty pages, the empty abandoned pages
// and the unused heap slabs to the free spans, then every free slice's
// memory or file blocks; the bytes given back.  Any thread, with or
// without a heap in the pool.
uint64_t purge_now(PoolHeader *header) noexcept;

inline uintptr_t handle_of(const PoolHeader *header) noexcept
{
	return static_cast<uintptr_t>(header->base);
}

} // namespace vmem::core
