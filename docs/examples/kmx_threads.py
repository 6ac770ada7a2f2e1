"""An example kmemx plugin: copy this file to start a new command.

Load it with ``KMEMX_PLUGINS=path/to/kmx_threads.py kmemx ...`` or ship it in a
package that declares an entry point in the ``kmemx.plugins`` group.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from typing import Any

from kmemx.commands import Address, Context, Name, Row, arg, command
from kmemx.helpers.sched import for_each_process, for_each_thread

COLUMNS = ("TGID", "THREADS", "TASK", "COMM")


def _enabled(prog: Any) -> bool:
    """The command needs task_struct: check the capability, not a version."""
    try:
        prog.type("struct task_struct")
        return True
    except LookupError:
        return False


@command("threads", "processes with their thread counts",
         description="""
         threads            every process
         threads --min 2    only multi-threaded ones
         """,
         arguments=[arg("--min", type=int, default=1, help="minimum number of threads")],
         columns=COLUMNS, enabled=_enabled)
def threads(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    for p in for_each_process(ctx.k):
        n = sum(1 for _ in for_each_thread(p))
        if n >= args.min:
            yield Row(COLUMNS, (p.tgid, n, Address(p.address),
                                Name(p.comm.string().decode())), p)
