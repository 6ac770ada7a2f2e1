"""The C-expression evaluator of ``p`` (kmemx/commands/cexpr.py) without a
dump: C's integer-constant types, precedence, casts, ``sizeof``, character
literals, gdb's history, and one error for what it cannot evaluate; checked
against C's rules on drgn's x86-64 types (the dump's cases are in
tests/vmcore/test_crash_p_expr.py, against crash)."""

from __future__ import annotations

import drgn
import pytest

from kmemx.commands import CommandError
from kmemx.commands.cexpr import evaluate_c


@pytest.fixture(scope="module")
def prog() -> drgn.Program:
    p = drgn.Program(drgn.Platform(drgn.Architecture.X86_64,
                                   drgn.PlatformFlags.IS_64_BIT | drgn.PlatformFlags.IS_LITTLE_ENDIAN))

    def find(prog: drgn.Program, name: str | None, flags: drgn.FindObjectFlags,
             filename: str | None) -> drgn.Object | None:
        if name == "x":
            return drgn.Object(prog, "int", 5)
        if name == "big":
            return drgn.Object(prog, "unsigned long", 1 << 40)
        return None

    p.register_object_finder("test", find, enable_index=0)
    return p


def _v(prog: drgn.Program, text: str) -> tuple[str, int]:
    obj = evaluate_c(prog, text).obj
    return obj.type_.type_name(), int(obj.value_())


@pytest.mark.parametrize("text,expected", [
    ("1", ("int", 1)), ("2147483648", ("long", 2147483648)),
    ("0x80000000", ("unsigned int", 0x80000000)), ("10u", ("unsigned int", 10)),
    ("10l", ("long", 10)), ("0x8000000000000000", ("unsigned long", 1 << 63)),
    ("010", ("int", 8)), ("1 + 2 * 3", ("int", 7)), ("(1 + 2) * 3", ("int", 9)),
    ("7 / 2", ("int", 3)), ("-7 / 2", ("int", -3)), ("7 % 3", ("int", 1)),
    ("1 << 3 + 1", ("int", 16)), ("~0", ("int", -1)), ("!0", ("int", 1)),
    ("3 > 2 && 2 > 1", ("int", 1)), ("0 || 0", ("int", 0)), ("1 == 1", ("int", 1)),
    ("6 & 3 | 8 ^ 1", ("int", 11)), ("(char)321", ("char", 65)),
    ("(unsigned char)-1", ("unsigned char", 255)), ("(long)-1", ("long", -1)),
    ("sizeof(int)", ("unsigned long", 4)), ("sizeof(long)", ("unsigned long", 8)),
    ("sizeof(char *)", ("unsigned long", 8)), ("sizeof x", ("unsigned long", 4)),
    ("sizeof(x)", ("unsigned long", 4)), ("x + 1", ("int", 6)), ("x * -x", ("int", -25)),
    ("big + x", ("unsigned long", (1 << 40) + 5)), ("'A'", ("char", 65)),
    ("'\\n'", ("char", 10)), ("'\\101'", ("char", 65)),
    ("(void *)16 + 1", ("void *", 17)), ("(int *)16 + 1", ("int *", 20)),
    ("(int *)24 - (int *)16", ("ptrdiff_t", 2)),
])
def test_values_and_types(prog: drgn.Program, text: str, expected: tuple[str, int]) -> None:
    name, value = _v(prog, text)
    # drgn names ptrdiff_t's underlying type on a program without DWARF
    assert (name, value) == expected or (expected[0] == "ptrdiff_t" and value == expected[1])


def test_history(prog: drgn.Program) -> None:
    h = [drgn.Object(prog, "int", 3), drgn.Object(prog, "long", 9)]
    assert int(evaluate_c(prog, "$1 + $", h).obj) == 12
    assert evaluate_c(prog, "$2", h).code == "history[1]"
    with pytest.raises(CommandError):
        evaluate_c(prog, "$3", h)


def test_code_is_the_computation(prog: drgn.Program) -> None:
    v = evaluate_c(prog, "(long)x + 0x10")
    assert v.code == "(cast('long', prog['x']) + Object(prog, 'int', 0x10))"


def test_user_pointers_are_not_followed(prog: drgn.Program) -> None:
    with pytest.raises(drgn.FaultError):
        evaluate_c(prog, "*(int *)16", lowest=1 << 63)
    # taking the address reads nothing
    assert int(evaluate_c(prog, "&*(int *)16", lowest=1 << 63).obj) == 16


@pytest.mark.parametrize("text", [
    "", "1 +", "(1", "x.y", "x->y", "*x", "&1", "1 / 0", "nosuch", "(struct nosuch *)0",
    "x[1]", "1 2", "@", "sizeof(struct nosuch)"])
def test_errors_are_command_errors(prog: drgn.Program, text: str) -> None:
    with pytest.raises(CommandError) as e:
        evaluate_c(prog, text)
    assert "\n" not in str(e.value)
