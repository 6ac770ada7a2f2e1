"""Triage many dumps: in parallel processes, remembered in a JSON-lines file."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import KmemxError
from .collect import triage_path
from .record import Record

__all__ = ["DASK_TIMEOUT", "dump_key", "load_jsonl", "triage"]

#: How long ``--scheduler`` waits for the Dask scheduler to answer
DASK_TIMEOUT = "10s"


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


def _failed(path: str, e: BaseException) -> Record:
    """The record of a dump whose worker died (a signal in drgn's C code, a
    lost Dask worker)."""
    return Record(os.path.abspath(path), error=f"{path}: worker failed: "
                  f"{type(e).__name__}: {e}".splitlines()[0])


def _dask_results(paths: list[str], symbols: list[str], debug_dirs: list[str],
                  scheduler: str) -> Iterator[tuple[int, Record]]:
    """:func:`_results` on the Dask distributed cluster whose scheduler is at
    ``scheduler`` (``tcp://host:8786``): one task per dump, on whichever
    worker is free; the workers must see the dumps and vmlinux files at the
    same paths (shared storage)."""
    import importlib

    try:
        # untyped (no stubs): used through Any
        dist: Any = importlib.import_module("distributed")
    except ImportError:
        raise KmemxError("--scheduler needs Dask: pip install 'kmemx[triage]' "
                         "(dask[distributed])") from None
    try:
        client = dist.Client(scheduler, timeout=DASK_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise KmemxError(f"cannot reach the Dask scheduler at {scheduler}: "
                         f"{_one_line(e)}") from None
    try:
        absolute = [os.path.abspath(p) for p in paths]
        syms = [os.path.abspath(s) for s in symbols]
        dirs = [os.path.abspath(d) for d in debug_dirs]
        # pure=False: the same dump given twice is two tasks, as with --jobs
        futures = client.map(triage_path, absolute, symbols=syms, debug_dirs=dirs,
                             pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in dist.as_completed(futures, loop=client.loop):
            i = index[fut.key]
            try:
                rec = Record.from_dict(fut.result())
            except Exception as e:  # the task raised, or its worker was lost
                rec = _failed(paths[i], e)
            yield i, rec
    finally:
        client.close()


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split("\n")).strip()
    return text or type(e).__name__


def _results(paths: list[str], symbols: list[str], debug_dirs: list[str],
             jobs: int, scheduler: str | None = None) -> Iterator[tuple[int, Record]]:
    """``(index into paths, record)`` as each dump is done."""
    if not paths:
        return
    if scheduler is not None:
        yield from _dask_results(paths, symbols, debug_dirs, scheduler)
        return
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
                rec = _failed(paths[i], e)
            yield i, rec


def triage(paths: list[str], symbols: list[str] | None = None,
           debug_dirs: list[str] | None = None, jobs: int = 1, jsonl: str | None = None,
           progress: Callable[[Record], None] | None = None,
           scheduler: str | None = None) -> list[Record]:
    """The records of ``paths``, in their order.

    :param symbols: vmlinux files (``-s``), matched to dumps by build ID.
    :param debug_dirs: directories searched for vmlinux files (``--debug-dir``).
    :param jobs: worker processes (1: this process).
    :param jsonl: a JSON-lines file: each new record is appended as soon as it
        is made, and dumps that already have a record there without an error
        (same path, size and mtime) are not triaged again; their stored
        record is returned.
    :param progress: called with each record as it is done (stored ones too).
    :param scheduler: the address of a Dask distributed scheduler
        (``tcp://host:8786``): the dumps are triaged by its workers instead
        of local processes (``jobs`` is then ignored).  The workers must
        reach the dumps and vmlinux files at the same absolute paths.
    :raises KmemxError: the scheduler cannot be reached, or Dask is not
        installed.
    :raises OSError: the ``jsonl`` file cannot be written.
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
        for j, rec in _results([paths[i] for i in todo], syms, dirs, jobs, scheduler):
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
