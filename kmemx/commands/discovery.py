"""Plugin discovery: built-ins and third-party plugins load the same way.

Plugins are modules found through the entry-point group ``kmemx.plugins`` and
through ``KMEMX_PLUGINS`` (``os.pathsep``-separated ``.py`` files or
directories of them).  A plugin that fails to import is reported in one line
and skipped.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

__all__ = ["LoadedPlugin", "load_plugins", "loaded_plugins"]


@dataclass
class LoadedPlugin:
    name: str
    source: str  # entry point "module" or file path
    ok: bool
    error: str = ""


_LOADED: list[LoadedPlugin] = []
_DONE = False


def _one_line(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0] if msg else ''}".rstrip(": ")


def _load_file(path: Path) -> LoadedPlugin:
    name = f"kmemx_user_plugin_{path.stem}"
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return LoadedPlugin(path.stem, str(path), True)
    except Exception as e:
        sys.modules.pop(name, None)
        return LoadedPlugin(path.stem, str(path), False, _one_line(e))


def load_plugins(extra_paths: str | None = None) -> list[LoadedPlugin]:
    """Import every plugin once; returns what was loaded (and what failed)."""
    global _DONE
    if _DONE:
        return list(_LOADED)
    _DONE = True
    for ep in sorted(entry_points(group="kmemx.plugins"), key=lambda e: e.name):
        try:
            importlib.import_module(ep.value.split(":")[0])
            _LOADED.append(LoadedPlugin(ep.name, ep.value, True))
        except Exception as e:
            _LOADED.append(LoadedPlugin(ep.name, ep.value, False, _one_line(e)))
    paths = extra_paths if extra_paths is not None else os.environ.get("KMEMX_PLUGINS", "")
    for p in filter(None, paths.split(os.pathsep)):
        path = Path(p).expanduser()
        files = sorted(path.glob("*.py")) if path.is_dir() else [path]
        for f in files:
            if not f.exists():
                _LOADED.append(LoadedPlugin(f.stem, str(f), False, "No such file"))
                continue
            _LOADED.append(_load_file(f))
    return list(_LOADED)


def loaded_plugins() -> list[LoadedPlugin]:
    return list(_LOADED)
