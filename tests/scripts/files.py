"""Open files of a few processes, their paths and the memory they map."""

from drgn.helpers.linux.fs import d_path, for_each_file
from drgn.helpers.linux.mm import for_each_vma
from drgn.helpers.linux.pid import for_each_task

shown = 0
for task in for_each_task(prog):
    if not task.mm:
        continue
    comm = task.comm.string_().decode()
    files = [(fd, d_path(f.f_path).decode()) for fd, f in for_each_file(task)]
    vmas = list(for_each_vma(task.mm))
    print(f"pid {task.pid.value_()} {comm}: {len(files)} files, {len(vmas)} vmas")
    for fd, path in files[:6]:
        print(f"  fd {fd}: {path}")
    for vma in vmas[:4]:
        name = d_path(vma.vm_file.f_path).decode() if vma.vm_file else "[anon]"
        print(f"  {vma.vm_start.value_():#x}-{vma.vm_end.value_():#x} {name}")
    shown += 1
    if shown >= 8:
        break
