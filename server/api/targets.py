"""(being written)"""

from __future__ import annotations

from sanic import Blueprint

bp = Blueprint("targets", url_prefix="/api/v1")
