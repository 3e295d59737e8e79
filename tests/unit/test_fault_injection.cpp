// SPDX-License-Identifier: BSD-3-Clause
// test_fault_injection.cpp -- every system call the library makes, failing
// at every point an operation makes it: a clean error, nothing leaked, and
// any pool that existed unchanged and usable.
//
// Each case first runs an operation with the failures armed but none due,
// to count how often it calls the system call (its call points).  Then,
// for each call point in turn, it runs the operation again with just that
// call failing (fault.hpp), and checks what came back:
//   - success, where the library can do without the call (advice, the
//     O_TMPFILE fallback, a retry after EINTR): the result must work;
//   - else NULL or an error code, errno the injected error (or the error
//     the call documents for it), and a message in vmem_errormsg();
//   - no descriptor, mapping or file left behind, and every pool that
//     existed before holding the same live blocks, the same contents, and
//     passing vmem_check.
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <functional>
#include <vector>

#include "cmocka_cxx.hpp"
#include "libvmem.h"
#include "platform/fault.hpp"

extern "C" {
#include "test_helpers.h"
}

using vmem::os::fault::Syscall;
namespace fault = vmem::os::fault;

namespace {

constexpr size_t kPoolSize = 64 * MiB;

// What a case checks does not depend on the process around it staying
// still: the resource counts are taken right before each attempt.
struct Resources {
	int fds;
	int mappings;
	int files;
};

Resources take_resources(const char *dir)
{
	return Resources{count_open_fds(), count_mappings(), dir != nullptr ? count_dir_entries(dir) : 0};
}

// `mappings_may_grow`: a pool was made and deleted, and the pool
// directory keeps the table pages it mapped for the pool's addresses.
void expect_same_resources(const Resources &before, const char *dir, const char *what,
			   bool mappings_may_grow = false)
{
	Resources after = take_resources(dir);
	if (after.fds != before.fds)
		fail_msg("%s: %d descriptors, %d before", what, after.fds, before.fds);
	if (mapping_count_is_meaningful() && after.mappings != before.mappings &&
	    !(mappings_may_grow && after.mappings > before.mappings))
		fail_msg("%s: %d mappings, %d before", what, after.mappings, before.mappings);
	if (after.files != before.files)
		fail_msg("%s: %d files in the directory, %d before", what, after.files, before.files);
}

// A pool with live blocks of several sizes, each holding a pattern, to
// show that a failed operation changed none of them.
struct LivePool {
	VMEM *vmp = nullptr;
	bool growing = false;
	std::vector<void *> blocks;
	std::vector<size_t> sizes;
	vmem_stats stats{};

	void populate()
	{
		static const size_t kSizes[] = {8, 48, 200, 1000, 5000, 40000, 300000, 3 * MiB};
		for (unsigned i = 0; i < 64; i++) {
			size_t size = kSizes[i % (sizeof(kSizes) / sizeof(kSizes[0]))];
			void *block = vmem_malloc(vmp, size);
			assert_non_null(block);
			fill_pattern(block, size, i);
			blocks.push_back(block);
			sizes.push_back(size);
		}
		// holes, so that frees and reuse have something to work on
		for (size_t i = 0; i < blocks.size(); i += 3) {
			vmem_free(vmp, blocks[i]);
			blocks[i] = nullptr;
		}
		remember();
	}

	void remember()
	{
		assert_int_equal(vmem_stats_get(vmp, &stats, sizeof(stats)), 0);
	}

	// The live blocks hold their patterns, the counters are those of
	// remember(), and the checker finds nothing wrong.
	void expect_unchanged(const char *what)
	{
		for (size_t i = 0; i < blocks.size(); i++)
			if (blocks[i] != nullptr && !check_pattern(blocks[i], sizes[i], i))
				fail_msg("%s: block %zu (%zu bytes) changed", what, i, sizes[i]);
		vmem_stats now{};
		assert_int_equal(vmem_stats_get(vmp, &now, sizeof(now)), 0);
		// a growing pool's size is its file's, which a failed call may
		// have extended (the blocks are the pool's, purge gives them back)
		if (now.allocations != stats.allocations || now.allocated != stats.allocated ||
		    (!growing && now.pool_size != stats.pool_size))
			fail_msg("%s: %zu allocations of %zu bytes in %zu, was %zu of %zu in %zu", what,
				 now.allocations, now.allocated, now.pool_size, stats.allocations,
				 stats.allocated, stats.pool_size);
		if (vmem_check(vmp) != 1)
			fail_msg("%s: vmem_check: %s", what, vmem_errormsg());
	}

	void release()
	{
		for (void *block : blocks)
			vmem_free(vmp, block);
		assert_int_equal(vmem_check(vmp), 1);
		vmem_delete(vmp);
	}
};

// Allocation, contents and check on a pool an operation just made.
void expect_usable(VMEM *vmp, const char *what)
{
	void *blocks[4];
	const size_t sizes[] = {16, 4096, 100000, 2 * MiB};
	for (int i = 0; i < 4; i++) {
		blocks[i] = vmem_malloc(vmp, sizes[i]);
		if (blocks[i] == nullptr)
			fail_msg("%s: the pool cannot allocate %zu bytes: %s", what, sizes[i],
				 vmem_errormsg());
		fill_pattern(blocks[i], sizes[i], 77 + i);
	}
	for (int i = 0; i < 4; i++) {
		assert_true(check_pattern(blocks[i], sizes[i], 77 + i));
		vmem_free(vmp, blocks[i]);
	}
	if (vmem_check(vmp) != 1)
		fail_msg("%s: vmem_check: %s", what, vmem_errormsg());
}

// One way of failing a system call.  `recoverable`: the library is to
// succeed anyway (it retries, falls back or can do without the call).
struct Failure {
	Syscall call;
	int error;
	unsigned times; // consecutive calls failing from the call point on
	bool recoverable;
};

// Runs an operation once per call point of `failure.call`, failing from
// that point on as `failure` says, until it runs without reaching the
// point: that last run must succeed.  (The points are found as they come,
// not counted beforehand: a first use, a segment's tables say, calls more
// than later ones.)  `prepare` runs before each attempt with nothing
// armed; `attempt` runs the operation and returns whether it succeeded,
// setting errno when not; `check` runs after each attempt, again with
// nothing armed.  Returns the number of call points.
using Step = std::function<void()>;
using Attempt = std::function<bool()>;
using Check = std::function<void(bool ok, int err, const char *what)>;

unsigned at_every_call_point(const Failure &failure, const Step &prepare, const Attempt &attempt,
			     const Check &check)
{
	for (unsigned point = 0;; point++) {
		prepare();
		fault::arm(failure.call, point, failure.times, failure.error);
		errno = 0;
		bool ok = attempt();
		int err = errno;
		unsigned injected = fault::injected();
		fault::disarm();
		char what[160];
		if (injected == 0) {
			std::snprintf(what, sizeof(what), "%s never failing (%u call points)",
				      fault::name(failure.call), point);
			if (!ok)
				fail_msg("%s: %s", what, vmem_errormsg());
			check(true, 0, what);
			return point;
		}
		std::snprintf(what, sizeof(what), "%s failing with %s from call %u on",
			      fault::name(failure.call), std::strerror(failure.error), point + 1);
		if (failure.recoverable && !ok)
			fail_msg("%s: failed (%s) where it should recover", what, vmem_errormsg());
		if (!ok && vmem_errormsg()[0] == '\0')
			fail_msg("%s: no message", what);
		check(ok, err, what);
		if (point > 100000)
			fail_msg("%s: the operation never stops calling", what);
	}
}

// The failures every operation meets: each call, with an error the kernel
// gives for it, once; and EINTR, which the library retries.
const Failure kFailures[] = {
    {Syscall::open_tmpfile, EACCES, 1, false},
    {Syscall::open_tmpfile, EOPNOTSUPP, UINT_MAX, true}, // O_TMPFILE unsupported: mkostemp
    {Syscall::ftruncate, EFBIG, 1, false},
    {Syscall::ftruncate, EINTR, 3, true},
    {Syscall::fallocate, ENOSPC, 1, false},
    {Syscall::fallocate, EINTR, 3, true},
    {Syscall::fallocate, EOPNOTSUPP, UINT_MAX, true}, // no fallocate: blocks come as stores need them
    {Syscall::mmap, ENOMEM, 1, false},
    {Syscall::mprotect, ENOMEM, 1, false},
    {Syscall::madvise, EINVAL, 1, false},
};

// The error a failed operation may report for an injected one: its own,
// or ENOMEM where the library's contract says "out of memory" (malloc).
void expect_error(int got, const Failure &failure, bool enomem_allowed, const char *what)
{
	if (got == failure.error || (enomem_allowed && got == ENOMEM))
		return;
	fail_msg("%s: errno %d (%s)", what, got, std::strerror(got));
}

struct Fixture {
	char *dir;
	LivePool bystander; // a pool that lives through every attempt
};

int setup(void **state)
{
	auto *f = new Fixture;
	f->dir = make_test_dir();
	f->bystander.vmp = vmem_create(f->dir, kPoolSize);
	if (f->bystander.vmp == nullptr)
		return -1;
	f->bystander.populate();
	*state = f;
	return 0;
}

int teardown(void **state)
{
	auto *f = static_cast<Fixture *>(*state);
	f->bystander.expect_unchanged("bystander pool");
	f->bystander.release();
	remove_test_dir(f->dir);
	delete f;
	return 0;
}

// Creation failing at each call point of each failure: NULL and the
// error, or a pool that works; nothing left behind either way, and the
// bystander pool untouched.  Returns the number of call points.
unsigned creation_fails_cleanly(Fixture *f, const char *dir, const std::function<VMEM *()> &create)
{
	unsigned points = 0;
	for (const Failure &failure : kFailures) {
		Resources before{};
		VMEM *vmp = nullptr;
		points += at_every_call_point(
		    failure, [&] { before = take_resources(dir); },
		    [&] {
			    vmp = create();
			    return vmp != nullptr;
		    },
		    [&](bool ok, int err, const char *what) {
			    if (ok) {
				    expect_usable(vmp, what);
				    vmem_delete(vmp);
			    } else {
				    expect_error(err, failure, failure.call == Syscall::mmap, what);
			    }
			    expect_same_resources(before, dir, what, ok);
			    f->bystander.expect_unchanged(what);
		    });
	}
	return points;
}

void create_file_pool_fails_cleanly(void **state)
{
	auto *f = static_cast<Fixture *>(*state);
	unsigned points = creation_fails_cleanly(f, f->dir, [&] { return vmem_create(f->dir, kPoolSize); });
	print_message("# %u call points\n", points);
	assert_true(points >= 6);

	// O_TMPFILE unsupported and the named-file fallback failing too
	Resources before = take_resources(f->dir);
	fault::arm(Syscall::open_tmpfile, 0, UINT_MAX, EOPNOTSUPP);
	fault::also(Syscall::mkostemp, 0, 1, EACCES);
	errno = 0;
	VMEM *vmp = vmem_create(f->dir, kPoolSize);
	int err = errno;
	fault::disarm();
	assert_null(vmp);
	assert_int_equal(err, EACCES);
	if (std::strstr(vmem_errormsg(), "mkstemp") == nullptr)
		fail_msg("message \"%s\" does not name mkstemp", vmem_errormsg());
	expect_same_resources(before, f->dir, "mkostemp failing");
}

void create_growing_pool_fails_cleanly(void **state)
{
	auto *f = static_cast<Fixture *>(*state);
	vmem_config *cfg = vmem_config_new();
	assert_non_null(cfg);
	assert_int_equal(vmem_config_set_path(cfg, f->dir), 0);
	creation_fails_cleanly(f, f->dir, [&] { return vmem_create_with_config(cfg); });
	vmem_config_delete(cfg);
}

void create_region_pool_fails_cleanly(void **state)
{
	auto *f = static_cast<Fixture *>(*state);
	char *region = static_cast<char *>(map_region(kPoolSize));
	assert_non_null(region);
	creation_fails_cleanly(f, nullptr, [&] { return vmem_create_in_region(region, kPoolSize); });
	unmap_region(region, kPoolSize);
}

// The allocation calls a pool serves by taking new slices, whose file
// blocks are reserved first: with fallocate failing they return NULL and
// ENOMEM, and the pool is as before.  Each attempt is prepared by a purge,
// so that it has to reserve blocks again.
void allocations_fail_cleanly(LivePool &pool, const char *dir)
{
	VMEM *vmp = pool.vmp;
	// a small block that the realloc below resizes; one of the live blocks
	size_t resized = pool.blocks.size();
	pool.blocks.push_back(vmem_malloc(vmp, 100));
	pool.sizes.push_back(100);
	assert_non_null(pool.blocks[resized]);
	fill_pattern(pool.blocks[resized], 100, resized);
	pool.remember();

	struct Call {
		const char *name;
		std::function<void *()> run;
		size_t size;
	};
	const Call calls[] = {
	    {"malloc 4 MiB", [&] { return vmem_malloc(vmp, 4 * MiB); }, 4 * MiB},
	    {"malloc 600 KiB", [&] { return vmem_malloc(vmp, 600 * 1024); }, 600 * 1024},
	    {"calloc 2 MiB", [&] { return vmem_calloc(vmp, 2, MiB); }, 2 * MiB},
	    {"aligned_alloc 1 MiB at 1 MiB", [&] { return vmem_aligned_alloc(vmp, MiB, MiB); }, MiB},
	    {"realloc 100 B to 5 MiB", [&] { return vmem_realloc(vmp, pool.blocks[resized], 5 * MiB); },
	     5 * MiB},
	};
	for (const Call &call : calls) {
		bool is_realloc = call.name[0] == 'r';
		for (const Failure &failure : kFailures) {
			if (failure.call == Syscall::open_tmpfile || failure.call == Syscall::ftruncate)
				continue; // allocation opens and sizes no file
			Resources before{};
			void *block = nullptr;
			at_every_call_point(
			    failure,
			    [&] {
				    vmem_purge(vmp);
				    before = take_resources(dir);
			    },
			    [&] {
				    block = call.run();
				    return block != nullptr;
			    },
			    [&](bool ok, int err, const char *what) {
				    char full[256];
				    std::snprintf(full, sizeof(full), "%s, %s", call.name, what);
				    if (ok) {
					    if (is_realloc && !check_pattern(block, 100, resized))
						    fail_msg("%s: realloc lost the contents", full);
					    fill_pattern(block, call.size, 5);
					    assert_true(check_pattern(block, call.size, 5));
					    vmem_free(vmp, block);
					    if (is_realloc) {
						    // the block moved: a new one of the old size takes its
						    // place
						    void *back = vmem_malloc(vmp, 100);
						    assert_non_null(back);
						    fill_pattern(back, 100, resized);
						    pool.blocks[resized] = back;
					    }
				    } else if (err != ENOMEM) {
					    fail_msg("%s: errno %d (%s), not ENOMEM", full, err,
						     std::strerror(err));
				    }
				    pool.expect_unchanged(full);
				    expect_same_resources(before, dir, full);
			    });
		}
	}
}

// A pool with live blocks that the allocations below must leave alone.
void allocations_fail_cleanly_in(VMEM *vmp, bool growing, const char *dir)
{
	assert_non_null(vmp);
	LivePool pool;
	pool.vmp = vmp;
	pool.growing = growing;
	pool.populate();
	allocations_fail_cleanly(pool, dir);
	pool.expect_unchanged("the pool after the allocations");
	pool.release();
}

void file_pool_allocations_fail_cleanly(void **state)
{
	auto *f = static_cast<Fixture *>(*state);
	allocations_fail_cleanly_in(vmem_create(f->dir, kPoolSize), false, f->dir);
}

void growing_pool_allocations_fail_cleanly(void **state)
{
	auto *f = static_cast<Fixture *>(*state);
	vmem_config *cfg = vmem_config_new();
	assert_non_null(cfg);
	assert_int_equal(vmem_config_set_path(cfg, f->dir), 0);
	VMEM *vmp = vmem_create_with_config(cfg);
	vmem_config_delete(cfg);
	allocations_fail_cleanly_in(vmp, true, f->dir);
}

// A purge that cannot punch or advise leaves the memory where it was: the
// pool holds the same blocks, and its free memory is still usable.
void purge_failures_keep_the_pool_whole(LivePool &pool, const char *dir)
{
	for (const Failure &failure : kFailures) {
		if (failure.call != Syscall::fallocate && failure.call != Syscall::madvise)
			continue;
		Resources before{};
		at_every_call_point(
		    failure,
		    [&] {
			    // freed slices to give back: a block taken and freed
			    void *block = vmem_malloc(pool.vmp, 8 * MiB);
			    assert_non_null(block);
			    vmem_free(pool.vmp, block);
			    before = take_resources(dir);
		    },
		    [&] {
			    vmem_purge(pool.vmp);
			    return true;
		    },
		    [&](bool, int, const char *what) {
			    pool.expect_unchanged(what);
			    expect_usable(pool.vmp, what);
			    expect_same_resources(before, dir, what);
		    });
	}
}

void purge_fails_cleanly(void **state)
{
	auto *f = static_cast<Fixture *>(*state);
	LivePool file;
	file.vmp = vmem_create(f->dir, kPoolSize);
	assert_non_null(file.vmp);
	file.populate();
	purge_failures_keep_the_pool_whole(file, f->dir);
	file.release();

	char *region = static_cast<char *>(map_region(kPoolSize));
	assert_non_null(region);
	LivePool in_region;
	in_region.vmp = vmem_create_in_region(region, kPoolSize);
	assert_non_null(in_region.vmp);
	in_region.populate();
	purge_failures_keep_the_pool_whole(in_region, nullptr);
	in_region.release();
	unmap_region(region, kPoolSize);
}

// The checker and the statistics map memory of their own for the walk: when
// they cannot, they say so (-1 / ENOMEM) and the pool is untouched.
void check_and_stats_fail_cleanly(void **state)
{
	auto *f = static_cast<Fixture *>(*state);
	LivePool &pool = f->bystander;
	const Failure no_memory{Syscall::mmap, ENOMEM, 1, false};
	Resources before{};
	int result = 0;
	at_every_call_point(
	    no_memory, [&] { before = take_resources(f->dir); },
	    [&] {
		    result = vmem_check(pool.vmp);
		    return result != -1;
	    },
	    [&](bool ok, int err, const char *what) {
		    if (ok)
			    assert_int_equal(result, 1);
		    else
			    expect_error(err, no_memory, false, what);
		    pool.expect_unchanged(what);
		    expect_same_resources(before, f->dir, what);
	    });
	vmem_stats st{};
	at_every_call_point(
	    no_memory, [&] { before = take_resources(f->dir); },
	    [&] {
		    result = vmem_stats_get(pool.vmp, &st, sizeof(st));
		    errno = result;
		    return result == 0;
	    },
	    [&](bool ok, int err, const char *what) {
		    if (!ok)
			    expect_error(err, no_memory, false, what);
		    pool.expect_unchanged(what);
		    expect_same_resources(before, f->dir, what);
	    });
}

} // namespace

int main()
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(create_file_pool_fails_cleanly, setup, teardown),
	    cmocka_unit_test_setup_teardown(create_growing_pool_fails_cleanly, setup, teardown),
	    cmocka_unit_test_setup_teardown(create_region_pool_fails_cleanly, setup, teardown),
	    cmocka_unit_test_setup_teardown(file_pool_allocations_fail_cleanly, setup, teardown),
	    cmocka_unit_test_setup_teardown(growing_pool_allocations_fail_cleanly, setup, teardown),
	    cmocka_unit_test_setup_teardown(purge_fails_cleanly, setup, teardown),
	    cmocka_unit_test_setup_teardown(check_and_stats_fail_cleanly, setup, teardown),
	};
	return cmocka_run_group_tests_name("fault injection", tests, nullptr, nullptr);
}
