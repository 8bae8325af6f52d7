"""A short-lived, per-worker cache of the dashboard queries (routes declared with `ctx_cache=True`).

Two thousand phones asking the same few queries every two seconds need one answer per second, not a
thousand. An answer is shared by callers who see the same things (the same permissions and region
scope), and it is dropped after `TTL_SECONDS`, or at once when this worker changes anything (a batch or a
rule set moves the service's versions; any request that is not a read counts too). Another worker's change
shows within `TTL_SECONDS`.
"""

from __future__ import annotations

import time

from sanic import Request
from sanic.response import HTTPResponse, raw

from server.api.auth import principal

TTL_SECONDS = 1.0
MAX_ENTRIES = 2048
READS = {"GET", "HEAD"}


class ResponseCache:
    def __init__(self) -> None:
        self.generation = 0
        self.entries: dict[tuple, tuple[float, int, bytes, str, dict[str, str]]] = {}

    def key(self, request: Request) -> tuple | None:
        route = request.route
        if request.method != "GET" or route is None or not getattr(route.ctx, "cache", False):
            return None
        caller = principal(request)
        if caller is None:
            return None
        service = request.app.ctx.service
        return (request.path, request.query_string, caller.permissions, caller.scope, self.generation,
                service.data_version, service.version)

    def get(self, key: tuple) -> HTTPResponse | None:
        found = self.entries.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        _, status, body, content_type, headers = found
        return raw(body, status=status, content_type=content_type, headers=headers)

    def put(self, key: tuple, response: HTTPResponse) -> None:
        if response.status != 200 or response.body is None:
            return
        if len(self.entries) >= MAX_ENTRIES:
            now = time.monotonic()
            self.entries = {k: v for k, v in self.entries.items() if v[0] >= now}
            if len(self.entries) >= MAX_ENTRIES:
                self.entries.clear()
        headers = {k: v for k, v in response.headers.items() if k.lower() == "content-disposition"}
        self.entries[key] = (time.monotonic() + TTL_SECONDS, response.status, bytes(response.body),
                             response.content_type or "application/json", headers)

    def changed(self) -> None:
        self.generation += 1
        self.entries.clear()


async def serve_cached(request: Request) -> HTTPResponse | None:
    cache: ResponseCache = request.app.ctx.response_cache
    if request.method not in READS:
        cache.changed()
        return None
    key = cache.key(request)
    request.ctx.cache_key = key
    return cache.get(key) if key is not None else None


async def remember(request: Request, response: HTTPResponse) -> None:
    key = getattr(request.ctx, "cache_key", None)
    if key is not None and response is not None:
        request.app.ctx.response_cache.put(key, response)
