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
set -euo pipefail
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

echo "== 32-bit (-m32) unit tests =="
# the runner aborts at the first failed assertion; a hang is a failure too
for t in test_dispatcher test_reorder; do
  if timeout 600 ./$t-m32 2>&1 | sed "s/^/m32 $t: /"; then
    echo "32-bit unit tests ($t): passed"
  else
    echo "FAILED: 32-bit unit tests $t (exit status ${PIPESTATUS[0]})"
    exit 1
  fi
done
