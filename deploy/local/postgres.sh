#!/usr/bin/env bash
# A throwaway or local PostgreSQL cluster owned by QA Hub: data in a folder of ours, loopback only.
#
#   postgres.sh install             apt-get install PostgreSQL when no server binaries are found
#   postgres.sh start DIR [PORT]    init (once) and start a cluster in DIR, create database `qahub`,
#                                   print its URL on stdout (PORT: a free one when omitted)
#   postgres.sh stop DIR            stop the cluster in DIR (fast shutdown)
#
# PostgreSQL refuses to run as root; as root we run it as the `postgres` system user.
set -euo pipefail

log() { printf '[postgres] %s\n' "$*" >&2; }

bindir() {
  local dir
  for dir in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
  done
  command -v pg_ctl >/dev/null 2>&1 && { dirname "$(command -v pg_ctl)"; return 0; }
  return 1
}

install() {
  if bindir >/dev/null; then return 0; fi
  log "PostgreSQL server binaries not found: installing Debian's postgresql package"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
  # The package starts a system cluster on 5432; we leave it alone and run our own.
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() {
  local dir=$1 port=${2:-} bin
  bin=$(bindir) || { log "no PostgreSQL server found; run: $0 install"; exit 1; }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
    # the postgres user must be able to reach a cluster living under root-owned folders
    local up=$dir
    while up=$(dirname "$up") && [ "$up" != / ]; do chmod o+x "$up" 2>/dev/null || true; done
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    log "initialising a cluster in $dir/data"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --no-locale \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if [ -f "$dir/port" ] && [ -z "$port" ]; then port=$(cat "$dir/port"); fi
  [ -n "$port" ] || port=$(free_port)
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
      "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=${QAHUB_PG_FSYNC:-on} -c max_connections=200" \
      >/dev/null || { tail -n 20 "$dir/server.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
  fi
  port=$(cat "$dir/port")
  if ! "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'qahub'" | grep -q 1; then
    "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres qahub
  fi
  echo "postgresql://postgres@127.0.0.1:$port/qahub"
}

stop() {
  local dir=$1 bin
  bin=$(bindir) || exit 0
  [ -f "$dir/data/PG_VERSION" ] || exit 0
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

case "${1:-}" in
  install) install ;;
  start) start "${2:?usage: $0 start DIR [PORT]}" "${3:-}" ;;
  stop) stop "${2:?usage: $0 stop DIR}" ;;
  *) echo "usage: $0 install | start DIR [PORT] | stop DIR" >&2; exit 2 ;;
esac
