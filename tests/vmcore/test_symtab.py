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
