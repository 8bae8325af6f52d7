"""The monthly brief over HTTP: the report itself (HTML or PDF) and its delivery as a digest with a link."""

from __future__ import annotations

import os
from urllib.parse import quote

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json, raw

from server import reports
from server.api import params
from server.api.auth import principal
from server.api.errors import ApiError
from server.service import audit
from server.store.models import Receiver

bp = Blueprint("reports", url_prefix="/api/v1")
MEDIA = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


def _region(request: Request, entity: object, period: object) -> tuple[str, str]:
    if not isinstance(entity, str) or not entity or not isinstance(period, str) or not period:
        raise ApiError(400, "bad_request", "请给出地区（entity）和月份（period，如 2026-10）")
    if not principal(request).sees(entity):
        raise ApiError(403, "forbidden", f"无权查看「{entity}」的简报")
    return entity, period


@bp.get("/reports/brief", ctx_permission="data:read")
async def get_brief(request: Request) -> HTTPResponse:
    """The brief of one region and month: `entity`, `period` (YYYY-MM), `format=html|pdf` (default html)."""
    entity, period = _region(request, request.args.get("entity"), request.args.get("period"))
    fmt = request.args.get("format", "html")
    if fmt not in MEDIA:
        raise ApiError(400, "bad_request", f"不支持的格式「{fmt}」：可选 html、pdf")
    try:
        content = await reports.render(request.app.ctx.service, entity, period, fmt)
    except reports.ReportError as error:
        raise ApiError(error.status, "not_found" if error.status == 404 else "bad_request", error.message) from None
    filename = quote(f"{entity}-{period}.{fmt}")
    return raw(content, content_type=MEDIA[fmt],
               headers={"Content-Disposition": f"inline; filename*=UTF-8''{filename}"})


@bp.post("/reports/brief/send", ctx_permission="alerts:write")
async def send_brief(request: Request) -> HTTPResponse:
    """Queue the brief's digest with its link to each receiver: `{"entity", "period", "receivers": [...]}`."""
    body = params.json_object(request)
    entity, period = _region(request, body.get("entity"), body.get("period"))
    names = body.get("receivers")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ApiError(400, "bad_request", "receivers 应为接收方名称的列表")
    known = set(await Receiver.filter(name__in=names).values_list("name", flat=True))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ApiError(400, "bad_request", f"没有这些接收方：{'、'.join(unknown)}", {"unknown": unknown})
    link_base = os.environ.get("TAISHAN_PUBLIC_URL", "")
    try:
        queued = await reports.send_brief(request.app.ctx.service, entity, period, names, link_base)
    except reports.ReportError as error:
        raise ApiError(error.status, "not_found" if error.status == 404 else "bad_request", error.message) from None
    await audit(principal(request).name, "report.send", f"{entity} {period}", {"receivers": names, "queued": queued})
    return json({"entity": entity, "period": period, "receivers": names, "queued": queued})
