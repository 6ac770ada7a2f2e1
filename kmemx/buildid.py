"""Read the GNU build ID of an ELF file (vmlinux) from its section headers."""

from __future__ import annotations

import os
import struct

__all__ = ["elf_build_id", "elf_truncated"]

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
SHT_NOTE = 7
SHT_NOBITS = 8
NT_GNU_BUILD_ID = 3


def elf_build_id(path: str) -> str | None:
    """The hex build ID of ``path``, or None if it has none or is not ELF64."""
    try:
        with open(path, "rb") as f:
            head = f.read(_EHDR.size)
            if len(head) < _EHDR.size or head[:4] != b"\x7fELF" or head[4] != 2:
                return None
            fields = _EHDR.unpack(head)
            shoff, shentsize, shnum = fields[6], fields[11], fields[12]
            if shentsize != _SHDR.size or not 0 < shnum < 1 << 16:
                return None
            if shoff + shnum * shentsize > os.fstat(f.fileno()).st_size:
                return None
            f.seek(shoff)
            raw = f.read(shnum * shentsize)
            for i in range(shnum):
                sh = _SHDR.unpack_from(raw, i * shentsize)
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
    except OSError:
        return None
    return None


def elf_truncated(path: str) -> bool:
    """Whether the ELF64 file ``path`` ends before its section header table or
    before the end of a section's contents (a vmlinux cut short by a copy).
    False for anything that is not ELF64 or cannot be read."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(_EHDR.size)
            if len(head) < _EHDR.size or head[:4] != b"\x7fELF" or head[4] != 2:
                return False
            fields = _EHDR.unpack(head)
            shoff, shentsize, shnum = fields[6], fields[11], fields[12]
            if shoff == 0 or shentsize != _SHDR.size:
                return False
            if shoff + shnum * shentsize > size:
                return True
            f.seek(shoff)
            raw = f.read(shnum * shentsize)
    except OSError:
        return False
    for i in range(shnum):
        sh = _SHDR.unpack_from(raw, i * shentsize)
        if sh[1] != SHT_NOBITS and sh[4] + sh[5] > size:
            return True
    return False
