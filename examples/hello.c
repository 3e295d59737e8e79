/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hello.c -- the library's main job in one program: a pool in a temporary
 * file under /tmp and one in memory the program mapped itself, each created,
 * used (strings, an array that grows, a large block) and deleted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <libvmem.h>

int main(void)
{
	const char *version_problem = vmem_check_version(VMEM_MAJOR_VERSION, 0);
	if (version_problem != NULL) {
		fprintf(stderr, "hello: %s\n", version_problem);
		return 1;
	}

	/* a pool in an unnamed temporary file: nothing shows in /tmp */
	VMEM *file_pool = vmem_create("/tmp", VMEM_MIN_POOL);
	if (file_pool == NULL) {
		fprintf(stderr, "hello: vmem_create: %s\n", vmem_errormsg());
		return 1;
	}
	printf("file pool of %zu bytes at %p\n", VMEM_MIN_POOL, (void *)file_pool);

	/* a pool inside memory the program owns */
	size_t region_size = 32 << 20;
	void *region = mmap(NULL, region_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED) {
		perror("hello: mmap");
		return 1;
	}
	VMEM *region_pool = vmem_create_in_region(region, region_size);
	if (region_pool == NULL) {
		fprintf(stderr, "hello: vmem_create_in_region: %s\n", vmem_errormsg());
		return 1;
	}
	printf("region pool of %zu bytes at %p\n", region_size, (void *)region_pool);

	/* use them as heaps of their own */
	char *greeting = vmem_strdup(file_pool, "hello from a file pool");
	int *squares = NULL;
	for (int n = 1; n <= 1000; n *= 10) {
		int *grown = vmem_realloc(region_pool, squares, (size_t)n * sizeof(int));
		if (grown == NULL) {
			fprintf(stderr, "hello: vmem_realloc: %s\n", vmem_errormsg());
			return 1;
		}
		squares = grown;
		for (int i = 0; i < n; i++)
			squares[i] = i * i;
	}
	double *matrix = vmem_calloc(file_pool, 512 * 512, sizeof(double));
	if (greeting == NULL || matrix == NULL) {
		fprintf(stderr, "hello: allocation: %s\n", vmem_errormsg());
		return 1;
	}
	printf("%s; 999 squared is %d; a %zu-byte zeroed matrix starts with %g\n", greeting, squares[999],
	       vmem_malloc_usable_size(file_pool, matrix), matrix[0]);
	vmem_free(file_pool, greeting);
	vmem_free(region_pool, squares);
	vmem_free(file_pool, matrix);

	/* errors come with errno and a message */
	if (vmem_create("/no/such/dir", VMEM_MIN_POOL) == NULL)
		printf("expected failure: errno %d (%s): %s\n", errno, strerror(errno), vmem_errormsg());

	vmem_delete(region_pool);
	vmem_delete(file_pool);
	munmap(region, region_size);
	printf("both pools deleted\n");
	return 0;
}
