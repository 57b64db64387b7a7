"""Subcommands of ``nestor``: each module defines ``register(subparsers)``."""
