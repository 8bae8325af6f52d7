"""`GET /api/v1/events`: a server-sent event stream of alert transitions, data arrivals and rule-set changes.

Events are rows in the store, so any worker serves every event, and a client that reconnects with
`Last-Event-ID` (browsers do this by themselves) gets what it missed. A worker wakes at once for its own
batches and looks for other workers' every `POLL_SECONDS`.
"""

from __future__ import annotations

import asyncio
import json

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from server.api import params
from server.api.auth import Principal, principal
from server.store.models import Event

bp = Blueprint("events", url_prefix="/api/v1")

POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
BATCH = 500


@bp.get("/events", ctx_permission="alerts:read")
async def events(request: Request) -> HTTPResponse:
    """Server-sent events. `?after=ID` or the `Last-Event-ID` header resumes after an event; otherwise the
    stream starts with what happens next. `?kind=transition,data` filters."""
    service = request.app.ctx.service
    caller = principal(request)
    kinds = set(params.many(request, "kind"))
    after = params.integer(request, "after") if request.args.get("after") else _last_event_id(request)
    if after is None:
        newest = await Event.all().order_by("-id").limit(1).values_list("id", flat=True)
        after = int(newest[0]) if newest else 0
    response = await request.respond(content_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    wake = asyncio.Event()
    service.listeners.append(wake)
    try:
        await response.send(f"retry: 2000\n: 从事件 {after} 之后开始\n\n")
        idle = 0.0
        while True:
            found = await Event.filter(id__gt=after).order_by("id").limit(BATCH)
            for event in found:
                after = event.id
                if _wanted(event, kinds, caller):
                    await response.send(_frame(event, caller))
            if found:
                idle = 0.0
                continue
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), POLL_SECONDS)
            except TimeoutError:
                idle += POLL_SECONDS
            if idle >= KEEPALIVE_SECONDS:
                await response.send(": keep-alive\n\n")
                idle = 0.0
    finally:
        service.listeners.remove(wake)
    return response


def _last_event_id(request: Request) -> int | None:
    value = request.headers.get("last-event-id", "")
    return int(value) if value.isdigit() else None


def _wanted(event: Event, kinds: set[str], caller: Principal) -> bool:
    if kinds and event.kind not in kinds:
        return False
    entities = event.payload.get("entities") or ([event.payload["entity"]] if "entity" in event.payload else [])
    return not entities or any(caller.sees(e) for e in entities)


def _frame(event: Event, caller: Principal) -> str:
    # `event` names the stream's kind; a transition's own `kind` (rule or check) stays as it is.
    payload = dict(event.payload)
    if isinstance(payload.get("entities"), list):  # a batch across regions names only the caller's
        payload["entities"] = caller.visible(payload["entities"])
    data = json.dumps({**payload, "id": event.id, "event": event.kind, "at": event.created_at.isoformat()},
                      ensure_ascii=False)
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n"
