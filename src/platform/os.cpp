// SPDX-License-Identifier: BSD-3-Clause
// os.cpp -- the Linux implementation of os.hpp.
#include "platform/os.hpp"

#include "platform/fault.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <libpmem.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace vmem::os {

namespace detail {

std::atomic<size_t> g_page_size{0};

size_t read_page_size() noexcept
{
	size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
	g_page_size.store(size, std::memory_order_relaxed);
	return size;
}

} // namespace detail

// The functions below return errors as values; what their system calls
// leave in errno must not reach the library's caller, whose errno stays as
// it was through any call that succeeds (a purge that probes one advice
// and falls back to another, say).  One of these at the top of a function
// puts errno back as the function returns, after its return value is taken.
class KeepErrno {
public:
	KeepErrno() noexcept : saved_(errno) {}
	~KeepErrno()
	{
		errno = saved_;
	}
	KeepErrno(const KeepErrno &) = delete;
	KeepErrno &operator=(const KeepErrno &) = delete;

private:
	int saved_;
};

// The system calls that fault injection can fail (fault.hpp): each asks
// first, and fails as the kernel would, with -1 or MAP_FAILED and errno.
namespace {

using fault::should_fail;
using fault::Syscall;

void *sys_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset) noexcept
{
	return should_fail(Syscall::mmap) ? MAP_FAILED : mmap(addr, length, prot, flags, fd, offset);
}

int sys_mprotect(void *addr, size_t length, int prot) noexcept
{
	return should_fail(Syscall::mprotect) ? -1 : mprotect(addr, length, prot);
}

int sys_madvise(void *addr, size_t length, int advice) noexcept
{
	return should_fail(Syscall::madvise) ? -1 : madvise(addr, length, advice);
}

int sys_fallocate(int fd, int mode, off_t offset, off_t length) noexcept
{
	return should_fail(Syscall::fallocate) ? -1 : fallocate(fd, mode, offset, length);
}

int sys_ftruncate(int fd, off_t length) noexcept
{
	return should_fail(Syscall::ftruncate) ? -1 : ftruncate(fd, length);
}

} // namespace

// A character device is device DAX when its sysfs subsystem link ends in
// "dax".  Returns 0 and the answer, or the errno of resolving the link.
static int classify_chardev(const struct stat &st, PathKind *kind) noexcept
{
	char link[64];
	std::snprintf(link, sizeof(link), "/sys/dev/char/%u:%u/subsystem", major(st.st_rdev),
		      minor(st.st_rdev));
	char resolved[PATH_MAX];
	if (realpath(link, resolved) == nullptr)
		return errno;
	const char *last = std::strrchr(resolved, '/');
	bool dax = last != nullptr && std::strcmp(last + 1, "dax") == 0;
	*kind = dax ? PathKind::device_dax : PathKind::other_chardev;
	return 0;
}

int classify_path(const char *path, PathKind *kind) noexcept
{
	KeepErrno keep;
	struct stat st;
	if (stat(path, &st) != 0) {
		if (errno == ENOENT) {
			*kind = PathKind::missing;
			return 0;
		}
		return errno;
	}
	if (S_ISDIR(st.st_mode))
		*kind = PathKind::directory;
	else if (S_ISCHR(st.st_mode))
		return classify_chardev(st, kind);
	else
		*kind = PathKind::other;
	return 0;
}

// mkstemp + unlink with every signal blocked, so no handler can run while
// the file still has a name (and leave it behind if the process dies there).
static int open_named_then_unlink(const char *dir, int *fd) noexcept
{
	char path[PATH_MAX];
	int n = std::snprintf(path, sizeof(path), "%s/vmem.XXXXXX", dir);
	if (n < 0 || static_cast<size_t>(n) >= sizeof(path))
		return ENAMETOOLONG;

	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	mode_t old_mask = umask(S_IRWXG | S_IRWXO);
	int file = should_fail(Syscall::mkostemp) ? -1 : mkostemp(path, O_CLOEXEC);
	int err = file < 0 ? errno : 0;
	umask(old_mask);
	if (file >= 0)
		unlink(path);
	pthread_sigmask(SIG_SETMASK, &old, nullptr);
	if (file < 0)
		return err;
	*fd = file;
	return 0;
}

int open_tmpfile(const char *dir, int *fd, const char **failed_call) noexcept
{
	KeepErrno keep;
	*failed_call = "open";
	int file = should_fail(Syscall::open_tmpfile)
		       ? -1
		       : open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, S_IRUSR | S_IWUSR);
	if (file >= 0) {
		*fd = file;
		return 0;
	}
	// EOPNOTSUPP: the file system has no O_TMPFILE; EISDIR: the kernel
	// predates it and took the flags for a plain open of a directory.
	if (errno != EOPNOTSUPP && errno != EISDIR)
		return errno;
	*failed_call = "mkstemp";
	return open_named_then_unlink(dir, fd);
}

int file_set_size(int fd, uint64_t size) noexcept
{
	KeepErrno keep;
	if (size > static_cast<uint64_t>(INT64_MAX))
		return EFBIG;
	while (sys_ftruncate(fd, static_cast<off_t>(size)) != 0) {
		if (errno != EINTR)
			return errno;
	}
	return 0;
}

int file_reserve(int fd, uint64_t offset, uint64_t length) noexcept
{
	KeepErrno keep;
	if (offset > static_cast<uint64_t>(INT64_MAX) || length > static_cast<uint64_t>(INT64_MAX) - offset)
		return EFBIG;
	while (sys_fallocate(fd, 0, static_cast<off_t>(offset), static_cast<off_t>(length)) != 0) {
		if (errno == EINTR)
			continue;
		if (errno != EOPNOTSUPP)
			return errno;
		// A file system without fallocate cannot reserve space ahead;
		// stores then allocate blocks as they happen.  Not a failure,
		// but the range must still lie inside the file (a growing
		// pool's file is extended by its reservations), or the first
		// store past the end raises SIGBUS.
		struct stat st;
		if (fstat(fd, &st) != 0)
			return errno;
		uint64_t end = offset + length;
		if (static_cast<uint64_t>(st.st_size) < end) {
			if (int err = file_set_size(fd, end))
				return err;
		}
		return 0;
	}
	return 0;
}

int file_allocated_bytes(int fd, uint64_t *bytes) noexcept
{
	KeepErrno keep;
	struct stat st;
	if (fstat(fd, &st) != 0)
		return errno;
	*bytes = static_cast<uint64_t>(st.st_blocks) * 512;
	return 0;
}

int file_punch(int fd, uint64_t offset, uint64_t length) noexcept
{
	KeepErrno keep;
	if (offset > static_cast<uint64_t>(INT64_MAX) || length > static_cast<uint64_t>(INT64_MAX) - offset)
		return EFBIG;
	while (sys_fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
			     static_cast<off_t>(length)) != 0) {
		if (errno != EINTR)
			return errno;
	}
	return 0;
}

int advise(void *addr, size_t size, Advice advice) noexcept
{
	KeepErrno keep;
	int how = advice == Advice::remove ? MADV_REMOVE : MADV_DONTNEED;
	return sys_madvise(addr, size, how) == 0 ? 0 : errno;
}

int probe_dax(const char *dir) noexcept
{
	KeepErrno keep;
	struct stat st;
	if (stat(dir, &st) != 0)
		return errno;
	if (!S_ISDIR(st.st_mode))
		return ENOTDIR;
	int fd = -1;
	const char *failed_call = nullptr;
	if (int err = open_tmpfile(dir, &fd, &failed_call))
		return err;
	size_t page = page_size();
	int err = file_set_size(fd, page);
	if (err == 0) {
		// MAP_SHARED_VALIDATE refuses MAP_SYNC where the file system
		// cannot keep the mapping's pages out of the page cache
		void *p =
		    sys_mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0);
		if (p == MAP_FAILED)
			err = errno == EOPNOTSUPP || errno == EINVAL ? EOPNOTSUPP : errno;
		else
			munmap(p, page);
	}
	close(fd);
	return err;
}

uint64_t coarse_now_ns() noexcept
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

int resident_bytes(const void *addr, size_t size, uint64_t *bytes) noexcept
{
	KeepErrno keep;
	size_t page = page_size();
	unsigned char vec[4096]; // a page's worth of answers per call
	uint64_t total = 0;
	auto at = reinterpret_cast<uintptr_t>(addr);
	for (size_t done = 0; done < size;) {
		size_t chunk = std::min(size - done, sizeof(vec) * page);
		if (mincore(reinterpret_cast<void *>(at + done), chunk, vec) != 0)
			return errno;
		for (size_t i = 0; i < (chunk + page - 1) / page; i++)
			total += (vec[i] & 1) ? page : 0;
		done += chunk;
	}
	*bytes = total;
	return 0;
}

int file_logical_size(int fd, uint64_t *bytes) noexcept
{
	KeepErrno keep;
	struct stat st;
	if (fstat(fd, &st) != 0)
		return errno;
	*bytes = static_cast<uint64_t>(st.st_size);
	return 0;
}

int file_system_size(const char *dir, uint64_t *bytes) noexcept
{
	KeepErrno keep;
	struct statvfs vfs;
	if (statvfs(dir, &vfs) != 0)
		return errno;
	*bytes = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
	return 0;
}

void close_fd(int fd) noexcept
{
	KeepErrno keep;
	if (fd >= 0)
		close(fd); // nothing to do on failure: the descriptor is gone either way
}

int map_file_aligned(int fd, size_t size, size_t alignment, void **addr) noexcept
{
	KeepErrno keep;
	if (size > SIZE_MAX - alignment)
		return ENOMEM;
	size_t span = size + alignment;
	// Reserve size + alignment bytes, then open a hole of exactly `size`
	// at the aligned start and map the file into it with
	// MAP_FIXED_NOREPLACE, which maps only into a gap that is still free.
	// The slack on either side stays reserved meanwhile, so no other
	// thread's pool reservation (always larger than the hole) can land
	// there.  Mapping MAP_FIXED over the reservation instead would race: a
	// failing MAP_FIXED may already have unmapped the range, and undoing
	// it could unmap some other thread's new mapping.
	for (int attempt = 0; attempt < 16; attempt++) {
		void *reservation =
		    sys_mmap(nullptr, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (reservation == MAP_FAILED)
			return errno;
		uintptr_t low = reinterpret_cast<uintptr_t>(reservation);
		uintptr_t start = (low + alignment - 1) & ~(alignment - 1);
		uintptr_t end = start + size;
		munmap(reinterpret_cast<void *>(start), size);
		void *got = sys_mmap(reinterpret_cast<void *>(start), size, PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
		int err = got == MAP_FAILED ? errno : 0;
		if (start > low)
			munmap(reservation, start - low);
		if (low + span > end)
			munmap(reinterpret_cast<void *>(end), low + span - end);
		if (err == EEXIST)
			continue; // a small mapping of another thread took the hole
		if (err != 0)
			return err;
		if (got != reinterpret_cast<void *>(start)) {
			// a kernel before 4.17 takes the flag for a hint
			munmap(got, size);
			return EINVAL;
		}
		// A heap touches its pages in no order: readahead would only
		// fill the page cache with zeroed pages of holes nobody asked for.
		sys_madvise(got, size, MADV_RANDOM);
		*addr = got;
		return 0;
	}
	return ENOMEM;
}

namespace {

int remap_file(void *addr, size_t size, int fd, int sharing) noexcept
{
	KeepErrno keep;
	void *got = sys_mmap(addr, size, PROT_READ | PROT_WRITE, sharing | MAP_FIXED, fd, 0);
	if (got == MAP_FAILED)
		return errno;
	sys_madvise(addr, size, MADV_RANDOM);
	return 0;
}

} // namespace

int remap_file_private(void *addr, size_t size, int fd) noexcept
{
	return remap_file(addr, size, fd, MAP_PRIVATE);
}

int remap_file_shared(void *addr, size_t size, int fd) noexcept
{
	return remap_file(addr, size, fd, MAP_SHARED);
}

int map_anonymous(size_t size, void **addr) noexcept
{
	KeepErrno keep;
	void *got = sys_mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (got == MAP_FAILED)
		return errno;
	*addr = got;
	return 0;
}

int unmap(void *addr, size_t size) noexcept
{
	KeepErrno keep;
	return munmap(addr, size) == 0 ? 0 : errno;
}

void unmap_device_dax(void *addr, size_t size) noexcept
{
	// libpmem keeps a record of each mapping it made: let it drop it.
	pmem_unmap(addr, size);
}

int protect(void *addr, size_t size, Access access) noexcept
{
	KeepErrno keep;
	int prot = access == Access::none ? PROT_NONE : PROT_READ | PROT_WRITE;
	return sys_mprotect(addr, size, prot) == 0 ? 0 : errno;
}

int check_mapped(void *addr, size_t size) noexcept
{
	KeepErrno keep;
	// msync(MS_ASYNC) writes nothing back on current kernels; it only
	// fails with ENOMEM when part of the range is not mapped.
	return msync(addr, size, MS_ASYNC) == 0 ? 0 : errno;
}

int probe_read_write(void *addr, size_t size) noexcept
{
	KeepErrno keep;
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0)
		return errno;
	int err = 0;
	ssize_t out = write(fds[1], addr, size); // reads the range
	if (out < 0) {
		err = errno;
	} else {
		// writes the same bytes back; a short count means the kernel
		// stopped at a page it could not write
		ssize_t in = read(fds[0], addr, static_cast<size_t>(out));
		if (in < 0)
			err = errno;
		else if (static_cast<size_t>(in) < size)
			err = EFAULT;
	}
	close(fds[0]);
	close(fds[1]);
	return err;
}

int map_device_dax(const char *path, void **addr, size_t *size) noexcept
{
	KeepErrno keep;
	size_t mapped = 0;
	int is_pmem = 0;
	void *got = pmem_map_file(path, 0, 0, 0, &mapped, &is_pmem);
	if (got == nullptr)
		return errno != 0 ? errno : EINVAL;
	*addr = got;
	*size = mapped;
	return 0;
}

uint64_t random_u64() noexcept
{
	uint64_t value = 0;
	if (getrandom(&value, sizeof(value), GRND_NONBLOCK) == static_cast<ssize_t>(sizeof(value)))
		return value;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t mix = static_cast<uint64_t>(ts.tv_nsec) ^ (static_cast<uint64_t>(ts.tv_sec) << 32) ^
		       reinterpret_cast<uintptr_t>(&value);
	// splitmix64 finaliser: spreads the few varying bits over all 64.
	mix += 0x9e3779b97f4a7c15ULL;
	mix = (mix ^ (mix >> 30)) * 0xbf58476d1ce4e5b9ULL;
	mix = (mix ^ (mix >> 27)) * 0x94d049bb133111ebULL;
	return mix ^ (mix >> 31);
}

int open_log_file(const char *path, int *fd) noexcept
{
	// Truncated, as the original's log was: one run, one log.
	int file = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (file < 0)
		return errno;
	*fd = file;
	return 0;
}

void write_all(int fd, const char *buf, size_t len) noexcept
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; // the log is best effort: nowhere left to report to
		}
		buf += n;
		len -= static_cast<size_t>(n);
	}
}

int process_id() noexcept
{
	return static_cast<int>(getpid());
}

} // namespace vmem::os
