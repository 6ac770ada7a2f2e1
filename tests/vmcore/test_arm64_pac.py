"""arm64 dumps (``KMEMX_KERNEL=linux-image-6.1.0-57-arm64`` or
``linux-image-7.2.13+deb14-arm64``; skipped on other architectures):

* pointer authentication: the return addresses saved in the panicking
  task's frame records carry a PAC in the bits of ``NUMBER(KERNELPACMASK)``
  (QEMU's ``-cpu max`` has FEAT_PAuth); ``rd -s`` and ``sym ADDR`` name
  them as drgn's unwinder does (its frames' PCs are the stripped values);
* exception frames: ``bt``'s arm64 register block (crash's
  arm64_print_exception_frame() layout) and ``bt --json``'s ``exception``
  hold the registers drgn's unwinder takes from the same ``struct pt_regs``
  for the interrupted frame.

No crash build reads these dumps here (crash's arm64 build is not made on
this host), so drgn is the oracle.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

import drgn
import pytest

import kmemx
from kmemx.arch.aarch64 import ptrauth_strip_kernel_insn_pac
from kmemx.commands import execute
from tests.fixtures.fixture import Fixture

pytestmark = pytest.mark.vmcore


class Dump:
    def __init__(self, fixture: Fixture) -> None:
        self.k = kmemx.open(fixture.core("panic"), fixture.vmlinux)
        self.prog = self.k.prog
        assert self.k.vmcoreinfo is not None
        self.mask = self.k.vmcoreinfo.kernel_pac_mask

    def json(self, line: str) -> list[Any]:
        rows: list[Any] = json.loads("\n".join(
            x for x in execute(self.k, line, as_json=True) if not x.startswith("kmemx: ")))
        return rows

    def text(self, line: str) -> list[str]:
        return [x for x in execute(self.k, line) if not x.startswith("kmemx: ")]

    def is_text(self, v: int) -> bool:
        return self.prog.symbol("_text").address <= v < self.prog.symbol("_etext").address

    @cached_property
    def records(self) -> list[tuple[int, int]]:
        """(address of the LR word, the LR as saved) of each frame record of
        the panicking task, walked from frame #0's x29."""
        prog = self.prog
        fp = prog.crashed_thread().stack_trace()[0].registers()["x29"]
        out = []
        while fp and len(out) < 32:
            try:
                nxt, lr = (int.from_bytes(prog.read(fp + 8 * i, 8), "little") for i in (0, 1))
            except drgn.FaultError:
                break
            out.append((fp + 8, lr))
            if nxt <= fp:
                break
            fp = nxt
        return out


@pytest.fixture(scope="module")
def dump(fixture: Fixture) -> Dump:
    d = Dump(fixture)
    if d.prog.platform is None or d.prog.platform.arch != drgn.Architecture.AARCH64:
        pytest.skip("not an arm64 kernel")
    return d


def test_saved_return_addresses_are_signed(dump: Dump) -> None:
    """The dump has signed return addresses (else the rest checks nothing)."""
    assert dump.mask, "NUMBER(KERNELPACMASK) is 0: the kernel signs nothing"
    signed = [lr for _, lr in dump.records
              if ptrauth_strip_kernel_insn_pac(lr, dump.mask, dump.is_text) != lr]
    assert len(signed) >= 3, [hex(lr) for _, lr in dump.records]


def test_rd_s_and_sym_name_signed_return_addresses(dump: Dump) -> None:
    """``sym LR`` of each frame record's signed LR word names the code drgn's
    unwinder returns to (its frames' PCs are the stripped LRs); ``rd -s``
    prints the word in hex, as crash 8.0.6's display_memory() does (it tests
    the word as it is with in_ksymbol_range(): :func:`symbolic_word`)."""
    pcs = {f.pc for f in dump.prog.crashed_thread().stack_trace()}
    checked = 0
    for where, lr in dump.records:
        stripped = ptrauth_strip_kernel_insn_pac(lr, dump.mask, dump.is_text)
        if stripped == lr:  # unsigned, or not a return into the kernel (the last record)
            continue
        assert stripped in pcs, (hex(lr), "drgn's unwinder does not return there")
        line = dump.text(f"rd -s {where:x} 1")[0].split()  # crash's line, no header
        row = dump.json(f"sym {lr:x}")[0]
        assert line[0] == f"{where:x}:" and row["address"] == f"{lr:#x}"
        assert line[1] == f"{lr:016x}", (hex(lr), line, row)
        name, _, off = row["symbol"].partition("+")
        # crash's rule: the nearest symbol at or below (an entry.S label has no size)
        assert dump.prog.symbol(name).address + int(off or 0) == stripped, (hex(lr), row)
        try:
            sym = dump.prog.symbol(stripped)
        except LookupError:
            pass
        else:  # a noreturn call's return address starts the next function: +0
            assert name == sym.name, (hex(lr), line)
        checked += 1
    assert checked >= 3


def test_strip_keeps_words_that_are_not_text(dump: Dump) -> None:
    """crash's guard: a word is stripped only when the result is text, so
    data (a count, a pointer outside the image) prints as it is."""
    is_text = dump.is_text
    lr = next(lr for _, lr in dump.records
              if ptrauth_strip_kernel_insn_pac(lr, dump.mask, is_text) != lr)
    assert ptrauth_strip_kernel_insn_pac(lr, dump.mask, is_text) == lr | dump.mask
    assert ptrauth_strip_kernel_insn_pac(lr | dump.mask, dump.mask, is_text) == lr | dump.mask
    assert ptrauth_strip_kernel_insn_pac(0x1234, dump.mask, is_text) == 0x1234
    assert ptrauth_strip_kernel_insn_pac(lr, 0, is_text) == lr
    line = dump.text(f"rd -s {dump.records[0][0] - 8:x} 1")[0].split()
    assert line[1] == f"{dump.records[1][0] - 8:016x}"  # the saved FP: a stack address


def test_exception_frame_registers_equal_drgn(dump: Dump) -> None:
    """Every kernel exception frame of ``bt -a``: crash's block (PC/LR with
    names, SP PSTATE, X29..X0 three a line) and ``--json``'s registers equal
    drgn's registers of the interrupted frame."""
    from drgn.helpers.linux.sched import cpu_curr

    rows = dump.json("bt -a")
    text = dump.text("bt -a")
    assert not any("exception RIP" in x for x in text), "x86's word on arm64"
    exceptions = [r for r in rows if r.get("exception", {}).get("mode") == "kernel"]
    assert exceptions, "no interrupted kernel frame in bt -a"
    for r in exceptions:
        task = cpu_curr(dump.prog, r["cpu"])
        frames = [f for f in dump.prog.stack_trace(task)]
        frame = next(f for i, f in enumerate(frames)
                     if i and f.interrupted and f.pc == int(r["pc"], 16))
        want = frame.registers()
        regs = r["exception"]["registers"]
        assert regs["PC"] == frame.pc and regs["SP"] == want["sp"]
        assert regs["PSTATE"] == want["pstate"]
        assert all(regs[f"X{n}"] == want[f"x{n}"] for n in range(30)), r["pc"]
        lr = ptrauth_strip_kernel_insn_pac(want["lr"], dump.mask, lambda v: True)
        sym = dump.prog.symbol(regs["PC"])
        head = f"     PC: {regs['PC']:016x}  [{sym.name}+{regs['PC'] - sym.address}]"
        i = text.index(head)
        assert text[i + 1].startswith(f"     LR: {lr:016x}  [")
        assert text[i + 2] == f"     SP: {regs['SP']:016x}  PSTATE: {regs['PSTATE']:08x}"
        assert text[i + 3] == "    " + "  ".join(f"X{n}: {regs[f'X{n}']:016x}"
                                                  for n in (29, 28, 27))
        assert text[i + 12] == "    " + "  ".join(f" X{n}: {regs[f'X{n}']:016x}"
                                                   for n in (2, 1, 0))
