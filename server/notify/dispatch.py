"""The dispatch loop: transition events from the store → notices → the dispatcher → messages in the outbox.

One worker runs it at a time (a lease on the `notify_cursor` row). The cursor only moves past an event once
no notice from it is still waiting in a group (`Dispatcher.pending_since()`), so a restart, or another
worker taking the lease over, replays those events; the outbox's unique dedup keys drop what was already
queued. A new dispatcher is first told what fires already (the alert table), so that a city alert raised
before a restart still holds back its counties' alerts after it. Silences are kept here too: how many notices
each one held back, expiry when its alert resolves, and a message to its creator when it ends (saying so when
it matched nothing for its whole life).
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from tortoise.expressions import F, Q
from tortoise.timezone import localtime

from dsl import Model
from notifiers.model import Message, Notice, ReceiverConfig
from notifiers.model import Silence as SilenceRule
from notifiers.notices import notice_from, rule_tags
from notifiers.pipeline import Dispatcher, Dropped
from notifiers.silences import matches
from server.accounts import visible_entities
from server.notify import outbox
from server.notify.outbox import USER_PREFIX, decode_urls, utcnow
from server.notify.periodic import Periodic
from server.service import Service
from server.store.models import Alert, Event, NotifyCursor, Receiver, Silence, User

log = logging.getLogger("taishan.notify")
CURSOR_ID = 1


class DispatcherLike(Protocol):
    def remember(self, notices: list[Notice]) -> None: ...
    def add(self, notices: list[Notice], silences: list[SilenceRule], now: datetime.datetime) -> list[Dropped]: ...
    def due(self, now: datetime.datetime) -> list[Message]: ...
    def next_due(self) -> datetime.datetime | None: ...
    def pending_since(self) -> datetime.datetime | None: ...


DispatcherFactory = Callable[[Model, dict[str, ReceiverConfig], str], DispatcherLike]


def pipeline_dispatcher(model: Model, receivers: dict[str, ReceiverConfig], link_base: str) -> DispatcherLike:
    return Dispatcher(model, receivers, link_base=link_base)


class DispatchLoop(Periodic):
    task_name = "notify-dispatch"

    def __init__(self, service: Service, wake_outbox: Callable[[], None] = lambda: None,
                 make_dispatcher: DispatcherFactory = pipeline_dispatcher, link_base: str = "",
                 tick: float = 1.0, lease: float = 30.0, batch: int = 2000, name: str | None = None):
        self.service, self.wake_outbox, self.make_dispatcher = service, wake_outbox, make_dispatcher
        super().__init__(tick)
        self.link_base, self.lease, self.batch = link_base, lease, batch
        self.name = (name or f"{socket.gethostname()}:{os.getpid()}")[:64]
        self.dispatcher: DispatcherLike | None = None
        self._signature: tuple = ()
        self._tags: dict[str, tuple[str, ...]] = {}
        self._read_to = 0  # the last event fed to the dispatcher
        self._held: deque[tuple[int, datetime.datetime]] = deque()  # fed, not yet past the cursor

    def pause(self) -> float:
        upcoming = self.dispatcher.next_due() if self.dispatcher is not None else None
        if upcoming is None:
            return self.tick
        return min(self.tick, max((upcoming - utcnow()).total_seconds(), 0.01))

    # ------------------------------------------------------------------ one step

    async def step(self, now: datetime.datetime | None = None) -> int:
        """Feed new events, queue what is due; returns how many messages were queued (0 when not the holder)."""
        now = localtime(now) if now is not None else utcnow()
        cursor = await self._hold(now)
        if cursor is None:
            self.dispatcher = None
            return 0
        await self._refresh(cursor)
        assert self.dispatcher is not None
        events = await Event.filter(kind="transition", id__gt=self._read_to).order_by("id").limit(self.batch)
        notices = self._notices(events)
        silences = await _active_silences(now)
        dropped = self.dispatcher.add(notices, [s for s, _ in silences], now)
        await _account_silences(silences, notices, dropped, now)
        queued = await outbox.enqueue(self.dispatcher.due(now))
        queued += await _expiry_notices(now)
        if queued:
            self.wake_outbox()
        if events:
            self._read_to = events[-1].id
            self._held.extend((e.id, e.created_at) for e in events)
        await self._advance(cursor)
        return queued

    async def _hold(self, now: datetime.datetime) -> NotifyCursor | None:
        await NotifyCursor.get_or_create(id=CURSOR_ID)
        free = Q(holder=self.name) | Q(held_until__isnull=True) | Q(held_until__lt=now)
        held = await NotifyCursor.filter(free, id=CURSOR_ID).update(
            holder=self.name, held_until=now + datetime.timedelta(seconds=self.lease))
        return await NotifyCursor.get(id=CURSOR_ID) if held else None

    async def _refresh(self, cursor: NotifyCursor) -> None:
        """A new dispatcher when this worker just took the lease, or the rules or receivers changed; it
        replays from the stored cursor."""
        receivers = await Receiver.filter(enabled=True).order_by("name")
        signature = (self.service.version, tuple((r.name, r.updated_at) for r in receivers))
        if self.dispatcher is not None and signature == self._signature:
            return
        assert self.service.model is not None and self.service.plan is not None
        configs = {r.name: receiver_config(r, self.service.model) for r in receivers}
        self._tags = rule_tags(self.service.plan)
        self.dispatcher = self.make_dispatcher(self.service.model, configs, self.link_base)
        self.dispatcher.remember(await firing_notices(self.service.model, self._tags, self.link_base))
        self._signature, self._read_to = signature, cursor.last_event_id
        self._held.clear()

    def _notices(self, events: list[Event]) -> list[Notice]:
        assert self.service.model is not None
        return [notice_from(self.service.model, e.payload, self._tags, self.link_base, e.created_at) for e in events]

    async def _advance(self, cursor: NotifyCursor) -> None:
        assert self.dispatcher is not None
        waiting_since = self.dispatcher.pending_since()
        last = cursor.last_event_id
        while self._held and (waiting_since is None or self._held[0][1] < waiting_since):
            last = self._held.popleft()[0]
        if last != cursor.last_event_id:
            await NotifyCursor.filter(id=CURSOR_ID, holder=self.name).update(last_event_id=last)


async def firing_notices(model: Model, tags: dict[str, tuple[str, ...]], link_base: str) -> list[Notice]:
    """The alerts firing now, as notices: what a fresh dispatcher must know for inhibition."""
    return [notice_from(model, alert_payload(a, a.state), tags, link_base) for a in await Alert.filter(state="firing")]


def alert_payload(alert: Alert, state: str) -> dict:
    """A transition-like payload from an alert row (its last known period, severity and message)."""
    return {"alert": alert.id, "rule": alert.rule, "kind": alert.kind, "entity": alert.entity,
            "indicator": alert.indicator or None, "period": alert.period, "new": state, "severity": alert.severity,
            "message": alert.message}


def receiver_config(receiver: Receiver, model: Model) -> ReceiverConfig:
    quiet = None
    if receiver.quiet_start and receiver.quiet_end:
        quiet = (datetime.time.fromisoformat(receiver.quiet_start), datetime.time.fromisoformat(receiver.quiet_end))
    # A county's receiver hears of its county, the city and the province: what its leader may see.
    return ReceiverConfig(name=receiver.name, urls=tuple(decode_urls(receiver.urls)), quiet=quiet,
                          quiet_breakthrough=receiver.quiet_breakthrough,
                          scope=visible_entities(model, [e for e in receiver.scope if e in model.entities]))


def silence_rule(row: Silence) -> SilenceRule:
    return SilenceRule(id=row.id, matchers=dict(row.matchers), starts_at=row.starts_at, ends_at=row.ends_at,
                       created_by=row.created_by, comment=row.comment, expire_on_resolve=row.expire_on_resolve)


async def _active_silences(now: datetime.datetime) -> list[tuple[SilenceRule, Silence]]:
    rows = await Silence.filter(starts_at__lte=now, ends_at__gt=now, expired_at__isnull=True).order_by("id")
    return [(silence_rule(r), r) for r in rows]


async def _account_silences(silences: list[tuple[SilenceRule, Silence]], notices: list[Notice],
                            dropped: list[Dropped], now: datetime.datetime) -> None:
    """Count what each silence held back; end those that expire when their alert resolves."""
    for rule, row in silences:
        held = sum(1 for d in dropped if d.reason == "silenced" and d.by == str(rule.id))
        if held:
            await Silence.filter(id=row.id).update(matched_count=F("matched_count") + held)
        if row.expire_on_resolve:
            any_state = replace(rule, matchers={k: v for k, v in rule.matchers.items() if k != "state"})
            if any(n.state == "resolved" and matches(any_state, n) for n in notices):
                await Silence.filter(id=row.id, expired_at__isnull=True).update(expired_at=now)


async def _expiry_notices(now: datetime.datetime) -> int:
    """Tell each creator that their silence has ended, once."""
    ended = await Silence.filter(Q(expired_at__isnull=False) | Q(ends_at__lte=now), notified_expiry=False)
    messages = []
    for row in ended:
        creator = await User.get_or_none(username=row.created_by)
        if creator is not None and creator.contact:
            messages.append(_expiry_message(row))
        await Silence.filter(id=row.id).update(notified_expiry=True)
    return await outbox.enqueue(messages)


def _expiry_message(row: Silence) -> Message:
    matchers = "，".join(f"{k}={v}" for k, v in row.matchers.items())
    how = "因预警恢复提前结束" if row.expired_at is not None and row.expired_at < row.ends_at else "已到期"
    counted = (f"有效期内共屏蔽 {row.matched_count} 条通知。" if row.matched_count
               else "该静默在整个有效期内没有匹配到任何通知，请检查匹配条件是否有误。")
    body = f"您创建的静默（{matchers}）{how}。{counted}" + (f"\n备注：{row.comment}" if row.comment else "")
    return Message(receiver=USER_PREFIX + row.created_by, group_key=f"silence:{row.id}", title=f"静默 #{row.id} {how}",
                   body=body, body_format="text", dedup_key=f"silence-ended:{row.id}", alert_ids=(),
                   severity="info")

