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

echo "1..23"

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

# A library loaded with RTLD_DEEPBIND binds malloc to the C library's own:
# its blocks reach our free, realloc and malloc_usable_size, which must hand
# them back to the C library (the original crashed here).  And fork: parent
# and child both allocate afterwards, each in its own copy of the pool.
cc=${CC:-cc}
cat >"$tmp/deep.c" <<'C'
#include <stdlib.h>
#include <string.h>
char *deep_strdup(const char *s) { char *p = malloc(strlen(s) + 1); return strcpy(p, s); }
void deep_free(void *p) { free(p); }
C
cat >"$tmp/main.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static int exercise(int seed)
{
	char *blocks[2000];
	for (int i = 0; i < 2000; i++) {
		blocks[i] = malloc(16 + (i * 37 + seed) % 3000);
		memset(blocks[i], (i + seed) & 0xff, 16);
	}
	int bad = 0;
	for (int i = 0; i < 2000; i++) {
		bad += blocks[i][15] != (char)((i + seed) & 0xff);
		free(blocks[i]);
	}
	return bad;
}
int main(int argc, char **argv)
{
	if (strcmp(argv[1], "deepbind") == 0) {
		void *lib = dlopen(argv[2], RTLD_NOW | RTLD_DEEPBIND);
		if (lib == NULL) { printf("dlopen: %s\n", dlerror()); return 2; }
		char *(*dup)(const char *) = (char *(*)(const char *))dlsym(lib, "deep_strdup");
		void (*dfree)(void *) = (void (*)(void *))dlsym(lib, "deep_free");
		char *a = dup("from the library"), *b = dup("another"), *c = dup("third");
		size_t usable = malloc_usable_size(a);          /* ours, on a C-library block */
		char *grown = realloc(b, 100000);               /* ours, on a C-library block */
		free(a);                                        /* ours */
		dfree(dup("the library frees its own"));        /* the C library's free, its block */
		free(grown);
		free(c);
		printf("deepbind ok %d %s\n", usable >= 17, "done");
		return 0;
	}
	char *before = strdup("made before fork");
	int sequential = strcmp(argv[1], "fork-one-at-a-time") == 0;
	pid_t pid = fork();
	if (pid == 0)
		_exit(exercise(1) == 0 && strcmp(before, "made before fork") == 0 ? 0 : 1);
	int status = 0;
	if (sequential) /* a shared pool: one process at a time */
		waitpid(pid, &status, 0);
	int bad = exercise(2);
	if (!sequential)
		waitpid(pid, &status, 0);
	printf("fork ok %d %d\n", bad == 0, WIFEXITED(status) && WEXITSTATUS(status) == 0);
	free(before);
	return 0;
}
C
# fork while another thread allocates: the pool the child gets (its
# copy-on-write mapping, or the copy in a new file) must hold a consistent
# heap, never one caught half-way through the other thread's update.  A copy
# made in the parent during the other thread's allocations gave children
# that looped forever in the span bins.
cat >"$tmp/busy.c" <<'C'
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static atomic_int stop;
static void fill(unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)((uintptr_t)p * 7 + i);
}
static int damaged(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)((uintptr_t)p * 7 + i))
			return 1;
	return 0;
}
static void *churn(void *arg)
{
	enum { slots = 512 };
	unsigned char *blocks[slots] = {0};
	size_t sizes[slots] = {0};
	unsigned seed = 1;
	while (!atomic_load(&stop)) {
		int s = (int)((seed = seed * 1103515245u + 12345u) >> 8) % slots;
		if (blocks[s] != NULL && damaged(blocks[s], sizes[s]))
			abort();
		free(blocks[s]);
		sizes[s] = 16 + (seed >> 4) % 4000;
		blocks[s] = malloc(sizes[s]);
		fill(blocks[s], sizes[s]);
	}
	for (int s = 0; s < slots; s++)
		free(blocks[s]);
	return arg;
}
/* in the child: 3000 blocks, each keeping the pattern of its own address */
static int child(void)
{
	enum { count = 3000 };
	static unsigned char *blocks[count];
	static size_t sizes[count];
	for (int i = 0; i < count; i++) {
		sizes[i] = 16 + (size_t)(i * 37) % 3000;
		if ((blocks[i] = malloc(sizes[i])) == NULL)
			return 1;
		fill(blocks[i], sizes[i]);
	}
	for (int i = 0; i < count; i++)
		if (damaged(blocks[i], sizes[i]))
			return 2;
	return 0;
}
int main(void)
{
	pthread_t thread;
	pthread_create(&thread, NULL, churn, NULL);
	usleep(20000);
	int failed = 0;
	for (int round = 0; round < 20; round++) {
		pid_t pid = fork();
		if (pid == 0) {
			alarm(20); /* a child caught in a broken heap dies instead of looping */
			_exit(child());
		}
		int status = 0;
		waitpid(pid, &status, 0);
		failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	atomic_store(&stop, 1);
	pthread_join(thread, NULL);
	printf("%d of 20 children failed\n", failed);
	return 0;
}
C
if ! "$cc" -shared -fPIC -o "$tmp/libdeep.so" "$tmp/deep.c" 2>"$tmp/cc.err" ||
	! "$cc" -o "$tmp/main" "$tmp/main.c" -ldl 2>>"$tmp/cc.err" ||
	! "$cc" -pthread -o "$tmp/busy" "$tmp/busy.c" 2>>"$tmp/cc.err"; then
	skip "RTLD_DEEPBIND library" "no C compiler: $(head -1 "$tmp/cc.err")"
	skip "fork, default mode" "no C compiler"
	skip "fork, VMMALLOC_FORK=0" "no C compiler"
	skip "fork, VMMALLOC_FORK=1" "no C compiler"
	skip "fork, VMMALLOC_FORK=2" "no C compiler"
	skip "fork, VMMALLOC_FORK=3" "no C compiler"
	skip "fork with a busy thread, VMMALLOC_FORK=1" "no C compiler"
	skip "fork with a busy thread, VMMALLOC_FORK=2" "no C compiler"
	skip "fork with a busy thread, VMMALLOC_FORK=3" "no C compiler"
	skip "threaded C++ program" "no C compiler"
	exit 0
fi
out=$(preloaded "$tmp/main" deepbind "$tmp/libdeep.so" 2>&1)
[ "$out" = "deepbind ok 1 done" ] && ok "RTLD_DEEPBIND library: C-library blocks go back to the C library" ||
	not_ok "RTLD_DEEPBIND library" "$out"
# modes 1-3 give each process a pool of its own; mode 0 shares it, as the
# original did, so the two take turns
for mode in default 0 1 2 3; do
	case $mode in
	default) out=$(preloaded "$tmp/main" fork 2>&1) ;;
	0) out=$(preloaded env VMMALLOC_FORK=0 "$tmp/main" fork-one-at-a-time 2>&1) ;;
	*) out=$(preloaded env VMMALLOC_FORK=$mode "$tmp/main" fork 2>&1) ;;
	esac
	[ "$out" = "fork ok 1 1" ] && ok "fork, mode $mode: parent and child both allocate" ||
		not_ok "fork, mode $mode" "$out"
done
for mode in 1 2 3; do
	out=$(env VMMALLOC_POOL_DIR="$tmp" VMMALLOC_POOL_SIZE=32M VMMALLOC_FORK=$mode LD_PRELOAD="$lib" \
		"$tmp/busy" 2>&1)
	[ "$out" = "0 of 20 children failed" ] && ok "fork with a busy thread, mode $mode: every child's heap is whole" ||
		not_ok "fork with a busy thread, mode $mode" "$out"
done


# a threaded C++ program: new/delete and the standard containers in 4 threads
cat >"$tmp/threads.cpp" <<'CXX'
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>
int main()
{
	std::vector<unsigned long> sums(4);
	std::vector<std::thread> threads;
	for (int t = 0; t < 4; t++)
		threads.emplace_back([t, &sums] {
			std::map<int, std::string> m;
			std::vector<std::unique_ptr<int[]>> arrays;
			for (int i = 0; i < 200000; i++) {
				m[i % 5000] = std::to_string(i * (t + 1));
				arrays.emplace_back(new int[1 + i % 64]());
				if (arrays.size() > 1000)
					arrays.erase(arrays.begin(), arrays.begin() + 500);
			}
			for (auto &kv : m)
				sums[t] += kv.second.size() + static_cast<unsigned long>(kv.first);
		});
	for (auto &thread : threads)
		thread.join();
	std::printf("%lu %lu %lu %lu\n", sums[0], sums[1], sums[2], sums[3]);
}
CXX
if ${CXX:-c++} -O1 -pthread -o "$tmp/threads" "$tmp/threads.cpp" 2>"$tmp/cxx.err"; then
	same "threaded C++ program" "$tmp/threads"
else
	skip "threaded C++ program" "no C++ compiler: $(head -1 "$tmp/cxx.err")"
fi
