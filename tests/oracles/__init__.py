"""Independent oracles (external tools) that kmemx's tests compare against."""

__all__: list[str] = []
