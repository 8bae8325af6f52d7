"""A real `taishan serve` process on a free port, for the tests that must go over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from playwright.sync_api import Browser

TAISHAN = str(Path(sys.executable).with_name("taishan"))
# Debian's Chromium, driven by Playwright (which cannot download browsers here); the flags keep it off the
# closed network.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(db: str, *args: str, env: dict[str, str] | None = None,
                   timeout: float = 60.0) -> Iterator[str]:
    """Start the server, wait for /healthz, yield its base URL, then stop it."""
    port = free_port()
    with serving([TAISHAN, "serve", "--db", db, "--port", str(port), *args], port, env, timeout):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def serving(command: list[str], port: int, env: dict[str, str] | None = None,
            timeout: float = 60.0) -> Iterator[subprocess.Popen]:
    """Run a server command in its own process group until its /healthz on `port` answers; stop the whole
    group afterwards (the API's workers and the dashboard process with it)."""
    process = subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, timeout)
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


ADMIN, ADMIN_PASSWORD = "admin", "Live-Test-Pass-1"


def add_admin(db: str) -> None:
    """An administrator in the store before the server starts, through the `taishan user` command."""
    subprocess.run([TAISHAN, "user", "add", ADMIN, "--role", "administrator", "--password-stdin", "--db", db],
                   input=f"{ADMIN_PASSWORD}\n", text=True, check=True, capture_output=True)


def login(base: str, username: str = ADMIN, password: str = ADMIN_PASSWORD) -> dict[str, str]:
    """Authorization headers for a signed-in user."""
    response = httpx.post(f"{base}/api/v1/auth/login", json={"username": username, "password": password})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def wait_healthy(base: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise RuntimeError(f"server exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"server at {base} did not become healthy in {timeout} s")


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium through Playwright, headless, with the flags every browser test uses."""
    from playwright.sync_api import sync_playwright  # only browser tests have Playwright and need it

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
