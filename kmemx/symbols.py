"""Name lists for completion and "did you mean": symbols and type names.

drgn has no API to enumerate types, so type names come from the vmlinux's
``.BTF`` section (Debian and most distro kernels have CONFIG_DEBUG_INFO_BTF),
parsed once and cached per program in ``prog.cache``.
"""

from __future__ import annotations

import difflib
import struct
from collections.abc import Iterable, Iterator
from typing import Any

from .buildid import SHF_ALLOC, elf_sections

__all__ = ["btf_struct_size", "btf_type_names", "did_you_mean", "section_names", "symbol_names",
           "type_names", "vmlinux_struct_size"]

_BTF_MAGIC = 0xEB9F
# BTF kinds
_INT, _PTR, _ARRAY, _STRUCT, _UNION, _ENUM, _FWD, _TYPEDEF = 1, 2, 3, 4, 5, 6, 7, 8
_VOLATILE, _CONST, _RESTRICT, _FUNC, _FUNC_PROTO, _VAR, _DATASEC, _FLOAT = (
    9, 10, 11, 12, 13, 14, 15, 16)
_DECL_TAG, _TYPE_TAG, _ENUM64 = 17, 18, 19


def _section(path: str, name: bytes) -> bytes | None:
    want = name.decode()
    for sec in elf_sections(path):
        if sec.name == want:
            with open(path, "rb") as f:
                f.seek(sec.offset)
                return f.read(sec.size)
    return None


def section_names(prog: Any) -> dict[int, list[str]]:
    """The names of the vmlinux's allocated sections by their address in the
    running kernel (KASLR applied), sorted: what the ELF symbol table's
    section symbols stand for (drgn gives them an empty name; crash's symbol
    table names them, ``.data``).  {} without a vmlinux file.  Cached."""
    key = "kmemx.symbols.section_names"
    cached: dict[int, list[str]] | None = prog.cache.get(key)
    if cached is None:
        cached = {}
        try:
            m = prog.main_module()
            path, bias = m.debug_file_path, m.debug_file_bias or 0
        except (LookupError, AttributeError):
            path, bias = None, 0
        for sec in elf_sections(path) if path else ():
            if sec.flags & SHF_ALLOC and sec.name:
                cached.setdefault((sec.addr + bias) & 0xFFFFFFFFFFFFFFFF, []).append(sec.name)
        for names in cached.values():
            names.sort()
        prog.cache[key] = cached
    return cached


def _btf_types(data: bytes) -> Iterator[tuple[int, str, int]]:
    """``(kind, name, size)`` of each type of the BTF blob ``data`` (name ""
    for an anonymous one; size is a struct/union/enum/int's byte size, else
    the raw field).  Raises ValueError when it is not BTF."""
    magic, _ver, _flags, hdr_len, type_off, type_len, str_off, _str_len = struct.unpack_from(
        "<HBBIIIII", data, 0)
    if magic != _BTF_MAGIC:
        raise ValueError("not BTF")
    types = data[hdr_len + type_off:hdr_len + type_off + type_len]
    strs = data[hdr_len + str_off:]
    pos = 0
    while pos + 12 <= len(types):
        name_off, info, size = struct.unpack_from("<III", types, pos)
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        pos += 12
        name = ""
        if name_off:
            end = strs.find(b"\0", name_off)
            name = strs[name_off:end].decode("ascii", "replace")
        yield kind, name, size
        if kind == _INT:
            pos += 4
        elif kind == _ARRAY:
            pos += 12
        elif kind in (_STRUCT, _UNION):
            pos += 12 * vlen
        elif kind == _ENUM:
            pos += 8 * vlen
        elif kind == _ENUM64:
            pos += 12 * vlen
        elif kind == _FUNC_PROTO:
            pos += 8 * vlen
        elif kind == _VAR:
            pos += 4
        elif kind == _DATASEC:
            pos += 12 * vlen
        elif kind == _DECL_TAG:
            pos += 4


def btf_type_names(data: bytes) -> dict[str, list[str]]:
    """``{"struct": [...], "union": [...], "enum": [...], "typedef": [...]}``."""
    out: dict[str, set[str]] = {"struct": set(), "union": set(), "enum": set(), "typedef": set()}
    tag = {_STRUCT: "struct", _UNION: "union", _ENUM: "enum", _ENUM64: "enum",
           _TYPEDEF: "typedef"}
    for kind, name, _size in _btf_types(data):
        if kind in tag and name:
            out[tag[kind]].add(name)
    return {k: sorted(v) for k, v in out.items()}


def btf_struct_size(data: bytes, name: str) -> int | None:
    """``sizeof(struct name)`` from the BTF blob ``data``; None if it has no
    such (complete) struct.  Raises ValueError when it is not BTF."""
    for kind, got, size in _btf_types(data):
        if kind == _STRUCT and got == name and size:
            return size
    return None


def vmlinux_struct_size(path: str, name: str) -> int | None:
    """``sizeof(struct name)`` from the ``.BTF`` section of the vmlinux at
    ``path`` (CONFIG_DEBUG_INFO_BTF), without loading its DWARF; None when the
    file has no BTF or no such struct."""
    try:
        data = _section(path, b".BTF")
        return btf_struct_size(data, name) if data else None
    except (OSError, ValueError, struct.error):
        return None


def _all_type_names(prog: Any) -> dict[str, list[str]]:
    key = "kmemx.symbols.type_names"
    cached: dict[str, list[str]] | None = prog.cache.get(key)
    if cached is None:
        cached = {"struct": [], "union": [], "enum": [], "typedef": []}
        try:
            path = prog.main_module().debug_file_path
            data = _section(path, b".BTF") if path else None
            if data:
                cached = btf_type_names(data)
        except (OSError, ValueError, LookupError, struct.error):
            pass
        prog.cache[key] = cached
    return cached


def type_names(prog: Any, tag: str) -> list[str]:
    """Names of ``tag`` ("struct", "union", "enum", "typedef") types."""
    return _all_type_names(prog).get(tag, [])


def symbol_names(prog: Any) -> list[str]:
    """Sorted, de-duplicated names of every symbol, the modules' included
    (:func:`kmemx.helpers.kallsyms.use_module_kallsyms`), cached per program."""
    key = "kmemx.symbols.symbol_names"
    cached: list[str] | None = prog.cache.get(key)
    if cached is None:
        from .helpers.kallsyms import use_module_kallsyms

        use_module_kallsyms(prog)  # modules' symbols too
        try:
            cached = sorted({s.name for s in prog.symbols()})
        except (LookupError, ValueError):
            cached = []
        prog.cache[key] = cached
    return cached


def did_you_mean(name: str, choices: Iterable[str], *, prefix: str = "", n: int = 3) -> str:
    """The hint kmemx appends to an unknown name: ``" (did you mean a, b?)"``
    with up to ``n`` of ``choices`` closest to ``name`` (:mod:`difflib`'s
    ratio of at least 0.6), each preceded by ``prefix`` (``"struct "``), or
    ``""`` when none is close.  Every "did you mean" of kmemx comes from here."""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.6)
    return f" (did you mean {', '.join(prefix + c for c in close)}?)" if close else ""
