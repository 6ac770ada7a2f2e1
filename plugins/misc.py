"""crash's small commands: eval, ascii, p, mach, dev, ipcs, fuser, bpf.

``alias``, ``repeat`` and ``exit``/``q`` are in plugins/session.py, ``help`` in
plugins/core.py."""

from __future__ import annotations

import argparse
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import drgn

from kmemx.arch.x86_64 import MODULES_VADDR
from kmemx.arch.x86_64 import START_KERNEL_MAP as _START_KERNEL_MAP
from kmemx.commands import (
    Address,
    CommandError,
    Context,
    Hex,
    Name,
    Row,
    TextLine,
    TextRecord,
    arg,
    command,
)
from kmemx.commands.cells import HexRange, kernel_str
from kmemx.commands.cexpr import CValue, evaluate_c
from kmemx.commands.drgncode import nothing_to_translate
from kmemx.commands.rows import END_TABLE
from kmemx.commands.values import object_json
from kmemx.errors import fault_where
from kmemx.helpers.mm import PAGE_SIZE
from kmemx.helpers.timekeeping import kernel_hz

from .lists import KERNEL_HALF, complete_array, crash_print_text, parse_address
from .sched import cpu_list

__all__ = ["ascii_text", "crash_eval", "eval_rows", "p_evaluate", "p_lines"]

# ---------------------------------------------------------------------------- eval

_OPS: dict[str, Callable[[int, int], int]] = {
    "+": operator.add, "-": operator.sub, "&": operator.and_, "|": operator.or_,
    "^": operator.xor, "*": operator.mul, "%": operator.mod, "/": operator.floordiv,
    "<<": operator.lshift, ">>": operator.rshift}
_EXPR = re.compile(r"^\s*(\S+?)\s*(<<|>>|[-+&|^*%/])\s*(\S+)\s*$")
_SUFFIX = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_MASK = (1 << 64) - 1


def _operand(ctx: Context, text: str) -> int:
    """A number as crash's eval reads one: decimal, hex with ``0x`` or hex
    letters, a k/m/g suffix, a leading ``~``; or a symbol's address."""
    t = text.strip()
    invert = t.startswith("~")
    t = t.lstrip("~")
    scale = 1
    if t and t[-1].lower() in _SUFFIX and re.fullmatch(r"(0x)?[0-9a-fA-F]+[kKmMgG]", t):
        scale = _SUFFIX[t[-1].lower()]
        t = t[:-1]
    if re.fullmatch(r"[0-9]+", t):
        v = int(t)
    elif re.fullmatch(r"(0[xX])?[0-9a-fA-F]+", t):
        v = int(t, 16)
    else:
        try:
            v = ctx.prog.symbol(t).address
        except LookupError:
            raise CommandError(f"eval: invalid operand {text!r} (not a number or a "
                               "symbol)") from None
    v *= scale
    return (~v & _MASK) if invert else v


def crash_eval(ctx: Context, text: str) -> int:
    """``(x op y)`` or ``value`` as crash's eval computes it, in 64 bits.
    Raises CommandError for a malformed expression or a division by zero."""
    t = text.strip()
    if t.startswith("(") and t.endswith(")"):
        t = t[1:-1]
    m = _EXPR.match(t)
    if m is None or (m.group(1) == "" and m.group(2) == "-"):
        return _operand(ctx, t) & _MASK
    try:
        return _OPS[m.group(2)](_operand(ctx, m.group(1)), _operand(ctx, m.group(3))) & _MASK
    except ZeroDivisionError:
        raise CommandError("eval: division by zero") from None


def _size_note(v: int) -> str:
    for unit, name in ((1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "KB")):
        if v and v % unit == 0:
            return f"  ({v // unit}{name})"
    return ""


def eval_rows(v: int, bits: bool) -> list[tuple[str, str]]:
    """crash's eval display of a 64-bit value: hexadecimal (with the KB/MB/GB
    shorthand), decimal (and the signed value when the top bit is set),
    octal, binary (64 digits), and with ``bits`` the set bit positions."""
    rows = [("hexadecimal", f"{v:x}{_size_note(v)}"),
            ("decimal", f"{v}" + (f"  ({v - (1 << 64)})" if v >> 63 else "")),
            ("octal", f"{v:o}"), ("binary", f"{v:064b}")]
    if bits:
        rows.append(("bits set", " ".join(str(i) for i in range(63, -1, -1) if v >> i & 1)))
    return rows


_eval_drgn = nothing_to_translate("eval is arithmetic: in Python, hex(X OP Y), oct(), bin(); "
                                  "a symbol's address is prog.symbol(NAME).address")


@command("eval", "evaluate an expression, shown in hex, decimal, octal and binary",
         description="""
         eval VALUE | (X OP Y)    OP: + - & | ^ * % / << >>; numbers decimal, or hex
                                  with 0x or hex letters, with k/m/g multipliers and ~;
                                  symbols stand for their addresses (crash's eval)
         eval -b VALUE            also the positions of the bits set
         eval -l                  accepted (64-bit values are the default here)
         """,
         arguments=[arg("expression", nargs="+"),
                    arg("-b", dest="bits", action="store_true", help="bits set"),
                    arg("-l", dest="long", action="store_true", help="64-bit (default)")],
         columns=("KEY", "VALUE"), drgn_code=_eval_drgn)
def _eval(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    v = crash_eval(ctx, " ".join(args.expression))
    for key, value in eval_rows(v, args.bits):
        if ctx.as_json:
            yield Row(("KEY", "VALUE"), (key, value))
        else:
            yield TextLine(f"{key:>11}: {value}")


# ---------------------------------------------------------------------------- ascii

_CONTROL = ("NUL SOH STX ETX EOT ENQ ACK BEL BS HT LF VT FF CR SO SI DLE DC1 DC2 DC3 DC4 "
            "NAK SYN ETB CAN EM SUB ESC FS GS RS US").split()


def ascii_text(value: int) -> str:
    """The 8 bytes of ``value`` in memory order (little-endian) as crash's
    ascii shows them: printable characters as they are, control characters
    as ``<NUL>``, ``<LF>``..., others as ``<xNN>``."""
    out = []
    for b in value.to_bytes(8, "little"):
        if 32 <= b < 127:
            out.append(chr(b))
        elif b < 32:
            out.append(f"<{_CONTROL[b]}>")
        elif b == 127:
            out.append("<DEL>")
        else:
            out.append(f"<x{b:02x}>")
    return "".join(out)


_ascii_drgn = nothing_to_translate("ascii is arithmetic: in Python, "
                                   "VALUE.to_bytes(8, 'little').decode('latin-1')")


@command("ascii", "a 64-bit value as ASCII characters, or the ASCII chart",
         description="""
         ascii VALUE ...          '0000000041424344: DCBA<NUL><NUL><NUL><NUL>' (hex
                                  VALUE, bytes in memory order)
         ascii                    the chart
         """,
         arguments=[arg("values", nargs="*")], columns=("VALUE", "ASCII"), drgn_code=_ascii_drgn)
def _ascii(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    if not args.values:
        yield TextLine("")
        yield TextLine("      0    1   2   3   4   5   6   7")
        yield TextLine("    +-------------------------------")
        for row in range(16):
            cells = []
            for col in range(8):
                c = col * 16 + row
                name = (_CONTROL[c] if c < 32 else "DEL" if c == 127 else
                        "SP" if c == 32 else chr(c))
                cells.append(f"{name:>3}")
            yield TextLine(f"  {row:X} | " + " ".join(cells).lstrip())
        return
    for s in args.values:
        try:
            v = int(s, 16)
        except ValueError:
            raise CommandError(f"ascii: not a hexadecimal value: {s!r}") from None
        if v >> 64:
            raise CommandError(f"ascii: more than 64 bits: {s!r}")
        if ctx.as_json:
            yield Row(("VALUE", "ASCII"), (Hex(v), ascii_text(v)))
        else:
            yield TextLine(f"{v:016x}: {ascii_text(v)}")


@command("rustfilt", "a mangled Rust symbol name made readable (crash 9's rustfilt)",
         description="""
         rustfilt NAME ...        each mangled Rust name (v0 _R..., legacy _ZN...E)
                                  demangled: _RNvNtCshc5sK6KjdJJ_6kernel5print11call_printk
                                  is kernel::print::call_printk (GNU binutils' c++filt,
                                  libiberty's demangler as crash's; log -R does it to
                                  the log's text)
         """,
         arguments=[arg("names", nargs="+", metavar="NAME")], columns=("NAME", "SYMBOL"),
         drgn_code=nothing_to_translate("rustfilt reads no kernel memory: "
                                        "c++filt -i -s rust NAME"))
def _rustfilt(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from kmemx.demangle import demangle_rust
    from kmemx.errors import KmemxError

    try:
        readable = demangle_rust(args.names)
    except KmemxError as e:
        raise CommandError(f"rustfilt: {e}") from None
    for name, symbol in zip(args.names, readable):
        if symbol is None:  # crash: "Not a rust symbol:" and the name
            ctx.warn(f"rustfilt: not a Rust symbol: {name}")
            continue
        yield Row(("NAME", "SYMBOL"), (name, symbol)) if ctx.as_json else TextLine(symbol)


# ---------------------------------------------------------------------------- p

_P_HISTORY = "kmemx.plugins.misc.p_history"


def _p_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``p SYMBOL[.MEMBER][:CPUSPEC] --drgn``: the object's value as ``p
    --json`` gives it (:data:`kmemx.commands.values.OBJECT_JSON_CODE`; a
    per-CPU variable by drgn's per_cpu() on each CPU)."""
    from kmemx.commands.drgncode import table_script
    from kmemx.commands.values import OBJECT_JSON_CODE

    words = list(args.expression)
    text = " ".join(words)
    name, _, spec = text.partition(":")
    if len(words) > 1 or ":" not in text:
        name = spec = ""
        if _percpu_symbol(ctx.prog, words[0]):
            name = words[0]
    base = re.split(r"[.\[]", name, maxsplit=1)[0]
    rest = name[len(base):]
    member = f".subobject_({rest.lstrip('.')!r})" if rest else ""
    code = OBJECT_JSON_CODE + """

def cell(v):  # a list is a table cell of space-separated values
    return " ".join("-" if x is None else str(x) for x in v) if isinstance(v, list) else v


"""
    imports = ["drgn:FaultError,TypeKind"]
    if name and not spec and ":" not in text:
        from kmemx.commands.drgncode import text_script

        return text_script(ctx, f"""\
var = prog[{base!r}]  # a per-CPU variable: its declaration and its address on each CPU
print("PER-CPU DATA TYPE:")
print(f"  {{var.type_.variable_declaration({base!r})}};")
print("PER-CPU ADDRESSES:")
for cpu in {cpu_list(ctx, None)}:
    print(f"  [{{cpu}}]: {{per_cpu_ptr(var.address_of_(), cpu).value_():x}}")
""", ["drgn.helpers.linux.percpu:per_cpu_ptr"])
    if not name:
        if "$" in text:
            raise CommandError("p --drgn: '$' names a value of this session's history, "
                               "which a drgn script does not have")
        value = p_evaluate(ctx, text)  # the expression's drgn code, checked by evaluating it
        return table_script(ctx, ("NAME", "VALUE"), code + f"""\
row({text!r}, cell(to_json({value.code})))
""", [*imports, "drgn:Object,cast,sizeof"])
    return table_script(ctx, ("NAME", "VALUE"), code + f"""\
for cpu in {cpu_list(ctx, spec or None)}:  # a per-CPU variable on these CPUs
    row(f"per_cpu({base}, {{cpu}}){rest}", cell(to_json(per_cpu(prog[{base!r}], cpu){member})))
""", [*imports, "drgn.helpers.linux.percpu:per_cpu"])


@command("p", "print the value of a symbol or a C expression (crash's p, through drgn)",
         description="""
         p SYMBOL                 'jiffies = $1 = 4294894721': crash's text, the value
                                  numbered in a per-dump history as gdb does and
                                  printed as crash's gdb prints it (pretty structures,
                                  '(struct mm_struct *) 0x0' pointers, strings with
                                  their NULs, at most 256 elements; an array after a
                                  line break: 'x = $2 = ' / ' {1, 2}')
         p SYMBOL.MEMBER[...]     a member of a global (init_task.comm, x[2].y):
                                  '$3 = ...', without the name, as crash
         p EXPRESSION             a C expression as gdb evaluates it: &init_task,
                                  *init_task.tasks.next, ((struct task_struct *)ADDR)->pid,
                                  (long)jiffies, sizeof(struct page), sizeof x,
                                  init_task.comm[0] + 1, jiffies * HZ, $N and $ (the
                                  history); & * -> . [] casts, unary - ~ !, and
                                  * / % + - << >> < > <= >= == != & ^ | && || with
                                  C's types; crash's 'SYMBOL = ' in front when the
                                  first word is a symbol ('p jiffies + 1'). Unlike
                                  crash, a word starting with '-' is kept ('p jiffies
                                  - 1', 'p -1'); no function calls, assignments or
                                  casts to function-pointer types
         p SYMBOL:CPUSPEC         a per-CPU variable on these CPUs (':a' all, ':0,1')
         p PERCPU_SYMBOL          crash's PER-CPU DATA TYPE (its declaration) and
                                  PER-CPU ADDRESSES ('  [0]: ADDR') block
         p -x / -d SYMBOL         integers in hex / decimal
         p EXPR --json            NAME and VALUE: the value as data, not text:
                                  integers and pointers numbers, char arrays
                                  strings, structures objects, arrays lists
                                  (-x and -d change the text only)
         p EXPR --drgn            the drgn code computing it (prog[...], cast(),
                                  sizeof(), Object arithmetic); not for $N
         """,
         arguments=[arg("expression", nargs="+"),
                    arg("-x", dest="hex", action="store_true", help="hexadecimal"),
                    arg("-d", dest="dec", action="store_true", help="decimal")],
         columns=("NAME", "VALUE"), drgn_code=_p_drgn)
def _p(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    words = list(args.expression)
    text = " ".join(words)
    if len(words) == 1 and ":" in text:
        yield from _p_percpu(ctx, args, text)
        return
    first = words[0]
    if _percpu_symbol(ctx.prog, first):  # crash: where it is on each CPU, not a value
        yield _percpu_block(ctx, first, _p_symbol(ctx, first))
        return
    radix = 16 if args.hex else 10 if args.dec else None
    # crash's leader: the first word when it is a symbol (cmd_p()'s symbol_search())
    leader = first if _is_symbol(ctx.prog, first) else None
    try:
        o = p_evaluate(ctx, text).obj
        value: Any = object_json(o) if ctx.as_json else crash_print_text(o, radix)
    except drgn.FaultError as e:
        raise CommandError(f"p: {text}: cannot read {fault_where(e)}") from None
    yield from _p_record(ctx, text, leader, o, value)


def _p_symbol(ctx: Context, name: str) -> drgn.Object:
    """A global's object (a ``char []`` definition at its ELF symbol's length);
    an unknown name is a :class:`CommandError` with "did you mean"."""
    try:
        obj = ctx.prog[name]
    except KeyError:
        from kmemx.symbols import did_you_mean, symbol_names

        raise CommandError(f"p: no symbol {name!r}" + did_you_mean(name, symbol_names(
            ctx.prog))) from None
    return complete_array(ctx.prog, name, obj)


def _is_symbol(prog: drgn.Program, name: str) -> bool:
    try:
        prog.symbol(name)
    except LookupError:
        return False
    return True


def _p_history(ctx: Context) -> list[drgn.Object]:
    """gdb's value history of this program: ``$N`` is item N - 1."""
    history: list[drgn.Object] = ctx.prog.cache.setdefault(_P_HISTORY, [])
    return history


def p_evaluate(ctx: Context, text: str) -> CValue:
    """The C expression ``text`` as crash's ``p`` evaluates it (gdb's):
    globals by :func:`_p_symbol`, ``$N`` from this program's ``p`` history,
    and a pointer into user space (NULL too) never followed.  Raises
    CommandError, drgn.FaultError (:func:`kmemx.commands.cexpr.evaluate_c`)."""
    return evaluate_c(ctx.prog, text, _p_history(ctx), lambda name: _p_symbol(ctx, name),
                      KERNEL_HALF)


def _p_record(ctx: Context, label: str, leader: str | None, o: drgn.Object,
              value: Any) -> Iterator[Any]:
    history = _p_history(ctx)
    history.append(o)  # gdb numbers the values it printed
    if ctx.as_json:
        yield Row(("NAME", "VALUE"), (label, value), o)
        return
    yield from (TextLine(line) for line in p_lines(leader, len(history), value))


def _p_percpu(ctx: Context, args: argparse.Namespace, text: str) -> Iterator[Any]:
    """``p SYMBOL[.MEMBER]:CPUSPEC``: the per-CPU instances, crash's
    ``per_cpu(SYMBOL, CPU) = $N = ...``."""
    from drgn.helpers.linux.percpu import per_cpu

    name, _, spec = text.partition(":")
    base = re.split(r"[.\[]", name, maxsplit=1)[0]
    rest = name[len(base):]
    obj = _p_symbol(ctx, base)
    radix = 16 if args.hex else 10 if args.dec else None
    for cpu in cpu_list(ctx, spec or None):
        label = f"per_cpu({base}, {cpu}){rest}"
        o = per_cpu(obj, cpu)
        try:
            if rest:
                o = o.subobject_(rest.lstrip("."))
        except (LookupError, ValueError, TypeError) as e:
            raise CommandError(f"p: {text}: {e}") from None
        try:
            value: Any = object_json(o) if ctx.as_json else crash_print_text(o, radix)
        except drgn.FaultError as e:
            raise CommandError(f"p: {label}: cannot read {fault_where(e)}") from None
        yield from _p_record(ctx, label, label, o, value)


def _percpu_symbol(prog: drgn.Program, name: str) -> bool:
    """Whether ``name`` is a per-CPU variable: a data symbol in the per-CPU
    section, from ``__per_cpu_start`` to ``__per_cpu_end`` (crash's
    is_percpu_symbol())."""
    try:
        sym = prog.symbol(name)
        lo = prog.symbol("__per_cpu_start").address
        hi = prog.symbol("__per_cpu_end").address
    except LookupError:
        return False
    return bool(sym.kind == drgn.SymbolKind.OBJECT and lo <= sym.address < hi)


def _percpu_block(ctx: Context, name: str, obj: drgn.Object) -> TextRecord:
    """crash's ``p`` of a per-CPU variable without a cpuspec (symbols.c
    display_per_cpu_info()): its declaration and its address on each CPU,
    ``per_cpu_ptr(&name, cpu)``; JSON: name, type and ``addresses`` (CPU ->
    address)."""
    from drgn.helpers.linux.percpu import per_cpu_ptr

    addrs = [(cpu, int(per_cpu_ptr(obj.address_of_(), cpu).value_()))
             for cpu in cpu_list(ctx, None)]
    text = (f"PER-CPU DATA TYPE:\n  {obj.type_.variable_declaration(name)};\n"
            "PER-CPU ADDRESSES:\n" + "".join(f"  [{c}]: {a:x}\n" for c, a in addrs))
    return TextRecord(text, {"name": name, "type": obj.type_.type_name(),
                             "addresses": {str(c): Address(a) for c, a in addrs}}, obj)


def p_lines(leader: str | None, n: int, value: str) -> list[str]:
    """crash's ``p`` text (symbols.c process_gdb_output()): gdb's ``$N =
    VALUE``, after ``LEADER = `` for a symbol alone (``jiffies = $1 =
    4294894721``; an expression has none: ``$2 = {``); when the first line
    has a ``{`` that does not end it (an array, ``{void (void)} 0x...``),
    crash breaks the line before it: ``LEADER = $N = `` and `` {...``."""
    first, *more = f"${n} = {value}".split("\n")
    if leader is None:
        return [first, *more]
    brace = first.find("{")
    if brace >= 0 and first[brace:] != "{":
        return [f"{leader} = {first[:brace]}", " " + first[brace:], *more]
    return [f"{leader} = {first}", *more]


# ---------------------------------------------------------------------------- mach

def _mach_head(ctx: Context, speed: str | None) -> list[tuple[str, Any]]:
    """The rows crash's mach prints first on every architecture: MACHINE
    TYPE, MEMORY SIZE, CPUS, PROCESSOR SPEED (``speed``; None: no row, as
    crash's arm64_processor_speed() knows none), HZ, PAGE SIZE."""
    from kmemx.helpers.cpumask import for_each_online_cpu

    from .basics import _crash_cpus, _node_present_bytes, cpus_text, memory_text

    rows: list[tuple[str, Any]] = [
        ("MACHINE TYPE", ctx.prog["init_uts_ns"].name.machine.string_().decode()),
        ("MEMORY SIZE", memory_text(_node_present_bytes(ctx))),
        ("CPUS", cpus_text(_crash_cpus(ctx), sum(1 for _ in for_each_online_cpu(ctx.k)))),
    ]
    if speed is not None:
        rows.append(("PROCESSOR SPEED", speed))
    return [*rows, ("HZ", kernel_hz(ctx.prog)), ("PAGE SIZE", PAGE_SIZE)]


def _mach_rows(ctx: Context) -> list[tuple[str, Any]]:
    from drgn.helpers.linux.percpu import per_cpu

    from .tasks import thread_size

    prog = ctx.prog
    rows = _mach_head(ctx, f"{int(prog['cpu_khz']) // 1000} Mhz")
    for key, var in (("KERNEL VIRTUAL BASE", "page_offset_base"),
                     ("KERNEL VMALLOC BASE", "vmalloc_base"),
                     ("KERNEL VMEMMAP BASE", "vmemmap_base")):
        try:
            rows.append((key, Address(int(prog[var]))))
        except KeyError:  # !CONFIG_DYNAMIC_MEMORY_LAYOUT
            pass
    rows += [("KERNEL START MAP", Address(_START_KERNEL_MAP)),
             ("KERNEL MODULES BASE", Address(MODULES_VADDR))]
    rows.append(("KERNEL STACK SIZE", thread_size(prog)))
    irq_stack = prog.type("struct irq_stack").size  # IRQ_STACK_SIZE
    # the IRQ stacks: hardirq_stack_ptr points at the top word (irq_init_percpu_irqstack)
    try:
        ptr_var = prog["hardirq_stack_ptr"]
        get: Callable[[int], int] = lambda cpu: int(per_cpu(ptr_var, cpu))  # noqa: E731
    except KeyError:
        # moved into struct pcpu_hot in 6.2 ("x86/percpu: Move irq_stack
        # variables next to current_task", Thomas Gleixner's call-depth series)
        hot = prog["pcpu_hot"]
        get = lambda cpu: int(per_cpu(hot, cpu).hardirq_stack_ptr)  # noqa: E731
    rows.append(("IRQ STACK SIZE", irq_stack))
    for cpu in cpu_list(ctx, None):
        # the stack is page aligned; its pointer is the top word since 5.12
        # ("x86/irq/64: Adjust the per CPU irq stack pointer by 8"), the end before
        base = (get(cpu) + 8 - irq_stack) & ~0xFFF
        rows.append((f"IRQ STACK CPU {cpu}", Address(base)))
    return rows


def _mach_rows_aarch64(ctx: Context) -> list[tuple[str, Any]]:
    """arm64's rows, as crash's arm64_display_machine_stats() prints them:
    no PROCESSOR SPEED (crash's arm64_processor_speed() knows none); the
    linear map's base (``PAGE_OFFSET``); the modules, vmalloc and vmemmap
    bases the kernel exports in VMCOREINFO since commit 2369f171d5c5
    ("arm64: crash_core: Export MODULES, VMALLOC, and VMEMMAP ranges",
    v5.18; left out of an older dump's rows); THREAD_SIZE; the IRQ stacks
    (``irq_stack_ptr``, IRQ_STACK_SIZE = THREAD_SIZE, arch/arm64/kernel/irq.c)
    and the overflow stacks (``overflow_stack``, arch/arm64/kernel/traps.c)."""
    from drgn.helpers.linux.percpu import per_cpu, per_cpu_ptr

    from kmemx.arch.aarch64 import page_offset

    from .tasks import thread_size

    prog = ctx.prog
    rows = _mach_head(ctx, None)
    info = getattr(ctx.k, "vmcoreinfo", None)
    va_bits = info.va_bits if info is not None else None
    if va_bits is not None:
        rows.append(("KERNEL VIRTUAL BASE",
                     Address(page_offset(va_bits, prog.symbol("_text").address))))
    for key, name in (("KERNEL MODULES BASE", "MODULES_VADDR"),
                      ("KERNEL VMALLOC BASE", "VMALLOC_START"),
                      ("KERNEL VMEMMAP BASE", "VMEMMAP_START")):
        value = info.number(name) if info is not None else None
        if value is not None:
            rows.append((key, Address(value)))
    stack = thread_size(prog)
    rows.append(("KERNEL STACK SIZE", stack))
    try:
        irq_ptr = prog["irq_stack_ptr"]
    except KeyError:  # before v4.14's VMAP_STACK rework: no IRQ stack pointers
        pass
    else:
        rows.append(("IRQ STACK SIZE", stack))  # IRQ_STACK_SIZE is THREAD_SIZE
        for cpu in cpu_list(ctx, None):
            rows.append((f"IRQ STACK CPU {cpu}", Address(int(per_cpu(irq_ptr, cpu)))))
    # by its ELF symbol: KVM's nVHE hypervisor has an overflow_stack of its
    # own (arch/arm64/kvm/hyp/nvhe/stacktrace.c, linked as
    # __kvm_nvhe_overflow_stack) whose DWARF has the same name, and a lookup
    # by name can find either
    try:
        overflow = prog.symbol("overflow_stack")
    except LookupError:  # !CONFIG_VMAP_STACK
        return rows
    rows.append(("OVERFLOW STACK SIZE", overflow.size))  # OVERFLOW_STACK_SIZE
    base = drgn.Object(prog, "void *", overflow.address)
    for cpu in cpu_list(ctx, None):
        rows.append((f"OVERFLOW STACK CPU {cpu}",
                     Address(int(per_cpu_ptr(base, cpu).value_()))))
    return rows


def _x86_64_only(ctx: Context) -> None:
    """mach's --drgn reads x86-64's layout: one line on another dump."""
    from kmemx.arch import is_x86_64

    if not is_x86_64(ctx.prog):
        raise CommandError("mach: --drgn: x86-64 dumps only")


def _mach_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``mach --drgn``: the machine rows from drgn's helpers (x86-64, arm64)."""
    from kmemx.arch import is_aarch64
    from kmemx.commands.drgncode import table_script
    from kmemx.helpers.timekeeping import JIFFIES_CODE

    from .basics import CPUS_CODE, CPUS_IMPORTS, MEMORY_CODE

    if is_aarch64(ctx.prog):
        return table_script(ctx, ("KEY", "VALUE"), f"""\
row("MACHINE TYPE", prog["init_uts_ns"].name.machine.string_().decode())
{MEMORY_CODE}row("MEMORY SIZE", memory)
{CPUS_CODE}{JIFFIES_CODE}row("HZ", hz)
row("PAGE SIZE", prog["PAGE_SIZE"].value_())
info = dict(line.split("=", 1) for line in
            prog["VMCOREINFO"].string_().decode().splitlines() if "=" in line)
va_bits = int(info["NUMBER(VA_BITS)"])
# PAGE_OFFSET: -(1 << VA_BITS) since the flipped VA space (v5.4), where the image
# lies in the kernel half's top half
page_offset = -(1 << va_bits) % (1 << 64)
if prog.symbol("_text").address < -(1 << (va_bits - 1)) % (1 << 64):
    page_offset = -(1 << (va_bits - 1)) % (1 << 64)
row("KERNEL VIRTUAL BASE", hex(page_offset))
for key, name in (("KERNEL MODULES BASE", "MODULES_VADDR"),
                  ("KERNEL VMALLOC BASE", "VMALLOC_START"),
                  ("KERNEL VMEMMAP BASE", "VMEMMAP_START")):
    if f"NUMBER({{name}})" in info:  # exported since v5.18
        row(key, hex(int(info[f"NUMBER({{name}})"], 0)))
try:  # init_stack's end: __end_init_stack in newer kernels, __end_init_task before
    end = prog.symbol("__end_init_stack").address
except LookupError:
    end = prog.symbol("__end_init_task").address
stack = end - prog.symbol("init_stack").address
row("KERNEL STACK SIZE", stack)
row("IRQ STACK SIZE", stack)  # IRQ_STACK_SIZE is THREAD_SIZE
for cpu in for_each_present_cpu(prog):
    row(f"IRQ STACK CPU {{cpu}}", hex(per_cpu(prog["irq_stack_ptr"], cpu).value_()))
# the ELF symbol: KVM's nVHE overflow_stack (__kvm_nvhe_overflow_stack) has the
# same name in DWARF, and prog["overflow_stack"] can find either
overflow = prog.symbol("overflow_stack")
row("OVERFLOW STACK SIZE", overflow.size)
for cpu in for_each_present_cpu(prog):
    row(f"OVERFLOW STACK CPU {{cpu}}",
        hex(per_cpu_ptr(Object(prog, "void *", overflow.address), cpu).value_()))
""", ["drgn:Object", "drgn.helpers.linux.nodemask:for_each_online_node",
      "drgn.helpers.linux.mmzone:NODE_DATA",
      "drgn.helpers.linux.percpu:per_cpu,per_cpu_ptr",
      "drgn.helpers.linux.cpumask:for_each_present_cpu", CPUS_IMPORTS])
    _x86_64_only(ctx)

    return table_script(ctx, ("KEY", "VALUE"), f"""\
row("MACHINE TYPE", prog["init_uts_ns"].name.machine.string_().decode())
{MEMORY_CODE}row("MEMORY SIZE", memory)
{CPUS_CODE}row("PROCESSOR SPEED", f"{{prog['cpu_khz'].value_() // 1000}} Mhz")
{JIFFIES_CODE}row("HZ", hz)
row("PAGE SIZE", prog["PAGE_SIZE"].value_())
for key, var in (("KERNEL VIRTUAL BASE", "page_offset_base"),
                 ("KERNEL VMALLOC BASE", "vmalloc_base"),
                 ("KERNEL VMEMMAP BASE", "vmemmap_base")):
    try:
        row(key, hex(prog[var].value_()))
    except KeyError:  # !CONFIG_DYNAMIC_MEMORY_LAYOUT
        pass
start_map = {_START_KERNEL_MAP:#x}  # __START_KERNEL_map
row("KERNEL START MAP", hex(start_map))
row("KERNEL MODULES BASE", hex(start_map + (1 << 30)))  # after a 1 GiB KASLR image
try:  # init_stack's end: __end_init_stack in newer kernels, __end_init_task before
    end = prog.symbol("__end_init_stack").address
except LookupError:
    end = prog.symbol("__end_init_task").address
row("KERNEL STACK SIZE", end - prog.symbol("init_stack").address)
irq_stack = sizeof(prog.type("struct irq_stack"))
row("IRQ STACK SIZE", irq_stack)
for cpu in for_each_present_cpu(prog):
    try:
        top = per_cpu(prog["hardirq_stack_ptr"], cpu).value_()
    except KeyError:  # in struct pcpu_hot from 6.2
        top = per_cpu(prog["pcpu_hot"], cpu).hardirq_stack_ptr.value_()
    # the pointer is the stack's top word since 5.12; the stack is page aligned
    row(f"IRQ STACK CPU {{cpu}}", hex((top + 8 - irq_stack) & ~0xFFF))
""", ["drgn:sizeof", "drgn.helpers.linux.nodemask:for_each_online_node",
      "drgn.helpers.linux.mmzone:NODE_DATA", "drgn.helpers.linux.percpu:per_cpu",
      "drgn.helpers.linux.cpumask:for_each_present_cpu", CPUS_IMPORTS])


@command("mach", "machine data: type, memory, CPUs, speed, HZ, memory layout, stacks",
         description="""
         mach                     crash's keys: MACHINE TYPE, MEMORY SIZE, CPUS,
                                  PROCESSOR SPEED, HZ, PAGE SIZE, the kernel's virtual,
                                  vmalloc, vmemmap, start-map and modules bases,
                                  KERNEL STACK SIZE, IRQ STACK SIZE and each CPU's IRQ
                                  stack; on arm64 (no speed, no start map) also each
                                  CPU's overflow stack.  The exception stacks (-c, -m)
                                  are not shown.
         """,
         columns=("KEY", "VALUE"), drgn_code=_mach_drgn)
def _mach(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from kmemx.arch import prog_machine

    arch = prog_machine(ctx.prog)
    if arch == "x86_64":
        rows = _mach_rows(ctx)
    elif arch == "aarch64":
        rows = _mach_rows_aarch64(ctx)
    else:
        raise CommandError("mach: x86-64 and arm64 dumps only")
    for key, value in rows:
        yield Row(("KEY", "VALUE"), (key, value))


# ---------------------------------------------------------------------------- dev

def _fops_name(ctx: Context, ops: drgn.Object) -> str | None:
    addr = int(ops.value_()) if ops else 0
    if not addr:
        return None
    try:
        return str(ctx.prog.symbol(addr).name)
    except LookupError:
        return f"{addr:x}"


def _chrdev_cdev(ctx: Context, cd: drgn.Object) -> drgn.Object | None:
    """The ``struct cdev *`` of a registered char device range: its own
    (``cd->cdev``, __register_chrdev), else the one ``cdev_add()`` put in
    ``cdev_map`` for its first device number (fs/char_dev.c, kobj_map)."""
    if cd.cdev:
        cdev: drgn.Object = cd.cdev.read_()
        return cdev
    major, minor = int(cd.major), int(cd.baseminor)
    dev = (major << 20) | minor
    probe = ctx.prog["cdev_map"].probes[major % 255].read_()
    while probe:
        if int(probe.dev) == dev:
            return drgn.cast("struct cdev *", probe.data)
        probe = probe.next.read_()
    return None


def _dev_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``dev --drgn``: chrdevs[] with each range's cdev (its own, else
    cdev_map's for its first device), then major_names[] with the first disk;
    ``-i`` the two resource trees; ``-p`` the PCI buses' devices."""
    from kmemx.commands.drgncode import table_script
    from kmemx.helpers.device import PCIE_TYPES

    if args.io:
        return table_script(ctx, RESOURCE_COLUMNS, """\
def resources(r):  # r, its children, its next siblings: /proc/iomem's order
    while r:
        yield r
        if r.child and r.child != r:
            yield from resources(r.child)
        r = r.sibling


for root in prog["ioport_resource"], prog["iomem_resource"]:  # PARENT - starts each
    digits = 8 if root.end > 0xFFFF else 4
    for r in [root.address_of_(), *resources(root.child)]:
        row(hex(r.value_()), f"{r.start.value_():0{digits}x}-{r.end.value_():0{digits}x}",
            r.name.string_().decode() if r.name else None,
            hex(r.parent.value_()) if r.parent else None)
""", [])
    if args.pci:
        return table_script(ctx, PCI_COLUMNS, f"""\
PCIE_TYPES = {PCIE_TYPES!r}


def buses(head):  # each bus, then the buses behind its bridges
    for bus in list_for_each_entry("struct pci_bus", head, "node"):
        yield bus
        yield from buses(bus.children.address_of_())


for bus in buses(prog["pci_root_buses"].address_of_()):
    devs = list(list_for_each_entry("struct pci_dev", bus.devices.address_of_(), "bus_list"))
    if bus.self:
        devs.insert(0, bus.self)
    for dev in devs:
        t = (dev.pcie_flags_reg.value_() & 0xF0) >> 4 if dev.pcie_cap else None
        text = "PCI" if t is None else PCIE_TYPES.get(t, hex(t))
        if dev.hdr_type.value_() & 0x7F in (1, 2):
            text += " [BRIDGE]"
        row(hex(dev.value_()), dev.dev.kobj.name.string_().decode(),
            f"{{dev.member_('class').value_() >> 8:04x}}",
            f"{{dev.vendor.value_():04x}}:{{dev.device.value_():04x}}", text, hex(bus.value_()))
""", ["drgn.helpers.linux.list:list_for_each_entry"])
    return table_script(ctx, ("CHRDEV", "NAME", "CDEV", "OPERATIONS"), """\
def ops_name(ops):
    if not ops:
        return None
    try:
        return prog.symbol(ops.value_()).name
    except LookupError:
        return f"{ops.value_():x}"


def range_cdev(cd):
    if cd.cdev:
        return cd.cdev.read_()
    dev = (cd.major.value_() << 20) | cd.baseminor.value_()
    probe = prog["cdev_map"].probes[cd.major.value_() % 255].read_()
    while probe:
        if probe.dev == dev:
            return cast("struct cdev *", probe.data)
        probe = probe.next.read_()
    return None


ranges = []
for head in prog["chrdevs"]:
    cd = head.read_()
    while cd:
        ranges.append(cd)
        cd = cd.next.read_()
for cd in sorted(ranges, key=lambda cd: (cd.major.value_(), cd.baseminor.value_())):
    cdev = range_cdev(cd)
    row(cd.major.value_(), cd.name.string_().decode(),
        None if cdev is None else hex(cdev.value_()),
        None if cdev is None else ops_name(cdev.ops))
disks = {}
for disk in for_each_disk(prog):
    disks.setdefault(disk.major.value_(), disk)
majors = []
for head in prog["major_names"]:
    n = head.read_()
    while n:
        majors.append((n.major.value_(), n.name.string_().decode()))
        n = n.next.read_()
table("BLKDEV", "NAME", "GENDISK", "OPERATIONS")
for major, name in sorted(majors):
    disk = disks.get(major)
    row(major, name, None if disk is None else hex(disk.value_()),
        None if disk is None else ops_name(disk.fops))
""", ["drgn:cast", "drgn.helpers.linux.block:for_each_disk"])


@command("dev", "character and block devices (crash's dev)",
         description="""
         dev                      the registered character devices (CHRDEV NAME CDEV
                                  OPERATIONS: the cdev found for the range's first
                                  device number, its file_operations symbol), then the
                                  block device majors (BLKDEV NAME GENDISK OPERATIONS:
                                  the first disk with that major)
         dev -i                   the I/O port resources (ioport_resource's tree),
                                  then the I/O memory ones (iomem_resource's), each
                                  resource before its children, as /proc/ioports and
                                  /proc/iomem: RESOURCE RANGE NAME PARENT
         dev -p                   the PCI devices, bus by bus (the root buses, then
                                  the buses behind bridges): PCI_DEV DO:BU:SL.FN
                                  CLASS PCI_ID TYPE (the PCI Express port type; PCI
                                  for a conventional device; [BRIDGE]) BUS; a bus's
                                  bridge first, as crash
         dev -d / -D              not supported (disk I/O statistics)
         """,
         arguments=[arg("-i", dest="io", action="store_true", help="I/O port and memory resources"),
                    arg("-p", dest="pci", action="store_true", help="PCI devices")],
         columns=("CHRDEV", "NAME", "CDEV", "OPERATIONS"), drgn_code=_dev_drgn)
def _dev(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    prog = ctx.prog
    if args.io:
        yield from _resource_rows(ctx)
        return
    if args.pci:
        yield from _pci_rows(ctx)
        return
    chrdevs = prog["chrdevs"]
    found: list[tuple[int, int, drgn.Object]] = []
    for i in range(len(chrdevs)):
        cd = chrdevs[i].read_()
        while cd:
            found.append((int(cd.major), int(cd.baseminor), cd))
            cd = cd.next.read_()
    for major, _, cd in sorted(found, key=lambda x: (x[0], x[1])):
        cdev = _chrdev_cdev(ctx, cd)
        yield Row(("CHRDEV", "NAME", "CDEV", "OPERATIONS"),
                  (major, Name(kernel_str(cd.name.string_())),
                   Address(int(cdev.value_())) if cdev is not None else None,
                   _fops_name(ctx, cdev.ops) if cdev is not None else None), cd)
    disks: dict[int, drgn.Object] = {}
    try:
        from drgn.helpers.linux.block import for_each_disk

        for disk in for_each_disk(prog):
            disks.setdefault(int(disk.major), disk)
    except (LookupError, AttributeError):
        pass
    major_names = prog["major_names"]
    blk: list[tuple[int, str]] = []
    for i in range(len(major_names)):
        n = major_names[i].read_()
        while n:
            blk.append((int(n.major), kernel_str(n.name.string_())))
            n = n.next.read_()
    for major, name in sorted(blk):
        disk = disks.get(major)
        yield Row(("BLKDEV", "NAME", "GENDISK", "OPERATIONS"),
                  (major, Name(name), Address(int(disk.value_())) if disk is not None else None,
                   _fops_name(ctx, disk.fops) if disk is not None else None))


RESOURCE_COLUMNS = ("RESOURCE", "RANGE", "NAME", "PARENT")
PCI_COLUMNS = ("PCI_DEV", "DO:BU:SL.FN", "CLASS", "PCI_ID", "TYPE", "BUS")


def _resource_rows(ctx: Context) -> Iterator[Any]:
    """``dev -i``: crash's do_io() (dev.c): each tree's resources, the range
    in 4 hex digits, or 8 where the root's end passes 0xffff."""
    from kmemx.helpers.device import for_each_resource

    for i, root_name in enumerate(("ioport_resource", "iomem_resource")):
        root = ctx.k.object(root_name)
        digits = 8 if int(root.end) > 0xFFFF else 4
        if i:
            yield END_TABLE
            if not ctx.as_json:
                yield TextLine("")
        for _, r in for_each_resource(root):
            name = kernel_str(r.name.string()) if r.name else None
            parent = int(r.parent)
            yield Row(RESOURCE_COLUMNS,
                      (Address(int(r.address)), HexRange(int(r.start), int(r.end), digits),
                       Name(name) if name is not None else None,
                       Address(parent) if parent else None), r)


def _pci_type_text(dev: Any) -> str:
    """A ``struct pci_dev``'s TYPE cell: its PCI Express port type by crash's
    names, ``PCI`` for a conventional device, `` [BRIDGE]`` after it for a
    bridge or CardBus header (``pci_is_bridge()``, include/linux/pci.h)."""
    from kmemx.helpers.device import PCIE_TYPES, pci_pcie_type

    t = pci_pcie_type(dev)
    text = "PCI" if t is None else PCIE_TYPES.get(t, f"{t:#x}")
    if int(dev.hdr_type) & 0x7F in (1, 2):  # PCI_HEADER_TYPE_BRIDGE, _CARDBUS
        text += " [BRIDGE]"
    return text


def _pci_rows(ctx: Context) -> Iterator[Any]:
    """``dev -p``: crash's do_pci2() (dev.c): each bus's bridge (``bus->self``),
    then its devices."""
    from kmemx.helpers.device import for_each_pci_bus, pci_bus_for_each_dev, pci_name

    for bus in for_each_pci_bus(ctx.k):
        devs = list(pci_bus_for_each_dev(bus))
        if bus.self:
            devs.insert(0, bus.self.deref())
        for dev in devs:
            yield Row(PCI_COLUMNS,
                      (Address(int(dev.address)), Name(pci_name(dev)),
                       f"{int(dev.member('class')) >> 8:04x}",
                       f"{int(dev.vendor):04x}:{int(dev.device):04x}", _pci_type_text(dev),
                       Address(int(bus.address))), dev)


# ---------------------------------------------------------------------------- ipcs

def _ipcs_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``ipcs --drgn``: drgn's for_each_sysv_*() of the initial namespace."""
    from kmemx.commands.drgncode import table_script

    every = not (args.sem or args.shm or args.msg)
    body = """\
def perm(p):
    return p.key.value_(), p.id.value_(), p.uid.val.value_(), f"{p.mode.value_() & 0o777:o}"


"""
    if every or args.shm:
        body += """\
table("SHMID_KERNEL", "KEY", "SHMID", "UID", "PERMS", "BYTES", "NATTCH")
for s in for_each_sysv_shm(prog):
    row(hex(s.value_()), *perm(s.shm_perm), s.shm_segsz.value_(), s.shm_nattch.value_())
"""
    if every or args.sem:
        body += """\
table("SEM_ARRAY", "KEY", "SEMID", "UID", "PERMS", "NSEMS")
for s in for_each_sysv_sem_array(prog):
    row(hex(s.value_()), *perm(s.sem_perm), s.sem_nsems.value_())
"""
    if every or args.msg:
        body += """\
table("MSG_QUEUE", "KEY", "MSQID", "UID", "PERMS", "USED-BYTES", "MESSAGES")
for q in for_each_sysv_msg_queue(prog):
    row(hex(q.value_()), *perm(q.q_perm), q.q_cbytes.value_(), q.q_qnum.value_())
"""
    return table_script(ctx, (), body, [
        "drgn.helpers.linux.ipc:for_each_sysv_msg_queue,for_each_sysv_sem_array,"
        "for_each_sysv_shm"])


@command("ipcs", "System V shared memory, semaphores and message queues (crash's ipcs)",
         description="""
         ipcs                     the three tables of the initial IPC namespace
         ipcs -s / -m / -q        semaphores / shared memory / message queues only
         Rows: SHMID_KERNEL KEY SHMID UID PERMS BYTES NATTCH; SEM_ARRAY KEY SEMID UID
         PERMS NSEMS; MSG_QUEUE KEY MSQID UID PERMS USED-BYTES MESSAGES.  A table with no
         entries shows '(none allocated)'.
         """,
         arguments=[arg("-s", dest="sem", action="store_true"),
                    arg("-m", dest="shm", action="store_true"),
                    arg("-q", dest="msg", action="store_true")],
         columns=("SHMID_KERNEL", "KEY", "SHMID", "UID", "PERMS", "BYTES", "NATTCH"),
         drgn_code=_ipcs_drgn)
def _ipcs(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from drgn.helpers.linux.ipc import (
        for_each_sysv_msg_queue,
        for_each_sysv_sem_array,
        for_each_sysv_shm,
    )

    every = not (args.sem or args.shm or args.msg)

    def perm(p: drgn.Object) -> tuple[Hex, int, int, str]:
        return (Hex(int(p.key)), int(p.id), int(p.uid.val), f"{int(p.mode) & 0o777:o}")

    tables: list[tuple[bool, tuple[str, ...], Iterable[drgn.Object], Callable[[drgn.Object],
                                                                              tuple[Any, ...]]]] = [
        (every or args.shm, ("SHMID_KERNEL", "KEY", "SHMID", "UID", "PERMS", "BYTES", "NATTCH"),
         for_each_sysv_shm(ctx.prog),
         lambda s: (*perm(s.shm_perm), int(s.shm_segsz), int(s.shm_nattch))),
        (every or args.sem, ("SEM_ARRAY", "KEY", "SEMID", "UID", "PERMS", "NSEMS"),
         for_each_sysv_sem_array(ctx.prog), lambda s: (*perm(s.sem_perm), int(s.sem_nsems))),
        (every or args.msg, ("MSG_QUEUE", "KEY", "MSQID", "UID", "PERMS", "USED-BYTES",
                             "MESSAGES"),
         for_each_sysv_msg_queue(ctx.prog),
         lambda q: (*perm(q.q_perm), int(q.q_cbytes), int(q.q_qnum))),
    ]
    for n, (on, cols, objs, cells) in enumerate(tables):
        if not on:
            continue
        rows = [Row(cols, (Address(int(o.value_())), *cells(o)), o) for o in objs]
        if ctx.as_json:
            yield from rows
            continue
        if n and every:
            yield TextLine("")
        if rows:
            yield from rows
        else:
            yield TextLine("  ".join(cols))
            yield TextLine("(none allocated)")


# ---------------------------------------------------------------------------- fuser

def _fuser_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``fuser PATH|INODE --drgn``: every task's root, cwd, files and mappings
    compared with PATH (d_path()) or INODE, by PID."""
    from kmemx.commands.drgncode import table_script

    if args.target.startswith("/"):
        want = args.target.encode()
        want = want.rstrip(b"/") if len(want) > 1 else want
        test = f"d_path(path.address_of_()) == {want!r}"
    else:
        test = f"path.dentry.d_inode.value_() == {parse_address(ctx, args.target):#x}"
    return table_script(ctx, ("PID", "TASK", "COMM", "USAGE"), f"""\
def uses(path):
    return {test}


# each CPU's idle task (crash's PID 0 rows), then every thread
tasks = [per_cpu(prog["runqueues"], cpu).idle for cpu in for_each_possible_cpu(prog)]
tasks += for_each_task(prog)
found = []
for task in tasks:
    use = []
    fs = task.fs.read_()
    if fs:
        if uses(fs.root):
            use.append("root")
        if uses(fs.pwd):
            use.append("cwd")
    if task.files and any(uses(f.f_path) for _, f in for_each_file(task)):
        use.append("fd")
    if task.mm and any(v.vm_file and uses(v.vm_file.f_path) for v in for_each_vma(task.mm)):
        use.append("mmap")
    if use:
        found.append((task.pid.value_(), hex(task.value_()), task.comm.string_().decode(),
                      " ".join(use)))
for r in sorted(found, key=lambda r: r[0]):
    row(*r)
""", ["drgn.helpers.linux.fs:d_path,for_each_file", "drgn.helpers.linux.mm:for_each_vma",
      "drgn.helpers.linux.percpu:per_cpu", "drgn.helpers.linux.pid:for_each_task",
      "drgn.helpers.linux.cpumask:for_each_possible_cpu"])


@command("fuser", "the tasks using a file (crash's fuser)",
         description="""
         fuser PATH               PID TASK COMM USAGE of each task whose root, working
                                  directory, open files or mappings are PATH (USAGE:
                                  root cwd fd mmap).  As crash (which runs 'foreach
                                  files -R PATH'), a path matches by its text as
                                  d_path() gives it in the task's view: a task
                                  chrooted into another filesystem's '/' (kdevtmpfs)
                                  uses '/'; by PID
         fuser INODE              an inode address instead of a path: matched by inode
         """,
         arguments=[arg("target", help="path or inode address")],
         columns=("PID", "TASK", "COMM", "USAGE"), drgn_code=_fuser_drgn)
def _fuser(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from drgn.helpers.linux.fs import d_path, for_each_file
    from drgn.helpers.linux.mm import for_each_vma

    from .tasks import _all_tasks

    prog = ctx.prog
    by_path = args.target.startswith("/")
    if by_path:
        want = args.target.encode()
        if len(want) > 1:
            want = want.rstrip(b"/")
    else:
        inode = parse_address(ctx, args.target)

    def uses(path: drgn.Object) -> bool:
        if by_path:
            return bool(d_path(path.address_of_()) == want)
        return int(path.dentry.d_inode.value_()) == inode

    seen = 0
    rows: list[Row] = []
    for t in _all_tasks(ctx):
        task = drgn.Object(prog, "struct task_struct *", value=t.address)
        use: list[str] = []
        try:
            fs = task.fs.read_()
            if fs:
                if uses(fs.root):
                    use.append("root")
                if uses(fs.pwd):
                    use.append("cwd")
            if task.files and any(uses(f.f_path) for _, f in for_each_file(task)):
                use.append("fd")
            mm = task.mm.read_()
            if mm and any(v.vm_file and uses(v.vm_file.f_path) for v in for_each_vma(mm)):
                use.append("mmap")
        except drgn.FaultError as e:
            ctx.warn(f"fuser: task {int(task.value_()):#x}: cannot read {fault_where(e)}")
            continue
        seen += 1
        if use:
            rows.append(Row(("PID", "TASK", "COMM", "USAGE"),
                            (int(task.pid), Address(int(task.value_())),
                             Name(kernel_str(task.comm.string_())), " ".join(use)), task))
    # by PID, as crash's task table (the idle tasks first, by CPU)
    yield from sorted(rows, key=lambda r: int(r.cells[0]))
    if by_path and not seen:
        raise CommandError(f"fuser: {args.target}: no task could be read")
    if not rows and not ctx.as_json:  # crash's line (filesys.c cmd_fuser())
        yield TextLine(f"No users of {args.target} found")


# ---------------------------------------------------------------------------- bpf

def _bpf_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``bpf --drgn``: drgn's bpf_prog_for_each() and bpf_map_for_each()."""
    from kmemx.commands.drgncode import table_script

    both = not (args.progs or args.maps)
    body = ""
    if both or args.progs:
        body += """\
table("ID", "BPF_PROG", "BPF_PROG_AUX", "BPF_PROG_TYPE", "TAG", "USED_MAPS")
for p in bpf_prog_for_each(prog):
    kind = p.type.format_(type_name=False).removeprefix("BPF_PROG_TYPE_")
    used = ",".join(str(m.id.value_()) for m in bpf_prog_used_maps(p))
    row(p.aux.id.value_(), hex(p.value_()), hex(p.aux.value_()), kind, bytes(p.tag).hex(), used)
"""
    if both or args.maps:
        body += """\
table("ID", "BPF_MAP", "BPF_MAP_TYPE", "MAP_FLAGS")
for m in bpf_map_for_each(prog):
    kind = m.map_type.format_(type_name=False).removeprefix("BPF_MAP_TYPE_")
    row(m.id.value_(), hex(m.value_()), kind, m.map_flags.value_())
"""
    return table_script(ctx, (), body, [
        "drgn.helpers.linux.bpf:bpf_map_for_each,bpf_prog_for_each,bpf_prog_used_maps"])


@command("bpf", "loaded eBPF programs and maps (crash's bpf)",
         description="""
         bpf                      ID BPF_PROG BPF_PROG_AUX BPF_PROG_TYPE TAG USED_MAPS
                                  for each program, then ID BPF_MAP BPF_MAP_TYPE
                                  MAP_FLAGS for each map
         bpf -P / -M              programs / maps only
         """,
         arguments=[arg("-P", dest="progs", action="store_true"),
                    arg("-M", dest="maps", action="store_true")],
         columns=("ID", "BPF_PROG", "BPF_PROG_AUX", "BPF_PROG_TYPE", "TAG", "USED_MAPS"),
         drgn_code=_bpf_drgn)
def _bpf(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from drgn.helpers.linux.bpf import bpf_map_for_each, bpf_prog_for_each, bpf_prog_used_maps

    both = not (args.progs or args.maps)
    if both or args.progs:
        for p in bpf_prog_for_each(ctx.prog):
            aux = p.aux.read_()
            kind = p.type.format_(type_name=False).removeprefix("BPF_PROG_TYPE_")
            maps = ",".join(str(int(m.id)) for m in bpf_prog_used_maps(p))
            yield Row(("ID", "BPF_PROG", "BPF_PROG_AUX", "BPF_PROG_TYPE", "TAG", "USED_MAPS"),
                      (int(aux.id), Address(int(p.value_())), Address(int(aux.value_())),
                       kind, bytes(p.tag).hex(), maps), p)
    if both or args.maps:
        for m in bpf_map_for_each(ctx.prog):
            kind = m.map_type.format_(type_name=False).removeprefix("BPF_MAP_TYPE_")
            yield Row(("ID", "BPF_MAP", "BPF_MAP_TYPE", "MAP_FLAGS"),
                      (int(m.id), Address(int(m.value_())), kind, Hex(int(m.map_flags))), m)
