"""gdb's (binutils i386-dis.c's) spelling of redundant REX prefixes in
kmemx's disassembly, on fixed instruction bytes: no dump needed.

The bytes are those ``dis (schedule+0x10) 3`` decodes on a 6.12 dump: the
address is inside ``mov %gs:DISP(%rip),%rbx``, so the disassembly starts in
its 32-bit displacement, whose high bytes depend on the KASLR offset.  When
they are REX bytes (0x40-0x4f), gdb 10.2 (crash 8.0.6's) prints a REX
followed by another prefix alone, and a REX some of whose bits the
instruction does not use before its mnemonic; capstone folds both into one
``movq``.  Each expected line is what binutils 2.40's objdump prints for
the same bytes (gdb 10.2's i386-dis.c has the same ckprefix() rule).
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import drgn
import pytest

from kmemx.helpers.disasm import disassemble

pytest.importorskip("capstone")

BASE = 0xFFFFFFFF81000000


def _prog(code: bytes) -> Any:
    prog = mock.Mock()
    prog.cache = {}
    prog.platform = drgn.Platform(drgn.Architecture.X86_64)

    def read(addr: int, size: int) -> bytes:
        off = addr - BASE
        if not 0 <= off < len(code):
            raise drgn.FaultError("unreadable", addr)
        return code[off:off + size]

    prog.read = read
    return prog


def _dis(code: bytes, count: int | None = None) -> list[tuple[int, str]]:
    return [(i.address - BASE, i.text)
            for i in disassemble(_prog(code), BASE, count, BASE + len(code))]


@pytest.mark.parametrize(("code", "want"), [
    # REX.W then REX.WRX: gdb prints the first alone, the second before the
    # mov it modifies (W and R used, X not: no SIB)
    ("48 4e 8b 43 18 85 c0",
     [(0, "rex.W"), (1, "rex.WRX mov 0x18(%rbx),%r8"), (5, "test   %eax,%eax")]),
    # REX.WRX then REX.XB: B selects %r11, X is unused
    ("4e 43 8b 43 18", [(0, "rex.WRX"), (1, "rex.XB mov 0x18(%r11),%eax")]),
    # a segment prefix before a REX that another prefix follows: both alone
    ("65 48 65 8b 03", [(0, "gs rex.W"), (2, "mov    %gs:(%rbx),%eax")]),
    # every bit used: no prefix name
    ("4c 8b 43 18", [(0, "mov    0x18(%rbx),%r8")]),
    ("40 88 c6", [(0, "mov    %al,%sil")]),
    # a bare REX the instruction does not need
    ("40 8b 43 18", [(0, "rex mov 0x18(%rbx),%eax")]),
])
def test_redundant_rex_as_gdb(code: str, want: list[tuple[int, str]]) -> None:
    assert _dis(bytes.fromhex(code)) == want


@pytest.mark.parametrize(("code", "want"), [
    # x86's static_call xor5rax (arch/x86/kernel/static_call.c), patched in for
    # a __static_call_return0() target: three unused CS prefixes
    ("2e 2e 2e 31 c0", [(0, "cs cs cs xor %eax,%eax")]),
    ("3e 31 c0", [(0, "ds xor %eax,%eax")]),
    ("65 31 c0", [(0, "gs xor %eax,%eax")]),
    # a memory operand uses the segment: named in the operand, not before
    ("64 48 8b 04 25 28 00 00 00", [(0, "mov    %fs:0x28,%rax")]),
    # a branch's CS/DS is a hint binutils spells otherwise: left as capstone's
    ("2e e8 00 00 00 00", [(0, "call   0xffffffff81000006")]),
])
def test_unused_segment_prefixes_as_objdump(code: str, want: list[tuple[int, str]]) -> None:
    """Each line is what binutils 2.40's objdump (and crash 9's gdb 16)
    prints for the same bytes."""
    assert _dis(bytes.fromhex(code)) == want


def test_count_counts_the_prefix_line() -> None:
    """``dis ADDR 2`` ends after the prefix line and the instruction after it,
    as crash's (gdb's) count does."""
    code = bytes.fromhex("48 4e 8b 43 18 85 c0")
    assert [a for a, _ in _dis(code, 2)] == [0, 1]
