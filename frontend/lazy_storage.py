"""Storage handed out to the user, and the pending ops that read it: eager values under in-place writes.

A pending op (:mod:`frontend.lazy_graph`) reads its realized inputs' storage when it is realized,
not when it was applied. The frontend's own code never writes into a stored array, but a user
may, through the array that :attr:`frontend.tensor.Tensor.data` hands out (``t.data[:] = x``,
``np.copyto(t.data, x)``, ``t.data -= lr * g``), through the array given to the ``data``
setter, or through an array it wrapped without a copy (:meth:`~frontend.tensor.Tensor.wrap`:
counted as handed out at the call). Two rules keep the eager values (those computed when the op
was applied):

* **handing out realizes the readers**: before ``t.data`` returns its array, every pending
  tensor that reads that storage (``t`` itself, or any view sharing its memory: a slice, a
  transpose, a detached copy, a parameter made from it) is realized, so a write that follows
  cannot reach it;
* **handed-out storage is read at once**: the storage's *root* (the array that owns the memory)
  is remembered as *exposed* while it lives; an elementwise op applied later to a tensor whose
  storage is exposed runs at the call (as with ``lazy(False)``) instead of being recorded, since
  the user may still write through the array they hold.

Storage the frontend makes and never hands out (kernel outputs, copies, the optimizers' updates
through :meth:`~frontend.tensor.Tensor.assign_storage`) stays unexposed, so the hot path keeps
its fusion. :meth:`~frontend.tensor.Tensor.numpy` returns a copy: writing into it changes
nothing. A broadcast view (``broadcast_to``) is read-only in numpy; writing into it raises
numpy's error.
"""

from __future__ import annotations

import weakref

import numpy as np

#: id of an exposed root -> a weak reference to it (None where the root cannot be weakly
#: referenced: then the entry stays, costing at most an eager op)
_exposed: dict[int, weakref.ref | None] = {}


def root(array: np.ndarray) -> object:
    """The object owning the memory of ``array`` (the end of its chain of ``base`` objects)."""
    while True:
        base = getattr(array, "base", None)
        if base is None:
            return array
        array = base


def expose(array: np.ndarray) -> np.ndarray:
    """Remember that the user holds ``array`` (and so may write into its memory at any time);
    ``array``."""
    owner = root(array)
    key = id(owner)
    found = _exposed.get(key, False)
    if found is not False and (found is None or found() is owner):
        return array
    try:
        _exposed[key] = weakref.ref(owner, lambda _, key=key: _exposed.pop(key, None))
    except TypeError:  # a root without weak references (bytes): kept as exposed for good
        _exposed[key] = None
    return array


def is_exposed(array: np.ndarray) -> bool:
    """Whether the memory of ``array`` has been handed out to the user."""
    owner = root(array)
    found = _exposed.get(id(owner), False)
    return found is None or (found is not False and found() is owner)


def reads_exposed(inputs) -> bool:
    """Whether an op on ``inputs`` (tensors) would read handed-out storage when realized later."""
    return any(t._lazy is None and is_exposed(t._data) for t in inputs)


def readers_of(array: np.ndarray, recorded: list) -> list:
    """The pending tensors among ``recorded`` (weak references) that read the memory of ``array``."""
    owner = root(array)
    found = []
    for ref in recorded:
        user = ref()
        if user is None or user._lazy is None:
            continue
        if any(s._lazy is None and s._data is not None and root(s._data) is owner for s in user._lazy.inputs):
            found.append(user)
    return found
