"""The running service's heart: the active rule set, the engine over the stored history, and ingestion.

Every batch is one transaction: its observations (a changed value adds a vintage, an unchanged one adds
nothing), the batch record, the alert transitions the engine finds and the events. The engine keeps the
latest values in memory and is updated incrementally; a worker that finds another worker has written
since (the lock row's data version moved) first applies those observations, so every worker's engine
agrees with the store before it evaluates.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tortoise.transactions import in_transaction

from dsl import Model
from engine import DataError, Engine, Observation, Plan, Report, RowError, build_panel, compile_model, validate
from engine.panel import last_complete
from engine.periods import Period
from server import alertstore, rulesets
from server.store.models import AuditEntry, Event, ImportBatch, StoreLock
from server.store.models import Observation as StoredObservation

Row = Mapping[str, object]
log = logging.getLogger("taishan")


@dataclass
class IngestResult:
    batch: int
    rows: int
    accepted: list[dict]  # the observations stored, with their vintages
    unchanged: int  # rows equal to the latest stored value: idempotent re-sends
    transitions: list[dict]
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"batch": self.batch, "rows": self.rows, "accepted": len(self.accepted), "unchanged": self.unchanged,
                "vintages": self.accepted, "transitions": self.transitions, "seconds": round(self.seconds, 4)}


@dataclass
class Metrics:
    evaluations: int = 0
    evaluation_seconds: float = 0.0
    batches: int = 0
    observations: int = 0
    rejected_batches: int = 0
    extra: dict[str, float] = field(default_factory=dict)


class Service:
    def __init__(self, rules: list[str], horizon_months: int = 0, today: datetime.date | None = None):
        self.rules = rules
        self.horizon_months = horizon_months
        self._today = today
        self.model: Model | None = None
        self.plan: Plan | None = None
        self.engine: Engine | None = None
        self.version = 0
        self.data_version = -1
        self.last_observation = 0
        self.metrics = Metrics()
        self._lock = asyncio.Lock()
        self.listeners: list[asyncio.Event] = []  # woken on every new event, for the live stream

    def today(self) -> datetime.date:
        return self._today or datetime.date.today()

    # ------------------------------------------------------------------ start-up and rule sets

    async def start(self) -> None:
        """Activate the shipped rules if the store has none, then build the engine and reconcile alerts. Workers
        starting together on a fresh database take the lock row first, so only one of them installs the rules."""
        async with self._lock, in_transaction():
            lock = await StoreLock.select_for_update().get(id=1)
            if await rulesets.active() is None:
                ruleset, _ = await rulesets.upload(rulesets.read_rule_files(self.rules), user="system",
                                                   comment="随系统安装的规则")
                await rulesets.activate(ruleset.version)
                await audit("system", "ruleset.activate", f"v{ruleset.version}", {"initial": True})
                lock = await StoreLock.get(id=1)
            await self._rebuild(lock, reconcile=True)

    async def activate(self, version: int, user: str) -> int:
        """Make a stored version live; alerts are re-derived under it. Returns the transitions it added."""
        async with self._lock:
            await rulesets.activate(version)
            async with in_transaction():
                lock = await StoreLock.select_for_update().get(id=1)
                added = await self._rebuild(lock, reconcile=True)
                lock.data_version += 1
                await lock.save(update_fields=["data_version"])
                self.data_version = lock.data_version
                await Event.create(kind="ruleset", payload={"version": version, "transitions": added})
                await audit(user, "ruleset.activate", f"v{version}", {"transitions": added})
        self._wake()
        return added

    async def _rebuild(self, lock: StoreLock, reconcile: bool) -> int:
        found = await rulesets.active()
        if found is None:
            raise RuntimeError("no active rule set")
        ruleset, model = found
        started = time.perf_counter()
        observations, self.last_observation = await load_history(model)
        # Compiling and a full run take a while on a large history: keep the event loop answering meanwhile.
        plan, engine, report = await asyncio.to_thread(_full_run, model, observations, self.today())
        self.model, self.version, self.plan, self.engine = model, ruleset.version, plan, engine
        self._timed(started)
        self.data_version = lock.data_version
        return await alertstore.reconcile(report.transitions, self.version, model) if reconcile else 0

    async def _catch_up(self, lock: StoreLock) -> None:
        """Apply what other workers stored since this one last looked."""
        if lock.ruleset_version != self.version or self.engine is None:
            await self._rebuild(lock, reconcile=False)
            return
        if lock.data_version == self.data_version:
            return
        rows = await StoredObservation.filter(id__gt=self.last_observation).order_by("id").values_list(
            "id", "indicator", "entity", "period", "value", "vintage")
        if rows:
            self.last_observation = rows[-1][0]
            await self._evaluate([Observation(i, e, Period.parse(p), v, n) for _, i, e, p, v, n in rows])
        self.data_version = lock.data_version

    # ------------------------------------------------------------------ ingestion

    async def ingest(self, rows: list[Row], *, source: str, user: str = "", template: str = "",
                     filename: str = "", first_row: int = 1) -> IngestResult:
        """Store and evaluate one atomic batch. Raises DataError naming every bad row; then nothing is stored."""
        started = time.perf_counter()
        async with self._lock:
            try:
                return await self._ingest(rows, source, user, template, filename, first_row, started)
            except DataError:
                self.metrics.rejected_batches += 1
                raise
            except BaseException:
                # The transaction rolled back but the engine may have applied part of the batch: rebuild it
                # from the store now, so that readers are not left without one.
                self.engine = None
                await self._recover()
                raise

    async def _recover(self) -> None:
        try:
            async with in_transaction():
                await self._rebuild(await StoreLock.select_for_update().get(id=1), reconcile=False)
        except Exception:
            log.exception("rebuilding the engine after a failed batch failed; the next batch retries")

    async def _ingest(self, rows: list[Row], source: str, user: str, template: str, filename: str,
                      first_row: int, started: float) -> IngestResult:
        assert self.model is not None
        observations = validate(self.model, rows, first_row=first_row)
        self._check_horizon(observations, first_row)
        async with in_transaction():
            lock = await StoreLock.select_for_update().get(id=1)
            await self._catch_up(lock)
            latest = await latest_vintages(observations)
            fresh, unchanged = _new_vintages(observations, latest)
            batch = await ImportBatch.create(source=source, template=template, filename=filename, user=user,
                                             rows=len(rows), accepted=len(fresh), unchanged=unchanged)
            stored = [StoredObservation(indicator=o.indicator, entity=o.entity, period=str(o.period), value=o.value,
                                        vintage=o.vintage, batch_id=batch.id, source=source, user=user)
                      for o in fresh]
            await StoredObservation.bulk_create(stored, batch_size=2000)
            await _audit_revisions(fresh, latest, user, batch)
            report = await self._evaluate(fresh) if fresh else Report()
            transitions = await alertstore.record(report.transitions, self.version, batch, self.model)
            if fresh:
                await self._advance(lock)
                await Event.create(kind="data", payload=_arrival(batch, fresh))
        self.metrics.batches += 1
        self.metrics.observations += len(fresh)
        if fresh:
            self._wake()
        accepted = [{"indicator": o.indicator, "entity": o.entity, "period": str(o.period), "value": o.value,
                     "vintage": o.vintage} for o in fresh]
        return IngestResult(batch.id, len(rows), accepted, unchanged, transitions, time.perf_counter() - started)

    async def _advance(self, lock: StoreLock) -> None:
        newest = await StoredObservation.all().order_by("-id").limit(1).values_list("id", flat=True)
        self.last_observation = int(newest[0]) if newest else 0
        lock.data_version += 1
        await lock.save(update_fields=["data_version"])
        self.data_version = lock.data_version

    def _check_horizon(self, observations: list[Observation], first_row: int) -> None:
        """No data for periods that have not ended, beyond the configured horizon."""
        horizon = _add_months(self.today(), self.horizon_months)
        errors = [RowError(n, "period", f"期别 {o.period} 尚未结束（最晚可报 {last_complete(o.period.freq, horizon)}）")
                  for n, o in enumerate(observations, start=first_row)
                  if o.period > last_complete(o.period.freq, horizon)]
        if errors:
            raise DataError(errors)

    async def _evaluate(self, observations: list[Observation]) -> Report:
        assert self.engine is not None and self.plan is not None
        started = time.perf_counter()
        if all(self.engine.panel.covers(o) for o in observations):
            report = self.engine.update(observations)
        else:
            # A period past the panel's end (the calendar moved on): rebuild over the stored history, which
            # already holds the batch, and report the transitions the store does not have yet.
            history, _ = await load_history(self.plan.model)
            self.engine = Engine(self.plan, build_panel(self.plan.model, history, self.today()))
            known = await alertstore.stored_history()
            report = Report(_transitions=[t for t in self.engine.run().transitions
                                          if (alertstore.key_of(t), t.period, t.old, t.new) not in known])
        self._timed(started)
        return report

    def _timed(self, started: float) -> None:
        self.metrics.evaluations += 1
        self.metrics.evaluation_seconds += time.perf_counter() - started

    def _wake(self) -> None:
        for listener in self.listeners:
            listener.set()


# ---------------------------------------------------------------------- store helpers


def _full_run(model: Model, observations: list[Observation], today: datetime.date) -> tuple[Plan, Engine, Report]:
    plan = compile_model(model)
    engine = Engine(plan, build_panel(model, observations, today))
    return plan, engine, engine.run()



async def load_history(model: Model) -> tuple[list[Observation], int]:
    """Every stored observation the rule set knows, oldest vintage first, and the highest row id."""
    rows = await StoredObservation.all().order_by("vintage", "id").values_list(
        "id", "indicator", "entity", "period", "value", "vintage")
    known = [r for r in rows if r[1] in model.indicators and r[2] in model.entities]
    last = max((r[0] for r in rows), default=0)
    return [Observation(i, e, Period.parse(p), v, n) for _, i, e, p, v, n in known], last


async def latest_vintages(observations: Iterable[Observation]) -> dict[tuple[str, str, str], tuple[float, int]]:
    """(indicator, entity, period) → (value, vintage) of the newest stored vintage of each key asked for."""
    observations = list(observations)
    if not observations:
        return {}
    wanted = {(o.indicator, o.entity, str(o.period)) for o in observations}
    rows = await StoredObservation.filter(
        indicator__in={k[0] for k in wanted}, entity__in={k[1] for k in wanted},
        period__in={k[2] for k in wanted}).values_list("indicator", "entity", "period", "value", "vintage")
    latest: dict[tuple[str, str, str], tuple[float, int]] = {}
    for indicator, entity, period, value, vintage in rows:
        key = (indicator, entity, period)
        if key in wanted and vintage > latest.get(key, (0.0, -1))[1]:
            latest[key] = (value, vintage)
    return latest


def _new_vintages(observations: list[Observation],
                  latest: dict[tuple[str, str, str], tuple[float, int]]) -> tuple[list[Observation], int]:
    fresh: list[Observation] = []
    unchanged = 0
    for o in observations:
        stored = latest.get((o.indicator, o.entity, str(o.period)))
        if stored is not None and stored[0] == o.value:
            unchanged += 1
            continue
        vintage = 1 if stored is None else stored[1] + 1
        fresh.append(Observation(o.indicator, o.entity, o.period, o.value, vintage))
    return fresh, unchanged


async def _audit_revisions(fresh: list[Observation], latest: dict[tuple[str, str, str], tuple[float, int]],
                           user: str, batch: ImportBatch) -> None:
    """Who revised which value, from what to what."""
    entries = [AuditEntry(actor=user, action="data.revise", target=f"{o.indicator}/{o.entity}/{o.period}",
                          detail={"from": latest[key][0], "to": o.value, "vintage": o.vintage, "batch": batch.id})
               for o in fresh if (key := (o.indicator, o.entity, str(o.period))) in latest]
    if entries:
        await AuditEntry.bulk_create(entries, batch_size=2000)


def _arrival(batch: ImportBatch, fresh: list[Observation]) -> dict:
    return {"batch": batch.id, "source": batch.source, "observations": len(fresh),
            "indicators": sorted({o.indicator for o in fresh})[:20], "entities": sorted({o.entity for o in fresh}),
            "periods": sorted({str(o.period) for o in fresh})[-6:]}


def _add_months(day: datetime.date, months: int) -> datetime.date:
    total = day.year * 12 + day.month - 1 + months
    return datetime.date(total // 12, total % 12 + 1, 1)


async def audit(actor: str, action: str, target: str, detail: dict | None = None) -> None:
    await AuditEntry.create(actor=actor, action=action, target=target, detail=detail or {})
