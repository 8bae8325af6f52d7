"""engine.changepoints: the default detector's contract and its obvious cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import changepoints as cp
from engine.changepoints import breaks_mask, detect, detect_many


def shifted(n: int, at: int, size: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, n)
    x[at:] += size
    return x


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("n", "at"), [(24, 12), (60, 20), (240, 150)])
def test_single_mean_shift_is_found_within_two(seed: int, n: int, at: int) -> None:
    found = detect(shifted(n, at, 5.0, seed))
    assert len(found) == 1
    assert abs(found[0] - at) <= 2


def test_shift_is_found_on_any_scale_and_offset() -> None:
    x = shifted(120, 70, 5.0, 1)
    assert detect(x) == detect(x * 1e-9) == detect(x * 1e9 + 3e6) == detect(-x - 50.0)


def test_white_noise_has_no_breaks_for_most_seeds() -> None:
    rng = np.random.default_rng(2026)
    quiet = sum(detect(rng.normal(size=n)) == [] for n in (24, 60, 120, 240) for _ in range(25))
    assert quiet >= 95  # out of 100


def test_steady_trend_and_growth_have_no_breaks() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(120)
    assert detect(0.2 * t + rng.normal(size=120)) == []
    assert detect(100 * np.exp(0.01 * t + rng.normal(0, 0.002, 120))) == []


def test_isolated_outlier_is_not_a_segment() -> None:
    x = np.random.default_rng(4).normal(size=100)
    x[50] += 15.0
    assert detect(x) == []


def test_nan_positions_map_back_to_the_original_index() -> None:
    x = shifted(60, 30, 6.0, 5)
    holey = x.copy()
    holey[[3, 10, 25, 28, 29]] = np.nan
    found = detect(holey)
    assert len(found) == 1
    assert abs(found[0] - 30) <= 2
    assert np.isfinite(holey[found[0]])  # a break is always at an observed period
    # Dropping the NaNs and detecting gives the same breaks in observed positions.
    observed = np.flatnonzero(np.isfinite(holey))
    assert [int(observed[b]) for b in detect(holey[observed])] == found


def test_inf_counts_as_missing() -> None:
    x = shifted(60, 30, 6.0, 6)
    with_inf = x.copy()
    with_inf[[5, 40]] = [np.inf, -np.inf]
    with_nan = x.copy()
    with_nan[[5, 40]] = np.nan
    assert detect(with_inf) == detect(with_nan)


@pytest.mark.parametrize(
    "values",
    [
        [],
        [1.0],
        [1.0, 2.0, 3.0],
        [0.0] * 50,
        [7.5] * 50,
        [math.nan] * 50,
        [math.inf, -math.inf, math.nan],
        [1.0, math.nan] * 4,
        list(range(50)),  # exactly linear: nothing changes
        [1e308, -1e308] * 20,
        [5e-324, 0.0] * 20,
    ],
)
def test_degenerate_input_gives_no_breaks_without_raising(values: list[float]) -> None:
    assert detect(values) == []


def test_short_series_rule_counts_observed_points() -> None:
    x = [0.0] * 5 + [10.0] * 4  # 9 points < 2 * min_size
    assert cp.DEFAULT.min_size * 2 > len(x)
    assert detect(x) == []


def test_results_are_plain_sorted_ints() -> None:
    x = shifted(120, 40, 6.0, 7)
    x[80:] -= 12.0
    found = detect(x)
    assert len(found) == 2
    assert all(type(b) is int for b in found)
    assert found == sorted(found)


def test_detect_accepts_lists_tuples_and_int_arrays() -> None:
    x = shifted(60, 30, 6.0, 8)
    expected = detect(x)
    assert detect(list(x)) == expected
    assert detect(tuple(x)) == expected
    assert detect(np.round(x * 1000).astype(int)) == expected


def test_detect_many_matches_detect_row_by_row() -> None:
    rng = np.random.default_rng(9)
    rows = rng.normal(size=(6, 80))
    rows[1, 40:] += 6.0
    rows[2, :] = np.nan
    rows[3, [5, 6, 7]] = np.nan
    rows[3, 50:] += 6.0
    rows[4] = np.linspace(0, 30, 80) + rng.normal(size=80)
    assert detect_many(rows) == [detect(r) for r in rows]
    assert detect_many(rows[1]) == [detect(rows[1])]
    assert detect_many(np.empty((0, 10))) == []


def test_breaks_mask_marks_the_first_period_of_each_new_segment() -> None:
    x = np.vstack([shifted(48, 30, 6.0, 10), np.full(48, np.nan), np.random.default_rng(11).normal(size=48)])
    mask = breaks_mask(x)
    assert mask.shape == x.shape
    assert mask.dtype == float
    assert np.flatnonzero(mask[0]).tolist() == detect(x[0])
    assert abs(int(np.flatnonzero(mask[0])[0]) - 30) <= 2
    assert not mask[1].any()  # all-NaN row
    assert not mask[2].any()  # noise
    assert set(np.unique(mask)) <= {0.0, 1.0}


def test_breaks_mask_keeps_a_single_row_shape() -> None:
    x = shifted(48, 30, 6.0, 12)
    assert breaks_mask(x).shape == (48,)
    assert breaks_mask(x[None, :]).shape == (1, 48)


def test_settings_change_the_sensitivity() -> None:
    x = shifted(120, 60, 1.2, 13)
    loose = cp.Settings(penalty=1.0)
    strict = cp.Settings(penalty=20.0)
    assert len(detect(x, loose)) >= len(detect(x, strict))


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=200, deadline=None)
@given(st.lists(finite_or_not, max_size=120))
def test_detect_never_raises_and_returns_sorted_ints_in_range(values: list[float]) -> None:
    found = detect(values)
    assert all(type(b) is int for b in found)
    assert found == sorted(set(found))
    assert all(1 <= b <= len(values) - 1 for b in found)
    assert all(math.isfinite(values[b]) for b in found)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=10, max_size=60), st.integers(0, 2**32 - 1))
def test_detect_many_never_raises(values: list[float], seed: int) -> None:
    rows = np.random.default_rng(seed).permutation(np.array(values * 3).reshape(3, -1), axis=1)
    assert len(detect_many(rows)) == 3
