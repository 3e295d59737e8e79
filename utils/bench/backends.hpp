// SPDX-License-Identifier: BSD-3-Clause
// backends.hpp -- the allocators the benchmark compares, behind one interface.
//
//   vmem-file      a vmem pool in an unnamed file (--dir, default /dev/shm)
//   vmem-region    a vmem pool in an anonymous mapping
//   memkind-pmem   memkind's pmem kind on a directory (file-backed)
//   memkind-fixed  memkind's fixed kind on an anonymous mapping
//   malloc         the process heap: glibc, or jemalloc or mimalloc
//                  when the runner preloads them
#pragma once

#include <cstddef>
#include <string>

namespace bench {

// One heap.  Pool backends can make more of them (lifecycle, many_pools).
class Heap {
public:
	virtual ~Heap() = default;
	virtual void *malloc(size_t size) = 0;
	virtual void *calloc(size_t count, size_t size) = 0;
	virtual void *realloc(void *block, size_t size) = 0;
	virtual void free(void *block) = 0;
	// The bytes the block really offers (at least what was asked for).
	virtual size_t usable(void *block) = 0;
	// Bytes of file blocks backing the heap now (file-backed heaps), or -1.
	virtual long long file_bytes() const
	{
		return -1;
	}
	// Gives free memory back at once where the allocator can; false if it cannot.
	virtual bool purge()
	{
		return false;
	}
	// Switches the heap to giving free memory back at once; false if it cannot.
	virtual bool set_conservative()
	{
		return false;
	}
	// Checks the heap's consistency where the allocator can; -1 if it cannot.
	virtual int check()
	{
		return -1;
	}
};

class Backend {
public:
	virtual ~Backend() = default;
	virtual const char *name() const = 0;
	// Whether heaps are pools of a fixed size (fill, lifecycle apply).
	virtual bool has_pools() const = 0;
	// A heap of `size` bytes (0: the backend's default, large enough for
	// every workload), or nullptr with a reason printed on stderr.
	virtual Heap *create(size_t size) = 0;
	// A heap in memory the caller mapped (region-style backends), or nullptr.
	virtual Heap *create_in(void *addr, size_t size)
	{
		(void)addr;
		(void)size;
		return nullptr;
	}
	virtual void destroy(Heap *heap) = 0;
};

// The backend called `name`, or nullptr.  `dir` is where file-backed
// heaps live.
Backend *make_backend(const std::string &name, const std::string &dir);

} // namespace bench
