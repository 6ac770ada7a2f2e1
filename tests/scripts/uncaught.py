"""An uncaught exception: stdout so far, then a traceback and exit status 1."""

print("before the fault:", prog["init_task"].comm.string_().decode())
print("reading an unmapped address...")
prog.read(0xDEAD000000000000, 8)
print("not reached")
