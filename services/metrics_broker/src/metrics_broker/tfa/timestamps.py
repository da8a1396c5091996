"""The `time` of a TF-A point, to nanoseconds since the epoch (UTC).

Accepted, as TF-A's generators send them and its broker (influxdb-python) read them:
- git's `%ai`: `2020-11-17 16:43:51 +0000`;
- ISO-8601: `2020-09-08T14:22:45+00:00`, `2020-09-08T14:22:45.123456789Z`, `2020-09-08` (midnight);
  without an offset, UTC (what influxdb-python assumed);
- an integer: nanoseconds since the epoch (influxdb-python's default precision). Seconds, milliseconds or
  microseconds would silently land in January 1970, so integers before 2000 are refused instead.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from metrics_broker.influx.line_protocol import MAX_TIME_NS, MIN_TIME_NS

# 2000-01-01T00:00:00Z in nanoseconds: the earliest integer time taken as nanoseconds
EARLIEST_EPOCH_NS = 946_684_800 * 10**9

_TEXT = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<clock>\d{2}:\d{2}(?::\d{2})?)(?:[.,](?P<fraction>\d{1,9}))?)?"
    r"\s?(?P<offset>Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)


class BadTime(ValueError):
    """Why a `time` value is refused."""


def _offset(text: str | None) -> timezone:
    if text is None or text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise BadTime(f"offset {text!r} is not a UTC offset")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_time(value: object) -> int:
    """Nanoseconds since the epoch for a TF-A `time` value; raises `BadTime` with the reason."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadTime(
            "must be a date-time string (git's '2020-11-17 16:43:51 +0000' or ISO-8601) or an integer"
        )
    if isinstance(value, int):
        if value < EARLIEST_EPOCH_NS:
            raise BadTime(
                "an integer time is nanoseconds since the epoch (as TF-A's broker took it); "
                f"{value} would be before 2000, so it is probably in seconds or milliseconds"
            )
        if value > MAX_TIME_NS:
            raise BadTime("is beyond the latest time InfluxDB stores (2262-04-11)")
        return value
    match = _TEXT.fullmatch(value.strip())
    if match is None:
        raise BadTime(
            f"{value[:64]!r} is not a date-time: use git's '2020-11-17 16:43:51 +0000', ISO-8601 or "
            "nanoseconds since the epoch"
        )
    clock = match["clock"] or "00:00:00"
    if clock.count(":") == 1:
        clock += ":00"
    try:
        moment = datetime.fromisoformat(f"{match['date']}T{clock}").replace(tzinfo=_offset(match["offset"]))
    except ValueError as exc:
        raise BadTime(f"{value[:64]!r} is not a valid date-time: {exc}") from None
    fraction = (match["fraction"] or "").ljust(9, "0")
    # whole seconds from datetime, the fraction from the text: a float would round nanoseconds
    seconds = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1)
    nanoseconds = seconds * 10**9 + int(fraction)
    if not MIN_TIME_NS <= nanoseconds <= MAX_TIME_NS:
        raise BadTime("is outside the times InfluxDB stores (1677-09-21 to 2262-04-11)")
    return nanoseconds
