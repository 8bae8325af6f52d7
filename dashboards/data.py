"""What the dashboard process knows: a read-only view of the store with the engine over its history.

The dashboard process opens the store itself instead of asking the API: the engine's panel answers every chart
in memory (a drill-down click never waits on HTTP or SQL), no service credentials are needed, and the same query
layer (`server.queries`, `server.latest`) serves both. It never writes and never migrates: the API owns the
schema. Every `POLL_SECONDS` it looks at the lock row the API bumps on each batch and applies the new
observations to its engine, the way a second API worker catches up; alerts are re-read when they change.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from tortoise import Tortoise
from tortoise.functions import Count, Max

from dsl import Model
from engine import Engine, Observation, Plan, build_panel, compile_model
from engine.alerts import FIRING
from engine.compiler import SEVERITY_NAME
from engine.periods import Period
from server import queries, rulesets
from server.accounts import visible_entities
from server.latest import Latest, cache_for
from server.service import load_history
from server.store import tortoise_config
from server.store.models import Alert, StoreLock
from server.store.models import Observation as StoredObservation

log = logging.getLogger("taishan.dashboards")
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Viewer:
    """Who is looking, as the signed session token says: never from URL arguments."""

    name: str
    role: str
    scope: frozenset[str] | None  # visible entity ids; None: all
    can_act: bool  # may acknowledge, explain, mark data errors

    def sees(self, entity: str) -> bool:
        return self.scope is None or entity in self.scope

    def visible(self, entities: Iterable[str]) -> list[str]:
        return [e for e in entities if self.sees(e)]


@dataclass(eq=False)  # one per process, and the key of its latest-value cache
class Data:
    model: Model | None = None
    plan: Plan | None = None
    engine: Engine | None = None
    version: int = -1
    data_version: int = -1
    last_observation: int = 0
    alerts: list[dict] = field(default_factory=list)
    alert_mark: tuple = ()
    changed_at: float = 0.0  # monotonic time of the last change a session should redraw for
    today: datetime.date | None = None

    @property
    def ready(self) -> bool:
        return self.engine is not None

    # ------------------------------------------------------------------ loading and catching up

    async def refresh(self) -> bool:
        """Catch up with the store; True when anything a dashboard shows changed."""
        lock = await StoreLock.get_or_none(id=1)
        if lock is None:
            return False
        changed = False
        if lock.ruleset_version != self.version or self.engine is None:
            changed = await self._rebuild(lock)
        elif lock.data_version != self.data_version:
            await self._apply_new()
            self.data_version = lock.data_version
            changed = True
        changed = await self._reload_alerts() or changed
        if changed:
            self.changed_at = time.monotonic()
        return changed

    async def _rebuild(self, lock: StoreLock) -> bool:
        found = await rulesets.active()
        if found is None:
            return False
        ruleset, model = found
        observations, last = await load_history(model)
        today = self.today or datetime.date.today()
        plan, engine = await asyncio.to_thread(_build, model, observations, today)
        self.model, self.plan, self.engine, self.version = model, plan, engine, ruleset.version
        self.last_observation, self.data_version = last, lock.data_version
        return True

    async def _apply_new(self) -> None:
        assert self.engine is not None and self.model is not None
        rows = await StoredObservation.filter(id__gt=self.last_observation).order_by("id").values_list(
            "id", "indicator", "entity", "period", "value", "vintage")
        if not rows:
            return
        self.last_observation = rows[-1][0]
        fresh = [Observation(i, e, Period.parse(p), v, n) for _, i, e, p, v, n in rows
                 if i in self.model.indicators and e in self.model.entities]
        if all(self.engine.panel.covers(o) for o in fresh):
            self.engine.update(fresh)
            return
        observations, self.last_observation = await load_history(self.model)
        today = self.today or datetime.date.today()
        self.plan, self.engine = await asyncio.to_thread(_build, self.model, observations, today)

    async def _reload_alerts(self) -> bool:
        found = await Alert.all().annotate(n=Count("id"), newest=Max("updated_at")).values("n", "newest")
        mark = (found[0]["n"], found[0]["newest"]) if found else ()
        if mark == self.alert_mark:
            return False
        _, rows = await queries.alerts({}, None, 100_000, 0)
        self.alerts, self.alert_mark = rows, mark
        return True

    async def poll(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:
                log.exception("看板数据刷新失败，稍后重试")
            await asyncio.sleep(POLL_SECONDS)

    # ------------------------------------------------------------------ answers

    def viewer(self, payload: dict) -> Viewer:
        """The viewer a session token names. Its scope roots are re-expanded against the active rules."""
        assert self.model is not None
        roots = [str(e) for e in payload.get("scope") or ()]
        return Viewer(str(payload.get("user", "")), str(payload.get("role", "")),
                      visible_entities(self.model, roots), bool(payload.get("can_act")))

    def latest(self, indicator: str) -> Latest:
        assert self.engine is not None
        return cache_for(self).get(self.engine.panel, self.data_version, indicator, None)

    def alerts_for(self, viewer: Viewer, state: str | None = "firing") -> list[dict]:
        return [a for a in self.alerts if viewer.sees(a["entity"]) and (state is None or a["state"] == state)]

    def alert_indicators(self, alert: dict) -> list[str]:
        """The indicators an alert's rule reads, the bound one first."""
        assert self.plan is not None
        if alert.get("indicator"):
            return [alert["indicator"]]
        for inst in self.plan.instances:
            if inst.id == alert["rule"]:
                return _primary_first(inst.definition, sorted(inst.inputs))
        return []

    def firing_periods(self, entity: str, indicator: str) -> dict[str, list[str]]:
        """Period → ids of the rules firing there, for every rule that reads the indicator at this entity."""
        assert self.engine is not None and self.plan is not None
        found: dict[str, list[str]] = {}
        for position in self.plan.by_indicator.get(indicator, ()):
            inst = self.plan.instances[position]
            state = self.engine.state.get(position)
            if state is None or entity not in inst.entities:
                continue
            axis = self.engine.panel.axes[inst.freq]
            row = inst.entities.index(entity)
            for column in np.flatnonzero(state.states[row] == FIRING):
                severity = SEVERITY_NAME[int(state.levels[row, column]) or inst.severity]
                if not self.model.watch_list(inst.id, severity):
                    found.setdefault(str(axis.periods[column]), []).append(inst.id)
        return found

    def firing_indicators(self, entity: str) -> set[str]:
        """Indicators read by a rule firing now at the entity."""
        firing: set[str] = set()
        for alert in self.alerts:
            if alert["entity"] == entity and alert["state"] == "firing" and not self.listed_only(alert):
                firing.update(self.alert_indicators(alert))
        return firing

    def warnings_for(self, viewer: Viewer) -> list[dict]:
        """The firing alerts that are warnings: without enterprises that are only listed in a watch category."""
        return [a for a in self.alerts_for(viewer) if not self.listed_only(a)]

    def listed_only(self, alert: dict) -> bool:
        assert self.model is not None
        return self.model.watch_list(alert["rule"], alert["severity"])


def _primary_first(definition: object, inputs: list[str]) -> list[str]:
    """The indicator a rule is about: the first one its first condition names."""
    from dsl import ast

    conditions = getattr(definition, "conditions", None) or []
    exprs = [c.expr for c in conditions]
    balance = getattr(definition, "balance", None)
    if balance is not None:
        exprs = [balance.left, balance.right]
    for expr in exprs:
        for sub in ast.walk(expr):
            if isinstance(sub, ast.Ref) and sub.name in inputs:
                return [sub.name, *[i for i in inputs if i != sub.name]]
    return inputs


def _build(model: Model, observations: list[Observation], today: datetime.date) -> tuple[Plan, Engine]:
    plan = compile_model(model)
    engine = Engine(plan, build_panel(model, observations, today))
    engine.run()
    return plan, engine


async def connect(db: str) -> None:
    """Connect without migrating: the API process owns the schema."""
    await Tortoise.init(config=tortoise_config(db), _enable_global_fallback=True)


async def disconnect() -> None:
    await Tortoise.close_connections()


async def wait_ready(data: Data, timeout: float = 120.0) -> None:
    """The API may still be migrating or activating the first rule set: wait for it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await data.refresh()
        except Exception as error:  # tables not there yet
            if time.monotonic() > deadline:
                raise
            log.debug("store not ready: %s", error)
        if data.ready:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("store has no active rule set")
        await asyncio.sleep(0.5)
