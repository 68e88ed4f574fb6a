#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The dispatch engine and its unit tests built as 32-bit x86 code (gcc -m32)
# and run.  The package is Architecture: any, and Debian builds it for i386,
# armhf and armel too: there, size_t and pointers are 32 bits, there is no
# __int128, and 64-bit atomics are emulated.  This catches what breaks on a
# 32-bit target without a 32-bit machine or chroot.  Criterion has no i386
# build on an amd64 host (short of multiarch), so the tests use the stand-in
# runner, as the ThreadSanitizer build does (see Makefile.am here).
#
# Needs gcc-multilib and g++-multilib (scripts/install-deps.sh).
# Usage: tests/unit/test-m32.sh [BUILD_DIR]   (default: build-m32)
#
# The binaries run natively where the kernel runs 32-bit x86 code (IA32
# emulation, the usual case), else under qemu-i386 (Debian's qemu-user, which
# scripts/install-deps.sh installs), found by trying a tiny -m32 program; where
# neither works the tests are skipped with a line saying why.  The log says
# which way they ran.  For testing this script: M32_RUNNER=qemu acts as if the
# kernel could not run them; M32_QEMU names the emulator (default qemu-i386).
set -euo pipefail
case "${M32_RUNNER:-}" in
  '' | qemu) ;;
  *) echo "M32_RUNNER=$M32_RUNNER: only M32_RUNNER=qemu is known" >&2; exit 2 ;;
esac
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-build-m32}
mkdir -p "$dir"
cd "$dir"

echo "== 32-bit (-m32) build of the engine and its unit tests, in $PWD =="
# the project's own warning flags (Makefile.am); -O2 as in a package build
cflags=(-m32 -O2 -g -I"$top/lib" -Wall -Wextra -Wno-unused-parameter -Wno-cast-function-type)
cxxflags=(-m32 -O2 -g -I"$top/lib" -std=gnu++17 -Wall -Wextra -fno-rtti -fvisibility=hidden)
g++ "${cxxflags[@]}" -c "$top/lib/dispatcher.cpp" -o dispatcher.o
g++ "${cxxflags[@]}" -c "$top/lib/reorder.cpp" -o reorder.o
gcc "${cflags[@]}" -DSTANDALONE_CRITERION -c "$top/tests/unit/test_dispatcher.c" -o test_dispatcher.o
gcc "${cflags[@]}" -DSTANDALONE_CRITERION -c "$top/tests/unit/test_reorder.c" -o test_reorder.o
gcc "${cflags[@]}" -c "$top/tests/unit/standalone-criterion.c" -o standalone-criterion.o
g++ -m32 -o test_dispatcher-m32 dispatcher.o test_dispatcher.o standalone-criterion.o -lpthread
g++ -m32 -o test_reorder-m32 reorder.o test_reorder.o standalone-criterion.o -lpthread

# make sure it is 32-bit code that runs, not a silently 64-bit build
kind=$(file -b test_dispatcher-m32)
echo "test_dispatcher-m32: $kind"
case "$kind" in
  "ELF 32-bit"*) ;;
  *) echo "FAILED: test_dispatcher-m32 is not a 32-bit ELF binary"; exit 1 ;;
esac

# How 32-bit code runs here: a tiny program prints its pointer size and the machine
# uname() reports (x86_64 natively on a 64-bit kernel; qemu-user reports i686, also
# where binfmt_misc hands it the binary without our asking).
cat >probe-m32.c <<'EOF'
#include <stdio.h>
#include <sys/utsname.h>
int main(void)
{
  struct utsname u;
  if (uname(&u) != 0)
    return 1;
  printf("%u %s\n", (unsigned) sizeof(void *), u.machine);
  return 0;
}
EOF
gcc -m32 -o probe-m32 probe-m32.c
qemu=${M32_QEMU:-qemu-i386}
runner=()
how=
# The limit per test binary: natively the two take about 5 s on 2 cores; under
# qemu-i386 test_dispatcher took 31-33 s against 5.9-6.2 s natively (5.3-6x),
# so the emulated limit is 6 times the native one.
limit=600
native_probe=$(./probe-m32 2>&1) || true
if [ "${M32_RUNNER:-}" = qemu ]; then
  why="M32_RUNNER=qemu: run as on a kernel that cannot run 32-bit binaries"
elif [ "$native_probe" = "4 x86_64" ]; then
  how="natively (the kernel runs 32-bit x86 code)"
elif [ "${native_probe%% *}" = 4 ]; then
  how="emulated by the kernel's binfmt_misc handler (uname reports ${native_probe#* })"
  limit=3600
else
  why="32-bit binaries do not run natively here (${native_probe:-no output})"
fi
if [ -z "$how" ]; then
  if ! command -v "$qemu" >/dev/null; then
    echo "32-bit unit tests: skipped: $why, and $qemu is not installed (Debian package qemu-user)"
    exit 0
  fi
  qemu_probe=$("$qemu" ./probe-m32 2>&1) || true
  if [ "${qemu_probe%% *}" != 4 ]; then
    echo "32-bit unit tests: skipped: $why, and $qemu cannot run them either (${qemu_probe:-no output})"
    exit 0
  fi
  runner=("$qemu")
  how="under $qemu, emulated ($why)"
  limit=3600
fi
echo "32-bit unit tests run $how; limit ${limit}s per test binary"

echo "== 32-bit (-m32) unit tests =="
# the runner aborts at the first failed assertion; a hang is a failure too
for t in test_dispatcher test_reorder; do
  started=$SECONDS
  if timeout "$limit" "${runner[@]}" ./$t-m32 2>&1 | sed "s/^/m32 $t: /"; then
    echo "32-bit unit tests ($t): passed in $((SECONDS - started)) s, run $how"
  else
    echo "FAILED: 32-bit unit tests $t (exit status ${PIPESTATUS[0]}), run $how"
    exit 1
  fi
done
