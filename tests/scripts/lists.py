"""Linked lists: modules, super blocks, mounts, a task's children and an hlist."""

from drgn import container_of
from drgn.helpers.linux.fs import d_path, for_each_mount, mount_dst, mount_fstype, mount_src
from drgn.helpers.linux.list import (
    hlist_for_each_entry,
    list_count_nodes,
    list_empty,
    list_for_each_entry,
)


def core_size(mod):
    try:
        return mod.core_layout.size.value_()
    except AttributeError:  # 6.4 replaced core_layout with mem[MOD_TEXT, ...]
        return mod.mem[0].size.value_()


print("modules:")
for mod in list_for_each_entry("struct module", prog["modules"].address_of_(), "list"):
    print(f"  {mod.name.string_().decode():<20} core size {core_size(mod)}")

print("super blocks:")
for sb in list_for_each_entry("struct super_block", prog["super_blocks"].address_of_(),
                              "s_list"):
    print(f"  {sb.s_id.string_().decode():<12} {sb.s_type.name.string_().decode():<12}"
          f" blocksize {sb.s_blocksize.value_()} dev {sb.s_dev.value_():#x}")

print("mounts:")
for mnt in for_each_mount(prog):
    print(f"  {mount_src(mnt).decode():<10} {mount_dst(mnt).decode():<20}"
          f" {mount_fstype(mnt).decode()}")

init = prog["init_task"]
kids = list(list_for_each_entry("struct task_struct", init.children.address_of_(), "sibling"))
print("children of swapper:", [t.comm.string_().decode() for t in kids])
print("tasks list length:", list_count_nodes(init.tasks.address_of_()))
print("empty children of pid 2's first child:",
      list_empty(kids[1].children.address_of_()) if len(kids) > 1 else None)

# An hlist: the files of the root dentry's inode aliases (i_dentry is an hlist).
root = prog["init_task"].fs.root
inode = root.dentry.d_inode
# 7.x made dentry's d_u union anonymous: d_alias is a direct member there
alias = "d_alias" if prog.type("struct dentry").has_member("d_alias") else "d_u.d_alias"
names = [d_path(root.mnt, d).decode()
         for d in hlist_for_each_entry("struct dentry", inode.i_dentry.address_of_(), alias)]
print("root dentry aliases:", names)
print("container_of:", container_of(init.tasks.address_of_(), "struct task_struct",
                                    "tasks").comm.string_().decode())
