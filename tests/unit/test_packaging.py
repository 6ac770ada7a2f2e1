"""Packaging: every kmemx package is installed, and plugins/ maps to kmemx_plugins."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_package_list_is_complete() -> None:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = {str(p.parent.relative_to(ROOT)).replace("/", ".")
             for p in (ROOT / "kmemx").rglob("__init__.py")}
    assert found <= listed, sorted(found - listed)
    assert cfg["package-dir"] == {"kmemx_plugins": "plugins"}
    assert "plugins" not in listed


def test_builtin_plugins_import_as_kmemx_plugins() -> None:
    import kmemx_plugins.core  # noqa: F401
