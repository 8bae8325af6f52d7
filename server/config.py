"""Service settings: command-line options over `TAISHAN_*` environment variables over defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_DB = "sqlite://var/taishan.sqlite3"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


@dataclass(frozen=True)
class Settings:
    db: str = field(default_factory=lambda: os.environ.get("TAISHAN_DB", DEFAULT_DB))
    host: str = field(default_factory=lambda: os.environ.get("TAISHAN_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: _env_int("TAISHAN_PORT", 8000))
    workers: int = field(default_factory=lambda: _env_int("TAISHAN_WORKERS", 1))
    rules: tuple[str, ...] = field(
        default_factory=lambda: tuple(os.environ.get("TAISHAN_RULES", "rules/taian").split(os.pathsep)))
    # How many months past the last complete period data may be reported for (0: only ended periods).
    horizon_months: int = field(default_factory=lambda: _env_int("TAISHAN_HORIZON_MONTHS", 0))
    max_body_bytes: int = field(default_factory=lambda: _env_int("TAISHAN_MAX_BODY", 32 * 1024 * 1024))
    # Signs access tokens; without it a key is made once and kept in the store (shared by every worker).
    secret_key: str = field(default_factory=lambda: os.environ.get("TAISHAN_SECRET_KEY", ""))
    # Behind HTTPS (production), session cookies must be Secure.
    cookie_secure: bool = field(default_factory=lambda: os.environ.get("TAISHAN_COOKIE_SECURE", "") == "1")
    access_log: bool = False

    def effective_workers(self) -> int:
        """SQLite allows one writer: more workers would only queue on its lock."""
        return 1 if self.db.startswith("sqlite") else max(1, self.workers)
