/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_purge_threads.c -- what exited threads leave behind goes back: pages
 * that other threads' frees emptied after their owner exited, and the slabs
 * of thread heaps no thread uses, by vmem_purge from a thread with no heap
 * in the pool, and at once under VMEM_USAGE_POLICY_CONSERVATIVE; also while
 * other threads free into those pages, reclaim them and come and go.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libvmem.h>

#include "test_helpers.h"

enum { POOL_SIZE = 64 * MiB, KiB = 1024 };

/* What may stay of a pool's memory after everything went back: descriptor
 * pages and back-map bytes of the segments the blocks reached. */
enum { RESIDENT_SLACK = 128 * KiB, METADATA_SLACK = 32 * KiB };

/* Fewer blocks and threads under VMEM_TEST_QUICK (Valgrind's tools). */
static bool quick(void)
{
	return getenv("VMEM_TEST_QUICK") != NULL;
}

struct fixture {
	VMEM *vmp;
	void *region;
	char *dir;
	enum vmem_usage_policy policy;
	struct vmem_stats start; /* at creation */
};

static int setup_pool(void **state, bool file, enum vmem_usage_policy policy)
{
	struct fixture *f = calloc(1, sizeof(*f));
	vmem_config *cfg = vmem_config_new();
	if (file) {
		f->dir = make_test_dir();
		vmem_config_set_path(cfg, f->dir);
		vmem_config_set_size(cfg, POOL_SIZE);
	} else {
		f->region = map_region(POOL_SIZE);
		vmem_config_set_region(cfg, f->region, POOL_SIZE);
	}
	vmem_config_set_usage_policy(cfg, policy);
	f->vmp = vmem_create_with_config(cfg);
	vmem_config_delete(cfg);
	f->policy = policy;
	*state = f;
	if (f->vmp == NULL || vmem_stats_get(f->vmp, &f->start, sizeof(f->start)) != 0)
		return -1;
	return 0;
}

static int setup_file_pool(void **state)
{
	return setup_pool(state, true, VMEM_USAGE_POLICY_DEFAULT);
}

static int setup_region_pool(void **state)
{
	return setup_pool(state, false, VMEM_USAGE_POLICY_DEFAULT);
}

static int setup_conservative_file_pool(void **state)
{
	return setup_pool(state, true, VMEM_USAGE_POLICY_CONSERVATIVE);
}

static int setup_conservative_region_pool(void **state)
{
	return setup_pool(state, false, VMEM_USAGE_POLICY_CONSERVATIVE);
}

static int teardown_pool(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(vmem_check(f->vmp), 1);
	vmem_delete(f->vmp);
	if (f->region != NULL)
		unmap_region(f->region, POOL_SIZE);
	if (f->dir != NULL)
		remove_test_dir(f->dir);
	free(f);
	return 0;
}

/* The four pools a test runs on: file and region, each policy. */
/* clang-format off */
#define ALL_FOUR(test) \
	{#test " (file pool)", test, setup_file_pool, teardown_pool, NULL}, \
	{#test " (region pool)", test, setup_region_pool, teardown_pool, NULL}, \
	{#test " (conservative file pool)", test, setup_conservative_file_pool, teardown_pool, NULL}, \
	{#test " (conservative region pool)", test, setup_conservative_region_pool, teardown_pool, NULL}
/* clang-format on */

static struct vmem_stats stats_of(VMEM *vmp)
{
	struct vmem_stats st;
	assert_int_equal(vmem_stats_get(vmp, &st, sizeof(st)), 0);
	return st;
}

/* Failures inside threads, which must not call CMocka's asserts. */
static atomic_long thread_failures;

static void thread_failed(void)
{
	atomic_fetch_add(&thread_failures, 1);
}

/* Runs fn(args + i * arg_size) on `count` threads at once and joins them. */
static void run_threads(int count, void *(*fn)(void *), void *args, size_t arg_size)
{
	pthread_t *threads = calloc((size_t)count, sizeof(*threads));
	for (int i = 0; i < count; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, fn, (char *)args + (size_t)i * arg_size),
				 0);
	for (int i = 0; i < count; i++)
		pthread_join(threads[i], NULL);
	free(threads);
}

/* ---------------------------------------------------------------- pages of exited threads */

struct allocation_job {
	VMEM *vmp;
	void **blocks;
	int count;
	size_t size;
};

/* Allocates the job's blocks, marks each, and exits: the thread's heap is
 * abandoned with all of them live. */
static void *allocate_and_exit(void *arg)
{
	struct allocation_job *job = arg;
	for (int i = 0; i < job->count; i++) {
		job->blocks[i] = vmem_malloc(job->vmp, job->size);
		if (job->blocks[i] == NULL) {
			thread_failed();
			return NULL;
		}
		memset(job->blocks[i], 0x5a, job->size);
	}
	return NULL;
}

enum { OWNERS = 4, SMALL = 64 };

static int blocks_per_owner(void)
{
	return quick() ? 5000 : 25000;
}

/* OWNERS threads allocate blocks_per_owner() blocks of SMALL bytes each
 * and exit; the blocks, all live, land in *blocks (freed by the caller). */
static void **blocks_of_exited_threads(VMEM *vmp, int *total)
{
	int per = blocks_per_owner();
	void **blocks = calloc((size_t)OWNERS * (size_t)per, sizeof(void *));
	struct allocation_job jobs[OWNERS];
	for (int i = 0; i < OWNERS; i++)
		jobs[i] = (struct allocation_job){vmp, blocks + (size_t)i * (size_t)per, per, SMALL};
	run_threads(OWNERS, allocate_and_exit, jobs, sizeof(jobs[0]));
	assert_int_equal(atomic_load(&thread_failures), 0);
	*total = OWNERS * per;
	return blocks;
}

/* The main thread frees every block: it has no heap in the pool (it never
 * allocates there), so each free is a remote free into an abandoned page. */
static void free_all(VMEM *vmp, void **blocks, int total)
{
	for (int i = 0; i < total; i++)
		vmem_free(vmp, blocks[i]);
}

/* The pool is back at its figures at creation, within the slack. */
static void assert_back_to_start(const struct fixture *f, const struct vmem_stats *st)
{
	assert_int_equal(st->allocations, 0);
	assert_int_equal(st->allocated, 0);
	assert_int_equal(st->active, 0);
	if (st->resident > f->start.resident + RESIDENT_SLACK ||
	    st->metadata > f->start.metadata + METADATA_SLACK)
		fail_msg("resident %zu and metadata %zu, at creation %zu and %zu", st->resident, st->metadata,
			 f->start.resident, f->start.metadata);
}

/* Memory of the blocks' pages, less the last page of each thread, which may
 * be partly carved. */
static size_t blocks_bytes(int total)
{
	return (size_t)total * SMALL * 9 / 10;
}

/*
 * Threads fill pages with 64-byte blocks and exit; the main thread, with no
 * heap in the pool, frees every block, so the pages are empty but still on
 * the abandoned queues.  vmem_purge from that thread gives them back: the
 * pool's memory (file blocks, or the region's resident pages) and metadata
 * return to their figures at creation.  Under CONSERVATIVE they go back as
 * the frees empty them, without a purge.
 */
static void abandoned_pages_go_back_without_a_heap(void **state)
{
	struct fixture *f = *state;
	int total = 0;
	void **blocks = blocks_of_exited_threads(f->vmp, &total);
	struct vmem_stats live = stats_of(f->vmp);
	assert_int_equal(live.allocations, total);
	assert_true(live.resident >= f->start.resident + blocks_bytes(total));

	free_all(f->vmp, blocks, total);
	struct vmem_stats freed = stats_of(f->vmp);
	assert_int_equal(freed.allocations, 0);
	assert_int_equal(freed.active, 0);
	if (f->policy == VMEM_USAGE_POLICY_CONSERVATIVE) {
		/* each page went back as its last block was freed */
		assert_back_to_start(f, &freed);
		assert_int_equal(vmem_check(f->vmp), 1);
	} else {
		/* DEFAULT keeps free memory until a purge */
		assert_true(freed.resident >= f->start.resident + blocks_bytes(total));
		size_t given = vmem_purge(f->vmp);
		assert_true(given >= blocks_bytes(total));
	}
	struct vmem_stats after = stats_of(f->vmp);
	assert_back_to_start(f, &after);
	assert_int_equal(vmem_check(f->vmp), 1);

	/* the memory serves again: the same blocks once more, and back */
	free(blocks);
	blocks = blocks_of_exited_threads(f->vmp, &total);
	free_all(f->vmp, blocks, total);
	vmem_purge(f->vmp);
	after = stats_of(f->vmp);
	assert_back_to_start(f, &after);
	free(blocks);
}

/* ---------------------------------------------------------------- heap slabs */

enum { CROWD = 80 }; /* threads at once: more than the head heaps, so slabs are made */

struct crowd {
	VMEM *vmp;
	pthread_barrier_t all_in; /* every thread has its heap (and the main thread) */
	pthread_barrier_t go;	  /* the main thread has looked */
};

/* One block, held until the whole crowd has a heap, then freed. */
static void *join_the_crowd(void *arg)
{
	struct crowd *crowd = arg;
	void *block = vmem_malloc(crowd->vmp, SMALL);
	if (block == NULL)
		thread_failed();
	pthread_barrier_wait(&crowd->all_in);
	pthread_barrier_wait(&crowd->go);
	vmem_free(crowd->vmp, block);
	return NULL;
}

/* CROWD threads live at once, each with a heap in the pool; the main
 * thread checks the pool and returns its stats while they are all in. */
static struct vmem_stats crowd_comes_and_goes(VMEM *vmp)
{
	struct crowd crowd = {.vmp = vmp};
	pthread_barrier_init(&crowd.all_in, NULL, CROWD + 1);
	pthread_barrier_init(&crowd.go, NULL, CROWD + 1);
	pthread_t threads[CROWD];
	for (int i = 0; i < CROWD; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, join_the_crowd, &crowd), 0);
	pthread_barrier_wait(&crowd.all_in);
	int verdict = vmem_check(vmp);
	struct vmem_stats peak = stats_of(vmp);
	pthread_barrier_wait(&crowd.go);
	for (int i = 0; i < CROWD; i++)
		pthread_join(threads[i], NULL);
	pthread_barrier_destroy(&crowd.all_in);
	pthread_barrier_destroy(&crowd.go);
	assert_int_equal(verdict, 1);
	assert_int_equal(atomic_load(&thread_failures), 0);
	assert_int_equal(peak.allocations, CROWD);
	return peak;
}

/*
 * Crowds of threads come and go: while one is in, the pool holds slabs of
 * thread heaps (64 KiB each, 35 heaps); once it has left, vmem_purge gives
 * the slabs back, and under CONSERVATIVE the last heap of each slab to go
 * takes its slab with it.  Round after round the metadata returns to its
 * figure at creation instead of growing, and the slab numbers given back
 * are used again.
 */
static void heap_slabs_go_back_when_their_threads_have_gone(void **state)
{
	struct fixture *f = *state;
	int rounds = quick() ? 2 : 4;
	for (int round = 0; round < rounds; round++) {
		struct vmem_stats peak = crowd_comes_and_goes(f->vmp);
		/* at least two slabs for the heaps beyond the head */
		assert_true(peak.metadata >= f->start.metadata + 2 * 64 * KiB);
		struct vmem_stats gone = stats_of(f->vmp);
		if (f->policy == VMEM_USAGE_POLICY_CONSERVATIVE)
			assert_back_to_start(f, &gone);
		else
			assert_true(gone.metadata >= peak.metadata); /* kept until a purge */
		assert_int_equal(vmem_check(f->vmp), 1);
		vmem_purge(f->vmp);
		struct vmem_stats purged = stats_of(f->vmp);
		assert_back_to_start(f, &purged);
		assert_int_equal(vmem_check(f->vmp), 1);
	}
}

/* ---------------------------------------------------------------- all at once */

enum { MIXED = 4 }; /* block sizes of the race: 48, 64, 96 and 200 bytes */

static size_t mixed_size(int i)
{
	static const size_t sizes[MIXED] = {48, 64, 96, 200};
	return sizes[i % MIXED];
}

struct race {
	VMEM *vmp;
	void **blocks; /* the exited owners' blocks, each filled with its index */
	int total;
	atomic_int freers_left;
};

struct freer {
	struct race *race;
	int first; /* frees blocks first, first + step, ... */
	int step;
};

/* Frees its share of the blocks, checking each first; it has no heap in
 * the pool, so every free is remote, into abandoned or reclaimed pages. */
static void *free_share(void *arg)
{
	struct freer *freer = arg;
	struct race *race = freer->race;
	for (int i = freer->first; i < race->total; i += freer->step) {
		if (!check_pattern(race->blocks[i], mixed_size(i), (uint64_t)i))
			thread_failed();
		vmem_free(race->vmp, race->blocks[i]);
		if (i % 64 == freer->first)
			sched_yield(); /* let the purges and the reclaimers in between */
	}
	atomic_fetch_sub(&race->freers_left, 1);
	return NULL;
}

/* Allocates blocks of the owners' sizes (reclaiming their abandoned pages),
 * checks and frees them, and exits: its heap comes and goes. */
static void *reclaim_and_exit(void *arg)
{
	struct race *race = arg;
	enum { HELD = 256 };
	void *held[HELD];
	for (int i = 0; i < HELD; i++) {
		held[i] = vmem_malloc(race->vmp, mixed_size(i));
		if (held[i] != NULL)
			fill_pattern(held[i], mixed_size(i), (uint64_t)i + 1000000);
	}
	for (int i = 0; i < HELD; i++) {
		if (held[i] == NULL)
			continue;
		if (!check_pattern(held[i], mixed_size(i), (uint64_t)i + 1000000))
			thread_failed();
		vmem_free(race->vmp, held[i]);
	}
	return NULL;
}

struct owner {
	struct race *race;
	int first; /* allocates blocks first, first + OWNERS, ... */
};

/* Allocates its share of the race's blocks, each filled with its index, and
 * exits with all of them live: its pages are abandoned. */
static void *fill_share_and_exit(void *arg)
{
	struct owner *owner = arg;
	struct race *race = owner->race;
	for (int i = owner->first; i < race->total; i += OWNERS) {
		race->blocks[i] = vmem_malloc(race->vmp, mixed_size(i));
		if (race->blocks[i] == NULL) {
			thread_failed();
			return NULL;
		}
		fill_pattern(race->blocks[i], mixed_size(i), (uint64_t)i);
	}
	return NULL;
}

enum { FREERS = 2, RECLAIMERS = 12 };

/* Crowds of reclaimers come and go until the frees are done. */
static void *churn(void *arg)
{
	struct race *race = arg;
	while (atomic_load(&race->freers_left) > 0) {
		pthread_t reclaimers[RECLAIMERS];
		for (int i = 0; i < RECLAIMERS; i++)
			if (pthread_create(&reclaimers[i], NULL, reclaim_and_exit, race) != 0)
				thread_failed();
		for (int i = 0; i < RECLAIMERS; i++)
			pthread_join(reclaimers[i], NULL);
	}
	return NULL;
}

/*
 * The protocol under load: owners fill pages with blocks of four sizes and
 * exit; then two threads without a heap in the pool free those blocks into
 * the abandoned pages, interleaved so both push onto the same pages, while
 * crowds of short-lived threads allocate blocks of the same sizes
 * (reclaiming the abandoned pages the frees are going into, and making and
 * giving up heaps, so slabs come and go) and the main thread runs
 * vmem_purge and vmem_check over and over.  No block may be damaged, every
 * check must pass, and once all have finished and a last purge ran, the
 * pool is back at its figures at creation.
 */
static void purge_races_remote_frees_reclaims_and_thread_churn(void **state)
{
	struct fixture *f = *state;
	struct race race = {.vmp = f->vmp, .total = quick() ? 4000 : 40000};
	race.blocks = calloc((size_t)race.total, sizeof(void *));
	struct owner owners[OWNERS];
	for (int i = 0; i < OWNERS; i++)
		owners[i] = (struct owner){&race, i};
	run_threads(OWNERS, fill_share_and_exit, owners, sizeof(owners[0]));
	assert_int_equal(atomic_load(&thread_failures), 0);

	atomic_store(&race.freers_left, FREERS);
	struct freer freers[FREERS];
	pthread_t freer_threads[FREERS], churner;
	for (int i = 0; i < FREERS; i++) {
		freers[i] = (struct freer){&race, i, FREERS};
		assert_int_equal(pthread_create(&freer_threads[i], NULL, free_share, &freers[i]), 0);
	}
	assert_int_equal(pthread_create(&churner, NULL, churn, &race), 0);
	long purges = 0, bad_checks = 0;
	while (atomic_load(&race.freers_left) > 0) {
		vmem_purge(f->vmp);
		purges++;
		if (vmem_check(f->vmp) != 1 && bad_checks++ == 0)
			print_error("vmem_check during the race: %s\n", vmem_errormsg());
		/* The pool lock is free only between these calls: without a
		 * yield, a thread waiting for it can starve where threads
		 * run one at a time (Valgrind ran this for over 8 minutes). */
		sched_yield();
	}
	for (int i = 0; i < FREERS; i++)
		pthread_join(freer_threads[i], NULL);
	pthread_join(churner, NULL);
	assert_int_equal(bad_checks, 0);
	assert_int_equal(atomic_load(&thread_failures), 0);
	assert_true(purges >= 1);

	vmem_purge(f->vmp);
	struct vmem_stats after = stats_of(f->vmp);
	assert_back_to_start(f, &after);
	free(race.blocks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    ALL_FOUR(abandoned_pages_go_back_without_a_heap),
	    ALL_FOUR(heap_slabs_go_back_when_their_threads_have_gone),
	    ALL_FOUR(purge_races_remote_frees_reclaims_and_thread_churn),
	};
	return cmocka_run_group_tests_name("purge after threads exit", tests, NULL, NULL);
}
