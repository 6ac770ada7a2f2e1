"""CPU masks (include/linux/cpumask.h) over kmemx's memory.

The same answers as :mod:`drgn.helpers.linux.cpumask`, read with one
``read()`` of the mask's words; importing this module costs nothing, where
any ``drgn.helpers.linux`` module imports all of them (a tenth of a second at
a one-shot command's start-up).
"""

from __future__ import annotations

from collections.abc import Iterator

import drgn

from ..kernel import Kernel
from ..types.view import View

__all__ = [
    "cpu_mask",
    "for_each_cpu",
    "for_each_online_cpu",
    "for_each_possible_cpu",
    "for_each_present_cpu",
    "num_possible_cpus",
]


def _nr_cpu_ids(k: Kernel) -> int:
    cached: int | None = k.prog.cache.get("kmemx.helpers.cpumask.nr_cpu_ids")
    if cached is None:
        try:
            cached = int(k.object("nr_cpu_ids"))
        except LookupError:  # CONFIG_SMP=n: one CPU (drgn's for_each_cpu too)
            cached = 1
        k.prog.cache["kmemx.helpers.cpumask.nr_cpu_ids"] = cached
    return cached


def cpu_mask(k: Kernel, which: str) -> View:
    """The kernel's ``struct cpumask`` of ``which`` CPUs: ``"possible"``,
    ``"online"`` or ``"present"`` (``cpu_possible_mask`` & co).

    Since v4.5 (c4c54dd1caf1, "kernel/cpu.c: change type of cpu_possible_bits
    and friends") the masks are ``struct cpumask __cpu_possible_mask``; before
    it ``struct cpumask *cpu_possible_mask``.

    :raises LookupError: the kernel has no such mask.
    """
    try:
        v: View = k.object(f"__cpu_{which}_mask")
    except LookupError:
        v = k.object(f"cpu_{which}_mask").deref()
    return v


def for_each_cpu(mask: View) -> Iterator[int]:
    """The CPUs set in ``mask`` (``struct cpumask``), below ``nr_cpu_ids``,
    ascending (``for_each_cpu()``).

    :raises drgn.FaultError: the mask cannot be read.
    """
    k = mask.k
    n = _nr_cpu_ids(k)
    raw = k.read(mask.address, (n + 63) // 64 * 8)
    little = bool(k.prog.platform.flags & drgn.PlatformFlags.IS_LITTLE_ENDIAN)
    # unsigned long words: on a little-endian machine, bit n of the mask is bit n of the bytes
    bits = int.from_bytes(raw, "little") if little else sum(
        int.from_bytes(raw[i:i + 8], "big") << (8 * i) for i in range(0, len(raw), 8))
    cpu = 0
    while bits and cpu < n:
        if bits & 1:
            yield cpu
        bits >>= 1
        cpu += 1


def for_each_possible_cpu(k: Kernel) -> Iterator[int]:
    """``for_each_possible_cpu()``: every CPU the kernel may ever bring up."""
    return for_each_cpu(cpu_mask(k, "possible"))


def for_each_online_cpu(k: Kernel) -> Iterator[int]:
    """``for_each_online_cpu()``: the CPUs online at the time of the dump."""
    return for_each_cpu(cpu_mask(k, "online"))


def for_each_present_cpu(k: Kernel) -> Iterator[int]:
    """``for_each_present_cpu()``: the CPUs present in the machine."""
    return for_each_cpu(cpu_mask(k, "present"))


def num_possible_cpus(k: Kernel) -> int:
    """``num_possible_cpus()``: how many CPUs are possible."""
    return sum(1 for _ in for_each_possible_cpu(k))
