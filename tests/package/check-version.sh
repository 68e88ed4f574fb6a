#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The version lives in VERSION (configure.ac reads it for AC_INIT); debian/changelog
# must carry the same one (native package: no Debian revision, or an explicit -N).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
version=$(cat "$top/VERSION")
changelog=$(dpkg-parsechangelog -l "$top/debian/changelog" -SVersion)
if [ "${changelog%-*}" != "$version" ]; then
  echo "version mismatch: VERSION says '$version', debian/changelog says '$changelog'" >&2
  echo "(update debian/changelog with dch -v $version, or fix VERSION)" >&2
  exit 1
fi
echo "version check: VERSION and debian/changelog agree on $version"
