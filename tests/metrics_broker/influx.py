"""Reading InfluxDB back in tests, straight over its HTTP API (not through the broker's code)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class StoredPoint:
    time_ns: int
    tags: dict[str, str]
    fields: dict[str, Any]


class InfluxReader:
    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.AsyncClient(base_url=url, timeout=10, trust_env=False)

    async def query(self, database: str, q: str) -> list[dict[str, Any]]:
        response = await self.client.get("/query", params={"db": database, "q": q, "epoch": "ns"})
        response.raise_for_status()
        result: dict[str, Any] = response.json()["results"][0]
        assert "error" not in result, result
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    async def execute(self, q: str) -> None:
        response = await self.client.post("/query", params={"q": q})
        response.raise_for_status()

    async def databases(self) -> set[str]:
        series = await self.query("", "SHOW DATABASES")
        return {row[0] for row in series[0].get("values", [])} if series else set()

    async def points(self, database: str, measurement: str) -> list[StoredPoint]:
        """Every point of a measurement: its tags apart from its fields (GROUP BY *), oldest first."""
        name = measurement.replace("\\", "\\\\").replace('"', '\\"')
        found = []
        for series in await self.query(database, f'SELECT * FROM "{name}" GROUP BY *'):  # noqa: S608
            columns = series["columns"]
            for row in series["values"]:
                values = dict(zip(columns, row, strict=True))
                time_ns = values.pop("time")
                fields = {key: value for key, value in values.items() if value is not None}
                found.append(StoredPoint(time_ns=time_ns, tags=series.get("tags", {}), fields=fields))
        return sorted(found, key=lambda point: point.time_ns)

    async def field_types(self, database: str, measurement: str) -> dict[str, str]:
        """`integer`, `float`, `string` or `boolean` per field, as InfluxDB stored them."""
        name = measurement.replace("\\", "\\\\").replace('"', '\\"')
        series = await self.query(database, f'SHOW FIELD KEYS FROM "{name}"')
        return dict(series[0]["values"]) if series else {}

    async def count(self, database: str) -> int:
        """Points in the whole database (0 when it does not exist)."""
        if database not in await self.databases():
            return 0
        total = 0
        # count(*) counts each field; the largest count of a measurement is its number of points
        for series in await self.query(database, "SELECT count(*) FROM /.*/"):
            total += max(value for value in series["values"][0][1:] if value is not None)
        return total

    async def write_requests(self) -> int:
        """How many `/write` requests InfluxDB has received since it started (its `/debug/vars`)."""
        response = await self.client.get("/debug/vars")
        response.raise_for_status()
        return sum(
            int(stats.get("values", {}).get("writeReq", 0))
            for name, stats in response.json().items()
            if name.startswith("httpd")
        )

    async def aclose(self) -> None:
        await self.client.aclose()
