"""nm's type letters of the vmlinux's ELF symbols, as crash shows them.

crash fills its kernel symbol table from the vmlinux through BFD
(symbols.c store_symbols(): ``bfd_get_symbol_info()``), so a symbol's letter
is ``nm``'s: BFD's ``bfd_decode_symclass()`` of the symbol's binding, type and
section.  The section decides most letters and drgn's :class:`drgn.Symbol`
does not carry it: Debian's x86-64 and arm64 ``.rodata`` is writable (``WA``),
so a symbol there is ``D``, not ``R``; ``.bss`` gives ``b``, ``__ksymtab``
(read-only) ``r``, a weak function ``W`` and a weak object ``V``.  This module
reads the ELF symbol table once per program (numpy over the 24-byte entries)
and answers by address and name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .buildid import SHF_ALLOC, elf_symtab

__all__ = ["elf_symbol_letter", "nm_letters", "relocatable_nm_letters"]

SHT_NOBITS = 8
SHF_WRITE, SHF_EXECINSTR = 0x1, 0x4
SHN_UNDEF, SHN_LORESERVE, SHN_ABS, SHN_COMMON = 0, 0xFF00, 0xFFF1, 0xFFF2
STB_LOCAL, STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE = 0, 1, 2, 10
STT_OBJECT, STT_GNU_IFUNC = 1, 10

_SYM = np.dtype([("name", "<u4"), ("info", "u1"), ("other", "u1"), ("shndx", "<u2"),
                 ("value", "<u8"), ("size", "<u8")])


def _section_letter(type_: int, flags: int) -> str:
    """BFD's decode_section_type() of an ELF section (its SEC_* flags as
    _bfd_elf_make_section_from_shdr() sets them): code ``t``, loaded data
    ``r`` read-only or ``d``, no contents ``b``, else ``n``/``?``."""
    if flags & SHF_EXECINSTR:
        return "t"
    if flags & SHF_ALLOC and type_ != SHT_NOBITS:
        return "d" if flags & SHF_WRITE else "r"
    if type_ == SHT_NOBITS:
        return "b"
    return "?" if flags & SHF_WRITE else "n"


def nm_letters(path: str, bias: int = 0) -> dict[tuple[int, str], str]:
    """``{(address + bias, name): letter}`` of every defined symbol of the
    ELF64 little-endian file ``path``'s ``.symtab``, the letter as BFD's
    bfd_decode_symclass() gives it (``nm``'s, crash's): ``C`` common, ``i``
    GNU ifunc, ``V``/``W`` weak object/other, ``u`` unique, ``a`` absolute,
    else the section's letter (:func:`_section_letter`), upper case when
    global.  ``bias``: what KASLR added to the link addresses.  {} when the
    file has no symbol table or cannot be read."""
    return _letters(path, lambda _section, value: value + bias)


def relocatable_nm_letters(path: str, section_addresses: Mapping[str, int],
                           init_freed: bool = False) -> dict[tuple[int, str], str]:
    """:func:`nm_letters` of a relocatable object (a module's ``.ko``), each
    symbol at its section's load address plus its value: ``section_addresses``
    maps section names to where they were loaded (drgn's
    ``RelocatableModule.section_addresses``, the kernel's
    ``module->sect_attrs``).  A symbol of a section with no address there (an
    empty one) is left out, and so, with ``init_freed``, is one of an
    ``.init*`` section: a live module's init memory was freed after its init
    ran (kernel/module/main.c do_init_module()), but ``sect_attrs`` keeps the
    old address, which another module may now use."""
    def place(section: str | None, value: int) -> int | None:
        if section is None:  # absolute
            return value
        if init_freed and section.startswith(".init"):
            return None
        base = section_addresses.get(section)
        return None if base is None else base + value

    return _letters(path, place)


def _letters(path: str, place: Callable[[str | None, int], int | None]
             ) -> dict[tuple[int, str], str]:
    """nm's letters of ``path``'s symbols, each at ``place(section name,
    st_value)`` (None for an absolute or common symbol's special section
    index), left out where that is None."""
    got = elf_symtab(path)
    if got is None:
        return {}
    sections, raw, names = got
    syms = np.frombuffer(raw, _SYM, len(raw) // _SYM.itemsize)
    per_section = [_section_letter(s.type, s.flags) for s in sections]
    out: dict[tuple[int, str], str] = {}
    mask = 0xFFFFFFFFFFFFFFFF
    for name_off, info, shndx, value in zip(syms["name"].tolist(), syms["info"].tolist(),
                                            syms["shndx"].tolist(), syms["value"].tolist(),
                                            strict=True):
        if not name_off or shndx == SHN_UNDEF:
            continue
        bind, kind = info >> 4, info & 0xF
        if shndx == SHN_COMMON:
            c = "C"
        elif kind == STT_GNU_IFUNC:
            c = "i"
        elif bind == STB_WEAK:
            c = "V" if kind == STT_OBJECT else "W"
        elif bind == STB_GNU_UNIQUE:
            c = "u"
        elif bind not in (STB_LOCAL, STB_GLOBAL):
            c = "?"
        else:
            if shndx == SHN_ABS:
                c = "a"
            elif shndx < SHN_LORESERVE and shndx < len(per_section):
                c = per_section[shndx]
            else:
                c = "?"
            if bind == STB_GLOBAL:
                c = c.upper()
        address = place(sections[shndx].name if shndx < min(SHN_LORESERVE, len(sections))
                        else None, value)
        if address is None:
            continue
        end = names.find(b"\0", name_off)
        name = names[name_off:end if end >= 0 else len(names)].decode("utf-8", "replace")
        out[(address & mask, name)] = c
    return out


def elf_symbol_letter(prog: Any, address: int, name: str) -> str | None:
    """nm's letter of the vmlinux symbol ``name`` at ``address`` of ``prog``
    (:func:`nm_letters` of drgn's main module's debug file, cached in
    ``prog.cache``): KASLR applied, or not for a per-CPU symbol, which drgn
    and crash leave at its link address (x86-64's ``__per_cpu_start`` at 0);
    None for a symbol not in that file (a module's), or without one."""
    key = "kmemx.elfsyms.letters"
    got: tuple[dict[tuple[int, str], str], int] | None = prog.cache.get(key)
    if got is None:
        try:
            m = prog.main_module()
            path, bias = m.debug_file_path, m.debug_file_bias or 0
        except (LookupError, AttributeError):
            path, bias = None, 0
        got = prog.cache[key] = (nm_letters(path, bias) if path else {}, bias)
    letters, bias = got
    found = letters.get((address, name))
    if found is None and bias:
        found = letters.get(((address + bias) & 0xFFFFFFFFFFFFFFFF, name))
    return found
