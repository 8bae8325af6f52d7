"""`taishan user add | list | disable | reset` against a SQLite file: what they print, what they store, and that a
refused password or scope ends with exit 1 and a Chinese message instead of a traceback."""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from server import accounts, crypto
from server.api import sessions
from server.cli import main
from server.store import close_store, open_store
from server.store.models import AuditEntry, Session, User
from tests.server.conftest import started_service

T = TypeVar("T")
PASSWORD = "Cli-Password-2026!"
_names = itertools.count(1)


def in_store(db: str, work: Callable[[], Awaitable[T]]) -> T:
    async def run() -> T:
        await open_store(db)
        try:
            return await work()
        finally:
            await close_store()

    return asyncio.run(run())


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store with the shipped rules active, as after `taishan serve` or `taishan demo` (scopes are checked
    against them)."""
    url = f"sqlite://{tmp_path_factory.mktemp('usercli')}/users.sqlite3"
    in_store(url, started_service)
    return url


@pytest.fixture
def name() -> str:
    return f"clerk{next(_names)}"


def taishan(monkeypatch: pytest.MonkeyPatch, stdin: str, *argv: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(list(argv))


def add(monkeypatch: pytest.MonkeyPatch, db: str, name: str, *options: str, password: str = PASSWORD) -> int:
    return taishan(monkeypatch, f"{password}\n", "user", "add", name, "--role", "statistician", "--password-stdin",
                   "--db", db, *options)


def stored(db: str, name: str) -> User | None:
    return in_store(db, lambda: User.get_or_none(username=name))


def verifies(db: str, name: str, password: str) -> bool:
    user = stored(db, name)
    return asyncio.run(accounts.verify_password(user.password_hash if user else None, password))


def open_session(db: str, name: str) -> str:
    async def work() -> str:
        opened = await sessions.open_session(await User.get(username=name), "bearer", "127.0.0.1")
        return opened.session.id

    return in_store(db, work)


def revoked(db: str, session_id: str) -> bool:
    return in_store(db, lambda: Session.get(id=session_id)).revoked_at is not None


def test_add_then_list(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], db: str,
                       name: str) -> None:
    assert add(monkeypatch, db, name, "--display-name", "张三") == 0
    assert capsys.readouterr().out == f"已新增用户 {name}（统计员）\n"
    assert verifies(db, name, PASSWORD) and not verifies(db, name, PASSWORD + "x")
    assert taishan(monkeypatch, "", "user", "list", "--db", db) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["用户名", "姓名", "角色", "范围", "状态"]
    (row,) = [line.split() for line in out.splitlines() if line.startswith(f"{name} ")]
    assert row == [name, "张三", "统计员", "全部", "正常"]
    actions = in_store(db, lambda: AuditEntry.filter(target=f"user:{name}").values_list("actor", "action"))
    assert actions == [("cli", "user.create")]


def test_add_with_a_scope_and_a_contact(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                        db: str, name: str) -> None:
    contact = "mailto://robot:s3cret@taian.example?to=zhang@taian.example"
    assert add(monkeypatch, db, name, "--scope", "xintai", "--contact", contact) == 0
    user = stored(db, name)
    assert user is not None and user.scope == ["xintai"]
    assert "s3cret" not in user.contact and crypto.decrypt(user.contact) == contact
    capsys.readouterr()
    taishan(monkeypatch, "", "user", "list", "--db", db)
    assert [line.split()[2] for line in capsys.readouterr().out.splitlines() if line.startswith(f"{name} ")] == [
        "xintai"]


def test_add_another_with_the_same_name_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str], db: str, name: str) -> None:
    add(monkeypatch, db, name)
    capsys.readouterr()
    assert add(monkeypatch, db, name, password="Other-Password-99") == 1
    assert capsys.readouterr().err == f"错误：用户「{name}」已存在\n"
    assert verifies(db, name, PASSWORD)


@pytest.mark.parametrize(("password", "message"), [
    ("Short-1", "密码太短：至少 10 个字符"),
    ("onlylowercaseletters", "密码须包含小写字母、大写字母、数字、符号中的至少三类"),
    ("Admin12345", "密码过于常见，请换一个"),
    ("{name}-Pass-99", "密码不能包含用户名"),
])
def test_a_refused_password_exits_1_with_the_reason(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str], db: str, name: str,
                                                    password: str, message: str) -> None:
    assert add(monkeypatch, db, name, password=password.format(name=name)) == 1
    captured = capsys.readouterr()
    assert captured.err == f"错误：{message}\n" and captured.out == ""
    assert "Traceback" not in captured.err and stored(db, name) is None


def test_an_unknown_scope_exits_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], db: str,
                                  name: str) -> None:
    assert add(monkeypatch, db, name, "--scope", "xintai", "mars") == 1
    assert capsys.readouterr().err == "错误：未知单位：mars\n"
    assert stored(db, name) is None


def test_a_scope_needs_rules_in_the_store(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    empty = f"sqlite://{tmp_path}/empty.sqlite3"
    assert add(monkeypatch, empty, "lonely", "--scope", "xintai") == 1
    assert "还没有规则集" in capsys.readouterr().err
    assert taishan(monkeypatch, "", "user", "list", "--db", empty) == 0
    assert capsys.readouterr().out == "还没有用户。\n"


def test_disable_revokes_the_sessions(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                      db: str, name: str) -> None:
    add(monkeypatch, db, name)
    session = open_session(db, name)
    capsys.readouterr()
    assert taishan(monkeypatch, "", "user", "disable", name, "--db", db) == 0
    assert capsys.readouterr().out == f"已停用用户 {name}\n"
    assert stored(db, name).disabled and revoked(db, session)
    taishan(monkeypatch, "", "user", "list", "--db", db)
    assert [line.split()[-1] for line in capsys.readouterr().out.splitlines() if line.startswith(f"{name} ")] == [
        "停用"]


def test_reset_sets_the_password_and_revokes_the_sessions(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str], db: str,
                                                          name: str) -> None:
    add(monkeypatch, db, name)
    session = open_session(db, name)
    capsys.readouterr()
    assert taishan(monkeypatch, "weak\n", "user", "reset", name, "--password-stdin", "--db", db) == 1
    assert capsys.readouterr().err == "错误：密码太短：至少 10 个字符\n"
    assert verifies(db, name, PASSWORD) and not revoked(db, session)
    assert taishan(monkeypatch, "Fresh-Password-42\n", "user", "reset", name, "--password-stdin", "--db", db) == 0
    assert capsys.readouterr().out == f"已重设用户 {name} 的密码，其全部会话已注销\n"
    assert verifies(db, name, "Fresh-Password-42") and not verifies(db, name, PASSWORD)
    assert revoked(db, session)


@pytest.mark.parametrize("action", [["disable"], ["reset", "--password-stdin"]])
def test_an_unknown_user_exits_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], db: str,
                                 action: list[str]) -> None:
    assert taishan(monkeypatch, f"{PASSWORD}\n", "user", action[0], "ghost", *action[1:], "--db", db) == 1
    assert capsys.readouterr().err == "错误：没有用户「ghost」\n"
