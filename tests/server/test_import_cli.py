"""`taishan import` against a SQLite store, and one upload to a real `taishan serve` over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from openpyxl import Workbook

from server import importer
from server.cli import main
from server.store import close_store, open_store
from server.store.models import DataTemplate, ImportBatch, Observation

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
INDUSTRY = {"name": "industry", "title": "工业月度数据", "layout": "long", "indicators": ["ind_va", "retail"],
            "entities": ["xintai", "feicheng"]}
PASSWORD = "Taishan-test-2026!x"
GOOD = "指标,单位,期别,数值\n规模以上工业增加值,新泰市,2026-10,6.4\nretail,feicheng,2026-10,210.5\n"


def in_store(url: str, work: Callable[[], Awaitable[T]]) -> T:
    async def run() -> T:
        await open_store(url)
        try:
            return await work()
        finally:
            await close_store()

    return asyncio.run(run())


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store holding the `industry` template; the working directory is the repository (for its rules)."""
    monkeypatch.chdir(ROOT)
    for name in [n for n in os.environ if n.startswith("TAISHAN_")]:
        monkeypatch.delenv(name)
    url = f"sqlite://{tmp_path}/cli.sqlite3"
    in_store(url, lambda: DataTemplate.create(**INDUSTRY))
    return url


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def observations(url: str) -> list[tuple[str, str, str, float, int]]:
    return in_store(url, lambda: Observation.all().order_by("indicator").values_list(
        "indicator", "entity", "period", "value", "vintage"))


def test_import_stores_the_file_and_prints_a_chinese_summary(db: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "十月.csv", GOOD)
    assert main(["import", path, "--template", "industry", "--db", db, "--user", "张三"]) == 0
    assert "导入完成" in capsys.readouterr().out
    assert observations(db) == [("ind_va", "xintai", "2026-10", 6.4, 1), ("retail", "feicheng", "2026-10", 210.5, 1)]
    batch = in_store(db, lambda: ImportBatch.first().values("source", "template", "filename", "user"))
    assert batch == {"source": "import", "template": "industry", "filename": "十月.csv", "user": "张三"}
    # The same file again changes nothing.
    assert main(["import", path, "--template", "industry", "--db", db]) == 0
    assert "新增 0 条，未变 2 条" in capsys.readouterr().out


def test_a_wide_workbook_takes_its_period_from_the_template(db: str, tmp_path: Path) -> None:
    in_store(db, lambda: DataTemplate.create(name="monthly", layout="wide", indicators=["ind_va"],
                                             entities=["xintai"], options={"period": "2026-09"}))
    book = Workbook()
    for row in (["单位", "新泰市"], ["指标", "本月", "同比%", "1-本月", "同比%"],
                ["规模以上工业增加值", None, 7.0, None, 6.9]):
        book.active.append(row)
    path = tmp_path / "九月.xlsx"
    book.save(path)
    assert main(["import", str(path), "--template", "monthly", "--db", db]) == 0
    assert observations(db) == [("ind_va", "xintai", "2026-09", 6.9, 1)]


def test_bad_input_is_reported_in_chinese_without_a_stack_trace(db: str, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["import", str(tmp_path / "none.csv"), "--template", "industry"], "找不到文件"),
        (["import", write(tmp_path, "data.txt", GOOD), "--template", "industry"], "不支持的文件类型"),
        (["import", write(tmp_path, "data.csv", GOOD), "--template", "nothing"], "现有模板：industry"),
        (["import", write(tmp_path, "bad.csv", GOOD + "ind_va,xintai,2026-09,六点一\n"), "--template", "industry"],
         "第4行 D列（数值）：「六点一」不是数字"),
        (["import", write(tmp_path, "early.csv", "指标,单位,期别,数值\nind_va,xintai,2026-11,6.0\n"), "--template",
          "industry"], "第2行 C列（期别）：期别 2026-11 尚未结束"),
    ]
    for argv, expected in cases:
        assert main([*argv, "--db", db]) == 1, argv
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err, err
    assert observations(db) == []


def test_a_large_file_shows_a_progress_bar(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(importer, "PROGRESS_ROWS", 2)
    assert main(["import", write(tmp_path, "data.csv", GOOD), "--template", "industry", "--db", db]) == 0
    assert "解析" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- a real server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(client: httpx.Client, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text(encoding="utf-8", errors="replace")
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError("server did not answer /healthz:\n" + log.read_text(encoding="utf-8", errors="replace"))


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)  # the server's own process group: it and its workers
        server.wait()


def test_a_real_server_takes_a_template_upload_over_http(tmp_path: Path) -> None:
    taishan, db, port = str(ROOT / ".venv/bin/taishan"), f"sqlite://{tmp_path}/x.sqlite3", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAISHAN_")}
    subprocess.run([taishan, "user", "add", "admin", "--role", "administrator", "--password-stdin", "--db", db],
                   input=PASSWORD, text=True, cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    log = tmp_path / "server.log"
    with log.open("w") as output:
        server = subprocess.Popen([taishan, "serve", "--db", db, "--port", str(port)], cwd=ROOT, env=env,
                                  stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            wait_until_healthy(client, server, log)
            signed_in = client.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
            assert signed_in.status_code == 200, signed_in.text
            client.headers["Authorization"] = f"Bearer {signed_in.json()['access_token']}"
            created = client.post("/api/v1/templates", json=INDUSTRY)
            assert created.status_code == 201, created.text
            uploaded = client.post("/api/v1/templates/industry/upload", files={"file": ("十月.csv", GOOD.encode())})
            assert uploaded.status_code == 201, uploaded.text
            assert uploaded.json()["accepted"] == 2
            series = client.get("/api/v1/series", params={"indicator": "ind_va", "entity": "xintai"})
            assert [(i["period"], i["value"], i["vintage"]) for i in series.json()["items"]] == [("2026-10", 6.4, 1)]
    finally:
        stop(server)
