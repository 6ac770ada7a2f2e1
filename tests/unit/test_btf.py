"""The BTF reader and the type search behind ``whatis -r``/``-m``, on BTF
built here by include/uapi/linux/btf.h's layout (both byte orders)."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from kmemx.types.btf import (
    BTF_KIND_ARRAY,
    BTF_KIND_INT,
    BTF_KIND_PTR,
    BTF_KIND_STRUCT,
    BTF_KIND_TYPEDEF,
    BTF_KIND_UNION,
    BtfError,
    kernel_btf,
    parse_btf,
)
from kmemx.types.search import btf_type_contains, types_by_size_and_member

CONST, FUNC_PROTO, FWD, ENUM = 10, 13, 7, 6


class Builder:
    """BTF bytes from (kind, name, size_or_type, trailer words) entries."""

    def __init__(self) -> None:
        self.strings = b"\0"
        self.types: list[tuple[int, str, int, list[int], int]] = []

    def add(self, kind: int, name: str = "", size_or_type: int = 0,
            trailer: list[int] | None = None, vlen: int = 0) -> int:
        self.types.append((kind, name, size_or_type, trailer or [], vlen))
        return len(self.types)

    def _str(self, name: str) -> int:
        if not name:
            return 0
        off = len(self.strings)
        self.strings += name.encode() + b"\0"
        return off

    def build(self, order: str = "<") -> bytes:
        body = b""
        for kind, name, size_or_type, trailer, vlen in self.types:
            info = (kind << 24) | vlen
            body += struct.pack(order + "3I", self._str(name), info, size_or_type)
            body += struct.pack(order + f"{len(trailer)}I", *trailer)
        hdr = struct.pack(order + "HBB5I", 0xEB9F, 1, 0, 24, 0, len(body), len(body),
                          len(self.strings))
        return hdr + body + self.strings


def sample() -> Builder:
    b = Builder()
    b.add(BTF_KIND_INT, "int", 4, [(1 << 24) | 32])                       # 1
    b.add(BTF_KIND_INT, "long unsigned int", 8, [64])                      # 2
    b.add(BTF_KIND_STRUCT, "list_head", 16, [0, 4, 0, 0, 4, 64], vlen=2)   # 3
    b.add(BTF_KIND_PTR, "", 3)                                             # 4
    b.add(BTF_KIND_STRUCT, "outer", 24, [0, 3, 0, 0, 7, 128], vlen=2)      # 5
    b.add(BTF_KIND_STRUCT, "", 4, [0, 1, 0], vlen=1)                       # 6
    b.add(BTF_KIND_TYPEDEF, "atomic_t", 6)                                 # 7
    b.add(CONST, "", 5)                                                    # 8
    b.add(BTF_KIND_ARRAY, "", 0, [8, 1, 3])                                # 9
    b.add(BTF_KIND_STRUCT, "holder", 72, [0, 9, 0], vlen=1)                # 10
    b.add(FUNC_PROTO, "", 1)                                               # 11
    b.add(BTF_KIND_TYPEDEF, "fn_t", 11)                                    # 12
    b.add(BTF_KIND_UNION, "", 8, [0, 4, 0], vlen=1)                        # 13
    b.add(BTF_KIND_STRUCT, "in_union", 8, [0, 13, 0], vlen=1)              # 14
    b.add(BTF_KIND_STRUCT, "slot", 96, [0, 2, 0], vlen=1)                  # 15
    b.add(BTF_KIND_STRUCT, "slot", 232, [0, 4, 0], vlen=1)                 # 16
    b.add(BTF_KIND_STRUCT, "local_only", 16, [0, 4, 0], vlen=1)            # 17
    b.add(ENUM, "state", 4, [0, 0, 0, 1], vlen=2)                          # 18
    b.add(FWD, "opaque", 0)                                                # 19
    return b


def test_parse_and_sizes() -> None:
    btf = parse_btf(sample().build())
    assert [t.name for t in btf.types[:4]] == ["void", "int", "long unsigned int", "list_head"]
    assert btf.types[1].signed and not btf.types[2].signed
    assert btf.pointer_size == 8
    assert btf.size(7) == 4          # typedef: its target's
    assert btf.size(9) == 72         # array of 3 const struct outer
    assert btf.size(12) == 1         # typedef of a function type: gdb's 1
    assert btf.size(4) == 8 and btf.size(19) == 0
    assert btf.strip(8) == 5 and btf.name_of(8) == "outer" and btf.name_of(0) == "void"
    assert btf.types[3].members == (4, 4)


def test_big_endian() -> None:
    assert parse_btf(sample().build(">")).types == parse_btf(sample().build("<")).types


@pytest.mark.parametrize("blob, message", [
    (b"", "too short"),
    (b"\0" * 32, "no BTF magic"),
    (sample().build()[:60], "past"),
])
def test_damaged(blob: bytes, message: str) -> None:
    with pytest.raises(BtfError, match=message):
        parse_btf(blob)


def test_truncated_type() -> None:
    b = Builder()
    b.add(BTF_KIND_STRUCT, "s", 8, [0, 1], vlen=1)  # a member is 3 words: 1 short
    with pytest.raises(BtfError, match="truncated"):
        parse_btf(b.build())


def test_unknown_type_id() -> None:
    b = Builder()
    b.add(BTF_KIND_TYPEDEF, "t", 99)
    with pytest.raises(BtfError, match="type id 99"):
        parse_btf(b.build()).size(1)


def test_contains_is_crash_rule() -> None:
    btf = parse_btf(sample().build())
    assert btf_type_contains(btf, 5, "list_head")       # embedded struct's pointer
    assert btf_type_contains(btf, 5, "atomic")          # a typedef's name, substring
    assert not btf_type_contains(btf, 5, "int")         # not through the typedef
    assert btf_type_contains(btf, 10, "outer")          # array of const structures
    assert btf_type_contains(btf, 10, "list_head")      # ... and into them
    assert not btf_type_contains(btf, 14, "list_head")  # not into a union member
    assert btf_type_contains(btf, 13, "list_head")      # a union's own members


class FakeProg:
    """The Program surface kernel_btf() and the search use."""

    def __init__(self, blob: bytes, hidden: tuple[str, ...] = ()) -> None:
        self.blob = blob
        self.cache: dict[str, Any] = {}
        self.hidden = hidden
        self.reads = 0

    def symbol(self, name: str) -> Any:
        addresses = {"__start_BTF": 0x1000, "__stop_BTF": 0x1000 + len(self.blob)}
        if name not in addresses:
            raise LookupError(name)
        return type("Sym", (), {"address": addresses[name]})()

    def read(self, address: int, size: int) -> bytes:
        self.reads += 1
        return self.blob[address - 0x1000:address - 0x1000 + size]

    def type(self, name: str) -> Any:
        if name in self.hidden:
            raise LookupError(name)
        return name


def test_search() -> None:
    prog: Any = FakeProg(sample().build(), hidden=("struct local_only",))
    rows = list(types_by_size_and_member(prog, 4, 16))
    assert [(r.size, r.name, r.kind) for r in rows] == [
        (4, "atomic_t", "typedef"), (4, "int", "base"), (4, "state", "enum"),
        (8, "in_union", "struct"), (8, "long unsigned int", "base"), (16, "list_head", "struct")]
    assert [(r.size, r.name) for r in types_by_size_and_member(prog, member="list_head")] == [
        (16, "list_head"), (24, "outer"), (72, "holder"), (232, "slot")]
    assert [r.size for r in types_by_size_and_member(prog, 90, 300)] == [96, 232]
    assert list(types_by_size_and_member(prog, member="nothing")) == []
    # any size; all but local_only (declared in a function: drgn cannot name it)
    assert sorted(r.name for r in types_by_size_and_member(prog)) == [
        "atomic_t", "fn_t", "holder", "in_union", "int", "list_head", "long unsigned int",
        "outer", "slot", "slot", "state"]
    assert prog.reads == 1  # BTF read once, then from prog.cache


def test_no_btf() -> None:
    prog: Any = FakeProg(b"")
    prog.symbol = lambda name: (_ for _ in ()).throw(LookupError(name))
    with pytest.raises(BtfError, match="CONFIG_DEBUG_INFO_BTF"):
        kernel_btf(prog)


def test_truncated_target_reads_the_vmlinux_section(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the target cannot give the BTF pages (a truncated dump), the
    vmlinux file's .BTF section is read; without one, one BtfError."""
    import drgn

    import kmemx.types.btf as btf_module

    blob = sample().build()
    prog: Any = FakeProg(blob)

    def fault(address: int, size: int) -> bytes:
        raise drgn.FaultError("past the end of the truncated dump file", address)

    prog.read = fault
    monkeypatch.setattr(btf_module, "_vmlinux_btf_section", lambda p: blob)
    assert kernel_btf(prog).types == parse_btf(blob).types
    prog.cache.clear()
    monkeypatch.setattr(btf_module, "_vmlinux_btf_section", lambda p: None)
    with pytest.raises(BtfError, match="cannot read the kernel's BTF at 0x1000"):
        kernel_btf(prog)


def test_unreadable_entry_is_reported_and_skipped() -> None:
    """A list/tree entry whose structure cannot be read gives no member
    lines and one warning named after the command (crash reports the entry
    and goes on)."""
    import drgn
    from kmemx_plugins.lists import _entry_lines

    warnings: list[str] = []

    class K:
        def read(self, address: int, size: int) -> bytes:
            raise drgn.FaultError("unmapped", address)

    ctx: Any = type("Ctx", (), {"k": K(), "warn": lambda self, m: warnings.append(m)})()
    t = drgn.Program(drgn.host_platform).int_type("int", 4, True)
    assert _entry_lines(ctx, t, "struct pid", ["level"], 0x10, None, False, "tree") == []
    assert warnings == ["tree: struct pid at 0x10: cannot read 0x10"]
