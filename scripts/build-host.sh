#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds a syslog-ng host from upstream's release tarballs (../shared/hosts, or $HOSTS_DIR)
# into a private prefix under the build tree, once: a second run with the same tarball and
# the same configure options reuses the prefix.
#
#   scripts/build-host.sh NAME         build (or reuse) and print the prefix
#   scripts/build-host.sh --env NAME   the same, then print shell assignments for it:
#                                      SYSLOG_NG, SYSLOG_NG_CTL, PKG_CONFIG_PATH
#
# NAME:  3.35.1            Ubuntu 22.04, EPEL 9 (no parallelize in the daemon)
#        4.3.1             Ubuntu 24.04's release, against the system ivykis 0.42 (no built-in)
#        4.3.1-ivykis043   the same, against a private ivykis 0.43.2: its built-in parallelize()
#                          exists, as in Ubuntu 24.04's package
#
# The prefix is $HOSTS_BUILD_DIR/NAME/prefix (default build/hosts/NAME/prefix); the build
# tree is removed after a successful install (KEEP_HOST_BUILD=1 keeps it), its log stays
# beside the prefix.  json-c, PCRE and ivykis (but for -ivykis043) come from the system.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
hosts_dir=${HOSTS_DIR:-$top/../shared/hosts}
out_dir=${HOSTS_BUILD_DIR:-$top/build/hosts}
jobs=$(nproc)
# bump when the recipe below changes in a way the options do not show
recipe=1

usage() { echo "usage: $0 [--env] 3.35.1|4.3.1|4.3.1-ivykis043" >&2; exit 2; }
print_env=no
if [ "${1:-}" = --env ]; then print_env=yes; shift; fi
[ $# -eq 1 ] || usage
name=$1
case "$name" in
  3.35.1) version=3.35.1 ivykis=system ;;
  4.3.1) version=4.3.1 ivykis=system ;;
  4.3.1-ivykis043) version=4.3.1 ivykis=0.43.2 ;;
  *) usage ;;
esac

[ -d "$hosts_dir" ] || { echo "no host tarballs in $hosts_dir (set HOSTS_DIR)" >&2; exit 1; }
hosts_dir=$(cd "$hosts_dir" && pwd)
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)

log() { echo "build-host: $*" >&2; }

# The modules the functional tests, the bench and the examples use: affile, afsocket,
# syslogformat, kvformat, csvparser, basicfuncs, cryptofuncs ($(sha1)) are built even with
# --disable-all-modules; json-plugin needs --enable-json.
common_options=(--with-ivykis=system --with-jsonc=system --disable-all-modules --enable-json
                --enable-ipv6 --disable-manpages --disable-java --disable-python)

# build_once DIR STAMP TARBALL CONFIGURE-OPTIONS...: unpack TARBALL in DIR/build, configure
# with --prefix=DIR/prefix and the options, make, install; skipped when DIR/prefix carries STAMP.
build_once() {
  local dir=$1 stamp=$2 tarball=$3
  shift 3
  local prefix=$dir/prefix
  if [ -f "$prefix/.build-host-stamp" ] && [ "$(cat "$prefix/.build-host-stamp")" = "$stamp" ]; then
    log "$(basename "$dir"): reusing $prefix"
    return
  fi
  log "$(basename "$dir"): building from $(basename "$tarball") into $prefix (log: $dir/build.log)"
  rm -rf "$prefix" "$dir/build"
  mkdir -p "$dir/build"
  local started=$SECONDS step_started
  : >"$dir/build.log"
  step() {
    local what=$1
    shift
    step_started=$SECONDS
    if ! "$@" >>"$dir/build.log" 2>&1; then
      tail -n 40 "$dir/build.log" >&2
      log "$(basename "$dir"): $what failed (log: $dir/build.log)"
      exit 1
    fi
    log "$(basename "$dir"): $what $((SECONDS - step_started))s"
  }
  step unpack tar -xf "$tarball" -C "$dir/build" --strip-components=1
  (
    cd "$dir/build"
    if [ ! -x configure ]; then
      # a git archive of the tag: no configure yet, submodules empty
      step autogen env skip_submodules=1 ./autogen.sh
    fi
    step configure ./configure --prefix="$prefix" "$@"
    step make make -j"$jobs"
    step install make install
  )
  echo "$stamp" >"$prefix/.build-host-stamp"
  log "$(basename "$dir"): done in $((SECONDS - started))s, prefix $(du -sh "$prefix" | cut -f1)"
  if [ "${KEEP_HOST_BUILD:-0}" != 1 ]; then
    rm -rf "$dir/build"
  fi
}

stamp_of() {
  local tarball=$1
  shift
  echo "recipe=$recipe $(basename "$tarball") sha256=$(sha256sum "$tarball" | cut -d' ' -f1) options=$*"
}

# one at a time per host (scripts/test.sh and a developer may start the same build)
mkdir -p "$out_dir/$name"
exec 9>"$out_dir/$name.lock"
flock 9

pkg_config_path=
options=("${common_options[@]}")
if [ "$ivykis" != system ]; then
  ivykis_tarball=$hosts_dir/ivykis-$ivykis.tar.xz
  ivykis_dir=$out_dir/ivykis-$ivykis
  mkdir -p "$ivykis_dir"
  exec 8>"$out_dir/ivykis-$ivykis.lock"
  flock 8
  ivykis_options=(--disable-static)
  build_once "$ivykis_dir" "$(stamp_of "$ivykis_tarball" "${ivykis_options[@]}")" "$ivykis_tarball" \
    "${ivykis_options[@]}"
  exec 8>&-
  pkg_config_path=$ivykis_dir/prefix/lib/pkgconfig
  # the daemon must load this ivykis, not the system's 0.42 of the same soname: the rpath
  # goes into libsyslog-ng and every binary (pkg-config's -L alone does not set one)
  options+=("PKG_CONFIG_PATH=$pkg_config_path" "LDFLAGS=-Wl,-rpath,$ivykis_dir/prefix/lib")
fi
tarball=$hosts_dir/syslog-ng-$version.tar.xz
stamp=$(stamp_of "$tarball" "${options[@]}")
# a rebuilt ivykis (another tarball, other options) rebuilds the syslog-ng linked against it
[ "$ivykis" = system ] || stamp="$stamp ivykis=($(cat "$ivykis_dir/prefix/.build-host-stamp"))"
build_once "$out_dir/$name" "$stamp" "$tarball" "${options[@]}"

prefix=$out_dir/$name/prefix
if [ "$print_env" = yes ]; then
  echo "SYSLOG_NG=$prefix/sbin/syslog-ng"
  echo "SYSLOG_NG_CTL=$prefix/sbin/syslog-ng-ctl"
  echo "PKG_CONFIG_PATH=$prefix/lib/pkgconfig${pkg_config_path:+:$pkg_config_path}"
else
  echo "$prefix"
fi
