#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs every test: make check against the stock daemon, then the engine's unit
# tests again under ThreadSanitizer (and AddressSanitizer with --asan) and as
# 32-bit code (gcc -m32), the Debian package, and all of it again against Debian 13's
# syslog-ng 4.8 (scripts/debian13.sh).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/install-deps.sh"

status=0
run_check() {
  local dir=$1; shift
  "$top/scripts/build.sh" "$dir" "$@"
  if ! make -C "$dir" check; then status=1; fi
  # the runners' own summaries, for whoever reads this log
  find "$dir/tests" -name '*.log' ! -name 'test-suite.log' -exec tail -n 3 {} \;
}

run_check build
run_check build-tsan --enable-sanitizer=thread
if [ "${1:-}" = "--asan" ]; then
  run_check build-asan --enable-sanitizer=address
fi
# the engine's unit tests once more as 32-bit code (Debian builds i386, armhf, armel too):
# natively, or under qemu-i386 where the kernel cannot run 32-bit binaries (its log says which)
if [ "$(dpkg --print-architecture)" = amd64 ]; then
  if ! "$top/tests/unit/test-m32.sh" build-m32; then status=1; fi
else
  echo "32-bit unit tests: skipped (gcc -m32 needs an amd64 host)"
fi
# the Debian package: built from a clean copy, installed, used by the stock daemon, purged
if ! "$top/tests/package/test-deb.sh"; then status=1; fi
# Debian 13 (syslog-ng 4.8), in a trixie root (cached in build/trixie-root): build, make check,
# the trixie package; SKIP_DEBIAN13=1 leaves it out
if [ "${SKIP_DEBIAN13:-0}" != 1 ]; then
  started=$SECONDS
  if ! "$top/scripts/debian13.sh" test; then status=1; fi
  echo "debian13: $((SECONDS - started))s"
fi
exit $status
