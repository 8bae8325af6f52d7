"""`taishan fmt`: golden examples, comments kept, idempotence and meaning preserved (hypothesis)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl import ast
from dsl.errors import DslError
from dsl.formatter import format_source
from dsl.parser import parse

ROOT = Path(__file__).resolve().parents[2]
DOC_EXAMPLE = "\n".join(re.findall(r"```\n(.*?)```", (ROOT / "docs" / "language.md").read_text("utf-8"), re.S))
RULE_FILES = sorted((ROOT / "rules").glob("**/*.rules"))
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def plain(value: object) -> object:
    """An AST as nested tuples, without spans (TargetDef keeps spans inside its value tuples)."""
    if isinstance(value, ast.Span):
        return None
    if dataclasses.is_dataclass(value):
        fields = (f for f in dataclasses.fields(value) if f.compare)
        return type(value).__name__, tuple((f.name, plain(getattr(value, f.name))) for f in fields)
    if isinstance(value, list | tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, plain(v)) for k, v in value.items()))
    return value


def same_meaning(before: str, after: str) -> bool:
    return plain(parse(before).items) == plain(parse(after).items)


def comment_texts(text: str) -> list[str]:
    """The comments of a file that parses (scanned here: the parser's own list is not exact, see
    test_parser.py::test_hash_after_escaped_quote)."""
    comments, index, in_string = [], 0, False
    while index < len(text):
        char = text[index]
        if in_string and char == "\\":
            index += 2
            continue
        if in_string:
            in_string = char not in '"\n'
        elif char == '"':
            in_string = True
        elif char == "#":
            end = text.find("\n", index)
            end = len(text) if end < 0 else end
            comments.append(text[index:end].rstrip())
            index = end
            continue
        index += 1
    return comments


def check_format(text: str) -> str:
    """Format, and check the three promises: idempotent, same AST, every comment once and in order."""
    once = format_source(text)
    assert format_source(once) == once, "not idempotent"
    assert same_meaning(text, once), "the formatted file means something else"
    assert comment_texts(once) == comment_texts(text), "comments lost, duplicated or reordered"
    return once


# ----------------------------------------------------------------------------- golden examples

GOLDEN = {
    "entities and spacing": (
        'entity  taian   "泰安市"\tcity\n'
        'entity xintai "新泰市" county_city in taian\n\n\n\n'
        'entity e1 "泰山钢铁" enterprise in xintai {industry "C31"   size large above_scale 2012}\n'
        'entity laiwu "莱芜市" city { until 2018 }\n',
        'entity taian "泰安市" city\n'
        'entity xintai "新泰市" county_city in taian\n\n'
        'entity e1 "泰山钢铁" enterprise in xintai { industry "C31" size large above_scale 2012 }\n'
        'entity laiwu "莱芜市" city { until 2018 }\n',
    ),
    "indicator attributes one per line, order kept": (
        'indicator power_ind "工业用电量" { unit "万千瓦时"  frequency monthly  form ytd  jan_feb merged  additive\n'
        '  tags 工业,能源  department "市发改委"  release day 15 prices   current '
        'parts a+b +c }\n',
        'indicator power_ind "工业用电量" {\n'
        '  unit "万千瓦时"\n'
        '  frequency monthly\n'
        '  form ytd\n'
        '  jan_feb merged\n'
        '  additive\n'
        '  tags 工业, 能源\n'
        '  department "市发改委"\n'
        '  release day 15\n'
        '  prices current\n'
        '  parts a + b + c\n'
        '}\n',
    ),
    "expressions": (
        'series s "S" unit "%"=a+b*c-(d/e)@taian\n'
        'series t "T"= abs( x )+least(a ,b)-x @ taian+ - y+sum( gdp over taian . children )\n'
        'series u "U" = not a>=1 and b!=2 or - - 3 < time_progress( )\n',
        'series s "S" unit "%" = a + b * c - (d / e)@taian\n'
        'series t "T" = abs(x) + least(a, b) - x@taian + -y + sum(gdp over taian.children)\n'
        'series u "U" = not a >= 1 and b != 2 or - -3 < time_progress()\n',
    ),
    "rule: one clause per line": (
        'rule ind_va_vs_city "规上工业增速偏离全市"{severity warning each county in taian '
        'when abs(ind_va-ind_va@taian)>5 critical when abs(ind_va - ind_va@taian) > 8 for 2 of 3 periods '
        'keep 1 period recover when abs(ind_va-ind_va@taian)<3 guard history(ind_va)>=13 '
        'message "{entity}{period}增长{ind_va:.1f}%"  hint "核实"  labels team="工业科",area = "经济运行"}\n'
        'rule each_ind "按指标" { each indicator x tagged 工业,投资 info when yoy(x)<-5 }',
        'rule ind_va_vs_city "规上工业增速偏离全市" {\n'
        '  severity warning\n'
        '  each county in taian\n'
        '  when abs(ind_va - ind_va@taian) > 5\n'
        '  critical when abs(ind_va - ind_va@taian) > 8\n'
        '  for 2 of 3 periods\n'
        '  keep 1 period\n'
        '  recover when abs(ind_va - ind_va@taian) < 3\n'
        '  guard history(ind_va) >= 13\n'
        '  message "{entity}{period}增长{ind_va:.1f}%"\n'
        '  hint "核实"\n'
        '  labels team = "工业科", area = "经济运行"\n'
        '}\n'
        '\n'
        'rule each_ind "按指标" {\n'
        '  each indicator x tagged 工业, 投资\n'
        '  info when yoy(x) < -5\n'
        '}\n',
    ),
    "checks": (
        'check gdp_parts "三次产业" { each entity in taian,taian.children '
        'gdp=gdp_primary+gdp_secondary within 0.1 % missing non_null }\n'
        'check due "按时报送" { severity critical each county in taian complete power_ind , ind_va last 3 periods '
        'message "x" hint "y" }\n',
        'check gdp_parts "三次产业" {\n'
        '  each entity in taian, taian.children\n'
        '  gdp = gdp_primary + gdp_secondary within 0.1%\n'
        '  missing non_null\n'
        '}\n'
        '\n'
        'check due "按时报送" {\n'
        '  severity critical\n'
        '  each county in taian\n'
        '  complete power_ind, ind_va last 3 periods\n'
        '  message "x"\n'
        '  hint "y"\n'
        '}\n',
    ),
    "tests": (
        'test "偏离" { given ind_va@xintai   2026-03 .. 2026-06 : 3.0 9.50 -1 _ '
        'given gdp@taian 2025:100 expect r firing at xintai 2026-05 on ind_va critical '
        'expect c violated at taian 2026Q1 as_of 2026-07-20 }\n',
        'test "偏离" {\n'
        '  given ind_va@xintai 2026-03..2026-06: 3.0 9.50 -1 _\n'
        '  given gdp@taian 2025: 100\n'
        '  expect r firing at xintai 2026-05 on ind_va critical\n'
        '  expect c violated at taian 2026Q1\n'
        '  as_of 2026-07-20\n'
        '}\n',
    ),
    "routes, inhibit, dashboards": (
        'route leaders { match severity>=warning entity in taian.children tag 工业 rule r label team="工业科" '
        'receivers 市领导,工业科 group_by rule,entity group_wait 30s group_interval 5m repeat_interval 4h '
        'quiet 22:00 - 07:00 except critical continue }\n'
        'inhibit hierarchy rules a,b\ninhibit severity\n'
        'dashboard industry "工业运行" { panel p "P" { chart line show ind_va,ind_va@taian entities taian.children '
        'window 24 periods } panel q "Q" {} }\n',
        'route leaders {\n'
        '  match severity >= warning entity in taian.children tag 工业 rule r label team = "工业科"\n'
        '  receivers 市领导, 工业科\n'
        '  group_by rule, entity\n'
        '  group_wait 30s\n'
        '  group_interval 5m\n'
        '  repeat_interval 4h\n'
        '  quiet 22:00-07:00 except critical\n'
        '  continue\n'
        '}\n'
        '\n'
        'inhibit hierarchy rules a, b\n'
        'inhibit severity\n'
        '\n'
        'dashboard industry "工业运行" {\n'
        '  panel p "P" {\n'
        '    chart line\n'
        '    show ind_va, ind_va@taian\n'
        '    entities taian.children\n'
        '    window 24 periods\n'
        '  }\n'
        '  panel q "Q" {}\n'
        '}\n',
    ),
    "targets: one line, or filled lines": (
        'target gdp 2026 growth{taian 6.0 xintai 6.5 laiwu -1.5}\n'
        'target fixed_invest 2026 { taian 1200 taishan 300 daiyue 260 xintai 260 feicheng 240 ningyang 150 '
        'dongping 150 gaoxin 100 }\n',
        'target gdp 2026 growth { taian 6.0  xintai 6.5  laiwu -1.5 }\n'
        '\n'
        'target fixed_invest 2026 {\n'
        '  taian 1200  taishan 300  daiyue 260  xintai 260  feicheng 240  ningyang 150  dongping 150\n'
        '  gaoxin 100\n'
        '}\n',
    ),
    "strings and numbers copied byte for byte": (
        'rule r "R \\"引号\\" # not a comment" { message   "{x:.2f}%  {entity}\\n"  when x>007.50 }\n',
        'rule r "R \\"引号\\" # not a comment" {\n'
        '  message "{x:.2f}%  {entity}\\n"\n'
        '  when x > 007.50\n'
        '}\n',
    ),
    "empty blocks and empty file": (
        'indicator i "I" {   }\nrule r "R" {\n}\n',
        'indicator i "I" {}\nrule r "R" {}\n',
    ),
    "wrapped long clause keeps the author's break before an operator": (
        'check parts "P" {\n  gdp = a + b + c\n        + d within 0.1%\n  missing fail\n}\n'
        'series s "S" = a\n + b *\n c\n',
        'check parts "P" {\n  gdp = a + b + c\n      + d within 0.1%\n  missing fail\n}\n\n'
        'series s "S" = a\n    + b * c\n',
    ),
}

COMMENTED = (
    "# 泰安市 规则\n\n\n"
    "# 第二段说明\n"
    'import "regions.rules"   # 区划\n'
    'entity gaoxin "泰安高新区" zone in taian { overlay }      # 叠加口径\n'
    "rule r \"R\" {   # 规则说明\n"
    "severity warning # 默认\n"
    "# 关于条件\n"
    "\n\n"
    "when abs(x -   # 中间\n"
    "  # 独占一行\n"
    "y) > 5\n"
    "  # 结束前\n"
    "}\n"
    "entity e \"E\" city { # 块内\n overlay }\n"
    "# 文件末尾\n\n\n"
)

COMMENTED_GOLDEN = (
    "# 泰安市 规则\n\n"
    "# 第二段说明\n"
    'import "regions.rules"  # 区划\n'
    'entity gaoxin "泰安高新区" zone in taian { overlay }  # 叠加口径\n'
    "\n"
    "rule r \"R\" {  # 规则说明\n"
    "  severity warning  # 默认\n"
    "  # 关于条件\n"
    "\n"
    "  when abs(x -  # 中间\n"
    "      # 独占一行\n"
    "      y) > 5\n"
    "  # 结束前\n"
    "}\n"
    "\n"
    "entity e \"E\" city {  # 块内\n"
    "  overlay\n"
    "}\n"
    "# 文件末尾\n"
)


@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden(name: str) -> None:
    messy, expected = GOLDEN[name]
    assert check_format(messy) == expected
    assert format_source(expected) == expected


def test_golden_comments() -> None:
    assert check_format(COMMENTED) == COMMENTED_GOLDEN


def test_empty_and_comment_only_files() -> None:
    assert format_source("") == ""
    assert format_source("\n\n  \n") == ""
    assert format_source("# a\n\n\n\n# b  \n") == "# a\n\n# b\n"


def test_crlf_input() -> None:
    text = 'entity a "A" city\r\n# note\r\nrule r "R" { when x > 1 }  # t\r\n'
    assert check_format(text) == 'entity a "A" city\n\n# note\nrule r "R" {\n  when x > 1\n}  # t\n'


def test_reference_example() -> None:
    formatted = check_format(DOC_EXAMPLE)
    assert "entity gaoxin \"泰安高新区\" zone in taian { overlay }  # non-additive overlay\n" in formatted
    assert "  severity warning  # info | warning | critical (default warning)\n" in formatted
    assert "target gdp 2026 growth { taian 6.0  xintai 6.5 }  # growth target, %\n" in formatted
    assert all(len(line) <= 110 for line in formatted.splitlines())


def test_every_comment_once_in_order() -> None:
    for text in (DOC_EXAMPLE, COMMENTED):
        formatted = format_source(text)
        comments = comment_texts(text)
        assert comments
        position = 0
        for comment in comments:
            assert formatted.count(comment) == 1, comment
            position = formatted.index(comment, position) + len(comment)


def test_refuses_a_file_that_does_not_parse() -> None:
    text = 'rule r "R" { when x > }  # 注释会丢\nentity a “A” city\n'
    with pytest.raises(DslError) as caught:
        format_source(text, "bad.rules")
    assert [d.span.line for d in caught.value.diagnostics] == [1, 2]
    assert caught.value.diagnostics[0].span.path == "bad.rules"


def test_hash_and_escaped_quotes_in_strings_next_to_comments() -> None:
    text = ('rule r "R#1" { message "{x}# 不是注释" }  # 是注释\n'
            'rule s "S" { message "a \\" # b" hint "c\\"d" }  # 真注释\n')
    formatted = check_format(text)
    assert comment_texts(formatted) == ["# 是注释", "# 真注释"]
    assert '  message "a \\" # b"\n  hint "c\\"d"\n}  # 真注释\n' in formatted


def test_deep_and_long_expressions() -> None:
    nested = 'series s "S" = ' + "abs(" * 90 + "x" + ")" * 90 + "\n"
    assert check_format(nested.replace("(", "( ")) == nested
    flat = 'series t "T" = ' + " + ".join(f"e{i}" for i in range(100)) + "\n"
    assert check_format(flat.replace(" + ", "+")) == flat


def test_byte_order_mark_is_dropped() -> None:
    assert check_format('\ufeffentity  taian "泰安市" city\n') == 'entity taian "泰安市" city\n'


@pytest.mark.parametrize("path", RULE_FILES, ids=[str(p.relative_to(ROOT)) for p in RULE_FILES])
def test_shipped_rule_files_round_trip(path: Path) -> None:
    check_format(path.read_text(encoding="utf-8"))


SMALL_SOURCES = [DOC_EXAMPLE] + [text for text in (p.read_text("utf-8") for p in RULE_FILES) if len(text) < 4000]


@st.composite
def edited_files(draw: st.DrawFn) -> str:
    """A reference file after a few line edits: deleted, duplicated, moved, joined, commented out."""
    lines = draw(st.sampled_from(SMALL_SOURCES)).splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 5))):
        index = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.integers(0, 4))
        if edit == 0 and len(lines) > 1:
            del lines[index]
        elif edit == 1:
            lines.insert(index, lines[index])
        elif edit == 2:
            lines.insert(draw(st.integers(0, len(lines))), lines.pop(index))
        elif edit == 3:
            lines[index] = lines[index].rstrip("\n") + " "
        else:
            lines.insert(index, f"{draw(st.sampled_from(['', '  ', '    ']))}# {draw(COMMENT_TEXT)}\n")
    return "".join(lines)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edited_files())
def test_edited_files(text: str) -> None:
    """Whatever parses formats well; whatever does not is refused with a DslError and nothing else."""
    try:
        parse(text)
    except DslError:
        with pytest.raises(DslError):
            format_source(text)
        return
    check_format(text)


# ----------------------------------------------------------------------------- generated programs

KEYWORD_FREE_NAMES = ["taian", "xintai", "ind_va", "gdp", "x", "y2", "工业", "泰安", "新泰市", "e0001", "a_b",
                      "power_ind", "children", "parent", "province", "市领导"]
STRING_TEXT = st.lists(st.sampled_from([*'ab 泰安市%{}#:.,@()\'“”', "\\\"", "\\\\", "\\n"]),
                       max_size=12).map("".join)
COMMENT_TEXT = st.text(alphabet=st.sampled_from([*'ab 泰安 #"{}()%“\t']), max_size=15)
PUNCTUATION = {"(", ")", ",", "@", "{", "}", ":", ".", ".."}

names = st.sampled_from(KEYWORD_FREE_NAMES)
strings = STRING_TEXT.map(lambda s: f'"{s}"')
integers = st.integers(0, 3000).map(str)
numbers = st.one_of(integers, st.sampled_from(["0.1", "6.50", "3.0", "007", "12.25"]))
severities = st.sampled_from(["info", "warning", "critical"])
periods = st.sampled_from(["2026-03", "2026Q1", "2025", "2019-12"])
period_word = st.sampled_from(["period", "periods"])

Tokens = list[str]


def _join(*parts: Tokens) -> Tokens:
    return [token for part in parts for token in part]


def _separated(parts: list[Tokens], separator: str = ",") -> Tokens:
    return _join(*[[separator, *part] if index else part for index, part in enumerate(parts)])


@st.composite
def expressions(draw: st.DrawFn, depth: int = 2, level: int = 0) -> Tokens:
    """An expression following the grammar's precedence levels: or, and, not, comparison, sum, ..."""
    if level == 0 and depth > 0 and draw(st.booleans()):
        op = draw(st.sampled_from(["or", "and"]))
        return _join(draw(expressions(depth - 1, 0)), [op], draw(expressions(depth - 1, 2)))
    if level <= 2 and depth > 0 and draw(st.integers(0, 5)) == 0:
        return _join(["not"], draw(expressions(depth - 1, 2)))
    if level <= 3 and draw(st.integers(0, 3)) == 0:
        compare = draw(st.sampled_from([">", "<", ">=", "<=", "==", "!="]))
        return _join(draw(_arithmetic(depth)), [compare], draw(_arithmetic(depth)))
    return draw(_arithmetic(depth))


@st.composite
def _arithmetic(draw: st.DrawFn, depth: int) -> Tokens:
    tokens = draw(_unary(depth))
    for _ in range(draw(st.integers(0, 2 if depth else 0))):
        tokens = _join(tokens, [draw(st.sampled_from(["+", "-", "*", "/"]))], draw(_unary(depth - 1)))
    return tokens


@st.composite
def _unary(draw: st.DrawFn, depth: int) -> Tokens:
    minus = ["-"] * draw(st.integers(0, 2 if depth > 0 else 0))
    atom = draw(_atom(depth))
    at = ["@", draw(names)] if draw(st.integers(0, 4)) == 0 else []
    return minus + atom + at


@st.composite
def _atom(draw: st.DrawFn, depth: int) -> Tokens:
    choice = draw(st.integers(0, 6 if depth > 0 else 1))
    if choice == 0:
        return [draw(numbers)]
    if choice == 1:
        return [draw(names)]
    inner = expressions(depth - 1)
    if choice == 2:
        return _join(["("], draw(inner), [")"])
    if choice == 3:
        args = draw(st.lists(inner, max_size=3))
        joined = _separated(args)
        return _join([draw(st.sampled_from(["abs", "yoy", "lag", "least", "time_progress"])), "("], joined, [")"])
    if choice == 4:
        return _join(["sum", "("], draw(inner), ["over"], draw(entity_sets()), [")"])
    return [draw(names)]


@st.composite
def entity_sets(draw: st.DrawFn) -> Tokens:
    count = draw(st.integers(1, 2))
    return _separated([[draw(names), *([".", "children"] if draw(st.booleans()) else [])] for _ in range(count)])


@st.composite
def name_lists(draw: st.DrawFn) -> Tokens:
    return _separated([[n] for n in draw(st.lists(names, min_size=1, max_size=3))])


def _block(head: Tokens, clauses: list[Tokens]) -> Tokens:
    return _join(head, ["{"], *clauses, ["}"])


@st.composite
def entity_items(draw: st.DrawFn) -> Tokens:
    kind = draw(st.sampled_from(["city", "county", "zone", "enterprise", "province"]))
    head = ["entity", draw(names), draw(strings), kind] + (["in", draw(names)] if draw(st.booleans()) else [])
    attrs = draw(st.lists(st.one_of(
        st.tuples(st.just("industry"), strings), st.tuples(st.just("size"), names),
        st.tuples(st.just("above_scale"), integers), st.just(("overlay",)), st.tuples(st.just("until"), periods),
    ), max_size=4))
    return head if not draw(st.booleans()) else _block(head, [list(a) for a in attrs])


@st.composite
def indicator_items(draw: st.DrawFn) -> Tokens:
    attrs = draw(st.lists(st.one_of(
        st.tuples(st.just("unit"), strings).map(list), st.tuples(st.just("frequency"), names).map(list),
        st.tuples(st.just("form"), names).map(list), st.tuples(st.just("jan_feb"), names).map(list),
        st.tuples(st.just("prices"), names).map(list), st.just(["additive"]),
        name_lists().map(lambda n: ["tags", *n]), st.tuples(st.just("department"), strings).map(list),
        st.lists(names, min_size=1, max_size=3).map(lambda n: ["parts", *_separated([[x] for x in n], "+")]),
        integers.map(lambda n: ["release", "day", n]),
    ), max_size=6))
    return _block(["indicator", draw(names), draw(strings)], attrs)


@st.composite
def series_items(draw: st.DrawFn) -> Tokens:
    unit = ["unit", draw(strings)] if draw(st.booleans()) else []
    return _join(["series", draw(names), draw(strings)], unit, ["="], draw(expressions()))


@st.composite
def target_items(draw: st.DrawFn) -> Tokens:
    values = draw(st.lists(st.tuples(names, st.booleans(), numbers), max_size=12))
    entries = [[name, "-", value] if negative else [name, value] for name, negative, value in values]
    growth = ["growth"] if draw(st.booleans()) else []
    return _block(["target", draw(names), draw(integers), *growth], entries)


def _common_clauses() -> list[st.SearchStrategy[Tokens]]:
    return [
        severities.map(lambda s: ["severity", s]),
        st.tuples(st.sampled_from(["entity", "county", "city"]), entity_sets()).map(
            lambda a: ["each", a[0], "in", *a[1]]),
        strings.map(lambda s: ["message", s]),
        strings.map(lambda s: ["hint", s]),
    ]


@st.composite
def rule_items(draw: st.DrawFn) -> Tokens:
    clause = st.one_of(*_common_clauses(),
        st.tuples(names, name_lists()).map(lambda a: ["each", "indicator", a[0], "tagged", *a[1]]),
        st.tuples(st.one_of(st.just([]), severities.map(lambda s: [s])), expressions()).map(
            lambda a: [*a[0], "when", *a[1]]),
        st.tuples(integers, st.one_of(st.just([]), integers.map(lambda n: ["of", n])), period_word).map(
            lambda a: ["for", a[0], *a[1], a[2]]),
        st.tuples(integers, period_word).map(lambda a: ["keep", *a]),
        expressions().map(lambda e: ["recover", "when", *e]),
        expressions().map(lambda e: ["guard", *e]),
        st.lists(st.tuples(names, strings), min_size=1, max_size=3).map(
            lambda labels: ["labels", *_separated([[k, "=", v] for k, v in labels])]),
    )
    return _block(["rule", draw(names), draw(strings)], draw(st.lists(clause, max_size=6)))


@st.composite
def check_items(draw: st.DrawFn) -> Tokens:
    clause = st.one_of(*_common_clauses(),
        st.tuples(expressions(), expressions(), numbers, st.booleans()).map(
            lambda a: [*a[0], "=", *a[1], "within", a[2], *(["%"] if a[3] else [])]),
        st.tuples(name_lists(), st.one_of(st.just([]), st.tuples(integers, period_word).map(
            lambda a: ["last", *a]))).map(lambda a: ["complete", *a[0], *a[1]]),
        names.map(lambda n: ["missing", n]),
    )
    return _block(["check", draw(names), draw(strings)], draw(st.lists(clause, max_size=5)))


@st.composite
def unit_test_items(draw: st.DrawFn) -> Tokens:
    value = st.one_of(numbers.map(lambda n: [n]), numbers.map(lambda n: ["-", n]), st.just(["_"]))
    given_stmt = st.tuples(names, names, periods, st.one_of(st.just([]), periods.map(lambda p: ["..", p])),
                           st.lists(value, min_size=1, max_size=4)).map(
        lambda a: ["given", a[0], "@", a[1], a[2], *a[3], ":", *_join(*a[4])])
    states = st.sampled_from(["inactive", "pending", "firing", "resolved", "ok", "violated"])
    expect_stmt = st.tuples(names, states, names, periods, st.one_of(st.just([]), names.map(lambda n: ["on", n])),
                            st.one_of(st.just([]), severities.map(lambda s: [s]))).map(
        lambda a: ["expect", a[0], a[1], "at", a[2], a[3], *a[4], *a[5]])
    as_of = st.sampled_from(["2026-07-20", "2025-01-31"]).map(lambda d: ["as_of", d])
    stmts = draw(st.lists(st.one_of(given_stmt, expect_stmt, as_of), max_size=5))
    return _block(["test", draw(strings)], stmts)


@st.composite
def route_items(draw: st.DrawFn) -> Tokens:
    matcher = st.one_of(
        st.tuples(st.sampled_from([">=", "==", "<"]), severities).map(lambda a: ["severity", *a]),
        entity_sets().map(lambda s: ["entity", "in", *s]), names.map(lambda n: ["tag", n]),
        names.map(lambda n: ["rule", n]), st.tuples(names, strings).map(lambda a: ["label", a[0], "=", a[1]]),
    )
    durations = st.sampled_from(["30s", "5m", "4h", "1d"])
    clause = st.one_of(
        st.lists(matcher, min_size=1, max_size=3).map(lambda m: ["match", *_join(*m)]),
        name_lists().map(lambda n: ["receivers", *n]), name_lists().map(lambda n: ["group_by", *n]),
        st.tuples(st.sampled_from(["group_wait", "group_interval", "repeat_interval"]), durations).map(list),
        st.just(["continue"]),
        st.tuples(st.sampled_from(["22:00", "07:30"]), st.sampled_from(["07:00", "23:59"]),
                  st.one_of(st.just([]), severities.map(lambda s: ["except", s]))).map(
            lambda a: ["quiet", a[0], "-", a[1], *a[2]]),
    )
    return _block(["route", draw(names)], draw(st.lists(clause, max_size=5)))


@st.composite
def inhibit_items(draw: st.DrawFn) -> Tokens:
    rules = ["rules", *draw(name_lists())] if draw(st.booleans()) else []
    return ["inhibit", draw(st.sampled_from(["hierarchy", "severity"])), *rules]


@st.composite
def dashboard_items(draw: st.DrawFn) -> Tokens:
    clause = st.one_of(
        names.map(lambda n: ["chart", n]),
        st.lists(expressions(depth=1), min_size=1, max_size=3).map(lambda e: ["show", *_separated(e)]),
        entity_sets().map(lambda s: ["entities", *s]),
        st.tuples(integers, period_word).map(lambda a: ["window", *a]),
    )
    panel = st.tuples(names, strings, st.lists(clause, max_size=4)).map(
        lambda a: _block(["panel", a[0], a[1]], a[2]))
    return _block(["dashboard", draw(names), draw(strings)], draw(st.lists(panel, max_size=3)))


items = st.one_of(
    strings.map(lambda s: ["import", s]), entity_items(), indicator_items(), series_items(), target_items(),
    rule_items(), check_items(), unit_test_items(), route_items(), inhibit_items(), dashboard_items(),
)
programs = st.lists(items, max_size=5).map(lambda its: _join(*its))


@st.composite
def layouts(draw: st.DrawFn, tokens: Tokens, comments: bool = True) -> str:
    """The tokens joined by random whitespace, sometimes none, and (optionally) comments."""
    out: list[str] = []
    spaces = st.sampled_from([" ", "  ", "\n", "\n\n", "\n\n\n", "\t", " \n   ", ""])
    for index, token in enumerate(tokens):
        if index:
            space = draw(spaces)
            if not space and not ({tokens[index - 1], token} & PUNCTUATION):
                space = " "
            if comments and draw(st.integers(0, 7)) == 0:
                lead = draw(st.sampled_from(["  ", "\n", "\n\n  "]))
                space = f"{lead}# {draw(COMMENT_TEXT)}\n"
            out.append(space)
        out.append(token)
    if comments and draw(st.booleans()):
        out.append(f"\n# {draw(COMMENT_TEXT)}")
    return "".join(out)


@st.composite
def programs_with_layout(draw: st.DrawFn, comments: bool = True) -> str:
    return draw(layouts(draw(programs), comments))


@PROPERTY
@given(programs_with_layout())
def test_generated_programs(text: str) -> None:
    check_format(text)


@PROPERTY
@given(programs.flatmap(lambda tokens: st.tuples(layouts(tokens, comments=False), layouts(tokens, False))))
def test_layout_does_not_matter_without_comments_or_line_breaks(pair: tuple[str, str]) -> None:
    """Two layouts of the same tokens, flattened to one line each, format identically."""
    first, second = (re.sub(r"\s+", " ", text) for text in pair)
    assert format_source(first) == format_source(second)


@PROPERTY
@given(programs_with_layout())
def test_output_is_tidy(text: str) -> None:
    formatted = format_source(text)
    lines = formatted.splitlines()
    assert formatted == "" or (formatted.endswith("\n") and not formatted.endswith("\n\n"))
    assert all(line == line.rstrip() for line in lines), "trailing whitespace"
    assert "\n\n\n" not in formatted, "more than one blank line"
    assert not lines or lines[0].strip(), "leading blank line"
    for line in lines:
        indent = len(line) - len(line.lstrip(" "))
        assert indent % 2 == 0 and "\t" not in line[:indent]
