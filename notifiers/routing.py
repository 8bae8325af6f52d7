"""Which routes, and so which receivers, a notice reaches: route blocks in order, each stopping the walk
unless it says `continue` (Alertmanager's routing tree, flattened to one level)."""

from __future__ import annotations

from dsl import Model
from dsl.ast import Matcher, RouteDef
from notifiers.model import Notice

SEVERITY_ORDER = {"info": 1, "warning": 2, "critical": 3}


def routes_for(model: Model, notice: Notice) -> list[RouteDef]:
    found: list[RouteDef] = []
    for route in model.routes.values():
        if all(_holds(model, m, notice) for m in route.matchers):
            found.append(route)
            if not route.continue_:
                break
    return found


def receivers_for(model: Model, notice: Notice) -> list[tuple[RouteDef, str]]:
    """(route, receiver) pairs, a receiver reached by two routes counted once (by its first route)."""
    seen: dict[str, RouteDef] = {}
    for route in routes_for(model, notice):
        for receiver in route.receivers:
            seen.setdefault(receiver, route)
    return [(route, receiver) for receiver, route in seen.items()]


def _holds(model: Model, matcher: Matcher, notice: Notice) -> bool:
    name, op, value = matcher.field_name, matcher.op, matcher.value
    if name == "severity":
        return _compare(SEVERITY_ORDER.get(notice.severity, 0), op, SEVERITY_ORDER.get(str(value), 0))
    if name == "entity":
        # `entity in taian` is the city itself; `taian.children` or `taian.subtree` say more.
        members = {e for entity_set in value for e in model.expand_set(entity_set, subtree_default=False)}  # type: ignore[attr-defined]
        return (notice.entity in members) == (op == "in")
    if name == "tag":
        return (str(value) in notice.tags) == (op == "==")
    if name == "rule":
        return (notice.rule == str(value)) == (op == "==")
    if name.startswith("label:"):
        return (notice.labels.get(name.removeprefix("label:")) == str(value)) == (op == "==")
    return False


def _compare(left: int, op: str, right: int) -> bool:
    return {">=": left >= right, ">": left > right, "<=": left <= right, "<": left < right,
            "==": left == right, "!=": left != right}.get(op, False)
