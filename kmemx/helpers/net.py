"""Networking: a task's sockets, a socket's family/type and endpoints, the ARP
cache.  drgn's ``drgn.helpers.linux.net`` walks the devices and the neighbour
tables; these add what crash's ``net -s`` and ``net -a`` show."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import drgn

__all__ = ["AF_NAMES", "SOCK_TYPES", "for_each_task_socket", "inet_endpoints",
           "neigh_for_each", "neigh_hw_address", "sock_family_type"]

#: include/linux/socket.h's address families, by crash's names (net.c)
AF_NAMES = {1: "UNIX", 2: "INET", 10: "INET6", 16: "NETLINK", 17: "PACKET"}
#: include/linux/net.h's enum sock_type
SOCK_TYPES = {1: "STREAM", 2: "DGRAM", 3: "RAW", 4: "RDM", 5: "SEQPACKET", 6: "DCCP",
              10: "PACKET"}
_S_IFMT, _S_IFSOCK = 0o170000, 0o140000


def for_each_task_socket(task: drgn.Object) -> Iterator[tuple[int, drgn.Object, drgn.Object]]:
    """``(fd, struct socket *, struct sock *)`` for each open file of ``task``
    (``struct task_struct *``) that is a socket (``S_ISSOCK(inode->i_mode)``),
    by file descriptor, as ``SOCKET_I()`` (include/net/sock.h) finds the socket
    in its inode.  Raises :class:`drgn.FaultError` for an unreadable file."""
    from drgn.helpers.linux.fs import for_each_file
    from drgn.helpers.linux.net import SOCKET_I

    for fd, file in for_each_file(task):
        inode = file.f_inode
        if int(inode.i_mode) & _S_IFMT != _S_IFSOCK:
            continue
        sock = SOCKET_I(inode)
        yield fd, sock, sock.sk.read_()


def sock_family_type(sk: drgn.Object) -> tuple[int, int]:
    """``(sk->sk_family, sk->sk_type)`` of a ``struct sock *``."""
    return int(sk.__sk_common.skc_family), int(sk.sk_type)


def inet_endpoints(sk: drgn.Object) -> tuple[str, int, str, int] | None:
    """``(source address, source port, destination address, destination port)``
    of an INET or INET6 ``struct sock *`` (``sock_common``'s skc_rcv_saddr,
    skc_num, skc_daddr, skc_dport; the v6 addresses for AF_INET6), or None for
    another family.  Ports in host order, as crash prints them."""
    family = int(sk.__sk_common.skc_family)
    common = sk.__sk_common
    if family == 2:
        src = str(ipaddress.IPv4Address(int(common.skc_rcv_saddr).to_bytes(4, "little")))
        dst = str(ipaddress.IPv4Address(int(common.skc_daddr).to_bytes(4, "little")))
    elif family == 10:
        src = str(ipaddress.IPv6Address(bytes(common.skc_v6_rcv_saddr.in6_u.u6_addr8)))
        dst = str(ipaddress.IPv6Address(bytes(common.skc_v6_daddr.in6_u.u6_addr8)))
    else:
        return None
    dport = int.from_bytes(int(common.skc_dport).to_bytes(2, "little"), "big")
    return src, int(common.skc_num), dst, dport


def neigh_hw_address(neigh: drgn.Object) -> bytes:
    """The hardware address of a ``struct neighbour *`` (``ha[]``, ``dev->addr_len``
    bytes of it)."""
    n = int(neigh.dev.addr_len)
    return bytes(neigh.ha)[:n]


def neigh_for_each(tbl: drgn.Object) -> Iterator[drgn.Object]:
    """Each ``struct neighbour *`` of a ``struct neigh_table *`` (``arp_tbl``),
    bucket by bucket of ``tbl->nht``, as ``neigh_for_each()``
    (net/core/neighbour.c).  The buckets are hlists of ``neighbour.hash`` since
    a01a67ab2fff ("neighbour: Convert to hlist", 6.13), chains of
    ``neighbour.next`` before."""
    from drgn.helpers.linux.list import hlist_for_each_entry

    nht = tbl.nht.read_()
    if not nht:
        return
    buckets = 1 << int(nht.hash_shift)
    try:
        heads = nht.hash_heads
    except AttributeError:
        chains = nht.hash_buckets
        for i in range(buckets):
            n = chains[i].read_()
            while n:
                yield n
                n = n.next.read_()
        return
    for i in range(buckets):
        yield from hlist_for_each_entry("struct neighbour", heads[i].address_of_(), "hash")
