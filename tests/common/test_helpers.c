/* SPDX-License-Identifier: BSD-3-Clause */
/* test_helpers.c -- resource counts, temp dirs and fault probes for the API tests. */
#define _GNU_SOURCE
#include "test_helpers.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define HAVE_VALGRIND 1
#endif
#endif

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

int count_dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

int count_open_fds(void)
{
	/* opendir holds one descriptor while it counts */
	return count_dir_entries("/proc/self/fd") - 1;
}

int count_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (f == NULL)
		return -1;
	int n = 0, c;
	while ((c = fgetc(f)) != EOF) {
		if (c == '\n')
			n++;
	}
	fclose(f);
	return n;
}

bool running_under_valgrind(void)
{
#ifdef HAVE_VALGRIND
	return RUNNING_ON_VALGRIND != 0;
#else
	return false;
#endif
}

bool mapping_count_is_meaningful(void)
{
#if defined(__SANITIZE_THREAD__)
	return false;
#else
	return !running_under_valgrind();
#endif
}

/* Calls `visit` with each mapping's bounds until it returns true; returns
 * whether one did. */
static bool find_mapping(bool (*visit)(uintptr_t start, uintptr_t end, void *arg), void *arg)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (f == NULL)
		return false;
	char line[4096 + 256];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		unsigned long start, end;
		if (sscanf(line, "%lx-%lx", &start, &end) == 2)
			found = visit(start, end, arg);
	}
	fclose(f);
	return found;
}

struct range {
	uintptr_t start, end;
};

static bool overlaps(uintptr_t start, uintptr_t end, void *arg)
{
	const struct range *r = arg;
	return start < r->end && r->start < end;
}

bool any_mapping_overlaps(uintptr_t start, uintptr_t end)
{
	struct range r = {start, end};
	return find_mapping(overlaps, &r);
}

static bool holds(uintptr_t start, uintptr_t end, void *arg)
{
	struct range *r = arg;
	if (r->start < start || r->start >= end)
		return false;
	r->start = start;
	r->end = end;
	return true;
}

bool mapping_around(const void *addr, uintptr_t *start, uintptr_t *end)
{
	struct range r = {(uintptr_t)addr, 0};
	if (!find_mapping(holds, &r))
		return false;
	*start = r.start;
	*end = r.end;
	return true;
}

int count_mappings_of(const char *prefix)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (f == NULL)
		return -1;
	int n = 0;
	char line[4096 + 256];
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, prefix) != NULL)
			n++;
	}
	fclose(f);
	return n;
}

uint64_t allocated_bytes_of_open_files(const char *prefix, int *files)
{
	DIR *d = opendir("/proc/self/fd");
	uint64_t total = 0;
	*files = 0;
	if (d == NULL)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char link[300], target[PATH_MAX];
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, prefix, strlen(prefix)) != 0)
			continue;
		struct stat st;
		if (stat(link, &st) == 0) {
			total += (uint64_t)st.st_blocks * 512;
			(*files)++;
		}
	}
	closedir(d);
	return total;
}

static sigjmp_buf fault_jump;

static void on_fault(int sig)
{
	(void)sig;
	siglongjmp(fault_jump, 1);
}

bool read_faults(const void *addr)
{
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old);
	volatile bool faulted = false;
	if (sigsetjmp(fault_jump, 1) == 0) {
		volatile char c = *(const volatile char *)addr;
		(void)c;
	} else {
		faulted = true;
	}
	sigaction(SIGSEGV, &old, NULL);
	return faulted;
}

char *make_test_dir(void)
{
	const char *base = getenv("TMPDIR");
	char *path = malloc(PATH_MAX);
	snprintf(path, PATH_MAX, "%s/vmem-test.XXXXXX", base != NULL ? base : "/tmp");
	if (mkdtemp(path) == NULL) {
		free(path);
		return NULL;
	}
	return path;
}

void remove_test_dir(char *dir)
{
	if (dir != NULL)
		rmdir(dir);
	free(dir);
}

void *map_region(size_t size)
{
	void *addr =
	    mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return addr == MAP_FAILED ? NULL : addr;
}

void unmap_region(void *addr, size_t size)
{
	munmap(addr, size);
}

char *mount_small_tmpfs(size_t bytes)
{
	char *dir = make_test_dir();
	if (dir == NULL)
		return NULL;
	char opts[64];
	snprintf(opts, sizeof(opts), "size=%zu", bytes);
	if (mount("vmem-test", dir, "tmpfs", 0, opts) != 0) {
		remove_test_dir(dir);
		return NULL;
	}
	return dir;
}

void unmount_small_tmpfs(char *dir)
{
	if (dir == NULL)
		return;
	umount(dir);
	remove_test_dir(dir);
}

uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static unsigned char pattern_byte(uint64_t seed, size_t i)
{
	return (unsigned char)((seed * 31 + i * 7) ^ (seed >> 13) ^ (i >> 8));
}

void fill_pattern(void *block, size_t size, uint64_t seed)
{
	unsigned char *bytes = block;
	for (size_t i = 0; i < size; i++)
		bytes[i] = pattern_byte(seed, i);
}

bool check_pattern(const void *block, size_t size, uint64_t seed)
{
	const unsigned char *bytes = block;
	for (size_t i = 0; i < size; i++) {
		if (bytes[i] != pattern_byte(seed, i))
			return false;
	}
	return true;
}

void skip_whole_program(const char *reason)
{
	printf("1..0 # SKIP %s\n", reason);
	fflush(stdout);
	exit(77);
}
