"""The sign-in and account pages in headless Chromium against a real server, at phone size (390×844) and once
on a desktop: password sign-in, password change, pattern registration and unlock, sign-out, open-redirect and
XSS protection."""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.live import (
    ADMIN,
    ADMIN_PASSWORD,
    CHROMIUM,
    TAISHAN,
    add_admin,
    chromium,
    login,
    running_server,
)

if not Path(CHROMIUM).exists():
    pytest.skip(f"未找到 {CHROMIUM}（apt-get install -y chromium），跳过浏览器测试", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="未安装 playwright（pip install playwright），跳过浏览器测试")

from playwright.sync_api import Browser, Page, expect

PHONE = {"width": 390, "height": 844}
LEADER, LEADER_PASSWORD, NEW_PASSWORD = "leader", "Daiyue-Li-2026", "Newer-Pass-2027!"
PATTERN = [0, 1, 2, 5, 8]
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = f"sqlite://{tmp_path_factory.mktemp('pages')}/pages.sqlite3"
    add_admin(db)
    with running_server(db) as base:
        # After the server started: a scope is checked against the rule set it stored.
        subprocess.run([TAISHAN, "user", "add", LEADER, "--role", "leader", "--scope", "xintai", "--display-name",
                        "李华", "--password-stdin", "--db", db], input=f"{LEADER_PASSWORD}\n", text=True, check=True,
                       capture_output=True)
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A phone-sized page that fails its test if a dialog opens (injected script ran) or the console reports an
    error other than an API refusal (a CSP violation, a script error)."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(10_000)
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error"
            and not message.text.startswith("Failed to load resource") else None)
    yield page
    context.close()
    assert dialogs == [], "a page opened a dialog"
    assert errors == [], "the console reported errors"


def sign_in(page: Page, username: str, password: str) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")


def tap_pattern(page: Page, pad: str, dots: list[int]) -> None:
    for dot in dots:
        page.click(f"{pad} .dot[data-dot='{dot}']")
    page.click(f"{pad} button.done")


def draw_pattern(page: Page, pad: str, dots: list[int]) -> None:
    """One stroke across the dots, as a finger or a mouse draws it."""
    page.locator(f"{pad} .pad-grid").scroll_into_view_if_needed()
    centres = []
    for dot in dots:
        box = page.locator(f"{pad} .dot[data-dot='{dot}']").bounding_box()
        assert box is not None
        centres.append((box["x"] + box["width"] / 2, box["y"] + box["height"] / 2))
    page.mouse.move(*centres[0])
    page.mouse.down()
    for centre in centres[1:]:
        page.mouse.move(*centre, steps=4)
    page.mouse.up()


def screenshot(page: Page, path: Path) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    assert struct.unpack(">II", data[16:24]) == (PHONE["width"], PHONE["height"])


def fits_the_width(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_leader_signs_in_changes_password_and_unlocks_with_a_pattern_on_a_phone(
        server: str, phone: Page, tmp_path: Path) -> None:
    page = phone
    page.goto(f"{server}/login?next=//evil.example/")
    expect(page).to_have_title("泰山经济运行监测 — 登录")
    sign_in(page, LEADER, "Wrong-Pass-2026")
    expect(page.locator("#login-message")).to_have_text("用户名或密码错误")
    assert fits_the_width(page)
    screenshot(page, tmp_path / "login.png")

    sign_in(page, LEADER, LEADER_PASSWORD)
    page.wait_for_url(f"{server}/account")  # not to the foreign site `next` named
    expect(page.locator("#role")).to_have_text("领导")
    expect(page.locator("#scope")).to_have_text("新泰市")
    expect(page.locator("#display-name")).to_have_text("李华")

    elsewhere = login(server, LEADER, LEADER_PASSWORD)
    page.fill("#old-password", LEADER_PASSWORD)
    page.fill("#new-password", "weakpassword")
    page.fill("#new-password2", "weakpassword")
    page.click("#password-form button[type=submit]")
    expect(page.locator("#password-message")).to_have_text("密码须包含小写字母、大写字母、数字、符号中的至少三类")
    page.fill("#new-password", NEW_PASSWORD)
    page.fill("#new-password2", NEW_PASSWORD)
    page.click("#password-form button[type=submit]")
    expect(page.locator("#password-message")).to_have_text("密码已修改。其他设备上的登录已全部退出（1 个会话）。")
    assert httpx.get(f"{server}/api/v1/auth/me", headers=elsewhere).status_code == 401

    page.fill("#device-name", "<b>我的手机</b>")
    draw_pattern(page, "#register-pad", PATTERN)
    expect(page.locator("#pattern-step")).to_have_text("确认图形：请再绘制一次")
    tap_pattern(page, "#register-pad", PATTERN)
    expect(page.locator("#pattern-message")).to_have_text("图形解锁已开启：下次在此浏览器登录时绘制图形即可")
    expect(page.locator("#devices li")).to_have_count(1)
    expect(page.locator("#devices .device-name")).to_have_text("<b>我的手机</b>")
    expect(page.locator("#devices .tag")).to_have_text("本机")
    assert fits_the_width(page)
    screenshot(page, tmp_path / "account.png")

    page.click("#logout")
    page.wait_for_url(f"{server}/login")
    expect(page.locator("#unlock-user")).to_have_text(LEADER)
    tap_pattern(page, "#unlock-pad", [0, 3, 6, 7])
    expect(page.locator("#unlock-error")).to_have_text("图形错误，还可尝试 4 次")
    draw_pattern(page, "#unlock-pad", PATTERN)
    page.wait_for_url(f"{server}/account")
    expect(page.locator("#role")).to_have_text("领导")


def test_text_from_the_server_is_shown_as_text(server: str, phone: Page) -> None:
    admin = login(server, ADMIN, ADMIN_PASSWORD)
    users = httpx.get(f"{server}/api/v1/users", headers=admin).json()["items"]
    admin_id = next(u["id"] for u in users if u["username"] == ADMIN)
    changed = httpx.patch(f"{server}/api/v1/users/{admin_id}", json={"display_name": XSS}, headers=admin)
    assert changed.status_code == 200
    phone.goto(f"{server}/login")
    sign_in(phone, ADMIN, ADMIN_PASSWORD)
    phone.wait_for_url(f"{server}/account")
    expect(phone.locator("#display-name")).to_have_text(XSS)
    expect(phone.locator("#role")).to_have_text("管理员")
    expect(phone.locator("#scope")).to_have_text("全部单位")
    assert phone.locator("img[src=x]").count() == 0


def test_a_stranger_is_sent_to_sign_in_and_only_local_paths_are_followed(server: str, phone: Page) -> None:
    phone.goto(f"{server}/account")
    phone.wait_for_url(f"{server}/login?next=/account")
    found = phone.evaluate("""async (cases) => {
        const { safeNext } = await import("/static/common.js");
        return cases.map((raw) => safeNext(raw));
    }""", ["/account?tab=1#devices", "//evil.example/", "https://evil.example/", "/\t/evil.example",
           "/\\evil.example", "javascript:alert(1)", "", "/login"])
    assert found == ["/account?tab=1#devices"] + ["/account"] * 7


def test_the_pages_sit_in_a_centred_column_on_a_desktop(server: str, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(f"{server}/login")
        card = page.locator("main.card").bounding_box()
        assert card is not None and card["width"] == 400 and abs(card["x"] * 2 + card["width"] - 1366) < 2
        sign_in(page, ADMIN, ADMIN_PASSWORD)
        page.wait_for_url(f"{server}/account")
        expect(page.locator("#role")).to_have_text("管理员")
        column = page.locator("main.page").bounding_box()
        assert column is not None and column["width"] == 640 and abs(column["x"] * 2 + column["width"] - 1366) < 2
        assert fits_the_width(page)
    finally:
        context.close()
