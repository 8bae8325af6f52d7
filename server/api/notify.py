"""Receivers (administrators only; their Apprise URLs are secrets), silences, and the outbox with its dead
letters."""

from __future__ import annotations

import datetime
import os
from urllib.parse import unquote

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from tortoise.timezone import localtime

from dsl import Model
from notifiers.silences import check_matchers
from server import crypto
from server.api import params
from server.api.auth import principal
from server.api.errors import ApiError
from server.api.export import respond
from server.notify import delivery, outbox
from server.notify.digests import KINDS, send_digest
from server.notify.outbox import decode_urls, encode_urls, utcnow
from server.service import audit
from server.store.models import Alert, OutboxMessage, Receiver, Silence

bp = Blueprint("notify", url_prefix="/api/v1")

RECEIVER_COLUMNS = ["name", "urls", "tags", "quiet_start", "quiet_end", "quiet_breakthrough", "format", "enabled",
                    "created_by", "updated_at"]
SILENCE_COLUMNS = ["id", "matchers", "starts_at", "ends_at", "state", "created_by", "comment", "expire_on_resolve",
                   "expired_at", "matched_count"]
OUTBOX_COLUMNS = ["id", "receiver", "status", "severity", "title", "attempts", "next_attempt_at", "last_error",
                  "claimed_by", "created_at", "sent_at", "alert_ids", "results"]
SEVERITIES = ("info", "warning", "critical")
STATUSES = ("pending", "sending", "sent", "dead")


def _iso(value: datetime.datetime | None) -> str | None:
    return localtime(value).isoformat() if value is not None else None


# ---------------------------------------------------------------------- receivers


def _receiver_row(r: Receiver, reveal: bool = False) -> dict:
    urls = decode_urls(r.urls)
    return {"name": r.name, "urls": urls if reveal else [crypto.mask(u) for u in urls], "tags": r.tags,
            "quiet_start": r.quiet_start, "quiet_end": r.quiet_end,
            "quiet_breakthrough": r.quiet_breakthrough, "format": r.format, "scope": r.scope, "enabled": r.enabled,
            "created_by": r.created_by, "updated_at": _iso(r.updated_at)}


def _receiver_fields(body: dict, creating: bool, model: Model) -> dict:
    """The checked fields of a create or change request."""
    changes: dict = {}
    if "urls" in body or creating:
        urls = body.get("urls")
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) and u.strip() for u in urls):
            raise ApiError(400, "bad_parameter", "urls 应为非空的 Apprise 地址列表")
        problems = {i: why for i, u in enumerate(urls) if (why := delivery.check_url(u.strip()))}
        if problems:
            raise ApiError(400, "bad_url", "地址无效：" + "；".join(f"第 {i + 1} 个{w}" for i, w in problems.items()),
                           {"invalid": [{"index": i, "reason": w} for i, w in problems.items()]})
        changes["urls"] = encode_urls([u.strip() for u in urls])
    if "tags" in body:
        tags = body["tags"]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ApiError(400, "bad_parameter", "tags 应为字符串列表")
        changes["tags"] = tags
    for name in ("quiet_start", "quiet_end"):
        if name in body:
            changes[name] = _time(name, body[name])
    if "quiet_breakthrough" in body:
        level = body["quiet_breakthrough"]
        if level not in (None, *SEVERITIES):
            raise ApiError(400, "bad_parameter", f"quiet_breakthrough 应为 {'、'.join(SEVERITIES)} 或 null")
        changes["quiet_breakthrough"] = level
    if "format" in body:
        if body["format"] not in ("", *delivery.FORMATS):
            raise ApiError(400, "bad_parameter", "format 应为空（按目标自身格式）、text、markdown 或 html")
        changes["format"] = body["format"]
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise ApiError(400, "bad_parameter", "enabled 应为 true 或 false")
        changes["enabled"] = body["enabled"]
    if "scope" in body:
        scope = body["scope"]
        if not isinstance(scope, list) or not all(isinstance(e, str) and e in model.entities for e in scope):
            raise ApiError(400, "bad_parameter", "scope 应为已知单位 id 的列表（空表示全部）")
        changes["scope"] = scope
    return changes


def _time(name: str, value: object) -> str | None:
    if value in (None, ""):
        return None
    try:
        return datetime.time.fromisoformat(str(value)).strftime("%H:%M")
    except ValueError:
        raise ApiError(400, "bad_parameter", f"{name} 应为当地时间，如 22:00，收到「{value}」") from None


async def _receiver(name: str) -> Receiver:
    name = unquote(name)  # Sanic hands path parameters over still percent-encoded
    receiver = await Receiver.get_or_none(name=name)
    if receiver is None:
        raise ApiError(404, "not_found", f"没有名为「{name}」的接收方")
    return receiver


@bp.get("/receivers", ctx_permission="users:admin")
async def list_receivers(request: Request) -> HTTPResponse:
    """Every receiver with its URLs masked (scheme only); `format=csv|xlsx|json`."""
    rows = [_receiver_row(r) for r in await Receiver.all().order_by("name")]
    return respond(request, rows, RECEIVER_COLUMNS, "receivers")


@bp.post("/receivers", ctx_permission="users:admin")
async def create_receiver(request: Request) -> HTTPResponse:
    """`{"name", "urls": ["dingtalk://…"], "tags", "quiet_start": "22:00", "quiet_end": "07:00",
    "quiet_breakthrough": "critical", "format": "", "enabled": true}`."""
    body = params.json_object(request)
    name = str(body.get("name") or "").strip()
    if not name or len(name) > 64 or name.startswith("user:"):
        raise ApiError(400, "bad_parameter", "接收方名称须为 1–64 个字符，且不能以 user: 开头")
    if await Receiver.exists(name=name):
        raise ApiError(409, "exists", f"接收方「{name}」已存在")
    fields = _receiver_fields(body, True, request.app.ctx.service.model)
    receiver = await Receiver.create(name=name, created_by=principal(request).name, **fields)
    await audit(principal(request).name, "receiver.create", f"receiver:{receiver.name}", _audited(receiver))
    return json(_receiver_row(receiver), status=201, ensure_ascii=False)


def _audited(r: Receiver) -> dict:
    # Never the URLs themselves: the audit log is readable by more people than the receivers are.
    return {"schemes": [u.split("://", 1)[0] for u in decode_urls(r.urls)], "tags": r.tags, "enabled": r.enabled,
            "quiet": [r.quiet_start, r.quiet_end], "format": r.format}


@bp.get("/receivers/<name>", ctx_permission="users:admin")
async def get_receiver(request: Request, name: str) -> HTTPResponse:
    """One receiver; `reveal=1` shows its URLs in full (audited)."""
    receiver = await _receiver(name)
    reveal = request.args.get("reveal") == "1"
    if reveal:
        await audit(principal(request).name, "receiver.reveal", f"receiver:{receiver.name}")
    return json(_receiver_row(receiver, reveal), ensure_ascii=False)


@bp.patch("/receivers/<name>", ctx_permission="users:admin")
async def change_receiver(request: Request, name: str) -> HTTPResponse:
    receiver = await _receiver(name)
    changes = _receiver_fields(params.json_object(request), False, request.app.ctx.service.model)
    before = _audited(receiver)
    for field, value in changes.items():
        setattr(receiver, field, value)
    await receiver.save()
    await audit(principal(request).name, "receiver.change", f"receiver:{receiver.name}",
                {"before": before, "after": _audited(receiver), "urls_changed": "urls" in changes})
    return json(_receiver_row(receiver), ensure_ascii=False)


@bp.delete("/receivers/<name>", ctx_permission="users:admin")
async def delete_receiver(request: Request, name: str) -> HTTPResponse:
    """Remove a receiver. Messages already queued for it go to dead letters (and can be retried if it returns)."""
    receiver = await _receiver(name)
    await receiver.delete()
    await audit(principal(request).name, "receiver.delete", f"receiver:{receiver.name}", _audited(receiver))
    return json({"status": "deleted"})


# ---------------------------------------------------------------------- silences


def _silence_row(s: Silence, now: datetime.datetime) -> dict:
    ended = s.expired_at is not None or s.ends_at <= now
    state = "expired" if ended else "active" if s.starts_at <= now else "pending"
    return {"id": s.id, "matchers": s.matchers, "starts_at": _iso(s.starts_at), "ends_at": _iso(s.ends_at),
            "state": state, "created_by": s.created_by, "comment": s.comment,
            "expire_on_resolve": s.expire_on_resolve, "expired_at": _iso(s.expired_at),
            "matched_count": s.matched_count}


@bp.post("/silences", ctx_permission="alerts:write")
async def create_silence(request: Request) -> HTTPResponse:
    """`{"matchers": {"entity": "xintai", "rule": "~ind_.*"}, "starts_at"?, "ends_at" | "hours", "comment",
    "expire_on_resolve": false}`. Matchers: rule, entity, indicator, severity, state, kind, label:NAME; a value
    starting with `~` is a regular expression."""
    body = params.json_object(request)
    matchers = body.get("matchers")
    if not isinstance(matchers, dict) or not all(isinstance(v, str) for v in matchers.values()):
        raise ApiError(400, "bad_parameter", "matchers 应为 {字段: 值} 对象")
    problems = check_matchers(matchers)
    if problems:
        raise ApiError(400, "bad_matchers", "；".join(problems), {"problems": problems})
    now = utcnow()
    starts = _moment(body, "starts_at") or now
    ends = _moment(body, "ends_at")
    if ends is None:
        hours = body.get("hours")
        if not isinstance(hours, int | float) or hours <= 0:
            raise ApiError(400, "bad_parameter", "请给出 ends_at（结束时间）或 hours（持续小时数）")
        ends = starts + datetime.timedelta(hours=hours)
    if ends <= starts or ends <= now:
        raise ApiError(400, "bad_parameter", "结束时间应晚于开始时间和当前时间")
    comment = str(body.get("comment") or "").strip()
    if not comment:
        raise ApiError(400, "bad_parameter", "请填写静默原因（comment）")
    silence = await Silence.create(matchers=matchers, starts_at=starts, ends_at=ends, comment=comment[:2000],
                                   created_by=principal(request).name,
                                   expire_on_resolve=bool(body.get("expire_on_resolve")))
    await audit(principal(request).name, "silence.create", f"silence:{silence.id}",
                {"matchers": matchers, "ends_at": _iso(ends), "comment": silence.comment})
    return json(_silence_row(silence, now), status=201, ensure_ascii=False)


def _moment(body: dict, name: str) -> datetime.datetime | None:
    value = body.get(name)
    if value in (None, ""):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(str(value))
    except ValueError:
        raise ApiError(400, "bad_parameter", f"{name} 应为 ISO 时间，如 2026-12-01T18:00，收到「{value}」") from None
    return localtime(parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=8))))


@bp.get("/silences", ctx_permission="alerts:read")
async def list_silences(request: Request) -> HTTPResponse:
    """Silences, newest first; `state=active|pending|expired` filters; `format=csv|xlsx|json`."""
    now = utcnow()
    caller = principal(request)
    # A region-scoped caller sees the silences of their own entities only: a silence's comment may name
    # other counties' figures.
    rows = [_silence_row(s, now) for s in await Silence.all().order_by("-id")
            if caller.scope is None or caller.sees(str(s.matchers.get("entity", "~")))]
    wanted = request.args.get("state")
    if wanted:
        rows = [r for r in rows if r["state"] == wanted]
    return respond(request, rows, SILENCE_COLUMNS, "silences")


@bp.post("/silences/<silence_id:int>/expire", ctx_permission="alerts:write")
async def expire_silence(request: Request, silence_id: int) -> HTTPResponse:
    """End a silence now; its creator is told, as at its natural end."""
    silence = await Silence.get_or_none(id=silence_id)
    if silence is None:
        raise ApiError(404, "not_found", f"没有编号为 {silence_id} 的静默")
    now = utcnow()
    if silence.expired_at is not None or silence.ends_at <= now:
        raise ApiError(409, "expired", "该静默已经结束")
    silence.expired_at = now
    await silence.save(update_fields=["expired_at"])
    await audit(principal(request).name, "silence.expire", f"silence:{silence_id}")
    return json(_silence_row(silence, now), ensure_ascii=False)


# ---------------------------------------------------------------------- outbox


def _outbox_row(m: OutboxMessage) -> dict:
    return {"id": m.id, "receiver": m.receiver, "status": m.status, "severity": m.severity, "title": m.title,
            "attempts": m.attempts, "next_attempt_at": _iso(m.next_attempt_at), "last_error": m.last_error,
            "claimed_by": m.claimed_by, "created_at": _iso(m.created_at), "sent_at": _iso(m.sent_at),
            "alert_ids": m.alert_ids, "results": m.results}


@bp.get("/outbox", ctx_permission="alerts:read")
async def list_outbox(request: Request) -> HTTPResponse:
    """Queued and sent messages, newest first; `status=pending|sending|sent|dead`, `limit` (default 200)."""
    query = OutboxMessage.all()
    status = request.args.get("status")
    if status:
        if status not in STATUSES:
            raise ApiError(400, "bad_parameter", f"status 应为 {'、'.join(STATUSES)} 之一")
        query = query.filter(status=status)
    limit = params.integer(request, "limit", 200, 1, 10000)
    messages = await query.order_by("-id").limit(limit or 200)
    caller = principal(request)
    if caller.scope is not None:
        # A message goes out for its alerts; a scoped caller sees it only if every one of them is theirs.
        ids = {i for m in messages for i in m.alert_ids}
        entity_of = dict(await Alert.filter(id__in=ids).values_list("id", "entity"))
        messages = [m for m in messages if m.alert_ids and all(caller.sees(entity_of.get(i, "")) for i in m.alert_ids)]
    rows = [_outbox_row(m) for m in messages]
    return respond(request, rows, OUTBOX_COLUMNS, "outbox",
                   extra={"depth": await outbox.depth(), "dead": await outbox.dead()})


@bp.post("/outbox/<message_id:int>/retry", ctx_permission="users:admin")
async def retry_message(request: Request, message_id: int) -> HTTPResponse:
    """Send a dead letter again, with a fresh count of attempts."""
    if not await outbox.retry(message_id):
        raise ApiError(409, "not_dead", f"编号为 {message_id} 的消息不存在或不是死信")
    await audit(principal(request).name, "outbox.retry", f"outbox:{message_id}")
    notifications = getattr(request.app.ctx, "notifications", None)
    if notifications is not None:
        notifications.worker.wake()
    return json(_outbox_row(await OutboxMessage.get(id=message_id)), ensure_ascii=False)


@bp.post("/digests", ctx_permission="users:admin")
async def post_digest(request: Request) -> HTTPResponse:
    """Send a receiver's digest now: `{"receiver": "工业科", "kind": "daily" | "monthly", "date": "2026-11-27"}`
    (any day of the month for monthly). The schedule's own digest: one already in the outbox is not queued
    again."""
    body = params.json_object(request)
    kind, name = body.get("kind"), str(body.get("receiver") or "")
    if kind not in KINDS:
        raise ApiError(400, "bad_parameter", "kind 应为 daily 或 monthly")
    try:
        day = datetime.date.fromisoformat(str(body.get("date") or ""))
    except ValueError:
        raise ApiError(400, "bad_parameter", f"date 应为日期，如 2026-11-27，收到「{body.get('date')}」") from None
    try:
        sent = await send_digest(request.app.ctx.service, name, kind, day, os.environ.get("TAISHAN_PUBLIC_URL", ""))
    except LookupError as error:
        raise ApiError(404, "not_found", str(error)) from None
    except ValueError as error:
        raise ApiError(400, "bad_parameter", str(error)) from None
    await audit(principal(request).name, "digest.send", f"receiver:{name}",
                {"kind": kind, "date": day.isoformat(), "queued": sent.queued})
    notifications = getattr(request.app.ctx, "notifications", None)
    if sent.queued and notifications is not None:
        notifications.worker.wake()
    return json({"receiver": name, "kind": kind, "date": day.isoformat(), "queued": sent.queued,
                 "title": sent.message.title if sent.message else None}, status=202 if sent.queued else 200)
