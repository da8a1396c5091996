#!/usr/bin/env bash
# A throwaway or local InfluxDB 1.x owned by QA Hub: data in a folder of ours, loopback only.
#
#   influxdb.sh install             apt-get install Debian's influxdb package when `influxd` is not found
#   influxdb.sh start DIR [PORT]    start influxd with its data in DIR (PORT: a free one when omitted),
#                                   wait until it answers /ping, print its URL on stdout
#   influxdb.sh stop DIR            stop the influxd started in DIR
#   influxdb.sh status DIR          exit 0 when the influxd started in DIR is running
#
# The Debian package installs a system service on 8086; we leave it alone and run our own, with every
# listener but HTTP on loopback (the RPC port used by backups is bound to another free loopback port),
# and usage reporting off. influxd runs in a session of its own: a Ctrl-C at the caller's terminal does
# not reach it, the caller stops it. As root, influxd runs as `nobody` (it needs no privilege), in a folder
# it can reach, without changing any permission outside DIR (see server_dir.sh).
set -euo pipefail

log() { printf '[influxdb] %s\n' "$*" >&2; }

# shellcheck source=server_dir.sh
. "$(dirname "$0")/server_dir.sh"

install() {
  if command -v influxd >/dev/null 2>&1; then return 0; fi
  log "influxd not found: installing Debian's influxdb package"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq influxdb >/dev/null
}

# SO_REUSEADDR, as influxd itself binds: connections of a previous run in TIME_WAIT do not count
port_taken() {
  python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null && return 1
  return 0
}

# python3 rather than curl: a bare Debian machine (CI's) has the one, not always the other
answers_ping() {
  python3 -c '
import sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s/ping" % sys.argv[1], timeout=1)' "$1" 2>/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# As root: drop to nobody in place (setpriv execs influxd), so the pid we record is influxd's own.
owner_prefix() {
  if [ "$(id -u)" -eq 0 ]; then echo "setpriv --reuid=nobody --regid=nogroup --clear-groups"; fi
}

as_owner() {
  # shellcheck disable=SC2046  # the prefix is words on purpose
  $(owner_prefix) "$@"
}

running() {
  local dir=$1 pid state
  [ -f "$dir/influxd.pid" ] || return 1
  pid=$(cat "$dir/influxd.pid")
  # a killed influxd nobody has reaped yet is a zombie: gone, though kill -0 still finds it
  state=$(ps -o stat= -p "$pid" 2>/dev/null) || return 1
  [ "${state:0:1}" != Z ] || return 1
  # after a reboot or a crash, the pid may be another program's: ours is `influxd -config <this folder's>`
  local args
  args=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [ "$(basename "$(sed -n 1p <<<"$args")")" = influxd ] && [ "$(sed -n 2p <<<"$args")" = -config ] || return 1
  [ "$(readlink -f "$(sed -n 3p <<<"$args")")" = "$(readlink -f "$dir/influxdb.conf")" ]
}

start() {
  local dir=$1 port=${2:-} rpc_port
  command -v influxd >/dev/null 2>&1 || { log "influxd not found; run: $0 install"; exit 1; }
  dir=$(server_dir "$dir" influxdb nobody nogroup)
  if [ -f "$dir/port" ] && [ -z "$port" ]; then port=$(cat "$dir/port"); fi
  [ -n "$port" ] || port=$(free_port)
  if ! running "$dir"; then
    if port_taken "$port"; then
      # e.g. the system service Debian's package starts: we would be talking to it, not to ours
      log "127.0.0.1:$port is taken by another server; pick another port, or point QAHUB_INFLUX_URL at it"
      exit 1
    fi
    rpc_port=$(free_port)
    cat >"$dir/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc_port"
[meta]
  dir = "$dir/meta"
[data]
  dir = "$dir/data"
  wal-dir = "$dir/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$port"
  log-enabled = false
[monitor]
  # InfluxDB's own statistics in _internal: the broker-health dashboard reads them
  store-enabled = true
[continuous_queries]
  log-enabled = false
CONF
    echo "$port" >"$dir/port"
    # setsid execs in place (we are no process group leader), so $! stays influxd's pid
    # shellcheck disable=SC2046  # the prefix is words on purpose
    setsid $(owner_prefix) influxd -config "$dir/influxdb.conf" >>"$dir/influxd.log" 2>&1 </dev/null &
    echo $! >"$dir/influxd.pid"
    local tries=0
    until answers_ping "$port"; do
      tries=$((tries + 1))
      if [ $tries -gt 300 ] || ! running "$dir"; then
        log "influxd did not start:"; tail -n 20 "$dir/influxd.log" >&2
        kill -KILL "$(cat "$dir/influxd.pid")" 2>/dev/null || true
        rm -f "$dir/influxd.pid"
        exit 1
      fi
      sleep 0.1
    done
  fi
  echo "http://127.0.0.1:$(cat "$dir/port")"
}

stop() {
  local dir=$1 pid
  # an influxd that died on its own leaves its pid file behind
  running "$dir" || { rm -f "$dir/influxd.pid"; exit 0; }
  pid=$(cat "$dir/influxd.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/influxd.pid"
}

case "${1:-}" in
  install) install ;;
  start) start "${2:?usage: $0 start DIR [PORT]}" "${3:-}" ;;
  stop) stop "${2:?usage: $0 stop DIR}" ;;
  status) running "${2:?usage: $0 status DIR}" ;;
  *) echo "usage: $0 install | start DIR [PORT] | stop DIR | status DIR" >&2; exit 2 ;;
esac
