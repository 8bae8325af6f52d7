"""Year-end projections from year-to-date data, simple enough to explain to a leader, with an error band
measured by backtesting on the series' own history.

Three methods, all on single-month values (the month's own level, derived from YTD where needed):
- seasonal naive: the rest of this year repeats last year's months, scaled by this year's growth so far;
- Holt-Winters (additive trend, multiplicative season, fixed smoothing constants): the rest of the year
  from the level, trend and seasonal factors fitted on everything up to the last month;
- last-year growth, the baseline: this year grows as last year did, whatever this year's months say; what
  a clerk writes without a model, and what the other two have to beat.

The error band is the spread of each method's past errors at the same point of the year: to project
2026 from January–October, it asks how far off a projection from January–October was in earlier years.
The same errors give the chance of reaching the year's target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MONTHS = 12


@dataclass(frozen=True)
class Projection:
    method: str
    year_end: float  # the projected full-year total
    errors: tuple[float, ...]  # relative errors of past projections at this point of the year, oldest first
    last_year: float  # last year's full-year total (nan if incomplete): the base of a growth target

    @property
    def backtest_years(self) -> int:
        return len(self.errors)

    @property
    def backtest_mape(self) -> float:
        """Mean absolute percentage error of the past projections (nan with fewer than two)."""
        return float(np.mean(np.abs(self.errors)) * 100) if self.backtest_years >= 2 else float("nan")

    @property
    def low(self) -> float:
        return self._band()[0]

    @property
    def high(self) -> float:
        return self._band()[1]

    def _band(self) -> tuple[float, float]:
        """The 10th to 90th percentile of the past errors, as levels (nan with fewer than two errors)."""
        if self.backtest_years < 2:
            return float("nan"), float("nan")
        low_error, high_error = np.percentile(self.errors, [10, 90])
        # A projection that came out too high in the past means the truth lies below it: the band flips.
        return float(self.year_end / (1 + high_error)), float(self.year_end / (1 + low_error))

    def probability(self, target: float, growth: bool = False) -> float:
        """The chance that the year's actual total reaches `target` (a level, or with `growth` a growth in %
        over last year's total): the share of past errors e under which this projection would have reached
        it, the actual being year_end / (1 + e). Nan with fewer than two errors."""
        goal = self.last_year * (1 + target / 100) if growth else target
        if self.backtest_years < 2 or np.isnan(goal):
            return float("nan")
        actual = self.year_end / (1 + np.array(self.errors))
        return float(np.mean(actual >= goal))


def seasonal_naive(months: np.ndarray, known: int) -> float:
    """Full-year total for the last year of `months` (years × 12, NaN where unknown), from its first `known`
    months: this year so far, plus last year's remaining months scaled by this year's growth so far."""
    this, last = months[-1], months[-2]
    so_far, last_so_far = np.nansum(this[:known]), np.nansum(last[:known])
    growth = so_far / last_so_far if last_so_far else 1.0
    return float(so_far + np.nansum(last[known:]) * growth)


def holt_winters(series: np.ndarray, horizon: int, alpha: float = 0.3, beta: float = 0.05,
                 gamma: float = 0.2) -> np.ndarray:
    """The next `horizon` values of a monthly series (at least two full years, no gaps) by Holt-Winters with
    an additive trend and multiplicative seasonal factors. Fixed constants keep it explainable and stable
    on the short series a bureau has; the backtest says how well they do."""
    season = series[:MONTHS] / np.mean(series[:MONTHS])
    level = float(np.mean(series[:MONTHS]))
    trend = float((np.mean(series[MONTHS:2 * MONTHS]) - np.mean(series[:MONTHS])) / MONTHS)
    factors = list(season)
    for t in range(MONTHS, len(series)):
        factor = factors[t - MONTHS]
        previous = level
        level = alpha * series[t] / factor + (1 - alpha) * (level + trend)
        trend = beta * (level - previous) + (1 - beta) * trend
        factors.append(gamma * series[t] / level + (1 - gamma) * factor)
    n = len(series)
    return np.array([(level + (h + 1) * trend) * factors[n - MONTHS + h % MONTHS] for h in range(horizon)])


def holt_winters_year_end(months: np.ndarray, known: int) -> float:
    history = np.concatenate([months[:-1].ravel(), months[-1, :known]])
    if len(history) < 2 * MONTHS or np.isnan(history).any():
        return float("nan")
    return float(np.sum(months[-1, :known]) + np.sum(holt_winters(history, MONTHS - known)))


def last_year_growth(months: np.ndarray, known: int) -> float:
    """Full-year total for the last year of `months` as last year's total grown by last year's full-year
    growth: last² / the year before's. It ignores this year's months (`known` is unused) on purpose."""
    if len(months) < 3 or np.isnan(months[-3:-1]).any():
        return float("nan")
    last, before = np.sum(months[-2]), np.sum(months[-3])
    return float(last * last / before) if before else float("nan")


METHODS = {"seasonal_naive": seasonal_naive, "holt_winters": holt_winters_year_end,
           "last_year_growth": last_year_growth}


def backtest(months: np.ndarray, known: int, method: str, since: int = 1) -> np.ndarray:
    """Relative errors, (projected - actual) / actual, of the method's projections made at month `known` of
    each complete year from row `since` on that the method can project: seasonal naive needs a year before
    it, Holt-Winters and last-year growth two. A larger `since` compares methods on the same years."""
    project = METHODS[method]
    errors = []
    for year in range(max(since, 1) + 1, len(months) + 1):
        past = months[:year]
        actual = np.sum(past[-1])
        if np.isnan(past[-1]).any() or not actual:
            continue
        projected = project(past, known)
        if not np.isnan(projected):
            errors.append((projected - actual) / actual)
    return np.array(errors)


def project_year_end(months: np.ndarray, known: int, method: str = "seasonal_naive") -> Projection:
    """Project this year's total (last row of `months`) from its first `known` months, with the errors of
    past projections at the same point of the year, which give the band and the chance of a target."""
    value = METHODS[method](months, known)
    errors = backtest(months[:-1], known, method)
    last_year = float(np.sum(months[-2])) if len(months) >= 2 else float("nan")
    return Projection(method, value, tuple(float(e) for e in errors), last_year)


def single_months(ytd: np.ndarray, merged_jan_feb: bool = False) -> np.ndarray:
    """Single-month values (years × 12) from year-to-date values; with 1–2月 published together, January
    and February each get half of the February total, which keeps the year's sum right."""
    single = np.diff(ytd, axis=1, prepend=0.0)
    if merged_jan_feb:
        single[:, 0] = ytd[:, 1] / 2
        single[:, 1] = ytd[:, 1] / 2
    return single
