"""The catalog (indicators and entities of the active rule set), searchable the way people type on a phone: a
piece of the Chinese name, the id, or the pinyin initials (`dqsczz` finds 地区生产总值). And the dashboard's
latest-values query, served from memory."""

from __future__ import annotations

from collections.abc import Sequence

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from tortoise.expressions import Q

from engine.periods import Period
from server import latest
from server.api import params
from server.api.auth import principal
from server.api.errors import ApiError
from server.api.export import respond
from server.store.models import Entity, Indicator

bp = Blueprint("catalog", url_prefix="/api/v1")

INDICATOR_COLUMNS = ["id", "name", "unit", "frequency", "form", "tags", "jan_feb", "prices", "additive", "parts",
                     "department", "release_day", "initials"]
ENTITY_COLUMNS = ["id", "name", "kind", "parent", "reference", "overlay", "initials"]


@bp.get("/indicators", ctx_permission="data:read", ctx_cache=True)
async def list_indicators(request: Request) -> HTTPResponse:
    """Indicators of the active rule set, searchable.

    `?q=` (part of the name, of the id, or the pinyin initials; best matches first), `tag=` (any of),
    `format=csv|xlsx|json`."""
    text = _query_text(request)
    found = await Indicator.filter(_matching(text))
    tags = set(params.many(request, "tag"))
    found = [i for i in found if not tags or tags & set(i.tags)]
    rows = [{"id": i.id, "name": i.name, "unit": i.unit, "frequency": i.frequency, "form": i.form, "tags": i.tags,
             "initials": i.initials, **i.attrs} for i in found]
    order = list(request.app.ctx.service.model.indicators)
    return respond(request, _ranked(rows, text, order), INDICATOR_COLUMNS, "indicators")


@bp.get("/entities", ctx_permission="data:read", ctx_cache=True)
async def list_entities(request: Request) -> HTTPResponse:
    """Entities the caller may see, searchable.

    `?q=` as for indicators, `kind=` and `parent=` (any of), `format=csv|xlsx|json`."""
    text = _query_text(request)
    found = await Entity.filter(_matching(text))
    kinds, parents = set(params.many(request, "kind")), set(params.many(request, "parent"))
    caller = principal(request)
    rows = [{"id": e.id, "name": e.name, "kind": e.kind, "parent": e.parent, "reference": e.reference,
             "overlay": e.overlay, "initials": e.initials} for e in found
            if caller.sees(e.id) and (not kinds or e.kind in kinds) and (not parents or e.parent in parents)]
    model = request.app.ctx.service.model
    ranked = _ranked(rows, text, list(model.entities))
    # Regions before the hundreds of enterprises: typing 泰 should find 泰安市 first, not 泰山某某公司.
    ranked.sort(key=lambda r: r["kind"] == "enterprise")
    return respond(request, ranked, ENTITY_COLUMNS, "entities")


@bp.get("/latest", ctx_permission="data:read", ctx_cache=True)
async def get_latest(request: Request) -> HTTPResponse:
    """Latest value, growth and rank of every entity for one indicator.

    `?indicator=gdp[&period=2026Q3]`: each visible entity's value at the newest period (or the one asked for),
    its year-on-year growth (a `rate` indicator's value is its growth), and its rank (1 = largest) by value and
    by growth among its peers: a province's cities, or a city's counties. Served from memory."""
    service = request.app.ctx.service
    indicator = request.args.get("indicator", "")
    if not indicator:
        raise ApiError(400, "bad_parameter", "需要 indicator 参数")
    engine, model = service.engine, service.model
    if engine is None or model is None:
        raise ApiError(503, "engine_unavailable", "数据引擎正在重建，请稍后再试")
    if indicator not in model.indicators:
        raise ApiError(404, "unknown_name", f"未知的指标：{indicator}")
    definition = model.indicators[indicator]
    wanted = params.period(request, "period")
    period = None if wanted is None else Period.parse(wanted)
    if period is not None and period.freq != definition.frequency:
        raise ApiError(400, "bad_parameter", f"期别 {period} 与指标「{definition.name}」的频率不符")
    answer = latest.cache_for(service).get(engine.panel, service.data_version, indicator, period)
    caller = principal(request)
    rows = answer.rows if caller.scope is None else [r for r in answer.rows if caller.sees(r["entity"])]
    extra = {"indicator": indicator, "name": definition.name, "unit": definition.unit, "form": definition.form,
             "period": answer.period, "data_version": service.data_version}
    return respond(request, rows, latest.COLUMNS, f"latest_{indicator}", extra)


def _query_text(request: Request) -> str:
    return request.args.get("q", "").strip()


def _matching(text: str) -> Q:
    if not text:
        return Q()
    return Q(name__contains=text) | Q(id__icontains=text) | Q(initials__contains=text.lower())


def _ranked(rows: list[dict], text: str, order: Sequence[str]) -> list[dict]:
    """Exact matches first, then prefixes, then the rest; within each, the rule set's own order."""
    position = {name: n for n, name in enumerate(order)}
    wanted = text.lower()

    def closeness(row: dict) -> int:
        keys = (row["id"].lower(), row["name"], row["initials"])
        if not wanted or wanted in keys:
            return 0
        return 1 if any(k.startswith(wanted) for k in keys) else 2

    return sorted(rows, key=lambda r: (closeness(r), position.get(r["id"], len(position)), r["id"]))
