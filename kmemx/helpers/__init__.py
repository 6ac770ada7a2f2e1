"""Walkers over kmemx views: pure generators named after the kernel macros.

They never print.  Each detects cycles, bounds its length, and on a corrupt
pointer yields what it could and then raises :class:`drgn.FaultError` with
the bad address (or :class:`~kmemx.helpers.list.ListCycleError`).
"""

from .bulk import numpy_dtype, read_struct_array
from .kallsyms import (
    ModuleKallsyms,
    module_of_address,
    module_region_of,
    module_span,
    module_symbol_order,
    use_module_kallsyms,
)
from .list import (
    ListCycleError,
    hlist_for_each_entry,
    list_count,
    list_for_each,
    list_for_each_entry,
    list_for_each_entry_reverse,
    list_for_each_prev,
    llist_for_each_entry,
)
from .rbtree import rb_first, rb_next, rbtree_inorder_for_each, rbtree_inorder_for_each_entry
from .xarray import idr_for_each, radix_tree_for_each, xa_for_each

__all__ = [
    "ListCycleError",
    "ModuleKallsyms",
    "hlist_for_each_entry",
    "idr_for_each",
    "list_count",
    "list_for_each",
    "list_for_each_entry",
    "list_for_each_entry_reverse",
    "list_for_each_prev",
    "llist_for_each_entry",
    "module_of_address",
    "module_region_of",
    "module_span",
    "module_symbol_order",
    "numpy_dtype",
    "radix_tree_for_each",
    "rb_first",
    "rb_next",
    "rbtree_inorder_for_each",
    "rbtree_inorder_for_each_entry",
    "read_struct_array",
    "use_module_kallsyms",
    "xa_for_each",
]
