"""What a running command sees: the kernel, the registry, cancellation,
progress, and crash's *current context* (the task ``set`` selects).

The current context is per program (``prog.cache``), so it lasts for a
REPL session: ``set 97`` then ``bt`` shows PID 97's stack, as in crash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import drgn

from ..errors import fault
from .registry import REGISTRY, Registry

if TYPE_CHECKING:
    from ..kernel import Kernel

__all__ = ["CURRENT_TASK_KEY", "Context", "cpu_curr_task", "panic_task"]

#: ``prog.cache`` key of the current context's ``struct task_struct`` address
CURRENT_TASK_KEY = "kmemx.commands.context.current_task"


def panic_task(prog: drgn.Program) -> drgn.Object | None:
    """The task that called ``panic()`` (``struct task_struct *``), from
    drgn's ``prog.crashed_thread()`` (the CPU in ``panic_cpu``, the task
    its registers were saved from), or None: a dump taken without a panic
    (``panic_cpu`` is -1), or a live kernel.  crash's ``tt->panic_task``."""
    try:
        obj: drgn.Object = prog.crashed_thread().object
    except (LookupError, ValueError, drgn.FaultError):
        return None
    return obj.read_() if obj else None


def cpu_curr_task(prog: drgn.Program, cpu: int) -> drgn.Object:
    """``cpu_curr(cpu)``: ``per_cpu(runqueues, cpu).curr``, the ``struct
    task_struct *`` running on ``cpu`` (kernel/sched/sched.h).  Raises
    LookupError for a CPU that is not possible, FaultError when unreadable."""
    from drgn.helpers.linux.cpumask import for_each_possible_cpu
    from drgn.helpers.linux.percpu import per_cpu

    if cpu not in set(for_each_possible_cpu(prog)):
        raise LookupError(f"CPU {cpu} is not a possible CPU")
    curr: drgn.Object = per_cpu(prog["runqueues"], cpu).curr.read_()
    return curr


class Context:
    """Per-invocation state handed to commands.

    ``errors`` collects one-line problems a command survived (a bad object in
    a long walk); the output layer reports them after the result.
    """

    def __init__(self, k: Kernel, registry: Registry | None = None,
                 progress: Callable[[str, int, int], None] | None = None) -> None:
        self.k = k
        self.prog = k.prog
        self.registry = registry or REGISTRY
        self._progress = progress
        self.errors: list[str] = []
        #: the output will be JSON (``--json``): commands that print text
        #: (trees, struct dumps) yield rows instead
        self.as_json = False
        #: ``--drgn``: the command's drgn code is printed instead of its result
        self.drgn = False

    def progress(self, what: str, done: int, total: int = 0) -> None:
        """Report progress of a long walk (the REPL shows it; ^C stops it)."""
        if self._progress is not None:
            self._progress(what, done, total)

    def warn(self, message: str) -> None:
        """Record a problem the command survived; shown after its output."""
        if len(self.errors) < 1000:
            self.errors.append(message)

    def view(self, type: Any, address: int) -> Any:
        return self.k.view(type, address)

    # -- crash's current context ----------------------------------------------------------

    def default_task(self) -> drgn.Object:
        """The context crash starts in: the panic task (:func:`panic_task`),
        else the task running on CPU 0 (crash's choice for a dump taken
        without a panic, and for a live kernel).  ``struct task_struct *``."""
        try:
            task = panic_task(self.prog)
            return task if task is not None else cpu_curr_task(self.prog, 0)
        except drgn.FaultError as e:  # the run queues are not in the dump (cut or filtered)
            raise fault(e.address, "the default task (the panic task, else CPU 0's current "
                        f"task) cannot be read: {e.message}; name a task (PID or "
                        "address)") from None

    def current_task(self) -> drgn.Object:
        """The current context: ``struct task_struct *`` of the task ``set``
        last selected in this program, else :meth:`default_task`.  Commands
        that take a task and were given none (``bt``, ``task``, ``files``,
        ``vm``) work on it.  Raises FaultError when the run queues are
        unreadable."""
        addr: int | None = self.prog.cache.get(CURRENT_TASK_KEY)
        if addr is None:
            return self.default_task()
        return drgn.Object(self.prog, "struct task_struct *", value=addr)

    def set_current_task(self, task: drgn.Object | int | None) -> None:
        """Make ``task`` (``struct task_struct *`` or its address) the current
        context, as crash's ``set``; None goes back to :meth:`default_task`."""
        if task is None:
            self.prog.cache.pop(CURRENT_TASK_KEY, None)
        else:
            self.prog.cache[CURRENT_TASK_KEY] = int(
                task.value_() if isinstance(task, drgn.Object) else task)

    def current_cpu(self) -> int:
        """``task_cpu()`` of :meth:`current_task`."""
        from drgn.helpers.linux.sched import task_cpu

        return int(task_cpu(self.current_task()))
