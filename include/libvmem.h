/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libvmem.h -- volatile memory pools in files, device DAX or caller memory.
 *
 * A drop-in for the libvmem 1.1 interface: programs written for it build and
 * run unchanged.  See libvmem(7).
 */
#ifndef LIBVMEM_H
#define LIBVMEM_H 1

#include <stddef.h>
#include <wchar.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The opaque pool handle.  Only the struct tag differs from libvmem 1.1
 * ("struct vmem" would clash with the C++ namespace vmem); code that says
 * VMEM * is unaffected.
 */
typedef struct vmem_pool VMEM;

/* the smallest pool vmem_create and vmem_create_in_region accept */
#define VMEM_MIN_POOL ((size_t)(1024 * 1024 * 14)) /* 14 MiB */

#define VMEM_MAJOR_VERSION 1
#define VMEM_MINOR_VERSION 2

/* pool life cycle: vmem_create(3) */
VMEM *vmem_create(const char *dir, size_t size);
VMEM *vmem_create_in_region(void *addr, size_t size);
void vmem_delete(VMEM *vmp);

/* allocation: vmem_malloc(3) */
void *vmem_malloc(VMEM *vmp, size_t size);
void vmem_free(VMEM *vmp, void *ptr);
void *vmem_calloc(VMEM *vmp, size_t nmemb, size_t size);
void *vmem_realloc(VMEM *vmp, void *ptr, size_t size);
void *vmem_aligned_alloc(VMEM *vmp, size_t alignment, size_t size);
char *vmem_strdup(VMEM *vmp, const char *s);
wchar_t *vmem_wcsdup(VMEM *vmp, const wchar_t *s);
size_t vmem_malloc_usable_size(VMEM *vmp, void *ptr);

/* consistency and statistics: vmem_check(3), vmem_stats_print(3) */
int vmem_check(VMEM *vmp);
void vmem_stats_print(VMEM *vmp, const char *opts);

/*
 * Statistics as numbers: vmem_stats_get(3).  An extension of libvmem 1.1;
 * later versions may add members at the end, so callers pass the size of
 * the struct they were built with.
 */
struct vmem_stats {
	size_t pool_size;   /* bytes the pool spans */
	size_t allocated;   /* bytes in live allocations, sizes rounded up to their class */
	size_t active;	    /* bytes in pages and spans holding at least one live allocation */
	size_t resident;    /* bytes of the pool backed by memory or file blocks now */
	size_t metadata;    /* bytes the allocator itself uses inside the pool */
	size_t allocations; /* number of live allocations */
};
int vmem_stats_get(VMEM *vmp, struct vmem_stats *st, size_t st_size);

/*
 * Extensions of VMEM_MINOR_VERSION 2 (check vmem_check_version(1, 2)).
 *
 * The pool of a pointer: vmem_pool_from_ptr(3).  vmem_free, vmem_realloc
 * and vmem_malloc_usable_size also take a NULL pool and find it so.
 */
VMEM *vmem_pool_from_ptr(const void *ptr);

/* configured creation: vmem_config_new(3) */
typedef struct vmem_config vmem_config;
enum vmem_usage_policy {
	VMEM_USAGE_POLICY_DEFAULT,	/* free memory goes back after a delay, in batches */
	VMEM_USAGE_POLICY_CONSERVATIVE, /* free memory goes back at once */
};
vmem_config *vmem_config_new(void);
void vmem_config_delete(vmem_config *cfg);
int vmem_config_set_path(vmem_config *cfg, const char *dir_or_devdax);
int vmem_config_set_region(vmem_config *cfg, void *addr, size_t size);
int vmem_config_set_size(vmem_config *cfg, size_t size);
int vmem_config_set_usage_policy(vmem_config *cfg, enum vmem_usage_policy policy);
VMEM *vmem_create_with_config(const vmem_config *cfg);

/* giving memory back: vmem_purge(3) */
int vmem_set_usage_policy(VMEM *vmp, enum vmem_usage_policy policy);
size_t vmem_purge(VMEM *vmp);

/* can `dir` be mapped without the page cache (DAX)?  vmem_validate_dir(3) */
int vmem_validate_dir(const char *dir);

/* library-wide: vmem_check_version(3), vmem_set_funcs(3), vmem_errormsg(3) */
const char *vmem_check_version(unsigned major_required, unsigned minor_required);
void vmem_set_funcs(void *(*malloc_func)(size_t size), void (*free_func)(void *ptr),
		    void *(*realloc_func)(void *ptr, size_t size), char *(*strdup_func)(const char *s),
		    void (*print_func)(const char *s));
const char *vmem_errormsg(void);

#ifdef __cplusplus
}
#endif

#endif /* LIBVMEM_H */
