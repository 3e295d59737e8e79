// SPDX-License-Identifier: BSD-3-Clause
// report.cpp -- formats a PoolStats for vmem_stats_print (see vmem_stats_print(3) for the schema).
#include "check/report.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "core/layout.hpp"
#include "libvmem.h"
#include "util/log.hpp"

namespace vmem::check {

using namespace core;

ReportOptions parse_report_options(const char *opts) noexcept
{
	ReportOptions options;
	for (const char *c = opts; c != nullptr && *c != '\0'; c++) {
		switch (*c) {
		case 'g':
			options.general = false;
			break;
		case 'm':
			options.totals = false;
			break;
		case 'a':
			options.heaps = false;
			break;
		case 'b':
			options.bins = false;
			break;
		case 'l':
			options.large = false;
			break;
		case 'J':
			options.json = true;
			break;
		default:
			break; // unknown letters are ignored, as the original did
		}
	}
	return options;
}

namespace {

// Collects output in a buffer and hands it to the print function whole
// lines at a time, so print_func sees text in a few calls, not per field.
class Printer {
public:
	Printer() = default;
	Printer(const Printer &) = delete;
	Printer &operator=(const Printer &) = delete;
	~Printer()
	{
		flush();
	}

	void put(const char *fmt, ...) noexcept __attribute__((format(printf, 2, 3)))
	{
		va_list ap;
		va_start(ap, fmt);
		char line[512];
		int n = std::vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		size_t length =
		    static_cast<size_t>(n) < sizeof(line) ? static_cast<size_t>(n) : sizeof(line) - 1;
		if (used_ + length >= sizeof(buffer_))
			flush();
		std::memcpy(buffer_ + used_, line, length);
		used_ += length;
		buffer_[used_] = '\0';
	}

	void flush() noexcept
	{
		if (used_ == 0)
			return;
		log::print(buffer_);
		used_ = 0;
		buffer_[0] = '\0';
	}

private:
	char buffer_[4096] = {};
	size_t used_ = 0;
};

const char *pool_kind(uint32_t backing) noexcept
{
	if (backing & kBackingFile)
		return "file";
	if (backing & kBackingDeviceDax)
		return "device_dax";
	return "region";
}

const char *policy_name(unsigned policy) noexcept
{
	return policy == VMEM_USAGE_POLICY_CONSERVATIVE ? "conservative" : "default";
}

unsigned long long ull(uint64_t v) noexcept
{
	return static_cast<unsigned long long>(v);
}

double fill_percent(const ClassStats &cls) noexcept
{
	return cls.capacity == 0 ? 0.0 : 100.0 * double(cls.blocks) / double(cls.capacity);
}

// The upper bound of large-block bucket `b`, 0 for the last ("larger").
uint64_t bucket_limit(unsigned b) noexcept
{
	return b + 1 < kLargeBuckets ? uint64_t{1} << (kLargeFirstBucketShift + b) : 0;
}

void print_text(Printer &out, uintptr_t handle, const PoolStats &s, const ReportOptions &o) noexcept
{
	out.put("vmem pool 0x%lx statistics\n", static_cast<unsigned long>(handle));
	if (o.general) {
		out.put("General\n");
		out.put("  library version   %d.%d\n", VMEM_MAJOR_VERSION, VMEM_MINOR_VERSION);
		out.put("  pool kind         %s\n", pool_kind(s.backing));
		out.put("  pool size         %llu\n", ull(s.pool_size));
		out.put("  slice size        %zu\n", kSliceSize);
		out.put("  segment size      %zu\n", kSegmentSize);
		out.put("  slices            %llu\n", ull(s.slices));
		out.put("  segments          %llu\n", ull(s.segments));
		out.put("  usage policy      %s\n", policy_name(s.usage_policy));
	}
	if (o.totals) {
		out.put("Totals (bytes)\n");
		out.put("  pool size         %llu\n", ull(s.pool_size));
		out.put("  allocated         %llu\n", ull(s.allocated));
		out.put("  active            %llu\n", ull(s.active));
		out.put("  resident          %llu\n", ull(s.resident));
		out.put("  metadata          %llu\n", ull(s.metadata));
		out.put("  free              %llu\n", ull(s.free));
		out.put("  allocations       %llu\n", ull(s.allocations));
		if (s.has_file)
			out.put("  file blocks       %llu\n", ull(s.file_blocks));
	}
	if (o.heaps) {
		out.put("Thread heaps\n");
		out.put("  %8s %10s %8s %12s\n", "heap", "thread", "pages", "blocks");
		for (uint32_t i = 1; i < s.heap_slots; i++) {
			const HeapStats &h = s.heaps[i];
			if (h.index != 0)
				out.put("  %8u %10u %8llu %12llu\n", h.index, h.owner_thread, ull(h.pages),
					ull(h.blocks));
		}
	}
	if (o.bins) {
		out.put("Bins\n");
		out.put("  %8s %8s %12s %12s %7s\n", "size", "pages", "in use", "capacity", "fill %");
		for (unsigned c = 0; c < kClassCount; c++) {
			const ClassStats &cls = s.classes[c];
			if (cls.pages != 0)
				out.put("  %8zu %8llu %12llu %12llu %7.1f\n", class_block_size(c),
					ull(cls.pages), ull(cls.blocks), ull(cls.capacity),
					fill_percent(cls));
		}
	}
	if (o.large) {
		out.put("Large and huge allocations\n");
		out.put("  count             %llu\n", ull(s.large_count));
		out.put("  bytes             %llu\n", ull(s.large_bytes));
		for (unsigned b = 0; b < kLargeBuckets; b++) {
			if (s.large_by_size[b] == 0)
				continue;
			if (bucket_limit(b) != 0)
				out.put("  up to %-11llu %llu\n", ull(bucket_limit(b)),
					ull(s.large_by_size[b]));
			else
				out.put("  larger            %llu\n", ull(s.large_by_size[b]));
		}
	}
}

void print_json(Printer &out, const PoolStats &s, const ReportOptions &o) noexcept
{
	const char *sep = "";
	out.put("{");
	if (o.general) {
		out.put("\"general\":{\"library_version\":\"%d.%d\",\"pool_kind\":\"%s\",\"pool_size\":%llu,"
			"\"slice_size\":%zu,\"segment_size\":%zu,\"slices\":%llu,\"segments\":%llu,"
			"\"usage_policy\":\"%s\"}",
			VMEM_MAJOR_VERSION, VMEM_MINOR_VERSION, pool_kind(s.backing), ull(s.pool_size),
			kSliceSize, kSegmentSize, ull(s.slices), ull(s.segments),
			policy_name(s.usage_policy));
		sep = ",";
	}
	if (o.totals) {
		out.put(
		    "%s\"totals\":{\"pool_size\":%llu,\"allocated\":%llu,\"active\":%llu,\"resident\":%llu,"
		    "\"metadata\":%llu,\"free\":%llu,\"allocations\":%llu,",
		    sep, ull(s.pool_size), ull(s.allocated), ull(s.active), ull(s.resident), ull(s.metadata),
		    ull(s.free), ull(s.allocations));
		if (s.has_file)
			out.put("\"file_blocks\":%llu}", ull(s.file_blocks));
		else
			out.put("\"file_blocks\":null}");
		sep = ",";
	}
	if (o.heaps) {
		out.put("%s\"heaps\":[", sep);
		const char *item = "";
		for (uint32_t i = 1; i < s.heap_slots; i++) {
			const HeapStats &h = s.heaps[i];
			if (h.index == 0)
				continue;
			out.put("%s{\"heap\":%u,\"thread\":%u,\"pages\":%llu,\"blocks\":%llu}", item, h.index,
				h.owner_thread, ull(h.pages), ull(h.blocks));
			item = ",";
		}
		out.put("]");
		sep = ",";
	}
	if (o.bins) {
		out.put("%s\"bins\":[", sep);
		const char *item = "";
		for (unsigned c = 0; c < kClassCount; c++) {
			const ClassStats &cls = s.classes[c];
			if (cls.pages == 0)
				continue;
			out.put("%s{\"size\":%zu,\"pages\":%llu,\"blocks\":%llu,\"capacity\":%llu,\"fill_"
				"percent\":%.1f}",
				item, class_block_size(c), ull(cls.pages), ull(cls.blocks), ull(cls.capacity),
				fill_percent(cls));
			item = ",";
		}
		out.put("]");
		sep = ",";
	}
	if (o.large) {
		out.put("%s\"large\":{\"count\":%llu,\"bytes\":%llu,\"by_size\":[", sep, ull(s.large_count),
			ull(s.large_bytes));
		for (unsigned b = 0; b < kLargeBuckets; b++) {
			if (bucket_limit(b) != 0)
				out.put("%s{\"up_to\":%llu,\"count\":%llu}", b == 0 ? "" : ",",
					ull(bucket_limit(b)), ull(s.large_by_size[b]));
			else
				out.put(",{\"up_to\":null,\"count\":%llu}", ull(s.large_by_size[b]));
		}
		out.put("]}");
	}
	out.put("}\n");
}

} // namespace

void print_report(uintptr_t handle, const PoolStats &stats, const ReportOptions &options) noexcept
{
	Printer out;
	if (options.json)
		print_json(out, stats, options);
	else
		print_text(out, handle, stats, options);
}

} // namespace vmem::check
