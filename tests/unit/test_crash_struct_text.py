"""crash's (gdb's) text of whole values without a dump (issue 15): bytes
0x80-0xff of a char array are octal escapes whatever the locale (the cold
run's ``comm`` whose bytes were valid UTF-8), empty structures, flexible
arrays at their address, flag enums, booleans under ``-x``, ``p``'s
``$N =`` lines with crash's leader and its line break before ``{``,
``struct -r``'s ``rd`` lines, and the drgn code of ``--drgn`` scripts
printing the same text.  The objects are drgn objects on synthetic types
over a few bytes of fake memory."""

from __future__ import annotations

import locale
from typing import Any

import drgn
import pytest
from kmemx_plugins.lists import (
    CRASH_MEMBER_CODE,
    _rd_line,
    crash_member_line,
    crash_print_text,
    crash_struct_text,
    crash_value_text,
)
from kmemx_plugins.misc import p_lines

from kmemx.commands import Address, Row

BASE = 0xFFFF888000100000
#: "kmx-\u00e9\u00e8" in UTF-8, an invalid byte 0xff, then NULs: a comm of 16 bytes
COMM = "kmx-éè".encode() + b"\xff" + b"\0" * 7
#: struct ktask: comm, name "hello", on 0, flags 7 (KF_A | KF_B | 4), state 2
MEMORY = COMM + b"hello".ljust(16, b"\0") + bytes(4) + (7).to_bytes(4, "little") \
    + (2).to_bytes(4, "little") + bytes(20)


@pytest.fixture(scope="module")
def prog() -> drgn.Program:
    p = drgn.Program(drgn.Platform(drgn.Architecture.X86_64,
                                   drgn.PlatformFlags.IS_64_BIT
                                   | drgn.PlatformFlags.IS_LITTLE_ENDIAN))

    def read(address: int, count: int, offset: int, physical: bool) -> bytes:
        return MEMORY[offset:offset + count]

    p.add_memory_segment(BASE, len(MEMORY), read)
    return p


@pytest.fixture(scope="module")
def types(prog: drgn.Program) -> dict[str, drgn.Type]:
    char = prog.int_type("char", 1, True)
    u8 = prog.typedef_type("u8", prog.int_type("unsigned char", 1, False))
    u32 = prog.int_type("unsigned int", 4, False)
    boolean = prog.bool_type("_Bool", 1)
    flags = prog.enum_type("kflags", u32, [drgn.TypeEnumerator("KF_NONE", 0),
                                           drgn.TypeEnumerator("KF_A", 1),
                                           drgn.TypeEnumerator("KF_B", 2)])
    plain = prog.enum_type("kstate", u32, [drgn.TypeEnumerator("KS_ONE", 1),
                                           drgn.TypeEnumerator("KS_THREE", 3)])
    empty = prog.struct_type("kmap_ctrl", 0, [])
    task = prog.struct_type("ktask", 48, [
        drgn.TypeMember(prog.array_type(char, 16), "comm", 0),
        drgn.TypeMember(prog.array_type(char, 16), "name", 128),
        drgn.TypeMember(empty, "kmap_ctrl", 256),
        drgn.TypeMember(boolean, "on", 256),
        drgn.TypeMember(flags, "flags", 288),
        drgn.TypeMember(plain, "state", 320),
        drgn.TypeMember(prog.array_type(u8, None), "tail", 384),
    ])
    return {"char": char, "u8": u8, "task": task, "flags": flags, "plain": plain,
            "empty": empty}


def test_high_bytes_are_octal_escapes_whatever_the_locale(prog: drgn.Program,
                                                          types: dict[str, Any]) -> None:
    """The cold run's failure: a comm whose bytes are valid UTF-8.  crash's
    gdb printed them as characters under a UTF-8 locale; kmemx prints
    escapes, and the oracle runs crash under LC_ALL=C, where gdb does too."""
    comm = drgn.Object(prog, prog.array_type(types["char"], 16), address=BASE)
    want = '"kmx-\\303\\251\\303\\250\\377\\000\\000\\000\\000\\000\\000"'
    for name in ("C", "C.UTF-8"):
        try:
            old = locale.setlocale(locale.LC_CTYPE, name)
        except locale.Error:
            continue
        try:
            assert crash_value_text(comm, 1) == want
        finally:
            locale.setlocale(locale.LC_CTYPE, old)
    task = drgn.Object(prog, types["task"], address=BASE)
    assert crash_member_line(task, "comm") == f"  comm = {want},"
    u8s = drgn.Object(prog, prog.array_type(types["u8"], 16), address=BASE)
    assert crash_value_text(u8s, 1) == want


def test_whole_struct_text(prog: drgn.Program, types: dict[str, Any]) -> None:
    """``struct ktask ADDR``: the keyword and name, gdb's pretty print, an
    empty structure ``{<No data fields>}``, a flag enum's bits, an enum
    value no enumerator names as a number, a flexible array's address."""
    task = drgn.Object(prog, types["task"], address=BASE)
    assert crash_struct_text(task, "struct", "ktask").split("\n") == [
        "struct ktask {",
        '  comm = "kmx-\\303\\251\\303\\250\\377\\000\\000\\000\\000\\000\\000",',
        '  name = "hello\\000\\000\\000\\000\\000\\000\\000\\000\\000\\000",',
        "  kmap_ctrl = {<No data fields>},",
        "  on = false,",
        "  flags = (KF_A | KF_B | unknown: 0x4),",
        "  state = 2,",
        f'  tail = {BASE + 48:#x} ""',
        "}"]
    hexed = crash_struct_text(task, "struct", "ktask", 16).split("\n")
    assert hexed[4] == "  on = 0x0,"  # gdb's output-radix 16 formats a bool too
    assert hexed[5] == "  flags = (KF_A | KF_B | unknown: 0x4),"  # an enum keeps its names
    flags = drgn.Object(prog, types["flags"], value=0)
    assert crash_value_text(flags, 0) == "KF_NONE"
    no_zero = prog.enum_type("nz", prog.int_type("unsigned int", 4, False),
                             [drgn.TypeEnumerator("NZ_A", 1)])
    assert crash_value_text(drgn.Object(prog, no_zero, value=0), 0) == "0"


def test_print_text_types_pointers_but_char(prog: drgn.Program, types: dict[str, Any]) -> None:
    """gdb's ``print`` puts a pointer's type in front, but not a ``char *``'s."""
    task_ptr = drgn.Object(prog, prog.pointer_type(types["task"]), value=0)
    assert crash_print_text(task_ptr) == "(struct ktask *) 0x0"
    s = drgn.Object(prog, prog.pointer_type(types["char"]), value=BASE + 16)
    assert crash_print_text(s) == '0xffff888000100010 "hello"'
    u8p = drgn.Object(prog, prog.pointer_type(types["u8"]), value=BASE + 16)
    assert crash_print_text(u8p) == '(u8 *) 0xffff888000100010 "hello"'


def test_p_lines_leader_and_brace() -> None:
    """crash's process_gdb_output(): the symbol as leader, a line break
    before a ``{`` that does not end the first line, none for an expression."""
    assert p_lines("jiffies", 1, "4294894721") == ["jiffies = $1 = 4294894721"]
    assert p_lines(None, 3, "{\n  next = 0x0\n}") == ["$3 = {", "  next = 0x0", "}"]
    assert p_lines("init_task", 2, "{\n  x = 1\n}") == ["init_task = $2 = {", "  x = 1", "}"]
    assert p_lines("__per_cpu_offset", 4, "{1, 2}") == ["__per_cpu_offset = $4 = ",
                                                         " {1, 2}"]


def test_rd_lines_of_struct_r() -> None:
    """``struct -r``: crash's display_memory() lines, a short last line's
    ASCII column where a full line's is."""
    full = Row(("ADDRESS", "VALUES", "ASCII"), (Address(BASE), "0000000000000002 "
                                                "0000000000000000", "................"))
    assert _rd_line(full, 8) == \
        "ffff888000100000:  0000000000000002 0000000000000000   ................"
    short = Row(("ADDRESS", "VALUES", "ASCII"), (Address(BASE + 16), "0000007800000078",
                                                 "x...x..."))
    assert _rd_line(short, 8) == \
        "ffff888000100010:  0000007800000078                    x...x..."
    word = Row(("ADDRESS", "VALUES", "ASCII"), (Address(BASE), "00000078", "x..."))
    assert _rd_line(word, 4) == "ffff888000100000:  00000078                              x..."
    low = Row(("ADDRESS", "VALUES", "ASCII"), (Address(0xff0), "7f", "."))
    assert _rd_line(low, 1) == "             ff0:  7f " + " " * 45 + "  ."  # crash's RJUST


def test_crash_member_code_prints_the_same(prog: drgn.Program, types: dict[str, Any]) -> None:
    """The drgn code of the --drgn scripts gives the same text."""
    ns: dict[str, Any] = {"prog": prog, "TypeKind": drgn.TypeKind, "Object": drgn.Object,
                          "FaultError": drgn.FaultError, "SymbolKind": drgn.SymbolKind,
                          "sizeof": drgn.sizeof}
    exec(compile(CRASH_MEMBER_CODE, "CRASH_MEMBER_CODE", "exec"), ns)
    task = drgn.Object(prog, types["task"], address=BASE)
    for radix in (10, 16):
        assert ns["struct_text"](task, "struct", "ktask", radix) == \
            crash_struct_text(task, "struct", "ktask", radix)
        assert ns["member_line"](task, "comm", radix) == crash_member_line(task, "comm", radix)
    for obj in (drgn.Object(prog, prog.pointer_type(types["task"]), value=0),
                drgn.Object(prog, prog.pointer_type(types["char"]), value=BASE + 16),
                drgn.Object(prog, prog.pointer_type(types["u8"]), value=BASE + 16)):
        assert ns["print_text"](obj) == crash_print_text(obj)
