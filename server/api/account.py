"""Sign-in and one's own account: password sign-in, refresh, sign-out, password change and recovery, and
pattern unlock (图形解锁) on a registered device."""

from __future__ import annotations

import datetime
import hmac
import secrets

import apprise
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from tortoise.timezone import now

from server import accounts, crypto, throttle
from server.api import params, sessions
from server.api.auth import principal
from server.api.errors import ApiError
from server.service import audit
from server.store.models import Device, RecoveryCode, Session, User

bp = Blueprint("account", url_prefix="/api/v1/auth")

RECOVERY_TTL = datetime.timedelta(minutes=10)
RECOVERY_ATTEMPTS = 5
PATTERN_FAILURES = 5
GENERIC_FAILURE = "用户名或密码错误"


def address(request: Request) -> str:
    return request.remote_addr or request.ip or ""


def _text(body: dict, name: str, limit: int = 256) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "bad_parameter", f"缺少 {name}")
    if len(value) > limit:
        raise ApiError(400, "bad_parameter", f"{name} 过长")
    return value


@bp.post("/login", ctx_permission="public")
async def login(request: Request) -> HTTPResponse:
    """Sign in with `{"username", "password"}`; `"web": true` sets a session cookie with a CSRF token.

    Returns `{"access_token", "token_type", "expires_in", "refresh_token", "user"}`. Failures back off per
    account and per address; every attempt is audited."""
    body = params.json_object(request)
    username, password = _text(body, "username", 64), _text(body, "password", 1024)
    keys = throttle.keys(username, address(request))
    wait = await throttle.locked_for(keys)
    if wait > 0:
        await audit(username, "auth.locked", f"user:{username}", {"address": address(request), "wait": wait})
        raise ApiError(429, "locked", f"尝试次数过多，请 {int(wait) + 1} 秒后再试",
                       headers={"Retry-After": str(int(wait) + 1)})
    user = await User.get_or_none(username=username)
    valid = await accounts.verify_password(user.password_hash if user else None, password)
    if not valid or user is None or user.disabled:
        await throttle.failed(keys)
        await audit(username, "auth.login_failed", f"user:{username}", {"address": address(request)})
        raise ApiError(401, "bad_credentials", GENERIC_FAILURE)
    await throttle.succeeded(keys)
    if accounts.needs_rehash(user.password_hash):
        user.password_hash = await accounts.hash_password(password)
        await user.save(update_fields=["password_hash"])
    await audit(username, "auth.login", f"user:{username}", {"address": address(request)})
    return await _signed_in(request, user, bool(body.get("web")))


async def _signed_in(request: Request, user: User, web: bool, device_id: str | None = None) -> HTTPResponse:
    opened = await sessions.open_session(user, "cookie" if web else "bearer", address(request), device_id)
    token, _ = sessions.sign_access(await request.app.ctx.authenticate.key(), opened.session, user.id)
    body = {"access_token": token, "token_type": "bearer", "expires_in": int(sessions.ACCESS_TTL.total_seconds()),
            "refresh_token": None if web else opened.refresh_token, "user": _me(user)}
    if web:
        body["csrf_token"] = opened.csrf
    response = json(body, ensure_ascii=False)
    if web:
        secure = request.app.ctx.settings.cookie_secure
        response.add_cookie(sessions.COOKIE, opened.refresh_token, httponly=True, samesite="Strict", secure=secure,
                            max_age=int(sessions.WEB_TTL.total_seconds()), path="/")
        # Readable by the page's script, which echoes it in X-CSRF-Token; a foreign site cannot read it.
        response.add_cookie(sessions.CSRF_COOKIE, opened.csrf, httponly=False, samesite="Strict", secure=secure,
                            max_age=int(sessions.WEB_TTL.total_seconds()), path="/")
    return response


def _me(user: User) -> dict:
    return {"id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role,
            "role_name": accounts.ROLE_NAMES.get(user.role, user.role), "scope": user.scope}


@bp.post("/refresh", ctx_permission="public")
async def refresh(request: Request) -> HTTPResponse:
    """Exchange `{"refresh_token"}` for a new access token; the refresh token is rotated."""
    body = params.json_object(request)
    session = await sessions.session_from_secret(_text(body, "refresh_token", 300))
    if session is None or session.kind != "bearer":
        await audit("", "auth.refresh_rejected", "session", {"address": address(request)})
        raise ApiError(401, "bad_token", "刷新令牌无效、已过期或已吊销")
    user = await User.get(id=session.user_id)
    if user.disabled:
        raise ApiError(401, "bad_token", "账号已停用")
    token, _ = sessions.sign_access(await request.app.ctx.authenticate.key(), session, user.id)
    return json({"access_token": token, "token_type": "bearer",
                 "expires_in": int(sessions.ACCESS_TTL.total_seconds()),
                 "refresh_token": await sessions.rotate(session)})


@bp.post("/logout", ctx_permission="account")
async def logout(request: Request) -> HTTPResponse:
    """End this session: its access and refresh tokens stop working."""
    caller = principal(request)
    if caller.session_id:
        await Session.filter(id=caller.session_id).update(revoked_at=now())
        request.app.ctx.authenticate.forget([caller.session_id])
    await audit(caller.name, "auth.logout", f"user:{caller.name}")
    response = json({"status": "signed_out"})
    response.delete_cookie(sessions.COOKIE, path="/")
    response.delete_cookie(sessions.CSRF_COOKIE, path="/")
    return response


@bp.get("/me", ctx_permission="account")
async def me(request: Request) -> HTTPResponse:
    """The signed-in user, their role, scope and registered devices."""
    user = await _current_user(request)
    devices = await Device.filter(user_id=user.id, revoked_at=None).values("id", "name", "created_at")
    return json({**_me(user), "devices": [{**d, "created_at": d["created_at"].isoformat()} for d in devices],
                 "has_contact": bool(user.contact)}, ensure_ascii=False)


async def _current_user(request: Request) -> User:
    caller = principal(request)
    if caller.user_id is None:
        raise ApiError(403, "forbidden", "此操作需要以用户身份登录")
    return await User.get(id=caller.user_id)


@bp.post("/password", ctx_permission="account")
async def change_password(request: Request) -> HTTPResponse:
    """Change one's own password with `{"old_password", "new_password"}`; every other session is revoked."""
    body = params.json_object(request)
    user = await _current_user(request)
    if not await accounts.verify_password(user.password_hash, _text(body, "old_password", 1024)):
        await audit(user.username, "auth.password_change_failed", f"user:{user.username}")
        raise ApiError(403, "bad_credentials", "原密码不正确")
    await set_password(user, _text(body, "new_password", 1024))
    keep = principal(request).session_id
    revoked = await revoke_sessions(request, user, keep=keep)
    await audit(user.username, "auth.password_changed", f"user:{user.username}", {"sessions_revoked": revoked})
    return json({"status": "changed", "sessions_revoked": revoked})


async def password_hash(username: str, password: str) -> str:
    """The hash of a password the policy accepts; a 400 with the policy's reason otherwise."""
    try:
        accounts.check_password_policy(password, username)
    except accounts.PolicyError as error:
        raise ApiError(400, "weak_password", str(error)) from None
    return await accounts.hash_password(password)


async def set_password(user: User, password: str) -> None:
    user.password_hash = await password_hash(user.username, password)
    user.password_changed_at = now()
    await user.save(update_fields=["password_hash", "password_changed_at"])


async def revoke_sessions(request: Request, user: User, keep: str | None = None) -> int:
    live = await Session.filter(user_id=user.id, revoked_at=None).exclude(id=keep or "").values_list("id", flat=True)
    await Session.filter(id__in=live).update(revoked_at=now())
    request.app.ctx.authenticate.forget(list(live))
    return len(live)


# ---------------------------------------------------------------------- password recovery


@bp.post("/recover", ctx_permission="public")
async def recover(request: Request) -> HTTPResponse:
    """Ask for a one-time code with `{"username"}`. It goes to the user's own channel (mail or chat). The answer
    is the same whether or not the account exists."""
    body = params.json_object(request)
    username = _text(body, "username", 64)
    keys = throttle.keys(username, address(request), purpose="recover")
    if await throttle.locked_for(keys) <= 0:
        await throttle.failed(keys)  # every request counts: codes cannot be requested in a flood
        user = await User.get_or_none(username=username, disabled=False)
        if user is not None and user.contact:
            # Sent after the answer: how long the answer takes must not tell whether the account exists.
            request.app.add_task(_send_code(user))
        await audit(username, "auth.recovery_requested", f"user:{username}",
                    {"address": address(request), "sent": bool(user and user.contact)})
    return json({"status": "accepted", "message": "如账号存在且已登记联系方式，验证码已发送，10分钟内有效"}, status=202,
                ensure_ascii=False)


async def _send_code(user: User) -> None:
    code = f"{secrets.randbelow(10**6):06d}"
    await RecoveryCode.filter(user_id=user.id, used_at=None).update(used_at=now())
    await RecoveryCode.create(user_id=user.id, code_hash=sessions.digest(f"{user.id}:{code}"),
                              expires_at=now() + RECOVERY_TTL)
    sender = apprise.Apprise()
    sender.add(crypto.decrypt(user.contact))
    await sender.async_notify(title="泰山经济运行监测：密码找回",
                              body=f"您的验证码是 {code}，10分钟内有效。如非本人操作，请忽略并联系管理员。")


@bp.post("/recover/confirm", ctx_permission="public")
async def recover_confirm(request: Request) -> HTTPResponse:
    """Set a new password with `{"username", "code", "new_password"}`. Every session of the account is revoked."""
    body = params.json_object(request)
    username, code = _text(body, "username", 64), _text(body, "code", 16)
    user = await User.get_or_none(username=username, disabled=False)
    pending = await RecoveryCode.filter(user_id=user.id if user else -1, used_at=None,
                                        expires_at__gt=now()).order_by("-id").first()
    if user is None or pending is None or pending.attempts >= RECOVERY_ATTEMPTS or not hmac.compare_digest(
            pending.code_hash, sessions.digest(f"{user.id}:{code}")):
        if pending is not None:
            pending.attempts += 1
            await pending.save(update_fields=["attempts"])
        await audit(username, "auth.recovery_failed", f"user:{username}", {"address": address(request)})
        raise ApiError(400, "bad_code", "验证码错误或已过期")
    await set_password(user, _text(body, "new_password", 1024))
    pending.used_at = now()
    await pending.save(update_fields=["used_at"])
    revoked = await revoke_sessions(request, user)
    await audit(username, "auth.password_recovered", f"user:{username}", {"sessions_revoked": revoked})
    return json({"status": "changed"})


# ---------------------------------------------------------------------- pattern unlock


def _pattern(body: dict) -> str:
    """A 3×3 pattern: at least four distinct dots 0–8, in drawing order."""
    dots = body.get("pattern")
    if not isinstance(dots, list) or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 8
                                             for d in dots):
        raise ApiError(400, "bad_pattern", "图形应为 0–8 的点序列")
    if len(dots) < 4 or len(set(dots)) != len(dots):
        raise ApiError(400, "bad_pattern", "图形至少连接四个不同的点，且每个点只用一次")
    return "-".join(map(str, dots))


@bp.post("/devices", ctx_permission="account")
async def register_device(request: Request) -> HTTPResponse:
    """Register this device for pattern unlock: `{"name", "pattern": [0, 1, 2, 5]}`. Only from a session opened
    with the password. Returns the device id and a device secret that the device keeps; the pattern unlocks
    a session on that device only."""
    body = params.json_object(request)
    caller = principal(request)
    session = await Session.get_or_none(id=caller.session_id or "")
    if session is None or session.device_id is not None:
        raise ApiError(403, "password_session_required", "请先用密码登录，再设置图形解锁")
    user = await _current_user(request)
    device_id, device_secret = secrets.token_hex(16), secrets.token_urlsafe(32)
    pattern = _pattern(body)
    name = body.get("name") or ""
    if not isinstance(name, str) or len(name) > 64:
        raise ApiError(400, "bad_parameter", "设备名称应为不超过 64 个字符的文字")
    await Device.create(id=device_id, user_id=user.id, name=name,
                        pattern_hash=await accounts.hash_password(f"{device_id}:{pattern}"),
                        secret_hash=sessions.digest(device_secret))
    await audit(user.username, "auth.device_registered", f"device:{device_id}")
    return json({"device_id": device_id, "device_secret": device_secret}, status=201)


@bp.delete("/devices/<device_id:str>", ctx_permission="account")
async def remove_device(request: Request, device_id: str) -> HTTPResponse:
    """Revoke one of one's own devices, with the sessions it opened."""
    user = await _current_user(request)
    device = await Device.get_or_none(id=device_id, user_id=user.id)
    if device is None:
        raise ApiError(404, "not_found", "没有这个设备")
    await _revoke_device(request, device)
    await audit(user.username, "auth.device_revoked", f"device:{device_id}")
    return json({"status": "revoked"})


async def _revoke_device(request: Request, device: Device) -> None:
    device.revoked_at = now()
    await device.save(update_fields=["revoked_at"])
    live = await Session.filter(device_id=device.id, revoked_at=None).values_list("id", flat=True)
    await Session.filter(id__in=live).update(revoked_at=now())
    request.app.ctx.authenticate.forget(list(live))


@bp.post("/unlock", ctx_permission="public")
async def unlock(request: Request) -> HTTPResponse:
    """Open a session on a registered device with `{"device_id", "device_secret", "pattern", "web"}`.
    Five wrong patterns revoke the device."""
    body = params.json_object(request)
    device = await Device.get_or_none(id=_text(body, "device_id", 64), revoked_at=None).prefetch_related("user")
    if device is None or not hmac.compare_digest(device.secret_hash,
                                                 sessions.digest(_text(body, "device_secret", 128))):
        await audit("", "auth.unlock_failed", "device", {"address": address(request), "reason": "unknown device"})
        raise ApiError(401, "bad_device", "设备未登记或已吊销，请用密码登录")
    pattern = _pattern(body)
    if not await accounts.verify_password(device.pattern_hash, f"{device.id}:{pattern}") or device.user.disabled:
        device.failures += 1
        await device.save(update_fields=["failures"])
        if device.failures >= PATTERN_FAILURES:
            await _revoke_device(request, device)
        await audit(device.user.username, "auth.unlock_failed", f"device:{device.id}",
                    {"failures": device.failures, "revoked": device.failures >= PATTERN_FAILURES})
        left = max(PATTERN_FAILURES - device.failures, 0)
        message = f"图形错误，还可尝试 {left} 次" if left else "图形错误次数过多，设备已吊销，请用密码登录"
        raise ApiError(401, "bad_pattern", message)
    device.failures = 0
    await device.save(update_fields=["failures"])
    await audit(device.user.username, "auth.unlock", f"device:{device.id}", {"address": address(request)})
    return await _signed_in(request, device.user, bool(body.get("web")), device.id)
