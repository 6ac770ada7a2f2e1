"""Bulk decoding: N consecutive structs in one read, as a numpy structured array."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import drgn
from drgn import TypeKind

from ..kernel import Kernel
from ..types.layout import layout_for, resolve_type, strip, type_key
from ..types.spec import scalar_kind
from ..types.view import scalar_size

if TYPE_CHECKING:  # numpy is imported when first used: it costs 0.15 s at start-up
    import numpy as np

__all__ = ["numpy_dtype", "read_struct_array"]

_KINDS = (TypeKind.INT, TypeKind.BOOL, TypeKind.ENUM, TypeKind.POINTER, TypeKind.FLOAT)


def numpy_dtype(prog: drgn.Program, type: Any, members: list[str] | None = None) -> np.dtype[Any]:
    """A numpy dtype with the scalar (non-bit-field) members of ``type`` at their
    offsets and ``itemsize == sizeof(type)``; cached per program."""
    import numpy as np

    t = strip(resolve_type(prog, type))
    key = ("kmemx.helpers.dtype", type_key(prog, t), tuple(members or ()))
    cached: np.dtype[Any] | None = prog.cache.get(key)
    if cached is not None:
        return cached
    lay = layout_for(prog, t)
    names, formats, offsets = [], [], []
    for name, m in lay.members.items():
        if members is not None and name not in members:
            continue
        s = strip(m.type)
        if m.bit_size or s.kind not in _KINDS:
            continue
        if s.kind == TypeKind.FLOAT:
            fmt = f"<f{scalar_size(s)}"
        else:
            size, signed = scalar_kind(s)
            fmt = f"<{'i' if signed else 'u'}{size}"
        names.append(name)
        formats.append(fmt)
        offsets.append(m.offset)
    dt = np.dtype({"names": names, "formats": formats, "offsets": offsets,
                   "itemsize": lay.size})
    prog.cache[key] = dt
    return dt


def read_struct_array(k: Kernel, type: Any, address: int, count: int,
                      members: list[str] | None = None) -> np.ndarray[Any, Any]:
    """Decode ``count`` consecutive ``type`` structs at ``address`` in one read."""
    import numpy as np

    dt = numpy_dtype(k.prog, type, members)
    raw = k.read(address, dt.itemsize * count)
    return np.frombuffer(raw, dtype=dt, count=count)
