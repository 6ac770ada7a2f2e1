"""The REPL's prompt_toolkit completer.

What is completed where:

* Python names (keywords, the namespace, builtins);
* after ``expr.``: struct members of drgn Objects and kmemx views, from type
  information only (see :mod:`.members`), then methods;
* kernel symbols inside ``prog["...``, ``prog.symbol("...``, ``k.object("...``
  and after ``%`` commands that take symbols (``%sym``, ``%rd``...);
* type names after ``struct ``/``union ``/``enum `` anywhere, and inside
  ``prog.type("...`` and ``k.view("...``;
* after ``%``: command names, their options, and their arguments: member
  paths in crash's ``struct TYPE.member.sub,other`` syntax;
* the arguments of a command typed without ``%`` (``struct task_struct.se.``)
  when Python completion offers nothing there.

Completion never raises, never reads kernel memory and is time-bounded
(``budget`` seconds, 40 ms by default): whatever is found by then is offered.
It runs on prompt_toolkit's completion thread; it uses the program only while
holding the REPL's program lock, and offers nothing if the lock is busy
(input is running) rather than wait.
"""

from __future__ import annotations

import builtins
import keyword
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import drgn
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from .catalog import CommandCatalog
from .members import _compound_of, attribute_names, parse_chain, resolve_chain
from .names import NameSource

__all__ = ["Candidate", "ReplCompleter", "candidates"]

Candidate = tuple[str, int, str]  # (text, start_position (<= 0), meta)

_SYMBOL_CALL = re.compile(
    r"""(?P<recv>[A-Za-z_][\w.]*?)\s*(?:\[|\.(?P<meth>object|symbol|variable|function|constant|view|type)\()\s*(?P<q>["'])(?P<word>[^"'\s]*)$""")
_TAGGED = re.compile(r"(?:^|[^\w.])(?P<tag>struct|union|enum)\s+(?P<word>\w*)$")
_ATTR = re.compile(
    r"""(?:^|(?<=[^\w.\]\)'"]))(?P<expr>[A-Za-z_]\w*(?:\s*\[[^\[\]]*\]|\.[A-Za-z_]\w*)*)\.(?P<attr>\w*)$""")
_NAME = re.compile(r"(?:^|(?<=[^\w.'\"]))(?P<word>[A-Za-z_]\w*)$")
_CMD_WORD = re.compile(r"(?P<word>[^\s|!'\"]*)$")


class _Deadline:
    def __init__(self, budget: float) -> None:
        self.end = time.monotonic() + budget

    def expired(self) -> bool:
        return time.monotonic() > self.end


def _in_string(line: str) -> str | None:
    """The quote character of a string left open in ``line``, if any."""
    quote: str | None = None
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return "#"
        i += 1
    return quote


def _python_names(namespace: Mapping[str, Any], word: str) -> list[Candidate]:
    out: dict[str, str] = {}
    for kw in keyword.kwlist:
        if kw.startswith(word):
            out[kw] = "keyword"
    for ns in (builtins.__dict__, namespace):
        for name, value in list(ns.items()):
            if name.startswith(word) and (word.startswith("_") or not name.startswith("_")):
                out[name] = type(value).__name__
    return [(n, -len(word), m) for n, m in sorted(out.items())]


def _symbol_candidates(names: NameSource, word: str) -> list[Candidate]:
    return [(s, -len(word), "symbol") for s in names.symbols(word)]


def _type_candidates(names: NameSource, tag: str, word: str) -> list[Candidate]:
    return [(t, -len(word), tag) for t in names.types(tag, word)]


def _python(text: str, namespace: Mapping[str, Any], names: NameSource,
            deadline: _Deadline) -> list[Candidate]:
    line = text.rsplit("\n", 1)[-1]
    open_quote = _in_string(line)
    if open_quote == "#":
        return []
    m = _TAGGED.search(line)
    if m:
        return _type_candidates(names, m.group("tag"), m.group("word"))
    if open_quote:
        m = _SYMBOL_CALL.search(line)
        if not m:
            return []
        word, meth = m.group("word"), m.group("meth")
        if meth in ("type", "view"):
            out = [(f"{tag} ", -len(word), "keyword") for tag in ("struct", "union", "enum")
                   if tag.startswith(word)]
            return out + _type_candidates(names, "typedef", word)
        recv = parse_chain(m.group("recv"))
        res = resolve_chain(recv, namespace) if recv else None
        obj = res.obj if res is not None else None
        from ..kernel import Kernel

        if isinstance(obj, drgn.Program) or (isinstance(obj, Kernel) and meth == "object"):
            return _symbol_candidates(names, word)
        return []
    m = _ATTR.search(line)
    if m:
        steps = parse_chain(m.group("expr"))
        if steps is None:
            return []
        res = resolve_chain(steps, namespace)
        if res is None or deadline.expired():
            return []
        attr = m.group("attr")
        out = []
        for name, meta in attribute_names(res):
            # Python's dunders only when asked for; struct members like
            # __state always
            dunder = name.startswith("__") and name.endswith("__")
            if name.startswith(attr) and (attr.startswith("_") or not dunder):
                out.append((name, -len(attr), meta))
        return out
    m = _NAME.search(line)
    if m:
        return _python_names(namespace, m.group("word"))
    return []


def _split_command(line: str) -> tuple[list[str], str, bool]:
    """Words of the current pipeline stage before the word being typed, that
    word, and whether the stage is a shell command (after ``!``)."""
    quote: str | None = None
    stage_start = 0
    shell = False
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "|":
            stage_start = i + 1
        elif ch == "!":
            shell = True
            stage_start = i + 1
    stage = line[stage_start:]
    m = _CMD_WORD.search(stage)
    word = m.group("word") if m else ""
    before = stage[: len(stage) - len(word)]
    return before.split(), word, shell


def _member_path_candidates(names: NameSource, tag: str, word: str) -> list[Candidate]:
    """Members after ``TYPE.`` in crash's ``struct TYPE.m1,m2.sub`` syntax:
    the members of the type the path before the last dot names (through
    pointers, anonymous members opened, as :func:`.members.attribute_names`
    lists them), from type information only."""
    from ..types.layout import layout_for

    tname, _, paths = word.partition(".")
    *outer, leaf = paths.split(",")[-1].split(".")
    prog = names.prog
    t: drgn.Type | None = None
    for candidate in (f"{tag} {tname}", f"union {tname}", tname):
        try:
            t = prog.type(candidate)
            break
        except (LookupError, SyntaxError):
            continue
    for step in outer:
        s = _compound_of(t) if t is not None else None
        m = layout_for(prog, s).members.get(step) if s is not None else None
        t = m.type if m is not None else None
    s = _compound_of(t) if t is not None else None
    if s is None:
        return []
    return [(name, -len(leaf), m.type.type_name())
            for name, m in layout_for(prog, s).members.items() if name.startswith(leaf)]


def _command(text: str, catalog: CommandCatalog, names: NameSource) -> list[Candidate]:
    line = text.lstrip()
    if "\n" in line or not line.startswith("%"):
        return []
    line = line[1:]
    words, word, shell = _split_command(line)
    if shell:
        return []
    if not words:
        return [(n, -len(word), s) for n, s in catalog.complete_names(word)]
    info = catalog.get(words[0])
    if info is None:
        return []
    if word.startswith("-"):
        return [(o, -len(word), h) for o, h in info.options() if o.startswith(word)]
    m = _TAGGED.search(" ".join(words) + " " + word)
    if m and m.group("word") == word:
        return _type_candidates(names, m.group("tag"), word)
    positional = [w for w in words[1:] if not w.startswith("-")]
    kind = info.arg_kind(len(positional), words[-1] if len(words) > 1 else "")
    if kind.startswith("type:") and "." in word:
        return _member_path_candidates(names, kind.split(":", 1)[1], word)
    if kind.startswith("type:"):
        tag = kind.split(":", 1)[1]
        out = _type_candidates(names, tag, word)
        if info.name in ("whatis", "ptype"):
            out += _symbol_candidates(names, word)
        return out
    if kind == "symbol":
        return _symbol_candidates(names, word)
    return []


def candidates(text: str, namespace: Mapping[str, Any], names: NameSource,
               catalog: CommandCatalog, budget: float = 0.04) -> list[Candidate]:
    """Completions for the text before the cursor (never raises)."""
    deadline = _Deadline(budget)
    try:
        if text.lstrip().startswith("%"):
            return _command(text, catalog, names)
        found = _python(text, namespace, names, deadline)
        words = text.split(None, 1)
        if not found and len(words) > 1 and catalog.get(words[0]) is not None:
            # a command typed without % (the REPL runs ``struct T.m`` as one
            # when Python would not): its arguments complete as after %
            return _command("%" + text.lstrip(), catalog, names)
        return found
    except Exception:
        return []


class ReplCompleter(Completer):
    """prompt_toolkit adapter over :func:`candidates` (run it through a
    ``ThreadedCompleter`` so that typing never waits for it)."""

    def __init__(self, namespace: Mapping[str, Any], names: NameSource,
                 catalog: CommandCatalog, budget: float = 0.04, limit: int = 500,
                 lock: threading.Lock | None = None) -> None:
        self.namespace = namespace
        self.names = names
        self.catalog = catalog
        self.budget = budget
        self.limit = limit
        self.lock = lock if lock is not None else names.lock

    def get_completions(self, document: Document,
                        complete_event: CompleteEvent) -> Iterator[Completion]:
        start_time = time.monotonic()
        if not self.lock.acquire(timeout=self.budget / 4):
            return
        try:
            found: Iterable[Candidate] = candidates(
                document.text_before_cursor, self.namespace, self.names, self.catalog,
                self.budget)
        finally:
            self.lock.release()
        end = start_time + self.budget
        for i, (text, start, meta) in enumerate(found):
            if i >= self.limit or (i % 64 == 63 and time.monotonic() > end):
                return
            yield Completion(text, start_position=start, display_meta=meta)
