"""(being written)"""

from __future__ import annotations

from sanic import Blueprint

bp = Blueprint("reports", url_prefix="/api/v1")
