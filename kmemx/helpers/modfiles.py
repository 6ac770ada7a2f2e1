"""A loaded module's object file (``MODULE.ko``) found on disk and handed to
drgn, as crash's ``mod -s`` / ``mod -S`` load them."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import drgn

__all__ = ["ModuleFile", "module_object_dirs", "module_object_files", "module_try_file"]

#: suffixes crash and kmod try, in order (drgn reads uncompressed ELF only)
_SUFFIXES = (".ko", ".ko.debug", ".o")


def module_object_dirs(prog: drgn.Program) -> list[Path]:
    """The directories searched for a module's object file when none is
    given, crash's order then drgn's: ``/lib/modules/RELEASE`` of this
    machine, the directory holding the kernel's debug file (``vmlinux``),
    then each of drgn's debug directories (``prog.debug_info_options``) with
    ``lib/modules/RELEASE`` under it (``/usr/lib/debug/lib/modules/RELEASE``:
    Debian's and Fedora's -dbg/-debuginfo packages).  Directories that do
    not exist are left out."""
    release = prog["UTS_RELEASE"].string_().decode() if _has(prog, "UTS_RELEASE") else \
        prog["init_uts_ns"].name.release.string_().decode()
    dirs = [Path("/lib/modules") / release]
    try:
        vmlinux = prog.main_module().debug_file_path
    except LookupError:
        vmlinux = None
    if vmlinux:
        dirs.append(Path(vmlinux).resolve().parent)
    for d in prog.debug_info_options.directories:
        dirs.append(Path(d) / "lib/modules" / release)
        dirs.append(Path(d) / "usr/lib/modules" / release)
    seen: set[Path] = set()
    out = []
    for d in dirs:
        if d not in seen and d.is_dir():
            seen.add(d)
            out.append(d)
    return out


def _has(prog: drgn.Program, name: str) -> bool:
    try:
        prog[name]
        return True
    except KeyError:
        return False


def module_object_files(name: str, dirs: Iterable[Path]) -> Iterator[Path]:
    """Files named after module ``name`` (``char module.name[]``) under
    ``dirs``, recursively, in directory order: ``NAME.ko`` (``.ko.debug``,
    ``.o``), ``-`` and ``_`` taken as the same (kmod's rule: ``dm-mod.ko``
    is the module ``dm_mod``)."""
    want = {name.replace("-", "_") + s for s in _SUFFIXES}
    for d in dirs:
        for root, _subdirs, files in os.walk(d):
            for f in sorted(files):
                if f.replace("-", "_") in want:
                    yield Path(root) / f


@dataclass(frozen=True)
class ModuleFile:
    """What drgn took from a file for a module: its symbols (``loaded``,
    drgn's loaded file) and/or its DWARF (``debug``)."""

    path: Path
    loaded: bool
    debug: bool


def module_try_file(module: drgn.Object, path: os.PathLike[str] | str) -> ModuleFile:
    """Give ``path`` to drgn for ``module`` (``struct module *``) as
    ``Module.try_file()`` does, wanting its symbol table even on a dump
    (where drgn reads module text from memory and wants no loaded file) and
    its debug info.  drgn takes the file only if it is this module's build
    (build ID and sections).  Returns what drgn took; raises ``LookupError``
    for a module drgn does not know."""
    prog = module.prog_
    mod = prog.linux_kernel_loadable_module(module)
    dont_need = mod.loaded_file_status == drgn.ModuleFileStatus.DONT_NEED
    if dont_need:
        mod.loaded_file_status = drgn.ModuleFileStatus.WANT
    p = str(path)
    mod.try_file(p)
    if dont_need and mod.loaded_file_status == drgn.ModuleFileStatus.WANT:
        mod.loaded_file_status = drgn.ModuleFileStatus.DONT_NEED  # not taken
    return ModuleFile(Path(path), mod.loaded_file_path == p, mod.debug_file_path == p)
