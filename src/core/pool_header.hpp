// SPDX-License-Identifier: BSD-3-Clause
// pool_header.hpp -- the layout of a pool's first pages (see doc/design.md, "Pool layout").
//
//   offset 0          guard page, PROT_NONE while the pool lives; begins with
//                     kGuardSignature.  The handle (VMEM *) is its address, so
//                     reading through the handle faults, as in the original.
//   offset page       PoolHeader (one page)
//   offset 2 * page   the allocator's space
#pragma once

#include <cstddef>
#include <cstdint>

namespace vmem::core {

inline constexpr char kGuardSignature[8] = {'V', 'M', 'E', 'M', ' ', ' ', ' ', '\0'};
inline constexpr char kHeaderSignature[16] = "VMEM-POOL-HDR";
inline constexpr uint32_t kFormatVersion = 1;

// What backs the pool (PoolHeader::flags).
enum PoolFlags : uint32_t {
	kBackingFile = 1u << 0,	     // an unnamed temporary file, fd kept
	kBackingDeviceDax = 1u << 1, // a whole device DAX device
	kBackingRegion = 1u << 2,    // memory the caller mapped
	kGrowing = 1u << 3,	     // a file pool whose file grows as slices are first used
};

struct PoolHeader {
	char signature[16];	 // kHeaderSignature
	uint32_t format_version; // kFormatVersion
	uint32_t flags;		 // PoolFlags
	uint64_t cookie;	 // random per pool: tells this pool from an earlier one here
	uint64_t base;		 // address of the guard page == the handle
	uint64_t size;		 // bytes the pool spans, guard and header included
	uint64_t page_size;	 // system page size when created
	uint64_t heap_offset;	 // first byte after the header: the allocator's space
	int32_t fd;		 // backing file descriptor, -1 when there is none
	uint32_t directory_id;	 // the pool's slot in the process's pool directory
};
static_assert(sizeof(PoolHeader) == 72, "the header layout is documented in doc/design.md");
static_assert(offsetof(PoolHeader, cookie) == 24 && offsetof(PoolHeader, fd) == 64,
	      "the header layout is documented in doc/design.md");

} // namespace vmem::core
