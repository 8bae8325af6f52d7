"""Alerts: list and filter, one alert's story (transitions with provenance, notes), and the workflow."""

from __future__ import annotations

import datetime

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from server import queries
from server.api import params
from server.api.auth import principal
from server.api.errors import ApiError
from server.api.export import respond
from server.service import audit
from server.store.models import Alert, AlertNote

bp = Blueprint("alerts", url_prefix="/api/v1")

ALERT_COLUMNS = ["id", "rule", "kind", "entity", "indicator", "state", "severity", "period", "workflow",
                 "explained_until", "message", "ruleset_version", "updated_at"]
# action -> the workflow state it leads to (None: the state stays)
ACTIONS = {"acknowledge": "acknowledged", "explain": "explained", "data_error": "data_error", "comment": None,
           "reopen": "open"}


@bp.get("/alerts", ctx_permission="alerts:read", ctx_cache=True)
async def list_alerts(request: Request) -> HTTPResponse:
    """Alerts, newest first. Filters: state, severity, rule, entity (`subtree=1` for its region), indicator,
    workflow, kind, `since` (period); paging with limit and offset; `format=csv|xlsx|json`."""
    service = request.app.ctx.service
    filters = {name: params.many(request, name) for name in queries.ALERT_FILTERS if name != "entity"}
    filters = {k: v for k, v in filters.items() if v}
    wanted = params.many(request, "entity")
    entities = queries.expand_entities(service.model, wanted, request.args.get("subtree") in ("1", "true")) \
        if wanted else list(service.model.entities)
    visible = principal(request).visible(entities)
    limit = params.integer(request, "limit", 100, low=1, high=10000)
    offset = params.integer(request, "offset", 0)
    total, rows = await queries.alerts(filters, visible, limit, offset, params.period(request, "since"))
    return respond(request, rows, ALERT_COLUMNS, "alerts", {"total": total})


async def _alert(request: Request, alert_id: int) -> Alert:
    alert = await Alert.get_or_none(id=alert_id)
    if alert is None or not principal(request).sees(alert.entity):
        raise ApiError(404, "not_found", f"没有编号为 {alert_id} 的预警")
    return alert


@bp.get("/alerts/<alert_id:int>", ctx_permission="alerts:read")
async def get_alert(request: Request, alert_id: int) -> HTTPResponse:
    """One alert with every transition (period, values read, thresholds crossed, rule-set version, batch) and
    every workflow note, plus where its rule is written."""
    alert = await _alert(request, alert_id)
    story = await queries.alert_story(alert)
    model = request.app.ctx.service.model
    definition = (model.rules.get(alert.rule) or model.checks.get(alert.rule)) if model else None
    if definition is not None:
        story["rule_source"] = f"{definition.span.path}:{definition.span.line}"
    return json(story, ensure_ascii=False)


@bp.post("/alerts/<alert_id:int>/actions", ctx_permission="alerts:write")
async def act_on_alert(request: Request, alert_id: int) -> HTTPResponse:
    """Workflow: `{"action": "acknowledge" | "explain" | "data_error" | "comment" | "reopen", "note": "...",
    "expires": "2026-12-31"}`. An explanation needs a note and an expiry; a data error asks for a revision."""
    alert = await _alert(request, alert_id)
    body = params.json_object(request)
    action, note = body.get("action"), body.get("note") or ""
    if not isinstance(note, str):
        raise ApiError(400, "bad_parameter", "note 应为文字")
    note = note.strip()
    if not isinstance(action, str) or action not in ACTIONS:
        raise ApiError(400, "bad_action", f"未知操作「{action}」，可选：{'、'.join(ACTIONS)}")
    expires = _expiry(body.get("expires"), required=action == "explain")
    if action in ("explain", "comment", "data_error") and not note:
        raise ApiError(400, "note_required", "请填写说明")
    user = principal(request).name
    await AlertNote.create(alert_id=alert.id, action=action, note=note, expires=expires, user=user)
    if ACTIONS[action] is not None:
        alert.workflow = ACTIONS[action]
        alert.explained_until = expires if action == "explain" else None
        await alert.save(update_fields=["workflow", "explained_until", "updated_at"])
    await audit(user, f"alert.{action}", f"alert:{alert.id}", {"note": note, "expires": str(expires or "")})
    return json(await queries.alert_story(alert), ensure_ascii=False)


def _expiry(raw: object, required: bool) -> datetime.date | None:
    if raw in (None, ""):
        if required:
            raise ApiError(400, "expiry_required", "情况说明需要有效期（expires，如 2026-12-31）")
        return None
    try:
        day = datetime.date.fromisoformat(str(raw))
    except ValueError:
        raise ApiError(400, "bad_parameter", f"有效期应为日期，如 2026-12-31，收到「{raw}」") from None
    if day < datetime.date.today():
        raise ApiError(400, "bad_parameter", "有效期不能早于今天")
    return day
