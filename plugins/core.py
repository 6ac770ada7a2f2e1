"""Pipeline and housekeeping commands: filter, head, tail, count, help, plugins, echo."""

from __future__ import annotations

import argparse
import operator
import re
from collections.abc import Iterable, Iterator
from typing import Any

from kmemx.commands import (
    Address,
    Context,
    Name,
    Row,
    TextLine,
    TextRecord,
    UsageError,
    arg,
    command,
    kernel_str,
    objects,
)
from kmemx.commands.discovery import loaded_plugins
from kmemx.commands.drgncode import nothing_to_translate

__all__: list[str] = []

_OPS = {"==": operator.eq, "!=": operator.ne, "<=": operator.le, ">=": operator.ge,
        "<": operator.lt, ">": operator.gt}
_EXPR = re.compile(r"^\s*([\w.\[\]%]+)\s*(==|!=|<=|>=|<|>|~|!~)\s*(.*?)\s*$")


def _value(item: Any, field: str) -> Any:
    if isinstance(item, Row):
        for c in item.columns:
            if c.lower() == field.lower():
                return item[c]
        item = item.obj
    elif isinstance(item, TextRecord):
        data = item.data if isinstance(item.data, dict) else (item.data[:1] or [{}])[0]
        for key, value in data.items():
            if key.lower() == field.lower():
                return value
        item = item.obj
    v = item
    for part in field.split("."):
        v = getattr(v, part)
    if hasattr(v, "string") and callable(v.string):
        try:
            return kernel_str(v.string())
        except Exception:
            pass
    return v


def _coerce(field: str, want: str, have: Any) -> Any:
    """``want`` as a number when the item's value is one."""
    if isinstance(have, (int, float)) and not isinstance(have, bool):
        try:
            return int(want, 0)
        except ValueError:
            try:
                return float(want)
            except ValueError:
                raise UsageError(f"filter: {field} is a number; {want!r} is not") from None
    return want


@command("filter", "keep the piped objects or rows that match COLUMN OP VALUE",
         description="""
         OP is one of == != < > <= >= and ~ / !~ (regular expression match).
         COLUMN is a column of the rows (case-insensitive) or a member path of
         the objects: ps | filter comm~^kmx | filter state==S
         """, arguments=[arg("expr", nargs="+", help="COLUMN OP VALUE")], takes_input=True,
         drgn_code=nothing_to_translate(
             "filter keeps the items before it that match, in Python: "
             "[r for r in rows if re.search(VALUE, str(r.COLUMN))]"))
def _filter(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    m = _EXPR.match(" ".join(args.expr))
    if not m:
        raise UsageError(f"filter: cannot parse {' '.join(args.expr)!r}; use COLUMN OP VALUE")
    field, op, want = m.groups()
    try:
        rx = re.compile(want) if op in ("~", "!~") else None
    except re.error as e:
        raise UsageError(f"filter: bad regular expression {want!r}: {e}") from None
    for item in input:
        try:
            have = _value(item, field)
        except (AttributeError, KeyError):
            raise UsageError(f"filter: no column or member '{field}'") from None
        if rx is not None:
            ok = bool(rx.search(str(have)))
            if (op == "~") == ok:
                yield item
        elif _OPS[op](have, _coerce(field, want, have)):
            yield item


def _line_count(text: str) -> int:
    """head's and tail's N: ``N``, or ``-N`` as Unix head and tail take it
    (``ps | tail -3``: the last three, as crash's shell pipe gives)."""
    if not re.fullmatch(r"-?\d+", text.strip()):
        raise argparse.ArgumentTypeError(f"not a count: {text!r}")
    return abs(int(text))


_COUNT_ARGS = [arg("n", nargs="?", type=_line_count, metavar="N|-N",
                   help="how many (default 10)"),
               arg("-n", dest="lines", type=_line_count, metavar="N", help="the same")]


@command("head", "the first N piped items (default 10)", arguments=_COUNT_ARGS,
         takes_input=True, drgn_code=nothing_to_translate("head N is items[:N] in Python"))
def _head(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    n = _count_of(args)
    for i, item in enumerate(input):
        if i >= n:
            return
        yield item


def _count_of(args: argparse.Namespace) -> int:
    n: int | None = args.lines if args.lines is not None else args.n
    return 10 if n is None else n


@command("tail", "the last N piped items (default 10)", arguments=_COUNT_ARGS,
         takes_input=True, drgn_code=nothing_to_translate("tail N is items[-N:] in Python"))
def _tail(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    n = _count_of(args)
    items = list(input)
    yield from items[-n:] if n else []


@command("count", "count the piped items", takes_input=True, columns=("COUNT",),
         drgn_code=nothing_to_translate("count is len(items) in Python"))
def _count(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    yield Row(("COUNT",), (sum(1 for _ in input),))


@command("echo", "turn addresses into objects for a pipeline (sdb's echo)",
         description="echo 0xffff888003a1c000 | cast 'struct task_struct *'",
         arguments=[arg("addresses", nargs="+", type="addr")],
         drgn_code=nothing_to_translate("echo passes its addresses on; in drgn: "
                                        "Object(prog, 'void *', ADDRESS)"))
def _echo(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    for a in args.addresses:
        yield Address(a)


@command("cast", "view piped addresses as TYPE (a struct or a pointer to one)",
         arguments=[arg("type", help="e.g. 'struct task_struct *'")], takes_input=True,
         drgn_code=nothing_to_translate("cast views each address as TYPE; in drgn: "
                                        "Object(prog, TYPE, address=ADDRESS)"))
def _cast(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    t = args.type.strip()
    if t.endswith("*"):
        t = t[:-1].strip()
    for item in objects(input):
        a = int(getattr(item, "address", item))
        yield ctx.k.view(t, a)


@command("help", "list commands, or show one command's manual",
         arguments=[arg("command", nargs="?")], columns=("COMMAND", "DESCRIPTION"),
         drgn_code=nothing_to_translate("help reads kmemx's command table, not the kernel"))
def _help(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    if args.command:
        yield TextLine(ctx.registry.lookup(args.command).help())
        return
    for c in ctx.registry.enabled(ctx.prog):
        name = c.name + (f" ({', '.join(c.aliases)})" if c.aliases else "")
        yield Row(("COMMAND", "DESCRIPTION"), (Name(name), c.summary), c)


@command("plugins", "list loaded plugins and where they come from",
         columns=("PLUGIN", "SOURCE", "STATUS", "COMMANDS"),
         drgn_code=nothing_to_translate("plugins lists kmemx's plugins, not the kernel"))
def _plugins(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    by_module: dict[str, list[str]] = {}
    for c in ctx.registry.commands.values():
        by_module.setdefault(c.plugin, []).append(c.name)
    for p in loaded_plugins():
        module = p.source.split(":")[0]
        cmds = by_module.get(module) or by_module.get(f"kmemx_user_plugin_{p.name}") or []
        yield Row(("PLUGIN", "SOURCE", "STATUS", "COMMANDS"),
                  (Name(p.name), p.source, "ok" if p.ok else f"failed: {p.error}",
                   " ".join(sorted(cmds))))
