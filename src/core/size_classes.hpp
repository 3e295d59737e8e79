// SPDX-License-Identifier: BSD-3-Clause
// size_classes.hpp -- request sizes to block sizes: the classes small and medium pages serve.
//
//   class 0        8 bytes (requests of 8 or less: 8-byte alignment is enough;
//                  not used by the checked build, whose blocks need a second
//                  word for their mark, see block_guard.hpp)
//   classes 1-8    16 to 128 in 16-byte steps
//   classes 9-44   four classes per doubling: 160, 192, 224, 256, 320 ... 65536
//
// Classes up to kSmallMax live on small pages (one or four 16 KiB slices,
// see page_slices_of_class in layout.hpp), the rest on medium pages (32
// slices); larger requests get a span of slices.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#include "util/checked_build.hpp"

namespace vmem::core {

inline constexpr unsigned kClassCount = 45;
inline constexpr size_t kSmallMax = 8192;      // largest block on a small page
inline constexpr size_t kMediumMax = 65536;    // largest block on a medium page
inline constexpr unsigned kFirstStepClass = 9; // 160: the first class of four per doubling

// Requests up to kDirectMax bytes index ThreadHeap::direct by (size + 7) / 8.
inline constexpr size_t kDirectMax = 1024;
inline constexpr size_t kDirectCount = kDirectMax / 8 + 1;

constexpr unsigned size_class_of(size_t size) noexcept
{
	if (size <= 8)
		return kCheckedBuild ? 1 : 0;
	if (size <= 128)
		return static_cast<unsigned>((size + 15) / 16);
	// floor(log2(size - 1)) picks the doubling; the two bits below it the
	// quarter: classes are 2^b + q * 2^(b-2) for q = 1..4.
	unsigned b = static_cast<unsigned>(std::bit_width(size - 1)) - 1;
	unsigned quarter = static_cast<unsigned>((size - 1) >> (b - 2)) & 3;
	return kFirstStepClass + (b - 7) * 4 + quarter;
}

constexpr size_t class_block_size(unsigned cls) noexcept
{
	if (cls == 0)
		return 8;
	if (cls < kFirstStepClass)
		return size_t{16} * cls;
	unsigned k = cls - kFirstStepClass;
	unsigned b = 7 + k / 4;
	return (size_t{1} << b) + size_t{k % 4 + 1} * (size_t{1} << (b - 2));
}

static_assert(class_block_size(kClassCount - 1) == kMediumMax, "the last class fills the medium range");
static_assert(size_class_of(kMediumMax) == kClassCount - 1, "the last class fills the medium range");
static_assert(class_block_size(size_class_of(129)) == 160 && class_block_size(size_class_of(257)) == 320,
	      "four classes per doubling above 128");
static_assert(class_block_size(size_class_of(kSmallMax)) == kSmallMax, "small pages end on a class");

} // namespace vmem::core
