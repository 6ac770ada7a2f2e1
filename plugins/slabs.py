"""Slab commands: slabinfo, slab, kmem.

``slabinfo`` has /proc/slabinfo's columns plus the cache address; ``slab``
lists a cache's objects; ``kmem`` identifies addresses (slab object, task,
stack, vmap, page, symbol).  Built on :mod:`kmemx.helpers.slab`, which finds
slabs with one vectorised scan of the vmemmap.
"""

from __future__ import annotations

import argparse
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import drgn

from kmemx.commands import (
    Address,
    CommandError,
    Context,
    Name,
    Row,
    TextLine,
    arg,
    command,
    did_you_mean,
    kernel_str,
    objects,
    parse_hex,
    resolve_each,
)
from kmemx.commands.cells import CrashSize, Size
from kmemx.commands.rows import cell_rows
from kmemx.errors import KmemxError, fault_where
from kmemx.helpers.identify import Identity, identify_address
from kmemx.helpers.mm import COMMITTED_CODE, PAGE_SIZE, meminfo
from kmemx.helpers.slab import (
    SlabCacheUsage,
    for_each_slab_cache,
    slab_cache_allocated_objects,
    slab_cache_free_objects,
    slab_cache_usage,
    slab_pages,
    virt_to_cache,
)
from kmemx.kernel import Kernel
from kmemx.types import View

__all__ = ["KMEM_COLUMNS", "KMEM_I_COLUMNS", "KMEM_S_COLUMNS", "SLABINFO_COLUMNS", "SlabSize", "find_cache",
           "kmem_slab_of"]

SLABINFO_COLUMNS = ("CACHE", "NAME", "ACTIVE_OBJS", "NUM_OBJS", "OBJSIZE", "OBJPERSLAB",
                    "PAGESPERSLAB")


def _enabled(prog: Any) -> bool:
    """SLUB (``kmem_cache.oo``; SLAB has ``num``, SLOB neither) with
    CONFIG_SLUB_DEBUG (per-node counters).  Not ``struct kmem_cache_cpu``:
    7.0 removed it (32c894c7274b, "slab: remove struct kmem_cache_cpu")."""
    try:
        return bool(prog.type("struct kmem_cache").has_member("oo")
                    and prog.type("struct kmem_cache_node").has_member("nr_slabs"))
    except LookupError:
        return False


def find_cache(ctx: Context, name: str) -> View:
    """The cache named ``name`` (or at address ``name``), else a one-line error."""
    if name.startswith("0x"):
        return ctx.k.view("struct kmem_cache", int(name, 16))
    a = parse_hex(name)
    if a is not None and a >= 1 << 63:  # crash: a cache's address, hexadecimal
        return ctx.k.view("struct kmem_cache", a)
    names = []
    for c in for_each_slab_cache(ctx.k):
        n = kernel_str(c.name.string())
        if n == name:
            return c
        names.append(n)
    raise CommandError(f"unknown slab cache '{name}'{did_you_mean(name, names)}")


#: --drgn of slabinfo and kmem -s: the counts as crash and slab_cache_usage() above take them
_SLAB_USAGE_CODE = """
# The lockless freelist of a CPU's active slab: objects linked through
# c->offset, each pointer hardened with CONFIG_SLAB_FREELIST_HARDENED
# (ptr ^ s->random ^ swab(ptr address), freelist_ptr_decode() in mm/slub.c)
def cpu_freelist(c, cpu_slab):
    return freelist(c, cpu_slab.freelist.value_())


def freelist(c, ptr):  # the objects on a freelist starting at ptr
    out = set()
    while ptr and len(out) < 1 << 15:
        out.add(ptr)
        at = ptr + c.offset.value_()
        ptr = prog.read_u64(at)
        if c.type_.type.has_member("random"):
            ptr ^= c.random.value_() ^ int.from_bytes(at.to_bytes(8, "little"), "big")
    return out


def sheaf_objects(c):
    # 6.18's sheaves (2d517aa09bbc): each free object in a CPU's main or spare
    # sheaf with that CPU, in a node barn's full sheaf with None
    objs = {}
    try:
        pcs_ptr = c.cpu_sheaves.read_()
    except AttributeError:
        return objs
    sheaves = []
    if pcs_ptr:
        for cpu in for_each_possible_cpu(prog):
            pcs = per_cpu_ptr(pcs_ptr, cpu)
            sheaves += [(cpu, sh) for sh in (pcs.main.read_(), pcs.spare.read_()) if sh]
    for nid in range(prog["nr_node_ids"].value_()):
        try:  # 7.1 moved the barn into cache->per_node[] (5ba6bc27b1f9)
            barn = c.per_node[nid].barn.read_()
        except AttributeError:
            barn = c.node[nid].barn.read_() if c.node[nid] else None
        if barn:
            sheaves += [(None, sh) for sh in list_for_each_entry(
                "struct slab_sheaf", barn.sheaves_full.address_of_(), "barn_list")]
    for cpu, sheaf in sheaves:
        for o in sheaf.objects[:sheaf.size.value_()]:
            objs[o.value_()] = cpu
    return objs


# What drgn's slab helpers leave out: they read the per-CPU slabs and sheaves
# of online CPUs only, and count objects other CPUs freed onto a CPU's active
# slab (slab->freelist, objects - inuse of a frozen slab) as allocated.  Returns
# the offline CPUs' freelist and sheaf objects and the count of all the objects
# left out.
def missed_free(c):
    online = set(for_each_online_cpu(prog))
    objs = {o for o, cpu in sheaf_objects(c).items() if cpu is not None and cpu not in online}
    count = 0
    for cpu in for_each_possible_cpu(prog):
        try:
            cpu_slab = per_cpu_ptr(c.cpu_slab, cpu)
        except AttributeError:  # 7.0 removed struct kmem_cache_cpu (32c894c7274b)
            continue
        try:  # struct slab since 5.17 (bb192ed9aa71), struct page before
            slab = cpu_slab.slab
        except AttributeError:
            slab = cpu_slab.page
        if slab and slab.slab_cache == c:
            count += slab.objects.value_() - slab.inuse.value_()
            if cpu not in online:
                objs |= cpu_freelist(c, cpu_slab)
        if cpu not in online:
            partial = cpu_slab.partial.read_()
            while partial:
                count += partial.objects.value_() - partial.inuse.value_()
                partial = partial.next.read_()
    return objs, count + len(objs)


def usage(c):
    u = slab_cache_usage(c)
    return u.num_slabs, u.num_objs, u.num_objs - u.free_objs - missed_free(c)[1]


"""
_SLAB_IMPORTS = ["drgn.helpers.linux.slab:for_each_slab_cache,slab_cache_usage,find_slab_cache",
                 "drgn.helpers.linux.percpu:per_cpu_ptr",
                 "drgn.helpers.linux.list:list_for_each_entry",
                 "drgn.helpers.linux.cpumask:for_each_online_cpu,for_each_possible_cpu"]


def _caches_code(names: list[str]) -> str:
    """drgn code setting ``caches``: every cache, or those named."""
    if not names:
        return "caches = for_each_slab_cache(prog)\n"
    return f"caches = [find_slab_cache(prog, name) for name in {names!r}]\n"


def _slabinfo_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``slabinfo --drgn``: drgn's slab_cache_usage() less the remote frees."""
    from kmemx.commands.drgncode import table_script

    return table_script(ctx, SLABINFO_COLUMNS, _SLAB_USAGE_CODE + _caches_code(args.names) + """\
for c in caches:
    slabs, objs, active = usage(c)
    oo = c.oo.x.value_()
    row(hex(c.value_()), c.name.string_().decode(), active, objs, c.size.value_(),
        oo & 0xFFFF, 1 << (oo >> 16))
""", _SLAB_IMPORTS)


@command("slabinfo", "slab cache statistics: /proc/slabinfo's columns and the cache address",
         description="""
         OBJSIZE is /proc/slabinfo's <objsize>: the slot size (kmem_cache.size);
         crash's kmem -s prints the object size (kmem_cache.object_size).
         ACTIVE_OBJS counts objects allocated at the time of the dump, as
         crash's kmem -s ALLOCATED does: objects on per-CPU freelists, freed
         remotely onto a CPU's slab, and on partial slabs are free.  (The
         kernel's /proc/slabinfo counts per-CPU free objects as active.)
         slabinfo dentry kmalloc-64     only these caches
         """,
         arguments=[arg("names", nargs="*", help="cache names")],
         columns=SLABINFO_COLUMNS, enabled=_enabled, drgn_code=_slabinfo_drgn)
def _slabinfo(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    def row(c: View, u: SlabCacheUsage) -> Row:
        oo = int(c.oo.x)
        return Row(SLABINFO_COLUMNS, (Address(c.address), Name(kernel_str(c.name.string())),
                                      u.active_objs, u.num_objs, int(c.size), oo & 0xFFFF,
                                      1 << (oo >> 16)), c)
    yield from _cache_rows(ctx, args.names, row)


def _cache_rows(ctx: Context, names: list[str],
                row: Callable[[View, SlabCacheUsage], Row],
                ignore: frozenset[str] = frozenset()) -> Iterator[Row]:
    """``row(cache, usage)`` of every cache, or of the caches ``names``
    (each unknown one reported); a cache that cannot be read (a corrupt
    partial list, unreadable memory) is reported and the rest go on.  A
    cache named in ``ignore`` (crash's ``kmem -I``) gets :func:`ignored_row`."""
    caches = (resolve_each(ctx, names, lambda n: find_cache(ctx, n)) if names
              else for_each_slab_cache(ctx.k))
    for c in caches:
        if ignore and kernel_str(c.name.string()) in ignore:
            yield ignored_row(c)
            continue
        try:
            yield row(c, slab_cache_usage(c))
        except drgn.FaultError as e:
            ctx.warn(f"cache {c.address:#x}: cannot read {fault_where(e)}")
        except Exception as e:  # a corrupt cache: report it, go on
            if isinstance(e, KeyboardInterrupt):
                raise
            ctx.warn(f"cache {c.address:#x}: {e}")


def _slab_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``slab CACHE --drgn``: drgn's slab_cache_for_each_allocated_object()
    less the offline CPUs' freelist objects (-s: their members or whole
    structures); ``--free``: every object of the cache's slabs (PageSlab
    pages of the cache, red_left_pad in) that is not allocated, by address."""
    from kmemx.commands.drgncode import only_options

    from .lists import _emit_drgn

    only_options("slab", args, ("cache", "free", "struct"), "CACHE, --free and -s")

    if args.cache.startswith("0x"):
        get = f"Object(prog, 'struct kmem_cache *', {int(args.cache, 16):#x})"
    else:
        get = f"find_slab_cache(prog, {args.cache!r})"
    imports = ["drgn:Object", *_SLAB_IMPORTS,
               "drgn.helpers.linux.slab:slab_cache_for_each_allocated_object"]
    allocated = _SLAB_USAGE_CODE + f"""\
cache = {get}
offline_free = missed_free(cache)[0]
allocated = [obj.value_() for obj in slab_cache_for_each_allocated_object(cache, "void")
             if obj.value_() not in offline_free]
"""
    if not args.free:
        return _emit_drgn(ctx, allocated + "for a in allocated:", args.struct, imports)
    return _emit_drgn(ctx, allocated + """\
try:
    red_left_pad = cache.red_left_pad.value_()
except AttributeError:
    red_left_pad = 0
try:  # struct slab since 5.17 (d122019bf061), a struct page before
    slab_type = prog.type("struct slab *")
except LookupError:
    slab_type = prog.type("struct page *")
objects = []
for page in for_each_page(prog):
    try:
        if not PageSlab(page):
            continue
        slab = cast(slab_type, page)
        if slab.slab_cache != cache:
            continue
        base = page_to_virt(page).value_() + red_left_pad
        objects += [base + i * cache.size.value_() for i in range(slab.objects.value_())]
    except FaultError:
        continue
taken = set(allocated)
free = sorted(a for a in objects if a not in taken)
for a in free:""", args.struct,
                      [*imports, "drgn:FaultError,cast",
                       "drgn.helpers.linux.mm:PageSlab,for_each_page,page_to_virt"])


@command("slab", "list the objects of a slab cache",
         description="""
         slab dentry                 allocated objects (addresses)
         slab dentry --free          free objects
         slab task_struct -s task_struct.pid,comm   members of each object
         slab dentry --json          [{"address": "0x..."}, ...]
         """,
         arguments=[arg("cache", help="cache name or address"),
                    arg("--free", action="store_true", help="free objects instead"),
                    arg("-s", dest="struct", help="struct[.member,...] of each object")],
         columns=("ADDRESS",), enabled=_enabled, drgn_code=_slab_drgn)
def _slab(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from .lists import _emit

    cache = find_cache(ctx, args.cache)
    errors: list[str] = []
    slab_pages(ctx.k, lambda done, total: ctx.progress("scanning struct pages", done, total))
    if args.free:
        addrs: Iterable[int] = sorted(slab_cache_free_objects(cache, errors))
    else:
        addrs = slab_cache_allocated_objects(cache, errors).tolist()
    for e in errors:
        ctx.warn(e)
    unread = slab_pages(ctx.k).unreadable
    if unread:
        pages = sum(b - a for a, b in unread)
        ctx.warn(f"{pages} struct pages could not be read (filtered dump?): slabs in them "
                 "are missing from this list")
    if args.struct:
        yield from _emit(ctx, addrs, args.struct)
        return
    # the rows at once, in C: no Python frame per object (31k dentries)
    yield from cell_rows(("ADDRESS",), Address, addrs if isinstance(addrs, list) else list(addrs))


class SlabSize(Size):
    """A slab's size: ``8k`` in tables as in crash's SSIZE, bytes in JSON."""

    __slots__ = ()

    def __str__(self) -> str:
        return f"{int(self) // 1024}k"


KMEM_COLUMNS = ("ADDRESS", "KIND", "CACHE", "NAME", "START", "OFFSET", "STATE")
KMEM_S_COLUMNS = ("CACHE", "OBJSIZE", "ALLOCATED", "TOTAL", "SLABS", "SSIZE", "NAME")


def _kmem_s(ctx: Context, names: list[str],
            ignore: frozenset[str] = frozenset()) -> Iterator[Any]:
    """crash's ``kmem -s``: one row per cache, crash's columns and counts
    (a cache in ``ignore``, crash's -I: its ``[IGNORED]`` row)."""
    def row(c: View, u: SlabCacheUsage) -> Row:
        return Row(KMEM_S_COLUMNS, (
            Address(c.address), int(c.object_size), u.active_objs, u.num_objs,
            u.num_slabs, SlabSize(4096 << (int(c.oo.x) >> 16)),
            Name(kernel_str(c.name.string()))), c)
    yield from _cache_rows(ctx, names, row, ignore)


def ignored_row(c: View) -> Row:
    """crash's ``kmem -s -I`` row of an ignored cache: its address,
    ``[IGNORED]`` where the counts go (OBJSIZE; JSON: that text, the counts
    null), its name; nothing of the cache is read but its name."""
    return Row(KMEM_S_COLUMNS, (Address(c.address), "[IGNORED]", None, None, None, None,
                                Name(kernel_str(c.name.string()))), c)


def _slab_address(ctx: Context, word: str) -> int | None:
    """``word`` as crash's ``kmem -s/-S`` reads an argument (memory.c
    cmd_kmem()): a hexadecimal word is an address, one below the kernel
    half a physical address, looked up at its direct-map address (PTOV)
    when it is below ``high_memory``'s (else, with crash's warning, as it
    is: in no slab); an address that is not a ``struct kmem_cache``'s is
    looked up in the slabs (returned); None for a cache name or a cache's
    address."""
    a = parse_hex(word)
    if a is None:
        return None
    if a < 1 << 63:
        a = _direct_map_address(ctx, a)
    known: set[int] | None = ctx.prog.cache.get("kmemx.plugins.slabs.cache_addresses")
    if known is None:
        known = {c.address for c in for_each_slab_cache(ctx.k)}
        ctx.prog.cache["kmemx.plugins.slabs.cache_addresses"] = known
    return None if a in known and a == parse_hex(word) else a


def _direct_map_address(ctx: Context, phys: int) -> int:
    """The direct-map address of physical address ``phys`` (drgn's
    phys_to_virt()) when it is below ``high_memory``'s physical address,
    as crash's PTOV() in cmd_kmem(); else ``phys`` itself, with crash's
    warning "cannot make virtual-to-physical translation"."""
    from drgn.helpers.linux.mm import phys_to_virt, virt_to_phys

    try:
        limit = int(virt_to_phys(ctx.prog["high_memory"]).value_())
    except (KeyError, LookupError, drgn.FaultError):
        limit = None
    if limit is not None and phys >= limit:
        ctx.warn(f"kmem: cannot make virtual-to-physical translation: {phys:x}")
        return phys
    return int(phys_to_virt(ctx.prog, phys).value_()) & (2**64 - 1)


def kmem_slab_of(ctx: Context, addr: int, every_object: bool) -> Iterator[Any]:
    """crash's ``kmem -S ADDR`` (``every_object``) and ``kmem -s ADDR``:
    the cache's ``kmem -s`` row, the row of the slab holding ADDR (LIST
    ``CPU n SLAB`` for a CPU's active slab, else ``SLAB``) and its objects
    (-s: the one holding ADDR) with ALLOCATED and CPU_CACHE, as ``kmem -S``
    (:func:`kmemx.helpers.slub.slub_slab_of`).  CommandError when ADDR is
    not in a slab."""
    from kmemx.helpers.slab import SlabFreelistError
    from kmemx.helpers.slub import slub_slab_of

    from .kmem_mm import KMEM_S_OBJECT_COLUMNS, KMEM_S_SLAB_COLUMNS

    try:
        cache = virt_to_cache(ctx.k, addr)
        slab = slub_slab_of(ctx.k, addr) if cache is not None else None
    except (drgn.FaultError, SlabFreelistError) as e:
        raise CommandError(f"kmem: {addr:x}: {e}") from None
    if cache is None or slab is None:
        raise CommandError(f"kmem: address is not allocated in slab subsystem: {addr:x}")
    yield from _kmem_s(ctx, [f"{cache.address:#x}"])
    yield Row(KMEM_S_SLAB_COLUMNS, (f"CPU {slab.owner} SLAB" if slab.list == "cpu" else "SLAB",
                                    Address(slab.slab), Address(slab.memory), slab.nid,
                                    slab.total, slab.allocated, slab.free))
    size = int(cache.size)
    pad = slab.objects[0][0] - slab.memory if slab.objects else 0
    for obj, free, cpu in slab.objects:
        if every_object or obj - pad <= addr < obj - pad + size:
            yield Row(KMEM_S_OBJECT_COLUMNS, (Address(slab.slab), Address(obj), not free, cpu))


KMEM_I_COLUMNS = ("KEY", "PAGES", "TOTAL", "PERCENTAGE", "OF")


def _kmem_i(ctx: Context) -> Iterator[Any]:
    """crash's ``kmem -i`` (dump_kmeminfo()): its text, line for line (the
    keys right-aligned, PAGES, TOTAL as crash's sizes, the percentage of the
    group's total, truncated as crash does, a blank line between the groups);
    ``--json``: one row per line, PERCENTAGE a number (null on a total's line)
    and OF what it is a percentage of."""
    m = meminfo(ctx.k)

    def pct(n: int, of: int) -> int:
        return n * 100 // of if of else 0  # crash truncates

    groups = [
        [("TOTAL MEM", m.total, None, None),
         *((key, n, pct(n, m.total), "TOTAL MEM") for key, n in (
             ("FREE", m.free), ("USED", m.used), ("SHARED", m.shared),
             ("BUFFERS", m.buffers), ("CACHED", m.cached), ("SLAB", m.slab)))],
        [("TOTAL HUGE", m.huge_total, None, None),
         ("HUGE FREE", m.huge_free, pct(m.huge_free, m.huge_total), "TOTAL HUGE")],
        [("TOTAL SWAP", m.swap_total, None, None),
         ("SWAP USED", m.swap_used, pct(m.swap_used, m.swap_total), "TOTAL SWAP"),
         ("SWAP FREE", m.swap_free, pct(m.swap_free, m.swap_total), "TOTAL SWAP")],
        [("COMMIT LIMIT", m.commit_limit, None, None),
         ("COMMITTED", m.committed, pct(m.committed, m.commit_limit), "TOTAL LIMIT")]]
    if not ctx.as_json:
        yield TextLine("                 PAGES        TOTAL      PERCENTAGE")
    for i, group in enumerate(groups):
        if i and not ctx.as_json:
            yield TextLine("")
        for key, pages, percent, of in group:
            size = CrashSize(pages * PAGE_SIZE)
            if ctx.as_json:
                yield Row(KMEM_I_COLUMNS, (key, pages, size, percent, of))
                continue
            tail = "         ----" if of is None else f"  {percent:3d}% of {of}"
            yield TextLine(f"{key:>13}  {pages:7d}  {size!s:>11}{tail}")


def _kmem_addresses_drgn(ctx: Context, words: list[str]) -> str:
    """``kmem ADDR... --drgn``: what each address is, as kmemx's
    identify_address() tells (drgn's identify_address() order and wording):
    a symbol (init_task and its stack named as a task; named as crash's
    value_search() names it, :data:`lists.CRASH_SYMBOLS_CODE`, also past a
    symbol's size), a slab object by
    drgn's slab_object_info() (a task_struct as its task), else a free buddy
    block from the zones' free lists, a struct page in the vmemmap, a task's
    vmap stack or another vmap area by its caller."""
    from kmemx.commands.drgncode import table_script

    from .lists import CRASH_SYMBOLS_CODE, MODULE_SYMBOLS_CODE, parse_address

    addrs = [parse_address(ctx, w) for w in words]
    return table_script(ctx, KMEM_COLUMNS, MODULE_SYMBOLS_CODE + CRASH_SYMBOLS_CODE + f"""\
THREAD_SIZE = prog["THREAD_SIZE"].value_()
init = prog["init_task"]
PAGE = sizeof(prog.type("struct page"))
# __va(0) and the vmemmap by drgn's rules (page_offset_base and vmemmap_base on
# x86-64, the linear map and VMEMMAP_START less memstart_addr's pages on arm64)
page_offset = phys_to_virt(prog, 0).value_() & (2**64 - 1)
vmemmap = pfn_to_page(prog, 0).value_()
max_pfn = prog["max_pfn"].value_()
PAGE_SHIFT = prog["PAGE_SHIFT"].value_()
tasks = list(for_each_task(prog))
stacks = {{t.stack.value_(): t for t in tasks}}  # vmap stacks, the idle tasks' too
for cpu in list(for_each_possible_cpu(prog))[1:]:
    idle = idle_task(prog, cpu)
    stacks[idle.stack.value_()] = idle
areas = sorted(for_each_vmap_area(prog), key=lambda a: a.va_start.value_())
init_mm = prog["init_mm"].address_of_()
starts = [a.va_start.value_() for a in areas]


def label(t):
    return f"{{t.pid.value_()}} ({{t.comm.string_().decode('utf-8', 'surrogateescape')}})"


FREE = []  # (first pfn, order, zone name) of each free buddy block, by pfn, once
FREE_PFNS = []


def free_block(addr):  # a direct-map address in a free buddy block, or None
    if not FREE:
        try:  # 6.2 named the link buddy_list (bd2a745ba9c6); lru before
            prog.type("struct page").member("buddy_list")
            link = "buddy_list"
        except LookupError:
            link = "lru"
        for pgdat in for_each_online_pgdat(prog):
            for zone in pgdat.node_zones:
                if not zone.spanned_pages:
                    continue
                name = zone.name.string_().decode("ascii", "backslashreplace")
                for order, area in enumerate(zone.free_area):
                    for head in area.free_list:
                        for page in list_for_each_entry("struct page", head.address_of_(),
                                                        link):
                            FREE.append((page_to_pfn(page).value_(), order, name))
        FREE.sort()
        FREE.append((2**64, 0, ""))  # an end: looked up once even with no free page
        FREE_PFNS.extend(b[0] for b in FREE)
    pfn = (addr - page_offset) >> PAGE_SHIFT
    i = bisect.bisect_right(FREE_PFNS, pfn) - 1
    if i < 0 or pfn >= FREE[i][0] + (1 << FREE[i][1]):
        return None
    first, order, name = FREE[i]
    return "free", "", name, page_offset + (first << PAGE_SHIFT), f"order {{order}}"


def symbol(addr):
    try:
        return prog.symbol(addr)
    except LookupError:
        return None


def identify(addr):  # (KIND, CACHE, NAME, START, STATE)
    sym = symbol(addr)
    if sym is not None:
        if init.address_ <= addr < init.address_ + sizeof(init):
            return "task", "", label(init), init.address_, ""
        stack = init.stack.value_()
        if stack <= addr < stack + THREAD_SIZE:
            return "stack", "", label(init), stack, ""
        return "symbol", "", sym.name, sym.address, ""
    if page_offset <= addr < page_offset + (max_pfn << PAGE_SHIFT):
        info = slab_object_info(prog, addr)
        if info is None:
            return free_block(addr)
        name = info.slab_cache.name.string_().decode("ascii", "backslashreplace")
        state = {{True: "allocated", False: "free", None: "corrupted"}}[info.allocated]
        if info.allocated and info.slab_cache == prog["task_struct_cachep"]:
            task = Object(prog, "struct task_struct *", info.address)
            if info.slab_cache.refcount <= 1 or task in tasks:
                return "task", name, label(task), info.address, state
        return "slab", name, name, info.address, state
    if vmemmap <= addr < vmemmap + max_pfn * PAGE:
        pfn = (addr - vmemmap) // PAGE
        return "page", "", f"pfn {{pfn}}", vmemmap + pfn * PAGE, ""
    i = bisect.bisect_right(starts, addr) - 1
    if i >= 0 and addr < areas[i].va_end.value_():
        vm = areas[i].vm
        if not vm:
            return None
        task = stacks.get(addr & ~(THREAD_SIZE - 1))
        if task is not None:
            return "stack", "", label(task), task.stack.value_(), ""
        caller = symbol(vm.caller.value_())
        return "vmap", "", caller.name if caller else "", areas[i].va_start.value_(), ""
    return None


def has_page(pfn):  # kmem -p's pages: the PFN's SPARSEMEM section is present with a mem_map
    try:
        section = pfn_to_section(prog, pfn)
        return bool(section) and present_section(section) and valid_section(section)
    except (FaultError, IndexError, OverflowError):
        return False


def kmem_symbol(addr):  # crash's kmem_search(): in the image or a module, value_search()
    if not (lo <= addr <= hi or module_of(addr)):
        return None
    try:
        return symbol_at(addr)
    except LookupError:
        return None


def vmalloc_of(phys):  # crash's dump_vmlist(): area by area, page by page
    for va in areas:
        if not va.vm:
            continue
        for page in range(va.va_start.value_(), va.va_end.value_(), 1 << PAGE_SHIFT):
            try:
                if follow_phys(init_mm, page) >> PAGE_SHIFT == phys >> PAGE_SHIFT:
                    return page + (phys & ((1 << PAGE_SHIFT) - 1))
            except FaultError:
                continue
    return None


def physical(addr):  # crash: an address below the kernel half is a physical one
    virt = (page_offset + addr) & (2**64 - 1)  # arm64: RAM from memstart_addr (QEMU: 1 GiB)
    ram = addr < max_pfn << PAGE_SHIFT and has_page(addr >> PAGE_SHIFT)
    found = identify(virt) if ram else None
    mapped = vmalloc_of(addr) if ram else None
    if mapped is not None:  # GET_PHYS_TO_VMALLOC: the first vmalloc address mapping it
        virt, found = mapped, identify(mapped)
        if found is None or found[0] in ("symbol", "vmap"):
            sym = kmem_symbol(virt)
            found = ("symbol", "", sym.name, sym.address, "") if sym is not None else found
    if found is not None:
        kind, cache, name, start, state = found
        row(hex(virt), kind, cache, name, hex(start), virt - start, state)
    if not ram:
        row(hex(addr), "unknown", "", "", None, None, "")
        return
    page = pfn_to_page(prog, addr >> PAGE_SHIFT)
    try:  # 6.16 renamed page->index ("mm: rename page->index to page->__folio_index")
        index = page.index.value_()
    except AttributeError:
        index = page.__folio_index.value_()
    try:  # 6.18 wrapped page->flags in memdesc_flags_t ("mm: introduce memdesc_flags_t")
        flags = page.flags.f.value_()
    except AttributeError:
        flags = page.flags.value_()
    table("PAGE", "PHYSICAL", "MAPPING", "INDEX", "CNT", "FLAGS")
    row(hex(page.value_()), hex(addr >> PAGE_SHIFT << PAGE_SHIFT), hex(page.mapping.value_()),
        index, page._refcount.counter.value_(), hex(flags))
    table({", ".join(repr(c) for c in KMEM_COLUMNS)})


for addr in [{", ".join(f"{a:#x}" for a in addrs)}]:
    if addr < 1 << 63:
        physical(addr)
        continue
    found = identify(addr)
    if found is not None and found[0] == "page":  # a struct page whose page is free
        block = free_block(page_offset + ((found[3] - vmemmap) // PAGE << PAGE_SHIFT))
        found = (*found[:4], f"free, {{block[4]}}") if block is not None else found
    if found is None or found[0] in ("symbol", "vmap"):  # the text's symbol
        sym = kmem_symbol(addr)
        found = ("symbol", "", sym.name, sym.address, "") if sym is not None else found
    if found is None:
        row(hex(addr), "unknown", "", "", None, None, "")
    else:
        kind, cache, name, start, state = found
        row(hex(addr), kind, cache, name, hex(start), addr - start, state)
""",
        ["bisect", "drgn:Architecture,FaultError,Object,SymbolKind,sizeof",
         "drgn.helpers.linux.cpumask:for_each_possible_cpu",
         "drgn.helpers.linux.kallsyms:load_module_kallsyms",
         "drgn.helpers.linux.list:list_for_each_entry",
         "drgn.helpers.linux.module:for_each_module,module_address_regions",
         "drgn.helpers.linux.mm:follow_phys,for_each_vmap_area,page_to_pfn,pfn_to_page,"
         "phys_to_virt",
         "drgn.helpers.linux.mmzone:for_each_online_pgdat,pfn_to_section,present_section,"
         "valid_section",
         "drgn.helpers.linux.pid:for_each_task",
         "drgn.helpers.linux.sched:idle_task", "drgn.helpers.linux.slab:slab_object_info"])


#: kmem -S [CACHE] and kmem -S/-s ADDR --drgn: a slab's row and its objects
#: (kmemx.helpers.slub's rules, crash's do_slab_slub())
_SLUB_SLABS_CODE = """\
SLAB_RED_ZONE, SLAB_STORE_USER = 0x400, 0x10000
SPANS = [(p.node_start_pfn.value_(), p.node_start_pfn.value_() + p.node_spanned_pages.value_(),
          p.node_id.value_()) for p in for_each_online_pgdat(prog)]


def cpu_slab_of(cpu_slab):  # struct slab since 5.17 (bb192ed9aa71), struct page before
    try:
        return cpu_slab.slab
    except AttributeError:
        return cpu_slab.page


def slab_rows(c, slab, name, owner, cpu_free, objects, only=None, sheaves=None):
    # crash's counts: a CPU's active slab frees its CPU freelist, and the remote
    # frees on slab->freelist when it has any; the slab's objects in the cache's
    # sheaves (inuse counts them) are free too
    sheaves = sheaf_objects(c) if sheaves is None else sheaves
    page = cast("struct page *", slab)
    memory = page_to_virt(page).value_()
    pfn = page_to_pfn(page).value_()
    nid = next((n for lo, hi, n in SPANS if lo <= pfn < hi), -1)
    total, inuse = slab.objects.value_(), slab.inuse.value_()
    size = c.size.value_()
    slab_free = freelist(c, slab.freelist.value_())
    if cpu_free is not None:
        inuse = total - (len(cpu_free) + (total - inuse if slab.freelist else 0))
    inuse -= sum(1 for o in sheaves if memory <= o < memory + total * size)
    table("LIST", "SLAB", "MEMORY", "NODE", "TOTAL", "ALLOCATED", "FREE")
    row(name, hex(slab.value_()), hex(memory), nid, total, inuse, total - inuse)
    if not objects:
        return
    pad = c.red_left_pad.value_() if c.flags.value_() & SLAB_RED_ZONE else 0
    table("SLAB", "OBJECT", "ALLOCATED", "CPU_CACHE")
    for p in range(memory, memory + total * size, size):
        if only is not None and not p <= only < p + size:
            continue
        if p + pad in sheaves:
            row(hex(slab.value_()), hex(p + pad), False, sheaves[p + pad])
            continue
        free = p + pad in slab_free or p + pad in (cpu_free or ())
        row(hex(slab.value_()), hex(p + pad), not free,
            owner if free and cpu_free is not None else None)


"""

#: kmem -S [CACHE] --drgn: every cache's (or the named ones') per-CPU and
#: per-node lists, as kmemx.helpers.slub.slub_cache_lists()
_KMEM_S_DETAIL_CODE = """\
for c in caches:
    name = c.name.string_().decode()
    if name in IGNORE:
        table("CACHE", "OBJSIZE", "ALLOCATED", "TOTAL", "SLABS", "SSIZE", "NAME")
        row(hex(c.value_()), "[IGNORED]", None, None, None, None, name)
        continue
    slabs, objs, active = usage(c)
    table("CACHE", "OBJSIZE", "ALLOCATED", "TOTAL", "SLABS", "SSIZE", "NAME")
    row(hex(c.value_()), c.object_size.value_(), active, objs, slabs,
        4096 << (c.oo.x.value_() >> 16), name)
    sheaves = sheaf_objects(c)
    per_node = {}
    try:  # 7.0 removed struct kmem_cache_cpu (32c894c7274b): no per-CPU slabs
        cpu_slabs = c.cpu_slab
    except AttributeError:
        cpu_slabs = None
    cpus = list(for_each_possible_cpu(prog)) if cpu_slabs is not None else []
    for cpu in cpus:
        if CPUS is not None and cpu not in CPUS:
            continue
        cs = per_cpu_ptr(cpu_slabs, cpu)
        table("CPU", "KMEM_CACHE_CPU")
        row(cpu, hex(cs.value_()))
        slab = cpu_slab_of(cs)
        if slab and slab.slab_cache == c:
            slab_rows(c, slab, f"CPU {cpu} SLAB", cpu, cpu_freelist(c, cs), True,
                      sheaves=sheaves)
        partial = cs.partial.read_()
        while partial:
            slab_rows(c, partial, f"CPU {cpu} PARTIAL", cpu, None, True, sheaves=sheaves)
            partial = partial.next.read_()
    for cpu in cpus:  # the node's count of CPUs' active slabs
        slab = cpu_slab_of(per_cpu_ptr(cpu_slabs, cpu))
        if slab and slab.slab_cache == c:
            pfn = page_to_pfn(cast("struct page *", slab)).value_()
            nid = next((n for lo, hi, n in SPANS if lo <= pfn < hi), -1)
            per_node[nid] = per_node.get(nid, 0) + 1
    for nid in range(prog["nr_node_ids"].value_()):
        try:  # 7.1 moved them into cache->per_node[] (5ba6bc27b1f9)
            node = c.per_node[nid].node
        except AttributeError:
            node = c.node[nid]
        if not node:
            continue
        table("KMEM_CACHE_NODE", "NODE", "SLABS", "PARTIAL", "PER-CPU")
        row(hex(node.value_()), nid, node.nr_slabs.counter.value_(), node.nr_partial.value_(),
            per_node.get(nid, 0))
        lists = [("NODE {} PARTIAL", node.partial)]
        if c.flags.value_() & SLAB_STORE_USER:
            lists.append(("NODE {} FULL", node.full))
        for title, head in lists:
            for slab in list_for_each_entry(slab_type, head.address_of_(), "slab_list"):
                slab_rows(c, slab, title.format(nid), nid, None, False, sheaves=sheaves)
"""

#: kmem -S/-s ADDR --drgn: the slab holding ADDR (drgn's slab_object_info())
_KMEM_S_ADDR_CODE = """\
for addr in ADDRS:
    info = slab_object_info(prog, addr)
    c, slab = info.slab_cache, info.slab
    slabs, objs, active = usage(c)
    table("CACHE", "OBJSIZE", "ALLOCATED", "TOTAL", "SLABS", "SSIZE", "NAME")
    row(hex(c.value_()), c.object_size.value_(), active, objs, slabs,
        4096 << (c.oo.x.value_() >> 16), c.name.string_().decode())
    owner, cpu_free = -1, None
    try:  # 7.0 removed struct kmem_cache_cpu (32c894c7274b): no CPU owns a slab
        cpu_slabs = c.cpu_slab
    except AttributeError:
        cpu_slabs = None
    for cpu in for_each_possible_cpu(prog) if cpu_slabs is not None else ():
        cs = per_cpu_ptr(cpu_slabs, cpu)
        if cpu_slab_of(cs) == slab:
            owner, cpu_free = cpu, cpu_freelist(c, cs)
            break
    slab_rows(c, slab, "SLAB" if cpu_free is None else f"CPU {owner} SLAB", owner, cpu_free,
              True, None if EVERY else addr)
"""


def _kmem_slabs_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``kmem -s -I``, ``kmem -S [CACHE]`` (-S=CPUS, -I) and ``kmem -S/-s
    ADDR --drgn``: the counts of kmem -s's code, the slab lists and objects
    written out over drgn's slab helpers."""
    from kmemx.commands.drgncode import table_script

    cpus = None
    if isinstance(args.slab_detail, str):
        if re.fullmatch(r"(\d+(-\d+)?)(,\d+(-\d+)?)*|a|all|", args.slab_detail):
            from kmemx.commands import parse_cpuspec

            cpus = sorted(parse_cpuspec(ctx.prog, args.slab_detail or "a"))
        else:
            args.addresses = [args.slab_detail, *args.addresses]
    addrs = [a for a in (_slab_address(ctx, w) for w in args.addresses) if a is not None]
    imports = [*_SLAB_IMPORTS, "drgn:cast", "drgn.helpers.linux.list:list_for_each_entry",
               "drgn.helpers.linux.mm:page_to_pfn,page_to_virt",
               "drgn.helpers.linux.mmzone:for_each_online_pgdat",
               "drgn.helpers.linux.slab:slab_object_info"]
    if addrs:
        return table_script(ctx, (), _SLAB_USAGE_CODE + _SLUB_SLABS_CODE
                            + f"ADDRS = {[hex(a) for a in addrs]}\n".replace("'", "")
                            + f"EVERY = {bool(args.slab_detail)}\n" + _KMEM_S_ADDR_CODE,
                            imports)
    ignore = sorted({n.strip() for n in (args.ignore or "").split(",")
                     if n.strip() and not args.addresses})
    if args.slabs:  # -s -I: the [IGNORED] rows in the walk of every cache
        return table_script(ctx, (), _SLAB_USAGE_CODE + _caches_code(args.addresses)
                            + f"IGNORE = {ignore!r}\n" + """\
table("CACHE", "OBJSIZE", "ALLOCATED", "TOTAL", "SLABS", "SSIZE", "NAME")
for c in caches:
    name = c.name.string_().decode()
    if name in IGNORE:
        row(hex(c.value_()), "[IGNORED]", None, None, None, None, name)
        continue
    slabs, objs, active = usage(c)
    row(hex(c.value_()), c.object_size.value_(), active, objs, slabs,
        4096 << (c.oo.x.value_() >> 16), name)
""", _SLAB_IMPORTS)
    slab_type = "struct slab" if _struct_exists(ctx, "struct slab") else "struct page"
    return table_script(ctx, (), _SLAB_USAGE_CODE + _SLUB_SLABS_CODE
                        + _caches_code([kernel_str(find_cache(ctx, n).name.string())
                                        for n in args.addresses])
                        + f"IGNORE = {ignore!r}\nCPUS = {cpus!r}\n"
                        + f"slab_type = {slab_type!r}\n" + _KMEM_S_DETAIL_CODE, imports)


def _struct_exists(ctx: Context, name: str) -> bool:
    """Whether the kernel has the type ``name`` (struct slab: 5.17's d122019bf061)."""
    try:
        ctx.prog.type(name)
        return True
    except LookupError:
        return False


def _kmem_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``kmem -i --drgn``: drgn's memory counters and a walk of the struct
    pages for SHARED; ``kmem -s --drgn``: slab_cache_usage() less the remote
    frees."""
    from kmemx.commands.drgncode import only, only_options, table_script

    forms = "ADDR, -i, -s, -S, -I, -v, -V, -z, -h, -n, -f, -F, -o and -g"
    if args.slab_detail or (args.slabs and (args.ignore is not None or any(
            _slab_address(ctx, w) is not None for w in args.addresses))):
        only_options("kmem", args, ("slabs", "slab_detail", "addresses", "ignore"), forms)
        return _kmem_slabs_drgn(ctx, args)
    if args.slabs:
        only_options("kmem", args, ("slabs", "addresses"), forms)
        return table_script(ctx, KMEM_S_COLUMNS, _SLAB_USAGE_CODE + _caches_code(
            args.addresses) + """\
for c in caches:
    slabs, objs, active = usage(c)
    ssize = 4096 << (c.oo.x.value_() >> 16)
    row(hex(c.value_()), c.object_size.value_(), active, objs, slabs, ssize,
        c.name.string_().decode())
""", _SLAB_IMPORTS)
    from . import kmem_mm

    code = kmem_mm.kmem_drgn(ctx, args)
    if code is not None:
        return code
    if args.addresses and not args.info:
        only_options("kmem", args, ("addresses",), forms)
        return _kmem_addresses_drgn(ctx, args.addresses)
    if not args.info:
        raise only("kmem", forms)
    only_options("kmem", args, ("info",), forms)
    return table_script(ctx, KMEM_I_COLUMNS, f"""\
total = totalram_pages(prog)
free = nr_free_pages(prog)
# crash's SHARED: pages neither reserved nor free with a reference count over 1
reserved = 1 << prog["PG_reserved"].value_()
shared = 0


def page_flags(page):  # 6.18 wrapped them in memdesc_flags_t ("mm: introduce memdesc_flags_t")
    try:
        return page.flags.f.value_()
    except AttributeError:
        return page.flags.value_()


for page in for_each_page(prog):
    try:
        if not page_flags(page) & reserved and page._refcount.counter.value_() > 1:
            shared += 1
    except FaultError:  # a hole in the memory map
        pass
buffers = nr_blockdev_pages(prog)
cached = max(0, global_node_page_state(prog["NR_FILE_PAGES"])
             - total_swapcache_pages(prog) - buffers)
huge = hugetlb_total_usage(prog)
swap = swap_total_usage(prog)
limit = vm_commit_limit(prog)
{COMMITTED_CODE}

def pct(n, of, what):  # crash truncates; a total's line has none
    return (n * 100 // of if of else 0), what


for key, pages, (percent, of) in [
        ("TOTAL MEM", total, (None, None)),
        ("FREE", free, pct(free, total, "TOTAL MEM")),
        ("USED", total - free, pct(total - free, total, "TOTAL MEM")),
        ("SHARED", shared, pct(shared, total, "TOTAL MEM")),
        ("BUFFERS", buffers, pct(buffers, total, "TOTAL MEM")),
        ("CACHED", cached, pct(cached, total, "TOTAL MEM")),
        ("SLAB", slab_total_usage(prog).total_pages,
         pct(slab_total_usage(prog).total_pages, total, "TOTAL MEM")),
        ("TOTAL HUGE", huge.pages, (None, None)),
        ("HUGE FREE", huge.free_pages, pct(huge.free_pages, huge.pages, "TOTAL HUGE")),
        ("TOTAL SWAP", swap.pages, (None, None)),
        ("SWAP USED", swap.used_pages, pct(swap.used_pages, swap.pages, "TOTAL SWAP")),
        ("SWAP FREE", swap.free_pages, pct(swap.free_pages, swap.pages, "TOTAL SWAP")),
        ("COMMIT LIMIT", limit, (None, None)),
        ("COMMITTED", committed, pct(committed, limit, "TOTAL LIMIT"))]:
    row(key, pages, pages * {PAGE_SIZE}, percent, of)
""", ["drgn:FaultError", "drgn.helpers.linux.block:nr_blockdev_pages",
      "drgn.helpers.linux.hugetlb:hugetlb_total_usage",
      "drgn.helpers.linux.cpumask:for_each_possible_cpu",
      "drgn.helpers.linux.mm:for_each_page,totalram_pages,vm_commit_limit",
      "drgn.helpers.linux.percpu:per_cpu_ptr",
      "drgn.helpers.linux.slab:slab_total_usage",
      "drgn.helpers.linux.swap:swap_total_usage,total_swapcache_pages",
      "drgn.helpers.linux.vmstat:global_node_page_state,nr_free_pages"])


@command("kmem", "identify addresses (slab object, task, stack, vmap, page, symbol); "
         "-s/-S: slab caches; -i: memory summary; -v -V -z -p -n -h -f -F: crash's",
         description="""
         kmem ADDR ...         one row per address: KIND (slab, task, stack, vmap,
                               page, symbol), CACHE (the slab cache of a slab-
                               backed object, a task_struct's too, as crash
                               shows it), NAME (cache, task, symbol, caller),
                               START of the object, OFFSET into it, STATE
                               (allocated/free for slab objects).
                               An address below the kernel's half is physical,
                               as crash takes it: its direct-map address's row
                               (when it is something), then its page's -p row.
         Addresses can be piped in: slab dentry | head 3 | kmem
         kmem -i               crash's memory summary: TOTAL MEM, FREE, USED, SHARED,
                               BUFFERS, CACHED, SLAB, hugetlb, swap and commit
                               (PAGES, TOTAL, PERCENTAGE of the total, truncated
                               as crash does), in crash's layout; --json: KEY
                               PAGES TOTAL (bytes) PERCENTAGE (a number, null
                               on a total's line) OF.  COMMITTED is /proc/meminfo's
                               Committed_AS (the per-CPU deltas summed); crash
                               prints the central count only.
         kmem -i=shared        the same (crash 9's -i prints SHARED only then)
         kmem -s [CACHE...]    crash's slab summary: CACHE OBJSIZE (object size)
                               ALLOCATED TOTAL SLABS SSIZE (slab size) NAME;
                               ALLOCATED excludes objects free on per-CPU
                               freelists and partial slabs, as crash counts,
                               and (6.18 on) those in sheaves, which crash
                               counts allocated.
         kmem -S [CACHE...]    -s, then per CPU its kmem_cache_cpu, active and
                               partial slabs with every object (ALLOCATED,
                               CPU_CACHE: free on that CPU's slab or in its
                               sheaf, 6.18 on), then per node its counts and
                               partial slabs (7.0 on: the nodes only; crash
                               refuses -S there).
         kmem -s -I kmalloc-64,dentry   -s or -S skipping these caches: crash's
                               [IGNORED] row for each
         kmem -S=1 [CACHE...]  -S with the per-CPU part of CPU 1 only (=0,1 =0-1 =a)
         kmem -S ADDR          the slab holding ADDR (not a cache's address): its
                               cache's -s row, the slab (LIST CPU n SLAB for a
                               CPU's active slab, else SLAB) and every object
         kmem -s ADDR          the same with only the object holding ADDR
         kmem -v [ADDR...]     vmalloc areas: VMAP_AREA VM_STRUCT ADDRESS RANGE SIZE
         kmem -V               vm_zone_stat, vm_node_stat, vm_event_states
         kmem -z               per-zone sizes, watermarks and vm_stat
         kmem -p [ADDR...]     every struct page (PAGE PHYSICAL MAPPING INDEX CNT
                               FLAGS), or those of struct page, virtual or
                               physical addresses (also piped)
         kmem -n               nodes, zones, memory sections and memory blocks
         kmem -h               hugetlb hstates: HSTATE SIZE FREE TOTAL NAME
         kmem -f / -F          buddy free lists per zone: blocks and pages per
                               order and migrate type / each free block's page
         kmem -f ADDR...       the free block holding each page (struct page,
                               virtual or physical address): zone, free list,
                               block's PAGE, NTH page of PAGES
         kmem -m MEMBER,...    PAGE and these struct page members (a struct
                               member expands to its fields: lru.next, lru.prev)
                               of every page, or of the addresses' pages
         kmem -o               per-CPU offsets: CPU OFFSET
         kmem -g [FLAGS]       enum pageflags: PAGE-FLAG BIT VALUE (those set in
                               FLAGS, hexadecimal)
         Columns and units are crash's (kmem_mm.py in the plugins says which
         cells differ in layout).
         """,
         arguments=[arg("addresses", nargs="*", help="addresses, or with -s cache names"),
                    arg("-s", dest="slabs", action="store_true",
                        help="slab cache summary (crash's kmem -s)"),
                    arg("-i", dest="info", nargs="?", const=True, default=False,
                        metavar="=shared",
                        help="memory summary (crash's kmem -i); crash 9's -i=shared, "
                             "which adds SHARED, is the same: kmemx always prints it"),
                    arg("-S", dest="slab_detail", nargs="?", const=True, default=False,
                        metavar="=CPUS",
                        help="slab caches with every slab and object (crash's kmem -S); "
                             "-S=CPUS (1,3 0-1 a): the per-CPU part of these CPUs only"),
                    arg("-v", dest="vmalloc", action="store_true",
                        help="vmalloc areas (crash's kmem -v)"),
                    arg("-V", dest="vm_stat", action="store_true",
                        help="vm_stat and vm_event counters (crash's kmem -V)"),
                    arg("-z", dest="zones", action="store_true",
                        help="per-zone statistics (crash's kmem -z)"),
                    arg("-p", dest="pages", action="store_true",
                        help="every struct page, or those of the addresses (crash's kmem -p)"),
                    arg("-n", dest="nodes", action="store_true",
                        help="memory nodes, sections and blocks (crash's kmem -n)"),
                    arg("-h", dest="hstates", action="store_true",
                        help="hugetlb hstates (crash's kmem -h)"),
                    arg("-f", dest="free", action="store_true",
                        help="buddy free lists (crash's kmem -f)"),
                    arg("-F", dest="free_pages", action="store_true",
                        help="buddy free lists with their pages (crash's kmem -F)"),
                    arg("-m", dest="members", metavar="MEMBER[,MEMBER...]",
                        help="struct page members of every page, or of the "
                             "addresses' pages (crash's kmem -m)"),
                    arg("-P", dest="physical", action="store_true",
                        help="the addresses are physical (crash's kmem -P, with -p/-m/-v)"),
                    arg("-o", dest="offsets", action="store_true",
                        help="per-CPU offsets (crash's kmem -o)"),
                    arg("-g", dest="pageflags", action="store_true",
                        help="enum pageflags bits, or those set in a flags value "
                             "(crash's kmem -g [FLAGS])"),
                    arg("-I", dest="ignore", metavar="CACHE[,CACHE...]",
                        help="with -s or -S: caches to skip (an [IGNORED] row each)")],
         columns=KMEM_COLUMNS, takes_input=True,
         enabled=_enabled, drgn_code=_kmem_drgn)
def _kmem(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    from . import kmem_mm

    modes = [m for m in ("info", "slabs", "slab_detail", "vmalloc", "vm_stat", "zones",
                         "pages", "nodes", "hstates", "free", "free_pages", "offsets",
                         "pageflags", "members") if getattr(args, m)]
    if len(modes) > 1:
        raise CommandError("kmem: give one of -i -s -S -v -V -z -p -m -n -h -f -F -o -g")
    no_args = {"vm_stat": "-V", "zones": "-z", "nodes": "-n", "hstates": "-h",
               "offsets": "-o", "info": "-i"}
    if args.physical and not (args.pages or args.members or args.vmalloc):
        raise CommandError("kmem -P goes with -p, -m or -v")
    if isinstance(args.info, str):  # crash 9: -i=shared walks mem_map for SHARED
        if args.info != "shared":
            raise CommandError(f"kmem -i takes no argument (not {args.info!r}; -i=shared "
                               "is -i, whose SHARED row kmemx always prints)")
        args.info = True
    cpus = None
    if isinstance(args.slab_detail, str):  # -S=CPUS, or -S CACHE read as -S's value
        if re.fullmatch(r"(\d+(-\d+)?)(,\d+(-\d+)?)*|a|all|", args.slab_detail):
            from kmemx.commands import parse_cpuspec

            cpus = set(parse_cpuspec(ctx.prog, args.slab_detail or "a"))
        else:
            args.addresses = [args.slab_detail, *args.addresses]
    # crash applies -I to the walk of every cache, not to caches named
    ignore = frozenset(n.strip() for n in (args.ignore or "").split(",")
                       if n.strip() and not args.addresses)
    if args.ignore is not None and not (args.slabs or args.slab_detail):
        raise CommandError("kmem -I goes with -s or -S")
    if modes and modes[0] in no_args and args.addresses:
        raise CommandError(f"kmem {no_args[modes[0]]} takes no argument "
                           f"(not {' '.join(args.addresses)!r})")
    if args.offsets:
        yield from kmem_mm.kmem_o(ctx)
        return
    if args.pageflags:
        flags = None
        if args.addresses:
            flags = parse_hex(args.addresses[0])
            if flags is None or len(args.addresses) > 1:
                raise CommandError(f"kmem -g: one hexadecimal flags value, not "
                                   f"{' '.join(args.addresses)!r}")
        yield from kmem_mm.kmem_g(ctx, flags)
        return
    if args.info:
        yield from _kmem_i(ctx)
        return
    if args.vm_stat:
        yield from kmem_mm.kmem_vm_stat(ctx)
        return
    if args.zones:
        yield from kmem_mm.kmem_z(ctx)
        return
    if args.nodes:
        yield from kmem_mm.kmem_n(ctx)
        return
    if args.hstates:
        yield from kmem_mm.kmem_h(ctx)
        return
    if (args.free or args.free_pages) and args.addresses:
        from .lists import parse_address

        yield from kmem_mm.kmem_f_addresses(ctx, list(resolve_each(
            ctx, args.addresses, lambda a: parse_address(ctx, a))))
        return
    if args.free or args.free_pages:
        yield from kmem_mm.kmem_f(ctx, args.free_pages)
        return
    if args.vmalloc or args.pages or args.members:
        from .lists import parse_address

        addrs = (list(resolve_each(ctx, args.addresses, lambda a: parse_address(ctx, a))) or
                 [int(getattr(x, "address", x)) for x in objects(input)])
        if args.physical:
            addrs = kmem_mm.phys_to_kernel(ctx, addrs, for_pages=not args.vmalloc)
        if args.members:
            yield from kmem_mm.kmem_m(ctx, args.members, addrs)
        else:
            yield from (kmem_mm.kmem_v(ctx, addrs) if args.vmalloc
                        else kmem_mm.kmem_p(ctx, addrs))
        return
    slab_addrs = [w for w in args.addresses if _slab_address(ctx, w) is not None]
    if (args.slabs or args.slab_detail) and slab_addrs:
        # crash: an address not of a kmem_cache is looked up in the slabs
        if len(slab_addrs) != len(args.addresses):
            raise CommandError("kmem: give slab addresses or cache names, not both")
        for w in slab_addrs:
            yield from kmem_slab_of(ctx, _slab_address(ctx, w) or 0, bool(args.slab_detail))
        return
    if args.slabs:
        yield from _kmem_s(ctx, args.addresses, ignore)
        return
    if args.slab_detail:
        for c in (resolve_each(ctx, args.addresses, lambda n: find_cache(ctx, n))
                  if args.addresses else for_each_slab_cache(ctx.k)):
            if ignore and kernel_str(c.name.string()) in ignore:
                yield ignored_row(c)
                continue
            yield from _kmem_s(ctx, [f"{c.address:#x}"])
            try:
                yield from kmem_mm.kmem_S(ctx, c, cpus)
            except drgn.FaultError as e:
                ctx.warn(f"cache {c.address:#x}: cannot read {fault_where(e)}")
            except KmemxError as e:  # a corrupt freelist: report it, go on
                ctx.warn(f"cache {c.address:#x}: {e}")
        return
    from .lists import parse_address

    cols = KMEM_COLUMNS
    addrs = (list(resolve_each(ctx, args.addresses, lambda a: parse_address(ctx, a))) or
             [int(getattr(x, "address", x)) for x in objects(input)])
    if not addrs:
        raise CommandError("kmem: give one or more addresses")
    cache: dict[str, Any] = {}
    for i, a in enumerate(addrs):
        if i and i % 5000 == 0:
            ctx.progress("addresses", i, len(addrs))
        text = bool(args.addresses) and not ctx.as_json  # crash's text (piped: rows)
        if text and i:
            yield TextLine("")
        if a < 1 << 63:  # crash: not a kernel virtual address, so a physical one
            yield from _kmem_physical(ctx, a, cache, text)
            continue
        try:
            ident = identify_address(ctx.k, a, cache) or free_identity(ctx.k, a)
        except drgn.FaultError as e:
            ctx.warn(f"{a:#x}: cannot read {fault_where(e)}")
            yield Row(cols, (Address(a), "unreadable", "", "", None, None, ""))
            continue
        if text:
            yield from (TextLine(x) for x in kmem_address_text(ctx, a, ident))
            continue
        if ident is not None and ident.kind == "page":
            ident = _free_page_state(ctx.k, ident)
        if ident is None or ident.kind in ("symbol", "vmap"):
            # the symbol the text names: crash's of aliases (jiffies, not drgn's
            # jiffies_64), past a symbol's size too (jiffies_64+16), in arm64's
            # image too, which vmap areas map (crash: not vmalloc space)
            ident = _kmem_symbol_identity(ctx, a) or ident
        if ident is None:
            yield Row(cols, (Address(a), "unknown", "", "", None, None, ""))
            continue
        yield Row(cols, (Address(a), ident.kind, Name(ident.cache), Name(ident.name),
                         Address(ident.start), ident.offset, ident.state), ident)


def _kmem_symbol_identity(ctx: Context, addr: int) -> Identity | None:
    """``kmem ADDR``'s ``symbol`` row as its text names it
    (:func:`lists.ksymbol_at`), or None."""
    from .lists import ksymbol_at

    found = ksymbol_at(ctx.prog, addr)
    if found is None:
        return None
    sym = found[0]
    return Identity(addr, "symbol", sym.name, sym.address, sym.address + sym.size,
                    text=f"{sym.name}+{addr - sym.address:#x}")


def _free_page_state(k: Kernel, ident: Identity) -> Identity:
    """A ``page`` row (``ident``: a struct page in the vmemmap) with STATE
    ``free, order N`` when its page is in a free buddy block, as the text's
    free-block lines say (``(ADDR is 2nd of 32 pages)``); ``ident`` as it is
    otherwise, or when the free lists cannot be read."""
    import dataclasses

    from kmemx.helpers.mmzone import find_free_block
    from kmemx.helpers.pages import page_array

    pa = page_array(k)
    try:
        block = find_free_block(k, (ident.start - pa.vmemmap) // pa.page_size)
    except (drgn.FaultError, LookupError):
        return ident
    if block is None:
        return ident
    return dataclasses.replace(ident, state=f"free, order {block.order}")


def free_identity(k: Kernel, addr: int) -> Identity | None:
    """``kmem ADDR``'s row for a direct-map address that drgn's
    identify_address() leaves unknown but crash's kmem_search() finds on a
    free list (dump_free_pages()): kind ``free``, the zone as NAME, the
    block's first byte as START, ``order N`` as STATE.  None for any other
    address, or when the free lists cannot be read."""
    from drgn.helpers.linux.mm import phys_to_virt

    from kmemx.helpers.mmzone import find_free_block
    from kmemx.helpers.pages import page_array

    try:
        page_offset = int(phys_to_virt(k.prog, 0).value_()) & 0xFFFFFFFFFFFFFFFF  # __va(0)
        if not page_offset <= addr < page_offset + (page_array(k).max_pfn << 12):
            return None
        block = find_free_block(k, (addr - page_offset) >> 12)
        if block is None:
            return None
        zone = kernel_str(k.view("struct zone", block.free_list.zone).name.string())
    except (drgn.FaultError, LookupError):
        return None
    start = page_offset + (block.pfn << 12)
    return Identity(addr, "free", zone, start, start + (4096 << block.order),
                    f"order {block.order}", f"free pages: order {block.order} block in "
                    f"{zone} +{addr - start:#x}")


def kmem_address_text(ctx: Context, addr: int, ident: Any,
                      physical: int | None = None) -> Iterator[str]:
    """crash's ``kmem ADDR`` text for a kernel virtual address (memory.c
    kmem_search(), in its order): the symbol holding it (a kernel-image or
    module address: ``ADDR (T) name+off file: line``, ``[module]``; the
    ``file: line`` part for text only), the task whose stack it is in, the
    vmalloc area (``VMAP_AREA VM_STRUCT ADDRESS RANGE SIZE``) -- after
    which crash goes straight to the page --, the slab cache's ``kmem -s``
    line with the slab and the object (``  [ADDR]`` allocated, ``   ADDR``
    free, ``(cpu N cache)``), the free buddy block holding its page
    (:func:`kmem_mm.kmem_free_block_text`), the task whose ``task_struct`` holds it, each
    block followed by a blank line; last the page's ``kmem -p`` line under
    crash's header (``ADDR: kernel virtual address not found in mem map``
    where it has none).  ``ident``: :func:`identify_address`'s result.
    ``physical``: the physical address asked about, ``addr`` its direct-map
    address (kmem_search()'s PHYSADDR: no symbol or vmalloc part, the free
    block's ``(123010 is in 4th of 32 pages)`` and the page by it)."""

    from . import kmem_mm
    from .lists import _sym_row, in_kernel_image, ksymbol_at
    from .tasks import context_rows

    prog = ctx.prog

    def context(task_addr: int) -> list[str]:
        view = ctx.k.view("struct task_struct", task_addr)
        return [f"{key:>7}: {val}" for key, val in context_rows(ctx, view)] + [""]

    def symbol_line(at: int, show_module: bool) -> Iterator[str]:
        # show_symbol(): "ADDR (T) name+off [module] file: line", the offset decimal
        found = ksymbol_at(prog, at)
        if found is None:
            return
        sym, module = found
        off = at - sym.address
        row = _sym_row(ctx, at, sym, sym.name + (f"+{off}" if off else ""), at)
        line = f"{at:x} ({row['TYPE']}) {row['SYMBOL']}"
        if module and show_module:
            line += f" [{module}]"
        if str(row["TYPE"]) in "tT":
            where = _source_line(prog, at)
            line += f" {where}" if where or module else ""
        yield from (line, "")

    # the kernel image is not vmalloc space to crash, though arm64 maps it
    # there with vmap areas of its own (arm64.c arm64_IS_VMALLOC_ADDR():
    # kimage_text..kimage_end is not)
    image = in_kernel_image(prog, addr)  # _text to the last kernel symbol (_end)
    if physical is None:
        yield from symbol_line(addr, True)
        vmalloc = [] if image else list(kmem_mm.kmem_v(ctx, [addr]))
        stack = ident if ident is not None and ident.kind == "stack" else None
    else:
        # GET_PHYS_TO_VMALLOC: a page a vmap area maps, by the first of its
        # virtual addresses (area by area, page by page): that address's task
        # context when it is a stack, its symbol (no [module]), then every
        # area mapping the page, and on to the page, past the slab and free lists
        mapped = kmem_mm.phys_to_vmalloc(ctx, physical)
        vmalloc, stack = [], None
        if mapped:
            vid = identify_address(ctx.k, mapped[0])
            if vid is not None and vid.kind == "stack":
                yield from context(_task_of_identity(ctx, vid))
            yield from symbol_line(mapped[0], False)
            areas = {r.cells[0]: r for r in kmem_mm.kmem_v(ctx, mapped)}
            vmalloc = list(areas.values())
    if vmalloc:
        if stack is not None:
            yield from context(_task_of_identity(ctx, stack))
        yield "   VMAP_AREA         VM_STRUCT                 ADDRESS RANGE                SIZE"
        for r in vmalloc:
            yield f"{r.cells[0]:x}  {r.cells[1]:x}  {r.cells[2]}  {r.cells[3]:>7}"
        yield ""
    else:
        rows = []
        if ident is not None and ident.kind in ("slab", "task") and ident.cache:
            rows = list(kmem_slab_of(ctx, addr, False))
        elif ident is not None and ident.kind == "page" and _page_is_slab(ctx, ident.start):
            # a slab's own struct page: the slab and all its objects (is_slab_page())
            rows = list(kmem_slab_of(ctx, _page_to_virt(ctx, ident.start), True))
        if rows:
            c = rows[0]
            yield "CACHE             OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME"
            yield (f"{c['CACHE']:<16x} {c['OBJSIZE']:>8} {c['ALLOCATED']:>10} {c['TOTAL']:>9} "
                   f"{c['SLABS']:>6} {c['SSIZE']!s:>6}  {c['NAME']}")
            sl = rows[1]
            yield "  SLAB              MEMORY            NODE  TOTAL  ALLOCATED  FREE"
            yield (f"  {sl['SLAB']:<16x}  {sl['MEMORY']:<16x}  {sl['NODE']:>4}  "
                   f"{sl['TOTAL']:>5}  {sl['ALLOCATED']:>9}  {sl['FREE']:>4}")
            yield "  FREE / [ALLOCATED]"
            for o in rows[2:]:
                if o["ALLOCATED"]:
                    yield f"  [{o['OBJECT']:x}]"
                else:
                    cpu = o["CPU_CACHE"]
                    yield f"   {o['OBJECT']:x}  " + (f"(cpu {cpu} cache)" if cpu is not None
                                                    else "")
            yield ""
        free = kmem_mm.kmem_free_block_text(ctx, addr, physical)
        if free:
            yield from (*free, "")
        if ident is not None and ident.kind in ("task", "stack"):
            yield from context(_task_of_identity(ctx, ident))
    pages = list(kmem_mm.kmem_p(ctx, [addr if physical is None else physical]))
    if not pages:
        yield (f"{addr:x}: kernel virtual address not found in mem map" if physical is None
               else f"{physical:x}: physical address not found in mem map")
        return
    yield "      PAGE       PHYSICAL      MAPPING       INDEX CNT FLAGS"
    for r in pages:
        page, phys, mapping, index, cnt, flags = r.cells
        yield f"{page:x} {phys:>8x} {mapping:>16x} {index:>8x} {cnt:>2} {flags}"


def _page_is_slab(ctx: Context, page: int) -> bool:
    """crash's is_slab_page() test (memory.c): the struct page at ``page`` is
    itself a slab page (a tail page of a slab is not)."""
    from kmemx.helpers.slab import PageSlab

    try:
        return PageSlab(ctx.k, page)
    except (drgn.FaultError, LookupError):
        return False


def _page_to_virt(ctx: Context, page: int) -> int:
    """The direct-map address of the ``struct page *`` at ``page``."""
    from drgn.helpers.linux.mm import page_to_virt

    return int(page_to_virt(drgn.Object(ctx.prog, "struct page *", page)).value_())


def _task_of_identity(ctx: Context, ident: Any) -> int:
    """The ``task_struct`` address of a ``task`` or ``stack`` identity: a
    task of the task list or a CPU's idle task (init_task, whose stack is
    ``init_stack``: ``kmem init_stack+64`` on arm64, where the symbol is sized).
    Raises CommandError when no task has that stack."""
    if ident.kind == "task":
        return int(ident.start)
    from drgn.helpers.linux.cpumask import for_each_possible_cpu
    from drgn.helpers.linux.pid import for_each_task
    from drgn.helpers.linux.sched import idle_task

    prog = ctx.prog
    for t in itertools.chain((idle_task(prog, cpu) for cpu in for_each_possible_cpu(prog)),
                             for_each_task(prog)):
        stack = int(t.stack.value_())
        if stack == ident.start:
            return int(t.value_())
    raise CommandError(f"kmem: no task has the stack at {ident.start:#x}")


def _source_line(prog: drgn.Program, addr: int) -> str:
    """crash's ``file: line`` of a text address (get_line_number()), or ""."""
    from .dis import _source

    where = _source(prog, addr)
    return f"{where[0]}: {where[1]}" if where else ""


def _kmem_physical(ctx: Context, phys: int, cache: dict[str, Any],
                   text: bool) -> Iterator[Any]:
    """``kmem ADDR`` of an address below the kernel half: crash takes it as
    a physical address (memory.c cmd_kmem(): ``IS_KVADDR(value) ? KVADDR :
    PHYSADDR``), looks its direct-map address up (kmem_search(): PTOV) and
    ends with the struct page of its page (dump_mem_map()).  kmemx: the
    direct-map address's row when it is something (a slab object, a
    task...), then the page's ``kmem -p`` row; ``unknown`` when RAM has no
    page there (crash: "not found in mem map").  ``text``: crash's text
    instead (:func:`kmem_address_text` of the direct-map address).  A page a
    vmap area maps is looked up there as crash does (GET_PHYS_TO_VMALLOC):
    the row is the first vmalloc address's (a module's symbol, a vmap stack,
    a vmap area), then the page's."""
    from drgn.helpers.linux.mm import phys_to_virt

    from . import kmem_mm

    virt: int | None = None
    try:
        virt = int(phys_to_virt(ctx.prog, phys).value_()) & (2**64 - 1)
        ident = identify_address(ctx.k, virt, cache) or free_identity(ctx.k, virt)
    except (drgn.FaultError, ValueError, LookupError):
        ident = None
    if text:
        if virt is None:
            yield TextLine(f"{phys:x}: physical address not found in mem map")
        else:
            yield from (TextLine(x) for x in kmem_address_text(ctx, virt, ident, phys))
        return
    mapped = kmem_mm.phys_to_vmalloc(ctx, phys)
    if mapped:  # GET_PHYS_TO_VMALLOC: the row of the first vmalloc address mapping it
        vid = identify_address(ctx.k, mapped[0], cache)
        if vid is None or vid.kind in ("symbol", "vmap"):
            vid = _kmem_symbol_identity(ctx, mapped[0]) or vid
        ident = vid or ident
    if ident is not None:
        yield Row(KMEM_COLUMNS, (Address(ident.address), ident.kind, Name(ident.cache),
                                 Name(ident.name), Address(ident.start), ident.offset,
                                 ident.state), ident)
    pages = list(kmem_mm.kmem_p(ctx, kmem_mm.phys_to_kernel(ctx, [phys], for_pages=True)))
    if not pages:
        yield Row(KMEM_COLUMNS, (Address(phys), "unknown", "", "", None, None, ""))
    yield from pages
