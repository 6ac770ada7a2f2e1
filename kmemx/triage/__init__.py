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
    CONSEQUENTIAL_PANIC,
    PLUMBING_FRAMES,
    SIGNATURE_DEPTH,
    Cluster,
    HungTask,
    Record,
    SlabUsage,
    clusters,
    frame_name,
    message_of,
    signature,
)
from .run import load_jsonl, triage
from .vmlinux import VmlinuxIndex

__all__ = [
    "CONSEQUENTIAL_PANIC",
    "PLUMBING_FRAMES",
    "SIGNATURE_DEPTH",
    "Cluster",
    "HungTask",
    "Record",
    "SlabUsage",
    "VmlinuxIndex",
    "clusters",
    "frame_name",
    "load_jsonl",
    "message_of",
    "signature",
    "triage",
    "triage_dump",
]
