"""The monthly brief: every figure against a value worked out by hand, the charts, the PDF, region scope, the
CLI and delivery."""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dsl
from engine.panel import build_panel, validate
from engine.periods import Period
from server import reports
from server.api.auth import EVERYTHING, Principal
from server.api.targets import replace_target
from server.service import Service
from server.store.models import Alert, AlertNote, AlertTransition, OutboxMessage, Receiver
from tests.server.conftest import make_app

CHROMIUM_MISSING = not Path(reports.CHROMIUM).exists()
SHIPPED = Path(__file__).resolve().parents[2] / "rules" / "taian"
BASE = {2023: 20.0, 2024: 21.0, 2025: 22.0, 2026: 23.0}  # budget_rev: a month's level in each year
SEASON = [1.3, 0.9, 1.0, 1.0, 1.0, 1.1, 0.9, 0.9, 1.0, 0.9, 1.0]  # January to November


def budget_singles(year: int) -> list[float]:
    # December grows heavier each year, so past projections miss and the backtest band has a width.
    return [BASE[year] * f for f in SEASON] + [BASE[year] * (1.0 + 0.1 * (year - 2023))]


def budget_ytd(year: int, month: int) -> float:
    return sum(budget_singles(year)[:month])


def rows() -> list[dict]:
    def row(indicator: str, entity: str, period: str, value: float) -> dict:
        return {"indicator": indicator, "entity": entity, "period": period, "value": value}

    data = [row("ind_va", e, p, v) for e, p, v in [
        ("taian", "2026-09", 8.4), ("taian", "2026-10", 8.0), ("xintai", "2026-09", 9.0),
        ("xintai", "2026-10", 10.0), ("feicheng", "2026-09", 6.5), ("feicheng", "2026-10", 6.0),
        ("dongping", "2026-10", 25.0)]]
    data += [row("va_industry", "xintai", "2025Q4", 400.0), row("va_industry", "feicheng", "2025Q4", 600.0)]
    retail = {"xintai": (90.0, 100.0, 99.0, 110.0), "feicheng": (60.0, 66.0, 66.0, 72.0)}  # 25-09 25-10 26-09 26-10
    for entity, values in retail.items():
        data += [row("retail", entity, p, v) for p, v in zip(("2025-09", "2025-10", "2026-09", "2026-10"), values,
                                                              strict=True)]
    data += [row("retail", "taian", p, retail["xintai"][i] + retail["feicheng"][i])
             for i, p in enumerate(("2025-09", "2025-10", "2026-09", "2026-10"))]
    for year in BASE:
        data += [row("budget_rev", "taian", f"{year}-{m:02d}", budget_ytd(year, m)) for m in range(1, 13)
                 if (year, m) <= (2026, 10)]
    gdp = {"2025Q3": (200.0, 1000.0, 1200.0), "2026Q3": (210.0, 1060.0, 1230.0)}
    for quarter, parts in gdp.items():
        data += [row(name, "taian", quarter, v) for name, v in zip(("gdp_primary", "gdp_secondary", "gdp_tertiary"),
                                                                   parts, strict=True)]
        data.append(row("gdp", "taian", quarter, sum(parts)))
    data += [row(i, "taian", "2026Q3", v) for i, v in [("gdp_growth", 5.8), ("gdp_primary_growth", 4.0),
                                                       ("gdp_secondary_growth", 6.2), ("gdp_tertiary_growth", 6.6)]]
    return data


@pytest.fixture
async def loaded(sqlite_service: Service) -> Service:
    await sqlite_service.ingest(rows(), source="api")
    alert = await Alert.get(rule="ind_va_range", entity="dongping")
    await AlertNote.create(alert=alert, action="explain", note="龙头企业新增产能集中投产，增速属实")
    return sqlite_service


async def test_headlines_pulls_alerts_and_targets_carry_the_hand_worked_figures(loaded: Service) -> None:
    text = (await reports.build(loaded, "taian", "2026-10")).text()
    # Published rate: 8.0 against 8.4 in 1-9月.
    assert "1-10月，规模以上工业增加值增长8.0%，比1-9月回落0.4个百分点。" in text
    # Retail: 110+72=182 against 100+66=166: +9.638…%; 1-9月 165 against 150: +10.0%.
    assert "社会消费品零售总额182.0亿元，增长9.6%，比1-9月回落0.4个百分点。" in text
    # County pulls on 规上工业, weighted by 2025 industrial value added (400 + 600 = 1000):
    # xintai 400×10/1000 = 4.0 points, feicheng 600×6/1000 = 3.6; rates 4.0/7.6 = 52.6%, 3.6/7.6 = 47.4%.
    assert "新泰市增长10.0%，拉动全市规上工业增长4.0个百分点，贡献率52.6%" in text
    assert "肥城市增长6.0%，拉动全市规上工业增长3.6个百分点，贡献率47.4%" in text
    # Retail pulls at current prices: xintai (110-100)/166 = 6.02 points, feicheng 6/166 = 3.61; rates 10/16, 6/16.
    assert "新泰市增长10.0%，拉动全市社会消费品零售总额增长6.0个百分点，贡献率62.5%" in text
    assert "肥城市增长9.1%，拉动全市社会消费品零售总额增长3.6个百分点，贡献率37.5%" in text
    # Budget revenue: YTD and growth, progress against 280 and time progress 10/12 = 83.3%.
    ytd, last = budget_ytd(2026, 10), budget_ytd(2025, 10)
    assert ytd == pytest.approx(230.0) and last == pytest.approx(220.0)  # 23 and 22 × (the ten factors: 10.0)
    assert "1-10月，一般公共预算收入230.0亿元，增长4.5%，与1-9月持平。" in text  # 209.3/200.2 = +4.5% too
    assert "为年度目标（280.0亿元）的82.1%，落后时间进度1.2个百分点" in text  # 230/280 = 82.1%; 82.1-83.3
    # Seasonal naive: 230 × 2025's full year (22 × 12.2 = 268.4) / 220 = 280.6; the band from the backtests of
    # 2024 (210 × 240 / 200 = 252.0 against 254.1) and 2025 (220 × 254.1 / 210 = 266.2 against 268.4).
    full = {y: budget_ytd(y, 12) for y in (2023, 2024, 2025)}
    projected = ytd * full[2025] / last
    errors = sorted((budget_ytd(y, 10) * full[y - 1] / budget_ytd(y - 1, 10) - full[y]) / full[y]
                    for y in (2024, 2025))
    p10, p90 = errors[0] + 0.1 * (errors[1] - errors[0]), errors[0] + 0.9 * (errors[1] - errors[0])
    mape = (abs(errors[0]) + abs(errors[1])) / 2 * 100
    assert round(projected, 1) == 280.6 and [round(e * 100, 2) for e in errors] == [-0.83, -0.82]
    assert (f"预计全年完成{projected:.1f}亿元（误差区间{projected / (1 + p90):.1f}至{projected / (1 + p10):.1f}亿元，"
            f"回测平均误差{mape:.1f}%），为年度目标的{projected / 280 * 100:.1f}%") in text
    # The chance of 280: had this projection been off as in 2024 or 2025, the actual would be 280.6 / (1 - 0.0083)
    # = 282.9 either way, above 280 under both past errors: 2 of 2.
    assert [round(projected / (1 + e), 1) for e in errors] == [282.9, 282.9]
    assert "为年度目标的100.2%。按往年同一时点的预计误差推算，2年中有2年可完成全年目标。" in text
    assert "规模以上工业增加值增长8.0%，高于年度目标（7.5%）0.5个百分点" in text
    assert "地区生产总值增长5.8%，高于年度目标（5.5%）0.3个百分点" in text
    # The alert of the month, with its explanation; every firing transition of the region is counted.
    firing = await AlertTransition.filter(period="2026-10", new="firing").count()
    assert f"本月触发预警{firing}条（其中严重0条），解除预警0条。" in text
    assert ("东平县「规上工业增速超出合理区间」（预警，触发）：东平县2026年10月规模以上工业增加值增长25.0%"
            "（合理区间-5%～20%）。研判说明：龙头企业新增产能集中投产，增速属实。") in text


def test_a_growth_target_on_a_total_is_projected_with_the_chance_of_reaching_it(tmp_path: Path) -> None:
    # The shipped rules with 2026's budget revenue target set as growth (as PUT /targets writes it): +8.0%.
    rules = tmp_path / "taian"
    shutil.copytree(SHIPPED, rules)
    targets = rules / "targets.rules"
    targets.write_text(replace_target(targets.read_text(encoding="utf-8"), "budget_rev", 2026, True,
                                      {"taian": 8.0}), encoding="utf-8")
    model = dsl.load([str(rules)])
    # January–October run at `level` a month; November and December together add `rest` × level / 10.
    # 2022–2024 at level 10 with 20, 25, 20; 2025 at 20 with 24 (a 248 year); 2026 at 21 a month so far.
    years = {2022: (10.0, 20.0), 2023: (10.0, 25.0), 2024: (10.0, 20.0), 2025: (20.0, 24.0), 2026: (21.0, 0.0)}
    data = []
    for year, (level, rest) in years.items():
        singles = [level] * 10 + [rest * level / 20] * 2
        data += [{"indicator": "budget_rev", "entity": "taian", "period": f"{year}-{m:02d}",
                  "value": sum(singles[:m])} for m in range(1, 13) if (year, m) <= (2026, 10)]
    panel = build_panel(model, validate(model, data), as_of=datetime.date(2026, 11, 28))
    text = reports.compose(model, panel, "taian", "2026-10", []).text()
    # Year to date 210 against 200: +5.0%, 3 points under the target.
    assert "1-10月，一般公共预算收入增长5.0%，低于年度目标（8.0%）3.0个百分点。按季节性推算，预计全年完成260.4亿元（" \
        in text
    # Seasonal naive from October: 210 × 248 / 200 = 260.4, +5.0% on 2025's 248. Its past errors, each year's
    # projection (its January–October × last year's total / last year's January–October) against the actual:
    # 2023 100 × 120/100 against 125: -4%; 2024 100 × 125/100 against 120: +4.17%; 2025 200 × 120/100 = 240
    # against 248: -3.23%. Had 2026 been off the same way, it would end at 260.4/0.96 = 271.25,
    # 260.4/1.0417 = 249.98 or 260.4/0.9677 = 269.08; the target is 248 × 1.08 = 267.84, reached under two of three.
    assert "），增长5.0%。按往年同一时点的预计误差推算，3年中有2年可完成全年目标。" in text


def test_the_chance_of_a_target_is_a_count_of_years_until_there_are_five() -> None:
    assert reports.chance_text(2 / 3, 3) == "按往年同一时点的预计误差推算，3年中有2年可完成全年目标"
    assert reports.chance_text(1.0, 2) == "按往年同一时点的预计误差推算，2年中有2年可完成全年目标"
    assert reports.chance_text(6 / 8, 8) == "按目前进度，完成全年目标的概率约为75%（据8年回测）"


def test_a_total_with_a_month_missing_this_year_is_not_projected() -> None:
    """A gap, or a January of a total published 1–2月 together, leaves the year so far unknown: no projection,
    rather than one that counts the missing months as nothing."""
    model = dsl.load([str(SHIPPED)])
    data = [{"indicator": "budget_rev", "entity": "xintai", "period": f"{year}-{m:02d}", "value": 10.0 * m}
            for year in (2024, 2025, 2026) for m in range(1, 13) if (year, m) <= (2026, 10) and (year, m) != (2026, 5)]
    data += [{"indicator": "retail", "entity": "xintai", "period": f"{year}-{m:02d}", "value": 20.0 * m}
             for year in (2024, 2025) for m in range(2, 13)]
    panel = build_panel(model, validate(model, data), as_of=datetime.date(2026, 11, 28))
    assert reports.project(panel, "budget_rev", "xintai", Period.parse("2026-10")) is None  # May is missing
    assert reports.project(panel, "budget_rev", "xintai", Period.parse("2026-04")) is not None  # before the gap
    assert reports.project(panel, "retail", "xintai", Period.parse("2026-01")) is None  # 1–2月 not published yet
    assert "预计全年一般公共预算收入" not in reports.compose(model, panel, "xintai", "2026-10", []).text()


def test_enterprises_entering_a_watch_category_are_counted_not_listed_as_warnings() -> None:
    model = dsl.load([str(SHIPPED)])
    panel = build_panel(model, validate(model, rate_and_stock_rows()), as_of=datetime.date(2026, 11, 28))
    lines = [reports.AlertLine("ent001", "ent_leading", "firing", "info", "龙头", ""),
             reports.AlertLine("ent002", "ent_leading", "firing", "info", "龙头", ""),
             reports.AlertLine("ent003", "ent_fast_decline", "firing", "info", "下滑", ""),
             reports.AlertLine("ent004", "ent_fast_decline", "firing", "warning", "下拉县区3.5个百分点", ""),
             reports.AlertLine("ent005", "ent_new_above_scale", "resolved", "info", "", "")]
    text = reports.compose(model, panel, "taian", "2026-10", lines).text()
    # Only the escalated 下滑快影响大 is a warning; the other four are the watch lists' comings and goings.
    assert "本月触发预警1条（其中严重0条），解除预警0条。" in text
    assert f"{model.entities['ent004'].name}「下滑快影响大企业」（预警，触发）：下拉县区3.5个百分点。" in text
    assert model.entities["ent001"].name not in text
    assert "重点关注企业：本月新列入3家（龙头骨干2家、下滑快影响大1家），移出1家，名单见“企业监测”看板。" in text


RATE = {2022: (5.0, 5.5), 2023: (6.0, 6.2), 2024: (6.0, 6.5), 2025: (7.0, 7.3)}  # ind_va: 1-10月, 全年
OCTOBER = {2022: 1000.0, 2023: 1100.0, 2024: 1250.0, 2025: 1300.0, 2026: 1400.0}  # deposits, 10月末
DECEMBER = {2022: 1050.0, 2023: 1210.0, 2024: 1300.0, 2025: 1378.0}  # October × 1.05, 1.10, 1.04, 1.06


def rate_and_stock_rows() -> list[dict]:
    """ind_va (a rate) for 泰安 and 新泰, deposits (a stock) for 泰安, loans at half the deposits for both."""
    def row(indicator: str, entity: str, period: str, value: float) -> dict:
        return {"indicator": indicator, "entity": entity, "period": period, "value": value}

    data = []
    for entity in ("taian", "xintai"):
        for year, (october, full) in RATE.items():
            data += [row("ind_va", entity, f"{year}-10", october), row("ind_va", entity, f"{year}-12", full)]
        data += [row("ind_va", entity, "2026-09", 7.5), row("ind_va", entity, "2026-10", 7.2)]
        data += [row("loans", entity, f"{y}-10", v / 2) for y, v in OCTOBER.items()]
        data += [row("loans", entity, f"{y}-12", v / 2) for y, v in DECEMBER.items()]
    data += [row("deposits", "taian", f"{y}-10", v) for y, v in OCTOBER.items()]
    data += [row("deposits", "taian", f"{y}-12", v) for y, v in DECEMBER.items()]
    return data


def percentiles(errors: list[float]) -> tuple[float, float]:
    """The 10th and 90th percentiles of three errors, interpolated: positions 0.2 and 1.8 of the sorted three."""
    e = sorted(errors)
    return e[0] + 0.2 * (e[1] - e[0]), e[1] + 0.8 * (e[2] - e[1])


def test_rates_and_balances_are_projected_to_the_year_end_with_the_chance_of_their_targets(tmp_path: Path) -> None:
    # The shipped rules (ind_va 2026: +7.5%) with a growth target on deposits (+8.0%) and a level target on
    # loans (760 亿元), as PUT /targets writes them.
    rules = tmp_path / "taian"
    shutil.copytree(SHIPPED, rules)
    targets = rules / "targets.rules"
    text = replace_target(targets.read_text(encoding="utf-8"), "deposits", 2026, True, {"taian": 8.0})
    targets.write_text(replace_target(text, "loans", 2026, False, {"taian": 760.0}), encoding="utf-8")
    model = dsl.load([str(rules)])
    panel = build_panel(model, validate(model, rate_and_stock_rows()), as_of=datetime.date(2026, 11, 28))
    text = reports.compose(model, panel, "taian", "2026-10", []).text()

    # ind_va, seasonal naive: 1-10月 7.2 plus 2025's drift from October to December (7.3 - 7.0): 7.5.
    # Past projections from October, in points: 2023 6.0 + (5.5 - 5.0) = 6.5 against 6.2, +0.3; 2024
    # 6.0 + (6.2 - 6.0) = 6.2 against 6.5, -0.3; 2025 7.0 + (6.5 - 6.0) = 7.5 against 7.3, +0.2. Mean absolute
    # error 0.8 / 3 = 0.27 points; the band 7.5 - p90 to 7.5 - p10 = 7.5 - 0.28 to 7.5 + 0.2 = 7.22 to 7.7.
    # Had 2026 been off the same way it would end at 7.2, 7.8 or 7.3: the 7.5% target under one of the three.
    p10, p90 = percentiles([0.3, -0.3, 0.2])
    assert (p10, p90) == (pytest.approx(-0.2), pytest.approx(0.28))
    assert ("1-10月，规模以上工业增加值增长7.2%，低于年度目标（7.5%）0.3个百分点。按季节性推算，预计全年增长7.5%左右"
            f"（误差区间{7.5 - p90:.1f}%至{7.5 - p10:.1f}%，回测平均误差0.3个百分点）。"
            "按往年同一时点的预计误差推算，3年中有1年可完成全年目标。") in text

    # Deposits, seasonal naive: October's 1,400 × 2025's October-to-December growth (1,378 / 1,300 = 1.06) =
    # 1,484, +7.7% on last December's 1,378. Past projections: 2023 1,100 × 1.05 = 1,155 against 1,210 (-1/22);
    # 2024 1,250 × 1.10 = 1,375 against 1,300 (+3/52); 2025 1,300 × 1.04 = 1,352 against 1,378 (-1/53).
    # MAPE (4.55 + 5.77 + 1.89) / 3 = 4.07%. The target 1,378 × 1.08 = 1,488.24; had 2026 been off the same way it
    # would end at 1,484 × 22/21 = 1,554.7, 1,484 × 52/55 = 1,403.1 or 1,484 × 53/52 = 1,512.5: two of three.
    errors = [-1 / 22, 3 / 52, -1 / 53]
    p10, p90 = percentiles(errors)
    band = f"（误差区间{1484 / (1 + p90):.1f}至{1484 / (1 + p10):.1f}亿元，回测平均误差4.1%）"
    assert sum(abs(e) for e in errors) / 3 * 100 == pytest.approx(4.07, abs=0.005)
    # The headline growth is October's over last October's: 1,400 / 1,300 = +7.7%, 0.3 points under 8.0.
    assert ("10月末，金融机构本外币各项存款余额同比增长7.7%，低于年度目标（8.0%）0.3个百分点。"
            f"按季节性推算，预计年末余额1484.0亿元{band}，比上年末增长7.7%。"
            "按往年同一时点的预计误差推算，3年中有2年可完成全年目标。") in text

    # Loans, half the deposits: the same relative errors. 700 is 92.1% of 760; projected 742 (97.6% of it),
    # ending at 777.3, 701.5 or 756.3 had it been off as before: 760 only under the first.
    band = f"（误差区间{742 / (1 + p90):.1f}至{742 / (1 + p10):.1f}亿元，回测平均误差4.1%）"
    assert ("10月末，金融机构本外币各项贷款余额700.0亿元，为年度目标（760.0亿元）的92.1%。"
            f"按季节性推算，预计年末余额742.0亿元{band}，为年度目标的97.6%。"
            "按往年同一时点的预计误差推算，3年中有1年可完成全年目标。") in text


def test_a_county_without_targets_gets_the_projections_of_its_rates_and_balances() -> None:
    model = dsl.load([str(SHIPPED)])
    panel = build_panel(model, validate(model, rate_and_stock_rows()), as_of=datetime.date(2026, 11, 28))
    text = reports.compose(model, panel, "xintai", "2026-10", []).text()
    # The same figures as 泰安's above, without a target to set them against.
    p10, p90 = percentiles([0.3, -0.3, 0.2])
    assert (f"按季节性推算，预计全年规模以上工业增加值增长7.5%左右（误差区间{7.5 - p90:.1f}%至{7.5 - p10:.1f}%，"
            "回测平均误差0.3个百分点）。") in text
    p10, p90 = percentiles([-1 / 22, 3 / 52, -1 / 53])
    assert (f"按季节性推算，预计年末金融机构本外币各项贷款余额742.0亿元（误差区间{742 / (1 + p90):.1f}至"
            f"{742 / (1 + p10):.1f}亿元，回测平均误差4.1%），比上年末增长7.7%。") in text  # 742 / 689 = +7.7%
    assert "概率" not in text


async def test_the_quarter_month_has_gdp_and_the_industries_pulls_at_comparable_prices(loaded: Service) -> None:
    text = (await reports.build(loaded, "taian", "2026-09")).text()
    assert ("前三季度，全市实现地区生产总值2500.0亿元，按可比价格计算，增长5.8%。"
            "其中，第一产业增加值210.0亿元，增长4.0%；第二产业增加值1060.0亿元，增长6.2%；"
            "第三产业增加值1230.0亿元，增长6.6%。") in text
    # Base 2025Q3 = 2400: 200×4.0/2400 = 0.33, 1000×6.2/2400 = 2.58, 1200×6.6/2400 = 3.30 points;
    # rates over 0.333+2.583+3.3 = 6.217: 5.4%, 41.6%, 53.1%.
    assert ("从三次产业看，第一产业拉动地区生产总值增长0.3个百分点，贡献率5.4%；"
            "第二产业拉动地区生产总值增长2.6个百分点，贡献率41.6%；"
            "第三产业拉动地区生产总值增长3.3个百分点，贡献率53.1%。") in text


async def test_a_county_brief_has_its_rank_and_its_own_pull_on_the_city(loaded: Service) -> None:
    brief = await reports.build(loaded, "xintai", "2026-10")
    text = brief.text()
    # Among the counties reporting (xintai 10.0, feicheng 6.0, dongping 25.0) xintai is second.
    assert "1-10月，规模以上工业增加值增长10.0%，比1-9月提高1.0个百分点，居全市第2位。" in text
    assert "规上工业：新泰市增长10.0%，拉动全市规上工业增长4.0个百分点，贡献率52.6%。" in text
    assert "肥城市增长6.0%" not in text and "东平县" not in text  # neither feicheng's pull nor dongping's alert
    assert [(name, own) for name, _, own in brief.bars] == [("新泰市", True), ("肥城市", False), ("东平县", False)]


async def test_html_has_both_charts_and_the_pdf_is_a_real_pdf(loaded: Service) -> None:
    page = (await reports.render(loaded, "taian", "2026-10", "html")).decode()
    assert page.count("<svg") == 2 and 'class="chart-bars"' in page and 'class="chart-line"' in page
    assert len(re.findall(r"<rect ", page)) == 3 and "http" not in page.replace("http://www.w3.org/2000/svg", "")
    if CHROMIUM_MISSING:
        pytest.skip(f"{reports.CHROMIUM} is not installed: the PDF cannot be printed")
    pdf = await reports.render(loaded, "taian", "2026-10", "pdf")
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000


async def test_the_api_serves_the_brief_within_the_callers_region(loaded: Service, sqlite_store: str) -> None:
    app = make_app(loaded, sqlite_store)
    _, response = await app.asgi_client.get("/api/v1/reports/brief?entity=taian&period=2026-10")
    assert response.status == 200 and response.content_type.startswith("text/html")
    assert "拉动全市规上工业增长4.0个百分点" in response.text
    _, response = await app.asgi_client.get("/api/v1/reports/brief?entity=taian&period=2019-10")
    assert response.status == 404 and "还没有数据" in response.json["error"]["message"]

    class Leader:
        async def __call__(self, request: object) -> Principal:
            return Principal("leader", EVERYTHING, scope=frozenset({"xintai"}))

    app.ctx.authenticate = Leader()
    _, mine = await app.asgi_client.get("/api/v1/reports/brief?entity=xintai&period=2026-10")
    _, theirs = await app.asgi_client.get("/api/v1/reports/brief?entity=dongping&period=2026-10")
    assert mine.status == 200 and "新泰市2026年10月统计分析简报" in mine.text
    assert theirs.status == 403 and "dongping" in theirs.json["error"]["message"]


async def test_send_and_the_schedule_queue_a_digest_with_the_link(loaded: Service, sqlite_store: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAISHAN_PUBLIC_URL", "https://tj.example.cn")
    await Receiver.create(name="leaders", urls="json://127.0.0.1:9/x")
    await Receiver.create(name="xintai_office", urls="json://127.0.0.1:9/y", scope=["xintai"])
    app = make_app(loaded, sqlite_store)
    _, response = await app.asgi_client.post("/api/v1/reports/brief/send", json={
        "entity": "taian", "period": "2026-10", "receivers": ["leaders"]})
    assert response.status == 200 and response.json["queued"] == 1
    message = await OutboxMessage.get(receiver="leaders")
    assert "1-10月，规模以上工业增加值增长8.0%，比1-9月回落0.4个百分点。" in message.body
    assert message.body.endswith("https://tj.example.cn/api/v1/reports/brief?entity=taian&period=2026-10")
    _, unknown = await app.asgi_client.post("/api/v1/reports/brief/send", json={
        "entity": "taian", "period": "2026-10", "receivers": ["nobody"]})
    assert unknown.status == 400
    # 2026-11-03 09:00 Beijing is 01:00 UTC: October's briefs go out, once; at 08:59 nothing does.
    utc = datetime.UTC
    assert await reports.monthly_briefs(loaded, datetime.datetime(2026, 11, 3, 0, 59, tzinfo=utc)) == 0
    now = datetime.datetime(2026, 11, 3, 1, 0, tzinfo=utc)
    assert await reports.monthly_briefs(loaded, now, "https://tj.example.cn") == 1  # leaders' was sent on demand
    assert await reports.monthly_briefs(loaded, now, "https://tj.example.cn") == 0
    scheduled = await OutboxMessage.get(receiver="xintai_office")
    assert scheduled.title == "新泰市2026年10月统计分析简报" and "entity=xintai&period=2026-10" in scheduled.body


async def test_the_cli_writes_the_file_and_fails_in_chinese(loaded: Service, sqlite_store: str,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "brief.html"
    command = [str(Path(sys.executable).parent / "taishan"), "report", "--entity", "taian", "--period", "2026-10",
               "--db", sqlite_store]
    done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == str(out)
    assert "拉动全市规上工业增长4.0个百分点" in out.read_text()
    for extra, message in [(["--entity", "nowhere"], "没有名为「nowhere」的地区"),
                           (["--period", "2019-10"], "还没有数据"),
                           (["--db", f"sqlite://{tmp_path}/none.sqlite3"], "找不到数据库")]:
        failed = subprocess.run([*command, *extra], capture_output=True, text=True, timeout=60)
        assert failed.returncode == 1 and message in failed.stderr and "Traceback" not in failed.stderr
