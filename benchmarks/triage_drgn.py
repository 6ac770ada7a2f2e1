# A drgn script printing, for one dump, the fields of a kmemx triage record:
# what a team without kmemx runs per dump (drgn -q -c VMCORE -s VMLINUX THIS).
# Used by benchmarks/bench_triage.py; drgn provides ``prog``.
# ruff: noqa: F821
import json
import re

from drgn import FaultError
from drgn.helpers.linux.mm import totalram_pages
from drgn.helpers.linux.panic import panic_message
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.printk import get_printk_records
from drgn.helpers.linux.sched import task_state_to_char
from drgn.helpers.linux.slab import for_each_slab_cache, slab_cache_usage
from drgn.helpers.linux.vmstat import global_node_page_state, global_zone_page_state, nr_free_pages

OOPS = re.compile(r"^(Oops|BUG:|kernel BUG at|general protection fault|WARNING: CPU:)")
OOM = re.compile(r"invoked oom-killer|^Out of memory|^oom-kill:|^Killed process \d+")
LOCKUP = re.compile(r"soft lockup - CPU#|[Hh]ard LOCKUP|self-detected stall|"
                    r"blocked for more than \d+ seconds")

rec = {}
vmci = dict(line.split("=", 1) for line in prog["VMCOREINFO"].string_().decode().splitlines()
            if "=" in line)
rec["release"] = vmci.get("OSRELEASE")
rec["build_id"] = vmci.get("BUILD-ID")
msg = panic_message(prog)
rec["panic"] = msg.decode() if isinstance(msg, bytes) else msg
rec["taint"] = int(prog["tainted_mask"])
hz = round(1e9 / int(prog["tick_nsec"]))
rec["uptime"] = (int(prog["jiffies_64"]) - (-300 * hz & 0xFFFFFFFF)) // hz
states = {}
hung = []
for t in for_each_task(prog):
    st = task_state_to_char(t)
    states[st] = states.get(st, 0) + 1
    if st == "D":
        hung.append(int(t.pid))
rec["states"], rec["hung"] = states, hung
lines = {"oops": [], "oom": [], "lockups": []}
for r in get_printk_records(prog):
    text = r.text.decode(errors="replace")
    for key, pat in (("oops", OOPS), ("oom", OOM), ("lockups", LOCKUP)):
        if pat.search(text):
            lines[key].append(text)
rec.update(lines)
rec["memory"] = {
    "total": int(totalram_pages(prog)),
    "free": int(nr_free_pages(prog)),
    "slab": int(global_node_page_state(prog["NR_SLAB_RECLAIMABLE_B"])
                + global_node_page_state(prog["NR_SLAB_UNRECLAIMABLE_B"])),
    "buffers": 0,
    "cached": int(global_node_page_state(prog["NR_FILE_PAGES"])),
    "mlocked": int(global_zone_page_state(prog["NR_MLOCK"])),
}
slabs = []
for s in for_each_slab_cache(prog):
    u = slab_cache_usage(s)
    order = int(s.oo.x) >> 16
    slabs.append((u.num_slabs * (4096 << order), s.name.string_().decode(), u.active_objs,
                  u.num_objs))
slabs.sort(key=lambda x: (-x[0], x[1]))
rec["slabs"] = slabs[:5]
try:
    thread = prog.crashed_thread()
    rec["pid"] = thread.tid
    rec["cpu"] = int(prog["panic_cpu"].counter)
    rec["stack"] = [f.name for f in thread.stack_trace() if f.pc >= 1 << 63]
except (LookupError, ValueError, FaultError):
    rec["pid"] = None
print(json.dumps(rec))
