"""Stack traces (run it on the panic dump): the crashed thread, frames and locals."""

import drgn
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.sched import task_state_to_char

thread = prog.crashed_thread()
print("crashed thread:", thread.tid, thread.object.comm.string_().decode())
trace = prog.stack_trace(thread.object)
print(trace)
for frame in trace:
    if frame.name in ("panic", "__handle_sysrq", "vfs_write"):
        names = sorted(frame.locals())
        print(f"{frame.name}: pc={frame.pc:#x} locals={names}")
        for name in names[:3]:
            try:
                print(f"  {name} = {frame[name].format_(type_name=False)}")
            except (drgn.FaultError, drgn.ObjectAbsentError) as e:
                print(f"  {name}: {e}")
counts: dict[str, int] = {}
for task in for_each_task(prog):
    st = task_state_to_char(task)
    if st == "D" or task.pid.value_() in (1, 2):
        try:
            t = prog.stack_trace(task)
        except ValueError as e:
            print(task.pid.value_(), "no trace:", e)
            continue
        print(f"pid {task.pid.value_()} ({st}):", " <- ".join(f.name or hex(f.pc) for f in t))
    counts[st] = counts.get(st, 0) + 1
print("states:", sorted(counts.items()))
