"""The document models of every dashboard view, pulled from the running Bokeh server with `bokeh.client`, the way
a browser session gets them: signed session tokens carrying the viewer, and what each view shows for them."""

from __future__ import annotations

import re

import pytest
from bokeh.client import ClientSession, pull_session
from bokeh.document import Document
from bokeh.util.token import generate_jwt_token, generate_session_id, get_session_id

from server import dashlink as embed
from server.access import Principal
from server.accounts import ROLE_PERMISSIONS
from tests.dashboards.conftest import Demo

CITY_SCOPE = None
LEADER_SCOPE = frozenset({"xintai", "taian", "shandong"})


class SignedSession(ClientSession):
    """A client session that presents the token the API's page would have minted."""

    def __init__(self, token: str, websocket_url: str):
        self._signed = token
        super().__init__(session_id=get_session_id(token), websocket_url=websocket_url)

    @property
    def token(self) -> str:
        return self._signed


def viewer(role: str = "administrator", scope: frozenset[str] | None = CITY_SCOPE) -> Principal:
    return Principal(role, ROLE_PERMISSIONS[role], scope, role)


def pull(demo: Demo, view: str, caller: Principal | None = None, **arguments: str) -> Document:
    token = embed.mint(demo.secret, caller or viewer(), arguments)
    session = SignedSession(token, f"{demo.dashboards.replace('http', 'ws', 1)}/{view}/ws")
    session.pull()
    document = session.document
    session.close()
    return document


def text(document: Document, name: str) -> str:
    found = document.select_one({"name": name})
    assert found is not None, f"no model named {name}"
    return found.text


def test_overview_shows_headlines_with_red_marks_regions_and_inbox(demo: Demo) -> None:
    document = pull(demo, "overview")
    headlines = text(document, "headlines")
    assert "泰安市主要指标" in headlines and "规模以上工业增加值" in headlines and "<svg" in headlines
    assert 'class="card red" data-indicator="ind_va"' in headlines  # xintai's alerts on ind_va fire
    assert 'class="card" data-indicator="cpi"' in headlines
    regions = text(document, "regions")
    assert all(name in regions for name in ("新泰市", "东平县", "泰山景区"))
    assert "预警收件箱（" in text(document, "inbox")


def test_drill_down_to_an_indicator_shows_series_references_band_and_red_periods(demo: Demo) -> None:
    document = pull(demo, "drill", entity="xintai", indicator="ind_va")
    series = document.select_one({"name": "series"})
    assert series.title.text == "新泰市 · 规模以上工业增加值"
    sources = {r.data_source for r in series.renderers}
    red = next(r for r in series.renderers if r.name == "red").data_source
    assert {"2026-09", "2026-10"} <= set(red.data["period"])
    points = document.select_one({"name": "points"}).source
    assert points.data["period"][0] == "2026-10" and points.data["value"][0] == pytest.approx(16.6)
    assert points.data["city"][0] == pytest.approx(7.5) and points.data["flag"][0] == "预警"
    band = next(s for s in sources if "lower" in s.data)
    assert sum(lo < hi for lo, hi in zip(band.data["lower"], band.data["upper"], strict=True)) > 20
    indicators = document.select_one({"name": "indicators"}).source
    assert indicators.data["flag"][:2] == ["预警", "预警"]  # alerting indicators first


def test_an_alert_link_opens_its_drill_down_at_its_period(demo: Demo) -> None:
    alert = _firing_alert(demo, "xintai", "ind_va_vs_city")
    document = pull(demo, "drill", alert=str(alert))
    assert document.select_one({"name": "series"}).title.text == "新泰市 · 规模以上工业增加值"
    assert text(document, "url").startswith("/dash/drill?entity=xintai&indicator=ind_va&period=2026-")


def test_compare_ranks_counties_and_shows_the_same_period_over_years(demo: Demo) -> None:
    document = pull(demo, "compare", indicator="ind_va", entities="xintai,feicheng")
    summary = text(document, "summary")
    # The browser tests post an observation for dongping: rank xintai against feicheng, not absolutely.
    xintai = re.search(r"<td>新泰市</td><td>16.6</td><td>第(\d)位</td>", summary)
    feicheng = re.search(r"<td>肥城市</td><td>8.7</td><td>第(\d)位</td>", summary)
    assert xintai and feicheng and int(xintai.group(1)) < int(feicheng.group(1))
    bars = document.select_one({"name": "bars"})
    assert "新泰市" in bars.y_range.factors and len(bars.y_range.factors) == 6
    years = document.select_one({"name": "years"})
    assert [f[0] for f in years.x_range.factors][-2:] == ["2026-10", "2026-10"]
    assert [f[0] for f in years.x_range.factors][:2] == ["2021-10", "2021-10"]
    assert document.select_one({"name": "heatmap"}) is not None


def test_consistency_lists_balance_checks_with_the_imbalance(demo: Demo) -> None:
    balances = text(pull(demo, "consistency"), "balances")
    assert "三次产业增加值之和等于地区生产总值" in balances and "县区地区生产总值之和等于全市" in balances
    assert 'class="flag"' in balances  # the demo's daiyue GDP parts do not add up


def test_alert_list_filters_and_offers_actions_to_statisticians_only(demo: Demo) -> None:
    document = pull(demo, "alerts", caller=viewer("statistician"), state="firing")
    table = document.select_one({"name": "alerts"}).source
    assert table.data["state"] and set(table.data["state"]) == {"报警中"}
    assert document.select_one({"name": "act-acknowledge"}) is not None
    leader = pull(demo, "alerts", caller=viewer("leader", LEADER_SCOPE))
    assert leader.select_one({"name": "act-acknowledge"}) is None
    assert set(leader.select_one({"name": "alerts"}).source.data["region"]) <= {"新泰市", "泰安市"}


def test_every_rule_declared_dashboard_renders_each_panel(demo: Demo) -> None:
    from dsl import load

    model = load(["rules/taian"])
    assert sum(len(d.panels) for d in model.dashboards.values()) >= 40
    for board, definition in model.dashboards.items():
        document = pull(demo, "board", id=board)
        for panel in definition.panels:
            assert document.select_one({"name": panel.id}) is not None, f"{board}/{panel.id}"


def test_a_leader_cannot_reach_another_county_through_the_arguments(demo: Demo) -> None:
    leader = viewer("leader", LEADER_SCOPE)
    assert "无权查看「东平县」" in text(pull(demo, "drill", caller=leader, entity="dongping"), "refused")
    assert "无权查看「东平县」" in text(pull(demo, "compare", caller=leader, entities="dongping"), "refused")
    regions = text(pull(demo, "overview", caller=leader), "regions")
    assert "新泰市" in regions and "东平县" not in regions


def test_sessions_without_the_pages_signature_are_refused(demo: Demo) -> None:
    # An unsigned session id, as a caller who goes to the Bokeh server directly brings: no session.
    with pytest.raises(OSError):
        pull_session(url=f"{demo.dashboards}/overview")
    # Signed with another key: no session either.
    forged = generate_jwt_token(generate_session_id(secret_key=b"x" * 48, signed=True), secret_key=b"x" * 48,
                                signed=True, extra_payload={"viewer": {"visible": None}})
    with pytest.raises(OSError):
        SignedSession(forged, f"{demo.dashboards.replace('http', 'ws', 1)}/overview/ws").pull()
    # Signed with the right key but without a viewer (not minted by the page): a session with no data.
    session_id = generate_session_id(secret_key=demo.secret.encode(), signed=True)
    bare = generate_jwt_token(session_id, secret_key=demo.secret.encode(), signed=True)
    session = SignedSession(bare, f"{demo.dashboards.replace('http', 'ws', 1)}/overview/ws")
    session.pull()
    assert session.document.select_one({"name": "refused"}) is not None
    assert session.document.select_one({"name": "headlines"}) is None
    session.close()


def _firing_alert(demo: Demo, entity: str, rule: str) -> int:
    import httpx

    from tests.dashboards.conftest import ADMIN

    token = httpx.post(f"{demo.base}/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}).json()
    rows = httpx.get(f"{demo.base}/api/v1/alerts", params={"entity": entity, "rule": rule},
                     headers={"Authorization": f"Bearer {token['access_token']}"}).json()["items"]
    return rows[0]["id"]
