"""``diagnose()``: gather, derive, predict, probe, check, decide.

The pipeline is: :func:`~kmemx.doctor.facts.gather` reads the inputs under a
root directory, :func:`~kmemx.doctor.state.derive` interprets them,
:func:`~kmemx.doctor.predict.predict` applies the decision table, an optional
probe replaces predictions with measured errnos, and
:mod:`~kmemx.doctor.verdict` computes the verdict.
"""

from __future__ import annotations

from dataclasses import replace

from kmemx.doctor.checks import build_checks, probe_check
from kmemx.doctor.facts import ALL_CAPS, Facts, gather
from kmemx.doctor.model import Check, DeviceProbe, Outcome, Report, Status, Verdict
from kmemx.doctor.predict import predict
from kmemx.doctor.probe import OsProber, Prober, interpret, run_probes
from kmemx.doctor.state import State, derive
from kmemx.doctor.sysfs import Tree
from kmemx.doctor.verdict import decide, merge, remedies

__all__ = ["diagnose"]


def _verdict_as_root(facts: Facts, state: State) -> Verdict | None:
    """The predicted verdict for root on the host, when this process is not that."""
    if facts.uid == 0 and state.rawio.value is True:
        return None
    privileged = replace(
        facts,
        uid=0,
        groups=frozenset({0}),
        cap_eff=ALL_CAPS,
        uid_map="0 0 4294967295\n",
    )
    root_state = derive(privileged)
    return decide(predict(privileged, root_state, observe_kcore=False).outcomes()).verdict


def _not_checked(facts: Facts, checks: list[Check]) -> tuple[str, ...]:
    lines = [f"{c.id} {c.name}: {c.detail}" for c in checks if c.status is Status.UNKNOWN]
    if facts.kcore_header is None and facts.kcore_node.present:
        lines.append(
            f"/proc/kcore header not read ({facts.kcore_error}): VMCOREINFO presence inferred"
            " from the kernel version"
        )
    return tuple(lines)


def _notes(verdict: Verdict, readers: tuple[str, ...]) -> tuple[str, ...]:
    if verdict is Verdict.READ_ONLY_DEVMEM and "kcore" not in readers:
        return ("kmemx has no pread reader for /dev/mem: it needs /proc/kcore or mmap",)
    if verdict is Verdict.READ_ONLY_DEVMEM:
        return ("kmemx has no pread reader for /dev/mem, so it reads /proc/kcore (its own "
                "page-cached reader)",)
    return ()


def diagnose(root: str = "/", probe: bool = False, prober: Prober | None = None) -> Report:
    """Diagnose live kernel-memory access for the system (or copied tree) at ``root``.

    With ``probe`` the devices are really opened, mapped and read (read-only);
    ``prober`` replaces the system calls, for tests.  Never raises for bad or
    missing inputs: the affected checks come out ``unknown``.
    """
    tree = Tree(root)
    facts = gather(tree)
    state = derive(facts)
    prediction = predict(facts, state)
    probes: tuple[DeviceProbe, ...] = ()
    observed: list[Outcome] = []
    if probe:
        probes = run_probes(tree, facts, prober or OsProber())
        for result in probes:
            observed += interpret(result, state)
    outcomes, disagreements, overturned = merge(prediction, observed)
    d9 = probe_check(probes, observed, disagreements) if probe else None
    checks = build_checks(facts, state, prediction, d9)
    decision = decide(outcomes)
    return Report(
        root=tree.root,
        release=facts.release or "unknown",
        arch=facts.arch or "unknown",
        checks=tuple(checks),
        outcomes=tuple(outcomes),
        verdict=decision.verdict,
        readers=decision.readers,
        because=decision.because,
        remedies=remedies(decision, checks, overturned),
        not_checked=_not_checked(facts, checks),
        probes=probes,
        disagreements=tuple(disagreements),
        probed=probe,
        verdict_as_root=_verdict_as_root(facts, state),
        notes=_notes(decision.verdict, decision.readers),
    )
