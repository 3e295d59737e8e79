/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * valgrind_cases.c -- programs for test_valgrind.sh to run under memcheck:
 * each case either uses pools correctly (memcheck must stay silent) or makes
 * one mistake memcheck must report as it would on the system heap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <libvmem.h>

static int clean_use(VMEM *vmp)
{
	void *blocks[300];
	for (int i = 0; i < 300; i++) {
		size_t size = (size_t)(i * 37 % 5000) + 1;
		if (i % 50 == 0)
			size = 70000 + (size_t)i * 1000; /* large blocks too */
		blocks[i] = vmem_malloc(vmp, size);
		if (blocks[i] == NULL)
			return 1;
		memset(blocks[i], i, size);
	}
	char *z = vmem_calloc(vmp, 100, 10);
	int sum = 0;
	for (int i = 0; i < 1000; i++)
		sum += z[i];
	char *r = vmem_realloc(vmp, blocks[1], 100000);
	r[99999] = 1;
	blocks[1] = r;
	for (int i = 0; i < 300; i += 2)
		vmem_free(vmp, blocks[i]);
	/* the checker and the statistics walk free lists and metadata */
	struct vmem_stats st;
	printf("vmem_check: %d, stats: %d\n", vmem_check(vmp), vmem_stats_get(vmp, &st, sizeof(st)));
	for (int i = 0; i < 300; i += 2)
		blocks[i] = vmem_malloc(vmp, 64);
	for (int i = 0; i < 300; i++)
		vmem_free(vmp, blocks[i]);
	vmem_free(vmp, z);
	return sum;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	size_t region_size = 32 << 20;
	void *region = mmap(NULL, region_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int in_region = strcmp(mode, "region-clean") == 0 || strcmp(mode, "region-reuse") == 0 ||
			strcmp(mode, "stale-read") == 0;
	VMEM *vmp = in_region ? vmem_create_in_region(region, region_size) : vmem_create("/tmp", region_size);
	if (vmp == NULL) {
		fprintf(stderr, "create: %s\n", vmem_errormsg());
		return 2;
	}
	int status = 0;
	if (strcmp(mode, "clean") == 0 || strcmp(mode, "region-clean") == 0) {
		status = clean_use(vmp);
	} else if (strcmp(mode, "leak") == 0) {
		void *lost = vmem_malloc(vmp, 16);
		memset(lost, 1, 16);
		lost = NULL; /* the only pointer to it is gone */
	} else if (strcmp(mode, "overrun") == 0) {
		int *ints = vmem_malloc(vmp, 48);
		ints[12] = 7; /* 4 bytes past a 48-byte block */
		vmem_free(vmp, ints);
	} else if (strcmp(mode, "use-after-free") == 0) {
		char *p = vmem_malloc(vmp, 100);
		vmem_free(vmp, p);
		p[10] = 1;
	} else if (strcmp(mode, "region-reuse") == 0 || strcmp(mode, "stale-read") == 0) {
		/* a pool deleted with a block in it, and a new pool in its place */
		char *old = vmem_malloc(vmp, 264);
		memset(old, 3, 264);
		vmem_free(vmp, old);
		old = vmem_malloc(vmp, 264);
		if (strcmp(mode, "region-reuse") == 0)
			vmem_free(vmp, old); /* only stale-read keeps it past the delete */
		vmem_delete(vmp);
		vmp = vmem_create_in_region(region, region_size);
		if (vmp == NULL)
			return 3;
		status = clean_use(vmp);
		if (strcmp(mode, "stale-read") == 0)
			status += old[10]; /* the old pool's block is gone */
	} else {
		fprintf(stderr, "unknown case '%s'\n", mode);
		return 64;
	}
	vmem_delete(vmp);
	munmap(region, region_size);
	return status;
}
