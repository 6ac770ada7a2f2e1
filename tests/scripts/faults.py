"""Faults a script catches: bad addresses, NULL pointers, absent objects."""

import drgn
from drgn import FaultError, Object

for addr in (0, 0x10, 0xDEAD000000000000, 0xFFFFFFFFFFFFF000):
    try:
        prog.read(addr, 8)
        print(f"{addr:#x}: readable")
    except FaultError as e:
        print(f"{addr:#x}: FaultError {e.address:#x} {e}")

p = Object(prog, "struct task_struct *", 0)
try:
    p.comm.string_()
except FaultError as e:
    print("NULL task:", e)
bad = Object(prog, "struct list_head *", 0xFFFF888000000008)
try:
    print(bad.next)
except FaultError as e:
    print("bad list_head:", e)
try:
    prog["no_such_symbol_here"]
except KeyError as e:
    print("KeyError:", e)
try:
    prog.type("struct no_such_struct")
except LookupError as e:
    print("LookupError:", e)
print("jiffies readable:", prog["jiffies"].value_() > 0)
print(drgn.FaultError.__mro__[1].__name__)
