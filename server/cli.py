"""The `taishan` command: check, fmt, test, eval, demo, serve, import and db."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from dsl import DslError, Model, load
from dsl.loader import rule_sets
from engine import DataError, Report, Transition, run
from engine.report import SEVERITY_CHINESE, STATE_CHINESE
from engine.ruletest import run_tests
from server import table, usercli
from server.config import Settings
from server.dataio import read_rows, write_rows

if TYPE_CHECKING:
    from server.service import IngestResult

DEFAULT_RULES = ["rules/taian"]
DEMO_USERS = [
    usercli.DemoUser("admin", "Taian-Demo-2026!", "administrator", (), "管理员", "全部"),
    usercli.DemoUser("tongji", "Stats-Demo-2026!", "statistician", (), "统计员", "全部"),
    usercli.DemoUser("xintai_leader", "Xintai-Demo-2026!", "leader", ("xintai",), "领导", "新泰市"),
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except DslError as error:
        print(error.render(), file=sys.stderr)
        print(f"{len([d for d in error.diagnostics if d.severity == 'error'])} error(s)", file=sys.stderr)
        return 1
    except DataError as error:
        print("数据有误，整批未导入：", file=sys.stderr)
        print("\n".join(e.render() for e in error.errors), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taishan", description="泰山经济运行监测：规则检查、测试与评估")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="检查规则文件")
    check.add_argument("paths", nargs="+", metavar="PATH")
    check.set_defaults(handler=_check)

    fmt = commands.add_parser("fmt", help="把规则文件改写为规范格式")
    fmt.add_argument("paths", nargs="+", metavar="PATH")
    fmt.add_argument("--check", action="store_true", help="只检查，不改写；需要改写时退出码为 1")
    fmt.set_defaults(handler=_fmt)

    test = commands.add_parser("test", help="运行规则测试")
    test.add_argument("paths", nargs="+", metavar="PATH")
    test.set_defaults(handler=_test)

    evaluate = commands.add_parser("eval", help="离线评估数据，输出预警")
    evaluate.add_argument("--rules", nargs="+", required=True, metavar="PATH")
    evaluate.add_argument("--data", required=True, metavar="FILE", help="长表 CSV 或 JSON")
    evaluate.add_argument("--json", action="store_true", help="每条一行 JSON")
    evaluate.add_argument("--all", action="store_true", help="输出全部历史状态变化，而非当前预警")
    evaluate.add_argument("--as-of", type=datetime.date.fromisoformat, help="评估日期（默认今天）")
    evaluate.set_defaults(handler=_eval)

    demo = commands.add_parser("demo", help="生成演示数据，载入数据库并评估")
    demo.add_argument("--rules", nargs="+", default=DEFAULT_RULES, metavar="PATH")
    demo.add_argument("--seed", type=int, default=2026)
    demo.add_argument("--out", default="var/demo.csv", help="演示数据写到这里")
    demo.add_argument("--db", default=None, help="数据库 URL（默认 TAISHAN_DB 或 sqlite://var/taishan.sqlite3）")
    demo.add_argument("--offline", action="store_true", help="不写数据库，只离线评估并打印预警")
    demo.set_defaults(handler=_demo)

    serve = commands.add_parser("serve", help="启动服务（API 与看板）")
    serve.add_argument("--db", default=None, help="数据库 URL（TAISHAN_DB）")
    serve.add_argument("--host", default=None, help="监听地址（TAISHAN_HOST，默认 127.0.0.1）")
    serve.add_argument("--port", type=int, default=None, help="端口（TAISHAN_PORT，默认 8000）")
    serve.add_argument("--workers", type=int, default=None, help="工作进程数（TAISHAN_WORKERS；SQLite 固定为 1）")
    serve.add_argument("--rules", nargs="+", default=None, metavar="PATH",
                       help="数据库中还没有规则集时载入的规则（TAISHAN_RULES）")
    serve.set_defaults(handler=_serve)

    importing = commands.add_parser("import", help="按数据模板导入 CSV 或 XLSX 文件")
    importing.add_argument("file", metavar="FILE")
    importing.add_argument("--template", required=True, metavar="NAME", help="数据模板名称")
    importing.add_argument("--db", default=None, help="数据库 URL（TAISHAN_DB）")
    importing.add_argument("--user", default="cli", help="记录为报送人")
    importing.add_argument("--entity", default=None, help="宽表的单位（表内没有“单位”格时）")
    importing.add_argument("--period", default=None, help="宽表的期别，如 2026-10（表内没有“期别”格时）")
    importing.set_defaults(handler=_import)

    usercli.add_parser(commands, handler=_user)

    routes = commands.add_parser("routes", help="推送路由")
    route_actions = routes.add_subparsers(required=True, metavar="ACTION")
    route_test = route_actions.add_parser("test", help="显示一条预警会送到哪些接收组（类似 amtool config routes test）")
    route_test.add_argument("--rules", nargs="+", default=DEFAULT_RULES, metavar="PATH")
    route_test.add_argument("--rule", required=True)
    route_test.add_argument("--entity", required=True)
    route_test.add_argument("--severity", default=None, choices=["info", "warning", "critical"],
                            help="默认取规则自身的级别")
    route_test.add_argument("--state", default="firing", choices=["firing", "resolved"])
    route_test.set_defaults(handler=_routes_test)

    report = commands.add_parser("report", help="生成某地区某月的统计分析简报（HTML 或 PDF）")
    report.add_argument("--entity", required=True)
    report.add_argument("--period", required=True, help="如 2026-10")
    report.add_argument("--format", choices=["html", "pdf"], default="html")
    report.add_argument("--out", default=None, help="写到这个文件（默认 var/reports/…）")
    report.add_argument("--db", default=None, help="数据库 URL（TAISHAN_DB）")
    report.set_defaults(handler=_report)

    database = commands.add_parser("db", help="数据库维护")
    db_commands = database.add_subparsers(required=True, metavar="ACTION")
    copy = db_commands.add_parser("copy", help="把全部数据（含历史版本）从一个数据库复制到另一个")
    copy.add_argument("--from", dest="source", required=True, metavar="URL")
    copy.add_argument("--to", dest="target", required=True, metavar="URL")
    copy.set_defaults(handler=_db_copy)
    return parser


# ----------------------------------------------------------------------------- commands


def _check(args: argparse.Namespace) -> int:
    for paths in rule_sets(args.paths):
        started = time.perf_counter()
        model = load(paths)
        for warning in model.warnings:
            print(warning.render(model.sources.get(warning.span.path)), file=sys.stderr)
        elapsed = (time.perf_counter() - started) * 1000
        print(f"ok: {' '.join(paths)}: {len(model.sources)} files, {len(model.entities)} entities, "
              f"{len(model.indicators)} indicators, {len(model.rules)} rules, {len(model.checks)} checks, "
              f"{len(model.tests)} tests ({elapsed:.0f} ms)")
    return 0


def _fmt(args: argparse.Namespace) -> int:
    from dsl.formatter import format_source
    from dsl.loader import expand

    changed = 0
    for path in expand(args.paths):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        formatted = format_source(text, path)
        if formatted == text:
            continue
        changed += 1
        if args.check:
            print(f"{path}: would reformat")
        else:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(formatted)
            print(f"{path}: reformatted")
    return 1 if args.check and changed else 0


def _test(args: argparse.Namespace) -> int:
    outcomes = [outcome for paths in rule_sets(args.paths) for outcome in run_tests(load(paths))]
    for outcome in outcomes:
        span = outcome.test.span
        mark = "ok  " if outcome.passed else "FAIL"
        print(f"{mark} {span.path}:{span.line}: {outcome.test.name}")
        for failure in outcome.failures:
            print(f"     {failure}")
    failed = sum(not o.passed for o in outcomes)
    print(f"{len(outcomes) - failed} passed, {failed} failed")
    return 1 if failed else 0


def _eval(args: argparse.Namespace) -> int:
    model = load(args.rules)
    rows, first_row = read_rows(args.data)
    report = run(model, rows, as_of=args.as_of, first_row=first_row)
    _print_report(model, report, args.json, args.all)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from server.demo import generate

    model = load(args.rules)
    rows = generate(seed=args.seed)
    write_rows(rows, args.out)
    if args.offline:
        started = time.perf_counter()
        report = run(model, rows)
        elapsed = time.perf_counter() - started
        _print_report(model, report, as_json=False, everything=False)
        print(f"\n演示数据 {len(rows)} 条已写入 {args.out}；评估用时 {elapsed:.2f} 秒。")
        print(f"离线评估：taishan eval --rules {' '.join(args.rules)} --data {args.out}")
        return 0
    settings = _settings(args)
    result = asyncio.run(_load_demo(settings, rows))
    print(f"演示数据 {len(rows)} 条：新增 {len(result.accepted)} 条，未变 {result.unchanged} 条，"
          f"预警状态变化 {len(result.transitions)} 次；数据库 {settings.db}，用时 {result.seconds:.1f} 秒。")
    print("演示账号（仅供演示，请勿用于生产）：")
    print(table.render(["用户名", "密码", "角色", "范围"],
                       [[u.username, u.password, u.role_name, u.scope_name] for u in DEMO_USERS]))
    return 0


async def _load_demo(settings: Settings, rows: list[dict[str, object]]) -> IngestResult:
    from server import standard_templates
    from server.service import Service
    from server.store import close_store, open_store

    await open_store(settings.db)
    try:
        service = Service(list(settings.rules), settings.horizon_months)
        await service.start()
        await usercli.ensure_demo_users(DEMO_USERS)
        await standard_templates.ensure(service.model, user="demo")
        return await service.ingest(rows, source="demo", user="demo")
    finally:
        await close_store()


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name) for name in ("db", "host", "port", "workers", "rules")
                 if getattr(args, name, None) is not None}
    if "rules" in overrides:
        overrides["rules"] = tuple(overrides["rules"])
    return replace(Settings(), **overrides)


def _import(args: argparse.Namespace) -> int:
    from server.importer import import_file

    return asyncio.run(import_file(_settings(args), args.file, args.template, args.user, args.entity, args.period))


def _routes_test(args: argparse.Namespace) -> int:
    from engine import compile_model
    from notifiers.notices import notice_from, rule_tags
    from notifiers.routing import receivers_for

    model = load(args.rules)
    definition = model.rules.get(args.rule) or model.checks.get(args.rule)
    if definition is None or args.entity not in model.entities:
        print(f"错误：没有规则「{args.rule}」或单位「{args.entity}」", file=sys.stderr)
        return 1
    severity = args.severity or getattr(definition, "severity", None) or "warning"
    payload = {"rule": args.rule, "entity": args.entity, "period": "", "new": args.state, "severity": severity}
    notice = notice_from(model, payload, rule_tags(compile_model(model)))
    matched = receivers_for(model, notice)
    if not matched:
        print("没有路由匹配：这条预警不会推送给任何人。")
        return 0
    rows = [[receiver, route.id, ", ".join(route.group_by) or "—", route.group_wait or "30s",
             f"{route.quiet[0]}-{route.quiet[1]}" if route.quiet else "—"] for route, receiver in matched]
    print(table.render(["接收组", "路由", "分组", "等待", "免打扰"], rows))
    return 0


def _report(args: argparse.Namespace) -> int:
    from server.reports import report_command

    return asyncio.run(report_command(_settings(args), args.entity, args.period, args.out, args.format))


def _user(args: argparse.Namespace) -> int:
    return asyncio.run(usercli.run(args, _settings(args).db))


def _db_copy(args: argparse.Namespace) -> int:
    from server.dbcopy import copy_database

    return asyncio.run(copy_database(args.source, args.target))


def _serve(args: argparse.Namespace) -> int:
    from functools import partial

    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from server import dashlink
    from server.api import create_app

    settings = _settings(args)
    dashboards = dashlink.start(settings)  # before the workers are spawned: they inherit its address and secret
    loader = AppLoader(factory=partial(create_app, settings))
    app = loader.load()
    # A deep accept queue: two thousand dashboards connecting at once must not be turned away and retried.
    app.prepare(host=settings.host, port=settings.port, workers=settings.effective_workers(),
                access_log=settings.access_log, motd=False, backlog=4096)
    base = f"http://{settings.host}:{settings.port}"
    print(f"泰山经济运行监测服务：登录 {base}/login，看板 {base}/dash/overview，接口文档 {base}/api/v1/openapi.json"
          f"（数据库 {settings.db}，{settings.effective_workers()} 个工作进程）", flush=True)
    try:
        Sanic.serve(primary=app, app_loader=loader)
    finally:
        dashboards.stop()
    return 0


# ----------------------------------------------------------------------------- output


def _print_report(model: Model, report: Report, as_json: bool, everything: bool) -> None:
    chosen = report.transitions if everything else sorted(
        report.current(), key=lambda t: (-_rank(t.severity), t.rule, t.entity))
    if as_json:
        for transition in chosen:
            print(json.dumps(transition.as_dict(), ensure_ascii=False))
        return
    if not chosen:
        print("没有预警。")
        return
    print(table.render(["级别", "状态", "期别", "单位", "规则", "说明"], [_row(model, t) for t in chosen]))
    firing = sum(t.new == "firing" for t in chosen)
    print(f"\n共 {len(chosen)} 条（报警 {firing} 条）。")


def _row(model: Model, t: Transition) -> list[str]:
    entity = model.entities[t.entity].name if t.entity in model.entities else t.entity
    definition = model.rules.get(t.rule) or model.checks.get(t.rule)
    title = definition.title if definition is not None else t.rule
    state = STATE_CHINESE.get(t.new, t.new) + ("（修订）" if t.reason == "revised" else "")
    return [SEVERITY_CHINESE.get(t.severity, t.severity), state, t.period, entity, title, t.message]


def _rank(severity: str) -> int:
    return {"info": 1, "warning": 2, "critical": 3}.get(severity, 0)


if __name__ == "__main__":
    sys.exit(main())
