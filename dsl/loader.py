"""Rule files to a checked model: follow imports, parse every file, check them together."""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable, Iterable, Iterator

from dsl import ast
from dsl.checker import check
from dsl.errors import Diagnostic, DslError
from dsl.model import Model
from dsl.parser import parse

Reader = Callable[[str], str]


def _read_utf8(path: str) -> str:
    # The one file access of the language package: reading the rule files it is asked to load.
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def expand(paths: Iterable[str]) -> list[str]:
    """Directories stand for every `.rules` file below them, in name order."""
    found: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            for root, _dirs, files in sorted(os.walk(path)):
                found.extend(os.path.join(root, f) for f in sorted(files) if f.endswith(".rules"))
        else:
            found.append(path)
    return found


def rule_sets(paths: Iterable[str]) -> list[list[str]]:
    """The separate rule sets that paths name. A directory with no rule files of its own but subdirectories
    that have some (`rules/`, holding `taian/` and `shandong/`) stands for one set per subdirectory: two
    regions' systems are not one model. All other paths together form one set."""
    together: list[str] = []
    separate: list[list[str]] = []
    for path in paths:
        subsets = _subdirectory_sets(path)
        if subsets:
            separate.extend([subset] for subset in subsets)
        else:
            together.append(path)
    return ([together] if together else []) + separate


def _subdirectory_sets(path: str) -> list[str]:
    if not os.path.isdir(path) or any(name.endswith(".rules") for name in os.listdir(path)):
        return []
    children = (os.path.join(path, name) for name in sorted(os.listdir(path)))
    return [child for child in children if os.path.isdir(child) and expand([child])]


@contextlib.contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """Parsing allocates hundreds of thousands of small objects that all stay alive: cyclic garbage
    collection passes over them find nothing, yet cost a third of the load time of a large rule set."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load(paths: Iterable[str], reader: Reader = _read_utf8) -> Model:
    """Load rule files and everything they import. Raises DslError with every problem in every file."""
    with _no_gc_pauses():
        return _load(paths, reader)


def _load(paths: Iterable[str], reader: Reader) -> Model:
    files: list[ast.RuleFile] = []
    sources: dict[str, str] = {}
    diagnostics: list[Diagnostic] = []
    broken: set[str] = set()
    queue = [(os.path.normpath(p), None) for p in expand(paths)]
    while queue:
        path, importer = queue.pop(0)
        if path in sources:
            continue
        text = _read(path, importer, reader, diagnostics)
        if text is None:
            continue
        sources[path] = text
        try:
            parsed = parse(text, path)
        except DslError as error:
            diagnostics.extend(error.diagnostics)
            broken |= error.broken_names
            if error.partial is None:
                continue
            parsed = error.partial
        files.append(parsed)
        for item in parsed.items:
            if isinstance(item, ast.Import):
                target = os.path.normpath(os.path.join(os.path.dirname(path), item.path))
                queue.append((target, item))
    if diagnostics:
        try:
            check(files, sources, broken)
        except DslError as error:
            diagnostics.extend(d for d in error.diagnostics if d not in diagnostics)
        raise DslError(diagnostics, sources)
    return check(files, sources)


def _read(path: str, importer: ast.Import | None, reader: Reader, diagnostics: list[Diagnostic]) -> str | None:
    try:
        return reader(path)
    except (OSError, UnicodeDecodeError) as error:
        span = importer.span if importer is not None else ast.Span.unknown(path)
        reason = "is not UTF-8 text" if isinstance(error, UnicodeDecodeError) else "cannot be read"
        diagnostics.append(Diagnostic(span, f"rule file `{path}` {reason}",
                                      "check the path; imports are relative to the importing file"))
        return None


def load_text(text: str, path: str = "<string>") -> Model:
    """Check a single self-contained rule text (no imports)."""
    return check([parse(text, path)], {path: text})
