"""The dispatcher: notices in, rendered messages out, on an explicit clock.

    dispatcher = Dispatcher(model, receivers, link_base="https://taishan.example/dash")
    dispatcher.add(notices, silences, now)     # inhibit → silence → route → into aggregation groups
    messages = dispatcher.due(now)             # groups whose wait or interval has passed, quiet hours applied
    dispatcher.next_due()                      # when to call due() again (None: nothing pending)
    dispatcher.pending_since()                 # the oldest notice time still held in a group (for replay)

The server persists every returned Message in the outbox before sending it, so the dispatcher itself
keeps only what is waiting in a group; after a restart the server replays the transitions recorded since
`pending_since()` and the outbox's dedup keys drop what was already queued.
"""

from __future__ import annotations

import datetime

from dsl import Model
from notifiers.model import Message, Notice, ReceiverConfig, Silence


class Dispatcher:
    def __init__(self, model: Model, receivers: dict[str, ReceiverConfig], link_base: str = ""):
        raise NotImplementedError

    def add(self, notices: list[Notice], silences: list[Silence], now: datetime.datetime) -> list[Notice]:
        """Take notices in; returns the ones dropped by inhibition or a silence (for reporting)."""
        raise NotImplementedError

    def due(self, now: datetime.datetime) -> list[Message]:
        raise NotImplementedError

    def next_due(self) -> datetime.datetime | None:
        raise NotImplementedError

    def pending_since(self) -> datetime.datetime | None:
        raise NotImplementedError
