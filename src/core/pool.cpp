// SPDX-License-Identifier: BSD-3-Clause
// pool.cpp -- creating and deleting pools: mapping, header, directory entry.
#include "core/pool.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/layout.hpp"
#include "core/purge.hpp"
#include "core/thread_cache.hpp"
#include "libvmem.h"
#include "core/pool_directory.hpp"
#include "platform/os.hpp"
#include "util/bits.hpp"
#include "util/bookkeeping.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/valgrind.hpp"

namespace vmem::core {

namespace {

// File pools are mapped at a segment-aligned address so the allocator's
// segments line up with the mapping.
constexpr size_t kMappingAlignment = 4 * MiB;

// The guard page and the header page, written at creation.
constexpr size_t kHeadPages = 2;

void unmap_pool(void *mapping, size_t size, bool device_dax) noexcept
{
	if (mapping == nullptr)
		return; // a region: the caller's memory stays
	if (device_dax)
		os::unmap_device_dax(mapping, size);
	else
		os::unmap(mapping, size); // file blocks go with the last reference
}

// The steps of a creation taken so far, undone in reverse when a later step
// fails.  Region pools take none of the mapping steps.
struct CreationSteps {
	int fd = -1;
	void *mapping = nullptr;
	size_t mapping_size = 0;
	bool device_dax = false; // the mapping came from libpmem
	PoolRecord *record = nullptr;

	void undo() noexcept
	{
		if (record != nullptr) {
			bookkeeping::release(record->path);
			bookkeeping::release(record);
		}
		unmap_pool(mapping, mapping_size, device_dax);
		os::close_fd(fd);
	}
};

PoolRecord *new_record(uintptr_t base, size_t size, const CreationSteps &steps, uint32_t flags,
		       const char *path) noexcept
{
	auto *record = static_cast<PoolRecord *>(bookkeeping::allocate(sizeof(PoolRecord)));
	if (record == nullptr)
		return nullptr;
	*record = PoolRecord{base,  size,    steps.mapping, steps.mapping_size, steps.fd,
			     flags, nullptr, false,	    kForkPrivate,	-1};
	if (path != nullptr) {
		record->path = bookkeeping::duplicate(path);
		if (record->path == nullptr) {
			bookkeeping::release(record);
			return nullptr;
		}
	}
	return record;
}

// Writes the guard signature and the header.  The caller has made sure the
// two pages are writable and, for files, backed by allocated blocks.
PoolHeader *write_header(uintptr_t base, size_t size, uint32_t flags, int fd) noexcept
{
	size_t page = os::page_size();
	std::memcpy(pointer_at(base), kGuardSignature, sizeof(kGuardSignature));
	auto *header = pointer_at<PoolHeader>(base + page);
	std::memset(static_cast<void *>(header), 0, sizeof(*header));
	std::memcpy(header->signature, kHeaderSignature, sizeof(kHeaderSignature));
	header->format_version = kFormatVersion;
	header->flags = flags;
	header->cookie = os::random_u64();
	header->base = base;
	header->size = size;
	header->page_size = page;
	header->heap_offset = kHeadPages * page;
	header->fd = fd;
	return header;
}

// The last steps every kind of pool shares: record, header, directory
// entry, guard page.  Consumes `steps` (undoing them on failure).
PoolHeader *finish_creation(uintptr_t base, size_t size, uint32_t flags, const char *path,
			    CreationSteps &steps) noexcept
{
	steps.record = new_record(base, size, steps, flags, path);
	if (steps.record == nullptr) {
		steps.undo();
		VMEM_FAIL(ENOMEM, "out of memory for the pool record");
		return nullptr;
	}
	uint32_t id = 0;
	if (int err = directory::add(base, base + size, kHeadPages * os::page_size(), steps.record, &id);
	    err != 0) {
		steps.undo();
		if (err == EEXIST)
			VMEM_FAIL(EINVAL, "region 0x%lx-0x%lx overlaps the guard or header of a live pool",
				  static_cast<unsigned long>(base), static_cast<unsigned long>(base + size));
		else if (err == EINVAL)
			VMEM_FAIL(EINVAL,
				  "range 0x%lx-0x%lx overlaps too many live pools or lies outside the "
				  "supported address space",
				  static_cast<unsigned long>(base), static_cast<unsigned long>(base + size));
		else
			VMEM_FAIL(err, "out of memory for the pool directory");
		return nullptr;
	}
	// Written only once the directory took the pool, so a refused region
	// is left as it was.
	if ((flags & kBackingRegion) && vg::active())
		vg::undefined(pointer_at(base), size); // what the program left there means nothing now
	PoolHeader *header = write_header(base, size, flags, steps.fd);
	if (int err = layout_init(header, steps.fd, (flags & kBackingFile) != 0); err != 0) {
		directory::remove(base);
		steps.undo();
		VMEM_FAIL(err, "cannot lay out the pool's tables: %s", std::strerror(err));
		return nullptr;
	}
	header->directory_id = id;
	// A device DAX mapping may use pages larger than the guard (2 MiB or
	// 1 GiB); the kernel then refuses to split it, and the pool keeps
	// working without a guard.
	int guard_err = os::protect(pointer_at(base), os::page_size(), os::Access::none);
	if (guard_err != 0)
		VMEM_LOG(log::kOperations, "guard page of pool 0x%lx not protected: %s",
			 static_cast<unsigned long>(base), std::strerror(guard_err));
	VMEM_LOG(log::kOperations, "pool 0x%lx created: %zu bytes, %s%s, id %u",
		 static_cast<unsigned long>(base), size,
		 flags & kBackingFile	     ? "file in "
		 : flags & kBackingDeviceDax ? "device DAX "
					     : "region",
		 path != nullptr ? path : "", id);
	return header;
}

} // namespace

namespace {

PoolHeader *create_file_pool(const char *dir, size_t size, bool growing) noexcept
{
	size_t page = os::page_size();
	if (rounding_overflows(size, page) || align_up(size, page) > static_cast<uint64_t>(INT64_MAX)) {
		VMEM_FAIL(EFBIG, "invalid size %zu for a pool file", size);
		return nullptr;
	}
	size_t pool_size = align_up(size, page);
	CreationSteps steps;
	const char *failed_call = nullptr;
	if (int err = os::open_tmpfile(dir, &steps.fd, &failed_call); err != 0) {
		VMEM_FAIL(err, "%s: %s", failed_call, std::strerror(err));
		return nullptr;
	}
	// The file's logical size only: blocks are allocated as the heap
	// first uses them, so a 1 TiB pool costs no disk until it is used.
	// A growing pool's file keeps only what was reserved: reserving
	// (fallocate) past its end extends it.
	if (int err = growing ? 0 : os::file_set_size(steps.fd, pool_size); err != 0) {
		steps.undo();
		VMEM_FAIL(err, "ftruncate: %s", std::strerror(err));
		return nullptr;
	}
	// The guard and header pages are written now: their blocks must exist
	// first, or a full file system would turn the stores into SIGBUS.
	if (int err = os::file_reserve(steps.fd, 0, kHeadPages * page); err != 0) {
		steps.undo();
		VMEM_FAIL(err, "fallocate: %s", std::strerror(err));
		return nullptr;
	}
	void *addr = nullptr;
	if (int err = os::map_file_aligned(steps.fd, pool_size, kMappingAlignment, &addr); err != 0) {
		steps.undo();
		VMEM_FAIL(err, "mmap of %zu bytes: %s", pool_size, std::strerror(err));
		return nullptr;
	}
	steps.mapping = addr;
	steps.mapping_size = pool_size;
	return finish_creation(address_of(addr), pool_size, kBackingFile | (growing ? kGrowing : 0u), dir,
			       steps);
}

} // namespace

PoolHeader *create_in_directory(const char *dir, size_t size) noexcept
{
	return create_file_pool(dir, size, false);
}

PoolHeader *create_growing(const char *dir) noexcept
{
	os::PathKind kind;
	if (int err = os::classify_path(dir, &kind); err != 0) {
		VMEM_FAIL(err, "%s: %s", dir, std::strerror(err));
		return nullptr;
	}
	if (kind == os::PathKind::device_dax)
		return create_on_device_dax(dir, VMEM_MIN_POOL); // the whole device, as always
	if (kind == os::PathKind::other_chardev) {
		VMEM_FAIL(EINVAL, "%s is a character device but not device DAX", dir);
		return nullptr;
	}
	uint64_t capacity = 0;
	if (int err = os::file_system_size(dir, &capacity); err != 0) {
		VMEM_FAIL(err, "%s: %s", dir, std::strerror(err));
		return nullptr;
	}
	uint64_t size =
	    std::clamp<uint64_t>(align_up(capacity, kMappingAlignment), VMEM_MIN_POOL, kGrowingMax);
	return create_file_pool(dir, size, true);
}

PoolHeader *create_on_device_dax(const char *device, size_t size) noexcept
{
	CreationSteps steps;
	void *addr = nullptr;
	size_t device_size = 0;
	if (int err = os::map_device_dax(device, &addr, &device_size); err != 0) {
		VMEM_FAIL(err, "cannot map device DAX %s: %s", device, std::strerror(err));
		return nullptr;
	}
	steps.mapping = addr;
	steps.mapping_size = device_size;
	steps.device_dax = true;
	if (device_size < size) {
		steps.undo();
		VMEM_FAIL(EINVAL, "device DAX %s holds %zu bytes, less than the %zu requested", device,
			  device_size, size);
		return nullptr;
	}
	// The whole device backs the pool (the original used only `size`
	// bytes and leaked the rest of the mapping).
	return finish_creation(address_of(addr), device_size, kBackingDeviceDax, device, steps);
}

PoolHeader *create_in_region(void *addr, size_t size) noexcept
{
	uintptr_t base = address_of(addr);
	if (base > UINTPTR_MAX - size) {
		VMEM_FAIL(EINVAL, "region 0x%lx of %zu bytes wraps around the address space",
			  static_cast<unsigned long>(base), size);
		return nullptr;
	}
	// The region's old contents mean nothing now, and the checks below
	// hand it to the kernel: memcheck must not take its bytes for unset
	// ones (a pool deleted here left them "undefined").
	if (vg::active())
		vg::defined(addr, size);
	if (os::check_mapped(addr, size) != 0) {
		VMEM_FAIL(EINVAL, "region 0x%lx of %zu bytes is not entirely mapped",
			  static_cast<unsigned long>(base), size);
		return nullptr;
	}
	// The guard and header pages are written at once: a region that is
	// read-only there must fail here, not fault.  The rest of the region
	// is the caller's promise (see vmem_create_in_region(3)).
	if (os::probe_read_write(addr, kHeadPages * os::page_size()) != 0) {
		VMEM_FAIL(EINVAL, "region 0x%lx is not readable and writable",
			  static_cast<unsigned long>(base));
		return nullptr;
	}
	CreationSteps steps; // the caller owns the memory: nothing to map or undo
	return finish_creation(base, size, kBackingRegion, nullptr, steps);
}

uintptr_t pool_holding(uintptr_t address) noexcept
{
	uint32_t id = directory::find(address);
	return id != 0 ? directory::entry(id).base.load(std::memory_order_acquire) : 0;
}

bool with_live_pool(uintptr_t handle, void (*fn)(PoolHeader *, void *), void *arg) noexcept
{
	directory::lock();
	bool live = directory::find_by_base(handle) != 0;
	if (live)
		fn(header_of_handle(handle, os::page_size()), arg);
	directory::unlock();
	return live;
}

bool set_fork_mode(uintptr_t handle, ForkMode mode) noexcept
{
	directory::lock();
	uint32_t id = directory::find_by_base(handle);
	if (id != 0)
		directory::entry(id).record->fork_mode = mode;
	directory::unlock();
	return id != 0;
}

namespace {

// Under the pool lock: what no thread uses joins the free spans first (the
// calling thread's empty pages when the pool is the one it used last, the
// abandoned pages that have become empty, the heap slabs with no heap in
// use), then every free span is purged.  The bytes given back: by the
// purge, and by CONSERVATIVE's purge of each span as it is freed.
uint64_t give_back_locked(PoolHeader *header, PoolState *state) noexcept
{
	uint32_t before = state->purged_slices;
	heap_release_unused_locked(state, existing_thread_heap(handle_of(header)));
	purge::purge_all(state);
	return uint64_t{static_cast<uint32_t>(state->purged_slices - before)} << kSliceShift;
}

} // namespace

void set_usage_policy(PoolHeader *header, unsigned policy) noexcept
{
	PoolState *state = state_of(header);
	LockGuard guard(state->lock);
	state->usage_policy.store(static_cast<uint8_t>(policy), std::memory_order_relaxed);
	if (policy == VMEM_USAGE_POLICY_CONSERVATIVE)
		give_back_locked(header, state);
}

uint64_t purge_now(PoolHeader *header) noexcept
{
	PoolState *state = state_of(header);
	LockGuard guard(state->lock);
	return give_back_locked(header, state);
}

bool destroy(uintptr_t base) noexcept
{
	PoolRecord *record = directory::remove(base);
	if (record == nullptr) {
		VMEM_MISUSE(EINVAL, "invalid pool handle: 0x%lx", static_cast<unsigned long>(base));
		return false;
	}
	if (record->flags & kBackingRegion) {
		// The caller's memory stays mapped; give back the guard page and
		// wipe the signatures so the bytes no longer look like a pool.
		os::protect(pointer_at(base), os::page_size(), os::Access::read_write);
		std::memset(pointer_at(base), 0, kHeadPages * os::page_size());
		if (vg::active())
			vg::undefined(pointer_at(base), record->size);
	} else {
		unmap_pool(record->mapping, record->mapping_size, record->flags & kBackingDeviceDax);
		os::close_fd(record->fd);
	}
	VMEM_LOG(log::kOperations, "pool 0x%lx deleted", static_cast<unsigned long>(base));
	bookkeeping::release(record->path);
	bookkeeping::release(record);
	return true;
}

} // namespace vmem::core
