"""Cached name lists for completion: kernel symbols and type names.

Building the symbol list takes ~100 ms on a distribution vmlinux, more than a
keystroke may cost, so :meth:`NameSource.warm` builds the lists on a
background thread when the REPL starts; until they are ready, completion
offers no names rather than waiting.  Lookups are prefix searches with
:mod:`bisect` on sorted lists.

libdrgn is not thread-safe (drgn releases the GIL while indexing), so the
builder holds ``lock`` -- the REPL's program lock, which the REPL holds while
it runs input -- whenever it calls into the program.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["NameSource", "prefix_matches"]

TAGS = ("struct", "union", "enum", "typedef")


def prefix_matches(names: Sequence[str], prefix: str, limit: int = 1000) -> Iterator[str]:
    """Names of the sorted list ``names`` that start with ``prefix`` (at most ``limit``)."""
    i = bisect.bisect_left(names, prefix)
    n = len(names)
    end = min(n, i + limit)
    while i < end:
        name = names[i]
        if not name.startswith(prefix):
            return
        yield name
        i += 1


class NameSource:
    """Symbol and type names of one program, built once off the main thread.

    ``symbols_fn(prog)`` and ``types_fn(prog, tag)`` default to
    :func:`kmemx.symbols.symbol_names` and :func:`kmemx.symbols.type_names`;
    tests pass their own.
    """

    def __init__(self, prog: Any,
                 symbols_fn: Callable[[Any], Sequence[str]] | None = None,
                 types_fn: Callable[[Any, str], Sequence[str]] | None = None,
                 lock: threading.Lock | None = None,
                 on_ready: Callable[[], object] | None = None) -> None:
        self.prog = prog
        self.lock = lock if lock is not None else threading.Lock()
        self.on_ready = on_ready
        self._symbols_fn = symbols_fn
        self._types_fn = types_fn
        self._symbols: list[str] | None = None
        self._plain: list[str] | None = None
        self._types: dict[str, list[str]] | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.error: str | None = None

    # -- building ---------------------------------------------------------------------
    def _build(self) -> None:
        try:
            sym_fn = self._symbols_fn
            types_fn = self._types_fn
            if sym_fn is None or types_fn is None:
                from ..symbols import symbol_names, type_names

                sym_fn = sym_fn or symbol_names
                types_fn = types_fn or type_names
            with self.lock:
                types = {tag: sorted(types_fn(self.prog, tag)) for tag in TAGS}
            self._types = types
            with self.lock:
                raw = sym_fn(self.prog)
            syms = sorted(raw)
            # File symbols ("init_task.c") and compiler clones ("foo.cold") are
            # not names prog[...] accepts; they are offered only when the
            # typed prefix has a dot.
            self._plain = [s for s in syms if "." not in s]
            self._symbols = syms
        except Exception as e:  # completion must never fail: no names instead
            self.error = f"{type(e).__name__}: {e}"
            self._types = self._types or {tag: [] for tag in TAGS}
            self._plain = self._plain or []
            self._symbols = self._symbols or []
        if self.on_ready is not None:
            try:
                self.on_ready()
            except Exception as e:
                self.error = f"{type(e).__name__}: {e}"

    def warm(self, wait: bool = False) -> None:
        """Start building the lists in the background (once); ``wait`` joins."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._build, name="kmemx-names",
                                                daemon=True)
                self._thread.start()
            thread = self._thread
        if wait:
            thread.join()

    @property
    def ready(self) -> bool:
        return self._symbols is not None and self._types is not None

    # -- lookups (never block) ------------------------------------------------------------
    def symbols(self, prefix: str, limit: int = 1000) -> list[str]:
        """Symbols starting with ``prefix``; [] while the list is being built."""
        if self._symbols is None or self._plain is None:
            self.warm()
            return []
        names = self._symbols if "." in prefix else self._plain
        return list(prefix_matches(names, prefix, limit))

    def types(self, tag: str, prefix: str, limit: int = 1000) -> list[str]:
        """Type names of ``tag`` (struct, union, enum, typedef) starting with ``prefix``."""
        if self._types is None:
            self.warm()
            return []
        return list(prefix_matches(self._types.get(tag, []), prefix, limit))
