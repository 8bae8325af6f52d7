"""Period-aware transforms on panels: float64 arrays (n_entities, n_periods) aligned on an `Axis`.

NaN is a missing value. Every function returns a new array, is vectorized over entities, never
warns and never raises on data (only on a wrong form, statistic or window length, which the
checker is meant to catch first).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from engine.periods import Axis

FORMS: tuple[str, ...] = ("ytd", "period", "stock", "rate", "index")
LEVEL_FORMS: tuple[str, ...] = ("ytd", "period", "stock")
ROLLING_STATS: tuple[str, ...] = ("mean", "std", "min", "max", "median", "mad")

# Scales a MAD to the standard deviation of a normal distribution.
MAD_TO_SIGMA = 1.4826
MIN_PEERS = 3

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _quiet(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Silence floating-point warnings: missing values and zero bases are expected data, not bugs."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return wrapper


# ---------------------------------------------------------------- argument checks


def _panel(x: np.ndarray, axis: Axis | None = None) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        raise ValueError("a panel needs a period dimension, got a scalar")
    if axis is not None and arr.shape[-1] != axis.length:
        raise ValueError(f"panel has {arr.shape[-1]} periods but the axis has {axis.length}")
    return arr


def _check_form(form: str, function: str, allow_rate: bool = False) -> None:
    if form not in FORMS:
        raise ValueError(f"未知的指标形式「{form}」：应为 ytd、period、stock、rate 或 index")
    if form == "rate" and not allow_rate:
        # A published growth (comparable prices) cannot be recomputed from levels.
        raise ValueError(f"{function}() 不能用于 rate 形式的指标：它已经是发布的增速")


def _steps(k: int, function: str, minimum: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < minimum:
        raise ValueError(f"{function}() 的期数应为不小于{minimum}的整数，得到「{k}」")
    return int(k)


def _is_merged(axis: Axis, jan_feb_merged: bool) -> bool:
    # 1–2月 merging only exists for monthly data.
    return jan_feb_merged and axis.freq == "monthly"


# ---------------------------------------------------------------- shifting and growth


def lag(x: np.ndarray, k: int) -> np.ndarray:
    arr = _panel(x)
    k = _steps(k, "lag", 0)
    out = np.full(arr.shape, np.nan)
    n = arr.shape[-1]
    if k < n:
        out[..., k:] = arr[..., : n - k]
    return out


@_quiet
def diff(x: np.ndarray, k: int) -> np.ndarray:
    arr = _panel(x)
    return arr - lag(arr, k)


@_quiet
def _growth(current: np.ndarray, base: np.ndarray) -> np.ndarray:
    growth = np.divide(current, base)
    growth -= 1.0  # in place: a province-scale run computes hundreds of these
    growth *= 100.0
    growth[~(base > 0)] = np.nan  # `base > 0` is False for NaN: a missing base gives a missing growth
    return growth


# ---------------------------------------------------------------- year-to-date


def _year_slices(axis: Axis) -> list[tuple[slice, int]]:
    """Positions of each calendar year on the axis, with the sub-period the slice starts at."""
    if axis.length == 0:
        return []
    subs = axis.subs
    starts = sorted({0, *np.flatnonzero(subs == 1).tolist()})
    ends = [*starts[1:], axis.length]
    return [(slice(a, b), int(subs[a])) for a, b in zip(starts, ends, strict=True)]


def _cumulate_years(values: np.ndarray, axis: Axis, first_required: int) -> np.ndarray:
    """Cumulative sum within each year; a year cut off by the axis before `first_required` is NaN."""
    out = np.full(values.shape, np.nan)
    for cols, first_sub in _year_slices(axis):
        if first_sub <= first_required:
            out[..., cols] = np.cumsum(values[..., cols], axis=-1)
    return out


@_quiet
def single_from_ytd(x: np.ndarray, axis: Axis, jan_feb_merged: bool) -> np.ndarray:
    arr = _panel(x, axis)
    if axis.freq == "annual":
        return arr.copy()
    merged = _is_merged(axis, jan_feb_merged)
    subs = axis.subs
    out = arr - lag(arr, 1)
    # The first published row of a year is already a single value (with 1–2月 merged, that is Feb).
    opening = subs == (2 if merged else 1)
    out[..., opening] = arr[..., opening]
    if merged:
        out[..., subs == 1] = np.nan
    return out


@_quiet
def ytd_from_single(x: np.ndarray, axis: Axis, jan_feb_merged: bool) -> np.ndarray:
    arr = _panel(x, axis)
    if axis.freq == "annual":
        return arr.copy()
    merged = _is_merged(axis, jan_feb_merged)
    values = arr.copy()
    if merged:
        # February already holds the Jan–Feb total; a stray January value would be counted twice.
        values[..., axis.subs == 1] = 0.0
    out = _cumulate_years(values, axis, first_required=2 if merged else 1)
    if merged:
        out[..., axis.subs == 1] = np.nan
    return out


@_quiet
def ytd_average(x: np.ndarray, axis: Axis) -> np.ndarray:
    arr = _panel(x, axis)
    if axis.freq == "annual":
        return arr.copy()
    # Within a complete year the position in the year is the number of values averaged.
    return _cumulate_years(arr, axis, first_required=1) / axis.subs


# ---------------------------------------------------------------- growth rates


@_quiet
def yoy(x: np.ndarray, axis: Axis, form: str) -> np.ndarray:
    arr = _panel(x, axis)
    _check_form(form, "yoy")
    if form == "index":
        return arr - 100.0
    k = axis.per_year
    out = np.full(arr.shape, np.nan)
    if k < arr.shape[-1]:
        out[..., k:] = _growth(arr[..., k:], arr[..., :-k])  # faster than dividing into the strided view
    return out


@_quiet
def mom(x: np.ndarray, axis: Axis, form: str, jan_feb_merged: bool) -> np.ndarray:
    arr = _panel(x, axis)
    _check_form(form, "mom")
    values = single_from_ytd(arr, axis, jan_feb_merged) if form == "ytd" else arr
    out = _growth(values, lag(values, 1))
    if _is_merged(axis, jan_feb_merged) and form in ("ytd", "period"):
        # A flow's Feb is a two-month total and March's previous value is one: neither compares with one
        # month. A stock's or an index's Feb is a true end-of-February value, so only Feb (no Jan) is lost.
        out[..., (axis.subs == 2) | (axis.subs == 3)] = np.nan
    return out


@_quiet
def yoy2(x: np.ndarray, axis: Axis, form: str) -> np.ndarray:
    arr = _panel(x, axis)
    _check_form(form, "yoy2", allow_rate=True)
    if form in LEVEL_FORMS:
        base = lag(arr, 2 * axis.per_year)
        ratio = np.where(base > 0, arr / base, np.nan)
    else:
        # For an index (same period last year = 100) the growth factor is x / 100.
        factor = arr / 100.0 + (1.0 if form == "rate" else 0.0)
        previous = lag(factor, axis.per_year)
        ratio = np.where((factor >= 0) & (previous >= 0), factor * previous, np.nan)
    return np.where(ratio >= 0, (np.sqrt(ratio) - 1.0) * 100.0, np.nan)


# ---------------------------------------------------------------- rolling statistics


def _min_observed(k: int) -> int:
    # At least two thirds of the window (and two values), so a statistic is not one lonely point.
    return 1 if k == 1 else max(2, -(-2 * k // 3))


def _windows(arr: np.ndarray, k: int) -> np.ndarray:
    """Trailing windows (..., n_periods, k), NaN-padded before the first period."""
    pad = np.full((*arr.shape[:-1], k - 1), np.nan)
    padded = np.concatenate([pad, arr], axis=-1)
    if padded.shape[-1] < k:
        return np.empty((*arr.shape, k))
    return sliding_window_view(padded, k, axis=-1)


def _nanmedian_last(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median over the last axis ignoring NaN, and the count; sorting avoids nanmedian's warnings."""
    ordered = np.sort(values, axis=-1)  # NaN sorts last
    n = np.count_nonzero(~np.isnan(ordered), axis=-1)
    lo = np.maximum((n - 1) // 2, 0)[..., None]
    hi = (n // 2)[..., None]
    a = np.take_along_axis(ordered, lo, -1)[..., 0]
    b = np.take_along_axis(ordered, hi, -1)[..., 0]
    median = np.where((lo == hi)[..., 0], a, a / 2 + b / 2)
    return np.where(n > 0, median, np.nan), n


def _extreme(w: np.ndarray, observed: np.ndarray, stat: str) -> np.ndarray:
    if stat == "min":
        return np.where(observed, w, np.inf).min(axis=-1)
    return np.where(observed, w, -np.inf).max(axis=-1)


def _window_stat(w: np.ndarray, stat: str) -> np.ndarray:
    observed = ~np.isnan(w)
    if stat in ("min", "max"):
        return _extreme(w, observed, stat)
    median, _ = _nanmedian_last(w)
    if stat == "median":
        return median
    return _nanmedian_last(np.abs(w - median[..., None]))[0]


def _trailing_sum(values: np.ndarray, k: int) -> np.ndarray:
    total = np.cumsum(values, axis=-1)
    total[..., k:] -= total[..., :-k]  # numpy copies the overlapping operand itself
    return total


def pick_moment(moments: np.ndarray, k: int, stat: str) -> np.ndarray:
    """Mean or std out of `running_moments` stacked, missing where the window has too few values."""
    result = moments[0 if stat == "mean" else 1].copy()
    result[moments[2] < _min_observed(k)] = np.nan
    return result


@_quiet
def running_moments(arr: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, sample std and count over trailing windows of k, in O(cells) with prefix sums.

    Windows are summed after centring each row on its own mean, which keeps the sum of squares
    free of cancellation at economic magnitudes.
    """
    missing = np.isnan(arr)
    observed = ~missing
    counts = observed.sum(axis=-1, keepdims=True)
    # The operations and their order are those of nansum and nan_to_num, with fewer temporaries: every
    # pass over a province-scale panel counts.
    deviation = np.where(missing, 0.0, arr)
    center = deviation.sum(axis=-1, keepdims=True) / np.maximum(counts, 1)
    deviation -= center
    np.copyto(deviation, 0.0, where=missing)
    n = _trailing_sum(observed.astype(np.float64), k)
    first = _trailing_sum(deviation, k)
    second = _trailing_sum(np.multiply(deviation, deviation, out=deviation), k)
    mean = first / n
    mean += center
    variance = first * first
    variance /= n
    np.subtract(second, variance, out=variance)
    variance /= n - 1
    # A constant window must give exactly 0, not rounding noise that a z-score would blow up.
    second /= n
    second *= 1e-12
    variance[variance <= second] = 0.0
    std = np.sqrt(np.maximum(variance, 0.0, out=variance), out=variance)
    std[n < 2] = np.nan
    return mean, std, n


@_quiet
def rolling(x: np.ndarray, k: int, stat: str) -> np.ndarray:
    arr = _panel(x)
    k = _steps(k, stat, 1)
    if stat not in ROLLING_STATS:
        raise ValueError(f"未知的滚动统计「{stat}」：应为 {'、'.join(ROLLING_STATS)}")
    if stat in ("mean", "std"):
        return pick_moment(np.stack(running_moments(arr, k)), k, stat)
    w = _windows(arr, k)
    n = np.count_nonzero(~np.isnan(w), axis=-1)
    return np.where(n >= _min_observed(k), _window_stat(w, stat), np.nan)


@_quiet
def zscore(x: np.ndarray, k: int) -> np.ndarray:
    arr = _panel(x)
    k = _steps(k, "zscore", 1)
    # The window ends at t-1: t is judged against its own past.
    mean, std, n = running_moments(lag(arr, 1), k)
    result = np.subtract(arr, mean)
    result /= std
    result[(n < _min_observed(k)) | ~(std > 0)] = np.nan
    return result


def history(x: np.ndarray) -> np.ndarray:
    arr = _panel(x)
    return np.cumsum(~np.isnan(arr), axis=-1).astype(np.float64)


def time_progress(axis: Axis) -> np.ndarray:
    return axis.subs / axis.per_year * 100.0


# ---------------------------------------------------------------- peers (siblings)


def _peer_members(groups: np.ndarray, n_entities: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Entities that have a group, their compact group ids 0..G-1, and G."""
    ids = np.asarray(groups)
    if ids.shape != (n_entities,):
        raise ValueError(f"groups must have shape ({n_entities},), got {ids.shape}")
    members = np.flatnonzero(ids >= 0)
    labels, compact = np.unique(ids[members], return_inverse=True)
    return members, compact.reshape(-1), len(labels)


def _peer_panel(x: np.ndarray) -> np.ndarray:
    arr = _panel(x)
    if arr.ndim != 2:
        raise ValueError(f"peer functions need a (n_entities, n_periods) panel, got shape {arr.shape}")
    return arr


def _sort_within_groups(values: np.ndarray, compact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per period (rows of the result), entity order by group then value, NaN last in each group."""
    cols = values.T
    keys = (cols, np.isnan(cols), np.broadcast_to(compact, cols.shape))
    order = np.lexsort(keys, axis=-1)
    return order, np.take_along_axis(cols, order, -1)


def _group_starts(compact: np.ndarray, n_groups: int) -> np.ndarray:
    sizes = np.bincount(compact, minlength=n_groups)
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)


def _group_counts(values: np.ndarray, compact: np.ndarray, n_groups: int) -> np.ndarray:
    """Observed values per (period, group)."""
    order = np.argsort(compact, kind="stable")
    observed = (~np.isnan(values[order])).astype(np.intp)
    return np.add.reduceat(observed, _group_starts(compact, n_groups), axis=0).T


def _group_median(values: np.ndarray, compact: np.ndarray, n_groups: int, n: np.ndarray) -> np.ndarray:
    """Median of the observed values per (group, period), `n` of them per (period, group), without a loop
    over groups.

    Each group's members are laid out in a NaN-padded (periods, groups, widest group) block, so one
    short sort along the last axis orders every group at every period at once.
    """
    order = np.argsort(compact, kind="stable")
    grouped = compact[order]
    slot = np.arange(len(compact)) - _group_starts(compact, n_groups)[grouped]
    width = int(np.bincount(compact, minlength=n_groups).max())
    padded = np.full((values.shape[1], n_groups, width), np.nan)
    padded[:, grouped, slot] = values[order].T
    padded.sort(axis=-1)  # NaN sorts last
    lo = np.maximum((n - 1) // 2, 0)[..., None]
    hi = (n // 2)[..., None]
    a = np.take_along_axis(padded, lo, -1)[..., 0]
    b = np.take_along_axis(padded, hi, -1)[..., 0]
    median = np.where(lo[..., 0] == hi[..., 0], a, a / 2 + b / 2)
    median[n == 0] = np.nan
    return median.T


@_quiet
def peer_robust_z(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    arr = _peer_panel(x)
    out = np.full(arr.shape, np.nan)
    members, compact, n_groups = _peer_members(groups, arr.shape[0])
    if members.size == 0 or arr.shape[1] == 0:
        return out
    values = arr[members]
    counts = _group_counts(values, compact, n_groups)
    center = _group_median(values, compact, n_groups, counts)[compact]
    # A deviation is missing exactly where its value is: a group's median is missing only when all are.
    mad = _group_median(np.abs(values - center), compact, n_groups, counts)
    n = counts.T
    scale = MAD_TO_SIGMA * mad[compact]
    usable = (n[compact] >= MIN_PEERS) & (scale > 0)
    z = (values - center) / scale
    z[~usable] = np.nan
    out[members] = z
    return out


@_quiet
def peer_rank(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    arr = _peer_panel(x)
    out = np.full(arr.shape, np.nan)
    members, compact, n_groups = _peer_members(groups, arr.shape[0])
    if members.size == 0 or arr.shape[1] == 0:
        return out
    # Sorting the negated values puts the largest first in each group.
    order, ordered = _sort_within_groups(-arr[members], compact)
    out[members] = _min_ranks(order, ordered, compact, n_groups).T
    return out


def _min_ranks(order: np.ndarray, ordered: np.ndarray, compact: np.ndarray, n_groups: int) -> np.ndarray:
    """1-based rank within the group, ties sharing the smallest rank; back in entity order."""
    group_of = compact[order]
    position = np.broadcast_to(np.arange(order.shape[-1]), order.shape)
    new_run = np.ones(order.shape, dtype=bool)
    new_run[:, 1:] = (ordered[:, 1:] != ordered[:, :-1]) | (group_of[:, 1:] != group_of[:, :-1])
    # Each group opens a new run, so the running maximum never leaks across groups.
    run_start = np.maximum.accumulate(np.where(new_run, position, 0), axis=-1)
    rank = (run_start - _group_starts(compact, n_groups)[group_of] + 1).astype(np.float64)
    rank[np.isnan(ordered)] = np.nan
    ranks = np.empty(order.shape)
    np.put_along_axis(ranks, order, rank, -1)
    return ranks
