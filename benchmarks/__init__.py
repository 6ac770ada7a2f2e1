"""kmemx benchmarks: each runs kmemx and drgn on the same vmcore in one process."""
