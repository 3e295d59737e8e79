// SPDX-License-Identifier: BSD-3-Clause
// fork.cpp -- pthread_atfork handlers: no lock held across fork, file pools made private.
//
// Before a fork every pool lock is taken (and the directory's), so the
// child never inherits a lock some other thread held mid-update; both
// processes release them afterwards.  A file pool is a shared mapping: left
// so, parent and child would allocate from the same memory with the same
// heaps.  So before the first fork it is remapped copy-on-write (private)
// over the same file: each process then has its own pool, starting from the
// same contents.  Device DAX cannot be mapped privately; such pools stay
// shared and must be used by one of the two processes only.  A pool's
// fork mode (libvmmalloc's VMMALLOC_FORK) can ask instead for nothing
// (shared), or for a copy of the pool in a new file that the child maps in
// place of its copy-on-write mapping (the file made before the fork, filled
// in the child).  In the child, delayed frees that the parent's other
// threads were making at the fork are ended as they would have ended them.
#include "core/fork.hpp"

#include <cstring>
#include <utility>
#include <pthread.h>

#include "core/heap.hpp"
#include "core/layout.hpp"
#include "core/pool.hpp"
#include "core/pool_directory.hpp"
#include "platform/os.hpp"
#include "util/bits.hpp"
#include "util/log.hpp"

namespace vmem::core {

namespace {

PoolState *state_of_record(PoolRecord *record) noexcept
{
	return state_of(header_of_handle(record->base, os::page_size()));
}

void lock_pool(PoolRecord *record, void *) noexcept
{
	state_of_record(record)->lock.lock();
}

void unlock_pool(PoolRecord *record, void *) noexcept
{
	state_of_record(record)->lock.unlock();
}

void make_private(PoolRecord *record) noexcept
{
	if (record->private_mapping)
		return;
	if (int err = os::remap_file_private(record->mapping, record->mapping_size, record->fd); err != 0) {
		VMEM_LOG(log::kErrors, "pool 0x%lx stays shared with the child: %s",
			 static_cast<unsigned long>(record->base), std::strerror(err));
		return;
	}
	os::protect(pointer_at(record->base), os::page_size(), os::Access::none); // the guard again
	record->private_mapping = true;
}

// kForkCopy, in the parent: a new file in the pool's directory, as large as
// the pool's mapping and with its blocks allocated (a full file system fails
// here, not with SIGBUS in the child's copy), for the child to fill.
bool open_copy_file(PoolRecord *record) noexcept
{
	int fd = -1;
	const char *failed_call = nullptr;
	if (record->path == nullptr || os::open_tmpfile(record->path, &fd, &failed_call) != 0)
		return false;
	if (os::file_set_size(fd, record->mapping_size) != 0 ||
	    os::file_reserve(fd, 0, record->mapping_size) != 0) {
		os::close_fd(fd);
		return false;
	}
	record->clone_fd = fd;
	return true;
}

// The copy is taken in the child, from the child's copy-on-write snapshot
// of the (by then private) mapping: that snapshot holds each of the
// parent's other threads' writes up to one point, which a copy made in the
// parent while those threads go on allocating without the pool lock does
// not (it can see a free list's head from before a block was handed out
// and the block's contents from after).
void prepare_pool(PoolRecord *record, void *) noexcept
{
	if (!(record->flags & kBackingFile) || record->fork_mode == kForkShared)
		return;
	make_private(record);
	if (record->fork_mode == kForkPrivate || !record->private_mapping)
		return;
	if (!open_copy_file(record))
		VMEM_LOG(log::kErrors, "pool 0x%lx: no copy for the child, it keeps a copy-on-write mapping",
			 static_cast<unsigned long>(record->base));
}

// In the child: the pool's bytes (the guard page aside) go into the new
// file, which then replaces the pool's mapping and file.  On failure the
// child keeps its copy-on-write mapping.
void adopt_copy(PoolRecord *record, void *) noexcept
{
	if (record->clone_fd < 0)
		return;
	int fd = std::exchange(record->clone_fd, -1);
	size_t page = os::page_size();
	void *copy = nullptr;
	if (os::map_file_aligned(fd, record->mapping_size, page, &copy) != 0) {
		os::close_fd(fd);
		return;
	}
	std::memcpy(static_cast<char *>(copy) + page, pointer_at(record->base + page),
		    record->mapping_size - page);
	std::memcpy(copy, kGuardSignature, sizeof(kGuardSignature));
	os::unmap(copy, record->mapping_size);
	if (os::remap_file_shared(record->mapping, record->mapping_size, fd) != 0) {
		os::close_fd(fd);
		return;
	}
	os::close_fd(record->fd);
	record->fd = fd;
	record->private_mapping = false; // the next fork makes the child's copy private in turn
	PoolHeader *header = header_of_handle(record->base, page);
	header->fd = fd;
	state_of(header)->fd = fd;
	os::protect(pointer_at(record->base), page, os::Access::none);
}

// In the parent: the child's copy is the child's.
void drop_copy(PoolRecord *record, void *) noexcept
{
	if (record->clone_fd >= 0)
		os::close_fd(std::exchange(record->clone_fd, -1));
}

void before_fork() noexcept
{
	directory::lock();
	directory::for_each_live(prepare_pool, nullptr);
	directory::for_each_live(lock_pool, nullptr);
}

void after_fork_in_parent() noexcept
{
	directory::for_each_live(drop_copy, nullptr);
	directory::for_each_live(unlock_pool, nullptr);
	directory::unlock();
}

void settle_pool(PoolRecord *record, void *) noexcept
{
	heap_settle_after_fork(state_of_record(record));
}

void after_fork_in_child() noexcept
{
	directory::for_each_live(adopt_copy, nullptr);
	directory::for_each_live(settle_pool, nullptr);
	directory::for_each_live(unlock_pool, nullptr);
	directory::unlock();
}

} // namespace

void install_fork_handlers() noexcept
{
	pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
}

} // namespace vmem::core
