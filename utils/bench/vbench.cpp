// SPDX-License-Identifier: BSD-3-Clause
// vbench.cpp -- one benchmark program, one workload per run, any backend.
//
//   vbench --backend NAME --workload NAME [--threads T] [--quick] [--dir DIR]
//   vbench --list
//
// Prints one JSON object per run: the workload's figure (higher is better
// unless "lower_is_better"), its unit, the process's peak RSS, and figures
// particular to the workload.  utils/bench/run runs the rounds, takes the
// medians and writes doc/benchmarks.md.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <libvmem.h>

#include "backends.hpp"

namespace bench {
namespace {

constexpr size_t MiB = size_t{1} << 20;

struct Options {
	std::string backend = "malloc";
	std::string workload;
	std::string dir = "/dev/shm";
	int threads = 1;
	bool quick = false;
};

// What a workload reports: its main figure and any others.
struct Result {
	double value = 0;
	double operations = 0; // allocator calls the figure counts (for per-operation instruction counts)
	std::string unit;
	bool lower_is_better = false;
	std::map<std::string, double> extra;
	bool skipped = false;
	std::string reason;
};

double seconds_since(std::chrono::steady_clock::time_point start)
{
	return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The process's peak resident set (VmHWM).  Not getrusage's ru_maxrss:
// that survives exec and starts, after fork, at the parent's size, so it
// would depend on what launched vbench.
long peak_rss_kib()
{
	FILE *f = std::fopen("/proc/self/status", "r");
	long kib = -1;
	char line[256];
	while (f != nullptr && std::fgets(line, sizeof(line), f) != nullptr) {
		if (std::sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	}
	if (f != nullptr)
		std::fclose(f);
	return kib;
}

long current_rss_kib()
{
	FILE *f = std::fopen("/proc/self/statm", "r");
	long pages = 0, resident = 0;
	if (f != nullptr) {
		if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		std::fclose(f);
	}
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

struct Rng {
	uint64_t state;
	explicit Rng(uint64_t seed) : state(seed * 0x9e3779b97f4a7c15ULL + 1) {}
	uint64_t next()
	{
		state ^= state >> 12;
		state ^= state << 25;
		state ^= state >> 27;
		return state * 0x2545F4914F6CDD1DULL;
	}
	size_t between(size_t lo, size_t hi) // inclusive
	{
		return lo + next() % (hi - lo + 1);
	}
};

Result skip(const char *reason)
{
	Result r;
	r.skipped = true;
	r.reason = reason;
	return r;
}

Result rate(double operations, double seconds, const char *unit = "Mops/s")
{
	Result r;
	r.operations = operations;
	r.value = operations / seconds / 1e6;
	r.unit = unit;
	return r;
}

// Touches the block so the allocator cannot get away with handing out
// memory nobody uses.
inline void touch(void *block, size_t size)
{
	auto *bytes = static_cast<volatile unsigned char *>(block);
	bytes[0] = 1;
	bytes[size - 1] = 2;
}

// Writes a byte in every page of a big block, as a program that asked for
// it would: blocks whose pages the allocator must first fault in, zero or
// reserve cost what they really cost.
inline void use_pages(void *block, size_t size)
{
	auto *bytes = static_cast<volatile unsigned char *>(block);
	for (size_t i = 0; i < size; i += 4096)
		bytes[i] = 1;
	bytes[size - 1] = 2;
}

// Frees every block of `blocks` (a null one is no block).
inline void free_each(Heap *heap, const std::vector<void *> &blocks)
{
	for (void *p : blocks)
		heap->free(p);
}

// The step most workloads repeat: a random slot's block is freed and
// replaced by one of a random size in [lo, hi], which is then touched.
inline void replace_random(Heap *heap, std::vector<void *> &slots, Rng &rng, size_t lo, size_t hi)
{
	size_t slot = rng.next() % slots.size();
	heap->free(slots[slot]);
	size_t size = rng.between(lo, hi);
	slots[slot] = heap->malloc(size);
	touch(slots[slot], size);
}

// ---------------------------------------------------------------- single thread

Result st_fixed64(Backend &backend, const Options &o)
{
	Heap *heap = backend.create(0);
	long pairs = o.quick ? 3000000 : 30000000;
	auto start = std::chrono::steady_clock::now();
	for (long i = 0; i < pairs; i++) {
		void *volatile p = heap->malloc(64);
		heap->free(p);
	}
	Result r = rate(double(pairs), seconds_since(start), "Mpairs/s");
	backend.destroy(heap);
	return r;
}

Result st_small(Backend &backend, const Options &o)
{
	Heap *heap = backend.create(0);
	size_t slots = 1000000;
	long ops = o.quick ? 1000000 : 20000000;
	std::vector<void *> live(slots, nullptr);
	Rng rng(1);
	auto start = std::chrono::steady_clock::now();
	for (long i = 0; i < ops; i++) {
		replace_random(heap, live, rng, 8, 512);
	}
	Result r = rate(double(ops), seconds_since(start));
	free_each(heap, live);
	backend.destroy(heap);
	return r;
}

// ---------------------------------------------------------------- threads

// larson: each thread frees and replaces random blocks of its array; every
// round the arrays move on to the next thread, so blocks are freed by a
// thread other than the one that allocated them.
Result larson(Backend &backend, const Options &o)
{
	Heap *heap = backend.create(0);
	int threads = o.threads;
	size_t slots = 4000;
	int rounds = o.quick ? 8 : 80;
	long ops_per_round = 25000;
	std::vector<std::vector<void *>> arrays(threads, std::vector<void *>(slots, nullptr));
	std::atomic<long> total{0};
	std::vector<std::thread> workers;
	auto start = std::chrono::steady_clock::now();
	for (int round = 0; round < rounds; round++) {
		workers.clear();
		for (int t = 0; t < threads; t++) {
			workers.emplace_back([&, t, round] {
				Rng rng(uint64_t(t) * 1000 + round + 7);
				auto &array = arrays[(t + round) % threads];
				for (long i = 0; i < ops_per_round; i++)
					replace_random(heap, array, rng, 16, 1000);
				total += ops_per_round;
			});
		}
		for (auto &w : workers)
			w.join();
	}
	Result r = rate(double(total), seconds_since(start));
	for (auto &array : arrays)
		free_each(heap, array);
	backend.destroy(heap);
	return r;
}

// xthread: one thread allocates, another frees, through a ring.
Result xthread(Backend &backend, const Options &o)
{
	Heap *heap = backend.create(0);
	constexpr size_t kRing = 4096;
	std::vector<std::atomic<void *>> ring(kRing);
	long blocks = o.quick ? 500000 : 10000000;
	auto start = std::chrono::steady_clock::now();
	std::thread consumer([&] {
		for (long i = 0; i < blocks; i++) {
			auto &cell = ring[size_t(i) % kRing];
			void *p;
			while ((p = cell.exchange(nullptr, std::memory_order_acquire)) == nullptr)
				std::this_thread::yield();
			heap->free(p);
		}
	});
	Rng rng(3);
	for (long i = 0; i < blocks; i++) {
		size_t size = rng.between(64, 512);
		void *p = heap->malloc(size);
		touch(p, size);
		auto &cell = ring[size_t(i) % kRing];
		while (cell.load(std::memory_order_relaxed) != nullptr)
			std::this_thread::yield();
		cell.store(p, std::memory_order_release);
	}
	consumer.join();
	Result r = rate(double(blocks), seconds_since(start), "Mblocks/s");
	backend.destroy(heap);
	return r;
}

// thread_churn: generations of short-lived threads allocating and freeing,
// some blocks passed on to the next generation (mstress-like); then many
// threads each leaving blocks behind for later ones to free (mleak-like),
// whose peak memory growth is the second figure.
Result thread_churn(Backend &backend, const Options &o)
{
	Heap *heap = backend.create(0);
	int generations = o.quick ? 15 : 200;
	int threads = 4;
	std::vector<void *> passed(4096, nullptr);
	std::atomic<long> ops{0};
	auto start = std::chrono::steady_clock::now();
	for (int g = 0; g < generations; g++) {
		std::vector<std::thread> workers;
		for (int t = 0; t < threads; t++) {
			workers.emplace_back([&, t, g] {
				Rng rng(uint64_t(g) * 31 + t);
				std::vector<void *> mine(256, nullptr);
				for (int i = 0; i < 20000; i++)
					replace_random(heap, mine, rng, 16, 1000);
				// a share goes to the next generation (its slot range is ours)
				for (size_t i = 0; i < mine.size(); i++) {
					size_t slot = size_t(t) * 1024 + i;
					heap->free(passed[slot]);
					passed[slot] = mine[i];
				}
				ops += 20000;
			});
		}
		for (auto &w : workers)
			w.join();
	}
	double churn_seconds = seconds_since(start);
	for (void *&p : passed) {
		heap->free(p);
		p = nullptr;
	}

	// mleak-like: each thread frees some blocks others left and leaves
	// some of its own: at most 1,000 live 128-byte blocks at any time.
	long rss_before = current_rss_kib();
	long rss_peak = rss_before;
	int leakers = o.quick ? 2000 : 50000;
	std::vector<void *> leaked(1000, nullptr);
	for (int i = 0; i < leakers; i++) {
		std::thread([&, i] {
			Rng rng(uint64_t(i) + 99);
			for (int k = 0; k < 100; k++) {
				size_t slot = rng.next() % leaked.size();
				heap->free(leaked[slot]);
				leaked[slot] = heap->malloc(128);
				touch(leaked[slot], 128);
			}
		}).join();
		if (i % 500 == 0)
			rss_peak = std::max(rss_peak, current_rss_kib());
	}
	rss_peak = std::max(rss_peak, current_rss_kib());
	free_each(heap, leaked);
	Result r = rate(double(ops), churn_seconds);
	r.extra["leak_rss_growth_kib"] = double(rss_peak - rss_before);
	backend.destroy(heap);
	return r;
}

// ---------------------------------------------------------------- sizes

Result realloc_grow(Backend &backend, const Options &o)
{
	Heap *heap = backend.create(0);
	int chains = o.quick ? 5000 : 100000;
	long reallocs = 0, in_place = 0;
	Rng rng(5);
	std::vector<void *> keep(64, nullptr);
	auto start = std::chrono::steady_clock::now();
	for (int c = 0; c < chains; c++) {
		size_t size = 16;
		void *p = heap->malloc(size);
		while (size < 65536) {
			size_t grown = std::min<size_t>(65536, size + rng.between(8, size / 2 + 16));
			void *q = heap->realloc(p, grown);
			touch(q, grown);
			reallocs++;
			in_place += q == p;
			p = q;
			size = grown;
		}
		// some chains live on, so the heap is not empty between chains
		size_t slot = rng.next() % keep.size();
		heap->free(keep[slot]);
		keep[slot] = p;
	}
	Result r = rate(double(reallocs), seconds_since(start), "Mreallocs/s");
	r.extra["in_place_percent"] = 100.0 * double(in_place) / double(reallocs);
	free_each(heap, keep);
	backend.destroy(heap);
	return r;
}

Result churn_sizes(Backend &backend, size_t lo, size_t hi, size_t slots, long ops, bool use_calloc)
{
	Heap *heap = backend.create(0);
	std::vector<void *> live(slots, nullptr);
	Rng rng(11);
	auto start = std::chrono::steady_clock::now();
	for (long i = 0; i < ops; i++) {
		size_t slot = rng.next() % slots;
		heap->free(live[slot]);
		size_t size = rng.between(lo, hi);
		live[slot] = use_calloc ? heap->calloc(1, size) : heap->malloc(size);
		if (live[slot] == nullptr) {
			std::fprintf(stderr, "allocation of %zu bytes failed\n", size);
			std::exit(1);
		}
		use_pages(live[slot], size);
	}
	Result r = rate(double(ops), seconds_since(start), "Kops/s");
	r.value *= 1000;
	free_each(heap, live);
	backend.destroy(heap);
	return r;
}

Result large(Backend &backend, const Options &o)
{
	return churn_sizes(backend, 65536, 4 * MiB, 32, o.quick ? 4000 : 100000, false);
}

Result huge(Backend &backend, const Options &o)
{
	return churn_sizes(backend, 5 * MiB, 25 * MiB, 20, o.quick ? 200 : 3000, false);
}

Result calloc_sizes(Backend &backend, const Options &o)
{
	return churn_sizes(backend, 1024, 1 * MiB, 64, o.quick ? 4000 : 100000, true);
}

// ---------------------------------------------------------------- pools

// fill: a 14 MiB pool (memkind's 16 MiB minimum for its pmem kind) filled
// with 64-byte objects, then with random 16-4096 B, then with its older
// half freed and refilled with twice the sizes (32-8192 B): the share of
// the pool in live blocks each time, counted by their usable size (what
// the program can really use; the *_requested figures count what it asked
// for, which class rounding makes smaller).
Result fill(Backend &backend, const Options &)
{
	if (!backend.has_pools())
		return skip("the process heap has no fixed size");
	size_t size = std::string(backend.name()) == "memkind-pmem" ? 16 * MiB : VMEM_MIN_POOL;
	Heap *heap = backend.create(size);
	if (heap == nullptr)
		return skip("cannot create a pool of the minimum size");
	struct Block {
		void *p;
		size_t requested;
		size_t usable;
	};
	std::vector<Block> blocks;
	// until 64 requests in a row fail (a smaller one may still fit)
	auto fill_with = [&](size_t lo, size_t hi, uint64_t seed) {
		Rng rng(seed);
		for (int misses = 0; misses < 64;) {
			size_t s = rng.between(lo, hi);
			void *p = heap->malloc(s);
			if (p == nullptr) {
				misses++;
				continue;
			}
			blocks.push_back({p, s, heap->usable(p)});
		}
	};
	auto share = [&](bool usable) {
		size_t total = 0;
		for (auto &b : blocks)
			total += usable ? b.usable : b.requested;
		return 100.0 * double(total) / double(size);
	};
	auto free_all = [&] {
		for (auto &b : blocks)
			heap->free(b.p);
		blocks.clear();
	};
	Result r;
	r.unit = "% of pool";
	fill_with(64, 64, 1);
	r.value = share(true);
	free_all();
	fill_with(16, 4096, 2);
	r.extra["mixed_usable_percent"] = share(true);
	r.extra["mixed_requested_percent"] = share(false);
	// free the older half, keep the newer
	std::vector<Block> kept(blocks.begin() + long(blocks.size() / 2), blocks.end());
	for (size_t i = 0; i < blocks.size() / 2; i++)
		heap->free(blocks[i].p);
	blocks = kept;
	fill_with(32, 8192, 3);
	r.extra["refill_usable_percent"] = share(true);
	r.extra["refill_requested_percent"] = share(false);
	free_all();
	backend.destroy(heap);
	return r;
}

// lifecycle: create+delete of 1,000 region pools of 16 MiB and of 100 file
// pools of 1 GiB, microseconds each.
Result lifecycle(Backend &backend, const Options &o)
{
	if (!backend.has_pools())
		return skip("the process heap has no pools");
	Result r;
	r.unit = "us/region pool";
	r.lower_is_better = true;
	int regions = o.quick ? 200 : 1000;
	size_t region_size = 16 * MiB;
	void *mapping =
	    mmap(nullptr, region_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	auto start = std::chrono::steady_clock::now();
	int made = 0;
	for (int i = 0; i < regions; i++) {
		Heap *heap = backend.create_in(mapping, region_size);
		if (heap == nullptr)
			break;
		void *p = heap->malloc(64); // a pool nobody uses is not the case that matters
		heap->free(p);
		backend.destroy(heap);
		made++;
	}
	double region_seconds = seconds_since(start);
	munmap(mapping, region_size);
	if (made == 0) {
		r.value = 0;
		r.extra["region_pools"] = 0;
	} else {
		r.value = region_seconds * 1e6 / made;
	}
	int files = o.quick ? 20 : 100;
	start = std::chrono::steady_clock::now();
	int file_made = 0;
	for (int i = 0; i < files; i++) {
		Heap *heap = backend.create(size_t{1} << 30);
		if (heap == nullptr)
			break;
		void *p = heap->malloc(64);
		heap->free(p);
		backend.destroy(heap);
		file_made++;
	}
	if (file_made > 0)
		r.extra["us_per_1gib_file_pool"] = seconds_since(start) * 1e6 / file_made;
	return r;
}

// purge: 200 MiB of 1 MiB blocks in a 256 MiB file pool, all freed: the
// file blocks held after the free, after a purge, and after a second of
// further small-block activity, in MiB.
// purge: 200 MiB of 1 MiB blocks in a 256 MiB file pool, freed; the file
// blocks held right after, after 1 s of small-block activity (DEFAULT's
// delayed purge happens on such slow paths), and after an explicit purge.
Result purge_with_policy(Backend &backend, bool conservative)
{
	if (std::string(backend.name()) != "vmem-file" && std::string(backend.name()) != "memkind-pmem")
		return skip("not a file-backed pool");
	Heap *heap = backend.create(256 * MiB);
	if (heap == nullptr)
		return skip("cannot create the pool");
	if (conservative && !heap->set_conservative()) {
		backend.destroy(heap);
		return skip("no CONSERVATIVE policy for a live heap");
	}
	std::vector<void *> blocks;
	for (int i = 0; i < 200; i++) {
		void *p = heap->malloc(MiB);
		if (p == nullptr)
			break;
		std::memset(p, 1, MiB);
		blocks.push_back(p);
	}
	double peak = double(heap->file_bytes()) / MiB;
	free_each(heap, blocks);
	Result r;
	r.unit = "MiB held after free";
	r.lower_is_better = true;
	r.value = double(heap->file_bytes()) / MiB;
	r.extra["peak_mib"] = peak;
	auto start = std::chrono::steady_clock::now();
	Rng rng(9);
	std::vector<void *> small(1000, nullptr);
	while (seconds_since(start) < 1.0) {
		for (int i = 0; i < 1000; i++) {
			size_t slot = rng.next() % small.size();
			heap->free(small[slot]);
			small[slot] = heap->malloc(rng.between(16, 256));
		}
	}
	r.extra["after_activity_mib"] = double(heap->file_bytes()) / MiB;
	if (heap->purge())
		r.extra["after_purge_mib"] = double(heap->file_bytes()) / MiB;
	free_each(heap, small);
	backend.destroy(heap);
	return r;
}

Result purge(Backend &backend, const Options &)
{
	return purge_with_policy(backend, false);
}

Result purge_conservative(Backend &backend, const Options &)
{
	return purge_with_policy(backend, true);
}

// many_pools: one thread spreading allocations over 64 pools; then 8
// threads each with a pool of its own, freeing each other's blocks.
Result many_pools(Backend &backend, const Options &o)
{
	int pools = 64;
	std::vector<Heap *> heaps;
	for (int i = 0; i < pools; i++) {
		Heap *heap = backend.create(backend.has_pools() ? 64 * MiB : 0);
		if (heap == nullptr)
			return skip("cannot create 64 pools");
		heaps.push_back(heap);
	}
	struct Slot {
		void *block = nullptr;
		Heap *heap = nullptr;
	};
	std::vector<Slot> live(20000);
	long ops = o.quick ? 500000 : 10000000;
	Rng rng(13);
	auto start = std::chrono::steady_clock::now();
	for (long i = 0; i < ops; i++) {
		Slot &s = live[rng.next() % live.size()];
		if (s.block != nullptr)
			s.heap->free(s.block);
		s.heap = heaps[rng.next() % heaps.size()];
		size_t size = rng.between(16, 512);
		s.block = s.heap->malloc(size);
		touch(s.block, size);
	}
	Result r = rate(double(ops), seconds_since(start));
	for (auto &s : live)
		if (s.block != nullptr)
			s.heap->free(s.block);

	// 8 threads, each allocating from its own pool; blocks go through a
	// shared exchange, so most are freed by another thread
	struct Cell {
		std::atomic_flag busy = ATOMIC_FLAG_INIT;
		void *block = nullptr;
		Heap *heap = nullptr;
	};
	std::vector<Cell> exchange(1024);
	int threads = 8;
	long per_thread = o.quick ? 50000 : 1000000;
	start = std::chrono::steady_clock::now();
	std::vector<std::thread> workers;
	for (int t = 0; t < threads; t++) {
		workers.emplace_back([&, t] {
			Rng trng(uint64_t(t) + 77);
			Heap *mine = heaps[size_t(t)];
			for (long i = 0; i < per_thread; i++) {
				size_t size = trng.between(16, 512);
				void *p = mine->malloc(size);
				touch(p, size);
				Cell &cell = exchange[trng.next() % exchange.size()];
				while (cell.busy.test_and_set(std::memory_order_acquire))
					std::this_thread::yield();
				void *old = cell.block;
				Heap *old_heap = cell.heap;
				cell.block = p;
				cell.heap = mine;
				cell.busy.clear(std::memory_order_release);
				if (old != nullptr)
					old_heap->free(old);
			}
		});
	}
	for (auto &w : workers)
		w.join();
	r.extra["cross_thread_mops"] = double(per_thread * threads) / seconds_since(start) / 1e6;
	for (Cell &cell : exchange)
		if (cell.block != nullptr)
			cell.heap->free(cell.block);
	for (Heap *heap : heaps)
		backend.destroy(heap);
	return r;
}

// check: the consistency check of a pool holding 1,000,000 live 64-byte
// blocks, in milliseconds.
Result check(Backend &backend, const Options &)
{
	Heap *heap = backend.create(0);
	std::vector<void *> blocks(1000000);
	for (auto &p : blocks)
		p = heap->malloc(64);
	auto start = std::chrono::steady_clock::now();
	int verdict = heap->check();
	double ms = seconds_since(start) * 1000;
	free_each(heap, blocks);
	backend.destroy(heap);
	if (verdict < 0)
		return skip("the allocator has no consistency check");
	Result r;
	r.value = ms;
	r.unit = "ms";
	r.lower_is_better = true;
	r.extra["verdict"] = verdict;
	return r;
}

struct Workload {
	const char *name;
	Result (*run)(Backend &, const Options &);
	const char *what;
};

const Workload kWorkloads[] = {
    {"st_fixed64", st_fixed64, "malloc+free pairs of 64 B, LIFO: the fast path"},
    {"st_small", st_small, "one thread, random 8-512 B, 1,000,000-slot working set"},
    {"larson", larson, "T threads, random free+alloc 16-1000 B, arrays handed between threads"},
    {"xthread", xthread, "one thread allocates, another frees"},
    {"thread_churn", thread_churn, "short-lived threads allocating; leak-like growth in the extra figure"},
    {"realloc_grow", realloc_grow, "realloc chains 16 B to 64 KiB; in-place share in the extra figure"},
    {"large", large, "64 KiB-4 MiB churn, 32 live"},
    {"huge", huge, "5-25 MiB churn, 20 live"},
    {"calloc", calloc_sizes, "calloc 1 KiB-1 MiB churn, 64 live"},
    {"fill", fill, "share of a 14 MiB pool handed out: 64 B, mixed, refill"},
    {"lifecycle", lifecycle, "create+delete of region pools (and 1 GiB file pools)"},
    {"purge", purge, "file blocks held after freeing 200 MiB (default policy)"},
    {"purge_conservative", purge_conservative, "file blocks held after freeing 200 MiB, CONSERVATIVE policy"},
    {"many_pools", many_pools, "one thread over 64 pools; 8 threads on own pools, cross frees"},
    {"check", check, "consistency check of a pool with 1,000,000 live blocks"},
};

void print_json(const Options &o, const Result &r)
{
	std::printf("{\"workload\": \"%s\", \"backend\": \"%s\", \"threads\": %d, ", o.workload.c_str(),
		    o.backend.c_str(), o.threads);
	if (r.skipped) {
		std::printf("\"skipped\": \"%s\"}\n", r.reason.c_str());
		return;
	}
	std::printf("\"value\": %.6g, \"unit\": \"%s\", \"lower_is_better\": %s, \"peak_rss_kib\": %ld",
		    r.value, r.unit.c_str(), r.lower_is_better ? "true" : "false", peak_rss_kib());
	if (r.operations > 0)
		std::printf(", \"operations\": %.0f", r.operations);
	for (auto &[key, value] : r.extra)
		std::printf(", \"%s\": %.6g", key.c_str(), value);
	std::printf("}\n");
}

int usage()
{
	std::fprintf(stderr,
		     "usage: vbench --backend NAME --workload NAME [--threads T] [--quick] [--dir DIR]\n"
		     "       vbench --list\n");
	return 64;
}

} // namespace
} // namespace bench

int main(int argc, char **argv)
{
	using namespace bench;
	Options o;
	for (int i = 1; i < argc; i++) {
		std::string arg = argv[i];
		auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
		if (arg == "--backend")
			o.backend = value();
		else if (arg == "--workload")
			o.workload = value();
		else if (arg == "--threads")
			o.threads = std::atoi(value().c_str());
		else if (arg == "--dir")
			o.dir = value();
		else if (arg == "--quick")
			o.quick = true;
		else if (arg == "--list") {
			for (auto &w : kWorkloads)
				std::printf("%-14s %s\n", w.name, w.what);
			return 0;
		} else
			return usage();
	}
	if (o.threads < 1)
		return usage();
	Backend *backend = make_backend(o.backend, o.dir);
	if (backend == nullptr)
		return usage();
	for (auto &w : kWorkloads) {
		if (o.workload == w.name) {
			print_json(o, w.run(*backend, o));
			return 0;
		}
	}
	return usage();
}
