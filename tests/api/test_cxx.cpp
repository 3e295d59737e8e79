// SPDX-License-Identifier: BSD-3-Clause
// test_cxx.cpp -- include/vmem.hpp: the RAII pool, the standard allocator in
// every standard container, the pmr resource, alignment, exceptions, moves,
// equality and use from four threads.  Built as C++17 against the public
// header and libvmem.so only.
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <memory_resource>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "../unit/cmocka_cxx.hpp"
#include "vmem.hpp"

namespace {

constexpr std::size_t MiB = std::size_t{1} << 20;
constexpr std::size_t kElements = 1000000;

bool in_pool(const vmem::pool &p, const void *address)
{
	return vmem_pool_from_ptr(address) == p.handle();
}

template <typename T> using pool_vector = std::vector<T, vmem::allocator<T>>;

// Every element of `c` lies in the pool.
template <typename Container> void expect_elements_in(const vmem::pool &p, const Container &c)
{
	for (const auto &element : c)
		if (!in_pool(p, &element))
			fail_msg("an element outside the pool");
}

void expect_pool_empty_and_whole(const vmem::pool &p)
{
	assert_int_equal(p.check(), 1);
	assert_int_equal(p.stats().allocations, 0);
}

// ---------------------------------------------------------------- containers

void every_standard_container_lives_in_the_pool(void **)
{
	vmem::pool p = vmem::pool::create("/tmp", 512 * MiB);
	{
		pool_vector<std::int64_t> v{vmem::allocator<std::int64_t>(p)};
		for (std::size_t i = 0; i < kElements; i++)
			v.push_back(static_cast<std::int64_t>(i));
		assert_true(in_pool(p, v.data()));
		assert_true(in_pool(p, v.data() + v.size() - 1));
		assert_int_equal(v[kElements - 1], kElements - 1);
	}
	{
		std::deque<int, vmem::allocator<int>> d{vmem::allocator<int>(p)};
		for (std::size_t i = 0; i < kElements; i++)
			d.push_back(static_cast<int>(i));
		expect_elements_in(p, d);
	}
	{
		std::list<int, vmem::allocator<int>> l{vmem::allocator<int>(p)};
		for (std::size_t i = 0; i < kElements; i++)
			l.push_back(static_cast<int>(i));
		expect_elements_in(p, l);
		assert_int_equal(l.size(), kElements);
	}
	{
		using pair_alloc = vmem::allocator<std::pair<const int, int>>;
		std::map<int, int, std::less<int>, pair_alloc> m{pair_alloc(p)};
		for (std::size_t i = 0; i < kElements; i++)
			m.emplace(static_cast<int>(i), static_cast<int>(2 * i));
		expect_elements_in(p, m);
		assert_int_equal(m.at(777777), 2 * 777777);
	}
	{
		using pair_alloc = vmem::allocator<std::pair<const int, int>>;
		std::unordered_map<int, int, std::hash<int>, std::equal_to<int>, pair_alloc> u{pair_alloc(p)};
		for (std::size_t i = 0; i < kElements; i++)
			u.emplace(static_cast<int>(i), static_cast<int>(i));
		expect_elements_in(p, u);
		assert_int_equal(u.size(), kElements);
	}
	{
		using pool_string = std::basic_string<char, std::char_traits<char>, vmem::allocator<char>>;
		pool_string s{vmem::allocator<char>(p)};
		s.assign(kElements, 'x');
		assert_true(in_pool(p, s.data()));
		assert_int_equal(s.size(), kElements);
	}
	expect_pool_empty_and_whole(p);
}

void pmr_containers_use_the_resource(void **)
{
	vmem::pool p = vmem::pool::create("/tmp", 128 * MiB);
	vmem::memory_resource resource(p);
	{
		std::pmr::vector<std::pmr::string> strings(&resource);
		for (int i = 0; i < 10000; i++)
			strings.emplace_back(std::string(100, 'a' + i % 26));
		assert_true(in_pool(p, strings.data()));
		// the allocator propagates to the nested strings
		for (const auto &s : strings)
			assert_true(in_pool(p, s.data()));
		std::pmr::map<int, std::pmr::string> m(&resource);
		for (int i = 0; i < 10000; i++)
			m.emplace(i, "value");
		expect_elements_in(p, m);
		std::pmr::unordered_map<int, int> u(&resource);
		for (int i = 0; i < 10000; i++)
			u[i] = i;
		expect_elements_in(p, u);
	}
	expect_pool_empty_and_whole(p);
}

// ---------------------------------------------------------------- alignment

struct alignas(64) Line {
	char bytes[64];
};
struct alignas(256) Wide {
	char bytes[256];
};

void alignment_is_honoured(void **)
{
	vmem::pool p = vmem::pool::create("/tmp", 64 * MiB);
	{
		pool_vector<Line> lines{vmem::allocator<Line>(p)};
		pool_vector<Wide> wides{vmem::allocator<Wide>(p)};
		for (int i = 0; i < 1000; i++) {
			lines.emplace_back();
			wides.emplace_back();
			assert_int_equal(reinterpret_cast<std::uintptr_t>(lines.data()) % 64, 0);
			assert_int_equal(reinterpret_cast<std::uintptr_t>(wides.data()) % 256, 0);
		}
	}
	vmem::memory_resource resource(p);
	for (std::size_t alignment = 1; alignment <= 64 * 1024; alignment *= 2) {
		for (std::size_t bytes : {std::size_t{0}, std::size_t{1}, std::size_t{8}, std::size_t{100},
					  std::size_t{5000}, std::size_t{300000}}) {
			void *block = resource.allocate(bytes, alignment);
			assert_int_equal(reinterpret_cast<std::uintptr_t>(block) % alignment, 0);
			assert_true(in_pool(p, block));
			resource.deallocate(block, bytes, alignment);
		}
	}
	expect_pool_empty_and_whole(p);
}

// ---------------------------------------------------------------- exceptions

void creation_failures_throw_system_error(void **)
{
	try {
		vmem::pool::create("/nonexistent/vmem", 64 * MiB);
		fail_msg("no exception");
	} catch (const std::system_error &e) {
		assert_int_equal(e.code().value(), ENOENT);
		assert_true(e.code().category() == std::generic_category());
		assert_non_null(std::strstr(e.what(), "vmem_create"));
	}
	try {
		vmem::pool::create("/tmp", 1024);
		fail_msg("no exception");
	} catch (const std::system_error &e) {
		assert_int_equal(e.code().value(), EINVAL);
		assert_non_null(std::strstr(e.what(), "smaller than"));
	}
	try {
		vmem::pool::create_in_region(nullptr, 64 * MiB);
		fail_msg("no exception");
	} catch (const std::system_error &e) {
		assert_int_equal(e.code().value(), EINVAL);
	}
	try {
		vmem::config cfg;
		cfg.size(1);
		fail_msg("no exception");
	} catch (const std::system_error &e) {
		assert_int_equal(e.code().value(), EINVAL);
	}
	try {
		vmem::config cfg; // neither path nor region
		vmem::pool::create(cfg);
		fail_msg("no exception");
	} catch (const std::system_error &e) {
		assert_int_equal(e.code().value(), EINVAL);
	}
}

void allocation_failures_throw_bad_alloc(void **)
{
	vmem::pool p = vmem::pool::create("/tmp", 32 * MiB);
	vmem::allocator<std::int64_t> alloc(p);
	bool thrown = false;
	try {
		(void)alloc.allocate(std::numeric_limits<std::size_t>::max() / 4); // n * 8 overflows
	} catch (const std::bad_array_new_length &) {
		thrown = true;
	}
	assert_true(thrown);
	thrown = false;
	try {
		(void)alloc.allocate(64 * MiB / 8); // more than the pool holds
	} catch (const std::bad_alloc &) {
		thrown = true;
	}
	assert_true(thrown);
	thrown = false;
	try {
		p.malloc(64 * MiB);
	} catch (const std::bad_alloc &) {
		thrown = true;
	}
	assert_true(thrown);
	thrown = false;
	vmem::memory_resource resource(p);
	try {
		(void)resource.allocate(64 * MiB, 16);
	} catch (const std::bad_alloc &) {
		thrown = true;
	}
	assert_true(thrown);
	// the pool is untouched by the failures
	void *ok = p.malloc(100);
	p.free(ok);
	expect_pool_empty_and_whole(p);
}

// ---------------------------------------------------------------- moves and equality

void moved_from_pools_own_nothing(void **)
{
	vmem::pool a = vmem::pool::create("/tmp", 32 * MiB);
	VMEM *handle = a.handle();
	vmem::pool b = std::move(a);
	assert_null(a.handle());
	assert_ptr_equal(b.handle(), handle);
	assert_int_equal(a.check(), -1); // no pool, no crash
	assert_int_equal(b.check(), 1);
	vmem::pool c = vmem::pool::create("/tmp", 32 * MiB);
	VMEM *old = c.handle();
	c = std::move(b); // c's old pool is deleted
	assert_ptr_equal(c.handle(), handle);
	assert_int_equal(vmem_check(old), -1);
	c = std::move(c); // self-move keeps the pool
	assert_ptr_equal(c.handle(), handle);
	void *block = c.malloc(64);
	assert_true(in_pool(c, block));
	c.free(block);
}

void equality_follows_the_pool(void **)
{
	vmem::pool p = vmem::pool::create("/tmp", 32 * MiB);
	vmem::pool q = vmem::pool::create("/tmp", 32 * MiB);
	vmem::allocator<int> a1(p), a2(p), b(q);
	vmem::allocator<double> rebound(a1);
	assert_true(a1 == a2);
	assert_true(a1 == rebound);
	assert_true(a1 != b);
	assert_false(a1 == b);
	assert_true(p != q);
	vmem::memory_resource rp(p), rp2(p), rq(q);
	assert_true(rp.is_equal(rp2));
	assert_false(rp.is_equal(rq));
	assert_false(rp.is_equal(*std::pmr::new_delete_resource()));
	// memory from one allocator is freed through an equal one
	int *x = a1.allocate(10);
	a2.deallocate(x, 10);
	expect_pool_empty_and_whole(p);
}

void config_builds_pools(void **)
{
	vmem::pool p = vmem::pool::create(
	    vmem::config().path("/tmp").size(64 * MiB).usage_policy(VMEM_USAGE_POLICY_CONSERVATIVE));
	assert_int_equal(p.stats().pool_size, 64 * MiB);
	void *big = p.malloc(8 * MiB);
	std::memset(big, 1, 8 * MiB);
	p.free(big);
	p.purge();
	expect_pool_empty_and_whole(p);
}

// ---------------------------------------------------------------- threads

void four_threads_share_a_pool(void **)
{
	vmem::pool p = vmem::pool::create("/tmp", 256 * MiB);
	std::vector<std::thread> threads;
	std::atomic<int> failures{0};
	for (int t = 0; t < 4; t++) {
		threads.emplace_back([&p, &failures, t] {
			pool_vector<int> v{vmem::allocator<int>(p)};
			using pair_alloc = vmem::allocator<std::pair<const int, int>>;
			std::map<int, int, std::less<int>, pair_alloc> m{pair_alloc(p)};
			vmem::memory_resource resource(p);
			std::pmr::list<int> l(&resource);
			for (int i = 0; i < 100000; i++) {
				v.push_back(i + t);
				m[i] = i;
				l.push_back(i);
				if (i % 3 == 0)
					l.pop_front();
			}
			if (v[99999] != 99999 + t || m.size() != 100000 || !in_pool(p, v.data()))
				failures++;
		});
	}
	for (auto &thread : threads)
		thread.join();
	assert_int_equal(failures.load(), 0);
	expect_pool_empty_and_whole(p);
}

} // namespace

int main()
{
	const CMUnitTest tests[] = {
	    cmocka_unit_test(every_standard_container_lives_in_the_pool),
	    cmocka_unit_test(pmr_containers_use_the_resource),
	    cmocka_unit_test(alignment_is_honoured),
	    cmocka_unit_test(creation_failures_throw_system_error),
	    cmocka_unit_test(allocation_failures_throw_bad_alloc),
	    cmocka_unit_test(moved_from_pools_own_nothing),
	    cmocka_unit_test(equality_follows_the_pool),
	    cmocka_unit_test(config_builds_pools),
	    cmocka_unit_test(four_threads_share_a_pool),
	};
	return cmocka_run_group_tests_name("C++ layer", tests, nullptr, nullptr);
}
