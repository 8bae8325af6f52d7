"""Sessions and tokens, and the authenticator the authorization layer calls on every request.

- Access tokens are short-lived (15 minutes), signed with HMAC-SHA256 by a key every worker shares, and name
  their session; a revoked session's tokens stop working at once on the worker that revoked it and within
  `CACHE_SECONDS` on the others.
- Refresh tokens and web cookies carry a random secret stored only as a SHA-256 hash. Refreshing rotates it.
- A cookie session needs its CSRF token in `X-CSRF-Token` for every request that changes something.
- API tokens (`tk1_…`) are for machines: scoped, revocable, stored hashed.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from sanic import Request
from tortoise.timezone import now

from server.access import Principal
from server.accounts import Account, principal_for
from server.api.errors import ApiError
from server.service import audit
from server.store.models import ApiToken, ServiceKey, Session, User

ACCESS_TTL = datetime.timedelta(minutes=15)
REFRESH_TTL = datetime.timedelta(days=30)
WEB_TTL = datetime.timedelta(hours=12)
CACHE_SECONDS = 10.0  # dashboards ask every 2 s; a revocation is immediate on its own worker
COOKIE = "taishan_session"
CSRF_COOKIE = "taishan_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def signing_key(configured: str = "") -> bytes:
    """The configured key, or one made on first start and kept in the store, so every worker signs alike."""
    if configured:
        return configured.encode()
    key, _ = await ServiceKey.get_or_create(name="token_signing", defaults={"value": secrets.token_hex(32)})
    return key.value.encode()


def sign_access(key: bytes, session: Session, user_id: int) -> tuple[str, int]:
    expires = int(time.time() + ACCESS_TTL.total_seconds())
    body = _b64(json.dumps({"s": session.id, "u": user_id, "e": expires}, separators=(",", ":")).encode())
    signature = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return f"ta1.{body}.{signature}", expires


def read_access(key: bytes, token: str) -> dict | None:
    """The token's claims if its signature holds and it has not expired; None otherwise."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != "ta1":
        return None
    expected = _b64(hmac.new(key, parts[1].encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, parts[2]):
        return None
    try:
        claims = json.loads(_unb64(parts[1]))
    except ValueError:
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("e"), int) or claims["e"] < time.time():
        return None
    return claims


@dataclass
class Opened:
    session: Session
    refresh_token: str
    csrf: str


async def open_session(user: User, kind: str, address: str, device_id: str | None = None) -> Opened:
    secret = secrets.token_urlsafe(32)
    ttl = WEB_TTL if kind == "cookie" else REFRESH_TTL
    session = await Session.create(id=secrets.token_hex(16), user_id=user.id, kind=kind, refresh_hash=digest(secret),
                                   csrf=secrets.token_urlsafe(24) if kind == "cookie" else "", address=address,
                                   device_id=device_id, expires_at=now() + ttl)
    return Opened(session, f"{session.id}.{secret}", session.csrf)


async def session_from_secret(token: str) -> Session | None:
    """The live session a refresh token or cookie value names, if its secret matches."""
    session_id, _, secret = token.partition(".")
    if not session_id or not secret or len(token) > 200:
        return None
    session = await Session.get_or_none(id=session_id)
    if session is None or session.revoked_at is not None or session.expires_at < now():
        return None
    return session if hmac.compare_digest(session.refresh_hash, digest(secret)) else None


async def rotate(session: Session) -> str:
    secret = secrets.token_urlsafe(32)
    session.refresh_hash = digest(secret)
    await session.save(update_fields=["refresh_hash"])
    return f"{session.id}.{secret}"


class Authenticator:
    """Finds who is calling: a bearer access token, an API token, or a web session cookie (with CSRF)."""

    def __init__(self, configured_key: str = ""):
        self._configured = configured_key
        self._key: bytes | None = None
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def key(self) -> bytes:
        if self._key is None:
            self._key = await signing_key(self._configured)
        return self._key

    def forget(self, session_ids: list[str] | None = None) -> None:
        """Drop cached sessions now (all, or the ones named) after a revocation."""
        if session_ids is None:
            self._cache.clear()
        for session_id in session_ids or ():
            self._cache.pop(f"s:{session_id}", None)

    async def __call__(self, request: Request) -> Principal | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            token = header[7:].strip()
            if token.startswith("tk1_"):
                return await self._api_token(request, token)
            return await self._bearer(request, token)
        cookie = request.cookies.get(COOKIE)
        if cookie:
            return await self._cookie(request, cookie)
        return None

    async def _bearer(self, request: Request, token: str) -> Principal | None:
        claims = read_access(await self.key(), token)
        if claims is None:
            request.ctx.auth_failure = "令牌无效或已过期"
            return None
        return await self._session_principal(request, str(claims["s"]))

    async def _cookie(self, request: Request, cookie: str) -> Principal | None:
        session = await session_from_secret(cookie)
        if session is None or session.kind != "cookie":
            request.ctx.auth_failure = "登录已失效"
            return None
        if request.method not in SAFE_METHODS and not hmac.compare_digest(
                request.headers.get(CSRF_HEADER, ""), session.csrf):
            await audit("", "auth.csrf_rejected", request.path, {"method": request.method,
                                                                 "user_id": session.user_id,
                                                                 "address": request.remote_addr or request.ip})
            raise ApiError(403, "csrf", "缺少或错误的 CSRF 令牌，请刷新页面后重试")
        return await self._session_principal(request, session.id)

    async def _session_principal(self, request: Request, session_id: str) -> Principal | None:
        cached = self._cache.get(f"s:{session_id}")
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        session = await Session.get_or_none(id=session_id).prefetch_related("user")
        found = None
        if session is not None and session.revoked_at is None and session.expires_at >= now() \
                and not session.user.disabled:
            found = _principal(request, session.user, session_id=session.id)
        if found is None:
            request.ctx.auth_failure = "会话已注销或过期"
        self._cache[f"s:{session_id}"] = (time.monotonic() + CACHE_SECONDS, found)
        return found

    async def _api_token(self, request: Request, token: str) -> Principal | None:
        key = f"t:{digest(token)}"
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        row = await ApiToken.get_or_none(token_hash=digest(token)).prefetch_related("owner")
        found = None
        if row is not None and row.revoked_at is None and (row.expires_at is None or row.expires_at >= now()) \
                and not row.owner.disabled:
            found = _principal(request, row.owner, row.permissions, row.scope)
        if found is None:
            request.ctx.auth_failure = "API 令牌无效、已过期或已吊销"
        self._cache[key] = (time.monotonic() + CACHE_SECONDS, found)
        return found


def _principal(request: Request, user: User, permissions: list[str] | None = None,
               scope: list[str] | None = None, session_id: str | None = None) -> Principal:
    account = Account(user.id, user.username, user.role, tuple(user.scope))
    return principal_for(request.app.ctx.service.model, account, permissions, scope, session_id)
