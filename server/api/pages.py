"""The web pages: sign-in (`/login`) and one's own account (`/account`), with their scripts and styles under
`/static/`. The pages hold no data: their scripts call the guarded API with the session cookie.

Every answer carries a strict Content-Security-Policy: the pages have no inline script or handler, so an
injected tag cannot run even if a text ever reached the page unescaped."""

from __future__ import annotations

from pathlib import Path

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, file, redirect

from server.api.auth import principal
from server.api.errors import ApiError

bp = Blueprint("pages")

WEB = Path(__file__).resolve().parent.parent / "web"
HTML = "text/html; charset=utf-8"
TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
# Only the shipped assets are served, looked up by exact name: no path from the request reaches the file system.
ASSETS = {p.name: p for p in WEB.iterdir() if p.suffix in TYPES}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


async def _file(request: Request, path: Path, mime_type: str) -> HTTPResponse:
    # Sanic marks files no-cache with a Last-Modified: browsers revalidate, so that a new release's script never
    # runs against an old page. It adds to the headers it is given, hence the copy.
    return await file(path, request_headers=request.headers, mime_type=mime_type, headers=dict(SECURITY_HEADERS))


@bp.get("/login", ctx_permission="public")
async def login_page(request: Request) -> HTTPResponse:
    """Sign in with the password, recover a forgotten one, or unlock with the pattern on a registered device."""
    return await _file(request, WEB / "login.html", HTML)


@bp.get("/account", ctx_permission="public")
async def account_page(request: Request) -> HTTPResponse:
    """我的账号. Without a live session, straight to the sign-in page (the script also goes there when the
    session ends while the page is open)."""
    if principal(request) is None:
        return redirect("/login?next=/account", headers=dict(SECURITY_HEADERS))
    return await _file(request, WEB / "account.html", HTML)


@bp.get("/static/<name:str>", ctx_permission="public")
async def asset(request: Request, name: str) -> HTTPResponse:
    path = ASSETS.get(name)
    if path is None:
        raise ApiError(404, "not_found", "没有这个文件")
    return await _file(request, path, TYPES[path.suffix])
