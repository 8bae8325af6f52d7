"""Inhibition: what is held back because something more telling is firing.

- hierarchy (`inhibit hierarchy rules …`): while a rule fires for a region, the same rule's alerts for that
  period in the regions below it are held back, and the region's message names them ("其中新泰市、肥城市…").
- severity (`inhibit severity`): a critical alert of a rule and entity holds back that rule's lesser alerts
  for the same entity (another indicator of an `each indicator` rule, say).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dsl import Model
from notifiers.model import Notice
from notifiers.routing import SEVERITY_ORDER


@dataclass
class Firing:
    """What fires now, as far as the dispatcher has seen: (rule, entity) → the firing notice."""

    alerts: dict[tuple[str, str, str | None], Notice] = field(default_factory=dict)

    def update(self, notices: list[Notice]) -> None:
        for notice in notices:
            key = (notice.rule, notice.entity, notice.indicator)
            if notice.state == "firing":
                self.alerts[key] = notice
            else:
                self.alerts.pop(key, None)

    def fires(self, rule: str, entity: str, period: str | None = None) -> bool:
        return any(r == rule and e == entity and (period is None or n.period == period)
                   for (r, e, _), n in self.alerts.items())

    def worst(self, rule: str, entity: str) -> int:
        return max((SEVERITY_ORDER.get(n.severity, 0) for (r, e, _), n in self.alerts.items()
                    if r == rule and e == entity), default=0)


def hierarchy_rules(model: Model) -> set[str]:
    return {rule for inhibit in model.inhibits if inhibit.mode == "hierarchy" for rule in inhibit.rules}


def severity_inhibition(model: Model) -> bool:
    return any(inhibit.mode == "severity" for inhibit in model.inhibits)


def ancestors(model: Model, entity: str) -> list[str]:
    found: list[str] = []
    parent = model.entities[entity].parent if entity in model.entities else None
    while parent is not None:
        found.append(parent)
        parent = model.entities[parent].parent
    return found


def held_by_region(model: Model, notice: Notice, firing: Firing) -> str | None:
    """The region whose firing alert holds this one back, if any."""
    if notice.state != "firing" or notice.rule not in hierarchy_rules(model):
        return None
    for region in ancestors(model, notice.entity):
        if firing.fires(notice.rule, region, notice.period):
            return region
    return None


def held_by_severity(model: Model, notice: Notice, firing: Firing) -> bool:
    if not severity_inhibition(model) or notice.state != "firing":
        return False
    return firing.worst(notice.rule, notice.entity) > SEVERITY_ORDER.get(notice.severity, 0)
