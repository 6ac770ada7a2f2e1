"""Find a dump's vmlinux by its kernel's build ID.

The dump's build ID is VMCOREINFO's ``BUILD-ID=`` line; a vmlinux's is its
``NT_GNU_BUILD_ID`` note (:func:`kmemx.buildid.elf_build_id`).  Candidates,
in order: the ``-s`` files, then in each debug directory the
``.build-id/xx/rest.debug`` file of the ID (the layout of
``/usr/lib/debug``; the directory may also be the ``.build-id`` directory
itself), then any file named ``vmlinux*`` under the directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from ..buildid import elf_build_id

__all__ = ["VmlinuxIndex"]


class VmlinuxIndex:
    """The vmlinux files given to ``kmemx triage``, looked up by build ID.
    Build IDs are read once per file, and the directories are walked only
    when a build ID is not found by its ``.build-id`` path."""

    def __init__(self, symbols: list[str], debug_dirs: list[str]) -> None:
        self.symbols = [os.path.abspath(s) for s in symbols]
        self.debug_dirs = [os.path.abspath(d) for d in debug_dirs]
        self._ids: dict[str, str | None] = {}
        self._walked: list[str] | None = None

    def build_id(self, path: str) -> str | None:
        """The build ID of ``path`` (cached), None when it has none."""
        if path not in self._ids:
            self._ids[path] = elf_build_id(path)
        return self._ids[path]

    def _by_layout(self, build_id: str) -> Iterator[str]:
        rest = f"{build_id[:2]}/{build_id[2:]}.debug"
        for d in self.debug_dirs:
            yield os.path.join(d, ".build-id", rest)
            yield os.path.join(d, rest)

    def _plain(self) -> list[str]:
        if self._walked is None:
            self._walked = []
            for d in self.debug_dirs:
                for root, dirs, files in os.walk(d):
                    dirs[:] = sorted(x for x in dirs if x != ".build-id")
                    self._walked += [os.path.join(root, f) for f in sorted(files)
                                     if f.startswith("vmlinux")]
        return self._walked

    def find(self, build_id: str) -> str | None:
        """The first candidate whose build ID is ``build_id`` (hex), else None."""
        want = build_id.lower()
        for path in self.symbols:
            if self.build_id(path) == want:
                return path
        for path in self._by_layout(want):
            if os.path.isfile(path) and self.build_id(path) == want:
                return path
        for path in self._plain():
            if self.build_id(path) == want:
                return path
        return None

    def describe(self) -> str:
        """Where :meth:`find` looked, for an error message."""
        parts = [f"{len(self.symbols)} -s file{'s' if len(self.symbols) != 1 else ''}"]
        if self.debug_dirs:
            parts.append("--debug-dir " + ", ".join(self.debug_dirs))
        return " and ".join(parts)
