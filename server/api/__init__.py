"""The HTTP service: `create_app(settings)` builds the Sanic app with every blueprint, the one authorization
layer, JSON errors and request metrics. The store opens and the rules load before the first request."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from sanic import Request, Sanic
from sanic.response import HTTPResponse

from server.api import (
    account,
    alerts,
    auth,
    cache,
    catalog,
    dashboards,
    errors,
    events,
    health,
    notify,
    observations,
    openapi,
    pages,
    reports,
    rulesets,
    targets,
    templates,
    users,
)
from server.api.errors import ApiError
from server.api.sessions import Authenticator
from server.config import Settings
from server.notify import start_notifications, stop_notifications
from server.service import Service
from server.store import close_store, open_store

BLUEPRINTS = [health.bp, openapi.bp, account.bp, users.bp, observations.bp, alerts.bp, events.bp, rulesets.bp,
              catalog.bp, templates.bp, notify.bp, targets.bp, reports.bp, pages.bp,
              dashboards.bp]

_instances = 0


def create_app(settings: Settings | None = None, service: Service | None = None, manage_store: bool = True) -> Sanic:
    """`manage_store=False` leaves opening the store and starting the service to the caller (tests)."""
    global _instances
    settings = settings or Settings()
    _instances += 1
    app = Sanic(f"taishan{_instances}" if _instances > 1 else "taishan")
    app.config.REQUEST_MAX_SIZE = settings.max_body_bytes
    app.config.RESPONSE_TIMEOUT = 300  # a 10,000-row import with its evaluation must not be cut off
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.ctx.settings = settings
    app.ctx.service = service or Service(list(settings.rules), settings.horizon_months)
    app.ctx.authenticate = Authenticator(settings.secret_key)
    app.ctx.request_metrics = health.RequestMetrics()
    app.ctx.response_cache = cache.ResponseCache()
    app.ctx.extra_metrics: dict[str, tuple[str, Callable[[], Awaitable[float]]]] = {}
    app.ctx.started = time.monotonic()
    errors.install(app)
    for blueprint in BLUEPRINTS:
        app.blueprint(blueprint)
    app.register_middleware(_start_clock, "request")
    app.register_middleware(_limit_body, "request")
    app.register_middleware(auth.authorize, "request")
    app.register_middleware(cache.serve_cached, "request")
    app.register_middleware(_record, "response")
    app.register_middleware(cache.remember, "response")
    if manage_store:
        app.register_listener(_open, "before_server_start")
        app.register_listener(_close, "after_server_stop")
        app.register_listener(start_notifications, "after_server_start")
        app.register_listener(stop_notifications, "before_server_stop")
    return app


async def _open(app: Sanic) -> None:
    await open_store(app.ctx.settings.db)
    await app.ctx.service.start()


async def _close(app: Sanic) -> None:
    await close_store()


async def _start_clock(request: Request) -> None:
    request.ctx.started = time.perf_counter()


async def _limit_body(request: Request) -> None:
    """Sanic's own server enforces REQUEST_MAX_SIZE while reading; under an ASGI server only this check does."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > request.app.config.REQUEST_MAX_SIZE:
        raise ApiError(413, "http_413", "请求体过大")


async def _record(request: Request, response: HTTPResponse) -> None:
    started = getattr(request.ctx, "started", None)
    if started is None or response is None:
        return
    route = request.route.path if request.route else "unmatched"
    request.app.ctx.request_metrics.observe(request.method, "/" + route.lstrip("/"), response.status,
                                            time.perf_counter() - started)
