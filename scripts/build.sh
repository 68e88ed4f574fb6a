#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Configure and build in ./build (or $1 with extra configure arguments after it).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}
shift || true
cd "$top"
[ -x configure ] || ./autogen.sh
mkdir -p "$dir"
cd "$dir"
[ -f Makefile ] || "$top/configure" "$@"
make -j"$(nproc)"
