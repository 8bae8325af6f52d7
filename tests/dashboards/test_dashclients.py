"""bench/dashclients.py, the raw-protocol client the dashboard benchmark opens simultaneous sessions with, against
the running dashboard server: every session gets its whole document, and a forged token gets none."""

from __future__ import annotations

import json
import subprocess
import sys

from bokeh.util.token import generate_jwt_token, generate_session_id

from server import dashlink as embed
from server.access import EVERYTHING, Principal
from tests.dashboards.conftest import Demo

ADMIN = Principal("bench", EVERYTHING, None, "administrator")


def run_clients(demo: Demo, sessions: list[dict[str, str]]) -> subprocess.CompletedProcess[str]:
    url = demo.dashboards.replace("http", "ws", 1)
    return subprocess.run([sys.executable, "-m", "bench.dashclients", "--url", url], input=json.dumps(sessions),
                          capture_output=True, text=True, timeout=60)


def test_simultaneous_sessions_each_receive_their_document(demo: Demo) -> None:
    views = [("overview", {}), ("drill", {"entity": "dongping"})] * 2
    sessions = [{"view": view, "token": embed.mint(demo.secret, ADMIN, arguments)} for view, arguments in views]
    done = run_clients(demo, sessions)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)["sessions"]
    assert [s["view"] for s in found] == [view for view, _ in views]
    assert all(s["ack"] == "ACK" and s["reply"] == "PULL-DOC-REPLY" for s in found)
    drill = [s for s in found if s["view"] == "drill"]
    overview = [s for s in found if s["view"] == "overview"]
    # The drill-down carries a chart and two tables: its document is far larger than the overview's HTML cards.
    assert min(s["bytes"] for s in drill) > max(s["bytes"] for s in overview) > 1000
    assert all(0 < s["connect_s"] <= s["seconds"] for s in found)


def test_a_token_signed_with_another_secret_gets_no_document(demo: Demo) -> None:
    forged = generate_jwt_token(generate_session_id(secret_key="x" * 48, signed=True), secret_key="x" * 48,
                                signed=True, extra_payload={"viewer": {"visible": None}})
    done = run_clients(demo, [{"view": "overview", "token": forged}])
    assert done.returncode != 0
    assert "PULL-DOC-REPLY" not in done.stdout
