"""``struct -p``, ``tree -t xarray -p -s`` and ``sbitmapq -v`` in crash's
text, byte for byte against crash 8.0.6 on the test bed's ELF dump
(``KMEMX_KERNEL`` picks the kernel) (issue 15).

* ``struct -p`` (crash's symbols.c dereference_pointer() and
  print_struct_with_dereference()): members of a worker's ``task_struct``
  (``mm``, ``comm``, ``stack``: ``void *``, ``parent``, ``set_child_tid``:
  ``int *``), its ``fdtable``
  (``struct file **``, ``unsigned long *``; with -x and COUNT 2; a member
  list), its ``file``, an ``irq_desc`` (function-pointer typedefs,
  ``cpumask_var_t``), the file's ``super_block``
  (its ``file_system_type``'s ``lock_class_key s_writers_key[3]``: an array
  of empty structures gdb prints as its address), the loopback
  ``net_device``, the first module (addresses in modules named as crash's
  gdb_lookup_module_symbol() names them), a ``list_head`` whose ``next`` is
  not a kernel address, a ``union`` and the error without an address.
  ``--drgn`` prints the same text; ``--json`` has a row for each pointer
  crash follows.
* ``tree -t xarray -p -s``/``-S`` of a file's page cache (``-r
  address_space.i_pages``, -x too) and of ``irq_desc_tree`` (where the
  kernel has one: 6.5 replaced it with the maple tree ``sparse_irqs``,
  721255b9826b).
* ``kmem ADDR`` of kernel addresses (crash's memory.c kmem_search()
  text): a slab object (its start, and 16 bytes in), a ``task_struct``, a
  ``struct page``, a vmalloc'ed stack, kernel text and data, a module's
  ``struct module`` and text, an ``inode``'s ``address_space``, an address
  and a struct page inside a free buddy block of order 2 or more and the
  first page of an order-0 block (crash's dump_free_pages_zones_v2()
  lines).
* ``sbitmapq -s STRUCT[.members] -a ARRAY -v`` on a place of the dump that
  reads as a ``struct sbitmap_queue`` with a bit set (the test bed's guests
  have no block device, so no real one exists: see test_crash_opts4); the
  set bits also against drgn's own ``sbitmap_for_each_set()``.

Written exceptions (each asserted where it applies):

* ``struct -p`` on arm64 of a pointer into the kernel image's init section
  (``irq_desc.kstat_irqs``, a per-CPU address): the section is freed and
  unmapped after boot; crash-arm64 reads image addresses by formula
  (kimage_voffset) and prints what that RAM holds now, kmemx's page-table
  walk finds no mapping (``(not accessible)``), as drgn's does.
* ``struct -p`` of a module's function pointer: where two symbols of the
  module start at the target (``cleanup_module`` and its alias
  ``dummy_cleanup_module``), crash's value_search_module() takes the one
  its unstable qsort() of the module's symbols left first; kmemx names the
  first by name.  Compared as "both name the target".  The same for any
  ``<name+offset>`` past such aliases (arm64 6.1: ``cleanup_module+22192``
  and ``virtio_console_fini+22192``), in ``struct -p`` and ``kmem ADDR``.
* ``struct -p`` of a module on 6.4+ kernels: a pointer to a module memory
  region's base is named by crash's pseudo-symbol ``_MODULE_DATA_START_dummy``
  (symbols.c module_tag[]); kmemx names it by the module's own symbols or
  not at all.  Compared with the ``<names>`` left out.
* ``kmem ADDR``'s symbol line: crash's ``file: line`` names the file as
  the compilation unit's DWARF path from the build directory
  (``debian/build/build_amd64_none_amd64/kernel/sched/core.c``), kmemx as
  drgn gives it (``kernel/sched/core.c``, the path ``sym`` and ``dis -l``
  print): compared as "crash's path ends with kmemx's".  A module's symbols
  that crash read from the module's export tables have crash's type ``?``
  (symbols.c store_module_symbols_v2()); kmemx gives the kallsyms type
  (``__this_module``: ``d``): the type of a module's symbol is not compared.
* ``tree -t radix``: crash 8.0.6 refuses it on these kernels ("radix trees
  do not exist or have changed their format": it needs
  ``radix_tree_root.rnode``, renamed ``xa_head`` when the radix tree became
  an xarray in 4.20, f8d5d0cc145c); kmemx walks it as the xarray it is,
  and its output equals ``tree -t xarray``'s.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

import drgn
import pytest

from kmemx.commands import CommandError, execute
from tests.vmcore.crash_session import CrashSession, crash_session_fixture

#: the first test waits for the module's crash session: crash's -p reads
#: gdb's ptype of the structure again for each member line, minutes at a
#: busy machine's load (the session's own limit is crash_timeout)
pytestmark = [pytest.mark.vmcore, pytest.mark.timeout(2400)]


class Session(CrashSession):
    crash_timeout = 2400

    @cached_property
    def addr(self) -> dict[str, int]:
        from drgn.helpers.linux.irq import irq_to_desc
        from drgn.helpers.linux.list import list_first_entry
        from drgn.helpers.linux.mm import virt_to_page

        prog = self.k.prog
        w = self.worker
        fdt = w.files.fdt
        return {"task": int(w.value_()), "fdt": int(fdt.value_()),
                "file": int(fdt.fd[0].value_()),
                "irq": int(irq_to_desc(prog, 1).value_()),
                "cache": int(list_first_entry(prog["slab_caches"].address_of_(),
                                              "struct kmem_cache", "list").value_()),
                "sb": int(fdt.fd[0].f_inode.i_sb.value_()),
                "fstype": int(fdt.fd[0].f_inode.i_sb.s_type.value_()),
                "netdev": int(prog["init_net"].loopback_dev.value_()),
                "module": int(list_first_entry(prog["modules"].address_of_(),
                                               "struct module", "list").value_()),
                "exe_mapping": int(w.mm.exe_file.f_inode.i_mapping.value_()),
                "stack": int(w.stack.value_()),
                "page": int(virt_to_page(prog, w.value_()).value_()),
                "module_text": self.module_text}

    @cached_property
    def free_blocks(self) -> dict[str, int]:
        """Addresses in free buddy blocks, found with drgn's helpers: the
        direct-map address 16 bytes into the third page of the first block
        of order 2 or more (``free``), that page's struct page
        (``free_page``) and its physical address (``free_phys``: crash's
        ``is in``), the first page of an order-0 block (``free_0``)."""
        from drgn.helpers.linux.list import list_for_each_entry
        from drgn.helpers.linux.mm import page_to_phys, page_to_virt
        from drgn.helpers.linux.mmzone import for_each_online_pgdat

        prog = self.k.prog
        try:
            prog.type("struct page").member("buddy_list")
            link = "buddy_list"
        except LookupError:  # before 6.2 (bd2a745ba9c6) the block is on lru
            link = "lru"
        found: dict[str, int] = {}
        for pgdat in for_each_online_pgdat(prog):
            for zone in pgdat.node_zones:
                for order, area in enumerate(zone.free_area):
                    for head in area.free_list:
                        for page in list_for_each_entry("struct page", head.address_of_(),
                                                        link):
                            if order == 0:
                                found.setdefault("free_0", int(page.value_()))
                            elif order >= 2 and "free" not in found:
                                third = page + 2
                                found["free_page"] = int(third.value_())
                                found["free"] = int(page_to_virt(third).value_()) + 16
                                found["free_phys"] = int(page_to_phys(third).value_()) + 16
                            break
                if len(found) == 4:
                    return found
        return found

    @cached_property
    def module_text(self) -> int:
        """The start of the first module's text."""
        from drgn.helpers.linux.list import list_first_entry

        mod = list_first_entry(self.k.prog["modules"].address_of_(), "struct module", "list")
        try:  # 6.4 split the layouts into mem[] (ac3b43283923)
            return int(mod.mem[0].base.value_())
        except AttributeError:
            return int(mod.core_layout.base.value_())

    @cached_property
    def sbitmap(self) -> tuple[int, int] | None:
        """A place that reads as a struct sbitmap_queue with a bit set, and
        the array its bits index (init_task), or None."""
        from tests.vmcore.test_crash_opts4 import _sbitmap_candidates

        init = int(self.k.prog["init_task"].address_)
        for n, addr in enumerate(_sbitmap_candidates(self, sb_only=True)):  # type: ignore[arg-type]
            if n == 500:
                break
            try:
                if list(execute(self.k, f"sbitmapq -s list_head -a {init:x} {addr:x}")):
                    return addr, init
            except CommandError:
                continue
        return None

    @cached_property
    def has_irq_desc_tree(self) -> bool:
        try:
            self.k.prog["irq_desc_tree"]
            return True
        except KeyError:
            return False

    @cached_property
    def page_index(self) -> str:
        """``struct page``'s page-cache index member: ``index``, renamed
        ``__folio_index`` in 6.16 ("mm: rename page->index to
        page->__folio_index")."""
        try:
            self.k.prog.type("struct page").member("index")
        except LookupError:
            return "__folio_index"
        return "index"

    @cached_property
    def commands(self) -> dict[str, str]:
        a = {k: f"{v:x}" for k, v in self.addr.items()}
        index = self.page_index
        cmds = {
            "fdtable": f"struct fdtable -p {a['fdt']}",
            "fdtable -x 2": f"struct -x fdtable -p {a['fdt']} 2",
            "fdtable members": f"struct fdtable.fd,open_fds,max_fds,close_on_exec -p {a['fdt']}",
            "task members": f"struct task_struct.mm,comm,stack,parent,set_child_tid,"
                            f"sched_class,cpus_ptr -p {a['task']}",
            "file": f"struct file -p {a['file']}",
            "irq_desc": f"struct irq_desc -p {a['irq']}",
            "super_block": f"struct super_block -p {a['sb']}",
            # its name is a char *: the string form on every architecture
            "file_system_type": f"struct file_system_type -p {a['fstype']}",
            "module": f"struct module -p {a['module']}",
            "list_head": f"struct list_head -p {a['task']}",
            "union": f"union sigval -p {a['task']}",
            "no address": "struct list_head -p",
            "xarray -p -s": f"tree -t xarray -p -s page.flags,{index} -r address_space.i_pages "
                            f"{a['exe_mapping']}",
            "xarray -p -x -s": f"tree -t x -p -x -s page.{index},mapping "
                               f"-r address_space.i_pages {a['exe_mapping']}",
            "xarray -S": f"tree -t x -S page.{index} -r address_space.i_pages "
                         f"{a['exe_mapping']}",
        }
        cmds.update({
            "kmem slab": f"kmem {a['file']}",
            "kmem slab+16": f"kmem {self.addr['file'] + 16:x}",
            "kmem task": f"kmem {a['task']}",
            "kmem page": f"kmem {a['page']}",
            "kmem stack": f"kmem {self.addr['stack'] + 0x100:x}",
            "kmem text": f"kmem {self.k.prog['schedule'].address_ + 16:x}",
            "kmem data": f"kmem {self.k.prog['jiffies'].address_:x}",
            # past its symbol's size: crash's value_search() still names it
            "kmem data past": f"kmem {self.k.prog['jiffies'].address_ + 16:x}",
            "kmem module": f"kmem {a['module']}",
            "kmem module text": f"kmem {self.addr['module_text'] + 16:x}",
            # physical addresses a vmap area maps (GET_PHYS_TO_VMALLOC): a
            # module's text, a task's vmap stack
            "kmem module phys": f"kmem {self._phys(self.addr['module_text'] + 16):x}",
            "kmem stack phys": f"kmem {self._phys(self.addr['stack'] + 0x100):x}",
            "kmem mapping": f"kmem {a['exe_mapping']}",
            **{f"kmem {key.replace('_', ' ')}": f"kmem {v:x}"
               for key, v in self.free_blocks.items()}})
        if self.has_irq_desc_tree:
            cmds.update({
                "irq xarray -p -s": "tree -t xarray -p -s irq_desc.irq_data irq_desc_tree",
                "irq xarray -p -S": "tree -t x -p -S irq_desc.irq_data.irq irq_desc_tree",
                "irq radix": "tree -t radix -p -s irq_desc.irq_data.irq,name irq_desc_tree"})
        if self.sbitmap is not None:
            sbq, array = (f"{v:x}" for v in self.sbitmap)
            cmds.update({
                "sbitmapq -v": f"sbitmapq -s list_head -a {array} -v {sbq}",
                "sbitmapq -v member": f"sbitmapq -s list_head.next -a {array} -v {sbq}",
                "sbitmapq -v -x": f"sbitmapq -s list_head -a {array} -v -x {sbq}",
                "sbitmapq -v members": f"sbitmapq -s task_struct.pid,comm -a {array} -v {sbq}"})
        return cmds

    def _phys(self, addr: int) -> int:
        from drgn.helpers.linux.mm import follow_phys

        prog = self.k.prog
        return int(follow_phys(prog["init_mm"].address_of_(), addr))

    def ours(self, key: str) -> str:
        try:
            return self.text(self.commands[key])
        except CommandError as e:
            return str(e)

    def module_symbols(self, address: int) -> set[str]:
        """The names of the module symbols at ``address`` (kmemx's ``sym -m``)."""
        from kmemx.helpers import module_of_address

        mod = module_of_address(self.k.prog, address)
        return {r["symbol"] for r in self.json(f"sym -m {mod}")
                if int(r["address"], 16) == address}


s = crash_session_fixture(Session)


def _lines(text: str) -> list[str]:
    return text.rstrip("\n").split("\n")


#: a whole task_struct, net_device or kmem_cache with -p is left out: crash
#: reads gdb's ptype of the whole structure again for each member line
#: (dereference_pointer()), ~20 minutes for a task_struct at this machine's
#: load, beyond the test's timeout; the members of a task_struct are in
STRUCT_P = ["fdtable", "fdtable -x 2", "fdtable members", "task members", "file",
            "irq_desc", "super_block", "file_system_type", "module", "list_head", "union", "no address"]


#: crash's module-region pseudo-symbols, and any ``<symbol+offset>``
_MODULE_PSEUDO = re.compile(r"<_MODULE_[A-Z_]+_(?:START|END)_\w+(?:\+\d+)?>")
_NAME = re.compile(r" ?<[\w.]+(?:\+\d+)?>")
#: a member line whose pointer gdb names: ``  arg = 0xADDR <symbol>,``
_NAMED_POINTER = re.compile(r"(\s*\w+ = )0x([0-9a-f]+) <([\w.]+(?:\+\d+)?)>( \".*\")?,?")


def _assert_module_aliases(s: Session, address: int, ours: str, theirs: str) -> None:
    """``ours`` and ``theirs`` (``name+offset``) name ``address`` by two module
    symbols at one address, the same offset past it: aliases, of which crash
    takes the first of its unstable sort of the module's symbols."""
    (name_o, _, off_o), (name_t, _, off_t) = ours.partition("+"), theirs.partition("+")
    assert off_o == off_t, (ours, theirs)
    assert s.module_symbols(address - int(off_o or 0)) >= {name_o, name_t}, (ours, theirs)


@pytest.mark.parametrize("key", STRUCT_P)
def test_struct_p_is_crash(s: Session, key: str) -> None:
    ours, theirs = _lines(s.ours(key)), _lines(s.crash[key])
    assert len(ours) == len(theirs) >= 1
    if key == "no address":
        assert ours == theirs == ["struct: -p option requires address argument"]
        return
    assert any(t.startswith("  -> ") for t in theirs)
    for o, t in zip(ours, theirs, strict=True):
        if o != t and key == "module" and _MODULE_PSEUDO.search(t):
            # crash's pseudo-symbols at module memory regions' bases (symbols.c
            # module_tag[], kernels with struct module_memory, ac3b43283923, 6.4):
            # kmemx names such an address by the module's own symbols, or not at all
            assert _NAME.sub("", o) == _NAME.sub("", t), (o, t)
            continue
        if o != t and key == "module" and o.startswith("  -> <") and t.startswith("  -> <"):
            # the written exception: aliases at one module address (the
            # function pointer's value is on the line before)
            target = int(ours[ours.index(o) - 1].rsplit(" = ", 1)[1], 16)
            assert s.module_symbols(target) >= {o[6:-1], t[6:-1]}, (o, t)
            continue
        if o != t and o == "  -> (not accessible)" and t.startswith("  -> "):
            # arm64: a per-CPU pointer (irq_desc.kstat_irqs) is an address in the
            # image's init section, freed and unmapped after boot; crash-arm64
            # reads the image by formula (kimage_voffset), not through the page
            # tables, so it reads what that RAM holds now; kmemx's walk finds no
            # mapping, as drgn's does
            ptr = int(ours[ours.index(o) - 1].rsplit(" = ", 1)[1], 16)
            prog = s.k.prog
            assert (prog.symbol("__init_begin").address <= ptr
                    < prog.symbol("__init_end").address), (o, t)
            with pytest.raises(drgn.FaultError):
                prog.read(ptr, 4)
            continue
        mo, mt = _NAMED_POINTER.fullmatch(o), _NAMED_POINTER.fullmatch(t)
        if o != t and key == "module" and mo and mt and mo.group(1, 2, 4) == mt.group(1, 2, 4):
            # the same exception for a pointer member gdb names (`arg = 0x... <sym+off>,`,
            # a char *'s string after it): 6.12's empty alloc_tags section starts a
            # module's __start_alloc_tags at a variable's address (numdummies); arm64
            # 6.1's module_exit() alias cleanup_module names pointers past the exit
            # function as its own name does
            _assert_module_aliases(s, int(mo[2], 16), mo[3], mt[3])
            continue
        assert o == t


def test_struct_p_covers_every_kind(s: Session) -> None:
    """The sample has each of crash's target forms: a structure, a
    symbol's, a ``void *``'s, NULL, a function's, a string, a ``T **``'s."""
    text = "".join(s.crash[k] for k in STRUCT_P)
    for form in (r"^  -> \{$", r"^  -> <\w+> \{$", r"^  -> \(unknown target type\)$",
                 r"^  -> NULL$", r"^  \S.*\(\*\w+\)\(.*\) = 0x[0-9a-f]+\n  -> <\w+>$",
                 r'^  -> "', r"^  \S.* \*\*\w+ = 0x[0-9a-f]+\n  -> [0-9a-f]+$"):
        assert re.search(form, text, re.MULTILINE), form


@pytest.mark.parametrize("key", ["fdtable", "fdtable -x 2", "fdtable members",
                                 "task members", "union"])
def test_struct_p_drgn_prints_the_same(s: Session, key: str) -> None:
    assert s.drgn_output(s.commands[key]).rstrip("\n") == s.ours(key).rstrip("\n")


def test_struct_p_json(s: Session) -> None:
    """``--json``: a row for each pointer member crash follows, its type,
    value and symbol as crash's lines show them."""
    rows = s.json(s.commands["file"])
    theirs = re.findall(r"^  (.*?)(\w+) = (0x[0-9a-f]+)\n  -> (<(\S+)>)?", s.crash["file"],
                        re.MULTILINE)
    assert [r["member"] for r in rows] == [m for _, m, _, _, _ in theirs]
    for r, (_, _, value, _, sym) in zip(rows, theirs, strict=True):
        assert int(r["pointer"], 16) == int(value, 16)
        assert int(r["address"], 16) == s.addr["file"]
        assert (r["symbol"] or "") == sym
    inode = next(r for r in rows if r["member"] == "f_inode")
    assert inode["type"] == "struct inode *" and isinstance(inode["target"], dict)
    assert inode["target"]["i_ino"] == int(s.worker.files.fdt.fd[0].f_inode.i_ino)
    rows = s.json(s.commands["fdtable"])
    fd = next(r for r in rows if r["member"] == "fd")
    assert fd["target"] == int(s.worker.files.fdt.fd[0].value_())  # the T **'s pointer


KMEM = ["kmem slab", "kmem slab+16", "kmem task", "kmem page", "kmem stack", "kmem text",
        "kmem data", "kmem data past", "kmem module", "kmem module text", "kmem module phys",
        "kmem stack phys", "kmem mapping", "kmem free",
        "kmem free page", "kmem free phys", "kmem free 0"]
_SYMBOL_LINE = re.compile(r"^([0-9a-f]+) \((.)\) (\S+)( \[\w+\])?(?: (.*))?$")


@pytest.mark.parametrize("key", KMEM)
def test_kmem_address_text_is_crash(s: Session, key: str) -> None:
    if key not in s.commands:
        pytest.skip(f"no free block for {key!r} in this dump")
    ours, theirs = _lines(s.ours(key)), _lines(s.crash[key])
    if key.startswith("kmem free"):  # crash's free-block lines (kmem_free_block_text)
        assert any(t.startswith("AREA    SIZE  FREE_AREA_STRUCT") for t in theirs)
    assert len(ours) == len(theirs) >= 2
    assert "PAGE       PHYSICAL      MAPPING       INDEX CNT FLAGS" in theirs[-2]
    for o, t in zip(ours, theirs, strict=True):
        mo, mt = _SYMBOL_LINE.match(o), _SYMBOL_LINE.match(t)
        if o != t and mo and mt:  # the written exceptions: the path, a module symbol's type
            assert mo.group(1, 4) == mt.group(1, 4)
            if mo[3] != mt[3]:  # aliases at one module address (module_exit's cleanup_module)
                _assert_module_aliases(s, int(mo[1], 16), mo[3], mt[3])
            assert mo.group(2) == mt.group(2) or mt.group(4)
            fo, ft = mo.group(5) or "", mt.group(5) or ""  # crash 9.x: a space, no file
            assert fo == ft or (fo and ft and ft.endswith("/" + fo)), (o, t)
            continue
        if o != t and _sheaf_difference(s, o, t):
            continue
        assert o == t


def _sheaf_difference(s: Session, ours: str, theirs: str) -> bool:
    """A cache's ``kmem -s`` line where crash's ALLOCATED is kmemx's plus
    exactly the objects in that cache's sheaves (6.18+), which crash counts
    allocated: the written exception of ``kmem -s`` ALLOCATED
    (tests/vmcore/test_oracle_columns.py)."""
    from drgn import Object

    from tests.vmcore.test_oracle_columns import _sheaf_object_addresses

    o, t = ours.split(), theirs.split()
    if len(o) != 7 or len(t) != 7 or o[:2] + o[3:] != t[:2] + t[3:]:
        return False
    cache = Object(s.k.prog, "struct kmem_cache *", int(o[0], 16))
    n = len(_sheaf_object_addresses(s.k.prog, cache))
    return n > 0 and int(t[2]) - int(o[2]) == n


@pytest.mark.parametrize("key", ["kmem text", "kmem data", "kmem data past", "kmem module text"])
def test_kmem_symbol_json_names_the_texts_symbol(s: Session, key: str) -> None:
    """``kmem ADDR --json`` of a kernel-image or module address names the
    symbol its text does, crash's (``jiffies`` of the aliases jiffies and
    jiffies_64, ``jiffies_64+16`` past its size), not drgn's prog.symbol()."""
    first = _lines(s.ours(key))[0]
    m = _SYMBOL_LINE.match(first)
    assert m is not None, first
    name, _, off = m[3].partition("+")
    row, = s.json(s.commands[key])
    assert (row["kind"], row["name"], row["offset"]) == ("symbol", name, int(off or 0)), first
    assert int(row["start"], 16) == int(m[1], 16) - int(off or 0)


def test_kmem_address_json_keeps_rows(s: Session) -> None:
    """``--json`` (and a pipe) keep kmemx's ADDRESS KIND ... rows."""
    row, = s.json(s.commands["kmem slab+16"])
    assert (row["kind"], row["cache"], int(row["start"], 16), row["offset"]) == \
        ("slab", "filp", s.addr["file"], 16)


def test_kmem_free_address_json_row(s: Session) -> None:
    """``--json`` of an address in a free buddy block: kind ``free``, the
    block's first byte as START (two pages and 16 bytes before it: see
    free_blocks), ``order N`` (N >= 2), the zone as NAME; the physical
    address gives the same row of its direct-map address."""
    if "free" not in s.free_blocks:
        pytest.skip("no free block of order 2 or more in this dump")
    addr = s.free_blocks["free"]
    row, = s.json(f"kmem {addr:x}")
    assert (row["kind"], int(row["start"], 16), row["offset"]) == \
        ("free", addr - 2 * 4096 - 16, 2 * 4096 + 16)
    assert row["state"].startswith("order ") and int(row["state"].split()[1]) >= 2
    assert row["name"] in {"DMA", "DMA32", "Normal", "Movable"}
    rows = s.json(f"kmem {s.free_blocks['free_phys']:x}")
    assert rows[0] == row
    # its struct page: a page row whose STATE is the block's, as the text's
    # "(ADDR is 3rd of N pages)" lines say
    page, = s.json(f"kmem {s.free_blocks['free_page']:x}")
    assert (page["kind"], page["state"]) == ("page", f"free, {row['state']}")
    busy, = s.json(f"kmem {s.addr['page']:x}")  # a task_struct's page: no state
    assert (busy["kind"], busy["state"]) == ("page", "")


TREES = ["xarray -p -s", "xarray -p -x -s", "xarray -S", "irq xarray -p -s",
         "irq xarray -p -S"]


@pytest.mark.parametrize("key", TREES)
def test_tree_xarray_text_is_crash(s: Session, key: str) -> None:
    if key not in s.commands:
        pytest.skip("no irq_desc_tree: 6.5's 721255b9826b made it the maple tree sparse_irqs")
    ours, theirs = _lines(s.ours(key)), _lines(s.crash[key])
    assert len(ours) == len(theirs) > 10
    assert ours == theirs


def test_tree_radix_is_the_xarray(s: Session) -> None:
    """The written exception: crash refuses ``-t radix`` on an xarray-based
    radix tree; kmemx's output is ``-t xarray``'s."""
    if "irq radix" not in s.commands:
        pytest.skip("no irq_desc_tree: 6.5's 721255b9826b made it the maple tree sparse_irqs")
    assert "radix trees do not exist or have changed their format" in s.crash["irq radix"]
    assert s.ours("irq radix") == s.text(s.commands["irq radix"].replace("-t radix",
                                                                         "-t xarray"))
    assert len(_lines(s.ours("irq radix"))) > 10


SBITMAPQ = ["sbitmapq -v", "sbitmapq -v member", "sbitmapq -v -x", "sbitmapq -v members"]


@pytest.mark.parametrize("key", SBITMAPQ)
def test_sbitmapq_v_is_crash(s: Session, key: str) -> None:
    if key not in s.commands:
        pytest.skip("no place of this dump reads as a struct sbitmap_queue with a bit set")
    assert _lines(s.ours(key)) == _lines(s.crash[key])
    assert s.drgn_output(s.commands[key]).rstrip("\n") == s.ours(key).rstrip("\n")


def test_sbitmap_bits_equal_drgn(s: Session) -> None:
    """kmemx's sbitmap_for_each_set() against drgn's own helper, on the
    candidate places of the dump that read as a struct sbitmap."""
    import drgn
    from drgn.helpers.linux.sbitmap import sbitmap_for_each_set as drgn_bits

    from plugins.sbitmap import sbitmap_for_each_set
    from tests.vmcore.test_crash_opts4 import _sbitmap_candidates

    checked = with_bits = 0
    for n, addr in enumerate(_sbitmap_candidates(s, sb_only=True)):  # type: ignore[arg-type]
        if n == 200:
            break
        sb = drgn.Object(s.k.prog, "struct sbitmap", address=addr)
        try:
            theirs: list[Any] = list(drgn_bits(sb))
        except drgn.FaultError:
            continue
        assert list(sbitmap_for_each_set(sb)) == theirs
        checked += 1
        with_bits += bool(theirs)
    if not checked:
        pytest.skip("no place of this dump reads as a struct sbitmap")
    assert with_bits >= 1 or checked < 5
