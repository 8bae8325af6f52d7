"""企业监测, 目标进度 and the contribution panels, pulled from the running dashboards over the demo data: what each
shows is checked against the engine's own run of the same demo rows, and the figures against values worked out
here from those rows. The Chromium test goes from 企业监测 to one enterprise's drill-down."""

from __future__ import annotations

import datetime
import re
from urllib.parse import parse_qs, urlparse

import pytest
from bokeh.document import Document

import dsl
from dashboards.enterprises import INDUSTRY_NAMES, SIZES
from engine import Report, run
from server import demo as generator
from server.access import Principal
from server.accounts import visible_entities
from tests.dashboards.conftest import Demo
from tests.dashboards.test_documents import pull, text, viewer

ROW = re.compile(r'<tr data-entity="(ent\d+)" data-category="([^"]+)">(.*?)</tr>')
COUNT = re.compile(r'<td data-county="(\w+)" data-category="([^"]+)"><a [^>]*>(\d+)</a></td>')


@pytest.fixture(scope="module")
def model() -> dsl.Model:
    return dsl.load(["rules/taian"])


@pytest.fixture(scope="module")
def rows() -> dict[tuple[str, str, str], float]:
    """The demo's rows, as `taishan demo` generated them for the running store (same seed, same end)."""
    return {(r["indicator"], r["entity"], r["period"]): float(r["value"]) for r in generator.generate(2026)}


@pytest.fixture(scope="module")
def report(model: dsl.Model) -> Report:
    return run(model, generator.generate(2026), as_of=datetime.date.today())


def leader(model: dsl.Model) -> Principal:
    return viewer("leader", visible_entities(model, ["xintai"]))


def listed(document: Document) -> dict[tuple[str, str], set[str]]:
    """(county, category) → the enterprises the view lists there."""
    found: dict[tuple[str, str], set[str]] = {}
    for section in text(document, "enterprises").split("<h3 ")[1:]:
        county = re.match(r'data-county="(\w+)"', section).group(1)  # type: ignore[union-attr]
        for entity, category, _ in ROW.findall(section):
            found.setdefault((county, category), set()).add(entity)
    return found


def firing_categories(model: dsl.Model, report: Report) -> dict[tuple[str, str], set[str]]:
    categories = {r.id: r.labels["category"] for r in model.rules.values() if "category" in r.labels}
    found: dict[tuple[str, str], set[str]] = {}
    for t in report.current():
        if t.rule in categories and t.new == "firing":
            county = model.entities[t.entity].parent
            found.setdefault((county, categories[t.rule]), set()).add(t.entity)  # type: ignore[arg-type]
    return found


def latest(rows: dict[tuple[str, str, str], float], indicator: str, entity: str) -> str:
    return max(p for i, e, p in rows if i == indicator and e == entity)


def test_each_county_lists_the_enterprises_whose_category_rule_fires(demo: Demo, model: dsl.Model,
                                                                    report: Report) -> None:
    expected = firing_categories(model, report)
    assert {category for _, category in expected} == {"龙头骨干", "小升规", "增长快后劲足", "下滑快影响大"}
    document = pull(demo, "enterprises")
    assert listed(document) == expected
    counts = {(county, category): int(n) for county, category, n in COUNT.findall(text(document, "counts"))}
    assert {k: n for k, n in counts.items() if n} == {k: len(v) for k, v in expected.items()}
    assert len(counts) == 6 * 4  # every county, every category, zeros included


def test_a_row_shows_the_enterprise_its_output_growth_and_share_of_the_county(demo: Demo, model: dsl.Model,
                                                                             report: Report, rows: dict) -> None:
    decliner = sorted(firing_categories(model, report)[("xintai", "下滑快影响大")])[0]
    row = next(cells for entity, _, cells in ROW.findall(text(pull(demo, "enterprises"), "enterprises"))
               if entity == decliner)
    period = latest(rows, "ent_output", decliner)
    year_before = f"{int(period[:4]) - 1}{period[4:]}"
    value = rows[("ent_output", decliner, period)]
    growth = (value / rows[("ent_output", decliner, year_before)] - 1) * 100
    share = value / rows[("ent_output", "xintai", period)] * 100
    attrs = model.entities[decliner].attrs
    assert growth <= -15  # the category's own threshold
    # 列入期别: the period the category's rule last went to firing at this firm, as the engine's run records it.
    rule = next(r.id for r in model.rules.values() if r.labels.get("category") == "下滑快影响大")
    entered = [t.period for t in report.transitions if t.rule == rule and t.entity == decliner and t.new == "firing"]
    cells = re.findall(r"<td>(.*?)</td>", row)
    assert model.entities[decliner].name in cells[0]
    assert cells[1:] == [INDUSTRY_NAMES[attrs["industry"]], SIZES[attrs["size"]], f"{value:,.0f}", f"{growth:+.1f}",
                         f"{share:.1f}", entered[-1]]


def test_a_xintai_leader_sees_only_xintai_and_its_enterprises(demo: Demo, model: dsl.Model) -> None:
    document = pull(demo, "enterprises", caller=leader(model))
    shown = listed(document)
    assert shown and {county for county, _ in shown} == {"xintai"}
    assert all(model.entities[e].parent == "xintai" for members in shown.values() for e in members)
    assert {county for county, _, _ in COUNT.findall(text(document, "counts"))} == {"xintai"}
    refused = pull(demo, "enterprises", caller=leader(model), entity="dongping")
    assert "无权查看「东平县」" in text(refused, "refused")
    elsewhere = next(e for e in model.children("dongping") if model.entities[e].kind == "enterprise")
    assert "无权查看" in text(pull(demo, "drill", caller=leader(model), entity=elsewhere), "refused")


def test_one_category_of_one_county(demo: Demo, model: dsl.Model, report: Report) -> None:
    key = ("feicheng", "增长快后劲足")
    document = pull(demo, "enterprises", entity=key[0], category=key[1])
    assert listed(document) == {key: firing_categories(model, report)[key]}
    assert "没有「其他」这类企业" in text(pull(demo, "enterprises", category="其他"), "refused")


def test_the_drill_link_of_an_enterprise_opens_its_series_against_its_county(demo: Demo, model: dsl.Model,
                                                                            report: Report, rows: dict) -> None:
    decliner = sorted(firing_categories(model, report)[("xintai", "下滑快影响大")])[0]
    href = re.search(rf'<a href="([^"]*entity={decliner}[^"]*)">', text(pull(demo, "enterprises"), "enterprises"))
    assert href is not None
    link = urlparse(href.group(1).replace("&amp;", "&"))
    assert link.path == "/dash/drill"
    arguments = {k: v[0] for k, v in parse_qs(link.query).items()}
    assert arguments == {"entity": decliner, "indicator": "ent_output"}
    document = pull(demo, "drill", **arguments)
    assert document.select_one({"name": "series"}).title.text == f"{model.entities[decliner].name} · 企业工业总产值"
    table = document.select_one({"name": "points"})
    points = table.source.data
    period = latest(rows, "ent_output", decliner)
    year_before = f"{int(period[:4]) - 1}{period[4:]}"
    assert points["period"][0] == period
    assert points["value"][0] == pytest.approx(rows[("ent_output", decliner, period)])
    mine = rows[("ent_output", decliner, period)] / rows[("ent_output", decliner, year_before)] * 100 - 100
    county = rows[("ent_output", "xintai", period)] / rows[("ent_output", "xintai", year_before)] * 100 - 100
    assert points["shown"][0] == pytest.approx(mine)
    assert points["city"][0] == pytest.approx(county)  # the reference line of an enterprise is its county
    assert next(c.title for c in table.columns if c.field == "city") == "新泰市"
    reference = document.select_one({"name": "series"}).select_one({"name": "reference"})
    assert next(i.label.value for i in document.select_one({"name": "series"}).legend[0].items
                if reference in i.renderers) == "新泰市"
    # The decliner's category rule fires now, but a watch list is not a warning: no period is painted red.
    assert document.select_one({"name": "red"}).data_source.data["x"] == []
    assert not any(points["flag"])


def _target_row(document: Document, indicator: str, entity: str) -> str:
    found = re.search(rf'<tr data-indicator="{indicator}" data-entity="{entity}">(.*?)</tr>', text(document, "targets"))
    assert found is not None, (indicator, entity)
    return found.group(1)


def _goal(model: dsl.Model, indicator: str, entity: str, year: int) -> float:
    target = next(t for t in model.targets if t.indicator == indicator and t.year == year)
    return next(v.value for v in target.values if v.entity == entity)


def test_targets_show_progress_against_time_and_growth_against_target(demo: Demo, model: dsl.Model,
                                                                      rows: dict) -> None:
    period = latest(rows, "budget_rev", "xintai")
    year, month = int(period[:4]), int(period[5:])
    document = pull(demo, "targets", year=str(year))
    goal = _goal(model, "budget_rev", "xintai", year)
    progress = rows[("budget_rev", "xintai", period)] / goal * 100
    elapsed = month / 12 * 100
    gap = round(round(progress, 1) - round(elapsed, 1), 1)  # 时间过半、任务过半, on the published figures
    row = _target_row(document, "budget_rev", "xintai")
    assert f"<td>{period}</td>" in row and f"<td>{progress:.1f}%</td><td>{elapsed:.1f}%</td>" in row
    flag = ' class="flag"' if gap < 0 else ""
    assert f"<span{flag}>{gap:+.1f}</span>" in row
    # A monthly YTD level also gets its year-end projection, seasonal naive: this year's YTD grows to December as
    # last year's did, YTD × last year's December YTD ÷ last year's YTD at the same month.
    last_year = f"{year - 1}{period[4:]}"
    level = (rows[("budget_rev", "xintai", period)] * rows[("budget_rev", "xintai", f"{year - 1}-12")]
             / rows[("budget_rev", "xintai", last_year)])
    digits = 2 if level < 100 else 1  # 亿元 to two decimals below 100, one above (reports.amount)
    assert f"<td>{level:.{digits}f}亿元（目标的{level / goal * 100:.1f}%），区间" in row

    growth_period = latest(rows, "ind_va", "taian")
    actual = rows[("ind_va", "taian", growth_period)]
    growth_gap = round(round(actual, 1) - _goal(model, "ind_va", "taian", year), 1)
    growth_row = _target_row(document, "ind_va", "taian")
    assert f"<td>{growth_period}</td>" in growth_row and f">{growth_gap:+.1f}</span>" in growth_row
    # Its year-end projection: this year's cumulative growth plus last year's drift from the same month to
    # December (seasonal naive on a rate), and a chance of reaching the target from the backtest.
    month_before = f"{year - 1}{growth_period[4:]}"
    projected = actual + rows[("ind_va", "taian", f"{year - 1}-12")] - rows[("ind_va", "taian", month_before)]
    cells = re.search(r"<td>([^<]*)</td><td>([^<]*)</td>$", growth_row)
    assert cells is not None and cells.group(1).startswith(f"增长{projected:.1f}%，区间")
    # The chance of the target: in each past year with a year before it, the same projection made at the same
    # month missed that year's full-year growth by some points; the chance is the share of those misses under
    # which this year's projection, corrected by the miss, still reaches the target.
    def ind_va(y: int, m: int) -> float:
        return rows[("ind_va", "taian", f"{y}-{m:02d}")]

    known = int(growth_period[5:])
    first = min(int(p[:4]) for i, e, p in rows if i == "ind_va" and e == "taian")
    # A miss: that year's growth at the month plus the drift of the year before to December, minus the truth.
    errors = [ind_va(past, known) + ind_va(past - 1, 12) - ind_va(past - 1, known) - ind_va(past, 12)
              for past in range(first + 1, year)]
    goal_growth = _goal(model, "ind_va", "taian", year)
    chance = sum(projected - e >= goal_growth for e in errors) / len(errors)
    assert len(errors) >= 5  # enough years for a percentage rather than "M/N年"
    assert cells.group(2) == f"{chance * 100:.0f}%"

    bars = document.select_one({"name": "gaps"})
    source = bars.renderers[0].data_source.data
    at = source["label"].index("新泰市·一般公共预算收入")
    assert source["gap"][at] == pytest.approx(gap)
    assert source["colour"][at] == ("#d93025" if gap < 0 else "#1e8e3e")
    assert "泰安市·规模以上工业增加值（增速）" in source["label"]  # a growth target says so
    assert len(set(source["label"])) == len(source["label"])
    expected = sum(len(t.values) for t in model.targets if t.year == year)
    assert len(re.findall("<tr data-indicator=", text(document, "targets"))) == expected


def test_a_leader_sees_the_targets_of_their_county_and_the_city_only(demo: Demo, model: dsl.Model) -> None:
    shown = re.findall(r'data-entity="(\w+)"', text(pull(demo, "targets", caller=leader(model)), "targets"))
    assert shown and set(shown) == {"taian", "xintai"}


def test_contribution_panels_show_each_countys_pull_and_rate(demo: Demo, rows: dict) -> None:
    document = pull(demo, "board", id="gdp_accounting")
    table = document.select_one({"name": "gdp_county_contribution"}).source.data
    quarter = latest(rows, "gdp_growth", "xintai")
    base_quarter = f"{int(quarter[:4]) - 1}{quarter[4:]}"
    increment = rows[("gdp", "xintai", base_quarter)] * rows[("gdp_growth", "xintai", quarter)] / 100
    city_base = rows[("gdp", "taian", base_quarter)]
    city_increment = city_base * rows[("gdp_growth", "taian", quarter)] / 100
    at = table["entity"].index("新泰市")
    assert table["c1"][at] == pytest.approx(increment / city_base * 100)  # 拉动, percentage points
    assert table["c2"][at] == pytest.approx(increment / city_increment * 100)  # 贡献率, %
    assert sum(table["c1"]) == pytest.approx(rows[("gdp_growth", "taian", quarter)], abs=0.1)

    industry = pull(demo, "board", id="industry").select_one({"name": "ind_revenue_pull"}).source.data
    month = latest(rows, "ind_revenue", "taian")
    month_before = f"{int(month[:4]) - 1}{month[4:]}"
    change = rows[("ind_revenue", "xintai", month)] - rows[("ind_revenue", "xintai", month_before)]
    city_change = rows[("ind_revenue", "taian", month)] - rows[("ind_revenue", "taian", month_before)]
    at = industry["entity"].index("新泰市")
    assert industry["c1"][at] == pytest.approx(change / rows[("ind_revenue", "taian", month_before)] * 100)
    assert industry["c2"][at] == pytest.approx(change / city_change * 100)


def test_the_overview_inbox_holds_warnings_not_watch_list_entries(demo: Demo, model: dsl.Model,
                                                                   report: Report) -> None:
    listed = firing_categories(model, report)
    assert listed[("xintai", "龙头骨干")]  # firing now, in the 企业监测 list
    inbox = text(pull(demo, "overview"), "inbox")
    assert "龙头骨干企业" not in inbox and "小升规企业" not in inbox and "增长快后劲足企业" not in inbox
    assert not any(model.entities[firm].name in inbox for key, firms in listed.items() if key[1] == "龙头骨干"
                   for firm in firms)
