// SPDX-License-Identifier: BSD-3-Clause
// pool_directory.cpp -- ids, address ranges and the granule radix table of live pools.
#include "core/pool_directory.hpp"

#include <cerrno>
#include <mutex>
#include <new>

#include "platform/os.hpp"
#include "util/bits.hpp"

namespace vmem::core::directory {

RemovalCount g_removals;

namespace {

// Entries live in chunks mapped on demand: ids 1 .. kMaxChunks * kEntriesPerChunk - 1.
constexpr uint32_t kEntriesPerChunk = 4096;
// 2^25 pools of the 14 MiB minimum would span 448 TiB, more than a 47-bit
// user address space holds: the directory never runs out of ids first.
constexpr uint32_t kMaxChunks = 8192;

// The radix table.  The address space is cut into spans of 32 GiB, each cut
// into 8192 granules of 4 MiB.  A pool registers its id in every granule
// slot it touches, except that a span it covers whole gets the id once, in
// the span's own slot: a 1 TiB pool writes 32 span slots, not 262144
// granule slots.  Pools are at least 14 MiB, so pools that do not overlap
// share a slot at most two at a time; overlapping regions may add two more
// before creation is refused.
constexpr unsigned kPoolsPerSlot = 4;
constexpr unsigned kLeafBits = 13;
constexpr unsigned kSpanShift = kGranuleShift + kLeafBits; // 32 GiB
constexpr unsigned kTopBits = kAddressBits - kSpanShift;
constexpr size_t kLeafSlots = size_t{1} << kLeafBits;
static_assert(kTopBits == 13, "2^13 spans of 2^13 granules of 4 MiB cover 48 bits");

struct IdSlot {
	std::atomic<uint32_t> ids[kPoolsPerSlot];

	bool insert(uint32_t id) noexcept
	{
		for (auto &slot_id : ids) {
			if (slot_id.load(std::memory_order_relaxed) == 0) {
				slot_id.store(id, std::memory_order_release);
				return true;
			}
		}
		return false;
	}
	void erase(uint32_t id) noexcept
	{
		for (auto &slot_id : ids) {
			if (slot_id.load(std::memory_order_relaxed) == id)
				slot_id.store(0, std::memory_order_release);
		}
	}
};
struct Leaf {
	IdSlot granules[kLeafSlots];
};
struct Span {
	std::atomic<Leaf *> leaf{nullptr}; // mapped when a pool first covers part of the span
	IdSlot whole;			   // pools that cover the whole span
};

struct Directory {
	std::mutex lock;
	std::atomic<DirectoryEntry *> chunks[kMaxChunks] = {};
	Span spans[size_t{1} << kTopBits];
	uint32_t next_unused_id = 1; // 0 means "no pool"
	uint32_t free_ids = 0;	     // chain through DirectoryEntry::next_free
	uint64_t stamp = 0;
	size_t live = 0;
};

Directory g_directory;

DirectoryEntry *entry_or_null(uint32_t id) noexcept
{
	DirectoryEntry *chunk = g_directory.chunks[id / kEntriesPerChunk].load(std::memory_order_acquire);
	return chunk != nullptr ? &chunk[id % kEntriesPerChunk] : nullptr;
}

// The entry of an id that has been handed out: its chunk is mapped.
DirectoryEntry &known_entry(uint32_t id) noexcept
{
	return g_directory.chunks[id / kEntriesPerChunk].load(
	    std::memory_order_acquire)[id % kEntriesPerChunk];
}

uintptr_t span_start(uintptr_t span) noexcept
{
	return span << kSpanShift;
}

bool covers_span(uintptr_t span, uintptr_t base, uintptr_t end) noexcept
{
	return base <= span_start(span) && span_start(span + 1) <= end;
}

// Calls fn(IdSlot &) for every slot in which a pool over [base, end) is
// registered: whole-span slots and the granule slots of partly covered spans
// (whose leaves must be mapped).
template <typename Fn> bool for_each_registration_slot(uintptr_t base, uintptr_t end, Fn fn) noexcept
{
	for (uintptr_t span = base >> kSpanShift; span <= (end - 1) >> kSpanShift; span++) {
		Span &s = g_directory.spans[span];
		if (covers_span(span, base, end)) {
			if (!fn(s.whole))
				return false;
			continue;
		}
		Leaf *leaf = s.leaf.load(std::memory_order_relaxed);
		uintptr_t first = (base > span_start(span) ? base : span_start(span)) >> kGranuleShift;
		uintptr_t last =
		    ((end < span_start(span + 1) ? end : span_start(span + 1)) - 1) >> kGranuleShift;
		for (uintptr_t g = first; g <= last; g++) {
			if (!fn(leaf->granules[g & (kLeafSlots - 1)]))
				return false;
		}
	}
	return true;
}

// Under the mutex: maps the entry chunk of `id` and the leaves of the spans
// [base, end) covers in part.
int ensure_mapped(uint32_t id, uintptr_t base, uintptr_t end) noexcept
{
	auto &chunk = g_directory.chunks[id / kEntriesPerChunk];
	if (chunk.load(std::memory_order_relaxed) == nullptr) {
		void *memory = nullptr;
		if (int err = os::map_anonymous(kEntriesPerChunk * sizeof(DirectoryEntry), &memory))
			return err;
		auto *entries = static_cast<DirectoryEntry *>(memory);
		for (uint32_t i = 0; i < kEntriesPerChunk; i++)
			new (&entries[i]) DirectoryEntry();
		chunk.store(entries, std::memory_order_release);
	}
	for (uintptr_t span = base >> kSpanShift; span <= (end - 1) >> kSpanShift; span++) {
		auto &leaf = g_directory.spans[span].leaf;
		if (covers_span(span, base, end) || leaf.load(std::memory_order_relaxed) != nullptr)
			continue;
		void *memory = nullptr;
		if (int err = os::map_anonymous(sizeof(Leaf), &memory))
			return err; // leaves mapped so far stay: they are empty and reusable
		leaf.store(static_cast<Leaf *>(memory), std::memory_order_release);
	}
	return 0;
}

bool ranges_intersect(const DirectoryEntry &e, uintptr_t base, uintptr_t end) noexcept
{
	return e.base.load(std::memory_order_relaxed) < end && base < e.end.load(std::memory_order_relaxed);
}

// Under the mutex: calls fn(DirectoryEntry &) once for every live pool
// other than `self` that shares bytes with [base, end).  Such a pool is
// registered in a whole-span slot or a granule slot of a span the range
// touches.
template <typename Fn> void for_each_overlapping(uint32_t self, uintptr_t base, uintptr_t end, Fn fn) noexcept
{
	uint64_t stamp = ++g_directory.stamp;
	auto visit = [&](IdSlot &slot) {
		for (auto &slot_id : slot.ids) {
			uint32_t id = slot_id.load(std::memory_order_relaxed);
			if (id == 0 || id == self)
				continue;
			DirectoryEntry &other = known_entry(id);
			if (other.visit_stamp == stamp || !ranges_intersect(other, base, end))
				continue;
			other.visit_stamp = stamp;
			fn(other);
		}
	};
	for (uintptr_t span = base >> kSpanShift; span <= (end - 1) >> kSpanShift; span++) {
		Span &s = g_directory.spans[span];
		visit(s.whole);
		Leaf *leaf = s.leaf.load(std::memory_order_relaxed);
		if (leaf == nullptr)
			continue; // no pool covers part of this span
		uintptr_t first = (base > span_start(span) ? base : span_start(span)) >> kGranuleShift;
		uintptr_t last =
		    ((end < span_start(span + 1) ? end : span_start(span + 1)) - 1) >> kGranuleShift;
		for (uintptr_t g = first; g <= last; g++)
			visit(leaf->granules[g & (kLeafSlots - 1)]);
	}
}

// Under the mutex: adds `delta` to the overlap count of every live pool
// sharing bytes with [base, end), and returns how many there are.
uint32_t adjust_overlaps(uint32_t self, uintptr_t base, uintptr_t end, int delta) noexcept
{
	uint32_t found = 0;
	for_each_overlapping(self, base, end, [&](DirectoryEntry &other) {
		other.overlaps.fetch_add(static_cast<uint32_t>(delta), std::memory_order_relaxed);
		found++;
	});
	return found;
}

// Under the mutex: whether the first `head` bytes of [base, end) and of
// some live pool overlapping it share a byte.  Those bytes are a pool's
// guard page and header: one pool's could be another's inaccessible guard.
bool heads_collide(uintptr_t base, uintptr_t end, size_t head) noexcept
{
	bool collide = false;
	for_each_overlapping(0, base, end, [&](DirectoryEntry &other) {
		uintptr_t other_base = other.base.load(std::memory_order_relaxed);
		if (other_base < base + head && base < other_base + head)
			collide = true;
	});
	return collide;
}

void unregister_slots(uint32_t id, uintptr_t base, uintptr_t end) noexcept
{
	for_each_registration_slot(base, end, [id](IdSlot &slot) {
		slot.erase(id);
		return true;
	});
}

uint32_t take_id() noexcept
{
	if (g_directory.free_ids != 0) {
		uint32_t id = g_directory.free_ids;
		g_directory.free_ids = known_entry(id).next_free;
		return id;
	}
	if (g_directory.next_unused_id >= kMaxChunks * kEntriesPerChunk)
		return 0;
	return g_directory.next_unused_id++;
}

void give_back_id(uint32_t id) noexcept
{
	DirectoryEntry &e = known_entry(id);
	e.next_free = g_directory.free_ids;
	g_directory.free_ids = id;
}

// The id of a live pool registered in `slot` whose range satisfies `match`.
template <typename Match> uint32_t find_in_slot(IdSlot &slot, Match match) noexcept
{
	for (auto &slot_id : slot.ids) {
		uint32_t id = slot_id.load(std::memory_order_acquire);
		if (id == 0)
			continue;
		DirectoryEntry &e = known_entry(id);
		uintptr_t base = e.base.load(std::memory_order_acquire);
		if (base != 0 && match(base, e.end.load(std::memory_order_relaxed)))
			return id;
	}
	return 0;
}

template <typename Match> uint32_t find_matching(uintptr_t address, Match match) noexcept
{
	if (address >= (uintptr_t{1} << kAddressBits))
		return 0;
	Span &s = g_directory.spans[address >> kSpanShift];
	if (uint32_t id = find_in_slot(s.whole, match))
		return id;
	Leaf *leaf = s.leaf.load(std::memory_order_acquire);
	if (leaf == nullptr)
		return 0;
	return find_in_slot(leaf->granules[(address >> kGranuleShift) & (kLeafSlots - 1)], match);
}

} // namespace

int add(uintptr_t base, uintptr_t end, size_t head, PoolRecord *record, uint32_t *id_out) noexcept
{
	if (base >= end || end > (uintptr_t{1} << kAddressBits))
		return EINVAL;

	std::lock_guard guard(g_directory.lock);
	if (heads_collide(base, end, head))
		return EEXIST;
	uint32_t id = take_id();
	if (id == 0)
		return ENOMEM;
	if (int err = ensure_mapped(id, base, end); err != 0) {
		if (entry_or_null(id) == nullptr)
			g_directory.next_unused_id--; // a new id whose chunk never came to be
		else
			give_back_id(id);
		return err;
	}
	bool placed = for_each_registration_slot(base, end, [id](IdSlot &slot) { return slot.insert(id); });
	if (!placed) {
		unregister_slots(id, base, end);
		give_back_id(id);
		return EINVAL;
	}
	DirectoryEntry &e = known_entry(id);
	e.record = record;
	e.end.store(end, std::memory_order_relaxed);
	e.overlaps.store(adjust_overlaps(id, base, end, +1), std::memory_order_relaxed);
	e.base.store(base, std::memory_order_release); // publishes the entry
	g_directory.live++;
	*id_out = id;
	return 0;
}

PoolRecord *remove(uintptr_t base) noexcept
{
	std::lock_guard guard(g_directory.lock);
	uint32_t id = find_by_base(base);
	if (id == 0)
		return nullptr;
	DirectoryEntry &e = known_entry(id);
	uintptr_t end = e.end.load(std::memory_order_relaxed);
	adjust_overlaps(id, base, end, -1);
	unregister_slots(id, base, end);
	PoolRecord *record = e.record;
	e.record = nullptr;
	e.overlaps.store(0, std::memory_order_relaxed);
	e.generation.fetch_add(1, std::memory_order_release);
	e.base.store(0, std::memory_order_release);
	e.end.store(0, std::memory_order_relaxed);
	give_back_id(id);
	g_directory.live--;
	g_removals.value.fetch_add(1, std::memory_order_release);
	return record;
}

uint32_t find(uintptr_t address) noexcept
{
	return find_matching(
	    address, [address](uintptr_t base, uintptr_t end) { return base <= address && address < end; });
}

uint32_t find_by_base(uintptr_t base) noexcept
{
	return find_matching(base, [base](uintptr_t pool_base, uintptr_t) { return pool_base == base; });
}

DirectoryEntry &entry(uint32_t id) noexcept
{
	return known_entry(id);
}

bool run_if_live(uint32_t id, uint64_t generation, void (*fn)(void *), void *arg) noexcept
{
	std::lock_guard guard(g_directory.lock);
	DirectoryEntry *e = entry_or_null(id);
	if (e == nullptr || e->base.load(std::memory_order_relaxed) == 0 ||
	    e->generation.load(std::memory_order_relaxed) != generation)
		return false;
	fn(arg);
	return true;
}

void for_each_live(void (*fn)(PoolRecord *, void *), void *arg) noexcept
{
	// the caller holds the mutex (lock())
	for (uint32_t id = 1; id < g_directory.next_unused_id; id++) {
		DirectoryEntry &e = known_entry(id);
		if (e.base.load(std::memory_order_relaxed) != 0)
			fn(e.record, arg);
	}
}

void lock() noexcept
{
	g_directory.lock.lock();
}

void unlock() noexcept
{
	g_directory.lock.unlock();
}

size_t live_pools() noexcept
{
	std::lock_guard guard(g_directory.lock);
	return g_directory.live;
}

} // namespace vmem::core::directory
