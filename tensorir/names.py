"""Identifiers made from user-chosen names (tensor, stage, loop and function names), for every
place that prints a name into source code: the trace's Python, CUDA C, the interpreter's
Python, LLVM symbols."""

from __future__ import annotations

import re


def identifier(name: str, *, keep: str = "", prefix: str = "_", empty: str = "",
               reserved: tuple[str, ...] = (), reserved_names: frozenset[str] | set[str] = frozenset()) -> str:
    """``name`` with every ASCII character that is not a letter, digit, ``_`` or in ``keep``
    replaced by ``_`` and every other character spelled as ``uXXXX`` (C compilers and LLVM tools
    refuse non-ASCII identifiers; distinct names stay distinct); ``prefix`` is put in front when
    the result is empty, starts with a digit, starts with one of the ``reserved`` prefixes or is
    one of the ``reserved_names`` (``empty`` stands for an empty name first)."""
    text = re.sub(r"[^A-Za-z0-9_" + re.escape(keep) + "]", _spell, name) or empty
    if not text or text[0].isdigit() or (reserved and text.startswith(reserved)) or text in reserved_names:
        return prefix + text
    return text


def _spell(match: re.Match) -> str:
    character = match.group()
    return "_" if character.isascii() else f"u{ord(character):04x}"
