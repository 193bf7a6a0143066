"""Derived-feature expressions outside Flink: a small, checked subset of Flink SQL.

A ``Derived`` feature is a Flink SQL expression the streaming job evaluates. Read-time features
(``common.features.read_time``) evaluate it again, in Python and in the Go feature server, over
the aggregates at the read time. Both read this module's tree, not SQL text, so the subset is
defined once, here:

- numbers (``2``, ``0.5``, ``0E0``), feature names (bare or backquoted), parentheses;
- ``+ - * /`` and unary minus; ``NULLIF(a, b)``, ``COALESCE(a, ...)``, ``ABS(a)``,
  ``CAST(a AS DOUBLE)``.

Values are doubles; null propagates through arithmetic; ``x / 0`` is IEEE (``±inf``, ``nan``),
as in the job. A ``/`` whose both sides are integers is refused: Flink divides integers
integrally, and a served value must not depend on which runtime computed it.

The tree is JSON: ``{"op": "num", "value": 0.0}``, ``{"op": "ref", "name": "n"}``,
``{"op": "/", "args": [a, b]}`` with ops ``+ - * / neg nullif coalesce abs``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from common.features.definitions import DefinitionError

Node = dict[str, Any]

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|`(?P<quoted>[A-Za-z_][A-Za-z0-9_]*)`|(?P<op>[-+*/(),]))"
)
_FUNCTIONS = {"NULLIF": (2, 2), "COALESCE": (1, 99), "ABS": (1, 1)}
SUBSET = (
    "numbers, feature names, + - * / and unary minus, NULLIF, COALESCE, ABS, "
    "CAST(... AS DOUBLE), parentheses"
)


class _Parser:
    def __init__(self, text: str, integer_refs: frozenset[str], where: str) -> None:
        self.where = where
        self.integer_refs = integer_refs
        self.tokens: list[tuple[str, str]] = []
        position = 0
        text = text.rstrip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if not match or match.end() == position:
                self.fail(f"cannot read {text[position : position + 20]!r}")
            assert match is not None
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0

    def fail(self, message: str) -> None:
        raise DefinitionError(f"{self.where}: {message}; read-time features support {SUBSET}")

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.index] if self.index < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if value is not None and token[1].upper() != value:
            self.fail(f"expected {value!r}, found {token[1] or 'the end'!r}")
        self.index += 1
        return token

    def parse(self) -> tuple[Node, bool]:
        node = self.sum()
        if self.peek()[0] != "end":
            self.fail(f"unexpected {self.peek()[1]!r}")
        return node

    def sum(self) -> tuple[Node, bool]:
        left = self.product()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.take()[1]
            right = self.product()
            left = ({"op": op, "args": [left[0], right[0]]}, left[1] and right[1])
        return left

    def product(self) -> tuple[Node, bool]:
        left = self.unary()
        while self.peek() in (("op", "*"), ("op", "/")):
            op = self.take()[1]
            right = self.unary()
            if op == "/" and left[1] and right[1]:
                self.fail(
                    "both sides of '/' are integers (Flink would divide integrally); "
                    "CAST one side AS DOUBLE"
                )
            left = ({"op": op, "args": [left[0], right[0]]}, left[1] and right[1])
        return left

    def unary(self) -> tuple[Node, bool]:
        if self.peek() == ("op", "-"):
            self.take()
            inner = self.unary()
            return {"op": "neg", "args": [inner[0]]}, inner[1]
        if self.peek() == ("op", "+"):
            self.take()
            return self.unary()
        return self.primary()

    def primary(self) -> tuple[Node, bool]:
        kind, value = self.take()
        if kind == "num":
            integer = re.fullmatch(r"\d+", value) is not None
            return {"op": "num", "value": float(value)}, integer
        if kind == "quoted":
            return {"op": "ref", "name": value}, value in self.integer_refs
        if kind == "op" and value == "(":
            inner = self.sum()
            self.take(")")
            return inner
        if kind == "name":
            upper = value.upper()
            if upper == "CAST":
                self.take("(")
                inner = self.sum()
                self.take("AS")
                self.take("DOUBLE")
                self.take(")")
                return inner[0], False
            if upper in _FUNCTIONS and self.peek() == ("op", "("):
                self.take("(")
                args = [self.sum()]
                while self.peek() == ("op", ","):
                    self.take()
                    args.append(self.sum())
                self.take(")")
                low, high = _FUNCTIONS[upper]
                if not low <= len(args) <= high:
                    self.fail(f"{upper} takes {low}..{high} arguments, got {len(args)}")
                return (
                    {"op": upper.lower(), "args": [a[0] for a in args]},
                    all(a[1] for a in args),
                )
            return {"op": "ref", "name": value}, value in self.integer_refs
        self.fail(f"unexpected {value or 'end'!r}")
        raise AssertionError("unreachable")


def parse(text: str, integer_refs: frozenset[str] = frozenset(), where: str = "") -> Node:
    """The tree of ``text``; ``integer_refs`` are the names whose values are integers.

    Raises:
        DefinitionError: ``text`` is outside the subset (the message names ``where``).
    """
    return _Parser(text, integer_refs, where or f"expression {text!r}").parse()[0]


def references(node: Node) -> set[str]:
    """The feature names a tree reads."""
    if node["op"] == "ref":
        return {node["name"]}
    found: set[str] = set()
    for arg in node.get("args", ()):
        found |= references(arg)
    return found


def evaluate(node: Node, values: Mapping[str, float | int | None]) -> float | None:
    """The value of a tree over ``values`` (feature name → value; None is null)."""
    op = node["op"]
    if op == "num":
        return float(node["value"])
    if op == "ref":
        value = values[node["name"]]
        return None if value is None else float(value)
    args = node["args"]
    if op == "coalesce":
        for arg in args:
            found = evaluate(arg, values)
            if found is not None:
                return found
        return None
    first = evaluate(args[0], values)
    if op == "nullif":
        second = evaluate(args[1], values)
        return None if first is not None and second is not None and first == second else first
    if first is None:
        return None
    if op == "neg":
        return -first
    if op == "abs":
        return abs(first)
    second = evaluate(args[1], values)
    if second is None:
        return None
    if op == "+":
        return first + second
    if op == "-":
        return first - second
    if op == "*":
        return first * second
    if op == "/":
        return _divide(first, second)
    raise ValueError(f"unknown op {op!r}")


def _divide(a: float, b: float) -> float:
    if b != 0:
        return a / b
    if a == 0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)
