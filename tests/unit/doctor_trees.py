"""Synthetic /proc, /sys, /boot and /dev trees for ``kmemx doctor`` tests and docs.

A :class:`Spec` describes one machine; :func:`build` writes it below a directory
so that ``diagnose(root)`` reads it exactly like a live system.  Device nodes
are regular stand-in files (tests do not need root to create them).

The ``*_CONFIG`` constants are literal lines copied from real kernel configs:

* ``DEBIAN_61_CONFIG``: ``/boot/config-6.1.0-56-amd64`` from Debian's
  ``linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb``;
* ``DEBIAN_612_CONFIG``: ``/boot/config-6.12.117+deb12-amd64`` from
  ``linux-image-6.12.117+deb12-amd64-unsigned_6.12.117-1~deb12u1_amd64.deb``;
* ``MACHINE_618_CONFIG``: ``/proc/config.gz`` of the developers' 6.18.44 VM;
* ``RHEL6_CONFIG``: ``configs/kernel-2.6.32-x86_64.config`` of the RHEL6-based
  openvz mirror (STRICT_DEVMEM=y, X86_PAT=y, PROC_KCORE=y; no CONFIG_DEVMEM
  option yet), with ``CONFIG_DEVKMEM=y`` as in the 2013 poster's rebuilt kernel.

Run ``python -m tests.unit.doctor_trees OUTDIR`` to regenerate the sample
outputs quoted in ``docs/live.md``.
"""

from __future__ import annotations

import os
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DEBIAN_61_CONFIG",
    "DEBIAN_612_CONFIG",
    "FULL_CAPS",
    "IOMEM_HIDDEN",
    "IOMEM_ROOT",
    "MACHINE_618_CONFIG",
    "RHEL6_CONFIG",
    "SCENARIOS",
    "Spec",
    "build",
    "elf_core",
    "with_config",
]

DEBIAN_61_CONFIG = """\
# CONFIG_IKCONFIG is not set
CONFIG_X86_64=y
CONFIG_X86_PAT=y
CONFIG_RANDOMIZE_MEMORY=y
CONFIG_DEVMEM=y
CONFIG_PROC_KCORE=y
CONFIG_HARDENED_USERCOPY=y
CONFIG_SECURITY_LOCKDOWN_LSM=y
CONFIG_SECURITY_LOCKDOWN_LSM_EARLY=y
CONFIG_LOCK_DOWN_KERNEL_FORCE_NONE=y
# CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY is not set
# CONFIG_LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY is not set
CONFIG_LOCK_DOWN_IN_EFI_SECURE_BOOT=y
CONFIG_LSM="landlock,lockdown,yama,loadpin,safesetid,integrity,apparmor,selinux,smack,tomoyo,bpf"
CONFIG_STRICT_DEVMEM=y
CONFIG_IO_STRICT_DEVMEM=y
"""

DEBIAN_612_CONFIG = """\
# CONFIG_IKCONFIG is not set
CONFIG_VMCORE_INFO=y
CONFIG_X86_64=y
CONFIG_X86_PAT=y
CONFIG_RANDOMIZE_MEMORY=y
CONFIG_DEVMEM=y
CONFIG_PROC_KCORE=y
CONFIG_HARDENED_USERCOPY=y
CONFIG_SECURITY_LOCKDOWN_LSM=y
CONFIG_SECURITY_LOCKDOWN_LSM_EARLY=y
CONFIG_LOCK_DOWN_KERNEL_FORCE_NONE=y
# CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY is not set
# CONFIG_LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY is not set
CONFIG_LOCK_DOWN_IN_EFI_SECURE_BOOT=y
CONFIG_LSM="landlock,lockdown,yama,loadpin,safesetid,integrity,apparmor,selinux,smack,tomoyo,bpf,ipe"
CONFIG_STRICT_DEVMEM=y
CONFIG_IO_STRICT_DEVMEM=y
"""

MACHINE_618_CONFIG = """\
CONFIG_IKCONFIG=y
CONFIG_IKCONFIG_PROC=y
CONFIG_VMCORE_INFO=y
CONFIG_X86_PAT=y
CONFIG_RANDOMIZE_MEMORY=y
# CONFIG_DEVMEM is not set
# CONFIG_PROC_KCORE is not set
CONFIG_SECURITY_LOCKDOWN_LSM=y
CONFIG_SECURITY_LOCKDOWN_LSM_EARLY=y
# CONFIG_LOCK_DOWN_KERNEL_FORCE_NONE is not set
CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY=y
# CONFIG_LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY is not set
CONFIG_LSM="landlock,lockdown,yama,loadpin,safesetid,integrity,smack,tomoyo,apparmor,bpf"
CONFIG_HARDENED_USERCOPY=y
# CONFIG_STRICT_DEVMEM is not set
"""

RHEL6_CONFIG = """\
CONFIG_64BIT=y
CONFIG_X86_64=y
CONFIG_X86_PAT=y
CONFIG_DEVKMEM=y
CONFIG_PROC_KCORE=y
CONFIG_STRICT_DEVMEM=y
"""

#: CapEff of root with every capability (as on the 6.18 VM).
FULL_CAPS = "000001ffffffffff"

IOMEM_ROOT = """\
00000000-00000fff : Reserved
00001000-0009fbff : System RAM
0009fc00-000fffff : Reserved
  000f0000-000fffff : System ROM
00100000-bfffffff : System RAM
  01000000-022090c7 : Kernel code
  02400000-02e08fff : Kernel rodata
c0000000-febfffff : PCI Bus 0000:00
  fd000000-fdffffff : 0000:00:02.0
    fd000000-fdffffff : bochs-drm
100000000-23fffffff : System RAM
"""

#: ``IOMEM_ROOT`` as a process without CAP_SYS_ADMIN sees it (Linux 4.6+).
IOMEM_HIDDEN = "".join(
    f"{line[: len(line) - len(line.lstrip())]}00000000-00000000 : {line.split(' : ', 1)[1]}\n"
    for line in IOMEM_ROOT.splitlines()
)

_CPU_FLAGS = (
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr"
    " sse sse2 ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology cpuid pni"
    " pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand"
    " hypervisor lahf_lm abm"
)

_MEM_CLASS = ("full", "kmsg", "mem", "null", "port", "random", "urandom", "zero")

_DIRECT_MAP = 0xFFFF888000000000


def with_config(base: str, **options: str) -> str:
    """``base`` with ``CONFIG_<name>`` lines replaced: value ``"n"`` writes ``is not set``."""
    lines = []
    names = {f"CONFIG_{name}" for name in options}
    for line in base.splitlines():
        key = line.split("=", 1)[0].removeprefix("# ").split(" ", 1)[0]
        if key not in names:
            lines.append(line)
    for name, value in options.items():
        if value == "":
            continue  # drop the option entirely
        lines.append(f"# CONFIG_{name} is not set" if value == "n" else f"CONFIG_{name}={value}")
    return "\n".join(lines) + "\n"


def elf_core(
    vmcoreinfo: bool = True, ram_paddr: int = 0x100000, ram_size: int = 0xBFF00000
) -> bytes:
    """A minimal ELF64 core shaped like /proc/kcore: notes plus one KCORE_RAM segment."""

    def pad(blob: bytes) -> bytes:
        return blob + b"\0" * (-len(blob) % 4)

    def note(name: bytes, ntype: int, desc: bytes) -> bytes:
        name0 = name + b"\0"
        return struct.pack("<III", len(name0), len(desc), ntype) + pad(name0) + pad(desc)

    notes = note(b"CORE", 1, b"\0" * 16)
    if vmcoreinfo:
        notes += note(b"VMCOREINFO", 0, b"OSRELEASE=6.1.0-56-amd64\nPAGESIZE=4096\n")
    phoff, phnum = 64, 2
    notes_off = phoff + 56 * phnum
    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    header += struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, phoff, 0, 0, 64, 56, phnum, 0, 0, 0)
    ph_note = struct.pack("<IIQQQQQQ", 4, 0, notes_off, 0, 0, len(notes), 0, 4)
    ph_load = struct.pack(
        "<IIQQQQQQ", 1, 7, 0x10000, _DIRECT_MAP + ram_paddr, ram_paddr, ram_size, ram_size, 4096
    )
    return header + ph_note + ph_load + notes


@dataclass(frozen=True)
class Spec:
    """One synthetic machine.  ``None`` means "this input is absent"."""

    release: str = "6.12.117+deb12-amd64"
    arch: str | None = "x86_64"
    config: str | None = DEBIAN_612_CONFIG
    config_at: str = "boot"  # "boot", "proc" (config.gz), "modules"
    cmdline: str | None = "BOOT_IMAGE=/boot/vmlinuz root=/dev/sda1 ro quiet"
    cpu_flags: str | None = _CPU_FLAGS
    dmesg: tuple[str, ...] | None = None
    devmem: bool = True
    devkmem: bool = False
    node_mode: int = 0o640
    mem_class: tuple[str, ...] | None = _MEM_CLASS
    uid: int = 0
    groups: str = "0"
    cap_eff: str | None = FULL_CAPS
    uid_map: str | None = "         0          0 4294967295\n"
    lockdown: str | None = "[none] integrity confidentiality"
    secure_boot: bool | None = None  # None: no /sys/firmware at all
    iomem: str | None = IOMEM_ROOT
    kcore: bytes | None = field(default_factory=elf_core)
    vmcoreinfo_sysfs: bool = True
    vmlinux: bool = True
    os_id: str = "debian"
    dockerenv: bool = False
    containerenv: bool = False
    cgroup: str = "0::/\n"
    devices_list: str | None = None
    root_fstype: str = "ext4"
    extra: tuple[tuple[str, str], ...] = ()


def _write(root: Path, rel: str, data: str | bytes, mode: int | None = None) -> None:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    if mode is not None:
        os.chmod(path, mode)


def _config(root: Path, spec: Spec) -> None:
    if spec.config is None:
        return
    if spec.config_at == "proc":
        import gzip

        _write(root, "/proc/config.gz", gzip.compress(spec.config.encode()))
    elif spec.config_at == "modules":
        _write(root, f"/lib/modules/{spec.release}/config", spec.config)
    else:
        _write(root, f"/boot/config-{spec.release}", spec.config)


def _status(spec: Spec) -> str:
    lines = [
        "Name:\tkmemx",
        "State:\tR (running)",
        f"Uid:\t{spec.uid}\t{spec.uid}\t{spec.uid}\t{spec.uid}",
    ]
    lines.append(f"Gid:\t{spec.uid}\t{spec.uid}\t{spec.uid}\t{spec.uid}")
    lines.append(f"Groups:\t{spec.groups}")
    if spec.cap_eff is not None:
        lines += [
            "CapInh:\t0000000000000000",
            f"CapPrm:\t{spec.cap_eff}",
            f"CapEff:\t{spec.cap_eff}",
        ]
    return "\n".join(lines) + "\n"


def build(where: Path, spec: Spec) -> str:
    """Write ``spec`` below ``where`` and return the root path for ``diagnose``."""
    root = where
    root.mkdir(parents=True, exist_ok=True)
    _write(root, "/proc/sys/kernel/osrelease", spec.release + "\n")
    if spec.arch is not None:
        _write(root, "/proc/sys/kernel/arch", spec.arch + "\n")
    _config(root, spec)
    if spec.cmdline is not None:
        _write(root, "/proc/cmdline", spec.cmdline + "\n")
    if spec.cpu_flags is not None:
        _write(
            root,
            "/proc/cpuinfo",
            f"processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: {spec.cpu_flags}\n",
        )
    if spec.dmesg is not None:
        records = "".join(f"6,{i},{i * 1000},-;{line}\n" for i, line in enumerate(spec.dmesg))
        _write(root, "/dev/kmsg", records)
    if spec.devmem:
        _write(root, "/dev/mem", b"", spec.node_mode)
    if spec.devkmem:
        _write(root, "/dev/kmem", b"", spec.node_mode)
    if spec.mem_class is not None:
        for name in spec.mem_class:
            minor = {"mem": 1, "kmem": 2, "null": 3, "port": 4, "zero": 5}.get(name, 7)
            _write(root, f"/sys/class/mem/{name}/dev", f"1:{minor}\n")
    _write(root, "/proc/self/status", _status(spec))
    if spec.uid_map is not None:
        _write(root, "/proc/self/uid_map", spec.uid_map)
    if spec.lockdown is not None:
        _write(root, "/sys/kernel/security/lockdown", spec.lockdown + "\n")
    if spec.secure_boot is not None:
        var = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-e0cb4ee1ad19"
        _write(root, var, bytes([6, 0, 0, 0, 1 if spec.secure_boot else 0]))
    if spec.iomem is not None:
        _write(root, "/proc/iomem", spec.iomem)
    if spec.kcore is not None:
        _write(root, "/proc/kcore", spec.kcore, 0o400)
    if spec.vmcoreinfo_sysfs:
        _write(root, "/sys/kernel/vmcoreinfo", "1fe0e9000 1024\n")
    if spec.vmlinux:
        _write(root, f"/usr/lib/debug/boot/vmlinux-{spec.release}", b"\x7fELF")
    _write(root, "/etc/os-release", f"ID={spec.os_id}\nPRETTY_NAME={spec.os_id}\n")
    if spec.dockerenv:
        _write(root, "/.dockerenv", "")
    if spec.containerenv:
        _write(root, "/run/.containerenv", "")
    _write(root, "/proc/1/cgroup", spec.cgroup)
    _write(root, "/proc/self/cgroup", spec.cgroup)
    if spec.devices_list is not None:
        _write(root, "/sys/fs/cgroup/devices/devices.list", spec.devices_list)
    _write(
        root,
        "/proc/self/mountinfo",
        f"27 1 254:0 / / rw,relatime - {spec.root_fstype} /dev/sda1 rw\n"
        "22 27 0:21 / /proc rw,relatime - proc proc rw\n",
    )
    for rel, text in spec.extra:
        _write(root, rel, text)
    return str(root)


_SB_DMESG = ("Kernel is locked down from EFI Secure Boot mode; see man kernel_lockdown.7",)
_STRICT_OFF_612 = with_config(DEBIAN_612_CONFIG, STRICT_DEVMEM="n", IO_STRICT_DEVMEM="")
_STRICT_OFF_61 = with_config(DEBIAN_61_CONFIG, STRICT_DEVMEM="n", IO_STRICT_DEVMEM="")
_DOCKER_MOUNTS = (
    "600 500 0:50 / / rw - overlay overlay rw\n"
    "601 600 0:5 /null /proc/kcore rw,nosuid - devtmpfs udev rw\n"
)

#: Named machines used by docs/live.md and by tests.  Where a distribution's
#: config is not at hand, the Debian 6.12 lines stand in (docs/live.md says so).
SCENARIOS: dict[str, Spec] = {
    "debian-12-6.1": Spec(release="6.1.0-56-amd64", config=DEBIAN_61_CONFIG),
    "debian-12-6.12": Spec(),
    "debian-6.12-user": Spec(
        uid=1000, groups="1000", cap_eff="0000000000000000", iomem=IOMEM_HIDDEN
    ),
    "debian-6.12-secure-boot": Spec(
        lockdown="[integrity] confidentiality", secure_boot=True, dmesg=_SB_DMESG
    ),
    "ubuntu-6.12-no-dbgsym": Spec(os_id="ubuntu", vmlinux=False),
    "fedora-confidentiality": Spec(
        release="6.14.5-300.fc42.x86_64",
        os_id="fedora",
        lockdown="none integrity [confidentiality]",
        cmdline="BOOT_IMAGE=/vmlinuz-6.14.5-300.fc42.x86_64 ro lockdown=confidentiality",
    ),
    "docker-default": Spec(
        devmem=False,
        dockerenv=True,
        cap_eff="00000000a80425fb",
        cgroup="0::/system.slice/docker-4f1c2d.scope\n",
        root_fstype="overlay",
        kcore=b"",
        extra=(("/proc/self/mountinfo", _DOCKER_MOUNTS),),
    ),
    "docker-privileged": Spec(
        dockerenv=True,
        cgroup="0::/system.slice/docker-4f1c2d.scope\n",
        root_fstype="overlay",
    ),
    "podman-rootless": Spec(
        devmem=False,
        containerenv=True,
        uid_map="         0       1000          1\n         1     100000      65536\n",
        iomem=IOMEM_HIDDEN,
        root_fstype="overlay",
        os_id="fedora",
    ),
    "rebuilt-6.1-strict-off": Spec(release="6.1.0-56-amd64", config=_STRICT_OFF_61),
    "rebuilt-6.1-strict-off-nopat": Spec(
        release="6.1.0-56-amd64",
        config=_STRICT_OFF_61,
        cmdline="BOOT_IMAGE=/boot/vmlinuz root=/dev/sda1 ro quiet nopat",
    ),
    "kernel-6.16-strict-off": Spec(release="6.16.3-custom", config=_STRICT_OFF_612, os_id="debian"),
    "rhel6-2013": Spec(
        release="2.6.32-431.el6.x86_64",
        config=RHEL6_CONFIG,
        devkmem=True,
        lockdown=None,
        uid_map=None,
        mem_class=None,
        os_id="rhel",
        kcore=elf_core(vmcoreinfo=False),
    ),
    "rhel6-2013-strict-off": Spec(
        release="2.6.32-431.el6.x86_64",
        config=with_config(RHEL6_CONFIG, STRICT_DEVMEM="n"),
        devkmem=True,
        lockdown=None,
        uid_map=None,
        mem_class=None,
        os_id="rhel",
        kcore=elf_core(vmcoreinfo=False),
    ),
    "vm-6.18-no-devmem": Spec(
        release="6.18.44-fc-v595",
        config=MACHINE_618_CONFIG,
        config_at="proc",
        devmem=False,
        mem_class=("full", "kmsg", "null", "random", "urandom", "zero"),
        lockdown=None,
        kcore=None,
        vmlinux=False,
        dockerenv=True,
        dmesg=(
            "x86/PAT: Configuration [0-7]: WB  WC  UC- UC  WB  WP  UC- WT  ",
            "Kernel is locked down from Kernel configuration; see man kernel_lockdown.7",
        ),
    ),
}


def main(argv: list[str]) -> int:
    """Write each scenario's tree and ``kmemx doctor`` text output below ``argv[0]``."""
    from kmemx.doctor import diagnose, render_text

    out = Path(argv[0] if argv else "doctor-samples")
    for name, spec in SCENARIOS.items():
        root = build(out / "trees" / name, spec)
        text = render_text(diagnose(root))
        (out / f"{name}.txt").write_text(text)
        print(f"== {name}: {text.splitlines()[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
