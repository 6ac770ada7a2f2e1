"""The kernel's audit records not yet read by the audit daemon
(kernel/audit.c's sk_buff queues)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import drgn

__all__ = ["AuditRecord", "for_each_audit_record"]

#: NLMSG_HDRLEN (include/uapi/linux/netlink.h): NLMSG_ALIGN(sizeof(struct nlmsghdr))
_NLMSG_HDRLEN = 16
#: the queues, oldest records first, in crash's order (kernel.c dump_audit()):
#: since af8b824f283d (v4.10, "audit: rename the queues and kauditd related
#: functions") the hold, retry and main queues; before, the hold and main ones
_QUEUES = (("audit_hold_queue", "audit_retry_queue", "audit_queue"),
           ("audit_skb_hold_queue", "audit_skb_queue"))


class AuditRecord(NamedTuple):
    """One queued audit message: its queue's symbol, its ``struct sk_buff *``,
    its netlink message type (``AUDIT_*``, include/uapi/linux/audit.h) and
    its text (to its first NUL)."""

    queue: str
    skb: int
    type: int
    text: bytes


def for_each_audit_record(prog: drgn.Program) -> Iterator[AuditRecord]:
    """The records on audit's ``struct sk_buff_head`` queues, each queue's
    from its head's ``next`` for ``qlen`` buffers (kernel/audit.c
    kauditd_thread() sends them in that order): the ``struct nlmsghdr`` at
    ``skb->data`` gives the type, the ``skb->len - NLMSG_HDRLEN`` bytes after
    it the text.

    :raises LookupError: the kernel has no audit queues (CONFIG_AUDIT off)
    :raises drgn.FaultError: a buffer that cannot be read
    """
    for names in _QUEUES:
        try:
            heads = [(name, prog[name]) for name in names]
        except KeyError:
            continue
        for name, head in heads:
            skb = head.next
            for _ in range(int(head.qlen)):
                if skb.value_() in (0, head.address_):
                    break
                data = int(skb.data.value_())
                nlmsg_type = int(drgn.Object(prog, "struct nlmsghdr", address=data).nlmsg_type)
                size = max(int(skb.len) - _NLMSG_HDRLEN, 0)
                text = prog.read(data + _NLMSG_HDRLEN, size) if size else b""
                yield AuditRecord(name, int(skb.value_()), nlmsg_type, text.split(b"\0", 1)[0])
                skb = skb.next
        return
    raise LookupError("no audit queues in this kernel (CONFIG_AUDIT is off)")
