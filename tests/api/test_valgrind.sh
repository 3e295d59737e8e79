#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# test_valgrind.sh -- memcheck sees pool blocks as heap blocks: silence for
# correct use (vmem_check and the statistics included), the usual reports for
# a leak, an overrun, a use after free.
set -u
builddir=${VMEM_TEST_BUILDDIR:-.}
cases=$builddir/tests/api/valgrind_cases
if ! command -v valgrind >/dev/null 2>&1; then
	echo "1..0 # SKIP valgrind is not installed"
	exit 0
fi
if [ -n "${VMEM_TEST_SANITIZED:-}" ]; then
	echo "1..0 # SKIP sanitizer builds cannot run under valgrind"
	exit 0
fi
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

echo "1..7"
n=0
# run CASE EXPECTED-PATTERN... : every pattern must appear in memcheck's report
run() {
	n=$((n + 1))
	name=$1
	shift
	"$builddir/libtool" --mode=execute valgrind --leak-check=full --errors-for-leak-kinds=definite \
		"$cases" "$name" >"$tmp" 2>&1
	missing=""
	for pattern in "$@"; do
		grep -q -- "$pattern" "$tmp" || missing="$missing [$pattern]"
	done
	if [ -z "$missing" ]; then
		echo "ok $n - $name"
	else
		echo "not ok $n - $name: missing$missing"
		sed 's/^/# /' "$tmp"
	fi
}

run clean "ERROR SUMMARY: 0 errors" "All heap blocks were freed" "vmem_check: 1, stats: 0"
run region-clean "ERROR SUMMARY: 0 errors" "vmem_check: 1, stats: 0"
run leak "16 bytes in 1 blocks are definitely lost" "pool_malloc"
run overrun "Invalid write of size 4" "0 bytes after a block of size 48"
run use-after-free "Invalid write of size 1" "inside a block of size"
run region-reuse "ERROR SUMMARY: 0 errors"
run stale-read "Invalid read of size 1"
