"""The API's side of the dashboards: starting the Bokeh process next to the API, and the signed sessions that
embed one view in a page.

`start(settings)` is called by `taishan serve`: it picks the port, makes a secret for this run, tells the API's
workers where the dashboards are and how to sign for them (environment variables, which spawned workers
inherit), and starts `python -m dashboards.serve`, which opens the store read-only and serves every view with
signed session ids only. The session id and the token are signed with that secret; the token's payload names
the viewer (from the caller's own session, never from the URL) and the view's arguments, so that neither can
be changed without the secret.

Environment: TAISHAN_DASH_PORT (default: a free port), TAISHAN_DASH_PUBLIC_URL (the URL browsers use, behind a
proxy; default: the API's host name with the dashboard port), TAISHAN_DASH_ORIGINS (more allowed page origins,
comma-separated), TAISHAN_DASH_SECRET (set by `start`; set it yourself to run the process separately).
"""

from __future__ import annotations

import atexit
import html
import os
import secrets
import socket
import subprocess
import sys
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlparse

from bokeh.util.token import generate_jwt_token, generate_session_id

from server.access import Principal
from server.config import Settings

PREFIX = "/bokeh"
URL_ENV, SECRET_ENV, PUBLIC_ENV = "TAISHAN_DASH_URL", "TAISHAN_DASH_SECRET", "TAISHAN_DASH_PUBLIC_URL"
TOKEN_SECONDS = 300  # a page must open its session within this; the session then lives as long as its socket


@dataclass
class Dashboards:
    process: subprocess.Popen
    url: str  # the Bokeh server, as the API reaches it

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def origins(settings: Settings) -> list[str]:
    """The page origins (host:port) whose websockets the Bokeh server accepts: the API's own."""
    hosts = {settings.host, "127.0.0.1", "localhost"} if settings.host in ("127.0.0.1", "localhost", "0.0.0.0") \
        else {settings.host}
    extra = [o.strip() for o in os.environ.get("TAISHAN_DASH_ORIGINS", "").split(",") if o.strip()]
    return sorted(f"{h}:{settings.port}" for h in hosts if h != "0.0.0.0") + extra


def start(settings: Settings) -> Dashboards:
    """Start the dashboard process for this API; it stops with the API (or when its parent goes away)."""
    port = int(os.environ.get("TAISHAN_DASH_PORT") or free_port())
    host = "127.0.0.1" if settings.host == "0.0.0.0" else settings.host
    url = f"http://{host}:{port}{PREFIX}"
    os.environ[URL_ENV] = url
    os.environ.setdefault(SECRET_ENV, secrets.token_urlsafe(48))
    command = [sys.executable, "-m", "dashboards.serve", "--db", settings.db, "--host", settings.host,
               "--port", str(port), "--origins", ",".join(origins(settings))]
    dashboards = Dashboards(subprocess.Popen(command, env=dict(os.environ)), url)
    atexit.register(dashboards.stop)
    return dashboards


ELEMENT = "dashboard"
TITLES = {"overview": "总览", "drill": "下钻", "compare": "对比", "consistency": "核算平衡", "alerts": "预警",
          "board": "专题看板", "enterprises": "企业监测", "targets": "目标进度"}
# The arguments a view reads; the page passes only these, inside the signed token.
ARGUMENTS = ("entity", "indicator", "period", "alert", "entities", "id", "state", "severity", "workflow", "category",
             "year")


def configured() -> tuple[str, str] | None:
    """(Bokeh server URL, secret) when a dashboard process was started for this API."""
    url, secret = os.environ.get(URL_ENV, ""), os.environ.get(SECRET_ENV, "")
    return (url, secret) if url and secret else None


def reachable(url: str, timeout: float = 0.5) -> bool:
    """Whether the dashboard process listens yet (it waits for the API's first rule set before it does)."""
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 80), timeout=timeout):
            return True
    except OSError:
        return False


def viewer_payload(caller: Principal) -> dict:
    return {"name": caller.name, "role": caller.role,
            "visible": None if caller.scope is None else sorted(caller.scope),
            "can_act": caller.can("alerts:write")}


def mint(secret: str, caller: Principal, arguments: dict[str, str]) -> str:
    session_id = generate_session_id(secret_key=secret.encode(), signed=True)
    payload = {"viewer": viewer_payload(caller), "arguments": {k: [v] for k, v in arguments.items()}}
    return generate_jwt_token(session_id, secret_key=secret.encode(), signed=True, extra_payload=payload,
                              expiration=TOKEN_SECONDS)


def public_url(internal: str, request_host: str) -> str:
    """The Bokeh server as the browser reaches it: configured, or the page's host name on Bokeh's port."""
    configured_url = os.environ.get(PUBLIC_ENV, "")
    if configured_url:
        return configured_url.rstrip("/")
    scheme, _, rest = internal.partition("://")
    port_and_path = rest.split(":", 1)[1] if ":" in rest else rest
    host = request_host.rsplit(":", 1)[0] if request_host.count(":") == 1 else request_host
    return f"{scheme}://{host}:{port_and_path}"


def script(url: str, view: str, token: str) -> str:
    """The tag that loads one view into the page (the page's script runs no inline code)."""
    app_url = f"{url}/{quote(view)}"
    query = urlencode({"bokeh-autoload-element": ELEMENT, "bokeh-app-path": urlparse(app_url).path,
                       "bokeh-absolute-url": app_url, "bokeh-token": token})
    return f'<script src="{html.escape(app_url)}/autoload.js?{html.escape(query)}" id="{ELEMENT}"></script>'
