/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pair64.c -- the allocator's fast path in isolation: N malloc+free pairs of
 * 64 bytes (LIFO), in a vmem file pool, a vmem region pool, or the process
 * heap (glibc, or jemalloc/mimalloc through LD_PRELOAD).
 *
 *   pair64 BACKEND PAIRS      BACKEND: vmem-file | vmem-region | malloc
 *
 * Prints nanoseconds per pair.  For instruction counts, run it under
 * `valgrind --tool=callgrind` with two PAIRS values: the difference over
 * the difference in pairs cancels out start-up (utils/bench/callgrind-pair64).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <libvmem.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s vmem-file|vmem-region|malloc PAIRS\n", argv[0]);
		return 64;
	}
	const char *backend = argv[1];
	long pairs = atol(argv[2]);
	VMEM *vmp = NULL;
	size_t region_size = 64 << 20;
	if (strcmp(backend, "vmem-file") == 0) {
		vmp = vmem_create("/tmp", region_size);
	} else if (strcmp(backend, "vmem-region") == 0) {
		void *region =
		    mmap(NULL, region_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		vmp = vmem_create_in_region(region, region_size);
	} else if (strcmp(backend, "malloc") != 0) {
		fprintf(stderr, "unknown backend %s\n", backend);
		return 64;
	}
	if (strcmp(backend, "malloc") != 0 && vmp == NULL) {
		fprintf(stderr, "pool: %s\n", vmem_errormsg());
		return 1;
	}
	/* warm the path once */
	void *warm = vmp ? vmem_malloc(vmp, 64) : malloc(64);
	vmp ? vmem_free(vmp, warm) : free(warm);

	double start = now_ns();
	if (vmp != NULL) {
		for (long i = 0; i < pairs; i++) {
			void *volatile p = vmem_malloc(vmp, 64);
			vmem_free(vmp, p);
		}
	} else {
		for (long i = 0; i < pairs; i++) {
			void *volatile p = malloc(64);
			free(p);
		}
	}
	double elapsed = now_ns() - start;
	printf("%s %.2f ns/pair\n", backend, elapsed / (double)pairs);
	return 0;
}
