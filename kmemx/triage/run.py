"""Triage many dumps: in parallel processes, remembered in a JSON-lines file."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

from .collect import triage_path
from .record import Record

__all__ = ["dump_key", "load_jsonl", "triage"]


def dump_key(path: str) -> tuple[str, int, int] | None:
    """``(absolute path, size, st_mtime_ns)`` of ``path``, None if it is not there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (os.path.abspath(path), st.st_size, st.st_mtime_ns)


def load_jsonl(path: str) -> dict[tuple[str, int, int], Record]:
    """The records of a ``--jsonl`` file by key, the last one of a key winning;
    an empty dict when there is no file.  A line that is not a record (an
    interrupted write) is skipped."""
    out: dict[tuple[str, int, int], Record] = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    data = json.loads(line)
                    rec = Record.from_dict(data)
                except (ValueError, TypeError):
                    continue
                out[rec.key] = rec
    except FileNotFoundError:
        pass
    return out


def _results(paths: list[str], symbols: list[str], debug_dirs: list[str],
             jobs: int) -> Iterator[tuple[int, Record]]:
    """``(index into paths, record)`` as each dump is done."""
    if jobs <= 1 or len(paths) <= 1:
        for i, p in enumerate(paths):
            yield i, Record.from_dict(triage_path(p, symbols, debug_dirs))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn: workers start clean, with no state of this process (drgn, threads)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(paths)), mp_context=ctx) as pool:
        futures = {pool.submit(triage_path, p, symbols, debug_dirs): i
                   for i, p in enumerate(paths)}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                data: dict[str, Any] = fut.result()
                rec = Record.from_dict(data)
            except Exception as e:  # the worker died (a signal in drgn's C code)
                rec = Record(os.path.abspath(paths[i]), error=f"{paths[i]}: worker failed: "
                             f"{type(e).__name__}: {e}".splitlines()[0])
            yield i, rec


def triage(paths: list[str], symbols: list[str] | None = None,
           debug_dirs: list[str] | None = None, jobs: int = 1, jsonl: str | None = None,
           progress: Callable[[Record], None] | None = None) -> list[Record]:
    """The records of ``paths``, in their order.

    :param symbols: vmlinux files (``-s``), matched to dumps by build ID.
    :param debug_dirs: directories searched for vmlinux files (``--debug-dir``).
    :param jobs: worker processes (1: this process).
    :param jsonl: a JSON-lines file: each new record is appended as soon as it
        is made, and dumps that already have a record there without an error
        (same path, size and mtime) are not triaged again; their stored
        record is returned.
    :param progress: called with each record as it is done (stored ones too).
    """
    syms, dirs = list(symbols or []), list(debug_dirs or [])
    done = load_jsonl(jsonl) if jsonl else {}
    records: list[Record | None] = [None] * len(paths)
    todo: list[int] = []
    for i, p in enumerate(paths):
        key = dump_key(p)
        old = done.get(key) if key is not None else None
        if old is not None and old.error is None:
            records[i] = old
            if progress:
                progress(old)
        else:
            todo.append(i)
    out = open(jsonl, "a", encoding="utf-8") if jsonl else None
    try:
        for j, rec in _results([paths[i] for i in todo], syms, dirs, jobs):
            records[todo[j]] = rec
            if out is not None:
                out.write(json.dumps(rec.to_dict(), ensure_ascii=True) + "\n")
                out.flush()
            if progress:
                progress(rec)
    finally:
        if out is not None:
            out.close()
    return [r for r in records if r is not None]
