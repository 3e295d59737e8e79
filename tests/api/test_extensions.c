/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_extensions.c -- the VMEM_MINOR_VERSION 2 extensions: pointer to
 * pool, NULL-pool calls, configured creation, usage policies and purge,
 * growing pools, the DAX check, and 10,000 pools shared by two threads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libvmem.h>

#include "test_helpers.h"

static void version_two_is_reported(void **state)
{
	(void)state;
	assert_int_equal(VMEM_MINOR_VERSION, 2);
	assert_null(vmem_check_version(1, 2));
	assert_non_null(vmem_check_version(1, 3));
}

/* ---------------------------------------------------------------- pointer to pool */

static void pool_from_ptr_finds_pools_and_refuses_others(void **state)
{
	(void)state;
	void *region = map_region(32 * MiB);
	VMEM *file = vmem_create("/tmp", 32 * MiB);
	VMEM *in_region = vmem_create_in_region(region, 32 * MiB);
	assert_non_null(file);
	assert_non_null(in_region);
	char *a = vmem_malloc(file, 100);
	char *b = vmem_malloc(in_region, 300000);
	assert_ptr_equal(vmem_pool_from_ptr(a), file);
	assert_ptr_equal(vmem_pool_from_ptr(a + 50), file); /* any address inside */
	assert_ptr_equal(vmem_pool_from_ptr(b), in_region);
	assert_ptr_equal(vmem_pool_from_ptr(b + 299999), in_region);
	assert_ptr_equal(vmem_pool_from_ptr((char *)in_region + 32 * MiB - 1), in_region);
	/* outside every pool: never dereferenced */
	int on_stack;
	assert_null(vmem_pool_from_ptr(&on_stack));
	assert_null(vmem_pool_from_ptr(NULL));
	assert_null(vmem_pool_from_ptr((void *)16));
	assert_null(vmem_pool_from_ptr((char *)in_region + 32 * MiB));
	vmem_free(file, a);
	vmem_free(in_region, b);
	vmem_delete(in_region);
	assert_null(vmem_pool_from_ptr(b)); /* a deleted pool is no pool */
	assert_int_equal(vmem_check(file), 1);
	vmem_delete(file);
	unmap_region(region, 32 * MiB);
}

static void null_pool_calls_find_the_pool(void **state)
{
	(void)state;
	VMEM *vmp = vmem_create("/tmp", 32 * MiB);
	assert_non_null(vmp);
	struct vmem_stats before, after;
	assert_int_equal(vmem_stats_get(vmp, &before, sizeof(before)), 0);
	char *p = vmem_malloc(vmp, 1000);
	assert_int_equal(vmem_malloc_usable_size(NULL, p), vmem_malloc_usable_size(vmp, p));
	memset(p, 7, 1000);
	char *q = vmem_realloc(NULL, p, 200000); /* moves to a large block */
	assert_non_null(q);
	assert_ptr_equal(vmem_pool_from_ptr(q), vmp);
	assert_int_equal(q[999], 7);
	vmem_free(NULL, q);
	assert_int_equal(vmem_stats_get(vmp, &after, sizeof(after)), 0);
	assert_int_equal(after.allocations, before.allocations);
	assert_int_equal(after.allocated, before.allocated);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
}

static void null_pool_calls_refuse_foreign_pointers(void **state)
{
	(void)state;
	VMEM *vmp = vmem_create("/tmp", 32 * MiB);
	void *live = vmem_malloc(vmp, 64);
	struct vmem_stats before, after;
	assert_int_equal(vmem_stats_get(vmp, &before, sizeof(before)), 0);
	char *heap_block = malloc(64);
	int on_stack = 0;
	void *foreign[] = {heap_block, &on_stack, (void *)4096};
	for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
		errno = 0;
		vmem_free(NULL, foreign[i]);
		assert_int_equal(errno, EINVAL);
		assert_non_null(strstr(vmem_errormsg(), "in no live pool"));
		errno = 0;
		assert_null(vmem_realloc(NULL, foreign[i], 100));
		assert_int_equal(errno, EINVAL);
		assert_int_equal(vmem_malloc_usable_size(NULL, foreign[i]), 0);
	}
	errno = 0;
	assert_null(vmem_realloc(NULL, NULL, 100)); /* no pool to allocate from */
	assert_int_equal(errno, EINVAL);
	vmem_free(NULL, NULL); /* a no-op, as free(NULL) */
	assert_int_equal(vmem_malloc_usable_size(NULL, NULL), 0);
	/* nothing changed */
	assert_int_equal(vmem_stats_get(vmp, &after, sizeof(after)), 0);
	assert_int_equal(after.allocations, before.allocations);
	free(heap_block);
	vmem_free(vmp, live);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
}

/* ---------------------------------------------------------------- configured creation */

static void config_setters_refuse_bad_arguments(void **state)
{
	(void)state;
	void *region = map_region(32 * MiB);
	assert_int_equal(vmem_config_set_path(NULL, "/tmp"), EINVAL);
	assert_int_equal(vmem_config_set_region(NULL, region, 32 * MiB), EINVAL);
	assert_int_equal(vmem_config_set_size(NULL, 32 * MiB), EINVAL);
	assert_int_equal(vmem_config_set_usage_policy(NULL, VMEM_USAGE_POLICY_DEFAULT), EINVAL);
	assert_null(vmem_create_with_config(NULL));
	vmem_config_delete(NULL); /* a no-op */

	vmem_config *cfg = vmem_config_new();
	assert_non_null(cfg);
	errno = 0;
	assert_int_equal(vmem_config_set_path(cfg, NULL), EINVAL);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vmem_config_set_path(cfg, ""), EINVAL);
	assert_int_equal(vmem_config_set_region(cfg, NULL, 32 * MiB), EINVAL);
	assert_int_equal(vmem_config_set_region(cfg, (char *)region + 1, 32 * MiB), EINVAL);
	assert_int_equal(vmem_config_set_region(cfg, region, VMEM_MIN_POOL - 1), EINVAL);
	assert_int_equal(vmem_config_set_size(cfg, 1), EINVAL);
	assert_int_equal(vmem_config_set_size(cfg, VMEM_MIN_POOL - 1), EINVAL);
	assert_int_equal(vmem_config_set_usage_policy(cfg, (enum vmem_usage_policy)7), EINVAL);
	assert_true(strlen(vmem_errormsg()) > 0);
	/* nothing was set by the failures: neither path nor region */
	errno = 0;
	assert_null(vmem_create_with_config(cfg));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(vmem_errormsg(), "neither"));
	/* both */
	assert_int_equal(vmem_config_set_path(cfg, "/tmp"), 0);
	assert_int_equal(vmem_config_set_region(cfg, region, 32 * MiB), 0);
	errno = 0;
	assert_null(vmem_create_with_config(cfg));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(vmem_errormsg(), "both"));
	vmem_config_delete(cfg);

	/* a region with another size set */
	cfg = vmem_config_new();
	assert_int_equal(vmem_config_set_region(cfg, region, 32 * MiB), 0);
	assert_int_equal(vmem_config_set_size(cfg, 16 * MiB), 0);
	errno = 0;
	assert_null(vmem_create_with_config(cfg));
	assert_int_equal(errno, EINVAL);
	vmem_config_delete(cfg);
	/* a path that fails as vmem_create fails */
	cfg = vmem_config_new();
	assert_int_equal(vmem_config_set_path(cfg, "/nonexistent/vmem"), 0);
	assert_int_equal(vmem_config_set_size(cfg, 32 * MiB), 0);
	errno = 0;
	assert_null(vmem_create_with_config(cfg));
	assert_int_equal(errno, ENOENT);
	vmem_config_delete(cfg);
	unmap_region(region, 32 * MiB);
}

static void config_creates_file_and_region_pools(void **state)
{
	(void)state;
	void *region = map_region(32 * MiB);
	vmem_config *cfg = vmem_config_new();
	assert_int_equal(vmem_config_set_region(cfg, region, 32 * MiB), 0);
	assert_int_equal(vmem_config_set_usage_policy(cfg, VMEM_USAGE_POLICY_CONSERVATIVE), 0);
	VMEM *in_region = vmem_create_with_config(cfg);
	vmem_config_delete(cfg); /* the pool does not need it */
	assert_ptr_equal(in_region, region);

	cfg = vmem_config_new();
	assert_int_equal(vmem_config_set_path(cfg, "/tmp"), 0);
	assert_int_equal(vmem_config_set_size(cfg, 48 * MiB), 0);
	VMEM *file = vmem_create_with_config(cfg);
	vmem_config_delete(cfg);
	assert_non_null(file);
	struct vmem_stats st;
	assert_int_equal(vmem_stats_get(file, &st, sizeof(st)), 0);
	assert_int_equal(st.pool_size, 48 * MiB);
	void *p = vmem_malloc(in_region, 100);
	void *q = vmem_malloc(file, 100);
	assert_ptr_equal(vmem_pool_from_ptr(p), in_region);
	assert_ptr_equal(vmem_pool_from_ptr(q), file);
	vmem_free(NULL, p);
	vmem_free(NULL, q);
	assert_int_equal(vmem_check(in_region), 1);
	assert_int_equal(vmem_check(file), 1);
	vmem_delete(in_region);
	vmem_delete(file);
	unmap_region(region, 32 * MiB);

	/* a path and no size: a growing pool, whose file holds only its head
	 * and the tables' first pages */
	cfg = vmem_config_new();
	assert_int_equal(vmem_config_set_path(cfg, "/tmp"), 0);
	VMEM *growing = vmem_create_with_config(cfg);
	vmem_config_delete(cfg);
	if (growing == NULL && running_under_valgrind())
		return; /* no address space for the file system's size under Valgrind */
	if (growing == NULL)
		fail_msg("path without a size: %s", vmem_errormsg());
	assert_int_equal(vmem_stats_get(growing, &st, sizeof(st)), 0);
	if (st.resident >= VMEM_MIN_POOL)
		fail_msg("a new growing pool's file holds %zu bytes", st.resident);
	void *block = vmem_malloc(growing, 20 * MiB);
	assert_non_null(block);
	assert_int_equal(vmem_stats_get(growing, &st, sizeof(st)), 0);
	assert_true(st.resident > 20 * MiB);
	vmem_free(growing, block);
	assert_int_equal(vmem_check(growing), 1);
	vmem_delete(growing);
}

/* ---------------------------------------------------------------- usage policies and purge */

enum { PURGE_POOL = 256 * MiB, BLOCKS = 64 };

static VMEM *file_pool_with_policy(const char *dir, enum vmem_usage_policy policy)
{
	vmem_config *cfg = vmem_config_new();
	assert_int_equal(vmem_config_set_path(cfg, dir), 0);
	assert_int_equal(vmem_config_set_size(cfg, PURGE_POOL), 0);
	assert_int_equal(vmem_config_set_usage_policy(cfg, policy), 0);
	VMEM *vmp = vmem_create_with_config(cfg);
	vmem_config_delete(cfg);
	assert_non_null(vmp);
	return vmp;
}

/* The pool file's allocated bytes (the only open file in `dir`). */
static uint64_t file_blocks(const char *dir)
{
	int files = 0;
	uint64_t bytes = allocated_bytes_of_open_files(dir, &files);
	assert_int_equal(files, 1);
	return bytes;
}

/* The logical size of the pool file in `dir`, through /proc/self/fd. */
static uint64_t file_size(const char *dir)
{
	(void)dir;
	uint64_t size = 0;
	for (int fd = 3; fd < 1024; fd++) {
		char link[64], target[4096];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		struct stat st;
		if (strncmp(target, dir, strlen(dir)) == 0 && fstat(fd, &st) == 0)
			size = (uint64_t)st.st_size;
	}
	return size;
}

/* 64 MiB of 1 MiB blocks, written, then freed; the peak file blocks. */
static uint64_t allocate_and_free_64_mib(VMEM *vmp, const char *dir)
{
	void *blocks[BLOCKS];
	for (int i = 0; i < BLOCKS; i++) {
		blocks[i] = vmem_malloc(vmp, MiB);
		assert_non_null(blocks[i]);
		memset(blocks[i], i, MiB);
	}
	uint64_t peak = file_blocks(dir);
	assert_true(peak >= BLOCKS * MiB);
	for (int i = 0; i < BLOCKS; i++)
		vmem_free(vmp, blocks[i]);
	return peak;
}

/* After everything is freed, half the pool is one block. */
static void half_the_pool_fits(VMEM *vmp)
{
	void *half = vmem_malloc(vmp, PURGE_POOL / 2);
	assert_non_null(half);
	vmem_free(vmp, half);
}

static void default_policy_purges_on_request(void **state)
{
	(void)state;
	char *dir = make_test_dir();
	VMEM *vmp = file_pool_with_policy(dir, VMEM_USAGE_POLICY_DEFAULT);
	uint64_t peak = allocate_and_free_64_mib(vmp, dir);
	/* kept for reuse right after the frees */
	assert_true(file_blocks(dir) > peak / 2);
	size_t given = vmem_purge(vmp);
	assert_true(given >= BLOCKS * MiB * 9 / 10);
	assert_true(file_blocks(dir) <= peak / 10);
	assert_true(file_size(dir) <= PURGE_POOL);
	half_the_pool_fits(vmp);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
	remove_test_dir(dir);
}

static void default_policy_purges_later_on_a_slow_path(void **state)
{
	(void)state;
	char *dir = make_test_dir();
	VMEM *vmp = file_pool_with_policy(dir, VMEM_USAGE_POLICY_DEFAULT);
	uint64_t peak = allocate_and_free_64_mib(vmp, dir);
	usleep(700 * 1000); /* past the delay */
	/* a slow path: a large block's span taken and freed */
	void *p = vmem_malloc(vmp, 300000);
	vmem_free(vmp, p);
	assert_true(file_blocks(dir) <= peak / 10);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
	remove_test_dir(dir);
}

static void conservative_policy_purges_at_once(void **state)
{
	(void)state;
	char *dir = make_test_dir();
	VMEM *vmp = file_pool_with_policy(dir, VMEM_USAGE_POLICY_CONSERVATIVE);
	uint64_t peak = allocate_and_free_64_mib(vmp, dir);
	assert_true(file_blocks(dir) <= peak / 50);
	assert_true(file_size(dir) <= PURGE_POOL);
	/* memory comes back to use: the same again, all of it */
	peak = allocate_and_free_64_mib(vmp, dir);
	assert_true(file_blocks(dir) <= peak / 50);
	half_the_pool_fits(vmp);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
	remove_test_dir(dir);
}

static char printed[65536];

static void capture_print(const char *s)
{
	size_t used = strlen(printed);
	snprintf(printed + used, sizeof(printed) - used, "%s", s);
}

static void switching_policy_on_a_live_pool(void **state)
{
	(void)state;
	char *dir = make_test_dir();
	VMEM *vmp = file_pool_with_policy(dir, VMEM_USAGE_POLICY_DEFAULT);
	uint64_t peak = allocate_and_free_64_mib(vmp, dir);
	assert_true(file_blocks(dir) > peak / 2);
	assert_int_equal(vmem_set_usage_policy(vmp, VMEM_USAGE_POLICY_CONSERVATIVE), 0);
	assert_true(file_blocks(dir) <= peak / 50); /* switching purged */
	/* the report names the policy in force */
	vmem_set_funcs(NULL, NULL, NULL, NULL, capture_print);
	printed[0] = '\0';
	vmem_stats_print(vmp, "J");
	vmem_set_funcs(NULL, NULL, NULL, NULL, NULL);
	assert_non_null(strstr(printed, "\"usage_policy\":\"conservative\""));
	assert_int_equal(vmem_set_usage_policy(vmp, (enum vmem_usage_policy)5), EINVAL);
	assert_int_equal(vmem_set_usage_policy(NULL, VMEM_USAGE_POLICY_DEFAULT), EINVAL);
	errno = 0;
	assert_int_equal(vmem_purge(NULL), 0);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
	assert_int_equal(vmem_set_usage_policy(vmp, VMEM_USAGE_POLICY_DEFAULT), EINVAL);
	errno = 0;
	assert_int_equal(vmem_purge(vmp), 0);
	assert_int_equal(errno, EINVAL);
	remove_test_dir(dir);
}

static void region_purge_gives_memory_back(void **state)
{
	(void)state;
	void *region = map_region(PURGE_POOL);
	VMEM *vmp = vmem_create_in_region(region, PURGE_POOL);
	assert_non_null(vmp);
	void *blocks[BLOCKS];
	for (int i = 0; i < BLOCKS; i++) {
		blocks[i] = vmem_malloc(vmp, MiB);
		memset(blocks[i], 1, MiB);
	}
	struct vmem_stats full, freed, purged;
	assert_int_equal(vmem_stats_get(vmp, &full, sizeof(full)), 0);
	assert_true(full.resident >= BLOCKS * MiB);
	for (int i = 0; i < BLOCKS; i++)
		vmem_free(vmp, blocks[i]);
	assert_int_equal(vmem_stats_get(vmp, &freed, sizeof(freed)), 0);
	assert_true(freed.resident >= BLOCKS * MiB); /* DEFAULT: kept a while */
	assert_true(vmem_purge(vmp) >= BLOCKS * MiB * 9 / 10);
	assert_int_equal(vmem_stats_get(vmp, &purged, sizeof(purged)), 0);
	assert_true(purged.resident <= full.resident / 10);
	/* and the memory is usable again */
	for (int i = 0; i < BLOCKS; i++) {
		blocks[i] = vmem_malloc(vmp, MiB);
		assert_non_null(blocks[i]);
		memset(blocks[i], 2, MiB);
	}
	for (int i = 0; i < BLOCKS; i++)
		vmem_free(vmp, blocks[i]);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
	unmap_region(region, PURGE_POOL);
}

/* ---------------------------------------------------------------- growing pools */

static void growing_pool_grows_until_the_file_system_is_full(void **state)
{
	(void)state;
	enum { FS = 32 * MiB, MAX = 4096 };
	char *dir = mount_small_tmpfs(FS);
	if (dir == NULL)
		skip();
	vmem_config *cfg = vmem_config_new();
	assert_int_equal(vmem_config_set_path(cfg, dir), 0);
	assert_int_equal(vmem_config_set_size(cfg, 0), 0);
	VMEM *vmp = vmem_create_with_config(cfg);
	vmem_config_delete(cfg);
	assert_non_null(vmp);
	uint64_t start = file_size(dir);
	assert_true(start < MiB); /* the head pages, not the pool's span */
	void **blocks = calloc(MAX, sizeof(void *));
	size_t n = 0;
	errno = 0;
	while (n < MAX && (blocks[n] = vmem_malloc(vmp, 20000)) != NULL) {
		memset(blocks[n], 3, 20000);
		n++;
		if (n == 100) {
			struct vmem_stats st;
			assert_int_equal(vmem_stats_get(vmp, &st, sizeof(st)), 0);
			assert_int_equal(st.pool_size, file_size(dir)); /* the current size */
			assert_true(st.pool_size > start);
		}
	}
	assert_true(n < MAX);
	assert_int_equal(errno, ENOMEM);
	/* nearly the whole file system was used, and never more */
	assert_true((uint64_t)n * 20000 >= FS * 8 / 10);
	assert_true(file_size(dir) <= FS);
	assert_int_equal(vmem_check(vmp), 1);
	for (size_t i = 0; i < n; i++)
		vmem_free(vmp, blocks[i]);
	/* everything freed: allocations succeed again */
	void *again = vmem_malloc(vmp, 20000);
	assert_non_null(again);
	vmem_free(vmp, again);
	free(blocks);
	assert_int_equal(vmem_check(vmp), 1);
	vmem_delete(vmp);
	unmount_small_tmpfs(dir);
}

/* ---------------------------------------------------------------- DAX check */

static void validate_dir_answers(void **state)
{
	(void)state;
	errno = 0;
	assert_int_equal(vmem_validate_dir(NULL), EINVAL);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vmem_validate_dir("/nonexistent/vmem"), ENOENT);
	assert_int_equal(vmem_validate_dir("/etc/passwd"), ENOTDIR);
	char *dir = mount_small_tmpfs(4 * MiB);
	if (dir == NULL)
		skip();
	/* tmpfs keeps everything in the page cache: no DAX */
	assert_int_equal(vmem_validate_dir(dir), EOPNOTSUPP);
	assert_non_null(strstr(vmem_errormsg(), "DAX"));
	assert_int_equal(count_dir_entries(dir), 0); /* the probe file is gone */
	unmount_small_tmpfs(dir);
}

/* ---------------------------------------------------------------- many pools, two threads */

enum { MANY = 10000 };
static VMEM *many[MANY];

static void *use_every_pool(void *arg)
{
	(void)arg;
	for (int i = 0; i < MANY; i++) {
		void *p = vmem_malloc(many[i], 64 + (size_t)(i % 500));
		if (p == NULL)
			return (void *)1;
		memset(p, 1, 64);
		vmem_free(NULL, p);
	}
	return NULL;
}

/* Resident memory of the process, in KiB. */
static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return kib;
}

/* 10,000 region pools, each used by one thread and then another (each
 * thread's heaps are bounded: older ones are abandoned as it moves on),
 * checked, then all deleted. */
static void many_pools_cycle(char *mapping, size_t size)
{
	for (int i = 0; i < MANY; i++) {
		many[i] = vmem_create_in_region(mapping + (size_t)i * size, size);
		if (many[i] == NULL)
			fail_msg("pool %d: %s", i, vmem_errormsg());
	}
	for (int t = 0; t < 2; t++) {
		pthread_t thread;
		void *result = NULL;
		assert_int_equal(pthread_create(&thread, NULL, use_every_pool, NULL), 0);
		pthread_join(thread, &result);
		assert_null(result);
	}
	for (int i = 0; i < MANY; i += 499) {
		struct vmem_stats st;
		assert_int_equal(vmem_stats_get(many[i], &st, sizeof(st)), 0);
		assert_int_equal(st.allocations, 0);
		assert_int_equal(vmem_check(many[i]), 1);
	}
	for (int i = 0; i < MANY; i++)
		vmem_delete(many[i]);
}

static void ten_thousand_pools_used_by_two_threads_in_turn(void **state)
{
	(void)state;
	size_t size = VMEM_MIN_POOL;
	char *mapping = map_region((size_t)MANY * size);
	if (mapping == NULL && running_under_valgrind())
		skip(); /* Valgrind gives a program far less than 140 GB of address space */
	assert_non_null(mapping);
	int fds = count_open_fds();
	/* the first round sizes the pool directory's table (kept for reuse,
	 * as the directory never unmaps); after that nothing may grow */
	many_pools_cycle(mapping, size);
	int maps = count_mappings();
	long rss = rss_kib();
	for (int round = 0; round < 2; round++)
		many_pools_cycle(mapping, size);
	assert_int_equal(count_open_fds(), fds);
	/* under ThreadSanitizer or Valgrind, mappings and resident memory
	 * move with the tool's own: they say nothing about the library */
	if (mapping_count_is_meaningful()) {
		assert_int_equal(count_mappings(), maps);
		/* the regions' pages stay (they are the caller's); the
		 * library's own memory does not grow */
		long grown = rss_kib() - rss;
		if (grown > 2048)
			fail_msg("resident memory grew by %ld KiB over two rounds", grown);
	}
	unmap_region(mapping, (size_t)MANY * size);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(version_two_is_reported),
	    cmocka_unit_test(pool_from_ptr_finds_pools_and_refuses_others),
	    cmocka_unit_test(null_pool_calls_find_the_pool),
	    cmocka_unit_test(null_pool_calls_refuse_foreign_pointers),
	    cmocka_unit_test(config_setters_refuse_bad_arguments),
	    cmocka_unit_test(config_creates_file_and_region_pools),
	    cmocka_unit_test(default_policy_purges_on_request),
	    cmocka_unit_test(default_policy_purges_later_on_a_slow_path),
	    cmocka_unit_test(conservative_policy_purges_at_once),
	    cmocka_unit_test(switching_policy_on_a_live_pool),
	    cmocka_unit_test(region_purge_gives_memory_back),
	    cmocka_unit_test(growing_pool_grows_until_the_file_system_is_full),
	    cmocka_unit_test(validate_dir_answers),
	    cmocka_unit_test(ten_thousand_pools_used_by_two_threads_in_turn),
	};
	return cmocka_run_group_tests_name("extensions", tests, NULL, NULL);
}
