#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The module against a syslog-ng built from upstream's release (scripts/build-host.sh):
# builds that host once (cached), configures and builds the module against it in
# build/host-NAME, and runs make check there (unit tests, then the functional tests
# against that host's daemon).
#
#   scripts/host-check.sh NAME [MAKE-TARGET...]     default target: check
#
# NAME as for build-host.sh: 3.35.1, 4.3.1, 4.3.1-ivykis043.  PYTEST_ARGS narrows the
# functional tests as for make check; extra configure arguments go in CONFIGURE_ARGS.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 3.35.1|4.3.1|4.3.1-ivykis043 [make target...]" >&2; exit 2; }
name=$1
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(check)

started=$SECONDS
env_lines=$("$top/scripts/build-host.sh" --env "$name")
export $env_lines
echo "host-check: $name ready after $((SECONDS - started))s: $SYSLOG_NG"

cd "$top"
[ -x configure ] || ./autogen.sh
dir=$top/build/host-$name
mkdir -p "$dir"
cd "$dir"
# a build configured against another syslog-ng (or another prefix) is started afresh
if [ ! -f Makefile ] || ! grep -qx "SYSLOG_NG_BIN = $SYSLOG_NG" Makefile; then
  rm -rf "${dir:?}"/*
  # shellcheck disable=SC2086
  "$top/configure" --quiet ${CONFIGURE_ARGS:-}
fi
make -j"$(nproc)"
make "${targets[@]}"
