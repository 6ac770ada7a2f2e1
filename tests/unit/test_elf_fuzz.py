"""Fuzz the ELF core header parser: corrupt headers only ever raise CoreFormatError."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from kmemx.errors import CoreFormatError
from kmemx.readers.elfcore import ElfCoreMemory, parse_elf_core

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")


def make_core(path: Path, nseg: int = 3, note: bytes = b"OSRELEASE=6.1.0\n") -> bytes:
    """A small valid ELF core: a VMCOREINFO note and ``nseg`` 2-page segments."""
    desc = note
    name = b"VMCOREINFO\0\0"
    notes = struct.pack("<III", 11, len(desc), 0) + name + desc + b"\0" * (-len(desc) % 4)
    phnum = 1 + nseg
    off = EHDR.size + PHDR.size * phnum
    phdrs = [PHDR.pack(4, 0, off, 0, 0, len(notes), len(notes), 0)]
    data_off = off + len(notes)
    blobs = []
    for i in range(nseg):
        blob = bytes([i + 1]) * 8192
        phdrs.append(PHDR.pack(1, 0, data_off, 0, i * 0x10000, len(blob), len(blob) + 4096, 0))
        data_off += len(blob)
        blobs.append(blob)
    ident = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    ehdr = EHDR.pack(ident, 4, 62, 1, 0, EHDR.size, 0, 0, EHDR.size, PHDR.size, phnum, 64, 0, 0)
    raw = ehdr + b"".join(phdrs) + notes + b"".join(blobs)
    path.write_bytes(raw)
    return raw


def test_valid_core(tmp_path: Path) -> None:
    p = tmp_path / "core"
    make_core(p)
    core = parse_elf_core(str(p))
    assert core.vmcoreinfo == b"OSRELEASE=6.1.0\n"
    mem = ElfCoreMemory(core)
    loc = mem.locate(0x10000 + 5)
    assert loc is not None and loc[0][loc[1]] == 2
    zloc = mem.locate(0x10000 + 8192)  # p_memsz > p_filesz: zeros
    assert zloc is not None and bytes(zloc[0][zloc[1]:zloc[1] + 4096]) == bytes(4096)
    assert mem.locate(0x10000 + 12288) is None
    mem.close()


def test_truncated_core(tmp_path: Path) -> None:
    p = tmp_path / "core"
    raw = make_core(p)
    p.write_bytes(raw[:-8192 - 100])
    core = parse_elf_core(str(p))
    assert core.truncated
    mem = ElfCoreMemory(core)
    assert mem.locate(0x20000 + 8192) is None  # past EOF: fault, not zeros
    mem.close()


@pytest.mark.parametrize("seed", range(8))
def test_fuzz_headers(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    p = tmp_path / "core"
    raw = bytearray(make_core(p, nseg=rnd.randrange(1, 5)))
    hdr_end = EHDR.size + PHDR.size * 6 + 64
    for _ in range(300):
        data = bytearray(raw)
        for _ in range(rnd.randrange(1, 8)):
            pos = rnd.randrange(min(hdr_end, len(data)))
            data[pos] = rnd.randrange(256)
        if rnd.random() < 0.2:
            data = data[:rnd.randrange(len(data))]
        p.write_bytes(bytes(data))
        try:
            core = parse_elf_core(str(p))
        except CoreFormatError as e:
            assert "\n" not in str(e) and str(p) in str(e)
            continue
        mem = ElfCoreMemory(core)
        for s in core.segments:
            for a in (s.paddr, s.paddr + s.memsz - 1, s.paddr + 4096):
                loc = mem.locate(a)
                if loc is not None:
                    assert len(bytes(loc[0][loc[1]:loc[1] + 16])) == 16
        mem.close()
