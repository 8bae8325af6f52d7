"""Data templates over the API, in process: definitions, uploads (long CSV, wide XLSX), cell reports, blank forms
and region scope."""

from __future__ import annotations

import io

from openpyxl import Workbook, load_workbook
from sanic import Sanic
from sanic.request import Request
from sanic_testing.testing import TestingResponse as Response

from server.api.auth import EVERYTHING, Principal
from server.store.models import DataTemplate, ImportBatch, Observation

WIDE = {"name": "monthly", "title": "主要经济指标月报", "layout": "wide",
        "indicators": ["ind_va", "社会消费品零售总额", "ind_firms"], "entities": ["xintai", "feicheng"]}
LONG = {"name": "industry", "title": "工业月度数据", "layout": "long", "indicators": ["ind_va", "retail"],
        "entities": ["xintai", "feicheng"]}
WIDE_HEADER = ["指标", "计量单位", "本月", "同比%", "1-本月", "同比%"]


async def create(app: Sanic, body: dict) -> dict:
    _, response = await app.asgi_client.post("/api/v1/templates", json=body)
    assert response.status == 201, response.text
    return response.json


async def upload(app: Sanic, name: str, filename: str, data: bytes, **query: str) -> Response:
    _, response = await app.asgi_client.post(f"/api/v1/templates/{name}/upload", params=query,
                                             files={"file": (filename, data)})
    return response


async def stored(app: Sanic, indicator: str, entity: str) -> list[tuple[str, float]]:
    _, response = await app.asgi_client.get("/api/v1/series", params={"indicator": indicator, "entity": entity})
    assert response.status == 200, response.text
    return [(item["period"], item["value"]) for item in response.json["items"]]


def workbook(sheets: dict[str, list[list[object]]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def cells(response: Response) -> list[tuple[str, int, str]]:
    return [(d["sheet"], d["row"], d["column"]) for d in response.json["error"]["details"]]


async def test_a_template_is_created_listed_shown_and_deleted(app: Sanic) -> None:
    created = await create(app, WIDE)
    # Names become ids; each indicator reads the column its published form calls for.
    assert created["indicators"] == ["ind_va", "retail", "ind_firms"]
    assert created["rows"] == [{"label": "规模以上工业增加值", "ytd_growth": "ind_va"},
                               {"label": "社会消费品零售总额", "ytd": "retail"},
                               {"label": "规模以上工业企业数", "month": "ind_firms"}]
    _, listed = await app.asgi_client.get("/api/v1/templates")
    assert [t["name"] for t in listed.json["items"]] == ["monthly"]
    _, shown = await app.asgi_client.get("/api/v1/templates/monthly")
    assert shown.json["title"] == "主要经济指标月报" and shown.json["layout"] == "wide"
    _, deleted = await app.asgi_client.delete("/api/v1/templates/monthly")
    assert deleted.status == 200
    _, gone = await app.asgi_client.get("/api/v1/templates/monthly")
    assert gone.status == 404 and gone.json["error"]["code"] == "unknown_template"


async def test_a_definition_is_checked_against_the_rule_set(app: Sanic) -> None:
    _, response = await app.asgi_client.post("/api/v1/templates", json={
        "name": "bad", "layout": "tall", "indicators": ["ind_va", "nothing"], "entities": ["xintai", "atlantis"],
        "options": {"rows": [{"label": "x", "ytd": "retail"}]}})
    assert response.status == 422
    problems = " ".join(response.json["error"]["details"]["problems"])
    for expected in ("tall", "nothing", "atlantis"):
        assert expected in problems
    await create(app, LONG)
    _, again = await app.asgi_client.post("/api/v1/templates", json=LONG)
    assert again.status == 409


async def test_explicit_rows_must_map_every_indicator_to_a_known_column(app: Sanic) -> None:
    body = {**WIDE, "options": {"rows": [{"label": "工业", "ytd_growth": "ind_va", "quarter": "ind_va"}]}}
    _, response = await app.asgi_client.post("/api/v1/templates", json=body)
    problems = response.json["error"]["details"]["problems"]
    assert response.status == 422
    assert any("quarter" in p for p in problems)
    assert any("retail" in p for p in problems) and any("ind_firms" in p for p in problems)


async def test_a_long_csv_with_chinese_headers_and_names_is_stored(app: Sanic) -> None:
    await create(app, LONG)
    text = ("指标,单位,期别,数值\n"
            "规模以上工业增加值,新泰市,2026-09,6.1\n"
            "ind_va,xintai,2026年10月,6.4\n"
            "社会消费品零售总额,feicheng,2026-10,\"1,234.5\"\n"
            "retail,xintai,2026-10,\n")  # no value yet: skipped
    # Excel on a Chinese Windows saves CSV as GBK.
    response = await upload(app, "industry", "十月.csv", text.encode("gb18030"))
    assert response.status == 201, response.text
    assert response.json["rows"] == 3 and response.json["accepted"] == 3
    assert await stored(app, "ind_va", "xintai") == [("2026-09", 6.1), ("2026-10", 6.4)]
    assert await stored(app, "retail", "feicheng") == [("2026-10", 1234.5)]
    batch = await ImportBatch.get(id=response.json["batch"])
    assert (batch.source, batch.template, batch.filename) == ("import", "industry", "十月.csv")


async def test_a_wide_workbook_maps_each_column_onto_the_indicators_form(app: Sanic) -> None:
    await create(app, WIDE)
    xintai = [["新泰市主要经济指标"], ["单位：亿元、%", None, None, "单位", "新泰市"], ["期别", "2026年1-10月"],
              WIDE_HEADER,
              ["一、工业"],
              ["规模以上工业增加值（%）", "%", None, 7.2, None, 6.8],
              ["其中：规模以上工业企业数", "个", 512, None, 512, None],
              ["社会消费品零售总额", "亿元", 30.5, 4.1, "321.7", 5.0]]
    feicheng = [["单位：肥城市"], WIDE_HEADER, ["规模以上工业增加值", "%", None, None, None, "—"],
                ["社会消费品零售总额", "亿元", None, None, 210.0, None]]
    response = await upload(app, "monthly", "十月.xlsx", workbook({"新泰": xintai, "肥城": feicheng}),
                            period="2026-10")
    assert response.status == 201, response.text
    accepted = {(v["indicator"], v["entity"], v["period"], v["value"]) for v in response.json["vintages"]}
    # 1-本月 同比% feeds the rate, 1-本月 the year-to-date level, 本月 the stock; other cells are not stored.
    assert accepted == {("ind_va", "xintai", "2026-10", 6.8), ("ind_firms", "xintai", "2026-10", 512.0),
                        ("retail", "xintai", "2026-10", 321.7), ("retail", "feicheng", "2026-10", 210.0)}
    assert await stored(app, "retail", "xintai") == [("2026-10", 321.7)]


async def test_bad_cells_are_reported_by_row_and_column_and_nothing_is_stored(app: Sanic) -> None:
    await create(app, LONG)
    text = ("indicator,entity,period,value\n"
            "ind_va,xintai,2026-10,6.0\n"  # row 2: fine
            "ind_va,xintai,2026-09,abc\n"  # row 3: not a number
            "power_ind,xintai,2026-10,12\n"  # row 4: a known indicator the template does not cover
            "ind_va,taian,2026-10,5.0\n"  # row 5: an entity the template does not cover
            "ind_va,feicheng,2026-13,5.0\n"  # row 6: the engine's period check, mapped back to the cell
            "ind_va,feicheng,2026-01,5.0\n")  # row 7: 1–2月 published together
    response = await upload(app, "industry", "bad.csv", text.encode())
    assert response.status == 422 and response.json["error"]["code"] == "invalid_cells"
    assert cells(response) == [("", 3, "D"), ("", 4, "A"), ("", 5, "B"), ("", 6, "C"), ("", 7, "C")]
    reasons = [d["reason"] for d in response.json["error"]["details"]]
    assert "不是数字" in reasons[0] and "不包含指标" in reasons[1] and "不包含单位" in reasons[2]
    assert "2026-13" in reasons[3] and "1–2月合并" in reasons[4]
    assert await Observation.all().count() == 0 and await ImportBatch.all().count() == 0


async def test_a_period_that_has_not_ended_is_reported_at_its_cell(app: Sanic) -> None:
    await create(app, LONG)
    text = "指标,单位,期别,数值\nind_va,xintai,2026-10,6.0\nind_va,xintai,2026-11,6.2\n"
    response = await upload(app, "industry", "early.csv", text.encode())
    assert response.status == 422
    [detail] = response.json["error"]["details"]
    assert (detail["row"], detail["column"], detail["header"]) == (3, "C", "期别") and "尚未结束" in detail["reason"]
    assert await Observation.all().count() == 0


async def test_a_wide_sheet_reports_its_own_problems(app: Sanic) -> None:
    await create(app, WIDE)
    sheet = [["单位", "新泰市"], WIDE_HEADER,
             ["规模以上工业增加值", "%", None, None, None, "6.8"],
             ["规上工业增加值", "%", None, None, None, 6.8],  # not a label of the template
             ["社会消费品零售总额", "亿元", None, "高", 300.0, None]]  # text in a column that is not stored
    response = await upload(app, "monthly", "wide.xlsx", workbook({"新泰": sheet}), entity="feicheng",
                            period="2026-10")
    assert response.status == 422
    assert cells(response) == [("新泰", 1, "B")]  # the sheet names 新泰市, the upload says 肥城市
    response = await upload(app, "monthly", "wide.xlsx", workbook({"新泰": sheet}), period="2026-10")
    assert cells(response) == [("新泰", 4, "A"), ("新泰", 5, "D")]
    assert "规模以上工业增加值" in response.json["error"]["details"][0]["reason"]  # the suggestion
    response = await upload(app, "monthly", "wide.xlsx", workbook({"新泰": sheet[1:]}))
    assert [d["reason"][:5] for d in response.json["error"]["details"]] == ["未给出单位", "未给出期别"]


async def test_an_unknown_template_or_file_type_is_refused(app: Sanic) -> None:
    for method, path in (("get", "/api/v1/templates/nothing"), ("get", "/api/v1/templates/nothing/blank.xlsx"),
                         ("delete", "/api/v1/templates/nothing")):
        _, response = await getattr(app.asgi_client, method)(path)
        assert response.status == 404, path
    response = await upload(app, "nothing", "a.csv", b"indicator,entity,period,value\n")
    assert response.status == 404
    await create(app, LONG)
    assert (await upload(app, "industry", "a.xls", b"\xd0\xcf\x11\xe0")).status == 415
    damaged = await upload(app, "industry", "a.xlsx", b"not a zip")
    assert damaged.status == 422 and "无法读取 XLSX" in damaged.json["error"]["details"][0]["reason"]
    _, empty = await app.asgi_client.post("/api/v1/templates/industry/upload")
    assert empty.status == 400


async def test_the_blank_wide_form_round_trips(app: Sanic) -> None:
    await create(app, {**WIDE, "options": {"period": "2026-10"}})
    _, response = await app.asgi_client.get("/api/v1/templates/monthly/blank.xlsx")
    assert response.status == 200 and response.headers["content-type"].startswith("application/vnd.openxml")
    book = load_workbook(io.BytesIO(response.body))
    assert book.sheetnames == ["新泰市", "肥城市", "代码表"]
    form = book["新泰市"]
    assert [c.value for c in form[5]] == WIDE_HEADER
    assert [(form.cell(r, 1).value, form.cell(r, 2).value) for r in range(6, 9)] == [
        ("规模以上工业增加值", "%"), ("社会消费品零售总额", "亿元"), ("规模以上工业企业数", "个")]
    assert form["B3"].value == "2026-10" and "2026Q3" in form.data_validations.dataValidation[0].prompt
    form["F6"], form["E7"], form["C8"] = 6.3, 288.4, 498
    book["肥城市"]["F6"] = 5.9
    filled = io.BytesIO()
    book.save(filled)
    uploaded = await upload(app, "monthly", "填好的.xlsx", filled.getvalue())
    assert uploaded.status == 201, uploaded.text
    assert uploaded.json["accepted"] == 4
    assert await stored(app, "ind_va", "feicheng") == [("2026-10", 5.9)]
    assert await stored(app, "ind_firms", "xintai") == [("2026-10", 498.0)]


async def test_the_blank_long_form_round_trips_as_a_raw_body(app: Sanic) -> None:
    await create(app, LONG)
    _, response = await app.asgi_client.get("/api/v1/templates/industry/blank.xlsx")
    book = load_workbook(io.BytesIO(response.body))
    form = book["数据"]
    assert [c.value for c in form[2]] == ["指标", "单位", "期别", "数值", "计量单位"]
    assert form.cell(3, 1).value == "规模以上工业增加值" and form.cell(3, 2).value == "新泰市"
    assert form.max_row == 6  # two indicators by two entities
    form["C3"], form["D3"] = "2026-10", 6.6
    form["C6"], form["D6"] = "2026-10", 150.25
    filled = io.BytesIO()
    book.save(filled)
    _, uploaded = await app.asgi_client.post("/api/v1/templates/industry/upload",
                                             params={"filename": "industry.xlsx"}, content=filled.getvalue())
    assert uploaded.status == 201, uploaded.text
    assert await stored(app, "ind_va", "xintai") == [("2026-10", 6.6)]
    assert await stored(app, "retail", "feicheng") == [("2026-10", 150.25)]


async def test_a_region_scoped_caller_sees_and_reports_only_its_region(app: Sanic) -> None:
    await create(app, LONG)
    await DataTemplate.create(name="city", layout="long", indicators=["ind_va"], entities=["taian"])

    async def xintai_officer(_request: Request) -> Principal:
        return Principal("xintai_officer", EVERYTHING - {"templates:write"}, frozenset({"xintai"}),
                         write_scope=frozenset({"xintai"}))

    app.ctx.authenticate = xintai_officer
    _, listed = await app.asgi_client.get("/api/v1/templates")
    assert [t["name"] for t in listed.json["items"]] == ["industry"]
    _, hidden = await app.asgi_client.get("/api/v1/templates/city")
    assert hidden.status == 404
    _, refused = await app.asgi_client.post("/api/v1/templates", json={**LONG, "name": "mine"})
    assert refused.status == 403
    text = "指标,单位,期别,数值\nind_va,xintai,2026-10,6.0\nind_va,feicheng,2026-10,5.0\n"
    response = await upload(app, "industry", "two.csv", text.encode())
    assert response.status == 422 and cells(response) == [("", 3, "B")]
    assert "无权报送" in response.json["error"]["details"][0]["reason"]
