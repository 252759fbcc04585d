#!/usr/bin/env bash
# The Debian package as an operator meets it (make test-deb, as root): lintian finds no error,
# `apt-get install ./privlink_*.deb` installs it with its dependencies, the installed unit's
# command line starts privlinkd (here with --no-dataplane: no NICs) and the installed privlinkctl
# gets its stats, the man pages are where man looks; then the package is purged again.
#
# usage: tests/package/deb_test.sh DIR   (DIR holds privlink_*.deb)
set -uo pipefail
# shellcheck source=tests/common/unit_command.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common/unit_command.sh"
dir=$(cd "$1" && pwd)
deb=$(ls "$dir"/privlink_*_amd64.deb | head -n 1)
[ -f "$deb" ] || { echo "no privlink_*_amd64.deb in $dir"; exit 1; }
work=$(mktemp -d /tmp/privlink-deb.XXXXXX)
daemon=
cleanup() {
  if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; fi
  apt-get purge -y -q privlink >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }
pass() { echo "PASS: $*"; }

lintian "$deb" >"$work/lintian.txt" 2>&1
if grep -q '^E: ' "$work/lintian.txt"; then fail "lintian: $(grep '^E: ' "$work/lintian.txt")"; else
  pass "lintian: no errors ($(grep -c '^W: ' "$work/lintian.txt") warnings)"
fi
if apt-get install -y -q "$deb" >"$work/apt.log" 2>&1; then pass "apt-get install $(basename "$deb")"
else
  fail "apt-get install: $(tail -5 "$work/apt.log")"
  exit 1
fi
for f in /usr/bin/privlinkd /usr/bin/privlinkctl /usr/bin/privlink-replay /usr/bin/privlink-tracegen \
  /etc/privlink/privlink.json; do
  [ -f "$f" ] && pass "installed $f" || fail "no $f"
done
unit=$(dpkg -L privlink | grep '/privlinkd.service$' | head -n 1)
[ -n "$unit" ] && pass "unit $unit" || fail "no privlinkd.service in the package"
for page in privlinkd privlinkctl; do
  man -w "$page" >/dev/null 2>&1 && pass "man $page" || fail "man $page"
done

# The installed unit's command line, its environment expanded, the state in a scratch directory.
unit_start "$unit" "" "$work"
daemon=$UNIT_PID
if out=$(privlinkctl --server "unix:$UNIT_SOCK" stats 2>&1); then
  pass "the installed unit's command line starts privlinkd; privlinkctl stats answers"
else
  fail "privlinkctl stats: $out; privlinkd: $(cat "$work/privlinkd.log")"
fi
exit $failed
