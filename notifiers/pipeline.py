"""The dispatcher: notices in, rendered messages out, on an explicit clock.

    dispatcher = Dispatcher(model, receivers, link_base="https://taishan.example/dash")
    dispatcher.add(notices, silences, now)     # inhibit → silence → route → into aggregation groups
    messages = dispatcher.due(now)             # groups whose wait or interval has passed, quiet hours applied
    dispatcher.next_due()                      # when to call due() again (None: nothing pending)
    dispatcher.pending_since()                 # the oldest notice time still held in a group (for replay)

Groups follow Alertmanager: a new group waits `group_wait` to collect its first batch, later changes go out
at most every `group_interval`, and alerts still firing are repeated after `repeat_interval`. The server
persists every returned Message in the outbox before sending it, so the dispatcher keeps only what waits in
a group; after a restart the server replays the transitions recorded since `pending_since()` and the
outbox's dedup keys drop what was already queued.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass, field

from dsl import Model
from dsl.ast import RouteDef
from notifiers import inhibit, render
from notifiers.model import Message, Notice, ReceiverConfig, Silence
from notifiers.routing import SEVERITY_ORDER, receivers_for
from notifiers.silences import field_value, silencing

BEIJING = datetime.timezone(datetime.timedelta(hours=8))
DEFAULTS = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}


def duration(text: str | None, default: str) -> datetime.timedelta:
    text = text or default
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[text[-1]]
    return datetime.timedelta(seconds=int(text[:-1]) * unit)


@dataclass
class Dropped:
    notice: Notice
    reason: str  # inhibited | silenced | no_receiver
    by: str = ""  # the region, silence id or receiver name


@dataclass
class Group:
    key: str
    route: RouteDef
    receiver: str
    pending: list[Notice] = field(default_factory=list)
    active: dict[int, Notice] = field(default_factory=dict)  # firing alerts, repeated after repeat_interval
    first_pending_at: datetime.datetime | None = None
    last_flush: datetime.datetime | None = None

    def wait(self, name: str) -> datetime.timedelta:
        return duration(getattr(self.route, name), DEFAULTS[name])

    def ready_at(self) -> tuple[datetime.datetime | None, bool]:
        """When this group next has something to send, and whether that is a repeat."""
        if self.pending and self.first_pending_at is not None:
            if self.last_flush is None:
                return self.first_pending_at + self.wait("group_wait"), False
            return max(self.first_pending_at, self.last_flush + self.wait("group_interval")), False
        if self.active and self.last_flush is not None:
            return self.last_flush + self.wait("repeat_interval"), True
        return None, False


class Dispatcher:
    def __init__(self, model: Model, receivers: dict[str, ReceiverConfig], link_base: str = ""):
        self.model = model
        self.receivers = receivers
        self.link_base = link_base
        self.groups: dict[str, Group] = {}
        self.firing = inhibit.Firing()
        self.held: dict[tuple[str, str, str], list[str]] = {}  # (rule, region, period) -> held entity names

    # ------------------------------------------------------------------ in

    def remember(self, notices: list[Notice]) -> None:
        """What fires already (after a restart), so inhibition knows it; nothing is sent for these."""
        self.firing.update(notices)

    def add(self, notices: list[Notice], silences: list[Silence], now: datetime.datetime) -> list[Dropped]:
        """Take notices in; returns the ones held back by inhibition or a silence, or that reach no receiver."""
        self.firing.update(notices)
        for notice in notices:
            if notice.state == "resolved":  # the names a region's alert held back die with it
                self.held = {k: v for k, v in self.held.items() if k[:2] != (notice.rule, notice.entity)}
        dropped: list[Dropped] = []
        for notice in notices:
            reason = self._drop_reason(notice, silences, now)
            if reason is not None:
                dropped.append(reason)
                continue
            routed = [(r, name) for r, name in receivers_for(self.model, notice) if self._reaches(name, notice)]
            if not routed:
                dropped.append(Dropped(notice, "no_receiver"))
            for route, receiver in routed:
                self._enqueue(route, receiver, notice, now)
        return dropped

    def _drop_reason(self, notice: Notice, silences: list[Silence], now: datetime.datetime) -> Dropped | None:
        region = inhibit.held_by_region(self.model, notice, self.firing)
        if region is not None:
            self.held.setdefault((notice.rule, region, notice.period), []).append(notice.entity_name)
            return Dropped(notice, "inhibited", region)
        if inhibit.held_by_severity(self.model, notice, self.firing):
            return Dropped(notice, "inhibited", "severity")
        silence = silencing(silences, notice, now)
        if silence is not None:
            return Dropped(notice, "silenced", str(silence.id))
        return None

    def _reaches(self, receiver: str, notice: Notice) -> bool:
        config = self.receivers.get(receiver)
        return config is not None and (config.scope is None or notice.entity in config.scope)

    def _enqueue(self, route: RouteDef, receiver: str, notice: Notice, now: datetime.datetime) -> None:
        values = "|".join(f"{name}={field_value(notice, name) if name != 'period' else notice.period}"
                          for name in route.group_by)
        key = f"{route.id}|{receiver}|{values}"
        group = self.groups.setdefault(key, Group(key, route, receiver))
        group.pending.append(notice)
        group.first_pending_at = group.first_pending_at or now
        if notice.state == "firing":
            group.active[notice.alert_id] = notice
        else:
            group.active.pop(notice.alert_id, None)

    # ------------------------------------------------------------------ out

    def due(self, now: datetime.datetime) -> list[Message]:
        messages: list[Message] = []
        for key, group in list(self.groups.items()):
            at, repeat = group.ready_at()
            if at is None:
                del self.groups[key]
                continue
            if at > now:
                continue
            notices = list(group.active.values()) if repeat else group.pending
            if self._quiet(group, notices, now):
                continue
            messages.append(self._message(group, notices, repeat, now))
            group.pending, group.first_pending_at, group.last_flush = [], None, now
        return messages

    def next_due(self) -> datetime.datetime | None:
        times = [at for group in self.groups.values() if (at := group.ready_at()[0]) is not None]
        return min(times, default=None)

    def pending_since(self) -> datetime.datetime | None:
        times = [n.at or g.first_pending_at for g in self.groups.values() for n in g.pending]
        return min((t for t in times if t is not None), default=None)

    def _quiet(self, group: Group, notices: list[Notice], now: datetime.datetime) -> bool:
        """Inside the route's or the receiver's quiet hours, unless a notice is severe enough to break through."""
        config = self.receivers[group.receiver]
        windows = [(group.route.quiet, group.route.quiet_breakthrough)]
        if config.quiet is not None:
            start, end = config.quiet
            windows.append(((start.strftime("%H:%M"), end.strftime("%H:%M")), config.quiet_breakthrough))
        local = now.astimezone(BEIJING).strftime("%H:%M")
        worst = max((SEVERITY_ORDER.get(n.severity, 0) for n in notices if n.state == "firing"), default=0)
        for window, breakthrough in windows:
            if window is None or not _inside(local, *window):
                continue
            if breakthrough is None or worst < SEVERITY_ORDER.get(breakthrough, 99):
                return True
        return False

    def _message(self, group: Group, notices: list[Notice], repeat: bool, now: datetime.datetime) -> Message:
        config = self.receivers[group.receiver]
        fmt = render.strictest(config.urls, config.max_bytes)
        held = {n.alert_id: self.held.get((n.rule, n.entity, n.period), []) for n in notices if n.state == "firing"}
        fingerprint = ",".join(sorted(f"{n.alert_id}:{n.state}:{n.period}" for n in notices))
        # A repeat is a new message each repeat interval; a first send is one message, however often replayed.
        window = now.isoformat(timespec="minutes") if repeat else ""
        dedup = hashlib.sha256(f"{group.key}|{fingerprint}|{window}".encode()).hexdigest()
        worst = max(notices, key=lambda n: SEVERITY_ORDER.get(n.severity, 0))
        return Message(receiver=group.receiver, group_key=group.key, title=render.title(notices, repeat),
                       body=render.body(notices, held, fmt, self.link_base, repeat), body_format=fmt.body_format,
                       dedup_key=dedup, alert_ids=tuple(n.alert_id for n in notices), severity=worst.severity)


def _inside(local: str, start: str, end: str) -> bool:
    """Whether HH:MM falls in a window that may span midnight (22:00-07:00)."""
    return start <= local < end if start <= end else local >= start or local < end
