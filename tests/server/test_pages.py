"""The sign-in and account pages in process: what they serve, their security headers, and that they hold to a
strict Content-Security-Policy (no inline script, handler or style). The browser tests drive them."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from sanic import Sanic

from server import accounts
from server.service import Service
from server.store.models import User
from tests.server.conftest import make_app

SECURITY = {"content-security-policy": "default-src 'self'; frame-ancestors 'none'",
            "x-content-type-options": "nosniff", "referrer-policy": "same-origin"}


class Markup(HTMLParser):
    """The parts of a page a CSP cares about."""

    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts = 0
        self.assets: list[str] = []
        self.inline_attributes: list[str] = []
        self.style_elements = 0
        self.viewport = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.inline_attributes += [name for name in found if name.startswith("on") or name == "style"]
        if tag == "script":
            self._in_script = True
            if found.get("src"):
                self.assets.append(found["src"] or "")
            else:
                self.inline_scripts += 1
        if tag == "style":
            self.style_elements += 1
        if tag in ("link", "img") and (found.get("href") or found.get("src")):
            self.assets.append(found.get("href") or found.get("src") or "")
        if tag == "meta" and found.get("name") == "viewport":
            self.viewport = found.get("content") or ""

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


def parse(html: str) -> Markup:
    markup = Markup()
    markup.feed(html)
    return markup


@pytest.fixture
def guarded(sqlite_service: Service, sqlite_store: str) -> Sanic:
    """The app with the real authenticator: the account page looks at the session cookie."""
    return make_app(sqlite_service, sqlite_store, open_access=False)


@pytest.mark.parametrize(("path", "title"), [("/login", "泰山经济运行监测 — 登录"), ("/account", "我的账号")])
async def test_pages_are_chinese_responsive_and_free_of_inline_code(app: Sanic, path: str, title: str) -> None:
    _, response = await app.asgi_client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert {k: response.headers.get(k) for k in SECURITY} == SECURITY
    assert '<html lang="zh-CN">' in response.text and title in response.text
    markup = parse(response.text)
    assert markup.viewport == "width=device-width, initial-scale=1"
    assert (markup.inline_scripts, markup.inline_attributes, markup.style_elements) == (0, [], 0)
    assert all(asset.startswith("/static/") for asset in markup.assets) and markup.assets


async def test_every_asset_a_page_uses_is_served_with_its_type(app: Sanic) -> None:
    wanted: set[str] = set()
    for path in ("/login", "/account"):
        _, page = await app.asgi_client.get(path)
        wanted.update(parse(page.text).assets)
    served: dict[str, str] = {}
    while wanted - served.keys():
        asset = sorted(wanted - served.keys())[0]
        _, response = await app.asgi_client.get(asset)
        assert response.status_code == 200, asset
        assert {k: response.headers.get(k) for k in SECURITY} == SECURITY
        served[asset] = response.headers["content-type"]
        # Scripts are modules: what they import must be served too.
        wanted.update(re.findall(r'from "(/static/[^"]+)"', response.text))
    assert served["/static/app.css"] == "text/css; charset=utf-8"
    assert served["/static/common.js"] == served["/static/login.js"] == "text/javascript; charset=utf-8"
    assert served["/static/icon.svg"] == "image/svg+xml"


@pytest.mark.parametrize("path", ["/static/missing.js", "/static/login.html", "/static/..%2Fapi%2Fpages.py",
                                  "/static/../api/pages.py", "/static/%2E%2E%2Fapi%2Fpages.py"])
async def test_only_the_shipped_assets_are_served(app: Sanic, path: str) -> None:
    _, response = await app.asgi_client.get(path)
    assert response.status_code == 404
    assert "def " not in response.text


async def test_an_unchanged_asset_is_not_sent_again(app: Sanic) -> None:
    _, first = await app.asgi_client.get("/static/app.css")
    assert first.headers["cache-control"] == "no-cache"
    _, again = await app.asgi_client.get("/static/app.css",
                                         headers={"If-Modified-Since": first.headers["last-modified"]})
    assert again.status_code == 304 and again.content == b""


async def test_the_account_page_sends_a_stranger_to_sign_in(guarded: Sanic) -> None:
    _, response = await guarded.asgi_client.get("/account", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/login?next=/account"
    assert response.headers["content-security-policy"] == SECURITY["content-security-policy"]
    _, stale = await guarded.asgi_client.get("/account", headers={"Cookie": "taishan_session=nope.nope"},
                                             follow_redirects=False)
    assert stale.status_code == 302


async def test_the_account_page_opens_for_a_signed_in_session(guarded: Sanic) -> None:
    await User.create(username="li", role="leader", password_hash=await accounts.hash_password("Pages-Test-99"))
    _, signed_in = await guarded.asgi_client.post("/api/v1/auth/login",
                                                  json={"username": "li", "password": "Pages-Test-99", "web": True})
    assert signed_in.status_code == 200
    session = signed_in.cookies["taishan_session"]
    _, page = await guarded.asgi_client.get("/account", headers={"Cookie": f"taishan_session={session}"},
                                            follow_redirects=False)
    assert page.status_code == 200 and "我的账号" in page.text
    _, login = await guarded.asgi_client.get("/login")
    assert login.status_code == 200
