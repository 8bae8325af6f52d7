"""(being written) Receivers, silences and the outbox."""

from __future__ import annotations

from sanic import Blueprint

bp = Blueprint("notify", url_prefix="/api/v1")
