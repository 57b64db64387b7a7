"""TVM's virtual threads: a loop bound to ``thread_axis("vthread")`` (or ``"cthread"``).

TVM injects virtual threads into the body of each real thread: every thread runs the
iterations of a vthread loop one after another, so a vthread loop is a serial loop inside the
thread that runs it. Nestor lowers it so: a serial loop that keeps the tag (printed
``[vthread]``), nested where the schedule put it, between the ``blockIdx`` and ``threadIdx``
loops or inside them. A stage attached inside it is computed once per virtual thread (its
``local`` buffer holds one virtual thread's values; a ``shared`` buffer is allocated once per
block, not once per virtual thread). On a CPU target it is a serial loop as well.
"""

from __future__ import annotations

from tensorir.stmt import ForKind

#: the tags of virtual threads (TVM's ``vthread`` and its older spelling ``cthread``)
VTHREAD_TAGS = ("vthread", "cthread")


def is_vthread(tag: str) -> bool:
    """Whether ``tag`` names a virtual thread."""
    return tag in VTHREAD_TAGS


def lowered_kind(kind: ForKind, tag: str) -> ForKind:
    """The kind of the loop that lowering emits: a vthread-bound loop runs serially."""
    return ForKind.SERIAL if kind is ForKind.THREAD_BINDING and is_vthread(tag) else kind
