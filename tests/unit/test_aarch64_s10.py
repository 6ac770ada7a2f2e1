"""kmemx.arch.aarch64_text (gdb's AArch64 spelling), kmemx.arch.aarch64.uvtop
(crash's arm64_uvtop() rule) and kernel_exception_frames (crash's
arm64_eframe_search() test) on hand-made inputs.  The expected texts are
lines crash-arm64 8.0.6 printed for Debian's 6.1 arm64 kernel
(tests/vmcore/test_crash_arm64_s10.py compares whole routines)."""

from __future__ import annotations

import struct

import pytest

from kmemx.arch.aarch64 import kernel_exception_frames, swp_offset, swp_type, uvtop
from kmemx.arch.aarch64_text import gdb_operands

T = 0xFFFFDE0A7DCE0A1C


@pytest.mark.parametrize("capstone,target,gdb", [
    (("sub", "sp, sp, #0x80"), None, ("sub", "sp, sp, #0x80", "")),
    (("stp", "x29, x30, [sp, #0x20]"), None, ("stp", "x29, x30, [sp, #32]", "")),
    (("stp", "x29, x30, [sp, #-0x20]!"), None, ("stp", "x29, x30, [sp, #-32]!", "")),
    (("stur", "x0, [x29, #-8]"), None, ("stur", "x0, [x29, #-8]", "")),
    (("ldr", "x3, [x1], #8"), None, ("ldr", "x3, [x1], #8", "")),
    (("ldp", "x29, x30, [sp], #0x20"), None, ("ldp", "x29, x30, [sp], #32", "")),
    (("add", "x23, x23, #8"), None, ("add", "x23, x23, #0x8", "")),
    (("and", "w26, w22, #1"), None, ("and", "w26, w22, #0x1", "")),
    (("movk", "x0, #0x57ac, lsl #16"), None, ("movk", "x0, #0x57ac, lsl #16", "")),
    (("ubfx", "x0, x1, #0xc, #0x14"), None, ("ubfx", "x0, x1, #12, #20", "")),
    (("brk", "#0x800"), None, ("brk", "#0x800", "")),
    (("msr", "daifset, #3"), None, ("msr", "daifset, #0x3", "")),
    (("udf", "#0x40"), None, ("udf", "#64", "")),
    (("svc", "#0"), None, ("svc", "#0x0", "")),
    (("mov", "x0, #0"), None, ("mov", "x0, #0x0" + " " * 19, "\t// #0")),
    (("mov", "w21, #-1"), None, ("mov", "w21, #0xffffffff" + " " * 12, "\t// #-1")),
    (("mov", "x24, #0x8958"), None, ("mov", "x24, #0x8958" + " " * 16, "\t// #35160")),
    (("mov", "x29, sp"), None, ("mov", "x29, sp", "")),
    (("b.ne", f"#{T:#x}"), T, ("b.ne", f"{T:#x}", "  // b.any")),
    (("b.hs", f"#{T:#x}"), T, ("b.cs", f"{T:#x}", "  // b.hs, b.nlast")),
    (("b.lo", f"#{T:#x}"), T, ("b.cc", f"{T:#x}", "  // b.lo, b.ul, b.last")),
    (("b.gt", f"#{T:#x}"), T, ("b.gt", f"{T:#x}", "")),
    (("tbz", f"w2, #3, #{T:#x}"), T, ("tbz", f"w2, #3, {T:#x}", "")),
    (("cbz", f"x2, #{T:#x}"), T, ("cbz", f"x2, {T:#x}", "")),
    (("bl", f"#{T:#x}"), T, ("bl", f"{T:#x}", "")),
    (("adrp", f"x20, #{T & ~0xFFF:#x}"), T & ~0xFFF, ("adrp", f"x20, {T & ~0xFFF:#x}", "")),
    (("csel", "w0, w0, w1, ne"), None, ("csel", "w0, w0, w1, ne", "  // ne = any")),
    (("cset", "w0, hs"), None, ("cset", "w0, cs", "  // cs = hs, nlast")),
    (("ccmn", "w0, #1, #4, ne"), None, ("ccmn", "w0, #0x1, #0x4, ne", "  // ne = any")),
    (("paciasp", ""), None, ("paciasp", "", "")),
])
def test_gdb_operands(capstone: tuple[str, str], target: int | None,
                      gdb: tuple[str, str, str]) -> None:
    assert gdb_operands(*capstone, target) == gdb


def test_uvtop_crash_rule() -> None:
    # 48-bit VA, 4 KiB pages: PGD 0x1000 -> PUD 0x2000 -> PMD 0x3000 -> PTE 0x4000
    va = 0x400000
    pgd, pud, pmd, pte = 0x1000, 0x2000, 0x3000, 0x4000
    mem = {pgd + ((va >> 39) & 511) * 8: pud | 3, pud + ((va >> 30) & 511) * 8: pmd | 3,
           pmd + ((va >> 21) & 511) * 8: pte | 3}
    leaf = pte + ((va >> 12) & 511) * 8
    # a valid page; the GP (bit 50) and DBM (bit 51) bits are not address bits
    mem[leaf] = 0x42326000 | (1 << 50) | (1 << 51) | 0x7C3
    assert uvtop(pgd, va + 0x123, 48, lambda a: mem.get(a, 0)) == (0x42326123, mem[leaf])
    # PROT_NONE without PTE_VALID: crash takes it as a swap entry, as kmemx does
    mem[leaf] = (1 << 58) | (5 << 8) | (2 << 3)
    phys, value = uvtop(pgd, va, 48, lambda a: mem.get(a, 0))
    assert phys is None and value == mem[leaf]
    assert (swp_type(value), swp_offset(value) & 0xFF) == (2, 5)
    # nothing at the PMD: no entry
    assert uvtop(pgd, va + (1 << 21), 48, lambda a: mem.get(a, 0)) == (None, 0)
    # a 2 MiB block at the PMD
    mem[pmd + ((va >> 21) & 511) * 8] = 0x80000000 | 0x701
    assert uvtop(pgd, va + 0x1234, 48, lambda a: mem.get(a, 0))[0] == 0x80001234


def test_kernel_exception_frames() -> None:
    base, size, regs_size = 0xFFFF800008000000, 16384, 336
    where = {"x29": 29 * 8, "x30": 30 * 8, "sp": 248, "pc": 256, "pstate": 264}
    stack = bytearray(size)
    text = (0xFFFFDE0A7D010000, 0xFFFFDE0A7E000000)

    def is_text(v: int) -> bool:
        return text[0] <= v < text[1]

    def put(at: int, sp: int, x29: int, lr: int, pc: int, pstate: int) -> None:
        for name, v in (("sp", sp), ("x29", x29), ("x30", lr), ("pc", pc), ("pstate", pstate)):
            struct.pack_into("<Q", stack, at + where[name], v)

    put(0x3000, base + 0x3200, base + 0x3100, text[0] + 8, text[0] + 4, 0x60000005)
    put(0x1003, base + 0x1200, base + 0x1100, text[0] + 8, text[0] + 4, 0x4)  # unaligned: found
    put(0x2000, base + 0x2200, base + 0x2100, text[0] + 8, text[0] + 4, 0x0)  # EL0: not kernel
    put(0x2800, base + 0x2900, base + 0x2900, 0x1234, text[0] + 4, 0x5)  # LR not text
    signed = (text[0] + 8) & ~(0xFF7F << 48)  # a PAC-signed LR: text once the mask is set
    put(0x3400, base + 0x3500, base + 0x3500, signed, text[0], 0x5)
    found = list(kernel_exception_frames(bytes(stack), base, regs_size, where, is_text))
    assert found == [base + 0x1003, base + 0x3000]
    found = list(kernel_exception_frames(bytes(stack), base, regs_size, where, is_text,
                                         0xFF7F << 48))
    assert found == [base + 0x1003, base + 0x3000, base + 0x3400]
