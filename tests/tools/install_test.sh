#!/usr/bin/env bash
# `meson install` into a scratch DESTDIR, then what an operator meets: the binaries, the config
# under etc/privlink, the systemd unit whose command line starts privlinkd (here with
# --no-dataplane: no NICs) so that privlinkctl stats answers, man pages that render with their
# names, and bash completion that offers privlinkctl's commands and options.
#
# usage: tests/tools/install_test.sh BUILD_DIR
set -uo pipefail
# shellcheck source=tests/common/unit_command.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common/unit_command.sh"
build=$1
dest=$(mktemp -d /tmp/privlink-install.XXXXXX)
daemon=
cleanup() {
  if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; fi
  rm -rf "$dest"
}
trap cleanup EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }
pass() { echo "PASS: $*"; }

DESTDIR=$dest/root meson install -C "$build" --no-rebuild --quiet >"$dest/install.log" 2>&1 ||
  { cat "$dest/install.log"; exit 1; }
find_one() { find "$dest/root" -path "*$1" -type f | head -n 1; }
for f in bin/privlinkd bin/privlinkctl bin/privlink-replay bin/privlink-tracegen \
  etc/privlink/privlink.json lib/systemd/system/privlinkd.service man/man8/privlinkd.8 \
  man/man1/privlinkctl.1 man/man1/privlink-replay.1 man/man1/privlink-tracegen.1 \
  bash-completion/completions/privlinkctl; do
  if [ -n "$(find_one "/$f")" ]; then pass "installed $f"; else fail "no $f under the destdir"; fi
done

# The unit's command line, its environment expanded, paths moved under the destdir.
unit=$(find_one /privlinkd.service)
unit_start "$unit" "$dest/root" "$dest"
daemon=$UNIT_PID
ctl=$(find_one /bin/privlinkctl)
if out=$("$ctl" --server "unix:$UNIT_SOCK" stats 2>&1); then
  pass "the unit's command line ($UNIT_ARGS) starts privlinkd; privlinkctl stats answers"
else
  fail "privlinkctl stats: $out; privlinkd: $(cat "$dest/privlinkd.log")"
fi
grep -q '^Restart=on-failure$' "$unit" && grep -q '^StateDirectory=privlink$' "$unit" &&
  pass "unit: Restart=on-failure, StateDirectory" || fail "unit: $(cat "$unit")"

for page in privlinkd.8 privlinkctl.1 privlink-replay.1 privlink-tracegen.1; do
  name=${page%.*}
  if MANWIDTH=100 man -l "$(find_one "/$page")" 2>/dev/null | grep -q "^ *$name - "; then
    pass "man page $page renders"
  else
    fail "man page $page"
  fi
done

# complete WORDS... -> what bash completion offers for the last word.
complete_words() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    _privlinkctl; echo "${COMPREPLY[*]}"' _ "$(find_one /completions/privlinkctl)" "$ctl" "$@"
}
check_completion() {
  local want=$1
  shift
  local got
  got=$(complete_words "$@")
  if [[ " $got " == *" $want "* ]]; then pass "completion of '$*' offers $want"; else
    fail "completion of '$*': '$got', want $want"
  fi
}
check_completion network net
check_completion create network c
check_completion --port network create n1 --p
check_completion json -o ''
exit $failed
