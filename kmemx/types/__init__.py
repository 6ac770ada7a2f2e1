"""Typed views: struct layouts compiled from drgn's DWARF types.

:mod:`.layout` turns a :class:`drgn.Type` into a flat table of members;
:mod:`.view` builds fast view classes from it.
"""

from .layout import Layout, Member, layout_for, resolve_type
from .view import (
    ArrayView,
    EnumValue,
    FunctionPointer,
    PointerView,
    View,
    container_of,
    global_view,
    make_view,
    per_cpu,
    per_cpu_ptr,
    struct_view,
    view_of_object,
)

__all__ = [
    "ArrayView",
    "EnumValue",
    "FunctionPointer",
    "Layout",
    "Member",
    "PointerView",
    "View",
    "container_of",
    "global_view",
    "layout_for",
    "make_view",
    "per_cpu",
    "per_cpu_ptr",
    "resolve_type",
    "struct_view",
    "view_of_object",
]
