"""Regressions for the bugs a review of the engine and checker found; each expected value is worked by hand."""

from __future__ import annotations

import datetime

import pytest

from dsl import DslError, load_text
from engine import Engine, build_panel, compile_model, run, validate
from engine.panel import Observation
from engine.periods import Period

REGIONS = """
entity taian "泰安市" city
entity taishan "泰山区" district in taian
entity daiyue "岱岳区" district in taian
entity xintai "新泰市" county_city in taian
entity feicheng "肥城市" county_city in taian
entity gaoxin "高新区" zone in taian { overlay }
entity shandong "山东省" province
"""
AS_OF = datetime.date(2026, 4, 20)


def rows(indicator: str, entity: str, start: str, values: list[float]) -> list[dict[str, object]]:
    first = Period.parse(start)
    return [{"indicator": indicator, "entity": entity, "period": str(first + i), "value": v}
            for i, v in enumerate(values)]


def engine_for(text: str, data: list[dict[str, object]]) -> Engine:
    model = load_text(REGIONS + text)
    engine = Engine(compile_model(model), build_panel(model, validate(model, data), AS_OF))
    engine.run()
    return engine


def revise(engine: Engine, indicator: str, entity: str, period: str, value: float, vintage: int):
    return engine.update([Observation(indicator, entity, Period.parse(period), value, vintage)]).transitions


def test_update_message_reads_other_entities() -> None:
    rule = """indicator ind_va "规上工业增加值" { unit "%" frequency monthly form rate }
    rule r "高" { each county in taian when ind_va > 10
      message "{entity}增长{ind_va:.1f}%，全市{ind_va@taian:.1f}%，上级{ind_va@parent:.1f}%" }"""
    entities = ("taian", "taishan", "daiyue", "xintai", "feicheng")
    data = [r for e in entities for r in rows("ind_va", e, "2026-01", [1, 2, 3])]
    engine = engine_for(rule, data)
    (fired,) = revise(engine, "ind_va", "xintai", "2026-03", 15.0, 1)
    # The city's and the parent's March value is 3, not xintai's own 15.
    assert fired.message == "新泰市增长15.0%，全市3.0%，上级3.0%"


def test_overlay_zones_are_not_summed_with_the_counties() -> None:
    text = """indicator gdp "GDP" { unit "亿元" frequency quarterly form ytd additive }
    check by_name "县区加总等于全市" { each entity in taian  sum(gdp over taian.children) = gdp within 0.5% }"""
    data = rows("gdp", "taian", "2026Q1", [100]) + rows("gdp", "gaoxin", "2026Q1", [10])
    data += [r for e in ("taishan", "daiyue", "xintai", "feicheng") for r in rows("gdp", e, "2026Q1", [25])]
    report = run(load_text(REGIONS + text), data, as_of=AS_OF)
    # 4 × 25 = 100 = the city; the zone's 10 overlaps the counties and is not added.
    assert [(c.entity, c.status) for c in report.check_results] == [("taian", "ok")]


def test_min_and_max_over_children() -> None:
    text = """indicator ind_va "规上工业增加值" { unit "%" frequency monthly form rate }
    rule low "有县区负增长" { each entity in taian  when min(ind_va over children) < 0
      message "最低{min(ind_va over children)}，最高{max(ind_va over children)}" }"""
    data = rows("ind_va", "taian", "2026-03", [4])
    for entity, value in (("taishan", -3), ("daiyue", 4), ("xintai", 6), ("feicheng", 9)):
        data += rows("ind_va", entity, "2026-03", [value])
    (fired,) = run(load_text(REGIONS + text), data, as_of=AS_OF).transitions
    assert fired.message == "最低-3，最高9"


def test_revision_that_undoes_a_resolution_is_reported() -> None:
    text = """indicator ind_va "规上工业增加值" { unit "%" frequency monthly form rate }
    rule hi "增速过高" { each entity in xintai when ind_va > 10 }"""
    engine = engine_for(text, rows("ind_va", "xintai", "2026-01", [20, 20, 5]))
    # March was resolved (5 ≤ 10); revised to 25 the alert is firing again.
    assert [(t.period, t.old, t.new, t.reason) for t in revise(engine, "ind_va", "xintai", "2026-03", 25, 1)] == [
        ("2026-03", "resolved", "firing", "revised")]
    assert [(t.period, t.old, t.new, t.reason) for t in revise(engine, "ind_va", "xintai", "2026-03", 5, 2)] == [
        ("2026-03", "firing", "resolved", "revised")]


def test_severity_placeholder_follows_the_zone() -> None:
    text = """indicator ind_va "规上工业增加值" { unit "%" frequency monthly form rate }
    rule dev "偏高" { each entity in xintai when ind_va > 5  critical when ind_va > 8
      message "【{severity}】{ind_va:.1f}" }"""
    report = run(load_text(REGIONS + text), rows("ind_va", "xintai", "2026-01", [6, 9]), as_of=AS_OF)
    assert [t.message for t in report.transitions] == ["【预警】6.0", "【严重】9.0"]


def test_numbers_without_a_format_have_no_exponent() -> None:
    text = """indicator power "工业用电量" { unit "万千瓦时" frequency monthly form period }
    rule big "用电量大" { each entity in xintai when power > 1000 message "{power}万千瓦时，{power / 3}" }"""
    (fired,) = run(load_text(REGIONS + text), rows("power", "xintai", "2026-03", [1234567]), as_of=AS_OF).transitions
    assert fired.message == "1234567万千瓦时，411522.33"


def test_complete_of_two_frequencies_is_refused() -> None:
    text = """indicator fi "投资" { unit "亿元" frequency monthly form ytd }
    indicator gdp "GDP" { unit "亿元" frequency quarterly form ytd }
    check due "按时报送" { each county in taian complete fi, gdp last 3 periods }"""
    with pytest.raises(DslError, match="mixes frequencies"):
        load_text(REGIONS + text)


def test_expect_on_a_quarterly_binding_of_a_tagged_rule() -> None:
    load_text(REGIONS + """
    indicator gdp "GDP" { unit "亿元" frequency quarterly form ytd tags 核心 }
    indicator retail "社零" { unit "亿元" frequency monthly form ytd tags 核心 }
    rule big "同比高" { each county in taian each indicator x tagged 核心 when yoy(x) > 10 }
    test "季度" { given gdp@xintai 2025Q1..2025Q2: 100 200
                 given gdp@xintai 2026Q1..2026Q2: 120 230
                 expect big firing at xintai 2026Q1 on gdp }""")


def test_two_year_average_of_a_published_rate() -> None:
    text = """indicator ind_va "规上工业增加值" { unit "%" frequency annual form rate }
    rule base "两年平均增速偏低" { each entity in xintai when yoy2(ind_va) < 5 }"""
    # √((1 + 0.20)(1 − 0.10)) − 1 = √1.08 − 1 = 3.92% < 5.
    report = run(load_text(REGIONS + text), rows("ind_va", "xintai", "2020", [20, -10]), as_of=AS_OF)
    assert [(t.period, t.new) for t in report.transitions] == [("2021", "firing")]


def test_years_outside_the_calendar_are_checker_errors() -> None:
    with pytest.raises(DslError, match="outside the years"):
        load_text(REGIONS + 'entity laiwu "莱芜市" city in taian { until 1899 }')


def test_month_on_month_of_a_merged_stock_in_march() -> None:
    import numpy as np

    from engine import transforms
    from engine.periods import Axis

    axis = Axis.between(Period.parse("2026-01"), Period.parse("2026-03"))
    deposits = np.array([[np.nan, 200.0, 210.0]])  # no January balance is published
    flows = np.array([[np.nan, 200.0, 310.0]])  # year to date: Feb is the 1–2月 total
    # A balance at the end of February is a true month-end value: March 210 / 200 − 1 = 5%.
    assert transforms.mom(deposits, axis, "stock", True)[0, 2] == pytest.approx(5.0)
    # A flow's March (110) does not compare with a two-month total.
    assert np.isnan(transforms.mom(flows, axis, "ytd", True)[0, 2])
