# Sourced by tests/tools/install_test.sh and tests/package/deb_test.sh: privlinkd started from the
# command line of an installed privlinkd.service, as systemd would start it, but in the control
# plane alone (--no-dataplane: no NICs) and answering on a Unix socket.
#
# unit_start UNIT ROOT DIR: runs the unit's ExecStart with PRIVLINKD_EAL expanded, the binary and
# config taken under ROOT ("" for an installed package), the state directory DIR/state, the API on
# DIR/api.sock and the output in DIR/privlinkd.log; sets UNIT_PID and UNIT_SOCK, and waits up to
# 10 s for the socket.
unit_start() {
  local unit=$1 root=$2 dir=$3 exec_start eal i
  local -a argv
  exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
  eal=$(sed -n 's/^Environment="PRIVLINKD_EAL=\(.*\)"$/\1/p' "$unit")
  read -ra argv <<<"${exec_start//\$PRIVLINKD_EAL/$eal}"
  argv[0]=$root${argv[0]}
  for i in "${!argv[@]}"; do
    case ${argv[i]} in
      */privlink/privlink.json) argv[i]=$root${argv[i]} ;;
      /var/lib/privlink) argv[i]=$dir/state ;;
    esac
  done
  UNIT_SOCK=$dir/api.sock
  UNIT_ARGS="${argv[*]:1}"
  "${argv[@]}" --no-dataplane --listen "unix:$UNIT_SOCK" >"$dir/privlinkd.log" 2>&1 &
  UNIT_PID=$!
  for _ in $(seq 100); do [ -S "$UNIT_SOCK" ] && return 0; sleep 0.1; done
  return 1
}
