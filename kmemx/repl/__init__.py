"""The kmemx REPL: Python with drgn's namespace, ``%`` commands, completion
from type information, highlighting, history and a pager.

Modules, one job each: :mod:`.config` (settings file), :mod:`.namespace`
(globals), :mod:`.names` (cached symbol/type lists), :mod:`.members` and
:mod:`.completion` (completion), :mod:`.catalog` (what commands take),
:mod:`.lexers` (highlighting), :mod:`.editing` (multi-line input),
:mod:`.history`, :mod:`.evaluator` (running Python), :mod:`.output` (colour
and pager), :mod:`.magics` (``%debug``, ``%set``), :mod:`.lines` (command
line or Python: the rule, for piped stdin too) and :mod:`.session` (the
loop).  Importing the package is cheap: prompt_toolkit loads with
:mod:`.session`, when a session starts.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

from .config import ReplConfig, load_config

if TYPE_CHECKING:
    from .session import Repl

__all__ = ["Repl", "ReplConfig", "load_config", "run"]


def __getattr__(name: str) -> Any:
    if name == "Repl":
        from .session import Repl

        return Repl
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run(k: Any, *, as_json: bool = False, config: ReplConfig | None = None) -> int:
    """Run the REPL on ``k`` until the user exits; returns the exit status."""
    from .session import Repl

    warnings: list[str] = []
    if config is None:
        config, warning = load_config()
        if warning:
            warnings.append(warning)
    if as_json:
        config.json = True
    # ^C interrupts a statement or command even when kmemx was started with SIGINT
    # ignored (a background job of a non-interactive shell, some CI runners): Python
    # installs its KeyboardInterrupt handler only when SIGINT is at its default.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return Repl(k, config, warnings=warnings).run()
