"""Diagnostics: the one error type that leaves the parser and the checker."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from dsl.ast import Span


@dataclass(frozen=True)
class Diagnostic:
    span: Span
    message: str
    suggestion: str | None = None
    severity: str = "error"

    def render(self, source: str | None = None) -> str:
        """`path:line:col: error: message`, the source line, a caret, and the suggestion."""
        head = f"{self.span.path}:{self.span.line}:{self.span.column}: {self.severity}: {self.message}"
        lines = [head]
        if source is not None:
            source_lines = source.splitlines()
            if 1 <= self.span.line <= len(source_lines):
                text = source_lines[self.span.line - 1]
                lines.append(f"    {text}")
                width = 1
                if self.span.end_line == self.span.line and self.span.end_column > self.span.column:
                    width = self.span.end_column - self.span.column
                lines.append("    " + _caret_padding(text, self.span.column - 1) + "^" * max(width, 1))
        if self.suggestion:
            lines.append(f"    = help: {self.suggestion}")
        return "\n".join(lines)


def _caret_padding(text: str, column: int) -> str:
    """Pad with the same whitespace, and double width under wide (CJK) characters."""
    pad = []
    for ch in text[:column]:
        if ch == "\t":
            pad.append("\t")
        elif _is_wide(ch):
            pad.append("  ")
        else:
            pad.append(" ")
    return "".join(pad)


def _is_wide(ch: str) -> bool:
    import unicodedata

    return unicodedata.east_asian_width(ch) in ("W", "F")


class DslError(Exception):
    """Every problem found in a set of rule files, in source order."""

    def __init__(self, diagnostics: Iterable[Diagnostic], sources: dict[str, str] | None = None):
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.span.path, d.span.line, d.span.column))
        self.sources = sources or {}
        self.partial = None  # from the parser: the items of the file that did parse
        self.broken_names: set[str] = set()  # names whose definitions failed to parse
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(d.render(self.sources.get(d.span.path)) for d in self.diagnostics)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean `{matches[0]}`?" if matches else None
