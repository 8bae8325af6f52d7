"""`taishan user add | list | disable | reset`: user administration from the server's shell."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from tortoise.timezone import now

from server import accounts, crypto
from server.rulesets import active
from server.service import audit
from server.store import close_store, open_store
from server.store.models import Session, User
from server.table import render


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    scope: tuple[str, ...]
    role_name: str
    scope_name: str


async def ensure_demo_users(users: list[DemoUser]) -> None:
    """The demo's accounts, made once; their published passwords are for the demo only."""
    for demo in users:
        if not await User.exists(username=demo.username):
            accounts.check_password_policy(demo.password, demo.username)
            await User.create(username=demo.username, role=demo.role, scope=list(demo.scope),
                              display_name=demo.role_name, password_hash=await accounts.hash_password(demo.password))


def add_parser(commands: argparse._SubParsersAction, handler: Callable[[argparse.Namespace], int]) -> None:
    user = commands.add_parser("user", help="用户管理")
    actions = user.add_subparsers(required=True, metavar="ACTION")
    add = actions.add_parser("add", help="新增用户")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=accounts.ROLES)
    add.add_argument("--scope", nargs="*", default=[], metavar="ENTITY", help="可见的单位子树（默认全部）")
    add.add_argument("--display-name", default="")
    add.add_argument("--contact", default="", help="找回密码的通知地址（Apprise URL，如 mailto://…）")
    add.add_argument("--password-stdin", action="store_true", required=True, help="从标准输入读取密码")
    add.set_defaults(action=_add)
    listing = actions.add_parser("list", help="列出用户")
    listing.set_defaults(action=_list)
    disable = actions.add_parser("disable", help="停用用户并注销其全部会话")
    disable.add_argument("name")
    disable.set_defaults(action=_disable)
    reset = actions.add_parser("reset", help="重设密码并注销其全部会话")
    reset.add_argument("name")
    reset.add_argument("--password-stdin", action="store_true", required=True)
    reset.set_defaults(action=_reset)
    for sub in (add, listing, disable, reset):
        sub.add_argument("--db", default=None, help="数据库 URL（TAISHAN_DB）")
        sub.set_defaults(handler=handler)


async def run(args: argparse.Namespace, db: str) -> int:
    await open_store(db)
    try:
        return await args.action(args)
    except accounts.PolicyError as error:
        print(f"错误：{error}", file=sys.stderr)
        return 1
    finally:
        await close_store()


def _password() -> str:
    return sys.stdin.readline().rstrip("\n")


async def _add(args: argparse.Namespace) -> int:
    if await User.exists(username=args.name):
        print(f"错误：用户「{args.name}」已存在", file=sys.stderr)
        return 1
    password = _password()
    accounts.check_password_policy(password, args.name)
    scope: tuple[str, ...] = ()
    if args.scope:
        found = await active()
        if found is None:
            print("错误：数据库里还没有规则集，无法检查范围；请先运行 taishan serve 或 taishan demo", file=sys.stderr)
            return 1
        scope = accounts.check_scope(found[1], args.scope)
    await User.create(username=args.name, role=args.role, scope=list(scope), display_name=args.display_name,
                      contact=crypto.encrypt(args.contact), password_hash=await accounts.hash_password(password))
    await audit("cli", "user.create", f"user:{args.name}", {"role": args.role, "scope": list(scope)})
    print(f"已新增用户 {args.name}（{accounts.ROLE_NAMES[args.role]}）")
    return 0


async def _list(args: argparse.Namespace) -> int:
    users = await User.all().order_by("id")
    rows = [[u.username, u.display_name, accounts.ROLE_NAMES.get(u.role, u.role), "、".join(u.scope) or "全部",
             "停用" if u.disabled else "正常"] for u in users]
    print(render(["用户名", "姓名", "角色", "范围", "状态"], rows) if rows else "还没有用户。")
    return 0


async def _user(name: str) -> User | None:
    user = await User.get_or_none(username=name)
    if user is None:
        print(f"错误：没有用户「{name}」", file=sys.stderr)
    return user


async def _disable(args: argparse.Namespace) -> int:
    user = await _user(args.name)
    if user is None:
        return 1
    user.disabled = True
    await user.save(update_fields=["disabled"])
    await Session.filter(user_id=user.id, revoked_at=None).update(revoked_at=now())
    await audit("cli", "user.disable", f"user:{args.name}")
    print(f"已停用用户 {args.name}")
    return 0


async def _reset(args: argparse.Namespace) -> int:
    user = await _user(args.name)
    if user is None:
        return 1
    password = _password()
    accounts.check_password_policy(password, args.name)
    user.password_hash = await accounts.hash_password(password)
    user.password_changed_at = now()
    await user.save(update_fields=["password_hash", "password_changed_at"])
    await Session.filter(user_id=user.id, revoked_at=None).update(revoked_at=now())
    await audit("cli", "user.reset", f"user:{args.name}")
    print(f"已重设用户 {args.name} 的密码，其全部会话已注销")
    return 0
