"""(being written) `taishan import FILE --template NAME`."""

from __future__ import annotations

from server.config import Settings


async def import_file(settings: Settings, path: str, template: str, user: str) -> int:
    raise NotImplementedError
