// SPDX-License-Identifier: BSD-3-Clause
// cache.cpp -- a key-value cache kept in a vmem pool, apart from the
// program's heap, through the C++ layer (vmem.hpp).
//
//   cache [DIR]     the pool is a temporary file in DIR (default /tmp)
#include <cstdio>
#include <map>
#include <memory_resource>
#include <string>
#include <system_error>
#include <unordered_map>

#include <vmem.hpp>

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	try {
		vmem::pool pool = vmem::pool::create(dir, 64 << 20);

		// a pmr container: keys and values both live in the pool
		vmem::memory_resource resource(pool);
		std::pmr::unordered_map<std::pmr::string, std::pmr::string> cache(&resource);
		for (int i = 0; i < 10000; i++)
			cache.emplace("key-" + std::to_string(i),
				      "value of a fairly long entry " + std::to_string(i));

		// a container with the standard allocator
		using entry = std::pair<const int, double>;
		std::map<int, double, std::less<int>, vmem::allocator<entry>> scores{
		    vmem::allocator<entry>(pool)};
		for (int i = 0; i < 1000; i++)
			scores[i] = i * 0.5;

		vmem_stats st = pool.stats();
		std::printf(
		    "%zu entries, %zu scores: %zu live allocations, %zu bytes allocated in a %zu-byte pool\n",
		    cache.size(), scores.size(), st.allocations, st.allocated, st.pool_size);
		std::printf("pool consistent: %s\n", pool.check() == 1 ? "yes" : "no");
	} catch (const std::system_error &e) {
		std::fprintf(stderr, "cache: %s\n", e.what());
		return 1;
	}
	return 0; // the containers go first, then the pool
}
