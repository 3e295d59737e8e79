// SPDX-License-Identifier: BSD-3-Clause
// pool_internals.hpp -- a unit test's way from a VMEM handle to the pool's internal state.
#pragma once

#include "core/layout.hpp"
#include "libvmem.h"
#include "platform/os.hpp"
#include "util/bits.hpp"

inline vmem::core::PoolState *state_of_pool(VMEM *vmp)
{
	return vmem::core::state_of(
	    vmem::core::header_of_handle(vmem::address_of(vmp), vmem::os::page_size()));
}
