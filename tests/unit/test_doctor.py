"""Unit tests for ``kmemx doctor``: devmem.md's decision table, one synthetic tree per row.

Every test builds a /proc, /sys, /boot and /dev tree in ``tmp_path`` (see
``doctor_trees.py``) and runs the real :func:`kmemx.doctor.diagnose` on it.
Probes are injected with :class:`FakeProber`, so no test needs root.
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from kmemx.doctor import (
    DeviceProbe,
    Op,
    OsProber,
    Report,
    Status,
    Target,
    Verdict,
    diagnose,
    main,
    render_json,
    render_text,
)
from kmemx.doctor.iomem import addresses_hidden, parse_iomem, pick_probe_page
from kmemx.doctor.kconfig import parse_config
from kmemx.doctor.kcore import parse_kcore
from kmemx.doctor.kversion import KernelVersion, parse_release
from tests.unit.doctor_trees import (
    DEBIAN_61_CONFIG,
    DEBIAN_612_CONFIG,
    IOMEM_HIDDEN,
    MACHINE_618_CONFIG,
    RHEL6_CONFIG,
    SCENARIOS,
    Spec,
    build,
    elf_core,
    with_config,
)

MEM, KMEM, KCORE = "/dev/mem", "/dev/kmem", "/proc/kcore"
NOPAT_CMDLINE = "BOOT_IMAGE=/boot/vmlinuz root=/dev/sda1 ro quiet nopat"
STRICT_OFF_61 = with_config(DEBIAN_61_CONFIG, STRICT_DEVMEM="n", IO_STRICT_DEVMEM="")
RHEL6_STRICT_OFF = with_config(RHEL6_CONFIG, STRICT_DEVMEM="n")


def run(tmp_path: Path, spec: Spec, **kwargs: object) -> Report:
    """Build ``spec`` and diagnose it."""
    return diagnose(build(tmp_path / "root", spec), **kwargs)  # type: ignore[arg-type]


def rhel6(**changes: object) -> Spec:
    """The 2013 kernelnewbies machine: RHEL6 2.6.32, DEVKMEM=y, STRICT_DEVMEM=y, X86_PAT=y."""
    base = Spec(
        release="2.6.32-431.el6.x86_64",
        config=RHEL6_CONFIG,
        devkmem=True,
        lockdown=None,
        uid_map=None,
        mem_class=None,
        os_id="rhel",
        kcore=elf_core(vmcoreinfo=False),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


class FakeProber:
    """A :class:`kmemx.doctor.Prober` returning scripted errnos; records what it was asked."""

    def __init__(self, **results: tuple[int, int | None, int | None]) -> None:
        self.results = {f"/dev/{k}": v for k, v in results.items()}
        self.calls: list[tuple[str, str, int | None]] = []

    def probe(self, device: str, path: str, offset: int | None) -> DeviceProbe:
        self.calls.append((device, path, offset))
        opened, mmap_err, read_err = self.results.get(device, (errno.ENOENT, None, None))
        if opened or offset is None:
            return DeviceProbe(device, offset, opened)
        return DeviceProbe(device, offset, opened, mmap_err, read_err)


def sentences(text: str) -> int:
    return len(re.findall(r"[.!?](?:\s|$)", text.strip()))


# --------------------------------------------------------------------------- preconditions


def test_precondition_node_missing_with_driver_built_is_enoent(tmp_path: Path) -> None:
    report = run(tmp_path, Spec(devmem=False))
    opened = report.outcome(MEM, Op.OPEN)
    assert (opened.ok, opened.errno, opened.cause) == (False, errno.ENOENT, "devmem-node")
    assert report.check("devmem-node").status is Status.FAIL
    assert "mknod" in report.check("devmem-node").remedy


def test_precondition_node_present_driver_not_built_is_enxio(tmp_path: Path) -> None:
    config = with_config(DEBIAN_612_CONFIG, DEVMEM="n")
    report = run(tmp_path, Spec(config=config, mem_class=("null", "zero", "port")))
    opened = report.outcome(MEM, Op.OPEN)
    assert (opened.ok, opened.errno) == (False, errno.ENXIO)
    check = report.check("devmem-node")
    assert check.status is Status.FAIL and "ENXIO" in check.detail
    assert "CONFIG_DEVMEM=y" in check.remedy


def test_precondition_enxio_from_config_when_sysfs_is_absent(tmp_path: Path) -> None:
    config = with_config(DEBIAN_612_CONFIG, DEVMEM="n")
    report = run(tmp_path, Spec(config=config, mem_class=None))
    assert report.outcome(MEM, Op.OPEN).errno == errno.ENXIO
    assert "CONFIG_DEVMEM is not set" in report.outcome(MEM, Op.OPEN).reason


def test_precondition_dac_denies_non_root_with_eacces(tmp_path: Path) -> None:
    stranger = os.getuid() + 4242  # not the owner of the stand-in node, whoever runs the tests
    report = run(tmp_path, Spec(uid=stranger, groups=str(stranger), cap_eff="0000000000000000"))
    opened = report.outcome(MEM, Op.OPEN)
    assert (opened.ok, opened.errno, opened.cause) == (False, errno.EACCES, "privileges")
    assert report.check("privileges").status is Status.FAIL


def test_precondition_root_without_cap_sys_rawio_is_eperm(tmp_path: Path) -> None:
    no_rawio = f"{(1 << 41) - 1 & ~(1 << 17):016x}"
    report = run(tmp_path, Spec(cap_eff=no_rawio))
    opened = report.outcome(MEM, Op.OPEN)
    assert (opened.errno, opened.cause) == (errno.EPERM, "privileges")
    assert "CAP_SYS_RAWIO" in report.check("privileges").detail
    assert report.outcome(KCORE, Op.OPEN).errno == errno.EPERM


def test_precondition_user_namespace_gets_eperm(tmp_path: Path) -> None:
    report = run(tmp_path, Spec(uid_map="0 100000 65536\n", iomem=IOMEM_HIDDEN))
    assert report.outcome(MEM, Op.OPEN).errno == errno.EPERM
    check = report.check("privileges")
    assert check.status is Status.FAIL and "user namespace" in check.remedy
    assert report.check("container").status is Status.WARN


def test_precondition_device_cgroup_denial_is_eperm(tmp_path: Path) -> None:
    spec = Spec(devices_list="c 1:3 rwm\nc 1:5 rwm\nc 1:8 rwm\nc 136:* rwm\n", dockerenv=True)
    report = run(tmp_path, spec)
    opened = report.outcome(MEM, Op.OPEN)
    assert (opened.errno, opened.cause) == (errno.EPERM, "container")
    assert report.check("container").status is Status.FAIL
    assert "--device /dev/mem" in report.check("container").remedy


def test_precondition_device_cgroup_with_mem_rule_allows_open(tmp_path: Path) -> None:
    spec = Spec(devices_list="c 1:1 rwm\nc 1:3 rwm\n", lockdown="[none] integrity")
    assert run(tmp_path, spec).outcome(MEM, Op.OPEN).ok is True


# --------------------------------------------------------------------------- decision table rows


@pytest.mark.parametrize("mode", ["integrity", "confidentiality"])
def test_row1_lockdown_refuses_open(tmp_path: Path, mode: str) -> None:
    lockdown = "none integrity confidentiality".replace(mode, f"[{mode}]")
    report = run(tmp_path, Spec(lockdown=lockdown, secure_boot=True))
    opened = report.outcome(MEM, Op.OPEN)
    assert (opened.ok, opened.errno, opened.cause) == (False, errno.EPERM, "lockdown")
    check = report.check("lockdown")
    assert check.status is Status.FAIL
    assert "never lowered" in check.remedy and "Secure Boot" in check.remedy
    kcore = report.outcome(KCORE, Op.OPEN)
    if mode == "integrity":  # C1: kcore still works
        assert kcore.ok is True
        assert report.verdict is Verdict.KCORE_ONLY and report.readers == ("kcore", "drgn")
    else:  # C2
        assert (kcore.ok, kcore.errno, kcore.cause) == (False, errno.EPERM, "lockdown")
        assert report.verdict is Verdict.NONE and "kdump" in check.detail


def test_row1_lockdown_inferred_from_secure_boot_without_securityfs(tmp_path: Path) -> None:
    report = run(tmp_path, Spec(lockdown=None, secure_boot=True))
    assert report.outcome(MEM, Op.OPEN).errno == errno.EPERM
    assert "Secure Boot" in report.check("lockdown").detail
    assert report.verdict is Verdict.KCORE_ONLY


def test_row1_lockdown_inferred_from_cmdline(tmp_path: Path) -> None:
    spec = Spec(lockdown=None, cmdline="ro lockdown=confidentiality", secure_boot=False)
    report = run(tmp_path, spec)
    assert report.outcome(KCORE, Op.OPEN).cause == "lockdown"
    assert "remove lockdown=" in report.check("lockdown").remedy
    assert report.verdict is Verdict.NONE


def test_row1_lockdown_unknown_secure_boot_still_allows_kcore(tmp_path: Path) -> None:
    report = run(tmp_path, Spec(lockdown=None, secure_boot=None))
    assert report.check("lockdown").status is Status.UNKNOWN
    assert report.outcome(MEM, Op.OPEN).ok is None
    assert report.outcome(KCORE, Op.OPEN).ok is True  # Secure Boot lockdown is integrity at most
    assert report.verdict is Verdict.KCORE_ONLY
    assert any("lockdown" in line for line in report.not_checked)


def test_row2_strict_devmem_refuses_ram(tmp_path: Path) -> None:
    report = run(tmp_path, Spec())
    for op in (Op.MMAP, Op.READ):
        outcome = report.outcome(MEM, op)
        assert (outcome.ok, outcome.errno, outcome.cause) == (False, errno.EPERM, "strict-devmem")
    assert report.check("strict-devmem").status is Status.FAIL
    assert report.verdict is Verdict.KCORE_ONLY


def test_row3_strict_low_ram_real_before_4_11(tmp_path: Path) -> None:
    report = run(tmp_path, Spec(release="4.9.0-8-amd64"))
    for op in (Op.MMAP, Op.READ):
        outcome = report.outcome(MEM, op, Target.LOW_RAM)
        assert outcome.ok is True and outcome.note == "real contents"


def test_row4_strict_low_ram_reads_zeros_from_4_11(tmp_path: Path) -> None:
    report = run(tmp_path, Spec())
    assert report.outcome(MEM, Op.MMAP, Target.LOW_RAM).note == "real contents"
    read = report.outcome(MEM, Op.READ, Target.LOW_RAM)
    assert read.ok is True and "zeros" in read.note


def test_row5_strict_low_non_ram_allowed(tmp_path: Path) -> None:
    report = run(tmp_path, Spec())
    assert report.outcome(MEM, Op.MMAP, Target.LOW_NONRAM).ok is True
    assert report.outcome(MEM, Op.READ, Target.LOW_NONRAM).ok is True


def test_row6_io_strict_refuses_busy_mmio_unless_iomem_relaxed(tmp_path: Path) -> None:
    report = run(tmp_path, Spec())
    busy = report.outcome(MEM, Op.MMAP, Target.MMIO_BUSY)
    assert (busy.ok, busy.errno) == (False, errno.EPERM)
    assert report.outcome(MEM, Op.READ, Target.MMIO_BUSY).errno == errno.EPERM
    relaxed = run(tmp_path / "relaxed", Spec(cmdline="ro iomem=relaxed"))
    assert relaxed.outcome(MEM, Op.MMAP, Target.MMIO_BUSY).ok is True
    assert "iomem=relaxed" in relaxed.check("strict-devmem").detail


def test_row7_exclusive_busy_mmio_refused_without_io_strict(tmp_path: Path) -> None:
    config = with_config(DEBIAN_612_CONFIG, IO_STRICT_DEVMEM="n")
    report = run(tmp_path, Spec(config=config))
    assert report.outcome(MEM, Op.MMAP, Target.MMIO_BUSY).ok is True
    exclusive = report.outcome(MEM, Op.MMAP, Target.MMIO_EXCLUSIVE)
    assert (exclusive.ok, exclusive.errno) == (False, errno.EPERM)


def test_row8_idle_mmio_and_above_ram(tmp_path: Path) -> None:
    report = run(tmp_path, Spec())
    idle = report.outcome(MEM, Op.MMAP, Target.MMIO_IDLE)
    assert idle.ok is True and "EAGAIN" in idle.note
    assert report.outcome(MEM, Op.READ, Target.MMIO_IDLE).ok is True
    above = report.outcome(MEM, Op.READ, Target.ABOVE_RAM)
    assert (above.ok, above.errno) == (False, errno.EFAULT)
    assert report.outcome(MEM, Op.MMAP, Target.ABOVE_RAM).ok is True


def test_row9_idle_mmio_mapping_revocable_from_5_8(tmp_path: Path) -> None:
    report = run(tmp_path, Spec())
    assert "SIGBUS" in report.outcome(MEM, Op.MMAP, Target.MMIO_IDLE).note
    old = run(tmp_path / "old", Spec(release="5.4.0-1-amd64"))
    assert "SIGBUS" not in old.outcome(MEM, Op.MMAP, Target.MMIO_IDLE).note


def test_row10_pat_gate_gives_einval_before_6_16(tmp_path: Path) -> None:
    report = run(tmp_path, Spec(release="6.1.0-56-amd64", config=STRICT_OFF_61))
    mmap = report.outcome(MEM, Op.MMAP)
    assert (mmap.ok, mmap.errno, mmap.cause) == (False, errno.EINVAL, "pat")
    assert report.outcome(MEM, Op.READ).ok is True
    assert report.verdict is Verdict.READ_ONLY_DEVMEM
    pat = report.check("pat")
    assert pat.status is Status.FAIL
    assert "nopat" in pat.remedy and ">= 6.16" in pat.remedy
    assert report.remedies[0].startswith("[D7 pat]")
    assert report.readers == ("kcore", "drgn")


def test_row11_pat_allows_low_memory(tmp_path: Path) -> None:
    report = run(tmp_path, Spec(release="6.1.0-56-amd64", config=STRICT_OFF_61))
    assert report.outcome(MEM, Op.MMAP, Target.LOW_RAM).ok is True
    assert report.outcome(MEM, Op.READ, Target.LOW_RAM).note == "real contents"


def test_row12_kernel_6_16_strict_off_pat_on_mmaps_ram(tmp_path: Path) -> None:
    spec = Spec(release="6.16.3-amd64", config=with_config(DEBIAN_612_CONFIG, STRICT_DEVMEM="n"))
    report = run(tmp_path, spec)
    mmap = report.outcome(MEM, Op.MMAP)
    assert mmap.ok is True and "memtype" in mmap.note
    assert report.verdict is Verdict.MMAP_OK
    assert report.readers == ("mmap-devmem", "kcore", "drgn")
    assert report.check("pat").status is Status.OK


@pytest.mark.parametrize(
    "change",
    [
        {"cmdline": NOPAT_CMDLINE},
        {"config": with_config(STRICT_OFF_61, X86_PAT="n")},
        {"cpu_flags": "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov"},
        {"dmesg": ("x86/PAT: Configuration [0-7]: WB  WT  UC- UC  WB  WT  UC- UC  ",)},
        {"dmesg": ("x86/PAT: PAT not supported by the CPU.",)},
    ],
    ids=["nopat", "X86_PAT=n", "cpu-without-pat", "dmesg-without-WC", "dmesg-not-supported"],
)
def test_row13_pat_disabled_strict_off_mmaps_ram(tmp_path: Path, change: dict[str, object]) -> None:
    spec = replace(Spec(release="6.1.0-56-amd64", config=STRICT_OFF_61), **change)  # type: ignore[arg-type]
    report = run(tmp_path, spec)
    mmap = report.outcome(MEM, Op.MMAP)
    assert mmap.ok is True and "O_SYNC" in mmap.note
    assert report.verdict is Verdict.MMAP_OK
    assert report.readers[0] == "mmap-devmem"
    assert report.check("pat").status is Status.OK


def test_row13_dmesg_pat_enabled_overrides_missing_cmdline(tmp_path: Path) -> None:
    dmesg = ("x86/PAT: Configuration [0-7]: WB  WC  UC- UC  WB  WP  UC- WT  ",)
    report = run(
        tmp_path, Spec(release="6.1.0-56-amd64", config=STRICT_OFF_61, cmdline=None, dmesg=dmesg)
    )
    assert report.outcome(MEM, Op.MMAP).errno == errno.EINVAL
    assert "dmesg" in report.check("pat").detail


def test_row14_confidential_guest_makes_open_uncertain(tmp_path: Path) -> None:
    dmesg = ("Memory Encryption Features active: Intel TDX",)
    spec = Spec(
        release="6.16.3-amd64",
        config=with_config(DEBIAN_612_CONFIG, STRICT_DEVMEM="n"),
        dmesg=dmesg,
    )
    report = run(tmp_path, spec)
    assert report.check("confidential-guest").status is Status.WARN
    assert report.outcome(MEM, Op.OPEN).ok is None
    assert report.verdict is Verdict.KCORE_ONLY  # never claims mmap without confirmation


def test_rowK1_kmem_follows_devmem_mmap_rules(tmp_path: Path) -> None:
    strict = run(tmp_path / "a", rhel6())
    assert strict.outcome(KMEM, Op.OPEN).ok is True
    assert (strict.outcome(KMEM, Op.MMAP).errno, strict.outcome(KMEM, Op.MMAP).cause) == (
        errno.EPERM,
        "strict-devmem",
    )
    read = strict.outcome(KMEM, Op.READ)
    assert (read.ok, read.errno) == (False, errno.EINVAL)  # negative loff_t on 2.6.32
    pat = run(tmp_path / "b", rhel6(config=RHEL6_STRICT_OFF))
    assert pat.outcome(KMEM, Op.MMAP).errno == errno.EINVAL
    nopat = run(tmp_path / "c", rhel6(config=RHEL6_STRICT_OFF, cmdline="ro nopat"))
    assert nopat.outcome(KMEM, Op.MMAP).ok is True
    assert nopat.readers == ("mmap-devkmem", "mmap-devmem", "kcore", "drgn")
    later = run(tmp_path / "d", rhel6(release="4.4.0-1-amd64", uid_map="0 0 4294967295\n"))
    assert later.outcome(KMEM, Op.READ).ok is True


def test_rowK2_kmem_vmalloc_mmap_unsupported(tmp_path: Path) -> None:
    report = run(tmp_path, rhel6(release="3.10.0-1160.el7.x86_64", uid_map="0 0 4294967295\n"))
    vm = report.outcome(KMEM, Op.MMAP, Target.VMALLOC)
    assert (vm.ok, vm.errno) == (False, errno.EIO)
    assert report.outcome(KMEM, Op.READ, Target.VMALLOC).ok is True


def test_rowK3_kmem_removed_in_5_13(tmp_path: Path) -> None:
    stale = run(tmp_path / "stale", Spec(devkmem=True))
    assert stale.outcome(KMEM, Op.OPEN).errno == errno.ENXIO
    check = stale.check("devkmem-node")
    assert (
        check.status is Status.WARN and "bbcd53c96071" in check.detail and "ENXIO" in check.detail
    )
    gone = run(tmp_path / "gone", Spec())
    assert gone.outcome(KMEM, Op.OPEN).errno == errno.ENOENT


def test_rowK3_kmem_not_built_before_5_13(tmp_path: Path) -> None:
    config = with_config(RHEL6_CONFIG, DEVKMEM="n")
    report = run(
        tmp_path, rhel6(config=config, release="4.19.0-6-amd64", uid_map="0 0 4294967295\n")
    )
    assert report.outcome(KMEM, Op.OPEN).errno == errno.ENXIO
    assert "CONFIG_DEVKMEM is not set" in report.check("devkmem-node").detail


def test_rowC1_kcore_usable_and_not_mappable(tmp_path: Path) -> None:
    report = run(tmp_path, Spec())
    assert report.outcome(KCORE, Op.OPEN).ok is True
    assert report.outcome(KCORE, Op.MMAP).errno == errno.EIO
    assert report.outcome(KCORE, Op.READ).ok is True
    kcore = report.check("kcore")
    assert kcore.status is Status.OK and "VMCOREINFO note" in kcore.detail


def test_rowC1_kcore_needs_root(tmp_path: Path) -> None:
    report = run(tmp_path, Spec(uid=1000, groups="1000", cap_eff="0000000000000000"))
    kcore = report.outcome(KCORE, Op.OPEN)
    assert kcore.ok is False and kcore.errno in (errno.EACCES, errno.EPERM)
    assert report.check("kcore").status is Status.FAIL
    assert "root" in report.check("kcore").remedy


def test_rowC3_proc_kcore_not_built(tmp_path: Path) -> None:
    config = with_config(DEBIAN_612_CONFIG, PROC_KCORE="n")
    report = run(tmp_path, Spec(config=config, kcore=None))
    kcore = report.outcome(KCORE, Op.OPEN)
    assert (kcore.ok, kcore.errno) == (False, errno.ENOENT)
    assert "CONFIG_PROC_KCORE=y" in report.check("kcore").remedy
    assert report.verdict is Verdict.NONE


def test_rowA1_arm64_strict_refuses_all_ram(tmp_path: Path) -> None:
    report = run(tmp_path, Spec(arch="aarch64", release="6.12.117+deb12-arm64"))
    for target in (Target.RAM, Target.LOW_RAM):
        for op in (Op.MMAP, Op.READ):
            assert report.outcome(MEM, op, target).errno == errno.EPERM
    assert report.check("pat").status is Status.OK and "not x86" in report.check("pat").detail
    assert report.check("strict-devmem").detail.startswith("all RAM")


def test_rowA2_arm64_mmio_read_is_efault(tmp_path: Path) -> None:
    report = run(tmp_path, Spec(arch="aarch64", release="6.12.117+deb12-arm64"))
    assert report.outcome(MEM, Op.MMAP, Target.MMIO_IDLE).ok is True
    assert report.outcome(MEM, Op.READ, Target.MMIO_IDLE).errno == errno.EFAULT


def test_rowA3_arm64_strict_off_maps_ram(tmp_path: Path) -> None:
    config = with_config(DEBIAN_612_CONFIG, STRICT_DEVMEM="n")
    report = run(tmp_path, Spec(arch="aarch64", release="6.1.0-56-arm64", config=config))
    assert report.outcome(MEM, Op.MMAP).ok is True  # no PAT gate even before 6.16
    assert report.verdict is Verdict.MMAP_OK


# --------------------------------------------------------------------------- the 2013 question


def test_2013_strict_devmem_gives_eperm(tmp_path: Path) -> None:
    report = run(tmp_path, rhel6())
    mmap = report.outcome(MEM, Op.MMAP)
    assert (mmap.errno, mmap.cause) == (errno.EPERM, "strict-devmem")
    assert report.verdict is Verdict.KCORE_ONLY
    first = report.remedies[0]
    assert first.startswith("[D6 strict-devmem]") and "STRICT_DEVMEM=n" in first
    assert "nopat" in first and ">= 6.16" in first  # the PAT check waits behind STRICT
    pat = report.check("pat")
    assert pat.status is Status.WARN and "EINVAL" in pat.detail
    assert sentences(pat.explain) == 2 and "aliasing" in pat.explain.lower()


def test_2013_strict_off_gives_einval_from_pat(tmp_path: Path) -> None:
    report = run(tmp_path, rhel6(config=RHEL6_STRICT_OFF))
    mmap = report.outcome(MEM, Op.MMAP)
    assert (mmap.ok, mmap.errno, mmap.cause) == (False, errno.EINVAL, "pat")
    assert report.outcome(MEM, Op.READ).ok is True
    assert report.verdict is Verdict.READ_ONLY_DEVMEM
    pat = report.check("pat")
    assert pat.status is Status.FAIL
    assert report.remedies[0].startswith("[D7 pat]")
    assert "nopat" in report.remedies[0] and ">= 6.16" in report.remedies[0]
    assert sentences(pat.explain) == 2
    assert "Cache aliasing" in render_text(report)


def test_2013_probe_confirms_eperm(tmp_path: Path) -> None:
    prober = FakeProber(mem=(0, errno.EPERM, errno.EPERM), kmem=(0, errno.EPERM, errno.EINVAL))
    report = run(tmp_path, rhel6(), probe=True, prober=prober)
    assert report.disagreements == ()
    assert report.check("probe").status is Status.FAIL
    assert "EPERM (errno 1)" in report.check("probe").detail
    assert report.outcome(MEM, Op.MMAP).source == "probe"
    kmem_offset = prober.calls[1][2]
    assert kmem_offset is not None and kmem_offset >= 1 << 63  # a direct-map virtual address


# --------------------------------------------------------------------------- real-world trees


def test_machine_6_18_without_devmem_or_kcore(tmp_path: Path) -> None:
    spec = Spec(
        release="6.18.44-fc-v595",
        config=MACHINE_618_CONFIG,
        config_at="proc",
        devmem=False,
        mem_class=("full", "kmsg", "null", "random", "urandom", "zero"),
        lockdown=None,
        kcore=None,
        vmcoreinfo_sysfs=True,
        vmlinux=False,
        dockerenv=True,
        dmesg=(
            "x86/PAT: Configuration [0-7]: WB  WC  UC- UC  WB  WP  UC- WT  ",
            "Kernel is locked down from Kernel configuration; see man kernel_lockdown.7",
        ),
    )
    report = run(tmp_path, spec)
    assert report.verdict is Verdict.NONE and report.readers == ()
    opened = report.outcome(MEM, Op.OPEN)
    assert (opened.errno, opened.cause) == (errno.ENOENT, "devmem-node")
    assert "driver is not built" in opened.reason
    assert report.check("devmem-node").remedy.startswith("rebuild the kernel with CONFIG_DEVMEM=y")
    kcore = report.outcome(KCORE, Op.OPEN)
    assert kcore.errno == errno.ENOENT and "CONFIG_PROC_KCORE is not set" in kcore.reason
    assert report.check("lockdown").status is Status.FAIL  # forced integrity, from the config
    assert report.check("pat").status is Status.OK  # 6.18 >= 6.16
    assert report.check("container").status is Status.WARN  # /.dockerenv on a VM
    assert report.check("kernel-config").detail.startswith("/proc/config.gz")


def test_debian_6_1_default(tmp_path: Path) -> None:
    report = run(tmp_path, SCENARIOS["debian-12-6.1"])
    assert report.verdict is Verdict.KCORE_ONLY and report.readers == ("kcore", "drgn")
    assert report.outcome(MEM, Op.MMAP).errno == errno.EPERM
    assert report.remedies[0].startswith("[D6 strict-devmem]")
    assert report.check("devkmem-node").status is Status.WARN
    assert report.check("debuginfo").status is Status.OK


def test_debian_6_12_default(tmp_path: Path) -> None:
    report = run(tmp_path, SCENARIOS["debian-12-6.12"])
    assert report.verdict is Verdict.KCORE_ONLY
    assert report.outcome(MEM, Op.READ).errno == errno.EPERM
    assert report.outcome(MEM, Op.MMAP, Target.MMIO_BUSY).errno == errno.EPERM  # IO_STRICT=y
    assert "linux-image-6.12.117+deb12-amd64-dbg" not in "".join(report.remedies)


def test_debian_missing_debuginfo_names_the_dbg_package(tmp_path: Path) -> None:
    report = run(tmp_path, Spec(vmlinux=False))
    check = report.check("debuginfo")
    assert check.status is Status.FAIL
    assert check.remedy == "apt install linux-image-6.12.117+deb12-amd64-dbg"
    ubuntu = run(tmp_path / "u", SCENARIOS["ubuntu-6.12-no-dbgsym"])
    assert "dbgsym" in ubuntu.check("debuginfo").remedy
    fedora = run(tmp_path / "f", Spec(vmlinux=False, os_id="fedora"))
    assert "dnf debuginfo-install" in fedora.check("debuginfo").remedy
    # a kernel built elsewhere on a Debian host has no -dbg package to install
    own = run(tmp_path / "o", Spec(vmlinux=False, release="6.18.44-fc-v769"))
    assert "-dbg" not in own.check("debuginfo").remedy
    assert "CONFIG_DEBUG_INFO=y" in own.check("debuginfo").remedy
    for rel in ("6.1.0-56-amd64", "6.1.0-56-cloud-amd64", "7.2.13+deb14-arm64"):
        deb = run(tmp_path / rel, Spec(vmlinux=False, release=rel))
        assert deb.check("debuginfo").remedy == f"apt install linux-image-{rel}-dbg"


def test_config_found_in_lib_modules(tmp_path: Path) -> None:
    report = run(tmp_path, Spec(config_at="modules"))
    assert report.check("kernel-config").detail.startswith("/lib/modules/")


def test_docker_default_container(tmp_path: Path) -> None:
    report = run(tmp_path, SCENARIOS["docker-default"])
    assert report.verdict is Verdict.NONE
    assert report.check("container").status is Status.WARN
    assert report.outcome(MEM, Op.OPEN).errno == errno.ENOENT
    kcore = report.outcome(KCORE, Op.OPEN)
    assert kcore.ok is False and kcore.cause == "container"
    assert "--privileged" in report.check("kcore").remedy


def test_this_machine(tmp_path: Path) -> None:
    """The developers' own VM: CONFIG_DEVMEM unset, no /proc/kcore -> no live access."""
    try:
        config = gzip.decompress(Path("/proc/config.gz").read_bytes()).decode()
    except OSError:
        pytest.skip("no /proc/config.gz on this machine")
    if "# CONFIG_DEVMEM is not set" not in config or os.path.exists("/proc/kcore"):
        pytest.skip("this machine has /dev/mem or /proc/kcore; the assertion is for the 6.18 VM")
    report = diagnose("/")
    assert report.verdict is Verdict.NONE
    opened = report.outcome(MEM, Op.OPEN)
    assert opened.ok is False and opened.errno in (errno.ENOENT, errno.ENXIO)
    assert opened.cause == "devmem-node" and "not built" in opened.reason
    assert report.outcome(KCORE, Op.OPEN).errno == errno.ENOENT
    assert report.check("devmem-node").status is Status.FAIL


def test_this_machine_real_probe_reports_enoent() -> None:
    if os.path.exists("/dev/mem"):
        pytest.skip("/dev/mem exists here; a real probe would be a live-tier test")
    report = diagnose("/", probe=True)
    assert report.probes[0].device == MEM and report.probes[0].open == errno.ENOENT
    assert report.outcome(MEM, Op.OPEN).source == "probe"
    assert "ENOENT (errno 2)" in report.check("probe").detail


# --------------------------------------------------------------------------- probe


def test_probe_wins_when_it_refuses_a_predicted_mmap(tmp_path: Path) -> None:
    spec = Spec(release="6.1.0-56-amd64", config=STRICT_OFF_61, cmdline=NOPAT_CMDLINE)
    assert run(tmp_path / "p", spec).verdict is Verdict.MMAP_OK
    report = run(tmp_path, spec, probe=True, prober=FakeProber(mem=(0, errno.EINVAL, 0)))
    assert report.verdict is Verdict.READ_ONLY_DEVMEM
    assert len(report.disagreements) == 1 and "probe wins" in report.disagreements[0]
    assert report.outcome(MEM, Op.MMAP).cause == "pat"
    assert "PROBE DISAGREES" in report.check("probe").detail
    assert "disagree" in render_text(report)


def test_probe_wins_when_it_maps_despite_strict(tmp_path: Path) -> None:
    report = run(tmp_path, Spec(), probe=True, prober=FakeProber(mem=(0, 0, 0)))
    assert report.verdict is Verdict.MMAP_OK and report.readers[0] == "mmap-devmem"
    assert any("predicted EPERM" in line for line in report.disagreements)
    assert not any("strict-devmem" in r for r in report.remedies)  # overturned by the probe
    assert report.check("probe").status is Status.OK


@pytest.mark.parametrize(
    ("result", "cause"),
    [
        ((errno.EPERM, None, None), "lockdown"),
        ((errno.EACCES, None, None), "privileges"),
        ((errno.ENXIO, None, None), "devmem-node"),
        ((0, errno.EPERM, errno.EPERM), "strict-devmem"),
        ((0, errno.EINVAL, 0), "pat"),
        ((0, errno.EAGAIN, 0), "pat"),
    ],
)
def test_probe_errnos_are_interpreted(
    tmp_path: Path, result: tuple[int, int | None, int | None], cause: str
) -> None:
    spec = Spec(lockdown="[integrity] confidentiality") if result[0] == errno.EPERM else Spec()
    report = run(tmp_path, spec, probe=True, prober=FakeProber(mem=result))
    op = Op.OPEN if result[0] else Op.MMAP
    outcome = report.outcome(MEM, op)
    assert outcome.source == "probe" and outcome.cause == cause
    assert outcome.errno == (result[0] or result[1])
    assert errno.errorcode[outcome.errno] in report.check("probe").detail


def test_probe_without_iomem_addresses_only_opens(tmp_path: Path) -> None:
    prober = FakeProber(mem=(0, 0, 0))
    report = run(tmp_path, Spec(iomem=IOMEM_HIDDEN), probe=True, prober=prober)
    assert prober.calls == [(MEM, str(tmp_path / "root" / "dev" / "mem"), None)]
    assert report.check("probe").status is Status.UNKNOWN
    assert report.check("iomem").status is Status.UNKNOWN
    assert any("CAP_SYS_ADMIN" in line for line in report.not_checked)


def test_probe_page_is_system_ram_above_16_mib(tmp_path: Path) -> None:
    prober = FakeProber(mem=(0, errno.EPERM, errno.EPERM))
    run(tmp_path, Spec(), probe=True, prober=prober)
    assert prober.calls[0][2] == 16 << 20


def test_os_prober_on_a_stand_in_file(tmp_path: Path) -> None:
    stand_in = tmp_path / "mem"
    stand_in.write_bytes(b"\xaa" * 8192)
    result = OsProber().probe(MEM, str(stand_in), 4096)
    assert (result.open, result.mmap, result.read) == (0, 0, 0)
    high = OsProber().probe(KMEM, str(stand_in), 0xFFFF888000001000)
    assert high.open == 0 and high.read == errno.EINVAL  # a regular file has no unsigned offsets
    missing = OsProber().probe(MEM, str(tmp_path / "nope"), 4096)
    assert (missing.open, missing.mmap, missing.read) == (errno.ENOENT, None, None)


# --------------------------------------------------------------------------- without root


def test_non_root_lists_what_it_could_not_check(tmp_path: Path) -> None:
    report = run(tmp_path, SCENARIOS["debian-6.12-user"])
    assert report.verdict is Verdict.NONE
    assert report.verdict_as_root is Verdict.KCORE_ONLY
    text = "\n".join(report.not_checked)
    assert "CAP_SYS_ADMIN" in text and "probe" in text
    assert report.remedies[0].startswith("[D4 privileges]")
    assert "as root  /proc/kcore only" in render_text(report)


def test_root_gets_no_as_root_prediction(tmp_path: Path) -> None:
    assert run(tmp_path, Spec()).verdict_as_root is None


# --------------------------------------------------------------------------- robustness


def test_empty_root_never_raises(tmp_path: Path) -> None:
    report = diagnose(str(tmp_path))
    assert report.verdict is Verdict.NONE
    assert report.check("kernel-version").status is Status.UNKNOWN
    assert report.check("kernel-config").status is Status.UNKNOWN
    assert report.check("lockdown").status is Status.UNKNOWN
    assert report.release == "unknown"
    assert len(report.not_checked) >= 4
    json.loads(render_json(report))


def test_garbage_inputs_never_raise(tmp_path: Path) -> None:
    root = tmp_path / "root"
    spec = Spec(
        release="not-a-version",
        config=None,
        cpu_flags="\x00\xff",
        lockdown="[bogus] mode",
        iomem="zzz\n-:\n0-: System RAM\n",
        kcore=b"\x7fELF\x02\x01" + b"\xff" * 58,
        uid_map="garbage",
        cap_eff="zz",
    )
    build(root, spec)
    (root / "proc" / "config.gz").write_bytes(b"not gzip")
    (root / "proc" / "cmdline").unlink()
    (root / "proc" / "cmdline").mkdir()  # unreadable: a directory
    report = diagnose(str(root))
    assert report.verdict is Verdict.NONE
    assert report.check("kernel-version").status is Status.UNKNOWN
    assert "not valid gzip" in report.check("kernel-config").detail
    assert report.check("privileges").status is Status.UNKNOWN
    assert report.outcome(MEM, Op.OPEN).ok is None
    render_text(report)


def test_probe_on_empty_root_never_raises(tmp_path: Path) -> None:
    report = diagnose(str(tmp_path), probe=True)
    assert report.probes[0].open == errno.ENOENT
    assert report.verdict is Verdict.NONE


# --------------------------------------------------------------------------- rendering and CLI


def test_json_has_checks_and_verdict(tmp_path: Path) -> None:
    data = json.loads(render_json(run(tmp_path, rhel6(config=RHEL6_STRICT_OFF))))
    assert data["verdict"] == "read-only /dev/mem" and data["verdict_code"] == "READ_ONLY_DEVMEM"
    ids = {c["id"] for c in data["checks"]}
    assert {f"D{i}" for i in range(1, 12)} <= ids
    for check in data["checks"]:
        assert set(check) >= {"id", "name", "status", "detail", "remedy"}
        assert check["status"] in ("ok", "warn", "fail", "unknown")
    pat = next(c for c in data["checks"] if c["name"] == "pat")
    assert pat["status"] == "fail" and "nopat" in pat["remedy"] and pat["explain"]
    mmap = next(o for o in data["outcomes"] if o["device"] == MEM and o["op"] == "mmap")
    assert mmap["errno_name"] == "EINVAL" and mmap["cause"] == "pat"
    assert data["probe"] == {"ran": False, "results": []}


def test_json_probe_results(tmp_path: Path) -> None:
    report = run(tmp_path, Spec(), probe=True, prober=FakeProber(mem=(0, errno.EPERM, errno.EPERM)))
    data = json.loads(render_json(report))
    result = data["probe"]["results"][0]
    assert result["open"] == {"errno": 0, "name": "OK"}
    assert result["mmap"] == {"errno": errno.EPERM, "name": "EPERM"}


def test_text_report_lists_every_check(tmp_path: Path) -> None:
    report = run(tmp_path, Spec())
    text = render_text(report)
    assert text.startswith("kmemx doctor: Linux 6.12.117+deb12-amd64 (x86_64)")
    assert "Verdict: /proc/kcore only" in text
    for check in report.checks:
        assert check.name in text


def test_main_json_and_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok_root = build(tmp_path / "ok", Spec())
    assert main(["--root", ok_root, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "/proc/kcore only"
    none_root = build(tmp_path / "none", SCENARIOS["docker-default"])
    assert main(["--root", none_root]) == 1
    assert "Verdict: no live access" in capsys.readouterr().out


def test_main_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    help_text = capsys.readouterr().out
    for section in ("NAME", "DESCRIPTION", "PROBE", "EXIT STATUS", "--root DIR"):
        assert section in help_text
    assert main(["--root", str(tmp_path / "missing")]) == 2
    assert main(["--bogus"]) == 2


# --------------------------------------------------------------------------- parsers


def test_parse_release() -> None:
    assert parse_release("6.12.117+deb12-amd64") == KernelVersion(6, 12, 117)
    assert parse_release("2.6.32-431.el6.x86_64") == KernelVersion(2, 6, 32)
    assert parse_release("6.16") == KernelVersion(6, 16, 0)
    assert parse_release("garbage") is None


def test_parse_config() -> None:
    values = parse_config('CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_LSM="x,y"\nnoise\n')
    assert values == {"A": "y", "B": "n", "LSM": "x,y"}


def test_parse_iomem() -> None:
    ranges = parse_iomem(IOMEM_HIDDEN)
    assert addresses_hidden(ranges) and pick_probe_page(ranges) is None
    from tests.unit.doctor_trees import IOMEM_ROOT

    ram = parse_iomem(IOMEM_ROOT)
    assert not addresses_hidden(ram)
    assert pick_probe_page(ram) == 16 << 20
    small = parse_iomem("00001000-0009fbff : System RAM\n00100000-00ffffff : System RAM\n")
    assert pick_probe_page(small) == 0x101000  # not pfn 256, which 2.6.32 allowed


def test_parse_kcore_header() -> None:
    blob = elf_core(vmcoreinfo=True)
    header = parse_kcore(blob[:64], lambda off, size: blob[off : off + size])
    assert header.has_vmcoreinfo and "CORE" in header.notes
    assert header.virtual_address(0x1000000) == 0xFFFF888000000000 + 0x1000000
    assert header.virtual_address(0x10) is None
    with pytest.raises(ValueError):
        parse_kcore(b"nope" * 16, lambda off, size: b"")


# --------------------------------------------------------------------------- docs/live.md scenarios

EXPECTED_VERDICTS = {
    "debian-12-6.1": Verdict.KCORE_ONLY,
    "debian-12-6.12": Verdict.KCORE_ONLY,
    "debian-6.12-user": Verdict.NONE,
    "debian-6.12-secure-boot": Verdict.KCORE_ONLY,
    "ubuntu-6.12-no-dbgsym": Verdict.KCORE_ONLY,
    "fedora-confidentiality": Verdict.NONE,
    "docker-default": Verdict.NONE,
    "docker-privileged": Verdict.KCORE_ONLY,
    "podman-rootless": Verdict.NONE,
    "rebuilt-6.1-strict-off": Verdict.READ_ONLY_DEVMEM,
    "rebuilt-6.1-strict-off-nopat": Verdict.MMAP_OK,
    "kernel-6.16-strict-off": Verdict.MMAP_OK,
    "rhel6-2013": Verdict.KCORE_ONLY,
    "rhel6-2013-strict-off": Verdict.READ_ONLY_DEVMEM,
    "vm-6.18-no-devmem": Verdict.NONE,
}


def test_every_docs_scenario_has_an_expected_verdict() -> None:
    assert set(EXPECTED_VERDICTS) == set(SCENARIOS)


@pytest.mark.parametrize("name", sorted(EXPECTED_VERDICTS))
def test_docs_scenario_verdict(tmp_path: Path, name: str) -> None:
    report = run(tmp_path, SCENARIOS[name])
    assert report.verdict is EXPECTED_VERDICTS[name]
    assert len(report.remedies) == len({r.split("] ", 1)[1] for r in report.remedies})
    if report.verdict is not Verdict.MMAP_OK:
        assert report.remedies, "a verdict short of mmap must say what to change"


def test_lockdown_remedy_names_the_actual_source(tmp_path: Path) -> None:
    forced = run(tmp_path / "f", SCENARIOS["vm-6.18-no-devmem"]).check("lockdown")
    assert "FORCE_NONE" in forced.remedy and "Secure Boot" not in forced.remedy
    cmdline = run(tmp_path / "c", SCENARIOS["fedora-confidentiality"]).check("lockdown")
    assert "remove lockdown=" in cmdline.remedy and "kdump" in cmdline.remedy


def test_kcore_without_vmcoreinfo_anywhere_warns(tmp_path: Path) -> None:
    report = run(tmp_path, rhel6(vmcoreinfo_sysfs=False))
    check = report.check("kcore")
    assert check.status is Status.WARN and "VMCOREINFO" in check.remedy


def test_missing_drgn_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kmemx.doctor.facts._drgn_version", lambda: None)
    check = run(tmp_path, Spec()).check("kcore")
    assert check.status is Status.WARN and check.remedy == "pip install drgn"
