"""The dumps ``kmemx triage`` takes from its arguments: a file as given, a
directory as the vmcore files in it and in its subdirectories one level
down (kdump-tools' ``/var/crash/<timestamp>/``, RHEL's
``/var/crash/<host>-<date>/``)."""

from __future__ import annotations

import os

__all__ = ["DUMP_NAMES", "dump_paths", "is_dump_name"]

#: The names taken from a directory (docs/triage.md): what kdump-tools
#: (``dump.<timestamp>``), RHEL's kdump and makedumpfile (``vmcore``,
#: ``vmcore.flat``, ``vmcore-incomplete``) and kmemx's own test bed
#: (``vmcore.elf``, ``vmcore-panic.elf``, ``vmcore.kdump``) write
DUMP_NAMES = "vmcore, vmcore.*, vmcore-*, dump.*, *.elf, *.kdump, *.vmcore (not *.txt)"


def is_dump_name(name: str) -> bool:
    """Whether a file in a directory is taken as a dump (:data:`DUMP_NAMES`):
    ``vmcore-dmesg.txt`` and kdump-tools' ``dmesg.<timestamp>`` are not."""
    if name.endswith(".txt"):
        return False
    return (name == "vmcore" or name.startswith(("vmcore.", "vmcore-", "dump."))
            or name.endswith((".elf", ".kdump", ".vmcore")))


def _dumps_in(directory: str) -> list[str]:
    """The dump files directly in ``directory``, by name."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [os.path.join(directory, n) for n in names
            if is_dump_name(n) and os.path.isfile(os.path.join(directory, n))]


def dump_paths(arguments: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """``(dumps, problems)`` of ``kmemx triage``'s arguments, in their order.

    :param arguments: file and directory paths as given (``str``).
    :returns: the dump paths: a file argument itself (any name; a missing
        one too, so its record says why), a directory's dumps
        (:func:`is_dump_name`) and then those of each subdirectory, by name;
        and ``(directory, one-line error naming it)`` for each directory
        that holds none or cannot be listed.
    """
    dumps: list[str] = []
    problems: list[tuple[str, str]] = []
    for arg in arguments:
        if not os.path.isdir(arg):
            dumps.append(arg)
            continue
        found = _dumps_in(arg)
        try:
            subdirs = sorted(e.path for e in os.scandir(arg) if e.is_dir())
        except OSError as e:
            problems.append((arg, f"{arg}: {e.strerror or e}"))
            continue
        for sub in subdirs:
            found += _dumps_in(sub)
        if not found:
            problems.append((arg, f"{arg}: no dump in this directory or its "
                                  f"subdirectories (names taken: {DUMP_NAMES})"))
        dumps += found
    return dumps, problems
