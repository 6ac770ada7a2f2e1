"""Read the doctor's inputs relative to a root directory, never raising.

Every path the doctor looks at (``/proc``, ``/sys``, ``/boot``, ``/dev``, ...) goes
through :class:`Tree`, so ``--root DIR`` diagnoses a copied or synthetic tree.
Each read returns a :class:`Read` that holds either the data or the reason it
could not be read (an errno name such as ``ENOENT`` or ``EACCES``).
"""

from __future__ import annotations

import errno
import gzip
import os
import re
import stat
import zlib
from dataclasses import dataclass

__all__ = ["Node", "Read", "Tree"]

_MAX_TEXT = 8 << 20  # no input the doctor reads is legitimately bigger than this
_MAX_KMSG_RECORDS = 100_000
_KMSG_PREFIX = re.compile(r"^\d+,\d+,\d+,[^;]*;")


def _errname(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        return errno.errorcode.get(exc.errno, f"errno {exc.errno}")
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class Read:
    """Result of reading one input: ``data`` or an ``error`` such as ``ENOENT``."""

    path: str
    data: bytes | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when the file was read."""
        return self.data is not None

    @property
    def missing(self) -> bool:
        """True when the file does not exist."""
        return self.error in ("ENOENT", "ENOTDIR")

    @property
    def text(self) -> str | None:
        """The data decoded as UTF-8 (undecodable bytes replaced), or None."""
        if self.data is None:
            return None
        return self.data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Node:
    """``stat`` of a path: its kind, device numbers, mode and owner, or an error."""

    path: str
    kind: str  # "missing", "chr", "blk", "file", "dir", "other", "error"
    major: int = -1
    minor: int = -1
    mode: int = 0
    uid: int = -1
    gid: int = -1
    size: int = 0
    error: str = ""

    @property
    def present(self) -> bool:
        """True for anything that exists."""
        return self.kind not in ("missing", "error")


class Tree:
    """A root directory; all paths given to its methods are absolute inside it."""

    def __init__(self, root: str = "/") -> None:
        self.root = os.path.abspath(root or "/")

    @property
    def is_live(self) -> bool:
        """True when the tree is the running system's own ``/``."""
        return self.root == "/"

    def path(self, rel: str) -> str:
        """Host path of ``rel`` (an absolute path inside the tree)."""
        return os.path.join(self.root, rel.lstrip("/"))

    def read(self, rel: str, limit: int = _MAX_TEXT) -> Read:
        """Read at most ``limit`` bytes of ``rel``."""
        try:
            with open(self.path(rel), "rb") as handle:
                return Read(rel, handle.read(limit))
        except (OSError, ValueError) as exc:
            return Read(rel, None, _errname(exc))

    def read_at(self, rel: str, offset: int, size: int) -> Read:
        """Read ``size`` bytes at ``offset`` (short reads are returned as is)."""
        try:
            fd = os.open(self.path(rel), os.O_RDONLY | os.O_CLOEXEC)
        except (OSError, ValueError) as exc:
            return Read(rel, None, _errname(exc))
        try:
            return Read(rel, os.pread(fd, size, offset))
        except (OSError, ValueError, OverflowError) as exc:
            return Read(rel, None, _errname(exc))
        finally:
            os.close(fd)

    def read_gzip(self, rel: str) -> Read:
        """Read and gunzip ``rel`` (for ``/proc/config.gz``)."""
        raw = self.read(rel)
        if raw.data is None:
            return raw
        try:
            return Read(rel, gzip.decompress(raw.data))
        except (OSError, EOFError, zlib.error) as exc:
            return Read(rel, None, f"not valid gzip: {exc}")

    def node(self, rel: str) -> Node:
        """``stat`` of ``rel``, following symlinks."""
        try:
            st = os.stat(self.path(rel))
        except FileNotFoundError:
            return Node(rel, "missing", error="ENOENT")
        except NotADirectoryError:
            return Node(rel, "missing", error="ENOTDIR")
        except (OSError, ValueError) as exc:
            return Node(rel, "error", error=_errname(exc))
        if stat.S_ISCHR(st.st_mode):
            kind = "chr"
        elif stat.S_ISBLK(st.st_mode):
            kind = "blk"
        elif stat.S_ISREG(st.st_mode):
            kind = "file"
        elif stat.S_ISDIR(st.st_mode):
            kind = "dir"
        else:
            kind = "other"
        special = kind in ("chr", "blk")
        return Node(
            rel,
            kind,
            major=os.major(st.st_rdev) if special else -1,
            minor=os.minor(st.st_rdev) if special else -1,
            mode=stat.S_IMODE(st.st_mode),
            uid=st.st_uid,
            gid=st.st_gid,
            size=st.st_size,
        )

    def exists(self, rel: str) -> bool:
        """True when ``rel`` exists (symlinks followed)."""
        return self.node(rel).present

    def listdir(self, rel: str) -> list[str] | None:
        """Sorted entries of directory ``rel``, or None if it cannot be listed."""
        try:
            return sorted(os.listdir(self.path(rel)))
        except (OSError, ValueError):
            return None

    def read_kmsg(self, rel: str = "/dev/kmsg") -> Read:
        """Read the kernel log from ``/dev/kmsg`` without blocking.

        On a live system ``/dev/kmsg`` returns one record per read and EAGAIN at
        the end; in a copied tree it is a plain file.  Record prefixes
        (``pri,seq,ts,flags;``) are stripped, so the result is message lines.
        Reading needs CAP_SYSLOG when ``kernel.dmesg_restrict`` is 1.
        """
        try:
            fd = os.open(self.path(rel), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, ValueError) as exc:
            return Read(rel, None, _errname(exc))
        chunks: list[bytes] = []
        try:
            for _ in range(_MAX_KMSG_RECORDS):
                try:
                    chunk = os.read(fd, 16384)
                except BlockingIOError:
                    break
                except OSError as exc:
                    if exc.errno == errno.EPIPE:  # record overwritten: keep going
                        continue
                    if not chunks:
                        return Read(rel, None, _errname(exc))
                    break
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(fd)
        lines: list[str] = []
        for line in b"".join(chunks).decode("utf-8", errors="replace").splitlines():
            if not line or line.startswith(" "):  # continuation "KEY=value" lines
                continue
            lines.append(_KMSG_PREFIX.sub("", line, count=1))
        return Read(rel, "\n".join(lines).encode())
