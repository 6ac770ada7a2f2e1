"""Disassembly of kernel text through capstone, spelled the way gdb (and so
crash's ``dis``) spells it.

capstone (https://www.capstone-engine.org) decodes; this module only turns
capstone's operand details into GNU AT&T text as binutils' i386-dis.c prints
it (``mov    0x18(%rbx),%eax``, ``call   0xffffffff81234567``), so that a
crash user reads what crash would print.  Where capstone and gdb disagree on
the *decoding* (string instructions, a few nop forms) capstone's reading is
kept; ``dis``'s help lists these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import drgn

from ..arch import is_x86_64, prog_machine

__all__ = ["Instruction", "disassemble", "instruction_at"]

#: bytes read per step: enough for a long function without reading far past it
_CHUNK = 4096
#: the longest x86 instruction
_MAX_INSN = 15

#: mnemonics whose operand-size suffix gdb never prints in 64-bit code
_NO_SUFFIX = {"call", "ret", "jmp", "push", "pop", "leave", "enter", "iret"}
#: shift/rotate by one (opcodes D0/D1): gdb prints no ``$1`` operand
_SHIFTS = {"rol", "ror", "rcl", "rcr", "shl", "sal", "shr", "sar"}
#: capstone's mnemonic -> gdb's
_RENAMED = {"pushfq": "pushf", "popfq": "popf", "ljmpl": "ljmp", "lcalll": "lcall"}
#: string instructions: gdb names the implicit segments, and for stos/lods/scas
#: the accumulator (dropping the suffix it makes redundant)
_STRING_SEGMENT = {"rdi": "%es:", "rsi": "%ds:", "edi": "%es:", "esi": "%ds:"}
_ACCUMULATOR = {1: "%al", 2: "%ax", 4: "%eax", 8: "%rax"}
#: the legacy prefixes and binutils' names of them in 64-bit code
#: (i386-dis.c prefix_name())
_LEGACY_PREFIXES = {0xF0: "lock", 0xF2: "repnz", 0xF3: "repz", 0x2E: "cs", 0x36: "ss",
                    0x3E: "ds", 0x26: "es", 0x64: "fs", 0x65: "gs", 0x66: "data16",
                    0x67: "addr32"}
#: REX's bits as binutils names them (``rex.WRXB``)
_REX_BITS = ((0x8, "W"), (0x4, "R"), (0x2, "X"), (0x1, "B"))


def _is_rex(b: int) -> bool:
    return 0x40 <= b <= 0x4F


def _prefix_name(b: int) -> str:
    """binutils' name of a prefix byte: ``gs``, ``data16``, ``rex.WRX``."""
    if _is_rex(b):
        bits = "".join(name for bit, name in _REX_BITS if b & bit)
        return f"rex.{bits}" if bits else "rex"
    return _LEGACY_PREFIXES[b]


def _ignored_prefixes(raw: bytes) -> int:
    """How many leading bytes of ``raw`` gdb prints alone as their prefix
    names, or 0: a REX prefix followed by another prefix (legacy or REX) is
    ignored by the CPU, and binutils' i386-dis.c (ckprefix(): "Rex is ignored
    when followed by another prefix") then prints the prefixes up to and
    including that REX as one "instruction" (``rex.WRX``), the next one
    starting at the following byte; capstone folds them into the instruction
    after them."""
    rex = False
    for i, b in enumerate(raw):
        if b not in _LEGACY_PREFIXES and not _is_rex(b):
            return 0
        if rex:
            return i
        rex = _is_rex(b)
    return 0


@dataclass(frozen=True)
class Instruction:
    """One decoded instruction.

    ``text`` is gdb's AT&T spelling without the address (``mov    %rdi,%rax``);
    ``target`` the absolute destination of a direct call/jump (``call
    0x...``), ``rip_target`` the address a RIP-relative memory operand names
    (gdb's ``# 0x...`` comment); both None when there is none."""

    address: int
    size: int
    bytes: bytes
    mnemonic: str
    operands: str
    target: int | None
    rip_target: int | None
    is_call: bool
    is_jump: bool
    #: prefixes gdb prints alone (``rex.WRX``): no operands, no padding
    prefixes_only: bool = False
    #: gdb's text after the operands and the target's ``<symbol+offset>``
    #: (arm64: ``"  // b.any"``, :func:`kmemx.arch.aarch64_text.gdb_operands`)
    comment: str = ""
    #: gdb's separator after the mnemonic is a tab (arm64), not padding
    tab: bool = False

    @property
    def text(self) -> str:
        if self.prefixes_only:
            return self.mnemonic
        if self.tab:
            return f"{self.mnemonic}\t{self.operands}" if self.operands else self.mnemonic
        if not self.operands:
            return f"{self.mnemonic:<6} "
        return f"{self.mnemonic:<6} {self.operands}"


def _capstone(prog: drgn.Program) -> Any:
    """The capstone decoder for the program's architecture, cached per program
    (``prog.cache["kmemx.helpers.disasm.cs"]``).  Raises ValueError for an
    architecture capstone is not set up for here."""
    cs = prog.cache.get("kmemx.helpers.disasm.cs")
    if cs is not None:
        return cs
    import capstone

    arch = prog_machine(prog)
    if arch == "x86_64":
        cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        cs.syntax = capstone.CS_OPT_SYNTAX_ATT
    elif arch == "aarch64":
        cs = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    else:
        raise ValueError(f"no disassembler for architecture {prog.platform}")
    cs.detail = True
    prog.cache["kmemx.helpers.disasm.cs"] = cs
    return cs


def _hex_signed(v: int) -> str:
    return f"-{-v:#x}" if v < 0 else f"{v:#x}"


def _x86_operand(insn: Any, op: Any, branch: bool) -> tuple[str, int | None]:
    """One operand as i386-dis.c prints it, and the RIP-relative address it
    names (or None)."""
    from capstone import x86_const as X

    if op.type == X.X86_OP_REG:
        return f"%{insn.reg_name(op.reg)}", None
    if op.type == X.X86_OP_IMM:
        if branch:  # an absolute destination, no '$'
            return f"{op.imm & (2**64 - 1):#x}", None
        size = op.size or 8
        return f"${op.imm & ((1 << (8 * size)) - 1):#x}", None
    m = op.mem
    seg = f"%{insn.reg_name(m.segment)}:" if m.segment else ""
    base = insn.reg_name(m.base) if m.base else ""
    index = insn.reg_name(m.index) if m.index else ""
    rip = None
    if not base and not index:
        return f"{seg}{m.disp & (2**64 - 1):#x}", None
    if base == "rip":
        rip = (insn.address + insn.size + m.disp) & (2**64 - 1)
    disp = _hex_signed(m.disp) if (m.disp or insn.disp_size) else ""
    inner = f"%{base}" if base else ""
    if index:
        inner += f",%{index},{m.scale}"
    return f"{seg}{disp}({inner})", rip


def _x86_mnemonic(insn: Any, has_reg: bool) -> str:
    """capstone's mnemonic with the operand-size suffix dropped where gdb
    drops it: when a register operand gives the size, and always on
    call/ret/jmp/push/pop (64-bit default)."""
    words = insn.mnemonic.split()
    m = _RENAMED.get(words[-1], words[-1])
    name = insn.insn_name()
    if m != name and m[:-1] == name and m[-1] in "bwlq":
        if name in _NO_SUFFIX or has_reg:
            m = name
    return " ".join([*words[:-1], m])


def _unused_rex(cs: Any, insn: Any, raw: bytes) -> str:
    """binutils' name of the instruction's REX prefix when the instruction
    leaves one of its bits unused (i386-dis.c prints it before the mnemonic
    then: ``rex.WRX mov 0x18(%rbx),%r8``, where X selects no index
    register), else "".  A bit is unused when the instruction decodes to the
    same text without it (a REX without bits: without the byte)."""
    at = next((i for i, b in enumerate(raw) if b not in _LEGACY_PREFIXES), len(raw))
    if at >= len(raw) or not _is_rex(raw[at]):
        return ""
    rex = raw[at]

    def text(without: int) -> tuple[str, str] | None:
        if without:
            code = raw[:at] + bytes([rex & ~without]) + raw[at + 1:]
        else:
            code = raw[:at] + raw[at + 1:]
        for other in cs.disasm(code, insn.address, 1):
            return other.mnemonic, other.op_str
        return None

    same = (insn.mnemonic, insn.op_str)
    bits = [bit for bit, _ in _REX_BITS if rex & bit]
    if any(text(bit) == same for bit in bits) or (not bits and text(0) == same):
        return _prefix_name(rex)
    return ""


#: the segment-override prefixes
_SEGMENTS = {0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65}


def _unused_segments(raw: bytes, ops: list[Any], branch: bool) -> str:
    """binutils' names of the segment-override prefixes of an instruction
    with no memory operand, which no segment applies to: i386-dis.c prints
    each unused prefix before the mnemonic (``cs cs cs xor %eax,%eax``, the
    5-byte ``xor5rax`` x86's static calls patch in for a
    ``__static_call_return0()`` target, arch/x86/kernel/static_call.c); else
    "".  Branches are left out: a 2e/3e before a jump is a hint binutils
    spells otherwise (``je,pn``, ``notrack``)."""
    from capstone import x86_const as X

    if branch or any(op.type == X.X86_OP_MEM for op in ops):
        return ""
    names = []
    for b in raw:
        if b not in _LEGACY_PREFIXES:
            break
        if b in _SEGMENTS:
            names.append(_LEGACY_PREFIXES[b])
    return " ".join(names)


def _opcode(insn: Any) -> int:
    """The first opcode byte after legacy and REX prefixes."""
    for b in insn.bytes:
        if b in _LEGACY_PREFIXES or _is_rex(b):
            continue
        return int(b)
    return 0


def _x86(cs: Any, insn: Any) -> Instruction:
    import capstone
    from capstone import x86_const as X

    groups = set(insn.groups)
    is_call = capstone.CS_GRP_CALL in groups
    is_jump = capstone.CS_GRP_JUMP in groups
    branch = (is_call or is_jump) and capstone.CS_GRP_BRANCH_RELATIVE in groups
    ops = list(insn.operands)
    name = insn.insn_name()
    if name in _SHIFTS and _opcode(insn) in (0xD0, 0xD1) and ops and ops[0].type == X.X86_OP_IMM:
        ops = ops[1:]
    texts: list[str] = []
    target = rip = None
    for op in ops:
        text, r = _x86_operand(insn, op, branch)
        if r is not None:
            rip = r
        if branch and op.type == X.X86_OP_IMM:
            target = op.imm & (2**64 - 1)
        texts.append(text)
    if (is_call or is_jump) and not branch and texts:
        texts[0] = "*" + texts[0]
    has_reg = any(op.type == X.X86_OP_REG for op in ops)
    mnemonic = _x86_mnemonic(insn, has_reg)
    if name == "sal":  # binutils decodes both encodings (/4 and /6) as shl
        mnemonic = mnemonic.replace("sal", "shl")
    raw = bytes(insn.bytes)
    if len(raw) >= 2 and raw[-1] == 0x90 and raw[:-1] == b"\x66" * (len(raw) - 1):
        # 66 90 is "xchg %ax,%ax" to gdb, each further 66 a "data16" prefix
        mnemonic = "data16 " * (len(raw) - 2) + "xchg"
        texts = ["%ax", "%ax"]
    elif name[:4] in ("stos", "lods", "scas", "movs", "cmps") and all(
            op.type == X.X86_OP_MEM for op in ops) and ops:
        mnemonic, texts = _x86_string(insn, ops, mnemonic, texts)
    unused = _unused_rex(cs, insn, raw)
    if unused:
        mnemonic = f"{unused} {mnemonic}"
    segments = _unused_segments(raw, ops, is_call or is_jump)
    if segments:
        mnemonic = f"{segments} {mnemonic}"
    return Instruction(insn.address, insn.size, bytes(insn.bytes), mnemonic,
                       ",".join(texts), target, rip, is_call, is_jump)


def _x86_string(insn: Any, ops: list[Any], mnemonic: str,
                texts: list[str]) -> tuple[str, list[str]]:
    """``rep stos %rax,%es:(%rdi)``, ``movsq %ds:(%rsi),%es:(%rdi)``: gdb's
    spelling of the string instructions."""
    texts = [_STRING_SEGMENT.get(insn.reg_name(op.mem.base), "") + t if not op.mem.segment
             else t for op, t in zip(ops, texts)]
    words = mnemonic.split()
    base = words[-1]
    kind = base[:4]
    if kind in ("stos", "lods", "scas") and base[-1] in "bwlqd":
        acc = _ACCUMULATOR.get(ops[0].size, "%rax")
        words[-1] = kind
        texts = [acc, *texts] if kind == "stos" else [*texts, acc]
    return " ".join(words), texts


def _arm64(cs: Any, insn: Any) -> Instruction:
    import capstone
    from capstone import arm64_const as A

    groups = set(insn.groups)
    is_call = capstone.CS_GRP_CALL in groups
    is_jump = capstone.CS_GRP_JUMP in groups
    from kmemx.arch.aarch64_text import gdb_operands

    target = None
    ops = list(insn.operands)
    if (((is_call or is_jump) and capstone.CS_GRP_BRANCH_RELATIVE in groups)
            or insn.mnemonic in ("adr", "adrp")
            or (insn.mnemonic.startswith(("ldr", "prfm")) and ops
                and not any(op.type == A.ARM64_OP_MEM for op in ops))):
        # a PC-relative address: a branch, adr/adrp, a literal load
        imms = [op.imm for op in ops if op.type == A.ARM64_OP_IMM]
        if imms:
            target = imms[-1] & (2**64 - 1)
    mnemonic, operands, comment = gdb_operands(insn.mnemonic, insn.op_str, target)
    return Instruction(insn.address, insn.size, bytes(insn.bytes), mnemonic,
                       operands, target, None, is_call, is_jump, comment=comment, tab=True)


def disassemble(prog: drgn.Program, address: int, count: int | None = None,
                end: int | None = None,
                read: Callable[[int, int], bytes] | None = None) -> Iterator[Instruction]:
    """Decode instructions from ``address`` (a kernel text address,
    ``unsigned long``): ``count`` of them, or up to (not including) ``end``,
    or, with neither, until the bytes stop decoding.

    Reads go through ``read(address, size)`` (default ``prog.read``: kernel
    addresses; a user address space reads through the task's mm) in 4 KiB
    steps; an unreadable byte raises
    :class:`drgn.FaultError` with its address (after the instructions before
    it were yielded).  Bytes that do not decode end the walk.  Raises
    ValueError for an architecture without a decoder."""
    cs = _capstone(prog)
    if read is None:
        read = prog.read
    x86 = is_x86_64(prog)
    decode = _x86 if x86 else _arm64
    n = 0
    pc = address
    while count is None or n < count:
        if end is not None and pc >= end:
            return
        want = _CHUNK if end is None else min(_CHUNK, end - pc + _MAX_INSN)
        try:
            buf = read(pc, want)
        except drgn.FaultError:
            # the chunk runs into an unmapped page: take what is mapped; an
            # instruction that itself crosses into it raises the fault
            mapped = ((pc | 0xFFF) + 1) - pc
            buf = read(pc, mapped if mapped < want else want)
        more = len(buf) == want  # bytes past the buffer may follow
        start, progressed, split = pc, False, False
        for insn in cs.disasm(buf, pc):
            if end is not None and insn.address >= end:
                return
            if more and insn.address + _MAX_INSN > start + len(buf):
                break  # may be cut short by the buffer's end: decode it again
            ignored = _ignored_prefixes(bytes(insn.bytes)) if x86 else 0
            if ignored:
                raw = bytes(insn.bytes[:ignored])
                yield Instruction(insn.address, ignored, raw,
                                  " ".join(_prefix_name(b) for b in raw), "", None, None,
                                  False, False, True)
            else:
                yield decode(cs, insn)
            progressed = True
            pc = insn.address + (ignored or insn.size)
            n += 1
            if count is not None and n >= count:
                return
            if ignored:
                split = True
                break  # the next instruction starts inside capstone's: decode again
        if split:
            continue
        if not progressed and len(buf) < _MAX_INSN and not more:
            read(pc, _MAX_INSN)  # the fault, with its address
        if pc < start + len(buf) and (progressed is False or not more):
            if count is None and end is None:
                return  # undecodable bytes end an unbounded walk
            if not x86 and pc + 4 <= start + len(buf):
                # arm64: gdb's ".inst 0x... ; undefined" for a word that does
                # not decode (binutils aarch64-dis.c), and on to the next word
                word = int.from_bytes(buf[pc - start:pc - start + 4], "little")
                yield Instruction(pc, 4, buf[pc - start:pc - start + 4], ".inst",
                                  f"{word:#010x} ; undefined", None, None, False, False,
                                  tab=True)
                pc += 4
                n += 1
                continue
            # gdb's "(bad)": one byte that does not decode, and on
            yield Instruction(pc, 1, buf[pc - start:pc - start + 1], "(bad)", "", None, None,
                              False, False)
            pc += 1
            n += 1


def instruction_at(prog: drgn.Program, address: int) -> Instruction:
    """The one instruction at ``address``.  Raises :class:`drgn.FaultError`
    when it cannot be read, ValueError when the bytes do not decode."""
    for insn in disassemble(prog, address, 1):
        return insn
    raise ValueError(f"no instruction decodes at {address:#x}")
