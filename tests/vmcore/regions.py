"""Sample kernel virtual addresses of every region type from a real dump."""

from __future__ import annotations

import random
from typing import Any

from drgn import FaultError
from drgn.helpers.linux.module import for_each_module
from drgn.helpers.linux.percpu import per_cpu_ptr
from drgn.helpers.linux.pid import for_each_task

__all__ = ["region_samples"]


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
    pob = int(prog["page_offset_base"])
    vmemmap = int(prog["vmemmap_base"])
    vmalloc = int(prog["vmalloc_base"])
    text, end = prog.symbol("_text").address, prog.symbol("_end").address
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
            return pob + rnd.randrange((max_pfn << 12) - 256)
        if region == "kernel":
            return rnd.randrange(text, end - 256)
        if region == "stack":
            return rnd.choice(stacks) + rnd.randrange(16384 - 256)
        if region == "vmalloc":  # mostly unmapped: exercises faults
            return vmalloc + rnd.randrange(1 << 32)
        if region == "vmemmap":
            return vmemmap + rnd.randrange(max_pfn) * page_size + rnd.randrange(page_size)
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
