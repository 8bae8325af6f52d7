"""Open-loop HTTP load generator: N clients, each on its own keep-alive connection, each sending one GET
every `interval` seconds for `duration` seconds. Prints one JSON object on stdout.

    python -m bench.load --url http://127.0.0.1:8000 --clients 2000 --interval 2 --duration 60 \
        --path '/api/v1/alerts?state=firing&limit=20' --path '/api/v1/series?indicator=gdp&entity=taian'

It is a raw asyncio protocol (HTTP/1.1, Content-Length bodies) on uvloop rather than httpx: with 2,000
connections on two cores, httpx's per-request overhead would make the generator the bottleneck. Clients
start evenly spread over the first interval, so connections open gradually (the server's listen backlog is
small) and requests arrive at a steady rate. Latency is measured from writing the request to reading the
last byte of the answer (perf_counter: uvloop's clock ticks in milliseconds); `schedule lag` says how late
the generator itself sent, and `loop lag` how late its event loop woke (its own saturation).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

TIMEOUT_S = 10.0


class ConnectionClosed(Exception):
    pass


class HttpClient(asyncio.Protocol):
    """One keep-alive connection that answers one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, int]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionClosed(str(exc or "closed by server")))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        answer = _complete_response(self.buffer)
        if answer is not None and self.waiter is not None and not self.waiter.done():
            status, size = answer
            del self.buffer[:size]
            self.waiter.set_result((status, size))

    async def request(self, raw: bytes) -> tuple[int, int]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


def _complete_response(buffer: bytearray) -> tuple[int, int] | None:
    """(status, bytes used) once a whole response is buffered; None while more is to come."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).lower()
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line.startswith(b"content-length:"):
            length = int(line[15:])
    total = end + 4 + length
    return (status, total) if len(buffer) >= total else None


@dataclass
class Tally:
    attempts: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, write to last byte
    lags: list[float] = field(default_factory=list)  # seconds the generator sent after the scheduled moment
    connects: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    per_path: dict[str, list[float]] = field(default_factory=dict)


async def _client(number: int, clients: int, address: tuple[str, int], requests: Sequence[tuple[str, bytes]],
                  window: tuple[float, float], interval: float, tally: Tally) -> None:
    """`requests`: (path, raw request) pairs, sent in turn, starting at one that depends on the client."""
    loop = asyncio.get_running_loop()
    start, end = window
    scheduled = start + interval * number / clients
    conn: HttpClient | None = None
    k = number
    while scheduled < end:
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        path, raw = requests[k % len(requests)]
        k += 1
        tally.attempts += 1
        try:
            if conn is None or conn.closed:
                began = time.perf_counter()
                _, conn = await asyncio.wait_for(loop.create_connection(HttpClient, *address), TIMEOUT_S)
                tally.connects.append(time.perf_counter() - began)
            tally.lags.append(loop.time() - scheduled)
            sent = time.perf_counter()
            status, _ = await asyncio.wait_for(conn.request(raw), TIMEOUT_S)
            elapsed = time.perf_counter() - sent
            tally.latencies.append(elapsed)
            tally.per_path.setdefault(path, []).append(elapsed)
            tally.statuses[status] += 1
            if status >= 400:
                tally.errors[f"http_{status}"] += 1
        except (OSError, ConnectionClosed, TimeoutError) as error:
            tally.errors[type(error).__name__] += 1
            if conn is not None and conn.transport is not None:
                conn.transport.close()
            conn = None
        scheduled += interval
    if conn is not None and conn.transport is not None:
        conn.transport.close()


async def _loop_lag(end: float, samples: list[float]) -> None:
    """How late the event loop wakes from a 50 ms sleep: the generator's own saturation."""
    loop = asyncio.get_running_loop()
    while loop.time() < end:
        before = time.perf_counter()
        await asyncio.sleep(0.05)
        samples.append(time.perf_counter() - before - 0.05)


def raw_requests(host: str, port: int, paths: Sequence[str], token: str) -> list[tuple[str, bytes]]:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return [(p, f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n{auth}\r\n".encode())
            for p in paths]


async def run(url: str, paths: Sequence[str], clients: int, interval: float, duration: float,
              tokens: Sequence[str] = ("",)) -> dict:
    """Client n signs its requests with tokens[n % len(tokens)], as that many signed-in users would."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    per_token = [raw_requests(host, port, paths, token) for token in tokens]
    loop = asyncio.get_running_loop()
    tally, loop_lags = Tally(), []
    start = loop.time() + 0.2
    end = start + duration
    usage = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter()
    await asyncio.gather(_loop_lag(end, loop_lags),
                         *(_client(n, clients, (host, port), per_token[n % len(per_token)], (start, end),
                                   interval, tally) for n in range(clients)))
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return summary(tally, loop_lags, clients, interval, duration, wall, cpu)


def summary(tally: Tally, loop_lags: list[float], clients: int, interval: float, duration: float, wall: float,
            cpu: float) -> dict:
    answered = len(tally.latencies)
    return {
        "clients": clients, "interval_s": interval, "duration_s": duration, "wall_s": round(wall, 3),
        "offered_rps": round(clients / interval, 1), "achieved_rps": round(answered / duration, 1),
        "requests": tally.attempts,
        "answered": answered, "errors": sum(tally.errors.values()), "error_kinds": dict(tally.errors),
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "latency_ms": percentiles(tally.latencies),
        "per_path_ms": {p: percentiles(v) for p, v in tally.per_path.items()},
        "connect_ms": percentiles(tally.connects), "schedule_lag_ms": percentiles(tally.lags),
        "loop_lag_ms": percentiles(loop_lags),
        "cpu_s": round(cpu, 2), "cpu_cores": round(cpu / wall, 2) if wall else 0.0,
    }


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds (nearest rank), with the count."""
    if not values:
        return {"n": 0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] * 1000

    return {"n": len(ordered), "p50": round(rank(0.50), 2), "p90": round(rank(0.90), 2),
            "p99": round(rank(0.99), 2), "max": round(ordered[-1] * 1000, 2),
            "mean": round(statistics.fmean(ordered) * 1000, 2)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--path", action="append", required=True, help="a GET path; repeat for a mix")
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between one client's requests")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--tokens", help="a file of bearer tokens, one a line, shared round-robin by the clients")
    args = parser.parse_args(argv)
    tokens = Path(args.tokens).read_text(encoding="utf-8").split() if args.tokens else [""]
    work = run(args.url, args.path, args.clients, args.interval, args.duration, tokens)
    try:
        import uvloop
    except ImportError:  # the plain loop works, only slower
        result = asyncio.run(work)
    else:
        result = uvloop.run(work)
    json.dump(result, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
