"""Notifications, the durable side: receivers, silences and the outbox in the store, the dispatch loop that
turns transition events into queued messages, the daily and monthly digests, and the workers that send them
with Apprise.

Wire into the app with two listeners (after the store is open, before it closes):

    app.register_listener(start_notifications, "after_server_start")
    app.register_listener(stop_notifications, "before_server_stop")
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sanic import Sanic

from server.notify import outbox
from server.notify.digests import DigestScheduler
from server.notify.dispatch import DispatchLoop
from server.notify.outbox import OutboxSettings, OutboxWorker
from server.notify.periodic import Periodic
from server.service import Service

__all__ = ["Notifications", "start_notifications", "stop_notifications"]
BRIEF_CHECK_SECONDS = 60


@dataclass
class Notifications:
    worker: OutboxWorker
    loop: DispatchLoop
    digests: DigestScheduler
    briefs: BriefScheduler


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
    briefs = BriefScheduler(app.ctx.service, worker, link_base)
    app.ctx.notifications = Notifications(worker, loop, digests, briefs)
    worker.start()
    loop.start()
    digests.start()
    briefs.start()


class BriefScheduler(Periodic):
    """Each region's brief for last month, from the 3rd at 09:00; the outbox's dedup key sends each once."""

    task_name = "notify-briefs"

    def __init__(self, service: Service, worker: OutboxWorker, link_base: str) -> None:
        super().__init__(BRIEF_CHECK_SECONDS)
        self.service, self.worker, self.link_base = service, worker, link_base

    async def step(self) -> None:
        from server.reports import monthly_briefs  # the reports import the notifiers: not at module load

        if await monthly_briefs(self.service, outbox.utcnow(), self.link_base):
            self.worker.wake()


async def stop_notifications(app: Sanic) -> None:
    notifications: Notifications | None = getattr(app.ctx, "notifications", None)
    if notifications is not None:
        await notifications.briefs.stop()
        await notifications.digests.stop()
        await notifications.loop.stop()
        await notifications.worker.stop()
