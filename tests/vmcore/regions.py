"""Sample kernel virtual addresses of every region type from a real dump."""

from __future__ import annotations

import random
import re
from typing import Any

import drgn
from drgn import FaultError
from drgn.helpers.linux.mm import phys_to_virt
from drgn.helpers.linux.module import for_each_module
from drgn.helpers.linux.percpu import per_cpu_ptr
from drgn.helpers.linux.pid import for_each_task

__all__ = [
    "direct_map_base",
    "kallsyms_address",
    "kernel_image",
    "kernel_image_holes",
    "kmalloc_cache",
    "region_samples",
    "vmalloc_start",
]


def kernel_image(prog: Any) -> tuple[int, int]:
    """``(_text, _end)`` of the running kernel image.  drgn 0.3.0 leaves
    ``_end`` (past the image's last section) unrelocated on a KASLR arm64
    kernel, below ``_text``; then the kernel module's own range ends it."""
    text, end = prog.symbol("_text").address, prog.symbol("_end").address
    if end <= text:
        end = prog.main_module().address_range[1]
    return text, end


def kernel_image_holes(prog: Any) -> list[tuple[int, int]]:
    """Parts of the image that the running kernel does not map: on arm64 the
    image header before ``_stext`` (``map_kernel()`` maps from ``_stext``,
    arch/arm64/mm/mmu.c) and the init sections that ``free_initmem()``
    unmapped (arch/arm64/mm/init.c).  x86-64 keeps all of it mapped."""
    if prog.platform.arch != drgn.Architecture.AARCH64:
        return []
    sym = prog.symbol
    return [(sym("_text").address, sym("_stext").address),
            (sym("__init_begin").address, sym("__init_end").address)]


def direct_map_base(prog: Any) -> int:
    """``__va(0)``: where the direct (linear) map would put physical address 0,
    by drgn's rule (``phys_to_virt()``: ``page_offset_base`` on x86-64, the
    page tables' own offset elsewhere), unsigned 64-bit."""
    return int(phys_to_virt(prog, 0)) & 0xFFFFFFFFFFFFFFFF


def kallsyms_address(fixture: Any, name: str) -> int:
    """``name``'s address in the guest's own /proc/kallsyms (the manifest),
    else in drgn's symbol table of the dump: the 6.1 arm64 guest's manifest
    lists only ``_stext``."""
    addr = fixture.manifest["kallsyms"].get(name)
    return int(addr) if addr is not None else int(fixture.prog.symbol(name).address)


def kmalloc_cache(prog: Any, size: int) -> str:
    """The name of the smallest ``kmalloc-N`` cache whose objects hold ``size``
    bytes, asked of the dump: ``kmalloc-64`` for 64 on x86-64, ``kmalloc-128``
    on arm64 kernels whose ``KMALLOC_MIN_SIZE`` is ``ARCH_DMA_MINALIGN`` (128,
    before kernel commit 9382bc44b5f5, v6.5, allowed smaller caches)."""
    from drgn.helpers.linux.slab import for_each_slab_cache

    sizes = {}
    for c in for_each_slab_cache(prog):
        name = c.name.string_().decode()
        if re.fullmatch(r"kmalloc-\d+k?", name):
            sizes[name] = int(c.object_size)
    fits = [n for n, o in sizes.items() if o >= size]
    if not fits:
        raise LookupError(f"no kmalloc cache holds {size} bytes")
    return min(fits, key=lambda n: sizes[n])


def _vmcoreinfo_number(prog: Any, key: str) -> int | None:
    for line in prog["VMCOREINFO"].string_().decode().splitlines():
        if line.startswith(f"NUMBER({key})="):
            return int(line.split("=", 1)[1], 0)
    return None


def vmalloc_start(prog: Any) -> int:
    """``VMALLOC_START``: x86-64's ``vmalloc_base`` (randomized), else arm64's
    ``NUMBER(VMALLOC_START)`` in VMCOREINFO, else (an arm64 kernel that does
    not export it) the lowest vmalloc area, from the vmap areas' tree."""
    try:
        return int(prog["vmalloc_base"])
    except KeyError:
        pass
    v = _vmcoreinfo_number(prog, "VMALLOC_START")
    if v is not None:
        return v & 0xFFFFFFFFFFFFFFFF
    from drgn.helpers.linux.rbtree import rb_first

    first = rb_first(prog["vmap_area_root"].address_of_())
    return int(drgn.container_of(first, "struct vmap_area", "rb_node").va_start)


def _module_ranges(prog: Any) -> list[tuple[int, int]]:
    out = []
    for mod in for_each_module(prog):
        try:  # 6.4 replaced core_layout with mem[MOD_TEXT...]
            for mem in mod.mem:
                if mem.size:
                    out.append((int(mem.base), int(mem.size)))
        except AttributeError:
            for layout in (mod.core_layout, mod.init_layout):
                if layout.size:
                    out.append((int(layout.base), int(layout.size)))
    return out


def region_samples(prog: Any, n_per_region: int, seed: int = 0) -> dict[str, list[int]]:
    """``n_per_region`` random addresses in each region type, at least 256
    bytes before the end of their object or region, so reads of up to 256
    bytes stay inside."""
    rnd = random.Random(seed)
    pob = direct_map_base(prog)
    vmemmap = int(prog["vmemmap"])  # drgn's; vmemmap_base on x86-64
    vmalloc = vmalloc_start(prog)
    # RAM starts at pfn 0 on x86-64, at memblock's first pfn elsewhere (arm64)
    min_pfn = int(prog["min_low_pfn"])
    text, end = kernel_image(prog)
    holes = kernel_image_holes(prog)
    max_pfn = int(prog["max_pfn"])
    stacks = []
    for t in for_each_task(prog):
        try:
            stacks.append(int(t.stack))
        except FaultError:
            pass
    percpu_base = prog.symbol("runqueues").address
    cpus = [int(prog["__per_cpu_offset"][i]) for i in range(int(prog["nr_cpu_ids"]))]
    mods = _module_ranges(prog)
    page_size = int(prog.type("struct page").size)
    rq = prog["runqueues"]

    def pick(region: str) -> int:
        if region == "direct":
            return pob + (min_pfn << 12) + rnd.randrange(((max_pfn - min_pfn) << 12) - 256)
        if region == "kernel":
            while True:  # (x86-64: no holes, one draw)
                a = rnd.randrange(text, end - 256)
                if not any(s - 256 < a < e for s, e in holes):
                    return a
        if region == "stack":
            return rnd.choice(stacks) + rnd.randrange(16384 - 256)
        if region == "vmalloc":  # mostly unmapped: exercises faults
            return vmalloc + rnd.randrange(1 << 32)
        if region == "vmemmap":
            return (vmemmap + rnd.randrange(min_pfn, max_pfn) * page_size +
                    rnd.randrange(page_size))
        if region == "module":
            base, size = rnd.choice(mods)
            return base + rnd.randrange(size - 256)
        if region == "percpu":
            cpu_ptr = int(per_cpu_ptr(rq.address_of_(), rnd.randrange(len(cpus))))
            return cpu_ptr + rnd.randrange(int(rq.type_.size) - 256)
        if region == "noncanonical":
            return rnd.randrange(1 << 47, (1 << 64) - (1 << 57))
        raise ValueError(region)

    del percpu_base
    regions = ["direct", "kernel", "stack", "vmalloc", "vmemmap", "module", "percpu",
               "noncanonical"]
    return {r: [pick(r) for _ in range(n_per_region)] for r in regions}
