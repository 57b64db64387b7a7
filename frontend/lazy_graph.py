"""The lazy graph: elementwise ops record a pending node; the fuser realizes it on first need.

On the CPU, an op whose class sets ``lazy = True`` (the elementwise ops, including the fused
``bias_<act>`` and ``add_n``, dropout and the elementwise gradients) does not run when applied:
:meth:`frontend.tensor.Tensor.from_op` checks its inputs at once (shapes broadcast, dtypes
agree: errors are raised at the call) and returns a tensor holding a :class:`Pending` node (the
op, its inputs, the output's shape and dtype) instead of storage. Any read of the storage
(``data``: ``numpy()``, ``item()``, ``repr``, a non-elementwise op's forward, an optimizer
update, a checkpoint) realizes it through :func:`realize`:

* the *group* is every pending tensor reachable from the requested one through pending inputs
  (realized tensors are its leaves);
* its outputs are the requested tensor and each other member still needed elsewhere: referenced
  from outside the group (a user variable, a pending op outside the group), or kept by the
  autograd graph where a gradient will read its value (:attr:`Op.saves`). The others are never
  stored (they stay pending, recomputable, and are freed with the group);
* the group runs as ONE kernel (:mod:`frontend.lazy_kernel`), cached by the group's structure;
  a group of one op runs that op's own kernel, as it would have run eagerly.

Assigning a tensor's ``data`` first realizes every pending tensor (they may read the old
values). :func:`lazy` ``(False)`` and ``fusion.fusion(False)`` give the eager behaviour.
"""

from __future__ import annotations

import contextlib
import sys
import weakref
from collections.abc import Iterator

#: the most ops one fused kernel evaluates (a larger group realizes its deeper parts first)
MAX_GROUP = 64
_state = {"on": True}
#: every pending tensor, so that assigning storage can realize those that read it
_pending: weakref.WeakSet = weakref.WeakSet()
_fusion_state: dict | None = None


class Pending:
    """What a lazy tensor will be: ``op`` applied to ``inputs``, of ``shape`` and ``dtype``."""

    __slots__ = ("op", "inputs", "shape", "dtype")

    def __init__(self, op, inputs: tuple, shape: tuple[int, ...], dtype: str):
        self.op, self.inputs, self.shape, self.dtype = op, inputs, shape, dtype


def active() -> bool:
    """Whether elementwise ops are recorded lazily (on unless :func:`lazy` or fusion is off)."""
    global _fusion_state
    if _fusion_state is None:
        from . import fusion

        _fusion_state = fusion._state
    return _state["on"] and _fusion_state["enabled"]


@contextlib.contextmanager
def lazy(on: bool) -> Iterator[None]:
    """Within this block elementwise ops are recorded and fused (``True``) or run at once (``False``).

    Pending tensors made before the block are realized on entry, so they keep the meaning they
    had when they were made.
    """
    flush()
    previous = _state["on"]
    _state["on"] = bool(on)
    try:
        yield
    finally:
        _state["on"] = previous


def flush() -> None:
    """Realize every pending tensor (before storage that they may read is replaced)."""
    while _pending:
        for tensor in list(_pending):
            if tensor._lazy is not None:
                realize(tensor)
            _pending.discard(tensor)


def realize(root) -> None:
    """Compute ``root`` (a pending tensor) and every member of its group still needed elsewhere,
    in one kernel; store each result and drop its pending node."""
    from .lazy_kernel import run_group

    members, leaves, deferred = _gather(root)
    for tensor in deferred:  # beyond MAX_GROUP: realized first, then leaves of this group
        if tensor._lazy is not None:
            realize(tensor)
    if deferred:
        members, leaves, deferred = _gather(root)
    if len(members) == 1:  # one op: its own kernel (and request) as when run eagerly
        pending = root._lazy
        root._data = pending.op.forward(*[t._data for t in pending.inputs], device=root.device)
        root._lazy = None
        _pending.discard(root)
        return
    outputs = _outputs(members)
    arrays = run_group(members, leaves, outputs)
    for position, array in zip(outputs, arrays):
        tensor = members[position]
        tensor._data, tensor._lazy = array, None
        _pending.discard(tensor)


def _gather(root) -> tuple[list, list, list]:
    """``(members, leaves, deferred)``: the pending tensors of ``root``'s group, inputs before
    users (``root`` last); the realized tensors they read, in order of first use; pending
    tensors left out because the group is full."""
    members: list = []
    leaves: list = []
    deferred: list = []
    seen: set[int] = set()
    stack = [(root, False)]
    while stack:
        tensor, expanded = stack.pop()
        if expanded:
            members.append(tensor)
            continue
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        pending = tensor._lazy
        if pending is None:
            leaves.append(tensor)
            continue
        if len(seen) > MAX_GROUP and tensor is not root:
            deferred.append(tensor)
            continue
        stack.append((tensor, True))
        stack.extend((t, False) for t in reversed(pending.inputs) if id(t) not in seen)
    del stack, tensor
    return members, leaves, deferred


def _outputs(members: list) -> list[int]:
    """Positions in ``members`` of the tensors to store: the root (last) and every member used
    outside the group or whose value the autograd graph keeps for a gradient."""
    count = len(members)
    index = {id(t): n for n, t in enumerate(members)}
    uses = [0] * count
    kept = [False] * count
    for tensor in members:
        pending = tensor._lazy
        recorded = tensor.op is not None
        saves = pending.op.saves if recorded else ()
        for position, source in enumerate(pending.inputs):
            n = index.get(id(source))
            if n is not None:
                uses[n] += 1
                kept[n] = kept[n] or (recorded and (saves is True or position in saves))
    outputs = []
    for n in range(count - 1):
        member = members[n]
        keeps_output = member.op is not None and member._lazy.op.saves_output
        del member
        # references: the ``members`` list, getrefcount's argument, and one per use in the group
        if kept[n] or keeps_output or sys.getrefcount(members[n]) - 2 > uses[n]:
            outputs.append(n)
    outputs.append(count - 1)
    return outputs
