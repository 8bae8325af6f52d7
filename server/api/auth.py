"""The one authorization layer. Every route declares the permission it needs (`ctx_permission=`); a request
middleware authenticates the caller and checks it before any handler runs. A route without a declared
permission is refused, so a new route cannot be left open by accident.

Sign-in and users plug in by replacing `app.ctx.authenticate`; handlers never look at credentials.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from sanic import Request

from server.api.errors import ApiError

PUBLIC = "public"
PERMISSIONS = (PUBLIC, "data:read", "data:write", "alerts:read", "alerts:write", "rules:read", "rules:write",
               "rules:activate", "templates:write", "audit:read")


@dataclass(frozen=True)
class Principal:
    name: str
    permissions: frozenset[str]
    scope: frozenset[str] | None = None  # entity ids the caller may see; None: all

    def can(self, permission: str) -> bool:
        return permission == PUBLIC or permission in self.permissions

    def sees(self, entity: str) -> bool:
        return self.scope is None or entity in self.scope

    def visible(self, entities: Iterable[str]) -> list[str]:
        return [e for e in entities if self.sees(e)]


Authenticator = Callable[[Request], Awaitable[Principal | None]]
EVERYTHING = frozenset(PERMISSIONS)


def token_authenticator(token: str) -> Authenticator:
    """No token configured: a local service, every caller is trusted. Otherwise a bearer token is required."""

    async def authenticate(request: Request) -> Principal | None:
        if not token:
            return Principal("local", EVERYTHING)
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return Principal("api", EVERYTHING) if given and hmac.compare_digest(given, token) else None

    return authenticate


async def authorize(request: Request) -> None:
    route = request.route
    if route is None:  # no route matched: Sanic answers 404 or 405 itself
        return
    permission = getattr(route.ctx, "permission", None)
    if permission not in PERMISSIONS:
        raise ApiError(403, "forbidden", "该接口未配置访问权限，已拒绝")
    principal = await request.app.ctx.authenticate(request)
    request.ctx.principal = principal
    if permission == PUBLIC:
        return
    if principal is None:
        raise ApiError(401, "unauthenticated", "请先登录", headers={"WWW-Authenticate": "Bearer"})
    if not principal.can(permission):
        raise ApiError(403, "forbidden", "没有执行此操作的权限")


def principal(request: Request) -> Principal:
    return request.ctx.principal
