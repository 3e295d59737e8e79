// SPDX-License-Identifier: BSD-3-Clause
// backends.cpp -- vmem, memkind and the process heap behind bench::Backend.
#include "backends.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvmem.h>
#include <memkind.h>

namespace bench {

namespace {

constexpr size_t kDefaultPoolSize = size_t{8} << 30; // 8 GiB, sparse or reserved

void *map_reserved(size_t size)
{
	void *p =
	    mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? nullptr : p;
}

// Bytes of file blocks of this process's open files whose name starts with
// `dir` (pool files are unnamed: "<dir>/#<inode> (deleted)").
long long open_file_bytes(const std::string &dir)
{
	long long total = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d == nullptr)
		return -1;
	while (struct dirent *e = readdir(d)) {
		char link[300], target[4096];
		std::snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (std::strncmp(target, dir.c_str(), dir.size()) != 0)
			continue;
		struct stat st;
		if (stat(link, &st) == 0 && S_ISREG(st.st_mode))
			total += static_cast<long long>(st.st_blocks) * 512;
	}
	closedir(d);
	return total;
}

// What the heaps of the two pool libraries share: the directory of a
// file-backed heap (to count its file blocks), and the anonymous region a
// region heap lives in, unmapped when the heap is deleted (after its pool).
class PoolHeap : public Heap {
public:
	explicit PoolHeap(std::string dir) : dir_(std::move(dir)) {}
	~PoolHeap() override
	{
		if (region_ != nullptr)
			munmap(region_, region_size_);
	}
	long long file_bytes() const override
	{
		return dir_.empty() ? -1 : open_file_bytes(dir_);
	}
	std::string dir_;
	void *region_ = nullptr;
	size_t region_size_ = 0;
};

// A heap that `backend.create_in` makes in a region of `size` bytes mapped
// here, which the heap then owns; nullptr if either step fails.
Heap *create_in_own_region(Backend &backend, size_t size)
{
	void *region = map_reserved(size);
	if (region == nullptr)
		return nullptr;
	Heap *heap = backend.create_in(region, size);
	if (heap == nullptr) {
		munmap(region, size);
		return nullptr;
	}
	auto *pool = static_cast<PoolHeap *>(heap);
	pool->region_ = region;
	pool->region_size_ = size;
	return heap;
}

// ---------------------------------------------------------------- vmem

class VmemHeap : public PoolHeap {
public:
	VmemHeap(VMEM *vmp, std::string dir) : PoolHeap(std::move(dir)), vmp_(vmp) {}
	void *malloc(size_t size) override
	{
		return vmem_malloc(vmp_, size);
	}
	void *calloc(size_t count, size_t size) override
	{
		return vmem_calloc(vmp_, count, size);
	}
	void *realloc(void *block, size_t size) override
	{
		return vmem_realloc(vmp_, block, size);
	}
	void free(void *block) override
	{
		vmem_free(vmp_, block);
	}
	size_t usable(void *block) override
	{
		return vmem_malloc_usable_size(vmp_, block);
	}
	int check() override
	{
		return vmem_check(vmp_);
	}
	bool purge() override
	{
		vmem_purge(vmp_);
		return true;
	}
	bool set_conservative() override
	{
		return vmem_set_usage_policy(vmp_, VMEM_USAGE_POLICY_CONSERVATIVE) == 0;
	}
	VMEM *vmp_;
};

class VmemBackend : public Backend {
public:
	VmemBackend(bool file, std::string dir) : file_(file), dir_(std::move(dir)) {}
	const char *name() const override
	{
		return file_ ? "vmem-file" : "vmem-region";
	}
	bool has_pools() const override
	{
		return true;
	}
	Heap *create(size_t size) override
	{
		if (size == 0)
			size = kDefaultPoolSize;
		if (file_) {
			VMEM *vmp = vmem_create(dir_.c_str(), size);
			if (vmp == nullptr) {
				std::fprintf(stderr, "vmem_create: %s\n", vmem_errormsg());
				return nullptr;
			}
			return new VmemHeap(vmp, dir_);
		}
		return create_in_own_region(*this, size);
	}
	Heap *create_in(void *addr, size_t size) override
	{
		VMEM *vmp = vmem_create_in_region(addr, size);
		if (vmp == nullptr) {
			std::fprintf(stderr, "vmem_create_in_region: %s\n", vmem_errormsg());
			return nullptr;
		}
		return new VmemHeap(vmp, "");
	}
	void destroy(Heap *heap) override
	{
		auto *h = static_cast<VmemHeap *>(heap);
		vmem_delete(h->vmp_);
		delete h; // then its region
	}

private:
	bool file_;
	std::string dir_;
};

// ---------------------------------------------------------------- memkind

class MemkindHeap : public PoolHeap {
public:
	MemkindHeap(memkind_t kind, std::string dir) : PoolHeap(std::move(dir)), kind_(kind) {}
	void *malloc(size_t size) override
	{
		return memkind_malloc(kind_, size);
	}
	void *calloc(size_t count, size_t size) override
	{
		return memkind_calloc(kind_, count, size);
	}
	void *realloc(void *block, size_t size) override
	{
		return memkind_realloc(kind_, block, size);
	}
	void free(void *block) override
	{
		memkind_free(kind_, block);
	}
	size_t usable(void *block) override
	{
		return memkind_malloc_usable_size(kind_, block);
	}
	memkind_t kind_;
};

class MemkindBackend : public Backend {
public:
	MemkindBackend(bool pmem, std::string dir) : pmem_(pmem), dir_(std::move(dir)) {}
	const char *name() const override
	{
		return pmem_ ? "memkind-pmem" : "memkind-fixed";
	}
	bool has_pools() const override
	{
		return true;
	}
	Heap *create(size_t size) override
	{
		if (pmem_) {
			memkind_t kind = nullptr;
			// size 0 means "as large as the file system allows" to memkind
			int err = memkind_create_pmem(dir_.c_str(), size, &kind);
			if (err != 0) {
				char msg[256];
				memkind_error_message(err, msg, sizeof(msg));
				std::fprintf(stderr, "memkind_create_pmem: %s\n", msg);
				return nullptr;
			}
			return new MemkindHeap(kind, dir_);
		}
		if (size == 0)
			size = kDefaultPoolSize;
		return create_in_own_region(*this, size);
	}
	Heap *create_in(void *addr, size_t size) override
	{
		memkind_t kind = nullptr;
		int err = memkind_create_fixed(addr, size, &kind);
		if (err != 0) {
			char msg[256];
			memkind_error_message(err, msg, sizeof(msg));
			std::fprintf(stderr, "memkind_create_fixed: %s\n", msg);
			return nullptr;
		}
		return new MemkindHeap(kind, "");
	}
	void destroy(Heap *heap) override
	{
		auto *h = static_cast<MemkindHeap *>(heap);
		memkind_destroy_kind(h->kind_);
		delete h; // then its region
	}

private:
	bool pmem_;
	std::string dir_;
};

// ---------------------------------------------------------------- the process heap

class MallocHeap : public Heap {
public:
	void *malloc(size_t size) override
	{
		return std::malloc(size);
	}
	void *calloc(size_t count, size_t size) override
	{
		return std::calloc(count, size);
	}
	void *realloc(void *block, size_t size) override
	{
		return std::realloc(block, size);
	}
	void free(void *block) override
	{
		std::free(block);
	}
	size_t usable(void *block) override
	{
		return malloc_usable_size(block);
	}
};

class MallocBackend : public Backend {
public:
	const char *name() const override
	{
		return "malloc";
	}
	bool has_pools() const override
	{
		return false;
	}
	Heap *create(size_t) override
	{
		return new MallocHeap();
	}
	void destroy(Heap *heap) override
	{
		delete heap;
	}
};

} // namespace

Backend *make_backend(const std::string &name, const std::string &dir)
{
	if (name == "vmem-file")
		return new VmemBackend(true, dir);
	if (name == "vmem-region")
		return new VmemBackend(false, dir);
	if (name == "memkind-pmem")
		return new MemkindBackend(true, dir);
	if (name == "memkind-fixed")
		return new MemkindBackend(false, dir);
	if (name == "malloc")
		return new MallocBackend();
	return nullptr;
}

} // namespace bench
