"""What a candidate rule set would change before it goes live: it is evaluated over the stored history beside the
active plan, and the alerts firing at the end of each run are compared. Nothing is stored.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable
from dataclasses import dataclass

from dsl import Model
from engine import Engine, Observation, Plan, Transition, build_panel, compile_model
from server.alertstore import AlertKey, key_of
from server.rulesets import load_files
from server.service import Service, load_history


@dataclass(frozen=True)
class Effect:
    raised: list[dict]  # firing under the candidate, not now
    cleared: list[dict]  # firing now, not under the candidate
    changed: list[dict]  # firing under both, at another severity
    firing_now: list[str]  # the entity of each alert firing now
    firing_candidate: list[str]  # the same under the candidate

    def seen_by(self, sees: Callable[[str], bool]) -> Effect:
        """Only what a caller's region scope shows; the totals then count that region too."""
        return Effect(*([r for r in rows if sees(r["entity"])] for rows in (self.raised, self.cleared, self.changed)),
                      [e for e in self.firing_now if sees(e)], [e for e in self.firing_candidate if sees(e)])

    def as_dict(self) -> dict:
        counts = {"raise": len(self.raised), "clear": len(self.cleared), "changed": len(self.changed),
                  "firing_now": len(self.firing_now), "firing_candidate": len(self.firing_candidate)}
        return {"counts": counts, "raise": self.raised, "clear": self.cleared, "changed": self.changed}


async def dry_run(service: Service, files: dict[str, str]) -> Effect:
    """Raises DslError when the candidate does not check."""
    active = service.plan
    if active is None:
        raise RuntimeError("the service has not started")
    candidate = await asyncio.to_thread(load_files, files)
    history, _ = await load_history(candidate)
    # The usual candidate changes thresholds only: then both read the same observations.
    same_data = set(candidate.indicators) == set(active.model.indicators) and \
        set(candidate.entities) == set(active.model.entities)
    active_history = history if same_data else (await load_history(active.model))[0]
    return await asyncio.to_thread(compare, candidate, active, history, active_history, service.today())


def compare(candidate: Model, active: Plan, history: list[Observation], active_history: list[Observation],
            as_of: datetime.date) -> Effect:
    """Pure and slow (two full evaluations): run it off the event loop."""
    after = _firing(compile_model(candidate), history, as_of)
    before = _firing(active, active_history, as_of)
    raised = [_row(after[k]) for k in sorted(after.keys() - before.keys())]
    cleared = [_row(before[k]) for k in sorted(before.keys() - after.keys())]
    changed = [{**_row(after[k]), "was": before[k].severity} for k in sorted(after.keys() & before.keys())
               if after[k].severity != before[k].severity]
    return Effect(raised, cleared, changed, [t.entity for t in before.values()], [t.entity for t in after.values()])


def _firing(plan: Plan, history: list[Observation], as_of: datetime.date) -> dict[AlertKey, Transition]:
    # Each plan gets a panel of its own model: a candidate may move an entity to another parent.
    report = Engine(plan, build_panel(plan.model, history, as_of)).run()
    return {key_of(t): t for t in report.current() if t.new == "firing"}


def _row(t: Transition) -> dict:
    return {"rule": t.rule, "kind": t.kind, "entity": t.entity, "indicator": t.indicator, "period": t.period,
            "severity": t.severity, "message": t.message}
