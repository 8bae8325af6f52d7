"""(being written) `taishan db copy --from URL --to URL`."""

from __future__ import annotations


async def copy_database(source: str, target: str) -> int:
    raise NotImplementedError
