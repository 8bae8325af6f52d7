"""The one authorization layer. Every route declares the permission it needs (`ctx_permission=`); a request
middleware authenticates the caller and checks it before any handler runs. A route without a declared
permission is refused, so a new route cannot be left open by accident.

`app.ctx.authenticate` finds the caller (server/sessions.py: access tokens, API tokens, web sessions);
handlers never look at credentials.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sanic import Request

from server.access import EVERYTHING, PERMISSIONS, PUBLIC, Principal
from server.api.errors import ApiError
from server.service import audit

Authenticator = Callable[[Request], Awaitable[Principal | None]]
__all__ = ["EVERYTHING", "PERMISSIONS", "PUBLIC", "Authenticator", "Principal", "authorize", "principal"]


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
        failure = getattr(request.ctx, "auth_failure", None)
        if failure:
            await audit("", "auth.rejected", request.path, {"reason": failure, "address": request.remote_addr})
        raise ApiError(401, "unauthenticated", failure or "请先登录", headers={"WWW-Authenticate": "Bearer"})
    if not principal.can(permission):
        await audit(principal.name, "auth.forbidden", request.path, {"method": request.method,
                                                                     "permission": permission})
        raise ApiError(403, "forbidden", "没有执行此操作的权限")


def principal(request: Request) -> Principal:
    return request.ctx.principal
