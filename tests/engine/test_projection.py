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
    rate_last_year_growth,
    rate_seasonal_naive,
    seasonal_naive,
    single_months,
    stock_holt_winters,
    stock_last_year_growth,
    stock_seasonal_naive,
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


def test_holt_winters_reads_a_steady_rise_as_trend_not_season() -> None:
    # 50, 52, 54, …: the first year's mean is 61 (its middle, month 5.5), the second's 85, so the trend is
    # 24 / 12 = 2 a month; the first year lies on its trend line (every factor 1) and the level starts at 72.
    # Every later month is on the line too: the forecast continues it, 50 + 2 × 36 = 122 onwards.
    assert np.allclose(holt_winters(50 + 2 * np.arange(36.0), 3), [122.0, 124.0, 126.0])


def test_backtest_of_steady_growth_is_exact_and_the_band_collapses() -> None:
    years = np.array([100 * 1.1 ** y * SEASON for y in range(5)])
    years[-1, 10:] = np.nan  # this year: January to October known
    found = project_year_end(years, 10)
    expected = 100 * 1.1 ** 4 * SEASON.sum()
    assert found.year_end == pytest.approx(expected)
    assert found.backtest_years == 3 and found.backtest_error == pytest.approx(0.0, abs=1e-9)
    assert found.low == pytest.approx(expected) and found.high == pytest.approx(expected)


def rising_decembers() -> np.ndarray:
    """Five years of the plain season, year 2's December 12 up and year 3's 24 up; this year known to October."""
    years = np.array([100 * SEASON for _ in range(5)])
    years[2, 11] += 12
    years[3, 11] += 24
    years[-1, 10:] = np.nan
    return years


def test_the_band_comes_from_past_errors_at_the_same_month() -> None:
    # Each past year's December beat the one before by 12, which an October projection (last year's
    # months, scaled) cannot see: past projections came out too low, so the band lies above this one.
    found = project_year_end(rising_decembers(), 10)
    assert found.backtest_years == 3
    assert found.year_end == pytest.approx(1224.0)  # 1,200 of a plain year plus year 3's bigger December
    assert found.year_end * 0.999 <= found.low < found.high and found.high > found.year_end
    # Errors by hand: year 1 from year 0 exact; year 2 projected 1,200 against 1,212; year 3 projected
    # 1,212 (year 2's December) against 1,224.
    errors = [0.0, -12 / 1212, -12 / 1224]
    assert found.backtest_error == pytest.approx(np.mean(np.abs(errors)) * 100)


def test_the_past_errors_give_the_chance_of_a_target() -> None:
    # The same history as above: this year projected at 1,224 (last year's total), past errors 0, -12/1212
    # and -12/1224, so the actual would have been 1224, 1224 × 1212/1200 = 1236.24 or 1224 × 1224/1212 =
    # 1236.12. A target of 1,230 is reached under two of the three, one of 1,224 under all, 1,240 under none.
    found = project_year_end(rising_decembers(), 10)
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
    assert found.backtest_years == 4 and found.backtest_error == pytest.approx((25 + 0 + 20 + 10) / 4)


def test_the_chance_is_unknown_without_two_past_errors_or_last_years_total() -> None:
    assert np.isnan(Projection("seasonal_naive", 100.0, (0.1,), 90.0).probability(95.0))
    assert np.isnan(Projection("seasonal_naive", 100.0, (0.1, 0.2), float("nan")).probability(5.0, growth=True))
    found = Projection("seasonal_naive", 100.0, (), 90.0)
    assert np.isnan(found.low) and np.isnan(found.high) and np.isnan(found.backtest_error)


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
    assert found.backtest_error == pytest.approx((10 + 100 / 11) / 2)


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


# ---------------------------------------------------------------------- stocks: month-end balances


def balances(october: float, november: float, december: float) -> np.ndarray:
    """A year of month-end balances: flat at October's up to October (only October and December matter to the
    projections tested here), then November and December."""
    return np.array([october] * 10 + [november, december])


def test_stock_seasonal_naive_grows_this_months_balance_as_last_year_grew_to_december() -> None:
    years = np.array([balances(120.0, 123.0, 126.0), [np.nan] * 9 + [140.0, np.nan, np.nan]])
    # Last year October 120 to December 126: × 1.05; this October 140 × 1.05 = 147.
    assert stock_seasonal_naive(years, 10) == pytest.approx(147.0)


def test_stock_holt_winters_forecasts_the_december_balance() -> None:
    years = np.tile(10 * SEASON, (3, 1))
    years[-1, 10:] = np.nan
    # A pure seasonal pattern continues exactly: December is 10 × 1.4 = 14; from December it is December itself.
    assert stock_holt_winters(years, 10) == pytest.approx(14.0)
    assert stock_holt_winters(np.tile(10 * SEASON, (3, 1)), 12) == pytest.approx(14.0)
    assert stock_holt_winters(np.full((3, 12), 50.0), 6) == pytest.approx(50.0)  # flat stays flat
    # Balances rising by 1 a month from 100: from October of the third year (month 34, 134) to December, 135.
    rising = 100 + np.arange(36.0).reshape(3, 12)
    rising[-1, 10:] = np.nan
    assert stock_holt_winters(rising, 10) == pytest.approx(135.0)
    assert np.isnan(stock_holt_winters(years[1:], 10))  # one year and ten months: too short to start


def test_stock_last_year_growth_repeats_last_decembers_growth() -> None:
    years = np.array([balances(90.0, 95.0, 100.0), balances(105.0, 108.0, 110.0), [1.0] * 10 + [np.nan] * 2])
    # December 100 then 110: +10%, so 110 × 1.1 = 121 (= 110² / 100), whatever this year's balances are.
    assert stock_last_year_growth(years, 10) == pytest.approx(121.0)
    assert np.isnan(stock_last_year_growth(years[1:], 10))


def stock_history() -> np.ndarray:
    """Octobers 100, 110, 120, 130 (this year) and Decembers 105, 121, 126."""
    last = np.array([np.nan] * 9 + [130.0, np.nan, np.nan])
    return np.array([balances(100.0, 102.0, 105.0), balances(110.0, 115.0, 121.0), balances(120.0, 123.0, 126.0),
                     last])


def test_stock_backtest_band_and_chance_are_relative_to_the_december_balance() -> None:
    found = project_year_end(stock_history(), 10, form="stock")
    # This year: 130 × 126 / 120 = 136.5. Past projections from October: year 1, 110 × 105/100 = 115.5 against
    # 121: -5.5/121 = -1/22; year 2, 120 × 121/110 = 132 against 126: +6/126 = +1/21.
    assert found.year_end == pytest.approx(136.5) and found.last_year == 126.0
    assert found.errors == pytest.approx((-1 / 22, 1 / 21))
    assert found.backtest_error == pytest.approx((1 / 22 + 1 / 21) / 2 * 100)  # 4.65%
    # 10th and 90th percentiles of the two errors, interpolated: -1/22 + 0.1 or 0.9 × (1/21 + 1/22).
    p10, p90 = -1 / 22 + 0.1 * (1 / 21 + 1 / 22), -1 / 22 + 0.9 * (1 / 21 + 1 / 22)
    assert found.low == pytest.approx(136.5 / (1 + p90)) and found.high == pytest.approx(136.5 / (1 + p10))
    # Had it been off as in year 1 or 2, December would be 136.5 × 22/21 = 143.0 or 136.5 × 21/22 = 130.3.
    # A growth target over last December's 126: 8% is 136.08 (reached under one), 3% is 129.78 (both),
    # 14% is 143.64 (neither); a level of 140 under one.
    assert found.probability(8.0, growth=True) == 0.5
    assert found.probability(3.0, growth=True) == 1.0 and found.probability(14.0, growth=True) == 0.0
    assert found.probability(140.0) == 0.5


def test_stock_backtest_of_last_year_growth_and_holt_winters() -> None:
    # Last-year growth needs two Decembers before: only year 2, 121² / 105 = 139.44 against 126.
    assert backtest(stock_history()[:-1], 10, "last_year_growth", form="stock") == pytest.approx(
        [(121 ** 2 / 105 - 126) / 126])
    found = project_year_end(stock_history(), 10, "last_year_growth", form="stock")
    assert found.year_end == pytest.approx(126 ** 2 / 121)  # 131.21
    # Holt-Winters needs two full years before: on a pure seasonal pattern it projects years 2 and 3 exactly
    # (year 1 has one year and ten months behind its October).
    years = np.tile(10 * SEASON, (4, 1))
    assert backtest(years, 10, "holt_winters", form="stock") == pytest.approx([0.0, 0.0])


def test_stock_backtest_skips_a_year_without_its_december() -> None:
    history = stock_history()[:-1]
    history[1, 11] = np.nan  # year 1's December is unknown: it cannot be checked, nor project year 2
    assert backtest(history, 10, "seasonal_naive", form="stock").size == 0


# ---------------------------------------------------------------------- rates: cumulative growth, %


def rates(october: float, december: float) -> np.ndarray:
    """A year of cumulative growth published with 1–2月 together (no January), flat at October's to November."""
    return np.array([np.nan] + [october] * 10 + [december])


def rate_history() -> np.ndarray:
    """1-10月 growth 5.0, 6.0, 6.0, 7.2 (this year); full-year growth 5.5, 6.2, 6.5."""
    return np.array([rates(5.0, 5.5), rates(6.0, 6.2), rates(6.0, 6.5), rates(7.2, np.nan)])


def test_rate_seasonal_naive_adds_last_years_drift_to_december() -> None:
    # Last year 6.0 in 1-10月 and 6.5 for the year: +0.5 points to December; this year 7.2 + 0.5 = 7.7.
    assert rate_seasonal_naive(rate_history(), 10) == pytest.approx(7.7)
    assert rate_last_year_growth(rate_history(), 10) == 6.5  # the baseline: last year's full-year growth


def test_rate_backtest_band_and_chance_are_in_percentage_points() -> None:
    found = project_year_end(rate_history(), 10, form="rate")
    # Year 1: 6.0 + (5.5 - 5.0) = 6.5 against 6.2, +0.3 points; year 2: 6.0 + (6.2 - 6.0) = 6.2 against 6.5, -0.3.
    assert found.year_end == pytest.approx(7.7) and found.last_year == 6.5
    assert found.errors == pytest.approx((0.3, -0.3))
    assert found.backtest_error == pytest.approx(0.3)  # points, not %
    # Percentiles -0.3 + 0.1 × 0.6 = -0.24 and +0.24: the band is 7.7 - 0.24 to 7.7 + 0.24.
    assert found.low == pytest.approx(7.46) and found.high == pytest.approx(7.94)
    # Had it been off as in year 1 or 2 the year would end at 7.4 or 8.0: a 7.5% target under one of the two.
    # The target is the growth itself, growth target or not.
    assert found.probability(7.5, growth=True) == 0.5 and found.probability(7.5) == 0.5
    assert found.probability(7.0, growth=True) == 1.0 and found.probability(8.1, growth=True) == 0.0


def test_rate_baseline_backtest_and_holt_winters_does_not_apply() -> None:
    # Last-year growth needs one year before: year 1, 5.5 against 6.2 (-0.7); year 2, 6.2 against 6.5 (-0.3).
    found = project_year_end(rate_history(), 10, "last_year_growth", form="rate")
    assert found.year_end == 6.5 and found.errors == pytest.approx((-0.7, -0.3))
    assert found.backtest_error == pytest.approx(0.5)
    hw = project_year_end(rate_history(), 10, "holt_winters", form="rate")
    assert np.isnan(hw.year_end) and hw.errors == () and np.isnan(hw.probability(7.5))


def test_a_year_end_as_growth_over_last_year_or_a_rates_own() -> None:
    # 220 over last year's 200 is +10%; a rate's year end is its growth already; no last year, no growth.
    assert Projection("seasonal_naive", 220.0, (), 200.0).growth_of(220.0) == pytest.approx(10.0)
    assert Projection("seasonal_naive", 190.0, (), 200.0, "stock").growth_of(190.0) == pytest.approx(-5.0)
    assert Projection("seasonal_naive", 7.7, (), 6.5, "rate").growth_of(7.46) == 7.46
    assert np.isnan(Projection("seasonal_naive", 220.0, (), float("nan")).growth_of(220.0))
