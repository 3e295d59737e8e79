// SPDX-License-Identifier: BSD-3-Clause
// vmem.hpp -- the C++ layer over libvmem: an owning pool, a standard
// allocator and a polymorphic memory resource.  Header-only, C++17 and
// later; see vmem_cpp(3).
//
//   vmem::pool p = vmem::pool::create("/mnt/pmem", 1 << 30);
//   std::vector<int, vmem::allocator<int>> v{vmem::allocator<int>(p)};
//   vmem::memory_resource r(p);
//   std::pmr::vector<int> w(&r);
#ifndef VMEM_HPP
#define VMEM_HPP 1

#include <cerrno>
#include <cstddef>
#include <limits>
#include <memory_resource>
#include <new>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include <libvmem.h>

namespace vmem {

namespace detail {

// Throws std::system_error for the calling thread's last libvmem failure:
// the errno value, and vmem_errormsg() in what().
[[noreturn]] inline void throw_error(int err, const char *what)
{
	throw std::system_error(err != 0 ? err : EINVAL, std::generic_category(),
				std::string(what) + ": " + vmem_errormsg());
}

// A block of `bytes` aligned to `alignment` (a power of two) from `vmp`,
// or nullptr.  vmem_malloc's blocks are aligned to 16 bytes (8 for
// requests of 8 bytes or less); larger alignments take vmem_aligned_alloc.
inline void *allocate_aligned(VMEM *vmp, std::size_t bytes, std::size_t alignment) noexcept
{
	if (alignment <= 8 || (alignment <= 16 && bytes > 8))
		return vmem_malloc(vmp, bytes);
	return vmem_aligned_alloc(vmp, alignment, bytes == 0 ? alignment : bytes);
}

} // namespace detail

// A vmem_config: how vmem::pool::create(const config &) makes a pool.
class config {
public:
	config() : cfg_(vmem_config_new())
	{
		if (cfg_ == nullptr)
			detail::throw_error(errno, "vmem_config_new");
	}
	config(const config &) = delete;
	config &operator=(const config &) = delete;
	config(config &&other) noexcept : cfg_(std::exchange(other.cfg_, nullptr)) {}
	config &operator=(config &&other) noexcept
	{
		if (this != &other) {
			vmem_config_delete(cfg_);
			cfg_ = std::exchange(other.cfg_, nullptr);
		}
		return *this;
	}
	~config()
	{
		vmem_config_delete(cfg_);
	}

	// Each setter throws std::system_error when libvmem refuses the value.
	config &path(const std::string &dir_or_devdax)
	{
		check(vmem_config_set_path(cfg_, dir_or_devdax.c_str()), "vmem_config_set_path");
		return *this;
	}
	config &region(void *addr, std::size_t size)
	{
		check(vmem_config_set_region(cfg_, addr, size), "vmem_config_set_region");
		return *this;
	}
	// 0: a pool whose file grows as it is used
	config &size(std::size_t size)
	{
		check(vmem_config_set_size(cfg_, size), "vmem_config_set_size");
		return *this;
	}
	config &usage_policy(vmem_usage_policy policy)
	{
		check(vmem_config_set_usage_policy(cfg_, policy), "vmem_config_set_usage_policy");
		return *this;
	}

	const vmem_config *get() const noexcept
	{
		return cfg_;
	}

private:
	static void check(int err, const char *what)
	{
		if (err != 0)
			detail::throw_error(err, what);
	}

	vmem_config *cfg_;
};

// Owns one pool: deleted with the object.  Move-only; a moved-from pool
// owns nothing (handle() is nullptr).
class pool {
public:
	static pool create(const std::string &dir, std::size_t size)
	{
		return pool(checked(vmem_create(dir.c_str(), size), "vmem_create"));
	}
	static pool create_in_region(void *addr, std::size_t size)
	{
		return pool(checked(vmem_create_in_region(addr, size), "vmem_create_in_region"));
	}
	static pool create(const config &cfg)
	{
		return pool(checked(vmem_create_with_config(cfg.get()), "vmem_create_with_config"));
	}

	pool(const pool &) = delete;
	pool &operator=(const pool &) = delete;
	pool(pool &&other) noexcept : vmp_(std::exchange(other.vmp_, nullptr)) {}
	pool &operator=(pool &&other) noexcept
	{
		if (this != &other) {
			reset();
			vmp_ = std::exchange(other.vmp_, nullptr);
		}
		return *this;
	}
	~pool()
	{
		reset();
	}

	// `size` bytes from the pool; std::bad_alloc when it has no room.
	void *malloc(std::size_t size)
	{
		void *p = vmem_malloc(vmp_, size);
		if (p == nullptr)
			throw std::bad_alloc();
		return p;
	}
	void free(void *p) noexcept
	{
		vmem_free(vmp_, p);
	}

	// vmem_check: 1 consistent, 0 corrupt, -1 no pool.
	int check() const noexcept
	{
		return vmem_check(vmp_);
	}
	// vmem_stats_get; std::system_error when it fails.
	vmem_stats stats() const
	{
		vmem_stats st{};
		if (int err = vmem_stats_get(vmp_, &st, sizeof(st)); err != 0)
			detail::throw_error(err, "vmem_stats_get");
		return st;
	}
	// vmem_purge: the bytes given back.
	std::size_t purge() noexcept
	{
		return vmem_purge(vmp_);
	}

	VMEM *handle() const noexcept
	{
		return vmp_;
	}

	friend bool operator==(const pool &a, const pool &b) noexcept
	{
		return a.vmp_ == b.vmp_;
	}
	friend bool operator!=(const pool &a, const pool &b) noexcept
	{
		return a.vmp_ != b.vmp_;
	}

private:
	explicit pool(VMEM *vmp) noexcept : vmp_(vmp) {}
	static VMEM *checked(VMEM *vmp, const char *what)
	{
		if (vmp == nullptr)
			detail::throw_error(errno, what);
		return vmp;
	}
	void reset() noexcept
	{
		if (vmp_ != nullptr)
			vmem_delete(std::exchange(vmp_, nullptr));
	}

	VMEM *vmp_;
};

// A standard allocator over a pool (which must outlive every container
// using it).  Two allocators are equal when they use the same pool.
template <typename T> class allocator {
public:
	using value_type = T;
	using size_type = std::size_t;
	using difference_type = std::ptrdiff_t;
	using propagate_on_container_move_assignment = std::true_type;
	using propagate_on_container_swap = std::true_type;
	using is_always_equal = std::false_type;
	template <typename U> struct rebind {
		using other = allocator<U>;
	};

	explicit allocator(pool &p) noexcept : vmp_(p.handle()) {}
	template <typename U> allocator(const allocator<U> &other) noexcept : vmp_(other.handle()) {}

	T *allocate(std::size_t n)
	{
		if (n > std::numeric_limits<std::size_t>::max() / sizeof(T))
			throw std::bad_array_new_length();
		void *p = detail::allocate_aligned(vmp_, n * sizeof(T), alignof(T));
		if (p == nullptr)
			throw std::bad_alloc();
		return static_cast<T *>(p);
	}
	void deallocate(T *p, std::size_t) noexcept
	{
		vmem_free(vmp_, p);
	}

	VMEM *handle() const noexcept
	{
		return vmp_;
	}

private:
	VMEM *vmp_;
};

template <typename T, typename U> bool operator==(const allocator<T> &a, const allocator<U> &b) noexcept
{
	return a.handle() == b.handle();
}
template <typename T, typename U> bool operator!=(const allocator<T> &a, const allocator<U> &b) noexcept
{
	return a.handle() != b.handle();
}

// A std::pmr::memory_resource over a pool (which must outlive it),
// honouring every requested alignment.  Equal to another vmem resource
// over the same pool.
class memory_resource : public std::pmr::memory_resource {
public:
	explicit memory_resource(pool &p) noexcept : vmp_(p.handle()) {}
	VMEM *handle() const noexcept
	{
		return vmp_;
	}

private:
	void *do_allocate(std::size_t bytes, std::size_t alignment) override
	{
		void *p = detail::allocate_aligned(vmp_, bytes, alignment);
		if (p == nullptr)
			throw std::bad_alloc();
		return p;
	}
	void do_deallocate(void *p, std::size_t, std::size_t) override
	{
		vmem_free(vmp_, p);
	}
	bool do_is_equal(const std::pmr::memory_resource &other) const noexcept override
	{
		auto *mine = dynamic_cast<const memory_resource *>(&other);
		return mine != nullptr && mine->vmp_ == vmp_;
	}

	VMEM *vmp_;
};

} // namespace vmem

#endif // VMEM_HPP
