/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_stress.c -- `make check-stress`: a long run of mixed calls by many
 * short-lived threads over many pools, every block's contents verified.
 *
 * A controller keeps VMEM_STRESS_THREADS workers (64) alive: each does a
 * budget of operations (about VMEM_STRESS_THREAD_OPS, 20,000) and exits, and
 * a new worker takes its place until VMEM_STRESS_OPS operations (10,000,000)
 * are done, so hundreds of threads live and die over VMEM_STRESS_POOLS
 * pools (100; file and region pools of 16 to 32 MiB, alternately).  A block
 * is filled at allocation with a pattern drawn from a seed of its own and
 * verified before every free and realloc; workers hand blocks to each
 * other through a shared exchange, and a worker that exits leaves some of
 * its blocks there, so blocks outlive the threads that allocated them.  A
 * checker thread runs vmem_check on every pool at a few points during the
 * run.  At the end the blocks still in the exchange are verified and freed
 * by threads that then exit, and every pool must pass vmem_check and be
 * back at the usage it had when it was created.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <execinfo.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libvmem.h>

#include "test_helpers.h"

/* ---------------------------------------------------------------- settings */

struct settings {
	long ops;	 /* VMEM_STRESS_OPS: operations in all */
	long threads;	 /* VMEM_STRESS_THREADS: workers alive at once */
	long pools;	 /* VMEM_STRESS_POOLS */
	long thread_ops; /* VMEM_STRESS_THREAD_OPS: a worker's mean budget */
	long checks;	 /* VMEM_STRESS_CHECKS: rounds of vmem_check during the run */
	long stall;	 /* VMEM_STRESS_STALL: seconds without progress that count as a hang */
	uint64_t seed;	 /* VMEM_STRESS_SEED: for the random choices; printed */
};

static struct settings cfg;

/* A whole number from the environment, or `fallback`; false if malformed or out of range. */
static bool setting(const char *name, long fallback, long min, long max, long *out)
{
	const char *text = getenv(name);
	*out = fallback;
	if (text == NULL || *text == '\0')
		return true;
	char *end;
	errno = 0;
	long long value = strtoll(text, &end, 0);
	if (errno != 0 || *end != '\0' || value < min || value > max) {
		printf("# %s=%s: expected a whole number from %ld to %ld\n", name, text, min, max);
		return false;
	}
	*out = (long)value;
	return true;
}

static bool read_settings(void)
{
	long seed;
	bool ok = setting("VMEM_STRESS_OPS", 10000000, 0, 1000000000000L, &cfg.ops) &
		  setting("VMEM_STRESS_THREADS", 64, 1, 1000, &cfg.threads) &
		  setting("VMEM_STRESS_POOLS", 100, 1, 1000, &cfg.pools) &
		  setting("VMEM_STRESS_THREAD_OPS", 20000, 1, 1000000000L, &cfg.thread_ops) &
		  setting("VMEM_STRESS_CHECKS", 4, 0, 1000, &cfg.checks) &
		  setting("VMEM_STRESS_STALL", 600, 1, 86400, &cfg.stall) &
		  setting("VMEM_STRESS_SEED", 0, 0, __LONG_MAX__, &seed);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	cfg.seed = seed != 0 ? (uint64_t)seed : (uint64_t)(now.tv_sec * 1000003 + now.tv_nsec) | 1;
	return ok;
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Diagnostics go out as TAP comments, one line at a time; the first
 * REPORT_MAX incidents are told, the rest only counted. */
enum { REPORT_MAX = 40 };
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_long incidents;

static void comment(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void comment(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&print_lock);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
	pthread_mutex_unlock(&print_lock);
	va_end(ap);
}

#define INCIDENT(...)                                                                                        \
	do {                                                                                                 \
		if (atomic_fetch_add(&incidents, 1) < REPORT_MAX)                                            \
			comment(__VA_ARGS__);                                                                \
	} while (0)

/* ---------------------------------------------------------------- pools */

struct pool {
	VMEM *vmp;
	int index;
	bool file;
	size_t size;
	void *region; /* the mapping of a region pool */
	struct vmem_stats start, end;
	long ops, enomem; /* added up from the workers as they are joined */
};

static struct pool *pools;
static char *pool_dir;

/* 16, 20, 24, 28, 32 MiB in turn; even pools in files, odd ones in regions. */
static size_t pool_size_of(long i)
{
	return (16 + 4 * (size_t)(i % 5)) * MiB;
}

static const char *kind_of(const struct pool *p)
{
	return p->file ? "file" : "region";
}

static void print_stats(const char *label, const struct vmem_stats *st)
{
	comment("    %-6s allocated %zu, allocations %zu, active %zu, resident %zu, metadata %zu", label,
		st->allocated, st->allocations, st->active, st->resident, st->metadata);
}

static void print_pool(const struct pool *p)
{
	comment("  pool %d (%s, %zu MiB at %p): %ld operations, %ld ENOMEM", p->index, kind_of(p),
		p->size / MiB, (void *)p->vmp, p->ops, p->enomem);
	print_stats("start", &p->start);
	print_stats("end", &p->end);
}

static int create_pools(void **state)
{
	(void)state;
	if (!read_settings())
		return -1;
	pool_dir = make_test_dir();
	if (pool_dir == NULL)
		return -1;
	pools = calloc((size_t)cfg.pools, sizeof(*pools));
	for (long i = 0; i < cfg.pools; i++) {
		struct pool *p = &pools[i];
		p->index = (int)i;
		p->size = pool_size_of(i);
		p->file = i % 2 == 0;
		if (p->file) {
			p->vmp = vmem_create(pool_dir, p->size);
		} else {
			p->region = map_region(p->size);
			p->vmp = p->region != NULL ? vmem_create_in_region(p->region, p->size) : NULL;
		}
		if (p->vmp == NULL) {
			comment("pool %ld (%s, %zu MiB) not created: %s", i, kind_of(p), p->size / MiB,
				vmem_errormsg());
			return -1;
		}
		if (vmem_stats_get(p->vmp, &p->start, sizeof(p->start)) != 0) {
			comment("pool %ld: vmem_stats_get failed: %s", i, vmem_errormsg());
			return -1;
		}
	}
	return 0;
}

static int delete_pools(void **state)
{
	(void)state;
	for (long i = 0; pools != NULL && i < cfg.pools; i++) {
		if (pools[i].vmp != NULL)
			vmem_delete(pools[i].vmp);
		if (pools[i].region != NULL)
			unmap_region(pools[i].region, pools[i].size);
	}
	free(pools);
	remove_test_dir(pool_dir);
	return 0;
}

/* ---------------------------------------------------------------- blocks */

struct block {
	unsigned char *ptr; /* NULL: no block */
	struct pool *pool;
	size_t size;
	uint64_t seed;
};

/* The pattern: 64-bit words, word i a mix of the block's seed and i, so
 * that a block grown by realloc keeps its seed and only the new bytes are
 * written.  Bytes are read and written through the word's memory image. */
static inline uint64_t pattern_word(uint64_t seed, size_t word)
{
	uint64_t x = seed ^ (word * 0x9e3779b97f4a7c15ULL);
	x *= 0xbf58476d1ce4e5b9ULL;
	return x ^ (x >> 31);
}

static inline unsigned char pattern_byte(uint64_t seed, size_t offset)
{
	uint64_t w = pattern_word(seed, offset / 8);
	unsigned char bytes[8];
	memcpy(bytes, &w, 8);
	return bytes[offset % 8];
}

/* Writes the pattern over bytes [from, to) of a block. */
static void fill_range(unsigned char *block, size_t from, size_t to, uint64_t seed)
{
	size_t i = from;
	for (; i < to && i % 8 != 0; i++)
		block[i] = pattern_byte(seed, i);
	for (; i + 8 <= to; i += 8) {
		uint64_t w = pattern_word(seed, i / 8);
		memcpy(block + i, &w, 8);
	}
	for (; i < to; i++)
		block[i] = pattern_byte(seed, i);
}

/* The offset of the first of bytes [0, to) that does not hold the pattern, or SIZE_MAX. */
static size_t first_damaged(const unsigned char *block, size_t to, uint64_t seed)
{
	size_t i = 0;
	for (; i + 8 <= to; i += 8) {
		uint64_t w;
		memcpy(&w, block + i, 8);
		if (w != pattern_word(seed, i / 8))
			break;
	}
	for (; i < to; i++) {
		if (block[i] != pattern_byte(seed, i))
			return i;
	}
	return SIZE_MAX;
}

static size_t first_nonzero(const unsigned char *block, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		if (block[i] != 0)
			return i;
	}
	return SIZE_MAX;
}

/* ---------------------------------------------------------------- counts */

struct counts {
	long ops, mallocs, callocs, aligned, reallocs, frees, null_frees, null_reallocs, handed, taken,
	    purges, stats, enomem, damaged, errors, errno_changed, final_frees;
};

static void add_counts(struct counts *to, const struct counts *from)
{
	long *t = (long *)to;
	const long *f = (const long *)from;
	for (size_t i = 0; i < sizeof(*to) / sizeof(long); i++)
		t[i] += f[i];
}

/* One thread's view: its random state, counts and per-pool figures. */
struct actor {
	uint64_t rng;
	struct counts counts;
	long *pool_ops, *pool_enomem; /* cfg.pools each */
};

/* Verifies a block's first `size` bytes; false (and a report) when damaged. */
static bool intact(struct actor *a, const struct block *b, size_t size, const char *when)
{
	size_t at = first_damaged(b->ptr, size, b->seed);
	if (at == SIZE_MAX)
		return true;
	a->counts.damaged++;
	INCIDENT("damaged block %p of %zu bytes in pool %d (%s) %s: byte %zu is 0x%02x, expected 0x%02x",
		 (void *)b->ptr, b->size, b->pool->index, kind_of(b->pool), when, at, b->ptr[at],
		 pattern_byte(b->seed, at));
	return false;
}

/* A NULL result: ENOMEM is allowed (the pool is full), anything else is an error. */
static void refused(struct actor *a, struct pool *p, const char *call, size_t size)
{
	if (errno == ENOMEM) {
		a->counts.enomem++;
		a->pool_enomem[p->index]++;
		return;
	}
	a->counts.errors++;
	INCIDENT("%s of %zu bytes in pool %d (%s) failed with errno %d: %s", call, size, p->index, kind_of(p),
		 errno, vmem_errormsg());
}

/* A successful call leaves errno as it was (vmem_malloc(3), vmem_stats_get(3),
 * vmem_check(3)); errno is 0 before every call here. */
static void errno_kept(struct actor *a, const char *call, const struct pool *p)
{
	if (errno == 0)
		return;
	a->counts.errno_changed++;
	INCIDENT("a successful %s in pool %d (%s) changed errno to %d (%s); message \"%s\"", call, p->index,
		 kind_of(p), errno, strerror(errno), vmem_errormsg());
	errno = 0;
}

/* What every new block must satisfy: in its pool, as large as asked (b->size). */
static void check_new_block(struct actor *a, const struct block *b, const char *call)
{
	errno_kept(a, call, b->pool);
	VMEM *owner = vmem_pool_from_ptr(b->ptr);
	if (owner != b->pool->vmp) {
		a->counts.errors++;
		INCIDENT("%s returned %p in pool %d, but vmem_pool_from_ptr says %p", call, (void *)b->ptr,
			 b->pool->index, (void *)owner);
	}
	if (next_random(&a->rng) % 16 == 0) {
		size_t usable = vmem_malloc_usable_size(b->pool->vmp, b->ptr);
		errno_kept(a, "vmem_malloc_usable_size", b->pool);
		if (usable < b->size) {
			a->counts.errors++;
			INCIDENT("%s: block %p of %zu bytes in pool %d has a usable size of %zu", call,
				 (void *)b->ptr, b->size, b->pool->index, usable);
		}
	}
}

/* Sizes from 0 to 4 MiB, skewed small: 60% under 128 B, 25% under 1 KiB,
 * 10% under 16 KiB, 4% under 128 KiB, 1% up to 4 MiB, spread evenly over
 * the powers of two within each range. */
static size_t random_size(uint64_t *rng)
{
	uint64_t r = next_random(rng);
	unsigned bucket = (unsigned)(r % 100), lo, hi;
	if (bucket < 60)
		lo = 0, hi = 7;
	else if (bucket < 85)
		lo = 7, hi = 10;
	else if (bucket < 95)
		lo = 10, hi = 14;
	else if (bucket < 99)
		lo = 14, hi = 17;
	else
		lo = 17, hi = 22;
	if ((r >> 8) % 256 == 0)
		return 0;
	unsigned bits = lo + (unsigned)((r >> 16) % (hi - lo));
	size_t base = (size_t)1 << bits;
	return base + (size_t)((r >> 24) % base);
}

/* ---------------------------------------------------------------- the exchange */

/* Blocks in passage between threads: a ring under a mutex, oldest out first. */
enum { EXCHANGE_CAPACITY = 4096 };
static struct {
	pthread_mutex_t lock;
	struct block slots[EXCHANGE_CAPACITY];
	size_t head, count;
} exchange = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool exchange_put(const struct block *b)
{
	pthread_mutex_lock(&exchange.lock);
	bool room = exchange.count < EXCHANGE_CAPACITY;
	if (room) {
		exchange.slots[(exchange.head + exchange.count) % EXCHANGE_CAPACITY] = *b;
		exchange.count++;
	}
	pthread_mutex_unlock(&exchange.lock);
	return room;
}

static bool exchange_take(struct block *b)
{
	pthread_mutex_lock(&exchange.lock);
	bool any = exchange.count > 0;
	if (any) {
		*b = exchange.slots[exchange.head];
		exchange.head = (exchange.head + 1) % EXCHANGE_CAPACITY;
		exchange.count--;
	}
	pthread_mutex_unlock(&exchange.lock);
	return any;
}

/* ---------------------------------------------------------------- operations */

/* Allocates a block in `p` by malloc, calloc or aligned_alloc; false when refused. */
static bool allocate(struct actor *a, struct pool *p, struct block *b, unsigned how)
{
	size_t size = random_size(&a->rng);
	uint64_t r = next_random(&a->rng);
	b->pool = p;
	b->seed = next_random(&a->rng);
	a->pool_ops[p->index]++;
	errno = 0;
	if (how < 55) {
		a->counts.mallocs++;
		b->ptr = vmem_malloc(p->vmp, size);
		if (b->ptr == NULL) {
			refused(a, p, "vmem_malloc", size);
			return false;
		}
		b->size = size;
		check_new_block(a, b, "vmem_malloc");
	} else if (how < 80) {
		a->counts.callocs++;
		size_t nmemb = 1 + r % 8;
		if (size < nmemb)
			nmemb = 1;
		size = size / nmemb * nmemb;
		b->ptr = vmem_calloc(p->vmp, nmemb, size / nmemb);
		if (b->ptr == NULL) {
			refused(a, p, "vmem_calloc", size);
			return false;
		}
		size_t at = first_nonzero(b->ptr, size);
		if (at != SIZE_MAX) {
			a->counts.errors++;
			INCIDENT(
			    "vmem_calloc(%zu x %zu) in pool %d (%s) returned %p, whose byte %zu is 0x%02x",
			    nmemb, size / nmemb, p->index, kind_of(p), (void *)b->ptr, at, b->ptr[at]);
		}
		b->size = size;
		check_new_block(a, b, "vmem_calloc");
	} else {
		a->counts.aligned++;
		/* 1 B to 16 KiB mostly, 32 KiB to 1 MiB now and then */
		size_t alignment = (r >> 8) % 16 == 0 ? (size_t)1 << (15 + r % 6) : (size_t)1 << (r % 15);
		b->ptr = vmem_aligned_alloc(p->vmp, alignment, size);
		if (b->ptr == NULL) {
			refused(a, p, "vmem_aligned_alloc", size);
			return false;
		}
		if ((uintptr_t)b->ptr % alignment != 0) {
			a->counts.errors++;
			INCIDENT("vmem_aligned_alloc(%zu, %zu) in pool %d returned %p", alignment, size,
				 p->index, (void *)b->ptr);
		}
		b->size = size;
		check_new_block(a, b, "vmem_aligned_alloc");
	}
	fill_range(b->ptr, 0, size, b->seed);
	return true;
}

/* Verifies and frees a block, through its pool or (`null_pool`) through NULL. */
static void release(struct actor *a, struct block *b, bool null_pool)
{
	intact(a, b, b->size, "before vmem_free");
	a->pool_ops[b->pool->index]++;
	errno = 0;
	vmem_free(null_pool ? NULL : b->pool->vmp, b->ptr);
	errno_kept(a, null_pool ? "vmem_free(NULL, ...)" : "vmem_free", b->pool);
	a->counts.frees++;
	a->counts.null_frees += null_pool;
	b->ptr = NULL;
}

/* Verifies a block and resizes it: to a random size, or by half up or down. */
static void resize(struct actor *a, struct block *b)
{
	uint64_t r = next_random(&a->rng);
	size_t size;
	switch (r % 4) {
	case 0:
		size = b->size + b->size / 2 + 1;
		break;
	case 1:
		size = b->size / 2;
		break;
	default:
		size = random_size(&a->rng);
		break;
	}
	bool null_pool = (r >> 8) % 8 == 0;
	if (!intact(a, b, b->size, "before vmem_realloc"))
		fill_range(b->ptr, 0, b->size, b->seed); /* told once; go on with a good block */
	if (size == 0 && (r >> 16) % 8 != 0)
		size = 1; /* a realloc to 0, a free, only now and then */
	a->counts.reallocs++;
	a->counts.null_reallocs += null_pool;
	a->pool_ops[b->pool->index]++;
	errno = 0;
	unsigned char *moved = vmem_realloc(null_pool ? NULL : b->pool->vmp, b->ptr, size);
	if (size == 0) {
		if (moved != NULL) {
			a->counts.errors++;
			INCIDENT("vmem_realloc(%p, 0) in pool %d returned %p", (void *)b->ptr, b->pool->index,
				 (void *)moved);
		}
		errno_kept(a, "vmem_realloc(..., 0)", b->pool);
		a->counts.frees++;
		b->ptr = NULL;
		return;
	}
	if (moved == NULL) {
		/* refused: the block is as it was */
		refused(a, b->pool, "vmem_realloc", size);
		intact(a, b, b->size, "after a failed vmem_realloc");
		return;
	}
	unsigned char *was = b->ptr;
	size_t kept = size < b->size ? size : b->size;
	b->ptr = moved;
	if (!intact(a, b, kept, "after vmem_realloc (the kept prefix)")) {
		INCIDENT("  (vmem_realloc(%p, %zu) of a %zu-byte block, moved to %p)", (void *)was, size,
			 b->size, (void *)moved);
		fill_range(b->ptr, 0, kept, b->seed); /* told once */
	}
	fill_range(b->ptr, kept, size, b->seed);
	b->size = size;
	check_new_block(a, b, "vmem_realloc");
}

static void stats_sanity(struct actor *a, struct pool *p, const char *who)
{
	struct vmem_stats st;
	a->counts.stats++;
	errno = 0;
	if (vmem_stats_get(p->vmp, &st, sizeof(st)) != 0) {
		a->counts.errors++;
		INCIDENT("%s: vmem_stats_get of pool %d failed: %s", who, p->index, vmem_errormsg());
		return;
	}
	errno_kept(a, "vmem_stats_get", p);
	if (st.pool_size != p->size || st.allocated > st.pool_size || st.active > st.pool_size ||
	    st.allocations > st.pool_size / 8) {
		a->counts.errors++;
		INCIDENT(
		    "%s: pool %d (%zu bytes) reports size %zu, allocated %zu, active %zu, allocations %zu",
		    who, p->index, p->size, st.pool_size, st.allocated, st.active, st.allocations);
	}
}

/* ---------------------------------------------------------------- workers */

enum { LIVE = 128, HOME_POOLS = 4 };

struct worker {
	pthread_t thread;
	int slot;
	long budget;
	struct actor actor;
};

static atomic_long progress; /* operations done, told 256 at a time */
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int *done_slots; /* workers that have finished, not yet joined */
static int done_count;

/* A worker mostly uses its home pools, now and then any pool: its heaps
 * then pass the bound of 64 per thread and the oldest are abandoned. */
static struct pool *choose_pool(struct actor *a, const int *home)
{
	uint64_t r = next_random(&a->rng);
	if (r % 8 == 0)
		return &pools[(r >> 8) % (uint64_t)cfg.pools];
	return &pools[home[(r >> 8) % HOME_POOLS]];
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct actor *a = &w->actor;
	struct block live[LIVE];
	memset(live, 0, sizeof(live));
	int home[HOME_POOLS];
	for (int i = 0; i < HOME_POOLS; i++)
		home[i] = (int)(next_random(&a->rng) % (uint64_t)cfg.pools);

	for (long op = 0; op < w->budget; op++) {
		if (op % 256 == 255)
			atomic_fetch_add_explicit(&progress, 256, memory_order_relaxed);
		a->counts.ops++;
		uint64_t r = next_random(&a->rng);
		if (r % 1024 == 0) {
			stats_sanity(a, choose_pool(a, home), "worker");
			continue;
		}
		if (r % 32768 == 1) {
			struct pool *p = choose_pool(a, home);
			a->counts.purges++;
			vmem_purge(p->vmp);
			continue;
		}
		struct block *b = &live[(r >> 16) % LIVE];
		unsigned how = (unsigned)((r >> 32) % 100);
		if (b->ptr == NULL) {
			if (how >= 85 && exchange_take(b)) {
				/* another thread's block, maybe of a thread gone */
				a->counts.taken++;
				intact(a, b, b->size, "taken from the exchange");
				continue;
			}
			allocate(a, choose_pool(a, home), b, how * 100 / 85);
			continue;
		}
		if (how < 40) {
			release(a, b, false);
		} else if (how < 55) {
			release(a, b, true);
		} else if (how < 80) {
			resize(a, b);
		} else if (exchange_put(b)) {
			/* verified by the thread that takes it */
			a->counts.handed++;
			b->ptr = NULL;
		} else {
			release(a, b, how % 2 == 0);
		}
	}
	atomic_fetch_add_explicit(&progress, w->budget % 256, memory_order_relaxed);
	/* half of what is left goes to the exchange, to outlive this thread */
	for (int i = 0; i < LIVE; i++) {
		struct block *b = &live[i];
		if (b->ptr == NULL)
			continue;
		uint64_t r = next_random(&a->rng);
		if (r % 2 == 0 && exchange_put(b)) {
			a->counts.handed++;
			b->ptr = NULL;
		} else {
			release(a, b, (r >> 8) % 4 == 0);
		}
	}
	pthread_mutex_lock(&done_lock);
	done_slots[done_count++] = w->slot;
	pthread_cond_signal(&done_cond);
	pthread_mutex_unlock(&done_lock);
	return NULL;
}

/* The last frees: threads that empty the exchange and exit. */
static void *drain(void *arg)
{
	struct actor *a = arg;
	struct block b;
	while (exchange_take(&b)) {
		release(a, &b, next_random(&a->rng) % 4 == 0);
		a->counts.final_frees++;
	}
	return NULL;
}

/* ---------------------------------------------------------------- the checker */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	long rounds, failures;
	struct counts counts;
} checker = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* Runs vmem_check and vmem_stats_get on every pool after each share of the
 * operations, while the workers run; aborts the program if the operations
 * stop moving for cfg.stall seconds (a hang). */
static void *check_during_run(void *arg)
{
	(void)arg;
	struct actor a = {.rng = cfg.seed ^ 0xc0ffee};
	long *pool_counts = calloc(2 * (size_t)cfg.pools, sizeof(long));
	a.pool_ops = pool_counts;
	a.pool_enomem = pool_counts + cfg.pools;
	long last_done = -1;
	long round = 1;
	struct timespec last_move;
	clock_gettime(CLOCK_MONOTONIC, &last_move);
	pthread_mutex_lock(&checker.lock);
	while (!checker.stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&checker.cond, &checker.lock, &until);
		if (checker.stop)
			break;
		long done = atomic_load_explicit(&progress, memory_order_relaxed);
		if (done != last_done) {
			last_done = done;
			clock_gettime(CLOCK_MONOTONIC, &last_move);
		} else if (seconds_since(&last_move) > (double)cfg.stall) {
			comment("no operation done for %ld s: a hang (VMEM_STRESS_STALL); aborting",
				cfg.stall);
			abort();
		}
		if (round > cfg.checks || done < cfg.ops / (cfg.checks + 1) * round)
			continue;
		pthread_mutex_unlock(&checker.lock);
		long failures = 0;
		for (long i = 0; i < cfg.pools; i++) {
			errno = 0;
			if (vmem_check(pools[i].vmp) != 1) {
				failures++;
				INCIDENT("check round %ld: vmem_check(pool %ld, %s) is not 1: %s", round, i,
					 kind_of(&pools[i]), vmem_errormsg());
			}
			errno_kept(&a, "vmem_check", &pools[i]);
			stats_sanity(&a, &pools[i], "checker");
		}
		pthread_mutex_lock(&checker.lock);
		checker.rounds++;
		checker.failures += failures;
		round++;
	}
	checker.counts = a.counts;
	pthread_mutex_unlock(&checker.lock);
	free(pool_counts);
	return NULL;
}

/* ---------------------------------------------------------------- the run */

/*
 * A fault in a worker cannot go back to CMocka's handler (it would jump
 * into the main thread's stack from another thread): it is told, with the
 * faulting thread's stack, and the program dies of the signal, which the
 * TAP driver reports.
 */
static void on_crash(int sig, siginfo_t *info, void *context)
{
	(void)context;
	char line[160];
	int n = snprintf(line, sizeof(line), "# crashed: signal %d (%s) at address %p in thread %lu\n", sig,
			 strsignal(sig), info->si_addr, (unsigned long)pthread_self());
	if (write(STDOUT_FILENO, line, (size_t)n) < 0)
		_exit(128 + sig);
	void *frames[48];
	backtrace_symbols_fd(frames, backtrace(frames, 48), STDOUT_FILENO);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void catch_crashes(void)
{
	void *frame;
	backtrace(&frame, 1); /* loads what backtrace needs now, not in the handler */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_crash;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	const int signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		sigaction(signals[i], &sa, NULL);
}

static struct counts totals;
static long threads_started;
static double elapsed;

/* Starts a worker in `w` with the next budget: half to one and a half
 * times the mean, so that workers end at different times, and no more
 * than is left of cfg.ops.  *assigned counts what is handed out. */
static void start_worker(struct worker *w, uint64_t *plan, long *assigned)
{
	long budget = cfg.thread_ops / 2 + (long)(next_random(plan) % (uint64_t)(cfg.thread_ops + 1));
	if (budget > cfg.ops - *assigned)
		budget = cfg.ops - *assigned;
	*assigned += budget;
	w->budget = budget;
	w->actor.rng = (cfg.seed + (uint64_t)(threads_started + 1) * 0x9e3779b97f4a7c15ULL) | 1;
	memset(&w->actor.counts, 0, sizeof(w->actor.counts));
	memset(w->actor.pool_ops, 0, 2 * (size_t)cfg.pools * sizeof(long));
	int rc = pthread_create(&w->thread, NULL, work, w);
	if (rc != 0) {
		comment("pthread_create: %s", strerror(rc));
		abort();
	}
	threads_started++;
}

static void gather(struct actor *a)
{
	add_counts(&totals, &a->counts);
	for (long i = 0; i < cfg.pools; i++) {
		pools[i].ops += a->pool_ops[i];
		pools[i].enomem += a->pool_enomem[i];
	}
}

static void stress_run(void **state)
{
	(void)state;
	comment("stress: %ld operations, %ld threads at once (about %ld operations each), %ld pools, seed "
		"%" PRIu64,
		cfg.ops, cfg.threads, cfg.thread_ops, cfg.pools, cfg.seed);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	catch_crashes();

	pthread_t checker_thread;
	assert_int_equal(pthread_create(&checker_thread, NULL, check_during_run, NULL), 0);

	struct worker *workers = calloc((size_t)cfg.threads, sizeof(*workers));
	long *pool_counts = calloc((size_t)cfg.threads * 2 * (size_t)cfg.pools, sizeof(long));
	done_slots = calloc((size_t)cfg.threads, sizeof(int));
	uint64_t plan = cfg.seed ^ 0x5eed;
	long assigned = 0, running = 0;
	for (long t = 0; t < cfg.threads && assigned < cfg.ops; t++) {
		struct worker *w = &workers[t];
		w->slot = (int)t;
		w->actor.pool_ops = pool_counts + (size_t)t * 2 * (size_t)cfg.pools;
		w->actor.pool_enomem = w->actor.pool_ops + cfg.pools;
		start_worker(w, &plan, &assigned);
		running++;
	}
	while (running > 0) {
		pthread_mutex_lock(&done_lock);
		while (done_count == 0)
			pthread_cond_wait(&done_cond, &done_lock);
		int slot = done_slots[--done_count];
		pthread_mutex_unlock(&done_lock);
		struct worker *w = &workers[slot];
		pthread_join(w->thread, NULL);
		gather(&w->actor);
		running--;
		if (assigned < cfg.ops) {
			start_worker(w, &plan, &assigned);
			running++;
		}
	}
	double work_time = seconds_since(&start);

	pthread_mutex_lock(&checker.lock);
	checker.stop = true;
	pthread_cond_signal(&checker.cond);
	pthread_mutex_unlock(&checker.lock);
	pthread_join(checker_thread, NULL);

	/* what is left in the exchange is verified and freed by threads that then exit */
	enum { DRAINERS = 4 };
	pthread_t drainers[DRAINERS];
	struct actor drain_actors[DRAINERS];
	long *drain_counts = calloc(DRAINERS * 2 * (size_t)cfg.pools, sizeof(long));
	for (int d = 0; d < DRAINERS; d++) {
		drain_actors[d] =
		    (struct actor){.rng = (cfg.seed ^ 0xd7a1) + 2 * (uint64_t)d + 1,
				   .pool_ops = drain_counts + (size_t)d * 2 * (size_t)cfg.pools};
		drain_actors[d].pool_enomem = drain_actors[d].pool_ops + cfg.pools;
		assert_int_equal(pthread_create(&drainers[d], NULL, drain, &drain_actors[d]), 0);
	}
	for (int d = 0; d < DRAINERS; d++) {
		pthread_join(drainers[d], NULL);
		gather(&drain_actors[d]);
	}
	free(drain_counts);
	elapsed = seconds_since(&start);

	add_counts(&totals, &checker.counts);
	comment("done in %.1f s (workers %.1f s): %ld operations, %ld threads started, %ld ENOMEM", elapsed,
		work_time, totals.ops, threads_started, totals.enomem);
	comment("  malloc %ld, calloc %ld, aligned_alloc %ld, realloc %ld (%ld NULL-pool), free %ld "
		"(%ld NULL-pool)",
		totals.mallocs, totals.callocs, totals.aligned, totals.reallocs, totals.null_reallocs,
		totals.frees, totals.null_frees);
	comment("  handed to another thread %ld, taken over %ld, freed at the end %ld, purge %ld, stats %ld",
		totals.handed, totals.taken, totals.final_frees, totals.purges, totals.stats);
	comment("  checks during the run: %ld rounds over every pool, %ld failed", checker.rounds,
		checker.failures);
	comment("  damaged blocks %ld, other errors %ld, successful calls that changed errno %ld",
		totals.damaged, totals.errors, totals.errno_changed);
	free(workers);
	free(pool_counts);
	free(done_slots);

	assert_int_equal(totals.ops, cfg.ops);
	assert_int_equal(totals.damaged, 0);
	assert_int_equal(totals.errors, 0);
	assert_int_equal(totals.errno_changed, 0);
	assert_int_equal(checker.failures, 0);
}

/* ---------------------------------------------------------------- after the run */

static void every_pool_consistent(void **state)
{
	(void)state;
	long failures = 0;
	for (long i = 0; i < cfg.pools; i++) {
		if (vmem_check(pools[i].vmp) != 1) {
			failures++;
			comment("vmem_check(pool %ld) is not 1: %s", i, vmem_errormsg());
			print_pool(&pools[i]);
		}
	}
	assert_int_equal(failures, 0);
}

/*
 * Every block is freed and every thread that used a pool has exited, so
 * its heaps are abandoned: each pool must hold no block (allocations and
 * allocated back to their figures at creation, 0) and no page or span with
 * a live block (active).  Metadata keeps the heap slabs made on the way,
 * and resident memory depends on the usage policy: both are told, and
 * again after a vmem_purge, which gives back the slabs and the pages that
 * emptied after their thread exited.
 */
static void usage_back_to_start(void **state)
{
	(void)state;
	long failures = 0;
	struct vmem_stats sum_start = {0}, sum_end = {0};
	size_t purged = 0, resident_after_purge = 0, metadata_after_purge = 0;
	for (long i = 0; i < cfg.pools; i++) {
		struct pool *p = &pools[i];
		if (vmem_stats_get(p->vmp, &p->end, sizeof(p->end)) != 0) {
			failures++;
			comment("vmem_stats_get(pool %ld) failed: %s", i, vmem_errormsg());
			continue;
		}
		if (p->end.allocations != p->start.allocations || p->end.allocated != p->start.allocated ||
		    p->end.active != p->start.active || p->end.pool_size != p->start.pool_size) {
			failures++;
			comment("pool %ld is not back to its usage at creation:", i);
			print_pool(p);
		}
		sum_start.allocated += p->start.allocated;
		sum_start.active += p->start.active;
		sum_start.resident += p->start.resident;
		sum_start.metadata += p->start.metadata;
		sum_end.allocated += p->end.allocated;
		sum_end.allocations += p->end.allocations;
		sum_end.active += p->end.active;
		sum_end.resident += p->end.resident;
		sum_end.metadata += p->end.metadata;
		purged += vmem_purge(p->vmp);
		struct vmem_stats after;
		if (vmem_stats_get(p->vmp, &after, sizeof(after)) == 0) {
			resident_after_purge += after.resident;
			metadata_after_purge += after.metadata;
		}
	}
	comment("all pools, at creation: allocated %zu, active %zu, resident %zu KiB, metadata %zu KiB",
		sum_start.allocated, sum_start.active, sum_start.resident / 1024, sum_start.metadata / 1024);
	comment("all pools, at the end:  allocated %zu (%zu blocks), active %zu, resident %zu KiB, "
		"metadata %zu KiB",
		sum_end.allocated, sum_end.allocations, sum_end.active, sum_end.resident / 1024,
		sum_end.metadata / 1024);
	comment("vmem_purge gave back %zu KiB: resident %zu KiB, metadata %zu KiB", purged / 1024,
		resident_after_purge / 1024, metadata_after_purge / 1024);
	if (failures != 0 || totals.enomem != 0) {
		long busiest = 0;
		for (long i = 1; i < cfg.pools; i++) {
			if (pools[i].enomem > pools[busiest].enomem)
				busiest = i;
		}
		comment("most ENOMEM: pool %ld, %ld of %ld operations", busiest, pools[busiest].enomem,
			pools[busiest].ops);
	}
	assert_int_equal(failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(stress_run),
	    cmocka_unit_test(every_pool_consistent),
	    cmocka_unit_test(usage_back_to_start),
	};
	return cmocka_run_group_tests_name("stress", tests, create_pools, delete_pools);
}
