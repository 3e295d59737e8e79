// SPDX-License-Identifier: BSD-3-Clause
// fork.hpp -- keeping pools usable in both processes across fork().
#pragma once

namespace vmem::core {

// Registers the pthread_atfork handlers (once).
void install_fork_handlers() noexcept;

} // namespace vmem::core
