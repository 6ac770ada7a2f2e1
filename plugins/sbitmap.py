"""crash's ``sbitmapq``: a ``struct sbitmap_queue`` (lib/sbitmap.c, the
scalable bitmap blk-mq tags and other allocators use), its summary, its
wait queues and its bitmap, and the entries of an array its set bits index.

The helpers are pure generators over drgn objects, named after the
kernel's own (include/linux/sbitmap.h); the command formats their rows as
crash's sbitmap.c prints them.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from typing import Any

import drgn
from drgn.helpers.linux.cpumask import for_each_possible_cpu

from kmemx.commands import Address, CommandError, Context, Row, TextLine, arg, command
from kmemx.errors import fault_where

from .lists import KERNEL_HALF, crash_member_line, crash_struct_text

__all__ = ["SBITMAPQ_COLUMNS", "sbitmap_for_each_set", "sbitmap_words", "sbq_alloc_hints",
           "sbq_wait_states"]

#: include/linux/sbitmap.h
SBQ_WAIT_QUEUES = 8

SBITMAPQ_COLUMNS = ("DEPTH", "BUSY", "CLEARED", "BITS_PER_WORD", "MAP_NR", "ALLOC_HINT",
                    "WAKE_BATCH", "WAKE_INDEX", "WS_ACTIVE", "WS", "ROUND_ROBIN",
                    "MIN_SHALLOW_DEPTH", "BITMAP")


def _int(obj: drgn.Object) -> int:
    """An integer member, or an ``atomic_t``'s counter."""
    try:
        return int(obj.counter.value_())
    except (AttributeError, LookupError):
        return int(obj.value_())


def sbitmap_words(sb: drgn.Object) -> Iterator[tuple[int, int, int]]:
    """``(word, cleared, depth)`` of each ``struct sbitmap_word`` of ``sb``
    (``struct sbitmap``): the word's bits, the bits freed but not yet given
    back (``cleared``, since 5.0's ea86ea2cdced "sbitmap: ammortize cost of
    clearing bits"; 0 before) and the word's depth, ``__map_depth()``.

    :raises drgn.FaultError: the map cannot be read
    """
    depth, shift, map_nr = int(sb.depth), int(sb.shift), int(sb.map_nr)
    for i in range(map_nr):
        w = sb.map[i]
        try:
            cleared = int(w.cleared.value_())
        except AttributeError:
            cleared = 0
        yield (int(w.word.value_()), cleared,
               depth - (i << shift) if i == map_nr - 1 else 1 << shift)


def sbitmap_for_each_set(sb: drgn.Object) -> Iterator[int]:
    """The index of each set bit of ``sb`` (``struct sbitmap``) in order, a
    bit set in ``word`` and not in ``cleared``, as ``sbitmap_for_each_set()``
    (include/linux/sbitmap.h) from bit 0.

    :raises drgn.FaultError: the map cannot be read
    """
    shift = int(sb.shift)
    scanned, total = 0, int(sb.depth)
    for index, (word, cleared, depth) in enumerate(sbitmap_words(sb)):
        if scanned >= total:
            return
        depth = min(depth, total - scanned)
        scanned += depth
        bits = word & ~cleared
        for nr in range(depth):
            if bits >> nr & 1:
                yield (index << shift) + nr


def sbq_alloc_hints(sbq: drgn.Object) -> Iterator[int]:
    """Each possible CPU's allocation hint of ``sbq`` (``struct
    sbitmap_queue``): ``sb.alloc_hint`` since 5.13 (c548e62bcf6a "scsi:
    sbitmap: Move allocation hint into sbitmap"), ``alloc_hint`` of the
    queue before."""
    from drgn.helpers.linux.percpu import per_cpu_ptr

    try:
        hint = sbq.sb.alloc_hint
    except AttributeError:
        hint = sbq.alloc_hint
    for cpu in for_each_possible_cpu(sbq.prog_):
        yield int(drgn.Object(sbq.prog_, "unsigned int *",
                              value=per_cpu_ptr(hint, cpu).value_())[0])


def sbq_wait_states(sbq: drgn.Object) -> Iterator[tuple[int | None, bool]]:
    """``(wait_cnt, active)`` of each of the ``SBQ_WAIT_QUEUES`` wait
    states of ``sbq`` (``struct sbitmap_queue``): a wait queue is active
    when its list has a waiter (crash's test: ``next != prev``); wait_cnt
    None where the kernel has none (since 6.2's 4f8126bb2308 "sbitmap: Use
    single per-bitmap counting to wake up queued tags", in 6.1.y too).

    :raises drgn.FaultError: ``sbq->ws`` is NULL or below the kernel half
        (crash: ``invalid kernel virtual address``; a QEMU ELF dump maps RAM at
        low virtual addresses, which would read as wait queues)"""
    ws = sbq.ws
    if ws.value_() < KERNEL_HALF:
        raise drgn.FaultError("invalid kernel virtual address", ws.value_())
    for i in range(SBQ_WAIT_QUEUES):
        w = ws[i]
        try:
            head = w.wait.head
        except AttributeError:  # before 4.13: wait_queue_head_t.task_list
            head = w.wait.task_list
        try:
            cnt: int | None = _int(w.wait_cnt)
        except AttributeError:  # 6.2's 4f8126bb2308 (and 6.1.y) count per queue
            cnt = None
        yield cnt, head.next.value_() != head.prev.value_()


def _round_robin(sbq: drgn.Object) -> int:
    """``sb.round_robin`` since 5.13 (efe1f3a1d583), the queue's before."""
    try:
        return int(sbq.sb.round_robin.value_())
    except AttributeError:
        return int(sbq.round_robin.value_())


def _bitmap_lines(sb: drgn.Object) -> Iterator[str]:
    """crash's sbitmap_bitmap_show(): the bits in use (``word & ~cleared``)
    packed into bytes, 16 a line as ``00000000: 0000 0000 ...``."""
    out: list[int] = []
    byte = byte_bits = 0
    for word, cleared, bits in sbitmap_words(sb):
        word &= ~cleared
        while bits > 0:
            n = min(8 - byte_bits, bits)
            byte |= (word & ((1 << n) - 1)) << byte_bits
            byte_bits += n
            if byte_bits == 8:
                out.append(byte)
                byte = byte_bits = 0
            word >>= n
            bits -= n
    if byte_bits:
        out.append(byte)
    for off in range(0, len(out), 16):
        chunk = out[off:off + 16]
        pairs = [bytes(chunk[i:i + 2]).hex() for i in range(0, len(chunk), 2)]
        yield f"{off:08x}: " + " ".join(pairs)


def _summary(ctx: Context, sbq: drgn.Object) -> Iterator[Any]:
    """crash's sbitmap_queue_show() and the bitmap after a blank line; JSON:
    one row of SBITMAPQ_COLUMNS.  The lines come as they are read, as
    crash prints them: an unreadable wait-queue array (``ws``) ends the
    output after ``ws_active``."""
    sb = sbq.sb
    words = list(sbitmap_words(sb))
    weight = sum(bin(w & ((1 << d) - 1)).count("1") for w, _, d in words)
    cleared = sum(bin(c & ((1 << d) - 1)).count("1") for _, c, d in words)
    hints = list(sbq_alloc_hints(sbq))
    # busy as the kernel's sbitmap_show() prints it: %u of the difference
    values = {"depth": int(sb.depth), "busy": (weight - cleared) & 0xFFFFFFFF,
              "cleared": cleared,
              "bits_per_word": 1 << int(sb.shift), "map_nr": int(sb.map_nr),
              "wake_batch": int(sbq.wake_batch), "wake_index": _int(sbq.wake_index),
              "ws_active": _int(sbq.ws_active), "round_robin": _round_robin(sbq),
              "min_shallow_depth": int(sbq.min_shallow_depth)}
    bitmap = list(_bitmap_lines(sb))
    if ctx.as_json:
        ws = list(sbq_wait_states(sbq))
        yield Row(SBITMAPQ_COLUMNS, (
            values["depth"], values["busy"], values["cleared"], values["bits_per_word"],
            values["map_nr"], " ".join(map(str, hints)), values["wake_batch"],
            values["wake_index"], values["ws_active"],
            " ".join(("" if cnt is None else f"{cnt}:") + ("active" if act else "inactive")
                     for cnt, act in ws),
            values["round_robin"], values["min_shallow_depth"],
            "".join(line.split(": ", 1)[1].replace(" ", "") for line in bitmap)), sbq)
        return
    for key in ("depth", "busy", "cleared", "bits_per_word", "map_nr"):
        yield TextLine(f"{key} = {values[key]}")
    yield TextLine("alloc_hint = {" + ", ".join(map(str, hints)) + "}")
    for key in ("wake_batch", "wake_index", "ws_active"):
        yield TextLine(f"{key} = {values[key]}")
    ws = list(sbq_wait_states(sbq))
    yield TextLine("ws = {")
    for cnt, act in ws:
        # crash reads the int into a ulong and prints %lu (sbitmap.c sbitmap_queue_show())
        count = "" if cnt is None else f".wait_cnt = {cnt & 0xFFFFFFFFFFFFFFFF}, "
        yield TextLine(f"\t{{ {count}.wait = {'active' if act else 'inactive'} }},")
    yield TextLine("}")
    yield TextLine(f"round_robin = {values['round_robin']}")
    yield TextLine(f"min_shallow_depth = {values['min_shallow_depth']}")
    yield TextLine("")
    for line in bitmap:
        yield TextLine(line)


def _entries(ctx: Context, sbq: drgn.Object, spec: str, array: int, pointers: bool,
             verbose: bool, radix: int | None) -> Iterator[Any]:
    """``-s STRUCT -a ARRAY``: for each set bit, its INDEX and the ADDRESS
    of that element of ARRAY (``-p``: an array of pointers: the element is
    the address of the pointer); ``-v`` the structure (or its members) in
    ``struct``'s text after crash's ``N (0xADDR):`` line (sbitmap.c
    sbitmap_data_print(): dump_struct() / dump_struct_member())."""
    name, _, members = spec.partition(".")
    try:
        t = ctx.prog.type(name if name.startswith(("struct ", "union ")) else f"struct {name}")
    except LookupError:
        raise CommandError(f"sbitmapq: invalid data structure reference: {spec}") from None
    size = 8 if pointers else t.size or 0
    for idx in sbitmap_for_each_set(sbq.sb):
        addr = array + size * idx
        if not verbose:
            if ctx.as_json:
                yield Row(("INDEX", "ADDRESS"), (idx, Address(addr)))
            else:
                yield TextLine(f"{idx}: 0x{addr:08x}")
            continue
        yield TextLine(f"{idx} (0x{addr:08x}):")
        if pointers:
            addr = ctx.k.read_u64(addr)
        obj = drgn.Object(ctx.prog, t, address=addr)
        try:
            if members:  # crash's dump_struct_member(): struct's member lines
                for m in members.split(","):
                    yield TextLine(crash_member_line(obj, m.strip(), radix))
            else:  # crash's dump_struct(): struct's text of the whole element
                keyword, _, bare = t.type_name().partition(" ")
                yield TextLine(crash_struct_text(obj, keyword, bare, radix))
        except LookupError:
            raise CommandError(f"sbitmapq: invalid data structure reference: {spec}") from None
        except drgn.FaultError as e:
            raise CommandError(f"sbitmapq: {t.type_name()} at {addr:#x}: cannot read "
                               f"{e.address:#x}") from None


_SBITMAPQ_CODE = """\
sbq = Object(prog, "struct sbitmap_queue", address={addr:#x})
sb = sbq.sb
depth, shift, map_nr = sb.depth.value_(), sb.shift.value_(), sb.map_nr.value_()
words = []  # (word, cleared, the word's depth: __map_depth())
for i in range(map_nr):
    w = sb.map[i]
    cleared = w.cleared.value_() if "cleared" in {{m.name for m in w.type_.members}} else 0
    words.append((w.word.value_(), cleared, depth - (i << shift) if i == map_nr - 1 else 1 << shift))
"""

_SBITMAPQ_SUMMARY_CODE = """\
weight = sum(bin(w & ((1 << d) - 1)).count("1") for w, _, d in words)
cleared = sum(bin(c & ((1 << d) - 1)).count("1") for _, c, d in words)
print(f"depth = {{depth}}")
print(f"busy = {{(weight - cleared) & 0xFFFFFFFF}}")
print(f"cleared = {{cleared}}")
print(f"bits_per_word = {{1 << shift}}")
print(f"map_nr = {{map_nr}}")
try:  # 5.13 moved alloc_hint and round_robin into struct sbitmap (c548e62bcf6a)
    hint, round_robin = sb.alloc_hint, sb.round_robin
except AttributeError:
    hint, round_robin = sbq.alloc_hint, sbq.round_robin
hints = [Object(prog, "unsigned int *", per_cpu_ptr(hint, cpu).value_())[0].value_()
         for cpu in for_each_possible_cpu(prog)]
print("alloc_hint = {{" + ", ".join(map(str, hints)) + "}}")
print(f"wake_batch = {{sbq.wake_batch.value_()}}")
print(f"wake_index = {{sbq.wake_index.counter.value_()}}")
print(f"ws_active = {{sbq.ws_active.counter.value_()}}")
print("ws = {{")
if sbq.ws.value_() < 1 << 63:  # NULL or a user address: crash reads no wait queue there
    raise SystemExit(f"sbitmapq: cannot read {{sbq.ws.value_():#x}}")
for i in range(8):  # SBQ_WAIT_QUEUES
    ws = sbq.ws[i]
    head = ws.wait.head
    state = "active" if head.next.value_() != head.prev.value_() else "inactive"
    try:  # gone since 6.2's 4f8126bb2308 (and in 6.1.y)
        # crash prints the int as an unsigned long (%lu)
        count = f".wait_cnt = {{ws.wait_cnt.counter.value_() & 0xFFFFFFFFFFFFFFFF}}, "
    except AttributeError:
        count = ""
    print(f"\\t{{{{ {{count}}.wait = {{state}} }}}},")
print("}}")
print(f"round_robin = {{int(round_robin.value_())}}")
print(f"min_shallow_depth = {{sbq.min_shallow_depth.value_()}}")
print()
data, byte, nbits = [], 0, 0  # the bits in use, packed into bytes
for word, clr, bits in words:
    word &= ~clr
    while bits > 0:
        n = min(8 - nbits, bits)
        byte |= (word & ((1 << n) - 1)) << nbits
        nbits += n
        if nbits == 8:
            data.append(byte)
            byte = nbits = 0
        word >>= n
        bits -= n
if nbits:
    data.append(byte)
for off in range(0, len(data), 16):
    chunk = data[off:off + 16]
    print(f"{{off:08x}}: " + " ".join(bytes(chunk[i:i + 2]).hex() for i in range(0, len(chunk), 2)))
"""


#: sbitmapq -s -a --drgn: each set bit's element, sbitmap_for_each_set()
_SBITMAPQ_ENTRIES_CODE = """\
SIZE = {size}  # the element's size (-p: a pointer's)
scanned = 0
for index, (word, clr, bits) in enumerate(words):
    bits = min(bits, depth - scanned)
    scanned += bits
    for nr in range(bits):
        if (word & ~clr) >> nr & 1:
            idx = (index << shift) + nr
{show}
    if scanned >= depth:
        break
"""

#: the line of one set bit without -v, and with -v (the element formatted by
#: drgn, whole or member by member)
_SBITMAPQ_ENTRY_CODE = """\
            print(f"{{idx}}: 0x{{{array} + SIZE * idx:08x}}")"""
_SBITMAPQ_VERBOSE_CODE = """\
            addr = {array} + SIZE * idx
            print(f"{{idx}} (0x{{addr:08x}}):")
            if {pointers}:  # -p: the element is a pointer to the structure
                addr = prog.read_u64(addr)
            obj = Object(prog, {type_name!r}, address=addr)
            members = {members!r}
            if not members:  # crash's dump_struct(): struct's text
                print(struct_text(obj, *{type_name!r}.split(" ", 1), {radix}))
            for m in members:  # crash's dump_struct_member()
                print(member_line(obj, m, {radix}))"""


def _sbitmapq_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``sbitmapq ADDR --drgn``: the summary and the bitmap read by drgn;
    ``-s STRUCT -a ARRAY [-p]``: the INDEX: ADDRESS lines; ``-v``: each
    element (or its members) in crash's ``struct`` text
    (:data:`plugins.lists.CRASH_MEMBER_CODE`) after its ``N (0xADDR):``
    line."""
    from kmemx.commands.drgncode import only, text_script

    from .lists import kernel_address

    head = _SBITMAPQ_CODE.format(addr=kernel_address(ctx, args.address, "sbitmapq"))
    if args.struct or args.array is not None:
        if not (args.struct and args.array is not None):
            raise only("sbitmapq", "the summary and -s -a [-p] [-v]")
        name, _, members = args.struct.partition(".")
        t = ctx.prog.type(name if name.startswith(("struct ", "union ")) else f"struct {name}")
        size = 8 if args.pointers else t.size
        array = kernel_address(ctx, args.array, "sbitmapq")
        show = (_SBITMAPQ_VERBOSE_CODE.format(
            array=array, pointers=bool(args.pointers), type_name=t.type_name(),
            members=[m.strip() for m in members.split(",") if m.strip()],
            radix=args.radix or 10) if args.verbose
            else _SBITMAPQ_ENTRY_CODE.format(array=array))
        if args.verbose:
            from .lists import CRASH_MEMBER_CODE

            return text_script(ctx, CRASH_MEMBER_CODE + "\n\n" + head
                               + _SBITMAPQ_ENTRIES_CODE.format(size=size, show=show),
                               ["drgn:FaultError,Object,SymbolKind,TypeKind,sizeof"])
        return text_script(ctx, head + _SBITMAPQ_ENTRIES_CODE.format(size=size, show=show),
                           ["drgn:Object"])
    return text_script(ctx, head + _SBITMAPQ_SUMMARY_CODE.format(),
                       ["drgn:Object", "drgn.helpers.linux.cpumask:for_each_possible_cpu",
                        "drgn.helpers.linux.percpu:per_cpu_ptr"])


@command("sbitmapq", "a struct sbitmap_queue: its summary and bitmap (crash's sbitmapq)",
         description="""
         sbitmapq ADDR            crash's lines: depth, busy, cleared, bits_per_word,
                                  map_nr, alloc_hint (each possible CPU's), wake_batch,
                                  wake_index, ws_active, the 8 wait queues (wait_cnt,
                                  active when a waiter is queued), round_robin,
                                  min_shallow_depth, then the bitmap in use (word &
                                  ~cleared) as bytes, 16 a line
         sbitmapq -s STRUCT -a ARRAY ADDR
                                  INDEX: ADDRESS of each set bit's element of ARRAY
                                  (an array of STRUCT); -p: ARRAY holds pointers
         sbitmapq -s STRUCT[.m1,m2] -a ARRAY -v ADDR
                                  each element (or its members) as drgn formats it
                                  (crash prints gdb's; -x/-d the integer base)
         ADDR is a struct sbitmap_queue (e.g. a blk_mq_tags' bitmap_tags).
         --json: one row of the summary (ALLOC_HINT and WS as words, BITMAP the
         bytes in hex), or INDEX ADDRESS rows.
         """,
         arguments=[arg("address", metavar="ADDR", help="a struct sbitmap_queue"),
                    arg("-s", dest="struct", metavar="STRUCT[.MEMBER,...]",
                        help="the structure of the array the set bits index"),
                    arg("-a", dest="array", metavar="ARRAY", help="the array's address"),
                    arg("-p", dest="pointers", action="store_true",
                        help="the array holds pointers to the structures"),
                    arg("-v", dest="verbose", action="store_true",
                        help="show each structure"),
                    arg("-x", dest="radix", action="store_const", const=16,
                        help="integers in hexadecimal"),
                    arg("-d", dest="radix", action="store_const", const=10,
                        help="integers in decimal")],
         columns=SBITMAPQ_COLUMNS, drgn_code=_sbitmapq_drgn)
def _sbitmapq(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from .lists import kernel_address

    try:
        ctx.prog.type("struct sbitmap_queue")
    except LookupError:
        raise CommandError("sbitmapq: the kernel has no struct sbitmap_queue (before 4.9)") \
            from None
    if args.struct and args.array is None:
        raise CommandError("sbitmapq: -s option requires -a option")
    if args.array is not None and not args.struct:
        raise CommandError("sbitmapq: -a option is used with -s option only")
    if args.pointers and args.array is None:
        raise CommandError("sbitmapq: -p option requires -a option")
    if args.verbose and not args.struct:
        raise CommandError("sbitmapq: -v option requires -s option")
    addr = kernel_address(ctx, args.address, "sbitmapq")
    sbq = drgn.Object(ctx.prog, "struct sbitmap_queue", address=addr)
    try:
        if args.struct:
            yield from _entries(ctx, sbq, args.struct, kernel_address(ctx, args.array, "sbitmapq"),
                                args.pointers, args.verbose, args.radix)
        else:
            yield from _summary(ctx, sbq)
    except drgn.FaultError as e:
        raise CommandError(f"sbitmapq: cannot read {fault_where(e)}") from None
