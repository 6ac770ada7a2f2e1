"""Argument handling shared by the walkers."""

from __future__ import annotations

from typing import Any

import drgn

from ..kernel import Kernel
from ..types.layout import layout_for, resolve_type, strip
from ..types.view import ArrayView, PointerView, View, kernel_of, view_class

__all__ = ["MAX_ENTRIES", "address_of", "entry_class"]

#: Default bound on the length of any walk.
MAX_ENTRIES = 50_000_000


def address_of(obj: Any, k: Kernel | None = None) -> tuple[Kernel, int]:
    """(kernel, address) of a head given as a view, pointer view, drgn Object
    (``struct list_head`` or ``struct list_head *``) or an int with ``k``."""
    if isinstance(obj, View):
        return obj._k, obj._a
    if isinstance(obj, (PointerView, ArrayView)):
        return obj._k, int(obj.address)
    if isinstance(obj, drgn.Object):
        kk = kernel_of(obj.prog_)
        if strip(obj.type_).kind == drgn.TypeKind.POINTER:
            return kk, int(obj.value_())
        return kk, int(obj.address_ or 0)
    if isinstance(obj, int):
        if k is None:
            raise TypeError("an address needs the kernel: pass k=")
        return k, obj
    raise TypeError(f"expected a view, drgn.Object or address, not {type(obj).__name__}")


def entry_class(k: Kernel, type: Any, member: str) -> tuple[type[View], int]:
    """View class of ``type`` and the byte offset of ``member`` in it (cached)."""
    cache: dict[Any, tuple[type[View], int]] = k.prog.cache.setdefault(
        "kmemx.helpers.entry_class", {})
    key = (type if isinstance(type, str) else id(type), member)
    hit = cache.get(key)
    if hit is None:
        t = strip(resolve_type(k.prog, type))
        hit = (view_class(k, t), layout_for(k.prog, t).offsetof(member))
        if isinstance(type, str):
            cache[key] = hit
    return hit
