// SPDX-License-Identifier: BSD-3-Clause
// checked_build.hpp -- whether this is the checked build (configure --enable-checked).
//
// The checked build catches every double free and every free of an address
// that is no block (core/block_guard.hpp), validates pool handles before
// freeing through them, and writes each misuse it refuses to the log
// whatever VMEM_LOG_LEVEL says.  It costs the inline fast paths and
// 8-byte blocks (its smallest block is 16 bytes), so it is a build of its
// own, not a run-time switch.
#pragma once

namespace vmem {

#ifdef VMEM_CHECKED
inline constexpr bool kCheckedBuild = true;
#else
inline constexpr bool kCheckedBuild = false;
#endif

} // namespace vmem
