/* SPDX-License-Identifier: BSD-3-Clause */
/* test_create_errors.c -- every way vmem_create can fail: errno, message, nothing left behind. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libvmem.h>

#include "test_helpers.h"

struct baseline {
	int fds;
	int mappings;
};

static struct baseline take_baseline(void)
{
	struct baseline b = {count_open_fds(), count_mappings()};
	return b;
}

/* A failed create returns NULL with `err`, a message starting with `prefix`,
 * and leaves no descriptor or mapping behind. */
static void expect_create_failure(const char *dir, size_t size, int err, const char *prefix)
{
	struct baseline before = take_baseline();
	errno = 0;
	VMEM *vmp = vmem_create(dir, size);
	int saved = errno;
	assert_null(vmp);
	assert_int_equal(saved, err);
	const char *msg = vmem_errormsg();
	if (strncmp(msg, prefix, strlen(prefix)) != 0)
		fail_msg("message \"%s\" does not start with \"%s\"", msg, prefix);
	assert_null(strchr(msg, '\n'));
	struct baseline after = take_baseline();
	assert_int_equal(after.fds, before.fds);
	assert_int_equal(after.mappings, before.mappings);
}

static void size_below_minimum(void **state)
{
	(void)state;
	char expected[64];
	snprintf(expected, sizeof(expected), "size %zu smaller than %zu", VMEM_MIN_POOL - 1, VMEM_MIN_POOL);
	expect_create_failure("/tmp", VMEM_MIN_POOL - 1, EINVAL, expected);
	assert_string_equal(vmem_errormsg(), expected);
	expect_create_failure("/tmp", 0, EINVAL, "size 0 smaller than");
}

static void size_checked_before_path(void **state)
{
	(void)state;
	/* as in the original: the size is checked first */
	expect_create_failure(NULL, 1, EINVAL, "size 1 smaller than");
}

static void null_path(void **state)
{
	(void)state;
	expect_create_failure(NULL, VMEM_MIN_POOL, EINVAL, "invalid (NULL) path");
	assert_string_equal(vmem_errormsg(), "invalid (NULL) path");
}

static void missing_directory(void **state)
{
	(void)state;
	expect_create_failure("/nonexistent-vmem-dir/below", VMEM_MIN_POOL, ENOENT, "open: ");
	assert_string_equal(vmem_errormsg(), "open: No such file or directory");
}

static void regular_file_as_directory(void **state)
{
	(void)state;
	char path[] = "/tmp/vmem-test-file.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	expect_create_failure(path, VMEM_MIN_POOL, ENOTDIR, "open: Not a directory");
	unlink(path);
}

static void character_device_not_dax(void **state)
{
	(void)state;
	expect_create_failure("/dev/null", VMEM_MIN_POOL, EINVAL,
			      "/dev/null is a character device but not device DAX");
}

static void size_too_large_for_a_file(void **state)
{
	(void)state;
	/* rounding SIZE_MAX up to a page would wrap: refused, not wrapped */
	expect_create_failure("/tmp", SIZE_MAX, EFBIG, "invalid size");
	expect_create_failure("/tmp", (size_t)INT64_MAX + 1, EFBIG, "invalid size");
}

static void size_beyond_the_file_system(void **state)
{
	(void)state;
	/* 2^62 bytes: ext4 and xfs refuse the file size (EFBIG); a file
	 * system that takes it leaves no address space to map it (ENOMEM) */
	struct baseline before = take_baseline();
	errno = 0;
	assert_null(vmem_create("/tmp", (size_t)1 << 62));
	if (errno == EFBIG)
		assert_string_equal(vmem_errormsg(), "ftruncate: File too large");
	else if (errno == ENOMEM)
		assert_non_null(strstr(vmem_errormsg(), "cannot reserve"));
	else
		fail_msg("errno %d: %s", errno, vmem_errormsg());
	struct baseline after = take_baseline();
	assert_int_equal(after.fds, before.fds);
	assert_int_equal(after.mappings, before.mappings);
}

static void no_permission(void **state)
{
	(void)state;
	char *dir = make_test_dir();
	assert_non_null(dir);
	assert_int_equal(chmod(dir, 0500), 0);
	/* root passes permission checks: test as an unprivileged user in a child */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(3);
		if (access(dir, W_OK) == 0)
			_exit(4); /* the user can write here after all: nothing to test */
		errno = 0;
		VMEM *vmp = vmem_create(dir, VMEM_MIN_POOL);
		_exit(vmp == NULL && errno == EACCES &&
			      strcmp(vmem_errormsg(), "open: Permission denied") == 0
			  ? 0
			  : 1);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	chmod(dir, 0700);
	remove_test_dir(dir);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 4 || WEXITSTATUS(status) == 3)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void file_system_full(void **state)
{
	(void)state;
	/* one page of tmpfs: the guard and header pages cannot both be allocated */
	char *dir = mount_small_tmpfs(4096);
	if (dir == NULL)
		skip();
	char filler[4200];
	snprintf(filler, sizeof(filler), "%s/filler", dir);
	int fd = open(filler, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	char page[4096];
	memset(page, 1, sizeof(page));
	while (write(fd, page, sizeof(page)) > 0) {
	}
	close(fd);
	int entries = count_dir_entries(dir);
	expect_create_failure(dir, VMEM_MIN_POOL, ENOSPC, "fallocate: No space left on device");
	assert_int_equal(count_dir_entries(dir), entries);
	unlink(filler);
	unmount_small_tmpfs(dir);
}

static void no_tmpfile_support_falls_back_to_mkstemp(void **state)
{
	(void)state;
	/* /proc refuses O_TMPFILE (EOPNOTSUPP) and then refuses the named
	 * file: the message names the fallback's call */
	expect_create_failure("/proc", VMEM_MIN_POOL, ENOENT, "mkstemp: ");
}

static void failure_keeps_earlier_pools_intact(void **state)
{
	(void)state;
	VMEM *vmp = vmem_create("/tmp", VMEM_MIN_POOL);
	assert_non_null(vmp);
	expect_create_failure("/nonexistent-vmem-dir", VMEM_MIN_POOL, ENOENT, "open: ");
	errno = 0;
	vmem_delete(vmp);
	assert_int_equal(errno, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(size_below_minimum),
	    cmocka_unit_test(size_checked_before_path),
	    cmocka_unit_test(null_path),
	    cmocka_unit_test(missing_directory),
	    cmocka_unit_test(regular_file_as_directory),
	    cmocka_unit_test(character_device_not_dax),
	    cmocka_unit_test(size_too_large_for_a_file),
	    cmocka_unit_test(size_beyond_the_file_system),
	    cmocka_unit_test(no_permission),
	    cmocka_unit_test(file_system_full),
	    cmocka_unit_test(no_tmpfile_support_falls_back_to_mkstemp),
	    cmocka_unit_test(failure_keeps_earlier_pools_intact),
	};
	return cmocka_run_group_tests_name("vmem_create errors", tests, NULL, NULL);
}
