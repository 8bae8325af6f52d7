"""Period-aware transforms: hand-worked examples, edge cases, and properties against naive loops."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from engine.periods import Axis, Period
from engine.transforms import (
    diff,
    history,
    lag,
    mom,
    peer_rank,
    peer_robust_z,
    rolling,
    single_from_ytd,
    time_progress,
    yoy,
    yoy2,
    ytd_average,
    ytd_from_single,
    zscore,
)

# Any numpy warning (division by zero, all-NaN slice, ...) fails the test: the engine must stay quiet.
pytestmark = pytest.mark.filterwarnings("error")

NAN = np.nan


def axis(first: str, last: str) -> Axis:
    return Axis.between(Period.parse(first), Period.parse(last))


def row(*values: float) -> np.ndarray:
    return np.array([values], dtype=np.float64)


def close(actual: np.ndarray, expected: np.ndarray | list) -> None:
    np.testing.assert_allclose(actual, np.asarray(expected, dtype=np.float64), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- single_from_ytd


def test_single_from_ytd_monthly() -> None:
    ax = axis("2026-01", "2026-04")
    # Jan = 10 (first of the year), Feb = 18 - 10 = 8, Mar = 30 - 18 = 12, Apr = 41 - 30 = 11
    close(single_from_ytd(row(10, 18, 30, 41), ax, False), [[10, 8, 12, 11]])


def test_single_from_ytd_year_boundary_restarts() -> None:
    ax = axis("2025-11", "2026-02")
    # Dec = 130 - 110 = 20; Jan 2026 is its own ytd 8 (not 8 - 130); Feb = 20 - 8 = 12
    close(single_from_ytd(row(110, 130, 8, 20), ax, False), [[NAN, 20, 8, 12]])


def test_single_from_ytd_first_position_mid_year_is_missing() -> None:
    ax = axis("2026-03", "2026-04")
    # March needs February, which is not on the axis
    close(single_from_ytd(row(30, 41), ax, False), [[NAN, 11]])


def test_single_from_ytd_merged_jan_feb() -> None:
    ax = axis("2026-01", "2026-04")
    # Jan: no row (even a stray value is ignored); Feb = the 1–2月 total 18;
    # Mar = 30 - 18 = 12; Apr = 41 - 30 = 11
    close(single_from_ytd(row(7, 18, 30, 41), ax, True), [[NAN, 18, 12, 11]])


def test_single_from_ytd_merged_across_years() -> None:
    ax = axis("2025-12", "2026-03")
    # Dec 2025 needs Nov (off-axis); Jan 2026 missing by construction; Feb = 20; Mar = 33 - 20 = 13
    close(single_from_ytd(row(130, NAN, 20, 33), ax, True), [[NAN, NAN, 20, 13]])


def test_single_from_ytd_quarterly_h1_minus_q1() -> None:
    ax = axis("2026Q1", "2026Q4")
    # Q1 = 25; Q2 = H1 - Q1 = 60 - 25 = 35; Q3 = 90 - 60 = 30; Q4 = 130 - 90 = 40
    close(single_from_ytd(row(25, 60, 90, 130), ax, False), [[25, 35, 30, 40]])
    # 1–2月 merging has no meaning for quarters
    close(single_from_ytd(row(25, 60, 90, 130), ax, True), [[25, 35, 30, 40]])


def test_single_from_ytd_annual_is_identity_and_a_new_array() -> None:
    ax = axis("2024", "2026")
    x = row(1, 2, 3)
    out = single_from_ytd(x, ax, False)
    close(out, x)
    out[0, 0] = 99
    assert x[0, 0] == 1


def test_single_from_ytd_missing_value_spoils_itself_and_the_next() -> None:
    ax = axis("2026-01", "2026-04")
    # Mar = 30 - NaN, Apr = 41 - NaN
    close(single_from_ytd(row(10, NAN, 30, 41), ax, False), [[10, NAN, NAN, 11]])


def test_single_from_ytd_is_vectorized_over_entities() -> None:
    ax = axis("2026-01", "2026-03")
    x = np.array([[10, 18, 30], [1, 3, 6]], dtype=np.float64)
    close(single_from_ytd(x, ax, False), [[10, 8, 12], [1, 2, 3]])


# ---------------------------------------------------------------- ytd_from_single and ytd_average


def test_ytd_from_single_monthly() -> None:
    ax = axis("2026-01", "2026-04")
    # 10, 10 + 8 = 18, 18 + 12 = 30, 30 + 11 = 41
    close(ytd_from_single(row(10, 8, 12, 11), ax, False), [[10, 18, 30, 41]])


def test_ytd_from_single_missing_spoils_the_rest_of_the_year_only() -> None:
    ax = axis("2025-11", "2026-02")
    # Nov 2025 starts the axis mid-year, so 2025 is incomplete; 2026 restarts: 5, 5 + 6 = 11
    close(ytd_from_single(row(1, 2, 5, 6), ax, False), [[NAN, NAN, 5, 11]])
    ax = axis("2026-01", "2026-04")
    close(ytd_from_single(row(10, NAN, 12, 11), ax, False), [[10, NAN, NAN, NAN]])


def test_ytd_from_single_merged_january_not_required() -> None:
    ax = axis("2026-01", "2026-04")
    # Jan: no row; Feb holds 1–2月 = 18; Mar = 18 + 12 = 30; Apr = 30 + 11 = 41
    close(ytd_from_single(row(NAN, 18, 12, 11), ax, True), [[NAN, 18, 30, 41]])
    # a stray January value must not be counted on top of the Jan–Feb total
    close(ytd_from_single(row(7, 18, 12, 11), ax, True), [[NAN, 18, 30, 41]])


def test_ytd_from_single_merged_axis_starting_in_february() -> None:
    ax = axis("2026-02", "2026-03")
    close(ytd_from_single(row(18, 12), ax, True), [[18, 30]])
    # without merging, January is required and lies before the axis
    close(ytd_from_single(row(18, 12), ax, False), [[NAN, NAN]])


def test_ytd_from_single_quarterly() -> None:
    ax = axis("2025Q4", "2026Q4")
    # 2025 is cut off by the axis; 2026: 25, 60, 90, 130
    close(ytd_from_single(row(40, 25, 35, 30, 40), ax, False), [[NAN, 25, 60, 90, 130]])


def test_ytd_average_of_an_index() -> None:
    ax = axis("2025-11", "2026-04")
    # 2025 incomplete on the axis; 2026: 102, (102 + 101) / 2 = 101.5, (102 + 101 + 103) / 3 = 102,
    # then April missing
    close(ytd_average(row(101, 100, 102, 101, 103, NAN), ax), [[NAN, NAN, 102, 101.5, 102, NAN]])


def test_ytd_average_annual_is_identity() -> None:
    close(ytd_average(row(102.1, 101.3), axis("2025", "2026")), [[102.1, 101.3]])


# ---------------------------------------------------------------- yoy


def test_yoy_levels_same_period_last_year() -> None:
    ax = axis("2025-01", "2026-02")
    x = np.full((1, 14), NAN)
    x[0, 0], x[0, 1], x[0, 12], x[0, 13] = 100, 200, 110, 190
    out = yoy(x, ax, "ytd")
    # Jan 2026: (110 / 100 - 1) * 100 = 10; Feb 2026: (190 / 200 - 1) * 100 = -5; 2025 has no base
    close(out[0, 12:], [10, -5])
    assert np.isnan(out[0, :12]).all()


def test_yoy_quarterly_and_annual() -> None:
    # 2026Q1 vs 2025Q1: (120 / 100 - 1) * 100 = 20
    close(yoy(row(100, 1, 1, 1, 120), axis("2025Q1", "2026Q1"), "period"), [[NAN] * 4 + [20]])
    # 2026 vs 2025: (99 / 90 - 1) * 100 = 10
    close(yoy(row(90, 99), axis("2025", "2026"), "stock"), [[NAN, 10]])


@pytest.mark.parametrize(
    ("base", "current", "expected"),
    [
        (0.0, 10.0, NAN),  # zero base
        (-10.0, 5.0, NAN),  # negative base (a loss last year)
        (NAN, 5.0, NAN),  # missing base
        (10.0, NAN, NAN),  # missing current
        (10.0, -5.0, -150.0),  # a loss against a profit: (-5 / 10 - 1) * 100
        (10.0, 0.0, -100.0),
    ],
)
def test_yoy_base_edge_cases(base: float, current: float, expected: float) -> None:
    close(yoy(row(base, current), axis("2025", "2026"), "period"), [[NAN, expected]])


def test_yoy_index_is_minus_100() -> None:
    # CPI 102.5 (same period last year = 100) -> 2.5
    close(yoy(row(102.5, NAN, 99.0), axis("2026-01", "2026-03"), "index"), [[2.5, NAN, -1.0]])


def test_yoy_refuses_rate_and_unknown_forms() -> None:
    ax = axis("2025", "2026")
    with pytest.raises(ValueError, match="rate"):
        yoy(row(6.5, 7.0), ax, "rate")
    with pytest.raises(ValueError, match="未知的指标形式"):
        yoy(row(6.5, 7.0), ax, "flow")


def test_yoy_rejects_misaligned_panel() -> None:
    with pytest.raises(ValueError):
        yoy(row(1, 2, 3), axis("2025", "2026"), "period")


# ---------------------------------------------------------------- mom


def test_mom_period_form() -> None:
    # (110 / 100 - 1) * 100 = 10; (99 / 110 - 1) * 100 = -10
    close(mom(row(100, 110, 99), axis("2026-04", "2026-06"), "period", False), [[NAN, 10, -10]])


def test_mom_ytd_uses_single_values_and_crosses_the_year() -> None:
    ax = axis("2025-11", "2026-02")
    # singles: Nov ?, Dec = 130 - 110 = 20, Jan = 8, Feb = 20 - 8 = 12
    # Jan vs Dec: (8 / 20 - 1) * 100 = -60; Feb vs Jan: (12 / 8 - 1) * 100 = 50
    close(mom(row(110, 130, 8, 20), ax, "ytd", False), [[NAN, NAN, -60, 50]])


def test_mom_ytd_merged_jan_feb() -> None:
    ax = axis("2025-12", "2026-04")
    # Jan: no row; Feb: a two-month total; Mar: its previous is a two-month total; Apr: singles
    # Mar = 30 - 18 = 12 and Apr = 41 - 30 = 11 -> (11 / 12 - 1) * 100 = -8.333...
    out = mom(row(130, NAN, 18, 30, 41), ax, "ytd", True)
    close(out[0, 1:], [NAN, NAN, NAN, (11 / 12 - 1) * 100])


def test_mom_period_form_merged() -> None:
    ax = axis("2026-01", "2026-04")
    # the Feb row of a merged series is a two-month figure, so Feb and Mar growth are not comparable
    close(mom(row(NAN, 200, 110, 121), ax, "period", True), [[NAN, NAN, NAN, 10]])


def test_mom_quarterly_ytd_q1_vs_previous_q4() -> None:
    ax = axis("2025Q3", "2026Q2")
    # singles: Q3 ?, Q4 = 130 - 90 = 40, Q1 = 30, Q2 = 66 - 30 = 36
    # Q1: (30 / 40 - 1) * 100 = -25; Q2: (36 / 30 - 1) * 100 = 20
    close(mom(row(90, 130, 30, 66), ax, "ytd", False), [[NAN, NAN, -25, 20]])


def test_mom_index_and_stock() -> None:
    ax = axis("2026-01", "2026-03")
    # (104 / 102 - 1) * 100 = 1.9608
    close(mom(row(102, 104, NAN), ax, "index", False), [[NAN, (104 / 102 - 1) * 100, NAN]])
    # a zero or negative balance is no base
    close(mom(row(0, 5, -1), ax, "stock", False), [[NAN, NAN, -120]])


def test_mom_refuses_rate() -> None:
    with pytest.raises(ValueError, match="rate"):
        mom(row(6.5, 7.0), axis("2026-01", "2026-02"), "rate", False)


# ---------------------------------------------------------------- yoy2


def test_yoy2_levels() -> None:
    # 2021 vs 2019: (√(121 / 100) − 1) · 100 = 10
    close(yoy2(row(100, 90, 121), axis("2019", "2021"), "period"), [[NAN, NAN, 10]])


def test_yoy2_monthly_levels_look_back_24_periods() -> None:
    x = np.full((1, 25), NAN)
    x[0, 0], x[0, 24] = 100, 144  # 2019-01 and 2021-01: (√1.44 − 1) · 100 = 20
    out = yoy2(x, axis("2019-01", "2021-01"), "ytd")
    close(out[0, 24], 20)
    assert np.isnan(out[0, :24]).all()


def test_yoy2_rate() -> None:
    # g2020 = 2.0, g2021 = 12.0: (√(1.02 × 1.12) − 1) · 100 = (√1.1424 − 1) · 100 = 6.8831...
    out = yoy2(row(2.0, 12.0), axis("2020", "2021"), "rate")
    close(out, [[NAN, (math.sqrt(1.1424) - 1) * 100]])
    assert out[0, 1] == pytest.approx(6.8831137, abs=1e-6)


def test_yoy2_index_is_rate_with_growth_x_minus_100() -> None:
    out = yoy2(row(102.0, 112.0), axis("2020", "2021"), "index")
    close(out, yoy2(row(2.0, 12.0), axis("2020", "2021"), "rate"))


@pytest.mark.parametrize(
    ("form", "values"),
    [
        ("period", (0.0, 5.0, 10.0)),  # zero base
        ("period", (-4.0, 5.0, 10.0)),  # negative base
        ("period", (4.0, 5.0, -10.0)),  # negative current: no real square root
        ("rate", (NAN, -150.0, 10.0)),  # a fall of more than 100 %
        ("index", (NAN, 100.0, NAN)),  # missing current
    ],
)
def test_yoy2_impossible_cases_are_missing(form: str, values: tuple[float, ...]) -> None:
    assert np.isnan(yoy2(row(*values), axis("2019", "2021"), form)).all()


def test_yoy2_rejects_unknown_form() -> None:
    with pytest.raises(ValueError):
        yoy2(row(1.0), axis("2020", "2020"), "level")


# ---------------------------------------------------------------- lag and diff


def test_lag_and_diff() -> None:
    x = row(1, 2, 4, 7)
    close(lag(x, 0), x)
    assert lag(x, 0) is not x
    close(lag(x, 1), [[NAN, 1, 2, 4]])
    close(lag(x, 3), [[NAN, NAN, NAN, 1]])
    close(lag(x, 10), [[NAN] * 4])
    close(diff(x, 1), [[NAN, 1, 2, 3]])  # 2 - 1, 4 - 2, 7 - 4
    close(diff(x, 2), [[NAN, NAN, 3, 5]])  # 4 - 1, 7 - 2
    close(lag(np.array([1.0, 2.0]), 1), [NAN, 1.0])  # a single series works too


def test_lag_rejects_negative_or_fractional_k() -> None:
    with pytest.raises(ValueError):
        lag(row(1, 2), -1)
    with pytest.raises(ValueError):
        lag(row(1, 2), 1.5)  # type: ignore[arg-type]


# ---------------------------------------------------------------- rolling


X5 = row(1, 2, 4, 7, 11)


@pytest.mark.parametrize(
    ("stat", "expected"),
    [
        # windows of 3 (current included): [1], [1 2], [1 2 4], [2 4 7], [4 7 11]; at least 2 observed
        ("mean", [NAN, 1.5, 7 / 3, 13 / 3, 22 / 3]),
        # [1 2]: √0.5; [1 2 4]: deviations -4/3 -1/3 5/3, squares sum 42/9, / (3 - 1) = 7/3
        ("std", [NAN, math.sqrt(0.5), math.sqrt(7 / 3), math.sqrt(19 / 3), math.sqrt(37 / 3)]),
        ("min", [NAN, 1, 1, 2, 4]),
        ("max", [NAN, 2, 4, 7, 11]),
        ("median", [NAN, 1.5, 2, 4, 7]),
        # [1 2]: |.5| |.5| -> .5; [1 2 4]: 1 0 2 -> 1; [2 4 7]: 2 0 3 -> 2; [4 7 11]: 3 0 4 -> 3
        ("mad", [NAN, 0.5, 1, 2, 3]),
    ],
)
def test_rolling_statistics(stat: str, expected: list[float]) -> None:
    close(rolling(X5, 3, stat), [expected])


def test_rolling_ignores_missing_inside_the_window() -> None:
    x = row(1, NAN, 3, 4, NAN, NAN, 7)
    # windows: [1], [1 _], [1 _ 3], [_ 3 4], [3 4 _], [4 _ _], [_ _ 7]; k = 3 needs 2 observed
    close(rolling(x, 3, "median"), [[NAN, NAN, 2, 3.5, 3.5, NAN, NAN]])
    close(rolling(x, 3, "mean"), [[NAN, NAN, 2, 3.5, 3.5, NAN, NAN]])


@pytest.mark.parametrize(
    ("k", "needed"),
    [(1, 1), (2, 2), (3, 2), (4, 3), (5, 4), (6, 4), (12, 8)],  # max(2, ceil(2k / 3)), 1 for k = 1
)
def test_rolling_minimum_observed(k: int, needed: int) -> None:
    # the last window holds exactly `needed` observed values, then one fewer
    enough = np.full((1, k), NAN)
    enough[0, k - needed :] = 1.0
    assert rolling(enough, k, "max")[0, -1] == 1.0
    short = enough.copy()
    short[0, k - needed] = NAN
    assert np.isnan(rolling(short, k, "max")[0, -1])


def test_rolling_k1_and_constant_window() -> None:
    close(rolling(X5, 1, "mean"), X5)
    close(rolling(X5, 1, "mad"), [[0, 0, 0, 0, 0]])
    assert np.isnan(rolling(X5, 1, "std")).all()  # one value has no sample std
    # a constant window gives exactly zero, not rounding noise
    assert rolling(row(0.1, 0.1, 0.1), 3, "std")[0, -1] == 0.0


def test_rolling_window_longer_than_series_and_empty_series() -> None:
    assert np.isnan(rolling(row(1, 2), 6, "mean")).all()
    assert rolling(np.empty((3, 0)), 4, "median").shape == (3, 0)


def test_rolling_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="未知的滚动统计"):
        rolling(X5, 3, "sum")
    with pytest.raises(ValueError):
        rolling(X5, 0, "mean")


# ---------------------------------------------------------------- zscore and history


def test_zscore_excludes_the_current_period() -> None:
    x = row(1, 2, 3, 4, 5, 6, 20)
    out = zscore(x, 3)
    # t = 2: previous [1 2]: (3 - 1.5) / √0.5 = 2.1213; t = 6: previous [4 5 6]: (20 - 5) / 1 = 15
    close(out, [[NAN, NAN, 1.5 / math.sqrt(0.5), 2, 2, 2, 15]])


def test_zscore_zero_std_short_history_and_missing() -> None:
    assert np.isnan(zscore(row(5, 5, 5, 9), 3)).all()  # the previous values never vary
    assert np.isnan(zscore(row(1, NAN, NAN, 4), 3)).all()  # too few previous values
    close(zscore(row(1, 2, 3, NAN), 3)[0, 3:], [NAN])
    assert np.isnan(zscore(X5, 1)).all()  # one previous value has no std


def test_history_counts_observed_values() -> None:
    out = history(np.array([[NAN, 1, NAN, 2], [3, 3, 3, 3]]))
    close(out, [[0, 1, 1, 2], [1, 2, 3, 4]])
    assert out.dtype == np.float64


def test_time_progress() -> None:
    close(time_progress(axis("2026-01", "2026-03")), [100 / 12, 200 / 12, 25])
    close(time_progress(axis("2025Q4", "2026Q2")), [100, 25, 50])
    close(time_progress(axis("2025", "2026")), [100, 100])


# ---------------------------------------------------------------- peers


def test_peer_robust_z() -> None:
    x = np.array([[5.0, 1.0], [3.0, NAN], [5.0, 2.0], [1.0, 3.0], [9.0, 9.0], [NAN, 0.0]])
    groups = np.array([0, 0, 0, 0, 1, -1])
    out = peer_robust_z(x, groups)
    # period 0, group 0: 5 3 5 1 -> median 4, |deviations| 1 1 1 3 -> MAD 1;
    # z(5) = 1 / 1.4826 = 0.67449, z(1) = -3 / 1.4826 = -2.02347
    s = 1.4826
    close(out[:4, 0], [1 / s, -1 / s, 1 / s, -3 / s])
    # period 1, group 0: 1 _ 2 3 -> median 2, |deviations| 1 0 1 -> MAD 1
    close(out[:4, 1], [-1 / s, NAN, 0, 1 / s])
    # a group of one, and an entity without a group
    assert np.isnan(out[4:]).all()


def test_peer_robust_z_needs_three_observed_and_positive_mad() -> None:
    groups = np.array([0, 0, 0, 0])
    two = np.array([[1.0], [2.0], [NAN], [NAN]])
    assert np.isnan(peer_robust_z(two, groups)).all()
    # 5 5 5 9: median 5, |deviations| 0 0 0 4 -> MAD 0
    flat = np.array([[5.0], [5.0], [5.0], [9.0]])
    assert np.isnan(peer_robust_z(flat, groups)).all()


def test_peer_functions_with_interleaved_and_sparse_group_ids() -> None:
    x = np.array([[10.0], [1.0], [30.0], [2.0], [20.0], [3.0]])
    groups = np.array([7, 3, 7, 3, 7, 3])
    close(peer_rank(x, groups), [[3], [3], [1], [2], [2], [1]])
    # group 7: 10 30 20 -> median 20, MAD 10; group 3: 1 2 3 -> median 2, MAD 1
    s = 1.4826
    close(peer_robust_z(x, groups), [[-1 / s], [-1 / s], [1 / s], [0], [0], [1 / s]])


def test_peer_rank_ties_and_missing() -> None:
    x = np.array([[5.0, 1.0], [3.0, NAN], [5.0, 2.0], [1.0, 2.0], [9.0, 9.0], [NAN, 0.0]])
    groups = np.array([0, 0, 0, 0, 1, -1])
    out = peer_rank(x, groups)
    # period 0, group 0: 5 3 5 1 -> 1 3 1 4 (ties share the smaller rank)
    # period 1, group 0: 1 _ 2 2 -> 3 _ 1 1
    close(out, [[1, 3], [3, NAN], [1, 1], [4, 1], [1, 1], [NAN, NAN]])


def test_peer_functions_without_any_group() -> None:
    x = np.ones((3, 2))
    groups = np.full(3, -1)
    assert np.isnan(peer_rank(x, groups)).all()
    assert np.isnan(peer_robust_z(x, groups)).all()


def test_peer_functions_reject_misshapen_groups() -> None:
    with pytest.raises(ValueError):
        peer_rank(np.ones((3, 2)), np.zeros(2, dtype=int))


# ---------------------------------------------------------------- quiet on hostile data


def test_no_warnings_on_all_missing_zero_and_infinite_data() -> None:
    ax = axis("2024-01", "2026-12")
    hostile = np.full((3, ax.length), NAN)
    hostile[1] = 0.0
    hostile[2, ::2] = np.inf
    hostile[2, 1::2] = -np.inf
    groups = np.array([0, 0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for merged in (False, True):
            single_from_ytd(hostile, ax, merged)
            ytd_from_single(hostile, ax, merged)
            mom(hostile, ax, "ytd", merged)
        ytd_average(hostile, ax)
        for form in ("ytd", "period", "stock", "index"):
            yoy(hostile, ax, form)
            yoy2(hostile, ax, form)
        yoy2(hostile, ax, "rate")
        for stat in ("mean", "std", "min", "max", "median", "mad"):
            rolling(hostile, 4, stat)
        zscore(hostile, 4)
        diff(hostile, 1)
        peer_rank(hostile, groups)
        peer_robust_z(hostile, groups)


def test_inputs_are_never_modified() -> None:
    ax = axis("2026-01", "2026-06")
    x = row(10, 18, 30, 41, 50, 62)
    before = x.copy()
    single_from_ytd(x, ax, True)
    ytd_from_single(x, ax, True)
    mom(x, ax, "ytd", True)
    rolling(x, 3, "mad")
    np.testing.assert_array_equal(x, before)


# ---------------------------------------------------------------- properties


def _integer_panels(n_periods: int) -> st.SearchStrategy[np.ndarray]:
    # integer-valued floats keep the sums exact, so round trips can be compared exactly
    return hnp.arrays(np.float64, (2, n_periods), elements=st.integers(-(10**6), 10**6).map(float))


@st.composite
def _year_start_axes(draw: st.DrawFn, freq: str) -> Axis:
    year = draw(st.integers(2000, 2030))
    per_year = {"monthly": 12, "quarterly": 4, "annual": 1}[freq]
    n = draw(st.integers(1, 3 * per_year))
    first = Period.of(freq, year, 1)
    return Axis.between(first, first + (n - 1))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["monthly", "quarterly", "annual"]).flatmap(_year_start_axes), st.data())
def test_prop_ytd_single_round_trip(ax: Axis, data: st.DataObject) -> None:
    y = data.draw(_integer_panels(ax.length))
    np.testing.assert_array_equal(ytd_from_single(single_from_ytd(y, ax, False), ax, False), y)


@settings(max_examples=100, deadline=None)
@given(_year_start_axes("monthly"), st.data())
def test_prop_ytd_single_round_trip_merged(ax: Axis, data: st.DataObject) -> None:
    y = data.draw(_integer_panels(ax.length))
    expected = y.copy()
    expected[:, ax.subs == 1] = NAN  # a merged series has no January
    np.testing.assert_array_equal(ytd_from_single(single_from_ytd(y, ax, True), ax, True), expected)


def _naive_rolling(x: np.ndarray, k: int, stat: str) -> np.ndarray:
    needed = 1 if k == 1 else max(2, math.ceil(2 * k / 3))
    out = np.full(x.shape, NAN)
    for i in range(x.shape[0]):
        for t in range(x.shape[1]):
            w = x[i, max(0, t - k + 1) : t + 1]
            w = w[~np.isnan(w)]
            if len(w) < needed or (stat == "std" and len(w) < 2):
                continue
            med = float(np.median(w))
            out[i, t] = {
                "mean": lambda w=w: w.mean(),
                "std": lambda w=w: w.std(ddof=1),
                "min": lambda w=w: w.min(),
                "max": lambda w=w: w.max(),
                "median": lambda med=med: med,
                "mad": lambda w=w, med=med: np.median(np.abs(w - med)),
            }[stat]()
    return out


_maybe_missing = st.one_of(st.just(NAN), st.integers(-50, 50).map(float))


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(0, 15)), elements=_maybe_missing),
    st.integers(1, 7),
    st.sampled_from(["mean", "std", "min", "max", "median", "mad"]),
)
def test_prop_rolling_matches_naive_loop(x: np.ndarray, k: int, stat: str) -> None:
    np.testing.assert_allclose(rolling(x, k, stat), _naive_rolling(x, k, stat), rtol=1e-9, atol=1e-9)


def _naive_peers(x: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.full(x.shape, NAN)
    rank = np.full(x.shape, NAN)
    for i, g in enumerate(groups):
        if g < 0:
            continue
        for t in range(x.shape[1]):
            peers = x[groups == g, t]
            peers = peers[~np.isnan(peers)]
            if np.isnan(x[i, t]):
                continue
            rank[i, t] = 1 + np.sum(peers > x[i, t])
            if len(peers) >= 3:
                med = np.median(peers)
                mad = np.median(np.abs(peers - med))
                if mad > 0:
                    z[i, t] = (x[i, t] - med) / (1.4826 * mad)
    return z, rank


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 9).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float64, st.tuples(st.just(n), st.integers(1, 4)), elements=_maybe_missing),
            hnp.arrays(np.int64, n, elements=st.integers(-1, 3)),
        )
    )
)
def test_prop_peers_match_naive_loop(case: tuple[np.ndarray, np.ndarray]) -> None:
    x, groups = case
    z, rank = _naive_peers(x, groups)
    np.testing.assert_allclose(peer_robust_z(x, groups), z, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(peer_rank(x, groups), rank)


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(0, 12)), elements=_maybe_missing),
    st.integers(0, 14),
)
def test_prop_lag_diff_history(x: np.ndarray, k: int) -> None:
    shifted = lag(x, k)
    n = x.shape[1]
    np.testing.assert_array_equal(shifted[:, k:], x[:, : max(n - k, 0)])
    assert np.isnan(shifted[:, : min(k, n)]).all()
    np.testing.assert_array_equal(diff(x, k), x - shifted)
    expected_history = np.cumsum(~np.isnan(x), axis=1).astype(np.float64)
    np.testing.assert_array_equal(history(x), expected_history)
