"""The Bokeh applications: one per view, each building its document from the signed session token.

The token is minted by the API's embedding page (server/api/dashboards.py) for a signed-in user. Its payload
carries the viewer (name, role, visible entities, whether they may act on alerts) and the view's arguments; the
Bokeh server checks its signature and expiry before a session exists. URL arguments the browser sends to the
Bokeh server directly are never read: a leader who edits them gets the page they were given, or nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bokeh.application import Application
from bokeh.application.handlers import FunctionHandler
from bokeh.document import Document

from dashboards import alertlist, board, compare, consistency, drill, enterprises, overview, targets, theme
from dashboards.common import Context, refused
from dashboards.data import Data, Viewer
from server.dashlink import ARGUMENTS, TITLES

log = logging.getLogger("taishan.dashboards")

Builder = Callable[[Context], None]
VIEWS: dict[str, Builder] = {"overview": overview.build, "drill": drill.build, "compare": compare.build,
                             "consistency": consistency.build, "alerts": alertlist.build, "board": board.build,
                             "enterprises": enterprises.build, "targets": targets.build}
assert set(VIEWS) == set(TITLES)


def viewer_from(payload: dict) -> Viewer | None:
    """The viewer the token names; None when the token carries none (it was not minted by the API)."""
    found = payload.get("viewer")
    if not isinstance(found, dict) or "visible" not in found:
        return None
    visible = found["visible"]
    return Viewer(str(found.get("name", "")), str(found.get("role", "")),
                  None if visible is None else frozenset(str(e) for e in visible), bool(found.get("can_act")))


def arguments_from(payload: dict) -> dict[str, str]:
    raw = payload.get("arguments") or {}
    found: dict[str, str] = {}
    for name in ARGUMENTS:
        value = raw.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, str) and value:
            found[name] = value[:200]
    return found


def make_document(data: Data, build: Builder, doc: Document) -> None:
    doc.theme = theme.THEME
    context = doc.session_context
    payload = context.token_payload if context is not None else {}
    viewer = viewer_from(payload)
    if viewer is None:
        doc.add_root(refused("未登录或会话无效：请从系统页面打开看板"))
        return
    build(Context(data, viewer, arguments_from(payload), doc))


def applications(data: Data) -> dict[str, Application]:
    return {f"/{name}": Application(FunctionHandler(_bound(data, build))) for name, build in VIEWS.items()}


def _bound(data: Data, build: Builder) -> Callable[[Document], None]:
    def modify(doc: Document) -> None:
        make_document(data, build, doc)
    return modify
