"""Architecture support: virtual-to-physical translation."""

from .x86_64 import X86_64Translator

__all__ = ["X86_64Translator"]
