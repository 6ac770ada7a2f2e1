"""The kernel log: records, levels and the dmesg text."""

from drgn.helpers.linux.printk import get_dmesg, get_printk_records

records = get_printk_records(prog)
print("records:", len(records))
levels: dict[int, int] = {}
for r in records:
    levels[r.level] = levels.get(r.level, 0) + 1
print("levels:", sorted(levels.items()))
for r in records[:40]:
    print(f"[{r.timestamp // 1_000_000_000:5d}.{r.timestamp % 1_000_000_000 // 1000:06d}] "
          f"<{r.level}> {r.text.decode(errors='replace')}")
print("...")
dmesg = get_dmesg(prog)
print("dmesg bytes:", len(dmesg))
print(dmesg.decode(errors="replace").splitlines()[-5:])
