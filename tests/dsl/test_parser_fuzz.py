"""Property: whatever the input, `dsl.parser.parse` returns a RuleFile or raises DslError, nothing else.

Three sources of input: arbitrary text, mutations of the reference example in docs/language.md, and
random sequences of the grammar's own tokens. If `dsl.checker` exists, parse + check must keep the
same promise.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dsl import ast
from dsl.errors import DslError
from dsl.parser import _lark, parse

ROOT = Path(__file__).resolve().parents[2]
DOC_EXAMPLE = "\n".join(re.findall(r"```\n(.*?)```", (ROOT / "docs" / "language.md").read_text("utf-8"), re.S))
PATH = "fuzz.rules"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYWORDS = sorted({t.pattern.value for t in _lark().terminals if t.pattern.type == "str"})
SAMPLES = [
    "taian", "xintai", "ind_va", "gdp", "x", "工业", "泰安市", "children", "parent", "province", "_", "e0001",
    '"泰安市"', '"%"', '""', '"a\\"b"', '"{entity}{ind_va:.1f}"', "0", "5", "6.5", "2026", "1200", "0.1",
    "2026-03", "2026Q1", "2026-07-20", "30s", "5m", "4h", "22:00", "07:00", ">=", "<=", "==", "!=", ">", "<",
    "*", "/", "#", "# a comment\n", "“", "”", "'", "\\", ";", "[", "]", "\t", "\r\n", "\x00", "\u3000",
]
TOKENS = KEYWORDS + SAMPLES
NASTY_CHARS = list('{}()[]"“”‘’\'#@.,:;%-+*/<>=!_\\ \n\t\r\x00\x0b\x0c\u2028\u3000') + list("0123456789") + list(
    "aexz_泰安市工业增加值")


def parse_or_dsl_error(text: str) -> ast.RuleFile | None:
    """Parse; a DslError is fine but must be well formed. Any other exception fails the test."""
    try:
        return parse(text, PATH)
    except DslError as error:
        assert error.diagnostics, "a DslError without diagnostics"
        for diagnostic in error.diagnostics:
            assert diagnostic.span.path == PATH
            assert diagnostic.span.line >= 1 and diagnostic.span.column >= 1
            assert diagnostic.render(text).startswith(f"{PATH}:{diagnostic.span.line}:")
        assert str(error)
        return None


# ----------------------------------------------------------------------------- strategies

nasty_text = st.text(alphabet=st.sampled_from(NASTY_CHARS), max_size=300)
any_text = st.text(max_size=300)


@st.composite
def mutated_example(draw: st.DrawFn) -> str:
    """The reference example with a few random deletions, insertions, duplications and swaps."""
    text = DOC_EXAMPLE
    for _ in range(draw(st.integers(1, 4))):
        text = draw(_mutation(text))
    return text


def _mutation(text: str) -> st.SearchStrategy[str]:
    n = len(text)
    position = st.integers(0, n)
    span = st.tuples(position, st.integers(0, 60)).map(lambda p: (p[0], min(n, p[0] + p[1])))
    insert = st.sampled_from([*TOKENS, " ", "\n", "{", "}", '"'])
    return st.one_of(
        span.map(lambda s: text[:s[0]] + text[s[1]:]),
        st.tuples(position, insert).map(lambda a: text[:a[0]] + a[1] + text[a[0]:]),
        st.tuples(position, insert).map(lambda a: text[:a[0]] + " " + a[1] + " " + text[a[0]:]),
        st.tuples(span, position).map(lambda a: text[:a[1]] + text[a[0][0]:a[0][1]] + text[a[1]:]),
        st.tuples(span, span).map(lambda a: _swap(text, *sorted([a[0], a[1]]))),
    )


def _swap(text: str, first: tuple[int, int], second: tuple[int, int]) -> str:
    if first[1] > second[0]:
        return text
    return (text[:first[0]] + text[second[0]:second[1]] + text[first[1]:second[0]]
            + text[first[0]:first[1]] + text[second[1]:])


token_soup = st.lists(
    st.tuples(st.sampled_from(TOKENS), st.sampled_from([" ", " ", "\n", ""])), max_size=80,
).map(lambda pairs: "".join(token + space for token, space in pairs))

item_soup = st.lists(
    st.tuples(st.sampled_from(["entity", "indicator", "series", "target", "rule", "check", "test", "route",
                               "inhibit", "dashboard", "import"]),
              st.lists(st.sampled_from(TOKENS), max_size=15)),
    max_size=8,
).map(lambda items: "\n".join(head + " " + " ".join(body) for head, body in items))


# ----------------------------------------------------------------------------- properties


@FUZZ
@given(any_text)
@example("")
@example("\x00")
@example("{" * 50)
@example('rule r "R" {')
@example('"unterminated')
@example("entity a “A” city")
def test_arbitrary_text(text: str) -> None:
    parse_or_dsl_error(text)


@FUZZ
@given(nasty_text)
def test_text_from_grammar_characters(text: str) -> None:
    parse_or_dsl_error(text)


@FUZZ
@given(mutated_example())
def test_mutated_reference_example(text: str) -> None:
    parse_or_dsl_error(text)


@FUZZ
@given(token_soup)
def test_random_token_sequences(text: str) -> None:
    parse_or_dsl_error(text)


@FUZZ
@given(item_soup)
def test_random_items(text: str) -> None:
    parse_or_dsl_error(text)


def test_reference_example_parses() -> None:
    """The mutations start from a valid file."""
    assert len(parse(DOC_EXAMPLE, PATH).items) == 22


@pytest.mark.parametrize("text", [
    'entity e "E" enterprise { above_scale ' + "9" * 400 + " }",
    'rule r "R" { for ' + "9" * 400 + " periods }",
    'rule r "R" { keep ' + "9" * 400 + " periods }",
    'test "t" { given x@a 2026-03: ' + "9" * 400 + " }",
])
def test_huge_numbers(text: str) -> None:
    parse_or_dsl_error(text)


@pytest.mark.parametrize("text", [
    'series s "S" = ' + " + ".join(["a"] * 2000),
    'series s "S" = ' + "not " * 2000 + "x",
    'series s "S" = ' + "-" * 2000 + "x",
    'series s "S" = ' + "abs(" * 1000 + "x" + ")" * 1000,
    'rule r "R" { when ' + " and ".join(["a > 1"] * 2000) + " }",
], ids=["long-sum", "nested-not", "nested-minus", "nested-calls", "long-and"])
def test_deeply_nested_expressions(text: str) -> None:
    parse_or_dsl_error(text)


# ----------------------------------------------------------------------------- parse + check


def _checker():
    return pytest.importorskip("dsl.checker")


def _parse_and_check(text: str) -> None:
    checker = _checker()
    rule_file = parse_or_dsl_error(text)
    if rule_file is None:
        return
    try:
        checker.check([rule_file])
    except DslError as error:
        assert error.diagnostics


@FUZZ
@given(mutated_example())
def test_check_mutated_reference_example(text: str) -> None:
    _parse_and_check(text)


@FUZZ
@given(item_soup)
def test_check_random_items(text: str) -> None:
    _parse_and_check(text)


def test_check_reference_example() -> None:
    _parse_and_check(DOC_EXAMPLE)
