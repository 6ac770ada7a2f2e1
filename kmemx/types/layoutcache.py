"""The layout cache: the types and global objects kmemx's commands looked up
in a kernel's DWARF, kept under ``~/.cache/kmemx/layouts/<build-id>/`` and
given back to drgn without loading DWARF.

Loading a vmlinux's debug info (drgn indexing its DWARF) is most of a
one-shot command's start-up.  A command such as ``ps`` needs only a handful
of struct layouts (``task_struct``, ``mm_struct``...) and global variables
(``init_task``, ``runqueues``...).  On the first run for a kernel build
(**cold**), the debug info is loaded as always and two recording finders
note every type and object name drgn is asked for, found or not; when the
program is saved (:func:`save`, and at exit) those types are written with
everything they reach (members, typedefs, pointer targets), each object with
its type and address, and the names that were *not* found (kmemx probes
layouts of other kernel versions and falls back on LookupError: the
"absent" answers are as much part of the layout as the present ones).

On the next run for the same build (**warm**), :func:`attach` installs a
drgn type finder and object finder answering from the file: the types are
rebuilt with ``prog.struct_type`` & co (members lazily, on first access),
objects as ``drgn.Object(prog, type, address=...)``.  Everything drgn and
kmemx do with them works as with DWARF types.  The first name the file does
not know loads the debug info then (:func:`ensure_debug_info`), and the
file is rewritten with the new names at the end.  Function prototypes are
not kept (a function pointer's target is ``void (...)``), nor symbols,
stacks (ORC/CFI) or modules: a caller that needs those calls
:func:`ensure_debug_info` first.

The file is keyed by the vmlinux's GNU build ID, so every dump of that
build shares it.  It starts with a magic, a format version, the CRC-32 and
the length of its body; a file whose magic, version, checksum or build ID is wrong
(truncated, damaged, written by another kmemx) is ignored and rebuilt.
Writes go to a temporary file renamed into place, so parallel processes
(``kmemx triage --jobs``) never see half a file.
"""

from __future__ import annotations

import atexit
import marshal
import os
import struct
import zlib
from typing import Any, Callable

import drgn
from drgn import FindObjectFlags, Qualifiers, TypeKind

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "LayoutCacheError",
    "attach",
    "attach_unwinder",
    "cache_dir",
    "cache_path",
    "close",
    "enabled",
    "ensure_debug_info",
    "is_deferred",
    "load",
    "load_debug_info",
    "record",
    "save",
    "state",
    "unwind_file",
]

#: The file's first bytes, then the format version (u32), the body's CRC-32
#: (u32) and its length (u64)
MAGIC = b"KMXLAYT\0"
#: Bumped whenever what the body holds or how it is read changes
FORMAT_VERSION = 4
_HEADER = struct.Struct("<8sIIQ")
#: ``prog.cache`` key of a program's :class:`_State`
_KEY = "kmemx.types.layoutcache.state"
_FILE = "layouts.bin"
_UNWIND = "vmlinux.unwind"

_COMPOUND = (TypeKind.STRUCT, TypeKind.UNION, TypeKind.CLASS)
# type finder kinds of a tagged lookup ("struct x" is looked up as STRUCT "x")
_TAGS = {TypeKind.STRUCT: "struct", TypeKind.UNION: "union", TypeKind.ENUM: "enum",
         TypeKind.CLASS: "class"}


class LayoutCacheError(Exception):
    """A cache file that cannot be used: its one-line reason."""


def enabled() -> bool:
    """Whether callers that may use the cache should: ``KMEMX_LAYOUT_CACHE=0``
    turns it off (every lookup from DWARF, as without it)."""
    return os.environ.get("KMEMX_LAYOUT_CACHE", "1") != "0"


def cache_dir() -> str:
    """The directory of the layout files: ``$KMEMX_LAYOUT_DIR``, else
    ``$XDG_CACHE_HOME/kmemx/layouts`` (``~/.cache/kmemx/layouts``)."""
    env = os.environ.get("KMEMX_LAYOUT_DIR")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kmemx", "layouts")


def cache_path(build_id: str) -> str:
    """The layout file of the kernel build ``build_id`` (hex)."""
    return os.path.join(cache_dir(), build_id.lower(), _FILE)


# -- the file ----------------------------------------------------------------------------------

def load(build_id: str) -> dict[str, Any] | None:
    """The body of ``build_id``'s layout file; None when there is none.

    :raises LayoutCacheError: the file is there but cannot be used (bad
        magic, another format version, checksum mismatch, another build ID,
        not readable)."""
    path = cache_path(build_id)
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            key = (st.st_ino, st.st_size, st.st_mtime_ns)
            known = _BODIES.get(path)
            if known is not None and known[0] == key:
                return known[1]  # the same file, already checked and read
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise LayoutCacheError(f"{path}: {e.strerror or e}") from None
    if len(data) < _HEADER.size:
        raise LayoutCacheError(f"{path}: truncated ({len(data)} bytes)")
    magic, version, crc, length = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise LayoutCacheError(f"{path}: not a kmemx layout file")
    if version != FORMAT_VERSION:
        raise LayoutCacheError(f"{path}: format version {version}, not {FORMAT_VERSION}")
    body = data[_HEADER.size:]
    if len(body) != length:
        raise LayoutCacheError(f"{path}: truncated ({len(body)} of {length} bytes)")
    if zlib.crc32(body) != crc:
        raise LayoutCacheError(f"{path}: checksum mismatch (damaged)")
    try:
        out = marshal.loads(body)
    except (ValueError, EOFError, TypeError) as e:
        raise LayoutCacheError(f"{path}: unreadable body: {e}") from None
    if not isinstance(out, dict) or out.get("build_id") != build_id.lower():
        raise LayoutCacheError(f"{path}: written for another build")
    _BODIES[path] = (key, out)
    return out


#: bodies read in this process by path, with the (inode, size, mtime) they were
#: read at: triage reads one build's file once for all its dumps (never written
#: in place: a new file is a new inode)
_BODIES: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}


def _write(build_id: str, body: dict[str, Any]) -> str:
    import tempfile

    path = cache_path(build_id)
    raw = marshal.dumps(body)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".layouts.", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_HEADER.pack(MAGIC, FORMAT_VERSION, zlib.crc32(raw), len(raw)))
            f.write(raw)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


# -- serialising drgn types --------------------------------------------------------------------

class _Encoder:
    """drgn Types as a table of tuples whose references are indices.

    Named structs, unions, enums, typedefs and base types are one entry per
    name (the first definition met, drgn's ``prog.type()``'s for the names
    looked up by name); anonymous ones one per DWARF type."""

    def __init__(self) -> None:
        self.table: list[tuple[Any, ...]] = []
        self._index: dict[Any, int] = {}

    def _key(self, t: drgn.Type) -> Any:
        kind = t.kind
        q = t.qualifiers.value
        if kind in _COMPOUND or kind == TypeKind.ENUM:
            if t.tag is None:
                return ("anon", t._ptr, q)
            return (kind.value, t.tag, t.is_complete(), q)
        if kind == TypeKind.POINTER:
            return ("ptr", self._key(t.type), int(t.size), q)
        if kind == TypeKind.ARRAY:
            return ("array", self._key(t.type), t.length, q)
        if kind == TypeKind.FUNCTION:
            return ("function", q)
        return (kind.value, t.type_name(), q)

    def add(self, root: drgn.Type) -> int:
        """The index of ``root``, its whole graph added (iteratively)."""
        key = self._key(root)
        if key in self._index:
            return self._index[key]
        # entries are reserved first and filled when their references are known
        pending: list[tuple[drgn.Type, int]] = []

        def reserve(t: drgn.Type) -> int:
            k = self._key(t)
            i = self._index.get(k)
            if i is None:
                i = self._index[k] = len(self.table)
                self.table.append(())
                pending.append((t, i))
            return i

        first = reserve(root)
        while pending:
            t, i = pending.pop()
            self.table[i] = self._entry(t, reserve)
        return first

    @staticmethod
    def _entry(t: drgn.Type, ref: Callable[[drgn.Type], int]) -> tuple[Any, ...]:
        kind = t.kind
        q = t.qualifiers.value
        if kind in _COMPOUND:
            members = None
            if t.is_complete():
                members = [(ref(m.type), m.name, m.bit_offset, m.bit_field_size or 0)
                           for m in t.members or ()]
            return (kind.value, t.tag, t.size if t.is_complete() else None, members, q)
        if kind == TypeKind.ENUM:
            enumerators = None
            if t.is_complete():
                enumerators = [(e.name, e.value) for e in t.enumerators or ()]
            compat = ref(t.type) if t.type is not None else None
            return (kind.value, t.tag, compat, enumerators, q)
        if kind == TypeKind.TYPEDEF:
            return (kind.value, t.name, ref(t.type), q)
        if kind == TypeKind.POINTER:
            return (kind.value, int(t.size), ref(t.type), q)
        if kind == TypeKind.ARRAY:
            return (kind.value, t.length, ref(t.type), q)
        if kind == TypeKind.INT:
            return (kind.value, t.name, int(t.size), bool(t.is_signed), q)
        if kind in (TypeKind.BOOL, TypeKind.FLOAT):
            return (kind.value, t.name, int(t.size), q)
        if kind == TypeKind.FUNCTION:  # prototypes are not kept: void (...)
            return (kind.value, q)
        return (TypeKind.VOID.value, q)


class _Decoder:
    """drgn Types rebuilt from an :class:`_Encoder` table, each once."""

    def __init__(self, prog: drgn.Program, table: list[tuple[Any, ...]]) -> None:
        self.prog = prog
        self.table = table
        self._built: dict[int, drgn.Type] = {}

    def type(self, i: int) -> drgn.Type:
        t = self._built.get(i)
        if t is None:
            t = self._built[i] = self._build(self.table[i])
        return t

    def _member(self, i: int, bits: int) -> Callable[[], Any]:
        def make() -> Any:
            t = self.type(i)
            if bits:
                return drgn.Object(self.prog, t, bit_field_size=bits)
            return t
        return make

    def _build(self, e: tuple[Any, ...]) -> drgn.Type:
        p = self.prog
        kind = TypeKind(e[0])
        q = Qualifiers(e[-1])
        if kind in _COMPOUND:
            tag, size, members = e[1], e[2], e[3]
            ms = None if members is None else [
                drgn.TypeMember(self._member(ti, bits), name, off)
                for ti, name, off, bits in members]
            make = p.union_type if kind == TypeKind.UNION else p.struct_type
            if members is None:
                return make(tag, None, None, qualifiers=q)
            return make(tag, size, ms, qualifiers=q)
        if kind == TypeKind.ENUM:
            tag, compat, enumerators = e[1], e[2], e[3]
            if enumerators is None:
                return p.enum_type(tag, None, None, qualifiers=q)
            return p.enum_type(tag, self.type(compat),
                               [drgn.TypeEnumerator(n, v) for n, v in enumerators],
                               qualifiers=q)
        if kind == TypeKind.TYPEDEF:
            return p.typedef_type(e[1], self.type(e[2]), qualifiers=q)
        if kind == TypeKind.POINTER:
            return p.pointer_type(self.type(e[2]), e[1], qualifiers=q)
        if kind == TypeKind.ARRAY:
            return p.array_type(self.type(e[2]), e[1], qualifiers=q)
        if kind == TypeKind.INT:
            return p.int_type(e[1], e[2], e[3], qualifiers=q)
        if kind == TypeKind.BOOL:
            return p.bool_type(e[1], e[2], qualifiers=q)
        if kind == TypeKind.FLOAT:
            return p.float_type(e[1], e[2], qualifiers=q)
        if kind == TypeKind.FUNCTION:
            return p.function_type(p.void_type(), (), True, qualifiers=q)
        return p.void_type(qualifiers=q)


# -- per-program state -------------------------------------------------------------------------

def _type_query(kinds: Any, name: str) -> str | None:
    """The ``prog.type()`` argument of a type finder query, None when it
    is not one kmemx keeps (C++ classes)."""
    tags = [k for k in kinds if k in _TAGS]
    if tags:
        if len(tags) != 1 or tags[0] == TypeKind.CLASS:
            return None
        return f"{_TAGS[tags[0]]} {name}"
    return name


class _State:
    """What one program asked for, what the file answered, and whether the
    debug info is loaded yet."""

    def __init__(self, prog: drgn.Program, build_id: str,
                 loader: Callable[[], None] | None, kaslr_offset: int = 0) -> None:
        self.build_id = build_id.lower()
        #: this boot's KASLR offset (VMCOREINFO's KERNELOFFSET): the file keeps
        #: the kernel image's addresses without it
        self.kaslr_offset = kaslr_offset
        #: the vmlinux the debug info comes from (for the unwinding file)
        self.vmlinux: str | None = None
        #: the unwinding file is the kernel's debug file: DWARF can no longer load
        self.stubbed = False
        self.loader = loader
        self.loaded = loader is None
        self.loading = False
        #: type queries ("struct task_struct", "pid_t") and object names asked for
        self.types: set[str] = set()
        self.objects: set[str] = set()
        #: the file's body (warm), else None
        self.body: dict[str, Any] | None = None
        self.decoder: _Decoder | None = None
        self.dirty = False
        #: every lookup the file answered, to tell what a warm run used
        self.hits = 0
        self.misses: list[str] = []

    # the finders -------------------------------------------------------------
    def find_type(self, prog: drgn.Program, kinds: Any, name: str,
                  filename: str | None) -> drgn.Type | None:
        query = _type_query(kinds, name)
        if query is None or filename is not None:  # not kept: DWARF answers
            self._load()
            return None
        if query not in self.types:
            self.types.add(query)
            if self.body is None or query not in self.body["types"]:
                self.dirty = True
        if not self.loaded and self.body is not None and self.decoder is not None:
            i = self.body["types"].get(query)
            if i is not None:
                self.hits += 1
                return None if i < 0 else self.decoder.type(i)
            self.misses.append(query)
            self._load()
        return None

    def find_object(self, prog: drgn.Program, name: str, flags: FindObjectFlags,
                    filename: str | None) -> drgn.Object | None:
        if filename is not None:  # not kept: DWARF answers
            self._load()
            return None
        if name not in self.objects:
            self.objects.add(name)
            if self.body is None or name not in self.body["objects"]:
                self.dirty = True
        if not self.loaded and self.body is not None and self.decoder is not None:
            o = self.body["objects"].get(name)
            if o is not None:
                self.hits += 1
                if o[0] is None:  # not in this kernel
                    return None
                want = {"constant": FindObjectFlags.CONSTANT,
                        "function": FindObjectFlags.FUNCTION,
                        "variable": FindObjectFlags.VARIABLE}[o[0]]
                if not flags & want:
                    return None
                t = self.decoder.type(o[1])
                if o[0] == "constant":
                    return drgn.Object(prog, t, o[3])
                if o[2] is None:  # declared without a location: absent, as from DWARF
                    return drgn.Object(prog, t)
                address = o[2] + (self.kaslr_offset if o[3] else 0)
                return drgn.Object(prog, t, address=address & 0xFFFFFFFFFFFFFFFF)
            self.misses.append(name)
            self._load()
        return None

    def _load(self) -> None:
        if self.loaded or self.loading or self.loader is None or self.stubbed:
            return
        self.loading = True
        try:
            self.loader()
            self.loaded = True
        finally:
            self.loading = False

    # the file ----------------------------------------------------------------
    def body_from(self, prog: drgn.Program) -> dict[str, Any]:
        """What the program asked for, from its (loaded) debug info, merged
        with what the file already held."""
        old = self.body or {"types": {}, "objects": {}}
        enc = _Encoder()
        types: dict[str, int] = {}
        objects: dict[str, tuple[Any, ...]] = {}
        # the names looked up first: their definitions are drgn's prog.type()'s
        for query in sorted(set(old["types"]) | self.types):
            try:
                types[query] = enc.add(prog.type(query))
            except LookupError:
                types[query] = -1
        image = _image_ranges(prog)
        for name in sorted(set(old["objects"]) | self.objects):
            try:
                obj = prog.object(name)
            except LookupError:
                objects[name] = (None, -1, None, None)
                continue
            kind = _strip_kind(obj.type_)
            if obj.address_ is not None:
                what = "function" if kind == TypeKind.FUNCTION else "variable"
                address = int(obj.address_)
                if any(lo <= address < hi for lo, hi in image):
                    # in the kernel image: moves with KASLR
                    objects[name] = (what, enc.add(obj.type_), address - self.kaslr_offset, 1)
                elif address < _ABSOLUTE:
                    # x86-64's per-CPU variables: offsets, not moved by KASLR
                    objects[name] = (what, enc.add(obj.type_), address, 0)
                # elsewhere (a module's): where it is depends on the boot, not kept
            elif obj.absent_ and kind == TypeKind.FUNCTION:
                # declared in DWARF without a location: drgn's own finder of
                # "vmemmap" asks whether vmemmap_populate exists, an absent
                # function in 7.2.13's DWARF (its body split with a .cold part)
                objects[name] = ("function", enc.add(obj.type_), None, None)
            elif not obj.absent_ and kind in (TypeKind.INT, TypeKind.ENUM, TypeKind.BOOL):
                objects[name] = ("constant", enc.add(obj.type_), None, int(obj.value_()))
            # other values (a drgn-made object without an address): not kept
        ranges: list[tuple[int, int]] = [(lo - self.kaslr_offset, hi - self.kaslr_offset)
                                         for lo, hi in _image_ranges(prog)]
        ranges = ranges or list(old.get("image", []))
        return {"build_id": self.build_id, "types": types, "objects": objects,
                "table": enc.table, "image": ranges}


#: addresses below this are offsets (x86-64 per-CPU variables), the same in every boot
_ABSOLUTE = 1 << 32


def _image_ranges(prog: drgn.Program) -> tuple[tuple[int, int], ...]:
    """The kernel image's address ranges (drgn's main module), KASLR applied."""
    try:
        return tuple(prog.main_module().address_ranges or ())
    except (LookupError, AttributeError):
        return ()


def _strip_kind(t: drgn.Type) -> TypeKind:
    while t.kind == TypeKind.TYPEDEF:
        t = t.type
    return t.kind


def state(prog: drgn.Program) -> _State | None:
    """The layout-cache state of ``prog``; None when it has none."""
    st: _State | None = prog.cache.get(_KEY)
    return st


def _install(prog: drgn.Program, st: _State) -> None:
    prog.cache[_KEY] = st
    prog.register_type_finder("kmemx-layouts", st.find_type, enable_index=0)
    # after drgn's "linux" finder (vmcoreinfo's objects), before "dwarf"
    enabled = prog.enabled_object_finders()
    at = enabled.index("dwarf") if "dwarf" in enabled else -1
    prog.register_object_finder("kmemx-layouts", st.find_object, enable_index=at)
    _ALIVE[id(prog)] = prog


def attach(prog: drgn.Program, build_id: str, loader: Callable[[], None],
           kaslr_offset: int = 0) -> bool:
    """Answer ``prog``'s type and object lookups from the layout file of
    ``build_id`` instead of loading the debug info, when the file is there
    and sound.

    :param prog: a kernel ``drgn.Program`` whose core dump is set and whose
        debug info is not loaded.
    :param build_id: the vmlinux's GNU build ID (hex).
    :param loader: loads the debug info; called on the first lookup the
        file cannot answer (:func:`ensure_debug_info`).
    :param kaslr_offset: this boot's KASLR offset (VMCOREINFO's
        ``KERNELOFFSET``), added to the kernel image's addresses.
    :returns: True (warm: the debug info is deferred), False when there is
        no usable file (cold: the caller loads the debug info, then calls
        :func:`record`).  A damaged or stale file is removed here so the
        cold run rewrites it.
    """
    try:
        body = load(build_id)
    except LayoutCacheError:
        try:
            os.unlink(cache_path(build_id))
        except OSError:
            pass
        return False
    if body is None:
        return False
    st = _State(prog, build_id, loader, kaslr_offset)
    st.body = body
    st.decoder = _Decoder(prog, body["table"])
    _install(prog, st)
    return True


def record(prog: drgn.Program, build_id: str, kaslr_offset: int = 0) -> None:
    """Note every type and object ``prog`` (debug info loaded) is asked for,
    to write them to ``build_id``'s layout file at :func:`save`
    (``kaslr_offset``: this boot's, taken off the kernel image's addresses)."""
    if state(prog) is not None:
        return
    _install(prog, _State(prog, build_id, None, kaslr_offset))


def unwind_file(build_id: str, vmlinux: str) -> str | None:
    """``build_id``'s unwinding file: ``vmlinux`` without its DWARF (``objcopy
    --strip-debug``: the symbol table and the ORC unwind tables stay) plus an
    empty compile unit, so that drgn takes it as the kernel's debug file
    in a few milliseconds.  Made once per build, next to the layout file;
    None when it cannot be made (no objcopy)."""
    import shutil
    import subprocess
    import tempfile

    out = os.path.join(cache_dir(), build_id.lower(), _UNWIND)
    if os.path.exists(out):
        return out
    objcopy = shutil.which("objcopy")
    if objcopy is None:
        return None
    d = os.path.dirname(out)
    os.makedirs(d, exist_ok=True)
    # DWARF 4 compile unit header (version, abbrev offset, address size) and a
    # childless DW_TAG_compile_unit DIE; its abbreviation table
    cu = struct.pack("<HIB", 4, 0, 8) + b"\x01"
    parts = {".debug_info": struct.pack("<I", len(cu)) + cu,
             ".debug_abbrev": bytes([1, 0x11, 0, 0, 0, 0])}
    with tempfile.TemporaryDirectory(dir=d) as tmp:
        args = [objcopy, "--strip-debug"]
        for name, data in parts.items():
            path = os.path.join(tmp, name.lstrip("."))
            with open(path, "wb") as f:
                f.write(data)
            args += ["--add-section", f"{name}={path}"]
        target = os.path.join(tmp, _UNWIND)
        done = subprocess.run([*args, vmlinux, target], capture_output=True, check=False)
        if done.returncode != 0:
            return None
        os.replace(target, out)
    return out


def attach_unwinder(prog: drgn.Program) -> bool:
    """Give ``prog``, running on the layout cache with its DWARF deferred,
    the kernel's symbol table and ORC unwind tables without DWARF
    (:func:`unwind_file`), so that stack traces unwind and frames have
    their function symbols; inlined frames are not seen (as in crash's
    ``bt``).  After this, the DWARF can no longer be loaded into ``prog``:
    call it last, when no other lookup will follow.

    :returns: False when ``prog`` is not deferred (its debug info is loaded:
        use it) or the file cannot be made; the caller then needs
        :func:`ensure_debug_info`.
    """
    st = state(prog)
    if st is None or st.loaded or st.vmlinux is None or st.body is None:
        return False
    image = st.body.get("image") or []
    path = unwind_file(st.build_id, st.vmlinux)
    if path is None or not image:
        return False
    try:
        m = prog.main_module("kernel", create=True)
        lo, hi = image[0]
        m.address_range = (lo + st.kaslr_offset, hi + st.kaslr_offset)
        m.build_id = bytes.fromhex(st.build_id)
        m.try_file(path)
        ok = m.debug_file_path is not None
    except (LookupError, ValueError, OSError, AttributeError):
        return False
    st.stubbed = ok
    return ok


def load_debug_info(prog: drgn.Program, vmlinux: str, dump_build_id: str | None,
                    loader: Callable[[], None], kaslr_offset: int = 0) -> bool:
    """Load ``prog``'s debug info through the layout cache of ``vmlinux``'s
    build: deferred when the cache is warm (:func:`attach`), else loaded now
    with ``loader`` and recorded (:func:`record`).

    :param vmlinux: the vmlinux file whose debug info ``loader`` loads.
    :param dump_build_id: the dump's kernel build ID (VMCOREINFO's), when
        known: a vmlinux of another build is not looked up in the cache
        (``loader`` then raises the mismatch).
    :param loader: loads the debug info; its errors propagate.
    :param kaslr_offset: the dump's KASLR offset (VMCOREINFO's ``KERNELOFFSET``).
    :returns: whether the debug info was deferred.
    """
    from ..buildid import elf_build_id

    try:
        bid = elf_build_id(vmlinux)
    except (OSError, ValueError):
        bid = None
    if bid is None or (dump_build_id is not None and dump_build_id.lower() != bid):
        loader()
        return False
    if attach(prog, bid, loader, kaslr_offset):
        st = state(prog)
        if st is not None:
            st.vmlinux = vmlinux
        return True
    loader()
    record(prog, bid, kaslr_offset)
    return False


def is_deferred(prog: drgn.Program) -> bool:
    """Whether ``prog`` runs on the layout file with its debug info not
    loaded yet."""
    st = state(prog)
    return st is not None and not st.loaded


def ensure_debug_info(prog: drgn.Program) -> None:
    """Load ``prog``'s deferred debug info now (a no-op when it is loaded or
    was never deferred): before stack traces, symbols of modules, or
    anything else the layout file does not hold."""
    st = state(prog)
    if st is not None:
        st._load()


def save(prog: drgn.Program) -> str | None:
    """Write what ``prog`` looked up to its layout file when there is
    something new; the file's path, or None when nothing was written.
    Loads the debug info if it was deferred (only when something new was
    asked for, and then it was loaded already by that lookup)."""
    st = state(prog)
    if st is None or not st.dirty or st.stubbed:
        return None
    ensure_debug_info(prog)
    if not st.loaded:
        return None
    body = st.body_from(prog)
    path = _write(st.build_id, body)
    st.body, st.dirty = body, False
    return path


def close(prog: drgn.Program) -> None:
    """:func:`save` ``prog`` and forget it (``Kernel.close()``); a damaged
    cache directory is never an error here."""
    if _ALIVE.pop(id(prog), None) is None:
        return
    try:
        save(prog)
    except (OSError, LookupError, ValueError, drgn.FaultError):
        pass


#: programs with a layout-cache state not closed yet, saved at exit
#: (drgn Programs cannot be weakly referenced: :func:`close` drops them)
_ALIVE: dict[int, drgn.Program] = {}


@atexit.register
def _save_all() -> None:
    """Programs still open at exit are saved (one-shot commands)."""
    for prog in list(_ALIVE.values()):
        try:
            close(prog)
        except Exception:  # never a traceback at exit over a cache
            pass
