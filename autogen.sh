#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# autogen.sh -- generate configure and the Makefile templates from a fresh clone.
set -e
cd "$(dirname "$0")"
mkdir -p m4 build-aux
autoreconf --install --force --warnings=all
