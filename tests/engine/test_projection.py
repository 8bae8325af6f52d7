"""Year-end projections checked against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from engine.projection import (
    Projection,
    backtest,
    holt_winters,
    last_year_growth,
    project_year_end,
    seasonal_naive,
    single_months,
)

SEASON = np.array([0.6, 0.7, 1.0, 1.0, 1.05, 1.1, 1.0, 0.95, 1.0, 1.05, 1.15, 1.4])


def test_seasonal_naive_scales_last_years_remaining_months_by_growth_so_far() -> None:
    months = np.array([[10.0] * 12, [11.0, 11.0, 11.0] + [np.nan] * 9])
    # so far 33 against 30 last year: growth 1.1; the other nine months of last year, 90, become 99.
    assert seasonal_naive(months, 3) == pytest.approx(132.0)


def test_holt_winters_continues_a_pure_seasonal_pattern_exactly() -> None:
    series = np.tile(10 * SEASON, 3)
    assert np.allclose(holt_winters(series, 12), 10 * SEASON)


def test_holt_winters_on_a_flat_series_stays_flat() -> None:
    assert np.allclose(holt_winters(np.full(36, 7.0), 5), 7.0)


def test_backtest_of_steady_growth_is_exact_and_the_band_collapses() -> None:
    years = np.array([100 * 1.1 ** y * SEASON for y in range(5)])
    years[-1, 10:] = np.nan  # this year: January to October known
    found = project_year_end(years, 10)
    expected = 100 * 1.1 ** 4 * SEASON.sum()
    assert found.year_end == pytest.approx(expected)
    assert found.backtest_years == 3 and found.backtest_mape == pytest.approx(0.0, abs=1e-9)
    assert found.low == pytest.approx(expected) and found.high == pytest.approx(expected)


def test_the_band_comes_from_past_errors_at_the_same_month() -> None:
    # Each past year's December beat the one before by 12, which an October projection (last year's
    # months, scaled) cannot see: past projections came out too low, so the band lies above this one.
    years = np.array([100 * SEASON for _ in range(5)])
    years[2, 11] += 12
    years[3, 11] += 24
    years[-1, 10:] = np.nan
    found = project_year_end(years, 10)
    assert found.backtest_years == 3
    assert found.year_end == pytest.approx(1224.0)  # 1,200 of a plain year plus year 3's bigger December
    assert found.year_end * 0.999 <= found.low < found.high and found.high > found.year_end
    # Errors by hand: year 1 from year 0 exact; year 2 projected 1,200 against 1,212; year 3 projected
    # 1,212 (year 2's December) against 1,224.
    errors = [0.0, -12 / 1212, -12 / 1224]
    assert found.backtest_mape == pytest.approx(np.mean(np.abs(errors)) * 100)


def test_the_past_errors_give_the_chance_of_a_target() -> None:
    # The same history as above: this year projected at 1,224 (last year's total), past errors 0, -12/1212
    # and -12/1224, so the actual would have been 1224, 1224 × 1212/1200 = 1236.24 or 1224 × 1224/1212 =
    # 1236.12. A target of 1,230 is reached under two of the three, one of 1,224 under all, 1,240 under none.
    years = np.array([100 * SEASON for _ in range(5)])
    years[2, 11] += 12
    years[3, 11] += 24
    years[-1, 10:] = np.nan
    found = project_year_end(years, 10)
    assert found.errors == pytest.approx((0.0, -12 / 1212, -12 / 1224))
    assert found.last_year == pytest.approx(1224.0)
    assert found.probability(1230.0) == pytest.approx(2 / 3)
    assert found.probability(1224.0) == 1.0 and found.probability(1240.0) == 0.0
    # Growth of 0.5% over last year's 1,224 is 1,230.12: two of three again.
    assert found.probability(0.5, growth=True) == pytest.approx(2 / 3)
    assert found.probability(2.0, growth=True) == 0.0  # 1,248.48 is above every possible actual


def test_the_chance_counts_past_errors_under_which_the_projection_reaches_the_target() -> None:
    # Projected 100; the actual would have been 100/1.25 = 80, 100/1 = 100, 100/0.8 = 125, 100/1.1 = 90.9.
    found = Projection("seasonal_naive", 100.0, (0.25, 0.0, -0.2, 0.1), last_year=90.0)
    assert found.probability(95.0) == 0.5  # 100 and 125
    assert found.probability(80.0) == 1.0 and found.probability(126.0) == 0.0
    # Growth targets over last year's 90: 5% is 94.5 (100 and 125: a half), 12% is 100.8 (only 125).
    assert found.probability(5.0, growth=True) == 0.5
    assert found.probability(12.0, growth=True) == 0.25
    assert found.backtest_years == 4 and found.backtest_mape == pytest.approx((25 + 0 + 20 + 10) / 4)


def test_the_chance_is_unknown_without_two_past_errors_or_last_years_total() -> None:
    assert np.isnan(Projection("seasonal_naive", 100.0, (0.1,), 90.0).probability(95.0))
    assert np.isnan(Projection("seasonal_naive", 100.0, (0.1, 0.2), float("nan")).probability(5.0, growth=True))
    found = Projection("seasonal_naive", 100.0, (), 90.0)
    assert np.isnan(found.low) and np.isnan(found.high) and np.isnan(found.backtest_mape)


def test_last_year_growth_repeats_last_years_growth_and_ignores_this_year() -> None:
    months = np.array([[10.0] * 12, [11.0] * 12, [50.0, 50.0] + [np.nan] * 10])
    # Last year 132 against 120 the year before: +10%, so 132 × 1.1 = 145.2 (= 132² / 120).
    assert last_year_growth(months, 2) == pytest.approx(145.2)
    months[-1, :2] = 1.0
    assert last_year_growth(months, 2) == pytest.approx(145.2)
    assert np.isnan(last_year_growth(months[1:], 2))  # no year before last
    months[0, 5] = np.nan
    assert np.isnan(last_year_growth(months, 2))  # the year before last is incomplete


def test_backtest_of_last_year_growth_needs_two_years_before() -> None:
    # Totals 120, 132, 132, 145.2. Year 2 projected 132² / 120 = 145.2 against 132: +10%;
    # year 3 projected 132² / 132 = 132 against 145.2: -13.2 / 145.2 = -1/11. Year 1 has no year before last.
    months = np.array([[10.0] * 12, [11.0] * 12, [11.0] * 12, [12.1] * 12])
    assert backtest(months, 10, "last_year_growth") == pytest.approx([0.1, -1 / 11])
    found = project_year_end(np.vstack([months, np.full(12, np.nan)]), 10, "last_year_growth")
    assert found.year_end == pytest.approx(145.2 * 145.2 / 132)  # last year grew 10% again: 159.72
    assert found.backtest_mape == pytest.approx((10 + 100 / 11) / 2)


def test_backtest_since_a_later_year_compares_methods_on_the_same_years() -> None:
    # Seasonal naive projects years 1, 2 and 3 from October; from row 2 on, the years last-year growth has.
    years = np.array([100 * SEASON for _ in range(4)])
    years[2, 11] += 12
    years[3, 11] += 24
    # Year 1 exact; year 2 projected 1,200 against 1,212; year 3 projected 1,212 against 1,224.
    assert backtest(years, 10, "seasonal_naive") == pytest.approx([0.0, -12 / 1212, -12 / 1224])
    assert backtest(years, 10, "seasonal_naive", since=2) == pytest.approx([-12 / 1212, -12 / 1224])
    assert len(backtest(years, 10, "last_year_growth", since=2)) == 2


def test_single_months_from_ytd_with_a_merged_january_and_february() -> None:
    ytd = np.array([[np.nan, 20.0, 31.0, 45.0]])
    assert single_months(ytd, merged_jan_feb=True).tolist() == [[10.0, 10.0, 11.0, 14.0]]
    assert single_months(np.array([[5.0, 12.0]])).tolist() == [[5.0, 7.0]]
