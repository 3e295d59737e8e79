// SPDX-License-Identifier: BSD-3-Clause
// test_pool_directory.cpp -- ids, ranges, overlaps and lock-free lookups of the pool directory.
#include <atomic>
#include <cerrno>
#include <pthread.h>

#include "cmocka_cxx.hpp"
#include "core/pool_directory.hpp"
#include "util/bits.hpp"

using namespace vmem;
using namespace vmem::core;

namespace {

// The directory never touches the ranges it records, so tests use made-up
// addresses, far from anything this process maps.
constexpr uintptr_t kArena = uintptr_t{0x500000000000};
constexpr uintptr_t kSpan = uintptr_t{32} * GiB;

PoolRecord *fake_record(uintptr_t n)
{
	return pointer_at<PoolRecord>(0x1000 + n * 16);
}

void add_and_find(void **)
{
	size_t live = directory::live_pools();
	uintptr_t base = kArena + 4 * KiB; // not granule aligned
	uint32_t id = 0;
	assert_int_equal(directory::add(base, base + 14 * MiB, 8 * KiB, fake_record(1), &id), 0);
	assert_true(id != 0);
	assert_int_equal(directory::live_pools(), live + 1);
	assert_int_equal(directory::find(base), id);
	assert_int_equal(directory::find(base + 14 * MiB - 1), id);
	assert_int_equal(directory::find(base - 1), 0);
	assert_int_equal(directory::find(base + 14 * MiB), 0);
	assert_int_equal(directory::find_by_base(base), id);
	assert_int_equal(directory::find_by_base(base + 4 * KiB), 0);
	assert_ptr_equal(directory::entry(id).record, fake_record(1));
	uint64_t generation = directory::entry(id).generation.load();
	assert_ptr_equal(directory::remove(base), fake_record(1));
	assert_int_equal(directory::entry(id).generation.load(), generation + 1);
	assert_int_equal(directory::find(base), 0);
	assert_null(directory::remove(base));
	assert_int_equal(directory::live_pools(), live);
}

void ids_are_reused(void **)
{
	uint32_t first = 0, second = 0;
	assert_int_equal(directory::add(kArena, kArena + 16 * MiB, 8 * KiB, fake_record(2), &first), 0);
	directory::remove(kArena);
	assert_int_equal(
	    directory::add(kArena + 64 * MiB, kArena + 80 * MiB, 8 * KiB, fake_record(3), &second), 0);
	assert_int_equal(second, first);
	directory::remove(kArena + 64 * MiB);
}

void pools_covering_whole_spans(void **)
{
	// 100 GiB starting 1 GiB into a span: a partial span, two whole
	// spans and a partial one
	uintptr_t base = kArena + kSpan * 4 + GiB;
	uintptr_t end = base + 100 * GiB;
	uint32_t id = 0;
	assert_int_equal(directory::add(base, end, 8 * KiB, fake_record(4), &id), 0);
	for (uintptr_t probe = base; probe < end; probe += 3 * GiB + 12345)
		assert_int_equal(directory::find(probe), id);
	assert_int_equal(directory::find(end - 1), id);
	assert_int_equal(directory::find(end), 0);
	assert_int_equal(directory::find(base - 1), 0);
	// a small pool inside a wholly covered span overlaps the big one
	uint32_t inner = 0;
	uintptr_t inner_base = kArena + kSpan * 5 + 8 * MiB;
	assert_int_equal(directory::add(inner_base, inner_base + 16 * MiB, 8 * KiB, fake_record(5), &inner),
			 0);
	assert_int_equal(directory::entry(inner).overlaps.load(), 1);
	assert_int_equal(directory::entry(id).overlaps.load(), 1);
	assert_true(directory::find(inner_base) == id || directory::find(inner_base) == inner);
	directory::remove(inner_base);
	assert_int_equal(directory::entry(id).overlaps.load(), 0);
	directory::remove(base);
	assert_int_equal(directory::find(base + kSpan), 0);
}

void overlaps_are_counted_both_ways(void **)
{
	uintptr_t a = kArena + 200 * MiB;
	uint32_t ida = 0, idb = 0, idc = 0;
	assert_int_equal(directory::add(a, a + 20 * MiB, 8 * KiB, fake_record(6), &ida), 0);
	assert_int_equal(directory::add(a + 10 * MiB, a + 30 * MiB, 8 * KiB, fake_record(7), &idb), 0);
	assert_int_equal(directory::add(a + 30 * MiB, a + 50 * MiB, 8 * KiB, fake_record(8), &idc),
			 0); // touches b, no overlap
	assert_int_equal(directory::entry(ida).overlaps.load(), 1);
	assert_int_equal(directory::entry(idb).overlaps.load(), 1);
	assert_int_equal(directory::entry(idc).overlaps.load(), 0);
	directory::remove(a + 10 * MiB);
	assert_int_equal(directory::entry(ida).overlaps.load(), 0);
	directory::remove(a);
	directory::remove(a + 30 * MiB);
}

void crowded_granule_is_refused_and_leaves_nothing(void **)
{
	uintptr_t base = kArena + 400 * MiB;
	constexpr uintptr_t kStep = 16 * KiB; // heads 8 KiB: overlapping, but apart
	uint32_t ids[4];
	for (uintptr_t i = 0; i < 4; i++)
		assert_int_equal(directory::add(base + i * kStep, base + i * kStep + 14 * MiB, 8 * KiB,
						fake_record(9 + i), &ids[i]),
				 0);
	size_t live = directory::live_pools();
	uint32_t fifth = 0;
	uintptr_t fifth_base = base + 4 * kStep;
	assert_int_equal(directory::add(fifth_base, fifth_base + 14 * MiB, 8 * KiB, fake_record(13), &fifth),
			 EINVAL);
	assert_int_equal(directory::live_pools(), live);
	assert_int_equal(directory::find_by_base(fifth_base), 0);
	for (uint32_t id : ids)
		assert_int_equal(directory::entry(id).overlaps.load(), 3);
	for (uintptr_t i = 0; i < 4; i++)
		directory::remove(base + i * kStep);
	// with the slots free again, the same range registers
	assert_int_equal(directory::add(fifth_base, fifth_base + 14 * MiB, 8 * KiB, fake_record(13), &fifth),
			 0);
	directory::remove(fifth_base);
}

void colliding_heads_are_refused(void **)
{
	uintptr_t base = kArena + 500 * MiB;
	uint32_t id = 0, other = 0;
	assert_int_equal(directory::add(base, base + 14 * MiB, 8 * KiB, fake_record(17), &id), 0);
	size_t live = directory::live_pools();
	const uintptr_t clashing[] = {base, base - 4 * KiB, base + 4 * KiB};
	for (uintptr_t at : clashing)
		assert_int_equal(directory::add(at, at + 14 * MiB, 8 * KiB, fake_record(18), &other), EEXIST);
	assert_int_equal(directory::live_pools(), live);
	assert_int_equal(directory::entry(id).overlaps.load(), 0);
	// heads apart: an overlap, accepted and counted
	assert_int_equal(directory::add(base + 8 * KiB, base + 22 * MiB, 8 * KiB, fake_record(18), &other),
			 0);
	assert_int_equal(directory::entry(id).overlaps.load(), 1);
	directory::remove(base + 8 * KiB);
	directory::remove(base);
}

void ranges_outside_the_address_space(void **)
{
	uint32_t id = 0;
	uintptr_t top = uintptr_t{1} << directory::kAddressBits;
	assert_int_equal(directory::add(top - MiB, top + 13 * MiB, 8 * KiB, fake_record(14), &id), EINVAL);
	assert_int_equal(directory::add(kArena, kArena, 8 * KiB, fake_record(14), &id), EINVAL);
	assert_int_equal(directory::find(top + 4096), 0);
	assert_int_equal(directory::find_by_base(UINTPTR_MAX), 0);
}

struct ChurnState {
	std::atomic<bool> stop{false};
	uintptr_t stable_base;
	uint32_t stable_id;
	long misses = 0;
};

void *churn_neighbour(void *arg)
{
	auto *state = static_cast<ChurnState *>(arg);
	uintptr_t neighbour = state->stable_base + 16 * MiB;
	for (int i = 0; i < 20000; i++) {
		uint32_t id = 0;
		if (directory::add(neighbour, neighbour + 14 * MiB, 8 * KiB, fake_record(15), &id) == 0)
			directory::remove(neighbour);
	}
	state->stop.store(true);
	return nullptr;
}

void lookups_while_pools_come_and_go(void **)
{
	ChurnState state;
	state.stable_base = kArena + 600 * MiB + 8 * KiB;
	assert_int_equal(directory::add(state.stable_base, state.stable_base + 16 * MiB, 8 * KiB,
					fake_record(16), &state.stable_id),
			 0);
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, nullptr, churn_neighbour, &state), 0);
	while (!state.stop.load()) {
		// the granule the stable pool shares with its churning neighbour
		if (directory::find(state.stable_base + 16 * MiB - 1) != state.stable_id)
			state.misses++;
	}
	pthread_join(thread, nullptr);
	assert_int_equal(state.misses, 0);
	directory::remove(state.stable_base);
}

} // namespace

int main()
{
	const CMUnitTest tests[] = {
	    cmocka_unit_test(add_and_find),
	    cmocka_unit_test(ids_are_reused),
	    cmocka_unit_test(pools_covering_whole_spans),
	    cmocka_unit_test(overlaps_are_counted_both_ways),
	    cmocka_unit_test(crowded_granule_is_refused_and_leaves_nothing),
	    cmocka_unit_test(colliding_heads_are_refused),
	    cmocka_unit_test(ranges_outside_the_address_space),
	    cmocka_unit_test(lookups_while_pools_come_and_go),
	};
	return cmocka_run_group_tests_name("pool directory", tests, nullptr, nullptr);
}
