// SPDX-License-Identifier: BSD-3-Clause
// force_cxx_link.cpp -- empty; its presence makes libtool link libvmem.so with the C++ driver.
