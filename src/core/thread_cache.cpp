// SPDX-License-Identifier: BSD-3-Clause
// thread_cache.cpp -- per-thread heap slots: lookup, creation, LRU and thread-exit abandonment.
#include "core/thread_cache.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <pthread.h>

#include "core/pool_directory.hpp"
#include "util/bookkeeping.hpp"
#include "util/error.hpp"
#include "util/race_annotations.hpp"

namespace vmem::core {

constinit thread_local ThreadCache t_cache __attribute__((tls_model("initial-exec"))) = {};

namespace {

std::atomic<uint32_t> g_next_thread_number{1};
pthread_key_t g_exit_key;
std::once_flag g_exit_key_once;

struct AbandonRequest {
	HeapSlot *slot;
};

void abandon_slot_heap(void *arg) noexcept
{
	HeapSlot *slot = static_cast<AbandonRequest *>(arg)->slot;
	heap_abandon(slot->state, slot->heap);
}

// Clears the recent-pool entries of the slot's pool, whose heap is going.
void forget(ThreadCache &cache, const HeapSlot &slot) noexcept
{
	if (cache.recent == nullptr)
		return;
	RecentPool *pair = recent_pair(cache.recent, slot.handle);
	for (int way = 0; way < 2; way++)
		if (pair[way].handle == slot.handle)
			pair[way] = RecentPool{};
}

// Enters the pool into the table of recent pools, made on the thread's
// second pool (a thread of one pool has the MRU pair); without memory for
// it, pool switches walk the directory, which works, only slower.
void remember(ThreadCache &cache, uintptr_t handle, uint64_t removals, uint32_t id) noexcept
{
	if (cache.recent == nullptr) {
		if (cache.live_heaps < 2 || !cache.exit_hook_armed)
			return;
		size_t bytes = kRecentPools * sizeof(RecentPool);
		cache.recent = static_cast<RecentPool *>(bookkeeping::allocate_own(bytes));
		if (cache.recent == nullptr)
			return;
		std::memset(static_cast<void *>(cache.recent), 0, bytes);
	}
	RecentPool *pair = recent_pair(cache.recent, handle);
	// the first way holds the newest entry; the older one moves over
	if (pair[0].handle != handle)
		pair[1] = pair[0];
	pair[0] = RecentPool{handle, removals, id, 0};
}

// Abandons the heap of slot `id` if its pool is still alive (a deleted
// pool took the heap with it) and empties the slot.
void drop_slot(ThreadCache &cache, uint32_t id) noexcept
{
	HeapSlot &slot = cache.slots[id];
	if (slot.heap == nullptr)
		return;
	AbandonRequest request{&slot};
	directory::run_if_live(id, slot.generation, abandon_slot_heap, &request);
	forget(cache, slot);
	if (cache.mru_heap == slot.heap) {
		cache.mru_pool = 0;
		cache.mru_heap = nullptr;
	}
	slot = HeapSlot{};
	cache.live_heaps--;
}

// Runs when a thread that used a pool exits: its pages go to the pools'
// abandoned queues, where any heap of the pool reclaims them.
void on_thread_exit(void *) noexcept
{
	ThreadCache &cache = t_cache;
	for (uint32_t id = 0; id < cache.slot_capacity; id++)
		drop_slot(cache, id);
	bookkeeping::release(cache.slots);
	bookkeeping::release(cache.recent);
	cache.slots = nullptr;
	cache.recent = nullptr;
	cache.slot_capacity = 0;
	cache.live_heaps = 0;
	cache.mru_pool = 0;
	cache.mru_heap = nullptr;
	cache.exit_hook_armed = false;
}

bool arm_exit_hook(ThreadCache &cache) noexcept
{
	if (cache.exit_hook_armed)
		return true;
	std::call_once(g_exit_key_once, [] {
		pthread_key_create(&g_exit_key, on_thread_exit);
		race::happens_before(&g_exit_key);
	});
	race::happens_after(&g_exit_key); // helgrind does not see pthread_once's own order
	// any non-null value makes the key's destructor run at thread exit
	if (pthread_setspecific(g_exit_key, &cache) != 0)
		return false;
	cache.exit_hook_armed = true;
	return true;
}

bool ensure_slot(ThreadCache &cache, uint32_t id) noexcept
{
	if (id < cache.slot_capacity)
		return true;
	uint32_t capacity = cache.slot_capacity == 0 ? 16 : cache.slot_capacity;
	while (capacity <= id)
		capacity *= 2;
	auto *slots = static_cast<HeapSlot *>(bookkeeping::allocate_own(capacity * sizeof(HeapSlot)));
	if (slots == nullptr)
		return false;
	std::memset(static_cast<void *>(slots), 0, capacity * sizeof(HeapSlot));
	if (cache.slots != nullptr)
		std::memcpy(static_cast<void *>(slots), cache.slots, cache.slot_capacity * sizeof(HeapSlot));
	bookkeeping::release(cache.slots);
	cache.slots = slots;
	cache.slot_capacity = capacity;
	return true;
}

// Past kMaxHeapsPerThread heaps, the least recently used one goes.
void abandon_least_recent(ThreadCache &cache, uint32_t keep) noexcept
{
	uint32_t victim = 0;
	uint64_t oldest = UINT64_MAX;
	for (uint32_t id = 0; id < cache.slot_capacity; id++) {
		if (id != keep && cache.slots[id].heap != nullptr && cache.slots[id].last_use < oldest) {
			oldest = cache.slots[id].last_use;
			victim = id;
		}
	}
	if (oldest != UINT64_MAX)
		drop_slot(cache, victim);
}

} // namespace

ThreadHeap *thread_heap_slow(uintptr_t handle, PoolHeader *header) noexcept
{
	ThreadCache &cache = t_cache;
	// read before the lookup: a pool removed meanwhile makes the entry
	// written below stale at once
	uint64_t removals = directory::removals();

	// The directory first: a handle that is no live pool is refused
	// before anything reads through it.
	uint32_t id = directory::find_by_base(handle);
	if (id == 0) {
		VMEM_MISUSE(EINVAL, "invalid pool handle: 0x%lx", static_cast<unsigned long>(handle));
		return nullptr;
	}

	// A thread moving between pools it already uses: its slot holds a
	// heap of this very pool (the generation changes when an id is
	// reused).  The directory's entry is read, not the pool's header:
	// pools' headers share cache sets, directory entries sit together.
	uint64_t generation = directory::entry(id).generation.load(std::memory_order_acquire);
	bool slot_holds_pool = id < cache.slot_capacity && cache.slots[id].heap != nullptr &&
			       cache.slots[id].generation == generation;
	if (!slot_holds_pool && !ensure_slot(cache, id)) {
		VMEM_FAIL(ENOMEM, "out of memory for the thread's pool slots");
		return nullptr;
	}
	HeapSlot *slot = &cache.slots[id];
	if (!slot_holds_pool) {
		if (slot->heap != nullptr) {
			// the pool this slot knew is gone; its memory went with it
			*slot = HeapSlot{};
			cache.live_heaps--;
		}
		if (!arm_exit_hook(cache)) {
			VMEM_FAIL(ENOMEM, "cannot register the thread-exit hook");
			return nullptr;
		}
		if (cache.thread_number == 0)
			cache.thread_number = g_next_thread_number.fetch_add(1, std::memory_order_relaxed);
		PoolState *state = state_of(header);
		ThreadHeap *heap = heap_create(state, cache.thread_number, header->cookie);
		if (heap == nullptr) {
			VMEM_FAIL(ENOMEM, "no room for another thread heap in pool 0x%lx",
				  static_cast<unsigned long>(handle));
			return nullptr;
		}
		*slot = HeapSlot{generation, heap, state, 0, handle};
		if (++cache.live_heaps > kMaxHeapsPerThread)
			abandon_least_recent(cache, id);
	}
	remember(cache, handle, removals, id);
	return use_slot(cache, id, handle, removals);
}

} // namespace vmem::core
