"""The query layer the API and the dashboards share: series with their history, latest values, alerts."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from tortoise.expressions import Q

from dsl import Model
from engine.periods import Period
from server.store.models import Alert, AlertNote, AlertTransition
from server.store.models import Observation as StoredObservation


@dataclass(frozen=True)
class SeriesQuery:
    indicators: tuple[str, ...]
    entities: tuple[str, ...]
    start: str | None = None
    end: str | None = None
    vintage: int | None = None  # as of this vintage: the newest vintage at or below it
    as_of: datetime.datetime | None = None  # as known at this moment


async def series(query: SeriesQuery) -> list[dict]:
    """One row per (indicator, entity, period): the value as of the query's vintage or moment."""
    filters = Q(indicator__in=query.indicators, entity__in=query.entities)
    if query.vintage is not None:
        filters &= Q(vintage__lte=query.vintage)
    if query.as_of is not None:
        filters &= Q(created_at__lte=query.as_of)
    rows = await StoredObservation.filter(filters).values_list(
        "indicator", "entity", "period", "value", "vintage", "created_at")
    latest: dict[tuple[str, str, str], tuple] = {}
    for row in rows:
        if not _in_range(row[2], query.start, query.end):
            continue
        key = row[:3]
        if key not in latest or row[4] > latest[key][4]:
            latest[key] = row
    ordered = sorted(latest.values(), key=lambda r: (r[0], r[1], _period_key(r[2])))
    return [{"indicator": i, "entity": e, "period": p, "value": v, "vintage": n, "recorded_at": t.isoformat()}
            for i, e, p, v, n, t in ordered]


async def revisions(indicator: str, entity: str, period: str) -> list[dict]:
    """Every vintage of one value, oldest first, with where it came from."""
    rows = await StoredObservation.filter(indicator=indicator, entity=entity, period=period).order_by(
        "vintage").values("value", "vintage", "source", "user", "batch_id", "created_at")
    return [{**r, "created_at": r["created_at"].isoformat()} for r in rows]


def _period_key(text: str) -> tuple[int, int]:
    period = Period.parse(text)
    return period.year, period.sub


def _in_range(period: str, start: str | None, end: str | None) -> bool:
    if start is None and end is None:
        return True
    key = _period_key(period)
    return (start is None or key >= _period_key(start)) and (end is None or key <= _period_key(end))


def expand_entities(model: Model, ids: Iterable[str], subtree: bool) -> list[str]:
    found: list[str] = []
    for entity in ids:
        found.append(entity)
        if subtree:
            found.extend(model.descendants(entity))
    return list(dict.fromkeys(found))


# ---------------------------------------------------------------------- alerts


ALERT_FILTERS = ("state", "severity", "rule", "entity", "indicator", "workflow", "kind")


async def alerts(filters: dict[str, list[str]], entities: list[str] | None, limit: int, offset: int,
                 since: str | None = None) -> tuple[int, list[dict]]:
    query = Alert.all()
    for name, values in filters.items():
        query = query.filter(**{f"{name}__in": values})
    if entities is not None:
        query = query.filter(entity__in=entities)
    if since:
        query = query.filter(period__gte=since)
    total = await query.count()
    rows = await query.order_by("-updated_at", "-id").offset(offset).limit(limit)
    return total, [alert_row(a) for a in rows]


def alert_row(alert: Alert) -> dict:
    return {"id": alert.id, "rule": alert.rule, "kind": alert.kind, "entity": alert.entity,
            "indicator": alert.indicator or None, "state": alert.state, "severity": alert.severity,
            "period": alert.period, "message": alert.message, "workflow": effective_workflow(alert),
            "explained_until": alert.explained_until.isoformat() if alert.explained_until else None,
            "ruleset_version": alert.ruleset_version, "updated_at": alert.updated_at.isoformat()}


def effective_workflow(alert: Alert, today: datetime.date | None = None) -> str:
    """An explanation lapses on its expiry date: the alert is open again."""
    today = today or datetime.date.today()
    if alert.workflow == "explained" and alert.explained_until is not None and alert.explained_until < today:
        return "open"
    return alert.workflow


async def alert_story(alert: Alert) -> dict:
    transitions = await AlertTransition.filter(alert_id=alert.id).order_by("period", "id")
    notes = await AlertNote.filter(alert_id=alert.id).order_by("id")
    return {
        **alert_row(alert),
        "transitions": [{"period": t.period, "old": t.old, "new": t.new, "severity": t.severity,
                         "reason": t.reason, "values": t.values, "thresholds": t.thresholds, "message": t.message,
                         "ruleset_version": t.ruleset_version, "batch": t.batch_id,
                         "recorded_at": t.created_at.isoformat()} for t in transitions],
        "notes": [{"action": n.action, "note": n.note, "expires": n.expires.isoformat() if n.expires else None,
                   "user": n.user, "created_at": n.created_at.isoformat()} for n in notes],
    }
