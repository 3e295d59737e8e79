// SPDX-License-Identifier: BSD-3-Clause
// bits.hpp -- alignment and power-of-two arithmetic on sizes and addresses.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

namespace vmem {

constexpr size_t KiB = size_t{1} << 10;
constexpr size_t MiB = size_t{1} << 20;
constexpr size_t GiB = size_t{1} << 30;

constexpr bool is_power_of_two(uint64_t x) noexcept
{
	return std::has_single_bit(x);
}

// Rounds x up to a multiple of `alignment` (a power of two).  Wraps to a
// value below x when x is within `alignment` of the top: callers that take
// sizes from users check for that with rounding_overflows first.
constexpr uint64_t align_up(uint64_t x, uint64_t alignment) noexcept
{
	return (x + alignment - 1) & ~(alignment - 1);
}

constexpr uint64_t align_down(uint64_t x, uint64_t alignment) noexcept
{
	return x & ~(alignment - 1);
}

constexpr bool rounding_overflows(uint64_t x, uint64_t alignment) noexcept
{
	return x > UINT64_MAX - (alignment - 1);
}

constexpr bool is_aligned(uint64_t x, uint64_t alignment) noexcept
{
	return (x & (alignment - 1)) == 0;
}

inline uintptr_t address_of(const void *p) noexcept
{
	return reinterpret_cast<uintptr_t>(p);
}

template <typename T = void> inline T *pointer_at(uintptr_t address) noexcept
{
	return reinterpret_cast<T *>(address);
}

} // namespace vmem
