#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The Debian package, end to end: build the .deb from a clean copy of the tree,
# install it with apt-get, run the stock daemon from its default module path
# with parallelize() in the config, send messages over TCP, then purge the
# package and check that nothing is left behind.
#
# Needs root (apt-get) and the build dependencies (scripts/install-deps.sh).
# Every process it starts is stopped by PID; the package is purged on exit.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
package=syslog-ng-mod-parallelize
syslog_ng=/usr/sbin/syslog-ng
syslog_ng_ctl=/usr/sbin/syslog-ng-ctl
python=/usr/bin/python3
messages=${PACKAGE_TEST_MESSAGES:-20000}

passed=0
failed=0
work=
daemon_pid=
installed_by_us=no

pass() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAILED: $*"; }
summary() { echo "package test: $passed passed, $failed failed"; }

stop_daemon() {
  [ -n "$daemon_pid" ] || return 0
  if kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid"
    for _ in $(seq 1 300); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$daemon_pid" 2>/dev/null; then
      echo "syslog-ng (pid $daemon_pid) ignored SIGTERM for 30s, killing it"
      kill -KILL "$daemon_pid"
    fi
  fi
  wait "$daemon_pid" 2>/dev/null
  local rc=$?
  daemon_pid=
  return $rc
}

cleanup() {
  stop_daemon
  if [ "$installed_by_us" = yes ] && dpkg-query -W "$package" >/dev/null 2>&1; then
    apt-get purge -y -qq "$package" >/dev/null 2>&1 || true
  fi
  [ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ]; then
  echo "package test: skipped (needs root for apt-get)"
  exit 0
fi

# Refuse to clobber a copy someone installed by hand or from another build.
moduledir=$(pkg-config --variable=moduledir syslog-ng)
if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q installed; then
  echo "$package is already installed; remove it first (apt-get purge $package)"
  summary; exit 1
fi
if [ -e "$moduledir/libparallelize.so" ]; then
  echo "$moduledir/libparallelize.so exists (a make install?); remove it first"
  summary; exit 1
fi

work=$(mktemp -d /tmp/test-deb.XXXXXX)
chmod 755 "$work"

# 1. VERSION and debian/changelog agree
if sh "$top/tests/package/check-version.sh"; then pass "version"; else fail "version"; fi
version=$(cat "$top/VERSION")

# 2. build the .deb from a clean copy: the tree's files, none of its build outputs
src="$work/src/$package-$version"
"$top/scripts/copy-tree.sh" "$src"
echo "building $package $version in $src"
if (cd "$src" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
  pass "dpkg-buildpackage"
else
  tail -n 40 "$work/build.log"
  fail "dpkg-buildpackage (log above)"
  summary; exit 1
fi
# the binary version names the distribution release (debian/distro-suffix): 0.1.0+deb12
suffix=$(sh "$top/debian/distro-suffix")
deb=$(ls "$work/src/${package}_${version}+${suffix}_"*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || { ls "$work/src"; fail "no ${package}_${version}+${suffix}_*.deb built"; summary; exit 1; }
echo "built $(basename "$deb")"
if [ "$(dpkg-deb -f "$deb" Version)" = "$version+$suffix" ] &&
   dpkg --compare-versions "$version+$suffix" gt "$version" &&
   dpkg --compare-versions "$version+deb12" lt "$version+deb13" &&
   dpkg --compare-versions "$version+ubuntu22.04" lt "$version+ubuntu24.04"; then
  pass "version $version+$suffix names the release it was built for"
else
  fail "binary version '$(dpkg-deb -f "$deb" Version)', expected '$version+$suffix'"
fi

# 3. install with apt-get; the module lands in syslog-ng's module directory, no .la
installed_by_us=yes
if apt-get install -y -qq --no-install-recommends "$deb" >"$work/apt.log" 2>&1 &&
   [ -f "$moduledir/libparallelize.so" ] && [ ! -e "$moduledir/libparallelize.la" ] &&
   [ -f /usr/share/man/man7/syslog-ng-parallelize.7.gz ]; then
  pass "apt-get install ($moduledir/libparallelize.so, syslog-ng-parallelize(7))"
else
  cat "$work/apt.log"
  fail "apt-get install"
  summary; exit 1
fi

# 3b. the opt-in allocator drop-ins are installed, point at Debian's libraries, and are not enabled
dropins=/usr/share/$package/allocator
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
if grep -qx "Environment=LD_PRELOAD=/usr/lib/$multiarch/libmimalloc.so.2" "$dropins/mimalloc.conf" 2>/dev/null &&
   grep -qx "Environment=LD_PRELOAD=/usr/lib/$multiarch/libjemalloc.so.2" "$dropins/jemalloc.conf" 2>/dev/null &&
   grep -q "ln -sf $dropins/mimalloc.conf " "$dropins/mimalloc.conf" &&
   ! dpkg -L "$package" | grep -q '^/etc/systemd' &&
   dpkg-query -W -f='${Suggests}' "$package" | grep -q libmimalloc2.0; then
  pass "allocator drop-ins in $dropins (not enabled; Suggests: $(dpkg-query -W -f='${Suggests}' "$package"))"
else
  ls -l "$dropins" 2>&1; dpkg -L "$package" | grep '^/etc' 
  fail "allocator drop-ins"
fi

# 4. the stock daemon lists the module, with its description
registry=$("$syslog_ng" --module-registry 2>&1)
if grep -A 5 '^Module: parallelize$' <<<"$registry" | grep -q 'spreads a log path over worker threads'; then
  pass "--module-registry lists parallelize"
else
  grep -A 8 'parallelize' <<<"$registry"
  fail "--module-registry does not list parallelize with its description"
fi

# 5. the installed examples pass --syntax-only with the default module path
examples=(/usr/share/doc/$package/examples/*.conf)
bad=0
for conf in "${examples[@]}"; do
  if ! out=$("$syslog_ng" --syntax-only -f "$conf" 2>&1); then
    echo "$conf: $out"; bad=1
  fi
done
if [ $bad = 0 ] && [ -f "${examples[0]}" ]; then pass "installed examples pass --syntax-only (${#examples[@]})"; else fail "installed examples"; fi

# 6. messages through parallelize() over TCP, stock daemon, no --module-path
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
out="$work/out.log"
# written for 3.38; the functional tests' harness turns it into this host's dialect
cat >"$work/syslog-ng.3.38.conf" <<EOF
@version: 3.38
options { stats-level(1); };
source s_test {
  tcp(ip(127.0.0.1) port($port) keep-hostname(yes) log-iw-size(20000) log-fetch-limit(1000));
};
log {
  source(s_test);
  parallelize(workers(4) partition-key("\$HOST"));
  rewrite { set("\$HOST \$MSG" value("MSG")); };
  destination { file("$out" template("\$MSG\n")); };
  flags(flow-control);
};
EOF
PYTHONPATH="$top/tests/functional" "$python" -c '
import sys, syslogng
sys.stdout.write(syslogng.HOST.config(open(sys.argv[1]).read()))' "$work/syslog-ng.3.38.conf" >"$work/syslog-ng.conf"
"$syslog_ng" -F -e --no-caps -f "$work/syslog-ng.conf" -c "$work/syslog-ng.ctl" \
  -R "$work/syslog-ng.persist" -p "$work/syslog-ng.pid" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
up=no
for _ in $(seq 1 300); do
  kill -0 "$daemon_pid" 2>/dev/null || break
  if "$syslog_ng_ctl" stats -c "$work/syslog-ng.ctl" >/dev/null 2>&1 &&
     "$python" -c "import socket; socket.create_connection(('127.0.0.1', $port), timeout=0.2).close()" 2>/dev/null; then
    up=yes; break
  fi
  sleep 0.1
done
if [ $up = yes ]; then
  "$python" - "$port" "$messages" <<'EOF'
import socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
data = b"".join(b"<13>Jan  1 00:00:00 host%d app: seq=%d\n" % (i % 20, i) for i in range(count))
with socket.create_connection(("127.0.0.1", port)) as s:
    s.sendall(data)
EOF
  got=0
  for _ in $(seq 1 600); do
    got=$(cat "$out" 2>/dev/null | wc -l)
    [ "$got" -ge "$messages" ] && break
    sleep 0.1
  done
  processed=$("$syslog_ng_ctl" stats -c "$work/syslog-ng.ctl" 2>/dev/null |
              awk -F';' '$1 == "parser" && $2 ~ /^parallelize@/ && $3 == "total" && $5 == "parallelized_processed_events_total" { print $6 }')
  distinct=$(sed -n 's/.* seq=\([0-9]*\)$/\1/p' "$out" | sort -u | wc -l)
  if [ "$got" -eq "$messages" ] && [ "$distinct" -eq "$messages" ] && [ "$processed" = "$messages" ]; then
    pass "$messages messages through parallelize() over TCP (counters: $processed processed)"
  else
    fail "delivery: sent $messages, file has $got lines ($distinct distinct), counter says '${processed}'"
    tail -n 20 "$work/daemon.log"
  fi
else
  fail "the stock daemon did not start with parallelize() in its config"
  cat "$work/daemon.log"
fi
if stop_daemon; then pass "daemon stopped cleanly on SIGTERM"; else fail "daemon exit status on SIGTERM"; tail -n 20 "$work/daemon.log"; fi

# 7. purge leaves nothing behind
if apt-get purge -y -qq "$package" >"$work/apt.log" 2>&1; then
  installed_by_us=no
  left=$(ls -d "$moduledir"/libparallelize* /usr/share/man/man7/syslog-ng-parallelize* \
              "/usr/share/doc/$package" "/usr/share/lintian/overrides/$package" "/usr/share/$package" 2>/dev/null)
  if [ -z "$left" ] && ! dpkg-query -W "$package" >/dev/null 2>&1; then
    pass "purge leaves nothing behind"
  else
    fail "left after purge: $left"
  fi
else
  cat "$work/apt.log"
  fail "apt-get purge"
fi

summary
[ "$failed" -eq 0 ]
