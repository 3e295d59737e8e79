// SPDX-License-Identifier: BSD-3-Clause
// os.hpp -- every operating-system facility the library uses, and nothing else.
//
// This is the only layer that makes system calls.  Each function returns 0 or
// an errno value and leaves errno itself as it found it, so callers can
// report the failure and undo their earlier steps in order.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <sys/types.h>

namespace vmem::os {

namespace detail {
extern std::atomic<size_t> g_page_size; // 0 until first read
size_t read_page_size() noexcept;
} // namespace detail

// The system page size.  x86 has one base page size, 4 KiB, so there it is
// a constant and the free path, which finds a pool's header a page past
// its handle, loads nothing for it; elsewhere it is read once.
inline size_t page_size() noexcept
{
#if defined(__x86_64__) || defined(__i386__)
	return 4096;
#else
	size_t size = detail::g_page_size.load(std::memory_order_relaxed);
	return __builtin_expect(size != 0, 1) ? size : detail::read_page_size();
#endif
}

// What a path passed to vmem_create names.
enum class PathKind {
	missing,       // does not exist (the create fails later with ENOENT)
	directory,     // a directory: the pool is a temporary file in it
	device_dax,    // a device DAX character device: the whole device backs the pool
	other_chardev, // another character device: not usable
	other,	       // a regular file, block device, ...: open() reports it
};
// Classifies `path`; returns 0 and sets *kind, or an errno value (EACCES, ...).
int classify_path(const char *path, PathKind *kind) noexcept;

// Opens an unnamed temporary file in `dir` (O_TMPFILE, or mkstemp + unlink
// where the file system lacks O_TMPFILE).  *failed_call names the call that
// failed ("open" or "mkstemp") for the error message.
int open_tmpfile(const char *dir, int *fd, const char **failed_call) noexcept;

// Sets the logical size of a file without allocating blocks (ftruncate).
int file_set_size(int fd, uint64_t size) noexcept;

// Allocates file blocks for [offset, offset + length) so that later stores
// cannot fail with SIGBUS on a full file system (fallocate, mode 0).
int file_reserve(int fd, uint64_t offset, uint64_t length) noexcept;

// Bytes of file blocks allocated to the file (st_blocks * 512).
int file_allocated_bytes(int fd, uint64_t *bytes) noexcept;

// The file's logical size (st_size).
int file_logical_size(int fd, uint64_t *bytes) noexcept;

// The size of the file system holding `dir`, in bytes (statvfs).
int file_system_size(const char *dir, uint64_t *bytes) noexcept;

// Frees the file blocks of [offset, offset + length), which then read as
// zero; the file's size stays (fallocate PUNCH_HOLE | KEEP_SIZE).
int file_punch(int fd, uint64_t offset, uint64_t length) noexcept;

// How free memory of a region the caller mapped goes back to the system.
enum class Advice {
	remove,	   // MADV_REMOVE: shared memory and file mappings (their blocks too)
	dont_need, // MADV_DONTNEED: private mappings
};
// Gives [addr, addr + size) (page-aligned) back with `advice`.  0 or an errno
// (EINVAL when the advice does not apply to the mapping).
int advise(void *addr, size_t size, Advice advice) noexcept;

// Whether files in `dir` can be mapped with MAP_SYNC (DAX): 0, or ENOENT,
// ENOTDIR, EACCES... for the directory, EOPNOTSUPP when it lacks DAX.
int probe_dax(const char *dir) noexcept;

// A monotonic clock in nanoseconds, cheap (coarse: a few ms of resolution).
uint64_t coarse_now_ns() noexcept;

void close_fd(int fd) noexcept;

// Bytes of [addr, addr + size) (page-aligned) that are resident in memory
// now, through mincore; 0 or an errno.
int resident_bytes(const void *addr, size_t size, uint64_t *bytes) noexcept;

// Maps [0, size) of `fd` shared and read-write at an address aligned to
// `alignment` (a power of two).  Nothing is left mapped on failure.
int map_file_aligned(int fd, size_t size, size_t alignment, void **addr) noexcept;

// Replaces the shared mapping [addr, addr + size) of `fd` (offset 0) by a
// private, copy-on-write mapping of the same file at the same address.
int remap_file_private(void *addr, size_t size, int fd) noexcept;

// Maps `fd` shared over [addr, addr + size), replacing what was there.
int remap_file_shared(void *addr, size_t size, int fd) noexcept;

// Maps anonymous private read-write memory (for the library's own
// bookkeeping outside pools).
int map_anonymous(size_t size, void **addr) noexcept;

int unmap(void *addr, size_t size) noexcept;

// Unmaps what map_device_dax mapped.
void unmap_device_dax(void *addr, size_t size) noexcept;

enum class Access { none, read_write };
int protect(void *addr, size_t size, Access access) noexcept;

// 0 when every page of [addr, addr + size) is mapped, else ENOMEM.
int check_mapped(void *addr, size_t size) noexcept;

// 0 when [addr, addr + size) (at most 64 KiB) can be read and written,
// EFAULT when it cannot.  The kernel copies the bytes out and back in
// through a pipe, so a bad range gives an error instead of SIGSEGV and
// the contents stay as they were.
int probe_read_write(void *addr, size_t size) noexcept;

// Maps a whole device DAX device (through libpmem); *size receives its length.
int map_device_dax(const char *path, void **addr, size_t *size) noexcept;

// 64 random bits (getrandom, falling back to the clock and the address space).
uint64_t random_u64() noexcept;

// Output for the log: create or truncate a file, write a whole buffer.
int open_log_file(const char *path, int *fd) noexcept;
void write_all(int fd, const char *buf, size_t len) noexcept;

int process_id() noexcept;

} // namespace vmem::os
