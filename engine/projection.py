"""Year-end projections from year-to-date data, simple enough to explain to a leader, with an error band
measured by backtesting on the series' own history.

Three forms of monthly series, each a years × 12 array (NaN where unknown), the last row this year:
- flow: single-month values of a total published year to date (derived from YTD where needed); the year end
  is the full-year total;
- stock: month-end balances (deposits, loans); the year end is the December balance;
- rate: a published cumulative growth rate in % (1-本月 同比); the year end is the full-year (1-12月) growth.

Three methods for each:
- seasonal naive: the rest of this year goes as last year's did. Flow: last year's remaining months scaled by
  this year's growth so far. Stock: this month's balance × last year's December ÷ last year's same month.
  Rate: this year's growth so far + last year's drift from this month to December (full-year growth − growth
  at the same month);
- Holt-Winters (additive trend, multiplicative season, fixed smoothing constants) on the single months or the
  balances, forecast to December. It has no rate form: a cumulative growth rate is neither a level nor
  seasonal (each month averages all the months before it), and without the levels behind it there is nothing
  to smooth, so that projection is NaN and its backtest empty;
- last-year growth, the baseline: this year grows as last year did (flow: last year's total × its growth;
  stock: last December × its growth over the December before; rate: last year's full-year growth), whatever
  this year's months say; what a clerk writes without a model, and what the other two have to beat.

The error band is the spread of each method's past errors at the same point of the year: to project 2026 from
January–October, it asks how far off a projection from January–October was in earlier years. The same errors
give the chance of reaching the year's target. Errors are relative, (projected − actual) / actual, for flows and
stocks, and absolute, projected − actual in percentage points, for rates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

MONTHS = 12


@dataclass(frozen=True)
class Projection:
    method: str
    year_end: float  # flow: the full-year total; stock: the December balance; rate: the full-year growth, %
    errors: tuple[float, ...]  # errors of past projections at this point of the year, oldest first: relative
    # for flows and stocks, in percentage points for rates (see `error`)
    last_year: float  # last year's year end (nan if unknown): the base of a growth target on a flow or a stock
    form: str = "flow"

    @property
    def backtest_years(self) -> int:
        return len(self.errors)

    @property
    def backtest_error(self) -> float:
        """Mean absolute error of the past projections (nan with fewer than two): a MAPE in % for flows and
        stocks, in percentage points for rates."""
        return mean_absolute_error(self.errors, self.form) if self.backtest_years >= 2 else float("nan")

    @property
    def low(self) -> float:
        return self._band()[0]

    @property
    def high(self) -> float:
        return self._band()[1]

    def _band(self) -> tuple[float, float]:
        """The 10th to 90th percentile of the past errors, as year-end values (nan with fewer than two)."""
        if self.backtest_years < 2:
            return float("nan"), float("nan")
        # A projection that came out too high in the past means the truth lies below it: the band flips.
        low, high = self._actuals(np.percentile(self.errors, [90, 10]))
        return float(low), float(high)

    def _actuals(self, errors: np.ndarray) -> np.ndarray:
        """The actual year end had this projection been off by each of `errors`."""
        return self.year_end - errors if self.form == "rate" else self.year_end / (1 + errors)

    def growth_of(self, value: float) -> float:
        """A year end of this projection (its own, or a bound of its band) as a growth in %: a rate's own, else
        over last year's total or last December's balance (nan without it)."""
        if self.form == "rate":
            return value
        return value / self.last_year * 100 - 100 if self.last_year else float("nan")

    def probability(self, target: float, growth: bool = False) -> float:
        """The chance that the actual year end reaches `target`: the share of past errors under which this
        projection would have reached it. For a flow or a stock `target` is a level, or with `growth` a growth
        in % over last year's year end; for a rate it is the growth itself, whatever `growth` says. Nan with
        fewer than two errors."""
        goal = self.last_year * (1 + target / 100) if growth and self.form != "rate" else target
        if self.backtest_years < 2 or np.isnan(goal):
            return float("nan")
        return float(np.mean(self._actuals(np.array(self.errors)) >= goal))


def mean_absolute_error(errors: Sequence[float] | np.ndarray, form: str) -> float:
    """The mean absolute error, in % for relative errors (flows, stocks), in percentage points for rates."""
    found = float(np.mean(np.abs(errors)))
    return found if form == "rate" else found * 100


def year_end(year: np.ndarray, form: str) -> float:
    """What a projection of `year` (one row of 12) is checked against: a flow's total (nan unless every month
    is known), a stock's December balance, a rate's full-year growth."""
    return float(np.sum(year)) if form == "flow" else float(year[-1])


def error(projected: float, actual: float, form: str) -> float:
    """Relative for flows and stocks; for a rate in percentage points, since a growth rate near zero would
    make a relative error meaningless."""
    return projected - actual if form == "rate" else (projected - actual) / actual


def _history(values: np.ndarray, known: int) -> np.ndarray | None:
    """Every month up to this year's month `known`, if Holt-Winters can start on it: two years, no gaps."""
    history = np.concatenate([values[:-1].ravel(), values[-1, :known]])
    return None if len(history) < 2 * MONTHS or np.isnan(history).any() else history


def seasonal_naive(months: np.ndarray, known: int) -> float:
    """Full-year total for the last year of `months` (years × 12, NaN where unknown), from its first `known`
    months: this year so far, plus last year's remaining months scaled by this year's growth so far. A month
    missing from either year makes it NaN: treated as zero it would project a plausible, wrong total."""
    this, last = months[-1], months[-2]
    so_far, last_so_far = np.sum(this[:known]), np.sum(last[:known])
    growth = so_far / last_so_far if last_so_far else 1.0
    return float(so_far + np.sum(last[known:]) * growth)


def holt_winters(series: np.ndarray, horizon: int, alpha: float = 0.3, beta: float = 0.05,
                 gamma: float = 0.2) -> np.ndarray:
    """The next `horizon` values of a monthly series (at least two full years, no gaps) by Holt-Winters with
    an additive trend and multiplicative seasonal factors. Fixed constants keep it explainable and stable
    on the short series a bureau has; the backtest says how well they do.

    It starts from the first year: the trend is the change of the yearly mean over the second year, the seasonal
    factors are the first year's months over its trend line, and the level is that line's end. Dividing by the
    line, not by the mean, reads a steady rise within the year as trend, not season: a balance that grows all
    year would otherwise get its growth counted twice."""
    mean = float(np.mean(series[:MONTHS]))
    trend = float((np.mean(series[MONTHS:2 * MONTHS]) - mean) / MONTHS)
    line = mean + (np.arange(MONTHS) - (MONTHS - 1) / 2) * trend
    level = float(line[-1])
    factors = list(series[:MONTHS] / line)
    for t in range(MONTHS, len(series)):
        factor = factors[t - MONTHS]
        previous = level
        level = alpha * series[t] / factor + (1 - alpha) * (level + trend)
        trend = beta * (level - previous) + (1 - beta) * trend
        factors.append(gamma * series[t] / level + (1 - gamma) * factor)
    n = len(series)
    return np.array([(level + (h + 1) * trend) * factors[n - MONTHS + h % MONTHS] for h in range(horizon)])


def holt_winters_year_end(months: np.ndarray, known: int) -> float:
    history = _history(months, known)
    if history is None:
        return float("nan")
    return float(np.sum(months[-1, :known]) + np.sum(holt_winters(history, MONTHS - known)))


def last_year_growth(months: np.ndarray, known: int) -> float:
    """Full-year total for the last year of `months` as last year's total grown by last year's full-year
    growth: last² / the year before's. It ignores this year's months (`known` is unused) on purpose."""
    if len(months) < 3 or np.isnan(months[-3:-1]).any():
        return float("nan")
    last, before = np.sum(months[-2]), np.sum(months[-3])
    return float(last * last / before) if before else float("nan")


def stock_seasonal_naive(balances: np.ndarray, known: int) -> float:
    """December balance of the last year of `balances` from its month `known`: this month's balance grows to
    December as last year's did, × last December ÷ last year's same month."""
    now, last_then, last_december = balances[-1, known - 1], balances[-2, known - 1], balances[-2, -1]
    return float(now * last_december / last_then) if last_then else float("nan")


def stock_holt_winters(balances: np.ndarray, known: int) -> float:
    """The December balance Holt-Winters forecasts from every balance up to month `known` (the balance
    itself when `known` is December)."""
    history = _history(balances, known)
    if history is None:
        return float("nan")
    return float(np.concatenate([history, holt_winters(history, MONTHS - known)])[-1])


def stock_last_year_growth(balances: np.ndarray, known: int) -> float:
    """Last December × its growth over the December before: last² / before. `known` is unused on purpose."""
    if len(balances) < 3:
        return float("nan")
    last, before = balances[-2, -1], balances[-3, -1]
    return float(last * last / before) if before else float("nan")


def rate_seasonal_naive(rates: np.ndarray, known: int) -> float:
    """Full-year growth of the last year of `rates` (cumulative growth, %) from its month `known`: this year's
    growth so far plus last year's drift from the same month to December."""
    return float(rates[-1, known - 1] + rates[-2, -1] - rates[-2, known - 1])


def rate_holt_winters(rates: np.ndarray, known: int) -> float:
    """Always nan: a cumulative growth rate has neither the level nor the seasonal pattern Holt-Winters
    smooths (see the module's docstring)."""
    return float("nan")


def rate_last_year_growth(rates: np.ndarray, known: int) -> float:
    """Last year's full-year growth, whatever this year's months say (`known` is unused on purpose)."""
    return float(rates[-2, -1]) if len(rates) >= 2 else float("nan")


METHODS = ("seasonal_naive", "holt_winters", "last_year_growth")
PROJECTORS: dict[str, dict[str, Callable[[np.ndarray, int], float]]] = {
    "flow": {"seasonal_naive": seasonal_naive, "holt_winters": holt_winters_year_end,
             "last_year_growth": last_year_growth},
    "stock": {"seasonal_naive": stock_seasonal_naive, "holt_winters": stock_holt_winters,
              "last_year_growth": stock_last_year_growth},
    "rate": {"seasonal_naive": rate_seasonal_naive, "holt_winters": rate_holt_winters,
             "last_year_growth": rate_last_year_growth},
}


def backtest(values: np.ndarray, known: int, method: str, since: int = 1, form: str = "flow") -> np.ndarray:
    """Errors (`error`: relative, or in points for a rate) of the method's projections made at month `known` of
    each past year from row `since` on whose year end is known and that the method can project: seasonal naive
    needs a year before it, last-year growth two (one for a rate), Holt-Winters two. A larger `since` compares
    methods on the same years."""
    project = PROJECTORS[form][method]
    errors = []
    for year in range(max(since, 1) + 1, len(values) + 1):
        past = values[:year]
        actual = year_end(past[-1], form)
        if np.isnan(actual) or (form != "rate" and not actual):
            continue
        projected = project(past, known)
        if not np.isnan(projected):
            errors.append(error(projected, actual, form))
    return np.array(errors)


def project_year_end(values: np.ndarray, known: int, method: str = "seasonal_naive",
                     form: str = "flow") -> Projection:
    """Project this year's year end (last row of `values`, a `form` series) from its first `known` months, with
    the errors of past projections at the same point of the year, which give the band and the chance of a
    target."""
    value = PROJECTORS[form][method](values, known)
    errors = backtest(values[:-1], known, method, form=form)
    last_year = year_end(values[-2], form) if len(values) >= 2 else float("nan")
    return Projection(method, value, tuple(float(e) for e in errors), last_year, form)


def single_months(ytd: np.ndarray, merged_jan_feb: bool = False) -> np.ndarray:
    """Single-month values (years × 12) from year-to-date values; with 1–2月 published together, January
    and February each get half of the February total, which keeps the year's sum right."""
    single = np.diff(ytd, axis=1, prepend=0.0)
    if merged_jan_feb:
        single[:, 0] = ytd[:, 1] / 2
        single[:, 1] = ytd[:, 1] / 2
    return single
