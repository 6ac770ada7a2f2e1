"""The REPL's Python namespace: drgn's interactive globals plus kmemx's.

drgn's (``drgn.cli.default_globals``): ``prog``, ``drgn``, ``Object``,
``cast``, ``container_of``..., everything in ``drgn.helpers.common`` and
``drgn.helpers.linux``.  kmemx adds ``k`` (the :class:`~kmemx.Kernel`),
``view`` (drgn Object -> kmemx view), ``kmemx``, ``kx`` (the
:mod:`kmemx.helpers` module) and the names of :mod:`kmemx.helpers`.

Some kmemx helpers have drgn's names (``list_for_each_entry``...) but yield
views, not Objects.  So that code written for drgn keeps working, drgn's
helper wins such a clash by default and kmemx's stays reachable as
``kx.NAME``; ``helpers = "kmemx"`` in the config reverses that.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_namespace", "clashing_helpers"]


def _kmemx_helpers() -> dict[str, Any]:
    import kmemx.helpers as kx

    return {name: getattr(kx, name) for name in getattr(kx, "__all__", ())}


def clashing_helpers(prog: Any) -> list[str]:
    """kmemx helper names that drgn's interactive namespace also defines."""
    import drgn.cli

    drgn_ns = drgn.cli.default_globals(prog)
    return sorted(n for n in _kmemx_helpers() if n in drgn_ns)


def build_namespace(k: Any, helpers: str = "drgn") -> dict[str, Any]:
    """Globals for ``k`` (a :class:`~kmemx.Kernel`); ``helpers`` is ``"drgn"`` or
    ``"kmemx"``: whose helper a shared name means."""
    import drgn.cli

    import kmemx
    import kmemx.helpers as kx

    ns: dict[str, Any] = drgn.cli.default_globals(k.prog)
    ns["__builtins__"] = __builtins__
    for name, value in _kmemx_helpers().items():
        if helpers == "kmemx" or name not in ns:
            ns[name] = value
    ns["k"] = k
    ns["view"] = kmemx.view
    ns["kmemx"] = kmemx
    ns["kx"] = kx
    return ns
