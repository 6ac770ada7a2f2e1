"""Facts of an ELF file (vmlinux) from its section headers: the GNU build ID,
whether the file is cut short, its sections' names and addresses, the contents
of a section and the link-time values of named symbols."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from typing import BinaryIO, NamedTuple

__all__ = ["ElfSection", "elf_build_id", "elf_read", "elf_sections", "elf_symbol_values", "elf_symtab",
           "elf_truncated"]

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SYM = struct.Struct("<IBBHQQ")  # Elf64_Sym: name, info, other, shndx, value, size
SHT_SYMTAB = 2
SHT_NOTE = 7
SHT_NOBITS = 8
NT_GNU_BUILD_ID = 3
SHF_ALLOC = 2


class ElfSection(NamedTuple):
    """One section header: its name, type, flags, address, file offset, size."""

    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int


class _Cut(Exception):
    """The section header table lies past the end of the file."""


def _headers(f: BinaryIO) -> tuple[list[tuple[int, ...]], int] | None:
    """The raw section headers of the open ELF64 file ``f`` and the index of
    its section-name table; None when it is not ELF64 little-endian or has no
    usable table.  Raises :class:`_Cut` when the table is past the end."""
    head = f.read(_EHDR.size)
    if len(head) < _EHDR.size or head[:4] != b"\x7fELF" or head[4] != 2:
        return None
    fields = _EHDR.unpack(head)
    shoff, shentsize, shnum, shstrndx = fields[6], fields[11], fields[12], fields[13]
    if shoff == 0 or shentsize != _SHDR.size or not 0 < shnum < 1 << 16:
        return None
    if shoff + shnum * shentsize > os.fstat(f.fileno()).st_size:
        raise _Cut
    f.seek(shoff)
    raw = f.read(shnum * shentsize)
    return [_SHDR.unpack_from(raw, i * shentsize) for i in range(shnum)], shstrndx


def _named_sections(f: BinaryIO, hdrs: list[tuple[int, ...]],
                    shstrndx: int) -> list[ElfSection]:
    """The raw section headers ``hdrs`` of the open ELF64 file ``f`` as
    :class:`ElfSection` with their names from table ``shstrndx``."""
    names = b""
    if shstrndx < len(hdrs) and hdrs[shstrndx][5] < 1 << 24:
        f.seek(hdrs[shstrndx][4])
        names = f.read(hdrs[shstrndx][5])

    def name(off: int) -> str:
        end = names.find(b"\0", off)
        return names[off:end if end >= 0 else len(names)].decode("utf-8", "replace")

    return [ElfSection(name(h[0]), h[1], h[2], h[3], h[4], h[5]) for h in hdrs]


def elf_sections(path: str) -> list[ElfSection]:
    """The section headers of the ELF64 little-endian file ``path``, in file
    order, with their names (from the section-name string table); [] for
    anything else or a file that cannot be read."""
    try:
        with open(path, "rb") as f:
            got = _headers(f)
            return [] if got is None else _named_sections(f, *got)
    except (OSError, _Cut):
        return []


def elf_build_id(path: str) -> str | None:
    """The hex build ID of ``path``, or None if it has none or is not ELF64."""
    try:
        with open(path, "rb") as f:
            got = _headers(f)
            if got is None:
                return None
            for sh in got[0]:
                if sh[1] != SHT_NOTE or sh[5] > 1 << 20:
                    continue
                f.seek(sh[4])
                data = f.read(sh[5])
                pos = 0
                while pos + 12 <= len(data):
                    namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
                    name = data[pos + 12:pos + 12 + namesz].rstrip(b"\0")
                    desc_off = pos + 12 + ((namesz + 3) & ~3)
                    if ntype == NT_GNU_BUILD_ID and name == b"GNU":
                        return data[desc_off:desc_off + descsz].hex()
                    pos = desc_off + ((descsz + 3) & ~3)
    except (OSError, _Cut):
        return None
    return None


def elf_truncated(path: str) -> bool:
    """Whether the ELF64 file ``path`` ends before its section header table or
    before the end of a section's contents (a vmlinux cut short by a copy).
    False for anything that is not ELF64 or cannot be read."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            got = _headers(f)
    except _Cut:
        return True
    except OSError:
        return False
    if got is None:
        return False
    return any(sh[1] != SHT_NOBITS and sh[4] + sh[5] > size for sh in got[0])


def elf_read(path: str, addr: int, size: int) -> bytes | None:
    """``size`` bytes of the ELF64 file ``path`` at the link-time address
    ``addr``, from the allocated section with contents that holds them; None
    when no such section holds them all (NOBITS, outside every section)."""
    for sec in elf_sections(path):
        if (sec.flags & SHF_ALLOC and sec.type != SHT_NOBITS
                and sec.addr <= addr and addr + size <= sec.addr + sec.size):
            try:
                with open(path, "rb") as f:
                    f.seek(sec.offset + addr - sec.addr)
                    data = f.read(size)
            except OSError:
                return None
            return data if len(data) == size else None
    return None


def elf_symtab(path: str) -> tuple[list[ElfSection], bytes, bytes] | None:
    """The section headers of the ELF64 little-endian file ``path``
    (:func:`elf_sections`), its ``.symtab`` (raw ``Elf64_Sym`` entries, a whole
    number of them) and that table's string table; None when it has no
    symbol table or cannot be read."""
    try:
        with open(path, "rb") as f:
            got = _headers(f)
            if got is None:
                return None
            hdrs = got[0]
            for sh in hdrs:
                if sh[1] != SHT_SYMTAB or sh[6] >= len(hdrs) or sh[9] != _SYM.size:
                    continue
                f.seek(sh[4])
                syms = f.read(sh[5])
                strtab = hdrs[sh[6]]
                f.seek(strtab[4])
                strings = f.read(strtab[5])
                return (_named_sections(f, *got), syms[:len(syms) - len(syms) % _SYM.size],
                        strings)
    except (OSError, _Cut):
        return None
    return None


def elf_symbol_values(path: str, names: Iterable[str]) -> dict[str, int]:
    """The link-time values (``st_value``) of the symbols ``names`` in the
    ``.symtab`` of the ELF64 file ``path`` (a vmlinux), without KASLR: the
    first definition of each name; names it lacks are absent from the answer,
    and so is everything for a file without a symbol table
    (:func:`elf_symtab`)."""
    out: dict[str, int] = {}
    got = elf_symtab(path)
    if got is None:
        return out
    _sections, syms, strings = got
    # the string offsets where each wanted name can start (the linker merges a
    # name into the tail of a longer one: "_text" may be the end of
    # "__irqentry_text"), then one pass over the symbols
    offsets: dict[int, str] = {}
    for name in names:
        raw = name.encode() + b"\0"
        at = strings.find(raw)
        while at >= 0:
            offsets[at] = name
            at = strings.find(raw, at + 1)
    for st_name, _info, _other, shndx, value, _size in _SYM.iter_unpack(syms):
        found = offsets.get(st_name)
        if found is not None and shndx != 0 and found not in out:
            out[found] = value
    return out
