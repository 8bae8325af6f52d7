"""Notices from recorded transitions: the names, labels and tags a route or a person needs."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from urllib.parse import urlencode

from dsl import Model
from engine.compiler import Plan
from notifiers.model import Notice


def rule_tags(plan: Plan) -> dict[str, tuple[str, ...]]:
    """Rule id → the tags of every indicator it reads (a route's `tag 工业` matches on these). Checks of
    completeness and balance read whole families of indicators; they are routed by name and label instead."""
    tags: dict[str, set[str]] = {}
    for inst in plan.instances:
        found = tags.setdefault(inst.id, set())
        if inst.kind == "check":
            continue
        for indicator in inst.inputs:
            if indicator in plan.model.indicators:
                found.update(plan.model.indicators[indicator].tags)
    return {rule: tuple(sorted(found)) for rule, found in tags.items()}


def alert_link(link_base: str, notice_fields: Mapping[str, object]) -> str:
    """The dashboard at this alert: entity, indicator and period, so a tap in a chat app opens exactly it."""
    if not link_base:
        return ""
    query = {k: v for k, v in {"alert": notice_fields.get("alert"), "entity": notice_fields.get("entity"),
                                "indicator": notice_fields.get("indicator"),
                                "period": notice_fields.get("period")}.items() if v}
    return f"{link_base.rstrip('/')}/alert?{urlencode(query)}"


def notice_from(model: Model, payload: Mapping[str, object], tags: Mapping[str, tuple[str, ...]],
                link_base: str = "", at: datetime.datetime | None = None) -> Notice:
    """A Notice from a transition event's payload (see server/alertstore.py)."""
    rule = str(payload["rule"])
    definition = model.rules.get(rule) or model.checks.get(rule)
    entity = str(payload["entity"])
    indicator = payload.get("indicator")
    indicator = str(indicator) if indicator else None
    return Notice(
        alert_id=int(payload.get("alert") or 0), rule=rule, rule_title=definition.title if definition else rule,
        kind=str(payload.get("kind", "rule")), entity=entity,
        entity_name=model.entities[entity].name if entity in model.entities else entity,
        indicator=indicator,
        indicator_name=model.indicators[indicator].name if indicator in model.indicators else None,
        period=str(payload["period"]), state=str(payload["new"]), severity=str(payload.get("severity", "warning")),
        message=str(payload.get("message", "")), values=dict(payload.get("values") or {}),  # type: ignore[arg-type]
        thresholds=tuple(payload.get("thresholds") or ()),  # type: ignore[arg-type]
        labels=dict(getattr(definition, "labels", {}) or {}), tags=tags.get(rule, ()),
        hint=str(getattr(definition, "hint", "") or ""), link=alert_link(link_base, payload), at=at)
