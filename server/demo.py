"""Deterministic demo data for the shipped Tai'an indicator system (rules/taian).

`generate(seed, end)` returns long-format rows `{"indicator", "entity", "period", "value"}` for every
shipped indicator, from 2016 to `end` (default: the last full month before today), for 泰安市, its
six county-level units, the two functional zones (overlays, never summed) and 山东省 (reference).

How the numbers are made, and why:

- Every series starts from a latent monthly single-period value per county: a 2023 anchor level
  (泰安's published figures, e.g. GDP 3,323.8亿元, deposits 6,251.6亿元), an annual growth path,
  a seasonal profile, the 2020 COVID shock and multiplicative noise. Counties carry a fixed share of
  the city and a small persistent growth offset, so county rules stay quiet on clean data.
- Additive indicators are rounded per county and the city is the sum of the rounded county
  values, so "counties add up to the city" and "parts add up" hold exactly on clean data.
- Published growth rates (`rate` form: 规上工业增加值, 固定资产投资, GDP 增速 …) are year-to-date
  growth of the latent *real* series, as a statistics bureau computes them; they are never levels.
- ytd forms are cumulative within the year; with 1–2月 merged there is no January row and the
  February row is the January–February total. Stocks are end-of-month balances.
- GDP-family levels before 2018 sit on the pre-census path (×1.35 for the secondary and tertiary
  industries): the 2018 economic census rebased them down, as Tai'an's published GDP fell by
  about a fifth in 2019.
- A handful of documented anomalies (docs/demo-data.md, `ANOMALIES`) are planted in the latest
  periods; `plant=False` gives the clean data they are planted into.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

START_YEAR = 2016
BURN_IN_YEAR = START_YEAR - 1  # growth rates in 2016 need 2015 as a base
ANCHOR_YEAR = 2023  # the year whose levels are the anchors below

CITY = "taian"
PROVINCE = "shandong"
COUNTIES: tuple[str, ...] = ("taishan", "daiyue", "xintai", "feicheng", "ningyang", "dongping")
ZONES: tuple[str, ...] = ("gaoxin", "taishan_scenic")

# County shares of the city by kind of activity (rows sum to 1), in COUNTIES order.
SHARES: dict[str, tuple[float, ...]] = {
    "economy": (0.168, 0.160, 0.229, 0.235, 0.108, 0.100),
    "industry": (0.080, 0.170, 0.280, 0.280, 0.100, 0.090),
    "services": (0.300, 0.150, 0.190, 0.180, 0.090, 0.090),
    "agri": (0.050, 0.200, 0.180, 0.200, 0.200, 0.170),
    "invest": (0.190, 0.190, 0.200, 0.200, 0.110, 0.110),
    "deposits": (0.340, 0.130, 0.180, 0.170, 0.090, 0.090),
    "loans": (0.300, 0.140, 0.200, 0.190, 0.090, 0.080),
    "fiscal": (0.220, 0.160, 0.210, 0.210, 0.100, 0.100),
    "trade": (0.100, 0.150, 0.220, 0.330, 0.120, 0.080),
    "tourism": (0.550, 0.120, 0.080, 0.090, 0.050, 0.110),
    "retail": (0.260, 0.150, 0.200, 0.190, 0.100, 0.100),
}
# Tax revenue as a share of general budget revenue, by county (泰山区 is the most tax-rich).
TAX_SHARE = (0.78, 0.73, 0.74, 0.75, 0.72, 0.72)
# Per-capita income relative to the city average.
INCOME_FACTOR = (1.18, 0.97, 1.02, 1.03, 0.88, 0.85)

# Seasonal profiles of single-month values (12 weights, normalised to a mean of 1).
SEASONS: dict[str, tuple[float, ...]] = {
    "flat": (1,) * 12,
    "industry": (0.86, 0.78, 1.00, 0.99, 1.01, 1.05, 0.98, 0.98, 1.04, 1.03, 1.08, 1.20),
    "invest": (0.45, 0.50, 0.85, 0.95, 1.05, 1.35, 1.00, 1.00, 1.20, 1.05, 1.05, 1.55),
    "retail": (1.08, 0.90, 0.94, 0.91, 0.98, 1.00, 0.94, 0.96, 1.01, 1.07, 1.08, 1.13),
    "fiscal": (1.32, 0.84, 1.02, 1.14, 0.96, 1.08, 1.02, 0.84, 0.90, 0.96, 0.90, 1.02),
    "spend": (0.84, 0.72, 1.08, 0.90, 0.90, 1.20, 0.78, 0.78, 1.08, 0.72, 0.96, 2.04),
    "trade": (0.96, 0.66, 1.02, 1.00, 1.00, 1.02, 1.02, 1.02, 1.04, 0.98, 1.08, 1.20),
    "tourism": (0.70, 0.85, 0.80, 1.25, 1.35, 0.90, 1.05, 1.15, 0.85, 1.40, 0.95, 0.75),
    "power": (1.05, 0.85, 0.98, 0.93, 0.95, 1.05, 1.12, 1.15, 0.96, 0.92, 0.98, 1.06),
    "entities": (0.90, 0.60, 1.20, 1.08, 1.05, 1.08, 1.02, 1.00, 1.02, 0.90, 1.05, 1.10),
    "services": (0.88, 0.78, 0.95, 0.97, 0.98, 1.04, 0.98, 0.99, 1.03, 1.02, 1.08, 1.30),
    "primary": (0.45, 0.45, 0.40, 0.95, 1.15, 1.25, 0.80, 0.80, 1.00, 1.60, 1.45, 1.15),
    "realestate": (0.70, 0.55, 0.95, 0.90, 1.00, 1.25, 0.90, 0.90, 1.10, 1.00, 1.05, 1.60),
}

# COVID-19 in 2020: factor on single-month activity before a family-specific depth is applied.
COVID_2020 = (0.96, 0.78, 0.92, 0.98, 1.00, 1.00, 1.01, 1.01, 1.01, 1.01, 1.01, 1.01)

GrowthPath = Mapping[int, float]  # year -> annual growth, %


def _path(*values: float) -> dict[int, float]:
    """An annual growth path from 2015 on; later years repeat the last value."""
    return {BURN_IN_YEAR + i: v for i, v in enumerate(values)}


# Annual growth paths, %, 2015..2026 (real for production, nominal for money flows and stocks).
GROWTH: dict[str, dict[int, float]] = {
    "ind_real": _path(6.5, 6.8, 6.5, 5.6, 4.2, 4.4, 10.2, 5.6, 7.2, 8.1, 7.6, 7.2),
    "invest": _path(11.0, 10.5, 8.0, 5.2, 3.6, 3.9, 8.8, 6.3, 3.4, 4.2, 3.3, 3.5),
    "ind_invest": _path(10.0, 9.0, 6.5, 8.0, 4.5, 2.5, 14.5, 12.5, 8.5, 9.8, 8.2, 7.4),
    "tech_invest": _path(13.0, 12.0, 9.0, 10.5, 5.0, 1.0, 16.0, 14.0, 9.5, 10.5, 9.0, 8.0),
    "infra_invest": _path(16.0, 15.0, 12.0, 3.5, 2.5, 4.0, 2.5, 8.0, 5.0, 4.5, 4.0, 5.0),
    "private_invest": _path(9.0, 8.5, 6.0, 6.5, 2.8, 1.5, 7.0, 2.0, -0.5, 1.0, 0.5, 1.2),
    "construction": _path(7.5, 7.0, 6.0, 5.0, 4.0, 3.0, 5.0, 4.0, 4.5, 3.5, 3.0, 3.2),
    "re_invest": _path(4.0, 6.0, 12.0, 16.0, 10.0, 6.0, 5.0, -9.0, -10.0, -8.0, -6.0, -4.0),
    "re_area": _path(10.0, 15.0, 12.0, 3.0, -2.0, -3.0, 5.0, -24.0, -6.0, -12.0, -7.0, -3.0),
    "re_price": _path(3.0, 4.0, 8.0, 9.0, 6.0, 4.0, 2.0, -2.0, -3.0, -4.5, -3.0, -1.5),
    "retail": _path(10.0, 10.5, 9.5, 7.8, 6.0, -3.0, 13.0, 1.0, 7.5, 5.2, 5.0, 4.6),
    "catering": _path(12.0, 11.0, 10.0, 9.0, 8.0, -16.0, 18.0, -5.0, 18.0, 7.0, 6.0, 5.5),
    "tourism": _path(10.0, 10.0, 9.0, 8.0, 7.0, -42.0, 30.0, -25.0, 85.0, 9.0, 7.0, 6.0),
    "fiscal": _path(6.0, 5.0, 0.2, 6.0, 2.4, 2.0, 0.6, -3.4, 7.4, 5.6, 4.5, 4.0),
    "spend": _path(9.0, 8.0, 6.0, 7.0, 8.0, 4.0, 2.0, 5.0, 3.0, 4.0, 3.5, 3.5),
    "deposits": _path(10.0, 9.5, 7.2, 8.1, 10.9, 11.4, 7.5, 13.6, 12.2, 10.5, 9.0, 8.2),
    "loans": _path(12.0, 13.5, 8.5, 11.8, 14.1, 16.3, 14.1, 10.9, 13.9, 11.1, 9.0, 8.0),
    "exports": _path(-5.0, -3.0, 15.0, 6.0, 9.0, 22.0, 38.0, 42.0, 12.0, 22.0, 9.0, 7.0),
    "imports": _path(-12.0, -15.0, 10.0, -2.0, 5.0, 35.0, 35.0, 30.0, 18.0, -9.0, 4.0, 5.0),
    "fdi": _path(6.0, 8.0, 10.0, 6.0, 8.0, 4.0, 15.0, 5.0, -8.0, -5.0, 3.0, 4.0),
    "services": _path(12.0, 12.0, 12.0, 10.0, 9.0, 2.0, 15.0, 4.0, 9.0, 7.0, 7.0, 6.0),
    "freight": _path(7.0, 8.0, 9.0, 7.0, 5.0, -3.0, 10.0, -2.0, 6.0, 4.0, 3.5, 3.0),
    "passengers": _path(-2.0, -3.0, -5.0, -6.0, -8.0, -45.0, -8.0, -35.0, 40.0, 3.0, 2.0, 1.0),
    "postal": _path(40.0, 35.0, 25.0, 22.0, 20.0, 18.0, 15.0, 5.0, 14.0, 12.0, 10.0, 9.0),
    "entities": _path(20.0, 18.0, 15.0, 10.0, 8.0, 2.0, 12.0, -4.0, 9.0, -3.0, 2.0, 1.0),
    "power_other": _path(8.0, 8.0, 8.5, 9.0, 7.0, 4.0, 11.0, 6.0, 7.0, 8.0, 7.0, 6.5),
    "primary_real": _path(4.0, 4.2, 3.6, 3.0, 2.8, 3.0, 7.0, 4.3, 4.4, 4.0, 3.9, 3.8),
    "construction_real": _path(7.0, 7.0, 6.0, 5.0, 4.0, 3.0, 5.0, 4.0, 4.5, 3.5, 3.0, 3.2),
    "tertiary_real": _path(9.0, 8.8, 8.0, 7.2, 4.2, 2.6, 8.2, 3.6, 5.2, 5.0, 5.0, 4.8),
    "meat": _path(1.0, 2.0, 1.0, 0.0, -12.0, -3.0, 15.0, 4.0, 3.0, 1.0, 0.0, 0.5),
    "grain": _path(1.0, 1.5, 0.5, 1.0, 0.8, 1.2, 0.5, 1.0, 0.8, 1.1, 0.6, 0.7),
    "income": _path(8.6, 8.5, 8.6, 8.0, 7.9, 3.6, 8.8, 5.4, 6.1, 5.5, 5.3, 5.0),
    "firms": _path(3.0, 4.0, 3.5, -8.0, 5.0, 3.0, 6.0, 5.0, 4.0, 4.0, 3.5, 3.0),
}
# Price deflators (annual change, %): PPI-like for industry, GDP deflators for the rest.
DEFLATOR: dict[str, dict[int, float]] = {
    "industry": _path(-4.0, -1.5, 6.0, 3.5, -0.5, -1.8, 8.0, 4.0, -3.0, -2.0, -1.0, 0.0),
    "primary": _path(3.0, 2.0, -1.0, 1.0, 6.0, 5.0, -1.0, 1.5, -0.5, 0.5, 1.0, 1.5),
    "construction": _path(1.0, 1.0, 3.0, 4.0, 3.0, 2.0, 4.0, 2.0, 1.0, 0.5, 0.5, 1.0),
    "tertiary": _path(3.0, 3.0, 3.5, 4.0, 3.0, 1.5, 3.0, 1.5, 1.0, 0.5, 0.8, 1.0),
}
# Shandong against Tai'an: level scale at the anchor year and growth offset (points).
PROVINCE_SCALE = 27.7
PROVINCE_OFFSET = 0.1
# The 2018 economic census: published secondary/tertiary levels before 2018 were this much higher.
CENSUS_FACTOR = 1.35
CENSUS_YEAR = 2018


# ----------------------------------------------------------------------------- calendar


@dataclass(frozen=True)
class Calendar:
    """Months from January of the burn-in year to `end`, as parallel arrays."""

    years: np.ndarray
    months: np.ndarray

    @classmethod
    def until(cls, end_year: int, end_month: int) -> Calendar:
        n = (end_year - BURN_IN_YEAR) * 12 + end_month
        ordinals = np.arange(n)
        return cls(BURN_IN_YEAR + ordinals // 12, ordinals % 12 + 1)

    @property
    def n(self) -> int:
        return len(self.years)

    @property
    def end(self) -> tuple[int, int]:
        return int(self.years[-1]), int(self.months[-1])

    def label(self, t: int) -> str:
        return f"{self.years[t]:04d}-{self.months[t]:02d}"

    def index(self, year: int, month: int) -> int:
        return (year - BURN_IN_YEAR) * 12 + month - 1


def default_end(today: datetime.date | None = None) -> str:
    """The last full month before today: data for the current month does not exist yet."""
    today = today or datetime.date.today()
    first = today.replace(day=1) - datetime.timedelta(days=1)
    return f"{first.year:04d}-{first.month:02d}"


def _parse_end(end: str | None) -> tuple[int, int]:
    text = end or default_end()
    year, month = int(text[:4]), int(text[5:7])
    if year < START_YEAR + 1 or not 1 <= month <= 12:
        raise ValueError(f"结束月份「{text}」无效：应为 YYYY-MM，且不早于{START_YEAR + 1}年")
    return year, month


# ----------------------------------------------------------------------------- latent series


def _annual_index(path: GrowthPath, years: Iterable[int], offset: float = 0.0) -> dict[int, float]:
    """Level index per year, 1.0 at the anchor year, compounding the growth path plus `offset`."""
    last = max(path)
    growth = {y: path.get(y, path[last]) + offset for y in range(BURN_IN_YEAR, max(years) + 1)}
    index = {ANCHOR_YEAR: 1.0}
    for y in range(ANCHOR_YEAR + 1, max(years) + 1):
        index[y] = index[y - 1] * (1 + growth[y] / 100)
    for y in range(ANCHOR_YEAR - 1, BURN_IN_YEAR - 1, -1):
        index[y] = index[y + 1] / (1 + growth[y + 1] / 100)
    return index


class Latent:
    """Latent monthly series, one row per share (the six counties, or one row for the province or a zone),
    in the published unit of the indicator they feed."""

    def __init__(self, rng: np.random.Generator, cal: Calendar):
        self.rng = rng
        self.cal = cal

    def _trend(self, path: GrowthPath, offsets: np.ndarray, smooth: bool) -> np.ndarray:
        """Yearly step (flows) or a within-year geometric glide to December's level (stocks)."""
        out = np.empty((len(offsets), self.cal.n))
        for row, offset in enumerate(offsets):
            index = _annual_index(path, self.cal.years.tolist(), float(offset))
            current = np.array([index[y] for y in self.cal.years])
            if smooth:
                previous = np.array([index.get(y - 1, index[y]) for y in self.cal.years])
                current = previous * (current / previous) ** (self.cal.months / 12)
            out[row] = current
        return out

    def covid(self, depth: float) -> np.ndarray:
        factor = np.ones(self.cal.n)
        mask = self.cal.years == 2020
        base = np.array(COVID_2020)[self.cal.months[mask] - 1]
        factor[mask] = np.clip(1 - depth * (1 - base), 0.05, None)
        return factor

    def flow(self, base: float, path: str | GrowthPath, shares: str | tuple[float, ...], season: str = "flat",
             noise: float = 0.02, covid: float = 1.0, spread: float = 0.6, stock: bool = False) -> np.ndarray:
        """`base` is the city's 2023 annual total (flows) or December 2023 balance (stocks)."""
        growth = GROWTH[path] if isinstance(path, str) else path
        weights = np.array(SHARES[shares] if isinstance(shares, str) else shares)
        offsets = self.rng.normal(0.0, spread, len(weights))
        level = self._trend(growth, offsets, smooth=stock)
        profile = np.array(SEASONS[season]) / np.mean(SEASONS[season])
        scale = base if stock else base / 12
        shape = profile[self.cal.months - 1] * self.covid(covid)
        eps = self.rng.normal(0.0, noise, level.shape)
        return scale * weights[:, None] * level * shape[None, :] * np.exp(eps)

    def scaled(self, source: np.ndarray, ratio: float, drift: float = 0.0, noise: float = 0.02) -> np.ndarray:
        """A series tied to another one: `ratio` of it at the anchor year, drifting by `drift` % a year."""
        years = self.cal.years - ANCHOR_YEAR
        trend = (1 + drift / 100) ** years
        eps = self.rng.normal(0.0, noise, source.shape)
        return source * ratio * trend[None, :] * np.exp(eps)

    def deflator(self, name: str) -> np.ndarray:
        index = _annual_index(DEFLATOR[name], self.cal.years.tolist())
        return np.array([index[y] for y in self.cal.years])


# ----------------------------------------------------------------------------- publishing


@dataclass
class Sink:
    """Collects the published rows; missing values (NaN, the burn-in year's growth) are skipped."""

    cal: Calendar
    rows: list[dict]

    def add(self, indicator: str, entity: str, period: str, value: float) -> None:
        if np.isfinite(value):
            self.rows.append({"indicator": indicator, "entity": entity, "period": period, "value": float(value)})


def _round(values: np.ndarray, digits: int) -> np.ndarray:
    return np.round(values, digits)


def _with_city(county_values: np.ndarray, digits: int) -> np.ndarray:
    """Rounded county values with the city appended as their exact sum (row 6)."""
    rounded = _round(county_values, digits)
    return np.vstack([rounded, _round(rounded.sum(axis=0), digits)])


def _ytd(single: np.ndarray, cal: Calendar) -> np.ndarray:
    out = np.empty_like(single)
    for year in np.unique(cal.years):
        cols = cal.years == year
        out[..., cols] = np.cumsum(single[..., cols], axis=-1)
    return out


def _ytd_growth(real_single: np.ndarray, cal: Calendar) -> np.ndarray:
    """Year-to-date growth, % (NaN in the burn-in year)."""
    ytd = _ytd(real_single, cal)
    out = np.full(ytd.shape, np.nan)
    out[..., 12:] = (ytd[..., 12:] / ytd[..., :-12] - 1) * 100
    return out


def _quarter_sums(single: np.ndarray, cal: Calendar) -> tuple[np.ndarray, list[str]]:
    """Single-quarter sums of complete quarters, and their labels."""
    n_quarters = cal.n // 3
    trimmed = single[..., : n_quarters * 3]
    sums = trimmed.reshape(*single.shape[:-1], n_quarters, 3).sum(axis=-1)
    labels = [f"{BURN_IN_YEAR + q // 4}Q{q % 4 + 1}" for q in range(n_quarters)]
    return sums, labels


def _quarter_ytd(quarters: np.ndarray) -> np.ndarray:
    n = quarters.shape[-1]
    out = np.empty_like(quarters)
    for start in range(0, n, 4):
        out[..., start:start + 4] = np.cumsum(quarters[..., start:start + 4], axis=-1)
    return out


def _quarter_growth(real_quarters: np.ndarray) -> np.ndarray:
    ytd = _quarter_ytd(real_quarters)
    out = np.full(ytd.shape, np.nan)
    out[..., 4:] = (ytd[..., 4:] / ytd[..., :-4] - 1) * 100
    return out


class Publisher:
    """Turns latent panels into published rows in each indicator's form."""

    def __init__(self, sink: Sink, entities: tuple[str, ...]):
        self.sink = sink
        self.cal = sink.cal
        self.entities = entities

    def _emit(self, indicator: str, panel: np.ndarray, labels: list[str], skip: Callable[[int], bool]) -> None:
        for row, entity in enumerate(self.entities):
            for t, label in enumerate(labels):
                if int(label[:4]) >= START_YEAR and not skip(t):
                    self.sink.add(indicator, entity, label, panel[row, t])

    def _months(self, indicator: str, panel: np.ndarray, merged: bool) -> None:
        labels = [self.cal.label(t) for t in range(self.cal.n)]
        self._emit(indicator, panel, labels, lambda t: merged and self.cal.months[t] == 1)

    def ytd(self, indicator: str, single: np.ndarray, merged: bool, digits: int = 2,
            additive: bool = True) -> None:
        values = _ytd(single, self.cal)
        self._months(indicator, _with_city(values, digits) if additive else _round(values, digits), merged)

    def period(self, indicator: str, single: np.ndarray, digits: int = 0) -> None:
        self._months(indicator, _with_city(single, digits), merged=False)

    def stock(self, indicator: str, balance: np.ndarray, merged: bool = False, digits: int = 2) -> None:
        self._months(indicator, _with_city(balance, digits), merged)

    def rate(self, indicator: str, real_single: np.ndarray, merged: bool) -> None:
        """Published ytd growth: counties from their own series, the city from the county total."""
        panel = np.vstack([real_single, real_single.sum(axis=0)])
        self._months(indicator, _round(_ytd_growth(panel, self.cal), 1), merged)

    def values(self, indicator: str, panel: np.ndarray, merged: bool = False, digits: int = 1) -> None:
        self._months(indicator, _round(panel, digits), merged)

    def quarterly(self, indicator: str, panel: np.ndarray, labels: list[str], digits: int = 2) -> None:
        self._emit(indicator, _round(panel, digits), labels, lambda t: False)


# ----------------------------------------------------------------------------- the families


@dataclass
class World:
    """Everything the families share while one data set is generated."""

    rng: np.random.Generator
    cal: Calendar
    latent: Latent
    counties: Publisher  # rows: the six counties, then the city
    plant: bool
    anomalies: list[Anomaly]

    def planted(self, anomaly_id: str) -> Anomaly | None:
        if not self.plant:
            return None
        return next((a for a in self.anomalies if a.id == anomaly_id), None)

    def month_mask(self, periods: Iterable[str]) -> np.ndarray:
        wanted = set(periods)
        return np.array([self.cal.label(t) in wanted for t in range(self.cal.n)])


def _county_row(entity: str) -> int:
    return COUNTIES.index(entity)


def _industry(w: World) -> np.ndarray:
    """规上工业 and energy. Returns the latent real industrial value added (for GDP accounting)."""
    lat = w.latent
    va_real = lat.flow(1080.0, "ind_real", "industry", "industry", noise=0.012, covid=1.0, spread=0.35)
    w.counties.rate("ind_va", va_real, merged=True)
    power = lat.scaled(va_real, 2_150_000 / 1080, drift=-2.0, noise=0.012)
    anomaly = w.planted("feicheng_power")
    if anomaly is not None:  # a large energy user cut output, yet reported value added kept growing
        power[_county_row("feicheng"), w.month_mask(anomaly.months)] *= 0.70
    w.counties.ytd("power_ind", power, merged=True, digits=1)
    other = lat.flow(1_050_000.0, "power_other", "economy", "power", noise=0.015, covid=0.4)
    w.counties.ytd("power_total", power + other, merged=True, digits=1)
    w.counties.ytd("energy_use", lat.scaled(va_real, 1150 / 1080, drift=-3.0, noise=0.015), merged=True)
    revenue = lat.scaled(va_real * lat.deflator("industry"), 3300 / 1080, noise=0.012)
    w.counties.ytd("ind_revenue", revenue, merged=True)
    margin = np.array([_margin(y) for y in w.cal.years])
    w.counties.ytd("ind_profit", lat.scaled(revenue * margin, 1.0, noise=0.06), merged=True)
    w.counties.ytd("ind_export_delivery", lat.scaled(va_real, 115 / 1080, drift=3.0, noise=0.05), merged=True)
    w.counties.ytd("high_tech_output", lat.scaled(revenue, 0.49, drift=2.0, noise=0.01), merged=True)
    firms = lat.flow(1950.0, "firms", "industry", stock=True, noise=0.003, spread=0.5)
    w.counties.stock("ind_firms", firms, merged=True, digits=0)
    return va_real


def _margin(year: int) -> float:
    """Profit margin of 规上工业 (profit / revenue) by year."""
    margins = {2015: 6.4, 2016: 6.5, 2017: 6.8, 2018: 6.2, 2019: 5.6, 2020: 5.5, 2021: 6.5,
               2022: 5.2, 2023: 5.0, 2024: 4.9, 2025: 5.0}
    return margins.get(year, 5.1) / 100


def _investment(w: World) -> None:
    lat = w.latent
    invest = lat.flow(1700.0, "invest", "invest", "invest", noise=0.03, covid=1.3, spread=0.8)
    construction = lat.scaled(invest, 1100 / 1700, drift=1.0, noise=0.02)
    anomaly = w.planted("dongping_invest")
    if anomaly is not None:  # projects stalled: single-month investment fell to a fifth
        invest[_county_row("dongping"), w.month_mask(anomaly.months)] *= 0.20
    w.counties.rate("fixed_invest", invest, merged=True)
    w.counties.ytd("construction_output", construction, merged=True)
    for indicator, path, noise in (("ind_invest", "ind_invest", 0.04), ("tech_invest", "tech_invest", 0.06),
                                   ("infra_invest", "infra_invest", 0.05),
                                   ("private_invest", "private_invest", 0.04)):
        series = lat.flow(500.0, path, "invest", "invest", noise=noise, covid=1.3, spread=0.8)
        w.counties.rate(indicator, series, merged=True)
    re_invest = lat.flow(300.0, "re_invest", "retail", "realestate", noise=0.04, covid=1.2)
    w.counties.ytd("re_invest", re_invest, merged=True)
    area = lat.flow(600.0, "re_area", "retail", "realestate", noise=0.05, covid=1.4)
    w.counties.ytd("re_sales_area", area, merged=True)
    price = lat.flow(6500.0 * 12, "re_price", "retail", noise=0.01)  # 元/平方米, shares cancel below
    price = price / np.array(SHARES["retail"])[:, None]
    w.counties.ytd("re_sales", area * price / 10_000, merged=True)


def _consumption(w: World) -> None:
    lat = w.latent
    retail = lat.flow(1290.0, "retail", "retail", "retail", noise=0.012, covid=1.2, spread=0.4)
    w.counties.ytd("retail", retail, merged=True)
    w.counties.ytd("retail_above", lat.scaled(retail, 0.44, drift=0.8, noise=0.015), merged=True)
    w.counties.ytd("retail_online", lat.scaled(retail, 0.06, drift=9.0, noise=0.03), merged=True)
    w.counties.ytd("retail_auto", lat.scaled(retail, 0.10, noise=0.04), merged=True)
    catering = lat.flow(142.0, "catering", "retail", "retail", noise=0.02, covid=1.8, spread=0.4)
    w.counties.ytd("catering", catering, merged=True)
    tourists = lat.flow(8000.0, "tourism", "tourism", "tourism", noise=0.03, covid=2.5, spread=0.5)
    w.counties.ytd("tourists", tourists, merged=False)
    spend, labels = _quarter_sums(lat.scaled(tourists, 900 / 8000, drift=2.0, noise=0.02), w.cal)
    w.counties.quarterly("tourism_revenue", _with_city(_quarter_ytd(spend), 2), labels)


def _fiscal(w: World) -> None:
    lat = w.latent
    tax_share = np.array(TAX_SHARE)
    shares = np.array(SHARES["fiscal"])
    tax = lat.flow(239.2, "fiscal", tuple(shares * tax_share), "fiscal", noise=0.04, covid=0.8, spread=0.5)
    nontax = lat.flow(239.2, "fiscal", tuple(shares * (1 - tax_share)), "fiscal", noise=0.05, covid=0.8)
    anomaly = w.planted("dongping_budget")
    if anomaly is not None:  # 国有资源有偿使用收入 dried up for the whole year
        nontax[_county_row("dongping"), w.month_mask(anomaly.months)] *= 0.05
    tax_ytd = _with_city(_ytd(tax, w.cal), 2)
    nontax_ytd = _with_city(_ytd(nontax, w.cal), 2)
    w.counties.values("tax_rev", tax_ytd, digits=2)
    w.counties.values("nontax_rev", nontax_ytd, digits=2)
    w.counties.values("budget_rev", tax_ytd + nontax_ytd, digits=2)
    spend = lat.flow(463.4, "spend", "fiscal", "spend", noise=0.03, covid=0.3, spread=0.5)
    w.counties.ytd("budget_exp", spend, merged=False)
    items = {"exp_general": 0.10, "exp_safety": 0.055, "exp_education": 0.20, "exp_science": 0.03,
             "exp_culture": 0.02, "exp_social": 0.17, "exp_health": 0.09, "exp_community": 0.08}
    total = np.zeros((len(COUNTIES) + 1, w.cal.n))
    for indicator, share in items.items():
        values = _with_city(_ytd(lat.scaled(spend, share, noise=0.04), w.cal), 2)
        w.counties.values(indicator, values, digits=2)
        total += values
    w.counties.values("exp_eight", total, digits=2)


def _finance(w: World) -> None:
    lat = w.latent
    deposits = lat.flow(6251.6, "deposits", "deposits", noise=0.004, covid=0.0, spread=0.5, stock=True)
    anomaly = w.planted("taishan_deposits")
    if anomaly is not None:  # a large group moved its accounts out of 泰山区: a lasting level shift
        deposits[_county_row("taishan"), w.month_mask(anomaly.months)] *= 0.86
    w.counties.stock("deposits", deposits)
    w.counties.stock("household_deposits", lat.scaled(deposits, 0.63, drift=1.0, noise=0.003))
    loans = lat.flow(4519.7, "loans", "loans", noise=0.004, covid=0.0, spread=0.5, stock=True)
    w.counties.stock("loans", loans)
    w.counties.stock("loans_manufacturing", lat.scaled(loans, 0.16, drift=1.5, noise=0.004))


def _trade(w: World) -> None:
    lat = w.latent
    exports = lat.flow(393.2, "exports", "trade", "trade", noise=0.05, covid=0.8, spread=0.8)
    imports = lat.flow(64.3, "imports", "trade", "trade", noise=0.10, covid=0.8, spread=0.8)
    ex = _with_city(_ytd(exports, w.cal), 2)
    im = _with_city(_ytd(imports, w.cal), 2)
    w.counties.values("exports", ex, merged=True, digits=2)
    w.counties.values("imports", im, merged=True, digits=2)
    w.counties.values("trade", ex + im, merged=True, digits=2)
    fdi = lat.flow(30_000.0, "fdi", "trade", noise=0.25, covid=0.5, spread=1.0)
    w.counties.ytd("fdi", fdi, merged=True, digits=1)


def _services(w: World) -> None:
    lat = w.latent
    forprofit = lat.flow(320.0, "services", "services", "services", noise=0.02, covid=1.0, spread=0.5)
    nonprofit = lat.flow(90.0, "services", "services", "services", noise=0.02, covid=0.5, spread=0.5)
    fp = _with_city(_ytd(forprofit, w.cal), 2)
    npf = _with_city(_ytd(nonprofit, w.cal), 2)
    w.counties.values("svc_forprofit", fp, merged=True, digits=2)
    w.counties.values("svc_nonprofit", npf, merged=True, digits=2)
    w.counties.values("svc_revenue", fp + npf, merged=True, digits=2)
    freight = lat.flow(16_500.0, "freight", "economy", "industry", noise=0.02, covid=1.0)
    w.counties.ytd("freight", freight, merged=True)
    w.counties.ytd("freight_turnover", lat.scaled(freight, 0.025, noise=0.02), merged=True)
    passengers = lat.flow(1500.0, "passengers", "services", "tourism", noise=0.03, covid=2.0)
    w.counties.ytd("passengers", passengers, merged=True)
    w.counties.ytd("postal_revenue", lat.flow(42.0, "postal", "services", "services", noise=0.02), merged=True)
    entities = lat.flow(120_000.0, "entities", "economy", "entities", noise=0.04, covid=1.0)
    w.counties.period("new_entities", entities)
    w.counties.period("new_enterprises", lat.scaled(entities, 0.30, drift=1.0, noise=0.04))


def _gdp(w: World, va_industry_real: np.ndarray) -> None:
    """Quarterly unified GDP accounting: sector levels, their parts and comparable-price growth."""
    lat = w.latent
    sectors: dict[str, tuple[np.ndarray, str]] = {
        "gdp_primary": (lat.flow(361.8, "primary_real", "agri", "primary", noise=0.01, covid=0.2), "primary"),
        "va_industry": (va_industry_real, "industry"),
        "va_construction": (lat.flow(269.8, "construction_real", "economy", "invest", noise=0.015, covid=1.0),
                            "construction"),
    }
    tertiary = {"va_wholesale_retail": (0.22, "retail", 1.0), "va_hotel_catering": (0.05, "retail", 1.8),
                "va_transport": (0.09, "economy", 1.0), "va_finance": (0.11, "deposits", 0.0),
                "va_real_estate": (0.13, "retail", 0.8), "va_other_services": (0.40, "services", 0.5)}
    for indicator, (share, shares, covid) in tertiary.items():
        series = lat.flow(1612.2 * share, "tertiary_real", shares, "services", noise=0.01, covid=covid, spread=0.4)
        sectors[indicator] = (series, "tertiary")
    real_q: dict[str, np.ndarray] = {}
    nominal: dict[str, np.ndarray] = {}
    for indicator, (real, deflator) in sectors.items():
        real_q[indicator], labels = _quarter_sums(real, w.cal)
        nominal_q, _ = _quarter_sums(real * lat.deflator(deflator)[None, :], w.cal)
        census = _census_factor(labels) if indicator != "gdp_primary" else 1.0
        nominal[indicator] = _with_city(_quarter_ytd(nominal_q) * census, 2)
    _publish_gdp(w, nominal, real_q, labels)
    _agriculture(w, sectors["gdp_primary"][0], nominal["gdp_primary"], labels)


def _census_factor(labels: list[str]) -> np.ndarray:
    return np.array([CENSUS_FACTOR if int(q[:4]) < CENSUS_YEAR else 1.0 for q in labels])[None, :]


def _publish_gdp(w: World, nominal: dict[str, np.ndarray], real_q: dict[str, np.ndarray], labels: list[str]) -> None:
    secondary_parts = ("va_industry", "va_construction")
    tertiary_parts = ("va_wholesale_retail", "va_hotel_catering", "va_transport", "va_finance",
                      "va_real_estate", "va_other_services")
    for indicator, panel in nominal.items():
        w.counties.quarterly(indicator, panel, labels)
    secondary = sum(nominal[p] for p in secondary_parts)
    tertiary = sum(nominal[p] for p in tertiary_parts)
    w.counties.quarterly("gdp_secondary", secondary, labels)
    w.counties.quarterly("gdp_tertiary", tertiary, labels)
    w.counties.quarterly("gdp", nominal["gdp_primary"] + secondary + tertiary, labels)
    groups = {"gdp_primary_growth": ("gdp_primary",), "gdp_secondary_growth": secondary_parts,
              "gdp_tertiary_growth": tertiary_parts,
              "gdp_growth": ("gdp_primary", *secondary_parts, *tertiary_parts)}
    for indicator, parts in groups.items():
        real = sum(real_q[p] for p in parts)
        panel = np.vstack([real, real.sum(axis=0)])
        w.counties.quarterly(indicator, _quarter_growth(panel), labels, digits=1)


def _agriculture(w: World, primary_real: np.ndarray, primary_nominal: np.ndarray, labels: list[str]) -> None:
    lat = w.latent
    output = primary_nominal[: len(COUNTIES)] * (658.0 / 361.8) * np.exp(w.rng.normal(0, 0.01, (6, len(labels))))
    w.counties.quarterly("agri_output", _with_city(output, 2), labels)
    real_q, _ = _quarter_sums(primary_real, w.cal)
    panel = np.vstack([real_q, real_q.sum(axis=0)])
    growth = _quarter_growth(panel) + w.rng.normal(0, 0.2, panel.shape)
    w.counties.quarterly("agri_output_growth", growth, labels, digits=1)
    meat, _ = _quarter_sums(lat.flow(42.0, "meat", "agri", noise=0.02, covid=0.0), w.cal)
    w.counties.quarterly("meat_output", _with_city(_quarter_ytd(meat), 2), labels)
    grain = lat.flow(330.0, "grain", "agri", noise=0.0, covid=0.0)
    years, annual = _annual_sums(grain, w.cal)
    annual *= np.exp(w.rng.normal(0, 0.02, annual.shape))
    w.counties.quarterly("grain_output", _with_city(annual, 2), years)


def _annual_sums(single: np.ndarray, cal: Calendar) -> tuple[list[str], np.ndarray]:
    n_years = cal.n // 12
    sums = single[..., : n_years * 12].reshape(single.shape[0], n_years, 12).sum(axis=-1)
    return [str(BURN_IN_YEAR + i) for i in range(n_years)], sums


def _income(w: World) -> None:
    """Per-capita income and spending (元, quarterly ytd, not additive: every entity has its own)."""
    shares = (0.285, 0.235, 0.235, 0.245)  # of the annual total, by quarter
    levels = {"income_all": 36_800.0, "income_urban": 47_900.0, "income_rural": 22_400.0,
              "consumption_pc": 23_500.0}
    offsets = {"income_all": 0.0, "income_urban": -0.5, "income_rural": 1.2, "consumption_pc": 0.3}
    n_quarters = w.cal.n // 3
    labels = [f"{BURN_IN_YEAR + q // 4}Q{q % 4 + 1}" for q in range(n_quarters)]
    years = np.array([BURN_IN_YEAR + q // 4 for q in range(n_quarters)])
    factors = np.array([*INCOME_FACTOR, 1.0])
    for indicator, level in levels.items():
        panel = np.empty((len(factors), n_quarters))
        for row, factor in enumerate(factors):
            spread = 0.0 if row == len(COUNTIES) else w.rng.normal(0, 0.3)
            index = _annual_index(GROWTH["income"], years.tolist(), offsets[indicator] + spread)
            annual = level * factor * np.array([index[y] for y in years])
            quarter = annual * np.array(shares)[np.arange(n_quarters) % 4]
            panel[row] = quarter * np.exp(w.rng.normal(0, 0.004, n_quarters))
        w.counties.quarterly(indicator, _quarter_ytd(panel), labels, digits=0)
        _province_income(w, indicator, level, offsets[indicator], labels, years, shares)


def _province_income(w: World, indicator: str, level: float, offset: float, labels: list[str],
                     years: np.ndarray, shares: tuple[float, ...]) -> None:
    if indicator != "income_all":
        return
    index = _annual_index(GROWTH["income"], years.tolist(), offset - 0.2)
    annual = 39_890.0 * np.array([index[y] for y in years])  # 山东省 2023: 39,890元
    quarter = annual * np.array(shares)[np.arange(len(years)) % 4]
    panel = _quarter_ytd(quarter[None, :])
    Publisher(w.counties.sink, (PROVINCE,)).quarterly(indicator, panel, labels, digits=0)


def _prices(w: World) -> None:
    """CPI (上年同月=100) for the city and the province; counties have no CPI survey."""
    cal = w.cal
    path = {2015: 101.3, 2016: 102.0, 2017: 101.5, 2018: 102.1, 2019: 102.6, 2020: 102.4, 2021: 100.9,
            2022: 102.0, 2023: 100.3, 2024: 100.3, 2025: 100.0}
    base = np.array([path.get(int(y), 100.7) for y in cal.years])
    # 2019–2020: the pork cycle pushed CPI up to about 105 in January 2020, then it fell back.
    pork = np.zeros(cal.n)
    for t in range(cal.n):
        months_from_peak = (cal.years[t] - 2020) * 12 + cal.months[t] - 1
        if -10 <= months_from_peak <= 10:
            pork[t] = 2.6 * (1 - abs(months_from_peak) / 10)
    city = base + pork + w.rng.normal(0, 0.2, cal.n)
    province = city + w.rng.normal(0.1, 0.2, cal.n)
    food = 100 + (base - 100) * 1.8 + pork * 4 + w.rng.normal(0, 0.8, cal.n)
    publisher = Publisher(w.counties.sink, (CITY, PROVINCE))
    publisher.values("cpi", np.vstack([city, province]), digits=1)
    Publisher(w.counties.sink, (CITY,)).values("cpi_food", food[None, :], digits=1)


# ----------------------------------------------------------------------------- province and zones


def _province(w: World) -> None:
    """Shandong: the reference for `x@province`, with its own noise and a small growth lead."""
    lat = Latent(w.rng, w.cal)
    one = (1.0,)
    pub = Publisher(w.counties.sink, (PROVINCE,))

    def flow(base: float, path: str, season: str, noise: float, covid: float = 1.0) -> np.ndarray:
        shifted = {y: g + PROVINCE_OFFSET for y, g in GROWTH[path].items()}
        return lat.flow(base, shifted, one, season, noise=noise, covid=covid, spread=0.0)

    pub.values("ind_va", _ytd_growth(flow(1.0, "ind_real", "industry", 0.006), w.cal), merged=True)
    pub.values("fixed_invest", _ytd_growth(flow(1.0, "invest", "invest", 0.012, 1.3), w.cal), merged=True)
    pub.values("ind_invest", _ytd_growth(flow(1.0, "ind_invest", "invest", 0.015, 1.3), w.cal), merged=True)
    pub.values("retail", _ytd(flow(1290.0 * PROVINCE_SCALE, "retail", "retail", 0.006, 1.2), w.cal),
               merged=True, digits=2)
    pub.values("budget_rev", _ytd(flow(239.2 * 31.2, "fiscal", "fiscal", 0.01, 0.8), w.cal), digits=2)
    deposits = lat.flow(6251.6 * 25.0, GROWTH["deposits"], one, noise=0.002, covid=0.0, spread=0.0, stock=True)
    pub.values("deposits", deposits, digits=2)
    loans = lat.flow(4519.7 * 28.0, GROWTH["loans"], one, noise=0.002, covid=0.0, spread=0.0, stock=True)
    pub.values("loans", loans, digits=2)
    # Real GDP weighted like Shandong's 2023 structure (7 : 33 : 7 : 53), so only the small lead differs.
    weights = (("primary_real", "primary", 0.07), ("ind_real", "industry", 0.33),
               ("construction_real", "invest", 0.07), ("tertiary_real", "services", 0.53))
    real = sum(flow(weight, path, season, 0.004) for path, season, weight in weights)
    real_q, labels = _quarter_sums(real, w.cal)
    pub.quarterly("gdp_growth", _quarter_growth(real_q), labels, digits=1)
    nominal_q, _ = _quarter_sums(real * lat.deflator("tertiary")[None, :], w.cal)
    gdp = _quarter_ytd(nominal_q) * 92_069.0 / _quarter_ytd(nominal_q)[0, (ANCHOR_YEAR - BURN_IN_YEAR) * 4 + 3]
    pub.quarterly("gdp", gdp * _census_factor(labels), labels)


def _zones(w: World) -> None:
    """Functional zones: overlays inside counties, with their own series; never summed."""
    lat = Latent(w.rng, w.cal)
    gaoxin = Publisher(w.counties.sink, ("gaoxin",))
    scenic = Publisher(w.counties.sink, ("taishan_scenic",))
    one = (1.0,)

    def lead(path: str, points: float) -> dict[int, float]:
        return {y: g + points for y, g in GROWTH[path].items()}

    va = lat.flow(1.0, lead("ind_real", 1.5), one, "industry", noise=0.02, spread=0.0)
    gaoxin.values("ind_va", _ytd_growth(va, w.cal), merged=True)
    for pub, points in ((gaoxin, 2.0), (scenic, -1.0)):
        invest = lat.flow(1.0, lead("invest", points), one, "invest", noise=0.05, covid=1.3, spread=0.0)
        pub.values("fixed_invest", _ytd_growth(invest, w.cal), merged=True)
    ind_invest = lat.flow(1.0, lead("ind_invest", 2.0), one, "invest", noise=0.05, covid=1.3, spread=0.0)
    gaoxin.values("ind_invest", _ytd_growth(ind_invest, w.cal), merged=True)
    for pub, base, tax_share in ((gaoxin, 19.0, 0.80), (scenic, 4.8, 0.55)):
        tax = _ytd(lat.flow(base * tax_share, "fiscal", one, "fiscal", noise=0.03, spread=0.0), w.cal)
        nontax = _ytd(lat.flow(base * (1 - tax_share), "fiscal", one, "fiscal", noise=0.05, spread=0.0), w.cal)
        tax, nontax = _round(tax, 2), _round(nontax, 2)
        pub.values("tax_rev", tax, digits=2)
        pub.values("nontax_rev", nontax, digits=2)
        pub.values("budget_rev", tax + nontax, digits=2)
    for pub, base in ((gaoxin, 7200.0), (scenic, 1300.0)):
        pub.values("new_entities", lat.flow(base, "entities", one, "entities", noise=0.06, spread=0.0), digits=0)
    tourists = lat.flow(880.0, "tourism", one, "tourism", noise=0.03, covid=2.5, spread=0.0)
    scenic.values("tourists", _ytd(tourists, w.cal), digits=2)


# ----------------------------------------------------------------------------- enterprises

# The enterprise population is fixed (its declarations are committed as rules/taian/enterprises.rules);
# `generate(seed)` varies only the monthly noise of their data.
ENTERPRISE_SEED = 4754  # GB/T 4754, the industry classification
ENTERPRISE_COUNT = 300
ENTERPRISE_YEAR = 2026  # "this year" of the planted watch categories: 小升规 firms went above scale in it
ENTERPRISE_YEARS = 3  # enterprise data covers the last three years up to `end` (a base year for growth)
ENTERPRISES_FILE = Path(__file__).resolve().parents[1] / "rules" / "taian" / "enterprises.rules"
COUNTY_NAMES = {"taishan": "泰山", "daiyue": "岱岳", "xintai": "新泰", "feicheng": "肥城", "ningyang": "宁阳",
                "dongping": "东平"}
# GB/T 4754 division, the word in a firm's name, power use (万千瓦时) per 万元 of output.
INDUSTRIES: tuple[tuple[str, str, float], ...] = (
    ("B06", "煤业", 0.060), ("C13", "食品", 0.015), ("C17", "纺织", 0.030), ("C22", "纸业", 0.055),
    ("C26", "化工", 0.070), ("C30", "建材", 0.090), ("C31", "钢铁", 0.110), ("C33", "金属制品", 0.030),
    ("C34", "机械", 0.018), ("C35", "装备", 0.016), ("C36", "汽车部件", 0.014), ("C38", "电气", 0.012),
    ("C39", "电子", 0.010), ("D44", "热电", 0.080),
)
NAME_WORDS = "鲁华泰恒瑞金鑫宏通远盛兴隆祥和安康丰源达岳东方润德信博凯"
# Size class by annual output (万元): 大型 ≥ 4亿, 中型 ≥ 1亿, else 小型 (employees are not modelled).
SIZE_CLASSES = ((40_000.0, "large"), (10_000.0, "medium"), (0.0, "small"))
# Planted watch categories: (category, county, rank of the firm by size in its county).
PLANTED_FIRMS: tuple[tuple[str, str, int], ...] = (
    ("decliner", "xintai", 2), ("decliner", "feicheng", 2), ("decliner", "daiyue", 3),
    ("grower", "xintai", 12), ("grower", "feicheng", 15), ("grower", "taishan", 6), ("grower", "ningyang", 8),
    ("grower", "dongping", 5),
    ("new", "taishan", 20), ("new", "daiyue", 40), ("new", "xintai", 70), ("new", "feicheng", 75),
    ("new", "ningyang", 25),
)
# Growth of output, power use and orders (%) of a planted firm in ENTERPRISE_YEAR.
PLANTED_GROWTH = {"decliner": (-30.0, -25.0, -35.0), "grower": (35.0, 25.0, 40.0), "new": (12.0, 10.0, 12.0)}


@dataclass(frozen=True)
class Enterprise:
    id: str
    name: str
    county: str
    industry: str
    size: str
    above_scale: int
    level: float  # annual output of ENTERPRISE_YEAR - 1, 万元
    growth: float  # its own trend growth, % a year
    intensity: float  # power use per 万元 of output
    category: str | None = None  # planted watch category


@functools.cache
def enterprises() -> tuple[Enterprise, ...]:
    """The fixed enterprise population: log-normal sizes (a few giants, many firms near the 2000万元
    threshold), spread over the counties by their share of industry."""
    rng = np.random.default_rng(ENTERPRISE_SEED)
    counts = np.round(np.array(SHARES["industry"]) * ENTERPRISE_COUNT).astype(int)
    firms: list[Enterprise] = []
    names: set[str] = set()
    for county, count in zip(COUNTIES, counts, strict=True):
        levels = np.sort(2_000.0 + rng.lognormal(np.log(9_000.0), 1.25, count))[::-1]
        for level in levels:
            code, word, intensity = INDUSTRIES[int(rng.integers(len(INDUSTRIES)))]
            name = _firm_name(rng, county, word, names)
            size = next(label for floor, label in SIZE_CLASSES if level >= floor)
            firms.append(Enterprise(
                id=f"ent{len(firms) + 1:03d}", name=name, county=county, industry=code, size=size,
                above_scale=int(rng.integers(2003, ENTERPRISE_YEAR)), level=float(round(level, 1)),
                growth=float(rng.normal(6.0, 4.0)), intensity=intensity * float(np.exp(rng.normal(0, 0.2)))))
    return tuple(_plant_categories(firms))


def _firm_name(rng: np.random.Generator, county: str, word: str, taken: set[str]) -> str:
    while True:
        pick = rng.choice(len(NAME_WORDS), 2, replace=False)
        name = f"{COUNTY_NAMES[county]}{NAME_WORDS[pick[0]]}{NAME_WORDS[pick[1]]}{word}有限公司"
        if name not in taken:
            taken.add(name)
            return name


def _plant_categories(firms: list[Enterprise]) -> list[Enterprise]:
    by_county: dict[str, list[int]] = {}
    for position, firm in enumerate(firms):
        by_county.setdefault(firm.county, []).append(position)  # already largest first
    for category, county, rank in PLANTED_FIRMS:
        position = by_county[county][rank - 1]
        firm = firms[position]
        changes: dict[str, object] = {"category": category}
        if category == "new":  # just crossed the threshold: 2000万元 of revenue last year
            changes |= {"above_scale": ENTERPRISE_YEAR, "level": 2_150.0, "size": "small"}
        firms[position] = dataclasses.replace(firm, **changes)
    return firms


def enterprises_rules() -> str:
    """The entity declarations of the population: the committed rules/taian/enterprises.rules."""
    lines = ["# 规上工业企业（演示企业库）。本文件由 server/demo.py 的 enterprises_rules() 生成，不要手改：",
             "# .venv/bin/python -c 'from server import demo; demo.write_enterprises_rules()'",
             "# industry 为国民经济行业分类（GB/T 4754）大类，size 为规模（large 大型、medium 中型、small 小型），",
             "# above_scale 为纳入规模以上统计的年份。", "", 'import "regions.rules"', ""]
    for firm in enterprises():
        lines.append(f'entity {firm.id} "{firm.name}" enterprise in {firm.county} '
                     f'{{ industry "{firm.industry}" size {firm.size} above_scale {firm.above_scale} }}')
    return "\n".join(lines) + "\n"


def write_enterprises_rules(path: Path = ENTERPRISES_FILE) -> None:
    path.write_text(enterprises_rules(), encoding="utf-8")


def _firm_growth(firm: Enterprise, years: np.ndarray, shocks: np.ndarray, column: int) -> np.ndarray:
    """Annual growth (%) per calendar year of one firm's output (column 0), power use (1) or orders (2)."""
    growth = firm.growth + shocks
    if firm.category is not None:
        growth = np.where(years >= ENTERPRISE_YEAR, PLANTED_GROWTH[firm.category][column], growth)
    return growth


def _enterprise_panel(w: World) -> dict[str, np.ndarray]:
    """Single-month output, revenue, power use and orders per firm (rows in population order)."""
    firms = enterprises()
    cal = w.cal
    years = np.arange(BURN_IN_YEAR, int(cal.years[-1]) + 1)
    season = (np.array(SEASONS["industry"]) / np.mean(SEASONS["industry"]))[cal.months - 1]
    out = {name: np.empty((len(firms), cal.n)) for name in ("ent_output", "ent_power", "ent_orders")}
    for row, firm in enumerate(firms):
        shocks = w.rng.normal(0.0, 3.0, len(years))
        for column, name in enumerate(("ent_output", "ent_power", "ent_orders")):
            growth = _firm_growth(firm, years, shocks + w.rng.normal(0.0, 1.0, len(years)), column)
            index = np.cumprod(1 + growth / 100)
            index /= index[years == ENTERPRISE_YEAR - 1][0] if (years == ENTERPRISE_YEAR - 1).any() else index[-1]
            scale = firm.level * (firm.intensity if name == "ent_power" else 1.0) / 12
            monthly = scale * index[cal.years - BURN_IN_YEAR] * season
            out[name][row] = monthly * np.exp(w.rng.normal(0.0, 0.03, cal.n))
        first_year = firm.above_scale - 1  # a firm new to 规上 reports its previous year too (同口径)
        for values in out.values():
            values[row, cal.years < first_year] = np.nan
    out["ent_revenue"] = out["ent_output"] * np.exp(w.rng.normal(np.log(0.97), 0.02, out["ent_output"].shape))
    return out


def _enterprises(w: World) -> None:
    """Enterprise data in published form (ytd, 1–2月 merged), with each county and the city as the sum of
    their firms, so `share()`, `pull()` and `contribution()` of a firm refer to its county's total."""
    firms = enterprises()
    cal = w.cal
    first = int(cal.years[-1]) - ENTERPRISE_YEARS + 1
    labels = [(t, cal.label(t)) for t in range(cal.n) if cal.years[t] >= first and cal.months[t] != 1]
    members = np.array([[firm.county == county for firm in firms] for county in COUNTIES], dtype=float)
    for name, single in _enterprise_panel(w).items():
        ytd = _round(_ytd(single, cal), 1)
        counties = _round(members @ np.nan_to_num(ytd), 1)
        panel = np.vstack([ytd, counties, _round(counties.sum(axis=0), 1)])
        for row, entity in enumerate((*(f.id for f in firms), *COUNTIES, CITY)):
            values = panel[row]
            for t, label in labels:
                w.counties.sink.add(name, entity, label, values[t])


# ----------------------------------------------------------------------------- anomalies


@dataclass(frozen=True)
class Anomaly:
    """One planted anomaly: what was changed, and the rule or check that must catch it."""

    id: str
    title: str
    rule: str  # rule or check id
    entity: str  # where the finding appears
    indicator: str
    periods: tuple[str, ...]  # periods in which the finding may appear
    months: tuple[str, ...] = ()  # latent months that were changed


def _month_label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def _last_months(year: int, month: int, k: int, skip_january: bool = False) -> tuple[str, ...]:
    found: list[str] = []
    while len(found) < k:
        if not (skip_january and month == 1):
            found.append(_month_label(year, month))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return tuple(reversed(found))


def anomalies(end: str | None = None) -> list[Anomaly]:
    """The documented anomalies planted by `generate(end=end)` (docs/demo-data.md)."""
    year, month = _parse_end(end)
    quarter_year, quarter = (year, month // 3) if month >= 3 else (year - 1, 4)
    budget_year = year if month >= 7 else year - 1
    budget_months = tuple(_month_label(budget_year, m) for m in range(1, 13)
                          if (budget_year, m) <= (year, month))
    last4 = _last_months(year, month, 4)
    last5 = _last_months(year, month, 5)
    last6 = _last_months(year, month, 6)
    return [
        Anomaly("xintai_ind_va", "新泰市规上工业增速连续三个月高出全市8个百分点以上", "ind_va_vs_city", "xintai",
                "ind_va", _last_months(year, month, 3, skip_january=True)),
        Anomaly("feicheng_power", "肥城市工业增加值保持增长而工业用电量下降", "ind_va_vs_power", "feicheng",
                "power_ind", _last_months(year, month, 4, skip_january=True), last4),
        Anomaly("dongping_invest", "东平县固定资产投资断崖式下滑，全市平稳", "invest_peer_outlier", "dongping",
                "fixed_invest", _last_months(year, month, 5, skip_january=True), last5),
        Anomaly("ningyang_missing", "宁阳县最近一个月的月报未报送", "complete_monthly", "ningyang", "retail",
                (_month_label(year, month),)),
        Anomaly("daiyue_gdp_parts", "岱岳区第三产业增加值录入错误，三次产业之和不等于GDP", "gdp_parts", "daiyue",
                "gdp_tertiary", (f"{quarter_year}Q{quarter}",)),
        Anomaly("taishan_deposits", "泰山区存款余额水平突降（大额存款迁出）", "deposit_changepoint", "taishan",
                "deposits", last6, last6),
        Anomaly("dongping_budget", f"东平县{budget_year}年一般公共预算收入序时进度明显滞后", "budget_progress",
                "dongping", "budget_rev", budget_months, budget_months),
    ]


def _plant_rows(rows: list[dict], planted: list[Anomaly]) -> list[dict]:
    """Anomalies that live in the published rows rather than in the latent series."""
    by_id = {a.id: a for a in planted}
    xintai = by_id.get("xintai_ind_va")
    city_va = {r["period"]: r["value"] for r in rows if r["indicator"] == "ind_va" and r["entity"] == CITY}
    missing = by_id.get("ningyang_missing")
    parts = by_id.get("daiyue_gdp_parts")
    kept: list[dict] = []
    for row in rows:
        key = (row["indicator"], row["entity"], row["period"])
        if missing and row["entity"] == "ningyang" and row["period"] in missing.periods:
            continue  # the county's monthly template never arrived
        if xintai and key[:2] == ("ind_va", "xintai") and row["period"] in xintai.periods:
            # Growth reported far above the city, with no matching power use: the 统计 data-quality case.
            lift = (8.6, 9.4, 9.1)[xintai.periods.index(row["period"])]
            row = {**row, "value": round(city_va[row["period"]] + lift, 1)}
        if parts and key[:2] == ("gdp_tertiary", "daiyue") and row["period"] in parts.periods:
            row = {**row, "value": round(row["value"] + 9.0, 2)}  # two digits transposed on entry
        kept.append(row)
    return kept


# ----------------------------------------------------------------------------- entry points


def generate(seed: int = 2026, end: str | None = None, *, plant: bool = True) -> list[dict]:
    """Long-format demo rows from 2016-01 to `end` (YYYY-MM; default the last full month)."""
    year, month = _parse_end(end)
    end_label = _month_label(year, month)
    rng = np.random.default_rng(seed)
    cal = Calendar.until(year, month)
    sink = Sink(cal, [])
    planted = anomalies(end_label)
    world = World(rng, cal, Latent(rng, cal), Publisher(sink, (*COUNTIES, CITY)), plant, planted)
    va_real = _industry(world)
    _investment(world)
    _consumption(world)
    _fiscal(world)
    _finance(world)
    _trade(world)
    _services(world)
    _gdp(world, va_real)
    _income(world)
    _prices(world)
    _province(world)
    _zones(world)
    _enterprises(world)
    rows = sink.rows
    return _plant_rows(rows, planted) if plant else rows


def write_csv(rows: Iterable[Mapping[str, object]], path: str | Path) -> None:
    """Write rows in the long CSV format (`indicator,entity,period,value`)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["indicator", "entity", "period", "value"],
                                extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "value": _format_value(float(row["value"]))})


def _format_value(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(round(value, 4))
