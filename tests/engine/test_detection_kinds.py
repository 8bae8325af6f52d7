"""One small, self-contained rule text per detection kind of DESIGN.md, with hand-worked expectations.

Every expected value below is worked out by hand in a comment next to the data, not read back from
the engine.
"""

from __future__ import annotations

import datetime

import numpy as np
import pytest

import dsl
import engine
from engine.evaluator import Engine
from engine.panel import DataError, build_panel, validate

REGIONS = """
entity taian    "泰安市" city
entity taishan  "泰山区" district    in taian
entity xintai   "新泰市" county_city in taian
entity feicheng "肥城市" county_city in taian
entity ningyang "宁阳县" county      in taian
entity gaoxin   "泰安高新区" zone    in taian { overlay }
entity shandong "山东省" province
"""

INDICATORS = """
indicator ind_va "规上工业增加值" { unit "%" frequency monthly form rate jan_feb merged tags 工业 }
indicator power "工业用电量" {
  unit "万千瓦时" frequency monthly form ytd jan_feb merged additive tags 工业, 能源 release day 15
}
indicator retail "社会消费品零售总额" { unit "亿元" frequency monthly form period tags 消费 }
indicator invest "固定资产投资" { unit "亿元" frequency monthly form ytd jan_feb merged tags 投资 }
indicator gdp  "地区生产总值" { unit "亿元" frequency quarterly form ytd additive parts gdp1 + gdp2 + gdp3 }
indicator gdp1 "第一产业增加值" { unit "亿元" frequency quarterly form ytd additive }
indicator gdp2 "第二产业增加值" { unit "亿元" frequency quarterly form ytd additive }
indicator gdp3 "第三产业增加值" { unit "亿元" frequency quarterly form ytd additive }
"""

AS_OF = datetime.date(2027, 1, 31)


def load(rules: str) -> dsl.Model:
    return dsl.load_text(REGIONS + INDICATORS + rules)


def rows(indicator: str, entity: str, values: dict[str, float | None]) -> list[dict[str, object]]:
    return [{"indicator": indicator, "entity": entity, "period": p, "value": v}
            for p, v in values.items() if v is not None]


def evaluate(rules: str, data: list[dict[str, object]], as_of: datetime.date = AS_OF) -> engine.Report:
    return engine.run(load(rules), data, as_of)


def history(report: engine.Report, rule: str, entity: str, indicator: str | None = None) -> dict[str, str]:
    return report.state_history(rule, entity, indicator)


def moves(report: engine.Report, rule: str) -> list[tuple[str, str, str, str]]:
    return [(t.entity, t.period, t.old, t.new) for t in report.transitions if t.rule == rule]


def results(report: engine.Report, check: str, entity: str) -> dict[str, str]:
    return {r.period: r.status for r in report.check_results if r.check == check and r.entity == entity}


def transition(report: engine.Report, rule: str, entity: str, period: str) -> engine.Transition:
    found = [t for t in report.transitions if t.rule == rule and t.entity == entity and t.period == period]
    assert len(found) == 1, found
    return found[0]


# ----------------------------------------------------------------------------- reasonable range, absolute


def test_absolute_range():
    report = evaluate("""
    rule va_range "规上工业增速超出合理区间" {
      each county in taian
      when ind_va > 15 or ind_va < -5
    }""", rows("ind_va", "xintai", {"2026-02": 3.0, "2026-03": 15.0, "2026-04": 15.5, "2026-05": 8.0,
                                    "2026-06": -5.0, "2026-07": -5.2, "2026-08": 0.0}))
    # 15.0 is not above 15 and -5.0 is not below -5: only 2026-04 and 2026-07 are out of range.
    assert moves(report, "va_range") == [
        ("xintai", "2026-04", "inactive", "firing"), ("xintai", "2026-05", "firing", "resolved"),
        ("xintai", "2026-07", "inactive", "firing"), ("xintai", "2026-08", "firing", "resolved"),
    ]


# ----------------------------------------------------------------------------- reasonable range, relative


def test_relative_to_the_city_for_two_periods():
    report = evaluate("""
    rule va_vs_city "规上工业增速偏离全市" {
      each county in taian
      when abs(ind_va - ind_va@taian) > 5 for 2 periods
    }""", rows("ind_va", "xintai", {"2026-03": 3.0, "2026-04": 9.5, "2026-05": 10.2, "2026-06": 4.0})
        + rows("ind_va", "taian", {"2026-03": 3.1, "2026-04": 3.3, "2026-05": 3.2, "2026-06": 3.9}))
    # gaps: |3.0-3.1| = 0.1, |9.5-3.3| = 6.2, |10.2-3.2| = 7.0, |4.0-3.9| = 0.1
    assert history(report, "va_vs_city", "xintai") == {"2026-04": "pending", "2026-05": "firing",
                                                       "2026-06": "resolved"}
    # The city has no ind_va@taian gap to itself (0): it never alerts; other counties have no data.
    assert {t.entity for t in report.transitions} == {"xintai"}


def test_relative_to_the_province():
    report = evaluate("""
    rule va_vs_province "规上工业增速低于全省" {
      each entity in taian
      when ind_va - ind_va@province < -3
    }""", rows("ind_va", "taian", {"2026-02": 3.0, "2026-03": 3.3, "2026-04": 3.2, "2026-05": 3.9})
        + rows("ind_va", "shandong", {"2026-02": 5.0, "2026-03": 7.0, "2026-04": 6.0, "2026-05": 8.0}))
    # gaps: 3.0-5.0 = -2.0, 3.3-7.0 = -3.7, 3.2-6.0 = -2.8, 3.9-8.0 = -4.1
    assert history(report, "va_vs_province", "taian") == {"2026-03": "firing", "2026-04": "resolved",
                                                          "2026-05": "firing"}
    fired = transition(report, "va_vs_province", "taian", "2026-03")
    assert fired.values == {"ind_va": 3.3, "ind_va@province": 7.0}


# ----------------------------------------------------------------------------- short-term swing


def test_cumulative_growth_moving_more_than_n_points():
    report = evaluate("""
    rule va_swing "累计增速单期波动过大" {
      each entity in xintai
      when abs(diff(ind_va, 1)) > 3
    }""", rows("ind_va", "xintai", {"2026-02": 5.0, "2026-03": 6.0, "2026-04": 9.5, "2026-05": 9.0}))
    # diffs: Feb has no January to compare with (merged) → unknown; Mar 1.0; Apr 3.5; May -0.5.
    assert history(report, "va_swing", "xintai") == {"2026-04": "firing", "2026-05": "resolved"}


def test_single_period_far_from_its_own_history():
    report = evaluate("""
    rule power_z "当月用电量偏离自身历史" {
      each entity in xintai
      when zscore(single(power), 4) > 3
      message "{entity}{period}当月用电量{single(power):.0f}，z={zscore(single(power), 4):.2f}"
    }""", rows("power", "xintai", {"2025-02": 200, "2025-03": 310, "2025-04": 400, "2025-05": 510,
                                   "2025-06": 600, "2025-07": 800, "2025-08": 900}))
    # single: Feb 200 (the 1–2月 total), Mar 110, Apr 90, May 110, Jun 90, Jul 200, Aug 100.
    # Jul against the previous 4 (110, 90, 110, 90): mean 100, sample std √(4·100/3) = 11.547,
    #   z = (200 - 100) / 11.547 = 8.66 → fires.
    # Jun against (200, 110, 90, 110): mean 127.5, std √(7275/3) = 49.24, z = -0.76.
    # Aug against (90, 110, 90, 200): mean 122.5, std √(8275/3) = 52.52, z = -0.43 → resolved.
    assert history(report, "power_z", "xintai") == {"2025-07": "firing", "2025-08": "resolved"}
    fired = transition(report, "power_z", "xintai", "2025-07")
    assert fired.values["zscore(single(power), 4)"] == pytest.approx(100 / np.sqrt(400 / 3))
    assert fired.message == "新泰市2025年7月当月用电量200，z=8.66"


# ----------------------------------------------------------------------------- divergence

POWER_2025 = {"2025-02": 100, "2025-03": 150, "2025-04": 200, "2025-05": 250, "2025-06": 300, "2025-07": 350}
POWER_2026 = {"2026-02": 110, "2026-03": 153, "2026-04": 190, "2026-05": 260, "2026-06": 330, "2026-07": 385}
VA_2026 = {"2026-02": 12.0, "2026-03": 9.0, "2026-04": 6.0, "2026-05": 13.0, "2026-06": 11.0, "2026-07": 10.0}
# yoy(power) of ytd: Feb 110/100 → 10, Mar 153/150 → 2, Apr 190/200 → -5, May 260/250 → 4, Jun 330/300 → 10,
#   Jul 385/350 → 10.
# gap ind_va - yoy(power): Feb 2, Mar 7, Apr 11, May 9, Jun 1, Jul 0.
DIVERGENCE_DATA = rows("power", "xintai", POWER_2025 | POWER_2026) + rows("ind_va", "xintai", VA_2026)


def test_divergence_gap():
    report = evaluate("""
    rule va_power_gap "工业增加值与用电量背离" {
      each entity in xintai
      when ind_va - yoy(power) > 8
    }""", DIVERGENCE_DATA)
    assert history(report, "va_power_gap", "xintai") == {"2026-04": "firing", "2026-06": "resolved"}
    fired = transition(report, "va_power_gap", "xintai", "2026-04")
    assert fired.values["ind_va"] == 6.0
    assert fired.values["yoy(power)"] == pytest.approx(-5.0)
    assert fired.thresholds == (8.0,)


def test_divergence_opposite_sign():
    report = evaluate("""
    rule va_power_sign "工业增加值与用电量增速方向相反" {
      each entity in xintai
      when sign(ind_va) != sign(yoy(power))
    }""", DIVERGENCE_DATA)
    # Only April: ind_va 6.0 > 0 but power -5%.
    assert history(report, "va_power_sign", "xintai") == {"2026-04": "firing", "2026-05": "resolved"}


def test_divergence_k_of_n_periods():
    report = evaluate("""
    rule va_power_often "工业增加值与用电量经常背离" {
      each entity in xintai
      when ind_va - yoy(power) > 5 for 2 of 3 periods
    }""", DIVERGENCE_DATA)
    # gap > 5: Feb no, Mar yes, Apr yes, May yes, Jun no, Jul no.
    # 2 of the last 3: Mar 1 → pending, Apr 2 → firing, May 3, Jun 2 (still firing although Jun itself is
    # calm), Jul 1 → resolved.
    assert history(report, "va_power_often", "xintai") == {"2026-03": "pending", "2026-04": "firing",
                                                           "2026-07": "resolved"}


# ----------------------------------------------------------------------------- local anomaly


def test_local_anomaly_with_the_city_calm():
    counties = {
        # taishan, xintai, feicheng, ningyang
        "2026-02": (5.0, 6.0, 7.0, 20.0),
        "2026-03": (5.0, 6.0, 7.0, 20.0),
        "2026-04": (5.0, 6.0, 7.0, 8.0),
    }
    city = {"2026-02": 6.0, "2026-03": 12.0, "2026-04": 6.0}
    data = rows("ind_va", "taian", city) + rows("ind_va", "gaoxin", dict.fromkeys(city, 100.0))
    for i, entity in enumerate(("taishan", "xintai", "feicheng", "ningyang")):
        data += rows("ind_va", entity, {p: v[i] for p, v in counties.items()})
    report = evaluate("""
    rule va_local "县区增速明显偏离同级" {
      each county in taian
      when peer_z(ind_va) > 3 and ind_va@taian < 8
    }""", data)
    # Feb: peers 5, 6, 7, 20 (the overlay zone gaoxin is not a peer): median 6.5; |deviations| 1.5, 0.5, 0.5,
    #   13.5 → MAD 1.0; ningyang z = (20 - 6.5) / 1.4826 = 9.1 → fires, the city (6.0) is calm.
    # Mar: same counties but the city is at 12.0: not calm → resolved.
    # Apr: peers 5, 6, 7, 8: median 6.5, MAD 1.0, ningyang z = 1.5 / 1.4826 = 1.01.
    assert moves(report, "va_local") == [("ningyang", "2026-02", "inactive", "firing"),
                                         ("ningyang", "2026-03", "firing", "resolved")]
    fired = transition(report, "va_local", "ningyang", "2026-02")
    assert fired.values["peer_z(ind_va)"] == pytest.approx(13.5 / 1.4826)


# ----------------------------------------------------------------------------- change point


def test_change_point_on_a_clear_level_shift():
    noise = [0.0, 0.4, -0.3, 0.2, -0.1, 0.1, -0.2, 0.3, 0.0, -0.4]
    months = [f"2025-{m:02d}" for m in range(1, 13)] + [f"2026-{m:02d}" for m in range(1, 9)]
    values = [10 + e for e in noise] + [30 + e for e in reversed(noise)]
    report = evaluate("""
    rule retail_break "零售额结构突变" {
      each entity in xintai
      when changepoint(retail) == 1
    }""", rows("retail", "xintai", dict(zip(months, values, strict=True))))
    # Ten months near 10, then ten near 30: the new segment starts at the 11th value, 2025-11.
    assert history(report, "retail_break", "xintai") == {"2025-11": "firing", "2025-12": "resolved"}


def test_no_change_point_on_noise():
    noise = [0.0, 0.4, -0.3, 0.2, -0.1, 0.1, -0.2, 0.3, 0.0, -0.4] * 2
    months = [f"2025-{m:02d}" for m in range(1, 13)] + [f"2026-{m:02d}" for m in range(1, 9)]
    report = evaluate("""
    rule retail_break "零售额结构突变" { each entity in xintai when changepoint(retail) == 1 }
    """, rows("retail", "xintai", dict(zip(months, [10 + e for e in noise], strict=True))))
    assert moves(report, "retail_break") == []


# ----------------------------------------------------------------------------- consistency


def test_parts_add_up():
    report = evaluate("""
    check gdp_parts "三次产业之和等于地区生产总值" {
      each entity in xintai
      gdp = gdp1 + gdp2 + gdp3 within 0.1%
    }""", rows("gdp", "xintai", {"2026Q1": 100, "2026Q2": 210, "2026Q3": 300})
        + rows("gdp1", "xintai", {"2026Q1": 30, "2026Q2": 60, "2026Q3": 50})
        + rows("gdp2", "xintai", {"2026Q1": 40, "2026Q2": 80, "2026Q3": 150})
        + rows("gdp3", "xintai", {"2026Q1": 30, "2026Q2": 65, "2026Q3": 100.2}))
    # Q1: 30+40+30 = 100 = 100. Q2: 60+80+65 = 205 against 210: 5 > 0.1% of 205 → violated.
    # Q3: 300.2 against 300: 0.2 <= 0.1% of 300.2 (0.3002) → ok.
    assert results(report, "gdp_parts", "xintai") == {"2026Q1": "ok", "2026Q2": "violated", "2026Q3": "ok"}
    assert history(report, "gdp_parts", "xintai") == {"2026Q2": "firing", "2026Q3": "resolved"}
    violated = transition(report, "gdp_parts", "xintai", "2026Q2")
    assert violated.kind == "check"
    assert violated.values == {"左边": 210.0, "右边": 205.0}


def test_absolute_tolerance():
    report = evaluate("""
    check gdp_parts "三次产业之和等于地区生产总值" {
      each entity in xintai
      gdp = gdp1 + gdp2 + gdp3 within 1
    }""", rows("gdp", "xintai", {"2026Q1": 101, "2026Q2": 201.5})
        + rows("gdp1", "xintai", {"2026Q1": 30, "2026Q2": 60})
        + rows("gdp2", "xintai", {"2026Q1": 40, "2026Q2": 80})
        + rows("gdp3", "xintai", {"2026Q1": 30, "2026Q2": 60}))
    # Q1: |101 - 100| = 1 is within 1; Q2: |201.5 - 200| = 1.5 is not.
    assert results(report, "gdp_parts", "xintai") == {"2026Q1": "ok", "2026Q2": "violated"}


# Children of taian: taishan, xintai, feicheng, ningyang (gaoxin is an overlay and does not add up).
CHILDREN = {
    #        taishan xintai feicheng ningyang  taian
    "2026Q1": (100, 110, 90, 100, 400),      # all present: 400 = 400
    "2026Q2": (200, 220, 180, None, 800),    # ningyang missing: 600 of 800
    "2026Q3": (300, 330, 270, None, 900),    # ningyang missing, the others add up: 900 = 900
    "2026Q4": (None, None, None, None, 1200),  # no child at all
    "2027Q1": (100, 100, 100, 102, 400),     # 402 against 400: 2 = 0.5% of 400, within
    "2027Q2": (100, 100, 100, 103, 400),     # 403 against 400: 3 > 2 → violated
}


def children_data() -> list[dict[str, object]]:
    data: list[dict[str, object]] = []
    for i, entity in enumerate(("taishan", "xintai", "feicheng", "ningyang", "taian")):
        data += rows("gdp", entity, {p: v[i] for p, v in CHILDREN.items()})
    return data + rows("gdp", "gaoxin", dict.fromkeys(CHILDREN, 50.0))


def children_check(mode: str) -> dict[str, str]:
    report = evaluate(f"""
    check gdp_counties "县区加总等于全市" {{
      each entity in taian
      sum(gdp over children) = gdp within 0.5%
      missing {mode}
    }}""", children_data(), as_of=datetime.date(2027, 12, 31))
    return results(report, "gdp_counties", "taian")


def test_children_add_up_non_null():
    # A missing child: not evaluated at all.
    assert children_check("non_null") == {"2026Q1": "ok", "2027Q1": "ok", "2027Q2": "violated"}


def test_children_add_up_partial_null():
    # A missing child counts as 0 while something is present: Q2 600 ≠ 800, Q3 900 = 900, Q4 0 ≠ 1200.
    assert children_check("partial_null") == {"2026Q1": "ok", "2026Q2": "violated", "2026Q3": "ok",
                                              "2026Q4": "violated", "2027Q1": "ok", "2027Q2": "violated"}


def test_children_add_up_always_zero():
    found = children_check("always_zero")
    assert {p: found[p] for p in CHILDREN} == {"2026Q1": "ok", "2026Q2": "violated", "2026Q3": "ok",
                                               "2026Q4": "violated", "2027Q1": "ok", "2027Q2": "violated"}


def test_always_zero_evaluates_periods_with_nothing_reported():
    # 2027Q3 and 2027Q4 are on the axis (as_of 2027-12-31 → last complete quarter 2027Q3) with no data at all:
    # every operand counts as 0, and 0 = 0.
    assert children_check("always_zero").get("2027Q3") == "ok"


def test_children_add_up_fail():
    # A missing child is itself a violation, even when the others happen to add up (Q3).
    assert children_check("fail") == {"2026Q1": "ok", "2026Q2": "violated", "2026Q3": "violated",
                                      "2026Q4": "violated", "2027Q1": "ok", "2027Q2": "violated"}


# ----------------------------------------------------------------------------- completeness

COMPLETENESS = """
entity laiwu "莱芜区" district in taian { until 2025-12 }
check power_due "工业用电量按时报送" { each county in taian complete power last 3 periods }
"""
# power is due on the 15th of the following month; 1–2月 is merged, so there is no January to expect.
COMPLETENESS_DATA = (
    rows("power", "xintai", {"2025-11": 1000, "2025-12": 1100, "2026-02": 100})
    + rows("power", "taishan", {"2025-11": 1000, "2026-02": 100, "2026-03": 200, "2026-04": 300})
    + rows("power", "feicheng", {"2025-11": 1000, "2025-12": 1100, "2026-02": 100, "2026-03": 220,
                                 "2026-04": 310})
    + rows("power", "ningyang", {"2025-11": 1000, "2025-12": 1100, "2026-02": 100, "2026-03": 220,
                                 "2026-04": 310})
)


def completeness(as_of: datetime.date) -> engine.Report:
    return engine.run(dsl.load_text(REGIONS + INDICATORS + COMPLETENESS), COMPLETENESS_DATA, as_of)


def test_missing_after_the_release_day_is_flagged():
    report = completeness(datetime.date(2026, 5, 10))
    # Due by 2026-05-10: up to 2026-03 (released 04-15); 2026-04 is due 05-15. The last 3 expected periods
    # are 2025-12, 2026-02, 2026-03 (January is never expected).
    assert results(report, "power_due", "xintai") == {"2025-12": "ok", "2026-02": "ok", "2026-03": "violated"}
    assert results(report, "power_due", "taishan") == {"2025-12": "violated", "2026-02": "ok", "2026-03": "ok"}
    assert results(report, "power_due", "feicheng") == {"2025-12": "ok", "2026-02": "ok", "2026-03": "ok"}
    assert history(report, "power_due", "xintai") == {"2026-03": "firing"}


def test_missing_before_the_release_day_is_not_flagged():
    before = completeness(datetime.date(2026, 5, 14))
    assert "2026-04" not in results(before, "power_due", "xintai")
    on_the_day = completeness(datetime.date(2026, 5, 15))
    # From the release day on, 2026-04 is due; the window is now 2026-02, 2026-03, 2026-04.
    assert results(on_the_day, "power_due", "xintai") == {"2026-02": "ok", "2026-03": "violated",
                                                           "2026-04": "violated"}


def test_merged_january_is_never_expected():
    for as_of in (datetime.date(2026, 2, 20), datetime.date(2026, 3, 20), datetime.date(2026, 5, 20)):
        report = completeness(as_of)
        assert not [r for r in report.check_results if r.period == "2026-01"], as_of
    # By 2026-03-20 the February (1–2月) total is due and present; the window reaches back to 2025-11.
    report = completeness(datetime.date(2026, 3, 20))
    assert results(report, "power_due", "xintai") == {"2025-11": "ok", "2025-12": "ok", "2026-02": "ok"}


def test_entity_past_its_until_is_not_expected():
    report = completeness(datetime.date(2026, 3, 20))
    # laiwu existed until 2025-12: missing 2025-11 and 2025-12 are flagged, 2026-02 is not expected.
    assert results(report, "power_due", "laiwu") == {"2025-11": "violated", "2025-12": "violated"}
    later = completeness(datetime.date(2026, 5, 20))
    assert results(later, "power_due", "laiwu") == {}


# ----------------------------------------------------------------------------- target progress


def test_progress_behind_time_progress():
    report = evaluate("""
    target invest 2026 { xintai 260 }
    rule invest_behind "投资进度落后于时间进度" {
      each entity in xintai
      when progress(invest) < time_progress() - 10
      message "{entity}{period}投资完成{progress(invest):.1f}%，时间过半{time_progress():.0f}%"
    }""", rows("invest", "xintai", {"2026-02": 30, "2026-03": 60, "2026-04": 75, "2026-05": 85, "2026-06": 100,
                                    "2026-07": 140}))
    # progress = ytd / 260 · 100; time progress = month / 12 · 100; fires when progress < time - 10:
    #   Feb 11.5 vs 16.7-10 = 6.7 no; Mar 23.1 vs 15 no; Apr 28.8 vs 23.3 no; May 32.7 vs 31.7 no;
    #   Jun 38.5 vs 40 yes; Jul 53.8 vs 48.3 no.
    assert history(report, "invest_behind", "xintai") == {"2026-06": "firing", "2026-07": "resolved"}
    fired = transition(report, "invest_behind", "xintai", "2026-06")
    assert fired.values["progress(invest)"] == pytest.approx(100 / 260 * 100)
    assert fired.message == "新泰市2026年6月投资完成38.5%，时间过半50%"


def test_progress_of_a_period_series_and_of_a_quarterly_ytd():
    report = evaluate("""
    target retail 2026 { xintai 1200 }
    target gdp 2026 { xintai 400 }
    rule retail_behind "零售额进度落后" { each entity in xintai when progress(retail) < time_progress() - 10 }
    rule gdp_behind "生产总值进度落后" { each entity in xintai when progress(gdp) < time_progress() - 10 }
    """, rows("retail", "xintai", {f"2026-{m:02d}": 78.0 for m in range(1, 8)})
        + rows("gdp", "xintai", {"2026Q1": 90.0, "2026Q2": 150.0, "2026Q3": 280.0}))
    # retail is a single-month series: year-to-date is 78·m, progress 6.5·m %; time progress 8.33·m %.
    #   6.5m < 8.33m - 10 ⇔ m > 5.45: first at June (39 < 40), still at July (45.5 < 48.3).
    assert history(report, "retail_behind", "xintai") == {"2026-06": "firing"}
    # gdp: Q1 22.5 vs 25-10; Q2 37.5 < 50-10 → fires; Q3 70 vs 65 → resolved.
    assert history(report, "gdp_behind", "xintai") == {"2026Q2": "firing", "2026Q3": "resolved"}
    assert transition(report, "gdp_behind", "xintai", "2026Q2").values["progress(gdp)"] == pytest.approx(37.5)


def test_progress_without_a_target_for_the_entity_is_unknown():
    report = evaluate("""
    target invest 2026 { xintai 260 }
    rule invest_behind "投资进度落后" { each entity in feicheng when progress(invest) < time_progress() - 10 }
    """, rows("invest", "feicheng", {"2026-06": 1.0}))
    assert moves(report, "invest_behind") == []


# ----------------------------------------------------------------------------- 1–2月 merged


def test_single_of_a_merged_ytd_february_is_the_january_february_total():
    model = load("""
    rule power_single "当月用电量" {
      each entity in xintai
      when single(power) > 150
      message "{period}当月{single(power):.0f}"
    }""")
    data = rows("power", "xintai", {"2026-02": 200, "2026-03": 310, "2026-04": 400})
    report = engine.run(model, data, AS_OF)
    # single: Feb = 200 (Jan–Feb together), Mar = 310 - 200 = 110, Apr = 90.
    assert history(report, "power_single", "xintai") == {"2026-02": "firing", "2026-03": "resolved"}
    assert transition(report, "power_single", "xintai", "2026-02").message == "2026年2月当月200"
    assert transition(report, "power_single", "xintai", "2026-03").message.endswith("2026年3月当月110")


def test_merged_indicator_has_no_january_row():
    model = load("")
    with pytest.raises(DataError) as caught:
        validate(model, rows("power", "xintai", {"2026-01": 90, "2026-02": 200}))
    assert [(e.row, e.column) for e in caught.value.errors] == [(1, "period")]


def test_january_of_a_merged_series_is_unknown_not_zero():
    model = load("""
    rule power_low "当月用电量过低" { each entity in xintai when single(power) < 50 for 2 periods }
    """)
    data = rows("power", "xintai", {"2025-12": 1000, "2026-02": 40, "2026-03": 130})
    panel = build_panel(model, validate(model, data), AS_OF)
    eng = Engine(engine.compile_model(model), panel)
    eng.run()
    axis = panel.axes["monthly"]
    state = eng.state[0]
    january = axis.index(next(p for p in axis.periods if str(p) == "2026-01"))
    # January is not a period of the series: the condition is unknown there, not "0 < 50".
    assert np.isnan(state.condition[0, january])
    # Feb 40 < 50 holds once (pending); Mar 130 - 40 = 90 does not. Had January counted as a period that
    # holds, Feb would have been the second one and fired.
    assert state.states[0, january + 1] == 1 and state.states[0, january + 2] == 0


# ----------------------------------------------------------------------------- yoy and mom at year ends


def test_yoy_of_ytd_across_the_year_boundary():
    report = evaluate("""
    rule power_fast "用电量累计增速过快" {
      each entity in xintai
      when yoy(power) > 15
      message "{entity}{period}用电量累计增长{yoy(power):.1f}%"
    }""", rows("power", "xintai", {"2025-02": 100, "2025-03": 160, "2025-12": 1000, "2026-02": 120,
                                   "2026-03": 176}))
    # 2026-02 against 2025-02 (not against 2025-12): (120/100 - 1)·100 = 20 > 15 → fires.
    # 2026-03: (176/160 - 1)·100 = 10 → resolved.
    assert history(report, "power_fast", "xintai") == {"2026-02": "firing", "2026-03": "resolved"}
    fired = transition(report, "power_fast", "xintai", "2026-02")
    assert fired.values["yoy(power)"] == pytest.approx(20.0)
    assert fired.message == "新泰市2026年2月用电量累计增长20.0%"


def test_mom_january_against_december():
    report = evaluate("""
    rule retail_jump "零售额环比过快" { each entity in xintai when mom(retail) > 8 }
    """, rows("retail", "xintai", {"2025-11": 190, "2025-12": 200, "2026-01": 220, "2026-02": 225}))
    # Dec: 200/190 → 5.3; Jan: 220/200 → 10 > 8 (across the year); Feb: 225/220 → 2.3.
    assert history(report, "retail_jump", "xintai") == {"2026-01": "firing", "2026-02": "resolved"}
    assert transition(report, "retail_jump", "xintai", "2026-01").values["mom(retail)"] == pytest.approx(10.0)


def test_mom_of_a_merged_ytd_skips_february_and_march():
    report = evaluate("""
    rule power_drop "当月用电量环比大降" { each entity in xintai when mom(power) < -30 }
    """, rows("power", "xintai", {"2025-10": 800, "2025-11": 900, "2025-12": 1000, "2026-02": 200,
                                  "2026-03": 310, "2026-04": 400, "2026-05": 460}))
    # single: Nov 100, Dec 100, Feb 200 (two months), Mar 110, Apr 90, May 60.
    # mom: Dec 0; Feb none (January is missing); Mar none (February holds two months: 110 against 200 would
    # be a false -45%); Apr (90/110 - 1)·100 = -18.2; May (60/90 - 1)·100 = -33.3 → fires.
    assert history(report, "power_drop", "xintai") == {"2026-05": "firing"}
    assert transition(report, "power_drop", "xintai", "2026-05").values["mom(power)"] == \
        pytest.approx((60 / 90 - 1) * 100)


# ----------------------------------------------------------------------------- guards


def test_guard_suppresses_short_histories():
    months = [f"2025-{m:02d}" for m in range(1, 13)] + ["2026-01", "2026-02"]
    values = [100.0] * 14
    values[5] = 600.0  # 2025-06: history 6 → guarded out
    values[12] = 600.0  # 2026-01: history 13 → fires
    report = evaluate("""
    rule retail_high "零售额异常偏高" {
      each entity in xintai
      when retail > 500
      guard history(retail) >= 13
    }""", rows("retail", "xintai", dict(zip(months, values, strict=True))))
    assert history(report, "retail_high", "xintai") == {"2026-01": "firing", "2026-02": "resolved"}


def test_guard_holds_the_state_through_guarded_periods():
    report = evaluate("""
    rule retail_high "零售额异常偏高" {
      each entity in xintai
      when retail > 500 for 2 periods
      guard retail > 10
    }""", rows("retail", "xintai", {"2026-01": 600, "2026-02": 5, "2026-03": 600, "2026-04": 100}))
    # Feb is guarded out (unknown): it neither breaks nor counts, so Jan and Mar make the two periods.
    assert history(report, "retail_high", "xintai") == {"2026-01": "pending", "2026-03": "firing",
                                                        "2026-04": "resolved"}


# ----------------------------------------------------------------------------- severity zones


def test_severity_zones_escalate_and_deescalate():
    report = evaluate("""
    rule va_vs_city "规上工业增速偏离全市" {
      severity warning
      each county in taian
      when abs(ind_va - ind_va@taian) > 5
      critical when abs(ind_va - ind_va@taian) > 8
    }""", rows("ind_va", "xintai", {"2026-02": 9.0, "2026-03": 12.5, "2026-04": 9.0, "2026-05": 4.0})
        + rows("ind_va", "taian", {"2026-02": 3.0, "2026-03": 3.5, "2026-04": 3.0, "2026-05": 3.0}))
    # gaps: Feb 6 (warning), Mar 9 (critical), Apr 6 (warning), May 1 (resolved).
    found = [(t.period, t.old, t.new, t.severity) for t in report.transitions]
    assert found == [("2026-02", "inactive", "firing", "warning"), ("2026-03", "firing", "firing", "critical"),
                     ("2026-04", "firing", "firing", "warning"), ("2026-05", "firing", "resolved", "warning")]


def test_resolved_carries_the_severity_it_fired_with():
    report = evaluate("""
    rule va_vs_city "规上工业增速偏离全市" {
      severity warning
      each county in taian
      when abs(ind_va - ind_va@taian) > 5
      critical when abs(ind_va - ind_va@taian) > 8
    }""", rows("ind_va", "xintai", {"2026-02": 12.0, "2026-03": 4.0})
        + rows("ind_va", "taian", {"2026-02": 3.0, "2026-03": 3.0}))
    # Feb: gap 9 → critical; Mar: gap 1 → resolved. A route `match severity >= critical` that got the firing
    # message must get the resolution too.
    found = [(t.period, t.new, t.severity) for t in report.transitions]
    assert found == [("2026-02", "firing", "critical"), ("2026-03", "resolved", "critical")]


# ----------------------------------------------------------------------------- each indicator


def test_each_indicator_produces_per_indicator_alerts():
    report = evaluate("""
    rule ind_fast "工业指标累计增长过快" {
      each entity in xintai
      each indicator x tagged 工业
      when yoy(x) > 15
      message "{entity}{indicator}同比{yoy(x):.1f}%"
    }
    rule ind_negative "工业指标为负" {
      each entity in xintai
      each indicator x tagged 工业
      when x < 0
    }""", rows("power", "xintai", {"2025-02": 100, "2026-02": 120})
        + rows("ind_va", "xintai", {"2025-02": 30.0, "2026-02": -1.0}))
    # yoy fits power (a level) but not ind_va (a rate): one instance only. power: 120/100 → 20%.
    fast = [t for t in report.transitions if t.rule == "ind_fast"]
    assert [(t.indicator, t.period, t.new) for t in fast] == [("power", "2026-02", "firing")]
    assert fast[0].message == "新泰市工业用电量同比20.0%"
    assert fast[0].values["power"] == 120.0
    assert fast[0].values["yoy(power)"] == pytest.approx(20.0)
    # `x < 0` fits both indicators: ind_va -1.0 fires, power never does.
    assert history(report, "ind_negative", "xintai", "ind_va") == {"2026-02": "firing"}
    assert history(report, "ind_negative", "xintai", "power") == {}
    plan = engine.compile_model(load("""
    rule ind_negative "工业指标为负" { each indicator x tagged 工业 when x < 0 }"""))
    assert sorted(i.indicator for i in plan.instances if i.id == "ind_negative") == ["ind_va", "power"]


# ----------------------------------------------------------------------------- messages and provenance


def test_message_rendering_with_formatted_values():
    report = evaluate("""
    rule va_vs_city "规上工业增速偏离全市" {
      each county in taian
      when abs(ind_va - ind_va@taian) > 5
      message "{entity}{period}增长{ind_va:.1f}%，全市{ind_va@taian:.2f}%，偏差{ind_va - ind_va@taian:+.1f}"
    }""", rows("ind_va", "xintai", {"2026-03": 9.46}) + rows("ind_va", "taian", {"2026-03": 3.3}))
    fired = transition(report, "va_vs_city", "xintai", "2026-03")
    assert fired.message == "新泰市2026年3月增长9.5%，全市3.30%，偏差+6.2"


def test_message_of_a_missing_value_and_default_message():
    report = evaluate("""
    rule va_high "增速过高" { each entity in xintai when ind_va > 10 message "{entity}：{ind_va@province:.1f}" }
    rule va_low "增速过低" { each entity in xintai when ind_va < 20 }
    """, rows("ind_va", "xintai", {"2026-03": 12.0}))
    assert transition(report, "va_high", "xintai", "2026-03").message == "新泰市：—"
    default = transition(report, "va_low", "xintai", "2026-03").message
    assert "新泰市" in default and "2026年3月" in default and "增速过低" in default


def test_provenance_values_at_each_transition():
    report = evaluate("""
    rule va_vs_city "规上工业增速偏离全市" {
      each county in taian
      when abs(ind_va - ind_va@taian) > 5 for 2 periods
    }""", rows("ind_va", "xintai", {"2026-03": 9.0, "2026-04": 9.5, "2026-05": 4.0})
        + rows("ind_va", "taian", {"2026-03": 3.0, "2026-04": 3.3, "2026-05": 3.9}))
    by_period = {t.period: t for t in report.transitions}
    assert by_period["2026-03"].values == {"ind_va": 9.0, "ind_va@taian": 3.0}
    assert by_period["2026-04"].values == {"ind_va": 9.5, "ind_va@taian": 3.3}
    # A resolved transition carries the value at recovery, not the last firing value.
    assert by_period["2026-05"].new == "resolved"
    assert by_period["2026-05"].values == {"ind_va": 4.0, "ind_va@taian": 3.9}
    assert by_period["2026-04"].thresholds == (5.0,)
    assert by_period["2026-04"].as_dict()["values"] == {"ind_va": 9.5, "ind_va@taian": 3.3}


# ----------------------------------------------------------------------------- other functions


def test_revision_rank_share_and_parent():
    data = [{"indicator": "retail", "entity": "xintai", "period": "2026-03", "value": 100.0, "vintage": 1},
            {"indicator": "retail", "entity": "xintai", "period": "2026-03", "value": 112.0, "vintage": 2}]
    data += rows("retail", "taishan", {"2026-03": 50.0}) + rows("retail", "feicheng", {"2026-03": 60.0})
    data += rows("retail", "ningyang", {"2026-03": 70.0}) + rows("retail", "taian", {"2026-03": 292.0})
    report = evaluate("""
    rule revised "修订幅度过大" { each county in taian when revision(retail) > 10 }
    rule first "同级第一" { each county in taian when rank(retail) == 1 }
    rule big "占全市比重过高" { each county in taian when share(retail) > 35 }
    rule city_low "全市偏低" { each county in taian when retail@parent < 300 }
    """, data)
    # revision: 112 against the first vintage 100 → 12% > 10. rank: 112 > 70 > 60 > 50.
    # share: 112 / 292 = 38.4% > 35; ningyang 70 / 292 = 24%. retail@parent = 292 for every county.
    assert moves(report, "revised") == [("xintai", "2026-03", "inactive", "firing")]
    assert moves(report, "first") == [("xintai", "2026-03", "inactive", "firing")]
    assert moves(report, "big") == [("xintai", "2026-03", "inactive", "firing")]
    assert {t.entity for t in report.transitions if t.rule == "city_low"} == {"taishan", "xintai", "feicheng",
                                                                                "ningyang"}
    assert transition(report, "city_low", "taishan", "2026-03").values == {"retail@parent": 292.0, "retail": 50.0}
