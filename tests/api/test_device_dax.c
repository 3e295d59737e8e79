/* SPDX-License-Identifier: BSD-3-Clause */
/* test_device_dax.c -- pools on a whole device DAX; skipped where the machine has none. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <libvmem.h>

#include "test_helpers.h"

static char device[300];

/* The first /dev/daxX.Y character device, or "" (VMEM_TEST_DEVDAX overrides). */
static void find_device_dax(void)
{
	const char *chosen = getenv("VMEM_TEST_DEVDAX");
	if (chosen != NULL) {
		snprintf(device, sizeof(device), "%s", chosen);
		return;
	}
	DIR *d = opendir("/dev");
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		char path[300];
		snprintf(path, sizeof(path), "/dev/%s", e->d_name);
		if (strncmp(e->d_name, "dax", 3) == 0 && stat(path, &st) == 0 && S_ISCHR(st.st_mode)) {
			snprintf(device, sizeof(device), "%s", path);
			break;
		}
	}
	closedir(d);
}

static void whole_device_backs_the_pool(void **state)
{
	(void)state;
	int fds = count_open_fds();
	VMEM *vmp = vmem_create(device, VMEM_MIN_POOL);
	if (vmp == NULL)
		fail_msg("%s: %s", device, vmem_errormsg());
	vmem_delete(vmp);
	assert_int_equal(count_open_fds(), fds);
}

static void size_beyond_the_device(void **state)
{
	(void)state;
	errno = 0;
	assert_null(vmem_create(device, (size_t)1 << 50));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(vmem_errormsg(), "less than the"));
}

int main(void)
{
	find_device_dax();
	if (device[0] == '\0')
		skip_whole_program("no device DAX (/dev/daxX.Y) on this machine");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(whole_device_backs_the_pool),
	    cmocka_unit_test(size_beyond_the_device),
	};
	return cmocka_run_group_tests_name("device DAX pools", tests, NULL, NULL);
}
