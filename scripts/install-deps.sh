#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Everything the build, the tests and the benchmark need, from Debian 12's archive
# (the allocators: the opt-in drop-ins' test and the bench's allocator axis; haproxy: the
# scale-out layouts of docs/scaling-out.md, in the functional tests and the bench).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  syslog-ng-core syslog-ng-dev libivykis-dev libglib2.0-dev libjson-c-dev pkg-config
  build-essential autoconf automake libtool bison flex python3
  libcriterion-dev python3-pytest valgrind gnuplot-nox
  debhelper dh-autoreconf lintian fakeroot go-md2man mmdebstrap
  libmimalloc2.0 libjemalloc2 libtcmalloc-minimal4
  # the scale-out tests (tests/functional/test_scale_out.py): a real TCP load balancer
  haproxy
  # scripts/build-host.sh: syslog-ng 3.35.1 and 4.3.1 from upstream's release tarballs
  # (autogen needs autoconf-archive; 3.35 needs PCRE1, 4.3 PCRE2; both OpenSSL)
  autoconf-archive libpcre3-dev libpcre2-dev libssl-dev
)
# the 32-bit build of the engine's unit tests (tests/unit/test-m32.sh): amd64 hosts only;
# qemu-user runs them where the kernel cannot (built without IA32 emulation)
if [ "$(dpkg --print-architecture)" = amd64 ]; then
  packages+=(gcc-multilib g++-multilib file qemu-user)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Where an init system started the packaged daemon on install, it holds port 514 and the
# default control socket; stop that one only (by its own pidfile), never a test's daemon.
if [ -s /run/syslog-ng.pid ] && [ -x /etc/init.d/syslog-ng ] && kill -0 "$(cat /run/syslog-ng.pid)" 2>/dev/null; then
  /etc/init.d/syslog-ng stop || true
fi
