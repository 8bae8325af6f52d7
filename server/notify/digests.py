"""Scheduled digests: each receiver gets, at 08:00 Beijing time, the previous day's digest, and on the 1st the
previous month's. A digest lists the alerts that came up in its window, those still firing at its end, those
that ended, and the explanations statisticians gave; only the alerts the receiver's routes would bring it.

Every worker that runs notifications runs the scheduler; the digest's dedup key (receiver and window) makes
the outbox keep one of each, so two workers, a restart at 08:00 or an on-demand resend add nothing. A digest
missed by more than a day (the server was down) is not sent late by the schedule; `send_digest` sends it.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tortoise.functions import Max

from dsl import Model
from notifiers.digest import DigestContent, digest_message
from notifiers.model import Message, Notice, ReceiverConfig
from notifiers.notices import notice_from, rule_tags
from notifiers.pipeline import BEIJING
from notifiers.routing import receivers_for
from server.notify import outbox
from server.notify.dispatch import alert_payload, receiver_config
from server.notify.outbox import utcnow
from server.notify.periodic import Periodic
from server.service import Service
from server.store.models import AlertNote, AlertTransition, Receiver

log = logging.getLogger("taishan.notify")
KINDS = ("daily", "monthly")
SEND_AT = datetime.time(8, 0)  # Beijing time
LATE = datetime.timedelta(days=1)  # a scheduled digest later than this is no longer news
CHUNK = 500  # ids per IN (…) query


@dataclass(frozen=True)
class Window:
    kind: str  # daily | monthly
    start: datetime.datetime  # inclusive, aware
    end: datetime.datetime  # exclusive
    label: str  # "2026年11月27日" or "2026年11月": with the year, so that the dedup key never repeats


@dataclass
class Findings:
    """A window's alerts for every receiver, before routing picks each receiver's share."""

    new: list[Notice]
    ongoing: list[Notice]
    resolved: list[Notice]
    explanations: list[tuple[Notice, str]]


@dataclass(frozen=True)
class DigestSent:
    message: Message | None  # None: nothing to tell
    queued: bool  # False when the same digest was already in the outbox


def window(kind: str, day: datetime.date) -> Window:
    """What a digest covers: the day itself (daily), or the month holding it (monthly)."""
    if kind == "daily":
        start, end = day, day + datetime.timedelta(days=1)
        label = f"{day.year}年{day.month}月{day.day}日"
    elif kind == "monthly":
        start = day.replace(day=1)
        end = (start + datetime.timedelta(days=32)).replace(day=1)
        label = f"{day.year}年{day.month}月"
    else:
        raise ValueError(f"未知的摘要类型「{kind}」，可选：daily、monthly")
    return Window(kind, _midnight(start), _midnight(end), label)


def scheduled(kind: str, now: datetime.datetime) -> tuple[datetime.datetime, Window]:
    """The latest scheduled send at or before `now`, and the window it reports on (the day or month before)."""
    local = now.astimezone(BEIJING)
    before_send = local.time() < SEND_AT
    if kind == "daily":
        sent_on = local.date() - datetime.timedelta(days=1 if before_send else 0)
    else:
        sent_on = local.date().replace(day=1)
        if local.day == 1 and before_send:
            sent_on = (sent_on - datetime.timedelta(days=1)).replace(day=1)
    return datetime.datetime.combine(sent_on, SEND_AT, BEIJING), window(kind, sent_on - datetime.timedelta(days=1))


def _midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(0, 0), BEIJING)


# ---------------------------------------------------------------------- what happened in a window


async def findings(model: Model, tags: dict[str, tuple[str, ...]], win: Window, link_base: str = "") -> Findings:
    in_window = {"created_at__gte": win.start, "created_at__lt": win.end}
    moved = await AlertTransition.filter(**in_window, new__in=("firing", "resolved")).select_related(
        "alert").order_by("id")
    latest: dict[str, dict[int, Notice]] = {"firing": {}, "resolved": {}}
    for t in moved:  # an alert that fired twice in the window is listed once, as it fired last
        latest[t.new][t.alert_id] = _notice(model, tags, t, link_base)
    notes = await AlertNote.filter(**in_window, action="explain").select_related("alert").order_by("id")
    explanations = [(notice_from(model, alert_payload(n.alert, n.alert.state), tags, link_base),
                     n.note + (f"（说明有效至{n.expires.isoformat()}）" if n.expires else "")) for n in notes]
    return Findings(new=list(latest["firing"].values()), ongoing=await _firing_at(model, tags, win.end, link_base),
                    resolved=list(latest["resolved"].values()), explanations=explanations)


async def _firing_at(model: Model, tags: dict[str, tuple[str, ...]], end: datetime.datetime,
                     link_base: str) -> list[Notice]:
    """Alerts whose last transition before `end` left them firing."""
    last = await (AlertTransition.filter(created_at__lt=end).annotate(last=Max("id")).group_by("alert_id")
                  .values_list("last", flat=True))
    found: list[Notice] = []
    for chunk in _chunks(sorted(last)):
        rows = await AlertTransition.filter(id__in=chunk, new="firing").select_related("alert").order_by("id")
        found += [_notice(model, tags, t, link_base) for t in rows]
    return found


def _notice(model: Model, tags: dict[str, tuple[str, ...]], t: AlertTransition, link_base: str) -> Notice:
    payload = {**alert_payload(t.alert, t.new), "period": t.period, "severity": t.severity, "message": t.message,
               "values": t.values, "thresholds": t.thresholds}
    return notice_from(model, payload, tags, link_base, t.created_at)


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    return (ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK))


def content_for(model: Model, config: ReceiverConfig, found: Findings, label: str) -> DigestContent:
    """The receiver's share: what its routes would bring it, within its scope."""
    def reaches(notice: Notice) -> bool:
        in_scope = config.scope is None or notice.entity in config.scope
        return in_scope and any(name == config.name for _, name in receivers_for(model, notice))

    return DigestContent(label=label, new=[n for n in found.new if reaches(n)],
                         ongoing=[n for n in found.ongoing if reaches(n)],
                         resolved=[n for n in found.resolved if reaches(n)],
                         explanations=[(n, note) for n, note in found.explanations if reaches(n)])


# ---------------------------------------------------------------------- sending


async def digests(service: Service, win: Window, receivers: list[Receiver], link_base: str = "") -> list[Message]:
    """One message per receiver that has something to be told about in the window."""
    assert service.model is not None and service.plan is not None
    found = await findings(service.model, rule_tags(service.plan), win, link_base)
    messages = [digest_message(config, content_for(service.model, config, found, win.label), link_base)
                for config in (receiver_config(r, service.model) for r in receivers)]
    return [m for m in messages if m is not None]


async def send_digest(service: Service, receiver_name: str, kind: str, day: datetime.date, link_base: str = "",
                      now: datetime.datetime | None = None) -> DigestSent:
    """On demand: the daily digest of `day`, or the monthly digest of its month, for one receiver. The same
    digest as the schedule's, so one already in the outbox is not queued again. Raises LookupError for an unknown
    or disabled receiver, and ValueError for an unknown kind or a window that has not ended (its digest would
    take the place of the complete one)."""
    win = window(kind, day)
    if win.end > (now or utcnow()):
        raise ValueError(f"{win.label}尚未结束，摘要在其结束后才能发送")
    receiver = await Receiver.get_or_none(name=receiver_name, enabled=True)
    if receiver is None:
        raise LookupError(f"没有名为「{receiver_name}」的可用接收方")
    found = await digests(service, win, [receiver], link_base)
    message = found[0] if found else None
    return DigestSent(message, message is not None and await outbox.enqueue([message]) > 0)


class DigestScheduler(Periodic):
    """Sends each scheduled digest once it is due; `step(now)` with an explicit clock in tests."""

    task_name = "notify-digests"

    def __init__(self, service: Service, wake_outbox: Callable[[], None] = lambda: None, link_base: str = "",
                 tick: float = 60.0):
        super().__init__(tick)
        self.service, self.wake_outbox, self.link_base = service, wake_outbox, link_base
        self._done: dict[str, datetime.datetime] = {}  # kind -> the last scheduled time this worker handled

    async def step(self, now: datetime.datetime | None = None) -> int:
        """Queue the digests that are due and not yet done; returns how many messages were new to the outbox."""
        now = now or utcnow()
        queued = 0
        for kind in KINDS:
            at, win = scheduled(kind, now)
            if self._done.get(kind) == at or now - at > LATE:
                continue
            receivers = await Receiver.filter(enabled=True).order_by("name")
            queued += await outbox.enqueue(await digests(self.service, win, receivers, self.link_base))
            self._done[kind] = at
        if queued:
            self.wake_outbox()
        return queued
