"""`time` as TF-A's generators send it: git's format, ISO-8601 or epoch nanoseconds, to the nanosecond."""

from __future__ import annotations

import pytest

from metrics_broker.tfa.timestamps import BadTime, parse_time

NOV_17 = 1605631431 * 10**9  # 2020-11-17T16:43:51Z


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-11-17 16:43:51 +0000", NOV_17),
        ("2020-11-17 17:43:51 +0100", NOV_17),
        ("2020-11-17 08:43:51 -0800", NOV_17),
        ("2020-11-17T16:43:51Z", NOV_17),
        ("2020-11-17T16:43:51+00:00", NOV_17),
        ("2020-11-17T18:43:51+02:00", NOV_17),
        ("2020-11-17T16:43:51", NOV_17),
        ("2020-11-17 16:43:51", NOV_17),
        ("2020-11-17T16:43:51.5Z", NOV_17 + 500_000_000),
        ("2020-11-17T16:43:51.123456789Z", NOV_17 + 123_456_789),
        ("2020-11-17T16:43Z", NOV_17 - 51 * 10**9),
        ("2020-11-17", 1605571200 * 10**9),
        (NOV_17, NOV_17),
    ],
)
def test_git_iso_and_epoch_nanosecond_times_are_read_exactly(text: str | int, expected: int) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (1605631431, "seconds or milliseconds"),
        (1605631431000, "seconds or milliseconds"),
        (1605631431000000, "seconds or milliseconds"),
        (2**63, "latest time"),
        (1.6e18, "date-time string"),
        (True, "date-time string"),
        (None, "date-time string"),
        ({"at": 1}, "date-time string"),
        ("yesterday", "is not a date-time"),
        ("17/11/2020 16:43", "is not a date-time"),
        ("2020-13-01 00:00:00 +0000", "not a valid date-time"),
        ("2020-11-17 16:43:51 +2500", "UTC offset"),
        ("2020-11-17T16:43:51.1234567891Z", "is not a date-time"),
        ("1500-01-01", "outside the times InfluxDB stores"),
    ],
)
def test_times_that_are_not_unambiguous_instants_are_refused(value: object, reason: str) -> None:
    with pytest.raises(BadTime, match=reason):
        parse_time(value)
