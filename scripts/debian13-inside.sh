#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Run by scripts/debian13.sh inside the trixie root, in its copy of the tree (/src):
#   test   build against syslog-ng 4.8, make check (unit and functional tests), then the
#          Debian package: built, installed, used by the stock daemon, purged
#   bench  make bench (ours against the built-in parallelize(), and the reload-loss run)
set -uo pipefail
cd "$(dirname "$0")/.."
build=/build/debian13
jobs=$(nproc)

configure_and_build() {
  ./autogen.sh >/dev/null 2>&1 || { echo "autogen failed"; return 1; }
  rm -rf "$build" && mkdir -p "$build" && cd "$build" &&
    /src/configure --quiet && make -j"$jobs" >make.log 2>&1 || { tail -n 40 "$build/make.log"; return 1; }
  grep -E 'warning:' "$build/make.log" || true
  echo "built against syslog-ng $(pkg-config --modversion syslog-ng)"
}

status=0
case "${1:-test}" in
  test)
    configure_and_build || exit 1
    if ! make -C "$build" check; then status=1; fi
    find "$build/tests" -name '*.log' ! -name 'test-suite.log' -exec tail -n 3 {} \;
    if ! /src/tests/package/test-deb.sh; then status=1; fi
    ;;
  bench)
    configure_and_build || exit 1
    make -C "$build" bench || status=1
    rm -rf /src-results && mkdir -p /src-results && cp -r "$build/bench-out/." /src-results/ 2>/dev/null
    ;;
  *) echo "usage: $0 test|bench" >&2; exit 2 ;;
esac
exit $status
