"""``p`` of C expressions, byte for byte against crash 8.0.6 (its gdb's
``print``) on the test bed's ELF dump (``KMEMX_KERNEL`` picks the kernel:
6.1 and 6.12 checked) (issue 15): ``&`` of globals and members (their type
and ``<symbol+offset>``), ``*`` of pointers and arrays, ``->`` through a
cast address, subscripts, casts to integer, character and pointer types,
``sizeof`` of types and expressions, arithmetic with gdb's result types
(``jiffies + 1`` unsigned long, ``init_task.comm[0] + 1`` int, ``(long)``
of an address negative), ``-x``/``-d``, crash's ``SYMBOL = `` leader when
the first word is a symbol (``jiffies = $N = ...``), a per-CPU
``runqueues:1``, and gdb's history (``$N``).  ``--json`` keeps the value as
data; ``--drgn``'s script, run by plain drgn, computes the same value.

Written exceptions (each asserted where it applies):

* ``p``'s ``$N``: gdb numbers the values of the whole crash session, kmemx
  its own session's; compared with the number replaced by ``$N``.
* crash drops every word starting with ``-`` before it hands the line to
  gdb (concat_args() in tools.c skips them as options): ``p jiffies - 1``
  is crash's ``gdb request failed: p jiffies 1`` and ``p -1`` an invalid
  option.  kmemx evaluates the subtraction and the negative number; the
  value is checked against drgn's arithmetic on the same objects.
* ``&runqueues`` (a per-CPU symbol's address): crash's gdb adds the KASLR
  offset to every symbol, the per-CPU section's offsets too (0x3431c40),
  where drgn's symbol is the offset the kernel uses (0x31c40); kmemx prints
  drgn's, checked against ``prog.symbol('runqueues')``.  From 6.15 on x86-64
  (and on arm64) per-CPU symbols are relocated with the image and crash's
  value is drgn's.
* crash 9.x's gdb 16 prints the symbol a ``void *`` points at
  (``<init_thread_union+8>``), gdb 10 and kmemx do not
  (:meth:`CrashSession.gdb10_text`).
* A character literal (``'A'``): kmemx's command line is split as a shell
  splits it, which removes the quotes; the evaluator takes ``'A'`` (checked
  without the command line).
* Errors: crash prints ``p: gdb request failed: EXPRESSION`` for every
  expression gdb refuses (unknown symbol, member or type, a division by
  zero, a NULL pointer followed); kmemx prints one ``kmemx: error:`` line
  saying which; both refuse the same expressions.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

import drgn
import pytest

from kmemx.commands import CommandError
from tests.vmcore.crash_session import CrashSession, crash_session_fixture

pytestmark = pytest.mark.vmcore

#: expressions compared with crash's text ({task} is init_task's address,
#: {worker} the first worker's task_struct)
EXPRESSIONS = (
    "&init_task", "&init_task.tasks", "-x &init_task", "-d &init_task", "*init_task.sched_class",
    "init_task.tasks.next", "init_task.tasks.next->prev", "*init_task.tasks.next",
    "(struct list_head *)init_task.tasks.next", "((struct task_struct *){task})->pid",
    "((struct task_struct *){worker})->comm", "((struct task_struct *){worker})->mm->map_count",
    "*((struct task_struct *){worker})->mm->pgd", "-x ((struct task_struct *){worker})->flags",
    "(long)jiffies", "(int)jiffies", "(unsigned int)jiffies", "(void *)jiffies",
    "(void *)&init_task", "(long)&init_task", "(char)65", "(unsigned char)init_task.prio",
    "(char *)init_task.comm", "sizeof(struct task_struct)", "-x sizeof(struct task_struct)",
    "sizeof(init_task)", "sizeof init_task", "sizeof(int)", "sizeof(long)",
    "sizeof(struct list_head) * 2", "init_task.comm[0]", "*init_task.comm", "init_task.comm + 1",
    "&init_task.comm", "&init_task.comm[1]", "init_task.comm[0] + 1", "jiffies + 1",
    "-x jiffies + 1", "jiffies * 2", "jiffies / 3", "jiffies % 7", "1 + 2", "7 / 2", "~0",
    "1 << 3", "0x10", "init_task.pid + 1", "init_task.prio * 2", "&init_task.se",
    "init_task.se.cfs_rq", "&jiffies", "*&init_task.pid", "&*init_task.mm",
    "init_task.sched_class->enqueue_task", "&init_task.sched_class", "init_task.stack + 8",
    "runqueues:1", "init_task.prio == 120", "init_task.prio < init_task.static_prio")

#: expressions both crash and kmemx refuse
REFUSED = ("*init_task.mm", "init_task.mm->mmap_base", "nosuchsym + 1", "init_task.nosuch",
           "(struct nosuch *)0", "1/0", "*init_task.sched_class->enqueue_task")


class Session(CrashSession):
    crash_timeout = 1200

    @cached_property
    def addr(self) -> dict[str, str]:
        prog = self.k.prog
        return {"task": f"{prog['init_task'].address_:#x}",
                "worker": f"{self.worker.value_():#x}"}

    def line(self, e: str) -> str:
        return "p " + e.format(**self.addr)

    @cached_property
    def commands(self) -> dict[str, str]:
        return {e: self.line(e) for e in EXPRESSIONS + REFUSED}

    def ours(self, e: str) -> str:
        try:
            return self.text(self.line(e))
        except CommandError as err:
            return f"kmemx: error: {err}"


s = crash_session_fixture(Session)


def _lines(text: str) -> list[str]:
    """A command's lines, gdb's history number replaced (the written
    exception), the last blank line dropped."""
    return [re.sub(r"^((?:\S+ = |per_cpu\(\w+, \d+\) = )?)\$\d+ = ", r"\1$N = ", ln)
            for ln in text.rstrip("\n").split("\n")]


@pytest.mark.parametrize("e", EXPRESSIONS)
def test_p_expression_is_crash(s: Session, e: str) -> None:
    theirs = _lines(s.crash[e])
    assert not theirs[0].startswith("p: "), theirs  # crash evaluated it
    ours = _lines(s.ours(e))
    assert ours == s.gdb10_text(theirs, ours)


@pytest.mark.parametrize("e", REFUSED)
def test_refused_by_both(s: Session, e: str) -> None:
    assert s.crash[e].startswith("p: gdb request failed: ")
    ours = s.ours(e)
    assert ours.startswith("kmemx: error: p: ") and "\n" not in ours


def _value(s: Session, line: str) -> Any:
    row, = s.json(line)
    return row["value"]


def test_subtraction_and_negative_numbers(s: Session) -> None:
    """The written exception: crash drops the ``-`` words; kmemx's values are
    drgn's arithmetic on the same objects."""
    prog = s.k.prog
    jiffies = int(prog["jiffies"].value_())
    assert _value(s, "p jiffies - 1") == jiffies - 1
    assert _lines(s.ours("jiffies - 1")) == [f"jiffies = $N = {jiffies - 1}"]
    it = prog["init_task"]
    assert _value(s, "p init_task.prio - init_task.static_prio") == int(it.prio) - int(
        it.static_prio)
    assert _value(s, "p -1") == -1
    assert _lines(s.ours("-x -1")) == ["$N = 0xffffffff"]


def test_percpu_address_is_drgns(s: Session) -> None:
    """The written exception: ``&runqueues`` is drgn's symbol value; crash's
    is that plus the KASLR offset."""
    prog = s.k.prog
    sym = prog.symbol("runqueues")
    want = f"$N = (struct rq *) {sym.address:#x}"
    if sym.address >= 1 << 63:
        # per-CPU symbols at addresses in the image (arm64; x86-64 since v6.15,
        # "x86/percpu/64: Use relative percpu offsets", zero-based before):
        # gdb then names the symbol the pointer is at
        want += " <runqueues>"
    assert _lines(s.ours("&runqueues")) == [want]
    m = re.fullmatch(r"\$\d+ = \(struct rq \*\) (0x[0-9a-f]+)(?: <runqueues>)?",
                     s.crash_outputs(["p &runqueues"])["p &runqueues"].strip())
    if prog.platform.arch == drgn.Architecture.X86_64 and sym.address < 1 << 63:
        # zero-based per-CPU symbols (x86-64 before 6.15): crash's differs by
        # the KASLR offset, _text's distance from x86-64's link address
        # __START_KERNEL (0xffffffff81000000); relocated with the image after
        assert m and int(m.group(1), 16) - sym.address == (
            prog.symbol("_text").address - 0xFFFFFFFF81000000)
    else:
        assert m and int(m.group(1), 16) == sym.address


def test_history(s: Session) -> None:
    """gdb's ``$N`` and ``$``: the values this session's ``p`` printed."""
    first = s.text("p &init_task")
    n = int(re.match(r"\$(\d+) = ", first).group(1))  # type: ignore[union-attr]
    again = s.text(f"p ${n}")
    assert again.split(" = ", 1)[1] == first.split(" = ", 1)[1]
    pid = s.text(f"p ${n}->pid")
    assert pid.split(" = ", 1)[1] == "0"
    last = s.text("p $")
    assert last.split(" = ", 1)[1] == "0"


def test_json_is_data(s: Session) -> None:
    prog = s.k.prog
    row, = s.json(s.line("((struct task_struct *){worker})->comm"))
    assert row["name"] == s.line("((struct task_struct *){worker})->comm")[2:]
    assert row["value"] == "kmx-w000"
    assert _value(s, "p &init_task") == prog["init_task"].address_
    assert _value(s, "p sizeof(struct task_struct)") == drgn.sizeof(
        prog.type("struct task_struct"))
    assert set(_value(s, "p *init_task.tasks.next")) == {"next", "prev"}


DRGN = ("((struct task_struct *){worker})->pid", "(long)jiffies + 1",
        "sizeof(struct task_struct)", "&init_task.comm[1]", "init_task.comm[0] + 1",
        "-x init_task.tasks.next->prev", "((struct task_struct *){worker})->comm")


@pytest.mark.parametrize("e", DRGN)
def test_drgn_code_computes_the_value(s: Session, e: str) -> None:
    """``--drgn``'s script, run by plain drgn, prints the ``--json`` row."""
    out = s.drgn_output(s.line(e)).rstrip("\n").split("\n")
    row, = s.json(s.line(e))
    assert out[0] == "NAME\tVALUE"
    assert out[1:] == [f"{row['name']}\t{row['value']}"]


def test_bad_expressions_are_one_line(s: Session) -> None:
    for e in ("init_task.", "(struct task_struct *", "1 +", "init_task.comm[", "$99999",
              "sizeof(struct nosuch)", "&1", "*jiffies"):
        with pytest.raises(CommandError) as err:
            s.text(f"p {e}")
        assert "\n" not in str(err.value) and str(err.value).startswith("p")


# ---------------------------------------------------------------------------- tree -s, struct -c

TREE = "tree -t rbtree -o vmap_area.rb_node"


class TreeSession(CrashSession):
    """``tree -s``/``-S`` member lines and whole structures (the rule ``list
    -s`` and ``struct T.m ADDR`` use: a member of an anonymous union, ``vm``,
    indented as it stands in the structure, no comma after the union's last
    member), ``tree -p -s``, and ``struct`` with a negative ``-c COUNT``."""

    crash_timeout = 1500

    @cached_property
    def addr(self) -> dict[str, int]:
        prog = self.k.prog
        # free_vmap_area_root: 6.12 has no vmap_area_root (its busy areas are in
        # the per-node trees of vmap_nodes[], mm/vmalloc.c since 6.9)
        root = prog["free_vmap_area_root"].rb_node
        va = drgn.container_of(root, "struct vmap_area", "rb_node")
        return {"va": int(va.value_()), "task": int(self.worker.value_())}

    @cached_property
    def commands(self) -> dict[str, str]:
        a = {k: f"{v:x}" for k, v in self.addr.items()}
        return {
            "tree -s": f"{TREE} -s vmap_area.va_start,va_end,vm free_vmap_area_root",
            "tree -s -x": f"{TREE} -x -s vmap_area.va_start free_vmap_area_root",
            "tree -S": f"{TREE} -S vmap_area.va_start free_vmap_area_root",
            "tree -p -s": f"{TREE} -p -s vmap_area.va_start free_vmap_area_root",
            "tree -s whole": f"{TREE} -s vmap_area free_vmap_area_root",
            "struct anonymous members":
                f"struct vmap_area.va_start,subtree_max_size,vm {a['va']}",
            "struct -c -2": f"struct -c -2 list_head {a['task']}",
            "struct -x -c -3": f"struct -x -c -3 list_head {a['task']}",
            "struct -c 2": f"struct -c 2 list_head {a['task']}",
            "struct -c -2 members": f"struct -c -2 list_head.prev {a['task']}",
        }


t = crash_session_fixture(TreeSession)


def _text(session: CrashSession, line: str) -> list[str]:
    return [ln.rstrip() for ln in session.text(line).rstrip("\n").split("\n")]


@pytest.mark.parametrize("key", ["tree -s", "tree -s -x", "tree -S", "tree -p -s",
                                 "tree -s whole", "struct anonymous members", "struct -c -2",
                                 "struct -x -c -3", "struct -c 2", "struct -c -2 members"])
def test_tree_and_struct_text_is_crash(t: TreeSession, key: str) -> None:
    theirs = [ln.rstrip() for ln in t.crash[key].rstrip("\n").split("\n")]
    ours = _text(t, t.commands[key])
    assert len(ours) == len(theirs) > 1 and ours == theirs


def test_negative_count_is_the_structures_before(t: TreeSession) -> None:
    """``-c -3`` and ``ADDR -3`` (a kmemx extension: crash takes a negative
    number there for an option) are the three structures ending at ADDR."""
    a = t.addr["task"]
    rows = t.json(f"struct -c -3 list_head {a:x}")
    assert [int(r["address"], 16) for r in rows] == [a - 32, a - 16, a]
    assert t.text(f"struct list_head {a:x} -3") == t.text(f"struct -c -3 list_head {a:x}")


def test_tree_members_json_keeps_rows(t: TreeSession) -> None:
    rows = t.json(t.commands["tree -p -s"])
    assert rows[0]["position"] == "root" and int(rows[0]["address"], 16) == t.addr["va"]
    assert set(rows[0]) == {"address", "va_start", "position"}
    rows = t.json(t.commands["tree -S"])
    assert int(rows[0]["address"], 16) == t.addr["va"] and isinstance(rows[0]["va_start"], int)


@pytest.mark.parametrize("key", ["tree -s whole", "tree -s"])
def test_tree_drgn_code(t: TreeSession, key: str) -> None:
    """``tree -s STRUCT --drgn``'s script prints the whole structures as the
    command does (crash's text); with members, the ``--json`` rows."""
    out = t.drgn_output(t.commands[key]).rstrip("\n").split("\n")
    if key == "tree -s whole":
        assert out == _text(t, t.commands[key])
        return
    rows = t.json(t.commands[key])
    assert out[0] == "ADDRESS\tVA_START\tVA_END\tVM" and len(out) == len(rows) + 1
    assert [int(x.split("\t")[0], 16) for x in out[1:]] == [int(r["address"], 16) for r in rows]
