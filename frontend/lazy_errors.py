"""Where a pending op was recorded, and errors raised while realizing it, named by that op and line.

A pending op runs when its value is first read, often far from the line that applied it. Each
:class:`~frontend.lazy_graph.Pending` keeps its *site*: the code object and instruction of the
first caller outside the frontend package (the user's line; ``loss.backward()`` for the ops of
a gradient), cheap to take and holding no frame (no variable stays alive through it). An
exception from the kernel of a realized group is raised again with that op, its line and the
other ops of the group in front of its message, as the same class (a NestorError keeps its
class; any other exception too, chained to the original). KeyboardInterrupt and other
BaseExceptions pass unchanged. Either way no member was changed: the group stays pending.
"""

from __future__ import annotations

import os
import sys

#: frames under this directory are the frontend's own, not the user's call site
_INSIDE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def call_site(depth: int = 2) -> tuple | None:
    """``(code, instruction offset)`` of the first frame outside the frontend, ``depth`` frames
    up from the caller of this function (None when there is none)."""
    frame = sys._getframe(depth)
    while frame is not None and frame.f_code.co_filename.startswith(_INSIDE):
        frame = frame.f_back
    return None if frame is None else (frame.f_code, frame.f_lasti)


def describe_site(site: tuple | None) -> str:
    """``file:line (function)`` of a site from :func:`call_site`."""
    if site is None:
        return "an unknown line"
    code, offset = site
    line = code.co_firstlineno
    for start, end, number in code.co_lines():
        if start <= offset < end and number is not None:
            line = number
            break
    return f"{code.co_filename}:{line} (in {code.co_name})"


def context(root, members: list) -> str:
    """What was being realized: the root's op and site, and the other ops of its group."""
    pending = root._lazy
    text = f"realizing the pending {pending.op.name!r} recorded at {describe_site(pending.site)}"
    others = [m._lazy.op.name for m in members if m is not root and m._lazy is not None]
    if others:
        names = sorted(set(others))
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        text += f" (fused with {len(others)} more pending op{'s' * (len(others) > 1)}: {shown})"
    return text


def reraise(error: Exception, root, members: list):
    """Raise ``error`` again, with :func:`context` in front of its message."""
    if getattr(error, "_realizing", False):  # already named by an inner realize
        raise error
    from tensorir.errors import NestorError

    message = f"{context(root, members)}: {error}"
    try:
        named = type(error)(message)
    except Exception:  # a class that needs more than a message: the original, unchanged
        raise error from None
    named._realizing = True
    if isinstance(error, NestorError):
        raise named from None
    raise named from error
