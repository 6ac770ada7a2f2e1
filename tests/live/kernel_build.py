"""Build a small 6.1 kernel that allows mmap of RAM through /dev/mem (STRICT_DEVMEM off).

Debian's kernels have ``CONFIG_STRICT_DEVMEM=y``, so the live tier builds its
own from Debian's ``linux-source-6.1`` package (``/usr/src/linux-source-6.1.tar.xz``):
x86_64 ``defconfig`` with STRICT_DEVMEM and IO_STRICT_DEVMEM off, DWARF 5
debug info for drgn, 9p/virtio built in (no modules to load), /proc/kcore,
VMCOREINFO, the lockdown LSM and ``/proc/config.gz``, and without DRM, sound,
USB and wireless to keep the build short.  X86_PAT stays on, so before 6.16
mmap of RAM still needs ``nopat`` on the command line: that is the question
the live tests ask.

The result is cached in ``$KMEMX_FIXTURES/.kernels/custom-6.1-nostrict/``
(vmlinuz, vmlinux, config, System.map, kernel.json).  It is built in a
temporary directory and renamed into place, and rebuilt only when the recipe
(config changes, source tarball) changes.  ``make -j2``: the machines this runs
on have two cores.  Every step's time is printed; errors are one line::

    python -m tests.live.kernel_build          # prints the directory
    python -m tests.live.kernel_build --force  # rebuild
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path

from tests.fixtures.builder import timed_step
from tests.fixtures.errors import BuildError
from tests.fixtures.paths import default_cache

__all__ = ["CONFIG", "NAME", "TARBALL", "build_custom_kernel", "cached_kernel", "custom_dir",
           "main"]

NAME = "custom-6.1-nostrict"
TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")
LOCALVERSION = "-kmemx-nostrict"

#: ``scripts/config`` changes on top of ``make defconfig``: (option, value), where
#: value is "y", "n" or a string.  After ``olddefconfig`` each must hold.
CONFIG: list[tuple[str, str]] = [
    # the point of this kernel
    ("DEVMEM", "y"),
    ("STRICT_DEVMEM", "n"),
    ("IO_STRICT_DEVMEM", "n"),
    ("X86_PAT", "y"),
    # what kmemx and drgn need
    ("PROC_KCORE", "y"),
    ("CRASH_CORE", "y"),
    ("KALLSYMS", "y"),
    ("KALLSYMS_ALL", "y"),
    ("DEBUG_INFO_NONE", "n"),
    ("DEBUG_INFO_DWARF5", "y"),
    ("DEBUG_INFO_REDUCED", "n"),
    ("DEBUG_INFO_SPLIT", "n"),
    ("DEBUG_INFO_BTF", "n"),
    ("IKCONFIG", "y"),
    ("IKCONFIG_PROC", "y"),
    # the guest: host filesystem over virtio-9p, tmpfs, devtmpfs, serial console
    ("PCI", "y"),
    ("VIRTIO_PCI", "y"),
    ("NET_9P", "y"),
    ("NET_9P_VIRTIO", "y"),
    ("9P_FS", "y"),
    ("9P_FS_POSIX_ACL", "y"),
    ("DEVTMPFS", "y"),
    ("TMPFS", "y"),
    ("BLK_DEV_INITRD", "y"),
    ("SERIAL_8250_CONSOLE", "y"),
    ("ACPI", "y"),
    # doctor's lockdown check reads /sys/kernel/security/lockdown
    ("SECURITY", "y"),
    ("SECURITYFS", "y"),
    ("SECURITY_LOCKDOWN_LSM", "y"),
    ("SECURITY_LOCKDOWN_LSM_EARLY", "y"),
    ("LOCK_DOWN_KERNEL_FORCE_NONE", "y"),
    ("SECURITY_SELINUX", "n"),
    ("LSM", "lockdown,yama,integrity,bpf"),
    ("LOCALVERSION", LOCALVERSION),
    ("LOCALVERSION_AUTO", "n"),
    # smaller and faster to build
    ("DRM", "n"),
    ("SOUND", "n"),
    ("USB_SUPPORT", "n"),
    ("WLAN", "n"),
    ("WIRELESS", "n"),
    ("CFG80211", "n"),
    ("NETFILTER", "n"),
    ("AGP", "n"),
    ("FB", "n"),
    ("MEDIA_SUPPORT", "n"),
    ("INFINIBAND", "n"),
    ("HID", "n"),
    ("INPUT_JOYSTICK", "n"),
    ("INPUT_TABLET", "n"),
    ("INPUT_TOUCHSCREEN", "n"),
    ("MACINTOSH_DRIVERS", "n"),
    ("ETHERNET", "n"),
    ("ATA", "n"),
    ("MD", "n"),
]

_TOOLS = ("make", "gcc", "bc", "flex", "bison", "tar", "xz", "perl")


def _log(msg: str) -> None:
    print(f"[kernel-build] {msg}", file=sys.stderr, flush=True)


def custom_dir(cache: Path | None = None) -> Path:
    """Where the built kernel is cached."""
    return (cache or default_cache()) / ".kernels" / NAME


def _recipe() -> str:
    h = hashlib.sha256(json.dumps(CONFIG).encode())
    if TARBALL.exists():
        st = TARBALL.stat()
        h.update(f"{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def cached_kernel(cache: Path | None = None) -> Path | None:
    """The cached build if it exists and matches the current recipe, else None."""
    d = custom_dir(cache)
    meta = d / "kernel.json"
    if not meta.exists():
        return None
    try:
        if json.loads(meta.read_text()).get("recipe") != _recipe():
            return None
    except ValueError:
        return None
    return d if all((d / f).exists() for f in ("vmlinuz", "vmlinux", "config")) else None


def _step(name: str, timings: dict[str, float]) -> AbstractContextManager[None]:
    return timed_step(name, timings, _log)


def _run(cmd: list[str], cwd: Path, log: Path, what: str) -> str:
    with open(log, "a") as f:
        f.write(f"\n$ {' '.join(cmd)}\n")
        f.flush()
        proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
        f.write(proc.stdout)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        errs = [ln for ln in lines if "error" in ln.lower()] or lines
        raise BuildError(f"{what} failed: {errs[-1] if errs else 'no output'} (log: {log})")
    return proc.stdout


def _read_config(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            k, v = line[7:].split("=", 1)
            out[k] = v.strip('"')
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            out[line[9:-11]] = "n"
    return out


def _check_config(path: Path) -> None:
    have = _read_config(path)
    bad = [f"{k}={have.get(k, 'n')} (want {v})" for k, v in CONFIG
           if have.get(k, "n") != v and not (v == "n" and k not in have)]
    if bad:
        raise BuildError(f"kernel config did not take: {', '.join(bad)}")


def _prerequisites() -> None:
    if not TARBALL.exists():
        raise BuildError(f"{TARBALL} is missing: apt-get install linux-source-6.1")
    missing = [t for t in _TOOLS if shutil.which(t) is None]
    if missing:
        raise BuildError(f"missing build tools: {' '.join(missing)} "
                         "(apt-get install build-essential bc flex bison)")
    if not Path("/usr/include/gelf.h").exists():
        raise BuildError("libelf headers are missing (objtool needs them): "
                         "apt-get install libelf-dev")


def build_custom_kernel(cache: Path | None = None, *, force: bool = False,
                        jobs: int = 2) -> Path:
    """Build (or reuse) the STRICT_DEVMEM=n kernel; return its directory.

    :raises BuildError: one line saying what failed (the make log is kept).
    """
    final = custom_dir(cache)
    if not force and cached_kernel(cache) is not None:
        meta = json.loads((final / "kernel.json").read_text())
        _log(f"reusing {final} (release {meta['release']}, built in "
             f"{meta['timings']['total']:.0f}s)")
        return final
    _prerequisites()
    final.parent.mkdir(parents=True, exist_ok=True)
    st = os.statvfs(final.parent)
    if st.f_bavail * st.f_frsize < 8 << 30:
        raise BuildError(f"not enough disk space in {final.parent}: about 8 GiB needed")
    work = final.parent / f".{NAME}.tmp-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    log = final.parent / f"{NAME}-build.log"
    log.write_text("")
    timings: dict[str, float] = {}
    start = time.monotonic()
    try:
        with _step("extract linux-source-6.1", timings):
            _run(["tar", "-xJf", str(TARBALL), "-C", str(work)], work, log, "extracting")
            src = work / "linux-source-6.1"
        with _step("configure (defconfig + changes)", timings):
            _run(["make", "defconfig"], src, log, "make defconfig")
            cmd = ["scripts/config"]
            for k, v in CONFIG:
                if v == "y":
                    cmd += ["--enable", k]
                elif v == "n":
                    cmd += ["--disable", k]
                else:
                    cmd += ["--set-str", k, v]
            _run(cmd, src, log, "scripts/config")
            _run(["make", "olddefconfig"], src, log, "make olddefconfig")
            _check_config(src / ".config")
        with _step(f"make -j{jobs} bzImage", timings):
            _run(["make", f"-j{jobs}", "bzImage"], src, log, "make bzImage")
        release = _run(["make", "-s", "kernelrelease"], src, log, "make kernelrelease").strip()
        out = work / "out"
        out.mkdir()
        shutil.copy2(src / "arch/x86/boot/bzImage", out / "vmlinuz")
        shutil.copy2(src / "vmlinux", out / "vmlinux")
        shutil.copy2(src / ".config", out / "config")
        shutil.copy2(src / "System.map", out / "System.map")
        timings["total"] = round(time.monotonic() - start, 1)
        (out / "kernel.json").write_text(json.dumps({
            "name": NAME, "release": release, "recipe": _recipe(), "jobs": jobs,
            "timings": timings, "source": str(TARBALL),
            "sizes": {p.name: p.stat().st_size for p in out.iterdir()}}, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        out.rename(final)
        shutil.rmtree(work)
        _log(f"built {release} in {timings['total']:.0f}s: {final}")
        return final
    except OSError as e:
        shutil.rmtree(work, ignore_errors=True)
        raise BuildError(f"{e.filename or work}: {e.strerror}") from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.live.kernel_build",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    parser.add_argument("--jobs", type=int, default=2, help="make -j (default 2)")
    args = parser.parse_args(argv)
    try:
        path = build_custom_kernel(force=args.force, jobs=args.jobs)
    except BuildError as e:
        print(f"kernel-build: error: {e}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
