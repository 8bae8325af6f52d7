"""The durable outbox: every message is a row before it is sent, and workers claim, send and record it.

A message moves pending → sending → sent, or back to pending with a backoff after a failure, and to dead
after `max_attempts`. Claiming differs by back end:

- PostgreSQL and MariaDB (10.6+): `SELECT … FOR UPDATE SKIP LOCKED` and the update to `sending` in one
  transaction, so any number of workers take disjoint messages.
- SQLite: one worker; the claim is a single `UPDATE … WHERE id IN (…) AND <still due>`, atomic by itself.

Which crashes can send a message twice, and what keeps that rare:

1. Crash after the claim, before the send: the row is `sending` with no `send_started_at`. Once its lease
   runs out another worker (or the restarted one) sends it. Nothing had gone out: delivered once.
2. Just before calling Apprise the worker commits `send_started_at`, conditional on still holding its claim
   token; a worker whose lease was taken over finds no row to update and does not send. A reclaimed row
   that has `send_started_at` may or may not have gone out, and Apprise has no idempotency key to ask. It
   is held until `dedup_window` has passed since that start, then sent again: at least once, and never
   twice within the window. The only duplicating crash is one between a target accepting the message and
   the commit of the result, which is the time of one UPDATE after `async_notify` returns.
3. A send that takes longer than the lease: `send_timeout` bounds the Apprise call below the lease, and the
   window is longer than the lease, so a slow send is never overtaken by a second one.

Targets that succeeded are recorded per target and not sent again when the others are retried.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import logging
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from tortoise.expressions import F, Q
from tortoise.timezone import localtime
from tortoise.transactions import in_transaction

from notifiers.model import Message
from server import crypto
from server.notify import delivery
from server.store import backend, close_store, open_store
from server.store.models import OutboxMessage, Receiver, User

log = logging.getLogger("taishan.notify")
USER_PREFIX = "user:"  # a message to one user's own contact channel (e.g. a silence's creator)


def utcnow() -> datetime.datetime:
    """Now, in the store's time zone (UTC; see server/store/__init__.py)."""
    return localtime()


@dataclass(frozen=True)
class OutboxSettings:
    max_attempts: int = 8
    base_delay: float = 10.0  # seconds before the first retry; doubles with each attempt
    max_delay: float = 3600.0
    lease: float = 120.0  # a claim older than this is taken over
    dedup_window: float = 3600.0  # a message whose send may have started is not sent again within this
    send_timeout: float = 60.0  # bounds one Apprise call; must stay below the lease
    batch: int = 32
    concurrency: int = 16
    poll: float = 1.0  # how often an idle worker looks for due messages

    def backoff(self, attempts: int) -> datetime.timedelta:
        delay = min(self.base_delay * 2 ** max(attempts - 1, 0), self.max_delay)
        return datetime.timedelta(seconds=delay * random.uniform(1.0, 1.25))  # jitter spreads a burst of retries


async def enqueue(messages: Iterable[Message], not_before: datetime.datetime | None = None) -> int:
    """Write messages to the outbox; one whose dedup key is already there is skipped. Returns how many are new."""
    by_key = {m.dedup_key: m for m in messages}
    if not by_key:
        return 0
    known = set(await OutboxMessage.filter(dedup_key__in=list(by_key)).values_list("dedup_key", flat=True))
    due = not_before or utcnow()
    rows = [OutboxMessage(dedup_key=k, receiver=m.receiver, group_key=m.group_key[:255], title=m.title[:255],
                          body=m.body, body_format=m.body_format, severity=m.severity, alert_ids=list(m.alert_ids),
                          next_attempt_at=due) for k, m in by_key.items() if k not in known]
    # A concurrent writer of the same key loses quietly: the unique index decides.
    await OutboxMessage.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    return len(rows)


async def depth() -> float:
    return await OutboxMessage.filter(status__in=("pending", "sending")).count()


async def dead() -> float:
    return await OutboxMessage.filter(status="dead").count()


class OutboxWorker:
    """Claims due messages and sends them. `after_claim` runs between the claim and the send (fault
    injection in tests)."""

    def __init__(self, url: str, settings: OutboxSettings | None = None, name: str | None = None,
                 after_claim: Callable[[list[OutboxMessage]], Awaitable[None]] | None = None):
        self.settings = settings or OutboxSettings()
        self.name = (name or f"{socket.gethostname()}:{os.getpid()}")[:64]
        self.locking = backend(url) != "sqlite"
        self.after_claim = after_claim
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"outbox-{self.name}")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Stop claiming and let the sends in flight finish (a cancelled send would leave its message for the
        dedup window)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, self.settings.send_timeout + 5)
            except TimeoutError:
                log.warning("outbox worker %s stopped with sends in flight", self.name)

    async def run(self) -> None:
        while not self._stopping:
            try:
                done = await self.run_once()
            except Exception:  # the database may be restarting: keep the worker alive
                log.exception("outbox worker %s", self.name)
                done = 0
            if not done:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll)

    async def drain(self, idle_rounds: int = 1) -> int:
        """Run until nothing is due; returns how many messages were handled."""
        total = idle = 0
        while idle < idle_rounds:
            done = await self.run_once()
            total += done
            idle = 0 if done else idle + 1
        return total

    async def run_once(self) -> int:
        claimed = await self.claim()
        if claimed and self.after_claim is not None:
            await self.after_claim(claimed)
        gate = asyncio.Semaphore(self.settings.concurrency)

        async def one(message: OutboxMessage) -> None:
            async with gate:
                await self.process(message)

        await asyncio.gather(*(one(m) for m in claimed))
        return len(claimed)

    # ------------------------------------------------------------------ claiming

    def _due(self, now: datetime.datetime) -> Q:
        lease = now - datetime.timedelta(seconds=self.settings.lease)
        window = now - datetime.timedelta(seconds=self.settings.dedup_window)
        expired_claim = Q(status="sending", claimed_at__lt=lease) & (
            Q(send_started_at__isnull=True) | Q(send_started_at__lt=window))
        return Q(status="pending", next_attempt_at__lte=now) | expired_claim

    async def claim(self) -> list[OutboxMessage]:
        now, token = utcnow(), uuid.uuid4().hex
        claim = {"status": "sending", "claimed_by": self.name, "claim_token": token, "claimed_at": now,
                 "attempts": F("attempts") + 1}
        if self.locking:
            async with in_transaction() as conn:
                rows = await (OutboxMessage.filter(self._due(now)).order_by("next_attempt_at", "id")
                              .limit(self.settings.batch).select_for_update(skip_locked=True).using_db(conn))
                if not rows:
                    return []
                await OutboxMessage.filter(id__in=[r.id for r in rows]).using_db(conn).update(**claim)
        else:
            ids = await (OutboxMessage.filter(self._due(now)).order_by("next_attempt_at", "id")
                         .limit(self.settings.batch).values_list("id", flat=True))
            if not ids or not await OutboxMessage.filter(self._due(now), id__in=ids).update(**claim):
                return []
        claimed = await OutboxMessage.filter(claim_token=token).order_by("id")
        for message in claimed:
            if message.send_started_at is not None:
                log.warning("outbox message %s: the previous send's outcome is unknown (worker lost); "
                            "sending again after the dedup window", message.id)
        return claimed

    # ------------------------------------------------------------------ sending

    async def process(self, message: OutboxMessage) -> None:
        try:
            urls, body_format = await receiver_urls(message.receiver)
        except LookupError as error:
            await self._record(message, [], str(error))
            return
        urls = [delivery.with_format(u, body_format) for u in urls]
        # A target that took the message on an earlier attempt is not sent it again (unless its URL changed).
        done = {r["target"] for r in message.results if r.get("status") == "SUCCESS"
                and r["target"] < len(urls) and r.get("url") == _masked(urls[r["target"]])}
        targets = [i for i in range(len(urls)) if i not in done]
        mine = OutboxMessage.filter(id=message.id, claim_token=message.claim_token, status="sending")
        if not await mine.update(send_started_at=utcnow()):
            return  # the lease ran out and another worker holds the message now
        results = await delivery.send(urls, targets, message.title, message.body, message.body_format,
                                      self.settings.send_timeout)
        await self._record(message, results, "")

    async def _record(self, message: OutboxMessage, results: list[delivery.TargetResult], error: str) -> None:
        now = utcnow()
        entries = {r["target"]: r for r in message.results}
        for result in results:
            entries[result.target] = {**result.as_dict(), "at": now.isoformat(),
                                      "tries": entries.get(result.target, {}).get("tries", 0) + 1}
        failed = [r for r in results if not r.ok]
        error = error or "；".join(f"{r.service or r.url}: {r.error}" for r in failed)
        changes: dict = {"results": [entries[k] for k in sorted(entries)], "send_started_at": None,
                         "last_error": error[:2000]}
        if not error:
            changes.update(status="sent", sent_at=now)
        elif message.attempts >= self.settings.max_attempts:
            changes.update(status="dead")
            log.error("outbox message %s is dead after %d attempts: %s", message.id, message.attempts, error)
        else:
            changes.update(status="pending", next_attempt_at=now + self.settings.backoff(message.attempts))
        await OutboxMessage.filter(id=message.id, claim_token=message.claim_token).update(**changes)


async def receiver_urls(name: str) -> tuple[list[str], str]:
    """The decrypted URLs and format override of a receiver, or of a user's contact channel."""
    if name.startswith(USER_PREFIX):
        user = await User.get_or_none(username=name.removeprefix(USER_PREFIX))
        contact = crypto.decrypt(user.contact) if user is not None else ""
        if not contact:
            raise LookupError(f"用户「{name.removeprefix(USER_PREFIX)}」没有设置联系方式")
        return [contact], ""
    receiver = await Receiver.get_or_none(name=name)
    if receiver is None:
        raise LookupError(f"接收方「{name}」不存在")
    if not receiver.enabled:
        raise LookupError(f"接收方「{name}」已停用")
    urls = decode_urls(receiver.urls)
    if not urls:
        raise LookupError(f"接收方「{name}」没有地址")
    return urls, receiver.format


def encode_urls(urls: list[str]) -> str:
    return crypto.encrypt("\n".join(urls))


def decode_urls(stored: str) -> list[str]:
    return [u for u in crypto.decrypt(stored).split("\n") if u]


def _masked(url: str) -> str:
    plugin = delivery.instantiate(url)
    return plugin.url(privacy=True) if plugin is not None else ""


async def retry(message_id: int) -> bool:
    """Put a dead message back in the queue with a fresh count of attempts."""
    return bool(await OutboxMessage.filter(id=message_id, status="dead").update(
        status="pending", attempts=0, next_attempt_at=utcnow(), last_error=""))


# ---------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> None:
    """`python -m server.notify.outbox --db URL [--drain]`: a stand-alone worker."""
    parser = argparse.ArgumentParser(prog="python -m server.notify.outbox", description="通知发件箱工作进程")
    parser.add_argument("--db", default=os.environ.get("TAISHAN_DB", "sqlite://var/taishan.sqlite3"))
    parser.add_argument("--drain", action="store_true", help="发完当前到期的消息即退出")
    parser.add_argument("--lease", type=float, default=OutboxSettings.lease)
    parser.add_argument("--name", default=None)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.db, args.drain, OutboxSettings(lease=args.lease), args.name))


async def _serve(url: str, drain: bool, settings: OutboxSettings, name: str | None) -> None:
    await open_store(url)
    worker = OutboxWorker(url, settings, name)
    try:
        if drain:
            print(f"已处理 {await worker.drain()} 条消息")
        else:
            await worker.run()
    finally:
        await close_store()


if __name__ == "__main__":
    main()
