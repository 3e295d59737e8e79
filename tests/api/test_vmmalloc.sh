#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# test_vmmalloc.sh -- unmodified Debian programs under LD_PRELOAD=libvmmalloc.so
# give the output they give without it, with their heap in the pool; every
# bad variable stops the program before main with one "Error (libvmmalloc):"
# line.
set -u
builddir=${VMEM_TEST_BUILDDIR:-.}
lib=$(cd "$builddir/src/.libs" && pwd)/libvmmalloc.so
if [ -n "${VMEM_TEST_SANITIZED:-}" ]; then
	echo "1..0 # SKIP a sanitizer runtime cannot be preloaded after the program starts"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for line in "$@"; do echo "# $line"; done; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

preloaded() {
	env VMMALLOC_POOL_DIR="$tmp" VMMALLOC_POOL_SIZE=512M LD_PRELOAD="$lib" "$@"
}

# same NAME CMD...: CMD's output and status with and without the library
same() {
	name=$1
	shift
	if ! command -v "$1" >/dev/null 2>&1; then
		skip "$name" "$1 is not installed"
		return
	fi
	"$@" >"$tmp/plain" 2>&1
	plain_status=$?
	preloaded "$@" >"$tmp/pooled" 2>&1
	pooled_status=$?
	if [ "$plain_status" = "$pooled_status" ] && cmp -s "$tmp/plain" "$tmp/pooled"; then
		ok "$name"
	else
		not_ok "$name" "status $plain_status / $pooled_status" "$(diff "$tmp/plain" "$tmp/pooled" | head -5)"
	fi
}

echo "1..13"

python=/usr/bin/python3
same "python3" env PYTHONMALLOC=malloc $python -c '
d = {str(i): [i] * (i % 7) for i in range(200000)}
print(len(d), sum(len(v) for v in d.values()), sorted(d)[12345])'
same "perl" perl -e 'my %h; $h{$_ * 7 % 100003} = "x" x ($_ % 50) for 1 .. 200000;
	print scalar(keys %h), " ", length(join("", values %h)), "\n"'
awk 'BEGIN { srand(7); for (i = 0; i < 400000; i++) printf "%d %x\n", int(rand() * 1e9), i }' >"$tmp/input"
same "sort of a 5 MB file" sort "$tmp/input"
same "gzip and gunzip" sh -c "gzip -c '$tmp/input' | gunzip -c | md5sum"
same "sqlite3" sqlite3 :memory: "create table t(a, b); with recursive c(x) as (select 1 union all select x + 1 from c limit 100000) insert into t select x, hex(randomblob(20)) from c; select count(*), sum(a), count(distinct length(b)) from t;"

# the heap really is in the pool: the file blocks the pool reports at exit
preloaded env VMMALLOC_LOG_STATS=1 PYTHONMALLOC=malloc $python -c 'x = [str(i) * 10 for i in range(300000)]' \
	>"$tmp/stats" 2>&1
blocks=$(sed -n 's/^  file blocks *//p' "$tmp/stats" | sort -n | tail -1)
if [ -n "$blocks" ] && [ "$blocks" -gt $((20 * 1024 * 1024)) ]; then
	ok "python3's objects were allocated in the pool ($blocks bytes of file blocks)"
else
	not_ok "python3's objects were allocated in the pool" "file blocks: ${blocks:-none}" "$(head -20 "$tmp/stats")"
fi

# bad VAR=VALUE...: the program aborts before main with one error line
bad() {
	name=$1
	shift
	env -u VMMALLOC_POOL_DIR -u VMMALLOC_POOL_SIZE "$@" LD_PRELOAD="$lib" /bin/echo main ran >"$tmp/out" 2>"$tmp/err"
	status=$?
	if [ "$status" -ne 0 ] && ! grep -q "main ran" "$tmp/out" && [ "$(grep -c '^Error (libvmmalloc): ' "$tmp/err")" = 1 ]; then
		ok "$name: $(cat "$tmp/err")"
	else
		not_ok "$name" "status $status" "$(cat "$tmp/out" "$tmp/err")"
	fi
}
bad "no VMMALLOC_POOL_DIR" VMMALLOC_POOL_SIZE=64M
bad "no VMMALLOC_POOL_SIZE" VMMALLOC_POOL_DIR="$tmp"
bad "VMMALLOC_POOL_SIZE not a number" VMMALLOC_POOL_DIR="$tmp" VMMALLOC_POOL_SIZE=64X
bad "VMMALLOC_POOL_SIZE below the minimum" VMMALLOC_POOL_DIR="$tmp" VMMALLOC_POOL_SIZE=1M
bad "VMMALLOC_FORK out of range" VMMALLOC_POOL_DIR="$tmp" VMMALLOC_POOL_SIZE=64M VMMALLOC_FORK=7
bad "VMMALLOC_POOL_DIR missing" VMMALLOC_POOL_DIR="$tmp/missing" VMMALLOC_POOL_SIZE=64M
# K, M and G suffixes are byte counts
if env VMMALLOC_POOL_DIR="$tmp" VMMALLOC_POOL_SIZE=1G LD_PRELOAD="$lib" /bin/echo fine | grep -q fine &&
	env VMMALLOC_POOL_DIR="$tmp" VMMALLOC_POOL_SIZE=20000K LD_PRELOAD="$lib" /bin/echo fine | grep -q fine; then
	ok "suffixed sizes accepted"
else
	not_ok "suffixed sizes accepted"
fi
