"""Views of members whose type is an anonymous struct or union, on synthetic
drgn types: every such type is called ``union <anonymous>`` (or ``struct
<anonymous> *``, ``union <anonymous> [2]``), so a cache keyed by the type's
name handed one anonymous union's reader to another.  Seen on Debian 5.10:
``struct file`` has ``union { struct llist_node fu_llist; struct rcu_head
fu_rcuhead; } f_u;`` and ``file.f_u.fu_llist`` failed with "union
<anonymous> has no member 'fu_llist'" once any other anonymous union had
been read."""

from __future__ import annotations

import struct

import drgn
import pytest

from kmemx.helpers.bulk import numpy_dtype, read_struct_array
from kmemx.kernel import Kernel
from kmemx.readers.base import ReadStats
from kmemx.readers.drgnreader import DrgnReader
from kmemx.types.fields import fields
from kmemx.types.layout import layout_for, type_key

BASE = 0xFFFF888000200000


class Types:
    """A ``struct file``-like and a ``struct other`` with anonymous members."""

    def __init__(self, prog: drgn.Program) -> None:
        u64 = prog.int_type("unsigned long", 8, False)
        u32 = prog.int_type("unsigned int", 4, False)
        llist = prog.struct_type("llist_node", 8, [
            drgn.TypeMember(lambda: prog.pointer_type(llist), "next", 0)])
        rcu = prog.struct_type("rcu_head", 16, [
            drgn.TypeMember(u64, "next", 0), drgn.TypeMember(u64, "func", 64)])
        # the first anonymous union: read first, it must not shadow f_u's
        self.u_other = prog.union_type(None, 8, [
            drgn.TypeMember(u64, "o_word", 0), drgn.TypeMember(u32, "o_half", 0)])
        # struct file's: union { struct llist_node fu_llist; struct rcu_head fu_rcuhead; } f_u
        self.u_file = prog.union_type(None, 16, [
            drgn.TypeMember(llist, "fu_llist", 0), drgn.TypeMember(rcu, "fu_rcuhead", 0)])
        # two different anonymous structs, as array elements and pointer targets
        self.s_a = prog.struct_type(None, 8, [drgn.TypeMember(u64, "a_val", 0)])
        self.s_b = prog.struct_type(None, 16, [drgn.TypeMember(u64, "b_pad", 0),
                                               drgn.TypeMember(u64, "b_val", 64)])
        self.other = prog.struct_type("other", 8 + 16 + 16 + 8, [
            drgn.TypeMember(self.u_other, "o_u", 0),
            drgn.TypeMember(prog.array_type(self.s_a, 2), "o_arr", 64),
            drgn.TypeMember(self.u_other, None, 192),  # flattened: o_word, o_half
            drgn.TypeMember(prog.pointer_type(self.s_a), "o_ptr", 256),
        ])
        self.file = prog.struct_type("file", 16 + 32 + 8, [
            drgn.TypeMember(self.u_file, "f_u", 0),
            drgn.TypeMember(prog.array_type(self.s_b, 2), "f_arr", 128),
            drgn.TypeMember(prog.pointer_type(self.s_b), "f_ptr", 384),
        ])


@pytest.fixture
def kt() -> tuple[Kernel, Types]:
    prog = drgn.Program(drgn.host_platform)
    t = Types(prog)
    mem = bytearray(4096)
    # struct other at BASE
    struct.pack_into("<Q", mem, 0, 0x1111)  # o_u.o_word
    struct.pack_into("<QQ", mem, 8, 0xA0, 0xA1)  # o_arr[].a_val
    struct.pack_into("<Q", mem, 24, 0x2222)  # the flattened anonymous union
    struct.pack_into("<Q", mem, 32, BASE + 8)  # o_ptr -> o_arr[0]
    # struct file at BASE + 0x100
    struct.pack_into("<QQ", mem, 0x100, BASE + 0x300, 0xF00D)  # f_u
    struct.pack_into("<QQQQ", mem, 0x110, 0, 0xB0, 0, 0xB1)  # f_arr[].b_val
    struct.pack_into("<Q", mem, 0x130, BASE + 0x110)  # f_ptr -> f_arr[0]
    prog.add_memory_segment(BASE, len(mem), lambda addr, count, off, phys: bytes(
        mem[off:off + count]))
    k = Kernel(prog, DrgnReader(prog), None, None, ReadStats())
    return k, t


def test_named_member_of_anonymous_union_type(kt: tuple[Kernel, Types]) -> None:
    k, t = kt
    other = k.view(t.other, BASE)
    assert other.o_u.o_word == 0x1111  # compiles a reader for the first union <anonymous>
    assert other.o_word == 0x2222
    f = k.view(t.file, BASE + 0x100)
    assert f.f_u.fu_llist.next.value() == BASE + 0x300
    assert f.f_u.fu_rcuhead.func == 0xF00D
    # and the first one still reads its own members
    assert other.o_u.o_half == 0x1111


def test_arrays_and_pointers_of_anonymous_structs(kt: tuple[Kernel, Types]) -> None:
    k, t = kt
    other = k.view(t.other, BASE)
    f = k.view(t.file, BASE + 0x100)
    assert [e.a_val for e in other.o_arr] == [0xA0, 0xA1]
    assert [e.b_val for e in f.f_arr] == [0xB0, 0xB1]  # struct <anonymous> [2], another one
    assert other.o_ptr.a_val == 0xA0
    assert f.f_ptr.b_val == 0xB0  # struct <anonymous> *, another one


def test_caches_keyed_by_type_identity(kt: tuple[Kernel, Types]) -> None:
    k, t = kt
    prog = k.prog
    assert t.u_other.type_name() == t.u_file.type_name() == "union <anonymous>"
    assert type_key(prog, t.u_other) != type_key(prog, t.u_file)
    # the same type looked up again (a new drgn.Type object) has the same key
    again = t.file.members[0].type
    assert type_key(prog, again) == type_key(prog, t.u_file)
    assert layout_for(prog, again) is layout_for(prog, t.u_file)
    assert set(layout_for(prog, t.u_other).members) == {"o_word", "o_half"}
    assert set(layout_for(prog, t.u_file).members) == {"fu_llist", "fu_rcuhead"}
    assert type_key(prog, t.other) == "struct other"  # named types keep their name


def test_bulk_readers_of_anonymous_structs(kt: tuple[Kernel, Types]) -> None:
    k, t = kt
    assert fields(k, t.s_a, ["a_val"])(BASE + 8) == (0xA0,)
    assert fields(k, t.s_b, ["b_val"])(BASE + 0x110) == (0xB0,)
    assert numpy_dtype(k.prog, t.s_a).names == ("a_val",)
    assert numpy_dtype(k.prog, t.s_b).names == ("b_pad", "b_val")
    assert read_struct_array(k, t.s_b, BASE + 0x110, 2)["b_val"].tolist() == [0xB0, 0xB1]
