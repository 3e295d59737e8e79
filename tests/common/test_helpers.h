/* SPDX-License-Identifier: BSD-3-Clause */
/* test_helpers.h -- what the API tests share: resource counts, temp dirs, fault probes. */
#ifndef VMEM_TEST_HELPERS_H
#define VMEM_TEST_HELPERS_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

/* Open file descriptors of this process (entries of /proc/self/fd). */
int count_open_fds(void);

/* Mappings of this process (lines of /proc/self/maps). */
int count_mappings(void);

/* False when something else in the process changes the mappings as the
 * program maps memory: ThreadSanitizer's shadow, or Valgrind's own view of
 * the address space.  count_mappings then says nothing about the library. */
bool mapping_count_is_meaningful(void);

/* Asserts (CMocka) that the process has `expected` mappings again, where
 * that count means something. */
#define assert_mapping_count(expected)                                                                       \
	do {                                                                                                 \
		if (mapping_count_is_meaningful())                                                           \
			assert_int_equal(count_mappings(), (expected));                                      \
	} while (0)

/* helgrind and drd do not see the order atomics give: a block handed to
 * another thread through an atomic slot is marked on both sides, sender
 * before its store, receiver after its load.  Nothing otherwise. */
#ifdef HAVE_VALGRIND_HELGRIND_H
#include <valgrind/helgrind.h>
#define test_hand_over(slot) ANNOTATE_HAPPENS_BEFORE(slot)
#define test_take_over(slot) ANNOTATE_HAPPENS_AFTER(slot)
#else
#define test_hand_over(slot) ((void)(slot))
#define test_take_over(slot) ((void)(slot))
#endif

/* True when the program runs under Valgrind (which also caps the address
 * space a program can reserve). */
bool running_under_valgrind(void);

/* Whether any mapping of this process overlaps [start, end). */
bool any_mapping_overlaps(uintptr_t start, uintptr_t end);

/* The bounds of the mapping (one /proc/self/maps line) holding `addr`;
 * false when nothing is mapped there. */
bool mapping_around(const void *addr, uintptr_t *start, uintptr_t *end);

/* Mappings whose /proc/self/maps line names a file under `prefix` (a pool
 * file shows as "<dir>/#<inode> (deleted)"): unlike count_mappings, not
 * moved by what sanitizer runtimes map for themselves. */
int count_mappings_of(const char *prefix);

/* Entries of a directory other than "." and "..". */
int count_dir_entries(const char *dir);

/* Bytes of file blocks held by the open files whose /proc/self/fd link
 * starts with `prefix` (an unnamed tmpfile shows as "<dir>/#<inode> (deleted)"). */
uint64_t allocated_bytes_of_open_files(const char *prefix, int *files);

/* True when reading one byte at `addr` raises SIGSEGV (probed with a handler). */
bool read_faults(const void *addr);

/* A fresh private directory under $TMPDIR (or /tmp); removed by remove_test_dir. */
char *make_test_dir(void);
void remove_test_dir(char *dir);

/* Anonymous memory of `size` bytes at a page-aligned address; unmap with unmap_region. */
void *map_region(size_t size);
void unmap_region(void *addr, size_t size);

/* A small tmpfs mounted for one test at a fresh directory, or NULL when this
 * process may not mount (the caller then skips). */
char *mount_small_tmpfs(size_t bytes);
void unmount_small_tmpfs(char *dir);

/* Fills `size` bytes with a pattern derived from `seed`; check_pattern
 * says whether they still hold it. */
void fill_pattern(void *block, size_t size, uint64_t seed);
bool check_pattern(const void *block, size_t size, uint64_t seed);

/* A small, fast pseudo-random generator for tests (xorshift64*). */
uint64_t next_random(uint64_t *state);

/* Prints "1..0 # SKIP <reason>" and exits 77: nothing here can be tested. */
void skip_whole_program(const char *reason) __attribute__((noreturn));

/*
 * Two CMocka cases of one test: on a file pool and on a region pool, made
 * and deleted by the including file's setup_file_pool, setup_region_pool
 * and teardown_pool.
 */
#define BOTH(test)                                                                                           \
	{#test " (file pool)", test, setup_file_pool, teardown_pool, NULL},                                  \
	{                                                                                                    \
#test " (region pool)", test, setup_region_pool, teardown_pool, NULL                         \
	}

#endif
