"""Typed views of kernel memory, compiled per struct layout.

A view is a type plus an address.  The first access of a member compiles a
property for it on the layout's view class (``exec`` of a small function with
the offset, size and unpacker baked in), so afterwards a scalar member read
is one dict lookup in the kernel's page table cache and one
``struct.unpack_from`` on the mmap.

Values follow drgn's conventions: integers read as ``int`` (``bool`` for
``_Bool``), enums as :class:`EnumValue` (an ``int`` that knows its name),
pointers to structs as views (falsy when NULL, ``.value()`` is the address,
member access dereferences like ``->``), other pointers as
:class:`PointerView`, arrays as :class:`ArrayView`, function pointers as
:class:`FunctionPointer`.  ``.string()`` returns ``bytes`` like drgn's
``string_()``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import drgn
from drgn import TypeKind

from .._accel import speedups
from ..errors import FaultError, UnknownNameError
from .layout import Layout, UnknownMemberError, layout_for, resolve_type, strip, type_key
from .spec import scalar_kind

if TYPE_CHECKING:
    from ..kernel import Kernel

__all__ = [
    "ArrayView",
    "EnumValue",
    "FunctionPointer",
    "PointerView",
    "View",
    "container_of",
    "global_view",
    "kernel_of",
    "make_view",
    "per_cpu",
    "per_cpu_ptr",
    "struct_view",
    "value_reader",
    "view_of_object",
]

_speedups: Any = speedups

_COMPOUND = (TypeKind.STRUCT, TypeKind.UNION, TypeKind.CLASS)
_UNPACK: dict[tuple[int, bool], Callable[..., tuple[Any, ...]]] = {
    (1, False): struct.Struct("<B").unpack_from, (1, True): struct.Struct("<b").unpack_from,
    (2, False): struct.Struct("<H").unpack_from, (2, True): struct.Struct("<h").unpack_from,
    (4, False): struct.Struct("<I").unpack_from, (4, True): struct.Struct("<i").unpack_from,
    (8, False): struct.Struct("<Q").unpack_from, (8, True): struct.Struct("<q").unpack_from,
}
_FLOAT = {4: struct.Struct("<f").unpack_from, 8: struct.Struct("<d").unpack_from}
_U64 = _UNPACK[(8, False)]


def scalar_size(s: drgn.Type) -> int:
    """Size of an int, bool, enum, float or pointer type (enums: their
    compatible type): :func:`~kmemx.types.spec.scalar_kind`'s, and a float's."""
    if s.kind == TypeKind.FLOAT:
        return int(s.size or 8)
    return scalar_kind(s)[0]


def kernel_of(prog: drgn.Program) -> Kernel:
    """The :class:`~kmemx.Kernel` of ``prog`` (attaching kmemx if needed)."""
    k: Kernel | None = prog.cache.get("kmemx.kernel")
    if k is None:
        from ..target import attach

        k = attach(prog)
    return k


def _slow(k: Kernel, a: int, size: int, unpack: Callable[..., tuple[Any, ...]]) -> Any:
    buf, off = k._slow(a, size)
    return unpack(buf, off)[0]


def _read_bits(k: Kernel, a: int, bit_off: int, bit_size: int, signed: bool) -> int:
    nbytes = (bit_off + bit_size + 7) // 8
    raw = k.read(a, nbytes)
    v = (int.from_bytes(raw, "little") >> bit_off) & ((1 << bit_size) - 1)
    if signed and v >> (bit_size - 1):
        v -= 1 << bit_size
    return v


class EnumValue(int):
    """An enum value: an ``int`` with ``.name`` (None when no enumerator matches)."""

    _type: drgn.Type

    def __new__(cls, value: int, type: drgn.Type) -> EnumValue:
        obj = super().__new__(cls, value)
        obj._type = type
        return obj

    @property
    def name(self) -> str | None:
        for e in strip(self._type).enumerators or ():
            if e.value == int(self):
                return str(e.name)
        return None

    def __repr__(self) -> str:
        n = self.name
        return f"{n} ({int(self)})" if n else str(int(self))


class FunctionPointer(int):
    """A function pointer's address; ``.name`` resolves it to a symbol (a
    module's too, from its in-memory symbol table when drgn has no debug
    info for it: :func:`kmemx.helpers.kallsyms.use_module_kallsyms`)."""

    _prog: drgn.Program

    def __new__(cls, value: int, prog: drgn.Program) -> FunctionPointer:
        obj = super().__new__(cls, value)
        obj._prog = prog
        return obj

    @property
    def name(self) -> str | None:
        if not self:
            return None
        try:
            return str(self._prog.symbol(int(self)).name)
        except LookupError:
            pass
        from ..helpers.kallsyms import use_module_kallsyms

        use_module_kallsyms(self._prog)  # a module's function without its debug info
        try:
            return str(self._prog.symbol(int(self)).name)
        except LookupError:
            return None

    def __repr__(self) -> str:
        n = self.name
        return f"{int(self):#x} ({n})" if n else f"{int(self):#x}"


def value_reader(k: Kernel, t: drgn.Type) -> Callable[[int], Any]:
    """A function reading a value of type ``t`` at an absolute address."""
    cache: dict[Any, Callable[[int], Any]] = k.prog.cache.setdefault("kmemx.types.readers", {})
    key = type_key(k.prog, t)
    fn = cache.get(key)
    if fn is None:
        fn = _make_reader(k, t)
        cache[key] = fn
    return fn


def _make_reader(k: Kernel, t: drgn.Type) -> Callable[[int], Any]:
    s = strip(t)
    kind = s.kind
    pages = k._pages
    if kind in (TypeKind.INT, TypeKind.BOOL, TypeKind.ENUM, TypeKind.POINTER):
        size, signed = scalar_kind(s)
        unpack = _UNPACK[(size, signed)]
        lim = 4096 - size

        def raw(a: int) -> Any:
            p = pages.get(a >> 12)
            if p is None or (a & 4095) > lim:
                return _slow(k, a, size, unpack)
            return unpack(p[0], p[1] + (a & 4095))[0]
        if kind == TypeKind.INT:
            return raw
        if kind == TypeKind.BOOL:
            return lambda a: bool(raw(a))
        if kind == TypeKind.ENUM:
            return lambda a: EnumValue(raw(a), s)
        wrap = pointer_wrapper(k, s.type)
        return lambda a: wrap(raw(a))
    if kind == TypeKind.FLOAT:
        fsize = int(s.size or 8)
        funpack = _FLOAT[fsize]
        return lambda a: _slow(k, a, fsize, funpack)
    if kind in _COMPOUND:
        cls = view_class(k, s)
        return lambda a: cls(k, a)
    if kind == TypeKind.ARRAY:
        spec = _array_spec(k, s.type, s.length)
        elem, length = s.type, s.length
        return lambda a: ArrayView(k, a, elem, length, spec)
    raise TypeError(f"cannot read a value of type {t.type_name()}")


def pointer_wrapper(k: Kernel, target: drgn.Type) -> Callable[[int], Any]:
    """How a pointer value to ``target`` is presented."""
    s = strip(target)
    if s.kind in _COMPOUND:
        pcls = view_class(k, s).pointer_class
        return lambda v: pcls(k, v)
    if s.kind == TypeKind.FUNCTION:
        prog = k.prog
        return lambda v: FunctionPointer(v, prog)
    return lambda v: PointerView(k, v, target)


# -- struct views -------------------------------------------------------------

class _PyViewBase:
    """The pure-Python twin of ``kmemx._speedups.ViewBase``."""

    __slots__ = ("_a", "_k")

    def __init__(self, k: Kernel, address: int) -> None:
        self._k = k
        self._a = address


_ViewBase: Any = _speedups.ViewBase if _speedups is not None else _PyViewBase


class View(_ViewBase):  # type: ignore[misc]
    """A view of a struct or union at an address.  Use :meth:`Kernel.view`."""

    __slots__ = ()
    _a: int
    _k: Kernel
    _layout: ClassVar[Layout]
    _is_pointer: ClassVar[bool] = False
    pointer_class: ClassVar[type[View]]
    value_class: ClassVar[type[View]]

    # public accessors use trailing-underscore-free names that no kernel
    # struct uses as a member; members win over them only via member_().
    @property
    def address(self) -> int:
        """Address of the struct (for a pointer view, the pointer's value)."""
        return self._a

    @property
    def type(self) -> drgn.Type:
        t = self._layout.type
        return self._k.prog.pointer_type(t) if self._is_pointer else t

    @property
    def k(self) -> Kernel:
        return self._k

    def value(self) -> Any:
        """The pointer value for a pointer view; a dict of members for a struct."""
        if self._is_pointer:
            return self._a
        return {name: getattr(self, name) for name in self._layout.members}

    def deref(self) -> View:
        """The struct a pointer view points to."""
        return self.value_class(self._k, self._a)

    def address_of(self) -> View:
        """A pointer view to this struct (``&x``)."""
        return self.pointer_class(self._k, self._a)

    def member(self, name: str) -> Any:
        """Member by name, also for names that clash with view methods."""
        return _compile_member(type(self).value_class, name)(self)

    def read_bytes(self) -> bytes:
        return self._k.read(self._a, self._layout.size)

    def fields(self, *names: str) -> tuple[Any, ...]:
        """Several scalar or ``char[]`` members in one unpack: ints (pointers as
        addresses) and bytes.  See :func:`kmemx.types.fields.fields`."""
        readers = self._layout.field_readers
        read = readers.get(names)
        if read is None:
            from .fields import fields

            read = readers[names] = fields(self._k, self._layout.type, list(names))
        return read(self._a)

    def to_drgn(self) -> drgn.Object:
        """The equivalent :class:`drgn.Object`."""
        prog = self._k.prog
        if self._is_pointer:
            return drgn.Object(prog, prog.pointer_type(self._layout.type), self._a)
        return drgn.Object(prog, self._layout.type, address=self._a)

    def _missing_member(self, name: str) -> Any:
        """A member not compiled yet: compile it on the class and read it."""
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        getter = _compile_member(type(self).value_class, name)
        return getter(self)

    if TYPE_CHECKING or _speedups is None:
        # With the C extension, ViewBase's own attribute lookup reads members
        # and calls _missing_member, and its nb_bool is __bool__: a Python
        # __getattr__ or __bool__ here would replace them for every access.
        __getattr__ = _missing_member

        def __bool__(self) -> bool:
            return bool(self._a) if self._is_pointer else True

    def __dir__(self) -> list[str]:
        return sorted(set(self._layout.members) | set(super().__dir__()))

    def __int__(self) -> int:
        return self._a

    def __index__(self) -> int:
        return self._a

    def __eq__(self, other: object) -> bool:
        if isinstance(other, View):
            return self._a == other._a and self._layout is other._layout
        if isinstance(other, int) and self._is_pointer:
            return self._a == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self._a, id(self._layout)))

    def __repr__(self) -> str:
        star = " *" if self._is_pointer else ""
        return f"<{self._layout.name}{star} at {self._a:#x}>"

    def __str__(self) -> str:
        try:
            return str(self.to_drgn())
        except FaultError as e:
            return f"{self!r}: {e}"


def view_class(k: Kernel, t: drgn.Type) -> type[View]:
    """The view class of struct/union ``t`` (cached per program)."""
    lay = layout_for(k.prog, t)
    classes: dict[int, type[View]] = k.prog.cache.setdefault("kmemx.types.classes", {})
    cls = classes.get(id(lay))
    if cls is None:
        name = "View_" + "".join(c if c.isalnum() else "_" for c in lay.name)
        cls = type(name, (View,), {"__slots__": (), "_layout": lay})
        pcls = type(name + "_ptr", (cls,), {"__slots__": (), "_is_pointer": True})
        cls.pointer_class = pcls
        cls.value_class = cls
        classes[id(lay)] = cls
    return cls


_SCALAR_SRC = """
def get(self):
    a = self._a + {off}
    p = pages.get(a >> 12)
    if p is None or (a & 4095) > {lim}:
        v = slow(self._k, a, {size}, unpack)
    else:
        v = unpack(p[0], p[1] + (a & 4095))[0]
    return {wrap}
"""


def _compile_member(cls: type[View], name: str) -> Callable[[View], Any]:
    """Compile ``cls.<name>`` as a property and return its getter."""
    prop = cls.__dict__.get(name)
    if isinstance(prop, property) and prop.fget is not None:
        return prop.fget
    if _speedups is not None and isinstance(prop, _speedups.Field):
        fget: Callable[[View], Any] = prop.fget
        return fget
    lay = cls._layout
    try:
        m = lay.member(name)
    except UnknownMemberError:
        raise
    k: Kernel = kernel_of(lay.prog)
    s = strip(m.type)
    kind = s.kind
    off = m.offset
    getter: Callable[[View], Any]
    #: the C descriptor's (size, signed, kind, wrap, extra), when it has one
    cfield: tuple[int, bool, str, Any, Any] | None = None
    if m.bit_size:
        bo, bs = m.bit_offset, m.bit_size
        signed = scalar_kind(s)[1]
        post: Callable[[int], Any] = (
            (lambda v: EnumValue(v, s)) if kind == TypeKind.ENUM
            else bool if kind == TypeKind.BOOL else int)

        def getter(self: View) -> Any:
            return post(_read_bits(self._k, self._a + off, bo, bs, signed))
    elif kind in (TypeKind.INT, TypeKind.BOOL, TypeKind.ENUM, TypeKind.POINTER):
        size, signed = scalar_kind(s)
        ns: dict[str, Any] = {"pages": k._pages, "slow": _slow}
        ckind, cwrap, cextra = "K_INT", None, None
        if kind == TypeKind.ENUM:
            ns["E"], ns["T"] = EnumValue, s
            wrap = "E(v, T)"
            ckind, cwrap, cextra = "K_ENUM", EnumValue, s
        elif kind == TypeKind.BOOL:
            wrap = "v != 0"
            ckind = "K_BOOL"
        elif kind == TypeKind.POINTER and strip(s.type).kind in _COMPOUND:
            ns["P"] = view_class(k, strip(s.type)).pointer_class
            wrap = "P(self._k, v)"
            ckind, cwrap = "K_VIEW", ns["P"]
        elif kind == TypeKind.POINTER:
            ns["W"] = pointer_wrapper(k, s.type)
            wrap = "W(v)"
            ckind, cwrap = "K_CALL", ns["W"]
        else:
            wrap = "v"
        ns["unpack"] = _UNPACK[(size, signed)]
        exec(_SCALAR_SRC.format(off=off, lim=4096 - size, size=size, wrap=wrap), ns)
        getter = ns["get"]
        cfield = (size, signed, ckind, cwrap, cextra)
    else:
        read = value_reader(k, m.type)

        def getter(self: View) -> Any:
            return read(self._a + off)
        if kind == TypeKind.ARRAY:
            cfield = (1, False, "K_ARRAY", ArrayView, _array_spec(k, s.type, s.length))
    if not hasattr(View, name):
        doc = f"{m.type.type_name()} {name}"
        if _speedups is not None and cfield is not None:
            size, signed, ckind, cwrap, cextra = cfield
            attr: Any = _speedups.Field(name, off, size, signed, getattr(_speedups, ckind),
                                        k._pages, cwrap, cextra, getter, doc)
        else:
            attr = property(getter, doc=doc)
        setattr(cls, name, attr)
    return getter


# -- arrays and pointers --------------------------------------------------------

class _ArraySpec:
    __slots__ = ("elem", "length", "nbytes", "read", "step")
    elem: drgn.Type
    length: int | None
    nbytes: int | None
    read: Callable[[int], Any]
    step: int

    def __init__(self, k: Kernel, elem: drgn.Type, length: int | None) -> None:
        self.elem = elem
        self.length = length
        self.step = drgn.sizeof(elem)
        self.nbytes = None if length is None else length * self.step
        self.read = value_reader(k, elem)


def _array_spec(k: Kernel, elem: drgn.Type, length: int | None) -> _ArraySpec:
    cache: dict[Any, _ArraySpec] = k.prog.cache.setdefault("kmemx.types.arrays", {})
    key = (type_key(k.prog, elem), length)
    spec = cache.get(key)
    if spec is None:
        spec = cache[key] = _ArraySpec(k, elem, length)
    return spec


class _PyArrayBase:
    """The pure-Python twin of ``kmemx._speedups.ArrayBase``."""

    __slots__ = ("_a", "_k", "_spec")
    _a: int
    _k: Kernel
    _spec: _ArraySpec

    def __new__(cls, k: Kernel, address: int, spec: _ArraySpec) -> Any:
        self = object.__new__(cls)
        self._k = k
        self._a = address
        self._spec = spec
        return self

    def string(self) -> bytes:
        """Bytes up to the first NUL (like drgn's ``string_()``)."""
        a = self._a
        n = self._spec.nbytes
        p = self._k._pages.get(a >> 12)
        o = a & 4095
        if n is None or p is None or o + n > 4096:
            slow: bytes = self._string_slow()  # type: ignore[attr-defined]
            return slow
        start = p[1] + o
        raw = p[0][start:start + n]
        i = raw.find(b"\0")
        return bytes(raw if i < 0 else raw[:i])


_ArrayBase: Any = _speedups.ArrayBase if _speedups is not None else _PyArrayBase


class ArrayView(_ArrayBase):  # type: ignore[misc]
    """A C array: index, iterate, slice; ``.string()`` for char arrays."""

    __slots__ = ()
    _a: int
    _k: Kernel
    _spec: _ArraySpec

    def __new__(cls, k: Kernel, address: int, elem: drgn.Type, length: int | None,
                spec: _ArraySpec | None = None) -> ArrayView:
        if spec is None:
            spec = _array_spec(k, elem, length)
        v: ArrayView = super().__new__(cls, k, address, spec)
        return v

    @property
    def _elem(self) -> drgn.Type:
        return self._spec.elem

    @property
    def _len(self) -> int | None:
        return self._spec.length

    @property
    def _step(self) -> int:
        return self._spec.step

    @property
    def _read(self) -> Callable[[int], Any]:
        return self._spec.read

    @property
    def address(self) -> int:
        return self._a

    @property
    def type(self) -> drgn.Type:
        return self._k.prog.array_type(self._elem, self._len)

    def __len__(self) -> int:
        if self._len is None:
            raise TypeError("array of unknown length")
        return self._len

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if self._len is not None and not 0 <= i < self._len:
            raise IndexError(f"index {i} out of range for array of length {self._len}")
        return self._read(self._a + i * self._step)

    def __iter__(self) -> Iterator[Any]:
        read, a, step = self._read, self._a, self._step
        for i in range(len(self)):
            yield read(a + i * step)

    def _string_slow(self) -> bytes:
        raw = self._k.read(self._a, len(self) * self._step)
        i = raw.find(b"\0")
        return raw if i < 0 else raw[:i]

    def read_bytes(self) -> bytes:
        return self._k.read(self._a, len(self) * self._step)

    def value(self) -> list[Any]:
        return [v.value() if isinstance(v, (View, ArrayView, PointerView)) and
                not isinstance(v, View) else v for v in self]

    def to_drgn(self) -> drgn.Object:
        return drgn.Object(self._k.prog, self.type, address=self._a)

    def __repr__(self) -> str:
        return f"<{self.type.type_name()} at {self._a:#x}>"

    def __str__(self) -> str:
        return str(self.to_drgn())


class PointerView:
    """A pointer to a non-struct type: ``deref()``, ``[i]``, arithmetic, ``string()``."""

    __slots__ = ("_k", "_target", "_v")

    def __init__(self, k: Kernel, value: int, target: drgn.Type) -> None:
        self._k = k
        self._v = value
        self._target = target

    def value(self) -> int:
        return self._v

    @property
    def address(self) -> int:
        return self._v

    @property
    def type(self) -> drgn.Type:
        return self._k.prog.pointer_type(self._target)

    def _size(self) -> int:
        s = strip(self._target)
        return 1 if s.kind == TypeKind.VOID else int(s.size or 1)

    def deref(self) -> Any:
        if strip(self._target).kind == TypeKind.VOID:
            raise TypeError("cannot dereference a void pointer")
        return value_reader(self._k, self._target)(self._v)

    def __getitem__(self, i: int) -> Any:
        return value_reader(self._k, self._target)(self._v + i * self._size())

    def string(self, limit: int = 1 << 20) -> bytes:
        """The NUL-terminated string it points to (``char *``)."""
        if not self._v:
            raise FaultError("NULL pointer", 0)
        out = bytearray()
        a = self._v
        while len(out) < limit:
            n = 4096 - (a & 4095)
            chunk = self._k.read(a, n)
            i = chunk.find(b"\0")
            if i >= 0:
                out += chunk[:i]
                return bytes(out)
            out += chunk
            a += n
        return bytes(out[:limit])

    def __add__(self, n: int) -> PointerView:
        return PointerView(self._k, self._v + n * self._size(), self._target)

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, PointerView):
            return (self._v - other._v) // self._size()
        return PointerView(self._k, self._v - int(other) * self._size(), self._target)

    def __bool__(self) -> bool:
        return bool(self._v)

    def __int__(self) -> int:
        return self._v

    def __index__(self) -> int:
        return self._v

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (PointerView, View)):
            return self._v == int(other)
        if isinstance(other, int):
            return self._v == other
        return NotImplemented

    def __lt__(self, other: Any) -> bool:
        return self._v < int(other)

    def __hash__(self) -> int:
        return hash(self._v)

    def to_drgn(self) -> drgn.Object:
        return drgn.Object(self._k.prog, self.type, self._v)

    def __repr__(self) -> str:
        return f"<{self.type.type_name()} {self._v:#x}>"


# -- constructors -----------------------------------------------------------------

def make_view(k: Kernel, type: Any, address: int) -> Any:
    """A view of ``type`` at ``address``: struct/union view, array or scalar value."""
    t = resolve_type(k.prog, type)
    s = strip(t)
    if s.kind in _COMPOUND:
        return view_class(k, s)(k, int(address))
    if s.kind == TypeKind.POINTER:
        return pointer_wrapper(k, s.type)(int(address))
    return value_reader(k, t)(int(address))





def global_view(k: Kernel, name: str) -> Any:
    """A view of the global variable ``name``.  A struct, union or array
    global's view (an address, which does not change) is kept per program; a
    scalar or pointer global is read on each call."""
    views: dict[str, Any] = k.prog.cache.setdefault("kmemx.types.global_views", {})
    v = views.get(name)
    if v is not None:
        return v
    try:
        obj = k.prog[name]
    except KeyError:
        from ..symbols import did_you_mean, symbol_names

        raise UnknownNameError(f"unknown symbol '{name}'"
                               + did_you_mean(name, symbol_names(k.prog))) from None
    v = view_of_object(obj)
    if isinstance(v, ArrayView) or (isinstance(v, View) and not v._is_pointer):
        views[name] = v
    return v


def view_of_object(obj: drgn.Object) -> Any:
    """The kmemx view of a :class:`drgn.Object` (inverse of ``to_drgn()``)."""
    k = kernel_of(obj.prog_)
    t = obj.type_
    s = strip(t)
    if s.kind == TypeKind.POINTER:
        return pointer_wrapper(k, s.type)(int(obj.value_()))
    if s.kind == TypeKind.FUNCTION:
        return FunctionPointer(int(obj.address_ or 0), k.prog)
    if obj.address_ is not None:
        if s.kind in _COMPOUND:
            return view_class(k, s)(k, int(obj.address_))
        return value_reader(k, t)(int(obj.address_))
    if s.kind == TypeKind.ARRAY:
        raise TypeError("cannot view an array value that is not in memory")
    return obj.value_()


def struct_view(x: Any) -> View | None:
    """The struct view ``x`` stands for, always of one kind (a view of the
    struct, not of a pointer to it): a struct view itself, the struct a
    pointer view points to (``*p``, also when NULL: reading it faults), the
    view of a :class:`drgn.Object` of a struct type in memory or of a pointer
    to one; None for anything else (an integer, an array, a scalar).

    Commands get piped objects in this form (``ps`` rows hold
    ``struct task_struct *`` views for idle tasks, struct views for the
    others), so ``to_drgn()`` is always the struct and ``address`` its
    address."""
    if isinstance(x, drgn.Object):
        s = strip(x.type_)
        if s.kind == TypeKind.POINTER and strip(s.type).kind in _COMPOUND:
            return view_class(kernel_of(x.prog_), strip(s.type))(kernel_of(x.prog_),
                                                                  int(x.value_()))
        if s.kind in _COMPOUND and x.address_ is not None:
            return view_class(kernel_of(x.prog_), s)(kernel_of(x.prog_), int(x.address_))
        return None
    if isinstance(x, View):
        return x.deref() if x._is_pointer else x
    return None


def container_of(ptr: Any, type: Any, member: str) -> View:
    """``container_of(ptr, type, member)``: the struct of ``type`` containing
    ``member`` at ``ptr`` (a view, a drgn Object or an address)."""
    if isinstance(ptr, drgn.Object):
        k = kernel_of(ptr.prog_)
        addr = int(ptr.value_()) if strip(ptr.type_).kind == TypeKind.POINTER else int(
            ptr.address_ or 0)
    else:
        if not isinstance(ptr, (View, PointerView, ArrayView)):
            raise TypeError("container_of() needs a view or drgn.Object for an address")
        k = ptr._k
        addr = int(ptr.address) if not isinstance(ptr, PointerView) else ptr.value()
    t = resolve_type(k.prog, type)
    off = layout_for(k.prog, t).offsetof(member)
    return view_class(k, strip(t))(k, addr - off)


def _percpu_offset(k: Kernel, cpu: int) -> int:
    offsets: list[int] | None = k.prog.cache.get("kmemx.types.percpu_offsets")
    if offsets is None:
        arr = k.prog["__per_cpu_offset"]
        n = int(k.prog["nr_cpu_ids"])
        offsets = [int(arr[i]) for i in range(n)]
        k.prog.cache["kmemx.types.percpu_offsets"] = offsets
    if not 0 <= cpu < len(offsets):
        raise IndexError(f"CPU {cpu} out of range (nr_cpu_ids is {len(offsets)})")
    return offsets[cpu]


def per_cpu_ptr(ptr: Any, cpu: int) -> Any:
    """``per_cpu_ptr(ptr, cpu)``: ``ptr`` is a pointer view to a per-cpu variable."""
    k = ptr._k
    # unsigned long arithmetic: arm64's offsets are "negative" (the per-CPU
    # areas lie below the image's __per_cpu_start), so the sum wraps
    v = (int(ptr.value() if isinstance(ptr, PointerView) else ptr.address)
         + _percpu_offset(k, cpu)) & 0xFFFFFFFFFFFFFFFF
    if isinstance(ptr, View):
        return ptr.pointer_class(k, v)
    return PointerView(k, v, ptr._target)


def per_cpu(var: Any, cpu: int) -> Any:
    """``per_cpu(var, cpu)``: ``var`` is a per-cpu variable's view or name."""
    if isinstance(var, str):
        raise TypeError("pass k.object(name) or a view, not a name")
    k = var._k
    addr = (int(var.address) + _percpu_offset(k, cpu)) & 0xFFFFFFFFFFFFFFFF  # wraps on arm64
    if isinstance(var, View):
        return var.value_class(k, addr)
    if isinstance(var, ArrayView):
        return ArrayView(k, addr, var._elem, var._len)
    raise TypeError("per_cpu() takes a struct or array view; use k.view() for scalars")
