#!/usr/bin/env bash
# A throwaway or local PostgreSQL cluster owned by QA Hub: data in a folder of ours, loopback only.
#
#   postgres.sh install             apt-get install PostgreSQL when no server binaries are found
#   postgres.sh start DIR [PORT]    init (once) and start a cluster in DIR, create database `qahub`,
#                                   print its URL (password included) on stdout (PORT: a free one when
#                                   omitted, then kept in DIR/port)
#   postgres.sh stop DIR            stop the cluster in DIR (fast shutdown)
#   postgres.sh status DIR          exit 0 when the cluster in DIR is running
#
# Every connection needs the password of the superuser `postgres` (scram-sha-256): over TCP, on 127.0.0.1
# only, as over the unix socket, which lives in DIR rather than in a shared folder. The password is
# generated once into DIR/password (mode 0600). A cluster that an earlier version initialised with trust
# auth gets a password and these rules on its next start; its data stays.
#
# PostgreSQL refuses to run as root; as root we run it as the `postgres` system user, in a folder it can
# reach, without changing any permission outside DIR (see server_dir.sh).
set -euo pipefail

log() { printf '[postgres] %s\n' "$*" >&2; }

# shellcheck source=server_dir.sh
. "$(dirname "$0")/server_dir.sh"

HBA='# QA Hub (deploy/local/postgres.sh): every connection gives the password kept next to this cluster
local   all             all                                     scram-sha-256
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
local   replication     all                                     scram-sha-256
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256'

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

# From /: the postgres user may not be allowed into the caller's working directory.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# A new password in FILE, which only the cluster's owner may read (initdb reads it as that user).
new_password() {
  (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(24))' >"$1")
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$1"; fi
}

# The cluster in DIR asks every connection for the password in DIR/password.
protected() {
  local dir=$1
  [ -f "$dir/password" ] && ! grep -Eq '^[^#]*[[:space:]]trust([[:space:]]|$)' "$dir/data/pg_hba.conf"
}

# Give the superuser a password and require it (a cluster from the days of trust auth). The password file
# takes its place last: until then, the next start does this again.
protect() {
  local dir=$1 bin=$2 running=$3 port=${4:-}
  log "the cluster in $dir lets in every local user: setting a password (kept in $dir/password) and requiring it"
  new_password "$dir/password.new"
  local statement="ALTER ROLE postgres PASSWORD '$(cat "$dir/password.new")'"
  if [ -n "$running" ]; then
    # on stdin: a command line is readable by every local user (/proc/*/cmdline)
    printf '%s;\n' "$statement" | "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -qtA -f - >/dev/null
  else
    # single-user mode: no connection at all while the rules still say trust
    printf '%s;\n' "$statement" | as_owner "$bin/postgres" --single -D "$dir/data" postgres \
      >/dev/null 2>"$dir/protect.log" || { cat "$dir/protect.log" >&2; exit 1; }
  fi
  printf '%s\n' "$HBA" >"$dir/data/pg_hba.conf"
  [ -z "$running" ] || as_owner "$bin/pg_ctl" -D "$dir/data" reload >/dev/null
  mv "$dir/password.new" "$dir/password"
}

running() {
  as_owner "$1/pg_ctl" -D "$2/data" status >/dev/null 2>&1
}

start() {
  local dir=$1 port=${2:-} bin
  bin=$(bindir) || { log "no PostgreSQL server found; run: $0 install"; exit 1; }
  dir=$(server_dir "$dir" postgres postgres postgres)
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    log "initialising a cluster in $dir/data"
    new_password "$dir/password"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=scram-sha-256 --pwfile="$dir/password" \
      --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if [ -f "$dir/port" ] && [ -z "$port" ]; then port=$(cat "$dir/port"); fi
  [ -n "$port" ] || port=$(free_port)
  if running "$bin" "$dir"; then
    port=$(cat "$dir/port")
    protected "$dir" || protect "$dir" "$bin" running "$port"
  else
    protected "$dir" || protect "$dir" "$bin" ""
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
      "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=${QAHUB_PG_FSYNC:-on} -c max_connections=200" \
      >/dev/null || { tail -n 20 "$dir/server.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
  fi
  local password
  password=$(cat "$dir/password")
  if ! PGPASSWORD=$password "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'qahub'" | grep -q 1; then
    PGPASSWORD=$password "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres qahub
  fi
  echo "postgresql://postgres:$password@127.0.0.1:$port/qahub"
}

stop() {
  local dir=$1 bin
  bin=$(bindir) || exit 0
  [ -f "$dir/data/PG_VERSION" ] || exit 0
  dir=$(cd "$dir" && pwd -P)
  running "$bin" "$dir" || exit 0
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}

status() {
  local dir=$1 bin
  bin=$(bindir) && [ -f "$dir/data/PG_VERSION" ] || exit 1
  running "$bin" "$(cd "$dir" && pwd -P)"
}

case "${1:-}" in
  install) install ;;
  start) start "${2:?usage: $0 start DIR [PORT]}" "${3:-}" ;;
  stop) stop "${2:?usage: $0 stop DIR}" ;;
  status) status "${2:?usage: $0 status DIR}" ;;
  *) echo "usage: $0 install | start DIR [PORT] | stop DIR | status DIR" >&2; exit 2 ;;
esac
