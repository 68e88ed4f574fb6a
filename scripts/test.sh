#!/bin/bash
# Runs every test: make check against the stock daemon, then the engine's unit
# tests again under ThreadSanitizer (and AddressSanitizer with --asan), the Debian
# package, and all of it again against Debian 13's syslog-ng 4.8 (scripts/debian13.sh).
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
