"""Observations in, aligned numpy arrays out: one (entities × periods) array per indicator.

Rows are validated against the model first. A batch with any bad row is rejected whole, with one
error per bad row naming the row, the column and the reason.
"""

from __future__ import annotations

import datetime
import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from dsl.errors import did_you_mean
from dsl.model import Model
from engine.periods import Axis, Period, PeriodError

COLUMNS = ("indicator", "entity", "period", "value")


@dataclass(frozen=True)
class Observation:
    indicator: str
    entity: str
    period: Period
    value: float
    vintage: int = 0


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    reason: str

    def render(self) -> str:
        return f"第{self.row}行 {self.column}：{self.reason}"


class DataError(Exception):
    """Every bad row of a batch; nothing of the batch is kept."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__("\n".join(e.render() for e in errors))


def validate(model: Model, rows: Iterable[Mapping[str, object]], first_row: int = 1) -> list[Observation]:
    """Check every row and return observations, or raise DataError listing every bad row."""
    observations: list[Observation] = []
    errors: list[RowError] = []
    seen: dict[tuple[str, str, Period, int], tuple[float, int]] = {}
    for number, row in enumerate(rows, start=first_row):
        found = _validate_row(model, row, number)
        if isinstance(found, RowError):
            errors.append(found)
            continue
        key = (found.indicator, found.entity, found.period, found.vintage)
        if key in seen and seen[key][0] != found.value:
            errors.append(RowError(number, "value", f"与第{seen[key][1]}行重复（同一指标、单位、期别、版本），"
                                                    f"但数值不同：{seen[key][0]:g} 与 {found.value:g}"))
            continue
        seen[key] = (found.value, number)
        observations.append(found)
    if errors:
        raise DataError(errors)
    return observations


def _validate_row(model: Model, row: Mapping[str, object], number: int) -> Observation | RowError:
    for column in COLUMNS:
        if row.get(column) in (None, ""):
            return RowError(number, column, f"缺少 {column}")
    indicator, entity = str(row["indicator"]).strip(), str(row["entity"]).strip()
    if indicator not in model.indicators:
        hint = did_you_mean(indicator, model.indicators)
        return RowError(number, "indicator", f"未知指标「{indicator}」" + (f"，{_chinese(hint)}" if hint else ""))
    if entity not in model.entities:
        hint = did_you_mean(entity, model.entities)
        return RowError(number, "entity", f"未知单位「{entity}」" + (f"，{_chinese(hint)}" if hint else ""))
    period = _period(model, indicator, str(row["period"]))
    if isinstance(period, str):
        return RowError(number, "period", period)
    ended = _after_end(model, entity, period)
    if ended:
        return RowError(number, "period", ended)
    value = _value(row["value"])
    if isinstance(value, str):
        return RowError(number, "value", value)
    vintage = _vintage(row.get("vintage"))
    if isinstance(vintage, str):
        return RowError(number, "vintage", vintage)
    return Observation(indicator, entity, period, value, vintage)


def _chinese(hint: str) -> str:
    return hint.replace("did you mean", "是否应为").replace("?", "？")


@functools.lru_cache(maxsize=8192)
def _parse_period(text: str) -> Period:
    # A batch repeats the same few hundred period strings tens of thousands of times.
    return Period.parse(text)


def _period(model: Model, indicator: str, text: str) -> Period | str:
    try:
        period = _parse_period(text)
    except PeriodError as error:
        return str(error)
    ind = model.indicators[indicator]
    if period.freq != ind.frequency:
        names = {"monthly": "月度", "quarterly": "季度", "annual": "年度"}
        return f"期别「{text}」是{names[period.freq]}，但指标「{ind.name}」是{names[ind.frequency]}数据"
    if ind.jan_feb == "merged" and period.sub == 1:
        return f"指标「{ind.name}」1–2月合并发布，没有1月数据：请填在{period.year}-02（1–2月合计）"
    return period


def _after_end(model: Model, entity: str, period: Period) -> str | None:
    """An entity that ended (`until`), such as a merged city, can have no data after its end."""
    until = model.entities[entity].attrs.get("until")
    if until is None:
        return None
    last = _parse_period(str(until))
    after = period > last if last.freq == period.freq else period.year > last.year
    if not after:
        return None
    return f"单位「{model.entities[entity].name}」截至{until}，此后不再存在，不能有{period}的数据"


def _value(raw: object) -> float | str:
    if isinstance(raw, bool):
        return f"数值「{raw}」不是数字"
    try:
        value = float(str(raw).replace(",", "").strip()) if not isinstance(raw, int | float) else float(raw)
    except ValueError:
        return f"数值「{raw}」不是数字"
    except OverflowError:
        return "数值过大，不是有限数字"
    if math.isnan(value) or math.isinf(value):
        return f"数值「{raw}」不是有限数字（NaN 或无穷大）"
    return value


def _vintage(raw: object) -> int | str:
    if raw in (None, ""):
        return 0
    try:
        return int(str(raw))
    except ValueError:
        return f"版本「{raw}」应为整数"


# ----------------------------------------------------------------------------- the panel


@dataclass
class Panel:
    model: Model
    entities: list[str]
    axes: dict[str, Axis]
    values: dict[str, np.ndarray]
    first: dict[str, np.ndarray]  # first published vintage, for revision(); only indicators with revisions
    as_of: datetime.date
    entity_index: dict[str, int] = field(init=False)
    parents: np.ndarray = field(init=False)
    peer_groups: np.ndarray = field(init=False)
    children_matrix: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.entity_index = {e: i for i, e in enumerate(self.entities)}
        entities = self.model.entities
        self.parents = np.array([self.entity_index.get(entities[e].parent or "", -1) for e in self.entities])
        self.peer_groups = np.array([_peer_group(self.model, e, self.entity_index) for e in self.entities])
        matrix = np.zeros((len(self.entities), len(self.entities)))
        for child, parent in enumerate(self.parents):
            if parent >= 0 and not entities[self.entities[child]].attrs.get("overlay"):
                matrix[parent, child] = 1.0
        self.children_matrix = matrix

    def array(self, indicator: str) -> np.ndarray:
        freq = self.model.indicators[indicator].frequency
        found = self.values.get(indicator)
        if found is None:
            axis = self.axes.get(freq)
            return np.full((len(self.entities), axis.length if axis else 0), np.nan)
        return found

    def set(self, observation: Observation) -> float | None:
        """Store one observation; returns the value it replaced. The period must be on the axis."""
        ind = self.model.indicators[observation.indicator]
        axis = self.axes[ind.frequency]
        name = observation.indicator
        if name not in self.values:
            self.values[name] = np.full((len(self.entities), axis.length), np.nan)
        row, col = self.entity_index[observation.entity], axis.index(observation.period)
        values = self.values[name]
        old = values[row, col]
        first = self.first.get(name)
        if first is None and not np.isnan(old) and old != observation.value:
            # Until an indicator's first revision its first vintage is its latest: copy only then.
            first = self.first[name] = values.copy()
        if first is not None and np.isnan(first[row, col]):
            first[row, col] = observation.value
        values[row, col] = observation.value
        return None if np.isnan(old) else float(old)

    def covers(self, observation: Observation) -> bool:
        axis = self.axes.get(self.model.indicators[observation.indicator].frequency)
        return axis is not None and observation.period in axis


def _peer_group(model: Model, entity: str, index: dict[str, int]) -> int:
    """Siblings under one parent are peers; overlays and roots have none. Enterprises form their own group."""
    definition = model.entities[entity]
    if definition.parent is None or definition.attrs.get("overlay"):
        return -1
    offset = len(index) if definition.kind == "enterprise" else 0
    return offset + index[definition.parent]


def last_complete(freq: str, as_of: datetime.date) -> Period:
    """The latest period that has ended by `as_of`."""
    month = Period.of("monthly", as_of.year, as_of.month) - 1
    if freq == "monthly":
        return month
    if freq == "quarterly":
        quarter = Period.of("quarterly", as_of.year, (as_of.month - 1) // 3 + 1)
        return quarter - 1
    return Period.of("annual", as_of.year - 1, 1)


def build_panel(model: Model, observations: list[Observation], as_of: datetime.date | None = None,
                extend_to_as_of: bool = True) -> Panel:
    """Arrays for every indicator with data. Axes span the data, and run on to the last complete period."""
    as_of = as_of or datetime.date.today()
    by_freq: dict[str, list[Period]] = {}
    for obs in observations:
        by_freq.setdefault(obs.period.freq, []).append(obs.period)
    axes: dict[str, Axis] = {}
    for freq, periods in by_freq.items():
        axis = Axis.spanning(periods)
        end = last_complete(freq, as_of)
        if extend_to_as_of and end > axis.periods[-1]:
            axis = axis.extended(axis.periods[0], end)
        axes[freq] = axis
    entities = list(model.entities)
    panel = Panel(model, entities, axes, {}, {}, as_of)
    for obs in sorted(observations, key=lambda o: o.vintage):
        panel.set(obs)
    return panel
