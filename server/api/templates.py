"""(being written)"""

from __future__ import annotations

from sanic import Blueprint

bp = Blueprint("templates", url_prefix="/api/v1")
