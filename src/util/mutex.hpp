// SPDX-License-Identifier: BSD-3-Clause
// mutex.hpp -- a mutex that can live inside pool memory, and its guard.
#pragma once

#include <pthread.h>

namespace vmem {

// A plain pthread mutex with no constructor, so it can be placed in pool
// memory and set up by init() when the pool is created.
struct Mutex {
	pthread_mutex_t raw;

	void init() noexcept
	{
		pthread_mutex_init(&raw, nullptr);
	}
	void destroy() noexcept
	{
		pthread_mutex_destroy(&raw);
	}
	void lock() noexcept
	{
		pthread_mutex_lock(&raw);
	}
	void unlock() noexcept
	{
		pthread_mutex_unlock(&raw);
	}
};

class LockGuard {
public:
	explicit LockGuard(Mutex &m) noexcept : mutex_(m)
	{
		mutex_.lock();
	}
	~LockGuard()
	{
		mutex_.unlock();
	}
	LockGuard(const LockGuard &) = delete;
	LockGuard &operator=(const LockGuard &) = delete;

private:
	Mutex &mutex_;
};

} // namespace vmem
