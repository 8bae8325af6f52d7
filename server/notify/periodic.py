"""A background loop that runs `step()` until stopped, logging a failed step and carrying on."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger("taishan")


class Periodic:
    task_name = "periodic"

    def __init__(self, tick: float) -> None:
        self.tick = tick
        self._stopping = False
        self._task: asyncio.Task | None = None

    async def step(self) -> object:
        raise NotImplementedError

    def pause(self) -> float:
        """Seconds until the next step."""
        return self.tick

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=self.task_name)

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run(self) -> None:
        while not self._stopping:
            try:
                await self.step()
            except Exception:
                log.exception("%s failed; trying again", self.task_name)
            await asyncio.sleep(self.pause())
