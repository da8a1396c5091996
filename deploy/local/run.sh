#!/usr/bin/env bash
# `make run`: bring up what QA Hub needs on this machine and run its services in the foreground.
#
# Without QAHUB_DATABASE_URL, a local PostgreSQL cluster lives in $QAHUB_DATA_DIR/postgres (default
# .data/), on 127.0.0.1, and asks every connection for a password of its own (postgres.sh). Without
# QAHUB_INFLUX_URL, a local InfluxDB 1.x lives in $QAHUB_DATA_DIR/influxdb, on 127.0.0.1:8086
# ($QAHUB_INFLUX_PORT; when 8086 is taken, e.g. by the server Debian's package starts, a free port, kept
# across runs). Without QAHUB_JWT_SIGNING_KEY_FILE, tokens are signed with a key generated once in
# $QAHUB_DATA_DIR/jwt-signing-key.pem (mode 0600), so they survive restarts. qa_api, the metrics broker
# (127.0.0.1:5000) and the webhook listener (127.0.0.1:5152) run side by side. Without
# QAHUB_WEBHOOK_QA_API_TOKEN, the listener gets a 7-day `commits:write` token created as the first admin,
# kept in $QAHUB_DATA_DIR/webhook-listener-token (mode 0600) and used again by the next starts while it is
# valid for more than a day; the token that replaces it revokes it.
#
# One run per data dir: the running script holds a lock on $QAHUB_DATA_DIR/run.lock (released by the
# kernel however the script ends, so it is never stale). A second run on the same data dir, or one that
# finds a port it needs taken, says so and exits 1 before it starts anything.
#
# Every server, service and start-up step runs in a session of its own: a Ctrl-C at the terminal reaches
# this script alone, which then stops what it started so far, at any moment of the start-up (services
# first, then InfluxDB, then PostgreSQL), and exits 0, as on SIGTERM. A server it finds already running in
# the data dir (e.g. one a killed run left behind) is used and left running. A service that exits, or a
# step of the start-up that fails, stops everything too, with a non-zero exit status.
#
# As root, PostgreSQL runs as `postgres` and InfluxDB as `nobody`, and no permission outside the data dir
# changes: when they cannot reach the data dir (e.g. a checkout in /root, mode 0700), their files live in
# /var/lib/qahub/<name>-<hash> instead, and the data dir links there (server_dir.sh; the log says so).
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { printf '[qahub] %s\n' "$*" >&2; }

services=()        # pids of the services, each the leader of its process group
steps=()           # pids of the start-up steps under way, each the leader of its process group
started_postgres=""
started_influxdb=""
stopping=""
run_tmp=""

# Waits up to 15 s for the process group led by $1 (our child, sent SIGTERM) to end; then kills what is left.
await_group() {
  local leader=$1
  for _ in $(seq 150); do kill -0 "$leader" 2>/dev/null || break; sleep 0.1; done
  # what is left of the group (nothing, unless its leader died before its children)
  kill -KILL -- "-$leader" 2>/dev/null || true
  wait "$leader" 2>/dev/null || true
}

stop() {
  [ -z "$stopping" ] || return 0
  stopping=1
  # Ignore further signals while cleaning up: a second Ctrl-C, or a SIGTERM that reaches us twice (once
  # directly and once through make), must not cut the clean-up short.
  trap '' INT TERM
  local leader
  for leader in "${steps[@]}" "${services[@]}"; do kill -TERM -- "-$leader" 2>/dev/null || true; done
  for leader in "${steps[@]}" "${services[@]}"; do await_group "$leader"; done
  if [ -n "$started_influxdb" ]; then
    log "stopping the local InfluxDB"
    deploy/local/influxdb.sh stop "$data_dir/influxdb" || log "could not stop the local InfluxDB"
  fi
  if [ -n "$started_postgres" ]; then
    log "stopping the local PostgreSQL"
    deploy/local/postgres.sh stop "$data_dir/postgres" || log "could not stop the local PostgreSQL"
  fi
  [ -z "$run_tmp" ] || rm -rf "$run_tmp"
}

# Ctrl-C and SIGTERM are how one stops `make run`: a success. Anything else that ends the script keeps its
# exit status.
on_signal() {
  trap '' INT TERM
  # a signal that comes while we stop anyway: carry on stopping
  [ -z "$stopping" ] || return 0
  log "SIG$1: stopping"
  stop
  exit 0
}
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'status=$?; stop; exit "$status"' EXIT

# A start-up step, in a process group of its own (fd 9, the lock, stays with us): `wait` returns at once on
# a signal, and stop() ends the step.
start_step() {
  setsid "$@" 9>&- &
  steps+=($!)
}

# Waits for every step under way; fails when one of them failed.
await_steps() {
  local pid failed=0
  for pid in "${steps[@]}"; do wait "$pid" || failed=1; done
  steps=()
  return "$failed"
}

run_step() {
  start_step "$@"
  await_steps
}

start_service() {
  setsid uv run --quiet "$@" 9>&- &
  services+=($!)
}

# .env applies here as it does to the services (which read it themselves): variables of the shell win.
if [ -f .env ]; then
  # on a line of its own: a failure inside `eval "$(...)"` would not stop the script
  exports=$(uv run --quiet python - <<'PY'
import os, shlex
from dotenv import dotenv_values
for name, value in dotenv_values(".env").items():
    if name.startswith("QAHUB_") and value is not None and name not in os.environ:
        print(f"export {name}={shlex.quote(value)}")
PY
)
  eval "$exports"
fi

data_dir=${QAHUB_DATA_DIR:-.data}
mkdir -p "$data_dir"
data_dir=$(cd "$data_dir" && pwd)

lock="$data_dir/run.lock"
exec 9>>"$lock"
if ! flock -n 9; then
  log "another \`make run\` (pid $(cat "$lock" 2>/dev/null || true)) uses $data_dir; stop it first or set QAHUB_DATA_DIR"
  exit 1
fi
echo $$ >"$lock"

# Every port we are to listen on must be free before anything starts; a database server already running in
# the data dir is ours (left by a run that was killed) and keeps its port.
ports=(
  "${QAHUB_QA_API_HOST:-127.0.0.1}" "${QAHUB_QA_API_PORT:-5151}" QAHUB_QA_API_PORT
  "${QAHUB_METRICS_BROKER_HOST:-127.0.0.1}" "${QAHUB_METRICS_BROKER_PORT:-5000}" QAHUB_METRICS_BROKER_PORT
  "${QAHUB_WEBHOOK_HOST:-127.0.0.1}" "${QAHUB_WEBHOOK_PORT:-5152}" QAHUB_WEBHOOK_PORT
)
if [ -z "${QAHUB_DATABASE_URL:-}" ] && ! deploy/local/postgres.sh status "$data_dir/postgres"; then
  pg_port=${QAHUB_PG_PORT:-$(cat "$data_dir/postgres/port" 2>/dev/null || true)}
  [ -z "$pg_port" ] || ports+=(127.0.0.1 "$pg_port" QAHUB_PG_PORT)
fi
if [ -z "${QAHUB_INFLUX_URL:-}" ] && ! deploy/local/influxdb.sh status "$data_dir/influxdb"; then
  influx_port=${QAHUB_INFLUX_PORT:-$(cat "$data_dir/influxdb/port" 2>/dev/null || true)}
  [ -z "$influx_port" ] || ports+=(127.0.0.1 "$influx_port" QAHUB_INFLUX_PORT)
fi
if ! taken=$(python3 - "${ports[@]}" <<'PY'
import os, socket, sys


def holder(port: int) -> str:
    """' by pid N (command)' of the process listening on port, when /proc tells."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                for line in list(lines)[1:]:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(f"socket:[{fields[9]}]")
        except OSError:
            pass
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{pid}/fd")):
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    command = cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
                return f" by pid {pid} ({command[:100]})"
        except OSError:
            continue
    return ""


args = sys.argv[1:]
for host, port, name in zip(args[::3], args[1::3], args[2::3]):
    # SO_REUSEADDR, as the servers bind: connections of a previous run in TIME_WAIT do not count
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError:
            print(f"port {port} ({name}) is in use{holder(int(port))}")
            sys.exit(1)
PY
); then
  log "$taken; stop it first or choose another port"
  exit 1
fi

run_tmp=$(mktemp -d)

if [ -z "${QAHUB_DATABASE_URL:-}" ]; then
  deploy/local/postgres.sh install
  if deploy/local/postgres.sh status "$data_dir/postgres"; then
    log "the local PostgreSQL in $data_dir/postgres is running already: using it, and leaving it running"
  else
    # set first: a signal while it starts must stop it too (stopping a server that is not running is a no-op)
    started_postgres=1
  fi
  # In the foreground and a session of its own: a Ctrl-C cannot cut it short (which could leave a server
  # running that nobody knows of); the trap runs once it is done.
  QAHUB_DATABASE_URL=$(setsid deploy/local/postgres.sh start "$data_dir/postgres" "${QAHUB_PG_PORT:-}" 9>&-)
  export QAHUB_DATABASE_URL
  # the URL holds the cluster's password, which stays in the data dir
  log "local PostgreSQL: $(sed -E 's#^([a-z]+://[^:/@]*:)[^@]*@#\1***@#' <<<"$QAHUB_DATABASE_URL") (data in $data_dir/postgres)"
fi

if [ -z "${QAHUB_INFLUX_URL:-}" ]; then
  deploy/local/influxdb.sh install
  influx_port=${QAHUB_INFLUX_PORT:-}
  if [ -z "$influx_port" ] && [ ! -f "$data_dir/influxdb/port" ]; then
    # InfluxDB's usual port when it is free; else influxdb.sh picks a free one and keeps it
    if python3 -c 'import socket, sys; sys.exit(socket.socket().connect_ex(("127.0.0.1", 8086)) == 0)'; then
      influx_port=8086
    else
      log "127.0.0.1:8086 is taken (Debian's influxdb package starts a server there): using another port"
    fi
  fi
  if deploy/local/influxdb.sh status "$data_dir/influxdb"; then
    log "the local InfluxDB in $data_dir/influxdb is running already: using it, and leaving it running"
  else
    started_influxdb=1
  fi
  QAHUB_INFLUX_URL=$(setsid deploy/local/influxdb.sh start "$data_dir/influxdb" "$influx_port" 9>&-)
  export QAHUB_INFLUX_URL
  log "local InfluxDB: $QAHUB_INFLUX_URL (data in $data_dir/influxdb)"
fi

if [ -z "${QAHUB_JWT_SIGNING_KEY_FILE:-}" ]; then
  QAHUB_JWT_SIGNING_KEY_FILE="$data_dir/jwt-signing-key.pem"
  # a python start less when the key exists (it would leave it as it is)
  [ -f "$QAHUB_JWT_SIGNING_KEY_FILE" ] \
    || start_step uv run --quiet python -m qahub_shared.auth.keys generate "$QAHUB_JWT_SIGNING_KEY_FILE"
  export QAHUB_JWT_SIGNING_KEY_FILE
fi

log "applying migrations"
# Side by side: each service's tables (the broker's spool in a schema of its own, the webhook listener's
# inbox under names of its own) and migration history are its own, in the same database.
start_step uv run --quiet --directory services/qa_api alembic upgrade head
start_step uv run --quiet --directory services/metrics_broker alembic upgrade head
start_step uv run --quiet --directory services/webhook_listener alembic upgrade head
await_steps

start_service qa-api
qa_api=${services[-1]}
api_url="http://${QAHUB_QA_API_HOST:-127.0.0.1}:${QAHUB_QA_API_PORT:-5151}"
log "qa_api on $api_url (API docs: /docs)"
log "log in: ./qahub login --username ${QAHUB_ADMIN_USERNAME:-admin}  (first start: the admin's password is \$QAHUB_ADMIN_PASSWORD, in dev mode by default 'qahub-dev-admin')"

# The broker verifies tokens with qa_api's keys (fetched when first needed) and logs in through it.
export QAHUB_API_URL=${QAHUB_API_URL:-$api_url}
start_service metrics-broker
log "metrics broker on http://${QAHUB_METRICS_BROKER_HOST:-127.0.0.1}:${QAHUB_METRICS_BROKER_PORT:-5000} (TF-A: POST /auth, POST /; docs: /docs)"

# One process polls qa_api until it is ready (or gone).
await_qa_api() {
  run_step python3 -c '
import os, sys, time, urllib.request
url, pid = sys.argv[1], int(sys.argv[2])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        with opener.open(url, timeout=1) as response:
            if response.status == 200:
                sys.exit(0)
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(1)
    time.sleep(0.1)
sys.exit(1)' "$api_url/readyz" "$qa_api"
}

# The webhook listener sends commits to qa_api with a `commits:write` token. Without one configured, dev
# mode makes one as the first admin (its password is known here) and keeps it for the next starts.
listener_token() {
  local file="$data_dir/webhook-listener-token" old_id="" verdict=""
  if [ -s "$file" ] \
     && QAHUB_TOKEN=$(cat "$file") run_step uv run --quiet qahub --api-url "$api_url" whoami --json \
       >"$run_tmp/whoami" 2>/dev/null; then
    read -r old_id verdict < <(python3 -c '
import datetime, json, sys
me = json.load(open(sys.argv[1]))
left = datetime.datetime.fromisoformat(me["expires_at"].replace("Z", "+00:00")) - datetime.datetime.now(
    datetime.timezone.utc
)
print(me["token_id"], "keep" if left > datetime.timedelta(days=1) else "renew")' "$run_tmp/whoami") || true
    if [ "$verdict" = keep ]; then
      QAHUB_WEBHOOK_QA_API_TOKEN=$(cat "$file")
      log "webhook listener: using the commits:write token of an earlier start, in $file (set QAHUB_WEBHOOK_QA_API_TOKEN to choose one)"
      return 0
    fi
  fi
  install -m 600 /dev/null "$file.new"
  install -m 600 /dev/null "$run_tmp/session"
  # A session of the first admin, for what follows only (logged out at the end). Its password goes through
  # the environment of one process, never a command line (which every local user can read in /proc).
  if ! LOGIN_URL="$api_url/api/v2/auth/login" LOGIN_USERNAME="${QAHUB_ADMIN_USERNAME:-admin}" \
       LOGIN_PASSWORD="${QAHUB_ADMIN_PASSWORD:-qahub-dev-admin}" run_step uv run --quiet python -c '
import os, sys, httpx
answer = httpx.post(os.environ["LOGIN_URL"], trust_env=False, timeout=30,
                    json={"username": os.environ["LOGIN_USERNAME"], "password": os.environ["LOGIN_PASSWORD"]})
if answer.status_code != 200:
    sys.exit(f"login as the first admin: HTTP {answer.status_code} {answer.text[:200]}")
print(answer.json()["access_token"])' >"$run_tmp/session" 2>"$run_tmp/error" \
     || ! QAHUB_TOKEN=$(cat "$run_tmp/session") run_step uv run --quiet qahub --api-url "$api_url" token create \
         --name webhook-listener --scope commits:write --expires 7d >"$file.new" 2>"$run_tmp/error"; then
    rm -f "$file.new"
    log "webhook listener: no QAHUB_WEBHOOK_QA_API_TOKEN and could not create one ($(tail -n 1 "$run_tmp/error")); deliveries will fail until set"
    return 0
  fi
  mv "$file.new" "$file"
  QAHUB_WEBHOOK_QA_API_TOKEN=$(cat "$file")
  log "webhook listener: created a commits:write token for it, kept in $file (set QAHUB_WEBHOOK_QA_API_TOKEN to choose one)"
  if [ -n "$old_id" ]; then
    if QAHUB_TOKEN=$(cat "$run_tmp/session") run_step uv run --quiet qahub --api-url "$api_url" token revoke \
         "$old_id" 2>"$run_tmp/error"; then
      log "webhook listener: revoked the token it replaces ($old_id)"
    else
      log "webhook listener: could not revoke the token it replaces, $old_id ($(tail -n 1 "$run_tmp/error"))"
    fi
  fi
  LOGOUT_URL="$api_url/api/v2/auth/logout" QAHUB_TOKEN=$(cat "$run_tmp/session") run_step uv run --quiet python -c '
import os, httpx
httpx.post(os.environ["LOGOUT_URL"], trust_env=False, timeout=30,
           headers={"Authorization": "Bearer " + os.environ["QAHUB_TOKEN"]})' 2>/dev/null || true
}

if [ -z "${QAHUB_WEBHOOK_QA_API_TOKEN:-}" ]; then
  if ! await_qa_api; then
    log "qa_api did not get ready"
    exit 1
  fi
  listener_token
  [ -z "${QAHUB_WEBHOOK_QA_API_TOKEN:-}" ] || export QAHUB_WEBHOOK_QA_API_TOKEN
fi

QAHUB_DATA_DIR="$data_dir" start_service webhook-listener
log "webhook listener on http://${QAHUB_WEBHOOK_HOST:-127.0.0.1}:${QAHUB_WEBHOOK_PORT:-5152} (register a repository: ./qahub repo add --help)"

# Any service exiting stops them all.
status=0
wait -n "${services[@]}" || status=$?
log "a service exited with status $status: stopping the others"
exit $((status == 0 ? 1 : status))
