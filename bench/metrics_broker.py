"""metrics_broker benchmark: the broker's ingest next to InfluxDB written directly, its limit.

Run with `make bench` (`uv run python bench/metrics_broker.py`; `--help` for a smaller scale). Everything
runs on this machine against real servers started by the project's scripts: a throwaway InfluxDB 1.x
(`deploy/local/influxdb.sh`), a PostgreSQL server (`tests.servers.postgres_server`) with a fresh database
migrated with alembic (qa_api's tables and the broker's spool), qa_api (the identity issuer,
`python -m qa_api`) and the broker as operators start it (`python -m metrics_broker`, one uvicorn
worker, its own process). Both sides of each figure write to the same InfluxDB, to databases of their
own. The load generator is `bench.load.LoadClient` on uvloop (about 0.1 ms of CPU per request).

single payloads (concurrency 32)
    Single-point `tfa_code_churn` payloads, each a distinct point (its own `Target_Tag` and time),
    exactly as TF-A's generator posts them: `POST /` with `Authorization: JWT <token>` (a `metrics:write`
    token made through qa_api). Figures: payloads/s (payloads / wall time) and p50/p99 of a request.
    Limit: the same points as line protocol, straight to InfluxDB's `/write`, one line per request, at
    the same concurrency. Targets: ratio >= 1.0 (the broker's group commit must make it at least as fast
    as writing directly), and the broker's p99 <= 100 ms.

the stack's floor (concurrency 32)
    The same single payloads to an empty FastAPI route under the same uvicorn (`bench/stack_floor.py`:
    it reads the body and answers 204, nothing else). No target: it shows what any FastAPI route can
    answer per second here, next to InfluxDB's one-line writes.

batches of 5,000 points (concurrency 4)
    The same kind of points, 5,000 per request, through `POST /api/v1/points` with an `Idempotency-Key`
    (a fresh UUID per request, as a careful client sends). Figure: points/s.
    Limit: the same 5,000 lines per `/write`, straight to InfluxDB, at the same concurrency.
    Target: ratio >= 0.5.

Every series is warmed up first (connections, database creation) on another measurement, bounded by a
time budget, and checked afterwards: InfluxDB must hold exactly the points acknowledged. Where the time
goes: the machine's CPU during each series is split between the broker, influxd, this load generator
and the rest (PostgreSQL, the kernel, other tenants of the machine). The broker's pid is printed on
stderr while it runs: `py-spy record -p PID` profiles it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import uvloop

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, bench/ is sys.path[0]: this file would shadow the metrics_broker package, and the repo
# root (for `bench.*` and `tests.*`) would be missing.
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

from bench.load import (  # noqa: E402
    Durations,
    LoadClient,
    log,
    machine_cpu_s,
    process_cpu_s,
)
from metrics_broker.influx.line_protocol import MetricPoint, encode  # noqa: E402
from tests.processes import free_port  # noqa: E402
from tests.qa_api.e2e.qa_api_process import LiveQaApi, running_qa_api  # noqa: E402
from tests.servers import fresh_database, migrate, postgres_server, server_folder  # noqa: E402

INFLUX_SCRIPT = ROOT / "deploy/local/influxdb.sh"
MEASUREMENT = "TFA_CodeChurn_Tracking"
WARM_UP_MEASUREMENT = "Bench_Warm_Up"
BROKER_DATABASE = "Bench_Broker_CodeChurn"
RAW_DATABASE = "Bench_Raw_CodeChurn"
BATCH_POINTS = 5000
# 2020-11-17 16:43:51 UTC, the samples' commit: each point is one second after the one before
FIRST_TIME_S = 1_605_631_431


@dataclass(frozen=True)
class Scale:
    payloads: int
    concurrency: int
    batches: int
    batch_concurrency: int
    budget_s: float


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds spent during a series, by who spent them (NaN: not measurable here)."""

    broker_s: float
    influxd_s: float
    client_s: float
    machine_s: float

    @property
    def other_s(self) -> float:
        known = (value for value in (self.broker_s, self.influxd_s) if not math.isnan(value))
        return self.machine_s - self.client_s - sum(known)


class CpuMeter:
    def __init__(self, broker_pid: int | None, influxd_pid: int) -> None:
        self.pids = (broker_pid, influxd_pid)

    def start(self) -> CpuMeter:
        self.before = [math.nan if pid is None else process_cpu_s(pid) for pid in self.pids]
        self.client = time.process_time()
        self.machine = machine_cpu_s()
        return self

    def stop(self) -> CpuUse:
        after = [math.nan if pid is None else process_cpu_s(pid) for pid in self.pids]
        return CpuUse(
            broker_s=after[0] - self.before[0],
            influxd_s=after[1] - self.before[1],
            client_s=time.process_time() - self.client,
            machine_s=machine_cpu_s() - self.machine,
        )


@dataclass(frozen=True)
class Series:
    """One series: requests completed, points they carried, wall time, latencies, CPU."""

    label: str
    requests: int
    planned: int
    points: int
    elapsed_s: float
    latencies: Durations
    cpu: CpuUse

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else math.nan

    @property
    def points_per_s(self) -> float:
        return self.points / self.elapsed_s if self.elapsed_s else math.nan


# --- what is sent -----------------------------------------------------------------------------------------


def churn_point(index: int, measurement: str = MEASUREMENT) -> MetricPoint:
    """One distinct code-churn point, as the broker stores it (tags as TF-A's generator sends them):
    distinct by its time; 1,000 tag values (InfluxDB refuses more than 100,000 values per tag)."""
    return MetricPoint(
        measurement=measurement,
        tags={"Git_Tag_Date": "20201117", "Base_Tag": "v2.3", "Target_Tag": f"t{index % 1000}"},
        fields={"Lines_of_Change": 1000 + index % 5000},
        time_ns=(FIRST_TIME_S + index) * 10**9,
    )


def point_json(point: MetricPoint) -> dict[str, object]:
    return {
        "measurement": point.measurement,
        "tags": {**point.tags, "Git_Tag_Date": int(point.tags["Git_Tag_Date"])},
        "fields": dict(point.fields),
        "time": point.time_ns,
    }


def tfa_payload(point: MetricPoint) -> bytes:
    """What TF-A's generator posts to `POST /` for one point."""
    body = {"api_version": "1.0", "metadata": {"metrics": "tfa_code_churn"}, "data": [point_json(point)]}
    return json.dumps(body).encode()


def points_batch(points: Sequence[MetricPoint]) -> bytes:
    """A `POST /api/v1/points` body."""
    return json.dumps({"kind": "tfa_code_churn", "points": [point_json(point) for point in points]}).encode()


def line_body(points: Sequence[MetricPoint]) -> bytes:
    return "\n".join(encode(point) for point in points).encode()


# --- servers ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Influx:
    url: str
    pid: int


@contextmanager
def influxdb() -> Iterator[Influx]:
    """A throwaway influxd, started and stopped by the project's script."""
    folder = server_folder("qahub-bench-influx-")
    subprocess.run([INFLUX_SCRIPT, "install"], check=True)
    try:
        url = subprocess.run(
            [INFLUX_SCRIPT, "start", folder / "influxdb"], check=True, capture_output=True, text=True
        ).stdout.strip()
        pid = int((folder / "influxdb" / "influxd.pid").read_text())
        log(f"influxd pid {pid} on {url}")
        yield Influx(url=url, pid=pid)
    finally:
        subprocess.run([INFLUX_SCRIPT, "stop", folder / "influxdb"], check=False)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class Broker:
    base_url: str
    pid: int
    token: str


async def _metrics_token(qa_api: LiveQaApi) -> str:
    """A CI token as `qahub token create --scope metrics:write` makes it, through the admin's login."""
    async with httpx.AsyncClient(base_url=qa_api.url, timeout=30, trust_env=False) as client:
        login = await client.post(
            "/api/v2/auth/login",
            json={"username": qa_api.admin_username, "password": qa_api.admin_password},
        )
        login.raise_for_status()
        created = await client.post(
            "/api/v2/tokens",
            json={"name": "bench", "scopes": ["metrics:write"], "expires_in_days": 1},
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        )
        if created.status_code != 201:
            raise RuntimeError(f"POST /api/v2/tokens → {created.status_code}: {created.text[:500]}")
        token: str = created.json()["access_token"]
        return token


@asynccontextmanager
async def broker_server(influx: Influx, qa_api: LiveQaApi, database_url: str) -> AsyncIterator[Broker]:
    """Start `python -m metrics_broker` on a free loopback port; yield it once it stores payloads."""
    port = free_port()
    env = {
        **os.environ,
        "QAHUB_DATABASE_URL": database_url,
        "QAHUB_INFLUX_URL": influx.url,
        "QAHUB_API_URL": qa_api.url,
        "QAHUB_INFLUX_DATABASES": json.dumps({"tfa_code_churn": BROKER_DATABASE}),
        "QAHUB_METRICS_BROKER_HOST": "127.0.0.1",
        "QAHUB_METRICS_BROKER_PORT": str(port),
        "QAHUB_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen([sys.executable, "-m", "metrics_broker"], env=env, cwd=ROOT)  # noqa: ASYNC220
    base_url = f"http://127.0.0.1:{port}"
    token = await _metrics_token(qa_api)
    try:
        probe = LoadClient(base_url, f"JWT {token}")
        body = tfa_payload(churn_point(0, WARM_UP_MEASUREMENT))
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(f"the broker exited with status {process.returncode}")
            try:
                # 503 until it has loaded qa_api's revocations once
                status, _ = await probe.post("/", body)
                if status == 204:
                    break
            except OSError:
                pass
            probe.close()
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("the broker did not store a payload within 30 s")
        probe.close()
        log(f"broker pid {process.pid} on {base_url} (profile it with: py-spy record -p {process.pid})")
        yield Broker(base_url=base_url, pid=process.pid, token=token)
    finally:
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)


@asynccontextmanager
async def floor_server() -> AsyncIterator[tuple[str, int]]:
    """Start the empty FastAPI route (`bench/stack_floor.py`) under uvicorn; yield its URL and pid."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.stack_floor:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(command, cwd=ROOT)  # noqa: ASYNC220
    base_url = f"http://127.0.0.1:{port}"
    try:
        probe = LoadClient(base_url, None)
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(f"the empty route exited with status {process.returncode}")
            try:
                if (await probe.post("/", b"{}"))[0] == 204:
                    break
            except OSError:
                pass
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("the empty route did not answer within 30 s")
        probe.close()
        yield base_url, process.pid
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait)


# --- series -----------------------------------------------------------------------------------------------


Send = Callable[[bytes], Awaitable[None]]


async def run_series(
    label: str,
    *,
    send: Send,
    bodies: Sequence[bytes],
    points_per_body: int,
    warm_up: Sequence[bytes],
    concurrency: int,
    budget_s: float,
    meter: CpuMeter,
) -> Series:
    """Send `bodies`, `concurrency` at a time, until done or out of time; each request is timed."""
    warm = iter(warm_up)

    async def warm_worker() -> None:
        for body in warm:
            await send(body)

    await asyncio.gather(*(warm_worker() for _ in range(concurrency)))

    latencies = Durations()
    pending = iter(bodies)
    sent = 0
    deadline = time.perf_counter() + budget_s

    async def worker() -> None:
        nonlocal sent
        for body in pending:
            started = time.perf_counter()
            await send(body)
            latencies.add(time.perf_counter() - started)
            sent += 1
            if time.perf_counter() > deadline:
                return

    meter.start()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, meter.stop()
    log(f"{label}: {sent:,}/{len(bodies):,} requests in {elapsed:.1f} s ({sent / elapsed:,.0f}/s)")
    return Series(
        label=label,
        requests=sent,
        planned=len(bodies),
        points=sent * points_per_body,
        elapsed_s=elapsed,
        latencies=latencies,
        cpu=cpu,
    )


def influx_sender(client: LoadClient, database: str) -> Send:
    path = f"/write?db={quote(database)}&precision=ns"

    async def send(body: bytes) -> None:
        status, answer = await client.post(path, body, content_type="text/plain; charset=utf-8")
        if status != 204:
            raise RuntimeError(f"POST {path} → {status}: {answer[:500]!r}")

    return send


def broker_sender(client: LoadClient, path: str, *, idempotency_keys: bool = False) -> Send:
    expected = 200 if path != "/" else 204

    async def send(body: bytes) -> None:
        headers = f"Idempotency-Key: {uuid.uuid4()}\r\n" if idempotency_keys else ""
        status, answer = await client.post(path, body, headers=headers)
        if status != expected:
            raise RuntimeError(f"POST {path} → {status}: {answer[:500]!r}")

    return send


async def count_points(influx: Influx, database: str) -> int:
    async with httpx.AsyncClient(base_url=influx.url, timeout=60, trust_env=False) as client:
        response = await client.get(
            "/query",
            params={"db": database, "q": f'SELECT count("Lines_of_Change") FROM "{MEASUREMENT}"'},  # noqa: S608
        )
        response.raise_for_status()
        series = response.json()["results"][0].get("series")
        return int(series[0]["values"][0][1]) if series else 0


async def create_database(influx: Influx, database: str) -> None:
    async with httpx.AsyncClient(base_url=influx.url, timeout=60, trust_env=False) as client:
        (await client.post("/query", params={"q": f'CREATE DATABASE "{database}"'})).raise_for_status()


async def verify(influx: Influx, database: str, expected: int) -> None:
    found = await count_points(influx, database)
    if found != expected:
        raise RuntimeError(f"{database}: {expected:,} points acknowledged, {found:,} in InfluxDB")


async def measure(
    influx: Influx, qa_api: LiveQaApi, database_url: str, scale: Scale
) -> tuple[Series, Series, Series, Series, Series]:
    single = [churn_point(index) for index in range(scale.payloads)]
    batched = [
        churn_point(index) for index in range(scale.payloads, scale.payloads + scale.batches * BATCH_POINTS)
    ]
    warm_single = [churn_point(index, WARM_UP_MEASUREMENT) for index in range(scale.concurrency * 20)]
    warm_batch = [churn_point(index, WARM_UP_MEASUREMENT) for index in range(BATCH_POINTS)]
    await create_database(influx, RAW_DATABASE)
    async with broker_server(influx, qa_api, database_url) as broker:
        broker_client = LoadClient(broker.base_url, f"JWT {broker.token}")
        raw_client = LoadClient(influx.url.removesuffix("/"), None)
        try:
            # each series opens its connections afresh in its warm-up: none idles out between series
            meter = CpuMeter(broker.pid, influx.pid)
            log(f"single payloads: {scale.payloads:,} through the broker at concurrency {scale.concurrency}")
            broker_single = await run_series(
                "broker POST /",
                send=broker_sender(broker_client, "/"),
                bodies=[tfa_payload(point) for point in single],
                points_per_body=1,
                warm_up=[tfa_payload(point) for point in warm_single],
                concurrency=scale.concurrency,
                budget_s=scale.budget_s,
                meter=meter,
            )
            await verify(influx, BROKER_DATABASE, broker_single.points)
            broker_client.close()
            log(f"single payloads: {scale.payloads:,} to an empty FastAPI route (the stack's floor)")
            async with floor_server() as (floor_url, floor_pid):
                floor_client = LoadClient(floor_url, f"JWT {broker.token}")
                try:
                    floor_single = await run_series(
                        "empty FastAPI route",
                        send=broker_sender(floor_client, "/"),
                        bodies=[tfa_payload(point) for point in single],
                        points_per_body=1,
                        warm_up=[tfa_payload(point) for point in warm_single],
                        concurrency=scale.concurrency,
                        budget_s=scale.budget_s,
                        meter=CpuMeter(floor_pid, influx.pid),
                    )
                finally:
                    floor_client.close()
            log(f"single payloads: {scale.payloads:,} lines straight to InfluxDB, one per request")
            raw_single = await run_series(
                "InfluxDB /write, 1 line",
                send=influx_sender(raw_client, RAW_DATABASE),
                bodies=[line_body([point]) for point in single],
                points_per_body=1,
                warm_up=[line_body([point]) for point in warm_single],
                concurrency=scale.concurrency,
                budget_s=scale.budget_s,
                meter=meter,
            )
            await verify(influx, RAW_DATABASE, raw_single.points)
            raw_client.close()
            chunks = [batched[n : n + BATCH_POINTS] for n in range(0, len(batched), BATCH_POINTS)]
            log(f"batches: {scale.batches} x {BATCH_POINTS:,} points through /api/v1/points")
            broker_batch = await run_series(
                "broker /api/v1/points",
                send=broker_sender(broker_client, "/api/v1/points", idempotency_keys=True),
                bodies=[points_batch(chunk) for chunk in chunks],
                points_per_body=BATCH_POINTS,
                warm_up=[points_batch(warm_batch)] * 2,
                concurrency=scale.batch_concurrency,
                budget_s=scale.budget_s,
                meter=meter,
            )
            await verify(influx, BROKER_DATABASE, broker_single.points + broker_batch.points)
            broker_client.close()
            log(f"batches: {scale.batches} x {BATCH_POINTS:,} lines straight to InfluxDB")
            raw_batch = await run_series(
                "InfluxDB /write, 5,000 lines",
                send=influx_sender(raw_client, RAW_DATABASE),
                bodies=[line_body(chunk) for chunk in chunks],
                points_per_body=BATCH_POINTS,
                warm_up=[line_body(warm_batch)] * 2,
                concurrency=scale.batch_concurrency,
                budget_s=scale.budget_s,
                meter=meter,
            )
            await verify(influx, RAW_DATABASE, raw_single.points + raw_batch.points)
        finally:
            broker_client.close()
            raw_client.close()
    return broker_single, raw_single, broker_batch, raw_batch, floor_single


# --- report -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    bench: str
    label: str
    value: float
    limit: float
    target: str
    met: bool | None

    @property
    def ratio(self) -> float:
        return self.value / self.limit if self.limit else math.nan


def figures(
    broker_single: Series, raw_single: Series, broker_batch: Series, raw_batch: Series, floor_single: Series
) -> list[Figure]:
    single_ratio = broker_single.requests_per_s / raw_single.requests_per_s
    batch_ratio = broker_batch.points_per_s / raw_batch.points_per_s
    p99 = broker_single.latencies.p99_ms
    return [
        Figure(
            "metrics_broker.single.payloads_per_s",
            "single payloads/s, c=32 (vs 1-line /write)",
            broker_single.requests_per_s,
            raw_single.requests_per_s,
            ">= 1.0",
            single_ratio >= 1.0,
        ),
        Figure(
            "metrics_broker.single.p50_ms",
            "single payload p50 ms (vs 1-line /write)",
            broker_single.latencies.p50_ms,
            raw_single.latencies.p50_ms,
            "",
            None,
        ),
        Figure(
            "metrics_broker.single.p99_ms",
            "single payload p99 ms (vs 1-line /write)",
            p99,
            raw_single.latencies.p99_ms,
            "<= 100ms",
            p99 <= 100,
        ),
        Figure(
            "metrics_broker.single.fastapi_floor_per_s",
            "empty FastAPI route, req/s (vs 1-line /write)",
            floor_single.requests_per_s,
            raw_single.requests_per_s,
            "",
            None,
        ),
        Figure(
            "metrics_broker.batch.points_per_s",
            "5,000-point batches, points/s (vs /write)",
            broker_batch.points_per_s,
            raw_batch.points_per_s,
            ">= 0.5",
            batch_ratio >= 0.5,
        ),
        Figure(
            "metrics_broker.batch.p99_ms",
            "5,000-point batch p99 ms (vs /write)",
            broker_batch.latencies.p99_ms,
            raw_batch.latencies.p99_ms,
            "",
            None,
        ),
    ]


def cpu_line(series: Series) -> str:
    cpu, cpus = series.cpu, os.cpu_count() or 1

    def ms(seconds: float) -> str:
        return "    n/a" if math.isnan(seconds) else f"{seconds * 1000 / series.requests:7.2f}"

    return (
        f"  {series.label:<30} {ms(cpu.broker_s)} {ms(cpu.influxd_s)} {ms(cpu.client_s)} {ms(cpu.other_s)}"
        f"   {cpu.machine_s / series.elapsed_s / cpus:4.0%}"
    )


def print_report(rows: Sequence[Figure], series: Sequence[Series], context: str, runtime_s: float) -> None:
    print(f"metrics_broker benchmark: {context}")
    header = f"{'figure':<46} {'value':>10} {'limit':>10} {'ratio':>7}  {'target':<9} {'met':<4}"
    print(header)
    print("-" * len(header))
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "NO")
        print(
            f"{row.label:<46} {row.value:>10.1f} {row.limit:>10.1f} {row.ratio:>7.2f}"
            f"  {row.target:<9} {met:<4}"
        )
    print()
    for each in series:
        cut = " (cut by the time budget)" if each.requests < each.planned else ""
        print(
            f"{each.label}: {each.requests:,}/{each.planned:,} requests, {each.points:,} points in"
            f" {each.elapsed_s:.1f} s; p50 {each.latencies.p50_ms:.1f} ms,"
            f" p99 {each.latencies.p99_ms:.1f} ms{cut}"
        )
    print(f"CPU ms per request; machine busy over {os.cpu_count()} CPUs")
    print(f"  {'':<30} {'broker':>7} {'influxd':>7} {'client':>7} {'other':>7}   busy")
    for each in series:
        print(cpu_line(each))
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


def parse_scale(argv: Sequence[str] | None = None) -> Scale:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--payloads", type=int, default=40_000, help="single-point payloads (40,000)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent single-payload clients (32)")
    parser.add_argument("--batches", type=int, default=200, help="5,000-point batches (200)")
    parser.add_argument("--batch-concurrency", type=int, default=4, help="concurrent batch clients (4)")
    parser.add_argument("--budget", type=float, default=120, help="seconds per series at most (120)")
    args = parser.parse_args(argv)
    if min(args.payloads, args.concurrency, args.batches, args.batch_concurrency) < 1:
        parser.error("every count must be at least 1")
    return Scale(
        payloads=args.payloads,
        concurrency=args.concurrency,
        batches=args.batches,
        batch_concurrency=args.batch_concurrency,
        budget_s=args.budget,
    )


def main(argv: Sequence[str] | None = None) -> None:
    scale = parse_scale(argv)
    started = time.perf_counter()
    with (
        influxdb() as influx,
        postgres_server() as server_url,
        fresh_database(server_url, "qahub_bench_broker") as database_url,
    ):
        migrate(database_url)
        migrate(database_url, "metrics_broker")
        workdir = Path(tempfile.mkdtemp(prefix="qahub-bench-qa-api-"))
        try:
            with running_qa_api(database_url, workdir) as qa_api:
                series = uvloop.run(measure(influx, qa_api, database_url, scale))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        version = subprocess.run(["influxd", "version"], capture_output=True, text=True, check=False).stdout
    runtime = time.perf_counter() - started
    context = (
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {version.strip() or 'InfluxDB 1.x'},"
        " 1 uvicorn worker, load generator on the same machine"
    )
    print_report(figures(*series), series, context, runtime)
    log(f"done in {runtime:.0f} s")


if __name__ == "__main__":
    main()
