"""Devices: the I/O port and memory resource trees (kernel/resource.c) and
the PCI buses and their devices (drivers/pci), what crash's ``dev -i`` and
``dev -p`` show."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..kernel import Kernel
from .list import ListCycleError, list_for_each_entry

__all__ = ["PCIE_TYPES", "for_each_pci_bus", "for_each_resource", "pci_bus_for_each_dev",
           "pci_name", "pci_pcie_type"]

#: include/uapi/linux/pci_regs.h's PCI_EXP_TYPE_* by their value, with crash's
#: names (dev.c fill_pcie_type())
PCIE_TYPES = {0x0: "ENDPOINT", 0x1: "LEG_END", 0x4: "ROOT_PORT", 0x5: "UPSTREAM",
              0x6: "DOWNSTREAM", 0x7: "PCI_BRIDGE", 0x8: "PCIE_BRIDGE", 0x9: "RC_END",
              0xA: "RC_EC"}
_PCI_EXP_FLAGS_TYPE = 0x00F0


def for_each_resource(root: Any) -> Iterator[tuple[int, Any]]:
    """``(depth, struct resource *)`` for ``root`` (a ``struct resource``
    view, e.g. ``k.object("iomem_resource")``) and every resource under it,
    depth first: a resource, its children, then its next sibling, as
    kernel/resource.c's ``next_resource()`` walks ``/proc/iomem`` (depth 0 is
    ``root``).

    :raises drgn.FaultError: a resource that cannot be read
    :raises ListCycleError: a resource met twice (a corrupt tree)
    """
    seen: set[int] = set()
    stack: list[tuple[int, Any]] = [(0, root)]
    while stack:
        depth, r = stack.pop()
        while r:
            addr = int(r.address)
            if addr in seen:
                raise ListCycleError(f"resource tree: {addr:#x} is reached twice", addr)
            seen.add(addr)
            yield depth, r
            sibling = r.sibling if depth else None  # the root's siblings are not its tree
            child = r.child
            if child and int(child) != addr:
                if sibling:
                    stack.append((depth, sibling.deref()))
                depth, r = depth + 1, child.deref()
            else:
                r = sibling.deref() if sibling else None


def for_each_pci_bus(k: Kernel) -> Iterator[Any]:
    """Each ``struct pci_bus *``: a root bus of ``pci_root_buses``, then the
    buses behind its bridges (``bus->children``), depth first, as
    ``pci_walk_bus()``'s order (drivers/pci/bus.c)."""
    stack = list(reversed(list(list_for_each_entry(
        "struct pci_bus", k.object("pci_root_buses").address_of(), "node", k))))
    while stack:
        bus = stack.pop()
        yield bus
        stack.extend(reversed(list(list_for_each_entry(
            "struct pci_bus", bus.children.address_of(), "node", k))))


def pci_bus_for_each_dev(bus: Any) -> Iterator[Any]:
    """The ``struct pci_dev`` views on a ``struct pci_bus *`` (``bus->devices``,
    linked by ``bus_list``), as ``list_for_each_entry(dev, &bus->devices,
    bus_list)`` (drivers/pci/bus.c)."""
    return list_for_each_entry("struct pci_dev", bus.devices.address_of(), "bus_list", bus.k)


def pci_name(dev: Any) -> str:
    """``pci_name()`` (include/linux/pci.h) of a ``struct pci_dev``: its
    device's name, ``DOMAIN:BUS:SLOT.FUNCTION`` (``0000:00:01.1``)."""
    name: bytes = dev.dev.kobj.name.string()
    return name.decode("utf-8", "surrogateescape")


def pci_pcie_type(dev: Any) -> int | None:
    """``pci_pcie_type()`` (include/linux/pci.h) of a ``struct pci_dev``: the
    PCI Express port type of its capability (a key of :data:`PCIE_TYPES`),
    ``None`` for a conventional PCI device (``pci_is_pcie()`` false: no PCI
    Express capability, ``pcie_cap`` 0)."""
    if not int(dev.pcie_cap):
        return None
    return (int(dev.pcie_flags_reg) & _PCI_EXP_FLAGS_TYPE) >> 4
