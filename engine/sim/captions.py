"""Captions that never announce what does not happen: conditions and templates on a run's counters.

A timeline entry's ``caption_if`` is a small expression over the run's observed counters at the
moment the entry fires (``"liquidations > 0"``, ``"unintended.thin-book >= 5 and brake == 0"``); the
entry's ``caption`` shows when it holds, its ``caption_else`` (possibly empty) when not. A caption
can also quote the counters: ``"{unintended.corrupt} accounts liquidated on the corrupted numbers"``.

The grammar (no ``eval``, nothing but these)::

    expr    := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := value (("==" | "!=" | "<" | "<=" | ">" | ">=") value)?
    value   := NAME | INTEGER | "(" expr ")"

A NAME is one of :data:`NAMES`, or ``unintended.ID`` (liquidations inside the window of the fault
with that timeline id, so far) or ``since.ID`` (liquidations since the entry with that id fired).
A comparison is true or false (1 or 0); a bare value is true when it is not 0.
"""

from __future__ import annotations

import re

from ..errors import PerpdeskError

#: the counters a condition or a template may name (ScenarioRun.counters() computes them)
NAMES: dict[str, str] = {
    "liquidations": "liquidation events so far (one per account and market cut)",
    "accounts_liquidated": "distinct accounts liquidated so far",
    "unintended": "liquidations inside any fault's window so far",
    "deleverages": "auto-deleverage events so far",
    "socialized_losses": "socialized-loss events so far",
    "oracle_rejected": "oracle prices the guard rails refused so far",
    "quarantined": "market-data loads the guard rails quarantined so far",
    "safeguard_events": "guard-rail events of every kind so far",
    "refunds_proposed": "refunds proposed so far",
    "refunds_approved": "refunds approved so far",
    "refunds_paid": "refunds paid so far",
    "brake": "1 while the emergency brake is engaged, else 0",
    "rollbacks": "rollbacks done so far",
    "safeguards": "1 when the guard rails are on, else 0",
}
#: per-entry counters: ``unintended.ID`` (a fault's id) and ``since.ID`` (any entry's id)
PREFIXES = ("unintended.", "since.")

_TOKEN = re.compile(r"\s*(?:(?P<int>\d+)|(?P<op>==|!=|<=|>=|<|>|\(|\))|(?P<name>[A-Za-z_][A-Za-z0-9_.-]*))")
_FIELD = re.compile(r"\{([^{}]*)\}")
_OPS = ("==", "!=", "<=", ">=", "<", ">")
_WORDS = ("and", "or", "not")


class ConditionError(PerpdeskError, ValueError):
    """A condition or a template that cannot be used (the message says why)."""

    code = "bad_condition"


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ConditionError(f"cannot read {text[pos:].strip()[:20]!r} in {text!r} (names, integers, "
                                 "==, !=, <, <=, >, >=, and, or, not, parentheses)")
        pos = m.end()
        kind = m.lastgroup or ""
        val = m.group(kind)
        if kind == "name" and val in _WORDS:
            kind = "word"
        out.append((kind, val))
    if not out:
        raise ConditionError("an empty condition")
    return out


def _check_name(name: str, text: str) -> None:
    if name in NAMES:
        return
    for p in PREFIXES:
        if name.startswith(p) and len(name) > len(p):
            return
    raise ConditionError(f"unknown name {name!r} in {text!r}; names: {', '.join(NAMES)}, "
                         "unintended.ID, since.ID")


# a parsed condition: ("int", n) | ("name", s) | ("cmp", op, a, b) | ("and"|"or", a, b) | ("not", a)
Node = tuple


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        t = self.peek()
        if t is None:
            raise ConditionError(f"{self.text!r} ends too early")
        self.i += 1
        return t

    def parse(self) -> Node:
        node = self.expr()
        if self.peek() is not None:
            raise ConditionError(f"unexpected {self.peek()[1]!r} in {self.text!r}")  # type: ignore[index]
        return node

    def expr(self) -> Node:
        node = self.conj()
        while self.peek() == ("word", "or"):
            self.take()
            node = ("or", node, self.conj())
        return node

    def conj(self) -> Node:
        node = self.neg()
        while self.peek() == ("word", "and"):
            self.take()
            node = ("and", node, self.neg())
        return node

    def neg(self) -> Node:
        if self.peek() == ("word", "not"):
            self.take()
            return ("not", self.neg())
        return self.compare()

    def compare(self) -> Node:
        left = self.value()
        t = self.peek()
        if t is not None and t[0] == "op" and t[1] in _OPS:
            self.take()
            return ("cmp", t[1], left, self.value())
        return left

    def value(self) -> Node:
        kind, val = self.take()
        if kind == "int":
            return ("int", int(val))
        if kind == "name":
            _check_name(val, self.text)
            return ("name", val)
        if (kind, val) == ("op", "("):
            node = self.expr()
            if self.take() != ("op", ")"):
                raise ConditionError(f"a '(' without its ')' in {self.text!r}")
            return node
        raise ConditionError(f"expected a name, an integer or '(' in {self.text!r}, got {val!r}")


def parse_condition(text: str) -> Node:
    """The parsed condition, or :class:`ConditionError` saying what is wrong."""
    if not isinstance(text, str):
        raise ConditionError(f"a condition is a string such as \"liquidations > 0\", got {text!r}")
    return _Parser(text).parse()


def names_in(node: Node) -> list[str]:
    if node[0] == "name":
        return [node[1]]
    if node[0] == "int":
        return []
    return [n for child in node[1:] if isinstance(child, tuple) for n in names_in(child)]


def evaluate(node: Node, counters: dict[str, int]) -> int:
    kind = node[0]
    if kind == "int":
        return node[1]
    if kind == "name":
        return int(counters.get(node[1], 0))
    if kind == "not":
        return int(not evaluate(node[1], counters))
    if kind == "and":
        return int(bool(evaluate(node[1], counters)) and bool(evaluate(node[2], counters)))
    if kind == "or":
        return int(bool(evaluate(node[1], counters)) or bool(evaluate(node[2], counters)))
    a, b = evaluate(node[2], counters), evaluate(node[3], counters)
    op = node[1]
    return int(a == b if op == "==" else a != b if op == "!=" else a < b if op == "<" else a <= b if op == "<="
               else a > b if op == ">" else a >= b)


def holds(text: str, counters: dict[str, int]) -> bool:
    return bool(evaluate(parse_condition(text), counters))


def template_names(text: str) -> list[str]:
    return [m.group(1).strip() for m in _FIELD.finditer(text)]


def check_template(text: str) -> None:
    """A caption's ``{name}`` fields must be counters (a stray brace is refused, not printed)."""
    for name in template_names(text):
        _check_name(name, text)
    rest = _FIELD.sub("", text)
    if "{" in rest or "}" in rest:
        raise ConditionError(f"unbalanced braces in {text!r} (a field is {{name}})")


def fill(text: str, counters: dict[str, int]) -> str:
    return _FIELD.sub(lambda m: f"{int(counters.get(m.group(1).strip(), 0)):,}", text)


__all__ = ["NAMES", "PREFIXES", "ConditionError", "check_template", "evaluate", "fill", "holds", "names_in",
           "parse_condition", "template_names"]
