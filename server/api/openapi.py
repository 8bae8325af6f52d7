"""`/api/v1/openapi.json`, built from the route table: every route, its methods, its summary and description
(the handler's docstring) and the permission it needs. A route cannot be missing from the document."""

from __future__ import annotations

import inspect
import re

from sanic import Blueprint, Request, Sanic
from sanic.response import HTTPResponse, json
from sanic_routing.route import Route

bp = Blueprint("openapi", url_prefix="/api/v1")

OBSERVATION = {
    "type": "object",
    "required": ["indicator", "entity", "period", "value"],
    "properties": {"indicator": {"type": "string", "example": "gdp"}, "entity": {"type": "string", "example": "taian"},
                   "period": {"type": "string", "example": "2026-10"}, "value": {"type": "number"}},
}
BODIES = {("/api/v1/observations", "post"): {
    "type": "object", "required": ["observations"],
    "properties": {"observations": {"type": "array", "items": {"$ref": "#/components/schemas/Observation"}}}}}


@bp.get("/openapi.json", ctx_permission="public")
async def openapi(request: Request) -> HTTPResponse:
    """This document."""
    return json(document(request.app), ensure_ascii=False)


def document(app: Sanic) -> dict:
    paths: dict[str, dict] = {}
    for route in app.router.routes:
        path = "/" + re.sub(r"<(\w+)(?::[^>]*)?>", r"{\1}", route.path).lstrip("/")
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(route, path, method.lower())
    return {
        "openapi": "3.1.0",
        "info": {"title": "泰山经济运行监测 API", "version": "1",
                 "description": "数据报送、查询、预警与规则集管理。所有接口位于 /api/v1 之下。"},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Observation": OBSERVATION},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(route: Route, path: str, method: str) -> dict:
    doc = inspect.getdoc(route.handler) or ""
    summary, _, description = doc.partition("\n\n")
    permission = getattr(route.ctx, "permission", None)
    operation: dict = {
        "operationId": route.name.replace(".", "_"),
        "summary": summary.replace("\n", " "),
        "tags": [route.name.split(".")[1] if "." in route.name else "default"],
        "x-permission": permission,
        "parameters": [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                       for name in re.findall(r"{(\w+)}", path)],
        "responses": {"200": {"description": "成功"}, "4XX": {"description": "请求有误，见 error.message"}},
    }
    if description:
        operation["description"] = description
    if permission != "public":
        operation["security"] = [{"bearer": []}]
    if (path, method) in BODIES:
        operation["requestBody"] = {"content": {"application/json": {"schema": BODIES[(path, method)]}}}
    return operation
