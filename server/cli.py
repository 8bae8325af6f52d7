"""The `taishan` command: check, fmt, test, eval and demo."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from collections.abc import Sequence

from dsl import DslError, Model, load
from engine import DataError, Report, Transition, run
from engine.report import SEVERITY_CHINESE, STATE_CHINESE
from engine.ruletest import run_tests
from server import table
from server.dataio import read_rows, write_rows

DEFAULT_RULES = ["rules/taian"]


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

    demo = commands.add_parser("demo", help="生成演示数据并评估")
    demo.add_argument("--rules", nargs="+", default=DEFAULT_RULES, metavar="PATH")
    demo.add_argument("--seed", type=int, default=2026)
    demo.add_argument("--out", default="var/demo.csv", help="演示数据写到这里")
    demo.set_defaults(handler=_demo)
    return parser


# ----------------------------------------------------------------------------- commands


def _check(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    model = load(args.paths)
    for warning in model.warnings:
        print(warning.render(model.sources.get(warning.span.path)), file=sys.stderr)
    elapsed = (time.perf_counter() - started) * 1000
    print(f"ok: {len(model.sources)} files, {len(model.entities)} entities, {len(model.indicators)} indicators, "
          f"{len(model.rules)} rules, {len(model.checks)} checks, {len(model.tests)} tests "
          f"({elapsed:.0f} ms)")
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
    model = load(args.paths)
    outcomes = run_tests(model)
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
    started = time.perf_counter()
    report = run(model, rows)
    elapsed = time.perf_counter() - started
    _print_report(model, report, as_json=False, everything=False)
    print(f"\n演示数据 {len(rows)} 条已写入 {args.out}；评估用时 {elapsed:.2f} 秒。")
    print(f"离线评估：taishan eval --rules {' '.join(args.rules)} --data {args.out}")
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
