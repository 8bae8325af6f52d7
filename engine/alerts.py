"""The alert state machine, counted in periods (Prometheus's lifecycle).

inactive → pending when the condition first holds; pending → firing once it has held `for n periods`
(or `k of n`); firing → resolved when it stops, after any `keep`, or only once `recover when` holds.
A period whose condition is unknown (missing data, a false guard) changes nothing: the alert keeps
its state through it and it does not count towards persistence.

The machine runs on a whole (entities × periods) matrix at once, without a loop over periods: the
known periods of each row are packed to the front, the persistence and latch logic runs as prefix
sums and running maxima over the packed rows, and the states are spread back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INACTIVE, PENDING, FIRING, RESOLVED = 0, 1, 2, 3
STATE_NAMES = ("inactive", "pending", "firing", "resolved")


@dataclass(frozen=True)
class Persistence:
    for_periods: int = 1
    of_periods: int | None = None
    keep_periods: int = 0


def run_states(condition: np.ndarray, severity: np.ndarray, persistence: Persistence,
               recover: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """States (int8) and firing severities (int8) for a matrix of conditions (1, 0 or NaN)."""
    # Rows whose condition never holds stay inactive: most rows, most of the time.
    active = np.flatnonzero((condition == 1).any(axis=1))
    if len(active) and len(active) == len(condition):
        return _run_active(condition, severity, persistence, recover)
    states = np.zeros(condition.shape, dtype=np.int8)
    levels = np.zeros(condition.shape, dtype=np.int8)
    if len(active):
        sub_recover = recover[active] if recover is not None else None
        states[active], levels[active] = _run_active(condition[active], severity[active], persistence, sub_recover)
    return states, levels


def _run_active(condition: np.ndarray, severity: np.ndarray, persistence: Persistence,
                recover: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if persistence.of_periods is None:
        return _run_consecutive(condition, severity, persistence, recover)
    known = ~np.isnan(condition)
    last_known = np.cumsum(known, axis=1, dtype=np.int32) - 1
    slots = _slots(known, last_known)
    packed = _pack(condition == 1.0, slots, known, False)
    # `k of n` counts holds among the last n known periods: the reason this path packs them together.
    persistent = _window_count(packed, persistence.of_periods) >= persistence.for_periods
    # A firing alert stays firing while its condition holds (or the k-of-n count is still met). Once it
    # stops, `keep` more periods, and with `recover when` until the recover condition holds, end it.
    positions = np.arange(packed.shape[1], dtype=np.int32)
    stopped_for = positions - _last_true(packed | persistent)
    ends = stopped_for > persistence.keep_periods
    if recover is not None:
        ends &= _pack(recover == 1.0, slots, known, False)
    firing = _latch(persistent, ends)
    states = _assemble(packed, firing)
    if severity.min() == severity.max():  # one severity everywhere: nothing to carry or spread
        full_states = _spread(states, known, last_known)
        return full_states, ((full_states == FIRING) * severity.flat[0]).astype(np.int8)
    levels = _carry_severity(packed, _pack(severity, slots, known, 0), firing)
    return _spread(states, known, last_known), _spread(levels, known, last_known, resolved=False)


def _run_consecutive(condition: np.ndarray, severity: np.ndarray, persistence: Persistence,
                     recover: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """`for n periods` (with `keep` or `recover`) needs no packing: counts taken since the last known
    period that broke them stay put through unknown periods, which is exactly "keep the state, do not
    count"; only known periods may end a firing alert."""
    holds = condition == 1.0
    run = _count_since(holds, _last_true(condition == 0.0))
    persistent = run >= persistence.for_periods
    if persistence.keep_periods == 0 and recover is None:
        firing = persistent
    else:
        known = ~np.isnan(condition)
        stopped_for = _count_since(known, _last_true(holds | persistent))
        ends = (stopped_for > persistence.keep_periods) & known
        if recover is not None:
            ends &= recover == 1.0
        firing = _latch(persistent, ends)
    states = _assemble(run > 0, firing)
    if severity.min() == severity.max():
        return states, (firing * severity.flat[0]).astype(np.int8)
    return states, _carry_severity(holds, severity, firing)


def _count_since(flags: np.ndarray, since: np.ndarray) -> np.ndarray:
    """Per cell, how many flags are set after position `since` (-1: from the start) up to the cell."""
    total = np.cumsum(flags, axis=1, dtype=np.int32)
    before = np.zeros((flags.shape[0], flags.shape[1] + 1), dtype=np.int32)
    before[:, 1:] = total
    return total - np.take_along_axis(before, since + 1, axis=1)


def _assemble(holding: np.ndarray, firing: np.ndarray) -> np.ndarray:
    states = holding.astype(np.int8)  # PENDING where the condition holds
    states[firing] = FIRING
    was_firing = np.zeros_like(firing)
    was_firing[:, 1:] = firing[:, :-1]
    states[was_firing & ~firing] = RESOLVED
    return states


def _slots(known: np.ndarray, last_known: np.ndarray) -> np.ndarray:
    """Flat positions that pack each row's known cells to its front, in order."""
    row_starts = np.arange(known.shape[0], dtype=np.int64)[:, None] * known.shape[1]
    return (row_starts + last_known)[known]


def _pack(values: np.ndarray, slots: np.ndarray, known: np.ndarray, fill: object) -> np.ndarray:
    packed = np.full(values.size, fill, dtype=values.dtype)
    packed[slots] = values[known]
    return packed.reshape(values.shape)


def _last_true(flags: np.ndarray) -> np.ndarray:
    """Per cell, the position of the latest true flag at or before it (-1 if none)."""
    positions = np.arange(1, flags.shape[1] + 1, dtype=np.int32)
    return np.maximum.accumulate(flags * positions, axis=1) - 1


def _window_count(flags: np.ndarray, width: int) -> np.ndarray:
    total = np.cumsum(flags, axis=1, dtype=np.int32)
    if width < flags.shape[1]:
        total[:, width:] -= total[:, :-width].copy()
    return total


def _latch(set_flags: np.ndarray, reset_flags: np.ndarray) -> np.ndarray:
    last_set = _last_true(set_flags)
    return (last_set >= 0) & (last_set > _last_true(reset_flags))


def _carry_severity(holds: np.ndarray, severity: np.ndarray, firing: np.ndarray) -> np.ndarray:
    """A firing alert keeps the severity of the last period whose condition held."""
    last_hold = np.maximum(_last_true(holds), 0)
    carried = np.take_along_axis(severity, last_hold, axis=1)
    return (carried * firing).astype(np.int8)


def _spread(packed: np.ndarray, known: np.ndarray, last_known: np.ndarray, resolved: bool = True) -> np.ndarray:
    """Back from packed rows to periods: an unknown period repeats the state of the last known one."""
    full = np.take_along_axis(packed, np.maximum(last_known, 0), axis=1)
    full[last_known < 0] = INACTIVE
    if resolved:
        # A resolution happens once, in its own period; unknown periods after it are plain inactive.
        full[~known & (full == RESOLVED)] = INACTIVE
    return full


def transition_arrays(states: np.ndarray, levels: np.ndarray,
                      start: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows, periods, old states and new states of every change from column `start` on.

    A change of severity while firing counts as a transition (firing → firing), since it is news.
    resolved → inactive is bookkeeping and is not reported.
    """
    moving = np.flatnonzero(states.any(axis=1))  # rows that are inactive throughout have no transitions
    states, levels = states[moving], levels[moving]
    previous = np.zeros_like(states)
    previous[:, 1:] = states[:, :-1]
    previous_levels = np.zeros_like(levels)
    previous_levels[:, 1:] = levels[:, :-1]
    changed = (states != previous) | ((states == FIRING) & (previous == FIRING) & (levels != previous_levels))
    changed &= ~((previous == RESOLVED) & (states == INACTIVE))
    changed[:, :start] = False
    rows, cols = np.nonzero(changed)
    return moving[rows], cols, previous[rows, cols], states[rows, cols]


def transitions(states: np.ndarray, levels: np.ndarray, start: int = 0) -> list[tuple[int, int, int, int]]:
    """(row, period, old state, new state) for each change from column `start` on."""
    rows, cols, olds, news = transition_arrays(states, levels, start)
    return list(zip(rows.tolist(), cols.tolist(), olds.tolist(), news.tolist(), strict=True))
