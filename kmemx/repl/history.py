"""Persistent input history with a size limit.

prompt_toolkit's :class:`~prompt_toolkit.history.FileHistory` appends
forever; :class:`BoundedHistory` loads only the newest ``size`` entries and
rewrites the file when it has grown well past that.  An unwritable history
file turns history persistence off instead of failing the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from prompt_toolkit.history import FileHistory, History, InMemoryHistory

__all__ = ["BoundedHistory", "make_history"]


class BoundedHistory(FileHistory):
    """A :class:`FileHistory` that keeps at most ``size`` entries."""

    def __init__(self, filename: str | os.PathLike[str], size: int) -> None:
        super().__init__(filename)
        self.size = size
        self.error: str | None = None

    def load_history_strings(self) -> Iterable[str]:
        strings = list(super().load_history_strings())  # newest first
        if len(strings) > self.size + max(100, self.size // 4):
            self._rewrite(strings[: self.size])
        return strings[: self.size]

    def _rewrite(self, newest_first: list[str]) -> None:
        tmp = os.fsdecode(self.filename) + ".tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                for s in reversed(newest_first):
                    f.write("\n# kmemx\n")
                    for line in s.split("\n"):
                        f.write(f"+{line}\n")
            os.replace(tmp, self.filename)
        except OSError as e:
            self.error = f"cannot trim history: {e.strerror}"

    def store_string(self, string: str) -> None:
        if self.size == 0:
            return
        try:
            super().store_string(string)
        except OSError as e:
            self.error = f"cannot save history: {e.strerror}"


def make_history(path: Path | None, size: int) -> tuple[History, str | None]:
    """The history for a session and a one-line warning when the file is unusable."""
    if path is None or size == 0:
        return InMemoryHistory(), None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as e:
        return InMemoryHistory(), f"{path}: {e.strerror}; history will not be saved"
    return BoundedHistory(path, size), None
