"""Real servers for tests and benchmarks: a PostgreSQL server, fresh databases on it, migrations; an
InfluxDB 1.x server.

Which PostgreSQL: `QAHUB_TEST_DATABASE_URL` when set (a server where we may create databases); else
the one on 127.0.0.1:5432 when it accepts the `postgres` user without a password; else a throwaway
cluster started by `deploy/local/postgres.sh` in a temporary folder (loopback, free port). On a server
the suite did not start, it works only in databases it creates (`fresh_database`) and drops.

Which InfluxDB: `QAHUB_TEST_INFLUX_URL` when set (a server where we may create and drop databases);
else a throwaway `influxd` started by `deploy/local/influxdb.sh` in a temporary folder (loopback, free
port), stopped and removed afterwards.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def _with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


async def _execute(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(url, timeout=5)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def _usable(url: str) -> bool:
    try:
        asyncio.run(_execute(url, "SELECT 1"))
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    return True


def server_folder(prefix: str) -> Path:
    """A temporary folder for a throwaway server. As root, the server runs as another user (`postgres`,
    `nobody`), which must reach its files in there: else they would live outside it (see
    deploy/local/server_dir.sh), out of reach of our clean-up."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the URL of a PostgreSQL server's maintenance database (`.../postgres`)."""
    configured = os.environ.get("QAHUB_TEST_DATABASE_URL")
    if configured:
        yield _with_database(configured.replace("+asyncpg", ""), "postgres")
        return
    if _usable(LOCAL_SERVER):
        yield LOCAL_SERVER
        return
    folder = server_folder("qahub-pg-")
    script = ROOT / "deploy/local/postgres.sh"
    env = {**os.environ, "QAHUB_PG_FSYNC": "off"}
    subprocess.run([script, "install"], check=True)
    url = subprocess.run(
        [script, "start", folder / "pg"], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()
    try:
        yield _with_database(url, "postgres")
    finally:
        subprocess.run([script, "stop", folder / "pg"], check=False)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def influxdb_server() -> Iterator[str]:
    """Yield the base URL of an InfluxDB 1.x server (`http://127.0.0.1:PORT`)."""
    configured = os.environ.get("QAHUB_TEST_INFLUX_URL")
    if configured:
        yield configured.rstrip("/")
        return
    folder = server_folder("qahub-influx-")
    script = ROOT / "deploy/local/influxdb.sh"
    subprocess.run([script, "install"], check=True)
    try:
        url = subprocess.run(
            [script, "start", folder / "influxdb"], check=True, capture_output=True, text=True
        ).stdout.strip()
        yield url
    finally:
        subprocess.run([script, "stop", folder / "influxdb"], check=False)
        shutil.rmtree(folder, ignore_errors=True)


# Each database a run creates carries this comment, naming the process that created it (its pid, in the
# pid namespace of this host it runs in), so that a later run can drop the databases of a run that was
# killed before it could, and nobody else's: a run in another pid namespace (a container sharing the
# host name and the server) is not one whose pid this run can look up.
_OWNER_COMMENT = "qahub tests: pid {pid} on {host}"


def _pid_namespace() -> str:
    try:
        return str(Path("/proc/self/ns/pid").readlink())
    except OSError:
        return "unknown"


def _owner_comment(pid: int) -> str:
    return _OWNER_COMMENT.format(pid=pid, host=f"{socket.gethostname()} {_pid_namespace()}")


async def _drop_databases_of_dead_runs(server_url: str) -> None:
    connection = await asyncpg.connect(server_url, timeout=5)
    try:
        rows = await connection.fetch(
            "SELECT d.datname, shobj_description(d.oid, 'pg_database') AS comment FROM pg_database d"
        )
        for row in rows:
            match = re.fullmatch(r"qahub tests: pid (\d+) on (.+)", row["comment"] or "")
            here = f"{socket.gethostname()} {_pid_namespace()}"
            if match is None or match[2] != here or _alive(int(match[1])):
                continue
            await connection.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await connection.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def fresh_database(server_url: str, prefix: str = "qahub_test") -> Iterator[str]:
    """Create an empty database for one test session and drop it afterwards. Databases that runs killed
    earlier on this host left behind are dropped first; nothing else on the server is touched."""
    asyncio.run(_drop_databases_of_dead_runs(server_url))
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    comment = _owner_comment(os.getpid()).replace("'", "''")
    asyncio.run(
        _execute(server_url, f'CREATE DATABASE "{name}"', f"COMMENT ON DATABASE \"{name}\" IS '{comment}'")
    )
    try:
        yield _with_database(server_url, name)
    finally:
        asyncio.run(_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def migrate(database_url: str, service: str = "qa_api") -> None:
    """Apply a service's migrations the way operators do: `alembic upgrade head`."""
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT / "services" / service,
        env={**os.environ, "QAHUB_DATABASE_URL": database_url},
        check=True,
        capture_output=True,
    )
