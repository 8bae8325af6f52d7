"""Notification benchmark: alert transitions → dispatch loop → the real Dispatcher → outbox → Apprise → a local
JSON receiver, on SQLite and PostgreSQL.

Run from the repository root (part of `make bench`, not of the test suite):

    python -m bench.notify                      # 10,000 transitions on SQLite and PostgreSQL; table + JSON
    python -m bench.notify --db sqlite          # one back end (repeat --db for several; a server URL gets a
                                                # fresh database of its own)
    python -m bench.notify --quick              # 1,000 transitions

The rules are the shipped Tai'an rule set with one route in place of the shipped ones: every alert to one
receiver, grouped by rule and period, `group_wait 1s group_interval 1s` (the shipped waits are minutes long by
design). The shipped inhibitions stay, so the Dispatcher does all of its work. Transitions are written to the
event table in batches of 100 at a steady rate, as ingests would write them, while the dispatch loop and one
outbox worker run. Latency is from the moment a transition's event row was written to the arrival, at the
receiver, of the message that carries it; it includes the one-second group wait.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from server.notify.dispatch import DispatchLoop
from server.notify.outbox import OutboxSettings, OutboxWorker, encode_urls
from server.service import Service
from server.store import backend, close_store, drop_store, open_store
from server.store.models import Event, Receiver
from tests.server.receivers import HttpReceiver, http_receiver

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "notify.json"
SHIPPED = ROOT.parent / "rules" / "taian"
PG = os.environ.get("TAISHAN_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
BATCH = 100  # transitions per simulated ingest
RECEIVER = "bench"
ROUTE = f"""
route bench {{
  match severity >= info
  receivers {RECEIVER}
  group_by rule, period
  group_wait 1s
  group_interval 1s
  repeat_interval 1d
}}
"""
DEADLINE = 300.0  # seconds to wait for every transition to arrive


def bench_rules(folder: Path) -> Path:
    """The shipped rules with the bench route: the imports and inhibitions of routes.rules kept, its routes
    replaced."""
    rules = folder / "rules"
    shutil.copytree(SHIPPED, rules)
    shipped = (rules / "routes.rules").read_text(encoding="utf-8")
    imports = [line for line in shipped.splitlines() if line.startswith("import ")]
    inhibits = shipped[shipped.index("\ninhibit "):]
    (rules / "routes.rules").write_text("\n".join(imports) + "\n" + ROUTE + inhibits, encoding="utf-8")
    return rules


def transitions(service: Service, count: int) -> list[dict]:
    """Firing transitions of every rule over the counties and zones (not enterprises, whose county alerts would
    hold theirs back), a period at a time."""
    assert service.model is not None
    rules = sorted(service.model.rules)
    entities = sorted(k for k, e in service.model.entities.items() if e.parent and e.kind != "enterprise")
    periods = [f"2026-{m:02d}" for m in range(1, 13)]
    out = []
    for i in range(count):
        rule, entity = rules[i % len(rules)], entities[(i // len(rules)) % len(entities)]
        out.append({"alert": i + 1, "rule": rule, "kind": "rule", "entity": entity, "indicator": None,
                    "period": periods[(i // (len(rules) * len(entities))) % 12], "old": "pending", "new": "firing",
                    "severity": "warning", "reason": "", "values": {"x": 1.0}, "thresholds": [5.0],
                    "message": f"偏离超过5个百分点（#{i + 1}）"})
    return out


async def run(url: str, rules: Path, count: int, rate: float) -> dict:
    service = Service([str(rules)])
    await service.start()
    payloads = transitions(service, count)
    with http_receiver() as receiver:
        await Receiver.create(name=RECEIVER, urls=encode_urls([receiver.url + "/hook"]))
        worker = OutboxWorker(url, OutboxSettings(poll=0.05, batch=64, concurrency=32))
        loop = DispatchLoop(service, worker.wake, tick=0.05, batch=5000)
        written: dict[int, float] = {}
        started = time.perf_counter()
        worker.start()
        loop.start()
        try:
            for first in range(0, count, BATCH):
                chunk = payloads[first:first + BATCH]
                await Event.bulk_create([Event(kind="transition", payload=p) for p in chunk])
                stamp = time.time()
                written.update((p["alert"], stamp) for p in chunk)
                await asyncio.sleep(BATCH / rate)
            await _all_arrived(receiver, count, started)
        finally:
            await loop.stop()
            await worker.stop()
        elapsed = time.perf_counter() - started
        latencies = sorted(arrival.at - written[a] for arrival in receiver.arrivals for a in _alerts(arrival.body))
        messages = len(receiver.arrivals)
    return {"backend": backend(url), "transitions": count, "messages": messages, "seconds": round(elapsed, 2),
            "messages_per_s": round(messages / elapsed, 1), "transitions_per_s": round(count / elapsed, 1),
            "latency_p50_ms": round(1000 * statistics.median(latencies), 1),
            "latency_p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1),
            "duplicates": len(latencies) - count}


async def _all_arrived(receiver: HttpReceiver, count: int, started: float) -> None:
    while len({a for body in receiver.bodies() for a in _alerts(body)}) < count:
        if time.perf_counter() - started > DEADLINE:
            raise SystemExit(f"{DEADLINE:.0f} 秒内未收到全部 {count} 条预警的通知")
        await asyncio.sleep(0.05)


def _alerts(body: dict) -> list[int]:
    return [int(part.split("）")[0]) for part in body.get("message", "").split("（#")[1:]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", action="append", default=[],
                        help="sqlite or a PostgreSQL/MariaDB server URL (repeatable; default: sqlite and PostgreSQL)")
    parser.add_argument("--quick", action="store_true", help="1,000 transitions")
    parser.add_argument("--rate", type=float, default=2000.0, help="transitions written per second")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    count = 1000 if args.quick else 10_000
    results = [asyncio.run(_main(db, count, args.rate)) for db in args.db or ["sqlite", PG]]
    print(f"{'后端':<10}{'预警变化':>8}{'消息':>8}{'耗时(s)':>10}{'消息/秒':>10}{'p50(ms)':>10}{'p99(ms)':>10}{'重复':>6}")
    for r in results:
        print(f"{r['backend']:<12}{r['transitions']:>10}{r['messages']:>10}{r['seconds']:>10}"
              f"{r['messages_per_s']:>12}{r['latency_p50_ms']:>10}{r['latency_p99_ms']:>10}{r['duplicates']:>8}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    workload = {"transitions": count, "rate_per_s": args.rate, "batch": BATCH, "group_by": ["rule", "period"],
                "group_wait_s": 1, "group_interval_s": 1}
    args.out.write_text(json.dumps({"workload": workload, "runs": results}, ensure_ascii=False, indent=2) + "\n",
                        encoding="utf-8")
    print(f"已写入 {args.out}")


async def _main(server: str, count: int, rate: float) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        local = server == "sqlite"
        url = f"sqlite://{folder}/n.db" if local else f"{server.rstrip('/')}/taishan_bench_{uuid.uuid4().hex[:8]}"
        rules = bench_rules(Path(folder))
        await open_store(url, create=not local)
        try:
            return await run(url, rules, count, rate)
        finally:
            await (close_store() if local else drop_store())


if __name__ == "__main__":
    main()
