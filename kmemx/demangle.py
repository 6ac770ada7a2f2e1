"""Rust symbol names made readable, for ``log -R`` (crash 9's option).

The kernel's Rust code (6.1 on) is built with v0 mangling (``_RNv...``;
older toolchains' legacy ``_ZN...17h<hash>E``).  kmemx does not demangle
itself: GNU binutils' ``c++filt`` runs libiberty's ``rust_demangle()``, the
demangler crash and gdb link (crash's ``rust_demangle(name, DMGL_RUST)``:
without the crate hashes, ``c++filt -i``), once for all the names of a
command.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence

from .errors import KmemxError

__all__ = ["RUST_SYMBOL", "demangle_rust", "demangle_rust_in_text"]

#: a mangled Rust name in text: v0 (``_R`` then the symbol's characters) or
#: legacy (``_ZN...E``), not inside a word but after ``_`` (crash finds the
#: first ``_R`` anywhere in a name: ``__pfx__RNv...`` keeps ``__pfx_``)
RUST_SYMBOL = re.compile(r"(?<![0-9A-Za-z])(_R[0-9A-Za-z_]+|_ZN[0-9A-Za-z_$.]+E)")


def demangle_rust(names: Sequence[str]) -> list[str | None]:
    """Each of ``names`` demangled as a Rust symbol, or None where it is not
    one (libiberty's ``rust_demangle()`` through one ``c++filt -i -s rust``).

    :raises KmemxError: no ``c++filt`` (GNU binutils) here
    """
    if not names:
        return []
    tool = shutil.which("c++filt")
    if tool is None:
        raise KmemxError("demangling Rust symbols needs c++filt (GNU binutils): "
                         "apt install binutils")
    out = subprocess.run([tool, "-i", "-s", "rust"], input="\n".join(names) + "\n",
                         capture_output=True, text=True, check=False).stdout.split("\n")
    return [d if i < len(out) and (d := out[i]) and d != n else None
            for i, n in enumerate(names)]


def demangle_rust_in_text(lines: Sequence[str]) -> list[str]:
    """``lines`` with every mangled Rust name in them demangled (crash's
    ``log -R``, printk.c dump_record(): ``_RNvCscb18lrEyTSA_10rust_panic10area_in_hp+0xf7/0x120``
    becomes ``rust_panic::area_in_hp+0xf7/0x120``); a name the demangler
    refuses stays as it is.  crash demangles the first name of a record
    only; kmemx each one.

    :raises KmemxError: no ``c++filt`` (GNU binutils) here
    """
    found = sorted({m.group(1) for line in lines for m in RUST_SYMBOL.finditer(line)})
    if not found:
        return list(lines)
    readable = {n: d for n, d in zip(found, demangle_rust(found)) if d is not None}
    return [RUST_SYMBOL.sub(lambda m: readable.get(m.group(1), m.group(1)), line)
            for line in lines]
