"""Administration: users with their roles and region scopes, API tokens for machines, and the audit log
(read-only: no endpoint changes it)."""

from __future__ import annotations

import datetime
import secrets

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from tortoise.timezone import now

from server import accounts, crypto
from server.api import params, sessions
from server.api.account import password_hash, revoke_sessions, set_password
from server.api.auth import PERMISSIONS, principal
from server.api.errors import ApiError
from server.api.export import respond
from server.service import audit
from server.store.models import ApiToken, AuditEntry, User

bp = Blueprint("users", url_prefix="/api/v1")

USER_COLUMNS = ["id", "username", "display_name", "role", "scope", "disabled", "contact", "created_at"]


def _row(user: User) -> dict:
    # Administrators alone call these endpoints; even they see a contact channel's secret only on request.
    return {"id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role,
            "scope": user.scope, "disabled": user.disabled,
            "contact": crypto.mask(crypto.decrypt(user.contact)) if user.contact else "",
            "created_at": user.created_at.isoformat()}


def _settings_from(request: Request, body: dict, user: User | None) -> dict:
    """The fields of a create or change request, checked."""
    model = request.app.ctx.service.model
    changes: dict = {}
    try:
        if "role" in body or user is None:
            accounts.check_role(str(body.get("role", "")))
            changes["role"] = body["role"]
        if "scope" in body:
            scope = body["scope"]
            if not isinstance(scope, list) or not all(isinstance(e, str) for e in scope):
                raise accounts.PolicyError("scope 应为单位 id 列表")
            changes["scope"] = list(accounts.check_scope(model, scope))
    except accounts.PolicyError as error:
        raise ApiError(400, "bad_parameter", str(error)) from None
    if "display_name" in body:
        changes["display_name"] = _text(body, "display_name", 64)
    if "disabled" in body:
        if not isinstance(body["disabled"], bool):
            raise ApiError(400, "bad_parameter", "disabled 应为 true 或 false")
        changes["disabled"] = body["disabled"]
    if "contact" in body:
        changes["contact"] = crypto.encrypt(_text(body, "contact", 1000))
    return changes


def _text(body: dict, name: str, limit: int) -> str:
    value = body.get(name) or ""
    if not isinstance(value, str) or len(value) > limit:
        raise ApiError(400, "bad_parameter", f"{name} 应为不超过 {limit} 个字符的文字")
    return value


@bp.get("/users", ctx_permission="users:admin")
async def list_users(request: Request) -> HTTPResponse:
    """Every user with role, scope and state; `format=csv|xlsx|json`."""
    users = await User.all().order_by("id")
    return respond(request, [_row(u) for u in users], USER_COLUMNS, "users")


@bp.post("/users", ctx_permission="users:admin")
async def create_user(request: Request) -> HTTPResponse:
    """Add a user: `{"username", "password", "role", "scope": ["xintai"], "display_name", "contact"}`."""
    body = params.json_object(request)
    username = str(body.get("username") or "").strip()
    if not username or len(username) > 64 or not username.replace("_", "").replace(".", "").isalnum():
        raise ApiError(400, "bad_parameter", "用户名须为 1–64 个字母、数字、点或下划线")
    if await User.exists(username=username):
        raise ApiError(409, "exists", f"用户「{username}」已存在")
    changes = _settings_from(request, body, None)
    hashed = await password_hash(username, str(body.get("password") or ""))
    user = await User.create(username=username, password_hash=hashed, **changes)
    await audit(principal(request).name, "user.create", f"user:{username}",
                {"role": user.role, "scope": user.scope})
    return json(_row(user), status=201, ensure_ascii=False)


async def _user(user_id: int) -> User:
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise ApiError(404, "not_found", f"没有编号为 {user_id} 的用户")
    return user


@bp.patch("/users/<user_id:int>", ctx_permission="users:admin")
async def change_user(request: Request, user_id: int) -> HTTPResponse:
    """Change role, scope, display name, contact or disabled; `"password"` resets it. A change of role,
    scope, password or disabled revokes the user's sessions."""
    user = await _user(user_id)
    body = params.json_object(request)
    changes = _settings_from(request, body, user)
    before = {k: getattr(user, k) for k in changes if k != "contact"}
    for name, value in changes.items():
        setattr(user, name, value)
    if changes:
        await user.save(update_fields=list(changes))
    if "password" in body:
        await set_password(user, str(body["password"]))
    revoked = 0
    if {"role", "scope", "disabled", "password"} & set(body):
        revoked = await revoke_sessions(request, user)
    await audit(principal(request).name, "user.change", f"user:{user.username}",
                {"before": before, "after": {k: v for k, v in changes.items() if k != "contact"},
                 "password_reset": "password" in body, "contact_changed": "contact" in changes,
                 "sessions_revoked": revoked})
    return json(_row(user), ensure_ascii=False)


@bp.delete("/users/<user_id:int>", ctx_permission="users:admin")
async def delete_user(request: Request, user_id: int) -> HTTPResponse:
    """Remove a user, with their sessions, devices and tokens. The audit log keeps their history."""
    user = await _user(user_id)
    if user.id == principal(request).user_id:
        raise ApiError(400, "bad_parameter", "不能删除自己")
    await revoke_sessions(request, user)
    await user.delete()
    await audit(principal(request).name, "user.delete", f"user:{user.username}")
    return json({"status": "deleted"})


# ---------------------------------------------------------------------- API tokens


@bp.post("/tokens", ctx_permission="tokens:write")
async def create_token(request: Request) -> HTTPResponse:
    """A scoped token for a machine: `{"name", "permissions": ["data:write"], "scope": ["xintai"],
    "days": 365}`. The token is shown once; only its hash is kept. It can do no more than its creator."""
    body = params.json_object(request)
    caller = principal(request)
    wanted = body.get("permissions") or []
    if not isinstance(wanted, list) or not wanted or not all(isinstance(p, str) for p in wanted) \
            or not set(wanted) <= set(PERMISSIONS) - {"public"}:
        raise ApiError(400, "bad_parameter", "permissions 应为权限列表，如 [\"data:write\"]")
    if not set(wanted) <= caller.permissions:
        raise ApiError(403, "forbidden", "令牌的权限不能超过创建者本人")
    scope = body.get("scope") or []
    if not isinstance(scope, list) or not all(isinstance(e, str) for e in scope):
        raise ApiError(400, "bad_parameter", "scope 应为单位 id 列表")
    model = request.app.ctx.service.model
    try:
        scope = list(accounts.check_scope(model, scope))
    except accounts.PolicyError as error:
        raise ApiError(400, "bad_parameter", str(error)) from None
    # What the token would write must lie within what its creator may write (not merely read).
    if caller.write_scope is not None and (
            not scope or not (accounts.writable_entities(model, scope) or frozenset()) <= caller.write_scope):
        raise ApiError(403, "forbidden", "令牌的范围不能超出创建者本人")
    days = body.get("days", 365)
    if isinstance(days, bool) or not isinstance(days, int):
        raise ApiError(400, "bad_parameter", "days 应为整数")
    token = f"tk1_{secrets.token_urlsafe(32)}"
    row = await ApiToken.create(name=_text(body, "name", 64), owner_id=caller.user_id,
                                token_hash=sessions.digest(token), permissions=wanted, scope=scope,
                                expires_at=now() + datetime.timedelta(days=max(1, min(days, 3650))))
    await audit(caller.name, "token.create", f"token:{row.id}", {"permissions": wanted, "scope": scope})
    return json({"id": row.id, "token": token, "expires_at": row.expires_at.isoformat()}, status=201)


@bp.get("/tokens", ctx_permission="tokens:write")
async def list_tokens(request: Request) -> HTTPResponse:
    """API tokens (never the token itself)."""
    rows = await ApiToken.all().order_by("id").values("id", "name", "owner__username", "permissions", "scope",
                                                      "created_at", "expires_at", "revoked_at")
    items = [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in rows]
    return json({"count": len(items), "items": items}, ensure_ascii=False)


@bp.delete("/tokens/<token_id:int>", ctx_permission="tokens:write")
async def revoke_token(request: Request, token_id: int) -> HTTPResponse:
    """Revoke an API token at once."""
    row = await ApiToken.get_or_none(id=token_id)
    if row is None:
        raise ApiError(404, "not_found", "没有这个令牌")
    row.revoked_at = now()
    await row.save(update_fields=["revoked_at"])
    request.app.ctx.authenticate.forget()
    await audit(principal(request).name, "token.revoke", f"token:{token_id}")
    return json({"status": "revoked"})


# ---------------------------------------------------------------------- audit


@bp.get("/audit", ctx_permission="audit:read")
async def audit_log(request: Request) -> HTTPResponse:
    """The audit log, newest first: `?action=auth.login&actor=...&target=...&limit=&offset=&format=`."""
    query = AuditEntry.all()
    for name in ("action", "actor", "target"):
        values = params.many(request, name)
        if values:
            query = query.filter(**{f"{name}__in": values})
    prefix = request.args.get("prefix")
    if prefix:
        query = query.filter(action__startswith=prefix)
    total = await query.count()
    rows = await query.order_by("-id").offset(params.integer(request, "offset", 0)).limit(
        params.integer(request, "limit", 100, low=1, high=10000))
    items = [{"id": r.id, "actor": r.actor, "action": r.action, "target": r.target, "detail": r.detail,
              "created_at": r.created_at.isoformat()} for r in rows]
    return respond(request, items, ["id", "created_at", "actor", "action", "target", "detail"], "audit",
                   {"total": total})
