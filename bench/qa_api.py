"""qa_api benchmark: the `qa` CLI's write path and the read paths of QA-Board's pages, next to their limits.

Run with `make bench` (`uv run python bench/qa_api.py`; `--help` for a smaller scale). Everything runs
on this machine against real servers: a PostgreSQL server (`tests.servers.postgres_server`), fresh
databases migrated with alembic and dropped at the end, and qa_api started as operators start it
(`python -m qa_api`, one uvicorn worker, its own process). Every series is bounded in count and in
time, and talks to 127.0.0.1 only.

The load generators run on uvloop (as the server does). The ingest's is `LoadClient`: a minimal
HTTP/1.1 client on asyncio's transport API, one keep-alive connection per concurrent client. It sends
byte for byte the request httpx sends (request line, the same headers, the same JSON body) and times
each request from its first byte sent to the last byte of its response (framed by Content-Length),
which must be a 200. httpx spent 1.8-2.6 ms of CPU per request on this 2-core machine, which capped
the series at 126-187 outputs/s whatever the server did; `LoadClient` spends about 0.1 ms. The read
series (one request at a time) use one `httpx.AsyncClient`.

Figures, and the limit each one is compared to (`ratio` = value / limit):

ingest
    The CLI's lifecycle of a run, exactly as it posts it to `POST /api/v1/output/`: queued (`qa
    batch`), running, finished with metrics (bodies from `tests/qa_api/builders.py`). 10,000 outputs
    over 20 commits (500 test inputs each), 16 concurrent clients, each posting one output's three
    reports in order. Every request carries `Authorization: Bearer <token>`, as the CLI sends
    `$QA_TOKEN`: a `runs:write` token on `bench/*`, created through qa_api's API when the server
    starts. Figures: outputs/s (whole lifecycles / wall time) and p50/p99 of a request.
    Limit: the same rows written straight into PostgreSQL through asyncpg in a separate fresh
    database, 16 connections, the same three writes per output as plain SQL (INSERT queued, UPDATE
    running, UPDATE finished with metrics), each its own transaction; the commit, ref, batch and test
    input rows are created in the same timed window. Its outputs/s and its p50/p99 per write.

reads (concurrency 1: one request at a time, so latencies are service times, not queueing)
    A database bulk-loaded with `INSERT ... SELECT generate_series`: one project, 1,000 commits on
    `master` (one hour apart), batch `default` on each, 1,000 outputs per batch (1,000,000 outputs)
    with the JSONB the CLI stores (`{"psnr", "loss", "is_failed"}`; 98% finished, 1% failed, 1%
    queued), then `VACUUM ANALYZE` (the steady state autovacuum reaches on a live server).
    * `GET /api/v1/commit/{sha}?project=...&batch=default&metrics={"psnr":0}`: a commit with 1,000
      outputs and their aggregated metric, as QA-Board clients read a commit's results.
    * `GET /api/v2/commits?project=...&limit=50`: the first page, then pages 2, 5, 10 and 20 through
      `next_cursor` (the later pages measured together, round robin).
    * `GET /api/v2/compare?project=...&commit=...&reference=...&metrics=psnr,loss&limit=50`: that commit's
      1,000 outputs matched and judged against the next older commit's 1,000, the first page of outputs
      and the whole batch's summary.
    qa_api caches each batch's statistics (status counts, metric aggregates) and recomputes them on
    the first read after the batch's outputs change: the bulk load leaves them uncomputed, the
    untimed warm-up requests (and the walk to the later pages) compute them, so the series measure a
    settled history, where no batch on the page changed since it was last read.
    Limit: the same SQL statements the endpoint issues (commit lookup, refs, batches, the batch
    statistics cache, outputs with their test inputs), sent through one asyncpg connection and
    timed end to end, p50/p99 over the same kind of series: what the database alone needs, so the
    ratio is the service's own overhead. When the SQL itself misses a target, the ratio stays near 1
    and the table's target column says so. For the comparison, the limit is its one large statement:
    both batches' runs with the compared metrics (`qa_api.compare.repository.RUNS_SQL`).

Where the time goes: for each series the report splits the machine's CPU, per request, between
qa_api (its process), PostgreSQL (the backends serving the series' database, when PostgreSQL runs on
this machine), the client (this process: httpx, or asyncpg for plain SQL) and the rest (kernel,
other tenants). On a 2-core machine the load generator's share caps what can be measured: it is shown
as the most outputs/s this client could send with a core to itself. The server's pid is printed on
stderr while it runs: `py-spy record -p PID` profiles it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from hashlib import sha1
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvloop

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, bench/ is sys.path[0]: this file would shadow the qa_api package, and the repo root
# (for `tests.*`) would be missing.
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

from bench.load import (  # noqa: E402
    LoadClient,
    log,
    machine_cpu_s,
    proc_stat,
    process_cpu_s,
    reaped_children_cpu_s,
)
from qa_api.commits.repository import COUNTS_SQL, METRICS_SQL  # noqa: E402
from qa_api.compare.repository import RUNS_SQL  # noqa: E402
from qa_api.outputs.service import run_key  # noqa: E402
from qahub_shared.auth.keys import generate_pem  # noqa: E402
from tests.processes import free_port  # noqa: E402
from tests.qa_api.builders import METRIC_DEFINITIONS, STORAGE, output_report  # noqa: E402
from tests.servers import fresh_database, migrate, postgres_server  # noqa: E402

INGEST_PROJECT = "bench/ingest"
READS_PROJECT = "bench/reads"
DATABASE = "/data/images"  # the builders' input database
PAGE_SIZE = 50
LATER_PAGES = (2, 5, 10, 20)


@dataclass(frozen=True)
class Scale:
    """How much work each series does, and how long it may take at most."""

    outputs: int
    commits: int
    concurrency: int
    read_commits: int
    outputs_per_read_commit: int
    requests: int
    sql_requests: int
    ingest_budget_s: float
    read_budget_s: float


@dataclass
class Latencies:
    """Durations of one series, in seconds."""

    samples: list[float] = field(default_factory=list)
    cpu: CpuUse | None = None

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)

    def percentile_ms(self, fraction: float) -> float:
        """Nearest-rank percentile: the smallest sample that `fraction` of the samples do not exceed."""
        if not self.samples:
            return math.nan
        ordered = sorted(self.samples)
        rank = max(1, math.ceil(fraction * len(ordered)))
        return ordered[rank - 1] * 1000

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(0.50)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(0.99)


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds spent during a series, by who spent them (NaN: not measurable here)."""

    server_s: float  # the qa_api process
    database_s: float  # the PostgreSQL backends of the series' database, those that ended included
    client_s: float  # this process: the load generator (or the asyncpg driver for plain SQL)
    machine_s: float  # every CPU of the machine
    sessions: int = 0  # database sessions opened during the series (connections to PostgreSQL)

    @property
    def other_s(self) -> float:
        """The kernel, parallel query workers, anything else running on the machine."""
        known = (value for value in (self.server_s, self.database_s) if not math.isnan(value))
        return self.machine_s - self.client_s - sum(known)


@dataclass(frozen=True)
class Backends:
    """The PostgreSQL backends serving a database, but the one asking, and their server's postmaster."""

    pids: list[int]
    postmaster_pid: int | None  # None when PostgreSQL does not run on this machine
    sessions: int  # sessions ever opened on the database (pg_stat_database)


async def backends(database_url: str) -> Backends:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        sessions = await connection.fetchval(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        )
        own = proc_stat(await connection.fetchval("SELECT pg_backend_pid()"))
    finally:
        await connection.close()
    return Backends(
        pids=[int(row["pid"]) for row in rows],
        postmaster_pid=int(own[1]) if own is not None else None,
        sessions=int(sessions or 0),
    )


class CpuMeter:
    """Measures a `CpuUse` between `start()` and `stop()`.

    PostgreSQL's share is read from /proc, so it is only known when PostgreSQL runs on this machine
    (the local server, or the throwaway one). It is the CPU of the backends connected to the database
    at either end, plus that of the backends that ended in between: the postmaster reaps them, and
    their CPU joins its children's. A pool that closes and reopens connections during the series has
    its backends come and go; counting only the live ones at the end missed them (the API ingest read
    0.00). The reaped share also holds this meter's own short connections and any autovacuum worker
    that ended in the window, both small next to a series.
    """

    def __init__(self, database_url: str, server_pid: int | None = None) -> None:
        self.database_url = database_url
        self.server_pid = server_pid
        self.backends: dict[int, float] = {}

    async def start(self) -> CpuMeter:
        found = await backends(self.database_url)
        self.backends = {pid: process_cpu_s(pid) for pid in found.pids}
        self.postmaster_pid, self.sessions = found.postmaster_pid, found.sessions
        self.reaped = (
            math.nan if found.postmaster_pid is None else reaped_children_cpu_s(found.postmaster_pid)
        )
        self.server = math.nan if self.server_pid is None else process_cpu_s(self.server_pid)
        self.client = time.process_time()
        self.machine = machine_cpu_s()
        return self

    async def stop(self) -> CpuUse:
        server = math.nan if self.server_pid is None else process_cpu_s(self.server_pid) - self.server
        client = time.process_time() - self.client
        machine = machine_cpu_s() - self.machine
        found = await backends(self.database_url)
        database = 0.0
        for pid in found.pids:
            database += process_cpu_s(pid) - self.backends.get(pid, 0.0)
        if self.postmaster_pid is not None:
            # a backend reaped in the window joined the total with its whole life: only its end is ours
            ended_before = sum(cpu for pid, cpu in self.backends.items() if pid not in found.pids)
            database += reaped_children_cpu_s(self.postmaster_pid) - self.reaped - ended_before
        # the meter opens one session itself to look at the backends
        sessions = max(0, found.sessions - self.sessions - 1)
        return CpuUse(
            server_s=server, database_s=database, client_s=client, machine_s=machine, sessions=sessions
        )


@dataclass(frozen=True)
class Ingest:
    """One ingest series: lifecycles completed, wall time, latency per request (or write), CPU."""

    outputs: int
    planned: int
    elapsed_s: float
    latencies: Latencies
    cpu: CpuUse

    @property
    def outputs_per_s(self) -> float:
        return self.outputs / self.elapsed_s if self.elapsed_s else math.nan

    @property
    def cut(self) -> bool:
        """The time budget ran out before every planned output was written."""
        return self.outputs < self.planned


# --- what the CLI reports: commits, and runs on them --------------------------------------------------


@dataclass(frozen=True)
class CommitPlan:
    """A commit the ingest reports runs on."""

    sha: str
    parent: str
    authored_at: datetime
    message: str

    @property
    def outputs_dir(self) -> str:
        return f"{STORAGE}/{self.sha[:2]}/{self.sha[2:16]}"


@dataclass(frozen=True)
class RunPlan:
    """One run (output) to report: its commit, its test input, the metrics it ends with."""

    commit: CommitPlan
    input_path: str
    metrics: dict[str, Any]

    @property
    def output_dir(self) -> str:
        return f"{self.commit.outputs_dir}/output/default/linux/{self.input_path.rsplit('.', 1)[0]}"


def _sha(seed: str) -> str:
    return sha1(seed.encode(), usedforsecurity=False).hexdigest()


def input_path(index: int) -> str:
    return f"set{index // 100}/img{index:04d}.jpg"


def plan_runs(scale: Scale) -> list[RunPlan]:
    """`scale.commits` commits one hour apart, each running the same test inputs; random metrics."""
    rng = random.Random(1234)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    commits = [
        CommitPlan(
            sha=_sha(f"ingest-{n}"),
            parent=_sha(f"ingest-{n - 1}"),
            authored_at=start + timedelta(hours=n),
            message=f"Tune the denoiser, take {n}",
        )
        for n in range(scale.commits)
    ]
    per_commit = math.ceil(scale.outputs / scale.commits)
    runs = [
        RunPlan(
            commit=commit,
            input_path=input_path(index),
            metrics={
                "psnr": round(rng.uniform(30, 45), 3),
                "loss": round(rng.random(), 5),
                "is_failed": False,
            },
        )
        for commit in commits
        for index in range(per_commit)
    ]
    return runs[: scale.outputs]


def lifecycle_bodies(run: RunPlan, project: str) -> tuple[bytes, bytes, bytes]:
    """The three POST /api/v1/output/ bodies of one run (queued, running, finished), encoded once."""
    commit = {
        "project": project,
        "sha": run.commit.sha,
        "commit_parents": [run.commit.parent],
        "commit_authored_datetime": run.commit.authored_at.isoformat(),
        "commit_message": run.commit.message,
    }
    queued, running, finished = (
        json.dumps(output_report(run.input_path, stage=stage, metrics=run.metrics, **commit)).encode()
        for stage in ("queued", "running", "finished")
    )
    return queued, running, finished


# --- servers --------------------------------------------------------------------------------------------


@asynccontextmanager
async def http_client(base_url: str, concurrency: int) -> AsyncIterator[httpx.AsyncClient]:
    """The one load-generating client: keep-alive connections sized for the concurrency, no proxies."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=httpx.Timeout(30.0), trust_env=False
    ) as client:
        yield client


@dataclass(frozen=True)
class Server:
    """A running qa_api process, and a CI token for it (`runs:write` on the bench's projects)."""

    base_url: str
    pid: int
    token: str


@asynccontextmanager
async def qa_api_server(database_url: str) -> AsyncIterator[Server]:
    """Start `python -m qa_api` on a free loopback port; yield it once it is ready."""
    port = free_port()
    keys = Path(tempfile.mkdtemp(prefix="qahub-bench-keys-"))
    key_file = keys / "signing-key.pem"
    key_file.write_text(generate_pem())
    key_file.chmod(0o600)
    admin_password = secrets.token_urlsafe(18)
    env = {
        **os.environ,
        "QAHUB_JWT_SIGNING_KEY_FILE": str(key_file),
        "QAHUB_ADMIN_PASSWORD": admin_password,
        "QAHUB_DATABASE_URL": database_url,
        "QAHUB_QA_API_HOST": "127.0.0.1",
        "QAHUB_QA_API_PORT": str(port),
        # the level `make run` starts it with: an access line per request
        "QAHUB_LOG_LEVEL": "INFO",
    }
    # its log goes to a file, as a service's goes to its log collector (not to this terminal)
    log_file = keys / "qa_api.log"
    with log_file.open("wb") as out:
        process = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "qa_api"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with http_client(base_url, 1) as client:
            for _ in range(300):
                if process.poll() is not None:
                    raise RuntimeError(
                        f"qa_api exited with status {process.returncode}:\n{log_file.read_text()}"
                    )
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("qa_api was not ready within 30 s")
            token = await _ci_token(client, admin_password)
        log(f"qa_api pid {process.pid} on {base_url} (profile it with: py-spy record -p {process.pid})")
        yield Server(base_url=base_url, pid=process.pid, token=token)
    finally:
        shutil.rmtree(keys, ignore_errors=True)
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)


async def _ci_token(client: httpx.AsyncClient, admin_password: str) -> str:
    """What a CI job exports as QA_TOKEN: `runs:write` on `bench/*`, made from the admin's login."""
    login = await client.post("/api/v2/auth/login", json={"username": "admin", "password": admin_password})
    _expect_ok(login)
    created = await client.post(
        "/api/v2/tokens",
        json={"name": "bench", "scopes": ["runs:write"], "projects": ["bench/*"], "expires_in_days": 1},
        headers={"Authorization": f"Bearer {login.json()['access_token']}"},
    )
    if created.status_code != 201:
        raise RuntimeError(f"POST /api/v2/tokens → {created.status_code}: {created.text[:500]}")
    token: str = created.json()["access_token"]
    return token


async def checkpoint(database_url: str) -> None:
    """Flush what earlier phases left dirty, so that no phase pays for another's writes (best effort)."""
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("CHECKPOINT")
    except asyncpg.InsufficientPrivilegeError:
        pass
    finally:
        await connection.close()


def _expect_ok(response: httpx.Response) -> None:
    if response.status_code != 200:
        raise RuntimeError(
            f"{response.request.method} {response.request.url} → {response.status_code}: "
            f"{response.text[:500]}"
        )


async def _progress(label: str, done: Callable[[], int], total: int, started: float) -> None:
    while True:
        await asyncio.sleep(10)
        count, elapsed = done(), time.perf_counter() - started
        log(f"{label}: {count:,}/{total:,} outputs in {elapsed:.0f} s ({count / elapsed:.1f}/s)")


async def run_workers(
    concurrency: int, work: Callable[[], Awaitable[None]], label: str, done: Callable[[], int], total: int
) -> None:
    """Run `concurrency` copies of `work` to completion, reporting progress on stderr."""
    reporter = asyncio.create_task(_progress(label, done, total, time.perf_counter()))
    try:
        await asyncio.gather(*(work() for _ in range(concurrency)))
    finally:
        reporter.cancel()


# --- ingest ---------------------------------------------------------------------------------------------


async def ingest_over_http(
    server: Server, database_url: str, runs: Sequence[RunPlan], scale: Scale
) -> Ingest:
    """Post every run's lifecycle, `scale.concurrency` runs at a time, until done or out of time."""
    bodies = [lifecycle_bodies(run, INGEST_PROJECT) for run in runs]
    warm_up = [lifecycle_bodies(run, "bench/warm-up") for run in runs[: scale.concurrency * 2]]
    latencies = Latencies()
    finished = 0

    client = LoadClient(server.base_url, f"Bearer {server.token}")
    try:

        async def post(body: bytes, record: bool) -> None:
            started = time.perf_counter()
            status, answer = await client.post("/api/v1/output/", body)
            if record:
                latencies.add(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"POST /api/v1/output/ → {status}: {answer[:500]!r}")

        # Opens the connections and warms the server's statement caches, on another project.
        warm = iter(warm_up)

        async def warm_worker() -> None:
            for lifecycle in warm:
                for body in lifecycle:
                    await post(body, record=False)

        await asyncio.gather(*(warm_worker() for _ in range(scale.concurrency)))

        pending = iter(bodies)
        deadline = time.perf_counter() + scale.ingest_budget_s

        async def worker() -> None:
            nonlocal finished
            for lifecycle in pending:
                for body in lifecycle:
                    await post(body, record=True)
                finished += 1
                if time.perf_counter() > deadline:
                    return

        meter = await CpuMeter(database_url, server.pid).start()
        started = time.perf_counter()
        await run_workers(scale.concurrency, worker, "ingest", lambda: finished, len(bodies))
        elapsed, cpu = time.perf_counter() - started, await meter.stop()
    finally:
        client.close()
    return Ingest(outputs=finished, planned=len(bodies), elapsed_s=elapsed, latencies=latencies, cpu=cpu)


def _data(**values: Any) -> str:
    return json.dumps({**values, "ci": True, "user": "ci-runner"})


async def ingest_raw(database_url: str, runs: Sequence[RunPlan], scale: Scale) -> Ingest:
    """The same rows, three writes per output, straight through asyncpg: what PostgreSQL alone does."""
    connections = [await asyncpg.connect(database_url) for _ in range(scale.concurrency)]
    try:
        latencies = Latencies()
        finished = 0
        pending = iter(runs)
        deadline = time.perf_counter() + scale.ingest_budget_s
        key = run_key("linux", [], {})
        meter = await CpuMeter(database_url).start()
        started = time.perf_counter()
        batch_ids, input_ids = await _create_commits_raw(connections[0], runs)
        free = list(connections)

        async def worker() -> None:
            nonlocal finished
            connection = free.pop()
            for run in pending:
                batch_id, input_id = batch_ids[run.commit.sha], input_ids[run.input_path]
                began = time.perf_counter()
                output_id = await connection.fetchval(
                    "INSERT INTO output (batch_id, test_input_id, run_key, platform, status, data,"
                    " output_type, output_dir, job_type)"
                    " VALUES ($1, $2, $3, 'linux', 'queued', $4::jsonb, 'default', $5, 'ci') RETURNING id",
                    batch_id,
                    input_id,
                    key,
                    _data(job_options={}),
                    run.output_dir,
                )
                queued = time.perf_counter()
                await connection.execute(
                    "UPDATE output SET status = 'running', data = data || $2::jsonb, updated_at = now()"
                    " WHERE id = $1",
                    output_id,
                    _data(),
                )
                running = time.perf_counter()
                await connection.execute(
                    "UPDATE output SET status = 'finished', metrics = $2::jsonb,"
                    " data = data || $3::jsonb, storage_size = 392, updated_at = now() WHERE id = $1",
                    output_id,
                    json.dumps(run.metrics),
                    _data(storage=392),
                )
                done = time.perf_counter()
                for duration in (queued - began, running - queued, done - running):
                    latencies.add(duration)
                finished += 1
                if done > deadline:
                    return

        await run_workers(scale.concurrency, worker, "raw ingest", lambda: finished, len(runs))
        # the commit, ref, batch and test input rows were created inside the window too
        elapsed, cpu = time.perf_counter() - started, await meter.stop()
    finally:
        for connection in connections:
            await connection.close()
    return Ingest(outputs=finished, planned=len(runs), elapsed_s=elapsed, latencies=latencies, cpu=cpu)


async def _create_commits_raw(
    connection: Any, runs: Sequence[RunPlan]
) -> tuple[dict[str, int], dict[str, int]]:
    """Project, commits, their `master` ref, batch `default` and the test inputs: once each."""
    commits = list({run.commit.sha: run.commit for run in runs}.values())
    paths = list(dict.fromkeys(run.input_path for run in runs))
    config = {"project": {"name": INGEST_PROJECT, "reference_branch": "master"}}
    async with connection.transaction():
        await connection.execute(
            "INSERT INTO project (id, config, metric_definitions) VALUES ($1, $2::jsonb, $3::jsonb)",
            INGEST_PROJECT,
            json.dumps(config),
            json.dumps(METRIC_DEFINITIONS),
        )
        rows = await connection.fetch(
            "INSERT INTO commit (project_id, sha, message, committer_name, committer_email, authored_at,"
            " parents, outputs_dir, artifacts_dir, data)"
            " SELECT $1, c.sha, c.message, 'Jane Dev', 'jane@example.com', c.authored_at, ARRAY[c.parent],"
            " c.outputs_dir, c.outputs_dir, $2::jsonb"
            " FROM unnest($3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[])"
            " AS c(sha, parent, authored_at, message, outputs_dir)"
            " RETURNING id, sha",
            INGEST_PROJECT,
            json.dumps({"qatools_config": config, "qatools_metrics": METRIC_DEFINITIONS}),
            [c.sha for c in commits],
            [c.parent for c in commits],
            [c.authored_at for c in commits],
            [c.message for c in commits],
            [c.outputs_dir for c in commits],
        )
        commit_ids = {row["sha"]: row["id"] for row in rows}
        await connection.execute(
            "INSERT INTO commit_ref (commit_id, kind, name) SELECT unnest($1::bigint[]), 'branch', 'master'",
            list(commit_ids.values()),
        )
        batches = await connection.fetch(
            "INSERT INTO batch (commit_id, label, data) SELECT unnest($1::bigint[]), 'default',"
            ' \'{"type": "ci"}\' RETURNING id, commit_id',
            list(commit_ids.values()),
        )
        inputs = await connection.fetch(
            "INSERT INTO test_input (database, path) SELECT $1, unnest($2::text[]) RETURNING id, path",
            DATABASE,
            paths,
        )
    sha_of = {commit_id: sha for sha, commit_id in commit_ids.items()}
    return (
        {sha_of[row["commit_id"]]: row["id"] for row in batches},
        {row["path"]: row["id"] for row in inputs},
    )


async def count_outputs(database_url: str, project: str) -> tuple[int, int]:
    """(finished outputs, all outputs) of a project: what the series claims it wrote is there."""
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(
            "SELECT count(*) FILTER (WHERE o.status = 'finished') AS finished, count(*) AS total"
            " FROM output o JOIN batch b ON b.id = o.batch_id JOIN commit c ON c.id = b.commit_id"
            " WHERE c.project_id = $1",
            project,
        )
    finally:
        await connection.close()
    return int(row["finished"]), int(row["total"])


# --- reads: a big database ----------------------------------------------------------------------------


async def bulk_load(database_url: str, scale: Scale) -> None:
    """`read_commits` x `outputs_per_read_commit` outputs in a few set-based statements; VACUUM ANALYZE."""
    config = {"project": {"name": READS_PROJECT, "reference_branch": "master"}}
    connection = await asyncpg.connect(database_url)
    try:
        started = time.perf_counter()
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO project (id, config, metric_definitions) VALUES ($1, $2::jsonb, $3::jsonb)",
                READS_PROJECT,
                json.dumps(config),
                json.dumps(METRIC_DEFINITIONS),
            )
            await connection.execute(
                "INSERT INTO test_input (database, path)"
                " SELECT $1, format('set%s/img%s.jpg', i / 100, lpad(i::text, 4, '0'))"
                " FROM generate_series(0, $2 - 1) AS i",
                DATABASE,
                scale.outputs_per_read_commit,
            )
            # Commit n (n = 1..N) is authored n hours after 2026-01-01; its parent is commit n - 1.
            await connection.execute(
                "INSERT INTO commit (project_id, sha, message, committer_name, committer_email,"
                " authored_at, parents, outputs_dir, artifacts_dir, data, latest_output_at)"
                " SELECT p.id, s.sha, 'Commit ' || s.n, 'Jane Dev', 'jane@example.com', s.authored_at,"
                " ARRAY[s.parent], s.dir, s.dir,"
                " jsonb_build_object('qatools_config', p.config, 'qatools_metrics', p.metric_definitions),"
                " s.authored_at + interval '20 minutes'"
                " FROM project AS p, ("
                "   SELECT n, h.sha, h.parent, timestamptz '2026-01-01 00:00+00' + n * interval '1 hour'"
                "     AS authored_at, $2 || '/' || left(h.sha, 2) || '/' || substr(h.sha, 3, 14) AS dir"
                "   FROM generate_series(1, $3) AS n, LATERAL ("
                "     SELECT left(encode(sha256(convert_to('reads-' || n, 'UTF8')), 'hex'), 40) AS sha,"
                "       left(encode(sha256(convert_to('reads-' || (n - 1), 'UTF8')), 'hex'), 40) AS parent"
                "   ) AS h"
                " ) AS s"
                " WHERE p.id = $1",
                READS_PROJECT,
                f"{STORAGE}/{READS_PROJECT}",
                scale.read_commits,
            )
            await connection.execute(
                "INSERT INTO commit_ref (commit_id, kind, name, first_seen_at)"
                " SELECT id, 'branch', 'master', authored_at FROM commit WHERE project_id = $1",
                READS_PROJECT,
            )
            await connection.execute(
                "INSERT INTO batch (commit_id, label, data, created_at)"
                " SELECT id, 'default', '{\"type\": \"ci\"}', authored_at FROM commit WHERE project_id = $1",
                READS_PROJECT,
            )
        log(f"reads: commits, refs, batches and test inputs in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        # In batch order, as a batch's runs are written close together. Status by (batch, input):
        # 98% finished, 1% failed, 1% queued; metrics and data as the CLI's reports leave them.
        await connection.execute(
            "INSERT INTO output (batch_id, test_input_id, run_key, platform, status, metrics, data,"
            " output_type, output_dir, job_type, storage_size, created_at, updated_at)"
            " SELECT b.id, t.id, $2, 'linux', s.status,"
            "   CASE WHEN s.status = 'queued' THEN '{}'::jsonb ELSE jsonb_build_object("
            "     'psnr', round((30 + 15 * random())::numeric, 3),"
            "     'loss', round(random()::numeric, 5),"
            "     'is_failed', s.status = 'failed') END,"
            "   CASE WHEN s.status = 'queued'"
            '     THEN \'{"job_options": {}, "ci": true, "user": "ci-runner"}\'::jsonb'
            '     ELSE \'{"job_options": {}, "ci": true, "user": "ci-runner", "storage": 392}\'::jsonb'
            "   END,"
            "   'default', c.outputs_dir || '/output/default/linux/' || split_part(t.path, '.', 1), 'ci',"
            "   CASE WHEN s.status = 'queued' THEN NULL ELSE 392 END,"
            "   b.created_at + interval '5 minutes', b.created_at + interval '15 minutes'"
            " FROM batch AS b JOIN commit AS c ON c.id = b.commit_id CROSS JOIN test_input AS t,"
            "   LATERAL (SELECT CASE (b.id * 7 + t.id) % 100 WHEN 0 THEN 'failed' WHEN 1 THEN 'queued'"
            "     ELSE 'finished' END AS status) AS s"
            " WHERE c.project_id = $1"
            " ORDER BY b.id, t.id",
            READS_PROJECT,
            run_key("linux", [], {}),
        )
        total = scale.read_commits * scale.outputs_per_read_commit
        log(f"reads: {total:,} outputs in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        await connection.execute("VACUUM ANALYZE")
        log(f"reads: VACUUM ANALYZE in {time.perf_counter() - started:.1f} s")
    finally:
        await connection.close()


# The statements the endpoints send, in plain SQL. They mirror qa_api's commits and outputs repositories
# (as of its batch statistics cache): change them together.
SQL_PROJECT = "SELECT * FROM project WHERE id = $1"
SQL_COMMIT_BY_SHA = (
    "SELECT * FROM commit WHERE project_id = $1 AND sha LIKE $2 || '%'"
    " ORDER BY authored_at DESC, id DESC LIMIT 1"
)
# A page of commits with their refs and batches (statistics None where out of date): one statement
# (`commits.repository.commit_page`). {after} is the keyset condition of later pages.
SQL_COMMITS_PAGE_TEMPLATE = """
SELECT page.*,
  (SELECT json_build_array(
     coalesce(json_agg(r.name ORDER BY r.first_seen_at, r.name) FILTER (WHERE r.kind = 'branch'), '[]'::json),
     coalesce(json_agg(r.name ORDER BY r.first_seen_at, r.name) FILTER (WHERE r.kind = 'tag'), '[]'::json))
   FROM commit_ref AS r WHERE r.commit_id = page.id) AS refs,
  (SELECT coalesce(json_agg(json_build_array(b.id, b.label, b.created_at, b.data,
            CASE WHEN EXISTS (SELECT * FROM batch_change AS bc WHERE bc.batch_id = b.id) THEN NULL
                 ELSE b.stats END) ORDER BY b.created_at, b.id), '[]'::json)
   FROM batch AS b WHERE b.commit_id = page.id) AS batches
FROM (SELECT id, project_id, sha, message, author_name, author_email, committer_name, committer_email,
             authored_at, committed_at, parents, latest_output_at
      FROM commit WHERE project_id = $1 {after} ORDER BY authored_at DESC, id DESC LIMIT $2) AS page
ORDER BY page.authored_at DESC, page.id DESC
"""
SQL_COMMITS_PAGE = SQL_COMMITS_PAGE_TEMPLATE.format(after="")
SQL_COMMITS_PAGE_AFTER = SQL_COMMITS_PAGE_TEMPLATE.format(
    after="AND (authored_at < $3 OR (authored_at = $3 AND id < $4))"
)
SQL_PAGE_START = (
    "SELECT authored_at, id FROM commit WHERE project_id = $1"
    " ORDER BY authored_at DESC, id DESC OFFSET $2 LIMIT 1"
)
SQL_REFS = (
    "SELECT commit_id, kind, name FROM commit_ref WHERE commit_id = ANY($1::bigint[])"
    " ORDER BY commit_id, first_seen_at, name"
)
SQL_BATCHES_LABELLED = (
    "SELECT id, commit_id, label, batch_dir, commands, data, created_at FROM batch"
    " WHERE commit_id = ANY($1::bigint[]) AND label = ANY($2::text[]) ORDER BY commit_id, created_at, id"
)
SQL_TAKE_CHANGES = "DELETE FROM batch_change WHERE batch_id = ANY($1::bigint[]) RETURNING batch_id"
SQL_CACHED_STATS = "SELECT id, stats FROM batch WHERE id = ANY($1::bigint[]) AND stats IS NOT NULL"
# the aggregate statements are qa_api's own
SQL_STATUS_COUNTS = COUNTS_SQL.text.replace(":batch_ids", "$1::bigint[]")
SQL_METRIC_AGGREGATES = METRICS_SQL.text.replace(":batch_ids", "$1::bigint[]")
SQL_SAVE_STATS = "UPDATE batch SET stats = $2::jsonb WHERE id = $1"
SQL_OUTPUTS = (
    "SELECT o.*, t.* FROM output o JOIN test_input t ON t.id = o.test_input_id"
    " WHERE o.batch_id = ANY($1::bigint[]) ORDER BY o.batch_id, o.id"
)


async def sql_batch_statistics(connection: Any, batch_ids: list[int]) -> None:
    """Batches' statistics: consume their changes, read the cached ones, recompute and cache the rest."""
    async with connection.transaction():
        changed = {row["batch_id"] for row in await connection.fetch(SQL_TAKE_CHANGES, batch_ids)}
        unchanged = [batch_id for batch_id in batch_ids if batch_id not in changed]
        cached = {row["id"] for row in await connection.fetch(SQL_CACHED_STATS, unchanged)}
        stale = [batch_id for batch_id in batch_ids if batch_id not in cached]
        if not stale:
            return
        documents: dict[int, dict[str, Any]] = {
            batch_id: {"queued": 0, "running": 0, "finished": 0, "failed": 0, "metrics": {}}
            for batch_id in stale
        }
        for row in await connection.fetch(SQL_STATUS_COUNTS, stale):
            documents[row["batch_id"]].update(
                {key: row[key] for key in ("queued", "running", "finished", "failed")}
            )
        for row in await connection.fetch(SQL_METRIC_AGGREGATES, stale):
            documents[row["batch_id"]]["metrics"][row["name"]] = [
                row["median"],
                row["mean"],
                row["min"],
                row["max"],
                row["n"],
            ]
        await connection.executemany(
            SQL_SAVE_STATS, [(batch_id, json.dumps(document)) for batch_id, document in documents.items()]
        )


async def sql_commit_read(connection: Any, sha: str) -> int:
    """What `GET /api/v1/commit/{sha}?batch=default&metrics=...` asks the database; returns outputs."""
    commit = await connection.fetchrow(SQL_COMMIT_BY_SHA, READS_PROJECT, sha)
    ids = [commit["id"]]
    await connection.fetch(SQL_REFS, ids)
    batch_ids = [row["id"] for row in await connection.fetch(SQL_BATCHES_LABELLED, ids, ["default"])]
    await sql_batch_statistics(connection, batch_ids)
    return len(await connection.fetch(SQL_OUTPUTS, batch_ids))


async def sql_commits_page(connection: Any, after: tuple[datetime, int] | None) -> int:
    """What `GET /api/v2/commits?project=...&limit=50[&cursor=...]` asks the database; returns commits."""
    await connection.fetchrow(SQL_PROJECT, READS_PROJECT)
    if after is None:
        commits = await connection.fetch(SQL_COMMITS_PAGE, READS_PROJECT, PAGE_SIZE + 1)
    else:
        commits = await connection.fetch(SQL_COMMITS_PAGE_AFTER, READS_PROJECT, PAGE_SIZE + 1, *after)
    out_of_date = [
        batch_id
        for row in commits
        for batch_id, _, _, _, stats in json.loads(row["batches"])
        if stats is None
    ]
    if out_of_date:
        await sql_batch_statistics(connection, out_of_date)
    return len(commits[:PAGE_SIZE])


async def timed_series(
    call: Callable[[int], Awaitable[None]],
    label: str,
    count: int,
    budget_s: float,
    *,
    database_url: str,
    server_pid: int | None = None,
    warm_up: int = 5,
) -> Latencies:
    """`count` calls one after the other (concurrency 1) after `warm_up` untimed ones, within the budget."""
    for index in range(warm_up):
        await call(index)
    latencies = Latencies()
    meter = await CpuMeter(database_url, server_pid).start()
    deadline = time.perf_counter() + budget_s
    for index in range(count):
        started = time.perf_counter()
        await call(index)
        latencies.add(time.perf_counter() - started)
        if time.perf_counter() > deadline:
            log(f"{label}: time budget spent after {index + 1} of {count} requests")
            break
    latencies.cpu = await meter.stop()
    log(
        f"{label}: p50 {latencies.p50_ms:.1f} ms, p99 {latencies.p99_ms:.1f} ms over {len(latencies.samples)}"
    )
    return latencies


@dataclass(frozen=True)
class Reads:
    """The read series through the API, each next to the same reads as plain SQL."""

    commit: Latencies
    commit_sql: Latencies
    first_page: Latencies
    first_page_sql: Latencies
    later_pages: Latencies
    later_pages_sql: Latencies
    compare: Latencies
    compare_sql: Latencies


async def _middle_commit(database_url: str, scale: Scale, older: int = 0) -> str:
    """The sha of the commit in the middle of the history (`older`: that many commits before it)."""
    connection = await asyncpg.connect(database_url)
    try:
        sha: str = await connection.fetchval(
            "SELECT sha FROM commit WHERE project_id = $1"
            " ORDER BY authored_at DESC, id DESC OFFSET $2 LIMIT 1",
            READS_PROJECT,
            scale.read_commits // 2 + older,
        )
    finally:
        await connection.close()
    return sha


async def _batch_ids(connection: Any, *shas: str) -> list[int]:
    rows = await connection.fetch(
        "SELECT b.id FROM batch b JOIN commit c ON c.id = b.commit_id"
        " WHERE c.project_id = $1 AND c.sha = ANY($2::text[]) AND b.label = 'default'",
        READS_PROJECT,
        list(shas),
    )
    return [row["id"] for row in rows]


async def measure_reads(database_url: str, scale: Scale) -> Reads:
    """API series against a fresh qa_api process, then the same reads as plain SQL."""

    def series(
        call: Callable[[int], Awaitable[None]], label: str, count: int, server_pid: int | None = None
    ) -> Awaitable[Latencies]:
        return timed_series(
            call, label, count, scale.read_budget_s, database_url=database_url, server_pid=server_pid
        )

    sha = await _middle_commit(database_url, scale)
    reference = await _middle_commit(database_url, scale, older=1)
    compare_params: dict[str, str | int] = {
        "project": READS_PROJECT,
        "commit": sha,
        "reference": reference,
        "metrics": "psnr,loss",
        "limit": PAGE_SIZE,
    }
    commit_params = {"project": READS_PROJECT, "batch": "default", "metrics": json.dumps({"psnr": 0})}
    page_params: dict[str, str | int] = {"project": READS_PROJECT, "limit": PAGE_SIZE}
    async with qa_api_server(database_url) as server, http_client(server.base_url, 1) as client:

        async def get_commit(_: int) -> None:
            _expect_ok(await client.get(f"/api/v1/commit/{sha}", params=commit_params))

        async def get_page(cursor: str | None) -> dict[str, Any]:
            params = page_params if cursor is None else {**page_params, "cursor": cursor}
            response = await client.get("/api/v2/commits", params=params)
            _expect_ok(response)
            page: dict[str, Any] = response.json()
            return page

        # What the series measure is what we think it is.
        commit = (await client.get(f"/api/v1/commit/{sha}", params=commit_params)).json()
        batch = commit["batches"]["default"]
        if (
            len(batch["outputs"]) != scale.outputs_per_read_commit
            or "psnr_median" not in batch["aggregated_metrics"]
        ):
            raise RuntimeError(f"unexpected commit response: {len(batch['outputs'])} outputs")
        cursors: dict[int, str] = {}
        page, number = await get_page(None), 1
        first = page["items"][0]
        if len(page["items"]) != PAGE_SIZE or first["batches"][0]["outputs"]["total"] != (
            scale.outputs_per_read_commit
        ):
            raise RuntimeError("unexpected commits page")
        while number < max(LATER_PAGES) and page["next_cursor"]:
            number += 1
            cursors[number] = page["next_cursor"]
            page = await get_page(cursors[number])
        later = [cursors[n] for n in LATER_PAGES if n in cursors]
        if not later:
            raise RuntimeError(f"no page {LATER_PAGES[0]}: load more than {PAGE_SIZE} commits")

        async def get_first_page(_: int) -> None:
            await get_page(None)

        async def get_compare(_: int) -> None:
            _expect_ok(await client.get("/api/v2/compare", params=compare_params))

        compared = (await client.get("/api/v2/compare", params=compare_params)).json()
        judged = sum(compared["summary"]["psnr"][verdict] for verdict in ("better", "worse", "same"))
        # the 1% of queued runs on either side is left out, as pending
        if len(compared["outputs"]) != PAGE_SIZE or judged < scale.outputs_per_read_commit * 0.9:
            raise RuntimeError(f"unexpected comparison: {compared['summary']}")

        async def get_later_page(index: int) -> None:
            await get_page(later[index % len(later)])

        log(f"reads: GET /api/v1/commit/{sha[:12]}… ({scale.outputs_per_read_commit:,} outputs)")
        commit_api = await series(get_commit, "commit", scale.requests, server.pid)
        log("reads: GET /api/v2/commits (first page)")
        first_api = await series(get_first_page, "first page", scale.requests, server.pid)
        log(f"reads: GET /api/v2/commits (pages {', '.join(map(str, LATER_PAGES))})")
        later_api = await series(get_later_page, "later pages", scale.requests, server.pid)
        log(f"reads: GET /api/v2/compare {sha[:12]}… against {reference[:12]}…")
        compare_api = await series(get_compare, "compare", scale.requests, server.pid)

    connection = await asyncpg.connect(database_url)
    try:
        positions = [
            tuple(await connection.fetchrow(SQL_PAGE_START, READS_PROJECT, (n - 1) * PAGE_SIZE - 1))
            for n in LATER_PAGES
            if n in cursors
        ]
        if await sql_commit_read(connection, sha) != scale.outputs_per_read_commit:
            raise RuntimeError("the SQL commit read does not see the commit's outputs")

        async def sql_commit(_: int) -> None:
            await sql_commit_read(connection, sha)

        async def sql_first_page(_: int) -> None:
            await sql_commits_page(connection, None)

        async def sql_later_page(index: int) -> None:
            position = positions[index % len(positions)]
            await sql_commits_page(connection, (position[0], position[1]))

        compared_batches = await _batch_ids(connection, sha, reference)

        async def sql_compare(_: int) -> None:
            await connection.fetch(RUNS_SQL, compared_batches, ["psnr", "loss"])

        log("reads: the same reads as plain SQL through asyncpg")
        commit_sql = await series(sql_commit, "commit SQL", scale.sql_requests)
        first_sql = await series(sql_first_page, "first page SQL", scale.sql_requests)
        later_sql = await series(sql_later_page, "later pages SQL", scale.sql_requests)
        compare_sql = await series(sql_compare, "compare SQL", scale.sql_requests)
    finally:
        await connection.close()
    return Reads(commit_api, commit_sql, first_api, first_sql, later_api, later_sql, compare_api, compare_sql)


# --- the report -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One line of the table and one JSON line: a measured value next to its limit and target."""

    bench: str
    label: str
    value: float
    limit: float
    samples: int
    target: str
    met: bool | None
    qa_board: str

    @property
    def ratio(self) -> float:
        return self.value / self.limit if self.limit else math.nan


def figures(api: Ingest, raw: Ingest, reads: Reads, scale: Scale) -> list[Figure]:
    def latency_pair(
        bench: str, label: str, measured: Latencies, floor: Latencies, target_ms: float, qa_board: str
    ) -> list[Figure]:
        return [
            Figure(
                f"{bench}.p50_ms",
                f"{label} p50 (ms)",
                measured.p50_ms,
                floor.p50_ms,
                len(measured.samples),
                "",
                None,
                "",
            ),
            Figure(
                f"{bench}.p99_ms",
                f"{label} p99 (ms)",
                measured.p99_ms,
                floor.p99_ms,
                len(measured.samples),
                f"<= {target_ms:g}",
                measured.p99_ms <= target_ms,
                qa_board,
            ),
        ]

    outputs = scale.read_commits * scale.outputs_per_read_commit
    return [
        Figure(
            "qa_api.ingest.outputs_per_s",
            f"ingest, 3 POSTs/output, c={scale.concurrency} (outputs/s)",
            api.outputs_per_s,
            raw.outputs_per_s,
            api.outputs,
            ">= 300",
            api.outputs_per_s >= 300,
            "30.6",
        ),
        *latency_pair("qa_api.ingest.request", "ingest request", api.latencies, raw.latencies, 100, "302"),
        *latency_pair(
            "qa_api.commit_1000_outputs",
            f"GET commit, {scale.outputs_per_read_commit:,} outputs, c=1",
            reads.commit,
            reads.commit_sql,
            100,
            "365",
        ),
        *latency_pair(
            "qa_api.commits_first_page",
            f"commits page 1 of {outputs:,} outputs, c=1",
            reads.first_page,
            reads.first_page_sql,
            50,
            "1112 (11k outputs)",
        ),
        *latency_pair(
            "qa_api.commits_later_pages",
            f"commits pages {','.join(map(str, LATER_PAGES))} via cursor, c=1",
            reads.later_pages,
            reads.later_pages_sql,
            50,
            "",
        ),
        *latency_pair(
            "qa_api.compare_1000_outputs",
            f"compare, {scale.outputs_per_read_commit:,} outputs each, page 1, c=1",
            reads.compare,
            reads.compare_sql,
            50,
            "",
        ),
    ]


def cpu_line(label: str, cpu: CpuUse | None, requests: int, elapsed_s: float) -> str:
    """Where the machine's CPU went during a series, in ms per request."""
    if cpu is None or not requests or math.isnan(cpu.machine_s):
        return f"  {label:<28} (no CPU accounting on this platform)"
    cpus = os.cpu_count() or 1

    def ms(seconds: float) -> str:
        return "    n/a" if math.isnan(seconds) else f"{seconds * 1000 / requests:7.2f}"

    return (
        f"  {label:<28} {ms(cpu.server_s)} {ms(cpu.database_s)} {ms(cpu.client_s)} {ms(cpu.other_s)}"
        f"   {cpu.machine_s / elapsed_s / cpus:4.0%}"
    )


def print_report(
    rows: Sequence[Figure], api: Ingest, raw: Ingest, reads: Reads, context: str, runtime_s: float
) -> None:
    print(f"qa_api benchmark: {context}")
    header = (
        f"{'figure':<52} {'value':>9} {'limit':>9} {'ratio':>7} {'n':>6}  {'target':<8} {'met':<4} QA-Board"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "NO")
        print(
            f"{row.label:<52} {row.value:>9.1f} {row.limit:>9.1f} {row.ratio:>7.2f} {row.samples:>6}  "
            f"{row.target:<8} {met:<4} {row.qa_board}"
        )
    print()
    print(
        f"ingest: {api.outputs:,}/{api.planned:,} outputs in {api.elapsed_s:.1f} s via the API"
        f"{' (cut by the time budget)' if api.cut else ''}; {raw.outputs:,}/{raw.planned:,} in"
        f" {raw.elapsed_s:.1f} s straight into PostgreSQL{' (cut)' if raw.cut else ''}."
    )
    print(
        "limits: ingest = the same 3-write lifecycle as plain SQL via asyncpg, c=16, fresh database"
        " (per-write latency); reads = the endpoint's own SQL statements via one asyncpg connection."
    )
    client_ms = api.cpu.client_s * 1000 / (3 * api.outputs) if api.outputs else math.nan
    if client_ms > 0:
        print(
            f"load generator: {client_ms:.2f} ms CPU per request: with a core to itself it could send"
            f" at most ~{1000 / client_ms / 3:.0f} outputs/s (3 requests each)."
        )
    print(f"CPU ms per request (per write for plain SQL); machine busy of {os.cpu_count()} CPUs")
    print(f"  {'':<28} {'qa_api':>7} {'PG':>7} {'client':>7} {'other':>7}   busy")
    print(cpu_line("ingest via the API", api.cpu, 3 * api.outputs, api.elapsed_s))
    print(cpu_line("ingest as plain SQL", raw.cpu, 3 * raw.outputs, raw.elapsed_s))
    for label, series in (
        ("GET commit", reads.commit),
        ("commits page 1", reads.first_page),
        (f"commits pages {','.join(map(str, LATER_PAGES))}", reads.later_pages),
        ("compare", reads.compare),
    ):
        print(cpu_line(label, series.cpu, len(series.samples), sum(series.samples)))
    print(f"PostgreSQL sessions opened during the API ingest: {api.cpu.sessions:,} (about)")
    print(f"total runtime: {runtime_s:.0f} s")
    for row in rows:
        print(
            json.dumps(
                {
                    "bench": row.bench,
                    "value": round(row.value, 2),
                    "limit": round(row.limit, 2),
                    "ratio": round(row.ratio, 3),
                }
            )
        )


# --- phases -----------------------------------------------------------------------------------------------


async def _ingest_phase(server_url: str, database_url: str, runs: Sequence[RunPlan], scale: Scale) -> Ingest:
    await checkpoint(server_url)
    async with qa_api_server(database_url) as server:
        log(f"ingest: {len(runs):,} outputs x 3 POSTs at concurrency {scale.concurrency}")
        result = await ingest_over_http(server, database_url, runs, scale)
    await _verify(database_url, INGEST_PROJECT, result)
    log(f"ingest: {result.outputs_per_s:.1f} outputs/s, p99 {result.latencies.p99_ms:.1f} ms per request")
    return result


async def _raw_phase(server_url: str, database_url: str, runs: Sequence[RunPlan], scale: Scale) -> Ingest:
    await checkpoint(server_url)
    log(f"raw ingest: the same {len(runs):,} lifecycles as plain SQL at concurrency {scale.concurrency}")
    result = await ingest_raw(database_url, runs, scale)
    await _verify(database_url, INGEST_PROJECT, result)
    log(f"raw ingest: {result.outputs_per_s:.1f} outputs/s, p99 {result.latencies.p99_ms:.1f} ms per write")
    return result


async def _verify(database_url: str, project: str, result: Ingest) -> None:
    finished, total = await count_outputs(database_url, project)
    if (finished, total) != (result.outputs, result.outputs):
        raise RuntimeError(
            f"{project}: {result.outputs} lifecycles sent, {finished}/{total} finished outputs"
        )


async def _reads_phase(server_url: str, database_url: str, scale: Scale) -> Reads:
    log(f"reads: loading {scale.read_commits:,} commits x {scale.outputs_per_read_commit:,} outputs")
    await bulk_load(database_url, scale)
    await checkpoint(server_url)
    return await measure_reads(database_url, scale)


async def _server_version(server_url: str) -> str:
    connection = await asyncpg.connect(server_url)
    try:
        version: str = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    return version


def parse_scale(argv: Sequence[str] | None = None) -> Scale:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--outputs", type=int, default=10_000, help="outputs to ingest (default 10,000)")
    parser.add_argument("--commits", type=int, default=20, help="commits they spread over (default 20)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent ingest clients (16)")
    parser.add_argument("--read-commits", type=int, default=1_000, help="commits loaded for reads (1,000)")
    parser.add_argument(
        "--outputs-per-commit", type=int, default=1_000, help="outputs per loaded commit (1,000)"
    )
    parser.add_argument("--requests", type=int, default=200, help="requests per read series (200)")
    parser.add_argument("--sql-requests", type=int, default=100, help="SQL reads per limit series (100)")
    parser.add_argument("--ingest-budget", type=float, default=240, help="seconds per ingest series (240)")
    parser.add_argument("--read-budget", type=float, default=60, help="seconds per read series (60)")
    args = parser.parse_args(argv)
    if not 1 <= args.commits <= args.outputs or args.concurrency < 1:
        parser.error("need 1 <= --commits <= --outputs and --concurrency >= 1")
    if (
        args.read_commits <= PAGE_SIZE
        or args.outputs_per_commit < 1
        or min(args.requests, args.sql_requests) < 1
    ):
        parser.error(f"need --read-commits > {PAGE_SIZE} (later pages), and at least one output and request")
    return Scale(
        outputs=args.outputs,
        commits=args.commits,
        concurrency=args.concurrency,
        read_commits=args.read_commits,
        outputs_per_read_commit=args.outputs_per_commit,
        requests=args.requests,
        sql_requests=args.sql_requests,
        ingest_budget_s=args.ingest_budget,
        read_budget_s=args.read_budget,
    )


def main(argv: Sequence[str] | None = None) -> None:
    scale = parse_scale(argv)
    started = time.perf_counter()
    runs = plan_runs(scale)
    with postgres_server() as server_url:
        version = uvloop.run(_server_version(server_url))
        with fresh_database(server_url, "qahub_bench_ingest") as database_url:
            migrate(database_url)
            api = uvloop.run(_ingest_phase(server_url, database_url, runs, scale))
        with fresh_database(server_url, "qahub_bench_raw") as database_url:
            migrate(database_url)
            raw = uvloop.run(_raw_phase(server_url, database_url, runs, scale))
        with fresh_database(server_url, "qahub_bench_reads") as database_url:
            migrate(database_url)
            reads = uvloop.run(_reads_phase(server_url, database_url, scale))
    runtime = time.perf_counter() - started
    context = (
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, PostgreSQL {version},"
        " 1 uvicorn worker, load generator on the same machine"
    )
    print_report(figures(api, raw, reads, scale), api, raw, reads, context, runtime)
    log(f"done in {runtime:.0f} s")


if __name__ == "__main__":
    main()
