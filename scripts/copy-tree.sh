#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Copies the source tree as it is now into DEST: tracked files and untracked ones git
# does not ignore, none of the build outputs.  Outside a git checkout (an unpacked
# release), everything but the build folders.  Used where a clean copy is built
# elsewhere: the Debian 13 root (scripts/debian13.sh), the package test.
# Usage: scripts/copy-tree.sh DEST
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:?usage: $0 DEST}
mkdir -p "$dest"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$top" && git ls-files -z --cached --others --exclude-standard --deduplicate |
     while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
     tar --null -T - -cf -) | tar -xf - -C "$dest"
else
  tar -C "$top" --exclude='./build*' --exclude=./debian/build --exclude=./autom4te.cache -cf - . |
    tar -xf - -C "$dest"
fi
