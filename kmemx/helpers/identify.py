"""Identify what a kernel address is: slab object, task, stack, vmap, page or
symbol -- drgn's ``identify_address()`` semantics and wording, on kmemx's
fast slab lookup.  Pass one ``cache`` dict to many calls."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

import drgn

from ..errors import FaultError
from ..kernel import Kernel
from .kallsyms import use_module_kallsyms
from .sched import for_each_task
from .slab import SlabObjectInfo, _layout, slab_object_info
from .vmalloc import for_each_vmap_area

__all__ = ["Identity", "identify_address"]

_SYMBOL_KIND = {drgn.SymbolKind.OBJECT: "object symbol", drgn.SymbolKind.FUNC: "function symbol"}


@dataclass(frozen=True)
class Identity:
    """What an address is.  ``kind`` is one of ``symbol``, ``task``, ``stack``,
    ``slab``, ``page``, ``vmap``; ``str()`` is drgn's wording.  ``cache`` names
    the slab cache of any slab-backed object (crash's ``kmem ADDR`` CACHE)."""

    address: int
    kind: str
    name: str  # symbol, cache, "pid (comm)", caller
    start: int  # start of the symbol/object/stack/page/vmap area
    end: int
    state: str = ""  # slab: allocated / free / corrupted
    text: str = ""
    cache: str = ""  # the slab cache of a slab object (a task_struct's too)

    @property
    def offset(self) -> int:
        return self.address - self.start

    def __str__(self) -> str:
        return self.text


def _task_label(task: Any) -> str:
    return f"{task.pid} ({task.comm.string().decode('utf-8', 'surrogateescape')})"


def _stacks(k: Kernel, cache: dict[str, Any]) -> dict[int, Any]:
    m = cache.get("stacks")
    if m is None:
        m = {}
        from ..types.view import per_cpu

        tasks = list(for_each_task(k))
        rqs = k.object("runqueues")
        ncpu = int(k.prog["nr_cpu_ids"])
        tasks += [per_cpu(rqs, c).idle for c in range(1, ncpu)]
        for t in tasks:
            try:
                m[t.stack.value()] = t
            except FaultError:
                pass
        cache["stacks"] = m
    return m


def _vmaps(k: Kernel, cache: dict[str, Any]) -> tuple[list[int], list[Any]]:
    v = cache.get("vmaps")
    if v is None:
        areas = sorted(for_each_vmap_area(k), key=lambda a: int(a.va_start))
        v = ([int(a.va_start) for a in areas], areas)
        cache["vmaps"] = v
    return v


def _symbol(k: Kernel, addr: int) -> drgn.Symbol | None:
    """The symbol containing ``addr``, module symbols from the modules'
    in-memory tables included whatever ran before (use_module_kallsyms())."""
    use_module_kallsyms(k.prog)
    try:
        return k.prog.symbol(addr)
    except LookupError:
        return None


def identify_address(k: Kernel, addr: int, cache: dict[str, Any] | None = None
                     ) -> Identity | None:
    """Identify ``addr`` (``void *``); None when nothing matches."""
    cache = {} if cache is None else cache
    addr &= 0xFFFFFFFFFFFFFFFF
    prog = k.prog
    sym = _symbol(k, addr)
    thread_size = cache.get("thread_size")
    if thread_size is None:
        thread_size = cache["thread_size"] = int(prog["THREAD_SIZE"])
    if sym is not None:
        init = k.object("init_task")
        size = k.sizeof("struct task_struct")
        if init.address <= addr < init.address + size:
            return Identity(addr, "task", _task_label(init), init.address,
                            init.address + size, text=_task_text(init, addr))
        stack = init.stack.value()
        if stack <= addr < stack + thread_size:
            return Identity(addr, "stack", _task_label(init), stack, stack + thread_size,
                            text=f"task stack: {_task_label(init)} +{addr - stack:#x}")
        kind = _SYMBOL_KIND.get(sym.kind, "symbol")
        return Identity(addr, "symbol", sym.name, sym.address, sym.address + sym.size,
                        text=f"{kind}: {sym.name}+{addr - sym.address:#x}")
    L = _layout(k)
    direct = L.page_offset <= addr < L.page_offset + (L.max_pfn << 12)
    if direct:
        memo = cache.setdefault("slab_memo", {})
        info = slab_object_info(k, addr, memo)
        if info is not None:
            return _slab_identity(k, addr, info, cache, thread_size)
        return None  # page allocator stacks are not used with VMAP_STACK
    vmemmap_end = L.vmemmap + L.max_pfn * L.page_size
    if L.vmemmap <= addr < vmemmap_end:
        pfn = (addr - L.vmemmap) // L.page_size
        page = L.vmemmap + pfn * L.page_size
        text = f"page: pfn {pfn}" + (f" +{addr - page:#x}" if addr > page else "")
        return Identity(addr, "page", f"pfn {pfn}", page, page + L.page_size, text=text)
    starts, areas = _vmaps(k, cache)
    i = bisect.bisect_right(starts, addr) - 1
    if i >= 0:
        va = areas[i]
        if addr < int(va.va_end):
            vm = va.vm
            if not vm:
                return None
            stack_task = _stacks(k, cache).get(addr & ~(thread_size - 1))
            if stack_task is not None:
                base = stack_task.stack.value()
                return Identity(addr, "stack", _task_label(stack_task), base,
                                base + thread_size,
                                text=f"task stack: {_task_label(stack_task)} +{addr - base:#x}")
            caller = int(vm.caller.value())
            csym = _symbol(k, caller)
            ctext = f" caller {csym.name}+{caller - csym.address:#x}" if csym else ""
            start, end = int(va.va_start), int(va.va_end)
            return Identity(addr, "vmap", csym.name if csym else "", start, end,
                            text=f"vmap: {start:#x}-{end:#x}{ctext}")
    return None


def _task_text(task: Any, addr: int) -> str:
    s = f"task: {_task_label(task)}"
    return s + (f" +{addr - task.address:#x}" if addr > task.address else "")


def _slab_identity(k: Kernel, addr: int, info: SlabObjectInfo, cache: dict[str, Any],
                   thread_size: int) -> Identity:
    name = info.slab_cache.name.string().decode("ascii", "backslashreplace")
    state = {True: "allocated", False: "free", None: "corrupted"}[info.allocated]
    size = int(info.slab_cache.size)
    if info.allocated:
        tcache = cache.get("task_struct_cachep")
        if tcache is None:
            tcache = cache["task_struct_cachep"] = int(k.object("task_struct_cachep").value())
        if info.slab_cache.address == tcache:
            task = k.view("struct task_struct", info.address)
            if _is_task(k, task, info, cache):
                return Identity(addr, "task", _task_label(task), info.address,
                                info.address + size, state, _task_text(task, addr), name)
    prefix = {"free": "free ", "corrupted": "corrupted "}.get(state, "")
    return Identity(addr, "slab", name, info.address, info.address + size, state,
                    f"{prefix}slab object: {name}+{addr - info.address:#x}", name)


def _is_task(k: Kernel, task: Any, info: SlabObjectInfo, cache: dict[str, Any]) -> bool:
    if int(info.slab_cache.refcount) <= 1:
        return True
    tasks = cache.get("task_addrs")
    if tasks is None:
        tasks = cache["task_addrs"] = {t.address for t in for_each_task(k)}
    return task.address in tasks
