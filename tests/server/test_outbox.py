"""The outbox against real receivers on 127.0.0.1: retries with backoff, dead letters, per-target results,
several workers over one PostgreSQL database, a worker killed between claim and send, and the dispatch loop
from transition events to queued messages (with a stand-in dispatcher: one message per notice)."""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from notifiers.model import Message, Notice, ReceiverConfig
from notifiers.model import Silence as SilenceRule
from notifiers.pipeline import Dropped
from notifiers.silences import silencing
from server import crypto
from server.notify import outbox
from server.notify.dispatch import DispatchLoop
from server.notify.outbox import OutboxSettings, OutboxWorker, encode_urls, enqueue, utcnow
from server.service import Service
from server.store import drop_store, open_store
from server.store.models import Event, NotifyCursor, OutboxMessage, Receiver, Silence, User
from tests.server.conftest import PG
from tests.server.receivers import HttpReceiver, http_receiver, smtp_receiver

REPO = Path(__file__).resolve().parents[2]
FAST = OutboxSettings(base_delay=0.01, max_delay=0.05, poll=0.05, send_timeout=10)


def message(n: int, receiver: str = "ops", body: str = "") -> Message:
    return Message(receiver=receiver, group_key=f"g{n}", title=f"预警 {n}", body=body or f"第 {n} 条",
                   body_format="text", dedup_key=f"test:{n}", alert_ids=(n,), severity="warning")


async def add_receiver(name: str, *urls: str) -> Receiver:
    return await Receiver.create(name=name, urls=encode_urls(list(urls)), created_by="tester")


async def until_settled(worker: OutboxWorker, timeout: float = 20.0) -> None:
    """Run the worker until no message is pending or sending."""
    async def settled() -> bool:
        await worker.run_once()
        return not await OutboxMessage.filter(status__in=("pending", "sending")).exists()

    deadline = asyncio.get_running_loop().time() + timeout
    while not await settled():
        assert asyncio.get_running_loop().time() < deadline, "发件箱未在限定时间内处理完"
        await asyncio.sleep(0.02)


@pytest.fixture
async def pg_store() -> AsyncIterator[str]:
    url = f"{PG}/taishan_outbox_{uuid.uuid4().hex[:10]}"
    await open_store(url, create=True)
    try:
        yield url
    finally:
        await drop_store()


@pytest.fixture
def receiver() -> HttpReceiver:
    with http_receiver() as r:
        yield r


# ---------------------------------------------------------------------- one worker


async def test_an_endpoint_that_fails_twice_gets_the_message_once(sqlite_store: str, receiver: HttpReceiver) -> None:
    await add_receiver("ops", receiver.url + "/hook")
    receiver.fail_next(2)
    assert await enqueue([message(1)]) == 1
    await until_settled(OutboxWorker(sqlite_store, FAST))
    assert [b["title"] for b in receiver.bodies("/hook")] == ["预警 1"] and receiver.refused == 2
    row = await OutboxMessage.get(dedup_key="test:1")
    assert (row.status, row.attempts, row.last_error, row.sent_at is not None) == ("sent", 3, "", True)
    assert [(r["status"], r["tries"], r["service"]) for r in row.results] == [("SUCCESS", 3, "JSON")]


async def test_an_endpoint_down_for_the_whole_run_dead_letters_the_message(sqlite_store: str,
                                                                          receiver: HttpReceiver) -> None:
    await add_receiver("ops", receiver.url)
    receiver.down = True
    await enqueue([message(1), message(2)])
    await until_settled(OutboxWorker(sqlite_store, OutboxSettings(**{**vars(FAST), "max_attempts": 3})))
    rows = await OutboxMessage.all().order_by("id")
    assert [(r.status, r.attempts) for r in rows] == [("dead", 3), ("dead", 3)] and receiver.refused == 6
    assert "503" in rows[0].last_error and await outbox.dead() == 2 and await outbox.depth() == 0
    receiver.down = False
    assert await outbox.retry(rows[0].id) and not await outbox.retry(rows[0].id)
    await until_settled(OutboxWorker(sqlite_store, FAST))
    assert [b["title"] for b in receiver.bodies()] == ["预警 1"] and await outbox.dead() == 1


async def test_a_retry_sends_only_to_the_targets_that_failed(sqlite_store: str, receiver: HttpReceiver) -> None:
    with smtp_receiver() as mail:
        await add_receiver("ops", receiver.url + "/hook", mail.url("chief@example.cn"))
        receiver.fail_next(1)
        await enqueue([message(7, body="新泰市规上工业增加值增长 12.0%，全市 5.1%")])
        await until_settled(OutboxWorker(sqlite_store, FAST))
        assert len(receiver.bodies()) == 1 and len(mail.messages) == 1
        assert mail.messages[0]["Subject"] == "预警 7" and mail.messages[0]["To"] == "chief@example.cn"
        assert "新泰市规上工业增加值增长 12.0%" in mail.messages[0].get_body().get_content()
    row = await OutboxMessage.get(dedup_key="test:7")
    assert [(r["service"], r["tries"]) for r in row.results] == [("JSON", 2), ("E-Mail", 1)]


async def test_wecom_app_messages_go_to_the_configured_base_url(sqlite_store: str, receiver: HttpReceiver) -> None:
    # 山东通 / 政务微信 run the WeCom API on their own host.
    await add_receiver("wecom", f"wechat://corp:secret@1000002/@all?base=http://127.0.0.1:{receiver.port}")
    await enqueue([message(1, receiver="wecom")])
    await until_settled(OutboxWorker(sqlite_store, FAST))
    [sent] = receiver.bodies("/cgi-bin/message/send")
    assert sent["agentid"] == 1000002 and sent["touser"] == "@all" and "第 1 条" in sent["text"]["content"]


async def test_the_same_dedup_key_is_queued_once(sqlite_store: str) -> None:
    assert await enqueue([message(1), message(1), message(2)]) == 2
    assert await enqueue([message(2), message(3)]) == 1
    assert await OutboxMessage.all().count() == 3


async def test_a_missing_receiver_is_retried_then_dead(sqlite_store: str) -> None:
    await enqueue([message(1, receiver="nobody")])
    await until_settled(OutboxWorker(sqlite_store, OutboxSettings(**{**vars(FAST), "max_attempts": 2})))
    row = await OutboxMessage.get(dedup_key="test:1")
    assert (row.status, row.attempts, row.last_error) == ("dead", 2, "接收方「nobody」不存在")


async def test_urls_are_encrypted_at_rest(sqlite_store: str, receiver: HttpReceiver) -> None:
    row = await add_receiver("ops", receiver.url + "/secret-path")
    assert "secret-path" not in row.urls and "secret-path" in crypto.decrypt(row.urls)


# ---------------------------------------------------------------------- crashes and the dedup window


async def test_a_send_whose_outcome_is_unknown_waits_for_the_dedup_window(sqlite_store: str,
                                                                          receiver: HttpReceiver) -> None:
    """A worker died after `send_started_at` was committed: the message may have gone out, so it is not sent
    again within the window, and is sent (at least once) after it."""
    await add_receiver("ops", receiver.url)
    await enqueue([message(1)])
    started = utcnow() - datetime.timedelta(seconds=0.2)
    await OutboxMessage.filter(dedup_key="test:1").update(status="sending", claimed_at=started, attempts=1,
                                                          send_started_at=started, claim_token="dead-worker")
    worker = OutboxWorker(sqlite_store, OutboxSettings(**{**vars(FAST), "lease": 0.1, "dedup_window": 1.5}))
    assert await worker.run_once() == 0 and receiver.bodies() == []
    await asyncio.sleep(1.4)
    await until_settled(worker)
    assert len(receiver.bodies()) == 1
    assert (await OutboxMessage.get(dedup_key="test:1")).attempts == 2


async def test_a_worker_that_lost_its_lease_does_not_send(sqlite_store: str, receiver: HttpReceiver) -> None:
    await add_receiver("ops", receiver.url)
    await enqueue([message(1)])

    async def overtaken(claimed: list[OutboxMessage]) -> None:
        await OutboxMessage.filter(id=claimed[0].id).update(claim_token="another-worker")

    await OutboxWorker(sqlite_store, FAST, after_claim=overtaken).run_once()
    assert receiver.bodies() == []
    assert (await OutboxMessage.get(dedup_key="test:1")).send_started_at is None


KILLED_WORKER = """
import asyncio, sys
from server.notify.outbox import OutboxWorker
from server.store import open_store

async def hold(claimed):
    print("claimed", *[m.id for m in claimed], flush=True)
    await asyncio.sleep(3600)

async def main():
    await open_store(sys.argv[1])
    await OutboxWorker(sys.argv[1], after_claim=hold).run_once()

asyncio.run(main())
"""


async def test_sigkill_between_claim_and_send_delivers_once_after_restart(pg_store: str,
                                                                          receiver: HttpReceiver) -> None:
    await add_receiver("ops", receiver.url + "/hook")
    await enqueue([message(n) for n in range(5)])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    worker = subprocess.Popen([sys.executable, "-c", KILLED_WORKER, pg_store], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        line = await asyncio.wait_for(asyncio.to_thread(worker.stdout.readline), 60)  # type: ignore[union-attr]
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    assert line.split() == ["claimed", *[str(i) for i in sorted(
        await OutboxMessage.all().values_list("id", flat=True))]]
    assert await OutboxMessage.filter(status="sending").count() == 5 and receiver.bodies() == []
    restarted = OutboxWorker(pg_store, OutboxSettings(**{**vars(FAST), "lease": 0.5}))
    assert await restarted.run_once() == 0  # the dead worker's lease still holds
    await asyncio.sleep(0.6)
    await until_settled(restarted)
    await asyncio.sleep(0.3)
    await restarted.run_once()
    assert sorted(b["title"] for b in receiver.bodies("/hook")) == [f"预警 {n}" for n in range(5)]
    assert await OutboxMessage.filter(status="sent", attempts=2).count() == 5


# ---------------------------------------------------------------------- several workers


async def test_two_workers_on_postgresql_deliver_1000_messages_exactly_once(pg_store: str,
                                                                           receiver: HttpReceiver) -> None:
    await add_receiver("ops", receiver.url + "/hook")
    await enqueue([message(n) for n in range(1000)])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [subprocess.Popen([sys.executable, "-m", "server.notify.outbox", "--db", pg_store, "--drain",
                                 "--name", name], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
               for name in ("worker-a", "worker-b")]
    outputs = [await asyncio.to_thread(w.communicate, timeout=240) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    titles = [b["title"] for b in receiver.bodies("/hook")]
    assert len(titles) == 1000 and set(titles) == {f"预警 {n}" for n in range(1000)}
    assert await OutboxMessage.filter(status="sent", attempts=1).count() == 1000
    by_worker = {name: await OutboxMessage.filter(claimed_by=name).count() for name in ("worker-a", "worker-b")}
    assert sum(by_worker.values()) == 1000 and all(by_worker.values()), by_worker  # both took a share


async def test_concurrent_workers_take_disjoint_messages(store: str, receiver: HttpReceiver) -> None:
    # On every back end: SKIP LOCKED on PostgreSQL and MariaDB, the atomic UPDATE claim on SQLite.
    await add_receiver("ops", receiver.url)
    await enqueue([message(n) for n in range(60)])
    settings = OutboxSettings(**{**vars(FAST), "batch": 5})
    await asyncio.gather(*(OutboxWorker(store, settings, name=f"w{i}").drain() for i in range(3)))
    assert sorted(b["title"] for b in receiver.bodies()) == sorted(f"预警 {n}" for n in range(60))


# ---------------------------------------------------------------------- the dispatch loop


class OnePerNotice:
    """Stand-in for notifiers.pipeline.Dispatcher: silences apply, then one message per notice to every
    receiver, due at once."""

    def __init__(self, model: object, receivers: dict[str, ReceiverConfig], link_base: str):
        self.receivers, self.waiting = receivers, []

    def remember(self, notices: list[Notice]) -> None:
        """Nothing to remember: the stand-in has no inhibition."""

    def add(self, notices: list[Notice], silences: list[SilenceRule], now: datetime.datetime) -> list[Dropped]:
        dropped = [Dropped(n, "silenced", str(s.id)) for n in notices if (s := silencing(silences, n, now))]
        self.waiting += [n for n in notices if not silencing(silences, n, now)]
        return dropped

    def due(self, now: datetime.datetime) -> list[Message]:
        out = [Message(receiver=r, group_key=f"{n.rule}/{n.entity}", title=f"{n.entity_name}{n.rule_title}",
                       body=n.message, body_format="text", dedup_key=f"{r}:{n.alert_id}:{n.period}:{n.state}",
                       alert_ids=(n.alert_id,), severity=n.severity) for n in self.waiting for r in self.receivers]
        self.waiting = []
        return out

    def next_due(self) -> datetime.datetime | None:
        return None

    def pending_since(self) -> datetime.datetime | None:
        return None


def transition(alert: int, entity: str, new: str = "firing", period: str = "2026-09") -> Event:
    return Event(kind="transition", payload={
        "alert": alert, "rule": "retail_vs_tax", "kind": "rule", "entity": entity, "indicator": None,
        "period": period, "old": "pending" if new == "firing" else "firing", "new": new, "severity": "warning",
        "reason": "", "values": {}, "thresholds": [], "message": f"{entity} 背离"})


async def test_transitions_become_outbox_messages_once(sqlite_service: Service, sqlite_store: str,
                                                       receiver: HttpReceiver) -> None:
    await add_receiver("ops", receiver.url + "/hook")
    await Event.bulk_create([transition(1, "xintai"), transition(2, "feicheng"),
                             Event(kind="data", payload={"batch": 1})])
    woken = []
    loop = DispatchLoop(sqlite_service, lambda: woken.append(1), make_dispatcher=OnePerNotice)
    assert await loop.step() == 2 and woken == [1]
    assert await loop.step() == 0
    titles = sorted(await OutboxMessage.all().values_list("title", flat=True))
    assert titles == ["新泰市社会消费品零售总额与税收收入背离", "肥城市社会消费品零售总额与税收收入背离"]
    assert (await NotifyCursor.get(id=1)).last_event_id == 2  # the last transition event
    # Another worker taking over replays from the cursor; a replay of queued events adds nothing.
    await NotifyCursor.filter(id=1).update(last_event_id=0, held_until=utcnow() - datetime.timedelta(seconds=1))
    assert await DispatchLoop(sqlite_service, make_dispatcher=OnePerNotice, name="other").step() == 0
    await until_settled(OutboxWorker(sqlite_store, FAST))
    assert sorted(b["message"] for b in receiver.bodies("/hook")) == ["feicheng 背离", "xintai 背离"]


async def test_only_the_lease_holder_dispatches(sqlite_service: Service, sqlite_store: str) -> None:
    await add_receiver("ops", "json://127.0.0.1:9/")
    await transition(1, "xintai").save()
    first = DispatchLoop(sqlite_service, make_dispatcher=OnePerNotice, name="a")
    second = DispatchLoop(sqlite_service, make_dispatcher=OnePerNotice, name="b")
    assert await first.step() == 1
    await transition(2, "feicheng").save()
    assert await second.step() == 0 and second.dispatcher is None
    assert await first.step() == 1


async def test_silences_hold_back_count_expire_on_resolve_and_tell_their_creator(
        sqlite_service: Service, sqlite_store: str) -> None:
    await add_receiver("ops", "json://127.0.0.1:9/")
    await User.create(username="zhang", role="statistician", password_hash="x",
                      contact=crypto.encrypt("mailto://a:b@127.0.0.1:25?to=zhang@example.cn"))
    now = utcnow()
    held = await Silence.create(matchers={"entity": "xintai", "state": "firing"}, starts_at=now,
                                ends_at=now + datetime.timedelta(days=1), created_by="zhang", comment="已核实",
                                expire_on_resolve=True)
    idle = await Silence.create(matchers={"entity": "ningyang"}, starts_at=now,
                                ends_at=now + datetime.timedelta(seconds=1), created_by="zhang")
    await Event.bulk_create([transition(1, "xintai"), transition(2, "feicheng")])
    loop = DispatchLoop(sqlite_service, make_dispatcher=OnePerNotice)
    assert await loop.step() == 1  # xintai is silenced
    assert (await Silence.get(id=held.id)).matched_count == 1
    await transition(1, "xintai", "resolved", "2026-10").save()
    await loop.step()
    ended = await Silence.get(id=held.id)
    assert ended.expired_at is not None and ended.notified_expiry
    await loop.step(now + datetime.timedelta(seconds=2))  # the idle silence has run out
    notes = {m.dedup_key: m for m in await OutboxMessage.filter(receiver="user:zhang")}
    assert "因预警恢复提前结束" in notes[f"silence-ended:{held.id}"].body
    assert "共屏蔽 1 条" in notes[f"silence-ended:{held.id}"].body
    assert "没有匹配到任何通知" in notes[f"silence-ended:{idle.id}"].body
    assert await loop.step(now + datetime.timedelta(seconds=3)) == 0  # told once

