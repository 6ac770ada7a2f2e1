"""Derive the kernel's relevant state from raw :class:`~kmemx.doctor.facts.Facts`.

Each derived value is a :class:`Known`: the value (``None`` when it cannot be
determined) and a sentence saying how it was decided.  Pure functions only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, TypeVar

from kmemx.doctor import kversion as kv
from kmemx.doctor.facts import Facts
from kmemx.doctor.sysfs import Node

__all__ = [
    "CAP_DAC_OVERRIDE",
    "CAP_SYSLOG",
    "CAP_SYS_ADMIN",
    "CAP_SYS_RAWIO",
    "LOCKDOWN_LEVELS",
    "Known",
    "State",
    "derive",
]

T = TypeVar("T")

CAP_DAC_OVERRIDE = 1
CAP_SYS_RAWIO = 17
CAP_SYS_ADMIN = 21
CAP_SYSLOG = 34

#: Lockdown modes, weakest first.
LOCKDOWN_LEVELS = ("none", "integrity", "confidentiality")

_CONTAINER_CGROUP = re.compile(r"docker|kubepods|containerd|libpod|lxc|crio|machine\.slice|garden")


@dataclass(frozen=True)
class Known(Generic[T]):
    """A derived value (None = unknown) and how it was decided."""

    value: T | None
    why: str


@dataclass(frozen=True)
class State:
    """Everything the checks and the predictor need, derived once."""

    x86: bool | None
    arm64: bool
    strict: Known[bool]
    io_strict: Known[bool]
    iomem_relaxed: bool
    pat: Known[bool]
    pat_era: Known[bool]
    lockdown: Known[str]
    lockdown_ceiling: str
    mem_driver: Known[bool]
    kmem_driver: Known[bool]
    userns: Known[bool]
    rawio: Known[bool]
    sys_admin: Known[bool]
    mem_dac: Known[bool]
    kmem_dac: Known[bool]
    devcg_mem: Known[bool]
    devcg_kmem: Known[bool]
    container: Known[bool]
    container_markers: tuple[str, ...]
    confidential: Known[bool]
    vmcoreinfo: Known[bool]


def _older(facts: Facts, milestone: kv.KernelVersion) -> bool | None:
    return None if facts.version is None else facts.version < milestone


def _config_bool(facts: Facts, option: str, absent: Known[bool]) -> Known[bool]:
    if facts.config is None:
        return Known(None, f"no kernel config found, CONFIG_{option} unknown")
    value = facts.config.enabled(option)
    if value is None:
        return absent
    state = "=" + (facts.config.get(option) or "") if value else " is not set"
    return Known(value, f"CONFIG_{option}{state} ({facts.config.source})")


def _strict(facts: Facts) -> Known[bool]:
    if _older(facts, kv.DEVMEM_RESTRICTIONS):
        return Known(False, "no /dev/mem restrictions before 2.6.26")
    if facts.config is not None and facts.config.enabled("STRICT_DEVMEM") is None:
        old = facts.config.enabled("NONPROMISC_DEVMEM")  # 2.6.26 name
        if old is not None:
            return Known(old, f"CONFIG_NONPROMISC_DEVMEM={'y' if old else 'n'} (2.6.26 name)")
    return _config_bool(
        facts,
        "STRICT_DEVMEM",
        Known(False, "CONFIG_STRICT_DEVMEM absent from the config (not offered for this kernel)"),
    )


def _pat(facts: Facts, x86: bool | None) -> Known[bool]:
    if x86 is False:
        return Known(False, "not x86: no PAT")
    for line in facts.dmesg or ():
        if "x86/PAT: Configuration" in line or "PAT configuration [0-7]" in line:
            types = line.rsplit(":", 1)[-1].split()
            if "WC" in types:
                return Known(True, f"dmesg: {line.strip()}")
            return Known(False, f"dmesg: {line.strip()} (no WC: PAT off)")
        if "PAT support disabled" in line or "PAT not supported" in line:
            return Known(False, f"dmesg: {line.strip()}")
        if "x86 PAT enabled" in line:
            return Known(True, f"dmesg: {line.strip()}")
    if facts.pat_memtype_list:
        return Known(True, "/sys/kernel/debug/x86/pat_memtype_list exists")
    config_pat = facts.config.enabled("X86_PAT") if facts.config is not None else None
    if config_pat is False:
        return Known(False, "CONFIG_X86_PAT is not set")
    if facts.cmdline_has("nopat"):
        return Known(False, "nopat on the kernel command line")
    if facts.cpu_flags is not None and "pat" not in facts.cpu_flags:
        return Known(False, "CPU has no PAT (no pat flag in /proc/cpuinfo)")
    if config_pat and facts.cpu_flags is not None and facts.cmdline is not None:
        return Known(True, "CONFIG_X86_PAT=y, cpu flag pat, no nopat (predicted; dmesg not read)")
    missing = [
        name
        for name, value in (
            ("CONFIG_X86_PAT", config_pat),
            ("/proc/cpuinfo", facts.cpu_flags),
            ("/proc/cmdline", facts.cmdline),
        )
        if value is None
    ]
    return Known(None, "PAT state unknown: cannot read " + ", ".join(missing))


def _pat_era(facts: Facts, x86: bool | None) -> Known[bool]:
    if x86 is False:
        return Known(False, "not x86")
    if facts.version is None:
        return Known(None, "kernel version unknown")
    if facts.version < kv.DEVMEM_RESTRICTIONS:
        return Known(False, f"{facts.version} predates the PAT check (2.6.26)")
    if facts.version >= kv.PAT_CHECK_REMOVED:
        return Known(False, f"{facts.version} >= 6.16: PAT check removed (1b3f2bd04d90)")
    return Known(True, f"{facts.version} < 6.16: PAT check present (removed by 1b3f2bd04d90)")


def _lockdown_file(facts: Facts) -> Known[str] | None:
    text = facts.lockdown.text
    if text is None:
        return None
    match = re.search(r"\[(\w+)\]", text)
    if match is None or match.group(1) not in LOCKDOWN_LEVELS:
        return Known(None, f"/sys/kernel/security/lockdown unparsable: {text.strip()!r}")
    return Known(match.group(1), f"/sys/kernel/security/lockdown: {text.strip()}")


def _lockdown_messages(facts: Facts) -> list[str]:
    return [
        line.strip()
        for line in facts.dmesg or ()
        if "Kernel is locked down from" in line or line.lstrip().startswith("Lockdown:")
    ]


def _lockdown_pre54(facts: Facts, messages: list[str]) -> Known[str]:
    if facts.securelevel is not None and facts.securelevel.strip() not in ("", "0"):
        return Known("integrity", f"securelevel {facts.securelevel} (RHEL7-style)")
    if messages:
        return Known("integrity", f"dmesg: {messages[0]} (distro lockdown patch)")
    config = facts.config
    patched = config is not None and any(
        config.enabled(option)
        for option in (
            "LOCK_DOWN_KERNEL",
            "LOCK_DOWN_IN_EFI_SECURE_BOOT",
            "EFI_SECURE_BOOT_LOCK_DOWN",
        )
    )
    if patched and facts.secure_boot:
        return Known("integrity", "distro lockdown patch with Secure Boot on")
    if patched and facts.secure_boot is None:
        return Known(None, "distro lockdown patch present; Secure Boot state unknown")
    return Known(
        "none", f"kernel {facts.version} predates the lockdown LSM (5.4); no distro lockdown found"
    )


def _lockdown(facts: Facts) -> Known[str]:
    from_file = _lockdown_file(facts)
    if from_file is not None and from_file.value is not None:
        return from_file
    messages = _lockdown_messages(facts)
    if _older(facts, kv.LOCKDOWN_LSM):
        return _lockdown_pre54(facts, messages)
    config = facts.config
    cmd = facts.cmdline_value("lockdown")
    levels: list[tuple[str, str]] = []
    if cmd in ("integrity", "confidentiality"):
        levels.append((cmd, f"lockdown={cmd} on the command line"))
    if config is not None:
        if config.enabled("SECURITY_LOCKDOWN_LSM") is False:
            return Known("none", "CONFIG_SECURITY_LOCKDOWN_LSM is not set")
        lsms = facts.cmdline_value("lsm") or config.get("LSM") or ""
        if not config.enabled("SECURITY_LOCKDOWN_LSM_EARLY") and "lockdown" not in lsms.split(","):
            return Known("none", "lockdown LSM built but not in the LSM list (CONFIG_LSM / lsm=)")
        for option, level in (
            ("LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY", "confidentiality"),
            ("LOCK_DOWN_KERNEL_FORCE_INTEGRITY", "integrity"),
        ):
            if config.enabled(option):
                levels.append((level, f"CONFIG_{option}=y"))
        if config.enabled("LOCK_DOWN_IN_EFI_SECURE_BOOT"):
            if facts.secure_boot:
                levels.append(
                    ("integrity", "Secure Boot on + CONFIG_LOCK_DOWN_IN_EFI_SECURE_BOOT=y")
                )
            elif facts.secure_boot is None and not levels:
                return Known(
                    None,
                    "CONFIG_LOCK_DOWN_IN_EFI_SECURE_BOOT=y and the Secure Boot state is unreadable",
                )
    if messages and not levels:
        levels.append(("integrity", f"dmesg: {messages[0]}"))
    if levels:
        level, why = max(levels, key=lambda item: LOCKDOWN_LEVELS.index(item[0]))
        return Known(level, f"{why} (inferred: /sys/kernel/security/lockdown not readable)")
    if config is None and cmd is None:
        reason = from_file.why if from_file is not None else "securityfs lockdown file not readable"
        return Known(None, f"{reason} and no kernel config")
    return Known("none", "no forced mode, no lockdown= and no Secure Boot lockdown in effect")


def _lockdown_ceiling(facts: Facts, lockdown: Known[str]) -> str:
    """The strictest lockdown mode still possible (matters for /proc/kcore).

    With a config but an unknown mode, only Secure Boot is undecided, and the
    distro Secure Boot lockdown is integrity at most.
    """
    if lockdown.value is not None:
        return lockdown.value
    return "integrity" if facts.config is not None else "confidentiality"


def _mem_driver(facts: Facts, name: str, option: str) -> Known[bool]:
    if facts.mem_class is not None and "null" in facts.mem_class:
        present = name in facts.mem_class
        return Known(present, f"/sys/class/mem/{name} {'exists' if present else 'is absent'}")
    if name == "mem":
        absent = Known(True, "no CONFIG_DEVMEM option in this kernel: /dev/mem is always built")
    elif _older(facts, kv.DEVMEM_RESTRICTIONS):
        absent = Known(True, "no CONFIG_DEVKMEM option before 2.6.26: /dev/kmem is always built")
    else:
        absent = Known(False, "CONFIG_DEVKMEM absent from the config")
    return _config_bool(facts, option, absent)


def _kmem_driver(facts: Facts, arm64: bool) -> Known[bool]:
    if arm64:
        return Known(False, "/dev/kmem never existed on arm64 (DEVKMEM depends on !ARM64)")
    if facts.version is not None and facts.version >= kv.KMEM_REMOVED:
        return Known(False, "/dev/kmem was removed in Linux 5.13 (bbcd53c96071)")
    return _mem_driver(facts, "kmem", "DEVKMEM")


def _userns(facts: Facts) -> Known[bool]:
    if facts.uid_map is None:
        if facts.version is not None and facts.version < kv.KernelVersion(3, 5):
            return Known(False, "no /proc/self/uid_map (kernel without user namespaces)")
        if facts.config is not None and facts.config.enabled("USER_NS") is False:
            return Known(False, f"no /proc/self/uid_map: CONFIG_USER_NS is not set "
                                f"({facts.config.source}), so there is only the initial one")
        return Known(None, "/proc/self/uid_map not readable")
    lines = [line.split() for line in facts.uid_map.splitlines() if line.strip()]
    if lines == [["0", "0", "4294967295"]]:
        return Known(False, "initial user namespace (uid_map 0 0 4294967295)")
    shown = "; ".join(" ".join(line) for line in lines) or "empty"
    return Known(True, f"user namespace (uid_map: {shown}): capabilities do not count on the host")


def _cap(facts: Facts, bit: int, name: str, userns: Known[bool]) -> Known[bool]:
    if facts.cap_eff is None:
        return Known(None, f"CapEff not readable from /proc/self/status ({facts.status_error})")
    has = bool(facts.cap_eff >> bit & 1)
    if not has:
        return Known(False, f"{name} not in CapEff ({facts.cap_eff:016x})")
    if userns.value:
        return Known(False, f"{name} held only inside a user namespace")
    if userns.value is None:
        return Known(None, f"{name} in CapEff, but the user namespace is unknown")
    return Known(True, f"{name} in CapEff")


def _dac(facts: Facts, node: Node, userns: Known[bool]) -> Known[bool]:
    if not node.present:
        return Known(None, f"{node.path} not present")
    if (
        facts.cap_eff is not None
        and facts.cap_eff >> CAP_DAC_OVERRIDE & 1
        and userns.value is False
    ):
        return Known(True, "CAP_DAC_OVERRIDE")
    if facts.uid is None:
        return Known(None, "uid unknown")
    if node.uid == facts.uid:
        allowed, who = node.mode & 0o400, "owner"
    elif node.gid in facts.groups:
        allowed, who = node.mode & 0o040, "group"
    else:
        allowed, who = node.mode & 0o004, "other"
    mode = f"{node.mode:04o} uid {node.uid} gid {node.gid}"
    return Known(
        bool(allowed), f"{node.path} is {mode}; {who} read {'allowed' if allowed else 'denied'}"
    )


def _devcg(facts: Facts, minor: int, container: Known[bool]) -> Known[bool]:
    if facts.devices_list is None:
        if facts.cgroup2_only and container.value:
            return Known(None, "cgroup v2 device rules are BPF programs and cannot be read")
        return Known(True, "no device-cgroup restriction visible")
    for line in facts.devices_list.splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[0] not in ("a", "c"):
            continue
        major_s, _, minor_s = parts[1].partition(":")
        if major_s in ("*", "1") and minor_s in ("*", str(minor)) and "r" in parts[2]:
            return Known(True, f"device cgroup allows c 1:{minor} ({line.strip()})")
    return Known(False, f"device cgroup has no rule allowing c 1:{minor} (reads get EPERM)")


def _container(facts: Facts, userns: Known[bool]) -> tuple[Known[bool], tuple[str, ...]]:
    strong: list[str] = []
    weak: list[str] = []
    if facts.containerenv:
        strong.append("/run/.containerenv (podman)")
    if facts.dockerenv:
        weak.append("/.dockerenv")
    for label, text in (
        ("/proc/1/cgroup", facts.pid1_cgroup),
        ("/proc/self/cgroup", facts.self_cgroup),
    ):
        if text and _CONTAINER_CGROUP.search(text):
            strong.append(f"{label} names a container runtime")
            break
    if userns.value:
        strong.append("user namespace")
    if facts.root_fstype == "overlay":
        weak.append("root file system is overlay")
    if facts.kcore_masked:
        strong.append("/proc/kcore is masked by a mount")
    markers = tuple(strong + weak)
    if strong:
        return Known(True, "container: " + ", ".join(markers)), markers
    if weak:
        if facts.root_fstype not in (None, "overlay"):
            why = (
                f"marker {', '.join(weak)} present, but no container runtime in the cgroups, no"
                f" user namespace and the root file system is {facts.root_fstype}: probably a VM"
                " or host built from a container image"
            )
            return Known(False, why), markers
        return Known(True, "container: " + ", ".join(markers)), markers
    if facts.self_cgroup is None and facts.uid_map is None:
        return Known(None, "cgroup and user-namespace files not readable"), markers
    return Known(False, "no container markers"), markers


def _confidential(facts: Facts) -> Known[bool]:
    for line in facts.dmesg or ():
        if "Memory Encryption Features active" in line:
            return Known(True, f"dmesg: {line.strip()}")
    if facts.cpu_flags is not None and "tdx_guest" in facts.cpu_flags:
        return Known(True, "cpu flag tdx_guest")
    if facts.dmesg is None:
        return Known(None, f"dmesg not readable ({facts.dmesg_error or 'no /dev/kmsg'})")
    return Known(False, "no memory-encryption lines in dmesg")


def _vmcoreinfo(facts: Facts) -> Known[bool]:
    if facts.kcore_header is not None:
        has = facts.kcore_header.has_vmcoreinfo
        return Known(has, f"/proc/kcore header {'has' if has else 'has no'} VMCOREINFO note")
    if facts.version is not None:
        has = facts.version >= kv.KCORE_VMCOREINFO
        return Known(
            has, f"kernel {facts.version} {'>=' if has else '<'} 4.19 (note added in 4.19)"
        )
    return Known(None, "kcore header not read and version unknown")


def derive(facts: Facts) -> State:
    """Compute :class:`State` from ``facts``."""
    arch = facts.arch or ""
    x86: bool | None = None if not arch else bool(re.match(r"x86|i[3-6]86|amd64", arch))
    arm64 = arch in ("aarch64", "arm64")
    userns = _userns(facts)
    container, markers = _container(facts, userns)
    lockdown = _lockdown(facts)
    return State(
        x86=x86,
        arm64=arm64,
        strict=_strict(facts),
        io_strict=_config_bool(
            facts, "IO_STRICT_DEVMEM", Known(False, "CONFIG_IO_STRICT_DEVMEM absent (before 4.5)")
        ),
        iomem_relaxed=facts.cmdline_value("iomem") == "relaxed",
        pat=_pat(facts, x86),
        pat_era=_pat_era(facts, x86),
        lockdown=lockdown,
        lockdown_ceiling=_lockdown_ceiling(facts, lockdown),
        mem_driver=_mem_driver(facts, "mem", "DEVMEM"),
        kmem_driver=_kmem_driver(facts, arm64),
        userns=userns,
        rawio=_cap(facts, CAP_SYS_RAWIO, "CAP_SYS_RAWIO", userns),
        sys_admin=_cap(facts, CAP_SYS_ADMIN, "CAP_SYS_ADMIN", userns),
        mem_dac=_dac(facts, facts.mem_node, userns),
        kmem_dac=_dac(facts, facts.kmem_node, userns),
        devcg_mem=_devcg(facts, 1, container),
        devcg_kmem=_devcg(facts, 2, container),
        container=container,
        container_markers=markers,
        confidential=_confidential(facts),
        vmcoreinfo=_vmcoreinfo(facts),
    )
