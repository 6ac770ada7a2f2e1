"""``kmemx triage``: summarise many crash dumps and group them by what hit them.

>>> from kmemx.triage import triage, clusters
>>> records = triage(["vmcore.1", "vmcore.2"], symbols=["vmlinux"], jobs=2)
>>> for c in clusters(records):
...     print(c.count, c.signature, c.message)

Each :class:`Record` is built from kmemx's own commands and helpers (see
:mod:`kmemx.triage.collect`); docs/triage.md describes the fields.
"""

from __future__ import annotations

from .collect import triage_dump
from .record import (
    PLUMBING_FRAMES,
    SIGNATURE_DEPTH,
    Cluster,
    HungTask,
    Record,
    SlabUsage,
    clusters,
    signature,
)
from .run import load_jsonl, triage
from .vmlinux import VmlinuxIndex

__all__ = [
    "PLUMBING_FRAMES",
    "SIGNATURE_DEPTH",
    "Cluster",
    "HungTask",
    "Record",
    "SlabUsage",
    "VmlinuxIndex",
    "clusters",
    "load_jsonl",
    "signature",
    "triage",
    "triage_dump",
]
