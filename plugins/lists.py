"""Memory and list commands: list, tree, struct, sym, rd, whatis/ptype.

Names and main flags follow crash.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import os
import re
import string
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import drgn

from kmemx.arch.aarch64 import ptrauth_strip_kernel_insn_pac
from kmemx.arch.x86_64 import MODULES_END, MODULES_VADDR
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
    did_you_mean,
    kernel_str,
    parse_hex,
    piped_structs,
    resolve_each,
)
from kmemx.commands.rows import NO_HEADER
from kmemx.errors import PHYSICAL_MARK, KmemxError, UnknownNameError, fault_reason, fault_where
from kmemx.helpers import (
    ListCycleError,
    hlist_for_each_entry,
    list_for_each,
    list_for_each_prev,
    module_of_address,
    module_region_of,
    module_span,
    module_symbol_order,
    use_module_kallsyms,
    xa_for_each,
)
from kmemx.helpers.slab import virt_to_cache
from kmemx.symbols import section_names, symbol_names
from kmemx.types.btf import BtfError
from kmemx.types.search import types_by_size_and_member

__all__ = ["CRASH_DEREF_CODE", "CRASH_MEMBER_CODE", "CRASH_SYMBOLS_CODE", "KERNEL_HALF",
           "MODULE_SYMBOLS_CODE", "CrashDeref", "complete_array", "crash_dereference",
           "crash_dereference_text", "crash_member_line", "crash_print_text",
           "crash_struct_text", "crash_value_text", "in_kernel_image", "kernel_address", "ksymbol_at",
           "parse_address", "per_cpu_addresses", "split_struct_spec", "strip_pac",
           "struct_targets", "symbolic_word"]

#: the lowest address of the kernel's half of a 64-bit address space (x86-64
#: and arm64 kernels live above it; below it is user space)
KERNEL_HALF = 1 << 63


def kernel_address(ctx: Context, s: str, command: str,
                   what: str = "invalid kernel virtual address") -> int:
    """:func:`parse_address` for commands that read kernel objects (struct,
    list, tree, dis, sbitmapq): an address in user space (NULL included) is
    crash's error, ``struct: invalid kernel virtual address: 0x10`` (the
    command's name, ``what``, the argument as typed; crash's readmem() of a
    KVADDR, tree's ``invalid start argument``), never a read of whatever the
    dump holds there (a QEMU ELF dump maps RAM from virtual address 0)."""
    addr = parse_address(ctx, s)
    if addr < KERNEL_HALF:
        raise CommandError(f"{command}: {what}: {s.strip()}")
    return addr


def parse_address(ctx: Context, s: str) -> int:
    """An address as crash reads one: hex digits with or without ``0x`` (any
    number of them), a symbol (the modules' too), ``symbol+offset``, or the
    address of a member of a global (``init_task.tasks``, ``init_pid_ns.idr``).
    A word that is both a symbol and hex (``add``) is the symbol.  Raises
    :class:`CommandError`: unknown symbol (with "did you mean"), or not an
    address."""
    s = s.strip()
    m = _SYMBOLIC.fullmatch(s)
    if m is None:
        addr = parse_hex(s)
        if addr is None:
            raise CommandError(f"invalid address {s!r}")
        return addr
    name, sym, path, plus = m.groups()
    off = int(plus, 0) if plus else 0
    try:
        return int(_symbol(ctx, name).address) + off  # a name may hold dots: foo.cold
    except LookupError:
        pass
    if path:
        try:
            return int(ctx.prog[sym].subobject_(path.lstrip(".")).address_ or 0) + off
        except KeyError:
            pass
        except LookupError as e:
            raise CommandError(f"{s}: {e}") from None
    addr = parse_hex(s)
    if addr is not None:
        return addr
    raise CommandError(f"unknown symbol {sym!r}" + did_you_mean(sym, symbol_names(ctx.prog)))


#: ``init_task``, ``init_task.tasks``, ``schedule+0x10``: (name, symbol, member path, offset)
_SYMBOLIC = re.compile(r"(([A-Za-z_]\w*)((?:\.\w+|\[\d+\])*))(?:\+(0x[0-9a-fA-F]+|\d+))?")


def _symbol(ctx: Context, name: str) -> drgn.Symbol:
    """The symbol ``name``, looked up in the modules' symbol tables too;
    LookupError if there is none."""
    try:
        return ctx.prog.symbol(name)
    except LookupError:
        use_module_kallsyms(ctx.prog)
        return ctx.prog.symbol(name)


def split_struct_spec(spec: str) -> tuple[str, list[str]]:
    """``task_struct.pid,comm`` -> (``struct task_struct``, [pid, comm]); a
    name given with its tag (``union thread_union``) keeps it."""
    name, _, members = spec.strip().partition(".")
    if not name.startswith(("struct ", "union ")):
        name = "struct " + name
    return name, [m.strip() for m in members.split(",") if m.strip()]


def _resolve_type(ctx: Context, name: str) -> drgn.Type:
    """The type ``name`` (``struct task_struct``); a ``struct X`` that does
    not exist may be a ``union X`` or a typedef ``X`` (crash's ``struct`` and
    ``union`` take either).  CommandError with "did you mean"."""
    from kmemx.types.layout import resolve_type

    try:
        return resolve_type(ctx.prog, name)
    except SyntaxError:  # "struct union x": not a type name
        raise CommandError(f"not a type name: {name!r}") from None
    except UnknownNameError as e:
        tag, _, bare = name.partition(" ")
        for other in ((f"union {bare}", bare) if tag == "struct" and bare else ()):
            try:
                return resolve_type(ctx.prog, other)
            except UnknownNameError:
                continue
        raise CommandError(str(e)) from None


def _offset(ctx: Context, spec: str, option: str = "-o") -> int:
    if re.fullmatch(r"-?(0x[0-9a-fA-F]+|\d+)", spec):
        return int(spec, 0)
    name, members = split_struct_spec(spec)
    if len(members) != 1:
        raise CommandError(f"{option} takes OFFSET or struct.member, not {spec!r}")
    try:
        return int(drgn.offsetof(_resolve_type(ctx, name), members[0]))
    except LookupError as e:
        raise CommandError(f"{option} {spec}: {e}") from None


def _fields(ctx: Context, addr: int, type_name: str, members: list[str],
            radix: int | None = None, obj: drgn.Object | None = None) -> list[Any]:
    """The cells of ``members`` of the structure at ``addr`` (or of ``obj``,
    a structure already read: ``struct -u``)."""
    if obj is None:
        obj = drgn.Object(ctx.prog, _resolve_type(ctx, type_name), address=addr)
    out: list[Any] = []
    for m in members:
        try:
            v = obj.subobject_(m)
        except LookupError as e:
            raise CommandError(str(e)) from None
        except TypeError as e:  # a path through a pointer or an array
            raise CommandError(f"{m}: {e}") from None
        try:
            t = v.type_
            while t.kind == drgn.TypeKind.TYPEDEF:
                t = t.type
            if t.kind == drgn.TypeKind.ARRAY and t.type.size == 1:
                out.append(Name(kernel_str(v.string_())))
            elif t.kind == drgn.TypeKind.POINTER:
                out.append(Address(v.value_()))
            elif t.kind in (drgn.TypeKind.STRUCT, drgn.TypeKind.UNION, drgn.TypeKind.ARRAY):
                # one line: a cell holds no newline or tab (drgn indents with tabs)
                out.append(" ".join(x.strip() for x in v.format_(
                    type_name=False, integer_base=radix or 10).splitlines()))
            elif radix == 16 and t.kind in (drgn.TypeKind.INT, drgn.TypeKind.ENUM,
                                            drgn.TypeKind.BOOL):
                out.append(Hex(int(v.value_())))
            else:
                out.append(v.value_())
        except drgn.FaultError as e:
            out.append(f"<fault {e.address:#x}>")
    return out


def _emit(ctx: Context, addrs: Iterable[int], struct_spec: str | None,
          radix: int | None = None, member_lines: bool = False,
          fast: bool = False, struct_offset: int = 0,
          command: str = "list") -> Iterator[Any]:
    """Rows (ADDRESS [, members...]) or full struct dumps for each entry;
    ``radix`` 16 or 10: integers in that base (crash's -x, -d).
    ``member_lines``: the members as crash's ``list -s`` and ``tree -s``
    print them, the entry's address on a line and :func:`crash_member_line`
    of each member below it (a :class:`TextRecord` whose data is the row
    ``--json`` gives, so that pipes and ``--json`` still see the row), and a
    whole structure as ``struct`` prints it (:func:`crash_struct_text`);
    ``fast``: crash's ``-S`` lines instead (:func:`_fast_member_line`);
    ``struct_offset``: each structure is at its entry's address less this
    (crash's ``list -l``: the entries are links inside the structures).
    An entry whose structure cannot be read is shown by its address and
    reported (``command``'s warning), and the walk goes on, as crash's."""
    if not struct_spec:
        for a in addrs:
            x = Address(a)
            yield Row(("ADDRESS",), (x,), x)
        return
    name, members = split_struct_spec(struct_spec)
    t = _resolve_type(ctx, name)
    if members:
        cols = ("ADDRESS", *[m.upper() for m in members])
        for a in addrs:
            at = a - struct_offset
            row = Row(cols, (Address(a), *_fields(ctx, at, name, members, radix)),
                      ctx.k.view(t, at))
            if not member_lines or ctx.as_json:
                yield row
                continue
            lines = _entry_lines(ctx, t, name, members, at, radix, fast, command)
            yield TextRecord("\n".join([f"{a:x}", *lines]), row.as_dict(), row.obj)
        return
    for a in addrs:
        v = ctx.k.view(t, a - struct_offset)
        if ctx.as_json:
            yield Row(("ADDRESS", "TYPE"), (Address(a), name), v)
        else:
            yield TextLine(f"{a:x}")
            if member_lines:
                lines = _entry_lines(ctx, t, name, [], a - struct_offset, radix, False, command)
                if lines:
                    yield TextLine("\n".join(lines))
                continue
            obj = drgn.Object(ctx.prog, t, address=a - struct_offset)
            try:
                yield TextLine(obj.format_(integer_base=radix or 10))
            except drgn.FaultError as e:
                ctx.warn(f"{command}: {name} at {a - struct_offset:#x}: cannot read "
                         f"{e.address:#x}")


def _entry_lines(ctx: Context, t: drgn.Type, name: str, members: list[str], at: int,
                 radix: int | None, fast: bool, command: str) -> list[str]:
    """crash's lines for one entry of ``list``/``tree`` under its address:
    ``-s`` members (:func:`_member_lines`), ``-S`` lines
    (:func:`_fast_member_line`), or with no members the whole structure as
    ``struct`` prints it.  A structure that cannot be read gives no lines
    and ``command``'s warning (crash reports the entry and goes on)."""
    try:
        ctx.k.read(at, drgn.sizeof(t))
        obj = drgn.Object(ctx.prog, t, address=at)
        if not members:  # crash: 'struct NAME {' as typed, the name's own keyword
            keyword, _, bare = name.partition(" ")
            return crash_struct_text(obj, keyword, bare, radix).splitlines()
        if fast:
            return [_fast_member_line(obj, m, radix) for m in members]
        return list(_member_lines(ctx, obj, members, radix, command))
    except drgn.FaultError as e:
        ctx.warn(f"{command}: {name} at {at:#x}: cannot read {fault_where(e)}")
        return []


def _crash_is_string(sub: drgn.Object, path: str) -> bool:
    """crash's is_string() (symbols.c): the member's declaration, as ptype
    prints it, reads ``char NAME;``, ``char *NAME;`` or ``char NAME[...]``
    (qualifiers and ``unsigned`` before it allowed; a typedef such as
    ``u8`` is not a string).  A member inside a named member (``a.b``) is
    not: crash looks at the structure's own lines."""
    if "." in path or "[" in path:
        return False
    decl = sub.type_.variable_declaration(path) + ";"
    at = decl.find("char ")
    if at < 0:
        return False
    rest = decl[at + 5:]
    rest = rest[1:] if rest.startswith("*") else rest
    return rest.startswith(path) and rest[len(path):len(path) + 1] in (";", "[")


def _fast_member_line(obj: drgn.Object, path: str, radix: int | None) -> str:
    """crash's ``-S`` line of a member (tools.c print_value()): a member of
    1, 2, 4 or 8 bytes, whatever its type, read as an unsigned number,
    ``  NAME = VALUE`` with no comma, pointers in hex (``0x``), others in
    ``radix`` (decimal unless 16), `` <symbol>`` after a value that is a
    kernel text symbol's address (the symbol containing it, without an
    offset); a string (:func:`_crash_is_string`) as read, raw up to its NUL:
    a ``char *``'s after its value, a ``char`` array's as ``  NAME =
    "..."``; any other member (wider, a bit field) as
    :func:`crash_member_line` prints it (crash's dump_struct_member()).
    Raises LookupError, drgn.FaultError."""
    try:
        sub = obj.subobject_(path)
    except TypeError as e:  # a path through a pointer or an array
        raise CommandError(f"{path}: {e}") from None
    if sub.bit_field_size_ is not None:  # crash reads the byte its first bit is in
        byte = obj.prog_.read((sub.address_ or 0) + (sub.bit_offset_ or 0) // 8, 1)[0]
        return f"  {path} = {byte:#x}" if radix == 16 else f"  {path} = {byte}"
    t = _strip_typedefs(sub.type_)
    size = drgn.sizeof(sub) if t.kind not in (drgn.TypeKind.FUNCTION, drgn.TypeKind.VOID) else 0
    is_str = _crash_is_string(sub, path)
    if not (0 < size <= 8 or is_str):
        return crash_member_line(obj, path, radix)
    text = ""
    value = None
    if size in (1, 2, 4, 8):
        value = int.from_bytes(sub.to_bytes_(), "little" if obj.prog_.platform.flags
                               & drgn.PlatformFlags.IS_LITTLE_ENDIAN else "big")
        hexa = t.kind == drgn.TypeKind.POINTER or radix == 16
        text = f"  {path} = {value:#x}" if hexa else f"  {path} = {value}"
    if is_str:
        if t.kind == drgn.TypeKind.POINTER:
            data = _read_c_string(obj.prog_, value or 0, 1499)
            return text + '  "' + data.decode("latin-1") + '"'
        data = _read_c_string(obj.prog_, int(sub.address_ or 0), size)
        return text + f'  {path} = "' + data.decode("latin-1") + '"'
    try:
        sym = obj.prog_.symbol(value or 0)
        if sym.kind == drgn.SymbolKind.FUNC:
            text += f" <{sym.name}>"
    except LookupError:
        pass
    return text


def _guarded(ctx: Context, it: Iterator[int]) -> Iterator[int]:
    """Pass addresses through; a corrupt list ends with a warning, not a traceback."""
    n = 0
    try:
        for a in it:
            n += 1
            if n % 10000 == 0:
                ctx.progress("entries", n)
            yield a
    except drgn.FaultError as e:
        ctx.warn(f"list walk stopped after {n} entries: cannot read {fault_where(e)}")
    except Exception as e:
        if isinstance(e, (KeyboardInterrupt, CommandError)):
            raise
        ctx.warn(f"list walk stopped after {n} entries: {e}")


#: --drgn of list, tree and struct -s/-m: a member as kmemx shows it in a cell
_CELL_CODE = """\
def cell(v):
    t = v.type_
    while t.kind == TypeKind.TYPEDEF:
        t = t.type
    if t.kind == TypeKind.ARRAY and t.type.size == 1:
        return v.string_().decode("utf-8", "surrogateescape")
    if t.kind == TypeKind.POINTER:
        return hex(v.value_())
    if t.kind in (TypeKind.STRUCT, TypeKind.UNION, TypeKind.ARRAY):
        return " ".join(x.strip() for x in v.format_(type_name=False).splitlines())
    return v.value_()


"""


def _emit_drgn(ctx: Context, walk: str, struct_spec: str | None,
               imports: list[str], radix: int | None = None, struct_offset: int = 0) -> str:
    """A drgn script printing what :func:`_emit` yields for the addresses
    ``walk`` (drgn code: a ``for a in ...:`` loop header) gives: ADDRESS rows,
    member rows (-s struct.member,...) or whole structures (crash's text,
    :data:`CRASH_MEMBER_CODE`'s struct_text()), each structure at its
    address less ``struct_offset``."""
    at = f"a - {struct_offset}" if struct_offset else "a"
    from kmemx.commands.drgncode import table_script, text_script

    if not struct_spec:
        return table_script(ctx, ("ADDRESS",), f"{walk}\n    row(hex(a))\n", imports)
    name, members = split_struct_spec(struct_spec)
    tname = _resolve_type(ctx, name).type_name()
    if not members:
        keyword, _, bare = name.partition(" ")
        return text_script(ctx, CRASH_MEMBER_CODE + f"""

{walk}
    print(f"{{a:x}}")
    print(struct_text(Object(prog, {tname!r}, address={at}), {keyword!r}, {bare!r}, {radix or 10}))
""", ["drgn:FaultError,Object,SymbolKind,TypeKind,sizeof", *imports])
    cols = ("ADDRESS", *[m.upper() for m in members])
    return table_script(ctx, cols, _CELL_CODE + f"""\
{walk}
    obj = Object(prog, {tname!r}, address={at})
    row(hex(a), *(cell(obj.subobject_(m)) for m in {members!r}))
""", ["drgn:Object,TypeKind", *imports])


def _one_struct_spec(specs: list[str] | None, option: str, command: str) -> str | None:
    """The ``-s``/``-S`` options of ``list`` and ``tree`` as one spec: crash
    takes the option more than once (tools.c cmd_list(): structname[] grows),
    and ``-s T.a -s T.b`` prints what ``-s T.a,b`` prints.

    :raises CommandError: specs naming different structures, or one whole
        structure beside members of it"""
    if not specs:
        return None
    if len(specs) == 1:
        return specs[0]
    parsed = [split_struct_spec(x) for x in specs]
    names = {name for name, _ in parsed}
    members = [m for _, ms in parsed for m in ms]
    if len(names) != 1 or any(not ms for _, ms in parsed):
        raise CommandError(f"{command}: several {option} options must each name members "
                           f"of one structure (got {', '.join(specs)})")
    return f"{specs[0].strip().partition('.')[0]}.{','.join(members)}"


def _struct_specs(args: argparse.Namespace, command: str) -> argparse.Namespace:
    """``args`` with ``struct`` and ``fast_struct`` (``-s``, ``-S``: lists)
    each one spec (:func:`_one_struct_spec`)."""
    return argparse.Namespace(**{**vars(args),
                                 "struct": _one_struct_spec(args.struct, "-s", command),
                                 "fast_struct": _one_struct_spec(args.fast_struct, "-S",
                                                                 command)})


def _crash_list_args(ctx: Context, args: argparse.Namespace) -> argparse.Namespace:
    """``list``'s options as crash's cmd_list() reads them (tools.c): ``-e 0``
    is no END (an end of 0 is one not given), and ``-O`` counts only with
    ``-h`` (LIST_HEAD_FORMAT without LIST_HEAD_POINTER: with ``-H`` or neither,
    crash walks the same list without it, and says nothing; so does kmemx:
    a warning would mark the output incomplete, and it is not)."""
    args = _struct_specs(args, "list")
    changes: dict[str, Any] = {}
    if args.end and re.fullmatch(r"\s*(0x)?0+\s*", args.end):
        changes["end"] = None
    if args.head_offset and not args.embedded:
        changes["head_offset"] = None
    return argparse.Namespace(**{**vars(args), **changes}) if changes else args


def _list_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``list --drgn``: drgn's list_for_each() (-H, -h; -r:
    list_for_each_reverse()), hlist_for_each() (--hlist), or crash's
    do_list() walk (its default chain of next pointers at OFFSET, and any
    walk with an END: -e), then the entries' addresses, members
    (-s struct.member,...) or whole structures (-l: at the entries less
    its offset)."""
    from kmemx.commands.drgncode import only_options

    args = _crash_list_args(ctx, args)
    only_options("list", args, ("where", "head", "embedded", "hlist", "offset", "struct",
                                "reverse", "limit", "radix", "end", "head_offset",
                                "struct_offset"),
                 "-H, -h, --hlist, -o, -O, -l, -e, -s, -x, -d and -r")
    offset = args.offset or (args.where[0] if len(args.where) == 2 else None)
    start = parse_address(ctx, args.where[-1])
    off = _offset(ctx, offset) if offset else 0
    at = _offset(ctx, args.struct_offset, "-l") if args.struct_offset else 0
    end = parse_address(ctx, args.end) if args.end else None
    imports = ["drgn:Object"]
    chain = """\
def chain(start, off, end):  # crash's do_list(): until NULL, END, START, the entry itself
    first = prog.read_u64(start + off)  # or the second entry again
    entry, last, count = start, None, 0
    while True:
        yield entry
        count += 1
        last, entry = entry, prog.read_u64(entry + off)
        if entry in (0, end, start, last) or (entry == first and count != 1):
            return


"""
    if args.hlist:
        imports.append("drgn.helpers.linux.list:hlist_for_each")
        nodes = f"hlist_for_each(Object(prog, 'struct hlist_head *', {start:#x}))"
    elif not (args.head or args.embedded or args.reverse):
        return _emit_drgn(ctx, chain + f"for a in chain({start:#x}, {off}, {end}):",
                          args.struct, imports, args.radix, at)
    else:
        link = 8 if args.reverse else 0
        head = start + _offset(ctx, args.head_offset, "-O") if args.head_offset else (
            start if args.head else start + off)
        if end is not None:
            first = f"prog.read_u64({head + link:#x})" if args.head or args.head_offset \
                else f"{head:#x}"
            return _emit_drgn(ctx, chain + f"for a in (n - {off} for n in chain({first}, {link}, "
                              f"{end:#x})):", args.struct, imports, args.radix, at)
        fn = "list_for_each_reverse" if args.reverse else "list_for_each"
        imports.append(f"drgn.helpers.linux.list:{fn}")
        nodes = f"{fn}(Object(prog, 'struct list_head *', {head:#x}))"
        if not (args.head or args.head_offset):  # the entry at START is the first one (-h)
            nodes = f"[Object(prog, 'struct list_head *', {head:#x}), *{nodes}]"
    walk = f"for a in (node.value_() - {off} for node in {nodes}):"
    return _emit_drgn(ctx, walk.replace("'", '"'), args.struct, imports, args.radix, at)


@command("list", "walk a linked list",
         description="""
         list -H HEAD -s task_struct.pid,comm -o task_struct.tasks
             entries of the list_head at HEAD (an address or a symbol); the head
             itself is not an entry
         list task_struct.tasks -H HEAD    the same: crash's OFFSET before START
         list -h ENTRY -o task_struct.tasks
                                      ENTRY is a structure whose list_head is at
                                      OFFSET: it and the entries after it
         list -h PARENT -O task_struct.children -o task_struct.sibling
                                      -O: the head is at this offset of PARENT, the
                                      entries' list_heads at -o's
         list -H HEAD                 the list_head nodes themselves
         list --hlist HEAD -o ...     an hlist_head
         list START -o OFFSET         crash's default: START is a struct whose member
                                      at OFFSET points at the next struct; until NULL,
                                      START, END (-e), the entry itself or the second
                                      entry again
         list -l task_struct.tasks -s task_struct.pid LINK
                                      -l: the entries are links at this offset inside
                                      the structures -s/-S print
         -o, -O and -l take an offset or struct.member; -s struct[.member,...] prints
         members (or the whole struct) as crash does, -S as crash's -S (members of
         up to 8 bytes read as unsigned numbers), -x/-d in hex/decimal; -r walks the
         prev pointers (START is then an entry, as -h, unless -H); -e END ends the
         walk at END; -B finds a loop with R. P. Brent's algorithm in constant
         memory (the same entries; a loop's length and start in the warning).
         An empty list_head prints crash's "(empty)".
         --json gives objects with 'address' (and one key per member).
         """,
         arguments=[arg("where", nargs="+", metavar="[OFFSET] START",
                        help="address or symbol, after an optional OFFSET (struct.member)"),
                    arg("-H", dest="head", action="store_true",
                        help="START is a list_head not embedded in an entry"),
                    arg("-h", dest="embedded", action="store_true",
                        help="START is an entry with an embedded list_head at OFFSET"),
                    arg("--hlist", action="store_true", help="START is an hlist_head"),
                    arg("-o", dest="offset", help="OFFSET or struct.member of the link"),
                    arg("-O", dest="head_offset",
                        help="with -h: OFFSET or struct.member of the head list_head in "
                             "START, where it differs from the entries' (-o); without -h "
                             "it changes nothing, as crash"),
                    arg("-l", dest="struct_offset",
                        help="with -s/-S: OFFSET or struct.member of the link inside the "
                             "structure (START and the entries are links)"),
                    arg("-e", dest="end", help="END: the walk stops when it reaches END"),
                    arg("-s", dest="struct", action="append",
                        help="struct[.member,...] to display (again: more members)"),
                    arg("-S", dest="fast_struct", metavar="STRUCT", action="append",
                        help="as -s, in crash's -S lines: members of up to 8 bytes as "
                             "unsigned numbers, no commas"),
                    arg("-x", dest="radix", action="store_const", const=16,
                        help="-s/-S members in hexadecimal"),
                    arg("-d", dest="radix", action="store_const", const=10,
                        help="-s/-S members in decimal"),
                    arg("-r", dest="reverse", action="store_true", help="walk prev pointers"),
                    arg("-B", dest="brent", action="store_true",
                        help="detect a loop with Brent's algorithm (constant memory)"),
                    arg("--limit", type=int, default=10_000_000)],
         columns=("ADDRESS",), drgn_code=_list_drgn)
def _list(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    args = _crash_list_args(ctx, args)
    if args.struct and args.fast_struct:
        raise CommandError("list: -S and -s options are mutually exclusive")
    spec = args.struct or args.fast_struct
    if args.struct_offset and not spec:
        raise CommandError("list: -l option can only be used with -s or -S option")
    struct_offset = _offset(ctx, args.struct_offset, "-l") if args.struct_offset else 0
    try:
        entries = _list_entries(ctx, args)
    except drgn.FaultError as e:  # the head's first link (-H, -O): as a walk that stopped
        ctx.warn(f"list walk stopped after 0 entries: cannot read {fault_where(e)}")
        return
    if entries is None:  # an empty list_head: crash's "(empty)"
        if not ctx.as_json:
            yield TextLine("(empty)")
        return
    if not spec:
        yield NO_HEADER  # crash prints the addresses alone
    yield from _emit(ctx, _guarded(ctx, entries), spec, args.radix, member_lines=True,
                     fast=bool(args.fast_struct), struct_offset=struct_offset)


def _list_entries(ctx: Context, args: argparse.Namespace) -> Iterator[int] | None:
    """The addresses ``list`` prints for ``args`` (crash's cmd_list()), or
    None for a list_head that is empty (``-H``, ``-h -O``).

    :raises CommandError: options that exclude each other
    """
    k = ctx.k
    if len(args.where) > 2 or (len(args.where) == 2 and args.offset):
        raise CommandError("list: give [OFFSET] START (or -o OFFSET START)")
    if args.head and args.embedded:
        raise CommandError("list: -H and -h exclude each other")
    offset = args.offset or (args.where[0] if len(args.where) == 2 else None)
    if offset and args.struct_offset:
        raise CommandError("list: -l and -o are mutually exclusive")
    start = kernel_address(ctx, args.where[-1], "list")
    off = _offset(ctx, offset) if offset else 0
    end = kernel_address(ctx, args.end, "list") if args.end else None
    walk = _brent_chain if args.brent else _chain
    if args.hlist:
        if end is not None or args.brent or args.reverse:
            raise CommandError("list: --hlist takes no -e, -B or -r")
        nodes: Iterator[int] = (v.address + off for v in hlist_for_each_entry(
            "struct hlist_node", start, "next", k=k, limit=args.limit))
    elif not (args.head or args.embedded or args.reverse):
        # crash's default: START is an entry; its link is at START + off.
        return _kernel_links(walk(k, start, off, end, False, args.limit))
    elif args.head or args.head_offset:
        # crash's LIST_HEAD_POINTER: the head (at START, or at -O's offset of
        # START) is not an entry; its next (prev: -r) is the first one
        link = 8 if args.reverse else 0
        head = start if args.head else start + _offset(ctx, args.head_offset, "-O")
        first = k.read_u64(head + link)
        if first == (head if end is None else end):
            return None
        if end is None and not args.brent:
            nodes = (list_for_each_prev(head, k, args.limit) if args.reverse
                     else list_for_each(head, k, args.limit))
        else:
            nodes = walk(k, first, link, head if end is None else end, True, args.limit)
    else:
        # -h (or -r alone): START is an entry, its list_head at OFFSET; the
        # walk ends back at it
        head = start + off
        if end is None and not args.brent:
            nodes = itertools.chain([head], list_for_each_prev(head, k, args.limit)
                                    if args.reverse else list_for_each(head, k, args.limit))
        else:
            nodes = walk(k, head, 8 if args.reverse else 0, end, True, args.limit)
    return (n - off for n in _kernel_links(nodes))


def _kernel_links(nodes: Iterable[int]) -> Iterator[int]:
    """``nodes`` up to the first one below the kernel half, which ends the
    walk with crash's ``invalid kernel virtual address`` (a QEMU ELF dump
    maps RAM at low virtual addresses, so reading there would turn a bad
    link, or ``-H`` given an entry, into rows of whatever that RAM holds)."""
    for node in nodes:
        if node < KERNEL_HALF:
            raise KmemxError(f"invalid kernel virtual address: {node:x} (a link of the list "
                             "points below the kernel half)")
        yield node


def _chain_end(nxt: int, start: int, last: int, first: int, count: int, end: int | None,
               head_format: bool) -> bool:
    """Whether crash's do_list() stops before ``nxt``: at NULL, at ``end``, at
    ``start``, at the entry itself (``last``) or at the second entry
    (``first``) again.  The last two end a list of list_heads (``head_format``)
    only when it is corrupt: :class:`ListCycleError` then (crash stops there
    silently; kmemx prints the same entries and says why it stopped), as a
    NULL link does (crash's ``invalid list entry: 0``).

    :raises KmemxError: a NULL link in a list of list_heads
    :raises ListCycleError: a list of list_heads back at an entry it passed
    """
    if nxt == 0:
        if head_format:
            raise KmemxError("invalid list entry: 0")
        return True
    if nxt == end or nxt == start:
        return True
    if nxt == last or (nxt == first and count != 1):
        if head_format:
            raise ListCycleError(f"duplicate list entry: {nxt:x}", nxt)
        return True
    return False


def _chain(k: Any, start: int, off: int, end: int | None, head_format: bool,
           limit: int) -> Iterator[int]:
    """START, then *(entry+off), *(*(entry+off)+off) ... as crash's do_list()
    walks a list: until :func:`_chain_end`.  Without ``head_format`` the
    "next" member points at the next structure (crash's default list); with
    it the entries are list_heads (``off`` 0, or 8 for their prev).  An
    entry seen twice is a :class:`ListCycleError` (crash's ``duplicate list
    entry``).

    :raises drgn.FaultError: a link that cannot be read
    """
    seen: set[int] = set()
    first = k.read_u64(start + off)
    entry, count = start, 0
    while count < limit:
        if entry in seen:
            raise ListCycleError(f"duplicate list entry: {entry:x}", entry)
        seen.add(entry)
        yield entry
        count += 1
        last, entry = entry, k.read_u64(entry + off)
        if _chain_end(entry, start, last, first, count, end, head_format):
            return


def _brent_chain(k: Any, start: int, off: int, end: int | None, head_format: bool,
                 limit: int) -> Iterator[int]:
    """:func:`_chain`'s entries found in constant memory: R. P. Brent's loop
    detection, as crash's ``list -B`` (tools.c do_list_no_hash()).  A loop
    is a :class:`ListCycleError` after the entries before it was detected,
    whose message gives crash's loop length, the length from START to the
    loop (hex, as crash prints it) and the first entry seen twice.

    :raises drgn.FaultError: a link that cannot be read
    """
    def f(p: int) -> int:  # crash's brent_f()
        return int(k.read_u64(p + off))

    first = f(start)
    x, y, power, lam, mu, loop_length = start, f(start), 2, 0, 0, 0
    detected = leaving = False
    entry, count = start, 0
    while count < limit:
        if not detected:
            yield entry
        if entry and leaving:
            raise ListCycleError(f"loop detected, loop length: {loop_length}; length from "
                                 f"start to loop: {mu:x}; duplicate list entry: {x:x}", x)
        count += 1
        last, entry = entry, f(entry)
        if not detected:
            if count > 1 and x == y:
                detected, loop_length, mu = True, lam, 0
                x = y = start
                for _ in range(lam):
                    y = f(y)
            else:
                if power == lam:
                    x, power, lam = y, power * 2, 0
                y = entry
                lam += 1
        elif not leaving and x == y:
            leaving = True
        else:
            x, y, mu = f(x), f(y), mu + 1
        if _chain_end(entry, start, last, first, count, end, head_format):
            return


#: crash's tree -t names and abbreviations -> kmemx's tree kinds
_TREE_TYPES = {"rbtree": "rbtree", "rb": "rbtree", "radix": "radix", "ra": "radix",
               "xarray": "xarray", "x": "xarray", "maple": "maple", "m": "maple",
               "idr": "idr"}


def _tree_kind(args: argparse.Namespace) -> str:
    """The tree kind of ``-t`` (crash's names and abbreviations; rbtree by
    default) after checking the options that go with it."""
    kind = _TREE_TYPES.get(args.type)
    if kind is None:
        raise CommandError(f"tree: invalid tree type {args.type!r} "
                           "(radix, xarray, rbtree, maple; ra, x, rb, m; idr)")
    if kind != "rbtree":
        for flag, name in ((args.offset, "-o"), (args.linear, "-l")):
            if flag:
                raise CommandError(f"tree: {name} is for red-black trees (-t rbtree)")
        if args.node and kind == "idr":
            raise CommandError("tree: -N is for red-black trees, xarrays, radix trees and "
                               "maple trees (an IDR's node: -t xarray -N)")
    if args.node and args.root_offset:
        raise CommandError("tree: -r and -N options are mutually exclusive")
    if args.verbose and kind != "maple":
        raise CommandError("tree: -v is for maple trees (-t maple)")
    return kind


def _tree_root(ctx: Context, args: argparse.Namespace) -> int:
    """START, plus ``-r``'s offset of the root inside the structure at START."""
    root = kernel_address(ctx, args.root, "tree", "invalid start argument")
    return root + (_offset(ctx, args.root_offset, "-r") if args.root_offset else 0)


#: tree -t maple -v --drgn: the kernel's mt_dump() (lib/maple_tree.c) as
#: kmemx.helpers.mapledump.mt_dump() walks it, printed as crash prints it
_MT_DUMP_CODE = """\
tree = Object(prog, "struct maple_tree *", {root:#x})
SLOTS = [prog["mt_slots"][i].value_() for i in range(4)]  # dense, leaf_64, range_64, arange_64
MT_MAX = [SLOTS[0], 2**64 - 1, 2**64 - 1, 2**64 - 1]


def ptr(v):  # printf's %p
    return hex(v) if v else "(nil)"


def span(depth, first, last):
    head = " " * min(depth * 2, 32)
    return f"{{head}}{{first}}: " if first == last else f"{{head}}{{first}}-{{last}}: "


def entry_text(e):  # the kernel's mt_dump_entry()
    if e & 1:
        return f"value {{e >> 1}} ({{e >> 1:#x}}) [{{e:#x}}]"
    if e == (257 << 2) | 2:
        return f"zero ({{e >> 2}})"
    if e < 4096 and e & 3 == 2:
        return f"UNKNOWN ENTRY ({{e:#x}})"
    return hex(e)


def dump(enode, first, last, depth):
    kind = (enode >> 3) & 0xF
    addr = enode & ~0xFF
    node = Object(prog, "struct maple_node", address=addr)
    line = span(depth, first, last) + (f"node {{addr:#x}} depth {{depth}} type {{kind}} "
                                       f"parent {{ptr(node.parent.value_())}}")
    if kind == 0:  # dense
        print(line)
        for i in range(SLOTS[0]):
            print(span(depth, first + i, first + i) + entry_text(node.slot[i].value_()))
        return
    arange = kind == 3
    body = node.ma64 if arange else node.mr64
    n = SLOTS[kind]
    slots = [body.slot[i].value_() for i in range(n)]
    pivots = [body.pivot[i].value_() for i in range(n - 1)]
    pairs = " ".join(f"{{ptr(sl)}} {{pv}}" for sl, pv in zip(slots, pivots))
    if arange:
        gaps = "".join(f"{{body.gap[i].value_()}} " for i in range(n))
        meta = f"| {{body.meta.end.value_():02X}} {{body.meta.gap.value_():02X}}| "
        print(f"{{line}} contents: {{gaps}}{{meta}}{{pairs}} {{ptr(slots[-1])}}")
    else:
        print(f"{{line}} contents: {{pairs}} {{ptr(slots[-1])}}")
    lo = first
    for i in range(n):
        hi = pivots[i] if i < n - 1 else last
        if i == n - 1 and not slots[i] and (arange or last != MT_MAX[kind]):
            break
        if hi == 0 and i > 0:
            break
        if kind < 2:  # a leaf: its entries
            print(span(depth + 1, lo, hi) + entry_text(slots[i]))
        elif slots[i]:
            dump(slots[i], lo, hi, depth + 1)
        if hi >= last:
            break
        lo = hi + 1


flags, root = tree.ma_flags.value_(), tree.ma_root.value_()
print(f"maple_tree({{tree.value_():x}}) flags {{flags:X}}, height {{(flags & 0x7C) >> 2}} "
      f"root {{root:#x}}")
print()
if root & 3 == 2 and root > 4096:  # xa_is_node()
    dump(root, 0, MT_MAX[(root >> 3) & 0xF], 0)
else:
    print(span(0, 0, 0) + entry_text(root))
"""


def _tree_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``tree --drgn``: a pre-order walk of the rb_nodes (crash's default;
    -l: drgn's rbtree_inorder_for_each()), drgn's xa_for_each()
    (-t xarray/radix), idr_for_each() or mt_for_each() (-t maple)."""
    from kmemx.commands.drgncode import table_script

    args = _struct_specs(args, "tree")
    args.struct = args.struct or args.fast_struct  # -S: the same rows
    kind = _tree_kind(args)
    root = _tree_root(ctx, args)
    if args.node and kind != "rbtree":
        from kmemx.commands.drgncode import only

        raise only("tree", "-N of red-black trees (not of an xa_node or maple node)")
    if args.verbose:
        from kmemx.commands.drgncode import only, text_script

        if args.struct or args.position:
            raise only("tree", "-t maple -v alone (not with -s, -S or -p)")
        return text_script(ctx, _MT_DUMP_CODE.format(root=root), ["drgn:Object"])
    if args.position:
        from kmemx.commands.drgncode import only

        raise only("tree", "the entries and -s members (no -p positions)")
    if kind == "rbtree":
        off = _offset(ctx, args.offset) if args.offset else 0
        first = (f"{root:#x}" if args.node
                 else f'Object(prog, "struct rb_root *", {root:#x}).rb_node.value_()')
        if args.linear:
            walk = (f'for a in (n.value_() - {off} for n in rbtree_inorder_for_each('
                    f'Object(prog, "struct rb_root *", {root:#x}))):')
            imports = ["drgn:Object", "drgn.helpers.linux.rbtree:rbtree_inorder_for_each"]
            if args.node:
                walk = f"""def inorder(node):  # the subtree under one rb_node, in order
    stack = []
    while stack or node:
        while node:
            stack.append(node)
            node = Object(prog, "struct rb_node *", node).rb_left.value_()
        node = stack.pop()
        yield node
        node = Object(prog, "struct rb_node *", node).rb_right.value_()


for a in (n - {off} for n in inorder({first})):"""
                imports = ["drgn:Object"]
        else:
            walk = f"""def preorder(node):  # crash's order: a node, its left subtree, its right one
    stack = [node] if node else []
    while stack:
        node = stack.pop()
        yield node
        n = Object(prog, "struct rb_node *", node)
        stack += [c for c in (n.rb_right.value_(), n.rb_left.value_()) if c]


for a in (n - {off} for n in preorder({first})):"""
            imports = ["drgn:Object"]
        return _emit_drgn(ctx, walk, args.struct, imports, args.radix)
    if kind == "idr":
        fn, ctype, imp = "idr_for_each", "struct idr *", "drgn.helpers.linux.idr:idr_for_each"
    elif kind == "maple":
        fn, ctype = "mt_for_each", "struct maple_tree *"
        imp = "drgn.helpers.linux.mapletree:mt_for_each"
    else:
        fn, ctype, imp = "xa_for_each", "struct xarray *", "drgn.helpers.linux.xarray:xa_for_each"
    pairs = f'{fn}(Object(prog, "{ctype}", {root:#x}))'
    if kind == "maple":
        pairs = f"((first, entry) for first, _, entry in {pairs})"
    if args.struct:
        return _emit_drgn(ctx, f"for a in (e.value_() for _, e in {pairs}):", args.struct,
                          ["drgn:Object", imp], args.radix)
    return table_script(ctx, ("INDEX", "ENTRY"), f"""\
for index, entry in {pairs}:
    row(index, hex(entry.value_()))
""", ["drgn:Object", imp])


@command("tree", "walk a red-black tree, an xarray/radix tree, an IDR or a maple tree",
         description="""
         crash's tree: ADDRESS rows of the entries (rbtree), INDEX ENTRY rows
         (xarray, radix, idr; maple: the first index of each range).
         tree -t rbtree -o vmap_area.rb_node vmap_area_root
                                      crash's order: a node, then its left subtree,
                                      then its right one (pre-order)
         tree -l -o vmap_area.rb_node vmap_area_root    in order (-l, crash's)
         tree -p -o vmap_area.rb_node vmap_area_root    each node's POSITION (root/l/r;
                                      xarrays: root/3/42, the slot in each node)
         tree -o vmap_area.rb_node -s vmap_area.va_start,va_end -x vmap_area_root
                                      members (-x hex, -d decimal) as crash prints them:
                                      each entry's address, then '  va_start = N,'
                                      lines (list -s's and struct T.m ADDR's rule);
                                      -s STRUCT: the whole structure as struct prints
                                      it; --json: ADDRESS MEMBER... rows
         tree -t xarray -r address_space.i_pages MAPPING
                                      -r: the root is this member of the struct at START
         tree -N RB_NODE -o ...       START is an rb_node, not a root
         tree -t xarray -N XA_NODE    the entries under one xa_node (radix: a
                                      radix_tree_node), indices and positions from
                                      0 and root at it, as crash
         tree -t maple -N ENODE       under one encoded maple node (the node's
                                      address and type bits), from "direct" (-p, -v)
         tree -t idr -p IDR           each id's position in the IDR's xarray
         tree -S ...                  crash's -S lines: members of up to 8 bytes as
                                      unsigned numbers, pointers 0x..., no commas
         tree -t maple -v MM.mm_mt    each node (range, address, depth, type,
                                      parent, contents: slots and pivots, gaps) and
                                      each entry's range, as crash and the
                                      kernel's mt_dump(); --json: NODE and ENTRY rows;
                                      -p and -s/-S: each entry's position and
                                      members under it, as crash
         -t: rbtree (rb, the default), xarray (x), radix (ra), maple (m), idr.
         -o and -r take an offset or struct.member.  START is an address or symbol.
         """,
         arguments=[arg("root", metavar="START"),
                    arg("-t", dest="type", default="rbtree",
                        help="rbtree (rb), xarray (x), radix (ra), maple (m), idr"),
                    arg("-r", dest="root_offset",
                        help="OFFSET or struct.member of the root inside START"),
                    arg("-o", dest="offset", help="OFFSET or struct.member of the rb_node"),
                    arg("-s", dest="struct", action="append",
                        help="struct[.member,...] to display (again: more members)"),
                    arg("-S", dest="fast_struct", metavar="STRUCT", action="append",
                        help="as -s, in crash's -S lines: members of up to 8 bytes as "
                             "unsigned numbers, no commas"),
                    arg("-l", dest="linear", action="store_true",
                        help="red-black tree in order (leftmost first)"),
                    arg("-p", dest="position", action="store_true",
                        help="each node's position (rbtree: root/l/r)"),
                    arg("-N", dest="node", action="store_true",
                        help="START is a node, not a root: an rb_node, an xa_node "
                             "(indices from 0 at it) or an encoded maple node"),
                    arg("-x", dest="radix", action="store_const", const=16,
                        help="-s members in hexadecimal"),
                    arg("-d", dest="radix", action="store_const", const=10,
                        help="-s members in decimal"),
                    arg("-v", dest="verbose", action="store_true",
                        help="maple trees: each node and its contents, each entry "
                             "(crash's -v, the kernel's mt_dump())")],
         columns=("ADDRESS",), drgn_code=_tree_drgn)
def _tree(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from kmemx.helpers.treewalk import (
        rbtree_inorder_for_each_position,
        rbtree_preorder_for_each,
    )

    k = ctx.k
    args = _struct_specs(args, "tree")
    fast = bool(args.fast_struct) and not args.struct
    args.struct = args.struct or args.fast_struct

    def emit(addrs: Iterable[int]) -> Iterator[Any]:  # crash's member lines (-s, -S)
        if not args.struct and not args.position:
            yield NO_HEADER  # crash prints the addresses alone
        yield from _emit(ctx, addrs, args.struct, args.radix, member_lines=True, fast=fast,
                         command="tree")

    kind = _tree_kind(args)
    root = _tree_root(ctx, args)
    if args.verbose:  # maple only (_tree_kind)
        yield from _tree_maple_dump(ctx, root, args.node, args.struct, args.radix, fast,
                                    args.position)
        return
    if kind == "rbtree":
        off = _offset(ctx, args.offset) if args.offset else 0
        first = root if args.node else k.read_u64(root)  # struct rb_root { rb_node; }
        walker = rbtree_inorder_for_each_position if args.linear else rbtree_preorder_for_each
        if not args.position:
            yield from emit(_guarded(ctx, (n - off for n, _ in walker(first, k))))
            return
        positions: Iterable[tuple[int | None, int, str]] = (
            (None, n - off, pos) for n, pos in walker(first, k))
    elif args.position and kind == "maple":  # crash's "index: N" counts the entries
        positions = _maple_positions(ctx, root, args.node)
    elif args.position:  # xarray, radix, idr: crash's "index: N  position: root/3/42"
        positions = _xa_positions(k, kind, root, args.node)
    if args.position:
        try:
            for index, entry, pos in positions:
                if args.struct:
                    for i, row in enumerate(emit([entry])):
                        yield _with_position(row, i, pos, index)
                else:
                    yield _position_record(ctx, entry, pos, index)
        except drgn.FaultError as e:
            ctx.warn(f"tree walk stopped: cannot read {fault_where(e)}")
        return
    pairs: Iterator[tuple[int, int]]
    if kind == "maple" and args.node:  # crash: each non-NULL leaf slot below the node
        from kmemx.helpers.mapledump import MapleDumpEntry, mt_dump_node

        pairs = ((e.first, e.entry) for e in mt_dump_node(ctx.prog, root)
                 if isinstance(e, MapleDumpEntry) and e.entry)
    elif kind == "maple":
        from drgn.helpers.linux.mapletree import mt_for_each

        mt = drgn.Object(ctx.prog, "struct maple_tree *", value=root)
        pairs = ((int(first), int(e.value_())) for first, _, e in mt_for_each(mt))
    elif args.node:  # xarray, radix: an xa_node, indices from 0 at it
        pairs = ((index, entry) for index, entry, _ in _xa_positions(k, kind, root, True))
    else:
        from kmemx.helpers import idr_for_each

        pairs = (idr_for_each if kind == "idr" else xa_for_each)(root, k)
    if args.struct:
        yield from emit(_guarded(ctx, (e for _, e in pairs)))
        return
    try:
        for index, entry in pairs:
            row = Row(("INDEX", "ENTRY"), (index, Address(entry)))
            # crash prints the entries alone; --json keeps each one's index
            yield row if ctx.as_json else TextRecord(f"{entry:x}", row.as_dict())
    except drgn.FaultError as e:
        ctx.warn(f"tree walk stopped: cannot read {fault_where(e)}")


def _xa_positions(k: Any, kind: str, root: int,
                  node: bool) -> Iterator[tuple[int, int, str]]:
    """(index, entry, position) of the xarray or radix tree at ``root``
    (``struct xarray *``), of the IDR there (``struct idr *``: ids from
    ``idr_base``), or with ``node`` of the ``struct xa_node *`` there
    (crash's ``-N``: indices and positions from that node)."""
    from kmemx.helpers.xarray import (
        idr_for_each_position,
        xa_for_each_position,
        xa_node_for_each_position,
    )

    if node:
        return xa_node_for_each_position(root, k)
    if kind == "idr":
        return idr_for_each_position(root, k)
    return xa_for_each_position(root, k)


def _maple_items(ctx: Context, root: int, node: bool) -> Iterator[Any]:
    """mt_dump()'s items of the maple tree at ``root`` (``struct maple_tree
    *``), or with ``node`` below the encoded node ``root`` (crash's ``-N``)."""
    from kmemx.helpers.mapledump import mt_dump, mt_dump_node

    if node:
        return mt_dump_node(ctx.prog, root)
    return mt_dump(drgn.Object(ctx.prog, "struct maple_tree *", value=root))


def _maple_positions(ctx: Context, root: int,
                     node: bool = False) -> Iterator[tuple[int | None, int, str]]:
    """(index, entry, position) of each entry of the maple tree at ``root``
    (``struct maple_tree *``; with ``node`` the encoded node there) as
    crash's ``tree -t maple -p`` numbers them (maple_tree.c do_mt_entry():
    the entries counted from 1, the position the path of slots to the leaf,
    then the entry's slot in it)."""
    from kmemx.helpers.mapledump import MapleDumpEntry

    n = 0
    for e in _maple_items(ctx, root, node):
        if isinstance(e, MapleDumpEntry) and e.entry:
            n += 1
            yield n, e.entry, f"{e.path}/{e.slot}"


def _position_record(ctx: Context, entry: int, pos: str, index: int | None) -> Any:
    """``tree -p`` without -s: crash's entry address and its ``  position:
    POS`` line (``  index: N  position: POS`` but in a red-black tree); an
    ADDRESS (INDEX) POSITION row in --json."""
    cols = ("ADDRESS", "POSITION") if index is None else ("INDEX", "ENTRY", "POSITION")
    cells = (Address(entry), pos) if index is None else (index, Address(entry), pos)
    row = Row(cols, cells)
    if ctx.as_json:
        return row
    line = f"  position: {pos}" if index is None else f"  index: {index}  position: {pos}"
    return TextRecord(f"{entry:x}\n{line}", row.as_dict())


def _with_position(row: Any, i: int, pos: str, index: int | None = None) -> Any:
    """An entry of ``tree -p -s``: crash's ``  position: POS`` line after the
    entry's address (``  index: N  position: POS`` for xarrays and radix
    trees), a POSITION (and INDEX) column in its row."""
    line = f"  position: {pos}" if index is None else f"  index: {index}  position: {pos}"
    extra: dict[str, Any] = {"position": pos} if index is None else {"index": index,
                                                                    "position": pos}
    if isinstance(row, Row):
        cols = ("POSITION",) if index is None else ("INDEX", "POSITION")
        return Row((*row.columns, *cols), (*row.cells, *extra.values()), row.obj)
    if isinstance(row, TextRecord) and isinstance(row.data, dict):
        first, _, rest = str(row).partition("\n")
        return TextRecord(f"{first}\n{line}\n{rest}", {**row.data, **extra}, row.obj)
    if i == 0:  # a whole structure's address line: the position after it
        return TextLine(f"{row}\n{line}")
    return row


MAPLE_NODE_COLUMNS = ("DEPTH", "FIRST", "LAST", "NODE", "TYPE", "PARENT")
MAPLE_ENTRY_COLUMNS = ("DEPTH", "FIRST", "LAST", "ENTRY")


def _mt_entry_text(entry: int) -> str:
    """crash's dump_mt_entry() of an entry (the kernel's mt_dump_entry())."""
    if entry & 1:  # xa_is_value()
        return f"value {entry >> 1} ({entry >> 1:#x}) [{entry:#x}]"
    if entry == (257 << 2) | 2:  # xa_is_zero()
        return f"zero ({entry >> 2})"
    if entry < 4096 and entry & 3 == 2:  # mt_is_reserved()
        return f"UNKNOWN ENTRY ({entry:#x})"
    return f"{entry:#x}"


def _tree_maple_dump(ctx: Context, root: int, node: bool = False,
                     struct_spec: str | None = None, radix: int | None = None,
                     fast: bool = False, position: bool = False) -> Iterator[Any]:
    """``tree -t maple -v``: crash's lines of :func:`kmemx.helpers.mapledump.mt_dump`
    (the tree's flags, height and root; each node's range, address, depth,
    type, parent and contents; each entry's range and value); with ``node``
    (``-N``) from the encoded node at ``root``, no tree line; with
    ``struct_spec`` (``-s``/``-S``, ``fast``) each non-NULL entry's lines
    under it and with ``position`` (``-p``) its ``  index: N  position:
    PATH/SLOT`` line first, as crash's do_mt_entry(); --json: the NODE and
    ENTRY rows."""
    from kmemx.helpers.mapledump import MapleDumpEntry, MapleDumpNode

    entries = 0  # crash's global_index: the non-NULL entries, from 1
    spec: tuple[drgn.Type, str, list[str]] | None = None
    if struct_spec:
        name, members = split_struct_spec(struct_spec)
        spec = (_resolve_type(ctx, name), name, members)

    def ptr(v: int) -> str:  # printf's %p
        return f"{v:#x}" if v else "(nil)"

    def span(depth: int, first: int, last: int) -> str:
        head = " " * min(depth * 2, 32)
        return f"{head}{first}: " if first == last else f"{head}{first}-{last}: "

    try:
        for item in _maple_items(ctx, root, node):
            if isinstance(item, MapleDumpEntry):
                if ctx.as_json:
                    yield Row(MAPLE_ENTRY_COLUMNS, (item.depth, item.first, item.last,
                                                    Address(item.entry)))
                else:
                    yield TextLine(span(item.depth, item.first, item.last)
                                   + _mt_entry_text(item.entry))
                    if position and item.entry:
                        entries += 1
                        yield TextLine(f"  index: {entries}  position: {item.path}/{item.slot}")
                    if spec is not None and item.entry:
                        for line in _entry_lines(ctx, *spec, item.entry, radix, fast, "tree"):
                            yield TextLine(line)
            elif isinstance(item, MapleDumpNode):
                if ctx.as_json:
                    yield Row(MAPLE_NODE_COLUMNS, (item.depth, item.first, item.last,
                                                   Address(item.address), item.type,
                                                   Address(item.parent)))
                    continue
                line = (span(item.depth, item.first, item.last)
                        + f"node {item.address:#x} depth {item.depth} type {item.type} "
                        f"parent {ptr(item.parent)}")
                if item.slots and item.type != 0:
                    pairs = " ".join(f"{ptr(sl)} {pv}"
                                     for sl, pv in zip(item.slots, item.pivots))
                    if item.meta is not None:
                        gaps = "".join(f"{g} " for g in item.gaps)
                        line += (f" contents: {gaps}| {item.meta[0]:02X} {item.meta[1]:02X}| "
                                 f"{pairs} {ptr(item.slots[-1])}")
                    else:
                        line += f" contents: {pairs} {ptr(item.slots[-1])}"
                yield TextLine(line)
            elif not ctx.as_json:
                yield TextLine(f"maple_tree({item.address:x}) flags {item.flags:X}, "
                               f"height {item.height} root {item.root:#x}")
                yield TextLine("")
    except drgn.FaultError as e:
        ctx.warn(f"tree walk stopped: cannot read {fault_where(e)}")


def per_cpu_addresses(ctx: Context, word: str) -> list[tuple[int, int]]:
    """``(cpu, address)`` for crash's ``SYMBOL:CPUSPEC`` (``runqueues:1``,
    ``runqueues:a``, ``runqueues:0,1``): ``per_cpu_ptr(&SYMBOL, cpu)`` of each
    CPU of the spec (include/linux/percpu-defs.h).  CommandError for an
    unknown symbol or a bad spec."""
    from drgn.helpers.linux.percpu import per_cpu_ptr

    from kmemx.commands import parse_cpuspec

    name, _, spec = word.partition(":")
    try:
        var = ctx.prog[name]
    except KeyError:
        raise CommandError(f"unknown symbol {name!r}"
                           + did_you_mean(name, symbol_names(ctx.prog))) from None
    ptr = var.address_of_()
    return [(cpu, int(per_cpu_ptr(ptr, cpu).value_())) for cpu in parse_cpuspec(ctx.prog, spec)]


_COUNT = re.compile(r"-?[1-9][0-9]*")


def struct_targets(ctx: Context, words: list[str], size: int, count: int | None = None,
                   command: str = "struct") -> list[tuple[str, int | None, int]]:
    """crash's ``struct`` arguments as ``(word, cpu, address)``: an address
    (hex, a symbol, ``symbol+off``, a global's member path) optionally
    followed by a decimal COUNT of consecutive structs of ``size`` bytes
    (``struct page ADDR 4``; ``-c COUNT``: ``count`` for the addresses
    without one), or ``SYMBOL:CPUSPEC`` (one per CPU, ``cpu`` set).  A
    negative COUNT (``-c -3``, or ``ADDR -3``, which crash refuses as an
    option) is crash's "the (positive) count structures that lead up to and
    include the target structure", lowest address first.  A bad word is
    reported and skipped (:func:`resolve_each`)."""
    groups: list[tuple[str, int]] = []
    for w in words:
        if groups and _COUNT.fullmatch(w) and groups[-1][1] == 0 and ":" not in groups[-1][0]:
            groups[-1] = (groups[-1][0], int(w))
        else:
            groups.append((w, 0))
    counts = dict(groups)

    def resolve(word: str) -> list[tuple[str, int | None, int]]:
        if ":" in word:
            return [(word, cpu, a) for cpu, a in per_cpu_addresses(ctx, word)]
        a = kernel_address(ctx, word, command)
        n = counts.get(word, 0) or count or 1
        if n < 0:  # the structures before ADDR, and ADDR's
            a, n = a + (n + 1) * size, -n
        return [(word, None, a + i * size) for i in range(n)]

    return [x for xs in resolve_each(ctx, [w for w, _ in groups], resolve) for x in xs]


def _struct_drgn(ctx: Context, args: argparse.Namespace, command: str = "struct") -> str:
    """``struct --drgn`` (``union``: ``command``): each structure in crash's
    text (:data:`CRASH_MEMBER_CODE`'s struct_text()), or its members (a
    table), or the type's definition (no address)."""
    from kmemx.commands.drgncode import text_script

    t, members = struct_or_union_type(ctx, args.type, command)  # the command's own rule
    if args.members:
        members += [m.strip() for m in args.members.split(",") if m.strip()]
    tname = t.type_name()
    if args.raw or args.user or args.dumpfile:
        return _struct_options_drgn(ctx, args, t, members, command)
    if not args.addresses and members:  # each member's offset and declaration
        return text_script(ctx, f"""\
t = prog.type({tname!r})
fmt = {'hex' if args.radix == 16 else 'str'}
width = len(fmt(t.size)) + 2
print(f"{{t.type_name()}} {{{{")
for path in {members!r}:
    m = Object(prog, t, address=0).subobject_(path)
    leaf = path.rsplit(".", 1)[-1]
    decl = f"{{m.type_.type_name()}} {{leaf}}" if "[" in leaf else m.type_.variable_declaration(leaf)
    if m.bit_field_size_ is not None:
        decl += f" : {{m.bit_field_size_}}"
    print(f"  {{'[' + fmt(m.address_) + ']':>{{width}}}} {{decl}};")
print("}}")
""", ["drgn:Object"])
    if not args.addresses:  # the definition, crash's text (-o: member offsets)
        return text_script(ctx, CRASH_PTYPE_CODE + f"""

print("\\n".join(ptype_lines(prog.type({tname!r}), {bool(args.offsets)}, {args.radix or 10})))
""", ["drgn:TypeKind,sizeof", "re"])
    keyword = command
    bare = split_struct_spec(args.type)[0].split(" ", 1)[1]
    if any(":" in w for w in args.addresses):
        return _struct_percpu_drgn(ctx, args.addresses, tname, members, keyword, bare,
                                   args.radix)
    shift = _offset(ctx, args.list_offset, "-l") if args.list_offset is not None else 0
    addrs = [hex(a - shift) for _, _, a in struct_targets(ctx, args.addresses, drgn.sizeof(t),
                                                                   args.count, command)]
    walk = f"for a in (int(x, 16) for x in {addrs}):".replace("'", '"')
    spec = tname.replace("struct ", "", 1) + ("." + ",".join(members) if members else "")
    if args.deref:  # crash's -p: each pointer member's target under it
        body = (f"print(deref_text(struct_text(obj, {keyword!r}, {bare!r}, {args.radix or 10}), "
                f"obj, {args.radix or 10}))" if not members else
                f"""for m in {members!r}:
        lines = deref_lines(obj, m, {args.radix or 10})
        print("\\n".join(lines) if lines else member_line(obj, m, {args.radix or 10}))""")
        return text_script(ctx, CRASH_MEMBER_CODE + CRASH_DEREF_CODE + f"""

for n, a in enumerate(int(x, 16) for x in {addrs}):
    if n and {keyword == "struct" or bool(members)}:
        print()
    obj = Object(prog, {tname!r}, address=a)
    {body}
""".replace("'", '"'), ["drgn:FaultError,Object,SymbolKind,TypeKind,sizeof"])
    if not members:  # crash's print_struct(): a blank line between structures
        return text_script(ctx, CRASH_MEMBER_CODE + f"""

for n, a in enumerate(int(x, 16) for x in {addrs}):
    if n and {keyword == "struct"}:
        print()
    print(struct_text(Object(prog, {tname!r}, address=a), {keyword!r}, {bare!r}, {args.radix or 10}))
""".replace("'", '"'), ["drgn:FaultError,Object,SymbolKind,TypeKind,sizeof"])
    return _emit_drgn(ctx, walk, spec, [])


def _struct_options_drgn(ctx: Context, args: argparse.Namespace, t: drgn.Type,
                         members: list[str], command: str = "struct") -> str:
    """``struct -r`` / ``-u`` / ``-f --drgn``: the bytes read by drgn (``-u``:
    through the current context's page tables, drgn's access_remote_vm();
    ``-f``: the dump file's own bytes), as rows of
    64-bit (a 1/2/4-byte member: its own width) words with crash's ASCII
    column, or the structures (members: a table, as ``--json``; else drgn's
    format_()).  The addresses are resolved as the command resolves them."""
    from kmemx.commands.drgncode import only, table_script, text_script

    if args.raw and len(members) > 1:
        raise CommandError("struct: only one structure member allowed with -r")
    if not args.addresses or any(":" in w for w in args.addresses):
        raise only("struct", "-r, -u and -f with addresses")
    shift = _offset(ctx, args.list_offset, "-l") if args.list_offset is not None else 0
    if args.user:
        task = ctx.current_task()
        if not task.mm.read_():
            raise CommandError(f"struct: PID {int(task.pid)} has no user address space "
                               "(set a user task first)")
        starts = [a - shift for a in resolve_each(ctx, args.addresses,
                                                  lambda w: parse_address(ctx, w))]
        read = f"""\
mm = Object(prog, "struct task_struct *", {int(task.value_()):#x}).mm  # the current context


def read(addr, n):  # a user address of the current context, through its page tables
    return bytes(access_remote_vm(mm, addr, n))
"""
        imports = ["drgn:Object", "drgn.helpers.linux.mm:access_remote_vm"]
    elif args.dumpfile:
        starts = [a - shift for a in _dump_file_offsets(args.addresses, drgn.sizeof(t),
                                                        args.count, command)]
        read = _RD_FILE_CODE
        imports = ["drgn:FaultError,Object"]
    else:
        starts = [a - shift for _, _, a in struct_targets(ctx, args.addresses, drgn.sizeof(t),
                                                                   args.count, command)]
        read = "read = prog.read\n"
        imports = ["drgn:Object"]
    tname = t.type_name()
    walk = f"for a in {[hex(a) for a in starts]}:\n    a = int(a, 16)\n".replace("'", '"')
    if args.raw:
        member = members[0] if members else None
        return table_script(ctx, ("ADDRESS", "VALUES", "ASCII"), read + f"""\
PRINTABLE = {sorted(_PRINTABLE)!r}
t = prog.type({tname!r})
member = {member!r}  # -r of one member: its bytes only


{walk}    start, length = a, sizeof(t)
    if member is not None:
        sub = Object(prog, t, address=a).subobject_(member)
        start, length = sub.address_, sizeof(sub.type_)
    width = length if length in (1, 2, 4) else 8
    pos, end = start, start + width * -(-length // width)
    while pos < end:  # crash's display_memory(): 16 bytes a row
        n = min(16, end - pos)
        data = read(pos, n)
        words = [int.from_bytes(data[i:i + width], "little") for i in range(0, n, width)]
        row(hex(pos), " ".join(f"{{w:0{{2 * width}}x}}" for w in words),
            "".join(chr(b) if b in PRINTABLE else "." for b in data))
        pos += n
""", [*imports, "drgn:sizeof"])
    if members:
        cols = ("ADDRESS", *[m.upper() for m in members])
        return table_script(ctx, cols, read + _CELL_CODE + f"""\
{walk}    obj = Object.from_bytes_(prog, {tname!r}, read(a, {drgn.sizeof(t)}))
    row(hex(a), *(cell(obj.subobject_(m)) for m in {members!r}))
""", [*imports, "drgn:TypeKind"])
    keyword = command
    bare = split_struct_spec(args.type)[0].split(" ", 1)[1]
    walk = walk.replace("for a in ", "for n, a in enumerate(", 1).replace(":\n", "):\n", 1)
    return text_script(ctx, CRASH_MEMBER_CODE + "\n\n" + read + f"""\
{walk}    obj = Object.from_bytes_(prog, {tname!r}, read(a, {drgn.sizeof(t)}))
    if n and {keyword == "struct"}:
        print()
    print({keyword + " " + bare + " "!r} + gdb_value(obj, a, 0, {args.radix or 10}))
""", [*imports, "drgn:FaultError,Object,SymbolKind,TypeKind,sizeof"])


def _struct_percpu_drgn(ctx: Context, words: list[str], tname: str, members: list[str],
                        keyword: str = "struct", bare: str = "", radix: int | None = None
                        ) -> str:
    """``struct T SYMBOL:CPUSPEC --drgn``: drgn's per_cpu_ptr() of the
    symbol on each CPU of the spec: ``[CPU]: ADDR`` and the structure
    (crash's text, :data:`CRASH_MEMBER_CODE`), or a CPUSPEC column before
    the members."""
    from kmemx.commands import parse_cpuspec
    from kmemx.commands.drgncode import only, table_script, text_script

    if not all(":" in w for w in words):
        raise only("struct", "addresses or SYMBOL:CPUSPEC words, not both")
    targets = [(w.partition(":")[0], parse_cpuspec(ctx.prog, w.partition(":")[2]))
               for w in words]
    walk = f"""\
for name, cpus in {targets!r}:
    for cpu in cpus:
        a = per_cpu_ptr(prog[name].address_of_(), cpu).value_()
"""
    imports = ["drgn:Object", "drgn.helpers.linux.percpu:per_cpu_ptr"]
    if not members:
        return text_script(ctx, CRASH_MEMBER_CODE + "\n\n" + walk + f"""\
        print(f"[{{cpu}}]: {{a:x}}")
        print(struct_text(Object(prog, {tname!r}, address=a), {keyword!r}, {bare!r}, {radix or 10}))
""", [*imports, "drgn:FaultError,SymbolKind,TypeKind,sizeof"])
    cols = ("CPUSPEC", "ADDRESS", *[m.upper() for m in members])
    return table_script(ctx, cols, _CELL_CODE + walk + f"""\
        obj = Object(prog, {tname!r}, address=a)
        row(cpu, hex(a), *(cell(obj.subobject_(m)) for m in {members!r}))
""", ["drgn:TypeKind", *imports])


def _union_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``union --drgn``: :func:`_struct_drgn` of a union."""
    return _struct_drgn(ctx, args, "union")


#: the arguments of struct and union (crash's union takes every option struct does)
_STRUCT_ARGUMENTS = [
    arg("type", help="struct name, optionally .member,..."),
    arg("addresses", nargs="*",
        help="addresses or symbols, each optionally followed by a COUNT; "
             "SYMBOL:CPUSPEC"),
    arg("-m", dest="members", help="comma-separated members"),
    arg("-o", dest="offsets", action="store_true",
        help="show member offsets"),
    arg("-x", dest="radix", action="store_const", const=16,
        help="integers in hexadecimal"),
    arg("-d", dest="radix", action="store_const", const=10,
        help="integers in decimal (the default)"),
    arg("-l", dest="list_offset", metavar="OFFSET",
        help="the addresses point at this member (struct.member or a "
             "byte offset) inside the structure, as crash's -l"),
    arg("-r", dest="raw", action="store_true",
        help="raw dump: the structure's (or its one member's) bytes as "
             "rd shows them"),
    arg("-u", dest="user", action="store_true",
        help="the addresses are user addresses of the current context "
             "(set PID)"),
    arg("-f", dest="dumpfile", action="store_true",
        help="the address is an offset into the dump file (decimal, or hex "
             "as crash)"),
    arg("-c", dest="count", type=int, metavar="COUNT",
        help="COUNT structures from each address (crash's -c; negative: the "
             "COUNT structures up to and including it)"),
    arg("-p", dest="deref", action="store_true",
        help="a pointer member: its type on its line, and its target "
             "dereferenced on the next (crash's -p; needs an address)"),
]


@command("struct", "display a structure at an address",
         description="""
         struct task_struct ADDR            the whole structure
         struct task_struct.pid,comm ADDR   some members (crash syntax)
         struct task_struct ADDR -m pid,se.vruntime
         struct page ADDR 4                 COUNT consecutive structures (decimal)
         struct -c -2 list_head ADDR        a negative COUNT: the structures before
                                            ADDR and ADDR's, lowest first (crash's;
                                            'ADDR -2' too, which crash refuses)
         struct rq.cpu,nr_running runqueues:a   a per-CPU symbol on every CPU
                                            (:1, :0,1, :0-1 some CPUs), as crash
         struct task_struct ADDR1 ADDR2 ... several; a bad address is reported, the rest shown
         struct task_struct                 its definition with offsets (-o)
         struct -x task_struct.pid,flags ADDR   integers in hex (-d: decimal, the default)
         struct -l task_struct.tasks task_struct.pid ADDR
                                            ADDR points at the member (a list_head):
                                            the structure starts that far below it
                                            (-l OFFSET: a byte offset)
         struct -r list_head ADDR           the raw bytes (one member: its bytes), as rd
         struct -u list_head UADDR          a user address of the current context (set PID)
         struct -f elf64_hdr 0              read from the dump file at an offset (crash's -f)
         ps | filter pid<3 | struct task_struct.pid,comm
         ADDR: hex (0x optional), a symbol, symbol+offset, or a global's member path.
         With a cpuspec, each structure is shown after a [CPU]: ADDR line (a CPU
         CPUSPEC column in tables), as crash shows them.
         The text is crash's: 'struct list_head {' and gdb's pretty print of the
         members (a blank line between structures, none between unions); -r
         prints crash's 'ADDR:  WORDS  ASCII' lines.  --json: ADDRESS TYPE rows
         (the object piped on), -r ADDRESS VALUES ASCII rows.
         """,
         arguments=_STRUCT_ARGUMENTS, takes_input=True, drgn_code=_struct_drgn)
def _struct(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    yield from _struct_or_union(ctx, args, input, "struct")


@command("union", "display a union at an address",
         description="""
         crash's union: struct's forms and options for a union type
         (union sigval ADDR, union sigval.sival_int ADDR, union -o sigval,
         union -r sigval ADDR); a structure's name is crash's error
         "union: data type mismatch: NAME is not a union", as struct
         refuses a union's name.
         """,
         arguments=_STRUCT_ARGUMENTS, takes_input=True, drgn_code=_union_drgn)
def _union(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    yield from _struct_or_union(ctx, args, input, "union")


def struct_or_union_type(ctx: Context, spec: str, command: str) -> tuple[drgn.Type, list[str]]:
    """The type and members of ``struct``'s or ``union``'s first argument
    (``task_struct.pid,comm``, ``sigval``), as crash takes it: the name of a
    type of the command's kind (``struct X`` / ``union X``) or a typedef of
    one; the other kind's name is crash's "data type mismatch" error.
    CommandError with "did you mean" for an unknown name."""
    from kmemx.types.layout import resolve_type

    name, members = split_struct_spec(spec)
    bare = name.split(" ", 1)[1]
    t: drgn.Type | None = None
    union_error: UnknownNameError | None = None
    if command == "union" and not spec.strip().startswith(("struct ", "union ")):
        try:
            t = resolve_type(ctx.prog, f"union {bare}")
        except UnknownNameError as e:
            union_error = e
        except SyntaxError:  # "union union x", "union struct page"
            raise CommandError(f"{command}: not a type name: {spec!r}") from None
    if t is None:
        try:
            t = _resolve_type(ctx, name)  # struct X, else union X, else typedef X
        except CommandError:
            if union_error is not None:  # union X's own name, not struct X's
                raise CommandError(str(union_error)) from None
            raise
    kind = _strip_typedefs(t).kind
    want = drgn.TypeKind.UNION if command == "union" else drgn.TypeKind.STRUCT
    if kind in (drgn.TypeKind.STRUCT, drgn.TypeKind.UNION) and kind != want:
        raise CommandError(f"{command}: data type mismatch: {bare} is not a {command}")
    return t, members


def _struct_or_union(ctx: Context, args: argparse.Namespace, input: Iterable[Any],
                     command: str) -> Iterator[Any]:
    t, members = struct_or_union_type(ctx, args.type, command)
    if args.members:
        members += [m.strip() for m in args.members.split(",") if m.strip()]
    name = t.type_name()
    dump = not members and not ctx.as_json
    size = drgn.sizeof(t)  # a typedef's too (struct atomic_t ADDR)
    if args.raw or args.user or args.dumpfile:
        yield from _struct_options(ctx, args, t, members, input, command)
        return

    bare = split_struct_spec(args.type)[0].split(" ", 1)[1]

    def text(a: int) -> str:  # crash's print_struct() / print_union()
        try:
            obj = drgn.Object(ctx.prog, t, address=a)
            txt = crash_struct_text(obj, command, bare, args.radix)
            return crash_dereference_text(txt, obj, args.radix)[0] if args.deref else txt
        except drgn.FaultError as e:
            raise CommandError(f"struct: {name} at {a:#x}: cannot read {fault_where(e)}") from None

    if args.addresses:
        targets = struct_targets(ctx, args.addresses, size, args.count, command)
        if args.list_offset is not None:  # crash's -l: ADDR points at that member
            shift = _offset(ctx, args.list_offset, "-l")
            targets = [(w, cpu, a - shift) for w, cpu, a in targets]
    else:
        targets = [("", None, v.address) for v in piped_structs(ctx, input, name, "struct")]
        if not targets and args.deref:
            raise CommandError(f"{command}: -p option requires address argument")
        if not targets and members:
            yield from _member_declarations(ctx, t, args.type, members, args.radix)
            return
        if not targets:
            yield from _ptype_lines(ctx, t, args.offsets, args.radix)
            return
    per_cpu = any(cpu is not None for _, cpu, _ in targets)
    # each struct is read with its argument: an unreadable one is a bad argument
    good: list[tuple[int | None, int, str | None]] = []
    bad: list[str] = []
    for _word, cpu, a in targets:
        try:
            if dump:
                good.append((cpu, a, text(a)))
            else:
                ctx.k.read(a, size)
                good.append((cpu, a, None))
        except CommandError as e:
            bad.append(str(e))
        except drgn.FaultError as e:
            bad.append(f"struct: {name} at {a:#x}: cannot read {fault_where(e)}")
    if bad and not good:
        raise CommandError("; ".join(dict.fromkeys(bad)))
    for message in bad:
        ctx.warn(message)
    if args.deref and ctx.as_json:  # a row for each pointer -p follows
        yield from _deref_rows(ctx, t, [(cpu, a) for cpu, a, _ in good], members, args.radix)
        return
    if members and not ctx.as_json:  # crash's member lines, a blank line between structures
        for n, (cpu, a, _txt) in enumerate(good):
            if n and cpu is None:
                yield TextLine("")
            if cpu is not None:
                yield TextLine(f"[{cpu}]: {a:x}")
            yield from _member_lines(ctx, drgn.Object(ctx.prog, t, address=a), members,
                                     args.radix, command, args.deref)
        return
    if members:
        spec = name.replace("struct ", "", 1) + "." + ",".join(members)
        for row in _emit(ctx, [a for _, a, _ in good], spec, args.radix):
            if per_cpu and isinstance(row, Row):
                cpu = next(c for c, a, _ in good if a == int(row.cells[0]))
                row = Row(("CPUSPEC", *row.columns), (cpu, *row.cells), row.obj)
            yield row
        return
    for n, (cpu, a, txt) in enumerate(good):
        if not dump:
            cols: tuple[str, ...] = ("ADDRESS", "TYPE")
            cells: tuple[Any, ...] = (Address(a), name)
            if per_cpu:
                cols, cells = ("CPUSPEC", *cols), (cpu, *cells)
            yield Row(cols, cells, ctx.k.view(t, a))
            continue
        if n and cpu is None and command == "struct":
            yield TextLine("")  # crash: a blank line between structures, none between unions
        if cpu is not None:
            yield TextLine(f"[{cpu}]: {a:x}")
        yield TextLine(txt if txt is not None else text(a))


def _struct_options(ctx: Context, args: argparse.Namespace, t: drgn.Type,
                    members: list[str], input: Iterable[Any], command: str = "struct"
                    ) -> Iterator[Any]:
    """``struct`` with crash's -r (the structure's bytes, or
    its one member's, as ``rd`` shows them: 64-bit words and ASCII, a 1-, 2-
    or 4-byte member in its own width, crash's raw_data_dump()) and -u (user
    addresses of the current context, read through its page tables)."""
    name = t.type_name()
    size = drgn.sizeof(t)
    if args.raw and len(members) > 1:
        raise CommandError("struct: only one structure member allowed with -r")
    if not args.addresses:
        raise CommandError(f"{command}: -r, -u and -f take an address")
    if any(":" in w for w in args.addresses):
        raise CommandError(f"{command}: -f option cannot be used with percpu" if args.dumpfile
                           else f"{command}: -r and -u take addresses, not SYMBOL:CPUSPEC")
    if args.user and args.dumpfile:
        raise CommandError(f"{command}: -u and -f name different address spaces: give one")
    shift = _offset(ctx, args.list_offset, "-l") if args.list_offset is not None else 0
    source: Callable[[int, int], bytes] = ctx.k.read
    if args.user:
        source = _user_reader(ctx, "struct")
        starts = [a - shift for a in resolve_each(ctx, args.addresses,
                                                  lambda w: parse_address(ctx, w))]
    elif args.dumpfile:
        source = _dump_file_reader(ctx, command)
        starts = [a - shift for a in _dump_file_offsets(args.addresses, size, args.count,
                                                        command)]
    else:
        starts = [a - shift for _, _, a in struct_targets(ctx, args.addresses, size, args.count,
                                                          command)]

    def read(a: int, n: int) -> bytes:
        try:
            return source(a, n)
        except drgn.FaultError as e:
            if args.dumpfile:
                raise CommandError(f"{command}: dump file offset {e.address:#x} is not "
                                   f"readable: {e.message}") from None
            kind = "user" if args.user else "kernel"
            raise CommandError(f"{command}: invalid {kind} virtual address: "
                               f"{e.address:x}") from None

    for n, a in enumerate(starts):
        if args.raw:
            start, length = a, size
            if members:
                try:
                    start = a + drgn.offsetof(t, members[0])
                    length = drgn.sizeof(drgn.Object(ctx.prog, t, address=a)
                                         .subobject_(members[0]).type_)
                except LookupError as e:
                    raise CommandError(f"struct: {name}.{members[0]}: {e}") from None
            width = length if length in (1, 2, 4) else 8
            count = -(-length // width)
            if n and not ctx.as_json:
                yield TextLine("")
            rows = _raw_rows(read, start, width, count)
            yield from rows if ctx.as_json else (TextLine(_rd_line(r, width)) for r in rows)
            continue
        obj = drgn.Object.from_bytes_(ctx.prog, t, read(a, size))
        if members and not ctx.as_json:
            if n:
                yield TextLine("")
            yield from _member_lines(ctx, obj, members, args.radix, command)
            continue
        if members:
            yield Row(("ADDRESS", *[m.upper() for m in members]),
                      (Address(a), *_fields(ctx, a, name, members, args.radix, obj)), obj)
            continue
        if ctx.as_json:
            yield Row(("ADDRESS", "TYPE"), (Address(a), name), obj)
        else:
            if n and command == "struct":
                yield TextLine("")
            bare = split_struct_spec(args.type)[0].split(" ", 1)[1]
            yield TextLine(f"{command} {bare} " + _gdb_value(obj, a, 0, args.radix))


def _rd_line(row: Row, width: int) -> str:
    """One of :func:`_raw_rows`' rows as crash's display_memory() prints it
    (``struct -r``): ``ADDR:  `` (right-aligned in 16 columns), the words as
    ``rd`` prints them (:func:`_rd_words`), a short last line's padded to a
    full line's width, two blanks and the ASCII column."""
    address, values, ascii_ = row.cells
    words = _rd_words([int(w, 16) for w in str(values).split()], width, None)
    return f"{int(address):>16x}:  {words:<{(16 // width) * (2 * width + 1)}}  {ascii_}"


def _raw_rows(read: Callable[[int, int], bytes], addr: int, width: int, count: int
              ) -> Iterator[Any]:
    """``rd``'s rows of ``count`` units of ``width`` bytes from ``addr``:
    ADDRESS VALUES (hex) ASCII, 16 bytes a row (crash's display_memory())."""
    pos, end = addr, addr + width * count
    while pos < end:
        n = min(16, end - pos)
        data = read(pos, n)
        words = [int.from_bytes(data[i:i + width], "little") for i in range(0, n, width)]
        yield Row(("ADDRESS", "VALUES", "ASCII"),
                  (Address(pos), " ".join(f"{w:0{2 * width}x}" for w in words),
                   "".join(chr(b) if b in _PRINTABLE else "." for b in data)))
        pos += n


#: crash's gdb settings (crash 8.0.6 gdb_interface.c: ``print_max`` 256,
#: ``repeat_count_threshold`` 0x7fffffff, ``set print pretty on``): the most
#: array elements (and string characters) printed before "...", and every
#: element printed, none as "<repeats N times>"
_PRINT_ELEMENTS = 256


_C_ESCAPES = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r",
              27: "\\033"}


def _strip_typedefs(t: drgn.Type) -> drgn.Type:
    while t.kind == drgn.TypeKind.TYPEDEF:
        t = t.type
    return t


def _char_like(t: drgn.Type) -> bool:
    """A one-byte integer type that gdb prints as a character (``char``,
    ``u8``: gdb's textual_element_type())."""
    t = _strip_typedefs(t)
    return bool(t.kind == drgn.TypeKind.INT and t.size == 1)


def _gdb_char(b: int, quote: str) -> str:
    """One byte of a string or character as gdb's print_wchar() writes it
    with an ASCII host charset: printable ASCII as itself (the quote and
    ``\\`` escaped), C's named escapes, every other byte, 0x80-0xff
    included, as a three-digit octal escape (:func:`_gdb_string` says why)."""
    if b == ord(quote) or b == 0x5C:
        return "\\" + chr(b)
    if 0x20 <= b < 0x7F:
        return chr(b)
    return _C_ESCAPES.get(b, f"\\{b:03o}")


def _gdb_chars(data: bytes, quote: str) -> str:
    """The bytes of a string as gdb's print_wchar() writes them one after the
    other (:func:`_gdb_char`), with its ``need_escape`` rule: after an octal
    escape a digit is escaped too (``"\\327\\063x"``, not the ambiguous
    ``"\\3273x"``)."""
    out = []
    escaped = False
    for b in data:
        if escaped and 0x30 <= b <= 0x39:
            out.append(f"\\{b:03o}")
            continue
        c = _gdb_char(b, quote)
        out.append(c)
        escaped = len(c) == 4 and c[0] == "\\" and c[1:].isdigit()
    return "".join(out)


def _gdb_string(data: bytes) -> str:
    """gdb's string of a char array's bytes (generic_printstr() with print
    null-stop off): the last byte dropped when it is a NUL, then runs of the
    same byte taken whole (count_next_character()) until
    :data:`_PRINT_ELEMENTS` characters are reached, "..." when that leaves
    some out.

    Bytes 0x80-0xff are always octal escapes (``\\303\\251``), never decoded
    as UTF-8.  crash's gdb decodes them with the locale's charset: under a
    UTF-8 locale a valid UTF-8 sequence in ``comm`` or a file name prints as
    its character, under ``LC_ALL=C`` as escapes.  kmemx takes the locale-free
    form because a kernel engineer reads bytes here: ``task_struct.comm``,
    ``dentry`` names and ``utsname`` fields are byte arrays the kernel never
    decodes, the escapes show exactly which bytes are in memory (an invalid
    or truncated sequence, a NUL), they survive any terminal and log, and
    the same dump prints the same text on every machine.  The crash oracle
    runs under ``LC_ALL=C`` for the same reason (tests/oracles/crash.py):
    under ``C.UTF-8`` crash 8.0.6 printed the two-byte sequences of
    ``boot_command_line`` as Armenian and Cyrillic letters, and cut the 4095
    NULs of init_task's ``fpu.__fpstate.regs.__padding`` at 256 (``"...``),
    where under ``LC_ALL=C`` it escapes the bytes and prints the whole run,
    as this function does (6.1 dump)."""
    if data and data[-1] == 0:
        data = data[:-1]
    n = 0
    while n < len(data) and n < _PRINT_ELEMENTS:
        b = data[n]
        while n < len(data) and data[n] == b:
            n += 1
    text = '"' + _gdb_chars(data[:n], '"') + '"'
    return text + "..." if n < len(data) else text


def _gdb_symbol_suffix(prog: drgn.Program, value: int) -> str:
    """`` <symbol+offset>`` for a pointer into the kernel image (gdb's
    ``print symbol``, build_address_symbolic()), else nothing: the ELF symbol
    containing it; for code, the name of the DWARF function containing it
    (find_pc_sect_function(): ``__do_sys_pause`` where the ELF symbol is its
    alias ``__x64_sys_pause``, ``foo`` for ``foo.isra.0``) and the offset
    from the ELF symbol.  A data symbol of size 0 (``init_stack``,
    linker-script labels) names nothing, as gdb drops such minimal symbols.
    An address in a module (gdb has no symbols there) is named as crash's
    gdb_lookup_module_symbol() names it (crash's gdb patch of
    build_address_symbolic()): the nearest module symbol at or below it, in
    the same module (value_search_module(), :func:`_symbol_at`)."""
    try:
        image = in_kernel_image(prog, value) and value != _kernel_symbol_range(prog)[1]
    except LookupError:  # no kernel symbols (_text) in this program
        return ""
    if not image:
        if value < KERNEL_HALF or module_of_address(prog, value) is None:
            return ""
        try:
            sym = _symbol_at(prog, value)
        except LookupError:
            return ""
        off = value - sym.address
        return f" <{sym.name}+{off}>" if off else f" <{sym.name}>"
    try:
        sym = prog.symbol(value)
    except LookupError:
        return ""
    if not sym.size and sym.kind != drgn.SymbolKind.FUNC:
        return ""
    name, base = sym.name, sym.address
    if sym.kind == drgn.SymbolKind.FUNC:
        try:
            name = prog.source_location(value)[-1].name() or name  # the outermost function
        except (LookupError, ValueError):  # no DWARF for this code (assembler)
            pass
        else:
            base = max(base, _function_entry(prog, name, sym, value))
    off = value - base
    return f" <{name}+{off}>" if off else f" <{name}>"


def _function_entry(prog: drgn.Program, name: str, sym: drgn.Symbol, value: int) -> int:
    """The DWARF entry (``DW_AT_low_pc``) of function ``name`` containing
    ``value`` (``unsigned long``) inside ELF symbol ``sym``, else
    ``sym.address``: gdb's build_address_symbolic() takes the offset from the
    function's BLOCK_ENTRY_PC unless the minimal (ELF) symbol lies above it.
    On arm64 with -fpatchable-function-entry=2 (DYNAMIC_FTRACE_WITH_REGS,
    3b23e4991fb6, v5.5) the ELF symbol covers the two NOPs before the DWARF
    entry, so ``p schedule`` is ``0x...998 <schedule>`` where the symbol is
    at 0x...990.  Raises nothing."""
    start = int(sym.address)
    try:
        entry = prog.function(name).address_
    except (LookupError, ValueError):
        return start
    if entry is None or not start <= entry <= value < start + max(int(sym.size), 1):
        return start  # another function of that name (a static one elsewhere)
    return int(entry)


def _gdb_c_string(prog: drgn.Program, value: int) -> str:
    """A ``char *``'s target as gdb prints it (val_print_string()):
    ``"text"`` up to the NUL, at most :data:`_PRINT_ELEMENTS` characters
    (then "..."), or gdb's memory error."""
    out = bytearray()
    try:
        while len(out) < _PRINT_ELEMENTS:
            chunk = prog.read(value + len(out), 16 - (value + len(out)) % 16)
            nul = chunk.find(0)
            if nul >= 0:
                out += chunk[:nul]
                return _gdb_string(bytes(out) + b"\0")
            out += chunk
    except drgn.FaultError:
        if not out:
            return f"<error: Cannot access memory at address {value:#x}>"
        return _gdb_string(bytes(out) + b"\0")
    return '"' + _gdb_chars(bytes(out[:_PRINT_ELEMENTS]), '"') + '"...'


def _gdb_enum(t: drgn.Type, value: int) -> str:
    """An enum value as gdb 10 prints it (generic_val_print_enum_1()): the
    enumerator's name; else, for a "flag enum" (no enumerator negative or of
    two or more bits: dwarf2/read.c), the names of its bits ``(A | B)`` and
    ``unknown: 0x..`` for bits none names, ``0`` for 0; else the number."""
    enumerators = t.enumerators or ()
    for e in enumerators:
        if e.value == value:
            return str(e.name)
    if not all(e.value >= 0 and bin(e.value).count("1") < 2 for e in enumerators):
        return str(value)
    names = []
    for e in enumerators:
        if value & e.value:
            value &= ~e.value
            names.append(str(e.name))
    if value:
        names.append(f"unknown: {value & ((1 << 64) - 1):#x}")
    return "(" + " | ".join(names) + ")" if names else "0"


def crash_value_text(obj: drgn.Object, recurse: int, radix: int | None = None) -> str:
    """``obj``'s value as crash prints it (gdb 10's ``print`` with ``set
    print pretty on``, no repeats, 256 elements): integers in decimal
    (``radix`` 16: ``0x``-hex of the type's width), ``0 '\\000'`` for
    one-byte integers, enumerator names (:func:`_gdb_enum`),
    ``true``/``false``, pointers in hex with gdb's ``<symbol+offset>`` for
    the kernel image and the string of a ``char *``, char arrays as strings
    (:func:`_gdb_string`), other arrays ``{a, b}``, a flexible array as its
    address (and string), structures and unions as ``{`` and one member a
    line indented ``2 + 2 * recurse`` (an anonymous member without its
    name), closed at ``2 * recurse``; one without members
    ``{<No data fields>}``.  A reference object is read once, whole.
    Raises drgn.FaultError when ``obj`` cannot be read."""
    address = obj.address_ if obj.bit_field_size_ is None else None
    t = _strip_typedefs(obj.type_)
    if t.kind == drgn.TypeKind.FUNCTION or (t.kind == drgn.TypeKind.ARRAY and not t.length):
        return _gdb_value(obj, address, recurse, radix)  # nothing to read: an address
    return _gdb_value(obj.read_(), address, recurse, radix)


def _gdb_value(obj: drgn.Object, address: int | None, recurse: int,
               radix: int | None) -> str:
    """:func:`crash_value_text` of a value object that was read at
    ``address`` (None: not from memory)."""
    prog = obj.prog_
    t = _strip_typedefs(obj.type_)
    kind = t.kind
    if kind in (drgn.TypeKind.STRUCT, drgn.TypeKind.UNION, drgn.TypeKind.CLASS):
        pad = " " * (2 + 2 * recurse)
        lines = []
        raw = obj.to_bytes_()
        for m in t.members or ():
            off = m.bit_offset // 8
            at = None if address is None else address + off
            if m.name is None:
                sub = drgn.Object.from_bytes_(prog, m.type, raw[off:off + drgn.sizeof(m.type)])
                lines.append(pad + _gdb_value(sub, at, recurse + 1, radix))
            else:
                sub = obj.member_(m.name)
                at = None if sub.bit_field_size_ is not None else at
                lines.append(f"{pad}{m.name} = {_gdb_value(sub, at, recurse + 1, radix)}")
        if not lines:
            return "{<No data fields>}"
        return "{\n" + ",\n".join(lines) + "\n" + " " * (2 * recurse) + "}"
    if kind == drgn.TypeKind.ARRAY:
        n = t.length or 0
        if not n or not _sizeof_or_zero(t.type):
            # a flexible array, or one of empty structures (lock_class_key[3]
            # without lockdep): gdb shows where it starts (c_value_print_array()
            # prints elements only when the array and its element have a size)
            where = address or 0
            text = f"{where:#x}" + _gdb_symbol_suffix(prog, where)
            return text + " " + _gdb_c_string(prog, where) if _char_like(t.type) else text
        if _char_like(t.type):
            return _gdb_string(obj.to_bytes_())
        size = drgn.sizeof(t.type)
        items = [_gdb_value(obj[i], None if address is None else address + i * size,
                            recurse + 1, radix)
                 for i in range(min(n, _PRINT_ELEMENTS))]
        return "{" + ", ".join(items) + ("...}" if n > _PRINT_ELEMENTS else "}")
    if kind == drgn.TypeKind.POINTER:
        value = int(obj.value_())
        if not value:
            return "0x0"
        text = f"{value:#x}" + _gdb_symbol_suffix(prog, value)
        target = _strip_typedefs(t.type)
        if _char_like(target):
            text += " " + _gdb_c_string(prog, value)
        return text
    if kind == drgn.TypeKind.FUNCTION:  # a function symbol (p schedule)
        where = address or 0
        return f"{{{obj.type_.type_name()}}} {where:#x}" + _gdb_symbol_suffix(prog, where)
    if kind == drgn.TypeKind.BOOL:  # gdb's output-radix 16 formats a bool as a number
        if radix == 16:
            return f"{int(obj.value_()):#x}"
        return "true" if obj.value_() else "false"
    if kind == drgn.TypeKind.ENUM:
        return _gdb_enum(t, int(obj.value_()))
    if kind == drgn.TypeKind.INT:
        value = int(obj.value_())
        if radix == 16:
            bits = obj.bit_field_size_ or 8 * (t.size or 8)
            return f"{value & ((1 << bits) - 1):#x}"
        if t.size == 1:
            return f"{value} '{_gdb_char(value & 0xFF, chr(39))}'"
        return str(value)
    if kind == drgn.TypeKind.FLOAT:
        return repr(float(obj.value_()))
    return str(obj.value_())


def _sizeof_or_zero(t: drgn.Type) -> int:
    """``sizeof(t)``, 0 for a type without a size (incomplete, void)."""
    try:
        return int(drgn.sizeof(t))
    except TypeError:
        return 0


#: the names of the character types whose pointers gdb prints without their
#: type in front (c_value_print()'s "remove (char *) for char strings")
_TEXTUAL_NAMES = frozenset({"char", "wchar_t", "char16_t", "char32_t"})


def crash_print_text(obj: drgn.Object, radix: int | None = None) -> str:
    """``obj`` as gdb's ``print`` shows a whole value after ``$N = ``
    (c_value_print()): a pointer with its type in front, ``(struct mm_struct
    *) 0x0``, except an untypedef'd pointer to ``char``; anything else as
    :func:`crash_value_text` at the top level.  Raises drgn.FaultError."""
    text = crash_value_text(obj, 0, radix)
    t = obj.type_
    if _strip_typedefs(t).kind == drgn.TypeKind.POINTER and not (
            t.kind == drgn.TypeKind.POINTER
            and t.type.kind in (drgn.TypeKind.INT, drgn.TypeKind.TYPEDEF)
            and t.type.name in _TEXTUAL_NAMES):
        return f"({t.type_name()}) {text}"
    return text


def crash_struct_text(obj: drgn.Object, keyword: str, name: str,
                      radix: int | None = None) -> str:
    """crash's ``struct NAME ADDR`` (``union``) text: ``KEYWORD NAME `` and
    gdb's pretty ``output`` of the whole object (print_struct() /
    print_union() in crash's symbols.c; NAME as typed, a typedef's name
    too).  Raises drgn.FaultError."""
    return f"{keyword} {name} " + crash_value_text(obj, 0, radix)


def crash_member_line(obj: drgn.Object, path: str, radix: int | None = None) -> str:
    """crash's line of member ``path`` (``pid``, ``se.vruntime``,
    ``tasks``) of the structure ``obj``: ``  path = value,`` with the value
    as :func:`crash_value_text` gives it, and no comma after the structure's
    last member (gdb prints none there).  Raises LookupError for a member
    the structure does not have (and for a path through a pointer, which a
    member path does not follow), drgn.FaultError when it cannot be read."""
    try:
        sub = obj.subobject_(path)
    except TypeError as e:  # "mm.mmap_base": mm is a pointer
        raise LookupError(f"{e}: a member path does not follow pointers") from None
    depth, members = _anonymous_depth(obj.type_, re.split(r"[.\[]", path, maxsplit=1)[0])
    value = crash_value_text(sub, 1 + depth, radix)
    comma = "" if members and path == members[-1] else ","
    return f"{'  ' * (1 + depth)}{path} = {value}{comma}"


class CrashDeref(NamedTuple):
    """One pointer member as ``struct -p`` dereferences it
    (:func:`crash_dereference`): ``lines`` are crash's text, the rest the
    ``--json`` row's data."""

    member: str
    #: the member's C type (``struct inode *``, a typedef's name)
    type: str
    #: the pointer's value
    pointer: int
    #: the symbol at exactly that address, as crash names it, or None
    symbol: str | None
    #: the target: a drgn object, a ``char *``'s string, a ``T **``'s
    #: pointer, or None (NULL, not readable, a function, a ``void *``)
    target: drgn.Object | str | int | None
    lines: list[str]


def _gdb_typecode(prog: drgn.Program, name: str) -> drgn.TypeKind | None:
    """The kind of the type named ``name`` with its typedefs stripped, as
    crash's datatype_exists() asks gdb (gdb_get_datatype() in crash's gdb
    patch: check_typedef()), None when there is no such type."""
    try:
        return _strip_typedefs(prog.type(name)).kind
    except (LookupError, SyntaxError, ValueError):
        return None


def _exact_symbol(prog: drgn.Program, value: int) -> str | None:
    """crash's value_symbol(): the name of the symbol at exactly ``value``
    (crash's choice among aliases, :func:`_symbol_at`), else None."""
    if not value:
        return None
    try:
        sym = _symbol_at(prog, value)
    except (LookupError, ValueError, OverflowError):
        return None
    return sym.name if sym.address == value else None


#: the type codes of a symbol whose target ``struct -p`` prints with ``p
#: SYMBOL`` (crash's dereference_pointer(): the symbol's own type, not
#: stripped of typedefs, as gdb_get_symbol_type() gives it)
_USE_SYMBOL_KINDS = frozenset({drgn.TypeKind.ARRAY, drgn.TypeKind.UNION, drgn.TypeKind.STRUCT,
                               drgn.TypeKind.INT, drgn.TypeKind.POINTER})


def crash_dereference(obj: drgn.Object, name: str,
                      radix: int | None = None) -> CrashDeref | None:
    """crash's ``struct -p`` of member ``name`` of the structure ``obj``
    (``struct T *``): the member's type and value on one line, ``  -> `` and
    its target on the next (crash 8.0.6 symbols.c dereference_pointer()), or
    None where crash prints the member's usual line.

    Only a member named directly in ``obj``'s type counts (crash looks for
    its declaration at the top level of gdb's ptype: not one inside an
    anonymous struct or union, not a member path), declared as ``T *name``,
    ``T **name``, ``R (*name)(...)`` or ``TYPEDEF name`` of a pointer
    typedef.  By crash's order: a function pointer's target is ``<symbol>``,
    ``(unknown)`` or ``NULL``; a ``char *``'s the string as read (crash's
    read_string(): raw, up to 1,499 bytes; an empty one ``(not
    accessible)``); a ``void *``'s ``<symbol>`` or ``(unknown target
    type)``; NULL or an unreadable target ``NULL`` / ``(not accessible)``;
    a ``T **``'s the pointer it points at; anything else gdb's ``p
    *((T *)(ADDR))`` (``p SYMBOL`` when a data symbol of a struct, union,
    array, integer or pointer type starts there), its first line after
    ``<symbol> ``, the rest indented five columns, and cut after that
    prefix when a typedef'd pointer's or a symbol's value prints with
    parentheses on its first line.  ``radix``: 16 for -x.

    Returns None also when the pointer or its target cannot be read (crash
    prints the member's usual line then)."""
    prog = obj.prog_
    t = _strip_typedefs(obj.type_)
    member = next((m for m in t.members or () if m.name == name), None)
    if member is None or obj.address_ is None:
        return None
    decl = member.type.variable_declaration(name)
    line = decl + ";"
    funcptr = ptrptr = typedef_is_ptr = False
    if f" *{name};" in line:
        typeptr = decl[:decl.index("*") + 1]
    elif f"**{name};" in line:
        typeptr, ptrptr = decl[:decl.index("**") + 2], True
    elif f"(*{name})(" in line:
        typeptr, funcptr = decl, True
    elif f" {name};" in line and _gdb_typecode(prog, decl.split(" ", 1)[0]) == \
            drgn.TypeKind.POINTER:
        typeptr, typedef_is_ptr = decl.split(" ", 1)[0], True
    else:
        return None
    charptr = not (funcptr or ptrptr or typedef_is_ptr) and "char *" in typeptr
    voidptr = not (funcptr or ptrptr or typedef_is_ptr) and "void *" in typeptr
    try:
        target = prog.read_word(obj.address_ + member.bit_offset // 8)
    except drgn.FaultError:
        return None
    sym = _exact_symbol(prog, target)
    symbol_obj = None
    if sym is not None:
        try:
            symbol_obj = prog.object(sym)
        except (LookupError, ValueError):
            pass
        if symbol_obj is not None and symbol_obj.type_.kind not in _USE_SYMBOL_KINDS:
            symbol_obj = None

    def readable(a: int) -> bool:  # crash's accessible(): a kernel address that reads
        if a < KERNEL_HALF:
            return False
        try:
            prog.read(a, 1)
            return True
        except (drgn.FaultError, ValueError, OverflowError):
            return False

    def out(head: str, arrow: str, more: Iterable[str] = (),
            data: drgn.Object | str | int | None = None) -> CrashDeref:
        return CrashDeref(name, member.type.type_name(), target, sym, data,
                          [f"  {head} = {target:#x}", f"  -> {arrow}", *more])

    if funcptr:
        return out(decl, f"<{sym}>" if sym else "(unknown)" if target else "NULL")
    if charptr:
        lead = f"<{sym}> " if sym else ""
        if not target:
            return out(typeptr + name, lead + "NULL")
        text = b""
        if readable(target):
            text = _read_c_string(prog, target, 1499)
        if not text:
            return out(typeptr + name, lead + "(not accessible)")
        s = kernel_str(text)
        return out(typeptr + name, f'{lead}"{s}"', data=s)
    if voidptr and symbol_obj is None:
        return out(typeptr + name, f"<{sym}>" if sym else "NULL" if not target
                   else "(unknown target type)")
    if not target or not readable(target):
        return out(f"{typeptr}{' ' if typedef_is_ptr else ''}{name}",
                   "NULL" if not target else "(not accessible)")
    if ptrptr:
        lead = f"<{sym}> " if sym else ""
        try:
            word = prog.read_word(target)
            return out(typeptr + name, f"{lead}{word:x}", data=word)
        except drgn.FaultError:
            return out(typeptr + name, lead)
    base = typeptr if typedef_is_ptr else typeptr[:typeptr.index("*") - 1]
    head = f"{base} {'' if typedef_is_ptr else '*'}{name}"
    if _gdb_typecode(prog, base) is None:
        return out(head, f"({base}: no debuginfo data)")
    try:
        value = (symbol_obj if symbol_obj is not None
                 else drgn.Object(prog, _strip_typedefs(member.type).type, address=target))
        text_lines = crash_print_text(value, radix).split("\n")
    except (drgn.FaultError, TypeError, ValueError):
        return None  # gdb's print failed: crash prints the member's line
    lead = f"<{sym}> " if sym else ""
    if (typedef_is_ptr or symbol_obj is not None) and "(" in text_lines[0] \
            and ")" in text_lines[0]:
        return out(head, lead, data=value)
    more = ["".join("     " + c for c in _fgets_chunks(ln)) for ln in text_lines[1:]]
    return out(head, lead + text_lines[0], more, value)


def _fgets_chunks(line: str) -> list[str]:
    """``line`` as crash's fgets() into a BUFSIZE (1,500-byte) buffer reads
    it back from gdb's output: pieces of 1,499 characters, the newline
    counted (dereference_pointer() indents each piece, so a line longer than
    that has its five columns again after every 1,499 characters)."""
    text = line + "\n"
    return [text[i:i + 1499].rstrip("\n") for i in range(0, len(text), 1499)]


def _read_c_string(prog: drgn.Program, addr: int, limit: int) -> bytes:
    """The bytes at ``addr`` up to a NUL, at most ``limit`` of them, as far
    as they can be read (crash's read_string())."""
    out = bytearray()
    try:
        while len(out) < limit:
            chunk = prog.read(addr + len(out), min(limit - len(out),
                                                   4096 - (addr + len(out)) % 4096))
            nul = chunk.find(0)
            if nul >= 0:
                return bytes(out + chunk[:nul])
            out += chunk
    except drgn.FaultError:
        pass
    return bytes(out)


def crash_dereference_text(text: str, obj: drgn.Object,
                           radix: int | None = None) -> tuple[str, list[CrashDeref]]:
    """``struct -p``'s text of a whole structure from its ``struct`` text
    (:func:`crash_struct_text`), as crash's print_struct_with_dereference()
    rewrites it: each line indented exactly two columns with no brace, a
    member of ``obj``'s own, becomes :func:`crash_dereference`'s lines when
    it is a pointer crash follows; the dereferenced members too."""
    out: list[str] = []
    derefs: list[CrashDeref] = []
    for line in text.split("\n"):
        if (len(line) - len(line.lstrip(" ")) != 2 or "{" in line or "}" in line
                or " =" not in line):
            out.append(line)
            continue
        d = crash_dereference(obj, line[2:line.index(" =")], radix)
        if d is None:
            out.append(line)
        else:
            out.extend(d.lines)
            derefs.append(d)
    return "\n".join(out), derefs


def _anonymous_depth(t: drgn.Type, name: str) -> tuple[int, list[str | None]]:
    """How many anonymous structures and unions of ``t`` hold member
    ``name``, and the member names of the innermost one (``t``'s own when
    none): crash prints such a member's line as it stands in the whole
    structure's text, indented two more columns for each (``    vm =
    0x...`` in ``struct vmap_area``'s anonymous union), with no comma after
    the last member of that union."""
    t = _strip_typedefs(t)
    names = [m.name for m in t.members or ()]
    if name not in names:
        for m in t.members or ():
            if m.name is None and _strip_typedefs(m.type).kind in (
                    drgn.TypeKind.STRUCT, drgn.TypeKind.UNION):
                depth, inner = _anonymous_depth(m.type, name)
                if name in inner or depth:
                    return depth + 1, inner
    return 0, names


#: :func:`crash_value_text`, :func:`crash_member_line`, :func:`crash_print_text`
#: and :func:`crash_struct_text` as drgn code, for the ``--drgn`` scripts of the
#: commands that print crash's text (``value_text(obj, recurse, radix)``,
#: ``member_line(obj, path, radix)``, ``print_text(obj, radix)``,
#: ``struct_text(obj, keyword, name, radix)``; needs ``from drgn import
#: FaultError, Object, SymbolKind, TypeKind, sizeof``)
CRASH_MEMBER_CODE = """\
PRINT_MAX = 256  # crash's gdb: print_max 256, no repeat threshold
ESCAPES = {7: "\\\\a", 8: "\\\\b", 9: "\\\\t", 10: "\\\\n", 11: "\\\\v", 12: "\\\\f", 13: "\\\\r", 27: "\\\\033"}
try:  # the kernel image, whose pointers gdb names: crash's in_ksymbol_range(), from
    # _text to the last symbol's address (not _end: arm64's _end is absolute, so drgn
    # leaves it unrelocated below a KASLR image); arm64's mapping symbols $x/$d left out
    TEXT = (prog.symbol("_text").address,
            max(s.address for s in prog.symbols()
                if not (s.name[:2] in ("$x", "$d") and s.name[2:3] in ("", "."))))
except LookupError:
    TEXT = (0, 0)


def strip(t):
    while t.kind == TypeKind.TYPEDEF:
        t = t.type
    return t


def char_like(t):  # gdb prints one-byte integers (char, u8) as characters
    t = strip(t)
    return t.kind == TypeKind.INT and t.size == 1


def gdb_char(b, quote):  # bytes 0x80-0xff as octal escapes, as gdb under LC_ALL=C
    if b == ord(quote) or b == 0x5C:
        return "\\\\" + chr(b)
    if 0x20 <= b < 0x7F:
        return chr(b)
    return ESCAPES.get(b, f"\\\\{b:03o}")


def gdb_chars(data, quote):  # after an octal escape a digit is escaped too, as gdb
    out, escaped = [], False
    for b in data:
        if escaped and 0x30 <= b <= 0x39:
            out.append(f"\\\\{b:03o}")
            continue
        c = gdb_char(b, quote)
        out.append(c)
        escaped = len(c) == 4 and c[0] == "\\\\" and c[1:].isdigit()
    return "".join(out)


def gdb_string(data):  # the last NUL dropped; runs of a character taken whole up to PRINT_MAX
    if data and data[-1] == 0:
        data = data[:-1]
    n = 0
    while n < len(data) and n < PRINT_MAX:
        b = data[n]
        while n < len(data) and data[n] == b:
            n += 1
    text = '"' + gdb_chars(data[:n], '"') + '"'
    return text + "..." if n < len(data) else text


def symbol_suffix(value):  # gdb's <symbol+offset> for the kernel image
    if not TEXT[0] <= value < TEXT[1]:
        return ""
    try:
        sym = prog.symbol(value)
    except LookupError:
        return ""
    if not sym.size and sym.kind != SymbolKind.FUNC:  # gdb drops sized-0 data symbols
        return ""
    name, base = sym.name, sym.address
    if sym.kind == SymbolKind.FUNC:  # code: gdb names the DWARF function (an alias's target)
        try:
            name = prog.source_location(value)[-1].name() or name
        except (LookupError, ValueError):
            pass
        else:  # gdb's offset is from the function's DWARF entry (arm64: past the ftrace NOPs)
            try:
                entry = prog.function(name).address_
            except (LookupError, ValueError):
                entry = None
            if entry is not None and sym.address <= entry <= value < sym.address + max(sym.size, 1):
                base = entry
    off = value - base
    return f" <{name}+{off}>" if off else f" <{name}>"


def sizeof_or_zero(t):
    try:
        return sizeof(t)
    except TypeError:
        return 0


def c_string(value):
    out = bytearray()
    try:
        while len(out) < PRINT_MAX:
            chunk = prog.read(value + len(out), 16 - (value + len(out)) % 16)
            nul = chunk.find(0)
            if nul >= 0:
                return gdb_string(bytes(out + chunk[:nul]) + b"\\0")
            out += chunk
    except FaultError:
        if not out:
            return f"<error: Cannot access memory at address {value:#x}>"
        return gdb_string(bytes(out) + b"\\0")
    return '"' + gdb_chars(bytes(out[:PRINT_MAX]), '"') + '"...'


def enum_text(t, value):  # gdb 10: the name; a "flag enum"'s bits (A | B); else the number
    for e in t.enumerators or ():
        if e.value == value:
            return e.name
    if not all(e.value >= 0 and bin(e.value).count("1") < 2 for e in t.enumerators or ()):
        return str(value)
    names = []
    for e in t.enumerators or ():
        if value & e.value:
            value &= ~e.value
            names.append(e.name)
    if value:
        names.append(f"unknown: {value & ((1 << 64) - 1):#x}")
    return "(" + " | ".join(names) + ")" if names else "0"


def value_text(obj, recurse, radix):  # gdb's print, pretty, as crash sets it up
    address = obj.address_ if obj.bit_field_size_ is None else None
    t = strip(obj.type_)
    if t.kind == TypeKind.FUNCTION or (t.kind == TypeKind.ARRAY and not t.length):
        return gdb_value(obj, address, recurse, radix)  # nothing to read: an address
    return gdb_value(obj.read_(), address, recurse, radix)


def gdb_value(obj, address, recurse, radix):  # a value object read at address
    t = strip(obj.type_)
    if t.kind in (TypeKind.STRUCT, TypeKind.UNION, TypeKind.CLASS):
        pad = " " * (2 + 2 * recurse)
        raw = obj.to_bytes_()
        lines = []
        for m in t.members or ():
            off = m.bit_offset // 8
            at = None if address is None else address + off
            if m.name is None:  # an anonymous member: no name
                sub = Object.from_bytes_(prog, m.type, raw[off:off + sizeof(m.type)])
                lines.append(pad + gdb_value(sub, at, recurse + 1, radix))
            else:
                sub = obj.member_(m.name)
                at = None if sub.bit_field_size_ is not None else at
                lines.append(pad + f"{m.name} = " + gdb_value(sub, at, recurse + 1, radix))
        if not lines:
            return "{<No data fields>}"
        return "{\\n" + ",\\n".join(lines) + "\\n" + " " * (2 * recurse) + "}"
    if t.kind == TypeKind.ARRAY:
        n = t.length or 0
        if not n or not sizeof_or_zero(t.type):  # a flexible array, or of empty structs: where it starts
            where = address or 0
            text = f"{where:#x}" + symbol_suffix(where)
            return text + " " + c_string(where) if char_like(t.type) else text
        if char_like(t.type):
            return gdb_string(obj.to_bytes_())
        size = sizeof(t.type)
        items = [gdb_value(obj[i], None if address is None else address + i * size, recurse + 1,
                           radix) for i in range(min(n, PRINT_MAX))]
        return "{" + ", ".join(items) + ("...}" if n > PRINT_MAX else "}")
    if t.kind == TypeKind.POINTER:
        value = obj.value_()
        if not value:
            return "0x0"
        text = f"{value:#x}" + symbol_suffix(value)
        return text + " " + c_string(value) if char_like(t.type) else text
    if t.kind == TypeKind.FUNCTION:
        where = address or 0
        return f"{{{obj.type_.type_name()}}} {where:#x}" + symbol_suffix(where)
    if t.kind == TypeKind.BOOL:
        if radix == 16:
            return f"{int(obj.value_()):#x}"
        return "true" if obj.value_() else "false"
    if t.kind == TypeKind.ENUM:
        return enum_text(t, obj.value_())
    if t.kind == TypeKind.INT:
        value = obj.value_()
        if radix == 16:
            bits = obj.bit_field_size_ or 8 * (t.size or 8)
            return f"{value & ((1 << bits) - 1):#x}"
        if t.size == 1:
            return f"{value} '{gdb_char(value & 0xFF, chr(39))}'"
        return str(value)
    if t.kind == TypeKind.FLOAT:
        return repr(float(obj.value_()))
    return str(obj.value_())


def print_text(obj, radix=10):  # gdb's print of a whole value: a pointer's type in front
    text = value_text(obj, 0, radix)
    t = obj.type_
    if strip(t).kind == TypeKind.POINTER and not (
            t.kind == TypeKind.POINTER and t.type.kind in (TypeKind.INT, TypeKind.TYPEDEF)
            and t.type.name in ("char", "wchar_t", "char16_t", "char32_t")):
        return f"({t.type_name()}) {text}"
    return text


def struct_text(obj, keyword, name, radix=10):  # crash's 'struct NAME {' ... '}'
    return f"{keyword} {name} " + value_text(obj, 0, radix)


def anonymous_depth(t, name):  # the anonymous structs/unions holding member name, the innermost's names
    t = strip(t)
    names = [m.name for m in t.members or ()]
    if name not in names:
        for m in t.members or ():
            if m.name is None and strip(m.type).kind in (TypeKind.STRUCT, TypeKind.UNION):
                depth, inner = anonymous_depth(m.type, name)
                if name in inner or depth:
                    return depth + 1, inner
    return 0, names


def member_line(obj, path, radix=10):  # crash's '  path = value,' (no comma after the last member)
    depth, names = anonymous_depth(obj.type_, path.replace("[", ".").split(".")[0])
    value = value_text(obj.subobject_(path), 1 + depth, radix)
    return "  " * (1 + depth) + f"{path} = {value}" + ("" if names and path == names[-1] else ",")
"""


#: :func:`crash_dereference` and :func:`crash_dereference_text` as drgn code
#: for ``struct -p --drgn`` (``deref_lines(obj, name, radix)``,
#: ``deref_text(text, obj, radix)``; needs :data:`CRASH_MEMBER_CODE`)
CRASH_DEREF_CODE = """\


def exact_symbol(value):  # crash's value_symbol(): a symbol at exactly value (the first by name)
    if not value:
        return None
    try:
        names = sorted(s.name for s in prog.symbols(value) if s.address == value)
    except (LookupError, ValueError, OverflowError):
        return None
    return names[0] if names else None


def readable(a):  # crash's accessible(): a kernel address that reads
    if a < 1 << 63:
        return False
    try:
        prog.read(a, 1)
        return True
    except (FaultError, ValueError, OverflowError):
        return False


def typecode(name):  # crash's datatype_exists(): the kind with typedefs stripped
    try:
        return strip(prog.type(name)).kind
    except (LookupError, SyntaxError, ValueError):
        return None


def c_bytes(a, limit=1499):  # crash's read_string()
    out = bytearray()
    try:
        while len(out) < limit:
            chunk = prog.read(a + len(out), min(limit - len(out), 4096 - (a + len(out)) % 4096))
            if 0 in chunk:
                return bytes(out + chunk[:chunk.index(0)])
            out += chunk
    except FaultError:
        pass
    return bytes(out)


def deref_lines(obj, name, radix=10):  # crash's struct -p of one member, or None
    m = next((m for m in strip(obj.type_).members or () if m.name == name), None)
    if m is None:
        return None
    decl = m.type.variable_declaration(name)
    line, funcptr, ptrptr, typedef_ptr = decl + ";", False, False, False
    if f" *{name};" in line:
        typeptr = decl[:decl.index("*") + 1]
    elif f"**{name};" in line:
        typeptr, ptrptr = decl[:decl.index("**") + 2], True
    elif f"(*{name})(" in line:
        typeptr, funcptr = decl, True
    elif f" {name};" in line and typecode(decl.split(" ", 1)[0]) == TypeKind.POINTER:
        typeptr, typedef_ptr = decl.split(" ", 1)[0], True
    else:
        return None
    plain = not (funcptr or ptrptr or typedef_ptr)
    try:
        target = prog.read_word(obj.address_ + m.bit_offset // 8)
    except FaultError:
        return None
    sym = exact_symbol(target)
    symobj = None
    if sym is not None:
        try:
            symobj = prog.object(sym)
        except (LookupError, ValueError):
            pass
        if symobj is not None and symobj.type_.kind not in (
                TypeKind.ARRAY, TypeKind.UNION, TypeKind.STRUCT, TypeKind.INT, TypeKind.POINTER):
            symobj = None
    lead = f"<{sym}> " if sym else ""

    def out(head, arrow, more=()):
        return [f"  {head} = {target:#x}", f"  -> {arrow}", *more]

    if funcptr:
        return out(decl, f"<{sym}>" if sym else "(unknown)" if target else "NULL")
    if plain and "char *" in typeptr:
        if not target:
            return out(typeptr + name, lead + "NULL")
        text = c_bytes(target) if readable(target) else b""
        if not text:
            return out(typeptr + name, lead + "(not accessible)")
        return out(typeptr + name, lead + '"' + text.decode("utf-8", "surrogateescape") + '"')
    if plain and "void *" in typeptr and symobj is None:
        return out(typeptr + name, f"<{sym}>" if sym else "NULL" if not target
                   else "(unknown target type)")
    if not target or not readable(target):
        return out(typeptr + (" " if typedef_ptr else "") + name,
                   "NULL" if not target else "(not accessible)")
    if ptrptr:
        try:
            return out(typeptr + name, f"{lead}{prog.read_word(target):x}")
        except FaultError:
            return out(typeptr + name, lead)
    base = typeptr if typedef_ptr else typeptr[:typeptr.index("*") - 1]
    head = f"{base} {'' if typedef_ptr else '*'}{name}"
    if typecode(base) is None:
        return out(head, f"({base}: no debuginfo data)")
    try:
        t = m.type
        while t.kind == TypeKind.TYPEDEF:
            t = t.type
        value = symobj if symobj is not None else Object(prog, t.type, address=target)
        lines = print_text(value, radix).split("\\n")
    except (FaultError, TypeError, ValueError):
        return None
    if (typedef_ptr or symobj is not None) and "(" in lines[0] and ")" in lines[0]:
        return out(head, lead)
    more = []
    for ln in lines[1:]:  # crash reads gdb's lines back in 1,499-character pieces
        ln += "\\n"
        more.append("".join("     " + ln[i:i + 1499].rstrip("\\n") for i in range(0, len(ln), 1499)))
    return out(head, lead + lines[0], more)


def deref_text(text, obj, radix=10):  # crash's print_struct_with_dereference()
    out = []
    for line in text.split("\\n"):
        if len(line) - len(line.lstrip(" ")) != 2 or "{" in line or "}" in line or " =" not in line:
            out.append(line)
            continue
        lines = deref_lines(obj, line[2:line.index(" =")], radix)
        out.extend([line] if lines is None else lines)
    return "\\n".join(out)
"""


def _member_lines(ctx: Context, obj: drgn.Object, members: list[str],
                  radix: int | None, command: str = "struct",
                  deref: bool = False) -> Iterator[Any]:
    """``struct T.m1,m2 ADDR``'s text: :func:`crash_member_line` of each
    member (``deref``, -p: :func:`crash_dereference`'s lines of a pointer
    member it follows)."""
    name = obj.type_.type_name()
    for m in members:
        try:
            d = crash_dereference(obj, m, radix) if deref else None
            if d is not None:
                yield from (TextLine(ln) for ln in d.lines)
                continue
            yield TextLine(crash_member_line(obj, m, radix))
        except LookupError:
            raise CommandError(f"{command}: invalid data structure reference: "
                               f"{name.split(' ', 1)[-1]}.{m}") from None
        except drgn.FaultError as e:
            raise CommandError(f"{command}: {name} at {obj.address_ or 0:#x}: cannot read "
                               f"{e.address:#x}") from None


def _deref_rows(ctx: Context, t: drgn.Type, targets: list[tuple[int | None, int]],
                members: list[str], radix: int | None) -> Iterator[Row]:
    """``struct -p --json``: a row for each pointer member -p follows (all
    the structure's members, or ``members``), in the structure's order:
    the structure's ADDRESS, the MEMBER, its TYPE, the POINTER, the SYMBOL
    at it and the TARGET's value (:func:`kmemx.commands.values.object_json`
    of a structure, a string, or null; the row's object is the target)."""
    from kmemx.commands.values import object_json

    names = members or [m.name for m in _strip_typedefs(t).members or () if m.name]
    per_cpu = any(cpu is not None for cpu, _ in targets)
    for cpu, a in targets:
        obj = drgn.Object(ctx.prog, t, address=a)
        for m in names:
            d = crash_dereference(obj, m, radix)
            if d is None:
                continue
            value: Any = d.target
            if isinstance(d.target, drgn.Object):
                try:
                    value = object_json(d.target)
                except drgn.FaultError:
                    value = None
            cols: tuple[str, ...] = ("ADDRESS", "MEMBER", "TYPE", "POINTER", "SYMBOL", "TARGET")
            cells: tuple[Any, ...] = (Address(a), d.member, d.type, Address(d.pointer),
                                      d.symbol, value)
            if per_cpu:
                cols, cells = ("CPUSPEC", *cols), (cpu, *cells)
            yield Row(cols, cells, d.target if isinstance(d.target, drgn.Object) else None)


def _member_declarations(ctx: Context, t: drgn.Type, spec: str, members: list[str],
                         radix: int | None) -> Iterator[Any]:
    """crash's ``struct T.member`` without an address: the member's
    declaration and its byte offset in ``t`` (``struct task_struct *``-style
    C type), in a ``struct T { ... }`` block, the offset right-aligned to the
    width of the structure's size, in hex with -x (crash's
    dump_struct_member() with STRUCT_VERBOSE).  Beyond crash 8.0.6, which
    refuses both, several members and member paths (``se.vruntime``: the
    offset from the start of ``t``) are shown.  CommandError ``invalid data
    structure reference`` for a member ``t`` does not have, as crash."""
    tag = "union" if t.kind == drgn.TypeKind.UNION else "struct"
    lines: list[tuple[int, str]] = []
    for path in members:
        try:
            obj = drgn.Object(ctx.prog, t, address=0).subobject_(path)
        except (LookupError, ValueError, SyntaxError, TypeError):
            raise CommandError(f"{tag}: invalid data structure reference: "
                               f"{spec.strip()}") from None
        leaf = path.rsplit(".", 1)[-1]
        decl = (f"{obj.type_.type_name()} {leaf}" if "[" in leaf
                else obj.type_.variable_declaration(leaf))
        if obj.bit_field_size_ is not None:
            decl += f" : {obj.bit_field_size_}"
        lines.append((int(obj.address_ or 0), decl))
    size = t.size or 0
    fmt = (lambda n: f"{n:#x}") if radix == 16 else str
    width = len(fmt(size)) + 2
    if ctx.as_json:
        for offset, decl in lines:
            yield Row(("OFFSET", "DECLARATION"), (offset, decl))
        return
    yield TextLine(f"{t.type_name()} {{")
    for offset, decl in lines:
        yield TextLine(f"  {'[' + fmt(offset) + ']':>{width}} {decl};")
    yield TextLine("}")


#: crash's text of a structure or union type (``whatis TYPE``, ``struct TYPE``,
#: ``-o``): drgn's definition with gdb's ptype indentation (4 spaces a level;
#: the same lines as crash's on the test bed's structures), then ``SIZE: N``;
#: with offsets each member line as crash's show_member_offset() (symbols.c)
#: writes it.  One copy: kmemx runs this code, and --drgn prints it.
CRASH_PTYPE_CODE = """\
def ptype_lines(t, offsets=False, radix=10):  # crash's whatis/struct TYPE [-o]
    if t.kind == TypeKind.ENUM:  # crash: no SIZE line
        return [f"{t.type_name()} {{", *(f"  {e.name} = {e.value}" for e in t.enumerators),
                "};"]
    name = t.name if t.kind == TypeKind.TYPEDEF else None
    bare = t
    while bare.kind == TypeKind.TYPEDEF:  # gdb's ptype resolves the whole chain
        bare = bare.type
    nbytes = (bare.size if bare.kind in (TypeKind.STRUCT, TypeKind.UNION) else
              sizeof(bare) if bare.kind not in (TypeKind.FUNCTION, TypeKind.VOID) else 1)
    size = f"{nbytes or 0:#x}" if radix == 16 else str(nbytes or 0)
    if name and bare.kind == TypeKind.ENUM:  # gdb: the enum's definition, no name, no SIZE
        first, *rest = ptype_lines(bare)
        return ["typedef " + first, *rest]
    if name and bare.kind == TypeKind.POINTER and strip(bare.type).kind in (
            TypeKind.STRUCT, TypeKind.UNION):  # typedef struct cpumask {...} * name;
        body = ptype_lines(strip(bare.type), offsets, radix)[:-1]
        return ["typedef " + body[0], *body[1:-1], f"{body[-1]} * {name};", f"SIZE: {size}"]
    if bare.kind not in (TypeKind.STRUCT, TypeKind.UNION):
        # gdb's one-line type, typedefs of array elements resolved: crash's
        # "typedef void (*)(struct work_struct *) work_func_t;"
        body = [f"typedef {gdb_type_name(bare)} {name};"] if name else [str(t)]
        return body + [f"SIZE: {size}"]
    text = re.sub(r"(?m)^\\t+", lambda m: "    " * len(m.group()), str(bare))
    # an anonymous enum on one line, as gdb prints it: {A, B = 5, C}, a value
    # only where it is not the one before it plus one
    text = re.sub(r"(?m)enum \\{\\n((?:\\s+\\w+ = -?\\d+,\\n)*)\\s*\\}", enum_line, text)
    # an empty structure: gdb's "<no data fields>", one level in
    text = re.sub(r"(?m)^( *)(.*\\{)\\n( *)\\}", lambda m: f"{m.group(1)}{m.group(2)}\\n"
                  f"{m.group(1)}    <no data fields>\\n{m.group(3)}}}", text)
    lines = collapse_named(text.splitlines())
    out = lines[:1]
    for line in lines[1:]:
        out.append(member_offset_line(bare, line, size, radix)
                   if offsets and line[:1].isspace() else line)
    if name:  # crash: "typedef struct ... {" ... "} name;"
        out[0], out[-1] = "typedef " + out[0], out[-1] + f" {name};"
    return out + [f"SIZE: {size}"]


def strip(t):
    while t.kind == TypeKind.TYPEDEF:
        t = t.type
    return t


def gdb_type_name(t):  # typedefs of array elements and pointer targets resolved, as gdb's ptype
    if t.kind == TypeKind.POINTER and t.type.kind == TypeKind.TYPEDEF:
        return gdb_type_name(t.prog.pointer_type(strip(t.type), qualifiers=t.qualifiers))
    if t.kind == TypeKind.ARRAY:
        inner = gdb_type_name(strip(t.type))
        return f"{inner} [{t.length if t.length is not None else ''}]".replace("] [", "][")
    return t.type_name()


def collapse_named(lines):  # gdb: a named member's anonymous struct two named levels in is {...}
    close, stack = {}, []
    for i, line in enumerate(lines):
        text = line.strip()
        if text.startswith("}") and stack:
            close[stack.pop()] = i
        if text.endswith("{") and line[:1].isspace():
            stack.append(i)
    out = lines[:1]

    def emit(first, end, depth):
        i = first
        while i < end:
            line = lines[i]
            if i not in close:
                out.append(line)
                i += 1
                continue
            j = close[i]
            rest = lines[j].strip()[1:]  # after the "}": " name;" or ";"
            named = rest.strip() not in ("", ";")
            inner = depth + 1 if named else depth
            if named and inner >= 2:
                indent = line[:len(line) - len(line.lstrip())]
                out.append(f"{indent}{line.strip()[:-1].rstrip()} {{...}}{rest}")
            else:
                out.append(line)
                emit(i + 1, j, inner)
                out.append(lines[j])
            i = j + 1

    emit(1, len(lines) - 1, 0)
    return out + lines[-1:] if len(lines) > 1 else out


def enum_line(m):
    names, last = [], 0
    for name, value in re.findall(r"(\\w+) = (-?\\d+)", m.group(1)):
        names.append(name if int(value) == last else f"{name} = {value}")
        last = int(value) + 1
    return "enum {" + ", ".join(names) + "}"


def member_offset_line(t, line, size, radix):  # crash's show_member_offset()
    words = line.split()
    target = None
    if ":" in line:  # a bit field: the word before the colon
        target = next((words[i - 1] for i in range(1, len(words)) if words[i] == ":"), None)
    else:
        for w in words:  # a function pointer: (*name), *(*name), **(*name)
            if "(*" not in line:
                break
            prefix = next((p for p in ("(*", "*(*", "**(*") if w.startswith(p)), None)
            if prefix and ")" in w[len(prefix):]:
                target = w[len(prefix):].split(")")[0]
                break
        else:
            target = None
        if target is None and words and ";" in words[-1]:
            target = words[-1]
    if target:
        target = re.sub(r"[*\\[\\];()]", " ", target).strip().split(" ")[0]
    try:  # a bit field's: the byte its first bit is in
        offset = t.member(target).bit_offset // 8 if target else None
    except LookupError:
        offset = None
    if offset is None:
        return " " * (len(size) + 1) + line
    mark = f"  [{offset:#x}]" if radix == 16 else f"  [{offset}]"
    return f"{mark:>{len(size) + 4}}" + line[3:]
"""
_ptype_code: dict[str, Any] = {"re": re, "TypeKind": drgn.TypeKind, "sizeof": drgn.sizeof}
exec(CRASH_PTYPE_CODE, _ptype_code)


def crash_ptype_lines(t: drgn.Type, offsets: bool = False, radix: int | None = None
                      ) -> list[str]:
    """crash's lines for a type (``whatis TYPE``, ``struct TYPE``): a
    structure's or union's definition and ``SIZE: N`` (``offsets``: ``-o``'s
    ``  [OFFSET] member;`` lines; radix 16: hex); a typedef as ``typedef``
    and its whole target (a structure expanded, ``} name;``); an enum's
    ``  NAME = VALUE`` lines.  :data:`CRASH_PTYPE_CODE`'s ptype_lines()."""
    lines: list[str] = _ptype_code["ptype_lines"](t, offsets, radix or 10)
    return lines


def _ptype_lines(ctx: Context, t: drgn.Type, offsets: bool,
                 radix: int | None = None) -> Iterator[Any]:
    """``struct TYPE`` without an address: crash's text of the type
    (:func:`crash_ptype_lines`); ``--json`` the type's :func:`whatis_type_data`."""
    yield TextRecord("\n".join(crash_ptype_lines(t, offsets, radix)), whatis_type_data(t))


def _whatis_names(words: list[str]) -> list[str]:
    """The names in ``whatis`` words: a tag (``struct``, ``union``, ``enum``)
    goes with the word after it."""
    names: list[str] = []
    tag = ""
    for w in words:
        if w in ("struct", "union", "enum") and not tag:
            tag = w + " "
            continue
        names.append(tag + w)
        tag = ""
    if tag:
        names.append(tag.strip())
    return names


def whatis_type_data(t: drgn.Type) -> dict[str, Any]:
    """``whatis --json`` of a type: its name, kind (drgn's TypeKind, lower
    case), size in bytes (None when it has none), and by kind its members
    (name, byte offset, type, bit offset from the start, bit-field size or
    None; an anonymous member's name None), an enum's enumerators (name,
    value) or a typedef's target type (its name; ``target`` its data too
    when it is a structure, union, enum or typedef)."""
    kind = t.kind.name.lower()
    try:
        size: int | None = drgn.sizeof(t)
    except TypeError:
        size = None
    data: dict[str, Any] = {"name": t.type_name(), "kind": kind, "size": size}
    if t.kind in (drgn.TypeKind.STRUCT, drgn.TypeKind.UNION, drgn.TypeKind.CLASS):
        data["members"] = [{"name": m.name, "offset": m.bit_offset // 8,
                            "type": m.type.type_name(), "bit_offset": m.bit_offset,
                            "bit_size": m.bit_field_size or None}
                           for m in t.members or ()]
    elif t.kind == drgn.TypeKind.ENUM:
        data["enumerators"] = [{"name": e.name, "value": e.value}
                               for e in t.enumerators or ()]
    elif t.kind == drgn.TypeKind.TYPEDEF:
        data["type"] = t.type.type_name()
        if t.type.kind in (drgn.TypeKind.STRUCT, drgn.TypeKind.UNION, drgn.TypeKind.CLASS,
                           drgn.TypeKind.ENUM, drgn.TypeKind.TYPEDEF):
            # the definition the text expands (typedef struct {...} atomic_t;)
            data["target"] = whatis_type_data(t.type)
    return data


def complete_array(prog: drgn.Program, name: str, obj: drgn.Object) -> drgn.Object:
    """The global ``name`` (``obj``, ``prog[name]``) with its array's length
    when its type is an array of unknown length (``extern const char
    linux_banner[];``, the declaration drgn may find): the length its ELF
    symbol's size gives, as crash's gdb shows the definition (``whatis``:
    ``const char linux_banner[190];``, ``p``: a string); ``obj`` otherwise."""
    t = obj.type_
    if t.kind != drgn.TypeKind.ARRAY or t.length or obj.address_ is None:
        return obj
    try:
        size = prog.symbol(name).size
        elem = drgn.sizeof(t.type)
    except (LookupError, ValueError, TypeError):
        return obj
    if not size or not elem or size % elem:
        return obj
    return drgn.Object(prog, prog.array_type(t.type, size // elem, qualifiers=t.qualifiers),
                       address=obj.address_)


def _whatis_one(ctx: Context, name: str) -> TextRecord:
    """``whatis`` of one symbol or type name (crash's text; JSON: a symbol's
    name, type, address and size, or :func:`whatis_type_data`); CommandError
    if it is neither."""
    try:
        obj = complete_array(ctx.prog, name, ctx.prog[name])
        t = obj.type_
        try:
            size: int | None = drgn.sizeof(t)
        except TypeError:
            size = None
        address = obj.address_
        return TextRecord(f"{t.variable_declaration(name)};", {
            "name": name, "kind": "symbol", "type": t.type_name(),
            "address": None if address is None else Address(address), "size": size})
    except KeyError:
        pass
    except LookupError as e:
        raise CommandError(f"whatis: {name}: {e}") from None
    for candidate in (name, f"struct {name}", f"union {name}", f"enum {name}"):
        try:
            found = ctx.prog.type(candidate)
        except LookupError:
            continue
        except SyntaxError:
            break
        return TextRecord("\n".join(crash_ptype_lines(found)), whatis_type_data(found))
    hint = did_you_mean(name, symbol_names(ctx.prog))
    if not hint:
        try:
            _resolve_type(ctx, name if " " in name else f"struct {name}")
        except CommandError as e:  # "unknown type ... (did you mean struct ...?)"
            hint = str(e).partition("'")[2].partition("'")[2]
    raise CommandError(f"whatis: unknown symbol or type {name!r}{hint}")


def _whatis_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``whatis --drgn``: a symbol's declaration by drgn's
    Type.variable_declaration() (an unsized extern array sized by its
    symbol), else the type's definition.  Not ``-r``/``-m``: drgn lists no
    types, and the search reads the kernel's BTF."""
    from kmemx.commands.drgncode import only_options, text_script

    only_options("whatis", args, ("name", "offsets"), "names and -o (drgn lists no types)")

    return text_script(ctx, CRASH_PTYPE_CODE + f"""

for name in {_whatis_names(args.name)!r}:
    try:
        obj = prog[name]
    except KeyError:
        for candidate in (name, f"struct {{name}}", f"union {{name}}", f"enum {{name}}"):
            try:
                t = prog.type(candidate)
            except LookupError:
                continue
            print("\\n".join(ptype_lines(t, {bool(args.offsets)})))
            break
        continue
    t = obj.type_
    if t.kind == TypeKind.ARRAY and t.length is None:  # extern char linux_banner[]
        n = prog.symbol(name).size // sizeof(t.type)
        t = prog.array_type(t.type, n, qualifiers=t.qualifiers)
    print(t.variable_declaration(name) + ";")
""", ["drgn:TypeKind,sizeof", "re"])


@command("whatis", "display the type of a symbol or the definition of a type",
         description="""
         whatis jiffies                 a symbol's type
         whatis task_struct / whatis struct task_struct   a type's definition
         whatis jiffies init_task ...   several; an unknown one is reported, the rest shown
         whatis -r 192 / -r 256-512     the kernel's types of that size (from its BTF: every
                                        typedef, and each definition of a shared name)
         whatis -m mm_struct            structures and unions holding an mm_struct or a
                                        pointer to one (also in embedded structures)
         whatis --json                  a symbol: name, kind "symbol", type, address, size;
                                        a type: name, kind, size, and its members (name,
                                        offset, type, bit_offset, bit_size), enumerators
                                        (name, value) or a typedef's type
         """,
         arguments=[arg("name", nargs="*"),
                    arg("-o", dest="offsets", action="store_true",
                        help="a structure's or union's members with their offsets "
                             "(struct -o's lines; a symbol's declaration as without -o)"),
                    arg("-r", dest="size_range", metavar="SIZE|LOW-HIGH",
                        help="search: the types of this size, or of sizes LOW to HIGH "
                             "bytes (SIZE and TYPE columns, by size then name)"),
                    arg("-m", dest="member", metavar="TYPE",
                        help="search: the structures and unions with a member of a type "
                             "whose name contains TYPE, or a pointer to one, also in "
                             "embedded structures; with -r, of those sizes")],
         aliases=("ptype",), drgn_code=_whatis_drgn)
def _whatis(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    if args.size_range is not None or args.member is not None:
        yield from _whatis_search(ctx, args.size_range, args.member)
        return
    if not args.name:
        raise CommandError("whatis: a symbol or type name, or -r/-m, is required")
    def one(name: str) -> Any:
        if args.offsets:
            t = _whatis_aggregate(ctx, name)
            if t is not None:
                return list(_ptype_lines(ctx, t, True))
        return _whatis_one(ctx, name)

    for out in resolve_each(ctx, _whatis_names(args.name), one):
        if isinstance(out, list):
            yield from out
        else:
            yield out


def _size_range(text: str) -> tuple[int, int]:
    """``whatis -r``'s SIZE or LOW-HIGH as ``(low, high)``, each number read
    by crash's stol() (decimal when all digits, else hex); CommandError if
    not numbers, or LOW above HIGH (crash: ``(none found)``)."""
    low_text, sep, high_text = text.partition("-")
    low = _crash_number(low_text, "whatis -r")
    high = _crash_number(high_text, "whatis -r") if sep else low
    if high < low:
        raise CommandError(f"whatis -r: {text}: LOW is above HIGH")
    return low, high


def _whatis_search(ctx: Context, size_range: str | None, member: str | None) -> Iterator[Any]:
    """``whatis -r``/``-m`` rows: SIZE and TYPE of each type found
    (:func:`kmemx.types.search.types_by_size_and_member`), or crash's
    ``(none found)``."""
    low, high = _size_range(size_range) if size_range is not None else (0, 0)
    try:
        matches = list(types_by_size_and_member(ctx.prog, low, high, member))
    except BtfError as e:
        raise CommandError(f"whatis: cannot list the kernel's types: {e}") from None
    if not matches:
        if not ctx.as_json:  # --json: no rows
            yield TextLine("(none found)")
        return
    for match in matches:
        yield Row(("SIZE", "TYPE"), (match.size, match.name), match)


def _whatis_aggregate(ctx: Context, name: str) -> drgn.Type | None:
    """The structure or union ``name`` names (``task_struct``, ``struct
    task_struct``, a typedef of one) for ``whatis -o``; None for a symbol or
    another type."""
    try:
        ctx.prog[name]
        return None
    except (KeyError, LookupError, SyntaxError):
        pass
    for candidate in (name, f"struct {name}", f"union {name}"):
        try:
            t = _strip_typedefs(ctx.prog.type(candidate))
        except (LookupError, SyntaxError):
            continue
        return ctx.prog.type(candidate) if t.kind in (drgn.TypeKind.STRUCT,
                                                      drgn.TypeKind.UNION) else None
    return None


SYM_COLUMNS = ("ADDRESS", "TYPE", "SYMBOL", "MODULE")
#: ``sym NAME``/``sym ADDR``: with crash's ``file: line`` as two columns
SYM_LINE_COLUMNS = (*SYM_COLUMNS, "FILE", "LINE")


def _sections(prog: drgn.Program) -> list[tuple[int, int, str]]:
    """The kernel image's text ``(start, end, letter)`` ranges by the linker
    script's boundary symbols (cached)."""
    key = "kmemx_plugins.lists.sections"
    cached: list[tuple[int, int, str]] | None = prog.cache.get(key)
    if cached is None:
        cached = []
        for lo, hi, letter in (("_text", "_etext", "t"), ("_sinittext", "_einittext", "t")):
            try:
                cached.append((prog.symbol(lo).address, prog.symbol(hi).address, letter))
            except LookupError:
                continue
        prog.cache[key] = cached
    return cached


def _sym_type(prog: drgn.Program, sym: drgn.Symbol) -> str:
    """The type letter crash shows for a symbol: for one of the vmlinux's,
    nm's from its ELF symbol table (:func:`kmemx.elfsyms.elf_symbol_letter`:
    the section's, ``D`` in Debian's writable ``.rodata``, ``b`` in ``.bss``,
    ``W``/``V`` weak); for a module's, the kernel's or its loaded file's
    (:func:`kmemx.helpers.kallsyms.module_symbol_letter`); else T in the kernel's text (the linker's ``_text`` of
    no type too), else by the symbol's kind (T function, D data); lower case
    for a local symbol; ``?`` when neither tells."""
    from kmemx.elfsyms import elf_symbol_letter
    from kmemx.helpers.kallsyms import module_symbol_letter

    letter = elf_symbol_letter(prog, sym.address, sym.name)
    if letter is None:
        letter = module_symbol_letter(prog, sym.address, sym.name)
    if letter is not None:
        return letter
    c = next((letter for lo, hi, letter in _sections(prog) if lo <= sym.address < hi), None)
    if c is None:
        c = {drgn.SymbolKind.FUNC: "t", drgn.SymbolKind.IFUNC: "i",
             drgn.SymbolKind.OBJECT: "d", drgn.SymbolKind.TLS: "d",
             drgn.SymbolKind.COMMON: "c"}.get(sym.kind, "?")
    if c == "?" and _in_rodata(prog, sym.address):
        c = "r"  # a linker-made symbol of no type in .rodata (__ksymtab_*): crash's r
    return c.upper() if sym.binding != drgn.SymbolBinding.LOCAL else c


def _in_rodata(prog: drgn.Program, addr: int) -> bool:
    try:
        return bool(prog.symbol("__start_rodata").address <= addr
                    < prog.symbol("__end_rodata").address)
    except LookupError:
        return False


def ksymbol_at(prog: drgn.Program, addr: int) -> tuple[drgn.Symbol, str | None] | None:
    """The symbol crash names ``addr`` by where it names one at all: in the
    kernel image (in_ksymbol_range()) or a module (memory.c kmem_search()'s
    test, display_memory()'s for ``rd -s``), :func:`_symbol_at`'s symbol
    with the module's name; None for any other address or no symbol."""
    image = in_kernel_image(prog, addr)
    module = None if image or addr < 1 << 63 else module_of_address(prog, addr)
    if not (image or module):
        return None
    try:
        return _symbol_at(prog, addr), module
    except LookupError:
        return None


def _symbol_at(prog: drgn.Program, addr: int) -> drgn.Symbol:
    """The symbol containing ``addr`` as crash names it: in a module, the
    first of its symbol table (drgn's choice); in the kernel image, of
    aliases at one address (``jiffies``, of size 0, and ``jiffies_64``) the
    first by name, as crash's sorted symbol table has them.  Raises
    LookupError."""
    lo, _hi = _kernel_symbol_range(prog)
    image = in_kernel_image(prog, addr)
    mod = None if image else module_of_address(prog, addr)
    start, end = module_span(prog)
    if mod is None and start <= addr < end:
        # crash's value_search() takes an address where only a module can be
        # to the modules only: in none of their regions (7.2.13: past a
        # module's text in its execmem cache) no symbol is found
        raise LookupError(f"no symbol at {addr:#x}")
    if image or mod:
        # crash's value_search() and module_symbol(): the nearest symbol at or
        # below in the kernel image or the same module, labels inside a function
        # included (entry_SYSCALL_64_after_hwframe, not entry_SYSCALL_64 that
        # drgn's prog.symbol() gives, whose size covers it)
        keys = _sorted_symbol_addresses(prog)
        i = bisect.bisect_right(keys, addr) - 1
        while mod is None and i >= 0 and module_of_address(prog, keys[i]):
            i -= 1  # the image's table has no module symbol (an address above the modules)
        # in a module, a symbol of the same memory region (7.2.13: the start
        # of a module's rodata is not its data's last symbol plus 7808)
        region = module_region_of(prog, addr) if mod is not None else None
        if i >= 0 and (lo <= keys[i] if region is None else region[0] <= keys[i]):
            found = sorted((s for s in _named(_symbols_by_address(prog)[keys[i]], prog)
                            if s.kind != drgn.SymbolKind.FILE), key=lambda s: s.name)
            if found:
                # crash's table is sorted by address, then name (strcmp); an exact
                # match takes the first there (skipping a "*_text_start" region
                # delimiter), an address past it the last (value_search()'s sp-1)
                if keys[i] != addr:
                    return found[-1]
                if found[0].name.endswith("_text_start") and len(found) > 1:
                    return found[1]
                return found[0]
    sym = prog.symbol(addr)
    owner = module_of_address(prog, sym.address)
    if owner:
        # drgn sizes a module's last text symbol up to the module's whole
        # size counted from its text; since 6.4 (ac3b43283923) the other
        # regions are allocated apart, so the pages past the text are another
        # module's or nobody's: crash's "symbol not found"
        if module_of_address(prog, addr) != owner:
            raise LookupError(f"no symbol at {addr:#x}")
        return sym
    return min(_named((*prog.symbols(addr), *_symbols_by_address(prog).get(sym.address, ())),
                      prog), key=lambda s: (-s.address, s.name))


def _sorted_symbol_addresses(prog: drgn.Program) -> list[int]:
    """The addresses of :func:`_symbols_by_address`, ascending (cached)."""
    key = "kmemx_plugins.lists.sorted_symbol_addresses"
    cached: list[int] | None = prog.cache.get(key)
    if cached is None:
        cached = prog.cache[key] = sorted(_symbols_by_address(prog))
    return cached


def _named(syms: Iterable[drgn.Symbol], prog: drgn.Program) -> Iterator[drgn.Symbol]:
    """``syms`` with each section symbol (no name in drgn) under the names of
    the sections at its address, as crash's symbol table has them (``.data``)."""
    for s in syms:
        if s.name or s.kind != drgn.SymbolKind.SECTION:
            yield s
            continue
        for name in section_names(prog).get(s.address, ()):
            yield drgn.Symbol(name, s.address, s.size, s.binding, s.kind)


def _mapping_symbol(name: str) -> bool:
    """An arm64 mapping symbol: ``$x``/``$d`` or ``$x.N``/``$d.N`` (arm64.c's
    arm64_verify_symbol in crash rejects the same names)."""
    return name[:2] in ("$x", "$d") and name[2:3] in ("", ".")


def _symbols_by_address(prog: drgn.Program) -> dict[int, list[drgn.Symbol]]:
    """Every symbol crash keeps, by its address (cached): aliases of size 0
    (the linker script's ``jiffies = jiffies_64``) contain no address but
    share one.  crash's symbol table (x86_64_verify_symbol, symbols.c's
    store_symbols on the table sorted by value) drops what sorts below the
    kernel's first text symbol (``_text``/``_stext``) unless it is per-CPU
    data (from ``__per_cpu_start`` on: ``per_cpu*``, ``__per_cpu_end`` or a
    data object): the absolute ``__crc_*`` of kernels before 5.19 (where
    7b4537199a4a moved them into ``___kcrctab``) and the assembler's
    absolute constants are not in it.  A module's symbols are kept wherever
    the module lies (arm64 loads modules below the kernel image).  arm64's
    mapping symbols (``$x``, ``$d``, ``$x.N``: AAELF64's marks of code and
    data, of size 0) are not symbols to crash (arm64.c's arm64_verify_symbol
    rejects them) nor to kmemx."""
    key = "kmemx_plugins.lists.symbols_by_address"
    # read again when the symbol finders change (mod -s replaces the module
    # kallsyms finder: kmemx.helpers.kallsyms.refresh_module_kallsyms())
    finders = tuple(prog.enabled_symbol_finders())
    got: tuple[tuple[str, ...], dict[int, list[drgn.Symbol]]] | None = prog.cache.get(key)
    cached = got[1] if got is not None and got[0] == finders else None
    if cached is None:
        cached = {}
        starts = []
        for name in ("_text", "_stext"):
            try:
                starts.append(prog.symbol(name).address)
            except LookupError:
                pass
        first = min(starts, default=0)  # neither: keep every symbol
        try:
            percpu = prog.symbol("__per_cpu_start").address
        except LookupError:
            percpu = None
        state = use_module_kallsyms(prog)
        filed, letters = state.with_files, state.letters
        for sym in prog.symbols():
            if _mapping_symbol(sym.name):
                continue
            if sym.address < first and not (
                    percpu is not None and sym.address >= percpu
                    and (sym.name.startswith("per_cpu")
                         or sym.name in ("__per_cpu_start", "__per_cpu_end")
                         or sym.kind == drgn.SymbolKind.OBJECT)) and (
                    module_of_address(prog, sym.address) is None):
                continue
            if filed and (sym.address, sym.name) not in letters and (
                    module_of_address(prog, sym.address) in filed):
                continue  # drgn's symbol of a module file's freed .init section
            cached.setdefault(sym.address, []).append(sym)
        prog.cache[key] = (finders, cached)
    return cached


def _sym_row(ctx: Context, addr: int, sym: drgn.Symbol, label: str,
             source_at: int | None = None) -> Row:
    """A ``sym`` row; with ``source_at`` (a code or data address) also FILE
    and LINE, its innermost source location (``dis -l``'s rule, drgn's
    ``prog.source_location()``), as crash prints ``file: line`` after a
    single symbol or address (``-`` where there is no line information)."""
    mod = module_of_address(ctx.prog, sym.address)
    cells = (Address(addr), _sym_type(ctx.prog, sym), Name(label), Name(mod) if mod else None)
    if source_at is None:
        return Row(SYM_COLUMNS, cells, sym)
    from .dis import _source  # dis imports this module

    where = _source(ctx.prog, source_at)
    return Row(SYM_LINE_COLUMNS, (*cells, *(where or (None, None))), sym)


def _sym_of_address(ctx: Context, addr: int) -> Row:
    typed, addr = addr, strip_pac(ctx, addr)  # arm64: a PAC-signed return address
    try:
        sym = _symbol_at(ctx.prog, addr)
    except LookupError:
        problems = use_module_kallsyms(ctx.prog).problems
        why = f" (unreadable module symbol tables: {'; '.join(problems)})" if problems else ""
        raise CommandError(f"sym: no symbol contains {addr:#x}{why}") from None
    off = addr - sym.address
    return _sym_row(ctx, typed, sym, sym.name + (f"+{off}" if off else ""),  # crash: decimal
                    addr)


def _sym_one(ctx: Context, s: str) -> Row:
    """The row for one ``sym`` argument: a symbol name, ``name+offset``, or an
    address in hex (``0x`` optional, any length); CommandError if none."""
    s = s.strip()
    addr = parse_hex(s) if s.startswith(("0x", "0X")) else None
    if addr is not None:
        return _sym_of_address(ctx, addr)
    name, plus, off = s.partition("+")
    try:
        sym = _symbol(ctx, name)
    except LookupError:
        addr = parse_hex(s)
        if addr is not None:
            return _sym_of_address(ctx, addr)
        raise CommandError(f"sym: unknown symbol {name!r}"
                           + did_you_mean(name, symbol_names(ctx.prog))) from None
    if plus:
        try:
            return _sym_of_address(ctx, sym.address + int(off, 0))
        except ValueError:
            raise CommandError(f"sym: bad offset in {s!r}") from None
    return _sym_row(ctx, sym.address, sym, sym.name, sym.address)


@command("sym", "translate a symbol to its address or an address to a symbol",
         description="""
         sym jiffies              a symbol's address and type (T/t text, D/d data)
         sym ffffffffc0a01000     the symbol containing an address, as name+offset
                                  (0x optional; module addresses are named from the
                                  module's in-memory symbol table when its debug info
                                  is missing, as crash does)
         sym schedule+0x10        the symbol at an offset from another
         sym jiffies 0x10 ...     several: a line each; a bad one is reported, the rest shown
         sym -q jiffies           every symbol whose name contains the string, by address
         sym -l                   every symbol, by address
         sym -m ext4              the symbols of a module, by address
         """,
         arguments=[arg("names", nargs="*", help="symbol name or address"),
                    arg("-q", dest="search", help="symbols whose name contains this"),
                    arg("-l", dest="all", action="store_true", help="every symbol"),
                    arg("-m", dest="module", help="the symbols of this module")],
         columns=SYM_COLUMNS, drgn_code=lambda ctx, args: _sym_drgn(ctx, args))
def _sym(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    use_module_kallsyms(ctx.prog)
    if args.search is not None or args.all or args.module is not None:
        if args.names:
            raise CommandError("sym: -q, -l and -m take no other arguments")
        yield from _sym_list(ctx, args.search, args.module)
        return
    if not args.names:
        raise CommandError("sym: give a symbol or an address (or -q, -l, -m)")
    yield from resolve_each(ctx, args.names, lambda s: _sym_one(ctx, s))


def _sym_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``sym --drgn``: the rows of ``sym --json`` from prog.symbol() and
    prog.symbols(), module symbols from drgn's load_module_kallsyms(), crash's
    type letters and symbol table (what sorts below ``_text`` dropped, but
    per-CPU data); names, ``name+off``, addresses, -q, -l, -m."""
    from kmemx.commands.drgncode import table_script

    if args.search is not None or args.all or args.module is not None:
        rows = f"""\
SEARCH, MODULE = {args.search!r}, {args.module!r}  # -q STRING, -m MODULE
found = False


def listed(addr):  # the image's by address, then the modules' by module, region, address
    start = region_start(addr)
    if start is None:
        return (0, 0, 0, addr)
    return (1, *RANKS[start], addr)


for addr in sorted(by_addr, key=listed):
    for sym in sorted(by_addr[addr], key=lambda s: s.name):
        if sym.kind in (SymbolKind.FILE, SymbolKind.SECTION):
            continue  # source file and section names: crash lists neither
        if SEARCH is not None and SEARCH not in sym.name:
            continue
        if MODULE is not None and module_of(addr) != MODULE:
            continue
        sym_row(addr, sym, sym.name)
"""
    else:
        rows = f"""\
for arg in {args.names!r}:
    if arg.startswith(("0x", "0X")):
        of_address(int(arg, 16))
        continue
    name, plus, off = arg.partition("+")
    try:
        sym = prog.symbol(name)
    except LookupError:  # hex digits without 0x
        of_address(int(arg, 16))
        continue
    if plus:
        of_address(sym.address + int(off, 0))
    else:
        sym_row(sym.address, sym, sym.name, sym.address)
"""
    columns = SYM_COLUMNS if args.search is not None or args.all or args.module is not None \
        else SYM_LINE_COLUMNS
    return table_script(ctx, columns, """\
PAC_MASK = """ + f"{kernel_pac_mask(ctx):#x}" + """  # arm64's NUMBER(KERNELPACMASK), from VMCOREINFO
""" + MODULE_SYMBOLS_CODE + CRASH_SYMBOLS_CODE + """# a module symbol's letter is the kernel's own in mod->kallsyms->typetab
# (1c7651f43777, 5.2; /proc/kallsyms's: r for read-only data, b for .bss, lower
# case local), not its ELF st_info's
module_letters = {}
for mod in for_each_module(prog):
    ks = mod.kallsyms
    try:
        types = prog.read(ks.typetab.value_(), ks.num_symtab.value_())
    except AttributeError:  # before 5.2 the letter was in st_info
        continue
    for i, letter in enumerate(types):
        st = ks.symtab[i]
        if st.st_name:
            name = Object(prog, "char *", ks.strtab.value_() + st.st_name.value_()).string_()
            module_letters[(st.st_value.value_(), name.decode())] = chr(letter)


# crash's type letters: T in the kernel's text, else by kind, r for a linker
# symbol of no type in .rodata; lower case for a local symbol
sections = [(address(lo), address(hi)) for lo, hi in (("_text", "_etext"),
                                                       ("_sinittext", "_einittext"))
            if address(lo) is not None and address(hi) is not None]
rodata = (address("__start_rodata"), address("__end_rodata"))
KINDS = {SymbolKind.FUNC: "t", SymbolKind.IFUNC: "i", SymbolKind.OBJECT: "d",
         SymbolKind.TLS: "d", SymbolKind.COMMON: "c"}


def elf_letters():
    # nm's letters of the vmlinux's ELF symbols, by (address, name): what crash's
    # BFD symbol table shows (the section's letter, D in a writable .rodata, b in
    # .bss, W/V weak, upper case global; kmemx.elfsyms' rule)
    m = prog.main_module()
    path, bias = m.debug_file_path, m.debug_file_bias or 0
    out = {}
    if not path:
        return out, bias
    with open(path, "rb") as f:
        head = f.read(64)
        shoff, = struct.unpack_from("<Q", head, 0x28)
        shnum, = struct.unpack_from("<H", head, 0x3C)
        f.seek(shoff)
        shdrs = list(struct.iter_unpack("<IIQQQQIIQQ", f.read(64 * shnum)))
        letter = []
        for _name, type_, flags, _addr, _off, _size, *_ in shdrs:
            if flags & 0x4:  # SHF_EXECINSTR
                letter.append("t")
            elif flags & 0x2 and type_ != 8:  # SHF_ALLOC, not SHT_NOBITS
                letter.append("d" if flags & 0x1 else "r")
            else:
                letter.append("b" if type_ == 8 else "?" if flags & 0x1 else "n")
        for _name, type_, _flags, _addr, off, size, link, *_ in shdrs:
            if type_ != 2:  # SHT_SYMTAB
                continue
            f.seek(off)
            syms = f.read(size - size % 24)
            f.seek(shdrs[link][4])
            strtab = f.read(shdrs[link][5])
            for name, info, _other, shndx, value, _size in struct.iter_unpack("<IBBHQQ", syms):
                if not name or shndx == 0:
                    continue
                bind, kind = info >> 4, info & 0xF
                if shndx == 0xFFF2:
                    c = "C"
                elif kind == 10:
                    c = "i"
                elif bind == 2:  # weak: object or not
                    c = "V" if kind == 1 else "W"
                elif bind == 10:
                    c = "u"
                elif bind > 1:
                    c = "?"
                else:
                    c = "a" if shndx == 0xFFF1 else letter[shndx] if shndx < len(letter) else "?"
                    c = c.upper() if bind == 1 else c
                end = strtab.index(b"\\0", name)
                out[((value + bias) & (2**64 - 1), strtab[name:end].decode(errors="replace"))] = c
            break
    return out, bias


ELF_LETTERS, BIAS = elf_letters()


def sym_type(sym):
    # the vmlinux's symbols: nm's letter; per-CPU ones sit at their link address
    c = ELF_LETTERS.get((sym.address, sym.name)) or ELF_LETTERS.get(
        ((sym.address + BIAS) & (2**64 - 1), sym.name))
    if c is not None:
        return c
    c = "t" if any(lo <= sym.address < hi for lo, hi in sections) else KINDS.get(sym.kind, "?")
    if c == "?" and None not in rodata and rodata[0] <= sym.address < rodata[1]:
        c = "r"
    if (sym.address, sym.name) in module_letters:
        return module_letters[(sym.address, sym.name)]
    return c.upper() if sym.binding != SymbolBinding.LOCAL else c


def sym_row(addr, sym, label, source_at=None):
    if source_at is None:
        row(hex(addr), sym_type(sym), label, module_of(sym.address))
        return
    try:  # crash's file: line, the innermost source location
        loc = prog.source_location(source_at)[0]
        where = (loc.filename, loc.line)
    except (LookupError, ValueError, IndexError):
        where = (None, None)
    row(hex(addr), sym_type(sym), label, module_of(sym.address), *where)


def of_address(typed):
    addr = typed
    if PAC_MASK and typed & PAC_MASK != PAC_MASK:  # arm64: a PAC-signed return address
        try:
            prog.symbol(typed | PAC_MASK)
            addr = typed | PAC_MASK
        except LookupError:
            pass
    try:
        sym = symbol_at(addr)
    except LookupError:  # crash's "symbol not found": a line, and on to the next
        print(f"sym: no symbol contains {typed:#x}", file=sys.stderr)
        return
    off = addr - sym.address
    sym_row(typed, sym, sym.name + (f"+{off}" if off else ""), addr)  # crash: decimal


""" + rows, ["bisect", "struct", "sys", "drgn:Architecture,Object,SymbolBinding,SymbolKind",
                "drgn.helpers.linux.kallsyms:load_module_kallsyms",
                "drgn.helpers.linux.module:for_each_module,module_address_regions"])


def _sym_list(ctx: Context, search: str | None, module: str | None) -> Iterator[Any]:
    """Every symbol (whose name contains ``search``; of ``module``), as
    crash's ``sym -l`` / ``-q`` / ``-m`` list them: the image's by address,
    then the modules' by module, memory region and address
    (:func:`kmemx.helpers.kallsyms.module_symbol_order`), then name."""
    prog = ctx.prog
    by_addr = _symbols_by_address(prog)
    found = False
    # (0, 0, address) for the image's, (module, region, address) for a module's:
    # the image first, as crash lists them
    for addr in sorted(by_addr, key=lambda a: module_symbol_order(prog, a)):
        for sym in sorted(by_addr[addr], key=lambda x: x.name):
            if sym.kind in (drgn.SymbolKind.FILE, drgn.SymbolKind.SECTION):
                continue  # source file and section names: crash lists neither
            if search is not None and search not in sym.name:
                continue
            mod = module_of_address(prog, addr) if addr >= 1 << 63 else None
            if module is not None and mod != module:
                continue
            found = True
            yield _sym_row(ctx, addr, sym, sym.name)
    problems = use_module_kallsyms(prog).problems
    if not found and module is not None:
        why = f" (unreadable module symbol tables: {'; '.join(problems)})" if problems else ""
        raise CommandError(f"sym: no symbols of module {module!r}{why}")
    for problem in problems:  # the modules whose symbols are left out
        ctx.warn(f"sym: module symbols left out: {problem}")


_PRINTABLE = set(string.printable.encode()) - set(b"\t\n\r\x0b\x0c")


def _user_reader(ctx: Context, command: str) -> Callable[[int, int], bytes]:
    """Reads of the current context's user address space (its ``mm``, by
    drgn's access_remote_vm(): the task's page tables), as crash reads a user
    virtual address.  CommandError for a kernel thread."""
    from drgn.helpers.linux.mm import access_remote_vm

    task = ctx.current_task()
    mm = task.mm.read_()
    if not mm:
        raise CommandError(f"{command}: PID {int(task.pid)} has no user address space "
                           "(set a user task first)")
    return lambda addr, n: bytes(access_remote_vm(mm, addr, n))


def _crash_number(s: str, what: str) -> int:
    """crash's stol(): decimal when every character is a decimal digit,
    else hexadecimal (``0x`` allowed).

    :raises CommandError: not a number (crash's ``not a valid number``)"""
    try:
        return int(s, 10) if s.isdigit() else int(s, 16)
    except ValueError:
        raise CommandError(f"{what}: not a valid number: {s}") from None


def _rd_extent(ctx: Context, args: argparse.Namespace) -> tuple[int, int | None]:
    """crash's cmd_rd() (memory.c): the first address (ADDR, plus ``-o
    OFFS``; with ``-R`` moved back so the COUNT units end with ADDR's) and the
    count of units (COUNT, else ``-e END``'s units; None: crash's default,
    one unit, or ``-a``'s whole string).  The unit is a byte for ``-a`` and
    ``-r``.

    :raises CommandError: crash's ``invalid ending address``, ``invalid count
        request``, ``-r option requires either a count argument or the -e option``
    """
    addr = parse_address(ctx, args.address)
    if args.offset:
        addr += _crash_number(args.offset, "rd")
    unit = 1 if args.ascii or args.raw else (args.width or 8)
    count = args.count
    if args.end and count is not None:
        ctx.warn("rd: ending address ignored when count is specified")
    elif args.end:
        end = parse_address(ctx, args.end)
        if end <= addr:
            raise CommandError(f"rd: invalid ending address: {end:x}")
        count = (end - addr) // unit
        if count == 0:
            raise CommandError("rd: invalid count request: 0")
    if args.raw and count is None:
        raise CommandError("rd: -r option requires either a count argument or the -e option")
    if args.reverse and (count or 1) > 1:
        addr -= (count or 1) * unit - unit
    return addr, count


@command("rd", "read memory: hex words and ASCII, like crash's rd",
         description="""
         rd ADDR [COUNT]     COUNT units (default 1) of 64 bits
         rd -32 / -16 / -8   unit size
         rd -d / -D          signed / unsigned decimal
         rd -x               hex without the ASCII column
         rd -a ADDR [COUNT]  ASCII: a string to its first unprintable byte (COUNT bytes:
                             their printable runs), 60 a line
         rd -p PADDR         physical address
         rd -f OFFSET        the dump file's own bytes at a file offset (headers,
                             compressed pages as stored), as crash
         rd [-u] UADDR       a user address of the current context (set PID), read
                             through its page tables (implied below the kernel's half)
         rd jiffies          a symbol
         rd -s ADDR [COUNT]  64-bit words that are kernel or module addresses as
                             name+offset (decimal), as crash; no ASCII column
         rd -S ADDR [COUNT]  -s, and a slab address as [cache] (-SS: [address:cache])
         rd -o OFFS ADDR     from ADDR + OFFS (decimal, or hex as crash's stol())
         rd -e END ADDR      up to END (COUNT, when given, wins, with a warning)
         rd -R ADDR COUNT    the COUNT units up to and including ADDR
         rd -N -16/-32 ...   each unit in network (big-endian) byte order
         rd -r FILE ADDR COUNT   COUNT bytes (or up to -e END) raw into FILE
         Output: crash's lines, no header (ADDR:  words  ASCII); --json: ADDRESS
         VALUES ASCII rows.
         """,
         arguments=[arg("address"), arg("count", nargs="?", type="addr", default=None),
                    arg("-p", dest="physical", action="store_true",
                        help="a physical address"),
                    arg("-f", dest="dumpfile", action="store_true",
                        help="an offset into the dump file"),
                    arg("-u", dest="user", action="store_true",
                        help="a user address of the current context (implied below the "
                             "kernel's half)"),
                    arg("-8", dest="width", action="store_const", const=1),
                    arg("-16", dest="width", action="store_const", const=2),
                    arg("-32", dest="width", action="store_const", const=4),
                    arg("-64", dest="width", action="store_const", const=8),
                    arg("-d", dest="decimal", action="store_const", const="signed",
                        help="signed decimal"),
                    arg("-D", dest="decimal", action="store_const", const="unsigned",
                        help="unsigned decimal"),
                    arg("-x", dest="no_ascii", action="store_true", help="no ASCII column"),
                    arg("-a", dest="ascii", action="store_true", help="ASCII string"),
                    arg("-s", dest="symbolic", action="store_true",
                        help="kernel symbols (name+offset) in place of their addresses"),
                    arg("-S", dest="slab", action="count", default=0,
                        help="-s, and [cache] for slab addresses (-SS: [address:cache])"),
                    arg("-o", dest="offset", metavar="OFFS",
                        help="start at ADDR + OFFS (decimal, or hex as crash)"),
                    arg("-e", dest="end", metavar="END", help="display up to END"),
                    arg("-R", dest="reverse", action="store_true",
                        help="the COUNT units up to and including ADDR"),
                    arg("-N", dest="network", action="store_true",
                        help="16- and 32-bit units in network (big-endian) byte order"),
                    arg("-r", dest="raw", metavar="FILE",
                        help="copy COUNT bytes (or up to -e END) raw into FILE")],
         columns=("ADDRESS", "VALUES", "ASCII"),
         drgn_code=lambda ctx, args: _rd_drgn(ctx, args))
def _rd(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    width = args.width or 8
    if sum(map(bool, (args.physical, args.user, args.dumpfile))) > 1:
        raise CommandError("rd: -p, -u and -f name different address spaces: give one")
    addr, count = _rd_extent(ctx, args)
    # crash: an address below the kernel's half is a user address of the context
    user = not args.physical and not args.dumpfile and (args.user or addr < KERNEL_HALF)
    read: Callable[[int, int], bytes]
    if args.dumpfile:
        read = _dump_file_reader(ctx)
    elif user:
        read = _user_reader(ctx, "rd")
    else:
        read = lambda a, n: ctx.k.read(a, n, physical=args.physical)  # noqa: E731
    space = ("physical address" if args.physical else
             "dump file offset" if args.dumpfile else "address")
    if args.raw:
        yield _rd_raw(ctx, read, addr, count or 0, args.raw, space)
        return
    if args.ascii:
        yield from _rd_ascii(ctx, read, addr, count, space)
        return
    total = (count or 1) * width
    if total > 1 << 24:
        raise CommandError("rd: at most 16 MiB at a time")
    symbolic = args.symbolic or args.slab
    if symbolic and (width != 8 or args.decimal):
        raise CommandError("rd: -s and -S are only allowed with 64-bit hexadecimal display")
    if symbolic:
        use_module_kallsyms(ctx.prog)  # module addresses by name, as crash
    per_line = 16
    pos = addr
    end = addr + total

    def fault_error(e: drgn.FaultError, at: int) -> CommandError:
        # the reason (unmapped, excluded by makedumpfile, past a cut file) is
        # drgn.FaultError's message.  A user address the task does not map faults
        # at itself (crash's words); one it maps faults at its physical page
        if user and at <= e.address < at + per_line:
            return CommandError(f"rd: invalid user virtual address: {e.address:x}")
        if user:
            return CommandError(f"rd: user virtual address {at:#x} is not readable: "
                                f"{e.message} (physical {e.address:#x})")
        if e.message.endswith(PHYSICAL_MARK):  # drgn's translation of it faulted
            return CommandError(f"rd: {space} {at:#x} is not readable: {fault_reason(e)}")
        return CommandError(f"rd: {space} {e.address:#x} is not readable: {e.message}")

    while pos < end:
        n = min(per_line, end - pos)
        # the line's units up to the first unreadable one are shown before the
        # error, as crash's display_memory() reads and prints unit by unit
        data, fault = _readable_prefix(read, pos, n, width)
        n = len(data)
        if fault is not None and not data:
            raise fault_error(fault, pos)
        if args.network and width in (2, 4):  # crash's htons()/htonl(), ASCII too
            data = b"".join(data[i:i + width][::-1] for i in range(0, n, width))
        words = [int.from_bytes(data[i:i + width], "little",
                                signed=args.decimal == "signed") for i in range(0, n, width)]
        if symbolic:
            # crash prints no ASCII column with -s/-S
            names = [symbolic_word(ctx, w, args.slab) for w in words]
            row = Row(("ADDRESS", "VALUES"), (Address(pos), " ".join(names).rstrip()))
            text = "".join(f"{x:<16} " for x in names)
        else:
            if args.decimal:
                hexs = " ".join(str(w) for w in words)
            else:
                hexs = " ".join(f"{w:0{2 * width}x}" for w in words)
            asc = None if args.decimal or args.no_ascii else "".join(
                chr(b) if b in _PRINTABLE else "." for b in data)
            row = Row(("ADDRESS", "VALUES", "ASCII"), (Address(pos), hexs, asc))
            text = _rd_words(words, width, args.decimal)
            if asc is not None:  # a short last line padded to a full line's width
                text = f"{text:<{(16 // width) * (2 * width + 1)}}  {asc}"
        yield row if ctx.as_json else TextRecord(f"{pos:>16x}:  {text}", row.as_dict())
        if fault is not None:
            raise fault_error(fault, pos + n)
        pos += n


def _readable_prefix(read: Callable[[int, int], bytes], addr: int, size: int,
                     unit: int) -> tuple[bytes, drgn.FaultError | None]:
    """``size`` bytes at ``addr`` by ``read``, or where that faults the whole
    ``unit``-byte units before the first unreadable one (crash's
    display_memory() reads unit by unit) and the fault: the first unit's,
    else the whole read's.  ``(bytes, None)`` or ``(prefix, fault)``."""
    try:
        return read(addr, size), None
    except drgn.FaultError as e:
        fault = e
    data = b""
    try:
        while len(data) < size:
            data += read(addr + len(data), unit)
    except drgn.FaultError as e:
        if data:
            fault = e
    return data, fault


def _dump_file_reader(ctx: Context, command: str = "rd") -> Callable[[int, int], bytes]:
    """Reads of the dump file's own bytes (``rd -f``, ``struct -f``):
    Kernel.read_dump_file(); CommandError (crash's ``-f option requires a
    dumpfile``) without one."""
    k = ctx.k
    try:
        k.read_dump_file(0, 0)
    except KmemxError as e:
        raise CommandError(f"{command}: -f: {e}") from None
    return k.read_dump_file


def _dump_file_offsets(words: list[str], size: int, count: int | None,
                       command: str) -> list[int]:
    """``struct -f``'s offsets: OFFSET (crash's stoll(): decimal when all
    digits, else hex) and a COUNT after it or ``-c COUNT`` (negative: the
    structures up to and including OFFSET's), ``size`` bytes apart.

    :raises CommandError: a word that is not a number, or more than two."""
    if len(words) > 2:
        raise CommandError(f"{command}: -f takes one offset and a COUNT")
    offset = _crash_number(words[0], command)
    if len(words) == 2:
        if count is not None:
            raise CommandError(f"{command}: a COUNT after the offset and -c: give one")
        try:
            count = int(words[1], 10)
        except ValueError:
            raise CommandError(f"{command}: not a valid COUNT: {words[1]}") from None
    count = count or 1
    first = offset - (-count - 1) * size if count < 0 else offset
    return [first + i * size for i in range(abs(count))]


def _rd_raw(ctx: Context, read: Callable[[int, int], bytes], addr: int, count: int,
            path: str, space: str = "address") -> Any:
    """crash's ``rd -r FILE``: ``count`` bytes from ``addr`` written to
    ``path``; the row says so (``N bytes copied from 0xADDR to FILE``).

    :raises CommandError: an unreadable byte (nothing is left in the file
        then but what was read before it) or a file that cannot be written
    """
    if count > 1 << 30:
        raise CommandError("rd: -r copies at most 1 GiB at a time")
    try:
        with open(path, "wb") as f:
            for pos in range(addr, addr + count, 1 << 20):
                f.write(read(pos, min(1 << 20, addr + count - pos)))
    except drgn.FaultError as e:
        os.unlink(path)  # no partial copy left behind
        raise CommandError(f"rd: {space} {e.address:#x} is not readable: {e.message}") from None
    except OSError as e:
        raise CommandError(f"rd: cannot open output file: {path}: {e.strerror}") from None
    row = Row(("BYTES", "ADDRESS", "FILE"), (count, Address(addr), path))
    return row if ctx.as_json else TextRecord(
        f"{count} bytes copied from {addr:#x} to {path}", row.as_dict())


#: crash's display_memory() decimal formats by unit size (memory.c): signed
#: for 32 and 64 bits, and 8- and 16-bit units as unsigned values
_RD_DECIMAL = {8: 15, 4: 12, 2: 5, 1: 3}


def _rd_words(words: list[int], width: int, decimal: str | None) -> str:
    """``rd``'s words as crash's display_memory() prints them: hex of the
    unit's width, or decimal right-aligned (``%15ld``, ``%20lu`` for
    unsigned 64-bit, ``%12d``, ``%5d``, ``%3d``), each followed by a
    blank."""
    if not decimal:
        return "".join(f"{w:0{2 * width}x} " for w in words)
    pad = 20 if decimal == "unsigned" and width == 8 else _RD_DECIMAL[width]
    if width < 4:
        words = [w & ((1 << (8 * width)) - 1) for w in words]
    return "".join(f"{w:>{pad}} " for w in words)


#: --drgn code naming module addresses as kmemx does: drgn's symbol finder of
#: the modules' in-memory symbol tables (plain drgn names no module address
#: without their debug info); imports drgn.helpers.linux.kallsyms'
#: load_module_kallsyms
MODULE_SYMBOLS_CODE = """\
try:  # name module addresses from the modules' in-memory symbol tables
    prog.register_symbol_finder("module_kallsyms", load_module_kallsyms(prog), enable_index=-1)
except ValueError:  # registered already
    pass
"""

#: --drgn code of crash's symbol table and its value_search(), the rule of
#: :func:`_symbol_at`: ``module_of(addr)``, ``address(name)``, ``by_addr``
#: (crash's table by address), ``symbol_at(addr)`` (LookupError when none).
#: Follows :data:`MODULE_SYMBOLS_CODE`; imports bisect, drgn's Architecture and SymbolKind,
#: for_each_module and module_address_regions
CRASH_SYMBOLS_CODE = """\
regions = sorted((start, start + size, mod.name.string_().decode())
                 for mod in for_each_module(prog) for start, size in module_address_regions(mod))
# each region's module (by its first region) and index in mod->mem[] (text, data,
# rodata, ...): crash lists a module's symbols region by region
RANKS = {}
for mod in for_each_module(prog):
    spans = [(i, start) for i, (start, size) in enumerate(module_address_regions(mod)) if size]
    for i, start in spans:
        RANKS[start] = (spans[0][1], i)


def module_of(addr):
    return next((name for start, end, name in regions if start <= addr < end), None)


def region_start(addr):  # the start of the module memory region holding addr
    return next((start for start, end, name in regions if start <= addr < end), None)


def address(name):
    try:
        return prog.symbol(name).address
    except LookupError:
        return None


# crash's symbol table, by address: what sorts below the first text symbol is
# dropped unless it is per-CPU data
first = min((a for a in (address("_text"), address("_stext")) if a is not None), default=0)
percpu = address("__per_cpu_start")
# (a module's symbols are kept: arm64 loads modules below the kernel image);
# arm64's mapping symbols $x, $d, $x.N, $d.N are dropped, as crash drops them
by_addr = {}
for sym in prog.symbols():
    if sym.name[:2] in ("$x", "$d") and sym.name[2:3] in ("", "."):
        continue
    if sym.address < first and not (
            percpu is not None and sym.address >= percpu
            and (sym.name.startswith("per_cpu") or sym.name in ("__per_cpu_start", "__per_cpu_end")
                 or sym.kind == SymbolKind.OBJECT)) and not module_of(sym.address):
        continue
    by_addr.setdefault(sym.address, []).append(sym)
keys = sorted(by_addr)
lo = address("_text")  # crash's in_ksymbol_range(): _text to the image's last symbol
hi = max((a for a in keys if not module_of(a)), default=lo)
# crash's value_search() takes an address where only a module can be (x86-64's
# module area, MODULES_VADDR to MODULES_END; elsewhere the modules' own span)
# to the modules only: one in no module's region (7.2.13: past a module's text
# in its execmem cache) has no symbol
span = (0, 0)
if regions:
    span = ((""" + f"{MODULES_VADDR:#x}, {MODULES_END:#x}" + """)
            if prog.platform.arch == Architecture.X86_64
            else (regions[0][0], max(end for _start, end, _name in regions)))


def symbol_at(addr):
    # crash's value_search(): the nearest symbol at or below addr in the kernel
    # image or the same module; of aliases at one address the first by name
    # (jiffies, not jiffies_64), past it the last; elsewhere drgn's
    image = lo <= addr <= hi and not span[0] <= addr < span[1]
    mod = None if image else module_of(addr)
    if mod is None and span[0] <= addr < span[1]:
        raise LookupError(f"no symbol at {addr:#x}")
    if image or mod:
        i = bisect.bisect_right(keys, addr) - 1
        while mod is None and i >= 0 and module_of(keys[i]):
            i -= 1  # the image's table has no module symbol
        if i >= 0 and (lo <= keys[i] if mod is None else region_start(addr) <= keys[i]):
            found = sorted((s for s in by_addr[keys[i]] if s.name and s.kind != SymbolKind.FILE),
                           key=lambda s: s.name)
            if found:
                if keys[i] != addr:
                    return found[-1]
                if found[0].name.endswith("_text_start") and len(found) > 1:
                    return found[1]
                return found[0]
    sym = prog.symbol(addr)
    if module_of(sym.address):
        if module_of(addr) != module_of(sym.address):  # drgn sizes it past its region
            raise LookupError(f"no symbol at {addr:#x}")
        return sym
    return min((*prog.symbols(addr), *by_addr.get(sym.address, ())),
               key=lambda s: (-s.address, s.name))


"""



def _kernel_symbol_range(prog: drgn.Program) -> tuple[int, int]:
    """crash's in_ksymbol_range() bounds for the kernel image: from its first
    text symbol (``_text``; per-CPU symbols below it are offsets, not
    addresses) to its last symbol's address (cached)."""
    key = "kmemx_plugins.lists.ksymbol_range"
    cached: tuple[int, int] | None = prog.cache.get(key)
    if cached is None:
        lo = prog.symbol("_text").address
        hi = lo
        for addr in sorted(_symbols_by_address(prog), reverse=True):
            if not module_of_address(prog, addr):
                hi = addr
                break
        cached = prog.cache[key] = (lo, hi)
    return cached


def in_kernel_image(prog: drgn.Program, addr: int) -> bool:
    """crash's in_ksymbol_range() for the kernel image: ``addr`` (``unsigned
    long``) from ``_text`` to the image's last symbol (:func:`_kernel_symbol_range`)
    and not where only a module can be (:func:`kmemx.helpers.module_span`:
    x86-64's module area, which 7.2.13's assembler constants at
    0xffffffffffffffxx put under the last symbol).  Raises LookupError
    without kernel symbols."""
    lo, hi = _kernel_symbol_range(prog)
    start, end = module_span(prog)
    return lo <= addr <= hi and not start <= addr < end


def kernel_pac_mask(ctx: Context) -> int:
    """``NUMBER(KERNELPACMASK)`` of an arm64 dump (0 elsewhere, or without
    VMCOREINFO)."""
    info = getattr(ctx.k, "vmcoreinfo", None)
    return info.kernel_pac_mask if info is not None else 0


def strip_pac(ctx: Context, value: int) -> int:
    """A stack word or saved return address (``unsigned long``) without an
    arm64 pointer-authentication code: ``value | KERNELPACMASK`` when that
    is in the kernel image or a module, else ``value``
    (:func:`kmemx.arch.aarch64.ptrauth_strip_kernel_insn_pac`, crash's
    arm64.c rule).  Raises nothing."""
    mask = kernel_pac_mask(ctx)
    if not mask:
        return value

    def is_text(v: int) -> bool:
        return in_kernel_image(ctx.prog, v) or module_of_address(ctx.prog, v) is not None

    return ptrauth_strip_kernel_insn_pac(value, mask, is_text)


def symbolic_word(ctx: Context, value: int, slab: int = 0, accessible: bool = False) -> str:
    """A 64-bit word as crash shows it symbolically (``rd -s``/``-S``,
    display_memory(); ``bt -F``, format_stack_entry()): a kernel-image address
    (crash's in_ksymbol_range()) or a module address as ``name+offset``
    (decimal), else with ``slab`` (1: ``-S``/``-F``, 2: ``-SS``/``-FF``) a
    slab address as ``[cache]`` / ``[address:cache]``, else 16 hex digits;
    each padded to 16 columns.  ``accessible``: only a readable address is
    named (format_stack_entry()'s accessible() check).  An arm64 PAC-signed
    return address is not stripped: crash's display_memory() and
    format_stack_entry() (memory.c, 8.0.6) test the word as it is with
    in_ksymbol_range(), so ``rd -s``, ``bt -r`` and ``bt -F`` print it in hex
    (``6eecba6981f347d0``) where ``bt -t``/``-T`` name it (arm64.c strips
    KERNELPACMASK there)."""
    if accessible:
        try:
            ctx.k.read(value, 1)
        except (drgn.FaultError, ValueError, OverflowError):
            return f"{value:016x}"
    found = ksymbol_at(ctx.prog, value)
    if found is not None:
        off = value - found[0].address
        return f"{found[0].name + (f'+{off}' if off else ''):<16}"
    if slab:
        cache = virt_to_cache(ctx.k, value)
        if cache is not None:
            name = kernel_str(cache.name.string())
            return f"{f'[{value:x}:{name}]' if slab > 1 else f'[{name}]':<16}"
    return f"{value:016x}"


#: rd -f --drgn: reads of the dump file's own bytes at an offset (crash's
#: FILEADDR), faulting past its end as prog.read() faults
_RD_FILE_CODE = """\
def read(offset, size, physical=False):  # rd -f: the dump file's bytes, not memory
    with open(prog.core_dump_path, "rb") as f:
        f.seek(offset)
        data = f.read(size)
    if len(data) < size:
        raise FaultError("past the end of the dump file", offset + len(data))
    return data


"""


def _rd_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``rd --drgn``: prog.read() (-p: physical), the rows of ``rd --json``:
    16 bytes a line in units of -8/-16/-32/-64 bits, hex with the ASCII column
    (-x without it), -d/-D signed/unsigned decimal; -a the string, 60 bytes a
    line."""
    from kmemx.commands.drgncode import only_options, table_script

    only_options("rd", args, ("address", "count", "physical", "width", "decimal", "no_ascii",
                              "ascii", "offset", "end", "reverse", "network", "dumpfile"),
                 "the hex, decimal and ASCII forms (no -s/-S/-r)")
    addr, count = _rd_extent(ctx, args)
    printable = "".join(sorted(chr(b) for b in _PRINTABLE))
    reader = _RD_FILE_CODE if args.dumpfile else "read = prog.read\n"
    if args.ascii:
        return table_script(ctx, ("ADDRESS", "ASCII"), reader + f"""\
address, count = {addr:#x}, {count}
limit = count if count is not None else 1 << 20
data = bytearray()
pos = address
while len(data) < limit:  # a page at a time; without a count, to the first unprintable byte
    try:
        chunk = read(pos, min(4096 - pos % 4096, limit - len(data)), {bool(args.physical)})
    except FaultError:
        break
    end = re.search(rb"[^\\x20-\\x7e]", chunk) if count is None else None
    data += chunk if end is None else chunk[:end.start()]
    if end is not None:
        break
    pos += len(chunk)
# crash's display_memory() ASCII lines: each run of printable bytes (C's isprint),
# 60 characters a line, a line at the run's own address
for m in re.finditer(rb"[\\x20-\\x7e]+", data):
    text = m.group().decode("ascii")
    for off in range(0, len(text), 60):
        row(hex(address + m.start() + off), text[off:off + 60])
""", ["drgn:FaultError", "re"])
    width = args.width or 8
    signed = args.decimal == "signed"
    if args.decimal:
        values = '" ".join(str(w) for w in words)'
    else:
        values = f'" ".join(f"{{w:0{2 * width}x}}" for w in words)'
    ascii_cell = ("None" if args.decimal or args.no_ascii else
                  '"".join(chr(b) if chr(b) in PRINTABLE else "." for b in chunk)')
    swap = ("  # network byte order: each unit's bytes reversed\n    chunk = b\"\".join("
            "chunk[i:i + width][::-1] for i in range(0, len(chunk), width))"
            if args.network and width in (2, 4) else "")
    return table_script(ctx, ("ADDRESS", "VALUES", "ASCII"), reader + f"""\
PRINTABLE = {printable!r}  # string.printable less the whitespace controls
address, total, width = {addr:#x}, {(count or 1) * width}, {width}
data = read(address, total, {bool(args.physical)})
for pos in range(0, total, 16):
    chunk = data[pos:pos + 16]{swap}
    words = [int.from_bytes(chunk[i:i + width], "little", signed={signed})
             for i in range(0, len(chunk), width)]
    row(hex(address + pos), {values}, {ascii_cell})
""", ["drgn:FaultError"] if args.dumpfile else [])


def _rd_ascii(ctx: Context, read: Callable[[int, int], bytes], addr: int,
              count: int | None, space: str = "address") -> Iterator[Any]:
    """crash's ``rd -a``: the printable bytes from ``addr`` as crash's
    display_memory() DISPLAY_ASCII lines (memory.c): ``ADDR:  text``, 60
    characters a line, no header.  Without ``count`` the string ends at its
    first unprintable byte (ASCII_UNLIMITED, so a banner's newline ends it
    too); with ``count`` bytes, unprintable ones are left out and the next
    printable one starts a line at its own address (none printable: crash's
    empty line)."""
    limit = count if count is not None else 1 << 20
    if limit > 1 << 24:
        raise CommandError("rd: at most 16 MiB at a time")
    data = bytearray()
    pos = addr
    while len(data) < limit:
        # the bytes before the first unreadable one
        chunk, fault = _readable_prefix(read, pos, min(4096 - pos % 4096, limit - len(data)), 1)
        if fault is not None and not data and not chunk:
            raise CommandError(f"rd: {space} {fault.address:#x} is not readable: "
                               f"{fault.message}")
        end = _UNPRINTABLE.search(chunk) if count is None else None
        data += chunk if end is None else chunk[:end.start()]
        if end is not None or fault is not None:
            break
        pos += len(chunk)
    lines = _rd_ascii_lines(bytes(data), addr)
    if not lines and count and not ctx.as_json:
        yield TextLine("")
    for start, text in lines:
        row = Row(("ADDRESS", "ASCII"), (Address(start), text))
        yield row if ctx.as_json else TextRecord(f"{start:>16x}:  {text}", row.as_dict())


#: a byte C's isprint() refuses (crash's display_memory() DISPLAY_ASCII test)
_UNPRINTABLE = re.compile(rb"[^\x20-\x7e]")


def _rd_ascii_lines(data: bytes, addr: int) -> list[tuple[int, str]]:
    """The lines of crash's ``rd -a`` over ``data`` read at ``addr``: (address,
    text) for each run of printable bytes, cut every 60 characters
    (display_memory()'s DISPLAY_ASCII case: ``a`` restarts at 0 after an
    unprintable byte, so the next printable one opens a line)."""
    lines: list[tuple[int, str]] = []
    for m in re.finditer(rb"[\x20-\x7e]+", data):
        run = m.group().decode("ascii")
        for off in range(0, len(run), 60):
            lines.append((addr + m.start() + off, run[off:off + 60]))
    return lines
