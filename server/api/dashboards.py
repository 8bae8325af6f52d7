"""The dashboard pages: `/dash/<view>` embeds one Bokeh view for the signed-in caller.

The page checks the caller's web session (else: to the sign-in page and back), refuses arguments outside their
region scope, and mints a signed Bokeh session whose token carries the caller's scope and the view's arguments
(server/dashlink.py). `/dash/alert?alert=ID&…` — the link in chat messages — opens that alert's drill-down.
The page's own script shows a pop-up for each new alert or data arrival from `GET /api/v1/events`.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlparse

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, file, html, redirect

from server import dashlink as embed
from server.access import Principal
from server.api.auth import principal
from server.api.errors import ApiError
from server.store.models import Alert

bp = Blueprint("dashboards")

STATIC = Path(__file__).resolve().parent.parent / "web"
TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
ASSETS = {p.name: p for p in STATIC.iterdir() if p.suffix in TYPES}
NAV = ("overview", "compare", "consistency", "alerts", "board", "enterprises", "targets")
MAX_ARGUMENT = 200


@bp.get("/dash", ctx_permission="public")
async def home(request: Request) -> HTTPResponse:
    return redirect("/dash/overview")


@bp.get("/dash/static/<name:str>", ctx_permission="public")
async def asset(request: Request, name: str) -> HTTPResponse:
    path = ASSETS.get(name)
    if path is None:
        raise ApiError(404, "not_found", "没有这个文件")
    return await file(path, request_headers=request.headers, mime_type=TYPES[path.suffix])


@bp.get("/dash/<view:str>", ctx_permission="public")
async def page(request: Request, view: str) -> HTTPResponse:
    """One dashboard view. Arguments: entity, indicator, period, alert, entities (comma-separated), id (the rule
    set's dashboard), state, severity, workflow, category (an enterprise watch category), year (of the targets)."""
    view = "drill" if view == "alert" else view
    if view not in embed.TITLES:
        raise ApiError(404, "not_found", "没有这个看板")
    caller = principal(request)
    if caller is None:
        target = request.path + (f"?{request.query_string}" if request.query_string else "")
        return redirect(f"/login?next={quote(target, safe='')}")
    if not caller.can("data:read"):
        return _page(caller, "无权查看", _notice("您的账号没有查看数据的权限。"), status=403)
    arguments = _arguments(request)
    problem = await _out_of_scope(request, caller, arguments)
    if problem:
        return _page(caller, "无权查看", _notice(problem), status=403)
    if "alert" in arguments:
        await _alert_defaults(arguments)
    found = embed.configured()
    if found is None:
        return _page(caller, "看板未启动", _notice("看板服务未启动：请用 taishan serve 启动。"), status=503)
    url, secret = found
    if not embed.reachable(url):
        return _page(caller, "看板启动中", _notice("看板服务正在启动，请稍后刷新。"), status=503)
    public = embed.public_url(url, request.host)
    token = embed.mint(secret, caller, arguments)
    return _page(caller, embed.TITLES[view], embed.script(public, view, token), public=public, view=view)


def _arguments(request: Request) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in embed.ARGUMENTS:
        value = request.args.get(name)
        if value:
            if len(value) > MAX_ARGUMENT:
                raise ApiError(400, "bad_parameter", f"参数 {name} 过长")
            found[name] = value.strip()
    return found


async def _out_of_scope(request: Request, caller: Principal, arguments: dict[str, str]) -> str | None:
    """Why the caller may not open this view, if they may not."""
    model = request.app.ctx.service.model
    wanted = [arguments["entity"]] if "entity" in arguments else []
    wanted += [e for e in arguments.get("entities", "").split(",") if e]
    for entity in wanted:
        if entity not in model.entities:
            return f"没有单位「{entity}」"
        if not caller.sees(entity):
            return f"无权查看「{model.entities[entity].name}」的数据"
    if "alert" in arguments:
        alert = await Alert.get_or_none(id=int(arguments["alert"])) if arguments["alert"].isdigit() else None
        if alert is None or not caller.sees(alert.entity):
            return f"没有编号为 {arguments['alert']} 的预警，或无权查看"
    if "id" in arguments and arguments["id"] not in model.dashboards:
        return f"没有看板「{arguments['id']}」"
    return None


async def _alert_defaults(arguments: dict[str, str]) -> None:
    """The alert's region and period, so that its view opens even before the dashboards have re-read alerts."""
    alert = await Alert.get(id=int(arguments["alert"]))
    arguments.setdefault("entity", alert.entity)
    arguments.setdefault("period", alert.period)


def _notice(text: str) -> str:
    return f'<p class="refused" id="refused">{_escape(text)}</p>'


def _page(caller: Principal, title: str, body: str, status: int = 200, public: str = "",
          view: str = "") -> HTTPResponse:
    links = "".join(f'<a href="/dash/{v}"{" aria-current=page" if v == view else ""}>{embed.TITLES[v]}</a>'
                    for v in NAV)
    origin = urlparse(public)
    bokeh = f"{origin.scheme}://{origin.netloc}" if public else ""
    sockets = f"ws://{origin.netloc} wss://{origin.netloc}" if public else ""
    policy = (f"default-src 'self'; script-src 'self' {bokeh} 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
              f"connect-src 'self' {bokeh} {sockets}; img-src 'self' data:; font-src 'self' {bokeh} data:; "
              "frame-ancestors 'none'")
    text = f"""<!doctype html>
<html lang="zh-CN">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>泰山经济运行监测 — {_escape(title)}</title>
  <link rel="stylesheet" href="/dash/static/dash.css">
  <script type="module" src="/dash/static/dash.js"></script>
</head>
<body>
  <header class="bar"><strong>泰山经济运行监测</strong><nav>{links}</nav>
    <span class="user">{_escape(caller.name)}</span></header>
  <main>{body}</main>
  <div id="toasts" aria-live="polite"></div>
</body>
</html>"""
    headers = {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff",
               "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}
    return html(text, status=status, headers=headers)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
