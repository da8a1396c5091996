"""`GET /metrics`: the broker in Prometheus' text format (version 0.0.4), without a client library.

    metrics_broker_requests_total{method, route, status}    every request (route: its template)
    metrics_broker_points_total{database, stored}           points acknowledged: stored=influxdb|spool
    metrics_broker_points_rejected_total{database}          points of payloads InfluxDB refused (422)
    metrics_broker_points_drained_total                     spooled points the drainer wrote since start
    metrics_broker_influxdb_up                               1 when InfluxDB answered this scrape's ping
    metrics_broker_spool_up                                  1 when the spool answered this scrape
    metrics_broker_spool_payloads / _points                  what waits in the spool now
    metrics_broker_spool_oldest_age_seconds                  how long the oldest spooled payload waited
    metrics_broker_dead_letters                              spooled payloads InfluxDB rejected later

Counters are per process, since it started. Routes are templates (`/schemas/{kind}`), so a client
cannot grow the series with made-up paths.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from metrics_broker.influx.client import InfluxDB, InfluxUnavailable
from metrics_broker.spool.drainer import Drainer
from metrics_broker.spool.repository import Spool, SpoolUnavailable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Counters:
    requests: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    points: Counter[tuple[str, str]] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)


class RequestCounter:
    """ASGI middleware: counts each response by method, route template and status."""

    def __init__(self, app: ASGIApp, *, counters: Counters) -> None:
        self.app = app
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def remember_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, remember_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.counters.requests[(scope["method"], template, str(status))] += 1


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(
    name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]
) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        rendered = ",".join(f'{key}="{_label(text)}"' for key, text in labels.items())
        lines.append(f"{name}{{{rendered}}} {value:g}" if rendered else f"{name} {value:g}")
    return lines


async def render(counters: Counters, influx: InfluxDB, spool: Spool, drainer: Drainer) -> str:
    """The exposition text; InfluxDB and the spool are asked now (a down one reads as `_up 0`)."""
    try:
        await influx.ping()
        influx_up = 1.0
    except InfluxUnavailable:
        influx_up = 0.0
    try:
        stats = await spool.stats()
    except SpoolUnavailable:
        stats = None
    lines = [
        *_family(
            "metrics_broker_requests_total",
            "counter",
            "Requests answered, by method, route and status.",
            (
                ({"method": method, "route": route, "status": status}, count)
                for (method, route, status), count in sorted(counters.requests.items())
            ),
        ),
        *_family(
            "metrics_broker_points_total",
            "counter",
            "Points acknowledged, by database and where they were stored (influxdb or spool).",
            (({"database": db, "stored": stored}, n) for (db, stored), n in sorted(counters.points.items())),
        ),
        *_family(
            "metrics_broker_points_rejected_total",
            "counter",
            "Points of payloads InfluxDB rejected (422 to their sender; InfluxDB may have kept some).",
            (({"database": db}, n) for db, n in sorted(counters.rejected.items())),
        ),
        *_family(
            "metrics_broker_points_drained_total",
            "counter",
            "Spooled points the drainer wrote to InfluxDB.",
            [({}, drainer.drained_points)],
        ),
        *_family("metrics_broker_influxdb_up", "gauge", "1 when InfluxDB answered.", [({}, influx_up)]),
        *_family(
            "metrics_broker_spool_up",
            "gauge",
            "1 when the spool answered.",
            [({}, 0.0 if stats is None else 1.0)],
        ),
        *_family(
            "metrics_broker_spool_backlog",
            "gauge",
            "1 for each database whose new payloads queue behind spooled ones.",
            (({"database": db}, 1) for db in drainer.backlogged_databases),
        ),
        *_family(
            "metrics_broker_spool_retry_delay_seconds",
            "gauge",
            "Databases InfluxDB could not take lately (down, slow, refusing): the drainer's current delay.",
            (({"database": db}, delay) for db, delay in drainer.waiting_databases().items()),
        ),
    ]
    if stats is not None:
        oldest = stats.oldest_accepted_at
        age = 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
        lines += [
            *_family(
                "metrics_broker_spool_payloads",
                "gauge",
                "Payloads waiting in the spool.",
                [({}, stats.payloads)],
            ),
            *_family(
                "metrics_broker_spool_points", "gauge", "Points waiting in the spool.", [({}, stats.points)]
            ),
            *_family(
                "metrics_broker_spool_oldest_age_seconds",
                "gauge",
                "How long the oldest spooled payload has waited (0 when none).",
                [({}, age)],
            ),
            *_family(
                "metrics_broker_dead_letters",
                "gauge",
                "Spooled payloads InfluxDB rejected after they were acknowledged.",
                [({}, stats.dead_letters)],
            ),
        ]
    return "\n".join(lines) + "\n"


router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> PlainTextResponse:
    """Counters since the process started, and the state of InfluxDB and of the spool now."""
    text = await render(
        request.app.state.counters, request.state.influx, request.state.spool, request.state.drainer
    )
    return PlainTextResponse(text, media_type=CONTENT_TYPE)
