"""Webhook listener benchmark: a burst of push deliveries, acknowledged and then visible in qa_api.

Run with `uv run python bench/webhook_listener.py` (`--help` for another scale). Everything runs on this
machine against real servers: a PostgreSQL server (`tests.servers.postgres_server`), a fresh database
migrated for qa_api and the listener (they share it, as they may in production), qa_api and the listener
each started as operators start them (`python -m ...`, one uvicorn worker, their own processes), and real
git repositories served over `file://`.

Workload: 10 repositories, each with 100 new commits on `main`, already pushed; then 1,000 GitLab `Push
Hook` deliveries (one per commit: `before` = its parent, `after` = it; bodies shaped like the fixtures)
sent at concurrency 32, the repositories interleaved, each repository's in order. httpx sends them (one
connections). They are sent by `bench.qa_api`'s minimal HTTP/1.1 connections (the bytes httpx would send,
for a tenth of its CPU: on a 2-CPU machine httpx alone would take half the machine at this rate).

Figures, and the limit each one is compared to (`ratio` = value / limit):

ack_p50_ms, ack_p99_ms
    Time from sending a delivery to its 202 (target p99 <= 25 ms). Limit: the same number of bare
    INSERTs of the same rows (headers and raw body) into the `delivery` table of another fresh
    database through asyncpg, 32 connections, each its own transaction: what storing alone costs.
ack_per_s
    Deliveries acknowledged per second over the burst. Limit: bare INSERTs per second.
visible_s
    From the first delivery sent until every commit of every repository is in its branch's history in
    qa_api (`GET /api/v2/commits?project=...&branch=main`). Limit: the burst's own duration (the time
    to acknowledge everything), so the ratio says how far processing trails acknowledgement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, bench/ is sys.path[0]: this file would shadow the webhook_listener package, and the
# repo root (for `tests.*`) would be missing.
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)

from bench.load import LoadClient, log  # noqa: E402
from tests.processes import free_port  # noqa: E402
from tests.servers import fresh_database, migrate, postgres_server  # noqa: E402
from tests.webhook_listener import payloads  # noqa: E402
from tests.webhook_listener.gitrepo import Origin, git  # noqa: E402
from tests.webhook_listener.qa_api_server import QaApiProcess  # noqa: E402

SECRET = "bench-hook-secret"  # noqa: S105 (the throwaway repositories' hook secret)


@dataclass(frozen=True)
class Scale:
    repositories: int
    commits: int
    """New commits (and deliveries) per repository."""
    concurrency: int
    visible_budget_s: float


@dataclass(frozen=True)
class Delivery:
    project: str
    body: bytes


@dataclass
class Figure:
    bench: str
    label: str
    value: float
    limit: float
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float:
        return self.value / self.limit if self.limit else float("nan")


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def make_origins(root: Path, scale: Scale) -> list[tuple[str, Origin, list[str]]]:
    """Repositories with a first commit on `main`, then `scale.commits` more, all pushed."""
    origins = []
    for index in range(scale.repositories):
        folder = root / f"repo-{index}"
        folder.mkdir()
        origin = Origin(folder)
        origin.commit("first")
        origin.push("HEAD:refs/heads/main")
        origins.append((f"bench/repo-{index}-{uuid.uuid4().hex[:6]}", origin, [origin.head()]))
    log(f"making {scale.repositories} x {scale.commits} commits")
    for _project, origin, shas in origins:
        for number in range(scale.commits):
            git(origin.work, "commit", "--quiet", "--allow-empty", "-m", f"change {number}")
            shas.append(git(origin.work, "rev-parse", "HEAD"))
        origin.push("HEAD:refs/heads/main")
    return origins


def deliveries_of(origins: list[tuple[str, Origin, list[str]]]) -> list[Delivery]:
    """One delivery per new commit, the repositories interleaved, each one's in push order."""
    per_repository = []
    for project, _origin, shas in origins:
        per_repository.append(
            [
                Delivery(
                    project,
                    json.dumps(
                        payloads.gitlab_push(
                            project,
                            ref="refs/heads/main",
                            before=shas[i - 1],
                            after=shas[i],
                            commits=[shas[i]],
                        )
                    ).encode(),
                )
                for i in range(1, len(shas))
            ]
        )
    return [delivery for batch in zip(*per_repository, strict=True) for delivery in batch]


class ListenerProcess:
    def __init__(self, database_url: str, api_url: str, token: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("QAHUB_")}
        env.update(
            QAHUB_WEBHOOK_DATABASE_URL=database_url,
            QAHUB_API_URL=api_url,
            QAHUB_WEBHOOK_PORT=str(self.port),
            QAHUB_WEBHOOK_ALLOW_FILE_URLS="true",
            QAHUB_WEBHOOK_QA_API_TOKEN=token,
            QAHUB_DATA_DIR=str(workdir / "data"),
            QAHUB_LOG_LEVEL="WARNING",
        )
        self.log = workdir / "listener.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "webhook_listener"],
                cwd=workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        log(f"listener pid {self.process.pid} on {self.url}")
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the listener exited:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1, trust_env=False).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the listener was not ready:\n{self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def register_all(
    client: httpx.AsyncClient, admin: dict[str, str], origins: list[tuple[str, Origin, list[str]]]
) -> None:
    for project, origin, _shas in origins:
        response = await client.post(
            "/api/v2/repositories",
            json={"provider": "gitlab", "project": project, "secret": SECRET, "clone_url": origin.url},
            headers=admin,
        )
        response.raise_for_status()
    # the first reconciliation of each (its first commit) before the burst
    for project, _origin, _shas in origins:
        while True:
            page = await client.get("/api/v2/deliveries", params={"project": project}, headers=admin)
            if all(item["state"] == "done" for item in page.json()["items"]):
                break
            await asyncio.sleep(0.1)


async def burst(
    client: LoadClient, deliveries: list[Delivery], concurrency: int
) -> tuple[list[float], float]:
    queue: asyncio.Queue[Delivery] = asyncio.Queue()
    for delivery in deliveries:
        queue.put_nowait(delivery)
    latencies: list[float] = []

    async def sender() -> None:
        while not queue.empty():
            delivery = queue.get_nowait()
            # as GitLab sends them; the client writes Content-Type itself
            headers = {k: v for k, v in payloads.gitlab_headers(SECRET).items() if k != "Content-Type"}
            lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            started = time.perf_counter()
            status, answer = await client.post("/webhooks/gitlab", delivery.body, headers=lines)
            latencies.append(time.perf_counter() - started)
            if status != 202:
                raise RuntimeError(f"delivery answered {status}: {answer[:300]!r}")

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


async def _branch_history(api: httpx.AsyncClient, project: str, branch: str) -> set[str] | None:
    """Every commit of the branch's history in qa_api, page after page; None while qa_api refuses."""
    seen: set[str] = set()
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"project": project, "branch": branch, "limit": 200}
        if cursor:
            params["cursor"] = cursor
        page = await api.get("/api/v2/commits", params=params)
        if page.status_code != 200:
            return None
        answer = page.json()
        seen |= {item["sha"] for item in answer["items"]}
        cursor = answer.get("next_cursor")
        if not cursor:
            return seen


async def wait_visible(
    api: httpx.AsyncClient, origins: list[tuple[str, Origin, list[str]]], budget_s: float
) -> bool:
    waiting = {project: shas for project, _origin, shas in origins}
    deadline = time.perf_counter() + budget_s
    while waiting and time.perf_counter() < deadline:
        for project, shas in list(waiting.items()):
            if await _branch_history(api, project, "main") == set(shas):
                del waiting[project]
        if waiting:
            await asyncio.sleep(0.05)
    if waiting:
        log(f"not visible within {budget_s:.0f} s: {sorted(waiting)}")
    return not waiting


async def listener_phase(
    database_url: str, workdir: Path, scale: Scale
) -> tuple[list[float], float, float, bool, int]:
    qa_api = QaApiProcess(database_url, workdir)
    qa_api.start()
    try:
        admin_token = qa_api.admin_token()
        token = qa_api.create_token(admin_token, name="webhook-listener", scopes=["commits:write"])
        origins = make_origins(workdir, scale)
        deliveries = deliveries_of(origins)
        listener = ListenerProcess(database_url, qa_api.url, token, workdir)
        try:
            limits = httpx.Limits(
                max_connections=scale.concurrency, max_keepalive_connections=scale.concurrency
            )
            admin = {"Authorization": f"Bearer {admin_token}"}
            async with (
                httpx.AsyncClient(
                    base_url=listener.url, limits=limits, timeout=30, trust_env=False
                ) as client,
                httpx.AsyncClient(base_url=qa_api.url, headers=admin, timeout=30, trust_env=False) as api,
            ):
                await register_all(client, admin, origins)
                body_bytes = len(deliveries[0].body)
                log(f"burst: {len(deliveries):,} deliveries of {body_bytes:,} bytes, c={scale.concurrency}")
                hooks = LoadClient(listener.url, None)
                started = time.perf_counter()
                try:
                    latencies, burst_s = await burst(hooks, deliveries, scale.concurrency)
                finally:
                    hooks.close()
                visible = await wait_visible(api, origins, scale.visible_budget_s)
                visible_s = time.perf_counter() - started
        finally:
            listener.stop()
        return latencies, burst_s, visible_s, visible, body_bytes
    finally:
        qa_api.stop()


async def insert_phase(database_url: str, scale: Scale, body_bytes: int) -> tuple[list[float], float]:
    """The same number of bare inserts of delivery rows, at the same concurrency."""
    pool = await asyncpg.create_pool(database_url, min_size=scale.concurrency, max_size=scale.concurrency)
    try:
        repository_id = await pool.fetchval(
            "INSERT INTO repository (provider, path, secret, clone_url)"
            " VALUES ('gitlab', 'bench/raw', $1, $2) RETURNING id",
            SECRET,
            "https://example.com/bench/raw.git",
        )
        headers = json.dumps({"content-type": "application/json", "x-gitlab-event": "Push Hook"})
        body = b"x" * body_bytes
        count = scale.repositories * scale.commits
        latencies: list[float] = []
        keys = iter(range(count))

        async def inserter() -> None:
            for key in keys:
                started = time.perf_counter()
                await pool.execute(
                    "INSERT INTO delivery (repository_id, provider, event, idempotency_key, headers, body)"
                    " VALUES ($1, 'gitlab', 'Push Hook', $2, $3::jsonb, $4)",
                    repository_id,
                    f"key-{key}",
                    headers,
                    body,
                )
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(inserter() for _ in range(scale.concurrency)))
        return latencies, time.perf_counter() - started
    finally:
        await pool.close()


def parse_scale(argv: Sequence[str] | None = None) -> Scale:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--repositories", type=int, default=10, help="repositories (10)")
    parser.add_argument(
        "--commits", type=int, default=100, help="new commits, one delivery each, per repository (100)"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent senders (32)")
    parser.add_argument("--visible-budget", type=float, default=300, help="seconds to wait for qa_api (300)")
    args = parser.parse_args(argv)
    if min(args.repositories, args.commits, args.concurrency) < 1:
        parser.error("every count must be at least 1")
    return Scale(args.repositories, args.commits, args.concurrency, args.visible_budget)


def main(argv: Sequence[str] | None = None) -> None:
    scale = parse_scale(argv)
    started = time.perf_counter()
    with postgres_server() as server_url, tempfile.TemporaryDirectory(prefix="qahub-bench-hooks-") as tmp:
        with fresh_database(server_url, "qahub_bench_hooks") as database_url:
            migrate(database_url)
            migrate(database_url, "webhook_listener")
            acks, burst_s, visible_s, visible, body_bytes = asyncio.run(
                listener_phase(database_url, Path(tmp), scale)
            )
        with fresh_database(server_url, "qahub_bench_inbox") as database_url:
            migrate(database_url, "webhook_listener")
            inserts, inserts_s = asyncio.run(insert_phase(database_url, scale, body_bytes))
    count = len(acks)
    p99 = percentile(acks, 0.99) * 1000
    rows = [
        Figure(
            "webhook_listener.ack_p50_ms",
            "acknowledgement p50 (ms)",
            percentile(acks, 0.5) * 1000,
            percentile(inserts, 0.5) * 1000,
        ),
        Figure(
            "webhook_listener.ack_p99_ms",
            "acknowledgement p99 (ms)",
            p99,
            percentile(inserts, 0.99) * 1000,
            "<= 25",
            p99 <= 25,
        ),
        Figure(
            "webhook_listener.ack_per_s",
            "deliveries acknowledged per s",
            count / burst_s,
            len(inserts) / inserts_s,
        ),
        Figure(
            "webhook_listener.visible_s",
            "every commit visible in qa_api (s)",
            visible_s,
            burst_s,
            "",
            visible,
        ),
    ]
    print(
        f"webhook listener benchmark: {os.cpu_count()} CPUs, Python {platform.python_version()},"
        f" {scale.repositories} repositories x {scale.commits} deliveries, c={scale.concurrency},"
        f" body {body_bytes:,} bytes; limit = bare INSERTs into the inbox (c={scale.concurrency}),"
        " and for visibility the burst's duration"
    )
    header = f"{'figure':<40} {'value':>9} {'limit':>9} {'ratio':>7}  {'target':<7} met"
    print(header)
    print("-" * len(header))
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "NO")
        print(f"{row.label:<40} {row.value:>9.2f} {row.limit:>9.2f} {row.ratio:>7.2f}  {row.target:<7} {met}")
    runtime_s = time.perf_counter() - started
    print(f"mean acknowledgement {statistics.fmean(acks) * 1000:.2f} ms; total runtime {runtime_s:.0f} s")
    if not visible:
        print(f"NOT every commit was visible within {scale.visible_budget_s:.0f} s")
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


if __name__ == "__main__":
    main()
