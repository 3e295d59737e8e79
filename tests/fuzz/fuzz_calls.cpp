// SPDX-License-Identifier: BSD-3-Clause
// fuzz_calls.cpp -- libFuzzer target: an input's bytes become calls of the public
// interface on three pools from two threads.
//
// Each input creates two pools in regions (one in a private mapping, one in a
// shared one) and one pool in a file, decodes its bytes into a list of
// operations, runs them, frees every block and deletes the pools.  The list is
// cut into rounds; in each round the operations marked for the second thread
// run on a new thread at the same time as the others run on the calling
// thread.  Every block carries a pattern derived from a seed of its own,
// checked before it is freed or resized and at every round's end.  Every
// result the manual pages promise is checked; a failed check prints what was
// wrong and aborts, which is what libFuzzer and the replay test look for.
//
// The input format (bytes past the end read as 0):
//   6 header bytes: initial usage policies and flags; the two regions'
//     offsets in their mappings and their sizes; the file pool's size;
//   then operations: an opcode byte (bit 7: the second thread; bits 5-6: the
//     pool; bits 0-4: the kind, through kKinds), an argument byte, and for
//     the kinds that take sizes a size selector byte followed by up to three
//     bytes (decode_size), plus one more byte for calloc and aligned_alloc.
#include <libvmem.h>

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cwchar>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace {

constexpr size_t KiB = 1024;
constexpr size_t MiB = 1024 * KiB;

constexpr int kPools = 3;
constexpr int kThreads = 2;
constexpr size_t kMaxOps = 2000;
constexpr size_t kMaxRounds = 16;
// Bytes asked for and not yet freed, per pool, all threads together: well
// below VMEM_MIN_POOL, so that most requests can be served.
constexpr size_t kLiveCap = 4 * MiB;
constexpr size_t kMaxBlocksPerThread = 256;
// Bytes written, checked or copied per thread and input before requests
// above 64 KiB are passed over: keeps every input fast.
constexpr size_t kWorkCap = 64 * MiB;
// Requests at least this large must fail: every pool here is smaller.
constexpr size_t kHugeMin = 32 * MiB;
// The largest block of a size class; larger blocks are runs of 16 KiB slices.
constexpr size_t kSmallMax = 64 * KiB;
// Each region mapping holds a pool at an offset of up to 255 pages with up
// to 255 slices more than the minimum size.
constexpr size_t kRegionMap = VMEM_MIN_POOL + 6 * MiB;
// An errno value no call sets: a call that must leave errno alone is made
// with this in errno.
constexpr int kErrnoSentinel = 4242;

// ---------------------------------------------------------------- failures

[[noreturn]] __attribute__((format(printf, 3, 4))) void die(int line, const char *cond, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	const char *msg = vmem_errormsg();
	fprintf(stderr, "fuzz_calls.cpp:%d: check failed: %s: %s (errno %d, vmem_errormsg \"%s\")\n", line,
		cond, detail, errno, msg != nullptr ? msg : "");
	fflush(stderr);
	abort();
}

#define REQUIRE(cond, ...)                                                                                   \
	do {                                                                                                 \
		if (__builtin_expect(!(cond), 0))                                                            \
			die(__LINE__, #cond, __VA_ARGS__);                                                   \
	} while (0)

// errno after a call that succeeded: as the harness set it.
bool errno_kept(int)
{
	return errno == kErrnoSentinel;
}

// ---------------------------------------------------------------- patterns

uint64_t pattern_word(uint64_t seed, size_t index)
{
	uint64_t x = seed + index * 0x9e3779b97f4a7c15ULL;
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

unsigned char pattern_byte(uint64_t seed, size_t offset)
{
	return static_cast<unsigned char>(pattern_word(seed, offset / 8) >> (8 * (offset % 8)));
}

// Blocks up to 64 KiB carry the pattern in every byte; larger ones in their
// first and last 16 KiB and the first 64 bytes of every 16 KiB slice between,
// which still tells when a resize loses data and when two blocks overlap
// (every block of the library starts a slice or lies in a page that does),
// without touching every page of the block.
constexpr size_t kFullPatternMax = 64 * KiB;
constexpr size_t kPatternEdge = 16 * KiB;
constexpr size_t kPatternStride = 16 * KiB;
constexpr size_t kPatternProbe = 64;

template <class Fn> void for_each_patterned(size_t usable, Fn fn)
{
	if (usable <= kFullPatternMax) {
		fn(size_t{0}, usable);
		return;
	}
	fn(size_t{0}, kPatternEdge);
	for (size_t off = kPatternEdge; off < usable - kPatternEdge; off += kPatternStride)
		fn(off, std::min(kPatternProbe, usable - kPatternEdge - off));
	fn(usable - kPatternEdge, kPatternEdge);
}

void fill_range(unsigned char *p, size_t off, size_t len, uint64_t seed)
{
	size_t end = off + len;
	size_t o = off;
	for (; o < end && o % 8 != 0; o++)
		p[o] = pattern_byte(seed, o);
	for (; o + 8 <= end; o += 8) {
		uint64_t w = pattern_word(seed, o / 8);
		memcpy(p + o, &w, 8);
	}
	for (; o < end; o++)
		p[o] = pattern_byte(seed, o);
}

// The first offset in [off, off + len) that does not hold the pattern, or SIZE_MAX.
size_t find_damage(const unsigned char *p, size_t off, size_t len, uint64_t seed)
{
	size_t end = off + len;
	size_t o = off;
	for (; o < end && o % 8 != 0; o++)
		if (p[o] != pattern_byte(seed, o))
			return o;
	for (; o + 8 <= end; o += 8) {
		uint64_t w;
		memcpy(&w, p + o, 8);
		if (w != pattern_word(seed, o / 8))
			break;
	}
	for (; o < end; o++)
		if (p[o] != pattern_byte(seed, o))
			return o;
	return SIZE_MAX;
}

// The first of `len` bytes that is not 0, or SIZE_MAX.
size_t find_nonzero(const unsigned char *p, size_t len)
{
	size_t o = 0;
	for (; o + 8 <= len; o += 8) {
		uint64_t w;
		memcpy(&w, p + o, 8);
		if (w != 0)
			break;
	}
	for (; o < len; o++)
		if (p[o] != 0)
			return o;
	return SIZE_MAX;
}

// ---------------------------------------------------------------- pools and blocks

struct Block {
	void *ptr;
	size_t req;    // the size asked for
	size_t usable; // vmem_malloc_usable_size when it was made or resized
	uint64_t seed;
	int pool;
};

struct Pools {
	VMEM *vmp[kPools];
	size_t expected_size[kPools]; // vmem_stats.pool_size
};

struct Mailbox {
	std::mutex lock;
	std::vector<Block> blocks;
};

// What both threads share during a round.  The pools are set before the
// second thread starts; the counters are atomic; the mailboxes locked.
struct Shared {
	Pools pools;
	std::atomic<size_t> live_req[kPools];
	Mailbox mailbox[kThreads];
};

bool reserve(Shared &sh, int pool, size_t bytes)
{
	if (bytes > kLiveCap)
		return false;
	size_t before = sh.live_req[pool].fetch_add(bytes, std::memory_order_relaxed);
	if (before + bytes > kLiveCap) {
		sh.live_req[pool].fetch_sub(bytes, std::memory_order_relaxed);
		return false;
	}
	return true;
}

void release(Shared &sh, int pool, size_t bytes)
{
	sh.live_req[pool].fetch_sub(bytes, std::memory_order_relaxed);
}

void fill_block(const Block &b)
{
	auto *p = static_cast<unsigned char *>(b.ptr);
	for_each_patterned(b.usable, [&](size_t off, size_t len) { fill_range(p, off, len, b.seed); });
}

// Checks the pattern the block got for `written` usable bytes, in its first
// `limit` bytes.
void check_block_prefix(const Block &b, const void *ptr, size_t written, size_t limit, const char *when)
{
	auto *p = static_cast<const unsigned char *>(ptr);
	for_each_patterned(written, [&](size_t off, size_t len) {
		if (off >= limit)
			return;
		size_t damaged = find_damage(p, off, std::min(len, limit - off), b.seed);
		REQUIRE(
		    damaged == SIZE_MAX,
		    "%s: block %p (pool %d, %zu bytes asked, %zu usable) damaged at offset %zu: %#x, not %#x",
		    when, ptr, b.pool, b.req, b.usable, damaged, p[damaged], pattern_byte(b.seed, damaged));
	});
}

void check_block(const Block &b, const char *when)
{
	check_block_prefix(b, b.ptr, b.usable, b.usable, when);
}

// ---------------------------------------------------------------- operations

enum Kind : uint8_t {
	kMalloc,
	kCalloc,
	kRealloc,
	kReallocNull,
	kAligned,
	kFree,
	kUsable,
	kVerify,
	kPurge,
	kCheck,
	kStats,
	kPolicy,
	kGive,
	kTake,
	kBad,
	kStrdup,
	kRoundEnd,
};

// The low five bits of an opcode byte name the kind: the common ones more often.
constexpr Kind kKinds[32] = {
    kMalloc,  kMalloc,	kMalloc,  kMalloc,	kMalloc,  kCalloc,  kCalloc, kRealloc,
    kRealloc, kRealloc, kRealloc, kReallocNull, kAligned, kAligned, kFree,   kFree,
    kFree,    kFree,	kFree,	  kUsable,	kVerify,  kPurge,   kCheck,  kStats,
    kPolicy,  kGive,	kGive,	  kTake,	kTake,	  kBad,	    kStrdup, kRoundEnd,
};

struct Op {
	Kind kind;
	uint8_t thread;
	uint8_t pool;
	uint8_t arg;
	uint8_t extra;
	bool huge;
	size_t size;
};

class Reader {
public:
	Reader(const uint8_t *data, size_t size) : data_(data), size_(size) {}
	bool empty() const
	{
		return pos_ >= size_;
	}
	uint8_t byte()
	{
		return pos_ < size_ ? data_[pos_++] : 0;
	}
	uint32_t bytes(int n)
	{
		uint32_t v = 0;
		for (int i = 0; i < n; i++)
			v = v << 8 | byte();
		return v;
	}

private:
	const uint8_t *data_;
	size_t size_;
	size_t pos_ = 0;
};

constexpr size_t kBoundarySizes[] = {
    1,	   2,	  7,	 8,	9,	15,	16,	17,	 128,	  129,	   1023,    1024,
    1025,  8191,  8192,	 8193,	16383,	16384,	16385,	32768,	 49152,	  57344,   65535,   65536,
    65537, 81920, 81921, 98304, 131072, 262144, 524288, 1048576, 1048577, 2097152, 4194304,
};

constexpr size_t kHugeSizes[] = {
    SIZE_MAX,	      SIZE_MAX - 1,	     SIZE_MAX - 7,     SIZE_MAX - 15,
    SIZE_MAX - 16383, SIZE_MAX - 16384,	     SIZE_MAX - 65535, SIZE_MAX / 2,
    SIZE_MAX / 2 + 1, size_t{1} << 62,	     size_t{1} << 48,  size_t{1} << 40,
    size_t{1} << 32,  (size_t{1} << 32) - 1, 64 * MiB + 1,     kHugeMin + 16 * KiB,
};

// Sizes: mostly small, some medium, a few large, boundaries of size
// classes and slices, and sizes no pool here can serve.
void decode_size(Reader &in, Op &op)
{
	unsigned band = in.byte() % 16;
	op.huge = false;
	if (band < 8) {
		op.size = 1 + in.bytes(2) % 1024;
	} else if (band < 11) {
		op.size = 1 + in.bytes(3) % (256 * KiB);
	} else if (band == 11) {
		op.size = 64 * KiB + 1 + in.bytes(3) % (4 * MiB - 64 * KiB);
	} else if (band == 12) {
		op.size = 0;
	} else if (band == 13) {
		op.size = kBoundarySizes[in.byte() % std::size(kBoundarySizes)];
	} else if (band == 14) {
		// a whole number of slices, or one byte either side
		uint8_t n = in.byte();
		op.size = (1 + n % 64) * 16 * KiB + static_cast<size_t>(n / 64 % 3) - 1;
	} else {
		uint8_t n = in.byte();
		op.size = kHugeSizes[n % std::size(kHugeSizes)] - in.byte();
		op.huge = true;
	}
}

bool takes_size(Kind k)
{
	return k == kMalloc || k == kCalloc || k == kRealloc || k == kReallocNull || k == kAligned ||
	       k == kStrdup || k == kBad;
}

std::vector<Op> decode_ops(Reader &in)
{
	std::vector<Op> ops;
	while (!in.empty() && ops.size() < kMaxOps) {
		uint8_t code = in.byte();
		Op op{};
		op.kind = kKinds[code & 31];
		op.thread = code >> 7;
		op.pool = ((code >> 5) & 3) % kPools;
		op.arg = in.byte();
		if (takes_size(op.kind))
			decode_size(in, op);
		if (op.kind == kCalloc || op.kind == kAligned)
			op.extra = in.byte();
		ops.push_back(op);
	}
	return ops;
}

// ---------------------------------------------------------------- one thread's work

class Actor {
public:
	Actor(Shared &shared, int id, uint64_t salt)
	    : sh_(shared), id_(id), seed_(salt ^ (uint64_t(id + 1) << 56))
	{
	}

	std::vector<Block> blocks;

	void run(const std::vector<Op> &ops)
	{
		for (const Op &op : ops)
			step(op);
	}

private:
	Shared &sh_;
	int id_;
	uint64_t seed_;
	size_t work_ = 0;

	VMEM *vmp(int pool) const
	{
		return sh_.pools.vmp[pool];
	}
	uint64_t next_seed()
	{
		seed_ += 0x9e3779b97f4a7c15ULL;
		return seed_;
	}
	// Passes over requests above 64 KiB once this thread has moved enough bytes.
	bool affordable(size_t bytes)
	{
		if (bytes > kSmallMax && work_ > kWorkCap)
			return false;
		work_ += bytes;
		return true;
	}
	Block take_block(size_t index)
	{
		Block b = blocks[index];
		blocks[index] = blocks.back();
		blocks.pop_back();
		return b;
	}

	void step(const Op &op)
	{
		switch (op.kind) {
		case kMalloc:
			do_malloc(op);
			break;
		case kCalloc:
			do_calloc(op);
			break;
		case kRealloc:
			if (blocks.empty())
				do_realloc_null(op);
			else
				do_realloc(op);
			break;
		case kReallocNull:
			do_realloc_null(op);
			break;
		case kAligned:
			do_aligned(op);
			break;
		case kFree:
			do_free(op);
			break;
		case kUsable:
			do_usable(op);
			break;
		case kVerify:
			if (!blocks.empty())
				check_block(blocks[op.arg % blocks.size()], "verify");
			break;
		case kPurge: {
			size_t purged = vmem_purge(vmp(op.pool));
			REQUIRE(purged <= sh_.pools.expected_size[op.pool], "vmem_purge gave back %zu bytes",
				purged);
			break;
		}
		case kCheck: {
			int ok = vmem_check(vmp(op.pool));
			REQUIRE(ok == 1, "vmem_check of pool %d while threads run returned %d", op.pool, ok);
			break;
		}
		case kStats:
			do_stats(op);
			break;
		case kPolicy:
			do_policy(op);
			break;
		case kGive:
			if (!blocks.empty()) {
				Block b = take_block(op.arg % blocks.size());
				Mailbox &box = sh_.mailbox[1 - id_];
				std::lock_guard<std::mutex> guard(box.lock);
				box.blocks.push_back(b);
			}
			break;
		case kTake: {
			Mailbox &box = sh_.mailbox[id_];
			std::lock_guard<std::mutex> guard(box.lock);
			blocks.insert(blocks.end(), box.blocks.begin(), box.blocks.end());
			box.blocks.clear();
			break;
		}
		case kBad:
			do_bad(op);
			break;
		case kStrdup:
			do_strdup(op);
			break;
		case kRoundEnd:
			break;
		}
	}

	// What every new or resized block must satisfy; records and fills it.
	void adopt(void *p, size_t req, int pool, size_t min_align, const char *what)
	{
		REQUIRE(reinterpret_cast<uintptr_t>(p) % min_align == 0, "%s returned %p, not aligned to %zu",
			what, p, min_align);
		size_t usable = vmem_malloc_usable_size(vmp(pool), p);
		REQUIRE(usable >= req && usable >= 1, "%s(%zu) returned %p of usable size %zu", what, req, p,
			usable);
		REQUIRE(vmem_malloc_usable_size(nullptr, p) == usable, "%s: usable size through a NULL pool",
			what);
		REQUIRE(vmem_pool_from_ptr(p) == vmp(pool), "%s: vmem_pool_from_ptr(%p) is not pool %d", what,
			p, pool);
		Block b{p, req, usable, next_seed(), pool};
		fill_block(b);
		blocks.push_back(b);
	}

	// A request no pool here can serve: NULL and ENOMEM.
	void require_enomem(void *p, const char *what, size_t size)
	{
		REQUIRE(p == nullptr && errno == ENOMEM, "%s(%zu) returned %p, errno %d, not NULL and ENOMEM",
			what, size, p, errno);
	}

	// A request that may legitimately find the pool too full.
	void require_success_or_enomem(void *p, const char *what, size_t size)
	{
		REQUIRE(p != nullptr || errno == ENOMEM, "%s(%zu) failed with errno %d, not ENOMEM", what,
			size, errno);
		if (p != nullptr)
			REQUIRE(errno_kept(vmem_pool_from_ptr(p) == vmp(0) ? 0 : 1),
				"%s(%zu) succeeded but changed errno to %d", what, size, errno);
	}

	// Room for another block of `bytes` in `pool`: in this thread's list,
	// its work budget and the pool's byte budget.
	bool admit(int pool, size_t bytes)
	{
		return blocks.size() < kMaxBlocksPerThread && affordable(bytes) && reserve(sh_, pool, bytes);
	}

	// A block of op.size bytes made by `call`, which may fail only with ENOMEM.
	template <class Call> void make_block(const Op &op, const char *what, Call call)
	{
		if (!admit(op.pool, op.size))
			return;
		void *p = call();
		require_success_or_enomem(p, what, op.size);
		if (p == nullptr) {
			release(sh_, op.pool, op.size);
			return;
		}
		adopt(p, op.size, op.pool, op.size > 8 ? 16 : 8, what);
	}

	void do_malloc(const Op &op)
	{
		errno = kErrnoSentinel;
		if (op.huge)
			require_enomem(vmem_malloc(vmp(op.pool), op.size), "vmem_malloc", op.size);
		else
			make_block(op, "vmem_malloc", [&] { return vmem_malloc(vmp(op.pool), op.size); });
	}

	void do_calloc(const Op &op)
	{
		errno = kErrnoSentinel;
		if (op.huge) {
			size_t nmemb, size;
			switch (op.extra % 4) {
			case 0: // the product wraps
				nmemb = 2 + op.arg;
				size = SIZE_MAX / 2 + 1 + op.arg;
				break;
			case 1: // the product wraps to 0
				nmemb = size_t{1} << (32 + op.arg % 8);
				size = size_t{1} << (32 - op.arg % 8);
				break;
			case 2:
				nmemb = 1;
				size = op.size;
				break;
			default:
				nmemb = op.size;
				size = 1;
				break;
			}
			require_enomem(vmem_calloc(vmp(op.pool), nmemb, size), "vmem_calloc", op.size);
			return;
		}
		size_t k = 1 + op.extra % 8;
		size_t nmemb = op.extra & 8 ? k : op.size / k;
		size_t size = op.extra & 8 ? op.size / k : k;
		if ((op.extra & 0x70) == 0x70)
			nmemb = 0;
		size_t bytes = nmemb * size;
		if (!admit(op.pool, bytes))
			return;
		auto *p = static_cast<unsigned char *>(vmem_calloc(vmp(op.pool), nmemb, size));
		require_success_or_enomem(p, "vmem_calloc", bytes);
		if (p == nullptr) {
			release(sh_, op.pool, bytes);
			return;
		}
		size_t nonzero = find_nonzero(p, std::max(bytes, size_t{1}));
		REQUIRE(nonzero == SIZE_MAX, "vmem_calloc(%zu, %zu) = %p: byte %zu is %#x", nmemb, size,
			static_cast<void *>(p), nonzero, p[nonzero]);
		adopt(p, bytes, op.pool, bytes > 8 ? 16 : 8, "vmem_calloc");
	}

	void do_realloc_null(const Op &op)
	{
		errno = kErrnoSentinel;
		if (op.huge)
			require_enomem(vmem_realloc(vmp(op.pool), nullptr, op.size), "vmem_realloc(NULL)",
				       op.size);
		else
			make_block(op, "vmem_realloc(NULL)",
				   [&] { return vmem_realloc(vmp(op.pool), nullptr, op.size); });
	}

	void do_realloc(const Op &op)
	{
		size_t index = op.arg % blocks.size();
		Block b = blocks[index];
		VMEM *handle = op.arg & 0x80 ? nullptr : vmp(b.pool); // NULL: the pool is looked up
		check_block(b, "before vmem_realloc");
		errno = kErrnoSentinel;
		if (op.huge) {
			require_enomem(vmem_realloc(handle, b.ptr, op.size), "vmem_realloc", op.size);
			REQUIRE(vmem_malloc_usable_size(vmp(b.pool), b.ptr) == b.usable,
				"failed vmem_realloc changed the usable size of %p", b.ptr);
			check_block(b, "after a failed vmem_realloc");
			return;
		}
		if (op.size == 0) {
			void *r = vmem_realloc(handle, b.ptr, 0);
			REQUIRE(r == nullptr && errno_kept(b.pool),
				"vmem_realloc(%p, 0) returned %p, errno %d", b.ptr, r, errno);
			take_block(index);
			release(sh_, b.pool, b.req);
			return;
		}
		if (!affordable(op.size))
			return;
		if (op.size > b.req && !reserve(sh_, b.pool, op.size - b.req))
			return;
		void *r = vmem_realloc(handle, b.ptr, op.size);
		if (r == nullptr) {
			REQUIRE(errno == ENOMEM, "vmem_realloc(%p, %zu) failed with errno %d, not ENOMEM",
				b.ptr, op.size, errno);
			if (op.size > b.req)
				release(sh_, b.pool, op.size - b.req);
			REQUIRE(vmem_malloc_usable_size(vmp(b.pool), b.ptr) == b.usable,
				"failed vmem_realloc changed the usable size of %p", b.ptr);
			check_block(b, "after a failed vmem_realloc");
			return;
		}
		// The manual's BUGS: a large block shrunk in place as the fallback
		// may leave the message (not errno) of a failure behind.
		REQUIRE(errno_kept(b.pool), "vmem_realloc(%p, %zu) succeeded but changed errno to %d", b.ptr,
			op.size, errno);
		// A block stays in place while the new size fits and is more than
		// half of it; a large block shrinks in place to any size above 64 KiB.
		bool in_place = op.size <= b.usable && (op.size > b.usable / 2 || op.size > kSmallMax);
		REQUIRE(!in_place || r == b.ptr, "vmem_realloc(%p of usable %zu, %zu) moved the block to %p",
			b.ptr, b.usable, op.size, r);
		check_block_prefix(b, r, b.usable, std::min(op.size, b.usable), "after vmem_realloc");
		if (op.size < b.req)
			release(sh_, b.pool, b.req - op.size);
		take_block(index);
		size_t usable = vmem_malloc_usable_size(vmp(b.pool), r);
		REQUIRE(usable >= op.size, "vmem_realloc(%zu) returned %p of usable size %zu", op.size, r,
			usable);
		REQUIRE(vmem_pool_from_ptr(r) == vmp(b.pool), "vmem_realloc moved %p out of its pool", r);
		REQUIRE(reinterpret_cast<uintptr_t>(r) % (op.size > 8 ? 16 : 8) == 0,
			"vmem_realloc returned %p, misaligned", r);
		b.ptr = r;
		b.req = op.size;
		b.usable = usable;
		fill_block(b);
		blocks.push_back(b);
	}

	void do_aligned(const Op &op)
	{
		unsigned shift = op.arg < 224 ? op.arg % 22 : 22 + (op.arg - 224); // 2^0 .. 2^53
		size_t alignment = size_t{1} << shift;
		errno = kErrnoSentinel;
		if (op.extra % 8 == 7) {
			// not a power of two
			size_t bad = op.extra & 8 ? 0 : alignment * (op.extra & 16 ? 3 : 7);
			size_t size = op.huge ? 64 : op.size;
			void *p = vmem_aligned_alloc(vmp(op.pool), bad, size);
			REQUIRE(p == nullptr && errno == EINVAL,
				"vmem_aligned_alloc(%zu, %zu) returned %p, errno %d", bad, size, p, errno);
			return;
		}
		if (op.huge) {
			require_enomem(vmem_aligned_alloc(vmp(op.pool), alignment, op.size),
				       "vmem_aligned_alloc", op.size);
			return;
		}
		if (!admit(op.pool, op.size))
			return;
		void *p = vmem_aligned_alloc(vmp(op.pool), alignment, op.size);
		if (shift >= 47) // no pool can hold an address so aligned but 0
			require_enomem(p, "vmem_aligned_alloc", op.size);
		else
			require_success_or_enomem(p, "vmem_aligned_alloc", op.size);
		if (p == nullptr) {
			release(sh_, op.pool, op.size);
			return;
		}
		adopt(p, op.size, op.pool, std::max(alignment, size_t{op.size > 8 ? 16u : 8u}),
		      "vmem_aligned_alloc");
	}

	void do_free(const Op &op)
	{
		if (blocks.empty())
			return;
		Block b = take_block(op.arg % blocks.size());
		check_block(b, "before vmem_free");
		errno = kErrnoSentinel;
		vmem_free(op.arg & 0x80 ? nullptr : vmp(b.pool), b.ptr);
		REQUIRE(errno_kept(b.pool), "vmem_free(%p) set errno", b.ptr);
		release(sh_, b.pool, b.req);
	}

	void do_usable(const Op &op)
	{
		errno = kErrnoSentinel;
		REQUIRE(vmem_malloc_usable_size(vmp(op.pool), nullptr) == 0 && errno == kErrnoSentinel,
			"vmem_malloc_usable_size(NULL)");
		if (blocks.empty())
			return;
		const Block &b = blocks[op.arg % blocks.size()];
		size_t u1 = vmem_malloc_usable_size(vmp(b.pool), b.ptr);
		size_t u2 = vmem_malloc_usable_size(nullptr, b.ptr);
		REQUIRE(u1 == b.usable && u2 == b.usable && errno == kErrnoSentinel,
			"usable size of %p: %zu and %zu (NULL pool), was %zu", b.ptr, u1, u2, b.usable);
		REQUIRE(vmem_pool_from_ptr(b.ptr) == vmp(b.pool), "vmem_pool_from_ptr(%p)", b.ptr);
	}

	void do_stats(const Op &op)
	{
		struct vmem_stats st;
		memset(&st, 0xa5, sizeof(st));
		if (op.arg % 16 == 15) {
			errno = 0;
			int err = vmem_stats_get(vmp(op.pool), &st, sizeof(st) - 1 - op.arg / 16);
			REQUIRE(err == EINVAL && errno == EINVAL,
				"vmem_stats_get with a short size returned %d", err);
			return;
		}
		errno = kErrnoSentinel;
		int err = vmem_stats_get(vmp(op.pool), &st, sizeof(st));
		REQUIRE(err == 0 && errno == kErrnoSentinel, "vmem_stats_get of pool %d returned %d", op.pool,
			err);
		REQUIRE(st.pool_size == sh_.pools.expected_size[op.pool], "pool %d: pool_size %zu, not %zu",
			op.pool, st.pool_size, sh_.pools.expected_size[op.pool]);
		REQUIRE(st.resident <= st.pool_size, "pool %d: resident %zu above pool_size %zu", op.pool,
			st.resident, st.pool_size);
		REQUIRE(st.active >= st.allocated, "pool %d: active %zu below allocated %zu", op.pool,
			st.active, st.allocated);
		// This thread's blocks are live all through the walk.
		size_t mine = 0, my_bytes = 0;
		for (const Block &b : blocks)
			if (b.pool == op.pool) {
				mine++;
				my_bytes += b.usable;
			}
		REQUIRE(st.allocations >= mine && st.allocated >= my_bytes,
			"pool %d: %zu allocations of %zu bytes, but this thread holds %zu of %zu", op.pool,
			st.allocations, st.allocated, mine, my_bytes);
	}

	// (An unknown policy is not tried: no such value of the enum can be
	// made in C++.  tests/api/test_extensions.c tries it from C.)
	void do_policy(const Op &op)
	{
		auto policy = op.arg & 1 ? VMEM_USAGE_POLICY_CONSERVATIVE : VMEM_USAGE_POLICY_DEFAULT;
		int err = vmem_set_usage_policy(vmp(op.pool), policy);
		REQUIRE(err == 0, "vmem_set_usage_policy returned %d", err);
	}

	void do_strdup(const Op &op)
	{
		bool wide = op.arg & 1;
		size_t len = std::min(op.size, wide ? size_t{1024} : size_t{4096});
		size_t req = wide ? (len + 1) * sizeof(wchar_t) : len + 1;
		if (!admit(op.pool, req))
			return;
		uint64_t s = next_seed();
		void *p;
		errno = kErrnoSentinel;
		if (wide) {
			std::vector<wchar_t> text(len + 1, 0);
			for (size_t i = 0; i < len; i++)
				text[i] = static_cast<wchar_t>(1 + pattern_word(s, i) % 0xd7ff);
			auto *w = vmem_wcsdup(vmp(op.pool), text.data());
			p = w;
			if (w != nullptr)
				REQUIRE(wcscmp(w, text.data()) == 0, "vmem_wcsdup copy differs");
		} else {
			std::vector<char> text(len + 1, 0);
			for (size_t i = 0; i < len; i++)
				text[i] = static_cast<char>('a' + pattern_word(s, i) % 26);
			char *c = vmem_strdup(vmp(op.pool), text.data());
			p = c;
			if (c != nullptr)
				REQUIRE(strcmp(c, text.data()) == 0, "vmem_strdup copy differs");
		}
		require_success_or_enomem(p, wide ? "vmem_wcsdup" : "vmem_strdup", len);
		if (p == nullptr) {
			release(sh_, op.pool, req);
			return;
		}
		adopt(p, req, op.pool, req > 8 ? 16 : 8, wide ? "vmem_wcsdup" : "vmem_strdup");
	}

	// Pointers and handles the library must refuse, changing nothing.
	void do_bad(const Op &op)
	{
		static const char outside[64] = {};
		errno = 0;
		switch (op.arg % 8) {
		case 0: {
			// a pointer in no pool
			void *p = const_cast<char *>(outside + op.arg % 32);
			REQUIRE(vmem_pool_from_ptr(p) == nullptr, "vmem_pool_from_ptr(%p) of no pool", p);
			vmem_free(nullptr, p);
			REQUIRE(errno == EINVAL, "vmem_free(NULL, %p) of no pool: errno %d", p, errno);
			errno = 0;
			void *r = vmem_realloc(nullptr, p, op.size);
			REQUIRE(r == nullptr && errno == EINVAL, "vmem_realloc(NULL, %p) of no pool", p);
			errno = 0;
			REQUIRE(vmem_malloc_usable_size(nullptr, p) == 0, "usable size of %p in no pool", p);
			break;
		}
		case 1:
		case 2:
		case 3: {
			// a block through another pool's handle
			if (blocks.empty())
				break;
			const Block &b = blocks[op.arg / 8 % blocks.size()];
			VMEM *other = vmp((b.pool + 1 + op.arg / 128) % kPools);
			if (op.arg % 8 == 1) {
				vmem_free(other, b.ptr);
				REQUIRE(errno == EINVAL, "vmem_free of %p through another pool: errno %d",
					b.ptr, errno);
			} else if (op.arg % 8 == 2) {
				void *r = vmem_realloc(other, b.ptr, op.huge ? 1 : op.size);
				REQUIRE(r == nullptr && errno == EINVAL,
					"vmem_realloc of %p through another pool returned %p, errno %d",
					b.ptr, r, errno);
			} else {
				size_t u = vmem_malloc_usable_size(other, b.ptr);
				REQUIRE(u == 0 && errno == EINVAL,
					"usable size of %p through another pool: %zu", b.ptr, u);
			}
			REQUIRE(vmem_malloc_usable_size(vmp(b.pool), b.ptr) == b.usable,
				"a refused call changed %p", b.ptr);
			check_block(b, "after a refused call");
			break;
		}
		case 4: {
			// a pointer into a large block, past its start
			const Block *large = nullptr;
			for (size_t i = 0; i < blocks.size() && large == nullptr; i++) {
				const Block &b = blocks[(i + op.arg / 8) % blocks.size()];
				if (b.usable > kSmallMax)
					large = &b;
			}
			if (large == nullptr)
				break;
			size_t off = 1 + (op.size % (large->usable - 1));
			void *inner = static_cast<char *>(large->ptr) + off;
			vmem_free(op.arg & 0x80 ? nullptr : vmp(large->pool), inner);
			REQUIRE(errno == EINVAL, "vmem_free of %p, %zu bytes into a large block: errno %d",
				inner, off, errno);
			errno = 0;
			size_t u = vmem_malloc_usable_size(vmp(large->pool), inner);
			REQUIRE(u == 0 && errno == EINVAL, "usable size of %p inside a large block: %zu",
				inner, u);
			errno = 0;
			void *r = vmem_realloc(vmp(large->pool), inner, 16);
			REQUIRE(r == nullptr && errno == EINVAL, "vmem_realloc of %p inside a large block",
				inner);
			check_block(*large, "after a refused call");
			break;
		}
		case 5: {
			// NULL handles and NULL pointers
			void *r = vmem_realloc(nullptr, nullptr, op.huge ? 1 : op.size);
			REQUIRE(r == nullptr && errno == EINVAL,
				"vmem_realloc(NULL, NULL) returned %p, errno %d", r, errno);
			errno = kErrnoSentinel;
			vmem_free(nullptr, nullptr);
			vmem_free(vmp(op.pool), nullptr);
			REQUIRE(errno == kErrnoSentinel, "vmem_free of NULL set errno");
			errno = 0;
			r = vmem_malloc(nullptr, op.size);
			REQUIRE(r == nullptr && errno == EINVAL, "vmem_malloc(NULL pool)");
			break;
		}
		case 6: {
			errno = 0;
			REQUIRE(vmem_check(nullptr) == -1 && errno == EINVAL, "vmem_check(NULL)");
			errno = 0;
			REQUIRE(vmem_purge(nullptr) == 0 && errno == EINVAL, "vmem_purge(NULL)");
			errno = 0;
			REQUIRE(vmem_set_usage_policy(nullptr, VMEM_USAGE_POLICY_DEFAULT) == EINVAL &&
				    errno == EINVAL,
				"vmem_set_usage_policy(NULL)");
			errno = 0;
			REQUIRE(vmem_strdup(vmp(op.pool), nullptr) == nullptr && errno == EINVAL,
				"vmem_strdup(NULL)");
			break;
		}
		default: {
			// the pool's guard page or header page, which hold no block
			long page = op.arg & 0x40 ? sysconf(_SC_PAGESIZE) : 0;
			void *p = reinterpret_cast<char *>(vmp(op.pool)) + page + 16 * (op.arg / 8 % 8);
			vmem_free(op.arg & 0x80 ? nullptr : vmp(op.pool), p);
			REQUIRE(errno == EINVAL, "vmem_free of %p in the pool's first pages: errno %d", p,
				errno);
			break;
		}
		}
	}
};

// ---------------------------------------------------------------- rounds and pools

struct Regions {
	char *base[2] = {nullptr, nullptr};
};

// Two mappings for the region pools, made once per process: a private one
// and a shared one (purges advise each differently).
Regions &regions()
{
	static Regions r = [] {
		Regions made;
		for (int i = 0; i < 2; i++) {
			int flags = (i == 0 ? MAP_PRIVATE : MAP_SHARED) | MAP_ANONYMOUS | MAP_NORESERVE;
			void *p = mmap(nullptr, kRegionMap, PROT_READ | PROT_WRITE, flags, -1, 0);
			REQUIRE(p != MAP_FAILED, "mmap of %zu bytes", kRegionMap);
			made.base[i] = static_cast<char *>(p);
		}
		return made;
	}();
	return r;
}

const char *pool_dir()
{
	const char *dir = getenv("TMPDIR");
	return dir != nullptr && *dir != '\0' ? dir : "/tmp";
}

// Reads the header; returns its flags byte.
uint8_t create_pools(Reader &in, Pools &pools)
{
	size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
	uint8_t flags = in.byte();
	for (int i = 0; i < 2; i++) {
		size_t offset = in.byte() * page;
		size_t size = VMEM_MIN_POOL + in.byte() * 16 * KiB;
		void *addr = regions().base[i] + offset;
		pools.vmp[i] = vmem_create_in_region(addr, size);
		REQUIRE(pools.vmp[i] != nullptr, "vmem_create_in_region(%p, %zu)", addr, size);
		pools.expected_size[i] = size;
	}
	size_t size = VMEM_MIN_POOL + in.byte() * 1000;
	pools.vmp[2] = vmem_create(pool_dir(), size);
	REQUIRE(pools.vmp[2] != nullptr, "vmem_create(%s, %zu)", pool_dir(), size);
	pools.expected_size[2] = (size + page - 1) / page * page;
	for (int i = 0; i < kPools; i++)
		if (flags & (1 << i))
			REQUIRE(vmem_set_usage_policy(pools.vmp[i], VMEM_USAGE_POLICY_CONSERVATIVE) == 0,
				"vmem_set_usage_policy");
	return flags;
}

// Between rounds only the calling thread uses the pools.  Its batch of
// frees bound for other threads' pages and the frees other threads handed
// to its heap are processed at the start of its next allocation above 1 KiB
// (vmem_malloc(3), Threads), so after one such allocation in each pool the
// statistics count exactly the blocks the harness holds.
void check_quiet(Shared &sh, const std::vector<Block> &blocks, const char *when)
{
	for (int i = 0; i < kPools; i++) {
		VMEM *vmp = sh.pools.vmp[i];
		void *p = vmem_malloc(vmp, 2 * KiB);
		if (p != nullptr)
			vmem_free(vmp, p);
		size_t count = 0, bytes = 0;
		for (const Block &b : blocks)
			if (b.pool == i) {
				count++;
				bytes += b.usable;
			}
		int ok = vmem_check(vmp);
		REQUIRE(ok == 1, "%s: vmem_check of pool %d returned %d", when, i, ok);
		struct vmem_stats st;
		int err = vmem_stats_get(vmp, &st, sizeof(st));
		REQUIRE(err == 0, "%s: vmem_stats_get of pool %d returned %d", when, i, err);
		REQUIRE(st.allocations == count && st.allocated == bytes,
			"%s: pool %d has %zu allocations of %zu bytes, the harness holds %zu of %zu", when, i,
			st.allocations, st.allocated, count, bytes);
		REQUIRE(st.pool_size == sh.pools.expected_size[i] && st.resident <= st.pool_size &&
			    st.active >= st.allocated,
			"%s: pool %d: pool_size %zu resident %zu active %zu allocated %zu", when, i,
			st.pool_size, st.resident, st.active, st.allocated);
	}
	for (const Block &b : blocks)
		check_block(b, when);
}

// Runs one round; checks the pools when it had a second thread, or when
// `last`.
void run_round(Shared &sh, Actor &main_actor, const std::vector<Op> &ops, uint8_t handover, uint64_t salt,
	       bool last)
{
	std::vector<Op> mine, theirs;
	for (const Op &op : ops)
		(op.thread ? theirs : mine).push_back(op);

	if (theirs.empty()) {
		main_actor.run(mine);
	} else {
		// The second thread starts with some of the calling thread's blocks,
		// which it may free while their owner allocates from the same pages.
		Actor worker(sh, 1, salt);
		std::vector<Block> keep;
		for (size_t i = 0; i < main_actor.blocks.size(); i++)
			(handover & (1u << (i % 8)) ? worker.blocks : keep).push_back(main_actor.blocks[i]);
		main_actor.blocks = std::move(keep);

		std::atomic<bool> started{false};
		std::thread thread([&] {
			started.store(true, std::memory_order_release);
			worker.run(theirs);
		});
		while (!started.load(std::memory_order_acquire))
			std::this_thread::yield();
		main_actor.run(mine);
		thread.join();
		// The second thread's heaps were given up when it exited.
		main_actor.blocks.insert(main_actor.blocks.end(), worker.blocks.begin(), worker.blocks.end());
	}
	for (Mailbox &box : sh.mailbox) {
		main_actor.blocks.insert(main_actor.blocks.end(), box.blocks.begin(), box.blocks.end());
		box.blocks.clear();
	}
	if (!theirs.empty() || last)
		check_quiet(sh, main_actor.blocks, "end of round");
}

void finish(Shared &sh, Actor &main_actor, bool null_frees)
{
	std::vector<Block> &blocks = main_actor.blocks;
	for (size_t i = 0; i < blocks.size(); i++) {
		errno = kErrnoSentinel;
		vmem_free(null_frees && i % 2 ? nullptr : sh.pools.vmp[blocks[i].pool], blocks[i].ptr);
		REQUIRE(errno_kept(blocks[i].pool), "vmem_free(%p) at the end set errno", blocks[i].ptr);
		release(sh, blocks[i].pool, blocks[i].req);
	}
	blocks.clear();
	check_quiet(sh, blocks, "after freeing everything");
	for (int i = 0; i < kPools; i++) {
		REQUIRE(sh.live_req[i].load() == 0, "harness lost count of pool %d", i);
		vmem_purge(sh.pools.vmp[i]);
		// Nothing is lost: with every block freed, a quarter of the pool
		// can be had in one block.
		size_t quarter = sh.pools.expected_size[i] / 4;
		void *p = vmem_malloc(sh.pools.vmp[i], quarter);
		REQUIRE(p != nullptr, "pool %d with every block freed has no room for %zu bytes", i, quarter);
		vmem_free(sh.pools.vmp[i], p);
		REQUIRE(vmem_check(sh.pools.vmp[i]) == 1, "vmem_check of pool %d at the end", i);
		vmem_delete(sh.pools.vmp[i]);
	}
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Reader in(data, size);
	Shared sh;
	for (auto &count : sh.live_req)
		count.store(0);
	uint8_t flags = create_pools(in, sh.pools);
	std::vector<Op> ops = decode_ops(in);

	uint64_t salt = 0;
	for (size_t i = 0; i < size && i < 16; i++)
		salt = salt * 131 + data[i];
	Actor main_actor(sh, 0, salt);

	// Cut the list into rounds at kRoundEnd (at most kMaxRounds of them).
	size_t rounds = 0;
	std::vector<Op> round;
	uint8_t handover = 0;
	for (size_t i = 0; i <= ops.size(); i++) {
		bool last = i == ops.size();
		if (last || (ops[i].kind == kRoundEnd && rounds + 1 < kMaxRounds)) {
			run_round(sh, main_actor, round, handover, salt + 1000 * ++rounds, last);
			round.clear();
			if (!last)
				handover = ops[i].arg;
			continue;
		}
		round.push_back(ops[i]);
	}
	finish(sh, main_actor, flags & 8);
	return 0;
}
