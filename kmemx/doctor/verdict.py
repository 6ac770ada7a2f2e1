"""Turn outcomes and checks into the verdict, kmemx's readers and the remedies (D12).

The verdict is computed, never chosen: the best access path whose outcome is
known to work wins, in the order mmap of RAM, read of /dev/mem, /proc/kcore.
Probe results replace predictions here ("the probe wins").
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, replace

from kmemx.doctor.model import Check, Op, Outcome, Status, Target, Verdict
from kmemx.doctor.predict import KCORE, KMEM, MEM, Prediction

__all__ = ["Decision", "decide", "merge", "remedies"]


def _disagrees(predicted: Outcome, probed: Outcome) -> bool:
    if predicted.ok is None:
        return False
    if predicted.ok != probed.ok:
        return True
    return predicted.ok is False and bool(predicted.errno) and predicted.errno != probed.errno


def merge(
    prediction: Prediction, observed: list[Outcome]
) -> tuple[list[Outcome], list[str], set[str]]:
    """Effective outcomes with probe results in place of predictions.

    Returns the outcomes, one sentence per disagreement, and the names of the
    checks whose predicted refusal the probe contradicted.
    """
    opens = dict(prediction.opens)
    rules = dict(prediction.rules)
    predicted = {o.key: o for o in prediction.outcomes()}
    disagreements: list[str] = []
    overturned: set[str] = set()
    for probed in observed:
        before = predicted.get(probed.key)
        if before is not None and before.ok is not None and not _disagrees(before, probed):
            probed = replace(
                probed,
                cause=before.cause or probed.cause,
                reason=f"{before.reason} (confirmed by the probe)",
            )
        elif before is not None and _disagrees(before, probed):
            blame = f" from {before.cause}" if before.cause else ""
            disagreements.append(
                f"{probed.key}: predicted {before.result()}{blame} ({before.reason}), but the probe"
                f" got {probed.result()}; the probe wins"
            )
            if before.ok is False and probed.ok and before.cause:
                overturned.add(before.cause)
        if probed.op is Op.OPEN:
            opens[probed.device] = probed
        else:
            rules[(probed.device, probed.op, probed.target)] = probed
    return Prediction(opens, rules).outcomes(), disagreements, overturned


@dataclass(frozen=True)
class Decision:
    """The verdict, the readers kmemx would use, and why."""

    verdict: Verdict
    readers: tuple[str, ...]
    because: tuple[str, ...]
    primary: tuple[Outcome, ...]


def _line(outcome: Outcome) -> str:
    source = "" if outcome.source == "predicted" else f" [{outcome.source}]"
    return f"{outcome.key}: {outcome.result()}: {outcome.reason}{source}"


def decide(outcomes: list[Outcome]) -> Decision:
    """Pick the verdict from effective outcomes."""
    table = {o.key: o for o in outcomes}

    def get(device: str, op: Op, target: Target = Target.RAM) -> Outcome:
        key = (
            f"{device} {op.value}"
            if op is Op.OPEN or target is Target.NONE
            else (f"{device} {op.value} {target.value}")
        )
        return table[key]

    mem_mmap, mem_read = get(MEM, Op.MMAP), get(MEM, Op.READ)
    kmem_open, kmem_mmap = get(KMEM, Op.OPEN), get(KMEM, Op.MMAP)
    kcore = get(KCORE, Op.OPEN, Target.NONE)
    # the order kmemx.target.open_live tries them; drgn's own kcore reader last
    readers: list[str] = []
    if kmem_mmap.ok:
        readers.append("mmap-devkmem")
    if mem_mmap.ok:
        readers.append("mmap-devmem")
    if kcore.ok:
        readers += ["kcore", "drgn"]
    kmem_relevant = kmem_open.ok is not False or kmem_open.errno != errno.ENOENT
    primary: list[Outcome] = []
    if mem_mmap.ok or kmem_mmap.ok:
        verdict = Verdict.MMAP_OK
        primary = [mem_mmap] + ([kmem_mmap] if kmem_mmap.ok else [])
    elif mem_read.ok:
        verdict = Verdict.READ_ONLY_DEVMEM
        primary = [mem_mmap, mem_read, kcore]
    elif kcore.ok:
        verdict = Verdict.KCORE_ONLY
        primary = [mem_mmap] + ([kmem_mmap] if kmem_relevant else []) + [kcore]
    else:
        verdict = Verdict.NONE
        primary = [mem_mmap] + ([kmem_mmap] if kmem_relevant else []) + [kcore]
    return Decision(verdict, tuple(readers), tuple(_line(o) for o in primary), tuple(primary))


def remedies(decision: Decision, checks: list[Check], overturned: set[str]) -> tuple[str, ...]:
    """Remedies, the checks behind the verdict first, then other failing and warning checks."""
    by_name = {c.name: c for c in checks}
    order: list[str] = []
    for outcome in decision.primary:
        if outcome.ok is not True and outcome.cause in by_name:
            order.append(outcome.cause)
    for status in (Status.FAIL, Status.WARN):
        order += [c.name for c in checks if c.status is status and c.name not in overturned]
    result: list[str] = []
    seen: set[str] = set()
    for name in order:
        check = by_name.get(name)
        if check is None or name in seen or name == "probe":
            continue
        if not check.remedy or check.status is Status.OK:
            continue
        seen.add(name)
        if any(line.endswith(f"] {check.remedy}") for line in result):
            continue  # the same advice already given for another check
        result.append(f"[{check.id} {check.name}] {check.remedy}")
    return tuple(result)
