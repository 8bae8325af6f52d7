"""Validating data rows and building the panel: every bad row reported at once, nothing kept of a bad batch."""

from __future__ import annotations

import datetime
import math

import numpy as np
import pytest

import dsl
import engine
from engine.panel import DataError, Observation, RowError, build_panel, validate
from engine.periods import Period

MODEL = dsl.load_text("""
entity taian    "泰安市" city
entity xintai   "新泰市" county_city in taian
entity feicheng "肥城市" county_city in taian
indicator power  "工业用电量" { unit "万千瓦时" frequency monthly form ytd jan_feb merged additive }
indicator retail "社会消费品零售总额" { unit "亿元" frequency monthly form period }
indicator gdp    "地区生产总值" { unit "亿元" frequency quarterly form ytd additive }
indicator pop    "常住人口" { unit "万人" frequency annual form stock }
rule power_high "用电量过高" { when power > 100 }
""")


def row(indicator: str = "power", entity: str = "xintai", period: str = "2026-03", value: object = 1.0,
        **extra: object) -> dict[str, object]:
    return {"indicator": indicator, "entity": entity, "period": period, "value": value, **extra}


def errors_of(rows: list[dict[str, object]], first_row: int = 1) -> list[RowError]:
    with pytest.raises(DataError) as caught:
        validate(MODEL, rows, first_row)
    return caught.value.errors


def single_error(bad: dict[str, object]) -> RowError:
    """The bad row as row 2 of three: the error names row 2."""
    found = errors_of([row(period="2026-03"), bad, row(period="2026-04")])
    assert len(found) == 1, found
    assert found[0].row == 2
    return found[0]


# ----------------------------------------------------------------------------- good rows


def test_good_rows_become_observations():
    found = validate(MODEL, [row(value=1.5), row(indicator="gdp", period="2026Q1", value="1,234.5"),
                             row(indicator="pop", period="2025", value=-3, vintage="2"),
                             row(entity=" feicheng ", period=" 2026-04 ", value=" 7 ")])
    assert found == [
        Observation("power", "xintai", Period.parse("2026-03"), 1.5, 0),
        Observation("gdp", "xintai", Period.parse("2026Q1"), 1234.5, 0),
        Observation("pop", "xintai", Period.parse("2025"), -3.0, 2),
        Observation("power", "feicheng", Period.parse("2026-04"), 7.0, 0),
    ]


def test_identical_duplicates_are_accepted():
    assert len(validate(MODEL, [row(value=2.0), row(value="2")])) == 2


def test_same_cell_in_two_vintages_is_not_a_conflict():
    assert len(validate(MODEL, [row(value=2.0, vintage=1), row(value=3.0, vintage=2)])) == 2


# ----------------------------------------------------------------------------- each kind of bad row


def test_unknown_indicator_with_suggestion():
    error = single_error(row(indicator="powr"))
    assert error.column == "indicator"
    assert "powr" in error.reason and "是否应为" in error.reason and "power" in error.reason


def test_unknown_entity_with_suggestion():
    error = single_error(row(entity="xintia"))
    assert error.column == "entity"
    assert "xintia" in error.reason and "是否应为" in error.reason and "xintai" in error.reason


def test_unknown_name_without_a_close_match_has_no_suggestion():
    error = single_error(row(entity="beijing"))
    assert error.column == "entity" and "beijing" in error.reason and "是否应为" not in error.reason


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "2026/03", "26-03", "2026Q5", "March", "２０２６-03"])
def test_bad_period(period):
    error = single_error(row(period=period))
    assert error.column == "period"
    assert period.strip() in error.reason


@pytest.mark.parametrize(("indicator", "period"), [("power", "2026Q1"), ("power", "2026"), ("gdp", "2026-03"),
                                                    ("pop", "2026Q1")])
def test_period_of_the_wrong_frequency(indicator, period):
    error = single_error(row(indicator=indicator, period=period))
    assert error.column == "period"
    assert period in error.reason and MODEL.indicators[indicator].name in error.reason


@pytest.mark.parametrize("value", ["abc", "1.2.3", "十", True, "1e", object()])
def test_non_numeric_value(value):
    error = single_error(row(value=value))
    assert error.column == "value"
    assert "不是数字" in error.reason


@pytest.mark.parametrize("value", [math.nan, "NaN", "nan", np.float64("nan")])
def test_nan_value(value):
    error = single_error(row(value=value))
    assert error.column == "value"
    assert "NaN" in error.reason


@pytest.mark.parametrize("value", [math.inf, -math.inf, "inf", "-Infinity", "1e999"])
def test_infinite_value(value):
    error = single_error(row(value=value))
    assert error.column == "value"
    assert "无穷大" in error.reason


@pytest.mark.parametrize("column", ["indicator", "entity", "period", "value"])
def test_missing_column(column):
    bad = row()
    bad[column] = "" if column != "value" else None
    error = single_error(bad)
    assert error.column == column


def test_january_of_a_merged_indicator():
    error = single_error(row(period="2026-01"))
    assert error.column == "period"
    assert "1–2月" in error.reason and "2026-02" in error.reason


def test_january_of_a_separate_indicator_is_fine():
    assert len(validate(MODEL, [row(indicator="retail", period="2026-01")])) == 1


def test_conflicting_duplicates():
    found = errors_of([row(value=1.0), row(period="2026-04"), row(value=2.0)])
    assert [(e.row, e.column) for e in found] == [(3, "value")]
    # It names the row it conflicts with and both values.
    assert "第1行" in found[0].reason and "1" in found[0].reason and "2" in found[0].reason


def test_bad_vintage():
    error = single_error(row(vintage="v2"))
    assert error.column == "vintage"


# ----------------------------------------------------------------------------- all at once, atomic


def test_every_bad_row_is_reported_at_once():
    rows = [
        row(period="2026-03"),                       # 1 fine
        row(indicator="powr"),                       # 2 unknown indicator
        row(entity="xintia"),                        # 3 unknown entity
        row(period="2026-13"),                       # 4 bad period
        row(period="2026Q1"),                        # 5 wrong frequency
        row(period="2026-05", value="abc"),          # 6 not a number
        row(period="2026-06", value=math.nan),       # 7 NaN
        row(period="2026-07", value=math.inf),       # 8 inf
        row(period="2026-01"),                       # 9 January of a merged indicator
        row(period="2026-03", value=2.0),            # 10 conflicts with row 1
        row(indicator="retail", period="2026-01"),   # 11 fine
    ]
    found = errors_of(rows)
    assert [(e.row, e.column) for e in found] == [
        (2, "indicator"), (3, "entity"), (4, "period"), (5, "period"), (6, "value"), (7, "value"), (8, "value"),
        (9, "period"), (10, "value")]


def test_row_numbers_start_where_the_caller_says():
    # A CSV file with a header: the first data row is line 2.
    found = errors_of([row(), row(indicator="powr")], first_row=2)
    assert [(e.row, e.column) for e in found] == [(3, "indicator")]


def test_error_message_names_row_and_column():
    with pytest.raises(DataError) as caught:
        validate(MODEL, [row(), row(entity="xintia"), row(value="abc")])
    text = str(caught.value)
    lines = text.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("第2行 entity：") and lines[1].startswith("第3行 value：")
    assert caught.value.errors[0].render() == lines[0]


def test_a_bad_batch_returns_nothing():
    rows = [row(period="2026-03", value=500.0), row(period="2026-04", value="abc")]
    with pytest.raises(DataError):
        validate(MODEL, rows)
    # engine.run validates first: no panel is built and no finding comes out of a bad batch.
    with pytest.raises(DataError) as caught:
        engine.run(MODEL, rows, datetime.date(2026, 6, 1))
    assert [(e.row, e.column) for e in caught.value.errors] == [(2, "value")]


def test_rows_may_come_from_a_generator():
    rows = (row(period=p) for p in ("2026-03", "2026-13", "2026-05", "2026-01"))
    with pytest.raises(DataError) as caught:
        validate(MODEL, rows)
    assert [(e.row, e.column) for e in caught.value.errors] == [(2, "period"), (4, "period")]


# ----------------------------------------------------------------------------- the panel


def test_panel_aligns_rows_on_the_axis_and_keeps_the_latest_vintage():
    observations = validate(MODEL, [
        row(period="2026-02", value=10.0), row(period="2026-04", value=30.0, vintage=1),
        row(period="2026-04", value=33.0, vintage=2), row(entity="feicheng", period="2026-03", value=20.0),
        row(indicator="gdp", period="2026Q1", value=5.0),
    ])
    panel = build_panel(MODEL, observations, datetime.date(2026, 7, 10))
    # Monthly: 2026-02 to the last complete month (2026-06); quarterly: 2026Q1 to 2026Q2.
    assert [str(p) for p in panel.axes["monthly"].periods] == ["2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
    assert [str(p) for p in panel.axes["quarterly"].periods] == ["2026Q1", "2026Q2"]
    power = panel.array("power")
    xintai, feicheng = panel.entity_index["xintai"], panel.entity_index["feicheng"]
    np.testing.assert_array_equal(power[xintai], [10.0, np.nan, 33.0, np.nan, np.nan])
    np.testing.assert_array_equal(power[feicheng], [np.nan, 20.0, np.nan, np.nan, np.nan])
    # The first published vintage is kept for revision().
    assert panel.first["power"][xintai, 2] == 30.0
    # An indicator without data is all missing on its frequency's axis.
    assert np.isnan(panel.array("retail")).all() and panel.array("retail").shape == power.shape
