"""The alert state machine, counted in periods (Prometheus's lifecycle).

inactive → pending when the condition first holds; pending → firing once it has held `for n periods`
(or `k of n`); firing → resolved when it stops, after any `keep`, or only once `recover when` holds.
A period whose condition is unknown (missing data, a false guard) changes nothing: the alert keeps
its state through it and it does not count towards persistence.

The machine runs on a whole (entities × periods) matrix at once, without a loop over periods, and on
events rather than cells: a condition holds in few cells, and every state but inactive starts at one
of them. Positions are counted in known periods: an event is the index of its cell among the
matrix's known cells, so the periods in between are skipped without being looked at. Persistence,
the firing latch, `keep` and `recover` are found among the events with searches and running maxima,
and the states are painted back as spans of cells, an unknown period repeating the state of the
known one before it.
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


@dataclass(frozen=True)
class _Known:
    """The known cells of a matrix: an index into `cells` is a position counted in known periods."""

    cells: np.ndarray  # flat indices of the known cells, sorted, then a sentinel past every row
    row_starts: np.ndarray  # per row, and one past the last: the index of its first known cell
    cols: int

    @classmethod
    def of(cls, condition: np.ndarray) -> _Known:
        rows, cols = condition.shape
        known = np.empty(condition.size + 1, dtype=bool)
        flat = condition.reshape(-1)
        np.equal(flat, flat, out=known[:-1])  # false only for NaN: one pass, no temporary
        known[-1] = True
        cells = np.flatnonzero(known)
        return cls(cells, np.searchsorted(cells, np.arange(rows + 1) * cols), cols)

    def cell(self, index: np.ndarray, row: np.ndarray) -> np.ndarray:
        """The flat cell of a known index, or the row's end for the index just past its row."""
        return np.minimum(self.cells[index], (row + 1) * self.cols)


def run_states(condition: np.ndarray, severity: np.ndarray, persistence: Persistence,
               recover: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """States (int8) and firing severities (int8) for a matrix of conditions (1, 0 or NaN)."""
    known = _Known.of(condition)
    hold_cells = np.flatnonzero(condition == 1.0)
    holds = np.searchsorted(known.cells, hold_cells)
    events, persistent = _events(holds, hold_cells // max(known.cols, 1), known.row_starts, persistence)
    rows = np.searchsorted(known.row_starts, events, side="right") - 1
    row_end = known.row_starts[rows + 1]
    resets = _resets(events, row_end, persistence.keep_periods, None if recover is None else
                     np.flatnonzero(recover.reshape(-1)[known.cells[:-1]] == 1.0))
    firing = _firing(rows, persistent, resets)
    # An event's span runs to the row's next event (or its end), a firing one only up to its reset.
    following = np.minimum(np.append(events[1:], row_end[-1:]), row_end)
    starts = known.cell(events, rows)
    stops = known.cell(np.where(firing, np.where(resets >= 0, resets, following), events + 1), rows)
    states = np.zeros(condition.shape, dtype=np.int8)
    _paint(states, starts, stops, np.where(firing, FIRING, PENDING))
    ended = firing & (resets >= 0)
    resolved = known.cells[resets[ended]]  # the known period itself: unknown ones after it are inactive
    _paint(states, resolved, resolved + 1, np.full(len(resolved), RESOLVED))
    # A firing alert has the severity of the last period whose condition held.
    last_hold = hold_cells[np.searchsorted(holds, events[firing], side="right") - 1]
    levels = np.zeros(condition.shape, dtype=np.int8)
    _paint(levels, starts[firing], stops[firing], severity.reshape(-1)[last_hold])
    return states, levels


def _events(holds: np.ndarray, hold_rows: np.ndarray, row_starts: np.ndarray,
            persistence: Persistence) -> tuple[np.ndarray, np.ndarray]:
    """Sorted known indices where the condition holds or persistence is met, and which are persistent."""
    if persistence.of_periods is None:
        index = np.arange(len(holds))
        new_run = np.ones(len(holds), dtype=bool)
        new_run[1:] = (holds[1:] != holds[:-1] + 1) | (hold_rows[1:] != hold_rows[:-1])
        run_start = np.maximum.accumulate(np.where(new_run, index, 0))
        return holds, index - run_start + 1 >= persistence.for_periods
    # `k of n` can be met in a known period that does not hold itself, up to n - 1 after a hold.
    width = persistence.of_periods
    reach = holds[:, None] + np.arange(width)
    reached = np.zeros(row_starts[-1] + width, dtype=bool)
    reached[reach[reach < row_starts[hold_rows + 1][:, None]]] = True
    candidates = np.flatnonzero(reached)
    first = row_starts[np.searchsorted(row_starts, candidates, side="right") - 1]
    upto = np.searchsorted(holds, candidates, side="right")
    persistent = upto - np.searchsorted(holds, np.maximum(candidates - width + 1, first)) >= persistence.for_periods
    kept = persistent | (upto > np.searchsorted(holds, candidates))  # or the candidate holds itself
    return candidates[kept], persistent[kept]


def _resets(events: np.ndarray, row_end: np.ndarray, keep: int, recovers: np.ndarray | None) -> np.ndarray:
    """Per event, where an alert firing through it ends (-1: not before the row's next event or end).

    That is `keep` known periods later, and with `recover when` at the first known period from there on
    where the recover condition holds (`recovers`: those known indices).
    """
    resets = events + keep + 1
    if recovers is not None:
        found = np.searchsorted(recovers, resets)
        resets = np.append(recovers, row_end[-1:])[found] if len(events) else resets
    following = np.append(events[1:], row_end[-1:])
    return np.where((resets < following) & (resets < row_end), resets, -1)


def _firing(rows: np.ndarray, persistent: np.ndarray, resets: np.ndarray) -> np.ndarray:
    """Whether an alert fires at each event: the latch is set by a persistent event of the row and
    cleared by a reset after a later one."""
    index = np.arange(len(rows))
    last_set = np.maximum.accumulate(np.where(persistent, index, -1))
    cleared = np.maximum.accumulate(np.where(resets >= 0, index, -1))  # the last event followed by a reset
    cleared_before = np.append(-1, cleared[:-1])
    same_row = rows[np.maximum(last_set, 0)] == rows
    return (last_set >= 0) & same_row & (last_set > cleared_before)


def _paint(target: np.ndarray, starts: np.ndarray, stops: np.ndarray, values: np.ndarray) -> None:
    """Set the flat cells [start, stop) of each span (the spans do not overlap) to the span's value."""
    lengths = stops - starts
    first = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    target.reshape(-1)[first + np.arange(len(first))] = np.repeat(values, lengths)


def transition_arrays(states: np.ndarray, levels: np.ndarray,
                      start: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows, periods, old states and new states of every change from column `start` on.

    A change of severity while firing counts as a transition (firing → firing), since it is news.
    resolved → inactive is bookkeeping and is not reported.
    """
    # A level is set only while firing, so a change of state or of firing level is a change of this code.
    code = states | (levels << 2)
    changed = np.empty(code.shape, dtype=bool)
    changed[:, :1] = code[:, :1] != 0
    np.not_equal(code[:, 1:], code[:, :-1], out=changed[:, 1:])
    changed[:, :start] = False
    rows, cols = np.divmod(np.flatnonzero(changed), changed.shape[1])  # faster than a 2-D nonzero
    news = states[rows, cols]
    olds = np.where(cols > 0, states[rows, cols - 1], INACTIVE)
    reported = (olds != RESOLVED) | (news != INACTIVE)
    return rows[reported], cols[reported], olds[reported].astype(states.dtype), news[reported]


def transitions(states: np.ndarray, levels: np.ndarray, start: int = 0) -> list[tuple[int, int, int, int]]:
    """(row, period, old state, new state) for each change from column `start` on."""
    rows, cols, olds, news = transition_arrays(states, levels, start)
    return list(zip(rows.tolist(), cols.tolist(), olds.tolist(), news.tolist(), strict=True))
