"""Findings as data: transitions with provenance, check results, and the messages a person reads."""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from dsl.model import Model

if TYPE_CHECKING:
    from engine.compiler import RuleInstance
    from engine.panel import Panel

SEVERITY_CHINESE = {"info": "提示", "warning": "预警", "critical": "严重"}
STATE_CHINESE = {"inactive": "正常", "pending": "待定", "firing": "报警", "resolved": "已恢复"}


@dataclass
class Transition:
    rule: str
    kind: str  # rule | check
    entity: str
    indicator: str | None
    period: str
    old: str
    new: str
    severity: str
    reason: str  # "" or "revised"
    values: dict[str, float | None]
    thresholds: tuple[float, ...]
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class CheckResult:
    check: str
    entity: str
    period: str
    status: str  # ok | violated


@dataclass
class Report:
    """Findings of one evaluation. A full run over the whole history can find hundreds of thousands of
    transitions: they are kept as arrays and become objects (with their messages) only when read."""

    panel: Panel | None = None
    _transitions: list[Transition] = field(default_factory=list)
    _check_results: list[CheckResult] = field(default_factory=list)
    _deferred: list[Callable[[], Iterable[Transition]]] = field(default_factory=list)
    _deferred_checks: list[Callable[[], Iterable[CheckResult]]] = field(default_factory=list)

    def defer(self, build: Callable[[], Iterable[Transition]]) -> None:
        self._deferred.append(build)

    def defer_checks(self, build: Callable[[], Iterable[CheckResult]]) -> None:
        self._deferred_checks.append(build)

    @property
    def transitions(self) -> list[Transition]:
        while self._deferred:
            self._transitions.extend(self._deferred.pop(0)())
        return self._transitions

    @property
    def check_results(self) -> list[CheckResult]:
        while self._deferred_checks:
            self._check_results.extend(self._deferred_checks.pop(0)())
        return self._check_results

    def state_history(self, rule: str, entity: str, indicator: str | None = None) -> dict[str, str]:
        """Period → state after each transition of one alert."""
        return {t.period: t.new for t in self.transitions
                if t.rule == rule and t.entity == entity and t.indicator == indicator}

    def current(self) -> list[Transition]:
        """The last transition of every alert that is firing or pending now."""
        latest: dict[tuple, Transition] = {}
        for t in self.transitions:
            latest[(t.rule, t.entity, t.indicator)] = t
        return [t for t in latest.values() if t.new in ("firing", "pending")]


def render_message(model: Model, inst: RuleInstance, entity: str, period: str,
                   values: dict[str, float | None], state: str = "firing", severity: str = "") -> str:
    text = _render_template(model, inst, entity, period, values, severity or _severity_name(inst.severity))
    return f"【已恢复】{text}" if state == "resolved" else text


def _render_template(model: Model, inst: RuleInstance, entity: str, period: str,
                     values: dict[str, float | None], severity: str) -> str:
    definition = inst.definition
    template = getattr(definition, "message", None)
    title = getattr(definition, "title", inst.id)
    names = {
        "entity": model.entities[entity].name if entity in model.entities else entity,
        "period": _chinese_period(period),
        "indicator": model.indicators[inst.indicator].name if inst.indicator in model.indicators else "",
        "rule": title,
        "severity": SEVERITY_CHINESE.get(severity, ""),
    }
    if not template:
        prefix = f"{names['entity']}{names['period']}"
        return f"{prefix}{names['indicator']}：{title}" if names["indicator"] else f"{prefix}：{title}"
    out: list[str] = []
    for literal, field_name, spec, _conversion in string.Formatter().parse(template):
        out.append(literal)
        if field_name is None:
            continue
        if field_name in names:
            out.append(names[field_name])
        else:
            value = values.get(field_name)
            out.append("—" if value is None else format(value, spec) if spec else _plain(value))
    return "".join(out)


def _plain(value: float) -> str:
    """A number as a bureau writes it: no exponent, at most two decimals."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _severity_name(level: int) -> str:
    return {1: "info", 2: "warning", 3: "critical"}.get(level, "warning")


def _chinese_period(period: str) -> str:
    if len(period) == 7 and period[4] == "-":
        return f"{period[:4]}年{int(period[5:])}月"
    if "Q" in period:
        return f"{period[:4]}年第{period[-1]}季度"
    return f"{period}年"
