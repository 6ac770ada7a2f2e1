"""Boot a kernel under QEMU with the host's filesystem and run kmemx inside it.

The guest's initramfs (busybox, built by :func:`tests.fixtures.initramfs.build_initramfs`)
loads the 9p/virtio modules, mounts the host's ``/`` read-only over virtio-9p
at ``/host``, puts tmpfs on ``/host/tmp``, ``/host/run``, ``/host/var/tmp`` and
``/host/boot`` (host directories the run needs below them, such as a checkout in
``/tmp``, are bind-mounted back on top: :func:`kept_paths`; with the guest kernel's config as ``/boot/config-$(uname -r)``
and its vmlinux linked as ``/boot/vmlinux-$(uname -r)``, where a distribution
keeps them), mounts proc, sysfs, devtmpfs and securityfs inside it, and runs
:mod:`tests.live.runner` in ``chroot /host`` with the host's Python.  The
runner reports each command's status, output and time on the second serial
port; then the guest powers off.  One boot runs one batch of commands::

    kern = fixture_kernel("linux-image-6.1.0-56-amd64")
    run = run_guest(kern, [Command("doctor", ["kmemx", "doctor", "--probe", "--json"])],
                    cmdline="lockdown=integrity")
    run["doctor"].stdout
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fixtures.errors import BuildError
from tests.fixtures.initramfs import build_initramfs
from tests.fixtures.paths import default_cache
from tests.fixtures.qemu import accelerators, qemu_slot

__all__ = [
    "COMPLETED",
    "GUEST_PYPATH",
    "REPO",
    "Command",
    "CommandResult",
    "GuestError",
    "GuestKernel",
    "GuestRun",
    "GuestUnavailable",
    "fixture_kernel",
    "guest_env",
    "kept_paths",
    "live_dir",
    "run_guest",
    "unavailable_reason",
]

#: The repository: the guest runs ``python -m tests.live.runner`` from here.
REPO = Path(__file__).resolve().parents[2]
#: Modules the guest loads to mount the host's filesystem (dependencies follow).
GUEST_MODULES = ["9p", "9pnet_virtio", "virtio_pci"]
#: 9p mount options: big messages and cached pages make the 300 MB vmlinux load faster.
NINEP_OPTS = "trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose"

#: Every successful run of this process, for the timing summary (tests/live/conftest.py).
COMPLETED: list[GuestRun] = []

PANIC_RE = re.compile(r"Kernel panic - not syncing|BUG: |Oops: |general protection fault")

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /host
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
stty -F /dev/ttyS1 raw -echo
say() { echo "KMX-INIT $(cut -d' ' -f1 /proc/uptime) $*" > /dev/ttyS1; }
finish() { say "poweroff"; sync; poweroff -f; sleep 30; echo o > /proc/sysrq-trigger; }
say "init"
for m in @MODULES@; do
    insmod /lib/modules/$m.ko || say "insmod-failed $m"
done
say "modules-loaded"
if ! mount -t 9p -o @NINEP@ hostroot /host; then
    say "error: cannot mount the host filesystem over 9p"
    finish
fi
# host directories the guest needs under the tmpfs mounts below (a checkout in
# /tmp): bind-mounted aside first, then back on top of the tmpfs
mkdir -p /keep
i=0
for p in @KEEP@; do
    mkdir -p /keep/$i && mount --bind /host$p /keep/$i || say "error: cannot keep $p"
    i=$((i+1))
done
for d in tmp run var/tmp boot; do
    mount -t tmpfs -o mode=1777 tmpfs /host/$d || say "error: tmpfs on /$d"
done
i=0
for p in @KEEP@; do
    mkdir -p /host$p && mount --bind /keep/$i /host$p || say "error: cannot show $p"
    i=$((i+1))
done
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mount -t securityfs securityfs /host/sys/kernel/security || say "no securityfs"
mount -t devpts devpts /host/dev/pts 2>/dev/null
rel=$(uname -r)
cp /kmx/config /host/boot/config-$rel
ln -s @VMLINUX@ /host/boot/vmlinux-$rel
mkdir -p /host/tmp/kmx/py /host/tmp/home
# the checkout's plugins/ is the package kmemx_plugins (pyproject's package-dir): put it
# on PYTHONPATH under that name, or the guest imports the installed one instead
ln -s @REPO@/plugins /host/tmp/kmx/py/kmemx_plugins
cp /kmx/batch.json /host/tmp/kmx/batch.json
say "mounted $rel"
chroot /host /usr/bin/env -i @ENV@ /bin/sh -c 'cd @REPO@ && exec @PYTHON@ -m tests.live.runner /tmp/kmx/batch.json /dev/ttyS1'
say "runner-exit $?"
finish
"""


class GuestError(BuildError):
    """A guest run failed (did not boot, crashed, timed out); one line."""


class GuestUnavailable(GuestError):
    """QEMU or the kernel files are missing: tests skip with this reason."""


@dataclass(frozen=True)
class GuestKernel:
    """A bootable kernel with its debug info and the modules the guest needs."""

    name: str
    vmlinuz: Path
    vmlinux: Path
    config: Path
    modules: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class Command:
    """One command of a batch: argv (or a shell line), a timeout, extra env."""

    name: str
    argv: list[str] | None = None
    sh: str | None = None
    timeout: float = 900.0
    env: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "timeout": self.timeout, "env": self.env}
        if self.argv is not None:
            out["argv"] = self.argv
        else:
            out["sh"] = self.sh
        return out


@dataclass
class CommandResult:
    """What the guest reported for one command."""

    name: str
    rc: int
    secs: float
    timed_out: bool
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout parsed as JSON (one line of stderr in the error if it is not)."""
        try:
            return json.loads(self.stdout)
        except ValueError:
            err = self.stderr.strip().splitlines()
            raise AssertionError(f"{self.name}: stdout is not JSON (rc {self.rc}; "
                                 f"stderr: {err[-1] if err else ''!r}; "
                                 f"stdout: {self.stdout[:200]!r})") from None

    def check(self) -> CommandResult:
        """Assert that the command exited 0 in time; return it."""
        err = self.stderr.strip().splitlines()
        assert not self.timed_out, f"{self.name}: timed out after {self.secs:.0f}s"
        assert self.rc == 0, (f"{self.name}: exit status {self.rc}; "
                              f"stderr tail: {' | '.join(err[-5:])}")
        return self


@dataclass
class GuestRun:
    """The results of one boot: per-command results, logs and timings."""

    kernel: str
    cmdline: str
    accel: str
    commands: dict[str, CommandResult]
    init_log: list[str]
    console: str
    uname: list[str]
    wall_secs: float
    boot_secs: float
    workdir: Path

    def __getitem__(self, name: str) -> CommandResult:
        if name not in self.commands:
            raise KeyError(f"{name}: the guest reported no result (it ran "
                           f"{', '.join(self.commands) or 'nothing'})")
        return self.commands[name]

    def timings(self) -> dict[str, float]:
        """Boot to runner start, each command, and the whole run, in seconds."""
        out = {"boot": self.boot_secs}
        out.update({name: r.secs for name, r in self.commands.items()})
        out["total"] = self.wall_secs
        return out


def unavailable_reason() -> str | None:
    """Why guests cannot run here, or None."""
    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
    if not (shutil.which("busybox") or os.path.exists("/bin/busybox")):
        return "busybox is not installed (apt-get install busybox-static)"
    for tool in ("cpio", "modinfo"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def live_dir() -> Path:
    """Where the last run of each guest configuration keeps its logs."""
    return default_cache() / ".live"


def fixture_kernel(package: str, cache: Path | None = None) -> GuestKernel:
    """The kernel files the fixture builder extracted for ``package``.

    :raises GuestUnavailable: they are not there (``python -m tests.fixtures build PACKAGE``).
    """
    kdir = (cache or default_cache()) / ".kernels" / package
    order_file = kdir / "modules.json"
    if not order_file.exists():
        raise GuestUnavailable(f"no kernel files for {package} in {kdir}: run "
                               f"'python -m tests.fixtures build {package}'")
    order = json.loads(order_file.read_text())
    modules = {m: kdir / "modules" / f"{m}.ko" for m in order}
    return GuestKernel(name=package, vmlinuz=kdir / "vmlinuz", vmlinux=kdir / "vmlinux",
                       config=kdir / "config", modules=modules)


#: The guest's directory with ``kmemx_plugins`` linked to the checkout's ``plugins/``.
GUEST_PYPATH = "/tmp/kmx/py"


def guest_env() -> dict[str, str]:
    """The environment commands get in the guest: the host's Python first in PATH,
    a writable HOME on tmpfs, the repository on PYTHONPATH (``kmemx`` and, through
    :data:`GUEST_PYPATH`, ``kmemx_plugins`` from this checkout, not from wherever
    kmemx is installed)."""
    bindir = str(Path(sys.executable).parent)
    return {
        "PATH": f"{bindir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/tmp/home",
        "PYTHONPATH": f"{REPO}:{GUEST_PYPATH}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "TMPDIR": "/tmp",
    }


#: Directories the guest's /init covers with tmpfs (relative to the host's /).
TMPFS_DIRS = ("tmp", "run", "var/tmp", "boot")


def kept_paths(paths: list[Path]) -> list[str]:
    """The host directories among ``paths`` that lie under one of :data:`TMPFS_DIRS`
    (outermost first, nested ones dropped): the guest bind-mounts them back on top
    of its tmpfs, so a checkout, a virtualenv or a cache under ``/tmp`` stays visible."""
    out: list[str] = []
    for p in sorted({os.path.realpath(p) for p in paths}, key=len):
        if any(p.startswith(f"/{d}/") for d in TMPFS_DIRS) and \
                not any(p == k or p.startswith(k + "/") for k in out):
            out.append(p)
    return out


def _init_script(kernel: GuestKernel) -> str:
    env = guest_env()
    keep = kept_paths([REPO, Path(sys.prefix), Path(sys.executable).parent,
                       kernel.vmlinux.parent, kernel.vmlinux.resolve().parent])
    for value in (*env.values(), str(kernel.vmlinux), str(REPO), sys.executable, *keep):
        if re.search(r"[\s'\"$`\\]", value):
            raise GuestError(f"cannot pass {value!r} through the guest's /init")
    env_words = " ".join(f"{k}={v}" for k, v in env.items())
    return (INIT.replace("@NINEP@", NINEP_OPTS).replace("@ENV@", env_words)
            .replace("@VMLINUX@", str(kernel.vmlinux)).replace("@REPO@", str(REPO))
            .replace("@PYTHON@", sys.executable).replace("@KEEP@", " ".join(keep)))


def _log(msg: str) -> None:
    print(f"[live] {msg}", file=sys.stderr, flush=True)


def _tail(text: str, n: int = 8) -> str:
    lines = [ln for ln in text.replace("\r", "").splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


def _parse_serial(text: str) -> tuple[list[str], list[dict[str, Any]]]:
    init: list[str] = []
    records: list[dict[str, Any]] = []
    for line in text.replace("\r", "").splitlines():
        if line.startswith("KMX-INIT "):
            init.append(line[9:])
        elif line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                init.append(f"unparsable record: {line[:120]}")
    return init, records


def _qemu_cmd(qemu: str, accel: list[str], kernel: GuestKernel, initrd: Path, append: str,
              work: Path, mem_mb: int, smp: int) -> list[str]:
    return [qemu, *accel, "-m", str(mem_mb), "-smp", str(smp), "-nodefaults",
            "-display", "none", "-no-reboot", "-kernel", str(kernel.vmlinuz),
            "-initrd", str(initrd), "-append", append,
            "-serial", f"file:{work / 'console.log'}", "-serial", f"file:{work / 'serial.log'}",
            "-fsdev", "local,id=hostfs,path=/,security_model=none,readonly=on,multidevs=remap",
            "-device", "virtio-9p-pci,fsdev=hostfs,mount_tag=hostroot"]


class _AccelFailed(GuestError):
    pass


#: accelerators whose guest stayed silent (a hanging KVM): not tried again
_SILENT: set[str] = set()


#: seconds a KVM guest may stay silent on its console before KVM is given up (a
#: working KVM guest prints within a second; on some hosts KVM hangs instead)
KVM_SILENT_LIMIT = 10.0


def _boot(cmd: list[str], work: Path, timeout: float, names: list[str],
          silent_limit: float | None = None) -> tuple[str, str]:
    console, serial = work / "console.log", work / "serial.log"
    for p in (console, serial):
        p.unlink(missing_ok=True)
    with qemu_slot():
        return _boot_locked(cmd, console, serial, timeout, names, silent_limit)


def _boot_locked(cmd: list[str], console: Path, serial: Path, timeout: float,
                 names: list[str], silent_limit: float | None = None) -> tuple[str, str]:
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    seen = 0
    try:
        while proc.poll() is None:
            time.sleep(0.5)
            if silent_limit and time.monotonic() - start > silent_limit and not (
                    console.exists() and console.stat().st_size):
                raise _AccelFailed(f"the guest printed nothing within {silent_limit:.0f}s")
            stext = serial.read_text(errors="replace") if serial.exists() else ""
            _, records = _parse_serial(stext)
            for r in records[seen:]:
                if r.get("event") == "command":
                    _log(f"  {r['name']}: rc {r['rc']} in {r['secs']:.1f}s"
                         + (" (TIMED OUT)" if r["timed_out"] else ""))
                elif r.get("event") == "start":
                    _log(f"  guest up after {r['uptime']:.1f}s of guest time "
                         f"({time.monotonic() - start:.1f}s wall); running {len(names)} "
                         "commands")
            seen = len(records)
            if time.monotonic() - start > timeout:
                ctext = console.read_text(errors="replace") if console.exists() else ""
                last = records[-1].get("name", records[-1].get("event")) if records else "none"
                raise GuestError(f"guest did not finish within {timeout:.0f}s (last record: "
                                 f"{last}); console tail: {_tail(ctext)}")
        out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
        ctext = console.read_text(errors="replace") if console.exists() else ""
        stext = serial.read_text(errors="replace") if serial.exists() else ""
        if proc.returncode != 0 and not stext:
            raise _AccelFailed(f"QEMU exited with status {proc.returncode}: "
                               f"{_tail(out, 3) or _tail(ctext, 3)}")
        return ctext, stext
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def run_guest(kernel: GuestKernel, commands: list[Command], *, cmdline: str = "",
              mem_mb: int = 2048, smp: int = 2, timeout: float = 3600.0,
              label: str | None = None) -> GuestRun:
    """Boot ``kernel``, run ``commands`` in the chroot of the host, power off.

    :param cmdline: added to the kernel command line (``lockdown=...``, ``nopat``).
    :param label: name of the log directory under :func:`live_dir` (default: kernel name).
    :raises GuestUnavailable: QEMU or the kernel files are missing.
    :raises GuestError: the guest crashed, timed out or reported no results.
    """
    why = unavailable_reason()
    if why:
        raise GuestUnavailable(why)
    for p in (kernel.vmlinuz, kernel.vmlinux, kernel.config):
        if not p.exists():
            raise GuestUnavailable(f"{p} is missing")
    names = [c.name for c in commands]
    if len(set(names)) != len(names):
        raise GuestError(f"duplicate command names in batch: {names}")
    qemu = shutil.which("qemu-system-x86_64")
    assert qemu is not None
    keep = live_dir() / (label or kernel.name)
    keep.mkdir(parents=True, exist_ok=True)
    append = ("console=ttyS0 panic=-1 nmi_watchdog=0 tsc=reliable no_timer_check "
              "loglevel=6 " + cmdline).strip()
    with tempfile.TemporaryDirectory(prefix="kmemx-live-") as tmp:
        work = Path(tmp)
        batch = json.dumps([c.as_json() for c in commands], indent=1).encode()
        t0 = time.monotonic()
        build_initramfs(work / "initramfs.cpio", work, kernel.modules, GUEST_MODULES, 0, 0,
                        init=_init_script(kernel),
                        extra={"kmx/config": kernel.config.read_bytes(), "kmx/batch.json": batch})
        _log(f"{label or kernel.name}: initramfs in {time.monotonic() - t0:.1f}s; booting "
             f"({mem_mb} MiB, {smp} CPUs, cmdline '{cmdline}')")
        last: GuestError | None = None
        for name, accel in accelerators():
            if name in _SILENT:
                continue
            start = time.monotonic()
            try:
                console, serial = _boot(_qemu_cmd(qemu, accel, kernel, work / "initramfs.cpio",
                                                  append, work, mem_mb, smp),
                                        work, timeout, names,
                                        KVM_SILENT_LIMIT if name == "kvm" else None)
            except _AccelFailed as e:
                last = e
                if "printed nothing" in str(e):
                    _SILENT.add(name)
                    _log(f"{name}: {e}; not tried again in this process")
                continue
            except GuestError:
                for f in ("console.log", "serial.log"):
                    if (work / f).exists():
                        shutil.copy2(work / f, keep / f)
                raise
            wall = time.monotonic() - start
            break
        else:
            assert last is not None
            raise last
        (keep / "console.log").write_text(console)
        (keep / "serial.log").write_text(serial)
        (keep / "batch.json").write_bytes(batch)
    init, records = _parse_serial(serial)
    results = {r["name"]: CommandResult(r["name"], r["rc"], r["secs"], r["timed_out"],
                                        r["stdout"], r["stderr"])
               for r in records if r.get("event") == "command"}
    start_rec = next((r for r in records if r.get("event") == "start"), None)
    if start_rec is None:
        errors = [ln for ln in init if "error" in ln or "failed" in ln]
        panic = PANIC_RE.search(console)
        why = ("the guest kernel crashed" if panic else
               "; ".join(errors) if errors else "the runner never started")
        raise GuestError(f"{label or kernel.name}: {why}; init: {' | '.join(init[-4:])}; "
                         f"console tail: {_tail(console)}")
    if not any(r.get("event") == "done" for r in records):
        missing = [n for n in names if n not in results]
        raise GuestError(f"{label or kernel.name}: the guest stopped before "
                         f"{', '.join(missing) or 'the end'}; console tail: {_tail(console)}")
    run = GuestRun(kernel=kernel.name, cmdline=cmdline, accel=accel[1], commands=results,
                   init_log=init, console=console, uname=start_rec["uname"],
                   wall_secs=round(wall, 1), boot_secs=round(float(start_rec["uptime"]), 1),
                   workdir=keep)
    (keep / "timings.json").write_text(json.dumps(run.timings(), indent=1))
    COMPLETED.append(run)
    _log(f"{label or kernel.name}: {run.accel} guest done in {run.wall_secs:.0f}s wall "
         f"(boot to runner {run.boot_secs:.0f}s guest time)")
    return run
