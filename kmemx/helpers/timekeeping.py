"""The kernel's tick rate, read from the dump."""

from __future__ import annotations

import drgn

__all__ = ["JIFFIES_CODE", "kernel_hz"]

#: NTP_SCALE_SHIFT (include/linux/timex.h): tick lengths are ns << 32
_NTP_SCALE_SHIFT = 32


def kernel_hz(prog: drgn.Program) -> int:
    """``HZ`` (CONFIG_HZ) of the dumped kernel, in ticks per second.

    :param prog: the dump's program.
    :raises LookupError: the kernel has neither NTP variable read here.

    kernel/time/ntp.c sets ``tick_length_base = NSEC_PER_SEC << NTP_SCALE_SHIFT
    / NTP_INTERVAL_FREQ`` (``NTP_INTERVAL_FREQ`` is ``HZ``) plus the NTP
    frequency offset (at most 500 ppm), so the nearest integer of
    ``(10**9 << 32) / tick_length_base`` is ``HZ``.  The newest layout first:
    since "ntp: Introduce struct ntp_data" (v6.13) it is
    ``tk_ntp_data[0].tick_length_base``; before, the file-static
    ``tick_length_base``; and before that too ``tick_nsec`` (``NSEC_PER_SEC /
    HZ`` plus the offset), which 7.x no longer has.
    """
    try:
        base = int(prog["tk_ntp_data"][0].tick_length_base)
    except (LookupError, AttributeError):
        try:
            base = int(prog["tick_length_base"])
        except LookupError:
            return round(10**9 / int(prog["tick_nsec"]))
    return round((10**9 << _NTP_SCALE_SHIFT) / base)


#: :func:`kernel_hz` as drgn code for ``--drgn`` scripts: sets ``hz``, and
#: ``jiffies``, the ticks since boot (``jiffies_64`` starts at INITIAL_JIFFIES
#: = (unsigned int)(-300 * HZ), include/linux/jiffies.h)
JIFFIES_CODE = """\
# CONFIG_HZ from the NTP tick length, (10**9 << 32) / tick_length_base (kernel/time/ntp.c)
try:
    tick_length = prog["tk_ntp_data"][0].tick_length_base.value_()  # v6.13: struct ntp_data
except (KeyError, AttributeError):
    tick_length = prog["tick_length_base"].value_()
hz = round((10**9 << 32) / tick_length)
# ticks since boot: jiffies_64 starts at INITIAL_JIFFIES = (unsigned int)(-300 * HZ)
jiffies = (prog["jiffies_64"].value_() - ((-300 * hz) & 0xFFFFFFFF)) & (2**64 - 1)
"""
