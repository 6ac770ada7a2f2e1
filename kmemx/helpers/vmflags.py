"""The names of a VMA's ``vm_flags`` bits, as the kernel itself names them
(``vmaflag_names``, the table ``%pGv`` prints with)."""

from __future__ import annotations

from collections.abc import Iterator

import drgn

__all__ = ["for_each_vma_flag", "vma_flag_table"]


def vma_flag_table(prog: drgn.Program) -> list[tuple[int, str]]:
    """``(mask, name)`` of each entry of the kernel's ``vmaflag_names[]``
    (mm/debug.c, ``const struct trace_print_flags``, ended by a NULL name;
    built from include/trace/events/mmflags.h's ``__def_vmaflag_names``), in
    the kernel's order.  Cached in ``prog.cache["kmemx.helpers.vmflags.table"]``.
    Raises LookupError if the kernel has no ``vmaflag_names`` (mm/debug.c is
    built in every kernel since 4.6, 420adbe9fc1a "mm, tracing: unify mm flags
    handling in tracepoints and printk")."""
    table: list[tuple[int, str]] | None = prog.cache.get("kmemx.helpers.vmflags.table")
    if table is None:
        names = prog["vmaflag_names"]
        table = []
        for i in range(len(names)):
            entry = names[i]
            if not entry.name:
                break
            table.append((int(entry.mask), entry.name.string_().decode()))
        prog.cache["kmemx.helpers.vmflags.table"] = table
    return table


def for_each_vma_flag(prog: drgn.Program, flags: int) -> Iterator[tuple[int, str]]:
    """The ``(mask, name)`` entries of ``vmaflag_names`` set in ``flags``
    (``vm_flags_t``, unsigned long), in the kernel's table order; the kernel's
    lower-case names (``read``, ``softdirty``...).  LookupError as
    :func:`vma_flag_table`."""
    for mask, name in vma_flag_table(prog):
        if flags & mask == mask:
            yield mask, name
