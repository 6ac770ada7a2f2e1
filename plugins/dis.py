"""crash's ``dis``: disassembly of kernel text (capstone, gdb's spelling: AT&T on
x86-64, binutils' AArch64 text on arm64)."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import drgn

from kmemx.commands import Address, CommandError, Context, Row, TextLine, arg, command
from kmemx.errors import PHYSICAL_MARK, fault_reason
from kmemx.helpers.disasm import Instruction, disassemble
from kmemx.helpers.kallsyms import use_module_kallsyms
from kmemx.helpers.symtab import symbol_containing

from .lists import kernel_address

__all__ = ["LOCATION_CODE", "location_text", "symbol_offset"]

DIS_COLUMNS = ("ADDRESS", "LOCATION", "MNEMONIC", "OPERANDS", "TARGET", "TARGET_LOCATION",
               "SOURCE")

#: the 5-byte nop that replaces ``call __fentry__`` at a traced function's start
#: (arch/x86/kernel/ftrace.c, ftrace_nop_replace(): x86_nops[5])
_FTRACE_NOP = bytes.fromhex("0f1f440000")
_EXPR = re.compile(r"\((.*)\)")


def symbol_offset(prog: drgn.Program, address: int) -> tuple[drgn.Symbol, int] | None:
    """The symbol containing ``address`` (``unsigned long``) and the offset in
    it, or None.  Only kernel-half addresses are named: per-CPU offsets (small
    numbers) are not symbols of the text, and neither are the assembler's local
    labels (``.LC4``): crash names neither.  ``prog.symbol(address)``'s
    answer, through :func:`kmemx.helpers.symtab.symbol_containing`, or the
    function that ends just before ``address``."""
    if address < 1 << 63:
        return None
    sym = symbol_containing(prog, address)
    if sym is None:
        # a return address after a call that never returns, at a function's
        # very end (7.2.13: panic+107, one byte past panic's 107): no symbol
        # holds it, and crash's value_search() names it by the function below
        before = symbol_containing(prog, address - 1)
        if (before is not None and before.kind == drgn.SymbolKind.FUNC
                and before.address + before.size == address):
            sym = before
    if sym is None or sym.name.startswith((".L", "$")):  # $x/$d: arm64 mapping symbols
        return None
    return sym, address - sym.address


def location_text(prog: drgn.Program, address: int, hex_offsets: bool = False) -> str:
    """crash's ``<name+offset>`` (``<name>`` at offset 0), or "" for an address
    outside every symbol."""
    hit = symbol_offset(prog, address)
    if hit is None:
        return ""
    sym, off = hit
    if not off:
        return f"<{sym.name}>"
    return f"<{sym.name}+{off:#x}>" if hex_offsets else f"<{sym.name}+{off}>"


#: --drgn: location_text() as drgn code, a ``location(addr)`` function
LOCATION_CODE = """\
def location(addr):
    # crash's <name+offset> of a kernel-half address, or ""
    if addr < 1 << 63:
        return ""
    try:
        sym = prog.symbol(addr)
    except LookupError:
        try:  # a return address at a function's very end (after a noreturn call)
            sym = prog.symbol(addr - 1)
        except LookupError:
            return ""
        if sym.kind.name != "FUNC" or sym.address + sym.size != addr:
            return ""
    if sym.name.startswith((".L", "$")):
        return ""
    off = addr - sym.address
    return f"<{sym.name}+{off}>" if off else f"<{sym.name}>"


"""


def _source(prog: drgn.Program, address: int) -> tuple[str, int] | None:
    """(file, line) of the innermost source location of ``address``."""
    try:
        locs = prog.source_location(address)
    except (LookupError, ValueError):
        return None
    for loc in locs:
        return str(loc.filename), int(loc.line)
    return None


def _resolve(ctx: Context, text: str) -> tuple[int, bool]:
    """(address, whether it names a whole symbol: no offset, not a number)."""
    m = _EXPR.fullmatch(text.strip())
    if m:
        text = m.group(1).replace(" ", "")
    text = text.strip()
    whole = False
    try:
        ctx.prog.symbol(text)
        whole = True
    except LookupError:
        pass
    return kernel_address(ctx, text, "dis"), whole


def _routine(ctx: Context, address: int) -> tuple[int, int]:
    """(start, end) of the routine holding ``address``, its end taken past
    ``address`` for a return address at the routine's very end (see
    :func:`symbol_offset`).  Raises CommandError."""
    hit = symbol_offset(ctx.prog, address)
    if hit is None or not hit[0].size:
        raise CommandError(f"dis: {address:#x}: not inside a known routine")
    sym = hit[0]
    return sym.address, max(sym.address + sym.size, address + 1)


def _comment(ctx: Context, insn: Instruction, hex_offsets: bool) -> str:
    """gdb's ``        # 0xADDR <sym>`` after a RIP-relative operand."""
    if insn.rip_target is None:
        return ""
    where = location_text(ctx.prog, insn.rip_target, hex_offsets)
    return f"        # {insn.rip_target:#x}" + (f" {where}" if where else "")


def _line(ctx: Context, insn: Instruction, hex_offsets: bool) -> str:
    where = location_text(ctx.prog, insn.address, hex_offsets)
    text = insn.text
    if insn.target is not None:
        to = location_text(ctx.prog, insn.target, hex_offsets)
        if to:
            text += f" {to}"
    text += insn.comment + _comment(ctx, insn, hex_offsets)
    hit = symbol_offset(ctx.prog, insn.address)
    if hit is not None and hit[1] == 0 and insn.bytes == _FTRACE_NOP:
        text += " [FTRACE NOP]"
    # gdb indents an address it has no symbol for
    head = f"{insn.address:#x} {where}:" if where else f"   {insn.address:#x}:"
    return f"{head}\t{text}"


def _row(ctx: Context, insn: Instruction, source: tuple[str, int] | None) -> Row:
    target_at = location_text(ctx.prog, insn.target) if insn.target is not None else None
    return Row(DIS_COLUMNS, (
        Address(insn.address), location_text(ctx.prog, insn.address) or None,
        insn.mnemonic, insn.operands.rstrip() + insn.comment + _comment(ctx, insn, False),
        Address(insn.target) if insn.target is not None else None, target_at or None,
        f"{source[0]}: {source[1]}" if source else None), insn)


def _source_listing(ctx: Context, address: int, count: int | None) -> Iterator[Any]:
    """``dis -s``: FILE and LINE, then the source text when the file is on this
    machine (looked up as given and under the debug file's directory)."""
    src = _source(ctx.prog, address)
    if src is None:
        raise CommandError(f"dis: {address:#x}: no source line information")
    name, line = src
    yield TextLine(f"FILE: {name}")
    yield TextLine(f"LINE: {line}")
    yield TextLine("")
    candidates = [name]
    try:
        path = ctx.prog.main_module().debug_file_path
    except (LookupError, AttributeError):
        path = None
    if path:
        candidates.append(os.path.join(os.path.dirname(path), name))
    for c in candidates:
        if os.path.isfile(c):
            with open(c, errors="replace") as f:
                lines = f.read().splitlines()
            first = max(1, line - 5)
            last = min(len(lines), line + (count if count else 10))
            for n in range(first, last + 1):
                mark = "*" if n == line else " "
                yield TextLine(f"{mark}{n:>5}  {lines[n - 1]}")
            return
    ctx.warn(f"dis: {name}: source code is not available")


def _source_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``dis -s ADDR --drgn``: the innermost source location of ADDR by
    prog.source_location(), and the lines around it when the file is here
    (as given, or under the debug file's directory)."""
    from kmemx.commands.drgncode import text_script

    address, _ = _resolve(ctx, args.target)
    return text_script(ctx, f"""\
loc = prog.source_location({address:#x})[0]
name, line = loc.filename, loc.line
print(f"FILE: {{name}}")
print(f"LINE: {{line}}")
print()
candidates = [name]
path = prog.main_module().debug_file_path
if path:
    candidates.append(os.path.join(os.path.dirname(path), name))
for c in candidates:
    if os.path.isfile(c):
        with open(c, errors="replace") as f:
            lines = f.read().splitlines()
        for n in range(max(1, line - 5), min(len(lines), line + {args.count or 10}) + 1):
            print(f"{{'*' if n == line else ' '}}{{n:>5}}  {{lines[n - 1]}}")
        break
""", ["os"])


def _dis_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``dis --drgn``: the routine's bytes by prog.read(), decoded by capstone
    (AT&T syntax, capstone's own spelling: kmemx turns it into gdb's), the
    rows of ``dis --json``: a whole routine (its symbol's size), COUNT
    instructions, -r (up to ADDR), -f (from ADDR), -l (source lines), -u (the
    current context's user text through drgn's access_remote_vm())."""
    from kmemx.commands.drgncode import only, table_script

    if args.source:
        return _source_drgn(ctx, args)
    from kmemx.arch import is_aarch64, is_x86_64

    arm64 = is_aarch64(ctx.prog)
    if not is_x86_64(ctx.prog) and not arm64:
        raise only("dis", "x86-64 and arm64 text")
    count = args.count
    read = "prog.read(start, end - start)"
    if args.user:  # the current context's user text, through its mm
        from kmemx.commands import parse_hex

        address = parse_hex(args.target)
        if address is None:
            raise CommandError(f"dis: -u: not a hexadecimal address: {args.target!r}")
        task = int(ctx.current_task().value_())
        read = (f"bytes(access_remote_vm(Object(prog, 'struct task_struct *', {task:#x}).mm, "
                "start, end - start))")
        args.lines = False
        whole = False
    else:
        address, whole = _resolve(ctx, args.target)
    if (args.reverse or args.forward) and not args.user:
        start, stop = _routine(ctx, address)
        if args.reverse:  # the instruction at ADDR whole, at the routine's very end too
            stop += 15
        select = ("insns[:first + 1]" if args.reverse else "insns[first:]")
        if count is not None:
            select = f"{select}[-{count}:]" if args.reverse else f"{select}[:{count}]"
        walk = f"""\
insns = list(decode({start:#x}, {stop:#x}))
first = next((i for i, x in enumerate(insns) if x.address >= {address:#x}), len(insns))
insns = {select}
"""
    elif whole and count is None:
        start, stop = _routine(ctx, address)
        walk = f"insns = list(decode({start:#x}, {stop:#x}))\n"
    else:
        walk = f"insns = list(decode({address:#x}, {address:#x} + 15 * {count or 1}))" \
            f"[:{count or 1}]\n"
    source = """\
    try:  # the innermost (inlined) function's line
        loc = prog.source_location(insn.address)[0]
        source = f"{loc.filename}: {loc.line}"
    except (LookupError, ValueError, IndexError):
        source = None
""" if args.lines else "    source = None\n"
    decoder, target, const = (_ARM64_DECODER, _ARM64_TARGET, "capstone:arm64_const") if arm64 \
        else (_X86_DECODER, _X86_TARGET, "capstone:x86_const")
    return table_script(ctx, DIS_COLUMNS, LOCATION_CODE + decoder + f"""\
cs.detail = True


def decode(start, end):
    return cs.disasm({read}, start)


{walk}for insn in insns:
{target}{source}    row(hex(insn.address), location(insn.address) or None, insn.mnemonic, insn.op_str,
        None if target is None else hex(target),
        (location(target) or None) if target is not None else None, source)
""", ["capstone", const, "drgn:Object", "drgn.helpers.linux.mm:access_remote_vm"])


#: dis --drgn: capstone set up for x86-64 (AT&T) or arm64
_X86_DECODER = """\
cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
cs.syntax = capstone.CS_OPT_SYNTAX_ATT
"""
_ARM64_DECODER = """\
cs = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
"""
#: dis --drgn: an instruction's target (kmemx.helpers.disasm's rule)
_X86_TARGET = """\
    target = None
    if capstone.CS_GRP_BRANCH_RELATIVE in insn.groups:  # a direct call or jump
        imms = [op.imm for op in insn.operands if op.type == x86_const.X86_OP_IMM]
        target = imms[-1] & (2**64 - 1) if imms else None
"""
_ARM64_TARGET = """\
    target = None
    ops = list(insn.operands)
    if ((capstone.CS_GRP_BRANCH_RELATIVE in insn.groups
         and (capstone.CS_GRP_CALL in insn.groups or capstone.CS_GRP_JUMP in insn.groups))
            or insn.mnemonic in ("adr", "adrp")
            or (insn.mnemonic.startswith(("ldr", "prfm")) and ops
                and not any(op.type == arm64_const.ARM64_OP_MEM for op in ops))):
        # a PC-relative address: a branch, adr/adrp, a literal load
        imms = [op.imm for op in ops if op.type == arm64_const.ARM64_OP_IMM]
        target = imms[-1] & (2**64 - 1) if imms else None
"""


@command("dis", "disassemble kernel text, as crash's dis",
         description="""
         capstone decodes; the text is gdb's AT&T spelling as crash prints it:
         0xADDR <symbol+offset>:<TAB>mnemonic operands, branch and call targets
         named <symbol+offset>, RIP-relative operands followed by
         '# 0xADDR <symbol>', ' [FTRACE NOP]' on the patched-out __fentry__ call
         at a function's start.

         dis SYMBOL               the whole routine
         dis ADDR|SYMBOL+OFF [COUNT]   COUNT instructions (default 1)
         dis '(schedule+20)'      an expression: symbol plus or minus an offset
         dis -r ADDR              from the routine's start up to and including ADDR
                                  (the instruction at or after it when ADDR is
                                  inside one, as crash)
         dis -f ADDR              from ADDR (the next instruction boundary) to the
                                  end of the routine
         dis -l SYMBOL            with 'FILE: LINE' lines where the source line changes
                                  (the innermost inlined function's line, from DWARF)
         dis -x / -d              offsets in hex / decimal (default decimal)
         dis -s ADDR              the file and line of ADDR, and the source text when
                                  the file is on this machine
         dis --json SYMBOL        ADDRESS LOCATION MNEMONIC OPERANDS TARGET
                                  TARGET_LOCATION SOURCE rows

         Where capstone's reading differs from gdb's (the test lists them): string
         instructions (gdb 'rep stos %rax,%es:(%rdi)', capstone 'rep stosq
         %rax,(%rdi)'), the multi-byte nops and segment-prefixed nops (gdb 'xchg
         %ax,%ax', 'cs nopw 0x0(%rax,%rax,1)'), and a few mnemonic suffixes gdb keeps
         on a memory-only operand.  -b (bytes after ud2) is not supported; a
         module's routines are named from its in-memory symbol table.

         dis -u ADDR [COUNT]      user text of the current context's task (set PID),
                                  read through its mm; -r, -f and -l do not apply
         arm64: gdb's spelling as crash-arm64 prints it (kmemx.arch.aarch64_text):
         'mnemonic<TAB>operands', plain branch/adrp targets with <symbol+offset>,
         hex immediates (#0x10) and decimal address offsets ([sp, #32]), 'mov x0,
         #0x6e9d  // #28317', condition aliases ('b.ne ...  // b.any', 'csel ...,
         ne  // ne = any'); --drgn prints capstone's own text on both.
         """,
         arguments=[arg("target", help="address, symbol, symbol+offset or (expression)"),
                    arg("count", nargs="?", type=int, help="number of instructions"),
                    arg("-r", dest="reverse", action="store_true",
                        help="from the routine's start to the address"),
                    arg("-f", dest="forward", action="store_true",
                        help="from the address to the routine's end"),
                    arg("-l", dest="lines", action="store_true", help="source line numbers"),
                    arg("-x", dest="hex", action="store_true", help="hexadecimal offsets"),
                    arg("-d", dest="dec", action="store_true", help="decimal offsets"),
                    arg("-s", dest="source", action="store_true",
                        help="source file and line, and the source when available"),
                    arg("-u", dest="user", action="store_true",
                        help="a user address of the current context")],
         columns=DIS_COLUMNS, drgn_code=_dis_drgn)
def _dis(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    use_module_kallsyms(ctx.prog)
    if args.count is not None and args.count <= 0:
        raise CommandError(f"dis: invalid count {args.count}")
    if args.user:
        yield from _dis_user(ctx, args)
        return
    address, whole = _resolve(ctx, args.target)
    if args.source:
        yield from _source_listing(ctx, address, args.count)
        return
    count: int | None = args.count
    if args.reverse or args.forward:
        # decoded from the routine's start, so that an address inside an
        # instruction lands on a boundary as crash's does: -r ends with the
        # first instruction at or after ADDR, -f starts there
        start, stop = _routine(ctx, address)
        insns = list(_guarded(ctx, start, None, stop))
        first = next((i for i, x in enumerate(insns) if x.address >= address), len(insns))
        if args.reverse:
            insns = insns[:first + 1]
            if count is not None:
                insns = insns[-count:]
        else:
            insns = insns[first:]
            if count is not None:
                insns = insns[:count]
        yield from _emit(ctx, args, insns)
        return
    end: int | None = None
    if whole and count is None:
        _, end = _routine(ctx, address)
    elif count is None:
        count = 1
    yield from _emit(ctx, args, _guarded(ctx, address, count, end))


def _dis_user(ctx: Context, args: argparse.Namespace) -> Iterator[Any]:
    from drgn.helpers.linux.mm import access_remote_vm

    from kmemx.commands import parse_hex

    address = parse_hex(args.target)
    if address is None:
        raise CommandError(f"dis: -u: not a hexadecimal address: {args.target!r}")
    task = ctx.current_task()
    mm = task.mm.read_()
    if not mm:
        raise CommandError(f"dis: -u: PID {int(task.pid)} has no user address space")

    def read(addr: int, size: int) -> bytes:
        return bytes(access_remote_vm(mm, addr, size))

    args.lines = False
    yield from _emit(ctx, args, _guarded(ctx, address, args.count or 1, None, read))


def _guarded(ctx: Context, address: int, count: int | None, end: int | None,
             read: Callable[[int, int], bytes] | None = None) -> Iterator[Instruction]:
    try:
        yield from disassemble(ctx.prog, address, count, end, read)
    except drgn.FaultError as e:
        if e.message.endswith(PHYSICAL_MARK):  # drgn's translation of it faulted
            raise CommandError(f"dis: cannot read text at {address:#x}: "
                               f"{fault_reason(e)}") from None
        raise CommandError(f"dis: cannot read text at {e.address:#x}") from None
    except ValueError as e:
        raise CommandError(f"dis: {e}") from None


def _emit(ctx: Context, args: argparse.Namespace, insns: Iterable[Instruction]) -> Iterator[Any]:
    last: tuple[str, int] | None = None
    n = 0
    for insn in insns:
        n += 1
        src = _source(ctx.prog, insn.address) if args.lines else None
        if ctx.as_json:
            yield _row(ctx, insn, src)
            continue
        if src is not None and src != last:
            yield TextLine(f"{src[0]}: {src[1]}")
            last = src
        yield TextLine(_line(ctx, insn, args.hex and not args.dec))
    if not n:
        raise CommandError(f"dis: no instruction decodes at {args.target}")
