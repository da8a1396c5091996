"""`qahub gate`'s progress on stderr: rewritten in place on a terminal, one line per change in a CI log
(and a heartbeat a minute), and the durations it takes."""

from __future__ import annotations

import io
from typing import Any

import pytest
import typer

from qahub_cli.gate import Progress, parse_seconds


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _pending(done: int, total: int = 3) -> dict[str, Any]:
    outputs = {"done": done, "total": total, "pending": total - done, "failed": 0}
    return {"project": "acme/vision", "commit": "99fcebb1272352a1", "batch": "default", "outputs": outputs}


def test_on_a_terminal_the_progress_is_one_line_rewritten_in_place() -> None:
    stream, clock = Terminal(), Clock()
    progress = Progress(stream, clock=clock)

    progress.show(_pending(1))
    clock.now = 75
    progress.show(_pending(2))
    progress.end()

    assert stream.getvalue() == (
        "\rqahub gate: waiting for acme/vision 99fcebb1 batch default: outputs 1/3 done [0s]\x1b[K"
        "\rqahub gate: waiting for acme/vision 99fcebb1 batch default: outputs 2/3 done [1m15s]\x1b[K\n"
    )


def test_in_a_ci_log_a_line_is_written_when_the_count_changes_and_once_a_minute() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, clock=clock)

    for second in range(0, 130, 5):
        clock.now = second
        progress.show(_pending(1 if second < 30 else 2))
    progress.end()

    assert [line.rsplit(" [", 1)[1] for line in stream.getvalue().splitlines()] == ["0s]", "30s]", "1m30s]"]


def test_an_empty_batch_says_it_has_no_outputs_yet() -> None:
    stream = io.StringIO()

    Progress(stream).show(_pending(0, total=0))

    assert "outputs 0/0 done (no outputs yet)" in stream.getvalue()


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("5s", 5), ("1h", 3600), ("90", 90), ("0.5s", 0.5)]
)
def test_durations_take_a_unit_or_seconds(text: str, seconds: float) -> None:
    assert parse_seconds(text) == seconds


@pytest.mark.parametrize("text", ["0s", "soon", "-5m", "5d"])
def test_other_durations_are_refused(text: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_seconds(text)
