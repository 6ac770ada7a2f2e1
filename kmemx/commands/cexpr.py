"""C expressions as crash's ``p`` hands them to gdb: symbols, numbers, gdb's
value history (``$``, ``$N``), member access (``.``, ``->``), subscripts,
casts to any type drgn can name, ``sizeof``, unary ``& * - + ~ !`` and the
binary operators ``* / % + - << >> < > <= >= == != & ^ | && ||`` with C's
precedence, through drgn's :class:`drgn.Object` arithmetic (C's usual
arithmetic conversions, pointer arithmetic scaled by the target's size,
``void *`` by bytes as GNU C and gdb do).

drgn 0.3.0 has no evaluator of its own (its crash ``p`` takes
``symbol[.member]`` only: "It does not support arbitrary expressions yet"),
so this is a small recursive-descent parser over drgn's objects.  Each
value comes with the drgn code that computes it, so ``p --drgn`` prints the
same computation as Python.

Differences from gdb's C parser: no assignment, no function calls, no
ternary, no string literals; a cast to a function-pointer type is refused
(drgn's type-name parser has none).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import drgn

from .errors import CommandError

__all__ = ["CValue", "evaluate_c"]

#: one token: a number (C suffixes), a character literal, a history reference,
#: a name, or an operator (longest first)
_TOKEN = re.compile(r"""\s*(?:
    (?P<num>0[xX][0-9a-fA-F]+[uUlL]*|[0-9]+[uUlL]*)
  | (?P<chr>'(?:\\[0-7]{1,3}|\\.|[^\\'])')
  | (?P<hist>\$[0-9]*)
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>->|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^~!()\[\].<>])
)""", re.X)

#: words that start a type name in a cast or ``sizeof(...)``
_TYPE_WORDS = frozenset({
    "struct", "union", "enum", "unsigned", "signed", "int", "long", "short", "char",
    "void", "const", "volatile", "_Bool", "bool", "float", "double"})

#: binary operators by precedence, loosest first (C11 6.5.5-6.5.14)
_LEVELS: tuple[tuple[str, ...], ...] = (
    ("||",), ("&&",), ("|",), ("^",), ("&",), ("==", "!="), ("<", ">", "<=", ">="),
    ("<<", ">>"), ("+", "-"), ("*", "/", "%"))

_ARITH: dict[str, Callable[[drgn.Object, drgn.Object], drgn.Object]] = {
    "*": operator.mul, "/": operator.truediv, "%": operator.mod, "+": operator.add,
    "-": operator.sub, "<<": operator.lshift, ">>": operator.rshift, "&": operator.and_,
    "^": operator.xor, "|": operator.or_}

_UNARY: dict[str, Callable[[drgn.Object], drgn.Object]] = {
    "-": operator.neg, "+": operator.pos, "~": operator.invert}

_COMPARE: dict[str, Callable[[drgn.Object, drgn.Object], bool]] = {
    "<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne}

_ESCAPES = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11, "0": 0}


@dataclass(frozen=True)
class CValue:
    """An evaluated expression: the drgn object and the drgn code (an
    expression over ``prog``) that computes it."""

    obj: drgn.Object
    code: str


def _strip(t: drgn.Type) -> drgn.Type:
    while t.kind == drgn.TypeKind.TYPEDEF:
        t = t.type
    return t


class _Parser:
    def __init__(self, prog: drgn.Program, text: str, history: Sequence[drgn.Object],
                 lookup: Callable[[str], drgn.Object], lowest: int) -> None:
        self.prog = prog
        self.text = text
        self.history = history
        self.lookup = lookup
        self.lowest = lowest
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if not text[pos:].strip():
                break
            m = _TOKEN.match(text, pos)
            if m is None or m.lastgroup is None:
                raise CommandError(f"p: {text}: cannot parse at {text[pos:].strip()!r}")
            self.tokens.append((m.lastgroup, m.group(m.lastgroup)))
            pos = m.end()
        self.pos = 0

    # -- tokens
    def peek(self, n: int = 0) -> tuple[str, str]:
        i = self.pos + n
        return self.tokens[i] if i < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        self.pos += 1
        return tok

    def expect(self, op: str) -> None:
        kind, text = self.take()
        if text != op or kind != "op":
            raise CommandError(f"p: {self.text}: expected {op!r}, not {text or 'the end'!r}")

    # -- values
    def rvalue(self, v: CValue) -> CValue:
        """An array as a pointer to its first element, a function as a
        pointer to it (C11 6.3.2.1)."""
        t = _strip(v.obj.type_)
        if t.kind not in (drgn.TypeKind.ARRAY, drgn.TypeKind.FUNCTION):
            self.read(v)
        if t.kind == drgn.TypeKind.ARRAY and v.obj.address_ is not None:
            ptr = self.prog.pointer_type(t.type)
            return CValue(drgn.Object(self.prog, ptr, v.obj.address_),
                          f"{v.code}[0].address_of_()")
        if t.kind == drgn.TypeKind.FUNCTION and v.obj.address_ is not None:
            return CValue(v.obj.address_of_(), f"{v.code}.address_of_()")
        return v

    def read(self, v: CValue) -> CValue:
        """``v`` about to be read: an object in user space (reached through
        a NULL or user pointer) is gdb's memory error, never a read of what
        a QEMU dump maps at that virtual address; taking its address
        (``&*ptr``) reads nothing and is allowed."""
        address = v.obj.address_
        if address is not None and address < self.lowest:
            raise drgn.FaultError("Cannot access memory at address", address)
        return v

    def deref(self, v: CValue) -> CValue:
        t = _strip(v.obj.type_)
        if t.kind == drgn.TypeKind.ARRAY:
            return CValue(v.obj[0], f"{v.code}[0]")
        if t.kind == drgn.TypeKind.FUNCTION:
            return v
        if t.kind != drgn.TypeKind.POINTER:
            raise CommandError(f"p: {self.text}: attempt to take contents of a non-pointer value")
        if _strip(t.type).kind == drgn.TypeKind.VOID:
            raise CommandError(f"p: {self.text}: attempt to take contents of a void pointer")
        self.read(v)
        if _strip(t.type).kind == drgn.TypeKind.FUNCTION:
            return CValue(drgn.Object(self.prog, t.type, address=int(v.obj.value_())),
                          f"Object(prog, {v.code}.type_.type, address={v.code}.value_())")
        return CValue(v.obj[0], f"{v.code}[0]")

    def member(self, v: CValue, name: str, arrow: bool) -> CValue:
        t = _strip(v.obj.type_)
        if t.kind == drgn.TypeKind.POINTER:  # gdb follows a pointer for '.' too
            self.read(v)
            obj = v.obj
        elif arrow:
            raise CommandError(f"p: {self.text}: '->' of a {v.obj.type_.type_name()}, "
                               "not a pointer")
        else:
            obj = v.obj
        try:
            return CValue(obj.member_(name), f"{v.code}.member_({name!r})")
        except (LookupError, TypeError) as e:
            raise CommandError(f"p: {self.text}: {e}") from None

    def type_at(self, start: int, end: int) -> drgn.Type | None:
        """The type named by tokens [start, end), or None when they are no
        type name."""
        words = self.tokens[start:end]
        if not words or words[0][0] != "id":
            return None
        first = words[0][1]
        if first not in _TYPE_WORDS:
            try:
                self.prog.type(first)
            except LookupError:
                return None
        name = " ".join(text for _, text in words)
        try:
            return self.prog.type(name)
        except (LookupError, SyntaxError, ValueError) as e:
            raise CommandError(f"p: {self.text}: no type {name!r}: {e}") from None

    def closing(self) -> int:
        """The index of the ')' matching the '(' at self.pos."""
        depth = 0
        for i in range(self.pos, len(self.tokens)):
            kind, text = self.tokens[i]
            if kind == "op" and text in "([":
                depth += 1
            elif kind == "op" and text in ")]":
                depth -= 1
                if not depth:
                    return i
        raise CommandError(f"p: {self.text}: unbalanced parentheses")

    def literal(self, value: int, type_name: str, hexa: bool = False) -> CValue:
        return CValue(drgn.Object(self.prog, type_name, value),
                      f"Object(prog, {type_name!r}, {value:#x})" if hexa else
                      f"Object(prog, {type_name!r}, {value})")

    def number(self, text: str) -> CValue:
        """An integer constant's value and type (C11 6.4.4.1: the first of
        int, long (and for hex and octal their unsigned twins) that holds it;
        gdb's unsigned long beyond long)."""
        digits = text.rstrip("uUlL")
        suffix = text[len(digits):].lower()
        base = 16 if digits[:2].lower() == "0x" else 8 if digits.startswith("0") and len(
            digits) > 1 else 10
        value = int(digits, base)
        candidates = ["int", "unsigned int", "long", "unsigned long"]
        if "l" in suffix:
            candidates = candidates[2:]
        if "u" in suffix:
            candidates = [c for c in candidates if c.startswith("unsigned")]
        elif base == 10:
            candidates = [c for c in candidates if not c.startswith("unsigned")]
        for name in candidates:
            size = drgn.sizeof(self.prog.type(name)) * 8
            limit = 1 << (size if name.startswith("unsigned") else size - 1)
            if value < limit:
                return self.literal(value, name, base == 16)
        if value < 1 << 64:
            return self.literal(value, "unsigned long", base == 16)
        raise CommandError(f"p: {self.text}: numeric constant too large")

    # -- grammar
    def primary(self) -> CValue:
        kind, text = self.take()
        if kind == "num":
            return self.number(text)
        if kind == "chr":
            body = text[1:-1]
            if body.startswith("\\"):
                esc = body[1:]
                value = int(esc, 8) if esc[0] in "01234567" else _ESCAPES.get(esc, ord(esc))
            else:
                value = ord(body)
            return self.literal(value, "char")
        if kind == "hist":
            n = len(self.history) if text == "$" else int(text[1:])
            if not 1 <= n <= len(self.history):
                raise CommandError(f"p: {self.text}: history has no value {text}"
                                   if self.history else f"p: {self.text}: history is empty")
            return CValue(self.history[n - 1], f"history[{n - 1}]")
        if kind == "id":
            if text == "sizeof":
                self.pos -= 1
                return self.unary()
            return CValue(self.lookup(text), f"prog[{text!r}]")
        if text == "(":
            v = self.expression()
            self.expect(")")
            return v
        raise CommandError(f"p: {self.text}: unexpected {text or 'end of expression'!r}")

    def postfix(self) -> CValue:
        v = self.primary()
        while True:
            kind, text = self.peek()
            if kind != "op":
                return v
            if text in (".", "->"):
                self.take()
                k, name = self.take()
                if k != "id":
                    raise CommandError(f"p: {self.text}: a member name after {text!r}")
                v = self.member(v, name, text == "->")
            elif text == "[":
                self.take()
                index = self.expression()
                self.expect("]")
                t = _strip(v.obj.type_)
                if t.kind not in (drgn.TypeKind.ARRAY, drgn.TypeKind.POINTER):
                    raise CommandError(f"p: {self.text}: cannot subscript a "
                                       f"{v.obj.type_.type_name()}")
                i = int(self.read(index).obj.value_())
                if t.kind == drgn.TypeKind.POINTER:
                    self.read(v)
                v = CValue(v.obj[i], f"{v.code}[{index.code}]")
            else:
                return v

    def unary(self) -> CValue:
        kind, text = self.peek()
        if kind == "id" and text == "sizeof":
            self.take()
            if self.peek() == ("op", "("):
                end = self.closing()
                t = self.type_at(self.pos + 1, end)
                if t is not None:
                    self.pos = end + 1
                    return CValue(drgn.Object(self.prog, "unsigned long", drgn.sizeof(t)),
                                  f"Object(prog, 'unsigned long', sizeof(prog.type("
                                  f"{t.type_name()!r})))")
            v = self.unary()
            return CValue(drgn.Object(self.prog, "unsigned long", drgn.sizeof(v.obj)),
                          f"Object(prog, 'unsigned long', sizeof({v.code}))")
        if kind != "op":
            return self.postfix()
        if text == "(":
            end = self.closing()
            t = self.type_at(self.pos + 1, end)
            if t is not None:
                self.pos = end + 1
                v = self.rvalue(self.unary())
                try:
                    obj = drgn.cast(t, v.obj)
                except (TypeError, ValueError) as e:
                    raise CommandError(f"p: {self.text}: {e}") from None
                return CValue(obj, f"cast({t.type_name()!r}, {v.code})")
            return self.postfix()
        if text in ("-", "+", "~", "!", "*", "&"):
            self.take()
            v = self.unary()
            if text == "&":
                if v.obj.address_ is None or v.obj.bit_field_size_ is not None:
                    raise CommandError(f"p: {self.text}: attempt to take address of value "
                                       "not located in memory")
                return CValue(v.obj.address_of_(), f"{v.code}.address_of_()")
            if text == "*":
                return self.deref(v)
            v = self.rvalue(v)
            try:
                if text == "!":
                    return CValue(drgn.Object(self.prog, "int", int(not v.obj)),
                                  f"Object(prog, 'int', int(not {v.code}))")
                return CValue(_UNARY[text](v.obj), f"({text}{v.code})")
            except TypeError as e:
                raise CommandError(f"p: {self.text}: {e}") from None
        return self.postfix()

    def binary(self, level: int) -> CValue:
        if level == len(_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while True:
            kind, text = self.peek()
            if kind != "op" or text not in _LEVELS[level]:
                return left
            self.take()
            right = self.binary(level + 1)
            left = self.apply(text, self.rvalue(left), self.rvalue(right))

    def apply(self, op: str, a: CValue, b: CValue) -> CValue:
        try:
            if op in ("&&", "||"):
                value = (bool(a.obj) and bool(b.obj)) if op == "&&" else (
                    bool(a.obj) or bool(b.obj))
                word = "and" if op == "&&" else "or"
                return CValue(drgn.Object(self.prog, "int", int(value)),
                              f"Object(prog, 'int', int(bool({a.code}) {word} "
                              f"bool({b.code})))")
            if op in _COMPARE:
                return CValue(drgn.Object(self.prog, "int", int(_COMPARE[op](a.obj, b.obj))),
                              f"Object(prog, 'int', int({a.code} {op} {b.code}))")
            code_op = "/" if op == "/" else op
            return CValue(_ARITH[op](a.obj, b.obj), f"({a.code} {code_op} {b.code})")
        except ZeroDivisionError:
            raise CommandError(f"p: {self.text}: division by zero") from None
        except (TypeError, ValueError) as e:
            raise CommandError(f"p: {self.text}: {e}") from None

    def expression(self) -> CValue:
        return self.binary(0)


def evaluate_c(prog: drgn.Program, text: str, history: Sequence[drgn.Object] = (),
               lookup: Callable[[str], drgn.Object] | None = None,
               lowest: int = 0) -> CValue:
    """Evaluate the C expression ``text`` (gdb's ``print EXPRESSION``).

    :param prog: the program whose symbols and types the names are.
    :param text: the expression, e.g. ``((struct task_struct *)ADDR)->pid``,
        ``sizeof(struct page)``, ``&init_task.tasks``, ``jiffies + 1``.
    :param history: gdb's value history: ``$N`` is ``history[N - 1]``, ``$``
        the last.
    :param lookup: a name's object (default ``prog[name]``); it raises
        :class:`CommandError` for an unknown name.
    :param lowest: the lowest address a pointer may be followed to (the
        start of the kernel's half of the address space): following a
        lower one raises drgn.FaultError, as gdb's memory error.
    :returns: the value and the drgn code computing it (names ``prog``,
        ``Object``, ``cast``, ``sizeof`` and ``history``).
    :raises CommandError: text that does not parse, an unknown name, type or
        member, an operation C does not allow on the operands.
    :raises drgn.FaultError: a pointer that cannot be followed.
    """
    def default(name: str) -> drgn.Object:
        try:
            return prog[name]
        except KeyError:
            raise CommandError(f"p: no symbol {name!r} in current context") from None

    parser = _Parser(prog, text, history, lookup or default, lowest)
    if not parser.tokens:
        raise CommandError("p: an expression is needed")
    value = parser.expression()
    kind, rest = parser.peek()
    if kind != "end":
        raise CommandError(f"p: {text}: unexpected {rest!r}")
    return parser.read(value)
