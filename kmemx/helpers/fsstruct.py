"""A task's filesystem context (``struct fs_struct``): its root and working
directory, as crash's ``files`` prints them (``ROOT: /    CWD: /``)."""

from __future__ import annotations

import drgn

__all__ = ["task_root_cwd"]


def _path_text(path: drgn.Object) -> str:
    """d_path() of a ``struct path`` (by value) as text; ``""`` for a path
    without a dentry."""
    from drgn.helpers.linux.fs import d_path

    if not path.dentry:
        return ""
    return d_path(path.address_of_()).decode("utf-8", "surrogateescape")


def task_root_cwd(task: drgn.Object) -> tuple[str, str]:
    """The root and current working directory of ``task`` (``struct
    task_struct *``): d_path() of ``task->fs->root`` and ``task->fs->pwd``
    (include/linux/fs_struct.h; both ``struct path`` since 2.6.26,
    6ac08c39a166 "Use struct path in fs_struct"), as crash's
    open_files_dump() (filesys.c) prints them.  ``("", "")`` for a task
    without an ``fs_struct`` (an exiting task).  Raises drgn.FaultError if
    the fs_struct or a dentry on the way cannot be read."""
    fs = task.fs.read_()
    if not fs:
        return "", ""
    return _path_text(fs.root), _path_text(fs.pwd)
