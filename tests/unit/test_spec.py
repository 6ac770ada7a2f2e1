"""The bulk-read spec (kmemx/types/spec.py): one size/signedness rule for views,
member_spec/raw_reader and numpy dtypes, and the C loop equal to its Python twin."""

from __future__ import annotations

import struct
from typing import Any

import drgn
import pytest

import kmemx.types.fields as fields_mod
import kmemx.types.view as view_mod
from kmemx._accel import speedups
from kmemx.types import spec
from kmemx.types.layout import strip

BASE = 0xFFFF888000100000


@pytest.fixture(params=["c", "python"])
def impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs on the C fast paths and on the pure-Python ones."""
    if request.param == "python":
        monkeypatch.setattr(fields_mod, "_speedups", None)
        monkeypatch.setattr(view_mod, "_speedups", None)
    elif speedups is None:
        pytest.skip("kmemx._speedups is not built")
    return str(request.param)


class FakeKernel:
    """Just enough of Kernel for views and raw_reader: 4 KiB pages in a dict."""

    def __init__(self, prog: drgn.Program, data: dict[int, bytes]) -> None:
        self.prog = prog
        self._pages: dict[int, tuple[Any, int]] = {}
        for addr, raw in data.items():
            for i, b in enumerate(raw):
                a = addr + i
                buf, _ = self._pages.setdefault(a >> 12, (bytearray(4096), 0))
                buf[a & 4095] = b
        prog.cache["kmemx.kernel"] = self

    def read(self, addr: int, size: int) -> bytes:
        out = bytearray()
        for a in range(addr, addr + size):
            p = self._pages.get(a >> 12)
            if p is None:
                raise drgn.FaultError("could not read memory", a)
            out.append(p[0][p[1] + (a & 4095)])
        return bytes(out)

    def _slow(self, addr: int, size: int) -> tuple[Any, int]:
        return self.read(addr, size), 0


def _types(prog: drgn.Program) -> tuple[drgn.Type, drgn.Type]:
    s32 = prog.int_type("int", 4, True)
    u32 = prog.int_type("unsigned int", 4, False)
    # an enum with a negative enumerator: its compatible type is signed
    # (like the kernel's enum with ... = -1 members)
    senum = prog.enum_type("sign", s32, [drgn.TypeEnumerator("NEG", -2),
                                         drgn.TypeEnumerator("POS", 1)])
    uenum = prog.enum_type("usign", u32, [drgn.TypeEnumerator("BIG", 0xFFFFFFFE)])
    st = prog.struct_type("spec_test", 16, [
        drgn.TypeMember(senum, "s", 0),
        drgn.TypeMember(uenum, "u", 32),
        drgn.TypeMember(prog.pointer_type(s32), "p", 64),
    ])
    return st, senum


def test_scalar_kind() -> None:
    prog = drgn.Program(drgn.host_platform)
    st, senum = _types(prog)
    assert spec.scalar_kind(senum) == (4, True)
    assert spec.scalar_kind(strip(st.members[1].type)) == (4, False)
    assert spec.scalar_kind(strip(st.members[2].type)) == (8, False)
    assert spec.scalar_kind(prog.bool_type("_Bool", 1)) == (1, False)
    assert spec.scalar_kind(prog.int_type("short", 2, True)) == (2, True)
    assert spec.scalar_kind(prog.enum_type("incomplete")) == (4, False)
    with pytest.raises(TypeError):
        spec.scalar_kind(st)


def test_signed_enum_reads_the_same_everywhere(impl: str) -> None:
    prog = drgn.Program(drgn.host_platform)
    st, _ = _types(prog)
    k: Any = FakeKernel(prog, {BASE: struct.pack("<iIQ", -2, 0xFFFFFFFE, BASE)})
    v = view_mod.make_view(k, st, BASE)
    assert int(v.s) == -2 and v.s.name == "NEG"
    assert int(v.u) == 0xFFFFFFFE and v.u.name == "BIG"
    items = tuple(fields_mod.member_spec(k, st, m) for m in ("s", "u", "p"))
    assert items == (spec.signed(0, 4), spec.unsigned(4, 4), spec.unsigned(8, 8))
    assert fields_mod.raw_reader(k, items)(BASE) == (-2, 0xFFFFFFFE, BASE)
    assert v.fields("s", "u", "p") == (-2, 0xFFFFFFFE, BASE)
    numpy = pytest.importorskip("numpy")
    from kmemx.helpers.bulk import numpy_dtype

    arr = numpy.frombuffer(k.read(BASE, 16), dtype=numpy_dtype(prog, st))
    assert int(arr["s"][0]) == -2 and int(arr["u"][0]) == 0xFFFFFFFE


def test_every_kind_c_equals_python(impl: str) -> None:
    prog = drgn.Program(drgn.host_platform)
    counters = BASE + 0x2000
    cpu_offsets = (0, 0x1000, 0x3000)
    data = {
        BASE: struct.pack("<qQ", 100, counters) + b"comm\0xyz" + struct.pack("<QQh", BASE + 0x800, 0, -5),
        BASE + 0x800: struct.pack("<I", 7),
        counters: struct.pack("<i", -3),
        counters + 0x1000: struct.pack("<i", 40),
        counters + 0x3000: struct.pack("<i", -1),
    }
    k: Any = FakeKernel(prog, data)
    sub = (spec.unsigned(0, 4),)
    items = (
        spec.s64_plus_s32s(0, 8, cpu_offsets),
        spec.string(16, 8),
        spec.follow(24, sub),
        spec.follow_inline(24, sub),
        spec.follow(32, sub),
        spec.follow_inline(32, sub),
        spec.signed(40, 2),
        spec.unsigned(40, 2),
    )
    want = (136, b"comm", (7,), 7, None, None, -5, 0xFFFB)
    assert spec.width(items) == len(want)
    assert fields_mod.raw_reader(k, items)(BASE) == want
    many = fields_mod.raw_reader_many(k, items)([BASE])
    assert many == ([want] if impl == "c" else [None])


def test_c_module_agrees_with_spec_kinds() -> None:
    if speedups is None:
        pytest.skip("kmemx._speedups is not built")
    assert {n: getattr(speedups, "SPEC_" + n) for n in spec.KINDS} == spec.KINDS
    with pytest.raises(ValueError):
        speedups.read_members({}, BASE, ((0, 8, 99),))
