"""gdb's spelling of an AArch64 instruction, from capstone's.

crash's ``dis`` prints what gdb's disassembler (binutils' opcodes,
aarch64-dis.c and aarch64-opc.c) prints; kmemx decodes with capstone
(https://www.capstone-engine.org), which reads the same instruction but
spells some operands its own way.  The rules below turn capstone's text
into gdb's where the rule is clear, each checked against crash-arm64 8.0.6
on Debian's 6.1 arm64 kernel (tests/vmcore/test_crash_arm64_s10.py):

* a tab between the mnemonic and the operands, and nothing after a
  mnemonic without operands;
* branch, ``adr``/``adrp`` and literal-load targets are plain addresses
  (``bl 0xffff...``, no ``#``), followed by ``<symbol+offset>``;
* immediates of the arithmetic, logical, move-wide and conditional-compare
  instructions are hexadecimal (``#0x1``; capstone writes values up to 9 in
  decimal), address offsets (``[sp, #32]``, ``[x0], #16``), bit numbers,
  bit-field positions and widths and shift amounts decimal;
* ``mov`` of an immediate (the ``movz``/``movn``/``orr`` alias) is followed
  by the value in decimal (``mov x0, #0x6e9d  // #28317``), the operands
  padded to 27 columns;
* a condition is spelt with binutils' first name (``cs``/``cc``, capstone
  ``hs``/``lo``) and followed by its other names (``b.ne ...  // b.any``,
  ``csel w0, w0, w1, ne  // ne = any``).

What capstone decodes differently from gdb (another instruction, an alias
gdb does not take) is left as capstone prints it; the test lists it.
"""

from __future__ import annotations

import re

__all__ = ["CONDITION_NAMES", "gdb_operands"]

#: binutils' names of each condition, the first the one it prints
#: (opcodes/aarch64-opc.c, aarch64_conds)
CONDITION_NAMES: dict[str, tuple[str, ...]] = {
    "eq": ("eq", "none"), "ne": ("ne", "any"), "cs": ("cs", "hs", "nlast"),
    "cc": ("cc", "lo", "ul", "last"), "mi": ("mi", "first"), "pl": ("pl", "nfrst"),
    "vs": ("vs",), "vc": ("vc",), "hi": ("hi", "pmore"), "ls": ("ls", "plast"),
    "ge": ("ge", "tcont"), "lt": ("lt", "tstop"), "gt": ("gt",), "le": ("le",),
    "al": ("al",), "nv": ("nv",)}
#: capstone's name of a condition -> binutils' first name
_CONDITION = {alias: names[0] for names in CONDITION_NAMES.values() for alias in names}

#: instructions whose plain immediates binutils prints in hexadecimal
#: (AARCH64_OPND_AIMM, _LIMM, _HALF, _CCMP_IMM, _NZCV: "#0x%x")
_HEX_IMMEDIATES = {"add", "adds", "sub", "subs", "cmp", "cmn", "and", "ands", "orr", "eor",
                   "tst", "mov", "movk", "movz", "movn", "ccmp", "ccmn", "bic", "bics",
                   # AARCH64_OPND_EXCEPTION, the PSTATE field's UIMM4 ("#0x%x")
                   "brk", "hlt", "hvc", "svc", "smc", "msr"}
#: instructions whose last operand is a PC-relative address
_PC_RELATIVE = {"b", "bl", "cbz", "cbnz", "tbz", "tbnz", "adr", "adrp"}
_IMM = re.compile(r"#(-?(?:0x[0-9a-f]+|\d+))")
_SHIFTED = re.compile(r"\b(lsl|lsr|asr|ror|msl|[us]xt[bhwx]) #")
_MEMORY = re.compile(r"\[[^\]]*\](?:!|, #-?(?:0x[0-9a-f]+|\d+))?")


def _number(text: str) -> int:
    return int(text, 0)


def _decimal(m: re.Match[str]) -> str:
    return f"#{_number(m.group(1))}"


def _hex(m: re.Match[str]) -> str:
    value = _number(m.group(1))
    return f"#{value:#x}" if value >= 0 else f"#-{-value:#x}"


def _immediates(text: str, to: str) -> str:
    """Immediates outside address operands and shift amounts in ``to`` form
    ("hex" or "dec"); address operands' offsets decimal."""
    out: list[str] = []
    pos = 0
    for m in _MEMORY.finditer(text):
        out.append(_plain(text[pos:m.start()], to))
        out.append(_IMM.sub(_decimal, m.group(0)))
        pos = m.end()
    out.append(_plain(text[pos:], to))
    return "".join(out)


def _plain(text: str, to: str) -> str:
    """The immediates of a stretch of operands outside an address."""
    out: list[str] = []
    pos = 0
    for m in _IMM.finditer(text):
        out.append(text[pos:m.start()])
        shift = _SHIFTED.search(text[max(0, m.start() - 6):m.start() + 1])
        out.append(_decimal(m) if to == "dec" or shift else _hex(m))
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def gdb_operands(mnemonic: str, operands: str,
                 target: int | None = None) -> tuple[str, str, str]:
    """gdb's ``(mnemonic, operands, comment)`` of an instruction capstone
    spells ``mnemonic operands``.

    :param target: the absolute address of a branch, ``adr``/``adrp`` or
        literal load (``unsigned long``), written plain where capstone
        writes ``#0x...``; None for other instructions.
    :returns: the comment is ``""`` or gdb's text after the operands (and
        after a target's ``<symbol+offset>``), its separator included
        (``"  // b.any"``, ``"\t// #28317"``).  No errors.
    """
    comment = ""
    if mnemonic.startswith("b.") and mnemonic[2:] in _CONDITION:
        cond = _CONDITION[mnemonic[2:]]
        mnemonic = f"b.{cond}"
        others = CONDITION_NAMES[cond][1:]
        if others:
            comment = "  // " + ", ".join(f"b.{c}" for c in others)
    if target is not None:
        head, _, last = operands.rpartition("#")
        if re.fullmatch(r"-?(0x[0-9a-f]+|\d+)", last):
            head = head.rstrip(", ")
            operands = (f"{_immediates(head, 'dec')}, " if head else "") + f"{target:#x}"
            return mnemonic, operands, comment
    base = mnemonic.split(".")[0]
    operands = _immediates(operands, "hex" if base in _HEX_IMMEDIATES else "dec")
    words = operands.rsplit(", ", 1)
    if len(words) == 2 and words[1] in _CONDITION:
        cond = _CONDITION[words[1]]
        operands = f"{words[0]}, {cond}"
        others = CONDITION_NAMES[cond][1:]
        if others:
            comment = f"  // {cond} = " + ", ".join(others)
    if base == "mov":
        m = re.fullmatch(r"([wx]\w*), #(-?0x[0-9a-f]+)", operands)
        if m:
            bits = 32 if m.group(1).startswith("w") else 64
            value = _number(m.group(2)) & ((1 << bits) - 1)
            signed = value - (1 << bits) if value >> (bits - 1) else value
            operands = f"{m.group(1)}, {'#' + hex(value):<23}"
            comment = f"\t// #{signed}"
    return mnemonic, operands, comment
