"""`qahub gate`: wait for a commit's batch to finish, then pass or fail it on `GET /api/v2/verdict`.

Exit statuses: 0 pass, 1 fail, 2 anything that kept the gate from deciding (the server unreachable or
answering an error: an unknown commit, a bad token; an answer that is not a verdict, such as a proxy's
sign-in page; still pending when `--timeout` expires; bad options). CI reads 1 as a regression, so
nothing but a `fail` verdict exits 1. The verdict's table (or, with `--json`, the verdict itself) goes
to stdout; progress and the one-line outcome go to stderr.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TextIO

import typer

from qahub_cli.server import RequestFailed, Server

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
# answers worth waiting out while the batch runs: a proxy or a restarting server
_TRANSIENT = {502, 503, 504}
_HEARTBEAT_S = 60.0  # without a terminal, a progress line at least this often
_STATUSES = {"pending", "pass", "fail"}
# what the gate reads of `GET /api/v2/verdict`'s answer (qa_api's `BatchVerdict`)
_VERDICT_KEYS = (
    "status",
    "description",
    "project",
    "commit",
    "batch",
    "reference",
    "outputs",
    "reasons",
    "worse",
    "worse_count",
    "better_count",
    "summary",
)
_NESTED_KEYS = {"reference": ("sha", "batch", "project", "reason"), "outputs": ("done", "total")}

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$")
_SECONDS_PER_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_seconds(text: str) -> float:
    """`30m`, `5s`, `1h`, `500ms` or a bare number of seconds → seconds."""
    match = _DURATION.match(text.strip().lower())
    if not match or float(match.group(1)) <= 0:
        raise typer.BadParameter("a positive duration such as 30m, 5s, 1h or 90 (seconds)")
    return float(match.group(1)) * _SECONDS_PER_UNIT[match.group(2)]


def error(message: str) -> NoReturn:
    typer.echo(f"qahub gate: {message}", err=True)
    raise typer.Exit(EXIT_ERROR)


@dataclass(frozen=True)
class GateQuery:
    project: str
    commit: str
    batch: str
    reference: str | None
    reference_batch: str | None
    reference_project: str | None

    def params(self) -> dict[str, str]:
        found = {
            "project": self.project,
            "commit": self.commit,
            "batch": self.batch,
            "reference": self.reference,
            "reference_batch": self.reference_batch,
            "reference_project": self.reference_project,
        }
        return {name: value for name, value in found.items() if value is not None}


class Progress:
    """`outputs done/total` on stderr: one line rewritten in place on a terminal, else (CI logs) a line
    when the count changes, and at least once a minute."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._clock = clock
        self._started = clock()
        self._last: tuple[str, float] | None = None

    def show(self, verdict: dict[str, Any]) -> None:
        outputs = verdict["outputs"]
        elapsed = self._clock() - self._started
        line = (
            f"qahub gate: waiting for {verdict['project']} {verdict['commit'][:8]} batch {verdict['batch']}: "
            f"outputs {outputs['done']}/{outputs['total']} done"
        )
        if outputs["total"] == 0:
            line += " (no outputs yet)"
        if self._tty:
            self._stream.write(f"\r{line} [{_duration(elapsed)}]\x1b[K")
            self._stream.flush()
            self._last = (line, elapsed)
            return
        if self._last is None or self._last[0] != line or elapsed - self._last[1] >= _HEARTBEAT_S:
            self._stream.write(f"{line} [{_duration(elapsed)}]\n")
            self._stream.flush()
            self._last = (line, elapsed)

    def end(self) -> None:
        if self._tty and self._last is not None:
            self._stream.write("\n")
            self._stream.flush()
            self._last = None


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def wait_for_verdict(
    target: Server,
    query: GateQuery,
    *,
    timeout_s: float,
    interval_s: float,
    progress: Progress,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll the verdict until it is no longer pending; exits with status 2 on an error, or when still
    pending at the deadline (then the last verdict is printed first with `--json`, see `run`)."""
    deadline = clock() + timeout_s
    last: dict[str, Any] | None = None
    while True:
        try:
            verdict: dict[str, Any] = target.call(
                "GET", "/api/v2/verdict", params=query.params(), token_required=False
            )
        except RequestFailed as failure:
            # once the gate has an answer, a blip of the network or a proxy is waited out
            transient = failure.status_code is None or failure.status_code in _TRANSIENT
            if last is None or not transient or clock() >= deadline:
                progress.end()
                error(str(failure))
            typer.echo(f"qahub gate: {failure}; trying again", err=True)
        else:
            _check_verdict(verdict, target.url)
            last = verdict
            if verdict["status"] != "pending":
                progress.end()
                return verdict
            progress.show(verdict)
        now = clock()
        if now >= deadline:
            progress.end()
            raise _Timeout(last, timeout_s)
        sleep(min(interval_s, deadline - now))


def _check_verdict(answer: Any, url: str) -> None:
    """Exits with status 2 unless `answer` has a verdict's status and the keys the gate reads."""
    if not isinstance(answer, dict):
        error(f"{url} answered {type(answer).__name__} JSON, not a verdict")
    missing = [key for key in _VERDICT_KEYS if key not in answer]
    for key, inner in _NESTED_KEYS.items():
        if key in answer:
            if not isinstance(answer[key], dict):
                missing.append(key)
            else:
                missing += [f"{key}.{name}" for name in inner if name not in answer[key]]
    if "status" in answer and answer["status"] not in _STATUSES:
        error(f"{url} answered a verdict status of {_short(answer['status'])}, not pending, pass or fail")
    if missing:
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        error(f"{url} answered JSON that is not a verdict: no {shown}")


def _short(value: Any) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else f"{text[:57]}..."


class _Timeout(Exception):
    def __init__(self, verdict: dict[str, Any] | None, timeout_s: float) -> None:
        super().__init__()
        self.verdict = verdict
        self.timeout_s = timeout_s


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}%"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def report(verdict: dict[str, Any]) -> list[str]:
    """The verdict as a person reads it: the outcome, its reasons, the worse outputs, the counts."""
    reference = verdict["reference"]
    lines = [
        f"{verdict['status'].upper()}: {verdict['project']} {verdict['commit'][:8]} batch {verdict['batch']} "
        f"against {reference['sha'][:8]} batch {reference['batch']}"
        + (f" of {reference['project']}" if reference["project"] != verdict["project"] else "")
        + f" ({reference['reason']})",
    ]
    lines += [f"  {reason}" for reason in verdict["reasons"]]
    if verdict["worse"]:
        shown, count = len(verdict["worse"]), verdict["worse_count"]
        lines += ["", f"Worse ({shown} of {count}):" if shown < count else f"Worse ({count}):"]
        rows = [["input", "platform", "metric", "commit", "reference", "delta"]]
        for output in verdict["worse"]:
            if output["failed"]:
                rows.append([output["input_path"], output["platform"], "(run failed)", "", "", ""])
            for name, metric in output["metrics"].items():
                rows.append(
                    [
                        output["input_path"],
                        output["platform"],
                        name,
                        _number(metric["commit"]),
                        _number(metric["reference"]),
                        _percent(metric["delta_percent"]),
                    ]
                )
        lines += _table(rows)
    if verdict["summary"]:
        lines += [
            "",
            f"Outputs by verdict ({verdict['better_count']} better, {verdict['worse_count']} worse):",
        ]
        rows = [["metric", "better", "worse", "same", "new", "missing", "median"]]
        for name, counts in verdict["summary"].items():
            rows.append(
                [
                    name,
                    *(str(counts[key]) for key in ("better", "worse", "same", "new", "missing")),
                    counts["verdict"] or "-",
                ]
            )
        lines += _table(rows)
    return lines


def run(target: Server, query: GateQuery, *, timeout_s: float, interval_s: float, as_json: bool) -> NoReturn:
    """Wait, print the verdict, and exit 0 (pass), 1 (fail) or 2 (see the module's docstring): anything
    unexpected (an answer shaped unlike a verdict) exits 2 with one line, never 1 with a traceback."""
    progress = Progress(sys.stderr)
    try:
        _decide(target, query, timeout_s=timeout_s, interval_s=interval_s, as_json=as_json, progress=progress)
    except typer.Exit:
        raise
    except Exception as unexpected:  # CI must not read a crash as a regression
        progress.end()
        detail = " ".join(str(unexpected).split())
        error(f"cannot read {target.url}'s answer as a verdict: {type(unexpected).__name__}: {detail}")


def _decide(
    target: Server,
    query: GateQuery,
    *,
    timeout_s: float,
    interval_s: float,
    as_json: bool,
    progress: Progress,
) -> NoReturn:
    try:
        verdict = wait_for_verdict(
            target, query, timeout_s=timeout_s, interval_s=interval_s, progress=progress
        )
    except _Timeout as timeout:
        if as_json and timeout.verdict is not None:
            typer.echo(json.dumps(timeout.verdict, indent=2))
        done = ""
        if timeout.verdict is not None:
            outputs = timeout.verdict["outputs"]
            done = f" ({outputs['done']}/{outputs['total']} outputs done)"
        error(f"still pending after {_duration(timeout.timeout_s)}{done}")
    if as_json:
        typer.echo(json.dumps(verdict, indent=2))
    else:
        for line in report(verdict):
            typer.echo(line)
    typer.echo(f"qahub gate: {verdict['status']}: {verdict['description']}", err=True)
    raise typer.Exit(EXIT_PASS if verdict["status"] == "pass" else EXIT_FAIL)
