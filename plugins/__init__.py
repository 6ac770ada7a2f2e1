"""kmemx's built-in plugins (installed as the ``kmemx_plugins`` package).

They load through the same ``kmemx.plugins`` entry points as third-party
plugins; each module registers its commands when imported.
"""
