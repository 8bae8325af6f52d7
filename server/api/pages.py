"""(being written) The web pages: sign-in and my account."""

from __future__ import annotations

from sanic import Blueprint

bp = Blueprint("pages")
