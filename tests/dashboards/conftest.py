"""One real API with its dashboard process over the demo data, shared by the dashboard tests."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.dashboards.live import running_dashboards
from tests.server.live import TAISHAN

ADMIN = ("admin", "Taian-Demo-2026!")
STATISTICIAN = ("tongji", "Stats-Demo-2026!")
LEADER = ("xintai_leader", "Xintai-Demo-2026!")


@dataclass(frozen=True)
class Demo:
    base: str  # the API
    dashboards: str  # the Bokeh server, e.g. http://127.0.0.1:5006/bokeh
    secret: str
    artifacts: Path


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("dashboards")
    db = f"sqlite://{folder}/demo.sqlite3"
    subprocess.run([TAISHAN, "demo", "--db", db, "--out", str(folder / "demo.csv")], check=True,
                   capture_output=True)
    secret = secrets.token_urlsafe(48)
    previous = os.environ.get("TAISHAN_DASH_SECRET")
    os.environ["TAISHAN_DASH_SECRET"] = secret  # the launcher keeps a secret it is given
    try:
        with running_dashboards(db) as (base, dashboards):
            artifacts = folder / "screenshots"
            artifacts.mkdir()
            yield Demo(base, dashboards, secret, artifacts)
    finally:
        if previous is None:
            os.environ.pop("TAISHAN_DASH_SECRET", None)
        else:
            os.environ["TAISHAN_DASH_SECRET"] = previous
