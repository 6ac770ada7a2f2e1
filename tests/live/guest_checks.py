"""Checks that run inside a live guest and print what they saw as JSON.

The host's tests (``tests/live/test_live.py``) run these in a guest with
``python -m tests.live.guest_checks CHECK --vmlinux VMLINUX`` and compare the
parts: nothing here decides pass or fail, it only reports what the guest's
kernel, /proc and kmemx said in the same run.

Checks:

``ps``
    kmemx's ``ps`` through the API (``open_live``) and through the CLI
    (``kmemx -k``), each between two walks of /proc.
``lowmem``
    Every System RAM page below 1 MiB three ways: kmemx's ``DevMemMemory``
    (mmap of /dev/mem), ``pread`` of /dev/mem, and drgn on /proc/kcore
    (``prog.read(..., physical=True)``); plus the errno of mmap and pread of
    a RAM page above 16 MiB.
``readers``
    Which reader ``open_live`` picks, and each forced reader's result or error.
``compare``
    The mmap-devmem and drgn readers side by side: ``ps``, kernel memory
    (text, ``init_task``, every task's ``comm``) and physical pages.
``churn``
    ``ps`` repeated (through the API and as separate ``kmemx -k`` processes)
    while a spawner forks and reaps processes and threads as fast as it can.
``stale-walk``
    A task walk paused while tasks it has not reached yet exit; then resumed.
``reads``
    10,000 8-byte reads (direct map, kernel image, vmalloc, modules) through the
    reader ``open_live`` picks, against drgn's own /proc/kcore reader.
``devkmem``
    What ``read()`` and ``mmap`` of /dev/kmem give for each kind of address.
``bench``
    :mod:`benchmarks.bench_live`: ``ps`` and read_u64, the reader against drgn.
``imports``
    Where the guest's ``kmemx``, its C extensions and its plugins come from.
"""

from __future__ import annotations

import argparse
import errno
import json
import mmap
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["main", "proc_tasks", "ram_ranges"]

PAGE = 4096
MiB = 1 << 20
#: __START_KERNEL_map on x86-64
KTEXT_MAP = 0xFFFFFFFF80000000


def proc_tasks() -> list[dict[str, Any]]:
    """Every task /proc shows (threads from /proc/PID/task), with pid, tgid, ppid, comm."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            tids = os.listdir(f"/proc/{d}/task")
        except OSError:
            continue  # exited
        for tid in tids:
            try:
                with open(f"/proc/{d}/task/{tid}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            out.append({"pid": int(tid), "tgid": int(d), "ppid": int(fields[1]), "comm": comm,
                        "state": fields[0]})
    return sorted(out, key=lambda t: t["pid"])


def ram_ranges() -> list[tuple[int, int]]:
    """System RAM ranges of /proc/iomem (root sees the addresses)."""
    from kmemx.readers.windowed import parse_iomem_ram

    with open("/proc/iomem") as f:
        return parse_iomem_ram(f.read())


def _errname(e: OSError) -> str:
    return errno.errorcode.get(e.errno or 0, str(e.errno))


def _split_output(lines: Iterator[str]) -> tuple[str, list[str]]:
    body: list[str] = []
    notes: list[str] = []
    for line in lines:
        (notes if line.startswith("kmemx: warning: ") else body).append(line)
    return "\n".join(body), notes


def _cli_ps(vmlinux: str, reader: str | None = None, timeout: float = 600) -> dict[str, Any]:
    argv = ["kmemx", "-k", "-s", vmlinux, "--json"]
    if reader:
        argv += ["--reader", reader]
    argv.append("ps")
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"rc": None, "timed_out": True, "secs": round(time.monotonic() - start, 2)}
    rows: Any = None
    try:
        rows = json.loads(proc.stdout)
    except ValueError:
        pass
    return {"rc": proc.returncode, "timed_out": False, "secs": round(time.monotonic() - start, 2),
            "rows": rows, "stdout_head": proc.stdout[:300] if rows is None else "",
            "stderr": proc.stderr.strip().splitlines()}


def _api_ps(k: Any) -> dict[str, Any]:
    from kmemx.commands import execute

    start = time.monotonic()
    body, notes = _split_output(execute(k, "ps", as_json=True))
    return {"rows": json.loads(body), "notes": notes, "secs": round(time.monotonic() - start, 2)}


def check_ps(args: argparse.Namespace) -> dict[str, Any]:
    import kmemx

    start = time.monotonic()
    k = kmemx.open_live(args.vmlinux)
    opened = time.monotonic() - start
    walk0 = proc_tasks()
    api = _api_ps(k)
    walk1 = proc_tasks()
    cli = _cli_ps(args.vmlinux)
    walk2 = proc_tasks()
    return {"reader": k.reader.name, "open_secs": round(opened, 2), "self": os.getpid(),
            "cpus": os.cpu_count(), "api": api, "cli": cli, "walks": [walk0, walk1, walk2]}


def _kcore_page(prog: Any, pa: int) -> bytes | str:
    import drgn

    try:
        return bytes(prog.read(pa, PAGE, True))
    except drgn.FaultError as e:
        return f"FaultError: {e}"


def check_lowmem(args: argparse.Namespace) -> dict[str, Any]:
    import drgn

    from kmemx.readers.devmem import DevMemMemory

    ranges = ram_ranges()
    low = [(s, min(e, MiB)) for s, e in ranges if s < MiB]
    dev = DevMemMemory(ranges=low)
    prog = drgn.Program()
    prog.set_kernel()  # /proc/kcore; physical reads need no debug info
    fd = os.open("/dev/mem", os.O_RDONLY)
    pages: list[dict[str, Any]] = []
    for s, e in dev.ranges():
        for pa in range(s, e, PAGE):
            k1 = _kcore_page(prog, pa)
            loc = dev.locate(pa)
            if loc is None:
                m: bytes | str = "mmap failed: " + errno.errorcode.get(
                    next(iter(dev.errors.values()), 0), "?")
            else:
                buf, off = loc
                m = bytes(buf[off:off + PAGE])
            try:
                r: bytes | str = os.pread(fd, PAGE, pa)
            except OSError as err:
                r = _errname(err)
            k2 = _kcore_page(prog, pa)
            pages.append({
                "pa": pa,
                "kcore_ok": isinstance(k1, bytes),
                "kcore_error": k1 if isinstance(k1, str) else None,
                "mmap_ok": isinstance(m, bytes),
                "mmap_error": m if isinstance(m, str) else None,
                "stable": k1 == k2,
                "mmap_eq_kcore": isinstance(m, bytes) and m == k1,
                "mmap_eq_kcore_after": isinstance(m, bytes) and m == k2,
                "mmap_nonzero": isinstance(m, bytes) and any(m),
                "kcore_nonzero": isinstance(k1, bytes) and any(k1),
                "read": "ok" if isinstance(r, bytes) else r,
                "read_zero": isinstance(r, bytes) and len(r) == PAGE and not any(r),
            })
    high = next((max(s, 16 * MiB) for s, e in ranges if e > 16 * MiB + PAGE), None)
    above: dict[str, Any] = {"pa": high}
    if high is not None:
        try:
            mm = mmap.mmap(fd, PAGE, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ, offset=high)
            mm.close()
            above["mmap"] = "ok"
        except OSError as err:
            above["mmap"] = _errname(err)
        try:
            os.pread(fd, 8, high)
            above["read"] = "ok"
        except OSError as err:
            above["read"] = _errname(err)
    os.close(fd)
    dev.close()
    return {"ranges": ranges, "low": low, "pages": pages, "above_1mib": above,
            "release": os.uname().release}


def check_readers(args: argparse.Namespace) -> dict[str, Any]:
    import kmemx

    out: dict[str, Any] = {}
    for reader in (None, "mmap-devkmem", "mmap-devmem", "kcore", "drgn"):
        start = time.monotonic()
        try:
            k = kmemx.open_live(args.vmlinux, reader=reader, debug_info=False)
            out[reader or "auto"] = {"ok": True, "reader": k.reader.name}
        except kmemx.KmemxError as e:
            out[reader or "auto"] = {"ok": False, "error": str(e), "type": type(e).__name__}
        out[reader or "auto"]["secs"] = round(time.monotonic() - start, 2)
    return out


def _task_comms(k: Any) -> dict[int, bytes]:
    from kmemx.helpers.sched import for_each_task

    off = k.offsetof("struct task_struct", "comm")
    return {t.address: bytes(k.read(t.address + off, 16)) for t in for_each_task(k)}


def check_compare(args: argparse.Namespace) -> dict[str, Any]:
    """Both readers in one process: the same questions, answered twice."""
    import kmemx

    t0 = time.monotonic()
    km = kmemx.open_live(args.vmlinux, reader="mmap-devmem")
    t1 = time.monotonic()
    kd = kmemx.open_live(args.vmlinux, reader="drgn")
    t2 = time.monotonic()
    km.stats.counting = True
    out: dict[str, Any] = {"readers": [km.reader.name, kd.reader.name],
                           "open_secs": {"mmap-devmem": round(t1 - t0, 2),
                                         "drgn": round(t2 - t1, 2)}}
    walk0 = proc_tasks()
    ps_m = _api_ps(km)
    ps_d = _api_ps(kd)
    walk1 = proc_tasks()
    out["ps"] = {"mmap-devmem": ps_m, "drgn": ps_d, "walks": [walk0, walk1]}
    # Kernel memory through each reader's drgn Program (kmemx's mmap is underneath km.prog).
    regions: dict[str, tuple[int, int]] = {}
    stext, etext = km.prog.symbol("_stext").address, km.prog.symbol("_etext").address
    regions["text"] = (stext, min(etext - stext, 4 * MiB))
    it = km.prog["init_task"]
    regions["init_task"] = (it.address_, km.prog.type("struct task_struct").size)
    regions["linux_banner"] = (km.prog.symbol("linux_banner").address, 128)
    # drgn's reader before and after kmemx's: a byte that changed in between (the
    # idle task's runtime counters in init_task) is unstable and not compared
    reads = {}
    for name, (addr, size) in regions.items():
        b1 = bytes(kd.prog.read(addr, size))
        a = bytes(km.prog.read(addr, size))
        ka = bytes(km.read(addr, size))
        b2 = bytes(kd.prog.read(addr, size))
        stable = [i for i in range(size) if b1[i] == b2[i]]
        differ = sum(a[i] != b1[i] for i in stable)
        kdiffer = sum(ka[i] != b1[i] for i in stable)
        reads[name] = {"addr": addr, "size": size, "stable_bytes": len(stable),
                       "equal": differ == 0, "kmemx_equal": kdiffer == 0,
                       "differing_bytes": differ + kdiffer}
    out["reads"] = reads
    comms_m = _task_comms(km)
    comms_d = _task_comms(kd)
    out["comms"] = {"mmap-devmem": len(comms_m), "drgn": len(comms_d),
                    "common": len(set(comms_m) & set(comms_d)),
                    "equal": sum(comms_m[a] == comms_d[a] for a in set(comms_m) & set(comms_d))}
    # Physical pages spread over RAM: kcore before and after, mmap in between.
    rnd = random.Random(1234)
    ram = [(s, e) for s, e in ram_ranges() if e - s >= MiB]
    pages = sorted({(rnd.randrange(s, e) & ~(PAGE - 1)) for s, e in ram for _ in range(64)})
    stable = same = 0
    for pa in pages:
        k1 = bytes(kd.prog.read(pa, PAGE, True))
        m = bytes(km.read(pa, PAGE, physical=True))
        k2 = bytes(kd.prog.read(pa, PAGE, True))
        if k1 == k2:
            stable += 1
            same += m == k1
    out["phys"] = {"pages": len(pages), "stable": stable, "equal_when_stable": same}
    out["stats"] = km.stats.as_dict()
    # Speed: ps again (warm), and 2048 random 4 KiB physical reads through each
    # reader, twice: the first pass also maps the mmap reader's 64 MiB windows.
    many = [rnd.randrange(s, e) & ~(PAGE - 1) for s, e in ram for _ in range(2048 // len(ram))]
    speed: dict[str, dict[str, float]] = {}
    for name, k in (("mmap-devmem", km), ("drgn", kd)):
        t = time.monotonic()
        _api_ps(k)
        speed[name] = {"ps": round(time.monotonic() - t, 3), "page_reads": len(many)}
        for rep in ("first", "second"):
            t = time.monotonic()
            for pa in many:
                k.read(pa, PAGE, physical=True)
            speed[name][f"page_reads_{rep}_secs"] = round(time.monotonic() - t, 3)
    out["speed"] = speed
    return out


# -- reads against drgn's /proc/kcore ----------------------------------------------------

def _sample_addresses(k: Any, n: int, rnd: random.Random) -> dict[str, list[int]]:
    """Kernel virtual addresses of four kinds, about ``n`` in all: the direct map
    (random System RAM), the kernel image (text and data), vmalloc (task stacks
    with CONFIG_VMAP_STACK) and modules (from /proc/modules, when any are loaded)."""
    from kmemx.helpers.sched import for_each_task

    prog = k.prog
    pob = int(prog["page_offset_base"].value_())
    ram = [(s, e) for s, e in ram_ranges() if e - s >= MiB]
    out: dict[str, list[int]] = {"direct": [], "image": [], "vmalloc": [], "module": []}
    total = sum(e - s for s, e in ram)
    for _ in range(n // 2):
        x = rnd.randrange(total)
        for s, e in ram:
            if x < e - s:
                out["direct"].append(pob + ((s + x) & ~7))
                break
            x -= e - s
    stext = prog.symbol("_stext").address
    # the image's last symbol above _stext: on the 5.10 defconfig kernels drgn's
    # "_end" came out without the KASLR offset (below _stext)
    end = stext + PAGE
    for name in ("_end", "__bss_stop", "_edata", "_etext"):
        try:
            a = prog.symbol(name).address
        except LookupError:
            continue
        if a > stext:
            end = a
            break
    out["image"] = [(rnd.randrange(stext, end - 8)) & ~7 for _ in range(n // 4)]
    stacks = []
    for t in for_each_task(k):
        st = int(k.read_u64(t.address + k.offsetof("struct task_struct", "stack")))
        if st >> 40 != pob >> 40:
            stacks.append(st)
    if stacks:
        tsize = 16384
        out["vmalloc"] = [rnd.choice(stacks) + (rnd.randrange(tsize) & ~7)
                          for _ in range(n // 8)]
    try:
        with open("/proc/modules") as f:
            mods = [(int(w[5], 16), int(w[1])) for w in (ln.split() for ln in f) if len(w) > 5]
    except OSError:
        mods = []
    mods = [(a, sz) for a, sz in mods if a]
    if mods:
        for _ in range(n - sum(len(v) for v in out.values())):
            a, sz = rnd.choice(mods)
            out["module"].append(a + (rnd.randrange(max(8, sz - 8)) & ~7))
    else:
        out["direct"] += [pob + ((ram[0][0] + rnd.randrange(ram[0][1] - ram[0][0])) & ~7)
                          for _ in range(n - sum(len(v) for v in out.values()))]
    return out


def _own_stack(prog: Any) -> tuple[int, int]:
    """``[stack, stack + THREAD_SIZE)`` of this process's kernel stack."""
    from drgn.helpers.linux.pid import find_task

    stack = find_task(prog, os.getpid()).stack.value_()
    try:  # include/linux/sched.h: unsigned long stack[THREAD_SIZE / sizeof(long)]
        size = prog.type("union thread_union").size
    except LookupError:
        size = 16384  # x86-64's THREAD_SIZE without KASAN
    return stack, stack + size


def check_reads(args: argparse.Namespace) -> dict[str, Any]:
    """``--n`` 8-byte reads through the reader ``open_live`` picks against drgn's own
    /proc/kcore reader, drgn read before and after (a word that changed in between
    is "unstable" and not compared).  The kcore reader starts a new epoch for each
    read (one read = one command here), so it reads the kernel as it is then."""
    import drgn

    import kmemx

    k = kmemx.open_live(args.vmlinux, reader=args.reader)
    kd = kmemx.open_live(args.vmlinux, reader="drgn")
    if hasattr(k.reader, "readahead"):
        k.reader.readahead = 1
    rnd = random.Random(2024)
    kinds = _sample_addresses(k, args.n, rnd)
    out: dict[str, Any] = {"reader": k.reader.name, "kinds": {}}
    # this process's own kernel stack holds the frames of the read in progress, which
    # differ between the two readers' code paths (kmemx reads whole pages): not compared
    own = _own_stack(kd.prog)
    for kind, addrs in kinds.items():
        r = {"n": len(addrs), "stable": 0, "equal": 0, "both_fault": 0, "differ": [],
             "kmemx_fault_only": [], "drgn_fault_only": [], "own_stack": 0}
        def dr(a: int) -> bytes | None:
            try:
                return bytes(kd.prog.read(a, 8))
            except drgn.FaultError:
                return None

        for a in addrs:
            if own[0] <= a < own[1]:
                r["own_stack"] += 1
                continue
            d1 = dr(a)
            k.new_epoch()
            try:
                m: bytes | None = bytes(k.read(a, 8))
            except drgn.FaultError:
                m = None
            d2 = dr(a)
            if d1 != d2:
                continue
            r["stable"] += 1
            if m == d1:
                r["equal"] += 1
                r["both_fault"] += m is None
            elif m is None:
                r["kmemx_fault_only"].append(hex(a))
            elif d1 is None:
                r["drgn_fault_only"].append(hex(a))
            else:
                r["differ"].append(hex(a))
        for key in ("differ", "kmemx_fault_only", "drgn_fault_only"):
            r[key] = r[key][:10]
        out["kinds"][kind] = r
    out["stats"] = k.stats.as_dict()
    return out


_LSEEK: Any = None


def _kmem_read(fd: int, addr: int, n: int) -> bytes | str:
    """read() of /dev/kmem at a kernel virtual address, or the errno's name: lseek
    through libc (for a position >= 2^63 ``os.lseek`` raises SystemError), then read.
    libc is loaded once: ``find_library`` runs ldconfig, far slower than the read."""
    global _LSEEK
    import ctypes
    import ctypes.util

    if _LSEEK is None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.lseek.restype = ctypes.c_int64
        libc.lseek.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int]
        _LSEEK = libc.lseek
    off = addr - (1 << 64) if addr >= 1 << 63 else addr
    ctypes.set_errno(0)
    if _LSEEK(fd, off, os.SEEK_SET) == -1:
        return errno.errorcode.get(ctypes.get_errno(), "?")
    try:
        return os.read(fd, n)
    except OSError as e:
        return _errname(e)


def _modules_vaddr() -> int | None:
    """x86-64's MODULES_VADDR (``__START_KERNEL_map + KERNEL_IMAGE_SIZE``): 1 GiB
    of image with CONFIG_RANDOMIZE_BASE, else 512 MiB (page_64_types.h), from the
    running kernel's /proc/config.gz."""
    import gzip

    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            kaslr = "CONFIG_RANDOMIZE_BASE=y\n" in f.read()
    except OSError:
        return None
    return KTEXT_MAP + ((1 << 30) if kaslr else (512 << 20))


def _time_reads(read: Any, addrs: list[int]) -> float:
    t = time.monotonic()
    for a in addrs:
        read(a)
    return round(time.monotonic() - t, 3)


def check_devkmem(args: argparse.Namespace) -> dict[str, Any]:
    """What /dev/kmem gives for each kind of address, against drgn on /proc/kcore
    (read before and after; a word that changed in between is not compared):

    - ``read()`` (read_kmem: below high_memory the direct map, then vmalloc and
      module addresses through vread(); anything else ENXIO);
    - ``mmap`` of the page (mmap_kmem: ``__pa()`` of the address, EIO unless
      pfn_valid, then mmap_mem's STRICT_DEVMEM and PAT checks);
    - the start of the module area: where ``__pa()`` takes the kernel-image branch,
      so mmap maps the physical page ``addr - __START_KERNEL_map + phys_base``;
    - the time of ``--n`` 8-byte reads of the direct map and of vmalloc each way:
      read() of /dev/kmem, drgn's /proc/kcore, and the reader ``open_live`` picks
      (for vmalloc that reader walks the page tables onto its mapping).
    """
    import ctypes
    import ctypes.util
    import mmap as mmap_mod

    import drgn

    import kmemx

    kd = kmemx.open_live(args.vmlinux, reader="drgn")
    rnd = random.Random(7)
    kinds = _sample_addresses(kd, 400, rnd)
    fd = os.open("/dev/kmem", os.O_RDONLY)
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_int64]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]

    def dr(a: int, physical: bool = False) -> bytes | None:
        try:
            return bytes(kd.prog.read(a, 8, physical))
        except drgn.FaultError:
            return None

    def mmap_word(a: int) -> tuple[str, bytes | None]:
        page = a & ~(PAGE - 1)
        off = page - (1 << 64) if page >= 1 << 63 else page
        ctypes.set_errno(0)
        p = libc.mmap(None, PAGE, mmap_mod.PROT_READ, mmap_mod.MAP_SHARED, fd, off)
        if p is None or p == ctypes.c_void_p(-1).value:
            return errno.errorcode.get(ctypes.get_errno(), "?"), None
        try:
            return "ok", ctypes.string_at(p + (a - page), 8)
        finally:
            libc.munmap(p, PAGE)

    out: dict[str, Any] = {"release": os.uname().release}
    for kind, addrs in kinds.items():
        if not addrs:
            continue
        r: dict[str, Any] = {"n": len(addrs), "read_ok": 0, "read_stable": 0, "read_equal": 0,
                             "read_errors": {}, "mmap": {}, "mmap_stable": 0, "mmap_equal": 0}
        for a in addrs:
            d1 = dr(a)
            got = _kmem_read(fd, a, 8)
            d2 = dr(a)
            if isinstance(got, bytes):
                r["read_ok"] += 1
                if d1 == d2:
                    r["read_stable"] += 1
                    r["read_equal"] += got == d1
            else:
                r["read_errors"][got] = r["read_errors"].get(got, 0) + 1
        for a in addrs[:20]:
            d1 = dr(a)
            name, word = mmap_word(a)
            d2 = dr(a)
            r["mmap"][name] = r["mmap"].get(name, 0) + 1
            if word is not None and d1 == d2:
                r["mmap_stable"] += 1
                r["mmap_equal"] += word == d1
        out[kind] = r
    mv = _modules_vaddr()
    if mv is not None:
        # phys_base is defined in head_64.S: a symbol without a DWARF type
        phys_base = int.from_bytes(kd.prog.read(kd.prog.symbol("phys_base").address, 8),
                                   "little")
        # unsigned 64-bit arithmetic, as __pa() does: with KASLR phys_base may be a
        # negative offset stored as a u64 (seen in a 5.10 guest: OverflowError)
        pa = (mv - KTEXT_MAP + phys_base) & ((1 << 64) - 1)
        p1 = dr(pa, physical=True)
        name, word = mmap_word(mv)
        p2 = dr(pa, physical=True)
        out["module_area"] = {
            "addr": hex(mv), "mmap": name, "pa_image_branch": hex(pa),
            "equals_phys_page": word is not None and p1 == p2 and word == p1,
            "virtual_mapped": dr(mv) is not None}
        got = _kmem_read(fd, mv, 8)
        # vread(): zeros in a hole before a vmap area, 0 bytes (EOF) past the last one
        out["module_area"]["read"] = f"{len(got)} bytes" if isinstance(got, bytes) else got
    # speed: the same addresses each way
    speed: dict[str, Any] = {}
    try:
        k = kmemx.open_live(args.vmlinux, debug_info=False)
    except kmemx.KmemxError as e:
        k = None
        speed["reader_error"] = str(e)
    for kind in ("direct", "vmalloc"):
        base = kinds.get(kind) or []
        if not base:
            continue
        addrs = (base * (args.n // len(base) + 1))[:args.n]
        row: dict[str, Any] = {
            "reads": len(addrs),
            "devkmem_read_secs": _time_reads(lambda a: _kmem_read(fd, a, 8), addrs),
            "drgn_kcore_secs": _time_reads(lambda a: kd.prog.read(a, 8), addrs)}
        if k is not None and k.reader.name.startswith("mmap-"):  # kcore's cache: not comparable
            row[f"{k.reader.name}_secs"] = _time_reads(k.read_u64, addrs)
        speed[kind] = row
    if k is not None:
        speed["reader"] = k.reader.name
        k.close()
    out["speed"] = speed
    os.close(fd)
    return out


def check_bench(args: argparse.Namespace) -> dict[str, Any]:
    """benchmarks.bench_live in the guest: the picked reader against drgn's kcore."""
    from benchmarks.bench_live import measure

    return measure(args.vmlinux, reader=args.reader)


# -- churn -------------------------------------------------------------------------------

def spawn(args: argparse.Namespace) -> dict[str, Any]:
    """Fork short-lived processes (and start short-lived threads) until SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    forks = threads = 0
    alive = 0
    rnd = random.Random(os.getpid())

    def thread_body() -> None:
        time.sleep(rnd.uniform(0, 0.02))

    while not stop.is_set():
        while alive < args.width and not stop.is_set():
            pid = os.fork()
            if pid == 0:
                time.sleep(rnd.uniform(0, 0.05))
                os._exit(0)
            forks += 1
            alive += 1
        th = threading.Thread(target=thread_body)
        th.start()
        threads += 1
        try:
            while True:
                pid, _ = os.waitpid(-1, os.WNOHANG if alive < args.width else 0)
                if pid == 0:
                    break
                alive -= 1
        except ChildProcessError:
            alive = 0
        except InterruptedError:
            pass
        th.join()
    return {"forks": forks, "threads": threads}


def _start_spawner(width: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.live.guest_checks", "spawn",
                             "--width", str(width)], stdout=subprocess.PIPE, text=True)


def _stop_spawner(proc: subprocess.Popen[str]) -> dict[str, Any]:
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=60)
        return dict(json.loads(out))
    except (subprocess.TimeoutExpired, ValueError):
        proc.kill()
        proc.communicate()
        return {"error": "the spawner did not stop"}


class _Watchdog(Exception):
    pass


def _alarm(_sig: int, _frame: Any) -> None:
    raise _Watchdog


def check_churn(args: argparse.Namespace) -> dict[str, Any]:
    import kmemx

    k = kmemx.open_live(args.vmlinux)
    walk0 = proc_tasks()
    spawner = _start_spawner(args.width)
    time.sleep(2)  # let it get going
    signal.signal(signal.SIGALRM, _alarm)
    api_runs = []
    for _ in range(args.runs):
        start = time.monotonic()
        signal.alarm(args.run_timeout)
        try:
            r = _api_ps(k)
            run: dict[str, Any] = {"ok": True, "rows": len(r["rows"]), "notes": r["notes"],
                                   "pids": sorted({row["pid"] for row in r["rows"]})}
        except _Watchdog:
            run = {"ok": False, "error": f"hung for {args.run_timeout}s"}
        except Exception as e:  # report whatever escaped the command
            run = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        finally:
            signal.alarm(0)
        run["secs"] = round(time.monotonic() - start, 2)
        api_runs.append(run)
    cli_runs = []
    for _ in range(args.cli_runs):
        r = _cli_ps(args.vmlinux, timeout=args.run_timeout + 300)
        rows = r.pop("rows")
        r["rows"] = len(rows) if isinstance(rows, list) else None
        r["pids"] = sorted({row["pid"] for row in rows}) if isinstance(rows, list) else []
        cli_runs.append(r)
    spawned = _stop_spawner(spawner)
    walk1 = proc_tasks()
    return {"reader": k.reader.name, "api": api_runs, "cli": cli_runs, "spawner": spawned,
            "spawner_pid": spawner.pid, "walks": [walk0, walk1]}


def check_stale_walk(args: argparse.Namespace) -> dict[str, Any]:
    """Walk the task list, stop half way, let the tasks ahead exit (and their
    task_structs be freed and reused), then finish the walk."""
    import kmemx
    from kmemx.helpers.sched import for_each_task

    k = kmemx.open_live(args.vmlinux)
    children = []
    for _ in range(args.children):
        pid = os.fork()
        if pid == 0:
            signal.pause()
            os._exit(0)
        children.append(pid)
    time.sleep(0.5)
    me = os.getpid()
    walk = for_each_task(k)
    before: list[int] = []
    for t in walk:
        before.append(int(t.pid))
        if before[-1] == me:
            break
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    for pid in children:
        os.waitpid(pid, 0)
    time.sleep(1.0)  # an RCU grace period: the task_structs are freed
    reuse = []
    for _ in range(args.children):  # new tasks reuse the freed task_structs
        pid = os.fork()
        if pid == 0:
            signal.pause()
            os._exit(0)
        reuse.append(pid)
    time.sleep(0.5)
    after: list[int] = []
    error = None
    start = time.monotonic()
    try:
        for t in walk:
            try:
                after.append(int(t.pid))
            except Exception as e:  # a dead task's fields may fault
                after.append(-1)
                error = f"{type(e).__name__}: {e}"
    except Exception as e:  # the walk itself stopped
        error = f"{type(e).__name__}: {e}"
    secs = time.monotonic() - start
    for pid in reuse:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    # ps on a list where those tasks are gone, for comparison
    final = _api_ps(k)
    return {"reader": k.reader.name, "me": me, "children": children, "reused": reuse,
            "before": before, "after": after, "error": error, "resume_secs": round(secs, 2),
            "ps_after": {"pids": sorted({r["pid"] for r in final["rows"]}),
                         "notes": final["notes"]}}


def check_imports(args: argparse.Namespace) -> dict[str, Any]:
    """The files of the ``kmemx`` the guest runs: the package, its optional C
    extensions (None when not built) and every plugin module that loaded."""
    import kmemx
    from kmemx import _accel
    from kmemx.commands import load_plugins

    def where(mod: Any) -> str | None:
        f = getattr(mod, "__file__", None)
        return os.path.realpath(f) if f else None

    plugins: dict[str, str | None] = {}
    for p in load_plugins():
        mod = sys.modules.get(p.source.split(":")[0]) if p.ok else None
        plugins[p.name] = where(mod) if p.ok else f"failed: {p.error}"
    return {"kmemx": where(kmemx), "speedups": where(_accel.speedups),
            "segread": where(_accel.segread), "plugins": plugins}


CHECKS = {
    "ps": check_ps,
    "lowmem": check_lowmem,
    "readers": check_readers,
    "compare": check_compare,
    "churn": check_churn,
    "stale-walk": check_stale_walk,
    "reads": check_reads,
    "devkmem": check_devkmem,
    "bench": check_bench,
    "imports": check_imports,
    "spawn": spawn,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.live.guest_checks")
    parser.add_argument("check", choices=sorted(CHECKS))
    parser.add_argument("--vmlinux", help="the guest kernel's vmlinux")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cli-runs", type=int, default=20)
    parser.add_argument("--run-timeout", type=int, default=300)
    parser.add_argument("--width", type=int, default=16, help="spawner: children at a time")
    parser.add_argument("--children", type=int, default=24)
    parser.add_argument("--n", type=int, default=10000, help="reads: addresses compared")
    parser.add_argument("--reader", default=None, help="reads/bench: force this reader")
    args = parser.parse_args(argv)
    result = CHECKS[args.check](args)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
