"""ELF vmcores, mapped whole with ``mmap`` and indexed by physical address.

Handles kdump's ``/proc/vmcore`` ELF, ``makedumpfile -E`` and QEMU's
``dump-guest-memory``: PT_LOAD segments by physical address, ``p_filesz <
p_memsz`` (the tail reads as zeros), and truncated files (what exists reads,
the rest faults).  The header parser is strict: every bad field raises
:class:`~kmemx.errors.CoreFormatError` naming the file and the problem.
"""

from __future__ import annotations

import bisect
import mmap
import os
import struct
from dataclasses import dataclass, field

from ..errors import CoreFormatError
from .base import Buffer, PhysicalMemory, open_dump

__all__ = ["ElfCore", "ElfCoreMemory", "Note", "Segment", "parse_elf_core"]

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
PT_LOAD, PT_NOTE = 1, 4
ET_CORE = 4
EM_X86_64 = 62
PAGE = 4096
ZERO_PAGE = bytes(PAGE)
#: sanity bound on the number of program headers (real dumps have < 10^5)
MAX_PHNUM = 1 << 20


@dataclass(frozen=True)
class Segment:
    paddr: int
    vaddr: int
    offset: int
    filesz: int  # bytes present in the file (clipped to the file size)
    memsz: int
    truncated: bool  # the file ends before p_offset + p_filesz


@dataclass(frozen=True)
class Note:
    name: bytes
    type: int
    desc: bytes


@dataclass
class ElfCore:
    """A parsed ELF core's headers (no segment data is read)."""

    path: str
    machine: int
    size: int
    segments: list[Segment]
    notes: list[Note] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return any(s.truncated for s in self.segments)

    @property
    def vmcoreinfo(self) -> bytes | None:
        for n in self.notes:
            if n.name == b"VMCOREINFO":
                return n.desc
        return None


def _parse_notes(path: str, data: bytes) -> list[Note]:
    notes = []
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
        name_off = pos + 12
        desc_off = name_off + ((namesz + 3) & ~3)
        end = desc_off + ((descsz + 3) & ~3)
        if desc_off + descsz > len(data):
            raise CoreFormatError(f"{path}: corrupt ELF note at offset {pos} of the note segment")
        name = data[name_off:name_off + namesz].rstrip(b"\0")
        notes.append(Note(name, ntype, data[desc_off:desc_off + descsz]))
        pos = end
    return notes


def parse_elf_core(path: str) -> ElfCore:
    """Parse and validate the ELF header, program headers and notes of ``path``."""
    fd, size = open_dump(path)
    try:
        head = os.pread(fd, _EHDR.size, 0)
        if len(head) < _EHDR.size or head[:4] != b"\x7fELF":
            raise CoreFormatError(f"{path}: not an ELF file")
        (ident, etype, machine, _ver, _entry, phoff, _shoff, _flags, _ehsize, phentsize,
         phnum, *_rest) = _EHDR.unpack(head)
        if ident[4] != 2 or ident[5] != 1:
            raise CoreFormatError(f"{path}: not a 64-bit little-endian ELF file")
        if etype != ET_CORE:
            raise CoreFormatError(f"{path}: ELF file is not a core dump (e_type {etype})")
        if phnum == 0xFFFF:
            raise CoreFormatError(f"{path}: extended program header numbering is not supported")
        if phentsize != _PHDR.size or phnum == 0 or phnum > MAX_PHNUM:
            raise CoreFormatError(f"{path}: bad program header table "
                                  f"(e_phentsize {phentsize}, e_phnum {phnum})")
        if phoff + phnum * phentsize > size:
            raise CoreFormatError(f"{path}: program header table lies past the end of the file "
                                  "(truncated dump?)")
        raw = os.pread(fd, phnum * phentsize, phoff)
        segments = []
        notes: list[Note] = []
        for i in range(phnum):
            ptype, _pflags, off, vaddr, paddr, filesz, memsz, _align = _PHDR.unpack_from(
                raw, i * phentsize)
            if ptype == PT_NOTE:
                if off + filesz > size or filesz > 1 << 26:
                    raise CoreFormatError(f"{path}: note segment lies past the end of the file")
                notes.extend(_parse_notes(path, os.pread(fd, filesz, off)))
            elif ptype == PT_LOAD:
                if filesz > memsz:
                    raise CoreFormatError(
                        f"{path}: PT_LOAD {i} has p_filesz > p_memsz ({filesz} > {memsz})")
                if paddr + memsz > 1 << 52 or off > 1 << 62:
                    raise CoreFormatError(f"{path}: PT_LOAD {i} has an impossible address "
                                          f"or offset (p_paddr {paddr:#x}, p_offset {off:#x})")
                present = max(0, min(filesz, size - off))
                segments.append(Segment(paddr, vaddr, off, present, memsz, present < filesz))
        if not segments:
            raise CoreFormatError(f"{path}: no PT_LOAD segments: not a memory dump")
        segments.sort(key=lambda s: s.paddr)
        return ElfCore(path=path, machine=machine, size=size, segments=segments, notes=notes)
    finally:
        os.close(fd)


class ElfCoreMemory(PhysicalMemory):
    """Physical memory of an ELF vmcore, served from one read-only mmap."""

    name = "mmap-elf"

    def __init__(self, core: ElfCore) -> None:
        self.core = core
        fd = os.open(core.path, os.O_RDONLY)
        try:
            self.mm: mmap.mmap | bytes = (
                mmap.mmap(fd, 0, prot=mmap.PROT_READ) if core.size else b"")
        finally:
            os.close(fd)
        if isinstance(self.mm, mmap.mmap):
            try:
                self.mm.madvise(mmap.MADV_RANDOM)
            except (AttributeError, OSError):  # pragma: no cover
                pass
        self._starts = [s.paddr for s in core.segments]

    def ranges(self) -> list[tuple[int, int]]:
        return [(s.paddr, s.paddr + s.memsz) for s in self.core.segments]

    def _segment(self, paddr: int) -> Segment | None:
        i = bisect.bisect_right(self._starts, paddr) - 1
        if i < 0:
            return None
        seg = self.core.segments[i]
        return seg if paddr < seg.paddr + seg.memsz else None

    def locate(self, paddr: int) -> tuple[Buffer, int] | None:
        page = paddr & ~(PAGE - 1)
        seg = self._segment(page)
        if seg is not None and page + PAGE <= seg.paddr + seg.memsz:
            rel = page - seg.paddr
            if rel + PAGE <= seg.filesz:
                return self.mm, seg.offset + rel
            if rel >= seg.filesz:
                if seg.truncated:
                    return None  # past the end of a truncated file
                return ZERO_PAGE, 0
        return self._assemble(page)

    def why_missing(self, paddr: int) -> str:
        seg = self._segment(paddr & ~(PAGE - 1))
        if seg is not None and seg.truncated and paddr - seg.paddr >= seg.filesz:
            return "past the end of the truncated dump file"
        return "not in the dump's memory map"

    def _assemble(self, page: int) -> tuple[Buffer, int] | None:
        """A page that straddles segment boundaries: copy it together."""
        out = bytearray(PAGE)
        found = False
        pos = page
        while pos < page + PAGE:
            seg = self._segment(pos)
            if seg is None:
                # skip to the next segment start inside this page, if any
                i = bisect.bisect_right(self._starts, pos)
                if i >= len(self._starts) or self._starts[i] >= page + PAGE:
                    break
                pos = self._starts[i]
                continue
            end = min(page + PAGE, seg.paddr + seg.memsz)
            rel = pos - seg.paddr
            n = max(0, min(end - pos, seg.filesz - rel))
            if n:
                out[pos - page:pos - page + n] = self.mm[seg.offset + rel:seg.offset + rel + n]
            elif seg.truncated:
                return None
            found = True
            pos = end
        return (bytes(out), 0) if found else None

    def close(self) -> None:
        if isinstance(self.mm, mmap.mmap):
            self.mm.close()
