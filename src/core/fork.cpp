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
// shared and must be used by one of the two processes only.
#include "core/fork.hpp"

#include <cstring>
#include <pthread.h>

#include "core/layout.hpp"
#include "core/pool.hpp"
#include "core/pool_directory.hpp"
#include "platform/os.hpp"
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

void make_private(PoolRecord *record, void *) noexcept
{
	if (!(record->flags & kBackingFile) || record->private_mapping)
		return;
	if (int err = os::remap_file_private(record->mapping, record->mapping_size, record->fd); err != 0) {
		VMEM_LOG(log::kErrors, "pool 0x%lx stays shared with the child: %s",
			 static_cast<unsigned long>(record->base), std::strerror(err));
		return;
	}
	record->private_mapping = true;
}

void before_fork() noexcept
{
	directory::lock();
	directory::for_each_live(make_private, nullptr);
	directory::for_each_live(lock_pool, nullptr);
}

void after_fork() noexcept
{
	directory::for_each_live(unlock_pool, nullptr);
	directory::unlock();
}

} // namespace

void install_fork_handlers() noexcept
{
	pthread_atfork(before_fork, after_fork, after_fork);
}

} // namespace vmem::core
