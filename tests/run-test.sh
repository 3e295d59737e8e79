#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# run-test.sh -- runs one test program for Automake's TAP driver.
#
# Test programs exit 77 when what they test cannot exist on this machine
# (no device DAX, no permission to mount), after printing the reason as a
# TAP plan "1..0 # SKIP <reason>".  The TAP driver treats any non-zero exit
# as an error, so 77 becomes 0 here and the plan reports the skip.
#
# CMocka reports a case that skips itself as "not ok N # SKIP", which the
# TAP driver counts as a failure; it is rewritten to "ok N # SKIP".
#
# VMEM_TEST_VALGRIND=memcheck, helgrind or drd runs each test program (not
# the shell-script tests, which run programs of their own) under that
# Valgrind tool: any error it reports fails the program.
status_file=$(mktemp "${TMPDIR:-/tmp}/vmem-test-status.XXXXXX") || exit 99

tool=${VMEM_TEST_VALGRIND:-}
case "$1" in
*.sh) tool= ;;
esac
if [ -n "$tool" ]; then
	builddir=${VMEM_TEST_BUILDDIR:-.}
	srcdir=${VMEM_TEST_SRCDIR:-.}
	options="--tool=$tool --error-exitcode=99 --suppressions=$srcdir/tests/valgrind.supp"
	if [ "$tool" = memcheck ]; then
		options="$options --leak-check=full --errors-for-leak-kinds=definite"
	fi
	# shellcheck disable=SC2086
	set -- "$builddir/libtool" --mode=execute valgrind $options "$@"
fi

{
	"$@"
	echo $? >"$status_file"
} | sed -u 's/^not ok \([0-9][0-9]*\)\( - [^#]*\)\{0,1\} # SKIP/ok \1\2 # SKIP/'
status=$(cat "$status_file")
rm -f "$status_file"
if [ "$status" -eq 77 ]; then
	exit 0
fi
exit "$status"
