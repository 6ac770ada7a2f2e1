"""kmemx.helpers.symtab.symbol_containing() against drgn's prog.symbol():
the same answer for every instruction, branch target and RIP-relative
operand of a few routines, and for addresses around symbols' starts and ends
(per-CPU offsets, gaps, the ends of sized symbols, module text)."""

from __future__ import annotations

import random

import drgn
import pytest

import kmemx
from kmemx.helpers.disasm import disassemble
from kmemx.helpers.kallsyms import use_module_kallsyms
from kmemx.helpers.symtab import symbol_containing, symbol_table
from tests.fixtures.fixture import Fixture

pytestmark = pytest.mark.vmcore


def _drgn(prog: drgn.Program, address: int) -> drgn.Symbol | None:
    try:
        return prog.symbol(address)
    except LookupError:
        return None


@pytest.fixture(scope="module")
def prog(fixture: Fixture) -> drgn.Program:
    k = kmemx.open(fixture.core("elf"), fixture.vmlinux)
    use_module_kallsyms(k.prog)
    return k.prog


def test_instructions_and_targets(prog: drgn.Program) -> None:
    addrs: set[int] = set()
    for name in ("schedule", "panic", "entry_SYSCALL_64", "copy_process"):
        try:
            sym = prog.symbol(name)
        except LookupError:
            continue
        for insn in disassemble(prog, sym.address, end=sym.address + sym.size):
            addrs.add(insn.address)
            addrs.update(a for a in (insn.target, insn.rip_target) if a is not None)
    symbol_table(prog)  # past the first lookups asked of drgn directly
    assert len(addrs) > 300
    for a in sorted(addrs):
        assert symbol_containing(prog, a) == _drgn(prog, a), hex(a)


def test_around_symbols(prog: drgn.Program) -> None:
    syms = prog.symbols()
    rnd = random.Random(6)
    addrs = []
    for s in rnd.sample(syms, 150):
        addrs += [s.address, s.address - 1, s.address + s.size,
                  s.address + rnd.randrange(s.size or 1)]
    symbol_table(prog)
    for a in addrs:
        a &= 2**64 - 1
        assert symbol_containing(prog, a) == _drgn(prog, a), hex(a)


def test_no_symbol_between_and_past_the_modules(fixture: Fixture) -> None:
    """An address where only a module can be (x86-64's module area) but in no
    module's memory region has no symbol, as crash's value_search() says
    ("symbol not found"): ``sym`` is one error line, ``rd -s`` prints the
    word in hex.  drgn sizes a module's last text symbol up to the module's
    whole size counted from its text, which since 6.4 (separate mem[]
    regions; 7.2.13's execmem caches) runs past the text into pages no
    module owns; a word there is not that symbol plus an offset."""
    from kmemx.commands import CommandError, execute
    from kmemx.helpers.kallsyms import module_of_address, module_span

    k = kmemx.open(fixture.core("elf"), fixture.vmlinux)
    regions = use_module_kallsyms(k.prog).regions
    if not regions:
        pytest.skip("no modules in this dump")
    start, end = module_span(k.prog)
    addr = max(e for _s, e, _n in regions) + 0x10  # past the highest module region
    assert start <= addr < end or addr >= end
    assert module_of_address(k.prog, addr) is None
    if addr < end:
        with pytest.raises(CommandError, match="no symbol"):
            list(execute(k, f"sym {addr:x}"))
    # a word holding such an address: rd -s prints it in hex
    word = next(a for a in range(regions[0][0], regions[0][1], 8)
                if module_of_address(k.prog, a))
    from tests.vmcore.test_counts import patched_u64

    with patched_u64(k, word, addr):
        line = next(iter(execute(k, f"rd -s {word:x} 1")))
    assert f"{addr:016x}" in line, line


def test_a_module_region_start_is_named_by_its_own_region(fixture: Fixture) -> None:
    """The start of a module memory region before its first symbol is named
    by no symbol of another region (7.2.13: dummy's rodata start was
    ``__this_module+7808``, a data symbol of the region below): each region's
    start has no symbol, or one at or above that start."""
    from kmemx_plugins.lists import ksymbol_at

    k = kmemx.open(fixture.core("elf"), fixture.vmlinux)
    regions = use_module_kallsyms(k.prog).regions
    if not regions:
        pytest.skip("no modules in this dump")
    for start, _end, name in regions:
        found = ksymbol_at(k.prog, start)
        assert found is None or (found[1] == name and found[0].address >= start), \
            (hex(start), name, found)


def test_a_return_address_at_a_functions_end_is_named_by_it(fixture: Fixture) -> None:
    """A return address after a call that never returns can lie one byte
    past its function's ELF symbol (7.2.13: ``panic+107``, panic being 107
    bytes): ``dis`` names it and ``dis -r`` reaches it, as crash does."""
    from kmemx_plugins.dis import symbol_offset

    from kmemx.commands import execute

    k = kmemx.open(fixture.core("elf"), fixture.vmlinux)
    sym = k.prog.symbol("panic")
    end = sym.address + sym.size
    if symbol_containing(k.prog, end) is not None:
        pytest.skip("panic's end is another symbol's start here")
    assert symbol_offset(k.prog, end) == (sym, sym.size)
    last = list(execute(k, f"dis -r {end:x}"))[-1]
    assert last.startswith(f"{end:#x} <panic+{sym.size}>:"), last
