"""The checked model: every definition of a rule set, resolved and indexed."""

from __future__ import annotations

import collections
import functools
from dataclasses import dataclass, field

from dsl import ast

ENTITY_KINDS = ("province", "city", "district", "county", "county_city", "zone", "enterprise")
COUNTY_KINDS = ("district", "county", "county_city")
# Scope words: `each county in taian` takes every county-level unit.
SCOPE_KINDS: dict[str, tuple[str, ...]] = {
    "entity": ENTITY_KINDS,
    "region": ("city", "district", "county", "county_city", "zone"),
    "county": COUNTY_KINDS,
    "district": ("district",),
    "county_city": ("county_city",),
    "city": ("city",),
    "zone": ("zone",),
    "enterprise": ("enterprise",),
    "province": ("province",),
}
RELATIONS = ("children", "descendants", "subtree")


@dataclass
class Model:
    entities: dict[str, ast.EntityDef] = field(default_factory=dict)
    indicators: dict[str, ast.IndicatorDef] = field(default_factory=dict)
    series: dict[str, ast.SeriesDef] = field(default_factory=dict)
    targets: list[ast.TargetDef] = field(default_factory=list)
    rules: dict[str, ast.RuleDef] = field(default_factory=dict)
    checks: dict[str, ast.CheckDef] = field(default_factory=dict)
    tests: list[ast.TestDef] = field(default_factory=list)
    routes: dict[str, ast.RouteDef] = field(default_factory=dict)
    inhibits: list[ast.InhibitDef] = field(default_factory=list)
    dashboards: dict[str, ast.DashboardDef] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    # rule id -> indicators bound by `each indicator x tagged …`, after the checker dropped misfits
    rule_bindings: dict[str, tuple[str, ...]] = field(default_factory=dict)

    # ------------------------------------------------------------------ rules

    def watch_list(self, rule: str, severity: str) -> bool:
        """Whether a firing only lists an enterprise in a watch category (企业监测): the rule carries a `category`
        label and fires at info. Escalated to a warning (下滑快影响大 dragging its county down by 3 points), it is
        a warning like any other."""
        definition = self.rules.get(rule)
        return severity == "info" and definition is not None and "category" in definition.labels

    # ------------------------------------------------------------------ the entity tree

    @functools.cached_property
    def _children_index(self) -> dict[str, list[str]]:
        # Built once, after every definition is collected: scopes ask for children many times.
        index: dict[str, list[str]] = {}
        for entity in self.entities.values():
            if entity.parent is not None:
                index.setdefault(entity.parent, []).append(entity.id)
        return index

    def children(self, entity: str) -> list[str]:
        return list(self._children_index.get(entity, ()))

    def descendants(self, entity: str) -> list[str]:
        found: list[str] = []
        seen = {entity}  # a set: a county holds hundreds of enterprises
        queue = collections.deque(self.children(entity))
        while queue:
            current = queue.popleft()
            if current in seen:
                continue  # a cycle in `in`, which the checker reports
            seen.add(current)
            found.append(current)
            queue.extend(self.children(current))
        return found

    def province(self) -> str | None:
        for entity in self.entities.values():
            if entity.kind == "province":
                return entity.id
        return None

    def regions(self) -> list[str]:
        """Every region in the tree: the default scope of a rule without `each`."""
        return [e.id for e in self.entities.values() if e.kind not in ("enterprise", "province")]

    def expand_set(self, entity_set: ast.EntitySet, subtree_default: bool, anchor: str | None = None) -> list[str]:
        base = anchor if entity_set.base == "children" and entity_set.relation is None else entity_set.base
        relation = "children" if entity_set.base == "children" and entity_set.relation is None else \
            entity_set.relation
        if base is None or base not in self.entities:
            return []
        if relation == "children":
            return self.children(base)
        if relation == "descendants":
            return self.descendants(base)
        if relation == "subtree" or subtree_default:
            return [base, *self.descendants(base)]
        return [base]

    def scope_entities(self, scope: ast.Scope | None) -> list[str]:
        if scope is None:
            return self.regions()
        kinds = SCOPE_KINDS.get(scope.kind, ())
        by_subtree = scope.kind != "entity"
        chosen: dict[str, None] = {}  # ordered and without repeats
        for entity_set in scope.sets:
            for entity in self.expand_set(entity_set, subtree_default=by_subtree):
                if self.entities[entity].kind in kinds:
                    chosen.setdefault(entity)
        return list(chosen)

    def tagged(self, tags: tuple[str, ...]) -> list[str]:
        return [i.id for i in self.indicators.values() if set(i.tags) & set(tags)]

    def targets_for(self, indicator: str) -> list[ast.TargetDef]:
        return [t for t in self.targets if t.indicator == indicator]
