// SPDX-License-Identifier: BSD-3-Clause
// export.hpp -- marks the C entry points that libvmem.so exports.
#pragma once

// The library is built with -fvisibility=hidden; src/libvmem.map lists the
// same names, and tests/api/test_exports checks the two agree with the build.
#define VMEM_EXPORT extern "C" __attribute__((visibility("default")))

namespace vmem::api {

// Idempotent one-time set-up (log variables); the library constructor runs
// it, and every entry point that can be the first call runs it again in case
// another library's constructor calls in before ours ran.
void ensure_initialized() noexcept;

} // namespace vmem::api
