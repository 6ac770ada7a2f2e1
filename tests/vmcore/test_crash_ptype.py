"""Type definitions as crash prints them (issue 15): ``whatis TYPE``,
``struct TYPE`` and ``union TYPE`` without an address, their ``-o`` (each
member's offset, crash's show_member_offset() over gdb's ptype lines) and
``-x``, ``whatis -o``; typedefs (``typedef struct {...} atomic_t;``, a
typedef of a named structure expanded, of a base type resolved) and enums
(``  NAME = VALUE`` lines, no SIZE).  Line for line crash 8.0.6's on the
test bed's ELF dump, trailing blanks aside, for the kernel's big structures
(anonymous unions and structs, bit fields, function pointers, inline
anonymous enums)."""

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
         "whatis spinlock_t", "struct -o spinlock_t", "whatis -o spinlock_t", "whatis pgd_t")


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
