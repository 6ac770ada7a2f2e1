"""The check list of devmem.md section 7 (D1-D11) as :class:`Check` records.

Each function turns derived :class:`~kmemx.doctor.state.State` (and, for the
access-related checks, the predicted outcomes) into a status, a one-paragraph
detail and a remedy.  Checks never print and never touch the file system.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Callable

from kmemx.doctor import kversion as kv
from kmemx.doctor.facts import Facts
from kmemx.doctor.iomem import addresses_hidden, pick_probe_page, system_ram
from kmemx.doctor.model import Check, DeviceProbe, Op, Outcome, Status
from kmemx.doctor.predict import KCORE, Prediction
from kmemx.doctor.state import State

__all__ = ["CACHE_ALIASING", "CONFIG_KEYS", "build_checks", "debuginfo_remedy", "probe_check"]

#: The two-sentence answer to "what is cache aliasing and why does PAT care".
CACHE_ALIASING = (
    "Cache aliasing means one physical page is mapped at two virtual addresses with different"
    " memory types, for example write-back in the kernel's direct map and uncached or"
    " write-combining in a user mapping, which Intel documents as unsupported and which has"
    " caused lockups and machine checks on AMD. In 2008 PAT's memtype tracking could not track"
    " RAM mapped through remap_pfn_range(), so x86 refused /dev/mem mmap of RAM outright"
    " (EINVAL); 6.16 dropped that check because memtype tracking now forces such a mapping to"
    " the page's existing type."
)

#: Options D2 reports.
CONFIG_KEYS = (
    "DEVMEM",
    "DEVKMEM",
    "STRICT_DEVMEM",
    "IO_STRICT_DEVMEM",
    "X86_PAT",
    "PROC_KCORE",
    "SECURITY_LOCKDOWN_LSM",
    "LOCK_DOWN_KERNEL_FORCE_NONE",
    "LOCK_DOWN_KERNEL_FORCE_INTEGRITY",
    "LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY",
    "LOCK_DOWN_IN_EFI_SECURE_BOOT",
    "LSM",
    "RANDOMIZE_MEMORY",
    "HARDENED_USERCOPY",
)

_PAT_REMEDY = (
    "boot with nopat (global: write-combining falls back to UC-, a real slowdown for"
    " framebuffers, GPUs and RDMA) or run a kernel >= 6.16, where 1b3f2bd04d90 removed the"
    " PAT-only check"
)

_HOST_ACCESS = (
    "run kmemx on the host, or give the container the device and the capability:"
    " --device /dev/mem --cap-add SYS_RAWIO (or --privileged)"
)


def _kernel_version(facts: Facts, state: State) -> Check:
    if facts.release is None:
        return Check(
            "D1",
            "kernel-version",
            Status.UNKNOWN,
            f"kernel release unknown ({facts.release_source})",
            "point --root at a tree with proc/sys/kernel/osrelease",
        )
    arch = facts.arch or "unknown arch"
    version = facts.version
    if version is None:
        return Check(
            "D1",
            "kernel-version",
            Status.UNKNOWN,
            f"kernel {facts.release} ({arch}): release not parsable as a version",
        )
    era: list[str] = []
    if version < kv.DEVMEM_RESTRICTIONS:
        era.append("no /dev/mem restrictions yet (< 2.6.26)")
    era.append(
        "/dev/kmem possible (< 5.13)"
        if version < kv.KMEM_REMOVED
        else "/dev/kmem removed (>= 5.13)"
    )
    if state.x86 is not False:
        if kv.DEVMEM_RESTRICTIONS <= version < kv.PAT_CHECK_REMOVED:
            era.append("PAT gate on RAM mmap (< 6.16)")
        elif version >= kv.PAT_CHECK_REMOVED:
            era.append("no PAT gate (>= 6.16)")
    else:
        era.append("no PAT gate and no low-1-MiB exception outside x86")
    era.append(
        "lockdown LSM possible (>= 5.4)"
        if version >= kv.LOCKDOWN_LSM
        else "before the lockdown LSM (distro patches possible)"
    )
    era.append(
        "kcore has VMCOREINFO (>= 4.19)"
        if version >= kv.KCORE_VMCOREINFO
        else "kcore without VMCOREINFO (< 4.19)"
    )
    detail = f"kernel {facts.release} ({arch}): era: {'; '.join(era)}."
    if re.search(r"\.el\d", facts.release):
        detail += " Enterprise kernel: backports are likely, confirm with --probe."
    detail += " Version is only a hint; the probe (D9) decides."
    if version < kv.DRGN_OLDEST:
        return Check(
            "D1",
            "kernel-version",
            Status.WARN,
            detail,
            "drgn officially supports Linux 4.9 and later; expect gaps on this kernel",
        )
    return Check("D1", "kernel-version", Status.OK, detail)


def _kernel_config(facts: Facts, state: State) -> Check:
    if facts.config is None:
        tried = "; ".join(facts.config_tried) or "no release to look for"
        return Check(
            "D2",
            "kernel-config",
            Status.UNKNOWN,
            f"config unknown, relying on probes (tried {tried})",
            "install /boot/config-$(uname -r) or build with CONFIG_IKCONFIG_PROC=y;"
            " or run kmemx doctor --probe as root",
        )
    shown = " ".join(
        facts.config.describe(k) for k in CONFIG_KEYS if facts.config.get(k) is not None
    )
    absent = [
        k
        for k in ("DEVMEM", "DEVKMEM", "STRICT_DEVMEM", "PROC_KCORE")
        if facts.config.get(k) is None
    ]
    detail = f"{facts.config.source}: {shown}"
    if absent:
        detail += f" (absent: {', '.join(absent)})"
    return Check("D2", "kernel-config", Status.OK, detail)


def _node_desc(kind: str, major: int, minor: int, want: int) -> tuple[str, bool]:
    if kind == "chr":
        fine = (major, minor) == (1, want)
        return f"character device {major}:{minor}", fine
    if kind == "file":
        return "regular file: a stand-in in a copied tree", True
    return kind, False


def _devmem_node(facts: Facts, state: State, outcomes: dict[str, Outcome]) -> Check:
    node, driver = facts.mem_node, state.mem_driver
    rebuild = "rebuild the kernel with CONFIG_DEVMEM=y (it cannot be a module)"
    if node.kind == "missing":
        if driver.value is False:
            return Check(
                "D3",
                "devmem-node",
                Status.FAIL,
                f"/dev/mem missing and its driver is not built ({driver.why}):"
                " creating the node would only give ENXIO",
                rebuild,
            )
        if state.container.value:
            return Check(
                "D3",
                "devmem-node",
                Status.FAIL,
                "/dev/mem not present (container or devtmpfs policy): open gives ENOENT",
                _HOST_ACCESS,
            )
        fix = "create it: mknod -m 0640 /dev/mem c 1 1 && chgrp kmem /dev/mem"
        if driver.value is None:
            fix += f" (if the driver is built: {driver.why})"
        return Check(
            "D3",
            "devmem-node",
            Status.FAIL,
            "/dev/mem not present (container or devtmpfs policy): open gives ENOENT",
            fix,
        )
    if node.kind == "error":
        return Check("D3", "devmem-node", Status.UNKNOWN, f"cannot stat /dev/mem: {node.error}")
    desc, fine = _node_desc(node.kind, node.major, node.minor, 1)
    if driver.value is False:
        return Check(
            "D3",
            "devmem-node",
            Status.FAIL,
            f"/dev/mem present ({desc}) but the driver is not built ({driver.why}):"
            " open gives ENXIO",
            rebuild,
        )
    if not fine:
        return Check(
            "D3",
            "devmem-node",
            Status.WARN,
            f"/dev/mem is a {desc}, expected character device 1:1",
            "recreate it: mknod -m 0640 /dev/mem c 1 1",
        )
    if driver.value is None:
        return Check(
            "D3",
            "devmem-node",
            Status.UNKNOWN,
            f"/dev/mem present ({desc}); driver built? {driver.why}",
            "run kmemx doctor --probe as root",
        )
    return Check("D3", "devmem-node", Status.OK, f"/dev/mem present ({desc}); {driver.why}")


def _devkmem_node(facts: Facts, state: State, outcomes: dict[str, Outcome]) -> Check:
    node, driver = facts.kmem_node, state.kmem_driver
    if driver.value is False:
        stale = " The stale node gives ENXIO." if node.present else ""
        if "5.13" in driver.why:
            return Check(
                "D3",
                "devkmem-node",
                Status.WARN,
                "/dev/kmem was removed in Linux 5.13 (bbcd53c96071); use /dev/mem or"
                f" /proc/kcore.{stale}",
            )
        return Check(
            "D3",
            "devkmem-node",
            Status.WARN,
            f"/dev/kmem driver not built ({driver.why}).{stale} Not needed: use /dev/mem"
            " or /proc/kcore (a <= 5.12 kernel rebuilt with CONFIG_DEVKMEM=y would have it)",
        )
    if node.kind == "missing":
        status = Status.WARN if driver.value else Status.UNKNOWN
        return Check(
            "D3",
            "devkmem-node",
            status,
            f"/dev/kmem not present; driver: {driver.why}",
            "mknod -m 0640 /dev/kmem c 1 2 && chgrp kmem /dev/kmem" if driver.value else "",
        )
    if node.kind == "error":
        return Check("D3", "devkmem-node", Status.UNKNOWN, f"cannot stat /dev/kmem: {node.error}")
    desc, fine = _node_desc(node.kind, node.major, node.minor, 2)
    if driver.value is None:
        return Check(
            "D3",
            "devkmem-node",
            Status.UNKNOWN,
            f"/dev/kmem present ({desc}); driver built? {driver.why}",
            "run kmemx doctor --probe as root",
        )
    status = Status.OK if fine else Status.WARN
    return Check(
        "D3",
        "devkmem-node",
        status,
        f"/dev/kmem present ({desc}); {driver.why}; its mmap has the same rules as"
        " /dev/mem (mmap_kmem calls mmap_mem)",
    )


def _privileges(facts: Facts, state: State, outcomes: dict[str, Outcome]) -> Check:
    who = "uid unknown" if facts.uid is None else f"uid {facts.uid}"
    parts = [who, state.rawio.why, state.userns.why]
    if state.sys_admin.value is False:
        parts.append("no CAP_SYS_ADMIN: /proc/iomem shows zeros (4.6+)")
    if facts.mem_node.present:
        parts.append(state.mem_dac.why)
    detail = "; ".join(parts)
    if state.userns.value:
        remedy = (
            "a user namespace cannot grant CAP_SYS_RAWIO on the host: run kmemx as root on"
            " the host, or in a rootful container with --cap-add SYS_RAWIO"
        )
    else:
        remedy = (
            "run as root (sudo kmemx doctor), or grant CAP_SYS_RAWIO in the initial user"
            " namespace plus read access to /dev/mem (mode 0640 root:kmem)"
        )
    if state.rawio.value is False or state.mem_dac.value is False:
        return Check(
            "D4",
            "privileges",
            Status.FAIL,
            f"need CAP_SYS_RAWIO in the initial user namespace (root on the host): {detail}",
            remedy,
        )
    if state.rawio.value is None:
        return Check("D4", "privileges", Status.UNKNOWN, detail, remedy)
    return Check("D4", "privileges", Status.OK, detail)


def _lockdown_remedy(facts: Facts, state: State) -> str:
    config = facts.config
    ways: list[str] = []
    forced = config is not None and any(
        config.enabled(f"LOCK_DOWN_KERNEL_FORCE_{mode}")
        for mode in ("INTEGRITY", "CONFIDENTIALITY")
    )
    if forced:
        ways.append(
            "rebuild with CONFIG_LOCK_DOWN_KERNEL_FORCE_NONE=y (a forced mode cannot be"
            " lowered by any boot option)"
        )
    if facts.cmdline_value("lockdown") is not None:
        ways.append("remove lockdown= from the kernel command line")
    secure_boot_lockdown = (
        config is None or config.enabled("LOCK_DOWN_IN_EFI_SECURE_BOOT") is not False
    )
    if facts.secure_boot and secure_boot_lockdown:
        ways.append(
            "disable Secure Boot in the firmware, or run `mokutil --disable-validation`"
            " (shim; distro kernels)"
        )
    if not ways:
        ways.append(
            "disable Secure Boot in the firmware (or `mokutil --disable-validation`),"
            " remove lockdown= from the command line, or rebuild without"
            " CONFIG_LOCK_DOWN_KERNEL_FORCE_*"
        )
    return (
        "lockdown can only be raised at runtime, never lowered; to drop it, "
        + "; and ".join(ways)
        + "; then reboot"
    )


def _lockdown(facts: Facts, state: State, outcomes: dict[str, Outcome]) -> Check:
    mode = state.lockdown.value
    if mode is None:
        return Check(
            "D5",
            "lockdown",
            Status.UNKNOWN,
            state.lockdown.why,
            "mount securityfs (mount -t securityfs securityfs /sys/kernel/security)"
            " so /sys/kernel/security/lockdown can be read",
        )
    if mode == "none":
        return Check("D5", "lockdown", Status.OK, f"lockdown none: {state.lockdown.why}")
    remedy = _lockdown_remedy(facts, state)
    if mode == "integrity":
        return Check(
            "D5",
            "lockdown",
            Status.FAIL,
            "/dev/mem and /dev/kmem are refused (EPERM) by kernel lockdown (integrity);"
            f" this mode does not restrict /proc/kcore. {state.lockdown.why}",
            remedy,
        )
    return Check(
        "D5",
        "lockdown",
        Status.FAIL,
        "/dev/mem AND /proc/kcore refused by lockdown (confidentiality); live access"
        f" impossible -> use kdump/vmcore. {state.lockdown.why}",
        remedy + "; otherwise capture a crash dump with kdump (/proc/vmcore)",
    )


def _pat_latent(state: State) -> bool:
    return bool(state.x86 is not False and state.pat_era.value and state.pat.value is not False)


def _strict_devmem(facts: Facts, state: State, outcomes: dict[str, Outcome]) -> Check:
    strict = state.strict.value
    io_note = ""
    if state.io_strict.value and strict:
        io_note = (
            " IO_STRICT_DEVMEM=y: MMIO claimed by a driver is refused too (MMIO targets"
            " only; unbind the driver or boot iomem=relaxed)."
        )
        if state.iomem_relaxed:
            io_note += " iomem=relaxed is on the command line, so busy MMIO is allowed."
    if strict is None:
        return Check(
            "D6",
            "strict-devmem",
            Status.UNKNOWN,
            state.strict.why,
            "run kmemx doctor --probe as root",
        )
    if not strict:
        return Check("D6", "strict-devmem", Status.OK, f"RAM is not filtered: {state.strict.why}")
    scope = "all RAM" if state.x86 is False else "RAM (except the first 1 MiB)"
    remedy = (
        "rebuild with CONFIG_STRICT_DEVMEM=n (there is no runtime switch), or use"
        " /proc/kcore through drgn. Known hack, not recommended: overriding"
        " devmem_is_allowed() with a kprobe or systemtap"
    )
    if _pat_latent(state):
        remedy += (
            ". On this kernel (< 6.16, PAT not known to be off) mmap of RAM would then fail"
            " with EINVAL from the PAT check: also boot with nopat or run a kernel >= 6.16 (D7)"
        )
    return Check(
        "D6",
        "strict-devmem",
        Status.FAIL,
        f"{scope} is refused by CONFIG_STRICT_DEVMEM: mmap/read -> EPERM"
        f" ({state.strict.why}).{io_note}",
        remedy,
    )


def _pat(facts: Facts, state: State, outcomes: dict[str, Outcome]) -> Check:
    if state.x86 is False:
        return Check("D7", "pat", Status.OK, "not x86: no PAT gate on /dev/mem")
    era, pat = state.pat_era, state.pat
    if era.value is False:
        suffix = "; user mappings of RAM get the page's memtype (WB)" if pat.value else ""
        return Check("D7", "pat", Status.OK, f"no PAT gate: {era.why}; PAT: {pat.why}{suffix}")
    if pat.value is False:
        return Check(
            "D7",
            "pat",
            Status.OK,
            f"PAT disabled ({pat.why}): it does not block mmap of RAM; never use O_SYNC"
            " on RAM (untracked UC alias)",
        )
    if era.value is None or pat.value is None:
        unknown = era.why if era.value is None else pat.why
        return Check(
            "D7",
            "pat",
            Status.UNKNOWN,
            f"PAT gate unknown: {unknown}",
            "read dmesg as root (x86/PAT: Configuration ...) or run kmemx doctor --probe",
        )
    message = (
        "mmap of RAM via /dev/mem returns EINVAL (arch/x86/mm/pat range_is_allowed, removed"
        " in 6.16 by 1b3f2bd04d90); read() is unaffected"
    )
    if state.strict.value is False:
        return Check(
            "D7",
            "pat",
            Status.FAIL,
            f"PAT is active: {message} ({pat.why})",
            _PAT_REMEDY,
            CACHE_ALIASING,
        )
    first = (
        "PAT is active, but STRICT_DEVMEM refuses RAM first (EPERM); once it is off, "
        if state.strict.value
        else "PAT is active; if STRICT_DEVMEM is off, "
    )
    return Check(
        "D7",
        "pat",
        Status.WARN,
        f"{first}{message} ({pat.why})",
        _PAT_REMEDY,
        CACHE_ALIASING,
    )


def _iomem(facts: Facts, state: State, outcomes: dict[str, Outcome]) -> Check:
    if facts.iomem is None:
        return Check(
            "D8", "iomem", Status.UNKNOWN, f"cannot read /proc/iomem ({facts.iomem_error})"
        )
    ranges = list(facts.iomem)
    if addresses_hidden(ranges):
        return Check(
            "D8",
            "iomem",
            Status.UNKNOWN,
            "System RAM addresses hidden (all zeros): /proc/iomem needs CAP_SYS_ADMIN (4.6+)",
            "run as root to see the addresses",
        )
    ram = system_ram(ranges)
    if not ram:
        return Check("D8", "iomem", Status.WARN, "no System RAM ranges in /proc/iomem")
    total = sum(r.size for r in ram)
    shown = ", ".join(f"{r.start:#x}-{r.end:#x}" for r in ram[:4])
    if len(ram) > 4:
        shown += f", ... ({len(ram)} ranges)"
    page = pick_probe_page(ranges)
    end = max(r.end for r in ram)
    detail = (
        f"System RAM {total >> 20} MiB: {shown}; read() reaches up to about {end:#x}"
        " (use mmap above); probe page "
        + (f"{page:#x}" if page is not None else "none (no RAM above 1 MiB)")
    )
    return Check("D8", "iomem", Status.OK, detail)


def _distro(facts: Facts) -> str:
    ids = (
        (facts.os_release.get("ID", "") + " " + facts.os_release.get("ID_LIKE", "")).lower().split()
    )
    for family in ("ubuntu", "debian", "fedora", "rhel", "centos", "suse", "arch"):
        if family in ids:
            return family
    return ""


#: a Debian kernel's release: ABI number (bookworm 6.1.0-56-amd64) or +debN
#: (6.12.117+deb12-amd64), then the flavour; a kernel built elsewhere has no
#: linux-image-RELEASE-dbg package
_DEBIAN_RELEASE = re.compile(r"^\d+\.\d+\.\d+(-\d+|\+deb\d+)-[a-z0-9-]+$")


def debuginfo_remedy(facts: Facts) -> str:
    """Distribution-specific instructions for installing the running kernel's vmlinux."""
    release = facts.release or "$(uname -r)"
    family = _distro(facts)
    if family == "ubuntu":
        return (
            f"enable ddebs.ubuntu.com, then apt install linux-image-{release}-dbgsym"
            f" (linux-image-unsigned-{release}-dbgsym for signed kernels)"
        )
    if family == "debian" and _DEBIAN_RELEASE.match(release):
        return f"apt install linux-image-{release}-dbg"
    if family in ("fedora", "rhel", "centos"):
        return (
            f"dnf debuginfo-install kernel-{release} (RHEL: enable the debuginfo repository first)"
        )
    if family == "suse":
        return "zypper install kernel-default-debuginfo"
    return (
        f"build with CONFIG_DEBUG_INFO=y and keep vmlinux as /boot/vmlinux-{release}, or set"
        " DEBUGINFOD_URLS so drgn can download it"
    )


def _kcore(facts: Facts, state: State, outcomes: dict[str, Outcome]) -> Check:
    opened = outcomes[f"{KCORE} open"]
    drgn = (
        f"drgn {facts.drgn_version} importable" if facts.drgn_version else "drgn is not importable"
    )
    vmci = state.vmcoreinfo
    if vmci.value is False:
        vmci_note = vmci.why + (
            "; drgn falls back to /sys/kernel/vmcoreinfo"
            if facts.sys_vmcoreinfo
            else "; no /sys/kernel/vmcoreinfo either"
        )
    else:
        vmci_note = vmci.why
    if opened.ok:
        detail = (
            f"/proc/kcore usable (read-only, pread; mmap not supported -> EIO); {opened.reason};"
            f" VMCOREINFO: {vmci_note}; {drgn}"
        )
        if not facts.drgn_version:
            return Check("D10", "kcore", Status.WARN, detail, "pip install drgn")
        if vmci.value is False and not facts.sys_vmcoreinfo:
            return Check(
                "D10",
                "kcore",
                Status.WARN,
                detail,
                "drgn needs VMCOREINFO: a 4.19+ kernel or /sys/kernel/vmcoreinfo (CONFIG_KEXEC)",
            )
        return Check("D10", "kcore", Status.OK, detail)
    if opened.ok is None:
        return Check(
            "D10",
            "kcore",
            Status.UNKNOWN,
            f"/proc/kcore: {opened.reason}; {drgn}",
            "run kmemx doctor as root",
        )
    label = opened.result()
    detail = f"/proc/kcore not usable: {label}: {opened.reason}; {drgn}"
    if opened.cause == "lockdown":
        remedy = _lockdown_remedy(facts, state)
    elif opened.cause == "privileges":
        remedy = (
            "run as root (CAP_SYS_RAWIO); drgn >= 0.0.25 can also open /proc/kcore through"
            " sudo itself"
        )
    elif opened.cause == "container":
        remedy = (
            "the container masks /proc/kcore: run on the host, or with --privileged or"
            " --security-opt systempaths=unconfined"
        )
    elif "PROC_KCORE" in opened.reason:
        remedy = "drgn live mode needs a kernel built with CONFIG_PROC_KCORE=y"
    else:
        remedy = "enable CONFIG_PROC_KCORE=y (and mount /proc)"
    return Check("D10", "kcore", Status.FAIL, detail, remedy)


def _debuginfo(facts: Facts, state: State, outcomes: dict[str, Outcome]) -> Check:
    if facts.release is None:
        return Check("D10", "debuginfo", Status.UNKNOWN, "kernel release unknown")
    if facts.debuginfo:
        return Check(
            "D10",
            "debuginfo",
            Status.OK,
            f"vmlinux found: {facts.debuginfo[0]} (build ID not compared here)",
        )
    if facts.debuginfod:
        return Check(
            "D10",
            "debuginfo",
            Status.WARN,
            "no vmlinux on disk; DEBUGINFOD_URLS is set, so drgn may download it",
            debuginfo_remedy(facts),
        )
    return Check(
        "D10",
        "debuginfo",
        Status.FAIL,
        f"no debuginfo for {facts.release}: looked in {', '.join(facts.debuginfo_tried)}",
        debuginfo_remedy(facts),
    )


def _container(facts: Facts, state: State, outcomes: dict[str, Outcome]) -> Check:
    container = state.container
    if state.devcg_mem.value is False and facts.mem_node.present:
        return Check(
            "D11", "container", Status.FAIL, f"{state.devcg_mem.why}; {container.why}", _HOST_ACCESS
        )
    if container.value is None:
        return Check("D11", "container", Status.UNKNOWN, container.why)
    if container.value:
        extra = "" if state.devcg_mem.value else f"; {state.devcg_mem.why}"
        blocked = not facts.mem_node.present or state.rawio.value is False or facts.kcore_masked
        return Check(
            "D11",
            "container",
            Status.WARN,
            f"{container.why}{extra}; /dev nodes, capabilities and /proc/kcore may be"
            " restricted (trust --probe)",
            _HOST_ACCESS if blocked else "",
        )
    if state.container_markers:
        return Check("D11", "container", Status.WARN, container.why)
    return Check("D11", "container", Status.OK, container.why)


def _confidential(facts: Facts, state: State, outcomes: dict[str, Outcome]) -> Check:
    value = state.confidential
    if value.value:
        return Check(
            "D11",
            "confidential-guest",
            Status.WARN,
            f"confidential guest: /dev/mem access may be refused or unsafe; use /proc/kcore"
            f" ({value.why})",
            "use /proc/kcore (drgn)",
        )
    if value.value is None:
        return Check(
            "D11",
            "confidential-guest",
            Status.UNKNOWN,
            f"{value.why}: memory-encryption, PAT and lockdown messages not used",
            "run as root (dmesg needs CAP_SYSLOG when kernel.dmesg_restrict=1)",
        )
    return Check("D11", "confidential-guest", Status.OK, value.why)


def probe_check(
    probes: tuple[DeviceProbe, ...], observed: list[Outcome], disagreements: list[str]
) -> Check:
    """D9: what the probe got, what each errno means, and where it overrules the prediction."""
    lines = [p.describe() for p in probes]
    meanings = [
        f"{o.key}: {o.result()} = {o.reason.removeprefix('probe: ')}"
        for o in observed
        if o.ok is False
    ]
    detail = "; ".join(lines)
    if meanings:
        detail += ". Meaning: " + "; ".join(meanings)
    if disagreements:
        detail += ". PROBE DISAGREES WITH THE PREDICTION: " + " | ".join(disagreements)
    mem = [o for o in observed if o.device == "/dev/mem"]
    mmap = next((o for o in mem if o.op is Op.MMAP), None)
    failed = next((o for o in mem if o.ok is False), None)
    if mmap is not None and mmap.ok:
        return Check("D9", "probe", Status.OK, detail)
    if failed is not None:
        return Check(
            "D9", "probe", Status.FAIL, detail, f"see the {failed.cause} check for what to change"
        )
    return Check(
        "D9",
        "probe",
        Status.UNKNOWN,
        detail + ". No RAM page was tried: System RAM addresses unknown (needs"
        " CAP_SYS_ADMIN for /proc/iomem)",
        "run kmemx doctor --probe as root",
    )


_CheckFn = Callable[[Facts, State, dict[str, Outcome]], Check]

_CHECKS: tuple[tuple[str, str, _CheckFn], ...] = (
    ("D3", "devmem-node", _devmem_node),
    ("D3", "devkmem-node", _devkmem_node),
    ("D4", "privileges", _privileges),
    ("D5", "lockdown", _lockdown),
    ("D6", "strict-devmem", _strict_devmem),
    ("D7", "pat", _pat),
    ("D8", "iomem", _iomem),
)
_LATE_CHECKS: tuple[tuple[str, str, _CheckFn], ...] = (
    ("D10", "kcore", _kcore),
    ("D10", "debuginfo", _debuginfo),
    ("D11", "container", _container),
    ("D11", "confidential-guest", _confidential),
)


def _guarded(ident: str, name: str, run: Callable[[], Check]) -> Check:
    """Run one check; a bug in it must not take the whole report down."""
    try:
        return run()
    except Exception as exc:
        return Check(ident, name, Status.UNKNOWN, f"internal error in this check: {exc!r}")


def build_checks(
    facts: Facts, state: State, prediction: Prediction, probe_check: Check | None = None
) -> list[Check]:
    """All checks in checklist order; ``probe_check`` is D9 when a probe ran."""
    outcomes = {o.key: o for o in prediction.outcomes()}
    checks = [
        _guarded("D1", "kernel-version", partial(_kernel_version, facts, state)),
        _guarded("D2", "kernel-config", partial(_kernel_config, facts, state)),
    ]
    for ident, name, fn in _CHECKS:
        checks.append(_guarded(ident, name, partial(fn, facts, state, outcomes)))
    checks.append(
        probe_check
        or Check(
            "D9",
            "probe",
            Status.UNKNOWN,
            "not run: pass --probe (as root) for a read-only mmap and read of one RAM page",
            "kmemx doctor --probe",
        )
    )
    for ident, name, fn in _LATE_CHECKS:
        checks.append(_guarded(ident, name, partial(fn, facts, state, outcomes)))
    return checks
