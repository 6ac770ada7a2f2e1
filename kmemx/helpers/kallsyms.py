"""Symbols of loaded modules from their in-memory symbol tables (kallsyms).

drgn names an address from debug info: the vmlinux's, and a module's only
when its ``.ko`` (with debug info) is found.  Without it, a module's text and
data have no name, while the kernel keeps each module's ELF symbol table in
memory for /proc/kallsyms (``struct module->kallsyms``, ``CONFIG_KALLSYMS``),
which crash reads.  :func:`use_module_kallsyms` gives a drgn Program those
symbols, as a symbol finder consulted after drgn's own (so debug info, when
there is some, still wins): ``prog.symbol(addr)``, ``prog.symbols()``,
stack-trace frame names and everything built on them then know module
symbols.  The tables are read on first need, once per program.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import drgn

__all__ = ["ModuleKallsyms", "module_kallsyms_state", "module_of_address", "module_region_of",
           "module_span", "module_symbol_letter", "module_symbol_order",
           "refresh_module_kallsyms", "use_module_kallsyms"]

#: the name of the symbol finder registered by :func:`use_module_kallsyms`
FINDER_NAME = "kmemx-module-kallsyms"
_CACHE_KEY = "kmemx.helpers.kallsyms.state"
_GENERATION_KEY = "kmemx.helpers.kallsyms.generation"


@dataclass
class ModuleKallsyms:
    """What :func:`use_module_kallsyms` read from a program's modules."""

    #: the modules' address ranges: (start, end, module name), sorted
    regions: list[tuple[int, int, str]] = field(default_factory=list)
    #: how many symbols the finder holds
    symbols: int = 0
    #: one message per module (or per module list walk) that could not be read
    problems: list[str] = field(default_factory=list)
    #: (address, name) -> nm's type letter of each module symbol: the
    #: kernel's own (``mod->kallsyms->typetab``), or, for a module drgn has
    #: a file of, the file's (:func:`kmemx.elfsyms.relocatable_nm_letters`)
    letters: dict[tuple[int, str], str] = field(default_factory=dict)
    #: the modules drgn has a file of: their symbols are the ones in ``letters``
    #: (drgn's finder also has a live module's freed .init ones)
    with_files: set[str] = field(default_factory=set)
    #: region start -> (its module's first region's start, the region's index
    #: in the module's ``mem[]``: text, data, rodata, ro_after_init, init...)
    ranks: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: the lowest start and highest end of ``regions``; (0, 0) without modules
    span: tuple[int, int] = (0, 0)


def _module_files(prog: drgn.Program) -> dict[str, tuple[str, dict[str, int], bool]]:
    """The loadable modules drgn has a file of (debug info, or the symbol
    table of a loaded file: ``mod -s``), whose symbols come from drgn's own
    finder: name -> (the file, its section load addresses, whether its init
    memory was freed: the module is live, ``MODULE_STATE_LIVE``)."""
    files: dict[str, tuple[str, dict[str, int], bool]] = {}
    try:
        for m in prog.modules():
            if not isinstance(m, drgn.RelocatableModule) or m.name == "kernel":
                continue
            path = m.loaded_file_path or m.debug_file_path
            if path is not None:
                try:
                    live = m.object.state.value_() == prog["MODULE_STATE_LIVE"].value_()
                except (AttributeError, LookupError, drgn.FaultError):
                    live = True
                files[m.name] = (path, dict(m.section_addresses), live)
    except (AttributeError, LookupError, ValueError):
        pass
    return files


def _read(prog: drgn.Program) -> tuple[ModuleKallsyms, list[drgn.Symbol]]:
    # drgn.helpers.linux imports every helper module (0.03-0.08 s): only when used
    from drgn.helpers.linux.kallsyms import module_kallsyms
    from drgn.helpers.linux.module import for_each_module, module_address_regions

    state = ModuleKallsyms()
    symbols: list[drgn.Symbol] = []
    files = _module_files(prog)
    state.with_files = set(files)
    try:
        modules = list(for_each_module(prog))
    except (LookupError, drgn.FaultError, ValueError) as e:
        # no "modules" list (CONFIG_MODULES=n) is not a problem; a bad one is
        if not isinstance(e, LookupError):
            state.problems.append(f"module list: {_why(e)}")
        return state, symbols
    for mod in modules:
        try:
            name = mod.name.string_().decode("utf-8", "surrogateescape")
            first = None
            for i, (start, size) in enumerate(module_address_regions(mod)):
                if size:
                    state.regions.append((start, start + size, name))
                    first = start if first is None else first
                    state.ranks[start] = (first, i)
            typed = _as_the_kernel_types_them(mod, module_kallsyms(mod), state.letters)
            if name in files:
                # drgn's finder has the file's symbols; the table keeps only those
                # the file cannot place (a symbol of a section the kernel gives no
                # address: an empty .bss), as crash keeps them
                from ..elfsyms import relocatable_nm_letters

                placed = relocatable_nm_letters(*files[name])
                state.letters.update(placed)
                typed = [sym for sym in typed if (sym.address, sym.name) not in placed]
            symbols.extend(typed)
        except AttributeError:
            return state, []  # no struct module->kallsyms: CONFIG_KALLSYMS=n
        except (drgn.FaultError, ValueError, LookupError, UnicodeDecodeError) as e:
            state.problems.append(f"module at {mod.value_():#x}: symbol table: {_why(e)}")
    state.regions.sort()
    if state.regions:
        state.span = (state.regions[0][0], max(end for _start, end, _name in state.regions))
    state.symbols = len(symbols)
    return state, symbols


def _why(e: Exception) -> str:
    """An exception as a problem's text (a fault at a physical address drgn
    read while translating: :func:`kmemx.errors.fault_text`)."""
    from ..errors import fault_text

    return fault_text(e) if isinstance(e, drgn.FaultError) else str(e)


def _as_the_kernel_types_them(mod: drgn.Object, symbols: list[drgn.Symbol],
                              letters: dict[tuple[int, str], str]) -> list[drgn.Symbol]:
    """``symbols`` (drgn's :func:`~drgn.helpers.linux.kallsyms.module_kallsyms`
    of the ``struct module *`` ``mod``: named entries of
    ``mod->kallsyms->symtab`` in order, bound as their ELF ``st_info`` says)
    bound as the kernel's own type letter says: ``mod->kallsyms->typetab``
    (1c7651f43777, 5.2), what /proc/kallsyms and crash show: lower case is
    local, ``w``/``v``/``W``/``V`` weak.  The two differ where the kernel
    lowers a global it does not export (7.2.13: a module's ``cleanup_module``
    is ``t``, bound global in its ELF table).  Each letter goes into
    ``letters`` by (address, name).  Without ``typetab``, as given.
    Raises drgn.FaultError if the tables cannot be read."""
    prog = mod.prog_
    try:
        ks = mod.kallsyms
        typetab_addr = ks.typetab.value_()
    except AttributeError:  # before 1c7651f43777 the letter was in st_info
        return symbols
    n = ks.num_symtab.value_()
    table = drgn.Object(prog, prog.array_type(ks.symtab.type_.type, n),
                        address=ks.symtab.value_()).read_()
    named = [i for i in range(n) if table[i].st_name.value_()]
    if len(named) != len(symbols):
        return symbols  # not the table drgn read: leave drgn's bindings
    typetab = prog.read(typetab_addr, n) if n else b""
    out = []
    for i, sym in zip(named, symbols, strict=True):
        c = chr(typetab[i])
        letters[(sym.address, sym.name)] = c
        binding = (drgn.SymbolBinding.WEAK if c in "wWvV" else
                   drgn.SymbolBinding.GLOBAL if c.isupper() else drgn.SymbolBinding.LOCAL)
        out.append(sym if binding == sym.binding else
                   drgn.Symbol(sym.name, sym.address, sym.size, binding, sym.kind))
    return out


def use_module_kallsyms(prog: drgn.Program) -> ModuleKallsyms:
    """Make ``prog`` name module addresses from the modules' in-memory symbol
    tables: the first call reads them (``struct module->kallsyms`` of each
    module on the ``modules`` list, as drgn's
    :func:`~drgn.helpers.linux.kallsyms.load_module_kallsyms` does, minus the
    modules whose debug info drgn has loaded) and registers them as the
    symbol finder ``kmemx-module-kallsyms``, enabled after drgn's own
    finders; later calls return what the first one read.

    Never raises for bad memory: a module whose table cannot be read is left
    out and listed in the result's ``problems``."""
    state: ModuleKallsyms | None = prog.cache.get(_CACHE_KEY)
    if state is not None:
        return state
    state, symbols = _read(prog)
    prog.cache[_CACHE_KEY] = state
    if symbols:
        try:
            prog.register_symbol_finder(FINDER_NAME, drgn.SymbolIndex(symbols),
                                        enable_index=-1)
        except ValueError:  # registered already (the cache was cleared)
            pass
    return state


def refresh_module_kallsyms(prog: drgn.Program) -> ModuleKallsyms:
    """Read the modules' in-memory symbol tables again after drgn was given
    module files (``mod -s``/``-S``), leaving out the modules it now has a
    file of, whose symbols drgn's own finder gives (otherwise each of their
    symbols would be found twice), and put that table in the place of the
    one :func:`use_module_kallsyms` registered (a new finder,
    ``kmemx-module-kallsyms-N``, enabled where the old one was).  As
    :func:`use_module_kallsyms` when nothing was read yet."""
    if prog.cache.get(_CACHE_KEY) is None:
        return use_module_kallsyms(prog)
    generation = prog.cache.get(_GENERATION_KEY, 0) + 1
    prog.cache[_GENERATION_KEY] = generation
    state, symbols = _read(prog)
    prog.cache[_CACHE_KEY] = state
    enabled = prog.enabled_symbol_finders()
    at = next((i for i, n in enumerate(enabled) if n.startswith(FINDER_NAME)), len(enabled))
    enabled = [n for n in enabled if not n.startswith(FINDER_NAME)]
    if symbols:
        name = f"{FINDER_NAME}-{generation}"
        prog.register_symbol_finder(name, drgn.SymbolIndex(symbols))
        enabled.insert(at, name)
    prog.set_enabled_symbol_finders(enabled)
    return state


def module_symbol_letter(prog: drgn.Program, address: int, name: str) -> str | None:
    """nm's type letter of the module symbol ``name`` at ``address``: the
    kernel's (``/proc/kallsyms``'s), or that of the module's file drgn was
    given (``mod -s``: ``r`` in .rodata, ``b`` in .bss, as crash then shows);
    None for a symbol of no module."""
    return use_module_kallsyms(prog).letters.get((address, name))


def module_kallsyms_state(prog: drgn.Program) -> ModuleKallsyms | None:
    """What :func:`use_module_kallsyms` read, or None before its first call."""
    state: ModuleKallsyms | None = prog.cache.get(_CACHE_KEY)
    return state


def module_span(prog: drgn.Program) -> tuple[int, int]:
    """``(start, end)`` of the addresses where only a module can be: x86-64's
    module area (MODULES_VADDR to MODULES_END, above the kernel image), else
    from the lowest start to the highest end of the loaded modules' memory
    regions (text, data, read-only data); ``(0, 0)`` without modules.
    crash's value_search() sends an address there to the modules alone (its
    IS_VMALLOC_ADDR() covers x86-64's module area): one in none of their
    regions has no symbol, whatever lies below it in the image (7.2.13: the
    pages after a module's text in its execmem cache)."""
    from ..arch.x86_64 import MODULES_END, MODULES_VADDR

    state = use_module_kallsyms(prog)
    if not state.regions:
        return 0, 0
    if prog.platform is not None and prog.platform.arch == drgn.Architecture.X86_64:
        return MODULES_VADDR, MODULES_END
    return state.span


def module_of_address(prog: drgn.Program, address: int) -> str | None:
    """The name of the loaded module whose memory (text, data, read-only
    data; not per-cpu) holds ``address``, or None (vmlinux, or no module)."""
    region = module_region_of(prog, address)
    return region[2] if region is not None else None


def module_symbol_order(prog: drgn.Program, address: int) -> tuple[int, int, int]:
    """The sort key crash lists a module address by (``sym -l``, ``sym -m``):
    the module (by its text's address), then its memory region in
    ``mod->mem[]``'s order (``enum mod_mem_type``: text, data, rodata,
    ro_after_init, init text...; 6.4's ac3b43283923, "module: replace
    module_layout with module_memory"), then the address; 7.x's execmem
    cache puts a module's data below its text.  ``(0, 0, address)`` for an
    address of no module."""
    region = module_region_of(prog, address)
    if region is None:
        return 0, 0, address
    first, index = use_module_kallsyms(prog).ranks.get(region[0], (region[0], 0))
    return first, index, address


def module_region_of(prog: drgn.Program, address: int) -> tuple[int, int, str] | None:
    """``(start, end, module name)`` of the module memory region (one of
    ``mod->mem[]`` since 6.4, the core or init layout before) holding
    ``address``, or None."""
    for start, end, name in use_module_kallsyms(prog).regions:
        if start <= address < end:
            return start, end, name
        if start > address:
            break
    return None
