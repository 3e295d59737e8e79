// SPDX-License-Identifier: BSD-3-Clause
// valgrind.cpp -- whether the process runs under Valgrind, decided once at start-up.
#include "util/valgrind.hpp"

namespace vmem::vg {

bool g_active = false;

} // namespace vmem::vg
