"""List and memory commands (filled in by the plugins work)."""
