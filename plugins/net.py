"""crash's ``net``: network devices and their addresses, a task's sockets, the
ARP cache."""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Iterable, Iterator
from typing import Any

import drgn

from kmemx.commands import Address, CommandError, Context, Name, Row, TextLine, arg, command
from kmemx.commands.cells import kernel_str
from kmemx.helpers.net import (
    AF_NAMES,
    SOCK_TYPES,
    for_each_task_socket,
    inet_endpoints,
    neigh_for_each,
    neigh_hw_address,
    sock_family_type,
)

from .sched import task_pointer as _task_ptr
from .tasks import command_tasks, task_header

__all__ = ["NET_COLUMNS", "net_device_rows"]

NET_COLUMNS = ("NET_DEVICE", "NAME", "IP ADDRESS(ES)")
SOCK_COLUMNS = ("PID", "FD", "SOCKET", "SOCK", "FAMILY:TYPE", "SOURCE-PORT",
                "DESTINATION-PORT")
ARP_COLUMNS = ("NEIGHBOUR", "IP ADDRESS", "HW TYPE", "HW ADDRESS", "DEVICE", "STATE")

#: include/uapi/linux/neighbour.h's NUD_* states, by crash's names
_NUD = ((0x01, "INCOMPLETE"), (0x02, "REACHABLE"), (0x04, "STALE"), (0x08, "DELAY"),
        (0x10, "PROBE"), (0x20, "FAILED"), (0x40, "NOARP"), (0x80, "PERMANENT"))
#: include/uapi/linux/if_arp.h
_ARPHRD_ETHER = 1


def _addresses(dev: drgn.Object) -> str:
    from drgn.helpers.linux.net import netdev_ipv4_addrs, netdev_ipv6_addrs

    addrs = [str(a) for a in netdev_ipv4_addrs(dev)]
    try:
        addrs += [str(a) for a in netdev_ipv6_addrs(dev)]
    except (AttributeError, LookupError):  # !CONFIG_IPV6
        pass
    return ", ".join(addrs)


def net_device_rows(ctx: Context, net: drgn.Object | None) -> Iterator[Row]:
    """A row per device of the namespace ``net`` (``struct net *``; None:
    ``init_net``), in ``dev_base_head`` order, as crash's ``net``."""
    from drgn.helpers.linux.net import for_each_netdev, netdev_name

    for dev in for_each_netdev(ctx.prog if net is None else net):
        yield Row(NET_COLUMNS, (Address(int(dev.value_())), Name(kernel_str(netdev_name(dev))),
                                _addresses(dev)), dev)


def _task_net(ctx: Context, spec: str | None) -> drgn.Object:
    tasks = command_tasks(ctx, [spec] if spec else [], (), "net")
    t = tasks[0]
    nsproxy = t.to_drgn().nsproxy
    if not nsproxy:
        raise CommandError(f"net: task {t.address:#x} has no namespaces (exiting)")
    net: drgn.Object = nsproxy.net_ns.read_()
    return net


def _socket_rows(ctx: Context, spec: str | None, input: Iterable[Any]) -> Iterator[Any]:
    for t in command_tasks(ctx, [spec] if spec else [], input, "net"):
        if not ctx.as_json:
            yield TextLine(task_header(ctx, t))
        n = 0
        try:
            for fd, sock, sk in for_each_task_socket(_task_ptr(ctx, t)):
                n += 1
                family, stype = sock_family_type(sk) if sk else (0, int(sock.type))
                kind = (f"{AF_NAMES.get(family, str(family))}:"
                        f"{SOCK_TYPES.get(stype, str(stype))}")
                ends = inet_endpoints(sk) if sk else None
                src = f"{ends[0]}-{ends[1]}" if ends else None
                dst = f"{ends[2]}-{ends[3]}" if ends else None
                yield Row(SOCK_COLUMNS, (int(t.pid), fd, Address(int(sock.value_())),
                                         Address(int(sk.value_())), kind, src, dst), sock)
        except drgn.FaultError as e:
            ctx.warn(f"net: task {int(t.pid)}: cannot read its files at {e.address:#x}")
        if not n and not ctx.as_json:
            yield TextLine("No open sockets.")


def _arp_rows(ctx: Context) -> Iterator[Row]:
    from drgn.helpers.linux.net import netdev_name

    tbl = ctx.prog["arp_tbl"].address_of_()
    for n in neigh_for_each(tbl):
        key = bytes(ctx.prog.read(int(n.primary_key.address_), 4))
        dev = n.dev
        hw = neigh_hw_address(n)
        if int(dev.type) == _ARPHRD_ETHER:
            hw_type, hw_text = "ETHER", ":".join(f"{b:02x}" for b in hw)
        else:
            hw_type, hw_text = "UNKNOWN", " ".join(f"{b:02x}" for b in hw)
        state = int(n.nud_state)
        names = [name for bit, name in _NUD if state & bit]
        yield Row(ARP_COLUMNS, (Address(int(n.value_())), str(ipaddress.IPv4Address(key)),
                                hw_type, hw_text, Name(kernel_str(netdev_name(dev))),
                                "|".join(names) or "NONE"), n)


def _ntoa(text: str) -> str:
    """``net -N``: an IPv4 address held as a number (network order in memory,
    read as a little-endian integer, as ``rcv_saddr`` shows it) in dots."""
    try:
        value = int(text, 0)
    except ValueError:
        try:
            value = int(text, 16)
        except ValueError:
            raise CommandError(f"net: -N: not a number: {text!r}") from None
    if not 0 <= value < 1 << 32:
        raise CommandError(f"net: -N: not a 32-bit value: {text!r}")
    return str(ipaddress.IPv4Address(value.to_bytes(4, "little")))


def _sockets_drgn(ctx: Context, spec: str | None) -> str:
    """``net -s [PID|TASK] --drgn``: each open file of the tasks that is a
    socket (S_ISSOCK), SOCKET_I() of its inode, the INET/INET6 endpoints."""
    from kmemx.commands.drgncode import table_script

    tasks = [hex(int(t.address)) for t in command_tasks(ctx, [spec] if spec else [], (), "net")]
    return table_script(ctx, SOCK_COLUMNS, f"""\
AF_NAMES = {AF_NAMES!r}
SOCK_TYPES = {SOCK_TYPES!r}


def endpoints(sk):  # INET and INET6: address-port, ports in host order
    common = sk.__sk_common
    family = common.skc_family.value_()
    if family == 2:
        src = IPv4Address(common.skc_rcv_saddr.value_().to_bytes(4, "little"))
        dst = IPv4Address(common.skc_daddr.value_().to_bytes(4, "little"))
    elif family == 10:
        src = IPv6Address(bytes(common.skc_v6_rcv_saddr.in6_u.u6_addr8))
        dst = IPv6Address(bytes(common.skc_v6_daddr.in6_u.u6_addr8))
    else:
        return None, None
    dport = int.from_bytes(common.skc_dport.value_().to_bytes(2, "little"), "big")
    return f"{{src}}-{{common.skc_num.value_()}}", f"{{dst}}-{{dport}}"


for addr in {tasks}:
    task = Object(prog, "struct task_struct *", int(addr, 16))
    for fd, file in for_each_file(task):
        if file.f_inode.i_mode.value_() & 0o170000 != 0o140000:  # S_ISSOCK
            continue
        sock = SOCKET_I(file.f_inode)
        sk = sock.sk.read_()
        if sk:
            family, stype = sk.__sk_common.skc_family.value_(), sk.sk_type.value_()
        else:
            family, stype = 0, sock.type.value_()
        kind = f"{{AF_NAMES.get(family, str(family))}}:{{SOCK_TYPES.get(stype, str(stype))}}"
        src, dst = endpoints(sk) if sk else (None, None)
        row(task.pid.value_(), fd, hex(sock.value_()), hex(sk.value_()), kind, src, dst)
""".replace("'", '"'), ["ipaddress:IPv4Address,IPv6Address", "drgn:Object",
                       "drgn.helpers.linux.fs:for_each_file", "drgn.helpers.linux.net:SOCKET_I"])


def _arp_drgn(ctx: Context) -> str:
    """``net -a --drgn``: arp_tbl's neighbours, bucket by bucket (hlists of
    neighbour.hash since a01a67ab2fff, 6.13; chains of neighbour.next before)."""
    from kmemx.commands.drgncode import table_script

    return table_script(ctx, ARP_COLUMNS, f"""\
NUD = {_NUD!r}  # include/uapi/linux/neighbour.h, crash's names


def neighbours(tbl):
    nht = tbl.nht.read_()
    if not nht:
        return
    buckets = 1 << nht.hash_shift.value_()
    try:
        heads = nht.hash_heads
    except AttributeError:
        for i in range(buckets):
            n = nht.hash_buckets[i].read_()
            while n:
                yield n
                n = n.next.read_()
        return
    for i in range(buckets):
        yield from hlist_for_each_entry("struct neighbour", heads[i].address_of_(), "hash")


for n in neighbours(prog["arp_tbl"].address_of_()):
    key = prog.read(n.primary_key.address_, 4)
    hw = bytes(n.ha)[:n.dev.addr_len.value_()]
    if n.dev.type.value_() == {_ARPHRD_ETHER}:
        hw_type, hw_text = "ETHER", ":".join(f"{{b:02x}}" for b in hw)
    else:
        hw_type, hw_text = "UNKNOWN", " ".join(f"{{b:02x}}" for b in hw)
    state = n.nud_state.value_()
    names = [name for bit, name in NUD if state & bit]
    row(hex(n.value_()), str(IPv4Address(key)), hw_type, hw_text, netdev_name(n.dev).decode(),
        "|".join(names) or "NONE")
""", ["ipaddress:IPv4Address", "drgn.helpers.linux.list:hlist_for_each_entry",
      "drgn.helpers.linux.net:netdev_name"])


def _net_drgn(ctx: Context, args: argparse.Namespace) -> str:
    """``net [-n PID|TASK] --drgn``: drgn's for_each_netdev() and the IPv4 and
    IPv6 addresses of each device; ``-s``: each socket file of the tasks;
    ``-a``: arp_tbl's neighbours; ``net -N`` is arithmetic."""
    from kmemx.commands.drgncode import only, table_script, text_script

    if args.ntoa is not None:
        return text_script(ctx, f"""\
print(IPv4Address({_ntoa(args.ntoa)!r}))  # the u32 in memory order
""", ["ipaddress:IPv4Address"])
    if args.arp:
        return _arp_drgn(ctx)
    if args.sockets is not None or args.sockets_full is not None:
        full = args.sockets_full is not None
        spec = args.sockets_full if full else args.sockets
        if full:
            raise only("net", "the devices, -s, -a and -N (not -S)")
        return _sockets_drgn(ctx, spec or None)
    where = "prog"
    if args.netns is not None:
        task = _task_ptr(ctx, command_tasks(ctx, [args.netns] if args.netns else [], (),
                                            "net")[0])
        where = f"Object(prog, 'struct task_struct *', {int(task.value_()):#x}).nsproxy.net_ns"
    return table_script(ctx, NET_COLUMNS, f"""\
for dev in for_each_netdev({where}):
    addrs = [str(a) for a in netdev_ipv4_addrs(dev)]
    try:
        addrs += [str(a) for a in netdev_ipv6_addrs(dev)]
    except (AttributeError, LookupError):  # !CONFIG_IPV6
        pass
    row(hex(dev.value_()), netdev_name(dev).decode(), ", ".join(addrs))
""", ["drgn:Object",
      "drgn.helpers.linux.net:for_each_netdev,netdev_ipv4_addrs,netdev_ipv6_addrs,netdev_name"])


@command("net", "network devices, a task's sockets, the ARP cache (crash's net)",
         description="""
         net                      each device of the initial namespace: NET_DEVICE NAME
                                  IP ADDRESS(ES) (IPv4, then IPv6)
         net -n [PID|TASK]        the devices of a task's network namespace (default:
                                  the current context)
         net -s [PID|TASK]        the open sockets of a task (default: the current
                                  context): FD SOCKET SOCK FAMILY:TYPE SOURCE-PORT
                                  DESTINATION-PORT (INET/INET6 endpoints as ADDR-PORT)
         net -S [PID|TASK]        the same, each followed by its struct socket and
                                  struct sock
         net -a                   the ARP cache (arp_tbl): NEIGHBOUR IP ADDRESS HW TYPE
                                  HW ADDRESS DEVICE STATE
         net -N VALUE             an IPv4 address held in a u32 as dotted quads
         ps | filter comm~sshd | net -s    the sockets of piped tasks
         """,
         arguments=[arg("-s", dest="sockets", nargs="?", const="", default=None,
                        metavar="PID|TASK", help="a task's sockets"),
                    arg("-S", dest="sockets_full", nargs="?", const="", default=None,
                        metavar="PID|TASK", help="a task's sockets with their structs"),
                    arg("-n", dest="netns", nargs="?", const="", default=None,
                        metavar="PID|TASK", help="the devices of a task's namespace"),
                    arg("-a", dest="arp", action="store_true", help="the ARP cache"),
                    arg("-N", dest="ntoa", metavar="VALUE", help="u32 to dotted quads")],
         columns=NET_COLUMNS, takes_input=True, drgn_code=_net_drgn)
def _net(ctx: Context, args: argparse.Namespace, input: Iterable[Any]) -> Iterator[Any]:
    if args.ntoa is not None:
        yield TextLine(_ntoa(args.ntoa))
        return
    if args.arp:
        try:
            yield from _arp_rows(ctx)
        except KeyError:
            raise CommandError("net: -a: this kernel has no arp_tbl (no IPv4)") from None
        return
    full = args.sockets_full is not None
    if args.sockets is not None or full:
        spec = args.sockets_full if full else args.sockets
        for item in _socket_rows(ctx, spec or None, input):
            yield item
            if full and isinstance(item, Row) and not ctx.as_json:
                sock = item.obj
                yield TextLine(str(sock.dereference_()))
                if sock.sk:
                    yield TextLine(str(sock.sk.dereference_()))
        return
    net = _task_net(ctx, args.netns or None) if args.netns is not None else None
    yield from net_device_rows(ctx, net)
