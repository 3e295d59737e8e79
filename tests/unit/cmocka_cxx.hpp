// SPDX-License-Identifier: BSD-3-Clause
// cmocka_cxx.hpp -- includes cmocka from C++ test programs.
#pragma once

#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <csetjmp>

extern "C" {
#include <cmocka.h>
}
