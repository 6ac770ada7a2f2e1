"""``mount``'s crash options (issue 15) against crash 8.0.6 on the test bed's
ELF dump: ``-n PID|TASK`` (the task's mount namespace; PID 1's by default,
as crash) and crash's selectors (``mount /proc``, ``mount proc``, a mount,
vfsmount or superblock address: the rows of crash's own table with that
word), ``-f`` and ``-i``.

Written exceptions:

* ``-f`` (each filesystem's open files): crash reads super_block.s_files,
  gone since 3.13, and refuses on every kernel of the test bed; kmemx lists
  the files of the tasks' file descriptor tables by the mount they were
  opened through, checked against drgn's for_each_file() over every task and
  against the workload's own files (``/kmx/worker-NNN``).
* ``-i`` (dirty inodes): crash reads super_block.s_dirty, gone since 2.6.32,
  and refuses; so does kmemx, in one line.
* A selector that is a dentry's or an inode's address: crash 8.0.6 looks for
  it among s_files' open files, so it finds nothing on these kernels; kmemx
  gives the rows of its superblock (checked with drgn's ``d_sb``/``i_sb``).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import pytest

from kmemx.commands import CommandError, execute
from tests.oracles import crash as C
from tests.vmcore.crash_session import CrashSession, crash_session_fixture

pytestmark = pytest.mark.vmcore


class Session(CrashSession):

    @cached_property
    def table(self) -> list[dict[str, Any]]:
        """crash's ``mount`` rows."""
        rows = C.parse_mount(self.crash["mount"])
        assert len(rows) >= 4
        return rows

    @cached_property
    def commands(self) -> dict[str, str]:
        return {"mount": "mount", "-n 1": "mount -n 1",
                "-n task": f"mount -n {self.worker.value_():x}",
                "-f": "mount -f", "-i": "mount -i"}


s = crash_session_fixture(Session)


def _rows(rows: list[dict[str, Any]]) -> list[tuple[int, int, str, str, str]]:
    return [(int(str(r["mount"]), 0) if isinstance(r["mount"], str) else r["mount"],
             int(str(r["superblk"]), 0) if isinstance(r["superblk"], str) else r["superblk"],
             r["type"], r["devname"], r["dirname"]) for r in rows]


@pytest.mark.parametrize("key", ["-n 1", "-n task"])
def test_namespace_of_a_task_is_crash(s: Session, key: str) -> None:
    assert _rows(s.json(s.commands[key])) == _rows(C.parse_mount(s.crash[key])) != []
    assert _rows(s.json("mount")) == _rows(s.table)


def test_selectors_pick_crash_rows(s: Session) -> None:
    """``mount ARG``: the rows of crash's table one of whose words is ARG
    (crash's rule), or whose vfsmount ARG is."""
    import drgn

    sysfs = next(r for r in s.table if r["type"] == "sysfs")
    vfsmount = drgn.Object(s.k.prog, "struct mount", address=sysfs["mount"]).mnt.address_
    for arg, want in [("/proc", [r for r in s.table if r["dirname"] == "/proc"]),
                      ("/proc/", [r for r in s.table if r["dirname"] == "/proc"]),
                      ("proc", [r for r in s.table if "proc" in (r["type"], r["devname"])]),
                      (f"{sysfs['superblk']:x}", [sysfs]), (f"{sysfs['mount']:#x}", [sysfs]),
                      (f"{vfsmount:x}", [sysfs]),
                      ("/kmx /sys", [r for r in s.table if r["dirname"] in ("/kmx", "/sys")])]:
        assert want
        assert _rows(s.json(f"mount {arg}")) == _rows(want), arg


def test_dentry_and_inode_select_their_superblock(s: Session) -> None:
    from drgn.helpers.linux.fs import path_lookup

    kmx = next(r for r in s.table if r["dirname"] == "/kmx")
    path = path_lookup(s.k.prog, "/kmx/worker-000")
    for addr in (path.dentry.value_(), path.dentry.d_inode.value_()):
        assert _rows(s.json(f"mount {addr:x}")) == _rows([kmx])


def test_open_files_are_the_tasks(s: Session) -> None:
    """``mount -f``: crash refuses (no s_files); kmemx's files are drgn's
    for_each_file() of every task, each struct file once, under the mount
    its f_path.mnt is (a mount of the namespace), and the workload's
    /kmx/worker-NNN among them."""
    import drgn
    from drgn.helpers.linux.fs import for_each_file
    from drgn.helpers.linux.pid import for_each_task

    assert "-f option not supported" in s.crash["-f"]
    want: dict[int, set[int]] = {}
    for task in for_each_task(s.k.prog):
        if task.files:
            for _, f in for_each_file(task):
                mnt = drgn.container_of(f.f_path.mnt, "struct mount", "mnt").value_()
                want.setdefault(mnt, set()).add(f.f_path.dentry.value_())
    got: dict[int, set[int]] = {}
    mount = None
    paths: dict[int, list[str]] = {}
    for r in s.json("mount -f"):
        if "superblk" in r:
            mount = int(r["mount"], 16)
            continue
        assert mount is not None and int(r["mount"], 16) == mount  # a file row's MOUNT
        got.setdefault(mount, set()).add(int(r["dentry"], 16))
        paths.setdefault(mount, []).append(r["path"])
    # files of the kernel's internal mounts (pipefs, sockfs, anon_inodefs) have
    # no row: those mounts are in no namespace
    assert got == {m: d for m, d in want.items() if m in {r["mount"] for r in s.table}}
    kmx = next(r["mount"] for r in s.table if r["dirname"] == "/kmx")
    assert "worker-000" in paths[kmx]
    text = "\n".join(execute(s.k, "mount -f"))
    assert "DENTRY            INODE             TYPE  PATH" in text
    # crash's show_mounts() lines: "OPEN FILES" centred over each mount's files,
    # "No open files found" under a mount with none (proc: nobody holds /proc open)
    lines = text.splitlines()
    proc = next(i for i, x in enumerate(lines) if x.endswith(" /proc"))
    assert lines[proc + 1:proc + 3] == ["   OPEN FILES", "No open files found"]
    assert text.count("   OPEN FILES\n") == len(s.table)


def test_dirty_inodes_refused_as_crash(s: Session) -> None:
    assert "-i option not supported" in s.crash["-i"]
    with pytest.raises(CommandError, match="s_dirty"):
        list(execute(s.k, "mount -i"))


def test_a_selector_that_matches_no_mount_is_one_error(s: Session) -> None:
    """crash 8.0.6 refuses every selector on these kernels (s_files); kmemx
    says in one line that nothing matched rather than printing nothing."""
    with pytest.raises(CommandError, match="no mount of /no/such/dir in this namespace"):
        s.text("mount /no/such/dir")
