"""Typed statistical periods (2026-03, 2026Q1, 2026) and the contiguous axes the engine aligns data on.

Arithmetic is by period, not by clock: a period is an integer ordinal within its frequency, so
"previous period" and "same period last year" are exact integer offsets.
"""

from __future__ import annotations

import calendar
import datetime
import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

FREQUENCIES: tuple[str, ...] = ("monthly", "quarterly", "annual")
PER_YEAR: dict[str, int] = {"monthly": 12, "quarterly": 4, "annual": 1}

MIN_YEAR = 1900
MAX_YEAR = 2200

_MONTHS_PER_SUB: dict[str, int] = {"monthly": 1, "quarterly": 3, "annual": 12}
_FREQ_NAMES: dict[str, str] = {"monthly": "月度", "quarterly": "季度", "annual": "年度"}

# ASCII digits only: `\d` would also accept full-width digits such as "２０２６".
_MONTHLY = re.compile(r"([0-9]{4})-([0-9]{2})")
_QUARTERLY = re.compile(r"([0-9]{4})[Qq]([0-9]+)")
_ANNUAL = re.compile(r"([0-9]{4})")


class PeriodError(ValueError):
    """A period that cannot exist, or two periods that cannot be combined; the message is for users."""


def _check_freq(freq: object) -> str:
    if freq not in PER_YEAR:
        raise PeriodError(f"未知的频率「{freq}」：应为 monthly、quarterly 或 annual")
    return str(freq)


def _year_problem(year: int) -> str | None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        return f"年份应在{MIN_YEAR}至{MAX_YEAR}之间"
    return None


def _sub_problem(freq: str, sub: int) -> str | None:
    if freq == "monthly" and not 1 <= sub <= 12:
        return "月份应为01至12"
    if freq == "quarterly" and not 1 <= sub <= 4:
        return "季度应为1至4"
    if freq == "annual" and sub != 1:
        return "年度期别没有月份或季度"
    return None


def _match(text: str) -> tuple[str, int, int] | None:
    """(freq, year, sub) for a well-formed text, without range checks."""
    if m := _MONTHLY.fullmatch(text):
        return "monthly", int(m[1]), int(m[2])
    if m := _QUARTERLY.fullmatch(text):
        return "quarterly", int(m[1]), int(m[2])
    if m := _ANNUAL.fullmatch(text):
        return "annual", int(m[1]), 1
    return None


@dataclass(frozen=True, order=True)
class Period:
    freq: str
    ordinal: int  # year * per_year + (sub - 1)

    def __post_init__(self) -> None:
        _check_freq(self.freq)
        # Normalise numpy integers so that equal periods hash equally.
        object.__setattr__(self, "ordinal", operator.index(self.ordinal))

    @classmethod
    def parse(cls, text: str) -> Period:
        if not isinstance(text, str):
            raise PeriodError(f"无效的期别「{text}」：应为文本")
        cleaned = text.strip()
        parts = _match(cleaned)
        if parts is None:
            raise PeriodError(f"无效的期别「{cleaned}」：格式应为2026-03（月）、2026Q1（季）或2026（年）")
        freq, year, sub = parts
        problem = _year_problem(year) or _sub_problem(freq, sub)
        if problem:
            raise PeriodError(f"无效的期别「{cleaned}」：{problem}")
        return cls(freq, year * PER_YEAR[freq] + sub - 1)

    @classmethod
    def of(cls, freq: str, year: int, sub: int) -> Period:
        _check_freq(freq)
        year, sub = operator.index(year), operator.index(sub)
        problem = _year_problem(year) or _sub_problem(freq, sub)
        if problem:
            raise PeriodError(f"无效的{_FREQ_NAMES[freq]}期别（{year}年第{sub}期）：{problem}")
        return cls(freq, year * PER_YEAR[freq] + sub - 1)

    @property
    def per_year(self) -> int:
        return PER_YEAR[self.freq]

    @property
    def year(self) -> int:
        return self.ordinal // self.per_year

    @property
    def sub(self) -> int:
        return self.ordinal % self.per_year + 1

    def __str__(self) -> str:
        if self.freq == "monthly":
            return f"{self.year:04d}-{self.sub:02d}"
        if self.freq == "quarterly":
            return f"{self.year:04d}Q{self.sub}"
        return f"{self.year:04d}"

    def __add__(self, k: int) -> Period:
        try:
            steps = operator.index(k)
        except TypeError:
            return NotImplemented
        return Period(self.freq, self.ordinal + steps)

    __radd__ = __add__

    def __sub__(self, other: Period | int) -> Period | int:
        if isinstance(other, Period):
            if other.freq != self.freq:
                raise PeriodError(f"期别「{self}」与「{other}」的频率不同，不能相减")
            return self.ordinal - other.ordinal
        try:
            steps = operator.index(other)
        except TypeError:
            return NotImplemented
        return Period(self.freq, self.ordinal - steps)

    def last_year(self) -> Period:
        return Period(self.freq, self.ordinal - self.per_year)

    def _first_month(self) -> int:
        return (self.sub - 1) * _MONTHS_PER_SUB[self.freq] + 1

    def _last_month(self) -> int:
        return self.sub * _MONTHS_PER_SUB[self.freq]

    def start_date(self) -> datetime.date:
        return datetime.date(self.year, self._first_month(), 1)

    def end_date(self) -> datetime.date:
        month = self._last_month()
        return datetime.date(self.year, month, calendar.monthrange(self.year, month)[1])

    def release_date(self, day: int) -> datetime.date:
        """`day` of the month after the period ends; day 31 means the last day of a shorter month."""
        if not 1 <= day <= 31:
            raise PeriodError(f"发布日应为1至31，得到{day}")
        year, month = self.year, self._last_month() + 1
        if month > 12:
            year, month = year + 1, 1
        return datetime.date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _same_freq(first: Period, second: Period) -> None:
    if first.freq != second.freq:
        raise PeriodError(f"期别「{first}」与「{second}」的频率不同")


def period_range(start: Period, end: Period) -> list[Period]:
    _same_freq(start, end)
    if end.ordinal < start.ordinal:
        raise PeriodError(f"期别范围「{start}..{end}」的终点早于起点")
    return [Period(start.freq, o) for o in range(start.ordinal, end.ordinal + 1)]


def elapsed_share(period: Period) -> float:
    return period.sub / period.per_year


@dataclass(frozen=True)
class Axis:
    """A contiguous run of periods of one frequency; position i holds ordinal start + i."""

    freq: str
    start: int
    length: int

    def __post_init__(self) -> None:
        _check_freq(self.freq)
        object.__setattr__(self, "start", operator.index(self.start))
        object.__setattr__(self, "length", operator.index(self.length))
        if self.length < 0:
            raise ValueError(f"axis length must be >= 0, got {self.length}")

    @classmethod
    def spanning(cls, periods: Iterable[Period]) -> Axis:
        items = list(periods)
        if not items:
            raise PeriodError("没有任何期别，无法确定期别范围")
        for p in items[1:]:
            _same_freq(items[0], p)
        return cls.between(min(items), max(items))

    @classmethod
    def between(cls, first: Period, last: Period) -> Axis:
        _same_freq(first, last)
        if last.ordinal < first.ordinal:
            raise PeriodError(f"期别范围「{first}..{last}」的终点早于起点")
        return cls(first.freq, first.ordinal, last.ordinal - first.ordinal + 1)

    @property
    def per_year(self) -> int:
        return PER_YEAR[self.freq]

    @property
    def first(self) -> Period:
        return Period(self.freq, self.start)

    @property
    def last(self) -> Period:
        return Period(self.freq, self.start + self.length - 1)

    def __len__(self) -> int:
        return self.length

    @cached_property
    def periods(self) -> list[Period]:
        return [Period(self.freq, self.start + i) for i in range(self.length)]

    @cached_property
    def _ordinals(self) -> np.ndarray:
        return np.arange(self.start, self.start + self.length, dtype=np.int64)

    @cached_property
    def years(self) -> np.ndarray:
        # Read-only because the array is cached and shared by every caller.
        return _frozen(self._ordinals // self.per_year)

    @cached_property
    def subs(self) -> np.ndarray:
        return _frozen(self._ordinals % self.per_year + 1)

    def __contains__(self, period: object) -> bool:
        return (
            isinstance(period, Period)
            and period.freq == self.freq
            and self.start <= period.ordinal < self.start + self.length
        )

    def index(self, period: Period) -> int:
        if period not in self:
            raise KeyError(f"期别「{period}」不在期别轴上")
        return period.ordinal - self.start

    def extended(self, first: Period, last: Period) -> Axis:
        _same_freq(first, last)
        if first.freq != self.freq:
            raise PeriodError(f"期别「{first}」与期别轴的频率不同")
        lo, hi = min(first.ordinal, last.ordinal), max(first.ordinal, last.ordinal)
        if self.length:
            lo, hi = min(lo, self.start), max(hi, self.start + self.length - 1)
        return Axis(self.freq, lo, hi - lo + 1)


def _frozen(values: np.ndarray) -> np.ndarray:
    values.setflags(write=False)
    return values
