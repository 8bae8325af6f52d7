"""Data in (`POST /observations`, atomic, evaluated before the answer) and series out."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from engine import DataError, RowError
from server import queries
from server.api import params
from server.api.auth import principal
from server.api.errors import ApiError
from server.api.export import respond

bp = Blueprint("observations", url_prefix="/api/v1")

FIELDS = ("indicator", "entity", "period", "value")
SERIES_COLUMNS = ["indicator", "entity", "period", "value", "vintage", "recorded_at"]


@bp.post("/observations", ctx_permission="data:write")
async def post_observations(request: Request) -> HTTPResponse:
    """Store a batch of observations and evaluate the rules on it.

    Body: `{"observations": [{"indicator", "entity", "period", "value"}, ...]}`. The batch is atomic: one
    bad row rejects it with a report of every bad row. The answer lists the vintages created and the alert
    transitions the batch caused."""
    body = params.json_object(request)
    rows = body.get("observations")
    if not isinstance(rows, list) or not rows:
        raise ApiError(400, "bad_json", "请求体应为 {\"observations\": [...]}，且至少一条")
    _check_shapes(rows)
    service = request.app.ctx.service
    user = principal(request).name
    _check_scope(request, rows)
    result = await service.ingest(rows, source="api", user=user)
    return json(result.as_dict(), status=201 if result.accepted else 200, ensure_ascii=False)


def _check_shapes(rows: list) -> None:
    errors: list[RowError] = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            errors.append(RowError(number, "row", "每条数据应为 JSON 对象"))
            continue
        for name in FIELDS:
            value = row.get(name)
            if value is None:
                continue  # reported as missing by the validation that follows
            allowed = (int, float, str) if name in ("value", "period") else (str,)
            if isinstance(value, bool) or not isinstance(value, allowed):
                errors.append(RowError(number, name, f"{name} 应为{'数字' if name == 'value' else '字符串'}，"
                                                     f"收到 {type(value).__name__}"))
    if errors:
        raise DataError(errors)


def _check_scope(request: Request, rows: list[dict]) -> None:
    caller = principal(request)
    outside = [RowError(n, "entity", f"无权报送单位「{row.get('entity')}」的数据")
               for n, row in enumerate(rows, start=1) if not caller.writes(str(row.get("entity")))]
    if outside:
        raise DataError(outside)


@bp.get("/series", ctx_permission="data:read", ctx_cache=True)
async def get_series(request: Request) -> HTTPResponse:
    """Series by indicator, entity, tag and period range, as of a vintage or a date.

    `?indicator=gdp&entity=taian&subtree=1&tag=工业&from=2024-01&to=2026-10&vintage=1&as_of=2026-05-01`,
    `&format=csv|xlsx|json`."""
    model = request.app.ctx.service.model
    indicators = params.many(request, "indicator")
    for tag in params.many(request, "tag"):
        indicators += [i.id for i in model.indicators.values() if tag in i.tags]
    entities = params.many(request, "entity") or list(model.entities)
    unknown = [i for i in indicators if i not in model.indicators] + [e for e in entities if e not in model.entities]
    if unknown:
        raise ApiError(404, "unknown_name", f"未知的指标或单位：{'、'.join(unknown)}")
    if not indicators:
        raise ApiError(400, "bad_parameter", "请至少给出一个 indicator 或 tag")
    entities = queries.expand_entities(model, entities, request.args.get("subtree") in ("1", "true"))
    query = queries.SeriesQuery(tuple(dict.fromkeys(indicators)), tuple(principal(request).visible(entities)),
                                params.period(request, "from"), params.period(request, "to"),
                                params.integer(request, "vintage", low=1), params.moment(request, "as_of"))
    rows = await queries.series(query)
    return respond(request, rows, SERIES_COLUMNS, "series")


@bp.get("/revisions", ctx_permission="data:read")
async def get_revisions(request: Request) -> HTTPResponse:
    """Every vintage of one value: `?indicator=gdp&entity=taian&period=2026Q1`."""
    indicator, entity = request.args.get("indicator", ""), request.args.get("entity", "")
    period = params.period(request, "period")
    if not (indicator and entity and period):
        raise ApiError(400, "bad_parameter", "需要 indicator、entity 和 period")
    if not principal(request).sees(entity):
        raise ApiError(403, "forbidden", "无权查看该单位")
    rows = await queries.revisions(indicator, entity, period)
    return respond(request, rows, ["vintage", "value", "source", "user", "batch_id", "created_at"], "revisions")
