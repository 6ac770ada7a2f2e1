"""crash's address and memory commands: ptob, btop, ptov, vtop, pte, search,
swap."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import drgn

from kmemx.commands import (
    Address,
    CommandError,
    Context,
    Hex,
    Row,
    TextLine,
    TextRecord,
    arg,
    command,
)
from kmemx.commands.cells import crash_centre, kernel_str
from kmemx.commands.drgncode import nothing_to_translate
from kmemx.helpers.mm import PAGE_SIZE, page_flags
from kmemx.helpers.pgtable import (
    PTE_FLAG_NAMES,
    pgtable_walk,
    pte_flag_names,
    pte_pfn_phys,
)
from kmemx.kernel import Kernel

from .lists import parse_address
from .sched import cpu_list
from .sched import task_pointer as _task_ptr
from .tasks import command_tasks

__all__ = ["crash_page_text", "crash_pte_flags", "crash_pte_text", "page_flag_names",
           "search_memory"]

PAGE_SHIFT = PAGE_SIZE.bit_length() - 1


def _hex(ctx: Context, text: str, what: str) -> int:
    try:
        return parse_address(ctx, text)
    except CommandError:
        raise CommandError(f"{what}: invalid address {text!r}") from None


_ptob_drgn = nothing_to_translate(f"ptob is arithmetic: in Python, hex(PFN << {PAGE_SIZE.bit_length() - 1})")


@command("ptob", "page frame numbers to physical addresses (crash's ptob)",
         description="""
         ptob PFN ...             PFN << PAGE_SHIFT, one line each: 'a: a000'
                                  (PFNs decimal, or hex with 0x, as crash reads them;
                                  shown in hex)
         """,
         arguments=[arg("pfns", nargs="+")], columns=("PFN", "PHYSICAL"), drgn_code=_ptob_drgn)
def _ptob(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    for s in args.pfns:
        try:
            pfn = int(s, 0)
        except ValueError:
            raise CommandError(f"ptob: not a number: {s!r}") from None
        yield _pair(ctx, ("PFN", "PHYSICAL"), pfn, pfn << PAGE_SHIFT)


_btop_drgn = nothing_to_translate(f"btop is arithmetic: in Python, hex(ADDR >> {PAGE_SIZE.bit_length() - 1})")


@command("btop", "physical addresses to page frame numbers (crash's btop)",
         description="""
         btop ADDR ...            ADDR >> PAGE_SHIFT, one line each: '5000: 5'
         """,
         arguments=[arg("addresses", nargs="+")], columns=("PHYSICAL", "PFN"),
         drgn_code=_btop_drgn)
def _btop(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    for s in args.addresses:
        addr = _number(s, "btop")
        yield _pair(ctx, ("PHYSICAL", "PFN"), addr, addr >> PAGE_SHIFT)


def _number(s: str, what: str) -> int:
    """A hex number as crash reads ptob/btop arguments (``0x`` optional)."""
    try:
        return int(s, 16)
    except ValueError:
        raise CommandError(f"{what}: not a hexadecimal number: {s!r}") from None


def _pair(ctx: Context, cols: tuple[str, str], a: int, b: int) -> Any:
    if ctx.as_json:
        return Row(cols, (Hex(a), Hex(b)))
    return TextLine(f"{a:x}: {b:x}")


def _ptov_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``ptov PADDR|OFFSET:CPUSPEC... --drgn``: drgn's phys_to_virt(), or a
    per-CPU offset in each CPU's area (``__per_cpu_offset[]``)."""
    from kmemx.commands.drgncode import table_script

    body = ""
    for s in args.addresses:
        if ":" in s:  # a per-CPU offset: __per_cpu_offset[cpu] + OFFSET
            off_text, _, spec = s.partition(":")
            cpus = cpu_list(ctx, spec or str(ctx.current_cpu()))
            body += f"""\
table("CPU", "VIRTUAL")
for cpu in {cpus}:
    row(cpu, hex(prog["__per_cpu_offset"][cpu].value_() + {_number(off_text, "ptov"):#x}))
"""
        elif _is_aarch64(ctx):
            body += f"""\
table("VIRTUAL", "PHYSICAL")
try:  # __phys_to_virt(): x - physvirt_offset from v5.4 until 7bc1a0f9e176 (v5.11)
    va = ({_number(s, "ptov"):#x} - prog["physvirt_offset"].value_()) & (1 << 64) - 1
except KeyError:  # (x - PHYS_OFFSET) | PAGE_OFFSET, PAGE_OFFSET = __va(PHYS_OFFSET)
    phys_offset = prog["memstart_addr"].value_()
    va = (({_number(s, "ptov"):#x} - phys_offset) & (1 << 64) - 1) | phys_to_virt(
        prog, phys_offset).value_()
row(hex(va), "{_number(s, "ptov"):#x}")
"""
        else:
            body += f"""\
table("VIRTUAL", "PHYSICAL")
row(hex(phys_to_virt(prog, {_number(s, "ptov"):#x}).value_()), "{_number(s, "ptov"):#x}")
"""
    return table_script(ctx, (), body, ["drgn.helpers.linux.mm:phys_to_virt"])


def _ptov_one(ctx: Context, paddr: int) -> int:
    """``__va(paddr)`` as the kernel's ``__phys_to_virt()`` computes it, for
    any ``paddr`` (``phys_addr_t``; no RAM needed there): drgn's
    phys_to_virt() on x86-64 (``x + page_offset_base``); arm64's macro
    (:func:`kmemx.arch.aarch64.phys_to_virt`, crash's arm64_PTOV()) there,
    which differs from an addition below ``PHYS_OFFSET``.  No errors of its
    own (a missing ``memstart_addr`` is a LookupError)."""
    from drgn.helpers.linux.mm import phys_to_virt

    prog = ctx.prog
    if not _is_aarch64(ctx):
        return int(phys_to_virt(prog, paddr)) & 0xFFFFFFFFFFFFFFFF
    from kmemx.arch.aarch64 import phys_to_virt as arm64_phys_to_virt

    try:  # v5.4 until commit 7bc1a0f9e176 (v5.11)
        physvirt: int | None = int(prog["physvirt_offset"])
    except KeyError:
        physvirt = None
    phys_offset = int(prog["memstart_addr"])  # PHYS_OFFSET
    page_offset = int(phys_to_virt(prog, phys_offset))  # PAGE_OFFSET = __va(PHYS_OFFSET)
    return arm64_phys_to_virt(paddr, phys_offset, page_offset, physvirt)


@command("ptov", "physical addresses (or per-CPU offsets) to kernel virtual addresses",
         description="""
         ptov PADDR ...           the direct-map address of each: VIRTUAL PHYSICAL
         ptov OFFSET:CPUSPEC      a per-CPU offset on these CPUs (':a' all, ':1,3'):
                                  the per-CPU area's address (__per_cpu_offset[cpu] +
                                  OFFSET)
         """,
         arguments=[arg("addresses", nargs="+")], columns=("VIRTUAL", "PHYSICAL"),
         drgn_code=_ptov_drgn)
def _ptov(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    for s in args.addresses:
        if ":" in s:
            off_text, _, spec = s.partition(":")
            off = _number(off_text, "ptov")
            cpus = cpu_list(ctx, spec or str(ctx.current_cpu()))
            per_cpu_offset = ctx.prog["__per_cpu_offset"]
            if not ctx.as_json:
                yield TextLine(f"PER-CPU OFFSET: {off:x}")
                yield TextLine("  CPU    VIRTUAL")
            for cpu in cpus:
                va = int(per_cpu_offset[cpu]) + off
                if ctx.as_json:
                    yield Row(("CPU", "VIRTUAL"), (cpu, Address(va)))
                else:
                    yield TextLine(f"  [{cpu}]  {va:x}")
            continue
        pa = _number(s, "ptov")
        yield Row(("VIRTUAL", "PHYSICAL"), (Address(_ptov_one(ctx, pa)), Address(pa)))


def page_flag_names(k: Kernel, flags: int) -> str:
    """The names of the flags set in ``page->flags`` (``unsigned long``),
    comma-separated, in the order and spelling of the kernel's
    ``pageflag_names[]`` (mm/debug.c, ``%pGp``), as crash's ``kmem -p``,
    ``vtop`` and ``files -p`` FLAGS print them (7.2.13: ``idle`` before
    ``young``, whose bits are the other way round); before 4.6, which has no
    such table, the ``enum pageflags`` names below ``__NR_PAGEFLAGS``
    (section/node/zone fields above), the first name of each bit, by bit."""
    from kmemx.helpers import mmzone

    try:
        names = mmzone.pageflag_names(k)
    except LookupError:
        names = _pageflags_enum_names(k.prog)
    return ",".join(name for mask, name in names if flags & mask)


def _pageflags_enum_names(prog: drgn.Program) -> list[tuple[int, str]]:
    """``(mask, name)`` of each bit of ``enum pageflags`` below
    ``__NR_PAGEFLAGS``, its first name without ``PG_``, by bit (cached)."""
    cache: list[tuple[int, str]] | None = prog.cache.get("kmemx.plugins.memory.pageflags")
    if cache is None:
        t = prog.type("enum pageflags")
        limit = next((v for n, v in t.enumerators or () if n == "__NR_PAGEFLAGS"), 64)
        seen: set[int] = set()
        cache = []
        for name, value in t.enumerators or ():
            if value < limit and value not in seen:
                seen.add(value)
                cache.append((1 << value, name.removeprefix("PG_")))
        prog.cache["kmemx.plugins.memory.pageflags"] = cache
    return cache


def _page_line(ctx: Context, paddr: int) -> list[Any]:
    from drgn.helpers.linux.mm import phys_to_page

    page = phys_to_page(ctx.prog, paddr)
    flags = page_flags(page)
    try:  # 6.16, "mm: rename page->index to page->__folio_index"
        index = page.member_("__folio_index")
    except LookupError:
        index = page.index
    cells = [Address(int(page.value_())), Address(paddr & ~(PAGE_SIZE - 1)),
             Address(int(page.mapping.value_())), Hex(int(index)),
             int(page._refcount.counter), Hex(flags), page_flag_names(ctx.k, flags)]
    return cells


def _pgd_phys(ctx: Context, mm: drgn.Object) -> int:
    from drgn.helpers.linux.mm import follow_phys

    init_mm = ctx.prog["init_mm"].address_of_()
    return int(follow_phys(init_mm, int(mm.pgd.value_())))


def _vtop_mm(ctx: Context, vaddr: int, task: drgn.Object | None,
             user: bool | None) -> tuple[bool, drgn.Object | None]:
    """(whether ``vaddr`` is a user address, the ``struct mm_struct *`` to
    walk): ``init_mm`` for a kernel address; for a user address the task's
    (the current context's by default) mm, or None when no VMA of the task
    holds the address (a kernel thread has none): crash's do_vtop() then
    prints ``(not accessible)`` (memory.c, IN_TASK_VMA())."""
    from drgn.helpers.linux.mm import vma_find

    is_user = user if user is not None else vaddr < (1 << 63)
    if not is_user:
        return False, ctx.prog["init_mm"].address_of_()
    if task is None:
        task = ctx.current_task()
    mm = task.mm.read_()
    if not mm or not vma_find(mm, vaddr):
        return True, None
    return True, mm


def _not_accessible(ctx: Context, vaddr: int, width: int) -> Iterator[Any]:
    """crash's vtop of a user address no VMA of the task holds."""
    if ctx.as_json:
        yield Row(("VIRTUAL", "PHYSICAL", "PAGE_SIZE", "PTE", "FLAGS", "ENTRIES"),
                  (Address(vaddr), None, None, None, "not accessible", []))
        return
    yield TextLine(f"{'VIRTUAL':<{width}}  {'PHYSICAL':<16}")
    yield TextLine(f"{vaddr:<{width}x}  (not accessible)")
    yield TextLine("")


def _vtop_one(ctx: Context, vaddr: int, task: drgn.Object | None,
              user: bool | None, shown: set[str]) -> Iterator[Any]:
    is_user, mm = _vtop_mm(ctx, vaddr, task, user)
    if mm is None:
        yield from _not_accessible(ctx, vaddr, 10)
        return
    try:
        pgd = _pgd_phys(ctx, mm)
        entries = list(pgtable_walk(ctx.prog, pgd, vaddr))
    except drgn.FaultError as fault:
        raise CommandError(f"vtop: {vaddr:x}: page table at {fault.address:#x} is not in "
                           "the dump") from None
    last = entries[-1]
    # x86_64_uvtop_level4()/x86_64_kvtop(): a PTE with _PAGE_PROTNONE (a
    # PROT_NONE or NUMA-hinting mapping) maps its page too
    present = bool(last.value & 1) or (last.level == "PTE" and bool(last.value & _PROTNONE))
    size = {"PUD": 1 << 30, "PMD": 1 << 21}.get(last.level, PAGE_SIZE)
    phys = pte_pfn_phys(last.value) & ~(size - 1) | (vaddr & (size - 1)) if present else None
    if ctx.as_json:
        yield Row(("VIRTUAL", "PHYSICAL", "PAGE_SIZE", "PTE", "FLAGS", "ENTRIES"),
                  (Address(vaddr), Address(phys) if phys is not None else None, size,
                   Hex(last.value), "|".join(pte_flag_names(last.value)),
                   [[e.level, Address(e.address), Hex(e.value)] for e in entries]))
        return
    width = 16 if vaddr >= 1 << 32 and not is_user else 10
    yield from _vtop_head(vaddr, phys, width)
    first = entries[0]
    if not is_user:
        yield TextLine(f"PGD DIRECTORY: {int(mm.pgd.value_()):x}")
        yield TextLine(f"PAGE DIRECTORY: {first.value:x}")
        rest = entries[1:]
    else:
        rest = entries
    for e in rest:
        yield TextLine(f"   {e.level}: {e.address:x} => {e.value:x}")
    if not present:
        # a non-zero last-level PTE is a swap entry (x86_64_uvtop_level4(),
        # x86_64_kvtop()): its device and offset
        swap = _swap_of(ctx, last.value) if last.level == "PTE" and last.value else None
        if swap is not None:
            yield TextLine("")
            yield TextRecord(crash_pte_text(last.value, 0, [], swap),
                             {"pte": Hex(last.value), "swap": swap[0], "offset": swap[1]})
        yield from _vtop_unmapped_tail(ctx, mm, vaddr, swap, is_user)
        return
    base = pte_pfn_phys(last.value) & ~(size - 1)
    zero = base in _zero_pages(ctx)
    if is_user:  # x86_64_uvtop_level4(): IS_ZEROPAGE() marks the zero pages
        big = {1 << 30: "  (1GB)", 1 << 21: f"  (2MB{', ZERO PAGE' if zero else ''})"}.get(
            size, "  (ZERO PAGE)" if zero else "  ")
    else:
        big = {1 << 30: "  (1GB)", 1 << 21: "  (2MB)"}.get(size, "")
    yield TextLine(f"  PAGE: {base:x}{big}")
    yield TextLine("")
    flags = crash_pte_flags(last.value)
    yield TextRecord(crash_pte_text(last.value, pte_pfn_phys(last.value), flags),
                     {"pte": Hex(last.value), "physical": Address(pte_pfn_phys(last.value)),
                      "flags": "|".join(flags)})
    yield from _vtop_tail(ctx, mm, vaddr, phys, is_user, shown)


def _vtop_head(vaddr: int, phys: int | None, width: int) -> Iterator[Any]:
    """vtop's first lines, as crash's do_vtop() prints them: VIRTUAL (``width``
    columns: UVADDR_PRLEN 10 for a user address, VADDR_PRLEN 16) and
    PHYSICAL (16, left-justified), or ``(not mapped)``, and a blank line."""
    yield TextLine(f"{'VIRTUAL':<{width}}  {'PHYSICAL':<16}")
    yield TextLine(f"{vaddr:<{width}x}  " + (f"{phys:<16x}" if phys is not None
                                             else "(not mapped)"))
    yield TextLine("")


#: x86-64's _PAGE_PROTNONE: _PAGE_GLOBAL's bit in an entry that is not present
_PROTNONE = 1 << 8


def crash_pte_flags(pte: int) -> list[str]:
    """The names x86_64_translate_pte() gives an x86-64 entry's bits:
    :func:`kmemx.helpers.pgtable.pte_flag_names`, but PSE only in a present
    entry and bit 8 PROTNONE in one that is not (GLOBAL otherwise)."""
    names = pte_flag_names(pte)
    if pte & 1:
        return names
    return ["PROTNONE" if n == "GLOBAL" else n for n in names if n != "PSE"]


def crash_pte_text(pte: int, phys: int, flags: list[str],
                   swap: tuple[str, int] | None = None) -> str:
    """crash's lines for a page-table entry (x86-64.c x86_64_translate_pte(),
    arm64.c arm64_translate_pte()): a ``PTE  PHYSICAL  FLAGS`` header over
    the entry and its physical address in hex (no ``0x``), each centred in
    its column, then ``(FLAG|FLAG)`` (``(no mapping)`` for 0); a swap entry
    (``swap``: device path and offset) ``PTE  SWAP  OFFSET`` instead."""
    ptebuf = f"{pte:x}"
    len1 = max(len(ptebuf), len("PTE"))
    if swap is not None:
        dev, off = swap[0], str(swap[1])
        len2, len3 = max(len(dev), len("SWAP")), max(len(off), len("OFFSET"))
        return (f"{crash_centre('PTE', len1, False)}  {crash_centre('SWAP', len2, False)}  "
                f"{crash_centre('OFFSET', len3, False)}\n"
                f"{crash_centre(ptebuf, len1, True)}  {crash_centre(dev, len2, True)}  "
                f"{crash_centre(off, len3, True)}")
    physbuf = f"{phys:x}"
    len2 = max(len(physbuf), len("PHYSICAL"))
    names = "|".join(flags) if pte else "no mapping"
    return (f"{crash_centre('PTE', len1, False)}  {crash_centre('PHYSICAL', len2, False)}  "
            f"FLAGS\n{crash_centre(ptebuf, len1, True)}  {crash_centre(physbuf, len2, True)}  "
            f"({names})")


def _zero_pages(ctx: Context) -> set[int]:
    """The physical addresses of the zero page and the huge zero page
    (``zero_pfn``, ``huge_zero_pfn`` when set), as crash's IS_ZEROPAGE()."""
    prog = ctx.prog
    cached: set[int] | None = prog.cache.get("kmemx.plugins.memory.zero_pages")
    if cached is None:
        cached = set()
        for name in ("zero_pfn", "huge_zero_pfn"):
            try:
                pfn = prog.read_u64(prog.symbol(name).address)
            except (LookupError, drgn.FaultError):
                continue
            if pfn != (1 << 64) - 1:
                cached.add(pfn << PAGE_SHIFT)
        prog.cache["kmemx.plugins.memory.zero_pages"] = cached
    return cached


def _swap_of(ctx: Context, pte: int) -> tuple[str, int] | None:
    """A swap entry's device path and offset (crash's swap_location(): None
    without swap_info); x86-64's and arm64's encodings."""
    from kmemx.arch import aarch64
    from kmemx.helpers.pagewalk import swp_offset, swp_type

    from .tasks import _swap_device

    try:
        ctx.prog.symbol("swap_info")
    except LookupError:
        return None
    if _is_aarch64(ctx):
        return _swap_device(ctx, aarch64.swp_type(pte)), aarch64.swp_offset(pte)
    return _swap_device(ctx, swp_type(pte)), swp_offset(pte)


def _vma_text(vma: drgn.Object, path: str) -> str:
    """crash's vm_area_dump() header and PRINT_VMA_DATA line for one VMA:
    the address centred in 16 columns, START and END right-aligned in
    UVADDR_PRLEN (10), the flags as ``%6llx``, the file's path."""
    header = (f"{crash_centre('VMA', 16, False)} {crash_centre('START', 10, True)} "
              f"{crash_centre('END', 10, True)}  FLAGS FILE")
    return (f"{header}\n{crash_centre(f'{int(vma.value_()):x}', 16, False)} "
            f"{int(vma.vm_start):>10x} {int(vma.vm_end):>10x} {int(vma.vm_flags):6x} {path}")


def _vma_record(vma: drgn.Object) -> TextRecord:
    """The VMA's lines (:func:`_vma_text`) with its row's data, the VMA piped on."""
    from drgn.helpers.linux.fs import d_path

    file = vma.vm_file.read_()
    path = kernel_str(d_path(file.f_path.address_of_())) if file else ""
    row = Row(("VMA", "START", "END", "FLAGS", "FILE"),
              (Address(int(vma.value_())), Address(int(vma.vm_start)),
               Address(int(vma.vm_end)), Hex(int(vma.vm_flags)), path), vma)
    return TextRecord(_vma_text(vma, path), row.as_dict(), vma)


def _vtop_unmapped_tail(ctx: Context, mm: drgn.Object, vaddr: int,
                        swap: tuple[str, int] | None, is_user: bool) -> Iterator[Any]:
    """crash's do_vtop() after the walk of an address not mapped: a blank
    line; for a user address its VMA, then ``SWAP: dev  OFFSET: n`` or, in a
    file mapping, ``FILE: path  OFFSET: hex`` (vma_file_offset(): the byte
    offset of the page in the file) after a blank line, and a blank line."""
    from drgn.helpers.linux.fs import d_path
    from drgn.helpers.linux.mm import vma_find

    yield TextLine("")
    if not is_user:
        return
    vma = vma_find(mm, vaddr)
    if not vma:
        return
    yield _vma_record(vma)
    file = vma.vm_file.read_()
    if swap is not None:
        yield TextLine("")
        yield TextLine(f"SWAP: {swap[0]}  OFFSET: {swap[1]}")
    elif file:
        start = int(vma.vm_start)
        offset = (((vaddr - start) >> PAGE_SHIFT) + int(vma.vm_pgoff)) << PAGE_SHIFT
        yield TextLine("")
        yield TextLine(f"FILE: {kernel_str(d_path(file.f_path.address_of_()))}  "
                       f"OFFSET: {offset:x}")
    yield TextLine("")


def _vtop_tail(ctx: Context, mm: drgn.Object, vaddr: int, phys: int | None,
               is_user: bool, shown: set[str]) -> Iterator[Any]:
    """vtop's last lines (crash's do_vtop()): the VMA of a user address
    (vm_area_dump()), then the struct page as ``kmem -p`` prints it
    (dump_mem_map()), each after a blank line; the page's header only the
    first time in the command (``shown`` holds "page" once it is)."""
    from drgn.helpers.linux.mm import vma_find

    if is_user:
        vma = vma_find(mm, vaddr)
        if vma:
            yield TextLine("")
            yield _vma_record(vma)
    yield TextLine("")
    try:
        cells = _page_line(ctx, phys if phys is not None else 0)
    except (drgn.FaultError, LookupError, ValueError) as e:
        ctx.warn(f"vtop: {vaddr:x}: no struct page for it ({e})")
        return
    row = Row(("PAGE", "PHYSICAL", "MAPPING", "INDEX", "CNT", "FLAGS", "NAMES"), tuple(cells))
    yield TextRecord(crash_page_text(ctx, cells, "page" not in shown), row.as_dict())
    shown.add("page")


def crash_page_text(ctx: Context, cells: Sequence[Any], header: bool = True) -> str:
    """crash's ``kmem -p`` lines for one struct page (memory.c
    dump_mem_map_SPARSEMEM(): the header and style4's ``%-16lx %*llx %16lx
    %8lx %2d`` line, PHYSICAL as wide as the highest physical address's hex
    (vt->paddr_prlen, at least 8), then translate_page_flags(): the flags in
    hex and their names).  ``header``: crash prints it once a command
    (HEADER_PRINTED)."""
    page, phys, mapping, index, cnt, flags, names = cells
    width = max(_paddr_prlen(ctx), len("PHYSICAL"))
    flagtext = f"{flags:x}" + (f" {names}" if flags and names else "")
    line = f"{page:<16x} {phys:>{width}x} {mapping:>16x} {index:>8x} {cnt:>2} {flagtext}"
    if not header:
        return line
    return (f"{crash_centre('PAGE', 16, False)} {'PHYSICAL':>{width}} "
            f"{crash_centre('MAPPING', 16, True)} {crash_centre('INDEX', 8, True)}CNT FLAGS\n"
            + line)


def _paddr_prlen(ctx: Context) -> int:
    """crash's vt->paddr_prlen (memory.c vm_init()): the hex digits of the
    end of physical memory, ``max_pfn`` pages."""
    try:
        end = int(ctx.prog["max_pfn"]) << PAGE_SHIFT
    except (LookupError, drgn.FaultError):
        return 8
    return len(f"{end:x}")


def _vtop_one_aarch64(ctx: Context, vaddr: int, task: drgn.Object | None,
                     user: bool | None, shown: set[str]) -> Iterator[Any]:
    """arm64's vtop, as crash's arm64_vtop_*_4k() and arm64_translate_pte()
    print it: the table's and the descriptors' kernel virtual addresses,
    a block's size, the descriptor's bits (:func:`kmemx.arch.aarch64.pte_flag_names`)."""
    from drgn.helpers.linux.mm import phys_to_virt

    from kmemx.arch.aarch64 import descriptor_phys, pgtable_walk, runtime_va_bits
    from kmemx.arch.aarch64 import pte_flag_names as arm64_flag_names

    info = getattr(ctx.k, "vmcoreinfo", None)
    if info is None or info.va_bits is None:
        raise CommandError("vtop: the dump has no VMCOREINFO VA_BITS: the arm64 page-table "
                           "layout is unknown")
    va_bits = runtime_va_bits(info.va_bits, info.tcr_el1_t1sz, PAGE_SIZE.bit_length() - 1)
    is_user, mm = _vtop_mm(ctx, vaddr, task, user)
    if mm is None:  # crash's UVADDR_PRLEN: 10 on arm64 as on x86-64 (defs.h)
        yield from _not_accessible(ctx, vaddr, 10)
        return
    prog = ctx.prog
    pgd_virt = int(mm.pgd.value_())

    def read_u64(paddr: int) -> int:
        return int.from_bytes(prog.read(paddr, 8, True), "little")

    try:
        pgd = _pgd_phys(ctx, mm)
        walk = list(pgtable_walk(pgd, vaddr, va_bits, read_u64))
    except drgn.FaultError as fault:
        raise CommandError(f"vtop: {vaddr:x}: page table at {fault.address:#x} is not in "
                           "the dump") from None
    # the descriptors' kernel virtual addresses, as crash prints them: the
    # top table where mm->pgd points, the others in the linear map (__va)
    entries = [(level, pgd_virt + (addr - pgd) if n == 0
                else int(phys_to_virt(prog, addr).value_()), value)
               for n, (level, addr, value) in enumerate(walk)]
    level, _, value = entries[-1]
    present = value & 3 == 3 if level == "PTE" else value & 3 == 1
    size = 1 << (PAGE_SIZE.bit_length() - 1 + 9 * ("PUD", "PMD", "PTE")[::-1].index(level)) \
        if level in ("PUD", "PMD", "PTE") else PAGE_SIZE
    base = descriptor_phys(value, va_bits) & ~(size - 1)
    phys = base | (vaddr & (size - 1)) if present else None
    flags = arm64_flag_names(value)
    if ctx.as_json:
        yield Row(("VIRTUAL", "PHYSICAL", "PAGE_SIZE", "PTE", "FLAGS", "ENTRIES"),
                  (Address(vaddr), Address(phys) if phys is not None else None, size,
                   Hex(value), "|".join(flags),
                   [[lv, Address(a), Hex(v)] for lv, a, v in entries]))
        return
    yield from _vtop_head(vaddr, phys, 10 if is_user else 16)  # do_vtop()'s UVADDR_PRLEN
    yield TextLine(f"PAGE DIRECTORY: {pgd_virt:x}")
    for lv, a, v in entries:
        yield TextLine(f"   {lv}: {a:x} => {v:x}")
    if not present:
        return
    big = {1 << 30: "  (1GB)", 1 << 21: "  (2MB)"}.get(size, "  ")
    yield TextLine(f"  PAGE: {base:x}{big}")
    yield TextLine("")
    out = descriptor_phys(value, va_bits)
    yield TextRecord(crash_pte_text(value, out, flags),
                     {"pte": Hex(value), "physical": Address(out), "flags": "|".join(flags)})
    yield from _vtop_tail(ctx, mm, vaddr, phys, is_user, shown)


def _is_aarch64(ctx: Context) -> bool:
    """Whether the dump is an arm64 kernel's."""
    from kmemx.arch import is_aarch64

    return is_aarch64(ctx.prog)


def _x86_64_only(ctx: Context, message: str) -> None:
    """vtop and pte (and their --drgn) decode x86-64 entries: ``message``,
    one line, on another architecture's dump."""
    from kmemx.arch import is_x86_64

    if not is_x86_64(ctx.prog):
        raise CommandError(message)


#: vtop --drgn: _vtop_mm()'s rule, a user address no VMA of the task holds
#: (crash's "(not accessible)")
_NOT_ACCESSIBLE_CODE = """\
    if mm.value_() != prog["init_mm"].address_of_().value_() and (
            not mm or not vma_find(mm, vaddr)):
        row(hex(vaddr), None, None, None, "not accessible", "")
        continue
"""


def _vtop_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``vtop ADDR... --drgn``: each address's page-table entries (x86-64,
    4 or 5 levels) and, of a mapped one, drgn's follow_phys(); the rows of
    ``vtop --json``."""
    from kmemx.commands.drgncode import table_script

    addrs = [_hex(ctx, s, "vtop") for s in args.addresses]
    aarch64 = _is_aarch64(ctx)
    if not aarch64:
        _x86_64_only(ctx, "vtop: only x86-64 and arm64 page tables are walked")
    if args.task is not None:
        task = _task_ptr(ctx, command_tasks(ctx, [args.task], (), "vtop")[0])
        mm = f"Object(prog, 'struct task_struct *', {int(task.value_()):#x}).mm"
    else:
        mm = f"Object(prog, 'struct task_struct *', {int(ctx.current_task().value_()):#x}).mm"
    user = "vaddr < 1 << 63" if args.user is None else repr(args.user)
    if aarch64:
        return _vtop_drgn_aarch64(ctx, addrs, mm, user)
    names = ", ".join(f"({bit}, {name!r})" for bit, name in PTE_FLAG_NAMES)
    return table_script(ctx, ("VIRTUAL", "PHYSICAL", "PAGE_SIZE", "PTE", "FLAGS", "ENTRIES"), f"""\
FLAGS = [{names}]  # _PAGE_BIT_* in crash's order
PFN_MASK = ((1 << 52) - 1) & ~0xFFF
try:
    l5 = bool(prog["__pgtable_l5_enabled"])
except KeyError:  # !CONFIG_X86_5LEVEL
    l5 = False
levels = [("PGD", 48), ("P4D", 39), ("PUD", 30), ("PMD", 21), ("PTE", 12)]
if not l5:
    del levels[1]
for vaddr in {[hex(a) for a in addrs]}:
    vaddr = int(vaddr, 16)
    mm = {mm} if {user} else prog["init_mm"].address_of_()  # the context's task
{_NOT_ACCESSIBLE_CODE}    table = follow_phys(prog["init_mm"].address_of_(), mm.pgd.value_())
    entries = []
    for level, shift in levels:  # pgd_offset() ... pte_offset_kernel()
        addr = table + ((vaddr >> shift) & 511) * 8
        value = int.from_bytes(prog.read(addr, 8, True), "little")
        entries.append((level, addr, value))
        if not value & 1 or level in ("PUD", "PMD") and value & 0x80:  # !PRESENT, PSE
            break
        table = value & PFN_MASK
    level, _, value = entries[-1]
    size = {{"PUD": 1 << 30, "PMD": 1 << 21}}.get(level, 4096)
    phys = hex(follow_phys(mm, vaddr)) if value & 1 else None
    row(hex(vaddr), phys, size, value, "|".join(n for b, n in FLAGS if value >> b & 1),
        " ".join(f"{{lv}} {{hex(a)}} {{v}}" for lv, a, v in entries))
""".replace("'", '"'), ["drgn:Object", "drgn.helpers.linux.mm:follow_phys,vma_find"])


def _vtop_drgn_aarch64(ctx: Context, addrs: list[int], mm: str, user: str) -> str:
    """``vtop --drgn`` on arm64: the descriptors of each level (4 KiB
    granule), their kernel virtual addresses as crash prints them, and of a
    mapped address drgn's follow_phys()."""
    from kmemx.arch.aarch64 import PTE_FLAG_NAMES as ARM64_FLAGS
    from kmemx.commands.drgncode import table_script

    names = ", ".join(f"({mask:#x}, {name!r})" for mask, name in ARM64_FLAGS)
    return table_script(ctx, ("VIRTUAL", "PHYSICAL", "PAGE_SIZE", "PTE", "FLAGS", "ENTRIES"), f"""\
FLAGS = [{names}]  # the bits crash's arm64_translate_pte() names, in its order
info = dict(line.split("=", 1) for line in
            prog["VMCOREINFO"].string_().decode().splitlines() if "=" in line)
va_bits = int(info["NUMBER(VA_BITS)"])
t1sz = int(info.get("NUMBER(TCR_EL1_T1SZ)", "0"), 0)
if t1sz:  # the run-time size, 4 KiB pages (drgn's rule)
    va_bits = 64 - t1sz
levels = (va_bits - 12 + 8) // 9
level_names = {{5: ["PGD", "P4D", "PUD", "PMD", "PTE"], 4: ["PGD", "PUD", "PMD", "PTE"],
               3: ["PGD", "PMD", "PTE"]}}[levels]


def out(e):  # __pte_to_phys(): 52-bit output addresses keep bits 49:48 and 9:8 (LPA2)
    pa = e & 0x0000FFFFFFFFF000
    return pa | (e & 0x0003000000000000) | ((e & 0x300) << 42) if va_bits == 52 else pa


for vaddr in {[hex(a) for a in addrs]}:
    vaddr = int(vaddr, 16)
    mm = {mm} if {user} else prog["init_mm"].address_of_()  # the context's task
{_NOT_ACCESSIBLE_CODE}    pgd = mm.pgd.value_()
    table = top = follow_phys(prog["init_mm"].address_of_(), pgd)
    shift, n = 12 + 9 * (levels - 1), 1 << ((va_bits - 13) % 9 + 1)
    entries = []
    for name in level_names:  # pgd_offset() ... pte_offset_kernel()
        addr = table + ((vaddr >> shift) & (n - 1)) * 8
        value = int.from_bytes(prog.read(addr, 8, True), "little")
        virt = pgd + addr - top if table == top else phys_to_virt(prog, addr).value_()
        entries.append((name, virt, value))
        if shift == 12 or value & 3 != 3:  # the page, a block or an invalid entry
            break
        table, shift, n = out(value), shift - 9, 512
    level, _, value = entries[-1]
    present = value & 3 == (3 if level == "PTE" else 1)
    size = {{"PUD": 1 << 30, "PMD": 1 << 21}}.get(level, 4096)
    phys = hex(follow_phys(mm, vaddr)) if present else None
    row(hex(vaddr), phys, size, value, "|".join(n for m, n in FLAGS if value & m),
        " ".join(f"{{lv}} {{hex(a)}} {{v}}" for lv, a, v in entries))
""".replace("'", '"'), ["drgn:Object",
                                "drgn.helpers.linux.mm:follow_phys,phys_to_virt,vma_find"])


@command("vtop", "translate a virtual address, showing every page-table level",
         description="""
         vtop ADDR ...            kernel addresses through init_mm's page tables, user
                                  addresses through the current context's: VIRTUAL
                                  PHYSICAL, the PGD/P4D/PUD/PMD/PTE entries
                                  (address => value), the page (1GB/2MB for large
                                  pages), PTE PHYSICAL FLAGS, the VMA of a user
                                  address, and the struct page (PAGE PHYSICAL MAPPING
                                  INDEX CNT FLAGS, with the flags' names): crash's text;
                                  a user page not mapped: its VMA and FILE: or SWAP:
         vtop -c PID|TASK ADDR    through that task's page tables
         vtop -u / -k ADDR        the address is a user / kernel address
         vtop --json ADDR         VIRTUAL PHYSICAL PAGE_SIZE PTE FLAGS ENTRIES rows
         x86-64 and arm64.
         """,
         arguments=[arg("addresses", nargs="+"),
                    arg("-c", dest="task", help="PID or task address"),
                    arg("-u", dest="user", action="store_const", const=True),
                    arg("-k", dest="user", action="store_const", const=False)],
         columns=("VIRTUAL", "PHYSICAL"), drgn_code=_vtop_drgn)
def _vtop(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    addresses = [_hex(ctx, s, "vtop") for s in args.addresses]  # bad input first
    one = _vtop_one_aarch64 if _is_aarch64(ctx) else _vtop_one
    if one is _vtop_one:
        _x86_64_only(ctx, "vtop: only x86-64 and arm64 page tables are walked")
    task = None
    if args.task is not None:
        task = _task_ptr(ctx, command_tasks(ctx, [args.task], (), "vtop")[0])
    shown: set[str] = set()  # the struct page's header: once a command, as crash
    for n, vaddr in enumerate(addresses):
        if n and not ctx.as_json:
            yield TextLine("")
        yield from one(ctx, vaddr, task, args.user, shown)


def _pte_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``pte VALUE... --drgn``: the x86-64 entry's page and _PAGE_* bits."""
    from kmemx.commands.drgncode import table_script

    values = [_number(s, "pte") for s in args.values]
    if _is_aarch64(ctx):
        from kmemx.arch.aarch64 import PTE_FLAG_NAMES as ARM64_FLAGS

        masks = ", ".join(f"({mask:#x}, {name!r})" for mask, name in ARM64_FLAGS)
        return table_script(ctx, ("PTE", "PHYSICAL", "FLAGS"), f"""\
FLAGS = [{masks}]  # the bits crash's arm64_translate_pte() names, in its order
info = dict(line.split("=", 1) for line in
            prog["VMCOREINFO"].string_().decode().splitlines() if "=" in line)
t1sz = int(info.get("NUMBER(TCR_EL1_T1SZ)", "0"), 0)
va_bits = 64 - t1sz if t1sz else int(info["NUMBER(VA_BITS)"])
for v in {[hex(v) for v in values]}:
    v = int(v, 16)
    if v & 0x400000000000001:  # VALID or PROT_NONE; a swap entry is not decoded
        pa = v & 0x0000FFFFFFFFF000  # __pte_to_phys(), 52-bit: bits 49:48 and 9:8
        if va_bits == 52:
            pa |= (v & 0x0003000000000000) | ((v & 0x300) << 42)
        row(v, hex(pa), "(" + "|".join(n for m, n in FLAGS if v & m) + ")")
""".replace("'", '"'))
    _x86_64_only(ctx, "pte: only x86-64 and arm64 page-table entries are decoded")
    names = ", ".join(f"({bit}, {name!r})" for bit, name in PTE_FLAG_NAMES)
    return table_script(ctx, ("PTE", "PHYSICAL", "FLAGS"), f"""\
FLAGS = [{names}]  # _PAGE_BIT_* in crash's order
for v in {[hex(v) for v in values]}:
    v = int(v, 16)
    if v & 1:  # present; a swap entry is not decoded
        row(v, hex(v & ((1 << 52) - 1) & ~0xFFF),
            "(" + "|".join(n for b, n in FLAGS if v >> b & 1) + ")")
""".replace("'", '"'))


def _pte_aarch64(ctx: Context, values: list[int]) -> Iterator[Any]:
    """arm64's pte rows, as crash's arm64_translate_pte() prints a present
    descriptor (VALID or PROT_NONE): its output address and named bits."""
    from kmemx.arch.aarch64 import PTE_FLAG_NAMES, descriptor_phys, runtime_va_bits
    from kmemx.arch.aarch64 import pte_flag_names as arm64_flag_names

    info = getattr(ctx.k, "vmcoreinfo", None)
    va_bits = (runtime_va_bits(info.va_bits, info.tcr_el1_t1sz, PAGE_SIZE.bit_length() - 1)
               if info is not None and info.va_bits is not None else 48)
    prot_none = next(mask for mask, name in PTE_FLAG_NAMES if name == "PROT_NONE")
    for v in values:
        if not v & (1 | prot_none):
            ctx.warn(f"pte: {v:x}: not present (a swap entry or none): not decoded")
            continue
        yield Row(("PTE", "PHYSICAL", "FLAGS"),
                  (Hex(v), Address(descriptor_phys(v, va_bits)),
                   "(" + "|".join(arm64_flag_names(v)) + ")"))


@command("pte", "decode page-table entry values (crash's pte)",
         description="""
         pte VALUE ...            PTE PHYSICAL FLAGS: the page an x86-64 entry points to
                                  and its _PAGE_* bits; an entry that is not present
                                  (a swap entry) is reported, not decoded.
                                  x86-64 only.
         """,
         arguments=[arg("values", nargs="+")], columns=("PTE", "PHYSICAL", "FLAGS"),
         drgn_code=_pte_drgn)
def _pte(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    values = [_number(s, "pte") for s in args.values]  # bad input first
    if _is_aarch64(ctx):
        yield from _pte_aarch64(ctx, values)
        return
    _x86_64_only(ctx, "pte: only x86-64 and arm64 page-table entries are decoded")
    for v in values:
        if not v & 1:
            ctx.warn(f"pte: {v:x}: not present (a swap entry or none): not decoded")
            continue
        yield Row(("PTE", "PHYSICAL", "FLAGS"),
                  (Hex(v), Address(pte_pfn_phys(v)), "(" + "|".join(pte_flag_names(v)) + ")"))


# ---------------------------------------------------------------------------- search

def _search_end(ctx: Context, args: argparse.Namespace, physical: bool) -> int | None:
    """``search -e END``'s END, or None."""
    if args.end is None:
        return None
    return _number(args.end, "search") if physical else _hex(ctx, args.end, "search")


def _clip_ranges(ctx: Context, args: argparse.Namespace, ranges: list[tuple[int, int]],
                 physical: bool) -> list[tuple[int, int]]:
    """``ranges`` (a space's, lowest first) cut to crash's ``-e END`` or
    ``-l LENGTH`` without ``-s``: from the space's start (its lowest address,
    crash's default start) to END, or LENGTH bytes from there (memory.c
    cmd_search()); ``ranges`` as they are without either."""
    if (args.end is None and args.length is None) or not ranges:
        return ranges
    lo = min(a for a, _ in ranges)
    hi = _search_end(ctx, args, physical)
    if hi is None:
        hi = lo + _number(args.length, "search")
    return [(max(a, lo), min(b, hi)) for a, b in ranges if a < hi and b > lo]


def _kernel_ranges(ctx: Context) -> list[tuple[int, int]]:
    """Kernel virtual memory as ``search -k`` covers it, lowest address
    first, overlaps merged: the direct map of each memblock memory region,
    each vmap area (vmalloc, modules; on arm64 the kernel image's segments
    too), the ``struct page`` array of each present memory section (the
    vmemmap) and the kernel image (_text.._end).  crash's ranges, read
    where the kernel maps them: its unity map up to high_memory and its
    vmalloc range (x86-64: everything above VMALLOC_START, the vmemmap and
    the image included; arm64: arm64_get_kvaddr_ranges(): the unity map,
    vmalloc, modules, vmemmap)."""
    from drgn.helpers.linux.mm import for_each_vmap_area, phys_to_virt

    from kmemx.helpers.mmzone import PAGES_PER_SECTION, for_each_present_section

    prog = ctx.prog
    ranges = []
    mem = prog["memblock"].memory
    for i in range(int(mem.cnt)):
        r = mem.regions[i]
        start = int(phys_to_virt(prog, int(r.base)))
        ranges.append((start, start + int(r.size)))
    try:
        ranges += [(int(va.va_start), int(va.va_end)) for va in for_each_vmap_area(prog)]
    except (LookupError, AttributeError):
        pass
    try:
        span = PAGES_PER_SECTION(ctx.k) * ctx.k.sizeof("struct page")
        ranges += [(ms.mem_map, ms.mem_map + span) for ms in for_each_present_section(ctx.k)]
    except LookupError:  # !SPARSEMEM: mem_map is in the direct map
        pass
    text, end = prog.symbol("_text").address, prog.symbol("_end").address
    if text < end:  # arm64's _end is absolute, not moved by KASLR: its image is in vmap areas
        ranges.append((text, end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def search_memory(read: Callable[[int, int], bytes], ranges: Iterable[tuple[int, int]],
                  values: Sequence[int], mask: int, size: int) -> Iterator[tuple[int, int]]:
    """``(address, word)`` of each ``size``-byte aligned word in ``ranges``
    that equals one of ``values`` outside the bits of ``mask`` (crash's
    ``-m``: the bits ignored), in address order, all values in one pass as
    crash's search does, reading with ``read(address, length)``.  Pages
    that raise :class:`drgn.FaultError` (not in the dump) are skipped.
    numpy compares a MiB at a time."""
    import numpy as np

    dtype = {8: np.uint64, 4: np.uint32, 2: np.uint16}[size]
    keep_bits = ~mask & ((1 << (8 * size)) - 1)
    keep = dtype(keep_bits)
    wants = np.array(sorted({v & keep_bits for v in values}), dtype=dtype)
    step = 1 << 20
    for start, end in ranges:
        pos = start - start % size
        while pos < end:
            chunk_end = min(end, (pos // step + 1) * step)
            data: bytes | None
            try:
                data = read(pos, chunk_end - pos)
            except drgn.FaultError:
                data = None
            if data is None:  # page by page: skip the holes
                for page in range(pos, chunk_end, PAGE_SIZE):
                    n = min(PAGE_SIZE - page % PAGE_SIZE, chunk_end - page)
                    try:
                        part = read(page, n)
                    except drgn.FaultError:
                        continue
                    yield from _matches(part, page, dtype, keep, wants, size)
            else:
                yield from _matches(data, pos, dtype, keep, wants, size)
            pos = chunk_end


def _matches(data: bytes, base: int, dtype: Any, keep: Any, wants: Any,
             size: int) -> Iterator[tuple[int, int]]:
    import numpy as np

    n = len(data) // size
    arr = np.frombuffer(data, dtype=dtype, count=n)
    for i in np.nonzero(np.isin(arr & keep, wants))[0]:
        yield base + int(i) * size, int(arr[i])


def _search_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``search VALUE... --drgn``: aligned matches (-m: the bits of MASK
    ignored) in the kernel's memory (-k: memblock's RAM through the direct
    map, the vmap areas, the vmemmap, the kernel image), physical RAM (-p), the current
    context's VMAs through drgn's access_remote_vm() (-u) or a range (-s with
    -e or -l), read a MiB at a time (page by page around holes), compared by
    numpy."""
    from kmemx.commands.drgncode import table_script

    size = args.size or 8
    mask = _number(args.mask, "search") if args.mask else 0
    space = args.space or "k"
    physical = space == "p"
    values = [_hex(ctx, v, "search") for v in args.values]
    read = f"prog.read(addr, n, {physical})"
    if space == "u":
        task = int(ctx.current_task().value_())
        if not ctx.current_task().mm:
            raise CommandError("search: -u: the current task has no user address space")
        read = "bytes(access_remote_vm(mm, addr, n))"
    if args.start is not None:
        start = _number(args.start, "search") if physical else _hex(ctx, args.start, "search")
        if args.end is not None:
            end = _number(args.end, "search") if physical else _hex(ctx, args.end, "search")
        else:
            end = start + (_number(args.length, "search") if args.length else 1 << 30)
        ranges = f"ranges = [({start:#x}, {end:#x})]\n"
    elif space == "p":
        ranges = """\
mem = prog["memblock"].memory
ranges = [(r.base.value_(), r.base.value_() + r.size.value_()) for r in mem.regions[:mem.cnt]]
"""
    elif space == "u":
        ranges = "ranges = [(v.vm_start.value_(), v.vm_end.value_()) for v in for_each_vma(mm)]\n"
    else:
        ranges = """\
mem = prog["memblock"].memory
ranges = []
for r in mem.regions[:mem.cnt]:  # RAM through the direct map
    start = phys_to_virt(prog, r.base.value_()).value_()
    ranges.append((start, start + r.size.value_()))
ranges += [(va.va_start.value_(), va.va_end.value_()) for va in for_each_vmap_area(prog)]
for start_pfn, end_pfn, mem_map in for_each_valid_page_range(prog):  # the vmemmap
    ranges.append(((mem_map + start_pfn).value_(), (mem_map + end_pfn).value_()))
text, end = prog.symbol("_text").address, prog.symbol("_end").address
if text < end:  # arm64's _end is absolute, not moved by KASLR: its image is in vmap areas
    ranges.append((text, end))
merged = []  # lowest first, overlaps (arm64's image in vmalloc space) merged
for start, end in sorted(ranges):
    if merged and start <= merged[-1][1]:
        merged[-1] = (merged[-1][0], max(merged[-1][1], end))
    else:
        merged.append((start, end))
ranges = merged
"""
    if space == "u":
        ranges = (f"mm = Object(prog, 'struct task_struct *', {task:#x}).mm  # the current context\n"
                  .replace("'", '"') + ranges)
    if args.start is None and (args.end is not None or args.length is not None):
        hi = _search_end(ctx, args, physical)
        ranges += f"""\
lo = min(r[0] for r in ranges)  # -e/-l without -s: from the space's start (its lowest)
hi = {f"{hi:#x}" if hi is not None else f"lo + {_number(args.length, 'search'):#x}"}
ranges = [(max(a, lo), min(b, hi)) for a, b in ranges if a < hi and b > lo]
"""
    return table_script(ctx, ("ADDRESS", "VALUE"), ranges + f"""\
SIZE = {size}
DTYPE = {{8: np.uint64, 4: np.uint32, 2: np.uint16}}[SIZE]
KEEP = ~{mask:#x} & ((1 << 8 * SIZE) - 1)  # -m: the bits of MASK are ignored


def read(addr, n):
    return {read}


WANTS = np.array([value & KEEP for value in {values}], dtype=DTYPE)


def matches(data, base):  # every value in one pass, in address order, as crash
    words = np.frombuffer(data, dtype=DTYPE, count=len(data) // SIZE)
    for i in np.nonzero(np.isin(words & DTYPE(KEEP), WANTS))[0]:
        row(hex(base + int(i) * SIZE), int(words[i]))


def chunks(start, end):
    pos = start - start % SIZE
    while pos < end:
        stop = min(end, (pos >> 20) + 1 << 20)
        try:
            yield pos, read(pos, stop - pos)
        except FaultError:  # page by page around what the dump lacks
            for page in range(pos, stop, 4096):
                try:
                    yield page, read(page, min(4096 - page % 4096, stop - page))
                except FaultError:
                    pass
        pos = stop


for start, end in ranges:
    for base, data in chunks(start, end):
        matches(data, base)
""", ["numpy as np", "drgn:FaultError,Object",
      "drgn.helpers.linux.mm:access_remote_vm,for_each_valid_page_range,for_each_vma,"
      "for_each_vmap_area,phys_to_virt"])


@command("search", "search memory for a value (crash's search)",
         description="""
         search VALUE ...         kernel virtual memory (-k, the default): the direct
                                  map of RAM, vmalloc areas, the vmemmap, the kernel
                                  image, as the page tables map them (crash on
                                  x86-64 also reads RAM below the kernel image
                                  through __START_KERNEL_map addresses the kernel
                                  does not map, and the fixmap and cpu_entry_area
                                  aliases of RAM: more hits)
         search -p VALUE          physical memory (the RAM regions)
         search -u VALUE          the current context's user address space (its VMAs)
         search -s START [-e END | -l LENGTH] VALUE    a range (START: address or symbol)
         search -m MASK VALUE     bits set in MASK are ignored
         search -w / -h VALUE     32-bit / 16-bit values (default 64-bit)
         Output: 'ADDRESS: VALUE' lines as crash; --json: ADDRESS VALUE rows.
         VALUE: hex, or a symbol (its address).
         """,
         arguments=[arg("values", nargs="+"),
                    arg("-s", dest="start"), arg("-e", dest="end"),
                    arg("-l", dest="length"), arg("-m", dest="mask"),
                    arg("-k", dest="space", action="store_const", const="k"),
                    arg("-p", dest="space", action="store_const", const="p"),
                    arg("-u", dest="space", action="store_const", const="u"),
                    arg("-w", dest="size", action="store_const", const=4),
                    arg("-h", dest="size", action="store_const", const=2)],
         columns=("ADDRESS", "VALUE"), drgn_code=_search_drgn)
def _search(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    size = args.size or 8
    space = args.space or "k"
    physical = space == "p"
    mask = _number(args.mask, "search") if args.mask else 0
    values = [_hex(ctx, v, "search") for v in args.values]
    for v in values:
        if v >= 1 << (8 * size):
            raise CommandError(f"search: value {v:#x} does not fit in {size} bytes")
    ranges: list[tuple[int, int]]
    if args.start is not None:
        start = _number(args.start, "search") if physical else _hex(ctx, args.start, "search")
        if args.end is not None:
            end = _number(args.end, "search") if physical else _hex(ctx, args.end, "search")
        elif args.length is not None:
            end = start + _number(args.length, "search")
        else:
            end = start + (1 << 30)
        if end <= start:
            raise CommandError("search: the end is not above the start")
        ranges = [(start, end)]
    elif space == "p":
        mem = ctx.prog["memblock"].memory
        ranges = [(int(mem.regions[i].base), int(mem.regions[i].base) + int(mem.regions[i].size))
                  for i in range(int(mem.cnt))]
    elif space == "u":
        from drgn.helpers.linux.mm import for_each_vma

        mm = ctx.current_task().mm.read_()
        if not mm:
            raise CommandError("search: -u: the current task has no user address space")
        ranges = [(int(v.vm_start), int(v.vm_end)) for v in for_each_vma(mm)]
    else:
        ranges = _kernel_ranges(ctx)
    if args.start is None:
        ranges = _clip_ranges(ctx, args, ranges, physical)

    def read(addr: int, n: int) -> bytes:
        return ctx.k.read(addr, n, physical=physical)

    if space == "u":
        from drgn.helpers.linux.mm import access_remote_vm

        mm = ctx.current_task().mm.read_()

        def read(addr: int, n: int) -> bytes:
            return bytes(access_remote_vm(mm, addr, n))

    for addr, found in search_memory(read, ranges, values, mask, size):
        if ctx.as_json:
            yield Row(("ADDRESS", "VALUE"), (Address(addr), Hex(found)))
        else:
            yield TextLine(f"{addr:x}: {found:x}")


# ---------------------------------------------------------------------------- swap

def _swap_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``swap --drgn``: drgn's for_each_swap_info() and swap helpers."""
    from kmemx.commands.drgncode import table_script

    return table_script(ctx, ("SWAP_INFO_STRUCT", "TYPE", "SIZE", "USED", "PCT", "PRI",
                              "FILENAME"), f"""\
kib = {PAGE_SIZE // 1024}
for si in for_each_swap_info(prog):
    total = si.pages.value_()
    used = swap_usage_in_pages(si)
    pct = used * 100 / total if total else 0.0
    row(hex(si.value_()), "FILE" if swap_is_file(si) else "PARTITION", f"{{total * kib}}k",
        f"{{used * kib}}k", f"{{pct:.0f}}%", si.prio.value_(), swap_file_path(si).decode())
""", ["drgn.helpers.linux.swap:for_each_swap_info,swap_file_path,swap_is_file,"
      "swap_usage_in_pages"])


@command("swap", "swap devices (crash's swap)",
         description="""
         swap                     SWAP_INFO_STRUCT TYPE SIZE USED PCT PRI FILENAME for
                                  each swap device in use (sizes in KiB), under
                                  crash's header (printed with no swap device too);
                                  --json: the rows (PCT rounded; the text's, as
                                  crash's, is the integer part)
         """,
         columns=("SWAP_INFO_STRUCT", "TYPE", "SIZE", "USED", "PCT", "PRI", "FILENAME"),
         drgn_code=_swap_drgn)
def _swap(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from drgn.helpers.linux.swap import (
        for_each_swap_info,
        swap_file_path,
        swap_is_file,
        swap_usage_in_pages,
    )

    kib = PAGE_SIZE // 1024
    if not ctx.as_json:  # crash prints its header with no swap device too
        yield TextLine(_SWAP_HEADER)
    for si in for_each_swap_info(ctx.prog):
        total = int(si.pages)
        used = swap_usage_in_pages(si)
        pct = used * 100 / total if total else 0.0
        row = Row(("SWAP_INFO_STRUCT", "TYPE", "SIZE", "USED", "PCT", "PRI", "FILENAME"),
                  (Address(int(si.value_())), "FILE" if swap_is_file(si) else "PARTITION",
                   f"{total * kib}k", f"{used * kib}k", f"{pct:.0f}%", int(si.prio),
                   kernel_str(swap_file_path(si))), si)
        if ctx.as_json:
            yield row
            continue
        # crash's line (memory.c dump_swap_info()): the columns centred
        # under its header, PCT the integer part
        whole = used * 100 // total if total else 0
        yield TextRecord(
            f"{crash_centre(f'{int(si.value_()):x}', 16, False)}  "
            f"{'  FILE   ' if swap_is_file(si) else 'PARTITION'} "
            f"{crash_centre(f'{total * kib}k', 10, True)} {crash_centre(f'{used * kib}k', 10, True)} "
            f"{crash_centre(f'{whole:2d}%', 4, True)} {int(si.prio):>4}  {row.cells[-1]}",
            row.as_dict(), si)


#: crash's ``swap`` header (memory.c swap_info_hdr)
_SWAP_HEADER = "SWAP_INFO_STRUCT    TYPE       SIZE       USED     PCT  PRI  FILENAME"
