// SPDX-License-Identifier: BSD-3-Clause
// log.cpp -- log level, log file and the print function.
#include "util/log.hpp"

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "platform/os.hpp"

namespace vmem::log {

namespace {

std::atomic<int> g_level{0};
int g_fd = 2; // stderr until VMEM_LOG_FILE names another file
std::atomic<void (*)(const char *)> g_print_function{nullptr};

void default_print(const char *text) noexcept
{
	os::write_all(g_fd, text, std::strlen(text));
}

const char *base_name(const char *path) noexcept
{
	const char *slash = std::strrchr(path, '/');
	return slash != nullptr ? slash + 1 : path;
}

} // namespace

void init_from_environment() noexcept
{
	if (const char *level = secure_getenv("VMEM_LOG_LEVEL")) {
		long value = std::strtol(level, nullptr, 10);
		g_level.store(value < 0		   ? 0
			      : value > kInternals ? kInternals
						   : static_cast<int>(value),
			      std::memory_order_relaxed);
	}
	const char *file = secure_getenv("VMEM_LOG_FILE");
	if (file == nullptr || file[0] == '\0')
		return;
	char path[PATH_MAX];
	size_t len = std::strlen(file);
	int written = file[len - 1] == '-' ? std::snprintf(path, sizeof(path), "%s%d", file, os::process_id())
					   : std::snprintf(path, sizeof(path), "%s", file);
	int fd = -1;
	int err = static_cast<size_t>(written) >= sizeof(path) ? ENAMETOOLONG : os::open_log_file(path, &fd);
	if (err != 0) {
		char line[PATH_MAX + 128];
		std::snprintf(line, sizeof(line), "Error (libvmem): VMEM_LOG_FILE=%s: %s\n", path,
			      std::strerror(err));
		os::write_all(2, line, std::strlen(line));
		std::abort();
	}
	g_fd = fd;
}

bool enabled(int level) noexcept
{
	return level <= g_level.load(std::memory_order_relaxed);
}

void vwrite(int level, const char *file, int line, const char *func, const char *fmt, va_list ap) noexcept
{
	char buf[1024];
	int n = std::snprintf(buf, sizeof(buf), "<libvmem>: <%d> [%s:%d %s] ", level, base_name(file), line,
			      func);
	if (n < 0)
		return;
	size_t used = static_cast<size_t>(n) < sizeof(buf) ? static_cast<size_t>(n) : sizeof(buf) - 1;
	std::vsnprintf(buf + used, sizeof(buf) - used, fmt, ap);
	used = std::strlen(buf);
	if (used == sizeof(buf) - 1)
		used--; // truncated: keep room for the newline
	buf[used] = '\n';
	buf[used + 1] = '\0';
	print(buf);
}

void write(int level, const char *file, int line, const char *func, const char *fmt, ...) noexcept
{
	va_list ap;
	va_start(ap, fmt);
	vwrite(level, file, line, func, fmt, ap);
	va_end(ap);
}

void print(const char *text) noexcept
{
	if (auto custom = g_print_function.load(std::memory_order_acquire))
		custom(text);
	else
		default_print(text);
}

void set_print_function(void (*print_func)(const char *)) noexcept
{
	g_print_function.store(print_func, std::memory_order_release);
}

} // namespace vmem::log
