"""nm's type letters from an ELF symbol table (kmemx.elfsyms), on a small
synthetic ELF64 file: one symbol per rule of BFD's bfd_decode_symclass()."""

from __future__ import annotations

import struct
from pathlib import Path

from kmemx.elfsyms import nm_letters

SHF_WRITE, SHF_ALLOC, SHF_EXEC = 1, 2, 4
PROGBITS, SYMTAB, STRTAB, NOBITS = 1, 2, 3, 8


def _elf(path: Path, sections: list[tuple[str, int, int, int]],
         symbols: list[tuple[str, int, int, int]]) -> None:
    """Write an ELF64 file: ``sections`` (name, type, flags, address) after
    the null section, then .symtab of ``symbols`` (name, bind << 4 | type,
    section index, value), .strtab and .shstrtab."""
    strtab = b"\0"
    syms = b"\0" * 24
    for name, info, shndx, value in symbols:
        syms += struct.pack("<IBBHQQ", len(strtab), info, 0, shndx, value, 8)
        strtab += name.encode() + b"\0"
    names = [n for n, *_ in sections] + [".symtab", ".strtab", ".shstrtab"]
    shstrtab = b"\0" + b"".join(n.encode() + b"\0" for n in names)
    name_off = [shstrtab.index(b"\0" + n.encode() + b"\0") + 1 for n in names]
    data = b""
    base = 64
    symtab_off = base
    data += syms
    strtab_off = base + len(data)
    data += strtab
    shstr_off = base + len(data)
    data += shstrtab
    shoff = base + len(data)
    n = len(sections)
    hdrs = [struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)]
    for i, (_name, type_, flags, addr) in enumerate(sections):
        hdrs.append(struct.pack("<IIQQQQIIQQ", name_off[i], type_, flags, addr, 0, 0x1000,
                                0, 0, 8, 0))
    hdrs.append(struct.pack("<IIQQQQIIQQ", name_off[n], SYMTAB, 0, 0, symtab_off, len(syms),
                            n + 2, 1, 8, 24))
    hdrs.append(struct.pack("<IIQQQQIIQQ", name_off[n + 1], STRTAB, 0, 0, strtab_off,
                            len(strtab), 0, 0, 1, 0))
    hdrs.append(struct.pack("<IIQQQQIIQQ", name_off[n + 2], STRTAB, 0, 0, shstr_off,
                            len(shstrtab), 0, 0, 1, 0))
    ehdr = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, b"", 2, 62, 1,
                       0, 0, shoff, 0, 64, 0, 0, 64, len(hdrs), n + 3)
    path.write_bytes(ehdr + data + b"".join(hdrs))


def test_nm_letters_follow_bfd(tmp_path: Path) -> None:
    LOCAL, GLOBAL, WEAK = 0, 1, 2
    NOTYPE, OBJECT, FUNC, IFUNC = 0, 1, 2, 10
    path = tmp_path / "vmlinux"
    _elf(path, [(".text", PROGBITS, SHF_ALLOC | SHF_EXEC, 0x1000),
                (".rodata", PROGBITS, SHF_ALLOC | SHF_WRITE, 0x2000),  # Debian's: WA
                ("__ksymtab", PROGBITS, SHF_ALLOC, 0x3000),
                (".bss", NOBITS, SHF_ALLOC | SHF_WRITE, 0x4000),
                (".comment", PROGBITS, 0, 0)],
         [("local_fn", LOCAL << 4 | FUNC, 1, 0x1000), ("_etext", GLOBAL << 4 | NOTYPE, 1, 0x1100),
          ("banner", GLOBAL << 4 | OBJECT, 2, 0x2000), ("tok", LOCAL << 4 | NOTYPE, 2, 0x2008),
          ("__ksymtab_x", LOCAL << 4 | OBJECT, 3, 0x3000),
          ("cache", GLOBAL << 4 | OBJECT, 4, 0x4000), ("__key", LOCAL << 4 | OBJECT, 4, 0x4008),
          ("weak_fn", WEAK << 4 | FUNC, 1, 0x1010), ("weak_obj", WEAK << 4 | OBJECT, 2, 0x2010),
          ("ifn", GLOBAL << 4 | IFUNC, 1, 0x1020), ("abs", GLOBAL << 4 | NOTYPE, 0xFFF1, 5),
          ("note", LOCAL << 4 | NOTYPE, 5, 0), ("undef", GLOBAL << 4 | NOTYPE, 0, 0)])
    letters = nm_letters(str(path), bias=0x100)
    assert letters == {
        (0x1100, "local_fn"): "t", (0x1200, "_etext"): "T", (0x2100, "banner"): "D",
        (0x2108, "tok"): "d", (0x3100, "__ksymtab_x"): "r", (0x4100, "cache"): "B",
        (0x4108, "__key"): "b", (0x1110, "weak_fn"): "W", (0x2110, "weak_obj"): "V",
        (0x1120, "ifn"): "i", (0x105, "abs"): "A", (0x100, "note"): "n"}


def test_nm_letters_of_no_elf(tmp_path: Path) -> None:
    path = tmp_path / "not-elf"
    path.write_bytes(b"hello")
    assert nm_letters(str(path)) == {}
    assert nm_letters(str(tmp_path / "missing")) == {}
