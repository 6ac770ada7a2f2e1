"""Parse VMCOREINFO, the kernel's self-description in every dump."""

from __future__ import annotations

__all__ = ["Vmcoreinfo"]


class Vmcoreinfo:
    """``KEY=VALUE`` lines, with typed accessors for the usual keys."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.fields: dict[str, str] = {}
        for line in raw.decode("ascii", "replace").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                self.fields[key] = value

    def get(self, key: str) -> str | None:
        return self.fields.get(key)

    def number(self, name: str) -> int | None:
        v = self.fields.get(f"NUMBER({name})")
        return int(v, 0) if v is not None else None

    def symbol(self, name: str) -> int | None:
        v = self.fields.get(f"SYMBOL({name})")
        return int(v, 16) if v is not None else None

    @property
    def osrelease(self) -> str | None:
        return self.fields.get("OSRELEASE")

    @property
    def build_id(self) -> str | None:
        return self.fields.get("BUILD-ID")

    @property
    def kaslr_offset(self) -> int:
        v = self.fields.get("KERNELOFFSET")
        return int(v, 16) if v else 0

    @property
    def phys_base(self) -> int:
        return (self.number("phys_base") or 0) & 0xFFFFFFFFFFFFFFFF

    @property
    def five_level(self) -> bool:
        return bool(self.number("pgtable_l5_enabled"))
