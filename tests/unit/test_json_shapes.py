"""``--json`` that is data (issue 15), without a dump: :class:`TextRecord`
items (crash's text, JSON data, the object piped on), object values as JSON
(:func:`kmemx.commands.values.object_json` and its drgn-code mirror), and
crash's gdb-style member values (``struct T.m ADDR``) on drgn objects built
from bytes."""

from __future__ import annotations

import json
from typing import Any

import drgn
import pytest
from kmemx_plugins.core import _value
from kmemx_plugins.lists import CRASH_MEMBER_CODE, crash_member_line, crash_value_text

from kmemx.commands import Address, Row, TextLine, TextRecord, objects, render
from kmemx.commands.cells import cell_json
from kmemx.commands.values import OBJECT_JSON_CODE, object_json


@pytest.fixture(scope="module")
def prog() -> drgn.Program:
    return drgn.Program(drgn.Platform(drgn.Architecture.X86_64,
                                      drgn.PlatformFlags.IS_64_BIT
                                      | drgn.PlatformFlags.IS_LITTLE_ENDIAN))


@pytest.fixture(scope="module")
def sample(prog: drgn.Program) -> drgn.Object:
    """A value of ``struct sample`` (C layout below) from known bytes."""
    i32 = prog.int_type("int", 4, True)
    u64 = prog.int_type("unsigned long", 8, False)
    char = prog.int_type("char", 1, True)
    u8 = prog.typedef_type("u8", prog.int_type("unsigned char", 1, False))
    boolean = prog.bool_type("_Bool", 1)
    color = prog.enum_type("color", prog.int_type("unsigned int", 4, False),
                           [drgn.TypeEnumerator("RED", 0), drgn.TypeEnumerator("BLUE", 7)])
    pair = prog.struct_type("pair", 8, [drgn.TypeMember(i32, "a", 0),
                                        drgn.TypeMember(i32, "b", 32)])
    anon = prog.union_type(None, 4, [drgn.TypeMember(i32, "whole", 0),
                                     drgn.TypeMember(prog.array_type(u8, 4), "bytes", 0)])
    members = [
        drgn.TypeMember(i32, "pid", 0),                                   # 0: -5
        drgn.TypeMember(prog.array_type(char, 8), "comm", 32),           # 4: "ab\0..."
        drgn.TypeMember(prog.array_type(u8, 2), "raw", 96),              # 12: 1, 2
        drgn.TypeMember(boolean, "on", 112),                              # 14: 1
        drgn.TypeMember(char, "letter", 120),                             # 15: 'A'
        drgn.TypeMember(color, "color", 128),                             # 16: 7
        drgn.TypeMember(anon, None, 160),                                 # 20: 0x04030201
        drgn.TypeMember(prog.pointer_type(pair), "next", 192),            # 24: 0
        drgn.TypeMember(prog.array_type(pair, 2), "pairs", 256),          # 32: (1,2),(3,4)
        drgn.TypeMember(u64, "last", 384),                                # 48: 99
    ]
    t = prog.struct_type("sample", 56, members)
    data = bytearray(56)
    data[0:4] = (-5).to_bytes(4, "little", signed=True)
    data[4:6] = b"ab"
    data[12:16] = bytes([1, 2, 1, ord("A")])
    data[16:20] = (7).to_bytes(4, "little")
    data[20:24] = bytes([1, 2, 3, 4])
    for i, v in enumerate((1, 2, 3, 4)):
        data[32 + 4 * i:36 + 4 * i] = v.to_bytes(4, "little")
    data[48:56] = (99).to_bytes(8, "little")
    return drgn.Object.from_bytes_(prog, t, bytes(data))


def test_object_json(sample: drgn.Object) -> None:
    assert object_json(sample) == {
        "pid": -5, "comm": "ab", "raw": [1, 2], "on": True, "letter": "A", "color": 7,
        "whole": 0x04030201, "bytes": [1, 2, 3, 4], "next": 0,
        "pairs": [{"a": 1, "b": 2}, {"a": 3, "b": 4}], "last": 99}
    json.dumps(object_json(sample))  # all of it is JSON


def test_object_json_code_mirrors_object_json(sample: drgn.Object) -> None:
    """The drgn code --drgn scripts use gives the same value."""
    ns: dict[str, Any] = {"TypeKind": drgn.TypeKind, "FaultError": drgn.FaultError}
    exec(compile(OBJECT_JSON_CODE, "OBJECT_JSON_CODE", "exec"), ns)
    assert ns["to_json"](sample) == object_json(sample)


def test_crash_value_text(sample: drgn.Object) -> None:
    """gdb's pretty print as crash sets it up: one member a line, two more
    spaces a level, anonymous members without a name, arrays of structures
    ``{{`` ... ``}, {`` ... ``}}``, the last member without a comma."""
    assert crash_value_text(sample, 0) == "\n".join([
        "{",
        "  pid = -5,",
        '  comm = "ab\\000\\000\\000\\000\\000",',
        "  raw = \"\\001\\002\",",
        "  on = true,",
        "  letter = 65 'A',",
        "  color = BLUE,",
        "  {",
        "    whole = 67305985,",
        '    bytes = "\\001\\002\\003\\004"',
        "  },",
        "  next = 0x0,",
        "  pairs = {{",
        "      a = 1,",
        "      b = 2",
        "    }, {",
        "      a = 3,",
        "      b = 4",
        "    }},",
        "  last = 99",
        "}"])
    assert crash_member_line(sample, "pid") == "  pid = -5,"
    assert crash_member_line(sample, "pid", 16) == "  pid = 0xfffffffb,"
    assert crash_member_line(sample, "last") == "  last = 99"  # the last member: no comma
    assert crash_member_line(sample, "pairs[1].b") == "  pairs[1].b = 4,"
    with pytest.raises(LookupError):
        crash_member_line(sample, "nosuch")


def test_crash_member_code_mirrors_crash_member_line(prog: drgn.Program,
                                                    sample: drgn.Object) -> None:
    """The drgn code of task -R --drgn prints the lines task -R prints."""
    ns: dict[str, Any] = {"prog": prog, "TypeKind": drgn.TypeKind, "Object": drgn.Object,
                          "FaultError": drgn.FaultError, "SymbolKind": drgn.SymbolKind,
                          "sizeof": drgn.sizeof}
    exec(compile(CRASH_MEMBER_CODE, "CRASH_MEMBER_CODE", "exec"), ns)
    for path in ("pid", "comm", "raw", "on", "letter", "color", "whole", "next", "pairs",
                 "last"):
        for radix in (10, 16):
            assert ns["member_line"](sample, path, radix) == crash_member_line(sample, path,
                                                                                radix)


def test_crash_strings_stop_at_256_characters_by_runs(prog: drgn.Program) -> None:
    """crash's gdb prints at most 256 characters of a char array, taking runs
    of one character whole (print_max 256, no repeat threshold), the last
    NUL of the array dropped."""
    char = prog.int_type("char", 1, True)
    data = b"x" * 250 + b"\0" * 20 + b"y" * 10
    arr = drgn.Object.from_bytes_(prog, prog.array_type(char, len(data)), data)
    assert crash_value_text(arr, 1) == '"' + "x" * 250 + "\\000" * 20 + '"...'
    short = drgn.Object.from_bytes_(prog, prog.array_type(char, 4), b"\0\0\0\0")
    assert crash_value_text(short, 1) == '"\\000\\000\\000"'
    escapes = drgn.Object.from_bytes_(prog, prog.array_type(char, 4), b'"\\\n\x7f')
    assert crash_value_text(escapes, 1) == '"\\"\\\\\\n\\177"'


def test_crash_char_pointer_unreadable(prog: drgn.Program) -> None:
    char = prog.int_type("char", 1, True)
    p = drgn.Object(prog, prog.pointer_type(char), value=0x1000)
    assert crash_value_text(p, 1) == \
        "0x1000 <error: Cannot access memory at address 0x1000>"
    assert crash_value_text(drgn.Object(prog, prog.pointer_type(char), value=0), 1) == "0x0"


def test_text_record_renders_text_and_json() -> None:
    task = object()
    frames = [{"task": Address(0xff00), "frame": 0, "pc": Address(0x10), "registers": {
        "RIP": 1}}, {"task": Address(0xff00), "frame": 1, "pc": Address(0x20)}]
    rec = TextRecord("PID: 1\n #0 a\n #1 b\n\n", frames, task)
    one = TextRecord("struct list_head {\n}", {"name": "struct list_head", "size": 16})
    items: list[Any] = [rec, one, TextLine("plain")]
    assert list(render(items)) == ["PID: 1", " #0 a", " #1 b", "", "struct list_head {", "}",
                                   "plain"]
    out = json.loads("".join(render(items, as_json=True)))
    assert out == [{"task": "0xff00", "frame": 0, "pc": "0x10", "registers": {"RIP": 1}},
                   {"task": "0xff00", "frame": 1, "pc": "0x20"},
                   {"name": "struct list_head", "size": 16}, "plain"]
    assert list(objects([rec, one])) == [task, one]


def test_filter_sees_record_data_then_object() -> None:
    class Task:
        comm = "kmx-crasher"
        prio = 120

    rec = TextRecord("x\n", [{"pid": 97, "cpu": 0}], Task())
    assert _value(rec, "pid") == 97 and _value(rec, "PID") == 97
    assert _value(rec, "prio") == 120
    with pytest.raises(AttributeError):
        _value(TextRecord("x\n", {"pid": 1}), "nosuch")


def test_cell_json_nested() -> None:
    assert cell_json({"a": Address(16), "b": [Address(1), 2], "c": {"d": None}}) == {
        "a": "0x10", "b": ["0x1", 2], "c": {"d": None}}
    row = Row(("NAME", "VALUE"), ("x", {"next": 1, "prev": 2}))
    assert row.as_dict() == {"name": "x", "value": {"next": 1, "prev": 2}}
