"""Identifiers made from user-chosen names (tensor, stage, loop and function names), for every
place that prints a name into source code: the trace's Python, CUDA C, the interpreter's
Python, LLVM symbols."""

from __future__ import annotations

import re


def identifier(name: str, *, keep: str = "", prefix: str = "_", empty: str = "",
               reserved: tuple[str, ...] = (), reserved_names: frozenset[str] | set[str] = frozenset()) -> str:
    """``name`` with every character that is not a letter, digit, ``_`` or in ``keep`` replaced by
    ``_``; ``prefix`` is put in front when the result is empty, starts with a digit, starts with
    one of the ``reserved`` prefixes or is one of the ``reserved_names`` (``empty`` stands for an
    empty name first)."""
    text = re.sub(r"[^\w" + re.escape(keep) + "]", "_", name) or empty
    if not text or text[0].isdigit() or (reserved and text.startswith(reserved)) or text in reserved_names:
        return prefix + text
    return text
