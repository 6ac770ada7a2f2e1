"""Slab caches: names and sizes, where some kernel objects live, one cache's objects."""

from drgn import cast
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.slab import (
    find_slab_cache,
    for_each_slab_cache,
    slab_cache_for_each_allocated_object,
    slab_object_info,
)

caches = []
for cache in for_each_slab_cache(prog):
    caches.append((cache.name.string_().decode(), cache.object_size.value_(),
                   cache.size.value_()))
caches.sort()
print("caches:", len(caches))
for name, osize, size in caches:
    print(f"  {name:<28} {osize:>7} {size:>7}")

tc = find_slab_cache(prog, "task_struct")
print("task_struct cache:", tc.name.string_().decode(), tc.object_size.value_())
for i, task in enumerate(for_each_task(prog)):
    if i % 50 == 0:
        info = slab_object_info(task)
        where = info.slab_cache.name.string_().decode() if info else None
        print(f"  pid {task.pid.value_():>5}: slab {where}, allocated {info.allocated if info else None}")

cache = find_slab_cache(prog, "files_cache")
objs = list(slab_cache_for_each_allocated_object(cache, "struct files_struct"))
print("files_cache objects:", len(objs))
print("max fds:", sorted({o.fdt.max_fds.value_() for o in objs}))
print("cast:", cast("unsigned long", tc.object_size).value_())
