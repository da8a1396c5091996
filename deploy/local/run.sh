#!/usr/bin/env bash
# `make run`: bring up what QA Hub needs on this machine and run its services in the foreground.
#
# Without QAHUB_DATABASE_URL, a local PostgreSQL cluster lives in $QAHUB_DATA_DIR/postgres (default
# .data/), on 127.0.0.1. Without QAHUB_INFLUX_URL, a local InfluxDB 1.x lives in $QAHUB_DATA_DIR/influxdb,
# on 127.0.0.1:8086 ($QAHUB_INFLUX_PORT; when 8086 is taken, e.g. by the server Debian's package starts, a
# free port, kept across runs). Without QAHUB_JWT_SIGNING_KEY_FILE, tokens are signed with a
# key generated once in $QAHUB_DATA_DIR/jwt-signing-key.pem (mode 0600), so they survive restarts.
# qa_api, the metrics broker (127.0.0.1:5000) and the webhook listener (127.0.0.1:5152) run side by side.
# Ctrl-C or SIGTERM stops the services and the servers this script started.
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { printf '[qahub] %s\n' "$*" >&2; }

# .env applies here as it does to the services (which read it themselves): variables of the shell win.
if [ -f .env ]; then
  eval "$(uv run --quiet python - <<'PY'
import os, shlex
from dotenv import dotenv_values
for name, value in dotenv_values(".env").items():
    if name.startswith("QAHUB_") and value is not None and name not in os.environ:
        print(f"export {name}={shlex.quote(value)}")
PY
)"
fi

data_dir=${QAHUB_DATA_DIR:-.data}
mkdir -p "$data_dir"
data_dir=$(cd "$data_dir" && pwd)
started_postgres=""
started_influxdb=""
pids=()

stop() {
  # Ignore further signals while cleaning up: Ctrl-C or a group SIGTERM can reach us more than once
  # (e.g. once directly and once through make), and must not cut the cleanup short.
  trap '' INT TERM
  trap - EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$started_influxdb" ]; then
    log "stopping the local InfluxDB"
    deploy/local/influxdb.sh stop "$data_dir/influxdb"
  fi
  if [ -n "$started_postgres" ]; then
    log "stopping the local PostgreSQL"
    deploy/local/postgres.sh stop "$data_dir/postgres"
  fi
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${QAHUB_DATABASE_URL:-}" ]; then
  deploy/local/postgres.sh install
  # set first: a Ctrl-C while it starts must stop it too (stopping a server that is not running is a no-op)
  started_postgres=1
  QAHUB_DATABASE_URL=$(deploy/local/postgres.sh start "$data_dir/postgres" "${QAHUB_PG_PORT:-}")
  export QAHUB_DATABASE_URL
  log "local PostgreSQL: $QAHUB_DATABASE_URL (data in $data_dir/postgres)"
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
  started_influxdb=1
  QAHUB_INFLUX_URL=$(deploy/local/influxdb.sh start "$data_dir/influxdb" "$influx_port")
  export QAHUB_INFLUX_URL
  log "local InfluxDB: $QAHUB_INFLUX_URL (data in $data_dir/influxdb)"
fi

if [ -z "${QAHUB_JWT_SIGNING_KEY_FILE:-}" ]; then
  QAHUB_JWT_SIGNING_KEY_FILE="$data_dir/jwt-signing-key.pem"
  uv run --quiet python -m qahub_shared.auth.keys generate "$QAHUB_JWT_SIGNING_KEY_FILE"
  export QAHUB_JWT_SIGNING_KEY_FILE
fi

log "applying migrations"
(cd services/qa_api && uv run --quiet alembic upgrade head)
# the broker's spool: its own schema in the same database
(cd services/metrics_broker && uv run --quiet alembic upgrade head)
# the webhook listener's inbox: its own tables and migration history in the same database
(cd services/webhook_listener && uv run --quiet alembic upgrade head)

uv run --quiet qa-api &
pids+=($!)
api_url="http://${QAHUB_QA_API_HOST:-127.0.0.1}:${QAHUB_QA_API_PORT:-5151}"
log "qa_api on $api_url (API docs: /docs)"
log "log in: uv run qahub login --username ${QAHUB_ADMIN_USERNAME:-admin}  (first start: the admin's password is \$QAHUB_ADMIN_PASSWORD, in dev mode by default 'qahub-dev-admin')"

# The broker verifies tokens with qa_api's keys (fetched when first needed) and logs in through it.
export QAHUB_API_URL=${QAHUB_API_URL:-$api_url}
uv run --quiet metrics-broker &
pids+=($!)
log "metrics broker on http://${QAHUB_METRICS_BROKER_HOST:-127.0.0.1}:${QAHUB_METRICS_BROKER_PORT:-5000} (TF-A: POST /auth, POST /; docs: /docs)"

# The webhook listener sends commits to qa_api with a `commits:write` token. Without one configured, dev
# mode makes one: log in as the first admin (its password is known here) and create a short-lived token.
if [ -z "${QAHUB_WEBHOOK_QA_API_TOKEN:-}" ]; then
  for _ in $(seq 100); do
    uv run --quiet python -c "import httpx, sys; sys.exit(httpx.get('$api_url/readyz', trust_env=False).status_code != 200)" \
      2>/dev/null && break
    sleep 0.2
  done
  token_config="$data_dir/webhook-listener-cli"
  if QAHUB_CONFIG_DIR="$token_config" uv run --quiet qahub login --username "${QAHUB_ADMIN_USERNAME:-admin}" \
       --password "${QAHUB_ADMIN_PASSWORD:-qahub-dev-admin}" 2>/dev/null \
     && QAHUB_WEBHOOK_QA_API_TOKEN=$(QAHUB_CONFIG_DIR="$token_config" uv run --quiet qahub token create \
       --name webhook-listener --scope commits:write --expires 7d 2>/dev/null); then
    export QAHUB_WEBHOOK_QA_API_TOKEN
    log "webhook listener: created a commits:write token for it (set QAHUB_WEBHOOK_QA_API_TOKEN to choose one)"
  else
    log "webhook listener: no QAHUB_WEBHOOK_QA_API_TOKEN and could not create one; deliveries will fail until set"
  fi
fi

QAHUB_DATA_DIR="$data_dir" uv run --quiet webhook-listener &
pids+=($!)
log "webhook listener on http://${QAHUB_WEBHOOK_HOST:-127.0.0.1}:${QAHUB_WEBHOOK_PORT:-5152} (register a repository: uv run qahub repo add --help)"

# Any service exiting stops them all.
wait -n "${pids[@]}"
