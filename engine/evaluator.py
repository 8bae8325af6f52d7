"""Run a plan on a panel: a full evaluation, and an incremental one for a few changed observations.

The full evaluation walks the rule instances of each frequency, computing each plan node once and
freeing it after its last reader. The incremental one re-runs only the instances that read a changed
indicator, over only the columns a change can reach (from the change, back by the instance's
lookback), and re-runs the state machine only for the rows the change can affect.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from dsl.model import Model
from engine import alerts
from engine.compiler import FULL_HISTORY, SEVERITY_NAME, Plan, RuleInstance
from engine.operators import Frame, evaluate_node, kleene
from engine.panel import Observation, Panel
from engine.periods import Axis
from engine.report import CheckResult, Report, Transition, render_message


@dataclass
class InstanceState:
    rows: np.ndarray  # panel rows of the instance's entities
    states: np.ndarray  # (len(rows), periods) int8
    levels: np.ndarray  # firing severity per cell
    condition: np.ndarray  # the combined condition (1, 0, NaN)
    severity: np.ndarray  # the severity of the condition where it holds


class Engine:
    def __init__(self, plan: Plan, panel: Panel):
        self.plan = plan
        self.panel = panel
        self.state: dict[int, InstanceState] = {}
        self._needed = [self._closure(inst) for inst in plan.instances]
        self._panel_rows = [np.array([panel.entity_index[e] for e in inst.entities], dtype=int)
                            for inst in plan.instances]

    # ---------------------------------------------------------------- full evaluation

    def run(self) -> Report:
        report = Report(self.panel)
        for freq, axis in self.panel.axes.items():
            positions = [i for i, inst in enumerate(self.plan.instances) if inst.freq == freq]
            self._run_frequency(positions, Frame(self.panel, axis, 0), report)
        return report

    def _run_frequency(self, positions: list[int], frame: Frame, report: Report) -> None:
        last_use: dict[int, int] = {}
        for position in positions:
            for node in self._needed[position]:
                last_use[node] = position
        cache: dict[int, np.ndarray] = {}
        for position in positions:
            inst = self.plan.instances[position]
            self._compute(self._needed[position], frame, cache)
            state = self._states(position, frame, cache, np.arange(len(inst.entities)))
            self.state[position] = state
            self._report(report, inst, state, frame, cache, start=0, reason="")
            for node in self._needed[position]:
                if last_use[node] == position:
                    cache.pop(node, None)

    # ---------------------------------------------------------------- incremental evaluation

    def update(self, observations: Iterable[Observation]) -> Report:
        """Apply observations already validated, and report the transitions they cause."""
        report = Report(self.panel)
        changes: dict[int, tuple[int, set[str], bool]] = {}
        for obs in observations:
            if not self.panel.covers(obs):
                raise ValueError(f"period {obs.period} is outside the panel; rebuild the panel")
            old = self.panel.set(obs)
            if old == obs.value:
                continue
            column = self.panel.axes[obs.period.freq].index(obs.period)
            for position in self.plan.by_indicator.get(obs.indicator, ()):
                start, entities, revised = changes.get(position, (column, set(), False))
                changes[position] = (min(start, column), entities | {obs.entity}, revised or old is not None)
        for position, (column, entities, revised) in sorted(changes.items()):
            self._rerun(position, column, entities, "revised" if revised else "", report)
        return report

    def _rerun(self, position: int, column: int, entities: set[str], reason: str, report: Report) -> None:
        inst = self.plan.instances[position]
        axis = self.panel.axes[inst.freq]
        # The recover latch can reach back indefinitely, like history(): recompute from the start.
        unbounded = inst.lookback >= FULL_HISTORY or inst.recover is not None
        first = 0 if unbounded else max(0, column - inst.lookback)
        window = Axis(axis.freq, axis.start + first, axis.length - first)
        rows = self._affected_rows(inst, entities)
        if not len(rows):
            return
        # A rule that reads no other entity's values needs only the changed entities' rows.
        frame_rows = None if inst.cross_entity else self._panel_rows[position][rows]
        frame = Frame(self.panel, window, first, frame_rows)
        cache: dict[int, np.ndarray] = {}
        self._compute(self._needed[position], frame, cache)
        old = self.state[position]
        fresh = self._states(position, frame, cache, rows, old, 0 if unbounded else column)
        before_states, before_levels = old.states[rows].copy(), old.levels[rows].copy()
        old.states[rows], old.levels[rows] = fresh.states, fresh.levels
        old.condition[rows], old.severity[rows] = fresh.condition, fresh.severity
        self._report_changes(report, inst, old, rows, before_states, before_levels, frame, cache, column, reason)

    def _affected_rows(self, inst: RuleInstance, entities: set[str]) -> np.ndarray:
        if inst.cross_entity:
            return np.arange(len(inst.entities))
        return np.array([i for i, e in enumerate(inst.entities) if e in entities], dtype=int)

    def _report_changes(self, report: Report, inst: RuleInstance, state: InstanceState, rows: np.ndarray,
                        before: np.ndarray, before_levels: np.ndarray, frame: Frame, cache: dict[int, np.ndarray],
                        column: int, reason: str) -> None:
        old_moves = set(alerts.transitions(before, before_levels, column))
        told: dict[int, int] = {}  # row -> the state the last reported transition left it in
        for row_offset, period, old, new in alerts.transitions(state.states[rows], state.levels[rows], column):
            if (row_offset, period, old, new) in old_moves:
                continue
            why = reason if new == alerts.RESOLVED or old == alerts.FIRING else ""
            told[row_offset] = new
            self._add(report, inst, state, int(rows[row_offset]), period, old, new, frame, cache, why)
        last = before.shape[1] - 1
        for row_offset in range(len(rows)):
            # A revision can change the current state without leaving a transition in the new history
            # (the period that raised or resolved an alert is itself revised): tell receivers directly.
            was, now = int(before[row_offset, last]), int(state.states[rows[row_offset], last])
            if was == now or told.get(row_offset) == now or (was, now) == (alerts.RESOLVED, alerts.INACTIVE):
                continue
            now = alerts.RESOLVED if (was, now) == (alerts.FIRING, alerts.INACTIVE) else now
            self._add(report, inst, state, int(rows[row_offset]), last, was, now, frame, cache, "revised")

    # ---------------------------------------------------------------- shared steps

    def _closure(self, inst: RuleInstance) -> list[int]:
        roots = [n for n, _ in inst.conditions] + [n for n in (inst.guard, inst.recover) if n is not None]
        roots += list(inst.values.values())
        seen: set[int] = set()
        stack = list(roots)
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(self.plan.nodes[node].inputs)
        return sorted(seen)  # nodes are created after their inputs, so id order is a topological order

    def _compute(self, nodes: list[int], frame: Frame, cache: dict[int, np.ndarray]) -> None:
        with np.errstate(all="ignore"):
            for node_id in nodes:
                if node_id not in cache:
                    node = self.plan.nodes[node_id]
                    cache[node_id] = evaluate_node(frame, node, [cache[i] for i in node.inputs])

    def _states(self, position: int, frame: Frame, cache: dict[int, np.ndarray], rows: np.ndarray,
                previous: InstanceState | None = None, keep: int = 0) -> InstanceState:
        inst = self.plan.instances[position]
        panel_rows = self._panel_rows[position][rows]
        local_rows = panel_rows if frame.rows is None else np.arange(len(rows))
        condition, severity = self._condition(inst, cache, local_rows)
        if previous is not None and keep > 0:
            # Columns before the change are unchanged, and inside the window they lack their own
            # lookback: take the stored condition for them and the fresh one from the change on.
            skip = keep - frame.start
            condition = np.concatenate([previous.condition[rows, :keep], condition[:, skip:]], axis=1)
            severity = np.concatenate([previous.severity[rows, :keep], severity[:, skip:]], axis=1)
        recover = None
        if inst.recover is not None:
            recover = np.asarray(cache[inst.recover])[local_rows]
            # Instances with a recover clause are always recomputed from the first column.
        persistence = alerts.Persistence(inst.for_periods, inst.of_periods, inst.keep_periods)
        states, levels = alerts.run_states(condition, severity, persistence, recover)
        return InstanceState(panel_rows, states, levels, condition, severity)

    def _condition(self, inst: RuleInstance, cache: dict[int, np.ndarray],
                   rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(inst.conditions) == 1:
            node, level = inst.conditions[0]
            # One condition: its severity is the only one, and fancy indexing already copied the values.
            combined = np.asarray(cache[node])[rows]
            severity = np.full(combined.shape, level, dtype=np.int8)
            if inst.guard is not None:
                combined[np.asarray(cache[inst.guard])[rows] != 1] = np.nan
            return combined, severity
        combined: np.ndarray | None = None
        severity: np.ndarray | None = None
        for node, level in inst.conditions:
            value = np.asarray(cache[node])[rows]
            if severity is None:
                severity = np.zeros(value.shape, dtype=np.int8)
            np.maximum(severity, level, out=severity, where=value == 1)
            combined = value if combined is None else kleene("or", combined, value)
        assert combined is not None and severity is not None
        severity[severity == 0] = inst.severity
        # Fancy indexing and the Kleene or made fresh arrays, so the guard may write into them.
        if inst.guard is not None:
            combined[np.asarray(cache[inst.guard])[rows] != 1] = np.nan
        return combined, severity

    def _report(self, report: Report, inst: RuleInstance, state: InstanceState, frame: Frame,
                cache: dict[int, np.ndarray], start: int, reason: str) -> None:
        rows, cols, olds, news = alerts.transition_arrays(state.states, state.levels, start)
        if len(rows):
            # Gather the provenance now, while the node arrays exist; build objects only when read.
            panel_rows, local = state.rows[rows], cols - frame.start
            values = {label: np.asarray(cache[node], dtype=float)[panel_rows, local]
                      for label, node in inst.values.items()}
            source = np.where((news == alerts.RESOLVED) & (cols > 0), cols - 1, cols)
            levels = state.levels[rows, source]
            levels[levels == 0] = inst.severity
            periods = self.panel.axes[inst.freq].periods
            batch = _Batch(inst, rows, cols, olds, news, levels, values, reason)
            report.defer(lambda: batch.build(self.plan.model, periods))
        if inst.kind == "check":
            condition, periods = state.condition, frame.axis.periods
            report.defer_checks(lambda: _check_results(inst, condition, periods))

    def _add(self, report: Report, inst: RuleInstance, state: InstanceState, row: int, column: int, old: int,
             new: int, frame: Frame, cache: dict[int, np.ndarray], reason: str) -> None:
        entity = inst.entities[row]
        panel_row = frame.row_of(entity)
        local = column - frame.start
        values = {label: _cell(cache.get(node), panel_row, local) for label, node in inst.values.items()}
        period = self.panel.axes[inst.freq].periods[column]
        severity = SEVERITY_NAME[_severity_at(state, row, column, new, inst.severity)]
        report.transitions.append(Transition(
            rule=inst.id, kind=inst.kind, entity=entity, indicator=inst.indicator, period=str(period),
            old=alerts.STATE_NAMES[old], new=alerts.STATE_NAMES[new], severity=severity,
            reason=reason, values=values, thresholds=inst.thresholds,
            message=render_message(self.plan.model, inst, entity, str(period), values, alerts.STATE_NAMES[new],
                                   severity),
        ))

@dataclass
class _Batch:
    """The transitions of one instance, as arrays."""

    inst: RuleInstance
    rows: np.ndarray
    cols: np.ndarray
    olds: np.ndarray
    news: np.ndarray
    levels: np.ndarray
    values: dict[str, np.ndarray]
    reason: str

    def build(self, model: Model, periods: list) -> list[Transition]:
        inst, built = self.inst, []
        for i, (row, col, old, new) in enumerate(zip(self.rows.tolist(), self.cols.tolist(), self.olds.tolist(),
                                                     self.news.tolist(), strict=True)):
            entity, period = inst.entities[row], str(periods[col])
            values = {label: _number(array[i]) for label, array in self.values.items()}
            state = alerts.STATE_NAMES[new]
            built.append(Transition(
                rule=inst.id, kind=inst.kind, entity=entity, indicator=inst.indicator, period=period,
                old=alerts.STATE_NAMES[old], new=state, severity=SEVERITY_NAME[int(self.levels[i])],
                reason=self.reason, values=values, thresholds=inst.thresholds,
                message=render_message(model, inst, entity, period, values, state,
                                       SEVERITY_NAME[int(self.levels[i])])))
        return built


def _check_results(inst: RuleInstance, condition: np.ndarray, periods: list) -> list[CheckResult]:
    rows, cols = np.nonzero(~np.isnan(condition))
    return [CheckResult(inst.id, inst.entities[row], str(periods[col]),
                        "violated" if condition[row, col] == 1 else "ok")
            for row, col in zip(rows.tolist(), cols.tolist(), strict=True)]


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _severity_at(state: InstanceState, row: int, column: int, new: int, default: int) -> int:
    """The severity of a cell; a resolution carries the severity the alert was firing with."""
    source = column - 1 if new == alerts.RESOLVED and column > 0 else column
    return int(state.levels[row, source]) or default


def _cell(array: np.ndarray | None, row: int | None, column: int) -> float | None:
    if array is None or row is None or column < 0 or column >= np.shape(array)[-1]:
        return None
    value = float(np.asarray(array)[row, column])
    return None if np.isnan(value) else value

