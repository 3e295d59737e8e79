// SPDX-License-Identifier: BSD-3-Clause
// test_fork_handlers.cpp -- what a forked child inherits half-done from the parent's other threads.
#include <csignal>
#include <cstdlib>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "cmocka_cxx.hpp"
#include "pool_internals.hpp"
#include "core/heap.hpp"
#include "core/layout.hpp"
#include "libvmem.h"
#include "platform/os.hpp"

using namespace vmem;
using namespace vmem::core;

namespace {

constexpr size_t kPoolSize = 2 * VMEM_MIN_POOL;
constexpr size_t kBlockSize = 1024;

// A remote thread of the parent was telling the owner heap of a free into
// a full page when the parent forked (mode FREEING); the child has no such
// thread.  Emptying that page in the child retires it, which waits for the
// mode to change: the child must not wait forever.
void child_empties_a_page_a_vanished_thread_was_freeing_into(void **)
{
	void *region = mmap(nullptr, kPoolSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(region != MAP_FAILED);
	VMEM *vmp = vmem_create_in_region(region, kPoolSize);
	assert_non_null(vmp);
	PoolState *state = state_of_pool(vmp);

	// Blocks until one lands on a second page: the first is then full,
	// on its heap's full queue, and not the current page of its class.
	std::vector<void *> first_page;
	void *first = vmem_malloc(vmp, kBlockSize);
	assert_non_null(first);
	SliceDescriptor *page = span_of(state, address_of(first));
	assert_non_null(page);
	first_page.push_back(first);
	void *other = nullptr;
	for (;;) {
		void *block = vmem_malloc(vmp, kBlockSize);
		assert_non_null(block);
		if (span_of(state, address_of(block)) != page) {
			other = block;
			break;
		}
		first_page.push_back(block);
	}
	assert_true(page->flags & kPageInFull);
	uintptr_t word = page->thread_free.load();
	assert_int_equal(word & kDelayedMask, kDelayedUse);
	page->thread_free.store((word & ~kDelayedMask) | kDelayedFreeing); // the vanished thread's mark

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(20); // a child that waits forever dies instead
		for (void *block : first_page)
			vmem_free(vmp, block);
		vmem_free(vmp, other);
		bool retired = span_of(state, address_of(first)) != page || page->kind != SliceKind::page;
		_exit(retired && vmem_check(vmp) == 1 ? 0 : 1);
	}
	page->thread_free.store(word); // the parent's remote thread finishes its free
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	for (void *block : first_page)
		vmem_free(vmp, block);
	vmem_free(vmp, other);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
	munmap(region, kPoolSize);
}

} // namespace

int main()
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(child_empties_a_page_a_vanished_thread_was_freeing_into),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
