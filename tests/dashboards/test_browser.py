"""The dashboards in headless Chromium against a real API and dashboard process over the demo data: sign in, the
overview, a drill-down to a red period, a comparison, a pop-up for a new alert, and a leader refused another
county. Each step leaves a screenshot in the session's temporary folder (printed with `-s`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.dashboards.conftest import ADMIN, LEADER, Demo
from tests.server.live import CHROMIUM, chromium

if not Path(CHROMIUM).exists():
    pytest.skip(f"未找到 {CHROMIUM}（apt-get install -y chromium），跳过浏览器测试", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="未安装 playwright，跳过浏览器测试")

from playwright.sync_api import Browser, Page, expect

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def open_signed_in(browser: Browser, demo: Demo, account: tuple[str, str], target: str,
                   viewport: dict[str, int] = DESKTOP) -> Page:
    """Go to a dashboard, get sent to the sign-in page, sign in there and come back."""
    context = browser.new_context(viewport=viewport, locale="zh-CN", is_mobile=viewport == PHONE)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(demo.base + target)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.wait_for_load_state("networkidle")
    page.fill("#username", account[0])
    page.fill("#password", account[1])
    page.click("#login-form button[type=submit]")
    expect(page).to_have_url(re.compile(re.escape(target.split("?")[0])))
    return page


def shot(page: Page, demo: Demo, name: str) -> None:
    page.screenshot(path=str(demo.artifacts / f"{name}.png"), full_page=True)


def test_overview_then_drill_down_to_a_red_period(browser: Browser, demo: Demo) -> None:
    page = open_signed_in(browser, demo, ADMIN, "/dash/overview", PHONE)
    card = page.locator("a.card[data-indicator='ind_va']")
    expect(card).to_have_class(re.compile(r"\bred\b"))
    expect(card).to_contain_text("规模以上工业增加值")
    expect(page.locator("a.card[data-indicator='cpi']")).not_to_have_class(re.compile(r"\bred\b"))
    shot(page, demo, "1-overview-phone")
    page.locator(".chips a[data-entity='xintai']").click()
    expect(page).to_have_url(re.compile(r"/dash/drill\?entity=xintai"))
    expect(page.locator("#drill-title")).to_contain_text("新泰市")
    page.locator(".slick-cell", has_text="规模以上工业增加值").first.click()
    expect(page.locator("#drill-title")).to_have_text("新泰市 · 规模以上工业增加值")
    red = page.locator("#red-periods")
    expect(red).to_contain_text("2026-09")
    assert red.evaluate("e => getComputedStyle(e).color") == "rgb(217, 48, 37)"
    shot(page, demo, "2-drill-indicator-phone")
    page.locator(".slick-cell", has_text="2026-09").first.click()
    detail = page.locator("#revisions")
    expect(detail).to_contain_text("第1版")
    expect(detail).to_contain_text("17.10")
    expect(page).to_have_url(re.compile(r"entity=xintai&indicator=ind_va&period=2026-09"))
    expect(page.locator("#notes")).to_contain_text("规上工业增速偏离全市")
    shot(page, demo, "3-drill-red-period-phone")
    page.context.close()


def test_compare_two_counties_on_a_desktop(browser: Browser, demo: Demo) -> None:
    page = open_signed_in(browser, demo, ADMIN, "/dash/compare?indicator=ind_va&entities=xintai,feicheng")
    table = page.locator("#comparison")
    expect(table.locator("tr[data-entity='xintai']")).to_contain_text("16.6")
    expect(table.locator("tr[data-entity='xintai']")).to_contain_text("第1位")
    expect(table.locator("tr[data-entity='feicheng']")).to_contain_text("8.7")
    expect(table.locator("tr[data-entity='feicheng']")).to_contain_text("第2位")
    shot(page, demo, "4-compare-desktop")
    page.context.close()


def test_a_leader_is_refused_a_county_outside_their_region(browser: Browser, demo: Demo) -> None:
    page = open_signed_in(browser, demo, LEADER, "/dash/overview", PHONE)
    expect(page.locator(".chips a[data-entity='xintai']")).to_be_visible()
    expect(page.locator(".chips a[data-entity='dongping']")).to_have_count(0)
    response = page.goto(demo.base + "/dash/drill?entity=dongping")
    assert response is not None and response.status == 403
    expect(page.locator("#refused")).to_have_text("无权查看「东平县」的数据")
    shot(page, demo, "5-leader-refused-phone")
    page.context.close()


def test_a_pop_up_appears_when_an_observation_raises_an_alert(browser: Browser, demo: Demo) -> None:
    page = open_signed_in(browser, demo, ADMIN, "/dash/overview")
    expect(page.locator("a.card").first).to_be_visible()
    token = httpx.post(f"{demo.base}/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]})
    rows = [{"indicator": "ind_va", "entity": "dongping", "period": period, "value": 30.0}
            for period in ("2026-09", "2026-10")]
    answer = httpx.post(f"{demo.base}/api/v1/observations", json={"observations": rows},
                        headers={"Authorization": f"Bearer {token.json()['access_token']}"}, timeout=60)
    assert answer.status_code in (200, 201), answer.text
    assert any(t["new"] == "firing" and t["entity"] == "dongping" for t in answer.json()["transitions"])
    pop_up = page.locator(".toast.firing").first
    expect(pop_up).to_contain_text("东平县", timeout=15_000)
    expect(page.locator(".toast.data").first).to_contain_text("数据到达")
    shot(page, demo, "6-pop-up-desktop")
    pop_up.locator("a").click()
    expect(page.locator("#drill-title")).to_contain_text("东平县")
    page.context.close()
    print(f"\n截图：{demo.artifacts}")


def test_a_leader_opens_the_enterprise_watch_and_drills_into_one_enterprise(browser: Browser, demo: Demo) -> None:
    page = open_signed_in(browser, demo, LEADER, "/dash/enterprises")
    counts = page.locator("#category-counts")
    expect(counts).to_contain_text("新泰市")
    expect(counts).not_to_contain_text("东平县")
    firm = page.locator("tr[data-category='下滑快影响大'] a").first
    expect(firm).to_be_visible()
    name = firm.inner_text()
    shot(page, demo, "7-enterprises-desktop")
    firm.click()
    expect(page).to_have_url(re.compile(r"/dash/drill\?entity=ent\d+&indicator=ent_output"))
    expect(page.locator("#drill-title")).to_have_text(f"{name} · 企业工业总产值")
    shot(page, demo, "8-enterprise-drill-desktop")
    page.context.close()
