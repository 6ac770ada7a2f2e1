"""Build the live tier's own kernels: a 6.1 without STRICT_DEVMEM, and two 5.10s with /dev/kmem.

Debian's kernels have ``CONFIG_STRICT_DEVMEM=y``, so the live tier builds its
own from Debian's ``linux-source-6.1`` package (``/usr/src/linux-source-6.1.tar.xz``):
x86_64 ``defconfig`` with STRICT_DEVMEM and IO_STRICT_DEVMEM off, DWARF 5
debug info for drgn, 9p/virtio built in (no modules to load), /proc/kcore,
VMCOREINFO, the lockdown LSM and ``/proc/config.gz``, and without DRM, sound,
USB and wireless to keep the build short.  X86_PAT stays on, so before 6.16
mmap of RAM still needs ``nopat`` on the command line: that is the question
the live tests ask.

The 5.10 kernels (issue #14) are built the same way from bullseye's
``linux-source-5.10`` (the .deb is fetched through a private apt state under
``$KMEMX_TOOLS/apt-bin``, never the host's sources, and only its tarball is
extracted, to ``$KMEMX_TOOLS/src``), with ``CONFIG_DEVKMEM=y`` (removed upstream in
5.13 by bbcd53c96071): ``custom-5.10-devkmem`` (STRICT_DEVMEM off) and
``custom-5.10-devkmem-strict`` (STRICT_DEVMEM on).  5.10 has no
``DEBUG_INFO_NONE``/``DEBUG_INFO_DWARF5`` switches of 6.1's kind, so its recipe
asks for ``DEBUG_INFO`` with DWARF 4.

Each result is cached in ``$KMEMX_FIXTURES/.kernels/<name>/``
(vmlinuz, vmlinux, config, System.map, kernel.json).  It is built in a
temporary directory and renamed into place, and rebuilt only when the recipe
(config changes, source tarball) changes.  ``make -j2``: the machines this runs
on have two cores.  Every step's time is printed; errors are one line::

    python -m tests.live.kernel_build                 # the 6.1 kernel; prints the directory
    python -m tests.live.kernel_build --all           # every recipe, one after the other
    python -m tests.live.kernel_build custom-5.10-devkmem --force  # rebuild one
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
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures.builder import timed_step
from tests.fixtures.errors import BuildError
from tests.fixtures.paths import default_cache

__all__ = ["CONFIG", "CONFIG_510", "NAME", "RECIPES", "TARBALL", "Recipe", "build_custom_kernel",
           "cached_kernel", "custom_dir", "fetch_source", "main"]

NAME = "custom-6.1-nostrict"
TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")
LOCALVERSION = "-kmemx-nostrict"

#: What every recipe needs: kmemx and drgn, the guest (host filesystem over
#: virtio-9p, tmpfs, devtmpfs, serial console), doctor's lockdown check, and
#: less to build.  (option, value), where value is "y", "n" or a string.
_COMMON: list[tuple[str, str]] = [
    ("PROC_KCORE", "y"),
    ("CRASH_CORE", "y"),
    ("KALLSYMS", "y"),
    ("KALLSYMS_ALL", "y"),
    ("IKCONFIG", "y"),
    ("IKCONFIG_PROC", "y"),
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
    ("SECURITY", "y"),
    ("SECURITYFS", "y"),
    ("SECURITY_LOCKDOWN_LSM", "y"),
    ("SECURITY_LOCKDOWN_LSM_EARLY", "y"),
    ("LOCK_DOWN_KERNEL_FORCE_NONE", "y"),
    ("SECURITY_SELINUX", "n"),
    ("LSM", "lockdown,yama,integrity,bpf"),
    ("LOCALVERSION_AUTO", "n"),
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

#: ``scripts/config`` changes on top of ``make defconfig`` for the 6.1 kernel.
#: After ``olddefconfig`` each must hold.
CONFIG: list[tuple[str, str]] = [
    # the point of this kernel
    ("DEVMEM", "y"),
    ("STRICT_DEVMEM", "n"),
    ("IO_STRICT_DEVMEM", "n"),
    ("X86_PAT", "y"),
    # DWARF 5 for drgn (6.1's debug-info choice)
    ("DEBUG_INFO_NONE", "n"),
    ("DEBUG_INFO_DWARF5", "y"),
    ("DEBUG_INFO_REDUCED", "n"),
    ("DEBUG_INFO_SPLIT", "n"),
    ("DEBUG_INFO_BTF", "n"),
    *_COMMON,
    ("LOCALVERSION", LOCALVERSION),
]

#: The 5.10 kernels: /dev/kmem, DWARF 4 (5.10 has DEBUG_INFO=y and a DWARF 4
#: switch; DEBUG_INFO_NONE came in 5.18, DWARF 5 in 5.12); STRICT_DEVMEM is
#: added per recipe.
CONFIG_510: list[tuple[str, str]] = [
    ("DEVMEM", "y"),
    ("DEVKMEM", "y"),
    ("IO_STRICT_DEVMEM", "n"),
    ("X86_PAT", "y"),
    ("DEBUG_INFO", "y"),
    ("DEBUG_INFO_DWARF4", "y"),
    ("DEBUG_INFO_REDUCED", "n"),
    ("DEBUG_INFO_SPLIT", "n"),
    ("DEBUG_INFO_BTF", "n"),
    *_COMMON,
]


@dataclass(frozen=True)
class Recipe:
    """One custom kernel: its cache name, source tarball, and config changes."""

    name: str
    tarball: Path
    config: tuple[tuple[str, str], ...]
    #: (suite, binary package) the tarball comes from when it is not installed.
    package: tuple[str, str] | None = None


def _tools() -> Path:
    return Path(os.environ.get("KMEMX_TOOLS", str(Path.home() / ".cache" / "kmemx" / "tools")))


RECIPES: dict[str, Recipe] = {
    NAME: Recipe(NAME, TARBALL, tuple(CONFIG)),
    "custom-5.10-devkmem": Recipe(
        "custom-5.10-devkmem", _tools() / "src" / "linux-source-5.10.tar.xz",
        (*CONFIG_510, ("STRICT_DEVMEM", "n"), ("LOCALVERSION", "-kmemx-devkmem")),
        ("bullseye", "linux-source-5.10")),
    "custom-5.10-devkmem-strict": Recipe(
        "custom-5.10-devkmem-strict", _tools() / "src" / "linux-source-5.10.tar.xz",
        (*CONFIG_510, ("STRICT_DEVMEM", "y"), ("LOCALVERSION", "-kmemx-devkmem-strict")),
        ("bullseye", "linux-source-5.10")),
}

_TOOLS = ("make", "gcc", "bc", "flex", "bison", "tar", "xz", "perl")


def _log(msg: str) -> None:
    print(f"[kernel-build] {msg}", file=sys.stderr, flush=True)


def _recipe_of(name: str | Recipe) -> Recipe:
    if isinstance(name, Recipe):
        return name
    try:
        return RECIPES[name]
    except KeyError:
        raise BuildError(f"no kernel recipe {name!r} (known: {', '.join(RECIPES)})") from None


def custom_dir(cache: Path | None = None, name: str | Recipe = NAME) -> Path:
    """Where the built kernel ``name`` is cached."""
    return (cache or default_cache()) / ".kernels" / _recipe_of(name).name


def _recipe(r: Recipe) -> str:
    h = hashlib.sha256(json.dumps(list(r.config)).encode())
    if r.tarball.exists():
        st = r.tarball.stat()
        h.update(f"{st.st_size}".encode())
    return h.hexdigest()[:16]


def cached_kernel(cache: Path | None = None, name: str | Recipe = NAME) -> Path | None:
    """The cached build of ``name`` if it exists and matches its recipe, else None."""
    r = _recipe_of(name)
    d = custom_dir(cache, r)
    meta = d / "kernel.json"
    if not meta.exists():
        return None
    try:
        if json.loads(meta.read_text()).get("recipe") != _recipe(r):
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


def _check_config(path: Path, config: tuple[tuple[str, str], ...]) -> None:
    have = _read_config(path)
    bad = [f"{k}={have.get(k, 'n')} (want {v})" for k, v in config
           if have.get(k, "n") != v and not (v == "n" and k not in have)]
    if bad:
        raise BuildError(f"kernel config did not take: {', '.join(bad)}")


def fetch_source(r: Recipe) -> Path:
    """Make ``r.tarball`` exist: a host package is installed with apt-get; another
    suite's package is downloaded through a private apt state (its own sources list,
    package lists and cache under ``$KMEMX_TOOLS/apt-bin``; the host's apt sources are
    not touched) and only the tarball is extracted from it.

    :raises BuildError: one line saying what failed.
    """
    if r.tarball.exists():
        return r.tarball
    if r.package is None:
        pkg = r.tarball.name.removesuffix(".tar.xz")
        _log(f"{r.tarball} is missing: apt-get install {pkg}")
        proc = subprocess.run(["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=900",
                               pkg], capture_output=True, text=True,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if proc.returncode != 0 or not r.tarball.exists():
            err = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
            raise BuildError(f"apt-get install {pkg} failed: {err[-1] if err else 'no output'}"
                             " (run it as root)")
        return r.tarball
    suite, pkg = r.package
    apt_dir = _tools() / "apt-bin"
    (apt_dir / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (apt_dir / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (apt_dir / "debs").mkdir(exist_ok=True)
    key = "/usr/share/keyrings/debian-archive-keyring.gpg"
    (apt_dir / "sources.list").write_text(
        f"deb [signed-by={key}] http://deb.debian.org/debian {suite} main\n"
        f"deb [signed-by={key}] http://deb.debian.org/debian-security {suite}-security main\n")
    opts = ["-o", f"Dir::Etc::SourceList={apt_dir / 'sources.list'}",
            "-o", "Dir::Etc::SourceParts=/dev/null", "-o", f"Dir::State::Lists={apt_dir / 'lists'}",
            "-o", f"Dir::Cache={apt_dir / 'cache'}", "-o", "Dir::State::Status=/dev/null",
            "-o", f"APT::Sandbox::User={'root' if os.getuid() == 0 else os.environ.get('USER', '')}"]
    for cmd in (["apt-get", *opts, "update"], ["apt-get", *opts, "download", pkg]):
        _log(" ".join([cmd[0], cmd[-1] if cmd[-1] == "update" else f"download {pkg}",
                       f"({suite}, private apt state {apt_dir})"]))
        proc = subprocess.run(cmd, cwd=apt_dir / "debs", capture_output=True, text=True)
        if proc.returncode != 0:
            err = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
            raise BuildError(f"apt-get {cmd[-1]} ({suite}) failed: {err[-1] if err else '?'}")
    debs = sorted((apt_dir / "debs").glob(f"{pkg}_*.deb"))
    if not debs:
        raise BuildError(f"apt-get download {pkg}: no .deb in {apt_dir / 'debs'}")
    r.tarball.parent.mkdir(parents=True, exist_ok=True)
    tmp = r.tarball.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        dpkg = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(debs[-1])],
                                stdout=subprocess.PIPE)
        tar = subprocess.run(["tar", "-xO", f"./usr/src/{r.tarball.name}"], stdin=dpkg.stdout,
                             stdout=out, stderr=subprocess.PIPE, text=True)
        assert dpkg.stdout is not None
        dpkg.stdout.close()
        dpkg.wait()
    if dpkg.returncode != 0 or tar.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"extracting {r.tarball.name} from {debs[-1].name}: {tar.stderr.strip()}")
    tmp.rename(r.tarball)
    debs[-1].unlink()
    return r.tarball


def _prerequisites(r: Recipe) -> None:
    fetch_source(r)
    missing = [t for t in _TOOLS if shutil.which(t) is None]
    if missing:
        raise BuildError(f"missing build tools: {' '.join(missing)} "
                         "(apt-get install build-essential bc flex bison)")
    if not Path("/usr/include/gelf.h").exists():
        raise BuildError("libelf headers are missing (objtool needs them): "
                         "apt-get install libelf-dev")


def build_custom_kernel(cache: Path | None = None, *, force: bool = False,
                        jobs: int = 2, name: str | Recipe = NAME) -> Path:
    """Build (or reuse) the kernel of recipe ``name``; return its directory.

    :raises BuildError: one line saying what failed (the make log is kept).
    """
    r = _recipe_of(name)
    final = custom_dir(cache, r)
    if not force and cached_kernel(cache, r) is not None:
        meta = json.loads((final / "kernel.json").read_text())
        _log(f"reusing {final} (release {meta['release']}, built in "
             f"{meta['timings']['total']:.0f}s)")
        return final
    _prerequisites(r)
    final.parent.mkdir(parents=True, exist_ok=True)
    st = os.statvfs(final.parent)
    if st.f_bavail * st.f_frsize < 8 << 30:
        raise BuildError(f"not enough disk space in {final.parent}: about 8 GiB needed")
    srcname = r.tarball.name.removesuffix(".tar.xz")
    # one build tree per source tarball, kept: recipes of the same source rebuild
    # only what their config changes touch (kbuild's per-option dependencies),
    # e.g. the STRICT_DEVMEM=y 5.10 after the =n one costs minutes, not a full build
    tree = final.parent / f".build-{srcname}"
    work = final.parent / f".{r.name}.tmp-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    log = final.parent / f"{r.name}-build.log"
    timings: dict[str, float] = {}
    start = time.monotonic()
    lock = open(final.parent / ".build.lock", "w")
    try:
        import fcntl

        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            _log("waiting for another kernel build (never two at once)")
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not force and cached_kernel(cache, r) is not None:
                # the build we waited for was this one (a background kernel_build
                # while the live tests asked for the same kernel)
                shutil.rmtree(work, ignore_errors=True)
                _log(f"reusing {final}: built while waiting")
                return final
        log.write_text("")  # under the lock: a build in progress keeps its log
        src = tree / srcname
        stamp = tree / ".extracted"
        if not stamp.exists() or stamp.read_text() != _recipe_of_source(r):
            with _step(f"extract {srcname}", timings):
                shutil.rmtree(tree, ignore_errors=True)
                tree.mkdir()
                _run(["tar", "-xJf", str(r.tarball), "-C", str(tree)], tree, log, "extracting")
                stamp.write_text(_recipe_of_source(r))
        with _step("configure (defconfig + changes)", timings):
            _run(["make", "defconfig"], src, log, "make defconfig")
            cmd = ["scripts/config"]
            for k, v in r.config:
                if v == "y":
                    cmd += ["--enable", k]
                elif v == "n":
                    cmd += ["--disable", k]
                else:
                    cmd += ["--set-str", k, v]
            _run(cmd, src, log, "scripts/config")
            _run(["make", "olddefconfig"], src, log, "make olddefconfig")
            _check_config(src / ".config", r.config)
        with _step(f"make -j{jobs} bzImage", timings):
            # niceness 10 in all, not 10 more: under `nice scripts/live-test` an
            # added 10 made it 19 and starved the build on a busy host
            extra = max(0, 10 - os.nice(0))
            _run(["nice", "-n", str(extra), "make", f"-j{jobs}", "bzImage"], src, log,
                 "make bzImage")
        release = _run(["make", "-s", "kernelrelease"], src, log, "make kernelrelease").strip()
        out = work / "out"
        out.mkdir()
        shutil.copy2(src / "arch/x86/boot/bzImage", out / "vmlinuz")
        shutil.copy2(src / "vmlinux", out / "vmlinux")
        shutil.copy2(src / ".config", out / "config")
        shutil.copy2(src / "System.map", out / "System.map")
        timings["total"] = round(time.monotonic() - start, 1)
        (out / "kernel.json").write_text(json.dumps({
            "name": r.name, "release": release, "recipe": _recipe(r), "jobs": jobs,
            "timings": timings, "source": str(r.tarball),
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
    finally:
        lock.close()


def _recipe_of_source(r: Recipe) -> str:
    """What identifies an extracted tree: the tarball's name and size."""
    return f"{r.tarball.name}:{r.tarball.stat().st_size if r.tarball.exists() else 0}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.live.kernel_build",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"recipes to build (default {NAME}; known: {', '.join(RECIPES)})")
    parser.add_argument("--all", action="store_true", help="build every recipe")
    parser.add_argument("--fetch-only", action="store_true",
                        help="only make the source tarballs exist")
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    parser.add_argument("--jobs", type=int, default=2, help="make -j (default 2)")
    args = parser.parse_args(argv)
    names = list(RECIPES) if args.all else (args.names or [NAME])
    try:
        for name in names:
            if args.fetch_only:
                print(fetch_source(_recipe_of(name)))
            else:
                print(build_custom_kernel(force=args.force, jobs=args.jobs, name=name))
    except BuildError as e:
        print(f"kernel-build: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
