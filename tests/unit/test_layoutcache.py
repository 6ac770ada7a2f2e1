"""kmemx.types.layoutcache without a dump: drgn types made with
``prog.struct_type`` & co go through the encoder and the file and come back
the same; the file's magic, version, checksum and build ID are checked."""

from __future__ import annotations

import struct
from pathlib import Path

import drgn
import pytest

from kmemx.types import layoutcache as lc

BID = "ab" * 20


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KMEMX_LAYOUT_DIR", str(tmp_path))
    lc._BODIES.clear()
    return tmp_path


def _prog() -> drgn.Program:
    platform = drgn.Platform(drgn.Architecture.X86_64,
                             drgn.PlatformFlags.IS_64_BIT | drgn.PlatformFlags.IS_LITTLE_ENDIAN)
    return drgn.Program(platform)


def _types(prog: drgn.Program) -> drgn.Type:
    """A struct with a typedef, a bit field, an enum, an array, a self
    pointer, an anonymous union, a function pointer and qualifiers."""
    u32 = prog.int_type("unsigned int", 4, False)
    pid_t = prog.typedef_type("pid_t", prog.int_type("int", 4, True))
    state = prog.enum_type("state", u32, [drgn.TypeEnumerator("A", 0),
                                          drgn.TypeEnumerator("B", 5)])
    node = prog.struct_type("node")  # incomplete, as a forward declaration
    anon = prog.union_type(None, 8, [drgn.TypeMember(prog.int_type("long", 8, True), "l"),
                                     drgn.TypeMember(prog.array_type(
                                         prog.int_type("char", 1, True), 8), "c")])
    fn = prog.pointer_type(prog.function_type(prog.void_type(), ()), 8)
    return prog.struct_type("node", 48, [
        drgn.TypeMember(pid_t, "pid", 0),
        drgn.TypeMember(drgn.Object(prog, u32, bit_field_size=3), "flags", 32),
        drgn.TypeMember(state, "st", 64),
        drgn.TypeMember(prog.pointer_type(node, 8), "next", 128),
        drgn.TypeMember(anon, None, 192),
        drgn.TypeMember(fn, "cb", 256),
        drgn.TypeMember(prog.array_type(u32.qualified(drgn.Qualifiers.CONST), 4), "v", 320),
    ])


def _same(a: drgn.Type, b: drgn.Type, depth: int = 3) -> None:
    assert a.kind == b.kind and a.type_name() == b.type_name() and a.qualifiers == b.qualifiers
    if a.kind in (drgn.TypeKind.STRUCT, drgn.TypeKind.UNION):
        assert a.size == b.size and a.is_complete() == b.is_complete()
        if not a.is_complete():
            return
        assert [(m.name, m.bit_offset, m.bit_field_size) for m in a.members] == \
            [(m.name, m.bit_offset, m.bit_field_size) for m in b.members]
        if depth:
            for x, y in zip(a.members, b.members):
                if x.type.kind == drgn.TypeKind.POINTER and \
                        x.type.type.kind == drgn.TypeKind.FUNCTION:
                    continue  # prototypes are not kept (checked below)
                _same(x.type, y.type, depth - 1)
    elif a.kind == drgn.TypeKind.ENUM:
        assert [(e.name, e.value) for e in a.enumerators] == \
            [(e.name, e.value) for e in b.enumerators]
    elif a.kind in (drgn.TypeKind.POINTER, drgn.TypeKind.TYPEDEF, drgn.TypeKind.ARRAY):
        assert getattr(a, "length", None) == getattr(b, "length", None)
        if depth:
            _same(a.type, b.type, depth - 1)


def test_types_round_trip_through_the_file() -> None:
    src = _prog()
    t = _types(src)
    enc = lc._Encoder()
    i = enc.add(t)
    lc._write(BID, {"build_id": BID, "types": {"struct node": i}, "objects": {},
                    "table": enc.table, "image": []})
    body = lc.load(BID)
    assert body is not None
    dst = _prog()
    got = lc._Decoder(dst, body["table"]).type(body["types"]["struct node"])
    _same(t, got)
    assert got.member("flags").bit_field_size == 3
    # a function pointer's prototype is not kept: void (...)
    assert got.member("cb").type.type.kind == drgn.TypeKind.FUNCTION


def test_warm_finders_answer_and_absent_names_stay_absent() -> None:
    src = _prog()
    t = _types(src)
    enc = lc._Encoder()
    i = enc.add(t)
    lc._write(BID, {"build_id": BID, "table": enc.table, "image": [],
                    "types": {"struct node": i, "struct gone": -1},
                    "objects": {"node0": ("variable", i, 0x1000, 1),
                                "percpu": ("variable", i, 0x2000, 0),
                                "gone": (None, -1, None, None)}})
    prog = _prog()
    loads: list[int] = []
    assert lc.attach(prog, BID, lambda: loads.append(1), kaslr_offset=0x100000)
    assert prog.type("struct node").size == 48
    with pytest.raises(LookupError):
        prog.type("struct gone")  # known absent: no DWARF load for it
    assert prog.object("node0").address_ == 0x101000  # kernel image: KASLR applied
    assert prog.object("percpu").address_ == 0x2000  # a per-CPU offset: not moved
    with pytest.raises(LookupError):
        prog.object("gone")
    assert loads == [] and lc.is_deferred(prog)
    with pytest.raises(LookupError):
        prog.type("struct unknown")  # not in the file: the loader runs
    assert loads == [1] and not lc.is_deferred(prog)
    lc._ALIVE.pop(id(prog), None)


@pytest.mark.parametrize("damage", ["magic", "version", "checksum", "short", "build"])
def test_damaged_files_are_refused(cache: Path, damage: str) -> None:
    path = Path(lc._write(BID, {"build_id": BID, "types": {}, "objects": {}, "table": [],
                                "image": []}))
    data = bytearray(path.read_bytes())
    if damage == "magic":
        data[0:8] = b"NOTMAGIC"
    elif damage == "version":
        data[8:12] = struct.pack("<I", lc.FORMAT_VERSION + 1)
    elif damage == "checksum":
        data[-1] ^= 1
    elif damage == "short":
        data = data[:20]
    else:
        other = Path(lc._write("cd" * 20, {"build_id": "cd" * 20, "types": {},
                                           "objects": {}, "table": [], "image": []}))
        data = bytearray(other.read_bytes())
    path.write_bytes(bytes(data))
    lc._BODIES.clear()
    with pytest.raises(lc.LayoutCacheError):
        lc.load(BID)
    # attach() removes it so that the cold run writes it again
    assert not lc.attach(_prog(), BID, lambda: None)
    assert not path.exists()
