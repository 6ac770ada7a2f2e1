"""The kernel's own BTF: every named type of vmlinux, for searches by size
and by member type.

drgn 0.3.0 finds a type by name but cannot list types, and crash's
``whatis -r SIZE`` / ``whatis -m TYPE`` need the list: gdb's symbol tables
there.  A kernel built with ``CONFIG_DEBUG_INFO_BTF`` (every Debian kernel
since 5.10) carries all of vmlinux's types, deduplicated by pahole from the
same DWARF, between ``__start_BTF`` and ``__stop_BTF``
(include/asm-generic/vmlinux.lds.h), and that section is read here from
the kernel's memory, so it is the running kernel's.

The format is include/uapi/linux/btf.h's: a header, a type section (type
ids from 1; id 0 is ``void``) and a string section.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterator

import drgn

__all__ = [
    "BTF_KIND_ARRAY",
    "BTF_KIND_ENUM",
    "BTF_KIND_ENUM64",
    "BTF_KIND_FLOAT",
    "BTF_KIND_INT",
    "BTF_KIND_PTR",
    "BTF_KIND_STRUCT",
    "BTF_KIND_TYPEDEF",
    "BTF_KIND_UNION",
    "Btf",
    "BtfError",
    "BtfType",
    "kernel_btf",
    "named_types",
    "parse_btf",
]

BTF_MAGIC = 0xEB9F

# enum btf_kind (include/uapi/linux/btf.h)
BTF_KIND_INT = 1
BTF_KIND_PTR = 2
BTF_KIND_ARRAY = 3
BTF_KIND_STRUCT = 4
BTF_KIND_UNION = 5
BTF_KIND_ENUM = 6
BTF_KIND_FWD = 7
BTF_KIND_TYPEDEF = 8
BTF_KIND_VOLATILE = 9
BTF_KIND_CONST = 10
BTF_KIND_RESTRICT = 11
BTF_KIND_FUNC = 12
BTF_KIND_FUNC_PROTO = 13
BTF_KIND_VAR = 14
BTF_KIND_DATASEC = 15
BTF_KIND_FLOAT = 16
BTF_KIND_DECL_TAG = 17
BTF_KIND_TYPE_TAG = 18
BTF_KIND_ENUM64 = 19

#: Bytes after struct btf_type for each kind: a fixed part and a part per
#: vlen entry (struct btf_member, btf_enum, btf_param, btf_var_secinfo,
#: btf_enum64; btf_array; the u32 of INT, VAR and DECL_TAG).
_TRAILER = {
    BTF_KIND_INT: (4, 0),
    BTF_KIND_ARRAY: (12, 0),
    BTF_KIND_STRUCT: (0, 12),
    BTF_KIND_UNION: (0, 12),
    BTF_KIND_ENUM: (0, 8),
    BTF_KIND_FUNC_PROTO: (0, 8),
    BTF_KIND_VAR: (4, 0),
    BTF_KIND_DATASEC: (0, 12),
    BTF_KIND_DECL_TAG: (4, 0),
    BTF_KIND_ENUM64: (0, 12),
}

#: Kinds that only qualify the type they refer to.
_MODIFIERS = frozenset((BTF_KIND_VOLATILE, BTF_KIND_CONST, BTF_KIND_RESTRICT,
                        BTF_KIND_TYPE_TAG))

#: Kinds with a size of their own in struct btf_type.
_SIZED = frozenset((BTF_KIND_INT, BTF_KIND_STRUCT, BTF_KIND_UNION, BTF_KIND_ENUM,
                    BTF_KIND_ENUM64, BTF_KIND_FLOAT, BTF_KIND_DATASEC))

#: Kinds that name a type as gdb's LOC_TYPEDEF symbols do: base types,
#: structure, union and enum tags, and typedefs.
_NAMED_KINDS = frozenset((BTF_KIND_INT, BTF_KIND_FLOAT, BTF_KIND_STRUCT,
                          BTF_KIND_UNION, BTF_KIND_ENUM, BTF_KIND_ENUM64,
                          BTF_KIND_TYPEDEF))


_KEYWORD = {BTF_KIND_STRUCT: "struct", BTF_KIND_UNION: "union", BTF_KIND_ENUM: "enum",
            BTF_KIND_ENUM64: "enum"}


class BtfError(Exception):
    """The BTF data is missing, truncated or not BTF."""


@dataclass(frozen=True)
class BtfType:
    """One ``struct btf_type``: its kind (``BTF_KIND_*``), name (''
    when anonymous), its ``size`` word (bytes; for kinds with a size) or
    ``type`` word (the type id a pointer, typedef or modifier refers to),
    its members' type ids (a structure's or union's; an array's element
    type, as one), an array's length and whether an INT is signed."""

    kind: int
    name: str
    size_or_type: int = 0
    members: tuple[int, ...] = ()
    nelems: int = 0
    signed: bool = False


@dataclass(frozen=True)
class Btf:
    """Parsed BTF: ``types[i]`` is type id ``i`` (``types[0]`` is void);
    ``pointer_size`` is a PTR's size in bytes (the kernel's ``unsigned
    long``'s: BTF records none)."""

    types: tuple[BtfType, ...]
    pointer_size: int = 8

    def type(self, type_id: int) -> BtfType:
        """Type id ``type_id`` (void for 0).

        :raises BtfError: no such type id.
        """
        if not 0 <= type_id < len(self.types):
            raise BtfError(f"BTF refers to type id {type_id} of {len(self.types) - 1}")
        return self.types[type_id]

    def strip(self, type_id: int) -> int:
        """The type id under the const, volatile, restrict and type-tag
        modifiers of ``type_id`` (gdb keeps cv-qualifiers on the type
        itself; ``__rcu`` and ``__user`` tags are BTF's own)."""
        for _ in range(len(self.types)):
            t = self.type(type_id)
            if t.kind not in _MODIFIERS:
                return type_id
            type_id = t.size_or_type
        raise BtfError("BTF modifier chain loops")

    def size(self, type_id: int) -> int:
        """Size in bytes of ``type_id`` as gdb gives it: a typedef or
        modifier has its target's, an array its length times its
        element's, a pointer :attr:`pointer_size`, a function type 1, an
        incomplete (forward-declared) one 0, void 1."""
        for _ in range(len(self.types)):
            t = self.type(type_id)
            if type_id == 0 or t.kind in (BTF_KIND_FUNC_PROTO, BTF_KIND_FUNC):
                return 1
            if t.kind in _SIZED:
                return t.size_or_type
            if t.kind == BTF_KIND_PTR:
                return self.pointer_size
            if t.kind == BTF_KIND_ARRAY:
                return t.nelems * self.size(t.members[0])
            if t.kind == BTF_KIND_FWD:
                return 0
            type_id = t.size_or_type  # typedef, modifier
        raise BtfError("BTF typedef chain loops")

    def name_of(self, type_id: int) -> str:
        """The name of ``type_id`` under its modifiers: ``void`` for id 0,
        '' for anonymous and unnamed kinds (pointers, arrays, functions)."""
        type_id = self.strip(type_id)
        return "void" if type_id == 0 else self.types[type_id].name


def parse_btf(data: bytes) -> Btf:
    """Parse raw BTF (the ``.BTF`` section; ``/sys/kernel/btf/vmlinux``).

    :param data: the bytes, either byte order (told by the magic).
    :raises BtfError: not BTF, or a section runs past the data.
    """
    if len(data) < 24:
        raise BtfError(f"BTF data too short ({len(data)} bytes)")
    for order in "<>":
        if struct.unpack_from(order + "H", data)[0] == BTF_MAGIC:
            break
    else:
        raise BtfError("no BTF magic 0xeb9f")
    (hdr_len, type_off, type_len, str_off,
     str_len) = struct.unpack_from(order + "5I", data, 4)
    types_start = hdr_len + type_off
    strs_start = hdr_len + str_off
    if types_start + type_len > len(data) or strs_start + str_len > len(data):
        raise BtfError(f"BTF sections end past its {len(data)} bytes")
    strings = data[strs_start:strs_start + str_len]

    def string(off: int) -> str:
        end = strings.find(b"\0", off)
        return strings[off:end if end >= 0 else len(strings)].decode(errors="replace")

    word3 = struct.Struct(order + "3I")
    types: list[BtfType] = [BtfType(0, "void")]
    pos, end = types_start, types_start + type_len
    while pos < end:
        if pos + 12 > end:
            raise BtfError(f"BTF type {len(types)} truncated")
        name_off, info, size_or_type = word3.unpack_from(data, pos)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        fixed, per = _TRAILER.get(kind, (0, 0))
        body = pos + 12
        pos = body + fixed + per * vlen
        if pos > end:
            raise BtfError(f"BTF type {len(types)} truncated")
        members: tuple[int, ...] = ()
        nelems = 0
        if kind in (BTF_KIND_STRUCT, BTF_KIND_UNION):  # struct btf_member's type
            members = tuple(word3.unpack_from(data, body + 12 * i)[1] for i in range(vlen))
        elif kind == BTF_KIND_ARRAY:  # struct btf_array: type, index_type, nelems
            elem, _index, nelems = word3.unpack_from(data, body)
            members = (elem,)
        # BTF_INT_ENCODING(word) & BTF_INT_SIGNED
        signed = kind == BTF_KIND_INT and bool(
            (struct.unpack_from(order + "I", data, body)[0] >> 24) & 1)
        types.append(BtfType(kind, string(name_off) if name_off else "", size_or_type,
                             members, nelems, signed))
    pointer_size = next((t.size_or_type for t in types
                         if t.kind == BTF_KIND_INT and t.name == "long unsigned int"), 8)
    return Btf(tuple(types), pointer_size)


def _vmlinux_btf_section(prog: drgn.Program) -> bytes | None:
    """The ``.BTF`` section of the vmlinux file drgn loaded, or None."""
    from ..buildid import elf_sections

    try:
        path = prog.main_module().debug_file_path
    except (LookupError, AttributeError):
        return None
    if not path:
        return None
    try:
        for sec in elf_sections(path):
            if sec.name == ".BTF":
                with open(path, "rb") as f:
                    f.seek(sec.offset)
                    data = f.read(sec.size)
                return data if len(data) == sec.size else None
    except OSError:
        return None
    return None


def kernel_btf(prog: drgn.Program) -> Btf:
    """vmlinux's BTF, read from the kernel's memory between ``__start_BTF``
    and ``__stop_BTF``, or where the target cannot give those pages (a
    truncated dump) from the ``.BTF`` section of the vmlinux file, the same
    bytes; cached in ``prog.cache["kmemx.btf.vmlinux"]``.

    :raises BtfError: the kernel has no BTF (``CONFIG_DEBUG_INFO_BTF`` is
        off), neither the target nor the vmlinux file gives it, or it is
        not readable BTF.
    """
    cached = prog.cache.get("kmemx.btf.vmlinux")
    if isinstance(cached, Btf):
        return cached
    try:
        start = prog.symbol("__start_BTF").address
        stop = prog.symbol("__stop_BTF").address
    except LookupError:
        raise BtfError("the kernel has no BTF (built without CONFIG_DEBUG_INFO_BTF)") from None
    if not 0 < stop - start < 1 << 30:
        raise BtfError(f"BTF section bounds {start:#x}-{stop:#x} are not a section")
    try:
        data = prog.read(start, stop - start)
    except drgn.FaultError as e:
        file_data = _vmlinux_btf_section(prog)
        if file_data is None:
            raise BtfError(f"cannot read the kernel's BTF at {e.address:#x} ({e.message}), "
                           "and the vmlinux file has no .BTF section") from None
        data = file_data
    btf = parse_btf(data)
    prog.cache["kmemx.btf.vmlinux"] = btf
    return btf


def named_types(btf: Btf) -> Iterator[tuple[str, int]]:
    """The named types of ``btf`` (base types, structures, unions, enums,
    typedefs: gdb's LOC_TYPEDEF symbols) as ``(keyword, type id)``, the
    keyword drgn's :meth:`drgn.Program.type` needs before the name:
    ``struct``, ``union``, ``enum`` (also for an ENUM64), or '' for a base
    type or typedef.  In BTF's order; a name several definitions share
    comes once for each."""
    for type_id, t in enumerate(btf.types):
        if t.name and t.kind in _NAMED_KINDS:
            yield _KEYWORD.get(t.kind, ""), type_id
