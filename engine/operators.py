"""The vectorized operation behind each plan node. Conditions are floats: 1, 0, or NaN (unknown)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine import changepoints, contributions, transforms
from engine.compiler import Node
from engine.panel import Panel
from engine.periods import Axis, Period


@dataclass
class Frame:
    """What one evaluation sees: the panel, a window of columns on one frequency's axis, and
    optionally only some entities' rows (for rules that never read another entity's values)."""

    panel: Panel
    axis: Axis
    start: int  # first column of the window on the panel's axis
    rows: np.ndarray | None = None  # panel rows, in this order; None: every row

    def columns(self, array: np.ndarray) -> np.ndarray:
        window = array[:, self.start:self.start + self.axis.length]
        return window if self.rows is None else window[self.rows]

    @property
    def shape(self) -> tuple[int, int]:
        count = len(self.panel.entities) if self.rows is None else len(self.rows)
        return (count, self.axis.length)

    def row_of(self, entity: str) -> int | None:
        """The row an entity has in this frame's arrays, if it is in the frame."""
        row = self.panel.entity_index.get(entity)
        if row is None or self.rows is None:
            return row
        found = np.flatnonzero(self.rows == row)
        return int(found[0]) if len(found) else None


# Conditions (1, 0 or NaN) are exact in single precision, at half the memory traffic of a float64.
CONDITION = np.float32

Operator = Callable[[Frame, Node, list[np.ndarray]], np.ndarray]
OPERATORS: dict[str, Operator] = {}


def operator(*names: str) -> Callable[[Operator], Operator]:
    def register(fn: Operator) -> Operator:
        for name in names:
            OPERATORS[name] = fn
        return fn
    return register


def evaluate_node(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    """Callers run inside `np.errstate(all="ignore")`: missing values and zero bases are data, not errors."""
    return OPERATORS[node.op](frame, node, inputs)


def full(frame: Frame, value: np.ndarray | float) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=float), frame.shape)


# ----------------------------------------------------------------------------- leaves


@operator("load")
def _load(frame: Frame, node: Node, _: list[np.ndarray]) -> np.ndarray:
    return frame.columns(frame.panel.array(node.param))


@operator("first")
def _first(frame: Frame, node: Node, _: list[np.ndarray]) -> np.ndarray:
    found = frame.panel.first.get(node.param)
    return frame.columns(found if found is not None else frame.panel.array(node.param))


@operator("const")
def _const(frame: Frame, node: Node, _: list[np.ndarray]) -> np.ndarray:
    return full(frame, node.param)


@operator("time_progress")
def _time_progress(frame: Frame, node: Node, _: list[np.ndarray]) -> np.ndarray:
    return full(frame, transforms.time_progress(frame.axis))


@operator("year")
def _year(frame: Frame, node: Node, _: list[np.ndarray]) -> np.ndarray:
    return full(frame, frame.axis.years.astype(float))


@operator("above_scale")
def _above_scale(frame: Frame, node: Node, _: list[np.ndarray]) -> np.ndarray:
    """The year each entity went above scale (规上); missing for entities without one (regions)."""
    entities = frame.panel.model.entities
    names = frame.panel.entities if frame.rows is None else [frame.panel.entities[r] for r in frame.rows]
    years = np.array([float(entities[e].attrs.get("above_scale", np.nan)) for e in names])
    return np.broadcast_to(years[:, None], frame.shape)


# ----------------------------------------------------------------------------- arithmetic and logic


def _known(*arrays: np.ndarray) -> np.ndarray:
    mask = ~np.isnan(arrays[0])
    for array in arrays[1:]:
        mask &= ~np.isnan(array)
    return mask


_COMPARE = {">": np.greater, "<": np.less, ">=": np.greater_equal, "<=": np.less_equal,
            "==": np.equal, "!=": np.not_equal}
_ARITH = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}


def _scalar(x: np.ndarray) -> np.ndarray | float:
    """A constant arrives as a zero-stride view: numpy compares faster against the scalar itself."""
    if x.ndim and not any(x.strides):
        return float(x.flat[0])
    return x


@operator("bin")
def _binary(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    left, right = inputs
    op = node.param
    if op in _ARITH:
        result = np.asarray(_ARITH[op](left, right), dtype=float)
        result[np.isinf(result)] = np.nan  # a division by zero is a missing value, not a number
        return result
    if op in _COMPARE:
        return _compare(frame, op, _scalar(left), _scalar(right))
    return kleene(op, left, right)


def _compare(frame: Frame, op: str, left: np.ndarray | float, right: np.ndarray | float) -> np.ndarray:
    # Compare, then blank the unknown cells side by side: fewer passes than one np.where over a combined mask,
    # and a constant side (the usual threshold) costs no pass at all.
    result = np.array(np.broadcast_to(_COMPARE[op](left, right), frame.shape), dtype=CONDITION)
    for side in (left, right):
        if np.ndim(side):
            result[np.broadcast_to(np.isnan(side), frame.shape)] = np.nan  # a sparse mask: faster than copyto
        elif np.isnan(side):
            result.fill(np.nan)
    return result


def kleene(op: str, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Three-valued logic on 1, 0 and NaN: `unknown and false` is false, `unknown or true` is true.

    On those three values the product (and) or the sum (or) is already right except where one side is
    decisive, and NaN propagates through both."""
    if op == "and":
        result = np.multiply(left, right)
        result[np.broadcast_to((left == 0) | (right == 0), result.shape)] = 0.0
    else:
        result = np.add(left, right)
        result[np.broadcast_to((left == 1) | (right == 1), result.shape)] = 1.0
    return result


@operator("neg")
def _neg(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return -inputs[0]


@operator("not")
def _not(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return 1.0 - inputs[0]


@operator("abs")
def _abs(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return np.abs(inputs[0])


@operator("sign")
def _sign(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return np.sign(inputs[0])


@operator("sqrt")
def _sqrt(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return np.where(inputs[0] >= 0, np.sqrt(np.abs(inputs[0])), np.nan)


@operator("least")
def _least(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return np.minimum(*inputs)


@operator("greatest")
def _greatest(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return np.maximum(*inputs)


# ----------------------------------------------------------------------------- periods


@operator("yoy", "mom", "yoy2", "single", "ytd")
def _period_transform(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    form, merged = node.param
    x = np.asarray(inputs[0], dtype=float)  # the transforms never write into their input
    if node.op == "yoy":
        return transforms.yoy(x, frame.axis, form)
    if node.op == "mom":
        return transforms.mom(x, frame.axis, form, merged)
    if node.op == "yoy2":
        return transforms.yoy2(x, frame.axis, form)
    if node.op == "single":
        return transforms.single_from_ytd(x, frame.axis, merged)
    if form == "index":
        return transforms.ytd_average(x, frame.axis)
    return transforms.ytd_from_single(x, frame.axis, merged)


@operator("lag")
def _lag(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return transforms.lag(np.asarray(inputs[0], dtype=float), node.param)


@operator("diff")
def _diff(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return transforms.diff(np.asarray(inputs[0], dtype=float), node.param)


@operator("moments")
def _moments(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return np.stack(transforms.running_moments(np.asarray(inputs[0], dtype=float), node.param))


@operator("pick_mean", "pick_std")
def _pick_moment(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return transforms.pick_moment(inputs[0], node.param, node.op.removeprefix("pick_"))


@operator("min", "max", "median", "mad")
def _rolling(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return transforms.rolling(np.asarray(inputs[0], dtype=float), node.param, node.op)


@operator("zscore")
def _zscore(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return transforms.zscore(np.asarray(inputs[0], dtype=float), node.param)


@operator("history")
def _history(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return transforms.history(np.asarray(inputs[0], dtype=float))


@operator("changepoint")
def _changepoint(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return changepoints.breaks_mask(np.asarray(inputs[0], dtype=float))


@operator("revision")
def _revision(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    latest, first = inputs
    return np.where(first != 0, (latest / np.abs(first) - np.sign(first)) * 100, np.nan)


# ----------------------------------------------------------------------------- other entities


@operator("at")
def _at(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    row = frame.panel.entity_index.get(node.param)
    if row is None:
        return full(frame, np.nan)
    return np.broadcast_to(inputs[0][row], frame.shape)


def _parent_rows(frame: Frame, x: np.ndarray) -> np.ndarray:
    parents = frame.panel.parents
    values = np.asarray(x, dtype=float)[np.maximum(parents, 0)]  # fancy indexing copies
    values[parents < 0] = np.nan
    return values


@operator("at_parent")
def _at_parent(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return _parent_rows(frame, inputs[0])


@operator("share")
def _share(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    parent = _parent_rows(frame, inputs[0])
    share = inputs[0] / parent * 100
    share[parent == 0] = np.nan
    return share


def _increments(frame: Frame, inputs: list[np.ndarray], per_year: int) -> tuple[np.ndarray, np.ndarray]:
    """Year-on-year increment and base of a level. With a growth (%) as second input, the increment is
    base × growth: comparable-price growth, where the level's own change also carries prices."""
    level = np.asarray(inputs[0], dtype=float)
    base = transforms.lag(level, per_year)
    increment = base * inputs[1] / 100 if len(inputs) == 2 else level - base
    return increment, base


@operator("pull")
def _pull(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    increment, base = _increments(frame, inputs, node.param)
    return contributions.increment_pull(increment, _parent_rows(frame, base))


@operator("contribution")
def _contribution(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    increment, _base = _increments(frame, inputs, node.param)
    if len(inputs) == 2:
        parent_increment, _ = _increments(frame, [_parent_rows(frame, x) for x in inputs], node.param)
    else:
        parent_increment = _parent_rows(frame, increment)
    return contributions.increment_rate(increment, parent_increment)


@operator("peer_z")
def _peer_z(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return transforms.peer_robust_z(np.asarray(inputs[0], dtype=float), frame.panel.peer_groups)


@operator("rank")
def _rank(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return transforms.peer_rank(np.asarray(inputs[0], dtype=float), frame.panel.peer_groups)


def _aggregate_rows(function: str, rows: np.ndarray, strict: bool) -> np.ndarray:
    """Aggregate member rows per period. Strict: missing if any member is missing."""
    observed = (~np.isnan(rows)).sum(axis=0)
    if function == "count":
        return observed.astype(float)
    missing = observed < rows.shape[0] if strict else observed == 0
    reducer = {"sum": np.nansum, "mean": np.nanmean, "min": np.nanmin, "max": np.nanmax}[function]
    if rows.shape[0] == 0:
        return np.full(rows.shape[1], np.nan)
    with warnings.catch_warnings():  # a period where no member reported: nanmean warns, the result is NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        result = reducer(rows, axis=0)
    return np.where(missing, np.nan, result)


@operator("agg")
def _aggregate(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    function, members, strict = node.param
    index = [frame.panel.entity_index[m] for m in members]
    rows = np.asarray(inputs[0], dtype=float)[index] if index else np.empty((0, frame.shape[1]))
    return np.broadcast_to(_aggregate_rows(function, rows, strict), frame.shape)


@operator("agg_children")
def _aggregate_children(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    function, strict = node.param
    matrix = frame.panel.children_matrix
    x = np.asarray(inputs[0], dtype=float)
    observed = ~np.isnan(x)
    present = matrix @ observed.astype(float)  # a float product is a BLAS call; a mixed-type one is not
    members = matrix.sum(axis=1)[:, None]
    if function == "count":
        return present
    if function in ("min", "max"):
        spread = np.where((matrix > 0)[:, :, None], x[None, :, :], np.nan)  # parent × child × period
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a parent without observed children
            value = (np.nanmin if function == "min" else np.nanmax)(spread, axis=1)
    else:
        total = matrix @ np.where(observed, x, 0.0)
        value = total if function == "sum" else np.where(present > 0, total / np.maximum(present, 1), np.nan)
    missing = (present < members) if strict else (present == 0)
    return np.where(missing | (members == 0), np.nan, value)


# ----------------------------------------------------------------------------- targets


def _target_matrix(frame: Frame, param: tuple, want_growth: bool | None) -> np.ndarray:
    _name, _form, _merged, targets = param
    years = frame.axis.years
    out = np.full(frame.shape, np.nan)
    for (entity, year), (value, growth) in targets:
        row = frame.row_of(entity)
        if row is not None and (want_growth is None or growth == want_growth):
            out[row, years == year] = value
    return out


@operator("target")
def _target(frame: Frame, node: Node, _: list[np.ndarray]) -> np.ndarray:
    return _target_matrix(frame, node.param, None)


@operator("progress")
def _progress(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    _name, form, merged, _targets = node.param
    level = np.asarray(inputs[0], dtype=float)
    if form == "period":
        level = transforms.ytd_from_single(level, frame.axis, merged)
    target = _target_matrix(frame, node.param, want_growth=False)
    return np.where(target > 0, level / target * 100, np.nan)


# ----------------------------------------------------------------------------- checks


@operator("fill0")
def _fill_zero(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return np.nan_to_num(inputs[0], nan=0.0)


@operator("balance")
def _balance(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    """1 where the two sides differ by more than the tolerance, 0 where they agree, NaN if not checkable."""
    tolerance, relative, mode, leaves = node.param
    left, right = inputs[0], inputs[1]
    lenient, strict = inputs[2:2 + leaves], inputs[2 + leaves:]
    allowed = np.abs(right) * tolerance / 100 if relative else tolerance
    violated = np.where(np.abs(left - right) > allowed + 1e-9, 1.0, 0.0)
    if mode == "non_null":
        return np.where(_known(left, right), violated, np.nan)
    if mode == "always_zero":
        return violated  # VTL: a missing operand is zero, so every cell is checked
    any_present = np.zeros(frame.shape, dtype=bool)
    for leaf in lenient:
        any_present |= ~np.isnan(leaf)
    if mode == "fail":
        any_missing = np.zeros(frame.shape, dtype=bool)
        for leaf in strict:
            any_missing |= np.isnan(leaf)
        violated = np.where(any_missing, 1.0, violated)
    return np.where(any_present, violated, np.nan)


@operator("missing")
def _missing(frame: Frame, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    """1 where a due value has not arrived, 0 where it has, NaN where nothing is due yet."""
    last_n, release_days, merged_flags, until = node.param
    periods = frame.axis.periods
    as_of = frame.panel.as_of
    out = np.full(frame.shape, np.nan)
    for values, day, merged in zip(inputs, release_days, merged_flags, strict=True):
        due = np.array([p.release_date(day) <= as_of for p in periods], dtype=bool)
        first_month = np.array([merged and p.freq == "monthly" and p.sub == 1 for p in periods], dtype=bool)
        expected = due & ~first_month
        window = np.zeros(len(periods), dtype=bool)
        window[np.nonzero(expected)[0][-last_n:]] = True
        late = np.where(window[None, :], np.isnan(values).astype(float), np.nan)
        out = np.fmax(out, late)
    for entity, last in until:
        row = frame.row_of(entity)
        if row is not None:
            limit = Period.parse(last)
            out[row, [p.year > limit.year if limit.freq != p.freq else p > limit for p in periods]] = np.nan
    return out
