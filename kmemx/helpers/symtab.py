"""Address-to-symbol lookups for many addresses: ``prog.symbol(address)``'s
answer, from a table sorted by address.

drgn 0.3.0's ELF symbol finder scans a module's whole symbol table on every
lookup by address (libdrgn/elf_symtab.c, drgn_elf_symbol_table_search():
130,000 symbols on Debian's 6.1 vmlinux, ~3 ms a call).  ``dis`` names every
instruction, branch target and RIP-relative operand, so it asks thousands of
times.  :func:`symbol_containing` answers from the program's symbols
(``prog.symbols()``, every enabled finder's, read once) sorted by address:

- the answer only changes where some symbol starts or ends, so the address
  space is cut at every symbol's start and end into intervals over which
  drgn's answer is constant;
- in an interval inside a module (drgn searches the symbol table of the
  module holding the address only) that a sized symbol covers, the answer is drgn's rule for
  several symbols containing the address (better_addr_match(): the closest
  start, then the smallest size, then GLOBAL/UNIQUE over WEAK over LOCAL),
  without section, file and TLS symbols, which drgn skips for address
  searches;
- anywhere else it asks drgn; a sized answer holds for the interval, any
  other (drgn's "sizeless" symbols of hand-written assembly, which hold up to
  the next symbol within their section, gaps, addresses outside every
  module) for that address only.

The table is rebuilt when the enabled symbol finders change (the module
kallsyms finder of :mod:`kmemx.helpers.kallsyms` is registered late).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from operator import attrgetter

import drgn

__all__ = ["SymbolTable", "symbol_containing", "symbol_table"]

_CACHE_KEY = "kmemx.helpers.symtab.table"
_LOOKUPS_KEY = "kmemx.helpers.symtab.lookups"
#: distinct addresses asked of drgn directly before the table is read (the
#: table costs about as much as 100 of drgn's lookups: 0.3 s on 6.1)
_DIRECT = 100
#: how many symbols that start before an address are looked at for one that
#: contains it before asking drgn (nested symbols are rare; a gap between
#: symbols would otherwise scan far back)
_SCAN_BACK = 64
#: symbols drgn never returns for an address (elf_symtab.c: STT_SECTION,
#: STT_FILE, STT_TLS are skipped for address searches)
_SKIPPED_KINDS = (drgn.SymbolKind.SECTION, drgn.SymbolKind.FILE, drgn.SymbolKind.TLS)
_PRECEDENCE = {drgn.SymbolBinding.GLOBAL: 3, drgn.SymbolBinding.UNIQUE: 3,
               drgn.SymbolBinding.WEAK: 2}


@dataclass
class SymbolTable:
    """A program's symbols sorted by address, and the answers found so far."""

    #: the enabled symbol finders the table was read with
    finders: tuple[str, ...]
    #: sized symbols sorted by (address, size), in the finders' order within
    starts: list[int]
    symbols: list[drgn.Symbol]
    #: every symbol's start and end, sorted: the interval boundaries
    bounds: list[int]
    #: interval index -> the sized symbol for addresses in it
    answers: dict[int, drgn.Symbol] = field(default_factory=dict)
    #: address -> drgn's answer where it was no sized symbol: drgn's sizeless
    #: symbols and "no symbol" also depend on module and section bounds,
    #: which are not interval bounds here
    exact: dict[int, drgn.Symbol | None] = field(default_factory=dict)


def symbol_table(prog: drgn.Program) -> SymbolTable:
    """The sorted symbol table of ``prog``, read on first use and cached in
    ``prog.cache["kmemx.helpers.symtab.table"]``; read again when the enabled
    symbol finders changed since."""
    finders = tuple(prog.enabled_symbol_finders())
    table: SymbolTable | None = prog.cache.get(_CACHE_KEY)
    if table is not None and table.finders == finders:
        return table
    import numpy as np

    everything = prog.symbols()
    n = len(everything)
    # attribute reads of 130,000 drgn.Symbol objects are the cost here: only
    # address and size for all (kind and binding, which build enums, only
    # for the few symbols an address search looks at)
    addresses = np.fromiter(map(attrgetter("address"), everything), dtype=np.uint64, count=n)
    sizes = np.fromiter(map(attrgetter("size"), everything), dtype=np.uint64, count=n)
    order = np.lexsort((sizes, addresses))
    order = order[sizes[order] > 0]
    # repeated boundaries are harmless: bisect_right lands on the run's end
    bounds = np.sort(np.concatenate((addresses, addresses + sizes))).tolist()
    table = SymbolTable(finders, addresses[order].tolist(),
                        [everything[i] for i in order.tolist()], bounds)
    prog.cache[_CACHE_KEY] = table
    return table


def _best_sized(table: SymbolTable, address: int) -> drgn.Symbol | None:
    """drgn's choice among the sized symbols containing ``address``, or None
    when none of the nearest ``_SCAN_BACK`` before it does."""
    i = bisect.bisect_right(table.starts, address) - 1
    best: drgn.Symbol | None = None
    for j in range(i, max(-1, i - _SCAN_BACK), -1):
        s = table.symbols[j]
        if best is not None and s.address < best.address:
            break  # only symbols starting where the best does can beat it
        if address - s.address >= s.size or s.kind in _SKIPPED_KINDS:
            continue
        # walking back is walking to earlier entries of the symbol table: on
        # a tie drgn keeps the one it met first (better_addr_match() is strict)
        if best is None or s.size < best.size or (
                s.size == best.size and _PRECEDENCE.get(s.binding, 1)
                >= _PRECEDENCE.get(best.binding, 1)):
            best = s
    return best


@dataclass
class _Lookups:
    finders: tuple[str, ...]
    #: address -> answer, for the first lookups (before the table pays off)
    direct: dict[int, drgn.Symbol | None] = field(default_factory=dict)


def _drgn_symbol(prog: drgn.Program, address: int) -> drgn.Symbol | None:
    try:
        return prog.symbol(address)
    except LookupError:
        return None


def symbol_containing(prog: drgn.Program, address: int) -> drgn.Symbol | None:
    """``prog.symbol(address)`` (``address``: ``unsigned long``), or None where
    that raises LookupError.  The first ``_DIRECT`` distinct addresses of a
    program are asked of drgn (and remembered); after that the answers come
    from :func:`symbol_table`: the same symbol, at a bisect's cost instead of
    a scan of the symbol table per call (drgn 0.3.0, libdrgn/elf_symtab.c).
    Raises nothing else."""
    finders = tuple(prog.enabled_symbol_finders())
    table: SymbolTable | None = prog.cache.get(_CACHE_KEY)
    if table is None or table.finders != finders:
        lookups: _Lookups | None = prog.cache.get(_LOOKUPS_KEY)
        if lookups is None or lookups.finders != finders:
            lookups = prog.cache[_LOOKUPS_KEY] = _Lookups(finders)
        try:
            return lookups.direct[address]
        except KeyError:
            pass
        if len(lookups.direct) < _DIRECT:
            sym = lookups.direct[address] = _drgn_symbol(prog, address)
            return sym
        table = symbol_table(prog)
    k = bisect.bisect_right(table.bounds, address) - 1
    try:
        return table.answers[k]
    except KeyError:
        pass
    try:
        return table.exact[address]
    except KeyError:
        pass
    sym = None
    try:
        prog.module(address)  # drgn's ELF finder answers inside a module only
        sym = _best_sized(table, address)
    except LookupError:
        pass
    if sym is None:
        sym = _drgn_symbol(prog, address)
    if sym is not None and sym.size:
        table.answers[k] = sym
    else:
        table.exact[address] = sym
    return sym
