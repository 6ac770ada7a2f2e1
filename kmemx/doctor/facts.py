"""Gather every raw input the doctor uses, relative to a root directory.

This is the only module of the doctor (besides the probe) that touches the
file system.  :func:`gather` never raises: an input that cannot be read is
recorded as missing together with the reason, and the checks turn that into
an ``unknown`` status.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass, field

from kmemx.doctor.iomem import IomemRange, parse_iomem
from kmemx.doctor.kconfig import KConfig, find_config
from kmemx.doctor.kcore import KcoreHeader, read_kcore_header
from kmemx.doctor.kversion import KernelVersion, parse_release
from kmemx.doctor.sysfs import Node, Read, Tree

__all__ = ["ALL_CAPS", "Facts", "debuginfo_paths", "gather"]

#: CapEff of a fully privileged process (every capability bit set).
ALL_CAPS = (1 << 64) - 1

_SECURE_BOOT_VAR = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-e0cb4ee1ad19"


def debuginfo_paths(release: str) -> list[str]:
    """Where distributions and drgn look for the running kernel's vmlinux."""
    return [
        f"/usr/lib/debug/boot/vmlinux-{release}",
        f"/usr/lib/debug/lib/modules/{release}/vmlinux",
        f"/boot/vmlinux-{release}",
        f"/lib/modules/{release}/build/vmlinux",
        f"/lib/modules/{release}/vmlinux",
    ]


@dataclass(frozen=True)
class Facts:
    """Raw inputs, read once.  ``None`` always means "could not be read"."""

    root: str
    live: bool
    release: str | None
    release_source: str
    version: KernelVersion | None
    arch: str | None
    arch_source: str
    config: KConfig | None
    config_tried: tuple[str, ...]
    cmdline: tuple[str, ...] | None
    cpu_flags: frozenset[str] | None
    dmesg: tuple[str, ...] | None
    dmesg_error: str
    mem_node: Node
    kmem_node: Node
    mem_class: frozenset[str] | None
    uid: int | None
    groups: frozenset[int]
    cap_eff: int | None
    status_error: str
    uid_map: str | None
    lockdown: Read
    securelevel: str | None
    efi: bool | None
    secure_boot: bool | None
    iomem: tuple[IomemRange, ...] | None
    iomem_error: str
    kcore_node: Node
    kcore_header: KcoreHeader | None
    kcore_error: str
    kcore_masked: bool
    sys_vmcoreinfo: bool
    debuginfo: tuple[str, ...]
    debuginfo_tried: tuple[str, ...]
    os_release: dict[str, str] = field(default_factory=dict)
    dockerenv: bool = False
    containerenv: bool = False
    pid1_cgroup: str | None = None
    self_cgroup: str | None = None
    root_fstype: str | None = None
    devices_list: str | None = None
    cgroup2_only: bool = False
    drgn_version: str | None = None
    pat_memtype_list: bool = False
    debuginfod: bool = False

    def cmdline_value(self, key: str) -> str | None:
        """Value of ``key=`` on the kernel command line (last wins), or None."""
        found = None
        for token in self.cmdline or ():
            name, sep, value = token.partition("=")
            if sep and name == key:
                found = value
        return found

    def cmdline_has(self, word: str) -> bool:
        """True when ``word`` appears on the command line as a bare flag."""
        return word in (self.cmdline or ())


def _release(tree: Tree) -> tuple[str | None, str]:
    text = tree.read("/proc/sys/kernel/osrelease").text
    if text and text.strip():
        return text.strip(), "/proc/sys/kernel/osrelease"
    if tree.is_live:
        return os.uname().release, "uname()"
    return None, "/proc/sys/kernel/osrelease unreadable"


def _arch(tree: Tree, config: KConfig | None) -> tuple[str | None, str]:
    text = tree.read("/proc/sys/kernel/arch").text
    if text and text.strip():
        return text.strip(), "/proc/sys/kernel/arch"
    if config is not None:
        for option, arch in (("X86_64", "x86_64"), ("ARM64", "aarch64"), ("X86_32", "i686")):
            if config.enabled(option):
                return arch, f"CONFIG_{option}"
    if tree.is_live:
        return os.uname().machine, "uname()"
    return None, "unknown"


def _cpu_flags(tree: Tree) -> frozenset[str] | None:
    text = tree.read("/proc/cpuinfo").text
    if text is None:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


def _status(tree: Tree) -> tuple[int | None, frozenset[int], int | None, str]:
    got = tree.read("/proc/self/status")
    if got.text is None:
        return None, frozenset(), None, got.error
    uid: int | None = None
    cap: int | None = None
    groups: set[int] = set()
    for line in got.text.splitlines():
        key, _, value = line.partition(":")
        fields = value.split()
        try:
            if key == "Uid" and len(fields) >= 2:
                uid = int(fields[1])
            elif key == "Gid" and len(fields) >= 2:
                groups.add(int(fields[1]))
            elif key == "Groups":
                groups.update(int(g) for g in fields)
            elif key == "CapEff" and fields:
                cap = int(fields[0], 16)
        except ValueError:
            continue
    return uid, frozenset(groups), cap, "" if cap is not None else "no CapEff line"


def _secure_boot(tree: Tree) -> tuple[bool | None, bool | None]:
    firmware = tree.listdir("/sys/firmware")
    if firmware is None:
        return None, None
    if "efi" not in firmware:
        return False, False  # BIOS boot: no Secure Boot
    got = tree.read(_SECURE_BOOT_VAR)
    if got.data:
        return True, got.data[-1] == 1
    if got.missing and tree.listdir("/sys/firmware/efi/efivars"):
        return True, False  # efivarfs mounted and no SecureBoot variable
    return True, None


def _mountinfo(tree: Tree) -> tuple[str | None, bool]:
    text = tree.read("/proc/self/mountinfo").text
    if text is None:
        return None, False
    root_fstype: str | None = None
    masked = False
    for line in text.splitlines():
        before, sep, after = line.partition(" - ")
        fields = before.split()
        if not sep or len(fields) < 5:
            continue
        mountpoint = fields[4]
        fstype = after.split()[0] if after.split() else ""
        if mountpoint == "/":
            root_fstype = fstype
        elif mountpoint == "/proc/kcore":
            masked = True
    return root_fstype, masked


def _cgroups(tree: Tree) -> tuple[str | None, str | None, str | None, bool]:
    pid1 = tree.read("/proc/1/cgroup").text
    own = tree.read("/proc/self/cgroup").text
    devices_path = ""
    for line in (own or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and "devices" in parts[1].split(","):
            devices_path = parts[2]
    devices: str | None = None
    for candidate in (f"/sys/fs/cgroup/devices{devices_path}", "/sys/fs/cgroup/devices"):
        got = tree.read(candidate.rstrip("/") + "/devices.list")
        if got.text is not None:
            devices = got.text
            break
    v2_only = (
        devices is None
        and tree.exists("/sys/fs/cgroup/cgroup.controllers")
        and bool(own)
        and all(line.startswith("0::") for line in (own or "").splitlines() if line)
    )
    return pid1, own, devices, v2_only


def _os_release(tree: Tree) -> dict[str, str]:
    values: dict[str, str] = {}
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        text = tree.read(path).text
        if text is None:
            continue
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip().strip("\"'")
        break
    return values


def _drgn_version() -> str | None:
    try:
        if importlib.util.find_spec("drgn") is None:
            return None
    except (ImportError, ValueError):
        return None
    try:
        return importlib.metadata.version("drgn")
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


def gather(tree: Tree) -> Facts:
    """Read every input under ``tree``."""
    release, release_source = _release(tree)
    config, tried = find_config(tree, release)
    arch, arch_source = _arch(tree, config)
    cmdline_text = tree.read("/proc/cmdline").text
    kmsg = tree.read_kmsg()
    if kmsg.text is None:
        kmsg = tree.read("/var/log/dmesg")
    uid, groups, cap, status_error = _status(tree)
    uid_map = tree.read("/proc/self/uid_map").text
    mem_class = tree.listdir("/sys/class/mem")
    efi, secure_boot = _secure_boot(tree)
    iomem = tree.read("/proc/iomem")
    kcore_header, kcore_error = read_kcore_header(tree)
    root_fstype, masked = _mountinfo(tree)
    pid1, own, devices, v2_only = _cgroups(tree)
    candidates = debuginfo_paths(release) if release else []
    found = tuple(p for p in candidates if tree.node(p).kind == "file")
    securelevel = tree.read("/sys/kernel/security/securelevel").text
    return Facts(
        root=tree.root,
        live=tree.is_live,
        release=release,
        release_source=release_source,
        version=parse_release(release) if release else None,
        arch=arch,
        arch_source=arch_source,
        config=config,
        config_tried=tuple(tried),
        cmdline=tuple(cmdline_text.split()) if cmdline_text is not None else None,
        cpu_flags=_cpu_flags(tree),
        dmesg=tuple(kmsg.text.splitlines()) if kmsg.text is not None else None,
        dmesg_error=kmsg.error,
        mem_node=tree.node("/dev/mem"),
        kmem_node=tree.node("/dev/kmem"),
        mem_class=frozenset(mem_class) if mem_class else None,
        uid=uid,
        groups=groups,
        cap_eff=cap,
        status_error=status_error,
        uid_map=uid_map,
        lockdown=tree.read("/sys/kernel/security/lockdown"),
        securelevel=securelevel.strip() if securelevel else None,
        efi=efi,
        secure_boot=secure_boot,
        iomem=tuple(parse_iomem(iomem.text)) if iomem.text is not None else None,
        iomem_error=iomem.error,
        kcore_node=tree.node("/proc/kcore"),
        kcore_header=kcore_header,
        kcore_error=kcore_error,
        kcore_masked=masked,
        sys_vmcoreinfo=tree.exists("/sys/kernel/vmcoreinfo"),
        debuginfo=found,
        debuginfo_tried=tuple(candidates),
        os_release=_os_release(tree),
        dockerenv=tree.exists("/.dockerenv"),
        containerenv=tree.exists("/run/.containerenv"),
        pid1_cgroup=pid1,
        self_cgroup=own,
        root_fstype=root_fstype,
        devices_list=devices,
        cgroup2_only=v2_only,
        drgn_version=_drgn_version(),
        pat_memtype_list=tree.exists("/sys/kernel/debug/x86/pat_memtype_list"),
        debuginfod=tree.is_live and bool(os.environ.get("DEBUGINFOD_URLS")),
    )
