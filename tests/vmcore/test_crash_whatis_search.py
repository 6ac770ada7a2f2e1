"""``whatis -r SIZE`` and ``whatis -m TYPE`` (issue 15): the kernel's types
by size and by the types of their members, row for row crash 8.0.6's
(SIZE, TYPE) on the test bed's ELF dump.

kmemx lists the kernel's types from its BTF, crash from gdb's symbol
tables of the same DWARF.  Every row crash prints, kmemx prints; kmemx's
other rows are only these written exceptions:

- **typedefs**: gdb gives a typedef a size only once something has resolved
  it (check_typedef()), and its search skips the unsized ones, so crash
  lists about one typedef in fifteen (125 of 1,833 on 6.1); kmemx lists
  every typedef with its target's size.
- **a name several definitions share** (``struct slot`` of three drivers,
  ``struct context`` and ``enum context``): crash keeps the first it meets
  in gdb's compilation-unit order, kmemx a row for each size.
- **many-dimensional arrays** (``-m``): BTF stores ``struct list_head
  folios[4][2][5]`` as one dimension, so kmemx finds the list_head where
  gdb sees an array of arrays and looks no further.
- **size 0** (a range from 0): gdb also lists, at size 0, the typedefs it
  never sized and the types only declared (``enum nf_nat_manip_type;``);
  kmemx gives a typedef its target's size and lists no incomplete type, so
  the cases here start at 1.
- **Rust types** (a kernel with CONFIG_RUST, Debian's 7.2.13): crash 9.x's
  gdb 16 reads the Rust compilation units' DWARF and lists their types by
  path (``bindings::bindings_raw::task_struct``, ``core::sync::atomic::
  Atomic<i8>``), primitive (``i8``, ``usize``), tuple, slice, reference and
  raw pointer (``(u8, bool)``, ``&[u8]``, ``*const str``), and the base types
  of the C helpers clang compiles for Rust (rust/helpers) as clang spells
  them (``short``, ``unsigned long``, ``__ARRAY_SIZE_TYPE__``; gcc's are
  ``short int``, ``long unsigned int``).  The kernel's BTF, kmemx's list, is
  made from the gcc-compiled C units (pahole leaves Rust out), so those rows
  are crash's alone (:func:`_rust_or_clang`); where crash lists clang's
  spelling of a base type and not gcc's (``short``, not ``short int``),
  kmemx's row has gcc's (:data:`_GCC_BASE_TYPES`).
"""

from __future__ import annotations

import re
from functools import cached_property

import drgn
import pytest

from tests.vmcore.crash_session import CrashSession, crash_session_fixture

pytestmark = pytest.mark.vmcore

LINES = ("whatis -r 192", "whatis -r 256-512 -m task_struct", "whatis -m mm_struct",
         "whatis -m list_head", "whatis -r 1-100000000", "whatis -m atomic",
         "whatis -r 4096-8192 -m page", "whatis -m no_such_type_anywhere")


class Session(CrashSession):

    @cached_property
    def commands(self) -> dict[str, str]:
        return {line: line for line in LINES}


s = crash_session_fixture(Session)


def _rows(text: str) -> list[tuple[int, str]]:
    """(SIZE, TYPE) of ``whatis -r/-m`` output; [] for ``(none found)``."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if lines == ["(none found)"]:
        return []
    assert lines and lines[0].split() == ["SIZE", "TYPE"], lines[:3]
    rows = []
    for line in lines[1:]:
        size, name = line.split(None, 1)
        rows.append((int(size), name))
    return rows


def _shared_names(prog: drgn.Program) -> set[str]:
    """Names the kernel's BTF has more than one named type for."""
    from kmemx.types.btf import kernel_btf, named_types

    btf = kernel_btf(prog)
    seen: set[str] = set()
    shared: set[str] = set()
    for _keyword, type_id in named_types(btf):
        name = btf.types[type_id].name
        (shared if name in seen else seen).add(name)
    return shared


def _many_dimensional(prog: drgn.Program, name: str, member: str) -> bool:
    """Whether ``struct name`` has a member that is an array of arrays whose
    element type's name holds ``member`` (BTF's one flattened dimension)."""
    def arrays(t: drgn.Type) -> bool:
        for m in t.members or ():
            mt = m.type.unqualified()
            if mt.kind == drgn.TypeKind.STRUCT and arrays(mt):
                return True
            if mt.kind == drgn.TypeKind.ARRAY and mt.type.unqualified().kind == drgn.TypeKind.ARRAY:
                elem = mt
                while elem.kind == drgn.TypeKind.ARRAY:
                    elem = elem.type.unqualified()
                if elem.kind == drgn.TypeKind.POINTER:
                    elem = elem.type.unqualified()
                named = elem.tag if elem.kind in (drgn.TypeKind.STRUCT, drgn.TypeKind.UNION,
                                                  drgn.TypeKind.ENUM) else elem.name
                if named and member in named:
                    return True
        return False

    for keyword in ("struct", "union"):
        try:
            return arrays(prog.type(f"{keyword} {name}"))
        except LookupError:
            continue
    return False


#: C base types as clang names them in DWARF (gcc: "short int", "long int"...)
_CLANG_BASE_TYPES = frozenset({"short", "unsigned short", "long", "long long", "unsigned long",
                               "unsigned long long", "__ARRAY_SIZE_TYPE__"})


#: gcc's spelling of a C base type -> clang's
_GCC_BASE_TYPES = {"short int": "short", "short unsigned int": "unsigned short",
                   "long int": "long", "long long int": "long long",
                   "long unsigned int": "unsigned long",
                   "long long unsigned int": "unsigned long long"}


def _rust_or_clang(name: str) -> bool:
    """A type name of a Rust compilation unit (a path, a primitive, a tuple,
    slice, reference or raw pointer) or of the clang-compiled Rust helpers'
    C (:data:`_CLANG_BASE_TYPES`): the written exception above."""
    return ("::" in name or name in _CLANG_BASE_TYPES
            or re.fullmatch(r"[iu](8|16|32|64|128|size)", name) is not None
            or name.startswith(("(", "&", "[", "*const ", "*mut ")))


def test_rust_or_clang_names_only_those() -> None:
    for name in ("bindings::bindings_raw::dentry", "i8", "usize", "(u8, bool)", "&[u8]",
                 "&mut str", "*const str", "short", "unsigned long", "__ARRAY_SIZE_TYPE__"):
        assert _rust_or_clang(name), name
    for name in ("short int", "long unsigned int", "struct list_head", "atomic_t",
                 "union sigval", "enum context", "int8_t"):
        assert not _rust_or_clang(name), name


@pytest.mark.parametrize("line", LINES)
def test_whatis_search_is_crash(s: Session, line: str) -> None:
    theirs = _rows(s.crash[line])
    text = s.text(line)
    ours = _rows(text)
    # crash's header: SIZE right-justified to the widest size
    if ours:
        width = max(4, len(str(ours[-1][0])))
        assert text.splitlines()[0] == f"{'SIZE':>{width}}  TYPE"
    assert ours == sorted(ours), "by size, then name"
    # Rust's and clang's types: not in the kernel's BTF (a written exception)
    missing = sorted(r for r in set(theirs) - set(ours) if not _rust_or_clang(r[1]))
    assert not missing, f"crash lists {len(missing)} types kmemx does not: {missing[:10]}"
    shared = _shared_names(s.k.prog)
    member = line.split("-m ")[1] if "-m " in line else None
    for size, name in sorted(set(ours) - set(theirs)):
        if name in shared:
            continue  # one row per definition (a written exception)
        if (size, _GCC_BASE_TYPES.get(name)) in set(theirs):
            continue  # crash lists clang's spelling (a written exception)
        try:
            t = s.k.prog.type(name)
        except (LookupError, SyntaxError):
            t = None
        if t is not None and t.kind == drgn.TypeKind.TYPEDEF:
            bare = t
            while bare.kind == drgn.TypeKind.TYPEDEF:
                bare = bare.type
            # gdb's size of a function type is 1
            assert size == (1 if bare.kind == drgn.TypeKind.FUNCTION else drgn.sizeof(t))
            continue  # every typedef, sized (a written exception)
        assert member and _many_dimensional(s.k.prog, name, member), \
            f"{name} ({size}) is not crash's and no written exception covers it"
    if line == "whatis -m no_such_type_anywhere":
        assert text.strip() == "(none found)" and theirs == []


def test_whatis_search_json(s: Session) -> None:
    """``--json``: the rows' size and type name, the size drgn's type of
    that name has where the name is one type's."""
    rows = s.json("whatis -r 192")
    assert rows and all(r["size"] == 192 for r in rows)
    shared = _shared_names(s.k.prog)
    for r in rows:
        if r["type"] not in shared:
            for keyword in ("struct ", "union ", "enum ", ""):
                try:
                    assert drgn.sizeof(s.k.prog.type(keyword + r["type"])) == 192
                    break
                except LookupError:
                    continue
            else:
                pytest.fail(f"{r['type']} is not a type drgn finds")


def test_whatis_search_forms(s: Session) -> None:
    """crash's stol() numbers (``c0`` is hex 192, ``010`` decimal 10), no
    rows in --json where the text is ``(none found)``, and LOW above HIGH
    or a word that is not a number as one error line."""
    from kmemx.commands import CommandError

    assert s.text("whatis -r c0") == s.text("whatis -r 192")
    assert s.text("whatis -r 010") == s.text("whatis -r 10")
    assert s.json("whatis -m no_such_type_anywhere") == []
    for line, message in (("whatis -r 5-2", "LOW is above HIGH"),
                          ("whatis -r x", "not a valid number")):
        with pytest.raises(CommandError, match=message):
            s.text(line)
