"""The data the notification pipeline passes between its stages. Every stage is a small pure function of
these values and an explicit clock, like Alertmanager's notify pipeline: inhibit → silence → route → group
(with quiet hours) → render. Persistence (the outbox, silences, receivers) belongs to the server.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Notice:
    """One alert transition a person may be told about (firing or resolved)."""

    alert_id: int
    rule: str
    rule_title: str
    kind: str  # rule | check
    entity: str
    entity_name: str
    indicator: str | None
    indicator_name: str | None
    period: str
    state: str  # firing | resolved
    severity: str  # info | warning | critical
    message: str  # the rule's rendered message (resolved ones carry the value at recovery)
    values: dict[str, float | None] = field(default_factory=dict)
    thresholds: tuple[float, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()  # the tags of the indicators the rule reads
    hint: str = ""
    link: str = ""  # opens the dashboard at this alert
    at: datetime.datetime | None = None  # when the transition was recorded


@dataclass(frozen=True)
class Silence:
    id: int
    matchers: dict[str, str]  # field -> value; fields: rule, entity, indicator, severity, state, label:<name>
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    created_by: str
    comment: str
    expire_on_resolve: bool = False


@dataclass(frozen=True)
class ReceiverConfig:
    """A named receiver: Apprise URLs (secret), tags, and its own quiet hours."""

    name: str
    urls: tuple[str, ...]
    quiet: tuple[datetime.time, datetime.time] | None = None  # local time (Asia/Shanghai)
    quiet_breakthrough: str | None = "critical"  # severity that still goes out in quiet hours; None: nothing
    max_bytes: int | None = None  # overrides the target format's own limit
    scope: frozenset[str] | None = None  # entities whose alerts this receiver may get (a leader's region)


@dataclass(frozen=True)
class Message:
    """What the outbox stores and a worker sends: one receiver, one group of notices, rendered."""

    receiver: str
    group_key: str
    title: str
    body: str
    body_format: str  # text | markdown | html
    dedup_key: str
    alert_ids: tuple[int, ...]
    severity: str
