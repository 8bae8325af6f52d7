"""Rule unit tests, like `promtool test rules`: given series, expected alert states."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from dsl import ast
from dsl.model import Model
from engine import alerts
from engine.compiler import SEVERITY_NAME, Plan, compile_model
from engine.evaluator import Engine
from engine.panel import DataError, Observation, build_panel, validate
from engine.periods import Period, period_range


@dataclass
class TestOutcome:
    test: ast.TestDef
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def run_tests(model: Model, plan: Plan | None = None) -> list[TestOutcome]:
    plan = plan or compile_model(model)
    return [run_test(model, plan, test) for test in model.tests]


def run_test(model: Model, plan: Plan, test: ast.TestDef) -> TestOutcome:
    outcome = TestOutcome(test)
    try:
        observations = validate(model, _given_rows(test))
    except DataError as error:
        outcome.failures.extend(f"给定数据有误：{e.render()}" for e in error.errors)
        return outcome
    as_of = _as_of(test, observations)
    panel = build_panel(model, observations, as_of, extend_to_as_of=test.as_of is not None)
    engine = Engine(plan, panel)
    engine.run()
    for expect in test.expects:
        problem = _verify(engine, expect)
        if problem:
            span = expect.span
            outcome.failures.append(f"{span.path}:{span.line}:{span.column}: {problem}")
    return outcome


def _given_rows(test: ast.TestDef) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for given in test.givens:
        periods = period_range(Period.parse(given.start), Period.parse(given.end))
        for period, value in zip(periods, given.values, strict=False):
            if value is not None:
                rows.append({"indicator": given.indicator, "entity": given.entity, "period": str(period),
                             "value": value})
    return rows


def _as_of(test: ast.TestDef, observations: list[Observation]) -> datetime.date:
    if test.as_of is not None:
        return datetime.date.fromisoformat(test.as_of)
    last = max((o.period.end_date() for o in observations), default=datetime.date(2000, 1, 1))
    return last + datetime.timedelta(days=1)


def _verify(engine: Engine, expect: ast.Expect) -> str | None:
    plan = engine.plan
    candidates = [i for i, inst in enumerate(plan.instances) if inst.id == expect.rule
                  and (expect.indicator is None or inst.indicator == expect.indicator)]
    seen: list[str] = []
    for position in candidates:
        got, level = _state_at(engine, position, expect.entity, expect.period)
        if got == expect.state and (expect.severity is None or level == expect.severity):
            return None
        seen.append(got if expect.severity is None else f"{got} ({level})")
    wanted = expect.state + (f" ({expect.severity})" if expect.severity else "")
    actual = "、".join(sorted(set(seen))) or "没有数据"
    return f"期望 {expect.rule} 在 {expect.entity} {expect.period} 为 {wanted}，实际为 {actual}"


def _state_at(engine: Engine, position: int, entity: str, period_text: str) -> tuple[str, str | None]:
    inst = engine.plan.instances[position]
    state = engine.state.get(position)
    axis = engine.panel.axes.get(inst.freq)
    if state is None or axis is None or entity not in inst.entities:
        return "inactive", None
    period = Period.parse(period_text)
    if period not in axis:
        return "inactive", None
    row, column = inst.entities.index(entity), axis.index(period)
    if inst.kind == "check":
        value = state.condition[row, column]
        check_state = "violated" if value == 1 else ("ok" if value == 0 else "inactive")
        return check_state, None
    level = int(state.levels[row, column])
    return alerts.STATE_NAMES[int(state.states[row, column])], SEVERITY_NAME.get(level)

