"""A real API with its dashboards on free ports, over a store the caller prepared."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.server.live import free_port, serving

DASH_TIMEOUT = 90.0


@contextmanager
def running_dashboards(db: str, timeout: float = 90.0) -> Iterator[tuple[str, str]]:
    """Start the API and the dashboard process; yield the API's base URL and the Bokeh server's once both
    answer."""
    port, dash_port = free_port(), free_port()
    command = [sys.executable, "-m", "tests.dashboards.launcher", "--db", db, "--port", str(port)]
    with serving(command, port, {"TAISHAN_DASH_PORT": str(dash_port)}, timeout):
        wait_dashboards(str(dash_port))
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{dash_port}/bokeh"


def wait_dashboards(port: str) -> None:
    deadline = time.monotonic() + DASH_TIMEOUT
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/bokeh/static/js/bokeh.min.js", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.3)
    raise TimeoutError("the dashboard process did not start listening")
