"""Logging for every service: one line per record, each tagged with the id of the request it serves.

The request id lives in a context variable set by `RequestContextMiddleware`, so any logger anywhere in
the call stack of a request gets it without passing it around. A background loop logs its failures as
changes of state (`Outage`), not once per attempt: a healthy idle service logs nothing periodic at INFO.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from datetime import UTC, datetime

_request_id: ContextVar[str | None] = ContextVar("qahub_request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def bind_request_id(request_id: str | None) -> object:
    """Bind the request id for the current context; returns a token for `reset_request_id`."""
    return _request_id.set(request_id)


def reset_request_id(token: object) -> None:
    _request_id.reset(token)  # type: ignore[arg-type]


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(*, level: str = "INFO", json_lines: bool = False) -> None:
    """Route the root logger (and uvicorn's) to stderr in one format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request at INFO: the revocation poll alone would be a line every few seconds.
    # What our calls to other services do is logged by our code; at DEBUG, httpx's lines come back.
    logging.getLogger("httpx").setLevel(logging.WARNING if root.level > logging.DEBUG else logging.NOTSET)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Our middleware writes one access line per request, with its id and duration.
    logging.getLogger("uvicorn.access").disabled = True


class Outage:
    """The failures of something a background loop retries (`what`: "refreshing token revocations"),
    logged as changes of state instead of once per attempt: one record at `level` when it starts failing,
    with the reason; while it goes on, a reminder every `remind_seconds`, saying for how long and the
    latest reason; one INFO record when it works again. Attempts in between log nothing."""

    def __init__(
        self, logger: logging.Logger, what: str, *, level: int = logging.WARNING, remind_seconds: float = 60.0
    ) -> None:
        self._logger = logger
        self._what = what
        self._level = level
        self._remind_seconds = remind_seconds
        self._since: float | None = None
        self._reminded = 0.0
        self._failures = 0

    @property
    def failing(self) -> bool:
        return self._since is not None

    def failed(self, reason: BaseException | str, *, traceback: bool = False) -> None:
        """An attempt failed. `traceback`: the first record carries the exception's (for a bug, not for
        a server that is down)."""
        now = time.monotonic()
        self._failures += 1
        if self._since is None:
            self._since = self._reminded = now
            exc_info = reason if traceback and isinstance(reason, BaseException) else None
            self._logger.log(self._level, "%s fails: %s", self._what, _one_line(reason), exc_info=exc_info)
        elif now - self._reminded >= self._remind_seconds:
            self._reminded = now
            self._logger.log(
                self._level,
                "%s still fails, for %s now (%d attempts): %s",
                self._what,
                _duration(now - self._since),
                self._failures,
                _one_line(reason),
            )

    def succeeded(self) -> None:
        """An attempt worked: says so once, if it was failing."""
        if self._since is None:
            return
        self._logger.info(
            "%s works again, after %s (%d failed attempts)",
            self._what,
            _duration(time.monotonic() - self._since),
            self._failures,
        )
        self._since, self._failures = None, 0


def _one_line(reason: BaseException | str) -> str:
    """The reason on one line of reasonable length (httpx's errors add a line of advice)."""
    text = f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else reason
    lines = text.strip().splitlines()
    return lines[0][:300] if lines else type(reason).__name__


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
