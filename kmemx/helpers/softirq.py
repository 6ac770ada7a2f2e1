"""Softirqs: the handler of each vector (kernel/softirq.c)."""

from __future__ import annotations

from collections.abc import Iterator

from ..kernel import Kernel

__all__ = ["for_each_softirq_action"]


def for_each_softirq_action(k: Kernel) -> Iterator[tuple[int, int, str | None]]:
    """``(nr, action, name)`` for each softirq vector that has a handler:
    ``softirq_vec[nr].action`` (``void (*)(struct softirq_action *)``, set by
    ``open_softirq()``, kernel/softirq.c) as an address, and the vector's
    name in ``softirq_to_name[]`` (``"TIMER"``; ``None`` without that array),
    ``nr`` from 0 to ``NR_SOFTIRQS - 1``.

    :raises drgn.FaultError: ``softirq_vec`` cannot be read
    """
    vec = k.object("softirq_vec")
    try:
        names = k.object("softirq_to_name")
    except LookupError:
        names = None
    for nr in range(len(vec)):
        action = int(vec[nr].action)
        if not action:
            continue
        name = names[nr].string().decode() if names is not None and names[nr] else None
        yield nr, action, name
