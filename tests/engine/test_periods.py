"""Period arithmetic, parsing, calendar dates and axes."""

from __future__ import annotations

import datetime
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.periods import (
    FREQUENCIES,
    PER_YEAR,
    Axis,
    Period,
    PeriodError,
    elapsed_share,
    period_range,
)

P = Period.parse


@st.composite
def periods(draw: st.DrawFn, freq: str | None = None) -> Period:
    freq = freq or draw(st.sampled_from(FREQUENCIES))
    year = draw(st.integers(1900, 2200))
    sub = draw(st.integers(1, PER_YEAR[freq]))
    return Period.of(freq, year, sub)


# ---------------------------------------------------------------- parsing and printing


@pytest.mark.parametrize(
    ("text", "freq", "year", "sub"),
    [
        ("2026-03", "monthly", 2026, 3),
        ("2026-12", "monthly", 2026, 12),
        ("2026Q1", "quarterly", 2026, 1),
        ("2026q4", "quarterly", 2026, 4),
        ("2026", "annual", 2026, 1),
        ("  2026-01\t", "monthly", 2026, 1),
        ("1900-01", "monthly", 1900, 1),
        ("2200Q4", "quarterly", 2200, 4),
    ],
)
def test_parse_valid(text: str, freq: str, year: int, sub: int) -> None:
    p = P(text)
    assert (p.freq, p.year, p.sub) == (freq, year, sub)


def test_ordinal_is_year_times_per_year_plus_sub_minus_one() -> None:
    assert P("2026-03").ordinal == 2026 * 12 + 2
    assert P("2026Q2").ordinal == 2026 * 4 + 1
    assert P("2026").ordinal == 2026


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-13", "月份应为01至12"),
        ("2026-00", "月份应为01至12"),
        ("2026Q0", "季度应为1至4"),
        ("2026Q5", "季度应为1至4"),
        ("2026Q10", "季度应为1至4"),
        ("1899", "年份应在1900至2200之间"),
        ("2201-01", "年份应在1900至2200之间"),
        ("2026-3", "格式应为"),
        ("2026-03-01", "格式应为"),
        ("26-03", "格式应为"),
        ("2026M03", "格式应为"),
        ("2026 Q1", "格式应为"),
        ("２０２６", "格式应为"),  # full-width digits are not ASCII digits
        ("", "格式应为"),
        ("abc", "格式应为"),
    ],
)
def test_parse_rejects_with_chinese_message_naming_the_text(text: str, reason: str) -> None:
    with pytest.raises(PeriodError) as err:
        P(text)
    assert f"「{text.strip()}」" in str(err.value)
    assert reason in str(err.value)


def test_parse_message_example_from_the_brief() -> None:
    with pytest.raises(PeriodError, match=r"^无效的期别「2026-13」：月份应为01至12$"):
        P("2026-13")


def test_parse_rejects_non_text() -> None:
    with pytest.raises(PeriodError):
        P(202603)  # type: ignore[arg-type]


def test_period_error_is_a_value_error() -> None:
    assert issubclass(PeriodError, ValueError)


@pytest.mark.parametrize("text", ["2026-03", "2026Q1", "2026", "1900-01", "2200Q4"])
def test_str_round_trips(text: str) -> None:
    assert str(P(text)) == text


def test_str_normalises_lowercase_quarter() -> None:
    assert str(P("2026q2")) == "2026Q2"


def test_of() -> None:
    assert Period.of("monthly", 2026, 3) == P("2026-03")
    assert Period.of("quarterly", 2026, 4) == P("2026Q4")
    assert Period.of("annual", 2026, 1) == P("2026")


@pytest.mark.parametrize(
    ("freq", "year", "sub"),
    [
        ("monthly", 2026, 13),
        ("monthly", 2026, 0),
        ("quarterly", 2026, 5),
        ("annual", 2026, 2),
        ("monthly", 1899, 1),
        ("weekly", 2026, 1),
    ],
)
def test_of_rejects(freq: str, year: int, sub: int) -> None:
    with pytest.raises(PeriodError):
        Period.of(freq, year, sub)


def test_constructor_rejects_unknown_frequency() -> None:
    with pytest.raises(PeriodError, match="未知的频率「weekly」"):
        Period("weekly", 10)


def test_numpy_ordinal_is_normalised_for_hashing() -> None:
    p = Period("monthly", np.int64(24314))
    assert p == P("2026-03")
    assert hash(p) == hash(P("2026-03"))
    assert type(p.ordinal) is int


def test_properties() -> None:
    p = P("2026Q3")
    assert (p.year, p.sub, p.per_year) == (2026, 3, 4)
    assert P("2026").sub == 1
    assert P("2026-11").per_year == 12


def test_ordering_within_a_frequency() -> None:
    items = [P("2026-01"), P("2025-12"), P("2026-03")]
    assert sorted(items) == [P("2025-12"), P("2026-01"), P("2026-03")]
    assert P("2025-12") < P("2026-01")


# ---------------------------------------------------------------- arithmetic


def test_add_and_subtract_cross_year_boundaries() -> None:
    assert P("2026-01") - 1 == P("2025-12")
    assert P("2025-12") + 1 == P("2026-01")
    assert P("2026Q4") + 1 == P("2027Q1")
    assert P("2026Q1") + 3 == P("2026Q4")
    assert P("2026") + 2 == P("2028")
    assert 2 + P("2026-11") == P("2027-01")
    assert P("2026-03") + 0 == P("2026-03")
    assert P("2026-03") + np.int64(1) == P("2026-04")


def test_period_minus_period_is_a_count() -> None:
    assert P("2026-03") - P("2025-03") == 12
    assert P("2026Q1") - P("2026Q4") == -3
    assert P("2026") - P("2026") == 0


def test_period_minus_period_of_other_frequency_raises() -> None:
    with pytest.raises(PeriodError, match="频率不同"):
        P("2026-03") - P("2026Q1")


def test_adding_a_non_integer_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        P("2026-03") + 1.5  # type: ignore[operator]
    with pytest.raises(TypeError):
        P("2026-03") - "1"  # type: ignore[operator]


def test_last_year() -> None:
    assert P("2026-03").last_year() == P("2025-03")
    assert P("2026Q1").last_year() == P("2025Q1")
    assert P("2026").last_year() == P("2025")


# ---------------------------------------------------------------- calendar dates


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-03", datetime.date(2026, 3, 1), datetime.date(2026, 3, 31)),
        ("2026-04", datetime.date(2026, 4, 1), datetime.date(2026, 4, 30)),
        ("2024-02", datetime.date(2024, 2, 1), datetime.date(2024, 2, 29)),  # leap year
        ("2023-02", datetime.date(2023, 2, 1), datetime.date(2023, 2, 28)),
        ("2100-02", datetime.date(2100, 2, 1), datetime.date(2100, 2, 28)),  # century, not leap
        ("2000-02", datetime.date(2000, 2, 1), datetime.date(2000, 2, 29)),  # divisible by 400: leap
        ("2026Q1", datetime.date(2026, 1, 1), datetime.date(2026, 3, 31)),
        ("2026Q2", datetime.date(2026, 4, 1), datetime.date(2026, 6, 30)),
        ("2026Q4", datetime.date(2026, 10, 1), datetime.date(2026, 12, 31)),
        ("2026", datetime.date(2026, 1, 1), datetime.date(2026, 12, 31)),
    ],
)
def test_start_and_end_dates(text: str, start: datetime.date, end: datetime.date) -> None:
    assert P(text).start_date() == start
    assert P(text).end_date() == end


@pytest.mark.parametrize(
    ("text", "day", "expected"),
    [
        ("2026-03", 15, datetime.date(2026, 4, 15)),
        ("2024-01", 31, datetime.date(2024, 2, 29)),  # clamped to a leap February
        ("2023-01", 30, datetime.date(2023, 2, 28)),  # clamped to a common February
        ("2026-05", 31, datetime.date(2026, 6, 30)),
        ("2025-12", 20, datetime.date(2026, 1, 20)),  # the following month is in the next year
        ("2025Q4", 20, datetime.date(2026, 1, 20)),
        ("2026Q1", 15, datetime.date(2026, 4, 15)),
        ("2025", 31, datetime.date(2026, 1, 31)),
        ("2026-03", 1, datetime.date(2026, 4, 1)),
    ],
)
def test_release_date(text: str, day: int, expected: datetime.date) -> None:
    assert P(text).release_date(day) == expected


@pytest.mark.parametrize("day", [0, -1, 32])
def test_release_date_rejects_impossible_days(day: int) -> None:
    with pytest.raises(PeriodError, match="发布日"):
        P("2026-03").release_date(day)


# ---------------------------------------------------------------- ranges and shares


def test_period_range_is_inclusive_across_years() -> None:
    expected = [P("2025-11"), P("2025-12"), P("2026-01"), P("2026-02")]
    assert period_range(P("2025-11"), P("2026-02")) == expected
    assert period_range(P("2026Q2"), P("2026Q2")) == [P("2026Q2")]


def test_period_range_errors() -> None:
    with pytest.raises(PeriodError, match="频率不同"):
        period_range(P("2026-01"), P("2026Q2"))
    with pytest.raises(PeriodError, match="早于起点"):
        period_range(P("2026-03"), P("2026-02"))


@pytest.mark.parametrize(
    ("text", "share"),
    [("2026-03", 0.25), ("2026-12", 1.0), ("2026-06", 0.5), ("2026Q2", 0.5), ("2026Q1", 0.25), ("2026", 1.0)],
)
def test_elapsed_share(text: str, share: float) -> None:
    assert elapsed_share(P(text)) == share


# ---------------------------------------------------------------- axes


def test_axis_between() -> None:
    axis = Axis.between(P("2025-11"), P("2026-02"))
    assert (axis.freq, axis.start, axis.length, len(axis)) == ("monthly", P("2025-11").ordinal, 4, 4)
    assert axis.periods == period_range(P("2025-11"), P("2026-02"))
    assert axis.years.tolist() == [2025, 2025, 2026, 2026]
    assert axis.subs.tolist() == [11, 12, 1, 2]
    assert axis.per_year == 12
    assert (axis.first, axis.last) == (P("2025-11"), P("2026-02"))


def test_axis_arrays_are_read_only() -> None:
    axis = Axis.between(P("2026Q1"), P("2026Q4"))
    with pytest.raises(ValueError):
        axis.subs[0] = 9
    assert axis.subs.tolist() == [1, 2, 3, 4]


def test_axis_spanning_takes_min_and_max() -> None:
    axis = Axis.spanning([P("2026Q3"), P("2025Q4"), P("2026Q1")])
    assert axis == Axis.between(P("2025Q4"), P("2026Q3"))
    assert axis.length == 4


def test_axis_spanning_errors() -> None:
    with pytest.raises(PeriodError):
        Axis.spanning([])
    with pytest.raises(PeriodError, match="频率不同"):
        Axis.spanning([P("2026-01"), P("2026Q1")])
    with pytest.raises(PeriodError, match="早于起点"):
        Axis.between(P("2026-03"), P("2026-01"))


def test_axis_index_and_contains() -> None:
    axis = Axis.between(P("2025-11"), P("2026-02"))
    assert axis.index(P("2025-11")) == 0
    assert axis.index(P("2026-02")) == 3
    assert P("2026-01") in axis
    assert P("2026-03") not in axis
    assert P("2026Q1") not in axis
    assert "2026-01" not in axis
    for outside in (P("2025-10"), P("2026-03"), P("2026Q1"), P("2026")):
        with pytest.raises(KeyError):
            axis.index(outside)


def test_axis_extended_is_the_union_span() -> None:
    axis = Axis.between(P("2026-03"), P("2026-06"))
    assert axis.extended(P("2025-03"), P("2025-04")) == Axis.between(P("2025-03"), P("2026-06"))
    assert axis.extended(P("2026-04"), P("2026-05")) == axis
    assert axis.extended(P("2026-05"), P("2026-09")) == Axis.between(P("2026-03"), P("2026-09"))
    with pytest.raises(PeriodError):
        axis.extended(P("2026Q1"), P("2026Q2"))


def test_empty_axis() -> None:
    axis = Axis("monthly", P("2026-01").ordinal, 0)
    assert axis.periods == []
    assert axis.years.shape == (0,)
    assert P("2026-01") not in axis
    assert axis.extended(P("2026-02"), P("2026-03")) == Axis.between(P("2026-02"), P("2026-03"))
    with pytest.raises(ValueError):
        Axis("monthly", 0, -1)


def test_axis_is_hashable_and_compares_by_fields() -> None:
    a = Axis.between(P("2026-01"), P("2026-12"))
    b = Axis.between(P("2026-01"), P("2026-12"))
    assert a == b
    assert hash(a) == hash(b)
    _ = a.periods  # filling the cache must not change equality
    assert a == b


# ---------------------------------------------------------------- properties


@settings(max_examples=200)
@given(periods())
def test_prop_parse_str_round_trip(p: Period) -> None:
    assert Period.parse(str(p)) == p


@settings(max_examples=200)
@given(periods(), st.integers(-500, 500))
def test_prop_add_then_subtract(p: Period, k: int) -> None:
    assert (p + k) - k == p
    assert (p + k) - p == k


@settings(max_examples=200)
@given(periods())
def test_prop_last_year(p: Period) -> None:
    previous = p.last_year()
    assert previous.year == p.year - 1
    assert previous.sub == p.sub
    assert previous.freq == p.freq


@settings(max_examples=100)
@given(st.sampled_from(FREQUENCIES).flatmap(lambda f: st.tuples(periods(f), st.integers(0, 60))))
def test_prop_period_range_length(case: tuple[Period, int]) -> None:
    start, k = case
    end = start + k
    items = period_range(start, end)
    assert len(items) == end - start + 1
    assert items[0] == start
    assert items[-1] == end


@settings(max_examples=100)
@given(st.sampled_from(FREQUENCIES).flatmap(lambda f: st.tuples(periods(f), st.integers(0, 60))))
def test_prop_axis_index(case: tuple[Period, int]) -> None:
    start, k = case
    axis = Axis.between(start, start + k)
    for i, p in enumerate(axis.periods):
        assert axis.index(p) == i
        assert axis.years[i] == p.year
        assert axis.subs[i] == p.sub


@settings(max_examples=100)
@given(st.sampled_from(FREQUENCIES), st.integers(1900, 2200))
def test_prop_elapsed_share_monotone_within_a_year(freq: str, year: int) -> None:
    shares = [elapsed_share(Period.of(freq, year, s)) for s in range(1, PER_YEAR[freq] + 1)]
    assert all(a < b for a, b in itertools.pairwise(shares))
    assert shares[0] > 0
    assert shares[-1] == 1.0


@settings(max_examples=100)
@given(periods())
def test_prop_dates_are_consistent(p: Period) -> None:
    assert p.start_date() <= p.end_date()
    assert p.end_date() + datetime.timedelta(days=1) == (p + 1).start_date()
    assert p.release_date(1) == p.end_date() + datetime.timedelta(days=1)
