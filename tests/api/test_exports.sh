#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# test_exports.sh -- libvmem.so exports exactly the functions include/libvmem.h
# declares and src/libvmem.map lists: no internal symbol leaks, none is missing.
set -u
builddir=${VMEM_TEST_BUILDDIR:-.}
srcdir=${VMEM_TEST_SRCDIR:-.}
lib=$builddir/src/.libs/libvmem.so
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "1..3"

# functions exported by the built library (the version node is not a function)
nm -D --defined-only "$lib" | awk '$2 == "T" || $2 == "W" { sub(/@.*/, "", $3); print $3 }' |
	sort -u >"$tmp/exported"
# functions the public header declares: "name(" at the start of a declaration
sed -n 's/^[A-Za-z_][A-Za-z0-9_ *]*[ *]\(vmem_[a-z_]*\)(.*/\1/p' "$srcdir/include/libvmem.h" |
	sort -u >"$tmp/declared"
# names the version script makes global
sed -n 's/^[[:space:]]*\(vmem_[a-z_]*\);$/\1/p' "$srcdir/src/libvmem.map" | sort -u >"$tmp/mapped"

check() {
	n=$1 what=$2 a=$3 b=$4
	if diff -u "$a" "$b" >"$tmp/diff"; then
		echo "ok $n - $what"
	else
		echo "not ok $n - $what"
		sed 's/^/# /' "$tmp/diff"
	fi
}

if [ -s "$tmp/exported" ]; then
	echo "ok 1 - the library exports functions ($(wc -l <"$tmp/exported"))"
else
	echo "not ok 1 - no exported functions found in $lib"
fi
check 2 "exported functions equal the header's declarations" "$tmp/declared" "$tmp/exported"
check 3 "exported functions equal the version script's list" "$tmp/mapped" "$tmp/exported"
