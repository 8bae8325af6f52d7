"""The Taishan rule language: text in, a checked model or precise errors out."""

from dsl.checker import check
from dsl.errors import Diagnostic, DslError
from dsl.loader import load, load_text
from dsl.model import Model
from dsl.parser import parse

__all__ = ["Diagnostic", "DslError", "Model", "check", "load", "load_text", "parse"]
