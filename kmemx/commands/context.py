"""What a running command sees: the kernel, the registry, cancellation, progress."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .registry import REGISTRY, Registry

if TYPE_CHECKING:
    from ..kernel import Kernel

__all__ = ["Context"]


class Context:
    """Per-invocation state handed to commands.

    ``errors`` collects one-line problems a command survived (a bad object in
    a long walk); the output layer reports them after the result.
    """

    def __init__(self, k: Kernel, registry: Registry | None = None,
                 progress: Callable[[str, int, int], None] | None = None) -> None:
        self.k = k
        self.prog = k.prog
        self.registry = registry or REGISTRY
        self._progress = progress
        self.errors: list[str] = []
        #: the output will be JSON (``--json``): commands that print text
        #: (trees, struct dumps) yield rows instead
        self.as_json = False

    def progress(self, what: str, done: int, total: int = 0) -> None:
        """Report progress of a long walk (the REPL shows it; ^C stops it)."""
        if self._progress is not None:
            self._progress(what, done, total)

    def warn(self, message: str) -> None:
        """Record a problem the command survived; shown after its output."""
        if len(self.errors) < 1000:
            self.errors.append(message)

    def view(self, type: Any, address: int) -> Any:
        return self.k.view(type, address)
