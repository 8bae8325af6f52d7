"""Year-end projections checked against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from engine.projection import holt_winters, project_year_end, seasonal_naive, single_months

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


def test_single_months_from_ytd_with_a_merged_january_and_february() -> None:
    ytd = np.array([[np.nan, 20.0, 31.0, 45.0]])
    assert single_months(ytd, merged_jan_feb=True).tolist() == [[10.0, 10.0, 11.0, 14.0]]
    assert single_months(np.array([[5.0, 12.0]])).tolist() == [[5.0, 7.0]]
