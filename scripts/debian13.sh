#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Debian 13 (trixie, syslog-ng 4.8) from this Debian 12 machine: a trixie root made
# with mmdebstrap (nothing from trixie is installed on the machine itself), a copy of
# the tree inside it, and a command run there under chroot with /proc mounted.
#
#   scripts/debian13.sh test         build, make check (unit + functional tests against
#                                    4.8), then build, install and test the trixie package
#   scripts/debian13.sh bench        make bench inside the root (BENCH_* settings are passed
#                                    in; results in build/trixie-root/src-results/; the root
#                                    has no valgrind or gnuplot: no instruction counts, no chart)
#   scripts/debian13.sh run CMD...   any command, in the copy of the tree (/src)
#
# The root is kept in build/trixie-root (TRIXIE_ROOT overrides) and reused while the
# package list below is unchanged; the mirror is the one this machine's apt uses.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
root=${TRIXIE_ROOT:-$top/build/trixie-root}
packages=(
  syslog-ng-core syslog-ng-dev libivykis-dev libglib2.0-dev libjson-c-dev pkg-config
  build-essential autoconf automake libtool bison flex python3 python3-pytest
  libcriterion-dev debhelper dh-autoreconf fakeroot go-md2man git ca-certificates procps haproxy
)

mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '/^URIs:/ { uri = $2 } /^Suites:/ && / bookworm( |$)/ { print uri; exit }')
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
          awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }')
  fi
  [ -n "$uri" ] || { echo "no Debian mirror in this machine's apt sources" >&2; exit 1; }
  echo "$uri"
}

make_root() {
  local stamp="${packages[*]}"
  if [ -f "$root/.debian13-packages" ] && [ "$(cat "$root/.debian13-packages")" = "$stamp" ]; then
    return
  fi
  command -v mmdebstrap >/dev/null || apt-get install -y -qq --no-install-recommends mmdebstrap
  echo "making the trixie root in $root"
  rm -rf "$root" "$root.tmp"
  mkdir -p "$(dirname "$root")"
  local list
  list=$(IFS=,; echo "${packages[*]}")
  mmdebstrap --quiet --variant=apt --include="$list" trixie "$root.tmp" "$(mirror)"
  echo "$stamp" >"$root.tmp/.debian13-packages"
  mv "$root.tmp" "$root"
}

copy_tree() {
  rm -rf "$root/src"
  "$top/scripts/copy-tree.sh" "$root/src"
}

proc_mounted=no
unmount() {
  if [ $proc_mounted = yes ]; then
    umount "$root/proc" 2>/dev/null || umount -l "$root/proc"
    proc_mounted=no
  fi
}

in_root() {
  mountpoint -q "$root/proc" || { mount -t proc proc "$root/proc"; proc_mounted=yes; }
  trap unmount EXIT
  trap 'exit 130' INT TERM
  # a clean environment: the machine's PATH and locale settings mean nothing in the root;
  # the test and bench settings (PYTEST_ARGS, BENCH_*) go in
  local settings=() name
  for name in $(compgen -e); do
    case "$name" in BENCH_*) settings+=("$name=${!name}") ;; esac
  done
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    TERM="${TERM:-dumb}" PYTEST_ARGS="${PYTEST_ARGS:-}" "${settings[@]}" /bin/bash -c "cd /src && $1"
}

[ "$(id -u)" = 0 ] || { echo "debian13.sh needs root (mmdebstrap, chroot)" >&2; exit 1; }
what=${1:-test}
shift || true
make_root
copy_tree
case "$what" in
  test) in_root 'scripts/debian13-inside.sh test' ;;
  bench)
    status=0
    in_root 'scripts/debian13-inside.sh bench' || status=$?
    echo "debian13 bench: results in $root/src-results/results.md"
    exit $status
    ;;
  run) in_root "$*" ;;
  *) echo "usage: $0 [test|bench|run CMD...]" >&2; exit 2 ;;
esac
