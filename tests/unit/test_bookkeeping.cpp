// SPDX-License-Identifier: BSD-3-Clause
// test_bookkeeping.cpp -- memory outside pools: the library's own pages and the host functions.
#include <cstdlib>
#include <cstring>

#include "cmocka_cxx.hpp"
#include "util/bits.hpp"
#include "util/bookkeeping.hpp"

using namespace vmem;

namespace {

int host_mallocs, host_frees, host_strdups;

void *host_malloc(size_t size)
{
	host_mallocs++;
	return std::malloc(size);
}

void host_free(void *p)
{
	host_frees++;
	std::free(p);
}

char *host_strdup(const char *s)
{
	host_strdups++;
	return strdup(s);
}

void own_pages_serve_every_size(void **)
{
	size_t live = bookkeeping::internal_blocks_live();
	const size_t sizes[] = {1, 15, 16, 48, 49, 100, 1000, 4096, 65520, 65536, 200000, 3 << 20};
	void *blocks[sizeof(sizes) / sizeof(sizes[0])];
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		blocks[i] = bookkeeping::allocate(sizes[i]);
		assert_non_null(blocks[i]);
		assert_true(is_aligned(address_of(blocks[i]), 16));
		std::memset(blocks[i], static_cast<int>(i), sizes[i]); // every byte is usable
	}
	assert_int_equal(bookkeeping::internal_blocks_live(), live + sizeof(sizes) / sizeof(sizes[0]));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		auto *bytes = static_cast<unsigned char *>(blocks[i]);
		assert_int_equal(bytes[0], i);
		assert_int_equal(bytes[sizes[i] - 1], i);
		bookkeeping::release(blocks[i]);
	}
	assert_int_equal(bookkeeping::internal_blocks_live(), live);
}

void freed_blocks_are_reused(void **)
{
	void *a = bookkeeping::allocate(100);
	bookkeeping::release(a);
	void *b = bookkeeping::allocate(90); // same power-of-two class
	assert_ptr_equal(a, b);
	bookkeeping::release(b);
	bookkeeping::release(nullptr); // no-op
}

void host_functions_take_over_and_hand_back(void **)
{
	host_mallocs = host_frees = 0;
	size_t live = bookkeeping::internal_blocks_live();
	bookkeeping::set_host_functions({host_malloc, host_free, nullptr, nullptr});
	void *from_host = bookkeeping::allocate(64);
	assert_non_null(from_host);
	assert_int_equal(host_mallocs, 1);
	assert_int_equal(bookkeeping::internal_blocks_live(), live);
	bookkeeping::set_host_functions({nullptr, nullptr, nullptr, nullptr});
	void *own = bookkeeping::allocate(64);
	assert_int_equal(host_mallocs, 1);
	// each block goes back where it came from
	bookkeeping::release(from_host);
	assert_int_equal(host_frees, 1);
	bookkeeping::release(own);
	assert_int_equal(host_frees, 1);
	assert_int_equal(bookkeeping::internal_blocks_live(), live);
}

void duplicate_copies_through_strdup_func(void **)
{
	host_mallocs = host_frees = host_strdups = 0;
	char *own = bookkeeping::duplicate("/some/dir");
	assert_string_equal(own, "/some/dir");
	assert_int_equal(host_strdups, 0);
	bookkeeping::release(own);
	bookkeeping::set_host_functions({host_malloc, host_free, nullptr, host_strdup});
	char *hosted = bookkeeping::duplicate("/other/dir");
	assert_string_equal(hosted, "/other/dir");
	assert_int_equal(host_strdups, 1);
	bookkeeping::release(hosted);
	bookkeeping::set_host_functions({nullptr, nullptr, nullptr, nullptr});
	// every host block went back: strdup's copy and the library's block
	assert_int_equal(host_frees, host_mallocs + host_strdups);
}

void huge_requests_fail_cleanly(void **)
{
	assert_null(bookkeeping::allocate(SIZE_MAX));
	assert_null(bookkeeping::allocate(SIZE_MAX - 8));
}

} // namespace

int main()
{
	const CMUnitTest tests[] = {
	    cmocka_unit_test(own_pages_serve_every_size),
	    cmocka_unit_test(freed_blocks_are_reused),
	    cmocka_unit_test(host_functions_take_over_and_hand_back),
	    cmocka_unit_test(duplicate_copies_through_strdup_func),
	    cmocka_unit_test(huge_requests_fail_cleanly),
	};
	return cmocka_run_group_tests_name("bookkeeping memory", tests, nullptr, nullptr);
}
