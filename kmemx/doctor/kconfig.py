"""Find and parse the running kernel's build configuration (checklist D2).

Sources, first found wins: ``/proc/config.gz`` (``CONFIG_IKCONFIG_PROC``),
``/boot/config-<release>``, ``/lib/modules/<release>/config`` and
``/lib/modules/<release>/build/.config``.  Debian has no ``/proc/config.gz``
but ships ``/boot/config-*``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kmemx.doctor.sysfs import Read, Tree

__all__ = ["KConfig", "find_config", "parse_config"]

_SET = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# CONFIG_([A-Za-z0-9_]+) is not set\s*$")


def parse_config(text: str) -> dict[str, str]:
    """Map option name (without ``CONFIG_``) to its value; ``is not set`` gives ``"n"``.

    String values keep no quotes: ``CONFIG_LSM="a,b"`` gives ``a,b``.
    """
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        match = _SET.match(line)
        if match:
            value = match.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            values[match.group(1)] = value
            continue
        match = _UNSET.match(line)
        if match:
            values[match.group(1)] = "n"
    return values


@dataclass(frozen=True)
class KConfig:
    """A parsed kernel config and where it came from."""

    source: str
    values: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        """Raw value of ``name`` (``"y"``, ``"m"``, ``"n"``, a string), or None if absent."""
        return self.values.get(name)

    def enabled(self, name: str) -> bool | None:
        """True for ``y``/``m``, False for ``is not set``, None when the option is absent.

        An absent option usually means the option does not exist in this kernel
        (every visible option is written out, set or not).
        """
        value = self.values.get(name)
        if value is None:
            return None
        return value not in ("n", "")

    def describe(self, name: str) -> str:
        """``NAME=y``, ``NAME=n`` or ``NAME absent``."""
        value = self.values.get(name)
        return f"{name} absent" if value is None else f"{name}={value}"


def _candidates(release: str | None) -> list[str]:
    paths = ["/proc/config.gz"]
    if release:
        paths += [
            f"/boot/config-{release}",
            f"/lib/modules/{release}/config",
            f"/lib/modules/{release}/build/.config",
        ]
    return paths


def find_config(tree: Tree, release: str | None) -> tuple[KConfig | None, list[str]]:
    """The first readable config for ``release``, plus why each earlier source failed."""
    tried: list[str] = []
    for path in _candidates(release):
        got: Read = tree.read_gzip(path) if path.endswith(".gz") else tree.read(path)
        text = got.text
        if text is None:
            tried.append(f"{path}: {got.error}")
            continue
        values = parse_config(text)
        if not values:
            tried.append(f"{path}: no CONFIG_ lines")
            continue
        return KConfig(path, values), tried
    return None, tried
