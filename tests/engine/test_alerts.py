"""The alert state machine (`engine.alerts.run_states`) on hand-built condition matrices.

The real machine is vectorized (known periods packed to the front, prefix sums and running maxima);
`reference_states` below is the plain per-row loop that states the lifecycle, and a hypothesis test
compares the two on random matrices.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.alerts import FIRING, INACTIVE, PENDING, RESOLVED, Persistence, run_states, transitions

N = np.nan
I, P, F, R = INACTIVE, PENDING, FIRING, RESOLVED  # noqa: E741


def matrix(*rows: list[float]) -> np.ndarray:
    return np.array(rows, dtype=float)


def run(condition: list[float], persistence: Persistence | None = None, severity: list[int] | None = None,
        recover: list[float] | None = None) -> tuple[list[int], list[int]]:
    """One row through the real machine; states and levels as plain lists."""
    cond = matrix(condition)
    sev = np.array([severity if severity is not None else [2] * len(condition)], dtype=np.int8)
    rec = matrix(recover) if recover is not None else None
    states, levels = run_states(cond, sev, persistence or Persistence(), rec)
    assert states.dtype == np.int8 and levels.dtype == np.int8
    return states[0].tolist(), levels[0].tolist()


# ----------------------------------------------------------------------------- the reference


def reference_states(condition: np.ndarray, severity: np.ndarray, persistence: Persistence,
                     recover: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The lifecycle, one row and one period at a time.

    - inactive → pending when the condition first holds;
    - → firing once it has held for n consecutive known periods (or k of the last n known periods);
    - a firing alert stays firing while its condition holds (or the k-of-n count is still met); once it
      stops, it stays firing for `keep` more known periods, and with `recover when` until the recover
      condition holds; then → resolved;
    - an unknown period copies the previous state (a resolved state becomes inactive) and is skipped by
      all the counting;
    - a firing alert has the severity of the last known period whose condition held.
    """
    rows, cols = condition.shape
    out_states = np.zeros((rows, cols), dtype=np.int8)
    out_levels = np.zeros((rows, cols), dtype=np.int8)
    for r in range(rows):
        state, level = INACTIVE, 0  # after the last known period
        run_length = 0
        window: deque[bool] = deque(maxlen=persistence.of_periods or 1)
        stopped = 0  # known periods since a firing alert's condition last held
        last_severity = 0
        for c in range(cols):
            value = condition[r, c]
            if np.isnan(value):
                out_states[r, c] = INACTIVE if state == RESOLVED else state
                out_levels[r, c] = level
                continue
            holds = bool(value == 1)
            run_length = run_length + 1 if holds else 0
            window.append(holds)
            if holds:
                last_severity = int(severity[r, c])
            if persistence.of_periods is not None:
                persistent = sum(window) >= persistence.for_periods
            else:
                persistent = run_length >= persistence.for_periods
            if state == FIRING:
                if holds or persistent:
                    stopped = 0
                    new = FIRING
                else:
                    stopped += 1
                    recovered = recover is None or recover[r, c] == 1
                    new = RESOLVED if stopped > persistence.keep_periods and recovered else FIRING
            elif persistent:
                stopped = 0
                new = FIRING
            else:
                new = PENDING if holds else INACTIVE
            state = new
            level = last_severity if state == FIRING else 0
            out_states[r, c] = state
            out_levels[r, c] = level
    return out_states, out_levels


# ----------------------------------------------------------------------------- for n periods


def test_single_period_fires_at_once_and_resolves_when_it_stops():
    states, levels = run([0, 1, 1, 0, 0])
    assert states == [I, F, F, R, I]
    assert levels == [0, 2, 2, 0, 0]


def test_for_n_goes_through_pending():
    states, _ = run([0, 1, 1, 1, 0, 1], Persistence(for_periods=3))
    assert states == [I, P, P, F, R, P]


def test_for_n_needs_consecutive_periods():
    # 1 1 0 1 1: never three in a row.
    states, _ = run([1, 1, 0, 1, 1, 1], Persistence(for_periods=3))
    assert states == [P, P, I, P, P, F]


def test_for_n_pending_that_stops_goes_back_to_inactive_not_resolved():
    states, _ = run([1, 0, 1, 1], Persistence(for_periods=2))
    assert states == [P, I, P, F]


# ----------------------------------------------------------------------------- k of n periods


def test_k_of_n_fires_without_consecutive_periods():
    # 2 of 3: 1 0 1 → two of the last three known periods held.
    states, _ = run([1, 0, 1, 0, 0, 0], Persistence(for_periods=2, of_periods=3))
    assert states == [P, I, F, R, I, I]


def test_k_of_n_window_slides():
    # 3 of 4: 1 1 0 0 1 1 → at the last period the window is 0 0 1 1 (2): no.
    states, _ = run([1, 1, 0, 0, 1, 1], Persistence(for_periods=3, of_periods=4))
    assert states == [P, P, I, I, P, P]
    states, _ = run([1, 1, 0, 1, 0, 0, 0], Persistence(for_periods=3, of_periods=4))
    assert states == [P, P, I, F, R, I, I]


def test_k_of_n_skips_unknown_periods():
    # 2 of 2 over known periods: the gap does not break the window.
    states, _ = run([1, N, N, 1, 0], Persistence(for_periods=2, of_periods=2))
    assert states == [P, P, P, F, R]


# ----------------------------------------------------------------------------- keep


def test_keep_holds_firing_after_the_condition_stops():
    states, _ = run([1, 1, 0, 0, 0, 0], Persistence(keep_periods=2))
    assert states == [F, F, F, F, R, I]


def test_keep_is_reset_when_the_condition_returns():
    states, _ = run([1, 0, 1, 0, 0, 0], Persistence(keep_periods=1))
    assert states == [F, F, F, F, R, I]


def test_keep_with_for():
    states, _ = run([1, 1, 0, 1, 0, 0, 0], Persistence(for_periods=2, keep_periods=1))
    # Fires at 1, is kept at 2; at 3 the condition holds again, so the firing alert goes on (it does not
    # resolve at a period whose condition holds); kept at 4; resolved at 5.
    assert states == [P, F, F, F, F, R, I]


def test_keep_with_k_of_n_and_the_condition_back():
    # 2 of 2, keep 1: fires at 1, kept at 2; at 3 it holds again (1 of 2 only), the alert goes on firing.
    states, _ = run([1, 1, 0, 1, 0, 0], Persistence(for_periods=2, of_periods=2, keep_periods=1))
    assert states == [P, F, F, F, F, R]


def test_keep_and_recover_together():
    # keep 1 holds the alert at 1 although the recover condition holds; at 2 the recovery ends it.
    states, _ = run([1, 0, 0, 0], Persistence(keep_periods=1), recover=[0, 1, 1, 0])
    assert states == [F, F, R, I]
    states, _ = run([1, 0, 0, 0, 0], Persistence(keep_periods=1), recover=[0, 1, 0, 0, 1])
    assert states == [F, F, F, F, R]


def test_keep_counts_known_periods_only():
    states, _ = run([1, 0, N, N, 0, 0], Persistence(keep_periods=2))
    assert states == [F, F, F, F, F, R]


# ----------------------------------------------------------------------------- recover latch


def test_recover_latch_keeps_firing_until_recovery_holds():
    cond = [1, 0, 0, 0, 0]
    recover = [0, 0, 0, 1, 0]
    states, levels = run(cond, recover=recover)
    assert states == [F, F, F, R, I]
    assert levels == [2, 2, 2, 0, 0]


def test_recover_is_ignored_while_not_firing():
    states, _ = run([0, 1, 1, 0], Persistence(for_periods=2), recover=[1, 1, 0, 1])
    assert states == [I, P, F, R]


def test_recover_that_holds_with_the_condition_does_not_resolve():
    # The condition itself keeps the alert firing, whatever the recover condition says.
    states, _ = run([1, 1, 0], recover=[1, 1, 1])
    assert states == [F, F, R]


def test_unknown_recover_does_not_resolve():
    states, _ = run([1, 0, 0, 0], recover=[0, N, N, 1])
    assert states == [F, F, F, R]


def test_refire_after_recover():
    states, _ = run([1, 0, 0, 1, 0], recover=[0, 1, 0, 0, 0])
    assert states == [F, R, I, F, F]


# ----------------------------------------------------------------------------- unknown periods


def test_unknown_periods_hold_state_and_do_not_count():
    states, _ = run([1, N, 1, N, 1, 0], Persistence(for_periods=3))
    assert states == [P, P, P, P, F, R]


def test_unknown_before_any_known_period_is_inactive():
    states, levels = run([N, N, 1, 1], Persistence(for_periods=2))
    assert states == [I, I, P, F]
    assert levels == [0, 0, 0, 2]


def test_unknown_keeps_firing_with_its_level():
    states, levels = run([1, N, N, 0], severity=[3, 2, 2, 2])
    assert states == [F, F, F, R]
    assert levels == [3, 3, 3, 0]


def test_unknown_after_resolved_is_inactive():
    states, _ = run([1, 0, N, N, 0])
    assert states == [F, R, I, I, I]


def test_unknown_does_not_break_a_run():
    states, _ = run([1, N, 0, 1, N, 1], Persistence(for_periods=2))
    assert states == [P, P, I, P, P, F]


def test_all_unknown_row_is_inactive():
    states, levels = run([N, N, N], Persistence(for_periods=2))
    assert states == [I, I, I]
    assert levels == [0, 0, 0]


def test_rows_are_independent():
    cond = matrix([1, 1, 0], [0, 1, 1], [N, 1, N])
    sev = np.full(cond.shape, 2, dtype=np.int8)
    states, _ = run_states(cond, sev, Persistence(for_periods=2))
    assert states.tolist() == [[P, F, R], [I, P, F], [I, P, P]]


# ----------------------------------------------------------------------------- severity zones


def test_firing_level_follows_the_zone_that_holds():
    states, levels = run([1, 1, 1, 1, 0], severity=[2, 3, 3, 2, 2])
    assert states == [F, F, F, F, R]
    assert levels == [2, 3, 3, 2, 0]


def test_level_during_keep_is_the_last_holding_zone():
    states, levels = run([1, 0, 0], Persistence(keep_periods=1), severity=[3, 2, 2])
    assert states == [F, F, R]
    assert levels == [3, 3, 0]


def test_pending_has_no_level():
    _, levels = run([1, 1, 1], Persistence(for_periods=3), severity=[3, 3, 3])
    assert levels == [0, 0, 3]


def test_transitions_report_escalation_while_firing():
    states, levels = run_states(matrix([0, 1, 1, 1, 1, 0]), np.array([[2, 2, 3, 3, 2, 2]], dtype=np.int8),
                                Persistence())
    moves = transitions(states, levels)
    assert moves == [(0, 1, I, F), (0, 2, F, F), (0, 4, F, F), (0, 5, F, R)]


def test_transitions_without_level_change_are_not_repeated():
    states, levels = run_states(matrix([1, 1, 1]), np.full((1, 3), 3, dtype=np.int8), Persistence())
    assert transitions(states, levels) == [(0, 0, I, F)]


# ----------------------------------------------------------------------------- transitions


def test_resolved_appears_once():
    cond = matrix([1, 0, 0, N, 0, 1, 0])
    states, levels = run_states(cond, np.full(cond.shape, 2, dtype=np.int8), Persistence())
    assert states[0].tolist() == [F, R, I, I, I, F, R]
    moves = transitions(states, levels)
    assert moves == [(0, 0, I, F), (0, 1, F, R), (0, 5, I, F), (0, 6, F, R)]
    assert [m for m in moves if m[3] == R] == [(0, 1, F, R), (0, 6, F, R)]


def test_resolved_then_unknown_is_not_reported():
    cond = matrix([1, 0, N, N])
    states, levels = run_states(cond, np.full(cond.shape, 2, dtype=np.int8), Persistence())
    assert transitions(states, levels) == [(0, 0, I, F), (0, 1, F, R)]


def test_transitions_through_pending():
    cond = matrix([1, 1, 0, 1, 0])
    states, levels = run_states(cond, np.full(cond.shape, 2, dtype=np.int8), Persistence(for_periods=2))
    assert transitions(states, levels) == [(0, 0, I, P), (0, 1, P, F), (0, 2, F, R), (0, 3, R, P),
                                           (0, 4, P, I)]


def test_transitions_from_a_start_column():
    cond = matrix([1, 1, 0, 1], [0, 0, 1, 1])
    states, levels = run_states(cond, np.full(cond.shape, 2, dtype=np.int8), Persistence())
    assert transitions(states, levels, start=2) == [(0, 2, F, R), (0, 3, R, F), (1, 2, I, F)]


def test_first_column_transition_is_from_inactive():
    cond = matrix([1, 0])
    states, levels = run_states(cond, np.full(cond.shape, 3, dtype=np.int8), Persistence())
    assert transitions(states, levels) == [(0, 0, I, F), (0, 1, F, R)]


def test_empty_matrix():
    cond = np.zeros((0, 5))
    states, levels = run_states(cond, np.zeros((0, 5), dtype=np.int8), Persistence(for_periods=2))
    assert states.shape == (0, 5) and levels.shape == (0, 5)
    assert transitions(states, levels) == []


# ----------------------------------------------------------------------------- against the reference


@st.composite
def machines(draw):
    rows = draw(st.integers(1, 4))
    cols = draw(st.integers(1, 14))
    cell = st.sampled_from([0.0, 1.0, np.nan])
    condition = np.array(draw(st.lists(st.lists(cell, min_size=cols, max_size=cols), min_size=rows,
                                       max_size=rows)), dtype=float)
    severity = np.array(draw(st.lists(st.lists(st.integers(1, 3), min_size=cols, max_size=cols),
                                      min_size=rows, max_size=rows)), dtype=np.int8)
    of = draw(st.one_of(st.none(), st.integers(1, 5)))
    n = draw(st.integers(1, of if of is not None else 4))
    keep = draw(st.integers(0, 3))
    recover = None
    if draw(st.booleans()):
        recover = np.array(draw(st.lists(st.lists(cell, min_size=cols, max_size=cols), min_size=rows,
                                         max_size=rows)), dtype=float)
    return condition, severity, Persistence(n, of, keep), recover


@settings(max_examples=400, deadline=None)
@given(machines())
def test_run_states_matches_the_reference(case):
    condition, severity, persistence, recover = case
    states, levels = run_states(condition, severity, persistence, recover)
    expected_states, expected_levels = reference_states(condition, severity, persistence, recover)
    np.testing.assert_array_equal(states, expected_states)
    np.testing.assert_array_equal(levels, expected_levels)


@settings(max_examples=200, deadline=None)
@given(machines())
def test_transitions_are_the_state_changes(case):
    condition, severity, persistence, recover = case
    states, levels = run_states(condition, severity, persistence, recover)
    moves = transitions(states, levels)
    for row in range(states.shape[0]):
        previous, previous_level = INACTIVE, 0
        expected = []
        for col in range(states.shape[1]):
            state, level = int(states[row, col]), int(levels[row, col])
            escalation = state == FIRING and previous == FIRING and level != previous_level
            if (state != previous or escalation) and not (previous == RESOLVED and state == INACTIVE):
                expected.append((row, col, previous, state))
            previous, previous_level = state, level
        assert [m for m in moves if m[0] == row] == expected


@pytest.mark.parametrize("persistence", [Persistence(), Persistence(3), Persistence(2, 4), Persistence(1, None, 2)])
def test_wide_matrix_matches_the_reference(persistence):
    rng = np.random.default_rng(7)
    condition = rng.choice([0.0, 1.0, np.nan], size=(50, 120), p=[0.45, 0.4, 0.15])
    severity = rng.integers(1, 4, size=condition.shape).astype(np.int8)
    recover = rng.choice([0.0, 1.0, np.nan], size=condition.shape)
    for rec in (None, recover):
        states, levels = run_states(condition, severity, persistence, rec)
        expected_states, expected_levels = reference_states(condition, severity, persistence, rec)
        np.testing.assert_array_equal(states, expected_states)
        np.testing.assert_array_equal(levels, expected_levels)
