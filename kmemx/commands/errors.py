"""Errors commands raise: one line for the user; the REPL goes on."""

from __future__ import annotations

from ..errors import KmemxError

__all__ = ["CommandError", "UsageError"]


class CommandError(KmemxError):
    """A command failed (bad address, unknown pid/cache, ...)."""


class UsageError(CommandError):
    """Bad command line: unknown command or option, missing argument."""
