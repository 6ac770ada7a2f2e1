"""REPL settings: defaults, ``~/.config/kmemx/config.toml`` and XDG paths.

The config file is optional; every key has a default::

    prompt = ">>> "            # or "kmemx> "
    style = "monokai"          # a pygments style name, for input and output
    color = "auto"             # "auto" (when the terminal is a tty), "always", "never"
    pager = true               # page long output
    pager_command = ""         # default: $PAGER, else "less -R"
    history_size = 10000       # entries kept in ~/.local/state/kmemx/history
    complete_while_typing = false
    traceback = false          # print full tracebacks (else one line; %debug shows it)
    helpers = "drgn"           # which helper wins a name clash: "drgn" or "kmemx"

    [colors]                   # prompt_toolkit style overrides
    prompt = "bold ansigreen"

Python 3.11+ reads it with :mod:`tomllib`; older Pythons use ``tomli`` when
installed and otherwise skip the file.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "ReplConfig", "config_path", "history_path", "load_config",
           "parse_config"]


class ConfigError(ValueError):
    """The config file is unreadable or has a bad value (one line)."""


@dataclass
class ReplConfig:
    """Settings of one REPL session (``%set`` changes some at run time)."""

    prompt: str = ">>> "
    continuation: str = "... "
    style: str = "monokai"
    color: str = "auto"
    pager: bool = True
    pager_command: str = ""
    history_size: int = 10000
    complete_while_typing: bool = False
    traceback: bool = False
    helpers: str = "drgn"
    json: bool = False
    colors: dict[str, str] = field(default_factory=dict)
    #: where the history lives; None: no persistent history
    history_file: Path | None = None

    def pager_argv(self) -> str:
        """The pager command line: the setting, else ``$PAGER``, else ``less -R``."""
        return self.pager_command or os.environ.get("PAGER", "") or "less -R"


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var, "")
    return Path(value) if value else Path(default).expanduser()


def config_path() -> Path:
    """``$XDG_CONFIG_HOME/kmemx/config.toml`` (default ``~/.config``)."""
    return _xdg("XDG_CONFIG_HOME", "~/.config") / "kmemx" / "config.toml"


def history_path() -> Path:
    """``$XDG_STATE_HOME/kmemx/history`` (default ``~/.local/state``)."""
    return _xdg("XDG_STATE_HOME", "~/.local/state") / "kmemx" / "history"


_BOOLS = ("pager", "complete_while_typing", "traceback", "json")
_STRS = ("prompt", "continuation", "style", "color", "pager_command", "helpers")
_CHOICES = {"color": ("auto", "always", "never"), "helpers": ("drgn", "kmemx")}


def parse_config(data: Mapping[str, Any], base: ReplConfig | None = None) -> ReplConfig:
    """Apply the keys of a parsed config (top level, or a ``[repl]`` table)."""
    cfg = dataclasses.replace(base) if base is not None else ReplConfig()
    merged: dict[str, Any] = dict(data)
    repl = merged.pop("repl", None)
    if isinstance(repl, Mapping):
        merged.update(repl)
    known = {f.name for f in dataclasses.fields(ReplConfig)} - {"history_file"}
    for key, value in merged.items():
        if key not in known:
            raise ConfigError(f"unknown setting '{key}'")
        if key in _BOOLS:
            if not isinstance(value, bool):
                raise ConfigError(f"{key} must be true or false")
        elif key in _STRS:
            if not isinstance(value, str):
                raise ConfigError(f"{key} must be a string")
            if key in _CHOICES and value not in _CHOICES[key]:
                raise ConfigError(f"{key} must be one of {', '.join(_CHOICES[key])}")
        elif key == "history_size":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError("history_size must be a non-negative integer")
        elif key == "colors":
            if not isinstance(value, Mapping) or not all(
                    isinstance(v, str) for v in value.values()):
                raise ConfigError("[colors] must map style classes to strings")
            value = {str(k): str(v) for k, v in value.items()}
        setattr(cfg, key, value)
    return cfg


def _toml_loads(text: str) -> dict[str, Any] | None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.9/3.10
        try:
            import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            return None
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML: {e}") from None
    return data


def load_config(path: Path | None = None) -> tuple[ReplConfig, str | None]:
    """The settings from ``path`` (default :func:`config_path`), and a one-line
    warning when the file was there but could not be used (defaults then)."""
    path = path if path is not None else config_path()
    cfg = ReplConfig(history_file=history_path())
    try:
        text = path.read_text()
    except FileNotFoundError:
        return cfg, None
    except OSError as e:
        return cfg, f"{path}: {e.strerror}; using default settings"
    try:
        data = _toml_loads(text)
        if data is None:
            return cfg, None
        return parse_config(data, cfg), None
    except ConfigError as e:
        return cfg, f"{path}: {e}; using default settings"
