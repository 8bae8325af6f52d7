"""The dashboard's most frequent query: every entity's latest value of one indicator, its year-on-year growth and
its rank among its peers. It is answered from the engine's in-memory panel, never from a scan of the store, and
each answer is kept until the panel or its data version changes.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field

import numpy as np

from engine.panel import Panel
from engine.periods import Axis, Period
from engine.transforms import peer_rank, yoy

COLUMNS = ["entity", "name", "period", "value", "growth", "rank", "growth_rank", "peers"]


@dataclass(frozen=True)
class Latest:
    indicator: str
    period: str | None  # None: the indicator has no data yet
    rows: tuple[dict, ...]


def latest(panel: Panel, indicator: str, period: Period | None = None) -> Latest:
    """The values at `period` (default: the newest period any entity has reported) of every entity that has
    reported the indicator at all. Ranks are 1 for the largest, among entities with the same parent (a
    province's cities, a city's counties); roots and overlays have none."""
    definition = panel.model.indicators[indicator]
    axis = panel.axes.get(definition.frequency)
    values = panel.values.get(indicator)
    reported = ~np.isnan(values) if values is not None else None
    if axis is None or reported is None or not reported.any():
        return Latest(indicator, None, ())
    column = _column(axis, reported, period)
    if column is None:
        return Latest(indicator, str(period), ())
    current = values[:, column]
    growth = current if definition.form == "rate" else _yoy_at(values, axis, column, definition.form)
    value_rank, growth_rank = _ranks(current, panel.peer_groups), _ranks(growth, panel.peer_groups)
    peers = _peer_counts(current, panel.peer_groups)
    names = panel.model.entities
    rows = tuple(
        {"entity": entity, "name": names[entity].name, "period": str(axis.periods[column]),
         "value": _number(current[row]), "growth": _number(growth[row]), "rank": _whole(value_rank[row]),
         "growth_rank": _whole(growth_rank[row]), "peers": int(peers[row]) if panel.peer_groups[row] >= 0 else None}
        for row, entity in enumerate(panel.entities) if reported[row].any())
    return Latest(indicator, str(axis.periods[column]), rows)


def _column(axis: Axis, reported: np.ndarray, period: Period | None) -> int | None:
    if period is None:
        return int(np.flatnonzero(reported.any(axis=0))[-1])
    return axis.index(period) if period in axis else None


def _yoy_at(values: np.ndarray, axis: Axis, column: int, form: str) -> np.ndarray:
    # Only the column asked for and the one a year before it: a yoy over the whole history is wasted here.
    first = max(0, column - axis.per_year)
    window = Axis(axis.freq, axis.start + first, column - first + 1)
    return yoy(values[:, first:column + 1], window, form)[:, -1]


def _ranks(column: np.ndarray, groups: np.ndarray) -> np.ndarray:
    return peer_rank(column[:, None], groups)[:, 0]


def _peer_counts(column: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """How many entities with a value share each entity's peer group."""
    grouped = groups >= 0
    counts = np.bincount(groups[grouped & ~np.isnan(column)], minlength=int(groups.max(initial=0)) + 1)
    return np.where(grouped, counts[np.maximum(groups, 0)], 0)


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)


def _whole(value: float) -> int | None:
    return None if math.isnan(value) else int(value)


@dataclass
class _Entry:
    panel: Panel
    data_version: int
    answer: Latest


@dataclass
class LatestCache:
    """Answers per (indicator, period), valid while the engine keeps the same panel at the same data version.

    The panel is updated in place by ingestion before the data version moves: an answer computed in between
    is newer than its key, and it is recomputed once the version moves, so no stale answer survives."""

    entries: dict[tuple[str, str | None], _Entry] = field(default_factory=dict)
    limit: int = 4096  # answers for past periods are asked for too; the cache must not grow without bound

    def get(self, panel: Panel, data_version: int, indicator: str, period: Period | None) -> Latest:
        key = (indicator, None if period is None else str(period))
        entry = self.entries.get(key)
        if entry is None or entry.panel is not panel or entry.data_version != data_version:
            if (entry is not None and entry.panel is not panel) or len(self.entries) >= self.limit:
                self.entries.clear()  # a rebuilt engine makes every answer stale
            entry = self.entries[key] = _Entry(panel, data_version, latest(panel, indicator, period))
        return entry.answer


_caches: weakref.WeakKeyDictionary[object, LatestCache] = weakref.WeakKeyDictionary()


def cache_for(owner: object) -> LatestCache:
    """The cache of one running service (tests run several in one process)."""
    found = _caches.get(owner)
    if found is None:
        found = _caches[owner] = LatestCache()
    return found
