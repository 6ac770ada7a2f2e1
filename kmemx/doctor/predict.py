"""Predict what open/mmap/read of ``/dev/mem``, ``/dev/kmem`` and ``/proc/kcore`` do.

This is devmem.md's decision table (section 6) as code.  A prediction is made
in two parts, so that a probe result can replace one part and the rest is
recombined: the ``open`` of each device, and for every (operation, target) the
``rule`` that applies once the device is open.  Pure functions only.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, replace

from kmemx.doctor import kversion as kv
from kmemx.doctor.facts import Facts
from kmemx.doctor.model import Op, Outcome, Target
from kmemx.doctor.state import CAP_DAC_OVERRIDE, Known, State
from kmemx.doctor.sysfs import Node

__all__ = [
    "DEVICES",
    "KCORE",
    "KMEM",
    "KMEM_TARGETS",
    "MEM",
    "MEM_TARGETS",
    "Prediction",
    "combine",
    "predict",
]

MEM = "/dev/mem"
KMEM = "/dev/kmem"
KCORE = "/proc/kcore"
DEVICES = (MEM, KMEM)

MEM_TARGETS = (
    Target.RAM,
    Target.LOW_RAM,
    Target.LOW_NONRAM,
    Target.MMIO_IDLE,
    Target.MMIO_BUSY,
    Target.MMIO_EXCLUSIVE,
    Target.ABOVE_RAM,
)
KMEM_TARGETS = (Target.RAM, Target.VMALLOC)

_NODE_CHECK = {MEM: "devmem-node", KMEM: "devkmem-node"}


@dataclass(frozen=True)
class Prediction:
    """Per-device ``open`` outcomes and the post-open rules, keyed by (device, op, target)."""

    opens: dict[str, Outcome]
    rules: dict[tuple[str, Op, Target], Outcome]

    def outcomes(self) -> list[Outcome]:
        """Every outcome: opens, then each rule combined with its device's open."""
        result: list[Outcome] = []
        for device, opened in self.opens.items():
            result.append(opened)
            for (dev, _op, _target), rule in self.rules.items():
                if dev == device:
                    result.append(combine(opened, rule))
        for (dev, _op, _target), rule in self.rules.items():
            if dev not in self.opens:
                result.append(rule)
        return result


def combine(opened: Outcome, rule: Outcome) -> Outcome:
    """The outcome of ``rule`` on a device whose open gave ``opened``."""
    if opened.ok is False:
        return replace(
            rule,
            ok=False,
            errno=opened.errno,
            cause=opened.cause,
            reason=f"open fails: {opened.reason}",
            note="",
            source=opened.source,
        )
    if opened.ok is None and rule.ok is not False:
        return replace(rule, ok=None, reason=f"open unknown ({opened.reason}); then: {rule.reason}")
    return rule


# --------------------------------------------------------------------------- open


@dataclass(frozen=True)
class _Gate:
    blocked: bool | None
    errno: int
    cause: str
    reason: str


def _chain(device: str, op: Op, target: Target, gates: list[_Gate], ok_reason: str) -> Outcome:
    """First gate that blocks decides; unknown gates make the result unknown."""
    unknown: list[str] = []
    for gate in gates:
        if gate.blocked:
            return Outcome(device, op, target, False, gate.errno, gate.cause, gate.reason)
        if gate.blocked is None:
            unknown.append(gate.reason)
    if unknown:
        return Outcome(device, op, target, None, 0, "", "; ".join(unknown))
    return Outcome(device, op, target, True, 0, "", ok_reason)


def _missing_reason(device: str, driver: Known[bool], state: State) -> str:
    if driver.value is False:
        return f"{device} node missing; the driver is not built either ({driver.why})"
    if state.container.value:
        return f"{device} not present (container without the device)"
    return f"{device} not present (devtmpfs policy or a minimal /dev)"


def _open(facts: Facts, state: State, device: str) -> Outcome:
    node: Node = facts.mem_node if device == MEM else facts.kmem_node
    driver = state.mem_driver if device == MEM else state.kmem_driver
    dac = state.mem_dac if device == MEM else state.kmem_dac
    devcg = state.devcg_mem if device == MEM else state.devcg_kmem
    check = _NODE_CHECK[device]
    lockdown = state.lockdown.value
    gates = [
        _Gate(
            None if node.kind == "error" else node.kind == "missing",
            errno.ENOENT,
            check,
            _missing_reason(device, driver, state)
            if node.kind == "missing"
            else f"cannot stat {device}: {node.error}",
        ),
        # Kernel order: DAC and the device cgroup (inode_permission) come before
        # memory_open (ENXIO) and open_port (CAP_SYS_RAWIO, then lockdown).
        _Gate(None if dac.value is None else not dac.value, errno.EACCES, "privileges", dac.why),
        _Gate(
            None if devcg.value is None else not devcg.value, errno.EPERM, "container", devcg.why
        ),
        _Gate(
            None if driver.value is None else not driver.value,
            errno.ENXIO,
            check,
            f"driver not built: {driver.why}",
        ),
        _Gate(
            None if state.rawio.value is None else not state.rawio.value,
            errno.EPERM,
            "privileges",
            f"CAP_SYS_RAWIO needed in the initial user namespace: {state.rawio.why}",
        ),
        _Gate(
            None if lockdown is None else lockdown != "none",
            errno.EPERM,
            "lockdown",
            f"kernel lockdown ({lockdown}) refuses /dev/mem and /dev/kmem: {state.lockdown.why}"
            if lockdown
            else f"lockdown state unknown: {state.lockdown.why}",
        ),
    ]
    if state.confidential.value:
        gates.append(
            _Gate(
                None,
                errno.EPERM,
                "confidential-guest",
                "confidential guest: kernels with the 2025 patch refuse /dev/mem (EPERM)",
            )
        )
    return _chain(device, Op.OPEN, Target.NONE, gates, f"{device} can be opened read-only")


# --------------------------------------------------------------------------- rules


def _older(facts: Facts, milestone: kv.KernelVersion) -> bool | None:
    return None if facts.version is None else facts.version < milestone


def _rule(
    device: str,
    op: Op,
    target: Target,
    ok: bool | None,
    err: int = 0,
    cause: str = "",
    reason: str = "",
    note: str = "",
) -> Outcome:
    return Outcome(device, op, target, ok, err, cause, reason, note)


_STRICT_REASON = "CONFIG_STRICT_DEVMEM refuses RAM above 1 MiB (devmem_is_allowed)"


def _ram_x86(facts: Facts, state: State, device: str, op: Op, target: Target) -> Outcome:
    strict = state.strict.value
    if strict:
        return _rule(device, op, target, False, errno.EPERM, "strict-devmem", _STRICT_REASON)
    if strict is None:
        return _rule(device, op, target, None, reason=state.strict.why)
    if op is Op.READ:
        return _rule(device, op, target, True, reason="STRICT_DEVMEM off: read of RAM allowed")
    era, pat = state.pat_era.value, state.pat.value
    if era and pat:
        return _rule(
            device,
            op,
            target,
            False,
            errno.EINVAL,
            "pat",
            "PAT is active: the x86 PAT range_is_allowed() refuses mmap of RAM"
            " (phys_mem_access_prot_allowed; removed in 6.16 by 1b3f2bd04d90)",
        )
    if era is False or pat is False:
        note = (
            "memory type forced to the page's memtype (WB); an O_SYNC request is overridden"
            if pat and era is False
            else "do not use O_SYNC (it would create an untracked UC alias)"
        )
        why = state.pat_era.why if era is False else state.pat.why
        return _rule(
            device, op, target, True, reason=f"STRICT_DEVMEM off and no PAT gate: {why}", note=note
        )
    unknown = state.pat_era.why if era is None else state.pat.why
    return _rule(device, op, target, None, reason=f"PAT gate unknown: {unknown}")


def _mmio_gate(state: State, device: str, op: Op, target: Target) -> Outcome | None:
    """STRICT_DEVMEM's iomem_is_exclusive() refusal of claimed MMIO, or None if allowed."""
    strict = state.strict.value
    if target is Target.MMIO_BUSY:
        if strict is None or (strict and state.io_strict.value is None):
            why = state.strict.why if strict is None else state.io_strict.why
            return _rule(device, op, target, None, reason=why)
        if strict and state.io_strict.value and not state.iomem_relaxed:
            return _rule(
                device,
                op,
                target,
                False,
                errno.EPERM,
                "strict-devmem",
                "CONFIG_IO_STRICT_DEVMEM refuses MMIO claimed by a driver"
                " (boot iomem=relaxed or unbind the driver)",
            )
    if target is Target.MMIO_EXCLUSIVE:
        if strict is None:
            return _rule(device, op, target, None, reason=state.strict.why)
        if strict and not state.iomem_relaxed:
            return _rule(
                device,
                op,
                target,
                False,
                errno.EPERM,
                "strict-devmem",
                "IORESOURCE_EXCLUSIVE range refused under STRICT_DEVMEM",
            )
    return None


_REVOKE = "revoked (SIGBUS on access) if a driver later claims the range (5.8+, IO_STRICT_DEVMEM)"


def _mmio_note(facts: Facts, state: State, target: Target) -> str:
    notes = ["UC-"]
    if state.pat.value is not False:
        notes.append("EAGAIN on a PAT memtype conflict")
    revocable = state.io_strict.value and not _older(facts, kv.MMAP_REVOKE)
    if target is Target.MMIO_IDLE and revocable:
        notes.append(_REVOKE)
    return "; ".join(notes)


def _mem_rule_x86(facts: Facts, state: State, op: Op, target: Target) -> Outcome:
    if _older(facts, kv.DEVMEM_RESTRICTIONS):
        return _rule(MEM, op, target, True, reason="no /dev/mem restrictions before 2.6.26")
    if target is Target.RAM:
        return _ram_x86(facts, state, MEM, op, target)
    if target is Target.LOW_RAM:
        if op is Op.MMAP:
            return _rule(
                MEM,
                op,
                target,
                True,
                reason="the first 1 MiB is always allowed",
                note="real contents",
            )
        zeros = state.strict.value and not _older(facts, kv.ZEROING_READS)
        if zeros:
            return _rule(
                MEM,
                op,
                target,
                True,
                reason="STRICT_DEVMEM on 4.11+: low RAM reads as zeros",
                note="zeros (a4866aa81251)",
            )
        return _rule(
            MEM, op, target, True, reason="the first 1 MiB is allowed", note="real contents"
        )
    if target is Target.LOW_NONRAM:
        return _rule(MEM, op, target, True, reason="BIOS ROM and VGA are always allowed")
    refused = _mmio_gate(state, MEM, op, target)
    if refused is not None:
        return refused
    if target is Target.ABOVE_RAM and op is Op.READ:
        return _rule(
            MEM,
            op,
            target,
            False,
            errno.EFAULT,
            "iomem",
            "read() only reaches __pa(high_memory) (valid_phys_addr_range); use mmap",
        )
    if op is Op.MMAP:
        return _rule(
            MEM,
            op,
            target,
            True,
            reason="MMIO is mapped UC- unless an alias says otherwise",
            note=_mmio_note(facts, state, target),
        )
    return _rule(MEM, op, target, True, reason="MMIO below high_memory can be read")


def _mem_rule_generic(facts: Facts, state: State, op: Op, target: Target) -> Outcome:
    """arm64 (and other GENERIC_LIB_DEVMEM_IS_ALLOWED arches): no PAT, no low-1-MiB exception."""
    arch = "arm64" if state.arm64 else (facts.arch or "this architecture")
    strict = state.strict.value
    if target in (Target.RAM, Target.LOW_RAM):
        if strict:
            return _rule(
                MEM,
                op,
                target,
                False,
                errno.EPERM,
                "strict-devmem",
                f"CONFIG_STRICT_DEVMEM refuses all RAM on {arch} (no low-1-MiB exception)",
            )
        if strict is None:
            return _rule(MEM, op, target, None, reason=state.strict.why)
        return _rule(
            MEM,
            op,
            target,
            True,
            reason="STRICT_DEVMEM off",
            note="cacheable; avoid O_SYNC (it gives a non-cacheable alias)",
        )
    refused = _mmio_gate(state, MEM, op, target)
    if refused is not None:
        return refused
    if op is Op.READ:
        return _rule(
            MEM,
            op,
            target,
            False,
            errno.EFAULT,
            "iomem",
            f"read() on {arch} is allowed only for memblock RAM; use mmap",
        )
    return _rule(MEM, op, target, True, reason="mapped non-cached")


def _kmem_rule(facts: Facts, state: State, op: Op, target: Target) -> Outcome:
    if op is Op.READ:
        if facts.version is not None and facts.version <= kv.KernelVersion(2, 6, 32):
            return _rule(
                KMEM,
                op,
                target,
                False,
                errno.EINVAL,
                "kernel-version",
                "kernel addresses are >= 2^63, a negative loff_t: rw_verify_area() gives"
                " EINVAL before the FMODE_UNSIGNED_OFFSET fix (2.6.3x)",
            )
        note = "via vread(); holes read as zeros" if target is Target.VMALLOC else ""
        return _rule(
            KMEM,
            op,
            target,
            True,
            note=note,
            reason="read_kmem is not subject to STRICT_DEVMEM or PAT"
            " (use lseek+read: pread(2) rejects offsets >= 2^63)",
        )
    if target is Target.VMALLOC:
        return _rule(
            KMEM,
            op,
            target,
            False,
            errno.EIO,
            "devkmem-node",
            "mmap_kmem does not support vmalloc (EIO, or it maps garbage)",
        )
    if _older(facts, kv.DEVMEM_RESTRICTIONS):
        return _rule(KMEM, op, target, True, reason="no /dev/mem restrictions before 2.6.26")
    rule = _ram_x86(facts, state, KMEM, op, target)
    return replace(
        rule, reason=f"mmap_kmem translates with __pa() then calls mmap_mem: {rule.reason}"
    )


# --------------------------------------------------------------------------- kcore


_KCORE_CAUSE = {
    "ENOENT": errno.ENOENT,
    "EACCES": errno.EACCES,
    "EPERM": errno.EPERM,
}


def _kcore_missing(facts: Facts) -> Outcome:
    config = facts.config.enabled("PROC_KCORE") if facts.config is not None else None
    if config is False:
        why = "CONFIG_PROC_KCORE is not set: drgn live mode impossible"
    elif facts.kcore_masked:
        why = "/proc/kcore is masked by the container"
    else:
        why = "/proc/kcore does not exist"
    return Outcome(KCORE, Op.OPEN, Target.NONE, False, errno.ENOENT, "kcore", why)


def _kcore_observed(facts: Facts, state: State) -> Outcome | None:
    if facts.kcore_header is not None:
        return Outcome(
            KCORE, Op.OPEN, Target.NONE, True, 0, "", "opened; ELF header read", source="observed"
        )
    error = facts.kcore_error
    if error in ("ENOENT", "ENOTDIR"):
        return replace(_kcore_missing(facts), source="observed")
    if error == "empty":
        cause = "container" if facts.kcore_masked else "kcore"
        return Outcome(
            KCORE,
            Op.OPEN,
            Target.NONE,
            False,
            0,
            cause,
            "/proc/kcore reads as empty (masked, e.g. bound to /dev/null)",
            source="observed",
        )
    number = _KCORE_CAUSE.get(error)
    if number is None:
        return None
    if number == errno.EPERM and state.lockdown.value == "confidentiality":
        cause, why = "lockdown", "refused by lockdown (confidentiality)"
    elif number == errno.EPERM and state.rawio.value is not False and state.lockdown.value is None:
        cause, why = "lockdown", "EPERM: lockdown (confidentiality) or missing CAP_SYS_RAWIO"
    else:
        cause, why = "privileges", f"{error}: needs root with CAP_SYS_RAWIO"
    return Outcome(KCORE, Op.OPEN, Target.NONE, False, number, cause, why, source="observed")


def _kcore_open(facts: Facts, state: State, observe: bool) -> Outcome:
    if observe and facts.live:
        seen = _kcore_observed(facts, state)
        if seen is not None:
            return seen
    node = facts.kcore_node
    if node.kind == "missing":
        return _kcore_missing(facts)
    lockdown = state.lockdown.value
    root_only = node.uid == 0 and node.mode & 0o004 == 0
    override = facts.cap_eff is not None and bool(facts.cap_eff >> CAP_DAC_OVERRIDE & 1)
    not_root = None if facts.uid is None else facts.uid != 0
    gates = [
        _Gate(
            None if node.kind == "error" else False,
            errno.ENOENT,
            "kcore",
            f"cannot stat: {node.error}",
        ),
        _Gate(facts.kcore_masked, 0, "container", "/proc/kcore is masked by the container"),
        _Gate(
            None if not_root is None else not_root and root_only and not override,
            errno.EACCES,
            "privileges",
            "/proc/kcore is mode 0400 root: run as root",
        ),
        _Gate(
            None if state.rawio.value is None else not state.rawio.value,
            errno.EPERM,
            "privileges",
            f"open_kcore() needs CAP_SYS_RAWIO: {state.rawio.why}",
        ),
        _Gate(
            lockdown == "confidentiality"
            if lockdown is not None or state.lockdown_ceiling != "confidentiality"
            else None,
            errno.EPERM,
            "lockdown",
            "lockdown (confidentiality) refuses /proc/kcore"
            if lockdown
            else f"lockdown state unknown: {state.lockdown.why}",
        ),
    ]
    return _chain(KCORE, Op.OPEN, Target.NONE, gates, "/proc/kcore can be opened (predicted)")


# --------------------------------------------------------------------------- entry


def predict(facts: Facts, state: State, observe_kcore: bool = True) -> Prediction:
    """The decision table for this machine.

    With ``observe_kcore`` (the default) a live system's actual attempt to read
    the kcore header is used instead of a prediction.
    """
    opens = {device: _open(facts, state, device) for device in DEVICES}
    opens[KCORE] = _kcore_open(facts, state, observe_kcore)
    generic = state.x86 is False
    rules: dict[tuple[str, Op, Target], Outcome] = {}
    for op in (Op.MMAP, Op.READ):
        for target in MEM_TARGETS:
            rule = (_mem_rule_generic if generic else _mem_rule_x86)(facts, state, op, target)
            rules[(MEM, op, target)] = rule
        for target in KMEM_TARGETS:
            rules[(KMEM, op, target)] = _kmem_rule(facts, state, op, target)
    rules[(KCORE, Op.MMAP, Target.NONE)] = Outcome(
        KCORE,
        Op.MMAP,
        Target.NONE,
        False,
        errno.EIO,
        "kcore",
        "/proc/kcore has no mmap (use pread)",
    )
    rules[(KCORE, Op.READ, Target.NONE)] = Outcome(
        KCORE,
        Op.READ,
        Target.NONE,
        True,
        0,
        "",
        "pread of kernel virtual addresses",
        note="holes and offline pages read as zeros",
    )
    return Prediction(opens, rules)
