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

The reductions ``sum``, ``max`` and ``mean`` are recorded too (``reduces``); a group whose root
is one runs as one kernel with the reduction, and an elementwise group takes in the reductions
over its own shape as stages of its kernel; any other pending reduction ends the group (it is
realized first and read as a leaf). See :mod:`frontend.lazy_reduce`.

Assigning a tensor's ``data`` first realizes the pending tensors that read it (they keep the
old values); so does handing its array out for the user to write into
(:mod:`frontend.lazy_storage`). :func:`lazy` ``(False)`` and ``fusion.fusion(False)`` give the
eager behaviour.

Which members a kernel stores is decided by reference counts (:mod:`frontend.lazy_liveness`,
calibrated at import): a member the count misses stays pending and is computed again when
read, never wrong. An error while realizing names the op and the line that recorded it
(:mod:`frontend.lazy_errors`); the tensors of the group stay pending, as before the read.

Threads: one re-entrant lock, :data:`_lock`, is held while a group is gathered and run, while
storage is handed out and while the recorded list is pruned, so two threads realizing one graph
(or two graphs sharing tensors) compute each group once and see its stored results, and a
tensor recorded by one thread while another prunes is never lost. Recording itself appends
without the lock (``list.append`` is atomic); pruning replaces only the prefix it scanned.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator

import numpy as np

from .lazy_errors import reraise
from .lazy_liveness import needed
from .lazy_storage import expose, readers_of
from .replay import forward as replayed

#: the most ops one fused kernel evaluates (a larger group realizes its deeper parts first)
MAX_GROUP = 64
#: True/False within a :func:`lazy` block; None: follow ``fusion.enabled()``
_state: dict = {"on": None}
#: weak references to the tensors recorded pending (dead and realized ones pruned now and then),
#: so that assigning storage can realize those that read it
_recorded: list[weakref.ref] = []
_prune_at = [256]
_RUN: list = []  # lazy_kernel.run_group, bound on first use (it imports the ops)
#: held while a group is realized, storage handed out or the recorded list pruned (see the docstring)
_lock = threading.RLock()
_fusion_state: dict | None = None


class Pending:
    """What a lazy tensor will be: ``op`` applied to ``inputs``, of ``shape`` and ``dtype``;
    ``site`` the user's line that applied it (:func:`frontend.lazy_errors.call_site`)."""

    __slots__ = ("op", "inputs", "shape", "dtype", "site")

    def __init__(self, op, inputs: tuple, shape: tuple[int, ...], dtype: str, site: tuple | None = None):
        self.op, self.inputs, self.shape, self.dtype, self.site = op, inputs, shape, dtype, site


def active() -> bool:
    """Whether elementwise ops are recorded lazily: as set by the innermost :func:`lazy` block,
    else whenever fusion is on (``fusion.fusion(False)`` alone gives the eager behaviour)."""
    global _fusion_state
    on = _state["on"]
    if on is not None:
        return on
    if _fusion_state is None:
        from . import fusion

        _fusion_state = fusion._state
    return _fusion_state["enabled"]


@contextlib.contextmanager
def lazy(on: bool) -> Iterator[None]:
    """Within this block elementwise ops are recorded and fused (``True``) or run at once (``False``).

    Parameters
    ----------
    on
        Whether ops applied in the block are lazy, whether fusion is on or not (so
        ``fusion(False)`` with ``lazy(True)`` leaves the graph to the general fuser alone);
        tensors already pending stay pending.
    """
    previous = _state["on"]
    _state["on"] = bool(on)
    try:
        yield
    finally:
        _state["on"] = previous


def record(tensor) -> None:
    """Remember the pending ``tensor`` (weakly) for :func:`before_assign`."""
    _recorded.append(weakref.ref(tensor))
    if len(_recorded) > _prune_at[0]:
        with _lock:
            _keep_pending(len(_recorded))
            _prune_at[0] = max(256, 2 * len(_recorded))


def _keep_pending(count: int) -> list[weakref.ref]:
    """Drop the dead and realized tensors among the first ``count`` recorded (those appended by
    other threads meanwhile stay); the references kept. Called with :data:`_lock` held."""
    live = [r for r in _recorded[:count] if (t := r()) is not None and t._lazy is not None]
    _recorded[:count] = live  # one slice assignment: atomic under the GIL
    return live


def hand_out(tensor) -> np.ndarray:
    """The storage of the realized ``tensor``, for the user (:func:`share`)."""
    return share(tensor._data)


def share(array: np.ndarray) -> np.ndarray:
    """``array``, about to be handed to the user: the pending tensors reading its memory are
    realized first and the memory is remembered as exposed (:mod:`frontend.lazy_storage`), so
    that writing into it changes no pending value."""
    with _lock:
        return _share(array)


def _share(array: np.ndarray) -> np.ndarray:
    if _recorded:
        readers = readers_of(array, _recorded)
        while readers:
            user = readers.pop()
            if user._lazy is not None:
                realize(user)
            user = None
    expose(array)
    return array


def before_assign(tensor) -> None:
    """Realize the pending tensors that read ``tensor``, whose storage is about to be replaced
    (they keep the values they were applied to)."""
    with _lock:
        _realize_readers(tensor)


def _realize_readers(tensor) -> None:
    live = _keep_pending(len(_recorded))  # pruned as it is scanned: the next scan sees only what is still pending
    for ref in live:
        user = ref()
        if user is not None and user._lazy is not None and any(s is tensor for s in user._lazy.inputs):
            realize(user)


def realize(root) -> None:
    """Compute ``root`` (a pending tensor) and every member of its group still needed elsewhere,
    in one kernel; store each result and drop its pending node. Nothing to do where another
    thread realized it meanwhile."""
    with _lock:
        if root._lazy is not None:
            _realize(root)


def _realize(root) -> None:
    pending = root._lazy
    if 0 in pending.shape:  # nothing to compute (the members it reads compute when read)
        root._data, root._lazy = np.empty(pending.shape, pending.dtype), None
        return
    for source in pending.inputs:
        if source._lazy is not None:
            break
    else:  # one op on realized inputs: its own kernel (and request), as when run eagerly
        try:
            array = replayed(pending.op, [t._data for t in pending.inputs], root.device)
        except Exception as error:
            reraise(error, root, [root])
        root._data, root._lazy = array, None
        return
    reduces = pending.op.reduces
    del source, pending
    group = Group(root)
    while group.deferred:  # beyond MAX_GROUP: the deeper parts first, then leaves of this group
        for tensor in group.deferred:
            if tensor._lazy is not None:
                _realize_layers(tensor)
        del tensor
        group = Group(root)
    members = group.members
    outputs = needed(group, _recorded)
    if not reduces and group.staged:  # reduction stages: what they and later stages both read, once
        from .lazy_reduce import shared_with_stages

        outputs = shared_with_stages(group, outputs)
    if not _RUN:
        from .lazy_kernel import run_group
        from .lazy_reduce import run_reduction

        _RUN.extend((run_group, run_reduction))
    try:
        arrays = _RUN[reduces](group, outputs)
    except Exception as error:  # every member is still pending, as before the read
        reraise(error, root, members)
    for position, array in zip(outputs, arrays):  # storage first: an interrupted member reads as pending
        tensor = members[position]
        tensor._data = array
        tensor._lazy = None


def _realize_layers(tensor) -> None:
    """Realize ``tensor`` with the pending graph under it, bottom up: first every member whose
    depth (the longest chain of pending ops down to realized ones) is a multiple of
    ``MAX_GROUP - 1``, in topological order, so that each group is at most that deep and a graph
    of any depth (a Python loop of 100000 ops, never read) is realized without deep recursion."""
    depth: dict[int, int] = {}
    order, stack = [], [(tensor, False)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in depth:
            continue
        sources = [s for s in node._lazy.inputs if s._lazy is not None]
        if expanded:
            depth[id(node)] = 1 + max((depth[id(s)] for s in sources), default=0)
            order.append((weakref.ref(node), depth[id(node)]))  # weakly: the kernels' liveness counts stay right
        else:
            stack.append((node, True))
            stack.extend((s, False) for s in sources if id(s) not in depth)
    stack = sources = node = None
    for ref, level in order:
        node = ref()
        if node is not None and node._lazy is not None and (node is tensor or level % (MAX_GROUP - 1) == 0):
            realize(node)
        node = None


class Group:
    """The pending tensors feeding ``root`` through pending inputs, as a canonical structure.

    Attributes
    ----------
    members
        The pending tensors, inputs before users, ``root`` last.
    leaves
        The realized tensors they read, in order of first use.
    nodes
        Per member ``(op key, operand refs)``: a ref ``n >= 0`` is member ``n``, ``-1 - k`` leaf ``k``.
    uses, kept
        Per member: how often the group reads it; whether the autograd graph keeps its value (its
        own gradient reads it, or a recorded user's gradient reads that operand).
    deferred
        Pending tensors left out because the group is full (realize them and gather again).
    staged
        Whether pending reductions are members (stages of the kernel, :mod:`frontend.lazy_reduce`).
    """

    __slots__ = ("members", "leaves", "nodes", "uses", "kept", "deferred", "staged", "_index", "_entered",
                 "_space")

    def __init__(self, root):
        self.members, self.leaves, self.nodes, self.uses, self.kept, self.deferred = [], [], [], [], [], []
        self._index: dict[int, int] = {}
        self._entered, self.staged = 0, False
        # an elementwise root takes in the reductions over its own shape (a stage of its kernel)
        self._space = None if root._lazy.op.reduces else root._lazy.shape
        self._visit(root)
        del self._index

    def _inlined(self, source) -> bool:
        """Whether the pending reduction ``source`` becomes a stage of this group's kernel: the
        root is elementwise, and ``source`` reduces a tensor of the root's shape to a shape that
        broadcasts against it axis by axis (``keepdims``, or the leading axes reduced)."""
        op = source._lazy.op
        fits = (self._space is not None and source._lazy.inputs[0].shape == self._space
                and (op.keepdims or op.axes == tuple(range(len(op.axes)))))
        self.staged = self.staged or fits
        return fits

    def _visit(self, tensor) -> None:
        index, pending = self._index, tensor._lazy
        self._entered += 1
        refs, source = [], None
        for source in pending.inputs:
            ref = index.get(id(source))
            if ref is None:
                # a pending reduction that is no stage of this kernel is realized first
                if source._lazy is None or self._entered >= MAX_GROUP or (
                        source._lazy.op.reduces and not self._inlined(source)):
                    if source._lazy is not None:
                        self.deferred.append(source)
                    ref = index[id(source)] = -1 - len(self.leaves)
                    self.leaves.append(source)
                else:
                    self._visit(source)
                    ref = index[id(source)]
            refs.append(ref)
        del source
        recorded = tensor.op is not None
        saves = pending.op.saves if recorded else ()
        for position, ref in enumerate(refs):
            if ref >= 0:
                self.uses[ref] += 1
                if saves is True or position in saves:
                    self.kept[ref] = True
        index[id(tensor)] = len(self.members)
        self.members.append(tensor)
        self.nodes.append((pending.op.key, tuple(refs)))
        self.uses.append(0)
        self.kept.append(recorded and pending.op.saves_output)
