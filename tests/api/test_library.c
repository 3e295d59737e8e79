/* SPDX-License-Identifier: BSD-3-Clause */
/* test_library.c -- vmem_check_version, vmem_errormsg, vmem_set_funcs and the log variables. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libvmem.h>

#include "test_helpers.h"

static const char *self_path;

/* ---------------------------------------------------------------- versions */

static void version_compatible(void **state)
{
	(void)state;
	assert_null(vmem_check_version(VMEM_MAJOR_VERSION, 0));
	assert_null(vmem_check_version(VMEM_MAJOR_VERSION, VMEM_MINOR_VERSION));
}

static void version_major_mismatch(void **state)
{
	(void)state;
	const char *msg = vmem_check_version(2, 1);
	assert_non_null(msg);
	assert_string_equal(msg, "libvmem major version mismatch (need 2, found 1)");
	/* the text is the thread's error message */
	assert_string_equal(vmem_errormsg(), msg);
	assert_string_equal(vmem_check_version(0, 0), "libvmem major version mismatch (need 0, found 1)");
}

static void version_minor_mismatch(void **state)
{
	(void)state;
	char expected[80];
	snprintf(expected, sizeof(expected), "libvmem minor version mismatch (need %d, found %d)",
		 VMEM_MINOR_VERSION + 1, VMEM_MINOR_VERSION);
	assert_string_equal(vmem_check_version(VMEM_MAJOR_VERSION, VMEM_MINOR_VERSION + 1), expected);
}

static void message_survives_success(void **state)
{
	(void)state;
	assert_null(vmem_create(NULL, VMEM_MIN_POOL));
	VMEM *vmp = vmem_create("/tmp", VMEM_MIN_POOL);
	assert_non_null(vmp);
	vmem_delete(vmp);
	assert_string_equal(vmem_errormsg(), "invalid (NULL) path");
}

/* ---------------------------------------------------------------- set_funcs */

static int malloc_calls, free_calls, realloc_calls, strdup_calls, print_calls;
static long outstanding;
static int fail_malloc;

static void *counting_malloc(size_t size)
{
	malloc_calls++;
	if (fail_malloc)
		return NULL;
	void *p = malloc(size);
	if (p != NULL)
		outstanding++;
	return p;
}

static void counting_free(void *p)
{
	free_calls++;
	if (p != NULL)
		outstanding--;
	free(p);
}

static void *counting_realloc(void *p, size_t size)
{
	realloc_calls++;
	return realloc(p, size);
}

static char *counting_strdup(const char *s)
{
	strdup_calls++;
	char *copy = strdup(s);
	if (copy != NULL)
		outstanding++;
	return copy;
}

static char printed[8192];

static void capturing_print(const char *s)
{
	print_calls++;
	strncat(printed, s, sizeof(printed) - strlen(printed) - 1);
}

static void reset_counters(void)
{
	malloc_calls = free_calls = realloc_calls = strdup_calls = print_calls = 0;
	outstanding = 0;
	fail_malloc = 0;
	printed[0] = '\0';
}

static void create_use_delete_both_kinds(void)
{
	void *region = map_region(VMEM_MIN_POOL);
	assert_non_null(region);
	VMEM *file_pool = vmem_create("/tmp", VMEM_MIN_POOL);
	VMEM *region_pool = vmem_create_in_region(region, VMEM_MIN_POOL);
	assert_non_null(file_pool);
	assert_non_null(region_pool);
	vmem_delete(region_pool);
	vmem_delete(file_pool);
	unmap_region(region, VMEM_MIN_POOL);
}

static void without_funcs_nothing_is_called(void **state)
{
	(void)state;
	reset_counters();
	create_use_delete_both_kinds();
	assert_int_equal(malloc_calls + free_calls + realloc_calls + strdup_calls + print_calls, 0);
}

static void counting_funcs_see_bookkeeping(void **state)
{
	(void)state;
	reset_counters();
	vmem_set_funcs(counting_malloc, counting_free, counting_realloc, counting_strdup, NULL);
	void *region = map_region(VMEM_MIN_POOL);
	VMEM *file_pool = vmem_create("/tmp", VMEM_MIN_POOL);
	VMEM *region_pool = vmem_create_in_region(region, VMEM_MIN_POOL);
	assert_non_null(file_pool);
	assert_non_null(region_pool);
	/* a record per live pool, and the file pool's directory name */
	assert_true(malloc_calls >= 2);
	assert_true(strdup_calls >= 1);
	assert_true(outstanding >= 2);
	vmem_delete(region_pool);
	vmem_delete(file_pool);
	assert_int_equal(outstanding, 0);
	assert_true(free_calls >= 2);
	unmap_region(region, VMEM_MIN_POOL);
	vmem_set_funcs(NULL, NULL, NULL, NULL, NULL);
}

static void restoring_defaults_stops_the_calls(void **state)
{
	(void)state;
	vmem_set_funcs(counting_malloc, counting_free, NULL, NULL, NULL);
	vmem_set_funcs(NULL, NULL, NULL, NULL, NULL);
	reset_counters();
	create_use_delete_both_kinds();
	assert_int_equal(malloc_calls + free_calls, 0);
}

static void blocks_are_freed_by_the_function_that_allocated_them(void **state)
{
	(void)state;
	/* a pool created under the counting functions and deleted after
	 * they were replaced gives its record back to the counting free */
	reset_counters();
	vmem_set_funcs(counting_malloc, counting_free, NULL, NULL, NULL);
	VMEM *vmp = vmem_create("/tmp", VMEM_MIN_POOL);
	assert_non_null(vmp);
	vmem_set_funcs(NULL, NULL, NULL, NULL, NULL);
	assert_true(outstanding > 0);
	vmem_delete(vmp);
	assert_int_equal(outstanding, 0);
}

static void failing_malloc_fails_creation_cleanly(void **state)
{
	(void)state;
	reset_counters();
	vmem_set_funcs(counting_malloc, counting_free, NULL, NULL, NULL);
	fail_malloc = 1;
	void *region = map_region(VMEM_MIN_POOL);
	memset(region, 0x3c, 8192);
	int fds = count_open_fds();
	int maps = count_mappings();
	errno = 0;
	assert_null(vmem_create("/tmp", VMEM_MIN_POOL));
	assert_int_equal(errno, ENOMEM);
	assert_string_equal(vmem_errormsg(), "out of memory for the pool record");
	errno = 0;
	assert_null(vmem_create_in_region(region, VMEM_MIN_POOL));
	assert_int_equal(errno, ENOMEM);
	assert_true(malloc_calls >= 2);
	assert_int_equal(outstanding, 0);
	assert_int_equal(count_open_fds(), fds);
	assert_mapping_count(maps);
	/* the region is as it was */
	for (int i = 0; i < 8192; i++)
		assert_int_equal(((unsigned char *)region)[i], 0x3c);
	fail_malloc = 0;
	vmem_set_funcs(NULL, NULL, NULL, NULL, NULL);
	unmap_region(region, VMEM_MIN_POOL);
}

static void only_one_of_malloc_and_free_is_not_enough(void **state)
{
	(void)state;
	reset_counters();
	vmem_set_funcs(counting_malloc, NULL, NULL, NULL, NULL);
	create_use_delete_both_kinds();
	assert_int_equal(malloc_calls, 0);
	vmem_set_funcs(NULL, NULL, NULL, NULL, NULL);
}

/* ---------------------------------------------------------------- logging */

static pid_t last_child;

/* Runs this program again as `mode` with `env` added; returns its wait
 * status and what it wrote to stderr (its pid stays in last_child). */
static int run_child(const char *mode, char *const env[], char *err_out, size_t err_size)
{
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		for (int i = 0; env[i] != NULL; i++)
			putenv(env[i]);
		execl(self_path, self_path, mode, (char *)NULL);
		_exit(127);
	}
	last_child = pid;
	close(pipefd[1]);
	size_t used = 0;
	ssize_t n;
	while (used + 1 < err_size && (n = read(pipefd[0], err_out + used, err_size - used - 1)) > 0)
		used += (size_t)n;
	err_out[used] = '\0';
	close(pipefd[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	return status;
}

/* child modes: what a process started with log variables does */
static int child_fail_once(void)
{
	return vmem_create(NULL, VMEM_MIN_POOL) == NULL ? 0 : 1;
}

static int child_print_func(void)
{
	vmem_set_funcs(NULL, NULL, NULL, NULL, capturing_print);
	if (vmem_create("/nonexistent-vmem-dir", VMEM_MIN_POOL) != NULL)
		return 1;
	if (strstr(printed, "<libvmem>: <1>") == NULL ||
	    strstr(printed, "open: No such file or directory") == NULL)
		return 2;
	return print_calls > 0 ? 0 : 3;
}

static int child_create_and_delete(void)
{
	VMEM *vmp = vmem_create("/tmp", VMEM_MIN_POOL);
	if (vmp == NULL)
		return 1;
	vmem_delete(vmp);
	return 0;
}

static void log_level_zero_prints_nothing(void **state)
{
	(void)state;
	char err[4096];
	char *env[] = {"VMEM_LOG_LEVEL=0", NULL};
	int status = run_child("fail-once", env, err, sizeof(err));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(err, "");
}

static void log_level_one_prints_errors(void **state)
{
	(void)state;
	char err[4096];
	char *env[] = {"VMEM_LOG_LEVEL=1", NULL};
	int status = run_child("fail-once", env, err, sizeof(err));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_non_null(strstr(err, "<libvmem>: <1> ["));
	assert_non_null(strstr(err, "invalid (NULL) path\n"));
}

static void print_func_receives_log_lines(void **state)
{
	(void)state;
	char err[4096];
	char *env[] = {"VMEM_LOG_LEVEL=1", NULL};
	int status = run_child("print-func", env, err, sizeof(err));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the print function took the line: nothing went to stderr */
	assert_string_equal(err, "");
}

static void log_file_with_pid_suffix(void **state)
{
	(void)state;
	char *dir = make_test_dir();
	assert_non_null(dir);
	char var[4200], err[4096];
	snprintf(var, sizeof(var), "VMEM_LOG_FILE=%s/vmem.log-", dir);
	char *env[] = {"VMEM_LOG_LEVEL=2", var, NULL};
	int status = run_child("create-delete", env, err, sizeof(err));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(err, "");
	/* exactly one file, named vmem.log-<pid of the child> */
	assert_int_equal(count_dir_entries(dir), 1);
	char found[4300];
	snprintf(found, sizeof(found), "%s/vmem.log-%d", dir, (int)last_child);
	FILE *f = fopen(found, "r");
	assert_non_null(f);
	char content[4096];
	size_t n = fread(content, 1, sizeof(content) - 1, f);
	content[n] = '\0';
	fclose(f);
	assert_non_null(strstr(content, "created"));
	assert_non_null(strstr(content, "deleted"));
	unlink(found);
	remove_test_dir(dir);
}

static void unopenable_log_file_aborts(void **state)
{
	(void)state;
	char err[4096];
	char *env[] = {"VMEM_LOG_FILE=/nonexistent-vmem-dir/log", NULL};
	int status = run_child("create-delete", env, err, sizeof(err));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_string_equal(err, "Error (libvmem): VMEM_LOG_FILE=/nonexistent-vmem-dir/log: No such file or "
				 "directory\n");
}

int main(int argc, char **argv)
{
	self_path = argv[0];
	if (argc == 2) {
		if (strcmp(argv[1], "fail-once") == 0)
			return child_fail_once();
		if (strcmp(argv[1], "print-func") == 0)
			return child_print_func();
		if (strcmp(argv[1], "create-delete") == 0)
			return child_create_and_delete();
		return 64;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(version_compatible),
	    cmocka_unit_test(version_major_mismatch),
	    cmocka_unit_test(version_minor_mismatch),
	    cmocka_unit_test(message_survives_success),
	    cmocka_unit_test(without_funcs_nothing_is_called),
	    cmocka_unit_test(counting_funcs_see_bookkeeping),
	    cmocka_unit_test(restoring_defaults_stops_the_calls),
	    cmocka_unit_test(blocks_are_freed_by_the_function_that_allocated_them),
	    cmocka_unit_test(failing_malloc_fails_creation_cleanly),
	    cmocka_unit_test(only_one_of_malloc_and_free_is_not_enough),
	    cmocka_unit_test(log_level_zero_prints_nothing),
	    cmocka_unit_test(log_level_one_prints_errors),
	    cmocka_unit_test(print_func_receives_log_lines),
	    cmocka_unit_test(log_file_with_pid_suffix),
	    cmocka_unit_test(unopenable_log_file_aborts),
	};
	return cmocka_run_group_tests_name("library-wide calls", tests, NULL, NULL);
}
