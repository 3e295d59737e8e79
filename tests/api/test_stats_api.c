/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_stats_api.c -- vmem_check on healthy pools (churned, shared by
 * threads, deleted), vmem_stats_get's numbers and errors, and
 * vmem_stats_print's sections, letters and JSON.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libvmem.h>

#include "test_helpers.h"

enum { POOL_SIZE = 64 * MiB };

struct fixture {
	VMEM *vmp;
	void *region;
	bool file;
};

static int setup_file_pool(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->vmp = vmem_create("/tmp", POOL_SIZE);
	f->file = true;
	*state = f;
	return f->vmp == NULL ? -1 : 0;
}

static int setup_region_pool(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->region = map_region(POOL_SIZE);
	f->vmp = f->region != NULL ? vmem_create_in_region(f->region, POOL_SIZE) : NULL;
	*state = f;
	return f->vmp == NULL ? -1 : 0;
}

static int teardown_pool(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(vmem_check(f->vmp), 1);
	vmem_delete(f->vmp);
	if (f->region != NULL)
		unmap_region(f->region, POOL_SIZE);
	free(f);
	return 0;
}

static VMEM *pool(void **state)
{
	return ((struct fixture *)*state)->vmp;
}

static bool quick(void)
{
	return getenv("VMEM_TEST_QUICK") != NULL;
}

/* ---------------------------------------------------------------- vmem_check */

/* Mixed calls of every kind, blocks of 8 B to 100 KiB, a random half freed
 * as it goes: the pool stays consistent throughout. */
static void check_after_heavy_churn(void **state)
{
	VMEM *vmp = pool(state);
	enum { SLOTS = 4000 };
	void **live = calloc(SLOTS, sizeof(void *));
	uint64_t rng = 17;
	long ops = quick() ? 50000 : 200000;
	for (long i = 0; i < ops; i++) {
		size_t slot = next_random(&rng) % SLOTS;
		uint64_t r = next_random(&rng);
		size_t size = r % 8 == 0 ? 8 + r % (100 * 1024) : 8 + r % 2000;
		if (live[slot] != NULL && r % 5 == 0) {
			void *moved = vmem_realloc(vmp, live[slot], size);
			if (moved != NULL)
				live[slot] = moved;
			continue;
		}
		vmem_free(vmp, live[slot]);
		switch (r % 3) {
		case 0:
			live[slot] = vmem_malloc(vmp, size);
			break;
		case 1:
			live[slot] = vmem_calloc(vmp, 1, size);
			break;
		default:
			live[slot] = vmem_aligned_alloc(vmp, (size_t)64 << (r % 7), size);
			break;
		}
		if (i % (ops / 10) == 0)
			assert_int_equal(vmem_check(vmp), 1);
	}
	assert_int_equal(vmem_check(vmp), 1);
	for (size_t i = 0; i < SLOTS; i++)
		vmem_free(vmp, live[i]);
	free(live);
}

struct worker {
	VMEM *vmp;
	uint64_t seed;
	long ops;
};

static void *allocate_and_free(void *arg)
{
	struct worker *w = arg;
	enum { LIVE = 1000 };
	void *live[LIVE] = {NULL};
	uint64_t rng = w->seed;
	for (long i = 0; i < w->ops; i++) {
		size_t slot = next_random(&rng) % LIVE;
		vmem_free(w->vmp, live[slot]);
		size_t size = 16 + next_random(&rng) % 4081;
		live[slot] = vmem_malloc(w->vmp, size);
		if (live[slot] != NULL)
			memset(live[slot], 0x5a, size < 64 ? size : 64);
	}
	for (size_t i = 0; i < LIVE; i++)
		vmem_free(w->vmp, live[i]);
	return NULL;
}

/* Checks while 4 other threads allocate and free in the pool: each
 * returns 1 (the other threads' pages are moving, not corrupt). */
static void check_while_four_threads_allocate(void **state)
{
	VMEM *vmp = pool(state);
	pthread_t threads[4];
	struct worker workers[4];
	for (int t = 0; t < 4; t++) {
		workers[t] = (struct worker){vmp, (uint64_t)t + 1, quick() ? 20000 : 200000};
		assert_int_equal(pthread_create(&threads[t], NULL, allocate_and_free, &workers[t]), 0);
	}
	int checks = quick() ? 50 : 200;
	for (int i = 0; i < checks; i++) {
		int verdict = vmem_check(vmp);
		if (verdict != 1)
			fail_msg("check %d returned %d: %s", i, verdict, vmem_errormsg());
		struct vmem_stats st;
		assert_int_equal(vmem_stats_get(vmp, &st, sizeof(st)), 0);
	}
	for (int t = 0; t < 4; t++)
		pthread_join(threads[t], NULL);
	struct vmem_stats st;
	assert_int_equal(vmem_stats_get(vmp, &st, sizeof(st)), 0);
	assert_int_equal(st.allocations, 0); /* every block came back */
}

static void check_of_deleted_pools_is_minus_one(void **state)
{
	(void)state;
	errno = 0;
	assert_int_equal(vmem_check(NULL), -1);
	assert_int_equal(errno, EINVAL);
	VMEM *file = vmem_create("/tmp", VMEM_MIN_POOL);
	assert_non_null(file);
	vmem_free(file, vmem_malloc(file, 10));
	vmem_delete(file);
	errno = 0;
	assert_int_equal(vmem_check(file), -1); /* unmapped: must not be read */
	assert_int_equal(errno, EINVAL);
	assert_true(strlen(vmem_errormsg()) > 0);
	void *region = map_region(VMEM_MIN_POOL);
	VMEM *in_region = vmem_create_in_region(region, VMEM_MIN_POOL);
	assert_non_null(in_region);
	vmem_delete(in_region);
	errno = 0;
	assert_int_equal(vmem_check(in_region), -1);
	assert_int_equal(errno, EINVAL);
	unmap_region(region, VMEM_MIN_POOL);
}

/* ---------------------------------------------------------------- vmem_stats_get */

static void stats_get_refuses_bad_arguments(void **state)
{
	VMEM *vmp = pool(state);
	struct vmem_stats st;
	errno = 0;
	assert_int_equal(vmem_stats_get(NULL, &st, sizeof(st)), EINVAL);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(vmem_stats_get(vmp, NULL, sizeof(st)), EINVAL);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(vmem_stats_get(vmp, &st, sizeof(st) - 1), EINVAL);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vmem_stats_get(vmp, &st, 0), EINVAL);
	VMEM *gone = vmem_create("/tmp", VMEM_MIN_POOL);
	assert_non_null(gone);
	vmem_delete(gone);
	errno = 0;
	assert_int_equal(vmem_stats_get(gone, &st, sizeof(st)), EINVAL);
	assert_int_equal(errno, EINVAL);
}

static void stats_get_follows_malloc_and_free(void **state)
{
	VMEM *vmp = pool(state);
	static const size_t sizes[] = {1, 64, 1000, 5000, 70000, 3 * MiB};
	struct vmem_stats before, after, back;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_int_equal(vmem_stats_get(vmp, &before, sizeof(before)), 0);
		void *p = vmem_malloc(vmp, sizes[i]);
		assert_non_null(p);
		assert_int_equal(vmem_stats_get(vmp, &after, sizeof(after)), 0);
		assert_true(after.allocated >= before.allocated + sizes[i]);
		assert_int_equal(after.allocations, before.allocations + 1);
		assert_int_equal(after.pool_size, POOL_SIZE);
		assert_true(after.resident <= after.pool_size);
		assert_true(after.active >= after.allocated);
		assert_true(after.metadata > 0 && after.metadata < after.pool_size);
		vmem_free(vmp, p);
		assert_int_equal(vmem_stats_get(vmp, &back, sizeof(back)), 0);
		assert_int_equal(back.allocated, before.allocated);
		assert_int_equal(back.allocations, before.allocations);
	}
}

static void stats_get_writes_only_its_struct(void **state)
{
	VMEM *vmp = pool(state);
	unsigned char buffer[sizeof(struct vmem_stats) + 32];
	memset(buffer, 0xab, sizeof(buffer));
	/* a caller built against a later, larger struct */
	assert_int_equal(vmem_stats_get(vmp, (struct vmem_stats *)buffer, sizeof(buffer)), 0);
	for (size_t i = sizeof(struct vmem_stats); i < sizeof(buffer); i++)
		assert_int_equal(buffer[i], 0xab);
	struct vmem_stats st;
	memcpy(&st, buffer, sizeof(st));
	assert_int_equal(st.pool_size, POOL_SIZE);
}

/* ---------------------------------------------------------------- vmem_stats_print */

static char printed[1 << 20];
static size_t printed_length;
static int print_calls;

static void capture_print(const char *s)
{
	size_t n = strlen(s);
	if (printed_length + n < sizeof(printed)) {
		memcpy(printed + printed_length, s, n + 1);
		printed_length += n;
	}
	print_calls++;
}

/* The report on `vmp` with `opts`, captured through print_func. */
static const char *report(VMEM *vmp, const char *opts)
{
	printed_length = 0;
	printed[0] = '\0';
	print_calls = 0;
	vmem_set_funcs(NULL, NULL, NULL, NULL, capture_print);
	vmem_stats_print(vmp, opts);
	vmem_set_funcs(NULL, NULL, NULL, NULL, NULL);
	return printed;
}

static void *some_blocks[64];

static void allocate_some(VMEM *vmp)
{
	for (int i = 0; i < 64; i++)
		some_blocks[i] = vmem_malloc(vmp, i % 16 == 0 ? 200000 : (size_t)(16 + i * 40));
}

static void free_some(VMEM *vmp)
{
	for (int i = 0; i < 64; i++)
		vmem_free(vmp, some_blocks[i]);
}

static void stats_print_letters_omit_sections(void **state)
{
	VMEM *vmp = pool(state);
	allocate_some(vmp);
	static const char *const headings[] = {"General\n", "Totals", "Thread heaps\n", "Bins\n",
					       "Large and huge allocations\n"};
	static const char *const letters[] = {"g", "m", "a", "b", "l"};
	size_t full = strlen(report(vmp, NULL));
	assert_true(print_calls >= 1);
	for (int i = 0; i < 5; i++)
		assert_non_null(strstr(printed, headings[i]));
	for (int i = 0; i < 5; i++) {
		size_t without = strlen(report(vmp, letters[i]));
		assert_true(without < full);
		assert_null(strstr(printed, headings[i]));
		for (int j = 0; j < 5; j++)
			if (j != i)
				assert_non_null(strstr(printed, headings[j]));
	}
	/* unknown letters change nothing */
	assert_int_equal(strlen(report(vmp, "xyz")), full);
	assert_int_equal(strlen(report(vmp, "")), full);
	assert_true(strlen(report(vmp, "gmabl")) < 64);
	free_some(vmp);
}

static void stats_print_of_no_pool_prints_nothing(void **state)
{
	(void)state;
	errno = 0;
	report(NULL, NULL);
	assert_int_equal(printed_length, 0);
	assert_int_equal(errno, EINVAL);
	VMEM *gone = vmem_create("/tmp", VMEM_MIN_POOL);
	vmem_delete(gone);
	errno = 0;
	report(gone, "J");
#ifdef VMEM_CHECKED
	/* no report; the checked build logs the refusal whatever the level */
	assert_int_equal(strncmp(printed, "<libvmem>: <1>", 14), 0);
	assert_non_null(strstr(printed, "invalid pool handle"));
	assert_int_equal(print_calls, 1);
#else
	assert_int_equal(printed_length, 0);
#endif
	assert_int_equal(errno, EINVAL);
}

/* ------------------------------------------------ a small strict JSON reader */

enum json_type { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT };

struct json {
	enum json_type type;
	const char *key; /* member name inside an object (not terminated) */
	size_t key_length;
	double number;
	const char *string;
	size_t string_length;
	int first_child; /* index into nodes, -1 none */
	int next;	 /* next sibling, -1 none */
};

static struct json nodes[4096];
static int node_count;

static void skip_space(const char **p)
{
	while (**p == ' ' || **p == '\n' || **p == '\t' || **p == '\r')
		(*p)++;
}

static bool parse_string(const char **p, const char **start, size_t *length)
{
	if (**p != '"')
		return false;
	(*p)++;
	*start = *p;
	while (**p != '"') {
		if (**p == '\0' || (unsigned char)**p < 0x20)
			return false;
		if (**p == '\\') {
			(*p)++;
			if (**p != '"' && **p != '\\' && **p != '/' && **p != 'n')
				return false;
		}
		(*p)++;
	}
	*length = (size_t)(*p - *start);
	(*p)++;
	return true;
}

static int parse_value(const char **p);

/* The members or elements of an object or array, after its opening bracket. */
static bool parse_children(const char **p, int parent, char close, bool named)
{
	int last = -1;
	skip_space(p);
	if (**p == close) {
		(*p)++;
		return true;
	}
	for (;;) {
		const char *key = NULL;
		size_t key_length = 0;
		skip_space(p);
		if (named) {
			if (!parse_string(p, &key, &key_length))
				return false;
			skip_space(p);
			if (**p != ':')
				return false;
			(*p)++;
		}
		int child = parse_value(p);
		if (child < 0)
			return false;
		nodes[child].key = key;
		nodes[child].key_length = key_length;
		if (last < 0)
			nodes[parent].first_child = child;
		else
			nodes[last].next = child;
		last = child;
		skip_space(p);
		if (**p == ',') {
			(*p)++;
			continue;
		}
		if (**p != close)
			return false;
		(*p)++;
		return true;
	}
}

static int parse_value(const char **p)
{
	skip_space(p);
	if (node_count == (int)(sizeof(nodes) / sizeof(nodes[0])))
		return -1;
	int n = node_count++;
	nodes[n] = (struct json){.first_child = -1, .next = -1};
	char c = **p;
	if (c == '{' || c == '[') {
		(*p)++;
		nodes[n].type = c == '{' ? J_OBJECT : J_ARRAY;
		return parse_children(p, n, c == '{' ? '}' : ']', c == '{') ? n : -1;
	}
	if (c == '"') {
		nodes[n].type = J_STRING;
		return parse_string(p, &nodes[n].string, &nodes[n].string_length) ? n : -1;
	}
	if (strncmp(*p, "null", 4) == 0 || strncmp(*p, "true", 4) == 0) {
		nodes[n].type = c == 'n' ? J_NULL : J_BOOL;
		*p += 4;
		return n;
	}
	if (strncmp(*p, "false", 5) == 0) {
		nodes[n].type = J_BOOL;
		*p += 5;
		return n;
	}
	if (c == '-' || (c >= '0' && c <= '9')) {
		char *end;
		nodes[n].type = J_NUMBER;
		nodes[n].number = strtod(*p, &end);
		if (end == *p)
			return -1;
		*p = end;
		return n;
	}
	return -1;
}

/* Parses all of `text` (one value, then only white space); the root or -1. */
static int parse_json(const char *text)
{
	node_count = 0;
	const char *p = text;
	int root = parse_value(&p);
	skip_space(&p);
	return root >= 0 && *p == '\0' ? root : -1;
}

static int member(int object, const char *name)
{
	if (object < 0 || nodes[object].type != J_OBJECT)
		return -1;
	for (int c = nodes[object].first_child; c >= 0; c = nodes[c].next)
		if (nodes[c].key_length == strlen(name) &&
		    strncmp(nodes[c].key, name, nodes[c].key_length) == 0)
			return c;
	return -1;
}

static double number_at(int object, const char *name)
{
	int n = member(object, name);
	assert_true(n >= 0);
	assert_int_equal(nodes[n].type, J_NUMBER);
	return nodes[n].number;
}

static void json_parser_refuses_broken_text(void **state)
{
	(void)state;
	/* the reader the next test relies on does refuse bad JSON */
	assert_true(parse_json("{\"a\":[1,2,{\"b\":null}],\"c\":\"x\"}") >= 0);
	assert_int_equal(parse_json("{\"a\":1,}"), -1);
	assert_int_equal(parse_json("{\"a\" 1}"), -1);
	assert_int_equal(parse_json("[1 2]"), -1);
	assert_int_equal(parse_json("{} x"), -1);
	assert_int_equal(parse_json("{\"a\":nul}"), -1);
}

static void stats_print_json_matches_stats_get(void **state)
{
	VMEM *vmp = pool(state);
	bool file = ((struct fixture *)*state)->file;
	allocate_some(vmp);
	struct vmem_stats st;
	assert_int_equal(vmem_stats_get(vmp, &st, sizeof(st)), 0);
	const char *text = report(vmp, "J");
	int root = parse_json(text);
	if (root < 0)
		fail_msg("not JSON: %s", text);
	int general = member(root, "general");
	int kind = member(general, "pool_kind");
	assert_true(kind >= 0 && nodes[kind].type == J_STRING);
	const char *expected_kind = file ? "file" : "region";
	assert_int_equal(nodes[kind].string_length, strlen(expected_kind));
	assert_memory_equal(nodes[kind].string, expected_kind, strlen(expected_kind));
	assert_true(number_at(general, "pool_size") == (double)POOL_SIZE);

	int totals = member(root, "totals");
	assert_true(number_at(totals, "pool_size") == (double)st.pool_size);
	assert_true(number_at(totals, "allocated") == (double)st.allocated);
	assert_true(number_at(totals, "active") == (double)st.active);
	assert_true(number_at(totals, "metadata") == (double)st.metadata);
	assert_true(number_at(totals, "allocations") == (double)st.allocations);
	/* resident may move between the two calls only in a file pool's
	 * blocks; both are bounded by the pool */
	assert_true(number_at(totals, "resident") <= (double)st.pool_size);
	int file_blocks = member(totals, "file_blocks");
	assert_true(file_blocks >= 0);
	assert_int_equal(nodes[file_blocks].type, file ? J_NUMBER : J_NULL);

	int bins = member(root, "bins");
	assert_true(bins >= 0 && nodes[bins].type == J_ARRAY);
	int bin_count = 0;
	double blocks_in_bins = 0;
	for (int b = nodes[bins].first_child; b >= 0; b = nodes[b].next) {
		assert_true(number_at(b, "size") > 0);
		assert_true(number_at(b, "pages") >= 1);
		assert_true(number_at(b, "capacity") >= number_at(b, "blocks"));
		blocks_in_bins += number_at(b, "blocks");
		bin_count++;
	}
	assert_true(bin_count > 0);
	int large = member(root, "large");
	assert_true(number_at(large, "count") == 4.0); /* the four 200000-byte blocks */
	assert_true(blocks_in_bins + number_at(large, "count") == (double)st.allocations);
	int heaps = member(root, "heaps");
	assert_true(heaps >= 0 && nodes[heaps].type == J_ARRAY && nodes[heaps].first_child >= 0);

	/* letters combine with J: the bins are left out */
	root = parse_json(report(vmp, "Jb"));
	assert_true(root >= 0);
	assert_int_equal(member(root, "bins"), -1);
	assert_true(member(root, "totals") >= 0);
	free_some(vmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(check_after_heavy_churn),
	    BOTH(check_while_four_threads_allocate),
	    cmocka_unit_test(check_of_deleted_pools_is_minus_one),
	    BOTH(stats_get_refuses_bad_arguments),
	    BOTH(stats_get_follows_malloc_and_free),
	    BOTH(stats_get_writes_only_its_struct),
	    BOTH(stats_print_letters_omit_sections),
	    cmocka_unit_test(stats_print_of_no_pool_prints_nothing),
	    cmocka_unit_test(json_parser_refuses_broken_text),
	    BOTH(stats_print_json_matches_stats_get),
	};
	return cmocka_run_group_tests_name("check and statistics", tests, NULL, NULL);
}
