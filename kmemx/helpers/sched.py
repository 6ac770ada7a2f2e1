"""Tasks: processes and threads, over views."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .._accel import speedups as _speedups
from ..kernel import Kernel
from ..types.view import View
from ._common import MAX_ENTRIES
from .list import _entries, _walk_batches, list_for_each_entry

__all__ = [
    "STACK_END_MAGIC",
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


def for_each_task(k: Kernel) -> Iterator[View]:
    """Every thread of every process (``for_each_process_thread()``).

    Processes are taken a batch at a time from ``init_task.tasks``, and each
    step into their thread lists is one gather over the batch: the reads of
    different processes are independent, so their cache misses overlap."""
    init = k.object("init_task")
    cls = init.value_class
    off = k.offsetof("struct task_struct", "tasks")
    pages = k._pages
    read_u64 = k.read_u64
    gather = _speedups.gather_u64 if _speedups is not None else None
    batches = _walk_batches(k, init._a + off, None, 0, False, MAX_ENTRIES)

    def step(addrs: list[Any], delta: int) -> list[Any]:
        if gather is not None:
            got: list[Any] = gather(pages, addrs, delta)
            return got
        return [None] * len(addrs)

    if _thread_head(k, init):
        # signal->thread_head lists every thread, the leader included.
        sig = k.offsetof("struct task_struct", "signal") - off
        head_off = k.offsetof("struct signal_struct", "thread_head")
        node_off = k.offsetof("struct task_struct", "thread_node")
        for nodes in batches:
            sigs = step(nodes, sig)
            heads = [None if x is None else x + head_off for x in sigs]
            firsts = step(heads, 0)
            seconds = step(firsts, 0)
            for i, node in enumerate(nodes):
                # a None is a read off the fast path: done here, in order, so
                # a fault is raised after the processes before it
                head = heads[i]
                if head is None:
                    head = read_u64(node + sig) + head_off
                nxt = firsts[i]
                if nxt is None:
                    nxt = read_u64(head)
                again = seconds[i]
                if again is None:
                    again = read_u64(nxt)
                if again == head:  # one thread: the list holds just it
                    yield cls(k, nxt - node_off)
                else:
                    yield from _entries(k, cls, node_off, _walk_batches(
                        k, head, nxt, 0, False, MAX_ENTRIES))
        return
    group = k.offsetof("struct task_struct", "thread_group")
    for nodes in batches:
        nexts = step(nodes, group - off)
        for i, node in enumerate(nodes):
            p = node - off
            yield cls(k, p)
            head = p + group
            nxt = nexts[i]
            if nxt is None:
                nxt = read_u64(head)
            if nxt != head:  # more threads than the leader
                yield from _entries(k, cls, group, _walk_batches(k, head, nxt, 0, False,
                                                                 MAX_ENTRIES))


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
