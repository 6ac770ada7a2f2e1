"""Tasks: processes and threads, over views."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from drgn import FaultError

from .._accel import speedups as _speedups
from ..errors import KmemxError
from ..kernel import Kernel
from ..types.view import View
from ._common import MAX_ENTRIES
from .list import _walk_batches, list_for_each_entry

__all__ = [
    "STACK_END_MAGIC",
    "TaskListBreak",
    "TaskWalkDamage",
    "end_of_stack",
    "for_each_process",
    "for_each_task",
    "for_each_thread",
    "state_to_char",
    "task_stack_end_corrupted",
    "task_state_member",
    "task_state_to_char",
]

#: include/uapi/linux/magic.h: the word at the far end of every task's stack
STACK_END_MAGIC = 0x57AC6E9D


def for_each_process(k: Kernel) -> Iterator[View]:
    """Thread-group leaders (``for_each_process()``): like the kernel macro,
    this starts after ``init_task``, so the idle tasks are not included."""
    return list_for_each_entry("struct task_struct", k.object("init_task").tasks, "tasks")


def _thread_head(k: Kernel, task: View) -> bool:
    """Whether threads are linked through ``signal->thread_head`` (added in
    3.14 by 0c740d0afc3b, "introduce for_each_thread() to replace the buggy
    while_each_thread()"; the only list since 6.7's 8e1f385104ac, "kill
    task_struct->thread_group") rather than ``task->thread_group``."""
    new: bool | None = k.prog.cache.get("kmemx.helpers.sched.thread_head")
    if new is None:
        new = k.prog.cache["kmemx.helpers.sched.thread_head"] = hasattr(task.signal,
                                                                        "thread_head")
    return new


def for_each_thread(task: View) -> Iterator[View]:
    """Threads of the process of ``task`` (``struct task_struct *``)."""
    k: Kernel = task._k
    if _thread_head(k, task):
        yield from list_for_each_entry("struct task_struct", task.signal.thread_head,
                                       "thread_node")
        return
    leader = task.group_leader
    yield leader
    head = leader.thread_group
    if k.read_u64(head._a) != head._a:  # most processes have one thread
        yield from list_for_each_entry("struct task_struct", head, "thread_group")


def _task_walk_layout(k: Kernel) -> tuple[Any, ...]:
    """What :func:`_walk_tasks` needs of the layouts, once per program:
    (init_task's view class and address, the offsets to prefetch in each
    task, the offset of ``tasks``, then of ``signal``,
    ``signal_struct.thread_head`` and ``thread_node``, or of ``thread_group``
    alone before 3.14)."""
    key = "kmemx.helpers.sched.walk_layout"
    got: tuple[Any, ...] | None = k.prog.cache.get(key)
    if got is None:
        init = k.object("init_task")
        off = k.offsetof("struct task_struct", "tasks")
        # what nearly every user of a task reads: who it is and its mm
        hot = tuple(k.offsetof("struct task_struct", m)
                    for m in ("pid", "real_parent", "comm", "mm"))
        if _thread_head(k, init):
            got = (init.value_class, init._a, hot, off,
                   k.offsetof("struct task_struct", "signal"),
                   k.offsetof("struct signal_struct", "thread_head"),
                   k.offsetof("struct task_struct", "thread_node"))
        else:
            got = (init.value_class, init._a, hot, off,
                   k.offsetof("struct task_struct", "thread_group"))
        k.prog.cache[key] = got
    return got


def _threads(k: Kernel, head: int, first: int, walk: Any) -> list[int]:
    """The nodes of the thread list at ``head`` from ``first``: one C walk
    when every link is on the fast path (a walk that gets back to the head
    met no node twice), else the careful batched walk."""
    if walk is not None:
        got: list[int] = []
        if walk(k._pages, first, head, 0, MAX_ENTRIES, got) == head:
            return got
    out: list[int] = []
    for b in _walk_batches(k, head, first, 0, False, MAX_ENTRIES):
        out += b
    return out


def _walk_tasks(k: Kernel) -> Iterator[list[View]]:
    """Every thread of every process (``for_each_process_thread()``), the fast
    way, in lists; raises on the first bad link (see :func:`for_each_task`),
    after a list of the tasks found before it.

    Processes are taken a batch at a time from ``init_task.tasks``, and each
    step into their thread lists is one gather over the batch: the reads of
    different processes are independent, so their cache misses overlap.  The
    views of a batch are made in one call."""
    lay = _task_walk_layout(k)
    cls, init, hot, off = lay[:4]
    pages = k._pages
    read_u64 = k.read_u64
    gather = _speedups.gather_u64 if _speedups is not None else None
    walk = _speedups.walk_links if _speedups is not None else None
    make_views = (_speedups.make_views if _speedups is not None else
                  lambda cls, k, nodes, delta, hot: [cls(k, x - delta) for x in nodes])
    batches = _walk_batches(k, init + off, None, 0, False, MAX_ENTRIES)

    def step(addrs: list[Any], delta: int) -> list[Any]:
        if gather is not None:
            got: list[Any] = gather(pages, addrs, delta)
            return got
        return [None] * len(addrs)

    if len(lay) == 7:
        # signal->thread_head lists every thread, the leader included.
        sig = lay[4] - off
        head_off, node_off = lay[5], lay[6]
        threads = _speedups.thread_nodes if _speedups is not None else None
        for nodes in batches:
            # the batch's thread lists in one C call when every read is cached
            # and every list gets back to its head; else step by step below
            found = None if threads is None else threads(pages, nodes, sig, head_off,
                                                         MAX_ENTRIES)
            if found is not None:
                yield make_views(cls, k, found, node_off, hot)
                continue
            sigs = step(nodes, sig)
            heads = [None if x is None else x + head_off for x in sigs]
            firsts = step(heads, 0)
            seconds = step(firsts, 0)
            out: list[int] = []  # thread_node addresses
            append = out.append
            try:
                for node, head, nxt, again in zip(nodes, heads, firsts, seconds):
                    if again is not None and again == head:  # one thread: the list holds it
                        append(nxt)
                        continue
                    # a None is a read off the fast path: done here, in order, so
                    # a fault is raised after the processes before it
                    if head is None:
                        head = read_u64(node + sig) + head_off
                    if nxt is None:
                        nxt = read_u64(head)
                    if again is None:
                        again = read_u64(nxt)
                    if again == head:
                        append(nxt)
                    else:
                        out += _threads(k, head, nxt, walk)
            except BaseException:
                yield make_views(cls, k, out, node_off, hot)
                raise
            yield make_views(cls, k, out, node_off, hot)
        return
    group = lay[4]
    for nodes in batches:
        nexts = step(nodes, group - off)
        tasks: list[int] = []
        try:
            for node, nxt in zip(nodes, nexts):
                p = node - off
                tasks.append(p)
                head = p + group
                if nxt is None:
                    nxt = read_u64(head)
                if nxt != head:  # more threads than the leader
                    tasks += [x - group for x in _threads(k, head, nxt, walk)]
        except BaseException:
            yield make_views(cls, k, tasks, 0, hot)
            raise
        yield make_views(cls, k, tasks, 0, hot)


@dataclass
class TaskListBreak:
    """One bad link met by :func:`for_each_task`: the pointer at ``address``
    (the ``member`` of the task at ``task``) holds ``value``, which is not the
    next entry of the list ``list``."""

    list: str
    task: int
    pid: int | None
    member: str
    address: int
    value: int
    why: str

    def __str__(self) -> str:
        pid = "" if self.pid is None else f" (PID {self.pid})"
        return (f"{self.list}: task {self.task:x}{pid} {self.member} at {self.address:x} "
                f"is {self.value:#x}: {self.why}")


@dataclass
class TaskWalkDamage:
    """What :func:`for_each_task` met on a damaged task list: the bad links,
    the tasks reached by following the lists from ``init_task`` (``walked``),
    and those found another way: backwards through the ``prev`` links of
    ``init_task.tasks`` (``by_prev``) and in the PID IDR (``by_pid``)."""

    breaks: list[TaskListBreak] = field(default_factory=list)
    walked: int = 0
    by_prev: int = 0
    by_pid: int = 0
    #: why the PID IDR could not be read, if it could not
    pid_error: str = ""

    def __bool__(self) -> bool:
        return bool(self.breaks)

    def summary(self) -> str:
        """One line: every bad link and how many tasks were found which way."""
        links = "; ".join(str(b) for b in self.breaks)
        how = f"{self.by_prev} through the prev links, {self.by_pid} from the PID IDR"
        idr = f" (PID IDR unreadable: {self.pid_error})" if self.pid_error else ""
        return (f"task list broken: {links}; {self.walked} tasks walked, "
                f"{self.by_prev + self.by_pid} recovered ({how}){idr}")


def _bad_next(k: Kernel, node: int, nxt: int, seen: set[int], back_off: int) -> str:
    """Why ``nxt``, read from the link at ``node``, is not the next node of a
    sane list ("" if it is): already visited (a cycle), unreadable, or its
    link back (at ``nxt + back_off``) does not point to ``node``
    (``__list_add_valid()``'s check, lib/list_debug.c; skipped on a live
    kernel, whose lists change under the walk)."""
    if nxt in seen:
        return "points back into the list (a cycle)"
    try:
        back = k.read_u64(nxt + back_off)
    except (FaultError, ValueError, OverflowError) as e:
        return f"not a readable list node ({e})"
    if back != node and not getattr(k, "is_live", False):
        return f"its link back is {back:#x}, not {node:#x}"
    return ""


def _pid_of(k: Kernel, task: int) -> int | None:
    try:
        pid = k.read_u32(task + k.offsetof("struct task_struct", "pid"))
        return pid - (pid >> 31 << 32)  # pid_t
    except (FaultError, ValueError, OverflowError):
        return None


def _careful_list(k: Kernel, head: int, off: int, member: str, name: str,
                  breaks: list[TaskListBreak], back: bool = False,
                  stop: set[int] | None = None) -> list[int]:
    """Tasks (addresses) linked through the ``list_head`` at ``off`` in them,
    from ``head`` (``next`` links, or ``prev`` ones when ``back``), one
    checked step at a time; the first bad link is added to ``breaks`` and
    ends the walk.  Meeting a node of ``stop`` ends it quietly."""
    link, back_off = (8, 0) if back else (0, 8)
    seen = {head}
    out: list[int] = []
    node = head
    for _ in range(MAX_ENTRIES):
        a = node + link
        try:
            nxt = k.read_u64(a)
        except (FaultError, ValueError, OverflowError):
            return out  # only the head can be unreadable here: nothing to name
        if nxt == head or (stop is not None and nxt in stop):
            return out
        why = _bad_next(k, node, nxt, seen, back_off)
        if why:
            task = node - off
            breaks.append(TaskListBreak(name, task, _pid_of(k, task),
                                        f"{member}.{'prev' if back else 'next'}", a, nxt, why))
            return out
        seen.add(nxt)
        out.append(nxt - off)
        node = nxt
    return out


def _careful_threads(k: Kernel, proc: int, breaks: list[TaskListBreak]) -> list[int]:
    """The threads of the process whose leader is at ``proc``, as
    :func:`_walk_tasks` takes them, one checked link at a time."""
    name = f"threads of {proc:x}"
    try:
        head_off = k.offsetof("struct signal_struct", "thread_head")
    except LookupError:  # before 3.14's 0c740d0afc3b: task->thread_group only
        off = k.offsetof("struct task_struct", "thread_group")
        return [proc, *_careful_list(k, proc + off, off, "thread_group", name, breaks)]
    a = proc + k.offsetof("struct task_struct", "signal")
    sig = k.read_u64(a)
    head = sig + head_off
    try:
        k.read_u64(head)
    except (FaultError, ValueError, OverflowError) as e:
        breaks.append(TaskListBreak(name, proc, _pid_of(k, proc), "signal", a, sig, str(e)))
        return [proc]
    off = k.offsetof("struct task_struct", "thread_node")
    got = _careful_list(k, head, off, "thread_node", f"threads of {proc:x}", breaks)
    return got if proc in got else [proc, *got]


def _tasks_by_pid(k: Kernel) -> list[tuple[int, int, int, int]]:
    """(task, its group leader, leader's start_time, task's start_time) of
    every task with a PID (``pid_task(pid, PIDTYPE_PID)`` over
    ``for_each_pid()``: the PID IDR since 4.15's 95846ecf9dac, "pid: replace
    pid bitmap implementation with IDR API", the pid hash before, as drgn
    reads them)."""
    from drgn.helpers.linux.pid import for_each_pid, pid_task

    prog = k.prog
    ptype = prog["PIDTYPE_PID"]
    out = []
    for pid in for_each_pid(prog):
        try:
            t = pid_task(pid, ptype)
            if not t:
                continue
            leader = t.group_leader
            out.append((int(t.value_()), int(leader.value_()), int(leader.start_time),
                        int(t.start_time)))
        except FaultError:  # one bad pid or task: the others still count
            continue
    return out


def _recovered_order(k: Kernel, damage: TaskWalkDamage) -> list[int]:
    """Every task, in the order the undamaged lists would give: the processes
    reached from ``init_task.tasks``'s head forwards, then those found
    nowhere but in the PID IDR (by the start time of their leader, a fork
    order), then those reached backwards from the head; each process with
    its threads, and threads found only by PID after them."""
    init = k.object("init_task")._a
    off = k.offsetof("struct task_struct", "tasks")
    head = init + off
    breaks = damage.breaks
    fwd = _careful_list(k, head, off, "tasks", "init_task.tasks", breaks)
    bwd: list[int] = []
    if breaks:
        bwd = _careful_list(k, head, off, "tasks", "init_task.tasks (backwards)", breaks,
                            back=True, stop={p + off for p in fwd})[::-1]
    groups: dict[int, list[int]] = {}
    for p in fwd + bwd:
        groups[p] = _careful_threads(k, p, breaks)
    listed = {t for ts in groups.values() for t in ts}
    damage.walked = sum(len(groups[p]) for p in fwd)
    damage.by_prev = len(listed) - damage.walked
    middle: dict[int, list[int]] = {}
    if breaks:
        try:
            found = _tasks_by_pid(k)
        except (FaultError, LookupError, ValueError, OverflowError) as e:
            damage.pid_error = str(e)
            found = []
        found.sort(key=lambda x: (x[2], x[1], x[0] != x[1], x[3], x[0]))
        for t, leader, _, _ in found:
            if t in listed or t == init:
                continue
            listed.add(t)
            damage.by_pid += 1
            (groups.get(leader) or middle.setdefault(leader, [])).append(t)
    order = [t for p in fwd for t in groups[p]]
    order += [t for ts in middle.values() for t in ts]
    order += [t for p in bwd for t in groups[p]]
    return order


#: prog.cache key of a dump's clean task walk (:func:`for_each_task`)
_TASK_TABLE = "kmemx.helpers.sched.task_table"


def for_each_task(k: Kernel, damage: TaskWalkDamage | None = None) -> Iterator[View]:
    """Every thread of every process (``for_each_process_thread()``), as views
    of ``struct task_struct``; the idle tasks are not included.

    A damaged list does not hide tasks: when a link of ``init_task.tasks`` or
    of a thread list is bad (unmapped, a cycle, a node whose link back does
    not match), the tasks not yet reached are taken backwards from the
    head through the ``prev`` links, then from the PID IDR and each thread
    group, as crash builds its task table (crash's task.c,
    refresh_xarray_task_table()); none twice.  The bad links and the counts
    go into ``damage`` when given (it is false when the lists were sane).

    On a dump, whose memory never changes, a walk that went through its
    lists without a bad link is kept: the next walk gives the same views
    from it without reading (crash's task table, which task.c's
    ``refresh_xarray_task_table()`` builds once for a dump file).  A live
    kernel is walked every time.

    :raises drgn.FaultError: ``init_task`` itself cannot be read."""
    table: tuple[View, ...] | None = k.prog.cache.get(_TASK_TABLE)
    if table is not None and not getattr(k, "is_live", False):
        return iter(table)
    return _for_each_task(k, damage)


def _for_each_task(k: Kernel, damage: TaskWalkDamage | None) -> Iterator[View]:
    """:func:`for_each_task`'s walk, kept as the task table on a dump."""
    live = getattr(k, "is_live", False)
    # each task is held back until the walk gets past it: a walk that fails
    # on a bad link has just taken the node it points to as a task
    done: list[list[View]] = []  # every task but the last is yielded
    last: View | None = None
    try:
        for views in _walk_tasks(k):
            if not views:
                continue
            if last is not None:
                yield last
            done.append(views)
            last = views[-1]
            if len(views) > 1:
                yield from views[:-1]
        if not live:
            k.prog.cache[_TASK_TABLE] = tuple(t for views in done for t in views)
        if last is not None:
            yield last
        return
    except (FaultError, KmemxError, ValueError, OverflowError) as e:
        error = e
    key = "kmemx.helpers.sched.recovered_tasks"
    hit: tuple[list[int], TaskWalkDamage] | None = k.prog.cache.get(key)
    if hit is None or getattr(k, "is_live", False):
        found = TaskWalkDamage()
        hit = (_recovered_order(k, found), found)
        if not getattr(k, "is_live", False):
            k.prog.cache[key] = hit
    order, found = hit
    if damage is not None:
        damage.breaks[:] = found.breaks
        damage.walked, damage.by_prev = found.walked, found.by_prev
        damage.by_pid, damage.pid_error = found.by_pid, found.pid_error
    if not found.breaks:  # the fast walk failed where the careful one did not
        raise error
    cls = k.object("init_task").value_class
    skip = {t._a for views in done[:-1] for t in views}
    if done:
        skip.update(t._a for t in done[-1][:-1])
    for a in order:
        if a not in skip:
            yield cls(k, a)


_STATE_CHARS = "RSDTtXZPI"


def state_to_char(state: int, exit_state: int) -> str:
    """``task_state_to_char()`` from the raw ``__state`` and ``exit_state``."""
    if state == 0x402:  # TASK_IDLE = TASK_UNINTERRUPTIBLE | TASK_NOLOAD
        return "I"
    # TASK_REPORT: the low 7 bits of state | exit_state
    report = (state | exit_state) & 0x7F
    if not report:
        return "R"
    return _STATE_CHARS[min(report.bit_length(), len(_STATE_CHARS) - 1)]


def task_state_member(k: Kernel) -> str:
    """``__state``, renamed from ``state`` in 5.14 by 2f064a59a11f ("sched:
    Change task_struct::state")."""
    name: str | None = k.prog.cache.get("kmemx.helpers.sched.state_member")
    if name is None:
        from ..types.layout import layout_for, resolve_type

        members = layout_for(k.prog, resolve_type(k.prog, "struct task_struct")).members
        name = "__state" if "__state" in members else "state"
        k.prog.cache["kmemx.helpers.sched.state_member"] = name
    return name


def task_state_to_char(task: Any) -> str:
    """``task_state_to_char()``: the one-letter state of ``struct task_struct *``,
    as /proc and ps show it."""
    state = task.member(task_state_member(task._k))
    return state_to_char(state, task.exit_state)


def end_of_stack(task: View) -> int:
    """``end_of_stack(task)`` (include/linux/sched/task_stack.h): the address
    of the last word a growing stack can reach, ``task->stack`` itself with
    CONFIG_THREAD_INFO_IN_TASK (x86-64 since 4.9, arm64 since 4.10; every
    kernel kmemx reads), where set_task_stack_end_magic() writes
    :data:`STACK_END_MAGIC`.

    :param task: ``struct task_struct``
    """
    return int(task.stack)


def task_stack_end_corrupted(task: View) -> bool:
    """``task_stack_end_corrupted(task)``: whether the word at
    :func:`end_of_stack` is not :data:`STACK_END_MAGIC` (the stack ran over its
    end, or something wrote there).

    :param task: ``struct task_struct``
    :raises drgn.FaultError: the stack end cannot be read.
    """
    return task.k.read_u64(end_of_stack(task)) != STACK_END_MAGIC
