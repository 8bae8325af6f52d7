"""(being written) The monthly brief."""

from __future__ import annotations

from server.config import Settings


async def report_command(settings: Settings, entity: str, period: str, out: str | None, fmt: str) -> int:
    raise NotImplementedError
