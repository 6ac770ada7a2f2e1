"""arm64 ``vm -p``/``-P``, ``dis`` and ``bt -e`` against crash-arm64 8.0.6 on
the test bed's arm64 ELF dump (``KMEMX_KERNEL=linux-image-6.1.0-57-arm64``);
skipped on other architectures.

``vm -p``/``-P``: every page of init's and the first worker's VMAs, row by
row: VIRTUAL and PHYSICAL (or crash's ``FILE: ... OFFSET:``/``(not
mapped)``/``SWAP:`` text), by crash's rule for arm64 (arm64.c
``arm64_uvtop()``: mapped when the PTE has PTE_VALID; a non-zero PTE without
it is a swap entry), kmemx.arch.aarch64.uvtop(); the ``--drgn`` script's
rows equal the ``--json`` rows.

``dis``: every instruction of a set of routines, and the -l, -r, -x and
ADDR COUNT forms: the same addresses, the same text (gdb's spelling:
kmemx.arch.aarch64_text), the same branch targets and comments.  Written
exceptions, each checked where it applies:

* **Names** (the ``<symbol+offset>`` of a line and of a target): crash names
  by its own symbol table (the nearest symbol at or below the address,
  sized or not: ``memmove`` for ``__memmove``, ``strcmp`` for
  ``__pi_strcmp``, the section symbol ``.data..percpu`` for the first per-CPU
  variable); kmemx by the ELF symbol that contains the address.  The address
  is equal, and crash's name is an alias at the same address, a symbol
  between kmemx's symbol's start and the address, or a section symbol
  crash keeps and drgn does not (a name starting with ``.``).
* **A conditional branch's target name**: crash-arm64 replaces gdb's
  ``<symbol+offset>`` with its own only when it ends the line
  (arm64.c ``arm64_dis_filter()``); after ``b.ne``'s ``// b.any`` comment
  gdb's stays, and gdb counts the offset from the function's DWARF entry,
  after the two-instruction patchable-function-entry area of a traced
  function (ftrace, 8 bytes): ``<schedule+132>`` where kmemx (and crash's
  own lines) say ``<schedule+140>``.  Checked: the same symbol, offset 8
  less.
* **System registers gdb 10.2 does not name** (crash 8.0.6's gdb): gdb
  prints the encoding, ``s3_3_c13_c2_3``, capstone the name,
  ``amuserenr_el0``.  Checked: the rest of the line is equal.
* **bt -e**: kmemx searches each task's stack as crash-arm64 does (arm64.c
  ``arm64_eframe_search()``: every byte address where a kernel-mode
  ``struct pt_regs`` may lie, then the user-mode frame of a task that is not
  a kernel thread), kmemx.arch.aarch64.kernel_exception_frames().  The one
  difference: crash names a gcc clone by its name without the suffix
  (``finish_task_switch+136`` for ``finish_task_switch.isra.0+136``, as in
  its ``dis``).  Checked: the lines equal once the suffix is removed.
* **Source lines** (``-l``): as on x86-64 (test_crash_cmds_dis): where
  several line-table rows share an address, gdb takes the last, kmemx
  (drgn, addr2line) the first; compared as a path suffix with crash, else
  with addr2line.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from typing import Any

import pytest

from kmemx.commands import execute
from tests.oracles import crash_cmds as P
from tests.vmcore.crash_session import CrashSession, crash_session_fixture
from tests.vmcore.test_crash_cmds_dis import _same_place

pytestmark = pytest.mark.vmcore

#: C routines (plain, inline-heavy, the panic path), assembly, library routines
ROUTINES = ("__schedule", "schedule", "do_sys_openat2", "sysrq_handle_crash", "panic",
            "copy_process", "vfs_read", "memmove", "memset", "strcmp", "el0t_64_sync",
            "do_mem_abort", "do_idle", "mutex_lock", "__alloc_pages", "invoke_syscall",
            "cpu_switch_to", "ret_from_fork", "crc32_le", "__arch_copy_from_user")
#: the other forms: -l, -r, -x, an offset and a count
FORMS = ("dis -l __schedule", "dis -r __schedule+100", "dis __schedule+64 10",
         "dis -x do_sys_openat2 12", "dis -l do_sys_openat2", "dis -r sysrq_handle_crash+20")
#: a line of crash's or kmemx's dis: address, location, instruction, the
#: target's <name>, the comment
_LINE = re.compile(r"^\s*0x([0-9a-f]+)(?: <([^>]*)>)?:\t(.*?)(?: <([^>]*)>)?"
                   r"((?:  |\t)// .*)?$")
_SYSREG = re.compile(r"\bs\d_\d_c\d+_c\d+_\d\b")


class Session(CrashSession):
    @cached_property
    def arm64(self) -> bool:
        from kmemx.arch import is_aarch64

        return is_aarch64(self.k.prog)

    @cached_property
    def tasks(self) -> dict[str, int]:
        return {"init": 1, "worker": int(self.worker.pid)}

    @cached_property
    def vmas(self) -> list[int]:
        """init's VMAs with pages mapped, not mapped and file-backed."""
        from drgn.helpers.linux.mm import for_each_vma
        from drgn.helpers.linux.pid import find_task

        return [int(v.value_()) for v in for_each_vma(find_task(self.k.prog, 1).mm)]

    @cached_property
    def routines(self) -> list[str]:
        return self.symbols_present(ROUTINES)

    @cached_property
    def commands(self) -> dict[str, str]:
        if not self.arm64:
            pytest.skip("an arm64 dump's test")
        lines = {f"vm -p {w}": f"vm -p {pid}" for w, pid in self.tasks.items()}
        lines.update({f"vm -P {v:x}": f"vm -P {v:x} 1" for v in self.vmas[-3:]})
        lines.update({f"dis {r}": f"dis {r}" for r in self.routines})
        lines.update({f: f for f in FORMS})
        lines["foreach bt -e"] = "foreach bt -e"
        return lines

    def ours(self, line: str) -> str:
        return "\n".join(execute(self.k, line))


s = crash_session_fixture(Session)


@pytest.fixture(autouse=True)
def _arm64_only(s: Session) -> None:
    """Every test here is an arm64 dump's (the matrix runs them on x86-64 too)."""
    if not s.arm64:
        pytest.skip("an arm64 dump's test")


def _page_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """kmemx's --json rows of vm -p/-P as parse_vm_pages() reads crash's."""
    out: list[dict[str, Any]] = []
    vma = None
    for r in rows:
        if "vma" in r:
            vma = int(r["vma"], 16)
        elif "virtual" in r:
            phys = r["physical"]
            out.append({"vma": vma, "virtual": int(r["virtual"], 16),
                        "physical": int(phys, 16) if phys.startswith("0x") else phys})
    return out


@pytest.mark.parametrize("who", ["init", "worker"])
def test_vm_p_equal_crash(s: Session, who: str) -> None:
    theirs = P.parse_vm_pages(s.crash[f"vm -p {who}"])
    pid = s.tasks[who]
    ours = _page_rows(s.json(f"vm -p {pid}"))
    assert len(theirs) > 100
    assert {type(r["physical"]) for r in theirs} == {int, str}  # mapped and not
    assert ours == theirs
    # the --drgn script: the same rows
    script = s.drgn_output(f"vm -p {pid}").splitlines()
    drgn_rows = [line.split("\t") for line in script if line.count("\t") == 4
                 and not line.startswith("PID")]
    assert [(int(v, 16), p) for _, _, _, v, p in drgn_rows] == [
        (r["virtual"], hex(r["physical"]) if isinstance(r["physical"], int) else r["physical"])
        for r in ours]
    # each mapped page against drgn's own page-table walk
    from drgn.helpers.linux.mm import follow_phys
    from drgn.helpers.linux.pid import find_task

    mm = find_task(s.k.prog, pid).mm
    for r in [r for r in ours if isinstance(r["physical"], int)][::37]:
        assert int(follow_phys(mm, r["virtual"])) == r["physical"]


def test_vm_P_equal_crash(s: Session) -> None:
    for vma in s.vmas[-3:]:
        theirs = P.parse_vm_pages(s.crash[f"vm -P {vma:x}"])
        rows = s.json(f"vm -P {vma:x} 1")
        assert [int(r["vma"], 16) for r in rows if "vma" in r] == [vma]
        assert theirs and _page_rows(rows) == theirs


def _parse(text: str) -> list[dict[str, Any]]:
    rows = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            rows.append({"address": int(m.group(1), 16), "location": m.group(2),
                         "text": m.group(3).rstrip(), "name": m.group(4),
                         "comment": m.group(5) or ""})
    return rows


def _location(name: str | None) -> tuple[str, int] | None:
    if name is None:
        return None
    sym, _, off = name.partition("+")
    return sym, int(off, 0) if off else 0


def _names_agree(s: Session, address: int | None, ours: str | None, theirs: str | None,
                 conditional: bool) -> str:
    """Which rule makes two names of ``address`` agree ("" when equal)."""
    if ours == theirs:
        return ""
    assert address is not None and ours is not None and theirs is not None, (ours, theirs)
    o, t = _location(ours), _location(theirs)
    assert o is not None and t is not None
    if conditional and o[0] == t[0] and t[1] == o[1] - 8:
        return "gdb's offset from the DWARF entry"
    if t[0].startswith("."):
        return "section symbol"
    assert _same_place(s.k, address, o, t), (hex(address), ours, theirs)
    return "alias"


def _compare(s: Session, ours_text: str, theirs_text: str, where: str) -> dict[str, int]:
    ours, theirs = _parse(ours_text), _parse(theirs_text)
    assert theirs, f"crash printed nothing for {where}"
    assert [r["address"] for r in ours] == [r["address"] for r in theirs], where
    counts: dict[str, int] = {}
    for o, t in zip(ours, theirs):
        at = f"{where} at {o['address']:#x}"
        if o["text"] != t["text"]:
            assert _SYSREG.search(t["text"]) and _SYSREG.sub("R", t["text"]) == re.sub(
                r"\b[a-z0-9_]+_el[0-3]\b", "R", o["text"]), (at, o["text"], t["text"])
            counts["system register"] = counts.get("system register", 0) + 1
        assert o["comment"] == t["comment"], (at, o["comment"], t["comment"])
        target = re.search(r"(0x[0-9a-f]+)$", o["text"])
        for mine, theirs_name, address, cond in (
                (o["location"], t["location"], o["address"], False),
                (o["name"], t["name"], int(target.group(1), 16) if target else None,
                 o["text"].startswith("b.") and bool(o["comment"]))):
            if theirs_name is None and mine is None:
                continue
            if mine is None or theirs_name is None:
                # crash names an address kmemx has no sized symbol for (or
                # the other way round): only a section symbol may be missing
                assert (theirs_name or "").startswith("."), (at, mine, theirs_name)
                counts["section symbol"] = counts.get("section symbol", 0) + 1
                continue
            why = _names_agree(s, address, mine, theirs_name, cond)
            if why:
                counts[why] = counts.get(why, 0) + 1
        counts["lines"] = counts.get("lines", 0) + 1
    return counts


def test_dis_routines_equal_crash(s: Session) -> None:
    assert len(s.routines) >= 15, s.routines
    total: dict[str, int] = {}
    for r in s.routines:
        for key, n in _compare(s, s.ours(f"dis {r}"), s.crash[f"dis {r}"], f"dis {r}").items():
            total[key] = total.get(key, 0) + n
    assert total["lines"] > 3000, total
    exceptions = sum(n for k, n in total.items() if k != "lines")
    # the names are the exception, not the rule (most: memmove/memset/strcmp,
    # whose every line crash names by the alias)
    assert exceptions < total["lines"] // 5, total


@pytest.mark.parametrize("form", FORMS)
def test_dis_forms_equal_crash(s: Session, form: str) -> None:
    counts = _compare(s, s.ours(form), s.crash[form], form)
    assert counts["lines"] >= 5
    if form.startswith("dis -l"):
        ours = P.parse_dis_lines(s.ours(form))
        theirs = P.parse_dis_lines(s.crash[form])
        assert ours and theirs
        same = sum(1 for o in ours if any(t[0].endswith(o[0]) and t[1] == o[1]
                                          for t in theirs))
        assert same > len(ours) // 2, (same, len(ours))


def test_dis_json_arm64(s: Session) -> None:
    rows = json.loads("\n".join(execute(s.k, "dis do_sys_openat2", as_json=True)))
    text = _parse(s.ours("dis do_sys_openat2"))
    assert [int(r["address"], 16) for r in rows] == [t["address"] for t in text]
    for r, t in zip(rows, text):
        line = f"{r['mnemonic']}\t{r['operands']}" if r["operands"] else r["mnemonic"]
        if t["name"] is not None:  # the operands end with the target; the name apart
            assert r["target_location"] == f"<{t['name']}>"
        assert line.split() == (t["text"] + t["comment"]).split(), (line, t)
    calls = [r for r in rows if r["mnemonic"] == "bl"]
    assert calls and all(r["target"] and r["target_location"] for r in calls)


_CLONE_SUFFIX = re.compile(r"\.(?:part|cold|isra|constprop|llvm)\.\d+")


def test_bt_e_equal_crash(s: Session) -> None:
    theirs = [ln.rstrip() for ln in s.crash["foreach bt -e"].splitlines()]
    ours = [ln.rstrip() for ln in s.ours("foreach bt -e").splitlines()]
    while theirs and not theirs[-1]:
        theirs.pop()
    assert sum(ln.startswith("KERNEL-MODE EXCEPTION FRAME AT:") for ln in theirs) >= 5
    assert sum(ln.startswith("USER-MODE EXCEPTION FRAME AT:") for ln in theirs) >= 50
    assert len(ours) == len(theirs)
    clones = 0
    for o, t in zip(ours, theirs):
        if o != t:
            assert _CLONE_SUFFIX.sub("", o) == t, (o, t)
            clones += 1
    assert clones < 10, clones
    # --json: one object per block, at the addresses the text gives
    rows = json.loads("\n".join(execute(s.k, "foreach bt -e", as_json=True)))
    blocks = [(r["exception"]["mode"], int(r["exception"]["address"], 16))
              for r in rows if "exception" in r]
    text = [(m.group(1).lower(), int(m.group(2), 16))
            for m in (re.match(r"(KERNEL|USER)-MODE EXCEPTION FRAME AT: ([0-9a-f]+)", ln)
                      for ln in theirs) if m]
    assert blocks == text
