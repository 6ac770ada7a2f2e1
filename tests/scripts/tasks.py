"""Tasks: every task's pid, parent, state, CPU and name; threads per process."""

from collections import Counter

from drgn.helpers.linux.cpumask import for_each_online_cpu
from drgn.helpers.linux.pid import find_task, for_each_task
from drgn.helpers.linux.sched import cpu_curr, task_cpu, task_state_to_char

rows = []
threads: Counter[int] = Counter()
for task in for_each_task(prog):
    pid = task.pid.value_()
    tgid = task.tgid.value_()
    threads[tgid] += 1
    rows.append((pid, task.real_parent.pid.value_(), task_state_to_char(task), task_cpu(task),
                 task.comm.string_().decode()))
rows.sort()
print(f"{'PID':>6} {'PPID':>6} ST CPU COMM")
for pid, ppid, st, cpu, comm in rows:
    print(f"{pid:>6} {ppid:>6} {st:>2} {cpu:>3} {comm}")
print("tasks:", len(rows))
print("multi-threaded:", sorted((tgid, n) for tgid, n in threads.items() if n > 1))
print("states:", sorted(Counter(r[2] for r in rows).items()))
for cpu in for_each_online_cpu(prog):
    curr = cpu_curr(prog, cpu)
    print(f"cpu {cpu}: running pid {curr.pid.value_()} {curr.comm.string_().decode()}")
init = find_task(prog, 1)
print("init:", init.comm.string_().decode(), hex(init.value_()) != "0x0", init.mm.mm_users.counter.value_())
