"""What Grafana does with our provisioning files before a panel's InfluxQL reaches InfluxDB, done here so a
test can run every panel without a Grafana: read the datasources (expanding `$VAR` / `${VAR}` from the
environment, as Grafana's provisioning does), walk the dashboards' panels, fill in the time macros and the
template variables (a variable's values come from its own query, read as Grafana's InfluxDB datasource reads
them), and judge InfluxDB's answer as a panel would show it.

Grafana behaviour copied here (InfluxDB datasource, InfluxQL raw mode):
- `$timeFilter` / `$__timeFilter` → `time >= <from>ms and time <= <to>ms`; `$__interval` is the range over the
  panel's data points (about its width in pixels), rounded to a round interval; `$__interval_ms` in ms.
- `$var`, `${var}`, `[[var]]`: a variable that is neither multi-value nor "include All" is inserted as is,
  or regex-escaped inside a `=~ /.../` (Grafana 10 and later); one that is gets regex-escaped, and several
  values (Grafana's default "All") become `(a|b|c)`.
- A variable query's values are the second column of each row (`SHOW TAG VALUES`: key, value), or the first
  when there is one column (`SHOW MEASUREMENTS`) or the query is `SHOW FIELD KEYS`; the variable's `regex`
  keeps matching values (its first group when it has one); `sort: 1` sorts them alphabetically.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.servers import ROOT

GRAFANA = ROOT / "deploy" / "grafana"
DATASOURCES_FILE = GRAFANA / "provisioning" / "datasources" / "qahub-influxdb.yaml"
DASHBOARD_PROVIDER_FILE = GRAFANA / "provisioning" / "dashboards" / "qahub.yaml"
DASHBOARDS = GRAFANA / "dashboards"

# Grafana asks for about one point per pixel of the panel's width
MAX_DATA_POINTS = 1000
_ROUND_INTERVALS_MS = [
    1,
    10,
    20,
    50,
    100,
    200,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    20_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_200_000,
    1_800_000,
    3_600_000,
    7_200_000,
    10_800_000,
    21_600_000,
    43_200_000,
    86_400_000,
    7 * 86_400_000,
    30 * 86_400_000,
    365 * 86_400_000,
]
_UNITS_MS = {
    "s": 1_000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 7 * 86_400_000,
    "y": 365 * 86_400_000,
}
_ENV = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_VARIABLE = re.compile(r"\$\{(\w+)\}|\[\[(\w+)\]\]|\$(\w+)")
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|\[\]{}/]")
# the regular expression after `=~` or `!~`: where Grafana escapes even a single value
_REGEX_LITERAL = re.compile(r"[=!]~\s*/((?:\\.|[^/\\])*)/")


@dataclass(frozen=True)
class Datasource:
    uid: str
    name: str
    type: str
    url: str
    database: str


@dataclass(frozen=True)
class Dashboard:
    path: Path
    model: dict[str, Any]

    @property
    def uid(self) -> str:
        return str(self.model.get("uid", ""))

    @property
    def title(self) -> str:
        return str(self.model.get("title", ""))

    @property
    def variables(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.model.get("templating", {}).get("list", [])
        return found

    def panels(self) -> Iterator[dict[str, Any]]:
        """Every panel, including those folded inside rows."""
        for panel in self.model.get("panels", []):
            yield panel
            yield from panel.get("panels", [])


def expand_environment(text: str, environment: Mapping[str, str]) -> str:
    """`$VAR` and `${VAR}` replaced by their value, or by nothing when unset (as Grafana does)."""
    return _ENV.sub(lambda match: environment.get(match.group(1) or match.group(2), ""), text)


def load_yaml(path: Path, environment: Mapping[str, str] | None = None) -> dict[str, Any]:
    text = path.read_text()
    if environment is not None:
        text = expand_environment(text, environment)
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def load_datasources(environment: Mapping[str, str] | None = None) -> dict[str, Datasource]:
    """The provisioned datasources by uid, with the environment Grafana would start with."""
    config = load_yaml(DATASOURCES_FILE, os.environ if environment is None else environment)
    return {
        entry["uid"]: Datasource(
            uid=entry["uid"],
            name=entry["name"],
            type=entry["type"],
            url=entry.get("url") or "",
            database=entry.get("jsonData", {}).get("dbName") or "",
        )
        for entry in config["datasources"]
    }


def load_dashboards() -> list[Dashboard]:
    return [Dashboard(path, json.loads(path.read_text())) for path in sorted(DASHBOARDS.glob("*.json"))]


def datasource_uid(reference: object) -> str | None:
    """The uid in a panel's, target's or variable's `datasource` (`{"type", "uid"}`), None when unset."""
    if isinstance(reference, dict):
        uid = reference.get("uid")
        return str(uid) if uid is not None else None
    return None


@dataclass(frozen=True)
class TimeRange:
    from_ms: int
    to_ms: int

    @property
    def interval_ms(self) -> int:
        raw = (self.to_ms - self.from_ms) / MAX_DATA_POINTS
        return next((ms for ms in _ROUND_INTERVALS_MS if ms >= raw), _ROUND_INTERVALS_MS[-1])


def relative_ms(expression: str) -> int:
    """How far back `now-6h`, `now-10y`... reaches, in milliseconds (`now` → 0)."""
    if expression == "now":
        return 0
    match = re.fullmatch(r"now-(\d+)([smhdwy])", expression)
    if not match:
        raise ValueError(f"unsupported relative time {expression!r}")
    return int(match.group(1)) * _UNITS_MS[match.group(2)]


def format_interval(ms: int) -> str:
    for unit in ("y", "w", "d", "h", "m", "s"):
        if ms >= _UNITS_MS[unit] and ms % _UNITS_MS[unit] == 0:
            return f"{ms // _UNITS_MS[unit]}{unit}"
    return f"{ms}ms"


def render_macros(query: str, time_range: TimeRange) -> str:
    time_filter = f"time >= {time_range.from_ms}ms and time <= {time_range.to_ms}ms"
    replacements = {
        "$__timeFilter": time_filter,
        "$timeFilter": time_filter,
        "$__interval_ms": str(time_range.interval_ms),
        "$__interval": format_interval(time_range.interval_ms),
        "$__from": str(time_range.from_ms),
        "$__to": str(time_range.to_ms),
    }
    # longest first: `$__interval_ms` before `$__interval`
    for macro in sorted(replacements, key=len, reverse=True):
        query = query.replace(macro, replacements[macro])
    return query


def variable_values(query: str, series: list[dict[str, Any]], regex: str, sort: int) -> list[str]:
    """The options a query variable offers, read from InfluxDB's series as Grafana reads them."""
    value_first = "SHOW FIELD KEYS" in query.upper()
    values: list[str] = []
    for one in series:
        for row in one.get("values", []):
            value = row[0] if value_first or len(row) < 2 else row[1]
            values.append(str(value))
    if regex:
        pattern = re.compile(regex.strip("/"))
        kept = []
        for value in values:
            match = pattern.search(value)
            if match:
                kept.append(match.group(1) if match.groups() else value)
        values = kept
    values = list(dict.fromkeys(values))
    return sorted(values) if sort == 1 else values


@dataclass(frozen=True)
class Selection:
    """What a template variable is set to: its values, and whether it is multi-value or offers "All"."""

    values: list[str]
    multi: bool


def _regex_escape(value: str) -> str:
    return _REGEX_SPECIAL.sub(lambda match: "\\" + match.group(0), value)


def _format(selection: Selection, in_regex: bool) -> str:
    if not selection.multi:
        return _regex_escape(selection.values[0]) if in_regex else selection.values[0]
    escaped = [_regex_escape(value) for value in selection.values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def render_variables(query: str, selections: Mapping[str, Selection]) -> str:
    """Template variables replaced as Grafana formats them; unknown `$names` stay (the caller checks)."""
    regex_spans = [match.span(1) for match in _REGEX_LITERAL.finditer(query)]

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in selections:
            return match.group(0)
        in_regex = any(start <= match.start() < end for start, end in regex_spans)
        return _format(selections[name], in_regex)

    return _VARIABLE.sub(replace, query)


def unresolved(query: str) -> list[str]:
    """`$name` / `${name}` / `[[name]]` left in a query (a regex's `$/` end anchor is not one)."""
    return [match.group(0) for match in _VARIABLE.finditer(query)]


def has_a_value(series: list[dict[str, Any]]) -> bool:
    """Whether a panel would draw something: a non-null value outside the time column."""
    for one in series:
        columns = one.get("columns", [])
        for row in one.get("values", []):
            if any(value is not None for column, value in zip(columns, row, strict=True) if column != "time"):
                return True
    return False
