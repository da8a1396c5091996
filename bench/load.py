"""What the benchmarks share: a lean load generator, percentiles, and CPU accounting from /proc.

`LoadClient` is a minimal HTTP/1.1 client on asyncio's transport API (run it on uvloop), one keep-alive
connection per concurrent client. It sends the bytes of a request httpx would send and times nothing
itself; it reads each response framed by Content-Length (or none, for 204 and 304), and fails on
anything else, so a series cannot miscount. httpx spent 1.8-2.6 ms of CPU per request on a 2-core
machine, which capped a series whatever the server did; this client spends about 0.1 ms.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

# answers that carry no body, and so need no Content-Length
_NO_BODY = (b"204", b"304")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Durations:
    """Durations of one series, in seconds; percentiles by nearest rank."""

    samples: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)

    def percentile_ms(self, fraction: float) -> float:
        """The smallest sample that `fraction` of the samples do not exceed, in milliseconds."""
        if not self.samples:
            return math.nan
        ordered = sorted(self.samples)
        rank = max(1, math.ceil(fraction * len(ordered)))
        return ordered[rank - 1] * 1000

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(0.50)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(0.99)


def proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state is [0]); None when unreadable."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc; NaN elsewhere, or when it is gone)."""
    fields = proc_stat(pid)
    if fields is None:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reaped_children_cpu_s(pid: int) -> float:
    """User + system CPU seconds of the children a process has reaped (Linux /proc; NaN elsewhere)."""
    fields = proc_stat(pid)
    if fields is None:
        return math.nan
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def parent_pid(pid: int) -> int | None:
    fields = proc_stat(pid)
    return None if fields is None else int(fields[1])


def machine_cpu_s() -> float:
    """Busy CPU seconds of the whole machine since boot, over all CPUs (Linux /proc; NaN elsewhere)."""
    try:
        ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return math.nan
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


class _Http11Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.response: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio's classes: no isinstance check
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        response = self.response
        if response is None or response.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        start = head.find(b"\r\ncontent-length:")
        if start >= 0:
            stop = head.find(b"\r\n", start + 2)
            total = end + 4 + int(head[start + 17 : stop if stop > 0 else len(head)])
        elif head[9:12] in _NO_BODY:
            total = end + 4
        else:
            response.set_exception(RuntimeError(f"response without Content-Length: {head[:200]!r}"))
            return
        if len(self.buffer) < total:
            return
        body = bytes(self.buffer[end + 4 : total])
        del self.buffer[:total]
        if b"\r\nconnection: close" in head:
            self.closed = True
        response.set_result((int(head[9:12]), body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.response is not None and not self.response.done():
            self.response.set_exception(ConnectionError(f"the server closed the connection: {exc!r}"))

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.response = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.response


class LoadClient:
    """A load generator: HTTP/1.1 keep-alive connections, at most one per concurrent client.

    It sends the requests httpx sends (the same request line, headers and body) with far less CPU per
    request, so that on a small machine the server, not the client, is what a series measures.
    `authorization` is the header's value (`Bearer <token>`, `JWT <token>`), or None for none.
    """

    def __init__(self, base_url: str, authorization: str | None) -> None:
        self.host, _, port = base_url.removeprefix("http://").partition(":")
        self.port = int(port)
        self.authorization = f"Authorization: {authorization}\r\n" if authorization else ""
        self.idle: list[_Http11Connection] = []

    async def post(
        self, path: str, body: bytes, *, headers: str = "", content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        """POST a body (`headers`: more header lines, each ending with CRLF); return the response's
        status code and body once it has all arrived."""
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: */*\r\n"
            "Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\nUser-Agent: qahub-bench\r\n"
            f"content-type: {content_type}\r\n{self.authorization}{headers}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        connection = await self._connection()
        response = await connection.exchange(request)
        if not connection.closed:
            self.idle.append(connection)
        elif connection.transport is not None:
            connection.transport.close()
        return response

    async def _connection(self) -> _Http11Connection:
        # a server closes keep-alive connections left idle too long (uvicorn: after 5 s)
        while self.idle:
            connection = self.idle.pop()
            if not connection.closed:
                return connection
        return await self._connect()

    async def _connect(self) -> _Http11Connection:
        _, connection = await asyncio.get_running_loop().create_connection(
            _Http11Connection, self.host, self.port
        )
        return connection

    def close(self) -> None:
        for connection in self.idle:
            if connection.transport is not None:
                connection.transport.close()
        self.idle.clear()
