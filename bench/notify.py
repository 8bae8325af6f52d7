"""Notification benchmark: alert transitions → dispatch loop → outbox → Apprise → a local JSON receiver.

Run from the repository root (part of `make bench`, not of the test suite):

    python -m bench.notify                      # 10,000 transitions on SQLite; table + bench/results/notify.json
    python -m bench.notify --db postgres://postgres@127.0.0.1:5432   # on a fresh PostgreSQL database
    python -m bench.notify --quick              # 1,000 transitions

Transitions are written to the event table in batches of 100 at a steady rate, as ingests would write them,
while the dispatch loop and one outbox worker run. A grouping stand-in dispatcher (one message per rule,
period and parent region, due at the next tick) takes the place of the routes' group waits, which are minutes
long by design: the figures measure the machinery, not the configured waits. Latency is from the moment a
transition's event row was written to the arrival of the message that carries it at the receiver.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

from notifiers.model import Message, Notice, ReceiverConfig
from notifiers.model import Silence as SilenceRule
from server.notify.dispatch import DispatchLoop
from server.notify.outbox import OutboxSettings, OutboxWorker, encode_urls
from server.service import Service
from server.store import backend, close_store, drop_store, open_store
from server.store.models import Event, Receiver
from tests.server.receivers import http_receiver

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "notify.json"
RULES = ["rules/taian"]
BATCH = 100  # transitions per simulated ingest


class GroupingStandIn:
    """One message per (receiver, rule, period, parent region) of the notices added since the last due()."""

    def __init__(self, model: object, receivers: dict[str, ReceiverConfig], link_base: str):
        self.receivers = list(receivers)
        self.parent = {k: e.parent or k for k, e in model.entities.items()}  # type: ignore[attr-defined]
        self.groups: dict[tuple[str, str, str], list[Notice]] = defaultdict(list)

    def add(self, notices: list[Notice], silences: list[SilenceRule], now: datetime.datetime) -> list[Notice]:
        for n in notices:
            self.groups[(n.rule, n.period, self.parent.get(n.entity, n.entity))].append(n)
        return []

    def due(self, now: datetime.datetime) -> list[Message]:
        out = []
        for (rule, period, region), notices in self.groups.items():
            ids = tuple(n.alert_id for n in notices)
            body = f"本期新增预警{len(notices)}条：" + "；".join(f"{n.entity_name}{n.message}" for n in notices[:20])
            out += [Message(receiver=r, group_key=f"{rule}/{period}/{region}", title=notices[0].rule_title,
                            body=body, body_format="text", dedup_key=f"bench:{r}:{rule}:{period}:{region}:{ids[0]}",
                            alert_ids=ids, severity=notices[0].severity) for r in self.receivers]
        self.groups.clear()
        return out

    def next_due(self) -> datetime.datetime | None:
        return None

    def pending_since(self) -> datetime.datetime | None:
        return None


def transitions(service: Service, count: int) -> list[dict]:
    assert service.model is not None
    rules = sorted(service.model.rules)
    entities = sorted(k for k, e in service.model.entities.items() if e.parent)
    periods = [f"2026-{m:02d}" for m in range(1, 13)]
    out = []
    for i in range(count):
        rule, entity = rules[i % len(rules)], entities[(i // len(rules)) % len(entities)]
        out.append({"alert": i + 1, "rule": rule, "kind": "rule", "entity": entity, "indicator": None,
                    "period": periods[(i // (len(rules) * len(entities))) % 12], "old": "pending", "new": "firing",
                    "severity": "warning", "reason": "", "values": {"x": 1.0}, "thresholds": [5.0],
                    "message": f"偏离超过5个百分点（#{i + 1}）"})
    return out


async def run(url: str, count: int, rate: float) -> dict:
    service = Service(RULES)
    await service.start()
    payloads = transitions(service, count)
    with http_receiver() as receiver:
        await Receiver.create(name="bench", urls=encode_urls([receiver.url + "/hook"]))
        worker = OutboxWorker(url, OutboxSettings(poll=0.05, batch=64, concurrency=32))
        loop = DispatchLoop(service, worker.wake, make_dispatcher=GroupingStandIn, tick=0.05, batch=5000)
        written: dict[int, float] = {}
        started = time.perf_counter()
        worker.start()
        loop.start()
        for first in range(0, count, BATCH):
            chunk = payloads[first:first + BATCH]
            await Event.bulk_create([Event(kind="transition", payload=p) for p in chunk])
            stamp = time.time()
            written.update((p["alert"], stamp) for p in chunk)
            await asyncio.sleep(BATCH / rate)
        while len({a for body in receiver.bodies() for a in _alerts(body)}) < count:
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        await loop.stop()
        await worker.stop()
        latencies = sorted(arrival.at - written[a] for arrival in receiver.arrivals for a in _alerts(arrival.body))
        messages = len(receiver.arrivals)
    return {"backend": backend(url), "transitions": count, "messages": messages, "seconds": round(elapsed, 2),
            "messages_per_s": round(messages / elapsed, 1), "transitions_per_s": round(count / elapsed, 1),
            "latency_p50_ms": round(1000 * statistics.median(latencies), 1),
            "latency_p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1),
            "duplicates": len(latencies) - count}


def _alerts(body: dict) -> list[int]:
    return [int(part.split("）")[0]) for part in body.get("message", "").split("（#")[1:]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="", help="a PostgreSQL or MariaDB server URL (a fresh database is made)")
    parser.add_argument("--quick", action="store_true", help="1,000 transitions")
    parser.add_argument("--rate", type=float, default=2000.0, help="transitions written per second")
    args = parser.parse_args(argv)
    result = asyncio.run(_main(args.db, 1000 if args.quick else 10_000, args.rate))
    print(f"{'后端':<10}{'通知变化':>8}{'消息':>8}{'耗时(s)':>10}{'消息/秒':>10}{'p50(ms)':>10}{'p99(ms)':>10}{'重复':>6}")
    print(f"{result['backend']:<12}{result['transitions']:>10}{result['messages']:>10}{result['seconds']:>10}"
          f"{result['messages_per_s']:>12}{result['latency_p50_ms']:>10}{result['latency_p99_ms']:>10}"
          f"{result['duplicates']:>8}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    print(f"已写入 {RESULTS.relative_to(ROOT.parent)}")


async def _main(server: str, count: int, rate: float) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        url = f"{server.rstrip('/')}/taishan_bench_{uuid.uuid4().hex[:8]}" if server else f"sqlite://{folder}/n.db"
        await open_store(url, create=bool(server))
        try:
            return await run(url, count, rate)
        finally:
            await (drop_store() if server else close_store())


if __name__ == "__main__":
    main()
