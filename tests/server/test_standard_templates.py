"""The standard data templates (server/standard_templates.py): `taishan demo` creates them once, and the
enterprise monthly form goes through the API and `taishan import` into exactly the four observations."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sanic import Sanic

import dsl
from server import demo, standard_templates
from server.cli import main
from server.service import Service
from server.store.models import AuditEntry, DataTemplate, Event, ImportBatch, Observation
from tests.server.test_import_cli import in_store
from tests.server.test_templates import WIDE_HEADER, cells, upload, workbook

ROOT = Path(__file__).resolve().parents[2]
ENTERPRISE = standard_templates.ENTERPRISE_MONTHLY
FIRM = "ent001"
PERIOD = "2026-10"
# What ent001 reports for 1–10月 (万元, 万元, 万千瓦时, 万元), in the form's row order.
REPORTED = {"ent_output": 118209.0, "ent_revenue": 114890.9, "ent_power": 4061.1, "ent_orders": 117752.1}


@pytest.fixture
def repository(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads the shipped rules relative to the repository and settings from TAISHAN_* variables."""
    monkeypatch.chdir(ROOT)
    for name in [n for n in os.environ if n.startswith("TAISHAN_")]:
        monkeypatch.delenv(name)


def firm_sheet(name: str, values: dict[str, object], period: str | None = PERIOD) -> list[list[object]]:
    """A firm's sheet as the blank form lays it out: 单位 and 期别 above the header, values in 1-本月 (E)."""
    labels = {r["ytd"]: r["label"] for r in standard_templates.ENTERPRISE_ROWS}
    units = {"ent_power": "万千瓦时"}
    top = [["单位", name], ["期别", period]] if period else []
    return [*top, WIDE_HEADER, *([labels[i], units.get(i, "万元"), None, None, v, None] for i, v in values.items())]


async def observations() -> set[tuple[str, str, str, float]]:
    return set(await Observation.all().values_list("indicator", "entity", "period", "value"))


def test_the_demo_creates_the_standard_templates_once(repository: None, tmp_path: Path) -> None:
    url, out = f"sqlite://{tmp_path}/demo.sqlite3", tmp_path / "demo.csv"
    assert main(["demo", "--db", url, "--out", str(out)]) == 0
    model = dsl.load(["rules/taian"])

    async def again() -> tuple[list[str], dict[str, DataTemplate], int]:
        created = await standard_templates.ensure(model, user="demo")
        audited = await AuditEntry.filter(action="template.create", actor="demo").count()
        return created, {r.name: r for r in await DataTemplate.all()}, audited

    created, records, audited = in_store(url, again)
    assert created == [] and audited == 2  # the second pass finds both and adds nothing
    assert sorted(records) == sorted(["县区经济运行月报", "规上工业企业月报"])
    county, firms = records["县区经济运行月报"], records["规上工业企业月报"]
    assert county.layout == firms.layout == "wide"
    # The county form covers every monthly figure the demo data give a county, bar the firms' sums.
    with out.open(encoding="utf-8") as handle:
        monthly = {r["indicator"] for r in csv.DictReader(handle) if r["entity"] == "xintai" and len(r["period"]) == 7}
    assert set(county.indicators) == monthly - {"ent_output", "ent_revenue", "ent_power", "ent_orders"}
    assert county.entities == ["taian", "taishan", "daiyue", "xintai", "feicheng", "ningyang", "dongping"]
    assert firms.entities == [f.id for f in demo.enterprises()]
    assert firms.options["rows"] == [
        {"label": "工业总产值", "ytd": "ent_output"}, {"label": "营业收入", "ytd": "ent_revenue"},
        {"label": "用电量", "ytd": "ent_power"}, {"label": "新签订单金额", "ytd": "ent_orders"}]


async def test_the_county_form_reads_each_indicator_from_the_column_of_its_form(app: Sanic) -> None:
    assert await standard_templates.ensure(app.ctx.service.model, user="tester") == ["县区经济运行月报", ENTERPRISE]
    _, response = await app.asgi_client.get(f"/api/v1/templates/{standard_templates.COUNTY_MONTHLY}")
    rows = {r["label"]: {k: v for k, v in r.items() if k != "label"} for r in response.json["rows"]}
    assert response.json["title"] == "县（市、区）经济运行主要指标月报"
    # A published growth rate, a year-to-date level, a balance and a month's count.
    assert rows["规模以上工业增加值"] == {"ytd_growth": "ind_va"}
    assert rows["社会消费品零售总额"] == {"ytd": "retail"}
    assert rows["金融机构本外币各项存款余额"] == {"month": "deposits"}
    assert rows["新登记市场主体"] == {"month": "new_entities"}


async def test_the_blank_enterprise_form_filled_for_one_firm_stores_its_four_values(app: Sanic) -> None:
    await standard_templates.ensure(app.ctx.service.model, user="tester")
    _, response = await app.asgi_client.get(f"/api/v1/templates/{ENTERPRISE}/blank.xlsx")
    assert response.status == 200, response.text
    book = load_workbook(io.BytesIO(response.body))
    assert len(book.sheetnames) == len(demo.enterprises()) + 1  # a sheet per firm, and the code table
    form = book["泰山和达金属制品有限公司"]  # ent001
    assert form["B2"].value == "泰山和达金属制品有限公司" and [c.value for c in form[5]] == WIDE_HEADER
    assert [(form.cell(r, 1).value, form.cell(r, 2).value) for r in range(6, 10)] == [
        ("工业总产值", "万元"), ("营业收入", "万元"), ("用电量", "万千瓦时"), ("新签订单金额", "万元")]
    form["B3"] = PERIOD
    for row, value in enumerate(REPORTED.values(), start=6):
        form.cell(row, 5).value = value
    filled = io.BytesIO()
    book.save(filled)
    # The other 299 firms' sheets are still blank, without a 期别: a sheet with no figures reports nothing.
    uploaded = await upload(app, ENTERPRISE, "十月企业月报.xlsx", filled.getvalue())
    assert uploaded.status == 201, uploaded.text
    expected = {(indicator, FIRM, PERIOD, value) for indicator, value in REPORTED.items()}
    assert {(v["indicator"], v["entity"], v["period"], v["value"]) for v in uploaded.json["vintages"]} == expected
    assert await observations() == expected


def test_taishan_import_takes_one_firms_sheet(repository: None, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite://{tmp_path}/cli.sqlite3"
    model = dsl.load(["rules/taian"])
    in_store(url, lambda: standard_templates.ensure(model, user="tester"))
    book = Workbook()
    for row in firm_sheet("", REPORTED, period=None):  # no 单位, 期别: they come from the command line
        book.active.append(row)
    path = tmp_path / "和达十月.xlsx"
    book.save(path)
    assert main(["import", str(path), "--template", ENTERPRISE, "--entity", FIRM, "--period", PERIOD,
                 "--db", url]) == 0
    assert "新增 4 条" in capsys.readouterr().out
    assert in_store(url, observations) == {(indicator, FIRM, PERIOD, value) for indicator, value in REPORTED.items()}


async def test_an_unknown_firm_or_text_in_a_number_cell_is_reported_and_nothing_stored(app: Sanic) -> None:
    await standard_templates.ensure(app.ctx.service.model, user="tester")
    sheets = {
        "新厂": firm_sheet("泰山新兴不锈钢有限公司", {"ent_output": 3200.0}),  # no such firm in enterprises.rules
        "区里": firm_sheet("泰山区", {"ent_output": 362886.1}),  # a county is not a firm of this template
        "和达": firm_sheet("泰山和达金属制品有限公司", {"ent_output": 118209.0, "ent_revenue": "约11.5亿"}),
    }
    response = await upload(app, ENTERPRISE, "十月企业月报.xlsx", workbook(sheets))
    assert response.status == 422 and response.json["error"]["code"] == "invalid_cells"
    # 单位 is B1 of each sheet; 营业收入 is the second row under the header on row 3, its 1-本月 in column E.
    assert cells(response) == [("新厂", 1, "B"), ("区里", 1, "B"), ("和达", 5, "E")]
    reasons = [d["reason"] for d in response.json["error"]["details"]]
    assert "未知单位「泰山新兴不锈钢有限公司」" in reasons[0]
    assert "不包含单位「泰山区」" in reasons[1] and "「约11.5亿」不是数字" in reasons[2]
    assert await Observation.all().count() == 0 and await ImportBatch.all().count() == 0


async def test_a_sharp_drop_in_output_makes_the_firm_a_fast_decliner(app: Sanic, sqlite_service: Service) -> None:
    await standard_templates.ensure(app.ctx.service.model, user="tester")
    history = [r for r in demo.generate(2026, PERIOD)
               if r["indicator"] == "ent_output" and r["entity"] in (FIRM, "taishan") and r["period"] >= "2025"]
    loaded = await sqlite_service.ingest(history, source="demo", user="demo")
    assert not [t for t in loaded.transitions if t["rule"] == "ent_fast_decline"]  # growing on the demo data
    level = {(r["entity"], r["period"]): r["value"] for r in history}
    last_year, county_last_year = level[(FIRM, "2025-10")], level[("taishan", "2025-10")]
    dropped = round(last_year * 0.8, 1)  # output 20% below 1–10月 of last year
    growth = (dropped / last_year - 1) * 100
    pull = (dropped - last_year) / county_last_year * 100  # points off the county's output growth
    assert growth <= -15 and pull <= -1  # the rule's 下滑快影响大 thresholds
    response = await upload(app, ENTERPRISE, "十月企业月报.xlsx",
                            workbook({"和达": firm_sheet("泰山和达金属制品有限公司", {"ent_output": dropped})}))
    assert response.status == 201, response.text
    [alert] = [t for t in response.json["transitions"] if t["rule"] == "ent_fast_decline"]
    assert (alert["entity"], alert["period"], alert["old"], alert["new"]) == (FIRM, PERIOD, "inactive", "firing")
    assert alert["severity"] == ("warning" if pull <= -3 else "info")
    # At info it only lists the firm (企业监测): the answer, and the event a dashboard's pop-up reads, say so.
    assert alert["listed"] is (alert["severity"] == "info")
    event = await Event.filter(kind="transition").order_by("-id").first()
    assert event is not None and event.payload["rule"] == "ent_fast_decline"
    assert event.payload["listed"] is alert["listed"]
    assert f"下降{-growth:.1f}%" in alert["message"] and f"下拉所在县区产值增速{-pull:.2f}个百分点" in alert["message"]


def test_another_regions_rule_set_gets_no_standard_template() -> None:
    """The Shandong cities' rules have neither 泰安's counties nor its enterprise indicators: nothing to create,
    rather than an error before the demo data are even read."""
    shandong = dsl.load([str(ROOT / "rules" / "shandong")])
    assert standard_templates.definitions(shandong) == []
    taian = dsl.load([str(ROOT / "rules" / "taian")])
    assert [d["name"] for d in standard_templates.definitions(taian)] == ["县区经济运行月报", "规上工业企业月报"]


async def test_a_firm_new_to_the_list_is_marked_listed_and_a_warning_is_not(sqlite_service: Service) -> None:
    # ent020 went above scale in 2026 (enterprises.rules): its first output this year lists it as 小升规, at info.
    listed = await sqlite_service.ingest([{"indicator": "ent_output", "entity": "ent020", "period": "2026-02",
                                           "value": 350.0}], source="test", user="tester")
    [entry] = [t for t in listed.transitions if t["rule"] == "ent_new_above_scale" and t["new"] == "firing"]
    assert (entry["entity"], entry["severity"], entry["listed"]) == ("ent020", "info", True)
    events = [e.payload for e in await Event.filter(kind="transition")]
    assert {(e["rule"], e["entity"], e["listed"]) for e in events if e["rule"] == "ent_new_above_scale"} == {
        ("ent_new_above_scale", "ent020", True)}
    # 规上工业增加值 growing 25% in 新泰 is a warning of the range rule: not a list entry.
    warned = await sqlite_service.ingest([{"indicator": "ind_va", "entity": "xintai", "period": "2026-02",
                                           "value": 25.0}], source="test", user="tester")
    assert [t["listed"] for t in warned.transitions if t["new"] == "firing"] and not any(
        t["listed"] for t in warned.transitions)
