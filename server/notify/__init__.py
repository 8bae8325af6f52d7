"""Notifications, the durable side: receivers, silences and the outbox in the store, the dispatch loop that
turns transition events into queued messages, the daily and monthly digests, and the workers that send them
with Apprise.

Wire into the app with two listeners (after the store is open, before it closes):

    app.register_listener(start_notifications, "after_server_start")
    app.register_listener(stop_notifications, "before_server_stop")
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass

from sanic import Sanic

from server.notify import outbox
from server.notify.digests import DigestScheduler
from server.notify.dispatch import DispatchLoop
from server.notify.outbox import OutboxSettings, OutboxWorker

__all__ = ["Notifications", "start_notifications", "stop_notifications"]
log = logging.getLogger("taishan")
BRIEF_CHECK_SECONDS = 60


@dataclass
class Notifications:
    worker: OutboxWorker
    loop: DispatchLoop
    digests: DigestScheduler
    briefs: asyncio.Task | None = None


async def start_notifications(app: Sanic) -> None:
    """Start the dispatch loop, the digest schedule and an outbox worker in this server worker, and publish the
    outbox metrics. `TAISHAN_NOTIFY=0` leaves sending to stand-alone workers (`python -m server.notify.outbox`)."""
    app.ctx.extra_metrics["taishan_outbox_depth"] = ("Messages waiting in the outbox.", outbox.depth)
    app.ctx.extra_metrics["taishan_outbox_dead"] = ("Messages that used up their attempts (dead letters).",
                                                    outbox.dead)
    if os.environ.get("TAISHAN_NOTIFY", "1") == "0":
        return
    worker = OutboxWorker(app.ctx.settings.db, OutboxSettings())
    link_base = os.environ.get("TAISHAN_PUBLIC_URL", "")
    loop = DispatchLoop(app.ctx.service, worker.wake, link_base=link_base)
    digests = DigestScheduler(app.ctx.service, worker.wake, link_base=link_base)
    app.ctx.notifications = Notifications(worker, loop, digests)
    worker.start()
    loop.start()
    digests.start()
    app.ctx.notifications.briefs = asyncio.create_task(_monthly_briefs(app, worker, link_base))


async def _monthly_briefs(app: Sanic, worker: OutboxWorker, link_base: str) -> None:
    """Each region's brief for last month, from the 3rd at 09:00; the outbox's dedup key sends each once."""
    from server.reports import monthly_briefs

    while True:
        try:
            if await monthly_briefs(app.ctx.service, outbox.utcnow(), link_base):
                worker.wake()
        except Exception:
            log.exception("monthly briefs failed; retrying in a minute")
        await asyncio.sleep(BRIEF_CHECK_SECONDS)


async def stop_notifications(app: Sanic) -> None:
    notifications: Notifications | None = getattr(app.ctx, "notifications", None)
    if notifications is not None:
        if notifications.briefs is not None:
            notifications.briefs.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await notifications.briefs
        await notifications.digests.stop()
        await notifications.loop.stop()
        await notifications.worker.stop()
