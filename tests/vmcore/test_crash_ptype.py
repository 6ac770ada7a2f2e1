"""Type definitions as crash prints them (issue 15): ``whatis TYPE``,
``struct TYPE`` and ``union TYPE`` without an address, their ``-o`` (each
member's offset, crash's show_member_offset() over gdb's ptype lines) and
``-x``, ``whatis -o``; typedefs (``typedef struct {...} atomic_t;``, a
typedef of a named structure expanded, of a base type resolved) and enums
(``  NAME = VALUE`` lines, no SIZE).  Line for line crash 8.0.6's on the
test bed's ELF dump, trailing blanks aside, for the kernel's big structures
(anonymous unions and structs, bit fields, function pointers, inline
anonymous enums).

Written exception: gdb prints a typedef'd function's return type expanded
(``typedef enum irqreturn {IRQ_NONE, ...} (*)(int, void *) irq_handler_t;``)
and ``va_list``'s array of ``struct __va_list_tag`` in full; kmemx names
them (``irqreturn_t (*)(int, void *)``), as C does."""

from __future__ import annotations

from functools import cached_property

import pytest

from tests.vmcore.crash_session import CrashSession, crash_session_fixture

pytestmark = pytest.mark.vmcore

#: structures every kernel of the test bed has
STRUCTS = ("list_head", "page", "task_struct", "mm_struct", "inode", "sk_buff", "file",
           "dentry", "super_block", "module", "rq", "kmem_cache", "zone", "vm_area_struct",
           "net_device", "sock")
LINES = (*(f"struct -o {t}" for t in STRUCTS), *(f"whatis {t}" for t in STRUCTS[:6]),
         "whatis -o sk_buff", "struct -o -x task_struct", "struct -x list_head",
         "struct page", "whatis pid_type", "whatis enum pid_type", "whatis atomic_t",
         "whatis -o atomic_t", "struct -o atomic_t", "struct atomic_t", "whatis u64",
         "whatis spinlock_t", "struct -o spinlock_t", "whatis -o spinlock_t", "whatis pgd_t",
         # typedefs of functions, pointers and arrays on gdb's one line (element and
         # target typedefs resolved), an enum typedef, an empty structure's
         # "<no data fields>", a named member's anonymous struct two named levels
         # in as "struct {...} bits;"
         "whatis work_func_t", "whatis proc_handler", "whatis __sighandler_t",
         "whatis elf_gregset_t", "whatis irqreturn_t", "struct lock_class_key",
         "struct ipv6_pinfo", "struct -o ipv6_pinfo", "struct bpf_prog")


class Session(CrashSession):

    @cached_property
    def commands(self) -> dict[str, str]:
        return {line: line for line in LINES}


s = crash_session_fixture(Session)


@pytest.mark.parametrize("line", LINES)
def test_type_text_is_crash(s: Session, line: str) -> None:
    theirs = [x.rstrip() for x in s.crash[line].splitlines()]
    while theirs and not theirs[-1]:
        theirs.pop()
    assert theirs and not theirs[0].startswith(("struct:", "whatis:", "symbol not found"))
    assert s.text(line).splitlines() == theirs


@pytest.mark.parametrize("line", ["struct list_head", "struct -o task_struct",
                                  "union -o sigval", "whatis -o atomic_t"])
def test_type_json_is_the_type(s: Session, line: str) -> None:
    """``--json`` of a type definition is the type's data (whatis's), not
    the text lines: each member's name, offset and type as drgn has them."""
    import drgn

    [data] = s.json(line)
    data = data.get("target", data)  # a typedef's: its structure's
    name = line.split()[-1]
    t = s.k.prog.type(("union " if line.startswith("union") else "struct ") + name
                      if name != "atomic_t" else name)
    t = t.type if t.kind == drgn.TypeKind.TYPEDEF else t
    assert data["size"] == t.size and len(data["members"]) == len(t.members)
    for m, theirs in zip(t.members, data["members"]):
        assert (theirs["name"], theirs["bit_offset"]) == (m.name, m.bit_offset)
        assert theirs["type"] == m.type.type_name()


def test_an_unknown_union_is_named_a_union(s: Session) -> None:
    from kmemx.commands import CommandError, execute

    with pytest.raises(CommandError, match=r"^unknown type 'union no_such_union_x'"):
        list(execute(s.k, "union no_such_union_x"))
